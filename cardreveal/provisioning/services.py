"""Create, update, disable and remove cardholders and cards for the bank, in batches, all or nothing.

One path for the provisioning API and the admin's file import: rows are checked with the admin's
rules (the model's field validators, the provider's reference format, one card per reference on a
binding), written with bulk queries, numbered in the change feed and summed up in one audit record
per batch. A batch with any bad row writes nothing.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from cardreveal.accounts.models import ExternalIdentity
from cardreveal.accounts.signals import cardholder_provisioned
from cardreveal.audit.models import AuthEvent
from cardreveal.audit.services import auth_event_record
from cardreveal.cards.models import Card, ProviderBinding, reference_errors, reference_key
from cardreveal.client_info import ClientInfo
from cardreveal.errors import ServiceError
from cardreveal.provisioning.models import ChangeCounter, ProvisioningChange

if TYPE_CHECKING:
    from django.contrib.auth.models import User

EXTERNAL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,99}")
EXTERNAL_ID_RULE = (
    "Use 1 to 100 letters, digits and . _ : @ - (starting with a letter or digit), "
    "as the bank's systems know it."
)
PHONE = re.compile(r"\+[1-9][0-9]{6,14}")
BATCH_LIMIT = 1000  # rows of each kind in one API batch

Change = ProvisioningChange.Action
Entity = ProvisioningChange.Entity
RowErrors = dict[int, dict[str, list[str]]]


@dataclass(frozen=True)
class Actor:
    """Who makes a batch of changes: a bank system (its OAuth2 client) or an admin importing a file."""

    by: str  # "client:<client id>" or "import:<admin username>", stored on every change
    name: str  # the client's or file's name, for the audit record
    client: ClientInfo  # the request's address, user agent and id
    user: Any = None  # the admin importing a file; None for a bank system


@dataclass(frozen=True)
class CardholderRow:
    """A cardholder as the bank sends it. `active` None keeps it as it is (new ones are active)."""

    external_id: str
    email: str
    first_name: str = ""
    last_name: str = ""
    phone: str = ""
    username: str = ""  # on creation only; the email when blank
    active: bool | None = None


@dataclass(frozen=True)
class CardRow:
    """A card as the bank sends it. `brand` blank keeps it (Mastercard for a new card); `active`
    None keeps whether its CVV can be revealed (new cards can)."""

    external_id: str
    cardholder: str  # the cardholder's external id
    binding: str  # the provider binding's name
    reference: Any
    last4: str
    expiry_month: Any
    expiry_year: Any
    label: str
    brand: str = ""
    active: bool | None = None


class ProvisioningInvalid(ServiceError):
    """Some rows were refused; nothing was written. `errors`: kind -> row index -> field -> messages."""

    def __init__(self, errors: dict[str, RowErrors]) -> None:
        count = sum(len(rows) for rows in errors.values())
        super().__init__(
            "invalid_rows",
            f"{count} row(s) were refused and nothing was written; see `rows`.",
            400,
        )
        self.errors = errors


@dataclass
class Tally:
    """How many rows a batch created, updated, left as they were and removed, per kind."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0

    def words(self) -> str:
        return (
            f"created={self.created} updated={self.updated} "
            f"unchanged={self.unchanged} removed={self.removed}"
        )


@dataclass
class Batch:
    """One all-or-nothing batch being written: its id, actor, change numbers and results."""

    actor: Actor
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    first_seq: int = 0
    next_seq: int = 0
    cardholders: Tally = field(default_factory=Tally)
    cards: Tally = field(default_factory=Tally)
    digest: Any = field(default_factory=hashlib.sha256)
    failed: bool = False  # a chunk had refused rows: the batch will write nothing
    # what each row of the last chunk came to: "created", "updated", "unchanged" or "removed"
    outcomes: dict[str, list[str]] = field(default_factory=dict)

    def record(
        self, entity: str, external_id: str, action: str, fields: str, active: bool
    ) -> ProvisioningChange:
        change = ProvisioningChange(
            seq=self.next_seq,
            entity=entity,
            external_id=external_id,
            action=action,
            fields=fields[:200],
            active=active,
            by=self.actor.by[:200],
            batch=self.id,
        )
        self.next_seq += 1
        line = f"{change.seq}|{entity}|{external_id}|{action}|{change.fields}|{int(active)}\n"
        self.digest.update(line.encode())
        return change


