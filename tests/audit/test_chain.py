"""The audit hash chain (T-AUD-2): append-only through the ORM, and verify_audit names the first
edited, deleted or inserted record, with a non-zero exit."""

from __future__ import annotations

import threading
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from cardreveal.audit.chain import (
    GENESIS_HASH,
    chain_verify,
    record_hash,
)
from cardreveal.audit.models import (
    AppendOnlyError,
    AuditChainHead,
    AuthEvent,
    ReceiptOutbox,
    RevealEvent,
)
from cardreveal.audit.services import (
    auth_event_record,
    reveal_event_complete,
    reveal_event_open,
    reveal_event_record,
)
from cardreveal.client_info import ClientInfo
from tests.audit.conftest import sql

CLIENT = ClientInfo(
    ip="198.51.100.7", user_agent="pytest", request_id="req-12345678", channel="web"
)


def auth_events(n: int, user=None) -> list[AuthEvent]:
    return [
        auth_event_record(
            event=AuthEvent.Event.LOGIN_FAILED,
            outcome=AuthEvent.Outcome.FAILURE,
            user=user,
            username=f"someone{i}",
            reason="unknown_user",
            client=CLIENT,
        )
        for i in range(n)
    ]


def verify(*args: str) -> str:
    out = StringIO()
    call_command("verify_audit", *args, stdout=out)
    return out.getvalue()


def verify_fails(*args: str) -> tuple[str, str]:
    out = StringIO()
    with pytest.raises(CommandError) as info:
        call_command("verify_audit", *args, stdout=out)
    return out.getvalue(), str(info.value)


# ---------------------------------------------------------------------------------- the links


def test_records_are_numbered_and_linked_from_the_genesis_hash(db):
    first, second, third = auth_events(3)
    assert [first.seq, second.seq, third.seq] == [1, 2, 3]
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash
    assert third.prev_hash == second.hash
    head = AuditChainHead.objects.get(chain="auth")
    assert (head.seq, head.hash) == (3, third.hash)


def test_each_hash_covers_the_row_as_stored(db):
    (event,) = auth_events(1)
    stored = AuthEvent.objects.get(pk=event.pk)
    assert record_hash(stored, chain="auth", fields=AuthEvent.HASHED_FIELDS) == event.hash


def test_an_ipv6_address_is_hashed_as_the_database_stores_it(db):
    client = ClientInfo(ip="2001:DB8:0:0:0:0:0:1", user_agent="", request_id="", channel="web")
    auth_event_record(event=AuthEvent.Event.LOGIN, outcome=AuthEvent.Outcome.SUCCESS, client=client)
    assert AuthEvent.objects.get().client_ip == "2001:db8::1"
    assert chain_verify(AuthEvent).ok


def test_the_two_chains_are_numbered_separately(alice, make_card):
    card = make_card(alice.user)
    auth_events(2)
    event = reveal_event_record(
        user=alice.user, client=CLIENT, outcome="refused", reason="otp_invalid", card=card
    )
    assert event.seq == 1
    assert chain_verify(RevealEvent).ok
    assert chain_verify(AuthEvent).ok


# ---------------------------------------------------------------------------------- append-only


def test_the_orm_refuses_to_change_or_delete_audit_records(db):
    (event,) = auth_events(1)
    event.reason = "edited"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuthEvent.objects.filter(pk=event.pk).update(reason="edited")
    with pytest.raises(AppendOnlyError):
        AuthEvent.objects.all().delete()
    with pytest.raises(AppendOnlyError):
        AuthEvent.objects.bulk_create([AuthEvent(event="login", outcome="success")])
    with pytest.raises(AppendOnlyError):
        AuthEvent.objects.create(event="login", outcome="success", channel="web")  # no link
    assert AuthEvent.objects.get().reason == "unknown_user"


def test_deleting_a_user_or_card_leaves_their_records_and_the_chain_intact(alice, make_card):
    card = make_card(alice.user)
    reveal_event_record(user=alice.user, client=CLIENT, outcome="refused", reason="x", card=card)
    auth_events(1, user=alice.user)
    alice.user.delete()  # cascades to the card
    reveal = RevealEvent.objects.get()
    assert reveal.user_id is not None
    assert reveal.card_id == card.pk
    assert reveal.username == "alice"
    assert "OK" in verify()


# ---------------------------------------------------------------------------------- verify_audit


def test_an_intact_chain_verifies_and_prints_its_head(db):
    events = auth_events(3)
    output = verify()
    assert f"auth: OK, 3 links; head auth:3:{events[-1].hash}" in output
    assert "reveal: OK, 0 links" in output


def test_an_edited_record_is_named_with_a_non_zero_exit(db):
    events = auth_events(4)
    sql("UPDATE audit_authevent SET reason = %s WHERE id = %s", ["otp_invalid", events[1].pk])
    output, error = verify_fails()
    assert f"record seq 2 (id {events[1].pk}) does not match its hash" in output
    assert "BROKEN after 1 intact links" in output
    assert "Audit chain broken" in error


