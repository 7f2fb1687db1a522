"""Bank batches: issuing a file, receiving the bank's result file, and settling it exactly once.

The contract is ``../shared/specs/bank-batch-file.md``. The apps above ``funds`` issue their batches through
``batch_issue`` (handing it the SQL that selects the lines) and receive the settled lines through the handler
they registered in ``funds.batch_handlers``.

Exactly once, however often the bank posts and however the worker dies:
- a receipt per batch and file SHA-256 (the same file again finds its receipt), and at most one accepted
  receipt per batch (a second, different file is a conflict), both unique keys in the database;
- the batch row is locked while a file is checked and accepted, so two posts at one moment take turns;
- settlement goes through the result lines in seq order, one chunk per transaction, and records the last
  seq done in the same transaction, so a killed run resumes where the last committed chunk ended; the
  handlers' own unique keys (a contribution per bank reference, a ledger entry per key) stand behind it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, QuerySet, Sum
from django.utils import timezone

from agencies.errors import Conflict, DomainError
from agencies.freeze import frozen_label_for, frozen_message, frozen_prefixes
from agencies.models import PoolingRegion
from agencies.money import ZERO, money_total
from agencies.permissions import Action, require
from agencies.records import file_record
from agencies.scope import covers_pooling_region
from funds import bankfile
from funds.batch_handlers import handler_for
from funds.fund_accounts import movement_post
from funds.models import (
    BankBatch,
    BankBatchLine,
    BankPartner,
    BatchKind,
    BatchStatus,
    FundAccountKind,
    MovementKind,
    ReceiptStatus,
    ResultChunk,
    ResultReceipt,
)
from funds.parallel import run_parallel, workers_allowed
from funds.records import bank_receipt_record

log = logging.getLogger(__name__)

SETTLE_CHUNK = 50_000
STAGING_TABLE = "funds_result_staging"

# The columns a line-staging query must select, in this order (see ``batch_issue``).
LINE_COLUMNS = (
    "person_id",
    "source_id",
    "region_code",
    "insurance_no",
    "id_number",
    "name",
    "bank_account",
    "amount",
)


# --- places frozen for a merger (数据封存) -------------------------------------------------------------------
# A merger freezes some towns of a pooling region; the jobs that work on the whole region (the deduction batch,
# the payroll, the year-end interest, a result file's settlement) leave those towns out and say how many, so
# the rest of the region runs while the towns wait. The database's guards would refuse the whole statement.


def frozen_patterns() -> list[str]:
    """LIKE patterns of the live frozen prefixes; empty when nothing is frozen (the usual case)."""
    return [f"{prefix}%" for prefix in frozen_prefixes()]


def not_frozen_sql(column: str, patterns: list[str], *, named: bool = False) -> str:
    """`` AND <column> NOT LIKE ...`` for each pattern: positional ``%s``, or ``%(frozen<n>)s`` when named."""
    marks = [f"%(frozen{n})s" if named else "%s" for n in range(len(patterns))]
    return "".join(f" AND {column} NOT LIKE {mark}" for mark in marks)


def frozen_sql(column: str, patterns: list[str], *, named: bool = False) -> str:
    """``(<column> LIKE ... OR ...)``: the rows a job leaves out (``FALSE`` when nothing is frozen)."""
    marks = [f"%(frozen{n})s" if named else "%s" for n in range(len(patterns))]
    return "(" + (" OR ".join(f"{column} LIKE {mark}" for mark in marks) or "1 = 0") + ")"


def frozen_params(patterns: list[str]) -> dict[str, str]:
    """The named parameters of ``not_frozen_sql(..., named=True)``."""
    return {f"frozen{n}": pattern for n, pattern in enumerate(patterns)}


def left_out_message(count: int) -> str:
    """What a clerk reads when a job left persons of frozen towns out."""
    return f"{count} 人所在乡镇因并轨封存，本次未纳入。"


def all_frozen_refusal(region_code: str) -> Conflict:
    """The refusal when everything a job would touch is frozen: the freeze's own message (nothing to do)."""
    return Conflict(frozen_message(frozen_label_for(region_code) or ""), code="frozen")


class NotThisBanksBatch(DomainError):
    status_code = 404

    def __init__(self):
        super().__init__("没有这个批次，或该批次不属于本银行。", code="not_found")


