"""The CVV leaves no trace (T-SAD-1..7): a canary CVV from the sandbox is searched for in every sink."""

from __future__ import annotations

import logging
import pickle
import random

import pytest
from django.apps import apps
from django.core import mail
from django.core.cache import cache
from django.db import connection

from providers.sandbox.core import SandboxCard
from tests.conftest import shows, totp_code

FORBIDDEN_FIELD_WORDS = ("cvv", "cvc", "csc", "security_code", "securitycode")


def dump_database() -> str:
    """Every value of every column of every table, as text."""
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            for row in cursor.fetchall():
                chunks.append(" ".join(repr(v) for v in row))
    return "\n".join(chunks)


def dump_cache() -> str:
    """Keys and values of the local-memory cache, or of Redis when the suite runs on it."""
    backend = cache._cache if hasattr(cache, "_cache") else None
    if isinstance(backend, dict):
        parts = []
        for key, value in backend.items():
            parts.append(repr(key))
            try:
                parts.append(repr(pickle.loads(value)))
            except Exception:
                parts.append(repr(value))
        return "\n".join(parts)
    client = cache._cache.get_client()  # Redis: every key, whatever its type
    read = {
        b"string": client.get,
        b"list": lambda k: client.lrange(k, 0, -1),
        b"hash": client.hgetall,
        b"set": client.smembers,
        b"zset": lambda k: client.zrange(k, 0, -1, withscores=True),
    }
    parts = []
    for key in client.keys("*"):
        kind = client.type(key)
        kind = kind if isinstance(kind, bytes) else str(kind).encode()
        reader = read.get(kind)
        parts.append(f"{key!r} {reader(key) if reader else kind!r}")
    return "\n".join(parts)


@pytest.fixture
def canary(sandbox, alice, make_card):
    """A card whose sandbox CVV is a 4-digit value found nowhere before the reveal."""
    emulator = sandbox.emulator("mastercard")
    before = dump_database()
    while True:
        value = f"{random.randint(1000, 9999)}"
        if value not in before:
            break
    contract = f"{random.randint(800000, 899999)}"
    emulator.add_card(
        SandboxCard(
            reference={"card_contract_id": contract},
            cvv=value,
            expiry_month=4,
            expiry_year=2030,
            label="Canary",
        )
    )
    card = make_card(alice.user, reference={"card_contract_id": contract}, label="Canary")
    return card, value


@pytest.fixture
def debug_logs(caplog):
    """Every logger at DEBUG, captured."""
    for name in ("", "django", "django.request", "urllib3", "requests", "providers", "cardreveal"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    yield caplog
    for name in ("urllib3",):
        logging.getLogger(name).setLevel(logging.WARNING)


def test_no_model_field_is_named_like_a_cvv():
    for model in apps.get_models():
        for field in model._meta.get_fields():
            name = field.name.lower()
            assert not any(word in name for word in FORBIDDEN_FIELD_WORDS), (model, name)


def test_web_reveal_leaves_the_canary_nowhere(
    signed_in, alice, canary, clock, client_key, debug_logs
):
    card, value = canary
    response = signed_in.post(
        f"/cards/{card.pk}/reveal",
        {"otp_code": totp_code(alice.device, clock), "public_key": client_key.public_b64},
    )
    assert response.status_code == 200
    assert client_key.open(response.json()["sealed"]) == value  # the canary really flowed

    assert not shows(value, response.content)
    assert not shows(value, dump_database())
    assert not shows(value, dump_cache())
    assert not shows(value, str(dict(signed_in.session.items())))
    assert not shows(value, "\n".join(r.getMessage() for r in debug_logs.records))
    assert not shows(value, "\n".join(str(r.args) for r in debug_logs.records))
    assert not any(shows(value, m.body) for m in mail.outbox)
    for header, header_value in response.items():
        assert not shows(value, header_value), header


def test_failed_reveal_after_the_code_leaves_no_body_in_logs(
    signed_in, alice, sandbox, make_card, clock, client_key, debug_logs
):
    malformed = next(c for c in sandbox.emulator("mastercard").cards if c.behaviour == "malformed")
    card = make_card(
        alice.user,
        reference=malformed.reference,
        expiry=(malformed.expiry_month, malformed.expiry_year),
    )
    response = signed_in.post(
        f"/cards/{card.pk}/reveal",
        {"otp_code": totp_code(alice.device, clock), "public_key": client_key.public_b64},
    )
    assert response.status_code == 502
    logged = "\n".join(r.getMessage() for r in debug_logs.records)
    assert "provider call" in logged  # the door logged the call...
    assert "{" not in logged.split("provider call", 1)[1].splitlines()[0]  # ...but no body


def test_error_report_after_the_provider_answered_hides_the_canary(
    signed_in, alice, canary, clock, client_key, monkeypatch, caplog
):
    """An exception raised after the provider answered is answered as a clear error, and its
    logged traceback renders as an error report without the CVV."""
    from django.views.debug import ExceptionReporter

    import cardreveal.cards.services as services

    card, value = canary
    captured = {}

    def broken_seal(result, client_key):
        captured["result"] = result
        raise RuntimeError("sealing broke")

    monkeypatch.setattr(services, "seal", broken_seal)
    with caplog.at_level(logging.ERROR, logger="cardreveal.cards.services"):
        response = signed_in.post(
            f"/cards/{card.pk}/reveal",
            {"otp_code": totp_code(alice.device, clock), "public_key": client_key.public_b64},
        )
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert captured["result"].value.reveal() == value
    record = next(r for r in caplog.records if r.exc_info)
    reporter = ExceptionReporter(None, *record.exc_info)
    html = reporter.get_traceback_html()
    text = reporter.get_traceback_text()
    assert "reveal_cvv" in text  # the report does cover the service frame
    assert not shows(value, html)
    assert not shows(value, text)
    assert not shows(value, caplog.text)


def test_leak_check_finds_a_standalone_cvv_and_ignores_random_material():
    assert shows("347", '{"cvv": "347"}')
    assert shows("347", "cvv=347, ok")
    assert shows("347", b"347")
    assert not shows("347", "eyJh.Qx347Zk.a9")  # inside base64
    assert not shows("347", "2026-11-22 10:00:01.034712")  # inside a timestamp
    assert not shows("347", "3471")
