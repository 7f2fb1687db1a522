"""The payroll benchmark (``manage.py bench payroll --awards N``): N awards in a pooling region of its own, built
set-based in SQL, then one month's payroll timed as a county fund officer runs it (prepare, then confirm).

The data, in pooling region 990200 (region codes 9902…, 10 towns of 20 villages), on PostgreSQL only:
- N recipients aged 60 to 90 (more of them young: the age is drawn from a square, like a real roll), each with a
  valid identity number and a bank account;
- an award each: basic-pension-only for those already 60 when the scheme started (2011-07), the urban elderly
  allowance for one in fifty, a monthly pension for the rest, with 15 to 25 years paid;
- for each monthly pension an individual account and ledger entries that add up to the cached balances:
  personal contributions, government subsidies, a collective subsidy for three in ten, and interest; the
  balance is what is left of the balance at the start, except for one account in fifty, nearly exhausted, that
  holds less than a month's account pension, so the fund pays the rest;
- the award periods as the services would have written them: every award that started before 2025 has its
  first period replaced by the 2025 recalculation (central minimum 123 → 143) and a live period from 2025-01,
  and the months the additions at 65 and 80 begin (past or future) start periods of their own.

The load is TRUNCATE-and-insert in one transaction, so the command runs only on a database that holds nothing
but its own data, and a load killed half way leaves nothing behind. ``--keep`` reuses a load of the same size
and takes back the previous run's payroll first (its ledger debits, the cached balances they moved, the run):
that is the only place where ledger rows are deleted, on this scratch database, with the append-only trigger
lifted inside the transaction.
"""

from __future__ import annotations

import datetime as dt
import inspect
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from agencies.models import Agency, PoolingRegion, Region, RegionLevel, Role, User
from benefits import calc
from benefits.models import PayrollRun, PensionParameters, Recalculation
from enrollment import idnumber

POOLING_CODE = "990200"
PREFIX = "9902"
CITY = "990000000000"
COUNTY = "990200000000"
TOWNSHIPS = 10
VILLAGES_PER_TOWNSHIP = 20
SCHEME_STARTED_ON = dt.date(2011, 7, 1)
SCRATCH_DATABASE = "pension_bench"
OFFICER = "bench_990200_fund"

# The central minimum's history (DOMAIN.md); the local figures are the bench region's own.
CENTRAL_MINIMUM = (
    (dt.date(2014, 7, 1), "70"),
    (dt.date(2018, 1, 1), "88"),
    (dt.date(2020, 7, 1), "93"),
    (dt.date(2022, 7, 1), "98"),
    (dt.date(2023, 1, 1), "103"),
    (dt.date(2024, 1, 1), "123"),
    (dt.date(2025, 1, 1), "143"),
)
LOCAL_TOP_UP = Decimal("300")
PER_YEAR = Decimal("2")
ADDITION_65 = Decimal("10")
ADDITION_80 = Decimal("20")
URBAN_ALLOWANCE = Decimal("150")
RECALCULATED_FROM = dt.date(2025, 1, 1)

Say = Callable[[str], None]

# One row per recipient with everything the other tables are built from (a temporary table of the session).
# Ages: 60 years and 1 month plus d days, d = 30 years × u², u uniform from a multiplicative hash of i.
# Sequence numbers count the persons born on the same day, so identity numbers are unique for any N.
PLAN_SQL = """
CREATE TEMP TABLE bench_payroll_plan ON COMMIT DROP AS
WITH g AS (
    SELECT i, (%(month)s::date - interval '721 months')::date
              - floor(10957 * power(((i::bigint * 2654435761) %% 1000003) / 1000003.0, 2))::int AS birth
    FROM generate_series(0, %(n)s - 1) AS s(i)
), seq AS (
    SELECT i, birth, row_number() OVER (PARTITION BY birth ORDER BY i) - 1 AS k FROM g
), villages AS (
    SELECT id, code, row_number() OVER (ORDER BY code) - 1 AS v FROM agencies_region
    WHERE code LIKE %(township_like)s AND level = 'village'
)
SELECT seq.i, seq.birth, seq.k, villages.id AS village_id, villages.code AS region_code,
       '{prefix}' || lpad(((seq.k / 1000) %% 100)::text, 2, '0') || to_char(seq.birth, 'YYYYMMDD')
           || lpad((seq.k %% 1000)::text, 3, '0') AS f17,
       GREATEST((date_trunc('month', seq.birth) + interval '721 months')::date, %(scheme)s::date) AS start_month,
       (date_trunc('month', seq.birth) + interval '781 months')::date AS at_65,
       (date_trunc('month', seq.birth) + interval '961 months')::date AS at_80,
       CASE WHEN seq.i %% 50 = 7 THEN 'urban_elderly'
            WHEN (date_trunc('month', seq.birth) + interval '720 months')::date <= %(scheme)s THEN 'basic_only'
            ELSE 'monthly' END AS category
FROM seq JOIN villages ON villages.v = seq.i %% %(villages)s
""".replace("{prefix}", PREFIX)

