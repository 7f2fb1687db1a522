"""The supervisors' dashboard (统计分析): one region's measures for one month, shaped into headline cards, chart
series and the tables beneath the charts.

Every figure comes from ``portal.measures`` (the month's measures are the last point of the region's trend, the
children's come from ``measures.children``), so a chart, its table, its .xlsx and the monthly reports never differ.
A table is built once as typed cells; the page shows each cell's text and the .xlsx writes its value, so the two
cannot disagree either. The page makes the same few queries whatever the size of the region: summaries are
precomputed per village and month, fund balances are summed in one grouped query for all the pooling regions shown.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.urls import reverse
from django.utils.translation import gettext as _

from agencies.errors import DomainError
from agencies.models import PoolingRegion, Region, RegionLevel
from agencies.money import ZERO, money_total
from agencies.scope import EVERYWHERE, scope_prefix
from contributions.policy import RENEWAL_TARGETS
from funds.fund_accounts import AccountBalance, FundBalances
from funds.models import Fund, FundAccount, FundAccountKind
from portal import measures
from portal.measures import ERROR_RATE_LIMIT, PAYOUT_RATE_TARGET, Measures, rate
from portal.models import FundBalanceSummary, Target
from portal.reports import held_pooling_regions
from portal.summaries import month_end, month_start

TREND_MONTHS = 12
TABLES = ("coverage", "renewal", "trend", "payout", "errors", "funds", "ranking")
MONTH_PATTERN = re.compile(r"^(\d{4})-(\d{1,2})$")
# Levels whose users hold no pooling region's fund (their page has no fund section).
NO_FUNDS_LEVELS = (RegionLevel.TOWNSHIP, RegionLevel.VILLAGE)
HUNDRED = Decimal(100)
THOUSAND = Decimal(1000)


# --- cells and tables: one value, shown as text on the page and written as a number in the .xlsx ------------------


@dataclass(frozen=True)
class Cell:
    value: object  # int, Decimal, date, str or None (no base for a rate)
    kind: str = "text"  # text | int | money | percent | permille | month
    href: str = ""
    flag: str = ""  # "bad" when a rate misses its target, "sum" on a subtotal line

    @property
    def text(self) -> str:
        return cell_text(self.value, self.kind)

    @property
    def numeric(self) -> bool:
        return self.kind != "text" and self.kind != "month"

    @property
    def css(self) -> str:
        classes = ["num"] if self.numeric else []
        if self.kind == "money":
            classes.append("money")
        if self.flag:
            classes.append(self.flag)
        return " ".join(classes)

    @property
    def xlsx_value(self):
        """What the .xlsx cell holds: rates as fractions (formatted 0.00%), the error rate in ‰ as shown."""
        if self.kind == "permille" and self.value is not None:
            return self.value * THOUSAND
        if self.kind == "month" and self.value is not None:
            return f"{self.value:%Y-%m}"
        return self.value


def cell_text(value, kind: str) -> str:
    if value is None:
        return "—"
    if kind == "percent":
        return f"{value * HUNDRED:.2f}%"
    if kind == "permille":
        return f"{value * THOUSAND:.1f}‰"
    if kind == "money":
        return f"{value:,.2f}"
    if kind == "month":
        return f"{value:%Y-%m}"
    return str(value)


@dataclass(frozen=True)
class Column:
    label: str
    kind: str = "text"

    @property
    def numeric(self) -> bool:
        return self.kind not in ("text", "month")


@dataclass
class Table:
    key: str
    title: str
    columns: list[Column]
    rows: list[list[Cell]] = field(default_factory=list)
    foot: list[list[Cell]] = field(default_factory=list)
    note: str = ""
    empty: str = ""


@dataclass
class Section:
    """A part of the page: its charts (``data-chart`` keys the script draws) and the table beneath them."""

    key: str
    title: str
    charts: list[str]
    table: Table
    note: str = ""


@dataclass(frozen=True)
class Card:
    """A headline figure: the month's value and its change against the previous month."""

    key: str
    label: str
    value: str
    change: str = ""
    direction: str = ""  # up | down | "" (no change, or no figure)
    note: str = ""
    flag: str = ""


@dataclass(frozen=True)
class Progress:
    """The year's target of the region and how far it has come: a count as a share of its target, a rate
    as met or the percentage points still missing."""

    label: str
    done: str
    target: str
    share: Decimal | None  # done / target, for the bar
    remark: str

    @property
    def width(self) -> str:
        if self.share is None:
            return "0"
        return f"{min(self.share, Decimal(1)) * HUNDRED:.0f}"


