"""Thredd provider: the shared contract, bearer tokens, CVV status, end to end over the sandbox."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import jwt
import pytest
import requests
import responses
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from providers.base import BindingConfig, CardRef, PlainCvv
from providers.client_assertion import ASSERTION_TYPE
from providers.errors import (
    CardNotFound,
    CvvBlocked,
    ProviderAuthError,
    ProviderBadResponse,
    ProviderConfigError,
    ProviderRateLimited,
    ProviderServerError,
    ProviderTimeout,
    ProviderTLSError,
)
from providers.http import ClientCertificate, HttpDoor, HttpPolicy
from providers.sandbox.core import SandboxCard
from providers.sandbox.server import RunningSandbox, start_sandbox
from providers.sandbox.thredd import ThreddEmulator
from providers.sandbox.tls import ThrowawayCA, server_tls_context
from providers.sensitive import Sensitive
from providers.thredd import (
    UAT_BASE_URL,
    UAT_TOKEN_URL,
    ThreddProvider,
    TokenCache,
    token_cache,
)
from tests.conftest import shows
from tests.providers.contract import (
    BASE_URL,
    BODY_MARKER,
    ContractHarness,
    CvvCall,
    ProviderContract,
    door,
)

# Thredd's token hosts are not its API hosts: the tests keep them apart too.
TOKEN_URL = "https://auth.provider.test/connect/token"
CVV_URL = f"{BASE_URL}/cards/103169946/cvv"
STATUS_URL = f"{BASE_URL}/cards/103169946/cvv/status"
CARD = CardRef({"public_token": "103169946"}, expiry_month=2, expiry_year=2030)
CLIENT_ID = "client-one"
CLIENT_SECRET = "s3cret-VALUE-never-logged"
TRACE_ID = "00-9228fab9c1d24e6f9a0b1c2d3e4f5a6b-1a2b3c4d5e6f7a8b-00"


@pytest.fixture(autouse=True)
def _fresh_token_cache() -> Iterator[None]:
    """Every test starts and ends with no cached bearer token."""
    token_cache.clear()
    yield
    token_cache.clear()


def make_provider(
    *,
    base_url: str = BASE_URL,
    http: HttpDoor | None = None,
    key: str = "binding-1",
    client_id: str = CLIENT_ID,
    client_secret: str = CLIENT_SECRET,
    signing: dict[str, str | bytes] | None = None,
    **options: Any,
) -> ThreddProvider:
    """A provider on `base_url` whose token URL is TOKEN_URL unless `token_url` says otherwise
    (None: the option left out); `signing` adds signing key secrets."""
    options.setdefault("token_url", TOKEN_URL)
    if options["token_url"] is None:
        del options["token_url"]
    secrets: dict[str, str | bytes] = {"client_id": client_id, "client_secret": client_secret}
    secrets.update(signing or {})
    config = BindingConfig(
        key=key,
        base_url=base_url,
        secrets={name: Sensitive(value) for name, value in secrets.items()},  # type: ignore[misc]
        options=options,
    )
    return ThreddProvider(config, http or door())


class TokenServer:
    """A token endpoint for `responses` that hands out a new token on every call. With a
    `signing_key_pem` it takes only client assertions that key's public half verifies, for
    CLIENT_ID at TOKEN_URL; otherwise only CLIENT_ID's secret. A refusal is recorded and
    answered 401 invalid_client."""

    def __init__(
        self, expires_in: object = 3600, delay: float = 0.0, signing_key_pem: bytes = b""
    ) -> None:
        self.expires_in = expires_in
        self.delay = delay
        self.signing_key_pem = signing_key_pem
        self.issued: list[str] = []
        self.forms: list[dict[str, list[str]]] = []
        self.headers: list[dict[str, str]] = []
        self.refusals: list[str] = []

    def _refusal(self, form: dict[str, list[str]], url: str) -> str:
        if not self.signing_key_pem:
            ok = form.get("client_secret") == [CLIENT_SECRET] and "client_assertion" not in form
            return "" if ok else "not the client secret"
        if "client_secret" in form or form.get("client_assertion_type") != [ASSERTION_TYPE]:
            return "not a client assertion"
        try:
            claims = jwt.decode(
                form["client_assertion"][0],
                public_of(self.signing_key_pem),
                algorithms=["PS256", "RS256", "ES256"],
                audience=url,
                options={"require": ["iss", "sub", "aud", "exp", "iat", "jti"]},
            )
        except jwt.PyJWTError as exc:
            return f"assertion refused: {type(exc).__name__}"
        return "" if claims["iss"] == claims["sub"] == CLIENT_ID else "another client"

    def __call__(self, request: Any) -> tuple[int, dict[str, str], str]:
        time.sleep(self.delay)
        form = parse_qs(request.body.decode())
        self.forms.append(form)
        self.headers.append(dict(request.headers))
        refusal = self._refusal(form, request.url)
        if refusal:
            self.refusals.append(refusal)
            return 401, {"Content-Type": "application/json"}, '{"error":"invalid_client"}'
        token = f"tok{len(self.issued) + 1}-{uuid.uuid4().hex}"
        self.issued.append(token)
        body = {"access_token": token, "token_type": "Bearer", "expires_in": self.expires_in}
        return 200, {"Content-Type": "application/json"}, json.dumps(body)

    def install(self, rsps: responses.RequestsMock, url: str = TOKEN_URL) -> TokenServer:
        rsps.add_callback(responses.POST, url, callback=self)
        return self


def cvv_body(cvv: str = "955") -> bytes:
    return json.dumps({"cvv": cvv, "resultStatus": "Success"}).encode()


def problem(status: int, **fields: Any) -> bytes:
    return json.dumps({"type": "https://docs.test/errors", "status": status, **fields}).encode()


def bearer(call: Any) -> str:
    return str(call.request.headers["Authorization"]).removeprefix("Bearer ")


def calls_to(rsps: responses.RequestsMock, url: str) -> list[Any]:
    return [call for call in rsps.calls if call.request.url == url]


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


# ---------------------------------------------------------------------------- the shared contract


def rsa_key_pem(bits: int = 2048) -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def ec_key_pem(curve: ec.EllipticCurve | None = None) -> bytes:
    key = ec.generate_private_key(curve or ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def public_of(private_pem: bytes) -> Any:
    return serialization.load_pem_private_key(private_pem, None).public_key()


@dataclass
class AuthMode:
    """One way a binding authenticates at Thredd, as the contract runs it."""

    name: str
    options: dict[str, Any]
    signing_key_pem: bytes = b""
    mtls: bool = False

    def signing(self) -> dict[str, str | bytes]:
        if not self.signing_key_pem:
            return {}
        return {"signing_key": self.signing_key_pem, "signing_key_id": "kid-7"}


RSA_SIGNING_KEY = rsa_key_pem()
EC_SIGNING_KEY = ec_key_pem()
AUTH_MODES = [
    AuthMode("client_secret_post", {}),
    AuthMode("private_key_jwt-PS256", {"client_auth": "private_key_jwt"}, RSA_SIGNING_KEY),
    AuthMode(
        "private_key_jwt-RS256",
        {"client_auth": "private_key_jwt", "assertion_algorithm": "RS256"},
        RSA_SIGNING_KEY,
    ),
    AuthMode(
        "private_key_jwt-ES256",
        {"client_auth": "private_key_jwt", "assertion_algorithm": "ES256"},
        EC_SIGNING_KEY,
    ),
    AuthMode(
        "private_key_jwt-PS256-mtls",
        {"client_auth": "private_key_jwt", "mtls": True},
        RSA_SIGNING_KEY,
        mtls=True,
    ),
    AuthMode("client_secret_post-mtls", {"mtls": True}, mtls=True),
]


def with_client_certificate(http: HttpDoor) -> HttpDoor:
    """The same door policy, presenting a client certificate (mocked calls never handshake)."""
    issued = ThrowawayCA.create().issue("cardreveal client", server=False)
    return HttpDoor(
        name=http.name,
        policy=http.policy,
        client_certificate=ClientCertificate(issued.cert_pem, Sensitive(issued.key_pem)),
    )


class ThreddHarness(ContractHarness):
    card = CARD

    def __init__(self, mode: AuthMode) -> None:
        self.mode = mode
        self.tokens = TokenServer(signing_key_pem=mode.signing_key_pem)

    def make_provider(self, base_url: str, http: HttpDoor) -> ThreddProvider:
        return make_provider(
            base_url=base_url,
            http=with_client_certificate(http) if self.mode.mtls else http,
            key="contract",
            signing=self.mode.signing(),
            **self.mode.options,
        )

    def cvv_call(self, base_url: str) -> CvvCall:
        return CvvCall("GET", f"{base_url}/cards/103169946/cvv")

    def success_body(self, cvv: str) -> bytes:
        return cvv_body(cvv)

    def not_found(self) -> tuple[int, bytes]:
        return 404, problem(404, title="Not Found", detail=BODY_MARKER, traceId=TRACE_ID)

    def prepare(self, rsps: responses.RequestsMock, base_url: str) -> None:
        self.tokens.install(rsps, TOKEN_URL)


class TestThreddContract(ProviderContract):
    """The shared contract, once per client authentication (secret, private_key_jwt with each
    algorithm) with and without mutual TLS: each gets its token the way it must."""

    @pytest.fixture(params=AUTH_MODES, ids=lambda mode: mode.name)
    def harness(self, request: pytest.FixtureRequest) -> Iterator[ContractHarness]:
        harness = ThreddHarness(request.param)
        yield harness
        # Every token the contract's calls asked for was asked for the binding's way.
        assert harness.tokens.refusals == []


# ---------------------------------------------------------------------------- tokens


def test_token_is_requested_with_form_client_credentials(rsps: responses.RequestsMock) -> None:
    tokens = TokenServer().install(rsps)
    rsps.add(responses.GET, CVV_URL, body=cvv_body())

    make_provider().fetch_cvv(card=CARD)

    assert tokens.forms == [
        {
            "grant_type": ["client_credentials"],
            "client_id": [CLIENT_ID],
            "client_secret": [CLIENT_SECRET],
        }
    ]
    assert tokens.headers[0]["Content-Type"] == "application/x-www-form-urlencoded"
    (cvv_call,) = calls_to(rsps, CVV_URL)
    assert cvv_call.request.headers["Authorization"] == f"Bearer {tokens.issued[0]}"
    assert cvv_call.request.headers["Accept"] == "application/json"
    assert "X-Region" not in cvv_call.request.headers


def test_scope_and_region_are_sent_when_configured(rsps: responses.RequestsMock) -> None:
    tokens = TokenServer().install(rsps)
    rsps.add(responses.GET, CVV_URL, body=cvv_body())

    make_provider(scope="coreapi", region="1").fetch_cvv(card=CARD)

    assert tokens.forms[0]["scope"] == ["coreapi"]
    assert calls_to(rsps, CVV_URL)[0].request.headers["X-Region"] == "1"


def test_one_token_serves_two_cvv_calls(rsps: responses.RequestsMock) -> None:
    tokens = TokenServer().install(rsps)
    rsps.add(responses.GET, CVV_URL, body=cvv_body())

    provider = make_provider()
    provider.fetch_cvv(card=CARD)
    make_provider().fetch_cvv(card=CARD)  # a new provider object for the same binding

    assert len(tokens.issued) == 1
    assert [bearer(c) for c in calls_to(rsps, CVV_URL)] == [tokens.issued[0]] * 2


def test_tokens_are_cached_per_binding_and_client_id(rsps: responses.RequestsMock) -> None:
    tokens = TokenServer().install(rsps)
    rsps.add(responses.GET, CVV_URL, body=cvv_body())

    make_provider(key="a").fetch_cvv(card=CARD)
    make_provider(key="b").fetch_cvv(card=CARD)
    make_provider(key="a", client_id="client-two").fetch_cvv(card=CARD)

    assert len(tokens.issued) == 3


def test_token_is_refreshed_shortly_before_it_expires(
    rsps: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    monkeypatch.setattr("providers.thredd.token_cache", TokenCache(clock=lambda: now[0]))
    tokens = TokenServer(expires_in=100).install(rsps)
    rsps.add(responses.GET, CVV_URL, body=cvv_body())
    provider = make_provider()

    provider.fetch_cvv(card=CARD)
    now[0] += 89  # expires_in 100 less a 10 s margin: still fresh
    provider.fetch_cvv(card=CARD)
    assert len(tokens.issued) == 1
    now[0] += 2  # inside the margin: refreshed before Thredd would refuse it
    provider.fetch_cvv(card=CARD)
    assert len(tokens.issued) == 2
    assert bearer(calls_to(rsps, CVV_URL)[-1]) == tokens.issued[1]


def test_token_lifetime_is_capped_at_a_day(
    rsps: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [0.0]
    monkeypatch.setattr("providers.thredd.token_cache", TokenCache(clock=lambda: now[0]))
    tokens = TokenServer(expires_in=10**9).install(rsps)
    rsps.add(responses.GET, CVV_URL, body=cvv_body())
    provider = make_provider()

    provider.fetch_cvv(card=CARD)
    now[0] = 24 * 3600 - 61
    provider.fetch_cvv(card=CARD)
    now[0] = 24 * 3600 - 59
    provider.fetch_cvv(card=CARD)

    assert len(tokens.issued) == 2


def test_401_fetches_a_new_token_once_and_succeeds(rsps: responses.RequestsMock) -> None:
    tokens = TokenServer().install(rsps)
    rsps.add(responses.GET, CVV_URL, status=401, headers={"WWW-Authenticate": "Bearer"})
    rsps.add(responses.GET, CVV_URL, body=cvv_body("955"))

    result = make_provider().fetch_cvv(card=CARD)

    assert isinstance(result, PlainCvv)
    assert result.value.reveal() == "955"
    assert len(tokens.issued) == 2
    assert [bearer(c) for c in calls_to(rsps, CVV_URL)] == tokens.issued


def test_401_after_a_new_token_gives_up_with_auth_error(rsps: responses.RequestsMock) -> None:
    tokens = TokenServer().install(rsps)
    rsps.add(responses.GET, CVV_URL, status=401, body=problem(401, title=BODY_MARKER))

    with pytest.raises(ProviderAuthError) as info:
        make_provider().fetch_cvv(card=CARD)

    assert len(tokens.issued) == 2
    assert len(calls_to(rsps, CVV_URL)) == 2
    assert BODY_MARKER not in repr(vars(info.value))


def test_a_refused_token_is_not_reused(rsps: responses.RequestsMock) -> None:
    tokens = TokenServer().install(rsps)
    rsps.add(responses.GET, CVV_URL, status=401)
    rsps.add(responses.GET, CVV_URL, status=401)
    rsps.add(responses.GET, CVV_URL, body=cvv_body())
    provider = make_provider()

    with pytest.raises(ProviderAuthError):
        provider.fetch_cvv(card=CARD)
    provider.fetch_cvv(card=CARD)

    # The second token was refused too, so the next reveal starts with a third.
    assert len(tokens.issued) == 3
    assert bearer(calls_to(rsps, CVV_URL)[-1]) == tokens.issued[2]


def test_403_does_not_fetch_a_new_token(rsps: responses.RequestsMock) -> None:
    tokens = TokenServer().install(rsps)
    rsps.add(responses.GET, CVV_URL, status=403, body=problem(403, title="Forbidden"))

    with pytest.raises(ProviderAuthError):
        make_provider().fetch_cvv(card=CARD)

    assert len(tokens.issued) == 1


def test_concurrent_reveals_fetch_one_token(rsps: responses.RequestsMock) -> None:
    tokens = TokenServer(delay=0.05).install(rsps)
    rsps.add(responses.GET, CVV_URL, body=cvv_body())
    provider = make_provider()
    start = threading.Barrier(8)
    failures: list[BaseException] = []

    def reveal() -> None:
        start.wait()
        try:
            provider.fetch_cvv(card=CARD)
        except BaseException as exc:  # reported by the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=reveal) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert len(tokens.issued) == 1
    assert len(calls_to(rsps, CVV_URL)) == 8


@pytest.mark.parametrize(
    ("status", "body", "error", "code"),
    [
        (400, {"error": "invalid_client"}, ProviderAuthError, "invalid_client"),
        (401, {"error": "invalid_client"}, ProviderAuthError, "invalid_client"),
        (400, {"error": BODY_MARKER}, ProviderAuthError, ""),
        (404, {"message": BODY_MARKER}, ProviderConfigError, ""),
        (429, {"message": BODY_MARKER}, ProviderRateLimited, ""),
        (503, {"message": BODY_MARKER}, ProviderServerError, ""),
    ],
)
def test_token_endpoint_failures_map_to_errors_without_a_cvv_call(
    rsps: responses.RequestsMock, status: int, body: object, error: type, code: str
) -> None:
    rsps.add(responses.POST, TOKEN_URL, status=status, json=body)

    with pytest.raises(error) as info:
        make_provider().fetch_cvv(card=CARD)

    assert info.value.provider_code == code
    assert BODY_MARKER not in repr(vars(info.value))
    assert calls_to(rsps, CVV_URL) == []


@pytest.mark.parametrize(
    "payload",
    [
        {"token_type": "Bearer", "expires_in": 3600},
        {"access_token": "", "token_type": "Bearer", "expires_in": 3600},
        {"access_token": "abc\r\nX-Injected: 1", "token_type": "Bearer", "expires_in": 3600},
        {"access_token": "abc", "token_type": "mac", "expires_in": 3600},
        {"access_token": "abc", "token_type": "Bearer", "expires_in": -5},
        {"access_token": "abc", "token_type": "Bearer", "expires_in": "soon"},
        ["not", "an", "object"],
    ],
)
def test_unusable_token_response_is_bad_response(
    rsps: responses.RequestsMock, payload: object
) -> None:
    rsps.add(responses.POST, TOKEN_URL, json=payload)

    with pytest.raises(ProviderBadResponse):
        make_provider().fetch_cvv(card=CARD)

    assert calls_to(rsps, CVV_URL) == []


def test_token_without_expires_in_is_still_used(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.POST, TOKEN_URL, json={"access_token": "abc.def", "token_type": "Bearer"})
    rsps.add(responses.GET, CVV_URL, body=cvv_body())

    make_provider().fetch_cvv(card=CARD)
    make_provider().fetch_cvv(card=CARD)

    assert len(calls_to(rsps, TOKEN_URL)) == 1


def test_token_url_option_wins_then_the_documented_uat_token_host() -> None:
    assert make_provider(token_url="https://auth.test/t").token_url == "https://auth.test/t"
    assert make_provider(base_url=UAT_BASE_URL, token_url=None).token_url == UAT_TOKEN_URL
    assert make_provider(base_url=UAT_BASE_URL + "/", token_url="").token_url == UAT_TOKEN_URL


@pytest.mark.parametrize(
    "base_url",
    [
        BASE_URL,
        "https://api.uat.threddpay.com/api/v1",  # Thredd's newer UAT host: no token URL published
        "https://api.thredd.com/api/v1",
    ],
)
def test_blank_token_url_is_never_derived_from_another_base_url(
    rsps: responses.RequestsMock, base_url: str
) -> None:
    provider = make_provider(base_url=base_url, token_url=None)

    with pytest.raises(ProviderConfigError, match="enter the Token URL") as info:
        provider.fetch_cvv(card=CARD)

    assert "token hosts are not its API hosts" in info.value.detail
    assert len(rsps.calls) == 0  # no guess was tried
    assert ThreddProvider.validate_endpoints(base_url=base_url, options={}) == {
        "token_url": info.value.detail
    }


def test_private_key_jwt_needs_its_token_url_even_on_the_uat_host(
    rsps: responses.RequestsMock,
) -> None:
    options = {"client_auth": "private_key_jwt"}
    errors = ThreddProvider.validate_endpoints(base_url=UAT_BASE_URL, options=options)
    assert "publishes no token endpoint for private_key_jwt" in errors["token_url"]
    assert ThreddProvider.validate_endpoints(base_url=UAT_BASE_URL, options={}) == {}
    assert (
        ThreddProvider.validate_endpoints(
            base_url=UAT_BASE_URL, options={**options, "token_url": "https://id.test/oauth2/token"}
        )
        == {}
    )
    provider = make_provider(base_url=UAT_BASE_URL, token_url=None, signing={}, **options)
    with pytest.raises(ProviderConfigError):
        provider.check_connection()
    assert len(rsps.calls) == 0


def test_the_loopback_sandbox_serves_its_token_endpoint_beside_its_api() -> None:
    provider = make_provider(base_url="http://127.0.0.1:8765/thredd/", token_url=None)
    assert provider.token_url == "http://127.0.0.1:8765/thredd/connect/token"


def test_check_connection_fetches_a_fresh_token_that_reveals_then_use(
    rsps: responses.RequestsMock,
) -> None:
    tokens = TokenServer().install(rsps)
    rsps.add(responses.GET, CVV_URL, body=cvv_body())
    provider = make_provider()
    provider.fetch_cvv(card=CARD)

    provider.check_connection()
    provider.fetch_cvv(card=CARD)

    assert len(tokens.issued) == 2
    assert bearer(calls_to(rsps, CVV_URL)[-1]) == tokens.issued[1]


def test_check_connection_with_wrong_secret_is_auth_error(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.POST, TOKEN_URL, status=400, json={"error": "invalid_client"})

    with pytest.raises(ProviderAuthError):
        make_provider().check_connection()


def test_invalid_region_option_is_a_config_error_without_an_api_call(
    rsps: responses.RequestsMock,
) -> None:
    TokenServer().install(rsps)

    with pytest.raises(ProviderConfigError):
        make_provider(region="1\r\nX-Injected: 1").fetch_cvv(card=CARD)
    assert calls_to(rsps, CVV_URL) == []


def test_missing_credentials_are_a_config_error_without_a_call(
    rsps: responses.RequestsMock,
) -> None:
    with pytest.raises(ProviderConfigError):
        make_provider(client_secret="").fetch_cvv(card=CARD)
    assert len(rsps.calls) == 0


def test_token_and_secret_never_reach_the_logs(
    rsps: responses.RequestsMock, caplog: pytest.LogCaptureFixture
) -> None:
    tokens = TokenServer().install(rsps)
    rsps.add(responses.GET, CVV_URL, status=401)
    rsps.add(responses.GET, CVV_URL, body=cvv_body("955"))

    with caplog.at_level(logging.DEBUG):
        make_provider().fetch_cvv(card=CARD)

    assert caplog.records  # the door did log the calls
    assert CLIENT_SECRET not in caplog.text
    assert not shows("955", caplog.text)
    for token in tokens.issued:
        assert token not in caplog.text


# ---------------------------------------------------------------------------- CVV answers


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (409, problem(409, title="CVV is blocked", detail=BODY_MARKER, traceId=TRACE_ID)),
        (
            400,
            problem(
                400,
                title="One or more validation errors occured",
                errors={"cvv": ["The CVV is Blocked."]},
            ),
        ),
        (403, problem(403, detail="CVV blocked after the maximum number of attempts")),
    ],
)
def test_blocked_cvv_raises_cvv_blocked(
    rsps: responses.RequestsMock, status: int, body: bytes
) -> None:
    TokenServer().install(rsps)
    rsps.add(
        responses.GET, CVV_URL, status=status, body=body, content_type="application/problem+json"
    )

    with pytest.raises(CvvBlocked) as info:
        make_provider().fetch_cvv(card=CARD)

    assert BODY_MARKER not in repr(vars(info.value))
    assert "blocked" not in info.value.detail.lower()  # the classification, not the text


@pytest.mark.parametrize(("status", "error"), [(404, CardNotFound), (429, ProviderRateLimited)])
def test_not_found_and_rate_limit_keep_their_meaning_whatever_the_text(
    rsps: responses.RequestsMock, status: int, error: type
) -> None:
    TokenServer().install(rsps)
    rsps.add(responses.GET, CVV_URL, status=status, body=problem(status, title="CVV blocked"))

    with pytest.raises(error):
        make_provider().fetch_cvv(card=CARD)


def test_problem_saying_unblocked_is_not_cvv_blocked(rsps: responses.RequestsMock) -> None:
    TokenServer().install(rsps)
    rsps.add(responses.GET, CVV_URL, status=400, body=problem(400, title="CVV is Unblocked"))

    with pytest.raises(ProviderBadResponse) as info:
        make_provider().fetch_cvv(card=CARD)

    assert not isinstance(info.value, CvvBlocked)


def test_problem_trace_id_is_kept_for_support_but_no_text(rsps: responses.RequestsMock) -> None:
    TokenServer().install(rsps)
    rsps.add(
        responses.GET, CVV_URL, status=404, body=problem(404, title=BODY_MARKER, traceId=TRACE_ID)
    )

    with pytest.raises(CardNotFound) as info:
        make_provider().fetch_cvv(card=CARD)

    assert TRACE_ID in info.value.detail
    assert BODY_MARKER not in repr(vars(info.value))


def test_trace_id_that_is_not_a_trace_id_is_dropped(rsps: responses.RequestsMock) -> None:
    TokenServer().install(rsps)
    rsps.add(responses.GET, CVV_URL, status=404, body=problem(404, traceId=BODY_MARKER))

    with pytest.raises(CardNotFound) as info:
        make_provider().fetch_cvv(card=CARD)

    assert BODY_MARKER not in repr(vars(info.value))


def test_other_4xx_problem_is_bad_response(rsps: responses.RequestsMock) -> None:
    TokenServer().install(rsps)
    rsps.add(
        responses.GET, CVV_URL, status=400, body=problem(400, errors={"publicToken": [BODY_MARKER]})
    )

    with pytest.raises(ProviderBadResponse) as info:
        make_provider().fetch_cvv(card=CARD)

    assert BODY_MARKER not in repr(vars(info.value))


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({"cvv": "955", "resultStatus": "Failed"}, ProviderBadResponse),
        ({"cvv": "955", "resultStatus": 1}, ProviderBadResponse),
        ({"resultStatus": "Blocked"}, CvvBlocked),
        ({"resultStatus": "Success"}, ProviderBadResponse),
        ({"cvv": 955, "resultStatus": "Success"}, ProviderBadResponse),
        ({"cvv": "95", "resultStatus": "Success"}, ProviderBadResponse),
        (["955"], ProviderBadResponse),
    ],
)
def test_cvv_answer_must_be_success_with_3_or_4_digits(
    rsps: responses.RequestsMock, payload: object, error: type
) -> None:
    TokenServer().install(rsps)
    rsps.add(responses.GET, CVV_URL, json=payload)

    with pytest.raises(error):
        make_provider().fetch_cvv(card=CARD)


@pytest.mark.parametrize("public_token", ["", "12345678", "1234567890", "../../x/1", "10316994a"])
def test_bad_public_token_is_refused_before_any_call(
    rsps: responses.RequestsMock, public_token: str
) -> None:
    card = CardRef({"public_token": public_token}, expiry_month=1, expiry_year=2030)

    with pytest.raises(ProviderConfigError):
        make_provider().fetch_cvv(card=card)
    assert len(rsps.calls) == 0


# ---------------------------------------------------------------------------- CVV status


@pytest.mark.parametrize("status", ["Blocked", "Unblocked"])
def test_cvv_status_returns_the_status(rsps: responses.RequestsMock, status: str) -> None:
    TokenServer().install(rsps)
    rsps.add(responses.GET, STATUS_URL, json={"status": status})

    assert make_provider().cvv_status(card=CARD) == status


@pytest.mark.parametrize("payload", [{"status": "Frozen"}, {}, {"status": None}, "Blocked"])
def test_cvv_status_other_values_are_bad_response(
    rsps: responses.RequestsMock, payload: object
) -> None:
    TokenServer().install(rsps)
    rsps.add(responses.GET, STATUS_URL, json=payload)

    with pytest.raises(ProviderBadResponse):
        make_provider().cvv_status(card=CARD)


def test_cvv_status_of_unknown_card_is_not_found(rsps: responses.RequestsMock) -> None:
    TokenServer().install(rsps)
    rsps.add(responses.GET, STATUS_URL, status=404, body=problem(404, title="Not Found"))

    with pytest.raises(CardNotFound):
        make_provider().cvv_status(card=CARD)


def test_unblock_puts_unblocked_with_an_idempotency_key(rsps: responses.RequestsMock) -> None:
    tokens = TokenServer().install(rsps)
    rsps.add(responses.PUT, STATUS_URL, status=204)

    make_provider(region="2").unblock_cvv(card=CARD, description="Called in", updated_by="agent7")

    (call,) = calls_to(rsps, STATUS_URL)
    assert call.request.method == "PUT"
    assert json.loads(call.request.body) == {
        "status": "Unblocked",
        "description": "Called in",
        "updatedBy": "agent7",
    }
    assert call.request.headers["Content-Type"] == "application/json"
    assert uuid.UUID(call.request.headers["IdempotencyKey"]).version == 4
    assert call.request.headers["X-Region"] == "2"
    assert bearer(call) == tokens.issued[0]


def test_each_unblock_gets_its_own_idempotency_key(rsps: responses.RequestsMock) -> None:
    TokenServer().install(rsps)
    rsps.add(responses.PUT, STATUS_URL, status=204)
    provider = make_provider()

    provider.unblock_cvv(card=CARD, description="", updated_by="")
    provider.unblock_cvv(card=CARD, description="", updated_by="")

    keys = {c.request.headers["IdempotencyKey"] for c in calls_to(rsps, STATUS_URL)}
    assert len(keys) == 2


def test_unblock_resent_after_401_keeps_its_idempotency_key(
    rsps: responses.RequestsMock,
) -> None:
    tokens = TokenServer().install(rsps)
    rsps.add(responses.PUT, STATUS_URL, status=401)
    rsps.add(responses.PUT, STATUS_URL, status=204)

    make_provider().unblock_cvv(card=CARD, description="d", updated_by="u")

    first, second = calls_to(rsps, STATUS_URL)
    assert first.request.headers["IdempotencyKey"] == second.request.headers["IdempotencyKey"]
    assert first.request.body == second.request.body
    assert [bearer(first), bearer(second)] == tokens.issued


def test_unblock_replay_answered_200_is_success(rsps: responses.RequestsMock) -> None:
    TokenServer().install(rsps)
    rsps.add(responses.PUT, STATUS_URL, status=200)

    make_provider().unblock_cvv(card=CARD, description="", updated_by="")


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (404, CardNotFound),
        (400, ProviderBadResponse),
        (409, ProviderBadResponse),
        (500, ProviderServerError),
    ],
)
def test_unblock_failures_map_to_errors(
    rsps: responses.RequestsMock, status: int, error: type
) -> None:
    TokenServer().install(rsps)
    # A refused unblock mentioning a blocked CVV is not "the CVV is blocked" for this call.
    rsps.add(
        responses.PUT,
        STATUS_URL,
        status=status,
        body=problem(status, title=f"CVV blocked {BODY_MARKER}"),
    )

    with pytest.raises(error) as info:
        make_provider().unblock_cvv(card=CARD, description="", updated_by="")
    assert BODY_MARKER not in repr(vars(info.value))


def test_unblock_refuses_overlong_fields_before_any_call(rsps: responses.RequestsMock) -> None:
    provider = make_provider()
    with pytest.raises(ValueError, match="description"):
        provider.unblock_cvv(card=CARD, description="x" * 801, updated_by="")
    with pytest.raises(ValueError, match="updated_by"):
        provider.unblock_cvv(card=CARD, description="", updated_by="x" * 101)
    assert len(rsps.calls) == 0


# ---------------------------------------------------------------------------- card lock

CARD_STATUS_URL = f"{BASE_URL}/cards/103169946/status"


def test_lock_puts_card_status_59_with_an_idempotency_key(rsps: responses.RequestsMock) -> None:
    tokens = TokenServer().install(rsps)
    rsps.add(
        responses.PUT,
        CARD_STATUS_URL,
        json={"status": "Suspected fraud", "cardStatusCode": "59", "updatedBy": "x"},
    )

    make_provider(region="1").lock_card(card=CARD, reason="Cardholder: reveal was not theirs")

    (call,) = calls_to(rsps, CARD_STATUS_URL)
    assert json.loads(call.request.body) == {
        "cardStatusCode": "59",
        "description": "Cardholder: reveal was not theirs",
        "updatedBy": "cardreveal: cardholder report",
    }
    assert call.request.headers["Content-Type"] == "application/json"
    assert uuid.UUID(call.request.headers["IdempotencyKey"]).version == 4
    assert call.request.headers["X-Region"] == "1"
    assert bearer(call) == tokens.issued[0]


def test_lock_reason_is_cut_to_the_documented_1000_characters(
    rsps: responses.RequestsMock,
) -> None:
    TokenServer().install(rsps)
    rsps.add(responses.PUT, CARD_STATUS_URL, json={"cardStatusCode": 59})

    make_provider().lock_card(card=CARD, reason="r" * 1500)

    (call,) = calls_to(rsps, CARD_STATUS_URL)
    assert len(json.loads(call.request.body)["description"]) == 1000


def test_lock_resent_after_401_keeps_its_idempotency_key(rsps: responses.RequestsMock) -> None:
    TokenServer().install(rsps)
    rsps.add(responses.PUT, CARD_STATUS_URL, status=401)
    rsps.add(responses.PUT, CARD_STATUS_URL, json={"cardStatusCode": "59"})

    make_provider().lock_card(card=CARD, reason="r")

    first, second = calls_to(rsps, CARD_STATUS_URL)
    assert first.request.headers["IdempotencyKey"] == second.request.headers["IdempotencyKey"]


@pytest.mark.parametrize(
    "payload",
    [{"cardStatusCode": "00"}, {"status": "Suspected fraud"}, {}, "59", {"cardStatusCode": True}],
)
def test_lock_answer_without_status_59_is_bad_response(
    rsps: responses.RequestsMock, payload: object
) -> None:
    TokenServer().install(rsps)
    rsps.add(responses.PUT, CARD_STATUS_URL, json=payload)

    with pytest.raises(ProviderBadResponse):
        make_provider().lock_card(card=CARD, reason="r")


@pytest.mark.parametrize(
    ("status", "error"),
    [(404, CardNotFound), (400, ProviderBadResponse), (503, ProviderServerError)],
)
def test_lock_failures_map_to_errors_without_the_body(
    rsps: responses.RequestsMock, status: int, error: type
) -> None:
    TokenServer().install(rsps)
    rsps.add(responses.PUT, CARD_STATUS_URL, status=status, body=problem(status, title=BODY_MARKER))

    with pytest.raises(error) as info:
        make_provider().lock_card(card=CARD, reason="r")
    assert BODY_MARKER not in repr(vars(info.value))


def test_lock_answered_204_without_the_new_status_is_bad_response(
    rsps: responses.RequestsMock,
) -> None:
    TokenServer().install(rsps)
    rsps.add(responses.PUT, CARD_STATUS_URL, status=204)

    with pytest.raises(ProviderBadResponse):
        make_provider().lock_card(card=CARD, reason="r")


def test_thredd_declares_the_card_lock_capability() -> None:
    assert ThreddProvider.supports_card_lock is True


# ---------------------------------------------------------------------------- fields


def test_validate_secrets_reports_missing_credentials_and_bad_options() -> None:
    errors = ThreddProvider.validate_secrets(
        {"client_id": "id", "client_secret": "  "},
        {"token_url": "ftp://auth.test/token", "region": "9"},
    )
    assert set(errors) == {"client_secret", "token_url", "region"}
    assert (
        ThreddProvider.validate_secrets(
            {"client_id": "id", "client_secret": "pw"},
            {"token_url": "https://auth.test/connect/token", "region": "1", "scope": "coreapi"},
        )
        == {}
    )


def test_reference_field_is_a_nine_digit_public_token() -> None:
    (field,) = ThreddProvider.reference_fields
    assert field.name == "public_token"
    assert field.pattern == "[0-9]{9}"
    assert {f.name for f in ThreddProvider.secret_fields} == {
        "client_id",
        "client_secret",
        "signing_key",
        "signing_key_password",
        "signing_key_id",
    }
    assert [f.name for f in ThreddProvider.secret_fields if f.required] == ["client_id"]
    assert {f.name for f in ThreddProvider.option_fields} == {
        "client_auth",
        "assertion_algorithm",
        "mtls",
        "token_url",
        "region",
        "scope",
    }
    assert not any(f.required for f in ThreddProvider.option_fields)


def test_the_authentication_options_default_to_what_thredd_documents() -> None:
    defaults = {f.name: f.default for f in ThreddProvider.option_fields}
    assert defaults["client_auth"] == "client_secret_post"  # the Cards API's documented method
    assert defaults["assertion_algorithm"] == "PS256"  # unconfirmed: FAPI's RSA choice
    assert defaults["mtls"] is False
    fields = {f.name: f for f in ThreddProvider.option_fields}
    assert fields["client_auth"].choices == ("client_secret_post", "private_key_jwt")
    assert fields["assertion_algorithm"].choices == ("PS256", "RS256", "ES256")


# ---------------------------------------------------------------------------- the emulator


def test_emulator_keeps_its_credentials_in_the_state_dir(tmp_path: Any) -> None:
    first = ThreddEmulator(tmp_path)
    second = ThreddEmulator(tmp_path)

    assert first.binding_secrets() == second.binding_secrets()
    assert ThreddEmulator(None).binding_secrets() != first.binding_secrets()
    assert (tmp_path / "thredd" / "credentials.json").stat().st_mode & 0o077 == 0


def test_emulator_seeds_the_demo_card_and_one_card_per_fault() -> None:
    emulator = ThreddEmulator(None)

    demo = emulator.find_card(public_token="103169946")
    assert demo is not None
    assert (demo.cvv, demo.label, demo.behaviour) == ("955", "Thredd demo card", "ok")
    behaviours = {card.behaviour for card in emulator.cards}
    assert behaviours >= {
        "ok",
        "cvv_blocked",
        "unauthorized",
        "rate_limited",
        "server_error",
        "slow",
        "malformed",
    }
    assert emulator.find_card(public_token="900000404") is None
    assert 2 * emulator.slow_delay <= 6


# ---------------------------------------------------------------------------- end to end


def e2e_door(**overrides: Any) -> HttpDoor:
    policy = HttpPolicy(
        **{
            "allow_loopback_http": True,
            "connect_retries": 0,
            "read_timeout": 3.0,
            "deadline": 5.0,
            **overrides,
        }
    )
    return HttpDoor(name="thredd-e2e", policy=policy)


def e2e_provider(
    sandbox: RunningSandbox,
    *,
    http: HttpDoor | None = None,
    options: dict[str, Any] | None = None,
    **secret_overrides: str | bytes,
) -> ThreddProvider:
    emulator = sandbox.emulator("thredd")
    secrets = {**emulator.binding_secrets(), **secret_overrides}
    config = BindingConfig(
        key=f"e2e-{uuid.uuid4()}",
        base_url=sandbox.url_for("thredd"),
        secrets={name: Sensitive(value) for name, value in secrets.items()},  # type: ignore[misc]
        options={**emulator.binding_options(), **(options or {})},
    )
    return ThreddProvider(config, http or e2e_door())


def thredd(sandbox: RunningSandbox) -> ThreddEmulator:
    emulator = sandbox.emulator("thredd")
    assert isinstance(emulator, ThreddEmulator)
    return emulator


def fresh_card(sandbox: RunningSandbox, *, behaviour: str = "ok", cvv: str = "4821") -> CardRef:
    """A card of its own for a test that changes emulator state (the sandbox is shared)."""
    public_token = str(800_000_000 + uuid.uuid4().int % 100_000_000)
    thredd(sandbox).add_card(
        SandboxCard({"public_token": public_token}, cvv, 7, 2031, behaviour=behaviour)
    )
    return CardRef({"public_token": public_token}, expiry_month=7, expiry_year=2031)


def e2e_token(sandbox: RunningSandbox) -> str:
    secrets = thredd(sandbox).binding_secrets()
    response = requests.post(
        f"{sandbox.url_for('thredd')}/connect/token",
        data={"grant_type": "client_credentials", **secrets},
        timeout=5,
    )
    assert response.status_code == 200
    assert response.json()["token_type"] == "Bearer"
    return str(response.json()["access_token"])


def test_e2e_reveal_of_the_demo_card(sandbox: RunningSandbox) -> None:
    emulator = thredd(sandbox)
    before = emulator.token_requests
    provider = e2e_provider(sandbox)

    first = provider.fetch_cvv(card=CARD)
    second = provider.fetch_cvv(card=CARD)

    assert isinstance(first, PlainCvv)
    assert isinstance(second, PlainCvv)
    assert first.value.reveal() == second.value.reveal() == "955"
    assert emulator.token_requests == before + 1


def test_e2e_wrong_secret_is_auth_error(sandbox: RunningSandbox) -> None:
    with pytest.raises(ProviderAuthError) as info:
        e2e_provider(sandbox, client_secret="wrong").fetch_cvv(card=CARD)
    assert info.value.provider_code == "invalid_client"
    with pytest.raises(ProviderAuthError):
        e2e_provider(sandbox, client_secret="wrong").check_connection()
    e2e_provider(sandbox).check_connection()


def test_e2e_expired_token_is_refreshed(sandbox: RunningSandbox) -> None:
    emulator = thredd(sandbox)
    provider = e2e_provider(sandbox)
    provider.fetch_cvv(card=CARD)
    before = emulator.token_requests

    emulator.expire_tokens()
    result = provider.fetch_cvv(card=CARD)

    assert isinstance(result, PlainCvv)
    assert result.value.reveal() == "955"
    assert emulator.token_requests == before + 1


def test_e2e_token_lifetime_is_honoured(
    sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator = thredd(sandbox)
    monkeypatch.setattr(emulator, "token_lifetime", 1)
    provider = e2e_provider(sandbox)
    before = emulator.token_requests

    provider.fetch_cvv(card=CARD)
    time.sleep(1.1)  # the emulator's token has expired; the provider knew and asked again
    provider.fetch_cvv(card=CARD)

    assert emulator.token_requests == before + 2


def test_e2e_blocked_cvv_then_unblock_then_reveal(sandbox: RunningSandbox) -> None:
    card = fresh_card(sandbox, behaviour="cvv_blocked", cvv="7302")
    provider = e2e_provider(sandbox)

    with pytest.raises(CvvBlocked):
        provider.fetch_cvv(card=card)
    assert provider.cvv_status(card=card) == "Blocked"

    provider.unblock_cvv(
        card=card, description="Cardholder verified by phone", updated_by="support-1"
    )

    assert provider.cvv_status(card=card) == "Unblocked"
    result = provider.fetch_cvv(card=card)
    assert isinstance(result, PlainCvv)
    assert result.value.reveal() == "7302"


def test_e2e_lock_blocks_the_card_and_its_cvv(sandbox: RunningSandbox) -> None:
    card = fresh_card(sandbox, cvv="6150")
    provider = e2e_provider(sandbox)
    assert isinstance(provider.fetch_cvv(card=card), PlainCvv)

    provider.lock_card(card=card, reason="Cardholder reported a reveal that was not theirs")

    emulator = thredd(sandbox)
    (seeded,) = [c for c in emulator.cards if c.reference == dict(card.reference)]
    assert emulator.card_status_of(seeded) == "59"
    with pytest.raises(ProviderBadResponse):  # the locked card's CVV is refused
        provider.fetch_cvv(card=card)
    status = requests.get(
        f"{sandbox.url_for('thredd')}/cards/{card.reference['public_token']}/status",
        headers={"Authorization": f"Bearer {e2e_token(sandbox)}"},
        timeout=5,
    ).json()
    assert (status["cardStatusCode"], status["status"]) == ("59", "Suspected fraud")


def test_e2e_lock_of_an_unknown_card_is_not_found(sandbox: RunningSandbox) -> None:
    unknown = CardRef({"public_token": "123123123"}, expiry_month=1, expiry_year=2030)
    with pytest.raises(CardNotFound):
        e2e_provider(sandbox).lock_card(card=unknown, reason="r")


def test_e2e_lock_of_a_failing_card_is_a_server_error(sandbox: RunningSandbox) -> None:
    card = fresh_card(sandbox, behaviour="server_error")
    with pytest.raises(ProviderServerError):
        e2e_provider(sandbox).lock_card(card=card, reason="r")


def test_e2e_archived_card_status_cannot_be_changed(sandbox: RunningSandbox) -> None:
    card = fresh_card(sandbox)
    url = f"{sandbox.url_for('thredd')}/cards/{card.reference['public_token']}/status"
    headers = {"Authorization": f"Bearer {e2e_token(sandbox)}"}
    assert requests.put(url, json={"cardStatusCode": "83"}, headers=headers, timeout=5).ok
    refused = requests.put(url, json={"cardStatusCode": "00"}, headers=headers, timeout=5)
    assert refused.status_code == 400
    assert "archived" in refused.text
    assert (
        requests.put(url, json={"cardStatusCode": "7"}, headers=headers, timeout=5).status_code
        == 400
    )


def test_e2e_seeded_blocked_card_is_blocked(sandbox: RunningSandbox) -> None:
    card = CardRef({"public_token": "900000423"}, expiry_month=5, expiry_year=2029)
    with pytest.raises(CvvBlocked):
        e2e_provider(sandbox).fetch_cvv(card=card)


def test_e2e_unknown_card_is_not_found(sandbox: RunningSandbox) -> None:
    card = CardRef({"public_token": "900000404"}, expiry_month=5, expiry_year=2029)
    provider = e2e_provider(sandbox)
    with pytest.raises(CardNotFound):
        provider.fetch_cvv(card=card)
    with pytest.raises(CardNotFound):
        provider.cvv_status(card=card)


@pytest.mark.parametrize(
    ("public_token", "error"),
    [
        ("900000401", ProviderAuthError),
        ("900000429", ProviderRateLimited),
        ("900000500", ProviderServerError),
        ("900000502", ProviderBadResponse),
    ],
)
def test_e2e_fault_cards(sandbox: RunningSandbox, public_token: str, error: type) -> None:
    card = CardRef({"public_token": public_token}, expiry_month=5, expiry_year=2029)

    with pytest.raises(error) as info:
        e2e_provider(sandbox).fetch_cvv(card=card)

    if error is ProviderRateLimited:
        assert info.value.retry_after == 7


def test_e2e_401_card_fetches_one_new_token_then_gives_up(sandbox: RunningSandbox) -> None:
    emulator = thredd(sandbox)
    card = CardRef({"public_token": "900000401"}, expiry_month=5, expiry_year=2029)
    before = emulator.token_requests

    with pytest.raises(ProviderAuthError):
        e2e_provider(sandbox).fetch_cvv(card=card)

    assert emulator.token_requests == before + 2


def test_e2e_slow_card_times_out(sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(thredd(sandbox), "slow_delay", 0.3)
    card = CardRef({"public_token": "900000504"}, expiry_month=5, expiry_year=2029)
    provider = e2e_provider(sandbox, http=e2e_door(read_timeout=0.3))

    with pytest.raises(ProviderTimeout):
        provider.fetch_cvv(card=card)


def test_e2e_unblock_idempotency_replay_and_conflict(sandbox: RunningSandbox) -> None:
    card = fresh_card(sandbox, behaviour="cvv_blocked")
    url = f"{sandbox.url_for('thredd')}/cards/{card.reference['public_token']}/cvv/status"
    headers = {
        "Authorization": f"Bearer {e2e_token(sandbox)}",
        "Content-Type": "application/json",
        "IdempotencyKey": str(uuid.uuid4()),
    }
    unblock = json.dumps({"status": "Unblocked", "description": "", "updatedBy": ""})
    block = json.dumps({"status": "Blocked"})

    assert requests.put(url, data=unblock, headers=headers, timeout=5).status_code == 204
    assert requests.put(url, data=unblock, headers=headers, timeout=5).status_code == 204
    conflict = requests.put(url, data=block, headers=headers, timeout=5)

    assert conflict.status_code == 400
    messages = conflict.json()["errors"]["IdempotencyKey"]
    assert messages == [
        f"The Idempotency header key value '{headers['IdempotencyKey']}' "
        "was used in a different request."
    ]
    assert requests.get(url, headers=headers, timeout=5).json() == {"status": "Unblocked"}
    # A new key is a new request: blocking works.
    headers["IdempotencyKey"] = str(uuid.uuid4())
    assert requests.put(url, data=block, headers=headers, timeout=5).status_code == 204
    assert requests.get(url, headers=headers, timeout=5).json() == {"status": "Blocked"}


@pytest.mark.parametrize(
    ("body", "content_type", "error"),
    [
        (
            "grant_type=password&client_id=x&client_secret=y",
            "application/x-www-form-urlencoded",
            "unsupported_grant_type",
        ),
        (
            "grant_type=client_credentials&client_id=x&client_secret=y",
            "application/x-www-form-urlencoded",
            "invalid_client",
        ),
        ('{"grant_type":"client_credentials"}', "application/json", "invalid_request"),
        (
            "grant_type=client_credentials&client_id=x&client_secret=y",
            "text/plain",
            "invalid_request",
        ),
    ],
)
def test_e2e_token_endpoint_refusals(
    sandbox: RunningSandbox, body: str, content_type: str, error: str
) -> None:
    response = requests.post(
        f"{sandbox.url_for('thredd')}/connect/token",
        data=body,
        headers={"Content-Type": content_type},
        timeout=5,
    )
    assert response.status_code == 400
    assert response.json() == {"error": error}


def test_e2e_token_endpoint_refuses_unknown_scope(sandbox: RunningSandbox) -> None:
    data = {
        "grant_type": "client_credentials",
        "scope": "everything",
        **thredd(sandbox).binding_secrets(),
    }
    response = requests.post(f"{sandbox.url_for('thredd')}/connect/token", data=data, timeout=5)
    assert response.json() == {"error": "invalid_scope"}


@pytest.mark.parametrize(
    ("authorization", "challenge"),
    [
        (None, "Bearer"),
        ("Bearer not-a-token", 'Bearer error="invalid_token"'),
        ("Basic abc", "Bearer"),
    ],
)
def test_e2e_api_refuses_missing_or_unknown_bearer(
    sandbox: RunningSandbox, authorization: str | None, challenge: str
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = requests.get(
        f"{sandbox.url_for('thredd')}/cards/103169946/cvv", headers=headers, timeout=5
    )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == challenge
    assert response.content == b""


def test_e2e_api_answers_problem_details(sandbox: RunningSandbox) -> None:
    headers = {"Authorization": f"Bearer {e2e_token(sandbox)}"}
    base = sandbox.url_for("thredd")

    invalid = requests.get(f"{base}/cards/12345/cvv", headers=headers, timeout=5)
    missing = requests.get(f"{base}/cards/900000404/cvv", headers=headers, timeout=5)
    wrong_method = requests.delete(f"{base}/cards/103169946/cvv", headers=headers, timeout=5)

    assert invalid.status_code == 400
    assert invalid.headers["Content-Type"] == "application/problem+json"
    assert set(invalid.json()) >= {"type", "title", "status", "traceId", "errors"}
    assert missing.status_code == 404
    assert missing.json()["status"] == 404
    assert wrong_method.status_code == 405
    assert requests.get(f"{base}/cards/103169946/cvv", headers=headers, timeout=5).json() == {
        "cvv": "955",
        "resultStatus": "Success",
    }


def test_e2e_unblock_validates_its_body(sandbox: RunningSandbox) -> None:
    card = fresh_card(sandbox, behaviour="cvv_blocked")
    url = f"{sandbox.url_for('thredd')}/cards/{card.reference['public_token']}/cvv/status"
    headers = {"Authorization": f"Bearer {e2e_token(sandbox)}", "Content-Type": "application/json"}

    bad_status = requests.put(url, data='{"status":"Open"}', headers=headers, timeout=5)
    too_long = requests.put(
        url,
        data=json.dumps({"status": "Unblocked", "updatedBy": "x" * 101}),
        headers=headers,
        timeout=5,
    )
    not_json = requests.put(
        url,
        data="status=Unblocked",
        timeout=5,
        headers={**headers, "Content-Type": "application/x-www-form-urlencoded"},
    )
    bad_key = requests.put(
        url,
        data='{"status":"Unblocked"}',
        timeout=5,
        headers={**headers, "IdempotencyKey": "not-a-guid"},
    )

    assert bad_status.status_code == 400
    assert set(bad_status.json()["errors"]) == {"status"}
    assert too_long.status_code == 400
    assert set(too_long.json()["errors"]) == {"updatedBy"}
    assert not_json.status_code == 415
    assert bad_key.status_code == 400
    assert requests.get(url, headers=headers, timeout=5).json() == {"status": "Blocked"}


def test_e2e_rejected_unblock_does_not_use_up_its_idempotency_key(
    sandbox: RunningSandbox,
) -> None:
    card = fresh_card(sandbox, behaviour="cvv_blocked")
    url = f"{sandbox.url_for('thredd')}/cards/{card.reference['public_token']}/cvv/status"
    headers = {
        "Authorization": f"Bearer {e2e_token(sandbox)}",
        "Content-Type": "application/json",
        "IdempotencyKey": str(uuid.uuid4()),
    }

    rejected = requests.put(url, data='{"status":"Open"}', headers=headers, timeout=5)
    corrected = requests.put(url, data='{"status":"Unblocked"}', headers=headers, timeout=5)

    assert (rejected.status_code, corrected.status_code) == (400, 204)


# ---------------------------------------------------------------------------- private_key_jwt


def assertion_of(form: dict[str, list[str]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and the (unverified) claims of the client assertion in a token request form."""
    token = form["client_assertion"][0]
    return jwt.get_unverified_header(token), jwt.decode(token, options={"verify_signature": False})


