import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError

from agencies.tests.factories import region_line
from enrollment.tests.factories import make_person
from funds.models import Component, EntryKind, IndividualAccount, LedgerEntry
from funds.services import Posting, account_open, ledger_post, ledger_reverse

pytestmark = pytest.mark.django_db


@pytest.fixture
def account():
    line = region_line()
    person = make_person(line.village)
    return account_open(person=person, opened_on=dt.date(2024, 1, 10))


def post_contribution(account, key="contribution:1"):
    return ledger_post(
        account=account,
        postings=[
            Posting(Component.PERSONAL, EntryKind.CONTRIBUTION, Decimal("300.00")),
            Posting(Component.GOVERNMENT_SUBSIDY, EntryKind.SUBSIDY, Decimal("40.00")),
        ],
        booked_on=dt.date(2024, 3, 5),
        reference="contribution:1",
        idempotency_key=key,
    )


def test_posting_moves_cached_balances_by_component(account):
    post_contribution(account)
    account.refresh_from_db()
    assert account.balance_personal == Decimal("300.00")
    assert account.balance_government_subsidy == Decimal("40.00")
    assert account.balance == Decimal("340.00")


def test_posting_twice_with_one_key_posts_once(account):
    first = post_contribution(account)
    again = post_contribution(account)
    assert [entry.pk for entry in again] == [entry.pk for entry in first]
    account.refresh_from_db()
    assert account.balance == Decimal("340.00")
    assert LedgerEntry.objects.count() == 2


def test_reversal_appends_opposite_entry_and_keeps_original(account):
    personal, _ = post_contribution(account)
    reversal = ledger_reverse(entry=personal, booked_on=dt.date(2024, 4, 1), reason="录错")
    assert reversal.amount == Decimal("-300.00")
    assert reversal.reverses == personal
    account.refresh_from_db()
    assert account.balance_personal == Decimal("0.00")
    assert account.balance == Decimal("40.00")
    assert LedgerEntry.objects.get(pk=personal.pk).amount == Decimal("300.00")


def test_account_open_is_idempotent(account):
    again = account_open(person=account.person, opened_on=dt.date(2025, 1, 1))
    assert again.pk == account.pk
    assert again.opened_on == dt.date(2024, 1, 10)
    assert IndividualAccount.objects.count() == 1


def test_orm_refuses_to_update_or_delete_entries(account):
    personal, _ = post_contribution(account)
    with pytest.raises(TypeError):
        LedgerEntry.objects.filter(pk=personal.pk).update(amount=Decimal("1.00"))
    with pytest.raises(TypeError):
        LedgerEntry.objects.filter(pk=personal.pk).delete()
    with pytest.raises(TypeError):
        personal.delete()
    personal.amount = Decimal("1.00")
    with pytest.raises(TypeError):
        personal.save()


@pytest.mark.postgres
def test_database_refuses_update_and_delete_even_in_raw_sql(account):
    personal, _ = post_contribution(account)
    for statement in (
        "UPDATE funds_ledgerentry SET amount = 1 WHERE id = %s",
        "DELETE FROM funds_ledgerentry WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [personal.pk])
    assert LedgerEntry.objects.get(pk=personal.pk).amount == Decimal("300.00")
