"""Every status (and, for the reveal, every error code) the API can answer is declared in the
OpenAPI schema for that operation and in docs/api.md's error table.

The reveal's refusals are found by walking the code that raises them (the reveal service's
`RevealError`s, the OTP failures, the quota windows, the provider error taxonomy), so a new refusal
that nobody declared fails here.
"""

from __future__ import annotations

import ast
import inspect
import re
import types
from pathlib import Path

import pytest

from cardreveal.accounts.otp import OtpFailure
from cardreveal.accounts.passkeys import PasskeyFailure
from cardreveal.cards import quotas
from cardreveal.cards import services as reveal_services
from providers.errors import ProviderError

ROOT = Path(__file__).resolve().parents[2]
REVEAL = ("/api/v1/cards/{card_id}/reveal", "post")

# What DRF and the API's own plumbing answer before or around the reveal service.
FRAMEWORK_ANSWERS = {
    ("invalid_input", 400),
    ("malformed_json", 400),
    ("json_too_deep", 400),
    ("invalid_content_length", 400),
    ("length_required", 411),
    ("request_too_large", 413),
    ("not_authenticated", 401),
    ("authentication_failed", 401),
    ("otp_required", 403),
    ("csrf_failed", 403),
    ("permission_denied", 403),
    ("not_acceptable", 406),
    ("unsupported_media_type", 415),
    ("throttled", 429),
    ("server_error", 500),
    ("limits_unavailable", 503),
    ("temporarily_unavailable", 503),
}

# The RevealErrors whose code is not written where they are raised: `exc.code` of a used-up quota
# and of a provider that cannot be set up or fails (ProviderError), `failure.value` and
# `OtpFailure.THROTTLED.value` of an OTP check, `failure.value` of a passkey check too, `first.code`
# of a standing blocker. Each source is enumerated in `reveal_answers`.
DYNAMIC_CODES = {
    "exc.code": 2,
    "failure.value": 2,
    "OtpFailure.THROTTLED.value": 1,
    "first.code": 1,
}


def _provider_errors() -> set[tuple[str, int]]:
    found: list[type[ProviderError]] = [ProviderError]
    for klass in found:
        found.extend(klass.__subclasses__())
    return {(klass.code, klass.status_code) for klass in found}


def _literal_reveal_errors() -> tuple[set[tuple[str, int]], dict[str, int]]:
    """(code, status) of every `RevealError("code", message, status)` in the reveal service, and
    how many raise sites take their code from elsewhere, by the expression they use."""
    tree = ast.parse(inspect.getsource(reveal_services))
    literal: set[tuple[str, int]] = set()
    dynamic: dict[str, int] = {}
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "RevealError"
        ):
            continue
        code, _message, status = node.args[:3]
        if isinstance(code, ast.Constant):
            assert isinstance(status, ast.Constant), ast.unparse(node)
            literal.add((code.value, status.value))
        else:
            dynamic[ast.unparse(code)] = dynamic.get(ast.unparse(code), 0) + 1
    return literal, dynamic


def reveal_answers() -> set[tuple[str, int]]:
    """Every (code, status) the reveal operation can answer with an error."""
    literal, dynamic = _literal_reveal_errors()
    # A new kind of dynamic code needs its source added below before this walk is complete.
    assert dynamic == DYNAMIC_CODES, dynamic
    otp = {(failure.value, reveal_services._OTP_STATUS.get(failure, 403)) for failure in OtpFailure}
    otp |= {
        (failure.value, reveal_services._PASSKEY_STATUS.get(failure, 403))
        for failure in PasskeyFailure
    }
    fake = types.SimpleNamespace(pk=1)
    quota = {(w.code, 429) for w in quotas._windows(user=fake, card=fake, now=0.0)}
    blockers = set(reveal_services._BLOCKER_STATUS.items())
    return literal | otp | quota | blockers | _provider_errors() | FRAMEWORK_ANSWERS


def test_the_walk_finds_the_refusals_people_meet():
    answers = reveal_answers()
    for expected in [
        ("cvv_blocked", 409),
        ("otp_throttled", 429),
        ("quota_card_day", 429),
        ("reveals_paused", 503),
        ("client_key_invalid", 400),
        ("internal_error", 500),
        ("provider_timeout", 504),
    ]:
        assert expected in answers


def test_every_reveal_error_is_declared_with_its_status_and_code(schema):
    path, method = REVEAL
    responses = schema["paths"][path][method]["responses"]
    missing = [
        (code, status)
        for code, status in sorted(reveal_answers())
        if str(status) not in responses or f"`{code}`" not in responses[str(status)]["description"]
    ]
    assert not missing, f"declare these in CardRevealApi's responses: {missing}"


def test_the_reveal_declares_no_status_it_cannot_answer(schema):
    path, method = REVEAL
    declared = {int(s) for s in schema["paths"][path][method]["responses"] if s != "200"}
    assert declared == {status for _code, status in reveal_answers()}


def _error_table() -> dict[int, str]:
    """docs/api.md's error table: status -> the codes cell."""
    text = (ROOT / "docs" / "api.md").read_text()
    section = text.split("\n## Errors\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (\d{3}) \| (.+) \|$", section, flags=re.MULTILINE)
    return {int(status): codes for status, codes in rows}


def test_docs_error_table_lists_every_reveal_error_under_its_status():
    table = _error_table()
    missing = [
        (code, status)
        for code, status in sorted(reveal_answers())
        if f"`{code}`" not in table.get(status, "")
    ]
    assert not missing, f"add these to docs/api.md's error table: {missing}"


def test_docs_error_table_has_a_row_for_every_status_the_schema_declares(schema):
    declared = {
        int(status)
        for operations in schema["paths"].values()
        for operation in operations.values()
        for status in operation["responses"]
        if status[0] in "45"
    }
    assert declared <= set(_error_table()) | {405}


def test_every_operation_declares_length_negotiation_throttling_server_errors_and_outages(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert {"400", "406", "411", "413", "429", "500", "503"} <= set(responses)
            assert "`temporarily_unavailable`" in responses["503"]["description"], (path, method)
            assert "`invalid_content_length`" in responses["400"]["description"], (path, method)


def test_every_operation_that_reads_a_body_declares_the_bodys_refusals(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if "requestBody" in operation:
                description = operation["responses"]["400"]["description"]
                assert "`malformed_json`" in description, (path, method)
                assert "`json_too_deep`" in description, (path, method)


def test_403_is_declared_exactly_where_a_browser_session_or_a_scope_may_refuse(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            schemes = {name for entry in operation.get("security", []) for name in entry}
            refusers = {"cookieAuth", "oauth2"}  # a session's CSRF and code step; a client's scope
            assert ("403" in operation["responses"]) == bool(schemes & refusers), (path, method)


@pytest.mark.parametrize(
    ("status", "code"),
    [(409, "cvv_blocked"), (404, "card_details_mismatch"), (504, "provider_timeout")],
)
def test_provider_failures_are_named_in_the_reveals_description(schema, status, code):
    path, method = REVEAL
    assert f"`{code}`" in schema["paths"][path][method]["responses"][str(status)]["description"]
