"""The contribution rules as pure functions: no database, so services, the demo loader and tests share them.

Figures come from the pooling region's policy (effective-dated, see ``contributions.models``); nothing here
holds a local figure as a constant.
"""

import datetime as dt
import re
from collections.abc import Iterable
from decimal import ROUND_DOWN, Decimal, InvalidOperation

from agencies.errors import DomainError
from agencies.money import FEN, ZERO, Rounding, round_fen

PENSION_AGE = 60
# Those with fewer than this many years to 60 when the scheme started here may back-pay (补缴).
BACK_PAYMENT_THRESHOLD_YEARS = 15
HUNDRED = Decimal(100)

# Renewal targets (Ankang): 45–59 renew 100%, 16–44 at least 70%. Age is counted on 1 January of the year.
AGE_BANDS: dict[str, tuple[int, int]] = {"16-44": (16, 44), "45-59": (45, 59)}
RENEWAL_TARGETS: dict[str, Decimal] = {"16-44": Decimal("0.70"), "45-59": Decimal("1.00")}


def add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year without one
        return day.replace(year=day.year + years, day=28)


def age_on(birth_date: dt.date, day: dt.date) -> int:
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def age_band(birth_date: dt.date, year: int) -> str | None:
    """The renewal age band of a person in a year (age on 1 January), or None outside 16–59."""
    age = age_on(birth_date, dt.date(year, 1, 1))
    for band, (low, high) in AGE_BANDS.items():
        if low <= age <= high:
            return band
    return None


def band_birth_range(band: str, year: int) -> tuple[dt.date, dt.date]:
    """(born after, born on or before): those whose age on 1 January of ``year`` falls in the band."""
    low, high = AGE_BANDS[band]
    first = dt.date(year, 1, 1)
    return add_years(first, -(high + 1)), add_years(first, -low)


# --- the collection window ------------------------------------------------------------------------------

Window = tuple[int, int, int, int]  # start month, start day, end month, end day


def check_window(window: Window) -> Window:
    """The window lies within one calendar year, start before end; 29 February is refused (not every year has one)."""
    try:
        start_month, start_day, end_month, end_day = (int(part) for part in window)
        start = dt.date(2001, start_month, start_day)
        end = dt.date(2001, end_month, end_day)
    except (TypeError, ValueError):
        raise DomainError(
            "征缴期的起止月日不正确，请填写有效的月、日（如1月1日至3月31日）。", code="invalid", field="window"
        ) from None
    if end < start:
        raise DomainError("征缴期结束日期不能早于开始日期（征缴期须在同一年度内）。", code="invalid", field="window")
    return start_month, start_day, end_month, end_day


def window_dates(window: Window, year: int) -> tuple[dt.date, dt.date]:
    start_month, start_day, end_month, end_day = window
    return dt.date(year, start_month, start_day), dt.date(year, end_month, end_day)


def in_window(window: Window, day: dt.date) -> bool:
    start, end = window_dates(window, day.year)
    return start <= day <= end


# --- money of one contribution ---------------------------------------------------------------------------


def government_paid_share(shares: Iterable[Decimal]) -> Decimal:
    """The 代缴 share of a person in several hardship groups: the largest, counted once (never added up)."""
    return max(shares, default=ZERO)


def government_paid_amount(*, lowest_tier: Decimal, share_percent: Decimal) -> Decimal:
    """代缴 is a share of the LOWEST tier, whatever tier the person picks (a higher tier never raises it)."""
    if share_percent <= 0:
        return ZERO
    return round_fen(lowest_tier * min(share_percent, HUNDRED) / HUNDRED, Rounding.HALF_UP)


def subsidy_for(*, tiers: dict[Decimal, Decimal], tier: Decimal, back_payment: bool) -> Decimal:
    """The government contribution subsidy the tier earns; none for back-paid years."""
    if back_payment:
        return ZERO
    return tiers[tier]


