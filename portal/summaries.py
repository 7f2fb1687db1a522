"""The nightly summaries: each village's figures for a month (``MonthlySummary``), rebuilt from the register.

Every figure is one grouped aggregate over its table (persons, contributions, payroll lines, applications,
claims), so a month at a million persons is a handful of scans, not a loop. A month is rebuilt whole in one
transaction (its rows deleted and written again), so a rerun gives the same rows and a run killed half way
leaves the previous rows in place. The nightly job rebuilds the running month and the one before (bank results
and late approvals still land in it); ``summaries_rebuild`` fills any range of months.
"""

from __future__ import annotations

import calendar
import datetime as dt
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable

from django.db import connection, transaction
from django.db.models import Count, F, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from agencies.models import Region, RegionLevel
from benefits.models import Award, AwardEvent, Claim, LineKind, PayoutStatus, PayrollLine, PayrollStatus
from contributions import policy as rules
from contributions.models import Contribution
from contributions.selectors import pooling_prefixes
from enrollment.models import (
    Application,
    ApplicationEvent,
    ApplicationKind,
    InsuredPerson,
    PersonStatus,
)
from funds.models import FundMovement
from portal.models import FundBalanceSummary, MonthlySummary, SummaryRun, TimeLimit, WorkKind
from portal.timelimits import STATUTORY_WORKING_DAYS, first_not_overdue

log = logging.getLogger(__name__)

# The events that take an application or claim out of the worklist (return, withdraw) or put it back (resubmit).
TURNS = ("return", "withdraw", "resubmit")
# First key of summarize_month's per-month advisory lock (the second is the month): two rebuilds of one month wait
# for each other instead of colliding on MonthlySummary's unique constraint.
_MONTH_LOCK_CLASS = 7_305_012
APPLICATION_WORK = {
    ApplicationKind.REGISTER: WorkKind.REGISTER,
    ApplicationKind.CHANGE: WorkKind.CHANGE,
    ApplicationKind.CANCEL: WorkKind.CANCEL,
}

Counts = dict[str, dict[str, object]]  # region code → field → value


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def month_end(month: dt.date) -> dt.date:
    return month.replace(day=calendar.monthrange(month.year, month.month)[1])


def months_between(first: dt.date, last: dt.date) -> list[dt.date]:
    months, month = [], month_start(first)
    while month <= last:
        months.append(month)
        month = month_end(month) + dt.timedelta(days=1)
    return months


def _end_of_day(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min))


def _merge(counts: Counts, rows: Iterable[dict], key: str = "region_code") -> None:
    for row in rows:
        code = row.pop(key)
        target = counts[code]
        for field, value in row.items():
            if value is not None:
                target[field] = target.get(field, 0) + value


def _persons(counts: Counts, first: dt.date, last: dt.date) -> None:
    members = InsuredPerson.objects.filter(status__in=[PersonStatus.ACTIVE, PersonStatus.CANCELLED])
    _merge(
        counts,
        members.values("region_code")
        .annotate(
            insured=Count(
                "id",
                filter=Q(enrolled_on__lte=last) & (Q(cancelled_on__isnull=True) | Q(cancelled_on__gt=last)),
            ),
            new_members=Count("id", filter=Q(enrolled_on__gte=first, enrolled_on__lte=last)),
            cancelled=Count("id", filter=Q(cancelled_on__gte=first, cancelled_on__lte=last)),
        )
        .order_by(),
    )


