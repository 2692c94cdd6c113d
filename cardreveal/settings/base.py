"""Settings shared by every environment; secrets and hosts come from the environment-specific files."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from csp.constants import NONCE, NONE, SELF

from cardreveal.settings.env import (
    env_bank_contact,
    env_bool,
    env_choice,
    env_email,
    env_int,
    env_list,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

# ------------------------------------------------------------------------------ apps
INSTALLED_APPS = [
    # django.contrib.admin, its site being ours: one-step OTP sign-in (cardreveal/admin_site.py).
    "cardreveal.admin_apps.CardrevealAdminConfig",
    "django.contrib.auth",
    # Sign-in with the bank's identity provider (OpenID Connect), when a deployment turns it on.
    "mozilla_django_oidc",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    # passkeys: WebAuthn credentials as django-otp devices (cardreveal/accounts/passkeys.py)
    "django_otp_webauthn",
    "csp",
    "rest_framework",
    "knox",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "oauth2_provider",
    "import_export",
    "cardreveal.accounts",
    "cardreveal.audit",
    "cardreveal.cards",
    "cardreveal.provisioning",
    "cardreveal.api",
    "providers",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # /healthz and /readyz, answered before sessions and host checks (cardreveal/health.py).
    "cardreveal.health.HealthCheckMiddleware",
    # /metrics for Prometheus, with its bearer token, answered the same way (cardreveal/monitoring.py).
    "cardreveal.monitoring.MetricsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Django's sessions, written back only when changed or once a minute for the idle expiry.
    "cardreveal.accounts.middleware.IdleSessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Signs a session out 12 hours after sign-in however active it is (the idle timeout is below).
    "cardreveal.accounts.middleware.AbsoluteSessionLimitMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "cardreveal.middleware.SecurityHeadersMiddleware",
    # Refuses a body by its declared length (413 over DATA_UPLOAD_MAX_MEMORY_SIZE, 411 chunked, 400
    # not a number) before CSRF, a form or the API's parser reads it; after the request id is set.
    "cardreveal.middleware.RequestBodyLimitMiddleware",
    # A page that fails because Redis or the database does answers 503 with Retry-After, not 500.
    "cardreveal.outages.OutageMiddleware",
    # Keeps the request at hand for audit records written from signals; audits bulk admin actions.
    "cardreveal.audit.middleware.AuditContextMiddleware",
]

# The largest request body read (Django's default, stated): a bigger one is refused with 413 before
# it is read (cardreveal/middleware.py); the API's bodies are a few KB, the admin's forms no more.
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

ROOT_URLCONF = "cardreveal.urls"
WSGI_APPLICATION = "cardreveal.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
                "cardreveal.context_processors.navigation",
            ],
        },
    },
]

# ------------------------------------------------------------------------------ auth
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    # Validates nothing: its password_changed() hook starts the reveal cool-off and emails.
    {"NAME": "cardreveal.accounts.cooloff.PasswordChangeCooloff"},
]
# Django's model backend that also refuses locked accounts (cardreveal/accounts/lockout.py).
AUTHENTICATION_BACKENDS = ["cardreveal.accounts.backends.LockoutModelBackend"]

# Sign-in with the bank's identity provider (OpenID Connect through mozilla-django-oidc,
# cardreveal/accounts/oidc.py), per deployment: off unless CARDREVEAL_OIDC_ENABLED. When on, the
# provider replaces the cardholders' password step (staff keep theirs, at /admin/), every value
# below is required (`manage.py check`: cardreveal.accounts.E101...), and cardholders are matched
# by the claim CARDREVEAL_OIDC_EXTERNAL_ID_CLAIM against their external id; none is ever created.
CARDREVEAL_OIDC_ENABLED = env_bool("CARDREVEAL_OIDC_ENABLED", False)
CARDREVEAL_OIDC_ISSUER = env_str("CARDREVEAL_OIDC_ISSUER", "")
CARDREVEAL_OIDC_EXTERNAL_ID_CLAIM = env_str("CARDREVEAL_OIDC_EXTERNAL_ID_CLAIM", "sub")
# The provider's name on the sign-in button ("Sign in with ..."); the bank's name when empty.
CARDREVEAL_OIDC_PROVIDER_NAME = env_str("CARDREVEAL_OIDC_PROVIDER_NAME", "")
OIDC_RP_CLIENT_ID = env_str("CARDREVEAL_OIDC_CLIENT_ID", "")
OIDC_RP_CLIENT_SECRET = env_str("CARDREVEAL_OIDC_CLIENT_SECRET", "")
OIDC_OP_AUTHORIZATION_ENDPOINT = env_str("CARDREVEAL_OIDC_AUTHORIZATION_ENDPOINT", "")
OIDC_OP_TOKEN_ENDPOINT = env_str("CARDREVEAL_OIDC_TOKEN_ENDPOINT", "")
OIDC_OP_USER_ENDPOINT = env_str("CARDREVEAL_OIDC_USERINFO_ENDPOINT", "")
OIDC_OP_JWKS_ENDPOINT = env_str("CARDREVEAL_OIDC_JWKS_ENDPOINT", "")
OIDC_RP_SIGN_ALGO = env_choice(
    "CARDREVEAL_OIDC_SIGN_ALGO", "RS256", ("rs256", "rs384", "rs512", "es256", "es384", "es512")
).upper()
OIDC_RP_SCOPES = env_str("CARDREVEAL_OIDC_SCOPES", "openid")
OIDC_USE_NONCE = True
OIDC_USE_PKCE = True
OIDC_CREATE_USER = False
OIDC_STORE_ACCESS_TOKEN = False
OIDC_STORE_ID_TOKEN = False
OIDC_TIMEOUT = 10
OIDC_AUTHENTICATION_CALLBACK_URL = "accounts:oidc_callback"
LOGIN_REDIRECT_URL_FAILURE = "/accounts/bank/refused/"
if CARDREVEAL_OIDC_ENABLED:
    AUTHENTICATION_BACKENDS = [
        *AUTHENTICATION_BACKENDS,
        "cardreveal.accounts.oidc.BankIdentityBackend",
    ]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "cards:list"
LOGOUT_REDIRECT_URL = "accounts:login"
# Password reset links (Django's PasswordResetView) work for an hour, once; requests are limited
# per email address and per client address each hour (cardreveal/accounts/password_reset.py).
PASSWORD_RESET_TIMEOUT = 60 * 60
CARDREVEAL_PASSWORD_RESET_PER_EMAIL_HOUR = env_int(
    "CARDREVEAL_PASSWORD_RESET_PER_EMAIL_HOUR", 3, minimum=1, maximum=100
)
CARDREVEAL_PASSWORD_RESET_PER_ADDRESS_HOUR = env_int(
    "CARDREVEAL_PASSWORD_RESET_PER_ADDRESS_HOUR", 20, minimum=1, maximum=10_000
)
# An invitation's link (cardreveal/accounts/invitations.py) works once, for this many hours.
CARDREVEAL_INVITATION_HOURS = env_int("CARDREVEAL_INVITATION_HOURS", 72, minimum=1, maximum=30 * 24)

# django-otp: admins never see TOTP keys or static tokens. Its per-device throttling is off (its
# documented factor 0): the back-off is ours, per account, on the count of wrong codes in a row
# (cardreveal/accounts/otp.py), so a typo does not block the right code typed next and a second
# device gives no extra guesses.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
OTP_TOTP_ISSUER = "cardreveal"
OTP_TOTP_THROTTLE_FACTOR = 0
OTP_STATIC_THROTTLE_FACTOR = 0
# Wrong codes in a row that cost no wait; the n-th after them waits
# CARDREVEAL_OTP_BACKOFF_SECONDS x 2^(n-1) seconds. Wrong passwords do not add to this wait; the
# lockout counts both.
CARDREVEAL_OTP_FREE_FAILURES = env_int("CARDREVEAL_OTP_FREE_FAILURES", 2, minimum=0, maximum=3)
CARDREVEAL_OTP_BACKOFF_SECONDS = 1

# Passkeys (docs/passkeys.md): django-otp-webauthn devices, checked by cardreveal/accounts/passkeys.py.
# The RP ID is the domain passkeys are made for (never changed once cardholders have them); the
# origins are where assertions may come from: the site's https:// origin(s) and the Android app's
# "android:apk-key-hash:..." origin. Production takes both from the environment (checked against
# ALLOWED_HOSTS by `manage.py check`); the demo's are for http://localhost:8000.
OTP_WEBAUTHN_RP_ID = env_str("CARDREVEAL_PASSKEY_RP_ID", "localhost")
OTP_WEBAUTHN_RP_NAME = env_str("CARDREVEAL_PASSKEY_RP_NAME", "cardreveal")
OTP_WEBAUTHN_ALLOWED_ORIGINS = env_list("CARDREVEAL_PASSKEY_ORIGINS", ["http://localhost:8000"])
OTP_WEBAUTHN_HELPER_CLASS = "cardreveal.accounts.passkeys.PasskeyHelper"
# Passwordless sign-in (a passkey alone, no password) only when the bank turns it on.
OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN = env_bool("CARDREVEAL_PASSKEY_PASSWORDLESS", False)
OTP_WEBAUTHN_TIMEOUT_SECONDS = 120
# A passkey challenge is single use and lasts this long.
CARDREVEAL_PASSKEY_CHALLENGE_SECONDS = 120
# How each reveal is authorised: "passkey_required" (a passkey, never a code), "passkey_preferred"
# (a passkey, or a code from the authenticator app), "totp_only". Overridable per user in the admin.
CARDREVEAL_STEP_UP_POLICY = env_choice(
    "CARDREVEAL_STEP_UP_POLICY",
    "passkey_preferred",
    ("passkey_required", "passkey_preferred", "totp_only"),
)
# The mobile apps allowed to use the site's passkeys, served at /.well-known/assetlinks.json
# (Android: "package.name:SHA256_FINGERPRINT", the fingerprint in AA:BB:.. form) and
# /.well-known/apple-app-site-association (iOS: "TEAMID.bundle.id").
CARDREVEAL_ANDROID_APPS = env_list("CARDREVEAL_ANDROID_APPS", [])
CARDREVEAL_IOS_APPS = env_list("CARDREVEAL_IOS_APPS", [])

# ------------------------------------------------------------------------------ sessions and cookies
SESSION_COOKIE_AGE = 15 * 60  # idle timeout: activity pushes the expiry out again
# ... at most once this many seconds (IdleSessionMiddleware), not with a write on every request.
SESSION_SAVE_EVERY_REQUEST = False
CARDREVEAL_SESSION_REFRESH_SECONDS = env_int(
    "CARDREVEAL_SESSION_REFRESH_SECONDS", 60, minimum=1, maximum=5 * 60
)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True

# ------------------------------------------------------------------------------ headers
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "form-action": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
    },
}
PERMISSIONS_POLICY = (
    "camera=(), microphone=(), geolocation=(), payment=(), usb=(), "
    "clipboard-write=(self), interest-cohort=()"
)

# ------------------------------------------------------------------------------ i18n and static
LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT: Path | None = BASE_DIR / "var" / "staticfiles"

# ------------------------------------------------------------------------------ cardreveal
# How long the CVV stays on screen, in seconds (DESIGN invariant 4).
CARDREVEAL_REVEAL_SECONDS = env_int("CARDREVEAL_REVEAL_SECONDS", 30, minimum=5, maximum=120)

# Account security (cardreveal/accounts). Lockout per user, PCI DSS 8.3.4: at most 10 failed
# password or code attempts, then at least 30 minutes locked.
CARDREVEAL_LOCKOUT_THRESHOLD = env_int("CARDREVEAL_LOCKOUT_THRESHOLD", 10, minimum=1, maximum=10)
CARDREVEAL_LOCKOUT_SECONDS = env_int("CARDREVEAL_LOCKOUT_SECONDS", 30 * 60, minimum=30 * 60)
# Failed sign-ins (wrong password or code, on the web, admin and API doors alike) allowed per
# client address and per username tried, in each window, counted in the shared cache
# (cardreveal/accounts/sign_in_limits.py); past either, sign-in is refused (429) until the window
# ends, whoever the username belongs to.
CARDREVEAL_SIGN_IN_FAILURES_PER_ADDRESS = env_int(
    "CARDREVEAL_SIGN_IN_FAILURES_PER_ADDRESS", 20, minimum=1, maximum=1000
)
CARDREVEAL_SIGN_IN_FAILURES_PER_USERNAME = env_int(
    "CARDREVEAL_SIGN_IN_FAILURES_PER_USERNAME", 10, minimum=1, maximum=100
)
CARDREVEAL_SIGN_IN_LIMIT_WINDOW_SECONDS = env_int(
    "CARDREVEAL_SIGN_IN_LIMIT_WINDOW_SECONDS", 15 * 60, minimum=60, maximum=24 * 3600
)
# Passkey challenges made for nobody yet (passwordless and admin sign-in) per client address in
# each sign-in limit window: each is a database row until it expires, so one address cannot make
# them without end (429 beyond; cardreveal/accounts/sign_in_limits.py).
CARDREVEAL_PASSKEY_OPEN_CHALLENGES_PER_ADDRESS = env_int(
    "CARDREVEAL_PASSKEY_OPEN_CHALLENGES_PER_ADDRESS", 60, minimum=1, maximum=10000
)
# Successful reveals allowed per user per clock hour and per card per UTC day (429 beyond).
CARDREVEAL_REVEALS_PER_USER_HOUR = env_int("CARDREVEAL_REVEALS_PER_USER_HOUR", 20, minimum=1)
CARDREVEAL_REVEALS_PER_CARD_DAY = env_int("CARDREVEAL_REVEALS_PER_CARD_DAY", 10, minimum=1)
# Reveals pause this long after a new authenticator or a password change (0 turns it off).
CARDREVEAL_REVEAL_COOLOFF_SECONDS = env_int(
    "CARDREVEAL_REVEAL_COOLOFF_SECONDS", 60 * 60, minimum=0, maximum=7 * 24 * 3600
)
# A signed-in session ends this long after sign-in, however active (absolute cap).
CARDREVEAL_SESSION_MAX_SECONDS = env_int(
    "CARDREVEAL_SESSION_MAX_SECONDS", 12 * 3600, minimum=15 * 60, maximum=12 * 3600
)

# Reveal receipts (cardreveal/audit): links in emails start with this URL (e.g. https://cards.example);
# when empty, with the host of the request being served. The "This wasn't me" link lasts this long.
CARDREVEAL_SITE_URL = env_str("CARDREVEAL_SITE_URL", "")
# The bearer token Prometheus sends to /metrics (cardreveal/monitoring.py); empty turns it off.
CARDREVEAL_METRICS_TOKEN = env_str("CARDREVEAL_METRICS_TOKEN", "")
# Receipts are emailed after the reveal's response (cardreveal/audit/receipts.py); off, they are
# sent during the request (the tests do this). Who sends them: "thread", a background thread of
# each app process; or "process", a separate `manage.py send_receipts --follow` process (or
# several), so the web workers never do mail work (docs/deploy.md).
CARDREVEAL_RECEIPTS_IN_BACKGROUND = True
CARDREVEAL_RECEIPTS_SENDER = env_choice(
    "CARDREVEAL_RECEIPTS_SENDER", "thread", ("thread", "process")
)
# After a reveal the sender waits this long, so the receipts of reveals made meanwhile go out in one
# batch over one mail connection (a receipt arrives up to this much later). Two seconds: at 25
# reveals a second per process a batch of 50 costs a quarter less CPU per receipt than one of 12.
CARDREVEAL_RECEIPTS_GATHER_MS = env_int("CARDREVEAL_RECEIPTS_GATHER_MS", 2000, maximum=10_000)
CARDREVEAL_RECEIPT_LINK_MAX_AGE = env_int(
    "CARDREVEAL_RECEIPT_LINK_MAX_AGE", 7 * 24 * 3600, minimum=3600, maximum=30 * 24 * 3600
)
# The bank's contact for cardholders, on the "This wasn't me" page, its confirmation email and every
# receipt: whom to call to block a card. Production requires it from the environment; elsewhere the
# demo's (a phone number in the range Ofcom keeps for drama, a reserved domain).
CARDREVEAL_BANK_CONTACT = env_bank_contact(
    {"name": "Example Bank", "phone": "+44 20 7946 0000", "url": "https://bank.example/lost-card"}
)
# A cardholder's "This wasn't me" report is emailed here, for the bank's fraud staff (production
# requires it; the admin lists the reported cards too).
CARDREVEAL_FRAUD_ALERT_EMAIL = env_email("CARDREVEAL_FRAUD_ALERT_EMAIL", "fraud-team@bank.example")

# Provider kinds and the dotted path of the class that implements each (STYLE rule 3).
CARDREVEAL_PROVIDERS = {
    "juspay": "providers.juspay.JuspayProvider",
    "mastercard": "providers.mastercard.MastercardProvider",
    "netxd": "providers.netxd.NetxdProvider",
    "thredd": "providers.thredd.ThreddProvider",
}

# Plain http:// provider URLs are refused except on loopback when this is on (dev and tests only).
CARDREVEAL_ALLOW_LOOPBACK_HTTP = False

# Outbound provider calls: connect and read timeouts and an overall deadline, in seconds.
CARDREVEAL_PROVIDER_CONNECT_TIMEOUT = 3.05
CARDREVEAL_PROVIDER_READ_TIMEOUT = 10.0
CARDREVEAL_PROVIDER_DEADLINE = 15.0
CARDREVEAL_PROVIDER_MAX_BODY_BYTES = 256 * 1024
# Calls in flight per binding per worker process; more fail fast as "busy" (503) so that one slow
# provider cannot hold every thread of a worker: keep it below the worker's thread count. A binding
# may set its own (option max_concurrency).
CARDREVEAL_PROVIDER_MAX_CONCURRENCY = env_int(
    "CARDREVEAL_PROVIDER_MAX_CONCURRENCY", 4, minimum=1, maximum=1000
)
# A call that finds them all taken waits this long for one before failing as busy: a burst of
# reveals through one binding then queues for a few milliseconds instead of failing, while a slow
# provider still holds at most the cap plus the callers waiting this long (a bulkhead's max wait).
CARDREVEAL_PROVIDER_SLOT_WAIT_MS = env_int("CARDREVEAL_PROVIDER_SLOT_WAIT_MS", 200, maximum=5000)
# The circuit breaker per binding: open after this many consecutive failures (connect errors,
# timeouts, TLS failures, 5xx), fail fast for the cool-down, then let one trial call through. Its
# state lives in this cache, so with Redis it is shared by every worker.
CARDREVEAL_BREAKER_THRESHOLD = env_int("CARDREVEAL_BREAKER_THRESHOLD", 5, minimum=1, maximum=1000)
CARDREVEAL_BREAKER_COOLDOWN_SECONDS = env_int(
    "CARDREVEAL_BREAKER_COOLDOWN_SECONDS", 30, minimum=1, maximum=3600
)
CARDREVEAL_BREAKER_CACHE = "default"

# ------------------------------------------------------------------------------ REST API (docs/api.md)
# Tokens (django-rest-knox): stored as SHA-512 digests; idle expiry pushed out on use (at most once
# a minute), never past the absolute cap counted from sign-in; at most this many devices per user.
# knox ships a migration for its own token table, which the swapped-in api.ApiToken replaces;
# without this the unused table (with a foreign key to users) would be created anyway.
MIGRATION_MODULES = {"knox": None}
KNOX_TOKEN_MODEL = "api.ApiToken"  # noqa: S105 - a model name, not a secret
REST_KNOX = {
    "TOKEN_TTL": timedelta(minutes=env_int("CARDREVEAL_API_TOKEN_IDLE_MINUTES", 15, minimum=1)),
    "AUTO_REFRESH": True,
    "AUTO_REFRESH_MAX_TTL": timedelta(
        hours=env_int("CARDREVEAL_API_TOKEN_MAX_HOURS", 12, minimum=1, maximum=24 * 30)
    ),
    "MIN_REFRESH_INTERVAL": 60,
    "AUTH_HEADER_PREFIX": "Bearer",
    "TOKEN_PREFIX": "crv_",
    "TOKEN_LIMIT_PER_USER": 10,
}
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "cardreveal.api.authentication.ApiTokenAuthentication",
        # Browser sessions (OTP-verified) may call the API too; DRF enforces CSRF for them.
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["cardreveal.api.permissions.IsVerifiedCardholder"],
    # DRF's JSON parser with a size and a nesting-depth limit (400 json_too_deep, 413).
    "DEFAULT_PARSER_CLASSES": ["cardreveal.api.parsers.BoundedJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_THROTTLE_CLASSES": [
        "cardreveal.api.throttles.PerUserThrottle",
        "cardreveal.api.throttles.PerIpThrottle",
    ],
    # Per user (signed in) and per client address; login per address and per username tried.
    "DEFAULT_THROTTLE_RATES": {
        "user": "120/min",
        "ip": "300/min",
        "login_ip": "10/min",
        "login_username": "5/min",
        "reveal_user": "10/min",
        "reveal_ip": "30/min",
        "otp_user": "5/min",
        # a provisioning client's own rate is on its record in the admin; this is before it is known
        "provisioning_ip": "600/min",
    },
    # The client address is REMOTE_ADDR (as in audit records), never a spoofable X-Forwarded-For.
    "NUM_PROXIES": 0,
    "EXCEPTION_HANDLER": "cardreveal.api.exceptions.api_exception_handler",
    # OPTIONS answers 405 like any other method an endpoint does not list.
    "DEFAULT_METADATA_CLASS": None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "cardreveal API",
    "DESCRIPTION": "See the cardreveal.api.schema module; replaced by describe_api.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # The provisioning API's clients (cardreveal/api/provisioning.py): OAuth2 client credentials.
    "OAUTH2_FLOWS": ["clientCredentials"],
    "OAUTH2_TOKEN_URL": "/api/v1/provisioning/token",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "cardreveal.api.schema.describe_api",
    ],
}

# ------------------------------------------------------------------------------ provisioning (docs/onboarding.md)
# The bank's systems sign in as OAuth2 clients (client credentials, django-oauth-toolkit) at
# /api/v1/provisioning/token (the only OAuth2 endpoint mounted, with revoke). Secrets are stored
# hashed (the toolkit's default), tokens last an hour; each
# client's scopes are on its ProvisioningClient record (cardreveal/provisioning/scopes.py).
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
OAUTH2_PROVIDER = {
    "SCOPES_BACKEND_CLASS": "cardreveal.provisioning.scopes.ProvisioningClientScopes",
    "SCOPES": {
        "cardholders:write": "Create, update, disable and remove cardholders.",
        "cards:write": "Create, update, disable and remove cards.",
        "changes:read": "Read the feed of provisioning changes.",
    },
    "DEFAULT_SCOPES": [],
    "ACCESS_TOKEN_EXPIRE_SECONDS": env_int(
        "CARDREVEAL_PROVISIONING_TOKEN_SECONDS", 3600, minimum=60, maximum=24 * 3600
    ),
    # The OAuth 2.0 Security BCP (RFC 9700) in full, ahead of the toolkit's 4.0 defaults: tokens
    # stored hashed, never taken from a URL's query string, no implicit or password grant.
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING": True,
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https"],
}
# The admin's file import: rows written per query, and the rows listed in the preview.
CARDREVEAL_IMPORT_CHUNK_ROWS = env_int(
    "CARDREVEAL_IMPORT_CHUNK_ROWS", 1000, minimum=1, maximum=10_000
)
# Uploaded files wait here between the preview and the confirmation (deleted after).
CARDREVEAL_IMPORT_DIR = VAR_DIR / "imports"

# ------------------------------------------------------------------------------ logging
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {
        # urllib3 at DEBUG prints request lines (paths, not bodies); keep it quiet by default.
        "urllib3": {"level": "WARNING"},
    },
}
