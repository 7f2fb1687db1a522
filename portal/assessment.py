"""示范点评估: the standardisation assessment of a county agency, a township station or a village service point.

Each level has a small table of items worth 100 points in all. Most are scored from measures the portal already
has (the Ankang standards: coverage ≥ 98%, renewal 45-59 at 100% and 16-44 at ≥ 70%, payout rate 100%, data-entry
error rate ≤ 1‰, nothing past its time limit, the year's papers filed complete): an item met earns its points,
one not met earns none. The rest need an inspector's judgement (the service window, rules on the wall, the
archive room) and are entered by hand (``AssessmentEntry``), up to their points. 90 points or more pass (达标).

Stocks are read at the chosen month's end, flows (payout, entry errors) from January to that month, all from
``portal.measures``, so the assessment never disagrees with the dashboard.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.db import transaction

from agencies.errors import DomainError
from agencies.models import Region, RegionLevel
from agencies.permissions import Action, require
from agencies.scope import code_in_scope, scope_prefix
from archives.selectors import register_rows, register_summary
from contributions import policy as rules
from portal.measures import (
    ERROR_RATE_LIMIT,
    PAYOUT_RATE_TARGET,
    Measures,
    month_summarized,
    rate,
    require_region,
    trend,
)
from portal.models import AssessmentEntry
from portal.summaries import month_start
from portal.targets import check_year

audit = logging.getLogger("portal.audit")

PASS_MARK = Decimal("90")
COVERAGE_STANDARD = Decimal("0.98")
ASSESSED_LEVELS = (RegionLevel.COUNTY, RegionLevel.TOWNSHIP, RegionLevel.VILLAGE)
SCORE_PLACES = Decimal("0.1")

# Measured items: key → (label, the standard as shown).
MEASURED = {
    "coverage": ("参保率", "参保率达到98%"),
    "renewal_old": ("45-59岁续保率", "45至59周岁参保人员续保率100%"),
    "renewal_young": ("16-44岁续保率", "16至44周岁参保人员续保率不低于70%"),
    "payout": ("待遇发放率", "本年待遇按月足额发放，发放率100%"),
    "error_rate": ("录入误差率", "本年业务录入误差率不超过1‰"),
    "overdue": ("按时限办结", "月末无超过承诺时限未办结的业务"),
    "archives": ("档案齐全", "本年归档材料纸质件均已入库、均有电子件"),
}
# Items an inspector scores by hand: key → (label, what is looked at).
JUDGED = {
    "window": ("服务窗口", "服务场所、窗口设置和标识规范，服务时间公开"),
    "rules_on_wall": ("制度上墙", "政策、办事流程、办理时限和监督电话公开上墙"),
    "archive_room": ("档案规范", "档案室（柜）、档案登记簿和借阅交接登记规范"),
    "fund_management": ("基金管理", "财政专户管理、三方对账按月开展、定期存款比例达标"),
}
# The points of each item, by level: each level's add up to 100.
TABLE: dict[str, tuple[tuple[str, int], ...]] = {
    RegionLevel.COUNTY: (
        ("coverage", 15),
        ("renewal_old", 10),
        ("renewal_young", 10),
        ("payout", 15),
        ("error_rate", 10),
        ("overdue", 10),
        ("archives", 10),
        ("window", 5),
        ("rules_on_wall", 5),
        ("archive_room", 5),
        ("fund_management", 5),
    ),
    RegionLevel.TOWNSHIP: (
        ("coverage", 20),
        ("renewal_old", 10),
        ("renewal_young", 10),
        ("payout", 10),
        ("error_rate", 10),
        ("overdue", 10),
        ("archives", 10),
        ("window", 10),
        ("rules_on_wall", 5),
        ("archive_room", 5),
    ),
    RegionLevel.VILLAGE: (
        ("coverage", 25),
        ("renewal_old", 15),
        ("renewal_young", 10),
        ("payout", 10),
        ("error_rate", 10),
        ("archives", 10),
        ("window", 10),
        ("rules_on_wall", 10),
    ),
}


def judged_items(level: str) -> list[tuple[str, str, int]]:
    """The hand-scored items of a level: (key, label, points)."""
    return [(key, JUDGED[key][0], points) for key, points in TABLE.get(level, ()) if key in JUDGED]


@dataclass(frozen=True)
class ItemScore:
    key: str
    label: str
    standard: str
    points: Decimal
    measured: bool  # scored from the measures (else by an inspector)
    score: Decimal | None  # None: an inspector has not scored it yet
    value: str = ""  # what was measured, as shown
    note: str = ""  # why it counts as met without data, or the inspector's note
    entry: AssessmentEntry | None = None

    @property
    def met(self) -> bool | None:
        if self.score is None:
            return None
        return self.score >= self.points


@dataclass(frozen=True)
class Assessment:
    region: Region
    year: int
    month: dt.date
    items: list[ItemScore]
    measures: Measures  # the month's
    summarized: bool = True  # False: no nightly run has finished for the month, its measures are no real zeros

    @property
    def points(self) -> Decimal:
        return sum((item.points for item in self.items), Decimal(0))

    @property
    def total(self) -> Decimal:
        return sum((item.score for item in self.items if item.score is not None), Decimal(0))

    @property
    def pending(self) -> list[ItemScore]:
        return [item for item in self.items if item.score is None]

    @property
    def complete(self) -> bool:
        return not self.pending

    @property
    def passed(self) -> bool:
        return self.total >= PASS_MARK

    @property
    def pass_mark(self) -> Decimal:
        return PASS_MARK


def _percent(value: Decimal | None, places: int = 2) -> str:
    return "—" if value is None else f"{value * 100:.{places}f}%"


def _measured(key: str, *, month: Measures, ytd: dict[str, int], archives: dict[str, int]) -> tuple[bool, str, str]:
    """(met, the value shown, a note). Without anyone to measure (no one due to renew, no payroll, no application,
    nothing filed) an item is met: there was nothing to fall short on; coverage without a population is not."""
    if key == "coverage":
        value = month.coverage
        if value is None:
            return False, "—", "未登记应参保人数，无法计算参保率"
        return value >= COVERAGE_STANDARD, f"{_percent(value)}（{month.insured}/{month.should_insure}）", ""
    if key in ("renewal_old", "renewal_young"):
        band = "45-59" if key == "renewal_old" else "16-44"
        value = month.renewal_old if key == "renewal_old" else month.renewal_young
        due = month.renewal_due_old if key == "renewal_old" else month.renewal_due_young
        paid = month.renewal_paid_old if key == "renewal_old" else month.renewal_paid_young
        if value is None:
            return True, "—", "无应续保人员"
        return value >= rules.RENEWAL_TARGETS[band], f"{_percent(value)}（{paid}/{due}）", ""
    if key == "payout":
        value = rate(ytd["payroll_paid"], ytd["payroll_lines"])
        if value is None:
            return True, "—", "本年无应发待遇"
        return value >= PAYOUT_RATE_TARGET, f"{_percent(value)}（{ytd['payroll_paid']}/{ytd['payroll_lines']}）", ""
    if key == "error_rate":
        value = rate(ytd["applications_returned"], ytd["applications"])
        if value is None:
            return True, "—", "本年无受理业务"
        shown = f"{value * 1000:.1f}‰（{ytd['applications_returned']}/{ytd['applications']}）"
        return value <= ERROR_RATE_LIMIT, shown, ""
    if key == "overdue":
        return month.applications_overdue == 0, f"{month.applications_overdue}件", ""
    if key == "archives":
        kept = archives["total"] - archives["destroyed"]
        if kept == 0:
            return True, "—", "本年无归档材料"
        shown = f"纸质缺{archives['missing_paper']}件、电子缺{archives['missing_electronic']}件（共{kept}件）"
        return archives["missing_paper"] == 0 and archives["missing_electronic"] == 0, shown, ""
    raise KeyError(key)


_YTD = ("payroll_lines", "payroll_paid", "applications", "applications_returned")
# Read from the register itself, not from the nightly summaries: scored whether the month is summarized or not.
LIVE_ITEMS = ("archives",)
NOT_SUMMARIZED = "本月数据尚未汇总（每晚汇总），本项暂不得分"


def assessment(*, user, region: Region, year: int, month: dt.date) -> Assessment:
    """The region's assessment for the year as of ``month`` (404 outside the user's scope): one query for the
    months' measures, one for the archive register's counts, one for the inspector's entries, one for whether the
    month is summarized (if not, the items read from the summaries earn nothing)."""
    require_region(user=user, region=region)
    if region.level not in ASSESSED_LEVELS:
        raise DomainError("示范点评估针对县级经办机构、乡镇社保所和村代办点，请选择县、乡镇或村。", code="wrong_level")
    year = check_year(year)
    month = month_start(month)
    if month.year != year:
        raise DomainError(f"月份应在{year}年内。", code="invalid_month", field="month")
    months = trend(user=user, region=region, first=dt.date(year, 1, 1), last=month)
    this_month = months[-1]
    ytd = {name: sum(getattr(m, name) for m in months) for name in _YTD}
    archives = register_summary(register_rows(user=user, region=region, year=year))
    entries = {e.item: e for e in AssessmentEntry.objects.filter(region=region, year=year).select_related("entered_by")}
    # Before the month's nightly run its summaries are missing, and missing is no "nothing to fall short on".
    summarized = month_summarized(month)
    items = []
    for key, points in TABLE[region.level]:
        if key in MEASURED:
            label, standard = MEASURED[key]
            if summarized or key in LIVE_ITEMS:
                met, value, note = _measured(key, month=this_month, ytd=ytd, archives=archives)
            else:
                met, value, note = False, "—", NOT_SUMMARIZED
            items.append(
                ItemScore(
                    key=key,
                    label=label,
                    standard=standard,
                    points=Decimal(points),
                    measured=True,
                    score=Decimal(points) if met else Decimal(0),
                    value=value,
                    note=note,
                )
            )
        else:
            label, standard = JUDGED[key]
            entry = entries.get(key)
            items.append(
                ItemScore(
                    key=key,
                    label=label,
                    standard=standard,
                    points=Decimal(points),
                    measured=False,
                    score=entry.score if entry is not None else None,
                    note=entry.note if entry is not None else "",
                    entry=entry,
                )
            )
    return Assessment(region=region, year=year, month=month, items=items, measures=this_month, summarized=summarized)


def _score(raw, points: int) -> Decimal:
    if isinstance(raw, float):
        raise TypeError("scores are typed text or Decimal, never float")
    text = str(raw if raw is not None else "").strip()
    if not text:
        raise DomainError("请填写得分。", code="required", field="score")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise DomainError("得分请填写数字，例如 4.5。", code="invalid_score", field="score") from None
    if not value.is_finite() or value != value.quantize(SCORE_PLACES):
        raise DomainError("得分最多保留一位小数。", code="invalid_score", field="score")
    if value < 0 or value > points:
        raise DomainError(f"该项满分{points}分，得分应在0至{points}分之间。", code="invalid_score", field="score")
    return value.quantize(SCORE_PLACES)


def assessment_entry_set(*, actor, region: Region, year: int, item: str, score, note: str = "") -> AssessmentEntry:
    """An inspector's score for a hand-judged item of a region below their own (a city supervisor assesses
    counties, townships and villages; a county approver its townships and villages). Scoring again replaces it."""
    require(actor, Action.ASSESS_OFFICES)
    if not code_in_scope(actor, region.code):
        raise DomainError(f"{region.name}不在您的管辖范围内。", code="out_of_scope", field="region")
    if region.level not in ASSESSED_LEVELS:
        raise DomainError("示范点评估针对县、乡镇和村。", code="wrong_level", field="region")
    if len(region.scope_prefix) <= len(scope_prefix(actor) or ""):
        raise DomainError(f"{region.name}是本级或上级，只能评估下级。", code="not_below", field="region")
    year = check_year(year)
    points = dict((key, points) for key, _, points in judged_items(region.level))
    if item not in points:
        raise DomainError("请选择需要人工评分的评估项目。", code="invalid_item", field="item")
    value = _score(score, points[item])
    note = " ".join(str(note or "").split())
    if len(note) > 200:
        raise DomainError("说明最多200个字。", code="too_long", field="note")
    with transaction.atomic():
        entry, _ = AssessmentEntry.objects.update_or_create(
            region=region, year=year, item=item, defaults={"score": value, "note": note, "entered_by": actor}
        )
    audit.info("assessment entry: user=%s region=%s year=%s item=%s score=%s", actor.pk, region.code, year, item, value)
    return entry


__all__ = [
    "Assessment",
    "ItemScore",
    "JUDGED",
    "MEASURED",
    "PASS_MARK",
    "TABLE",
    "assessment",
    "assessment_entry_set",
    "judged_items",
]
