"""The bank batch file codec (``funds/bankfile.py``) as pure functions: round trips, every refusal, the helpers.

The contract is ``/work/shared/specs/bank-batch-file.md``. No database: every test here writes and reads bytes.
Money is hand-written: the reference result file is 300.00 + 500.00 + 1000.00 = 1800.00, of which the first two
are done (0000, 800.00) and the third failed for insufficient funds (1001).
"""

import dataclasses
import datetime as dt
import string
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from funds.bankfile import (
    MAX_ERRORS,
    RESULT_CODES,
    RESULT_HEADER_FIELDS,
    RESULT_LINE_FIELDS,
    UTF8_BOM,
    BankFileError,
    IssuedHeader,
    IssuedLine,
    ResultHeader,
    ResultLine,
    batch_number,
    check_result,
    format_amount,
    parse_issued,
    parse_result,
    write_issued,
    write_result,
)

D = Decimal

# --- the reference batch, by hand ----------------------------------------------------------------------------

EXPECTED = IssuedHeader(
    batch_no="D32040000000020160105001",
    kind="DEDUCT",
    bank_code="CCB",
    pooling_region_code="320400000000",
    issued_on=dt.date(2016, 1, 5),
    record_count=3,
    total_amount=D("1800.00"),
)
ISSUED_LINES = [
    IssuedLine(1, "INS001", "320402198001010011", "张三", "6222000000000001", D("300.00"), "2016"),
    IssuedLine(2, "INS002", "32040219800101002X", "李四", "6222000000000002", D("500.00"), "2016"),
    IssuedLine(3, "INS003", "320402198001010038", "王五", "6222000000000003", D("1000.00"), "2016"),
]
ISSUED_TEXT = (
    "H|D32040000000020160105001|DEDUCT|CCB|320400000000|20160105|3|1800.00\n"
    "D|1|INS001|320402198001010011|张三|6222000000000001|300.00|2016\n"
    "D|2|INS002|32040219800101002X|李四|6222000000000002|500.00|2016\n"
    "D|3|INS003|320402198001010038|王五|6222000000000003|1000.00|2016\n"
)

HEADER = "H|D32040000000020160105001|DEDUCT|CCB|320400000000|20160106|3|1800.00|2|800.00"
LINE_1 = "D|1|INS001|320402198001010011|张三|6222000000000001|300.00|2016|0000||TXN001"  # file line 2
LINE_2 = "D|2|INS002|32040219800101002X|李四|6222000000000002|500.00|2016|0000||TXN002"  # file line 3
LINE_3 = "D|3|INS003|320402198001010038|王五|6222000000000003|1000.00|2016|1001|余额不足|"  # file line 4
BODY = (LINE_1, LINE_2, LINE_3)
RESULT_HEADER = ResultHeader(
    batch_no="D32040000000020160105001",
    kind="DEDUCT",
    bank_code="CCB",
    pooling_region_code="320400000000",
    processed_on=dt.date(2016, 1, 6),
    record_count=3,
    total_amount=D("1800.00"),
    ok_count=2,
    ok_amount=D("800.00"),
)


def result_file(*lines: str, encoding: str = "utf-8") -> bytes:
    """The given lines (by default the reference file), each ended by LF, in the encoding."""
    return "".join(f"{line}\n" for line in (lines or (HEADER, *BODY))).encode(encoding)


def _with(line: str, names: tuple[str, ...], changes: dict[str, str]) -> str:
    parts = line.split("|")
    for name, value in changes.items():
        parts[names.index(name)] = value
    return "|".join(parts)


def header_with(**changes: str) -> str:
    return _with(HEADER, RESULT_HEADER_FIELDS, changes)


def line_with(line: str, **changes: str) -> str:
    return _with(line, RESULT_LINE_FIELDS, changes)


def problems(data: bytes, expected: IssuedHeader = EXPECTED, encoding: str = "utf-8") -> list[tuple[int, str]]:
    """Every (line, field) that check_result reports, sorted; also checks the count agrees with the list."""
    check = check_result(data, encoding=encoding, expected=expected)
    assert check.error_count == len(check.errors)
    assert check.ok == (not check.errors)
    return sorted((error.line, error.field) for error in check.errors)


def rows_of(data: bytes, expected: IssuedHeader = EXPECTED, encoding: str = "utf-8") -> list[tuple]:
    rows: list[tuple] = []
    check_result(data, encoding=encoding, expected=expected, on_row=rows.append)
    return rows


# --- the reference files -------------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "gbk"])
def test_the_issued_file_is_written_exactly_as_the_spec_shows(encoding):
    assert write_issued(EXPECTED, ISSUED_LINES, encoding) == ISSUED_TEXT.encode(encoding)
    assert parse_issued(ISSUED_TEXT.encode(encoding), encoding) == (EXPECTED, ISSUED_LINES)


@pytest.mark.parametrize("encoding", ["utf-8", "gbk"])
def test_the_reference_result_file_is_clean(encoding):
    check = check_result(result_file(encoding=encoding), encoding=encoding, expected=EXPECTED)
    assert check.ok and check.errors == [] and check.error_count == 0
    assert check.header == RESULT_HEADER
    assert (check.line_count, check.total_fen, check.ok_count, check.ok_fen) == (3, 180000, 2, 80000)


