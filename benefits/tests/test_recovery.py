"""Recovering an overpayment: repayment in instalments, offset against the account balance, offset against later
benefits; and the stop of someone found receiving an employees' pension.

The region: a 1.5% rate for 2026 only; basic pension 123 + 100 = 223. Born 10 December 1965, 15 years; the
account holds 12,510.00 personal money and 1,390.00 government subsidy (9 : 1) at the end of 2024; claimed in
December 2025 and approved on 20 December: the pension starts in January 2026 with no months of 2026 before it
(no interest at the start). Account pension 13,900 ÷ 139 = 100.00, debited 90.00 personal and 10.00 subsidy each
month (9 : 1, the proportions kept). 323.00 a month.
"""

import datetime as dt
from decimal import Decimal

import pytest

from agencies.errors import Conflict, DomainError, NotPermitted
from agencies.models import Role
from benefits import payroll, services
from benefits.models import (
    AwardStatus,
    LineKind,
    Overpayment,
    OverpaymentStatus,
    RecoveryMethod,
    RecoveryStep,
    StopReason,
)
from benefits.tests.factories import make_award, make_contributor, pension_line, run_payroll
from enrollment.models import DualEnrollmentFlag, EmployeeRegisterLoad, PersonStatus
from funds.models import Component, EntryKind, IndividualAccount, LedgerEntry

pytestmark = pytest.mark.django_db

D = Decimal


def month(m: int, year: int = 2026) -> dt.date:
    return dt.date(year, m, 1)


@pytest.fixture
def line():
    return pension_line(rates={2026: "0.01500"})


def _award(line, components, *, name="孙五", account_pension="100.00"):
    personal = components.pop(Component.PERSONAL)
    person = make_contributor(
        line, birth_date=dt.date(1965, 12, 10), balance=personal, components=components, name=name
    )
    award = make_award(line, person, claimed_on=dt.date(2025, 12, 5), approved_on=dt.date(2025, 12, 20))
    assert (award.start_month, award.account_pension) == (month(1), D(account_pension))
    return award


@pytest.fixture
def award(line):
    return _award(line, {Component.PERSONAL: D("12510.00"), Component.GOVERNMENT_SUBSIDY: D("1390.00")})


@pytest.fixture
def overpayment(line, award):
    """January–June paid; died on 15 May 2026 (recorded on 20 June): June's 323.00 overpaid."""
    for m in range(1, 7):
        run_payroll(line, month(m))
    services.death_record(
        actor=line.staff(Role.TOWNSHIP_CLERK),
        person=award.person,
        died_on=dt.date(2026, 5, 15),
        source="家属报告",
        today=dt.date(2026, 6, 20),
    )
    overpayment = Overpayment.objects.get(award=award)
    assert (overpayment.first_month, overpayment.amount) == (month(6), D("323.00"))
    return overpayment


def _recover(line, overpayment, amount, reference, *, method=RecoveryMethod.INSTALMENT, role=Role.COUNTY_CLERK):
    return services.overpayment_recover(
        actor=line.staff(role),
        overpayment=overpayment,
        method=method,
        amount=amount,
        on=dt.date(2026, 7, 15),
        reference=reference,
    )


def test_repayment_in_two_instalments(line, overpayment):
    # when the family repays 200.00
    first = _recover(line, overpayment, "200.00", "HD-001")
    overpayment.refresh_from_db()
    assert (overpayment.recovered, overpayment.outstanding, overpayment.status) == (
        D("200.00"),
        D("123.00"),
        OverpaymentStatus.OPEN,
    )
    # the same receipt entered again is the same step
    assert _recover(line, overpayment, "200.00", "HD-001").pk == first.pk
    with pytest.raises(Conflict):
        _recover(line, overpayment, "150.00", "HD-001")
    # more than the 323.00 − 200.00 = 123.00 outstanding is refused
    with pytest.raises(DomainError) as refused:
        _recover(line, overpayment, "123.01", "HD-002")
    assert refused.value.field == "amount"
    # the rest: recovered
    _recover(line, overpayment, "123.00", "HD-002", method=RecoveryMethod.REPAYMENT)
    overpayment.refresh_from_db()
    assert (overpayment.recovered, overpayment.status) == (D("323.00"), OverpaymentStatus.RECOVERED)
    assert [(s.method, s.amount, s.reference) for s in overpayment.steps.all()] == [
        (RecoveryMethod.INSTALMENT, D("200.00"), "HD-001"),
        (RecoveryMethod.REPAYMENT, D("123.00"), "HD-002"),
    ]
    with pytest.raises(Conflict):
        _recover(line, overpayment, "1.00", "HD-003")
    # money repaid by the family does not touch the account
    assert not LedgerEntry.objects.filter(kind=EntryKind.RECOVERY).exists()


