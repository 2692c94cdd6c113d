"""Everything that will refuse a reveal is told before a code is asked for: on the card list (a pill
per card, a banner for the whole account), on the reveal page (the form disabled, the reason in
words, with when it ends) and in the API's card list; the reveal service still refuses the same."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from django.test import Client
from rest_framework.test import APIClient

from cardreveal.accounts.models import AccountSecurity
from cardreveal.cards.availability import reveal_availability
from cardreveal.cards.models import RevealSwitch
from cardreveal.cards.services import RevealError, reveal_cvv
from cardreveal.client_info import ClientInfo
from tests.conftest import sign_in, totp_code

CLIENT = ClientInfo(ip="198.51.100.7", user_agent="pytest", request_id="req-1", channel="web")


def reveal(holder, card, clock, key):
    """A reveal through the service with the current code; the clock moves on to a fresh one."""
    code = totp_code(holder.device, clock)
    clock.advance(30)
    return reveal_cvv(
        user=holder.user,
        card_id=card.pk,
        otp_code=code,
        client_public_key=key.public_b64,
        client=CLIENT,
    )


@dataclass
class Blocked:
    """A blocker set up on alice's account or card, and what every place must say of it."""

    code: str
    words: str  # in the message
    label: str  # on the card list's pill (card-wide blockers only)
    until: str | None  # the API's `until`
    account_wide: bool


def cool_off(alice, card, clock, key, settings, wall_clock) -> None:
    AccountSecurity.objects.update_or_create(
        user=alice.user, defaults={"authenticator_added_at": wall_clock.now}
    )


def lock(alice, card, clock, key, settings, wall_clock) -> None:
    AccountSecurity.objects.update_or_create(
        user=alice.user,
        defaults={"failed_attempts": 10, "locked_until": wall_clock.now.replace(minute=30)},
    )


def pause(alice, card, clock, key, settings, wall_clock) -> None:
    RevealSwitch.objects.update_or_create(
        pk=RevealSwitch.SINGLETON_ID, defaults={"reveals_enabled": False}
    )


def card_off(alice, card, clock, key, settings, wall_clock) -> None:
    card.reveal_enabled = False
    card.save()


def binding_off(alice, card, clock, key, settings, wall_clock) -> None:
    card.binding.enabled = False
    card.binding.save()


def hour_used_up(alice, card, clock, key, settings, wall_clock) -> None:
    settings.CARDREVEAL_REVEALS_PER_USER_HOUR = 1
    reveal(alice, card, clock, key)


def day_used_up(alice, card, clock, key, settings, wall_clock) -> None:
    settings.CARDREVEAL_REVEALS_PER_CARD_DAY = 1
    reveal(alice, card, clock, key)


# At 10:00 UTC on 15 January 2030 (the wall clock).
BLOCKERS = {
    "cool_off": (
        cool_off,
        Blocked(
            "reveal_cooloff",
            "cannot be shown until 11:00 UTC because a new authenticator app or passkey was added",
            "",
            "2030-01-15T11:00:00Z",
            account_wide=True,
        ),
    ),
    "locked": (
        lock,
        Blocked(
            "account_locked",
            "this account is locked until 10:30 UTC",
            "",
            "2030-01-15T10:30:00Z",
            account_wide=True,
        ),
    ),
    "paused": (
        pause,
        Blocked("reveals_paused", "paused for everyone", "", None, account_wide=True),
    ),
    "card_off": (
        card_off,
        Blocked(
            "card_disabled", "turned off for this card", "Reveal off", None, account_wide=False
        ),
    ),
    "binding_off": (
        binding_off,
        Blocked(
            "binding_disabled",
            "unavailable right now",
            "Unavailable",
            None,
            account_wide=False,
        ),
    ),
    "hour_used_up": (
        hour_used_up,
        Blocked(
            "quota_user_hour",
            "You can see more from 11:00 UTC",
            "",
            "2030-01-15T11:00:00Z",
            account_wide=True,
        ),
    ),
    "day_used_up": (
        day_used_up,
        Blocked(
            "quota_card_day",
            "You can see it again from 00:00 UTC on 16 January",
            "Daily limit reached until 00:00 UTC on 16 January",
            "2030-01-16T00:00:00Z",
            account_wide=False,
        ),
    ),
}