def test_on_row_gets_every_well_formed_row_with_seq_as_int_and_amount_in_fen():
    rows = rows_of(result_file())
    assert rows == [
        (2, 1, "INS001", "320402198001010011", "张三", "6222000000000001", 30000, "2016", "0000", "", "TXN001"),
        (3, 2, "INS002", "32040219800101002X", "李四", "6222000000000002", 50000, "2016", "0000", "", "TXN002"),
        (4, 3, "INS003", "320402198001010038", "王五", "6222000000000003", 100000, "2016", "1001", "余额不足", ""),
    ]
    assert all(type(row[1]) is int and type(row[6]) is int for row in rows)


def test_on_row_gets_only_the_well_formed_rows():
    data = result_file(
        HEADER,
        line_with(LINE_1, amount="300.0"),
        "D|2|too|few|fields",
        LINE_2,  # well formed
        line_with(LINE_3, seq="9"),
        LINE_3,  # well formed
        line_with(LINE_1, seq="", result_code="7777"),
    )
    assert [(row[0], row[1], row[6]) for row in rows_of(data)] == [(4, 2, 50000), (6, 3, 100000)]


def test_a_repeated_seq_is_handed_on_only_the_first_time():
    data = result_file(HEADER, LINE_1, line_with(LINE_2, seq="1"), LINE_3)
    assert [(row[0], row[1]) for row in rows_of(data)] == [(2, 1), (4, 3)]


def test_parse_result_gives_the_lines_back_as_objects():
    header, lines = parse_result(result_file(), encoding="utf-8", expected=EXPECTED)
    assert header.ok_amount == D("800.00") and header.processed_on == dt.date(2016, 1, 6)
    assert lines[2] == ResultLine(
        3, "INS003", "320402198001010038", "王五", "6222000000000003", D("1000.00"), "2016", "1001", "余额不足", ""
    )
    assert [str(line.amount) for line in lines] == ["300.00", "500.00", "1000.00"]


# --- files that are fine -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "lines",
    [
        pytest.param((header_with(processed_on="20160105"), *BODY), id="processed-on-the-issue-day"),
        pytest.param((HEADER, LINE_3, LINE_1, LINE_2), id="lines-in-another-order"),
        pytest.param((HEADER, LINE_1, LINE_2, line_with(LINE_3, result_code="9999", result_message="账户异常")), id="9999-with-message"),
        pytest.param((HEADER, LINE_1, LINE_2, line_with(LINE_3, bank_txn_id="TXN001")), id="failed-line-repeats-a-txn-id"),
        pytest.param((HEADER, LINE_1, LINE_2, line_with(LINE_3, result_code="1002", result_message="")), id="1002-without-message"),
        pytest.param((HEADER, LINE_1, LINE_2, line_with(LINE_3, result_code="1003")), id="1003"),
        pytest.param((HEADER, LINE_1, LINE_2, line_with(LINE_3, result_code="1004")), id="1004"),
        pytest.param((HEADER, LINE_1, LINE_2, line_with(LINE_3, bank_txn_id="B" * 64)), id="txn-id-of-64"),
        pytest.param((HEADER, LINE_1, LINE_2, line_with(LINE_3, result_message="因" * 200)), id="message-of-200"),
    ],
)  # fmt: skip
def test_files_that_pass(lines):
    assert problems(result_file(*lines)) == []


def test_a_payout_file_with_month_periods_passes():
    expected = dataclasses.replace(EXPECTED, batch_no="P32040000000020160105001", kind="PAYOUT")
    header = header_with(batch_no="P32040000000020160105001", kind="PAYOUT")
    body = (line_with(LINE_1, period="201601"), line_with(LINE_2, period="201612"), line_with(LINE_3, period="201610"))
    assert problems(result_file(header, *body), expected) == []


# --- every refusal, with its line and field ------------------------------------------------------------------

SEQ = (0, "seq")  # a missing seq belongs to the file as a whole
SUMS_OFF = [(1, "total_amount")]  # a line whose amount is refused adds nothing to the sum


