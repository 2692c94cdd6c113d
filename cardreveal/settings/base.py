"""Settings shared by every environment; secrets and hosts come from the environment-specific files."""

from __future__ import annotations

from pathlib import Path

from csp.constants import NONCE, NONE, SELF

from cardreveal.settings.env import env_int

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

# ------------------------------------------------------------------------------ apps
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "csp",
    "cardreveal.accounts",
    "cardreveal.audit",
    "cardreveal.cards",
    "providers",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "cardreveal.middleware.SecurityHeadersMiddleware",
]

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
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "cards:list"
LOGOUT_REDIRECT_URL = "accounts:login"

# django-otp: admins never see TOTP keys or static tokens; devices back off after failures.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
OTP_TOTP_ISSUER = "cardreveal"
OTP_TOTP_THROTTLE_FACTOR = 1
OTP_STATIC_THROTTLE_FACTOR = 1

# ------------------------------------------------------------------------------ sessions and cookies
SESSION_COOKIE_AGE = 15 * 60  # idle timeout: every request pushes expiry out again
SESSION_SAVE_EVERY_REQUEST = True
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
