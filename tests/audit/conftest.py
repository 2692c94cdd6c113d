"""Fixtures for the audit tests: a reveal helper and raw-SQL tampering (admin_client is shared)."""

from __future__ import annotations

import pytest
from django.db import connection

from tests.conftest import totp_code

UA = "Mozilla/5.0 (audit test)"


@pytest.fixture
def card(alice, make_card):
    return make_card(alice.user, label="Everyday")


def web_reveal(client, card, holder, clock, key, **headers):
    """POST a reveal with a fresh code; moves the clock on so the next code is fresh too."""
    response = client.post(
        f"/cards/{card.pk}/reveal",
        {"otp_code": totp_code(holder.device, clock), "public_key": key.public_b64},
        HTTP_USER_AGENT=headers.pop("user_agent", UA),
        **headers,
    )
    clock.advance(30)
    return response


def sql(statement: str, params: list | tuple = ()) -> None:
    """Run raw SQL, as someone with database access (not the app) would to tamper."""
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
