"""``python manage.py bench interest --accounts N [--entries-per-account 3] [--years 3]``
and ``python manage.py bench payroll --awards N [--keep]`` (see ``benefits.bench``)
and ``python manage.py bench bank-result --rows N`` (see ``contributions.bench_bank``)
and ``python manage.py bench merger --persons N`` (see ``migration.bench``)
and ``python manage.py bench dashboard --persons N`` (see ``portal.bench_dashboard``).

Builds N insured persons with an individual account each and a few years of ledger entries, set-based in
SQL (``generate_series``), in a pooling region of its own (统筹区 990100, region codes 9901…); runs the
year-end settlement for the latest year as the nightly job would; then a baseline: ONE hand-written SQL
statement computing the same interest into an unlogged scratch table. Prints what it does, and as its last
line one JSON object: ``rows`` (interest entries posted), ``seconds`` (the whole settlement: computing,
appending to the ledger, moving the cached balances), ``rows_per_s``, ``baseline_seconds`` and more.

PostgreSQL only. The data is built by TRUNCATE-and-load, so the command runs only on a database that holds
nothing but its own data (a fresh, migrated scratch database); anywhere else it refuses.
"""

import datetime as dt
import json
import os
import sys
import time
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction

from agencies.models import PoolingRegion, Region, RegionLevel
from agencies.money import Rounding
from enrollment import idnumber
from funds.management.commands.check_balances import balance_mismatches
from funds.models import IndividualAccount, InterestSettlement
from funds.settlement import settle_year

BENCH_POOLING_CODE = "990100"
BENCH_CITY = "990000000000"
BENCH_COUNTY = "990100000000"
BENCH_TOWNSHIP = "990100001000"
BENCH_VILLAGES = 20
BENCH_RATE = Decimal("0.01500")
SCRATCH_DATABASE = "pension_bench_interest"

# Identity numbers: area 9901xx, a birth date from 1950 on, a 3-digit sequence, and the GB 11643 check
# character, all computed in SQL. Unique for up to 100 × 18000 × 1000 persons.
PERSONS_SQL = (
    """
INSERT INTO enrollment_insuredperson
    (id_number, insurance_number, name, name_initials, sex, birth_date, region_code, status, phone, address,
     social_security_card_number, bank_code, bank_account, enrolled_on, cancelled_on, created_at, village_id)
SELECT f17 || """
    + idnumber.check_character_sql("f17")
    + """,
       '9901' || lpad(i::text, 10, '0'),
       '基准测试' || (i %% 1000), 'JZCS', CASE WHEN i %% 2 = 1 THEN 'M' ELSE 'F' END, birth,
       village_code, 'active', '', '', '', '', '', DATE '2012-01-01', NULL, now(), village_id
FROM (
    SELECT g.i,
           '9901' || lpad(((g.i / 18000000) %% 100)::text, 2, '0') || to_char(b.birth, 'YYYYMMDD')
               || lpad((g.i %% 1000)::text, 3, '0') AS f17,
           b.birth,
           v.code AS village_code,
           v.id AS village_id
    FROM generate_series(0, %(n)s - 1) AS g(i)
    CROSS JOIN LATERAL (SELECT DATE '1950-01-01' + ((g.i / 1000) %% 18000) AS birth) b
    JOIN (
        SELECT id, code, row_number() OVER (ORDER BY code) - 1 AS k FROM agencies_region
        WHERE code LIKE '990100001%%' AND level = 'village'
    ) v ON v.k = g.i %% %(villages)s
) p
"""
)

ACCOUNTS_SQL = """
INSERT INTO funds_individualaccount
    (region_code, opened_on, closed_on, balance_personal, balance_government_subsidy, balance_collective,
     balance_donation, balance_government_paid, balance_interest, balance, person_id, pooling_region_id)
SELECT region_code, DATE '2012-01-01', NULL, 0, 0, 0, 0, 0, 0, 0, id, %(region)s
FROM enrollment_insuredperson
WHERE region_code LIKE '9901%%'
ORDER BY id
"""

