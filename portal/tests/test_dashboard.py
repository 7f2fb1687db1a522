"""The supervisors' dashboard (统计分析) on hand-made village-month summaries.

常州 (3204): 武进区 (320412, its own pooling region) with 湖塘镇 (幸福村, 团结村) and 牛塘镇 (红星村); 新北区
(320411) with 罗溪镇 (向阳村); and a foreign city, 苏州 (3205), whose figures must never show. The month is
October 2026; every expected figure below is worked out by hand from the rows in ``world``.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from agencies.models import Region, Role
from agencies.scope import covers_pooling_region
from agencies.tests.factories import RegionLine, UserFactory, region_line
from funds.fund_accounts import fund_balances, movement_post
from funds.models import Fund, FundAccountKind, MovementKind
from portal import dashboard as board
from portal import measures
from portal.models import MonthlySummary, SummaryRun, Target
from portal.summaries import fund_balances_summarize

pytestmark = pytest.mark.django_db

D = Decimal
OCT = dt.date(2026, 10, 1)
SEP = dt.date(2026, 9, 1)
URL = "/dashboard/"

# Per village, October 2026.
OCTOBER = {
    "320412101201": dict(
        should_insure=2000, insured=1962, renewal_due_young=100, renewal_paid_young=80, renewal_due_old=50,
        renewal_paid_old=50, new_members=5, contribution_income=D("1500.00"), recipients=300, payroll_lines=300,
        payroll_paid=300, basic_pension=D("45000.00"), account_pension=D("6000.00"), applications=1000,
        applications_returned=1,
    ),
    "320412101202": dict(
        should_insure=1000, insured=980, renewal_due_young=60, renewal_paid_young=30, renewal_due_old=40,
        renewal_paid_old=38, new_members=3, contribution_income=D("900.00"), recipients=200, payroll_lines=200,
        payroll_paid=198, basic_pension=D("30000.00"), account_pension=D("4000.00"), applications=500,
        applications_returned=2, applications_overdue=1,
    ),
    "320412102201": dict(
        should_insure=2000, insured=1964, renewal_due_young=40, renewal_paid_young=40, renewal_due_old=10,
        renewal_paid_old=9, new_members=2, contribution_income=D("600.50"), recipients=100, payroll_lines=100,
        payroll_paid=100, basic_pension=D("15000.00"), account_pension=D("2000.25"), applications=500,
    ),
    "320411101201": dict(should_insure=1000, insured=900, contribution_income=D("300.00")),
    "320506101201": dict(should_insure=777, insured=555, contribution_income=D("8888.88"), recipients=4444),
}  # fmt: skip


@dataclass
class World:
    fortune: RegionLine  # 武进区 / 湖塘镇 / 幸福村
    unity: RegionLine  # 武进区 / 湖塘镇 / 团结村
    red_star: RegionLine  # 武进区 / 牛塘镇 / 红星村
    north: RegionLine  # 新北区 / 罗溪镇 / 向阳村
    foreign: RegionLine  # 苏州 / 吴中区 / 境外镇 / 境外村


def _name(line: RegionLine, **names: str) -> RegionLine:
    for level, name in names.items():
        region = getattr(line, level)
        region.name = name
        region.save()
    return line


def summary(code: str, month: dt.date, **figures) -> MonthlySummary:
    return MonthlySummary.objects.create(region_code=code, month=month, **figures)


@pytest.fixture
def world() -> World:
    fortune = _name(
        region_line("320412", "101", "201"), city="常州市", county="武进区", township="湖塘镇", village="幸福村"
    )
    unity = _name(region_line("320412", "101", "202"), village="团结村")
    red_star = _name(region_line("320412", "102", "201"), township="牛塘镇", village="红星村")
    north = _name(region_line("320411", "101", "201"), county="新北区", township="罗溪镇", village="向阳村")
    foreign = _name(
        region_line("320506", "101", "201"), city="苏州市", county="吴中区", township="境外镇", village="境外村"
    )
    for code, figures in OCTOBER.items():
        summary(code, OCT, **figures)
    # September: only 幸福村 had figures; March: 红星村's collection window.
    summary(
        "320412101201", SEP, should_insure=2000, insured=1950, new_members=2, contribution_income=D("700.00"),
        recipients=290, payroll_lines=290, payroll_paid=290, basic_pension=D("43500.00"), account_pension=D("5800.00"),
    )  # fmt: skip
    summary("320412102201", dt.date(2026, 3, 1), new_members=40, contribution_income=D("12000.00"))
    summary("320506101201", SEP, new_members=999, contribution_income=D("7777.77"))
    for month in (SEP, OCT):  # the nightly runs that built them
        SummaryRun.objects.create(month=month, finished_at=timezone.now())
    return World(fortune, unity, red_star, north, foreign)


def _client(client, user):
    client.force_login(user)
    return client


def _get(client, **query):
    return client.get(URL, query)


def _chart_data(response) -> dict:
    found = re.search(r'<script id="dash-data" type="application/json">(.*?)</script>', response.content.decode(), re.S)
    assert found, "the page carries its chart data"
    return json.loads(found.group(1))


def _xlsx_rows(response) -> list[tuple]:
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    return list(book.active.iter_rows(values_only=True))


def _table_rows(response, key: str) -> list[list[str]]:
    """The text of a table's body and foot cells on the page."""
    table = response.context["board"].table(key)
    return [[cell.text for cell in row] for row in [*table.rows, *table.foot]]


