"""The .xlsx statement read back with openpyxl: figures computed by hand from the entries in
``funds.tests.ledger_data`` (300 + 40 → 340.00; 3.83 interest; 500 + 60 + 50 in 2024 → 953.83)."""

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from openpyxl import load_workbook

from agencies.models import Role
from agencies.tests.factories import region_line
from enrollment import idnumber
from enrollment.tests.factories import make_person
from funds import selectors, statements
from funds.models import Component, EntryKind
from funds.services import account_open
from funds.tests.ledger_data import account_with_entries, account_with_history, post

pytestmark = pytest.mark.django_db

GENERATED = dt.datetime(2025, 1, 15, 9, 30)


@pytest.fixture
def line():
    return region_line()


@pytest.fixture
def account(line):
    return account_with_history(make_person(line.village, name="王秀兰"))


def workbook_of(account, year=None):
    out = io.BytesIO()
    statements.statement_workbook(
        out,
        account=account,
        summary=selectors.account_summary(account=account, year=year),
        generated_at=GENERATED,
        issuer="湖塘镇社保所",
    )
    out.seek(0)
    return load_workbook(out)


def rows(sheet) -> list[list]:
    return [[cell for cell in row] for row in sheet.iter_rows(values_only=True)]


def money(value) -> Decimal:
    # openpyxl reads numbers back as int or float; two places is what the sheet shows.
    return Decimal(str(value)).quantize(Decimal("0.01"))


def row_after(table: list[list], label: str, offset: int = 0) -> list:
    for index, row in enumerate(table):
        if row and row[0] == label:
            return table[index + offset]
    raise AssertionError(f"no row {label!r}")


def section(table: list[list], title: str) -> list[list]:
    """The rows under a section title, up to the next blank row."""
    start = next(i for i, row in enumerate(table) if row and row[0] == title) + 1
    end = next((i for i in range(start, len(table)) if not any(v is not None for v in table[i])), len(table))
    return table[start:end]


def test_the_statement_has_title_person_and_period(account):
    sheet = workbook_of(account).active
    table = rows(sheet)
    person = account.person
    assert table[0][0] == "城乡居民基本养老保险个人账户对账单"
    assert table[1][0] == "对账期间：建账至今"
    assert "A1:F1" in {str(r) for r in sheet.merged_cells.ranges}
    assert row_after(table, "姓名")[:5] == ["姓名", "王秀兰", None, "保险编号", person.insurance_number]
    assert row_after(table, "身份证号")[1] == idnumber.mask(person.id_number)
    assert person.id_number not in {v for row in table for v in row}
    assert row_after(table, "户籍所在地")[1] == person.village.full_name()
    assert row_after(table, "建账日期")[1] == "2023-03-05"


def test_balances_by_component_add_up_from_the_entries(account):
    table = rows(workbook_of(account).active)
    balances = section(table, "一、账户余额（按资金来源）")
    assert balances[0][:4] == ["资金来源", "期初余额", "本期发生额", "期末余额"]
    closing = {row[0]: money(row[3]) for row in balances[1:]}
    assert closing == {
        "个人缴费": Decimal("800.00"),
        "政府缴费补贴": Decimal("100.00"),
        "集体补助": Decimal("50.00"),
        "社会资助": Decimal("0.00"),
        "政府代缴": Decimal("0.00"),
        "利息": Decimal("3.83"),
        "合计": Decimal("953.83"),
    }


def test_interest_per_year(account):
    table = rows(workbook_of(account).active)
    interest = section(table, "二、历年记息")
    assert interest[0][:2] == ["年度", "利息"]
    assert [(row[0], money(row[1])) for row in interest[1:]] == [(2023, Decimal("3.83"))]


def test_entries_with_running_balance_and_source(account):
    table = rows(workbook_of(account).active)
    entries = section(table, "三、账户明细")
    assert entries[0] == ["记账日期", "类型", "资金来源", "金额", "余额", "来源"]
    lines = [(r[0], r[1], r[2], money(r[3]), money(r[4]), r[5]) for r in entries[1:-1]]
    assert lines[:2] == [
        ("2023-03-05", "个人缴费", "个人缴费", Decimal("300.00"), Decimal("300.00"), "contribution:2023"),
        ("2023-03-05", "政府缴费补贴", "政府缴费补贴", Decimal("40.00"), Decimal("340.00"), "contribution:2023"),
    ]
    assert lines[2] == ("2023-12-31", "记息", "利息", Decimal("3.83"), Decimal("343.83"), "interest:2023")
    assert [line[4] for line in lines[3:]] == [Decimal("843.83"), Decimal("903.83"), Decimal("953.83")]
    assert entries[-1][0] == "期末余额" and money(entries[-1][4]) == Decimal("953.83")


def test_amounts_are_numbers_with_two_places(account):
    sheet = workbook_of(account).active
    table = rows(sheet)
    index = next(i for i, row in enumerate(table) if row[0] == "2023-03-05") + 1
    cell = sheet.cell(row=index, column=4)
    assert cell.value == 300
    assert cell.number_format == "#,##0.00"