class ProvisioningConflict(ServiceError):
    """Another writer changed the same rows at the same moment; nothing was written."""

    def __init__(self) -> None:
        super().__init__(
            "conflict",
            "Another change to the same cardholders or cards was made at the same moment, so "
            "nothing was written. Send the batch again.",
            409,
        )


# ------------------------------------------------------------------------------ batches


@contextmanager
def provisioning_batch(*, actor: Actor, dry_run: bool = False) -> Iterator[Batch]:
    """A transaction for one batch: rows are applied with `batch_apply`; on leaving, the change
    numbers are kept and one audit record sums the batch up, or, when any chunk had errors (or
    on `dry_run`), everything is rolled back. Batches take their turn (a row lock held to commit),
    so the change feed's numbers commit in order."""
    try:
        with transaction.atomic(durable=True):
            counter, _ = ChangeCounter.objects.select_for_update().get_or_create(pk=1)
            batch = Batch(actor=actor, first_seq=counter.last_seq + 1)
            batch.next_seq = batch.first_seq
            yield batch
            if dry_run or batch.failed:
                transaction.set_rollback(True)
                return
            if batch.next_seq > batch.first_seq:
                counter.last_seq = batch.next_seq - 1
                counter.save(update_fields=["last_seq"])
                _audit(batch)
    except IntegrityError as exc:
        raise ProvisioningConflict() from exc


def _audit(batch: Batch) -> None:
    actor = batch.actor
    detail = (
        f"{actor.by} ({actor.name[:40]}); cardholders {batch.cardholders.words()}; "
        f"cards {batch.cards.words()}; sha256={batch.digest.hexdigest()}"
    )
    auth_event_record(
        event=AuthEvent.Event.PROVISIONED,
        outcome=AuthEvent.Outcome.SUCCESS,
        user=actor.user,
        username="" if actor.user is not None else actor.by,
        reason="provisioning",
        client=actor.client,
        resource=f"changes:{batch.first_seq}-{batch.next_seq - 1}",
        detail=detail,
    )


def batch_apply(
    batch: Batch,
    *,
    cardholders: Sequence[CardholderRow] = (),
    cards: Sequence[CardRow] = (),
) -> dict[str, RowErrors]:
    """Check and write rows in `batch` (cardholders first, so cards may name them). Returns the
    refused rows' errors by kind; any error marks the batch failed (it will write nothing), and
    the good rows are still written meanwhile, so later chunks are checked against them."""
    errors: dict[str, RowErrors] = {}
    if cardholders:
        found = _apply_cardholders(batch, cardholders)
        if found:
            errors["cardholders"] = found
    if cards:
        found = _apply_cards(batch, cards)
        if found:
            errors["cards"] = found
    if errors:
        batch.failed = True
    return errors


def provisioning_apply(
    *,
    actor: Actor,
    cardholders: Sequence[CardholderRow] = (),
    cards: Sequence[CardRow] = (),
) -> Batch:
    """Create or update these cardholders and cards, all or nothing; raises ProvisioningInvalid
    with every refused row (nothing written). Returns the batch with its tallies."""
    with provisioning_batch(actor=actor) as batch:
        errors = batch_apply(batch, cardholders=cardholders, cards=cards)
    if errors:
        raise ProvisioningInvalid(errors)
    return batch


def cardholder_provision(*, actor: Actor, row: CardholderRow) -> str:
    """Create or update one cardholder; "created", "updated" or "unchanged". New cardholders are
    announced with `cardholder_provisioned` (the invitation)."""
    batch = provisioning_apply(actor=actor, cardholders=[row])
    return batch.outcomes["cardholders"][0]


