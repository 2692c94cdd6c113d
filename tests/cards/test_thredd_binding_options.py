"""Thredd's authentication options as a bank admin meets them: the binding form asks for what the
chosen authentication needs and for a token URL where Thredd publishes none, and Check connection
tells a refused client assertion or a wrong token URL in words the admin can act on."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from cardreveal.cards.bindings import encoded_secrets
from cardreveal.cards.models import ProviderBinding
from providers.sandbox.core import Fault
from providers.sandbox.server import start_sandbox
from providers.sandbox.thredd import ThreddEmulator
from providers.sandbox.tls import ThrowawayCA, server_tls_context
from tests.cards.test_admin_bindings import binding_form_data

ADD = "/admin/cards/providerbinding/add/?kind=thredd"
CHANGELIST = "/admin/cards/providerbinding/"


def _check(admin_client, binding: ProviderBinding) -> list[tuple[str, str]]:
    response = admin_client.post(
        CHANGELIST, {"action": "check_connection", "_selected_action": [binding.pk]}, follow=True
    )
    return [
        (m.level_tag, m.message)
        for m in response.context["messages"]
        if m.message.startswith(f"{binding.name}: ")
    ]


def _form_errors(response) -> dict[str, list[str]]:
    form = response.context["adminform"].form
    return {name: [str(e) for e in errors] for name, errors in form.errors.items()}


def _another_signing_key() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


# ---------------------------------------------------------------------------------- the form


def test_the_form_offers_the_authentication_options_with_their_usual_values(admin_client):
    page = admin_client.get(ADD).content.decode()
    for name in ("client_auth", "assertion_algorithm", "mtls", "token_url"):
        assert f'name="option__{name}"' in page
    for name in ("signing_key", "signing_key_password", "signing_key_id"):
        assert f'name="secret__{name}"' in page
    assert "Usual value: client_secret_post." in page
    assert "Usual value: PS256." in page


@pytest.mark.parametrize(
    "base_url", ["https://api.thredd.com/api/v1", "https://api.uat.threddpay.com/api/v1"]
)
def test_a_blank_token_url_is_refused_where_thredd_publishes_no_token_endpoint(
    admin_client, sandbox, base_url
):
    data = {**binding_form_data("thredd", sandbox, "thredd live"), "base_url": base_url}
    data["option__token_url"] = ""

    response = admin_client.post(ADD, data)

    assert response.status_code == 200
    [message] = _form_errors(response)["option__token_url"]
    assert message.startswith("enter the Token URL: Thredd's token hosts are not its API hosts")
    assert not ProviderBinding.objects.filter(name="thredd live").exists()
    fixed = {  # filled in again: a browser does not keep chosen files either
        **binding_form_data("thredd", sandbox, "thredd live"),
        "base_url": base_url,
        "option__token_url": "https://auth.thredd.example/connect/token",
    }
    assert admin_client.post(ADD, fixed).status_code == 302


def test_private_key_jwt_needs_a_signing_key_that_fits_the_algorithm(admin_client, sandbox):
    data = binding_form_data("thredd", sandbox, "thredd pkjwt")
    data.pop("secret__signing_key")
    data["option__client_auth"] = "private_key_jwt"

    response = admin_client.post(ADD, data)

    assert _form_errors(response)["secret__signing_key"] == [
        "Required with private_key_jwt authentication: upload the signing key."
    ]
    data = binding_form_data("thredd", sandbox, "thredd pkjwt")
    data.update(option__client_auth="private_key_jwt", option__assertion_algorithm="ES256")
    response = admin_client.post(ADD, data)
    assert "ES256 needs an EC P-256 signing key." in _form_errors(response)["secret__signing_key"]
    assert not ProviderBinding.objects.filter(name="thredd pkjwt").exists()


def test_mutual_tls_needs_the_transport_certificate(admin_client, sandbox):
    data = {**binding_form_data("thredd", sandbox, "thredd mtls"), "option__mtls": "on"}

    response = admin_client.post(ADD, data)

    assert _form_errors(response)["secret__tls_client_certificate"] == [
        "Mutual TLS is on: upload Thredd's Transport Certificate here and its key below, or "
        "turn Mutual TLS off."
    ]


# ---------------------------------------------------------------------------------- Check connection


def test_check_connection_with_private_key_jwt_says_the_assertion_was_accepted(
    admin_client, make_binding
):
    binding = make_binding("thredd", client_auth="private_key_jwt")
    [(level, message)] = _check(admin_client, binding)
    assert level == "warning"  # no test card: the Cards API was not called
    assert "accepted the client id and its signed client assertion" in message


def test_check_connection_with_a_foreign_signing_key_names_the_assertion(
    admin_client, make_binding
):
    binding = make_binding("thredd", client_auth="private_key_jwt")
    binding.secrets = {
        **binding.secrets,
        **encoded_secrets("thredd", {"signing_key": _another_signing_key()}),
    }
    binding.save()

    [(level, message)] = _check(admin_client, binding)

    assert level == "error"
    assert message == (
        f"{binding.name}: Thredd Cards API refused the client assertion signed with the "
        "binding's signing key: check the client id, the signing key and its key ID are those "
        "registered with Thredd for this environment, the assertion algorithm is the one Thredd "
        "expects, the Token URL is the endpoint the assertion is addressed to, and this "
        "server's clock is right."
    )


@pytest.mark.parametrize("status", [401, 404])
def test_check_connection_says_a_401_or_404_came_from_the_token_endpoint(
    admin_client, sandbox, make_binding, status
):
    binding = make_binding("thredd")
    # The API host, not a token endpoint: it answers without an OAuth error.
    sandbox.faults.set(Fault(status=status), kind="thredd", reference="/connect/token")
    try:
        [(level, message)] = _check(admin_client, binding)
    finally:
        sandbox.faults.clear(kind="thredd")

    assert level == "error"
    assert "refused the client id and secret" not in message
    assert (
        f"the binding's configuration needs attention (the token endpoint answered HTTP {status}"
        in message
    )
    assert "check the Token URL option" in message


# ---------------------------------------------------------------------------------- mutual TLS


@pytest.fixture(scope="module")
def mtls_thredd():
    """A Thredd sandbox over HTTPS that takes only connections with a client certificate from its
    CA, as Thredd's mTLS hosts take only the Transport Certificates Thredd issued."""
    ca = ThrowawayCA.create()
    context = server_tls_context(
        ca.issue("localhost", server=True), require_client_certs_from=ca.cert_pem
    )
    running = start_sandbox(emulators=[ThreddEmulator(None)], tls=context)
    yield running, ca
    running.stop()