def test_an_edited_record_with_a_recomputed_hash_breaks_the_next_link(db):
    events = auth_events(3)
    forged = AuthEvent.objects.get(pk=events[1].pk)
    forged.reason = "nothing_to_see"
    new_hash = record_hash(forged, chain="auth", fields=AuthEvent.HASHED_FIELDS)
    sql(
        "UPDATE audit_authevent SET reason = %s, hash = %s WHERE id = %s",
        ["nothing_to_see", new_hash, forged.pk],
    )
    output, _ = verify_fails()
    assert "record seq 3" in output
    assert "does not link to seq 2" in output


def test_a_deleted_record_is_named(db):
    events = auth_events(4)
    sql("DELETE FROM audit_authevent WHERE id = %s", [events[2].pk])
    output, _ = verify_fails()
    assert f"seq 3 missing before record seq 4 (id {events[3].pk}): deleted" in output


def test_deleting_the_newest_records_is_caught_by_the_head(db):
    events = auth_events(4)
    sql("DELETE FROM audit_authevent WHERE id IN (%s, %s)", [events[2].pk, events[3].pk])
    output, _ = verify_fails()
    assert "the head is at seq 4, the table ends at seq 2: deleted" in output


def test_a_record_inserted_past_the_head_is_named(db):
    events = auth_events(2)
    last = events[-1]
    sql(
        "INSERT INTO audit_authevent (seq, prev_hash, hash, created_at, username, event, outcome,"
        " reason, channel, user_agent, request_id, resource, detail)"
        " SELECT 3, hash, hash, created_at, 'mallory', 'login', 'success', '', 'web', '', '', '', ''"
        " FROM audit_authevent WHERE id = %s",
        [last.pk],
    )
    output, _ = verify_fails()
    assert "record seq 3" in output
    assert "does not match its hash: changed after it was written, or forged" in output


def test_a_record_inserted_with_a_valid_hash_is_caught_by_the_head(db):
    """Someone who computes a correct link for an inserted row but cannot move the head."""
    (event,) = auth_events(1)
    forged = AuthEvent(
        seq=2,
        prev_hash=event.hash,
        created_at=event.created_at,
        username="mallory",
        event="login",
        outcome="success",
        channel="web",
    )
    forged.hash = record_hash(forged, chain="auth", fields=AuthEvent.HASHED_FIELDS)
    sql(
        "INSERT INTO audit_authevent (seq, prev_hash, hash, created_at, username, event, outcome,"
        " reason, channel, user_agent, request_id, resource, detail)"
        " VALUES (2, %s, %s, %s, 'mallory', 'login', 'success', '', 'web', '', '', '', '')",
        [forged.prev_hash, forged.hash, event.created_at],
    )
    output, _ = verify_fails()
    assert "records past the head (seq 2 to 2) were inserted outside the chain" in output


def test_an_anchor_catches_a_chain_rewritten_from_that_point(db):
    """The whole chain and its head recomputed by an attacker: only a kept head can tell."""
    events = auth_events(3)
    anchor = f"auth:2:{events[1].hash}"
    assert "auth: OK" in verify("--anchor", anchor)
    prev = events[0].hash
    for event in AuthEvent.objects.order_by("seq")[1:]:
        event.prev_hash = prev
        event.detail = "rewritten"
        event.hash = record_hash(event, chain="auth", fields=AuthEvent.HASHED_FIELDS)
        sql(
            "UPDATE audit_authevent SET detail = %s, prev_hash = %s, hash = %s WHERE id = %s",
            [event.detail, event.prev_hash, event.hash, event.pk],
        )
        prev = event.hash
    sql("UPDATE audit_auditchainhead SET hash = %s WHERE chain = 'auth'", [prev])
    assert "auth: OK" in verify()  # self-consistent again...
    output, _ = verify_fails("--anchor", anchor)  # ...but not with the anchor kept elsewhere
    assert "record seq 2" in output
    assert "does not match the anchor" in output


def test_verify_audit_can_check_one_chain(alice, make_card):
    auth_events(1)
    sql("UPDATE audit_authevent SET reason = 'edited'")
    assert "reveal: OK" in verify("--chain", "reveal")
    verify_fails("--chain", "auth")


def test_verify_audit_explains_bad_arguments(db):
    _, error = verify_fails("--chain", "payments")
    assert "choose one of: reveal, auth" in error
    _, error = verify_fails("--anchor", "auth:1:nothex")
    assert "--anchor must look like" in error


