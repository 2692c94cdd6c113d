"""Fixtures for the bench's tests: the core suite's (tests/conftest.py) and a floor card."""

from __future__ import annotations

import random

import pytest

from providers.sandbox.core import SandboxCard
from tests.conftest import (  # noqa: F401 (fixtures, found here by name)
    _fresh_cache,
    _fresh_http_doors,
    _no_receipt_sender_left_running,
    alice,
    client_key,
    clock,
    make_binding,
    make_card,
    provider_calls,
    sandbox,
    signed_in,
)


@pytest.fixture
def floor_urls(settings):
    """The app's URLs plus the floors' (bench/floor_urls.py)."""
    settings.ROOT_URLCONF = "bench.floor_urls"


@pytest.fixture
def floor_card(floor_urls, sandbox, alice, make_card, provider_calls):  # noqa: F811
    """Alice's card on a sandbox card of its own, with a 4-digit CVV: (card, its CVV, its
    emulator's call counter)."""
    contract = f"{random.randint(800000, 899999)}"
    cvv = f"{random.randint(1000, 9999)}"
    sandbox.emulator("mastercard").add_card(
        SandboxCard(
            reference={"card_contract_id": contract},
            cvv=cvv,
            expiry_month=4,
            expiry_year=2030,
            label="Floor",
        )
    )
    card = make_card(alice.user, reference={"card_contract_id": contract}, label="Floor")
    return card, cvv, provider_calls("mastercard")
