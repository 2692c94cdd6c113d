"""URLs of the API, version 1: mounted at /api/v1/ by the root URLconf."""

from django.urls import path, re_path

from cardreveal.api import docs, provisioning, views

app_name = "api"

urlpatterns = [
    path("auth/login", views.LoginApi.as_view(), name="login"),
    path("auth/logout", views.LogoutApi.as_view(), name="logout"),
    path("auth/logout-all", views.LogoutEverywhereApi.as_view(), name="logout-all"),
    path("auth/tokens", views.TokenListApi.as_view(), name="tokens"),
    path("auth/tokens/<uuid:token_id>", views.TokenRevokeApi.as_view(), name="token-revoke"),
    path("cards", views.CardListApi.as_view(), name="cards"),
    path("cards/<uuid:card_id>", views.CardDetailApi.as_view(), name="card"),
    path("cards/<uuid:card_id>/reveal", views.CardRevealApi.as_view(), name="card-reveal"),
    path(
        "cards/<uuid:card_id>/reveal/challenge",
        views.CardRevealChallengeApi.as_view(),
        name="card-reveal-challenge",
    ),
    path("reveals", views.RevealHistoryApi.as_view(), name="reveals"),
    path("otp-devices", views.OtpDeviceListApi.as_view(), name="otp-devices"),
    path("otp-devices/totp", views.TotpEnrolApi.as_view(), name="totp-enrol"),
    path(
        "otp-devices/totp/<int:device_id>/confirm",
        views.TotpConfirmApi.as_view(),
        name="totp-confirm",
    ),
    path(
        "otp-devices/passkeys/options",
        views.PasskeyEnrolOptionsApi.as_view(),
        name="passkey-options",
    ),
    path("otp-devices/passkeys", views.PasskeyEnrolApi.as_view(), name="passkey-add"),
    path(
        "provisioning/cardholders/<str:external_id>",
        provisioning.CardholderProvisionApi.as_view(),
        name="provisioning-cardholder",
    ),
    path(
        "provisioning/cards/<str:external_id>",
        provisioning.CardProvisionApi.as_view(),
        name="provisioning-card",
    ),
    path("provisioning/batch", provisioning.BatchApi.as_view(), name="provisioning-batch"),
    path("provisioning/changes", provisioning.ChangesApi.as_view(), name="provisioning-changes"),
    path("schema/", docs.SchemaView.as_view(), name="schema"),
    path("docs/", docs.api_docs, name="docs"),
    re_path(r"^.*$", views.NotFoundApi.as_view(), name="not-found"),
]
