"""Hostile and failing providers over real sockets: every fault ends in one clear result (T-MAP-1)
within the call's deadline, retried only where safe, with nothing of the answer in any log."""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from cardreveal.audit.models import RevealEvent
from cardreveal.cards.bindings import encoded_secrets
from cardreveal.cards.models import ProviderBinding
from cardreveal.cards.services import RevealError, RevealResult, reveal_cvv
from cardreveal.client_info import ClientInfo
from providers.errors import (
    ProviderConfigError,
    ProviderConnectionLost,
    ProviderError,
    ProviderTimeout,
    ProviderTLSError,
    ProviderUnavailable,
)
from providers.http import ClientCertificate, HttpDoor, HttpPolicy
from providers.sandbox.core import FAULT_BODY_MARKER, Fault
from providers.sandbox.mastercard import MastercardEmulator
from providers.sandbox.server import RunningSandbox, start_sandbox
from providers.sandbox.tls import ThrowawayCA, server_tls_context
from providers.sensitive import Sensitive
from tests.conftest import totp_code

CLIENT = ClientInfo(ip="198.51.100.9", user_agent="pytest", request_id="req-resil", channel="web")
# Short limits for the service-level tests (the settings the bindings read).
CONNECT_TIMEOUT = 1.0
READ_TIMEOUT = 1.0
DEADLINE = 1.5
# How far past its deadline a call may end: thread scheduling on a busy 2-core CI machine. This is
# a correctness bound (without the deadline guard a drip call takes a minute), not a speed target.
SLACK = 1.0
CVV = "347"  # the sandbox's answer for the default Mastercard card


@pytest.fixture(autouse=True)
def _short_limits(settings: object) -> None:
    settings.CARDREVEAL_PROVIDER_CONNECT_TIMEOUT = CONNECT_TIMEOUT  # type: ignore[attr-defined]
    settings.CARDREVEAL_PROVIDER_READ_TIMEOUT = READ_TIMEOUT  # type: ignore[attr-defined]
    settings.CARDREVEAL_PROVIDER_DEADLINE = DEADLINE  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _no_faults(sandbox: RunningSandbox) -> Iterator[None]:
    sandbox.faults.clear()
    yield
    sandbox.faults.clear()


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every logger at DEBUG (urllib3 and requests included), captured."""
    names = ("", "urllib3", "requests", "providers", "cardreveal")
    before = {name: logging.getLogger(name).level for name in names}
    for name in names:
        logging.getLogger(name).setLevel(logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    yield caplog
    for name, level in before.items():
        logging.getLogger(name).setLevel(level)


def assert_nothing_of_the_answer_logged(logs: pytest.LogCaptureFixture) -> None:
    text = "\n".join(
        [logs.text] + [str(r.exc_info) + str(r.exc_text) for r in logs.records if r.exc_info]
    )
    assert FAULT_BODY_MARKER not in text
    assert '"cvv"' not in text


def reveal(holder: object, card: object, clock: object, key: object) -> RevealResult | RevealError:
    """One reveal through the service with a fresh code; the error instead of raising it."""
    try:
        return reveal_cvv(
            user=holder.user,  # type: ignore[attr-defined]
            card_id=card.pk,  # type: ignore[attr-defined]
            otp_code=totp_code(holder.device, clock),  # type: ignore[attr-defined,arg-type]
            client_public_key=key.public_b64,  # type: ignore[attr-defined]
            client=CLIENT,
        )
    except RevealError as exc:
        return exc
    finally:
        clock.advance(30)  # type: ignore[attr-defined]


def service_record(logs: pytest.LogCaptureFixture) -> logging.LogRecord:
    """The reveal service's one log line about the failure."""
    (record,) = [r for r in logs.records if r.getMessage().startswith("reveal failed")]
    return record


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# ---------------------------------------------------------------------------------- T-MAP-1 by fault

BODY = f'{{"error":"{FAULT_BODY_MARKER}"}}'.encode()

