"""统计分析: the supervisors' dashboard for any region in scope and any month, and each of its tables as .xlsx.

``/dashboard/?region=<code>&month=YYYY-MM``; ``&format=xlsx&table=<key>`` gives one table's workbook, built from
the very cells the page shows. The region is resolved in the user's scope first (404 outside it); anyone with a
jurisdiction may read the measures of their own region and below.
"""

from __future__ import annotations

import io

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.utils import get_column_letter

from agencies.errors import DomainError
from agencies.exports import xlsx_header
from portal import dashboard as board
from portal.dashboard import Table

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
NUMBER_FORMATS = {"int": "0", "money": "#,##0.00", "percent": "0.00%", "permille": "0.0"}


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    user = request.user
    today = timezone.localdate()
    region = board.dashboard_region(user=user, code=request.GET.get("region"))
    month_error = ""
    try:
        month = board.parse_month(request.GET.get("month"), today=today)
    except DomainError as error:
        month_error, month = error.message, board.running_month(today)
    page = board.dashboard(user=user, region=region, month=month, today=today)
    if request.GET.get("format") == "xlsx":
        return _xlsx(page, page.table(request.GET.get("table", "")))
    context = {
        "board": page,
        "month_value": f"{page.month:%Y-%m}",
        "max_month": f"{board.running_month(today):%Y-%m}",
        "month_error": month_error,
        "child_level": board.child_level_label(region),
        "exports": {key: board.page_url(region, page.month, format="xlsx", table=key) for key in board.TABLES},
    }
    return render(request, "portal/dashboard.html", context)


def _xlsx(page: board.Dashboard, table: Table) -> FileResponse:
    if not table.columns:
        raise Http404
    book = Workbook(write_only=True)
    sheet = book.create_sheet(table.title[:31])
    for index, column in enumerate(table.columns, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = 14 if column.numeric else 18
    sheet.append([f"{page.region.full_name() or page.region.name} {page.month:%Y年%m月} {table.title}"])
    xlsx_header(sheet, [column.label for column in table.columns])
    for row in [*table.rows, *table.foot]:
        sheet.append([_cell(sheet, cell) for cell in row])
    if table.note:
        sheet.append([])
        sheet.append([table.note])
    content = io.BytesIO()
    book.save(content)
    content.seek(0)
    filename = _("%(title)s_%(region)s_%(month)s.xlsx") % {
        "title": table.title,
        "region": page.region.name,
        "month": f"{page.month:%Y-%m}",
    }
    response = FileResponse(content, as_attachment=True, filename=filename, content_type=XLSX)
    response["Cache-Control"] = "private, no-store"
    return response


def _cell(sheet, cell: board.Cell) -> WriteOnlyCell:
    written = WriteOnlyCell(sheet, value=cell.xlsx_value)
    if cell.kind in NUMBER_FORMATS and cell.value is not None:
        written.number_format = NUMBER_FORMATS[cell.kind]
    return written