@pytest.mark.parametrize(
    ("algorithm", "key_pem"),
    [("PS256", RSA_SIGNING_KEY), ("RS256", RSA_SIGNING_KEY), ("ES256", EC_SIGNING_KEY)],
)
def test_private_key_jwt_sends_a_signed_rfc7523_client_assertion_and_no_secret(
    rsps: responses.RequestsMock, algorithm: str, key_pem: bytes
) -> None:
    tokens = TokenServer(signing_key_pem=key_pem).install(rsps)
    rsps.add(responses.GET, CVV_URL, body=cvv_body())
    provider = make_provider(
        signing={"signing_key": key_pem, "signing_key_id": "kid-7"},
        client_auth="private_key_jwt",
        assertion_algorithm=algorithm,
    )

    provider.fetch_cvv(card=CARD)
    provider.check_connection()

    assert tokens.refusals == []
    first, second = tokens.forms
    assert set(first) == {"grant_type", "client_id", "client_assertion_type", "client_assertion"}
    assert first["grant_type"] == ["client_credentials"]
    assert first["client_assertion_type"] == [
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    ]
    header, claims = assertion_of(first)
    assert header == {"alg": algorithm, "typ": "JWT", "kid": "kid-7"}
    assert claims["iss"] == claims["sub"] == CLIENT_ID
    assert claims["aud"] == TOKEN_URL
    assert claims["exp"] - claims["iat"] == 60
    assert abs(claims["iat"] - time.time()) < 30
    assert assertion_of(second)[1]["jti"] != claims["jti"]  # a fresh jti for every request


