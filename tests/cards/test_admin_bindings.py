"""A bank plugs in each provider's credentials through the admin and the binding works at once."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from cardreveal.cards.models import ProviderBinding
from providers.registry import provider_class, provider_kinds


def binding_form_data(kind: str, sandbox, name: str) -> dict[str, object]:
    """The add form filled in as an admin would, from the emulator's credentials."""
    emulator = sandbox.emulator(kind)
    secrets = emulator.binding_secrets()
    options = emulator.binding_options()
    cls = provider_class(kind)
    data: dict[str, object] = {
        "name": name,
        "kind": kind,
        "base_url": sandbox.url_for(kind),
        "enabled": "on",
    }
    for spec in cls.secret_fields:
        value = secrets.get(spec.name)
        if value in (None, "", b""):
            continue
        if spec.kind == "file":
            raw = value if isinstance(value, bytes) else value.encode()
            data[f"secret__{spec.name}"] = SimpleUploadedFile(f"{spec.name}.bin", raw)
        else:
            data[f"secret__{spec.name}"] = value
    for spec in cls.option_fields:
        value = options.get(spec.name, spec.default)
        if spec.kind == "bool":
            if value:
                data[f"option__{spec.name}"] = "on"
        elif value is not None:
            data[f"option__{spec.name}"] = str(value)
    return data


@pytest.mark.parametrize("kind", provider_kinds())
def test_admin_adds_a_working_binding_for_each_provider(admin_client, sandbox, kind):
    form = admin_client.get(f"/admin/cards/providerbinding/add/?kind={kind}").content.decode()
    for spec in provider_class(kind).secret_fields:
        assert f'name="secret__{spec.name}"' in form
    response = admin_client.post(
        f"/admin/cards/providerbinding/add/?kind={kind}",
        binding_form_data(kind, sandbox, f"{kind} bank"),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    binding = ProviderBinding.objects.get(name=f"{kind} bank")
    assert binding.kind == kind
    assert binding.secrets  # stored, encrypted at rest
    result = admin_client.post(
        "/admin/cards/providerbinding/",
        {"action": "check_connection", "_selected_action": [binding.pk]},
        follow=True,
    )
    [(level, message)] = [
        (m.level_tag, m.message)
        for m in result.context["messages"]
        if m.message.startswith(f"{binding.name}: ")
    ]
    assert level in ("success", "warning")  # without a test card, not everything is provable
    assert " accepted " in message


@pytest.mark.parametrize("kind", provider_kinds())
def test_enabling_a_binding_without_its_required_credentials_is_refused(
    admin_client, sandbox, kind
):
    data = binding_form_data(kind, sandbox, f"{kind} incomplete")
    required = [s for s in provider_class(kind).secret_fields if s.required]
    data.pop(f"secret__{required[0].name}", None)
    response = admin_client.post(f"/admin/cards/providerbinding/add/?kind={kind}", data)
    assert response.status_code == 200
    assert (
        "is required before the binding can be enabled" in response.content.decode()
        or "required" in response.content.decode().lower()
    )
    assert not ProviderBinding.objects.filter(name=f"{kind} incomplete").exists()