def _mtls_binding(mtls_thredd, *, transport_certificate: bool, **options) -> ProviderBinding:
    running, ca = mtls_thredd
    emulator = running.emulator("thredd")
    plain: dict[str, str | bytes] = {**emulator.binding_secrets(), "tls_ca_bundle": ca.cert_pem}
    if transport_certificate:
        issued = ca.issue("bank transport certificate", server=False)
        plain.update(tls_client_certificate=issued.cert_pem, tls_client_key=issued.key_pem)
    return ProviderBinding.objects.create(
        name=f"thredd mtls {ProviderBinding.objects.count()}",
        kind="thredd",
        base_url=running.url_for("thredd"),
        secrets=encoded_secrets("thredd", plain),
        options=options,
    )


@pytest.mark.parametrize("client_auth", ["client_secret_post", "private_key_jwt"])
def test_check_connection_over_mutual_tls_with_the_transport_certificate_works(
    admin_client, mtls_thredd, client_auth
):
    binding = _mtls_binding(
        mtls_thredd, transport_certificate=True, mtls=True, client_auth=client_auth
    )
    [(level, message)] = _check(admin_client, binding)
    assert level == "warning"  # no test card: the Cards API was not called
    assert "Thredd's token endpoint accepted the client id and " in message
    assert " over mutual TLS." in message


def test_check_connection_without_the_transport_certificate_names_the_client_certificate(
    admin_client, mtls_thredd
):
    binding = _mtls_binding(mtls_thredd, transport_certificate=False)
    [(level, message)] = _check(admin_client, binding)
    assert level == "error"
    assert message == (
        f"{binding.name}: the TLS connection to Thredd Cards API failed verification: check the "
        "base URL's host name, and the binding's private CA and client certificate if it uses "
        "them."
    )


def test_check_connection_with_mutual_tls_on_and_no_certificate_says_to_upload_it(
    admin_client, mtls_thredd
):
    binding = _mtls_binding(mtls_thredd, transport_certificate=False, mtls=True)
    before = mtls_thredd[0].emulator("thredd").token_requests
    [(level, message)] = _check(admin_client, binding)
    assert level == "error"
    assert message == (
        f"{binding.name}: the binding's configuration needs attention (mutual TLS is on but the "
        "binding has no TLS client certificate and key: upload Thredd's Transport Certificate "
        "and its key)."
    )
    assert mtls_thredd[0].emulator("thredd").token_requests == before