def test_a_step_needs_a_reference_an_amount_and_a_method(line, overpayment):
    with pytest.raises(DomainError) as refused:
        _recover(line, overpayment, "10.00", "  ")
    assert refused.value.field == "reference"
    with pytest.raises(DomainError):
        _recover(line, overpayment, "0", "HD-1")
    with pytest.raises(DomainError):
        _recover(line, overpayment, "10.001", "HD-1")
    with pytest.raises(DomainError) as refused:
        _recover(line, overpayment, "10.00", "HD-1", method="cash")
    assert refused.value.field == "method"
    with pytest.raises(DomainError) as refused:
        _recover(line, overpayment, "10.00", "HD-1", method=RecoveryMethod.BENEFIT_OFFSET)
    assert refused.value.field == "method"
    assert not RecoveryStep.objects.exists()


def test_who_recovers(line, overpayment):
    for role in (Role.VILLAGE_AGENT, Role.TOWNSHIP_CLERK, Role.COUNTY_APPROVER, Role.CITY_SUPERVISOR):
        with pytest.raises(NotPermitted):
            _recover(line, overpayment, "10.00", "HD-1", role=role)
        with pytest.raises(NotPermitted):
            services.overpayment_offset_set(actor=line.staff(role), overpayment=overpayment, per_month="10")
    elsewhere = pension_line(county="320411", rates={})
    with pytest.raises(DomainError) as refused:
        _recover(elsewhere, overpayment, "10.00", "HD-1")
    assert refused.value.code == "out_of_scope"
    _recover(line, overpayment, "10.00", "HD-1", role=Role.COUNTY_FUND_OFFICER)
    assert RecoveryStep.objects.count() == 1


def test_offset_against_the_account_balance(line, overpayment):
    account = IndividualAccount.objects.get(person=overpayment.person)
    # six months of 90.00 + 10.00: personal 12,510 − 540 = 11,970.00, subsidy 1,390 − 60 = 1,330.00
    assert (account.balance_personal, account.balance_government_subsidy) == (D("11970.00"), D("1330.00"))
    # when the 323.00 is offset against the account
    step = _recover(line, overpayment, "323.00", "DK-1", method=RecoveryMethod.ACCOUNT_OFFSET)
    # then it leaves 9 : 1 as the balances stand (11,970 : 1,330): 290.70 personal and 32.30 subsidy
    entries = LedgerEntry.objects.filter(account=account, kind=EntryKind.RECOVERY)
    assert {e.component: e.amount for e in entries} == {
        Component.PERSONAL: D("-290.70"),
        Component.GOVERNMENT_SUBSIDY: D("-32.30"),
    }
    account.refresh_from_db()
    # 13,300.00 − 323.00 = 12,977.00
    assert account.balance == D("12977.00")
    assert (account.balance_personal, account.balance_government_subsidy) == (D("11679.30"), D("1297.70"))
    overpayment.refresh_from_db()
    assert overpayment.status == OverpaymentStatus.RECOVERED
    # a retry with the same reference neither records nor debits again
    assert _recover(line, overpayment, "323.00", "DK-1", method=RecoveryMethod.ACCOUNT_OFFSET).pk == step.pk
    assert entries.count() == 2
    account.refresh_from_db()
    assert account.balance == D("12977.00")


def test_an_offset_larger_than_the_balance_is_refused(line):
    # 139 ÷ 139 = 1.00 a month; an overpayment of 500.00 (entered by hand here) cannot come from 139.00
    award = _award(line, {Component.PERSONAL: D("139.00")}, name="少钱", account_pension="1.00")
    overpayment = Overpayment.objects.create(
        award=award,
        person=award.person,
        region_code=award.region_code,
        reason=StopReason.OTHER,
        first_month=month(1),
        last_month=month(2),
        amount=D("500.00"),
        created_by=line.staff(Role.COUNTY_CLERK),
    )
    with pytest.raises(DomainError) as refused:
        _recover(line, overpayment, "500.00", "DK-1", method=RecoveryMethod.ACCOUNT_OFFSET)
    assert "139.00" in refused.value.message
    assert not LedgerEntry.objects.filter(kind=EntryKind.RECOVERY).exists()


