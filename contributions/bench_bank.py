"""``python manage.py bench bank-result --rows N``: a DEDUCT batch of N lines, the bank's result file (95% ``0000``)
posted through the bank API, and the time from the POST until the batch is settled.

Loads N payers (a person, a tier choice for the year, a bank account at the bench bank) set-based in SQL in a
pooling region of its own (统筹区 990300, region codes 9903…), issues the batch through the service, writes
the result file as a bank would, posts it with the bank's API key through the portal's own URL, settlement
running in-process (as a Celery worker would), checks every figure, and as a baseline COPYs the same file's
rows into a bare table. The last line of the output is one JSON object.

PostgreSQL only, on a database holding nothing but the bench's own data (it loads by TRUNCATE).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import time
from collections.abc import Callable
from decimal import Decimal

from django.db import connection, transaction
from django.test import Client

from agencies.models import Agency, PoolingRegion, Region, RegionLevel, Role, User
from contributions.bank import deduct_batch_issue
from contributions.models import ContributionPolicy, ContributionTier
from funds.bank_answer import answer_lines, result_file
from funds.bank_partners import credential_issue
from funds.management.commands.check_balances import balance_mismatches
from funds.models import BankBatch, BankPartner, ResultReceipt

Say = Callable[[str], None]

POOLING_CODE = "990300"
PREFIX = "9903"
CITY = "990000000000"
COUNTY = "990300000000"
TOWNSHIPS = 10
VILLAGES_PER_TOWNSHIP = 10
YEAR = 2026
ISSUED_ON = dt.date(2026, 3, 2)
PROCESSED_ON = dt.date(2026, 3, 5)
BANK_CODE = "BENCH01"
OFFICER = "bench_bank_officer"
ADMIN = "bench_bank_admin"
SCRATCH_DATABASE = "pension_bench_bank"
# Every twentieth line fails (insufficient funds): 95% succeed.
FAIL_EVERY = 20
TIERS = [(100, 30), (200, 35), (300, 40), (400, 45), (500, 60), (1000, 60), (2000, 60)]

PERSONS_SQL = """
INSERT INTO enrollment_insuredperson
    (id_number, insurance_number, name, name_initials, sex, birth_date, region_code, status, phone, address,
     social_security_card_number, bank_code, bank_account, enrolled_on, cancelled_on, created_at, village_id)
SELECT '9903' || lpad(((g.i / 1000) %% 100)::text, 2, '0') || to_char(DATE '1966-01-01' + (g.i / 100000), 'YYYYMMDD')
           || lpad((g.i %% 1000)::text, 3, '0') || 'X',
       '9903' || lpad(g.i::text, 10, '0'),
       '代扣测试' || (g.i %% 1000), 'DKCS', CASE WHEN g.i %% 2 = 1 THEN 'M' ELSE 'F' END,
       DATE '1966-01-01' + (g.i / 100000), v.code, 'active', '', '', '', %(bank)s, '6228' || lpad(g.i::text, 15, '0'),
       DATE '2012-01-01', NULL, now(), v.id
FROM generate_series(0, %(n)s - 1) AS g(i)
JOIN (
    SELECT id, code, row_number() OVER (ORDER BY code) - 1 AS k FROM agencies_region
    WHERE code LIKE '990300%%' AND level = 'village'
) v ON v.k = g.i %% %(villages)s
"""

CHOICES_SQL = """
INSERT INTO contributions_tierchoice (person_id, year, amount, source, region_code, chosen_by_id, chosen_at)
SELECT p.id, %(year)s, (ARRAY[100, 200, 300, 400, 500, 1000, 2000])[1 + p.id %% 7], 'clerk', p.region_code, NULL, now()
FROM enrollment_insuredperson p
WHERE p.region_code LIKE '9903%%'
"""


# Nine in ten payers have paid before and have an account; one in ten is new this year (opened by the posting).
ACCOUNTS_SQL = """
INSERT INTO funds_individualaccount
    (region_code, opened_on, closed_on, balance_personal, balance_government_subsidy, balance_collective,
     balance_donation, balance_government_paid, balance_interest, balance, person_id, pooling_region_id)
