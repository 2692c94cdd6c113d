"""URLs for signing in and out, the code step, enrolment, password change and reset, invitations,
and passkeys."""

from django.urls import path

from cardreveal.accounts import passkey_views, views

app_name = "accounts"

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("verify/", views.otp_verify, name="otp"),
    path("enrol/", views.enrol, name="enrol"),
    path("password/", views.PasswordChangeView.as_view(), name="password_change"),
    path("password/done/", views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("passkeys/", passkey_views.passkeys, name="passkeys"),
    path("passkeys/add/options", passkey_views.register_options, name="passkey_add_options"),
    path("passkeys/add", passkey_views.register, name="passkey_add"),
    path("passkeys/<int:device_id>/rename", passkey_views.rename, name="passkey_rename"),
    path("passkeys/<int:device_id>/remove", passkey_views.remove, name="passkey_remove"),
    path("passkeys/sign-in/options", passkey_views.sign_in_options, name="passkey_sign_in_options"),
    path("passkeys/sign-in", passkey_views.sign_in, name="passkey_sign_in"),
    path(
        "passkeys/passwordless/options",
        passkey_views.passwordless_options,
        name="passkey_passwordless_options",
    ),
    path("passkeys/passwordless", passkey_views.passwordless, name="passkey_passwordless"),
    path("passkeys/admin/options", passkey_views.admin_options, name="passkey_admin_options"),
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
