"""Every reveal attempt and account event is one audit record (T-AUD-1): user, event, UTC time,
outcome, reason, source address, request id and resource; never a CVV, password or OTP secret."""

from __future__ import annotations

from datetime import UTC, timedelta

from django.core import mail
from django.test import Client
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from cardreveal.accounts import signals
from cardreveal.accounts.lockout import account_unlock
from cardreveal.accounts.models import AccountSecurity
from cardreveal.accounts.otp import confirm_totp_device, pending_totp_device
from cardreveal.audit.models import AuthEvent, RevealEvent
from cardreveal.client_info import ClientInfo
from tests.audit.conftest import UA, web_reveal
from tests.conftest import totp_code

Event = AuthEvent.Event
REQUEST_ID = "req-audit-0001"
WEB = {"REMOTE_ADDR": "203.0.113.9", "HTTP_USER_AGENT": UA, "HTTP_X_REQUEST_ID": REQUEST_ID}


def events(kind: str) -> list[AuthEvent]:
    return list(AuthEvent.objects.filter(event=kind).order_by("seq"))


def only(kind: str) -> AuthEvent:
    found = events(kind)
    assert len(found) == 1, [(e.event, e.reason) for e in AuthEvent.objects.order_by("seq")]
    return found[0]


def assert_from_the_web_request(event: AuthEvent) -> None:
    assert event.client_ip == "203.0.113.9"
    assert event.user_agent == UA
    assert event.request_id == REQUEST_ID
    assert event.channel == "web"
    assert event.created_at.utcoffset() == timedelta(0)
    assert abs(timezone.now() - event.created_at) < timedelta(minutes=5)


# ---------------------------------------------------------------------------------- sign-in


def test_a_password_alone_is_recorded_as_accepted_not_as_signed_in(client, alice):
    client.post("/accounts/login/", {"username": "alice", "password": alice.password}, **WEB)
    event = only(Event.PASSWORD_ACCEPTED)
    assert (event.user, event.username, event.outcome) == (alice.user, "alice", "success")
    assert_from_the_web_request(event)
    assert events(Event.LOGIN) == []


def test_a_sign_in_is_one_signed_in_record_written_after_the_code_step(client, alice, clock):
    client.post("/accounts/login/", {"username": "alice", "password": alice.password}, **WEB)
    client.post("/accounts/verify/", {"code": totp_code(alice.device, clock)}, **WEB)
    event = only(Event.LOGIN)
    assert (event.user, event.username, event.outcome) == (alice.user, "alice", "success")
    assert_from_the_web_request(event)
    assert event.seq > only(Event.PASSWORD_ACCEPTED).seq


def test_an_api_sign_in_is_one_signed_in_record(client, alice, clock):
    client.post(
        "/api/v1/auth/login",
        {
            "username": "alice",
            "password": alice.password,
            "otp_code": totp_code(alice.device, clock),
            "device_name": "test",
        },
        content_type="application/json",
        **WEB,
    )
    event = only(Event.LOGIN)
    assert (event.user, event.channel) == (alice.user, "api")


def test_an_admin_sign_in_with_password_and_code_together_is_one_signed_in_record(staff, clock):
    user, device = staff
    Client().post(
        "/admin/login/?next=/admin/",
        {
            "username": "root",
            "password": "pw-root-long-enough",
            "code": totp_code(device, clock),
        },
        **WEB,
    )
    event = only(Event.LOGIN)
    assert (event.user, event.outcome) == (user, "success")
    assert events(Event.PASSWORD_ACCEPTED) == []


def test_a_wrong_password_is_recorded_against_the_account(client, alice):
    client.post("/accounts/login/", {"username": "alice", "password": "wrong-password"}, **WEB)
    event = only(Event.LOGIN_FAILED)
    assert (event.user, event.outcome, event.reason) == (alice.user, "failure", "bad_credentials")
    assert_from_the_web_request(event)


def test_an_unknown_name_is_recorded_as_typed_with_no_user(client, db):
    client.post("/accounts/login/", {"username": "mallory", "password": "guess-guess"}, **WEB)
    event = only(Event.LOGIN_FAILED)
    assert (event.user, event.username, event.reason) == (None, "mallory", "unknown_user")


def test_a_wrong_sign_in_code_is_recorded(client, alice, clock):
    client.post("/accounts/login/", {"username": "alice", "password": alice.password}, **WEB)
    wrong = f"{(int(totp_code(alice.device, clock)) + 1) % 1_000_000:06d}"
    client.post("/accounts/verify/", {"code": wrong}, **WEB)
    event = only(Event.OTP_FAILED)
    assert (event.user, event.outcome, event.reason) == (alice.user, "failure", "otp_invalid")
    assert event.resource == "step:sign_in"
    assert_from_the_web_request(event)


