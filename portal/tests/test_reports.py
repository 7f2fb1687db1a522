"""The monthly report set (五套业务报表): each workbook opened and read back, figures computed by hand; the
enrolment, contributions and benefits reports agree with ``portal.measures`` cell for cell; producing again keeps
one file; scope (another township's or county's reports answer 404 and show nothing of theirs)."""

import datetime as dt
import io
import logging
import re
from decimal import Decimal

import pytest
from django.core.files.storage import default_storage
from django.http import Http404
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from agencies.errors import DomainError, NotPermitted
from agencies.models import RegionLevel, Role
from agencies.tests.factories import PoolingRegionFactory, RegionFactory, region_line
from enrollment.tests.factories import make_person
from funds.fund_accounts import FINANCE, movement_post
from funds.models import Component, EntryKind, Fund, FundAccountKind, IndividualAccount, LedgerEntry, MovementKind
from funds.services import Posting, account_open, ledger_post, ledger_reverse
from portal import dashboard, measures, reports
from portal.models import FundBalanceSummary, MonthlySummary, ReportFile, ReportSet, SummaryRun
from portal.summaries import fund_balances_summarize

pytestmark = pytest.mark.django_db

D = Decimal
MARCH = dt.date(2025, 3, 1)
TODAY = dt.date(2025, 4, 8)


# --- places, people and figures ------------------------------------------------------------------------------------


@pytest.fixture
def places():
    """County 320412 with townships 101 (villages 201, 202) and 102 (village 201); county 320411 beside it,
    in the same city 3204."""
    line = region_line()
    village_2 = RegionFactory(code="320412101202", name="二村", level=RegionLevel.VILLAGE, parent=line.township)
    township_2 = RegionFactory(code="320412102000", name="二镇", level=RegionLevel.TOWNSHIP, parent=line.county)
    village_3 = RegionFactory(code="320412102201", name="三村", level=RegionLevel.VILLAGE, parent=township_2)
    foreign = region_line(county="320411")
    # March 2025 was summarized by its nightly run (the reports refuse a month that was not)
    SummaryRun.objects.create(month=MARCH, finished_at=timezone.now())
    return {
        "line": line,
        "village_2": village_2,
        "township_2": township_2,
        "village_3": village_3,
        "foreign": foreign,
    }


def summary(code: str, month: dt.date, **fields) -> MonthlySummary:
    return MonthlySummary.objects.create(region_code=code, month=month, **fields)


@pytest.fixture
def summaries(places):
    line, foreign = places["line"], places["foreign"]
    village_1, village_2, village_3 = line.village.code, places["village_2"].code, places["village_3"].code
    summary(village_1, dt.date(2025, 1, 1), payers=10, contribution_income=D("2000.00"))
    summary(village_1, dt.date(2025, 2, 1), payers=5, contribution_income=D("1500.00"))
    summary(
        village_1,
        MARCH,
        insured=100,
        recipients=20,
        should_insure=110,
        new_members=3,
        cancelled=1,
        payers=4,
        contribution_income=D("1200.00"),
        renewal_due_young=40,
        renewal_paid_young=30,
        renewal_due_old=25,
        renewal_paid_old=25,
        payroll_lines=20,
        payroll_paid=19,
        basic_pension=D("4460.00"),
        account_pension=D("1234.56"),
    )
    summary(
        village_2,
        MARCH,
        insured=50,
        recipients=10,
        should_insure=50,
        new_members=1,
        payers=2,
        contribution_income=D("600.00"),
        renewal_due_young=10,
        renewal_paid_young=5,
        renewal_due_old=10,
        renewal_paid_old=9,
        payroll_lines=10,
        payroll_paid=10,
        basic_pension=D("2230.00"),
        account_pension=D("555.55"),
    )
    summary(village_3, dt.date(2025, 1, 1), payers=7, contribution_income=D("700.00"))
    summary(
        village_3,
        MARCH,
        insured=80,
        recipients=15,
        should_insure=100,
        payroll_lines=15,
        payroll_paid=15,
        basic_pension=D("3345.00"),
    )
    # Last year's figures and the neighbouring county's never enter these reports.
    summary(village_1, dt.date(2024, 12, 1), payers=99, contribution_income=D("9900.00"))
    summary(foreign.village.code, MARCH, insured=999, should_insure=999, payers=999, contribution_income=D("99999.00"))
    return places


def rows_of(kept: ReportFile) -> tuple[list[tuple], list[tuple]]:
    """The sheet's rows as values: (the four lines above the data, the data rows and what follows)."""
    with kept.file.open("rb") as handle:
        book = load_workbook(io.BytesIO(handle.read()))
    values = list(book.active.iter_rows(values_only=True))
    return values[:4], values[4:]


def num(value) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def data_rows(rows: list[tuple]) -> list[tuple]:
    """The rows of places and the 合计 row (those with a code in column B)."""
    return [row for row in rows if isinstance(row[1], str) and row[1].isdigit()]


# --- 1: enrolment -------------------------------------------------------------------------------------------------


