"""One invitation link used by several requests at once on the real PostgreSQL: exactly one sets
the password; the others are told the link was used.

Skipped unless DATABASE_URL points at PostgreSQL; SQLite has no row locks to prove anything with.
"""

from __future__ import annotations

import os

import pytest
from django.contrib.auth import get_user_model

from cardreveal.accounts.invitations import invitation_accept, invitation_send
from cardreveal.accounts.models import Invitation
from cardreveal.audit.models import AuthEvent
from tests.cards.test_reveal_concurrency import run_together

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")),
        reason="needs DATABASE_URL pointing at PostgreSQL",
    ),
    pytest.mark.django_db(transaction=True),
]

THREADS = 6


def test_one_link_used_by_many_requests_at_once_sets_exactly_one_password(settings, mailoutbox):
    settings.CARDREVEAL_SITE_URL = "https://cards.bank.example"
    user = get_user_model().objects.create_user(username="gina", email="gina@example.com")
    invitation_send(user=user, by=None)
    token = mailoutbox[-1].body.split("/accounts/invitation/?token=")[1].split()[0]

    results = run_together(
        THREADS,
        lambda i: invitation_accept(token=token, password=f"concurrent-passphrase-{i}-xyz"),
    )

    winners = [i for i, result in enumerate(results) if isinstance(result, Invitation)]
    assert len(winners) == 1, results
    losers = [r for r in results if not isinstance(r, Invitation)]
    assert all(getattr(r, "reason", None) == "link_used" for r in losers), results
    user.refresh_from_db()
    assert user.check_password(f"concurrent-passphrase-{winners[0]}-xyz")
    assert AuthEvent.objects.filter(event=AuthEvent.Event.INVITATION_USED).count() == 1
    assert AuthEvent.objects.filter(event=AuthEvent.Event.INVITATION_REFUSED).count() == THREADS - 1