@pytest.mark.parametrize(
    ("lines", "expected_problems"),
    [
        # the header
        pytest.param(BODY, [SEQ, (1, "record_type")], id="no-header-line"),
        pytest.param((header_with(record_type="X"), *BODY), [(1, "record_type")], id="header-not-H"),
        pytest.param((HEADER.rsplit("|", 1)[0], *BODY), [(1, "record_type")], id="header-9-fields"),
        pytest.param((HEADER + "|", *BODY), [(1, "record_type")], id="header-11-fields"),
        pytest.param((header_with(batch_no="D32040000000020160105002"), *BODY), [(1, "batch_no")], id="other-batch-no"),
        pytest.param((header_with(kind="PAYOUT"), *BODY), [(1, "kind")], id="other-kind"),
        pytest.param((header_with(bank_code="ICBC"), *BODY), [(1, "bank_code")], id="other-bank"),
        pytest.param((header_with(pooling_region_code="320500000000"), *BODY), [(1, "pooling_region_code")], id="other-region"),
        pytest.param((header_with(processed_on="20160230"), *BODY), [(1, "processed_on")], id="processed-no-such-day"),
        pytest.param((header_with(processed_on="2016-01-06"), *BODY), [(1, "processed_on")], id="processed-with-dashes"),
        pytest.param((header_with(processed_on="2016016"), *BODY), [(1, "processed_on")], id="processed-7-digits"),
        pytest.param((header_with(processed_on=""), *BODY), [(1, "processed_on")], id="processed-empty"),
        pytest.param((header_with(processed_on="20160104"), *BODY), [(1, "processed_on")], id="processed-before-issue"),
        pytest.param((header_with(record_count="03"), *BODY), [(1, "record_count")], id="header-count-bad-form"),
        pytest.param((header_with(total_amount="1,800.00"), *BODY), [(1, "total_amount")], id="header-total-bad-form"),
        pytest.param((header_with(ok_count="two"), *BODY), [(1, "ok_count")], id="header-ok-count-bad-form"),
        pytest.param((header_with(ok_amount="800"), *BODY), [(1, "ok_amount")], id="header-ok-amount-bad-form"),
        # the header against the issued batch and against the D lines
        pytest.param((header_with(record_count="4"), *BODY), [(1, "record_count")] * 2, id="header-count-not-issued-nor-lines"),
        pytest.param((header_with(total_amount="1900.00"), *BODY), [(1, "total_amount")] * 2, id="header-total-not-issued-nor-lines"),
        pytest.param((header_with(ok_count="3"), *BODY), [(1, "ok_count")], id="ok-count-not-lines"),
        pytest.param((header_with(ok_amount="900.00"), *BODY), [(1, "ok_amount")], id="ok-amount-not-lines"),
        pytest.param((HEADER, LINE_1, LINE_2, line_with(LINE_3, amount="900.00")), [(1, "total_amount")], id="lines-sum-not-header"),
        pytest.param((HEADER, line_with(LINE_1, result_code="1001"), LINE_2, LINE_3), [(1, "ok_amount"), (1, "ok_count")], id="fewer-done-than-header"),
        pytest.param((HEADER, LINE_1, LINE_2, line_with(LINE_3, result_code="0000", bank_txn_id="TXN003")), [(1, "ok_amount"), (1, "ok_count")], id="more-done-than-header"),
        # seq coverage
        pytest.param((HEADER, LINE_1, LINE_2), [SEQ, (1, "record_count"), (1, "total_amount")], id="seq-3-missing"),
        pytest.param((HEADER, LINE_1, LINE_2, line_with(LINE_3, seq="2")), [SEQ, (4, "seq")], id="seq-2-repeated"),
        pytest.param((HEADER, LINE_1, LINE_2, line_with(LINE_3, seq="4")), [SEQ, (4, "seq")], id="seq-above-count"),
        pytest.param((HEADER, LINE_1, LINE_2, line_with(LINE_3, seq="0")), [SEQ, (4, "seq")], id="seq-zero"),
        pytest.param((HEADER, LINE_1, LINE_2, line_with(LINE_3, seq="-3")), [SEQ, (4, "seq")], id="seq-negative"),
        pytest.param((HEADER, LINE_1, LINE_2, line_with(LINE_3, seq="03")), [SEQ, (4, "seq")], id="seq-leading-zero"),
        pytest.param((HEADER, LINE_1, LINE_2, line_with(LINE_3, seq="3.0")), [SEQ, (4, "seq")], id="seq-decimal"),
        pytest.param((HEADER, LINE_1, LINE_2, line_with(LINE_3, seq="three")), [SEQ, (4, "seq")], id="seq-word"),
        pytest.param((HEADER, LINE_1, LINE_2, line_with(LINE_3, seq="")), [SEQ, (4, "seq")], id="seq-empty"),
        pytest.param((HEADER, LINE_1, LINE_2, line_with(LINE_3, seq=" 3")), [SEQ, (4, "seq")], id="seq-with-space"),
        # the shape of the lines
        pytest.param((HEADER, LINE_1, LINE_2, LINE_3.rsplit("|", 1)[0]), [SEQ, (1, "record_count"), (1, "total_amount"), (4, "record_type")], id="D-line-10-fields"),
        pytest.param((HEADER, LINE_1, LINE_2, LINE_3 + "|"), [SEQ, (1, "record_count"), (1, "total_amount"), (4, "record_type")], id="D-line-12-fields"),
        pytest.param((HEADER, LINE_1, LINE_2, line_with(LINE_3, record_type="X")), [SEQ, (1, "record_count"), (1, "total_amount"), (4, "record_type")], id="line-not-D"),
        pytest.param((HEADER, LINE_1, "", LINE_2, LINE_3), [(3, "record_type")], id="empty-line-in-the-middle"),
        pytest.param((HEADER, LINE_1, " ", LINE_2, LINE_3), [(3, "record_type")], id="blank-line-in-the-middle"),
        pytest.param((HEADER, LINE_1, HEADER, LINE_2, LINE_3), [(3, "record_type")], id="second-H-in-the-middle"),
        pytest.param((HEADER, *BODY, HEADER), [(5, "record_type")], id="second-H-at-the-end"),
        # result codes
        pytest.param((HEADER, LINE_1, LINE_2, line_with(LINE_3, result_code="1005")), [(4, "result_code")], id="code-1005"),
        pytest.param((HEADER, LINE_1, LINE_2, line_with(LINE_3, result_code="000")), [(4, "result_code")], id="code-000"),
        pytest.param((HEADER, LINE_1, LINE_2, line_with(LINE_3, result_code="")), [(4, "result_code")], id="code-empty"),
        pytest.param((HEADER, LINE_1, LINE_2, line_with(LINE_3, result_code="OK")), [(4, "result_code")], id="code-OK"),
        # amounts
        pytest.param((HEADER, LINE_1, LINE_2, line_with(LINE_3, amount="1000.000")), [*SUMS_OFF, (4, "amount")], id="amount-three-places"),
        pytest.param((HEADER, LINE_1, LINE_2, line_with(LINE_3, amount="1,000.00")), [*SUMS_OFF, (4, "amount")], id="amount-thousands-comma"),
        pytest.param((HEADER, LINE_1, LINE_2, line_with(LINE_3, amount="+1000.00")), [*SUMS_OFF, (4, "amount")], id="amount-plus-sign"),
        pytest.param((HEADER, LINE_1, LINE_2, line_with(LINE_3, amount="-1000.00")), [*SUMS_OFF, (4, "amount")], id="amount-minus-sign"),
        pytest.param((HEADER, LINE_1, LINE_2, line_with(LINE_3, amount="0.00")), [*SUMS_OFF, (4, "amount")], id="amount-zero"),
        pytest.param((HEADER, LINE_1, LINE_2, line_with(LINE_3, amount="1000.0")), [*SUMS_OFF, (4, "amount")], id="amount-one-place"),
        pytest.param((HEADER, LINE_1, LINE_2, line_with(LINE_3, amount="1000")), [*SUMS_OFF, (4, "amount")], id="amount-no-places"),
        pytest.param((HEADER, LINE_1, LINE_2, line_with(LINE_3, amount="01000.00")), [*SUMS_OFF, (4, "amount")], id="amount-leading-zero"),
        pytest.param((HEADER, LINE_1, LINE_2, line_with(LINE_3, amount="1000.00 ")), [*SUMS_OFF, (4, "amount")], id="amount-trailing-space"),
        pytest.param((HEADER, LINE_1, LINE_2, line_with(LINE_3, amount="1e3")), [*SUMS_OFF, (4, "amount")], id="amount-exponent"),
        pytest.param((HEADER, LINE_1, LINE_2, line_with(LINE_3, amount="")), [*SUMS_OFF, (4, "amount")], id="amount-empty"),
        # id numbers and periods
        pytest.param((HEADER, LINE_1, LINE_2, line_with(LINE_3, id_number="32040219800101003")), [(4, "id_number")], id="id-17-chars"),
        pytest.param((HEADER, LINE_1, LINE_2, line_with(LINE_3, id_number="3204021980010100381")), [(4, "id_number")], id="id-19-chars"),
        pytest.param((HEADER, LINE_1, LINE_2, line_with(LINE_3, id_number="32040219800101003x")), [(4, "id_number")], id="id-lower-case-x"),
        pytest.param((HEADER, LINE_1, LINE_2, line_with(LINE_3, id_number="3204021980010100X8")), [(4, "id_number")], id="id-X-not-last"),
        pytest.param((HEADER, LINE_1, LINE_2, line_with(LINE_3, id_number="32040219800101 038")), [(4, "id_number")], id="id-with-space"),
        pytest.param((HEADER, LINE_1, LINE_2, line_with(LINE_3, id_number="")), [(4, "id_number")], id="id-empty"),
        pytest.param((HEADER, LINE_1, LINE_2, line_with(LINE_3, period="201601")), [(4, "period")], id="deduct-period-a-month"),
        pytest.param((HEADER, LINE_1, LINE_2, line_with(LINE_3, period="16")), [(4, "period")], id="deduct-period-2-digits"),
        pytest.param((HEADER, LINE_1, LINE_2, line_with(LINE_3, period="")), [(4, "period")], id="deduct-period-empty"),
        # bank references and messages
        pytest.param((HEADER, line_with(LINE_1, bank_txn_id=""), LINE_2, LINE_3), [(2, "bank_txn_id")], id="done-without-txn-id"),
        pytest.param((HEADER, LINE_1, line_with(LINE_2, bank_txn_id="TXN001"), LINE_3), [(3, "bank_txn_id")], id="done-txn-id-repeated"),
        pytest.param((HEADER, line_with(LINE_1, bank_txn_id="B" * 65), LINE_2, LINE_3), [(2, "bank_txn_id")], id="txn-id-of-65"),
        pytest.param((HEADER, LINE_1, LINE_2, line_with(LINE_3, result_code="9999", result_message="")), [(4, "result_message")], id="9999-without-message"),
        pytest.param((HEADER, LINE_1, LINE_2, line_with(LINE_3, result_message="因" * 201)), [(4, "result_message")], id="message-of-201"),
    ],
)  # fmt: skip
def test_each_problem_is_reported_with_its_line_and_field(lines, expected_problems):
    assert problems(result_file(*lines)) == sorted(expected_problems)