def test_private_key_jwt_without_a_key_id_sends_no_kid(rsps: responses.RequestsMock) -> None:
    tokens = TokenServer(signing_key_pem=RSA_SIGNING_KEY).install(rsps)
    provider = make_provider(
        signing={"signing_key": RSA_SIGNING_KEY}, client_auth="private_key_jwt"
    )

    provider.check_connection()

    assert "kid" not in assertion_of(tokens.forms[0])[0]


def test_private_key_jwt_proof_and_refusal_name_the_assertion_not_the_secret(
    rsps: responses.RequestsMock,
) -> None:
    TokenServer(signing_key_pem=rsa_key_pem()).install(rsps)  # registered: another key
    provider = make_provider(
        signing={"signing_key": RSA_SIGNING_KEY}, client_auth="private_key_jwt"
    )

    with pytest.raises(ProviderAuthError) as info:
        provider.check_connection()

    assert info.value.provider_code == "invalid_client"
    refused, advice = provider.refusal_words()
    assert refused == "the client assertion signed with the binding's signing key"
    assert "signing key and its key ID" in advice
    assert "clock" in advice
    assert make_provider().refusal_words() == (
        ThreddProvider.refused_credentials,
        ThreddProvider.credentials_advice,
    )


@pytest.mark.parametrize(
    ("signing", "options", "message"),
    [
        ({}, {}, "signing_key is required"),
        ({"signing_key": b"not a key"}, {}, "not a PEM, DER or .p12 private key"),
        ({"signing_key": RSA_SIGNING_KEY}, {"assertion_algorithm": "ES256"}, "ES256 needs an EC"),
        ({"signing_key": EC_SIGNING_KEY}, {"assertion_algorithm": "PS256"}, "needs an RSA"),
        ({"signing_key": RSA_SIGNING_KEY}, {"assertion_algorithm": "HS256"}, "Choose one of"),
    ],
)
def test_an_unusable_signing_key_is_a_config_error_before_any_call(
    rsps: responses.RequestsMock, signing: dict[str, bytes], options: dict[str, str], message: str
) -> None:
    provider = make_provider(signing=signing, client_auth="private_key_jwt", **options)

    with pytest.raises(ProviderConfigError, match=message):
        provider.fetch_cvv(card=CARD)

    assert len(rsps.calls) == 0


