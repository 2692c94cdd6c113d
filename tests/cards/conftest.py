"""Fixtures for the cards tests: an OTP-verified admin."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.conftest import totp_code


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
    return client
