"""End to end the way a bank works: over real HTTP against pytest-django's live server, with the settlement
done by a real Celery worker process on Redis, as in production.

The bank lists its batches, downloads the issued file and checks it against its SHA-256 header, writes its
result file from the issued file alone, posts it, and polls the receipt until it is settled; then the
contributions, the individual accounts and the income account are checked to the fen.

The worker runs on its own Redis database (``BANK_LIVE_REDIS_URL``, default redis://127.0.0.1:6379/9), flushed
before and after, against the test database. Without Redis the test is skipped, unless PORTAL_REQUIRE_BROWSER=1
(CI), where a missing Redis is a failure.
"""

import base64
import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection
from kombu import pools as kombu_pools

from agencies.tests.factories import region_line
from config.celery import app as celery_app
from contributions.models import Contribution
from contributions.tests.factories import make_policy
from funds import bankfile
from funds.models import (
    BankBatch,
    BatchStatus,
    FundAccount,
    IndividualAccount,
    LedgerEntry,
    ReceiptStatus,
    ResultReceipt,
)
from funds.tests.bank_factories import issue_deduct, make_key, make_partner, make_payers

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("BANK_LIVE_REDIS_URL", "redis://127.0.0.1:6379/9")
WORKER_READY_SECONDS = 60
SETTLED_SECONDS = 60


