"""GET /api/v1/reveals: opaque ids that say nothing about how many reveals the bank does, and pages
an app walks with `before` = the previous page's `next`."""

from __future__ import annotations

import re

import pytest

from cardreveal.api.opaque_ids import reveal_event_pk, reveal_event_public_id
from cardreveal.audit.models import RevealEvent
from tests.api.conftest import assert_error, client_with, token_for

ID_RE = re.compile(r"^rv_[A-Za-z0-9_-]{22}$")


@pytest.fixture
def attempts(alice, bob, make_card, clock, client_key, no_throttles):
    """Five refused attempts of alice's, each after two of bob's (a busy bank in between);
    returns alice's API client and her records, newest first."""
    alices = client_with(token_for(alice, clock))
    bobs = client_with(token_for(bob, clock))
    card, bobs_card = make_card(alice.user), make_card(bob.user)
    body = {"otp_code": "12", "public_key": client_key.public_b64}
    for _ in range(5):
        for _ in range(2):
            bobs.post(f"/api/v1/cards/{bobs_card.pk}/reveal", body, format="json")
        alices.post(f"/api/v1/cards/{card.pk}/reveal", body, format="json")
    mine = list(RevealEvent.objects.filter(user=alice.user).order_by("-created_at", "-seq"))
    assert len(mine) == 5
    return alices, mine


def test_history_ids_are_opaque_strings_not_record_numbers(attempts):
    alices, mine = attempts
    ids = [item["id"] for item in alices.get("/api/v1/reveals").json()["results"]]
    assert all(ID_RE.fullmatch(i) for i in ids), ids
    assert [reveal_event_pk(i) for i in ids] == [e.pk for e in mine]
    # Nothing to subtract or sort: the ids of 200 records in a row are in no order of theirs
    # (a keyed permutation; five ids alone would be in order by chance once in sixty).
    run = [reveal_event_public_id(pk) for pk in range(1, 201)]
    assert sorted(run) not in (run, run[::-1])


def test_an_items_id_stays_the_same_from_call_to_call(attempts):
    alices, _ = attempts
    first = alices.get("/api/v1/reveals").json()["results"]
    again = alices.get("/api/v1/reveals?limit=3").json()["results"]
    assert [i["id"] for i in first[:3]] == [i["id"] for i in again]


def test_pages_walked_with_next_cover_the_history_once_in_order(attempts):
    alices, mine = attempts
    seen, url = [], "/api/v1/reveals?limit=2"
    sizes = []
    while url:
        body = alices.get(url).json()
        sizes.append(len(body["results"]))
        seen.extend(item["id"] for item in body["results"])
        url = f"/api/v1/reveals?limit=2&before={body['next']}" if body["next"] else None
    assert sizes == [2, 2, 1]
    assert [reveal_event_pk(i) for i in seen] == [e.pk for e in mine]


def test_the_last_page_has_no_next(attempts):
    alices, _ = attempts
    assert alices.get("/api/v1/reveals?limit=5").json()["next"] is None
    assert alices.get("/api/v1/reveals?limit=4").json()["next"] is not None


def test_someone_elses_id_is_refused_as_a_cursor(attempts, bob):
    alices, _ = attempts
    bobs_event = RevealEvent.objects.filter(user=bob.user).first()
    response = alices.get(f"/api/v1/reveals?before={reveal_event_public_id(bobs_event.pk)}")
    assert "before" in assert_error(response, 400, "invalid_input")["fields"]


@pytest.mark.parametrize("before", ["1", "rv_", "rv_" + "A" * 22, "rv_" + "%" * 22, "x" * 300])
def test_a_cursor_this_server_did_not_make_is_refused(attempts, before):
    alices, _ = attempts
    response = alices.get("/api/v1/reveals", {"before": before})
    assert "before" in assert_error(response, 400, "invalid_input")["fields"]


def test_an_id_survives_a_secret_key_rotation_done_the_django_way(settings):
    old = reveal_event_public_id(41)
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "new-" + "k" * 60, [settings.SECRET_KEY]
    assert reveal_event_pk(old) == 41
    assert reveal_event_public_id(41) != old
    settings.SECRET_KEY_FALLBACKS = []
    assert reveal_event_pk(old) is None


@pytest.mark.parametrize("pk", [1, 7, 123456])
def test_a_tampered_id_is_not_read_as_any_record(pk):
    public = reveal_event_public_id(pk)
    assert reveal_event_pk(public) == pk
    for position in range(3, len(public)):
        for other in "AB_-":  # 'A' and 'B' differ only in the last character's spare bit
            if other != public[position]:
                tampered = public[:position] + other + public[position + 1 :]
                assert reveal_event_pk(tampered) is None, tampered


def test_only_the_one_spelling_the_server_wrote_is_read():
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    public = reveal_event_public_id(7)
    # The 22nd character carries two spare bits: toggling one spells the same 16 bytes.
    other = alphabet[alphabet.index(public[-1]) ^ 1]
    assert reveal_event_pk(public[:-1] + other) is None
