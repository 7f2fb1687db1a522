"""The monthly payroll of a pooling region: prepared as a draft (the preview, repeatable), then confirmed.

Prepare is one ``INSERT ... SELECT``: every award in payment for the month with the amounts of its period in
effect, plus approved back pay and benefit offsets of overpayments. Confirm takes the account part of each
pension line from its individual account, in chunks of lines (one transaction each): the ledger debits are
set-based (``funds.bulk.debit_in_proportion``), taken while the account has money; what the account cannot
cover is paid by the fund (``fund_paid``). A confirm killed half way leaves the run ``confirming``; confirming
again finishes the lines not yet debited (``debited``) and takes nothing twice (the ledger's unique keys).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Q, Sum
from django.utils import timezone

from agencies.closing import require_open
from agencies.errors import Conflict, DomainError, NotPermitted
from agencies.models import PoolingRegion
from agencies.money import FEN, ZERO
from agencies.permissions import Action, can
from agencies.records import file_record
from agencies.scope import covers_pooling_region
from benefits import calc
from benefits.models import (
    Arrear,
    ArrearStatus,
    Award,
    AwardCategory,
    AwardEvent,
    LineKind,
    Overpayment,
    OverpaymentStatus,
    PayrollLine,
    PayrollRun,
    PayrollStatus,
    Recalculation,
    RecoveryMethod,
    RecoveryStep,
)
from benefits.records import payout_roll_record
from funds.batches import (
    all_frozen_refusal,
    frozen_params,
    frozen_patterns,
    frozen_sql,
    left_out_message,
    not_frozen_sql,
)
from funds.bulk import debit_in_proportion
from funds.models import EntryKind

Progress = Callable[[int, int], None]

log = logging.getLogger(__name__)

_LINE_COLUMNS = """(run_id, award_id, person_id, region_code, kind, category, basic_pension, account_pension,
    account_paid, fund_paid, total, debited, bank_code, bank_account, payout_status)"""

# Each award in payment for the month, with its period in effect (the latest live one starting by the month),
# in award order, so that a chunk of lines at confirmation meets a compact range of accounts. On PostgreSQL one
# probe per award of the partial unique index on (award, valid_from) of the live periods, read backwards.
_PERIOD_IN_EFFECT = {
    "postgresql": """CROSS JOIN LATERAL (
    SELECT q.basic_pension, q.account_pension, q.total FROM benefits_awardperiod q
    WHERE q.award_id = a.id AND q.replaced_by_id IS NULL AND q.valid_from <= %(month)s
    ORDER BY q.valid_from DESC
    LIMIT 1
) p""",
    "sqlite": """JOIN benefits_awardperiod p ON p.award_id = a.id AND p.replaced_by_id IS NULL
  AND p.valid_from = (
      SELECT MAX(q.valid_from) FROM benefits_awardperiod q
      WHERE q.award_id = a.id AND q.replaced_by_id IS NULL AND q.valid_from <= %(month)s
  )""",
}
_PENSION_LINES_SQL = f"""
INSERT INTO benefits_payrollline {_LINE_COLUMNS}
SELECT %(run)s, a.id, a.person_id, a.region_code, 'pension', a.category, p.basic_pension, p.account_pension,
       0, 0, p.total, %(false)s, a.bank_code, a.bank_account, 'pending'
FROM benefits_award a
{{period}}
WHERE a.pooling_region_id = %(region)s
  AND a.start_month <= %(month)s
  AND (a.paid_until IS NULL OR a.paid_until > %(month)s){{frozen}}
ORDER BY a.id
"""

# How many awards in payment for the month a freeze leaves out ({frozen} selects the frozen towns).
_FROZEN_AWARDS_SQL = """
SELECT COUNT(*), MIN(a.region_code) FROM benefits_award a
WHERE a.pooling_region_id = %(region)s
  AND a.start_month <= %(month)s
  AND (a.paid_until IS NULL OR a.paid_until > %(month)s)
  AND {frozen}
"""

# Approved back pay not yet paid, one line per award in payment: paid by the fund with the month.
_ARREARS_LINES_SQL = f"""
INSERT INTO benefits_payrollline {_LINE_COLUMNS}
SELECT %(run)s, a.id, a.person_id, a.region_code, 'arrears', a.category, SUM(r.amount), 0,
       0, 0, SUM(r.amount), %(true)s, a.bank_code, a.bank_account, 'pending'
