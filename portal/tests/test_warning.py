"""基金预警: months covered from fund movements and payroll runs, a two-year projection computed by hand, the
threshold and the warnings, and their scope."""

import datetime as dt
import itertools
import logging
from decimal import Decimal

import pytest
from django.http import Http404
from django.utils import timezone

from agencies.errors import DomainError, NotPermitted
from agencies.models import Role
from agencies.tests.factories import region_line
from benefits.models import Award, AwardCategory, PayrollRun, PayrollStatus
from contributions.models import Channel, Contribution, InterestRate
from enrollment.models import PersonStatus
from enrollment.tests.factories import make_person
from funds.fund_accounts import FINANCE, movement_post
from funds.models import Fund, FundAccountKind, MovementKind
from portal import warning
from portal.models import FundWarning

pytestmark = pytest.mark.django_db

D = Decimal
TODAY = dt.date(2025, 6, 30)
_keys = itertools.count(1)


@pytest.fixture
def line():
    return region_line()


def book(line, account_kind: str, fund: str, kind: str, amount: str, on: dt.date, counterpart: str = ""):
    return movement_post(
        pooling_region=line.pooling_region,
        account_kind=account_kind,
        fund=fund,
        kind=kind,
        amount=D(amount),
        booked_on=on,
        reference=f"T{next(_keys)}",
        idempotency_key=f"warning-test:{next(_keys)}",
        counterpart=counterpart,
    )


def payroll(line, month: dt.date, total: str, recipients: int, status: str = PayrollStatus.CONFIRMED) -> PayrollRun:
    officer = line.staff(Role.COUNTY_FUND_OFFICER)
    return PayrollRun.objects.create(
        pooling_region=line.pooling_region,
        month=month,
        status=status,
        total=D(total),
        lines_count=recipients,
        prepared_by=officer,
        prepared_at=timezone.now(),
    )


def contributions(person, years, *, personal="100", subsidy="0", paid="0"):
    Contribution.objects.bulk_create(
        [
            Contribution(
                person=person,
                year=year,
                tier_amount=D(personal),
                personal_amount=D(personal),
                government_subsidy=D(subsidy),
                government_paid=D(paid),
                paid_on=dt.date(year, 3, 1),
                channel=Channel.COUNTER,
                bank_code="T",
                bank_reference=f"W{person.pk}-{year}",
                region_code=person.region_code,
            )
            for year in years
        ]
    )


# --- months covered --------------------------------------------------------------------------------------------


