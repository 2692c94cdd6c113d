"""A one-time code used for a reveal stays used when the database server crashes while the
reveal waits on the provider (DESIGN.md invariants 2 and 5, T-STEP-2, T-AUD-1): the app runs as a
real server on a private PostgreSQL cluster, which is crashed and recovered mid-reveal."""

from __future__ import annotations

import base64
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django_otp.oath import TOTP

from tests.crash.conftest import AppServer, HeldProvider
from tests.crash.pg_cluster import PrivateCluster

pytestmark = pytest.mark.postgres

FIRST_ATTEMPT = "crash-first-attempt"
REPLAY = "crash-replay-after-restart"
WAIT = 60  # seconds: a ceiling on each wait, on a loaded machine; every wait ends when ready
EARLY_IN_STEP = 5  # seconds a code must have left in its step to be sent


def _fresh_code(key: bytes) -> str:
    """The authenticator's code for this 30-second step, taken early enough in the step that the
    server checks it in the same one. A code the server accepts for a neighbouring step records a
    clock drift, and a replay of such a code is refused as `otp_invalid` rather than
    `otp_replayed` (`accounts.otp._is_replay` adds the drift twice); this test is not about that."""
    step = 30
    left = step - time.time() % step
    if left < EARLY_IN_STEP:
        time.sleep(left + 0.05)
    totp = TOTP(key, step=step, t0=0, digits=6, drift=0)
    totp.time = time.time()
    return f"{totp.token():06d}"


def _public_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


def _reveal_events(cluster: PrivateCluster) -> list[dict[str, Any]]:
    with psycopg.connect(cluster.url, autocommit=True, connect_timeout=10) as conn:
        rows = conn.execute(
            "SELECT seq, request_id, outcome, reason FROM audit_revealevent ORDER BY seq"
        ).fetchall()
    return [dict(zip(("seq", "request_id", "outcome", "reason"), row, strict=True)) for row in rows]


def test_code_used_before_a_database_crash_is_refused_after_it(
    pg_cluster: PrivateCluster, held_provider: HeldProvider, app_server: AppServer
) -> None:
    token = app_server.token
    reveal_path = f"/api/v1/cards/{app_server.card_id}/reveal"
    body = {"otp_code": _fresh_code(app_server.totp_key), "public_key": _public_key()}

    # 1. The reveal reaches the provider, whose answer is held; meanwhile the database crashes
    # (every server process killed at once) and comes back through crash recovery.
    with ThreadPoolExecutor(max_workers=1) as pool:
        first_future = pool.submit(
            app_server.post, reveal_path, body, token=token, request_id=FIRST_ATTEMPT
        )
        try:
            called = held_provider.arrived.wait(WAIT)
            if called:
                pg_cluster.crash()
                pg_cluster.start()
        finally:
            held_provider.release()
        first = first_future.result(WAIT)
    assert called, f"the reveal never reached the provider: {first}"

    # 2. The same code again, for the same card.
    replay = app_server.post(reveal_path, body, token=token, request_id=REPLAY)
    events = _reveal_events(pg_cluster)
    seen = (
        f"first attempt answered {first.status} {first.error_code or sorted(first.body)}; "
        f"the replay answered {replay.status} {replay.error_code or sorted(replay.body)}; "
        f"provider requests: {held_provider.requests_received}; "
        f"reveal records after the restart: {[(e['request_id'], e['outcome'], e['reason']) for e in events]}"
    )
    assert 400 <= replay.status < 500, f"the used code was accepted again. {seen}"
    assert replay.error_code == "otp_replayed", seen
    assert "sealed" not in replay.body, seen
    assert held_provider.requests_received == 1, seen

    # 3. The audit trail shows the first attempt, written before the provider was asked (in
    # whatever state it reached), and the refused replay; and it still verifies.
    first_records = [e for e in events if e["request_id"] == FIRST_ATTEMPT]
    assert first_records, f"no record of the attempt that called the provider. {seen}"
    assert {e["outcome"] for e in first_records} <= {"pending", "failed", "revealed"}, seen
    replay_records = [e for e in events if e["request_id"] == REPLAY]
    assert [(e["outcome"], e["reason"]) for e in replay_records] == [("refused", "otp_replayed")], (
        seen
    )
    verified = app_server.manage("verify_audit")
    assert verified.returncode == 0, verified.stdout + verified.stderr
