"""The interest formula as a pure function: hand-computed cases, then properties (hypothesis)."""

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agencies.money import Rounding
from funds.interest import YEAR_END, account_interest, earning_months

D = Decimal
RATE = D("0.015")


def interest(opening="0", movements=(), rate=RATE, settle_month=YEAR_END, rounding=Rounding.HALF_UP):
    return account_interest(
        opening=D(opening),
        movements=[(m, D(a)) for m, a in movements],
        rate=rate,
        settle_month=settle_month,
        rounding=rounding,
    )


# --- hand-computed ------------------------------------------------------------------------------------


def test_opening_balance_earns_the_full_year():
    # 1000 × 1.5% × 12/12 = 15.00
    assert interest("1000.00") == D("15.00")


def test_credit_in_march_earns_nine_months():
    # 300 × 1.5% × (12 − 3)/12 = 3.375 → 3.38 half up, 3.37 down
    assert interest(movements=[(3, "300")]) == D("3.38")
    assert interest(movements=[(3, "300")], rounding=Rounding.DOWN) == D("3.37")


def test_credits_in_different_months_are_summed_before_rounding():
    # 300 in March: 300 × 9 = 2700; 200 in November: 200 × 1 = 200; 100 in December: × 0
    # (2700 + 200) × 1.5% / 12 = 3.625 → 3.63 (each rounded alone: 3.38 + 0.25 = 3.63 here, but once is the rule)
    assert interest(movements=[(3, "300"), (11, "200"), (12, "100")]) == D("3.63")


def test_opening_and_credit():
    # 1000 × 12 + 300 × 9 = 14700 yuan-months × 1.5% / 12 = 18.375 → 18.38
    assert interest("1000", [(3, "300")]) == D("18.38")


def test_debit_stops_earning_from_its_month():
    # 1000 opening, 400 leaves in July: 1000 × 12 − 400 × (13 − 7) = 9600 × 1.5% / 12 = 12.00
    assert interest("1000", [(7, "-400")]) == D("12.00")


def test_debit_in_january_earns_nothing_for_the_year():
    # 1000 × 12 − 1000 × (13 − 1) = 0
    assert interest("1000", [(1, "-1000")]) == D("0.00")


def test_zero_rate_year_pays_nothing():
    assert interest("1000", [(3, "300")], rate=D("0")) == D("0.00")


def test_closing_in_july_settles_the_months_before():
    # closes in month c = 7: opening 1000 × (7 − 1) = 6000; 300 in March × (7 − 1 − 3) = 900;
    # 200 in July (month c) earns nothing: 6900 × 1.5% / 12 = 8.625 → 8.63 half up, 8.62 down
    movements = [(3, "300"), (7, "200")]
    assert interest("1000", movements, settle_month=7) == D("8.63")
    assert interest("1000", movements, settle_month=7, rounding=Rounding.DOWN) == D("8.62")


def test_closing_in_january_pays_nothing():
    assert interest("1000", settle_month=1) == D("0.00")


@pytest.mark.parametrize(
    ("amount", "half_up", "down"),
    [
        ("101.00", "0.51", "0.50"),  # 101 × 1.5% × 4/12 = 0.505 exactly: the half fen
        ("100.99", "0.50", "0.50"),  # 0.50495: just under the half
        ("101.01", "0.51", "0.50"),  # 0.50505: just over
    ],
)
def test_rounding_at_the_half_fen(amount, half_up, down):
    # a credit in August earns 12 − 8 = 4 months
    assert interest(movements=[(8, amount)]) == D(half_up)
    assert interest(movements=[(8, amount)], rounding=Rounding.DOWN) == D(down)


def test_earning_months():
    assert earning_months(month=3, amount=D("1")) == 9
    assert earning_months(month=3, amount=D("-1")) == 10
    assert earning_months(month=7, amount=D("1"), settle_month=7) == 0
    assert earning_months(month=6, amount=D("-1"), settle_month=7) == 1


def test_refuses_floats_and_bad_months():
    with pytest.raises(TypeError):
        account_interest(opening=D("1"), movements=[], rate=0.015)
    with pytest.raises(ValueError):
        account_interest(opening=D("1"), movements=[], rate=RATE, settle_month=14)


# --- properties ---------------------------------------------------------------------------------------

money = st.decimals(min_value=D("0"), max_value=D("100000"), places=2, allow_nan=False, allow_infinity=False)
signed_money = st.decimals(min_value=D("-100000"), max_value=D("100000"), places=2)
rates = st.decimals(min_value=D("0"), max_value=D("0.1"), places=5)
months = st.integers(min_value=1, max_value=12)
settle_months = st.integers(min_value=1, max_value=YEAR_END)
roundings = st.sampled_from([Rounding.HALF_UP, Rounding.DOWN])


def exact_interest(opening, movements, rate, settle_month) -> Fraction:
    """The same rule written again, independently, in exact fractions."""
    total = Fraction(opening) * (settle_month - 1)
    for month, amount in movements:
        if month >= settle_month:
            continue
        total += Fraction(amount) * (settle_month - 1 - month if amount >= 0 else settle_month - month)
    return total * Fraction(rate) / 12


def round_fraction(value: Fraction, rounding: str) -> Decimal:
    fen = abs(value) * 100
    whole = fen.numerator // fen.denominator
    if rounding == Rounding.HALF_UP and fen - whole >= Fraction(1, 2):
        whole += 1
    return (D(whole) / 100 * (1 if value >= 0 else -1)).quantize(D("0.01"))


@settings(max_examples=300)
@given(opening=money, credits=st.lists(st.tuples(months, money), max_size=8), rate=rates, rounding=roundings)
def test_never_negative_and_never_beyond_the_bound(opening, credits, rate, rounding):
    result = account_interest(opening=opening, movements=credits, rate=rate, rounding=rounding)
    assert result >= 0
    # The most the money could earn: the opening balance all year, each credit from February on.
    bound = opening * rate + sum((amount for _, amount in credits), D("0")) * rate * 11 / 12
    assert result <= bound + D("0.005")  # rounding half up adds at most half a fen


@settings(max_examples=300)
@given(
    opening=signed_money,
    movements=st.lists(st.tuples(months, signed_money), max_size=8),
    rate=rates,
    settle_month=settle_months,
    rounding=roundings,
)
def test_equals_the_formula_in_exact_fractions(opening, movements, rate, settle_month, rounding):
    result = account_interest(
        opening=opening, movements=movements, rate=rate, settle_month=settle_month, rounding=rounding
    )
    assert result == round_fraction(exact_interest(opening, movements, rate, settle_month), rounding)


@given(opening=money, credits=st.lists(st.tuples(months, money), max_size=6), rate=rates)
def test_an_earlier_settlement_never_pays_more(opening, credits, rate):
    year_end = account_interest(opening=opening, movements=credits, rate=rate, rounding=Rounding.DOWN)
    for month in range(1, 13):
        assert (
            account_interest(opening=opening, movements=credits, rate=rate, settle_month=month, rounding=Rounding.DOWN)
            <= year_end
        )
