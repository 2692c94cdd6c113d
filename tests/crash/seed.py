"""Seeds the crash tests' database: one cardholder with a known TOTP key, an API token (issued
as after a sign-in, so that no code is spent on signing in), and one card on the Mastercard
emulator whose keys are in `--sandbox-state`. Prints the card's id and the token as JSON.

python -m tests.crash.seed --sandbox-state DIR --sandbox-url URL --username U --totp-key HEX
(run with DJANGO_SETTINGS_MODULE=tests.crash.server_settings, after `manage.py migrate`)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sandbox-state", type=Path, required=True)
    parser.add_argument("--sandbox-url", required=True)
    parser.add_argument("--username", required=True)
    parser.add_argument("--totp-key", required=True, help="the authenticator's key, in hex")
    args = parser.parse_args()

    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from cardreveal.api.services import api_token_issue
    from cardreveal.cards.bindings import encoded_secrets
    from cardreveal.cards.models import Card, ProviderBinding
    from providers.sandbox.mastercard import MastercardEmulator

    emulator = MastercardEmulator(args.sandbox_state)
    seeded = next(card for card in emulator.cards if card.behaviour == "ok")
    with transaction.atomic():
        user = get_user_model().objects.create_user(
            username=args.username, password=None, email=f"{args.username}@example.com"
        )
        TOTPDevice.objects.create(user=user, name="phone", key=args.totp_key, confirmed=True)
        binding = ProviderBinding.objects.create(
            name="mastercard sandbox",
            kind=emulator.kind,
            base_url=f"{args.sandbox_url.rstrip('/')}/{emulator.kind}",
            secrets=encoded_secrets(emulator.kind, emulator.binding_secrets()),
            options=emulator.binding_options(),
        )
        card = Card.objects.create(
            owner=user,
            label="Crash test card",
            brand=seeded.brand,
            last4=seeded.last4,
            expiry_month=seeded.expiry_month,
            expiry_year=seeded.expiry_year,
            binding=binding,
            reference=seeded.reference,
        )
        token = api_token_issue(user=user, device_name="crash test")
    sys.stdout.write(json.dumps({"card_id": str(card.pk), "token": token.secret.reveal()}) + "\n")


if __name__ == "__main__":
    main()
