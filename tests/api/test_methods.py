"""Which methods each API path answers: the ones its operations list (GET ones also HEAD); any other,
OPTIONS included, is `405 method_not_allowed` with `Allow`, the same signed in or not, and says
nothing about the code behind it."""

from __future__ import annotations

import uuid

import pytest
from rest_framework.test import APIClient

from tests.api.conftest import assert_error

ALL = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
EXAMPLE_IDS = {
    "card_id": str(uuid.uuid4()),
    "token_id": str(uuid.uuid4()),
    "device_id": "1",
    "external_id": "C-1",
}


def concrete(path: str) -> str:
    return path.format(**EXAMPLE_IDS)


def test_every_path_refuses_the_methods_it_does_not_list_before_any_token_check(schema, authed):
    for path, operations in schema["paths"].items():
        listed = {method.upper() for method in operations}
        allowed = listed | ({"HEAD"} if "GET" in listed else set())
        for method in sorted(ALL - allowed):
            for client in (APIClient(), authed):
                response = client.generic(method, concrete(path))
                if method == "HEAD":  # an answer to HEAD has no body
                    assert response.status_code == 405, (path, method)
                else:
                    assert_error(response, 405, "method_not_allowed")
                assert set(response["Allow"].split(", ")) == allowed, (path, method)
                assert "no-store" in response["Cache-Control"]


def test_options_answers_no_metadata(schema, authed):
    for path in schema["paths"]:
        response = authed.options(concrete(path))
        body = response.content.decode()
        assert response.status_code == 405, path
        for internal in ("Api", "renders", "parses", "Serializer", "cardreveal"):
            assert internal not in body, (path, internal)


@pytest.mark.parametrize("path", ["/api/v1/schema/", "/api/v1/docs/"])
def test_the_schema_and_docs_answer_get_and_head_only(client, db, path):
    for method in ("GET", "HEAD"):
        assert client.generic(method, path).status_code == 200, method
    for method in ("OPTIONS", "POST", "DELETE"):
        response = client.generic(method, path)
        assert response.status_code == 405, method
        assert response["Allow"] == "GET, HEAD"


def test_an_unknown_path_lists_no_methods(api, db):
    response = api.options("/api/v1/nothing/here")
    assert_error(response, 404, "not_found")
    assert "Allow" not in response
