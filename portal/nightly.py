"""The nightly job: whatever is due that night, for every pooling region.

- Year-end interest: every (pooling region, year) whose rate exists, whose year has ended by ``on_date``
  (on or after 31 December) and that has no completed settlement yet, oldest year first.
- Default tiers: anyone without a tier choice once the collection window has ended gets the lowest tier.
- The month-end sweep (归集): the income account of every pooling region is swept to the fiscal special
  account for the latest month ended by ``on_date`` (on its last day, that month; otherwise the month before).
  Run every night, it also sweeps money booked into that month after the month's first sweep.
- Bank result files accepted more than half an hour ago and still processing (their task was lost with a
  worker or a queue) are settled: the settlement resumes after its last committed chunk.
- A merger's test-load or import with no progress for half an hour is run again (``migration.tasks``).
- Last, the village-month summaries the dashboards and reports read (``portal.summaries``) are rebuilt for the
  month of ``on_date`` and the one before (and the next one when ``on_date`` is a month's last day: the run is
  after midnight, so the new month is open all day), so they include whatever the night settled and swept. A
  month is replaced whole, so a rerun writes the same rows.

``on_date`` is the business day the night closes: the Celery task and ``manage.py run_nightly`` default to
yesterday, so the run at 01:30 on 1 January settles the year that ended at midnight with all of its
31 December postings. Each step is set-based and idempotent; a second run, or a run after one killed half
way, finishes what is left and repeats nothing. On PostgreSQL an advisory lock keeps two runs from
working at the same time (the second one reports that and does nothing).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import connection
from django.utils import timezone

from agencies.errors import DomainError
from agencies.models import PoolingRegion
from contributions.models import InterestRate
from contributions.services import default_tiers_assign
from funds.batches import receipt_settle
from funds.fund_accounts import Sweep, income_sweep, month_end
from funds.models import FundAccountKind, InterestSettlement, ReceiptStatus, ResultReceipt, SettlementStatus
from funds.settlement import SettlementResult, settle_year
from migration.tasks import resume_stalled as resume_stalled_mergers
from portal.summaries import nightly_months, summarize_month
from portal.warning import cohorts_refresh

logger = logging.getLogger(__name__)

# progress(step, done, total): step is a Chinese label such as "结息 统筹区A 2025年度".
NightlyProgress = Callable[[str, int, int], None]

# A fixed key for pg_try_advisory_lock: one nightly run at a time per database.
_LOCK_KEY = 7_305_011_230


@dataclass(frozen=True)
class SummaryResult:
    month: dt.date
    villages: int
    seconds: float


@dataclass
class NightlyReport:
    on_date: dt.date
    settlements: list[SettlementResult] = field(default_factory=list)
    default_tiers: int = 0
    sweeps: list[Sweep] = field(default_factory=list)  # only those that moved money
    resumed_receipts: list[int] = field(default_factory=list)  # bank result files whose settlement was finished
    summaries: list[SummaryResult] = field(default_factory=list)  # the months whose summaries were rebuilt
    failures: list[str] = field(default_factory=list)
    busy: bool = False  # another run held the lock: this one did nothing
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures and not self.busy

    def as_dict(self) -> dict:
        return {
            "on_date": self.on_date.isoformat(),
            "settlements": [
                {
                    "pooling_region_id": s.pooling_region_id,
                    "pooling_region": s.pooling_region_name,
                    "year": s.year,
                    "accounts": s.accounts,
                    "entries_posted": s.entries_posted,
                    "amount_posted": str(s.amount_posted),
                    "seconds": round(s.seconds, 3),
                }
                for s in self.settlements
            ],
            "default_tiers": self.default_tiers,
            "sweeps": [
                {
                    "pooling_region_id": s.pooling_region.pk,
                    "pooling_region": s.pooling_region.name,
                    "month": f"{s.month:%Y-%m}",
                    "reference": s.reference,
                    "amounts": {fund: str(amount) for fund, amount in s.amounts.items()},
                    "total": str(s.total),
                }
                for s in self.sweeps
            ],
            "resumed_receipts": self.resumed_receipts,
            "summaries": [
                {"month": f"{s.month:%Y-%m}", "villages": s.villages, "seconds": round(s.seconds, 3)}
                for s in self.summaries
            ],
            "failures": self.failures,
            "busy": self.busy,
            "seconds": round(self.seconds, 3),
        }


def business_day() -> dt.date:
    """The day a run at night closes: yesterday, in the portal's time zone."""
    return timezone.localdate() - dt.timedelta(days=1)