def test_enrolment_report_layout_and_figures_by_hand(summaries):
    line = summaries["line"]
    clerk = line.staff(Role.COUNTY_CLERK)
    # when the county clerk produces March's enrolment report of the county
    kept = reports.report_produce(
        actor=clerk, region=line.county, month=dt.date(2025, 3, 17), report_set=ReportSet.ENROLMENT, today=TODAY
    )
    head, body = rows_of(kept)
    # then the title, the period, the unit and who fills it in
    assert head[0][0] == "市3204县320412城乡居民基本养老保险参保情况报表"
    assert "填报单位：县320412经办机构" in head[1]
    assert "统计期：2025年03月" in head[1]
    assert head[1][-1] == "单位：人、元"
    # two header rows: 参保人数 over its three columns
    assert head[2][:4] == ("地区", "区划代码", "应参保人数", "参保人数")
    assert head[3][3:6] == ("合计", "其中：本年缴费人数", "其中：领取待遇人数")
    assert head[2][6:] == ("参保率", "本月新增参保", "本月注销")
    # one row per township, then 合计: 101 = villages 201 + 202; payers this year 10 + 5 + 4 + 2 = 21
    rows = data_rows(body)
    assert [(row[0], row[1]) for row in rows] == [
        ("镇320412101", "320412101000"),
        ("二镇", "320412102000"),
        ("合计", "320412000000"),
    ]
    assert rows[0][2:6] == (160, 150, 21, 30)
    assert num(rows[0][6]) == D("0.9375")  # 150 / 160
    assert rows[0][7:] == (4, 1)
    assert rows[1][2:6] == (100, 80, 7, 15)
    assert num(rows[1][6]) == D("0.8")
    assert rows[2][2:6] == (260, 230, 28, 45)
    assert num(rows[2][6]) == D("0.8846")  # 230 / 260 = 0.88461…
    assert rows[2][7:] == (4, 1)
    footer = [row[0] for row in body if row[0] and str(row[0]).startswith("单位负责人：")]
    assert len(footer) == 1
    assert "填表人：王" in footer[0] and "填报日期：2025年04月08日" in footer[0]


def test_enrolment_report_equals_the_measures(summaries):
    line = summaries["line"]
    clerk = line.staff(Role.COUNTY_CLERK)
    kept = reports.report_produce(
        actor=clerk, region=line.county, month=MARCH, report_set=ReportSet.ENROLMENT, today=TODAY
    )
    rows = data_rows(rows_of(kept)[1])
    shown = [*measures.children(user=clerk, region=line.county, month=MARCH)]
    shown.append((line.county, measures.month_measures(user=clerk, region=line.county, month=MARCH)))
    assert len(rows) == len(shown)
    for row, (region, m) in zip(rows, shown, strict=True):
        assert row[1] == region.code
        assert (row[2], row[3], row[5], row[7], row[8]) == (
            m.should_insure,
            m.insured,
            m.recipients,
            m.new_members,
            m.cancelled,
        )
        assert num(row[6]) == m.coverage
    # this year's payers are the measures' monthly payers added up, January to March
    year = measures.trend(user=clerk, region=line.county, first=dt.date(2025, 1, 1), last=MARCH)
    assert rows[-1][4] == sum(m.payers for m in year)


# --- 2: contributions ----------------------------------------------------------------------------------------------


def test_contributions_report_month_and_year_to_date_and_renewal(summaries):
    line = summaries["line"]
    clerk = line.staff(Role.COUNTY_CLERK)
    kept = reports.report_produce(
        actor=clerk, region=line.county, month=MARCH, report_set=ReportSet.CONTRIBUTIONS, today=TODAY
    )
    head, body = rows_of(kept)
    assert head[0][0] == "市3204县320412城乡居民基本养老保险缴费情况报表"
    assert head[2][2:6] == ("缴费人数", None, "个人缴费收入", None)
    assert head[3][2:6] == ("本月", "本年累计", "本月", "本年累计")
    assert head[2][6] == "16-44岁续保" and head[2][9] == "45-59岁续保"
    assert head[3][6:9] == ("应续保人数", "已续保人数", "续保率")
    township, township_2, total = data_rows(body)
    # township 101: March 4 + 2 payers, 1,200 + 600; this year also January's 10 (2,000) and February's 5 (1,500)
    assert township[2:4] == (6, 21)
    assert (num(township[4]), num(township[5])) == (D("1800"), D("5300"))
    # renewal 16-44: 30 + 5 of 40 + 10 = 70%; 45-59: 25 + 9 of 25 + 10 = 97.14%
    assert township[6:8] == (50, 35) and num(township[8]) == D("0.7")
    assert township[9:11] == (35, 34) and num(township[11]) == D("0.9714")
    assert township[12] == 69
    # township 102 paid nothing in March but 7 (700) in January; nobody due to renew: no rate
    assert township_2[2:4] == (0, 7)
    assert (num(township_2[4]), num(township_2[5])) == (D("0"), D("700"))
    assert township_2[8] is None and township_2[11] is None
    assert total[2:4] == (6, 28)
    assert (num(total[4]), num(total[5])) == (D("1800"), D("6000"))
    # and the figures are the measures'
    m = measures.month_measures(user=clerk, region=line.county, month=MARCH)
    assert (total[2], num(total[4]), total[6], total[7], num(total[8]), total[12]) == (
        m.payers,
        m.contribution_income,
        m.renewal_due_young,
        m.renewal_paid_young,
        m.renewal_young,
        m.renewals,
    )
    year = measures.trend(user=clerk, region=line.county, first=dt.date(2025, 1, 1), last=MARCH)
    assert num(total[5]) == sum(item.contribution_income for item in year)


