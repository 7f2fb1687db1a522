"""The pure benefit rules, worked by hand: months, eligibility, the amounts of a month, rounding, the funeral grant.

No database: the parameters are passed in, as the services pass them.
"""

import datetime as dt
from decimal import Decimal

import pytest

from benefits import calc

D = Decimal
PARAMS = calc.Parameters(
    central_minimum=D("123"),
    local_top_up=D("100"),
    per_year_beyond_minimum=D("2"),
    addition_at_65=D("10"),
    addition_at_80=D("30"),
)
LOCAL_START = dt.date(2011, 7, 1)


# --- months -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("month", "n", "expected"),
    [
        (dt.date(2025, 1, 1), 1, dt.date(2025, 2, 1)),
        (dt.date(2025, 12, 1), 1, dt.date(2026, 1, 1)),  # across the year
        (dt.date(2025, 1, 1), -1, dt.date(2024, 12, 1)),
        (dt.date(2025, 3, 1), -14, dt.date(2024, 1, 1)),  # 2025-03 − 14 = 2024-01
        (dt.date(2025, 3, 1), 24, dt.date(2027, 3, 1)),
        (dt.date(2025, 3, 1), 0, dt.date(2025, 3, 1)),
    ],
)
def test_add_months(month, n, expected):
    assert calc.add_months(month, n) == expected


def test_month_of_is_the_first_of_the_month():
    assert calc.month_of(dt.date(2025, 5, 31)) == dt.date(2025, 5, 1)


def test_months_between_is_inclusive_and_crosses_the_year():
    assert calc.months_between(dt.date(2024, 11, 15), dt.date(2025, 2, 1)) == [
        dt.date(2024, 11, 1),
        dt.date(2024, 12, 1),
        dt.date(2025, 1, 1),
        dt.date(2025, 2, 1),
    ]
    assert calc.months_between(dt.date(2025, 3, 1), dt.date(2025, 2, 1)) == []


def test_age_months_start_the_month_after_the_birthday_month():
    # born 29 Feb 1960: 65 in February 2025 (no 29th that year: the month is what counts), additions from March
    assert calc.birthday_month(dt.date(1960, 2, 29), 65) == dt.date(2025, 2, 1)
    assert calc.month_after_reaching(dt.date(1960, 2, 29), 65) == dt.date(2025, 3, 1)
    # born in December: 60 in December 2025, the month after is January 2026
    assert calc.month_after_reaching(dt.date(1965, 12, 31), 60) == dt.date(2026, 1, 1)


def test_start_month_is_the_month_after_approval_never_before_eligibility():
    eligible = dt.date(2025, 4, 1)
    # approved in March: April (the eligibility month and the month after approval agree)
    assert calc.start_month(eligible_from=eligible, approved_on=dt.date(2025, 3, 20)) == dt.date(2025, 4, 1)
    # approved early, in February: still April
    assert calc.start_month(eligible_from=eligible, approved_on=dt.date(2025, 2, 3)) == dt.date(2025, 4, 1)
    # approved late, on 2 June: July
    assert calc.start_month(eligible_from=eligible, approved_on=dt.date(2025, 6, 2)) == dt.date(2025, 7, 1)


# --- eligibility --------------------------------------------------------------------------------------------


def _eligibility(birth_date, *, claim_month=dt.date(2025, 3, 1), years_paid=15, category=calc.MONTHLY, **kwargs):
    return calc.eligibility(
        category=category,
        birth_date=birth_date,
        claim_month=claim_month,
        scheme_started_on=kwargs.pop("scheme_started_on", LOCAL_START),
        years_paid=years_paid,
        other_pension=kwargs.pop("other_pension", False),
        params=kwargs.pop("params", PARAMS),
    )


def test_under_60_says_when_to_claim():
    # born 10 March 1966: 60 in March 2026, eligible from April 2026, a claim from February 2026
    result = _eligibility(dt.date(1966, 3, 10), claim_month=dt.date(2025, 3, 1))
    assert not result.eligible
    assert result.eligible_from == dt.date(2026, 4, 1)
    assert result.missing == ["未到领取年龄：2026年03月年满60周岁，可于2026年02月起申请。"]


