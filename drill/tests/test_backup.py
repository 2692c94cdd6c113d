"""The restore drill on a real PostgreSQL: a dump restored into a fresh database verifies against the
chain heads kept before it; an edited copy or a rewritten chain does not."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

import psycopg
import pytest

from bench.processes import ROOT
from drill.backup import database_url, restore_drill, verify_audit

pytestmark = pytest.mark.postgres

# `make test-drill` sets it; the default suite leaves this test out (it migrates a database).
SERVER = os.environ.get("DRILL_POSTGRES_URL", "")

_RECORDS = """
import django
django.setup()
from cardreveal.audit.models import AuthEvent
from cardreveal.audit.services import auth_event_record
from cardreveal.client_info import ClientInfo
client = ClientInfo(ip="198.51.100.7", user_agent="drill", request_id="drill", channel="web")
for i in range(5):
    auth_event_record(event=AuthEvent.Event.LOGIN_FAILED, outcome=AuthEvent.Outcome.FAILURE,
                      username=f"user{i}", reason="unknown_user", client=client)
"""


@pytest.fixture(scope="module")
def audited_database():
    """A fresh database, migrated, with five records on the auth chain; dropped afterwards."""
    if not SERVER.startswith("postgres"):
        pytest.skip("needs PostgreSQL: make test-drill (DRILL_POSTGRES_URL=postgres://...)")
    name = f"drill_test_{secrets.token_hex(4)}"
    with psycopg.connect(SERVER, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DJANGO_SETTINGS_MODULE": "cardreveal.settings.test",
        "DATABASE_URL": database_url(SERVER, name),
    }
    try:
        for argv in (["manage.py", "migrate", "-v0"], ["-c", _RECORDS]):
            subprocess.run([sys.executable, *argv], cwd=ROOT, env=env, check=True, timeout=600)
        yield name, env
    finally:
        with psycopg.connect(SERVER, autocommit=True) as admin:
            for db in (name, f"{name}_restored"):
                admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def test_a_restored_dump_verifies_against_the_heads_kept_before(audited_database, tmp_path):
    name, env = audited_database
    restored = restore_drill(server_url=SERVER, database=name, env=env, workdir=tmp_path, keep=True)
    assert restored.ok, restored.after.output
    assert restored.before.links["auth"] == 5
    assert restored.after.heads == restored.before.heads
    assert restored.dump_bytes > 0


def test_an_edited_copy_fails_the_check(audited_database, tmp_path):
    name, env = audited_database
    restored = restore_drill(server_url=SERVER, database=name, env=env, workdir=tmp_path, keep=True)
    copy = database_url(SERVER, f"{name}_restored")
    with psycopg.connect(copy, autocommit=True) as conn:
        conn.execute("UPDATE audit_authevent SET username = 'mallory' WHERE seq = 3")
    edited = verify_audit(
        env | {"DATABASE_URL": copy}, anchors=list(restored.before.heads.values())
    )
    assert not edited.ok
    assert "auth: BROKEN" in edited.output


def test_a_chain_rewritten_from_the_anchor_fails_the_check(audited_database, tmp_path):
    name, env = audited_database
    restored = restore_drill(server_url=SERVER, database=name, env=env, workdir=tmp_path, keep=True)
    seq = restored.before.heads["auth"].split(":")[1]
    other = f"auth:{seq}:{'0' * 64}"  # the head someone kept of a chain that was since rewritten
    copy = database_url(SERVER, f"{name}_restored")
    rewritten = verify_audit(env | {"DATABASE_URL": copy}, anchors=[other])
    assert not rewritten.ok
    assert "does not match the anchor" in rewritten.output