def test_months_covered_is_the_expenditure_and_fiscal_balance_over_the_last_three_payroll_months(line):
    # given: fiscal 100,000 basic-pension money from finance and 50,000 of the individual-account fund;
    # 30,000 funded to expenditure, of which 10,000 paid out; 5,000 still in income (not counted) and a later
    # movement (after the day asked)
    fiscal, expenditure, income = FundAccountKind.FISCAL, FundAccountKind.EXPENDITURE, FundAccountKind.INCOME
    book(line, fiscal, Fund.BASIC_PENSION, MovementKind.TRANSFER_IN, "100000.00", dt.date(2025, 1, 10), FINANCE)
    book(line, fiscal, Fund.INDIVIDUAL_ACCOUNT, MovementKind.SWEEP_IN, "50000.00", dt.date(2025, 1, 31))
    book(line, fiscal, Fund.BASIC_PENSION, MovementKind.FUNDING_OUT, "-30000.00", dt.date(2025, 2, 15))
    book(line, expenditure, Fund.BASIC_PENSION, MovementKind.FUNDING_IN, "30000.00", dt.date(2025, 2, 15))
    book(line, expenditure, Fund.BASIC_PENSION, MovementKind.PAYOUT, "-10000.00", dt.date(2025, 2, 20))
    book(line, income, Fund.INDIVIDUAL_ACCOUNT, MovementKind.COUNTER, "5000.00", dt.date(2025, 4, 3))
    book(line, fiscal, Fund.BASIC_PENSION, MovementKind.TRANSFER_IN, "999.00", dt.date(2025, 5, 2), FINANCE)
    # payroll: January to April confirmed, May only a draft
    for month, total in ((1, "9000.00"), (2, "10000.00"), (3, "11000.00"), (4, "12000.00")):
        payroll(line, dt.date(2025, month, 1), total, recipients=20)
    payroll(line, dt.date(2025, 5, 1), "50000.00", recipients=90, status=PayrollStatus.DRAFT)

    # when
    position = warning.fund_position(pooling_region=line.pooling_region, on=dt.date(2025, 4, 30))

    # then: balance 120,000 (fiscal) + 20,000 (expenditure) = 140,000; payout (10,000 + 11,000 + 12,000) / 3
    # = 11,000 a month; 140,000 / 11,000 = 12.727… → 12.7 (cut, not rounded)
    assert (position.fiscal, position.expenditure, position.balance) == (
        D("120000.00"),
        D("20000.00"),
        D("140000.00"),
    )
    assert (position.individual_account, position.basic_pension) == (D("50000.00"), D("90000.00"))
    assert [p.month.month for p in position.payouts] == [4, 3, 2]
    assert position.monthly_payout == D("11000.00")
    assert position.months_covered == D("12.7")
    assert warning.months_covered(pooling_region=line.pooling_region, on=dt.date(2025, 4, 30)) == D("12.7")


def test_months_covered_is_none_before_the_first_confirmed_payroll(line):
    book(line, FundAccountKind.FISCAL, Fund.BASIC_PENSION, MovementKind.TRANSFER_IN, "100.00", TODAY, FINANCE)
    payroll(line, dt.date(2025, 6, 1), "50.00", recipients=1, status=PayrollStatus.DRAFT)
    assert warning.months_covered(pooling_region=line.pooling_region, on=TODAY) is None
    assert warning.projection(pooling_region=line.pooling_region, today=TODAY) == []


# --- the projection --------------------------------------------------------------------------------------------


def funded_region(line):
    """150,000.00 available (fiscal and expenditure); over the twelve months to 30 June 2025 the fund received
    1,100.00 of personal contributions and 120,260.00 from finance; 10,000.00 paid a month to 20 recipients;
    interest 2% (the latest year's rate); three contributors turning 60 with enough years in 2026 (two) and 2027
    (one), and others who do not count."""
    fiscal, income = FundAccountKind.FISCAL, FundAccountKind.INCOME
    basic, individual = Fund.BASIC_PENSION, Fund.INDIVIDUAL_ACCOUNT
    book(line, fiscal, basic, MovementKind.TRANSFER_IN, "28740.00", dt.date(2024, 5, 1), FINANCE)  # too old for income
    book(line, fiscal, basic, MovementKind.TRANSFER_IN, "120000.00", dt.date(2025, 3, 1), FINANCE)
    book(line, fiscal, individual, MovementKind.TRANSFER_IN, "260.00", dt.date(2025, 4, 1), FINANCE)  # subsidies
    book(line, income, individual, MovementKind.COUNTER, "500.00", dt.date(2024, 6, 30))  # twelve months ago: out
    book(line, income, individual, MovementKind.DEDUCTION, "1000.00", dt.date(2025, 2, 10))
    book(line, income, individual, MovementKind.COUNTER, "100.00", dt.date(2025, 3, 5))
    book(line, income, individual, MovementKind.SWEEP_OUT, "-1000.00", dt.date(2025, 2, 28))  # a sweep moves,
    book(line, fiscal, individual, MovementKind.SWEEP_IN, "1000.00", dt.date(2025, 2, 28))  # it brings nothing in
    for month in (4, 5, 6):
        payroll(line, dt.date(2025, month, 1), "10000.00", recipients=20)
    InterestRate.objects.create(pooling_region=line.pooling_region, year=2024, rate=D("0.01500"))
    InterestRate.objects.create(pooling_region=line.pooling_region, year=2025, rate=D("0.02000"))
    # Turning 60: 14 years before 2025 + 1 (2025) = 15 in 2026 ✓; 20 + 1 ✓; 10 + 1 ✗; 13 + 2 = 15 in 2027 ✓.
    contributions(make_person(line.village, name="退甲", birth_date=dt.date(1966, 3, 1)), range(2011, 2025))
    contributions(make_person(line.village, name="退乙", birth_date=dt.date(1966, 11, 30)), range(2005, 2025))
    contributions(make_person(line.village, name="退丙", birth_date=dt.date(1966, 8, 1)), range(2015, 2025))
    contributions(make_person(line.village, name="退丁", birth_date=dt.date(1967, 1, 1)), range(2012, 2025))
    # Not counted: already receiving, cancelled, or in another pooling region.
    receiving = make_person(line.village, name="领戊", birth_date=dt.date(1966, 2, 2))
    contributions(receiving, range(2000, 2025))
    Award.objects.create(
        person=receiving,
        region_code=receiving.region_code,
        pooling_region=line.pooling_region,
        category=AwardCategory.MONTHLY_PENSION,
        start_month=dt.date(2025, 3, 1),
        birth_date=receiving.birth_date,
        years_paid=25,
        account_divisor=139,
        approved_by=line.staff(Role.COUNTY_APPROVER),
    )
    gone = make_person(line.village, name="销己", birth_date=dt.date(1966, 4, 4), status=PersonStatus.CANCELLED)
    contributions(gone, range(2000, 2025))
    elsewhere = region_line(county="320411")
    contributions(make_person(elsewhere.village, name="外庚", birth_date=dt.date(1966, 5, 5)), range(2000, 2025))


