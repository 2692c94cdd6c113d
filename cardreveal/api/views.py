"""API operations, one class each: validate input, call one service or selector, render JSON."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.utils.cache import add_never_cache_headers
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cardreveal.accounts.passkeys import PasskeyFailure
from cardreveal.api.authentication import ApiTokenAuthentication
from cardreveal.api.models import ApiToken
from cardreveal.api.schema import (
    PUBLIC_KEY_FORMAT,
    SEALED_FORMAT,
    error_responses,
    provider_error_codes,
)
from cardreveal.api.selectors import (
    api_tokens_for_user,
    otp_devices_for_user,
    reveal_history_page,
)
from cardreveal.api.serializers import (
    ApiTokenSerializer,
    CardSerializer,
    OtpDeviceSerializer,
    RevealEventIdField,
    RevealEventSerializer,
)
from cardreveal.api.services import (
    api_login,
    api_logout,
    api_logout_everywhere,
    api_token_revoke,
    passkey_enrol_begin,
    passkey_enrol_complete,
    totp_device_confirm,
    totp_device_enrol,
)
from cardreveal.api.throttles import (
    LoginIpThrottle,
    LoginUsernameThrottle,
    OtpDeviceThrottle,
    PerIpThrottle,
    PerUserThrottle,
    RevealIpThrottle,
    RevealUserThrottle,
)
from cardreveal.cards.availability import card_list_availability, reveal_availability
from cardreveal.cards.services import (
    CARD_NOT_FOUND_MESSAGE,
    reveal_cvv,
    reveal_passkey_challenge,
)
from cardreveal.client_info import client_info
from cardreveal.errors import ServiceError

OTP_CODE_HELP = "The current 6-digit code from the authenticator app."
PASSKEY_ASSERTION_HELP = (
    "The passkey's answer to the challenge from `POST /cards/{card_id}/reveal/challenge` for "
    "this card and this `public_key`: the PublicKeyCredential in its JSON form "
    "(AuthenticationResponseJSON: `id`, `rawId`, `type`, `response.clientDataJSON`, "
    "`response.authenticatorData`, `response.signature`, `response.userHandle`, base64url). "
    "Send this or `otp_code`."
)
STEP_UP_MISSING = (
    "Send otp_code (the authenticator app's current code) or passkey_assertion (your passkey's "
    "answer to POST /cards/{id}/reveal/challenge)."
)
STEP_UP_BOTH = "Send otp_code or passkey_assertion, not both."
PASSKEY_REFUSALS = ", ".join(
    f"`{failure.value}`"
    for failure in PasskeyFailure
    if failure not in (PasskeyFailure.MALFORMED, PasskeyFailure.LOCKED)
)
SAMPLE_TOKEN = "crv_" + "0123456789abcdef" * 4


class ApiView(APIView):
    """Every operation: JSON only, the one error shape, and `Cache-Control: no-store` on every
    answer (errors included): the API only ever answers with one cardholder's data."""

    # No OPTIONS: like any method an operation does not list, it answers 405 (and is not in Allow).
    http_method_names = ["get", "post", "put", "patch", "delete", "head"]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        """Refuse a method this operation does not take (405 with Allow) before authentication,
        throttling or content negotiation: the answer is the same for everyone, signed in or not,
        as docs/api.md says."""
        method = (request.method or "").lower()
        if method not in self.http_method_names or not hasattr(self, method):
            raise exceptions.MethodNotAllowed(request.method or "")
        super().initial(request, *args, **kwargs)

    def check_throttles(self, request: Request) -> None:
        """DRF's check, with the throttles that read the body (`reads_body`) run last and only
        when every other one let the request through: a request already over a limit is refused
        with 429 without its body being parsed, and one whose body does not parse (400) has been
        counted by the others first."""
        throttles = sorted(self.get_throttles(), key=_reads_body)
        waits: list[float | None] = []
        for throttle in throttles:
            if waits and _reads_body(throttle):
                break
            if not throttle.allow_request(request, self):
                waits.append(throttle.wait())
        if waits:
            # DRF's Throttled takes None for "no wait known"; its stubs say float.
            self.throttled(request, max((w for w in waits if w is not None), default=None))  # type: ignore[arg-type]

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        add_never_cache_headers(response)
        return response


