"""A parameter change recalculates awards from its month, with back pay for months already paid, reviewed by the
county and paid once with the next payroll.

The award used throughout: born 10 March 1965, 15 years, 13,900.00 in the account at the end of 2024; claimed in
March 2025 and approved on 20 March, so it starts in April 2025. Interest January–March at 1.5%:
13,900 × 1.5% × 3/12 = 52.125 → 52.13; balance at the start 13,952.13; account pension 13,952.13 ÷ 139 =
100.3750… → 100.38. Basic pension 123 + 100 = 223; total 323.38 a month.
"""

import datetime as dt
from decimal import Decimal

import pytest
from django.db.models import Sum

from agencies.errors import Conflict, DomainError, NotPermitted
from agencies.models import Role
from benefits import payroll, services
from benefits.models import Arrear, ArrearStatus, LineKind, PensionParameters
from benefits.tests.factories import make_award, make_contributor, make_parameters, pension_line, run_payroll

pytestmark = pytest.mark.django_db

APRIL, MAY, JUNE, JULY, AUGUST = (dt.date(2025, m, 1) for m in (4, 5, 6, 7, 8))


@pytest.fixture
def line():
    return pension_line()


@pytest.fixture
def award(line):
    person = make_contributor(line)
    award = make_award(line, person, claimed_on=dt.date(2025, 3, 5), approved_on=dt.date(2025, 3, 20))
    assert (award.start_month, award.account_pension) == (APRIL, Decimal("100.38"))
    return award


def _set(line, valid_from, **values):
    return services.pension_parameters_set(
        actor=line.staff(Role.CITY_SUPERVISOR), pooling_region=line.pooling_region, valid_from=valid_from, values=values
    )


def _arrears(award):
    return {a.month: a for a in Arrear.objects.filter(award=award).order_by("month", "id")}


def test_rise_of_the_central_minimum_lists_back_pay_for_months_paid(line, award):
    # given April, May and June paid at 323.38
    for month in (APRIL, MAY, JUNE):
        run_payroll(line, month)
    # when the central minimum rises from 123 to 143 from May
    row, recalculation = _set(line, MAY, central_minimum="143")
    # then the award pays 143 + 100 + 100.38 = 343.38 from May, and April stays 323.38
    live = {p.valid_from: p for p in award.periods.filter(replaced_by__isnull=True)}
    assert live[APRIL].total == Decimal("323.38")
    assert live[MAY].total == Decimal("343.38") and live[MAY].parameters == row
    # back pay: May and June, 343.38 − 323.38 = 20.00 each, pending review; nothing for April
    arrears = _arrears(award)
    assert set(arrears) == {MAY, JUNE}
    for arrear in arrears.values():
        assert (arrear.paid_amount, arrear.due_amount, arrear.amount) == (
            Decimal("323.38"),
            Decimal("343.38"),
            Decimal("20.00"),
        )
        assert arrear.status == ArrearStatus.PENDING and arrear.recalculation == recalculation
    assert recalculation.awards_changed == 1
    assert recalculation.arrears_total == Decimal("40.00")
    # the old periods from May on (those from the months of 65 and 80) are kept, marked replaced
    replaced = award.periods.filter(replaced_by=recalculation).order_by("valid_from")
    assert [p.valid_from for p in replaced] == [dt.date(2030, 4, 1), dt.date(2045, 4, 1)]
    assert replaced[0].total == Decimal("323.38")


def test_back_pay_is_paid_once_after_review(line, award):
    for month in (APRIL, MAY, JUNE):
        run_payroll(line, month)
    _set(line, MAY, central_minimum="143")
    # given pending back pay: a July draft does not pay it
    draft = run_payroll(line, JULY, confirm=False)
    assert not draft.lines.filter(kind=LineKind.ARREARS).exists()
    # when the county approver reviews it
    reviewed = services.arrears_review(actor=line.staff(Role.COUNTY_APPROVER), arrears=Arrear.objects.all())
    assert reviewed == 2
    assert set(Arrear.objects.values_list("status", flat=True)) == {ArrearStatus.APPROVED}
    # then the July payroll, prepared again, has one back-pay line of 20.00 + 20.00 = 40.00 beside the pension
    draft = run_payroll(line, JULY, confirm=False)
    draft = run_payroll(line, JULY, confirm=False)  # re-prepared: still one line
    [back_pay] = draft.lines.filter(kind=LineKind.ARREARS)
    assert back_pay.total == Decimal("40.00")
    run = payroll.payroll_confirm(actor=line.staff(Role.COUNTY_FUND_OFFICER), run=draft)
    lines = {line.kind: line for line in run.lines.all()}
    assert lines[LineKind.PENSION].total == Decimal("343.38")
    assert lines[LineKind.ARREARS].total == Decimal("40.00")
    # 343.38 + 40.00 = 383.38, and the run's totals agree with its lines
    assert run.arrears_total == Decimal("40.00")
    assert run.total == Decimal("383.38") == run.lines.aggregate(s=Sum("total"))["s"]
    # the arrears are paid, by that line
    for arrear in Arrear.objects.all():
        assert arrear.status == ArrearStatus.PAID and arrear.payroll_line == lines[LineKind.ARREARS]
    # and August pays the pension alone
    august = run_payroll(line, AUGUST)
    assert list(august.lines.values_list("kind", flat=True)) == [LineKind.PENSION]
    assert august.total == Decimal("343.38")


