"""`manage.py check` compares the passkey RP ID and origins with each other and with ALLOWED_HOSTS,
and the mobile apps with the forms the well-known files need."""

from __future__ import annotations

import pytest

from cardreveal.accounts.passkey_checks import passkey_settings_check
from tests.test_settings import manage, production_env


def errors(settings, **values):
    for name, value in values.items():
        setattr(settings, name, value)
    return [(e.id, e.msg) for e in passkey_settings_check()]


def test_the_demo_and_test_settings_pass(settings):
    assert errors(settings) == []


def test_a_matching_production_set_up_passes(settings):
    assert (
        errors(
            settings,
            ALLOWED_HOSTS=["cards.example.com"],
            OTP_WEBAUTHN_RP_ID="example.com",
            OTP_WEBAUTHN_ALLOWED_ORIGINS=[
                "https://cards.example.com",
                "android:apk-key-hash:" + "A" * 43,
            ],
            CARDREVEAL_ANDROID_APPS=["com.example.cards:" + ":".join(["AB"] * 32)],
            CARDREVEAL_IOS_APPS=["ABCDE12345.com.example.cards"],
        )
        == []
    )


@pytest.mark.parametrize(
    ("values", "error_id", "says"),
    [
        ({"OTP_WEBAUTHN_RP_ID": "https://cards.example.com"}, "E201", "no scheme"),
        ({"OTP_WEBAUTHN_RP_ID": "127.0.0.1"}, "E201", "IP address"),
        ({"OTP_WEBAUTHN_ALLOWED_ORIGINS": []}, "E202", "is empty"),
        ({"OTP_WEBAUTHN_ALLOWED_ORIGINS": ["android:apk-key-hash:short"]}, "E203", "43"),
        ({"OTP_WEBAUTHN_ALLOWED_ORIGINS": ["https://cards.example.com/"]}, "E204", "trailing"),
        ({"OTP_WEBAUTHN_ALLOWED_ORIGINS": ["http://cards.example.com"]}, "E205", "https://"),
        ({"OTP_WEBAUTHN_ALLOWED_ORIGINS": ["https://cards.example.org"]}, "E206", "RP ID"),
        ({"ALLOWED_HOSTS": ["other.example.com"]}, "E207", "ALLOWED_HOSTS"),
        ({"CARDREVEAL_ANDROID_APPS": ["com.example.cards"]}, "E209", "FINGERPRINT"),
        ({"CARDREVEAL_IOS_APPS": ["com.example.cards"]}, "E210", "TEAMID"),
    ],
)
def test_each_mismatch_is_named(settings, values, error_id, says):
    base = {
        "ALLOWED_HOSTS": ["cards.example.com"],
        "OTP_WEBAUTHN_RP_ID": "cards.example.com",
        "OTP_WEBAUTHN_ALLOWED_ORIGINS": ["https://cards.example.com"],
    }
    found = errors(settings, **{**base, **values})
    assert any(e == f"cardreveal.accounts.{error_id}" and says in msg for e, msg in found), found


def test_production_refuses_an_origin_its_hosts_do_not_serve():
    result = manage(
        "check",
        environ=production_env(CARDREVEAL_PASSKEY_ORIGINS="https://phish.example.com"),
    )
    assert result.returncode != 0
    assert (
        "cardreveal.accounts.E206" in result.stderr or "cardreveal.accounts.E206" in result.stdout
    )


def test_production_requires_the_rp_id_and_origins():
    for missing in ("CARDREVEAL_PASSKEY_RP_ID", "CARDREVEAL_PASSKEY_ORIGINS"):
        result = manage("check", environ=production_env(**{missing: ""}))
        assert result.returncode != 0
        assert f"Set the {missing} environment variable." in result.stderr
