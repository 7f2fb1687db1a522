"""The fund accounts (收入户/支出户/财政专户): money in from the banks, the month-end sweep, government money,
the funding transfer of a payroll run and its payout, with hand-computed figures."""

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import connection

from agencies.errors import Conflict, DomainError, NotPermitted
from agencies.models import Role
from agencies.tests.factories import region_line
from benefits import funding
from benefits import services as benefit_services
from benefits.bank import payout_batch_issue
from benefits.models import Overpayment, StopReason
from benefits.tests.factories import make_award, make_contributor, make_parameters, run_payroll
from benefits.tests.factories import pension_line as make_pension_line
from contributions.bank import counter_payment_post
from contributions.models import InterestRate
from contributions.tests.factories import make_policy
from enrollment.tests.factories import make_person
from funds import fund_accounts
from funds.batches import receipt_settle, result_receive
from funds.fund_accounts import (
    finance_receipt,
    fund_balance,
    fund_balances,
    funding_transfer,
    income_sweep,
    movement_post,
)
from funds.models import (
    BatchStatus,
    Component,
    EntryKind,
    Fund,
    FundAccount,
    FundAccountKind,
    FundMovement,
    IndividualAccount,
    MovementKind,
)
from funds.services import Posting, ledger_post
from funds.tests.bank_factories import issue_deduct, make_partner, make_payers, result_file
from portal.nightly import run_nightly, swept_month

pytestmark = pytest.mark.django_db

D = Decimal
IA, BP = Fund.INDIVIDUAL_ACCOUNT, Fund.BASIC_PENSION
INCOME, EXPENDITURE, FISCAL = FundAccountKind.INCOME, FundAccountKind.EXPENDITURE, FundAccountKind.FISCAL
MARCH = dt.date(2026, 3, 1)


@pytest.fixture
def line():
    home = region_line()
    home.pooling_region.scheme_started_on = dt.date(2009, 7, 1)
    home.pooling_region.save()
    make_policy(home)
    return home


@pytest.fixture
def officer(line):
    return line.staff(Role.COUNTY_FUND_OFFICER)


def balance(line, kind, fund=None, on=None) -> Decimal:
    rows = fund_balances(pooling_region=line.pooling_region, on=on).of(kind)
    return rows.total if fund is None else {IA: rows.individual_account, BP: rows.basic_pension}[fund]


def book(line, kind, fund, amount, on, reference, key=None, movement=MovementKind.DEDUCTION):
    return movement_post(
        pooling_region=line.pooling_region,
        account_kind=kind,
        fund=fund,
        kind=movement,
        amount=D(amount),
        booked_on=on,
        reference=reference,
        idempotency_key=key or f"test:{reference}:{kind}:{fund}",
    )


def march_income(line, django_capture_on_commit_callbacks):
    """Deductions of 300.00 + 1000.00 (the 500.00 failed) on 2026-03-05, a counter payment of 500.00 on 03-20."""
    partner = make_partner(line)
    persons = make_payers(line, partner, [300, 500, 1000])
    batch = issue_deduct(line, partner)
    seq_of = {p.pk: seq for seq, p in enumerate(sorted(persons, key=lambda p: (p.region_code, p.pk)), start=1)}
    with django_capture_on_commit_callbacks(execute=True):
        result_receive(
            partner=partner, batch_no=batch.batch_no, data=result_file(batch, {seq_of[persons[1].pk]: "1001"})
        )
    batch.refresh_from_db()
    assert batch.status == BatchStatus.SETTLED
    payer = make_person(line.village, name="柜面缴费人")
    counter_payment_post(
        partner=partner,
        insurance_no=payer.insurance_number,
        year=2026,
        amount=D("500.00"),
        paid_on=dt.date(2026, 3, 20),
        bank_txn_id="CT20260320001",
    )
    return partner, batch


# --- the month-end sweep ------------------------------------------------------------------------------------------