# Balances in fen: a tier of 100–500 and its subsidy (30–50) a year, a collective 50 a year for three in ten,
# interest about a tenth. Left now: 20–100 %% of the start, or for one account in fifty, 10–90 %% of one
# month's account pension (divisor 139).
AMOUNTS_SQL = """
ALTER TABLE bench_payroll_plan
    ADD COLUMN years_paid int, ADD COLUMN start_fen bigint[], ADD COLUMN pension_fen bigint,
    ADD COLUMN now_fen bigint[];
UPDATE bench_payroll_plan SET
    years_paid = CASE WHEN category = 'monthly' THEN 15 + i %% 11 ELSE 0 END;
UPDATE bench_payroll_plan SET start_fen = ARRAY[
        years_paid * 10000 * (1 + (i / 7) %% 5),
        years_paid * (3000 + 1000 * ((i / 7) %% 3)),
        CASE WHEN i %% 10 < 3 THEN years_paid * 5000 ELSE 0 END,
        years_paid * 1000 * (4 + i %% 5)]
WHERE category = 'monthly';
UPDATE bench_payroll_plan
SET pension_fen = round((start_fen[1] + start_fen[2] + start_fen[3] + start_fen[4]) / 139.0)
WHERE category = 'monthly';
UPDATE bench_payroll_plan SET now_fen = ARRAY(
    SELECT CASE WHEN i %% 50 = 3
                THEN c * (pension_fen * (10 + i %% 81)) / (100 * (start_fen[1] + start_fen[2] + start_fen[3] + start_fen[4]))
                ELSE c * (20 + i %% 81) / 100 END
    FROM unnest(start_fen) WITH ORDINALITY AS u(c, o) ORDER BY o)
WHERE category = 'monthly';
"""

PERSONS_SQL = (
    """
INSERT INTO enrollment_insuredperson
    (id_number, insurance_number, name, name_initials, sex, birth_date, region_code, status, phone, address,
     social_security_card_number, bank_code, bank_account, enrolled_on, cancelled_on, created_at, village_id)
SELECT f17 || """
    + idnumber.check_character_sql("f17")
    + """,
       '{prefix}' || lpad(i::text, 10, '0'), '基准领取' || (i %% 1000), 'JZLQ',
       CASE WHEN k %% 2 = 1 THEN 'M' ELSE 'F' END, birth, region_code, 'active', '', '', '', '314',
       '623062' || lpad(i::text, 13, '0'), %(scheme)s, NULL, now(), village_id
FROM bench_payroll_plan
ORDER BY i
""".replace("{prefix}", PREFIX)
)

PLAN_PERSON_SQL = """
ALTER TABLE bench_payroll_plan ADD COLUMN person_id bigint, ADD COLUMN account_id bigint;
UPDATE bench_payroll_plan p SET person_id = x.id
FROM enrollment_insuredperson x WHERE x.insurance_number = '{prefix}' || lpad(p.i::text, 10, '0');
""".replace("{prefix}", PREFIX)