def card_provision(*, actor: Actor, row: CardRow) -> str:
    """Create or update one card; "created", "updated" or "unchanged"."""
    batch = provisioning_apply(actor=actor, cards=[row])
    return batch.outcomes["cards"][0]


class NotProvisioned(ServiceError):
    def __init__(self, what: str, external_id: str) -> None:
        super().__init__("not_found", f"No {what} has the bank's id {external_id!r}.", 404)


def cardholder_remove(*, actor: Actor, external_id: str) -> None:
    """Delete the cardholder with this bank id and their cards (their audit trail stays)."""
    with provisioning_batch(actor=actor) as batch:
        identity = (
            ExternalIdentity.objects.select_for_update().filter(external_id=external_id).first()
        )
        if identity is None:
            raise NotProvisioned("cardholder", external_id)
        cards = list(Card.objects.filter(owner_id=identity.user_id).exclude(external_id=None))
        changes = [
            batch.record(Entity.CARD, str(card.external_id), Change.REMOVED, "", False)
            for card in cards
        ]
        changes.append(batch.record(Entity.CARDHOLDER, external_id, Change.REMOVED, "", False))
        get_user_model()._default_manager.filter(pk=identity.user_id).delete()
        ProvisioningChange.objects.bulk_create(changes)
        batch.cards.removed += len(cards)
        batch.cardholders.removed += 1


def card_remove(*, actor: Actor, external_id: str) -> None:
    """Delete the card with this bank id."""
    with provisioning_batch(actor=actor) as batch:
        deleted, _ = Card.objects.filter(external_id=external_id).delete()
        if not deleted:
            raise NotProvisioned("card", external_id)
        ProvisioningChange.objects.bulk_create(
            [batch.record(Entity.CARD, external_id, Change.REMOVED, "", False)]
        )
        batch.cards.removed += 1


# ------------------------------------------------------------------------------ checks


def _add(errors: RowErrors, index: int, name: str, message: str) -> None:
    errors.setdefault(index, {}).setdefault(name, []).append(message)


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _external_id_error(value: str) -> str | None:
    if not value:
        return "Required: the bank's id."
    if not EXTERNAL_ID.fullmatch(value):
        return f"{value[:100]!r} is not a valid id. {EXTERNAL_ID_RULE}"
    return None


def _seen_in_batch(batch: Batch, entity: str, ids: Sequence[str]) -> set[str]:
    """Ids this batch already changed in an earlier chunk (a file naming one twice)."""
    return set(
        ProvisioningChange.objects.filter(
            batch=batch.id, entity=entity, external_id__in=ids
        ).values_list("external_id", flat=True)
    )


def _first_rows(rows: Sequence[Any], errors: RowErrors, what: str) -> dict[str, int]:
    """Index of each valid external id's first row; later rows with the same id are refused."""
    first: dict[str, int] = {}
    for index, row in enumerate(rows):
        external_id = _text(row.external_id)
        problem = _external_id_error(external_id)
        if problem:
            _add(errors, index, "external_id", problem)
        elif external_id in first:
            _add(
                errors,
                index,
                "external_id",
                f"The {what} {external_id!r} appears twice in this batch (first at row "
                f"{first[external_id] + 1}); send each once.",
            )
        else:
            first[external_id] = index
    return first


# ------------------------------------------------------------------------------ cardholders

_USER_FIELDS = ("email", "first_name", "last_name", "is_active")


