"""docs/providers.md names every option a Mastercard, NetXD or JusBiz binding offers, with its
default, so a bank can see what to confirm with its provider before going live."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from providers.base import Provider
from providers.juspay import JuspayProvider
from providers.mastercard import MastercardProvider
from providers.netxd import NetxdProvider

DOCS = Path(__file__).resolve().parents[2] / "docs" / "providers.md"


def _section(text: str, kind: str) -> str:
    """The part of the page about `kind`: its own section and the unconfirmed-details rows."""
    heading = re.search(rf"^## .*\(`{kind}`\)$", text, re.MULTILINE)
    assert heading is not None, kind
    end = text.find("\n## ", heading.end())
    return text[heading.start() : end]


@pytest.mark.parametrize("provider", [MastercardProvider, NetxdProvider, JuspayProvider])
def test_every_option_is_documented_in_its_providers_section(provider: type[Provider]) -> None:
    section = _section(DOCS.read_text(), provider.kind)
    for spec in provider.option_fields:
        assert f"`{spec.name}`" in section, spec.name
        if spec.kind == "choice":
            for choice in spec.choices:
                assert f"`{choice}`" in section, (spec.name, choice)


def test_the_unconfirmed_list_names_the_new_options_with_their_defaults() -> None:
    text = DOCS.read_text()
    start = text.index("## Still unconfirmed")
    listing = text[start : text.index("\n## ", start + 1)]
    for option, default in (
        ("client_key_padding", "oaep-sha256"),
        ("payload_serialisation", "compact"),
        ("encrypt_payloads", "on"),
        ("credential_source", "credential_secret"),
        ("channel_spelling", "VISA_DPS"),
    ):
        assert re.search(rf"`{option}` \(`?{default}", listing), option
    assert "BadRequestInvalidCardContractTypeError" in listing
    assert "encryptedResponse" in listing