ACCOUNTS_SQL = """
INSERT INTO funds_individualaccount
    (region_code, opened_on, closed_on, balance_personal, balance_government_subsidy, balance_collective,
     balance_donation, balance_government_paid, balance_interest, balance, person_id, pooling_region_id)
SELECT region_code, %(scheme)s, NULL, now_fen[1] / 100.0, now_fen[2] / 100.0, now_fen[3] / 100.0, 0, 0,
       now_fen[4] / 100.0, (now_fen[1] + now_fen[2] + now_fen[3] + now_fen[4]) / 100.0, person_id, %(region)s
FROM bench_payroll_plan
WHERE category = 'monthly'
ORDER BY person_id;
UPDATE bench_payroll_plan p SET account_id = a.id
FROM funds_individualaccount a WHERE a.person_id = p.person_id;
"""

# One entry per component that holds money, with the keys and periods real postings carry.
ENTRIES_SQL = """
INSERT INTO funds_ledgerentry
    (account_id, component, kind, amount, booked_on, period, reference, idempotency_key, created_at,
     created_by_id, reverses_id)
SELECT p.account_id, c.component, c.kind, p.now_fen[c.o] / 100.0, c.booked_on, c.period, 'bench',
       CASE WHEN c.kind = 'interest' THEN NULL ELSE 'bench:' || p.account_id || ':' || c.component END,
       now(), NULL, NULL
FROM bench_payroll_plan p
CROSS JOIN (VALUES (1, 'personal', 'contribution', DATE '2024-03-15', ''),
                   (2, 'government_subsidy', 'subsidy', DATE '2024-03-15', ''),
                   (3, 'collective', 'collective', DATE '2024-06-30', ''),
                   (4, 'interest', 'interest', DATE '2024-12-31', '2024')) AS c(o, component, kind, booked_on, period)
WHERE p.category = 'monthly' AND p.now_fen[c.o] > 0
ORDER BY p.account_id, c.o
"""

AWARDS_SQL = """
INSERT INTO benefits_award
    (person_id, claim_id, region_code, pooling_region_id, category, status, start_month, paid_until,
     stop_reason, stop_note, birth_date, years_paid, account_balance_at_start, account_divisor, account_pension,
     bank_code, bank_account, approved_by_id, approved_at)
SELECT p.person_id, NULL, p.region_code, %(region)s, p.category, 'active', p.start_month, NULL, '', '', p.birth,
       p.years_paid,
       COALESCE((p.start_fen[1] + p.start_fen[2] + p.start_fen[3] + p.start_fen[4]) / 100.0, 0), 139,
       COALESCE(p.pension_fen / 100.0, 0), '314', '623062' || lpad(p.i::text, 13, '0'), %(officer)s, now()
FROM bench_payroll_plan p
ORDER BY p.person_id
"""

