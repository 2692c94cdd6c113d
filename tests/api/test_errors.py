"""The API's one error shape: unknown URLs, content negotiation, request ids, services' refusals and
unexpected failures."""

from __future__ import annotations

import logging

import pytest
from django.test import RequestFactory
from rest_framework.request import Request

from cardreveal.api.exceptions import api_exception_handler
from cardreveal.errors import ServiceError
from tests.api.conftest import assert_error


@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete", "options"])
def test_unknown_api_urls_are_a_json_404(api, db, method):
    response = getattr(api, method)("/api/v1/nothing/here")
    error = assert_error(response, 404, "not_found")
    assert "/api/v1/docs/" in error["message"]
    assert "no-store" in response["Cache-Control"]


def test_the_request_id_comes_from_the_client_when_well_formed(api, db):
    response = api.get("/api/v1/cards", HTTP_X_REQUEST_ID="app-7f3a9c2e")
    error = assert_error(response, 401, "not_authenticated")
    assert error["request_id"] == "app-7f3a9c2e"


def test_a_bad_request_id_is_replaced(api, db):
    response = api.get("/api/v1/cards", HTTP_X_REQUEST_ID="bad id\r\nSet-Cookie: x")
    error = assert_error(response, 401, "not_authenticated")
    assert len(error["request_id"]) == 32


def test_asking_for_anything_but_json_is_406(authed):
    response = authed.get("/api/v1/cards", HTTP_ACCEPT="text/html")
    assert_error(response, 406, "not_acceptable")


def test_an_unexpected_failure_is_a_plain_500_and_is_logged(
    authed, alice, make_card, monkeypatch, caplog
):
    import cardreveal.api.views as views

    def broken(**kwargs):
        raise RuntimeError("database on fire at /srv/secret/path")

    monkeypatch.setattr(views, "card_list_availability", broken)
    with caplog.at_level(logging.ERROR, logger="cardreveal.api.exceptions"):
        response = authed.get("/api/v1/cards")
    error = assert_error(response, 500, "server_error")
    assert "fire" not in response.content.decode()
    assert "/srv/secret" not in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    record = next(r for r in caplog.records if r.name == "cardreveal.api.exceptions")
    assert record.exc_info is not None
    assert record.status_code == 500
    assert record.request.path == "/api/v1/cards"
    assert error["request_id"] == response["X-Request-ID"]


@pytest.mark.parametrize(("retry_after", "header"), [(90, "90"), (None, None)])
def test_a_services_refusal_is_answered_with_its_code_message_status_and_retry_after(
    retry_after, header
):
    django_request = RequestFactory().post("/api/v1/auth/login")
    django_request.request_id = "req-7"
    refusal = ServiceError("account_locked", "Locked for now.", 423, retry_after=retry_after)
    response = api_exception_handler(refusal, {"request": Request(django_request)})
    assert response.status_code == 423
    assert response.data == {
        "error": {"code": "account_locked", "message": "Locked for now.", "request_id": "req-7"}
    }
    assert response.headers.get("Retry-After") == header