def _unavailable(reason: str) -> None:
    if os.environ.get("PORTAL_REQUIRE_BROWSER") == "1":
        pytest.fail(f"PORTAL_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture
def redis_db() -> Iterator:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.RedisError as error:
        _unavailable(f"Redis is not reachable at {REDIS_URL} ({error}); start redis-server")
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def _drop_broker_connections() -> None:
    """The app's pooled broker connections belong to the broker it had; the next send opens new ones.

    kombu keeps producer pools in a registry of its own, keyed by connection: closing only the app's pool
    would leave a closed one there, and every later send (eager ones too acquire a producer) would fail.
    """
    kombu_pools.reset()
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


def _test_database_url() -> str:
    db = connection.settings_dict
    user = urllib.parse.quote(db["USER"] or "", safe="")
    password = f":{urllib.parse.quote(db['PASSWORD'], safe='')}" if db.get("PASSWORD") else ""
    credentials = f"{user}{password}@" if user else ""
    return f"postgres://{credentials}{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def celery_worker(redis_db, tmp_path) -> Iterator[subprocess.Popen]:
    """A real worker process on the test database and the test's Redis; this process sends its tasks there."""
    saved = {name: celery_app.conf[name] for name in ("broker_url", "task_always_eager")}
    celery_app.conf.update(broker_url=REDIS_URL, task_always_eager=False)
    _drop_broker_connections()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PORTAL_ENV": "test",
        "DATABASE_URL": _test_database_url(),
        "REDIS_URL": REDIS_URL,
    }
    log_path = tmp_path / "worker.log"
    celery = Path(sys.executable).parent / "celery"
    worker = None
    try:
        with log_path.open("wb") as log:
            worker = subprocess.Popen(
                [
                    str(celery),
                    "-A",
                    "config",
                    "worker",
                    "--pool=solo",
                    "-Q",
                    "celery",
                    "--loglevel=INFO",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                    "-n",
                    f"bank-live-{os.getpid()}@%h",
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + WORKER_READY_SECONDS
        while b" ready." not in log_path.read_bytes():
            if worker.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the Celery worker did not start:\n{log_path.read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)
        worker.log_path = log_path
        yield worker
    finally:
        if worker is not None and worker.poll() is None:
            worker.terminate()
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(timeout=10)
        celery_app.conf.update(saved)
        _drop_broker_connections()


class Bank:
    """The bank's side: plain HTTP with its key, as its own systems would call."""

    def __init__(self, base_url: str, key: str):
        self.base_url = base_url
        self.key = key

    def call(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        request = urllib.request.Request(
            self.base_url + path,
            data=body,
            method=method,
            headers={"Authorization": f"Api-Key {self.key}", **(headers or {})},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def json(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        status, _, content = self.call(method, path, body, headers)
        return status, json.loads(content)


def _answer(data: bytes, encoding: str, failing: dict[int, str]) -> bytes:
    """The bank's result file, made from the issued file alone: every line done, except those in ``failing``."""
    header, lines = bankfile.parse_issued(data, encoding)
    answers = [
        bankfile.ResultLine(
            seq=line.seq,
            insurance_no=line.insurance_no,
            id_number=line.id_number,
            name=line.name,
            bank_account=line.bank_account,
            amount=line.amount,
            period=line.period,
            result_code=failing.get(line.seq, "0000"),
            result_message="余额不足" if line.seq in failing else "",
            bank_txn_id="" if line.seq in failing else f"B{header.batch_no[-11:]}{line.seq:06d}",
        )
        for line in lines
    ]
    done = [a for a in answers if a.result_code == "0000"]
    return bankfile.write_result(
        bankfile.ResultHeader(
            batch_no=header.batch_no,
            kind=header.kind,
            bank_code=header.bank_code,
            pooling_region_code=header.pooling_region_code,
            processed_on=header.issued_on + dt.timedelta(days=1),
            record_count=header.record_count,
            total_amount=header.total_amount,
            ok_count=len(done),
            ok_amount=sum((a.amount for a in done), Decimal("0.00")),
        ),
        answers,
        encoding,
    )


def test_a_bank_settles_a_deduct_batch_over_http_with_a_real_worker(live_server, celery_worker):
    # given three payers at 300, 500 and 1000 yuan (subsidies 40, 60 and 60) and their DEDUCT batch
    line = region_line()
    line.pooling_region.scheme_started_on = dt.date(2009, 7, 1)
    line.pooling_region.save()
    make_policy(line)
    partner = make_partner(line)
    payers = make_payers(line, partner, [300, 500, 1000])
    issued = issue_deduct(line, partner)
    bank = Bank(live_server.url, make_key(line, partner))

    # when the bank lists what waits for it
    status, listing = bank.json("GET", "/api/v1/bank/batches/?status=issued")
    assert status == 200
    assert [row["batch_no"] for row in listing["results"]] == [issued.batch_no]
    row = listing["results"][0]
    assert (row["record_count"], row["total_amount"]) == (3, "1800.00")

    # and downloads the file, checking it against its digest
    status, headers, data = bank.call("GET", f"/api/v1/bank/batches/{issued.batch_no}/file")
    assert status == 200
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    digest = hashlib.sha256(data)
    assert headers["X-Content-SHA256"] == digest.hexdigest() == row["file_sha256"]
    assert headers["Digest"] == "sha-256=" + base64.b64encode(digest.digest()).decode()

    # and posts its result: seq 2 (the 500.00 payer) lacked the money
    result = _answer(data, "utf-8", {2: "1001"})
    status, receipt = bank.json(
        "POST",
        f"/api/v1/bank/batches/{issued.batch_no}/result",
        result,
        {"Content-Type": "text/plain; charset=utf-8", "Idempotency-Key": f"{issued.batch_no}-1"},
    )
    assert status == 202, receipt
    assert receipt["sha256"] == hashlib.sha256(result).hexdigest()

    # then the worker settles it, and the receipt says so
    deadline = time.monotonic() + SETTLED_SECONDS
    while receipt["status"] == "processing":
        if time.monotonic() > deadline:
            log = celery_worker.log_path.read_text(errors="replace")[-3000:]
            pytest.fail(f"not settled in {SETTLED_SECONDS} s; the worker said:\n{log}")
        time.sleep(0.5)
        status, receipt = bank.json("GET", f"/api/v1/bank/receipts/{receipt['id']}/")
        assert status == 200
    assert receipt["status"] == "settled"
    assert (receipt["ok_count"], receipt["ok_amount"], receipt["failed_count"], receipt["failed_amount"]) == (
        2,
        "1300.00",
        1,
        "500.00",
    )
    assert "settle_result" in celery_worker.log_path.read_text(errors="replace")

    # and the money is where it should be, to the fen: 300 + 40 and 1000 + 60 on the accounts, 1300.00 received
    by_person = {
        c.person_id: (c.personal_amount, c.government_subsidy, c.bank_reference, c.paid_on)
        for c in Contribution.objects.all()
    }
    assert by_person == {
        payers[0].pk: (Decimal("300.00"), Decimal("40.00"), f"B{issued.batch_no[-11:]}000001", dt.date(2026, 3, 3)),
        payers[2].pk: (Decimal("1000.00"), Decimal("60.00"), f"B{issued.batch_no[-11:]}000003", dt.date(2026, 3, 3)),
    }
    assert sorted(LedgerEntry.objects.values_list("amount", flat=True)) == [
        Decimal("40.00"),
        Decimal("60.00"),
        Decimal("300.00"),
        Decimal("1000.00"),
    ]
    balances = dict(IndividualAccount.objects.values_list("person_id", "balance"))
    assert balances == {payers[0].pk: Decimal("340.00"), payers[2].pk: Decimal("1060.00")}
    income = FundAccount.objects.get(pooling_region=line.pooling_region, kind="income")
    assert income.balance == Decimal("1300.00")
    batch = BankBatch.objects.get(pk=issued.pk)
    assert (batch.status, batch.ok_amount, batch.failed_amount) == (
        BatchStatus.SETTLED,
        Decimal("1300.00"),
        Decimal("500.00"),
    )
    assert ResultReceipt.objects.get().status == ReceiptStatus.SETTLED

    # and the same file again answers with the same receipt
    status, again = bank.json(
        "POST",
        f"/api/v1/bank/batches/{issued.batch_no}/result",
        result,
        {"Content-Type": "text/plain", "Idempotency-Key": f"{issued.batch_no}-1"},
    )
    assert (status, again["id"], again["status"]) == (200, receipt["id"], "settled")
    assert Contribution.objects.count() == 2
