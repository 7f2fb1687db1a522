"""Debits of many accounts at once, each split across the account's components in proportion to their balances.

A pension month's account part (and other money leaving an account) is taken from the components in
proportion to their balances, so the parts left keep their proportions (DOMAIN.md: refunds and inheritance
look at them). The split is to the fen by the largest remainder: every component first gets its exact share
rounded down, then the fen still missing go one each to the components with the largest remainders (ties in
``Component`` order). So the parts add up to the debit exactly and none exceeds its component's balance.

``split_in_proportion`` is the rule as a pure function. ``debit_in_proportion`` applies it set-based: on
PostgreSQL one statement per call computes the parts, appends the entries and moves the cached balances; on
SQLite (development) the same rule runs in Python over the call's rows. A test holds the two together.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import connection
from django.utils import timezone

from agencies.money import FEN, ZERO
from funds.models import BALANCE_COLUMN, Component, EntryKind, IndividualAccount, LedgerEntry

# The staging table a call fills and leaves behind, dropped at commit: line_id, account_id, requested, debited.
STAGING_TABLE = "funds_debit_staging"

_COMPONENTS = list(Component.values)

# Every line of a call reads its account's balance as it was before the call: two lines of one account could
# together take more than it holds, so a call takes one line per account (a payroll chunk has one each).
_ONE_LINE_PER_ACCOUNT = "debit_in_proportion takes one line per account in a call"


def split_in_proportion(amount: Decimal, balances: dict[str, Decimal]) -> dict[str, Decimal]:
    """Split a debit of ``amount`` across components in proportion to their (positive) balances.

    Returns the positive part per component (components left out take nothing). ``amount`` must not exceed
    the sum of the positive balances.
    """
    if amount < 0:
        raise ValueError("a debit is split as a positive amount")
    fen = {c: int(balances.get(c, ZERO) / FEN) for c in _COMPONENTS if balances.get(c, ZERO) > 0}
    total = sum(fen.values())
    wanted = int(amount / FEN)
    if wanted > total:
        raise ValueError("the debit exceeds the balance")
    if wanted == 0:
        return {}
    floors = {c: wanted * b // total for c, b in fen.items()}
    remainders = {c: wanted * b % total for c, b in fen.items()}
    leftover = wanted - sum(floors.values())
    order = sorted(fen, key=lambda c: (-remainders[c], _COMPONENTS.index(c)))
    for component in order[:leftover]:
        floors[component] += 1
    return {c: Decimal(n) * FEN for c, n in floors.items() if n > 0}


def _balance_values_sql() -> str:
    return ", ".join(
        f"({i}, '{component}', (due.{BALANCE_COLUMN[component]} * 100)::bigint)"
        for i, component in enumerate(_COMPONENTS)
    )


def _balance_sums_sql() -> str:
    return ",\n".join(
        f"COALESCE(SUM(amount) FILTER (WHERE component = '{c}'), 0) AS {BALANCE_COLUMN[c]}" for c in _COMPONENTS
    )


def _balance_set_sql() -> str:
    return ", ".join(f"{BALANCE_COLUMN[c]} = a.{BALANCE_COLUMN[c]} + s.{BALANCE_COLUMN[c]}" for c in _COMPONENTS)


# Parts in integer fen: floor of the exact share, plus one fen for the largest remainders. Every term is a
# bigint (SUM of bigint is numeric: cast back), so the division floors as the rule says.
_PG_DEBIT_SQL = f"""
WITH due AS (
    SELECT s.line_id, s.account_id, (LEAST(s.requested, a.balance) * 100)::bigint AS take_fen,
           {{columns}}
    FROM {STAGING_TABLE} s
    JOIN funds_individualaccount a ON a.id = s.account_id
    WHERE s.requested > 0 AND a.balance > 0
), positive AS (
    SELECT due.line_id, due.account_id, due.take_fen, v.ord, v.component, v.balance_fen,
           (SUM(v.balance_fen) OVER (PARTITION BY due.line_id))::bigint AS total_fen
    FROM due CROSS JOIN LATERAL (VALUES {{values}}) AS v(ord, component, balance_fen)
    WHERE v.balance_fen > 0
), parts AS (
    SELECT line_id, account_id, take_fen, ord, component,
           take_fen * balance_fen / total_fen AS floor_fen,
           take_fen * balance_fen %% total_fen AS remainder
    FROM positive
), ranked AS (
    SELECT parts.*,
           take_fen - SUM(floor_fen) OVER (PARTITION BY line_id) AS leftover,
           ROW_NUMBER() OVER (PARTITION BY line_id ORDER BY remainder DESC, ord) AS rn
    FROM parts
), final AS (
    SELECT line_id, account_id, component,
           floor_fen + CASE WHEN rn <= leftover THEN 1 ELSE 0 END AS fen
    FROM ranked
), posted AS (
    INSERT INTO funds_ledgerentry
        (account_id, component, kind, amount, booked_on, period, reference, idempotency_key,
         created_at, created_by_id, reverses_id)
    SELECT account_id, component, %(kind)s, -(fen::numeric / 100), %(booked_on)s, '',
           %(reference)s || line_id, %(key_prefix)s || line_id || ':' || component || ':' || %(kind)s,
           %(now)s, %(actor)s, NULL
    FROM final
    WHERE fen > 0
    ORDER BY account_id
    RETURNING account_id, component, amount
), sums AS (
    SELECT account_id, {{sums}}, SUM(amount) AS total
    FROM posted GROUP BY account_id
), moved AS (
    UPDATE funds_individualaccount a
    SET {{set}}, balance = a.balance + s.total
    FROM sums s
    WHERE a.id = s.account_id
    RETURNING a.id
), marked AS (
    UPDATE {STAGING_TABLE} st
    SET debited = f.fen::numeric / 100
    FROM (SELECT line_id, SUM(fen) AS fen FROM final GROUP BY line_id) f
    WHERE st.line_id = f.line_id
    RETURNING st.line_id
)
SELECT (SELECT COUNT(*) FROM moved), (SELECT COUNT(*) FROM marked)
"""


def debit_in_proportion(
    *,
    source_sql: str,
    params: dict | list | tuple,
    kind: str,
    booked_on: dt.date,
    key_prefix: str,
    reference: str,
    actor=None,
) -> str:
    """Debit many accounts, each by up to the amount requested (never below zero). Run inside a transaction.

    ``source_sql`` selects ``line_id, account_id, requested`` (the caller's own ids, e.g. payroll lines).
    Each line's entries carry the idempotency key ``{key_prefix}{line_id}:{component}:{kind}``, so a line
    debited twice fails on the ledger's unique key instead of taking the money twice: the caller leaves out
    lines it has already debited. Returns the name of a staging table (dropped at commit) holding
    ``line_id, account_id, requested, debited``, for the caller to record what each line took.
    """
    if kind not in EntryKind.values:
        raise ValueError(f"unknown entry kind {kind}")
    if not connection.in_atomic_block:
        raise RuntimeError("debit_in_proportion runs inside the caller's transaction")
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # ON COMMIT DROP clears it at commit; inside an outer transaction (a test) it is still there.
            cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{STAGING_TABLE}")
            cursor.execute(
                f"""CREATE TEMP TABLE {STAGING_TABLE} ON COMMIT DROP AS
                    SELECT line_id::bigint AS line_id, account_id::bigint AS account_id,
                           requested::numeric(14, 2) AS requested, 0::numeric(14, 2) AS debited
                    FROM ({source_sql}) AS source""",
                params,
            )
            cursor.execute(f"CREATE INDEX ON {STAGING_TABLE} (line_id)")
            cursor.execute(f"ANALYZE {STAGING_TABLE}")
            cursor.execute(f"SELECT 1 FROM {STAGING_TABLE} GROUP BY account_id HAVING COUNT(*) > 1 LIMIT 1")
            if cursor.fetchone():
                raise ValueError(_ONE_LINE_PER_ACCOUNT)
            cursor.execute(
                _PG_DEBIT_SQL.format(
                    columns=", ".join(f"a.{BALANCE_COLUMN[c]}" for c in _COMPONENTS),
                    values=_balance_values_sql(),
                    sums=_balance_sums_sql(),
                    set=_balance_set_sql(),
                ),
                {
                    "kind": kind,
                    "booked_on": booked_on,
                    "reference": reference,
                    "key_prefix": key_prefix,
                    "now": timezone.now(),
                    "actor": actor.pk if actor is not None else None,
                },
            )
        else:
            _sqlite_debit(
                cursor,
                source_sql=source_sql,
                params=params,
                kind=kind,
                booked_on=booked_on,
                key_prefix=key_prefix,
                reference=reference,
                actor=actor,
            )
    return STAGING_TABLE


def _sqlite_debit(cursor, *, source_sql, params, kind, booked_on, key_prefix, reference, actor) -> None:
    """Development path: the same rule in Python over the call's rows (SQLite holds a few thousand at most)."""
    cursor.execute(f"DROP TABLE IF EXISTS temp.{STAGING_TABLE}")
    cursor.execute(
        f"CREATE TEMP TABLE {STAGING_TABLE} (line_id INTEGER PRIMARY KEY, account_id INTEGER, "
        "requested TEXT, debited TEXT)"
    )
    cursor.execute(source_sql, params)
    rows = [(line_id, account_id, Decimal(str(requested)).quantize(FEN)) for line_id, account_id, requested in cursor]
    if len({account_id for _, account_id, _ in rows}) != len(rows):
        raise ValueError(_ONE_LINE_PER_ACCOUNT)
    accounts = IndividualAccount.objects.in_bulk([account_id for _, account_id, _ in rows])
    entries: list[LedgerEntry] = []
    staged: list[tuple[int, int, str, str]] = []
    for line_id, account_id, requested in rows:
        account = accounts[account_id]
        take = min(requested, account.balance) if requested > 0 and account.balance > 0 else ZERO
        parts = split_in_proportion(take, {c: getattr(account, BALANCE_COLUMN[c]) for c in _COMPONENTS})
        for component, part in parts.items():
            entries.append(
                LedgerEntry(
                    account=account,
                    component=component,
                    kind=kind,
                    amount=-part,
                    booked_on=booked_on,
                    reference=f"{reference}{line_id}",
                    idempotency_key=f"{key_prefix}{line_id}:{component}:{kind}",
                    created_by=actor,
                )
            )
            column = BALANCE_COLUMN[component]
            setattr(account, column, getattr(account, column) - part)
            account.balance -= part
        staged.append((line_id, account_id, str(requested), str(take)))
    LedgerEntry.objects.bulk_create(entries)
    IndividualAccount.objects.bulk_update(
        [accounts[account_id] for account_id in {a for _, a, _ in rows}],
        [*(BALANCE_COLUMN[c] for c in _COMPONENTS), "balance"],
    )
    cursor.executemany(f"INSERT INTO {STAGING_TABLE} VALUES (%s, %s, %s, %s)", staged)


# --- credits ---------------------------------------------------------------------------------------------

CREDIT_STAGING_TABLE = "funds_credit_staging"


def credit_in_bulk(*, source_sql: str, params: dict, pooling_region_id: int, booked_on: dt.date) -> int:
    """Credit many accounts at once (PostgreSQL; run inside the caller's transaction). Returns entries posted.

    ``source_sql`` selects ``person_id, region_code, component, kind, amount, reference, idempotency_key``,
    at most one row per person, component and kind. Accounts missing are opened in ``pooling_region_id``
    on ``booked_on``. An entry whose key is already in the ledger is passed by, and only the entries
    appended here move the cached balances, so a credit repeated by mistake posts nothing twice. Callers
    do not run the same keys from two transactions at once (the unique index would refuse the second).
    """
    if connection.vendor != "postgresql":
        raise RuntimeError("credit_in_bulk is the PostgreSQL path; post one by one with ledger_post elsewhere")
    if not connection.in_atomic_block:
        raise RuntimeError("credit_in_bulk runs inside the caller's transaction")
    zeros = ", ".join("0" for _ in _COMPONENTS)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{CREDIT_STAGING_TABLE}")
        cursor.execute(f"CREATE TEMP TABLE {CREDIT_STAGING_TABLE} ON COMMIT DROP AS {source_sql}", params)
        # Keys already in the ledger are passed by here rather than by ON CONFLICT, which costs every row a
        # speculative insertion. The callers serialise their own work (a chunk claimed once), so no other
        # transaction inserts the same keys meanwhile; if one did, the unique index would refuse it.
        cursor.execute(
            f"""DELETE FROM {CREDIT_STAGING_TABLE} s
                WHERE EXISTS (SELECT 1 FROM funds_ledgerentry e WHERE e.idempotency_key = s.idempotency_key)"""
        )
        cursor.execute(
            f"""INSERT INTO funds_individualaccount
                    (person_id, region_code, pooling_region_id, opened_on, closed_on,
                     {", ".join(BALANCE_COLUMN[c] for c in _COMPONENTS)}, balance)
                SELECT DISTINCT s.person_id, s.region_code, %(pooling)s, %(booked_on)s::date, NULL::date, {zeros}, 0
                FROM {CREDIT_STAGING_TABLE} s
                WHERE NOT EXISTS (SELECT 1 FROM funds_individualaccount a WHERE a.person_id = s.person_id)
                ON CONFLICT (person_id) DO NOTHING""",
            {"pooling": pooling_region_id, "booked_on": booked_on},
        )
        cursor.execute(
            f"""WITH posted AS (
                    INSERT INTO funds_ledgerentry
                        (account_id, component, kind, amount, booked_on, period, reference, idempotency_key,
                         created_at, created_by_id, reverses_id)
                    SELECT a.id, s.component, s.kind, s.amount, %(booked_on)s, '', s.reference, s.idempotency_key,
                           %(now)s, NULL, NULL
                    FROM {CREDIT_STAGING_TABLE} s JOIN funds_individualaccount a ON a.person_id = s.person_id
                    ORDER BY a.id
                    RETURNING account_id, component, amount
                ), sums AS (
                    SELECT account_id, {_balance_sums_sql()}, SUM(amount) AS total
                    FROM posted GROUP BY account_id
                ), moved AS (
                    UPDATE funds_individualaccount a
                    SET {_balance_set_sql()}, balance = a.balance + s.total
                    FROM sums s WHERE a.id = s.account_id
                    RETURNING a.id
                )
                SELECT (SELECT COUNT(*) FROM posted)""",
            {"booked_on": booked_on, "now": timezone.now()},
        )
        (posted,) = cursor.fetchone()
        cursor.execute(f"DROP TABLE {CREDIT_STAGING_TABLE}")
    return posted
