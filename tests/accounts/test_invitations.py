"""Invitations: a new cardholder is emailed a single-use, expiring link to choose a password and
then set up the authenticator; the admin resends or revokes it; used, expired and revoked links
get a page that says what to do; every step is audited."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client

from cardreveal.accounts.invitations import (
    InvitationError,
    invitation_accept,
    invitation_revoke,
    invitation_send,
    token_digest,
)
from cardreveal.accounts.models import Invitation
from cardreveal.audit.models import AuthEvent

NEW_PASSWORD = "a-first-passphrase-of-mine-7"
LINK_RE = re.compile(r"https?://\S+/accounts/invitation/\?token=([A-Za-z0-9_-]+)")


@pytest.fixture(autouse=True)
def _site_url(settings):
    settings.CARDREVEAL_SITE_URL = "https://cards.bank.example"


@pytest.fixture
def newcomer(db):
    user = get_user_model().objects.create_user(username="carol", email="carol@example.com")
    user.set_unusable_password()
    user.save()
    return user


def send(user, django_capture_on_commit_callbacks, by=None):
    with django_capture_on_commit_callbacks(execute=True):
        invitation_send(user=user, by=by)
    message = mail.outbox[-1]
    match = LINK_RE.search(message.body)
    assert match is not None, message.body
    return match.group(0), match.group(1)


def path_of(link: str) -> str:
    return "/" + link.split("/", 3)[3]


def events(kind):
    return list(AuthEvent.objects.filter(event=kind).order_by("seq"))


# ---------------------------------------------------------------------------------- the email


def test_invitation_email_has_a_link_that_works_until_the_expiry(
    newcomer, django_capture_on_commit_callbacks
):
    link, _token = send(newcomer, django_capture_on_commit_callbacks)
    (message,) = mail.outbox
    assert message.to == ["carol@example.com"]
    assert message.subject == "Set up your cardreveal account"
    assert link.startswith("https://cards.bank.example/accounts/invitation/?token=")
    assert "Your username is: carol" in message.body
    assert "72 hours" in message.body
    invitation = Invitation.objects.get(user=newcomer)
    assert invitation.expires_at - invitation.created_at == timedelta(hours=72)


def test_the_token_travels_in_the_query_string_which_logs_leave_out(
    client, newcomer, caplog, django_capture_on_commit_callbacks
):
    link, token = send(newcomer, django_capture_on_commit_callbacks)
    assert link.endswith(f"/accounts/invitation/?token={token}")
    invitation_revoke(user=newcomer, by=None)
    with caplog.at_level("INFO"):
        assert client.get(path_of(link)).status_code == 410
    assert any("/accounts/invitation/" in r.getMessage() for r in caplog.records)
    assert not any(token in r.getMessage() for r in caplog.records)


def test_a_link_without_a_token_is_refused(client, db):
    response = client.get("/accounts/invitation/")
    assert response.status_code == 404
    assert b"Check that you opened the whole link" in response.content


def test_only_a_hash_of_the_token_is_stored(newcomer, django_capture_on_commit_callbacks):
    _link, token = send(newcomer, django_capture_on_commit_callbacks)
    invitation = Invitation.objects.get(user=newcomer)
    assert invitation.token_hash == token_digest(token)
    assert token not in invitation.token_hash
    assert not Invitation.objects.filter(token_hash=token).exists()


def test_no_email_address_means_no_invitation_and_says_so(db):
    user = get_user_model().objects.create_user(username="dave")
    with pytest.raises(InvitationError, match="dave has no email address"):
        invitation_send(user=user, by=None)
    assert not Invitation.objects.exists()


def test_without_a_site_url_or_a_request_the_system_cannot_send_and_says_what_to_set(
    newcomer, settings
):
    settings.CARDREVEAL_SITE_URL = ""
    with pytest.raises(InvitationError, match="Set CARDREVEAL_SITE_URL"):
        invitation_send(user=newcomer, by=None)
    assert not Invitation.objects.exists()


def test_expiry_follows_the_setting(newcomer, settings, django_capture_on_commit_callbacks):
    settings.CARDREVEAL_INVITATION_HOURS = 24
    send(newcomer, django_capture_on_commit_callbacks)
    invitation = Invitation.objects.get(user=newcomer)
    assert invitation.expires_at - invitation.created_at == timedelta(hours=24)
    assert "24 hours" in mail.outbox[-1].body


# ---------------------------------------------------------------------------------- using the link


def test_the_link_sets_the_password_signs_in_and_leads_to_enrolment(
    client, newcomer, clock, django_capture_on_commit_callbacks
):
    link, _token = send(newcomer, django_capture_on_commit_callbacks)
    page = client.get(path_of(link))
    assert page.status_code == 200
    assert b"Choose your password" in page.content
    assert b"carol" in page.content
    assert b"at least 12 characters" in page.content  # the rules it must meet
    assert b"stay hidden" not in page.content  # a first password starts no cool-off
    response = client.post(
        path_of(link), {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert response.status_code == 302
    assert response["Location"] == "/accounts/enrol/"
    newcomer.refresh_from_db()
    assert newcomer.check_password(NEW_PASSWORD)
    # The enrolment page of the existing flow is next, for this user.
    enrol = client.get("/accounts/enrol/")
    assert enrol.status_code == 200
    assert b"Set up your authenticator" in enrol.content
    used = events(AuthEvent.Event.INVITATION_USED)
    assert [e.user_id for e in used] == [newcomer.pk]
    # The first password starts no cool-off (the first authenticator will).
    assert not AuthEvent.objects.filter(event=AuthEvent.Event.PASSWORD_CHANGED).exists()


def test_a_weak_password_is_refused_with_the_reason_and_the_link_still_works(
    client, newcomer, django_capture_on_commit_callbacks
):
    link, _token = send(newcomer, django_capture_on_commit_callbacks)
    response = client.post(path_of(link), {"new_password1": "short", "new_password2": "short"})
    assert response.status_code == 200
    assert b"This password is too short" in response.content
    assert Invitation.objects.get(user=newcomer).used_at is None
    newcomer.refresh_from_db()
    assert not newcomer.has_usable_password()


def test_a_used_link_is_refused_with_a_page_that_says_sign_in(
    client, newcomer, django_capture_on_commit_callbacks
):
    link, _token = send(newcomer, django_capture_on_commit_callbacks)
    client.post(path_of(link), {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    other = Client()
    response = other.get(path_of(link))
    assert response.status_code == 410
    body = response.content.decode()
    assert "already been used to set a password" in body
    assert "+44 20 7946 0000" in body  # the bank to call
    second = other.post(path_of(link), {"new_password1": "x" * 20, "new_password2": "x" * 20})
    assert second.status_code == 410
    newcomer.refresh_from_db()
    assert newcomer.check_password(NEW_PASSWORD)
    assert [e.reason for e in events(AuthEvent.Event.INVITATION_REFUSED)] == [
        "link_used",
        "link_used",
    ]


def test_an_expired_link_is_refused_and_says_to_ask_the_bank(
    client, newcomer, wall_clock, django_capture_on_commit_callbacks
):
    link, _token = send(newcomer, django_capture_on_commit_callbacks)
    wall_clock.advance(hours=72)
    response = client.get(path_of(link))
    assert response.status_code == 410
    body = response.content.decode()
    assert "This invitation has expired (at 10:00 UTC)" in body
    assert "Please contact Example Bank on +44 20 7946 0000 and ask for a new invitation" in body
    response = client.post(
        path_of(link), {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert response.status_code == 410
    newcomer.refresh_from_db()
    assert not newcomer.has_usable_password()


def test_a_link_one_second_before_expiry_still_works(
    client, newcomer, wall_clock, django_capture_on_commit_callbacks
):
    link, _token = send(newcomer, django_capture_on_commit_callbacks)
    wall_clock.advance(hours=72, seconds=-1)
    assert client.get(path_of(link)).status_code == 200


def test_a_made_up_link_is_not_found_and_says_to_check_the_email(client, db):
    response = client.get("/accounts/invitation/?token=not-a-real-token")
    assert response.status_code == 404
    assert b"Check that you opened the whole link" in response.content


def test_resending_revokes_the_earlier_link(client, newcomer, django_capture_on_commit_callbacks):
    first, _ = send(newcomer, django_capture_on_commit_callbacks)
    second, _ = send(newcomer, django_capture_on_commit_callbacks)
    assert first != second
    refused = client.get(path_of(first))
    assert refused.status_code == 410
    assert b"use the link in the latest invitation email" in refused.content
    assert client.get(path_of(second)).status_code == 200
    assert [e.reason for e in events(AuthEvent.Event.INVITATION_SENT)] == ["", "resent"]


def test_a_revoked_link_is_refused(client, newcomer, django_capture_on_commit_callbacks):
    link, _ = send(newcomer, django_capture_on_commit_callbacks)
    assert invitation_revoke(user=newcomer, by=None) == 1
    assert client.get(path_of(link)).status_code == 410
    assert invitation_revoke(user=newcomer, by=None) == 0  # nothing pending any more
    assert len(events(AuthEvent.Event.INVITATION_REVOKED)) == 1


def test_the_service_refuses_a_second_use_of_the_same_token(
    newcomer, django_capture_on_commit_callbacks
):
    _link, token = send(newcomer, django_capture_on_commit_callbacks)
    assert isinstance(invitation_accept(token=token, password=NEW_PASSWORD), Invitation)
    again = invitation_accept(token=token, password="another-passphrase-99")
    assert not isinstance(again, Invitation)
    assert again.reason == "link_used"
    newcomer.refresh_from_db()
    assert newcomer.check_password(NEW_PASSWORD)


def test_the_link_of_an_account_made_inactive_is_refused(
    client, newcomer, django_capture_on_commit_callbacks
):
    link, _ = send(newcomer, django_capture_on_commit_callbacks)
    newcomer.is_active = False
    newcomer.save()
    assert client.get(path_of(link)).status_code == 410


# ---------------------------------------------------------------------------------- the admin


def test_adding_a_cardholder_in_the_admin_emails_an_invitation(
    admin_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/auth/user/add/",
            {
                "username": "erin",
                "email": "erin@example.com",
                "usable_password": "false",
                "password1": "",
                "password2": "",
                "_save": "Save",
            },
        )
    assert response.status_code == 302, response.content.decode()[:3000]
    erin = get_user_model().objects.get(username="erin")
    assert not erin.has_usable_password()
    (message,) = [m for m in mail.outbox if m.to == ["erin@example.com"]]
    assert LINK_RE.search(message.body)
    sent = events(AuthEvent.Event.INVITATION_SENT)
    assert [(e.user_id, e.detail.split(";")[0]) for e in sent] == [(erin.pk, "by=root")]
    page = admin_client.get(f"/admin/auth/user/{erin.pk}/change/").content.decode()
    assert "the link works until" in page


def test_adding_a_cardholder_needs_an_email_address(admin_client):
    response = admin_client.post(
        "/admin/auth/user/add/",
        {"username": "erin", "email": "", "usable_password": "false", "_save": "Save"},
    )
    assert response.status_code == 200
    assert b"This field is required" in response.content
    assert not get_user_model().objects.filter(username="erin").exists()


def test_admin_resend_action_sends_a_new_link_and_the_old_one_stops(
    admin_client, client, newcomer, django_capture_on_commit_callbacks
):
    first, _ = send(newcomer, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/auth/user/",
            {"action": "send_invitation", "_selected_action": [newcomer.pk]},
            follow=True,
        )
    assert b"Invitation emailed to carol at carol@example.com" in response.content
    second = LINK_RE.search(mail.outbox[-1].body).group(0)
    assert second != first
    assert client.get(path_of(first)).status_code == 410
    assert client.get(path_of(second)).status_code == 200


def test_admin_revoke_action_stops_the_link(
    admin_client, client, newcomer, django_capture_on_commit_callbacks
):
    link, _ = send(newcomer, django_capture_on_commit_callbacks)
    response = admin_client.post(
        "/admin/auth/user/",
        {"action": "revoke_invitation", "_selected_action": [newcomer.pk]},
        follow=True,
    )
    assert b"Revoked the invitation of carol" in response.content
    assert client.get(path_of(link)).status_code == 410
    (revoked,) = events(AuthEvent.Event.INVITATION_REVOKED)
    assert revoked.detail == "by=root; revoked=1"


def test_admin_resend_to_a_cardholder_without_email_says_why(admin_client, db):
    user = get_user_model().objects.create_user(username="dave")
    response = admin_client.post(
        "/admin/auth/user/",
        {"action": "send_invitation", "_selected_action": [user.pk]},
        follow=True,
    )
    assert b"No invitation sent: dave has no email address" in response.content
    assert not Invitation.objects.exists()


# ---------------------------------------------------------------------------------- all the way


def test_invited_cardholder_enrols_and_reaches_the_cards(
    client, newcomer, clock, django_capture_on_commit_callbacks
):
    from base64 import b32decode

    from django_otp.oath import TOTP

    link, _ = send(newcomer, django_capture_on_commit_callbacks)
    client.post(path_of(link), {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    body = client.get("/accounts/enrol/").content.decode()
    secret = "".join(re.findall(r"<span>([A-Z2-7]{1,4})</span>", body))
    totp = TOTP(b32decode(secret), 30, 0, 6, 0)
    totp.time = clock.now
    response = client.post("/accounts/enrol/", {"code": f"{totp.token():06d}"})
    assert response.status_code == 200
    assert b"backup codes" in response.content.lower()
    assert client.get("/").status_code == 200


def form_fields(html: str) -> dict[str, object]:
    """The values a browser would submit from the page's main form (inputs, selects, textareas)."""
    from html.parser import HTMLParser

    fields: dict[str, object] = {}

    class Form(HTMLParser):
        select: str | None = None

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            name = a.get("name")
            if tag == "input" and name and a.get("type") not in ("submit", "button"):
                if a.get("type") == "checkbox":
                    if "checked" in a:
                        fields[name] = a.get("value", "on")
                else:
                    fields[name] = a.get("value") or ""
            elif tag == "select" and name:
                self.select = name
                if "multiple" not in a:
                    fields.setdefault(name, "")
            elif tag == "option" and self.select and "selected" in a:
                fields[self.select] = a.get("value", "")
            elif tag == "textarea" and name:
                fields[name] = ""

        def handle_endtag(self, tag):
            if tag == "select":
                self.select = None

    Form().feed(html)
    fields.pop("csrfmiddlewaretoken", None)
    return fields