def test_offset_against_later_benefits(line, award):
    # given 150.00 overpaid on an award still in payment
    overpayment = Overpayment.objects.create(
        award=award,
        person=award.person,
        region_code=award.region_code,
        reason=StopReason.OTHER,
        first_month=month(1),
        last_month=month(1),
        amount=D("150.00"),
        created_by=line.staff(Role.COUNTY_CLERK),
    )
    # when the county clerk sets 100.00 a month to be deducted
    services.overpayment_offset_set(actor=line.staff(Role.COUNTY_CLERK), overpayment=overpayment, per_month="100")
    # then January's payroll has a recovery line of −100.00: 323.00 − 100.00 = 223.00 credited
    draft = run_payroll(line, month(1), confirm=False)
    draft = run_payroll(line, month(1), confirm=False)  # prepared again: still one recovery line
    [recovery] = draft.lines.filter(kind=LineKind.RECOVERY)
    assert recovery.total == D("-100.00")
    january = payroll.payroll_confirm(actor=line.staff(Role.COUNTY_FUND_OFFICER), run=draft)
    assert january.total == D("223.00")
    assert [row["amount"] for row in payroll.payout_lines(january)] == [D("223.00")]
    # the step is recorded at confirmation
    [step] = overpayment.steps.all()
    assert (step.method, step.amount, step.reference) == (
        RecoveryMethod.BENEFIT_OFFSET,
        D("100.00"),
        f"payroll:{january.pk}",
    )
    overpayment.refresh_from_db()
    assert (overpayment.recovered, overpayment.status) == (D("100.00"), OverpaymentStatus.OPEN)
    # February takes what is left, 150.00 − 100.00 = 50.00, and the overpayment is recovered
    february = run_payroll(line, month(2))
    assert february.lines.get(kind=LineKind.RECOVERY).total == D("-50.00")
    assert february.total == D("273.00")
    overpayment.refresh_from_db()
    assert (overpayment.recovered, overpayment.status, overpayment.offset_per_month) == (
        D("150.00"),
        OverpaymentStatus.RECOVERED,
        D("0.00"),
    )
    # March pays in full
    assert run_payroll(line, month(3)).total == D("323.00")
    # the account paid its 100.00 a month throughout: the offset comes from the basic pension's payment
    assert IndividualAccount.objects.get(person=award.person).balance == D("13600.00")


def test_no_offset_against_benefits_of_a_stopped_award(line, overpayment):
    with pytest.raises(Conflict):
        services.overpayment_offset_set(actor=line.staff(Role.COUNTY_CLERK), overpayment=overpayment, per_month="50")
    with pytest.raises(DomainError):
        services.overpayment_offset_set(actor=line.staff(Role.COUNTY_CLERK), overpayment=overpayment, per_month="-5")
    # setting 0 (stopping an offset) is always allowed
    services.overpayment_offset_set(actor=line.staff(Role.COUNTY_CLERK), overpayment=overpayment, per_month="0")


def test_referral_takes_an_open_overpayment_off_the_worklist(line, overpayment):
    clerk = line.staff(Role.COUNTY_CLERK)
    with pytest.raises(DomainError):
        services.overpayment_refer(actor=clerk, overpayment=overpayment, note=" ")
    services.overpayment_refer(actor=clerk, overpayment=overpayment, note="涉嫌冒领，移交公安")
    overpayment.refresh_from_db()
    assert overpayment.status == OverpaymentStatus.REFERRED
    with pytest.raises(Conflict):
        _recover(line, overpayment, "10.00", "HD-1")


def test_a_recovered_overpayment_cannot_be_referred(line, overpayment):
    _recover(line, overpayment, "323.00", "HD-1", method=RecoveryMethod.REPAYMENT)
    with pytest.raises(Conflict):
        services.overpayment_refer(actor=line.staff(Role.COUNTY_CLERK), overpayment=overpayment, note="误操作")
    overpayment.refresh_from_db()
    assert overpayment.status == OverpaymentStatus.RECOVERED


# --- someone also receiving an employees' pension ---------------------------------------------------------
#
# Here the account holds 11,120.00 personal, 1,390.00 government subsidy and 1,390.00 government-paid (代缴)
# money (8 : 1 : 1): each month's 100.00 leaves as 80.00 + 10.00 + 10.00.


@pytest.fixture
def dual(line):
    award = _award(
        line,
        {
            Component.PERSONAL: D("11120.00"),
            Component.GOVERNMENT_SUBSIDY: D("1390.00"),
            Component.GOVERNMENT_PAID: D("1390.00"),
        },
    )
    for m in range(1, 7):
        run_payroll(line, month(m))
    load = EmployeeRegisterLoad.objects.create(
        region_code=line.county.scope_prefix,
        file_name="职工名单.xlsx",
        file_sha256="0" * 64,
        loaded_by=line.staff(Role.COUNTY_CLERK),
    )
    DualEnrollmentFlag.objects.create(load=load, person=award.person, employer="某公司")
    return award


