"""Root URLs: the cardholder site, accounts, the API for the mobile app, and the OTP-protected admin."""

from django.contrib import admin
from django.urls import include, path
from django_otp.admin import OTPAdminSite

# Every admin URL needs a staff user verified with a one-time password (T-MFA-1).
admin.site.__class__ = OTPAdminSite
admin.site.site_header = "cardreveal administration"
admin.site.site_title = "cardreveal admin"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("cardreveal.accounts.urls")),
    path("receipts/", include("cardreveal.audit.urls")),
    path("api/v1/", include("cardreveal.api.urls")),
    path("", include("cardreveal.cards.urls")),
]
