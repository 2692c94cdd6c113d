"""URLs for signing in and out, the code step, enrolment, password change and reset, invitations."""

from django.urls import path

from cardreveal.accounts import views

app_name = "accounts"

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("verify/", views.otp_verify, name="otp"),
    path("enrol/", views.enrol, name="enrol"),
    path("password/", views.PasswordChangeView.as_view(), name="password_change"),
    path("password/done/", views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("password/reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path("password/reset/sent/", views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "password/reset/<uidb64>/<token>/",
        views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password/reset/complete/",
        views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("invitation/", views.invitation, name="invitation"),
    path("bank/", views.OidcStartView.as_view(), name="oidc_start"),
    path("bank/callback/", views.OidcCallbackView.as_view(), name="oidc_callback"),
    path("bank/refused/", views.oidc_refused, name="oidc_refused"),
]
