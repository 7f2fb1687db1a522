"""Year-end settlement in SQL (both vendors) and settlement at closing: the amounts, idempotency, refusals."""

import datetime as dt
import io
import itertools
import random
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agencies.errors import DomainError
from agencies.money import Rounding
from agencies.tests.factories import region_line
from contributions.models import InterestRate
from enrollment.tests.factories import make_person
from funds.interest import account_interest
from funds.management.commands.check_balances import Mismatch, balance_mismatches
from funds.models import (
    Component,
    EntryKind,
    IndividualAccount,
    InterestSettlement,
    LedgerEntry,
    SettlementStatus,
)
from funds.services import Posting, account_open, ledger_post
from funds.settlement import settle_closing, settle_year

pytestmark = pytest.mark.django_db

D = Decimal
_keys = itertools.count(1)


@pytest.fixture
def line():
    return region_line()


def open_account(line, opened_on=dt.date(2020, 1, 1)) -> IndividualAccount:
    return account_open(person=make_person(line.village), opened_on=opened_on)


def post(account, amount, on, component=Component.PERSONAL, kind=EntryKind.CONTRIBUTION):
    amount = D(amount)
    if amount < 0 and kind == EntryKind.CONTRIBUTION:
        kind = EntryKind.REVERSAL
    ledger_post(
        account=account,
        postings=[Posting(component, kind, amount)],
        booked_on=on,
        reference="test",
        idempotency_key=f"test:{next(_keys)}",
    )


def set_rate(line, year, rate="0.01500", rounding=Rounding.HALF_UP) -> InterestRate:
    return InterestRate.objects.create(pooling_region=line.pooling_region, year=year, rate=D(rate), rounding=rounding)


def interest_of(account, period) -> Decimal | None:
    entry = LedgerEntry.objects.filter(account=account, kind=EntryKind.INTEREST, period=period).first()
    return entry.amount if entry else None


def assert_balances_match_entries():
    assert balance_mismatches() == []


# --- hand-computed through the SQL ---------------------------------------------------------------------


def test_year_end_amounts_computed_in_sql(line):
    # given five accounts and a rate of 1.5% for 2025
    opening_only = open_account(line)
    post(opening_only, "1000.00", dt.date(2024, 3, 1))  # 1000 × 1.5% = 15.00
    march = open_account(line)
    post(march, "300.00", dt.date(2025, 3, 5))  # 300 × 1.5% × 9/12 = 3.375 → 3.38
    debit = open_account(line)
    post(debit, "1000.00", dt.date(2024, 6, 1))
    post(debit, "-400.00", dt.date(2025, 7, 20))  # (1000 × 12 − 400 × 6) × 1.5% / 12 = 12.00
    half_fen = open_account(line)
    post(half_fen, "101.00", dt.date(2025, 8, 1))  # 101 × 1.5% × 4/12 = 0.505 → 0.51
    later = open_account(line)
    post(later, "500.00", dt.date(2026, 1, 10))  # booked after the year: no interest for 2025
    set_rate(line, 2025)

    # when
    result = settle_year(pooling_region=line.pooling_region, year=2025)

    # then
    assert interest_of(opening_only, "2025") == D("15.00")
    assert interest_of(march, "2025") == D("3.38")
    assert interest_of(debit, "2025") == D("12.00")
    assert interest_of(half_fen, "2025") == D("0.51")
    assert interest_of(later, "2025") is None
    assert result.entries_posted == 4
    assert result.amount_posted == D("30.89")
    entry = LedgerEntry.objects.get(account=march, period="2025")
    assert (entry.booked_on, entry.component, entry.kind) == (dt.date(2025, 12, 31), "interest", "interest")
    march.refresh_from_db()
    assert march.balance_interest == D("3.38")
    assert march.balance == D("303.38")
    assert_balances_match_entries()


def test_rounding_down_region(line):
    march = open_account(line)
    post(march, "300.00", dt.date(2025, 3, 5))  # 3.375 → 3.37 down
    half_fen = open_account(line)
    post(half_fen, "101.00", dt.date(2025, 8, 1))  # 0.505 → 0.50 down
    set_rate(line, 2025, rounding=Rounding.DOWN)
    settle_year(pooling_region=line.pooling_region, year=2025)
    assert interest_of(march, "2025") == D("3.37")
    assert interest_of(half_fen, "2025") == D("0.50")