def test_an_encrypted_signing_key_is_opened_with_its_password(rsps: responses.RequestsMock) -> None:
    key = serialization.load_pem_private_key(RSA_SIGNING_KEY, None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw-for-the-key"),
    )
    tokens = TokenServer(signing_key_pem=RSA_SIGNING_KEY).install(rsps)
    signing = {"signing_key": encrypted, "signing_key_password": "pw-for-the-key"}

    make_provider(signing=signing, client_auth="private_key_jwt").check_connection()

    assert tokens.refusals == []
    with pytest.raises(ProviderConfigError, match="encrypted: enter its password"):
        make_provider(
            key="other", signing={"signing_key": encrypted}, client_auth="private_key_jwt"
        ).check_connection()


def test_a_signing_key_from_a_p12_is_used_with_its_password(rsps: responses.RequestsMock) -> None:
    ca = ThrowawayCA.create()
    issued = ca.issue("signing certificate", server=False)
    key = serialization.load_pem_private_key(issued.key_pem, None)
    p12 = pkcs12.serialize_key_and_certificates(
        b"signing",
        key,  # type: ignore[arg-type]
        x509.load_pem_x509_certificate(issued.cert_pem),
        None,
        serialization.BestAvailableEncryption(b"p12-password"),
    )
    tokens = TokenServer(signing_key_pem=issued.key_pem).install(rsps)
    options = {"client_auth": "private_key_jwt", "assertion_algorithm": "ES256"}

    make_provider(
        signing={"signing_key": p12, "signing_key_password": "p12-password"}, **options
    ).check_connection()

    assert tokens.refusals == []
    assert (
        ThreddProvider.validate_secrets(
            {"client_id": "id", "signing_key": p12, "signing_key_password": "p12-password"}, options
        )
        == {}
    )
    assert (
        "password does not open it"
        in ThreddProvider.validate_secrets(
            {"client_id": "id", "signing_key": p12, "signing_key_password": "wrong"}, options
        )["signing_key"]
    )


