"""URLs for signing in and out, the code step and enrolment."""

from django.urls import path

from cardreveal.accounts import views

app_name = "accounts"

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("verify/", views.otp_verify, name="otp"),
    path("enrol/", views.enrol, name="enrol"),
]
