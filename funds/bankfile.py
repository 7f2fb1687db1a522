"""The bank batch file and its result file (``../shared/specs/bank-batch-file.md``), as pure functions.

Writing: ``write_issued`` and ``write_result`` give the bytes (LF line ends, the partner's encoding).
Reading: ``parse_issued`` reads an issued file back (banks, tests); ``check_result`` reads a result file
line by line, checks everything that can be checked without the database (the header against the issued
batch, every field's form, seq coverage, counts and sums) and hands each well-formed row to a callback, so a
million-line file never sits in memory as a million objects. The check against the issued lines' repeated
fields is the settlement's, in SQL.

Amounts are summed in integer fen: a float never touches money, and a Decimal per line would be slow.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal

SEPARATOR = "|"
UTF8_BOM = b"\xef\xbb\xbf"
# Enough for a clerk and a bank's developer to see the pattern; the count says how many there were in all.
MAX_ERRORS = 1000

RESULT_CODES = frozenset({"0000", "1001", "1002", "1003", "1004", "9999"})
OK = "0000"
KIND_LETTER = {"DEDUCT": "D", "PAYOUT": "P"}

_AMOUNT = re.compile(r"(?:0|[1-9]\d{0,11})\.\d\d", re.ASCII)
_COUNT = re.compile(r"0|[1-9]\d{0,8}", re.ASCII)
_DATE = re.compile(r"\d{8}", re.ASCII)
_ID_NUMBER = re.compile(r"\d{17}[\dX]", re.ASCII)
_PERIOD = {"DEDUCT": re.compile(r"\d{4}", re.ASCII), "PAYOUT": re.compile(r"\d{4}(0[1-9]|1[0-2])", re.ASCII)}
# re.ASCII: \d alone would take any Unicode digit (full-width "０"), and int() would read it.
_BATCH_NO = re.compile(r"[DP]\d{12}\d{8}\d{3}", re.ASCII)

# A result line right in every field's form (the checks that need state, such as a repeated seq, come after).
_LINE_FORM = (
    r"D\|([1-9]\d{{0,8}})\|([^|\x00-\x1f\x7f]*)\|(\d{{17}}[\dX])\|([^|\x00-\x1f\x7f]*)\|([^|\x00-\x1f\x7f]*)"
    r"\|((?:0|[1-9]\d{{0,11}})\.\d\d)\|({period})"
    r"\|(0000|1001|1002|1003|1004|9999)\|([^|\x00-\x1f\x7f]{{0,200}})\|([^|\x00-\x1f\x7f]{{0,64}})"
)
# Control characters (a tab, a stray \x01) have no place in any field.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_WELL_FORMED_LINE = {
    "DEDUCT": re.compile(_LINE_FORM.format(period=r"\d{4}"), re.ASCII),
    "PAYOUT": re.compile(_LINE_FORM.format(period=r"\d{4}(?:0[1-9]|1[0-2])"), re.ASCII),
}

ISSUED_HEADER_FIELDS = (
    "record_type",
    "batch_no",
    "kind",
    "bank_code",
    "pooling_region_code",
    "issued_on",
    "record_count",
    "total_amount",
)
ISSUED_LINE_FIELDS = ("record_type", "seq", "insurance_no", "id_number", "name", "bank_account", "amount", "period")
RESULT_HEADER_FIELDS = (
    "record_type",
    "batch_no",
    "kind",
    "bank_code",
    "pooling_region_code",
    "processed_on",
    "record_count",
    "total_amount",
    "ok_count",
    "ok_amount",
)
RESULT_LINE_FIELDS = (*ISSUED_LINE_FIELDS, "result_code", "result_message", "bank_txn_id")
# The D fields that must repeat the issued line exactly, by position in a result line.
REPEATED_FIELDS = ISSUED_LINE_FIELDS[2:]


class BankFileError(ValueError):
    """A file that cannot be read; ``errors`` lists every problem found."""

    def __init__(self, errors: list[FileError]):
        super().__init__("; ".join(f"{e.line}:{e.field}: {e.message}" for e in errors[:5]))
        self.errors = errors


@dataclass(frozen=True)
class FileError:
    line: int  # 1-based line of the file; 0 for the file as a whole
    field: str
    message: str

    def as_dict(self) -> dict:
        return {"line": self.line, "field": self.field, "message": self.message}


@dataclass(frozen=True)
class IssuedHeader:
    batch_no: str
    kind: str
    bank_code: str
    pooling_region_code: str
    issued_on: dt.date
    record_count: int
    total_amount: Decimal


@dataclass(frozen=True)
class IssuedLine:
    seq: int
    insurance_no: str
    id_number: str
    name: str
    bank_account: str
    amount: Decimal
    period: str


@dataclass(frozen=True)
class ResultHeader:
    batch_no: str
    kind: str
    bank_code: str
    pooling_region_code: str
    processed_on: dt.date
    record_count: int
    total_amount: Decimal
    ok_count: int
    ok_amount: Decimal


@dataclass(frozen=True)
class ResultLine:
    seq: int
    insurance_no: str
    id_number: str
    name: str
    bank_account: str
    amount: Decimal
    period: str
    result_code: str
    result_message: str = ""
    bank_txn_id: str = ""


# --- writing ---------------------------------------------------------------------------------------------------


def format_amount(amount: Decimal) -> str:
    if not isinstance(amount, Decimal):
        raise TypeError("amounts are Decimal")
    return f"{amount.quantize(Decimal('0.01')):f}"


def _clean(value: str, what: str) -> str:
    text = str(value)
    if SEPARATOR in text or "\n" in text or "\r" in text:
        raise ValueError(f"{what} may not contain '|' or a line break: {text!r}")
    return text


def _encode(lines: Iterable[str], encoding: str) -> bytes:
    return "".join(f"{line}\n" for line in lines).encode(encoding)


def write_issued(header: IssuedHeader, lines: Iterable[IssuedLine], encoding: str = "utf-8") -> bytes:
    """The issued file. Raises ``UnicodeEncodeError`` for a name the encoding cannot hold (the caller says whose)."""

    def rows():
        yield SEPARATOR.join(
            (
                "H",
                header.batch_no,
                header.kind,
                header.bank_code,
                header.pooling_region_code,
                f"{header.issued_on:%Y%m%d}",
                str(header.record_count),
                format_amount(header.total_amount),
            )
        )
        for line in lines:
            yield SEPARATOR.join(
                (
                    "D",
                    str(line.seq),
                    _clean(line.insurance_no, "insurance_no"),
                    _clean(line.id_number, "id_number"),
                    _clean(line.name, "name"),
                    _clean(line.bank_account, "bank_account"),
                    format_amount(line.amount),
                    _clean(line.period, "period"),
                )
            )

    return _encode(rows(), encoding)


def write_result(header: ResultHeader, lines: Iterable[ResultLine], encoding: str = "utf-8") -> bytes:
    def rows():
        yield SEPARATOR.join(
            (
                "H",
                header.batch_no,
                header.kind,
                header.bank_code,
                header.pooling_region_code,
                f"{header.processed_on:%Y%m%d}",
                str(header.record_count),
                format_amount(header.total_amount),
                str(header.ok_count),
                format_amount(header.ok_amount),
            )
        )
        for line in lines:
            yield SEPARATOR.join(
                (
                    "D",
                    str(line.seq),
                    _clean(line.insurance_no, "insurance_no"),
                    _clean(line.id_number, "id_number"),
                    _clean(line.name, "name"),
                    _clean(line.bank_account, "bank_account"),
                    format_amount(line.amount),
                    _clean(line.period, "period"),
                    line.result_code,
                    _clean(line.result_message, "result_message"),
                    _clean(line.bank_txn_id, "bank_txn_id"),
                )
            )

    return _encode(rows(), encoding)


# --- reading -----------------------------------------------------------------------------------------------


def _fen(text: str) -> int:
    whole, _, cents = text.partition(".")
    return int(whole) * 100 + int(cents)


def yuan(fen: int) -> Decimal:
    return Decimal(fen).scaleb(-2)


def _date(text: str) -> dt.date | None:
    if not _DATE.fullmatch(text):
        return None
    try:
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def decode_lines(data: bytes, encoding: str, on_error: Callable[[FileError], None]) -> list[str] | None:
    """The file's lines, without line ends; None (with errors) when it is empty or not in the encoding.

    Accepts LF or CRLF, a UTF-8 byte-order mark and one empty last line.
    """
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM) :]
    if not data.strip():
        on_error(FileError(0, "file", "文件为空。"))
        return None
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        # Say which lines: each line decoded alone (every one counted, the first MAX_ERRORS listed).
        for number, raw in enumerate(data.split(b"\n"), start=1):
            try:
                raw.decode(encoding)
            except (UnicodeDecodeError, LookupError):
                on_error(FileError(number, "encoding", f"该行不是{encoding.upper()}编码的文本。"))
        return None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


@dataclass
class ResultCheck:
    """What ``check_result`` found: the header as read, the counts, and every error (the first MAX_ERRORS)."""

    header: ResultHeader | None = None
    errors: list[FileError] = field(default_factory=list)
    error_count: int = 0
    line_count: int = 0
    ok_count: int = 0
    ok_fen: int = 0
    total_fen: int = 0
    # The file's lines as read (without line ends), and the numbers of the D lines right in every field's form:
    # the caller loads those as they are (and compares them with the issued lines) even when others are wrong.
    lines: list[str] = field(default_factory=list)
    well_formed: list[int] = field(default_factory=list)

    def add(self, line: int, field_name: str, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(FileError(line, field_name, message))

    @property
    def ok(self) -> bool:
        return self.error_count == 0


# The row handed to ``on_row``: line number, then the result line's fields as text (seq as int, amount in fen).
ResultRow = tuple[int, int, str, str, str, str, int, str, str, str, str]


def check_result(
    data: bytes,
    *,
    encoding: str,
    expected: IssuedHeader,
    on_row: Callable[[ResultRow], None] | None = None,
) -> ResultCheck:
    """Check a result file against the issued batch's header; every row that is well formed goes to ``on_row``."""
    check = ResultCheck()
    lines = decode_lines(data, encoding, lambda error: check.add(error.line, error.field, error.message))
    if lines is None:
        return check
    check.lines = lines

    header_fields = lines[0].split(SEPARATOR)
    _check_result_header(check, header_fields, expected)

    count = expected.record_count
    seen = bytearray(count + 1)
    txn_ids: set[str] = set()
    period_form = _PERIOD.get(expected.kind, _PERIOD["DEDUCT"])
    width = len(RESULT_LINE_FIELDS)
    well_formed = _WELL_FORMED_LINE[expected.kind if expected.kind in _WELL_FORMED_LINE else "DEDUCT"]
    for number in range(2, len(lines) + 1):
        text = lines[number - 1]
        # The common case first, in one regular expression: a line that is right in every field's form.
        match = well_formed.fullmatch(text)
        if match is not None:
            seq_text, insurance_no, id_number, name, bank_account, amount_text, period, code, message, txn = (
                match.groups()
            )
            seq = int(seq_text)
            fen = int(amount_text.replace(".", ""))
            if (
                seq <= count
                and not seen[seq]
                and fen
                and (txn and txn not in txn_ids if code == OK else code != "9999" or message)
            ):
                seen[seq] = 1
                check.line_count += 1
                check.total_fen += fen
                if code == OK:
                    txn_ids.add(txn)
                    check.ok_count += 1
                    check.ok_fen += fen
                check.well_formed.append(number)
                if on_row is not None:
                    on_row((number, seq, insurance_no, id_number, name, bank_account, fen, period, code, message, txn))
                continue
        # Otherwise field by field, saying what is wrong with each.
        parts = text.split(SEPARATOR)
        if len(parts) != width or parts[0] != "D":
            if not text:
                check.add(number, "record_type", "空行：文件中间不能有空行。")
            elif parts[0] == "H":
                check.add(number, "record_type", "文件只能有一个表头（H）行，且必须在第一行。")
            elif parts[0] != "D":
                check.add(number, "record_type", f"明细行必须以 D 开头，实为“{parts[0][:10]}”。")
            else:
                check.add(number, "record_type", f"明细行应有{width}个字段，实有{len(parts)}个。")
            continue
        check.line_count += 1
        _, seq_text, insurance_no, id_number, name, bank_account, amount_text, period, code, message, txn = parts
        good = True
        seq = 0
        if not _COUNT.fullmatch(seq_text) or not 1 <= int(seq_text) <= count:
            check.add(number, "seq", f"序号“{seq_text[:12]}”不是 1 至 {count} 之间的整数。")
            good = False
        else:
            seq = int(seq_text)
            if seen[seq]:
                check.add(number, "seq", f"序号 {seq} 重复出现。")
                good = False
            seen[seq] = 1
        fen = 0
        if not _AMOUNT.fullmatch(amount_text) or (fen := _fen(amount_text)) == 0:
            check.add(
                number, "amount", f"金额“{amount_text[:20]}”格式不对：应为大于零、恰好两位小数、无符号无千分位的数。"
            )
            good = False
        if not _ID_NUMBER.fullmatch(id_number):
            check.add(number, "id_number", "身份证号应为18位，末位为数字或大写X。")
            good = False
        if not period_form.fullmatch(period):
            form = "YYYY" if expected.kind == "DEDUCT" else "YYYYMM"
            check.add(number, "period", f"期间“{period[:10]}”应为{form}。")
            good = False
        if code not in RESULT_CODES:
            check.add(
                number, "result_code", f"处理结果代码“{code[:10]}”无效，只能是 {'、'.join(sorted(RESULT_CODES))}。"
            )
            good = False
        elif code == OK:
            if not txn:
                check.add(number, "bank_txn_id", "成功（0000）的记录必须有银行流水号。")
                good = False
            elif txn in txn_ids:
                check.add(number, "bank_txn_id", f"银行流水号“{txn}”重复。")
                good = False
            txn_ids.add(txn)
        elif code == "9999" and not message:
            check.add(number, "result_message", "其他失败（9999）必须说明原因。")
            good = False
        if len(txn) > 64:
            check.add(number, "bank_txn_id", "银行流水号最多64位。")
            good = False
        if len(message) > 200:
            check.add(number, "result_message", "结果说明最多200字。")
            good = False
        for field_name, value in (
            ("insurance_no", insurance_no),
            ("name", name),
            ("bank_account", bank_account),
            ("result_message", message),
            ("bank_txn_id", txn),
        ):
            if _CONTROL.search(value):
                check.add(number, field_name, "字段中含有控制字符（如制表符），请去掉后重新生成文件。")
                good = False
        check.total_fen += fen
        if code == OK:
            check.ok_count += 1
            check.ok_fen += fen
        if good:
            check.well_formed.append(number)
            if on_row is not None:
                on_row((number, seq, insurance_no, id_number, name, bank_account, fen, period, code, message, txn))

    missing = [seq for seq in range(1, count + 1) if not seen[seq]]
    for seq in missing[:MAX_ERRORS]:
        check.add(0, "seq", f"缺少序号 {seq} 的回盘记录。")
    check.error_count += max(0, len(missing) - MAX_ERRORS)
    _check_result_sums(check)
    return check


