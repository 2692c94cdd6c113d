"""docs/api.md documents every field of every answer the API gives, as the served schema describes
it: no field missing, none that is gone, nullability and enum values as they are."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SECTION = "## What each answer holds"


def documented_components() -> dict[str, dict[str, str]]:
    """docs/api.md's fields section: component name -> {field: the row's type and meaning}."""
    text = (ROOT / "docs" / "api.md").read_text()
    section = text.split(f"\n{SECTION}\n", 1)[1].split("\n## ", 1)[0]
    components: dict[str, dict[str, str]] = {}
    for block in section.split("\n### ")[1:]:
        name = re.match(r"`(\w+)`", block).group(1)
        rows = re.findall(r"^\| `(\w+)` \| (.+) \|$", block, flags=re.MULTILINE)
        components[name] = dict(rows)
    return components


def _refs(node: object) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"].rsplit("/", 1)[1]} if "$ref" in node else set()
        for value in node.values():
            found |= _refs(value)
        return found
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node)) if node else set()
    return set()


def answer_components(schema: dict) -> set[str]:
    """Every component with properties that some answer (any status) contains, however deep."""
    components = schema["components"]["schemas"]
    todo = {
        ref
        for operations in schema["paths"].values()
        for operation in operations.values()
        for ref in _refs(operation["responses"])
    }
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo |= _refs(components[name]) - seen
    return {name for name in seen if "properties" in components[name]}


def test_every_answer_component_has_a_section(schema):
    assert answer_components(schema) <= set(documented_components())


def test_each_section_names_exactly_the_fields_the_api_returns(schema):
    components = schema["components"]["schemas"]
    for name, rows in documented_components().items():
        assert name in components, f"docs/api.md documents {name}, which no longer exists"
        assert set(rows) == set(components[name]["properties"]), name


def test_nullable_fields_say_so_and_others_do_not(schema):
    components = schema["components"]["schemas"]
    for name, rows in documented_components().items():
        for field, row in rows.items():
            nullable = bool(components[name]["properties"][field].get("nullable"))
            field_type = row.split(" | ", 1)[0]
            assert ("or null" in field_type) == nullable, (name, field, field_type)


def test_every_value_of_an_enum_field_is_named(schema):
    components = schema["components"]["schemas"]
    for name, rows in documented_components().items():
        for field, row in rows.items():
            for ref in _refs(components[name]["properties"][field]):
                for value in components[ref].get("enum", []):
                    if value is not None:  # a nullable enum's null says "or null" instead
                        assert f"`{value}`" in row, (name, field, value)


def test_the_section_is_read_at_all():
    components = documented_components()
    assert {"Card", "RevealEvent", "LoginResult", "ApiToken"} <= set(components)
    assert "expiry_month" in components["Card"]
