"""目标任务分解: each county's and township's targets for a year (new members, renewals, coverage, payout rate),
taken from its responsibility agreement, set by the level above; progress against them and the ranking of the
regions one level below.

Rates are typed as percentages ("98", "98.5", "98.5%") and kept as fractions (``Decimal("0.9850")``), the form
every measure in ``portal.measures`` has. Progress and ranking read only ``portal.measures`` (and, for the
year-to-date new members of the regions below, the same ``MonthlySummary`` rows summed by month), so the figures
never differ from the dashboard's.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.db import transaction
from django.db.models import Sum
from django.db.models.functions import Substr
from django.utils import timezone
from openpyxl import Workbook, load_workbook

from agencies.errors import DomainError
from agencies.exports import xlsx_header
from agencies.models import PREFIX_LENGTH, Region, RegionLevel
from agencies.permissions import Action, require
from agencies.scope import code_in_scope, scope_prefix, scoped
from contributions.xlsx import read_rows
from portal.measures import CHILD_LEVEL, Measures, children, rate, trend
from portal.models import MonthlySummary, Target
from portal.summaries import month_start

audit = logging.getLogger("portal.audit")

FIRST_YEAR = 2009  # the scheme's national start: no agreement is older
RATE_PLACES = Decimal("0.0001")
MAX_COUNT = 10_000_000
MAX_IMPORT_ROWS = 2000
TARGET_LEVELS = (RegionLevel.COUNTY, RegionLevel.TOWNSHIP)
_PERCENT = re.compile(r"\d{1,3}(\.\d{1,2})?")
_DIGITS = re.compile(r"\d+")

# (field, label, is a rate): the four figures of an agreement, in the order pages and files show them.
ITEMS: tuple[tuple[str, str, bool], ...] = (
    ("new_members", "新增参保", False),
    ("renewals", "续保", False),
    ("coverage_rate", "参保率", True),
    ("payout_rate", "发放率", True),
)
FIELDS = tuple(name for name, _, _ in ITEMS)
LABELS = {name: label for name, label, _ in ITEMS}
IS_RATE = {name: is_rate for name, _, is_rate in ITEMS}
# The import's columns: 区划代码 then the figures, headed by their labels (units in brackets are ignored).
CODE_COLUMN = "区划代码"
COLUMNS = (CODE_COLUMN, *(LABELS[name] for name in FIELDS))


# --- reading figures -----------------------------------------------------------------------------------------


def parse_percent(raw, *, field: str) -> Decimal | None:
    """A rate typed as a percentage, 0 to 100 with at most two places ("98", "98.5", "98.5%"), as a fraction
    (``Decimal("0.985")``). Blank is None. A float is refused: pass the text as typed, or a Decimal."""
    if isinstance(raw, float):
        raise TypeError("rates must not be floats: pass the text as typed, or a Decimal")
    if raw is None:
        return None
    text = str(raw).strip().replace("％", "%").removesuffix("%").strip()
    if not text:
        return None
    label = LABELS.get(field, field)
    if not _PERCENT.fullmatch(text):
        raise DomainError(
            f"{label}请填写百分数，0至100之间、最多两位小数，例如 98 或 98.5（表示98.5%）。",
            code="invalid_rate",
            field=field,
        )
    try:
        value = Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern admits only digits
        raise DomainError(f"{label}格式不正确。", code="invalid_rate", field=field) from None
    if value > 100:
        raise DomainError(f"{label}不能超过100%。", code="invalid_rate", field=field)
    return (value / 100).quantize(RATE_PLACES)


def parse_count(raw, *, field: str) -> int | None:
    """A number of persons, a whole number from 0; blank is None."""
    if isinstance(raw, bool | float):
        raise TypeError("counts are whole numbers: pass an int or the text as typed")
    if raw is None:
        return None
    label = LABELS.get(field, field)
    if isinstance(raw, int):
        value = raw
    else:
        text = str(raw).strip().replace(",", "").replace("，", "")
        if not text:
            return None
        if text.startswith("-"):
            raise DomainError(f"{label}不能为负数。", code="negative", field=field)
        if not _DIGITS.fullmatch(text):
            raise DomainError(f"{label}请填写整数人数，例如 150。", code="invalid_count", field=field)
        value = int(text)
    if value < 0:
        raise DomainError(f"{label}不能为负数。", code="negative", field=field)
    if value > MAX_COUNT:
        raise DomainError(f"{label}过大，请核对。", code="invalid_count", field=field)
    return value


def check_year(year, *, today: dt.date | None = None) -> int:
    today = today or timezone.localdate()
    try:
        value = int(year)
    except (TypeError, ValueError):
        raise DomainError("请填写年度，例如 2026。", code="invalid_year", field="year") from None
    if not FIRST_YEAR <= value <= today.year + 1:
        raise DomainError(f"年度应在{FIRST_YEAR}年至{today.year + 1}年之间。", code="invalid_year", field="year")
    return value


def _figures(*, new_members, renewals, coverage_rate, payout_rate) -> dict[str, int | Decimal | None]:
    figures = {
        "new_members": parse_count(new_members, field="new_members"),
        "renewals": parse_count(renewals, field="renewals"),
        "coverage_rate": parse_percent(coverage_rate, field="coverage_rate"),
        "payout_rate": parse_percent(payout_rate, field="payout_rate"),
    }
    if all(value is None for value in figures.values()):
        raise DomainError("请至少填写一项目标（新增参保、续保、参保率或发放率）。", code="no_figures")
    return figures


def settable_refusal(actor, region: Region) -> DomainError | None:
    """Why ``actor`` may not set ``region``'s targets (None: they may). Targets go down one or two levels: a city
    supervisor sets counties' and townships', a county approver its townships'; never their own or above."""
    if not code_in_scope(actor, region.code):
        return DomainError(f"{region.name}不在您的管辖范围内。", code="out_of_scope", field="region")
    if region.level not in TARGET_LEVELS:
        return DomainError("目标任务只下达到县（市、区）和乡镇（街道）。", code="wrong_level", field="region")
    prefix = scope_prefix(actor) or ""
    if len(region.scope_prefix) <= len(prefix):
        return DomainError(f"{region.name}是本级或上级，只能为下级区划下达目标任务。", code="not_below", field="region")
    return None