def _check_result_header(check: ResultCheck, parts: list[str], expected: IssuedHeader) -> None:
    if parts[0] != "H" or len(parts) != len(RESULT_HEADER_FIELDS):
        check.add(1, "record_type", f"第一行应为表头：H 开头，{len(RESULT_HEADER_FIELDS)}个字段。")
        return
    _, batch_no, kind, bank_code, region_code, processed, records, total, ok_count, ok_amount = parts
    for name, got, want in (
        ("batch_no", batch_no, expected.batch_no),
        ("kind", kind, expected.kind),
        ("bank_code", bank_code, expected.bank_code),
        ("pooling_region_code", region_code, expected.pooling_region_code),
    ):
        if got != want:
            check.add(1, name, f"表头{name}为“{got[:30]}”，与下发批次的“{want}”不符。")
    processed_on = _date(processed)
    if processed_on is None:
        check.add(1, "processed_on", f"处理日期“{processed[:10]}”不是有效的YYYYMMDD日期。")
    elif processed_on < expected.issued_on:
        check.add(1, "processed_on", f"处理日期{processed}早于批次下发日期{expected.issued_on:%Y%m%d}。")
    numbers = {}
    for name, text, form in (
        ("record_count", records, _COUNT),
        ("total_amount", total, _AMOUNT),
        ("ok_count", ok_count, _COUNT),
        ("ok_amount", ok_amount, _AMOUNT),
    ):
        if not form.fullmatch(text):
            check.add(1, name, f"表头{name}“{text[:20]}”格式不对。")
        else:
            numbers[name] = int(text) if form is _COUNT else _fen(text)
    if "record_count" in numbers and numbers["record_count"] != expected.record_count:
        check.add(1, "record_count", f"表头笔数{numbers['record_count']}与下发的{expected.record_count}笔不符。")
    expected_fen = int(expected.total_amount * 100)
    if "total_amount" in numbers and numbers["total_amount"] != expected_fen:
        check.add(1, "total_amount", f"表头金额{total}与下发的{format_amount(expected.total_amount)}不符。")
    if processed_on is not None and len(numbers) == 4:
        check.header = ResultHeader(
            batch_no=batch_no,
            kind=kind,
            bank_code=bank_code,
            pooling_region_code=region_code,
            processed_on=processed_on,
            record_count=numbers["record_count"],
            total_amount=yuan(numbers["total_amount"]),
            ok_count=numbers["ok_count"],
            ok_amount=yuan(numbers["ok_amount"]),
        )