# Periods: the first one from the start (replaced by the 2025 recalculation when it started before), the
# live one from 2025-01 (or the start), and one from each age addition's month after that.
PERIODS_SQL = """
WITH a AS (
    SELECT a.id, a.category, a.start_month, a.years_paid, a.account_pension,
           (date_trunc('month', a.birth_date) + interval '781 months')::date AS at_65,
           (date_trunc('month', a.birth_date) + interval '961 months')::date AS at_80,
           GREATEST(a.start_month, %(recalculated_from)s) AS live_from
    FROM benefits_award a WHERE a.pooling_region_id = %(region)s
), months AS (
    SELECT a.*, m.valid_from, m.kind = 'replaced' AS replaced
    FROM a CROSS JOIN LATERAL (
        VALUES (a.start_month, 'replaced'), (a.live_from, 'live'), (a.at_65, 'age'), (a.at_80, 'age')
    ) AS m(valid_from, kind)
    WHERE (m.kind = 'replaced' AND a.start_month < %(recalculated_from)s)
       OR m.kind = 'live'
       OR (m.kind = 'age' AND m.valid_from > a.live_from)
), priced AS (
    SELECT months.*, pp.id AS parameters_id, pp.central_minimum, pp.local_top_up, pp.per_year_beyond_minimum,
           CASE WHEN months.valid_from >= months.at_80 THEN pp.addition_at_80
                WHEN months.valid_from >= months.at_65 THEN pp.addition_at_65 ELSE 0 END AS age_addition,
           pp.urban_elderly_allowance
    FROM months
    JOIN LATERAL (
        SELECT * FROM benefits_pensionparameters q
        WHERE q.pooling_region_id = %(region)s AND q.valid_from <= GREATEST(months.valid_from, %(first_parameters)s)
        ORDER BY q.valid_from DESC LIMIT 1
    ) pp ON true
)
INSERT INTO benefits_awardperiod
    (award_id, valid_from, parameters_id, central_minimum, local_top_up, years_addition, age_addition,
     urban_allowance, basic_pension, account_pension, total, recalculation_id, replaced_by_id)
SELECT id, valid_from, parameters_id,
       CASE WHEN category = 'urban_elderly' THEN 0 ELSE central_minimum END,
       CASE WHEN category = 'urban_elderly' THEN 0 ELSE local_top_up END,
       CASE WHEN category = 'urban_elderly' THEN 0 ELSE per_year_beyond_minimum * GREATEST(years_paid - 15, 0) END,
       CASE WHEN category = 'urban_elderly' THEN 0 ELSE age_addition END,
       CASE WHEN category = 'urban_elderly' THEN urban_elderly_allowance ELSE 0 END,
       basic, account, basic + account,
       CASE WHEN NOT replaced AND valid_from = %(recalculated_from)s AND start_month < valid_from
            THEN %(recalculation)s END,
       CASE WHEN replaced THEN %(recalculation)s END
FROM (
    SELECT priced.*,
           CASE WHEN category = 'urban_elderly' THEN urban_elderly_allowance
                ELSE central_minimum + local_top_up + per_year_beyond_minimum * GREATEST(years_paid - 15, 0)
                     + age_addition END AS basic,
           CASE WHEN category = 'monthly' THEN account_pension ELSE 0 END AS account
    FROM priced
) x
ORDER BY id, valid_from, replaced DESC
"""


@dataclass
class Places:
    pooling_region: PoolingRegion
    officer: User
    parameters: PensionParameters
    recalculation: Recalculation