def _reads_body(throttle: object) -> bool:
    return bool(getattr(throttle, "reads_body", False))


def signed_in(request: Request) -> User:
    """The request's user, typed; every caller sits behind IsVerifiedCardholder."""
    user = request.user
    if not isinstance(user, User):
        raise exceptions.NotAuthenticated()
    return user


# ---------------------------------------------------------------------------------------- auth


@method_decorator(sensitive_post_parameters("password", "otp_code"), name="dispatch")
class LoginApi(ApiView):
    """Sign in with username, password and a one-time code; get a token for this device."""

    authentication_classes: list[type[Any]] = []
    permission_classes = [AllowAny]
    throttle_classes = [PerIpThrottle, LoginIpThrottle, LoginUsernameThrottle]

    class InputSerializer(serializers.Serializer[Any]):
        username = serializers.CharField(max_length=150)
        password = serializers.CharField(max_length=4096, trim_whitespace=False)
        otp_code = serializers.CharField(
            max_length=20, help_text=OTP_CODE_HELP + " A backup code also works here."
        )
        device_name = serializers.CharField(
            max_length=100,
            required=False,
            allow_blank=True,
            default="",
            help_text="Shown in the list of signed-in devices; defaults to the User-Agent.",
        )

        class Meta:
            ref_name = "Login"

    class OutputSerializer(serializers.Serializer[Any]):
        token = serializers.CharField(help_text="Send as `Authorization: Bearer <token>`.")
        token_id = serializers.UUIDField(help_text="This device's id in the token list.")
        expiry = serializers.DateTimeField(help_text="Idle deadline, pushed out on each use.")
        absolute_expiry = serializers.DateTimeField(help_text="Sign in again after this.")

        class Meta:
            ref_name = "LoginResult"

    @extend_schema(
        operation_id="auth_login",
        tags=["auth"],
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            **error_responses(
                400,
                415,
                authed=False,
                reads_body=True,
                s400="`invalid_credentials` (the same whether the password or the code was "
                "wrong, the username unknown or the account locked), `invalid_input`.",
                s429="`throttled`: too many requests, or too many failed sign-ins from this "
                "address or for this username (on any door: web, admin or API); see Retry-After.",
            ),
        },
        examples=[
            OpenApiExample(
                "Sign in",
                request_only=True,
                value={
                    "username": "alice",
                    "password": "correct horse battery staple",
                    "otp_code": "123456",
                    "device_name": "Alice's phone",
                },
            ),
            OpenApiExample(
                "Signed in",
                response_only=True,
                value={
                    "token": SAMPLE_TOKEN,
                    "token_id": "6d1f0c2a-3b4e-4f5a-8b9c-0d1e2f3a4b5c",
                    "expiry": "2025-01-01T12:15:00Z",
                    "absolute_expiry": "2025-01-02T00:00:00Z",
                },
            ),
        ],
    )
    @sensitive_variables("serializer", "data", "issued", "output")
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        issued = api_login(
            request=request._request,
            username=data["username"],
            password=data["password"],
            otp_code=data["otp_code"],
            device_name=data["device_name"],
        )
        output = self.OutputSerializer(
            {
                "token": issued.secret.reveal(),
                "token_id": issued.record.id,
                "expiry": issued.record.expiry,
                "absolute_expiry": issued.record.absolute_expiry,
            }
        )
        return Response(output.data)