def test_zero_rate_year_posts_nothing_and_completes(line):
    account = open_account(line)
    post(account, "1000.00", dt.date(2024, 3, 1))
    set_rate(line, 2025, rate="0")
    result = settle_year(pooling_region=line.pooling_region, year=2025)
    assert result.entries_posted == 0
    assert not LedgerEntry.objects.filter(kind=EntryKind.INTEREST).exists()
    assert InterestSettlement.objects.get().status == SettlementStatus.DONE


def test_last_years_interest_earns_in_the_opening_balance(line):
    account = open_account(line)
    post(account, "1000.00", dt.date(2024, 1, 15))
    set_rate(line, 2024)
    set_rate(line, 2025)
    settle_year(pooling_region=line.pooling_region, year=2024)
    settle_year(pooling_region=line.pooling_region, year=2025)
    # 2024: 1000 × 1.5% × 11/12 = 13.75; 2025: (1000 + 13.75) × 1.5% = 15.20625 → 15.21
    assert interest_of(account, "2024") == D("13.75")
    assert interest_of(account, "2025") == D("15.21")
    assert_balances_match_entries()


def test_other_regions_accounts_are_left_alone(line):
    mine = open_account(line)
    post(mine, "1000.00", dt.date(2024, 3, 1))
    other_line = region_line(county="320411")
    theirs = open_account(other_line)
    post(theirs, "1000.00", dt.date(2024, 3, 1))
    set_rate(line, 2025)
    settle_year(pooling_region=line.pooling_region, year=2025)
    assert interest_of(mine, "2025") == D("15.00")
    assert interest_of(theirs, "2025") is None


# --- closing -----------------------------------------------------------------------------------------


def test_account_closing_mid_year_is_settled_to_the_month_before_and_skipped_at_year_end(line):
    account = open_account(line)
    post(account, "1000.00", dt.date(2024, 5, 1))
    post(account, "300.00", dt.date(2025, 3, 10))
    post(account, "200.00", dt.date(2025, 7, 2))
    set_rate(line, 2025)

    entry = settle_closing(account=account, closing_date=dt.date(2025, 7, 15))
    IndividualAccount.objects.filter(pk=account.pk).update(closed_on=dt.date(2025, 7, 15))

    # c = 7: 1000 × 6 + 300 × (7 − 1 − 3) + 200 × 0 = 6900 × 1.5% / 12 = 8.625 → 8.63
    assert entry.amount == D("8.63")
    assert (entry.period, entry.booked_on) == ("2025-07", dt.date(2025, 7, 15))
    again = settle_closing(account=account, closing_date=dt.date(2025, 7, 15))
    assert again.pk == entry.pk
    result = settle_year(pooling_region=line.pooling_region, year=2025)
    assert result.entries_posted == 0  # closed before the year's end
    account.refresh_from_db()
    assert account.balance == D("1508.63")
    assert_balances_match_entries()


def test_closing_ignores_the_years_earlier_interest_and_refuses_without_rate(line):
    account = open_account(line)
    post(account, "1200.00", dt.date(2024, 5, 1))
    with pytest.raises(DomainError, match="2025"):
        settle_closing(account=account, closing_date=dt.date(2025, 3, 1))
    set_rate(line, 2025)
    # c = 3: 1200 × 2 × 1.5% / 12 = 3.00
    assert settle_closing(account=account, closing_date=dt.date(2025, 3, 1)).amount == D("3.00")
    # closing in January: nothing to settle
    assert settle_closing(account=open_account(line), closing_date=dt.date(2025, 1, 20)) is None


# --- after an earlier closing in the same year: a pension start, a death, a transfer --------------------


def pay_pension(account, months, amount="-10.00", year=2025):
    """The account part of the pension, debited on the 1st of each month as the payroll books it."""
    for month in months:
        post(account, amount, dt.date(year, month, 1), kind=EntryKind.PENSION)


