"""Check connection, as a bank admin runs it: a binding whose keys cannot complete a reveal is never
reported as working, failures are told in the admin's words, and the health panel remembers them."""

from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from cardreveal.cards.bindings import encoded_secrets
from cardreveal.cards.models import BindingTestCard, ProviderBinding
from cardreveal.cards.services import RevealError, reveal_cvv
from cardreveal.client_info import ClientInfo
from providers.sandbox.core import SandboxCard
from providers.sandbox.server import RunningSandbox
from tests.conftest import shows, totp_code
from tests.test_no_cvv_traces import dump_cache, dump_database

CHANGELIST = "/admin/cards/providerbinding/"
CLIENT = ClientInfo(ip="198.51.100.7", user_agent="pytest", request_id="req-chk", channel="web")


def _another_rsa_key_pem() -> bytes:
    """A private key that is not the pair of the one registered with the provider."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _change_secrets(binding: ProviderBinding, **plain: str | bytes) -> None:
    binding.secrets = {**binding.secrets, **encoded_secrets(binding.kind, plain)}
    binding.save()


@dataclass
class CheckPage:
    """The page an admin sees after Check connection: the check's messages (level, text)."""

    messages: list[tuple[str, str]]
    body: str


def _check(admin_client, binding: ProviderBinding) -> CheckPage:
    """Run Check connection on `binding` from the bindings list, as an admin clicks it."""
    response = admin_client.post(
        CHANGELIST, {"action": "check_connection", "_selected_action": [binding.pk]}, follow=True
    )
    own = [
        (m.level_tag, m.message)
        for m in response.context["messages"]
        if m.message.startswith(f"{binding.name}: ")
    ]
    return CheckPage(own, response.content.decode())


def _canary_cvv() -> str:
    """A 4-digit CVV found nowhere in the database yet."""
    before = dump_database()
    while True:
        value = f"{random.randint(1000, 9999)}"
        if value not in before:
            return value


def _test_card_reference(kind: str) -> dict[str, str]:
    n = random.randint(100000, 999999)
    return {
        "mastercard": {"card_contract_id": f"77{n}"},
        "thredd": {"public_token": f"777{n}"},
        "netxd": {
            "customer_id": f"NXD-CHECK-{n}",
            "account_number": f"7770{n}",
            "card_id": f"nxd-check-{n}",
        },
        "juspay": {"payout_id": f"check_{n}"},
    }[kind]