def tag(body: str, element_id: str) -> str:
    """The opening tag of the element with this id."""
    match = re.search(rf'<[a-z]+ [^>]*id="{re.escape(element_id)}"[^>]*>', body)
    assert match, f"no #{element_id} on the page"
    return match.group(0)


def element_text(body: str, element_id: str) -> str:
    """The text of the element with this id (up to its closing tag of the same name)."""
    opening = tag(body, element_id)
    name = opening[1:].split(" ", 1)[0]
    start = body.index(opening) + len(opening)
    text = body[start : body.index(f"</{name}>", start)]
    return " ".join(re.sub(r"<[^>]+>", " ", text).split())


@pytest.fixture
def card(alice, make_card):
    return make_card(alice.user, label="Everyday")


@pytest.fixture
def browser(wall_clock, alice, clock) -> Client:
    """alice signed in on the web at the wall clock's time (so her session holds)."""
    client = Client()
    sign_in(client, alice, clock)
    return client


@pytest.fixture
def app(wall_clock, alice, clock) -> APIClient:
    """alice signed in on the API at the wall clock's time."""
    from tests.api.conftest import client_with, token_for

    return client_with(token_for(alice, clock))


@pytest.mark.parametrize("name", list(BLOCKERS))
def test_each_blocker_is_shown_before_a_code_and_the_service_refuses_with_it(
    name, browser, app, alice, card, clock, client_key, settings, wall_clock
):
    setup, blocked = BLOCKERS[name]
    setup(alice, card, clock, client_key, settings, wall_clock)

    # The card list: a banner for the whole account, or a pill on the card; no "Show CVV".
    listing = browser.get("/").content.decode()
    assert "Show CVV" not in listing
    if blocked.account_wide:
        banner = element_text(listing, "account-blockers")
        assert blocked.words in banner
        assert f'data-blocker="{blocked.code}"' in listing
        assert 'aria-describedby="account-blockers' in listing
    else:
        assert 'id="account-blockers"' not in listing
        pill = element_text(listing, f"blocker-{card.pk}-1")
        assert blocked.label in pill
        assert blocked.words in pill
        assert f'aria-describedby=" blocker-{card.pk}-1"' in listing

    # The reveal page: the reason with its end, the form disabled before any code is typed.
    page = browser.get(f"/cards/{card.pk}/").content.decode()
    assert blocked.words in element_text(page, "reveal-blockers")
    assert " disabled" in tag(page, "otp-code")
    assert " disabled" in tag(page, "reveal-button")
    assert "reveal-blockers" in tag(page, "otp-code")
    assert 'data-blocked="true"' in tag(page, "reveal")
    assert "No code now" in element_text(page, "otp-hint")

    # The API's card list says the same, with the end as a time.
    (listed,) = app.get("/api/v1/cards").json()["results"]
    assert listed["reveal_available"] is False
    state = listed["reveal"]
    assert (state["available"], state["code"], state["until"]) == (
        False,
        blocked.code,
        blocked.until,
    )
    assert blocked.words in state["message"]
    assert [b["code"] for b in state["blockers"]] == [blocked.code]
    assert app.get(f"/api/v1/cards/{card.pk}").json()["reveal"] == state

    # The service, still the authority, refuses with that code before the code is used.
    alice.device.refresh_from_db()
    last_t = alice.device.last_t
    with pytest.raises(RevealError) as info:
        reveal(alice, card, clock, client_key)
    assert info.value.code == blocked.code
    assert blocked.words in info.value.message
    alice.device.refresh_from_db()
    assert alice.device.last_t == last_t


def test_a_card_with_nothing_in_the_way_asks_for_the_code(browser, app, card):
    listing = browser.get("/").content.decode()
    assert "Show CVV" in listing
    assert 'id="account-blockers"' not in listing
    assert "pill-blocked" not in listing
    page = browser.get(f"/cards/{card.pk}/").content.decode()
    assert 'id="reveal-blockers"' not in page
    assert " disabled" not in tag(page, "otp-code")
    assert " disabled" not in tag(page, "reveal-button")
    assert "data-blocked" not in tag(page, "reveal")
    assert "Enter a new 6-digit code" in element_text(page, "otp-hint")
    (listed,) = app.get("/api/v1/cards").json()["results"]
    assert listed["reveal"] == {
        "available": True,
        "code": None,
        "message": None,
        "until": None,
        "blockers": [],
    }