FROM benefits_arrear r
JOIN benefits_award a ON a.id = r.award_id
WHERE a.pooling_region_id = %(region)s AND a.status = 'active'
  AND r.status = 'approved' AND r.payroll_line_id IS NULL{{frozen}}
GROUP BY a.id, a.person_id, a.region_code, a.category, a.bank_code, a.bank_account
HAVING SUM(r.amount) <> 0
"""

# The oldest open overpayment offset against benefits, per award in payment, for at most what is outstanding.
_RECOVERY_LINES_SQL = f"""
INSERT INTO benefits_payrollline {_LINE_COLUMNS}
SELECT %(run)s, a.id, a.person_id, a.region_code, 'recovery', a.category,
       -(CASE WHEN o.offset_per_month < o.amount - o.recovered THEN o.offset_per_month
              ELSE o.amount - o.recovered END), 0, 0, 0,
       -(CASE WHEN o.offset_per_month < o.amount - o.recovered THEN o.offset_per_month
              ELSE o.amount - o.recovered END),
       %(true)s, a.bank_code, a.bank_account, 'pending'
FROM benefits_overpayment o
JOIN benefits_award a ON a.id = o.award_id
WHERE a.pooling_region_id = %(region)s AND a.status = 'active'
  AND o.status = 'open' AND o.offset_per_month > 0{{frozen}}
  AND o.id = (SELECT MIN(o2.id) FROM benefits_overpayment o2
              WHERE o2.award_id = o.award_id AND o2.status = 'open' AND o2.offset_per_month > 0)
  AND EXISTS (SELECT 1 FROM benefits_payrollline l
              WHERE l.run_id = %(run)s AND l.award_id = a.id AND l.kind = 'pension')
"""

# Chunks of the pension lines still to debit, as (first id, last id), from one numbered scan.
_CHUNKS_SQL = """
SELECT MIN(id), MAX(id) FROM (
    SELECT id, (ROW_NUMBER() OVER (ORDER BY id) - 1) / %s AS chunk
    FROM benefits_payrollline
    WHERE run_id = %s AND kind = 'pension' AND NOT debited{frozen}
) numbered
GROUP BY chunk
ORDER BY 1
"""

# Each line of the chunk: what its account gave (nothing without a staging row) and what the fund pays.
_SETTLE_LINES_SQL = """
UPDATE benefits_payrollline
SET account_paid = COALESCE((SELECT s.debited FROM {staging} s WHERE s.line_id = benefits_payrollline.id), 0),
    fund_paid = account_pension
                - COALESCE((SELECT s.debited FROM {staging} s WHERE s.line_id = benefits_payrollline.id), 0),
    debited = %s
WHERE run_id = %s AND id BETWEEN %s AND %s AND kind = 'pension' AND NOT debited{frozen}
"""

# The run's figures from its lines in one scan; in the preview, the account part is split as balances stand.
_TOTALS_SQL = """
SELECT l.category,
       COUNT(*) FILTER (WHERE l.kind = 'pension'),
       COALESCE(SUM(l.basic_pension) FILTER (WHERE l.kind = 'pension'), 0),
       COALESCE(SUM(l.account_pension) FILTER (WHERE l.kind = 'pension'), 0),
       COALESCE(SUM({account_paid}) FILTER (WHERE l.kind = 'pension'), 0),
       COALESCE(SUM(l.total) FILTER (WHERE l.kind = 'arrears'), 0),
       COALESCE(SUM(l.total) FILTER (WHERE l.kind = 'recovery'), 0),
       COALESCE(SUM(l.account_pension), 0),
       COALESCE(SUM(l.total), 0),
       COUNT(DISTINCT l.award_id) FILTER (WHERE l.kind <> 'pension' AND NOT EXISTS (
           SELECT 1 FROM benefits_payrollline o WHERE o.run_id = l.run_id AND o.award_id = l.award_id
                                                 AND o.kind = 'pension'))
FROM benefits_payrollline l
{join}
WHERE l.run_id = %s{frozen}
GROUP BY l.category
"""
# LEAST and GREATEST are MIN and MAX of several arguments on SQLite.
_PREVIEW_ACCOUNT_PAID = {
    "postgresql": "LEAST(l.account_pension, GREATEST(COALESCE(acc.balance, 0), 0))",
    "sqlite": "MIN(l.account_pension, MAX(COALESCE(acc.balance, 0), 0))",
}
_PREVIEW_JOIN = "LEFT JOIN funds_individualaccount acc ON acc.person_id = l.person_id"

_DEBIT_SOURCE_SQL = """
SELECT l.id AS line_id, acc.id AS account_id, l.account_pension AS requested
FROM benefits_payrollline l
JOIN funds_individualaccount acc ON acc.person_id = l.person_id
WHERE l.run_id = %s AND l.id BETWEEN %s AND %s AND l.kind = 'pension'
  AND NOT l.debited AND l.account_pension > 0{frozen}