def settable_regions(*, user):
    """The counties and townships below the user's own region, in scope, in code order (for the form)."""
    prefix = scope_prefix(user)
    if prefix is None:
        return Region.objects.none()
    levels = [level for level in TARGET_LEVELS if PREFIX_LENGTH[level] > len(prefix)]
    return scoped(Region.objects.filter(level__in=levels), user).order_by("code")


# --- writes --------------------------------------------------------------------------------------------------


def target_set(
    *,
    actor,
    region: Region,
    year: int,
    new_members=None,
    renewals=None,
    coverage_rate=None,
    payout_rate=None,
) -> Target:
    """Set (or set again) a region's targets for the year, as a whole: a figure left blank has no target.

    Counts are whole persons; rates are percentages (see ``parse_percent``). Setting the same figures again
    changes nothing but the time. Every setting is written to the audit log.
    """
    require(actor, Action.SET_TARGETS)
    refusal = settable_refusal(actor, region)
    if refusal is not None:
        raise refusal
    year = check_year(year)
    figures = _figures(new_members=new_members, renewals=renewals, coverage_rate=coverage_rate, payout_rate=payout_rate)
    with transaction.atomic():
        target, created = Target.objects.update_or_create(
            region=region, year=year, defaults={**figures, "set_by": actor}
        )
    audit.info(
        "target %s: user=%s region=%s year=%s %s",
        "set" if created else "changed",
        actor.pk,
        region.code,
        year,
        " ".join(f"{name}={figures[name]}" for name in FIELDS),
    )
    return target


@dataclass(frozen=True)
class RowError:
    line: int  # as the spreadsheet numbers it (the header is line 1)
    column: str  # the column's heading, "" for the whole row
    message: str

    def __str__(self) -> str:
        where = f"第{self.line}行" + (f"“{self.column}”" if self.column else "")
        return f"{where}：{self.message}"


