"""Log injection (T-AUD-3): control characters from user input are escaped in audit records."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cardreveal.audit.models import AuthEvent, RevealEvent
from cardreveal.audit.services import _escaped, escape_control
from tests.audit.conftest import web_reveal

FORGED_LINE = "Mozilla\r\n2026-01-01 00:00:00 admin revealed ok\x1b[2J\x00"


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("plain text", "plain text"),
        ("a\nb\rc\td", "a\\x0ab\\x0dc\\x09d"),
        ("nul\x00 esc\x1b del\x7f", "nul\\x00 esc\\x1b del\\x7f"),
        ("c1\x85 csi\x9b", "c1\\x85 csi\\x9b"),
        ("line\u2028para\u2029", "line\\u2028para\\u2029"),
        ("bidi\u202euser\u2066", "bidi\\u202euser\\u2066"),
        ("back\\x0aslash", "back\\\\x0aslash"),  # a typed escape stays distinguishable
        ("émoji ✓ 日本", "émoji ✓ 日本"),
    ],
)
def test_control_characters_are_escaped(raw, stored):
    assert escape_control(raw, limit=200) == stored


def test_the_cut_never_splits_an_escape():
    assert escape_control("ab\ncd", limit=4) == "ab"
    assert escape_control("ab\ncd", limit=6) == "ab\\x0a"
    assert len(escape_control("\n" * 1000, limit=300)) <= 300


def test_a_user_agent_cannot_forge_lines_in_a_reveal_record(
    signed_in, alice, card, clock, client_key
):
    web_reveal(signed_in, card, alice, clock, client_key, user_agent=FORGED_LINE)
    stored = RevealEvent.objects.get().user_agent
    assert "\r" not in stored
    assert "\n" not in stored
    assert "\x1b" not in stored
    assert "\x00" not in stored
    assert stored.startswith("Mozilla\\x0d\\x0a2026-01-01")


def test_a_typed_user_name_cannot_forge_lines_in_an_account_record(client, db):
    client.post(
        "/accounts/login/",
        {"username": "eve\nadmin login success", "password": "whatever-long"},
        HTTP_USER_AGENT=FORGED_LINE,
    )
    event = AuthEvent.objects.get(event=AuthEvent.Event.LOGIN_FAILED)
    assert event.username == "eve\\x0aadmin login success"
    assert "\n" not in event.user_agent
    assert "\r" not in event.user_agent


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=60), st.integers(0, 80))
def test_text_that_needs_no_escape_is_stored_as_it_is_and_the_rest_as_per_character(text, limit):
    # The fast path (no character to escape, short enough) must agree with the per-character one.
    per_character = "".join(_escaped(char) for char in text)
    expected = per_character if len(per_character) <= limit else None
    stored = escape_control(text, limit=limit)
    if expected is not None:
        assert stored == expected
    else:
        assert len(stored) <= limit
        assert per_character.startswith(stored)


def test_every_character_that_is_escaped_is_seen_by_the_fast_path():
    # Exhaustive over the whole of Unicode: a character the quick check missed would be stored raw.
    for code in range(0x110000):
        if 0xD800 <= code <= 0xDFFF:
            continue  # surrogates: not characters of a decoded string
        char = chr(code)
        assert (escape_control(char, limit=10) == char) == (_escaped(char) == char), hex(code)