def file_region_code(pooling_region: PoolingRegion) -> str:
    """The 12-digit pooling region code of the files: the region code padded with zeros."""
    code = pooling_region.code
    if not code.isdigit() or len(code) > 12:
        raise DomainError(f"{pooling_region.name}的统筹区编码“{code}”不是数字区划代码，不能下发银行文件。")
    return code.ljust(12, "0")


def issued_header(batch: BankBatch) -> bankfile.IssuedHeader:
    return bankfile.IssuedHeader(
        batch_no=batch.batch_no,
        kind=batch.kind,
        bank_code=batch.partner.code,
        pooling_region_code=file_region_code(batch.pooling_region),
        issued_on=batch.issued_on,
        record_count=batch.record_count,
        total_amount=batch.total_amount,
    )


# --- issuing ------------------------------------------------------------------------------------------------


def _next_batch_number(*, kind: str, pooling_region: PoolingRegion, issued_on: dt.date) -> str:
    """The day's next number in the pooling region. The caller holds the pooling region's row lock."""
    prefix = bankfile.batch_number(
        kind=kind, pooling_region_code=file_region_code(pooling_region), issued_on=issued_on, sequence=1
    )[:-3]
    last = (
        BankBatch.objects.filter(batch_no__startswith=prefix).order_by("-batch_no").values_list("batch_no", flat=True)
    ).first()
    sequence = int(last[-3:]) + 1 if last else 1
    if sequence > 999:
        raise DomainError("本统筹区当日下发的批次已达999个，请次日再下发。", code="too_many_batches")
    return f"{prefix}{sequence:03d}"


def batch_issue(
    *,
    actor,
    kind: str,
    partner: BankPartner,
    pooling_region: PoolingRegion,
    period: str,
    lines_sql: str,
    lines_params: list,
    source_id: int | None = None,
    issued_on: dt.date | None = None,
) -> BankBatch:
    """Issue a batch whose lines ``lines_sql`` selects (columns ``LINE_COLUMNS``, in the order of seq).

    ``lines_sql`` is the calling app's (the DEDUCT lines come from contribution plans, the PAYOUT lines from
    a payroll run), with positional parameters ``lines_params``; lines are numbered by region code and person. One
    transaction: the lines, the counts and the file's SHA-256, or nothing.
    """
    require(actor, Action.ISSUE_BANK_BATCH)
    if kind not in BatchKind.values:
        raise ValueError(f"unknown batch kind {kind}")
    if not covers_pooling_region(actor, pooling_region):
        raise DomainError(f"{pooling_region.name}不在您的管辖范围内。", code="out_of_scope")
    if not partner.active or not partner.pooling_regions.filter(pk=pooling_region.pk).exists():
        raise DomainError(f"{partner.name}不是{pooling_region.name}的合作银行。", code="not_partner", field="partner")
    issued_on = issued_on or timezone.localdate()
    with transaction.atomic():
        PoolingRegion.objects.select_for_update().get(pk=pooling_region.pk)
        batch = BankBatch.objects.create(
            batch_no=_next_batch_number(kind=kind, pooling_region=pooling_region, issued_on=issued_on),
            kind=kind,
            partner=partner,
            pooling_region=pooling_region,
            issued_on=issued_on,
            period=period,
            source_id=source_id,
            record_count=0,
            total_amount=ZERO,
            file_sha256="",
            issued_by=actor,
        )
        columns = ", ".join(LINE_COLUMNS)
        with connection.cursor() as cursor:
            cursor.execute(
                f"""INSERT INTO funds_bankbatchline (batch_id, seq, {columns}, period)
                    SELECT %s, ROW_NUMBER() OVER (ORDER BY region_code, person_id), {columns}, %s
                    FROM ({lines_sql}) AS lines""",
                [batch.pk, period, *lines_params],
            )
        totals = BankBatchLine.objects.filter(batch=batch).aggregate(count=Count("id"), total=Sum("amount"))
        if not totals["count"]:
            raise DomainError("没有可下发的记录（都已下发、已缴或缺少银行账号）。", code="nothing_to_issue")
        batch.record_count = totals["count"]
        batch.total_amount = money_total(totals["total"])
        batch.file_sha256 = hashlib.sha256(batch_file(batch)).hexdigest()
        batch.save(update_fields=["record_count", "total_amount", "file_sha256"])
    log.info("issued %s: %s lines, %s yuan", batch.batch_no, batch.record_count, batch.total_amount)
    return batch


