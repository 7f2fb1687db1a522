"""The bank's daily statement of one fund account (银行对账单), as pure functions: ``parse`` and ``write``.

A partner bank posts one statement per fund account (收入户, 支出户 or 财政专户) and day to
``POST /api/v1/bank/statements/<account_number>/<YYYYMMDD>``, the body being this file.

The format
----------
A CSV file (RFC 4180 quoting: a field holding a comma or a double quote is enclosed in double quotes) in
UTF-8, with or without a byte-order mark, or in the bank's agreed encoding (GBK) without one. Lines end
in LF or CRLF; one empty last line is allowed, an empty line elsewhere is not. A field may not hold a line
break.

The first line is the header, exactly::

    date,amount,direction,counterpart,reference,balance

Then one line per transaction on the account that day, in the order the bank booked them:

============ =====================================================================================
date         YYYY-MM-DD, the value date; every line's date is the statement's date (the URL's)
amount       a positive plain decimal with exactly two places, no sign, no thousands separator
             (``1300.00``; at most 12 digits before the point)
direction    ``C`` credit (money in) or ``D`` debit (money out)
counterpart  the other party's account name, at most 100 characters (may be empty)
reference    the business number the money carries, at most 64 characters: the batch number for a
             deduction or payout batch, the bank's transaction id for a counter payment, the
             transfer number the agency gave for a sweep (``GJ…``) or a funding transfer (``YK…``)
balance      the account's balance after the line, two places, a leading ``-`` allowed
============ =====================================================================================

The balances chain: each line's balance is the previous line's balance plus the amount (``C``) or minus
it (``D``). The statement's opening balance is the first line's balance less its movement, its closing
balance the last line's balance. A statement without lines says the account did not move that day.

Example (income account, 5 March 2026)::

    date,amount,direction,counterpart,reference,balance
    2026-03-05,1300.00,C,农业银行代扣,D320412000000202603020001,1300.00
    2026-03-05,2.50,D,"手续费,三月",FEE0305,1297.50

中文说明：对账单为CSV文件（UTF-8，可带BOM；或约定的GBK编码），首行为表头
``date,amount,direction,counterpart,reference,balance``；每行一笔交易：日期（YYYY-MM-DD，须为对账单日期）、
金额（正数、两位小数）、方向（C 收入 / D 支出）、对方户名、业务编号（批次号、银行流水号或划转编号）、
该笔后的余额（须等于上一行余额加减本笔金额）。

``parse`` reads a file and returns its lines together with every error found (line, field, message), the
first ``MAX_ERRORS`` of them and how many in all, like the batch files (``funds.bankfile``). Amounts are
``Decimal``; a float never touches money.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from funds.bankfile import MAX_ERRORS, UTF8_BOM, FileError

HEADER = ("date", "amount", "direction", "counterpart", "reference", "balance")
CREDIT = "C"
DEBIT = "D"
MAX_COUNTERPART = 100
MAX_REFERENCE = 64

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_AMOUNT = re.compile(r"(?:0|[1-9]\d{0,11})\.\d\d")
_BALANCE = re.compile(r"-?(?:0|[1-9]\d{0,11})\.\d\d")


@dataclass(frozen=True)
class Entry:
    """A transaction to write: the balance is computed from the opening balance."""

    amount: Decimal
    direction: str
    counterpart: str = ""
    reference: str = ""


@dataclass(frozen=True)
class Line:
    line_no: int  # the line of the file (the header is line 1)
    value_date: dt.date
    amount: Decimal
    direction: str
    counterpart: str
    reference: str
    balance: Decimal

    @property
    def signed_amount(self) -> Decimal:
        return self.amount if self.direction == CREDIT else -self.amount


@dataclass
class ParsedStatement:
    """What ``parse`` found: the well-formed lines and every error (the first MAX_ERRORS; ``error_count`` all)."""

    statement_date: dt.date
    lines: list[Line] = field(default_factory=list)
    errors: list[FileError] = field(default_factory=list)
    error_count: int = 0

    def add(self, line: int, field_name: str, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(FileError(line, field_name, message))

    @property
    def ok(self) -> bool:
        return self.error_count == 0

    @property
    def opening_balance(self) -> Decimal | None:
        """The balance before the first line (None for a statement without lines)."""
        if not self.lines:
            return None
        first = self.lines[0]
        return first.balance - first.signed_amount

    @property
    def closing_balance(self) -> Decimal | None:
        return self.lines[-1].balance if self.lines else None


def _money(text: str) -> Decimal:
    return Decimal(text)  # the text matched _AMOUNT or _BALANCE: two places exactly


def _text_lines(data: bytes, encoding: str, parsed: ParsedStatement) -> list[str] | None:
    if data.startswith(UTF8_BOM):
        data, encoding = data[len(UTF8_BOM) :], "utf-8"
    if not data.strip():
        parsed.add(0, "file", "文件为空：至少应有表头行。")
        return None
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        for number, raw in enumerate(data.split(b"\n"), start=1):
            try:
                raw.decode(encoding)
            except (UnicodeDecodeError, LookupError):
                parsed.add(number, "encoding", f"该行不是{encoding.upper()}编码的文本。")
        return None
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def _fields(text: str) -> list[str] | None:
    try:
        rows = list(csv.reader([text], strict=True))
    except csv.Error:
        return None
    return rows[0] if rows else []


def parse(data: bytes, *, statement_date: dt.date, encoding: str = "utf-8") -> ParsedStatement:
    """Read a statement of ``statement_date``; every error at once (see the module's description)."""
    parsed = ParsedStatement(statement_date=statement_date)
    lines = _text_lines(data, encoding, parsed)
    if lines is None:
        return parsed
    if lines[0] != ",".join(HEADER):
        parsed.add(1, "header", f"第一行应为表头“{','.join(HEADER)}”，实为“{lines[0][:80]}”。")
    previous: Decimal | None = None  # the balance after the line before, while the chain can be followed
    for number in range(2, len(lines) + 1):
        text = lines[number - 1]
        if not text.strip():
            parsed.add(number, "line", "空行：文件中间不能有空行。")
            previous = None
            continue
        parts = _fields(text)
        if parts is None:
            parsed.add(number, "line", "引号不配对，无法读取该行。")
            previous = None
            continue
        if len(parts) != len(HEADER):
            parsed.add(number, "line", f"应有{len(HEADER)}个字段，实有{len(parts)}个。")
            previous = None
            continue
        date_text, amount_text, direction, counterpart, reference, balance_text = parts
        good = True
        value_date = None
        if _DATE.fullmatch(date_text):
            try:
                value_date = dt.date.fromisoformat(date_text)
            except ValueError:
                value_date = None
        if value_date is None:
            parsed.add(number, "date", f"日期“{date_text[:20]}”不是有效的YYYY-MM-DD日期。")
            good = False
        elif value_date != statement_date:
            parsed.add(number, "date", f"日期{date_text}与对账单日期{statement_date.isoformat()}不符。")
            good = False
        amount = None
        if not _AMOUNT.fullmatch(amount_text) or (amount := _money(amount_text)) == 0:
            parsed.add(
                number, "amount", f"金额“{amount_text[:20]}”格式不对：应为大于零、恰好两位小数、无符号无千分位的数。"
            )
            amount = None
            good = False
        if direction not in (CREDIT, DEBIT):
            parsed.add(number, "direction", f"方向“{direction[:10]}”无效：收入为C，支出为D。")
            good = False
        if len(counterpart) > MAX_COUNTERPART:
            parsed.add(number, "counterpart", f"对方户名最多{MAX_COUNTERPART}个字符。")
            good = False
        if len(reference) > MAX_REFERENCE:
            parsed.add(number, "reference", f"业务编号最多{MAX_REFERENCE}个字符。")
            good = False
        balance = None
        if not _BALANCE.fullmatch(balance_text):
            parsed.add(number, "balance", f"余额“{balance_text[:20]}”格式不对：应为恰好两位小数的数。")
            good = False
        else:
            balance = _money(balance_text)
            if previous is not None and amount is not None and direction in (CREDIT, DEBIT):
                expected = previous + amount if direction == CREDIT else previous - amount
                if balance != expected:
                    sign = "+" if direction == CREDIT else "−"
                    parsed.add(
                        number,
                        "balance",
                        f"余额{balance_text}与上一行余额{previous}{sign}本笔金额{amount}={expected}不符。",
                    )
                    good = False
        previous = balance
        if good:
            parsed.lines.append(
                Line(number, value_date, amount, direction, counterpart.strip(), reference.strip(), balance)
            )
    return parsed


def write(
    *,
    statement_date: dt.date,
    opening_balance: Decimal,
    entries: Iterable[Entry],
    encoding: str = "utf-8",
    bom: bool = False,
) -> bytes:
    """The statement file of ``entries`` (each line's balance computed from ``opening_balance``); LF line ends."""
    if not isinstance(opening_balance, Decimal):
        raise TypeError("balances are Decimal")
    if bom and encoding.lower().replace("_", "-") not in ("utf-8", "utf8"):
        raise ValueError("a byte-order mark is for UTF-8 only")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    balance = opening_balance
    for entry in entries:
        if not isinstance(entry.amount, Decimal) or entry.amount <= 0:
            raise ValueError(f"an amount is a positive Decimal: {entry.amount!r}")
        if entry.direction not in (CREDIT, DEBIT):
            raise ValueError(f"direction is C or D: {entry.direction!r}")
        for text in (entry.counterpart, entry.reference):
            if "\n" in text or "\r" in text:
                raise ValueError(f"a field may not hold a line break: {text!r}")
        balance += entry.amount if entry.direction == CREDIT else -entry.amount
        writer.writerow(
            (
                statement_date.isoformat(),
                f"{entry.amount.quantize(Decimal('0.01')):f}",
                entry.direction,
                entry.counterpart,
                entry.reference,
                f"{balance.quantize(Decimal('0.01')):f}",
            )
        )
    data = buffer.getvalue().encode(encoding)
    return UTF8_BOM + data if bom else data


__all__ = ["CREDIT", "DEBIT", "HEADER", "Entry", "Line", "ParsedStatement", "parse", "write"]
