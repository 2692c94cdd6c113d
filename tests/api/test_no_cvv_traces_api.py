"""The CVV leaves no trace through the API either (T-SAD-1..7): the canary is searched in every sink."""

from __future__ import annotations

import logging

import pytest
from django.core import mail

from tests.api.conftest import client_with, token_for
from tests.conftest import shows, totp_code
from tests.test_no_cvv_traces import canary, debug_logs, dump_cache, dump_database  # noqa: F401


def test_api_reveal_leaves_the_canary_nowhere(alice, canary, clock, client_key, debug_logs):  # noqa: F811
    card, value = canary
    client = client_with(token_for(alice, clock))
    response = client.post(
        f"/api/v1/cards/{card.pk}/reveal",
        {"otp_code": totp_code(alice.device, clock), "public_key": client_key.public_b64},
        format="json",
    )
    assert response.status_code == 200
    sealed = response.json()["sealed"]
    assert client_key.open(sealed) == value  # the canary really flowed

    assert not shows(value, response.content.decode().replace(sealed, ""))
    assert not shows(value, dump_database())
    assert not shows(value, dump_cache())
    assert not shows(value, "\n".join(r.getMessage() for r in debug_logs.records))
    assert not shows(value, "\n".join(str(r.args) for r in debug_logs.records))
    assert not any(shows(value, m.body) for m in mail.outbox)
    for header, header_value in response.items():
        assert not shows(value, header_value), header
    history = client.get("/api/v1/reveals").content.decode()
    assert not shows(value, history)


def test_api_error_after_the_provider_answered_reports_no_canary(
    alice,
    canary,  # noqa: F811
    clock,
    client_key,
    monkeypatch,
    caplog,
):
    """An exception after the provider answered: a clear JSON 500, one audit record saying so,
    and the logged traceback (what an error mailer would send) hides the CVV and the code."""
    from django.views.debug import ExceptionReporter

    import cardreveal.cards.services as services
    from cardreveal.audit.models import RevealEvent

    card, value = canary

    def broken_seal(result, client_key):
        raise RuntimeError("sealing broke")

    monkeypatch.setattr(services, "seal", broken_seal)
    client = client_with(token_for(alice, clock))
    code = totp_code(alice.device, clock)
    with caplog.at_level(logging.ERROR, logger="cardreveal.cards.services"):
        response = client.post(
            f"/api/v1/cards/{card.pk}/reveal",
            {"otp_code": code, "public_key": client_key.public_b64},
            format="json",
        )
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert "not shown" in response.json()["error"]["message"]
    assert not shows(value, response.content)
    (event,) = RevealEvent.objects.filter(card=card)
    assert (event.outcome, event.reason) == ("failed", "internal_error")

    record = next(r for r in caplog.records if r.name == "cardreveal.cards.services")
    assert record.exc_info is not None
    reporter = ExceptionReporter(None, *record.exc_info)
    html = reporter.get_traceback_html()
    text = reporter.get_traceback_text()
    assert "reveal_cvv" in text  # the report covers the service frame
    for secret in (value, code):
        assert secret not in html
        assert secret not in text
        assert secret not in caplog.text


@pytest.mark.parametrize("path", ["/api/v1/cards", "/api/v1/reveals"])
def test_api_reads_never_show_a_full_card_number(authed, alice, make_card, path):
    import re

    make_card(alice.user)
    text = authed.get(path).content.decode()
    assert not re.search(r"\d{13,19}", text)
