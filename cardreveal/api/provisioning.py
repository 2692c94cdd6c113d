"""The provisioning API for the bank's systems: OAuth2 client tokens with scopes, a rate per client,
create-or-update by the bank's ids, remove, and the feed of changes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core import signing
from drf_spectacular.contrib.django_oauth_toolkit import DjangoOAuthToolkitScheme
from drf_spectacular.utils import OpenApiParameter, extend_schema
from oauth2_provider.contrib.rest_framework import OAuth2Authentication, TokenHasScope
from oauth2_provider.models import AccessToken
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle

from cardreveal.api.exceptions import error_body
from cardreveal.api.schema import error_responses
from cardreveal.api.throttles import PerIpThrottle
from cardreveal.api.views import ApiView
from cardreveal.audit.context import client_for_request
from cardreveal.cards.models import Card
from cardreveal.provisioning.models import ProvisioningClient
from cardreveal.provisioning.selectors import changes_after
from cardreveal.provisioning.services import (
    BATCH_LIMIT,
    EXTERNAL_ID_RULE,
    Actor,
    CardholderRow,
    CardRow,
    ProvisioningInvalid,
    card_provision,
    card_remove,
    cardholder_provision,
    cardholder_remove,
    provisioning_apply,
)

CURSOR_SALT = "cardreveal.provisioning.changes"
CHANGES_PAGE = 500


class ClientTokenRequired(exceptions.AuthenticationFailed):
    default_code = "client_token_required"
    default_detail = (
        "Send a provisioning client's access token (Authorization: Bearer <token> from "
        "POST /api/v1/provisioning/token with the client credentials grant). Cardholder tokens "
        "and browser sessions are not accepted here."
    )


class ProvisioningAuthentication(OAuth2Authentication):
    """An OAuth2 access token of a provisioning client, from the client credentials grant; any
    other bearer (a cardholder's token, an unknown or expired one) is refused with 401."""

    def authenticate(self, request: Request) -> tuple[Any, AccessToken] | None:
        result = super().authenticate(request)
        if result is None:
            raise ClientTokenRequired()
        user, token = result
        application = token.application
        if (
            user is not None
            or application is None
            or not ProvisioningClient.objects.filter(application=application).exists()
        ):
            raise ClientTokenRequired()
        return None, token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="provisioning"'


class ProvisioningClientScheme(DjangoOAuthToolkitScheme):  # type: ignore[no-untyped-call]
    """Describes ProvisioningAuthentication as OAuth2 client credentials with the scopes."""

    target_class = "cardreveal.api.provisioning.ProvisioningAuthentication"
    name = "oauth2"


class ProvisioningScope(TokenHasScope):
    """The scope the operation needs (`required_scopes` by method) must be on the token."""

    message = "This client's token lacks the scope this operation needs; see docs/onboarding.md."
    code = "insufficient_scope"

    def get_scopes(self, request: Request, view: Any) -> list[str]:
        return list(view.scopes_needed(request))

    def has_permission(self, request: Request, view: Any) -> bool:
        token = request.auth
        if not isinstance(token, AccessToken):
            return False
        scopes = self.get_scopes(request, view)
        client = ProvisioningClient.objects.filter(application_id=token.application_id).first()
        # the token's scopes, and still the client's (an admin may have taken one away since)
        if token.is_valid(scopes) and client is not None and set(scopes) <= set(client.scope_list):
            return True
        self.message = (
            f"This client's token lacks the scope {' '.join(scopes)!r}. Ask the bank's cardreveal "
            "administrator to grant it to the client, then get a new token."
        )
        return False


class ProvisioningClientThrottle(SimpleRateThrottle):
    """Each provisioning client's own rate (`requests_per_minute` on its record)."""

    scope = "provisioning_client"
    rate = "120/min"  # replaced by the client's own on each request

    def allow_request(self, request: Request, view: Any) -> bool:
        token = request.auth
        if isinstance(token, AccessToken) and token.application_id is not None:
            client = ProvisioningClient.objects.filter(application_id=token.application_id).first()
            if client is not None:
                self.rate = f"{client.requests_per_minute}/min"
                self.num_requests, self.duration = self.parse_rate(self.rate)
        return bool(super().allow_request(request, view))

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        token = request.auth
        if not isinstance(token, AccessToken) or token.application_id is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": token.application_id}


class ProvisioningIpThrottle(PerIpThrottle):
    """Every provisioning call per client address (scope `provisioning_ip`), before the client is known."""

    scope = "provisioning_ip"


def actor_for(request: Request) -> Actor:
    token = request.auth
    assert isinstance(token, AccessToken)  # noqa: S101 (ProvisioningAuthentication let it in)
    application = token.application
    return Actor(
        by=f"client:{application.client_id}",
        name=application.name,
        client=client_for_request(request._request),
    )


class ProvisioningView(ApiView):
    authentication_classes = [ProvisioningAuthentication]
    permission_classes = [ProvisioningScope]
    throttle_classes = [ProvisioningIpThrottle, ProvisioningClientThrottle]
    required_scopes: dict[str, str] = {}

    def scopes_needed(self, request: Request) -> list[str]:
        return [self.required_scopes[(request.method or "GET").upper()]]


def _errors_as_fields(errors: dict[str, Any], kind: str) -> dict[str, list[str]]:
    rows = errors.get(kind, {})
    return next(iter(rows.values()), {})


def _invalid(request: Request, fields: dict[str, Any]) -> Response:
    return Response(
        error_body(
            code="invalid_input",
            message="Some fields are missing or invalid; see `fields`. Nothing was written.",
            request=request,
            fields=fields,
        ),
        status=status.HTTP_400_BAD_REQUEST,
    )


# ------------------------------------------------------------------------------ serializers

ACTIVE_HELP = "false disables: {what}. Left out, it stays as it is (a new one is active)."


class CardholderInSerializer(serializers.Serializer[Any]):
    email = serializers.CharField(max_length=254, help_text="Where the invitation is sent.")
    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")
    phone = serializers.CharField(
        max_length=16,
        required=False,
        allow_blank=True,
        default="",
        help_text="International format, e.g. +447700900123.",
    )
    username = serializers.CharField(
        max_length=150,
        required=False,
        allow_blank=True,
        default="",
        help_text="What the cardholder signs in with; set on creation only. Default: the email.",
    )
    active = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text=ACTIVE_HELP.format(what="the cardholder cannot sign in or reveal"),
    )

    class Meta:
        ref_name = "ProvisioningCardholder"