def _issued_lines(batch: BankBatch) -> Iterator[bankfile.IssuedLine]:
    rows = (
        BankBatchLine.objects.filter(batch=batch)
        .order_by("seq")
        .values_list("seq", "insurance_no", "id_number", "name", "bank_account", "amount", "period")
    )
    for row in rows.iterator(chunk_size=10_000):
        yield bankfile.IssuedLine(*row)


def batch_file(batch: BankBatch) -> bytes:
    """The issued file, in the bank's encoding. Refuses (naming the person) a name the encoding cannot hold."""
    try:
        return bankfile.write_issued(issued_header(batch), _issued_lines(batch), batch.partner.encoding)
    except UnicodeEncodeError as error:
        name = error.object[max(0, error.start - 20) : error.end + 5] if isinstance(error.object, str) else ""
        raise DomainError(
            f"有姓名含{batch.partner.get_encoding_display()}编码无法表示的字（{name}），"
            "请改用UTF-8编码或核对姓名后再下发。",
            code="encoding",
        ) from None


# --- receiving a result file ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    receipt: ResultReceipt
    created: bool


def partner_batches(partner: BankPartner) -> QuerySet[BankBatch]:
    """THE bank's scope: its own batches, in the pooling regions it serves (still). Every bank read starts here."""
    return BankBatch.objects.select_related("partner", "pooling_region").filter(
        partner=partner, pooling_region__in=partner.pooling_regions.all()
    )


def batch_for_partner(*, partner: BankPartner, batch_no: str) -> BankBatch:
    """The batch if it is this bank's and in a pooling region it serves; otherwise 404."""
    batch = partner_batches(partner).filter(batch_no=batch_no).first()
    if batch is None:
        raise NotThisBanksBatch()
    return batch


class NotThisBanksReceipt(DomainError):
    status_code = 404

    def __init__(self):
        super().__init__("没有这个回执，或该回执不属于本银行。", code="not_found")


def receipt_for_partner(*, partner: BankPartner, receipt_id: int) -> ResultReceipt:
    """A receipt of one of this bank's batches; otherwise 404."""
    receipt = (
        ResultReceipt.objects.select_related("batch")
        .filter(pk=receipt_id, batch__in=partner_batches(partner).values("pk"))
        .first()
    )
    if receipt is None:
        raise NotThisBanksReceipt()
    return receipt


def _existing(batch: BankBatch, sha256: str, idempotency_key: str) -> ResultReceipt | None:
    found = ResultReceipt.objects.filter(batch=batch, sha256=sha256).first()
    if found is not None:
        return found
    if idempotency_key:
        reused = ResultReceipt.objects.filter(batch=batch, idempotency_key=idempotency_key).first()
        if reused is not None:
            raise Conflict(
                f"Idempotency-Key“{idempotency_key}”已用于另一份回盘文件（SHA-256 {reused.sha256[:12]}…），"
                "同一个键只能对应同一份文件。",
                code="idempotency_key_reused",
            )
    return None


def _refuse_if_accepted(batch: BankBatch) -> None:
    accepted = batch.receipts.exclude(status=ReceiptStatus.REJECTED).first()
    if accepted is not None:
        raise Conflict(
            f"批次 {batch.batch_no} 已接收另一份回盘文件（回执 {accepted.pk}，{accepted.get_status_display()}），"
            "同一批次只结算一次。",
            code="already_settled",
        )


class _Rejected(Exception):
    def __init__(self, errors: list[dict], count: int):
        self.errors = errors
        self.count = count