@pytest.mark.parametrize("period", ["2016", "201613", "201600", "2016-01", "20161", "2016010"])
def test_a_payout_period_is_a_month(period):
    expected = dataclasses.replace(EXPECTED, batch_no="P32040000000020160105001", kind="PAYOUT")
    header = header_with(batch_no="P32040000000020160105001", kind="PAYOUT")
    body = (line_with(LINE_1, period="201601"), line_with(LINE_2, period="201601"), line_with(LINE_3, period=period))
    assert problems(result_file(header, *body), expected) == [(4, "period")]


def test_the_header_is_checked_against_the_issued_batch_not_only_itself():
    # The file adds up by itself; the agency issued another count or another total.
    assert problems(result_file(), dataclasses.replace(EXPECTED, total_amount=D("1900.00"))) == [(1, "total_amount")]
    assert problems(result_file(), dataclasses.replace(EXPECTED, record_count=4)) == [SEQ, (1, "record_count")]


def test_messages_name_what_is_wrong():
    check = check_result(result_file(HEADER, LINE_1, LINE_2), encoding="utf-8", expected=EXPECTED)
    messages = {(error.line, error.field): error.message for error in check.errors}
    assert "3" in messages[SEQ]
    assert "1800.00" in messages[(1, "total_amount")] and "800.00" in messages[(1, "total_amount")]
    check = check_result(result_file(header_with(record_count="4"), *BODY), encoding="utf-8", expected=EXPECTED)
    assert sorted(error.message for error in check.errors) == sorted(
        ["表头笔数4与下发的3笔不符。", "表头笔数4与明细行数3不符。"]
    )


