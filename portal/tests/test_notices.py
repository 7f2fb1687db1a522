"""Public notices (公示) of a village: who paid for a year, who is paid a pension in a month. Identity numbers
masked everywhere (page and .xlsx), the village's own people only, in register order, printable on A4; another
township's or village's notice answers 404 and shows none of its names."""

import datetime as dt
import io
import re
from dataclasses import replace
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from agencies.models import RegionLevel, Role
from agencies.tests.factories import RegionFactory, region_line
from benefits import services as benefit_services
from benefits.models import PayrollLine, StopReason
from benefits.tests.factories import make_award, make_contributor, pension_line, run_payroll
from contributions.models import Channel, Contribution, ContributionKind
from enrollment.idnumber import mask
from enrollment.models import InsuredPerson
from enrollment.tests.factories import make_person
from portal import notices

pytestmark = pytest.mark.django_db

D = Decimal
FULL_ID = re.compile(r"\d{17}[\dX]")


def pay(person: InsuredPerson, year: int, amount: str, paid_on: dt.date, **fields) -> Contribution:
    return Contribution.objects.create(
        person=person,
        year=year,
        tier_amount=D(amount),
        personal_amount=D(amount),
        paid_on=paid_on,
        channel=Channel.BANK_FILE,
        bank_reference=f"R{person.pk}-{year}",
        region_code=person.region_code,
        **fields,
    )


def numbered(person: InsuredPerson, number: str) -> InsuredPerson:
    InsuredPerson.objects.filter(pk=person.pk).update(insurance_number=number)
    return person


@pytest.fixture
def payers():
    """Village 201 of township 320412101: 赵一 and 钱二 paid for 2025 (钱二 first in the register), 孙三 only for 2024,
    李四 a back payment for 2025; village 202 beside it and township 102's village each have a payer of 2025."""
    line = region_line()
    village_2 = RegionFactory(code="320412101202", name="二村", level=RegionLevel.VILLAGE, parent=line.township)
    township_2 = RegionFactory(code="320412102000", name="二镇", level=RegionLevel.TOWNSHIP, parent=line.county)
    village_3 = RegionFactory(code="320412102201", name="三村", level=RegionLevel.VILLAGE, parent=township_2)
    zhao = numbered(make_person(line.village, name="赵一"), "32041200000003")
    qian = numbered(make_person(line.village, name="钱二"), "32041200000001")
    sun = numbered(make_person(line.village, name="孙三"), "32041200000002")
    li = numbered(make_person(line.village, name="李四"), "32041200000009")
    pay(zhao, 2025, "500", dt.date(2025, 3, 1))
    pay(qian, 2025, "300", dt.date(2025, 2, 1))
    pay(sun, 2024, "200", dt.date(2024, 3, 1))
    pay(li, 2025, "100", dt.date(2026, 1, 10), kind=ContributionKind.BACK_PAYMENT)
    pay(make_person(village_2, name="邻村周五"), 2025, "400", dt.date(2025, 3, 3))
    pay(make_person(village_3, name="外镇吴六"), 2025, "600", dt.date(2025, 3, 4))
    return {"line": line, "village_2": village_2, "village_3": village_3, "zhao": zhao, "qian": qian, "li": li}


def xlsx_text(content: bytes) -> tuple[list[tuple], str]:
    book = load_workbook(io.BytesIO(content))
    rows = list(book.active.iter_rows(values_only=True))
    return rows, " ".join(str(v) for row in rows for v in row if v is not None)


# --- who paid -----------------------------------------------------------------------------------------------------


def test_paid_notice_lists_the_years_payers_in_register_order_masked(payers):
    line = payers["line"]
    clerk = line.staff(Role.TOWNSHIP_CLERK)
    lines = notices.paid_notice(user=clerk, village=line.village, year=2025)
    assert [item.name for item in lines] == ["钱二", "赵一", "李四"]
    qian = lines[0]
    assert qian.id_number == mask(payers["qian"].id_number)
    assert qian.id_number == f"{payers['qian'].id_number[:6]}********{payers['qian'].id_number[-4:]}"
    assert (qian.tier, qian.personal_amount, qian.paid_on, qian.back_payment) == (
        D("300.00"),
        D("300.00"),
        dt.date(2025, 2, 1),
        False,
    )
    assert lines[2].back_payment
    assert [item.name for item in notices.paid_notice(user=clerk, village=line.village, year=2024)] == ["孙三"]