def test_a_two_year_projection_computed_by_hand(line):
    funded_region(line)

    basis = warning.projection_basis(pooling_region=line.pooling_region, years=2, today=TODAY)
    years = warning.project(basis, 2)

    assert (basis.balance, basis.monthly_payout, basis.recipients) == (D("150000.00"), D("10000.00"), 20)
    assert (basis.contributions, basis.government, basis.income) == (D("1100.00"), D("120260.00"), D("121360.00"))
    assert (basis.interest_rate, basis.interest_year) == (D("0.02000"), 2025)
    assert basis.new_recipients == {2026: 2, 2027: 1}
    # 2026: 20 recipients at 500.00; 4% stop = 0.8 → 1 (half a year); 2 start (half a year)
    #   payout 500 × (12×20 − 6×1 + 6×2) = 123,000.00; interest 150,000 × 2% = 3,000.00; income 121,360.00
    #   closing 150,000 + 121,360 + 3,000 − 123,000 = 151,360.00; months 151,360 ÷ (123,000 ÷ 12) = 14.77 → 14.7
    # 2027: 21 recipients; 0.84 → 1 stops; 1 starts: payout 500 × (252 − 6 + 6) = 126,000.00;
    #   interest 151,360 × 2% = 3,027.20; closing 151,360 + 121,360 + 3,027.20 − 126,000 = 149,747.20; 14.26 → 14.2
    assert [
        (y.year, y.opening, y.income, y.interest, y.payout, y.closing, y.recipients_start, y.ending, y.new_recipients)
        for y in years
    ] == [
        (2026, D("150000.00"), D("121360.00"), D("3000.00"), D("123000.00"), D("151360.00"), 20, 1, 2),
        (2027, D("151360.00"), D("121360.00"), D("3027.20"), D("126000.00"), D("149747.20"), 21, 1, 1),
    ]
    assert [y.months_covered for y in years] == [D("14.7"), D("14.2")]
    assert years[1].recipients_end == 21
    assert warning.projection(pooling_region=line.pooling_region, years=2, today=TODAY) == years