class CardInSerializer(serializers.Serializer[Any]):
    cardholder = serializers.CharField(max_length=100, help_text="The cardholder's bank id.")
    binding = serializers.CharField(
        max_length=100, help_text="The provider binding's name, as in the admin."
    )
    reference = serializers.DictField(
        child=serializers.CharField(allow_blank=True, max_length=200),
        help_text='The card\'s identifiers at the provider, e.g. {"public_token": "123456789"} '
        "for Thredd (docs/onboarding.md lists each provider's).",
    )
    last4 = serializers.CharField(max_length=4, help_text="The card number's last four digits.")
    expiry_month = serializers.IntegerField(min_value=1, max_value=12)
    expiry_year = serializers.IntegerField(min_value=2000, max_value=2099)
    label = serializers.CharField(  # type: ignore[assignment]
        max_length=60, help_text="What the cardholder calls the card."
    )
    brand = serializers.ChoiceField(
        choices=Card.Brand.choices,
        required=False,
        allow_blank=True,
        default="",
        help_text="Left out, it stays as it is (Mastercard for a new card).",
    )
    active = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text=ACTIVE_HELP.format(what="its CVV cannot be revealed"),
    )

    class Meta:
        ref_name = "ProvisioningCard"


class CardholderBatchRowSerializer(CardholderInSerializer):
    external_id = serializers.CharField(max_length=100, help_text=EXTERNAL_ID_RULE)

    class Meta:
        ref_name = "ProvisioningCardholderRow"


