"""Passkeys on the web pages, answered by an independent software authenticator: add one or more
(named), rename, remove (each audited and emailed; a new one starts the cool-off), sign in with one
as the second factor or alone when the bank allows it, and the admin's one-step sign-in."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django_otp_webauthn.models import WebAuthnCredential

from cardreveal.accounts.cooloff import reveal_cooloff
from cardreveal.accounts.models import AccountSecurity
from cardreveal.audit.models import AuthEvent
from tests.passkey_authenticator import (
    SITE_ORIGIN,
    SoftAuthenticator,
    enrol_directly,
    passkey_settings,
)


@pytest.fixture
def phone(settings):
    passkey_settings(settings)
    return SoftAuthenticator(origin=SITE_ORIGIN)


def post_json(client: Client, url: str, body: dict | None = None):
    return client.post(url, json.dumps(body or {}), content_type="application/json")


def add_passkey(client: Client, authenticator: SoftAuthenticator, name: str):
    options = post_json(client, "/accounts/passkeys/add/options").json()["creation_options"]
    assert options["authenticatorSelection"]["userVerification"] == "required"
    credential = authenticator.create(options)
    return post_json(client, "/accounts/passkeys/add", {"name": name, "credential": credential})


def test_add_two_named_passkeys_each_audited_emailed_and_starting_the_cooloff(
    signed_in, alice, phone, mailoutbox, django_capture_on_commit_callbacks
):
    laptop = SoftAuthenticator(origin=SITE_ORIGIN)

    with django_capture_on_commit_callbacks(execute=True):
        first = add_passkey(signed_in, phone, "Pixel")
        second = add_passkey(signed_in, laptop, "Work laptop")

    assert first.status_code == second.status_code == 200
    assert first.json() == {"redirect": "/accounts/passkeys/"}
    names = sorted(
        WebAuthnCredential.objects.filter(user=alice.user).values_list("name", flat=True)
    )
    assert names == ["Pixel", "Work laptop"]
    page = signed_in.get("/accounts/passkeys/").content.decode()
    assert "Pixel" in page
    assert "Work laptop" in page
    added = AuthEvent.objects.filter(
        event="device_added", user=alice.user, resource__startswith="device:webauthncredential/"
    )
    assert sorted(added.values_list("detail", flat=True)) == ["name=Pixel", "name=Work laptop"]
    subjects = [m.subject for m in mailoutbox]
    assert subjects.count("A new passkey was added to your cardreveal account") == 2
    assert '("Pixel")' in mailoutbox[0].body
    cooloff = reveal_cooloff(user=alice.user)
    assert cooloff is not None
    assert cooloff.reason == "authenticator_added"


def test_a_passkey_needs_a_name_and_its_own_challenge(signed_in, alice, phone):
    options = post_json(signed_in, "/accounts/passkeys/add/options").json()["creation_options"]
    credential = phone.create(options)
    nameless = post_json(
        signed_in, "/accounts/passkeys/add", {"name": " ", "credential": credential}
    )
    assert nameless.status_code == 400
    assert "Give the passkey a name" in nameless.json()["error"]["message"]
    assert (
        post_json(
            signed_in, "/accounts/passkeys/add", {"name": "Pixel", "credential": credential}
        ).status_code
        == 200
    )
    # The same answer again: its challenge is spent.
    again = post_json(
        signed_in, "/accounts/passkeys/add", {"name": "Pixel", "credential": credential}
    )
    assert again.status_code == 400
    assert "ran out of time or was already used" in again.json()["error"]["message"]


def test_a_passkey_made_on_another_site_is_not_added(signed_in, alice, phone):
    options = post_json(signed_in, "/accounts/passkeys/add/options").json()["creation_options"]
    phishing = SoftAuthenticator(origin="https://cards-example.co")
    response = post_json(
        signed_in,
        "/accounts/passkeys/add",
        {"name": "Pixel", "credential": phishing.create(options)},
    )
    assert response.status_code == 400
    assert "different website" in response.json()["error"]["message"]
    assert not WebAuthnCredential.objects.filter(user=alice.user).exists()


def test_adding_a_passkey_needs_a_verified_session(client, alice, phone):
    client.post(
        "/accounts/login/", {"username": alice.user.username, "password": alice.password}
    )  # password only: the code step is still to come
    response = post_json(client, "/accounts/passkeys/add/options")
    assert response.status_code == 302
    assert "/accounts/verify/" in response["Location"]


def test_rename_and_remove_a_passkey_removal_audited_and_emailed(
    signed_in, alice, phone, mailoutbox, django_capture_on_commit_callbacks
):
    device = enrol_directly(alice.user, phone, name="Pixel")
    signed_in.post(f"/accounts/passkeys/{device.pk}/rename", {"name": "Old Pixel"})
    device.refresh_from_db()
    assert device.name == "Old Pixel"

    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in.post(f"/accounts/passkeys/{device.pk}/remove")

    assert response.status_code == 302
    assert not WebAuthnCredential.objects.filter(pk=device.pk).exists()
    removed = AuthEvent.objects.get(event="device_removed", user=alice.user)
    assert removed.detail == "name=Old Pixel"
    assert mailoutbox[-1].subject == "A passkey was removed from your cardreveal account"
    assert '"Old Pixel"' in mailoutbox[-1].body


def test_someone_elses_passkey_cannot_be_removed(signed_in, bob, phone):
    bobs = enrol_directly(bob.user, phone, name="Bob's phone")
    signed_in.post(f"/accounts/passkeys/{bobs.pk}/remove")
    assert WebAuthnCredential.objects.filter(pk=bobs.pk).exists()


# ---------------------------------------------------------------------------------- sign-in


def password_only(client: Client, holder) -> None:
    response = client.post(
        "/accounts/login/", {"username": holder.user.username, "password": holder.password}
    )
    assert response.status_code == 302


def test_sign_in_with_a_passkey_as_the_second_factor(client, alice, phone):
    enrol_directly(alice.user, phone)
    password_only(client, alice)
    assert "Use your passkey" in client.get("/accounts/verify/").content.decode()

    options = post_json(client, "/accounts/passkeys/sign-in/options").json()["request_options"]
    response = post_json(client, "/accounts/passkeys/sign-in", {"credential": phone.get(options)})

    assert response.status_code == 200
    assert response.json() == {"redirect": "/"}
    assert client.get("/").status_code == 200
    assert AuthEvent.objects.filter(event="login", user=alice.user).count() == 1


def test_a_refused_sign_in_passkey_counts_towards_the_lockout(client, alice, phone, settings):
    enrol_directly(alice.user, phone)
    password_only(client, alice)
    options = post_json(client, "/accounts/passkeys/sign-in/options").json()["request_options"]
    wrong = phone.get(options, origin="https://cards-example.co")

    response = post_json(client, "/accounts/passkeys/sign-in", {"credential": wrong})

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "passkey_wrong_origin"
    assert AccountSecurity.objects.get(user=alice.user).failed_attempts == 1
    assert client.get("/").status_code == 302  # still not signed in
    assert AuthEvent.objects.filter(reason="passkey_wrong_origin", resource="step:sign_in").exists()


def test_passwordless_sign_in_only_when_the_bank_turns_it_on(client, alice, phone, settings):
    enrol_directly(alice.user, phone)
    assert post_json(client, "/accounts/passkeys/passwordless/options").status_code == 404
    assert "Sign in with a passkey" not in client.get("/accounts/login/").content.decode()

    settings.OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN = True
    assert "Sign in with a passkey" in client.get("/accounts/login/").content.decode()
    options = post_json(client, "/accounts/passkeys/passwordless/options").json()["request_options"]
    assert "allowCredentials" not in options or options["allowCredentials"] == []
    response = post_json(
        client, "/accounts/passkeys/passwordless", {"credential": phone.get(options)}
    )

    assert response.status_code == 200, response.content
    assert client.get("/").status_code == 200
    assert AuthEvent.objects.filter(event="login", user=alice.user).count() == 1


def test_passwordless_with_an_unknown_passkey_signs_nobody_in(client, alice, settings, phone):
    settings.OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN = True
    options = post_json(client, "/accounts/passkeys/passwordless/options").json()["request_options"]
    stranger = SoftAuthenticator(origin=SITE_ORIGIN)
    stranger.create({"rp": {"id": options["rpId"]}, "challenge": options["challenge"]})
    response = post_json(
        client, "/accounts/passkeys/passwordless", {"credential": stranger.get(options)}
    )
    assert response.status_code == 403
    assert client.get("/").status_code == 302


# ---------------------------------------------------------------------------------- the admin


def test_the_admin_signs_in_with_password_and_a_passkey(client, staff, phone):
    user, _device = staff
    enrol_directly(user, phone, name="Admin key")
    options = post_json(client, "/accounts/passkeys/admin/options").json()["request_options"]

    response = client.post(
        "/admin/login/?next=/admin/",
        {
            "username": "root",
            "password": "pw-root-long-enough",
            "passkey_assertion": json.dumps(phone.get(options)),
            "next": "/admin/",
        },
    )

    assert response.status_code == 302, response.content.decode()
    assert client.get("/admin/").status_code == 200


def test_the_admin_refuses_a_passkey_with_the_wrong_password(client, staff, phone):
    user, _device = staff
    enrol_directly(user, phone, name="Admin key")
    options = post_json(client, "/accounts/passkeys/admin/options").json()["request_options"]
    response = client.post(
        "/admin/login/",
        {
            "username": "root",
            "password": "not the password",
            "passkey_assertion": json.dumps(phone.get(options)),
        },
    )
    assert response.status_code == 200
    assert client.get("/admin/").status_code == 302


def test_the_admin_refuses_a_cardholders_passkey_for_a_staff_account(client, staff, alice, phone):
    enrol_directly(staff[0], SoftAuthenticator(origin=SITE_ORIGIN), name="Admin key")
    enrol_directly(alice.user, phone)
    options = post_json(client, "/accounts/passkeys/admin/options").json()["request_options"]
    response = client.post(
        "/admin/login/",
        {
            "username": "root",
            "password": "pw-root-long-enough",
            "passkey_assertion": json.dumps(phone.get(options)),
        },
    )
    assert response.status_code == 200
    assert "not registered to your account" in response.content.decode()
    assert client.get("/admin/").status_code == 302


def test_the_step_up_policy_is_a_per_user_switch_in_the_admin(admin_client, alice):
    response = admin_client.post(
        "/admin/accounts/stepuppolicy/add/", {"user": alice.user.pk, "policy": "passkey_required"}
    )
    assert response.status_code == 302
    from cardreveal.accounts.passkeys import StepUp, step_up_policy

    assert step_up_policy(user=alice.user) is StepUp.PASSKEY_REQUIRED
    assert AuthEvent.objects.filter(
        event="admin_change", resource__startswith="accounts.stepuppolicy"
    ).exists()


def test_the_reveal_page_offers_the_passkey_first_and_the_code_as_fallback(
    signed_in, alice, phone, make_card, settings
):
    card = make_card(alice.user)
    enrol_directly(alice.user, phone)
    page = signed_in.get(f"/cards/{card.pk}/").content.decode()
    assert page.index('id="passkey-button"') < page.index('id="code-fallback"')
    assert page.index('id="code-fallback"') < page.index('id="otp-code"')

    settings.CARDREVEAL_STEP_UP_POLICY = "passkey_required"
    page = signed_in.get(f"/cards/{card.pk}/").content.decode()
    assert 'id="passkey-button"' in page
    assert 'name="otp_code"' not in page


def test_staff_see_a_users_passkeys_and_can_remove_one(admin_client, alice, phone):
    device = enrol_directly(alice.user, phone, name="Pixel")
    listing = admin_client.get("/admin/django_otp_webauthn/webauthncredential/")
    assert listing.status_code == 200
    assert "Pixel" in listing.content.decode()
    response = admin_client.post(
        f"/admin/django_otp_webauthn/webauthncredential/{device.pk}/delete/", {"post": "yes"}
    )
    assert response.status_code == 302
    assert not WebAuthnCredential.objects.filter(pk=device.pk).exists()
    assert AuthEvent.objects.filter(event="device_removed", user=alice.user).exists()


def test_a_refused_sign_in_passkey_counts_towards_the_per_username_limit(
    client, alice, phone, settings
):
    settings.CARDREVEAL_SIGN_IN_FAILURES_PER_USERNAME = 1
    enrol_directly(alice.user, phone)
    password_only(client, alice)
    options = post_json(client, "/accounts/passkeys/sign-in/options").json()["request_options"]
    post_json(
        client,
        "/accounts/passkeys/sign-in",
        {"credential": phone.get(options, origin="https://cards-example.co")},
    )

    again = Client().post(
        "/accounts/login/", {"username": alice.user.username, "password": alice.password}
    )

    assert again.status_code == 429


def test_a_garbled_or_absurdly_deep_passkey_body_is_a_plain_refusal(signed_in, alice, phone):
    for body in (b"not json", b"[" * 100_000 + b"]" * 100_000, b"[]"):
        response = signed_in.post("/accounts/passkeys/add", body, content_type="application/json")
        assert response.status_code == 400
        assert "missing" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "url", ["/accounts/passkeys/admin/options", "/accounts/passkeys/passwordless/options"]
)
def test_one_address_cannot_make_challenges_for_nobody_without_end(settings, db, url):
    from cardreveal.accounts.models import PasskeyChallenge

    settings.OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN = True
    settings.CARDREVEAL_PASSKEY_OPEN_CHALLENGES_PER_ADDRESS = 3
    flooder = Client(REMOTE_ADDR="198.51.100.23")
    answers = [post_json(flooder, url) for _ in range(5)]

    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    refused = answers[-1]
    assert refused.json()["error"]["code"] == "throttled"
    assert "Try again after" in refused.json()["error"]["message"]
    assert int(refused["Retry-After"]) > 0
    assert PasskeyChallenge.objects.filter(user=None).count() == 3  # no row for the refused
    other = Client(REMOTE_ADDR="203.0.113.9")
    assert post_json(other, url).status_code == 200