def test_paid_notice_page_is_printable_and_masked(client, payers):
    line = payers["line"]
    client.force_login(line.staff(Role.TOWNSHIP_CLERK))
    response = client.get(reverse("portal:notice_paid"), {"village": line.village.code, "year": "2025"})
    assert response.status_code == 200
    text = response.content.decode()
    assert "村320412101201城乡居民基本养老保险缴费公示（2025年度）" in text
    assert not FULL_ID.search(text)
    assert mask(payers["zhao"].id_number) in text
    assert text.index("钱二") < text.index("赵一") < text.index("李四")
    for absent in ("孙三", "邻村周五", "外镇吴六"):
        assert absent not in text
    # the notice period: seven days from the day printed; complaints to the township's office
    today = timezone.localdate()
    last = today + dt.timedelta(days=6)
    assert f"公示期为{today:%Y年%m月%d日}至{last:%Y年%m月%d日}（7天）" in text
    assert "镇320412101经办机构反映，监督电话：" in text
    # printed on A4 with the header row on every page and without the navigation
    assert "@page { size: A4" in text
    assert "thead { display: table-header-group; }" in text
    assert ".site-nav" in text and "display: none !important" in text
    assert "合计：3人，个人缴费900.00元" in text


def test_paid_notice_xlsx_is_masked_and_of_the_village(client, payers):
    line = payers["line"]
    client.force_login(line.staff(Role.VILLAGE_AGENT))
    response = client.get(reverse("portal:notice_paid"), {"year": "2025", "format": "xlsx"})
    assert response.status_code == 200
    rows, text = xlsx_text(response.content)
    assert rows[0][0] == "村320412101201城乡居民基本养老保险缴费公示（2025年度）"
    assert rows[2] == ("序号", "姓名", "身份证号", "缴费档次（元）", "个人缴费（元）", "缴费日期", "备注")
    assert [row[1] for row in rows[3:6]] == ["钱二", "赵一", "李四"]
    assert rows[5][6] == "补缴"
    assert not FULL_ID.search(text)
    assert "邻村周五" not in text and "外镇吴六" not in text


def test_another_township_or_village_is_404_and_shows_no_names(client, payers):
    line, village_2, village_3 = payers["line"], payers["village_2"], payers["village_3"]
    url = reverse("portal:notice_paid")
    client.force_login(line.staff(Role.TOWNSHIP_CLERK))
    for params in ({"village": village_3.code}, {"village": village_3.code, "format": "xlsx"}):
        response = client.get(url, {**params, "year": "2025"})
        assert response.status_code == 404
        assert "外镇吴六" not in response.content.decode(errors="replace")
    # the township clerk picks among their own villages only
    page = client.get(url).content.decode()
    assert line.village.code in page and village_2.code in page and village_3.code not in page
    # a village agent has their own village, and no other
    client.force_login(line.staff(Role.VILLAGE_AGENT))
    assert client.get(url, {"village": village_2.code, "year": "2025"}).status_code == 404
    own = client.get(url, {"year": "2025"}).content.decode()
    assert "赵一" in own and "邻村周五" not in own
    recipients = reverse("portal:notice_recipients")
    assert client.get(recipients, {"village": village_2.code}).status_code == 404


def test_paid_notice_queries_do_not_grow_with_the_payers(client, payers, django_assert_max_num_queries):
    line = payers["line"]
    client.force_login(line.staff(Role.TOWNSHIP_CLERK))
    url = reverse("portal:notice_paid")
    query = {"village": payers["village_2"].code, "year": "2025"}
    with django_assert_max_num_queries(12) as one:
        assert client.get(url, query).status_code == 200
    for n in range(5):
        pay(make_person(payers["village_2"], name=f"新增{n}"), 2025, "100", dt.date(2025, 3, 5))
    with django_assert_max_num_queries(len(one.captured_queries)):
        response = client.get(url, query)
    assert response.content.decode().count("新增") == 5


def test_a_bad_year_is_said_next_to_the_field(client, payers):
    line = payers["line"]
    client.force_login(line.staff(Role.VILLAGE_AGENT))
    response = client.get(reverse("portal:notice_paid"), {"year": "二〇二五"})
    assert response.status_code == 400
    assert "年度应为四位数字" in response.content.decode()


# --- who receives --------------------------------------------------------------------------------------------------