class CardBatchRowSerializer(CardInSerializer):
    external_id = serializers.CharField(max_length=100, help_text=EXTERNAL_ID_RULE)

    class Meta:
        ref_name = "ProvisioningCardRow"


class BatchInSerializer(serializers.Serializer[Any]):
    cardholders: serializers.ListSerializer[Any] = serializers.ListSerializer(
        child=CardholderBatchRowSerializer(), required=False, max_length=BATCH_LIMIT, default=list
    )
    cards: serializers.ListSerializer[Any] = serializers.ListSerializer(
        child=CardBatchRowSerializer(), required=False, max_length=BATCH_LIMIT, default=list
    )

    class Meta:
        ref_name = "ProvisioningBatch"


class OutcomeSerializer(serializers.Serializer[Any]):
    external_id = serializers.CharField()
    outcome = serializers.ChoiceField(
        choices=["created", "updated", "unchanged"],
        help_text="`created` (201), `updated` or `unchanged` (200).",
    )

    class Meta:
        ref_name = "ProvisioningOutcome"


class TallySerializer(serializers.Serializer[Any]):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()

    class Meta:
        ref_name = "ProvisioningTally"


class BatchOutSerializer(serializers.Serializer[Any]):
    cardholders = TallySerializer()
    cards = TallySerializer()

    class Meta:
        ref_name = "ProvisioningBatchResult"


class ChangeSerializer(serializers.Serializer[Any]):
    seq = serializers.IntegerField(help_text="The change's number; numbers only grow.")
    at = serializers.DateTimeField()
    entity = serializers.ChoiceField(choices=["cardholder", "card"])
    external_id = serializers.CharField()
    action = serializers.ChoiceField(choices=["created", "updated", "removed"])
    fields = serializers.CharField(  # type: ignore[assignment]
        help_text="For `updated`: the fields that changed, comma-separated."
    )
    active = serializers.BooleanField(help_text="Whether it is active after the change.")
    by = serializers.CharField(help_text="`client:<client id>` or `import:<admin username>`.")

    class Meta:
        ref_name = "ProvisioningChange"


class ChangesOutSerializer(serializers.Serializer[Any]):
    changes = ChangeSerializer(many=True)
    next_cursor = serializers.CharField(
        help_text="Send it as `cursor` for the changes after these (also when `changes` is empty)."
    )
    has_more = serializers.BooleanField(help_text="More changes are waiting: ask again at once.")

    class Meta:
        ref_name = "ProvisioningChanges"


def _provision_one(
    request: Request,
    external_id: str,
    *,
    incoming_class: type[serializers.Serializer[Any]],
    row_class: type[CardholderRow] | type[CardRow],
    provision: Callable[..., str],
    kind: str,
) -> Response:
    """A PUT by the bank's id: validate the body, create or update through `provision`, answer
    201 (created) or 200 (updated, unchanged), or 400 with the field errors."""
    incoming = incoming_class(data=request.data)
    if not incoming.is_valid():
        return _invalid(request, incoming.errors)
    row = row_class(external_id=external_id, **incoming.validated_data)
    try:
        outcome = provision(actor=actor_for(request), row=row)
    except ProvisioningInvalid as exc:
        return _invalid(request, _errors_as_fields(exc.errors, kind))
    return Response(
        {"external_id": external_id, "outcome": str(outcome)},
        status=status.HTTP_201_CREATED if outcome == "created" else status.HTTP_200_OK,
    )


EXTERNAL_ID_PARAM = OpenApiParameter(
    "external_id", str, OpenApiParameter.PATH, description="The bank's id. " + EXTERNAL_ID_RULE
)
WRITE_ERRORS = {
    "s400": "`invalid_input`: `fields` says what is wrong with each field; nothing was written.",
    "s401": "`client_token_required`: no provisioning client's token, or it expired.",
    "s403": "`insufficient_scope`: the client lacks this operation's scope.",
    "s409": "`conflict`: another change to the same rows at the same moment; send it again.",
}


