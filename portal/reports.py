"""The monthly statistical report set (五套业务报表) of a region and month, as .xlsx, kept for later download.

1. 参保情况报表, 2. 缴费情况报表 and 3. 待遇发放报表 read ``portal.measures`` only (``children`` for the rows, one
   per region one level down, ``month_measures`` for the 合计 row, ``children``/``trend`` month by month for the
   year to date), so a report never shows a number the dashboard does not.
4. 基金收支报表: per pooling region the region holds whole, from the funds app's books. The two funds are kept
   apart (分账管理), and every line has one source, so no money is counted twice:
   - the individual-account fund's income and its refunds and transfers from the ledger (``LedgerEntry``,
     reversals netted into the kind they reverse): 个人缴费 (contribution), 政府补贴 (subsidy, 代缴),
     集体补助及社会资助 (collective, donation), 利息 (interest), 转移收入 (transfer in), 退费及继承 (refund,
     inheritance), 转移支出 (transfer out). Recoveries of overpaid pensions and subsidies returned to the fund
     move money inside the fund and are no income or expenditure of it.
   - the basic pension's government funding (finance's receipts of the basic-pension fund into the fiscal
     special account) and the pensions paid (payout movements, by fund) from the fund accounts' movements;
   - the balance of each fund account (收入户, 支出户, 财政专户) at the month's end from the nightly
     ``FundBalanceSummary`` rows, the very ones the dashboard shows, so the two never disagree.
   A township holds no fund: it has no set 4.
5. 个人账户报表: accounts open at the month's end and their balance by component, from the ledger entries booked
   on or before the month's end; the month's credits and debits by entry kind. Grouped aggregates, one per
   figure, whatever the number of accounts.

``report_produce`` writes the workbook to the default storage first, then switches the kept row (one per region,
month and set) to it in a transaction; the file it replaced is deleted once that commits.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, Substr
from django.utils import timezone
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.utils import get_column_letter

from agencies.errors import DomainError
from agencies.exports import HEADER_FILL
from agencies.models import PREFIX_LENGTH, PoolingRegion, Region, RegionLevel
from agencies.money import ZERO, money_total
from agencies.permissions import Action, require
from agencies.scope import get_scoped_or_404, scoped
from funds.fund_accounts import FINANCE
from funds.models import (
    Component,
    EntryKind,
    Fund,
    FundAccountKind,
    FundMovement,
    IndividualAccount,
    LedgerEntry,
    MovementKind,
)
from portal.measures import CHILD_LEVEL, Measures, children, month_measures, month_summarized, require_region, trend
from portal.models import FundBalanceSummary, ReportFile, ReportSet
from portal.summaries import month_end, months_between

audit = logging.getLogger("portal.audit")

# The levels a report set is made for; a village's figures are a row of its township's reports.
REPORT_LEVELS = (RegionLevel.CITY, RegionLevel.COUNTY, RegionLevel.TOWNSHIP)
UNIT = "单位：人、元"

COUNT, MONEY, RATE, TEXT = "count", "money", "rate", "text"
NUMBER_FORMATS = {COUNT: "#,##0", MONEY: "#,##0.00", RATE: "0.00%"}
THIN = Side(style="thin", color="888888")
BOX = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)


@dataclass(frozen=True)
class Column:
    label: str
    kind: str = COUNT
    group: str = ""  # the upper heading of a two-level header
    width: int = 12


@dataclass
class ReportTable:
    """One report set's sheet: its name (表名), columns and rows (the last one the 合计 row, where it has one)."""

    name: str
    columns: list[Column]
    rows: list[list] = field(default_factory=list)
    note: str = ""


# --- the region and month ----------------------------------------------------------------------------------


def report_regions(*, user) -> QuerySet[Region]:
    """The regions in the user's scope that reports are made for (their own and those below, down to townships)."""
    return scoped(Region.objects.filter(level__in=REPORT_LEVELS), user).order_by("code")


def _check_region(user, region: Region) -> None:
    require_region(user=user, region=region)  # outside the scope: 404
    if region.level not in REPORT_LEVELS:
        raise DomainError(_("统计报表按市、县（区）、乡镇（街道）编制，村级数据见所属乡镇的报表。"), field="region")


