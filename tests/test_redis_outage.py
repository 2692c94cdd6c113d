"""A Redis outage, on a real Redis the test stops and starts again: the limits that protect
cardholders fail closed with a 503 and Retry-After (reveal quotas, reveal and sign-in limits), the
rest keeps working (card list, history, web sessions from the database), nothing answers 500, and
everything is back once Redis is (docs/security.md, "Redis outage")."""

from __future__ import annotations

import logging

import pytest
from django.db import InterfaceError, OperationalError
from django.test import Client
from rest_framework.test import APIClient

from providers.breaker import Outcome
from tests.api.conftest import client_with, token_for
from tests.conftest import sign_in, totp_code
from tests.redis_server import RedisServer, redis_server  # noqa: F401 (a fixture)


@pytest.fixture
def on_private_redis(settings, redis_server: RedisServer) -> RedisServer:  # noqa: F811
    """The cache and the sessions as production has them (cached_db, a copy in Redis), on a
    private Redis this test may stop."""
    settings.CACHES = {
        "default": redis_server.cache_settings(),
        "sessions": {
            **redis_server.cache_settings(),
            "BACKEND": "cardreveal.outages.SessionCopyCache",
        },
    }
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
    settings.SESSION_CACHE_ALIAS = "sessions"
    return redis_server


@pytest.fixture
def card(alice, make_card):
    return make_card(alice.user, label="Everyday")


def web_reveal(client: Client, card, code: str, key) -> object:
    return client.post(f"/cards/{card.pk}/reveal", {"otp_code": code, "public_key": key.public_b64})


def api_reveal(api: APIClient, card, code: str, key) -> object:
    body = {"otp_code": code, "public_key": key.public_b64}
    return api.post(f"/api/v1/cards/{card.pk}/reveal", body, format="json")


def api_login(alice, code: str) -> object:
    body = {"username": "alice", "password": alice.password, "otp_code": code}
    return APIClient().post("/api/v1/auth/login", body, format="json")


def assert_503(response, code: str) -> None:
    assert response.status_code == 503, response.content
    assert response["Retry-After"] == "30"
    error = response.json()["error"]
    assert error["code"] == code
    assert "Try again in a minute" in error["message"]


def test_redis_outage_fails_reveals_and_sign_in_closed_keeps_reading_and_recovers(
    on_private_redis, alice, card, clock, client_key, sandbox, caplog
):
    web = Client()
    sign_in(web, alice, clock)
    api = client_with(token_for(alice, clock))

    on_private_redis.stop()
    with caplog.at_level(logging.WARNING):
        code = totp_code(alice.device, clock)
        # Reveals: the quotas cannot be counted, so none goes ahead; the code is not spent.
        assert_503(web_reveal(web, card, code, client_key), "quotas_unavailable")
        assert_503(api_reveal(api, card, code, client_key), "limits_unavailable")
        # Signing in through the API: its limits cannot be counted either.
        assert_503(api_login(alice, code), "limits_unavailable")
        # What only reads goes on, and says why a reveal cannot happen now.
        listed = api.get("/api/v1/cards")
        assert listed.status_code == 200
        assert listed.json()["results"][0]["reveal"]["code"] == "quotas_unavailable"
        assert api.get("/api/v1/reveals").status_code == 200
        page = web.get("/")
        assert page.status_code == 200
        assert "paused for a moment" in page.content.decode()
        # A new web sign-in is paused too (its failure limits cannot be counted), before any
        # password is checked.
        paused = Client().post(
            "/accounts/login/", {"username": alice.user.username, "password": alice.password}
        )
        assert paused.status_code == 503
        assert paused["Retry-After"] == "30"
        assert "Try again in a minute" in paused.content.decode()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR and "Internal" in r.msg]

    on_private_redis.start()  # empty, as a restarted Redis without persistence is
    # Web sessions come from the database: a new sign-in works, with the very code the refused
    # reveals carried (they did not spend it).
    sign_in(Client(), alice, clock)
    clock.advance(30)
    response = web_reveal(web, card, totp_code(alice.device, clock), client_key)
    assert response.status_code == 200, response.content
    assert client_key.open(response.json()["sealed"]) == "347"
    clock.advance(30)
    response = api_reveal(api, card, totp_code(alice.device, clock), client_key)
    assert response.status_code == 200, response.content
    clock.advance(30)
    assert api_login(alice, totp_code(alice.device, clock)).status_code == 200


