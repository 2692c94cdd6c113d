"""Sign-in with the bank's identity provider, end to end against a real OpenID provider
(django-oidc-provider in its own gunicorn process on loopback, tests/oidc_provider): the bank's
sign-in replaces our password step, our code step stays, cardholders are matched by external id,
and an unknown one is refused and audited, never created. Plus the configuration checks."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape
from urllib.parse import urlsplit

import pytest
import requests
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from cardreveal.accounts.models import ExternalIdentity
from cardreveal.accounts.sign_in_limits import sign_in_refusal
from cardreveal.audit.models import AuthEvent
from tests.conftest import totp_code
from tests.oidc_provider.server import BankUser, RunningProvider, running_provider

CALLBACK = "http://testserver/accounts/bank/callback/"
LINKED = BankUser("BANK-0001", "bank-password-one", "CN-7001")
STRANGER = BankUser("BANK-0404", "bank-password-two", "CN-7404")
BACKEND = "cardreveal.accounts.oidc.BankIdentityBackend"


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProvider]:
    with running_provider(
        workdir=tmp_path_factory.mktemp("op"), redirect_uris=[CALLBACK], users=[LINKED, STRANGER]
    ) as running:
        yield running


def configure(settings, provider: RunningProvider) -> None:
    """Turn bank sign-in on, pointed at the running provider."""
    settings.CARDREVEAL_OIDC_ENABLED = True
    settings.AUTHENTICATION_BACKENDS = [*settings.AUTHENTICATION_BACKENDS, BACKEND]
    settings.OIDC_RP_CLIENT_ID = provider.client_id
    settings.OIDC_RP_CLIENT_SECRET = provider.client_secret
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = provider.endpoint("authorize")
    settings.OIDC_OP_TOKEN_ENDPOINT = provider.endpoint("token")
    settings.OIDC_OP_USER_ENDPOINT = provider.endpoint("userinfo")
    settings.OIDC_OP_JWKS_ENDPOINT = provider.endpoint("jwks")
    settings.CARDREVEAL_OIDC_ISSUER = provider.issuer
    settings.CARDREVEAL_OIDC_PROVIDER_NAME = "Example Bank"


@pytest.fixture
def bank_sign_in_on(settings, provider):
    configure(settings, provider)
    return provider


@pytest.fixture
def linked(db):
    """A cardholder provisioned with the bank's id BANK-0001, with an authenticator."""
    user = get_user_model().objects.create_user(username="hana", email="hana@example.com")
    user.set_unusable_password()
    user.save()
    ExternalIdentity.objects.create(user=user, external_id=LINKED.username)
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    return user, device


def at_the_bank(authorize_url: str, person: BankUser) -> str:
    """Play the person's browser at the provider: follow its redirects, sign in on its page, and
    return the URL it finally sends the browser to (our callback)."""
    bank = requests.Session()
    url = authorize_url
    signed_in = False
    for _ in range(10):
        response = bank.get(url, allow_redirects=False, timeout=30)
        if response.status_code == 200 and not signed_in:
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', response.text)
            following = re.search(r'name="next" value="([^"]*)"', response.text)
            assert token, response.text[:2000]
            assert following, response.text[:2000]
            response = bank.post(
                url,
                data={
                    "csrfmiddlewaretoken": token.group(1),
                    "username": person.username,
                    "password": person.password,
                    "next": unescape(following.group(1)),
                },
                allow_redirects=False,
                timeout=30,
            )
            signed_in = True
        assert response.status_code == 302, (response.status_code, response.text[:2000])
        location = response.headers["Location"]
        url = (
            location
            if "://" in location
            else f"{urlsplit(url).scheme}://{urlsplit(url).netloc}{location}"
        )
        if not url.startswith(authorize_url.split("/openid/")[0]):
            return url
    raise AssertionError("the provider never sent the browser back")


def start(client: Client, next_path: str = "/") -> str:
    response = client.get(f"/accounts/bank/?next={next_path}")
    assert response.status_code == 302
    return str(response["Location"])


def come_back(client: Client, callback_url: str):
    assert callback_url.startswith(CALLBACK), callback_url
    return client.get(callback_url.removeprefix("http://testserver"))


# ---------------------------------------------------------------------------------- signing in