def split_by_level(amount: Decimal, *, province: Decimal, city: Decimal, county: Decimal) -> tuple[Decimal, ...]:
    """Province, city and county parts of an amount by percent shares, adding up to the amount exactly.

    Province and city are rounded down to the fen; the county, which pays out, takes what rounding left.
    """
    if province + city + county != HUNDRED:
        raise ValueError("shares must add up to 100")
    province_part = (amount * province / HUNDRED).quantize(FEN, rounding=ROUND_DOWN)
    city_part = (amount * city / HUNDRED).quantize(FEN, rounding=ROUND_DOWN)
    return province_part, city_part, amount - province_part - city_part


# --- back payment (补缴) -----------------------------------------------------------------------------------


def back_payment_eligible(*, birth_date: dt.date, scheme_started_on: dt.date) -> bool:
    """Fewer than 15 years left to 60 when the scheme started here (and not yet 60 then: those get the basic
    pension without contributing)."""
    sixtieth = add_years(birth_date, PENSION_AGE)
    return scheme_started_on < sixtieth < add_years(scheme_started_on, BACK_PAYMENT_THRESHOLD_YEARS)


# --- effective-dated periods -----------------------------------------------------------------------------


def check_periods(periods: list[tuple[dt.date, dt.date | None]]) -> str | None:
    """None when the periods follow one another without gap or overlap; else a clerk's message of what is wrong.

    Each period is (valid_from, valid_to or None for open-ended); only the last may be open-ended.
    """
    ordered = sorted(periods, key=lambda period: period[0])
    for (start, end), (next_start, _next_end) in zip(ordered, ordered[1:], strict=False):
        if end is None or end >= next_start:
            shown_end = "长期" if end is None else f"{end:%Y-%m-%d}"
            return f"与已有的政策期间（{start:%Y-%m-%d} 至 {shown_end}）重叠。"
        if end + dt.timedelta(days=1) != next_start:
            return f"与前后政策期间之间留有空档（{end + dt.timedelta(days=1):%Y-%m-%d} 至 {next_start - dt.timedelta(days=1):%Y-%m-%d} 无政策）。"
    return None


# --- rates -------------------------------------------------------------------------------------------------

RATE_PLACES = Decimal("0.00001")
# A bookkeeping rate above this is a typing slip ("0.5" meant as 0.5%), not a rate any region sets.
RATE_CEILING = Decimal("0.20")


def parse_rate(raw) -> Decimal:
    """A yearly rate from text: the fraction as stored ("0.015") or a percent ("1.5%", "1.5％"). Floats refused."""
    if isinstance(raw, float):
        raise TypeError("rates must not be floats: pass the text as typed, or a Decimal")
    text = re.sub(r"\s+", "", str(raw if raw is not None else ""))
    percent = text.endswith(("%", "％"))
    if percent:
        text = text[:-1]
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise DomainError(
            f"利率“{raw}”格式不正确，请填写小数（如 0.015）或百分数（如 1.5%）。", code="invalid_rate", field="rate"
        ) from None
    if not value.is_finite():
        raise DomainError("利率格式不正确。", code="invalid_rate", field="rate")
    if percent:
        value = value / HUNDRED
    elif value >= 1:
        raise DomainError(
            f"利率“{raw}”不明确：百分数请加“%”（如 1.5%），或填写小数（如 0.015）。", code="invalid_rate", field="rate"
        )
    if value < 0:
        raise DomainError("利率不能为负数。", code="invalid_rate", field="rate")
    if value != value.quantize(RATE_PLACES, rounding=ROUND_DOWN):
        raise DomainError("利率最多精确到 0.001%（小数点后五位）。", code="invalid_rate", field="rate")
    if value > RATE_CEILING:
        raise DomainError(
            f"利率 {value * HUNDRED:.3f}% 明显过高，请核对（如 1.5% 请填写“1.5%”或“0.015”）。",
            code="invalid_rate",
            field="rate",
        )
    return value.quantize(RATE_PLACES)
