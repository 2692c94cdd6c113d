"""Production: every secret and host from the environment, no defaults; PostgreSQL, Redis, HTTPS."""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from whitenoise.compress import Compressor

from cardreveal.settings.base import *  # noqa: F403
from cardreveal.settings.base import BASE_DIR
from cardreveal.settings.env import (
    env_bank_contact,
    env_bool,
    env_email,
    env_int,
    env_list,
    env_str,
)

DEBUG = False
SECRET_KEY = env_str("DJANGO_SECRET_KEY")
# Rotation: the old key goes here while sessions and signed links made with it run out.
SECRET_KEY_FALLBACKS = env_list("DJANGO_SECRET_KEY_FALLBACKS", [])
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])
CARDREVEAL_FIELD_KEYS = env_list("CARDREVEAL_FIELD_KEYS")

# Passkeys: the domain they are made for and the origins assertions may name, with no defaults
# (`manage.py check` compares them with ALLOWED_HOSTS; docs/passkeys.md).
OTP_WEBAUTHN_RP_ID = env_str("CARDREVEAL_PASSKEY_RP_ID")
OTP_WEBAUTHN_ALLOWED_ORIGINS = env_list("CARDREVEAL_PASSKEY_ORIGINS")

# ------------------------------------------------------------------------------ data stores
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        # A reused connection is checked before each request, so a database failover costs one
        # reconnect instead of a failed request.
        conn_health_checks=True,
    ),
}
DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
    "connect_timeout", env_int("DATABASE_CONNECT_TIMEOUT", 3, minimum=1, maximum=60)
)
# Redis holds everything workers share: throttles, lockout and quota counters, breaker state.
# Short socket timeouts: a Redis that hangs fails the request instead of holding the worker.
# What an outage of it means is in docs/security.md ("Redis outage").
_REDIS = {
    "LOCATION": env_str("REDIS_URL"),
    "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "cardreveal"),
    "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
}
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", **_REDIS},
    # The same Redis for the sessions' copies, through a backend that treats its failure as a miss.
    "sessions": {"BACKEND": "cardreveal.outages.SessionCopyCache", **_REDIS},
}
# Sessions live in PostgreSQL with the users they belong to (shared by every host, durable across
# Redis restarts, deletable per user: sign out everywhere), with a copy in Redis that requests read
# instead of the database. Writes go to both; a Redis miss or outage falls back to PostgreSQL.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
SESSION_CACHE_ALIAS = "sessions"
# collectstatic writes here; WhiteNoise serves it. Build it into the image or run `make serve`.
STATIC_ROOT = Path(env_str("DJANGO_STATIC_ROOT", str(BASE_DIR / "var" / "staticfiles")))

# ------------------------------------------------------------------------------ HTTPS
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
# Load balancers probe the app servers over plain HTTP (cardreveal/health.py).
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 63072000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
SESSION_COOKIE_NAME = "__Host-sessionid"
CSRF_COOKIE_SECURE = True
CSRF_COOKIE_NAME = "__Host-csrftoken"

# ------------------------------------------------------------------------------ email
EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
# Receipts are sent during the reveal request: a mail server that stops answering must not hold
# the worker (Django's default is no timeout at all).
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 5, minimum=1, maximum=60)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "cardreveal@localhost")

# ------------------------------------------------------------------------------ the bank
# No demo values here: cardholders who report a reveal are told whom to call, and staff are alerted.
CARDREVEAL_BANK_CONTACT = env_bank_contact()
CARDREVEAL_FRAUD_ALERT_EMAIL = env_email("CARDREVEAL_FRAUD_ALERT_EMAIL")

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Source maps are for developer tools only; compressing the API docs' megabytes of them would make
# collectstatic (and so `make serve`) several times slower for nothing.
WHITENOISE_SKIP_COMPRESS_EXTENSIONS = (*Compressor.SKIP_COMPRESS_EXTENSIONS, "map")

# ------------------------------------------------------------------------------ logging
# One JSON object per line on stderr (cardreveal/logging.py); gunicorn's own lines use the same
# formatter (gunicorn.conf.py). Only whitelisted fields are written: never request headers or bodies.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "cardreveal.logging.JsonFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
    "root": {"handlers": ["console"], "level": env_str("DJANGO_LOG_LEVEL", "INFO")},
    "loggers": {
        "urllib3": {"level": "WARNING"},
        # Django's own handlers would also mail admins and print to the console: one path only.
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