def test_every_problem_of_a_file_is_reported_at_once():
    data = result_file(
        header_with(bank_code="ICBC", processed_on="20160104"),
        line_with(LINE_1, amount="300.0"),
        line_with(LINE_2, seq="1", bank_txn_id=""),
        "",
        line_with(LINE_3, id_number="bad", result_code="7777"),
        HEADER,
    )
    expected_problems = [
        SEQ,  # seq 2 never came
        (1, "bank_code"),
        (1, "ok_amount"),  # only 500.00 of the 800.00 done is well formed
        (1, "processed_on"),
        (1, "total_amount"),  # 500.00 + 1000.00 of 1800.00
        (2, "amount"),
        (3, "bank_txn_id"),
        (3, "seq"),
        (4, "record_type"),  # the empty line
        (5, "id_number"),
        (5, "result_code"),
        (6, "record_type"),  # the second H
    ]
    assert problems(data) == expected_problems
    with pytest.raises(BankFileError) as raised:
        parse_result(data, encoding="utf-8", expected=EXPECTED)
    assert sorted((error.line, error.field) for error in raised.value.errors) == expected_problems


# --- encodings and empty files -------------------------------------------------------------------------------


@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
def test_gbk_bytes_read_as_utf8_name_each_line_with_a_name(line_end):
    data = result_file(encoding="gbk").replace(b"\n", line_end.encode())
    check = check_result(data, encoding="utf-8", expected=EXPECTED)
    assert [(error.line, error.field) for error in check.errors] == [(2, "encoding"), (3, "encoding"), (4, "encoding")]
    assert all("UTF-8" in error.message for error in check.errors)
    assert check.header is None


def test_utf8_bytes_read_as_gbk_name_the_lines_that_do_not_decode():
    # 张三 and 李四 happen to be GBK byte pairs (nonsense ones); 王五|…|余额不足 is not GBK at all.
    data = result_file()
    with pytest.raises(UnicodeDecodeError):
        LINE_3.encode("utf-8").decode("gbk")
    LINE_1.encode("utf-8").decode("gbk")
    check = check_result(data, encoding="gbk", expected=EXPECTED)
    assert [(error.line, error.field) for error in check.errors] == [(4, "encoding")]
    assert "GBK" in check.errors[0].message


@pytest.mark.parametrize("data", [b"", b" ", b"\n", b"\n\n\n", b"\r\n \t\r\n", UTF8_BOM, UTF8_BOM + b"\r\n"])
@pytest.mark.parametrize("encoding", ["utf-8", "gbk"])
def test_an_empty_file_is_one_problem_of_the_file(data, encoding):
    assert problems(data, encoding=encoding) == [(0, "file")]
    with pytest.raises(BankFileError) as raised:
        parse_issued(data, encoding)
    assert [(error.line, error.field) for error in raised.value.errors] == [(0, "file")]


# --- at most MAX_ERRORS listed, all counted ------------------------------------------------------------------


def _big_batch(count: int) -> IssuedHeader:
    return dataclasses.replace(EXPECTED, record_count=count, total_amount=D(count))  # 1.00 each


def test_the_list_stops_at_max_errors_but_the_count_goes_on():
    count = MAX_ERRORS + 200
    lines = [f"D|{seq}|INS|BAD-ID|张三|6222|1.00|2016|1001|余额不足|" for seq in range(1, count + 1)]
    data = result_file(
        header_with(record_count=str(count), total_amount=f"{count}.00", ok_count="0", ok_amount="0.00"), *lines
    )
    check = check_result(data, encoding="utf-8", expected=_big_batch(count))
    assert check.error_count == count
    assert len(check.errors) == MAX_ERRORS
    assert {error.field for error in check.errors} == {"id_number"}
    assert check.errors[-1].line == MAX_ERRORS + 1


def test_missing_seqs_beyond_max_errors_are_counted():
    count = MAX_ERRORS + 500
    data = result_file(header_with(record_count=str(count), total_amount=f"{count}.00", ok_count="0", ok_amount="0.00"))
    check = check_result(data, encoding="utf-8", expected=_big_batch(count))
    # every seq missing, and the header's count and total do not match the (no) lines
    assert check.error_count == count + 2
    assert len(check.errors) == MAX_ERRORS
    assert [error.message for error in check.errors[:2]] == ["缺少序号 1 的回盘记录。", "缺少序号 2 的回盘记录。"]