def test_a_claim_may_be_made_from_the_month_before_the_birthday_month():
    # born 10 March 1965: eligible April 2025; a claim in February 2025 is allowed, one in January is not
    assert _eligibility(dt.date(1965, 3, 10), claim_month=dt.date(2025, 2, 1)).eligible
    assert not _eligibility(dt.date(1965, 3, 10), claim_month=dt.date(2025, 1, 1)).eligible


def test_short_of_years_under_the_full_minimum():
    # born 1965, 46 at the local start in 2011: 1965 + 60 − 2011 = 14 years left, min(15, 14) = 14 required
    result = _eligibility(dt.date(1965, 3, 10), years_paid=12)
    assert result.years_required == 14
    assert result.missing == ["缴费年限不足：需14年（含视同缴费年限），已缴12年，还差2年。"]
    assert _eligibility(dt.date(1965, 3, 10), years_paid=14).eligible


def test_young_at_the_local_start_needs_the_full_minimum():
    # born 1990: 1990 + 60 − 2011 = 39 years left, min(15, 39) = 15
    assert calc.years_required(birth_date=dt.date(1990, 1, 1), scheme_started_on=LOCAL_START, params=PARAMS) == 15
    # born 1962: 1962 + 60 − 2011 = 11 years left → 11 required
    assert calc.years_required(birth_date=dt.date(1962, 8, 1), scheme_started_on=LOCAL_START, params=PARAMS) == 11
    # a region without a recorded start: the full minimum
    assert calc.years_required(birth_date=dt.date(1962, 8, 1), scheme_started_on=None, params=PARAMS) == 15


def test_transition_rule_follows_the_regions_minimum_and_age():
    params = calc.Parameters(central_minimum=D("123"), local_top_up=D("0"), minimum_years=10, pension_age=55)
    # minimum 10: born 1970 → 1970 + 55 − 2011 = 14 left, min(10, 14) = 10
    assert calc.years_required(birth_date=dt.date(1970, 1, 1), scheme_started_on=LOCAL_START, params=params) == 10
    # born 1960 → 1960 + 55 − 2011 = 4 left → 4
    assert calc.years_required(birth_date=dt.date(1960, 1, 1), scheme_started_on=LOCAL_START, params=params) == 4


def test_already_past_pension_age_at_the_local_start_needs_no_years():
    # born 1948: 1948 + 60 − 2011 = −3 → 0 years required
    result = _eligibility(dt.date(1948, 6, 1), years_paid=0)
    assert result.years_required == 0
    assert result.eligible


def test_other_pension_is_named():
    result = _eligibility(dt.date(1965, 3, 10), other_pension=True)
    assert result.missing == ["已享受或疑似享受职工养老保险等其他基本养老待遇，需先核实处理。"]


def test_every_missing_condition_is_listed():
    result = _eligibility(dt.date(1966, 3, 10), years_paid=3, other_pension=True)
    # under 60, 1966 + 60 − 2011 = 15 → 15 required, 3 paid, 12 missing; and the other pension
    assert len(result.missing) == 3
    assert "还差12年" in result.missing[1]


def test_basic_only_for_those_at_pension_age_at_the_local_start():
    # born 1 June 1948: 60 in June 2008, before the local start of July 2011
    assert _eligibility(dt.date(1948, 6, 1), years_paid=0, category=calc.BASIC_ONLY).eligible
    # born 1955: 56 at the local start
    result = _eligibility(dt.date(1955, 6, 1), years_paid=9, category=calc.BASIC_ONLY)
    assert result.missing == ["基础养老金直补仅适用于本地实施时已年满领取年龄的人员，请按“按月领取养老金”申请。"]


