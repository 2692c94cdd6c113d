"""Property-based run of schemathesis against the served schema, in-process over WSGI, with a real token.

For every operation it sends a bounded number of generated requests (valid and invalid ones) and
checks that no answer is a server error and every answer matches the schema: a documented status,
the documented content type, and a body valid against the documented response schema.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, connections
from hypothesis import HealthCheck, settings
from knox.settings import knox_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from cardreveal.api.models import ApiToken

MAX_EXAMPLES = 12

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


def _load_schema() -> schemathesis.BaseSchema:
    """The schema as the app serves it, loaded in-process over WSGI (no network, no server)."""
    loaded = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", get_wsgi_application())
    loaded.config.generation.update(max_examples=MAX_EXAMPLES, deterministic=True)
    # A reveal may meet an account locked by earlier generated wrong codes: 423 is a documented
    # refusal of that request, as good a rejection of bad data as a 403.
    rejection = loaded.config.checks.negative_data_rejection
    rejection.expected_statuses = [*rejection.expected_statuses, "423"]
    return loaded


# Loaded at import (pytest-django has set Django up by then). schemathesis' fixture-based loader
# (`schemathesis.pytest.from_fixture`) does not work with pytest 9: it touches a removed attribute.
schema = _load_schema()
# Serving the schema opened database connections before pytest-django switched to the test
# database; on PostgreSQL those would be reused, pointing at the wrong (and then closed) database.
connections.close_all()


@pytest.fixture
def keep_db_connection(db):
    """Keep the test's database connection across the in-process WSGI calls.

    The raw WSGI handler starts and ends each request with `close_old_connections` (Django's test client
    switches that off, schemathesis does not); on PostgreSQL it would close the connection that
    holds the test's transaction.
    """
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def alices_card(alice, make_card):
    return make_card(alice.user, label="Everyday")


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api_answers_every_generated_request_as_its_schema_says(
    case, keep_db_connection, alice, alices_card, no_throttles
):
    # A fresh real token per request: a generated logout must not starve the next requests.
    _record, token = ApiToken.objects.create(user=alice.user, expiry=knox_settings.TOKEN_TTL)
    path_parameters = case.path_parameters or {}
    if case.meta and case.meta.generation.mode.is_positive and "card_id" in path_parameters:
        path_parameters["card_id"] = str(alices_card.pk)  # also reach real cards, not only 404s
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)