# Entry j of an account falls in year (first + j mod years), in a month and day spread over the accounts;
# mostly personal contributions of a tier (100–2000), every third a government subsidy, and one account in
# fifty reverses 100 yuan of its first contribution (a debit). Written year by year, as a real ledger grows.
ENTRIES_SQL = """
INSERT INTO funds_ledgerentry
    (account_id, component, kind, amount, booked_on, period, reference, idempotency_key, created_at,
     created_by_id, reverses_id)
SELECT a.id,
       CASE WHEN j.j %% 3 = 2 THEN 'government_subsidy' ELSE 'personal' END,
       CASE WHEN j.j %% 3 = 2 THEN 'subsidy' ELSE 'contribution' END,
       CASE WHEN j.j %% 3 = 2 THEN 30 + 30 * ((a.id + j.j) %% 2) ELSE 100 * (1 + (a.id + j.j) %% 20) END,
       make_date(%(first)s + j.j %% %(years)s, 1 + ((a.id * 7 + j.j * 5) %% 12)::int, 1 + (a.id %% 28)::int),
       '', 'bench', 'bench:' || a.id || ':' || j.j, now(), NULL, NULL
FROM funds_individualaccount a
CROSS JOIN generate_series(0, %(per_account)s - 1) AS j(j)
WHERE a.pooling_region_id = %(region)s
ORDER BY j.j %% %(years)s, a.id
"""

DEBITS_SQL = """
INSERT INTO funds_ledgerentry
    (account_id, component, kind, amount, booked_on, period, reference, idempotency_key, created_at,
     created_by_id, reverses_id)
SELECT a.id, 'personal', 'reversal', -100, make_date(%(last)s, 1 + (a.id %% 12)::int, 15), '', 'bench',
       'bench:' || a.id || ':reversal', now(), NULL, NULL
FROM funds_individualaccount a
WHERE a.pooling_region_id = %(region)s AND a.id %% 50 = 0
"""

BALANCES_SQL = """
UPDATE funds_individualaccount a
SET balance_personal = s.personal, balance_government_subsidy = s.subsidy, balance = s.personal + s.subsidy
FROM (
    SELECT account_id,
           COALESCE(SUM(amount) FILTER (WHERE component = 'personal'), 0) AS personal,
           COALESCE(SUM(amount) FILTER (WHERE component = 'government_subsidy'), 0) AS subsidy
    FROM funds_ledgerentry GROUP BY account_id
) s
WHERE a.id = s.account_id
"""

# The baseline: the same interest, in one statement, into an unlogged scratch table.
BASELINE_SQL = """
CREATE UNLOGGED TABLE bench_interest_baseline AS
SELECT e.account_id,
       ROUND(SUM(e.amount * CASE WHEN e.booked_on < %(jan1)s THEN 12
                                 WHEN e.amount >= 0 THEN 12 - EXTRACT(MONTH FROM e.booked_on)::int
                                 ELSE 13 - EXTRACT(MONTH FROM e.booked_on)::int END)
             * %(rate)s / 12.00000000000000000000, 2) AS amount
FROM funds_ledgerentry e
JOIN funds_individualaccount a ON a.id = e.account_id
WHERE a.pooling_region_id = %(region)s
  AND (a.closed_on IS NULL OR a.closed_on > %(dec31)s)
  AND e.booked_on <= %(dec31)s
  AND NOT (e.kind = 'interest' AND e.booked_on >= %(jan1)s)
GROUP BY e.account_id
"""

MISMATCH_SQL = """
SELECT COUNT(*) FROM bench_interest_baseline b
FULL JOIN (SELECT account_id, amount FROM funds_ledgerentry WHERE kind = 'interest' AND period = %(period)s) e
    ON e.account_id = b.account_id
WHERE COALESCE(e.amount, 0) <> COALESCE(b.amount, 0)
"""


