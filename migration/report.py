"""A test-load's findings: a summary for the page (kind, title, severity, count, the first rows) and the whole
list as an .xlsx (a write-only workbook, streamed, so a report of a million findings stays small in memory)."""

from __future__ import annotations

import io

from django.db.models import Count
from openpyxl import Workbook

from agencies.exports import xlsx_header, xlsx_text
from migration.checks import KINDS
from migration.models import Finding, Severity, TestLoad

FIRST_ROWS = 5
_SEVERITY = dict(Severity.choices)


def _kind_order(kind: str) -> tuple[int, int]:
    """Blocking kinds first, each group in the registry's order."""
    names = list(KINDS)
    severity = KINDS.get(kind, (Severity.BLOCKING, ""))[0]
    return (0 if severity == Severity.BLOCKING else 1, names.index(kind) if kind in names else len(names))


def _counts(testload: TestLoad) -> list[tuple[str, str, int]]:
    rows = (
        Finding.objects.filter(testload=testload)
        .values("kind", "severity")
        .annotate(n=Count("id"))
        .values_list("kind", "severity", "n")
        .order_by()
    )
    return sorted(rows, key=lambda row: _kind_order(row[0]))


def findings_summary(testload: TestLoad) -> list[dict]:
    """Per kind: its title, severity, count and first rows (in line order of the file)."""
    summary = []
    for kind, severity, count in _counts(testload):
        first = list(
            Finding.objects.filter(testload=testload, kind=kind)
            .order_by("id")
            .values("file", "line", "column", "value", "message")[:FIRST_ROWS]
        )
        summary.append(
            {
                "kind": kind,
                "title": KINDS.get(kind, ("", kind))[1],
                "severity": severity,
                "severity_label": str(_SEVERITY.get(severity, severity)),
                "count": count,
                "rows": first,
            }
        )
    return summary


def findings_xlsx(testload: TestLoad) -> bytes:
    """汇总 (kind, title, severity, count) and 明细 (every finding with its file, line, column, value, message)."""
    workbook = Workbook(write_only=True)
    summary = workbook.create_sheet("汇总")
    xlsx_header(summary, ["问题代码", "问题类型", "级别", "数量"])
    counts = _counts(testload)
    for kind, severity, count in counts:
        summary.append([kind, KINDS.get(kind, ("", kind))[1], str(_SEVERITY.get(severity, severity)), count])
    details = workbook.create_sheet("明细")
    xlsx_header(details, ["问题类型", "级别", "文件", "行号", "列", "值", "说明"])
    titles = {kind: title for kind, (_s, title) in KINDS.items()}
    rows = (
        Finding.objects.filter(testload=testload)
        .order_by("id")
        .values_list("kind", "severity", "file", "line", "column", "value", "message")
    )
    for kind, severity, file, line, column, value, message in rows.iterator(chunk_size=5000):
        details.append(
            [
                titles.get(kind, kind),
                str(_SEVERITY.get(severity, severity)),
                file,
                line,
                xlsx_text(column),
                xlsx_text(value),
                xlsx_text(message),
            ]
        )
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