# --- 3: benefits ---------------------------------------------------------------------------------------------------


def test_benefits_report_payout_and_money(summaries):
    line = summaries["line"]
    clerk = line.staff(Role.COUNTY_CLERK)
    kept = reports.report_produce(
        actor=clerk, region=line.county, month=MARCH, report_set=ReportSet.BENEFITS, today=TODAY
    )
    head, body = rows_of(kept)
    assert head[0][0] == "市3204县320412城乡居民基本养老保险待遇发放报表"
    assert head[2][2:] == ("领取待遇人数", "本月发放", None, None, "发放金额", None, None)
    assert head[3][3:] == ("应发人数", "已发人数", "发放率", "基础养老金", "个人账户养老金", "合计")
    township, township_2, total = data_rows(body)
    assert township[2:5] == (30, 30, 29)
    assert num(township[5]) == D("0.9667")  # 29 / 30
    assert [num(v) for v in township[6:9]] == [D("6690"), D("1790.11"), D("8480.11")]
    assert township_2[2:5] == (15, 15, 15) and num(township_2[5]) == D("1")
    assert total[2:5] == (45, 45, 44) and num(total[5]) == D("0.9778")  # 44 / 45
    assert [num(v) for v in total[6:9]] == [D("10035"), D("1790.11"), D("11825.11")]
    for row, (_region, m) in zip(
        data_rows(body), [*measures.children(user=clerk, region=line.county, month=MARCH)], strict=False
    ):
        assert (row[2], row[3], row[4], num(row[5])) == (m.recipients, m.payroll_lines, m.payroll_paid, m.payout_rate)
        assert (num(row[6]), num(row[7]), num(row[8])) == (m.basic_pension, m.account_pension, m.pension_total)


def test_township_report_has_a_row_per_village(summaries):
    line = summaries["line"]
    supervisor = line.staff(Role.CITY_SUPERVISOR)
    kept = reports.report_produce(
        actor=supervisor, region=line.township, month=MARCH, report_set=ReportSet.BENEFITS, today=TODAY
    )
    head, body = rows_of(kept)
    assert head[0][0] == "市3204县320412镇320412101城乡居民基本养老保险待遇发放报表"
    assert [row[1] for row in data_rows(body)] == ["320412101201", "320412101202", "320412101000"]
    assert data_rows(body)[0][2:5] == (20, 20, 19)


# --- 4 and 5: the funds' books and the individual accounts -----------------------------------------------------------


def post(account, component, kind, amount, on, key):
    [entry] = ledger_post(
        account=account,
        postings=[Posting(component, kind, D(amount))],
        booked_on=on,
        reference=key,
        idempotency_key=key,
    )
    return entry


def move(pooling_region, account_kind, fund, kind, amount, on, key, counterpart=""):
    movement_post(
        pooling_region=pooling_region,
        account_kind=account_kind,
        fund=fund,
        kind=kind,
        amount=D(amount),
        booked_on=on,
        reference=key,
        idempotency_key=key,
        counterpart=counterpart,
    )


