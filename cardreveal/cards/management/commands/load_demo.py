"""Loads the demo: sandbox bindings, two cardholders with one working card per provider, a tester
who holds the sandbox's fault cards, and an admin. Idempotent."""

from __future__ import annotations

import json
import secrets
import uuid
from base64 import b32encode
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from cardreveal.accounts.otp import replace_backup_codes
from cardreveal.cards.bindings import encoded_secrets
from cardreveal.cards.models import Card, ProviderBinding, reference_key
from providers.registry import provider_kinds
from providers.sandbox.core import Emulator, SandboxCard
from providers.sandbox.server import all_emulators

if TYPE_CHECKING:
    from django.contrib.auth.models import User

CARDHOLDERS = ("alice", "bob")
TESTER = "tester"
ADMIN = "admin"
USERNAMES = (*CARDHOLDERS, TESTER, ADMIN)

# Each sandbox binding as a cardholder sees it: the bank that issues its cards (made up), and
# the labels alice and bob gave their one working card there.
ISSUERS = {
    "mastercard": "Northwind Bank",
    "thredd": "Harbour Bank",
    "netxd": "Meridian Credit Union",
    "juspay": "Lakeside Digital Bank",
}
CARDHOLDER_LABELS = {
    "mastercard": ("Everyday debit", "Household bills"),
    "thredd": ("Travel card", "Holiday spending"),
    "netxd": ("Business expenses", "Freelance account"),
    "juspay": ("Online shopping (virtual card)", "Subscriptions (virtual card)"),
}


@dataclass(frozen=True)
class DemoCard:
    """One card the demo gives someone: whose, on which binding, and the sandbox card behind it."""

    owner: str
    kind: str
    label: str
    seeded: SandboxCard


def demo_cards(emulator: Emulator) -> list[DemoCard]:
    """How one sandbox's cards are shared out: its first working cards to alice and bob (one
    each), everything else (spare working cards and every fault card) to the tester."""
    working = [card for card in emulator.cards if card.behaviour == "ok"]
    labels = CARDHOLDER_LABELS.get(emulator.kind, ())
    shared: list[DemoCard] = []
    for owner, seeded, label in zip(CARDHOLDERS, working, labels, strict=False):
        shared.append(DemoCard(owner, emulator.kind, label, seeded))
    given = {id(card.seeded) for card in shared}
    shared += [
        DemoCard(TESTER, emulator.kind, card.label, card)
        for card in emulator.cards
        if id(card) not in given
    ]
    return shared