class LogoutApi(ApiView):
    """Revoke the token this request carries."""

    authentication_classes = [ApiTokenAuthentication]

    @extend_schema(
        operation_id="auth_logout",
        tags=["auth"],
        request=None,
        responses={204: None, **error_responses(sessions=False)},
    )
    def post(self, request: Request) -> Response:
        token = request.auth
        if not isinstance(token, ApiToken):  # pragma: no cover - token auth only
            raise exceptions.NotAuthenticated()
        api_logout(request=request._request, user=signed_in(request), token=token)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LogoutEverywhereApi(ApiView):
    """Sign the user out everywhere: every API token is revoked and every web session ended."""

    authentication_classes = [ApiTokenAuthentication]

    @extend_schema(
        operation_id="auth_logout_all",
        tags=["auth"],
        summary="Sign out everywhere: every device's token and every web session",
        description="Revokes every API token of the user (this one included) and ends every "
        "web session they have open: each app gets 401 and each browser is back at the sign-in "
        "page at its next request.",
        request=None,
        responses={204: None, **error_responses(sessions=False)},
    )
    def post(self, request: Request) -> Response:
        api_logout_everywhere(request=request._request, user=signed_in(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokenListApi(ApiView):
    """The signed-in devices (live tokens) of the user."""

    class OutputSerializer(serializers.Serializer[Any]):
        results = ApiTokenSerializer(many=True)

        class Meta:
            ref_name = "ApiTokenList"

    @extend_schema(
        operation_id="auth_tokens_list",
        tags=["auth"],
        responses={200: OutputSerializer, **error_responses()},
    )
    def get(self, request: Request) -> Response:
        tokens = api_tokens_for_user(user=signed_in(request))
        current = request.auth.digest if isinstance(request.auth, ApiToken) else None
        output = self.OutputSerializer({"results": tokens}, context={"current_digest": current})
        return Response(output.data)


class TokenRevokeApi(ApiView):
    """Revoke one of the user's tokens (sign a device out)."""

    @extend_schema(
        operation_id="auth_tokens_revoke",
        tags=["auth"],
        responses={204: None, **error_responses(404, s404="No such token of yours.")},
    )
    def delete(self, request: Request, token_id: uuid.UUID) -> Response:
        if not api_token_revoke(user=signed_in(request), token_id=token_id):
            raise ServiceError("token_not_found", "No such token.", status.HTTP_404_NOT_FOUND)
        return Response(status=status.HTTP_204_NO_CONTENT)


# ---------------------------------------------------------------------------------------- cards


class CardListApi(ApiView):
    """The cardholder's cards, each saying whether and until when its CVV can be revealed."""

    class OutputSerializer(serializers.Serializer[Any]):
        results = CardSerializer(many=True)

        class Meta:
            ref_name = "CardList"

    @extend_schema(
        operation_id="cards_list",
        tags=["cards"],
        responses={200: OutputSerializer, **error_responses()},
    )
    def get(self, request: Request) -> Response:
        listing = card_list_availability(user=signed_in(request))
        return Response(self.OutputSerializer({"results": listing.cards}).data)


class CardDetailApi(ApiView):
    """One of the cardholder's cards."""

    @extend_schema(
        operation_id="cards_retrieve",
        tags=["cards"],
        responses={200: CardSerializer, **error_responses(404, s404="`card_not_found`.")},
    )
    def get(self, request: Request, card_id: uuid.UUID) -> Response:
        availability = reveal_availability(user=signed_in(request), card_id=card_id)
        if availability is None:
            raise ServiceError("card_not_found", CARD_NOT_FOUND_MESSAGE, status.HTTP_404_NOT_FOUND)
        return Response(CardSerializer(availability).data)


@method_decorator(sensitive_post_parameters("public_key"), name="dispatch")
class CardRevealChallengeApi(ApiView):
    """WebAuthn request options for a passkey to authorise one reveal of this card to this key."""

    throttle_classes = [PerUserThrottle, PerIpThrottle, RevealUserThrottle, RevealIpThrottle]

    class InputSerializer(serializers.Serializer[Any]):
        public_key = serializers.CharField(max_length=8000, help_text=PUBLIC_KEY_FORMAT)

        class Meta:
            ref_name = "RevealChallenge"

    class OutputSerializer(serializers.Serializer[Any]):
        request_options = serializers.DictField(
            help_text="PublicKeyCredentialRequestOptions in their JSON form (WebAuthn Level 3): "
            "`challenge` (base64url), `timeout` (ms), `rpId`, `allowCredentials` (this "
            "cardholder's passkeys), `userVerification` (`required`). Hand it as it is to "
            "Android's GetPublicKeyCredentialOption, or read its fields into iOS's "
            "ASAuthorizationPlatformPublicKeyCredentialProvider assertion request."
        )
        expires_in = serializers.IntegerField(
            help_text="Seconds the challenge can be answered in (once)."
        )

        class Meta:
            ref_name = "RevealChallengeOptions"

    @extend_schema(
        operation_id="cards_reveal_challenge",
        tags=["cards"],
        summary="Start a passkey reveal: the WebAuthn challenge for this card and key",
        description=(
            "Returns WebAuthn request options whose challenge is bound to this card and to the "
            "app's public key (the one the CVV will be sealed to): the passkey's assertion is "
            "accepted by `POST /cards/{card_id}/reveal` only with the same card and the same "
            "key, once, within `expires_in` seconds. Everything that would refuse the reveal "
            "is answered here first (a lock, the card or reveals turned off, a cool-off, an "
            "unusable key), so the cardholder is not asked for a passkey in vain. Nothing is "
            "recorded in the reveal history until the reveal itself."
        ),
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            **error_responses(
                400,
                404,
                415,
                423,
                503,
                reads_body=True,
                s400="`client_key_invalid`, `invalid_input`.",
                s403="`passkey_no_device` (no passkey yet: use a code), `passkey_not_allowed` "
                "(this account takes codes only), `card_disabled`, `reveal_cooloff` (see "
                "Retry-After), `otp_required`, `csrf_failed`, `permission_denied`.",
                s404="`card_not_found`: no such card, or not yours (same answer).",
                s423="`account_locked`: too many failed attempts; see Retry-After.",
                s503="Reveals are paused for everyone (`reveals_paused`) or for this card's "
                "issuer connection (`binding_disabled`).",
            ),
        },
    )
    def post(self, request: Request, card_id: uuid.UUID) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        options = reveal_passkey_challenge(
            user=signed_in(request),
            card_id=card_id,
            client_public_key=serializer.validated_data["public_key"],
        )
        return Response(
            self.OutputSerializer(
                {
                    "request_options": options,
                    "expires_in": settings.CARDREVEAL_PASSKEY_CHALLENGE_SECONDS,
                }
            ).data
        )


@method_decorator(
    sensitive_post_parameters("otp_code", "public_key", "passkey_assertion"), name="dispatch"
)
class CardRevealApi(ApiView):
    """Reveal a card's CVV, sealed to the app's key, after a fresh one-time code or passkey."""

    throttle_classes = [PerUserThrottle, PerIpThrottle, RevealUserThrottle, RevealIpThrottle]

    class InputSerializer(serializers.Serializer[Any]):
        otp_code = serializers.CharField(
            max_length=20,
            required=False,
            help_text=OTP_CODE_HELP + " Each code works once; the sign-in code does not count. "
            "Send this or `passkey_assertion`.",
        )
        passkey_assertion = serializers.DictField(
            required=False,
            help_text=PASSKEY_ASSERTION_HELP,
        )
        public_key = serializers.CharField(max_length=8000, help_text=PUBLIC_KEY_FORMAT)

        class Meta:
            ref_name = "Reveal"

        def to_internal_value(self, data: Any) -> Any:
            """The fields' own checks, and exactly one step-up: a code or a passkey assertion."""
            if not isinstance(data, Mapping):
                return super().to_internal_value(data)  # DRF's own "expected an object"
            errors: dict[str, Any] = {}
            value: Any = None
            try:
                value = super().to_internal_value(data)
            except serializers.ValidationError as exc:
                errors = dict(exc.detail) if isinstance(exc.detail, dict) else {}
            given = [f for f in ("otp_code", "passkey_assertion") if f in data]
            if not given:
                errors.setdefault("otp_code", [STEP_UP_MISSING])
            elif len(given) == 2:
                errors.setdefault("passkey_assertion", [STEP_UP_BOTH])
            if errors:
                raise serializers.ValidationError(errors)
            return value

    class OutputSerializer(serializers.Serializer[Any]):
        scheme = serializers.CharField(
            help_text="How `sealed` is encrypted: `jwe-rsa-oaep-256-a256gcm`, or "
            "`rsa-oaep-256-hex` / `rsa-oaep-256-base64` (or `rsa-oaep-sha1-*`) for Mastercard's "
            "own encryption."
        )
        sealed = serializers.CharField(help_text="The CVV, encrypted to `public_key`.")
        display_seconds = serializers.IntegerField(
            help_text="Show the CVV this long, then wipe it."
        )

        class Meta:
            ref_name = "SealedCvv"

    @extend_schema(
        operation_id="cards_reveal",
        tags=["cards"],
        summary="Reveal a card's CVV, sealed to the app's key",
        description=(
            "Needs a fresh one-time code (consumed here), or a passkey assertion answering the "
            "challenge from `POST /cards/{card_id}/reveal/challenge` for this card and this key "
            "(spent here), and the app's RSA public key; the CVV "
            "is fetched live from the card issuer and leaves the server only encrypted to that "
            "key. Every attempt is recorded in the reveal history (channel `api`).\n"
            + SEALED_FORMAT
        ),
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            **error_responses(
                400,
                404,
                409,
                415,
                423,
                502,
                503,
                504,
                reads_body=True,
                s400="`client_key_invalid` (missing, malformed or weak key; the code is kept), "
                "`passkey_malformed` (the assertion could not be read), `invalid_input`.",
                s403="`otp_missing`, `otp_malformed`, `otp_invalid`, `otp_replayed`, "
                "`otp_no_device`, `card_disabled`, `reveal_cooloff` (a password or authenticator "
                "changed recently; see Retry-After), `otp_required`, `csrf_failed`, "
                "`permission_denied`; a passkey refused: " + PASSKEY_REFUSALS + "; "
                "`passkey_required` (this account takes passkeys only: a code is refused), "
                "`passkey_not_allowed` (this account takes codes only).",
                s404="`card_not_found`: no such card, or not yours (same answer); or the issuer "
                "does not know the card. Also from the issuer: " + provider_error_codes(404) + ".",
                s409="`cvv_blocked`: the issuer has blocked showing this card's security code "
                "after too many attempts; the cardholder must contact the bank.",
                s423="`account_locked`: too many failed attempts; see Retry-After.",
                s429="`throttled` (rate limits), `otp_throttled` (wrong codes just before), "
                "`quota_user_hour` or `quota_card_day` (reveal quotas used up); every one "
                "carries Retry-After.",
                s500="`internal_error`: the reveal failed on our side (the attempt is recorded); "
                "`server_error`: anything else. Both are logged with the request id.",
                s502="The card issuer's system answered wrongly, refused our credentials or is "
                "misconfigured: " + provider_error_codes(502) + ". Try later.",
                s503="Reveals are paused for everyone (`reveals_paused`), turned off for this "
                "card's issuer connection (`binding_disabled`), or the issuer's system is "
                "unavailable or busy: "
                + provider_error_codes(503)
                + "; Retry-After when a wait is known. `quotas_unavailable`: the reveal quotas "
                "cannot be counted (Redis unavailable), so no reveal goes ahead.",
                s504="The card issuer's system was too slow: " + provider_error_codes(504) + ".",
            ),
        },
        examples=[
            OpenApiExample(
                "Reveal request",
                request_only=True,
                value={"otp_code": "654321", "public_key": "MIIBIjANBgkqhkiG9w0BAQEFAAOC..."},
            ),
            OpenApiExample(
                "Sealed CVV",
                response_only=True,
                value={
                    "scheme": "jwe-rsa-oaep-256-a256gcm",
                    "sealed": "eyJhbGciOiJSU0EtT0FFUC0yNTYiLCJlbmMiOiJBMjU2R0NNIiwiY3R5IjoiYXBwbGlj"
                    "YXRpb24vanNvbiJ9.kT3...<256 bytes>.q5...<12 bytes>.Zm9v....<16 bytes>",
                    "display_seconds": 30,
                },
            ),
        ],
    )
    @sensitive_variables("serializer", "result", "output")
    def post(self, request: Request, card_id: uuid.UUID) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = reveal_cvv(
            user=signed_in(request),
            card_id=card_id,
            otp_code=serializer.validated_data.get("otp_code"),
            client_public_key=serializer.validated_data["public_key"],
            client=client_info(request._request, channel="api"),
            passkey_assertion=serializer.validated_data.get("passkey_assertion"),
        )
        output = self.OutputSerializer(
            {
                "scheme": result.scheme,
                "sealed": result.sealed,
                "display_seconds": result.display_seconds,
            }
        )
        return Response(output.data)