def test_an_admin_sets_the_banks_id_of_a_cardholder_added_by_hand(admin_client, newcomer):
    from cardreveal.accounts.models import ExternalIdentity

    url = f"/admin/auth/user/{newcomer.pk}/change/"
    page = admin_client.get(url).content.decode()
    assert "Bank&#x27;s id" in page or "Bank's id" in page
    data = form_fields(page)
    data["external_identity-0-external_id"] = "BANK-4242"
    data["_save"] = "Save"
    response = admin_client.post(url, data)
    errors = re.findall(r'class="errorlist[^"]*"[^>]*>(.*?)</ul>', response.content.decode(), re.S)
    assert response.status_code == 302, (errors, data)
    assert ExternalIdentity.objects.get(user=newcomer).external_id == "BANK-4242"


# ---------------------------------------------------------------------------------- provisioning


def test_a_provisioned_cardholder_is_invited_once_the_batch_commits(
    newcomer, staff, django_capture_on_commit_callbacks
):
    from types import SimpleNamespace

    from cardreveal.accounts.receivers import invite_provisioned_cardholder
    from cardreveal.client_info import SYSTEM_CLIENT

    admin, _device = staff
    with django_capture_on_commit_callbacks(execute=False) as pending:
        invite_provisioned_cardholder(
            sender=None, user=newcomer, by=SimpleNamespace(user=admin, client=SYSTEM_CLIENT)
        )
    assert mail.outbox == []  # nothing before the commit
    for callback in pending:
        callback()
    (message,) = mail.outbox
    assert message.to == ["carol@example.com"]
    (sent,) = events(AuthEvent.Event.INVITATION_SENT)
    assert sent.detail.startswith("by=root;")


def test_a_provisioned_cardholder_without_email_is_logged_and_the_batch_stands(db, caplog):
    from cardreveal.accounts.receivers import invite_provisioned_cardholder

    user = get_user_model().objects.create_user(username="nomail")
    with caplog.at_level("WARNING"):
        invite_provisioned_cardholder(sender=None, user=user, by=None)
    assert "not invited: nomail has no email address" in caplog.text
    assert not Invitation.objects.exists()
