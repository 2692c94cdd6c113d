"""The demo: SQLite, local-memory cache, console email, sandbox providers on loopback."""

from __future__ import annotations

import secrets

from cryptography.fernet import Fernet

from cardreveal.settings.base import *  # noqa: F403
from cardreveal.settings.base import VAR_DIR
from cardreveal.settings.env import env_list, env_str


def _var_secret(name: str, make: str) -> str:
    """Read a generated dev secret from var/, creating it on first use; never checked in."""
    VAR_DIR.mkdir(exist_ok=True)
    path = VAR_DIR / name
    if not path.exists():
        path.write_text(make)
        path.chmod(0o600)
    return path.read_text().strip()


DEBUG = True
SECRET_KEY = env_str("DJANGO_SECRET_KEY", "") or _var_secret(
    "dev-secret-key", secrets.token_urlsafe(50)
)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CARDREVEAL_FIELD_KEYS = env_list("CARDREVEAL_FIELD_KEYS", []) or [
    _var_secret("dev-field-key", Fernet.generate_key().decode())
]

# SQLite with several requests at once (the dev server runs each in a thread; an admin save is a
# write transaction, a reveal makes a few). WAL: readers go on while one connection writes.
# IMMEDIATE: a transaction takes the write lock at BEGIN and waits its turn there; begun deferred,
# one that reads and then writes while another writes fails with "database is locked" at once,
# whatever the timeout (SQLite will not wait where waiting could deadlock). timeout: how long a
# writer waits for the lock, in seconds. synchronous=FULL, stated rather than left to the build:
# with WAL, NORMAL can lose the last commits in a power cut, and the audit trail, lockout counts
# and used codes must survive a crash once committed.
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": VAR_DIR / "db.sqlite3",
        "OPTIONS": {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        },
    },
}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
CARDREVEAL_ALLOW_LOOPBACK_HTTP = True
# Static files come from static/ through the finders; no collectstatic needed for the demo.
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