def test_the_month_end_sweep_moves_income_to_fiscal_and_leaves_income_empty(
    line, officer, django_capture_on_commit_callbacks
):
    # given 1300.00 of deductions on 03-05 and 500.00 at the counter on 03-20, all individual-account money
    _, batch = march_income(line, django_capture_on_commit_callbacks)
    assert balance(line, INCOME, IA, on=dt.date(2026, 3, 5)) == D("1300.00")
    assert balance(line, INCOME, IA, on=dt.date(2026, 3, 20)) == D("1800.00")
    assert list(
        FundMovement.objects.filter(account__kind=INCOME).order_by("booked_on").values_list("kind", "reference")
    ) == [(MovementKind.DEDUCTION, batch.batch_no), (MovementKind.COUNTER, "CT20260320001")]

    # when the officer sweeps March
    sweep = income_sweep(pooling_region=line.pooling_region, month=dt.date(2026, 3, 17), actor=officer)

    # then 1800.00 moved on 03-31 under GJ<region><YYYYMM>: income 0.00, fiscal 1800.00
    reference = f"GJ{line.pooling_region.code}202603"
    assert (sweep.reference, sweep.booked_on, sweep.amounts, sweep.total) == (
        reference,
        dt.date(2026, 3, 31),
        {IA: D("1800.00")},
        D("1800.00"),
    )
    assert sorted((m.account.kind, m.kind, m.amount) for m in sweep.movements) == [
        (FISCAL, MovementKind.SWEEP_IN, D("1800.00")),
        (INCOME, MovementKind.SWEEP_OUT, D("-1800.00")),
    ]
    assert {m.reference for m in sweep.movements} == {reference}
    assert all(m.booked_on == dt.date(2026, 3, 31) and m.created_by == officer for m in sweep.movements)
    assert balance(line, INCOME, on=dt.date(2026, 3, 31)) == D("0.00")
    assert balance(line, FISCAL, IA, on=dt.date(2026, 3, 31)) == D("1800.00")
    assert balance(line, FISCAL, BP) == D("0.00")
    # the cached balances moved with the movements
    cached = dict(FundAccount.objects.filter(pooling_region=line.pooling_region).values_list("kind", "balance"))
    assert cached == {INCOME: D("0.00"), EXPENDITURE: D("0.00"), FISCAL: D("1800.00")}

    # and a second run moves nothing
    count = FundMovement.objects.count()
    again = income_sweep(pooling_region=line.pooling_region, month=MARCH, actor=officer)
    assert (again.reference, again.amounts, again.movements) == (None, {}, [])
    assert FundMovement.objects.count() == count


def test_money_booked_into_a_swept_month_is_swept_again_under_its_own_number(line, officer):
    # given March swept with 300.00 individual-account and 40.00 basic-pension money in income
    book(line, INCOME, IA, "300.00", dt.date(2026, 3, 10), "R1")
    book(line, INCOME, BP, "40.00", dt.date(2026, 3, 10), "R1")
    first = income_sweep(pooling_region=line.pooling_region, month=MARCH)
    assert first.amounts == {IA: D("300.00"), BP: D("40.00")} and first.total == D("340.00")
    assert len(first.movements) == 4
    # when a late settlement books 25.50 on 03-28 and money of April arrives
    book(line, INCOME, IA, "25.50", dt.date(2026, 3, 28), "LATE")
    book(line, INCOME, IA, "99.00", dt.date(2026, 4, 2), "APRIL")
    second = income_sweep(pooling_region=line.pooling_region, month=MARCH)
    # then only March's 25.50 moves, under -2; April's money stays for April's sweep
    assert (second.reference, second.amounts) == (f"GJ{line.pooling_region.code}202603-2", {IA: D("25.50")})
    assert balance(line, INCOME, on=dt.date(2026, 3, 31)) == D("0.00")
    assert balance(line, INCOME) == D("99.00")
    assert (balance(line, FISCAL, IA), balance(line, FISCAL, BP)) == (D("325.50"), D("40.00"))
    assert income_sweep(pooling_region=line.pooling_region, month=MARCH).reference is None


def test_a_month_with_nothing_in_income_does_nothing(line, officer):
    assert income_sweep(pooling_region=line.pooling_region, month=MARCH, actor=officer).movements == []
    assert not FundAccount.objects.exists()  # nothing set up for nothing
    book(line, INCOME, IA, "10.00", dt.date(2026, 4, 1), "APRIL")
    sweep = income_sweep(pooling_region=line.pooling_region, month=MARCH, actor=officer)
    assert (sweep.reference, sweep.total) == (None, D("0.00"))
    assert FundMovement.objects.count() == 1