class Command(BaseCommand):
    help = (
        "基准测试（仅 PostgreSQL）。interest：生成 N 个个人账户及多年明细，计时年终结息，并与单条 SQL 基线比较；"
        "payroll：生成 N 名待遇领取人员，计时一个月的发放（试算和确认）；"
        "merger：生成 N 名参保人及十年缴费记录，计时并轨导出、试导入和正式导入；"
        "dashboard：生成 N 名参保人及数年业务，计时月度汇总和统计分析页面。"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="which", required=True)
        interest = sub.add_parser("interest", help="年终结息")
        interest.add_argument("--accounts", type=int, default=100_000, help="账户数")
        interest.add_argument("--entries-per-account", type=int, default=3, help="每个账户的明细笔数（跨年分布）")
        interest.add_argument("--years", type=int, default=3, help="明细跨几个年度，结算最后一年")
        interest.add_argument("--chunk-size", type=int, default=125_000, help="每个事务结算的账户数")
        interest.add_argument("--workers", type=int, default=2, help="同时结算的数据库连接数")
        interest.add_argument("--keep", action="store_true", help="复用已生成的数据（账户数相同时），只重新结息")
        payroll = sub.add_parser("payroll", help="月度待遇发放")
        payroll.add_argument("--awards", type=int, default=100_000, help="待遇领取人数")
        payroll.add_argument(
            "--chunk-size", type=int, default=None, help="确认时每个事务记账的明细数（默认同发放服务）"
        )
        payroll.add_argument(
            "--keep", action="store_true", help="复用已生成的数据（人数相同时），撤回上次发放后重新发放同一月份"
        )

        bank = sub.add_parser("bank-result", help="银行代扣回盘文件结算")
        bank.add_argument("--rows", type=int, default=100_000, help="代扣批次笔数")

        merger = sub.add_parser("merger", help="并轨：导出、试导入、正式导入")
        merger.add_argument("--persons", type=int, default=300_000, help="源统筹区参保人数（每人十年缴费记录）")
        merger.add_argument(
            "--legacy",
            action="store_true",
            help="数据包视为旧系统导出：导出后从登记库清除源区人员，导入时全部新建（否则为本系统内迁入）",
        )

        dashboard = sub.add_parser("dashboard", help="月度汇总与统计分析页面")
        dashboard.add_argument("--persons", type=int, default=1_000_000, help="全市参保人数（约每 500 人一个村）")
        dashboard.add_argument("--months", type=int, default=12, help="重算近几个月的月度汇总")
        dashboard.add_argument("--repeat", type=int, default=5, help="每个页面计时几次（另有一次预热）")
        dashboard.add_argument("--keep", action="store_true", help="复用已生成的数据（人数相同时），只重算汇总和计时")

    def handle(self, *args: object, which: str, **options) -> None:
        if connection.vendor != "postgresql":
            raise CommandError(
                "该基准测试只在 PostgreSQL 上运行（批量生成数据用 generate_series）。请设置 DATABASE_URL，"
                f"例如 DATABASE_URL=postgres://postgres@127.0.0.1:5432/{SCRATCH_DATABASE}。"
            )
        if which == "interest":
            self._interest(**options)
        elif which == "payroll":
            self._payroll(**options)
        elif which == "bank-result":
            self._bank_result(**options)
        elif which == "merger":
            self._merger(**options)
        elif which == "dashboard":
            self._dashboard(**options)

    # --- dashboard ------------------------------------------------------------------------------------------

    def _dashboard(self, *, persons: int, months: int, repeat: int, keep: bool, **_) -> None:
        from portal import bench_dashboard  # the dashboard's data and figures live with the portal

        if persons < 1 or months < 2 or repeat < 1:
            raise CommandError("--persons、--repeat 至少为 1，--months 至少为 2。")
        refusal = bench_dashboard.refuse_foreign_data()
        if refusal:
            raise CommandError(refusal)
        figures = bench_dashboard.run(persons=persons, months=months, repeat=repeat, keep=keep, say=self.stdout.write)
        self.stdout.write(bench_dashboard.figures_line(figures))
        failed = [key for key, status in figures["status"].items() if status != 200]
        if failed:
            self.stderr.write("页面未正常返回：" + "、".join(f"{key} HTTP {figures['status'][key]}" for key in failed))
            sys.exit(1)  # the figures stay the last line of the output

    # --- district merger ------------------------------------------------------------------------------

    def _merger(self, *, persons: int, legacy: bool, **_) -> None:
        from migration import bench as merger_bench  # the merger's data and figures live with the merger

        if persons < 1:
            raise CommandError("--persons 至少为 1。")
        refusal = merger_bench.refuse_foreign_data()
        if refusal:
            raise CommandError(refusal)
        figures = merger_bench.run(persons=persons, legacy=legacy, say=self.stdout.write)
        self.stdout.write(merger_bench.figures_line(figures))
        if not figures["balances_match"] or figures["blocking_findings"]:
            self.stderr.write("试导入有阻断问题，或导入后账户余额合计与数据包清单不一致！")
            sys.exit(1)  # the figures stay the last line of the output

    # --- bank result file -------------------------------------------------------------------------------

    def _bank_result(self, *, rows: int, **_) -> None:
        from contributions import bench_bank  # the DEDUCT batch's data and figures live with contributions

        if rows < 1:
            raise CommandError("--rows 至少为 1。")
        refusal = bench_bank.refuse_foreign_data()
        if refusal:
            raise CommandError(refusal)
        figures = bench_bank.run(rows=rows, say=self.stdout.write)
        self.stdout.write(bench_bank.figures_line(figures))
        if not figures["totals_check"]:
            self.stderr.write("结算结果与回盘文件或个人账户明细不一致！")
            sys.exit(1)  # the figures stay the last line of the output

    # --- payroll --------------------------------------------------------------------------------------

    def _payroll(self, *, awards: int, chunk_size: int | None, keep: bool, **_) -> None:
        from benefits import bench as payroll_bench  # the payroll's data and figures live with the payroll

        if awards < 1:
            raise CommandError("--awards 至少为 1。")
        refusal = payroll_bench.refuse_foreign_data()
        if refusal:
            raise CommandError(refusal)
        figures = payroll_bench.run(awards=awards, keep=keep, chunk_size=chunk_size, say=self.stdout.write)
        self.stdout.write(payroll_bench.figures_line(figures))
        if not figures["totals_check"]:
            self.stderr.write("发放合计与明细或个人账户明细不一致！")
            sys.exit(1)  # the figures stay the last line of the output

    # --- interest -------------------------------------------------------------------------------------

    def _interest(
        self, *, accounts: int, entries_per_account: int, years: int, chunk_size: int, workers: int, keep: bool, **_
    ) -> None:
        if accounts < 1 or entries_per_account < 1 or years < 1:
            raise CommandError("--accounts、--entries-per-account、--years 都至少为 1。")
        year = dt.date.today().year - 1  # the last full year, as the nightly job settles it
        first = year - years + 1
        self._refuse_foreign_data()
        pooling = self._places()
        reuse = keep and IndividualAccount.objects.filter(pooling_region=pooling).count() == accounts
        if reuse:
            self._reset_interest(pooling=pooling)
        else:
            self._build(pooling=pooling, accounts=accounts, per_account=entries_per_account, first=first, last=year)
        self._rate(pooling=pooling, year=year)
        entries = self._count("SELECT COUNT(*) FROM funds_ledgerentry")
        self.stdout.write(f"数据：账户 {accounts} 个，明细 {entries} 笔（{first}–{year} 年），结算 {year} 年度。")

        def progress(done: int, total: int) -> None:
            self.stdout.write(f"  结息进度 {done}/{total}")

        load_before = os.getloadavg()[0]  # other work on the machine slows the run: say so beside the figures
        result = settle_year(
            pooling_region=pooling,
            year=year,
            chunk_size=chunk_size,
            progress=progress,
            workers=workers,
        )
        load_after = os.getloadavg()[0]
        seconds = result.seconds
        self.stdout.write(
            f"结息：入账 {result.entries_posted} 笔，共 {result.amount_posted} 元，{result.chunks} 批，{seconds:.2f} 秒。"
        )

        params = {
            "region": pooling.pk,
            "jan1": dt.date(year, 1, 1),
            "dec31": dt.date(year, 12, 31),
            "rate": BENCH_RATE,
            "period": f"{year:04d}",
        }
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS bench_interest_baseline")
            started = time.monotonic()
            cursor.execute(BASELINE_SQL, params)
            baseline = time.monotonic() - started
            cursor.execute(MISMATCH_SQL, params)
            (mismatches,) = cursor.fetchone()
            cursor.execute("DROP TABLE bench_interest_baseline")
        self.stdout.write(
            f"基线（单条 SQL 计算同样的利息写入临时表）：{baseline:.2f} 秒；与入账结果不一致 {mismatches} 户。"
        )
        balance_errors = len(balance_mismatches())
        self.stdout.write(f"缓存余额与明细不一致 {balance_errors} 处。")
        figures = {
            "rows": result.entries_posted,
            "seconds": round(seconds, 3),
            "rows_per_s": round(result.entries_posted / seconds) if seconds else None,
            "baseline_seconds": round(baseline, 3),
            "accounts": result.accounts,
            "accounts_per_s": round(result.accounts / seconds) if seconds else None,
            "ratio": round(seconds / baseline, 2) if baseline else None,
            "entries": entries,
            "chunk_size": chunk_size,
            "workers": workers,
            "mismatches": mismatches,
            "balance_mismatches": balance_errors,
            "load_before": round(load_before, 2),
            "load_after": round(load_after, 2),
            "cpus": os.cpu_count(),
        }
        self.stdout.write(json.dumps(figures))
        if mismatches or balance_errors:
            self.stderr.write("结息结果与基线或明细不一致！")
            sys.exit(1)  # the figures stay the last line of the output

    def _refuse_foreign_data(self) -> None:
        """The load starts with TRUNCATE: refuse unless every person (and so every account and entry) is ours."""
        foreign = self._count("SELECT COUNT(*) FROM enrollment_insuredperson WHERE region_code NOT LIKE '9901%%'")
        foreign_accounts = self._count(
            "SELECT COUNT(*) FROM funds_individualaccount a JOIN agencies_poolingregion p ON p.id = a.pooling_region_id"
            " WHERE p.code <> %s",
            [BENCH_POOLING_CODE],
        )
        if foreign or foreign_accounts:
            name = connection.settings_dict["NAME"]
            raise CommandError(
                f"数据库 {name} 中有基准测试以外的数据（参保人 {foreign} 名），基准测试会清空参保人、账户和明细，"
                f"为免误删已停止。请改用专用的空数据库，例如：\n"
                f"  createdb -h 127.0.0.1 -U postgres {SCRATCH_DATABASE}\n"
                f"  DATABASE_URL=postgres://postgres@127.0.0.1:5432/{SCRATCH_DATABASE} python manage.py migrate\n"
                f"  DATABASE_URL=postgres://postgres@127.0.0.1:5432/{SCRATCH_DATABASE} python manage.py bench interest"
            )

    def _places(self) -> PoolingRegion:
        pooling, _ = PoolingRegion.objects.get_or_create(code=BENCH_POOLING_CODE, defaults={"name": "基准测试统筹区"})
        city, _ = Region.objects.get_or_create(
            code=BENCH_CITY, defaults={"name": "基准测试市", "level": RegionLevel.CITY}
        )
        county, _ = Region.objects.get_or_create(
            code=BENCH_COUNTY,
            defaults={"name": "基准测试县", "level": RegionLevel.COUNTY, "parent": city, "pooling_region": pooling},
        )
        township, _ = Region.objects.get_or_create(
            code=BENCH_TOWNSHIP, defaults={"name": "基准测试镇", "level": RegionLevel.TOWNSHIP, "parent": county}
        )
        for k in range(1, BENCH_VILLAGES + 1):
            Region.objects.get_or_create(
                code=f"{BENCH_TOWNSHIP[:9]}{k:03d}",
                defaults={"name": f"基准测试村{k}", "level": RegionLevel.VILLAGE, "parent": township},
            )
        return pooling

    def _rate(self, *, pooling: PoolingRegion, year: int) -> None:
        from contributions.models import InterestRate

        InterestRate.objects.update_or_create(
            pooling_region=pooling, year=year, defaults={"rate": BENCH_RATE, "rounding": Rounding.HALF_UP}
        )

    def _reset_interest(self, *, pooling: PoolingRegion) -> None:
        """--keep: take back the last run's interest, on this scratch database only, to time the run again.

        The ledger refuses DELETE by trigger; the bench (the table's owner) lifts it inside this transaction.
        """
        self.stdout.write("复用已有数据：撤回上次的结息……")
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no deferred checks pending at ALTER TABLE
            cursor.execute("ALTER TABLE funds_ledgerentry DISABLE TRIGGER funds_ledger_append_only")
            cursor.execute("DELETE FROM funds_ledgerentry WHERE kind = 'interest'")
            cursor.execute("ALTER TABLE funds_ledgerentry ENABLE TRIGGER funds_ledger_append_only")
            cursor.execute(
                "UPDATE funds_individualaccount SET balance = balance - balance_interest, balance_interest = 0"
                " WHERE balance_interest <> 0"
            )
        InterestSettlement.objects.filter(pooling_region=pooling).delete()
        self._vacuum()

    def _build(self, *, pooling: PoolingRegion, accounts: int, per_account: int, first: int, last: int) -> None:
        started = time.monotonic()
        with connection.cursor() as cursor:
            # Nothing here but bench data (checked above): start from empty tables.
            cursor.execute(
                "TRUNCATE funds_ledgerentry, funds_individualaccount, enrollment_insuredperson,"
                " enrollment_historicalinsuredperson RESTART IDENTITY CASCADE"
            )
        InterestSettlement.objects.filter(pooling_region=pooling).delete()
        steps = (
            ("参保人", PERSONS_SQL, {"n": accounts, "villages": BENCH_VILLAGES}),
            ("个人账户", ACCOUNTS_SQL, {"region": pooling.pk}),
            (
                "账户明细",
                ENTRIES_SQL,
                {"region": pooling.pk, "first": first, "years": last - first + 1, "per_account": per_account},
            ),
            ("冲正明细", DEBITS_SQL, {"region": pooling.pk, "last": last}),
            ("账户余额", BALANCES_SQL, {}),
        )
        for label, sql, params in steps:
            step = time.monotonic()
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql, params)
                rows = cursor.rowcount
            self.stdout.write(f"  生成{label} {rows} 行（{time.monotonic() - step:.1f} 秒）")
        self._vacuum()
        self.stdout.write(f"数据生成完成（{time.monotonic() - started:.1f} 秒）。")

    def _vacuum(self) -> None:
        # A settled steady state: visibility map set and statistics current, as after a night's autovacuum;
        # the accounts rewritten at their fillfactor, as the balance update of the load left them spread.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM FULL funds_individualaccount")
            for table in ("enrollment_insuredperson", "funds_individualaccount", "funds_ledgerentry"):
                cursor.execute(f"VACUUM (ANALYZE) {table}")
            cursor.execute("CHECKPOINT")

    def _count(self, sql: str, params: list | None = None) -> int:
        with connection.cursor() as cursor:
            cursor.execute(sql, params or [])
            return cursor.fetchone()[0]
