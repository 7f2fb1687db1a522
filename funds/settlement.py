"""Interest settlement: the year-end run for a whole pooling region, and one account's settlement at closing.

Year end (``settle_year``) is set-based SQL in chunks of accounts (by id range). Each chunk is ONE
transaction and, on PostgreSQL, one statement: it computes every account's interest as one weighted sum
rounded once, appends the interest entries (``INSERT ... SELECT ... ON CONFLICT DO NOTHING``) and moves
the cached balances by exactly the rows it inserted (a data-modifying CTE). The partial unique index
``one_interest_per_account_period`` makes the run idempotent: killed at any point and run again, it
finishes the work and posts nothing twice, and the cached balances never drift from the entries because
both change in the same transaction.

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
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection, connections, transaction
from django.db.models import F
from django.utils import timezone

from agencies.errors import DomainError
from agencies.money import ZERO, Rounding
from funds.interest import YEAR_END, account_interest
from funds.models import (
    Component,
    EntryKind,
    IndividualAccount,
    InterestSettlement,
    LedgerEntry,
    SettlementStatus,
)

Progress = Callable[[int, int], None]

# Divide by 12 at a scale far below a fen, so the one rounding to the fen sees the exact value's side
# of the half fen (PostgreSQL's default division scale could be as short as the dividend's).
_TWELVE = "12.00000000000000000000"

# Per entry, the months it earns in a year-end settlement: the opening balance (booked before 1 January)
# all 12; a credit in month m from m + 1 on (12 − m); a debit in month m stops earning from m (13 − m).
_PG_MONTHS = """CASE WHEN e.booked_on < %(jan1)s THEN 12
                     WHEN e.amount >= 0 THEN 12 - EXTRACT(MONTH FROM e.booked_on)::int
                     ELSE 13 - EXTRACT(MONTH FROM e.booked_on)::int END"""

# The accounts a chunk settles: the region's, open at year end, not yet settled for the period.
_ACCOUNTS_IN_CHUNK = """a.id BETWEEN %(lo)s AND %(hi)s
          AND a.pooling_region_id = %(region)s
          AND (a.closed_on IS NULL OR a.closed_on > %(dec31)s)
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

PG_CHUNK_SQL = f"""
WITH calc AS (
    SELECT e.account_id,
           {{round}}(SUM(e.amount * {_PG_MONTHS}) * %(rate)s / {_TWELVE}, 2) AS amount
    FROM funds_individualaccount a
    JOIN funds_ledgerentry e ON e.account_id = a.id
    WHERE {_ACCOUNTS_IN_CHUNK}
      AND {_ENTRIES_OF_YEAR}
    GROUP BY e.account_id
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
_SQLITE_MONTHS = """CASE WHEN e.booked_on < %(jan1)s THEN 12
                         WHEN e.amount >= 0 THEN 12 - CAST(substr(e.booked_on, 6, 2) AS INTEGER)
                         ELSE 13 - CAST(substr(e.booked_on, 6, 2) AS INTEGER) END"""
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
        WHERE {_ACCOUNTS_IN_CHUNK}
          AND {_ENTRIES_OF_YEAR}
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


def _settle_chunk(*, chunk: _Chunk, params: dict, rounding: str) -> tuple[int, Decimal]:
    """One chunk in one transaction: entries appended, balances moved, the run's counters moved."""
    params = {**params, "lo": chunk.lo, "hi": chunk.hi}
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # A chunk's entries sort in memory; compiling the plan would cost more than it saves.
            cursor.execute("SET LOCAL work_mem = '64MB'")
            cursor.execute("SET LOCAL jit = off")
            cursor.execute(PG_CHUNK_SQL.format(round=_PG_ROUND[Rounding(rounding)]), params)
            entries, amount = cursor.fetchone()
        else:
            cursor.execute(SQLITE_INSERT_SQL.format(round=_SQLITE_ROUND[Rounding(rounding)]), params)
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
    if workers > 1 and (connection.vendor != "postgresql" or connection.in_atomic_block):
        workers = 1  # other connections could not see this transaction's rows, and SQLite has one writer

    started = time.monotonic()
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
        "reference": f"interest-settlement:{settlement.pk}",
        "now": connection.ops.adapt_datetimefield_value(timezone.now()),
        "actor": actor.pk if actor is not None else None,
        "rate": rate.rate,
        "rate_units": int(rate.rate * 100_000),  # SQLite: the rate in units of 1e-5, exact (5 places)
        "settlement": settlement.pk,
    }
    entries = 0
    amount = ZERO
    done = 0
    results = _run_chunks(chunks=chunks, params=params, rounding=rate.rounding, workers=workers)
    try:
        for chunk_entries, chunk_amount, chunk in results:
            entries += chunk_entries
            amount += chunk_amount
            done += chunk.accounts
            if progress is not None:
                progress(done, total)
    except BaseException as error:
        results.close()  # other connections finish the chunk in hand and stop, before the run is marked
        _mark(settlement, SettlementStatus.FAILED, error=f"{type(error).__name__}: {error}"[:2000])
        raise
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
    )