def _check_month(month: dt.date, today: dt.date) -> dt.date:
    month = month.replace(day=1)
    if month > today.replace(day=1):
        raise DomainError(_("%(m)s尚未开始，请选择本月或以前的月份。") % {"m": f"{month:%Y年%m月}"}, field="month")
    return month


def _child_regions(region: Region) -> list[Region]:
    level = CHILD_LEVEL.get(RegionLevel(region.level))
    if level is None:
        return []
    return list(Region.objects.filter(parent=region, level=level).order_by("code"))


# --- 1–3: the measures ---------------------------------------------------------------------------------------


@dataclass
class YearToDate:
    payers: int = 0
    income: Decimal = ZERO


def _year_to_date(*, user, region: Region, month: dt.date) -> tuple[dict[str, YearToDate], YearToDate]:
    """Payers and personal income from January to ``month``: by child region (``children`` month by month, at
    most twelve grouped queries) and for the whole region (``trend``, one)."""
    january = month.replace(month=1, day=1)
    by_child: dict[str, YearToDate] = defaultdict(YearToDate)
    for each in months_between(january, month):
        for child, measures in children(user=user, region=region, month=each):
            by_child[child.code].payers += measures.payers
            by_child[child.code].income += measures.contribution_income
    total = YearToDate()
    for measures in trend(user=user, region=region, first=january, last=month):
        total.payers += measures.payers
        total.income += measures.contribution_income
    return by_child, total


def _measure_rows(*, user, region: Region, month: dt.date) -> list[tuple[str, str, Measures]]:
    """(name, code, measures) for each child region, then the 合计 row of the region itself."""
    rows = [(child.name, child.code, m) for child, m in children(user=user, region=region, month=month)]
    rows.append((_("合计"), region.code, month_measures(user=user, region=region, month=month)))
    return rows


PLACE_COLUMNS = [Column("地区", TEXT, width=18), Column("区划代码", TEXT, width=14)]


def enrolment_table(*, user, region: Region, month: dt.date) -> ReportTable:
    """参保情况报表: who should be insured, who is (of them, who paid this year and who receives), coverage,
    the month's new members and cancellations."""
    month = month.replace(day=1)
    ytd, ytd_total = _year_to_date(user=user, region=region, month=month)
    table = ReportTable(
        name=str(ReportSet.ENROLMENT.label),
        columns=[
            *PLACE_COLUMNS,
            Column("应参保人数"),
            Column("合计", group="参保人数"),
            Column("其中：本年缴费人数", group="参保人数", width=14),
            Column("其中：领取待遇人数", group="参保人数", width=14),
            Column("参保率", RATE),
            Column("本月新增参保"),
            Column("本月注销"),
        ],
    )
    for name, code, m in _measure_rows(user=user, region=region, month=month):
        payers = ytd_total.payers if code == region.code else ytd[code].payers
        table.rows.append(
            [name, code, m.should_insure, m.insured, payers, m.recipients, m.coverage, m.new_members, m.cancelled]
        )
    return table


def contributions_table(*, user, region: Region, month: dt.date) -> ReportTable:
    """缴费情况报表: payers and personal income in the month and year to date; renewal (续保) by age band."""
    month = month.replace(day=1)
    ytd, ytd_total = _year_to_date(user=user, region=region, month=month)
    table = ReportTable(
        name=str(ReportSet.CONTRIBUTIONS.label),
        columns=[
            *PLACE_COLUMNS,
            Column("本月", group="缴费人数"),
            Column("本年累计", group="缴费人数"),
            Column("本月", MONEY, group="个人缴费收入", width=14),
            Column("本年累计", MONEY, group="个人缴费收入", width=14),
            Column("应续保人数", group="16-44岁续保"),
            Column("已续保人数", group="16-44岁续保"),
            Column("续保率", RATE, group="16-44岁续保"),
            Column("应续保人数", group="45-59岁续保"),
            Column("已续保人数", group="45-59岁续保"),
            Column("续保率", RATE, group="45-59岁续保"),
            Column("已续保合计"),
        ],
    )
    for name, code, m in _measure_rows(user=user, region=region, month=month):
        year = ytd_total if code == region.code else ytd[code]
        table.rows.append(
            [
                name,
                code,
                m.payers,
                year.payers,
                m.contribution_income,
                year.income,
                m.renewal_due_young,
                m.renewal_paid_young,
                m.renewal_young,
                m.renewal_due_old,
                m.renewal_paid_old,
                m.renewal_old,
                m.renewals,
            ]
        )
    return table