def _count_progress(label: str, done: int, target: int) -> Progress:
    share = rate(done, target)
    return Progress(label, str(done), str(target), share, cell_text(share, "percent"))


def _rate_progress(label: str, done: Decimal, target: Decimal) -> Progress:
    share = (done / target) if target else None
    if done >= target:
        remark = _("已达标")
    else:
        remark = _("差%(points)s个百分点") % {"points": f"{(target - done) * HUNDRED:.2f}"}
    return Progress(label, cell_text(done, "percent"), cell_text(target, "percent"), share, remark)


@dataclass(frozen=True)
class Crumb:
    region: Region
    href: str


@dataclass
class Dashboard:
    region: Region
    month: dt.date
    breadcrumb: list[Crumb]
    current: Measures
    previous: Measures
    months: list[Measures]
    children: list[tuple[Region, Measures]]
    child_links: list[Crumb]
    target: Target | None
    cards: list[Card]
    progress: list[Progress]
    sections: list[Section]
    funds: list[FundBalances]
    funds_on: dt.date | None
    chart_data: dict
    # False until a nightly run has finished for the month: its missing summaries are no real zeros.
    summarized: bool = True

    def table(self, key: str) -> Table:
        for section in self.sections:
            if section.table.key == key:
                return section.table
        raise Http404


# --- parameters ----------------------------------------------------------------------------------------------


def running_month(today: dt.date) -> dt.date:
    return month_start(today)