SELECT region_code, DATE '2012-01-01', NULL, 0, 0, 0, 0, 0, 0, 0, id, %(pooling)s
FROM enrollment_insuredperson
WHERE region_code LIKE '9903%%' AND id %% 10 <> 0
ORDER BY id
"""


def refuse_foreign_data() -> str | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM enrollment_insuredperson WHERE region_code NOT LIKE %s", [f"{PREFIX}%"])
        (foreign,) = cursor.fetchone()
    if foreign:
        name = connection.settings_dict["NAME"]
        return (
            f"数据库 {name} 中有基准测试以外的参保人 {foreign} 名，基准测试会清空参保人、缴费、账户和银行批次，"
            f"为免误删已停止。请改用专用的空数据库，例如：\n"
            f"  createdb -h 127.0.0.1 -U postgres {SCRATCH_DATABASE}\n"
            f"  DATABASE_URL=postgres://postgres@127.0.0.1:5432/{SCRATCH_DATABASE} python manage.py migrate\n"
            f"  DATABASE_URL=postgres://postgres@127.0.0.1:5432/{SCRATCH_DATABASE} python manage.py bench bank-result"
        )
    return None


def _places() -> tuple[PoolingRegion, BankPartner, User, User]:
    with transaction.atomic():
        pooling, _ = PoolingRegion.objects.get_or_create(
            code=POOLING_CODE, defaults={"name": "代扣基准测试统筹区", "scheme_started_on": dt.date(2011, 7, 1)}
        )
        city, _ = Region.objects.get_or_create(code=CITY, defaults={"name": "基准测试市", "level": RegionLevel.CITY})
        county, _ = Region.objects.get_or_create(
            code=COUNTY,
            defaults={"name": "代扣基准测试县", "level": RegionLevel.COUNTY, "parent": city, "pooling_region": pooling},
        )
        existing = set(Region.objects.filter(code__startswith=PREFIX).values_list("code", flat=True))
        for t in range(1, TOWNSHIPS + 1):
            code = f"{POOLING_CODE}{100 + t:03d}000"
            township = Region.objects.filter(code=code).first() or Region.objects.create(
                code=code, name=f"代扣镇{t}", level=RegionLevel.TOWNSHIP, parent=county
            )
            Region.objects.bulk_create(
                [
                    Region(code=c, name=f"代扣镇{t}第{v}村", level=RegionLevel.VILLAGE, parent=township)
                    for v in range(1, VILLAGES_PER_TOWNSHIP + 1)
                    if (c := f"{code[:9]}{200 + v:03d}") not in existing
                ]
            )
        agency, _ = Agency.objects.get_or_create(region=county, defaults={"name": "代扣基准测试县经办中心"})
        city_agency, _ = Agency.objects.get_or_create(region=city, defaults={"name": "基准测试市经办中心"})
        officer, _ = User.objects.get_or_create(
            username=OFFICER, defaults={"role": Role.COUNTY_FUND_OFFICER, "agency": agency}
        )
        admin, _ = User.objects.get_or_create(
            username=ADMIN, defaults={"role": Role.ADMINISTRATOR, "agency": city_agency}
        )
        policy, created = ContributionPolicy.objects.get_or_create(
            pooling_region=pooling,
            valid_from=dt.date(2012, 1, 1),
            defaults={"province_share": Decimal(30), "city_share": Decimal(30), "county_share": Decimal(40)},
        )
        if created:
            ContributionTier.objects.bulk_create(
                [ContributionTier(policy=policy, amount=Decimal(a), government_subsidy=Decimal(s)) for a, s in TIERS]
            )
        partner, _ = BankPartner.objects.get_or_create(code=BANK_CODE, defaults={"name": "基准测试银行"})
        partner.pooling_regions.add(pooling)
    return pooling, partner, officer, admin


def _load(*, pooling: PoolingRegion, rows: int, say: Say) -> None:
    started = time.monotonic()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE funds_resultline, funds_resultreceipt, funds_bankbatchline, funds_bankbatch, funds_fundmovement,"
            " funds_credentialuse, funds_ledgerentry, funds_individualaccount, contributions_contribution,"
            " contributions_tierchoice, contributions_historicaltierchoice, enrollment_insuredperson,"
            " enrollment_historicalinsuredperson RESTART IDENTITY CASCADE"
        )
        cursor.execute("UPDATE funds_fundaccount SET balance = 0")
        params = {
            "n": rows,
            "bank": BANK_CODE,
            "villages": TOWNSHIPS * VILLAGES_PER_TOWNSHIP,
            "year": YEAR,
            "pooling": pooling.pk,
        }
        cursor.execute(PERSONS_SQL, params)
        cursor.execute(CHOICES_SQL, params)
        cursor.execute(ACCOUNTS_SQL, params)
    with connection.cursor() as cursor:
        for table in ("enrollment_insuredperson", "contributions_tierchoice", "funds_individualaccount"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    say(f"生成 {rows} 名缴费人及其{YEAR}年度档次（{time.monotonic() - started:.1f} 秒）。")


def _result_file(batch: BankBatch) -> tuple[bytes, int, Decimal]:
    """The bank's answer: every twentieth line fails for insufficient funds, the rest succeed."""
    failing = {seq: "1001" for seq in range(FAIL_EVERY, batch.record_count + 1, FAIL_EVERY)}
    lines = list(answer_lines(batch, failing, txn_prefix="BENCH"))
    ok = [line for line in lines if line.result_code == "0000"]
    data = result_file(batch, lines=lines, processed_on=PROCESSED_ON)
    return data, len(ok), sum((line.amount for line in ok), Decimal("0.00"))


