"""A failure at any step of a reveal: one audit record, a clear answer, and never a provider call
without a record (DESIGN invariant 5). Runs on SQLite and, in CI, on PostgreSQL, with real commits
(`transactional_db`), as the reveal runs in production."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.db import DatabaseError, InterfaceError, OperationalError

import cardreveal.cards.services as services
from cardreveal.audit.chain import chain_verify
from cardreveal.audit.models import ReceiptOutbox, RevealEvent
from cardreveal.cards.services import RevealError, reveal_cvv
from cardreveal.client_info import ClientInfo
from tests.conftest import totp_code

CLIENT = ClientInfo(ip="198.51.100.9", user_agent="pytest", request_id="req-fail", channel="api")


def failing(original: Callable[..., object], error: Exception, *, times: int = 1):
    """`original`, except that its first `times` calls raise `error`."""
    left = [times]

    def call(*args, **kwargs):
        if left[0] > 0:
            left[0] -= 1
            raise error
        return original(*args, **kwargs)

    return call


class BrokenAfterAnswer:
    """A provider whose module has a bug after the provider answered (not a ProviderError)."""

    def __init__(self, real) -> None:
        self.real = real

    def fetch_cvv(self, **kwargs):
        self.real.fetch_cvv(**kwargs)
        raise KeyError("a field the provider module expected")


@dataclass(frozen=True)
class Step:
    name: str
    inject: Callable[[pytest.MonkeyPatch], None]
    provider_calls: int  # how many times the provider is asked
    outcome: str  # what the one record says
    code_spent: bool  # whether the same code is refused afterwards


def patch(name: str, error: Exception, *, times: int = 1) -> Callable[[pytest.MonkeyPatch], None]:
    def inject(monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(services, name, failing(getattr(services, name), error, times=times))

    return inject


def broken_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    real = services.provider_for_binding
    monkeypatch.setattr(services, "provider_for_binding", lambda b: BrokenAfterAnswer(real(b)))


def receipt_insert_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        ReceiptOutbox, "save", failing(ReceiptOutbox.save, DatabaseError("refused"), times=1)
    )


STEPS = [
    Step("card read", patch("card_for_reveal", DatabaseError("gone")), 0, "failed", False),
    Step("key parse", patch("parse_client_key", ValueError("bug")), 0, "failed", False),
    Step("quota", patch("reveal_quota_reserve", ConnectionError("redis")), 0, "failed", False),
    Step("code check", patch("verify_totp", DatabaseError("gone")), 0, "failed", False),
    Step("audit open", patch("reveal_event_open", DatabaseError("refused")), 0, "failed", False),
    Step("provider", broken_provider, 1, "failed", True),
    Step("sealing", patch("seal", ValueError("bug")), 1, "failed", True),
    Step("receipt draft", patch("receipt_draft", RuntimeError("bug")), 1, "failed", True),
    Step("receipt insert", receipt_insert_refused, 1, "failed", True),
    Step(
        "audit completion, once",
        patch("reveal_event_complete", DatabaseError("refused")),
        1,
        "failed",
        True,
    ),
    Step(
        "audit completion, every time",
        patch("reveal_event_complete", DatabaseError("refused"), times=99),
        1,
        "pending",  # the record written before the provider call is the evidence
        True,
    ),
]


@pytest.mark.parametrize("step", STEPS, ids=[s.name for s in STEPS])
def test_a_failure_at_any_step_leaves_one_record_and_a_clear_answer(
    step, transactional_db, alice, make_card, clock, client_key, provider_calls, monkeypatch, caplog
):
    card = make_card(alice.user)
    calls = provider_calls("mastercard")
    code = totp_code(alice.device, clock)
    step.inject(monkeypatch)

    with (
        caplog.at_level(logging.ERROR, logger="cardreveal.cards.services"),
        pytest.raises(RevealError) as info,
    ):
        reveal_cvv(
            user=alice.user,
            card_id=card.pk,
            otp_code=code,
            client_public_key=client_key.public_b64,
            client=CLIENT,
        )

    assert (info.value.code, info.value.status_code) == ("internal_error", 500)
    assert "was not shown" in info.value.message
    assert "Traceback" in caplog.text  # the server's log has what went wrong
    (record,) = RevealEvent.objects.filter(requested_card_id=str(card.pk))
    assert record.outcome == step.outcome
    assert record.reason == ("" if step.outcome == "pending" else "internal_error")
    assert (record.channel, record.request_id) == ("api", "req-fail")
    assert calls.count == step.provider_calls
    assert chain_verify(RevealEvent).ok
    assert not ReceiptOutbox.objects.exists()  # no receipt for a reveal nobody saw

    monkeypatch.undo()
    provider_calls("mastercard")  # the spy again, after the undo
    if step.code_spent:  # the code was used up with the provider call: never twice
        with pytest.raises(RevealError) as again:
            reveal_cvv(
                user=alice.user,
                card_id=card.pk,
                otp_code=code,
                client_public_key=client_key.public_b64,
                client=CLIENT,
            )
        assert again.value.code == "otp_replayed"
    else:  # nothing was spent: the cardholder can try again with the same code
        result = reveal_cvv(
            user=alice.user,
            card_id=card.pk,
            otp_code=code,
            client_public_key=client_key.public_b64,
            client=CLIENT,
        )
        assert client_key.open(result.sealed) == "347"


def test_a_record_that_cannot_be_written_at_all_means_no_provider_call(
    alice, make_card, clock, client_key, provider_calls, monkeypatch
):
    card = make_card(alice.user)
    calls = provider_calls("mastercard")
    refused = DatabaseError("the audit table refuses writes")
    monkeypatch.setattr(services, "reveal_event_open", failing(lambda **kw: None, refused))
    monkeypatch.setattr(services, "reveal_event_record", failing(lambda **kw: None, refused))
    with pytest.raises(RevealError) as info:
        reveal_cvv(
            user=alice.user,
            card_id=card.pk,
            otp_code=totp_code(alice.device, clock),
            client_public_key=client_key.public_b64,
            client=CLIENT,
        )
    assert info.value.code == "internal_error"
    assert calls.count == 0
    assert not RevealEvent.objects.exists()


OUTAGES = [
    Step(
        "card read", patch("card_for_reveal", OperationalError("server closed")), 0, "failed", False
    ),
    Step(
        "code check",
        patch("verify_totp", InterfaceError("connection already closed")),
        0,
        "failed",
        False,
    ),
    Step(
        "audit completion, every time",
        patch("reveal_event_complete", OperationalError("server closed"), times=99),
        1,
        "pending",
        True,
    ),
]


@pytest.mark.parametrize("step", OUTAGES, ids=[s.name for s in OUTAGES])
def test_a_database_outage_at_a_step_is_a_503_to_try_again_never_a_500(
    step, transactional_db, alice, make_card, clock, client_key, provider_calls, monkeypatch
):
    card = make_card(alice.user)
    calls = provider_calls("mastercard")
    step.inject(monkeypatch)
    with pytest.raises(RevealError) as info:
        reveal_cvv(
            user=alice.user,
            card_id=card.pk,
            otp_code=totp_code(alice.device, clock),
            client_public_key=client_key.public_b64,
            client=CLIENT,
        )
    assert (info.value.code, info.value.status_code) == ("temporarily_unavailable", 503)
    assert info.value.retry_after == 30
    assert "Try again in a minute" in info.value.message
    (record,) = RevealEvent.objects.filter(requested_card_id=str(card.pk))
    assert record.outcome == step.outcome
    assert record.reason == ("" if step.outcome == "pending" else "temporarily_unavailable")
    assert calls.count == step.provider_calls
    assert chain_verify(RevealEvent).ok