def test_validate_secrets_asks_for_what_the_chosen_authentication_needs() -> None:
    base = {"client_id": "id"}
    pkjwt = {"client_auth": "private_key_jwt"}
    assert set(ThreddProvider.validate_secrets(base, {})) == {"client_secret"}
    assert ThreddProvider.validate_secrets({**base, "client_secret": "pw"}, {}) == {}
    assert ThreddProvider.validate_secrets(base, pkjwt) == {
        "signing_key": "Required with private_key_jwt authentication: upload the signing key."
    }
    assert ThreddProvider.validate_secrets({**base, "signing_key": RSA_SIGNING_KEY}, pkjwt) == {}
    assert ThreddProvider.validate_secrets(
        {**base, "signing_key": RSA_SIGNING_KEY}, {**pkjwt, "assertion_algorithm": "ES256"}
    ) == {"signing_key": "ES256 needs an EC P-256 signing key."}
    assert (
        "at least 2048 bits"
        in ThreddProvider.validate_secrets({**base, "signing_key": rsa_key_pem(1024)}, pkjwt)[
            "signing_key"
        ]
    )
    assert (
        "ES256 needs an EC P-256"
        in ThreddProvider.validate_secrets(
            {**base, "signing_key": ec_key_pem(ec.SECP384R1())},
            {**pkjwt, "assertion_algorithm": "ES256"},
        )["signing_key"]
    )
    assert set(ThreddProvider.validate_secrets(base, {"client_auth": "basic"})) == {"client_auth"}