def test_undecodable_lines_beyond_max_errors_are_counted():
    count = MAX_ERRORS + 200
    lines = [f"D|{seq}|INS|320402198001010038|张三|6222|1.00|2016|1001|余额不足|" for seq in range(1, count + 1)]
    data = result_file(HEADER, *lines, encoding="gbk")
    check = check_result(data, encoding="utf-8", expected=_big_batch(count))
    assert len(check.errors) == MAX_ERRORS
    assert check.error_count == count


# --- digits are ASCII digits ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "expected_problems"),
    [
        # 1０００.００ reaches on_row as 100000 fen: the repeated-field check downstream can no longer see it differs
        pytest.param((HEADER, LINE_1, LINE_2, line_with(LINE_3, amount="1０００.００")), [*SUMS_OFF, (4, "amount")], id="amount"),
        pytest.param((header_with(total_amount="18０0.00"), *BODY), [(1, "total_amount")], id="header-total"),
        pytest.param((header_with(processed_on="2０16０106"), *BODY), [(1, "processed_on")], id="processed-on"),
        pytest.param((HEADER, LINE_1, LINE_2, line_with(LINE_3, id_number="３２0402198001010038")), [(4, "id_number")], id="id-number"),
        pytest.param((HEADER, LINE_1, LINE_2, line_with(LINE_3, period="2０16")), [(4, "period")], id="period"),
    ],
)  # fmt: skip
def test_fields_of_digits_take_only_ascii_digits(lines, expected_problems):
    assert problems(result_file(*lines)) == sorted(expected_problems)


# --- one file, several ways of ending lines ------------------------------------------------------------------

VARIANTS = {
    "as-written": lambda data: data,
    "crlf": lambda data: data.replace(b"\n", b"\r\n"),
    "no-last-line-end": lambda data: data[:-1],
    "crlf-no-last-line-end": lambda data: data.replace(b"\n", b"\r\n")[:-2],
    "bom": lambda data: UTF8_BOM + data,
    "bom-crlf": lambda data: UTF8_BOM + data.replace(b"\n", b"\r\n"),
    "bom-no-last-line-end": lambda data: UTF8_BOM + data[:-1],
}
GBK_VARIANTS = [name for name in VARIANTS if "bom" not in name]


@pytest.mark.parametrize("variant", VARIANTS)
def test_line_ends_bom_and_last_line_read_the_same_by_hand(variant):
    data = VARIANTS[variant](result_file())
    assert parse_result(data, encoding="utf-8", expected=EXPECTED) == parse_result(
        result_file(), encoding="utf-8", expected=EXPECTED
    )
    assert rows_of(data) == rows_of(result_file())
    issued = VARIANTS[variant](ISSUED_TEXT.encode())
    assert parse_issued(issued) == (EXPECTED, ISSUED_LINES)


def test_line_numbers_count_the_same_with_crlf_and_bom():
    data = result_file(HEADER, LINE_1, "", LINE_2, line_with(LINE_3, amount="1000.0"))
    crlf = UTF8_BOM + data.replace(b"\n", b"\r\n")
    assert problems(crlf) == problems(data) == [(1, "total_amount"), (3, "record_type"), (5, "amount")]


# --- round trips (hypothesis) --------------------------------------------------------------------------------

# Common hanzi (all in GBK) and the middle dot of minority names, with ASCII letters and digits: never '|' or a break.
HANZI = (
    "张王李赵刘陈杨黄吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜"
    "崔钟谭陆汪范金石廖贾夏韦方白邹孟熊秦邱江尹薛段雷侯龙史陶黎贺顾毛郝龚邵万钱严武戴莫孔向汤伟芳娜敏静丽强磊"
    "军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红国建文德福·"
)
NAME_ALPHABET = HANZI + string.ascii_letters + string.digits

names = st.text(alphabet=NAME_ALPHABET, min_size=1, max_size=12)
messages = st.text(alphabet=NAME_ALPHABET + " ，。", min_size=1, max_size=40)
digits = st.text(alphabet=string.digits, min_size=12, max_size=12)
id_numbers = st.builds(
    str.__add__, st.text(alphabet=string.digits, min_size=17, max_size=17), st.sampled_from(string.digits + "X")
)
insurance_nos = st.text(alphabet=string.digits + string.ascii_uppercase, min_size=6, max_size=20)
bank_accounts = st.text(alphabet=string.digits, min_size=12, max_size=19)
bank_codes = st.text(alphabet=string.ascii_uppercase, min_size=2, max_size=6)
# Fen, so every amount has exactly two places; at most 20 lines of at most 10**10 yuan keep the total in 12 digits.
amounts = st.one_of(st.integers(1, 10**7), st.integers(1, 10**12)).map(lambda fen: D(f"{fen // 100}.{fen % 100:02d}"))
years = st.integers(1990, 2099)
encodings = st.sampled_from(["utf-8", "gbk"])


def test_the_name_alphabet_is_gbk_and_has_no_separator():
    assert NAME_ALPHABET.encode("gbk").decode("gbk") == NAME_ALPHABET
    assert not set("|\r\n") & set(NAME_ALPHABET + " ，。")