def benefits_table(*, user, region: Region, month: dt.date) -> ReportTable:
    """待遇发放报表: recipients, the month's payroll lines due and paid, payout rate, the money by part."""
    month = month.replace(day=1)
    table = ReportTable(
        name=str(ReportSet.BENEFITS.label),
        columns=[
            *PLACE_COLUMNS,
            Column("领取待遇人数"),
            Column("应发人数", group="本月发放"),
            Column("已发人数", group="本月发放"),
            Column("发放率", RATE, group="本月发放"),
            Column("基础养老金", MONEY, group="发放金额", width=14),
            Column("个人账户养老金", MONEY, group="发放金额", width=14),
            Column("合计", MONEY, group="发放金额", width=14),
        ],
    )
    for name, code, m in _measure_rows(user=user, region=region, month=month):
        table.rows.append(
            [
                name,
                code,
                m.recipients,
                m.payroll_lines,
                m.payroll_paid,
                m.payout_rate,
                m.basic_pension,
                m.account_pension,
                m.pension_total,
            ]
        )
    return table


# --- 4: the fund's income and expenditure ---------------------------------------------------------------------


def held_pooling_regions(region: Region) -> list[PoolingRegion]:
    """The pooling regions every place of which lies in ``region`` (a city holds its counties' funds; a county its
    own), for this report and the dashboard's fund section alike (two queries). Since the region is in the user's
    scope, the user covers each of them. A pooling region merged whole has no places left: it goes with the one
    it joined (its accounts still hold the money moved before the merger)."""
    prefix = region.scope_prefix
    inside = Region.objects.filter(code__startswith=prefix, pooling_region__isnull=False).values("pooling_region")
    places: dict[int, list[str]] = defaultdict(list)
    pooling: dict[int, PoolingRegion] = {}
    for place in Region.objects.filter(pooling_region__in=inside).select_related("pooling_region"):
        places[place.pooling_region_id].append(place.code)
        pooling[place.pooling_region_id] = place.pooling_region
    held = [pooling[pk] for pk, codes in places.items() if all(code.startswith(prefix) for code in codes)]
    if held:
        with_places = Region.objects.filter(pooling_region__isnull=False).values("pooling_region")
        held += PoolingRegion.objects.filter(merged_into__in=[p.pk for p in held]).exclude(pk__in=with_places)
    return sorted(held, key=lambda item: item.code)


# Ledger kinds → the income or expenditure line they belong to (reversals count in the kind they reverse).
LEDGER_LINES = {
    EntryKind.CONTRIBUTION: "contribution",
    EntryKind.SUBSIDY: "subsidy",
    EntryKind.GOVERNMENT_PAID: "subsidy",
    EntryKind.COLLECTIVE: "collective",
    EntryKind.DONATION: "collective",
    EntryKind.INTEREST: "interest",
    EntryKind.TRANSFER_IN: "transfer_in",
    EntryKind.REFUND: "refund",
    EntryKind.INHERITANCE: "refund",
    EntryKind.TRANSFER_OUT: "transfer_out",
}
INCOME_LINES = [
    ("contribution", "个人缴费收入"),
    ("subsidy", "政府补贴收入"),
    ("collective", "集体补助及社会资助收入"),
    ("interest", "利息收入"),
    ("transfer_in", "转移收入"),
]
EXPENDITURE_LINES = [
    ("basic_pension", "基础养老金支出"),
    ("account_pension", "个人账户养老金支出"),
    ("refund", "退费及继承支出"),
    ("transfer_out", "转移支出"),
]
EXPENDITURE_KEYS = {key for key, _label in EXPENDITURE_LINES}
BALANCE_LINES = [(kind, label) for kind, label in FundAccountKind.choices]  # 收入户, 支出户, 财政专户