# ---------------------------------------------------------------------------------- concurrency


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_never_fork_the_chain_on_postgresql():
    """Many workers appending at once: seq 1..N with no gap or duplicate, every link valid."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set DATABASE_URL); SQLite has a single writer anyway")
    writers, each = 8, 10
    start = threading.Barrier(writers)
    errors: list[BaseException] = []

    def write() -> None:
        from django.db import connection as thread_connection

        try:
            start.wait()
            auth_events(each)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            thread_connection.close()

    threads = [threading.Thread(target=write) for _ in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    seqs = list(AuthEvent.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, writers * each + 1))
    assert chain_verify(AuthEvent).ok


# ------------------------------------------------------- records opened before the provider call


def open_and_complete(user, card, *, outcome="revealed", reason="ok", receipt=None) -> RevealEvent:
    event = reveal_event_open(
        user=user, client=CLIENT, card=card, requested_card_id=str(card.pk), provider_kind="thredd"
    )
    return reveal_event_complete(
        event, outcome=outcome, reason=reason, provider_latency_ms=41, receipt=receipt
    )


def test_a_record_opened_then_completed_verifies_as_two_links(alice, make_card):
    card = make_card(alice.user, label="Trip")
    reveal_event_record(user=alice.user, client=CLIENT, outcome="refused", reason="first")
    event = open_and_complete(alice.user, card)
    reveal_event_record(user=alice.user, client=CLIENT, outcome="refused", reason="last")
    stored = RevealEvent.objects.get(pk=event.pk)
    assert (stored.outcome, stored.reason, stored.provider_latency_ms) == ("revealed", "ok", 41)
    assert (stored.seq, stored.completion_seq) == (2, 3)
    assert AuditChainHead.objects.get(chain="reveal").seq == 4
    assert chain_verify(RevealEvent).ok
    assert "reveal: OK, 4 links" in verify()


def test_a_record_still_pending_verifies_and_cannot_be_completed_twice(alice, make_card):
    card = make_card(alice.user)
    pending = reveal_event_open(
        user=alice.user, client=CLIENT, card=card, requested_card_id=str(card.pk), provider_kind=""
    )
    assert chain_verify(RevealEvent).ok  # evidence that the provider was asked, no outcome yet
    reveal_event_complete(
        pending, outcome="failed", reason="provider_timeout", provider_latency_ms=9
    )
    with pytest.raises(AppendOnlyError), transaction.atomic():
        reveal_event_complete(pending, outcome="revealed", reason="ok", provider_latency_ms=9)
    assert RevealEvent.objects.get(pk=pending.pk).outcome == "failed"
    assert chain_verify(RevealEvent).ok


def test_an_edited_outcome_is_named(alice, make_card):
    event = open_and_complete(alice.user, make_card(alice.user), outcome="failed", reason="x")
    sql("UPDATE audit_revealevent SET outcome = 'refused' WHERE id = %s", [event.pk])
    _, error = verify_fails()
    assert f"the completion of record seq {event.seq}" in error
    assert "does not match its hash" in error


def test_a_completion_wiped_back_to_pending_is_named(alice, make_card):
    event = open_and_complete(alice.user, make_card(alice.user))
    sql(
        "UPDATE audit_revealevent SET outcome = 'pending', reason = '', completion_seq = NULL, "
        "provider_latency_ms = NULL, completed_at = NULL, completion_hash = '', "
        "completion_prev_hash = '' WHERE id = %s",
        [event.pk],
    )
    _, error = verify_fails()
    assert "missing" in error


def test_a_dependent_row_is_written_with_its_record(alice):
    receipt = ReceiptOutbox(site_url="https://cards.example.com")
    event = reveal_event_record(
        user=alice.user, client=CLIENT, outcome="revealed", reason="ok", receipt=receipt
    )
    stored = ReceiptOutbox.objects.get()
    assert (stored.pk, stored.event_id, stored.site_url) == (
        receipt.pk,
        event.pk,
        "https://cards.example.com",
    )
    assert chain_verify(RevealEvent).ok


@pytest.mark.django_db(transaction=True)
def test_a_dependent_row_that_cannot_be_written_leaves_no_record(alice):
    reveal_event_record(user=alice.user, client=CLIENT, outcome="refused", reason="first")
    head = AuditChainHead.objects.get(chain="reveal")
    with pytest.raises(DatabaseError):
        reveal_event_record(
            user=alice.user,
            client=CLIENT,
            outcome="revealed",
            reason="ok",
            receipt=ReceiptOutbox(site_url="https://x.example/" + "x" * 600, attempts=-1),
        )
    assert RevealEvent.objects.count() == 1  # neither the record nor its receipt
    assert not ReceiptOutbox.objects.exists()
    assert AuditChainHead.objects.get(chain="reveal").seq == head.seq
    assert chain_verify(RevealEvent).ok


# ---------------------------------------------------------------------------------- upgrade


@pytest.mark.django_db(transaction=True)
def test_upgrading_chains_the_reveal_events_recorded_before_the_chain_existed():
    from django.db.migrations.executor import MigrationExecutor

    before = [("audit", "0001_initial")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    user = old.get_model("auth", "User").objects.create(username="olduser")
    for reason in ("ok", "otp_invalid", "card_not_found"):
        old.get_model("audit", "RevealEvent").objects.create(
            user_id=user.pk,
            username="olduser",
            channel="web",
            outcome="refused",
            reason=reason,
            client_ip="2001:DB8::1",
        )
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    rows = list(RevealEvent.objects.order_by("seq").values_list("seq", "reason"))
    assert rows == [(1, "ok"), (2, "otp_invalid"), (3, "card_not_found")]
    assert chain_verify(RevealEvent).ok
    assert "reveal: OK, 3 links" in verify()
