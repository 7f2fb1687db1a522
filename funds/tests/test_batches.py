"""Issuing a DEDUCT batch, receiving the bank's result file and settling it: hand-computed figures."""

import datetime as dt
from decimal import Decimal

import pytest

from agencies.tests.factories import region_line
from contributions.models import Contribution
from contributions.tests.factories import make_policy
from funds.batches import batch_file, receipt_settle, result_receive
from funds.models import (
    BankBatch,
    BatchStatus,
    FundAccount,
    FundMovement,
    IndividualAccount,
    LedgerEntry,
    ReceiptStatus,
    ResultLine,
)
from funds.tests.bank_factories import issue_deduct, make_partner, make_payers, result_file

pytestmark = pytest.mark.django_db


@pytest.fixture
def line():
    home = region_line()
    home.pooling_region.scheme_started_on = dt.date(2009, 7, 1)
    home.pooling_region.save()
    make_policy(home)
    return home


def test_a_deduct_batch_is_issued_settled_and_posted_once(line, django_capture_on_commit_callbacks):
    # given three payers at 300, 500 and 1000 (subsidies 40, 60 and 60), one of whom lacks the money
    partner = make_partner(line)
    persons = make_payers(line, partner, [300, 500, 1000])
    batch = issue_deduct(line, partner)
    assert (batch.record_count, batch.total_amount) == (3, Decimal("1800.00"))
    assert batch.batch_no == f"D{line.pooling_region.code.ljust(12, '0')}20260302001"
    assert batch_file(batch).startswith(f"H|{batch.batch_no}|DEDUCT|ABC01|".encode())
    seq_of = {p.pk: seq for seq, p in enumerate(sorted(persons, key=lambda p: (p.region_code, p.pk)), start=1)}
    poor = persons[1]

    # when the bank answers 0000, 1001, 0000 and the settlement runs
    data = result_file(batch, {seq_of[poor.pk]: "1001"})
    with django_capture_on_commit_callbacks(execute=True):
        received = result_receive(partner=partner, batch_no=batch.batch_no, data=data, idempotency_key="k1")
    receipt = received.receipt
    receipt.refresh_from_db()

    # then 300 + 1000 are posted with their subsidies, the 500 is a failure, income holds 1300
    assert receipt.status == ReceiptStatus.SETTLED
    assert (receipt.ok_count, receipt.ok_amount, receipt.failed_count, receipt.failed_amount) == (
        2,
        Decimal("1300.00"),
        1,
        Decimal("500.00"),
    )
    paid = {c.person_id: (c.personal_amount, c.government_subsidy) for c in Contribution.objects.all()}
    assert paid == {
        persons[0].pk: (Decimal("300.00"), Decimal("40.00")),
        persons[2].pk: (Decimal("1000.00"), Decimal("60.00")),
    }
    balances = dict(IndividualAccount.objects.values_list("person_id", "balance"))
    assert balances == {persons[0].pk: Decimal("340.00"), persons[2].pk: Decimal("1060.00")}
    assert LedgerEntry.objects.count() == 4
    income = FundAccount.objects.get(pooling_region=line.pooling_region, kind="income")
    assert income.balance == Decimal("1300.00")
    batch.refresh_from_db()
    assert batch.status == BatchStatus.SETTLED
    assert ResultLine.objects.get(receipt=receipt, result_code="1001").seq == seq_of[poor.pk]

    # and the same file again answers with the same receipt and changes nothing
    again = result_receive(partner=partner, batch_no=batch.batch_no, data=data, idempotency_key="k1")
    assert (again.receipt.pk, again.created) == (receipt.pk, False)
    receipt_settle(receipt_id=receipt.pk)
    assert LedgerEntry.objects.count() == 4
    assert FundMovement.objects.count() == 1
    assert BankBatch.objects.get().ok_amount == Decimal("1300.00")


def test_a_repeated_field_changed_rejects_the_file_naming_line_and_field(line):
    # given a batch of three lines (300, 500, 1000 in seq order) and the bank's answer
    partner = make_partner(line)
    make_payers(line, partner, [300, 500, 1000])
    batch = issue_deduct(line, partner)
    text = result_file(batch).decode().split("\n")
    fields = [row.split("|") for row in text[1:4]]

    # when one answer renames the second person, and another swaps the first two amounts (the sums still add up)
    renamed = [row[:] for row in fields]
    renamed[1][4] = "改名"
    swapped = [row[:] for row in fields]
    swapped[0][6], swapped[1][6] = fields[1][6], fields[0][6]
    answers = {
        "renamed": "\n".join([text[0], *("|".join(r) for r in renamed), *text[4:]]).encode(),
        "swapped": "\n".join([text[0], *("|".join(r) for r in swapped), *text[4:]]).encode(),
    }
    receipts = {
        name: result_receive(partner=partner, batch_no=batch.batch_no, data=data).receipt
        for name, data in answers.items()
    }

    # then each is rejected with every line and field that differs, and nothing is posted
    assert receipts["renamed"].status == ReceiptStatus.REJECTED
    assert receipts["renamed"].errors == [
        {"line": 3, "field": "name", "message": "序号 2 的姓名（name）与下发文件不一致。"}
    ]
    assert receipts["swapped"].status == ReceiptStatus.REJECTED
    assert [(e["line"], e["field"]) for e in receipts["swapped"].errors] == [(2, "amount"), (3, "amount")]
    assert Contribution.objects.count() == 0 and LedgerEntry.objects.count() == 0
    batch.refresh_from_db()
    assert batch.status == BatchStatus.ISSUED