def pensioner(line) -> IndividualAccount:
    # opening 1200.00 (2024), a contribution of 300.00 in March 2025
    account = open_account(line)
    post(account, "1200.00", dt.date(2024, 5, 1))
    post(account, "300.00", dt.date(2025, 3, 10))
    return account


def test_pension_start_in_april_then_year_end_pays_january_to_march_once(line):
    # given a pension starting in April 2025: the account stays open
    account = pensioner(line)
    set_rate(line, 2025)
    start = settle_closing(account=account, closing_date=dt.date(2025, 4, 1))
    # c = 4: 1200 × 3 + 300 × (4 − 1 − 3 = 0) = 3600 × 1.5% / 12 = 4.50
    assert (start.amount, start.period, start.booked_on) == (D("4.50"), "2025-04", dt.date(2025, 4, 1))
    pay_pension(account, range(4, 13))  # −10.00 on the 1st of April … December
    post(account, "200.00", dt.date(2025, 4, 15))  # month c, after the closing

    # when
    result = settle_year(pooling_region=line.pooling_region, year=2025)

    # then from c = 4: base (1200 + 300 + 4.50) × (13 − 4) = 1504.50 × 9 = 13540.50;
    # 200 in April × (13 − 1 − 4 = 8) = 1600; pension −10 × (9 + 8 + … + 1 = 45) = −450;
    # 14690.50 × 1.5% / 12 = 18.363125 → 18.36 (the whole year again would be 22.81: Jan–Mar twice)
    assert interest_of(account, "2025") == D("18.36")
    assert result.entries_posted == 1
    account.refresh_from_db()
    assert account.balance_interest == D("22.86")  # 4.50 + 18.36
    assert account.balance == D("1200.00") + D("300.00") + D("200.00") - D("90.00") + D("22.86")
    assert_balances_match_entries()


def test_pension_start_in_april_then_death_in_october_settles_april_to_september(line):
    # given a pension from April 2025, paid April to October
    account = pensioner(line)
    set_rate(line, 2025)
    assert settle_closing(account=account, closing_date=dt.date(2025, 4, 1)).amount == D("4.50")
    pay_pension(account, range(4, 11))

    # when the person dies and the death is settled on 20 October
    death = settle_closing(account=account, closing_date=dt.date(2025, 10, 20))

    # then from c = 4 to c2 = 10: base 1504.50 × (10 − 4) = 9027; pension April–September
    # −10 × (6 + 5 + 4 + 3 + 2 + 1 = 21) = −210; October's (month c2) nothing:
    # 8817 × 1.5% / 12 = 11.02125 → 11.02 (from January again it would be 15.49)
    assert (death.amount, death.period, death.booked_on) == (D("11.02"), "2025-10", dt.date(2025, 10, 20))
    assert settle_closing(account=account, closing_date=dt.date(2025, 10, 20)).pk == death.pk  # again: the same
    # the heir takes the balance and the account closes: the year end passes it by
    account.refresh_from_db()
    post(account, -account.balance_personal, dt.date(2025, 10, 20), kind=EntryKind.INHERITANCE)
    post(
        account,
        -account.balance_interest,
        dt.date(2025, 10, 20),
        component=Component.INTEREST,
        kind=EntryKind.INHERITANCE,
    )
    IndividualAccount.objects.filter(pk=account.pk).update(closed_on=dt.date(2025, 10, 20))
    result = settle_year(pooling_region=line.pooling_region, year=2025)
    assert result.entries_posted == 0
    assert interest_of(account, "2025") is None
    account.refresh_from_db()
    assert account.balance == D("0.00")
    assert LedgerEntry.objects.filter(account=account, kind=EntryKind.INTEREST).aggregate(total=Sum("amount")) == {
        "total": D("15.52")
    }  # 4.50 + 11.02
    assert_balances_match_entries()


