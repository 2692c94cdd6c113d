"""Compiled queries (cardreveal/db.py): the hot-path lookups answer exactly what their querysets do.

Each query the app compiles is compared with the ORM running the same queryset, field by field,
on whichever database the suite runs on (SQLite locally, PostgreSQL in CI), with the rows that
must be found and the rows that must not.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, connections, transaction
from django.db.models import Model
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from cardreveal.accounts import backends, lockout, otp
from cardreveal.accounts import middleware as accounts_middleware
from cardreveal.accounts.models import AccountSecurity
from cardreveal.cards import selectors
from cardreveal.cards.models import Card, RevealSwitch
from cardreveal.db import CompiledQuery, CompiledQueryError


def loaded(obj: Model, related: tuple[str, ...] = (), annotations: tuple[str, ...] = ()) -> dict:
    """What a model instance holds as loaded: its non-deferred fields, related objects, annotations."""
    deferred = obj.get_deferred_fields()
    values: dict[str, Any] = {
        f.attname: getattr(obj, f.attname)
        for f in obj._meta.concrete_fields
        if f.attname not in deferred
    }
    values["_deferred"] = sorted(deferred)
    values["_class"] = type(obj)
    for name in related:
        values[name] = loaded(getattr(obj, name))
    for name in annotations:
        values[name] = getattr(obj, name)
    return values


def assert_same(query: CompiledQuery[Any], *, related=(), annotations=(), **values: object) -> list:
    compiled = query.all(**values)
    expected = list(query.queryset(**values))
    assert [loaded(o, related, annotations) for o in compiled] == [
        loaded(o, related, annotations) for o in expected
    ]
    return compiled


@pytest.fixture
def cards(alice, bob, make_card):
    return {
        "alice": [make_card(alice.user, label="B card"), make_card(alice.user, label="A card")],
        "bob": [make_card(bob.user, kind="thredd", label="Bob's")],
    }


def test_the_card_queries_answer_as_the_orm_does(alice, bob, cards):
    listed = assert_same(selectors._LISTED, related=("binding",), owner_id=alice.user.pk)
    assert [c.label for c in listed] == ["A card", "B card"]  # the model's ordering holds
    assert "reference" in listed[0].get_deferred_fields()  # only what the list shows is loaded
    assert assert_same(selectors._LISTED, owner_id=9_999_999) == []

    mine, theirs = cards["alice"][0], cards["bob"][0]
    owned = assert_same(
        selectors._OWNED, related=("binding",), owner_id=alice.user.pk, card_id=mine.pk
    )
    assert [c.pk for c in owned] == [mine.pk]
    # the binding's secrets come back decrypted, through the field's own converter
    assert owned[0].binding.secrets == mine.binding.secrets
    assert assert_same(selectors._OWNED, owner_id=alice.user.pk, card_id=theirs.pk) == []
    assert assert_same(selectors._OWNED, owner_id=bob.user.pk, card_id=mine.pk) == []


@pytest.mark.parametrize("state", ["no row", "on", "paused"])
def test_the_reveal_card_query_reads_the_switch_as_the_orm_does(alice, cards, state):
    if state == "no row":
        RevealSwitch.objects.all().delete()
    else:
        RevealSwitch.objects.update_or_create(
            pk=RevealSwitch.SINGLETON_ID, defaults={"reveals_enabled": state == "on"}
        )
    card = cards["alice"][0]
    [found] = assert_same(
        selectors._OWNED_FOR_REVEAL,
        related=("binding", "owner"),
        annotations=("reveals_paused",),
        owner_id=alice.user.pk,
        card_id=card.pk,
    )
    assert found.reveals_paused is (state == "paused")


@pytest.mark.parametrize("row", ["none yet", "locked", "after a password change"])
def test_the_reveal_card_query_reads_the_account_row_as_the_plain_read_does(alice, cards, row):
    now = timezone.now()
    if row == "locked":
        AccountSecurity.objects.create(user=alice.user, failed_attempts=5, locked_until=now)
    elif row == "after a password change":
        AccountSecurity.objects.create(user=alice.user, password_changed_at=now)
    with CaptureQueriesContext(connection) as queries:
        target = selectors.card_for_reveal(user=alice.user, card_id=cards["alice"][0].pk)
    assert len(queries) == 1  # the row came with the card
    expected = lockout.account_security_read(user=alice.user)
    if expected is None:
        assert target.security is None
    else:
        assert loaded(target.security) == loaded(expected)
    assert target.card.owner is alice.user  # the request's own user, not a second copy


def test_the_account_and_device_queries_answer_as_the_orm_does(alice, bob):
    AccountSecurity.objects.create(user=alice.user, failed_attempts=2)
    assert assert_same(lockout._SECURITY, user_id=alice.user.pk)
    assert assert_same(lockout._SECURITY, user_id=bob.user.pk) == []
    with transaction.atomic():
        assert assert_same(lockout._SECURITY_FOR_UPDATE, user_id=alice.user.pk)
    if connection.vendor == "postgresql":  # set_config is PostgreSQL's
        with transaction.atomic():
            [row] = assert_same(
                lockout._SECURITY_FOR_UPDATE_COMMIT_UNFLUSHED,
                annotations=("_synchronous_commit",),
                user_id=alice.user.pk,
            )
        assert row.failed_attempts == 2
        assert row._synchronous_commit == "off"

    TOTPDevice.objects.create(user=alice.user, name="old phone", confirmed=False)
    TOTPDevice.objects.create(user=alice.user, name="tablet", confirmed=True)
    with transaction.atomic():
        devices = assert_same(otp._CONFIRMED_TOTP_FOR_UPDATE, user_id=alice.user.pk)
    assert sorted(d.name for d in devices) == ["phone", "tablet"]  # never the unconfirmed one

    assert assert_same(backends._USER_BY_ID, pk=alice.user.pk)[0].username == "alice"
    assert assert_same(backends._USER_BY_ID, pk=9_999_999) == []
    with_user = assert_same(
        backends._TOTP_WITH_USER, related=("user",), pk=alice.device.pk, user_id=alice.user.pk
    )
    assert with_user[0].user.username == "alice"
    assert assert_same(backends._TOTP_WITH_USER, pk=alice.device.pk, user_id=bob.user.pk) == []
    static = StaticDevice.objects.create(user=bob.user, name="Backup codes", confirmed=True)
    totp_query = accounts_middleware._DEVICE_BY_ID["otp_totp.totpdevice"]
    static_query = accounts_middleware._DEVICE_BY_ID["otp_static.staticdevice"]
    assert assert_same(totp_query, pk=alice.device.pk)[0].pk == alice.device.pk
    assert assert_same(static_query, pk=static.pk)[0].pk == static.pk


@pytest.mark.django_db(transaction=True)
def test_locked_reads_refuse_to_run_outside_a_transaction_as_the_orm_does(alice):
    # The ORM refuses select_for_update in autocommit where the database can lock rows
    # (PostgreSQL); where it cannot (SQLite), both run it as a plain read.
    orm_refuses = connection.features.has_select_for_update
    for attempt in (1, 2):  # the first call compiles, the second runs the cached SQL
        if orm_refuses:
            with pytest.raises(TransactionManagementError):
                lockout._SECURITY_FOR_UPDATE.all(user_id=alice.user.pk)
            with pytest.raises(TransactionManagementError):
                list(lockout._SECURITY_FOR_UPDATE.queryset(user_id=alice.user.pk))
        else:
            assert lockout._SECURITY_FOR_UPDATE.all(user_id=alice.user.pk) == []
        with transaction.atomic():
            assert lockout._SECURITY_FOR_UPDATE.all(user_id=alice.user.pk) == [], attempt


def test_each_call_sends_its_own_values_in_one_query(alice, bob, cards):
    first = selectors._OWNED.first(owner_id=alice.user.pk, card_id=cards["alice"][1].pk)
    with CaptureQueriesContext(connection) as queries:
        second = selectors._OWNED.first(owner_id=bob.user.pk, card_id=cards["bob"][0].pk)
        second.binding.name  # noqa: B018 (loaded with the card: no query)
    assert (first.label, second.label) == ("A card", "Bob's")
    assert len(queries) == 1


def test_wrong_values_are_refused_with_what_was_expected(alice):
    with pytest.raises(TypeError, match="'owner_id' must be a int"):
        selectors._LISTED.all(owner_id=str(alice.user.pk))
    with pytest.raises(TypeError, match=r"expected the values \['card_id', 'owner_id'\]"):
        selectors._OWNED.all(owner_id=alice.user.pk)
    with pytest.raises(TypeError, match="'card_id' must be a UUID"):
        selectors._OWNED.all(owner_id=alice.user.pk, card_id=str(uuid.uuid4()))


@pytest.mark.django_db
def test_a_query_whose_sql_depends_on_a_value_is_refused():
    # A slice's bounds are written into the SQL, so one compiled text cannot serve every value.
    limited = CompiledQuery(lambda n: Card.objects.all()[:n], n=1)
    with pytest.raises(CompiledQueryError, match="the SQL changes with the value of 'n'"):
        limited.all(n=5)


@pytest.mark.django_db
def test_a_value_the_query_does_not_use_is_refused():
    unused = CompiledQuery(lambda owner_id: Card.objects.filter(owner_id=1), owner_id=1)
    with pytest.raises(CompiledQueryError, match="'owner_id' is not a parameter"):
        unused.all(owner_id=2)


@pytest.mark.django_db
def test_booleans_belong_in_the_query_not_in_the_values():
    flagged = CompiledQuery(lambda on: Card.objects.filter(reveal_enabled=on), on=True)
    with pytest.raises(CompiledQueryError, match="a boolean cannot be a parameter"):
        flagged.all(on=False)


@pytest.mark.django_db(transaction=True)
def test_each_thread_compiles_for_its_own_connection(alice):
    user_model = get_user_model()
    by_name = CompiledQuery(
        lambda username: user_model.objects.filter(username=username), username="x"
    )
    assert [u.pk for u in by_name.all(username="alice")] == [alice.user.pk]
    seen: list[object] = []

    def other_thread() -> None:
        thread_connection = connections["default"]
        try:
            seen.append([u.pk for u in by_name.all(username="alice")])
            seen.append(by_name._local.by_alias["default"].connection is thread_connection)
        finally:
            thread_connection.close()

    worker = threading.Thread(target=other_thread)
    worker.start()
    worker.join()
    assert seen == [[alice.user.pk], True]
    assert by_name._local.by_alias["default"].connection is connections["default"]