def _add_test_card_through_the_admin(
    admin_client, sandbox: RunningSandbox, binding: ProviderBinding, *, cvv: str = "318"
) -> dict[str, str]:
    """Seed a card kept for checks at the provider and set it on `binding` as an admin would."""
    reference = _test_card_reference(binding.kind)
    sandbox.emulator(binding.kind).add_card(
        SandboxCard(reference=reference, cvv=cvv, expiry_month=9, expiry_year=2031, label="Check")
    )
    form = admin_client.get(f"/admin/cards/bindingtestcard/add/?binding={binding.pk}")
    assert "never a cardholder's" in form.content.decode()
    response = admin_client.post(
        "/admin/cards/bindingtestcard/add/",
        {
            "binding": binding.pk,
            "reference": json.dumps(reference),
            "expiry_month": "9",
            "expiry_year": "2031",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    return reference


# ---------------------------------------------------------------------------------- failures


def test_check_connection_on_a_mastercard_binding_with_the_wrong_decryption_key_reports_it(
    admin_client, sandbox, make_binding
):
    binding = make_binding("mastercard")
    _add_test_card_through_the_admin(admin_client, sandbox, binding)
    _change_secrets(binding, decryption_key=_another_rsa_key_pem(), decryption_key_password="")
    [(level, message)] = _check(admin_client, binding).messages
    assert level == "error"
    assert message.startswith(f"{binding.name}: the answer could not be decrypted with this ")
    assert "binding's private key: check the key pair matches the one registered with" in message
    assert "try again" not in message.lower()


def test_check_connection_on_a_thredd_binding_with_a_wrong_client_secret_says_it_was_refused(
    admin_client, make_binding
):
    binding = make_binding("thredd")
    _change_secrets(binding, client_secret="not-the-secret-7Hq2")
    page = _check(admin_client, binding)
    [(level, message)] = page.messages
    assert level == "error"
    assert "Thredd Cards API refused the client id and secret: check both" in message
    assert "not-the-secret-7Hq2" not in page.body
    assert "try again" not in message.lower()


def test_check_connection_on_a_mastercard_binding_with_a_foreign_consumer_key_names_the_signature(
    admin_client, make_binding
):
    binding = make_binding("mastercard")
    _change_secrets(binding, consumer_key="someone-else")
    [(level, message)] = _check(admin_client, binding).messages
    assert level == "error"
    assert "refused the request's OAuth1 signature: check the consumer key" in message


def test_a_test_card_unknown_at_the_provider_is_reported_as_such(admin_client, make_binding):
    binding = make_binding("thredd")
    BindingTestCard.objects.create(
        binding=binding, reference={"public_token": "123450000"}, expiry_month=1, expiry_year=2030
    )
    [(level, message)] = _check(admin_client, binding).messages
    assert level == "error"
    assert "does not know the test card (it accepted the credentials)" in message


def test_the_health_panel_shows_the_last_failure_after_a_failed_check(
    admin_client, sandbox, make_binding
):
    binding = make_binding("mastercard")
    page = admin_client.get(f"{CHANGELIST}{binding.pk}/change/").content.decode()
    assert "none recorded" in page
    _add_test_card_through_the_admin(admin_client, sandbox, binding)
    _change_secrets(binding, decryption_key=_another_rsa_key_pem(), decryption_key_password="")
    _check(admin_client, binding)
    page = admin_client.get(f"{CHANGELIST}{binding.pk}/change/").content.decode()
    assert "an answer this binding&#x27;s private key could not decrypt" in page
    assert "(answer_undecryptable)" in page


def test_a_reveal_that_cannot_decrypt_the_answer_is_the_last_failure_on_the_health_panel(
    admin_client, alice, make_card, clock, client_key
):
    card = make_card(alice.user)
    _change_secrets(card.binding, decryption_key=_another_rsa_key_pem(), decryption_key_password="")
    with pytest.raises(RevealError) as info:
        reveal_cvv(
            user=alice.user,
            card_id=card.pk,
            otp_code=totp_code(alice.device, clock),
            client_public_key=client_key.public_b64,
            client=CLIENT,
        )
    assert info.value.code == "provider_bad_response"  # what the cardholder's side sees
    page = admin_client.get(f"{CHANGELIST}{card.binding.pk}/change/").content.decode()
    assert "could not decrypt (answer_undecryptable)" in page


# ---------------------------------------------------------------------------------- success


@pytest.mark.parametrize("kind", ["mastercard", "thredd", "netxd", "juspay"])
def test_a_correct_binding_with_a_test_card_works_and_its_cvv_appears_nowhere(
    admin_client, sandbox, make_binding, caplog, kind
):
    binding = make_binding(kind)
    cvv = _canary_cvv()
    _add_test_card_through_the_admin(admin_client, sandbox, binding, cvv=cvv)
    with caplog.at_level(logging.DEBUG):
        page = _check(admin_client, binding)
    [(level, message)] = page.messages
    assert level == "success"
    assert "the whole reveal path works" in message
    assert not shows(cvv, page.body)
    assert not shows(cvv, caplog.text)
    assert not shows(cvv, dump_database())
    assert not shows(cvv, dump_cache())


def test_with_pass_through_the_check_keeps_the_promise_of_no_plaintext(
    admin_client, sandbox, make_binding
):
    binding = make_binding("mastercard", pass_client_key=True)
    _add_test_card_through_the_admin(admin_client, sandbox, binding)
    [(level, message)] = _check(admin_client, binding).messages
    assert level == "success"
    assert "the whole reveal path works" in message


# ---------------------------------------------------------------------------------- no test card


def test_without_a_test_card_the_check_says_decryption_was_not_checked(admin_client, make_binding):
    # The wrong key goes unnoticed by a credentials check: it must not be called working.
    binding = make_binding("mastercard")
    _change_secrets(binding, decryption_key=_another_rsa_key_pem(), decryption_key_password="")
    [(level, message)] = _check(admin_client, binding).messages
    assert level == "warning"
    assert "Mastercard accepted the OAuth1 signature" in message
    assert "decryption was not checked" in message
    assert "Add a test card" in message


@pytest.mark.parametrize("encrypt", [True, False], ids=["jwe", "plaintext"])
def test_without_a_test_card_mastercards_contract_type_400_says_the_credentials_work(
    admin_client, sandbox, make_binding, monkeypatch, encrypt
):
    # The API specification lets the probe's contract id 0 be answered 400
    # BadRequestInvalidCardContractTypeError: that is Mastercard past the signature check.
    monkeypatch.setattr(
        sandbox.emulator("mastercard"), "contract_zero_answer", "invalid_contract_type"
    )
    binding = make_binding("mastercard", encrypt_payloads=encrypt)
    [(level, message)] = _check(admin_client, binding).messages
    assert level == ("warning" if encrypt else "success")
    assert "Mastercard accepted the OAuth1 signature" in message
    assert "the credentials work" in message
    assert "encryption keys" not in message
    assert "needs attention" not in message


def test_without_a_test_card_thredd_says_its_cards_api_was_not_called(admin_client, make_binding):
    binding = make_binding("thredd")
    [(level, message)] = _check(admin_client, binding).messages
    assert level == "warning"
    assert "accepted the client id and secret" in message
    assert "the Cards API itself was not called" in message


def test_without_a_test_card_a_juspay_check_proves_the_key_on_its_encrypted_answer(
    admin_client, make_binding
):
    binding = make_binding("juspay")
    [(level, message)] = _check(admin_client, binding).messages
    assert level == "success"
    assert "decrypted with this binding's private key" in message


def test_each_check_is_recorded_in_the_binding_history(admin_client, make_binding):
    binding = make_binding("thredd")
    _check(admin_client, binding)
    history = admin_client.get(f"{CHANGELIST}{binding.pk}/history/").content.decode()
    assert "Checked the connection: partial." in history


# ---------------------------------------------------------------------------------- the test card


def test_the_binding_page_offers_a_test_card_and_then_shows_it(admin_client, sandbox, make_binding):
    binding = make_binding("mastercard")
    page = admin_client.get(f"{CHANGELIST}{binding.pk}/change/").content.decode()
    assert f"/admin/cards/bindingtestcard/add/?binding={binding.pk}" in page
    reference = _add_test_card_through_the_admin(admin_client, sandbox, binding)
    page = admin_client.get(f"{CHANGELIST}{binding.pk}/change/").content.decode()
    assert reference["card_contract_id"] in page
    assert "expiring 09/2031" in page


def test_a_cardholders_card_cannot_be_the_test_card(admin_client, alice, make_card):
    card = make_card(alice.user, label="Everyday debit")
    response = admin_client.post(
        "/admin/cards/bindingtestcard/add/",
        {
            "binding": card.binding.pk,
            "reference": json.dumps(card.reference),
            "expiry_month": "4",
            "expiry_year": "2030",
        },
    )
    assert response.status_code == 200
    assert "alice&#x27;s card “Everyday debit”" in response.content.decode()
    assert not BindingTestCard.objects.exists()


def test_a_test_card_reference_in_the_wrong_shape_is_refused(admin_client, make_binding):
    binding = make_binding("thredd")
    response = admin_client.post(
        "/admin/cards/bindingtestcard/add/",
        {
            "binding": binding.pk,
            "reference": json.dumps({"card_contract_id": "70001"}),
            "expiry_month": "4",
            "expiry_year": "2030",
        },
    )
    assert response.status_code == 200
    assert "is not a thredd card reference field" in response.content.decode()
    assert not BindingTestCard.objects.exists()


def test_staff_who_may_only_view_bindings_cannot_run_the_check(client, clock, make_binding):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from django_otp.plugins.otp_totp.models import TOTPDevice

    viewer = get_user_model().objects.create_user(
        "viewer", password="pw-viewer-long-enough", is_staff=True
    )
    viewer.user_permissions.add(Permission.objects.get(codename="view_providerbinding"))
    device = TOTPDevice.objects.create(user=viewer, name="phone", confirmed=True)
    client.post("/accounts/login/", {"username": "viewer", "password": "pw-viewer-long-enough"})
    client.post("/accounts/verify/", {"code": totp_code(device, clock)})
    binding = make_binding("thredd")
    listing = client.get(CHANGELIST)
    assert listing.status_code == 200
    assert 'value="check_connection"' not in listing.content.decode()
    response = client.post(
        CHANGELIST, {"action": "check_connection", "_selected_action": [binding.pk]}, follow=True
    )
    assert not [m for m in response.context["messages"] if m.message.startswith(binding.name)]
