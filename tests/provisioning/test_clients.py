"""Provisioning clients made, rotated and revoked by command or in the admin: the secret shown once,
stored only hashed, each step audited."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import CommandError, call_command
from oauth2_provider.models import Application

from cardreveal.audit.models import AuthEvent
from cardreveal.provisioning.models import ProvisioningClient
from tests.provisioning.conftest import bearer, token_for


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("provisioning_client", *args, stdout=out)
    return out.getvalue()


def test_the_command_prints_a_secret_that_is_stored_only_hashed(db):
    printed = run("create", "Core banking", "--scope", "changes:read")

    client_id = re.search(r"client_id: (\S+)", printed).group(1)
    secret = re.search(r"client_secret: (\S+)", printed).group(1)
    application = Application.objects.get(client_id=client_id)
    assert application.client_secret != secret
    assert secret not in application.client_secret
    assert application.provisioning_client.scope_list == ["changes:read"]
    assert AuthEvent.objects.filter(reason="provisioning_client_created").count() == 1


def test_the_command_refuses_an_unknown_scope_in_words(db):
    with pytest.raises(CommandError, match="invalid choice: 'cards:read'"):
        run("create", "Core banking", "--scope", "cards:read")
    assert not ProvisioningClient.objects.exists()


def test_rotate_then_revoke_by_command(make_client, db):
    old = make_client()
    old_token = token_for(old)

    printed = run("rotate", old.client_id)
    run("revoke", old.client_id)

    assert f"revoke {old.client_id}" in printed
    assert bearer(old_token).get("/api/v1/provisioning/changes").status_code == 401
    assert ProvisioningClient.objects.count() == 1


def test_the_admin_shows_a_new_clients_secret_once_and_not_again(admin_client):
    answer = admin_client.post(
        "/admin/provisioning/provisioningclient/add/",
        {"name": "Core banking", "scopes": ["cards:write"], "requests_per_minute": 60},
    )

    issued = answer.context["issued"]
    assert issued.client_secret in answer.content.decode()
    assert "no-store" in answer["Cache-Control"]
    listing = admin_client.get("/admin/provisioning/provisioningclient/").content.decode()
    assert issued.client_id in listing
    assert issued.client_secret not in listing
