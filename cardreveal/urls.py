"""Root URLs: the cardholder site, accounts, the API for the mobile app, and the OTP-protected admin."""

from django.contrib import admin
from django.urls import include, path

# admin.site is cardreveal.admin_site.CardrevealAdminSite (settings: INSTALLED_APPS): every admin
# URL needs a staff user verified with a one-time password (T-MFA-1).

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("cardreveal.accounts.urls")),
    path("receipts/", include("cardreveal.audit.urls")),
    path("api/v1/", include("cardreveal.api.urls")),
    path("", include("cardreveal.cards.urls")),
]
