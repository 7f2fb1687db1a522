"""Settlement exactly once: many posts at one moment, a worker killed half way, and the lines that cannot post.

Real PostgreSQL: one connection per thread, and a worker process killed with SIGKILL.
"""

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection

from agencies.errors import Conflict
from agencies.models import Role
from agencies.tests.factories import region_line
from benefits.bank import payout_batch_issue
from benefits.models import Award, PayoutStatus, PayrollLine
from benefits.tests.factories import make_award, make_contributor, pension_line, run_payroll
from contributions.models import Contribution
from contributions.services import contribution_post
from contributions.tests.factories import make_policy
from enrollment.models import PersonStatus
from funds import batches
from funds.batches import receipt_settle, result_receive
from funds.management.commands.check_balances import balance_mismatches
from funds.models import (
    BankBatch,
    BankBatchLine,
    BatchStatus,
    FundMovement,
    LedgerEntry,
    ReceiptStatus,
    ResultChunk,
    ResultLine,
    ResultReceipt,
)
from funds.tests.bank_factories import bulk_payers, issue_deduct, make_partner, make_payers, result_file

ROOT = Path(__file__).resolve().parents[2]


def _line():
    home = region_line()
    home.pooling_region.scheme_started_on = dt.date(2009, 7, 1)
    home.pooling_region.save()
    make_policy(home)
    return home


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_and_different_files_posted_at_one_moment_settle_once():
    # given a batch of 40 lines at 300 (subsidy 40) and two valid answers that differ in one line
    line = _line()
    partner = make_partner(line)
    bulk_payers(line, partner, 40, tier=300)
    batch = issue_deduct(line, partner)
    all_paid = result_file(batch)
    one_failed = result_file(batch, {7: "1001"})
    posts = [all_paid] * 4 + [one_failed] * 4
    answers: list = [None] * len(posts)
    barrier = threading.Barrier(len(posts))

    def post(i: int) -> None:
        try:
            barrier.wait()
            answers[i] = result_receive(partner=partner, batch_no=batch.batch_no, data=posts[i], idempotency_key="")
        except Conflict as conflict:
            answers[i] = conflict
        finally:
            connection.close()

    # when eight banks' threads post at once
    threads = [threading.Thread(target=post, args=(i,)) for i in range(len(posts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then one file was accepted; its twins got its receipt, the other file a conflict; posted once
    accepted = ResultReceipt.objects.exclude(status=ReceiptStatus.REJECTED)
    assert accepted.count() == 1
    receipt = accepted.get()
    winner = all_paid if receipt.sha256 == batches.hashlib.sha256(all_paid).hexdigest() else one_failed
    for data, answer in zip(posts, answers, strict=True):
        if data == winner:
            assert answer.receipt.pk == receipt.pk
        else:
            assert isinstance(answer, Conflict)
    assert receipt.status == ReceiptStatus.SETTLED
    ok = 40 if winner == all_paid else 39
    assert Contribution.objects.count() == ok
    assert LedgerEntry.objects.count() == 2 * ok
    assert FundMovement.objects.get().amount == Decimal(300 * ok)
    assert balance_mismatches() == []


_WORKER = """
import os, sys, time
import django
django.setup()
from funds.batches import receipt_settle
receipt_settle(receipt_id=int(sys.argv[1]), workers=2, progress=lambda done, total: time.sleep(0.3))
"""


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_half_way_and_the_task_run_again_posts_everything_once(monkeypatch):
    # given an accepted file of 600 lines (every tenth fails), not yet settled
    line = _line()
    partner = make_partner(line)
    bulk_payers(line, partner, 600, tier=500)
    batch = issue_deduct(line, partner)
    monkeypatch.setattr(batches, "_enqueue_settlement", lambda receipt_id: None)
    data = result_file(batch, {seq: "1002" for seq in range(10, 601, 10)})
    receipt = result_receive(partner=partner, batch_no=batch.batch_no, data=data).receipt
    assert receipt.status == ReceiptStatus.PROCESSING
    ResultReceipt.objects.filter(pk=receipt.pk).update(chunk_size=50)

    # when a worker settling it in chunks of 50 on two connections is killed after a few chunks
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{connection.settings_dict['NAME']}",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PORTAL_ENV": "test",
    }
    worker = subprocess.Popen([sys.executable, "-c", _WORKER, str(receipt.pk)], cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            receipt.refresh_from_db()
            if receipt.lines_done >= 150:
                break
            time.sleep(0.05)
        os.kill(worker.pid, signal.SIGKILL)
    finally:
        worker.wait(timeout=30)
    receipt.refresh_from_db()
    assert 150 <= receipt.lines_done < 600 and receipt.status == ReceiptStatus.PROCESSING
    # whole chunks only, each of 50 lines with 5 failures
    assert receipt.lines_done % 50 == 0
    assert Contribution.objects.count() == receipt.lines_done * 9 // 10
    assert ResultChunk.objects.filter(receipt=receipt).count() == receipt.lines_done // 50
    assert balance_mismatches() == []

    # then the task run again (twice, on two connections) finishes: 540 posted once, 60 failures, 540 × 500 in
    receipt_settle(receipt_id=receipt.pk, workers=2)
    receipt_settle(receipt_id=receipt.pk, workers=2)
    receipt.refresh_from_db()
    assert (receipt.status, receipt.ok_count, receipt.failed_count) == (ReceiptStatus.SETTLED, 540, 60)
    assert receipt.ok_amount == Decimal("270000.00")
    assert Contribution.objects.count() == 540
    assert LedgerEntry.objects.count() == 1080  # 500 personal + 60 subsidy each
    assert sum(LedgerEntry.objects.values_list("amount", flat=True)) == Decimal("302400.00")
    assert FundMovement.objects.get().amount == Decimal("270000.00")
    assert balance_mismatches() == []


@pytest.mark.django_db
def test_success_lines_that_cannot_post_are_listed_for_refund():
    # given three payers in a batch; before the bank answers, one pays at the counter and one is cancelled
    line = _line()
    partner = make_partner(line)
    persons = make_payers(line, partner, [300, 300, 300])
    batch = issue_deduct(line, partner)
    clerk = line.staff(Role.TOWNSHIP_CLERK)
    contribution_post(
        actor=clerk,
        person=persons[0],
        year=2026,
        amount=Decimal("300"),
        paid_on=dt.date(2026, 3, 3),
        channel="counter",
        bank_code="ICBC",
        bank_reference="GM0001",
    )
    persons[1].status = PersonStatus.CANCELLED
    persons[1].save()

    # when the bank deducts all three
    receipt = result_receive(partner=partner, batch_no=batch.batch_no, data=result_file(batch)).receipt
    receipt_settle(receipt_id=receipt.pk)
    receipt.refresh_from_db()

    # then only the third posts from the file; the other two are refunds to make, said why
    assert receipt.exception_count == 2
    assert Contribution.objects.filter(channel="bank_file").count() == 1
    notes = dict(ResultLine.objects.exclude(follow_up="").values_list("seq", "follow_up"))
    seq = dict(BankBatchLine.objects.filter(batch=batch).values_list("person_id", "seq"))
    assert notes == {
        seq[persons[0].pk]: "该年度已另有缴费记录，代扣款需退还",
        seq[persons[1].pk]: "参保人已不在参保缴费状态，代扣款需退还",
    }
    # the income account still shows what the bank took: 900.00
    assert FundMovement.objects.get().amount == Decimal("900.00")


@pytest.mark.django_db
def test_a_person_in_a_live_batch_is_not_issued_again():
    line = _line()
    partner = make_partner(line)
    make_payers(line, partner, [300, 500])
    issue_deduct(line, partner)
    with pytest.raises(Exception, match="没有可下发的记录"):
        issue_deduct(line, partner)
    assert BankBatch.objects.count() == 1


@pytest.mark.django_db
def test_a_payout_batch_pays_marks_failures_and_reissues_after_the_account_is_corrected():
    # given two recipients in a confirmed January payroll, both banking with the partner
    line = pension_line()
    partner = make_partner(line)
    persons = [
        make_contributor(line, birth_date=dt.date(1965, 3, 10), bank_code=partner.code, bank_account=f"62170000{i}")
        for i in range(2)
    ]
    for person in persons:
        make_award(line, person, claimed_on=dt.date(2025, 3, 20))
    run = run_payroll(line, dt.date(2026, 1, 1))
    officer = line.staff(Role.COUNTY_FUND_OFFICER)
    batch = payout_batch_issue(actor=officer, run=run, partner=partner)
    lines = list(BankBatchLine.objects.filter(batch=batch).order_by("seq"))
    per_award = {
        award_id: sum(PayrollLine.objects.filter(run=run, award_id=award_id).values_list("total", flat=True))
        for award_id in [ln.source_id for ln in lines]
    }
    assert batch.total_amount == sum(per_award.values())
    assert batch.period == "202601"

    # when the bank pays the first and finds the second's account closed
    receipt = result_receive(partner=partner, batch_no=batch.batch_no, data=result_file(batch, {2: "1002"})).receipt
    receipt_settle(receipt_id=receipt.pk)

    # then the first award's lines are paid, the second's failed; expenditure lost what was paid, split by fund
    paid, failed = lines
    assert set(
        PayrollLine.objects.filter(run=run, award_id=paid.source_id).values_list("payout_status", flat=True)
    ) == {PayoutStatus.PAID}
    assert set(
        PayrollLine.objects.filter(run=run, award_id=failed.source_id).values_list("payout_status", flat=True)
    ) == {PayoutStatus.FAILED}
    out = FundMovement.objects.filter(reference=batch.batch_no)
    assert sum(m.amount for m in out) == -per_award[paid.source_id]
    account_part = sum(
        PayrollLine.objects.filter(run=run, award_id=paid.source_id).values_list("account_paid", flat=True)
    )
    assert out.get(fund="individual_account").amount == -account_part

    # and once the second person's account is corrected, the next batch of the run pays only them
    failed_person = next(p for p in persons if p.pk == failed.person_id)
    failed_person.bank_account = "6217999999"
    failed_person.save()
    again = payout_batch_issue(actor=officer, run=run, partner=partner)
    [reissued] = BankBatchLine.objects.filter(batch=again)
    assert (reissued.source_id, reissued.bank_account, reissued.amount) == (
        failed.source_id,
        "6217999999",
        per_award[failed.source_id],
    )
    assert again.batch_no.endswith("002")
    assert BankBatch.objects.get(pk=batch.pk).status == BatchStatus.SETTLED
    # and the award pays the corrected account from now on: the next month's payroll line carries it
    assert Award.objects.get(pk=failed.source_id).bank_account == "6217999999"
    february = run_payroll(line, dt.date(2026, 2, 1))
    assert set(
        PayrollLine.objects.filter(run=february, award_id=failed.source_id).values_list("bank_account", flat=True)
    ) == {"6217999999"}