def test_transfer_out_in_may_then_reopened_elsewhere_and_credited_in_june(line):
    # given an account that leaves in May 2025 and is booked in by another pooling region in June
    account = open_account(line)
    post(account, "1000.00", dt.date(2024, 6, 1))
    post(account, "240.00", dt.date(2025, 2, 10))
    post(account, "120.00", dt.date(2025, 5, 3))  # month c, before the closing's day
    set_rate(line, 2025)
    out = settle_closing(account=account, closing_date=dt.date(2025, 5, 20))
    # c = 5: 1000 × 4 + 240 × (5 − 1 − 2 = 2) + 120 × 0 = 4480 × 1.5% / 12 = 5.60
    assert out.amount == D("5.60")
    post(account, "-1360.00", dt.date(2025, 5, 20), kind=EntryKind.TRANSFER_OUT)
    post(account, "-5.60", dt.date(2025, 5, 20), component=Component.INTEREST, kind=EntryKind.TRANSFER_OUT)
    IndividualAccount.objects.filter(pk=account.pk).update(closed_on=dt.date(2025, 5, 20))
    there = region_line(county="320411")
    set_rate(there, 2025, rate="0.02000")
    IndividualAccount.objects.filter(pk=account.pk).update(closed_on=None, pooling_region=there.pooling_region)
    account.refresh_from_db()
    post(account, "1360.00", dt.date(2025, 6, 10), kind=EntryKind.TRANSFER_IN)
    post(account, "5.60", dt.date(2025, 6, 10), component=Component.INTEREST, kind=EntryKind.TRANSFER_IN)

    # when the new region settles the year, at its rate of 2%
    assert settle_year(pooling_region=line.pooling_region, year=2025).entries_posted == 0  # not ours any more
    settle_year(pooling_region=there.pooling_region, year=2025)

    # then from c = 5: base (1000 + 240 + 5.60) × (13 − 5) = 9964.80; the 120 of May (not in the base)
    # × (13 − 1 − 5 = 7) = 840; out −1365.60 × (13 − 5 = 8) = −10924.80; in 1365.60 × (12 − 6 = 6) = 8193.60;
    # 8073.60 × 2% / 12 = 13.456 → 13.46 (from January again it would be 20.85)
    assert interest_of(account, "2025") == D("13.46")
    account.refresh_from_db()
    assert account.balance == D("1365.60") + D("13.46")
    assert_balances_match_entries()


def test_closing_after_a_later_closing_or_the_year_end_posts_nothing(line):
    account = pensioner(line)
    set_rate(line, 2025)
    # a pension from June, settled on approval: c = 6: 1200 × 5 + 300 × (6 − 1 − 3 = 2) = 6600 × 1.5% / 12 = 8.25
    assert settle_closing(account=account, closing_date=dt.date(2025, 6, 1)).amount == D("8.25")
    # then a death registered in April, before the pension started: the months before April are paid already
    assert settle_closing(account=account, closing_date=dt.date(2025, 4, 20)) is None
    # the year end from June: 1508.25 × 7 = 10557.75 × 1.5% / 12 = 13.1971875 → 13.20
    settle_year(pooling_region=line.pooling_region, year=2025)
    assert interest_of(account, "2025") == D("13.20")
    # a closing on 31 December after the year end: the whole year is paid already
    assert settle_closing(account=account, closing_date=dt.date(2025, 12, 31)) is None
    assert LedgerEntry.objects.filter(account=account, kind=EntryKind.INTEREST).count() == 2
    assert_balances_match_entries()


# --- refusals, idempotency, interruption --------------------------------------------------------------


def test_missing_rate_refused_with_nothing_written(line):
    account = open_account(line)
    post(account, "1000.00", dt.date(2024, 3, 1))
    with pytest.raises(DomainError) as refused:
        settle_year(pooling_region=line.pooling_region, year=2025)
    assert "2025" in refused.value.message
    assert line.pooling_region.name in refused.value.message
    assert refused.value.code == "no_interest_rate"
    assert not LedgerEntry.objects.filter(kind=EntryKind.INTEREST).exists()
    assert not InterestSettlement.objects.exists()


def test_an_earlier_unsettled_year_is_settled_first(line):
    set_rate(line, 2024)
    set_rate(line, 2025)
    with pytest.raises(DomainError, match="2024"):
        settle_year(pooling_region=line.pooling_region, year=2025)
    assert not InterestSettlement.objects.exists()