@pytest.fixture
def books(places):
    """Individual accounts and fund movements of county 320412's pooling region in 2025 (and one abroad)."""
    line, village_2 = places["line"], places["village_2"]
    day = dt.date
    a = account_open(person=make_person(line.village, name="甲"), opened_on=day(2024, 12, 1))
    post(a, Component.PERSONAL, EntryKind.CONTRIBUTION, "800", day(2024, 12, 31), "a0")
    post(a, Component.PERSONAL, EntryKind.CONTRIBUTION, "500", day(2025, 1, 10), "a1")
    subsidy = post(a, Component.GOVERNMENT_SUBSIDY, EntryKind.SUBSIDY, "60", day(2025, 1, 10), "a2")
    post(a, Component.INTEREST, EntryKind.INTEREST, "12.34", day(2025, 2, 28), "a3")
    post(a, Component.PERSONAL, EntryKind.CONTRIBUTION, "300", day(2025, 3, 5), "a4")
    post(a, Component.COLLECTIVE, EntryKind.COLLECTIVE, "50", day(2025, 3, 5), "a5")
    post(a, Component.DONATION, EntryKind.DONATION, "20", day(2025, 3, 5), "a6")
    post(a, Component.GOVERNMENT_PAID, EntryKind.GOVERNMENT_PAID, "100", day(2025, 3, 5), "a7")
    post(a, Component.PERSONAL, EntryKind.TRANSFER_IN, "1000", day(2025, 3, 5), "a8")
    post(a, Component.PERSONAL, EntryKind.PENSION, "-100", day(2025, 3, 15), "a9")
    ledger_reverse(entry=subsidy, booked_on=day(2025, 3, 21), reason="误记")
    post(a, Component.PERSONAL, EntryKind.REFUND, "-200", day(2025, 3, 25), "a10")
    post(a, Component.PERSONAL, EntryKind.TRANSFER_OUT, "-150", day(2025, 3, 28), "a11")
    b = account_open(person=make_person(village_2, name="乙"), opened_on=day(2025, 3, 10))
    post(b, Component.PERSONAL, EntryKind.CONTRIBUTION, "400", day(2025, 3, 10), "b1")
    c = account_open(person=make_person(village_2, name="丙"), opened_on=day(2024, 1, 1))
    post(c, Component.PERSONAL, EntryKind.CONTRIBUTION, "100", day(2024, 6, 1), "c1")
    post(c, Component.PERSONAL, EntryKind.REFUND, "-100", day(2025, 2, 28), "c2")
    IndividualAccount.objects.filter(pk=c.pk).update(closed_on=day(2025, 2, 28))
    d = account_open(person=make_person(line.village, name="丁"), opened_on=day(2025, 4, 2))
    post(d, Component.PERSONAL, EntryKind.CONTRIBUTION, "999", day(2025, 4, 2), "d1")

    pool = line.pooling_region
    inc, exp, fis = FundAccountKind.INCOME, FundAccountKind.EXPENDITURE, FundAccountKind.FISCAL
    ia, bp = Fund.INDIVIDUAL_ACCOUNT, Fund.BASIC_PENSION
    move(pool, inc, ia, MovementKind.DEDUCTION, "500", day(2025, 1, 10), "m1")
    move(pool, fis, bp, MovementKind.TRANSFER_IN, "8000", day(2025, 2, 1), "m2", FINANCE)
    move(pool, fis, bp, MovementKind.FUNDING_OUT, "-7000", day(2025, 2, 10), "m3")
    move(pool, exp, bp, MovementKind.FUNDING_IN, "7000", day(2025, 2, 10), "m4")
    move(pool, exp, bp, MovementKind.PAYOUT, "-2500", day(2025, 2, 20), "m5")
    move(pool, fis, bp, MovementKind.TRANSFER_IN, "5000", day(2025, 3, 2), "m6", FINANCE)
    move(pool, fis, ia, MovementKind.TRANSFER_IN, "160", day(2025, 3, 2), "m7", FINANCE)
    move(pool, exp, bp, MovementKind.PAYOUT, "-3000", day(2025, 3, 20), "m8")
    move(pool, exp, ia, MovementKind.PAYOUT, "-100", day(2025, 3, 20), "m9")
    move(pool, exp, bp, MovementKind.PAYOUT, "-900", day(2025, 4, 20), "m10")  # after March: never in it

    foreign = places["foreign"]
    f = account_open(person=make_person(foreign.village, name="境外戊"), opened_on=day(2025, 1, 1))
    post(f, Component.PERSONAL, EntryKind.CONTRIBUTION, "777", day(2025, 3, 5), "f1")
    move(foreign.pooling_region, exp, bp, MovementKind.PAYOUT, "-1234", day(2025, 3, 20), "f2")
    # the nightly run's balances at March's end, which the report and the dashboard read
    fund_balances_summarize(month=MARCH, today=TODAY)
    return places


def fund_lines(kept: ReportFile) -> dict[str, tuple]:
    head, body = rows_of(kept)
    return {str(row[0]).strip(): row[2:] for row in body if isinstance(row[1], int)}


def test_fund_report_income_expenditure_and_balances_by_hand(books):
    line = books["line"]
    officer = line.staff(Role.COUNTY_FUND_OFFICER)
    kept = reports.report_produce(
        actor=officer, region=line.county, month=MARCH, report_set=ReportSet.FUND, today=TODAY
    )
    head, body = rows_of(kept)
    assert head[0][0] == "市3204县320412城乡居民基本养老保险基金收支报表"
    assert head[2][:3] == ("项目", "行次", "统筹区320412")
    assert head[3][2:] == ("本月数", "本年累计数")
    lines = {label: tuple(num(v) for v in values) for label, values in fund_lines(kept).items()}
    # contributions from the ledger: March 300 + 400; the year also January's 500 (December 2024's 800 is last year)
    assert lines["个人缴费收入"] == (D("700"), D("1200"))
    # government: March 代缴 100, January's 60 subsidy reversed (−60), finance's basic-pension money 5,000;
    # the year: 60 + 100 − 60 + 8,000 + 5,000. Finance's 160 for the accounts is the subsidies already counted.
    assert lines["政府补贴收入"] == (D("5040"), D("13100"))
    assert lines["集体补助及社会资助收入"] == (D("70"), D("70"))
    assert lines["利息收入"] == (D("0"), D("12.34"))
    assert lines["转移收入"] == (D("1000"), D("1000"))
    assert lines["一、基金收入合计"] == (D("6810"), D("15382.34"))
    # payouts by fund from the expenditure account; refunds and transfers from the ledger
    assert lines["基础养老金支出"] == (D("3000"), D("5500"))
    assert lines["个人账户养老金支出"] == (D("100"), D("100"))
    assert lines["退费及继承支出"] == (D("200"), D("300"))
    assert lines["转移支出"] == (D("150"), D("150"))
    assert lines["二、基金支出合计"] == (D("3450"), D("6050"))
    assert lines["三、本期收支结余"] == (D("3360"), D("9332.34"))
    # balances at 31 March: income 500 (not swept); expenditure 7,000 − 2,500 − 3,000 − 100; fiscal 8,000 − 7,000
    # + 5,000 + 160; April's payout is not in them
    assert lines["收入户"] == (D("500"), None)
    assert lines["支出户"] == (D("1400"), None)
    assert lines["财政专户"] == (D("6160"), None)
    assert lines["四、期末基金专户余额"] == (D("8060"), None)
    assert [row[1] for row in body if isinstance(row[1], int)] == list(range(1, 17))