def test_money_from_another_pooling_region_is_balance_not_income(line):
    book(line, FundAccountKind.FISCAL, Fund.INDIVIDUAL_ACCOUNT, MovementKind.TRANSFER_IN, "700.00", TODAY, "新北区")
    payroll(line, dt.date(2025, 6, 1), "100.00", recipients=1)
    basis = warning.projection_basis(pooling_region=line.pooling_region, today=TODAY)
    assert (basis.balance, basis.income) == (D("700.00"), D("0.00"))


# --- thresholds and warnings -----------------------------------------------------------------------------------


def test_a_city_supervisor_sets_the_threshold_once_per_region_audited(line, caplog):
    supervisor = line.staff(Role.CITY_SUPERVISOR)
    warning.fund_warning_set(actor=supervisor, pooling_region=line.pooling_region, threshold_months="6")
    with caplog.at_level(logging.INFO, logger="portal.audit"):
        again = warning.fund_warning_set(actor=supervisor, pooling_region=line.pooling_region, threshold_months="4.5")
    assert FundWarning.objects.count() == 1 and again.threshold_months == D("4.5")
    assert f"pooling_region={line.pooling_region.code} threshold=4.5" in caplog.text


@pytest.mark.parametrize("value", ["0", "-1", "abc", "6.55", "121", ""])
def test_bad_thresholds_are_refused(line, value):
    with pytest.raises(DomainError) as refused:
        warning.fund_warning_set(
            actor=line.staff(Role.CITY_SUPERVISOR), pooling_region=line.pooling_region, threshold_months=value
        )
    assert refused.value.field == "threshold_months"
    assert not FundWarning.objects.exists()


def test_only_a_city_supervisor_covering_the_region_sets_a_threshold(line):
    foreign = region_line(county="320115", city="3201")
    with pytest.raises(NotPermitted):
        warning.fund_warning_set(
            actor=line.staff(Role.COUNTY_FUND_OFFICER), pooling_region=line.pooling_region, threshold_months="6"
        )
    with pytest.raises(NotPermitted) as refused:
        warning.fund_warning_set(
            actor=line.staff(Role.CITY_SUPERVISOR), pooling_region=foreign.pooling_region, threshold_months="6"
        )
    assert refused.value.code == "not_whole_region"
    assert not FundWarning.objects.exists()


def threshold(line, months: str) -> None:
    FundWarning.objects.update_or_create(
        pooling_region=line.pooling_region,
        defaults={"threshold_months": D(months), "set_by": line.staff(Role.CITY_SUPERVISOR)},
    )


def test_a_warning_when_a_projected_year_falls_below_the_threshold(line):
    funded_region(line)  # 15.0 months now; 14.7 at the end of 2026
    threshold(line, "15")

    found = warning.warnings(user=line.staff(Role.CITY_SUPERVISOR), today=TODAY)

    assert [view.pooling_region for view in found] == [line.pooling_region]
    view = found[0]
    assert view.position.months_covered == D("15.0") and not view.below_now
    assert view.years_below[0].year == 2026
    assert "预计2026年末可支付14.7个月，低于预警线15.0个月" in view.message


def test_a_warning_when_the_balance_now_falls_below_the_threshold(line):
    funded_region(line)
    threshold(line, "15.5")
    [view] = warning.warnings(user=line.staff(Role.COUNTY_FUND_OFFICER), today=TODAY)
    assert view.below_now
    assert "基金结余仅可支付15.0个月，低于预警线15.5个月" in view.message


def test_no_warning_above_the_threshold_nor_without_one(line):
    funded_region(line)
    supervisor = line.staff(Role.CITY_SUPERVISOR)
    assert warning.warnings(user=supervisor, today=TODAY) == []  # no threshold set
    threshold(line, "6")
    assert warning.warnings(user=supervisor, today=TODAY) == []
    view = warning.outlook(pooling_region=line.pooling_region, today=TODAY)
    assert len(view.years) == 5 and all(y.months_covered >= 6 for y in view.years)