def _renewals(counts: Counts, last: dt.date) -> None:
    """续保 for the month's contribution year: who paid last year, and of them who has paid this year by ``last``.

    Due is whoever was a member at ``last`` (enrolled by then, not cancelled by then), so a past month rebuilt
    later still counts a person cancelled since.

    One pass over last year's contributions joined to this year's (each person has at most one of each), both age
    bands at once: a correlated lookup per person took seconds at a million persons.
    """
    year = last.year
    young_after, young_by = rules.band_birth_range("16-44", year)
    old_after, old_by = rules.band_birth_range("45-59", year)
    contribution, person = Contribution._meta.db_table, InsuredPerson._meta.db_table
    sql = f"""
        SELECT p.region_code,
               SUM(CASE WHEN p.birth_date > %s AND p.birth_date <= %s THEN 1 ELSE 0 END),
               SUM(CASE WHEN p.birth_date > %s AND p.birth_date <= %s AND cur.id IS NOT NULL THEN 1 ELSE 0 END),
               SUM(CASE WHEN p.birth_date > %s AND p.birth_date <= %s THEN 1 ELSE 0 END),
               SUM(CASE WHEN p.birth_date > %s AND p.birth_date <= %s AND cur.id IS NOT NULL THEN 1 ELSE 0 END)
          FROM {contribution} prev
          JOIN {person} p ON p.id = prev.person_id
          LEFT JOIN {contribution} cur ON cur.person_id = prev.person_id AND cur.year = %s AND cur.paid_on <= %s
         WHERE prev.year = %s AND p.status IN (%s, %s) AND p.enrolled_on <= %s
           AND (p.cancelled_on IS NULL OR p.cancelled_on > %s)
           AND p.birth_date > %s AND p.birth_date <= %s
         GROUP BY p.region_code
    """
    params = [
        *(young_after, young_by) * 2,
        *(old_after, old_by) * 2,
        year,
        last,
        year - 1,
        PersonStatus.ACTIVE.value,
        PersonStatus.CANCELLED.value,
        last,
        last,
        old_after,
        young_by,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    _merge(
        counts,
        (
            {
                "region_code": code,
                "renewal_due_young": int(due_young or 0),
                "renewal_paid_young": int(paid_young or 0),
                "renewal_due_old": int(due_old or 0),
                "renewal_paid_old": int(paid_old or 0),
            }
            for code, due_young, paid_young, due_old, paid_old in rows
        ),
    )


def _contributions(counts: Counts, first: dt.date, last: dt.date) -> None:
    _merge(
        counts,
        Contribution.objects.filter(paid_on__gte=first, paid_on__lte=last)
        .values("region_code")
        .annotate(payers=Count("person", distinct=True), contribution_income=Sum("personal_amount"))
        .order_by(),
    )


def _recipients(counts: Counts, first: dt.date) -> None:
    # An award counts from its first month until ``paid_until``, the first month not paid (as the payroll reads it).
    receiving = Award.objects.filter(start_month__lte=first).filter(
        Q(paid_until__isnull=True) | Q(paid_until__gt=first)
    )
    _merge(counts, receiving.values("region_code").annotate(recipients=Count("id")).order_by())


def _payroll(counts: Counts, first: dt.date) -> None:
    lines = PayrollLine.objects.filter(run__month=first, run__status=PayrollStatus.CONFIRMED, kind=LineKind.PENSION)
    _merge(
        counts,
        lines.values("region_code")
        .annotate(
            payroll_lines=Count("id"),
            payroll_paid=Count("id", filter=Q(payout_status=PayoutStatus.PAID)),
            basic_pension=Sum("basic_pension"),
            account_pension=Sum("account_pension"),
        )
        .order_by(),
    )


def _applications(counts: Counts, first: dt.date, last: dt.date) -> None:
    start, end = _end_of_day(first - dt.timedelta(days=1)), _end_of_day(last)
    _merge(
        counts,
        Application.objects.filter(created_at__gte=start, created_at__lt=end)
        .values("region_code")
        .annotate(applications=Count("id"))
        .order_by(),
    )
    _merge(
        counts,
        Claim.objects.filter(created_at__gte=start, created_at__lt=end)
        .values("region_code")
        .annotate(applications=Count("id"))
        .order_by(),
    )
    # 录入误差: an application sent back for correction (退回) in the month.
    _merge(
        counts,
        ApplicationEvent.objects.filter(action="return", at__gte=start, at__lt=end)
        .values("application__region_code")
        .annotate(applications_returned=Count("id"))
        .order_by(),
        key="application__region_code",
    )
    _merge(
        counts,
        AwardEvent.objects.filter(action="return", claim__isnull=False, at__gte=start, at__lt=end)
        .values("region_code")
        .annotate(applications_returned=Count("id"))
        .order_by(),
    )


def _start_of(day: dt.date) -> dt.datetime:
    return _end_of_day(day - dt.timedelta(days=1))


def _limit_periods(pooling_region_id: int, work: str, rows: list[TimeLimit]) -> list[tuple[dt.date | None, int]]:
    """(from, working days) of each period of the kind's limit, oldest first; the statutory one before the first."""
    periods: list[tuple[dt.date | None, int]] = [(None, STATUTORY_WORKING_DAYS[work])]
    for row in rows:
        if row.pooling_region_id == pooling_region_id and row.kind == work:
            periods.append((row.valid_from, row.working_days))
    return periods


def _overdue_filter(periods: list[tuple[dt.date | None, int]], last: dt.date) -> Q:
    """Submitted on a day whose limit (the one in force that day) had run out by ``last``: one cut-off per period."""
    overdue = Q(pk__in=[])
    for index, (valid_from, days) in enumerate(periods):
        until = periods[index + 1][0] if index + 1 < len(periods) else None
        cut = first_not_overdue(last, days)
        if until is not None:
            cut = min(cut, until)
        if valid_from is not None and cut <= valid_from:
            continue
        window = Q(submitted__lt=_start_of(cut))
        if valid_from is not None:
            window &= Q(submitted__gte=_start_of(valid_from))
        overdue |= window
    return overdue


def _open_at(queryset, events, end: dt.datetime):
    """Items submitted before ``end`` and still in the worklist then, each with ``submitted``, its latest submission.

    Read from the decision time and the events before ``end``, not from today's status: an item approved, returned
    or withdrawn since was still open at a past month's end. The clock restarts at a resubmission (补正后重新提交).
    """
    before = events.filter(at__lt=end)
    resubmitted = before.filter(action="resubmit").order_by("-at", "-pk").values("at")[:1]
    last_turn = before.filter(action__in=TURNS).order_by("-at", "-pk").values("action")[:1]
    return (
        queryset.filter(created_at__lt=end)
        .filter(Q(decided_at__isnull=True) | Q(decided_at__gte=end))
        .annotate(submitted=Coalesce(Subquery(resubmitted), F("created_at")), last_turn=Subquery(last_turn))
        .filter(Q(last_turn__isnull=True) | Q(last_turn="resubmit"))
    )


def _overdue(counts: Counts, last: dt.date) -> None:
    """Applications and claims open at the month's end (today, for the running month) past the limit in force on
    the day of their latest submission, each counted under the pooling region that holds its village (a town moved
    to another pooling region counts under that one only)."""
    end = _end_of_day(last)
    prefixes = pooling_prefixes()
    limit_rows = list(TimeLimit.objects.order_by("valid_from"))
    applications = _open_at(Application.objects.all(), ApplicationEvent.objects.filter(application=OuterRef("pk")), end)
    claims = _open_at(Claim.objects.all(), AwardEvent.objects.filter(claim=OuterRef("pk")), end)
    for pooling_region_id in sorted({pool for _, pool in prefixes}):
        own = [prefix for prefix, pool in prefixes if pool == pooling_region_id]
        place = Q()
        for prefix in own:
            place |= Q(region_code__startswith=prefix)
        for prefix, pool in prefixes:
            if pool != pooling_region_id and any(prefix.startswith(o) and len(prefix) > len(o) for o in own):
                place &= ~Q(region_code__startswith=prefix)
        for kind, work in APPLICATION_WORK.items():
            overdue = _overdue_filter(_limit_periods(pooling_region_id, work, limit_rows), last)
            _merge(
                counts,
                applications.filter(place, overdue, kind=kind)
                .values("region_code")
                .annotate(applications_overdue=Count("id"))
                .order_by(),
            )
        overdue = _overdue_filter(_limit_periods(pooling_region_id, WorkKind.CLAIM, limit_rows), last)
        _merge(
            counts,
            claims.filter(place, overdue).values("region_code").annotate(applications_overdue=Count("id")).order_by(),
        )


def month_counts(month: dt.date, *, today: dt.date | None = None) -> Counts:
    """Every village's figures for ``month`` (as of today for the running month), by region code."""
    today = today or timezone.localdate()
    first = month_start(month)
    last = min(month_end(first), today)
    counts: Counts = defaultdict(dict)
    for village in Region.objects.filter(level=RegionLevel.VILLAGE).values("code", "registered_population"):
        counts[village["code"]]["should_insure"] = village["registered_population"]
    _persons(counts, first, last)
    _renewals(counts, last)
    _contributions(counts, first, last)
    _recipients(counts, first)
    _payroll(counts, first)
    _applications(counts, first, last)
    _overdue(counts, last)
    return counts


def fund_balance_rows(month: dt.date, *, today: dt.date | None = None) -> list[FundBalanceSummary]:
    """Every pooling region's balance per account and fund at the month's end (today, for the running month)."""
    first = month_start(month)
    last = min(month_end(first), today or timezone.localdate())
    sums = (
        FundMovement.objects.filter(booked_on__lte=last)
        .values("account__pooling_region", "account__kind", "fund")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    return [
        FundBalanceSummary(
            pooling_region_id=row["account__pooling_region"],
            month=first,
            account_kind=row["account__kind"],
            fund=row["fund"],
            balance=row["total"],
        )
        for row in sums
    ]


def fund_balances_summarize(*, month: dt.date, today: dt.date | None = None) -> int:
    """Rebuild the month's fund balances alone (``summarize_month`` does it with the rest)."""
    rows = fund_balance_rows(month, today=today)
    with transaction.atomic():
        FundBalanceSummary.objects.filter(month=month_start(month)).delete()
        FundBalanceSummary.objects.bulk_create(rows)
    return len(rows)


def _lock_month(first: dt.date) -> None:
    """Wait for any other rebuild of the month (the nightly job, the command, a page) until this transaction ends."""
    if connection.vendor != "postgresql":
        return  # SQLite: development, one process
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_MONTH_LOCK_CLASS, first.year * 100 + first.month])