def result_receive(
    *, partner: BankPartner, batch_no: str, data: bytes, idempotency_key: str = "", credential=None
) -> Received:
    """Check a result file whole and accept it (the settlement then runs as a task) or reject it with every error.

    The same file again returns its receipt; a different file for a batch that has accepted one is a conflict.
    """
    batch = batch_for_partner(partner=partner, batch_no=batch_no)
    sha256 = hashlib.sha256(data).hexdigest()
    existing = _existing(batch, sha256, idempotency_key)
    if existing is not None:
        return Received(existing, created=False)
    if batch.status != BatchStatus.ISSUED:
        _refuse_if_accepted(batch)

    # The file's own checks, outside any transaction.
    check = bankfile.check_result(data, encoding=partner.encoding, expected=issued_header(batch))
    receipt_fields = dict(
        batch=batch, sha256=sha256, idempotency_key=idempotency_key[:100], size_bytes=len(data), credential=credential
    )
    try:
        with transaction.atomic():
            BankBatch.objects.select_for_update().filter(pk=batch.pk).first()
            existing = _existing(batch, sha256, idempotency_key)
            if existing is not None:
                return Received(existing, created=False)
            _refuse_if_accepted(batch)
            try:
                with transaction.atomic():
                    # The well-formed lines are compared with the issued ones even when other lines are wrong:
                    # the bank hears of every problem in one answer.
                    _stage(check)
                    errors, count = _compare_with_issued(batch)
                    if count or not check.ok:
                        raise _Rejected(_every_error(check, errors), check.error_count + count)
                    # The file's own sums, checked above against its lines, whose amounts match the issued ones.
                    receipt = ResultReceipt.objects.create(
                        **receipt_fields,
                        status=ReceiptStatus.PROCESSING,
                        processed_on=check.header.processed_on,
                        chunk_size=SETTLE_CHUNK,
                        ok_count=check.ok_count,
                        ok_amount=bankfile.yuan(check.ok_fen),
                        failed_count=check.line_count - check.ok_count,
                        failed_amount=bankfile.yuan(check.total_fen - check.ok_fen),
                    )
                    _keep_result_lines(receipt)
                    BankBatch.objects.filter(pk=batch.pk).update(status=BatchStatus.SETTLING)
            finally:
                _drop_staging()
            transaction.on_commit(lambda: _enqueue_settlement(receipt.pk))
            return Received(receipt, created=True)
    except _Rejected as rejected:
        return Received(_record_rejection(receipt_fields, rejected), created=True)


def _record_rejection(receipt_fields: dict, rejected: _Rejected) -> ResultReceipt:
    try:
        with transaction.atomic():
            return ResultReceipt.objects.create(
                **receipt_fields,
                status=ReceiptStatus.REJECTED,
                errors=rejected.errors,
                error_count=rejected.count,
                finished_at=timezone.now(),
            )
    except IntegrityError:
        # The same file rejected a moment ago by a twin request.
        return ResultReceipt.objects.get(batch=receipt_fields["batch"], sha256=receipt_fields["sha256"])


def _enqueue_settlement(receipt_id: int) -> None:
    from funds.tasks import settle_result

    settle_result.delay(receipt_id)


_STAGING_COLUMNS = (
    "line_no integer, record_type text, seq integer, insurance_no text, id_number text, name text,"
    " bank_account text, amount text, period text, result_code text, result_message text, bank_txn_id text"
)
_TEXT_COLUMNS = "insurance_no, id_number, name, bank_account, period, result_code, result_message, bank_txn_id"


def _stage(check: bankfile.ResultCheck) -> None:
    """The file's well-formed D lines, as they are and with their line numbers, into a temporary table.

    Those lines hold no ``|``, line break or control character (the checks saw to it), so PostgreSQL's COPY
    reads them as they stand: CSV with ``|`` between fields and a quote character that cannot occur.
    """
    lines = check.lines
    with connection.cursor() as cursor:
        _drop_staging(cursor)
        cursor.execute(f"CREATE TEMP TABLE {STAGING_TABLE} ({_STAGING_COLUMNS})")
        if connection.vendor == "postgresql":
            payload = io.BytesIO("\n".join(f"{n}|{lines[n - 1]}" for n in check.well_formed).encode())
            cursor.copy_expert(
                f"COPY {STAGING_TABLE} FROM STDIN WITH (FORMAT csv, DELIMITER '|', QUOTE E'\\x01', "
                f"FORCE_NOT_NULL ({_TEXT_COLUMNS}))",
                payload,
            )
            cursor.execute(f"ANALYZE {STAGING_TABLE}")
        else:
            cursor.executemany(
                f"INSERT INTO {STAGING_TABLE} VALUES ({', '.join(['%s'] * 12)})",
                [[n, *lines[n - 1].split(bankfile.SEPARATOR)] for n in check.well_formed],
            )


def _every_error(check: bankfile.ResultCheck, compared: list[dict]) -> list[dict]:
    """The file's own errors and the differences from the issued lines, by line, the first MAX_ERRORS."""
    every = [error.as_dict() for error in check.errors] + compared
    every.sort(key=lambda error: error["line"])
    return every[: bankfile.MAX_ERRORS]


