"""Accounts with hand-checkable entries, for the account page, statement and API tests.

``account_with_history`` posts, through ``funds.services``:
  2023-03-05  contribution 300.00 (personal) + subsidy 40.00          → 340.00
  2023-12-31  interest for 2023: 3.83 (340 × 1.5% × 9/12 = 3.825, half up)   → 343.83
  2024-02-10  contribution 500.00 + subsidy 60.00 + collective 50.00  → 953.83
"""

import datetime as dt
from decimal import Decimal

from django.db.models import F

from funds.models import BALANCE_COLUMN, Component, EntryKind, IndividualAccount, LedgerEntry
from funds.services import Posting, account_open, ledger_post


def post(account, key: str, booked_on: dt.date, *lines: tuple[str, str, str]) -> list[LedgerEntry]:
    return ledger_post(
        account=account,
        postings=[Posting(component, kind, Decimal(amount)) for component, kind, amount in lines],
        booked_on=booked_on,
        reference=key,
        idempotency_key=f"{key}:account:{account.pk}",  # the same source on two accounts is two postings
    )


def post_interest(account, year: int, amount: str) -> LedgerEntry:
    """An interest entry as the year-end settlement books it: on 31 December, with the year as its period."""
    value = Decimal(amount)
    entry = LedgerEntry.objects.create(
        account=account,
        component=Component.INTEREST,
        kind=EntryKind.INTEREST,
        amount=value,
        booked_on=dt.date(year, 12, 31),
        period=str(year),
        reference=f"interest:{year}",
    )
    column = BALANCE_COLUMN[Component.INTEREST]
    IndividualAccount.objects.filter(pk=account.pk).update(
        **{column: F(column) + value, "balance": F("balance") + value}
    )
    return entry


def account_with_history(person) -> IndividualAccount:
    account = account_open(person=person, opened_on=dt.date(2023, 3, 5))
    post(
        account,
        "contribution:2023",
        dt.date(2023, 3, 5),
        (Component.PERSONAL, EntryKind.CONTRIBUTION, "300.00"),
        (Component.GOVERNMENT_SUBSIDY, EntryKind.SUBSIDY, "40.00"),
    )
    post_interest(account, 2023, "3.83")
    post(
        account,
        "contribution:2024",
        dt.date(2024, 2, 10),
        (Component.PERSONAL, EntryKind.CONTRIBUTION, "500.00"),
        (Component.GOVERNMENT_SUBSIDY, EntryKind.SUBSIDY, "60.00"),
        (Component.COLLECTIVE, EntryKind.COLLECTIVE, "50.00"),
    )
    account.refresh_from_db()
    return account


def account_with_entries(person, count: int) -> IndividualAccount:
    """``count`` contributions of 100.00, one a month from January 2020."""
    account = account_open(person=person, opened_on=dt.date(2020, 1, 1))
    for n in range(count):
        booked = dt.date(2020 + n // 12, n % 12 + 1, 1)
        post(account, f"contribution:{n}", booked, (Component.PERSONAL, EntryKind.CONTRIBUTION, "100.00"))
    account.refresh_from_db()
    return account
