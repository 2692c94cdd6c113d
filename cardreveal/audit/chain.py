"""The hash chain under the audit tables: append the next link; walk a chain to its first break."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any, TypeVar

from django.db import connections, models, router, transaction

from cardreveal.audit.models import GENESIS_HASH, AuditChainHead, ChainedRecord
from cardreveal.db import statement_cursor, unique_or_none

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


def payload_before_seq(*, chain: str, values: Mapping[str, object]) -> bytes:
    """`canonical_payload` up to its seq: with sorted keys "seq" comes last, so the payload is this
    prefix, the decimal seq and "}". Lets the database number and hash a record in one statement."""
    sample = canonical_payload(chain=chain, seq=0, values=values)
    prefix, tail = sample[: -len(b'"seq":0}')], sample[-len(b'"seq":0}') :]
    if tail != b'"seq":0}':  # the document's shape changed: numbering must go the slow way
        raise ValueError("canonical_payload no longer ends with its seq")
    return prefix + b'"seq":'


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


def chain_append(record: R, *, dependent: models.Model | None = None) -> R:
    """Number, link and insert an unsaved audit record as the newest in its chain; return it.

    `dependent` is an unsaved row with a foreign key to `record` (a reveal's receipt), inserted
    with it: both or neither. Atomic. Raises whatever the insert raises (inside a transaction, the
    caller's transaction then rolls back with it: no record means no action).

    Every append in a chain waits for the chain head's row lock, across all workers and hosts, so
    how long it is held bounds the chain's appends per second. On PostgreSQL one statement takes
    the lock, numbers and hashes the record, moves the head and inserts both rows
    (`_append_on_postgresql`); outside a transaction that statement is its own transaction, so
    the lock is held only while it runs, never across a round trip to a busy worker. Inside a
    transaction the lock is held until it commits: append last. Elsewhere (SQLite: one writer
    anyway) the head is read, the record inserted and the head moved in three statements.
    """
    model = type(record)
    alias = router.db_for_write(model)
    link = _link_to(model, dependent) if dependent is not None else None
    if connections[alias].vendor == "postgresql" and _append_on_postgresql(
        record, alias, dependent, link
    ):
        return record
    # No savepoint when nested: a failed append fails the caller's transaction too (no record, no
    # action).
    with transaction.atomic(using=alias, savepoint=False):
        head = _locked_head(model)
        record.seq = head.seq + 1
        record.prev_hash = head.hash
        record.hash = record_hash(record, chain=model.CHAIN, fields=model.HASHED_FIELDS)
        record.save(force_insert=True)
        AuditChainHead.objects.filter(chain=model.CHAIN).update(
            seq=record.seq, hash=record.hash, prev_hash=record.prev_hash
        )
        if dependent is not None and link is not None:
            setattr(dependent, link.name, record)
            dependent.save(force_insert=True)
    return record


_LINK_COLUMNS = frozenset({"seq", "prev_hash", "hash"})


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


def _insert_fields(model: type[models.Model], *, skip: frozenset[str]) -> tuple[Any, ...]:
    """The columns of `model` an INSERT ... SELECT writes: all but its primary key and `skip`."""
    return tuple(
        field
        for field in model._meta.concrete_fields
        if not field.primary_key and field.attname not in skip
    )


def _insert_params(row: models.Model, fields: Iterable[Any], connection: Any) -> list[object]:
    return [field.get_db_prep_save(field.pre_save(row, True), connection) for field in fields]


@cache
def _append_statement(
    model: type[ChainedRecord], link: models.ForeignKey[Any, Any] | None, alias: str
) -> tuple[str, tuple[Any, ...], tuple[Any, ...]]:
    """The one-statement append for `model` (and a dependent row, of the model `link` belongs
    to, linked by it), with the fields whose values fill its placeholders, in order.

    Built from the models' metadata alone, so once per process: building it (quoting, each
    column's cast type) cost more CPU than the rest of an append. Each value is a typed
    placeholder (a bare literal in INSERT ... SELECT is text, not the column's type).
    """
    connection = connections[alias]
    qn = connection.ops.quote_name

    def columns_and_values(fields: tuple[Any, ...]) -> tuple[str, str]:
        columns = ", ".join(qn(str(field.column)) for field in fields)
        values = ", ".join(f"CAST(%s AS {field.cast_db_type(connection)})" for field in fields)
        return columns, values

    pk = qn(str(model._meta.pk.column))
    fields = _insert_fields(model, skip=_LINK_COLUMNS)
    columns, values = columns_and_values(fields)
    # Only names from the models' own metadata (quoted) are formatted in; every value is a
    # parameter.
    sql = (
        f"WITH head AS (UPDATE {qn(AuditChainHead._meta.db_table)} "  # noqa: S608
        "SET seq = seq + 1, prev_hash = hash, hash = encode(sha256("
        "convert_to(hash, 'UTF8') || %s::bytea || convert_to((seq + 1)::text || '}', 'UTF8')"
        "), 'hex') WHERE chain = %s RETURNING seq, prev_hash, hash), "
        f"appended AS (INSERT INTO {qn(model._meta.db_table)} (seq, prev_hash, hash, {columns}) "
        f"SELECT seq, prev_hash, hash, {values} FROM head "
        f"RETURNING {pk}, seq, prev_hash, hash)"
    )
    if link is None:
        return sql + " SELECT appended.*, NULL FROM appended", fields, ()  # noqa: S608
    dependent_model = link.model
    dep_fields = _insert_fields(dependent_model, skip=frozenset({link.attname}))
    dep_columns, dep_values = columns_and_values(dep_fields)
    dep_pk = qn(str(dependent_model._meta.pk.column))
    sql += (
        f", dependent AS (INSERT INTO {qn(dependent_model._meta.db_table)} "  # noqa: S608
        f"({qn(str(link.column))}, {dep_columns}) SELECT {pk}, {dep_values} FROM appended "
        f"RETURNING {dep_pk}) "
        f"SELECT appended.*, (SELECT {dep_pk} FROM dependent) FROM appended"
    )
    return sql, fields, dep_fields


def _append_on_postgresql(
    record: ChainedRecord,
    alias: str,
    dependent: models.Model | None,
    link: models.ForeignKey[Any, Any] | None,
) -> bool:
    """Move the chain's head and insert `record` (and `dependent`) in one statement; False when
    the chain has no head row yet (nothing was written: the caller makes it the slow way).

    The UPDATE takes the head's row lock, numbers the record, and computes its hash in the
    database, sha256(prev_hash + payload), from the payload `payload_before_seq` gives with the
    new seq appended, exactly as `record_hash` computes it (`manage.py verify_audit` checks every
    link in Python). A writer that waited for the lock computes from the row as its predecessor
    left it, so the chain cannot fork.
    """
    model = type(record)
    try:
        prefix = payload_before_seq(
            chain=model.CHAIN, values=record_values(record, model.HASHED_FIELDS)
        )
    except ValueError:
        return False
    connection = connections[alias]
    sql, fields, dep_fields = _append_statement(model, link, alias)  # link: None without dependent
    params = [prefix, model.CHAIN, *_insert_params(record, fields, connection)]
    if dependent is not None:
        params += _insert_params(dependent, dep_fields, connection)
    with statement_cursor(connection) as cursor:  # prepared: the same text every time
        cursor.execute(sql, params)  # type: ignore[arg-type]
        row = cursor.fetchone()
    if row is None:
        return False
    record.pk, record.seq, record.prev_hash, record.hash, dependent_pk = row
    record._state.adding = False
    record._state.db = alias
    if dependent is not None and link is not None:
        setattr(dependent, link.name, record)
        dependent.pk = dependent_pk
        dependent._state.adding = False
        dependent._state.db = alias
    return True


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