@st.composite
def issued_batches(draw) -> tuple[IssuedHeader, list[IssuedLine]]:
    kind = draw(st.sampled_from(["DEDUCT", "PAYOUT"]))
    region = draw(digits)
    issued_on = draw(st.dates(dt.date(2000, 1, 1), dt.date(2099, 12, 31)))
    periods = years.map(str) if kind == "DEDUCT" else st.builds("{}{:02d}".format, years, st.integers(1, 12))
    count = draw(st.integers(1, 20))
    lines = [
        IssuedLine(
            seq=seq,
            insurance_no=draw(insurance_nos),
            id_number=draw(id_numbers),
            name=draw(names),
            bank_account=draw(bank_accounts),
            amount=draw(amounts),
            period=draw(periods),
        )
        for seq in range(1, count + 1)
    ]
    header = IssuedHeader(
        batch_no=batch_number(
            kind=kind, pooling_region_code=region, issued_on=issued_on, sequence=draw(st.integers(1, 999))
        ),
        kind=kind,
        bank_code=draw(bank_codes),
        pooling_region_code=region,
        issued_on=issued_on,
        record_count=count,
        total_amount=sum((line.amount for line in lines), D("0.00")),
    )
    return header, lines


@st.composite
def result_batches(draw) -> tuple[IssuedHeader, ResultHeader, list[ResultLine]]:
    issued, issued_lines = draw(issued_batches())
    lines = []
    for line in issued_lines:
        code = draw(st.sampled_from(sorted(RESULT_CODES)))
        if code == "0000":
            message, txn = draw(st.just("") | messages), f"T{line.seq:06d}{draw(digits)}"  # unique by its seq
        else:
            message = draw(messages) if code == "9999" else draw(st.just("") | messages)
            txn = draw(st.just("") | st.text(alphabet=string.digits + string.ascii_uppercase, min_size=1, max_size=64))
        lines.append(ResultLine(*dataclasses.astuple(line), code, message, txn))
    done = [line for line in lines if line.result_code == "0000"]
    header = ResultHeader(
        batch_no=issued.batch_no,
        kind=issued.kind,
        bank_code=issued.bank_code,
        pooling_region_code=issued.pooling_region_code,
        processed_on=issued.issued_on + dt.timedelta(days=draw(st.integers(0, 60))),
        record_count=issued.record_count,
        total_amount=issued.total_amount,
        ok_count=len(done),
        ok_amount=sum((line.amount for line in done), D("0.00")),
    )
    return issued, header, draw(st.permutations(lines))


@settings(max_examples=100, deadline=None)
@given(batch=issued_batches(), encoding=encodings)
def test_an_issued_file_reads_back_as_written(batch, encoding):
    header, lines = batch
    data = write_issued(header, lines, encoding)
    # repr, not ==: Decimal('300.00') == Decimal('300.0'), and the places are part of what was written
    assert repr(parse_issued(data, encoding)) == repr((header, lines))


@settings(max_examples=100, deadline=None)
@given(batch=result_batches(), encoding=encodings)
def test_a_result_file_reads_back_as_written(batch, encoding):
    issued, header, lines = batch
    data = write_result(header, lines, encoding)
    assert repr(parse_result(data, encoding=encoding, expected=issued)) == repr((header, lines))
    rows: list[tuple] = []
    check = check_result(data, encoding=encoding, expected=issued, on_row=rows.append)
    assert check.ok and check.line_count == len(lines)
    assert rows == [
        (number, *dataclasses.astuple(line)[:5], int(line.amount * 100), *dataclasses.astuple(line)[6:])
        for number, line in enumerate(lines, start=2)
    ]
    assert all(type(row[6]) is int for row in rows)
    assert check.total_fen == int(issued.total_amount * 100) and check.ok_fen == int(header.ok_amount * 100)


@settings(max_examples=50, deadline=None)
@given(batch=result_batches(), encoding=encodings, data=st.data())
def test_line_ends_bom_and_last_line_read_the_same(batch, encoding, data):
    issued, header, lines = batch
    written = write_result(header, lines, encoding)
    variant = data.draw(st.sampled_from(list(VARIANTS) if encoding == "utf-8" else GBK_VARIANTS))
    changed = VARIANTS[variant](written)
    assert repr(parse_result(changed, encoding=encoding, expected=issued)) == repr((header, lines))
    issued_lines = [IssuedLine(*dataclasses.astuple(line)[:7]) for line in sorted(lines, key=lambda line: line.seq)]
    issued_file = VARIANTS[variant](write_issued(issued, issued_lines, encoding))
    assert repr(parse_issued(issued_file, encoding)) == repr((issued, issued_lines))


# --- writing refusals ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["张|三", "张\n三", "张\r三"])
def test_a_field_with_a_separator_or_a_line_break_is_not_written(name):
    line = dataclasses.replace(ISSUED_LINES[0], name=name)
    with pytest.raises(ValueError, match="name"):
        write_issued(EXPECTED, [line])
    result_line = ResultLine(*dataclasses.astuple(line), "0000", "", "TXN001")
    with pytest.raises(ValueError, match="name"):
        write_result(RESULT_HEADER, [result_line])


def test_a_name_gbk_cannot_hold_is_refused_by_the_encoder():
    line = dataclasses.replace(ISSUED_LINES[0], name="王𪚥")
    assert "王𪚥".encode() in write_issued(EXPECTED, [line], "utf-8")
    with pytest.raises(UnicodeEncodeError):
        write_issued(EXPECTED, [line], "gbk")


