"""Signing in, the code step, first-time enrolment with a QR code, and single-use backup codes."""

from __future__ import annotations

import re
from base64 import b32decode

import pytest
from django.contrib.auth import get_user_model
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.conftest import totp_code


@pytest.fixture
def newcomer(db):
    return get_user_model().objects.create_user(username="carol", password="pw-carol-long-enough")


def login(client, username, password):
    return client.post("/accounts/login/", {"username": username, "password": password})


def code_for_secret(secret: str, clock) -> str:
    totp = TOTP(b32decode(secret), 30, 0, 6, 0)
    totp.time = clock.now
    return f"{totp.token():06d}"


def test_wrong_password_is_refused_with_a_message(client, alice):
    response = login(client, "alice", "nope")
    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content


def test_sign_in_asks_for_a_code_then_shows_cards(client, alice, clock):
    response = login(client, "alice", alice.password)
    assert response.status_code == 302
    follow = client.get("/", follow=True)
    assert follow.redirect_chain[-1][0].startswith("/accounts/verify/")
    response = client.post("/accounts/verify/", {"code": totp_code(alice.device, clock)})
    assert response.status_code == 302
    assert client.get("/").status_code == 200


def test_wrong_sign_in_code_is_refused(client, alice, clock):
    login(client, "alice", alice.password)
    good = totp_code(alice.device, clock)
    response = client.post("/accounts/verify/", {"code": f"{(int(good) + 1) % 10**6:06d}"})
    assert response.status_code == 200
    assert b"not correct" in response.content
    assert client.get("/").status_code == 302


def test_session_key_changes_after_login_and_after_the_code(client, alice, clock):
    client.get("/accounts/login/")
    login(client, "alice", alice.password)
    after_password = client.session.session_key
    client.post("/accounts/verify/", {"code": totp_code(alice.device, clock)})
    assert client.session.session_key != after_password


def test_first_sign_in_requires_enrolment_with_qr_and_secret(client, newcomer, clock):
    login(client, "carol", "pw-carol-long-enough")
    response = client.get("/", follow=True)
    assert response.redirect_chain[-1][0] == "/accounts/enrol/"
    body = response.content.decode()
    assert 'src="data:image/svg+xml' in body
    assert "otpauth://totp/cardreveal%3Acarol?secret=" in body
    # the secret shown as text is the device's key
    secret = "".join(re.findall(r"<span>([A-Z2-7]{1,4})</span>", body))
    device = TOTPDevice.objects.get(user=newcomer)
    assert b32decode(secret) == device.bin_key
    assert not device.confirmed


def test_enrolment_confirms_with_a_code_and_shows_ten_backup_codes_once(client, newcomer, clock):
    login(client, "carol", "pw-carol-long-enough")
    body = client.get("/accounts/enrol/").content.decode()
    secret = "".join(re.findall(r"<span>([A-Z2-7]{1,4})</span>", body))
    response = client.post("/accounts/enrol/", {"code": code_for_secret(secret, clock)})
    assert response.status_code == 200
    codes = re.findall(r"<li>([0-9a-f]{10})</li>", response.content.decode())
    assert len(codes) == 10
    assert "no-store" in response["Cache-Control"]
    assert TOTPDevice.objects.get(user=newcomer).confirmed
    assert client.get("/").status_code == 200  # verified by the enrolment code
    # shown once: the enrol page now sends the user on, and no page repeats the codes
    again = client.get("/accounts/enrol/", follow=True).content.decode()
    assert not any(code in again for code in codes)
    assert not any(code in str(dict(client.session.items())) for code in codes)


def test_enrolment_with_a_wrong_code_explains_what_to_check(client, newcomer, clock):
    login(client, "carol", "pw-carol-long-enough")
    client.get("/accounts/enrol/")
    response = client.post("/accounts/enrol/", {"code": "000000"})
    assert b"does not match" in response.content
    assert not TOTPDevice.objects.get(user=newcomer).confirmed


def test_enrolment_reuses_the_pending_device_on_reload(client, newcomer):
    login(client, "carol", "pw-carol-long-enough")
    client.get("/accounts/enrol/")
    client.get("/accounts/enrol/")
    assert TOTPDevice.objects.filter(user=newcomer).count() == 1


def test_backup_code_signs_in_once(client, newcomer, clock):
    login(client, "carol", "pw-carol-long-enough")
    body = client.get("/accounts/enrol/").content.decode()
    secret = "".join(re.findall(r"<span>([A-Z2-7]{1,4})</span>", body))
    codes = re.findall(
        r"<li>([0-9a-f]{10})</li>",
        client.post("/accounts/enrol/", {"code": code_for_secret(secret, clock)}).content.decode(),
    )
    client.post("/accounts/logout/")
    login(client, "carol", "pw-carol-long-enough")
    assert client.post("/accounts/verify/", {"code": codes[0]}).status_code == 302
    assert StaticToken.objects.filter(device__user=newcomer).count() == 9
    client.post("/accounts/logout/")
    login(client, "carol", "pw-carol-long-enough")
    response = client.post("/accounts/verify/", {"code": codes[0]})
    assert response.status_code == 200
    assert client.get("/").status_code == 302


def test_backup_codes_do_not_satisfy_a_reveal(signed_in, alice, make_card, client_key):
    from cardreveal.accounts.otp import replace_backup_codes

    card = make_card(alice.user)
    code = replace_backup_codes(user=alice.user)[0]
    response = signed_in.post(
        f"/cards/{card.pk}/reveal", {"otp_code": code, "public_key": client_key.public_b64}
    )
    assert response.status_code == 403


def test_logout_is_post_only_and_clears_site_data(signed_in):
    assert signed_in.get("/accounts/logout/").status_code == 405
    response = signed_in.post("/accounts/logout/")
    assert response.status_code == 302
    assert "cookies" in response["Clear-Site-Data"]
    assert signed_in.get("/").status_code == 302


def test_next_parameter_cannot_redirect_off_site(client, alice, clock):
    login(client, "alice", alice.password)
    response = client.post(
        "/accounts/verify/?next=https://evil.example/", {"code": totp_code(alice.device, clock)}
    )
    assert response["Location"] == "/"


def test_backup_codes_are_stored_only_as_keyed_digests(newcomer):
    from cardreveal.accounts.otp import backup_code_digests, replace_backup_codes

    codes = replace_backup_codes(user=newcomer)
    stored = set(StaticToken.objects.values_list("token", flat=True))
    assert len(stored) == 10
    assert not stored & set(codes)
    assert stored == {backup_code_digests(code)[0] for code in codes}


def test_backup_codes_still_work_after_a_secret_key_rotation(newcomer, settings):
    from cardreveal.accounts.otp import replace_backup_codes, verify_sign_in_code

    codes = replace_backup_codes(user=newcomer)
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-secret-key-for-this-test-only-" + "x" * 20
    assert verify_sign_in_code(user=newcomer, code=codes[0].upper()).ok
    assert not verify_sign_in_code(user=newcomer, code=codes[0]).ok