def refuse_foreign_data() -> str | None:
    """The load starts with TRUNCATE: a reason to refuse unless every person and account is the bench's own."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM enrollment_insuredperson WHERE region_code NOT LIKE %s", [f"{PREFIX}%"])
        (foreign,) = cursor.fetchone()
        cursor.execute(
            "SELECT COUNT(*) FROM funds_individualaccount a JOIN agencies_poolingregion p ON p.id = a.pooling_region_id"
            " WHERE p.code <> %s",
            [POOLING_CODE],
        )
        (foreign_accounts,) = cursor.fetchone()
    if foreign or foreign_accounts:
        name = connection.settings_dict["NAME"]
        return (
            f"数据库 {name} 中有基准测试以外的数据（参保人 {foreign} 名、账户 {foreign_accounts} 个），基准测试会清空参保人、"
            f"账户、明细和待遇，为免误删已停止。请改用专用的空数据库，例如：\n"
            f"  createdb -h 127.0.0.1 -U postgres {SCRATCH_DATABASE}\n"
            f"  DATABASE_URL=postgres://postgres@127.0.0.1:5432/{SCRATCH_DATABASE} python manage.py migrate\n"
            f"  DATABASE_URL=postgres://postgres@127.0.0.1:5432/{SCRATCH_DATABASE} python manage.py bench payroll"
        )
    return None


def ensure_places() -> Places:
    """The region tree, the county agency and its fund officer, the parameters and the 2025 recalculation."""
    with transaction.atomic():
        pooling, _ = PoolingRegion.objects.get_or_create(
            code=POOLING_CODE, defaults={"name": "待遇基准测试统筹区", "scheme_started_on": SCHEME_STARTED_ON}
        )
        city, _ = Region.objects.get_or_create(code=CITY, defaults={"name": "基准测试市", "level": RegionLevel.CITY})
        county, _ = Region.objects.get_or_create(
            code=COUNTY,
            defaults={"name": "待遇基准测试县", "level": RegionLevel.COUNTY, "parent": city, "pooling_region": pooling},
        )
        existing = set(Region.objects.filter(code__startswith=PREFIX).values_list("code", flat=True))
        townships = []
        for t in range(1, TOWNSHIPS + 1):
            code = f"{POOLING_CODE}{100 + t:03d}000"
            if code not in existing:
                Region.objects.create(code=code, name=f"基准测试镇{t}", level=RegionLevel.TOWNSHIP, parent=county)
            townships.append(Region.objects.get(code=code))
        villages = [
            Region(code=f"{t.code[:9]}{200 + v:03d}", name=f"{t.name}第{v}村", level=RegionLevel.VILLAGE, parent=t)
            for t in townships
            for v in range(1, VILLAGES_PER_TOWNSHIP + 1)
            if f"{t.code[:9]}{200 + v:03d}" not in existing
        ]
        Region.objects.bulk_create(villages)
        agency, _ = Agency.objects.get_or_create(region=county, defaults={"name": "待遇基准测试县经办中心"})
        officer, _ = User.objects.get_or_create(
            username=OFFICER,
            defaults={"role": Role.COUNTY_FUND_OFFICER, "agency": agency, "last_name": "基准", "first_name": "测试"},
        )
        rows = {}
        for valid_from, central in CENTRAL_MINIMUM:
            rows[valid_from], _ = PensionParameters.objects.get_or_create(
                pooling_region=pooling,
                valid_from=valid_from,
                defaults={
                    "central_minimum": Decimal(central),
                    "local_top_up": LOCAL_TOP_UP,
                    "per_year_beyond_minimum": PER_YEAR,
                    "addition_at_65": ADDITION_65,
                    "addition_at_80": ADDITION_80,
                    "urban_elderly_allowance": URBAN_ALLOWANCE,
                    "funeral_grant_fixed": Decimal("2000"),
                    "note": "基准测试",
                    "created_by": officer,
                },
            )
        parameters = rows[RECALCULATED_FROM]
        recalculation = Recalculation.objects.filter(pooling_region=pooling, parameters=parameters).first()
        if recalculation is None:
            recalculation = Recalculation.objects.create(
                pooling_region=pooling, parameters=parameters, from_month=RECALCULATED_FROM, actor=officer
            )
    return Places(pooling_region=pooling, officer=officer, parameters=parameters, recalculation=recalculation)


def award_count(places: Places) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM benefits_award WHERE pooling_region_id = %s", [places.pooling_region.pk])
        return cursor.fetchone()[0]


def build(*, places: Places, awards: int, month: dt.date, say: Say) -> None:
    """Empty the tables and load N recipients, in one transaction: a load killed half way leaves nothing."""
    started = time.monotonic()
    region = places.pooling_region.pk
    params = {
        "n": awards,
        "month": month,
        "scheme": SCHEME_STARTED_ON,
        "villages": TOWNSHIPS * VILLAGES_PER_TOWNSHIP,
        "township_like": f"{POOLING_CODE}%",
        "region": region,
        "officer": places.officer.pk,
        "recalculation": places.recalculation.pk,
        "recalculated_from": RECALCULATED_FROM,
        "first_parameters": CENTRAL_MINIMUM[0][0],
    }
    steps = (
        ("计划", PLAN_SQL),
        ("金额", AMOUNTS_SQL),
        ("参保人", PERSONS_SQL),
        ("参保人编号", PLAN_PERSON_SQL),
        ("个人账户", ACCOUNTS_SQL),
        ("账户明细", ENTRIES_SQL),
        ("待遇", AWARDS_SQL),
        ("待遇期间", PERIODS_SQL),
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL work_mem = '256MB'")
        # Nothing here but bench data (checked before): start from empty tables. CASCADE empties what hangs
        # off persons, accounts and awards (claims, periods, payroll lines, history).
        cursor.execute(
            "TRUNCATE benefits_payrollline, benefits_payrollrun, benefits_awardperiod, benefits_award,"
            " benefits_historicalaward, funds_ledgerentry, funds_individualaccount, enrollment_insuredperson,"
            " enrollment_historicalinsuredperson RESTART IDENTITY CASCADE"
        )
        for label, sql in steps:
            step = time.monotonic()
            rows = 0
            for statement in (s for s in sql.split(";\n") if s.strip()):
                cursor.execute(statement, params)
                rows = max(rows, cursor.rowcount)
            say(f"  生成{label} {rows} 行（{time.monotonic() - step:.1f} 秒）")
    settle(say)
    say(f"数据生成完成（{time.monotonic() - started:.1f} 秒）。")


def reset(*, places: Places, say: Say) -> None:
    """--keep: take back the previous run's payroll (debits, balances, the run) to time the same month again."""
    region = places.pooling_region.pk
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM funds_ledgerentry WHERE kind = 'pension'")
        (entries,) = cursor.fetchone()
        sums = ", ".join(
            f"COALESCE(SUM(amount) FILTER (WHERE component = '{c}'), 0) AS {c}"
            for c in ("personal", "government_subsidy", "collective", "donation", "government_paid", "interest")
        )
        sets = ", ".join(
            f"balance_{c} = a.balance_{c} - s.{c}"
            for c in ("personal", "government_subsidy", "collective", "donation", "government_paid", "interest")
        )
        cursor.execute(
            f"""UPDATE funds_individualaccount a SET {sets}, balance = a.balance - s.total
                FROM (SELECT account_id, {sums}, SUM(amount) AS total FROM funds_ledgerentry
                      WHERE kind = 'pension' GROUP BY account_id) s
                WHERE a.id = s.account_id"""
        )
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no deferred checks pending at ALTER TABLE
        cursor.execute("ALTER TABLE funds_ledgerentry DISABLE TRIGGER funds_ledger_append_only")
        cursor.execute("DELETE FROM funds_ledgerentry WHERE kind = 'pension'")
        cursor.execute("ALTER TABLE funds_ledgerentry ENABLE TRIGGER funds_ledger_append_only")
        cursor.execute(
            "DELETE FROM benefits_payrollline WHERE run_id IN (SELECT id FROM benefits_payrollrun"
            " WHERE pooling_region_id = %s)",
            [region],
        )
        cursor.execute("DELETE FROM benefits_payrollrun WHERE pooling_region_id = %s", [region])
    say(f"复用已有数据：撤回上次发放的个人账户支付 {entries} 笔。")
    settle(say)


