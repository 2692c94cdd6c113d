"""OpenAPI pieces: the token security scheme, the error shape, and the API's written description."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema_serializer
from rest_framework import serializers

from cardreveal.api.parsers import MAX_JSON_DEPTH
from providers.errors import ProviderError

SEALED_FORMAT = """
**`jwe-rsa-oaep-256-a256gcm`** (the usual answer). `sealed` is a JWE in compact serialization
(RFC 7516): five base64url segments without padding, `header.encrypted_key.iv.ciphertext.tag`.

1. The protected header (segment 1) decodes to JSON
   `{"alg":"RSA-OAEP-256","enc":"A256GCM","cty":"application/json"}`. Refuse any other `alg`/`enc`.
2. Decrypt `encrypted_key` (segment 2) with the app's RSA private key: RSAES-OAEP with SHA-256
   as the hash and in MGF1, empty label. The result is the 32-byte content key.
3. Decrypt with AES-256-GCM: key = the content key, nonce = `iv` (segment 3, 12 bytes),
   ciphertext = segment 4, tag = segment 5 (16 bytes), additional authenticated data = the ASCII
   bytes of segment 1 exactly as received.
4. The plaintext is UTF-8 JSON `{"cvv": "123"}`: 3 or 4 digits, as a string.

**`rsa-oaep-256-hex`** / **`rsa-oaep-256-base64`** (a Mastercard binding set to pass the app's key
to Mastercard, so the CVV never exists in plaintext on our servers). `sealed` is one RSA block as
long as the key (256 bytes for RSA-2048), uppercase hex or base64, encrypted by Mastercard to the
app's key with RSAES-OAEP, SHA-256 and MGF1-SHA-256, empty label. The plaintext is the CVV's ASCII
digits. **`rsa-oaep-sha1-hex`** / **`rsa-oaep-sha1-base64`**: the same with SHA-1 as the hash and
in MGF1, for a binding set to that padding (Mastercard does not publish which it uses).

Show the CVV for `display_seconds`, then wipe it; never store it, log it or send it anywhere.
"""

PUBLIC_KEY_FORMAT = (
    "The app's RSA public key for this reveal: base64 (standard alphabet) of the DER "
    "SubjectPublicKeyInfo (what Android's `PublicKey.getEncoded()` or WebCrypto's "
    '`exportKey("spki")` give), or PEM. RSA 2048-4096 bits, odd exponent of at least 3. Use a '
    "fresh key pair per reveal, or one kept in the platform keystore; never send the private key."
)

API_DESCRIPTION = f"""
The cardholder API of cardreveal, for the mobile app. JSON in (`Content-Type: application/json`,
else 415) and JSON out. A method an operation does not list (`OPTIONS` included: no CORS, no
metadata) answers 405 with `Allow`, with or without a token; each `GET` also answers `HEAD`.

## Signing in
`POST /api/v1/auth/login` with username, password and a current code from the authenticator app
(or a backup code) returns a token for this device. Send it as `Authorization: Bearer <token>`.
Tokens are stored only as hashes; they lapse after **15 minutes without use** and **12 hours
after sign-in** whatever the use (both configurable). `GET /api/v1/auth/tokens` lists the user's
devices; `DELETE /api/v1/auth/tokens/{{id}}` revokes one; `POST /api/v1/auth/logout` revokes the
current one; `POST /api/v1/auth/logout-all` signs the user out everywhere: all their tokens and
all their web sessions. A signed-in browser session (verified with a code) works too and must
send its CSRF token on POST and DELETE.

## Revealing a CVV
`POST /api/v1/cards/{{id}}/reveal` with a **fresh** code (each code works once, and the one used
to sign in does not count) and the app's public key. The answer carries the CVV only encrypted
to that key:
{SEALED_FORMAT}

## Errors
Every error has one shape: `{{"error": {{"code": "...", "message": "...", "request_id": "..."}}}}`.
`code` is stable (switch on it), `message` is safe to show, `request_id` matches the
`X-Request-ID` response header (quote it to support). Input errors add `fields`. Every 429
carries `Retry-After` (seconds); 423 and 503 answers carry it where a wait is known. Each
operation lists the statuses it can answer and, for each, its codes. Reveal and sign-in answers, errors included, carry
`Cache-Control: no-store`, as does every other answer of this API.