def _check_cardholder(row: CardholderRow, index: int, errors: RowErrors) -> dict[str, Any]:
    values: dict[str, Any] = {
        "email": _text(row.email).lower(),
        "first_name": _text(row.first_name),
        "last_name": _text(row.last_name),
        "phone": _text(row.phone),
        "username": _text(row.username),
    }
    try:
        validate_email(values["email"])
        if len(values["email"]) > 254:
            raise ValidationError("too long")
    except ValidationError:
        _add(errors, index, "email", "Enter a valid email address, e.g. name@example.com.")
    for name in ("first_name", "last_name"):
        if len(values[name]) > 150:
            _add(errors, index, name, "At most 150 characters.")
    if values["phone"] and not PHONE.fullmatch(values["phone"]):
        _add(
            errors,
            index,
            "phone",
            "Use the international format: + then the country code and number, digits only "
            "(e.g. +447700900123), or leave it empty.",
        )
    if values["username"]:
        try:
            UnicodeUsernameValidator()(values["username"])
            if len(values["username"]) > 150:
                raise ValidationError("too long")
        except ValidationError:
            _add(
                errors,
                index,
                "username",
                "Use at most 150 letters, digits and @ . + - _ (or leave it empty: the email is "
                "used).",
            )
    if row.active is not None and not isinstance(row.active, bool):
        _add(errors, index, "active", "Must be true or false.")
    return values


def _apply_cardholders(batch: Batch, rows: Sequence[CardholderRow]) -> RowErrors:
    errors: RowErrors = {}
    first = _first_rows(rows, errors, "cardholder")
    checked = {index: _check_cardholder(rows[index], index, errors) for index in first.values()}
    ids = list(first)
    twice = _seen_in_batch(batch, Entity.CARDHOLDER, ids)
    for external_id in twice:
        _add(
            errors,
            first[external_id],
            "external_id",
            f"The cardholder {external_id!r} appears twice in this file; send each once.",
        )
    existing = {
        identity.external_id: identity
        for identity in ExternalIdentity.objects.filter(external_id__in=ids).select_related("user")
    }
    user_model = get_user_model()
    # usernames of new cardholders: given, or the email
    wanted: dict[str, int] = {}
    for external_id, index in first.items():
        values = checked[index]
        identity = existing.get(external_id)
        if identity is None:
            username = values["username"] or values["email"]
            values["username"] = username
            if username in wanted:
                _add(
                    errors,
                    index,
                    "username",
                    f"The username {username!r} is also wanted by row {wanted[username] + 1}; "
                    "give each cardholder their own (send `username`).",
                )
            else:
                wanted[username] = index
        elif values["username"] and values["username"] != identity.user.get_username():
            _add(
                errors,
                index,
                "username",
                "A username is set when the cardholder is created and cannot be changed here; "
                f"it is {identity.user.get_username()!r}. Leave it out.",
            )
    taken = set(
        user_model._default_manager.filter(
            **{f"{user_model.USERNAME_FIELD}__in": list(wanted)}
        ).values_list(user_model.USERNAME_FIELD, flat=True)
    )
    for username in taken:
        _add(
            errors,
            wanted[username],
            "username",
            f"The username {username!r} belongs to another user; send a different `username` "
            "for this cardholder.",
        )

    now = timezone.now()
    outcomes = ["refused"] * len(rows)
    new_users: list[tuple[int, str, User]] = []
    changed_users: list[Any] = []
    changed_identities: list[ExternalIdentity] = []
    changes: list[ProvisioningChange] = []
    for external_id, index in first.items():
        if index in errors:
            continue
        values = checked[index]
        active = rows[index].active
        identity = existing.get(external_id)
        if identity is None:
            user = user_model(
                **{user_model.USERNAME_FIELD: values["username"]},
                email=values["email"],
                first_name=values["first_name"],
                last_name=values["last_name"],
                is_active=True if active is None else active,
            )
            user.set_unusable_password()
            new_users.append((index, external_id, user))
            continue
        user = identity.user
        target = {
            "email": values["email"],
            "first_name": values["first_name"],
            "last_name": values["last_name"],
            "is_active": user.is_active if active is None else active,
        }
        differ = [name for name in _USER_FIELDS if getattr(user, name) != target[name]]
        for name in differ:
            setattr(user, name, target[name])
        if differ:
            changed_users.append(user)
        if identity.phone != values["phone"]:
            identity.phone = values["phone"]
            identity.updated_at = now
            changed_identities.append(identity)
            differ.append("phone")
        if differ:
            outcomes[index] = Change.UPDATED
            batch.cardholders.updated += 1
            changes.append(
                batch.record(
                    Entity.CARDHOLDER, external_id, Change.UPDATED, ",".join(differ), user.is_active
                )
            )
        else:
            outcomes[index] = "unchanged"
            batch.cardholders.unchanged += 1

    if new_users:
        user_model._default_manager.bulk_create([user for _, _, user in new_users])
        ExternalIdentity.objects.bulk_create(
            [
                ExternalIdentity(
                    user=user,
                    external_id=external_id,
                    phone=checked[index]["phone"],
                    created_at=now,
                    updated_at=now,
                )
                for index, external_id, user in new_users
            ]
        )
        for index, external_id, user in new_users:
            outcomes[index] = Change.CREATED
            changes.append(
                batch.record(Entity.CARDHOLDER, external_id, Change.CREATED, "", user.is_active)
            )
        batch.cardholders.created += len(new_users)
    if changed_users:
        user_model._default_manager.bulk_update(changed_users, list(_USER_FIELDS))
    if changed_identities:
        ExternalIdentity.objects.bulk_update(changed_identities, ["phone", "updated_at"])
    ProvisioningChange.objects.bulk_create(changes)
    for _, _, user in new_users:
        cardholder_provisioned.send(sender=ExternalIdentity, user=user, by=batch.actor)
    batch.outcomes["cardholders"] = outcomes
    return errors


