"""The one look of the portal's .xlsx exports: a bold, shaded header row (write-only workbooks, any size), and
text typed by people that never becomes a formula."""

from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font, PatternFill

HEADER_FILL = PatternFill("solid", fgColor="E9EEF4")
# What a spreadsheet takes for the start of a formula (a tab or return before one is skipped by some).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def xlsx_header(sheet, values: list[str]) -> None:
    """Append a header row to a write-only sheet."""
    cells = []
    for value in values:
        cell = WriteOnlyCell(sheet, value=value)
        cell.font = Font(bold=True)
        cell.fill = HEADER_FILL
        cells.append(cell)
    sheet.append(cells)


def xlsx_text(value: object) -> object:
    """Text someone typed (a title, a name, a purpose) as a cell: one that would start a formula ("=1+1",
    "=HYPERLINK(…)") is kept as text, led by an apostrophe. Anything not a string is returned as it is."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
