"""Reads of individual accounts, always through the jurisdiction scope.

An account is reached through its person (a person outside the caller's scope answers 404), and its
figures come from the ledger: the balance of each component at the start and end of a year, the entries
with a running balance, and the interest credited for each year. The cached ``balance_*`` columns are for
bulk work and lists; a statement adds up the entries themselves, so what it prints is what the ledger says.
"""

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import F, QuerySet
from django.http import Http404

from agencies.models import Region, RegionLevel
from agencies.money import ZERO
from agencies.scope import get_scoped_or_404, scoped
from enrollment.models import InsuredPerson
from enrollment.selectors import person_get, person_queryset
from funds.models import Component, EntryKind, IndividualAccount, LedgerEntry

# A village's statements come in parts of this many persons, each one workbook built while the clerk waits:
# 300 statements of 15 years each take about 5 s to write (openpyxl spends ~60 µs a cell), well inside a
# request's time limit, so no background job is needed. Most villages fit in one part.
VILLAGE_PART_SIZE = 300


@dataclass(frozen=True)
class ComponentBalance:
    component: str
    label: str
    opening: Decimal
    movement: Decimal
    closing: Decimal


@dataclass(frozen=True)
class KindTotal:
    kind: str
    label: str
    amount: Decimal


@dataclass(frozen=True)
class YearInterest:
    year: int
    amount: Decimal


@dataclass(frozen=True)
class StatementLine:
    entry: LedgerEntry
    balance: Decimal  # the account's whole balance after this entry


@dataclass(frozen=True)
class AccountSummary:
    """An account's figures for one year (or for its whole life when ``year`` is None)."""

    year: int | None
    components: list[ComponentBalance]
    opening: Decimal
    movement: Decimal
    closing: Decimal
    kinds: list[KindTotal]  # the period's movements by kind of money, only kinds that occurred
    interest_by_year: list[YearInterest]  # every year's interest, whatever the period
    lines: list[StatementLine]  # the period's entries, oldest first
    years: list[int] = field(default_factory=list)  # the years that have entries, newest first


# --- the account and its entries ---------------------------------------------------------------------


def _with_reversed_period(entries: QuerySet[LedgerEntry]) -> QuerySet[LedgerEntry]:
    # A reversal of interest belongs to the year of the interest it reverses; one column, not a self-join object.
    return entries.annotate(reversed_period=F("reverses__period"))


def _account_or_empty(*, user, person: InsuredPerson) -> IndividualAccount:
    account = scoped(IndividualAccount.objects.select_related("pooling_region"), user).filter(person=person).first()
    if account is None:
        # Opened by the first posting: until then the person's account reads as empty. Never saved from here.
        account = IndividualAccount(person=person, region_code=person.region_code, opened_on=None)
    account.person = person
    return account


def account_for_person(*, user, person_id) -> IndividualAccount:
    """The account of a person in the user's scope (404 otherwise). A person with no posting yet gets an
    unsaved, empty account (``pk`` is None): zero balances and no entries."""
    return _account_or_empty(user=user, person=person_get(user=user, pk=person_id))


def account_for_insurance_number(*, user, insurance_number: str) -> IndividualAccount:
    """As ``account_for_person``, by the insurance number (保险编号) printed on every form and card."""
    person = (
        person_queryset(user=user).select_related("village__parent__parent").filter(insurance_number=insurance_number)
    ).first()
    if person is None:
        raise Http404
    return _account_or_empty(user=user, person=person)


def account_entries(*, user, account: IndividualAccount, year: int | None = None) -> QuerySet[LedgerEntry]:
    """The account's entries (of one year, by booking date), oldest first, through the scope."""
    if account.pk is None:
        return LedgerEntry.objects.none()
    entries = scoped(LedgerEntry.objects.filter(account=account), user)
    if year is not None:
        # A date range, not __year: the (account, booked_on) index serves it on every database.
        entries = entries.filter(booked_on__gte=dt.date(year, 1, 1), booked_on__lt=dt.date(year + 1, 1, 1))
    return entries.order_by("booked_on", "id")


# --- figures -------------------------------------------------------------------------------------------


def _interest_year(entry: LedgerEntry) -> int:
    period = entry.period or getattr(entry, "reversed_period", None) or ""
    return int(period[:4]) if period[:4].isdigit() else entry.booked_on.year