def test_basic_only_turns_on_the_day_not_the_month_of_the_local_start():
    # the scheme started on 1 July 2011. Born 1 July 1951: 60 that day, so at pension age at the start.
    assert calc.aged_at_start(birth_date=dt.date(1951, 7, 1), scheme_started_on=LOCAL_START, params=PARAMS)
    # born 15 July 1951: still 59 on 1 July 2011 (60 a fortnight later), so not basic-only
    assert not calc.aged_at_start(birth_date=dt.date(1951, 7, 15), scheme_started_on=LOCAL_START, params=PARAMS)
    # born 30 June 1951: 60 the day before the start
    assert calc.aged_at_start(birth_date=dt.date(1951, 6, 30), scheme_started_on=LOCAL_START, params=PARAMS)
    # born 29 February 1952, scheme started 28 February 2012: 60 on 29 February 2012, the day after the start
    assert not calc.aged_at_start(
        birth_date=dt.date(1952, 2, 29), scheme_started_on=dt.date(2012, 2, 28), params=PARAMS
    )
    assert not calc.aged_at_start(birth_date=dt.date(1940, 1, 1), scheme_started_on=None, params=PARAMS)


def test_a_29_february_birthday_falls_on_the_28th_in_a_common_year():
    assert calc.birthday(dt.date(1952, 2, 29), 60) == dt.date(2012, 2, 29)
    assert calc.birthday(dt.date(1952, 2, 29), 61) == dt.date(2013, 2, 28)
    # with a pension age of 61, born 29 February 1952 is at pension age on 28 February 2013, not the day before
    at_61 = calc.Parameters(central_minimum=D("123"), local_top_up=D("0"), pension_age=61)
    born = dt.date(1952, 2, 29)
    assert calc.aged_at_start(birth_date=born, scheme_started_on=dt.date(2013, 2, 28), params=at_61)
    assert not calc.aged_at_start(birth_date=born, scheme_started_on=dt.date(2013, 2, 27), params=at_61)


def test_urban_elderly_allowance_only_where_the_region_pays_one():
    result = _eligibility(dt.date(1948, 6, 1), years_paid=0, category=calc.URBAN_ELDERLY)
    assert result.missing == ["本统筹区未设立城镇老年补贴。"]
    paying = calc.Parameters(central_minimum=D("123"), local_top_up=D("100"), urban_elderly_allowance=D("80"))
    assert _eligibility(dt.date(1948, 6, 1), years_paid=0, category=calc.URBAN_ELDERLY, params=paying).eligible


# --- amounts ------------------------------------------------------------------------------------------------


def test_account_pension_rounds_half_up_to_the_fen():
    # 13,952.13 ÷ 139 = 100.3750… → 100.38
    assert calc.account_pension(D("13952.13"), 139) == D("100.38")
    # 13,900.00 ÷ 139 = 100 exactly
    assert calc.account_pension(D("13900.00"), 139) == D("100.00")
    # 0.695 yuan a month exactly half a fen up: 96.605 ÷ 139 = 0.695 → 0.70 (half up, not half even)
    assert calc.account_pension(D("96.605"), 139) == D("0.70")
    # 1,000.00 ÷ 139 = 7.19424… → 7.19 (down)
    assert calc.account_pension(D("1000.00"), 139) == D("7.19")
    # another divisor (e.g. 195 at 50): 1,000.00 ÷ 195 = 5.12820… → 5.13
    assert calc.account_pension(D("1000.00"), 195) == D("5.13")
    assert calc.account_pension(D("0.00"), 139) == D("0.00")
    assert calc.account_pension(D("-5.00"), 139) == D("0.00")


def test_monthly_amounts_with_years_beyond_the_minimum():
    # 17 years: 2 × (17 − 15) = 4; basic 123 + 100 + 4 = 227; account 100.38; total 327.38
    amounts = calc.monthly_amounts(
        PARAMS,
        category=calc.MONTHLY,
        years_paid=17,
        birth_date=dt.date(1965, 3, 10),
        month=dt.date(2025, 4, 1),
        account_part=D("100.38"),
    )
    assert amounts.years_addition == D("4")
    assert amounts.age_addition == 0
    assert amounts.basic_pension == D("227")
    assert amounts.total == D("327.38")


def test_fewer_years_than_the_minimum_add_nothing():
    amounts = calc.monthly_amounts(
        PARAMS,
        category=calc.MONTHLY,
        years_paid=9,
        birth_date=dt.date(1955, 6, 1),
        month=dt.date(2015, 7, 1),
        account_part=D("10.00"),
    )
    assert amounts.years_addition == 0
    assert amounts.basic_pension == D("223")


