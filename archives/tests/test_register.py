"""The register (档案登记簿): its rows, its counts, its .xlsx, and the scope it is read in."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext
from openpyxl import load_workbook

from agencies.models import Role
from archives import selectors, services
from archives.models import ArchiveKind
from archives.register import register_xlsx
from archives.tests.test_selectors import Archive, build_archive

pytestmark = pytest.mark.django_db

HEADER = (
    "序号",
    "档号",
    "类别",
    "题名",
    "村（社区）",
    "参保人",
    "身份证号",
    "保管期限",
    "保管期满",
    "档案室",
    "柜号",
    "盒号",
    "盒内序号",
    "纸质件",
    "电子件（页数）",
    "保管人",
    "状态",
)


@pytest.fixture
def archive() -> Archive:
    return build_archive()


def numbers(rows) -> list[str]:
    return [item.archive_no for item in rows]


def sheet_rows(data: bytes) -> list[tuple]:
    workbook = load_workbook(io.BytesIO(data), read_only=True)
    return list(workbook["档案登记簿"].values)


# --- rows and counts --------------------------------------------------------------------------------------------


def test_a_townships_register_lists_every_item_of_the_year_by_village_kind_and_number(archive):
    rows = selectors.register_rows(user=archive.county_clerk, region=archive.line_a.township, year=2025)
    # The township's own report (code …101000) first, then village A (登记表 01, 变更 02 — destroyed, still listed),
    # then village B (登记表 01, 待遇申请 08). Township 102 and the 2024 items are not in it.
    assert numbers(rows) == archive.no("report_town", "reg_wang", "change_wang", "reg_li", "claim_li")
    assert [row.place_name for row in rows] == ["镇320412101", "村320412101201", "村320412101201"] + [
        "村320412101202"
    ] * 2


def test_a_village_and_a_county_register(archive):
    village_b = selectors.register_rows(user=archive.county_clerk, region=archive.village_b, year=2025)
    assert numbers(village_b) == archive.no("reg_li", "claim_li")
    county = selectors.register_rows(user=archive.county_clerk, region=archive.line_a.county, year=2025)
    assert numbers(county) == archive.no("report_town", "reg_wang", "change_wang", "reg_li", "claim_li", "reg_zhao")
    last_year = selectors.register_rows(user=archive.county_clerk, region=archive.line_a.township, year=2024)
    assert numbers(last_year) == archive.no("back_wang", "roll_b")


def test_the_summary_counts_in_one_query(archive, django_assert_num_queries):
    rows = selectors.register_rows(user=archive.county_clerk, region=archive.line_a.township, year=2025)
    with django_assert_num_queries(1):
        summary = selectors.register_summary(rows)
    # Paper: report, 王 登记 and 李 登记 (the destroyed change is counted as destroyed only); copies: 王 登记 and
    # 李 待遇申请; both: 王 登记; no paper: 李 待遇申请; no copy: report and 李 登记.
    assert summary == {
        "total": 5,
        "with_paper": 3,
        "with_electronic": 2,
        "both": 1,
        "missing_paper": 1,
        "missing_electronic": 2,
        "destroyed": 1,
    }


def test_an_empty_register_counts_zero(archive):
    rows = selectors.register_rows(user=archive.county_clerk, region=archive.line_a.township, year=2020)
    assert set(selectors.register_summary(rows).values()) == {0}


def test_a_register_outside_the_scope_is_404(archive):
    # Another township's, and the county's (larger than the township clerk's jurisdiction).
    for region in (archive.line_t2.township, archive.line_a.county, archive.line_c2.village):
        with pytest.raises(Http404):
            selectors.register_rows(user=archive.town_clerk, region=region, year=2025)
        with pytest.raises(Http404):
            register_xlsx(user=archive.town_clerk, region=region, year=2025)
    with pytest.raises(Http404):
        selectors.register_rows(user=archive.c2_clerk, region=archive.line_a.township, year=2025)
    # A village agent reads the village's register.
    agent = archive.line_a.staff(Role.VILLAGE_AGENT)
    assert numbers(selectors.register_rows(user=agent, region=archive.line_a.village, year=2025)) == archive.no(
        "reg_wang", "change_wang"
    )


# --- the workbook -----------------------------------------------------------------------------------------------


def test_the_xlsx_has_the_title_header_rows_and_summary(archive):
    # when
    rows = sheet_rows(register_xlsx(user=archive.county_clerk, region=archive.line_a.township, year=2025))
    # then
    assert rows[0][0] == "市3204县320412镇320412101 2025年度档案登记簿"
    assert rows[1] == HEADER
    assert [row[:2] for row in rows[2:7]] == list(
        zip(range(1, 6), archive.no("report_town", "reg_wang", "change_wang", "reg_li", "claim_li"), strict=True)
    )
    keeper = archive.town_clerk.display_name
    report, reg_wang, change_wang, reg_li, claim_li = rows[2:7]
    assert report[2:] == (
        "年度报表",
        "2025年度报表",
        "镇320412101",
        None,
        None,
        "永久",
        None,
        "一号库房",
        "A01",
        "2025-001",
        "1",
        "有",
        "无",
        keeper,
        "在库",
    )
    # The identity number masked; the paper is out on loan; a copy of 3 pages.
    assert reg_wang[2:] == (
        "参保登记表",
        "王建国参保登记表",
        "村320412101201",
        "王建国",
        "320412********0118",
        "永久",
        None,
        "一号库房",
        "A01",
        "2025-001",
        "10",
        "有",
        3,
        keeper,
        "借出",
    )
    assert (change_wang[13], change_wang[14], change_wang[16]) == ("无", "无", "已销毁")
    assert (reg_li[6], reg_li[13], reg_li[14], reg_li[16]) == ("320412********0225", "有", "无", "在库")
    assert (claim_li[9], claim_li[13], claim_li[14], claim_li[15], claim_li[16]) == (None, "无", 4, None, "未入库")
    assert rows[7][:2] == (
        "合计",
        "共5件；纸质件3件，电子件2件，纸电齐全1件；缺纸质件1件，缺电子件2件；已销毁1件",
    )
    assert len(rows) == 8
    assert all(archive.li.id_number not in str(cell) for row in rows for cell in row)


def test_the_xlsx_shows_when_a_records_retention_ends(archive):
    rows = sheet_rows(register_xlsx(user=archive.county_clerk, region=archive.line_a.township, year=2024))
    # 补缴申请表 and 个人缴费明细表 are kept 100 years, counted from the year after 2024.
    assert [(row[1], row[7], row[8]) for row in rows[2:4]] == [
        (archive.items["back_wang"].archive_no, "100年", dt.datetime(2124, 12, 31)),
        (archive.items["roll_b"].archive_no, "100年", dt.datetime(2124, 12, 31)),
    ]


def test_a_title_that_looks_like_a_formula_stays_text(archive):
    services.item_create(
        actor=archive.county_clerk,
        kind=ArchiveKind.objects.get(code="annual_report"),
        region=archive.line_a.township,
        year=2023,
        title='=HYPERLINK("http://example.invalid")',
    )
    rows = sheet_rows(register_xlsx(user=archive.county_clerk, region=archive.line_a.township, year=2023))
    assert rows[2][3] == '\'=HYPERLINK("http://example.invalid")'


def test_the_xlsx_makes_no_query_per_row(archive):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            register_xlsx(user=archive.county_clerk, region=archive.line_a.township, year=2025)
        return len(captured)

    before = queries()
    for n in range(12):
        item = services.item_create(
            actor=archive.county_clerk,
            kind=ArchiveKind.objects.get(code="registration"),
            region=archive.village_b,
            year=2025,
            title=f"参保登记表{n}",
            person=archive.li,
        )
        services.paper_place(
            actor=archive.town_clerk, item=item, room="二号库房", cabinet="B", box="1", position=str(n)
        )
    assert len(sheet_rows(register_xlsx(user=archive.county_clerk, region=archive.line_a.township, year=2025))) == 20
    assert queries() == before