class RevealHistoryApi(ApiView):
    """Every reveal attempt on the cardholder's cards, newest first, a page at a time."""

    class FilterSerializer(serializers.Serializer[Any]):
        limit = serializers.IntegerField(
            min_value=1,
            max_value=100,
            default=50,
            required=False,
            help_text="How many attempts per page.",
        )
        before = RevealEventIdField(
            required=False,
            help_text="Only attempts older than this one: the `next` of the previous page.",
        )

        class Meta:
            ref_name = "RevealHistoryFilter"

    class OutputSerializer(serializers.Serializer[Any]):
        results = RevealEventSerializer(many=True, source="events")
        next = RevealEventIdField(
            source="older",
            allow_null=True,
            help_text="Pass as `before` for the next (older) page; null on the last page.",
        )

        class Meta:
            ref_name = "RevealHistory"

    @extend_schema(
        operation_id="reveals_list",
        tags=["cards"],
        parameters=[FilterSerializer],
        responses={
            200: OutputSerializer,
            **error_responses(
                400,
                s400="`invalid_input`: a `limit` out of 1-100, or a `before` that is not "
                "one of your reveal ids.",
            ),
        },
    )
    def get(self, request: Request) -> Response:
        query = self.FilterSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        page = reveal_history_page(
            user=signed_in(request),
            limit=query.validated_data["limit"],
            before=query.validated_data.get("before"),
        )
        if page is None:
            raise exceptions.ValidationError({"before": ["Not one of your reveal ids."]})
        return Response(self.OutputSerializer(page).data)