def test_validate_secrets_with_mtls_on_asks_for_the_transport_certificate() -> None:
    secrets = {"client_id": "id", "client_secret": "pw"}
    errors = ThreddProvider.validate_secrets(secrets, {"mtls": True})
    assert errors == {
        "tls_client_certificate": "Mutual TLS is on: upload Thredd's Transport Certificate here "
        "and its key below, or turn Mutual TLS off."
    }
    with_tls = {**secrets, "tls_client_certificate": "Y2VydA==", "tls_client_key": "a2V5"}
    assert ThreddProvider.validate_secrets(with_tls, {"mtls": True}) == {}


def test_mtls_on_without_a_client_certificate_is_a_config_error_without_a_call(
    rsps: responses.RequestsMock,
) -> None:
    TokenServer().install(rsps)

    with pytest.raises(ProviderConfigError, match="mutual TLS is on but the binding has no TLS"):
        make_provider(mtls=True).fetch_cvv(card=CARD)

    assert len(rsps.calls) == 0


# ---------------------------------------------------------------------------- the token endpoint


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (401, {"message": BODY_MARKER}),  # what an API host says to a POST without a token
        (401, b""),
        (404, {"message": BODY_MARKER}),
    ],
)
def test_401_or_404_from_the_token_endpoint_points_at_the_token_url(
    rsps: responses.RequestsMock, status: int, body: object
) -> None:
    if isinstance(body, bytes):
        rsps.add(responses.POST, TOKEN_URL, status=status, body=body)
    else:
        rsps.add(responses.POST, TOKEN_URL, status=status, json=body)

    with pytest.raises(ProviderConfigError) as info:
        make_provider().check_connection()

    assert f"the token endpoint answered HTTP {status}" in info.value.detail
    assert "check the Token URL option" in info.value.detail
    assert not isinstance(info.value, ProviderAuthError)
    assert BODY_MARKER not in repr(vars(info.value))