@dataclass
class FundFigures:
    """One pooling region's lines for the month and the year to date, and its accounts' month-end balances."""

    month: dict[str, Decimal] = field(default_factory=lambda: defaultdict(lambda: ZERO))
    year: dict[str, Decimal] = field(default_factory=lambda: defaultdict(lambda: ZERO))
    balances: dict[str, Decimal] = field(default_factory=lambda: defaultdict(lambda: ZERO))

    def add(self, line: str, month: Decimal, year: Decimal) -> None:
        self.month[line] += month
        self.year[line] += year

    @staticmethod
    def _total(values: dict[str, Decimal], lines) -> Decimal:
        return sum((values[key] for key, _label in lines), ZERO)

    def income(self, period: str) -> Decimal:
        return self._total(getattr(self, period), INCOME_LINES)

    def expenditure(self, period: str) -> Decimal:
        return self._total(getattr(self, period), EXPENDITURE_LINES)

    def balance_total(self) -> Decimal:
        return self._total(self.balances, BALANCE_LINES)


def fund_figures(*, pooling_regions: Iterable[PoolingRegion], month: dt.date) -> dict[int, FundFigures]:
    """Each pooling region's fund figures for ``month`` (three grouped queries for all of them). Expenditure is
    positive. The caller has checked the regions are held by a region in the user's scope."""
    ids = [p.pk for p in pooling_regions]
    first, last = month.replace(day=1), month_end(month)
    january = first.replace(month=1)
    figures: dict[int, FundFigures] = {pk: FundFigures() for pk in ids}
    in_month = Q(booked_on__gte=first)
    ledger = (
        LedgerEntry.objects.filter(account__pooling_region__in=ids, booked_on__gte=january, booked_on__lte=last)
        .annotate(line_kind=Coalesce("reverses__kind", "kind"))
        .values("account__pooling_region", "line_kind")
        .annotate(month=Sum("amount", filter=in_month), year=Sum("amount"))
        .order_by()
    )
    for row in ledger:
        line = LEDGER_LINES.get(row["line_kind"])
        if line is None:
            continue
        sign = -1 if line in EXPENDITURE_KEYS else 1  # debits are negative in the ledger
        figures[row["account__pooling_region"]].add(
            line, sign * money_total(row["month"]), sign * money_total(row["year"])
        )
    moved = (
        FundMovement.objects.filter(account__pooling_region__in=ids, booked_on__gte=january, booked_on__lte=last)
        .filter(
            Q(kind=MovementKind.PAYOUT) | Q(kind=MovementKind.TRANSFER_IN, fund=Fund.BASIC_PENSION, counterpart=FINANCE)
        )
        .values("account__pooling_region", "kind", "fund")
        .annotate(month=Sum("amount", filter=in_month), year=Sum("amount"))
        .order_by()
    )
    for row in moved:
        if row["kind"] == MovementKind.PAYOUT:
            line = "basic_pension" if row["fund"] == Fund.BASIC_PENSION else "account_pension"
            sign = -1
        else:
            line, sign = "subsidy", 1  # the basic pension's funding from finance
        figures[row["account__pooling_region"]].add(
            line, sign * money_total(row["month"]), sign * money_total(row["year"])
        )
    # The month-end balances the dashboard shows: the nightly FundBalanceSummary rows, both funds per account.
    for row in FundBalanceSummary.objects.filter(pooling_region__in=ids, month=first):
        figures[row.pooling_region_id].balances[row.account_kind] += money_total(row.balance)
    return figures


