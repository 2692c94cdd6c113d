"""Hostile request bodies are refused with a 4xx in the one error shape, never a 500: JSON nested
too deeply (400), bodies over the size limit (413, before anything reads them), lying or missing
Content-Length, and a run of them at sign-in is throttled before the body is read."""

from __future__ import annotations

import io

import pytest
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse
from django.test import RequestFactory
from rest_framework.request import Request

from cardreveal.api.exceptions import api_exception_handler
from cardreveal.api.parsers import BoundedJSONParser, RequestTooLarge
from cardreveal.middleware import RequestBodyLimitMiddleware
from tests.api.conftest import assert_error

DEEP = b"[" * 100_000
# Every operation that reads a body ({card} is one of alice's cards).
BODY_PATHS = [
    "/api/v1/auth/login",
    "/api/v1/cards/{card}/reveal",
    "/api/v1/otp-devices/totp",
    "/api/v1/otp-devices/totp/1/confirm",
]


def post_raw(client, path, body: bytes, **extra):
    return client.generic("POST", path, body, content_type="application/json", **extra)


def test_json_nested_100000_deep_at_sign_in_is_a_400_that_says_so(api, db):
    response = post_raw(api, "/api/v1/auth/login", DEEP)
    error = assert_error(response, 400, "json_too_deep")
    assert "nested" in str(error["message"])


@pytest.mark.parametrize("path", BODY_PATHS)
def test_json_nested_too_deep_is_a_400_on_every_operation_with_a_body(
    authed, alice, make_card, path
):
    card = make_card(alice.user)
    response = post_raw(authed, path.format(card=card.pk), DEEP)
    assert_error(response, 400, "json_too_deep")


def test_json_within_the_depth_limit_still_reaches_validation(api, db):
    response = post_raw(api, "/api/v1/auth/login", b'{"username": [[["x"]]]}')
    assert_error(response, 400, "invalid_input")


def test_json_just_past_the_depth_limit_is_refused_though_python_could_parse_it(api, db):
    body = b"[" * 100 + b"]" * 100
    assert_error(post_raw(api, "/api/v1/auth/login", body), 400, "json_too_deep")


def test_a_run_of_deep_bodies_at_sign_in_gets_429_once_the_address_limit_is_reached(api, db):
    answers = [post_raw(api, "/api/v1/auth/login", DEEP).status_code for _ in range(14)]
    assert set(answers) <= {400, 429}, answers
    assert 429 in answers, answers
    first = answers.index(429)
    assert answers[first:] == [429] * (14 - first), answers


def test_malformed_bodies_count_toward_the_sign_in_limit(api, db):
    answers = [post_raw(api, "/api/v1/auth/login", b"{not json").status_code for _ in range(14)]
    assert set(answers) == {400, 429}, answers
    assert answers[-1] == 429


def test_a_body_over_the_limit_is_a_413_before_it_is_read(api, db):
    body = b'{"username": "' + b"a" * (10 * 1024 * 1024) + b'"}'
    response = post_raw(api, "/api/v1/auth/login", body)
    error = assert_error(response, 413, "request_too_large")
    assert "MB" in str(error["message"])


def test_a_30_mb_body_is_a_413_on_a_signed_in_operation_too(authed):
    response = post_raw(authed, "/api/v1/otp-devices/totp", b" " * (30 * 1024 * 1024))
    assert_error(response, 413, "request_too_large")


def test_a_body_at_the_limit_is_read_and_judged_on_its_content(api, db):
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    body = b'{"username": "' + b"a" * (limit - 20) + b'"}'
    assert len(body) <= limit
    assert_error(post_raw(api, "/api/v1/auth/login", body), 400, "invalid_input")


@pytest.mark.parametrize("length", ["99999999999", "-1", "12abc", "1e3", "+5"])
def test_an_impossible_content_length_is_a_4xx_on_the_api(api, db, length):
    response = post_raw(api, "/api/v1/auth/login", b"{}", CONTENT_LENGTH=length)
    assert response.status_code in (400, 413), response.content
    assert response.json()["error"]["code"] in {"request_too_large", "invalid_content_length"}


def test_a_chunked_body_without_a_length_is_refused_with_411(api, db):
    response = api.generic(
        "POST",
        "/api/v1/auth/login",
        b"",
        content_type="application/json",
        HTTP_TRANSFER_ENCODING="chunked",
        CONTENT_LENGTH="",
    )
    assert_error(response, 411, "length_required")


def test_a_web_form_over_the_limit_is_a_413_page_not_a_500(client, db):
    response = client.generic(
        "POST",
        "/accounts/login/",
        b"username=" + b"a" * (30 * 1024 * 1024),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 413
    assert response["Content-Type"].startswith("text/html")
    assert b"too large" in response.content


def test_the_parser_reads_no_more_than_the_limit_whatever_the_header_said(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    stream = io.BytesIO(b'{"a": "' + b"x" * 5000 + b'"}')
    with pytest.raises(RequestTooLarge):
        BoundedJSONParser().parse(stream, "application/json", {})
    assert stream.tell() == 1025


def test_a_body_django_itself_finds_too_big_is_a_413_in_the_error_shape(db):
    request = Request(RequestFactory().post("/api/v1/auth/login"))
    response = api_exception_handler(RequestDataTooBig("too big"), {"request": request})
    assert response is not None
    assert response.status_code == 413
    assert response.data["error"]["code"] == "request_too_large"


def test_a_page_whose_view_finds_the_body_too_big_is_a_413_page(rf, db):
    from django.contrib.auth.models import AnonymousUser

    request = rf.post("/accounts/login/")
    request.user = AnonymousUser()
    middleware = RequestBodyLimitMiddleware(lambda r: HttpResponse())
    response = middleware.process_exception(request, RequestDataTooBig("too big"))
    assert response is not None
    assert response.status_code == 413
    assert b"That request was too large" in response.content
