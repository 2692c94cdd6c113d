"""Ending a user's web sessions everywhere, through the session engine's public API."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def user_sessions_end(*, user: User) -> int:
    """Delete every unexpired web session of `user`; return how many.

    Needs database-backed sessions (SESSION_ENGINE `db` or `cached_db`; with `cached_db` the
    cached copy goes too), else ImproperlyConfigured. Each unexpired session is decoded to find
    its user: sessions idle out after SESSION_COOKIE_AGE, so only those used within that time are
    read. A request still holding one of them must `flush()` it before it answers, or its
    session middleware would try to save a session that no longer exists.
    """
    engine = import_module(settings.SESSION_ENGINE)
    store_class = engine.SessionStore
    if not hasattr(store_class, "get_model_class"):
        raise ImproperlyConfigured(
            "Signing a user out everywhere needs database sessions (SESSION_ENGINE db or cached_db)."
        )
    model = store_class.get_model_class()
    user_key = str(user.pk)
    rows = model.objects.filter(expire_date__gt=timezone.now()).values_list(
        "session_key", "session_data"
    )
    ended = 0
    for session_key, session_data in rows.iterator(chunk_size=500):
        if store_class().decode(session_data).get(SESSION_KEY) == user_key:
            store_class(session_key).delete()  # also drops a cached_db copy
            ended += 1
    return ended
