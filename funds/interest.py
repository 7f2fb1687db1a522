"""Interest on an individual account for one year, as DOMAIN.md describes. Pure: no database.

Settled once a year on 31 December: the opening balance earns the full year; money booked in month m earns
from month m + 1, i.e. rate × (12 − m) / 12; money leaving in month m stops earning from month m. An account
that closes (or starts paying a pension) in month c is settled for the months before c: the opening balance
earns rate × (c − 1) / 12, money booked in month m < c earns rate × (c − 1 − m) / 12.

The weighted sum is exact and rounded once, to the fen, by the region's rule. The set-based settlement in
``funds.settlement`` computes the same formula in SQL; a test holds the two together.
"""

from collections.abc import Iterable
from decimal import Decimal

from agencies.money import Rounding, round_fen

YEAR_END = 13  # "closing month" of a year-end settlement: every month of the year counts


def earning_months(*, month: int, amount: Decimal, settle_month: int = YEAR_END) -> int:
    """How many months of the year this movement earns (negative for money leaving) before the settlement."""
    if month >= settle_month:
        return 0
    if amount >= 0:
        return settle_month - 1 - month  # credits earn from the month after they are booked
    return settle_month - month  # debits stop earning from the month they leave


def weighted_months(
    *, opening: Decimal, movements: Iterable[tuple[int, Decimal]], settle_month: int = YEAR_END
) -> Decimal:
    """Σ amount × months earned: the yuan-months on which the year's rate is paid."""
    total = opening * (settle_month - 1)
    for month, amount in movements:
        total += amount * earning_months(month=month, amount=amount, settle_month=settle_month)
    return total


def account_interest(
    *,
    opening: Decimal,
    movements: Iterable[tuple[int, Decimal]],
    rate: Decimal,
    settle_month: int = YEAR_END,
    rounding: str = Rounding.HALF_UP,
) -> Decimal:
    """The interest for the year (or up to the closing month), rounded to the fen.

    ``movements`` are (month booked, signed amount) within the year, not counting the year's own interest.
    """
    if not 1 <= settle_month <= YEAR_END:
        raise ValueError("settle_month is a month 1–12, or YEAR_END")
    if isinstance(rate, float) or isinstance(opening, float):
        raise TypeError("money and rates are Decimal, never float")
    return round_fen(
        weighted_months(opening=opening, movements=movements, settle_month=settle_month) * rate / 12, rounding
    )
