"""Debits split across components in proportion: the pure rule (hand-computed, then properties), and the
set-based ``debit_in_proportion`` against it on whichever database the tests run (PostgreSQL and SQLite)."""

import datetime as dt
import itertools
import random
from decimal import Decimal
from fractions import Fraction

import pytest
from django.db import IntegrityError, connection, transaction
from hypothesis import given, settings
from hypothesis import strategies as st

from agencies.money import FEN
from agencies.tests.factories import region_line
from enrollment.tests.factories import make_person
from funds.bulk import debit_in_proportion, split_in_proportion
from funds.management.commands.check_balances import balance_mismatches
from funds.models import BALANCE_COLUMN, Component, EntryKind, IndividualAccount, LedgerEntry
from funds.services import Posting, account_open, ledger_post

D = Decimal
COMPONENTS = list(Component.values)

# --- split_in_proportion: hand-computed ----------------------------------------------------------------


def test_a_pension_month_over_personal_and_interest():
    # 100.38 over personal 13,900.00 and interest 52.13, in fen: 10038 over 1,390,000 + 5,213 = 1,395,213.
    # personal: 10038 × 1,390,000 / 1,395,213 = 10000 remainder 690,000   (exact share 100.004945…)
    # interest: 10038 × 5,213 / 1,395,213     =    37 remainder 705,213   (exact share   0.375054…)
    # floors 10037: the one fen left goes to the larger remainder, interest's → personal 100.00, interest 0.38
    parts = split_in_proportion(D("100.38"), {Component.PERSONAL: D("13900.00"), Component.INTEREST: D("52.13")})
    assert parts == {Component.PERSONAL: D("100.00"), Component.INTEREST: D("0.38")}


def test_a_tie_goes_to_the_earlier_component_and_the_whole_balance_empties_every_component():
    # 0.01 over two equal balances: both floors 0, equal remainders: personal comes first in Component order
    two = {Component.GOVERNMENT_SUBSIDY: D("5.00"), Component.PERSONAL: D("5.00")}
    assert split_in_proportion(D("0.01"), two) == {Component.PERSONAL: D("0.01")}
    # the whole balance: each component gives all it has
    assert split_in_proportion(D("10.00"), two) == two


def test_components_without_money_take_nothing():
    balances = {Component.PERSONAL: D("30.00"), Component.DONATION: D("0.00"), Component.COLLECTIVE: D("-5.00")}
    assert split_in_proportion(D("12.34"), balances) == {Component.PERSONAL: D("12.34")}
    assert split_in_proportion(D("0"), balances) == {}


def test_refuses_a_negative_debit_or_more_than_the_balance():
    with pytest.raises(ValueError):
        split_in_proportion(D("-1.00"), {Component.PERSONAL: D("10.00")})
    with pytest.raises(ValueError):
        split_in_proportion(D("10.01"), {Component.PERSONAL: D("10.00")})


# --- split_in_proportion: properties -------------------------------------------------------------------

balance_values = st.one_of(
    st.just(D("0.00")),
    st.decimals(min_value=D("0.01"), max_value=D("200000"), places=2),
    st.decimals(min_value=D("-100"), max_value=D("-0.01"), places=2),  # never in practice: takes nothing
)
balances_strategy = st.dictionaries(st.sampled_from(COMPONENTS), balance_values, min_size=1).filter(
    lambda balances: sum(b for b in balances.values() if b > 0) > 0
)


@settings(max_examples=500)
@given(balances=balances_strategy, data=st.data())
def test_parts_sum_to_the_debit_stay_within_each_balance_and_within_a_fen_of_the_exact_share(balances, data):
    positive = {c: b for c, b in balances.items() if b > 0}
    total = sum(positive.values())
    amount = data.draw(st.integers(min_value=0, max_value=int(total / FEN))) * FEN

    parts = split_in_proportion(amount, balances)

    assert sum(parts.values(), D("0")) == amount
    assert set(parts) <= set(positive)
    for component, part in parts.items():
        assert D("0") < part <= positive[component]
        assert part == part.quantize(FEN)
    for component, balance in positive.items():
        exact = Fraction(amount) * Fraction(balance) / Fraction(total)
        assert abs(Fraction(parts.get(component, D("0"))) - exact) < Fraction(1, 100)  # within a fen


