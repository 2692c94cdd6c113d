"""The binding form as an admin uses it: the provider's fields with their usual values once the
provider is chosen, nothing typed lost on an error (and the files to choose again named), and the
non-secret identifiers shown."""

from __future__ import annotations

import re

from django.core.files.uploadedfile import SimpleUploadedFile

from cardreveal.cards.models import ProviderBinding
from providers.thredd import UAT_BASE_URL
from tests.cards.test_admin_bindings import binding_form_data

ADD = "/admin/cards/providerbinding/add/"


def input_value(body: str, name: str) -> str | None:
    """The value an <input name=...> is rendered with (None when it has none)."""
    tag = re.search(rf'<input[^>]*name="{re.escape(name)}"[^>]*>', body)
    assert tag is not None, f"no input {name}"
    value = re.search(r'value="([^"]*)"', tag.group(0))
    return value.group(1) if value else None


def errors_of(body: str, name: str) -> str:
    """The text of the error list rendered next to field `name` ('' when none)."""
    row = re.search(rf'<div class="form-row[^"]*field-{re.escape(name)}[^"]*">(.*?)</fieldset|'
                    rf'<div class="form-row[^"]*field-{re.escape(name)}.*?(?=<div class="form-row)',
                    body, re.S)  # fmt: skip
    assert row is not None, f"no row for {name}"
    return " ".join(re.findall(r'<ul class="errorlist[^"]*"[^>]*>(.*?)</ul>', row.group(0), re.S))


def test_the_add_form_loads_the_provider_switching_script(admin_client):
    body = admin_client.get(ADD).content.decode()
    assert '<script src="/static/js/binding_kind.js"' in body
    assert 'name="secret__' not in body  # no provider chosen yet: no provider fields
    assert '<a href="?kind=thredd">Thredd Cards API</a>' in body  # the no-script way


def test_choosing_a_provider_shows_its_fields_with_their_usual_values(admin_client):
    body = admin_client.get(f"{ADD}?kind=thredd&name=Thredd+UAT").content.decode()
    assert input_value(body, "name") == "Thredd UAT"
    assert input_value(body, "base_url") == UAT_BASE_URL
    assert 'name="secret__client_id"' in body
    assert 'name="secret__client_secret"' in body
    assert input_value(body, "provider_fields_for") == "thredd"
    netxd = admin_client.get(f"{ADD}?kind=netxd").content.decode()
    assert input_value(netxd, "option__product") == "DEFAULT"
    assert "Usual value: DEFAULT." in netxd
    assert "Usual value: VISA_DPS." in netxd
    mastercard = admin_client.get(f"{ADD}?kind=mastercard").content.decode()
    assert "Usual value: encryptedValue." in mastercard
    assert "Usual value: on." in mastercard  # encrypt_payloads


def test_a_provider_chosen_without_the_script_comes_back_with_its_fields_filled(
    admin_client, sandbox
):
    first = admin_client.post(
        ADD, {"name": "NetXD bank", "kind": "netxd", "base_url": sandbox.url_for("netxd")}
    )
    assert first.status_code == 200
    body = first.content.decode()
    assert "Fill in the NetXD XD Ledger (card API v2) credentials and options below" in body
    assert input_value(body, "option__product") == "DEFAULT"
    assert input_value(body, "name") == "NetXD bank"
    assert input_value(body, "provider_fields_for") == "netxd"
    assert not ProviderBinding.objects.exists()
    # the page that came back, completed and sent again (to the same address) is saved
    data = binding_form_data("netxd", sandbox, "NetXD bank")
    data["provider_fields_for"] = "netxd"
    assert admin_client.post(ADD, data).status_code == 302
    assert ProviderBinding.objects.get().options["product"] == "DEFAULT"


def test_an_error_keeps_what_was_typed_and_names_the_files_to_choose_again(admin_client, sandbox):
    data = binding_form_data("mastercard", sandbox, "Mastercard MTF")
    data["secret__signing_key_password"] = "definitely-wrong"
    data["option__encrypted_value_field"] = "encryptedPayload"
    response = admin_client.post(f"{ADD}?kind=mastercard", data)
    assert response.status_code == 200
    body = response.content.decode()
    assert input_value(body, "name") == "Mastercard MTF"
    assert input_value(body, "base_url") == sandbox.url_for("mastercard")
    assert input_value(body, "option__encrypted_value_field") == "encryptedPayload"
    assert input_value(body, "secret__consumer_key") == data["secret__consumer_key"]
    for uploaded in ("signing_key_p12", "encryption_certificate", "decryption_key"):
        assert "Choose this file again" in errors_of(body, f"secret__{uploaded}"), uploaded
    assert "Type this again" in errors_of(body, "secret__decryption_key_password")
    assert "Choose this file again" not in errors_of(body, "secret__tls_ca_bundle")  # none chosen
    assert "definitely-wrong" not in body
    assert data["secret__decryption_key_password"] not in body
    assert not ProviderBinding.objects.exists()


def test_a_file_that_fails_is_named_on_the_change_form_and_the_stored_one_kept(
    admin_client, make_binding
):
    binding = make_binding("juspay")
    before = dict(binding.secrets)
    response = admin_client.post(
        f"/admin/cards/providerbinding/{binding.pk}/change/",
        {
            "name": binding.name,
            "base_url": binding.base_url,
            "enabled": "on",
            "secret__merchant_id": binding.secrets["merchant_id"],
            "secret__key_id": binding.secrets["key_id"],
            "secret__response_decryption_key": SimpleUploadedFile("key.pem", b"not a key"),
        },
    )
    assert response.status_code == 200
    assert "Choose this file again" in errors_of(
        response.content.decode(), "secret__response_decryption_key"
    )
    binding.refresh_from_db()
    assert binding.secrets == before


def test_the_change_form_shows_identifiers_and_hides_secrets(admin_client, make_binding):
    juspay = make_binding("juspay")
    body = admin_client.get(f"/admin/cards/providerbinding/{juspay.pk}/change/").content.decode()
    assert input_value(body, "secret__merchant_id") == juspay.secrets["merchant_id"]
    assert input_value(body, "secret__key_id") == juspay.secrets["key_id"]
    assert juspay.secrets["api_key"] not in body
    assert input_value(body, "secret__api_key") is None
    thredd = make_binding("thredd")
    body = admin_client.get(f"/admin/cards/providerbinding/{thredd.pk}/change/").content.decode()
    assert input_value(body, "secret__client_id") == thredd.secrets["client_id"]
    assert thredd.secrets["client_secret"] not in body
