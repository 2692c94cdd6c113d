"""Provisioning clients: create one (its secret shown once), rotate its secret, revoke it."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import get_application_model

from cardreveal.audit.models import AuthEvent
from cardreveal.audit.services import auth_event_record
from cardreveal.client_info import SYSTEM_CLIENT, ClientInfo
from cardreveal.errors import ServiceError
from cardreveal.provisioning.models import ProvisioningClient


@dataclass(frozen=True)
class IssuedCredentials:
    """A client's id and its secret, in clear this once (only a hash of the secret is stored)."""

    client: ProvisioningClient
    client_id: str
    client_secret: str


def _audit(what: str, client: ProvisioningClient, *, by: object, client_info: ClientInfo) -> None:
    auth_event_record(
        event=AuthEvent.Event.ADMIN_CHANGE,
        outcome=AuthEvent.Outcome.SUCCESS,
        user=by,
        reason=what,
        client=client_info,
        resource=f"provisioning-client:{client.application.client_id}",
        detail=f"{client.application.name}; scopes={client.scopes}; "
        f"rate={client.requests_per_minute}/min",
    )


def provisioning_client_create(
    *,
    name: str,
    scopes: list[str],
    requests_per_minute: int = 120,
    by: object = None,
    client_info: ClientInfo = SYSTEM_CLIENT,
) -> IssuedCredentials:
    """A new OAuth2 client (client credentials grant) with these scopes and rate."""
    application_model = get_application_model()
    secret = generate_client_secret()
    with transaction.atomic():
        application = application_model(
            name=name,
            client_type=application_model.CLIENT_CONFIDENTIAL,
            authorization_grant_type=application_model.GRANT_CLIENT_CREDENTIALS,
            client_secret=secret,
            hash_client_secret=True,
        )
        application.full_clean()
        application.save()
        client = ProvisioningClient(
            application=application,
            scopes=" ".join(scopes),
            requests_per_minute=requests_per_minute,
        )
        try:
            client.full_clean()
        except ValidationError as exc:
            raise ServiceError(
                "invalid_client", " ".join(m for ms in exc.message_dict.values() for m in ms)
            ) from exc
        client.save()
        _audit("provisioning_client_created", client, by=by, client_info=client_info)
    return IssuedCredentials(client=client, client_id=application.client_id, client_secret=secret)


def _client(client_id: str) -> ProvisioningClient:
    client = (
        ProvisioningClient.objects.select_related("application")
        .filter(application__client_id=client_id)
        .first()
    )
    if client is None:
        raise ServiceError("not_found", f"No provisioning client has the id {client_id!r}.", 404)
    return client


def provisioning_client_rotate(
    *, client_id: str, by: object = None, client_info: ClientInfo = SYSTEM_CLIENT
) -> IssuedCredentials:
    """A second client with the same name, scopes and rate: both work until the old one is revoked."""
    old = _client(client_id)
    return provisioning_client_create(
        name=old.application.name,
        scopes=old.scope_list,
        requests_per_minute=old.requests_per_minute,
        by=by,
        client_info=client_info,
    )


def provisioning_client_revoke(
    *, client_id: str, by: object = None, client_info: ClientInfo = SYSTEM_CLIENT
) -> None:
    """Delete the client: its secret and every token it holds stop working at once."""
    with transaction.atomic():
        client = _client(client_id)
        _audit("provisioning_client_revoked", client, by=by, client_info=client_info)
        client.application.delete()