class TargetImportRefused(DomainError):
    """The file had bad rows: nothing was written. ``errors`` names each one by line and column."""

    def __init__(self, errors: list[RowError]):
        super().__init__(
            f"导入文件有{len(errors)}处错误，未导入任何目标任务。请改正后重新导入。", code="bad_rows", field="file"
        )
        self.errors = errors


@dataclass(frozen=True)
class ImportResult:
    year: int
    created: int
    updated: int

    @property
    def rows(self) -> int:
        return self.created + self.updated


def _heading(text: str) -> str:
    """A column heading without spaces, units in brackets, "%" or "目标": "参保率（%）" and "参保率目标" are 参保率."""
    text = "".join(str(text or "").split())
    text = re.sub(r"[(（][^)）]*[)）]", "", text)
    return text.replace("%", "").replace("％", "").removesuffix("目标")


def _number_text(value) -> str:
    """A cell's number as the text a person would type (Excel keeps 150 as 150.0)."""
    if isinstance(value, float):
        return str(int(value)) if value == int(value) else repr(value)
    return str(value)


def _xlsx_rows(content: bytes) -> list[list[str]]:
    """The first sheet's rows as text. A cell formatted as a percentage holds 0.985 for 98.5%: read it as 98.5."""
    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception:
        raise DomainError(
            "无法读取该Excel文件，请使用下载的模板另存为.xlsx后重新上传。", code="unreadable", field="file"
        ) from None
    rows = []
    for row in workbook.worksheets[0].iter_rows():
        cells = []
        for cell in row:
            value = getattr(cell, "value", None)
            if value is None:
                cells.append("")
            elif isinstance(value, int | float) and not isinstance(value, bool):
                if "%" in (getattr(cell, "number_format", "") or ""):
                    cells.append(format((Decimal(repr(value)) * 100).normalize(), "f"))
                else:
                    cells.append(_number_text(value))
            else:
                cells.append(str(value).strip())
        rows.append(cells)
        if len(rows) > MAX_IMPORT_ROWS + 1:
            break
    workbook.close()
    return rows


def _file_rows(file_name: str, content: bytes) -> list[list[str]]:
    if not content:
        raise DomainError("上传的文件是空的。", code="empty", field="file")
    if content[:2] == b"PK":
        return _xlsx_rows(content)
    _, rows = read_rows(file_name, content)  # .csv in UTF-8 or GBK
    return [list(row) for _, row in zip(range(MAX_IMPORT_ROWS + 2), rows, strict=False)]


def _code(text: str) -> str | None:
    """A division code as typed: 12 digits, or the county's 6 or the township's 9 (filled with zeros)."""
    digits = "".join(text.split())
    if not digits.isascii() or not digits.isdigit() or len(digits) not in (6, 9, 12):
        return None
    return digits.ljust(12, "0")


