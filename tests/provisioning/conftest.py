"""Provisioning clients with real OAuth2 tokens from the token endpoint, and a binding to provision on."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from cardreveal.provisioning.clients import IssuedCredentials, provisioning_client_create
from tests.api.conftest import alice_token, api  # noqa: F401  (a cardholder's token, no token)

ALL_SCOPES = ["cardholders:write", "cards:write", "changes:read"]


def token_for(issued: IssuedCredentials, scope: str | None = None) -> str:
    """An access token from POST /api/v1/provisioning/token (client credentials, HTTP Basic)."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=_basic(issued.client_id, issued.client_secret))
    data = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
    answer = client.post("/api/v1/provisioning/token", data, format="multipart")
    assert answer.status_code == 200, answer.content
    return str(answer.json()["access_token"])


def _basic(client_id: str, secret: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def make_client(db: None) -> Callable[..., IssuedCredentials]:
    def make(scopes: list[str] | None = None, **kwargs: object) -> IssuedCredentials:
        return provisioning_client_create(
            name=kwargs.pop("name", "Core banking"),  # type: ignore[arg-type]
            scopes=ALL_SCOPES if scopes is None else scopes,
            **kwargs,  # type: ignore[arg-type]
        )

    return make


@pytest.fixture
def bank(make_client: Callable[..., IssuedCredentials]) -> APIClient:
    """An API client holding a token of a provisioning client with every scope."""
    return bearer(token_for(make_client()))


@pytest.fixture
def binding(make_binding: Callable[..., object]) -> object:
    return make_binding("mastercard")