def fund_table(*, user, region: Region, month: dt.date) -> ReportTable:
    """基金收支报表: one pair of columns (本月数, 本年累计数) per pooling region the region holds, and their 合计."""
    require_region(user=user, region=region)
    if region.level == RegionLevel.TOWNSHIP:
        raise DomainError(_("乡镇（街道）不单独核算基金，基金收支报表请按县（区）或市编制。"), field="report_set")
    month = month.replace(day=1)
    pooling_regions = held_pooling_regions(region)
    if not pooling_regions:
        own = region.effective_pooling_region()
        raise DomainError(
            _("%(name)s属于%(pool)s，该统筹区的基金由其所含各区县共同核算，基金收支报表请按上一级编制。")
            % {"name": region.full_name(), "pool": own.name if own else _("其他统筹区")},
            field="region",
        )
    figures = fund_figures(pooling_regions=pooling_regions, month=month)
    groups: list[tuple[str, list[FundFigures]]] = [(p.name, [figures[p.pk]]) for p in pooling_regions]
    if len(pooling_regions) > 1:
        groups.append((_("合计"), [figures[p.pk] for p in pooling_regions]))
    columns = [Column("项目", TEXT, width=26), Column("行次", COUNT, width=6)]
    for name, _parts in groups:
        columns += [Column("本月数", MONEY, group=name, width=15), Column("本年累计数", MONEY, group=name, width=15)]
    table = ReportTable(
        name=str(ReportSet.FUND.label),
        columns=columns,
        note=_("期末余额按各基金专户月末账面余额填列（本年累计数栏不填）。"),
    )

    def line(label: str, month_value, year_value) -> None:
        row: list = [label, len(table.rows) + 1]
        for _name, parts in groups:
            row.append(sum((month_value(f) for f in parts), ZERO))
            row.append(None if year_value is None else sum((year_value(f) for f in parts), ZERO))
        table.rows.append(row)

    line(_("一、基金收入合计"), lambda f: f.income("month"), lambda f: f.income("year"))
    for key, label in INCOME_LINES:
        line(f"  {label}", lambda f, k=key: f.month[k], lambda f, k=key: f.year[k])
    line(_("二、基金支出合计"), lambda f: f.expenditure("month"), lambda f: f.expenditure("year"))
    for key, label in EXPENDITURE_LINES:
        line(f"  {label}", lambda f, k=key: f.month[k], lambda f, k=key: f.year[k])
    line(
        _("三、本期收支结余"),
        lambda f: f.income("month") - f.expenditure("month"),
        lambda f: f.income("year") - f.expenditure("year"),
    )
    line(_("四、期末基金专户余额"), lambda f: f.balance_total(), None)
    for kind, label in BALANCE_LINES:
        line(f"  {label}", lambda f, k=kind: f.balances[k], None)
    return table


# --- 5: individual accounts --------------------------------------------------------------------------------------

CREDIT_KINDS = [
    EntryKind.CONTRIBUTION,
    EntryKind.SUBSIDY,
    EntryKind.COLLECTIVE,
    EntryKind.DONATION,
    EntryKind.GOVERNMENT_PAID,
    EntryKind.INTEREST,
    EntryKind.TRANSFER_IN,
]
DEBIT_KINDS = [
    EntryKind.PENSION,
    EntryKind.TRANSFER_OUT,
    EntryKind.REFUND,
    EntryKind.INHERITANCE,
    EntryKind.RECOVERY,
    EntryKind.FORFEIT,
]


@dataclass
class AccountFigures:
    """One place's individual accounts for a month: open accounts at its end, balances by component at its start
    and end, and the month's entries by kind (signed, as booked)."""

    accounts: int = 0
    opening: dict[str, Decimal] = field(default_factory=lambda: defaultdict(lambda: ZERO))
    closing: dict[str, Decimal] = field(default_factory=lambda: defaultdict(lambda: ZERO))
    flows: dict[str, Decimal] = field(default_factory=lambda: defaultdict(lambda: ZERO))

    def add(self, other: AccountFigures) -> None:
        self.accounts += other.accounts
        for mine, theirs in ((self.opening, other.opening), (self.closing, other.closing), (self.flows, other.flows)):
            for key, value in theirs.items():
                mine[key] += value

    @property
    def opening_total(self) -> Decimal:
        return sum(self.opening.values(), ZERO)

    @property
    def closing_total(self) -> Decimal:
        return sum(self.closing.values(), ZERO)

    @property
    def credits(self) -> Decimal:
        return sum((self.flows[k] for k in CREDIT_KINDS), ZERO)

    @property
    def debits(self) -> Decimal:
        return -sum((self.flows[k] for k in DEBIT_KINDS), ZERO)