def test_a_year_statement_opens_with_the_balance_brought_forward(account):
    table = rows(workbook_of(account, year=2024).active)
    assert table[1][0] == "对账期间：2024年1月1日至2024年12月31日"
    balances = section(table, "一、账户余额（按资金来源）")
    total = balances[-1]
    assert total[0] == "合计"
    assert [money(v) for v in total[1:4]] == [Decimal("343.83"), Decimal("610.00"), Decimal("953.83")]
    entries = section(table, "三、账户明细")
    assert entries[1][:2] == ["2024-01-01", "期初余额"] and money(entries[1][4]) == Decimal("343.83")
    assert [r[0] for r in entries[2:-1]] == ["2024-02-10"] * 3
    # the interest of every year stays on the statement of any year
    assert [r[0] for r in section(table, "二、历年记息")[1:]] == [2023]


def test_the_generation_date_and_issuer_are_printed(account):
    table = rows(workbook_of(account).active)
    assert any(row[0] == "生成时间：2025-01-15 09:30　出具机构：湖塘镇社保所" for row in table)


def test_a_simple_statement_of_300_and_40_makes_340(line):
    account = account_open(person=make_person(line.village), opened_on=dt.date(2024, 3, 5))
    post(
        account,
        "contribution:x",
        dt.date(2024, 3, 5),
        (Component.PERSONAL, EntryKind.CONTRIBUTION, "300"),
        (Component.GOVERNMENT_SUBSIDY, EntryKind.SUBSIDY, "40"),
    )
    table = rows(workbook_of(account).active)
    assert money(row_after(table, "合计")[3]) == Decimal("340.00")
    assert row_after(table, "尚未记息")[:2] == ["尚未记息", "—"]


def test_a_reversal_shows_as_a_negative_line(line):
    from funds.services import ledger_reverse

    account = account_open(person=make_person(line.village), opened_on=dt.date(2024, 3, 5))
    personal, _ = post(
        account,
        "contribution:y",
        dt.date(2024, 3, 5),
        (Component.PERSONAL, EntryKind.CONTRIBUTION, "300"),
        (Component.GOVERNMENT_SUBSIDY, EntryKind.SUBSIDY, "40"),
    )
    ledger_reverse(entry=personal, booked_on=dt.date(2024, 4, 1), reason="录错")
    account.refresh_from_db()
    entries = section(rows(workbook_of(account).active), "三、账户明细")
    reversal = entries[3]
    assert reversal[1] == "冲正" and money(reversal[3]) == Decimal("-300.00") and money(reversal[4]) == Decimal("40.00")


# --- a village's statements ----------------------------------------------------------------------------


def test_a_village_workbook_has_an_index_and_one_sheet_per_person(line):
    people = [account_with_history(make_person(line.village, name=name)) for name in ("张伟", "李娜", "张伟")]
    account_with_entries(make_person(region_line(county="320412", village="202").village, name="邻村"), 1)
    clerk = line.staff(Role.TOWNSHIP_CLERK)
    client = Client()
    client.force_login(clerk)
    response = client.get(reverse("funds:village_statements_xlsx", args=[line.village.pk]) + "?year=2024")
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    assert len(book.sheetnames) == 4  # 目录 + three persons; the neighbouring village is not in it
    assert book.sheetnames[0] == "目录"
    assert len(set(book.sheetnames)) == 4  # two 张伟 get two sheets
    index = rows(book["目录"])
    assert index[0][0].endswith("个人账户对账单")
    assert "2024年度" in index[1][0] and "共3人" in index[1][0]
    listed = index[3:6]
    assert index[2] == ["序号", "姓名", "保险编号", "身份证号", "期末余额", "工作表"]
    assert [row[1] for row in listed] == ["李娜", "张伟", "张伟"]  # in pinyin order, as village lists are kept
    by_number = {a.person.insurance_number: a.person for a in people}
    for number, row in enumerate(listed, start=4):
        person = by_number[row[2]]
        assert row[3] == idnumber.mask(person.id_number)
        assert money(row[4]) == Decimal("953.83")
        link = book["目录"].cell(row=number, column=6).hyperlink
        assert link.location == f"'{row[5]}'!A1"
        sheet = rows(book[row[5]])
        assert sheet[0][0] == "城乡居民基本养老保险个人账户对账单"
        assert row_after(sheet, "姓名")[4] == person.insurance_number
        assert money(row_after(sheet, "合计")[3]) == Decimal("953.83")


def test_sheet_names_are_cut_to_excel_rules(line):
    person = make_person(line.village, name="欧阳[长]名字特别特别特别特别特别特别特别长的人*")
    used = {"目录"}
    title = statements._sheet_title(person, used)
    assert len(title) <= 31
    assert not set("[]:*?/\\'") & set(title)
    again = statements._sheet_title(person, used)
    assert again != title and len(again) <= 31
