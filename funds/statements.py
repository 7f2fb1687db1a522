"""The individual account statement (个人账户对账单) as an .xlsx workbook.

One layout, written row by row in openpyxl's write-only mode, serves both the single statement and a
village's statements (one sheet per person, after an index sheet): memory stays flat however many sheets,
and the finished file is streamed to the browser from a temporary file.

Amounts are written as numbers (from Decimal, never float) with a two-place format, so a clerk can add them
up in Excel; the identity number is masked, since the insurance number identifies the person on paper.
"""

import datetime as dt
import re
from collections.abc import Sequence
from decimal import Decimal
from typing import IO, Any

from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Border, Font, NamedStyle, PatternFill, Side
from openpyxl.worksheet.hyperlink import Hyperlink
from openpyxl.worksheet.worksheet import Worksheet

from enrollment import idnumber
from funds.models import IndividualAccount
from funds.selectors import AccountSummary

MONEY_FORMAT = "#,##0.00"
COLUMN_WIDTHS = (13, 16, 16, 15, 15, 30)  # 日期/资金来源, 类型/期初, 资金来源/发生额, 金额/期末, 余额, 来源
LAST_COLUMN = "F"
SHEET_NAME_LIMIT = 31  # Excel's own limit
SHEET_NAME_FORBIDDEN = re.compile(r"[\[\]:*?/\\']")

THIN = Side(style="thin", color="808080")
BOX = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
HEADER_FILL = PatternFill("solid", fgColor="E9EEF4")
TITLE_FONT = Font(name="SimSun", size=16, bold=True)
SECTION_FONT = Font(name="SimSun", size=12, bold=True)
BOLD = Font(name="SimSun", bold=True)
PLAIN = Font(name="SimSun")
SMALL = Font(name="SimSun", size=9, color="555555")
FONT_NAMES = {
    id(TITLE_FONT): "title",
    id(SECTION_FONT): "section",
    id(BOLD): "bold",
    id(PLAIN): "plain",
    id(SMALL): "small",
}


def _style(ws: Worksheet, *, font: Font, boxed: bool, header: bool, money: bool, align: str | None) -> str:
    """The name of a workbook style for this look, registered on first use.

    Setting font, border and alignment cell by cell costs openpyxl a hash of each style object every time
    (about 15 s for a village of 500); a named style is looked up by name.
    """
    name = f"对账单-{FONT_NAMES[id(font)]}-{int(boxed)}{int(header)}{int(money)}-{align or ''}"
    workbook = ws.parent
    if name not in workbook.named_styles:
        style = NamedStyle(name=name, font=BOLD if header else font, hidden=True)  # kept out of Excel's gallery
        if boxed or header:
            style.border = BOX
        if header:
            style.fill = HEADER_FILL
            style.alignment = Alignment(horizontal="center", vertical="center")
        elif money:
            style.number_format = MONEY_FORMAT
            style.alignment = Alignment(horizontal="right")
        elif align:
            style.alignment = Alignment(horizontal=align, vertical="center", wrap_text=True)
        workbook.add_named_style(style)
    return name


def _cell(ws: Worksheet, value: Any, *, font: Font = PLAIN, boxed: bool = False, header: bool = False, align=None):
    cell = WriteOnlyCell(ws, value=value)
    cell.style = _style(
        ws, font=font, boxed=boxed, header=header, money=isinstance(value, Decimal) and not header, align=align
    )
    return cell


def _period(summary: AccountSummary) -> str:
    if summary.year is None:
        return _("对账期间：建账至今")
    return _("对账期间：%(year)s年1月1日至%(year)s年12月31日") % {"year": summary.year}


def _setup_sheet(ws: Worksheet) -> None:
    for index, width in enumerate(COLUMN_WIDTHS):
        ws.column_dimensions[chr(ord("A") + index)].width = width
    ws.page_setup.orientation = "portrait"
    ws.page_setup.paperSize = Worksheet.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_options.horizontalCentered = True
    ws.oddFooter.center.text = "第 &P 页，共 &N 页"