def targets_import(*, actor, year: int, file_name: str, content: bytes) -> ImportResult:
    """A year's targets from an .xlsx or .csv with the columns 区划代码, 新增参保, 续保, 参保率, 发放率 (the
    template of ``import_template``). All or nothing: every bad row is named by line and column and nothing is
    written; a good file sets every row's targets whole, as ``target_set`` does, in one transaction."""
    require(actor, Action.SET_TARGETS)
    year = check_year(year)
    rows = _file_rows(file_name, content)
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise DomainError("上传的文件是空的。", code="empty", field="file")
    headings = [_heading(cell) for cell in rows[0]]
    missing = [name for name in COLUMNS if name not in headings]
    if missing:
        raise DomainError(
            f"文件第1行缺少列：{'、'.join(missing)}。请使用下载的模板（列：{'、'.join(COLUMNS)}）。",
            code="bad_header",
            field="file",
        )
    index = {name: headings.index(name) for name in COLUMNS}
    body = [(number, row) for number, row in enumerate(rows[1:], start=2) if any(cell.strip() for cell in row)]
    if not body:
        raise DomainError("文件中没有目标任务行。", code="empty", field="file")
    if len(body) > MAX_IMPORT_ROWS:
        raise DomainError(f"一次最多导入{MAX_IMPORT_ROWS}行，请分批导入。", code="too_many_rows", field="file")

    def cell(row: list[str], name: str) -> str:
        column = index[name]
        return row[column].strip() if column < len(row) else ""

    codes = {_code(cell(row, CODE_COLUMN)) for _, row in body} - {None}
    regions = {region.code: region for region in Region.objects.filter(code__in=codes)}
    errors: list[RowError] = []
    parsed: dict[str, tuple[Region, dict]] = {}
    first_line: dict[str, int] = {}
    for number, row in body:
        code = _code(cell(row, CODE_COLUMN))
        region = regions.get(code) if code else None
        row_errors: list[RowError] = []
        if code is None:
            row_errors.append(RowError(number, CODE_COLUMN, "区划代码应为12位数字（或县6位、乡镇9位）。"))
        elif region is None or not code_in_scope(actor, region.code):
            row_errors.append(RowError(number, CODE_COLUMN, f"区划代码{code}不在您的管辖范围内。"))
        else:
            refusal = settable_refusal(actor, region)
            if refusal is not None:
                row_errors.append(RowError(number, CODE_COLUMN, refusal.message))
            elif code in first_line:
                row_errors.append(RowError(number, CODE_COLUMN, f"{region.name}与第{first_line[code]}行重复。"))
        figures: dict = {}
        for name in FIELDS:
            try:
                raw = cell(row, LABELS[name])
                figures[name] = parse_percent(raw, field=name) if IS_RATE[name] else parse_count(raw, field=name)
            except DomainError as error:
                row_errors.append(RowError(number, LABELS[name], error.message))
        if not row_errors and all(value is None for value in figures.values()):
            row_errors.append(RowError(number, "", "至少填写一项目标。"))
        if row_errors:
            errors += row_errors
            continue
        first_line[code] = number
        parsed[code] = (region, figures)
    if errors:
        raise TargetImportRefused(errors)
    with transaction.atomic():
        existing = set(
            Target.objects.filter(year=year, region__in=[region for region, _ in parsed.values()]).values_list(
                "region_id", flat=True
            )
        )
        Target.objects.bulk_create(
            [Target(region=region, year=year, set_by=actor, **figures) for region, figures in parsed.values()],
            update_conflicts=True,
            unique_fields=["region", "year"],
            update_fields=[*FIELDS, "set_by", "set_at"],
        )
    result = ImportResult(year=year, created=len(parsed) - len(existing), updated=len(existing))
    audit.info(
        "targets imported: user=%s year=%s file=%s sha256=%s rows=%s created=%s updated=%s",
        actor.pk,
        year,
        file_name,
        hashlib.sha256(content).hexdigest(),
        result.rows,
        result.created,
        result.updated,
    )
    return result


def percent_cell(value: Decimal | None) -> int | Decimal | None:
    """A kept fraction as the percentage the file holds (0.9850 → 98.5, 1 → 100)."""
    if value is None:
        return None
    percent = (value * 100).quantize(Decimal("0.01"))
    return int(percent) if percent == percent.to_integral_value() else percent


