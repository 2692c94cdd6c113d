"""The global kill switch: one row in the admin, read on every reveal, so pausing holds at once for
every card, user, channel and worker; refused with `reveals_paused`, no provider call, audited."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client

from cardreveal.audit.models import AuthEvent, RevealEvent
from cardreveal.cards.models import RevealSwitch
from cardreveal.cards.reveal_switch import reveals_globally_enabled
from cardreveal.cards.selectors import card_for_reveal
from cardreveal.cards.services import RevealError, reveal_cvv
from cardreveal.client_info import ClientInfo
from tests.audit.conftest import web_reveal
from tests.conftest import sign_in, totp_code

CLIENT = ClientInfo(
    ip="198.51.100.7", user_agent="pytest", request_id="req-12345678", channel="api"
)


@pytest.fixture
def card(alice, make_card):
    return make_card(alice.user, label="Everyday")


def pause(on: bool = True) -> None:
    RevealSwitch.objects.update_or_create(
        pk=RevealSwitch.SINGLETON_ID, defaults={"reveals_enabled": not on}
    )


def test_reveals_are_on_by_default_and_without_a_row(db):
    assert reveals_globally_enabled()
    RevealSwitch.objects.all().delete()
    assert reveals_globally_enabled()


def test_a_paused_site_refuses_every_reveal_without_calling_the_provider(
    signed_in, alice, card, clock, client_key, provider_calls
):
    calls = provider_calls("mastercard")
    pause()
    response = web_reveal(signed_in, card, alice, clock, client_key)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "reveals_paused"
    assert "paused for everyone" in response.json()["error"]["message"]
    assert "no-store" in response["Cache-Control"]
    assert calls.count == 0
    event = RevealEvent.objects.get()
    assert (event.outcome, event.reason, event.card_id) == ("refused", "reveals_paused", card.pk)


def test_the_pause_holds_on_the_api_path_too_and_keeps_the_code(alice, card, clock, client_key):
    pause()
    code = totp_code(alice.device, clock)
    with pytest.raises(RevealError) as info:
        reveal_cvv(
            user=alice.user,
            card_id=card.pk,
            otp_code=code,
            client_public_key=client_key.public_b64,
            client=CLIENT,
        )
    assert (info.value.code, info.value.status_code) == ("reveals_paused", 503)
    pause(on=False)
    result = reveal_cvv(
        user=alice.user,
        card_id=card.pk,
        otp_code=code,  # refused before the code was checked, so still unused
        client_public_key=client_key.public_b64,
        client=CLIENT,
    )
    assert client_key.open(result.sealed) == "347"


@pytest.mark.parametrize("state", ["no row", "on", "paused"])
def test_the_card_query_reads_the_switch_as_the_plain_read_does(alice, card, state):
    # card_for_reveal reads the switch inside the card's own query (RevealsPaused, hand-compiled
    # SQL): it must agree with the plain read in every state the row can be in.
    if state == "no row":
        RevealSwitch.objects.all().delete()
    else:
        pause(on=state == "paused")
    target = card_for_reveal(user=alice.user, card_id=card.pk)
    assert target is not None
    assert target.card == card
    assert target.reveals_paused is (state == "paused")
    assert reveals_globally_enabled() is (state != "paused")


def test_unpausing_takes_effect_at_the_next_reveal(signed_in, alice, card, clock, client_key):
    pause()
    assert web_reveal(signed_in, card, alice, clock, client_key).status_code == 503
    pause(on=False)
    assert web_reveal(signed_in, card, alice, clock, client_key).status_code == 200


def test_another_users_card_is_still_not_found_while_paused(
    signed_in, alice, bob, make_card, clock, client_key
):
    pause()
    response = web_reveal(signed_in, make_card(bob.user), alice, clock, client_key)
    assert response.status_code == 404


def test_admins_pause_reveals_in_the_admin_and_it_is_audited(
    admin_client, staff, alice, card, clock, client_key
):
    browser = Client()
    sign_in(browser, alice, clock)
    switch, _ = RevealSwitch.objects.get_or_create(pk=RevealSwitch.SINGLETON_ID)
    index = admin_client.get("/admin/").content.decode()
    assert "Reveals for everyone: on" in index
    opened = admin_client.get("/admin/cards/revealswitch/")  # the list opens the one switch
    assert opened["Location"] == f"/admin/cards/revealswitch/{switch.pk}/change/"
    response = admin_client.post(
        f"/admin/cards/revealswitch/{switch.pk}/change/",
        {"note": "incident 42"},  # the box unticked
    )
    assert response.status_code == 302
    assert web_reveal(browser, card, alice, clock, client_key).status_code == 503
    change = AuthEvent.objects.get(event=AuthEvent.Event.ADMIN_CHANGE)
    assert change.user == staff[0]
    assert change.resource == "cards.revealswitch:1"
    assert "Reveals on for everyone" in change.detail
    assert "Reveals for everyone: paused" in admin_client.get("/admin/").content.decode()


def test_the_switch_cannot_be_deleted_or_duplicated_in_the_admin(admin_client):
    switch, _ = RevealSwitch.objects.get_or_create(pk=RevealSwitch.SINGLETON_ID)
    admin_client.post(f"/admin/cards/revealswitch/{switch.pk}/delete/", {"post": "yes"})
    assert RevealSwitch.objects.filter(pk=switch.pk).exists()
    assert admin_client.get("/admin/cards/revealswitch/add/").status_code == 403


# The switch moved from the audit app to cards (cards 0002, audit 0006): its state must survive.
BEFORE_THE_MOVE = [("audit", "0005_chain_head_prev_hash"), ("cards", "0001_initial")]
AFTER_THE_MOVE = [("audit", "0006_reveal_switch_moves_to_cards")]


def migrate(targets: list[tuple[str, str]] | None = None):
    """Migrate the database to `targets` (None: the latest); return the models as they are there."""
    executor = MigrationExecutor(connection)
    targets = targets or executor.loader.graph.leaf_nodes()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_moving_the_switch_to_cards_keeps_a_paused_site_paused():
    old_switch = migrate(BEFORE_THE_MOVE).get_model("audit", "RevealSwitch")
    old_switch.objects.update_or_create(
        pk=1, defaults={"reveals_enabled": False, "note": "incident 42"}
    )
    paused_at = old_switch.objects.get().updated_at
    migrate()
    switch = RevealSwitch.objects.get()
    assert (switch.pk, switch.reveals_enabled, switch.note) == (1, False, "incident 42")
    assert switch.updated_at == paused_at  # when the admin paused it, not when we migrated
    assert not reveals_globally_enabled()


@pytest.mark.django_db(transaction=True)
def test_moving_the_switch_back_to_audit_keeps_a_paused_site_paused():
    migrate(AFTER_THE_MOVE).get_model("cards", "RevealSwitch").objects.update_or_create(
        pk=1, defaults={"reveals_enabled": False, "note": "incident 43"}
    )
    old_switch = migrate(BEFORE_THE_MOVE).get_model("audit", "RevealSwitch").objects.get()
    assert (old_switch.pk, old_switch.reveals_enabled, old_switch.note) == (
        1,
        False,
        "incident 43",
    )
    migrate()
    assert not reveals_globally_enabled()


def test_the_switch_is_named_by_its_state_first_in_the_cards_section(admin_client):
    index = admin_client.get("/admin/").content.decode()
    section = index[index.index("Cards and providers") :]
    assert section.index("Reveals for everyone: on") < section.index(">Cards<")
    assert 'href="/admin/cards/revealswitch/1/change/"' in section


def test_without_a_switch_row_the_admin_says_on_and_offers_to_add_it(admin_client):
    RevealSwitch.objects.all().delete()
    assert "Reveals for everyone: on" in admin_client.get("/admin/").content.decode()
    assert admin_client.get("/admin/cards/revealswitch/")["Location"] == (
        "/admin/cards/revealswitch/add/"
    )
