"""Fixtures for the audit tests: an OTP-verified admin, a reveal helper, raw-SQL tampering."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.conftest import totp_code

UA = "Mozilla/5.0 (audit test)"


@pytest.fixture
def staff(db):
    user = get_user_model().objects.create_superuser(
        "root", "root@example.com", "pw-root-long-enough"
    )
    device = TOTPDevice.objects.create(user=user, name="admin phone", confirmed=True)
    return user, device


@pytest.fixture
def admin_client(client, staff, clock):
    _user, device = staff
    client.post("/accounts/login/", {"username": "root", "password": "pw-root-long-enough"})
    client.post("/accounts/verify/", {"code": totp_code(device, clock)})
    clock.advance(30)
    return client


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
