"""The partner banks' API (/api/v1/bank/) as a bank uses it: its key, its batches only, the issued file, the
result file checked whole (every bad input of the contract refused with every problem, changing nothing),
the same file again, a different one after settlement, the size limit, throttling, the call log, and
counter payments. Figures are worked out by hand."""

import base64
import dataclasses
import datetime as dt
import hashlib
import io
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient, APIRequestFactory

from agencies.models import Role
from agencies.tests.factories import region_line
from contributions import services as contribution_services
from contributions.models import Contribution
from contributions.tests.factories import make_policy
from enrollment.tests.factories import make_person
from funds import bankfile
from funds.api import bank as bank_views
from funds.api.bank_auth import BankKeyThrottle
from funds.bank_partners import credential_revoke, credential_rotate
from funds.batches import batch_file
from funds.models import (
    BankBatch,
    BankCredential,
    BatchStatus,
    CredentialUse,
    FundAccount,
    FundMovement,
    IndividualAccount,
    LedgerEntry,
    ResultLine,
    ResultReceipt,
)
from funds.tests.bank_factories import issue_deduct, make_key, make_partner, make_payers, result_file, result_lines

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

API = "/api/v1/bank"


@pytest.fixture
def line():
    home = region_line()
    home.pooling_region.scheme_started_on = dt.date(2009, 7, 1)
    home.pooling_region.save()
    make_policy(home)
    return home


@pytest.fixture
def partner(line):
    return make_partner(line)


@pytest.fixture
def key(line, partner) -> str:
    return make_key(line, partner)


def _client(key: str | None) -> APIClient:
    client = APIClient()
    if key is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


@pytest.fixture
def bank(key) -> APIClient:
    return _client(key)


@pytest.fixture
def payers(line, partner):
    # 300, 500 and 1000 yuan (subsidies 40, 60 and 60 by the national table); seq follows region code, then person.
    return make_payers(line, partner, [300, 500, 1000])


@pytest.fixture
def batch(line, partner, payers) -> BankBatch:
    return issue_deduct(line, partner)


def _post(client: APIClient, batch_no: str, data: bytes, *, key: str = "k-1", **extra):
    return client.post(
        f"{API}/batches/{batch_no}/result",
        data=data,
        content_type="text/plain",
        HTTP_IDEMPOTENCY_KEY=key,
        **extra,
    )


def _state(batch: BankBatch) -> dict:
    batch.refresh_from_db()
    return {
        "contributions": Contribution.objects.count(),
        "ledger": LedgerEntry.objects.count(),
        "accounts": IndividualAccount.objects.count(),
        "movements": FundMovement.objects.count(),
        "result_lines": ResultLine.objects.count(),
        "accepted": ResultReceipt.objects.exclude(status="rejected").count(),
        "batch": (batch.status, batch.ok_count, batch.ok_amount),
    }


NOTHING = {
    "contributions": 0,
    "ledger": 0,
    "accounts": 0,
    "movements": 0,
    "result_lines": 0,
    "accepted": 0,
    "batch": (BatchStatus.ISSUED, 0, Decimal("0.00")),
}


def _places(response) -> set[tuple[int, str]]:
    return {(error["line"], error["field"]) for error in response.json()["errors"]}


def _text(batch: BankBatch, codes: dict[int, str] | None = None) -> list[str]:
    """The good result file's lines (header first, then seq 1..3), to spoil one field of one line."""
    return result_file(batch, codes).decode().splitlines()