def test_fund_report_of_a_city_has_each_pooling_region_and_their_total(books):
    line = books["line"]
    supervisor = line.staff(Role.CITY_SUPERVISOR)
    kept = reports.report_produce(
        actor=supervisor, region=line.city, month=MARCH, report_set=ReportSet.FUND, today=TODAY
    )
    head, _body = rows_of(kept)
    assert head[2][2:] == ("统筹区320411", None, "统筹区320412", None, "合计", None)
    lines = {label: tuple(num(v) for v in values) for label, values in fund_lines(kept).items()}
    assert lines["个人缴费收入"][0::2] == (D("777"), D("700"), D("1477"))
    assert lines["基础养老金支出"][0::2] == (D("1234"), D("3000"), D("4234"))


def test_no_fund_report_for_a_township(books):
    line = books["line"]
    supervisor = line.staff(Role.CITY_SUPERVISOR)
    with pytest.raises(DomainError) as refused:
        reports.report_produce(actor=supervisor, region=line.township, month=MARCH, report_set=ReportSet.FUND)
    assert "乡镇" in refused.value.message and refused.value.field == "report_set"
    # all of a township's reports are the four others
    kept = reports.report_produce_all(actor=supervisor, region=line.township, month=MARCH, today=TODAY)
    assert sorted(k.report_set for k in kept) == sorted(
        [ReportSet.ENROLMENT, ReportSet.CONTRIBUTIONS, ReportSet.BENEFITS, ReportSet.ACCOUNTS]
    )


def test_accounts_report_balances_by_component_and_the_months_entries(books):
    line = books["line"]
    supervisor = line.staff(Role.CITY_SUPERVISOR)
    kept = reports.report_produce(
        actor=supervisor, region=line.township, month=MARCH, report_set=ReportSet.ACCOUNTS, today=TODAY
    )
    head, body = rows_of(kept)
    assert head[0][0] == "市3204县320412镇320412101城乡居民基本养老保险个人账户报表"
    top, labels = head[2], head[3]
    assert top[2:4] == ("账户数", "月初余额")
    assert top[4] == "本月记入" and top[12] == "本月支付" and top[19] == "冲正" and top[20] == "月末余额"
    assert labels[4:12] == ("个人缴费", "政府缴费补贴", "集体补助", "社会资助", "政府代缴", "记息", "转入", "小计")
    assert labels[12:19] == (
        "个人账户养老金支付",
        "转出",
        "退费",
        "继承支付",
        "冲抵多发待遇",
        "政府补助收回基金",
        "小计",
    )
    assert labels[20:] == ("个人缴费", "政府缴费补贴", "集体补助", "社会资助", "政府代缴", "利息", "合计")
    village_1, village_2, total = data_rows(body)
    values = [num(v) for v in village_1[3:]]
    # 甲: open; 丁 opened in April. Before March: 800 + 500 + 60 + 12.34
    assert village_1[2] == 1
    assert values[0] == D("1372.34")
    assert values[1:9] == [D("300"), D("0"), D("50"), D("20"), D("100"), D("0"), D("1000"), D("1470")]
    assert values[9:16] == [D("100"), D("150"), D("200"), D("0"), D("0"), D("0"), D("450")]
    assert values[16] == D("-60")  # January's subsidy reversed
    # personal 800 + 500 + 300 + 1,000 − 100 − 200 − 150; the subsidy gone; interest 12.34
    assert values[17:] == [D("2150"), D("0"), D("50"), D("20"), D("100"), D("12.34"), D("2332.34")]
    assert values[0] + values[8] - values[15] + values[16] == values[-1]
    # 乙 opened in March with 400; 丙 closed in February (refunded): not counted, nothing left
    assert village_2[2] == 1
    assert num(village_2[3]) == D("0") and num(village_2[4]) == D("400") and num(village_2[-1]) == D("400")
    assert total[2] == 2
    assert num(total[3]) == D("1372.34") and num(total[11]) == D("1870") and num(total[-1]) == D("2732.34")