# ---------------------------------------------------------------------------------------- OTP


class ReauthenticationSerializer(serializers.Serializer[Any]):
    """The password and a current code again, before a new credential is added."""

    password = serializers.CharField(max_length=4096, trim_whitespace=False)
    otp_code = serializers.CharField(
        max_length=20, help_text=OTP_CODE_HELP + " A backup code also works here."
    )


class OtpDeviceListApi(ApiView):
    """The cardholder's authenticator apps and backup codes (never their keys or codes)."""

    class OutputSerializer(serializers.Serializer[Any]):
        results = OtpDeviceSerializer(many=True)

        class Meta:
            ref_name = "OtpDeviceList"

    @extend_schema(
        operation_id="otp_devices_list",
        tags=["otp"],
        responses={200: OutputSerializer, **error_responses()},
    )
    def get(self, request: Request) -> Response:
        devices = otp_devices_for_user(user=signed_in(request))
        return Response(self.OutputSerializer({"results": devices}).data)


@method_decorator(sensitive_post_parameters("password", "otp_code"), name="dispatch")
class TotpEnrolApi(ApiView):
    """Start enrolling another authenticator app; needs the password and a current code."""

    throttle_classes = [PerUserThrottle, PerIpThrottle, OtpDeviceThrottle]

    class InputSerializer(ReauthenticationSerializer):
        name = serializers.CharField(max_length=64, help_text="e.g. 'New phone'.")

        class Meta:
            ref_name = "TotpEnrol"

    class OutputSerializer(serializers.Serializer[Any]):
        id = serializers.IntegerField(help_text="Confirm with POST .../totp/{id}/confirm.")
        name = serializers.CharField()
        confirmed = serializers.BooleanField()
        secret = serializers.CharField(help_text="Base32 key, shown this once.")
        otpauth_uri = serializers.CharField(help_text="otpauth:// URI for a QR code, shown once.")

        class Meta:
            ref_name = "TotpEnrolment"

    @extend_schema(
        operation_id="otp_devices_totp_enrol",
        tags=["otp"],
        request=InputSerializer,
        responses={
            201: OutputSerializer,
            **error_responses(
                400,
                409,
                415,
                423,
                reads_body=True,
                s403="`reauthentication_failed` (password or code wrong), `otp_required`.",
                s409="`too_many_authenticators`.",
            ),
        },
    )
    @sensitive_variables("serializer", "data", "pending", "output")
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        pending = totp_device_enrol(
            request=request._request,
            user=signed_in(request),
            password=data["password"],
            otp_code=data["otp_code"],
            name=data["name"],
        )
        output = self.OutputSerializer(
            {
                "id": pending.device.pk,
                "name": pending.device.name,
                "confirmed": False,
                "secret": pending.secret.reveal(),
                "otpauth_uri": pending.otpauth_uri.reveal(),
            }
        )
        return Response(output.data, status=status.HTTP_201_CREATED)


