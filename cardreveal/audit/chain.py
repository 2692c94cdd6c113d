"""The hash chain under the audit tables: append the next link; walk a chain to its first break."""

from __future__ import annotations

import copy
import hashlib
import heapq
import json
import logging
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from django.db import models, router, transaction
from django.utils import timezone

from cardreveal.audit.models import (
    GENESIS_HASH,
    AppendOnlyError,
    AuditChainHead,
    ChainedRecord,
    RevealEvent,
)
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
    newest = max(_links(model, newest_first=True, limit=1), default=None, key=lambda link: link.seq)
    if newest is not None:
        logger.error(
            "audit chain %s had no head row; rebuilt from its newest link seq=%s",
            model.CHAIN,
            newest.seq,
        )
    seq, last_hash = (newest.seq, newest.hash) if newest is not None else (0, GENESIS_HASH)
    AuditChainHead.objects.get_or_create(
        chain=model.CHAIN, defaults={"seq": seq, "hash": last_hash}
    )
    return AuditChainHead.objects.select_for_update().get(chain=model.CHAIN)


def chain_append(record: R, *, dependent: models.Model | None = None) -> R:
    """Number, link and insert an unsaved audit record as the newest in its chain; return it.

    `dependent` is an unsaved row with a foreign key to `record` (a reveal's receipt), inserted
    with it: both or neither. Atomic; inside the caller's transaction when there is one (no
    savepoint: a failed append fails the caller's transaction too, so no record means no action).
    Every append in a chain waits for the chain head's row lock, held until the transaction
    commits: append last.
    """
    model = type(record)
    alias = router.db_for_write(model)
    with transaction.atomic(using=alias, savepoint=False):
        seq, prev_hash = _next_link(model)
        record.seq = seq
        record.prev_hash = prev_hash
        record.hash = record_hash(record, chain=model.CHAIN, fields=model.HASHED_FIELDS)
        record.save(force_insert=True)
        _head_moved(model, record, dependent, seq=seq, prev_hash=prev_hash, new_hash=record.hash)
    return record


def chain_complete(
    record: RevealEvent,
    *,
    outcome: str,
    reason: str,
    provider_latency_ms: int | None,
    dependent: models.Model | None = None,
) -> RevealEvent:
    """Complete a record opened with outcome `pending`: its outcome, reason and provider latency
    are written once, as a second link of its chain (`completion_seq`, `completion_prev_hash`,
    `completion_hash` over `completion_payload`), so they are as tamper-evident as the record.

    `dependent` as for `chain_append`. Atomic, like `chain_append`. Raises AppendOnlyError when the
    record was not opened as pending or is already completed (nothing is written then).
    """
    model = type(record)
    alias = router.db_for_write(model)
    with transaction.atomic(using=alias, savepoint=False):
        seq, prev_hash = _next_link(model)
        completed_at = timezone.now()
        values = completion_values(
            opened_seq=record.seq,
            outcome=outcome,
            reason=reason,
            provider_latency_ms=provider_latency_ms,
            completed_at=completed_at,
        )
        new_hash = link_hash(
            prev_hash=prev_hash,
            payload=canonical_payload(chain=model.CHAIN, seq=seq, values=values),
        )
        # A plain queryset: the model's own refuses every update, and this is the one allowed.
        written = (
            models.QuerySet(model=model, using=alias)
            .filter(
                pk=record.pk,
                outcome=model.Outcome.PENDING,
                completion_seq__isnull=True,
            )
            .update(
                outcome=outcome,
                reason=reason,
                provider_latency_ms=provider_latency_ms,
                completed_at=completed_at,
                completion_seq=seq,
                completion_prev_hash=prev_hash,
                completion_hash=new_hash,
            )
        )
        if written != 1:
            raise AppendOnlyError(f"reveal record {record.pk} is not open: it cannot be completed")
        _head_moved(model, record, dependent, seq=seq, prev_hash=prev_hash, new_hash=new_hash)
    record.outcome, record.reason = outcome, reason
    record.provider_latency_ms, record.completed_at = provider_latency_ms, completed_at
    record.completion_seq, record.completion_prev_hash, record.completion_hash = (
        seq,
        prev_hash,
        new_hash,
    )
    return record


def completion_values(
    *,
    opened_seq: int,
    outcome: str,
    reason: str,
    provider_latency_ms: int | None,
    completed_at: datetime,
) -> dict[str, object]:
    """What a completion link's hash covers, besides its chain and seq."""
    return {
        "completes": opened_seq,
        "outcome": outcome,
        "reason": reason,
        "provider_latency_ms": provider_latency_ms,
        "completed_at": completed_at,
    }


def _next_link(model: type[ChainedRecord]) -> tuple[int, str]:
    """The next link's seq and the hash it links to, with the chain's head locked until the
    transaction ends."""
    head = _locked_head(model)
    return head.seq + 1, head.hash


def _head_moved(
    model: type[ChainedRecord],
    record: ChainedRecord,
    dependent: models.Model | None,
    *,
    seq: int,
    prev_hash: str,
    new_hash: str,
) -> None:
    """Move the chain's head to the link just written for `record`, and insert `dependent`
    (linked to `record`) with it."""
    AuditChainHead.objects.filter(chain=model.CHAIN).update(
        seq=seq, hash=new_hash, prev_hash=prev_hash
    )
    if dependent is not None:
        setattr(dependent, _link_to(model, dependent).name, record)
        dependent.save(force_insert=True)


