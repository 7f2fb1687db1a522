"""The bank statement codec: written and read back, and every bad input reported with its line and field."""

import datetime as dt
from decimal import Decimal

from funds import statementfile
from funds.statementfile import CREDIT, DEBIT, Entry, parse, write

DAY = dt.date(2026, 3, 5)
HEADER = "date,amount,direction,counterpart,reference,balance\n"


def errors_of(text: str, *, day=DAY, encoding="utf-8") -> list[tuple[int, str]]:
    parsed = parse(text.encode(encoding), statement_date=day, encoding=encoding)
    return [(e.line, e.field) for e in parsed.errors]


def test_a_written_statement_reads_back_with_its_balances():
    # given an income account holding 100.00, then 1300.00 in and a 2.50 fee out
    data = write(
        statement_date=DAY,
        opening_balance=Decimal("100.00"),
        entries=[
            Entry(Decimal("1300.00"), CREDIT, "农业银行代扣", "D320412000000202603020001"),
            Entry(Decimal("2.50"), DEBIT, "手续费,三月", "FEE0305"),
        ],
    )
    # then the file is the documented CSV (the comma in the counterpart quoted)
    assert data.decode() == (
        HEADER + "2026-03-05,1300.00,C,农业银行代扣,D320412000000202603020001,1400.00\n"
        '2026-03-05,2.50,D,"手续费,三月",FEE0305,1397.50\n'
    )
    # when it is read back
    parsed = parse(data, statement_date=DAY)
    # then 100.00 + 1300.00 − 2.50 = 1397.50, every field as written
    assert parsed.ok and parsed.errors == []
    assert (parsed.opening_balance, parsed.closing_balance) == (Decimal("100.00"), Decimal("1397.50"))
    first, second = parsed.lines
    assert (first.line_no, first.value_date, first.amount, first.direction, first.signed_amount) == (
        2,
        DAY,
        Decimal("1300.00"),
        "C",
        Decimal("1300.00"),
    )
    assert (second.counterpart, second.reference, second.signed_amount, second.balance) == (
        "手续费,三月",
        "FEE0305",
        Decimal("-2.50"),
        Decimal("1397.50"),
    )


def test_a_bom_crlf_and_gbk_are_read():
    text = HEADER + "2026-03-05,50.00,C,财政局,CZ001,50.00\n"
    with_bom = parse(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode(), statement_date=DAY)
    assert with_bom.ok and with_bom.lines[0].counterpart == "财政局"
    # a BOM says UTF-8 even where the bank's agreed encoding is GBK
    assert parse(b"\xef\xbb\xbf" + text.encode(), statement_date=DAY, encoding="gbk").ok
    in_gbk = parse(text.encode("gbk"), statement_date=DAY, encoding="gbk")
    assert in_gbk.ok and in_gbk.lines[0].counterpart == "财政局"
    assert write(statement_date=DAY, opening_balance=Decimal("0.00"), entries=[], bom=True) == (
        b"\xef\xbb\xbf" + HEADER.encode()
    )


def test_a_statement_without_lines_has_no_balance_of_its_own():
    parsed = parse(HEADER.encode(), statement_date=DAY)
    assert parsed.ok and parsed.lines == []
    assert (parsed.opening_balance, parsed.closing_balance) == (None, None)


def test_every_bad_field_is_reported_with_its_line_and_field_at_once():
    text = (
        HEADER
        + "2026-03-05,100.00,C,甲,R1,100.00\n"  # 2: good
        + "2026-03-06,10.00,C,乙,R2,110.00\n"  # 3: another day
        + "2026-02-30,10.00,C,乙,R3,120.00\n"  # 4: no such day
        + "05/03/2026,10.00,C,乙,R4,130.00\n"  # 5: not YYYY-MM-DD
        + "2026-03-05,10,C,乙,R5,140.00\n"  # 6: no places
        + "2026-03-05,-10.00,D,乙,R6,130.00\n"  # 7: a sign
        + "2026-03-05,0.00,C,乙,R7,130.00\n"  # 8: zero
        + "2026-03-05,1,000.00,C,乙,R8,1130.00\n"  # 9: a thousands separator makes seven fields
        + "2026-03-05,10.00,X,乙,R9,140.00\n"  # 10: direction
        + "2026-03-05,10.00,C,乙,R10,150.0\n"  # 11: balance with one place
        + "2026-03-05,10.00,C,乙,R11,999.00\n"  # 12: balance does not chain (150.0 unread: not checked)
        + "2026-03-05,10.00,D,乙,R12,999.00\n"  # 13: 999.00 − 10.00 is 989.00
        + f"2026-03-05,10.00,C,{'长' * 101},R13,999.00\n"  # 14: counterpart too long (and the chain)
        + f"2026-03-05,10.00,C,乙,{'R' * 65},1009.00\n"  # 15: reference too long
        + "\n"  # 16: an empty line inside
        + '2026-03-05,10.00,C,"乙,R14,1019.00\n'  # 17: an open quote
    )
    found = errors_of(text)
    assert found == [
        (3, "date"),
        (4, "date"),
        (5, "date"),
        (6, "amount"),
        (7, "amount"),
        (8, "amount"),
        (9, "line"),
        (10, "direction"),
        (11, "balance"),
        (13, "balance"),
        (14, "counterpart"),
        (14, "balance"),
        (15, "reference"),
        (16, "line"),
        (17, "line"),
    ]
    parsed = parse(text.encode(), statement_date=DAY)
    assert parsed.error_count == len(found)
    messages = {(e.line, e.field): e.message for e in parsed.errors}
    assert messages[(3, "date")] == "日期2026-03-06与对账单日期2026-03-05不符。"
    assert messages[(13, "balance")] == "余额999.00与上一行余额999.00−本笔金额10.00=989.00不符。"
    assert "两位小数" in messages[(6, "amount")]
    assert "C" in messages[(10, "direction")] and "D" in messages[(10, "direction")]
    # the lines kept are the good ones only
    assert [line.line_no for line in parsed.lines] == [2, 12]


def test_the_header_must_be_exact():
    assert errors_of("date,amount,direction,counterpart,reference\n") == [(1, "header")]
    assert errors_of("Date,Amount,Direction,Counterpart,Reference,Balance\n") == [(1, "header")]
    # the lines after a wrong header are still checked
    assert errors_of("日期,金额\n2026-03-05,1.00,C,,,1.00\n2026-03-05,1.00,C,,,5.00\n") == [
        (1, "header"),
        (3, "balance"),
    ]


def test_an_empty_file_and_a_wrong_encoding():
    assert [(e.line, e.field) for e in parse(b"", statement_date=DAY).errors] == [(0, "file")]
    assert [(e.line, e.field) for e in parse(b" \n", statement_date=DAY).errors] == [(0, "file")]
    gbk_line = "2026-03-05,1.00,C,财政局,,1.00\n".encode("gbk")
    parsed = parse(HEADER.encode() + gbk_line, statement_date=DAY, encoding="utf-8")
    assert [(e.line, e.field) for e in parsed.errors] == [(2, "encoding")]
    assert not parsed.ok and parsed.lines == []


def test_errors_stop_listing_at_the_maximum_but_are_all_counted(monkeypatch):
    monkeypatch.setattr(statementfile, "MAX_ERRORS", 3)
    text = HEADER + "".join(f"2026-03-05,1.00,X,,R{i},{i}.00\n" for i in range(1, 6))
    parsed = parse(text.encode(), statement_date=DAY)
    assert len(parsed.errors) == 3 and parsed.error_count == 5