def test_bank_sign_in_then_our_code_reaches_the_cards(bank_sign_in_on, linked, client, clock):
    user, device = linked
    page = client.get("/accounts/login/").content.decode()
    assert "Sign in with Example Bank" in page
    assert 'name="password"' not in page

    authorize = start(client)
    assert authorize.startswith(bank_sign_in_on.endpoint("authorize") + "?")
    assert "code_challenge=" in authorize  # PKCE
    back = come_back(client, at_the_bank(authorize, LINKED))
    assert back.status_code == 302
    assert back["Location"] == "/"
    # The password step is done; our code step is still asked for.
    assert client.get("/")["Location"].startswith("/accounts/verify/")
    response = client.post("/accounts/verify/", {"code": totp_code(device, clock)})
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    kinds = list(
        AuthEvent.objects.filter(user=user).order_by("seq").values_list("event", flat=True)
    )
    assert kinds[-2:] == [AuthEvent.Event.PASSWORD_ACCEPTED, AuthEvent.Event.LOGIN]


def test_a_person_the_bank_knows_but_we_do_not_is_refused_and_nothing_is_created(
    bank_sign_in_on, settings, linked, client
):
    users_before = get_user_model().objects.count()
    back = come_back(client, at_the_bank(start(client), STRANGER))
    assert back.status_code == 302
    refused = client.get(back["Location"])
    assert refused.status_code == 403
    body = refused.content.decode()
    assert "no cardholder account here is linked to your bank profile" in body
    assert "Example Bank on +44 20 7946 0000" in body
    assert get_user_model().objects.count() == users_before
    assert client.get("/")["Location"].startswith("/accounts/login/")
    (failed,) = AuthEvent.objects.filter(event=AuthEvent.Event.LOGIN_FAILED)
    assert failed.reason == "unknown_external_id"
    # No password was tried here: the address's sign-in limit is untouched, even at a limit of 1.
    settings.CARDREVEAL_SIGN_IN_FAILURES_PER_ADDRESS = 1
    assert sign_in_refusal(address="127.0.0.1", username=None) is None
    assert failed.resource == "external_id:BANK-0404"
    assert failed.user_id is None


def test_a_configured_claim_matches_instead_of_sub(bank_sign_in_on, settings, linked, client):
    user, _device = linked
    settings.CARDREVEAL_OIDC_EXTERNAL_ID_CLAIM = "customer_number"
    settings.OIDC_RP_SCOPES = "openid customer"
    ExternalIdentity.objects.filter(user=user).update(external_id=LINKED.second_id)
    back = come_back(client, at_the_bank(start(client), LINKED))
    assert back["Location"] == "/"
    assert client.session["_auth_user_id"] == str(user.pk)


def test_an_inactive_cardholder_is_refused(bank_sign_in_on, linked, client):
    user, _device = linked
    user.is_active = False
    user.save()
    back = come_back(client, at_the_bank(start(client), LINKED))
    refused = client.get(back["Location"])
    assert refused.status_code == 403
    assert b"Your account here is turned off" in refused.content
    assert "_auth_user_id" not in client.session


def test_a_callback_with_a_forged_code_signs_nobody_in(bank_sign_in_on, linked, client):
    authorize = start(client)
    state = re.search(r"state=([^&]+)", authorize).group(1)
    back = client.get(f"/accounts/bank/callback/?code=forged&state={state}")
    assert back.status_code == 302
    refused = client.get(back["Location"])
    assert refused.status_code == 403
    assert b"did not complete" in refused.content
    assert "_auth_user_id" not in client.session
    assert AuthEvent.objects.get(event=AuthEvent.Event.LOGIN_FAILED).reason == "bank_sign_in_error"


def test_a_token_for_another_issuer_is_refused(bank_sign_in_on, settings, linked, client):
    settings.CARDREVEAL_OIDC_ISSUER = "https://someone-else.example/openid"
    back = come_back(client, at_the_bank(start(client), LINKED))
    refused = client.get(back["Location"])
    assert refused.status_code == 403
    assert b"did not complete" in refused.content
    assert "_auth_user_id" not in client.session
    (failed,) = AuthEvent.objects.filter(event=AuthEvent.Event.LOGIN_FAILED)
    assert failed.reason == "bank_sign_in_error"