def _link_to(model: type[models.Model], dependent: models.Model) -> models.ForeignKey[Any, Any]:
    """The one foreign key from `dependent`'s model to `model`."""
    links = [
        field
        for field in dependent._meta.concrete_fields
        if isinstance(field, models.ForeignKey) and field.related_model is model
    ]
    if len(links) != 1:
        raise TypeError(f"{type(dependent).__name__} needs one foreign key to {model.__name__}")
    return links[0]


@dataclass(frozen=True)
class ChainReport:
    """The result of walking one chain: how far it is intact, and the first break if any."""

    chain: str
    links: int
    head_seq: int
    head_hash: str
    problem: str | None

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class _Link:
    """One link of a chain as stored: a record, or (reveal records) a record's completion."""

    seq: int
    prev_hash: str
    hash: str
    expected_hash: str  # what the stored values hash to
    where: str


def _links(
    model: type[ChainedRecord],
    *,
    newest_first: bool = False,
    limit: int | None = None,
    chunk_size: int = 2000,
) -> Iterator[_Link]:
    """Every link of `model`'s chain in seq order (or newest first), records and completions
    merged."""
    sign = "-" if newest_first else ""
    openings = model.objects.order_by(f"{sign}seq")[:limit].iterator(chunk_size=chunk_size)
    streams: list[Iterator[_Link]] = [(_opening_link(model, row) for row in openings)]
    if issubclass(model, RevealEvent):
        completed = (
            RevealEvent.objects.filter(completion_seq__isnull=False)
            .order_by(f"{sign}completion_seq")[:limit]
            .iterator(chunk_size=chunk_size)
        )
        streams.append(_completion_link(row) for row in completed)
    return heapq.merge(*streams, key=lambda link: link.seq, reverse=newest_first)


def _opening_link(model: type[ChainedRecord], record: ChainedRecord) -> _Link:
    opened = record
    if isinstance(record, RevealEvent) and record.completion_seq is not None:
        # A completed record was opened as pending: its first link covers it as it was then.
        opened = copy.copy(record)
        opened.outcome, opened.reason, opened.provider_latency_ms = (
            RevealEvent.Outcome.PENDING,
            "",
            None,
        )
    return _Link(
        seq=record.seq,
        prev_hash=record.prev_hash,
        hash=record.hash,
        expected_hash=record_hash(opened, chain=model.CHAIN, fields=model.HASHED_FIELDS),
        where=f"record seq {record.seq} (id {record.pk})",
    )


def _completion_link(record: RevealEvent) -> _Link:
    seq = int(record.completion_seq or 0)
    values = completion_values(
        opened_seq=record.seq,
        outcome=record.outcome,
        reason=record.reason,
        provider_latency_ms=record.provider_latency_ms,
        completed_at=record.completed_at or datetime.min.replace(tzinfo=UTC),
    )
    expected = link_hash(
        prev_hash=record.completion_prev_hash,
        payload=canonical_payload(chain=RevealEvent.CHAIN, seq=seq, values=values),
    )
    if seq <= record.seq:  # a completion always comes after the record it completes
        expected = ""
    return _Link(
        seq=seq,
        prev_hash=record.completion_prev_hash,
        hash=record.completion_hash,
        expected_hash=expected,
        where=f"the completion of record seq {record.seq} (id {record.pk}), at seq {seq}",
    )


def chain_verify(
    model: type[ChainedRecord], *, anchor: tuple[int, str] | None = None, chunk_size: int = 2000
) -> ChainReport:
    """Walk `model`'s chain in `seq` order and report the first broken link.

    A reveal record opened before its provider call and completed after is two links: the record
    as opened (outcome `pending`) and its completion. Finds: an edited record or outcome (its hash
    no longer matches), a deleted record (a gap in `seq`, or the newest ones missing against the
    head row), an inserted or replaced record (a `prev_hash` that does not match, or links past
    the head), and, with `anchor=(seq, hash)` kept from an earlier run, a chain rewritten from
    that point on. Reads only; takes no locks.

    The hash is unkeyed: a rewrite of every later link and of the head goes unseen without an
    anchor, so keep the head printed by verify_audit somewhere else and pass it back later.
    """
    chain = model.CHAIN
    head = AuditChainHead.objects.filter(chain=chain).first()
    expected_seq, prev_hash, count = 1, GENESIS_HASH, 0

    def report(problem: str | None) -> ChainReport:
        return ChainReport(
            chain=chain,
            links=count,
            head_seq=head.seq if head else 0,
            head_hash=head.hash if head else GENESIS_HASH,
            problem=problem,
        )

    for link in _links(model, chunk_size=chunk_size):
        if link.seq != expected_seq:
            if link.seq < expected_seq:
                return report(f"{link.where} repeats seq {link.seq}: inserted or forged.")
            missing = (
                f"seq {expected_seq}"
                if link.seq == expected_seq + 1
                else f"seq {expected_seq} to {link.seq - 1}"
            )
            return report(f"{missing} missing before {link.where}: deleted.")
        if link.prev_hash != prev_hash:
            return report(
                f"{link.where} does not link to seq {link.seq - 1}: "
                "the link before it was rewritten, or this one was inserted."
            )
        if link.expected_hash != link.hash:
            return report(
                f"{link.where} does not match its hash: changed after it was written, or forged."
            )
        if anchor is not None and link.seq == anchor[0] and link.hash != anchor[1]:
            return report(f"{link.where} does not match the anchor: the chain was rewritten.")
        prev_hash = link.hash
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
