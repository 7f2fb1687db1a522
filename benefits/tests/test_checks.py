"""Eligibility checks: the village agent's monthly confirmation or stop report, the county's resumption with back
pay for the months missed, and the yearly check with its channel.

The award: 323.38 a month from April 2025 (basic 123 + 100 = 223; account 13,952.13 ÷ 139 → 100.38).
"""

import datetime as dt
from decimal import Decimal

import pytest

from agencies.errors import Conflict, DomainError, NotPermitted
from agencies.models import Role
from agencies.tests.factories import region_line
from benefits import services
from benefits.models import (
    Arrear,
    ArrearStatus,
    Award,
    AwardEvent,
    AwardStatus,
    CheckChannel,
    ClaimStatus,
    LineKind,
    MonthlyConfirmation,
    Overpayment,
    StopReason,
    YearlyCheck,
)
from benefits.tests.factories import make_award, make_contributor, pension_line, run_payroll
from funds.models import EntryKind, LedgerEntry
from funds.settlement import settle_year

pytestmark = pytest.mark.django_db

APRIL, MAY, JUNE, JULY, AUGUST, SEPTEMBER = (dt.date(2025, m, 1) for m in range(4, 10))


@pytest.fixture
def line():
    return pension_line()


@pytest.fixture
def award(line):
    person = make_contributor(line)
    return make_award(line, person, claimed_on=dt.date(2025, 3, 5), approved_on=dt.date(2025, 3, 20))


def _pension(run, award):
    return run.lines.filter(award=award, kind=LineKind.PENSION).first()


def test_agent_confirms_a_recipient_for_the_month(line, award):
    agent = line.staff(Role.VILLAGE_AGENT)
    confirmation = services.monthly_confirmation_record(actor=agent, award=award, month=dt.date(2025, 5, 8), alive=True)
    assert (confirmation.month, confirmation.alive, confirmation.confirmed_by) == (MAY, True, agent)
    # the same confirmation again is the same record; a contrary one is refused
    again = services.monthly_confirmation_record(actor=agent, award=award, month=MAY, alive=True)
    assert again.pk == confirmation.pk
    with pytest.raises(Conflict):
        services.monthly_confirmation_record(actor=agent, award=award, month=MAY, alive=False, stop_reason="death")
    award.refresh_from_db()
    assert award.status == AwardStatus.ACTIVE
    assert MonthlyConfirmation.objects.count() == 1


def test_stop_report_suspends_from_next_month_and_resumption_back_pays(line, award):
    agent = line.staff(Role.VILLAGE_AGENT)
    run_payroll(line, APRIL)
    # when the agent reports in May that the recipient cannot be found
    services.monthly_confirmation_record(
        actor=agent, award=award, month=MAY, alive=False, stop_reason=StopReason.OTHER, note="外出失联"
    )
    # then the award is suspended from June
    award.refresh_from_db()
    assert (award.status, award.paid_until, award.stop_reason) == (AwardStatus.SUSPENDED, JUNE, StopReason.OTHER)
    assert AwardEvent.objects.filter(award=award, action="suspend", actor=agent).exists()
    # May's payroll still pays it; June's and July's do not
    assert _pension(run_payroll(line, MAY), award).total == Decimal("323.38")
    assert _pension(run_payroll(line, JUNE), award) is None
    assert _pension(run_payroll(line, JULY), award) is None
    # when the county approver resumes it on 25 July
    approver = line.staff(Role.COUNTY_APPROVER)
    services.award_resume(actor=approver, award=award, note="已联系本人", today=dt.date(2025, 7, 25))
    award.refresh_from_db()
    assert (award.status, award.paid_until, award.stop_reason) == (AwardStatus.ACTIVE, None, "")
    # then June and July are back pay, approved, 323.38 each
    arrears = list(Arrear.objects.filter(award=award).order_by("month"))
    assert [(a.month, a.amount, a.status) for a in arrears] == [
        (JUNE, Decimal("323.38"), ArrearStatus.APPROVED),
        (JULY, Decimal("323.38"), ArrearStatus.APPROVED),
    ]
    # and August pays the month and both missed months: 323.38 + 2 × 323.38 = 970.14
    august = run_payroll(line, AUGUST)
    kinds = {line.kind: line.total for line in august.lines.filter(award=award)}
    assert kinds == {LineKind.PENSION: Decimal("323.38"), LineKind.ARREARS: Decimal("646.76")}
    assert august.total == Decimal("970.14")
    # September: the month alone
    assert run_payroll(line, SEPTEMBER).total == Decimal("323.38")


