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


def interest(opening="0", movements=(), rate=RATE, settle_month=YEAR_END, rounding=Rounding.HALF_UP, from_month=1):
    return account_interest(
        opening=D(opening),
        movements=[(m, D(a)) for m, a in movements],
        rate=rate,
        settle_month=settle_month,
        rounding=rounding,
        from_month=from_month,
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


# --- after an earlier closing of the year (from_month) -----------------------------------------------


def test_year_end_after_a_pension_start_in_april_settles_april_to_december():
    # Opening 1200; the April closing paid 1200 × 1.5% × 3/12 = 4.50 for January–March. The year end starts
    # at c = 4: base (1200 + 4.50) × (13 − 4) = 10840.50; the pension, −10.00 on the 1st of April to
    # December, stops earning from its month: −10 × (9 + 8 + … + 1) = −450;
    # 10390.50 × 1.5% / 12 = 12.988125 → 12.99 half up, 12.98 down
    assert interest("1200.00", settle_month=4) == D("4.50")
    pension = [(m, "-10.00") for m in range(4, 13)]
    assert interest("1204.50", pension, from_month=4) == D("12.99")
    assert interest("1204.50", pension, from_month=4, rounding=Rounding.DOWN) == D("12.98")


def test_second_closing_in_october_after_april_settles_april_to_september():
    # c = 4, c2 = 10: base 1204.50 × 6 = 7227; pension −10 in April–September: −10 × (6 + 5 + … + 1) = −210;
    # October's pension (month c2) counts nothing: 7017 × 1.5% / 12 = 8.77125 → 8.77
    pension = [(m, "-10.00") for m in range(4, 11)]
    assert interest("1204.50", pension, settle_month=10, from_month=4) == D("8.77")


def test_credit_in_the_closing_month_earns_from_the_month_after():
    # From c = 5: a credit of 600 booked in May (before or after the closing's day: month c all the same)
    # earns 13 − 1 − 5 = 7 months; base 0: 600 × 7 × 1.5% / 12 = 5.25
    assert interest(movements=[(5, "600")], from_month=5) == D("5.25")
    # the same credit with no earlier closing: the plain formula gives the same 12 − 5 = 7 months
    assert interest(movements=[(5, "600")]) == D("5.25")


def test_from_january_is_the_plain_formula():
    movements = [(3, "300"), (7, "-400"), (11, "200")]
    assert interest("1000", movements, from_month=1) == interest("1000", movements)
    assert interest("1000", movements, settle_month=8, from_month=1) == interest("1000", movements, settle_month=8)


def test_closing_in_the_month_of_the_earlier_closing_settles_nothing_more():
    assert interest("1000", [(6, "50")], settle_month=6, from_month=6) == D("0.00")


def test_refuses_movements_before_from_month_and_from_month_after_the_settlement():
    with pytest.raises(ValueError, match="base"):
        interest("1000", [(3, "300")], from_month=4)
    with pytest.raises(ValueError):
        interest("1000", settle_month=4, from_month=5)
    with pytest.raises(ValueError):
        interest("1000", from_month=13)
    with pytest.raises(ValueError):
        interest("1000", from_month=0)


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


def exact_interest(opening, movements, rate, settle_month, from_month=1) -> Fraction:
    """The same rule written again, independently, in exact fractions."""
    total = Fraction(opening) * (settle_month - from_month)
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


@settings(max_examples=300)
@given(
    opening=signed_money,
    movements=st.lists(st.tuples(months, signed_money), max_size=8),
    rate=rates,
    from_month=months,
    settle_months_after=st.integers(min_value=0, max_value=12),
    rounding=roundings,
)
def test_from_month_equals_the_formula_in_exact_fractions(
    opening, movements, rate, from_month, settle_months_after, rounding
):
    settle_month = min(from_month + settle_months_after, YEAR_END)
    movements = [(max(month, from_month), amount) for month, amount in movements]
    result = account_interest(
        opening=opening,
        movements=movements,
        rate=rate,
        settle_month=settle_month,
        rounding=rounding,
        from_month=from_month,
    )
    assert result == round_fraction(exact_interest(opening, movements, rate, settle_month, from_month), rounding)


@settings(max_examples=300)
@given(
    opening=signed_money,
    movements=st.lists(st.tuples(months, signed_money), max_size=8),
    rate=rates,
    closing=months,
    rounding=roundings,
)
def test_a_closing_then_the_year_end_pays_each_month_once(opening, movements, rate, closing, rounding):
    """Closing in month c, then the year end from c: every month is paid exactly once, and the closing's
    interest earns from c like the rest of the base. Only the two roundings (under a fen each) differ."""
    first = account_interest(opening=opening, movements=movements, rate=rate, settle_month=closing, rounding=rounding)
    base = opening + first + sum((amount for month, amount in movements if month < closing), D("0"))
    later = [(month, amount) for month, amount in movements if month >= closing]
    second = account_interest(opening=base, movements=later, rate=rate, rounding=rounding, from_month=closing)
    whole_year = exact_interest(opening, movements, rate, YEAR_END)
    interest_on_the_closing_interest = Fraction(first) * (YEAR_END - closing) * Fraction(rate) / 12
    assert abs(Fraction(first + second) - whole_year - interest_on_the_closing_interest) < Fraction(2, 100)