def summarize_month(*, month: dt.date, today: dt.date | None = None) -> SummaryRun:
    """Rebuild ``month``'s summaries in one transaction (the aggregates are read first, outside it)."""
    started = time.monotonic()
    first = month_start(month)
    run = SummaryRun.objects.create(month=first)
    counts = month_counts(first, today=today)
    rows = [
        MonthlySummary(region_code=code, month=first, **fields)
        for code, fields in counts.items()
        if any(fields.values())
    ]
    balances = fund_balance_rows(first, today=today)
    with transaction.atomic():
        _lock_month(first)
        MonthlySummary.objects.filter(month=first).delete()
        MonthlySummary.objects.bulk_create(rows, batch_size=2000)
        FundBalanceSummary.objects.filter(month=first).delete()
        FundBalanceSummary.objects.bulk_create(balances)
        run.finished_at = timezone.now()
        run.villages = len(rows)
        run.seconds = round(time.monotonic() - started, 3)
        run.save(update_fields=["finished_at", "villages", "seconds"])
    log.info("summaries of %s: %d places in %.1f s", first, len(rows), run.seconds)
    return run


def summaries_rebuild(
    *, first: dt.date, last: dt.date, today: dt.date | None = None, progress: Callable[[dt.date], None] | None = None
) -> list[SummaryRun]:
    runs = []
    for month in months_between(first, last):
        if progress is not None:
            progress(month)
        runs.append(summarize_month(month=month, today=today))
    return runs


def nightly_months(on_date: dt.date) -> list[dt.date]:
    """The months the nightly job rebuilds: the running one and the one before, and the next one when the night
    closes a month's last day (the job runs after midnight, so the new month has its rows from its first day)."""
    first = month_start(on_date)
    months = [month_start(first - dt.timedelta(days=1)), first]
    following = month_start(on_date + dt.timedelta(days=1))
    if following != first:
        months.append(following)
    return months