def test_the_sweep_is_the_fund_officers_of_the_whole_region_after_month_end(line, officer):
    book(line, INCOME, IA, "10.00", dt.date(2026, 3, 1), "R")
    with pytest.raises(NotPermitted):
        income_sweep(pooling_region=line.pooling_region, month=MARCH, actor=line.staff(Role.COUNTY_CLERK))
    other = region_line(county="320413")
    with pytest.raises(NotPermitted, match="不全在您的管辖范围内"):
        income_sweep(pooling_region=line.pooling_region, month=MARCH, actor=other.staff(Role.COUNTY_FUND_OFFICER))
    next_month = fund_accounts.month_end(fund_accounts.timezone.localdate()) + dt.timedelta(days=1)
    with pytest.raises(DomainError, match="尚未到月末") as refused:
        income_sweep(pooling_region=line.pooling_region, month=next_month, actor=officer)
    assert refused.value.code == "month_not_ended"
    assert FundMovement.objects.count() == 1


def test_a_negative_income_balance_is_not_swept(line, officer):
    book(line, INCOME, IA, "-5.00", dt.date(2026, 3, 3), "REFUND", movement=MovementKind.TRANSFER_OUT)
    with pytest.raises(DomainError, match=r"个人账户基金-5\.00元"):
        income_sweep(pooling_region=line.pooling_region, month=MARCH, actor=officer)


def test_the_nightly_job_sweeps_the_month_ended_by_its_business_day(line):
    book(line, INCOME, IA, "300.00", dt.date(2026, 3, 10), "R1")
    assert swept_month(dt.date(2026, 3, 30)) == dt.date(2026, 2, 1)
    assert swept_month(dt.date(2026, 3, 31)) == MARCH
    assert swept_month(dt.date(2026, 4, 15)) == MARCH
    # the night closing 03-30 sweeps February: nothing was there
    assert run_nightly(on_date=dt.date(2026, 3, 30)).sweeps == []
    # the night closing 03-31 sweeps March
    report = run_nightly(on_date=dt.date(2026, 3, 31))
    assert report.ok
    [sweep] = report.sweeps
    assert (sweep.reference, sweep.total) == (f"GJ{line.pooling_region.code}202603", D("300.00"))
    assert report.as_dict()["sweeps"] == [
        {
            "pooling_region_id": line.pooling_region.pk,
            "pooling_region": line.pooling_region.name,
            "month": "2026-03",
            "reference": f"GJ{line.pooling_region.code}202603",
            "amounts": {IA: "300.00"},
            "total": "300.00",
        }
    ]
    # and the nights after find nothing more to move
    assert run_nightly(on_date=dt.date(2026, 3, 31)).sweeps == []
    assert run_nightly(on_date=dt.date(2026, 4, 15)).sweeps == []
    assert (balance(line, INCOME), balance(line, FISCAL)) == (D("0.00"), D("300.00"))


def test_one_regions_failed_sweep_is_reported_and_the_others_still_run(line):
    other = region_line(county="320413")
    book(line, INCOME, IA, "-1.00", dt.date(2026, 3, 3), "BAD", movement=MovementKind.TRANSFER_OUT)
    movement_post(
        pooling_region=other.pooling_region,
        account_kind=INCOME,
        fund=IA,
        kind=MovementKind.DEDUCTION,
        amount=D("70.00"),
        booked_on=dt.date(2026, 3, 3),
        reference="OK",
        idempotency_key="other:ok",
    )
    report = run_nightly(on_date=dt.date(2026, 3, 31))
    assert [s.pooling_region for s in report.sweeps] == [other.pooling_region]
    assert len(report.failures) == 1 and report.failures[0].startswith(f"归集 {line.pooling_region.name} 2026年03月")


# --- government money and the funding transfer ---------------------------------------------------------------------


