"""Interest settlement: the year-end run for a whole pooling region, and one account's settlement at closing.

Year end (``settle_year``) is set-based SQL in chunks of accounts (by id range). Each chunk is ONE
transaction and, on PostgreSQL, one statement: it computes every account's interest as one weighted sum
rounded once, appends the interest entries (``INSERT ... SELECT ... ON CONFLICT DO NOTHING``) and moves
the cached balances by exactly the rows it inserted (a data-modifying CTE). The partial unique index
``one_interest_per_account_period`` makes the run idempotent: killed at any point and run again, it
finishes the work and posts nothing twice, and the cached balances never drift from the entries because
both change in the same transaction.

After an earlier closing of the same year. A pension start (the account stays open; pension months leave
it), a transfer out (the account is reopened where it is booked in) or a death is settled by
``settle_closing`` for the months before its month c, with an interest entry of period "YYYY-MM" (MM = c)
booked on the closing date. The next settlement of that year, at the year's end (settle month 13) or at a
second closing in month c2 > c (settle month c2), starts at the latest such closing's month c:
- the base = every entry booked before the first day of month c, plus every interest entry of the year
  booked on or before the latest closing (the closing interest(s)), earns (settle month − c) months;
- every other entry booked in month m ≥ c (the year's interest excepted) earns as in a plain year: a credit
  (settle month − 1 − m) months, a debit (settle month − m), nothing once m ≥ the settle month.
So an entry of month c booked before the earlier closing's date is not in the base: it belongs to month c,
which that closing did not pay. Without an earlier closing c = 1 and this is the plain formula: the opening
balance (entries before 1 January) earns 12 months. ``funds.interest.account_interest(from_month=c)`` is
the rule as a pure function. The year end finds each account's latest closing of the year in the same
statement (one range scan of the chunk's interest entries, on the ``one_interest_per_account_period``
index). On PostgreSQL every account's plain sum is computed as before and the few accounts with a closing
add an adjustment (their base's months from c instead of its plain months), so the common case, no closing,
costs only that scan; SQLite applies the rule directly per entry. A closing asked for
when the year's months before it are already settled (a later closing of the year, or the year-end entry)
posts nothing.

Choices:
- An account whose interest rounds to zero gets no entry (a zero line on a statement says nothing). A re-run
  skips accounts that already have the period's entry before computing anything (``NOT EXISTS`` on the
  unique index), so finishing an interrupted run costs about the part that was left, plus the few
  zero-interest accounts, which are computed again and again post nothing.
- Accounts closed on or before 31 December are not year-end settled: ``settle_closing`` settled them.
- A year is settled only after every earlier year for which the region has a rate: the opening balance
  must already hold last year's interest.
- Each run records an ``InterestSettlement`` row (bulk SQL bypasses django-simple-history); its counters
  move in the same transaction as each chunk, so the row tells what was committed even after a kill.
- PostgreSQL computes in ``numeric`` (exact); SQLite (development) in integer fen, also exact. Both round
  once, half up (away from zero) or down (toward zero), as ``funds.interest.account_interest`` does.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Count, Exists, F, Min, OuterRef, Q
from django.utils import timezone

from agencies.errors import DomainError
from agencies.money import ZERO, Rounding
from funds.batches import all_frozen_refusal, frozen_params, frozen_patterns, left_out_message, not_frozen_sql
from funds.interest import YEAR_END, account_interest
from funds.models import (
    Component,
    EntryKind,
    IndividualAccount,
    InterestSettlement,
    LedgerEntry,
    SettlementStatus,
)
from funds.parallel import run_parallel, workers_allowed

Progress = Callable[[int, int], None]

logger = logging.getLogger(__name__)

# Divide by 12 at a scale far below a fen, so the one rounding to the fen sees the exact value's side
# of the half fen (PostgreSQL's default division scale could be as short as the dividend's).
_TWELVE = "12.00000000000000000000"

# Per entry, the months it earns in a plain year-end settlement (no closing in the year): the opening balance
# (booked before 1 January) all 12; a credit in month m from m + 1 on (12 − m); a debit in month m stops
# earning from m (13 − m).
_PG_MONTHS = """CASE WHEN e.booked_on < %(jan1)s THEN 12
                     WHEN e.amount >= 0 THEN 12 - EXTRACT(MONTH FROM e.booked_on)::int
                     ELSE 13 - EXTRACT(MONTH FROM e.booked_on)::int END"""

# The accounts a chunk settles: the region's, open at year end, not yet settled for the period.
_ACCOUNTS_IN_CHUNK = """a.id BETWEEN %(lo)s AND %(hi)s
          AND a.pooling_region_id = %(region)s
          AND (a.closed_on IS NULL OR a.closed_on > %(dec31)s){frozen}
          AND NOT EXISTS (
              SELECT 1 FROM funds_ledgerentry i
              WHERE i.account_id = a.id AND i.account_id BETWEEN %(lo)s AND %(hi)s
                AND i.kind = 'interest' AND i.period = %(period)s
          )"""

# The year's movements exclude the year's own interest (a closing settlement's, say); earlier years'
# interest is part of the opening balance.
_ENTRIES_OF_YEAR = """e.account_id BETWEEN %(lo)s AND %(hi)s
          AND e.booked_on <= %(dec31)s
          AND NOT (e.kind = 'interest' AND e.booked_on >= %(jan1)s)"""

# The chunk's accounts with a closing earlier in the year, each with its latest (cl): an interest entry of
# period "YYYY-MM" booked in the year, c = MM. The range on period lets the scan of the chunk's interest
# entries (the partial unique index on account and period) skip other periods before reading the table;
# the exact test follows. Few rows: most accounts have no closing.
_PG_CLOSINGS = f"""SELECT DISTINCT ON (k.account_id)
           k.account_id, k.booked_on AS closed_on, substr(k.period, 6, 2)::int AS month,
           make_date(%(year)s, substr(k.period, 6, 2)::int, 1) AS month_start
    FROM funds_ledgerentry k
    JOIN funds_individualaccount a ON a.id = k.account_id
    WHERE k.account_id BETWEEN %(lo)s AND %(hi)s
      AND k.kind = 'interest' AND k.period BETWEEN %(first_closing)s AND %(last_closing)s
      AND length(k.period) = 7 AND left(k.period, 5) = %(closing_prefix)s
      AND k.booked_on BETWEEN %(jan1)s AND %(dec31)s
      AND {_ACCOUNTS_IN_CHUNK}
    ORDER BY k.account_id, k.period DESC"""

# For those accounts only, what the rule from c changes against the plain formula: the base (entries booked
# before month c, and the year's interest up to the latest closing) earns 13 − c months instead of its plain
# months (the year's interest: none). Entries of months c and later earn the same either way.
_PG_ADJUSTMENTS = f"""SELECT cl.account_id,
           SUM(e.amount * (13 - cl.month - CASE WHEN e.kind = 'interest' AND e.booked_on >= %(jan1)s THEN 0
                                                ELSE {_PG_MONTHS} END)) AS weighted
    FROM cl
    JOIN funds_ledgerentry e ON e.account_id = cl.account_id
    WHERE e.account_id BETWEEN %(lo)s AND %(hi)s
      AND (e.booked_on < cl.month_start OR (e.kind = 'interest' AND e.booked_on BETWEEN %(jan1)s AND cl.closed_on))
    GROUP BY cl.account_id"""

# Each account's yuan-months: the plain formula over every account of the chunk, plus the adjustment of the
# few with a closing earlier in the year; summed exactly, then rounded once. Adding it after the plain sums
# keeps their plan as it was; an account with a closing always has plain rows too (the money that earned the
# closing's interest was booked before it, and the ledger is append-only).
PG_CHUNK_SQL = f"""
WITH cl AS MATERIALIZED (
    {_PG_CLOSINGS}
), adjusted AS (
    {_PG_ADJUSTMENTS}
), calc AS (
    SELECT w.account_id, {{round}}((w.weighted + COALESCE(adjusted.weighted, 0)) * %(rate)s / {_TWELVE}, 2) AS amount
    FROM (
        SELECT e.account_id, SUM(e.amount * {_PG_MONTHS}) AS weighted
        FROM funds_individualaccount a
        JOIN funds_ledgerentry e ON e.account_id = a.id
        WHERE {_ACCOUNTS_IN_CHUNK}
          AND {_ENTRIES_OF_YEAR}
        GROUP BY e.account_id
    ) w
    LEFT JOIN adjusted ON adjusted.account_id = w.account_id
), posted AS (
    INSERT INTO funds_ledgerentry
        (account_id, component, kind, amount, booked_on, period, reference, idempotency_key,
         created_at, created_by_id, reverses_id)
    SELECT account_id, 'interest', 'interest', amount, %(dec31)s, %(period)s, %(reference)s, NULL,
           %(now)s, %(actor)s, NULL
    FROM calc
    WHERE amount <> 0
    ORDER BY account_id
    ON CONFLICT (account_id, period) WHERE kind = 'interest' DO NOTHING
    RETURNING account_id, amount
), moved AS (
    UPDATE funds_individualaccount a
    SET balance_interest = a.balance_interest + posted.amount, balance = a.balance + posted.amount
    FROM posted
    WHERE a.id = posted.account_id AND a.id BETWEEN %(lo)s AND %(hi)s
    RETURNING posted.amount
)
SELECT COUNT(*), COALESCE(SUM(amount), 0) FROM moved
"""

_PG_ROUND = {Rounding.HALF_UP: "ROUND", Rounding.DOWN: "TRUNC"}

# SQLite: money is stored as REAL, so the sum is taken in integer fen (exact), times the rate in units of
# 1e-5, and divided once by 12 × 100000 with integer division. Half up rounds half a unit away from zero.
_SQLITE_MONTHS = """CASE WHEN e.booked_on < COALESCE(cl.month_start, %(jan1)s) OR e.kind = 'interest'
                              THEN 13 - COALESCE(cl.month, 1)
                         WHEN e.amount >= 0 THEN 12 - CAST(substr(e.booked_on, 6, 2) AS INTEGER)
                         ELSE 13 - CAST(substr(e.booked_on, 6, 2) AS INTEGER) END"""
# Dates are ISO text on SQLite. MAX(period) picks the latest closing's row, booked_on included (SQLite's
# bare columns in an aggregate query come from the row holding the MAX).
_SQLITE_CLOSINGS = """SELECT i.account_id, MAX(i.period) AS period, i.booked_on AS closed_on,
           CAST(substr(i.period, 6, 2) AS INTEGER) AS month, substr(i.period, 1, 7) || '-01' AS month_start
    FROM funds_ledgerentry i
    WHERE i.account_id BETWEEN %(lo)s AND %(hi)s
      AND i.kind = 'interest' AND length(i.period) = 7 AND substr(i.period, 1, 5) = %(closing_prefix)s
      AND i.booked_on BETWEEN %(jan1)s AND %(dec31)s
    GROUP BY i.account_id"""
# The year's own interest is left out but for the closing interest up to the latest closing (the base).
_SQLITE_ENTRIES_OF_YEAR = """e.account_id BETWEEN %(lo)s AND %(hi)s
          AND e.booked_on <= %(dec31)s
          AND NOT (e.kind = 'interest' AND e.booked_on >= %(jan1)s
                   AND (cl.closed_on IS NULL OR e.booked_on > cl.closed_on))"""
_SQLITE_DIVISOR = 12 * 100_000
_SQLITE_ROUND = {
    Rounding.HALF_UP: f"""CASE WHEN n >= 0 THEN (n + {_SQLITE_DIVISOR // 2}) / {_SQLITE_DIVISOR}
                              ELSE -((-n + {_SQLITE_DIVISOR // 2}) / {_SQLITE_DIVISOR}) END""",
    Rounding.DOWN: f"n / {_SQLITE_DIVISOR}",  # SQLite's integer division truncates toward zero
}

SQLITE_INSERT_SQL = f"""
INSERT INTO funds_ledgerentry
    (account_id, component, kind, amount, booked_on, period, reference, idempotency_key,
     created_at, created_by_id, reverses_id)
SELECT account_id, 'interest', 'interest', fen / 100.0, %(dec31)s, %(period)s, %(reference)s, NULL,
       %(now)s, %(actor)s, NULL
FROM (
    SELECT account_id, {{round}} AS fen
    FROM (
        SELECT e.account_id,
               SUM(CAST(ROUND(e.amount * 100) AS INTEGER) * {_SQLITE_MONTHS}) * %(rate_units)s AS n
        FROM funds_individualaccount a
        JOIN funds_ledgerentry e ON e.account_id = a.id
        LEFT JOIN ({_SQLITE_CLOSINGS}) AS cl ON cl.account_id = a.id
        WHERE {_ACCOUNTS_IN_CHUNK}
          AND {_SQLITE_ENTRIES_OF_YEAR}
        GROUP BY e.account_id
    )
)
WHERE fen <> 0
ON CONFLICT (account_id, period) WHERE kind = 'interest' DO NOTHING
"""

# What this run inserted in the chunk: its entries carry the run's reference.
_SQLITE_POSTED = """SELECT account_id, amount FROM funds_ledgerentry
    WHERE kind = 'interest' AND period = %(period)s AND reference = %(reference)s
      AND account_id BETWEEN %(lo)s AND %(hi)s"""

SQLITE_UPDATE_SQL = f"""
UPDATE funds_individualaccount
SET balance_interest = balance_interest + posted.amount, balance = balance + posted.amount
FROM ({_SQLITE_POSTED}) AS posted
WHERE funds_individualaccount.id = posted.account_id
"""

SQLITE_COUNT_SQL = f"SELECT COUNT(*), COALESCE(SUM(amount), 0) FROM ({_SQLITE_POSTED})"

_COUNTERS_SQL = """UPDATE funds_interestsettlement
    SET accounts_done = accounts_done + %(accounts)s,
        entries_posted = entries_posted + %(entries)s,
        amount_posted = amount_posted + %(amount)s
    WHERE id = %(settlement)s"""


@dataclass(frozen=True)
class SettlementResult:
    settlement_id: int
    pooling_region_id: int
    pooling_region_name: str
    year: int
    accounts: int  # accounts of the region looked at (open or closed; closed ones are skipped)
    entries_posted: int  # by this run; a re-run after a complete run posts 0
    amount_posted: Decimal
    chunks: int
    seconds: float
    frozen_left_out: int = 0  # open accounts of towns frozen for a merger, not settled by this run

    @property
    def frozen_notice(self) -> str:
        return left_out_message(self.frozen_left_out) if self.frozen_left_out else ""


@dataclass(frozen=True)
class _Chunk:
    lo: int
    hi: int
    accounts: int


def year_period(year: int) -> str:
    return f"{year:04d}"


def closing_period(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def rate_for(*, pooling_region, year: int):
    """The region's InterestRate for the year, or a refusal that names the region and year."""
    from contributions.models import InterestRate  # contributions sits above funds; the rate is read only

    rate = InterestRate.objects.filter(pooling_region=pooling_region, year=year).first()
    if rate is None:
        raise DomainError(
            f"{pooling_region.name}（统筹区编码 {pooling_region.code}）尚未设置 {year} 年度的记账利率，"
            f"不能结息，未写入任何记录。请先设置该年度利率。",
            code="no_interest_rate",
        )
    return rate


def unsettled_earlier_years(*, pooling_region, year: int) -> list[int]:
    """Earlier years with a rate but no completed year-end settlement, oldest first."""
    from contributions.models import InterestRate

    with_rate = set(
        InterestRate.objects.filter(pooling_region=pooling_region, year__lt=year).values_list("year", flat=True)
    )
    done = set(
        InterestSettlement.objects.filter(
            pooling_region=pooling_region, year__lt=year, status=SettlementStatus.DONE
        ).values_list("year", flat=True)
    )
    return sorted(with_rate - done)


def _refuse_if_earlier_unsettled(*, pooling_region, year: int) -> None:
    # The opening balance must already hold every earlier year's interest.
    earlier = unsettled_earlier_years(pooling_region=pooling_region, year=year)
    if earlier:
        raise DomainError(
            f"{pooling_region.name}的 {'、'.join(map(str, earlier))} 年度尚未完成结息，请先按年度顺序结算，"
            f"未写入任何记录。",
            code="earlier_year_unsettled",
        )


def _analyze_if_stale() -> None:
    """Fresh planner statistics for the two tables the chunks join.

    Without them (a freshly loaded database, or a night settling several years in a row, each adding an
    entry per account) PostgreSQL may estimate one row and loop over the ledger once per account. ANALYZE
    reads a sample, well under a second even for millions of rows.
    """
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT relname FROM pg_stat_user_tables
               WHERE relname IN ('funds_individualaccount', 'funds_ledgerentry')
                 AND (COALESCE(last_analyze, last_autoanalyze) IS NULL
                      OR n_mod_since_analyze > 0.1 * GREATEST(n_live_tup, 1000))"""
        )
        for (table,) in cursor.fetchall():
            cursor.execute(f"ANALYZE {table}")


def _chunks(*, pooling_region_id: int, chunk_size: int) -> list[_Chunk]:
    """Id ranges of about ``chunk_size`` of the region's accounts each, walked along its (region, id) index."""
    chunks: list[_Chunk] = []
    accounts = IndividualAccount.objects.filter(pooling_region_id=pooling_region_id).order_by("id")
    last = 0
    while True:
        ids = accounts.filter(id__gt=last).values_list("id", flat=True)
        first = ids[:1]
        if not first:
            return chunks
        lo = first[0]
        upper = list(ids[chunk_size - 1 : chunk_size])
        if upper:
            hi = upper[0]
            count = chunk_size
        else:
            hi = accounts.filter(id__gte=lo).values_list("id", flat=True).last()
            count = accounts.filter(id__gte=lo).count()
        chunks.append(_Chunk(lo=lo, hi=hi, accounts=count))
        last = hi


def _settle_chunk(*, chunk: _Chunk, params: dict, rounding: str, frozen: str = "") -> tuple[int, Decimal]:
    """One chunk in one transaction: entries appended, balances moved, the run's counters moved. ``frozen``
    leaves the accounts of towns frozen for a merger out (``not_frozen_sql`` on ``a.region_code``)."""
    params = {**params, "lo": chunk.lo, "hi": chunk.hi}
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # A chunk's entries sort in memory; compiling the plan would cost more than it saves.
            cursor.execute("SET LOCAL work_mem = '64MB'")
            cursor.execute("SET LOCAL jit = off")
            cursor.execute(PG_CHUNK_SQL.format(round=_PG_ROUND[Rounding(rounding)], frozen=frozen), params)
            entries, amount = cursor.fetchone()
        else:
            cursor.execute(SQLITE_INSERT_SQL.format(round=_SQLITE_ROUND[Rounding(rounding)], frozen=frozen), params)
            cursor.execute(SQLITE_UPDATE_SQL, params)
            cursor.execute(SQLITE_COUNT_SQL, params)
            entries, amount = cursor.fetchone()
        amount = Decimal(str(amount)).quantize(Decimal("0.01"))
        if connection.vendor == "postgresql":
            # Check the entries' foreign keys now, not at commit, so that the run's row (below, shared by
            # all connections) stays locked only for an instant.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(
            _COUNTERS_SQL,
            {"accounts": chunk.accounts, "entries": entries, "amount": amount, "settlement": params["settlement"]},
        )
    return entries, amount


def settle_year(
    *,
    pooling_region,
    year: int,
    chunk_size: int = 50_000,
    progress: Progress | None = None,
    workers: int = 1,
    actor=None,
) -> SettlementResult:
    """Post the year-end interest (period "YYYY", booked 31 December) to every open account of the region.

    Refuses, with nothing written, when the region has no rate for the year or an earlier year with a rate
    is not settled yet. ``progress(done, total)`` is called after each chunk with accounts looked at so far.
    ``workers`` > 1 runs chunks on that many database connections at once (PostgreSQL, outside any
    transaction). Each chunk commits with the server's own durability settings: there are only a few.
    """
    if chunk_size < 1 or workers < 1:
        raise ValueError("chunk_size and workers are at least 1")
    rate = rate_for(pooling_region=pooling_region, year=year)
    _refuse_if_earlier_unsettled(pooling_region=pooling_region, year=year)
    workers = workers_allowed(workers)

    started = time.monotonic()
    # Accounts in towns frozen for a merger wait; the run is then not complete (see ``_frozen_accounts``).
    patterns = frozen_patterns()
    left_out, frozen_code = _frozen_accounts(pooling_region=pooling_region, year=year, patterns=patterns)
    if left_out and not _unfrozen_accounts_exist(pooling_region=pooling_region, patterns=patterns):
        raise all_frozen_refusal(frozen_code)
    _analyze_if_stale()
    chunks = _chunks(pooling_region_id=pooling_region.pk, chunk_size=chunk_size)
    total = sum(chunk.accounts for chunk in chunks)
    settlement = InterestSettlement.objects.create(
        pooling_region=pooling_region,
        year=year,
        period=year_period(year),
        rate=rate.rate,
        rounding=rate.rounding,
        accounts_total=total,
        started_by=actor,
    )
    params = {
        "region": pooling_region.pk,
        "jan1": dt.date(year, 1, 1),
        "dec31": dt.date(year, 12, 31),
        "period": year_period(year),
        "year": year,
        "first_closing": closing_period(dt.date(year, 1, 1)),
        "last_closing": closing_period(dt.date(year, 12, 1)),
        "closing_prefix": f"{year:04d}-",
        "reference": f"interest-settlement:{settlement.pk}",
        "now": connection.ops.adapt_datetimefield_value(timezone.now()),
        "actor": actor.pk if actor is not None else None,
        "rate": rate.rate,
        "rate_units": int(rate.rate * 100_000),  # SQLite: the rate in units of 1e-5, exact (5 places)
        "settlement": settlement.pk,
        **frozen_params(patterns),
    }
    frozen = not_frozen_sql("a.region_code", patterns, named=True)
    entries = 0
    amount = ZERO
    done = 0
    results = run_parallel(
        chunks,
        lambda chunk: _settle_chunk(chunk=chunk, params=params, rounding=rate.rounding, frozen=frozen),
        workers,
    )
    try:
        for chunk, (chunk_entries, chunk_amount) in results:
            entries += chunk_entries
            amount += chunk_amount
            done += chunk.accounts
            if progress is not None:
                progress(done, total)
    except BaseException as error:
        results.close()  # other connections finish the chunk in hand and stop, before the run is marked
        _mark(settlement, SettlementStatus.FAILED, error=f"{type(error).__name__}: {error}"[:2000])
        raise
    if left_out:
        # Not done: the year's opening balances of the frozen towns still miss this interest, so the next year
        # waits for a run after the lift (which settles only those accounts).
        notice = left_out_message(left_out) + "封存解除后请再次结息。"
        logger.info("interest %s %s: %s", pooling_region.code, year, notice)
        _mark(settlement, SettlementStatus.FAILED, error=notice)
    else:
        _mark(settlement, SettlementStatus.DONE)
    return SettlementResult(
        settlement_id=settlement.pk,
        pooling_region_id=pooling_region.pk,
        pooling_region_name=pooling_region.name,
        year=year,
        accounts=total,
        entries_posted=entries,
        amount_posted=amount,
        chunks=len(chunks),
        seconds=time.monotonic() - started,
        frozen_left_out=left_out,
    )


def _open_for_year(*, pooling_region, year: int):
    """The region's accounts open at year end that have no interest entry of the year yet."""
    return (
        IndividualAccount.objects.filter(pooling_region=pooling_region)
        .filter(Q(closed_on__isnull=True) | Q(closed_on__gt=dt.date(year, 12, 31)))
        .exclude(
            Exists(
                LedgerEntry.objects.filter(account=OuterRef("pk"), kind=EntryKind.INTEREST, period=year_period(year))
            )
        )
    )


def _frozen_q(patterns: list[str]) -> Q:
    q = Q(pk__in=[])
    for pattern in patterns:
        q |= Q(region_code__startswith=pattern[:-1])
    return q


def _frozen_accounts(*, pooling_region, year: int, patterns: list[str]) -> tuple[int, str]:
    """(open accounts of the year not yet settled in frozen towns, the least of their codes)."""
    if not patterns:
        return 0, ""
    found = _open_for_year(pooling_region=pooling_region, year=year).filter(_frozen_q(patterns))
    figures = found.aggregate(count=Count("id"), code=Min("region_code"))
    return figures["count"], figures["code"] or ""


def _unfrozen_accounts_exist(*, pooling_region, patterns: list[str]) -> bool:
    return IndividualAccount.objects.filter(pooling_region=pooling_region).exclude(_frozen_q(patterns)).exists()


def _mark(settlement: InterestSettlement, status: str, *, error: str = "") -> None:
    if connection.needs_rollback:
        return  # inside a broken outer transaction: the row goes with it; nothing more to record
    InterestSettlement.objects.filter(pk=settlement.pk).update(status=status, finished_at=timezone.now(), error=error)


def settle_closing(*, account: IndividualAccount, closing_date: dt.date, actor=None) -> LedgerEntry | None:
    """Settle one account that closes (or starts a pension) in month c2: the months of the year before c2.

    From the latest earlier closing of the same year, in month c, when there is one (a pension start, then a
    death): the base (entries before month c and the year's interest up to that closing) earns c2 − c months,
    the entries of months c and later as usual (see the module's docstring); else from January.

    Period "YYYY-MM" of the closing month, booked on the closing date. Safe to call again: returns the entry
    already posted. Returns None when the interest rounds to zero, or when the months before c2 are already
    settled (a later closing of the year, or the year-end entry): nothing is posted.
    """
    return _settle_one(
        account=account,
        year=closing_date.year,
        settle_month=closing_date.month,
        period=closing_period(closing_date),
        booked_on=closing_date,
        reference_kind="interest-closing",
        actor=actor,
    )


def settle_account_year(*, account: IndividualAccount, year: int, actor=None) -> LedgerEntry | None:
    """One account's year-end interest ahead of its region's run: the entry ``settle_year`` would post.

    A pension starting in January is computed on the balance with the old year's interest, which the region's
    run posts only after 31 December; settling the one account now gives the same entry (period "YYYY",
    booked 31 December), and the region's run then passes the account by. Safe to call again.
    """
    return _settle_one(
        account=account,
        year=year,
        settle_month=YEAR_END,
        period=year_period(year),
        booked_on=dt.date(year, 12, 31),
        reference_kind="interest-account-year",
        actor=actor,
    )


def _settle_one(
    *,
    account: IndividualAccount,
    year: int,
    settle_month: int,
    period: str,
    booked_on: dt.date,
    reference_kind: str,
    actor,
) -> LedgerEntry | None:
    rate = rate_for(pooling_region=account.pooling_region, year=year)
    _refuse_if_earlier_unsettled(pooling_region=account.pooling_region, year=year)
    jan1 = dt.date(year, 1, 1)
    with transaction.atomic():
        # Lock the account first (the order every posting uses), then read its entries.
        account = IndividualAccount.objects.select_for_update().get(pk=account.pk)
        existing = LedgerEntry.objects.filter(account=account, kind=EntryKind.INTEREST, period=period).first()
        if existing is not None:
            return existing
        earlier = _closings_of_year(account=account, year=year)
        if (
            any(closing_month >= settle_month for closing_month, _ in earlier)
            or LedgerEntry.objects.filter(account=account, kind=EntryKind.INTEREST, period=year_period(year)).exists()
        ):
            return None  # the months before this one are already settled
        from_month, last_closing = max(earlier, default=(1, None))
        month_start = dt.date(year, from_month, 1)
        base = ZERO
        movements: list[tuple[int, Decimal]] = []
        for entry_booked_on, kind, amount in account.entries.filter(booked_on__lte=booked_on).values_list(
            "booked_on", "kind", "amount"
        ):
            this_years_interest = kind == EntryKind.INTEREST and entry_booked_on >= jan1
            if entry_booked_on < month_start or (
                this_years_interest and last_closing and entry_booked_on <= last_closing
            ):
                base += amount
            elif not this_years_interest:
                movements.append((entry_booked_on.month, amount))
        interest = account_interest(
            opening=base,
            movements=movements,
            rate=rate.rate,
            settle_month=settle_month,
            rounding=rate.rounding,
            from_month=from_month,
        )
        if interest == 0:
            return None
        entry = LedgerEntry.objects.create(
            account=account,
            component=Component.INTEREST,
            kind=EntryKind.INTEREST,
            amount=interest,
            booked_on=booked_on,
            period=period,
            reference=f"{reference_kind}:{account.pk}:{period}",
            created_by=actor,
        )
        IndividualAccount.objects.filter(pk=account.pk).update(
            balance_interest=F("balance_interest") + interest, balance=F("balance") + interest
        )
    return entry


def _closings_of_year(*, account: IndividualAccount, year: int) -> list[tuple[int, dt.date]]:
    """(month c, booked on) of each closing interest entry of the year: period "YYYY-MM", booked in the year."""
    prefix = f"{year:04d}-"
    return [
        (int(period[len(prefix) :]), booked_on)
        for period, booked_on in LedgerEntry.objects.filter(
            account=account,
            kind=EntryKind.INTEREST,
            period__startswith=prefix,
            booked_on__gte=dt.date(year, 1, 1),
            booked_on__lte=dt.date(year, 12, 31),
        ).values_list("period", "booked_on")
        if len(period) == 7
    ]


__all__ = [
    "YEAR_END",
    "SettlementResult",
    "closing_period",
    "rate_for",
    "settle_account_year",
    "settle_closing",
    "settle_year",
    "unsettled_earlier_years",
    "year_period",
]