"""


@dataclass(frozen=True)
class Timetable:
    funding_request_by: dt.date
    finance_transfer_by: dt.date
    bank_credit_by: dt.date


def timetable(run: PayrollRun) -> Timetable:
    """The month's deadlines from the region's parameters (Linyi: the 10th, 15th and 20th)."""
    from benefits.services import parameters_for

    try:
        row = parameters_for(run.pooling_region, run.month)
        days = (row.funding_request_day, row.finance_transfer_day, row.bank_credit_day)
    except DomainError:
        days = (10, 15, 20)
    return Timetable(*(run.month.replace(day=min(day, 28)) for day in days))


def require_covers(actor, pooling_region: PoolingRegion) -> None:
    """The actor's scope holds every place of the pooling region: a payroll is the whole region's."""
    if not covers_pooling_region(actor, pooling_region):
        raise NotPermitted("该统筹区不全在您的管辖范围内，不能办理其月度发放。", code="not_whole_region")


def _booleans() -> dict:
    return {"true": True, "false": False}


def payroll_prepare(*, actor, pooling_region: PoolingRegion, month: dt.date) -> PayrollRun:
    """Compute (or compute again) the month's draft payroll. Refused once the month is confirmed."""
    if not can(actor, Action.RUN_PAYROLL):
        raise NotPermitted()
    require_covers(actor, pooling_region)
    month = calc.month_of(month)
    require_open(pooling_region, month)
    with transaction.atomic():
        run, created = PayrollRun.objects.select_for_update().get_or_create(
            pooling_region=pooling_region,
            month=month,
            defaults={"prepared_by": actor, "prepared_at": timezone.now()},
        )
        if run.status != PayrollStatus.DRAFT:
            raise Conflict(
                f"{pooling_region.name}{month:%Y年%m月}的发放{run.get_status_display()}，不能重新试算。",
                code="payroll_confirmed",
            )
        written, left_out = _write_lines(run)
        if left_out and not written:
            raise all_frozen_refusal(left_out[1])
        run.prepared_by = actor
        run.prepared_at = timezone.now()
        _set_totals(run, preview=True)
        run.save()
    _note_left_out(run, left_out[0] if left_out else 0)
    return run


def _note_left_out(run: PayrollRun, count: int) -> None:
    """Awards of towns frozen for a merger wait: the run says how many (``frozen_notice``) and the log too."""
    run.frozen_left_out = count
    run.frozen_notice = left_out_message(count) if count else ""
    if count:
        log.info("payroll %s %s: %s", run.pooling_region_id, run.month, run.frozen_notice)


def _frozen_awards(run: PayrollRun, patterns: list[str]) -> tuple[int, str] | None:
    """(awards in payment for the month in frozen towns, the least code), or None when there are none."""
    if not patterns:
        return None
    params = {"region": run.pooling_region_id, "month": run.month, **frozen_params(patterns)}
    with connection.cursor() as cursor:
        cursor.execute(_FROZEN_AWARDS_SQL.format(frozen=frozen_sql("a.region_code", patterns, named=True)), params)
        count, code = cursor.fetchone()
    return (count, code) if count else None


def _frozen_q(patterns: list[str]) -> Q:
    """The lines under a frozen prefix (matches nothing when nothing is frozen)."""
    q = Q(pk__in=[])
    for pattern in patterns:
        q |= Q(region_code__startswith=pattern[:-1])
    return q