# ---------------------------------------------------------------------------- the sandbox's checks


def sandbox_token_url(sandbox: RunningSandbox) -> str:
    return f"{sandbox.url_for('thredd')}/connect/token"


def signed_assertion(
    sandbox: RunningSandbox,
    *,
    key_pem: bytes | None = None,
    algorithm: str = "PS256",
    drop: tuple[str, ...] = (),
    **overrides: Any,
) -> str:
    """A client assertion for the sandbox's client, signed with its registered key unless
    `key_pem` says otherwise; `overrides` replace claims, `drop` removes them."""
    emulator = thredd(sandbox)
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": emulator.client_id,
        "sub": emulator.client_id,
        "aud": sandbox_token_url(sandbox),
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + 60,
        **overrides,
    }
    for name in drop:
        del claims[name]
    key = serialization.load_pem_private_key(
        key_pem or bytes(emulator.binding_secrets()["signing_key"]), None
    )
    return jwt.encode(claims, key, algorithm=algorithm)  # type: ignore[arg-type]


def post_assertion(sandbox: RunningSandbox, assertion: str, **extra: str) -> requests.Response:
    return requests.post(
        sandbox_token_url(sandbox),
        data={
            "grant_type": "client_credentials",
            "client_id": thredd(sandbox).client_id,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
            **extra,
        },
        timeout=5,
    )


