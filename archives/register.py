"""The register (档案登记簿) of a place and year as an .xlsx: a write-only workbook filled row by row from the
database, so a county's hundred thousand items never sit in memory at once."""

from __future__ import annotations

import io

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from agencies.exports import xlsx_header, xlsx_text
from agencies.models import Region
from archives import selectors
from archives.models import ArchiveItem, Retention
from enrollment.idnumber import mask

COLUMNS = [
    "序号",
    "档号",
    "类别",
    "题名",
    "村（社区）",
    "参保人",
    "身份证号",
    "保管期限",
    "保管期满",
    "档案室",
    "柜号",
    "盒号",
    "盒内序号",
    "纸质件",
    "电子件（页数）",
    "保管人",
    "状态",
]
WIDTHS = [6, 26, 16, 36, 16, 10, 20, 9, 12, 12, 8, 10, 9, 8, 12, 10, 8]
CHUNK = 2000
_RETENTION = dict(Retention.choices)


def title(region: Region, year: int) -> str:
    return f"{region.full_name()} {year}年度档案登记簿"


def status(item: ArchiveItem) -> str:
    """在库/借出/已销毁/未入库, in that precedence: a destroyed item is destroyed whatever else it had."""
    if item.destroyed_at is not None:
        return "已销毁"
    if item.on_loan:
        return "借出"
    if item.paper_received_at is not None:
        return "在库"
    return "未入库"


def summary_text(summary: dict[str, int]) -> str:
    return (
        f"共{summary['total']}件；纸质件{summary['with_paper']}件，电子件{summary['with_electronic']}件，"
        f"纸电齐全{summary['both']}件；缺纸质件{summary['missing_paper']}件，"
        f"缺电子件{summary['missing_electronic']}件；已销毁{summary['destroyed']}件"
    )


def _row(number: int, item: ArchiveItem) -> list:
    location = item.location
    person = item.person
    kept = item.destroyed_at is None
    return [
        number,
        item.archive_no,
        item.kind.name,
        # What clerks typed (titles, names, shelf labels) goes out as text, never as a formula.
        xlsx_text(item.title),
        item.place_name or item.region_code,
        xlsx_text(person.name) if person else "",
        mask(person.id_number) if person else "",
        str(_RETENTION.get(item.kind.retention, item.kind.retention)),
        item.retain_until,  # empty for permanent records
        xlsx_text(location.room) if location else "",
        xlsx_text(location.cabinet) if location else "",
        xlsx_text(location.box) if location else "",
        xlsx_text(item.position),
        "有" if kept and item.paper_received_at is not None else "无",
        item.file_pages if item.has_file else "无",
        xlsx_text(item.keeper.display_name) if item.keeper else "",
        status(item),
    ]


def register_xlsx(*, user, region: Region, year: int) -> bytes:
    """The register of ``region`` (a village, a township or a county) for ``year``; 404 outside the user's scope."""
    rows = selectors.register_rows(user=user, region=region, year=year)
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("档案登记簿")
    for index, width in enumerate(WIDTHS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A3"
    heading = WriteOnlyCell(sheet, value=title(region, year))
    heading.font = Font(bold=True, size=14)
    sheet.append([heading])
    xlsx_header(sheet, COLUMNS)
    for number, item in enumerate(rows.iterator(chunk_size=CHUNK), start=1):
        sheet.append(_row(number, item))
    summary = selectors.register_summary(rows)
    total = WriteOnlyCell(sheet, value="合计")
    total.font = Font(bold=True)
    sheet.append([total, summary_text(summary)])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