def test_a_replayed_code_is_recorded_in_both_chains(signed_in, alice, card, clock, client_key):
    code = totp_code(alice.device, clock)
    for _ in range(2):
        signed_in.post(
            f"/cards/{card.pk}/reveal",
            {"otp_code": code, "public_key": client_key.public_b64},
            **WEB,
        )
    event = only(Event.OTP_REPLAY_REJECTED)
    assert (event.user, event.reason, event.resource) == (alice.user, "otp_replayed", "step:reveal")
    assert_from_the_web_request(event)
    reasons = list(RevealEvent.objects.order_by("seq").values_list("reason", flat=True))
    assert reasons == ["ok", "otp_replayed"]


def test_signing_out_is_recorded(signed_in, alice):
    signed_in.post("/accounts/logout/", **WEB)
    assert only(Event.LOGOUT).user == alice.user


# ---------------------------------------------------------------------------------- reveals


def test_a_reveal_record_has_who_what_when_where_and_the_resource(
    signed_in, alice, card, clock, client_key
):
    web_reveal(
        signed_in,
        card,
        alice,
        clock,
        client_key,
        REMOTE_ADDR="203.0.113.9",
        HTTP_X_REQUEST_ID=REQUEST_ID,
    )
    event = RevealEvent.objects.get()
    assert (event.user, event.outcome, event.reason) == (alice.user, "revealed", "ok")
    assert (event.card_id, event.requested_card_id) == (card.pk, str(card.pk))
    assert (event.client_ip, event.request_id, event.user_agent) == ("203.0.113.9", REQUEST_ID, UA)
    assert event.created_at.tzinfo is not None
    assert event.created_at.astimezone(UTC).utcoffset() == timedelta(0)


# ---------------------------------------------------------------------------------- lockout


def test_ten_wrong_passwords_record_each_failure_and_the_lock(client, alice):
    for _ in range(10):
        client.post("/accounts/login/", {"username": "alice", "password": "wrong"}, **WEB)
    assert len(events(Event.LOGIN_FAILED)) == 10
    lock = only(Event.ACCOUNT_LOCKED)
    assert (lock.user, lock.reason) == (alice.user, "too_many_password_failures")
    assert "failures=10" in lock.detail
    assert "locked_until=" in lock.detail
    assert_from_the_web_request(lock)


def test_a_lock_emails_the_account_holder_once_committed(alice, django_capture_on_commit_callbacks):
    until = timezone.now() + timedelta(minutes=30)
    client = ClientInfo(ip="203.0.113.9", user_agent=UA, request_id=REQUEST_ID, channel="web")
    with django_capture_on_commit_callbacks(execute=True):
        signals.account_locked.send(
            sender=AccountSecurity,
            user=alice.user,
            locked_until=until,
            failures=10,
            trigger="otp",
            client=client,
        )
    assert only(Event.ACCOUNT_LOCKED).reason == "too_many_otp_failures"
    (message,) = mail.outbox
    assert message.to == ["alice@example.com"]
    assert "locked" in message.subject
    assert until.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") in message.body
    assert "203.0.113.9" in message.body


def test_an_admin_lifting_a_lock_is_recorded_with_who(alice, staff):
    AccountSecurity.objects.create(
        user=alice.user, failed_attempts=10, locked_until=timezone.now() + timedelta(minutes=30)
    )
    client = ClientInfo(ip="198.51.100.1", user_agent="admin", request_id="r-1", channel="admin")
    assert account_unlock(user=alice.user, by=staff[0], client=client)
    event = only(Event.ACCOUNT_UNLOCKED)
    assert (event.user, event.reason, event.detail) == (alice.user, "lifted_by_admin", "by=root")
    assert (event.channel, event.client_ip) == ("admin", "198.51.100.1")


# ---------------------------------------------------------------------------------- devices, password


def test_enrolling_an_authenticator_is_recorded_once_confirmed(bob, clock):
    device = pending_totp_device(user=bob.user)
    resource = f"device:totpdevice/{device.pk}"
    assert resource not in [e.resource for e in events(Event.DEVICE_ADDED)]  # not yet confirmed
    confirm_totp_device(user=bob.user, code=totp_code(device, clock))
    added = [e for e in events(Event.DEVICE_ADDED) if e.resource == resource]
    assert len(added) == 1
    assert added[0].user == bob.user
    assert any(e.resource.startswith("device:staticdevice/") for e in events(Event.DEVICE_ADDED))


