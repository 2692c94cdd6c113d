"""Prepared statements for the hot statements (cardreveal/db.py, statement_cursor).

On PostgreSQL, a statement with fixed text runs through a cursor that binds its values on the
server, so psycopg prepares it on the connection after its fifth run and PostgreSQL stops parsing
and planning it; Django's own queries keep their client-side binding. Query logging
(assertNumQueries, CaptureQueriesContext) must still see every run.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cardreveal.cards import selectors
from cardreveal.db import statement_cursor
from cardreveal.settings.env import with_prepared_statements

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL only: SQLite has no prepared statements"
)


def _prepared(text_start: str) -> list[str]:
    with connection.cursor() as cursor:  # Django's own cursor: this query is never prepared
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall() if row[0].startswith(text_start)]


@postgresql_only
@pytest.mark.django_db
def test_a_hot_query_is_prepared_on_its_connection_and_still_logged(alice, make_card):
    card = make_card(alice.user)
    sql = selectors._OWNED_FOR_REVEAL._compiled(connection).sql
    start = sql[:60]
    assert _prepared(start) == []
    with CaptureQueriesContext(connection) as queries:
        for _ in range(6):
            found = selectors._OWNED_FOR_REVEAL.first(owner_id=alice.user.pk, card_id=card.pk)
            assert found is not None
            assert found.pk == card.pk
    # Every run logged, prepared or not, as Django logs its own queries: values written in.
    logged = [q["sql"] for q in queries.captured_queries]
    assert len(logged) == 6
    assert all(q.startswith("SELECT ") and card.pk.hex in q for q in logged)
    assert len(_prepared(start)) == 1
    # Django's own queries stay client-bound: the same lookup through the ORM is not prepared.
    for _ in range(6):
        list(selectors._OWNED_FOR_REVEAL.queryset(owner_id=alice.user.pk, card_id=card.pk))
    assert len(_prepared(start)) == 1


@postgresql_only
@pytest.mark.django_db
def test_with_prepared_statements_off_the_usual_cursor_runs_and_nothing_is_prepared(
    alice, make_card
):
    card = make_card(alice.user)
    connection.ensure_connection()
    raw = connection.connection
    saved = raw.prepare_threshold
    raw.prepare_threshold = None
    try:
        with statement_cursor(connection) as cursor:
            assert type(cursor.cursor).__module__.startswith("django.")  # Django's own cursor
        for _ in range(6):
            assert selectors._OWNED_FOR_REVEAL.first(owner_id=alice.user.pk, card_id=card.pk)
        assert _prepared(selectors._OWNED_FOR_REVEAL._compiled(connection).sql[:60]) == []
    finally:
        raw.prepare_threshold = saved


@pytest.mark.skipif(connection.vendor == "postgresql", reason="the other databases' path")
@pytest.mark.django_db
def test_elsewhere_the_hot_statements_run_on_the_usual_cursor():
    with statement_cursor(connection) as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
        assert not type(cursor.cursor).__module__.startswith("psycopg")


def test_the_setting_turns_them_on_for_postgresql_only(monkeypatch):
    monkeypatch.delenv("DATABASE_PREPARED_STATEMENTS", raising=False)
    pg = {"ENGINE": "django.db.backends.postgresql", "OPTIONS": {"connect_timeout": 3}}
    with_prepared_statements(pg)
    assert pg["OPTIONS"] == {"connect_timeout": 3, "prepare_threshold": 5}
    sqlite = {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
    with_prepared_statements(sqlite)
    assert "OPTIONS" not in sqlite


def test_an_operator_can_turn_them_off_and_a_typo_is_named(monkeypatch):
    monkeypatch.setenv("DATABASE_PREPARED_STATEMENTS", "false")
    pg: dict = {"ENGINE": "django.db.backends.postgresql"}
    with_prepared_statements(pg)
    assert "prepare_threshold" not in pg.get("OPTIONS", {})
    monkeypatch.setenv("DATABASE_PREPARED_STATEMENTS", "perhaps")
    with pytest.raises(ImproperlyConfigured, match="DATABASE_PREPARED_STATEMENTS must be true"):
        with_prepared_statements({"ENGINE": "django.db.backends.postgresql"})
