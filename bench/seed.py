"""Seeds the benchmark database: sandbox bindings, cardholders with one card per provider, devices.

python -m bench.seed --sandbox-url http://127.0.0.1:PORT --state DIR --users N --out users.json
(with DJANGO_SETTINGS_MODULE=bench.settings and the production variables set)

Every cardholder's authenticator is a TOTP device with a 1-second step: a code is single-use per
time step and device, so a 30-second step would allow one reveal per user per 30 s; with 1 s each
simulated cardholder can reveal once a second with a fresh, valid code, and the load generator
computes that code exactly as an authenticator app would. The cool-off that a new authenticator
starts (reveals paused for an hour) is moved into the past, as for a long-enrolled customer.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
from datetime import timedelta
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description="Seed the benchmark database.")
    parser.add_argument("--sandbox-url", required=True)
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--background-cardholders",
        type=int,
        default=0,
        help="other cardholders (two cards each) in the tables besides the measured ones",
    )
    parser.add_argument("--plans", type=Path, help="write the card reads' query plans here")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.core.management import call_command
    from django.db import transaction
    from django.utils import timezone
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from bench.bench_cards import measured_reference, template_card
    from cardreveal.cards.bindings import encoded_secrets
    from cardreveal.cards.models import Card, ProviderBinding
    from providers.sandbox.server import all_emulators

    call_command("migrate", interactive=False, verbosity=0)
    long_ago = timezone.now() - timedelta(days=30)
    password = secrets.token_urlsafe(16)
    hashed = make_password(password)  # one PBKDF2 run, shared by every bench user
    users_out = []
    with transaction.atomic():
        bindings = {}
        for emulator in all_emulators(args.state):
            seeded = template_card(emulator)
            binding = ProviderBinding.objects.create(
                name=f"{emulator.kind} sandbox (bench)",
                kind=emulator.kind,
                base_url=f"{args.sandbox_url.rstrip('/')}/{emulator.kind}",
                secrets=encoded_secrets(emulator.kind, emulator.binding_secrets()),
                options=emulator.binding_options(),
                enabled=True,
            )
            bindings[emulator.kind] = (binding, seeded)
        user_model = get_user_model()
        for i in range(args.users):
            user = user_model.objects.create(
                username=f"bench{i:04d}", email=f"bench{i:04d}@example.com", password=hashed
            )
            # A 5-step window: under callgrind on a busy host a reveal can take seconds to reach
            # its code check (each code still works once: django-otp refuses an earlier step).
            device = TOTPDevice.objects.create(
                user=user, name="bench", confirmed=True, step=1, tolerance=5
            )
            cards = {}
            for kind, (binding, seeded) in bindings.items():
                card = Card.objects.create(
                    owner=user,
                    binding=binding,
                    # One card per reference on a binding: each cardholder's own, which the
                    # bench's sandbox knows too (bench/sandbox_latency.py --cards).
                    reference=measured_reference(seeded.reference, i),
                    label=f"{kind} bench",
                    brand=seeded.brand,
                    last4=seeded.last4,
                    expiry_month=seeded.expiry_month,
                    expiry_year=seeded.expiry_year,
                    reveal_enabled=True,
                )
                cards[kind] = {"id": str(card.pk), "cvv": seeded.cvv}
            users_out.append(
                {
                    "username": user.username,
                    "password": password,
                    "totp_key": device.key,
                    "cards": cards,
                }
            )
        _backdate_cooloff(user_model, long_ago)
    args.out.write_text(json.dumps({"users": users_out}))
    args.out.chmod(0o600)
    if args.background_cardholders:
        from bench.background import GROWING_TABLES, card_read_plans, fill_background, scans_of

        fill_background(
            cardholders=args.background_cardholders,
            bindings=[binding for binding, _ in bindings.values()],
        )
        if args.plans:
            first = user_model.objects.get(username=users_out[0]["username"])
            plans = card_read_plans(user=first)
            args.plans.write_text(plans)
            scans = scans_of(plans, GROWING_TABLES)
            print(f"bench: sequential scans over the big tables: {scans or 'none'}", flush=True)


def _backdate_cooloff(user_model: object, moment: object) -> None:
    """Put the authenticator's enrolment in the past, so no cool-off is in force."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    TOTPDevice.objects.filter(name="bench").update(created_at=moment)
    try:
        from cardreveal.accounts.models import AccountSecurity
    except ImportError:
        return
    AccountSecurity.objects.filter(user__username__startswith="bench").update(
        authenticator_added_at=moment, password_changed_at=None
    )


if __name__ == "__main__":
    main()
