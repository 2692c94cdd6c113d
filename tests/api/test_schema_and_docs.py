"""The OpenAPI schema served at /api/v1/schema/ and the Swagger UI page under the strict CSP."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import yaml
from django.core.management import call_command
from django.urls import URLPattern

from cardreveal.api import urls as api_urls

NON_OPERATIONS = {"schema", "docs", "not-found"}


def documented_path(pattern: URLPattern) -> str:
    route = str(pattern.pattern)
    return "/api/v1/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)


def test_schema_is_served_as_yaml_and_json(client, db):
    as_yaml = client.get("/api/v1/schema/")
    assert as_yaml.status_code == 200
    assert yaml.safe_load(as_yaml.content)["openapi"].startswith("3.")
    as_json = client.get("/api/v1/schema/?format=json")
    assert json.loads(as_json.content)["info"]["title"] == "cardreveal API"


def test_schema_is_valid_openapi_without_generator_warnings(tmp_path):
    # --validate checks it against the OpenAPI 3 JSON schema; --fail-on-warn fails on anything
    # drf-spectacular could not describe.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "s.yaml"))
    assert (tmp_path / "s.yaml").read_text().startswith("openapi: 3.")


def test_every_endpoint_is_documented(schema):
    expected = {
        documented_path(p)
        for p in api_urls.urlpatterns
        if isinstance(p, URLPattern) and p.name not in NON_OPERATIONS
    }
    assert expected == set(schema["paths"])


def test_every_operation_documents_its_errors_in_the_one_shape(schema):
    error_ref = "#/components/schemas/Error"
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert any(code.startswith("2") for code in responses), (path, method)
            assert "429" in responses, (path, method)
            if path != "/api/v1/auth/login":
                assert "401" in responses, (path, method)
                assert operation["security"], (path, method)
            for code, response in responses.items():
                if code.startswith(("4", "5")):
                    media = response["content"]["application/json"]["schema"]
                    assert media["$ref"] == error_ref, (path, method, code)


def test_the_error_shape_is_described(schema):
    detail = schema["components"]["schemas"]["ErrorDetail"]
    assert set(detail["required"]) == {"code", "message", "request_id"}
    assert "fields" in detail["properties"]


def test_the_reveal_operation_documents_the_sealed_format(schema):
    operation = schema["paths"]["/api/v1/cards/{card_id}/reveal"]["post"]
    assert {"400", "403", "404", "409", "415", "423", "429", "500", "502", "503", "504"} <= set(
        operation["responses"]
    )
    text = operation["description"]
    for needle in (
        "jwe-rsa-oaep-256-a256gcm",
        "RSA-OAEP-256",
        "A256GCM",
        "MGF1",
        "additional authenticated data",
        '{"cvv": "123"}',
        "rsa-oaep-256-hex",
    ):
        assert needle in text, needle
    request = schema["components"]["schemas"]["RevealRequest"]
    # The step-up is one of two fields: a code, or a passkey's assertion.
    assert set(request["required"]) == {"public_key"}
    assert {"otp_code", "passkey_assertion"} <= set(request["properties"])
    assert "passkey_assertion" in request["properties"]["otp_code"]["description"]
    assert "SubjectPublicKeyInfo" in request["properties"]["public_key"]["description"]
    assert operation["requestBody"]["content"]["application/json"]["examples"]


def test_token_auth_is_a_bearer_scheme(schema):
    scheme = schema["components"]["securitySchemes"]["tokenAuth"]
    assert scheme["type"] == "http"
    assert scheme["scheme"] == "bearer"


def test_login_needs_no_token(schema):
    assert schema["paths"]["/api/v1/auth/login"]["post"]["security"] == [{}]


# ---------------------------------------------------------------------------------- docs page


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.inline_script = False
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.inline_script = True


def test_docs_page_loads_only_its_own_script_files_under_the_strict_csp(client, db):
    response = client.get("/api/v1/docs/")
    assert response.status_code == 200
    csp = response["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";") if " " in d.strip())
    assert "'unsafe-inline'" not in csp
    assert "'unsafe-eval'" not in csp
    assert directives["default-src"] == "'self'"
    nonce = re.search(r"'nonce-([^']+)'", directives["script-src"]).group(1)

    parser = _Tags()
    parser.feed(response.content.decode())
    assert not parser.inline_script
    scripts = [attrs for tag, attrs in parser.tags if tag == "script"]
    assert len(scripts) == 2
    assert all(attrs["nonce"] == nonce for attrs in scripts)
    assert not [tag for tag, _ in parser.tags if tag == "style"]
    assert not [attrs for _, attrs in parser.tags if "style" in attrs]

    assets = [attrs["src"] for attrs in scripts] + [
        attrs["href"] for tag, attrs in parser.tags if tag == "link"
    ]
    assert any("swagger-ui-bundle.js" in a for a in assets)
    for asset in assets:
        assert asset.startswith("/static/"), asset  # served by the app, no CDN
        fetched = client.get(asset)
        assert fetched.status_code == 200, asset
        body = b"".join(fetched.streaming_content) if fetched.streaming else fetched.content
        assert body, asset


def test_docs_page_points_swagger_ui_at_the_schema(client, db):
    body = client.get("/api/v1/docs/").content.decode()
    assert 'data-schema-url="/api/v1/schema/?format=json"' in body
    assert client.get("/api/v1/schema/?format=json").status_code == 200


def test_the_card_schema_documents_whether_and_until_when_a_card_can_be_revealed(schema):
    components = schema["components"]["schemas"]
    reveal = components["Card"]["properties"]["reveal"]
    assert "RevealAvailability" in str(reveal)
    availability = components["RevealAvailability"]["properties"]
    assert set(availability) == {"available", "code", "message", "until", "blockers"}
    assert availability["until"]["format"] == "date-time"
    assert availability["until"]["nullable"] is True
    assert availability["until"]["description"]
    codes = str(components["RevealBlocker"]["properties"]["code"]) + str(components)
    for code in ("account_locked", "reveals_paused", "reveal_cooloff", "quota_card_day"):
        assert code in codes