def _check_result_sums(check: ResultCheck) -> None:
    header = check.header
    if header is None:
        return
    if check.line_count != header.record_count:
        check.add(1, "record_count", f"表头笔数{header.record_count}与明细行数{check.line_count}不符。")
    if check.total_fen != int(header.total_amount * 100):
        check.add(
            1,
            "total_amount",
            f"表头金额{format_amount(header.total_amount)}与明细合计{format_amount(yuan(check.total_fen))}不符。",
        )
    if check.ok_count != header.ok_count:
        check.add(1, "ok_count", f"表头成功笔数{header.ok_count}与成功（0000）明细{check.ok_count}笔不符。")
    if check.ok_fen != int(header.ok_amount * 100):
        check.add(
            1,
            "ok_amount",
            f"表头成功金额{format_amount(header.ok_amount)}与成功明细合计{format_amount(yuan(check.ok_fen))}不符。",
        )


def parse_issued(data: bytes, encoding: str = "utf-8") -> tuple[IssuedHeader, list[IssuedLine]]:
    """Read an issued file back (what a bank does). Raises ``BankFileError`` listing every problem."""
    errors: list[FileError] = []
    lines = decode_lines(data, encoding, errors.append)
    if lines is None:
        raise BankFileError(errors)
    head = lines[0].split(SEPARATOR)
    header = None
    if len(head) != len(ISSUED_HEADER_FIELDS) or head[0] != "H":
        errors.append(FileError(1, "record_type", "第一行应为表头。"))
    else:
        _, batch_no, kind, bank_code, region_code, issued, records, total = head
        issued_on = _date(issued)
        if not _BATCH_NO.fullmatch(batch_no):
            errors.append(FileError(1, "batch_no", "批次号格式不对。"))
        if kind not in KIND_LETTER:
            errors.append(FileError(1, "kind", "批次类型应为DEDUCT或PAYOUT。"))
        if issued_on is None:
            errors.append(FileError(1, "issued_on", "下发日期不是有效的YYYYMMDD日期。"))
        if not _COUNT.fullmatch(records):
            errors.append(FileError(1, "record_count", "笔数格式不对。"))
        if not _AMOUNT.fullmatch(total):
            errors.append(FileError(1, "total_amount", "金额格式不对。"))
        if not errors:
            header = IssuedHeader(batch_no, kind, bank_code, region_code, issued_on, int(records), yuan(_fen(total)))
    body: list[IssuedLine] = []
    for number, text in enumerate(lines[1:], start=2):
        parts = text.split(SEPARATOR)
        if len(parts) != len(ISSUED_LINE_FIELDS) or parts[0] != "D":
            errors.append(FileError(number, "record_type", "明细行格式不对。"))
            continue
        _, seq, insurance_no, id_number, name, bank_account, amount, period = parts
        if not _COUNT.fullmatch(seq) or not _AMOUNT.fullmatch(amount):
            errors.append(FileError(number, "seq" if not _COUNT.fullmatch(seq) else "amount", "格式不对。"))
            continue
        body.append(IssuedLine(int(seq), insurance_no, id_number, name, bank_account, yuan(_fen(amount)), period))
    if header is not None:
        if len(body) != header.record_count:
            errors.append(FileError(1, "record_count", "笔数与明细行数不符。"))
        if sum((line.amount for line in body), Decimal("0.00")) != header.total_amount:
            errors.append(FileError(1, "total_amount", "金额与明细合计不符。"))
    if errors:
        raise BankFileError(errors)
    return header, body


