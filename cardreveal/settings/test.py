"""Tests: fast hashing, fresh random keys per run, SQLite unless DATABASE_URL points at PostgreSQL."""

from __future__ import annotations

import os
import secrets

import dj_database_url
from cryptography.fernet import Fernet

from cardreveal.settings.base import *  # noqa: F403

DEBUG = False
SECRET_KEY = secrets.token_urlsafe(50)
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
CARDREVEAL_FIELD_KEYS = [Fernet.generate_key().decode(), Fernet.generate_key().decode()]

_database_url = os.environ.get("DATABASE_URL")
# Not the demo's SQLite OPTIONS (settings/dev.py): Django's in-memory test database is one shared
# cache, which has no WAL, and where one connection's BEGIN IMMEDIATE makes another's fail at once
# ("database table is locked", which no busy timeout waits for), as the receipt sender's thread
# would in the tests that run it. The demo's options are proven on a database file by
# tests/test_demo_sqlite_concurrency.py.
DATABASES = {
    "default": dj_database_url.parse(_database_url)
    if _database_url
    else {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
}
_redis_url = os.environ.get("REDIS_URL")
CACHES = {
    # The backend production uses: Django's own.
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _redis_url}
    if _redis_url
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Receipts are sent in the request, so a test sees them in mail.outbox when the reveal returns;
# tests/audit/test_receipts.py runs the background sender itself.
CARDREVEAL_RECEIPTS_IN_BACKGROUND = False
CARDREVEAL_RECEIPTS_GATHER_MS = 0  # a test that gathers says how long
CARDREVEAL_ALLOW_LOOPBACK_HTTP = True
# Tests that exercise deadlines use short ones.
CARDREVEAL_PROVIDER_CONNECT_TIMEOUT = 2.0
CARDREVEAL_PROVIDER_READ_TIMEOUT = 3.0
CARDREVEAL_PROVIDER_DEADLINE = 5.0
# Static files come from static/ through the finders; there is no collectstatic output in tests.
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
