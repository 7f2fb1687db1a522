"""Interest on an individual account for one year, as DOMAIN.md describes. Pure: no database.

Settled once a year on 31 December: the opening balance earns the full year; money booked in month m earns
from month m + 1, i.e. rate × (12 − m) / 12; money leaving in month m stops earning from month m. An account
that closes (or starts paying a pension) in month c is settled for the months before c: the opening balance
earns rate × (c − 1) / 12, money booked in month m < c earns rate × (c − 1 − m) / 12.

A settlement may follow an earlier closing of the same year: a pension starts in April (the account stays
open, pension months leave it), then the person dies in October, or the year ends; an account transferred out
in May is reopened elsewhere and settled at the year's end. The earlier closing, booked in month c (period
"YYYY-MM" with MM = c), settled the months before c, so the next settlement (at the year's end, settle month
13, or at a new closing in month c2 > c, settle month c2) starts at month c:

- the base = every entry booked before the first day of month c, plus every interest entry of the year
  booked on or before that latest closing (the closing interest itself, and any earlier one of the year),
  earns (settle month − c) months;
- every other entry of the year booked in month m ≥ c (interest of the year excepted) earns as before: a
  credit (settle month − 1 − m) months, a debit (settle month − m), nothing once m ≥ the settle month.

An entry booked in month c before the earlier closing's date is not in the base: it belongs to month c. The
earlier closing gave it nothing (it settled the months before c only), and it earns from c + 1 now, so no
month is paid twice and none is missed. Without an earlier closing c = 1 and the base is the opening balance:
the rule above is the plain year-end (or closing) formula.

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
    *, opening: Decimal, movements: Iterable[tuple[int, Decimal]], settle_month: int = YEAR_END, from_month: int = 1
) -> Decimal:
    """Σ amount × months earned: the yuan-months on which the year's rate is paid.

    ``opening`` is the base at the start of month ``from_month`` (the opening balance when it is 1); it
    earns every month from ``from_month`` up to the settlement.
    """
    total = opening * (settle_month - from_month)
    for month, amount in movements:
        if month < from_month:
            raise ValueError("a movement before from_month belongs to the base (opening)")
        total += amount * earning_months(month=month, amount=amount, settle_month=settle_month)
    return total


def account_interest(
    *,
    opening: Decimal,
    movements: Iterable[tuple[int, Decimal]],
    rate: Decimal,
    settle_month: int = YEAR_END,
    rounding: str = Rounding.HALF_UP,
    from_month: int = 1,
) -> Decimal:
    """The interest for the year (or up to the closing month), rounded to the fen.

    ``movements`` are (month booked, signed amount) within the year, not counting the year's own interest.
    After an earlier closing of the year in month c, pass ``from_month=c``, the base (entries before month c
    and the year's interest up to that closing) as ``opening`` and only the movements of months c and later.
    """
    if not 1 <= settle_month <= YEAR_END:
        raise ValueError("settle_month is a month 1–12, or YEAR_END")
    if not 1 <= from_month <= min(settle_month, 12):
        raise ValueError("from_month is a month 1–12, not after settle_month")
    if isinstance(rate, float) or isinstance(opening, float):
        raise TypeError("money and rates are Decimal, never float")
    weighted = weighted_months(opening=opening, movements=movements, settle_month=settle_month, from_month=from_month)
    return round_fen(weighted * rate / 12, rounding)