def import_template(*, user, year: int) -> bytes:
    """The import's workbook: the columns, and a row for each region the user may set, with its targets so far."""
    regions = list(settable_regions(user=user))
    current = {t.region_id: t for t in Target.objects.filter(year=year, region__in=regions)}
    book = Workbook(write_only=True)
    sheet = book.create_sheet(f"{year}年度目标任务")
    for column, width in zip("ABCDEFG", (16, 12, 12, 12, 12, 24, 10), strict=True):
        sheet.column_dimensions[column].width = width
    xlsx_header(sheet, [*COLUMNS[:3], "参保率(%)", "发放率(%)", "名称", "级别"])
    for region in regions:
        target = current.get(region.pk)
        values = [getattr(target, name) if target else None for name in FIELDS]
        rates = [percent_cell(v) for v in values[2:]]
        sheet.append([region.code, values[0], values[1], *rates, region.name, region.get_level_display()])
    notes = book.create_sheet("填写说明")
    for line in (
        f"{year}年度目标任务导入：每行一个县（市、区）或乡镇（街道），按区划代码识别；名称、级别两列仅供核对，导入时不读取。",
        "新增参保、续保填人数（整数）；参保率、发放率填百分数，例如 98 或 98.5（表示98.5%），最多两位小数。",
        "每行至少填写一项目标；某项不填表示该项不下达目标。导入后每行的目标以本表为准（整行替换）。",
        "全部行均无误才会导入；有错误时会列出每个错误所在的行和列，改正后重新导入即可。",
    ):
        notes.append([line])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


# --- progress and ranking ------------------------------------------------------------------------------------


def percent_text(value: Decimal | None) -> str:
    """0.985 → "98.50%"; None → "—"."""
    return "—" if value is None else f"{value * 100:.2f}%"


@dataclass(frozen=True)
class ProgressItem:
    """One figure of the agreement: what was done, the target, and done ÷ target (a fraction)."""

    key: str
    label: str
    done: int | Decimal | None
    target: int | Decimal | None
    is_rate: bool

    @property
    def ratio(self) -> Decimal | None:
        if self.done is None or self.target is None:
            return None
        return rate(self.done, self.target)

    @property
    def met(self) -> bool | None:
        ratio = self.ratio
        return None if ratio is None else ratio >= 1

    def _text(self, value) -> str:
        if value is None:
            return "—"
        return percent_text(value) if self.is_rate else str(value)

    @property
    def done_text(self) -> str:
        return self._text(self.done)

    @property
    def target_text(self) -> str:
        return self._text(self.target)

    @property
    def ratio_text(self) -> str:
        return percent_text(self.ratio)


def completion(items: list[ProgressItem]) -> Decimal | None:
    """综合完成率: the mean of the figures' completions, each counted up to 100% (a surplus on one figure does not
    make up for a shortfall on another); None without any target."""
    ratios = [min(item.ratio, Decimal(1)) for item in items if item.ratio is not None]
    if not ratios:
        return None
    return (sum(ratios) / len(ratios)).quantize(RATE_PLACES, rounding=ROUND_HALF_UP)


def _items(target: Target | None, measures: Measures, new_members_ytd: int) -> list[ProgressItem]:
    done = {
        "new_members": new_members_ytd,
        "renewals": measures.renewals,
        "coverage_rate": measures.coverage,
        "payout_rate": measures.payout_rate,
    }
    return [
        ProgressItem(
            key=name,
            label=label,
            done=done[name],
            target=getattr(target, name) if target is not None else None,
            is_rate=is_rate,
        )
        for name, label, is_rate in ITEMS
    ]


@dataclass(frozen=True)
class Progress:
    region: Region
    year: int
    month: dt.date
    target: Target | None
    measures: Measures  # the month's
    new_members_ytd: int
    items: list[ProgressItem]

    @property
    def completion(self) -> Decimal | None:
        return completion(self.items)

    @property
    def completion_text(self) -> str:
        return percent_text(self.completion)


def _month_of_year(year: int, month: dt.date) -> dt.date:
    month = month_start(month)
    if month.year != year:
        raise DomainError(f"月份应在{year}年内。", code="invalid_month", field="month")
    return month


def progress(*, user, region: Region, year: int, month: dt.date) -> Progress:
    """The region's targets for the year against its measures: new members from January to ``month``; renewals
    of the contribution year, coverage and payout rate as of ``month`` (404 outside the user's scope)."""
    month = _month_of_year(year, month)
    months = trend(user=user, region=region, first=dt.date(year, 1, 1), last=month)
    measures = months[-1]
    new_members_ytd = sum(m.new_members for m in months)
    target = Target.objects.filter(region=region, year=year).select_related("set_by").first()
    return Progress(
        region=region,
        year=year,
        month=month,
        target=target,
        measures=measures,
        new_members_ytd=new_members_ytd,
        items=_items(target, measures, new_members_ytd),
    )