def test_a_daily_limit_blocks_only_its_own_card(
    browser, app, alice, card, make_card, clock, client_key, settings
):
    other = make_card(
        alice.user,
        label="Travel",
        binding=card.binding,
        reference={"card_contract_id": "70003"},
        expiry=(1, 2031),
    )
    day_used_up(alice, card, clock, client_key, settings, None)

    listing = browser.get("/").content.decode()
    assert f'id="blocker-{card.pk}-1"' in listing
    assert f'id="blocker-{other.pk}-1"' not in listing
    assert 'Show CVV<span class="visually-hidden"> for Travel' in listing
    states = {
        c["label"]: c["reveal"]["available"] for c in app.get("/api/v1/cards").json()["results"]
    }
    assert states == {"Everyday": False, "Travel": True}
    assert reveal(alice, other, clock, client_key).sealed


def test_several_blockers_are_all_shown_the_first_named_and_the_last_end_given(
    browser, app, alice, card, clock, client_key, settings, wall_clock
):
    day_used_up(alice, card, clock, client_key, settings, wall_clock)
    cool_off(alice, card, clock, client_key, settings, wall_clock)

    state = app.get("/api/v1/cards").json()["results"][0]["reveal"]
    assert [b["code"] for b in state["blockers"]] == ["reveal_cooloff", "quota_card_day"]
    assert state["code"] == "reveal_cooloff"  # what a reveal would be refused with now
    assert state["until"] == "2030-01-16T00:00:00Z"  # when both are over
    assert [b["until"] for b in state["blockers"]] == [
        "2030-01-15T11:00:00Z",
        "2030-01-16T00:00:00Z",
    ]
    page = browser.get(f"/cards/{card.pk}/").content.decode()
    reasons = element_text(page, "reveal-blockers")
    assert "until 11:00 UTC" in reasons
    assert "from 00:00 UTC on 16 January" in reasons
    assert "You can show it from 00:00 UTC on 16 January" in reasons
    assert 'data-blocked-seconds="50400"' in tag(page, "reveal")  # 14 hours, to re-enable


def test_a_blocker_without_an_end_gives_no_time_to_wait_for(
    browser, app, alice, card, clock, client_key, settings, wall_clock
):
    cool_off(alice, card, clock, client_key, settings, wall_clock)
    pause(alice, card, clock, client_key, settings, wall_clock)

    assert app.get("/api/v1/cards").json()["results"][0]["reveal"]["until"] is None
    page = browser.get(f"/cards/{card.pk}/").content.decode()
    assert "data-blocked-seconds" not in tag(page, "reveal")
    assert "No code is needed until this changes" in element_text(page, "reveal-blockers")


def test_a_blocker_ends_by_itself_and_the_card_can_be_revealed(
    browser, alice, card, clock, client_key, settings, wall_clock
):
    cool_off(alice, card, clock, client_key, settings, wall_clock)
    assert 'data-blocked-seconds="3600"' in tag(
        browser.get(f"/cards/{card.pk}/").content.decode(), "reveal"
    )
    wall_clock.advance(hours=1)  # longer than a session stays idle: asked of the selector
    assert reveal_availability(user=alice.user, card_id=card.pk).available
    assert reveal(alice, card, clock, client_key).sealed


def test_showing_the_quotas_takes_none_of_them(
    browser, app, alice, card, clock, client_key, settings
):
    settings.CARDREVEAL_REVEALS_PER_CARD_DAY = 1
    for _ in range(3):
        browser.get("/")
        browser.get(f"/cards/{card.pk}/")
        app.get("/api/v1/cards")
    assert reveal(alice, card, clock, client_key).sealed  # the one unit was still there


def test_a_blocker_that_starts_after_the_page_loaded_is_still_refused(
    browser, alice, card, clock, client_key
):
    page = browser.get(f"/cards/{card.pk}/").content.decode()
    assert 'id="reveal-blockers"' not in page
    pause(alice, card, clock, client_key, None, None)
    response = browser.post(
        f"/cards/{card.pk}/reveal",
        {"otp_code": totp_code(alice.device, clock), "public_key": client_key.public_b64},
    )
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "reveals_paused"