def test_closing_waits_for_last_years_settlement(line):
    account = open_account(line)
    post(account, "1000.00", dt.date(2024, 1, 15))
    set_rate(line, 2024)
    set_rate(line, 2025)
    with pytest.raises(DomainError, match="2024"):
        settle_closing(account=account, closing_date=dt.date(2025, 5, 10))
    settle_year(pooling_region=line.pooling_region, year=2024)  # 1000 × 1.5% × 11/12 = 13.75
    # c = 5: 1013.75 × 4 × 1.5% / 12 = 5.06875 → 5.07
    assert settle_closing(account=account, closing_date=dt.date(2025, 5, 10)).amount == D("5.07")


def test_run_twice_posts_once(line):
    accounts = [open_account(line) for _ in range(5)]
    for account in accounts:
        post(account, "1000.00", dt.date(2024, 3, 1))
    set_rate(line, 2025)
    first = settle_year(pooling_region=line.pooling_region, year=2025, chunk_size=2)
    second = settle_year(pooling_region=line.pooling_region, year=2025, chunk_size=2)
    assert (first.entries_posted, second.entries_posted) == (5, 0)
    assert first.chunks == 3
    assert LedgerEntry.objects.filter(kind=EntryKind.INTEREST).count() == 5
    assert_balances_match_entries()
    runs = InterestSettlement.objects.order_by("id")
    assert [(r.status, r.entries_posted, r.accounts_done) for r in runs] == [("done", 5, 5), ("done", 0, 5)]
    assert runs[0].amount_posted == D("75.00")


class Killed(Exception):
    pass


def test_interrupted_run_finishes_on_rerun_with_nothing_posted_twice(line):
    accounts = [open_account(line) for _ in range(5)]
    for account in accounts:
        post(account, "1000.00", dt.date(2024, 3, 1))
    set_rate(line, 2025)
    seen = []

    def kill_after_first_chunk(done, total):
        seen.append((done, total))
        raise Killed

    with pytest.raises(Killed):
        settle_year(pooling_region=line.pooling_region, year=2025, chunk_size=2, progress=kill_after_first_chunk)
    assert seen == [(2, 5)]
    assert LedgerEntry.objects.filter(kind=EntryKind.INTEREST).count() == 2  # the first chunk committed
    interrupted = InterestSettlement.objects.get()
    assert (interrupted.status, interrupted.entries_posted) == (SettlementStatus.FAILED, 2)
    assert_balances_match_entries()

    rerun = settle_year(pooling_region=line.pooling_region, year=2025, chunk_size=2)
    assert rerun.entries_posted == 3
    assert LedgerEntry.objects.filter(kind=EntryKind.INTEREST).count() == 5
    assert {interest_of(a, "2025") for a in accounts} == {D("15.00")}
    assert_balances_match_entries()


# --- the SQL against the pure function ----------------------------------------------------------------


def expected_interest(account, year, rate: InterestRate) -> Decimal:
    """The year-end rule restated over the account's entries: from the latest closing of the year, in month c
    (else January), the base is what was booked before month c plus the year's interest up to that closing."""
    entries = list(account.entries.values_list("booked_on", "kind", "period", "amount"))
    closings = [
        (int(period[5:]), booked_on)
        for booked_on, kind, period, _ in entries
        if kind == EntryKind.INTEREST and len(period) == 7 and period[:5] == f"{year}-" and booked_on.year == year
    ]
    from_month, last_closing = max(closings, default=(1, None))
    month_start = dt.date(year, from_month, 1)
    base = D("0")
    movements = []
    for booked_on, kind, _, amount in entries:
        if booked_on.year > year:
            continue
        years_interest = kind == EntryKind.INTEREST and booked_on.year == year
        if booked_on < month_start or (years_interest and last_closing is not None and booked_on <= last_closing):
            base += amount
        elif not years_interest:
            movements.append((booked_on.month, amount))
    return account_interest(
        opening=base, movements=movements, rate=rate.rate, rounding=rate.rounding, from_month=from_month
    )


