"""A partner bank's side of a batch: its result file, answering every issued line as the contract lays it out.

The portal itself only reads result files; the demo data, the benchmark and the tests answer their batches with
this, so they all speak the contract the same way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from decimal import Decimal

from funds import bankfile
from funds.batches import issued_header
from funds.models import BankBatch, BankBatchLine

MESSAGES = {
    "1001": "账户余额不足",
    "1002": "账户已销户",
    "1003": "户名与账号不符",
    "1004": "账户已冻结",
    "9999": "其他原因",
}


def answer_lines(
    batch: BankBatch, codes: dict[int, str] | None = None, *, txn_prefix: str = "TX"
) -> Iterator[bankfile.ResultLine]:
    """One answer per issued line, in seq order: ``0000`` with a transaction id unique to the batch and line,
    unless ``codes`` gives the seq another result code."""
    codes = codes or {}
    rows = (
        BankBatchLine.objects.filter(batch=batch)
        .order_by("seq")
        .values_list("seq", "insurance_no", "id_number", "name", "bank_account", "amount", "period")
    )
    for seq, insurance_no, id_number, name, bank_account, amount, period in rows.iterator(chunk_size=20_000):
        code = codes.get(seq, bankfile.OK)
        done = code == bankfile.OK
        yield bankfile.ResultLine(
            seq=seq,
            insurance_no=insurance_no,
            id_number=id_number,
            name=name,
            bank_account=bank_account,
            amount=amount,
            period=period,
            result_code=code,
            result_message="" if done else MESSAGES.get(code, MESSAGES["9999"]),
            bank_txn_id=f"{txn_prefix}{batch.batch_no}{seq:07d}" if done else "",
        )


def result_file(
    batch: BankBatch,
    codes: dict[int, str] | None = None,
    *,
    lines: Iterable[bankfile.ResultLine] | None = None,
    processed_on: dt.date | None = None,
    txn_prefix: str = "TX",
) -> bytes:
    """The whole result file in the bank's encoding, its header counting and summing the lines given (by default
    ``answer_lines``), processed three days after the batch was issued unless told."""
    lines = list(answer_lines(batch, codes, txn_prefix=txn_prefix) if lines is None else lines)
    ok = [line for line in lines if line.result_code == bankfile.OK]
    header = issued_header(batch)
    return bankfile.write_result(
        bankfile.ResultHeader(
            batch_no=header.batch_no,
            kind=header.kind,
            bank_code=header.bank_code,
            pooling_region_code=header.pooling_region_code,
            processed_on=processed_on or batch.issued_on + dt.timedelta(days=3),
            record_count=len(lines),
            total_amount=sum((line.amount for line in lines), Decimal("0.00")),
            ok_count=len(ok),
            ok_amount=sum((line.amount for line in ok), Decimal("0.00")),
        ),
        lines,
        batch.partner.encoding,
    )