@method_decorator(sensitive_post_parameters("otp_code"), name="dispatch")
class TotpConfirmApi(ApiView):
    """Finish enrolling an authenticator app with a code from it."""

    throttle_classes = [PerUserThrottle, PerIpThrottle, OtpDeviceThrottle]

    class InputSerializer(serializers.Serializer[Any]):
        otp_code = serializers.CharField(
            max_length=20, help_text="A code from the new authenticator app."
        )

        class Meta:
            ref_name = "TotpConfirm"

    @extend_schema(
        operation_id="otp_devices_totp_confirm",
        tags=["otp"],
        request=InputSerializer,
        responses={
            200: OtpDeviceSerializer,
            **error_responses(
                400,
                404,
                415,
                reads_body=True,
                s400="`otp_invalid`, `invalid_input`.",
                s404="`device_not_found`: no authenticator of yours waits with this id.",
            ),
        },
    )
    @sensitive_variables("serializer")
    def post(self, request: Request, device_id: int) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = signed_in(request)
        device = totp_device_confirm(
            user=user, device_id=device_id, otp_code=serializer.validated_data["otp_code"]
        )
        shown = next(
            d for d in otp_devices_for_user(user=user) if d.type == "totp" and d.id == device.pk
        )
        return Response(OtpDeviceSerializer(shown).data)