def test_other_pension_stop_by_hand(line, dual):
    # when, on 10 July 2026, the county finds an employees' pension paid from April 2026
    refund, overpayment = services.other_pension_stop(
        actor=line.staff(Role.COUNTY_APPROVER),
        person=dual.person,
        employee_pension_from=dt.date(2026, 4, 1),
        today=dt.date(2026, 7, 10),
    )
    # then the award stops from April
    dual.refresh_from_db()
    assert (dual.status, dual.paid_until, dual.stop_reason) == (AwardStatus.STOPPED, month(4), StopReason.OTHER_PENSION)
    # the basic pension paid for April–June is recovered, 3 × 223.00 = 669.00 (the account part was the person's)
    assert (overpayment.first_month, overpayment.last_month, overpayment.amount) == (month(4), month(6), D("669.00"))
    entries = LedgerEntry.objects.filter(account__person=dual.person)
    # interest to July: (13,900 × 6 − 100 × (6 + 5 + 4 + 3 + 2 + 1)) × 1.5% / 12 = 81,300 × 0.00125 = 101.625
    # → 101.63
    assert entries.get(kind=EntryKind.INTEREST).amount == D("101.63")
    # the government parts leave for the fund: 1,390 − 6 × 10 = 1,330.00 each
    assert {e.component: e.amount for e in entries.filter(kind=EntryKind.FORFEIT)} == {
        Component.GOVERNMENT_SUBSIDY: D("-1330.00"),
        Component.GOVERNMENT_PAID: D("-1330.00"),
    }
    # the 669.00 is offset from what is left, personal 11,120 − 480 = 10,640.00 and interest 101.63, in fen:
    # 66,900 × 1,064,000 / 1,074,163 = 66,267 r 40,479; 66,900 × 10,163 / 1,074,163 = 632 r 1,033,684;
    # the fen left over goes to the larger remainder (interest): 662.67 + 6.33
    assert {e.component: e.amount for e in entries.filter(kind=EntryKind.RECOVERY)} == {
        Component.PERSONAL: D("-662.67"),
        Component.INTEREST: D("-6.33"),
    }
    # the rest refunded: 10,640.00 − 662.67 = 9,977.33 and 101.63 − 6.33 = 95.30; 10,072.63 in all
    assert {e.component: e.amount for e in entries.filter(kind=EntryKind.REFUND)} == {
        Component.PERSONAL: D("-9977.33"),
        Component.INTEREST: D("-95.30"),
    }
    assert refund == D("10072.63")
    account = IndividualAccount.objects.get(person=dual.person)
    assert account.balance == D("0.00") and account.closed_on == dt.date(2026, 7, 10)
    overpayment.refresh_from_db()
    assert (overpayment.recovered, overpayment.status) == (D("669.00"), OverpaymentStatus.RECOVERED)
    # the person cancelled and the dual-enrolment flag resolved
    person = dual.person
    person.refresh_from_db()
    assert (person.status, person.cancelled_on) == (PersonStatus.CANCELLED, dt.date(2026, 7, 10))
    flag = DualEnrollmentFlag.objects.get(person=person)
    assert flag.resolved_at is not None and "10072.63" in flag.resolution
    # July's payroll leaves the award out; a second stop is refused
    assert not run_payroll(line, month(7)).lines.exists()
    with pytest.raises(Conflict):
        services.other_pension_stop(
            actor=line.staff(Role.COUNTY_APPROVER),
            person=person,
            employee_pension_from=dt.date(2026, 4, 1),
            today=dt.date(2026, 7, 11),
        )


def test_other_pension_stop_of_a_contributor_refunds_less_government_money(line):
    person = make_contributor(
        line,
        birth_date=dt.date(1975, 1, 1),
        balance=D("5000.00"),
        components={Component.GOVERNMENT_SUBSIDY: D("600.00")},
        name="职工",
    )
    # 1.5% on 5,600.00 for January–February: 5,600 × 2 × 0.00125 = 14.00, all interest
    refund, overpayment = services.other_pension_stop(
        actor=line.staff(Role.COUNTY_APPROVER),
        person=person,
        employee_pension_from=dt.date(2026, 1, 1),
        today=dt.date(2026, 3, 5),
    )
    # refunded 5,000.00 + 14.00; the 600.00 subsidy forfeited
    assert overpayment is None and refund == D("5014.00")
    assert LedgerEntry.objects.get(kind=EntryKind.FORFEIT).amount == D("-600.00")


def test_only_the_county_approver_stops_for_another_pension(line, dual):
    for role in (Role.COUNTY_CLERK, Role.TOWNSHIP_CLERK, Role.COUNTY_FUND_OFFICER):
        with pytest.raises(NotPermitted):
            services.other_pension_stop(
                actor=line.staff(role),
                person=dual.person,
                employee_pension_from=dt.date(2026, 4, 1),
                today=dt.date(2026, 7, 10),
            )
    elsewhere = pension_line(county="320411", rates={})
    with pytest.raises(DomainError) as refused:
        services.other_pension_stop(
            actor=elsewhere.staff(Role.COUNTY_APPROVER),
            person=dual.person,
            employee_pension_from=dt.date(2026, 4, 1),
            today=dt.date(2026, 7, 10),
        )
    assert refused.value.code == "out_of_scope"
    dual.refresh_from_db()
    assert dual.status == AwardStatus.ACTIVE