def _pct(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


# --- the figures ---------------------------------------------------------------------------------------------------


def test_county_page_shows_coverage_renewal_and_money_worked_out_by_hand(client, world):
    # given: the county approver of 武进区
    user = world.fortune.staff(Role.COUNTY_APPROVER)

    # when: they open their dashboard for October
    response = _get(_client(client, user), month="2026-10")

    # then: 4906 of 5000 insured is 98.12%, up from 1950/2000 = 97.50% in September
    assert response.status_code == 200
    page = response.context["board"]
    assert page.region == world.fortune.county
    assert page.current.coverage == D("0.9812")
    cards = {card.key: card for card in page.cards}
    assert cards["coverage"].value == "98.12%"
    assert cards["coverage"].change == "较上月+0.62个百分点"
    assert cards["coverage"].direction == "up"
    # renewal: 16-44 150/200 = 75.00% (target 70%), 45-59 97/100 = 97.00% (below 100%)
    assert cards["renewal_young"].value == "75.00%" and not cards["renewal_young"].flag
    assert cards["renewal_old"].value == "97.00%" and cards["renewal_old"].flag == "bad"
    # payout 598/600 = 99.67%; pensions 90,000.00 + 12,000.25; error rate 3/2000 = 1.5‰ over the 1‰ line
    assert cards["payout_rate"].value == "99.67%"
    assert cards["pension_total"].value == "102,000.25"
    assert cards["pension_total"].change == "较上月+52,700.25元"  # September: 43,500.00 + 5,800.00
    assert cards["error_rate"].value == "1.5‰" and cards["error_rate"].flag == "bad"
    assert cards["applications_overdue"].value == "1"
    assert cards["contribution_income"].value == "3,000.50"
    body = response.content.decode()
    assert "98.12%" in body and "3,000.50" in body


def test_children_table_lists_each_township_with_its_figures_and_the_county_total(client, world):
    user = world.fortune.staff(Role.COUNTY_CLERK)
    response = _get(_client(client, user), month="2026-10")

    assert _table_rows(response, "coverage") == [
        ["320412101000", "湖塘镇", "3000", "2942", "98.07%", "—", "—"],
        ["320412102000", "牛塘镇", "2000", "1964", "98.20%", "—", "—"],
        ["320412000000", "武进区", "5000", "4906", "98.12%", "—", "—"],
    ]
    assert _table_rows(response, "renewal") == [
        ["320412101000", "湖塘镇", "160", "110", "68.75%", "90", "88", "97.78%"],
        ["320412102000", "牛塘镇", "40", "40", "100.00%", "10", "9", "90.00%"],
        ["320412000000", "武进区", "200", "150", "75.00%", "100", "97", "97.00%"],
    ]
    # the ranking: 牛塘镇 first on coverage (98.20%) and on renewal (49/50 = 98.00% against 198/250 = 79.20%)
    assert _table_rows(response, "ranking") == [
        ["1", "320412102000", "牛塘镇", "98.20%", "1", "98.00%"],
        ["2", "320412101000", "湖塘镇", "98.07%", "2", "79.20%"],
    ]
    # each child drills down
    coverage = response.context["board"].table("coverage")
    assert coverage.rows[0][1].href == f"{URL}?region=320412101000&month=2026-10"
    assert f'href="{URL}?region=320412102000&amp;month=2026-10"' in response.content.decode()


def test_trend_has_twelve_months_without_gaps_and_zeros_where_no_summary(client, world):
    user = world.fortune.staff(Role.COUNTY_CLERK)
    response = _get(_client(client, user), month="2026-10")

    data = _chart_data(response)
    assert data["months"] == [f"{y}-{m:02d}" for y, m in [(2025, 11), (2025, 12)] + [(2026, m) for m in range(1, 11)]]
    assert data["new_members"] == [0, 0, 0, 0, 40, 0, 0, 0, 0, 0, 2, 10]
    assert data["contribution_income"][4] == "12000.00" and data["contribution_income"][-1] == "3000.50"
    assert data["contribution_income"][5] == "0.00"
    assert data["payout_rate"][-2:] == ["100.00", "99.67"]
    assert data["payout_rate"][0] is None  # no payroll: no rate, not 0%
    assert data["error_rate"][-1] == "1.50"
    rows = _table_rows(response, "trend")
    assert [row[0] for row in rows] == data["months"]
    assert rows[4] == ["2026-03", "40", "0", "0", "12,000.00"]


def test_the_dashboard_and_the_measures_agree_by_construction(world):
    # given: the city supervisor and the measures read directly
    user = world.fortune.staff(Role.CITY_SUPERVISOR)
    city = world.fortune.city

    # when: the dashboard is built for October
    page = board.dashboard(user=user, region=city, month=OCT, today=dt.date(2026, 12, 7))

    # then: every figure is the measures' own
    assert page.current == measures.month_measures(user=user, region=city, month=OCT)
    assert page.previous == measures.month_measures(user=user, region=city, month=SEP)
    assert page.months == measures.trend(user=user, region=city, first=dt.date(2025, 11, 1), last=OCT)
    assert page.children == measures.children(user=user, region=city, month=OCT)
    assert page.current.coverage == D("0.9677")  # 5806 / 6000
    assert [(place.name, item.coverage) for place, item in page.children] == [
        ("新北区", D("0.9000")),
        ("武进区", D("0.9812")),
    ]


def test_each_export_holds_the_numbers_of_the_page(client, world):
    user = world.fortune.staff(Role.COUNTY_APPROVER)
    county = world.fortune.county
    _client(client, user)
    current = measures.month_measures(user=user, region=county, month=OCT)
    kids = measures.children(user=user, region=county, month=OCT)
    months = measures.trend(user=user, region=county, first=dt.date(2025, 11, 1), last=OCT)

    coverage = _xlsx_rows(_get(client, month="2026-10", format="xlsx", table="coverage"))
    assert coverage[0][0].endswith("2026年10月 参保率")
    assert coverage[1] == ("区划代码", "区划名称", "应参保人数", "参保人数", "参保率", "目标参保率", "达标")
    expected = [(place, item) for place, item in kids] + [(county, current)]
    assert [row[:5] for row in coverage[2:5]] == [
        (place.code, place.name, item.should_insure, item.insured, _pct(item.coverage)) for place, item in expected
    ]
    assert coverage[4][4] == 0.9812

    renewal = _xlsx_rows(_get(client, month="2026-10", format="xlsx", table="renewal"))
    assert [row[4] for row in renewal[2:5]] == [_pct(item.renewal_young) for _place, item in expected]
    assert [row[7] for row in renewal[2:5]] == [_pct(item.renewal_old) for _place, item in expected]

    trend = _xlsx_rows(_get(client, month="2026-10", format="xlsx", table="trend"))
    assert [(row[0], row[1], D(str(row[4]))) for row in trend[2:14]] == [
        (f"{item.month:%Y-%m}", item.new_members, item.contribution_income) for item in months
    ]

    payout = _xlsx_rows(_get(client, month="2026-10", format="xlsx", table="payout"))
    last = payout[13]
    assert last[:5] == ("2026-10", 600, 600, 598, 0.9967)
    assert (D(str(last[5])), D(str(last[6])), D(str(last[7]))) == (D("90000"), D("12000.25"), D("102000.25"))

    errors = _xlsx_rows(_get(client, month="2026-10", format="xlsx", table="errors"))
    assert errors[13] == ("2026-10", 2000, 3, 1.5, 1)  # ‰, as the page shows it
    assert errors[2][3] is None  # no applications in 2025-11: no rate

    ranking = _xlsx_rows(_get(client, month="2026-10", format="xlsx", table="ranking"))
    assert ranking[2:4] == [
        (1, "320412102000", "牛塘镇", 0.982, 1, 0.98),
        (2, "320412101000", "湖塘镇", 0.9807, 2, 0.792),
    ]


def test_an_unknown_table_or_one_the_page_does_not_show_answers_404(client, world):
    agent = world.fortune.staff(Role.VILLAGE_AGENT)
    _client(client, agent)
    assert _get(client, month="2026-10", format="xlsx", table="nonsense").status_code == 404
    assert (
        _get(client, month="2026-10", format="xlsx", table="ranking").status_code == 404
    )  # a village ranks nothing below it
    assert _get(client, month="2026-10", format="xlsx", table="funds").status_code == 404  # no fund for a village agent
    assert _get(client, month="2026-10", format="xlsx", table="coverage").status_code == 200


# --- targets -------------------------------------------------------------------------------------------------------


def test_a_target_draws_its_line_and_shows_progress(client, world):
    # given: the county's 2026 targets and one for 湖塘镇
    city_supervisor = world.fortune.staff(Role.CITY_SUPERVISOR)
    Target.objects.create(
        region=world.fortune.county, year=2026, new_members=100, renewals=300, coverage_rate=D("0.9800"),
        payout_rate=D("1.0000"), set_by=city_supervisor,
    )  # fmt: skip
    Target.objects.create(region=world.fortune.township, year=2026, coverage_rate=D("0.9850"), set_by=city_supervisor)
    Target.objects.create(region=world.fortune.county, year=2025, coverage_rate=D("0.5000"), set_by=city_supervisor)

    response = _get(_client(client, world.fortune.staff(Role.COUNTY_APPROVER)), month="2026-10")

    # then: the chart's target line, the table's target column and the year's progress
    assert _chart_data(response)["coverage_target"] == "98.00"
    assert _table_rows(response, "coverage") == [
        ["320412101000", "湖塘镇", "3000", "2942", "98.07%", "98.50%", "否"],
        ["320412102000", "牛塘镇", "2000", "1964", "98.20%", "—", "—"],
        ["320412000000", "武进区", "5000", "4906", "98.12%", "98.00%", "是"],
    ]
    progress = {item.label: item for item in response.context["board"].progress}
    # new members this year: 40 in March + 2 in September + 10 in October = 52 of 100
    assert (progress["新增参保（本年累计）"].done, progress["新增参保（本年累计）"].remark) == ("52", "52.00%")
    assert (progress["续保人数（本年）"].done, progress["续保人数（本年）"].target) == ("247", "300")
    assert (progress["参保率"].done, progress["参保率"].remark) == ("98.12%", "已达标")
    assert (progress["发放率"].done, progress["发放率"].remark) == ("99.67%", "差0.33个百分点")
    assert "2026年度目标任务完成情况" in response.content.decode()


# --- funds ---------------------------------------------------------------------------------------------------------


def _movement(line: RegionLine, account: str, fund: str, amount: str, day: dt.date, key: str) -> None:
    movement_post(
        pooling_region=line.pooling_region, account_kind=account, fund=fund, kind=MovementKind.TRANSFER_IN,
        amount=D(amount), booked_on=day, reference=key, idempotency_key=f"dash-test:{key}",
    )  # fmt: skip


@pytest.fixture
def funds(world):
    bp, ia = Fund.BASIC_PENSION, Fund.INDIVIDUAL_ACCOUNT
    fiscal, spend, income = FundAccountKind.FISCAL, FundAccountKind.EXPENDITURE, FundAccountKind.INCOME
    _movement(world.fortune, fiscal, bp, "100000.00", dt.date(2026, 10, 5), "a1")
    _movement(world.fortune, fiscal, bp, "-90000.00", dt.date(2026, 10, 10), "a2")
    _movement(world.fortune, spend, bp, "90000.00", dt.date(2026, 10, 10), "a3")
    _movement(world.fortune, spend, bp, "-89000.00", dt.date(2026, 10, 20), "a4")
    _movement(world.fortune, income, ia, "3000.50", dt.date(2026, 10, 20), "a5")
    _movement(world.fortune, fiscal, bp, "5000.00", dt.date(2026, 11, 3), "a6")  # after October's end
    _movement(world.north, income, ia, "300.00", dt.date(2026, 10, 15), "b1")
    _movement(world.foreign, fiscal, bp, "777777.77", dt.date(2026, 10, 15), "f1")
    # the nightly job's balances at October's end, which the page reads
    fund_balances_summarize(month=dt.date(2026, 10, 1), today=dt.date(2026, 11, 20))
    return world


def test_city_supervisor_sees_the_balances_of_each_pooling_region_by_account(client, funds):
    world = funds
    user = world.fortune.staff(Role.CITY_SUPERVISOR)
    response = _get(_client(client, user), month="2026-10")

    page = response.context["board"]
    assert [block.pooling_region for block in page.funds] == [world.north.pooling_region, world.fortune.pooling_region]
    # the funds app's own balances, as of October's end (the November receipt not yet)
    for block in page.funds:
        assert covers_pooling_region(user, block.pooling_region)
        assert block == fund_balances(pooling_region=block.pooling_region, on=dt.date(2026, 10, 31))
    wujin = page.funds[1]
    assert (wujin.of(FundAccountKind.INCOME).total, wujin.of(FundAccountKind.EXPENDITURE).total) == (
        D("3000.50"),
        D("1000.00"),
    )
    assert wujin.of(FundAccountKind.FISCAL).total == D("10000.00")
    rows = _table_rows(response, "funds")
    assert rows[4:] == [
        ["统筹区320412", "收入户", "3,000.50", "0.00", "3,000.50"],
        ["统筹区320412", "支出户", "0.00", "1,000.00", "1,000.00"],
        ["统筹区320412", "财政专户", "0.00", "10,000.00", "10,000.00"],
        ["统筹区320412", "合计", "3,000.50", "11,000.00", "14,000.50"],
    ]
    data = _chart_data(response)["funds"]
    assert data["regions"] == ["统筹区320411", "统筹区320412"]
    assert data["accounts"][2] == {"name": "财政专户", "data": ["0.00", "10000.00"]}
    assert "777,777.77" not in response.content.decode()
    exported = _xlsx_rows(_get(client, month="2026-10", format="xlsx", table="funds"))
    assert exported[9][:2] == ("统筹区320412", "合计") and D(str(exported[9][4])) == D("14000.50")


def test_a_pooling_region_with_a_place_outside_the_county_is_not_the_countys(client, funds):
    world = funds
    # given: 罗溪镇 of 新北区 moved into 武进区's pooling region
    world.north.township.pooling_region = world.fortune.pooling_region
    world.north.township.save()

    county = _get(_client(client, world.fortune.staff(Role.COUNTY_FUND_OFFICER)), month="2026-10")
    assert county.context["board"].funds == []
    assert "dash-funds" not in county.content.decode()
    city = _get(_client(client, world.fortune.staff(Role.CITY_SUPERVISOR)), month="2026-10")
    assert len(city.context["board"].funds) == 2


def test_township_and_village_staff_see_no_fund(client, funds):
    for user in (funds.fortune.staff(Role.TOWNSHIP_CLERK), funds.fortune.staff(Role.VILLAGE_AGENT)):
        response = _get(_client(client, user), month="2026-10")
        assert response.context["board"].funds == []
        assert _chart_data(response)["funds"]["regions"] == []


# --- scope and the breadcrumb --------------------------------------------------------------------------------------


def test_a_township_clerk_reads_only_their_township(client, funds):
    world = funds
    clerk = world.fortune.staff(Role.TOWNSHIP_CLERK)
    _client(client, clerk)

    # asking for the county, another township, their village or a foreign region
    assert _get(client, region=world.fortune.county.code).status_code == 404
    assert _get(client, region=world.red_star.township.code).status_code == 404
    assert _get(client, region=world.red_star.village.code, format="xlsx", table="coverage").status_code == 404
    assert _get(client, region=world.foreign.village.code).status_code == 404
    assert _get(client, region=world.fortune.city.code).status_code == 404
    assert _get(client, region="999999999999").status_code == 404
    assert _get(client, region=world.unity.village.code, month="2026-10").status_code == 200

    # their own page, its chart data and every export: nothing of 牛塘镇, 新北区 or 苏州
    page = _get(client, month="2026-10")
    assert page.context["board"].region == world.fortune.township
    assert [place.name for place, _item in page.context["board"].children] == ["幸福村", "团结村"]
    assert _chart_data(page)["places"]["names"] == ["幸福村", "团结村"]
    texts = [page.content.decode()]
    for key in board.TABLES:
        export = _get(client, month="2026-10", format="xlsx", table=key)
        if export.status_code == 200:
            texts.append(repr(_xlsx_rows(export)))
        else:
            assert key in ("funds",) and export.status_code == 404
    for text in texts:
        for marker in (
            "牛塘镇",
            "红星村",
            "320412102",
            "600.5",
            "2,000.25",
            "新北区",
            "向阳村",
            "境外",
            "8888.88",
            "苏州",
        ):
            assert marker not in text, marker
    assert "2,400.00" in texts[0]  # 湖塘镇's own income: 1,500.00 + 900.00


def test_breadcrumb_stops_at_the_users_own_level(client, world):
    village = world.fortune.village.code

    def crumbs(user, code=village):
        response = _get(_client(client, user), region=code, month="2026-10")
        return [crumb.region.name for crumb in response.context["board"].breadcrumb]

    assert crumbs(world.fortune.staff(Role.CITY_SUPERVISOR)) == ["常州市", "武进区", "湖塘镇", "幸福村"]
    assert crumbs(world.fortune.staff(Role.COUNTY_CLERK)) == ["武进区", "湖塘镇", "幸福村"]
    assert crumbs(world.fortune.staff(Role.TOWNSHIP_CLERK)) == ["湖塘镇", "幸福村"]
    assert crumbs(world.fortune.staff(Role.VILLAGE_AGENT)) == ["幸福村"]
    assert crumbs(world.fortune.staff(Role.COUNTY_CLERK), world.fortune.county.code) == ["武进区"]
    # the page links up only as far as the user's own region
    body = _get(_client(client, world.fortune.staff(Role.TOWNSHIP_CLERK)), region=village).content.decode()
    assert f"region={world.fortune.county.code}" not in body


def test_a_village_agent_starts_at_their_village_with_its_own_figures(client, world):
    response = _get(_client(client, world.fortune.staff(Role.VILLAGE_AGENT)), month="2026-10")
    page = response.context["board"]
    assert page.region == world.fortune.village
    assert page.children == [] and page.child_links == []
    assert [section.key for section in page.sections] == ["coverage", "renewal", "trend", "payout", "errors"]
    data = _chart_data(response)
    assert data["places"] == {
        "names": ["幸福村"],
        "links": [""],
        "coverage": ["98.10"],
        "young": ["80.00"],
        "old": ["100.00"],
    }


def test_staff_without_an_agency_are_refused_and_strangers_sent_to_log_in(client, world):
    assert client.get(URL).status_code == 302
    nobody = UserFactory(username="no_agency")
    _client(client, nobody)
    assert client.get(URL).status_code == 403
    assert _get(client, region=world.fortune.county.code).status_code == 404


def test_the_nav_links_to_the_dashboard(client, world):
    response = _get(_client(client, world.fortune.staff(Role.COUNTY_CLERK)))
    assert f'href="{reverse("portal:dashboard")}"' in response.content.decode()


# --- the month -----------------------------------------------------------------------------------------------------


def test_the_month_defaults_to_the_running_one_and_a_bad_month_is_said_next_to_the_picker(client, world):
    from django.utils import timezone

    running = f"{timezone.localdate():%Y-%m}"
    _client(client, world.fortune.staff(Role.COUNTY_CLERK))
    assert _get(client).context["month_value"] == running

    for bad, message in (("2026-13", "月份格式应为"), ("abc", "月份格式应为"), ("2999-01", "尚未开始")):
        response = _get(client, month=bad)
        assert response.status_code == 200
        assert response.context["month_value"] == running
        assert message in response.context["month_error"]
        assert 'id="dash-month-error"' in response.content.decode()


def test_parse_month():
    today = dt.date(2026, 12, 7)
    assert board.parse_month("2026-3", today=today) == dt.date(2026, 3, 1)
    assert board.parse_month("", today=today) == dt.date(2026, 12, 1)
    assert board.add_months(dt.date(2026, 10, 1), -11) == dt.date(2025, 11, 1)
    assert board.add_months(dt.date(2026, 12, 1), 1) == dt.date(2027, 1, 1)


# --- queries -------------------------------------------------------------------------------------------------------


def _city_of(villages_per_township: int, townships: int, counties: int) -> Region:
    line = None
    for county in range(counties):
        code = f"3204{11 + county:02d}"
        for township in range(townships):
            for village in range(villages_per_township):
                line = region_line(code, f"{101 + township}", f"{201 + village}")
                if not MonthlySummary.objects.filter(region_code=line.village.code).exists():
                    summary(line.village.code, OCT, should_insure=100, insured=99, contribution_income=D("10.00"))
                    summary(line.village.code, SEP, should_insure=100, insured=98)
                    if not SummaryRun.objects.filter(month=OCT).exists():
                        SummaryRun.objects.create(month=OCT, finished_at=timezone.now())
                Target.objects.get_or_create(
                    region=line.township, year=2026, defaults={"coverage_rate": D("0.98"), "set_by": _setter()}
                )
        movement_post(
            pooling_region=line.pooling_region, account_kind=FundAccountKind.INCOME, fund=Fund.INDIVIDUAL_ACCOUNT,
            kind=MovementKind.DEDUCTION, amount=D("10.00"), booked_on=dt.date(2026, 10, 3), reference=code,
            idempotency_key=f"dash-q:{code}",
        )  # fmt: skip
    return line


def _setter():
    return UserFactory(username="target_setter")


def _queries(client, user) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = _get(client, month="2026-10")
    assert response.status_code == 200
    return len(captured)


def test_the_page_makes_the_same_few_queries_for_2_or_10_villages(client, django_assert_max_num_queries):
    # given: a city of one county, one township and two villages
    small = _city_of(villages_per_township=2, townships=1, counties=1)
    user = small.staff(Role.CITY_SUPERVISOR)
    _client(client, user)
    with django_assert_max_num_queries(14):  # with whether the month is summarized and merged pooling regions
        assert _get(client, month="2026-10").status_code == 200
    few = _queries(client, user)

    # when: it grows to five counties (five pooling regions), five townships and ten villages
    _city_of(villages_per_township=2, townships=1, counties=5)
    assert Region.objects.filter(code__startswith="3204", level="village").count() == 10
    many = _queries(client, user)

    # then: the same queries
    assert many == few
    with django_assert_max_num_queries(14):  # with whether the month is summarized and merged pooling regions
        response = _get(client, month="2026-10")
    assert len(response.context["board"].funds) == 5
    assert len(response.context["board"].children) == 5


# --- a month the nightly run has not summarized yet ------------------------------------------------------------


def test_a_month_not_summarized_yet_shows_no_figures_but_says_so(client, world):
    # given: November has summaries rows left by an unfinished run only (no finished SummaryRun)
    nov = dt.date(2026, 11, 1)
    summary("320412101201", nov, should_insure=2000, insured=1970)
    SummaryRun.objects.create(month=nov)  # started, never finished
    user = world.fortune.staff(Role.CITY_SUPERVISOR)

    # when
    response = _get(_client(client, user), month="2026-11")

    # then: the notice, no cards, no tables, no charts (never a page of zeros)
    page = response.context["board"]
    assert page.summarized is False
    assert (page.cards, page.sections, page.funds) == ([], [], [])
    html = response.content.decode()
    assert "本月数据尚未汇总（每晚汇总）" in html
    assert 'id="dash-cards"' not in html and "data-chart" not in html and "dash-data" not in html
    assert _get(client, month="2026-11", format="xlsx", table="coverage").status_code == 404
    # and October, summarized, still shows its figures
    october = _get(client, month="2026-10").context["board"]
    assert october.summarized is True and october.cards


def test_the_running_months_fund_balances_are_labelled_as_of_the_last_nightly_run(funds):
    # given: November 2026 is the running month and last night's run summarized it
    nov = dt.date(2026, 11, 1)
    fund_balances_summarize(month=nov, today=dt.date(2026, 11, 19))
    SummaryRun.objects.create(month=nov, finished_at=timezone.now())
    user = funds.fortune.staff(Role.CITY_SUPERVISOR)

    # when
    running = board.dashboard(user=user, region=funds.fortune.city, month=nov, today=dt.date(2026, 11, 20))
    past = board.dashboard(user=user, region=funds.fortune.city, month=OCT, today=dt.date(2026, 11, 20))

    # then: the running month says whose figures they are; a past month its own end
    assert running.table("funds").note.startswith("截至最近一次夜间汇总，")
    assert past.table("funds").note.startswith("截至2026-10-31，")
