"""``python manage.py run_nightly [--date YYYY-MM-DD]``: the nightly job by hand, the same code the task runs."""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal.nightly import business_day, run_nightly
from portal.tasks import NIGHTLY_WORKERS


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"日期“{text}”格式不正确，应为 YYYY-MM-DD，例如 2025-12-31。") from None


class Command(BaseCommand):
    help = (
        "运行夜间批处理：到期的年终结息、征缴期结束后未选档次者按最低档、月末归集、重算本月和上月的月度汇总。"
        "可重复运行，不会重复入账。"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--date", type=_date, default=None, help="业务日期 YYYY-MM-DD（默认昨天：夜间批处理处理刚结束的一天）"
        )
        parser.add_argument("--workers", type=int, default=NIGHTLY_WORKERS, help="结息同时使用的数据库连接数")

    def handle(self, *args: object, date: dt.date | None, workers: int, **options: object) -> None:
        on_date = date or business_day()
        self.stdout.write(f"夜间批处理，业务日期 {on_date.isoformat()}")

        def progress(step: str, done: int, total: int) -> None:
            self.stdout.write(f"  {step}：{done}/{total}")

        report = run_nightly(on_date=on_date, progress=progress, workers=workers)
        if report.busy:
            raise CommandError("另一个夜间批处理正在运行，本次未做任何处理。")
        for result in report.settlements:
            self.stdout.write(
                f"结息 {result.pooling_region_name} {result.year}年度：账户 {result.accounts} 个，"
                f"入账 {result.entries_posted} 笔，共 {result.amount_posted} 元，{result.seconds:.1f} 秒"
            )
        if not report.settlements:
            self.stdout.write("没有到期的年终结息。")
        self.stdout.write(f"按最低档补记档次选择 {report.default_tiers} 人。")
        for summary in report.summaries:
            self.stdout.write(
                f"月度汇总 {summary.month:%Y年%m月}：{summary.villages} 个村（社区），{summary.seconds:.1f} 秒"
            )
        for failure in report.failures:
            self.stderr.write(f"失败：{failure}")
        self.stdout.write(f"完成，用时 {report.seconds:.1f} 秒。")
        if report.failures:
            raise CommandError(f"夜间批处理有 {len(report.failures)} 项失败，见上。")
