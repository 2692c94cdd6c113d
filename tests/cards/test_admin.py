"""The admin: OTP-verified staff only, write-only secrets validated per provider, no CVV anywhere."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from cardreveal.audit.models import RevealEvent
from cardreveal.cards.models import Card
from tests.conftest import shows, totp_code


def mastercard_change_form(binding, **changes):
    """The Mastercard binding change form as the admin sends it unchanged, plus `changes`."""
    return {
        "name": binding.name,
        "base_url": binding.base_url,
        "enabled": "on",
        "option__encrypt_payloads": "on",
        "option__encrypted_value_field": "encryptedValue",
        "option__jwe_iv_size": "16",
        "option__client_key_padding": "oaep-sha256",
        "option__send_idempotency_key": "on",
        **changes,
    }


def test_admin_refuses_staff_without_otp(client, staff):
    client.force_login(staff[0])
    response = client.get("/admin/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_admin_login_page_asks_for_a_code_with_the_password(client):
    body = client.get("/admin/login/").content
    assert b'name="password"' in body
    assert b'name="code"' in body


def test_verified_staff_sees_the_admin(admin_client):
    body = admin_client.get("/admin/").content.decode()
    assert "Provider bindings" in body
    assert "Reveal events" in body


def test_binding_change_form_shows_identifiers_but_never_secrets(admin_client, make_binding):
    binding = make_binding("mastercard")
    body = admin_client.get(f"/admin/cards/providerbinding/{binding.pk}/change/").content.decode()
    assert binding.secrets["signing_key_password"] not in body
    assert binding.secrets["decryption_key_password"] not in body
    assert binding.secrets["signing_key_p12"] not in body
    assert "Stored; leave blank to keep it." in body
    assert 'name="secret__signing_key_p12"' in body
    # the consumer key is an identifier sent in every request, not a secret: shown as stored
    assert f'value="{binding.secrets["consumer_key"]}"' in body


def test_binding_secrets_are_encrypted_at_rest(make_binding):
    binding = make_binding("mastercard")
    with connection.cursor() as cursor:
        cursor.execute("SELECT secrets FROM cards_providerbinding WHERE id = %s", [binding.pk])
        raw = cursor.fetchone()[0]
    assert binding.secrets["consumer_key"] not in raw
    assert raw.startswith("gAAAA")  # a Fernet token


def test_saving_a_binding_with_blank_secrets_keeps_them(admin_client, make_binding):
    binding = make_binding("mastercard")
    before = dict(binding.secrets)
    response = admin_client.post(
        f"/admin/cards/providerbinding/{binding.pk}/change/",
        mastercard_change_form(binding),
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    binding.refresh_from_db()
    assert binding.secrets == before


def test_wrong_p12_password_is_refused_with_a_clear_message(admin_client, make_binding):
    binding = make_binding("mastercard")
    response = admin_client.post(
        f"/admin/cards/providerbinding/{binding.pk}/change/",
        mastercard_change_form(binding, secret__signing_key_password="definitely-wrong"),
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "password" in body.lower()
    assert "definitely-wrong" not in body
    binding.refresh_from_db()
    assert binding.secrets["signing_key_password"] != "definitely-wrong"


def test_garbage_key_file_is_refused(admin_client, make_binding):
    binding = make_binding("mastercard")
    response = admin_client.post(
        f"/admin/cards/providerbinding/{binding.pk}/change/",
        mastercard_change_form(
            binding,
            secret__signing_key_p12=SimpleUploadedFile("key.p12", b"not a pkcs12 file"),
        ),
    )
    assert response.status_code == 200
    assert b"errornote" in response.content


def test_pass_through_with_a_padding_browsers_cannot_open_is_refused(admin_client, make_binding):
    binding = make_binding("mastercard")
    page = admin_client.get(f"/admin/cards/providerbinding/{binding.pk}/change/").content.decode()
    # The option offers exactly what the reveal page can open, and says what to confirm.
    assert 'value="oaep-sha256"' in page
    assert 'value="oaep-sha1"' in page
    assert "pkcs1v15" not in page
    assert "confirm with Mastercard" in page
    response = admin_client.post(
        f"/admin/cards/providerbinding/{binding.pk}/change/",
        mastercard_change_form(
            binding, option__pass_client_key="on", option__client_key_padding="pkcs1v15"
        ),
    )
    assert response.status_code == 200
    assert "pkcs1v15 is not one of the available choices" in response.content.decode()
    binding.refresh_from_db()
    assert not binding.options.get("pass_client_key")


def test_pass_through_with_oaep_sha1_is_saved(admin_client, make_binding):
    binding = make_binding("mastercard")
    response = admin_client.post(
        f"/admin/cards/providerbinding/{binding.pk}/change/",
        mastercard_change_form(
            binding, option__pass_client_key="on", option__client_key_padding="oaep-sha1"
        ),
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    binding.refresh_from_db()
    assert binding.options["pass_client_key"] is True
    assert binding.options["client_key_padding"] == "oaep-sha1"


def test_plain_http_provider_url_is_refused(admin_client, make_binding, settings):
    settings.CARDREVEAL_ALLOW_LOOPBACK_HTTP = False
    binding = make_binding("mastercard")
    response = admin_client.post(
        f"/admin/cards/providerbinding/{binding.pk}/change/",
        {"name": binding.name, "base_url": "http://provider.example/api", "enabled": "on"},
    )
    assert response.status_code == 200
    assert b"plain http:// is refused" in response.content
    binding.refresh_from_db()
    assert binding.base_url.startswith("http://127.0.0.1")


def test_add_binding_asks_for_the_chosen_providers_fields(admin_client):
    body = admin_client.get("/admin/cards/providerbinding/add/?kind=thredd").content.decode()
    assert 'name="secret__client_secret"' in body
    assert 'name="secret__consumer_key"' not in body


def test_card_reference_is_validated_for_the_bindings_provider(admin_client, alice, make_binding):
    binding = make_binding("mastercard")
    response = admin_client.post(
        "/admin/cards/card/add/",
        {
            "owner": alice.user.pk,
            "label": "New",
            "brand": "mastercard",
            "last4": "1234",
            "expiry_month": "4",
            "expiry_year": "2030",
            "binding": binding.pk,
            "reference": '{"public_token": "123"}',
            "reveal_enabled": "on",
        },
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "is not a mastercard card reference field" in body
    assert not Card.objects.filter(label="New").exists()


def test_card_last_four_must_be_four_digits(admin_client, alice, make_binding):
    binding = make_binding("mastercard")
    response = admin_client.post(
        "/admin/cards/card/add/",
        {
            "owner": alice.user.pk,
            "label": "New",
            "brand": "mastercard",
            "last4": "12a4",
            "expiry_month": "13",
            "expiry_year": "2030",
            "binding": binding.pk,
            "reference": '{"card_contract_id": "70001"}',
            "reveal_enabled": "on",
        },
    )
    body = response.content.decode()
    assert "Enter exactly four digits." in body
    assert "less than or equal to 12" in body


def test_admin_pages_show_no_cvv_and_events_are_read_only(
    admin_client, signed_in, alice, make_card, clock, client_key
):
    card = make_card(alice.user)
    signed_in.post(
        f"/cards/{card.pk}/reveal",
        {"otp_code": totp_code(alice.device, clock), "public_key": client_key.public_b64},
    )
    pages = [
        "/admin/cards/card/",
        f"/admin/cards/card/{card.pk}/change/",
        "/admin/audit/revealevent/",
        "/admin/cards/providerbinding/",
    ]
    for page in pages:
        response = admin_client.get(page)
        assert response.status_code == 200, page
        assert not shows("347", response.content), page
    event = RevealEvent.objects.get()
    assert admin_client.get("/admin/audit/revealevent/add/").status_code == 403
    admin_client.post(f"/admin/audit/revealevent/{event.pk}/delete/", {"post": "yes"})
    assert RevealEvent.objects.filter(pk=event.pk).exists()
    change = admin_client.get(f"/admin/audit/revealevent/{event.pk}/change/").content
    assert b'name="reason"' not in change  # shown, not editable


def test_admin_hides_totp_keys(admin_client, alice):
    body = admin_client.get(f"/admin/otp_totp/totpdevice/{alice.device.pk}/change/").content
    assert alice.device.key.encode() not in body


def test_kill_switch_actions(admin_client, make_binding):
    binding = make_binding("mastercard")
    admin_client.post(
        "/admin/cards/providerbinding/",
        {"action": "disable_bindings", "_selected_action": [binding.pk]},
    )
    binding.refresh_from_db()
    assert binding.enabled is False


def _blocked_thredd_card(sandbox, alice, make_card):
    from providers.sandbox.core import SandboxCard

    emulator = sandbox.emulator("thredd")
    # the sandbox lives for the session: a fresh token keeps tests from seeing each other's unblocks
    token = f"5{len(emulator.cards):08d}"
    seeded = emulator.add_card(
        SandboxCard(
            reference={"public_token": token},
            cvv="921",
            expiry_month=5,
            expiry_year=2031,
            behaviour="cvv_blocked",
        )
    )
    return make_card(alice.user, kind="thredd", reference=dict(seeded.reference))


def test_admin_sees_a_blocked_thredd_cvv_and_unblocks_it(admin_client, sandbox, alice, make_card):
    from django.contrib.admin.models import LogEntry

    card = _blocked_thredd_card(sandbox, alice, make_card)
    response = admin_client.post(
        "/admin/cards/card/",
        {"action": "show_cvv_status", "_selected_action": [card.pk]},
        follow=True,
    )
    assert b"CVV status is Blocked" in response.content
    response = admin_client.post(
        "/admin/cards/card/", {"action": "unblock_cvv", "_selected_action": [card.pk]}, follow=True
    )
    assert b"CVV unblocked" in response.content
    assert LogEntry.objects.filter(
        object_id=str(card.pk), change_message__contains="Unblocked the CVV"
    ).exists()
    response = admin_client.post(
        "/admin/cards/card/",
        {"action": "show_cvv_status", "_selected_action": [card.pk]},
        follow=True,
    )
    assert b"CVV status is Unblocked" in response.content
    assert not shows("921", response.content)


def test_cvv_status_on_a_provider_without_one_says_so(admin_client, alice, make_card):
    card = make_card(alice.user)
    response = admin_client.post(
        "/admin/cards/card/",
        {"action": "show_cvv_status", "_selected_action": [card.pk]},
        follow=True,
    )
    assert b"this provider has no CVV status" in response.content


def test_blocked_thredd_cvv_gives_the_cardholder_a_clear_message(
    signed_in, sandbox, alice, make_card, clock, client_key
):
    card = _blocked_thredd_card(sandbox, alice, make_card)
    response = signed_in.post(
        f"/cards/{card.pk}/reveal",
        {"otp_code": totp_code(alice.device, clock), "public_key": client_key.public_b64},
    )
    assert response.status_code == 409
    assert "blocked after too many attempts" in response.json()["error"]["message"]