def provisioning_errors(
    *statuses: int, reads_body: bool = False, **meanings: str
) -> dict[int, Any]:
    """`error_responses` for a provisioning operation (401 and 403 are the client's token and
    scope, not a browser session's), with these descriptions (`s400=...`) over WRITE_ERRORS, and
    the body's own refusals where the operation `reads_body`."""
    described: dict[str, Any] = {**WRITE_ERRORS, **meanings}  # only s<status> keys
    return error_responses(*statuses, sessions=False, reads_body=reads_body, **described)


# ------------------------------------------------------------------------------ views


class CardholderProvisionApi(ProvisioningView):
    """Create or update a cardholder by the bank's id (PUT again: the same result), or remove one."""

    required_scopes = {"PUT": "cardholders:write", "DELETE": "cardholders:write"}

    @extend_schema(
        operation_id="provisioning_cardholder_put",
        tags=["provisioning"],
        parameters=[EXTERNAL_ID_PARAM],
        request=CardholderInSerializer,
        responses={
            200: OutcomeSerializer,
            201: OutcomeSerializer,
            **provisioning_errors(400, 403, 409, reads_body=True),
        },
    )
    def put(self, request: Request, external_id: str) -> Response:
        return _provision_one(
            request,
            external_id,
            incoming_class=CardholderInSerializer,
            row_class=CardholderRow,
            provision=cardholder_provision,
            kind="cardholders",
        )

    @extend_schema(
        operation_id="provisioning_cardholder_delete",
        tags=["provisioning"],
        parameters=[EXTERNAL_ID_PARAM],
        responses={
            204: None,
            **provisioning_errors(
                403, 404, 409, s404="`not_found`: no cardholder has this bank id."
            ),
        },
    )
    def delete(self, request: Request, external_id: str) -> Response:
        cardholder_remove(actor=actor_for(request), external_id=external_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CardProvisionApi(ProvisioningView):
    """Create or update a card by the bank's id (PUT again: the same result), or remove one."""

    required_scopes = {"PUT": "cards:write", "DELETE": "cards:write"}

    @extend_schema(
        operation_id="provisioning_card_put",
        tags=["provisioning"],
        parameters=[EXTERNAL_ID_PARAM],
        request=CardInSerializer,
        responses={
            200: OutcomeSerializer,
            201: OutcomeSerializer,
            **provisioning_errors(400, 403, 409, reads_body=True),
        },
    )
    def put(self, request: Request, external_id: str) -> Response:
        return _provision_one(
            request,
            external_id,
            incoming_class=CardInSerializer,
            row_class=CardRow,
            provision=card_provision,
            kind="cards",
        )

    @extend_schema(
        operation_id="provisioning_card_delete",
        tags=["provisioning"],
        parameters=[EXTERNAL_ID_PARAM],
        responses={
            204: None,
            **provisioning_errors(403, 404, 409, s404="`not_found`: no card has this bank id."),
        },
    )
    def delete(self, request: Request, external_id: str) -> Response:
        card_remove(actor=actor_for(request), external_id=external_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class BatchApi(ProvisioningView):
    """Create or update up to 1,000 cardholders and 1,000 cards at once, all or nothing."""

    required_scopes = {"POST": "cards:write"}  # and cardholders:write for cardholders

    def scopes_needed(self, request: Request) -> list[str]:
        """`cards:write` and/or `cardholders:write`, by what the batch holds (both to be safe
        when the body cannot be read: the schema, a malformed body)."""
        try:
            data = request.data
        except exceptions.ParseError:
            data = None
        if not isinstance(data, dict):
            return ["cardholders:write", "cards:write"]
        needed = [
            scope
            for kind, scope in (("cardholders", "cardholders:write"), ("cards", "cards:write"))
            if data.get(kind)
        ]
        return needed or ["cardholders:write", "cards:write"]

    @extend_schema(
        operation_id="provisioning_batch",
        tags=["provisioning"],
        request=BatchInSerializer,
        responses={
            200: BatchOutSerializer,
            **provisioning_errors(
                400,
                403,
                409,
                reads_body=True,
                s400="`invalid_rows`: `rows` says, by kind and row number (from 0), what is "
                "wrong with each refused row; nothing was written. `invalid_input`: the body's "
                "shape is wrong (`fields`).",
                s403="`insufficient_scope`: a batch needs `cardholders:write` for its "
                "cardholders and `cards:write` for its cards.",
            ),
        },
    )
    def post(self, request: Request) -> Response:
        incoming = BatchInSerializer(data=request.data)
        if not incoming.is_valid():
            rows = _rows_from_serializer_errors(incoming.errors)
            if rows is None:
                return _invalid(request, incoming.errors)
            return _invalid_rows(request, rows)
        data = incoming.validated_data
        try:
            batch = provisioning_apply(
                actor=actor_for(request),
                cardholders=[CardholderRow(**row) for row in data["cardholders"]],
                cards=[CardRow(**row) for row in data["cards"]],
            )
        except ProvisioningInvalid as exc:
            return _invalid_rows(request, exc.errors)
        tallies = {
            kind: {"created": t.created, "updated": t.updated, "unchanged": t.unchanged}
            for kind, t in (("cardholders", batch.cardholders), ("cards", batch.cards))
        }
        return Response(tallies)


def _rows_from_serializer_errors(errors: Any) -> dict[str, Any] | None:
    """A batch's per-row shape errors as `rows` (kind -> index -> field -> messages), or None
    when the error is about the body itself (not a list, too many rows)."""
    rows: dict[str, Any] = {}
    for kind, found in errors.items():
        if not isinstance(found, list) or not any(isinstance(item, dict) for item in found):
            return None
        rows[kind] = {index: item for index, item in enumerate(found) if item}
    return rows


def _invalid_rows(request: Request, rows: dict[str, Any]) -> Response:
    count = sum(len(found) for found in rows.values())
    return Response(
        error_body(
            code="invalid_rows",
            message=f"{count} row(s) were refused and nothing was written; see `rows`.",
            request=request,
            rows={kind: {str(i): e for i, e in found.items()} for kind, found in rows.items()},
        ),
        status=status.HTTP_400_BAD_REQUEST,
    )


class ChangesApi(ProvisioningView):
    """The changes made through provisioning, oldest first, after a cursor."""

    required_scopes = {"GET": "changes:read", "HEAD": "changes:read"}

    @extend_schema(
        operation_id="provisioning_changes",
        tags=["provisioning"],
        parameters=[
            OpenApiParameter(
                "cursor",
                str,
                required=False,
                description="`next_cursor` from the previous answer; left out, from the first "
                "change.",
            ),
            OpenApiParameter(
                "limit", int, required=False, description=f"At most {CHANGES_PAGE} (the default)."
            ),
        ],
        responses={
            200: ChangesOutSerializer,
            **provisioning_errors(
                400,
                403,
                s400="`invalid_input`: the cursor is not one this API gave, or the limit is "
                "not a number from 1 to 500.",
            ),
        },
    )
    def get(self, request: Request) -> Response:
        after = 0
        raw = request.query_params.get("cursor", "")
        if raw:
            try:
                after = int(signing.loads(raw, salt=CURSOR_SALT)["after"])
            except (signing.BadSignature, KeyError, TypeError, ValueError):
                return _invalid(
                    request,
                    {"cursor": ["Not a cursor from this API; send `next_cursor` as it came."]},
                )
        try:
            limit = int(request.query_params.get("limit", CHANGES_PAGE))
            if not 1 <= limit <= CHANGES_PAGE:
                raise ValueError
        except ValueError:
            return _invalid(request, {"limit": [f"A whole number from 1 to {CHANGES_PAGE}."]})
        changes, has_more = changes_after(seq=after, limit=limit)
        last = changes[-1].seq if changes else after
        return Response(
            {
                "changes": ChangeSerializer(changes, many=True).data,
                "next_cursor": signing.dumps({"after": last}, salt=CURSOR_SALT),
                "has_more": has_more,
            }
        )