@given(balances=balances_strategy)
def test_the_whole_balance_takes_each_positive_component_whole(balances):
    positive = {c: b for c, b in balances.items() if b > 0}
    assert split_in_proportion(sum(positive.values()), balances) == positive


# --- debit_in_proportion against the rule, on the database at hand ----------------------------------------

_keys = itertools.count(1)

# How each component's money arrives in an account here (the interest one moved in with a transfer).
ARRIVES_AS = {
    Component.PERSONAL: EntryKind.CONTRIBUTION,
    Component.GOVERNMENT_SUBSIDY: EntryKind.SUBSIDY,
    Component.COLLECTIVE: EntryKind.COLLECTIVE,
    Component.DONATION: EntryKind.DONATION,
    Component.GOVERNMENT_PAID: EntryKind.GOVERNMENT_PAID,
    Component.INTEREST: EntryKind.TRANSFER_IN,
}
BOOKED_ON = dt.date(2025, 5, 1)
KEY_PREFIX = "test-payroll:7:"
REFERENCE = "test-payroll:7:line:"


def random_accounts(rng: random.Random, line, count: int) -> list[IndividualAccount]:
    accounts = []
    for _ in range(count):
        account = account_open(person=make_person(line.village), opened_on=dt.date(2020, 1, 1))
        postings = [
            Posting(
                component,
                ARRIVES_AS[component],
                D(rng.choice([1, rng.randint(1, 99), rng.randint(100, 3_000_000)])) / 100,
            )
            for component in COMPONENTS
            if rng.random() < 0.6
        ]
        if postings:  # some accounts stay empty
            ledger_post(
                account=account,
                postings=postings,
                booked_on=dt.date(2024, 3, 1),
                reference="random",
                idempotency_key=f"random:{next(_keys)}",
            )
        account.refresh_from_db()
        accounts.append(account)
    return accounts


def lines_source(lines: list[tuple[int, int, Decimal]]) -> tuple[str, list]:
    """``line_id, account_id, requested`` as plain SQL both databases read."""
    sql = " UNION ALL ".join("SELECT %s AS line_id, %s AS account_id, %s AS requested" for _ in lines)
    return sql, [value for line in lines for value in line]


def balances_of(account: IndividualAccount) -> dict[str, Decimal]:
    return {c: getattr(account, BALANCE_COLUMN[c]) for c in COMPONENTS}


def debit(lines):
    sql, params = lines_source(lines)
    return debit_in_proportion(
        source_sql=sql,
        params=params,
        kind=EntryKind.PENSION,
        booked_on=BOOKED_ON,
        key_prefix=KEY_PREFIX,
        reference=REFERENCE,
    )