def _file(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def _replace(text: str, index: int, value: str) -> str:
    parts = text.split("|")
    parts[index] = value
    return "|".join(parts)


# --- every bad result file of the contract, through the API ------------------------------------------------


def _assert_refused(response, batch: BankBatch, places: set[tuple[int, str]]) -> None:
    assert response.status_code == 400, response.content
    body = response.json()
    assert _places(response) == places
    assert body["error_count"] == len(body["errors"])
    assert body["code"] == "rejected"
    assert body["receipt"]["status"] == "rejected"
    assert body["receipt"]["errors"] == body["errors"]
    assert body["receipt"]["ok_count"] is None
    assert _state(batch) == NOTHING


def test_a_wrong_header_is_refused_with_its_fields(bank, batch):
    lines = _text(batch)
    lines[0] = _replace(_replace(lines[0], 3, "ICBC9"), 2, "PAYOUT")  # bank code and kind

    response = _post(bank, batch.batch_no, _file(lines))

    _assert_refused(response, batch, {(1, "bank_code"), (1, "kind")})
    messages = {e["field"]: e["message"] for e in response.json()["errors"]}
    assert messages["bank_code"] == "表头bank_code为“ICBC9”，与下发批次的“ABC01”不符。"


def test_counts_and_sums_that_do_not_add_up_are_refused(bank, batch):
    # the header claims 2 successes for 1300.00 while all three lines (1800.00) say 0000
    lines = _text(batch)
    lines[0] = _replace(_replace(lines[0], 8, "2"), 9, "1300.00")

    response = _post(bank, batch.batch_no, _file(lines))

    _assert_refused(response, batch, {(1, "ok_count"), (1, "ok_amount")})
    assert "表头成功金额1300.00与成功明细合计1800.00不符。" in {e["message"] for e in response.json()["errors"]}


def test_a_header_total_that_is_not_the_issued_total_is_refused(bank, batch):
    lines = _text(batch)
    lines[0] = _replace(lines[0], 7, "1800.01")

    response = _post(bank, batch.batch_no, _file(lines))

    # against the issued batch, and against the lines' own sum
    _assert_refused(response, batch, {(1, "total_amount")})
    assert response.json()["error_count"] == 2


def test_a_missing_seq_is_refused(bank, batch):
    lines = _text(batch)
    del lines[3]  # seq 3, the 1000.00 line

    response = _post(bank, batch.batch_no, _file(lines))

    _assert_refused(
        response, batch, {(0, "seq"), (1, "record_count"), (1, "total_amount"), (1, "ok_count"), (1, "ok_amount")}
    )
    assert {"line": 0, "field": "seq", "message": "缺少序号 3 的回盘记录。"} in response.json()["errors"]


def test_a_repeated_seq_is_refused(bank, batch):
    lines = _text(batch)
    lines[3] = _replace(lines[3], 1, "2")  # the third line says seq 2 again

    response = _post(bank, batch.batch_no, _file(lines))

    _assert_refused(response, batch, {(4, "seq"), (0, "seq")})
    assert {"line": 4, "field": "seq", "message": "序号 2 重复出现。"} in response.json()["errors"]


def test_a_changed_name_is_refused_with_its_line(bank, batch):
    answers = result_lines(batch)
    answers[1] = dataclasses.replace(answers[1], name="张冠李戴")  # line 3 of the file

    response = _post(bank, batch.batch_no, result_file(batch, lines=answers))

    _assert_refused(response, batch, {(3, "name")})
    assert response.json()["errors"][0]["message"] == "序号 2 的姓名（name）与下发文件不一致。"


def test_changed_amounts_that_keep_the_sums_are_refused_line_by_line(bank, batch):
    # 100 yuan moved from line 3 (seq 2, 500.00) to line 4 (seq 3, 1000.00): the header still adds up
    answers = result_lines(batch)
    answers[1] = dataclasses.replace(answers[1], amount=Decimal("400.00"))
    answers[2] = dataclasses.replace(answers[2], amount=Decimal("1100.00"))

    response = _post(bank, batch.batch_no, result_file(batch, lines=answers))

    _assert_refused(response, batch, {(3, "amount"), (4, "amount")})


def test_an_unknown_result_code_is_refused(bank, batch):
    answers = result_lines(batch)
    answers[1] = dataclasses.replace(answers[1], result_code="0001")

    response = _post(bank, batch.batch_no, result_file(batch, lines=answers))

    _assert_refused(response, batch, {(3, "result_code")})
    assert (
        response.json()["errors"][0]["message"] == "处理结果代码“0001”无效，只能是 0000、1001、1002、1003、1004、9999。"
    )


def test_an_amount_with_three_decimals_is_refused(bank, batch):
    lines = _text(batch)
    lines[2] = _replace(lines[2], 6, "500.000")

    response = _post(bank, batch.batch_no, _file(lines))

    # the amount cannot be read, so the sums it should be part of do not add up either
    _assert_refused(response, batch, {(3, "amount"), (1, "total_amount"), (1, "ok_amount")})
    assert {
        "line": 3,
        "field": "amount",
        "message": "金额“500.000”格式不对：应为大于零、恰好两位小数、无符号无千分位的数。",
    } in response.json()["errors"]


def test_an_amount_with_a_thousands_separator_is_refused(bank, batch):
    lines = _text(batch)
    lines[3] = _replace(lines[3], 6, "1,000.00")

    response = _post(bank, batch.batch_no, _file(lines))

    _assert_refused(response, batch, {(4, "amount"), (1, "total_amount"), (1, "ok_amount")})


def test_a_file_in_the_wrong_encoding_is_refused_line_by_line(bank, batch):
    # GBK bytes to a UTF-8 bank: every line with a name in Chinese
    data = result_file(batch).decode("utf-8").encode("gbk")

    response = _post(bank, batch.batch_no, data)

    _assert_refused(response, batch, {(2, "encoding"), (3, "encoding"), (4, "encoding")})
    assert response.json()["errors"][0]["message"] == "该行不是UTF-8编码的文本。"


def test_a_gbk_bank_is_read_in_gbk(line, batch):
    # the same lines for a GBK bank are fine, and its issued file comes in GBK
    gbk = make_partner(line, code="GBK01", encoding="gbk", name="某商业银行")
    person = make_person(line.village, name="缴费人甲", bank_code="GBK01", bank_account="6217000000001")
    contribution_services.tier_choice_record(
        actor=line.staff(Role.TOWNSHIP_CLERK), person=person, year=2026, amount=Decimal(300)
    )
    gbk_batch = issue_deduct(line, gbk)
    client = _client(make_key(line, gbk))

    issued = client.get(f"{API}/batches/{gbk_batch.batch_no}/file")
    posted = _post(client, gbk_batch.batch_no, result_file(gbk_batch, {1: "1001"}))

    assert issued["Content-Type"] == "text/plain; charset=gbk"
    assert "缴费人甲".encode("gbk") in issued.content
    assert posted.status_code == 202, posted.content


def test_an_empty_body_is_refused_without_a_receipt(bank, batch):
    response = _post(bank, batch.batch_no, b"")

    assert response.status_code == 400
    assert response.json() == {
        "detail": "回盘文件未通过校验，共1处问题，整份未予处理。请按清单改正后，以新的 Idempotency-Key 重新提交。",
        "code": "empty",
        "errors": [{"line": 0, "field": "file", "message": "文件为空。"}],
        "error_count": 1,
        "receipt": None,
    }
    assert ResultReceipt.objects.count() == 0
    assert _state(batch) == NOTHING


def test_a_body_of_only_a_bom_and_line_ends_is_empty(bank, batch):
    response = _post(bank, batch.batch_no, bankfile.UTF8_BOM + b"\r\n\n")

    assert response.status_code == 400
    assert _places(response) == {(0, "file")}


def test_every_problem_of_a_file_is_listed_at_once(bank, batch):
    answers = result_lines(batch)
    answers[0] = dataclasses.replace(answers[0], name="张冠李戴")  # line 2: a repeated field changed
    answers[1] = dataclasses.replace(answers[1], result_code="0001")  # line 3: an unknown code

    response = _post(bank, batch.batch_no, result_file(batch, lines=answers))

    assert response.status_code == 400
    assert _places(response) == {(2, "name"), (3, "result_code")}


# --- the size limit ----------------------------------------------------------------------------------------


class _Unread(io.RawIOBase):
    """A request body that fails the test if anyone reads it."""

    def __init__(self):
        self.reads = 0

    def readable(self) -> bool:
        return True

    def read(self, size=-1) -> bytes:
        self.reads += 1
        raise AssertionError("the body was read")

    readline = read


def test_a_200_mb_body_is_refused_by_its_length_before_it_is_read(bank, batch):
    body = _Unread()
    declared = 200 * 1024 * 1024

    response = _post(bank, batch.batch_no, b"H", CONTENT_LENGTH=str(declared), **{"wsgi.input": body})

    assert response.status_code == 413
    assert response.json() == {
        "detail": "回盘文件超过160MB（167772160字节）的上限，未予接收。请核对文件后重发，或联系经办机构。",
        "code": "too_large",
    }
    assert body.reads == 0
    assert ResultReceipt.objects.count() == 0
    assert _state(batch) == NOTHING
    assert CredentialUse.objects.get().status_code == 413


def test_a_body_over_a_lowered_limit_is_refused(bank, batch, settings):
    settings.BANK_FILE_MAX_BYTES = 100
    data = result_file(batch)
    assert len(data) > 100

    as_body = _post(bank, batch.batch_no, data)
    as_form = bank.post(
        f"{API}/batches/{batch.batch_no}/result",
        {"file": io.BytesIO(data)},
        format="multipart",
        HTTP_IDEMPOTENCY_KEY="k-form",
    )

    assert (as_body.status_code, as_form.status_code) == (413, 413)
    assert as_body.json()["detail"].startswith("回盘文件超过0MB（100字节）的上限")
    assert ResultReceipt.objects.count() == 0


def test_a_streamed_body_without_a_declared_length_is_cut_off_while_it_is_read(key, batch, settings):
    # given a body whose length no header tells (a chunked upload, or an ASGI server): only reading finds it
    settings.BANK_FILE_MAX_BYTES = 100
    data = result_file(batch)
    request = APIRequestFactory().post(
        f"{API}/batches/{batch.batch_no}/result",
        data=b"",
        content_type="text/plain",
        HTTP_AUTHORIZATION=f"Api-Key {key}",
        HTTP_IDEMPOTENCY_KEY="k-stream",
    )
    request.META.pop("CONTENT_LENGTH", None)
    request._stream = io.BytesIO(data)

    response = bank_views.BatchResultView.as_view()(request, batch_no=batch.batch_no)

    assert response.status_code == 413
    assert response.data["code"] == "too_large"
    assert ResultReceipt.objects.count() == 0

    # and the same stream under the limit is read whole and accepted
    settings.BANK_FILE_MAX_BYTES = len(data)
    request._stream = io.BytesIO(data)
    request._read_started = False
    request.META["HTTP_IDEMPOTENCY_KEY"] = "k-stream-2"
    assert bank_views.BatchResultView.as_view()(request, batch_no=batch.batch_no).status_code == 202


# --- the batches this bank sees ---------------------------------------------------------------------------


@pytest.fixture
def other_bank(line):
    """Another bank in the same pooling region, with a batch of its own."""
    other = make_partner(line, code="ICBC1", name="工商银行")
    make_payers(line, other, [300])
    return other, issue_deduct(line, other)


def test_a_bank_lists_its_own_batches_only(bank, batch, other_bank):
    response = bank.get(f"{API}/batches/?status=issued")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    row = body["results"][0]
    assert row == {
        "batch_no": batch.batch_no,
        "kind": "DEDUCT",
        "kind_display": "代扣",
        "bank_code": "ABC01",
        "pooling_region_code": "320412000000",
        "pooling_region_name": "统筹区320412",
        "issued_on": "2026-03-02",
        "period": "2026",
        "record_count": 3,
        "total_amount": "1800.00",
        "status": "issued",
        "status_display": "已下发",
        "ok_count": 0,
        "ok_amount": "0.00",
        "failed_count": 0,
        "failed_amount": "0.00",
        "file_sha256": batch.file_sha256,
        "issued_at": row["issued_at"],
        "settled_at": None,
        "file_url": f"http://testserver{API}/batches/{batch.batch_no}/file",
        "result_url": f"http://testserver{API}/batches/{batch.batch_no}/result",
    }
    assert bank.get(f"{API}/batches/?status=settled").json()["count"] == 0
    assert bank.get(f"{API}/batches/").json()["count"] == 1


def test_newest_first(bank, line, partner, batch):
    # a second batch of the year, for a payer who chose a tier after the first was issued
    make_payers(line, partner, [200], names=["后来者"])
    second = issue_deduct(line, partner, on=dt.date(2026, 3, 9))

    numbers = [row["batch_no"] for row in bank.get(f"{API}/batches/?status=issued").json()["results"]]

    assert numbers == [second.batch_no, batch.batch_no]


def test_an_unknown_status_is_a_400_in_chinese(bank, batch):
    response = bank.get(f"{API}/batches/?status=done")

    assert response.status_code == 400
    message = "批次状态“done”无效，只能是 issued（已下发待回盘）、settling（回盘处理中）或 settled（已结算）。"
    assert response.json() == {"detail": f"status：{message}", "code": "invalid", "errors": {"status": [message]}}


def test_one_batch_and_its_file(bank, batch):
    detail = bank.get(f"{API}/batches/{batch.batch_no}/")
    issued = bank.get(f"{API}/batches/{batch.batch_no}/file", HTTP_ACCEPT="text/plain")

    assert detail.status_code == 200
    assert (detail.json()["record_count"], detail.json()["total_amount"]) == (3, "1800.00")
    assert issued.status_code == 200
    assert issued["Content-Type"] == "text/plain; charset=utf-8"
    assert issued.content == batch_file(batch)
    digest = hashlib.sha256(issued.content)
    assert issued["X-Content-SHA256"] == digest.hexdigest() == batch.file_sha256
    assert issued["Digest"] == "sha-256=" + base64.b64encode(digest.digest()).decode()
    assert issued["Content-Disposition"] == f'attachment; filename="{batch.batch_no}.txt"'
    header, lines = bankfile.parse_issued(issued.content)
    assert (header.batch_no, header.record_count, header.total_amount) == (batch.batch_no, 3, Decimal("1800.00"))
    assert [line.amount for line in lines] == [Decimal("300.00"), Decimal("500.00"), Decimal("1000.00")]


def test_another_banks_batch_is_not_found_nor_its_file_nor_its_result(bank, other_bank):
    _, foreign = other_bank
    before = ResultReceipt.objects.count()

    answers = [
        bank.get(f"{API}/batches/{foreign.batch_no}/"),
        bank.get(f"{API}/batches/{foreign.batch_no}/file"),
        _post(bank, foreign.batch_no, result_file(foreign)),
        bank.get(f"{API}/batches/D00000000000000000000000/"),
    ]

    assert [a.status_code for a in answers] == [404, 404, 404, 404]
    assert answers[0].json() == {"detail": "没有这个批次，或该批次不属于本银行。", "code": "not_found"}
    assert answers[1].json() == answers[0].json() == answers[3].json()
    assert ResultReceipt.objects.count() == before
    assert foreign.batch_no not in str(bank.get(f"{API}/batches/").json())


def test_a_batch_in_a_pooling_region_the_bank_no_longer_serves_is_not_found(bank, partner, batch):
    partner.pooling_regions.clear()

    assert bank.get(f"{API}/batches/{batch.batch_no}/").status_code == 404
    assert bank.get(f"{API}/batches/").json()["count"] == 0


# --- a result file accepted, repeated, and a different one refused --------------------------------------


def test_a_result_file_is_accepted_settled_and_answered_the_same_when_repeated(
    bank, batch, payers, line, django_capture_on_commit_callbacks
):
    # given the bank's answer: seq 2 (the 500.00 payer) lacks the money
    data = result_file(batch, {2: "1001"})

    # when it is posted and the settlement runs after commit
    with django_capture_on_commit_callbacks(execute=True):
        accepted = _post(bank, batch.batch_no, data, key="first")

    # then 202 with a receipt still processing at that moment, which then reads settled with the figures
    assert accepted.status_code == 202, accepted.content
    receipt = accepted.json()
    assert receipt["status"] == "processing"
    assert receipt["sha256"] == hashlib.sha256(data).hexdigest()
    assert (receipt["size_bytes"], receipt["idempotency_key"]) == (len(data), "first")
    assert accepted["Location"] == receipt["url"] == f"http://testserver{API}/receipts/{receipt['id']}/"
    settled = bank.get(f"{API}/receipts/{receipt['id']}/").json()
    assert settled["status"] == "settled"
    assert (settled["ok_count"], settled["ok_amount"], settled["failed_count"], settled["failed_amount"]) == (
        2,
        "1300.00",
        1,
        "500.00",
    )
    assert (settled["exception_count"], settled["error_count"], settled["errors"]) == (0, 0, [])
    assert settled["processed_on"] == "2026-03-05"
    # 300 + 40 and 1000 + 60 on the accounts; 1300.00 into the income account
    balances = dict(IndividualAccount.objects.values_list("person_id", "balance"))
    assert balances == {payers[0].pk: Decimal("340.00"), payers[2].pk: Decimal("1060.00")}
    assert FundAccount.objects.get(pooling_region=line.pooling_region, kind="income").balance == Decimal("1300.00")
    batch_now = bank.get(f"{API}/batches/{batch.batch_no}/").json()
    assert (batch_now["status"], batch_now["ok_amount"], batch_now["failed_amount"]) == ("settled", "1300.00", "500.00")
    state = _state(batch)

    # and the same file again, by its key or by another, answers 200 with the same receipt and changes nothing
    again = _post(bank, batch.batch_no, data, key="first")
    by_another_key = _post(bank, batch.batch_no, data, key="second")
    assert (again.status_code, by_another_key.status_code) == (200, 200)
    assert again.json() == by_another_key.json() == settled
    assert _state(batch) == state

    # and a different file for the settled batch is a conflict that changes nothing
    different = _post(bank, batch.batch_no, result_file(batch), key="third")
    assert different.status_code == 409
    assert different.json()["code"] == "already_settled"
    assert different.json()["detail"].startswith(
        f"批次 {batch.batch_no} 已接收另一份回盘文件（回执 {receipt['id']}，已结算）"
    )
    assert _state(batch) == state


def test_a_different_file_while_the_first_is_processing_is_a_conflict(bank, batch):
    first = _post(bank, batch.batch_no, result_file(batch, {1: "1002"}), key="a")
    second = _post(bank, batch.batch_no, result_file(batch), key="b")

    assert (first.status_code, second.status_code) == (202, 409)
    assert bank.get(f"{API}/batches/{batch.batch_no}/").json()["status"] == "settling"
    assert bank.get(f"{API}/batches/?status=settling").json()["count"] == 1


def test_the_same_key_for_another_file_is_a_conflict(bank, batch):
    lines = _text(batch)
    lines[0] = _replace(lines[0], 3, "ICBC9")
    rejected = _post(bank, batch.batch_no, _file(lines), key="same")

    corrected = _post(bank, batch.batch_no, result_file(batch), key="same")

    assert rejected.status_code == 400
    assert corrected.status_code == 409
    assert corrected.json()["code"] == "idempotency_key_reused"
    assert _state(batch) == NOTHING


def test_a_rejected_file_again_gets_the_same_refusal(bank, batch):
    lines = _text(batch)
    lines[2] = _replace(lines[2], 6, "500.000")
    first = _post(bank, batch.batch_no, _file(lines), key="x")

    again = _post(bank, batch.batch_no, _file(lines), key="x")

    assert (first.status_code, again.status_code) == (400, 400)
    assert again.json() == first.json()
    assert ResultReceipt.objects.count() == 1


def test_a_result_file_as_a_multipart_field(bank, batch):
    data = result_file(batch)

    response = bank.post(
        f"{API}/batches/{batch.batch_no}/result",
        {"file": io.BytesIO(data)},
        format="multipart",
        HTTP_IDEMPOTENCY_KEY="form-1",
    )
    missing = bank.post(
        f"{API}/batches/{batch.batch_no}/result", {"other": "x"}, format="multipart", HTTP_IDEMPOTENCY_KEY="form-2"
    )

    assert response.status_code == 202, response.content
    assert response.json()["sha256"] == hashlib.sha256(data).hexdigest()
    assert missing.status_code == 400
    assert missing.json()["code"] == "required"


def test_a_result_without_an_idempotency_key_is_refused(bank, batch):
    response = bank.post(f"{API}/batches/{batch.batch_no}/result", data=result_file(batch), content_type="text/plain")
    too_long = _post(bank, batch.batch_no, result_file(batch), key="k" * 101)

    assert response.status_code == 400
    assert response.json() == {
        "detail": "缺少 Idempotency-Key 请求头：请为每份回盘文件生成一个键，重发同一份文件时使用同一个键。",
        "code": "idempotency_key_required",
        "field": "Idempotency-Key",
        "errors": {
            "Idempotency-Key": [
                "缺少 Idempotency-Key 请求头：请为每份回盘文件生成一个键，重发同一份文件时使用同一个键。"
            ]
        },
    }
    assert too_long.status_code == 400
    assert ResultReceipt.objects.count() == 0


def test_receipts_of_another_bank_are_not_found(bank, line, other_bank):
    other, foreign = other_bank
    theirs = _post(_client(make_key(line, other)), foreign.batch_no, result_file(foreign)).json()

    answer = bank.get(f"{API}/receipts/{theirs['id']}/")

    assert answer.status_code == 404
    assert answer.json() == {"detail": "没有这个回执，或该回执不属于本银行。", "code": "not_found"}
    assert bank.get(f"{API}/receipts/99999999999999999999/").status_code == 404


# --- keys ----------------------------------------------------------------------------------------------------


def test_calls_without_a_good_key_are_refused(line, partner, key, batch):
    admin = line.staff(Role.ADMINISTRATOR)
    credential = BankCredential.objects.get(partner=partner)
    path = f"{API}/batches/"
    prefix = key.split(".")[0]

    no_key = _client(None).get(path)
    wrong = _client(f"{prefix}.not-the-secret").get(path)
    malformed = APIClient().get(path, HTTP_AUTHORIZATION="Api-Key")
    revoked_key = make_key(line, partner)
    credential_revoke(actor=admin, credential=BankCredential.objects.get(prefix=revoked_key.split(".")[0]))
    revoked = _client(revoked_key).get(path)

    assert [r.status_code for r in (no_key, wrong, malformed, revoked)] == [401, 401, 401, 401]
    assert no_key["WWW-Authenticate"] == "Api-Key"
    assert wrong.json() == {"detail": "接口密钥无效、已过期或已吊销。"}
    assert revoked.json() == wrong.json()
    assert _client(key).get(path).status_code == 200
    assert credential.uses.count() == 1  # only the call that got in is on the key's log


def test_a_rotated_key_works_for_24_hours_then_no_more(line, partner, key, batch, monkeypatch):
    admin = line.staff(Role.ADMINISTRATOR)
    new_key = credential_rotate(actor=admin, credential=BankCredential.objects.get(partner=partner)).key
    path = f"{API}/batches/"

    assert _client(key).get(path).status_code == 200
    assert _client(new_key).get(path).status_code == 200

    later = timezone.now() + dt.timedelta(hours=24, minutes=1)
    monkeypatch.setattr(timezone, "now", lambda: later)
    assert _client(key).get(path).status_code == 401
    assert _client(new_key).get(path).status_code == 200


def test_a_staff_session_opens_no_bank_endpoint_and_a_bank_key_no_staff_endpoint(line, bank, batch):
    staff = APIClient()
    staff.force_login(line.staff(Role.COUNTY_FUND_OFFICER))

    as_staff = [
        staff.get(f"{API}/batches/"),
        staff.get(f"{API}/batches/{batch.batch_no}/file"),
        staff.post(f"{API}/batches/{batch.batch_no}/result", data=result_file(batch), content_type="text/plain"),
    ]
    as_bank = [bank.get("/api/v1/persons/"), bank.get("/api/v1/claims/")]

    assert [r.status_code for r in as_staff] == [401, 401, 401]
    assert [r.status_code for r in as_bank] == [403, 403]
    assert staff.get("/api/v1/persons/").status_code == 200
    assert _state(batch) == NOTHING


def test_a_key_is_throttled(bank, batch, settings, monkeypatch):
    cache.clear()
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"bank": "3/min"}}
    # DRF reads the rates once, when the throttle class is made: point it at the lowered ones.
    monkeypatch.setattr(BankKeyThrottle, "THROTTLE_RATES", settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"])

    answers = [bank.get(f"{API}/batches/").status_code for _ in range(4)]

    assert answers == [200, 200, 200, 429]
    assert CredentialUse.objects.order_by("id").last().status_code == 429
    cache.clear()


def test_every_call_is_logged_with_its_status(bank, key, batch):
    bank.get(f"{API}/batches/")
    bank.get(f"{API}/batches/D00000000000000000000000/")
    _post(bank, batch.batch_no, b"")
    bank.get(f"{API}/batches/{batch.batch_no}/file")

    uses = list(CredentialUse.objects.order_by("id").values_list("method", "path", "status_code"))
    assert uses == [
        ("GET", f"{API}/batches/", 200),
        ("GET", f"{API}/batches/D00000000000000000000000/", 404),
        ("POST", f"{API}/batches/{batch.batch_no}/result", 400),
        ("GET", f"{API}/batches/{batch.batch_no}/file", 200),
    ]
    assert {use.credential.prefix for use in CredentialUse.objects.all()} == {key.split(".")[0]}


# --- the list's queries ------------------------------------------------------------------------------------


def _batches(line, partner, count: int) -> None:
    officer = line.staff(Role.COUNTY_FUND_OFFICER)
    BankBatch.objects.bulk_create(
        BankBatch(
            batch_no=f"D320412000000202601{n // 100 + 10:02d}{n % 100 + 1:03d}",
            kind="DEDUCT",
            partner=partner,
            pooling_region=line.pooling_region,
            issued_on=dt.date(2026, 1, 10),
            period="2026",
            record_count=1,
            total_amount=Decimal("300.00"),
            file_sha256="0" * 64,
            issued_by=officer,
        )
        for n in range(count)
    )


@pytest.mark.parametrize("count", [3, 30])
def test_the_batch_list_makes_a_few_queries_however_long(bank, line, partner, count, django_assert_max_num_queries):
    _batches(line, partner, count)

    # the key (1) and its last use (1), the count and the page (2), the call's log (1)
    with django_assert_max_num_queries(5):
        response = bank.get(f"{API}/batches/?status=issued")

    assert response.json()["count"] == count
    assert len(response.json()["results"]) == count


# --- counter payments --------------------------------------------------------------------------------------


@pytest.fixture
def counter_person(line):
    return make_person(line.village, name="王柜面")


def _pay(client: APIClient, person, **changes):
    today = timezone.localdate()
    body = {
        "insurance_no": person.insurance_number,
        "year": today.year,
        "amount": "500.00",
        "paid_on": f"{today:%Y-%m-%d}",
        "bank_txn_id": "CT-0001",
        **changes,
    }
    return client.post(f"{API}/counter-payments/", body, format="json")


def test_a_counter_payment_is_posted_once(bank, line, counter_person):
    # when the bank posts a 500.00 payment at its counter
    first = _pay(bank, counter_person)

    # then the 500 tier is paid: 500.00 of the person's own and a 60.00 subsidy, 560.00 on the account
    assert first.status_code == 201, first.content
    body = first.json()
    assert {k: body[k] for k in ("tier_amount", "personal_amount", "government_subsidy", "government_paid")} == {
        "tier_amount": "500.00",
        "personal_amount": "500.00",
        "government_subsidy": "60.00",
        "government_paid": "0.00",
    }
    assert (body["insurance_no"], body["bank_code"], body["bank_txn_id"]) == (
        counter_person.insurance_number,
        "ABC01",
        "CT-0001",
    )
    assert IndividualAccount.objects.get(person=counter_person).balance == Decimal("560.00")
    assert sorted(LedgerEntry.objects.values_list("amount", flat=True)) == [Decimal("60.00"), Decimal("500.00")]
    income = FundAccount.objects.get(pooling_region=line.pooling_region, kind="income")
    assert income.balance == Decimal("500.00")

    # and the same post again answers 200 with the same body and posts nothing
    again = _pay(bank, counter_person)
    assert again.status_code == 200
    assert again.json() == body
    assert (Contribution.objects.count(), LedgerEntry.objects.count(), FundMovement.objects.count()) == (1, 2, 1)

    # and the same transaction id with another amount is a conflict
    conflict = _pay(bank, counter_person, amount="300.00")
    assert conflict.status_code == 409
    assert conflict.json()["code"] == "bank_reference_used"
    # and another payment for the paid year is a conflict too
    paid = _pay(bank, counter_person, bank_txn_id="CT-0002")
    assert paid.status_code == 409
    assert paid.json()["code"] == "year_paid"
    income.refresh_from_db()
    assert (Contribution.objects.count(), income.balance) == (1, Decimal("500.00"))


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        (500.0, '金额请以文字提交（如 "300.00"），不接受数字类型。'),
        ("500.001", "金额最多保留两位小数（到分）。"),
        ("-500", "金额不能为负数。"),
        ("5e2", "金额“5e2”格式不正确，请填写数字，例如 300 或 300.00。"),
    ],
)
def test_a_counter_payment_amount_is_text_with_at_most_two_places(bank, counter_person, amount, message):
    response = _pay(bank, counter_person, amount=amount)

    assert response.status_code == 400
    assert response.json()["errors"] == {"amount": [message]}
    assert Contribution.objects.count() == 0


