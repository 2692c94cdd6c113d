"""URLs for signing in and out, the code step, enrolment and password change."""

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
]