def test_accounts_report_of_the_county_sums_its_townships(books):
    line = books["line"]
    clerk = line.staff(Role.COUNTY_CLERK)
    kept = reports.report_produce(actor=clerk, region=line.county, month=MARCH, report_set=ReportSet.ACCOUNTS)
    rows = data_rows(rows_of(kept)[1])
    assert [row[1] for row in rows] == ["320412101000", "320412102000", "320412000000"]
    assert (rows[0][2], num(rows[0][-1])) == (2, D("2732.34"))
    assert (rows[1][2], num(rows[1][-1])) == (0, D("0"))
    assert (rows[2][2], num(rows[2][-1])) == (2, D("2732.34"))  # the neighbouring county's 777 is not here


# --- keeping ---------------------------------------------------------------------------------------------------------


def stored_reports() -> list[str]:
    found = []

    def walk(folder):
        folders, files = default_storage.listdir(folder)
        found.extend(f"{folder}/{name}" for name in files)
        for sub in folders:
            walk(f"{folder}/{sub}")

    if default_storage.exists("reports"):
        walk("reports")
    return found


def test_producing_twice_keeps_one_file(summaries, django_capture_on_commit_callbacks):
    import hashlib

    line = summaries["line"]
    clerk = line.staff(Role.COUNTY_CLERK)
    first = reports.report_produce(actor=clerk, region=line.county, month=MARCH, report_set=ReportSet.ENROLMENT)
    old_name = first.file.name
    # when the month's figures change and the report is produced again
    MonthlySummary.objects.filter(region_code=line.village.code, month=MARCH).update(insured=101)
    with django_capture_on_commit_callbacks(execute=True):
        second = reports.report_produce(actor=clerk, region=line.county, month=MARCH, report_set=ReportSet.ENROLMENT)
    # then one row, pointing at the new file, whose digest is kept; the old file is gone
    assert ReportFile.objects.count() == 1
    assert second.pk == first.pk and second.file.name != old_name
    assert not default_storage.exists(old_name)
    assert stored_reports() == [second.file.name]
    with second.file.open("rb") as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == second.sha256
    assert data_rows(rows_of(second)[1])[0][3] == 151