def add_months(month: dt.date, count: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + count
    return dt.date(index // 12, index % 12 + 1, 1)


def parse_month(raw: str | None, *, today: dt.date) -> dt.date:
    """``YYYY-MM`` to the month's first day; empty means the running month. A month not yet begun is refused."""
    if not raw:
        return running_month(today)
    found = MONTH_PATTERN.match(raw.strip())
    if not found or not 1 <= int(found.group(2)) <= 12:
        raise DomainError(_("月份格式应为“年-月”，例如 2026-03。"), field="month")
    month = dt.date(int(found.group(1)), int(found.group(2)), 1)
    if month > running_month(today):
        raise DomainError(_("不能选择尚未开始的月份。"), field="month")
    return month


def _with_ancestors():
    return Region.objects.select_related("parent__parent__parent__parent")


def dashboard_region(*, user, code: str | None) -> Region:
    """The region asked for (404 outside the user's scope), or the user's own agency region. A superuser without
    an agency starts at the top of the tree."""
    if code:
        region = _with_ancestors().filter(code=code.strip()).first()
        if region is None:
            raise Http404
        measures.require_region(user=user, region=region)
        return region
    if scope_prefix(user) is None:
        raise PermissionDenied  # no agency, no jurisdiction: nothing to measure
    agency = getattr(user, "agency", None)
    if agency is not None:
        return _with_ancestors().get(pk=agency.region_id)
    region = _with_ancestors().filter(parent__isnull=True).order_by("code").first()
    if region is None:
        raise Http404
    measures.require_region(user=user, region=region)
    return region


def page_url(region: Region, month: dt.date, **extra: str) -> str:
    query = {"region": region.code, "month": f"{month:%Y-%m}", **extra}
    return f"{reverse('portal:dashboard')}?{urlencode(query)}"


def breadcrumb(*, user, region: Region, month: dt.date) -> list[Crumb]:
    """The region and the regions above it, up to the user's own level (never above it), top first."""
    prefix = scope_prefix(user) or ""
    crumbs = []
    place: Region | None = region
    while place is not None and len(place.scope_prefix) >= len(prefix) and place.code.startswith(prefix):
        crumbs.append(Crumb(place, page_url(place, month)))
        if prefix == EVERYWHERE and place.parent_id is None:
            break
        place = place.parent
    return list(reversed(crumbs))


# --- funds ---------------------------------------------------------------------------------------------------------


def fund_balances_of(*, pooling_regions: list[PoolingRegion], on: dt.date) -> list[FundBalances]:
    """``funds.fund_accounts.fund_balances`` at the end of ``on``'s month (as of the last nightly run, for the
    running month) for several pooling regions at once, in the funds app's own types: read from the nightly
    ``FundBalanceSummary`` rows (two queries), never by summing years of movements while the page waits."""
    if not pooling_regions:
        return []
    ids = [region.pk for region in pooling_regions]
    accounts = {(a.pooling_region_id, a.kind): a for a in FundAccount.objects.filter(pooling_region__in=ids)}
    sums = {
        (row.pooling_region_id, row.account_kind, row.fund): money_total(row.balance)
        for row in FundBalanceSummary.objects.filter(pooling_region__in=ids, month=on.replace(day=1))
    }
    return [
        FundBalances(
            pooling_region=region,
            on=on,
            accounts=[
                AccountBalance(
                    kind=kind,
                    label=str(label),
                    account=accounts.get((region.pk, kind)),
                    individual_account=sums.get((region.pk, kind, Fund.INDIVIDUAL_ACCOUNT), ZERO),
                    basic_pension=sums.get((region.pk, kind, Fund.BASIC_PENSION), ZERO),
                )
                for kind, label in FundAccountKind.choices
            ],
        )
        for region in pooling_regions
    ]


def dashboard_funds(*, user, region: Region, month: dt.date, today: dt.date) -> tuple[list[FundBalances], dt.date]:
    """Balances by account at the month's end (today, for the running month) of the pooling regions the region
    holds; none for a township's or a village's staff."""
    on = min(month_end(month), today)
    agency = getattr(user, "agency", None)
    if agency is not None and agency.region.level in NO_FUNDS_LEVELS:
        return [], on
    return fund_balances_of(pooling_regions=held_pooling_regions(region), on=on), on


# --- shaping -------------------------------------------------------------------------------------------------------


def renewal_rate(item: Measures) -> Decimal | None:
    """Both age bands together, for the ranking."""
    return rate(item.renewals, item.renewal_due_young + item.renewal_due_old)


def _below(value: Decimal | None, target: Decimal | None) -> str:
    return "bad" if value is not None and target is not None and value < target else ""


def _chart_rate(value: Decimal | None, scale: Decimal = HUNDRED) -> str | None:
    return None if value is None else f"{value * scale:.2f}"


def _chart_money(value: Decimal) -> str:
    # Always with its two places (SQLite's sums come back without them).
    return f"{value:.2f}"


def _change(now, before, kind: str) -> tuple[str, str]:
    if now is None or before is None:
        return "", ""
    delta = now - before
    direction = "up" if delta > 0 else "down" if delta < 0 else ""
    sign = "+" if delta > 0 else ""
    if kind == "percent":
        text = _("较上月%(sign)s%(delta)s个百分点") % {"sign": sign, "delta": f"{delta * HUNDRED:.2f}"}
    elif kind == "permille":
        text = _("较上月%(sign)s%(delta)s‰") % {"sign": sign, "delta": f"{delta * THOUSAND:.1f}"}
    elif kind == "money":
        text = _("较上月%(sign)s%(delta)s元") % {"sign": sign, "delta": f"{delta:,.2f}"}
    else:
        text = _("较上月%(sign)s%(delta)s") % {"sign": sign, "delta": delta}
    return text, direction


def _card(key: str, label: str, now, before, kind: str, note: str = "", flag: str = "") -> Card:
    change, direction = _change(now, before, kind)
    return Card(key, label, cell_text(now, kind), change, direction, note, flag)


def headline_cards(current: Measures, previous: Measures, target: Target | None) -> list[Card]:
    young, old = RENEWAL_TARGETS["16-44"], RENEWAL_TARGETS["45-59"]
    coverage_target = target.coverage_rate if target is not None else None
    payout_target = target.payout_rate if target is not None and target.payout_rate is not None else PAYOUT_RATE_TARGET
    coverage_note = _("目标%(target)s") % {"target": cell_text(coverage_target, "percent")} if coverage_target else ""
    return [
        _card(
            "coverage",
            _("参保率"),
            current.coverage,
            previous.coverage,
            "percent",
            coverage_note
            or _("参保%(insured)s人／应参保%(should)s人")
            % {"insured": current.insured, "should": current.should_insure},
            _below(current.coverage, coverage_target),
        ),
        _card("insured", _("参保人数"), current.insured, previous.insured, "int"),
        _card(
            "renewal_young",
            _("续保率（16-44岁）"),
            current.renewal_young,
            previous.renewal_young,
            "percent",
            _("目标不低于%(target)s") % {"target": cell_text(young, "percent")},
            _below(current.renewal_young, young),
        ),
        _card(
            "renewal_old",
            _("续保率（45-59岁）"),
            current.renewal_old,
            previous.renewal_old,
            "percent",
            _("目标%(target)s") % {"target": cell_text(old, "percent")},
            _below(current.renewal_old, old),
        ),
        _card("new_members", _("本月新增参保"), current.new_members, previous.new_members, "int"),
        _card(
            "contribution_income",
            _("本月个人缴费收入（元）"),
            current.contribution_income,
            previous.contribution_income,
            "money",
        ),
        _card("recipients", _("领取待遇人数"), current.recipients, previous.recipients, "int"),
        _card(
            "payout_rate",
            _("发放率"),
            current.payout_rate,
            previous.payout_rate,
            "percent",
            _("目标%(target)s") % {"target": cell_text(payout_target, "percent")},
            _below(current.payout_rate, payout_target),
        ),
        _card("pension_total", _("本月养老金发放（元）"), current.pension_total, previous.pension_total, "money"),
        _card(
            "error_rate",
            _("录入误差率"),
            current.error_rate,
            previous.error_rate,
            "permille",
            _("不超过%(limit)s") % {"limit": cell_text(ERROR_RATE_LIMIT, "permille")},
            "bad" if current.error_rate is not None and current.error_rate > ERROR_RATE_LIMIT else "",
        ),
        _card(
            "applications_overdue",
            _("超时限未办结"),
            current.applications_overdue,
            previous.applications_overdue,
            "int",
            flag="bad" if current.applications_overdue else "",
        ),
    ]


def target_progress(target: Target | None, current: Measures, months: list[Measures]) -> list[Progress]:
    """The region's targets for the year against what the measures say so far."""
    if target is None:
        return []
    year_to_date = sum(item.new_members for item in months if item.month.year == target.year)
    progress = []
    if target.new_members:
        progress.append(_count_progress(_("新增参保（本年累计）"), year_to_date, target.new_members))
    if target.renewals:
        progress.append(_count_progress(_("续保人数（本年）"), current.renewals, target.renewals))
    if target.coverage_rate is not None and current.coverage is not None:
        progress.append(_rate_progress(_("参保率"), current.coverage, target.coverage_rate))
    if target.payout_rate is not None and current.payout_rate is not None:
        progress.append(_rate_progress(_("发放率"), current.payout_rate, target.payout_rate))
    return progress


def _region_cells(region: Region, href: str = "") -> list[Cell]:
    return [Cell(region.code), Cell(region.name, href=href)]


def coverage_table(
    region: Region, current: Measures, rows: list[tuple[Region, Measures, str]], targets: dict[int, Target]
) -> Table:
    def line(place: Region, item: Measures, href: str) -> list[Cell]:
        target = targets.get(place.pk)
        goal = target.coverage_rate if target is not None else None
        met = None if goal is None or item.coverage is None else (_("是") if item.coverage >= goal else _("否"))
        return [
            *_region_cells(place, href),
            Cell(item.should_insure, "int"),
            Cell(item.insured, "int"),
            Cell(item.coverage, "percent", flag=_below(item.coverage, goal)),
            Cell(goal, "percent"),
            Cell(met),
        ]

    return Table(
        key="coverage",
        title=_("参保率"),
        columns=[
            Column(_("区划代码")),
            Column(_("区划名称")),
            Column(_("应参保人数"), "int"),
            Column(_("参保人数"), "int"),
            Column(_("参保率"), "percent"),
            Column(_("目标参保率"), "percent"),
            Column(_("达标")),
        ],
        rows=[line(place, item, href) for place, item, href in rows],
        foot=[line(region, current, "")],
        note=_("参保率＝参保人数（缴费或领取待遇）÷应参保人数（各村登记的应参保人口），按月末计。"),
        empty=_("没有下级区划。"),
    )


def renewal_table(region: Region, current: Measures, rows: list[tuple[Region, Measures, str]]) -> Table:
    young, old = RENEWAL_TARGETS["16-44"], RENEWAL_TARGETS["45-59"]

    def line(place: Region, item: Measures, href: str) -> list[Cell]:
        return [
            *_region_cells(place, href),
            Cell(item.renewal_due_young, "int"),
            Cell(item.renewal_paid_young, "int"),
            Cell(item.renewal_young, "percent", flag=_below(item.renewal_young, young)),
            Cell(item.renewal_due_old, "int"),
            Cell(item.renewal_paid_old, "int"),
            Cell(item.renewal_old, "percent", flag=_below(item.renewal_old, old)),
        ]

    return Table(
        key="renewal",
        title=_("续保率（分年龄段）"),
        columns=[
            Column(_("区划代码")),
            Column(_("区划名称")),
            Column(_("16-44岁应续保"), "int"),
            Column(_("16-44岁已续保"), "int"),
            Column(_("16-44岁续保率"), "percent"),
            Column(_("45-59岁应续保"), "int"),
            Column(_("45-59岁已续保"), "int"),
            Column(_("45-59岁续保率"), "percent"),
        ],
        rows=[line(place, item, href) for place, item, href in rows],
        foot=[line(region, current, "")],
        note=_("上年已缴费人员中本年已续缴的比例，本缴费年度累计。目标：16-44岁不低于%(young)s，45-59岁%(old)s。")
        % {"young": cell_text(young, "percent"), "old": cell_text(old, "percent")},
        empty=_("没有下级区划。"),
    )


def trend_table(months: list[Measures]) -> Table:
    return Table(
        key="trend",
        title=_("新增参保与个人缴费收入（近12个月）"),
        columns=[
            Column(_("月份"), "month"),
            Column(_("新增参保"), "int"),
            Column(_("注销"), "int"),
            Column(_("缴费人数"), "int"),
            Column(_("个人缴费收入（元）"), "money"),
        ],
        rows=[
            [
                Cell(item.month, "month"),
                Cell(item.new_members, "int"),
                Cell(item.cancelled, "int"),
                Cell(item.payers, "int"),
                Cell(item.contribution_income, "money"),
            ]
            for item in months
        ],
    )


def payout_table(months: list[Measures]) -> Table:
    return Table(
        key="payout",
        title=_("待遇领取与发放（近12个月）"),
        columns=[
            Column(_("月份"), "month"),
            Column(_("领取待遇人数"), "int"),
            Column(_("应发人数"), "int"),
            Column(_("已发人数"), "int"),
            Column(_("发放率"), "percent"),
            Column(_("基础养老金（元）"), "money"),
            Column(_("个人账户养老金（元）"), "money"),
            Column(_("养老金合计（元）"), "money"),
        ],
        rows=[
            [
                Cell(item.month, "month"),
                Cell(item.recipients, "int"),
                Cell(item.payroll_lines, "int"),
                Cell(item.payroll_paid, "int"),
                Cell(item.payout_rate, "percent", flag=_below(item.payout_rate, PAYOUT_RATE_TARGET)),
                Cell(item.basic_pension, "money"),
                Cell(item.account_pension, "money"),
                Cell(item.pension_total, "money"),
            ]
            for item in months
        ],
        note=_("发放率＝当月已发放人数÷应发放人数，目标%(target)s。")
        % {"target": cell_text(PAYOUT_RATE_TARGET, "percent")},
    )


def errors_table(months: list[Measures]) -> Table:
    return Table(
        key="errors",
        title=_("录入误差率与超时限未办结（近12个月）"),
        columns=[
            Column(_("月份"), "month"),
            Column(_("受理申请"), "int"),
            Column(_("退回更正"), "int"),
            Column(_("录入误差率（‰）"), "permille"),
            Column(_("超时限未办结（月末）"), "int"),
        ],
        rows=[
            [
                Cell(item.month, "month"),
                Cell(item.applications, "int"),
                Cell(item.applications_returned, "int"),
                Cell(
                    item.error_rate,
                    "permille",
                    flag="bad" if item.error_rate is not None and item.error_rate > ERROR_RATE_LIMIT else "",
                ),
                Cell(item.applications_overdue, "int", flag="bad" if item.applications_overdue else ""),
            ]
            for item in months
        ],
        note=_(
            "录入误差率＝退回更正的申请÷受理的申请，不超过%(limit)s；超时限未办结为月末仍未办结且已过办理时限的申请。"
        )
        % {"limit": cell_text(ERROR_RATE_LIMIT, "permille")},
    )


def funds_table(balances: list[FundBalances], on: dt.date | None, *, nightly: bool = False) -> Table:
    rows: list[list[Cell]] = []
    for block in balances:
        for account in block.accounts:
            rows.append(
                [
                    Cell(block.pooling_region.name),
                    Cell(account.label),
                    Cell(account.individual_account, "money"),
                    Cell(account.basic_pension, "money"),
                    Cell(account.total, "money"),
                ]
            )
        rows.append(
            [
                Cell(block.pooling_region.name, flag="sum"),
                Cell(_("合计"), flag="sum"),
                Cell(block.individual_account, "money", flag="sum"),
                Cell(block.basic_pension, "money", flag="sum"),
                Cell(block.total, "money", flag="sum"),
            ]
        )
    return Table(
        key="funds",
        title=_("基金余额（分账户）"),
        columns=[
            Column(_("统筹区")),
            Column(_("账户")),
            Column(_("个人账户基金（元）"), "money"),
            Column(_("基础养老金（元）"), "money"),
            Column(_("合计（元）"), "money"),
        ],
        rows=rows,
        note=_("%(as_of)s，按基金账户收支记录计算；只列出全部区划都在本区域内的统筹区。")
        % {"as_of": _("截至最近一次夜间汇总") if nightly else _("截至%(on)s") % {"on": f"{on:%Y-%m-%d}"}}
        if on
        else "",
        empty=_("本区域不含完整的统筹区。"),
    )


def _ranks(values: list[Decimal | None]) -> list[int | None]:
    """Competition ranks (1, 2, 2, 4), highest first; a region without a base has no rank."""
    ordered = sorted((value for value in values if value is not None), reverse=True)
    return [None if value is None else ordered.index(value) + 1 for value in values]


def ranking_table(rows: list[tuple[Region, Measures, str]]) -> Table:
    coverage = [item.coverage for _place, item, _href in rows]
    renewal = [renewal_rate(item) for _place, item, _href in rows]
    coverage_rank, renewal_rank = _ranks(coverage), _ranks(renewal)
    lines = [
        (
            coverage_rank[i],
            renewal_rank[i],
            place.code,
            [
                Cell(coverage_rank[i], "int"),
                *_region_cells(place, href),
                Cell(coverage[i], "percent"),
                Cell(renewal_rank[i], "int"),
                Cell(renewal[i], "percent"),
            ],
        )
        for i, (place, _item, href) in enumerate(rows)
    ]
    big = len(rows) + 1
    lines.sort(key=lambda line: (line[0] or big, line[1] or big, line[2]))
    return Table(
        key="ranking",
        title=_("下级排名"),
        columns=[
            Column(_("参保率名次"), "int"),
            Column(_("区划代码")),
            Column(_("区划名称")),
            Column(_("参保率"), "percent"),
            Column(_("续保率名次"), "int"),
            Column(_("续保率（两个年龄段合计）"), "percent"),
        ],
        rows=[line[3] for line in lines],
        note=_("按参保率排名；续保率为16-59岁上年缴费人员中本年已续缴的比例。没有应参保人数或应续保人数的不排名。"),
        empty=_("没有下级区划。"),
    )


def chart_data(
    *,
    region: Region,
    current: Measures,
    months: list[Measures],
    rows: list[tuple[Region, Measures, str]],
    target: Target | None,
    balances: list[FundBalances],
) -> dict:
    """The series the script draws: rates as percent (‰ for the error rate) and money as text, computed here;
    the script only plots them. A village has no children: its own figures stand in for them."""
    places = rows or [(region, current, "")]
    young, old = RENEWAL_TARGETS["16-44"], RENEWAL_TARGETS["45-59"]
    coverage_target = target.coverage_rate if target is not None else None
    return {
        "region": region.name,
        "places": {
            "names": [place.name for place, _item, _href in places],
            "links": [href for _place, _item, href in places],
            "coverage": [_chart_rate(item.coverage) for _place, item, _href in places],
            "young": [_chart_rate(item.renewal_young) for _place, item, _href in places],
            "old": [_chart_rate(item.renewal_old) for _place, item, _href in places],
        },
        "coverage_region": _chart_rate(current.coverage),
        "coverage_target": _chart_rate(coverage_target),
        "renewal_targets": {"young": _chart_rate(young), "old": _chart_rate(old)},
        "months": [f"{item.month:%Y-%m}" for item in months],
        "new_members": [item.new_members for item in months],
        "contribution_income": [_chart_money(item.contribution_income) for item in months],
        "recipients": [item.recipients for item in months],
        "payout_rate": [_chart_rate(item.payout_rate) for item in months],
        "payout_target": _chart_rate(PAYOUT_RATE_TARGET),
        "basic_pension": [_chart_money(item.basic_pension) for item in months],
        "account_pension": [_chart_money(item.account_pension) for item in months],
        "error_rate": [_chart_rate(item.error_rate, THOUSAND) for item in months],
        "error_limit": _chart_rate(ERROR_RATE_LIMIT, THOUSAND),
        "overdue": [item.applications_overdue for item in months],
        "funds": {
            "regions": [block.pooling_region.name for block in balances],
            "accounts": [
                {"name": str(label), "data": [_chart_money(block.of(kind).total) for block in balances]}
                for kind, label in FundAccountKind.choices
            ],
        },
        "labels": {
            "coverage": _("参保率（%）"),
            "region_figure": _("本区域"),
            "target": _("目标"),
            "young": _("16-44岁续保率（%）"),
            "old": _("45-59岁续保率（%）"),
            "young_target": _("16-44岁目标"),
            "old_target": _("45-59岁目标"),
            "new_members": _("新增参保（人）"),
            "contribution_income": _("个人缴费收入（元）"),
            "recipients": _("领取待遇人数"),
            "payout_rate": _("发放率（%）"),
            "basic_pension": _("基础养老金（元）"),
            "account_pension": _("个人账户养老金（元）"),
            "error_rate": _("录入误差率（‰）"),
            "error_limit": _("上限1‰"),
            "overdue": _("超时限未办结（件）"),
            "people": _("人"),
            "yuan": _("元"),
            "drill": _("点击柱形查看下级"),
        },
    }


def dashboard(*, user, region: Region, month: dt.date, today: dt.date) -> Dashboard:
    """Everything the page shows for the region and month (the caller has resolved the region in scope). A month
    no nightly run has summarized yet (the 1st of a month, before the night) shows no figures at all, never zeros."""
    month = month_start(month)
    if not measures.month_summarized(month):
        return Dashboard(
            region=region,
            month=month,
            breadcrumb=breadcrumb(user=user, region=region, month=month),
            current=Measures(month=month),
            previous=Measures(month=add_months(month, -1)),
            months=[],
            children=[],
            child_links=[],
            target=None,
            cards=[],
            progress=[],
            sections=[],
            funds=[],
            funds_on=None,
            chart_data={},
            summarized=False,
        )
    months = measures.trend(user=user, region=region, first=add_months(month, 1 - TREND_MONTHS), last=month)
    current, previous = months[-1], months[-2]
    kids = measures.children(user=user, region=region, month=month)
    rows = [(place, item, page_url(place, month)) for place, item in kids]
    targets = {
        target.region_id: target
        for target in Target.objects.filter(
            region_id__in=[region.pk, *(place.pk for place, _item in kids)], year=month.year
        )
    }
    target = targets.get(region.pk)
    balances, on = dashboard_funds(user=user, region=region, month=month, today=today)
    sections = [
        Section("coverage", _("参保率"), ["coverage"], coverage_table(region, current, rows, targets)),
        Section("renewal", _("续保率"), ["renewal"], renewal_table(region, current, rows)),
        Section("trend", _("新增参保与个人缴费收入"), ["trend"], trend_table(months)),
        Section("payout", _("领取人数、发放率与养老金"), ["payout", "pensions"], payout_table(months)),
        Section("errors", _("录入误差率与超时限未办结"), ["errors"], errors_table(months)),
    ]
    if balances:
        # The running month's balances are those of last night's run, not of today.
        nightly = month == running_month(today)
        sections.append(Section("funds", _("基金余额"), ["funds"], funds_table(balances, on, nightly=nightly)))
    if rows:
        sections.append(Section("ranking", _("下级排名"), [], ranking_table(rows)))
    return Dashboard(
        region=region,
        month=month,
        breadcrumb=breadcrumb(user=user, region=region, month=month),
        current=current,
        previous=previous,
        months=months,
        children=kids,
        child_links=[Crumb(place, href) for place, _item, href in rows],
        target=target,
        cards=headline_cards(current, previous, target),
        progress=target_progress(target, current, months),
        sections=sections,
        funds=balances,
        funds_on=on,
        chart_data=chart_data(
            region=region, current=current, months=months, rows=rows, target=target, balances=balances
        ),
    )


def child_level_label(region: Region) -> str:
    level = measures.CHILD_LEVEL.get(RegionLevel(region.level))
    return str(RegionLevel(level).label) if level else ""