@pytest.mark.parametrize("rounding", [Rounding.HALF_UP, Rounding.DOWN])
def test_sql_matches_the_pure_function_on_random_accounts(line, rounding):
    rng = random.Random(20251231)
    accounts = [open_account(line) for _ in range(40)]
    for account in accounts:
        balance = D("0")
        for _ in range(rng.randint(0, 7)):
            year = rng.choice([2023, 2024, 2025, 2025, 2026])
            day = dt.date(year, rng.randint(1, 12), rng.randint(1, 28))
            if balance > 0 and rng.random() < 0.25:
                amount = -(balance * D(rng.randint(1, 100)) / 100).quantize(D("0.01"))
            else:
                amount = D(rng.randint(1, 300_000)) / 100
            component = rng.choice([Component.PERSONAL, Component.GOVERNMENT_SUBSIDY, Component.COLLECTIVE])
            kind = EntryKind.REVERSAL if amount < 0 else EntryKind.CONTRIBUTION
            ledger_post(
                account=account,
                postings=[Posting(component, kind, amount)],
                booked_on=day,
                reference="random",
                idempotency_key=f"random:{next(_keys)}",
            )
            balance += amount
    rate = set_rate(line, 2025, rate=rng.choice(["0.01500", "0.02750", "0.03125", "0.00350"]), rounding=rounding)

    settle_year(pooling_region=line.pooling_region, year=2025, chunk_size=7)

    for account in accounts:
        expected = expected_interest(account, 2025, rate)
        assert (interest_of(account, "2025") or D("0.00")) == expected, account.pk
    assert_balances_match_entries()


def _random_year(rng: random.Random, year: int) -> list[tuple[dt.date, str]]:
    """A year of one account's events in date order: money in or out, and up to two closings."""
    events = []
    for _ in range(rng.randint(1, 6)):
        events.append((dt.date(year, rng.randint(1, 12), rng.randint(1, 28)), "money"))
    for _ in range(rng.choice([0, 1, 1, 2])):
        events.append((dt.date(year, rng.randint(1, 12), rng.randint(1, 28)), "closing"))
    return sorted(events, key=lambda event: (event[0], event[1] == "closing"))


def _live_a_year(rng: random.Random, accounts, year: int, state: dict) -> None:
    """Each account's year in date order. A closing is a pension start (the account stays open), a transfer out
    (closed, booked in again at its next event, perhaps next year) or a death; ``state`` keeps who is dead, or
    transferred out (and with what)."""
    for account in accounts:
        for day, what in _random_year(rng, year):
            closed = state.get(account.pk)
            if closed == "dead":
                break
            if closed is not None and day <= closed:
                continue
            if closed is not None:  # a transfer booked in again: the money comes back
                IndividualAccount.objects.filter(pk=account.pk).update(closed_on=None)
                account.refresh_from_db()
                for component, amount in state.pop(("moved", account.pk)).items():
                    post(account, amount, day, component=component, kind=EntryKind.TRANSFER_IN)
                del state[account.pk]
            account.refresh_from_db()
            if what == "money":
                if account.balance > 0 and rng.random() < 0.3:
                    amount = -(account.balance_personal * D(rng.randint(1, 40)) / 100).quantize(D("0.01"))
                    if amount < 0:
                        post(account, amount, day, kind=EntryKind.PENSION)
                else:
                    component = rng.choice([Component.PERSONAL, Component.GOVERNMENT_SUBSIDY])
                    kind = EntryKind.CONTRIBUTION if component == Component.PERSONAL else EntryKind.SUBSIDY
                    post(account, D(rng.randint(1, 300_000)) / 100, day, component=component, kind=kind)
                continue
            settle_closing(account=account, closing_date=day)
            ending = rng.choice(["pension", "pension", "transfer", "death"])
            if ending == "pension":
                continue
            account.refresh_from_db()
            moved = {c: getattr(account, f"balance_{c}") for c in Component.values if getattr(account, f"balance_{c}")}
            for component, amount in moved.items():
                post(account, -amount, day, component=component, kind=EntryKind.TRANSFER_OUT)
            IndividualAccount.objects.filter(pk=account.pk).update(closed_on=day)
            if ending == "death":
                state[account.pk] = "dead"
            else:
                state[account.pk] = day
                state[("moved", account.pk)] = moved