def summarize(entries: Iterable[LedgerEntry], *, year: int | None = None) -> AccountSummary:
    """Pure: an account's figures from all its entries (oldest first). Entries before ``year`` make the opening
    balance; the year's entries are the movement and the lines."""
    opening = dict.fromkeys(Component.values, ZERO)
    movement = dict.fromkeys(Component.values, ZERO)
    kinds: dict[str, Decimal] = {}
    interest: dict[int, Decimal] = {}
    years: set[int] = set()
    lines: list[StatementLine] = []
    running = ZERO
    for entry in entries:
        booked_year = entry.booked_on.year
        years.add(booked_year)
        if entry.component == Component.INTEREST:
            interest_year = _interest_year(entry)
            interest[interest_year] = interest.get(interest_year, ZERO) + entry.amount
        if year is not None and booked_year > year:
            continue
        running += entry.amount
        if year is not None and booked_year < year:
            opening[entry.component] = opening.get(entry.component, ZERO) + entry.amount
            continue
        movement[entry.component] = movement.get(entry.component, ZERO) + entry.amount
        kinds[entry.kind] = kinds.get(entry.kind, ZERO) + entry.amount
        lines.append(StatementLine(entry=entry, balance=running))
    labels = dict(Component.choices)
    components = [
        ComponentBalance(
            component=component,
            label=str(labels.get(component, component)),
            opening=opening[component],
            movement=movement[component],
            closing=opening[component] + movement[component],
        )
        for component in opening
    ]
    kind_labels = dict(EntryKind.choices)
    total_opening = sum(opening.values(), ZERO)
    total_movement = sum(movement.values(), ZERO)
    return AccountSummary(
        year=year,
        components=components,
        opening=total_opening,
        movement=total_movement,
        closing=total_opening + total_movement,
        kinds=[
            KindTotal(kind=kind, label=str(kind_labels.get(kind, kind)), amount=amount)
            for kind, amount in sorted(kinds.items(), key=lambda item: list(kind_labels).index(item[0]))
        ],
        interest_by_year=[YearInterest(year=y, amount=interest[y]) for y in sorted(interest)],
        lines=lines,
        years=sorted(years, reverse=True),
    )


def account_summary(*, account: IndividualAccount, year: int | None = None) -> AccountSummary:
    """Balance by component, the year's entries with running balance, and interest by year, from the ledger.

    ``account`` comes from ``account_for_person`` (or another scoped read): the scope was applied there.
    """
    if account.pk is None:
        return summarize([], year=year)
    return summarize(_with_reversed_period(account.entries.all()).order_by("booked_on", "id"), year=year)


# --- a village's statements ------------------------------------------------------------------------------


def statement_village(*, user, village_id) -> Region:
    """A village in the user's scope, or 404."""
    # Up to the province: every statement prints the village's full name from these, with no query each.
    villages = Region.objects.filter(level=RegionLevel.VILLAGE).select_related("parent__parent__parent__parent")
    return get_scoped_or_404(villages, user, pk=village_id)


def village_accounts(*, user, village: Region) -> QuerySet[IndividualAccount]:
    """The accounts of the village's persons in scope, in the order their statements are printed."""
    return (
        scoped(IndividualAccount.objects.filter(person__village=village), user)
        .select_related("person", "pooling_region")
        .order_by("person__name_initials", "person__name", "person_id")  # pinyin order, as village lists are kept
    )


def village_part_count(accounts: QuerySet[IndividualAccount]) -> tuple[int, int]:
    """(accounts, parts): how many statements, in how many workbooks of ``VILLAGE_PART_SIZE``."""
    total = accounts.count()
    return total, max(1, -(-total // VILLAGE_PART_SIZE))


def village_statements(
    *, village: Region, accounts: QuerySet[IndividualAccount], year: int | None = None, part: int = 1
) -> list[tuple[IndividualAccount, AccountSummary]]:
    """One part of a village's statements: its accounts, and the entries of all of them in one query."""
    page: Sequence[IndividualAccount] = list(accounts[(part - 1) * VILLAGE_PART_SIZE : part * VILLAGE_PART_SIZE])
    for account in page:
        account.person.village = village  # one village object, its parents already loaded
    by_account: dict[int, list[LedgerEntry]] = {account.pk: [] for account in page}
    if page:
        entries = _with_reversed_period(LedgerEntry.objects.filter(account__in=list(by_account)))
        for entry in entries.order_by("account_id", "booked_on", "id"):
            by_account[entry.account_id].append(entry)
    return [(account, summarize(by_account[account.pk], year=year)) for account in page]