def _write_lines(run: PayrollRun) -> tuple[int, tuple[int, str] | None]:
    """The run's lines from the awards, back pay and offsets as they stand now (in the caller's transaction).

    Awards in towns frozen for a merger are left out, and their lines of a draft made before the freeze stay
    as they are (the database refuses to touch them) and are left out of every later step. Returns (pension
    lines written, (awards left out, a frozen code) or None)."""
    patterns = frozen_patterns()
    frozen = not_frozen_sql("a.region_code", patterns, named=True)
    params = {"run": run.pk, "region": run.pooling_region_id, "month": run.month, **_booleans()}
    params |= frozen_params(patterns)
    with connection.cursor() as cursor:
        _tune(cursor)
        # A draft's lines are referenced by nothing (back pay points at a line only once confirmed): one
        # DELETE, not the ORM's fetch-and-collect of every line.
        cursor.execute(
            f"DELETE FROM benefits_payrollline WHERE run_id = %s{not_frozen_sql('region_code', patterns)}",
            [run.pk, *patterns],
        )
        cursor.execute(_PENSION_LINES_SQL.format(period=_PERIOD_IN_EFFECT[connection.vendor], frozen=frozen), params)
        written = cursor.rowcount
        cursor.execute(_ARREARS_LINES_SQL.format(frozen=frozen), params)
        cursor.execute(_RECOVERY_LINES_SQL.format(frozen=frozen), params)
    return written, _frozen_awards(run, patterns)


def _awards_changed_since(run: PayrollRun) -> bool:
    """Whether an award of the region changed (approved, stopped, suspended, resumed) or was recalculated
    after the draft was prepared: then the draft no longer says what is due."""
    if Recalculation.objects.filter(pooling_region_id=run.pooling_region_id, at__gt=run.prepared_at).exists():
        return True
    return Award.history.filter(pooling_region_id=run.pooling_region_id, history_date__gt=run.prepared_at).exists()


def _tune(cursor) -> None:
    """For this transaction on PostgreSQL: room to sort and hash in memory, and no JIT compilation (it costs
    more than it saves on statements that each touch a chunk of rows)."""
    if connection.vendor == "postgresql":
        cursor.execute("SET LOCAL work_mem = '64MB'")
        cursor.execute("SET LOCAL jit = off")


def _money(value) -> Decimal:
    return Decimal(str(value)).quantize(FEN)  # SQLite returns REAL sums: back to the fen


def _set_totals(run: PayrollRun, *, preview: bool) -> None:
    """Totals from the lines. In the preview the account part is split as the balances stand now.

    One scan of the run's lines grouped by category; the run's figures are the sums of the categories'. An
    award is counted once per category: its pension line, or its other lines when it has no pension line.
    """
    patterns = frozen_patterns()
    sql = _TOTALS_SQL.format(
        account_paid=_PREVIEW_ACCOUNT_PAID[connection.vendor] if preview else "l.account_paid",
        join=_PREVIEW_JOIN if preview else "",
        frozen=not_frozen_sql("l.region_code", patterns),
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [run.pk, *patterns])
        rows = cursor.fetchall()
    run.lines_count = 0
    run.basic_total = run.account_total = run.account_paid_total = run.arrears_total = ZERO
    recovered = ZERO
    by_category = {}
    for category, count, basic, account, paid, arrears, recovery, category_account, total, others in sorted(rows):
        run.lines_count += count
        run.basic_total += _money(basic)
        run.account_total += _money(account)
        run.account_paid_total += _money(paid)
        run.arrears_total += _money(arrears)
        recovered += _money(recovery)
        by_category[category] = {
            "label": str(AwardCategory(category).label),
            "persons": count + others,
            "basic": str(_money(basic)),
            "account": str(_money(category_account)),
            "total": str(_money(total)),
        }
    run.fund_paid_total = run.account_total - run.account_paid_total
    run.total = run.basic_total + run.account_total + run.arrears_total + recovered
    run.totals_by_category = by_category


