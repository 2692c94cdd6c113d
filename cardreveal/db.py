"""Query helpers the apps share."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db import DEFAULT_DB_ALIAS, connections, models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper
from django.db.models.query import get_related_populators
from django.db.transaction import TransactionManagementError
from django.utils.asyncio import async_unsafe

M = TypeVar("M", bound=models.Model)


def unique_or_none(queryset: models.QuerySet[M]) -> M | None:
    """The row a lookup by a unique key finds, or None.

    `.first()` without its ORDER BY: such a lookup finds at most one row, so the ordering (the
    model's default, else the primary key) is only work, compiled into every query and, for a
    model with a default ordering, a sort on the server. For lookups on hot paths.
    """
    rows = list(queryset.order_by()[:1])
    return rows[0] if rows else None


# Prepared statements, for the statements whose SQL text never changes (CompiledQuery, the audit
# chain's append). Parsing and planning the reveal's card read cost PostgreSQL about five times
# what running it does (0.24 against 0.05 ms of its CPU, measured on one connection). Django's
# cursors bind values on the client, so every statement reaches the server as new text and is
# planned again; psycopg prepares a statement it binds on the server once it has run
# `prepare_threshold` times on a connection (OPTIONS, settings/production.py; Django turns that
# off unless asked). Only these statements bind on the server, so only they are prepared.
def statement_cursor(connection: BaseDatabaseWrapper) -> CursorWrapper:
    """A cursor for a hot statement with fixed SQL text: on PostgreSQL with prepared statements
    on (a `prepare_threshold` in the connection's OPTIONS), one that binds its values on the
    server, so psycopg prepares the statement on the connection and later runs skip parsing and
    planning; otherwise the connection's usual cursor. Wrapped as Django wraps its own, so
    execute wrappers, error translation and query logging (assertNumQueries) see it."""
    if connection.vendor != "postgresql":
        return connection.cursor()
    return _server_binding_cursor(connection)


@async_unsafe
def _server_binding_cursor(connection: BaseDatabaseWrapper) -> CursorWrapper:
    import psycopg

    connection.ensure_connection()
    raw_connection = connection.connection
    if getattr(raw_connection, "prepare_threshold", None) is None:
        return connection.cursor()  # prepared statements off: nothing to gain from server binding
    connection.validate_thread_sharing()
    with connection.wrap_database_errors:
        cursor: Any = psycopg.Cursor(raw_connection)  # the stubs type the wrapped cursor wrongly
    if connection.queries_logged:
        return _LoggedStatementCursor(cursor, connection)
    return connection.make_cursor(cursor)


class _LoggedStatementCursor(CursorDebugWrapper):
    """Django's debug cursor for a server-bound statement: logs the statement with its values
    written in, as Django logs its own queries. (Django reads that text back from the cursor,
    which psycopg no longer keeps once a statement is prepared.)"""

    def execute(self, sql: Any, params: Any = None) -> Any:
        logged = sql if params is None else self.db.ops.compose_sql(sql, params)
        with self.debug_sql(logged, params):
            return CursorWrapper.execute(self, sql, params)


class CompiledQueryError(RuntimeError):
    """A query given to CompiledQuery that it cannot run safely with new values."""


# How a value the caller passes becomes the parameter the ORM would have sent: as it is (integers,
# strings, UUIDs on PostgreSQL), or as Django's UUIDField stores it where the database has no UUID
# type (SQLite: 32 hex digits). Found per parameter by compiling the query with two sample values,
# so a constant of the query that happens to equal a sample is never taken for a parameter.
_CONVERSIONS: tuple[Callable[[Any], Any], ...] = (
    lambda value: value,
    lambda value: value.hex,
)


def _other_sample(value: object) -> object:
    """A value of the same type as `value` and different from it."""
    if isinstance(value, bool):
        raise CompiledQueryError("a boolean cannot be a parameter; filter on it in the query")
    if isinstance(value, int):
        return value + 1
    if isinstance(value, uuid.UUID):
        return uuid.UUID(int=value.int ^ 1)
    if isinstance(value, str):
        return value + "x"
    raise CompiledQueryError(f"no second sample for a {type(value).__name__} parameter")


@dataclass(frozen=True)
class _Slot:
    position: int
    name: str
    convert: Callable[[Any], Any]


@dataclass(frozen=True)
class _Compiled:
    connection: BaseDatabaseWrapper
    sql: str
    params: tuple[Any, ...]
    slots: tuple[_Slot, ...]
    for_update: bool
    make: Callable[[list[Any]], Any]
    converters: Any
    compiler: Any


class CompiledQuery(Generic[M]):
    """A hot-path ORM query whose SQL the ORM writes once per thread and database, not per call.

    Building a queryset and compiling it to SQL costs more CPU than the database takes to answer a
    lookup by key: on a reveal it was about a quarter of the request's CPU. `build` makes the
    queryset from keyword values; it is called with `samples` (and once more per value, each
    changed, to find where each value lands among the SQL's parameters). Each call then runs the
    same SQL with the caller's values, and makes the rows into model instances as the ORM does
    (the fields' database converters, `select_related` objects, annotations, deferred fields).

    Values may be integers, strings or UUIDs; everything else belongs in the query itself. The
    SQL stays the ORM's own (quoting, joins, `FOR UPDATE`, the backend's dialect), so migrations
    and other databases need nothing here; tests compare each compiled query with its queryset.
    A `select_for_update` query refuses to run outside a transaction, as the ORM does.
    """

    def __init__(self, build: Callable[..., models.QuerySet[M]], /, **samples: object) -> None:
        self._build = build
        self._samples = samples
        self._local = threading.local()

    def all(self, *, using: str = DEFAULT_DB_ALIAS, **values: object) -> list[M]:
        """The rows for these values, as model instances."""
        if values.keys() != self._samples.keys():
            raise TypeError(f"expected the values {sorted(self._samples)}, got {sorted(values)}")
        for name, value in values.items():
            if type(value) is not type(self._samples[name]):
                raise TypeError(f"{name!r} must be a {type(self._samples[name]).__name__}")
        connection = connections[using]
        compiled = self._compiled(connection)
        if compiled.for_update and connection.get_autocommit():  # as the ORM's as_sql checks
            raise TransactionManagementError(
                "select_for_update cannot be used outside of a transaction."
            )
        params = list(compiled.params)
        for slot in compiled.slots:
            params[slot.position] = slot.convert(values[slot.name])
        with statement_cursor(connection) as cursor:
            cursor.execute(compiled.sql, params)
            rows = cursor.fetchall()
        if compiled.converters:
            rows = compiled.compiler.apply_converters(rows, compiled.converters)
        return [compiled.make(row) for row in rows]

    def first(self, *, using: str = DEFAULT_DB_ALIAS, **values: object) -> M | None:
        """The first row for these values, or None (for lookups by a unique key)."""
        rows = self.all(using=using, **values)
        return rows[0] if rows else None

    def queryset(self, **values: object) -> models.QuerySet[M]:
        """The queryset these values would run: the ORM's answer, for tests and for writes."""
        return self._build(**values)

    def _compiled(self, connection: BaseDatabaseWrapper) -> _Compiled:
        by_alias: dict[str, _Compiled] = self._local.__dict__.setdefault("by_alias", {})
        compiled = by_alias.get(connection.alias)
        if compiled is None or compiled.connection is not connection:
            compiled = by_alias[connection.alias] = self._compile(connection)
        return compiled

    def _sql(
        self, connection: BaseDatabaseWrapper, samples: dict[str, object]
    ) -> tuple[Any, str, tuple[Any, ...]]:
        queryset = self._build(**samples)
        compiler = queryset.query.get_compiler(connection=connection)
        sql, params = compiler.as_sql()  # refuses select_for_update in autocommit, as the ORM does
        return compiler, sql, tuple(params)

    def _compile(self, connection: BaseDatabaseWrapper) -> _Compiled:
        compiler, sql, params = self._sql(connection, self._samples)
        slots: list[_Slot] = []
        for name, sample in self._samples.items():
            other = _other_sample(sample)
            _, other_sql, other_params = self._sql(connection, self._samples | {name: other})
            if other_sql != sql or len(other_params) != len(params):
                raise CompiledQueryError(f"the SQL changes with the value of {name!r}")
            changed = enumerate(zip(params, other_params, strict=True))
            positions = [i for i, (a, b) in changed if a != b]
            if not positions:
                raise CompiledQueryError(f"{name!r} is not a parameter of the SQL")
            for position in positions:
                convert = next(
                    (
                        conv
                        for conv in _CONVERSIONS
                        if _converts(conv, sample, params[position])
                        and _converts(conv, other, other_params[position])
                    ),
                    None,
                )
                if convert is None:
                    raise CompiledQueryError(f"cannot tell how {name!r} is sent to the database")
                slots.append(_Slot(position, name, convert))
        fields = [s[0] for s in compiler.select[0 : compiler.col_count]]
        if compiler.has_composite_fields(fields):
            raise CompiledQueryError("composite fields are not supported")
        return _Compiled(
            connection=connection,
            sql=sql,
            params=params,
            slots=tuple(slots),
            for_update=bool(compiler.query.select_for_update)
            and connection.features.has_select_for_update
            and connection.features.supports_transactions,
            make=_row_maker(compiler, connection.alias),
            converters=compiler.get_converters(fields),
            compiler=compiler,
        )


def _converts(conv: Callable[[Any], Any], value: object, param: object) -> bool:
    try:
        return bool(conv(value) == param)
    except AttributeError:
        return False


def _row_maker(compiler: Any, alias: str) -> Callable[[list[Any]], Any]:
    """Turn one converted row into a model instance as Django's ModelIterable does."""
    select, klass_info, annotation_col_map = (
        compiler.select,
        compiler.klass_info,
        compiler.annotation_col_map,
    )
    model_cls = klass_info["model"]
    select_fields = klass_info["select_fields"]
    start, end = select_fields[0], select_fields[-1] + 1
    init_list = [f[0].target.attname for f in select[start:end]]
    # django-stubs follows a newer Django, whose version takes a fetch mode too.
    related_populators = get_related_populators(klass_info, select, alias)  # type: ignore[call-arg]
    annotations = tuple((annotation_col_map or {}).items())

    def make(row: list[Any]) -> Any:
        obj = model_cls.from_db(alias, init_list, row[start:end])
        for populator in related_populators:
            populator.populate(row, obj)
        for attr_name, position in annotations:
            setattr(obj, attr_name, row[position])
        return obj

    return make
