"""Root URLs: the cardholder site, accounts, the API for the mobile app, and the OTP-protected admin."""

from django.contrib import admin
from django.urls import include, path

from cardreveal.accounts import passkey_views

# admin.site is cardreveal.admin_site.CardrevealAdminSite (settings: INSTALLED_APPS): every admin
# URL needs a staff user verified with a one-time password (T-MFA-1).

urlpatterns = [
    path("admin/", admin.site.urls),
    # Which mobile apps may use this site's passkeys (CARDREVEAL_ANDROID_APPS, CARDREVEAL_IOS_APPS).
    path(".well-known/assetlinks.json", passkey_views.assetlinks, name="assetlinks"),
    path(
        ".well-known/apple-app-site-association",
        passkey_views.apple_association,
        name="apple-app-site-association",
    ),
    path("accounts/", include("cardreveal.accounts.urls")),
    path("receipts/", include("cardreveal.audit.urls")),
    path("api/v1/", include("cardreveal.api.urls")),
    path("", include("cardreveal.cards.urls")),
]