def test_a_finance_receipt_arrives_in_fiscal_once(line, officer):
    receipt = finance_receipt(
        actor=officer,
        pooling_region=line.pooling_region,
        fund=BP,
        amount=D("50000.00"),
        booked_on=dt.date(2026, 4, 1),
        reference="CZ2026-001",
    )
    assert (receipt.account.kind, receipt.kind, receipt.counterpart, receipt.amount) == (
        FISCAL,
        MovementKind.TRANSFER_IN,
        "财政",
        D("50000.00"),
    )
    again = finance_receipt(
        actor=officer,
        pooling_region=line.pooling_region,
        fund=BP,
        amount="50,000.00",
        booked_on=dt.date(2026, 4, 1),
        reference="CZ2026-001",
    )
    assert again.pk == receipt.pk
    assert (balance(line, FISCAL, BP), balance(line, FISCAL, IA)) == (D("50000.00"), D("0.00"))
    with pytest.raises(Conflict, match="50000.00"):
        finance_receipt(
            actor=officer,
            pooling_region=line.pooling_region,
            fund=BP,
            amount=D("5000.00"),
            booked_on=dt.date(2026, 4, 1),
            reference="CZ2026-001",
        )
    with pytest.raises(DomainError, match="晚于今天"):
        finance_receipt(
            actor=officer,
            pooling_region=line.pooling_region,
            fund=BP,
            amount=D("1.00"),
            booked_on=fund_accounts.timezone.localdate() + dt.timedelta(days=1),
            reference="CZ-FUTURE",
        )
    with pytest.raises(NotPermitted):
        finance_receipt(
            actor=line.staff(Role.COUNTY_CLERK),
            pooling_region=line.pooling_region,
            fund=BP,
            amount=D("1.00"),
            booked_on=dt.date(2026, 4, 1),
            reference="CZ-CLERK",
        )


def test_a_funding_transfer_is_refused_when_fiscal_is_short_as_of_its_day(line, officer):
    # given 1800.00 swept into fiscal on 03-31 and 50,000.00 of basic pension from finance on 04-01
    book(line, INCOME, IA, "1800.00", dt.date(2026, 3, 10), "R1")
    income_sweep(pooling_region=line.pooling_region, month=MARCH)
    finance_receipt(
        actor=officer,
        pooling_region=line.pooling_region,
        fund=BP,
        amount=D("50000.00"),
        booked_on=dt.date(2026, 4, 1),
        reference="CZ2026-001",
    )
    ask = {IA: D("1800.01"), BP: D("300.00")}
    # when 1800.01 of the individual-account fund is asked for: refused with the figures
    with pytest.raises(DomainError) as refused:
        funding_transfer(
            pooling_region=line.pooling_region,
            reference="YK-TEST-1",
            amounts_by_fund=ask,
            booked_on=dt.date(2026, 4, 12),
            actor=officer,
        )
    assert refused.value.code == "insufficient_funds"
    assert "个人账户基金现有1800.00元，需拨付1800.01元，差0.01元" in refused.value.message
    assert "基础养老金" not in refused.value.message
    # and basic pension on 03-31, before finance's money came, is short as of that day
    with pytest.raises(DomainError, match="基础养老金现有0.00元，需拨付300.00元，差300.00元"):
        funding_transfer(
            pooling_region=line.pooling_region,
            reference="YK-TEST-2",
            amounts_by_fund={BP: D("300.00")},
            booked_on=dt.date(2026, 3, 31),
            actor=officer,
        )
    assert not FundMovement.objects.filter(kind__in=[MovementKind.FUNDING_OUT, MovementKind.FUNDING_IN]).exists()
    # while 1800.00 and 300.00 on 04-12 go through
    moved = funding_transfer(
        pooling_region=line.pooling_region,
        reference="YK-TEST-1",
        amounts_by_fund={IA: D("1800.00"), BP: D("300.00")},
        booked_on=dt.date(2026, 4, 12),
        actor=officer,
    )
    assert [(m.account.kind, m.fund, m.kind, m.amount) for m in moved] == [
        (FISCAL, IA, MovementKind.FUNDING_OUT, D("-1800.00")),
        (EXPENDITURE, IA, MovementKind.FUNDING_IN, D("1800.00")),
        (FISCAL, BP, MovementKind.FUNDING_OUT, D("-300.00")),
        (EXPENDITURE, BP, MovementKind.FUNDING_IN, D("300.00")),
    ]
    assert (balance(line, FISCAL, IA), balance(line, FISCAL, BP)) == (D("0.00"), D("49700.00"))
    assert (balance(line, EXPENDITURE, IA), balance(line, EXPENDITURE, BP)) == (D("1800.00"), D("300.00"))
    # the same reference with other amounts is a conflict, not a second transfer
    with pytest.raises(Conflict, match="YK-TEST-1已拨付"):
        funding_transfer(
            pooling_region=line.pooling_region,
            reference="YK-TEST-1",
            amounts_by_fund={BP: D("300.00")},
            booked_on=dt.date(2026, 4, 12),
            actor=officer,
        )