def due_settlements(*, on_date: dt.date) -> list[tuple[PoolingRegion, int]]:
    """(pooling region, year) pairs to settle: rate set, year ended by on_date, not yet done; oldest first."""
    last_year = on_date.year if on_date >= dt.date(on_date.year, 12, 31) else on_date.year - 1
    done = set(InterestSettlement.objects.filter(status=SettlementStatus.DONE).values_list("pooling_region_id", "year"))
    rates = (
        InterestRate.objects.filter(year__lte=last_year)
        .select_related("pooling_region")
        .order_by("pooling_region__code", "year")
    )
    return [(rate.pooling_region, rate.year) for rate in rates if (rate.pooling_region_id, rate.year) not in done]


def run_nightly(*, on_date: dt.date, progress: NightlyProgress | None = None, workers: int = 1) -> NightlyReport:
    """Run everything due on ``on_date``. A failure in one region is recorded and the others still run."""
    started = time.monotonic()
    report = NightlyReport(on_date=on_date)
    if not _lock():
        report.busy = True
        logger.warning("nightly run for %s skipped: another run holds the lock", on_date)
        return report
    try:
        _settle_due(report, on_date=on_date, progress=progress, workers=workers)
        _default_tiers(report, on_date=on_date, progress=progress)
        # Before the sweep: a deduction settled now is money of the month being swept.
        _resume_settlements(report, progress=progress, workers=workers)
        report.failures += resume_stalled_mergers()
        _sweep_income(report, on_date=on_date, progress=progress)
        _summaries(report, on_date=on_date, progress=progress)
    finally:
        _unlock()
    report.seconds = time.monotonic() - started
    logger.info(
        "nightly run for %s: %d settlements, %d default tiers, %d sweeps, %d months summarized, %d failures in %.1f s",
        on_date,
        len(report.settlements),
        report.default_tiers,
        len(report.sweeps),
        len(report.summaries),
        len(report.failures),
        report.seconds,
    )
    return report


def _settle_due(report: NightlyReport, *, on_date: dt.date, progress: NightlyProgress | None, workers: int) -> None:
    failed_regions: set[int] = set()
    for pooling_region, year in due_settlements(on_date=on_date):
        if pooling_region.pk in failed_regions:
            continue  # a later year waits for the earlier one
        step = f"结息 {pooling_region.name} {year}年度"

        def chunk_progress(done: int, total: int, step: str = step) -> None:
            if progress is not None:
                progress(step, done, total)

        try:
            result = settle_year(pooling_region=pooling_region, year=year, progress=chunk_progress, workers=workers)
        except DomainError as error:
            failed_regions.add(pooling_region.pk)
            report.failures.append(f"{step}：{error.message}")
            continue
        except Exception as error:  # one region's trouble must not stop the others; logged in full
            logger.exception("nightly settlement failed: %s %s", pooling_region.code, year)
            failed_regions.add(pooling_region.pk)
            report.failures.append(f"{step}：{type(error).__name__}: {error}")
            continue
        report.settlements.append(result)
        if progress is not None and result.accounts == 0:
            progress(step, 0, 0)


def _default_tiers(report: NightlyReport, *, on_date: dt.date, progress: NightlyProgress | None) -> None:
    step = "未选档次的参保人按最低档"
    try:
        report.default_tiers = default_tiers_assign(on_date=on_date)
    except Exception as error:
        logger.exception("nightly default tiers failed")
        report.failures.append(f"{step}：{getattr(error, 'message', None) or f'{type(error).__name__}: {error}'}")
        return
    if progress is not None:
        progress(step, report.default_tiers, report.default_tiers)


