"""Other cardholders in the bench's tables (`--background-cardholders`) and the card reads' plans."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from bench.bench_cards import background_cardholder, background_cards, background_reference

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from cardreveal.cards.models import ProviderBinding

# Cardholders written per transaction: 2,000 users, identities, security rows and authenticators,
# and their 4,000 cards.
CHUNK = 2_000
# The tables that grow with the bank's cardholders.
GROWING_TABLES = (
    "cards_card",
    "auth_user",
    "accounts_externalidentity",
    "accounts_accountsecurity",
    "otp_totp_totpdevice",
)


def fill_background(*, cardholders: int, bindings: Sequence[ProviderBinding]) -> None:
    """Write `cardholders` other cardholders, each with the bank's id, an authenticator enrolled
    long ago, a security row and two cards on `bindings` (round robin), in chunks of CHUNK with
    `bulk_create`; then ANALYZE, as autovacuum would soon after a bulk load. The measured
    cardholders' rows are not touched."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.utils import timezone
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from cardreveal.accounts.models import AccountSecurity, ExternalIdentity
    from cardreveal.cards.models import Card, reference_key

    user_model = get_user_model()
    templates = [dict(binding.cards.values_list("reference", flat=True)[0]) for binding in bindings]
    long_ago = timezone.now() - timedelta(days=90)
    started = time.monotonic()
    for start in range(0, cardholders, CHUNK):
        numbers = range(start, min(cardholders, start + CHUNK))
        people = [background_cardholder(n) for n in numbers]
        with transaction.atomic():
            users = []
            for person in people:
                user = user_model(
                    username=person["username"],
                    email=person["email"],
                    first_name=person["first_name"],
                    last_name=person["last_name"],
                )
                user.set_unusable_password()  # as a provisioned cardholder before the invitation
                users.append(user)
            users = user_model.objects.bulk_create(users)
            ExternalIdentity.objects.bulk_create(
                ExternalIdentity(
                    user=user, external_id=person["external_id"], phone=person["phone"]
                )
                for user, person in zip(users, people, strict=True)
            )
            AccountSecurity.objects.bulk_create(
                AccountSecurity(user=user, authenticator_added_at=long_ago) for user in users
            )
            TOTPDevice.objects.bulk_create(
                TOTPDevice(user=user, name="Authenticator", confirmed=True) for user in users
            )
            cards = []
            for user, number in zip(users, numbers, strict=True):
                for row in background_cards(number, len(bindings)):
                    reference = background_reference(templates[row.binding], row.number)
                    cards.append(
                        Card(
                            owner=user,
                            binding=bindings[row.binding],
                            reference=reference,
                            # bulk_create skips save(), which sets the canonical form.
                            reference_key=reference_key(reference),
                            external_id=row.external_id,
                            label=row.label,
                            brand=Card.Brand.MASTERCARD,
                            last4=row.last4,
                            expiry_month=row.expiry_month,
                            expiry_year=row.expiry_year,
                        )
                    )
            Card.objects.bulk_create(cards)
        TOTPDevice.objects.filter(user__in=users).update(created_at=long_ago)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    elapsed = time.monotonic() - started
    print(
        f"bench: {cardholders} background cardholders with "
        f"{cardholders * 2} cards written in {elapsed:.1f} s",
        flush=True,
    )


def card_read_plans(*, user: User) -> str:
    """EXPLAIN (PostgreSQL's plan) of every query the card list and a reveal's card read make for
    `user`'s first card, as text."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from cardreveal.cards.selectors import card_for_reveal, card_for_user, cards_for_user

    first = cards_for_user(user=user)[0].pk
    reads = {
        "the card list": lambda: cards_for_user(user=user),
        "one card": lambda: card_for_user(user=user, card_id=first),
        "the reveal's card read": lambda: card_for_reveal(user=user, card_id=first),
        "the reveal's authenticators": lambda: list(
            TOTPDevice.objects.devices_for_user(user, confirmed=True)
        ),
    }
    out: list[str] = []
    for name, read in reads.items():
        with CaptureQueriesContext(connection) as captured:
            read()
        for query in captured.captured_queries:
            with connection.cursor() as cursor:
                cursor.execute(
                    f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) {query['sql']}"
                )
                plan = "\n".join(str(row[0]) for row in cursor.fetchall())
            out.append(f"-- {name}\n{query['sql']}\n{plan}\n")
    return "\n".join(out)


def scans_of(plans: str, tables: Sequence[str]) -> list[str]:
    """The sequential scans over any of `tables` in `plans` (card_read_plans' text)."""
    return [
        line.strip()
        for line in plans.splitlines()
        if "Seq Scan on" in line and any(f" {t} " in f"{line} " for t in tables)
    ]