# --- format_amount and batch_number --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (D("300.00"), "300.00"),
        (D("300"), "300.00"),
        (D("0.5"), "0.50"),
        (D("1E+3"), "1000.00"),
        (D("1800.00"), "1800.00"),
    ],
)
def test_format_amount_writes_two_places_without_exponent(amount, text):
    assert format_amount(amount) == text


@pytest.mark.parametrize("amount", [300.0, 0.1, 300, "300.00", None])
def test_format_amount_refuses_anything_but_a_decimal(amount):
    with pytest.raises(TypeError):
        format_amount(amount)


def test_batch_number_as_in_the_spec():
    number = batch_number(kind="DEDUCT", pooling_region_code="320400000000", issued_on=dt.date(2016, 1, 5), sequence=1)
    assert number == "D32040000000020160105001"
    assert len(number) == 24


@pytest.mark.parametrize(
    ("kind", "sequence", "number"),
    [
        ("PAYOUT", 1, "P32040000000020160105001"),
        ("DEDUCT", 42, "D32040000000020160105042"),
        ("PAYOUT", 999, "P32040000000020160105999"),
    ],
)
def test_batch_number_kind_letter_and_sequence(kind, sequence, number):
    assert (
        batch_number(kind=kind, pooling_region_code="320400000000", issued_on=dt.date(2016, 1, 5), sequence=sequence)
        == number
    )


@settings(max_examples=100)
@given(
    kind=st.sampled_from(["DEDUCT", "PAYOUT"]),
    region=digits,
    issued_on=st.dates(dt.date(2000, 1, 1), dt.date(2099, 12, 31)),
    sequence=st.integers(1, 999),
)
def test_batch_number_is_24_ascii_characters_in_its_parts(kind, region, issued_on, sequence):
    number = batch_number(kind=kind, pooling_region_code=region, issued_on=issued_on, sequence=sequence)
    assert len(number) == 24 and number.isascii()
    assert number[0] == kind[0]
    assert number[1:13] == region
    assert dt.datetime.strptime(number[13:21], "%Y%m%d").date() == issued_on
    assert int(number[21:]) == sequence


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"pooling_region_code": "32040000000"}, id="region-11-digits"),
        pytest.param({"pooling_region_code": "3204000000001"}, id="region-13-digits"),
        pytest.param({"pooling_region_code": "32040000000A"}, id="region-letter"),
        pytest.param({"pooling_region_code": "-32040000000"}, id="region-sign"),
        pytest.param({"pooling_region_code": ""}, id="region-empty"),
        pytest.param({"sequence": 0}, id="sequence-0"),
        pytest.param({"sequence": 1000}, id="sequence-1000"),
        pytest.param({"sequence": -1}, id="sequence-negative"),
    ],
)
def test_batch_number_refusals(changes):
    arguments = {
        "kind": "DEDUCT",
        "pooling_region_code": "320400000000",
        "issued_on": dt.date(2016, 1, 5),
        "sequence": 1,
    }
    with pytest.raises(ValueError):
        batch_number(**{**arguments, **changes})


def test_batch_number_refuses_an_unknown_kind():
    with pytest.raises((KeyError, ValueError)):
        batch_number(kind="REFUND", pooling_region_code="320400000000", issued_on=dt.date(2016, 1, 5), sequence=1)


def test_batch_number_refuses_a_region_in_full_width_digits():
    with pytest.raises(ValueError):
        batch_number(
            kind="DEDUCT", pooling_region_code="３２０４００００００００", issued_on=dt.date(2016, 1, 5), sequence=1
        )


# --- parse_issued refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected_problems"),
    [
        pytest.param(ISSUED_TEXT.replace("H|", "X|", 1), [(1, "record_type")], id="no-header"),
        pytest.param(ISSUED_TEXT.replace("D3204", "Q3204", 1), [(1, "batch_no")], id="batch-no"),
        pytest.param(ISSUED_TEXT.replace("DEDUCT", "REFUND", 1), [(1, "kind")], id="kind"),
        pytest.param(ISSUED_TEXT.replace("20160105|3", "20160230|3", 1), [(1, "issued_on")], id="issued-on"),
        pytest.param(ISSUED_TEXT.replace("|3|1800.00", "|4|1800.00", 1), [(1, "record_count")], id="count-not-lines"),
        pytest.param(ISSUED_TEXT.replace("|3|1800.00", "|3|1900.00", 1), [(1, "total_amount")], id="total-not-lines"),
        pytest.param(ISSUED_TEXT.replace("|1000.00|", "|1,000.00|", 1), [(1, "record_count"), (1, "total_amount"), (4, "amount")], id="amount"),
        pytest.param(ISSUED_TEXT.replace("D|2|", "D|two|", 1), [(1, "record_count"), (1, "total_amount"), (3, "seq")], id="seq"),
        pytest.param(ISSUED_TEXT.replace("|2016\nD|2", "\nD|2", 1), [(1, "record_count"), (1, "total_amount"), (2, "record_type")], id="fields"),
    ],
)  # fmt: skip
def test_parse_issued_lists_every_problem(text, expected_problems):
    with pytest.raises(BankFileError) as raised:
        parse_issued(text.encode())
    assert sorted((error.line, error.field) for error in raised.value.errors) == sorted(expected_problems)