@pytest.fixture
def recipients():
    """Village 201: 领取甲 paid from April 2025 (April's payroll confirmed), 领取乙 stopped from April before it
    was paid, 领取丙 from June; 邻村领取丁 in village 202; a recipient in township 102 abroad."""
    line = pension_line()
    village_2 = RegionFactory(code="320412101202", name="二村", level=RegionLevel.VILLAGE, parent=line.township)
    township_2 = RegionFactory(code="320412102000", name="二镇", level=RegionLevel.TOWNSHIP, parent=line.county)
    village_3 = RegionFactory(code="320412102201", name="三村", level=RegionLevel.VILLAGE, parent=township_2)
    march = dt.date(2025, 3, 5)
    first = make_award(line, numbered(make_contributor(line, name="领取甲"), "32041200000005"), claimed_on=march)
    stopped = make_award(line, make_contributor(line, name="领取乙"), claimed_on=march)
    benefit_services.award_stop(
        actor=line.staff(Role.COUNTY_APPROVER), award=stopped, from_month=dt.date(2025, 4, 1), reason=StopReason.OTHER
    )
    later = make_award(
        line,
        numbered(make_contributor(line, name="领取丙", birth_date=dt.date(1965, 5, 10)), "32041200000004"),
        claimed_on=dt.date(2025, 5, 5),
    )
    beside = replace(line, village=village_2)
    make_award(beside, make_contributor(beside, name="邻村领取丁"), claimed_on=march)
    abroad = replace(line, township=township_2, village=village_3)
    make_award(abroad, make_contributor(abroad, name="外镇领取戊"), claimed_on=march)
    run_payroll(line, dt.date(2025, 4, 1))
    return {"line": line, "first": first, "later": later, "village_2": village_2, "village_3": village_3}


def test_recipients_of_the_month_with_the_payrolls_amounts(recipients):
    line, first = recipients["line"], recipients["first"]
    clerk = line.staff(Role.TOWNSHIP_CLERK)
    [april] = notices.recipients_notice(user=clerk, village=line.village, month=dt.date(2025, 4, 1))
    payroll = PayrollLine.objects.get(award=first, run__month=dt.date(2025, 4, 1))
    assert april.name == "领取甲" and april.from_payroll
    assert april.id_number == mask(first.person.id_number)
    assert april.category == "按月领取养老金"
    assert (april.basic_pension, april.account_pension, april.total) == (
        payroll.basic_pension,
        payroll.account_pension,
        payroll.total,
    )
    # 123 + 100 basic; 13,900 + interest Jan–Mar 52.13 = 13,952.13 ÷ 139 = 100.38
    assert (april.basic_pension, april.account_pension, april.total) == (D("223.00"), D("100.38"), D("323.38"))
    # before any payroll of May: the award's amounts in force; 领取丙 starts in June, before 领取甲 in the register
    [may] = notices.recipients_notice(user=clerk, village=line.village, month=dt.date(2025, 5, 1))
    assert (may.name, may.from_payroll, may.total) == ("领取甲", False, D("323.38"))
    june = notices.recipients_notice(user=clerk, village=line.village, month=dt.date(2025, 6, 1))
    assert [item.name for item in june] == ["领取丙", "领取甲"]
    # nobody before April
    assert notices.recipients_notice(user=clerk, village=line.village, month=dt.date(2025, 3, 1)) == []


def test_recipients_page_and_xlsx(client, recipients):
    line = recipients["line"]
    client.force_login(line.staff(Role.VILLAGE_AGENT))
    url = reverse("portal:notice_recipients")
    response = client.get(url, {"month": "2025-06"})
    assert response.status_code == 200
    text = response.content.decode()
    assert "村320412101201城乡居民基本养老保险待遇领取公示（2025年06月）" in text
    assert text.index("领取丙") < text.index("领取甲")
    for absent in ("领取乙", "邻村领取丁", "外镇领取戊"):
        assert absent not in text
    assert not FULL_ID.search(text)
    assert "@page { size: A4" in text
    export = client.get(url, {"month": "2025-06", "format": "xlsx"})
    rows, xlsx = xlsx_text(export.content)
    assert rows[0][0] == "村320412101201城乡居民基本养老保险待遇领取公示（2025年06月）"
    assert [row[1] for row in rows[3:5]] == ["领取丙", "领取甲"]
    assert not FULL_ID.search(xlsx)
    assert "邻村领取丁" not in xlsx


def test_recipients_of_another_township_are_404(client, recipients):
    line = recipients["line"]
    client.force_login(line.staff(Role.TOWNSHIP_CLERK))
    url = reverse("portal:notice_recipients")
    for fmt in ("", "xlsx"):
        response = client.get(url, {"village": recipients["village_3"].code, "month": "2025-04", "format": fmt})
        assert response.status_code == 404
        assert "外镇领取戊" not in response.content.decode(errors="replace")
    own = client.get(url, {"village": recipients["village_2"].code, "month": "2025-04"}).content.decode()
    assert "邻村领取丁" in own and "领取甲" not in own
