"""django-oauth-toolkit's scopes backend: a client gets only the scopes its provisioning client lists."""

from __future__ import annotations

from typing import Any

from oauth2_provider.scopes import BaseScopes

from cardreveal.provisioning.models import SCOPES, ProvisioningClient


def _client_scopes(application: Any) -> list[str]:
    if application is None:
        return []
    client = ProvisioningClient.objects.filter(application=application).first()
    return client.scope_list if client is not None else []


class ProvisioningClientScopes(BaseScopes):
    """All scopes are the provisioning ones; a token asked without `scope` gets all its client's."""

    def get_all_scopes(self) -> dict[str, str]:
        return dict(SCOPES)

    def get_available_scopes(
        self, application: Any = None, request: Any = None, *args: Any, **kwargs: Any
    ) -> list[str]:
        return _client_scopes(application)

    def get_default_scopes(
        self, application: Any = None, request: Any = None, *args: Any, **kwargs: Any
    ) -> list[str]:
        return _client_scopes(application)