def test_a_stop_report_on_an_award_suspended_meanwhile_is_recorded(line, award):
    # the township suspends the award from June while the agent has it open (read before)
    services.award_suspend(actor=line.staff(Role.TOWNSHIP_CLERK), award=award, from_month=JUNE, reason="other")
    assert award.status == AwardStatus.ACTIVE  # the agent's copy
    confirmation = services.monthly_confirmation_record(
        actor=line.staff(Role.VILLAGE_AGENT), award=award, month=MAY, alive=False, stop_reason="death"
    )
    assert (confirmation.alive, confirmation.stop_reason) == (False, StopReason.DEATH)
    award.refresh_from_db()
    assert (award.status, award.paid_until) == (AwardStatus.SUSPENDED, JUNE)
    assert AwardEvent.objects.filter(award=award, action="suspend").count() == 1


def test_a_second_suspension_over_back_paid_months_does_not_pay_them_again(line, award):
    approver = line.staff(Role.COUNTY_APPROVER)
    run_payroll(line, APRIL)
    services.award_suspend(actor=approver, award=award, from_month=MAY, reason=StopReason.OTHER)
    run_payroll(line, MAY)
    services.award_resume(actor=approver, award=award, today=dt.date(2025, 6, 2))
    assert run_payroll(line, JUNE).total == Decimal("646.76")  # June + May's back pay, 2 × 323.38
    # when it is suspended again from May (found later to have been away since then) and resumed once more
    services.award_suspend(actor=approver, award=award, from_month=MAY, reason=StopReason.OTHER, note="补录")
    services.award_resume(actor=approver, award=award, today=dt.date(2025, 7, 2))
    # then May (back paid already) and June (paid) are owed nothing more
    assert Arrear.objects.filter(award=award).count() == 1
    assert run_payroll(line, JULY).total == Decimal("323.38")


def test_a_stop_report_needs_a_reason(line, award):
    agent = line.staff(Role.VILLAGE_AGENT)
    with pytest.raises(DomainError) as refused:
        services.monthly_confirmation_record(actor=agent, award=award, month=MAY, alive=False)
    assert refused.value.field == "stop_reason"
    with pytest.raises(DomainError) as refused:
        services.monthly_confirmation_record(actor=agent, award=award, month=MAY, alive=False, stop_reason="other")
    assert refused.value.field == "note"
    assert not MonthlyConfirmation.objects.exists()


def test_who_confirms_suspends_and_resumes(line, award):
    for role in (Role.COUNTY_CLERK, Role.COUNTY_APPROVER, Role.COUNTY_FUND_OFFICER, Role.CITY_SUPERVISOR):
        with pytest.raises(NotPermitted):
            services.monthly_confirmation_record(actor=line.staff(role), award=award, month=MAY, alive=True)
    for role in (Role.COUNTY_CLERK, Role.COUNTY_FUND_OFFICER):
        with pytest.raises(NotPermitted):
            services.award_suspend(actor=line.staff(role), award=award, from_month=MAY, reason="other")
    # the township clerk may suspend; only the county approver resumes
    services.award_suspend(actor=line.staff(Role.TOWNSHIP_CLERK), award=award, from_month=MAY, reason="other")
    for role in (Role.VILLAGE_AGENT, Role.TOWNSHIP_CLERK, Role.COUNTY_CLERK):
        with pytest.raises(NotPermitted):
            services.award_resume(actor=line.staff(role), award=award, today=dt.date(2025, 5, 2))
    services.award_resume(actor=line.staff(Role.COUNTY_APPROVER), award=award, today=dt.date(2025, 5, 2))
    with pytest.raises(Conflict):
        services.award_resume(actor=line.staff(Role.COUNTY_APPROVER), award=award, today=dt.date(2025, 5, 2))


def test_an_agent_of_another_village_cannot_confirm(line, award):
    neighbour = region_line(village="202")  # same township, next village
    with pytest.raises(DomainError) as refused:
        services.monthly_confirmation_record(
            actor=neighbour.staff(Role.VILLAGE_AGENT), award=award, month=MAY, alive=True
        )
    assert refused.value.code == "out_of_scope"
    other_county = pension_line(county="320411")
    with pytest.raises(DomainError) as refused:
        services.award_resume(actor=other_county.staff(Role.COUNTY_APPROVER), award=award)
    assert refused.value.code == "out_of_scope"
    with pytest.raises(DomainError) as refused:
        services.yearly_check_record(
            actor=neighbour.staff(Role.VILLAGE_AGENT),
            award=award,
            year=2025,
            channel=CheckChannel.PHONE,
            checked_on=dt.date(2025, 6, 1),
        )
    assert refused.value.code == "out_of_scope"
    assert not MonthlyConfirmation.objects.exists() and not YearlyCheck.objects.exists()