# ---------------------------------------------------------------------------------------- misc


@extend_schema(exclude=True)
class NotFoundApi(ApiView):
    """Any other URL under /api/v1/: a 404 in the API's error shape, for every method."""

    authentication_classes: list[type[Any]] = []
    permission_classes = [AllowAny]
    throttle_classes = [PerIpThrottle]

    def _not_found(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        raise exceptions.NotFound("No such API endpoint. See /api/v1/docs/.")

    http_method_names = [*ApiView.http_method_names, "options", "trace"]
    get = post = put = patch = delete = head = options = trace = _not_found  # type: ignore[assignment]

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        del response["Allow"]  # nothing is here: no method to list
        return response


@method_decorator(sensitive_post_parameters("password", "otp_code"), name="dispatch")
class PasskeyEnrolOptionsApi(ApiView):
    """Start adding a passkey from the app; needs the password and a current code."""

    throttle_classes = [PerUserThrottle, PerIpThrottle, OtpDeviceThrottle]

    class InputSerializer(ReauthenticationSerializer):
        class Meta:
            ref_name = "PasskeyEnrol"

    class OutputSerializer(serializers.Serializer[Any]):
        creation_options = serializers.DictField(
            help_text="PublicKeyCredentialCreationOptions in their JSON form (WebAuthn Level 3): "
            "`rp`, `user`, `challenge`, `pubKeyCredParams`, `excludeCredentials`, "
            "`authenticatorSelection` (user verification `required`). Hand it to Android's "
            "CreatePublicKeyCredentialRequest, or read it into iOS's registration request."
        )
        expires_in = serializers.IntegerField(
            help_text="Seconds the challenge can be answered in (once)."
        )

        class Meta:
            ref_name = "PasskeyCreationOptions"

    @extend_schema(
        operation_id="otp_devices_passkey_options",
        tags=["otp"],
        summary="Start adding a passkey: the WebAuthn creation options",
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            **error_responses(
                400,
                415,
                423,
                reads_body=True,
                s403="`reauthentication_failed` (password or code wrong), `otp_required`.",
            ),
        },
    )
    @sensitive_variables("serializer", "data")
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        options = passkey_enrol_begin(
            request=request._request,
            user=signed_in(request),
            password=data["password"],
            otp_code=data["otp_code"],
        )
        return Response(
            self.OutputSerializer(
                {
                    "creation_options": options,
                    "expires_in": settings.CARDREVEAL_PASSKEY_CHALLENGE_SECONDS,
                }
            ).data
        )