def settle(say: Say) -> None:
    """A settled steady state, as after a night's autovacuum: visibility map set and statistics current, the
    accounts rewritten at their fillfactor (room for the debits' HOT updates), dead rows of a reset gone."""
    step = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM FULL funds_individualaccount")
        for table in (
            "enrollment_insuredperson",
            "funds_individualaccount",
            "funds_ledgerentry",
            "benefits_award",
            "benefits_awardperiod",
            "benefits_payrollline",
            "benefits_payrollrun",
        ):
            cursor.execute(f"VACUUM (ANALYZE) {table}")
        cursor.execute("CHECKPOINT")
    say(f"  整理表和统计信息（{time.monotonic() - step:.1f} 秒）")


def bench_month() -> dt.date:
    return calc.month_of(timezone.localdate())


@dataclass(frozen=True)
class Checks:
    lines: int
    awards: int
    lines_total: Decimal
    ledger_debits: Decimal
    entries: int
    accounts_debited: int
    fund_paid_lines: int

    def totals_match(self, run: PayrollRun) -> bool:
        return self.lines_total == run.total and self.lines == run.lines_count

    def debits_match(self, run: PayrollRun) -> bool:
        return -self.ledger_debits == run.account_paid_total


def check(run: PayrollRun) -> Checks:
    """What the run says against what was written: its lines, and the ledger's PENSION debits."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT COUNT(*) FILTER (WHERE kind = 'pension'), COALESCE(SUM(total), 0),
                      COUNT(*) FILTER (WHERE fund_paid > 0)
               FROM benefits_payrollline WHERE run_id = %s""",
            [run.pk],
        )
        lines, lines_total, fund_paid_lines = cursor.fetchone()
        cursor.execute(
            """SELECT COUNT(*), COALESCE(SUM(amount), 0), COUNT(DISTINCT account_id) FROM funds_ledgerentry
               WHERE kind = 'pension' AND idempotency_key LIKE %s""",
            [f"payroll:{run.pk}:%"],
        )
        entries, debits, accounts = cursor.fetchone()
        cursor.execute(
            "SELECT COUNT(*) FROM benefits_award WHERE pooling_region_id = %s AND status = 'active'",
            [run.pooling_region_id],
        )
        (awards,) = cursor.fetchone()
    return Checks(
        lines=lines,
        awards=awards,
        lines_total=lines_total,
        ledger_debits=debits,
        entries=entries,
        accounts_debited=accounts,
        fund_paid_lines=fund_paid_lines,
    )