@pytest.mark.django_db
def test_debit_in_proportion_writes_what_the_rule_says_and_refuses_the_same_lines_twice():
    # given 50 accounts with random component balances (some empty) and a line each, asking for nothing,
    # a little, a usual month, or more than the account holds
    rng = random.Random("debit-in-proportion")
    line = region_line()
    accounts = random_accounts(rng, line, 50)
    lines = []
    for n, account in enumerate(accounts):
        requested = rng.choice(
            [D("0.00"), D("0.01"), D(rng.randint(1, 50_000)) / 100, account.balance, account.balance + D("1.00")]
        )
        lines.append((1000 + n, account.pk, requested))
    before = {account.pk: balances_of(account) for account in accounts}

    # when
    with transaction.atomic():
        staging = debit(lines)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT line_id, debited FROM {staging} ORDER BY line_id")
            debited = {line_id: D(str(amount)).quantize(FEN) for line_id, amount in cursor.fetchall()}

    # then each line took min(requested, balance), split as split_in_proportion says
    expected_entries = {}
    for line_id, account_id, requested in lines:
        balances = before[account_id]
        total = sum(balances.values())
        take = min(requested, total) if requested > 0 and total > 0 else D("0.00")
        assert debited.get(line_id, D("0.00")) == take, line_id
        parts = split_in_proportion(take, balances)
        for component, part in parts.items():
            expected_entries[f"{KEY_PREFIX}{line_id}:{component}:{EntryKind.PENSION}"] = (
                account_id,
                component,
                -part,
                f"{REFERENCE}{line_id}",
            )
        account = IndividualAccount.objects.get(pk=account_id)
        assert balances_of(account) == {c: balances[c] - parts.get(c, D("0")) for c in COMPONENTS}, account_id
        assert account.balance == total - take
    written = LedgerEntry.objects.filter(kind=EntryKind.PENSION)
    assert {
        entry.idempotency_key: (entry.account_id, entry.component, entry.amount, entry.reference) for entry in written
    } == expected_entries
    assert {entry.booked_on for entry in written} == {BOOKED_ON}
    assert len(expected_entries) > 50  # most accounts have money in several components
    assert balance_mismatches() == []

    # and the same lines again fail on the ledger's unique key, moving nothing
    after = {a.pk: balances_of(a) for a in IndividualAccount.objects.all()}
    entries = LedgerEntry.objects.count()
    with pytest.raises(IntegrityError, match="idempotency_key"), transaction.atomic():
        debit(lines)
    assert LedgerEntry.objects.count() == entries
    assert {a.pk: balances_of(a) for a in IndividualAccount.objects.all()} == after
    assert balance_mismatches() == []


@pytest.mark.django_db(transaction=True)
def test_debit_in_proportion_refuses_to_run_outside_a_transaction():
    with pytest.raises(RuntimeError, match="transaction"):
        debit([(1, 1, D("1.00"))])
    assert not LedgerEntry.objects.exists()


@pytest.mark.django_db
def test_debit_in_proportion_floors_each_share_then_gives_the_missing_fen_to_the_largest_remainders():
    # given 300.00 personal, 90.00 subsidy, 150.00 collective, 120.00 donation (660.00) and a debit of 23.74:
    # exact shares 10.790909…, 3.237272…, 5.395454…, 4.316363…; floors 10.79 + 3.23 + 5.39 + 4.31 = 23.72,
    # the two missing fen go to the largest remainders: subsidy (.7272) and donation (.6363)
    line = region_line()
    account = account_open(person=make_person(line.village), opened_on=dt.date(2020, 1, 1))
    amounts = {
        Component.PERSONAL: D("300.00"),
        Component.GOVERNMENT_SUBSIDY: D("90.00"),
        Component.COLLECTIVE: D("150.00"),
        Component.DONATION: D("120.00"),
    }
    ledger_post(
        account=account,
        postings=[Posting(c, ARRIVES_AS[c], amount) for c, amount in amounts.items()],
        booked_on=dt.date(2024, 3, 1),
        reference="fixed",
        idempotency_key="fixed:1",
    )
    with transaction.atomic():
        debit([(1, account.pk, D("23.74"))])
    written = {e.component: e.amount for e in LedgerEntry.objects.filter(kind=EntryKind.PENSION)}
    assert written == {
        Component.PERSONAL: D("-10.79"),
        Component.GOVERNMENT_SUBSIDY: D("-3.24"),
        Component.COLLECTIVE: D("-5.39"),
        Component.DONATION: D("-4.32"),
    }
    assert balance_mismatches() == []


@pytest.mark.django_db
def test_debit_in_proportion_refuses_two_lines_for_one_account():
    # both would read the balance as it was before the call, and could take more than it holds
    line = region_line()
    account = account_open(person=make_person(line.village), opened_on=dt.date(2020, 1, 1))
    ledger_post(
        account=account,
        postings=[Posting(Component.PERSONAL, EntryKind.CONTRIBUTION, D("100.00"))],
        booked_on=dt.date(2024, 3, 1),
        reference="fixed",
        idempotency_key="fixed:2",
    )
    with pytest.raises(ValueError, match="one line per account"), transaction.atomic():
        debit([(1, account.pk, D("80.00")), (2, account.pk, D("80.00"))])
    assert not LedgerEntry.objects.filter(kind=EntryKind.PENSION).exists()
    assert IndividualAccount.objects.get(pk=account.pk).balance == D("100.00")