## Rate limits
Per signed-in user and per client address; sign-in per address and per username; reveals and
authenticator enrolment have their own, tighter, limits (see docs/api.md). Over a limit: 429
with `code: throttled` and `Retry-After`.
"""


class ApiTokenScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    """Describes ApiTokenAuthentication as an HTTP bearer scheme."""

    target_class = "cardreveal.api.authentication.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "crv_ followed by 64 hex digits",
            "description": "The token from POST /api/v1/auth/login.",
        }


class ErrorDetailSerializer(serializers.Serializer[Any]):
    code = serializers.CharField(help_text="Stable machine code, e.g. `otp_invalid`.")
    message = serializers.CharField(help_text="What went wrong, safe to show to the cardholder.")
    request_id = serializers.CharField(help_text="Same as the X-Request-ID response header.")
    # A field named like Serializer.fields: DRF's metaclass takes declared fields off the class.
    fields = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Only for `invalid_input`: what is wrong with each field.",
    )
    rows = serializers.DictField(
        child=serializers.DictField(
            child=serializers.DictField(child=serializers.ListField(child=serializers.CharField()))
        ),
        required=False,
        help_text="Only for `invalid_rows` (a provisioning batch): by kind (`cardholders`, "
        "`cards`), then row number from 0, what is wrong with each field of each refused row.",
    )

    class Meta:
        ref_name = "ErrorDetail"


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "A wrong code",
            value={
                "error": {
                    "code": "otp_invalid",
                    "message": "That code is not correct. Check your authenticator app and "
                    "try again.",
                    "request_id": "0f6c1d2e9b3a4c5d8e7f6a5b4c3d2e1f",
                }
            },
        )
    ]
)
class ErrorSerializer(serializers.Serializer[Any]):
    error = ErrorDetailSerializer()

    class Meta:
        ref_name = "Error"


_ERROR_MEANINGS = {
    400: "Invalid input (`invalid_input`) or a refused request.",
    401: "No token, or the token is invalid, expired or revoked (`not_authenticated`, "
    "`authentication_failed`).",
    403: "Not allowed: `otp_required` (a browser session without the code step), `csrf_failed` "
    "(a browser session's POST or DELETE without its CSRF token), `permission_denied`.",
    404: "Not found; another cardholder's card looks exactly like a missing one.",
    405: "Method not allowed.",
    406: "`not_acceptable`: the `Accept` header rules out `application/json`, the only type this "
    "API answers with.",
    409: "Conflict with the current state.",
    411: "`length_required`: a body sent chunked, without `Content-Length`; it is not read.",
    413: "`request_too_large`: the body is over the size limit (2.5 MB unless set otherwise); "
    "refused before it is read.",
    415: "The body is not JSON (`unsupported_media_type`).",
    423: "The account is locked after too many failed attempts (`account_locked`); see "
    "Retry-After.",
    429: "Too many requests (`throttled`); see Retry-After.",
    500: "`server_error`: something failed on our side; it is logged with the request id.",
    502: "The card issuer's system answered wrongly or refused us; try later.",
    503: "Unavailable for a moment; see Retry-After.",
    504: "The card issuer's system was too slow.",
}

# Every operation can answer these: the body's declared length is checked before anything else
# (400 `invalid_content_length`, 411, 413), content negotiation (406) and an unexpected failure
# (500) happen before or around any operation's own logic, the throttles run on every call (429),
# and a Redis outage refuses what cannot go ahead without it (503).
_ALWAYS = (400, 406, 411, 413, 429, 500, 503)
# What any request may be refused with when Redis fails (docs/security.md, "Redis outage").
_ANY_503 = (
    "Redis unavailable: `limits_unavailable` (sign-in, reveals and authenticator set-up stop while "
    "their limits cannot be counted), `temporarily_unavailable`; with Retry-After."
)
# What any request may be refused with as 400, and what one with a JSON body may be.
_ANY_400 = "`invalid_content_length`: a `Content-Length` that is not a whole number of bytes."
_BODY_400 = (
    f"The body: `malformed_json` (not JSON), `json_too_deep` (nested more than {MAX_JSON_DEPTH} "
    "levels of arrays and objects)."
)


def error_responses(
    *statuses: int,
    authed: bool = True,
    sessions: bool = True,
    reads_body: bool = False,
    **meanings: str,
) -> dict[int, Any]:
    """OpenAPI responses in the error shape for these statuses, plus those of `_ALWAYS`; 401 if
    `authed`, and 403 if a browser session may call the operation too (`sessions`: its CSRF and
    code-step checks answer 403). The 400's description names the body's refusals when the
    operation `reads_body`, and the length's always; an operation that lists 400 in `statuses`
    has its own refusals too.

    `meanings` override the description of a status, keyed `s404=...`.
    """
    implied = (401, *((403,) if sessions else ())) if authed else ()
    wanted = sorted({*statuses, *_ALWAYS, *implied})
    descriptions = {
        status: meanings.get(f"s{status}", _ERROR_MEANINGS[status]) for status in wanted
    }
    own_400 = [descriptions[400]] if 400 in statuses else []
    descriptions[400] = " ".join([*own_400, *([_BODY_400] if reads_body else []), _ANY_400])
    descriptions[503] = " ".join([*([descriptions[503]] if 503 in statuses else []), _ANY_503])
    return {
        status: OpenApiResponse(response=ErrorSerializer, description=descriptions[status])
        for status in wanted
    }


def _provider_error_classes() -> list[type[ProviderError]]:
    found: list[type[ProviderError]] = [ProviderError]
    for klass in found:
        found.extend(sub for sub in klass.__subclasses__() if sub not in found)
    return found


def provider_error_codes(status: int) -> str:
    """The codes of the provider failures (providers/errors.py) a reveal answers with `status`,
    as backquoted words for a description: the schema follows the taxonomy as it grows."""
    codes = sorted({k.code for k in _provider_error_classes() if k.status_code == status})
    return ", ".join(f"`{code}`" for code in codes)


def describe_api(result: dict[str, Any], generator: Any, request: Any, public: bool) -> Any:
    """drf-spectacular postprocessing hook: put the long description into `info`."""
    result.setdefault("info", {})["description"] = API_DESCRIPTION.strip()
    return result