def _mark(settlement: InterestSettlement, status: str, *, error: str = "") -> None:
    if connection.needs_rollback:
        return  # inside a broken outer transaction: the row goes with it; nothing more to record
    InterestSettlement.objects.filter(pk=settlement.pk).update(status=status, finished_at=timezone.now(), error=error)


def _run_chunks(*, chunks: list[_Chunk], params: dict, rounding: str, workers: int):
    """Yield (entries, amount, chunk) as chunks commit; with workers > 1, chunks run on several connections."""
    if workers == 1:
        for chunk in chunks:
            yield (*_settle_chunk(chunk=chunk, params=params, rounding=rounding), chunk)
        return

    todo: queue.SimpleQueue[_Chunk] = queue.SimpleQueue()
    for chunk in chunks:
        todo.put(chunk)
    finished: queue.SimpleQueue = queue.SimpleQueue()
    stop = threading.Event()

    def work() -> None:
        try:
            while not stop.is_set():
                try:
                    chunk = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    result = _settle_chunk(chunk=chunk, params=params, rounding=rounding)
                except BaseException as error:  # handed to the caller's thread
                    finished.put(error)
                    return
                finished.put((*result, chunk))
        finally:
            connections.close_all()  # this thread's own connection

    threads = [threading.Thread(target=work, daemon=True) for _ in range(min(workers, len(chunks)))]
    for thread in threads:
        thread.start()
    try:
        for _ in chunks:
            item = finished.get()
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()  # a failed chunk or a failing progress callback: the others finish their chunk and stop
        for thread in threads:
            thread.join()


def settle_closing(*, account: IndividualAccount, closing_date: dt.date, actor=None) -> LedgerEntry | None:
    """Settle one account that closes (or starts a pension) in month c: the months of the year before c.

    Period "YYYY-MM" of the closing month, booked on the closing date. Safe to call again: returns the entry
    already posted. Returns None when the interest rounds to zero (nothing is posted).
    """
    year, month = closing_date.year, closing_date.month
    rate = rate_for(pooling_region=account.pooling_region, year=year)
    _refuse_if_earlier_unsettled(pooling_region=account.pooling_region, year=year)
    period = closing_period(closing_date)
    with transaction.atomic():
        # Lock the account first (the order every posting uses), then read its entries.
        account = IndividualAccount.objects.select_for_update().get(pk=account.pk)
        existing = LedgerEntry.objects.filter(account=account, kind=EntryKind.INTEREST, period=period).first()
        if existing is not None:
            return existing
        jan1 = dt.date(year, 1, 1)
        opening = ZERO
        movements: list[tuple[int, Decimal]] = []
        for booked_on, kind, amount in account.entries.filter(booked_on__lte=closing_date).values_list(
            "booked_on", "kind", "amount"
        ):
            if booked_on < jan1:
                opening += amount
            elif kind != EntryKind.INTEREST:
                movements.append((booked_on.month, amount))
        interest = account_interest(
            opening=opening, movements=movements, rate=rate.rate, settle_month=month, rounding=rate.rounding
        )
        if interest == 0:
            return None
        entry = LedgerEntry.objects.create(
            account=account,
            component=Component.INTEREST,
            kind=EntryKind.INTEREST,
            amount=interest,
            booked_on=closing_date,
            period=period,
            reference=f"interest-closing:{account.pk}:{period}",
            created_by=actor,
        )
        IndividualAccount.objects.filter(pk=account.pk).update(
            balance_interest=F("balance_interest") + interest, balance=F("balance") + interest
        )
    return entry


__all__ = [
    "YEAR_END",
    "SettlementResult",
    "closing_period",
    "rate_for",
    "settle_closing",
    "settle_year",
    "unsettled_earlier_years",
    "year_period",
]