class PasskeyEnrolApi(ApiView):
    """Finish adding a passkey with the platform's answer; it counts from then on."""

    throttle_classes = [PerUserThrottle, PerIpThrottle, OtpDeviceThrottle]

    class InputSerializer(serializers.Serializer[Any]):
        name = serializers.CharField(max_length=64, help_text="e.g. 'Pixel 9'.")
        credential = serializers.DictField(
            help_text="The platform's answer to the creation options: RegistrationResponseJSON "
            "(`id`, `rawId`, `type`, `response.clientDataJSON`, `response.attestationObject`, "
            "`response.transports`, base64url)."
        )

        class Meta:
            ref_name = "PasskeyAdd"

    @extend_schema(
        operation_id="otp_devices_passkey_add",
        tags=["otp"],
        summary="Finish adding a passkey",
        description="Verifies the answer (its origin, the RP ID, user verification) against the "
        "challenge from `POST /otp-devices/passkeys/options` (spent here), and saves the passkey. "
        "Like a new authenticator, it pauses reveals for the cool-off and emails the cardholder.",
        request=InputSerializer,
        responses={
            201: OtpDeviceSerializer,
            **error_responses(
                400,
                415,
                reads_body=True,
                s400="`passkey_not_added` (the answer was not for our challenge, expired, made "
                "for another site or could not be verified; the message says which), "
                "`invalid_input`.",
            ),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        device = passkey_enrol_complete(
            user=signed_in(request),
            credential=serializer.validated_data["credential"],
            name=serializer.validated_data["name"],
        )
        output = OtpDeviceSerializer(
            {
                "id": device.pk,
                "type": "passkey",
                "name": device.name,
                "confirmed": True,
                "created_at": device.created_at,
                "last_used_at": device.last_used_at,
                "remaining_codes": None,
            }
        )
        return Response(output.data, status=status.HTTP_201_CREATED)