@pytest.mark.parametrize("rounding", [Rounding.HALF_UP, Rounding.DOWN])
def test_sql_matches_the_pure_function_on_random_accounts_with_closings(line, rounding):
    # given two years of random lives: pensions starting, transfers out (some booked in again), deaths
    rng = random.Random(f"closings-{rounding}")
    accounts = [open_account(line) for _ in range(24)]
    for account in accounts:
        post(account, D(rng.randint(1, 500_000)) / 100, dt.date(2023, rng.randint(1, 12), 1))
    rates = {
        year: set_rate(line, year, rate=rng.choice(["0.01500", "0.02750", "0.03125"]), rounding=rounding)
        for year in (2024, 2025)
    }
    state: dict = {}
    for year in (2024, 2025):
        _live_a_year(rng, accounts, year, state)

        # when
        settle_year(pooling_region=line.pooling_region, year=year, chunk_size=5)

        # then every account open at the year end has what the pure function says, the others nothing
        closings = 0
        for account in accounts:
            account.refresh_from_db()
            closings += LedgerEntry.objects.filter(account=account, period__startswith=f"{year}-").count()
            if account.closed_on is not None:
                assert interest_of(account, str(year)) is None, account.pk
                continue
            expected = expected_interest(account, year, rates[year])
            assert (interest_of(account, str(year)) or D("0.00")) == expected, (year, account.pk)
        assert closings >= 5  # the sample does exercise closings
        assert_balances_match_entries()


postings = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=2),  # which account
        st.dates(min_value=dt.date(2024, 1, 1), max_value=dt.date(2025, 12, 31)),
        st.decimals(min_value=D("-500"), max_value=D("3000"), places=2).filter(lambda x: x != 0),
        st.sampled_from([Component.PERSONAL, Component.GOVERNMENT_SUBSIDY, Component.DONATION]),
    ),
    max_size=12,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(postings=postings, year_end_2025=st.booleans())
def test_the_ledger_always_sums_to_the_cached_balance(line, postings, year_end_2025):
    # Each example in its own savepoint, rolled back, so the examples do not see each other.
    with transaction.atomic():
        accounts = [open_account(line) for _ in range(3)]
        set_rate(line, 2024)
        set_rate(line, 2025, rate="0.02750")
        for index, booked_on, amount, component in sorted(postings, key=lambda p: p[1]):
            kind = EntryKind.REVERSAL if amount < 0 else EntryKind.DONATION
            ledger_post(
                account=accounts[index],
                postings=[Posting(component, kind, amount)],
                booked_on=booked_on,
                reference="property",
                idempotency_key=f"property:{next(_keys)}",
            )
        settle_year(pooling_region=line.pooling_region, year=2024, chunk_size=2)
        if year_end_2025:
            settle_year(pooling_region=line.pooling_region, year=2025, chunk_size=1)
        else:
            settle_closing(account=accounts[0], closing_date=dt.date(2025, 9, 30))
        assert balance_mismatches() == []
        transaction.set_rollback(True)