class _Writer:
    """Appends rows and remembers the row number, so titles can be merged across the page."""

    def __init__(self, ws: Worksheet):
        self.ws = ws
        self.row = 0

    def append(self, cells: list) -> None:
        self.ws.append(cells)
        self.row += 1

    def blank(self) -> None:
        self.append([])

    def wide(self, value: str, *, font: Font = PLAIN, align: str = "left") -> None:
        self.append([_cell(self.ws, value, font=font, align=align)])
        self.ws.merged_cells.add(f"A{self.row}:{LAST_COLUMN}{self.row}")


def write_statement(
    ws: Worksheet, *, account: IndividualAccount, summary: AccountSummary, generated_at: dt.datetime, issuer: str
) -> None:
    """One person's statement on one sheet: title, person, balances by component, interest by year, entries."""
    person = account.person
    _setup_sheet(ws)
    w = _Writer(ws)
    w.wide(_("城乡居民基本养老保险个人账户对账单"), font=TITLE_FONT, align="center")
    w.wide(_period(summary), align="center")
    w.blank()

    opened = f"{account.opened_on:%Y-%m-%d}" if account.opened_on else _("尚未建账")
    closed = f"{account.closed_on:%Y-%m-%d}" if account.closed_on else "—"
    pooling = account.pooling_region.name if account.pooling_region_id else "—"
    header = [
        (_("姓名"), person.name, _("保险编号"), person.insurance_number or "—"),
        (_("身份证号"), idnumber.mask(person.id_number), _("参保状态"), person.get_status_display()),
        (_("户籍所在地"), person.village.full_name(), _("统筹区"), pooling),
        (_("建账日期"), opened, _("销户日期"), closed),
    ]
    for label_a, value_a, label_b, value_b in header:
        w.append(
            [
                _cell(ws, label_a, header=True),
                _cell(ws, value_a, boxed=True, align="left"),
                None,
                _cell(ws, label_b, header=True),
                _cell(ws, value_b, boxed=True, align="left"),
                None,
            ]
        )
        ws.merged_cells.add(f"B{w.row}:C{w.row}")
        ws.merged_cells.add(f"E{w.row}:F{w.row}")
    w.blank()

    w.wide(_("一、账户余额（按资金来源）"), font=SECTION_FONT)
    w.append([_cell(ws, text, header=True) for text in (_("资金来源"), _("期初余额"), _("本期发生额"), _("期末余额"))])
    for line in summary.components:
        w.append(
            [
                _cell(ws, line.label, boxed=True),
                _cell(ws, line.opening, boxed=True),
                _cell(ws, line.movement, boxed=True),
                _cell(ws, line.closing, boxed=True),
            ]
        )
    w.append(
        [
            _cell(ws, _("合计"), header=True),
            _cell(ws, summary.opening, font=BOLD, boxed=True),
            _cell(ws, summary.movement, font=BOLD, boxed=True),
            _cell(ws, summary.closing, font=BOLD, boxed=True),
        ]
    )
    w.blank()

    w.wide(_("二、历年记息"), font=SECTION_FONT)
    w.append([_cell(ws, _("年度"), header=True), _cell(ws, _("利息"), header=True)])
    for interest in summary.interest_by_year:
        w.append([_cell(ws, interest.year, boxed=True, align="center"), _cell(ws, interest.amount, boxed=True)])
    if not summary.interest_by_year:
        w.append([_cell(ws, _("尚未记息"), boxed=True), _cell(ws, "—", boxed=True, align="center")])
    w.blank()

    w.wide(_("三、账户明细"), font=SECTION_FONT)
    w.append(
        [
            _cell(ws, text, header=True)
            for text in (_("记账日期"), _("类型"), _("资金来源"), _("金额"), _("余额"), _("来源"))
        ]
    )
    if summary.year is not None:
        w.append(
            [_cell(ws, f"{summary.year}-01-01", boxed=True), _cell(ws, _("期初余额"), boxed=True), None, None]
            + [_cell(ws, summary.opening, boxed=True), None]
        )
    for line in summary.lines:
        entry = line.entry
        w.append(
            [
                _cell(ws, f"{entry.booked_on:%Y-%m-%d}", boxed=True),
                _cell(ws, entry.get_kind_display(), boxed=True),
                _cell(ws, entry.get_component_display(), boxed=True),
                _cell(ws, entry.amount, boxed=True),
                _cell(ws, line.balance, boxed=True),
                _cell(ws, entry.reference or "—", boxed=True),
            ]
        )
    if not summary.lines:
        w.wide(_("本期无记账记录。"))
    w.append(
        [
            _cell(ws, _("期末余额"), header=True),
            None,
            None,
            None,
            _cell(ws, summary.closing, font=BOLD, boxed=True),
            None,
        ]
    )
    w.blank()
    w.wide(
        _("生成时间：%(at)s　出具机构：%(issuer)s") % {"at": f"{generated_at:%Y-%m-%d %H:%M}", "issuer": issuer},
        font=SMALL,
    )
    w.wide(
        _("本对账单由系统生成，金额单位：元。如有疑问，请携带身份证到户籍所在地乡镇（街道）社保所查询。"), font=SMALL
    )


