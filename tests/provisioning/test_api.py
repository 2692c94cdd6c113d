"""The provisioning API as a bank's system uses it: client-credential tokens with scopes, idempotent
create-or-update by the bank's ids, all-or-nothing batches with row errors, removal, the change feed."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction

from cardreveal.accounts.models import ExternalIdentity
from cardreveal.accounts.signals import cardholder_provisioned
from cardreveal.audit.models import AuthEvent
from cardreveal.cards.models import Card
from cardreveal.provisioning.clients import provisioning_client_revoke, provisioning_client_rotate
from cardreveal.provisioning.models import ProvisioningChange
from tests.api.conftest import client_with
from tests.provisioning.conftest import bearer, token_for

ANNA = {
    "email": "Anna@Example.com",
    "first_name": "Anna",
    "last_name": "Berg",
    "phone": "+447700900123",
}


def card_body(on, **over):
    return {
        "cardholder": "C-1",
        "binding": on.name,
        "reference": {"card_contract_id": "80001"},
        "last4": "4242",
        "expiry_month": 9,
        "expiry_year": 2031,
        "label": "Everyday",
        **over,
    }


def test_putting_a_cardholder_twice_creates_once_then_reports_unchanged(bank, db):
    first = bank.put("/api/v1/provisioning/cardholders/C-1", ANNA, format="json")
    again = bank.put("/api/v1/provisioning/cardholders/C-1", ANNA, format="json")

    assert (first.status_code, first.json()["outcome"]) == (201, "created")
    assert (again.status_code, again.json()["outcome"]) == (200, "unchanged")
    identity = ExternalIdentity.objects.select_related("user").get(external_id="C-1")
    assert identity.user.email == "anna@example.com"
    assert identity.user.username == "anna@example.com"
    assert identity.phone == "+447700900123"
    assert not identity.user.has_usable_password()
    assert ProvisioningChange.objects.count() == 1


def test_a_changed_field_is_an_update_and_active_false_disables_sign_in(bank, db):
    bank.put("/api/v1/provisioning/cardholders/C-1", ANNA, format="json")
    answer = bank.put(
        "/api/v1/provisioning/cardholders/C-1", {**ANNA, "last_name": "Lund", "active": False}
    )

    assert (answer.status_code, answer.json()["outcome"]) == (200, "updated")
    user = ExternalIdentity.objects.get(external_id="C-1").user
    assert (user.last_name, user.is_active) == ("Lund", False)
    change = ProvisioningChange.objects.order_by("seq").last()
    assert (change.action, change.fields, change.active) == (
        "updated",
        "last_name,is_active",
        False,
    )


def test_a_new_cardholder_is_announced_for_the_invitation_with_who_made_it(bank, db):
    seen = []

    def receiver(sender, user, by, **kwargs):
        seen.append((user.username, by.by))

    cardholder_provisioned.connect(receiver)
    try:
        bank.put("/api/v1/provisioning/cardholders/C-1", ANNA, format="json")
        bank.put("/api/v1/provisioning/cardholders/C-1", ANNA, format="json")
    finally:
        cardholder_provisioned.disconnect(receiver)

    assert len(seen) == 1
    assert seen[0][0] == "anna@example.com"
    assert seen[0][1].startswith("client:")


def test_every_batch_is_audited_with_the_client_that_made_it(make_client, db):
    issued = make_client(name="Core banking")
    bearer(token_for(issued)).put("/api/v1/provisioning/cardholders/C-1", ANNA, format="json")

    record = AuthEvent.objects.get(event=AuthEvent.Event.PROVISIONED)
    assert record.username == f"client:{issued.client_id}"
    assert "Core banking" in record.detail
    assert "cardholders created=1" in record.detail
    assert record.channel == "api"


def test_a_cardholders_own_token_is_refused_with_401(alice_token, db):
    answer = client_with(alice_token).put(
        "/api/v1/provisioning/cardholders/C-1", ANNA, format="json"
    )

    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "client_token_required"
    assert "Cardholder tokens" in answer.json()["error"]["message"]
    assert not ExternalIdentity.objects.exists()


def test_no_token_at_all_is_refused_with_401(api, db):
    answer = api.get("/api/v1/provisioning/changes")

    assert answer.status_code == 401
    assert answer["WWW-Authenticate"].startswith("Bearer")


def test_a_client_without_the_scope_is_refused_and_nothing_is_written(make_client, binding):
    reader = bearer(token_for(make_client(scopes=["changes:read"])))

    answer = reader.put("/api/v1/provisioning/cardholders/C-1", ANNA, format="json")

    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "insufficient_scope"
    assert "cardholders:write" in answer.json()["error"]["message"]
    assert not ExternalIdentity.objects.exists()


def test_a_client_cannot_get_a_token_for_a_scope_it_was_not_given(make_client, db):
    from rest_framework.test import APIClient

    from tests.provisioning.conftest import _basic

    issued = make_client(scopes=["changes:read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=_basic(issued.client_id, issued.client_secret))
    answer = client.post(
        "/api/v1/provisioning/token",
        {"grant_type": "client_credentials", "scope": "cards:write"},
        format="multipart",
    )

    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_scope"


def test_a_card_is_created_on_its_cardholder_and_put_again_unchanged(bank, binding):
    bank.put("/api/v1/provisioning/cardholders/C-1", ANNA, format="json")

    first = bank.put("/api/v1/provisioning/cards/K-1", card_body(binding), format="json")
    again = bank.put("/api/v1/provisioning/cards/K-1", card_body(binding), format="json")

    assert (first.status_code, again.status_code, again.json()["outcome"]) == (
        201,
        200,
        "unchanged",
    )
    card = Card.objects.get(external_id="K-1")
    assert card.owner.username == "anna@example.com"
    assert (card.last4, card.expiry_display, card.reveal_enabled) == ("4242", "09/31", True)


def test_a_reference_that_does_not_fit_the_provider_is_refused_in_words(bank, binding):
    bank.put("/api/v1/provisioning/cardholders/C-1", ANNA, format="json")

    answer = bank.put(
        "/api/v1/provisioning/cards/K-1",
        card_body(binding, reference={"public_token": "123"}, last4="42"),
        format="json",
    )

    assert answer.status_code == 400
    fields = answer.json()["error"]["fields"]
    assert any(
        "'public_token' is not a mastercard card reference field" in m for m in fields["reference"]
    )
    assert fields["last4"] == ["Enter exactly four digits."]
    assert not Card.objects.exists()


def test_a_reference_used_by_another_cardholders_card_is_refused(bank, binding):
    bank.put("/api/v1/provisioning/cardholders/C-1", ANNA, format="json")
    bank.put("/api/v1/provisioning/cardholders/C-2", {"email": "b@example.com"}, format="json")
    bank.put("/api/v1/provisioning/cards/K-1", card_body(binding), format="json")

    answer = bank.put(
        "/api/v1/provisioning/cards/K-2", card_body(binding, cardholder="C-2"), format="json"
    )

    assert answer.status_code == 400
    (message,) = answer.json()["error"]["fields"]["reference"]
    assert "already used on" in message
    assert "'K-1'" in message
    assert Card.objects.count() == 1


def test_the_database_itself_refuses_a_second_card_with_the_same_reference(alice, bob, make_card):
    first = make_card(alice.user, reference={"card_contract_id": "70001"})

    with pytest.raises(IntegrityError), transaction.atomic():
        Card.objects.create(
            owner=bob.user,
            label="Copy",
            last4="0002",
            expiry_month=1,
            expiry_year=2030,
            binding=first.binding,
            reference={"card_contract_id": "70001"},
        )


def test_a_card_for_an_unknown_cardholder_or_binding_says_which(bank, binding):
    answer = bank.put(
        "/api/v1/provisioning/cards/K-1", card_body(binding, binding="nope"), format="json"
    )

    fields = answer.json()["error"]["fields"]
    assert "No cardholder has the bank's id 'C-1'" in fields["cardholder"][0]
    assert "No provider binding is named 'nope'" in fields["binding"][0]
    assert binding.name in fields["binding"][0]


def test_a_batch_with_one_bad_row_writes_nothing_and_names_the_row(bank, binding):
    body = {
        "cardholders": [
            {"external_id": "C-1", **ANNA},
            {"external_id": "C-2", "email": "not an address"},
        ],
        "cards": [{"external_id": "K-1", **card_body(binding)}],
    }

    answer = bank.post("/api/v1/provisioning/batch", body, format="json")

    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "invalid_rows"
    assert error["rows"] == {
        "cardholders": {"1": {"email": ["Enter a valid email address, e.g. name@example.com."]}}
    }
    assert not ExternalIdentity.objects.exists()
    assert not Card.objects.exists()
    assert not ProvisioningChange.objects.exists()
    assert not AuthEvent.objects.filter(event=AuthEvent.Event.PROVISIONED).exists()


def test_a_good_batch_creates_cardholders_and_their_cards_at_once(bank, binding):
    body = {
        "cardholders": [{"external_id": "C-1", **ANNA}],
        "cards": [
            {"external_id": "K-1", **card_body(binding)},
            {"external_id": "K-2", **card_body(binding, reference={"card_contract_id": "80002"})},
        ],
    }

    answer = bank.post("/api/v1/provisioning/batch", body, format="json")

    assert answer.status_code == 200
    assert answer.json()["cards"] == {"created": 2, "updated": 0, "unchanged": 0}
    assert Card.objects.filter(owner__external_identity__external_id="C-1").count() == 2


def test_a_batch_naming_one_reference_twice_refuses_the_second(bank, binding):
    bank.put("/api/v1/provisioning/cardholders/C-1", ANNA, format="json")
    body = {
        "cards": [
            {"external_id": "K-1", **card_body(binding)},
            {"external_id": "K-2", **card_body(binding)},
        ]
    }

    answer = bank.post("/api/v1/provisioning/batch", body, format="json")

    assert list(answer.json()["error"]["rows"]["cards"]) == ["1"]
    assert not Card.objects.exists()


def test_removing_a_cardholder_removes_their_cards_and_is_in_the_feed(bank, binding):
    bank.put("/api/v1/provisioning/cardholders/C-1", ANNA, format="json")
    bank.put("/api/v1/provisioning/cards/K-1", card_body(binding), format="json")

    gone = bank.delete("/api/v1/provisioning/cardholders/C-1")
    again = bank.delete("/api/v1/provisioning/cardholders/C-1")

    assert (gone.status_code, again.status_code) == (204, 404)
    assert not get_user_model().objects.filter(email="anna@example.com").exists()
    feed = bank.get("/api/v1/provisioning/changes").json()["changes"]
    assert [(c["entity"], c["external_id"], c["action"]) for c in feed[-2:]] == [
        ("card", "K-1", "removed"),
        ("cardholder", "C-1", "removed"),
    ]


def test_the_change_feed_pages_with_an_opaque_cursor_and_waits_at_the_end(bank, db):
    for number in range(5):
        bank.put(
            f"/api/v1/provisioning/cardholders/C-{number}",
            {"email": f"c{number}@example.com"},
            format="json",
        )

    first = bank.get("/api/v1/provisioning/changes", {"limit": 3}).json()
    second = bank.get(
        "/api/v1/provisioning/changes", {"limit": 3, "cursor": first["next_cursor"]}
    ).json()
    third = bank.get("/api/v1/provisioning/changes", {"cursor": second["next_cursor"]}).json()

    assert [c["external_id"] for c in first["changes"]] == ["C-0", "C-1", "C-2"]
    assert first["has_more"] is True
    assert [c["external_id"] for c in second["changes"]] == ["C-3", "C-4"]
    assert second["has_more"] is False
    assert third["changes"] == []
    assert third["next_cursor"] == second["next_cursor"]


def test_a_cursor_not_from_the_api_is_refused(bank, db):
    answer = bank.get("/api/v1/provisioning/changes", {"cursor": "after-42"})

    assert answer.status_code == 400
    assert "cursor" in answer.json()["error"]["fields"]


def test_each_client_has_its_own_rate_limit(make_client, db):
    slow = bearer(token_for(make_client(name="Slow", requests_per_minute=2)))
    other = bearer(token_for(make_client(name="Other", requests_per_minute=2)))

    answers = [slow.get("/api/v1/provisioning/changes").status_code for _ in range(3)]

    assert answers == [200, 200, 429]
    assert other.get("/api/v1/provisioning/changes").status_code == 200


def test_a_rotated_secret_works_beside_the_old_until_the_old_is_revoked(make_client, db):
    old = make_client()
    old_token = token_for(old)
    new = provisioning_client_rotate(client_id=old.client_id)

    assert bearer(token_for(new)).get("/api/v1/provisioning/changes").status_code == 200
    assert bearer(old_token).get("/api/v1/provisioning/changes").status_code == 200
    provisioning_client_revoke(client_id=old.client_id)
    assert bearer(old_token).get("/api/v1/provisioning/changes").status_code == 401
    assert new.client.scope_list == old.client.scope_list


def test_a_scope_taken_from_the_client_stops_its_live_tokens_at_once(make_client, db):
    issued = make_client()
    bank = bearer(token_for(issued))
    issued.client.scopes = "changes:read"
    issued.client.save()

    answer = bank.put("/api/v1/provisioning/cardholders/C-1", ANNA, format="json")

    assert answer.status_code == 403
    assert bank.get("/api/v1/provisioning/changes").status_code == 200


def test_a_provisioned_cardholder_is_emailed_an_invitation_once_the_batch_commits(
    bank, binding, transactional_db, settings, mailoutbox
):
    settings.CARDREVEAL_SITE_URL = "https://cards.example.com"
    refused = bank.post(
        "/api/v1/provisioning/batch",
        {
            "cardholders": [{"external_id": "C-1", **ANNA}],
            "cards": [{"external_id": "K-1", **card_body(binding, last4="42")}],
        },
        format="json",
    )
    assert refused.status_code == 400
    assert mailoutbox == []  # a batch refused whole invites nobody

    made = bank.put("/api/v1/provisioning/cardholders/C-1", ANNA, format="json")
    again = bank.put("/api/v1/provisioning/cardholders/C-1", ANNA, format="json")

    assert (made.status_code, again.status_code) == (201, 200)
    (message,) = mailoutbox  # one invitation, for the creation only
    assert message.to == ["anna@example.com"]
    assert "https://cards.example.com/accounts/invitation/?token=" in message.body