def test_another_citys_pooling_region_is_never_listed_nor_opened(line):
    foreign = region_line(county="320115", city="3201")
    funded_region(foreign)
    threshold(foreign, "100")
    supervisor = line.staff(Role.CITY_SUPERVISOR)

    assert warning.warnings(user=supervisor, today=TODAY) == []
    assert [r.code for r in warning.regions_of(user=supervisor, today=TODAY)] == ["320411", "320412"]
    with pytest.raises(Http404):
        warning.pooling_region_get(user=supervisor, pk=foreign.pooling_region.pk)
    # at home, the foreign city's supervisor sees theirs
    assert [v.pooling_region for v in warning.warnings(user=foreign.staff(Role.CITY_SUPERVISOR), today=TODAY)] == [
        foreign.pooling_region
    ]


def test_roles_that_do_not_read_fund_warnings_get_none(line):
    funded_region(line)
    threshold(line, "100")
    for role in (Role.COUNTY_APPROVER, Role.COUNTY_CLERK, Role.TOWNSHIP_CLERK, Role.VILLAGE_AGENT):
        assert warning.warnings(user=line.staff(role), today=TODAY) == [], role


def test_positions_of_several_regions_come_in_two_queries(line, django_assert_num_queries):
    other = region_line(county="320411")
    funded_region(line)
    book(other, FundAccountKind.EXPENDITURE, Fund.BASIC_PENSION, MovementKind.FUNDING_IN, "900.00", TODAY)
    for month in (1, 2, 3, 4):  # four months: the oldest is left out of the average
        payroll(other, dt.date(2025, month, 1), f"{month}00.00", recipients=month)

    with django_assert_num_queries(2):
        positions = warning.fund_positions(regions=[line.pooling_region, other.pooling_region], on=TODAY)

    mine, theirs = positions[line.pooling_region.pk], positions[other.pooling_region.pk]
    assert (mine.balance, mine.monthly_payout, mine.months_covered) == (D("150000.00"), D("10000.00"), D("15.0"))
    # 900 ÷ ((200 + 300 + 400) ÷ 3 = 300) = 3.0 months; 4 recipients in April, the latest
    assert (theirs.balance, theirs.monthly_payout, theirs.recipients, theirs.months_covered) == (
        D("900.00"),
        D("300.00"),
        4,
        D("3.0"),
    )


MARCH = dt.date(2025, 3, 1)


def funded_elsewhere(county: str, *, government: str, rate: str):
    """Another pooling region of the same city: ``government`` from finance this March (its whole
    balance and its income), one confirmed month paying 1,000.00 to 10 recipients, ``rate`` for 2025."""
    other = region_line(county=county)
    book(other, FundAccountKind.FISCAL, Fund.BASIC_PENSION, MovementKind.TRANSFER_IN, government, MARCH, FINANCE)
    payroll(other, dt.date(2025, 6, 1), "1000.00", recipients=10)
    InterestRate.objects.create(pooling_region=other.pooling_region, year=2025, rate=D(rate))
    return other