class Command(BaseCommand):
    help = "Create (or refresh) the demo bindings, cardholders, tester and admin for the sandbox."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--sandbox-url",
            default="http://127.0.0.1:8765",
            help="where the sandbox (python -m providers.sandbox) listens",
        )
        parser.add_argument(
            "--state",
            type=Path,
            default=Path(settings.VAR_DIR) / "sandbox",
            help="the sandbox's key folder, shared with the sandbox process",
        )
        parser.add_argument("--app-url", default="http://127.0.0.1:8000")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("load_demo is for the demo settings only (DEBUG on).")
        state: Path = options["state"]
        sandbox_url: str = options["sandbox_url"].rstrip("/")
        logins = self._logins(Path(settings.VAR_DIR) / "demo-logins.json")
        with transaction.atomic():
            users = {
                name: self._user(name, logins[name], staff=name == ADMIN) for name in USERNAMES
            }
            devices = {name: self._totp(user) for name, user in users.items()}
            admin_codes = replace_backup_codes(user=users[ADMIN])
            kept: set[uuid.UUID] = set()
            plan: list[DemoCard] = []
            for emulator in all_emulators(state):
                if emulator.kind not in provider_kinds():
                    continue
                defaults: dict[str, Any] = {
                    "kind": emulator.kind,
                    "issuer_name": ISSUERS.get(emulator.kind, ""),
                    "base_url": f"{sandbox_url}/{emulator.kind}",
                    "secrets": encoded_secrets(emulator.kind, emulator.binding_secrets()),
                    "options": emulator.binding_options(),
                    "enabled": True,
                }
                binding, _ = ProviderBinding.objects.update_or_create(
                    name=f"{emulator.kind} sandbox", defaults=defaults
                )
                for demo_card in demo_cards(emulator):
                    kept.add(self._card(users[demo_card.owner], binding, demo_card))
                    plan.append(demo_card)
            # A refresh also takes back what an older demo gave out (alice once held the faults).
            Card.objects.filter(owner__in=users.values()).exclude(pk__in=kept).delete()
        self._print(options["app_url"], logins, devices, admin_codes, plan)

    def _card(self, owner: User, binding: ProviderBinding, demo_card: DemoCard) -> uuid.UUID:
        seeded = demo_card.seeded
        # Found by its reference (one card per reference on a binding), so a card an older demo
        # gave someone else comes back to its owner.
        card, _ = Card.objects.update_or_create(
            binding=binding,
            reference_key=reference_key(seeded.reference),
            defaults={
                "owner": owner,
                "reference": seeded.reference,
                "label": demo_card.label[:60],
                "brand": seeded.brand,
                "last4": seeded.last4,
                "expiry_month": seeded.expiry_month,
                "expiry_year": seeded.expiry_year,
                "reveal_enabled": True,
            },
        )
        return card.pk

    def _logins(self, path: Path) -> dict[str, str]:
        """The demo passwords, kept in `path` across runs; a name missing there gets a new one."""
        data: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
        missing = [name for name in USERNAMES if not data.get(name)]
        if missing:
            data.update({name: secrets.token_urlsafe(12) for name in missing})
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(data))
            path.chmod(0o600)
        return data

    def _user(self, username: str, password: str, *, staff: bool) -> Any:
        user_model = get_user_model()
        user, _ = user_model.objects.get_or_create(username=username)
        user.email = f"{username}@example.com"
        user.is_staff = user.is_superuser = staff
        if not user.check_password(password):  # a re-run is not a password change (cool-off)
            user.set_password(password)
        user.save()
        return user

    def _totp(self, user: User) -> TOTPDevice:
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
        if device is None:
            device = TOTPDevice.objects.create(user=user, name="Demo authenticator", confirmed=True)
        return device

    def _print(
        self,
        app_url: str,
        logins: dict[str, str],
        devices: dict[str, TOTPDevice],
        admin_codes: list[str],
        plan: list[DemoCard],
    ) -> None:
        out = self.stdout.write

        def login(name: str, role: str) -> None:
            device = devices[name]
            out(f"    {name:<6} password {logins[name]:<18} ({role})")
            out(f"           TOTP secret {b32encode(device.bin_key).decode()}")
            out(f"           or add to an app: {device.config_url}")

        out("")
        out(self.style.SUCCESS("cardreveal demo"))
        out("")
        out("  Cardholders: alice and bob each hold one working card from every provider.")
        for name in CARDHOLDERS:
            login(name, "cardholder")
        for name in CARDHOLDERS:
            cards = [c for c in plan if c.owner == name]
            out(f"    {name}'s cards: " + "; ".join(f"{c.label} ({c.kind})" for c in cards))
        out("")
        out("  Tester: sign in as tester to see how failures look. tester holds the sandbox's")
        out("  fault cards (the provider refuses, is rate limited, fails, is slow or answers")
        out("  garbage) and a spare working card of some providers:")
        login(TESTER, "cardholder with the fault cards")
        for card in (c for c in plan if c.owner == TESTER):
            behaviour = "works" if card.seeded.behaviour == "ok" else card.seeded.behaviour
            out(f"      {card.label:<36} {card.kind:<11} {behaviour}")
        out("")
        out(f"  Admin: the bank's staff view, {app_url}/admin/")
        login(ADMIN, "admin")
        out("    Admin backup codes (single use): " + " ".join(admin_codes))
        out("")
        out("  Current codes: .venv/bin/python manage.py demo_totp alice   (or bob, tester, admin)")
        out("  A reveal needs a code newer than the one you signed in with: wait for the next one.")
        out("")