def test_yearly_check_with_its_channel_once_a_year(line, award):
    agent = line.staff(Role.VILLAGE_AGENT)
    check = services.yearly_check_record(
        actor=agent, award=award, year=2025, channel=CheckChannel.SELF_SERVICE, checked_on=dt.date(2025, 6, 3)
    )
    assert (check.year, check.channel, check.passed, check.checked_by) == (2025, "self_service", True, agent)
    with pytest.raises(Conflict):
        services.yearly_check_record(
            actor=line.staff(Role.COUNTY_CLERK),
            award=award,
            year=2025,
            channel=CheckChannel.OFFICE,
            checked_on=dt.date(2025, 7, 1),
        )
    services.yearly_check_record(
        actor=line.staff(Role.TOWNSHIP_CLERK),
        award=award,
        year=2026,
        channel=CheckChannel.DATA_MATCH,
        checked_on=dt.date(2026, 2, 1),
    )
    with pytest.raises(DomainError) as refused:
        services.yearly_check_record(actor=agent, award=award, year=2027, channel="fax", checked_on=dt.date(2027, 2, 1))
    assert refused.value.field == "channel"
    for role in (Role.COUNTY_APPROVER, Role.COUNTY_FUND_OFFICER):
        with pytest.raises(NotPermitted):
            services.yearly_check_record(
                actor=line.staff(role),
                award=award,
                year=2027,
                channel=CheckChannel.OFFICE,
                checked_on=dt.date(2027, 2, 1),
            )
    assert sorted(YearlyCheck.objects.values_list("year", "channel")) == [(2025, "self_service"), (2026, "data_match")]


def test_county_stops_an_award_from_a_month(line, award):
    run_payroll(line, APRIL)
    with pytest.raises(NotPermitted):
        services.award_stop(actor=line.staff(Role.COUNTY_CLERK), award=award, from_month=MAY, reason="other")
    services.award_stop(
        actor=line.staff(Role.COUNTY_APPROVER), award=award, from_month=MAY, reason=StopReason.FRAUD, note="冒领"
    )
    award.refresh_from_db()
    assert (award.status, award.paid_until) == (AwardStatus.STOPPED, MAY)
    assert _pension(run_payroll(line, MAY), award) is None
    with pytest.raises(Conflict):
        services.award_stop(actor=line.staff(Role.COUNTY_APPROVER), award=award, from_month=JUNE, reason="other")
    assert not Overpayment.objects.exists()  # nothing was paid from May


def test_a_stop_or_suspension_needs_a_known_reason(line, award):
    approver = line.staff(Role.COUNTY_APPROVER)
    with pytest.raises(DomainError) as refused:
        services.award_stop(actor=approver, award=award, from_month=MAY, reason="moved")
    assert refused.value.field == "reason"
    with pytest.raises(DomainError) as refused:
        services.award_suspend(actor=approver, award=award, from_month=MAY, reason="")
    assert refused.value.field == "reason"
    award.refresh_from_db()
    assert award.status == AwardStatus.ACTIVE


def test_a_stop_from_a_month_already_paid_lists_the_overpayment(line, award):
    for month in (APRIL, MAY, JUNE, JULY):
        run_payroll(line, month)
    # when fraud is found in July, the award stopped from June
    services.award_stop(
        actor=line.staff(Role.COUNTY_APPROVER), award=award, from_month=JUNE, reason=StopReason.FRAUD, note="冒领"
    )
    # then June and July, 2 × 323.38 = 646.76, are to be recovered
    [overpayment] = Overpayment.objects.all()
    assert (overpayment.reason, overpayment.first_month, overpayment.last_month, overpayment.amount) == (
        StopReason.FRAUD,
        JUNE,
        JULY,
        Decimal("646.76"),
    )


# --- claims: who enters, who reviews, who approves ----------------------------------------------------------