def test_removing_an_authenticator_is_recorded(bob):
    pk = bob.device.pk
    bob.device.delete()
    removed = only(Event.DEVICE_REMOVED)
    assert (removed.user, removed.resource) == (bob.user, f"device:totpdevice/{pk}")


def test_using_an_authenticator_is_not_a_device_event(alice, card, clock, client_key, signed_in):
    before = AuthEvent.objects.filter(event__in=[Event.DEVICE_ADDED, Event.DEVICE_REMOVED]).count()
    web_reveal(signed_in, card, alice, clock, client_key)  # saves the device's counters
    after = AuthEvent.objects.filter(event__in=[Event.DEVICE_ADDED, Event.DEVICE_REMOVED]).count()
    assert after == before


def test_removing_an_unfinished_enrolment_is_not_recorded(bob):
    pending = TOTPDevice.objects.create(user=bob.user, name="half", confirmed=False)
    pending.delete()
    assert events(Event.DEVICE_REMOVED) == []


def test_a_password_change_is_recorded_without_the_password(alice):
    user = alice.user
    user.last_login = timezone.now()
    user.save(update_fields=["last_login"])
    user.set_password("a-brand-new-long-password")
    user.save()
    event = only(Event.PASSWORD_CHANGED)
    assert (event.user, event.channel) == (user, "system")
    assert "a-brand-new-long-password" not in dump_records()


# ---------------------------------------------------------------------------------- admin changes


def test_an_admin_edit_is_recorded_with_the_object_and_fields(admin_client, staff, card):
    response = admin_client.post(
        f"/admin/cards/card/{card.pk}/change/",
        {
            "owner": card.owner_id,
            "label": "Renamed",
            "brand": card.brand,
            "last4": card.last4,
            "expiry_month": card.expiry_month,
            "expiry_year": card.expiry_year,
            "binding": card.binding_id,
            "reference": '{"card_contract_id": "70001"}',
            "reveal_enabled": "",
        },
        **WEB,
    )
    assert response.status_code == 302, response.content[:2000]
    event = only(Event.ADMIN_CHANGE)
    assert (event.user, event.reason, event.channel) == (staff[0], "changed", "admin")
    assert event.resource == f"cards.card:{card.pk}"
    assert "Renamed" in event.detail
    assert "Label" in event.detail
    assert event.request_id == REQUEST_ID


def test_a_kill_switch_admin_action_without_a_log_entry_is_recorded(
    admin_client, staff, alice, make_card
):
    cards = [make_card(alice.user), make_card(alice.user)]
    response = admin_client.post(
        "/admin/cards/card/",
        {"action": "disable_reveals", "_selected_action": [str(c.pk) for c in cards]},
        **WEB,
    )
    assert response.status_code == 302
    event = only(Event.ADMIN_CHANGE)
    assert (event.user, event.reason, event.resource) == (
        staff[0],
        "admin_action",
        "cards_card_changelist",
    )
    assert "action=disable_reveals; 2 selected" in event.detail
    assert all(str(c.pk) in event.detail for c in cards)


def test_a_bulk_admin_delete_is_recorded(admin_client, alice, make_card):
    cards = [make_card(alice.user), make_card(alice.user)]
    response = admin_client.post(
        "/admin/cards/card/",
        {
            "action": "delete_selected",
            "_selected_action": [str(c.pk) for c in cards],
            "post": "yes",
        },
    )
    assert response.status_code == 302
    changes = events(Event.ADMIN_CHANGE)
    assert len(changes) == 1
    assert "action=delete_selected; 2 selected" in changes[0].detail


def test_an_admin_action_confirmation_page_changes_nothing_and_records_nothing(
    admin_client, alice, make_card
):
    card = make_card(alice.user)
    response = admin_client.post(
        "/admin/cards/card/", {"action": "delete_selected", "_selected_action": [str(card.pk)]}
    )
    assert response.status_code == 200  # "Are you sure?"
    assert events(Event.ADMIN_CHANGE) == []


# ---------------------------------------------------------------------------------- no secrets


def dump_records() -> str:
    rows = [*AuthEvent.objects.values_list(), *RevealEvent.objects.values_list()]
    return "\n".join(" ".join(str(value) for value in row) for row in rows)


def test_no_record_holds_a_password_or_an_otp_secret(alice, clock, signed_in, card, client_key):
    Client().post("/accounts/login/", {"username": "alice", "password": "Sup3r-secret-typo"})
    web_reveal(signed_in, card, alice, clock, client_key)
    text = dump_records()
    assert AuthEvent.objects.count() >= 3
    assert RevealEvent.objects.count() == 1
    for secret in (alice.password, "Sup3r-secret-typo", alice.device.key):
        assert secret not in text