def test_a_failed_switch_leaves_the_kept_report_and_no_stray_file(summaries, monkeypatch):
    line = summaries["line"]
    clerk = line.staff(Role.COUNTY_CLERK)
    first = reports.report_produce(actor=clerk, region=line.county, month=MARCH, report_set=ReportSet.ENROLMENT)

    def broken_save(self, *args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(ReportFile, "save", broken_save)
    with pytest.raises(RuntimeError):
        reports.report_produce(actor=clerk, region=line.county, month=MARCH, report_set=ReportSet.ENROLMENT)
    monkeypatch.undo()
    kept = ReportFile.objects.get()
    assert kept.file.name == first.file.name and kept.sha256 == first.sha256
    assert stored_reports() == [first.file.name]


def test_produce_all_gives_the_five(books):
    line = books["line"]
    clerk = line.staff(Role.COUNTY_CLERK)
    kept = reports.report_produce_all(actor=clerk, region=line.county, month=MARCH, today=TODAY)
    assert [k.report_set for k in kept] == ReportSet.values
    assert ReportFile.objects.filter(region_code=line.county.code, month=MARCH).count() == 5


# --- who and where ---------------------------------------------------------------------------------------------------


def test_reports_of_a_region_outside_the_scope_are_404(summaries):
    line, township_2 = summaries["line"], summaries["township_2"]
    clerk = line.staff(Role.COUNTY_CLERK)
    foreign_clerk = summaries["foreign"].staff(Role.COUNTY_CLERK)
    with pytest.raises(Http404):
        reports.report_produce(actor=foreign_clerk, region=line.county, month=MARCH, report_set=ReportSet.ENROLMENT)
    # nor the city above one's county
    with pytest.raises(Http404):
        reports.report_produce(actor=clerk, region=line.city, month=MARCH, report_set=ReportSet.ENROLMENT)
    assert ReportFile.objects.count() == 0
    # a township's clerk may not produce reports at all (even their own township's)
    township_clerk = line.staff(Role.TOWNSHIP_CLERK)
    with pytest.raises(Http404):
        reports.report_produce(actor=township_clerk, region=township_2, month=MARCH, report_set=ReportSet.ENROLMENT)
    with pytest.raises(NotPermitted):
        reports.report_produce(actor=township_clerk, region=line.township, month=MARCH, report_set=ReportSet.ENROLMENT)


def test_village_and_future_months_are_refused_with_the_field(summaries):
    line = summaries["line"]
    clerk = line.staff(Role.COUNTY_CLERK)
    with pytest.raises(DomainError) as village:
        reports.report_produce(actor=clerk, region=line.village, month=MARCH, report_set=ReportSet.ENROLMENT)
    assert village.value.field == "region"
    with pytest.raises(DomainError) as future:
        reports.report_produce(
            actor=clerk, region=line.county, month=dt.date(2025, 5, 1), report_set=ReportSet.ENROLMENT, today=TODAY
        )
    assert future.value.field == "month" and "2025年05月" in future.value.message


# --- pages -----------------------------------------------------------------------------------------------------------


def test_page_produces_all_and_lists_them(client, summaries):
    line = summaries["line"]
    clerk = line.staff(Role.COUNTY_CLERK)
    client.force_login(clerk)
    url = reverse("portal:reports")
    response = client.post(url, {"region": line.county.code, "month": "2025-03", "report_set": "all"})
    assert response.status_code == 302
    assert response["Location"] == f"{url}?region=320412000000&month=2025-03"
    assert ReportFile.objects.count() == 5
    page = client.get(response["Location"])
    assert page.status_code == 200
    text = page.content.decode()
    for kept in ReportFile.objects.all():
        assert reverse("portal:report_download", args=[kept.pk]) in text
    assert "已生成市3204县3204122025年03月报表5张。" in text
    assert "市3204县320412已生成的报表" in text


def test_page_query_count_does_not_grow_with_the_kept_reports(client, summaries, django_assert_max_num_queries):
    line = summaries["line"]
    supervisor = line.staff(Role.CITY_SUPERVISOR)
    client.force_login(supervisor)
    url = reverse("portal:reports")
    reports.report_produce(actor=supervisor, region=line.county, month=MARCH, report_set=ReportSet.ENROLMENT)
    with django_assert_max_num_queries(12) as few:
        assert client.get(url).status_code == 200
    for region in (line.township, summaries["township_2"], summaries["foreign"].county):
        reports.report_produce_all(actor=supervisor, region=region, month=MARCH)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(url).status_code == 200


def test_page_shows_the_refusal_next_to_the_month(client, summaries):
    line = summaries["line"]
    client.force_login(line.staff(Role.COUNTY_CLERK))
    response = client.post(
        reverse("portal:reports"), {"region": line.county.code, "month": "2999-01", "report_set": "enrolment"}
    )
    assert response.status_code == 400
    assert "统计期：2999年01月尚未开始" in response.content.decode()
    assert ReportFile.objects.count() == 0


def test_township_clerk_may_read_but_not_produce(client, summaries):
    line = summaries["line"]
    supervisor = line.staff(Role.CITY_SUPERVISOR)
    own = reports.report_produce(actor=supervisor, region=line.township, month=MARCH, report_set=ReportSet.ENROLMENT)
    other = reports.report_produce(
        actor=supervisor, region=summaries["township_2"], month=MARCH, report_set=ReportSet.ENROLMENT
    )
    client.force_login(line.staff(Role.TOWNSHIP_CLERK))
    url = reverse("portal:reports")
    response = client.post(url, {"region": line.township.code, "month": "2025-03", "report_set": "enrolment"})
    assert response.status_code == 403
    # another township: 404 on the page, the download and the export shows nothing of it
    assert client.get(url, {"region": summaries["township_2"].code}).status_code == 404
    assert client.get(reverse("portal:report_download", args=[other.pk])).status_code == 404
    page = client.get(url).content.decode()
    assert reverse("portal:report_download", args=[own.pk]) in page
    assert reverse("portal:report_download", args=[other.pk]) not in page
    export = client.get(url, {"format": "xlsx"})
    book = load_workbook(io.BytesIO(export.content))
    codes = [row[0] for row in book.active.iter_rows(min_row=2, values_only=True)]
    assert codes == [line.township.code]


def test_download_is_scoped_and_logged(client, summaries, caplog):
    line = summaries["line"]
    clerk = line.staff(Role.COUNTY_CLERK)
    kept = reports.report_produce(actor=clerk, region=line.county, month=MARCH, report_set=ReportSet.BENEFITS)
    client.force_login(summaries["foreign"].staff(Role.COUNTY_CLERK))
    url = reverse("portal:report_download", args=[kept.pk])
    with caplog.at_level(logging.INFO, logger="portal.audit"):
        assert client.get(url).status_code == 404
    assert not [r for r in caplog.records if "report downloaded" in r.getMessage()]
    client.force_login(clerk)
    with caplog.at_level(logging.INFO, logger="portal.audit"):
        response = client.get(url)
    assert response.status_code == 200
    assert response["Cache-Control"] == "private, no-store"
    assert "attachment" in response["Content-Disposition"]
    content = b"".join(response.streaming_content)
    assert content[:2] == b"PK"
    logged = [r.getMessage() for r in caplog.records if "report downloaded" in r.getMessage()]
    assert logged == [
        f"report downloaded: user={clerk.pk} report={kept.pk} region=320412000000 month=2025-03 set=benefits"
    ]


def test_no_full_identity_numbers_in_any_report(books):
    line = books["line"]
    clerk = line.staff(Role.COUNTY_CLERK)
    for kept in reports.report_produce_all(actor=clerk, region=line.county, month=MARCH):
        with kept.file.open("rb") as handle:
            book = load_workbook(io.BytesIO(handle.read()))
        text = " ".join(str(v) for row in book.active.iter_rows(values_only=True) for v in row if v is not None)
        assert not re.search(r"\d{17}[\dX]", text)
        assert "境外" not in text
    assert LedgerEntry.objects.exists()


def test_a_district_within_a_citys_pooling_region_has_no_fund_report(summaries):
    # given one pooling region (市本级) over both counties of the city
    line, foreign = summaries["line"], summaries["foreign"]
    city_pool = PoolingRegionFactory(code="320400", name="市本级")
    for county in (line.county, foreign.county):
        county.pooling_region = city_pool
        county.save()
    clerk = line.staff(Role.COUNTY_CLERK)
    # then the county's fund report is refused, saying why, and its full set is the four others
    with pytest.raises(DomainError) as refused:
        reports.report_produce(actor=clerk, region=line.county, month=MARCH, report_set=ReportSet.FUND)
    assert "市本级" in refused.value.message
    kept = reports.report_produce_all(actor=clerk, region=line.county, month=MARCH, today=TODAY)
    assert ReportSet.FUND not in [k.report_set for k in kept] and len(kept) == 4
    # while the city's fund report has the one pooling region
    fund = reports.report_produce(
        actor=line.staff(Role.CITY_SUPERVISOR), region=line.city, month=MARCH, report_set=ReportSet.FUND
    )
    assert rows_of(fund)[0][2][2:] == ("市本级", None)


# --- a month not summarized; the fund balances the dashboard shows --------------------------------------------------


def test_a_month_not_summarized_is_refused_and_nothing_is_kept(summaries):
    # given: April 2025 has a summary row, but its nightly run never finished
    line = summaries["line"]
    april = dt.date(2025, 4, 1)
    summary(line.village.code, april, insured=100, should_insure=110)
    SummaryRun.objects.create(month=april)
    clerk = line.staff(Role.COUNTY_CLERK)

    # when / then: refused next to the month, for one set and for all five, and no zeros kept
    with pytest.raises(DomainError) as refused:
        reports.report_produce(
            actor=clerk, region=line.county, month=april, report_set=ReportSet.ENROLMENT, today=TODAY
        )
    assert (refused.value.message, refused.value.field) == ("本月数据尚未汇总（每晚汇总）", "month")
    with pytest.raises(DomainError):
        reports.report_produce_all(actor=clerk, region=line.county, month=april, today=TODAY)
    assert not ReportFile.objects.exists()
    # while March, summarized, is produced
    assert reports.report_produce(
        actor=clerk, region=line.county, month=MARCH, report_set=ReportSet.ENROLMENT, today=TODAY
    )


def test_the_fund_reports_balances_are_the_dashboards(books):
    # given: the nightly balances of March were kept, then a late correction was booked on 31 March
    line = books["line"]
    move(
        line.pooling_region, FundAccountKind.INCOME, Fund.INDIVIDUAL_ACCOUNT, MovementKind.DEDUCTION, "40",
        dt.date(2025, 3, 31), "late",
    )  # fmt: skip
    supervisor = line.staff(Role.CITY_SUPERVISOR)

    # when
    kept = reports.report_produce(actor=supervisor, region=line.county, month=MARCH, report_set=ReportSet.FUND)
    page = dashboard.dashboard(user=supervisor, region=line.county, month=MARCH, today=TODAY)

    # then: both show the 收入户 as the nightly run left it (500, not yet 540), account by account
    lines = {label: num(values[0]) for label, values in fund_lines(kept).items()}
    [block] = page.funds
    assert lines["收入户"] == block.of(FundAccountKind.INCOME).total == D("500")
    assert lines["支出户"] == block.of(FundAccountKind.EXPENDITURE).total == D("1400")
    assert lines["财政专户"] == block.of(FundAccountKind.FISCAL).total == D("6160")
    assert lines["四、期末基金专户余额"] == block.total == D("8060")


def test_a_pooling_region_merged_whole_is_held_by_the_report_and_the_dashboard_alike(books):
    # given: 320411's pooling region merged into 320412's, its places moved over; its accounts keep their money
    line, foreign = books["line"], books["foreign"]
    old = foreign.pooling_region
    old.merged_into = line.pooling_region
    old.save()
    for place in (foreign.county, foreign.township, foreign.village):
        if place.pooling_region_id == old.pk:
            place.pooling_region = line.pooling_region
            place.save()
    assert FundBalanceSummary.objects.filter(pooling_region=old, month=MARCH).exists()
    supervisor = line.staff(Role.CITY_SUPERVISOR)

    # when
    held = reports.held_pooling_regions(line.city)
    page = dashboard.dashboard(user=supervisor, region=line.city, month=MARCH, today=TODAY)

    # then: the merged one is held by the city in both, with its balance (-1,234 on the expenditure account)
    assert old in held and line.pooling_region in held
    assert [block.pooling_region for block in page.funds] == held
    merged = next(block for block in page.funds if block.pooling_region == old)
    assert merged.of(FundAccountKind.EXPENDITURE).total == D("-1234")
    # and the county alone does not hold 320411's old places
    assert old not in reports.held_pooling_regions(foreign.county)