def test_only_the_county_approver_in_scope_reviews_back_pay(line, award):
    run_payroll(line, APRIL)
    _set(line, APRIL, central_minimum="143")
    arrears = list(Arrear.objects.all())
    for role in (Role.COUNTY_CLERK, Role.COUNTY_FUND_OFFICER, Role.TOWNSHIP_CLERK, Role.CITY_SUPERVISOR):
        with pytest.raises(NotPermitted):
            services.arrears_review(actor=line.staff(role), arrears=arrears)
    elsewhere = pension_line(county="320411")
    with pytest.raises(DomainError) as refused:
        services.arrears_review(actor=elsewhere.staff(Role.COUNTY_APPROVER), arrears=arrears)
    assert refused.value.code == "out_of_scope"
    assert Arrear.objects.get().status == ArrearStatus.PENDING


def test_only_a_city_supervisor_sets_parameters_once_a_month(line, award):
    for role in (Role.COUNTY_APPROVER, Role.COUNTY_CLERK, Role.COUNTY_FUND_OFFICER):
        with pytest.raises(NotPermitted):
            services.pension_parameters_set(
                actor=line.staff(role),
                pooling_region=line.pooling_region,
                valid_from=MAY,
                values={"central_minimum": "143"},
            )
    _set(line, MAY, central_minimum="143")
    with pytest.raises(Conflict):
        _set(line, dt.date(2025, 5, 20), central_minimum="150")  # the same month, whatever the day
    with pytest.raises(DomainError):
        _set(line, JUNE, central_minimum="0")


def test_a_row_dated_before_the_start_recalculates_the_award_from_its_start(line, award):
    # when a row effective from February 2025 (before the April start) raises the central minimum to 130
    _, recalculation = _set(line, dt.date(2025, 2, 1), central_minimum="130")
    # then the award is recalculated from April (not February): 130 + 100 + 100.38 = 330.38
    live = list(award.periods.filter(replaced_by__isnull=True).order_by("valid_from"))
    assert live[0].valid_from == APRIL
    assert live[0].central_minimum == Decimal("130.00") and live[0].total == Decimal("330.38")
    assert not award.periods.filter(replaced_by__isnull=True, valid_from__lt=APRIL).exists()
    assert recalculation.awards_changed == 1
    # April's payroll pays the new amount
    assert run_payroll(line, APRIL).total == Decimal("330.38")


def test_a_second_change_lists_only_its_own_difference(line, award):
    # given May and June paid at 323.38, and 20.00 a month already listed for them by the rise to 143
    for month in (APRIL, MAY, JUNE):
        run_payroll(line, month)
    _set(line, MAY, central_minimum="143")
    # when the local top-up then rises from 100 to 110 from June
    _, second = _set(line, JUNE, local_top_up="110")
    # then June is due 143 + 110 + 100.38 = 353.38; paid 323.38 and listed 20.00 → 10.00 more, not 30.00
    [june] = Arrear.objects.filter(recalculation=second)
    assert (june.month, june.due_amount, june.amount) == (JUNE, Decimal("353.38"), Decimal("10.00"))
    assert second.arrears_total == Decimal("10.00")
    # in all: May 20.00, June 20.00 + 10.00 = 50.00 against 323.38 + 353.38 due − 2 × 323.38 paid
    assert Arrear.objects.aggregate(s=Sum("amount"))["s"] == Decimal("50.00")


def test_a_fall_is_listed_as_negative_back_pay(line, award):
    run_payroll(line, APRIL)
    # local top-up cut from 100 to 95 from April: 318.38 due, 323.38 paid → −5.00
    _set(line, APRIL, local_top_up="95")
    [arrear] = Arrear.objects.all()
    assert arrear.amount == Decimal("-5.00")
    services.arrears_review(actor=line.staff(Role.COUNTY_APPROVER), arrears=[arrear])
    run = run_payroll(line, MAY)
    # May: 318.38 − 5.00 = 313.38 to credit
    assert run.total == Decimal("313.38")
    assert list(payroll.payout_lines(run))[0]["amount"] == Decimal("313.38")