def test_fund_balances_keep_the_two_funds_apart(line, officer):
    book(line, INCOME, IA, "1800.00", dt.date(2026, 3, 10), "R1")
    income_sweep(pooling_region=line.pooling_region, month=MARCH)
    finance_receipt(
        actor=officer,
        pooling_region=line.pooling_region,
        fund=BP,
        amount=D("50000.00"),
        booked_on=dt.date(2026, 4, 1),
        reference="CZ2026-001",
    )
    now = fund_balances(pooling_region=line.pooling_region)
    assert [(row.kind, row.individual_account, row.basic_pension, row.total) for row in now.accounts] == [
        (INCOME, D("0.00"), D("0.00"), D("0.00")),
        (EXPENDITURE, D("0.00"), D("0.00"), D("0.00")),
        (FISCAL, D("1800.00"), D("50000.00"), D("51800.00")),
    ]
    assert (now.individual_account, now.basic_pension, now.total) == (D("1800.00"), D("50000.00"), D("51800.00"))
    assert now.of(FISCAL).label == "财政专户"
    on_march_20 = fund_balances(pooling_region=line.pooling_region, on=dt.date(2026, 3, 20))
    assert (on_march_20.of(INCOME).total, on_march_20.of(FISCAL).total) == (D("1800.00"), D("0.00"))
    fiscal = FundAccount.objects.get(pooling_region=line.pooling_region, kind=FISCAL)
    assert fund_balance(fiscal, BP, dt.date(2026, 3, 31)) == D("0.00")


# --- a payroll run's funding request and its payout ------------------------------------------------------------------


@pytest.fixture
def pension_line():
    home = region_line()
    home.pooling_region.scheme_started_on = dt.date(2011, 7, 1)
    home.pooling_region.save()
    InterestRate.objects.create(pooling_region=home.pooling_region, year=2025, rate=D("0.01500"))
    make_parameters(home, valid_from=dt.date(2024, 1, 1), per_year_beyond_minimum="2")
    return home


def april_2025_run(line, partner):
    """One pensioner from April 2025: basic pension 123 + 100 + 2 × 2 = 227.00 and an account pension of
    100.38 (13,952.13 ÷ 139), taken from the account: 327.38 in all (as in benefits' payroll tests)."""
    person = make_contributor(
        line, birth_date=dt.date(1965, 3, 10), years=17, bank_code=partner.code, bank_account="6228480000000000017"
    )
    make_award(line, person, claimed_on=dt.date(2025, 3, 5), approved_on=dt.date(2025, 3, 20))
    run = run_payroll(line, dt.date(2025, 4, 1))
    assert (run.basic_total, run.account_paid_total, run.total) == (D("227.00"), D("100.38"), D("327.38"))
    return run


