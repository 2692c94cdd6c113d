"""Output shapes shared by several API operations; each operation's input lives with its API class."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from cardreveal.api.opaque_ids import reveal_event_pk, reveal_event_public_id
from cardreveal.audit.models import RevealEvent
from cardreveal.cards.availability import BLOCKER_CODES, CardAvailability, RevealBlocker
from cardreveal.cards.models import Card


class RevealBlockerSerializer(serializers.Serializer[RevealBlocker]):
    """One reason the card's CVV cannot be shown now."""

    code = serializers.ChoiceField(
        choices=BLOCKER_CODES,
        help_text="The error code a reveal would be refused with now.",
    )
    message = serializers.CharField(help_text="Why, in words for the cardholder, with the end.")
    until = serializers.DateTimeField(
        allow_null=True, help_text="When it ends; null when no end is known (a switch is off)."
    )

    class Meta:
        ref_name = "RevealBlocker"


class RevealAvailabilitySerializer(serializers.Serializer[CardAvailability]):
    """Whether the card's CVV can be shown now: told before the app asks for a code."""

    available = serializers.BooleanField(
        help_text="True when nothing known now stops a reveal (the code and the issuer are "
        "still checked when it is asked for)."
    )
    code = serializers.ChoiceField(
        source="blocker.code",
        choices=BLOCKER_CODES,
        allow_null=True,
        help_text="The error code a reveal would be refused with now; null when available.",
    )
    message = serializers.CharField(
        source="blocker.message",
        allow_null=True,
        help_text="Why, in words to show the cardholder; null when available.",
    )
    until = serializers.DateTimeField(
        allow_null=True,
        help_text="When the card can be revealed again, as far as is known now: the end of the "
        "last blocker. Null when available, or when a blocker has no known end.",
    )
    blockers = RevealBlockerSerializer(
        many=True, help_text="Every reason in force now, the one `code` names first."
    )

    class Meta:
        ref_name = "RevealAvailability"


class CardSerializer(serializers.Serializer[CardAvailability]):
    """A card as the cardholder knows it, and whether its CVV can be shown now: never a full
    number, never a CVV."""

    id = serializers.UUIDField(source="card.id")
    # A field named like Field.label: DRF's metaclass takes declared fields off the class.
    label = serializers.CharField(source="card.label")  # type: ignore[assignment]
    brand = serializers.ChoiceField(source="card.brand", choices=Card.Brand.choices)
    last4 = serializers.CharField(
        source="card.last4", help_text="The last four digits of the card number."
    )
    expiry_month = serializers.IntegerField(source="card.expiry_month", min_value=1, max_value=12)
    expiry_year = serializers.IntegerField(
        source="card.expiry_year", min_value=2000, max_value=2099
    )
    expiry = serializers.CharField(source="card.expiry_display", help_text="MM/YY")
    reveal_available = serializers.BooleanField(
        source="available", help_text="The same as `reveal.available` (kept for older apps)."
    )
    reveal = RevealAvailabilitySerializer(
        source="*", help_text="Whether, and until when, the CVV cannot be shown."
    )

    class Meta:
        ref_name = "Card"


@extend_schema_field(OpenApiTypes.STR)
class RevealEventIdField(serializers.Field[int, str, str, Any]):
    """A reveal record's opaque public id (`rv_...`): out, the record's number enciphered; in,
    the number again, or a validation error for anything this server did not make."""

    default_error_messages = {
        "unknown": "Not a reveal id from this API: use an `id` or the `next` it returned."
    }

    def to_representation(self, value: int) -> str:
        return reveal_event_public_id(int(value))

    def to_internal_value(self, data: str) -> int:
        pk = reveal_event_pk(data) if isinstance(data, str) else None
        if pk is None:
            self.fail("unknown")
        return pk


class RevealEventSerializer(serializers.Serializer[RevealEvent]):
    """One reveal attempt on the cardholder's account, from the audit trail."""

    id = RevealEventIdField(
        source="pk",
        help_text="Opaque and stable (`rv_` and 22 characters); pass it as `before` to page on. "
        "It says nothing about how many reveals anyone makes.",
    )
    created_at = serializers.DateTimeField()
    card_id = serializers.UUIDField(
        allow_null=True,
        help_text="Null when the card asked for was not one of yours (`card_not_found`).",
    )
    card_label = serializers.CharField(help_text="The card as it was shown then.")
    channel = serializers.ChoiceField(choices=RevealEvent.Channel.choices)
    outcome = serializers.ChoiceField(choices=RevealEvent.Outcome.choices)
    reason = serializers.CharField(help_text="A stable code: `ok`, `otp_invalid`, ...")
    client_ip = serializers.IPAddressField(allow_null=True)
    user_agent = serializers.CharField()
    request_id = serializers.CharField()

    class Meta:
        ref_name = "RevealEvent"


class ApiTokenSerializer(serializers.Serializer[Any]):
    """A signed-in device; the token itself is never shown again after sign-in."""

    id = serializers.UUIDField()
    device_name = serializers.CharField()
    created = serializers.DateTimeField(help_text="When the device signed in.")
    expiry = serializers.DateTimeField(help_text="Lapses if unused until then (idle timeout).")
    absolute_expiry = serializers.DateTimeField(help_text="Lapses then however much it is used.")
    current = serializers.SerializerMethodField(help_text="True for the token making this call.")

    class Meta:
        ref_name = "ApiToken"

    def get_current(self, token: Any) -> bool:
        current = self.context.get("current_digest")
        return bool(current) and token.digest == current


class OtpDeviceSerializer(serializers.Serializer[Any]):
    """One of the cardholder's authenticators or backup-code sets, without any key or code."""

    id = serializers.IntegerField()
    type = serializers.ChoiceField(
        choices=[
            ("totp", "Authenticator app"),
            ("backup_codes", "Backup codes"),
            ("passkey", "Passkey"),
        ]
    )
    name = serializers.CharField()
    confirmed = serializers.BooleanField(help_text="Unconfirmed authenticators do not count yet.")
    created_at = serializers.DateTimeField(allow_null=True)
    last_used_at = serializers.DateTimeField(allow_null=True)
    remaining_codes = serializers.IntegerField(
        allow_null=True, help_text="Backup codes left (null for authenticator apps and passkeys)."
    )

    class Meta:
        ref_name = "OtpDevice"