# ------------------------------------------------------------------------------ cards

_CARD_FIELDS = (
    "owner_id",
    "binding_id",
    "reference",
    "last4",
    "expiry_month",
    "expiry_year",
    "label",
    "brand",
    "reveal_enabled",
)
# The card's own field checks (the admin's), without those that need the database.
_NOT_CHECKED_HERE = ["id", "owner", "binding", "reference_key", "external_id"]


def _apply_cards(batch: Batch, rows: Sequence[CardRow]) -> RowErrors:
    errors: RowErrors = {}
    first = _first_rows(rows, errors, "card")
    ids = list(first)
    for external_id in _seen_in_batch(batch, Entity.CARD, ids):
        _add(
            errors,
            first[external_id],
            "external_id",
            f"The card {external_id!r} appears twice in this file; send each once.",
        )
    bindings = {
        binding.name: binding
        for binding in ProviderBinding.objects.filter(name__in={_text(row.binding) for row in rows})
    }
    owners = dict(
        ExternalIdentity.objects.filter(
            external_id__in={_text(row.cardholder) for row in rows}
        ).values_list("external_id", "user_id")
    )
    existing = {card.external_id: card for card in Card.objects.filter(external_id__in=ids)}

    wanted: dict[str, Card] = {}  # external id -> card with the row's values
    stored: dict[str, dict[str, Any]] = {}  # external id -> an existing card's values before
    keys: dict[tuple[int, str], int] = {}
    for external_id, index in first.items():
        row = rows[index]
        binding = bindings.get(_text(row.binding))
        if binding is None:
            names = ", ".join(sorted(ProviderBinding.objects.values_list("name", flat=True)))
            _add(
                errors,
                index,
                "binding",
                f"No provider binding is named {_text(row.binding)[:100]!r}; the bindings are: "
                f"{names or 'none yet'}.",
            )
        owner_id = owners.get(_text(row.cardholder))
        if owner_id is None:
            _add(
                errors,
                index,
                "cardholder",
                f"No cardholder has the bank's id {_text(row.cardholder)[:100]!r}; provision "
                "the cardholder first (or earlier in the same batch).",
            )
        card = existing.get(external_id) or Card(
            external_id=external_id, brand=Card.Brand.MASTERCARD, reveal_enabled=True
        )
        if card.pk is not None and external_id in existing:
            stored[external_id] = {name: getattr(card, name) for name in _CARD_FIELDS}
        card.reference = row.reference
        card.last4 = _text(row.last4)
        card.expiry_month = row.expiry_month
        card.expiry_year = row.expiry_year
        card.label = _text(row.label)
        if _text(row.brand):
            card.brand = _text(row.brand).lower()
        if row.active is not None:
            if isinstance(row.active, bool):
                card.reveal_enabled = row.active
            else:
                _add(errors, index, "active", "Must be true or false.")
        try:
            card.clean_fields(exclude=_NOT_CHECKED_HERE)
        except ValidationError as exc:
            for name, messages in exc.message_dict.items():
                for message in messages:
                    _add(errors, index, name, message)
        if binding is not None:
            for message in reference_errors(binding.kind, row.reference):
                _add(errors, index, "reference", message)
            card.binding = binding
        if owner_id is not None:
            card.owner_id = owner_id
        card.reference_key = reference_key(row.reference)
        if binding is not None and "reference" not in errors.get(index, {}):
            slot = (binding.pk, card.reference_key)
            if slot in keys:
                _add(
                    errors,
                    index,
                    "reference",
                    f"Row {keys[slot] + 1} of this batch has the same reference on "
                    f"{binding.name}: at the provider it is one card, so it can be one card here.",
                )
            else:
                keys[slot] = index
        wanted[external_id] = card

    # references already used by other cards on the same binding
    if keys:
        names_by_pk = {binding.pk: binding.name for binding in bindings.values()}
        # `exclude(reference_key="")` repeats the unique index's condition, so PostgreSQL uses it
        holders = (
            Card.objects.filter(
                binding_id__in={slot[0] for slot in keys},
                reference_key__in={slot[1] for slot in keys},
            )
            .exclude(reference_key="")
            .values_list("binding_id", "reference_key", "external_id", "label", "last4")
        )
        for binding_id, key, other_id, label, last4 in holders:
            index_or_none = keys.get((binding_id, key))
            if index_or_none is None or other_id == rows[index_or_none].external_id.strip():
                continue
            who = (
                f"the card with the bank's id {other_id!r}"
                if other_id
                else f"the card “{label} •••• {last4}” added in the admin"
            )
            _add(
                errors,
                index_or_none,
                "reference",
                f"This reference is already used on {names_by_pk[binding_id]} by "
                f"{who}: at the provider it is one card, so it can be one card here. Check the "
                "reference, or change or remove that card first.",
            )

    outcomes = ["refused"] * len(rows)
    new_cards: list[Card] = []
    changed: list[Card] = []
    changes: list[ProvisioningChange] = []
    for external_id, index in first.items():
        if index in errors:
            continue
        card = wanted[external_id]
        before = existing.get(external_id)
        if before is None:
            new_cards.append(card)
            outcomes[index] = Change.CREATED
            changes.append(
                batch.record(Entity.CARD, external_id, Change.CREATED, "", card.reveal_enabled)
            )
            continue
        differ = [name for name in _CARD_FIELDS if stored[external_id][name] != getattr(card, name)]
        if differ:
            changed.append(card)
            outcomes[index] = Change.UPDATED
            batch.cards.updated += 1
            changes.append(
                batch.record(
                    Entity.CARD,
                    external_id,
                    Change.UPDATED,
                    ",".join(name.removesuffix("_id") for name in differ),
                    card.reveal_enabled,
                )
            )
        else:
            outcomes[index] = "unchanged"
            batch.cards.unchanged += 1
    if new_cards:
        Card.objects.bulk_create(new_cards)
        batch.cards.created += len(new_cards)
    if changed:
        Card.objects.bulk_update(changed, [*_CARD_FIELDS, "reference_key"])
    ProvisioningChange.objects.bulk_create(changes)
    batch.outcomes["cards"] = outcomes
    return errors