@pytest.mark.parametrize(
    ("month", "age_addition"),
    [
        (dt.date(2030, 3, 1), D("0")),  # the birthday month of 65: not yet
        (dt.date(2030, 4, 1), D("10")),  # the month after: the addition at 65
        (dt.date(2045, 3, 1), D("10")),  # the birthday month of 80: still the one at 65
        (dt.date(2045, 4, 1), D("30")),  # the month after: 30 instead of 10
    ],
)
def test_age_additions_from_the_month_after_the_birthday_month(month, age_addition):
    # born 10 March 1965: 65 in March 2030, 80 in March 2045
    amounts = calc.monthly_amounts(
        PARAMS,
        category=calc.MONTHLY,
        years_paid=15,
        birth_date=dt.date(1965, 3, 10),
        month=month,
        account_part=D("0"),
    )
    assert amounts.age_addition == age_addition
    assert amounts.basic_pension == D("223") + age_addition


def test_basic_only_has_no_account_part():
    amounts = calc.monthly_amounts(
        PARAMS,
        category=calc.BASIC_ONLY,
        years_paid=0,
        birth_date=dt.date(1948, 6, 1),
        month=dt.date(2025, 4, 1),
        account_part=D("55.00"),
    )
    # 76 in 2025: 123 + 100 + 10 at 65; the account part is not paid
    assert (amounts.basic_pension, amounts.account_pension, amounts.total) == (D("233"), D("0"), D("233"))


def test_urban_elderly_is_the_allowance_alone():
    params = calc.Parameters(central_minimum=D("123"), local_top_up=D("100"), urban_elderly_allowance=D("80"))
    amounts = calc.monthly_amounts(
        params,
        category=calc.URBAN_ELDERLY,
        years_paid=0,
        birth_date=dt.date(1940, 6, 1),
        month=dt.date(2025, 4, 1),
        account_part=D("0"),
    )
    assert (amounts.urban_allowance, amounts.basic_pension, amounts.central_minimum, amounts.total) == (
        D("80"),
        D("80"),
        D("0"),
        D("80"),
    )


def test_change_months_are_the_start_the_parameter_changes_and_the_age_months():
    months = calc.change_months(
        start=dt.date(2025, 4, 1),
        birth_date=dt.date(1965, 3, 10),
        parameter_months=[dt.date(2024, 1, 1), dt.date(2025, 4, 1), dt.date(2026, 1, 1)],
    )
    assert months == [dt.date(2025, 4, 1), dt.date(2026, 1, 1), dt.date(2030, 4, 1), dt.date(2045, 4, 1)]
    # ``until`` (the first month not paid) leaves out later changes
    assert calc.change_months(
        start=dt.date(2025, 4, 1),
        birth_date=dt.date(1965, 3, 10),
        parameter_months=[dt.date(2026, 1, 1)],
        until=dt.date(2026, 1, 1),
    ) == [dt.date(2025, 4, 1)]


def test_parameters_in_effect():
    rows = [(dt.date(2024, 1, 1), "a"), (dt.date(2025, 7, 1), "b")]
    assert calc.parameters_in_effect(rows, dt.date(2023, 12, 1)) is None
    assert calc.parameters_in_effect(rows, dt.date(2025, 6, 1)) == "a"
    assert calc.parameters_in_effect(rows, dt.date(2025, 7, 1)) == "b"


def test_funeral_grant_fixed_plus_months_of_basic_pension():
    params = calc.Parameters(
        central_minimum=D("143"), local_top_up=D("100"), funeral_grant_fixed=D("1000"), funeral_grant_months=D("2.5")
    )
    # 1,000 + 2.5 × 247.33 = 1,000 + 618.325 = 1,618.325 → 1,618.33 (half up)
    assert calc.funeral_grant(params, basic_pension=D("247.33")) == D("1618.33")
    assert calc.funeral_grant(PARAMS, basic_pension=D("223")) == D("0.00")