def _analyze_lines_if_stale() -> None:
    """Fresh planner statistics for the lines before the chunks read them by id range.

    A month's lines are written at once by the prepare; until autovacuum gets round to them PostgreSQL may
    believe the run has a handful of lines and read each chunk through the index on (run, award, kind), every
    line of the run for every chunk. ANALYZE reads a sample; here, outside any transaction, its lock is short.
    """
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT 1 FROM pg_stat_user_tables
               WHERE relname = 'benefits_payrollline'
                 AND (COALESCE(last_analyze, last_autoanalyze) IS NULL
                      OR n_mod_since_analyze > 0.1 * GREATEST(n_live_tup, 1000))"""
        )
        if cursor.fetchone():
            cursor.execute("ANALYZE benefits_payrollline")


def _line_chunks(run: PayrollRun, chunk_size: int, patterns: list[str]) -> list[tuple[int, int]]:
    with connection.cursor() as cursor:
        cursor.execute(
            _CHUNKS_SQL.format(frozen=not_frozen_sql("region_code", patterns)), [chunk_size, run.pk, *patterns]
        )
        return [(lo, hi) for lo, hi in cursor.fetchall()]


def _debit_chunk(run: PayrollRun, lo: int, hi: int, *, actor, patterns: list[str]) -> int:
    with transaction.atomic():
        # Confirmations of one run take turns chunk by chunk; the second then finds the lines debited.
        PayrollRun.objects.select_for_update().filter(pk=run.pk).exists()
        with connection.cursor() as cursor:
            _tune(cursor)
        staging = debit_in_proportion(
            source_sql=_DEBIT_SOURCE_SQL.format(frozen=not_frozen_sql("l.region_code", patterns)),
            params=[run.pk, lo, hi, *patterns],
            kind=EntryKind.PENSION,
            booked_on=run.month,
            key_prefix=f"payroll:{run.pk}:",
            reference=f"payroll:{run.pk}:line:",
            actor=actor,
        )
        with connection.cursor() as cursor:
            # One UPDATE per line (a second would write every line twice).
            cursor.execute(
                _SETTLE_LINES_SQL.format(staging=staging, frozen=not_frozen_sql("region_code", patterns)),
                [True, run.pk, lo, hi, *patterns],
            )
            done = cursor.rowcount
            cursor.execute(
                "UPDATE benefits_payrollrun SET progress_done = progress_done + %s WHERE id = %s", [done, run.pk]
            )
    return done


def payroll_confirm(
    *, actor, run: PayrollRun, chunk_size: int = 20_000, progress: Progress | None = None
) -> PayrollRun:
    """Confirm and lock the month: back pay and offsets fixed, account parts debited, the funding request made.

    Awards in towns frozen for a merger are left out (their accounts are not debited, their back pay and
    offsets wait); the run's ``frozen_notice`` says how many."""
    if not can(actor, Action.RUN_PAYROLL):
        raise NotPermitted()
    require_covers(actor, run.pooling_region)
    with transaction.atomic():
        run = PayrollRun.objects.select_for_update().select_related("pooling_region").get(pk=run.pk)
        if run.status == PayrollStatus.CONFIRMED:
            raise Conflict(f"{run.pooling_region.name}{run.month:%Y年%m月}的发放已确认。", code="payroll_confirmed")
        patterns = frozen_patterns()
        if run.status == PayrollStatus.DRAFT:
            if _awards_changed_since(run):
                _write_lines(run)  # what the preview showed is stale: confirm what is due now
            _fix_adjustment_lines(run, patterns)
            run.status = PayrollStatus.CONFIRMING
            run.confirmed_by = actor
            run.progress_done = 0
            run.progress_total = run.lines.filter(kind=LineKind.PENSION).exclude(_frozen_q(patterns)).count()
            run.save()
        left_out = _frozen_awards(run, patterns)
    _analyze_lines_if_stale()
    chunks = _line_chunks(run, chunk_size, patterns)
    for lo, hi in chunks:
        _debit_chunk(run, lo, hi, actor=actor, patterns=patterns)
        if progress is not None:
            run.refresh_from_db(fields=["progress_done", "progress_total"])
            progress(run.progress_done, run.progress_total)
    with transaction.atomic():
        run = PayrollRun.objects.select_for_update().select_related("pooling_region").get(pk=run.pk)
        if run.status == PayrollStatus.CONFIRMED:
            return run
        with connection.cursor() as cursor:
            _tune(cursor)
        _record_offsets(run, actor=actor, patterns=patterns)
        _set_totals(run, preview=False)
        run.status = PayrollStatus.CONFIRMED
        run.confirmed_at = timezone.now()
        run.funding_request_number = f"YK{run.pooling_region.code}{run.month:%Y%m}"
        run.save()
        file_record(payout_roll_record(run))  # 待遇发放花名册, once: only the run that confirms it gets here
    _note_left_out(run, left_out[0] if left_out else 0)
    return run