def test_months_missed_while_suspended_and_back_paid_get_the_difference(line, award):
    # given the award suspended from May, May and June paid without it, then resumed in July: 2 × 323.38 back pay
    run_payroll(line, APRIL)
    services.award_suspend(actor=line.staff(Role.COUNTY_APPROVER), award=award, from_month=MAY, reason="other")
    run_payroll(line, MAY)
    run_payroll(line, JUNE)
    services.award_resume(actor=line.staff(Role.COUNTY_APPROVER), award=award, today=dt.date(2025, 7, 2))
    assert [a.amount for a in _arrears(award).values()] == [Decimal("323.38")] * 2
    # when the central minimum rises to 143 from May
    _, recalculation = _set(line, MAY, central_minimum="143")
    # then May and June are each due 343.38, of which 323.38 is listed already: 20.00 more each
    new = Arrear.objects.filter(recalculation=recalculation).order_by("month")
    assert [(a.month, a.amount) for a in new] == [(MAY, Decimal("20.00")), (JUNE, Decimal("20.00"))]


def test_months_after_a_stop_are_not_back_paid(line, award):
    # given April–July paid, and the recipient died on 15 June: July is an overpayment
    for month in (APRIL, MAY, JUNE, JULY):
        run_payroll(line, month)
    services.death_record(
        actor=line.staff(Role.COUNTY_CLERK),
        person=award.person,
        died_on=dt.date(2025, 6, 15),
        source="家属报告",
        today=dt.date(2025, 7, 20),
    )
    # when the central minimum rises to 143 from May
    _, recalculation = _set(line, MAY, central_minimum="143")
    # then back pay for May and June only (alive, paid at the old amount), nothing for July
    assert sorted(Arrear.objects.values_list("month", flat=True)) == [MAY, JUNE]
    assert recalculation.arrears_total == Decimal("40.00")
    # and no period after the stop
    assert not award.periods.filter(replaced_by__isnull=True, valid_from__gte=JULY).exists()


def test_a_stop_before_the_change_is_left_alone(line, award):
    run_payroll(line, APRIL)
    services.award_stop(
        actor=line.staff(Role.COUNTY_APPROVER), award=award, from_month=MAY, reason="other", note="迁居国外"
    )
    _, recalculation = _set(line, JUNE, central_minimum="143")
    assert recalculation is None
    assert not award.periods.filter(replaced_by__isnull=False).exists()


def test_recalculation_keeps_the_age_additions(line):
    make_parameters(line, valid_from=dt.date(2025, 1, 1), addition_at_65="10")
    person = make_contributor(line, birth_date=dt.date(1960, 2, 29), years=15)
    # 65 in February 2025: claimed late (aged 65), approved in March 2025, so it starts in April with the addition
    award = make_award(line, person, claimed_on=dt.date(2025, 3, 5), approved_on=dt.date(2025, 3, 20))
    _set(line, MAY, central_minimum="143")
    live = {p.valid_from: p for p in award.periods.filter(replaced_by__isnull=True)}
    # 143 + 100 + 10 = 253
    assert live[MAY].basic_pension == Decimal("253.00") and live[MAY].age_addition == Decimal("10.00")


@pytest.mark.django_db
def test_parameters_only_by_someone_covering_the_whole_pooling_region():
    from agencies.tests.factories import region_line

    home = region_line()
    other = region_line(county="320115")
    with pytest.raises(DomainError) as refused:
        services.pension_parameters_set(
            actor=other.staff(Role.CITY_SUPERVISOR),
            pooling_region=home.pooling_region,
            valid_from=dt.date(2026, 1, 1),
            values={"central_minimum": "143", "local_top_up": "100"},
        )
    assert refused.value.code == "out_of_scope"
    assert not PensionParameters.objects.filter(pooling_region=home.pooling_region).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("multiple", ["NaN", "-1", "2.555", "abc", "101"])
def test_a_funeral_grant_multiple_out_of_range_is_refused_by_its_field(multiple):
    from agencies.tests.factories import region_line

    home = region_line()
    with pytest.raises(DomainError) as refused:
        services.pension_parameters_set(
            actor=home.staff(Role.CITY_SUPERVISOR),
            pooling_region=home.pooling_region,
            valid_from=dt.date(2026, 1, 1),
            values={"central_minimum": "143", "local_top_up": "100", "funeral_grant_months": multiple},
        )
    assert refused.value.field == "funeral_grant_months"
    assert not PensionParameters.objects.filter(pooling_region=home.pooling_region).exists()
