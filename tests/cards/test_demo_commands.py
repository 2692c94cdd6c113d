"""The demo's story (load_demo): alice and bob with one working card per provider, the fault cards
with tester, the bank's names on the bindings; and demo_open, the last line `make run` prints."""

from __future__ import annotations

import io
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from cardreveal.cards.models import Card, ProviderBinding
from providers.registry import provider_kinds
from providers.sandbox.server import all_emulators


@pytest.fixture
def demo_settings(settings, tmp_path: Path) -> Path:
    settings.DEBUG = True
    settings.VAR_DIR = tmp_path
    return tmp_path


def load_demo(folder: Path) -> str:
    out = io.StringIO()
    call_command(
        "load_demo", "--state", str(folder / "sandbox"), "--app-url", "http://x.test", stdout=out
    )
    return out.getvalue()


def behaviours(state: Path) -> dict[str, str]:
    """Each seeded sandbox card's behaviour, by its reference."""
    return {
        json.dumps(card.reference, sort_keys=True): card.behaviour
        for emulator in all_emulators(state)
        for card in emulator.cards
    }


@pytest.mark.django_db
def test_alice_and_bob_hold_one_working_card_per_provider_and_tester_the_faults(demo_settings):
    printed = load_demo(demo_settings)
    behaviour = behaviours(demo_settings / "sandbox")
    holders: dict[str, list[Card]] = {}
    for card in Card.objects.select_related("owner", "binding"):
        holders.setdefault(card.owner.username, []).append(card)

    for name in ("alice", "bob"):
        cards = holders[name]
        assert sorted(c.binding.kind for c in cards) == sorted(provider_kinds())
        assert {behaviour[json.dumps(c.reference, sort_keys=True)] for c in cards} == {"ok"}
        assert not any(
            c.label.lower().startswith(("fault", "thredd", "netxd", "jusbiz")) for c in cards
        )
    references = [
        json.dumps(c.reference, sort_keys=True) for c in holders["alice"] + holders["bob"]
    ]
    assert len(set(references)) == len(references), "alice and bob share no card"
    tester_behaviours = {
        behaviour[json.dumps(c.reference, sort_keys=True)] for c in holders["tester"]
    }
    assert {
        "unauthorized",
        "rate_limited",
        "server_error",
        "slow",
        "malformed",
    } <= tester_behaviours
    assert set(holders) == {"alice", "bob", "tester"}
    # The cardholders see a bank's name, not "mastercard sandbox".
    assert all(
        b.issuer_name and "sandbox" not in b.issuer_name for b in ProviderBinding.objects.all()
    )
    # The guidance introduces tester and what tester's cards are for.
    assert "tester password" in printed
    assert "fault cards" in printed


@pytest.mark.django_db
def test_loading_the_demo_again_keeps_the_logins_and_takes_back_old_cards(demo_settings):
    load_demo(demo_settings)
    logins = json.loads((demo_settings / "demo-logins.json").read_text())
    cards = set(Card.objects.values_list("pk", flat=True))
    alice_fault = Card.objects.filter(owner__username="tester").first()
    assert alice_fault is not None
    alice = Card.objects.filter(owner__username="alice").first().owner
    alice_fault.owner = alice  # what an older demo gave alice
    alice_fault.save()

    load_demo(demo_settings)

    assert json.loads((demo_settings / "demo-logins.json").read_text()) == logins
    assert not Card.objects.filter(owner=alice, pk=alice_fault.pk).exists()
    assert Card.objects.filter(owner=alice).count() == len(provider_kinds())
    assert Card.objects.get(pk=alice_fault.pk).owner.username == "tester"  # given back
    assert cards == set(Card.objects.values_list("pk", flat=True))


@pytest.fixture
def listening() -> Iterator[list[str]]:
    """Two loopback addresses that accept connections, as the app and sandbox would."""
    servers = [socket.create_server(("127.0.0.1", 0)) for _ in range(2)]
    yield [f"http://127.0.0.1:{s.getsockname()[1]}" for s in servers]
    for server in servers:
        server.close()


def test_demo_open_prints_the_address_once_app_and_sandbox_listen(settings, listening):
    settings.DEBUG = True
    app, sandbox = listening
    out = io.StringIO()
    call_command("demo_open", "--app-url", app, "--sandbox-url", sandbox, stdout=out)
    assert out.getvalue().strip().splitlines()[-1].startswith(f"cardreveal demo: open {app}/")


def test_demo_open_names_what_did_not_start_in_time(settings, listening):
    settings.DEBUG = True
    app = listening[0]
    with socket.create_server(("127.0.0.1", 0)) as spare:
        closed = f"http://127.0.0.1:{spare.getsockname()[1]}"
    with pytest.raises(
        CommandError, match=r"the provider sandbox \(http://127\.0\.0\.1:\d+\) did not start"
    ):
        call_command("demo_open", "--app-url", app, "--sandbox-url", closed, "--timeout", "0.5")