@dataclass(frozen=True)
class RankRow:
    rank: int  # tied rows share a rank (并列) and stand in code order
    region: Region
    measures: Measures
    new_members_ytd: int
    target: Target | None
    items: list[ProgressItem]
    completion: Decimal | None
    value: Decimal | None = None  # what the row was ranked by
    by_coverage: bool = False  # ranked by coverage: no target for what was asked

    def item(self, key: str) -> ProgressItem:
        return next(item for item in self.items if item.key == key)

    @property
    def completion_text(self) -> str:
        return percent_text(self.completion)

    @property
    def value_text(self) -> str:
        return percent_text(self.value)


RANK_BY = ("completion", *FIELDS)


def _new_members_by_child(region: Region, width: int, first: dt.date, last: dt.date) -> dict[str, int]:
    """New members from ``first`` to ``last`` of each region one level below: the sum of the monthly figures the
    dashboard shows, in one grouped query."""
    rows = (
        MonthlySummary.objects.filter(region_code__startswith=region.scope_prefix, month__gte=first, month__lte=last)
        .annotate(child=Substr("region_code", 1, width))
        .values("child")
        .annotate(total=Sum("new_members"))
        .order_by()
    )
    return {row["child"]: row["total"] or 0 for row in rows}


@dataclass
class _Ranked:
    group: int
    value: Decimal | None
    row: dict = field(default_factory=dict)


def ranking(*, user, region: Region, year: int, month: dt.date, by: str = "completion") -> list[RankRow]:
    """The regions one level below ``region``, ranked by ``by``: the overall completion (``completion``) or one
    figure's (``new_members``, ``renewals``, ``coverage_rate``, ``payout_rate``). Those without a target for it
    follow, ranked by coverage (those without a population figure last). Equal values share a rank; ties stand
    in code order. A constant number of queries however many regions there are."""
    if by not in RANK_BY:
        raise DomainError("排名依据不正确。", code="invalid", field="by")
    month = _month_of_year(year, month)
    rows = children(user=user, region=region, month=month)
    if not rows:
        return []
    width = PREFIX_LENGTH[CHILD_LEVEL[RegionLevel(region.level)]]
    ytd = _new_members_by_child(region, width, dt.date(year, 1, 1), month)
    targets = {t.region_id: t for t in Target.objects.filter(year=year, region__in=[child for child, _ in rows])}
    ranked = []
    for child, measures in rows:
        target = targets.get(child.pk)
        new_members = ytd.get(child.scope_prefix, 0)
        items = _items(target, measures, new_members)
        overall = completion(items)
        value = overall if by == "completion" else next(item.ratio for item in items if item.key == by)
        data = {
            "region": child,
            "measures": measures,
            "new_members_ytd": new_members,
            "target": target,
            "items": items,
            "completion": overall,
        }
        if value is not None:
            ranked.append(_Ranked(group=0, value=value, row={**data, "value": value}))
        else:
            coverage = measures.coverage
            group = 1 if coverage is not None else 2
            ranked.append(_Ranked(group=group, value=coverage, row={**data, "value": coverage, "by_coverage": True}))
    ranked.sort(key=lambda r: (r.group, -(r.value or 0), r.row["region"].code))
    result: list[RankRow] = []
    for position, entry in enumerate(ranked, start=1):
        previous = ranked[position - 2] if position > 1 else None
        if previous is not None and (previous.group, previous.value) == (entry.group, entry.value):
            rank = result[-1].rank
        else:
            rank = position
        result.append(RankRow(rank=rank, **entry.row))
    return result


__all__ = [
    "ImportResult",
    "Progress",
    "ProgressItem",
    "RankRow",
    "RowError",
    "TargetImportRefused",
    "import_template",
    "parse_count",
    "parse_percent",
    "progress",
    "ranking",
    "settable_regions",
    "target_set",
    "targets_import",
]