# --- PostgreSQL: several connections --------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_workers_post_each_account_once_and_rerun_posts_nothing():
    line = region_line()
    accounts = [open_account(line) for _ in range(9)]
    for account in accounts:
        post(account, "1200.00", dt.date(2024, 3, 1))
    set_rate(line, 2025)
    first = settle_year(pooling_region=line.pooling_region, year=2025, chunk_size=2, workers=2)
    second = settle_year(pooling_region=line.pooling_region, year=2025, chunk_size=2, workers=2)
    assert (first.entries_posted, second.entries_posted) == (9, 0)
    assert first.amount_posted == D("162.00")  # 9 × 1200 × 1.5%
    assert balance_mismatches() == []
    assert connection.vendor == "postgresql"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_run_killed_half_way_finishes_on_rerun():
    line = region_line()
    accounts = [open_account(line) for _ in range(8)]
    for account in accounts:
        post(account, "1000.00", dt.date(2024, 3, 1))
    set_rate(line, 2025)

    def kill(done, total):
        raise Killed

    with pytest.raises(Killed):
        settle_year(pooling_region=line.pooling_region, year=2025, chunk_size=2, workers=2, progress=kill)
    posted = LedgerEntry.objects.filter(kind=EntryKind.INTEREST).count()
    # what had committed when the stop came: whole chunks only (the other connection finishes its chunk)
    assert 2 <= posted <= 8 and posted % 2 == 0
    assert balance_mismatches() == []
    settle_year(pooling_region=line.pooling_region, year=2025, chunk_size=2, workers=2)
    assert LedgerEntry.objects.filter(kind=EntryKind.INTEREST).count() == 8
    assert balance_mismatches() == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_workers_settle_accounts_with_a_closing_from_its_month():
    line = region_line()
    started = [pensioner(line) for _ in range(3)]
    plain = [pensioner(line) for _ in range(3)]
    set_rate(line, 2025)
    for account in started:
        settle_closing(account=account, closing_date=dt.date(2025, 4, 1))  # 4.50, as above
    first = settle_year(pooling_region=line.pooling_region, year=2025, chunk_size=2, workers=2)
    second = settle_year(pooling_region=line.pooling_region, year=2025, chunk_size=2, workers=2)
    assert (first.entries_posted, second.entries_posted) == (6, 0)
    # from April: 1504.50 × 9 × 1.5% / 12 = 16.925625 → 16.93; the whole year: (1200 × 12 + 300 × 9) → 21.38
    assert {interest_of(a, "2025") for a in started} == {D("16.93")}
    assert {interest_of(a, "2025") for a in plain} == {D("21.38")}
    assert balance_mismatches() == []


# --- check_balances --------------------------------------------------------------------------------------


def test_check_balances_passes_when_cached_equals_entries(line):
    account = open_account(line)
    post(account, "300.10", dt.date(2025, 3, 5))
    post(account, "0.20", dt.date(2025, 3, 6), component=Component.GOVERNMENT_SUBSIDY, kind=EntryKind.SUBSIDY)
    open_account(line)  # no entries at all
    out = io.StringIO()
    call_command("check_balances", stdout=out)
    assert "已核对 2 个账户：0 个账户共 0 处" in out.getvalue()


def test_check_balances_lists_each_mismatch_and_fails(line):
    account = open_account(line)
    post(account, "300.00", dt.date(2025, 3, 5))
    post(account, "40.00", dt.date(2025, 3, 5), component=Component.GOVERNMENT_SUBSIDY, kind=EntryKind.SUBSIDY)
    # the accounts table is not append-only: a careless raw update breaks the cache
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE funds_individualaccount SET balance_personal = balance_personal + 1 WHERE id = %s", [account.pk]
        )
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("check_balances", stdout=out)
    text = out.getvalue()
    assert f"账户 {account.pk}  personal  缓存余额 301.00  明细合计 300.00" in text
    assert f"账户 {account.pk}  government_subsidy" not in text
    assert "已核对 1 个账户：1 个账户共 1 处" in text
    assert balance_mismatches() == [Mismatch(account.pk, "personal", D("301.00"), D("300.00"))]


def test_check_balances_sees_an_entry_missing_from_the_cache(line):
    account = open_account(line)
    post(account, "300.00", dt.date(2025, 3, 5))
    LedgerEntry.objects.create(
        account=account,
        component=Component.DONATION,
        kind=EntryKind.DONATION,
        amount=D("5.00"),
        booked_on=dt.date(2025, 4, 1),
    )  # written past ledger_post: the balances did not move
    assert {(m.component, m.cached, m.summed) for m in balance_mismatches()} == {
        ("donation", D("0.00"), D("5.00")),
        ("total", D("300.00"), D("305.00")),
    }


# --- bench interest: refusals (the run itself is CI's smoke test on a database of its own) ---------------


def test_bench_refuses_sqlite_or_a_database_with_other_data(line):
    make_person(line.village)  # a real person: the bench would TRUNCATE them
    expected = "只在 PostgreSQL 上运行" if connection.vendor == "sqlite" else "基准测试以外的数据"
    with pytest.raises(CommandError, match=expected):
        call_command("bench", "interest", "--accounts", "10", stdout=io.StringIO())
    assert LedgerEntry.objects.count() == 0