def test_a_counter_payment_with_bad_fields_lists_them_all(bank, counter_person):
    response = _pay(bank, counter_person, year="二〇二六", paid_on="2026/03/02", bank_txn_id="CT 1")

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"year", "paid_on", "bank_txn_id"}
    assert response.json()["errors"]["paid_on"] == ["缴费日期格式应为 YYYY-MM-DD，如 2026-03-02。"]


def test_a_counter_payment_for_someone_the_bank_does_not_serve_is_not_found(bank, counter_person):
    foreign = region_line(county="320115")
    make_policy(foreign)
    stranger = make_person(foreign.village, name="外地人")

    answers = [_pay(bank, stranger), _pay(bank, counter_person, insurance_no="999999999999")]

    assert [a.status_code for a in answers] == [404, 404]
    assert answers[0].json() == answers[1].json()
    message = "没有这个保险编号的参保人，或其不在本行服务的统筹区。"
    assert answers[0].json() == {
        "detail": message,
        "code": "not_found",
        "field": "insurance_no",
        "errors": {"insurance_no": [message]},
    }
    assert Contribution.objects.count() == 0


# --- the bank's documentation stays true ------------------------------------------------------------------

DOC = Path(__file__).resolve().parents[2] / "docs" / "bank-interface.md"


def _doc_examples() -> dict[str, str]:
    """The fenced blocks of docs/bank-interface.md marked ``<!-- example: name -->``, by name."""
    found = re.findall(r"<!-- example: ([\w-]+) -->\n```\w*\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    return dict(found)


def test_the_files_in_the_bank_interface_doc_are_what_the_codec_reads():
    examples = _doc_examples()

    for kind in ("deduct", "payout"):
        header, lines = bankfile.parse_issued(examples[f"{kind}-issued"].encode())
        result_header, results = bankfile.parse_result(
            examples[f"{kind}-result"].encode(), encoding="utf-8", expected=header
        )
        assert header.kind == kind.upper()
        assert [r.seq for r in results] == [line.seq for line in lines]
        assert result_header.ok_amount == sum((r.amount for r in results if r.result_code == "0000"), Decimal(0))

    # and the refused file's answer lists exactly what the codec finds in it
    deduct, _ = bankfile.parse_issued(examples["deduct-issued"].encode())
    check = bankfile.check_result(examples["bad-result"].encode(), encoding="utf-8", expected=deduct)
    answer = json.loads(examples["bad-result-answer"])
    in_order = sorted((e.as_dict() for e in check.errors), key=lambda e: e["line"])  # as the service lists them
    assert in_order == answer["errors"]
    assert check.error_count == answer["error_count"] == 8