def _fix_adjustment_lines(run: PayrollRun, patterns: list[str]) -> None:
    """At confirmation, back pay and offsets are taken as they stand now, under lock, and marked as paid here
    (those of frozen towns wait)."""
    Arrear.objects.select_for_update().filter(
        award__pooling_region=run.pooling_region, status=ArrearStatus.APPROVED, payroll_line__isnull=True
    ).order_by("pk").exists()
    run.lines.exclude(kind=LineKind.PENSION).exclude(_frozen_q(patterns)).delete()
    params = {"run": run.pk, "region": run.pooling_region_id, "month": run.month, **_booleans()}
    params |= frozen_params(patterns)
    frozen = not_frozen_sql("a.region_code", patterns, named=True)
    with connection.cursor() as cursor:
        cursor.execute(_ARREARS_LINES_SQL.format(frozen=frozen), params)
        cursor.execute(_RECOVERY_LINES_SQL.format(frozen=frozen), params)
    for line in run.lines.filter(kind=LineKind.ARREARS).exclude(_frozen_q(patterns)):
        Arrear.objects.filter(award_id=line.award_id, status=ArrearStatus.APPROVED, payroll_line__isnull=True).update(
            status=ArrearStatus.PAID, payroll_line=line
        )


def _record_offsets(run: PayrollRun, *, actor, patterns: list[str]) -> None:
    """Each recovery line is a step of its overpayment's recovery (a handful per month, not bulk)."""
    for line in run.lines.filter(kind=LineKind.RECOVERY).exclude(_frozen_q(patterns)).select_related("award"):
        overpayment = (
            Overpayment.objects.select_for_update()
            .filter(award_id=line.award_id, status=OverpaymentStatus.OPEN, offset_per_month__gt=0)
            .order_by("pk")
            .first()
        )
        if overpayment is None:
            continue
        reference = f"payroll:{run.pk}"
        if overpayment.steps.filter(reference=reference).exists():
            continue
        # Never more than is still outstanding (a repayment may have come in since the lines were written).
        amount = min(-line.total, overpayment.outstanding)
        if amount <= 0:
            continue
        if amount != -line.total:
            PayrollLine.objects.filter(pk=line.pk).update(basic_pension=-amount, total=-amount)
        RecoveryStep.objects.create(
            overpayment=overpayment,
            method=RecoveryMethod.BENEFIT_OFFSET,
            amount=amount,
            on=run.month,
            reference=reference,
            note=f"{run.month:%Y年%m月}待遇中抵扣",
            recorded_by=actor,
        )
        overpayment.recovered += amount
        if overpayment.recovered >= overpayment.amount:
            overpayment.status = OverpaymentStatus.RECOVERED
            overpayment.offset_per_month = ZERO
        overpayment.save(update_fields=["recovered", "status", "offset_per_month"])
        AwardEvent.objects.create(
            region_code=line.region_code,
            award_id=line.award_id,
            action="recovery",
            actor=actor,
            note=f"{run.month:%Y年%m月}待遇中抵扣{amount}元",
        )


def offsets_total(run: PayrollRun) -> Decimal:
    """抵扣多发待遇: the recovery lines of the run (negative)."""
    total = run.lines.filter(kind=LineKind.RECOVERY).aggregate(total=Sum("total"))["total"] or ZERO
    return total.quantize(FEN)  # SQLite sums decimals with more places


@dataclass(frozen=True)
class FundingFigures:
    """用款申请: the money by fund (分账管理). The account parts paid while accounts have money come from the
    individual-account fund; the basic pension, the account parts paid by the fund once accounts are
    exhausted and the back pay come from the basic-pension money; offsets of overpayments reduce the transfer."""

    account_fund: Decimal
    basic: Decimal
    fund_paid: Decimal
    arrears: Decimal
    basic_fund: Decimal
    offsets: Decimal
    total: Decimal


def funding_figures(run: PayrollRun) -> FundingFigures:
    basic_fund = run.basic_total + run.fund_paid_total + run.arrears_total
    return FundingFigures(
        account_fund=run.account_paid_total,
        basic=run.basic_total,
        fund_paid=run.fund_paid_total,
        arrears=run.arrears_total,
        basic_fund=basic_fund,
        offsets=offsets_total(run),
        total=run.total,
    )


def payout_lines(run: PayrollRun):
    """The payout list: one row per award with the net amount to credit (pension + back pay − offsets)."""
    return (
        PayrollLine.objects.filter(run=run)
        .values("award_id", "person_id", "region_code", "bank_code", "bank_account")
        .annotate(amount=Sum("total"))
        .order_by("region_code", "award_id")
    )


__all__ = [
    "FundingFigures",
    "Timetable",
    "funding_figures",
    "offsets_total",
    "payout_lines",
    "payroll_confirm",
    "payroll_prepare",
    "require_covers",
    "timetable",
]