def account_figures(*, user, region: Region, month: dt.date) -> tuple[dict[str, AccountFigures], AccountFigures]:
    """The individual accounts of each region one level down (by code prefix) and of the whole region for
    ``month``: three grouped queries over the accounts and the ledger under the region's code."""
    require_region(user=user, region=region)
    first, last = month.replace(day=1), month_end(month)
    level = CHILD_LEVEL.get(RegionLevel(region.level))
    width = PREFIX_LENGTH[level] if level is not None else len(region.code)
    prefix = region.scope_prefix
    by_child: dict[str, AccountFigures] = defaultdict(AccountFigures)
    open_accounts = (
        IndividualAccount.objects.filter(region_code__startswith=prefix, opened_on__lte=last)
        .filter(Q(closed_on__isnull=True) | Q(closed_on__gt=last))
        .annotate(child=Substr("region_code", 1, width))
        .values("child")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in open_accounts:
        by_child[row["child"]].accounts = row["n"]
    entries = LedgerEntry.objects.filter(account__region_code__startswith=prefix, booked_on__lte=last).annotate(
        child=Substr("account__region_code", 1, width)
    )
    balances = (
        entries.values("child", "component")
        .annotate(closing=Sum("amount"), opening=Sum("amount", filter=Q(booked_on__lt=first)))
        .order_by()
    )
    for row in balances:
        place = by_child[row["child"]]
        place.closing[row["component"]] = money_total(row["closing"])
        place.opening[row["component"]] = money_total(row["opening"])
    flows = entries.filter(booked_on__gte=first).values("child", "kind").annotate(total=Sum("amount")).order_by()
    for row in flows:
        by_child[row["child"]].flows[row["kind"]] = money_total(row["total"])
    total = AccountFigures()
    for place in by_child.values():
        total.add(place)
    return by_child, total


def accounts_table(*, user, region: Region, month: dt.date) -> ReportTable:
    """个人账户报表: accounts, the balance at the month's start, the month's credits and debits by kind, the
    reversals, and the balance by component at the month's end (start + credits − debits + reversals = end)."""
    month = month.replace(day=1)
    by_child, total = account_figures(user=user, region=region, month=month)
    components = Component.values
    component_labels = dict(Component.choices)
    kind_labels = dict(EntryKind.choices)
    columns = [
        *PLACE_COLUMNS,
        Column("账户数"),
        Column("月初余额", MONEY, width=15),
        *(Column(str(kind_labels[k]), MONEY, group="本月记入", width=13) for k in CREDIT_KINDS),
        Column("小计", MONEY, group="本月记入", width=14),
        *(Column(str(kind_labels[k]), MONEY, group="本月支付", width=13) for k in DEBIT_KINDS),
        Column("小计", MONEY, group="本月支付", width=14),
        Column("冲正", MONEY),
        *(Column(str(component_labels[c]), MONEY, group="月末余额", width=14) for c in components),
        Column("合计", MONEY, group="月末余额", width=15),
    ]
    table = ReportTable(name=str(ReportSet.ACCOUNTS.label), columns=columns)

    def row(name: str, code: str, f: AccountFigures) -> list:
        return [
            name,
            code,
            f.accounts,
            f.opening_total,
            *(f.flows[k] for k in CREDIT_KINDS),
            f.credits,
            *(-f.flows[k] for k in DEBIT_KINDS),
            f.debits,
            f.flows[EntryKind.REVERSAL],
            *(f.closing[c] for c in components),
            f.closing_total,
        ]

    for child in _child_regions(region):
        table.rows.append(row(child.name, child.code, by_child.get(child.scope_prefix, AccountFigures())))
    table.rows.append(row(_("合计"), region.code, total))
    return table


BUILDERS = {
    ReportSet.ENROLMENT: enrolment_table,
    ReportSet.CONTRIBUTIONS: contributions_table,
    ReportSet.BENEFITS: benefits_table,
    ReportSet.FUND: fund_table,
    ReportSet.ACCOUNTS: accounts_table,
}


def report_sets_for(region: Region) -> list[str]:
    """The sets a region's reports comprise: all five, but no fund report where the region holds no fund (a
    township; a district within a city's pooling region)."""
    holds_fund = region.level != RegionLevel.TOWNSHIP and bool(held_pooling_regions(region))
    return [s for s in ReportSet.values if holds_fund or s != ReportSet.FUND]


# --- the workbook ------------------------------------------------------------------------------------------------


def report_title(region: Region, table: ReportTable) -> str:
    return f"{region.full_name()}城乡居民基本养老保险{table.name}"


def workbook_bytes(*, table: ReportTable, region: Region, month: dt.date, unit_name: str, filler: str, today) -> bytes:
    """The sheet as an agency lays it out: title, 填报单位 / 统计期 / unit, the two header rows, the rows and
    the signatures, ready to print on A4 landscape with the headers repeated on every page."""
    book = Workbook()
    sheet = book.active
    sheet.title = str(table.name)[:31]
    width = len(table.columns)
    last = get_column_letter(width)

    sheet.append([report_title(region, table)])
    sheet.merge_cells(f"A1:{last}1")
    sheet["A1"].font = Font(bold=True, size=15)
    sheet["A1"].alignment = Alignment(horizontal="center", vertical="center")
    sheet.row_dimensions[1].height = 28

    meta: list = [None] * width
    meta[0] = f"填报单位：{unit_name}"
    middle = max(1, width // 2 - 1)
    meta[middle] = f"统计期：{month:%Y年%m月}"
    meta[width - 1] = UNIT
    sheet.append(meta)
    sheet.cell(row=2, column=width).alignment = Alignment(horizontal="right")

    # Two header rows: a grouped column's group above its label; a plain one spans both rows.
    top = [column.group or column.label for column in table.columns]
    bottom = [column.label if column.group else None for column in table.columns]
    sheet.append(top)
    sheet.append(bottom)
    header_rows = (3, 4)
    start = 1
    while start <= width:
        column = table.columns[start - 1]
        if column.group:
            end = start
            while end < width and table.columns[end].group == column.group:
                end += 1
            if end > start:
                sheet.merge_cells(start_row=3, start_column=start, end_row=3, end_column=end)
            start = end + 1
        else:
            sheet.merge_cells(start_row=3, start_column=start, end_row=4, end_column=start)
            start += 1
    for row in header_rows:
        for index in range(1, width + 1):
            cell = sheet.cell(row=row, column=index)
            cell.font = Font(bold=True)
            cell.fill = HEADER_FILL
            cell.border = BOX
            cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)

    for values in table.rows:
        sheet.append(values)
        row = sheet.max_row
        for index, column in enumerate(table.columns, start=1):
            cell = sheet.cell(row=row, column=index)
            cell.border = BOX
            if column.kind in NUMBER_FORMATS:
                cell.number_format = NUMBER_FORMATS[column.kind]
    if table.rows and table.rows[-1][0] == _("合计"):
        for index in range(1, width + 1):
            sheet.cell(row=sheet.max_row, column=index).font = Font(bold=True)

    if table.note:
        sheet.append([f"注：{table.note}"])
    sheet.append([])
    gap = "\u3000" * 6
    sheet.append([f"单位负责人：{gap}填表人：{filler}{gap}填报日期：{today:%Y年%m月%d日}"])

    for index, column in enumerate(table.columns, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = column.width
    sheet.freeze_panes = "C5" if table.columns[1].label == "区划代码" else "A5"
    sheet.print_title_rows = "3:4"
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    handle = io.BytesIO()
    book.save(handle)
    return handle.getvalue()


# --- producing and keeping -----------------------------------------------------------------------------------------


def report_table(*, user, region: Region, month: dt.date, report_set: str) -> ReportTable:
    """The sheet of one set for the region and month, read as the user (scope first: 404 outside it)."""
    _check_region(user, region)
    try:
        builder = BUILDERS[ReportSet(report_set)]
    except ValueError:
        raise DomainError(_("请选择要生成的报表。"), field="report_set") from None
    month = month.replace(day=1)
    if not month_summarized(month):
        # Before its nightly run a month has no summaries: a report would keep zeros that are no real figures.
        raise DomainError(_("本月数据尚未汇总（每晚汇总）"), field="month")
    return builder(user=user, region=region, month=month)


def report_file_name(region: Region, month: dt.date, report_set: str) -> str:
    """What a download is called: 区划全称 + 统计期 + 表名."""
    return f"{region.full_name()}{month:%Y年%m月}{ReportSet(report_set).label}.xlsx"


def report_produce(
    *, actor, region: Region, month: dt.date, report_set: str, today: dt.date | None = None
) -> ReportFile:
    """Build one set's workbook for the region and month and keep it, replacing the one kept before.

    Scope first (a region outside the actor's: 404), then the role (Action.PRODUCE_REPORTS: 403). The new file
    is written before the row is switched to it; the old file is deleted once the switch commits, so a failure
    anywhere leaves the kept report as it was (and no stray file)."""
    _check_region(actor, region)
    require(actor, Action.PRODUCE_REPORTS)
    today = today or timezone.localdate()
    month = _check_month(month, today)
    table = report_table(user=actor, region=region, month=month, report_set=report_set)
    agency = getattr(actor, "agency", None)
    content = workbook_bytes(
        table=table,
        region=region,
        month=month,
        unit_name=agency.name if agency is not None else region.full_name(),
        filler=actor.display_name,
        today=today,
    )
    kept = _keep(actor=actor, region=region, month=month, report_set=report_set, content=content)
    audit.info(
        "report produced: user=%s region=%s month=%s set=%s sha256=%s",
        actor.pk,
        region.code,
        f"{month:%Y-%m}",
        report_set,
        kept.sha256,
    )
    return kept


def _keep(*, actor, region: Region, month: dt.date, report_set: str, content: bytes) -> ReportFile:
    file_field = ReportFile._meta.get_field("file")
    storage = file_field.storage
    stored = storage.save(
        file_field.generate_filename(None, f"{region.code}-{month:%Y%m}-{report_set}.xlsx"), ContentFile(content)
    )
    digest = hashlib.sha256(content).hexdigest()
    key = {"region_code": region.code, "month": month, "report_set": report_set}
    try:
        for attempt in (1, 2):
            try:
                with transaction.atomic():
                    kept = ReportFile.objects.select_for_update().filter(**key).first()
                    if kept is None:
                        kept = ReportFile.objects.create(**key, file=stored, sha256=digest, produced_by=actor)
                        return kept
                    replaced = kept.file.name
                    kept.file.name = stored
                    kept.sha256 = digest
                    kept.produced_by = actor
                    kept.save(update_fields=["file", "sha256", "produced_by", "produced_at"])
                    if replaced and replaced != stored:
                        transaction.on_commit(lambda name=replaced: storage.delete(name))
                    return kept
            except IntegrityError:
                # Someone kept the same report a moment ago: replace theirs on the second pass.
                if attempt == 2:
                    raise
    except BaseException:
        storage.delete(stored)
        raise
    raise AssertionError("unreachable")  # pragma: no cover


def report_produce_all(*, actor, region: Region, month: dt.date, today: dt.date | None = None) -> list[ReportFile]:
    """The region's report set for the month: the five (four where the region holds no fund of its own)."""
    _check_region(actor, region)
    require(actor, Action.PRODUCE_REPORTS)
    return [
        report_produce(actor=actor, region=region, month=month, report_set=report_set, today=today)
        for report_set in report_sets_for(region)
    ]


def kept_reports(*, user, region: Region | None = None, month: dt.date | None = None) -> QuerySet[ReportFile]:
    """The kept reports the user may download (their scope), newest month first; of a region and those below it,
    and of a month, when given."""
    rows = scoped(ReportFile.objects.select_related("produced_by"), user)
    if region is not None:
        rows = rows.filter(region_code__startswith=region.scope_prefix)
    if month is not None:
        rows = rows.filter(month=month.replace(day=1))
    return rows.order_by("-month", "region_code", "report_set")


def region_names(codes: Iterable[str]) -> dict[str, str]:
    """Full names of the places behind the codes on a page (one query for the places and their parents)."""
    regions = Region.objects.filter(code__in=set(codes)).select_related("parent__parent__parent")
    return {region.code: region.full_name() for region in regions}


def report_get(*, user, pk) -> ReportFile:
    """A kept report in the user's scope (404 otherwise)."""
    return get_scoped_or_404(ReportFile.objects.all(), user, pk=pk)