def pkjwt_provider(sandbox: RunningSandbox, **options: Any) -> ThreddProvider:
    return e2e_provider(sandbox, options={"client_auth": "private_key_jwt", **options})


def test_e2e_private_key_jwt_reveals_and_proves_the_assertion(sandbox: RunningSandbox) -> None:
    provider = pkjwt_provider(sandbox)

    result = provider.fetch_cvv(card=CARD)
    proof = provider.check_connection()

    assert isinstance(result, PlainCvv)
    assert result.value.reveal() == "955"
    assert proof.proved == (
        "Thredd's token endpoint accepted the client id and its signed client assertion"
    )


def test_e2e_sandbox_takes_a_well_formed_assertion(sandbox: RunningSandbox) -> None:
    response = post_assertion(sandbox, signed_assertion(sandbox))
    assert response.status_code == 200
    assert response.json()["token_type"] == "Bearer"


@pytest.mark.parametrize(
    ("make", "description"),
    [
        (
            lambda sb: signed_assertion(sb, key_pem=RSA_SIGNING_KEY),
            "The client assertion's signature does not verify.",
        ),
        (
            lambda sb: signed_assertion(sb, iat=int(time.time()) - 200, exp=int(time.time()) - 100),
            "The client assertion has expired.",
        ),
        (
            lambda sb: signed_assertion(
                sb, aud="https://oauthuat.globalprocessing.net/connect/token"
            ),
            "The client assertion's audience is not this token endpoint.",
        ),
        (
            lambda sb: signed_assertion(sb, aud=sb.url_for("thredd")),  # the API, not the endpoint
            "The client assertion's audience is not this token endpoint.",
        ),
        (
            lambda sb: signed_assertion(sb, iat=int(time.time()) + 600, exp=int(time.time()) + 660),
            "The client assertion was issued in the future.",
        ),
        (
            lambda sb: signed_assertion(sb, exp=int(time.time()) + 3600),
            "The client assertion lives too long, or was issued too long ago.",
        ),
        (lambda sb: signed_assertion(sb, drop=("jti",)), "The client assertion has no jti claim."),
        (lambda sb: signed_assertion(sb, drop=("exp",)), "The client assertion has no exp claim."),
        (
            lambda sb: signed_assertion(sb, sub="someone-else"),
            "The client assertion's iss and sub are not this client.",
        ),
        (
            lambda sb: jwt.encode(
                {"iss": "x", "sub": "x", "aud": sandbox_token_url(sb)},
                "a-shared-secret-of-32-bytes!!!!!",
                "HS256",
            ),
            "The client assertion is not a valid signed JWT.",
        ),
        (
            lambda sb: jwt.encode({"aud": sandbox_token_url(sb)}, None, "none"),
            "The client assertion is not a valid signed JWT.",
        ),
    ],
    ids=[
        "bad-signature",
        "expired",
        "wrong-audience",
        "audience-is-the-api",
        "issued-in-the-future",
        "lives-too-long",
        "no-jti",
        "no-exp",
        "another-subject",
        "hmac",
        "unsigned",
    ],
)
def test_e2e_sandbox_refuses_a_bad_client_assertion(
    sandbox: RunningSandbox, make: Any, description: str
) -> None:
    emulator = thredd(sandbox)
    before = emulator.token_requests

    response = post_assertion(sandbox, make(sandbox))

    assert response.status_code == 401
    assert response.json() == {"error": "invalid_client", "error_description": description}
    assert emulator.token_requests == before  # no token issued


def test_e2e_sandbox_refuses_a_replayed_client_assertion(sandbox: RunningSandbox) -> None:
    assertion = signed_assertion(sandbox)

    first = post_assertion(sandbox, assertion)
    replay = post_assertion(sandbox, assertion)

    assert first.status_code == 200
    assert replay.status_code == 401
    assert replay.json()["error_description"] == "The client assertion's jti was already used."


def test_e2e_sandbox_refuses_a_secret_and_an_assertion_together(sandbox: RunningSandbox) -> None:
    secret = str(thredd(sandbox).binding_secrets()["client_secret"])
    response = post_assertion(sandbox, signed_assertion(sandbox), client_secret=secret)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_e2e_sandbox_checks_the_assertion_against_a_registered_certificate(
    tmp_path: Any,
) -> None:
    emulator = ThreddEmulator(tmp_path)
    ca = ThrowawayCA.create()
    issued = ca.issue("signing certificate", server=False)  # an EC P-256 key and its certificate
    emulator.register_signing_key(issued.cert_pem)
    running = start_sandbox(emulators=[emulator])
    try:
        config = BindingConfig(
            key=f"e2e-{uuid.uuid4()}",
            base_url=running.url_for("thredd"),
            secrets={
                "client_id": Sensitive(emulator.client_id),
                "signing_key": Sensitive(issued.key_pem),
            },
            options={"client_auth": "private_key_jwt", "assertion_algorithm": "ES256"},
        )
        result = ThreddProvider(config, e2e_door()).fetch_cvv(card=CARD)
        assert isinstance(result, PlainCvv)
        other = BindingConfig(
            key=f"e2e-{uuid.uuid4()}",
            base_url=running.url_for("thredd"),
            secrets={
                "client_id": Sensitive(emulator.client_id),
                "signing_key": Sensitive(ec_key_pem()),
            },
            options={"client_auth": "private_key_jwt", "assertion_algorithm": "ES256"},
        )
        with pytest.raises(ProviderAuthError):
            ThreddProvider(other, e2e_door()).check_connection()
    finally:
        running.stop()


def test_e2e_provider_with_another_signing_key_is_refused_as_its_assertion(
    sandbox: RunningSandbox,
) -> None:
    provider = e2e_provider(
        sandbox,
        options={"client_auth": "private_key_jwt"},
        signing_key=RSA_SIGNING_KEY,
    )

    with pytest.raises(ProviderAuthError) as info:
        provider.check_connection()

    assert info.value.provider_code == "invalid_client"
    assert info.value.detail == "token endpoint HTTP 401"


def test_e2e_provider_whose_clock_is_off_is_refused(
    sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator = thredd(sandbox)
    monkeypatch.setattr(emulator, "wall_clock", lambda: time.time() + 3600)  # Thredd's clock

    with pytest.raises(ProviderAuthError) as info:
        pkjwt_provider(sandbox).check_connection()

    assert info.value.provider_code == "invalid_client"


# ---------------------------------------------------------------------------- mutual TLS


@pytest.fixture(scope="module")
def mtls_sandbox() -> Iterator[tuple[RunningSandbox, ThrowawayCA]]:
    """A Thredd sandbox over HTTPS that takes only connections with a client certificate its CA
    issued (as Thredd's mTLS hosts take only its Transport Certificates)."""
    ca = ThrowawayCA.create()
    context = server_tls_context(
        ca.issue("localhost", server=True), require_client_certs_from=ca.cert_pem
    )
    running = start_sandbox(emulators=[ThreddEmulator(None)], tls=context)
    yield running, ca
    running.stop()


def mtls_door(ca: ThrowawayCA, *, client_certificate: bool) -> HttpDoor:
    identity = None
    if client_certificate:
        issued = ca.issue("cardreveal transport", server=False)
        identity = ClientCertificate(issued.cert_pem, Sensitive(issued.key_pem))
    policy = HttpPolicy(ca_bundle_pem=ca.cert_pem, connect_retries=0, deadline=5.0)
    return HttpDoor(name=f"mtls-{uuid.uuid4()}", policy=policy, client_certificate=identity)


@pytest.mark.parametrize(
    "options", [{}, {"client_auth": "private_key_jwt"}], ids=["secret", "pkjwt"]
)
def test_e2e_mtls_with_the_transport_certificate_reveals(
    mtls_sandbox: tuple[RunningSandbox, ThrowawayCA], options: dict[str, str]
) -> None:
    running, ca = mtls_sandbox
    provider = e2e_provider(
        running, http=mtls_door(ca, client_certificate=True), options={"mtls": True, **options}
    )

    result = provider.fetch_cvv(card=CARD)

    assert isinstance(result, PlainCvv)
    assert result.value.reveal() == "955"
    assert provider.check_connection().proved.endswith(" over mutual TLS")


def test_e2e_mtls_host_refuses_a_connection_without_a_client_certificate(
    mtls_sandbox: tuple[RunningSandbox, ThrowawayCA],
) -> None:
    running, ca = mtls_sandbox
    before = thredd(running).token_requests

    with pytest.raises(ProviderTLSError):
        e2e_provider(running, http=mtls_door(ca, client_certificate=False)).check_connection()
    with pytest.raises(ProviderConfigError, match="mutual TLS is on but the binding has no TLS"):
        e2e_provider(
            running, http=mtls_door(ca, client_certificate=False), options={"mtls": True}
        ).check_connection()

    assert thredd(running).token_requests == before