def swept_month(on_date: dt.date) -> dt.date:
    """The first day of the latest month that has ended by ``on_date``."""
    if on_date == month_end(on_date):
        return on_date.replace(day=1)
    return (on_date.replace(day=1) - dt.timedelta(days=1)).replace(day=1)


def _sweep_income(report: NightlyReport, *, on_date: dt.date, progress: NightlyProgress | None) -> None:
    month = swept_month(on_date)
    regions = (
        PoolingRegion.objects.filter(
            fund_accounts__kind=FundAccountKind.INCOME, fund_accounts__movements__booked_on__lte=month_end(month)
        )
        .distinct()
        .order_by("code")
    )
    for pooling_region in regions:
        step = f"归集 {pooling_region.name} {month:%Y年%m月}"
        try:
            sweep = income_sweep(pooling_region=pooling_region, month=month)
        except DomainError as error:
            report.failures.append(f"{step}：{error.message}")
            continue
        except Exception as error:  # one region's trouble must not stop the others; logged in full
            logger.exception("nightly sweep failed: %s %s", pooling_region.code, month)
            report.failures.append(f"{step}：{type(error).__name__}: {error}")
            continue
        if sweep.reference is not None:
            report.sweeps.append(sweep)
            if progress is not None:
                progress(step, 1, 1)


def _summaries(report: NightlyReport, *, on_date: dt.date, progress: NightlyProgress | None) -> None:
    """The summaries of ``nightly_months(on_date)``, each counted as of ``on_date``."""
    for month in nightly_months(on_date):
        step = f"月度汇总 {month:%Y年%m月}"
        try:
            run = summarize_month(month=month, today=on_date)
        except Exception as error:  # one month's trouble must not stop the other; logged in full
            logger.exception("nightly summaries failed: %s", month)
            report.failures.append(f"{step}：{getattr(error, 'message', None) or f'{type(error).__name__}: {error}'}")
            continue
        report.summaries.append(SummaryResult(month=run.month, villages=run.villages, seconds=run.seconds or 0.0))
        if progress is not None:
            progress(step, run.villages, run.villages)
    # The fund projection's coming retirements, counted once a night instead of on every page; on 31 December
    # for the new year too, which begins before the next night's run.
    tomorrow = on_date + dt.timedelta(days=1)
    for day in [on_date] if tomorrow.year == on_date.year else [on_date, tomorrow]:
        try:
            cohorts_refresh(today=day)
        except Exception as error:
            logger.exception("nightly retirement cohorts failed")
            message = getattr(error, "message", None) or f"{type(error).__name__}: {error}"
            report.failures.append(f"基金预测人数：{message}")


# A result file accepted this long ago and still processing lost its task (a worker died, Redis was flushed).
STALLED_AFTER = dt.timedelta(minutes=30)


def _resume_settlements(report: NightlyReport, *, progress: NightlyProgress | None, workers: int) -> None:
    stalled = ResultReceipt.objects.filter(
        status=ReceiptStatus.PROCESSING, received_at__lt=timezone.now() - STALLED_AFTER
    ).order_by("pk")
    for receipt in stalled.select_related("batch"):
        step = f"结算回盘文件 {receipt.batch.batch_no}"
        try:
            receipt_settle(receipt_id=receipt.pk, workers=workers)
        except Exception as error:  # one file's trouble must not stop the others; logged in full
            logger.exception("nightly settlement of receipt %s failed", receipt.pk)
            report.failures.append(f"{step}：{type(error).__name__}: {error}")
            continue
        report.resumed_receipts.append(receipt.pk)
        if progress is not None:
            progress(step, 1, 1)


def _lock() -> bool:
    if connection.vendor != "postgresql":
        return True  # SQLite: development, one process
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [_LOCK_KEY])
        return cursor.fetchone()[0]


def _unlock() -> None:
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(%s)", [_LOCK_KEY])