def _drop_staging(cursor=None) -> None:
    if cursor is None:
        with connection.cursor() as own:
            own.execute(f"DROP TABLE IF EXISTS {STAGING_TABLE}")
    else:
        cursor.execute(f"DROP TABLE IF EXISTS {STAGING_TABLE}")


# Every repeated field of a result line against its issued line; the amount in fen.
_COMPARED = (
    ("insurance_no", "s.insurance_no <> l.insurance_no"),
    ("id_number", "s.id_number <> l.id_number"),
    ("name", "s.name <> l.name"),
    ("bank_account", "s.bank_account <> l.bank_account"),
    ("amount", "CAST(s.amount AS numeric(14, 2)) <> l.amount"),  # the form was checked: a plain decimal
    ("period", "s.period <> l.period"),
)


_FIELD_LABELS = {
    "insurance_no": "保险编号",
    "id_number": "身份证号",
    "name": "姓名",
    "bank_account": "银行账号",
    "amount": "金额",
    "period": "期间",
}


def _compare_with_issued(batch: BankBatch) -> tuple[list[dict], int]:
    """Every repeated field that differs from the issued line: (the first MAX_ERRORS, how many in all)."""
    flags = ", ".join(f"CASE WHEN {test} THEN 1 ELSE 0 END AS {name}" for name, test in _COMPARED)
    any_differs = " OR ".join(test for _, test in _COMPARED)
    sql = f"""
        SELECT s.line_no, s.seq, {flags}
        FROM {STAGING_TABLE} s JOIN funds_bankbatchline l ON l.batch_id = %s AND l.seq = s.seq
        WHERE {any_differs}
        ORDER BY s.line_no
    """
    errors: list[dict] = []
    count = 0
    with connection.cursor() as cursor:
        cursor.execute(sql, [batch.pk])
        for line_no, seq, *differs in cursor:
            for (name, _), flag in zip(_COMPARED, differs, strict=True):
                if flag:
                    count += 1
                    if len(errors) < bankfile.MAX_ERRORS:
                        errors.append(
                            {
                                "line": line_no,
                                "field": name,
                                "message": f"序号 {seq} 的{_FIELD_LABELS[name]}（{name}）与下发文件不一致。",
                            }
                        )
    return errors, count


def _keep_result_lines(receipt: ResultReceipt) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO funds_resultline
                    (receipt_id, seq, line_no, result_code, result_message, bank_txn_id, follow_up)
                SELECT %s, seq, line_no, result_code, result_message, bank_txn_id, ''
                FROM {STAGING_TABLE} ORDER BY seq""",
            [receipt.pk],
        )


# --- settling ---------------------------------------------------------------------------------------------------


def receipt_settle(
    *, receipt_id: int, workers: int = 1, progress: Callable[[int, int], None] | None = None
) -> ResultReceipt:
    """Post an accepted file's lines through the batch kind's handler, chunk by chunk, then close the batch.

    Each chunk is claimed by a ``ResultChunk`` row in its own transaction, so the work is safe to run twice
    at once and to re-run after a kill (it does the chunks not yet committed). ``workers`` > 1 settles chunks
    on that many connections at once (PostgreSQL, outside a transaction). A settled receipt is left as it is.
    """
    receipt = ResultReceipt.objects.select_related("batch__partner", "batch__pooling_region").get(pk=receipt_id)
    batch = receipt.batch
    if receipt.status == ReceiptStatus.REJECTED:
        raise Conflict("已拒收的回盘文件不能结算。", code="rejected")
    if receipt.status == ReceiptStatus.SETTLED:
        return receipt
    handler = handler_for(batch.kind)
    size = receipt.chunk_size
    numbers = range((batch.record_count + size - 1) // size)
    done = set(ResultChunk.objects.filter(receipt=receipt).values_list("number", flat=True))
    held, held_lines, held_code = _chunks_with_frozen_lines(batch, size, done)
    todo = [number for number in numbers if number not in done and number not in held]
    settled = len(done)

    def settle(number: int) -> bool:
        return _settle_chunk(batch=batch, receipt=receipt, handler=handler, number=number)

    for _number, _claimed in run_parallel(todo, settle, workers_allowed(workers)):
        settled += 1
        if progress is not None:
            progress(min(settled * size, batch.record_count), batch.record_count)
    if held:
        # A chunk is settled once, whole: skipping its frozen lines would lose them. Its chunk waits unclaimed,
        # the receipt stays processing, and the next run after the lift (the nightly resume) finishes it.
        log.warning("%s: %s lines held back by a freeze (%s chunks)", batch.batch_no, held_lines, len(held))
        if len(held) == len(numbers):
            raise all_frozen_refusal(held_code)
        raise Conflict(
            f"回盘文件 {batch.batch_no} 中{left_out_message(held_lines)}其余记录已结算；封存解除后再次结算即可完成。",
            code="frozen",
        )
    return _close(receipt_id, handler, chunks=len(numbers))


def _chunks_with_frozen_lines(batch: BankBatch, size: int, done: set[int]) -> tuple[set[int], int, str]:
    """(chunk numbers holding a line under a frozen prefix and not yet settled, how many such lines, a code)."""
    patterns = frozen_patterns()
    if not patterns:
        return set(), 0, ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT (seq - 1) / %s AS chunk, COUNT(*), MIN(region_code) FROM funds_bankbatchline
                WHERE batch_id = %s AND {frozen_sql("region_code", patterns)}
                GROUP BY (seq - 1) / %s""",
            [size, batch.pk, *patterns, size],
        )
        rows = [row for row in cursor.fetchall() if row[0] not in done]
    return {row[0] for row in rows}, sum(row[1] for row in rows), min((row[2] for row in rows), default="")


