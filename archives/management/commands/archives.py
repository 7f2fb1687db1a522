"""``python manage.py archives <verb>``: archive work for operators.

archives kinds                          the archive kinds, their class numbers and retention, and which of them
                                        the portal files by itself (a registered source)
archives backfill [--kind K ...] [--chunk N]
                                        file every source record not filed yet (made before filing existed, or
                                        loaded in bulk); safe to stop and run again
archives sweep                          delete the stored content of scans whose item was destroyed, where the
                                        deletion after the decision failed; safe to run again
"""

from __future__ import annotations

import time
import unicodedata

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Count

from agencies import records
from agencies.errors import DomainError
from archives.backfill import DEFAULT_CHUNK, backfill
from archives.models import ArchiveKind, Retention
from archives.retention import sweep_deleted_files


class Command(BaseCommand):
    help = "档案：列出档案类别及保管期限（kinds）；补录历史记录归档（backfill）；清理已销毁档案的电子件（sweep）。"

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="verb", required=True)
        sub.add_parser("kinds", help="档案类别、类别号、保管期限")
        fill = sub.add_parser("backfill", help="补录尚未归档的历史记录，可中断后重跑")
        fill.add_argument("--kind", action="append", dest="kinds", metavar="K", help="只补录该类别（可多次指定）")
        fill.add_argument(
            "--chunk",
            type=int,
            default=DEFAULT_CHUNK,
            help=f"每批条数（默认 {DEFAULT_CHUNK}，每批一个事务，期间锁定该批用到的档号计数器）",
        )
        sub.add_parser("sweep", help="删除已销毁档案仍留在存储中的电子件内容，可重复执行")

    def handle(self, *args, verb: str, **options) -> None:
        getattr(self, f"verb_{verb}")(options)

    def line(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()

    def verb_kinds(self, options: dict) -> None:
        sourced = {source.kind for source in records.sources()}
        kinds = ArchiveKind.objects.annotate(filed=Count("items")).order_by("number")
        widths = (20, 8, 10, 8, 10)
        self.line(row(("编码", "类别号", "保管期限", "已归档", "自动归档", "名称"), widths))
        for kind in kinds:
            automatic = "是" if kind.code in sourced else "否"
            cells = (
                kind.code,
                kind.number,
                str(Retention(kind.retention).label),
                str(kind.filed),
                automatic,
                kind.name,
            )
            self.line(row(cells, widths))

    def verb_backfill(self, options: dict) -> None:
        if options["chunk"] < 1:
            raise CommandError("--chunk 至少为 1。")
        started = time.monotonic()
        names = dict(ArchiveKind.objects.values_list("code", "name"))

        def progress(kind: str, done: int, total: int) -> None:
            self.line(f"  {names.get(kind, kind)}：{done}/{total}（{time.monotonic() - started:.1f} 秒）")

        try:
            counts = backfill(kinds=options["kinds"], chunk=options["chunk"], progress=progress)
        except DomainError as error:
            raise CommandError(error.message) from None
        filed = sum(counts.values())
        for code, count in counts.items():
            self.line(f"{names.get(code, code)}（{code}）：补录 {count} 件")
        seconds = time.monotonic() - started
        if filed:
            self.stdout.write(self.style.SUCCESS(f"补录归档完成：共 {filed} 件（{seconds:.1f} 秒）。"))
        else:
            self.stdout.write(self.style.SUCCESS("没有需要补录的记录，均已归档。"))

    def verb_sweep(self, options: dict) -> None:
        swept = sweep_deleted_files()
        self.line(
            f"已销毁档案的电子件：{swept.checked} 份；本次删除存储内容 {swept.deleted} 份；删除失败 {swept.failed} 份。"
        )
        if swept.failed:
            raise CommandError(f"有 {swept.failed} 份电子件的存储内容未能删除（详见日志），请检查存储后再次执行。")
        if swept.deleted:
            self.stdout.write(self.style.SUCCESS("清理完成。"))
        else:
            self.stdout.write(self.style.SUCCESS("没有需要清理的存储内容。"))


def row(cells: tuple[str, ...], widths: tuple[int, ...]) -> str:
    return " ".join(pad(cell, width) for cell, width in zip(cells, widths, strict=False)) + " " + cells[-1]


def pad(text: str, width: int) -> str:
    """Pad to a terminal width: a Chinese character takes two columns."""
    columns = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
    return text + " " * max(width - columns, 0)