def test_no_password_is_checked_on_the_sign_in_page_and_staff_use_the_admin(
    bank_sign_in_on, linked, staff, client, clock
):
    user, _device = linked
    user.set_password("a-password-they-had-before-1")
    user.save()
    right = client.post(
        "/accounts/login/", {"username": "hana", "password": "a-password-they-had-before-1"}
    )
    wrong = client.post("/accounts/login/", {"username": "hana", "password": "not-it"})
    assert right.status_code == wrong.status_code == 200
    assert b"Sign in with your bank" in right.content
    assert b"Sign in with your bank" in wrong.content
    assert "_auth_user_id" not in client.session
    # No password was checked: nothing counted towards a lock, nothing audited as a failure.
    assert not AuthEvent.objects.filter(event=AuthEvent.Event.LOGIN_FAILED).exists()
    _root, device = staff
    admin = Client().post(
        "/admin/login/",
        {
            "username": "root",
            "password": "pw-root-long-enough",
            "code": totp_code(device, clock),
            "next": "/admin/",
        },
    )
    assert admin.status_code == 302
    assert admin["Location"] == "/admin/"


def test_password_reset_points_to_the_bank(bank_sign_in_on, linked, client):
    page = client.get("/accounts/password/reset/")
    assert b"Your password is kept by Example Bank" in page.content
    assert (
        client.post("/accounts/password/reset/", {"email": "hana@example.com"}).status_code == 200
    )


def test_off_by_default_the_bank_pages_do_not_exist(client, db):
    assert client.get("/accounts/bank/").status_code == 404
    assert client.get("/accounts/bank/callback/?code=x&state=y").status_code == 404
    assert b'name="password"' in client.get("/accounts/login/").content


# ---------------------------------------------------------------------------------- checks


def test_turned_on_without_its_values_the_checks_name_each_variable(settings):
    settings.CARDREVEAL_OIDC_ENABLED = True
    with pytest.raises(SystemCheckError) as failure:
        call_command("check")
    text = str(failure.value)
    for variable in (
        "CARDREVEAL_OIDC_CLIENT_ID",
        "CARDREVEAL_OIDC_CLIENT_SECRET",
        "CARDREVEAL_OIDC_ISSUER",
        "CARDREVEAL_OIDC_AUTHORIZATION_ENDPOINT",
        "CARDREVEAL_OIDC_TOKEN_ENDPOINT",
        "CARDREVEAL_OIDC_USERINFO_ENDPOINT",
        "CARDREVEAL_OIDC_JWKS_ENDPOINT",
    ):
        assert variable in text
    assert "cardreveal.accounts.oidc.BankIdentityBackend is not in AUTHENTICATION_BACKENDS" in text


def test_plain_http_to_a_remote_provider_is_refused_by_the_checks(settings, provider):
    configure(settings, provider)
    call_command("check")  # loopback http is allowed in tests
    settings.OIDC_OP_TOKEN_ENDPOINT = "http://idp.bank.example/token"
    settings.OIDC_RP_SCOPES = "email"
    with pytest.raises(SystemCheckError) as failure:
        call_command("check")
    text = str(failure.value)
    assert "CARDREVEAL_OIDC_TOKEN_ENDPOINT must be an https:// URL" in text
    assert "CARDREVEAL_OIDC_SCOPES must include openid" in text


# ---------------------------------------------------------------------------------- invitations


def test_with_bank_sign_in_an_invitation_leads_to_the_bank_then_enrolment(
    bank_sign_in_on, settings, db, client, django_capture_on_commit_callbacks
):
    from django.core import mail

    from cardreveal.accounts.invitations import invitation_send

    settings.CARDREVEAL_SITE_URL = "http://testserver"
    user = get_user_model().objects.create_user(username="kai", email="kai@example.com")
    user.set_unusable_password()
    user.save()
    ExternalIdentity.objects.create(user=user, external_id=LINKED.username)
    with django_capture_on_commit_callbacks(execute=True):
        invitation_send(user=user, by=None)
    body = mail.outbox[-1].body
    assert "sign in with your Example Bank online banking details" in body
    assert "choose your password" not in body
    path = re.search(r"http://testserver(/accounts/invitation/\?token=\S+)", body).group(1)
    page = client.get(path)
    assert b"Continue with Example Bank" in page.content
    assert b"new_password1" not in page.content
    onward = client.post(path)
    assert onward["Location"] == "/accounts/bank/?next=/accounts/enrol/"
    authorize = start(client, "/accounts/enrol/")
    back = come_back(client, at_the_bank(authorize, LINKED))
    assert back["Location"] == "/accounts/enrol/"
    assert b"Set up your authenticator" in client.get("/accounts/enrol/").content
    user.refresh_from_db()
    assert not user.has_usable_password()
    assert client.get(path).status_code == 410  # used
