"""The tier-choice workbook: the template a village agent downloads, and reading it (or a .csv) back.

File handling only; the rules are the services'. Identity numbers are written as text so Excel never
turns them into 3.20412E+17, and read back from whatever Excel made of them.
"""

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.worksheet.datavalidation import DataValidation

from agencies.errors import DomainError

SHEET_SUFFIX = "年度缴费档次"
TIER_SHEET = "档次"
ID_HEADERS = ("身份证号", "公民身份号码", "身份证号码", "证件号码")
TIER_HEADERS = ("选择档次(元)", "选择档次", "缴费档次", "档次")
NAME_HEADERS = ("姓名",)
MAX_ROWS = 20000


@dataclass(frozen=True)
class TemplateRow:
    id_number: str
    name: str
    insurance_number: str
    current: Decimal | None
    paid: bool


def _amount(value: Decimal) -> int | Decimal:
    return int(value) if value == value.to_integral_value() else value


def build_template(*, year: int, village_name: str, tiers: list[Decimal], rows: list[TemplateRow]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = f"{year}{SHEET_SUFFIX}"
    headers = ("身份证号", "姓名", "保险编号", "当前档次(元)", "本年度已缴费", "选择档次(元)")
    sheet.append(headers)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DDEBF7")
    for row in rows:
        sheet.append(
            [
                row.id_number,
                row.name,
                row.insurance_number,
                _amount(row.current) if row.current is not None else None,
                "是" if row.paid else "",
                _amount(row.current) if row.current is not None and row.paid else None,
            ]
        )
    for (cell,) in sheet.iter_rows(min_row=2, min_col=1, max_col=1):
        cell.number_format = "@"  # text: an 18-digit number would lose its last digits as a number
    for column, width in zip("ABCDEF", (22, 10, 18, 14, 14, 14), strict=True):
        sheet.column_dimensions[column].width = width
    sheet.freeze_panes = "A2"

    tier_sheet = workbook.create_sheet(TIER_SHEET)
    for amount in tiers:
        tier_sheet.append([_amount(amount)])
    tier_sheet.sheet_state = "hidden"
    last = max(len(rows) + 1, 2)
    validation = DataValidation(
        type="list",
        formula1=f"'{TIER_SHEET}'!$A$1:$A${max(len(tiers), 1)}",
        allow_blank=True,
        showErrorMessage=True,
        errorTitle="缴费档次",
        error="请从下拉列表中选择本年度的缴费档次。",
    )
    validation.add(f"F2:F{last}")
    sheet.add_data_validation(validation)

    notes = workbook.create_sheet("填写说明")
    for line in (
        f"{village_name} {year}年度缴费档次选择",
        "在“选择档次(元)”一列为每位参保人选择本年度缴费档次（下拉列表）；不填写的人员保持不变。",
        "已缴费年度的档次不能修改。请勿修改身份证号、姓名列。",
        "导入时全部行均须无误才会保存；有错误时会列出每一行的问题，改正后重新导入即可。",
        f"本年度可选档次（元）：{'、'.join(str(_amount(t)) for t in tiers)}",
    ):
        notes.append([line])
    notes.column_dimensions["A"].width = 90
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


@dataclass(frozen=True)
class SheetRow:
    number: int  # as Excel shows it (the header is row 1)
    id_number: str
    name: str
    tier: str


@dataclass
class TierSheet:
    rows: list[SheetRow] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)  # whole-file problems are row 1


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        # Excel stored a number: a whole one is shown as digits; a float identity number is already damaged.
        return str(int(value)) if value == int(value) else repr(value)
    return str(value).strip()


def read_rows(file_name: str, content: bytes) -> tuple[str, Iterator[list[str]]]:
    """(sheet title, rows as text) of an .xlsx (by content, whatever the name) or a UTF-8/GBK .csv."""
    if content[:2] == b"PK":
        try:
            workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        except Exception:
            raise DomainError(
                "无法读取该Excel文件，请使用下载的模板另存为.xlsx后重新上传。", code="unreadable", field="file"
            ) from None
        sheet = workbook.worksheets[0]
        return sheet.title, ([_cell_text(c) for c in row] for row in sheet.iter_rows(values_only=True))
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = content.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise DomainError(
            "无法识别文件格式，请上传下载的.xlsx模板或UTF-8/GBK编码的.csv文件。", code="unreadable", field="file"
        )
    return "", (row for row in csv.reader(io.StringIO(text)))


def _column(headers: list[str], names: tuple[str, ...]) -> int | None:
    return next((headers.index(name) for name in names if name in headers), None)


def read_tier_sheet(*, file_name: str, content: bytes, year: int) -> TierSheet:
    if not content:
        raise DomainError("上传的文件是空的。", code="empty", field="file")
    title, rows = read_rows(file_name, content)
    sheet = TierSheet()
    found = re.match(r"^(\d{4})" + SHEET_SUFFIX, title or "")
    if found and int(found.group(1)) != year:
        raise DomainError(
            f"该文件是{found.group(1)}年度的模板，与所选的{year}年度不符，请核对。", code="wrong_year", field="year"
        )
    header = next(rows, None)
    if header is None:
        raise DomainError("上传的文件是空的。", code="empty", field="file")
    headers = ["".join(h.split()) for h in header]
    id_column = _column(headers, ID_HEADERS)
    tier_column = _column(headers, TIER_HEADERS)
    name_column = _column(headers, NAME_HEADERS)
    if id_column is None or tier_column is None:
        raise DomainError(
            "文件第1行须有“身份证号”和“选择档次(元)”两列，请使用下载的模板。", code="bad_header", field="file"
        )
    for number, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(sheet.rows) >= MAX_ROWS:
            raise DomainError(f"一次最多导入{MAX_ROWS}行，请分批导入。", code="too_many_rows", field="file")

        def cell(column: int | None, row: list[str] = row) -> str:
            return row[column] if column is not None and column < len(row) else ""

        sheet.rows.append(
            SheetRow(number=number, id_number=cell(id_column), name=cell(name_column), tier=cell(tier_column))
        )
    return sheet


# The old private name, still imported elsewhere.
_rows = read_rows