_CLAIM_SQL = """
    INSERT INTO funds_resultchunk (receipt_id, number, exceptions, finished_at) VALUES (%s, %s, 0, %s)
    ON CONFLICT (receipt_id, number) DO NOTHING
    RETURNING id
"""


def _settle_chunk(*, batch: BankBatch, receipt: ResultReceipt, handler, number: int) -> bool:
    """One chunk in one transaction; False when another run has settled it already."""
    low = number * receipt.chunk_size
    high = min(low + receipt.chunk_size, batch.record_count)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(_CLAIM_SQL, [receipt.pk, number, timezone.now()])
            claimed = cursor.fetchone()
        if claimed is None:
            return False
        exceptions = handler.settle_chunk(batch, receipt, low, high)
        ResultChunk.objects.filter(pk=claimed[0]).update(exceptions=exceptions)
        ResultReceipt.objects.filter(pk=receipt.pk).update(
            lines_done=F("lines_done") + (high - low), exception_count=F("exception_count") + exceptions
        )
    return True


def _close(receipt_id: int, handler, *, chunks: int) -> ResultReceipt:
    with transaction.atomic():
        receipt = ResultReceipt.objects.select_for_update().select_related("batch__pooling_region").get(pk=receipt_id)
        if receipt.status == ReceiptStatus.SETTLED:
            return receipt
        if ResultChunk.objects.filter(receipt=receipt).count() < chunks:
            return receipt  # a run still at work elsewhere closes it when it is done
        batch = receipt.batch
        figures = {name: getattr(receipt, name) for name in ("ok_count", "ok_amount", "failed_count", "failed_amount")}
        booked_on = receipt.processed_on or timezone.localdate()
        for fund, amount in handler.paid_by_fund(batch, receipt).items():
            if not amount:
                continue
            income = batch.kind == BatchKind.DEDUCT
            movement_post(
                pooling_region=batch.pooling_region,
                account_kind=FundAccountKind.INCOME if income else FundAccountKind.EXPENDITURE,
                fund=fund,
                kind=MovementKind.DEDUCTION if income else MovementKind.PAYOUT,
                amount=amount if income else -amount,
                booked_on=booked_on,
                reference=batch.batch_no,
                counterpart=batch.partner.name,
                idempotency_key=f"batch:{batch.batch_no}:{fund}",
            )
        now = timezone.now()
        ResultReceipt.objects.filter(pk=receipt.pk).update(status=ReceiptStatus.SETTLED, finished_at=now)
        BankBatch.objects.filter(pk=batch.pk).update(status=BatchStatus.SETTLED, settled_at=now, **figures)
        receipt.refresh_from_db()
        file_record(bank_receipt_record(receipt))  # 银行回执, in the transaction that settles it
    log.info("settled %s: %s ok, %s failed", batch.batch_no, receipt.ok_count, receipt.failed_count)
    return receipt