def test_the_admins_binding_pages_say_the_breaker_state_is_unknown_and_still_work(
    on_private_redis, admin_client, card
):
    listing = "/admin/cards/providerbinding/"
    page = f"/admin/cards/providerbinding/{card.binding.pk}/change/"
    on_private_redis.stop()
    for url in (listing, page):
        response = admin_client.get(url)
        assert response.status_code == 200
        assert "unknown: Redis, which holds it, is unavailable" in response.content.decode()
    on_private_redis.start()
    assert "unknown: Redis" not in admin_client.get(page).content.decode()


def test_a_page_that_fails_for_want_of_redis_is_a_503_page_not_a_500(rf, db):
    from django.contrib.auth.models import AnonymousUser
    from django.http import HttpResponse
    from redis.exceptions import ConnectionError as RedisConnectionError

    from cardreveal.outages import OutageMiddleware

    request = rf.get("/")
    request.user = AnonymousUser()
    middleware = OutageMiddleware(lambda r: HttpResponse())
    response = middleware.process_exception(request, RedisConnectionError("refused"))
    assert response is not None
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert "Try again in a minute" in response.content.decode()
    assert middleware.process_exception(request, ValueError("other")) is None


@pytest.mark.parametrize(
    "error",
    [OperationalError("server closed the connection"), InterfaceError("connection closed")],
    ids=["operational", "interface"],
)
def test_a_page_or_api_call_that_fails_for_want_of_the_database_is_a_503(rf, db, error):
    from django.contrib.auth.models import AnonymousUser
    from django.http import HttpResponse

    from cardreveal.api.exceptions import api_exception_handler
    from cardreveal.outages import OutageMiddleware

    request = rf.get("/")
    request.user = AnonymousUser()
    page = OutageMiddleware(lambda r: HttpResponse()).process_exception(request, error)
    assert page is not None
    assert (page.status_code, page["Retry-After"]) == (503, "30")
    assert "Try again in a minute" in page.content.decode()
    answer = api_exception_handler(error, {"request": request})
    assert answer is not None
    assert (answer.status_code, answer["Retry-After"]) == (503, "30")
    assert answer.data["error"]["code"] == "temporarily_unavailable"
    assert "server closed" not in str(answer.data)  # the driver's words stay in the log


def test_a_breaker_steps_aside_while_redis_is_down(on_private_redis, card):
    from cardreveal.cards.bindings import binding_breaker

    breaker = binding_breaker(card.binding)
    on_private_redis.stop()
    permit = breaker.before_call()  # no state to read: the call goes ahead, uncounted
    assert not permit.trial
    breaker.record(permit, Outcome.FAILURE, latency_ms=5, code="provider_timeout")  # lost, no raise


def test_a_quota_unit_that_cannot_be_given_back_stays_taken_without_an_error(
    on_private_redis, alice, card, caplog
):
    from django.core.cache import cache

    from cardreveal.cards.quotas import reveal_quota_release, reveal_quota_reserve

    reservation = reveal_quota_reserve(user=alice.user, card=card)
    on_private_redis.pause()  # unreachable but keeping its data, as across a partition
    with caplog.at_level(logging.WARNING, logger="cardreveal.cards.quotas"):
        reveal_quota_release(reservation)  # raises nothing: a failed reveal keeps its own error
    on_private_redis.resume()
    assert "not given back" in caplog.text
    assert list(cache.get_many(list(reservation.keys)).values()) == [1, 1]


class _DatabaseGoneMiddleware:
    """Stands in for a middleware whose query meets a dropped connection (a session read, the
    signed-in user's lookup), before any view runs."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        raise OperationalError("server closed the connection unexpectedly")


@pytest.mark.parametrize(
    ("path", "accept", "is_json"),
    [
        ("/", "text/html,*/*", False),
        ("/api/v1/cards", "*/*", True),
        ("/cards/x/reveal", "application/json", True),  # the reveal page's script
    ],
    ids=["page", "api", "page-script"],
)
def test_a_database_outage_met_before_any_view_is_a_503_not_a_500(
    settings, db, path, accept, is_json
):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, f"{__name__}._DatabaseGoneMiddleware"]
    response = Client(raise_request_exception=False).get(path, HTTP_ACCEPT=accept)
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    if is_json:
        assert response.json()["error"]["code"] == "temporarily_unavailable"
    else:
        assert "Try again in a minute" in response.content.decode()
    assert "server closed" not in response.content.decode()


def test_any_other_failure_before_a_view_is_still_djangos_500(settings, db):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, f"{__name__}._BrokenMiddleware"]
    response = Client(raise_request_exception=False).get("/")
    assert response.status_code == 500


class _BrokenMiddleware(_DatabaseGoneMiddleware):
    def __call__(self, request):
        raise ValueError("a bug")