def _baseline(data: bytes) -> float:
    """A raw COPY of the file's D rows into a bare table: the floor for reading a file into the database."""
    body = data.split(b"\n", 1)[1]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_bank_baseline")
        cursor.execute(
            "CREATE TABLE bench_bank_baseline (record_type text, seq int, insurance_no text, id_number text, name text,"
            " bank_account text, amount numeric(14, 2), period text, result_code text, result_message text,"
            " bank_txn_id text)"
        )
        started = time.monotonic()
        cursor.copy_expert("COPY bench_bank_baseline FROM STDIN WITH (FORMAT text, DELIMITER '|')", io.BytesIO(body))
        seconds = time.monotonic() - started
        cursor.execute("DROP TABLE bench_bank_baseline")
    return seconds


def run(*, rows: int, say: Say) -> dict:
    from config.celery import app

    pooling, partner, officer, admin = _places()
    _load(pooling=pooling, rows=rows, say=say)

    started = time.monotonic()
    batch = deduct_batch_issue(actor=officer, partner=partner, pooling_region=pooling, year=YEAR, issued_on=ISSUED_ON)
    issue_seconds = time.monotonic() - started
    say(f"下发代扣批次 {batch.batch_no}：{batch.record_count} 笔，{batch.total_amount} 元（{issue_seconds:.1f} 秒）。")

    data, ok_count, ok_amount = _result_file(batch)
    say(f"生成回盘文件 {len(data) / 1e6:.1f} MB，成功 {ok_count} 笔。")

    key = credential_issue(actor=admin, partner=partner, label="基准测试").key
    client = Client()
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True  # the settlement runs here, as the worker would, and is timed with the POST
    try:
        started = time.monotonic()
        response = client.post(
            f"/api/v1/bank/batches/{batch.batch_no}/result",
            data=data,
            content_type="text/plain; charset=utf-8",
            HTTP_AUTHORIZATION=f"Api-Key {key}",
            HTTP_IDEMPOTENCY_KEY=hashlib.sha256(data).hexdigest(),
        )
        seconds = time.monotonic() - started
    finally:
        app.conf.task_always_eager = eager
    if response.status_code not in (200, 202):
        raise RuntimeError(f"POST answered {response.status_code}: {response.content[:500]!r}")
    receipt = ResultReceipt.objects.get(pk=response.json()["id"])
    say(f"回盘文件接收并结算完毕（{seconds:.1f} 秒），回执状态 {receipt.get_status_display()}。")

    baseline = _baseline(data)
    checks = _check(receipt, ok_count=ok_count, ok_amount=ok_amount)
    return {
        "rows": rows,
        "seconds": round(seconds, 2),
        "rows_per_s": round(rows / seconds) if seconds else None,
        "baseline_seconds": round(baseline, 2),
        "ratio": round(seconds / baseline, 1) if baseline else None,
        "issue_seconds": round(issue_seconds, 2),
        "file_mb": round(len(data) / 1e6, 1),
        **checks,
    }


def _check(receipt: ResultReceipt, *, ok_count: int, ok_amount: Decimal) -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*), COALESCE(SUM(personal_amount), 0) FROM contributions_contribution")
        posted, posted_amount = cursor.fetchone()
        cursor.execute("SELECT COUNT(*) FROM funds_ledgerentry")
        (entries,) = cursor.fetchone()
    return {
        "settled": receipt.status == "settled",
        "contributions": posted,
        "ledger_entries": entries,
        "totals_check": (
            receipt.status == "settled"
            and posted == ok_count == receipt.ok_count
            and posted_amount == ok_amount == receipt.ok_amount
            and entries == 2 * ok_count
            and not balance_mismatches()
        ),
    }


def figures_line(figures: dict) -> str:
    return json.dumps(figures, ensure_ascii=False)
