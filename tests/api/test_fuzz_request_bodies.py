"""Fuzzing what reads a request before any view does: the JSON parser, the body-length check, and
the operations that take a body, with any bytes (hypothesis) and with schemathesis' negative data;
the property is always the same: a 2xx or a 4xx in the API's error shape, never an exception."""

from __future__ import annotations

import io
import json

import pytest
from django.conf import settings as django_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from knox.settings import knox_settings
from rest_framework.exceptions import APIException, ParseError
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import negative_data_rejection, status_code_conformance

from cardreveal.api.models import ApiToken
from cardreveal.api.parsers import MAX_JSON_DEPTH, BoundedJSONParser, json_depth
from cardreveal.middleware import body_refusal
from tests.api.test_schemathesis import _load_schema, keep_db_connection  # noqa: F401 (a fixture)

EXAMPLES = 150  # per property: enough to find the edges, a second or two each

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=60,
)
# Bytes rich in what JSON parsers trip on: brackets, quotes, escapes, numbers, odd encodings.
jsonish = st.lists(
    st.sampled_from([b"[", b"]", b"{", b"}", b'"', b"\\", b",", b":", b"1e999", b"-", b"NaN"])
    | st.binary(max_size=8),
    max_size=400,
).map(b"".join)
# Runs of openers deep enough to exhaust a recursive parser, with anything after them.
deep = st.builds(
    lambda n, opener, tail: opener * n + tail,
    st.integers(min_value=0, max_value=150_000),
    st.sampled_from([b"[", b"{", b'{"a":', b"[{"]),
    st.binary(max_size=20),
)
bodies = (
    st.binary(max_size=2000) | jsonish | deep | json_values.map(lambda v: json.dumps(v).encode())
)


def parse(raw: bytes) -> object:
    return BoundedJSONParser().parse(io.BytesIO(raw), "application/json", {})


@settings(max_examples=EXAMPLES, deadline=None)
@given(raw=bodies)
def test_the_json_parser_returns_data_or_refuses_with_an_api_error(raw):
    outcome: object
    try:
        outcome = json_depth(parse(raw))
    except APIException as exc:
        outcome = exc
    if isinstance(outcome, APIException):
        assert outcome.status_code in (400, 413)
    else:
        assert isinstance(outcome, int)
        assert outcome <= MAX_JSON_DEPTH


@settings(max_examples=EXAMPLES, deadline=None)
@given(depth=st.integers(min_value=0, max_value=5000), opener=st.sampled_from([b"[", b'{"a":']))
def test_the_json_parser_refuses_exactly_the_bodies_nested_past_the_limit(depth, opener):
    closer = b"]" if opener == b"[" else b"}"
    raw = opener * depth + b"0" + closer * depth
    if depth <= MAX_JSON_DEPTH:
        assert json_depth(parse(raw)) == depth
    else:
        with pytest.raises(ParseError) as refused:
            parse(raw)
        assert refused.value.get_codes() == "json_too_deep"


@settings(max_examples=EXAMPLES, deadline=None)
@given(declared=st.text(max_size=15) | st.integers(min_value=-(10**12), max_value=10**12).map(str))
def test_the_length_check_lets_through_only_a_whole_number_within_the_limit(declared):
    refusal = body_refusal({"CONTENT_LENGTH": declared})
    text = declared.strip()
    fine = not text or (
        text.isascii()
        and text.isdigit()
        and int(text) <= django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    )
    assert (refusal is None) == fine
    if refusal is not None:
        assert refusal.status in (400, 413)
        assert refusal.message


content_types = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-16",
        "text/plain",
        "",
        "multipart/form-data",
    ]
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(raw=bodies, content_type=content_types)
def test_sign_in_answers_any_body_with_a_4xx_in_the_error_shape(
    api, db, no_throttles, raw, content_type
):
    response = api.generic("POST", "/api/v1/auth/login", raw, content_type=content_type)
    assert 400 <= response.status_code < 500, response.content
    assert set(response.json()["error"]) >= {"code", "message", "request_id"}


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(raw=bodies)
def test_a_reveal_answers_any_body_with_a_4xx_and_reaches_no_provider(
    authed, alice, make_card, provider_calls, no_throttles, raw
):
    card = make_card(alice.user)
    calls = provider_calls("mastercard")
    response = authed.generic(
        "POST", f"/api/v1/cards/{card.pk}/reveal", raw, content_type="application/json"
    )
    assert 400 <= response.status_code < 500, response.content
    assert calls.count == 0


# schemathesis, negative data only, on every operation that takes a body: more examples than the
# mixed run in test_schemathesis.py, checking that each is refused with a declared 4xx.
negative = _load_schema()
negative.config.generation.update(modes=[GenerationMode.NEGATIVE], max_examples=25)


@negative.include(method="POST").parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_negative_data_on_every_body_is_a_declared_4xx(
    case,
    keep_db_connection,  # noqa: F811 (the fixture imported above)
    alice,
    no_throttles,
):
    _record, token = ApiToken.objects.create(user=alice.user, expiry=knox_settings.TOKEN_TTL)
    case.call_and_validate(
        headers={"Authorization": f"Bearer {token}"},
        checks=[not_a_server_error, status_code_conformance, negative_data_rejection],
    )