def test_the_overview_reads_as_many_queries_for_five_regions_with_a_threshold_as_for_one(
    line, django_assert_max_num_queries
):
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from benefits.tests.factories import make_parameters

    # given: six pooling regions in the city (320411 holds a person only), one of them with pension parameters
    # of its own (a later row in force, and one not yet); their coming retirements counted last night; a
    # threshold for one region only
    funded_region(line)
    others = [
        funded_elsewhere("320413", government="3000.00", rate="0.01000"),
        funded_elsewhere("320481", government="4000.00", rate="0.03000"),
        funded_elsewhere("320482", government="5000.00", rate="0.01750"),
        funded_elsewhere("320483", government="6000.00", rate="0.02500"),
    ]
    make_parameters(others[1], valid_from=dt.date(2024, 1, 1), minimum_years="15")
    make_parameters(others[1], valid_from=dt.date(2025, 1, 1), minimum_years="16")
    make_parameters(others[1], valid_from=dt.date(2025, 7, 1), minimum_years="20")
    warning.cohorts_refresh(today=TODAY)
    threshold(line, "15")
    supervisor = line.staff(Role.CITY_SUPERVISOR)
    with CaptureQueriesContext(connection) as one:
        warning.overview(user=get_user_model().objects.get(pk=supervisor.pk), today=TODAY)

    # when: the four others get a threshold too
    for other in others:
        threshold(other, "100")
    with django_assert_max_num_queries(len(one)):
        rows = warning.overview(user=get_user_model().objects.get(pk=supervisor.pk), today=TODAY)

    # then: no more queries, and each region keeps its own figures
    by_code = {row.pooling_region.code: row for row in rows}
    assert [code for code, row in by_code.items() if row.outlook] == ["320412", "320413", "320481", "320482", "320483"]
    mine = by_code["320412"].outlook
    assert (mine.basis.income, mine.basis.interest_rate, mine.basis.new_recipients) == (
        D("121360.00"),
        D("0.02000"),
        {2026: 2, 2027: 1},
    )
    assert [(y.year, y.closing, y.months_covered) for y in mine.years[:2]] == [
        (2026, D("151360.00"), D("14.7")),
        (2027, D("149747.20"), D("14.2")),
    ]
    assert [
        (
            code,
            by_code[code].outlook.basis.government,
            by_code[code].outlook.basis.interest_rate,
            by_code[code].outlook.position.months_covered,
            (by_code[code].outlook.basis.pension_age, by_code[code].outlook.basis.minimum_years),
        )
        for code in ("320413", "320481", "320482", "320483")
    ] == [
        ("320413", D("3000.00"), D("0.01000"), D("3.0"), (60, 15)),
        ("320481", D("4000.00"), D("0.03000"), D("4.0"), (60, 16)),
        ("320482", D("5000.00"), D("0.01750"), D("5.0"), (60, 15)),
        ("320483", D("6000.00"), D("0.02500"), D("6.0"), (60, 15)),
    ]
    # 320413 in 2026: 10 recipients at 100.00, 0.4 → none stops: payout 12,000.00; interest 3,000 × 1% = 30.00;
    # closing 3,000 + 3,000 + 30 − 12,000 = −5,970.00, below the threshold of 100 months
    assert (by_code["320413"].outlook.years[0].closing, by_code["320413"].outlook.warned) == (D("-5970.00"), True)


def test_the_nightly_count_of_coming_retirements_is_what_the_projection_reads(line):
    from portal.models import RetirementCohort

    funded_region(line)
    live = warning.projection_basis(pooling_region=line.pooling_region, years=5, today=TODAY).new_recipients

    # when: the nightly job counts the next five years (zeros stored too)
    written = warning.cohorts_refresh(today=TODAY)
    stored = dict(
        RetirementCohort.objects.filter(pooling_region=line.pooling_region, counted_in=2025).values_list(
            "year", "persons"
        )
    )

    # then: the same counts, and a person registered since is not seen until the next night (the stored count wins)
    assert live == {2026: 2, 2027: 1}
    assert stored == {2026: 2, 2027: 1, 2028: 0, 2029: 0, 2030: 0}
    assert written >= 5
    contributions(make_person(line.village, name="新辛", birth_date=dt.date(1966, 6, 6)), range(2000, 2025))
    assert warning.projection_basis(pooling_region=line.pooling_region, years=5, today=TODAY).new_recipients == live
    warning.cohorts_refresh(today=TODAY)  # a rerun replaces the rows
    assert warning.projection_basis(pooling_region=line.pooling_region, years=5, today=TODAY).new_recipients == {
        2026: 3,
        2027: 1,
    }
    assert RetirementCohort.objects.filter(pooling_region=line.pooling_region, counted_in=2025).count() == 5