def parse_result(data: bytes, *, encoding: str, expected: IssuedHeader) -> tuple[ResultHeader, list[ResultLine]]:
    """The whole result file as objects (small files: tests, the bank's side). Raises ``BankFileError``."""
    rows: list[ResultLine] = []

    def keep(row: ResultRow) -> None:
        _, seq, insurance_no, id_number, name, bank_account, fen, period, code, message, txn = row
        rows.append(ResultLine(seq, insurance_no, id_number, name, bank_account, yuan(fen), period, code, message, txn))

    check = check_result(data, encoding=encoding, expected=expected, on_row=keep)
    if not check.ok:
        raise BankFileError(check.errors)
    return check.header, rows


def batch_number(*, kind: str, pooling_region_code: str, issued_on: dt.date, sequence: int) -> str:
    """24 characters: kind letter, 12-digit pooling region code, YYYYMMDD, 3-digit sequence of the day."""
    if len(pooling_region_code) != 12 or not (pooling_region_code.isascii() and pooling_region_code.isdigit()):
        raise ValueError("a pooling region code has 12 digits")
    if not 1 <= sequence <= 999:
        raise ValueError("at most 999 batches a day in one pooling region")
    return f"{KIND_LETTER[kind]}{pooling_region_code}{issued_on:%Y%m%d}{sequence:03d}"
