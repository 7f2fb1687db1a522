from decimal import Decimal

import pytest

from agencies.errors import DomainError
from agencies.money import Rounding, parse_money, round_fen


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("300", Decimal("300.00")),
        ("300.5", Decimal("300.50")),
        (" 1,500.00 ", Decimal("1500.00")),
        ("￥200", Decimal("200.00")),
        ("100元", Decimal("100.00")),
        (Decimal("40"), Decimal("40.00")),
        (70, Decimal("70.00")),
    ],
)
def test_amounts_parsed_from_text(raw, expected):
    assert parse_money(raw) == expected


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("30O", "invalid_amount"),
        ("1e3", "invalid_amount"),
        ("1_000", "invalid_amount"),
        ("NaN", "invalid_amount"),
        ("Infinity", "invalid_amount"),
        ("", "invalid_amount"),
        ("0.001", "invalid_amount"),
        ("-5", "negative_amount"),
        ("0", "zero_amount"),
        ("1000000000000", "invalid_amount"),
    ],
)
def test_malformed_amounts_refused(raw, code):
    with pytest.raises(DomainError) as refusal:
        parse_money(raw)
    assert refusal.value.code == code


def test_float_never_accepted():
    with pytest.raises(TypeError):
        parse_money(0.1)


def test_rounding_rules_at_the_half_fen():
    assert round_fen(Decimal("3.375"), Rounding.HALF_UP) == Decimal("3.38")
    assert round_fen(Decimal("3.375"), Rounding.DOWN) == Decimal("3.37")
    assert round_fen(Decimal("3.3749999"), Rounding.HALF_UP) == Decimal("3.37")