def test_a_payroll_runs_funding_request_moves_its_money_and_the_payout_leaves_expenditure(
    pension_line, django_capture_on_commit_callbacks
):
    line = pension_line
    officer = line.staff(Role.COUNTY_FUND_OFFICER)
    partner = make_partner(line)
    run = april_2025_run(line, partner)
    # given 1000.00 of contributions swept in March 2025 and 50,000.00 of basic pension from finance
    book(line, INCOME, IA, "1000.00", dt.date(2025, 3, 10), "D2025")
    income_sweep(pooling_region=line.pooling_region, month=dt.date(2025, 3, 1))
    finance_receipt(
        actor=officer,
        pooling_region=line.pooling_region,
        fund=BP,
        amount=D("50000.00"),
        booked_on=dt.date(2025, 4, 1),
        reference="CZ2025-04",
    )

    # when finance's approval of the funding request is recorded on the 12th
    moved = funding.funding_request_approve(actor=officer, run=run, booked_on=dt.date(2025, 4, 12))

    # then 100.38 of the individual-account fund and 227.00 of basic pension move, under YK<region>202504
    reference = f"YK{line.pooling_region.code}202504"
    assert run.funding_request_number == reference
    assert [(m.account.kind, m.fund, m.amount, m.reference) for m in moved] == [
        (FISCAL, IA, D("-100.38"), reference),
        (EXPENDITURE, IA, D("100.38"), reference),
        (FISCAL, BP, D("-227.00"), reference),
        (EXPENDITURE, BP, D("227.00"), reference),
    ]
    assert (balance(line, FISCAL, IA), balance(line, FISCAL, BP)) == (D("899.62"), D("49773.00"))
    assert (balance(line, EXPENDITURE, IA), balance(line, EXPENDITURE, BP)) == (D("100.38"), D("227.00"))
    # and a second approval returns the same movements
    again = funding.funding_request_approve(actor=officer, run=run)
    assert [m.pk for m in again] == [m.pk for m in moved]

    # when the month is paid by a PAYOUT batch and the bank answers all paid
    batch = payout_batch_issue(actor=officer, run=run, partner=partner)
    assert batch.total_amount == D("327.38")
    with django_capture_on_commit_callbacks(execute=True):
        received = result_receive(
            partner=partner, batch_no=batch.batch_no, data=result_file(batch, processed_on=batch.issued_on)
        )
    receipt_settle(receipt_id=received.receipt.pk)

    # then the expenditure account is empty again, each fund apart
    assert (balance(line, EXPENDITURE, IA), balance(line, EXPENDITURE, BP)) == (D("0.00"), D("0.00"))
    paid = FundMovement.objects.filter(kind=MovementKind.PAYOUT).order_by("fund")
    assert [(m.fund, m.amount, m.reference) for m in paid] == [
        (BP, D("-227.00"), batch.batch_no),
        (IA, D("-100.38"), batch.batch_no),
    ]


def test_a_funding_request_is_refused_when_fiscal_is_short_and_books_nothing(pension_line):
    line = pension_line
    officer = line.staff(Role.COUNTY_FUND_OFFICER)
    run = april_2025_run(line, make_partner(line))
    finance_receipt(
        actor=officer,
        pooling_region=line.pooling_region,
        fund=BP,
        amount=D("200.00"),
        booked_on=dt.date(2025, 4, 1),
        reference="CZ2025-04",
    )
    with pytest.raises(DomainError) as refused:
        funding.funding_request_approve(actor=officer, run=run, booked_on=dt.date(2025, 4, 12))
    assert "个人账户基金现有0.00元，需拨付100.38元，差100.38元" in refused.value.message
    assert "基础养老金现有200.00元，需拨付227.00元，差27.00元" in refused.value.message
    assert FundMovement.objects.count() == 1


def test_only_a_confirmed_runs_funding_request_is_approved_by_the_fund_officer(pension_line):
    line = pension_line
    officer = line.staff(Role.COUNTY_FUND_OFFICER)
    person = make_contributor(line, birth_date=dt.date(1965, 3, 10), years=17)
    make_award(line, person, claimed_on=dt.date(2025, 3, 5), approved_on=dt.date(2025, 3, 20))
    draft = run_payroll(line, dt.date(2025, 4, 1), confirm=False)
    with pytest.raises(Conflict, match="尚未确认"):
        funding.funding_request_approve(actor=officer, run=draft)
    with pytest.raises(NotPermitted):
        funding.funding_request_approve(actor=line.staff(Role.COUNTY_APPROVER), run=draft)
    other = region_line(county="320413")
    with pytest.raises(NotPermitted):
        funding.funding_request_approve(actor=other.staff(Role.COUNTY_FUND_OFFICER), run=draft)
    assert funding.funding_reference(draft) == f"YK{line.pooling_region.code}202504"


# --- at the same moment ---------------------------------------------------------------------------------------------


