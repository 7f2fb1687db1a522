"""The one look of the portal's .xlsx exports: a bold, shaded header row (write-only workbooks, any size)."""

from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font, PatternFill

HEADER_FILL = PatternFill("solid", fgColor="E9EEF4")


def xlsx_header(sheet, values: list[str]) -> None:
    """Append a header row to a write-only sheet."""
    cells = []
    for value in values:
        cell = WriteOnlyCell(sheet, value=value)
        cell.font = Font(bold=True)
        cell.fill = HEADER_FILL
        cells.append(cell)
    sheet.append(cells)
