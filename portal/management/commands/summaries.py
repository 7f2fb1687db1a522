"""``python manage.py summaries rebuild --from YYYY-MM [--to YYYY-MM]``: rebuild the village-month summaries of a
range of months (after loading history, or a correction to past months), the same code the nightly job runs."""

from __future__ import annotations

import datetime as dt
import time

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from portal.summaries import month_start, months_between, summarize_month


def _month(text: str) -> dt.date:
    try:
        return dt.datetime.strptime(text, "%Y-%m").date()
    except ValueError:
        raise CommandError(f"月份“{text}”格式不正确，应为 YYYY-MM，例如 2026-01。") from None


class Command(BaseCommand):
    help = "重算月度汇总（看板与报表读取的村×月数据）。可重复运行：每个月整月替换，结果相同。"

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        rebuild = sub.add_parser("rebuild", help="重算一段月份的月度汇总")
        rebuild.add_argument("--from", dest="first", type=_month, required=True, help="起始月份 YYYY-MM")
        rebuild.add_argument("--to", dest="last", type=_month, default=None, help="截止月份 YYYY-MM（默认本月）")

    def handle(self, *args: object, action: str, first: dt.date, last: dt.date | None, **options: object) -> None:
        today = timezone.localdate()
        if first > today:
            raise CommandError("起始月份不能晚于本月。")
        last = last or month_start(today)
        if last < first:
            raise CommandError("截止月份不能早于起始月份。")
        months = months_between(first, min(last, today))
        started = time.monotonic()
        villages = 0
        for number, month in enumerate(months, start=1):
            run = summarize_month(month=month, today=today)
            villages += run.villages
            self.stdout.write(
                f"  {month:%Y-%m}（{number}/{len(months)}）：{run.villages} 个村（社区），{run.seconds:.2f} 秒"
            )
        self.stdout.write(f"完成：{len(months)} 个月，共 {villages} 行，用时 {time.monotonic() - started:.1f} 秒。")
