"""The per-request profile (bench/profile_requests.py): the database server's CPU per request."""

from __future__ import annotations

import pytest
from django.db import connection

from bench.profile_requests import _ServerCpu


@pytest.mark.django_db
def test_the_database_servers_cpu_is_read_for_this_connections_own_backend():
    server = _ServerCpu(connection)
    if connection.vendor != "postgresql":
        connection.ensure_connection()
        assert server.ns() is None  # SQLite runs in this process: there is no server to read
        return
    connection.ensure_connection()
    before = server.ns()
    assert before is not None, "PostgreSQL runs on this machine in CI: its backend is readable"
    with connection.cursor() as cursor:
        # Work only the backend does: its CPU time must grow, this process's barely.
        cursor.execute("SELECT count(*) FROM generate_series(1, 300000)")
        cursor.fetchone()
    after = server.ns()
    assert after is not None
    assert after[0] == before[0] == connection.connection.info.backend_pid
    assert after[1] - before[1] > 1_000_000  # more than 1 ms of the server's CPU


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_missing_backend_reads_as_unknown_not_zero(monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only: SQLite has no server process")
    connection.ensure_connection()
    server = _ServerCpu(connection)
    monkeypatch.setattr(
        type(connection.connection.info), "backend_pid", property(lambda self: 2**22 + 12345)
    )
    assert server.ns() is None  # as when the server is on another machine