def run_together(*targets) -> list:
    """Start every target at once, each on its own connection; the results or refusals in order."""
    barrier = threading.Barrier(len(targets))
    results: list = [None] * len(targets)

    def runner(index, target):
        try:
            barrier.wait(10)
            results[index] = target()
        except DomainError as refusal:
            results[index] = refusal
        finally:
            connection.close()

    threads = [threading.Thread(target=runner, args=(i, t)) for i, t in enumerate(targets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_sweeps_and_funding_transfers_at_the_same_moment_move_money_once():
    line = region_line()
    officer = line.staff(Role.COUNTY_FUND_OFFICER)
    book(line, INCOME, IA, "1800.00", dt.date(2026, 3, 10), "R1")

    # three sweeps of March at once: one moves 1800.00, the others find income empty
    sweeps = run_together(*[lambda: income_sweep(pooling_region=line.pooling_region, month=MARCH)] * 3)
    assert sorted(s.total for s in sweeps) == [D("0.00"), D("0.00"), D("1800.00")]
    assert (balance(line, INCOME), balance(line, FISCAL)) == (D("0.00"), D("1800.00"))

    def transfer(reference, amount):
        return lambda: funding_transfer(
            pooling_region=line.pooling_region,
            reference=reference,
            amounts_by_fund={IA: D(amount)},
            booked_on=dt.date(2026, 4, 12),
            actor=officer,
        )

    # the same transfer twice at once books once; two others that fiscal cannot both pay: one is refused
    same = run_together(transfer("YK-A", "1000.00"), transfer("YK-A", "1000.00"))
    assert [m.pk for m in same[0]] == [m.pk for m in same[1]]
    both = run_together(transfer("YK-B", "600.00"), transfer("YK-C", "600.00"))
    refused = [r for r in both if isinstance(r, DomainError)]
    assert len(refused) == 1 and "现有200.00元，需拨付600.00元" in refused[0].message
    assert (balance(line, FISCAL), balance(line, EXPENDITURE)) == (D("200.00"), D("1600.00"))
    cached = dict(FundAccount.objects.values_list("kind", "balance"))
    assert cached == {INCOME: D("0.00"), EXPENDITURE: D("1600.00"), FISCAL: D("200.00")}


def test_the_funding_split_follows_the_account_parts_the_fund_pays_and_the_offsets():
    # given the recipient of benefits' payroll cases: 223.00 basic + 100.00 account pension from January 2026,
    # the account drawn down to 150.00, and 150.00 overpaid offset at 120.00 a month
    line = make_pension_line(rates={2026: "0.01500"})
    officer = line.staff(Role.COUNTY_FUND_OFFICER)
    person = make_contributor(line, birth_date=dt.date(1965, 12, 10))
    award = make_award(line, person, claimed_on=dt.date(2025, 12, 5), approved_on=dt.date(2025, 12, 20))
    account = IndividualAccount.objects.get(person=person)
    ledger_post(
        account=account,
        postings=[Posting(Component.PERSONAL, EntryKind.REVERSAL, D("-13750.00"))],
        booked_on=dt.date(2025, 12, 31),
        reference="test correction",
        idempotency_key=f"test-correction:{account.pk}",
    )
    clerk = line.staff(Role.COUNTY_CLERK)
    overpayment = Overpayment.objects.create(
        award=award,
        person=person,
        region_code=award.region_code,
        reason=StopReason.OTHER,
        first_month=dt.date(2025, 12, 1),
        last_month=dt.date(2025, 12, 1),
        amount=D("150.00"),
        created_by=clerk,
    )
    benefit_services.overpayment_offset_set(actor=clerk, overpayment=overpayment, per_month="120")
    january, february = run_payroll(line, dt.date(2026, 1, 1)), run_payroll(line, dt.date(2026, 2, 1))

    # then January asks 100.00 of the account fund and 223.00 − 120.00 = 103.00 of basic pension (203.00);
    # February 50.00 of the account fund, and 223.00 + 50.00 paid by the fund − 30.00 = 243.00 (293.00)
    assert funding.funding_amounts(january) == {IA: D("100.00"), BP: D("103.00")}
    assert january.total == D("203.00")
    assert funding.funding_amounts(february) == {IA: D("50.00"), BP: D("243.00")}
    assert february.total == D("293.00")

    # and February's transfer moves exactly that
    for fund, amount in ((IA, "60.00"), (BP, "300.00")):
        finance_receipt(
            actor=officer,
            pooling_region=line.pooling_region,
            fund=fund,
            amount=amount,
            booked_on=dt.date(2026, 2, 1),
            reference=f"CZ-{fund}",
        )
    moved = funding.funding_request_approve(actor=officer, run=february, booked_on=dt.date(2026, 2, 12))
    assert [(m.account.kind, m.fund, m.amount) for m in moved if m.account.kind == EXPENDITURE] == [
        (EXPENDITURE, IA, D("50.00")),
        (EXPENDITURE, BP, D("243.00")),
    ]
    assert (balance(line, FISCAL, IA), balance(line, FISCAL, BP)) == (D("10.00"), D("57.00"))