def run(*, awards: int, keep: bool, chunk_size: int | None = None, say: Say) -> dict:
    """Load (or reuse) the data, time one month's payroll, check it; return the figures."""
    from benefits.payroll import payroll_confirm, payroll_prepare
    from funds.management.commands.check_balances import balance_mismatches

    month = bench_month()
    places = ensure_places()
    if keep and award_count(places) == awards:
        reset(places=places, say=say)
    else:
        build(places=places, awards=awards, month=month, say=say)
    say(f"数据：待遇 {award_count(places)} 人，发放月份 {month:%Y-%m}。")

    load_before = os.getloadavg()[0]  # other work on the machine slows the run: say so beside the figures
    started = time.monotonic()
    payroll_run = payroll_prepare(actor=places.officer, pooling_region=places.pooling_region, month=month)
    prepared = time.monotonic()
    say(
        f"试算：{payroll_run.lines_count} 人，基础养老金 {payroll_run.basic_total} 元，个人账户养老金 {payroll_run.account_total} 元，"
        f"{prepared - started:.2f} 秒。"
    )

    def progress(done: int, total: int) -> None:
        say(f"  记账进度 {done}/{total}（{time.monotonic() - prepared:.1f} 秒）")

    if chunk_size is None:
        chunk_size = inspect.signature(payroll_confirm).parameters["chunk_size"].default
    payroll_run = payroll_confirm(actor=places.officer, run=payroll_run, chunk_size=chunk_size, progress=progress)
    confirmed = time.monotonic()
    load_after = os.getloadavg()[0]
    prepare_seconds = prepared - started
    confirm_seconds = confirmed - prepared
    seconds = confirmed - started
    say(
        f"确认：个人账户支付 {payroll_run.account_paid_total} 元，基金支付 {payroll_run.fund_paid_total} 元，发放总额 {payroll_run.total} 元，"
        f"{confirm_seconds:.2f} 秒。"
    )
    checks = check(payroll_run)
    balance_errors = len(balance_mismatches())
    totals_ok = checks.totals_match(payroll_run)
    debits_ok = checks.debits_match(payroll_run)
    say(
        f"核对：明细 {checks.lines} 条（在发待遇 {checks.awards} 人），明细合计 {checks.lines_total} 元"
        f"{'＝' if totals_ok else '≠'}发放总额；个人账户支付明细 {checks.entries} 笔，共 {-checks.ledger_debits} 元"
        f"{'＝' if debits_ok else '≠'}个人账户支付合计；基金补足 {checks.fund_paid_lines} 人；"
        f"缓存余额与明细不一致 {balance_errors} 处。"
    )
    return {
        "rows": payroll_run.lines_count,
        "seconds": round(seconds, 3),
        "rows_per_s": round(payroll_run.lines_count / seconds) if seconds else None,
        "prepare_seconds": round(prepare_seconds, 3),
        "confirm_seconds": round(confirm_seconds, 3),
        "ledger_entries": checks.entries,
        "accounts_debited": checks.accounts_debited,
        "fund_paid_lines": checks.fund_paid_lines,
        "account_paid_total": str(payroll_run.account_paid_total),
        "fund_paid_total": str(payroll_run.fund_paid_total),
        "total": str(payroll_run.total),
        "totals_check": totals_ok and debits_ok and checks.lines == checks.awards and balance_errors == 0,
        "lines_match_awards": checks.lines == checks.awards,
        "totals_match_lines": totals_ok,
        "debits_match_account_paid": debits_ok,
        "balance_mismatches": balance_errors,
        "awards": awards,
        "month": f"{month:%Y-%m}",
        "chunk_size": chunk_size,
        "load_before": round(load_before, 2),
        "load_after": round(load_after, 2),
        "cpus": os.cpu_count(),
    }


def figures_line(figures: dict) -> str:
    return json.dumps(figures, ensure_ascii=False)