def test_claim_roles_and_separation_of_duties(line):
    person = make_contributor(line, name="申请人")
    on = dt.date(2025, 3, 5)
    for role in (Role.COUNTY_APPROVER, Role.COUNTY_FUND_OFFICER, Role.CITY_SUPERVISOR):
        with pytest.raises(NotPermitted):
            services.claim_submit(actor=line.staff(role), person=person, today=on)
    neighbour = region_line(village="202")
    with pytest.raises(DomainError) as refused:
        services.claim_submit(actor=neighbour.staff(Role.VILLAGE_AGENT), person=person, today=on)
    assert refused.value.code == "out_of_scope"
    # entered by the county clerk
    clerk = line.staff(Role.COUNTY_CLERK)
    claim = services.claim_submit(actor=clerk, person=person, today=on)
    with pytest.raises(Conflict):
        services.claim_approve(actor=line.staff(Role.COUNTY_APPROVER), claim=claim, today=on)  # not reviewed yet
    for role in (Role.VILLAGE_AGENT, Role.COUNTY_CLERK, Role.COUNTY_APPROVER):
        with pytest.raises(NotPermitted):
            services.claim_accept(actor=line.staff(role), claim=claim)
    services.claim_accept(actor=line.staff(Role.TOWNSHIP_CLERK), claim=claim)
    for role in (Role.TOWNSHIP_CLERK, Role.COUNTY_CLERK, Role.COUNTY_FUND_OFFICER):
        with pytest.raises(NotPermitted):
            services.claim_approve(actor=line.staff(role), claim=claim, today=on)
    elsewhere = pension_line(county="320411")
    with pytest.raises(DomainError) as refused:
        services.claim_approve(actor=elsewhere.staff(Role.COUNTY_APPROVER), claim=claim, today=on)
    assert refused.value.code == "out_of_scope"
    # the clerk who entered it, made approver since, still cannot approve it
    clerk.role = Role.COUNTY_APPROVER
    clerk.save()
    with pytest.raises(NotPermitted) as refused:
        services.claim_approve(actor=clerk, claim=claim, today=on)
    assert refused.value.code == "own_claim"
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.ACCEPTED and not Award.objects.exists()


def test_a_returned_claim_is_resubmitted_or_withdrawn_by_whoever_entered_it(line):
    person = make_contributor(line, name="申请人")
    on = dt.date(2025, 3, 5)
    agent = line.staff(Role.VILLAGE_AGENT)
    claim = services.claim_submit(actor=agent, person=person, today=on)
    township = line.staff(Role.TOWNSHIP_CLERK)
    with pytest.raises(DomainError) as refused:
        services.claim_return(actor=township, claim=claim, reason=" ")
    assert refused.value.field == "reason"
    with pytest.raises(NotPermitted):
        services.claim_return(actor=line.staff(Role.COUNTY_CLERK), claim=claim, reason="缺材料")
    services.claim_return(actor=township, claim=claim, reason="缺户口簿复印件")
    other_agent = line.staff(Role.VILLAGE_AGENT, username="agent2")
    with pytest.raises(NotPermitted):
        services.claim_resubmit(actor=other_agent, claim=claim, today=on)
    with pytest.raises(NotPermitted):
        services.claim_withdraw(actor=township, claim=claim)
    claim = services.claim_resubmit(actor=agent, claim=claim, today=on)
    assert (claim.status, claim.return_reason) == (ClaimStatus.SUBMITTED, "")
    # the county approver may also send it back, with the reason; then the agent withdraws it
    services.claim_return(actor=line.staff(Role.COUNTY_APPROVER), claim=claim, reason="年限待核")
    claim = services.claim_withdraw(actor=agent, claim=claim, reason="本人撤回")
    assert claim.status == ClaimStatus.WITHDRAWN
    assert [e.action for e in claim.events.order_by("at", "id")] == [
        "submit",
        "return",
        "resubmit",
        "return",
        "withdraw",
    ]


def test_a_claim_approved_in_december_starts_in_january():
    line = pension_line(rates={2025: "0.01500", 2026: "0.01500"})
    # born 10 December 1965: 60 in December 2025, eligible from January 2026
    person = make_contributor(line, birth_date=dt.date(1965, 12, 10))
    award = make_award(line, person, claimed_on=dt.date(2025, 12, 5), approved_on=dt.date(2025, 12, 20))
    assert award.start_month == dt.date(2026, 1, 1)
    # the old year's whole interest first: 13,900.00 × 1.5% = 208.50 (booked 31 December 2025, period "2025")
    interest = LedgerEntry.objects.get(account__person=person, kind=EntryKind.INTEREST)
    assert (interest.period, interest.amount, interest.booked_on) == ("2025", Decimal("208.50"), dt.date(2025, 12, 31))
    # 14,108.50 ÷ 139 = 101.50
    assert award.account_balance_at_start == Decimal("14108.50") and award.account_pension == Decimal("101.50")
    # the region's year-end run then passes the account by
    result = settle_year(pooling_region=line.pooling_region, year=2025)
    assert result.entries_posted == 0
    assert LedgerEntry.objects.filter(account__person=person, kind=EntryKind.INTEREST).count() == 1