FAULTS = {
    # name: (fault, code, status, retry_after, log level, provider requests)
    "slow answer": (
        Fault(latency=READ_TIMEOUT + 1.0),
        "provider_timeout", 504, None, logging.WARNING, 1,
    ),
    "drip from the status line": (
        Fault(drip_interval=0.05),
        "provider_timeout", 504, None, logging.WARNING, 1,
    ),
    "drip of the body": (
        Fault(status=200, body=BODY * 40, drip_interval=0.05, drip_body_only=True),
        "provider_timeout", 504, None, logging.WARNING, 1,
    ),
    "reset before answering": (
        Fault(reset=True),
        "provider_connection_lost", 502, None, logging.WARNING, 2,
    ),
    "reset mid-answer": (
        Fault(reset=True, reset_after_bytes=40),
        "provider_connection_lost", 502, None, logging.WARNING, 2,
    ),
    "garbage": (
        Fault(garbage=True),
        "provider_bad_response", 502, None, logging.ERROR, 1,
    ),
    "oversized body declared": (
        Fault(huge_body_bytes=2 * 1024 * 1024),
        "provider_bad_response", 502, None, logging.ERROR, 1,
    ),
    "oversized body streamed": (
        Fault(huge_body_bytes=2 * 1024 * 1024, huge_declares_length=False),
        "provider_bad_response", 502, None, logging.ERROR, 1,
    ),
    "redirect": (
        Fault(redirect_to="http://127.0.0.1:9/elsewhere"),
        "provider_bad_response", 502, None, logging.ERROR, 1,
    ),
    "html instead of json": (
        Fault(status=200, body=f"<html>{FAULT_BODY_MARKER}</html>".encode(),
              headers={"Content-Type": "text/html"}),
        "provider_bad_response", 502, None, logging.ERROR, 1,
    ),
    "429 with a long Retry-After": (
        Fault(status=429, headers={"Retry-After": "3600"}, body=BODY),
        "provider_rate_limited", 503, 60, logging.WARNING, 1,
    ),
    "5xx": (
        Fault(status=503, body=BODY),
        "provider_server_error", 502, None, logging.WARNING, 1,
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", list(FAULTS))
def test_each_fault_maps_to_one_result_within_the_deadline(
    name, sandbox, alice, make_card, clock, client_key, logs
):
    fault, code, status, retry_after, level, requests_made = FAULTS[name]
    card = make_card(alice.user)
    sandbox.faults.set(fault, kind="mastercard")

    started = time.monotonic()
    outcome = reveal(alice, card, clock, client_key)
    elapsed = time.monotonic() - started

    assert isinstance(outcome, RevealError)
    assert (outcome.code, outcome.status_code, outcome.retry_after) == (code, status, retry_after)
    assert outcome.message
    assert FAULT_BODY_MARKER not in outcome.message
    assert elapsed < DEADLINE + SLACK
    assert sandbox.faults.hits == requests_made
    assert service_record(logs).levelno == level
    event = RevealEvent.objects.order_by("-id").first()
    assert (event.outcome, event.reason) == ("failed", code)
    assert_nothing_of_the_answer_logged(logs)


def test_a_reset_on_an_idempotent_request_is_retried_once(
    sandbox, alice, make_card, clock, client_key, logs
):
    # The sandbox's Mastercard binding sends an Idempotency-Key, so a dropped connection may be
    # retried: the retry is logged and the second drop is the answer.
    card = make_card(alice.user)
    sandbox.faults.set(Fault(reset=True, reset_after_bytes=40), kind="mastercard")
    outcome = reveal(alice, card, clock, client_key)
    assert isinstance(outcome, RevealError)
    assert outcome.code == "provider_connection_lost"
    retries = [r for r in logs.records if "retrying" in r.getMessage()]
    assert len(retries) == 1


def test_a_reset_without_an_idempotency_key_is_not_retried(
    sandbox, alice, make_card, clock, client_key, logs
):
    card = make_card(alice.user, binding=None)
    card.binding.options = {**card.binding.options, "send_idempotency_key": False}
    card.binding.save()
    sandbox.faults.set(Fault(reset=True, reset_after_bytes=40), kind="mastercard")
    outcome = reveal(alice, card, clock, client_key)
    assert isinstance(outcome, RevealError)
    assert outcome.code == "provider_connection_lost"
    assert not [r for r in logs.records if "retrying" in r.getMessage()]


def test_the_web_view_passes_the_capped_retry_after_of_a_429(
    signed_in, sandbox, alice, make_card, clock, client_key
):
    card = make_card(alice.user)
    sandbox.faults.set(Fault(status=429, headers={"Retry-After": "86400"}), kind="mastercard")
    response = signed_in.post(
        f"/cards/{card.pk}/reveal",
        {"otp_code": totp_code(alice.device, clock), "public_key": client_key.public_b64},
    )
    assert response.status_code == 503
    assert response["Retry-After"] == "60"
    assert response.json()["error"]["code"] == "provider_rate_limited"
    assert FAULT_BODY_MARKER not in response.content.decode()


@pytest.mark.parametrize(
    "fault",
    [
        Fault(status=429, headers={"Retry-After": "3600"}),
        Fault(status=500),
        Fault(garbage=True),
        Fault(reset=True),
    ],
    ids=["429", "5xx", "garbage", "reset"],
)
def test_the_web_and_the_api_give_the_same_answer_for_each_fault(
    fault, signed_in, sandbox, alice, make_card, clock, client_key
):
    from tests.api.conftest import client_with, token_for

    card = make_card(alice.user)
    sandbox.faults.set(fault, kind="mastercard")
    app = client_with(token_for(alice, clock))
    answers = []
    for post in (
        lambda code: signed_in.post(
            f"/cards/{card.pk}/reveal", {"otp_code": code, "public_key": client_key.public_b64}
        ),
        lambda code: app.post(
            f"/api/v1/cards/{card.pk}/reveal",
            {"otp_code": code, "public_key": client_key.public_b64},
            format="json",
        ),
    ):
        response = post(totp_code(alice.device, clock))
        clock.advance(30)
        error = response.json()["error"]
        answers.append(
            (response.status_code, error["code"], error["message"], response.get("Retry-After"))
        )
    web, api = answers
    assert web == api
    assert web[0] in (502, 503)


def test_the_web_view_answers_504_for_a_drip_server_within_the_deadline(
    signed_in, sandbox, alice, make_card, clock, client_key
):
    card = make_card(alice.user)
    sandbox.faults.set(Fault(drip_interval=0.05), kind="mastercard")
    started = time.monotonic()
    response = signed_in.post(
        f"/cards/{card.pk}/reveal",
        {"otp_code": totp_code(alice.device, clock), "public_key": client_key.public_b64},
    )
    assert time.monotonic() - started < DEADLINE + SLACK
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "provider_timeout"


def test_a_refused_connection_is_retried_then_try_again_shortly(
    alice, make_card, clock, client_key, logs
):
    card = make_card(alice.user)
    card.binding.base_url = f"http://127.0.0.1:{closed_port()}/mastercard"
    card.binding.save()
    started = time.monotonic()
    outcome = reveal(alice, card, clock, client_key)
    assert time.monotonic() - started < DEADLINE + SLACK
    assert isinstance(outcome, RevealError)
    assert (outcome.code, outcome.status_code, outcome.retry_after) == (
        "provider_unavailable",
        503,
        5,
    )
    assert service_record(logs).levelno == logging.WARNING
    # A refused connection never reached the provider: retried even though nothing else would be.
    assert len([r for r in logs.records if "retrying" in r.getMessage()]) == 1


# ---------------------------------------------------------------------------------- the door itself


def door(**overrides: object) -> HttpDoor:
    policy = HttpPolicy(
        **{  # type: ignore[arg-type]
            "allow_loopback_http": True,
            "connect_timeout": CONNECT_TIMEOUT,
            "read_timeout": READ_TIMEOUT,
            "deadline": DEADLINE,
            **overrides,
        }
    )
    return HttpDoor(name=f"door-{uuid.uuid4().hex[:8]}", policy=policy)


def thredd_url(sandbox: RunningSandbox) -> str:
    return sandbox.url_for("thredd") + "/cards/103169946/cvv"


def call(http: HttpDoor, url: str, **kwargs: object) -> tuple[ProviderError | int, float]:
    started = time.monotonic()
    try:
        result: ProviderError | int = http.request("GET", url, **kwargs).status  # type: ignore[arg-type]
    except ProviderError as exc:
        result = exc
    return result, time.monotonic() - started


def test_a_drip_on_a_reused_pooled_connection_is_cut_at_the_deadline(sandbox, provider_calls):
    calls = provider_calls("thredd")
    http = door()
    first, _ = call(http, thredd_url(sandbox))
    assert first == 401  # a real answer, and the connection goes back to the pool
    sandbox.faults.set(Fault(drip_interval=0.05), kind="thredd")
    second, elapsed = call(http, thredd_url(sandbox))
    assert isinstance(second, ProviderTimeout)
    assert elapsed < DEADLINE + SLACK
    assert calls.count == 2  # the drip fault wraps the emulator's real answer


def test_a_read_timeout_is_never_retried_even_when_safe(sandbox, logs):
    sandbox.faults.set(Fault(status=200, body=BODY, latency=READ_TIMEOUT + 0.5), kind="thredd")
    result, elapsed = call(door(connect_retries=3), thredd_url(sandbox), retry_safe=True)
    assert isinstance(result, ProviderTimeout)
    assert elapsed < DEADLINE + SLACK
    assert not [r for r in logs.records if "retrying" in r.getMessage()]
    assert sandbox.faults.hits == 1


def test_a_dropped_connection_is_retried_only_when_the_request_is_retry_safe(sandbox, logs):
    sandbox.faults.set(Fault(reset=True), kind="thredd")
    unsafe, _ = call(door(connect_retries=2), thredd_url(sandbox), retry_safe=False)
    assert isinstance(unsafe, ProviderConnectionLost)
    assert not [r for r in logs.records if "retrying" in r.getMessage()]
    safe, _ = call(door(connect_retries=2), thredd_url(sandbox), retry_safe=True)
    assert isinstance(safe, ProviderConnectionLost)
    assert len([r for r in logs.records if "retrying" in r.getMessage()]) == 2


def test_retries_and_their_back_off_stay_inside_the_deadline(logs):
    url = f"http://127.0.0.1:{closed_port()}/x"
    result, elapsed = call(door(connect_retries=1000, deadline=1.0), url)
    assert isinstance(result, ProviderUnavailable)
    assert elapsed < 1.0 + SLACK
    retries = len([r for r in logs.records if "retrying" in r.getMessage()])
    assert 1 <= retries < 1000


def test_a_stalled_tls_handshake_is_cut_at_the_deadline():
    # A "server" that drips a TLS record header and then a record body one byte at a time.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stop = threading.Event()

    def drip() -> None:
        connection, _ = listener.accept()
        with connection:
            for byte in b"\x16\x03\x03\x40\x00" + b"\x00" * 4000:
                if stop.is_set():
                    return
                try:
                    connection.send(bytes([byte]))
                except OSError:
                    return
                time.sleep(0.05)

    threading.Thread(target=drip, daemon=True).start()
    try:
        port = listener.getsockname()[1]
        result, elapsed = call(
            door(connect_timeout=5.0, read_timeout=5.0, deadline=1.0),
            f"https://localhost:{port}/x",
        )
    finally:
        stop.set()
        listener.close()
    assert isinstance(result, ProviderTimeout | ProviderTLSError)
    assert elapsed < 1.0 + SLACK


def test_header_bytes_urllib3_cannot_parse_are_not_logged(logs):
    # A body line where headers belong: urllib3 would log what it could not parse.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def answer() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                + f"cvv {CVV} {FAULT_BODY_MARKER}\r\n\r\n".encode()
            )

    threading.Thread(target=answer, daemon=True).start()
    try:
        call(door(), f"http://127.0.0.1:{listener.getsockname()[1]}/x")
    finally:
        listener.close()
    assert_nothing_of_the_answer_logged(logs)


# ---------------------------------------------------------------------------------- TLS and mTLS


@pytest.fixture(scope="module")
def server_ca() -> ThrowawayCA:
    return ThrowawayCA.create("sandbox server CA")


@pytest.fixture(scope="module")
def client_ca() -> ThrowawayCA:
    return ThrowawayCA.create("cardreveal client CA")


@pytest.fixture(scope="module")
def https_sandbox(
    server_ca: ThrowawayCA, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningSandbox]:
    """Mastercard over HTTPS with a certificate from a CA nothing trusts by default."""
    context = server_tls_context(server_ca.issue("localhost", server=True))
    running = start_sandbox(
        emulators=[MastercardEmulator(tmp_path_factory.mktemp("https"))], tls=context
    )
    yield running
    running.stop()


@pytest.fixture(scope="module")
def mtls_sandbox(
    server_ca: ThrowawayCA, client_ca: ThrowawayCA, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningSandbox]:
    """The same, but it only talks to clients holding a certificate from `client_ca`."""
    context = server_tls_context(
        server_ca.issue("localhost", server=True), require_client_certs_from=client_ca.cert_pem
    )
    running = start_sandbox(
        emulators=[MastercardEmulator(tmp_path_factory.mktemp("mtls"))], tls=context
    )
    yield running
    running.stop()


def https_card(owner: object, running: RunningSandbox, make_card, **tls: bytes) -> object:
    emulator = running.emulator("mastercard")
    binding = ProviderBinding.objects.create(
        name=f"mastercard over https {uuid.uuid4().hex[:6]}",
        kind="mastercard",
        base_url=running.url_for("mastercard"),
        secrets=encoded_secrets("mastercard", {**emulator.binding_secrets(), **tls}),
        options=emulator.binding_options(),
    )
    return make_card(owner, binding=binding)


def test_an_untrusted_certificate_is_a_tls_error_and_not_retried(
    https_sandbox, alice, make_card, clock, client_key, logs
):
    card = https_card(alice.user, https_sandbox, make_card)
    started = time.monotonic()
    outcome = reveal(alice, card, clock, client_key)
    assert time.monotonic() - started < DEADLINE + SLACK
    assert isinstance(outcome, RevealError)
    assert (outcome.code, outcome.status_code) == ("provider_tls_error", 502)
    assert service_record(logs).levelno == logging.ERROR
    assert not [r for r in logs.records if "retrying" in r.getMessage()]


def test_a_binding_trusting_its_private_ca_reveals_over_https(
    https_sandbox, server_ca, alice, make_card, clock, client_key
):
    card = https_card(alice.user, https_sandbox, make_card, tls_ca_bundle=server_ca.cert_pem)
    outcome = reveal(alice, card, clock, client_key)
    assert isinstance(outcome, RevealResult)
    assert client_key.open(outcome.sealed) == CVV


def test_a_private_ca_replaces_the_public_store(https_sandbox, server_ca, client_ca):
    # A binding naming some other private CA does not fall back to any other trust.
    result, _ = call(
        door(ca_bundle_pem=client_ca.cert_pem), https_sandbox.url_for("mastercard") + "/x"
    )
    assert isinstance(result, ProviderTLSError)


def test_mutual_tls_needs_the_binding_client_certificate(
    mtls_sandbox, server_ca, client_ca, alice, make_card, clock, client_key
):
    without = https_card(alice.user, mtls_sandbox, make_card, tls_ca_bundle=server_ca.cert_pem)
    refused = reveal(alice, without, clock, client_key)
    assert isinstance(refused, RevealError)
    assert refused.code == "provider_tls_error"

    identity = client_ca.issue("cardreveal", server=False)
    with_cert = https_card(
        alice.user,
        mtls_sandbox,
        make_card,
        tls_ca_bundle=server_ca.cert_pem,
        tls_client_certificate=identity.cert_pem,
        tls_client_key=identity.key_pem,
    )
    outcome = reveal(alice, with_cert, clock, client_key)
    assert isinstance(outcome, RevealResult)
    assert client_key.open(outcome.sealed) == CVV


def test_a_client_certificate_without_its_key_is_a_config_error_without_a_call(
    mtls_sandbox, server_ca, client_ca, alice, make_card, clock, client_key
):
    identity = client_ca.issue("cardreveal", server=False)
    card = https_card(
        alice.user,
        mtls_sandbox,
        make_card,
        tls_ca_bundle=server_ca.cert_pem,
        tls_client_certificate=identity.cert_pem,
    )
    outcome = reveal(alice, card, clock, client_key)
    assert isinstance(outcome, RevealError)
    assert outcome.code == "provider_config_error"


def test_a_client_key_that_does_not_match_its_certificate_is_refused(client_ca):
    one, other = client_ca.issue("a", server=False), client_ca.issue("b", server=False)
    mismatched = ClientCertificate(one.cert_pem, Sensitive(other.key_pem))
    with pytest.raises(ProviderConfigError) as info:
        HttpDoor(name="mismatch", policy=HttpPolicy(), client_certificate=mismatched)
    assert "do not match" in str(info.value)
    assert "BEGIN" not in str(info.value)


# ---------------------------------------------------------------------------------- the fault knobs


def test_faults_can_be_set_listed_and_cleared_over_http_for_the_demo(sandbox):
    import requests

    endpoint = sandbox.base_url + "/_faults"
    bad = requests.put(endpoint, json={"kind": "thredd", "fault": {"latency": "soon"}}, timeout=5)
    assert bad.status_code == 400
    assert "latency" in bad.json()["error"]
    unknown = requests.put(endpoint, json={"kind": "nope", "fault": {}}, timeout=5)
    assert unknown.status_code == 400
    put = requests.put(
        endpoint,
        json={"kind": "thredd", "reference": "103169946", "fault": {"status": 503}},
        timeout=5,
    )
    assert put.status_code == 200
    assert requests.get(endpoint, timeout=5).json()["faults"][0]["fault"]["status"] == 503
    result, _ = call(door(), thredd_url(sandbox))
    assert result == 503
    other_card, _ = call(door(), sandbox.url_for("thredd") + "/cards/111191022/cvv")
    assert other_card == 401  # the fault is scoped to one card reference
    assert requests.delete(endpoint, timeout=5).status_code == 204
    assert requests.get(endpoint, timeout=5).json()["faults"] == []
