"""Settings: production has no defaults for secrets, passes `check --deploy`, and env values are checked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from cardreveal.settings import env

ROOT = Path(__file__).resolve().parent.parent


def production_env(**overrides: str) -> dict[str, str]:
    base = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "cardreveal.settings.production",
        "DJANGO_SECRET_KEY": Fernet.generate_key().decode() * 2,
        "DJANGO_ALLOWED_HOSTS": "cards.example.com",
        "CARDREVEAL_PASSKEY_RP_ID": "cards.example.com",
        "CARDREVEAL_PASSKEY_ORIGINS": "https://cards.example.com",
        "DATABASE_URL": "postgres://cardreveal@127.0.0.1:5432/cardreveal",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "CARDREVEAL_FIELD_KEYS": Fernet.generate_key().decode(),
        "CARDREVEAL_BANK_CONTACT_NAME": "Example Bank",
        "CARDREVEAL_BANK_CONTACT_PHONE": "+44 20 7946 0000",
        "CARDREVEAL_FRAUD_ALERT_EMAIL": "fraud-team@bank.example",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v}


def manage(*args: str, environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_production_passes_check_deploy_at_warning_level():
    result = manage("check", "--deploy", "--fail-level", "WARNING", environ=production_env())
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "missing",
    [
        "DJANGO_SECRET_KEY",
        "DJANGO_ALLOWED_HOSTS",
        "DATABASE_URL",
        "REDIS_URL",
        "CARDREVEAL_FIELD_KEYS",
    ],
)
def test_production_refuses_to_start_without_each_secret(missing):
    result = manage("check", environ=production_env(**{missing: ""}))
    assert result.returncode != 0
    assert f"Set the {missing} environment variable." in result.stderr


@pytest.mark.parametrize(
    ("missing", "says"),
    [
        ("CARDREVEAL_BANK_CONTACT_NAME", "Set CARDREVEAL_BANK_CONTACT_NAME to the bank's name"),
        ("CARDREVEAL_BANK_CONTACT_PHONE", "Set CARDREVEAL_BANK_CONTACT_PHONE to the bank's phone"),
        ("CARDREVEAL_FRAUD_ALERT_EMAIL", "Set the CARDREVEAL_FRAUD_ALERT_EMAIL environment"),
    ],
)
def test_production_refuses_to_start_without_the_banks_contact_or_fraud_address(missing, says):
    result = manage("check", environ=production_env(**{missing: ""}))
    assert result.returncode != 0
    assert says in result.stderr
    assert "ImproperlyConfigured" in result.stderr


def test_production_takes_the_banks_contact_from_the_environment():
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings as s; "
            "print(s.CARDREVEAL_BANK_CONTACT, s.CARDREVEAL_FRAUD_ALERT_EMAIL)",
        ],
        cwd=ROOT,
        env=production_env(
            CARDREVEAL_BANK_CONTACT_NAME="Northwind Bank",
            CARDREVEAL_BANK_CONTACT_PHONE="0800 123 456",
            CARDREVEAL_BANK_CONTACT_URL="https://northwind.example/lost",
            CARDREVEAL_FRAUD_ALERT_EMAIL="fraud@northwind.example",
        ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "'name': 'Northwind Bank'" in result.stdout
    assert "'phone': '0800 123 456'" in result.stdout
    assert "'url': 'https://northwind.example/lost'" in result.stdout
    assert "fraud@northwind.example" in result.stdout


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("CARDREVEAL_BANK_CONTACT_PHONE", "call us", "must be a phone number"),
        ("CARDREVEAL_BANK_CONTACT_PHONE", "12", "must be a phone number"),
        ("CARDREVEAL_BANK_CONTACT_URL", "http://bank.example/help", "absolute https://"),
        ("CARDREVEAL_BANK_CONTACT_URL", "bank.example/help", "absolute https://"),
        ("CARDREVEAL_BANK_CONTACT_NAME", "x" * 101, "at most 100 characters"),
    ],
)
def test_a_bad_bank_contact_is_refused_with_what_is_wrong(monkeypatch, variable, value, says):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ImproperlyConfigured, match=says):
        env.env_bank_contact({"name": "Demo", "phone": "+1 555 0100", "url": ""})


def test_the_bank_contact_defaults_apply_only_outside_production(monkeypatch):
    for key in ("NAME", "PHONE", "URL"):
        monkeypatch.delenv(f"CARDREVEAL_BANK_CONTACT_{key}", raising=False)
    demo = {"name": "Demo", "phone": "+1 555 0100", "url": ""}
    assert env.env_bank_contact(demo) == demo
    with pytest.raises(ImproperlyConfigured, match="CARDREVEAL_BANK_CONTACT_NAME"):
        env.env_bank_contact()


def test_a_fraud_alert_address_must_be_one_email_address(monkeypatch):
    monkeypatch.setenv("X_ALERT", "fraud@bank.example, other@bank.example")
    with pytest.raises(ImproperlyConfigured, match="X_ALERT must be one email address"):
        env.env_email("X_ALERT")
    monkeypatch.setenv("X_ALERT", " fraud@bank.example ")
    assert env.env_email("X_ALERT") == "fraud@bank.example"


def test_a_bad_field_key_fails_the_check_and_is_not_echoed():
    result = manage("check", environ=production_env(CARDREVEAL_FIELD_KEYS="ok-looking,short"))
    assert result.returncode != 0
    assert "CARDREVEAL_FIELD_KEYS entry 1 is not a Fernet key" in result.stderr
    assert "ok-looking" not in result.stdout + result.stderr


@pytest.mark.parametrize(("raw", "expected"), [("1", True), ("off", False), ("YES", True)])
def test_env_bool_reads_common_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("X_FLAG", raw)
    assert env.env_bool("X_FLAG", not expected) is expected


def test_env_bool_rejects_nonsense(monkeypatch):
    monkeypatch.setenv("X_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="X_FLAG must be true or false"):
        env.env_bool("X_FLAG", False)


def test_env_int_checks_bounds(monkeypatch):
    monkeypatch.setenv("X_SECONDS", "500")
    with pytest.raises(ImproperlyConfigured, match="at most 120"):
        env.env_int("X_SECONDS", 30, minimum=5, maximum=120)
    monkeypatch.setenv("X_SECONDS", "thirty")
    with pytest.raises(ImproperlyConfigured, match="whole number"):
        env.env_int("X_SECONDS", 30)


def test_env_choice_takes_one_of_its_words_and_names_them_otherwise(monkeypatch):
    monkeypatch.setenv("X_MODE", " Process ")
    assert env.env_choice("X_MODE", "thread", ("thread", "process")) == "process"
    monkeypatch.setenv("X_MODE", "celery")
    with pytest.raises(ImproperlyConfigured, match="X_MODE must be one of 'thread', 'process'"):
        env.env_choice("X_MODE", "thread", ("thread", "process"))
    monkeypatch.delenv("X_MODE")
    assert env.env_choice("X_MODE", "thread", ("thread", "process")) == "thread"


def test_production_cookies_are_host_prefixed_and_secure():
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings as s; "
            "print(s.SESSION_COOKIE_NAME, s.CSRF_COOKIE_NAME, s.SESSION_COOKIE_SECURE, "
            "s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, s.DEBUG)",
        ],
        cwd=ROOT,
        env=production_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.stdout.split() == [
        "__Host-sessionid",
        "__Host-csrftoken",
        "True",
        "True",
        "True",
        "False",
    ]


# ---------------------------------------------------------------------------------- bank sign-in

OIDC_ENV = {
    "CARDREVEAL_OIDC_ENABLED": "true",
    "CARDREVEAL_OIDC_CLIENT_ID": "cardreveal",
    "CARDREVEAL_OIDC_CLIENT_SECRET": "a-client-secret-from-the-bank",
    "CARDREVEAL_OIDC_ISSUER": "https://idp.bank.example",
    "CARDREVEAL_OIDC_AUTHORIZATION_ENDPOINT": "https://idp.bank.example/authorize",
    "CARDREVEAL_OIDC_TOKEN_ENDPOINT": "https://idp.bank.example/token",
    "CARDREVEAL_OIDC_USERINFO_ENDPOINT": "https://idp.bank.example/userinfo",
    "CARDREVEAL_OIDC_JWKS_ENDPOINT": "https://idp.bank.example/jwks",
}


def test_production_with_bank_sign_in_configured_from_the_environment_passes_check_deploy():
    result = manage(
        "check", "--deploy", "--fail-level", "WARNING", environ=production_env(**OIDC_ENV)
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_with_bank_sign_in_on_and_a_value_missing_refuses_to_start_naming_it():
    result = manage(
        "check", environ=production_env(**{**OIDC_ENV, "CARDREVEAL_OIDC_JWKS_ENDPOINT": ""})
    )
    assert result.returncode != 0
    assert "CARDREVEAL_OIDC_JWKS_ENDPOINT is not set." in result.stderr


def test_an_unsupported_signing_algorithm_is_refused_by_name():
    result = manage(
        "check", environ=production_env(**{**OIDC_ENV, "CARDREVEAL_OIDC_SIGN_ALGO": "HS256"})
    )
    assert result.returncode != 0
    assert "CARDREVEAL_OIDC_SIGN_ALGO must be one of" in result.stderr
