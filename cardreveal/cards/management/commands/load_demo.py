"""Loads the demo: sandbox bindings, a cardholder with cards on each sandbox, and an admin. Idempotent."""

from __future__ import annotations

import json
import secrets
from base64 import b32encode
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from cardreveal.accounts.otp import replace_backup_codes
from cardreveal.cards.bindings import encoded_secrets
from cardreveal.cards.models import Card, ProviderBinding
from providers.registry import provider_kinds
from providers.sandbox.server import all_emulators

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class Command(BaseCommand):
    help = "Create (or refresh) the demo bindings, cardholders and admin for the sandbox."

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
            alice = self._user("alice", logins["alice"], staff=False)
            bob = self._user("bob", logins["bob"], staff=False)
            admin = self._user("admin", logins["admin"], staff=True)
            devices = {user.username: self._totp(user) for user in (alice, bob, admin)}
            admin_codes = replace_backup_codes(user=admin)
            summary = []
            for emulator in all_emulators(state):
                if emulator.kind not in provider_kinds():
                    continue
                defaults: dict[str, Any] = {
                    "kind": emulator.kind,
                    "base_url": f"{sandbox_url}/{emulator.kind}",
                    "secrets": encoded_secrets(emulator.kind, emulator.binding_secrets()),
                    "options": emulator.binding_options(),
                    "enabled": True,
                }
                binding, _ = ProviderBinding.objects.update_or_create(
                    name=f"{emulator.kind} sandbox", defaults=defaults
                )
                for seeded in emulator.cards:
                    self._card(alice, binding, seeded, seeded.label)
                    summary.append(
                        f"    {seeded.label:<36} {emulator.kind:<11} "
                        f"{'' if seeded.behaviour == 'ok' else seeded.behaviour}"
                    )
                if emulator.kind == "mastercard" and emulator.cards:
                    # Bob shares nothing with alice but a sandbox reference: isolation demo.
                    self._card(bob, binding, emulator.cards[0], "Bob's card")
        self._print(options["app_url"], logins, devices, admin_codes, summary)

    def _card(self, owner: Any, binding: ProviderBinding, seeded: Any, label: str) -> None:
        Card.objects.update_or_create(
            owner=owner,
            binding=binding,
            reference=seeded.reference,
            defaults={
                "label": label[:60],
                "brand": seeded.brand,
                "last4": seeded.last4,
                "expiry_month": seeded.expiry_month,
                "expiry_year": seeded.expiry_year,
                "reveal_enabled": True,
            },
        )

    def _logins(self, path: Path) -> dict[str, str]:
        if path.exists():
            data: dict[str, str] = json.loads(path.read_text())
            if {"alice", "bob", "admin"} <= set(data):
                return data
        data = {name: secrets.token_urlsafe(12) for name in ("alice", "bob", "admin")}
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
        summary: list[str],
    ) -> None:
        out = self.stdout.write
        out("")
        out(self.style.SUCCESS(f"cardreveal demo: open {app_url}/"))
        out("")
        for name in ("alice", "bob", "admin"):
            device = devices[name]
            secret = b32encode(device.bin_key).decode()
            role = "admin, " + f"{app_url}/admin/" if name == "admin" else "cardholder"
            out(f"  {name:<6} password {logins[name]:<18} ({role})")
            out(f"         TOTP secret {secret}")
            out(f"         or add to an app: {device.config_url}")
        out("")
        out("  Current codes: .venv/bin/python manage.py demo_totp alice   (or bob, admin)")
        out("  A reveal needs a code newer than the one you signed in with: wait for the next one.")
        out("  Admin backup codes (single use): " + " ".join(admin_codes))
        out("")
        out("  alice's cards:")
        for line in summary:
            out(line)
        out("")
