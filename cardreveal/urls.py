"""Root URLs: the cardholder site, accounts, the API for the mobile app, and the OTP-protected admin."""

from django.contrib import admin
from django.urls import include, path
from oauth2_provider import views as oauth2_views

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
    # The bank's provisioning clients get and revoke access tokens here (OAuth2 client credentials,
    # django-oauth-toolkit; docs/onboarding.md). Only these two of the toolkit's views are served.
    path(
        "api/v1/provisioning/token",
        oauth2_views.TokenView.as_view(),
        name="provisioning-token",
    ),
    path(
        "api/v1/provisioning/revoke",
        oauth2_views.RevokeTokenView.as_view(),
        name="provisioning-revoke",
    ),
    path("api/v1/", include("cardreveal.api.urls")),
    path("", include("cardreveal.cards.urls")),
]

# A store's outage raised before any view (in a middleware) is a 503, not a 500 (docs/reliability.md).
handler500 = "cardreveal.outages.server_error"
