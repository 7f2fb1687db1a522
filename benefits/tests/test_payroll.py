"""The monthly payroll: totals equal the lines and the ledger debits, an exhausted account, locking."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db.models import Sum

from agencies.errors import Conflict
from agencies.models import Role
from agencies.tests.factories import region_line
from benefits import payroll
from benefits.models import LineKind, PayrollStatus
from benefits.tests.factories import make_award, make_contributor, make_parameters
from contributions.models import InterestRate
from funds.models import EntryKind, IndividualAccount, LedgerEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def line():
    line = region_line()
    line.pooling_region.scheme_started_on = dt.date(2011, 7, 1)
    line.pooling_region.save()
    InterestRate.objects.create(pooling_region=line.pooling_region, year=2025, rate=Decimal("0.01500"))
    make_parameters(line, valid_from=dt.date(2024, 1, 1), per_year_beyond_minimum="2")
    return line


def test_payroll_totals_equal_lines_and_ledger(line):
    person = make_contributor(line, birth_date=dt.date(1965, 3, 10), years=17)
    make_award(line, person, claimed_on=dt.date(2025, 3, 5), approved_on=dt.date(2025, 3, 20))
    officer = line.staff(Role.COUNTY_FUND_OFFICER)
    run = payroll.payroll_prepare(actor=officer, pooling_region=line.pooling_region, month=dt.date(2025, 4, 1))
    assert run.lines_count == 1
    assert run.basic_total == Decimal("227.00")
    assert run.account_total == Decimal("100.38")
    run = payroll.payroll_confirm(actor=officer, run=run)
    assert run.status == PayrollStatus.CONFIRMED
    [line_row] = run.lines.filter(kind=LineKind.PENSION)
    assert line_row.account_paid == Decimal("100.38") and line_row.fund_paid == Decimal("0.00")
    debits = LedgerEntry.objects.filter(kind=EntryKind.PENSION, account__person=person)
    # 100.38 split over personal 13,900.00 and interest 52.13 by largest remainder: 100.00 and 0.38
    assert {e.component: e.amount for e in debits} == {"personal": Decimal("-100.00"), "interest": Decimal("-0.38")}
    assert -debits.aggregate(s=Sum("amount"))["s"] == run.account_paid_total
    assert run.total == run.lines.aggregate(s=Sum("total"))["s"] == Decimal("327.38")
    assert IndividualAccount.objects.get(person=person).balance == Decimal("13851.75")
    with pytest.raises(Conflict):
        payroll.payroll_prepare(actor=officer, pooling_region=line.pooling_region, month=dt.date(2025, 4, 1))


def test_the_confirmation_task_delivered_twice_confirms_once(line):
    from benefits import tasks

    person = make_contributor(line, birth_date=dt.date(1965, 3, 10), years=17)
    make_award(line, person, claimed_on=dt.date(2025, 3, 5), approved_on=dt.date(2025, 3, 20))
    officer = line.staff(Role.COUNTY_FUND_OFFICER)
    run = payroll.payroll_prepare(actor=officer, pooling_region=line.pooling_region, month=dt.date(2025, 4, 1))
    first = tasks.payroll_confirm(run.pk, officer.pk)
    second = tasks.payroll_confirm(run.pk, officer.pk)
    assert first == second == {"run": run.pk, "status": "confirmed", "lines": 1, "total": "327.38"}
    assert LedgerEntry.objects.filter(kind=EntryKind.PENSION).count() == 2  # personal and interest, once
