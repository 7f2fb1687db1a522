"""A merger freezes one town of a pooling region: the month's payroll is prepared and confirmed for the other
town, the frozen town's pensioners are left untouched and counted, and after the lift they are paid again."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from agencies.errors import Conflict
from agencies.freeze import freeze_lift, freeze_set
from agencies.models import Role
from agencies.tests.factories import region_line
from benefits import payroll
from benefits.bank import payout_batch_issue
from benefits.models import LineKind, PayrollStatus
from benefits.tests.factories import make_award, make_contributor, pension_line
from funds.models import EntryKind, IndividualAccount, LedgerEntry
from funds.tests.bank_factories import make_partner

MERGER = "merger:9"
NOTICE = "1 人所在乡镇因并轨封存，本次未纳入。"


@pytest.fixture
def pensioners():
    line = pension_line("320412")
    other = region_line(county="320412", township="102")
    # 13900 yuan in each account; the pension start (May 2025) settles January to April first:
    # 13900 + 13900 × 1.5% × 4/12 = 13969.50, so the account pension is 13969.50 / 139 = 100.50 a month
    open_person = make_contributor(line, name="甲", birth_date=dt.date(1960, 3, 10), last_year=2024)
    frozen_person = make_contributor(other, name="乙", birth_date=dt.date(1960, 3, 10), last_year=2024)
    awards = [make_award(place, person, claimed_on=dt.date(2025, 4, 1)) for place, person in
              ((line, open_person), (other, frozen_person))]  # fmt: skip
    month = max(award.start_month for award in awards)
    return line, open_person, frozen_person, month


def pension_debits(person) -> list[Decimal]:
    """The month's pension debits of the account, summed over its components (taken in proportion)."""
    amounts = LedgerEntry.objects.filter(account__person=person, kind=EntryKind.PENSION).values_list(
        "amount", flat=True
    )
    return [sum(amounts, Decimal(0))] if amounts else []


@pytest.mark.django_db
def test_payroll_runs_for_the_open_town_and_leaves_the_frozen_town_out(pensioners):
    line, open_person, frozen_person, month = pensioners
    officer = line.staff(Role.COUNTY_FUND_OFFICER)
    freeze_set(prefixes=["320412102"], label="并轨测试", reference=MERGER)

    draft = payroll.payroll_prepare(actor=officer, pooling_region=line.pooling_region, month=month)

    assert list(draft.lines.values_list("person_id", "kind")) == [(open_person.pk, LineKind.PENSION)]
    assert draft.lines_count == 1
    assert draft.frozen_notice == NOTICE

    run = payroll.payroll_confirm(actor=officer, run=draft)

    assert run.status == PayrollStatus.CONFIRMED
    assert (run.lines_count, run.account_paid_total) == (1, Decimal("100.50"))
    assert run.frozen_left_out == 1
    assert run.frozen_notice == NOTICE
    assert pension_debits(open_person) == [Decimal("-100.50")]
    assert pension_debits(frozen_person) == []
    assert IndividualAccount.objects.get(person=frozen_person).balance == Decimal("13969.50")

    # after the lift the next month's payroll pays both towns again
    freeze_lift(reference=MERGER)
    next_month = (month + dt.timedelta(days=31)).replace(day=1)
    later = payroll.payroll_prepare(actor=officer, pooling_region=line.pooling_region, month=next_month)
    assert sorted(later.lines.values_list("person_id", flat=True)) == sorted([open_person.pk, frozen_person.pk])
    assert later.frozen_left_out == 0
    payroll.payroll_confirm(actor=officer, run=later)
    assert pension_debits(frozen_person) == [Decimal("-100.50")]


@pytest.mark.django_db
def test_a_draft_made_before_the_freeze_confirms_without_the_frozen_town(pensioners):
    line, open_person, frozen_person, month = pensioners
    officer = line.staff(Role.COUNTY_FUND_OFFICER)
    draft = payroll.payroll_prepare(actor=officer, pooling_region=line.pooling_region, month=month)
    assert draft.lines_count == 2
    freeze_set(prefixes=["320412102"], label="并轨测试", reference=MERGER)

    # the frozen town's draft line cannot be removed while frozen: it stays, and is left out of the month
    again = payroll.payroll_prepare(actor=officer, pooling_region=line.pooling_region, month=month)
    assert again.lines_count == 1
    run = payroll.payroll_confirm(actor=officer, run=again)

    assert (run.lines_count, run.account_paid_total, run.frozen_left_out) == (1, Decimal("100.50"), 1)
    assert pension_debits(open_person) == [Decimal("-100.50")]
    assert pension_debits(frozen_person) == []
    assert not run.lines.get(person=frozen_person).debited

    # and after the lift the month's payout batch pays only what the month debited
    freeze_lift(reference=MERGER)
    partner = make_partner(line, code="ICBC", name="工商银行")
    run.lines.update(bank_code="ICBC", bank_account="6222020200112233445")  # both recipients bank there
    batch = payout_batch_issue(actor=officer, run=run, partner=partner)
    assert list(batch.lines.values_list("person_id", "amount")) == [
        (open_person.pk, run.lines.get(person=open_person).total)
    ]


@pytest.mark.django_db
def test_payroll_of_a_wholly_frozen_region_is_refused_with_the_freeze_message(pensioners):
    line, _, _, month = pensioners
    freeze_set(prefixes=["320412"], label="并轨测试", reference=MERGER)
    with pytest.raises(Conflict) as refused:
        payroll.payroll_prepare(
            actor=line.staff(Role.COUNTY_FUND_OFFICER), pooling_region=line.pooling_region, month=month
        )
    assert refused.value.code == "frozen"
    assert "并轨测试" in refused.value.message
