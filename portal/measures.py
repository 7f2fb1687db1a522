"""The measures supervisors watch, for any region in scope and any month: the one set of selectors that the
dashboards, their tables, the rankings, the targets' progress and the monthly reports all read, so a number
never differs between them.

Everything comes from the nightly ``MonthlySummary`` rows of the villages under the region's code prefix, summed
in one grouped query: a city of a million persons is a few thousand rows, not a scan of the register.
Rates are ``Decimal`` fractions (0.9812 is 98.12%), ``None`` where the base is zero.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, fields
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Sum
from django.db.models.functions import Substr
from django.http import Http404

from agencies.models import PREFIX_LENGTH, Region, RegionLevel
from agencies.scope import code_in_scope, scope_prefix
from contributions import policy as rules
from portal.models import MonthlySummary, SummaryRun

RATE_PLACES = Decimal("0.0001")
FEN = Decimal("0.01")
# The data-entry error rate's ceiling (录入误差率 ≤ 1‰) and the payout rate's target (发放率 100%).
ERROR_RATE_LIMIT = Decimal("0.001")
PAYOUT_RATE_TARGET = Decimal("1")

COUNT_FIELDS = [
    "insured",
    "recipients",
    "should_insure",
    "new_members",
    "cancelled",
    "payers",
    "renewal_due_young",
    "renewal_paid_young",
    "renewal_due_old",
    "renewal_paid_old",
    "payroll_lines",
    "payroll_paid",
    "applications",
    "applications_returned",
    "applications_overdue",
]
MONEY_FIELDS = ["contribution_income", "basic_pension", "account_pension"]
SUMMED = COUNT_FIELDS + MONEY_FIELDS
CHILD_LEVEL = {
    RegionLevel.PROVINCE: RegionLevel.CITY,
    RegionLevel.CITY: RegionLevel.COUNTY,
    RegionLevel.COUNTY: RegionLevel.TOWNSHIP,
    RegionLevel.TOWNSHIP: RegionLevel.VILLAGE,
}


def rate(part: int | Decimal, whole: int | Decimal) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(RATE_PLACES, rounding=ROUND_HALF_UP)


@dataclass
class Measures:
    """One region's figures for one month."""

    month: dt.date
    insured: int = 0
    recipients: int = 0
    should_insure: int = 0
    new_members: int = 0
    cancelled: int = 0
    payers: int = 0
    renewal_due_young: int = 0
    renewal_paid_young: int = 0
    renewal_due_old: int = 0
    renewal_paid_old: int = 0
    payroll_lines: int = 0
    payroll_paid: int = 0
    applications: int = 0
    applications_returned: int = 0
    applications_overdue: int = 0
    contribution_income: Decimal = field(default_factory=lambda: Decimal("0.00"))
    basic_pension: Decimal = field(default_factory=lambda: Decimal("0.00"))
    account_pension: Decimal = field(default_factory=lambda: Decimal("0.00"))

    @property
    def coverage(self) -> Decimal | None:
        """参保率: insured (contributing or receiving) over those who should be insured."""
        return rate(self.insured, self.should_insure)

    @property
    def renewal_young(self) -> Decimal | None:
        return rate(self.renewal_paid_young, self.renewal_due_young)

    @property
    def renewal_old(self) -> Decimal | None:
        return rate(self.renewal_paid_old, self.renewal_due_old)

    @property
    def renewals(self) -> int:
        return self.renewal_paid_young + self.renewal_paid_old

    @property
    def payout_rate(self) -> Decimal | None:
        """发放率: the month's payroll lines paid over lines due."""
        return rate(self.payroll_paid, self.payroll_lines)

    @property
    def error_rate(self) -> Decimal | None:
        """录入误差率: applications sent back for correction over applications received."""
        return rate(self.applications_returned, self.applications)

    @property
    def pension_total(self) -> Decimal:
        return self.basic_pension + self.account_pension

    def renewal_targets(self) -> dict[str, Decimal]:
        return {"16-44": rules.RENEWAL_TARGETS["16-44"], "45-59": rules.RENEWAL_TARGETS["45-59"]}


def _measures(month: dt.date, row: dict | None) -> Measures:
    measures = Measures(month=month)
    if row:
        for name in SUMMED:
            value = row.get(name)
            if value is None:
                continue
            if name in MONEY_FIELDS:
                value = Decimal(value).quantize(FEN)  # SQLite's sums lose the two places
            setattr(measures, name, value)
    return measures


def require_region(*, user, region: Region) -> None:
    """A region is readable when its code is in the user's scope (a township clerk reads their township only)."""
    prefix = scope_prefix(user)
    if prefix is None or not (code_in_scope(user, region.code) and len(region.scope_prefix) >= len(prefix)):
        raise Http404


def _summaries(region: Region):
    return MonthlySummary.objects.filter(region_code__startswith=region.scope_prefix)


def month_measures(*, user, region: Region, month: dt.date) -> Measures:
    require_region(user=user, region=region)
    month = month.replace(day=1)
    row = _summaries(region).filter(month=month).aggregate(**{name: Sum(name) for name in SUMMED})
    return _measures(month, row)


def trend(*, user, region: Region, first: dt.date, last: dt.date) -> list[Measures]:
    """The region's measures month by month from ``first`` to ``last`` (one grouped query); months without
    summaries come back as zeros, so a chart's axis has no gaps."""
    from portal.summaries import months_between

    require_region(user=user, region=region)
    rows = (
        _summaries(region)
        .filter(month__gte=first.replace(day=1), month__lte=last)
        .values("month")
        .annotate(**{name: Sum(name) for name in SUMMED})
        .order_by("month")
    )
    by_month = {row["month"]: row for row in rows}
    return [_measures(month, by_month.get(month)) for month in months_between(first, last)]


def children(*, user, region: Region, month: dt.date) -> list[tuple[Region, Measures]]:
    """The regions one level below (city → counties → townships → villages) with their measures for the month,
    in code order (one grouped query and one for the names)."""
    require_region(user=user, region=region)
    child_level = CHILD_LEVEL.get(RegionLevel(region.level))
    if child_level is None:
        return []
    month = month.replace(day=1)
    width = PREFIX_LENGTH[child_level]
    rows = (
        _summaries(region)
        .filter(month=month)
        .annotate(child=Substr("region_code", 1, width))
        .values("child")
        .annotate(**{name: Sum(name) for name in SUMMED})
        .order_by()
    )
    by_prefix = {row["child"]: row for row in rows}
    regions = Region.objects.filter(parent=region, level=child_level).order_by("code")
    return [(child, _measures(month, by_prefix.get(child.scope_prefix))) for child in regions]


def measure_names() -> list[str]:
    return [item.name for item in fields(Measures) if item.name != "month"]


def month_summarized(month: dt.date) -> bool:
    """Whether a nightly run has finished for ``month``: before that, its missing summaries are no real zeros."""
    return SummaryRun.objects.filter(month=month.replace(day=1), finished_at__isnull=False).exists()
