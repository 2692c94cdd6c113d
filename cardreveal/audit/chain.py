"""The hash chain under the audit tables: append the next link; walk a chain to its first break."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from django.db import models, transaction

from cardreveal.audit.models import GENESIS_HASH, AuditChainHead, ChainedRecord
from cardreveal.db import unique_or_none

logger = logging.getLogger(__name__)

R = TypeVar("R", bound=ChainedRecord)


def _canonical_value(value: object) -> object:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("Audit times must be timezone-aware.")
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"No canonical form for {type(value).__name__} in an audit record.")


def canonical_payload(*, chain: str, seq: int, values: Mapping[str, object]) -> bytes:
    """The bytes a record's hash covers: sorted-key compact ASCII JSON of chain, seq and values."""
    body = {name: _canonical_value(value) for name, value in values.items()}
    document = {"chain": chain, "seq": seq, "fields": body}
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def link_hash(*, prev_hash: str, payload: bytes) -> str:
    """sha256(prev_hash + payload), hex."""
    return hashlib.sha256(prev_hash.encode("ascii") + payload).hexdigest()


def record_values(record: models.Model, fields: Iterable[str]) -> dict[str, object]:
    """The named fields' values as the database stores them (e.g. IPv6 normalised), by column name."""
    values: dict[str, object] = {}
    for name in fields:
        field = record._meta.get_field(name)
        assert isinstance(field, models.Field)  # noqa: S101 (concrete fields only, a programming error otherwise)
        values[field.attname] = field.get_prep_value(getattr(record, field.attname))
    return values


def record_hash(record: models.Model, *, chain: str, fields: Iterable[str]) -> str:
    """The hash `record` should carry, from its stored `seq` and `prev_hash` and `fields`."""
    seq = int(getattr(record, "seq"))  # noqa: B009 (historical models in migrations have no typing)
    payload = canonical_payload(chain=chain, seq=seq, values=record_values(record, fields))
    return link_hash(prev_hash=str(getattr(record, "prev_hash")), payload=payload)  # noqa: B009


def _locked_head(model: type[ChainedRecord]) -> AuditChainHead:
    """The chain's head row, locked until the transaction ends; created on first use."""
    head = unique_or_none(AuditChainHead.objects.select_for_update().filter(chain=model.CHAIN))
    if head is not None:
        return head
    newest = model.objects.order_by("-seq").values_list("seq", "hash").first()
    if newest is not None:
        logger.error(
            "audit chain %s had no head row; rebuilt from its newest record seq=%s",
            model.CHAIN,
            newest[0],
        )
    seq, last_hash = newest if newest is not None else (0, GENESIS_HASH)
    AuditChainHead.objects.get_or_create(
        chain=model.CHAIN, defaults={"seq": seq, "hash": last_hash}
    )
    return AuditChainHead.objects.select_for_update().get(chain=model.CHAIN)


def chain_append(record: R) -> R:
    """Number, link and insert an unsaved audit record as the newest in its chain; return it.

    Atomic; holds the chain head's row lock until the outermost transaction commits, so callers
    should not append inside long transactions. Raises whatever the insert raises (the caller's
    transaction then rolls back with it: no record means no action).
    """
    model = type(record)
    # No savepoint when nested: a failed append fails the caller's transaction too (no record, no
    # action), and a reveal's record and receipt commit without two extra round trips.
    with transaction.atomic(savepoint=False):
        head = _locked_head(model)
        record.seq = head.seq + 1
        record.prev_hash = head.hash
        record.hash = record_hash(record, chain=model.CHAIN, fields=model.HASHED_FIELDS)
        record.save(force_insert=True)
        AuditChainHead.objects.filter(chain=model.CHAIN).update(seq=record.seq, hash=record.hash)
    return record


@dataclass(frozen=True)
class ChainReport:
    """The result of walking one chain: how far it is intact, and the first break if any."""

    chain: str
    records: int
    head_seq: int
    head_hash: str
    problem: str | None

    @property
    def ok(self) -> bool:
        return self.problem is None


def chain_verify(
    model: type[ChainedRecord], *, anchor: tuple[int, str] | None = None, chunk_size: int = 2000
) -> ChainReport:
    """Walk `model`'s chain in `seq` order and report the first broken link.

    Finds: an edited record (its hash no longer matches), a deleted record (a gap in `seq`, or the
    newest ones missing against the head row), an inserted or replaced record (a `prev_hash` that
    does not match, or records past the head), and, with `anchor=(seq, hash)` kept from an earlier
    run, a chain rewritten from that point on. Reads only; takes no locks.

    The hash is unkeyed: a rewrite of every later record and of the head goes unseen without an
    anchor, so keep the head printed by verify_audit somewhere else and pass it back later.
    """
    chain = model.CHAIN
    head = AuditChainHead.objects.filter(chain=chain).first()
    expected_seq, prev_hash, count = 1, GENESIS_HASH, 0

    def report(problem: str | None) -> ChainReport:
        return ChainReport(
            chain=chain,
            records=count,
            head_seq=head.seq if head else 0,
            head_hash=head.hash if head else GENESIS_HASH,
            problem=problem,
        )

    for record in model.objects.order_by("seq").iterator(chunk_size=chunk_size):
        where = f"record seq {record.seq} (id {record.pk})"
        if record.seq != expected_seq:
            missing = (
                f"seq {expected_seq}"
                if record.seq == expected_seq + 1
                else f"seq {expected_seq} to {record.seq - 1}"
            )
            return report(f"{missing} missing before {where}: deleted.")
        if record.prev_hash != prev_hash:
            return report(
                f"{where} does not link to seq {record.seq - 1}: "
                "the record before it was rewritten, or this one was inserted."
            )
        if record_hash(record, chain=chain, fields=model.HASHED_FIELDS) != record.hash:
            return report(
                f"{where} does not match its hash: changed after it was written, or forged."
            )
        if anchor is not None and record.seq == anchor[0] and record.hash != anchor[1]:
            return report(f"{where} does not match the anchor: the chain was rewritten.")
        prev_hash = record.hash
        expected_seq += 1
        count += 1
    last_seq = expected_seq - 1
    if head is None:
        return report("the chain's head row is missing." if count else None)
    if head.seq > last_seq:
        return report(
            f"the newest records are missing: the head is at seq {head.seq}, "
            f"the table ends at seq {last_seq}: deleted."
        )
    if head.seq < last_seq:
        return report(
            f"records past the head (seq {head.seq + 1} to {last_seq}) were inserted "
            "outside the chain."
        )
    if head.hash != prev_hash:
        return report(f"the head hash does not match record seq {last_seq}.")
    if anchor is not None and anchor[0] > last_seq:
        return report(f"the anchor's record seq {anchor[0]} is missing: deleted.")
    return report(None)


def chain_models() -> list[type[ChainedRecord]]:
    """Every hash-chained audit model."""
    from cardreveal.audit.models import AuthEvent, RevealEvent

    return [RevealEvent, AuthEvent]


def chain_for(name: str) -> type[ChainedRecord]:
    """The model of the chain called `name`; a LookupError names the valid ones."""
    for model in chain_models():
        if name == model.CHAIN:
            return model
    valid = ", ".join(m.CHAIN for m in chain_models())
    raise LookupError(f"No audit chain {name!r}; choose one of: {valid}.")
