"""The pure rules: 代缴 share, level split, back-payment eligibility, periods, rates, age bands."""

import datetime as dt
from decimal import Decimal

import pytest

from agencies.errors import DomainError
from contributions import policy as rules


def test_government_paid_is_the_largest_share_counted_once():
    assert rules.government_paid_share([Decimal(70), Decimal(100)]) == Decimal(100)
    assert rules.government_paid_share([]) == Decimal(0)


def test_government_paid_is_a_share_of_the_lowest_tier():
    assert rules.government_paid_amount(lowest_tier=Decimal(100), share_percent=Decimal(70)) == Decimal("70.00")
    assert rules.government_paid_amount(lowest_tier=Decimal(150), share_percent=Decimal("33.33")) == Decimal("50.00")
    assert rules.government_paid_amount(lowest_tier=Decimal(100), share_percent=Decimal(0)) == Decimal("0")


def test_split_by_level_adds_up_exactly():
    # 40 × 30% = 12, 12, the county 16; 33.33 × 30% = 9.999 → 9.99 and 9.99, the county the rest.
    assert rules.split_by_level(Decimal("40.00"), province=Decimal(30), city=Decimal(30), county=Decimal(40)) == (
        Decimal("12.00"),
        Decimal("12.00"),
        Decimal("16.00"),
    )
    parts = rules.split_by_level(Decimal("33.33"), province=Decimal(30), city=Decimal(30), county=Decimal(40))
    assert parts == (Decimal("9.99"), Decimal("9.99"), Decimal("13.35"))
    assert sum(parts) == Decimal("33.33")


@pytest.mark.parametrize(
    "birth, eligible",
    [
        (dt.date(1949, 7, 2), True),  # 60 one day after the start: 0 years left
        (dt.date(1949, 7, 1), False),  # 60 on the start day: draws the basic pension instead
        (dt.date(1964, 6, 30), True),  # 15 years less a day
        (dt.date(1964, 7, 1), False),  # exactly 15 years left: pays every year
        (dt.date(1980, 1, 1), False),
    ],
)
def test_back_payment_only_with_fewer_than_15_years_to_60_at_the_start(birth, eligible):
    assert rules.back_payment_eligible(birth_date=birth, scheme_started_on=dt.date(2009, 7, 1)) is eligible


def test_periods_without_gap_or_overlap():
    d = dt.date
    assert rules.check_periods([(d(2012, 1, 1), d(2017, 12, 31)), (d(2018, 1, 1), None)]) is None
    assert "重叠" in rules.check_periods([(d(2012, 1, 1), None), (d(2018, 1, 1), None)])
    assert "重叠" in rules.check_periods([(d(2012, 1, 1), d(2018, 6, 30)), (d(2018, 1, 1), None)])
    assert "空档" in rules.check_periods([(d(2012, 1, 1), d(2016, 12, 31)), (d(2018, 1, 1), None)])


@pytest.mark.parametrize(
    "text, rate",
    [("0.015", Decimal("0.01500")), ("1.5%", Decimal("0.01500")), ("2.75 %", Decimal("0.02750")), ("0", Decimal(0))],
)
def test_rate_as_fraction_or_percent(text, rate):
    assert rules.parse_rate(text) == rate


@pytest.mark.parametrize("text", ["1.5", "abc", "-0.01", "0.000001", "50%", "0.5", "", "NaN"])
def test_bad_rates_refused(text):
    with pytest.raises(DomainError):
        rules.parse_rate(text)


def test_float_rate_refused():
    with pytest.raises(TypeError):
        rules.parse_rate(0.015)


def test_window_checks():
    assert rules.check_window((1, 1, 3, 31)) == (1, 1, 3, 31)
    for bad in [(1, 1, 2, 30), (4, 1, 3, 31), (2, 29, 3, 31), (13, 1, 12, 31)]:
        with pytest.raises(DomainError):
            rules.check_window(bad)
    assert rules.in_window((1, 1, 3, 31), dt.date(2024, 3, 31))
    assert not rules.in_window((1, 1, 3, 31), dt.date(2024, 4, 1))


def test_age_band_counts_age_on_first_of_january():
    assert rules.age_band(dt.date(1980, 1, 2), 2025) == "16-44"  # 44 on 1 January 2025, 45 the next day
    assert rules.age_band(dt.date(1980, 1, 1), 2025) == "45-59"
    assert rules.age_band(dt.date(1965, 1, 1), 2025) is None  # 60
    assert rules.age_band(dt.date(2009, 1, 2), 2025) is None  # 15
    born_after, born_by = rules.band_birth_range("45-59", 2025)
    assert born_after < dt.date(1980, 1, 1) <= born_by
    assert not (born_after < dt.date(1965, 1, 1) <= born_by)