def _sheet_title(person, used: set[str]) -> str:
    base = SHEET_NAME_FORBIDDEN.sub("", f"{person.name}{(person.insurance_number or '')[-6:]}") or "参保人"
    title = base[:SHEET_NAME_LIMIT]
    number = 2
    while title.lower() in used:  # Excel compares sheet names without case
        suffix = f"({number})"
        title = base[: SHEET_NAME_LIMIT - len(suffix)] + suffix
        number += 1
    used.add(title.lower())
    return title


def statement_workbook(
    out: IO[bytes],
    *,
    account: IndividualAccount,
    summary: AccountSummary,
    generated_at: dt.datetime,
    issuer: str,
) -> None:
    """One person's statement, written to ``out``."""
    workbook = Workbook(write_only=True)
    write_statement(
        workbook.create_sheet(_("对账单")), account=account, summary=summary, generated_at=generated_at, issuer=issuer
    )
    workbook.save(out)


def village_workbook(
    out: IO[bytes],
    *,
    village,
    statements: Sequence[tuple[IndividualAccount, AccountSummary]],
    year: int | None,
    generated_at: dt.datetime,
    issuer: str,
    part: int = 1,
    parts: int = 1,
) -> None:
    """A village's statements: an index sheet (目录) linking one sheet per person, written to ``out``."""
    workbook = Workbook(write_only=True)
    index = workbook.create_sheet(_("目录"))
    for column, width in zip("ABCDEF", (6, 12, 22, 22, 15, 24), strict=True):
        index.column_dimensions[column].width = width
    w = _Writer(index)
    w.wide(_("%(village)s 个人账户对账单") % {"village": village.full_name()}, font=TITLE_FONT, align="center")
    period = _("%(year)s年度") % {"year": year} if year else _("建账至今")
    subtitle = _("对账期间：%(period)s　共%(count)s人") % {"period": period, "count": len(statements)}
    if parts > 1:
        subtitle += _("（第%(part)s部分，共%(parts)s部分）") % {"part": part, "parts": parts}
    w.wide(subtitle, align="center")
    w.append(
        [
            _cell(index, text, header=True)
            for text in (_("序号"), _("姓名"), _("保险编号"), _("身份证号"), _("期末余额"), _("工作表"))
        ]
    )
    used: set[str] = {_("目录").lower()}
    titles = [_sheet_title(account.person, used) for account, _summary in statements]
    for number, ((account, summary), title) in enumerate(zip(statements, titles, strict=True), start=1):
        person = account.person
        link = _cell(index, title, boxed=True)
        link.hyperlink = Hyperlink(ref="", location=f"'{title}'!A1", display=title)
        link.font = Font(name="SimSun", color="0B5394", underline="single")
        w.append(
            [
                _cell(index, number, boxed=True, align="center"),
                _cell(index, person.name, boxed=True),
                _cell(index, person.insurance_number or "—", boxed=True),
                _cell(index, idnumber.mask(person.id_number), boxed=True),
                _cell(index, summary.closing, boxed=True),
                link,
            ]
        )
    w.blank()
    w.wide(
        _("生成时间：%(at)s　出具机构：%(issuer)s") % {"at": f"{generated_at:%Y-%m-%d %H:%M}", "issuer": issuer},
        font=SMALL,
    )
    for (account, summary), title in zip(statements, titles, strict=True):
        write_statement(
            workbook.create_sheet(title), account=account, summary=summary, generated_at=generated_at, issuer=issuer
        )
    workbook.save(out)
