"""The benefit rules as pure functions: months, eligibility, the award's amounts. No database here.

Parameters come in as ``Parameters`` values (read by the services from the pooling region's effective-dated
``PensionParameters``), so every figure is local and the rules can be tested by hand.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from agencies.money import ZERO, round_fen

MONTHLY = "monthly"
BASIC_ONLY = "basic_only"
URBAN_ELDERLY = "urban_elderly"


@dataclass(frozen=True)
class Parameters:
    central_minimum: Decimal
    local_top_up: Decimal
    per_year_beyond_minimum: Decimal = ZERO
    addition_at_65: Decimal = ZERO
    addition_at_80: Decimal = ZERO
    urban_elderly_allowance: Decimal = ZERO
    account_divisor: int = 139
    pension_age: int = 60
    minimum_years: int = 15
    funeral_grant_fixed: Decimal = ZERO
    funeral_grant_months: Decimal = ZERO


@dataclass(frozen=True)
class Amounts:
    central_minimum: Decimal
    local_top_up: Decimal
    years_addition: Decimal
    age_addition: Decimal
    urban_allowance: Decimal
    basic_pension: Decimal
    account_pension: Decimal

    @property
    def total(self) -> Decimal:
        return self.basic_pension + self.account_pension


# --- months -------------------------------------------------------------------------------------------------


def month_of(day: dt.date) -> dt.date:
    return day.replace(day=1)


def add_months(month: dt.date, n: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + n
    return dt.date(index // 12, index % 12 + 1, 1)


def months_between(first: dt.date, last: dt.date) -> list[dt.date]:
    """Every month from ``first`` to ``last`` inclusive."""
    months = []
    month = month_of(first)
    while month <= last:
        months.append(month)
        month = add_months(month, 1)
    return months


def birthday_month(birth_date: dt.date, age: int) -> dt.date:
    """The month in which the person reaches ``age``."""
    return dt.date(birth_date.year + age, birth_date.month, 1)


def month_after_reaching(birth_date: dt.date, age: int) -> dt.date:
    """Benefits and additions tied to an age start the month after the birthday month."""
    return add_months(birthday_month(birth_date, age), 1)


# --- eligibility --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Eligibility:
    category: str
    eligible_from: dt.date
    years_paid: int
    years_required: int
    missing: list[str] = field(default_factory=list)

    @property
    def eligible(self) -> bool:
        return not self.missing


def years_required(*, birth_date: dt.date, scheme_started_on: dt.date | None, params: Parameters) -> int:
    """The transition rule: those with fewer years than the minimum left to the pension age at the local start
    need only the years that were left (they must pay every year and may back-pay the rest)."""
    if scheme_started_on is None:
        return params.minimum_years
    years_left = birth_date.year + params.pension_age - scheme_started_on.year
    return max(0, min(params.minimum_years, years_left))


def birthday(birth_date: dt.date, age: int) -> dt.date:
    """The day the person reaches ``age``; born on 29 February, the 28th in a common year (the month's last day)."""
    try:
        return birth_date.replace(year=birth_date.year + age)
    except ValueError:
        return dt.date(birth_date.year + age, 2, 28)


def aged_at_start(*, birth_date: dt.date, scheme_started_on: dt.date | None, params: Parameters) -> bool:
    """Already at the pension age on the day the scheme started locally (本办法实施时已年满60周岁): the basic
    pension without contributing. Someone reaching it later in the start month is not."""
    return scheme_started_on is not None and birthday(birth_date, params.pension_age) <= scheme_started_on


def eligibility(
    *,
    category: str,
    birth_date: dt.date,
    claim_month: dt.date,
    scheme_started_on: dt.date | None,
    years_paid: int,
    other_pension: bool,
    params: Parameters,
) -> Eligibility:
    """Whether a claim made in ``claim_month`` can be awarded, and if not, exactly what is missing.

    A claim may be made from the month before the person reaches the pension age (the township lists them).
    """
    eligible_from = month_after_reaching(birth_date, params.pension_age)
    missing: list[str] = []
    if add_months(eligible_from, -2) > month_of(claim_month):
        missing.append(
            f"未到领取年龄：{birthday_month(birth_date, params.pension_age):%Y年%m月}年满{params.pension_age}周岁，"
            f"可于{add_months(eligible_from, -2):%Y年%m月}起申请。"
        )
    required = years_required(birth_date=birth_date, scheme_started_on=scheme_started_on, params=params)
    aged = aged_at_start(birth_date=birth_date, scheme_started_on=scheme_started_on, params=params)
    if category == BASIC_ONLY:
        required = 0
        if not aged:
            missing.append("基础养老金直补仅适用于本地实施时已年满领取年龄的人员，请按“按月领取养老金”申请。")
    elif category == URBAN_ELDERLY:
        required = 0
        if params.urban_elderly_allowance <= 0:
            missing.append("本统筹区未设立城镇老年补贴。")
    elif years_paid < required:
        missing.append(
            f"缴费年限不足：需{required}年（含视同缴费年限），已缴{years_paid}年，还差{required - years_paid}年。"
        )
    if other_pension:
        missing.append("已享受或疑似享受职工养老保险等其他基本养老待遇，需先核实处理。")
    return Eligibility(
        category=category,
        eligible_from=eligible_from,
        years_paid=years_paid,
        years_required=required,
        missing=missing,
    )


def start_month(*, eligible_from: dt.date, approved_on: dt.date) -> dt.date:
    """The month after approval, and never before eligibility."""
    return max(eligible_from, add_months(month_of(approved_on), 1))


# --- amounts ------------------------------------------------------------------------------------------------


def account_pension(balance: Decimal, divisor: int) -> Decimal:
    """Account balance at the start ÷ the divisor (139 at 60), to the fen, half up."""
    if balance <= 0:
        return ZERO
    return round_fen(balance / Decimal(divisor))


def monthly_amounts(
    params: Parameters,
    *,
    category: str,
    years_paid: int,
    birth_date: dt.date,
    month: dt.date,
    account_part: Decimal,
) -> Amounts:
    """What the award pays for ``month`` under ``params``."""
    if category == URBAN_ELDERLY:
        allowance = params.urban_elderly_allowance
        return Amounts(ZERO, ZERO, ZERO, ZERO, allowance, allowance, ZERO)
    years_addition = params.per_year_beyond_minimum * max(0, years_paid - params.minimum_years)
    if month >= month_after_reaching(birth_date, 80):
        age_addition = params.addition_at_80
    elif month >= month_after_reaching(birth_date, 65):
        age_addition = params.addition_at_65
    else:
        age_addition = ZERO
    basic = params.central_minimum + params.local_top_up + years_addition + age_addition
    account = account_part if category == MONTHLY else ZERO
    return Amounts(params.central_minimum, params.local_top_up, years_addition, age_addition, ZERO, basic, account)


def change_months(
    *, start: dt.date, birth_date: dt.date, parameter_months: list[dt.date], until: dt.date | None = None
) -> list[dt.date]:
    """The months from ``start`` on where an award's amount can change: the start, each parameter change,
    and the months the age additions begin. ``until`` (exclusive) leaves out later ones."""
    months = {start}
    months.update(m for m in parameter_months if m > start)
    months.update(m for m in (month_after_reaching(birth_date, 65), month_after_reaching(birth_date, 80)) if m > start)
    return sorted(m for m in months if until is None or m < until)


def parameters_in_effect(parameters: list[tuple[dt.date, object]], month: dt.date):
    """The entry of ``parameters`` (sorted by month) in effect in ``month``; None before the first."""
    found = None
    for valid_from, value in parameters:
        if valid_from <= month:
            found = value
        else:
            break
    return found


def funeral_grant(params: Parameters, *, basic_pension: Decimal) -> Decimal:
    return round_fen(params.funeral_grant_fixed + params.funeral_grant_months * basic_pension)
