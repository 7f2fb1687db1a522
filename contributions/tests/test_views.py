"""The contribution pages: a person's record, the tier for a year, a counter payment, a donation, the tier
template and batch import, the collective subsidy, the renewal list and its .xlsx, and the policy page.
Each per role, with the services' refusals shown next to their fields and nothing written on a refusal."""

import datetime as dt
import io
import re
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from openpyxl import Workbook, load_workbook

from agencies.models import Role
from agencies.tests.factories import RegionLine, region_line
from contributions import services
from contributions.models import (
    Channel,
    CollectiveSubsidy,
    Contribution,
    ContributionPolicy,
    Donation,
    InterestRate,
    TierChoice,
)
from contributions.tests.factories import make_policy
from enrollment import idnumber
from enrollment.tests.factories import make_person
from funds.models import IndividualAccount

pytestmark = pytest.mark.django_db

ALL_ROLES = [role for role, _ in Role.choices]
TIER_RECORDERS = {Role.VILLAGE_AGENT, Role.TOWNSHIP_CLERK, Role.COUNTY_CLERK}
PAYMENT_RECORDERS = {Role.TOWNSHIP_CLERK, Role.COUNTY_CLERK}
SUBSIDY_RECORDERS = {Role.TOWNSHIP_CLERK, Role.COUNTY_CLERK}
THIS_YEAR = dt.date.today().year


@pytest.fixture
def line() -> RegionLine:
    home = region_line()
    home.pooling_region.scheme_started_on = dt.date(2009, 7, 1)
    home.pooling_region.save()
    return home


@pytest.fixture
def policy(line) -> ContributionPolicy:
    return make_policy(line)  # the national tiers 100–2000 from 2012; 300 earns a subsidy of 40


@pytest.fixture
def person(line, policy):
    return make_person(line.village, name="李四", birth_date=dt.date(1980, 6, 1))


@pytest.fixture
def foreign(policy) -> RegionLine:
    elsewhere = region_line(county="320115")
    make_policy(elsewhere)
    return elsewhere


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def field_html(html: str, name: str) -> str:
    """The markup of one form field block (label, input, errors), up to the next block."""
    start = html.index(f'id="field-{name}"')
    end = html.find('class="field', start + 1)
    return html[start : end if end != -1 else len(html)]


_reference = iter(range(1, 10_000))


def pay(line, person, year: int, amount: str = "300", paid_on: dt.date | None = None) -> Contribution:
    return services.contribution_post(
        actor=line.staff(Role.TOWNSHIP_CLERK),
        person=person,
        year=year,
        amount=amount,
        paid_on=paid_on or dt.date(year, 3, 1),
        channel=Channel.COUNTER,
        bank_code="ICBC",
        bank_reference=f"T{year}{next(_reference):06d}",
    )


# --- a person's contribution record -------------------------------------------------------------------


@pytest.mark.parametrize("role", ALL_ROLES)
def test_every_role_in_scope_sees_the_record_with_the_buttons_of_their_post(line, person, role):
    pay(line, person, 2024)
    html = client_for(line.staff(role)).get(reverse("contributions:person", args=[person.pk])).content.decode()
    table = html[html.index('id="contributions"') :]
    assert "2024" in table and "300.00" in table and "40.00" in table and "T2024" in table
    assert (reverse("contributions:tier_choice", args=[person.pk]) in html) == (role in TIER_RECORDERS)
    assert (reverse("contributions:counter_payment", args=[person.pk]) in html) == (role in PAYMENT_RECORDERS)
    assert (reverse("contributions:donation", args=[person.pk]) in html) == (role in SUBSIDY_RECORDERS)
    assert person.id_number not in html


@pytest.mark.parametrize("name", ["person", "tier_choice", "counter_payment", "donation"])
def test_a_person_out_of_scope_answers_404(line, foreign, name):
    stranger = make_person(foreign.village, name="外地人")
    client = client_for(line.staff(Role.COUNTY_CLERK))
    assert client.get(reverse(f"contributions:{name}", args=[stranger.pk])).status_code == 404
    posted = client.post(reverse(f"contributions:{name}", args=[stranger.pk]), {"year": "2024"})
    assert posted.status_code in (404, 405)  # the record page is read-only
    assert not TierChoice.objects.exists() and not Contribution.objects.exists() and not Donation.objects.exists()


# --- tier choice ------------------------------------------------------------------------------------------


def test_the_tier_form_offers_the_years_tiers_with_their_subsidy(line, person):
    html = client_for(line.staff(Role.VILLAGE_AGENT)).get(
        reverse("contributions:tier_choice", args=[person.pk]) + "?year=2024"
    )
    options = re.findall(r'<option value="([\d.]+)"[^>]*>([^<]+)</option>', field_html(html.content.decode(), "amount"))
    assert len(options) == 12
    assert options[2] == ("300.00", "300元（政府补贴40元）")


def test_a_village_agent_records_a_tier(line, person):
    agent = line.staff(Role.VILLAGE_AGENT)
    response = client_for(agent).post(
        reverse("contributions:tier_choice", args=[person.pk]), {"year": "2024", "amount": "500.00"}, follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("contributions:person", args=[person.pk])
    assert "已记录李四2024年度缴费档次：500元。" in response.content.decode()
    choice = TierChoice.objects.get(person=person, year=2024)
    assert (choice.amount, choice.chosen_by) == (Decimal("500.00"), agent)


def test_a_tier_the_year_does_not_have_is_refused_next_to_the_field(line, person):
    response = client_for(line.staff(Role.VILLAGE_AGENT)).post(
        reverse("contributions:tier_choice", args=[person.pk]), {"year": "2024", "amount": "250"}
    )
    assert response.status_code == 400
    assert "没有250元这一缴费档次" in field_html(response.content.decode(), "amount")
    assert not TierChoice.objects.exists()


def test_a_paid_years_tier_cannot_change(line, person):
    pay(line, person, 2024)
    response = client_for(line.staff(Role.VILLAGE_AGENT)).post(
        reverse("contributions:tier_choice", args=[person.pk]), {"year": "2024", "amount": "500"}
    )
    assert response.status_code == 400
    assert "已缴年度的档次不能再修改" in response.content.decode()
    assert TierChoice.objects.get(person=person, year=2024).amount == Decimal("300.00")


def test_changing_the_year_reloads_the_tiers(line, person):
    client = client_for(line.staff(Role.VILLAGE_AGENT))
    url = reverse("contributions:tier_choice", args=[person.pk])
    partial = client.get(url + "?year=2011", HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in partial
    assert "尚未设置2011年度的缴费政策" in partial
    assert partial.count("<option") == 1  # only “请选择”
    partial = client.get(url + "?year=2024", HTTP_HX_REQUEST="true").content.decode()
    assert partial.count("<option") == 13


@pytest.mark.parametrize("role", sorted(set(ALL_ROLES) - TIER_RECORDERS))
def test_other_posts_may_not_record_tiers(line, person, role):
    client = client_for(line.staff(role))
    assert client.get(reverse("contributions:tier_choice", args=[person.pk])).status_code == 403
    assert (
        client.post(
            reverse("contributions:tier_choice", args=[person.pk]), {"year": "2024", "amount": "300"}
        ).status_code
        == 403
    )
    assert not TierChoice.objects.exists()


# --- counter payment --------------------------------------------------------------------------------------


def payment(**fields) -> dict:
    return {
        "year": "2024",
        "kind": "regular",
        "amount": "300",
        "paid_on": "2024-03-05",
        "bank_code": "ICBC",
        "bank_reference": "20240305001",
        **fields,
    }


def test_a_township_clerk_records_a_counter_payment_that_credits_the_account(line, person):
    response = client_for(line.staff(Role.TOWNSHIP_CLERK)).post(
        reverse("contributions:counter_payment", args=[person.pk]), payment(), follow=True
    )
    html = response.content.decode()
    assert "已登记李四2024年度缴费：个人缴费300元，政府缴费补贴40元，政府代缴0元" in html
    contribution = Contribution.objects.get(person=person, year=2024)
    assert (contribution.channel, contribution.bank_reference) == (Channel.COUNTER, "20240305001")
    account = IndividualAccount.objects.get(person=person)
    assert (account.balance_personal, account.balance_government_subsidy, account.balance) == (
        Decimal("300.00"),
        Decimal("40.00"),
        Decimal("340.00"),
    )


@pytest.mark.parametrize(
    "fields, field, message",
    [
        ({"amount": "250"}, "amount", "不对应"),
        ({"amount": "3OO"}, "amount", "格式不正确"),
        ({"amount": "-300"}, "amount", ""),
        ({"bank_reference": ""}, "bank_reference", "请填写银行流水号"),
        ({"bank_code": ""}, "bank_code", "请填写银行代码"),
        ({"paid_on": "2023-12-30"}, "paid_on", "不在2024年度内"),
        ({"paid_on": "2024-13-01"}, "paid_on", "请按“年-月-日”填写日期"),
        ({"year": "20x4"}, "year", "年度须为四位数字"),
    ],
)
def test_a_refused_payment_shows_why_next_to_the_field_and_writes_nothing(line, person, fields, field, message):
    response = client_for(line.staff(Role.TOWNSHIP_CLERK)).post(
        reverse("contributions:counter_payment", args=[person.pk]), payment(**fields)
    )
    assert response.status_code == 400
    block = field_html(response.content.decode(), field)
    assert "errorlist" in block and message in block
    assert not Contribution.objects.exists()
    assert not IndividualAccount.objects.exists()


def test_a_second_payment_for_the_year_is_refused(line, person):
    pay(line, person, 2024)
    response = client_for(line.staff(Role.COUNTY_CLERK)).post(
        reverse("contributions:counter_payment", args=[person.pk]), payment(bank_reference="OTHER-1")
    )
    assert response.status_code == 400
    assert "同一年度只能缴费一次" in response.content.decode()
    assert Contribution.objects.count() == 1


@pytest.mark.parametrize("role", sorted(set(ALL_ROLES) - PAYMENT_RECORDERS))
def test_other_posts_may_not_record_payments(line, person, role):
    response = client_for(line.staff(role)).post(reverse("contributions:counter_payment", args=[person.pk]), payment())
    assert response.status_code == 403
    assert not Contribution.objects.exists()


# --- donation ---------------------------------------------------------------------------------------------


def test_a_donation_is_credited_and_one_past_the_cap_is_refused(line, person):
    client = client_for(line.staff(Role.TOWNSHIP_CLERK))
    url = reverse("contributions:donation", args=[person.pk])
    data = {"year": "2024", "donor": "湖塘商会", "amount": "1500", "received_on": "2024-05-01"}
    assert client.post(url, data).status_code == 302
    assert IndividualAccount.objects.get(person=person).balance_donation == Decimal("1500.00")
    response = client.post(url, {**data, "amount": "600"})
    assert response.status_code == 400
    assert "本次最多还可资助500元" in field_html(response.content.decode(), "amount")
    assert Donation.objects.count() == 1


# --- collective subsidy -----------------------------------------------------------------------------------


def test_a_collective_subsidy_credits_the_villages_payers(line, person):
    pay(line, person, 2024)
    make_person(line.village, name="未缴费")
    clerk = line.staff(Role.TOWNSHIP_CLERK)
    data = {"village": line.village.code, "year": "2024", "amount_per_person": "50", "decision": "村决〔2024〕1号"}
    response = client_for(clerk).post(reverse("contributions:collective_subsidies"), data, follow=True)
    html = response.content.decode()
    assert "已为1人记入个人账户" in html
    assert "村决〔2024〕1号" in html
    assert IndividualAccount.objects.get(person=person).balance_collective == Decimal("50.00")


def test_a_collective_subsidy_over_the_top_tier_is_refused_next_to_the_amount(line, person):
    data = {"village": line.village.code, "year": "2024", "amount_per_person": "2500"}
    response = client_for(line.staff(Role.COUNTY_CLERK)).post(reverse("contributions:collective_subsidies"), data)
    assert response.status_code == 400
    assert "不能超过2024年度最高缴费档次" in field_html(response.content.decode(), "amount_per_person")
    assert not CollectiveSubsidy.objects.exists()


def test_a_foreign_village_cannot_be_chosen_for_a_subsidy(line, person, foreign):
    data = {"village": foreign.village.code, "year": "2024", "amount_per_person": "50"}
    response = client_for(line.staff(Role.COUNTY_CLERK)).post(reverse("contributions:collective_subsidies"), data)
    assert response.status_code == 400
    assert "不在您的管辖范围内" in field_html(response.content.decode(), "village")
    assert not CollectiveSubsidy.objects.exists()


def test_a_village_agent_sees_the_subsidies_but_records_none(line, person):
    agent = client_for(line.staff(Role.VILLAGE_AGENT))
    html = agent.get(reverse("contributions:collective_subsidies")).content.decode()
    assert 'id="collective-form"' not in html
    data = {"village": line.village.code, "year": "2024", "amount_per_person": "50"}
    assert agent.post(reverse("contributions:collective_subsidies"), data).status_code == 403


# --- tier template and batch import ---------------------------------------------------------------------------


def test_the_template_is_downloaded_for_a_village_in_scope(line, person):
    client = client_for(line.staff(Role.VILLAGE_AGENT))
    response = client.get(reverse("contributions:tier_template_for"), {"village": line.village.code, "year": "2024"})
    assert response.status_code == 302
    response = client.get(response["Location"])
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    assert rows[0][0] == "身份证号" and rows[1][:2] == (person.id_number, "李四")


def test_a_foreign_villages_template_is_not_found(line, foreign):
    client = client_for(line.staff(Role.COUNTY_CLERK))
    assert client.get(reverse("contributions:tier_template", args=[foreign.village.pk])).status_code == 404
    response = client.get(reverse("contributions:tier_template_for"), {"village": foreign.village.code, "year": "2024"})
    assert response.status_code == 302 and response["Location"] == reverse("contributions:tier_batch")


def sheet(rows: list[tuple]) -> SimpleUploadedFile:
    book = Workbook()
    book.active.append(["身份证号", "姓名", "选择档次(元)"])
    for row in rows:
        book.active.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return SimpleUploadedFile("档次.xlsx", out.getvalue())


def test_an_import_with_row_errors_shows_them_as_a_table_and_writes_nothing(line, person):
    other = make_person(line.village, name="王五")
    upload = sheet([(person.id_number, "李四", 300), (other.id_number, "王五", 250), ("123", "无名", 300)])
    response = client_for(line.staff(Role.VILLAGE_AGENT)).post(
        reverse("contributions:tier_batch"), {"year": "2024", "file": upload}
    )
    assert response.status_code == 400
    html = response.content.decode()
    table = html[html.index('id="import-errors"') :]
    assert "文件有2处错误，未导入任何数据" in table
    rows = re.findall(r'<tr><td class="num">(\d+)</td><td>([^<]+)</td></tr>', table)
    assert [row for row, _ in rows] == ["3", "4"]
    assert "没有250元这一档次" in rows[0][1]
    assert "身份证号“123”有误" in rows[1][1]
    assert not TierChoice.objects.exists()


def test_a_clean_import_records_every_tier(line, person):
    other = make_person(line.village, name="王五")
    upload = sheet([(person.id_number, "李四", 300), (other.id_number, "王五", 500)])
    response = client_for(line.staff(Role.VILLAGE_AGENT)).post(
        reverse("contributions:tier_batch"), {"year": "2024", "file": upload}, follow=True
    )
    assert "已导入2行：新增2人" in response.content.decode()
    assert dict(TierChoice.objects.values_list("person__name", "amount")) == {
        "李四": Decimal("300.00"),
        "王五": Decimal("500.00"),
    }
    assert "档次.xlsx" in response.content.decode()  # the batch's audit row is listed


def test_an_import_without_a_file_says_so(line, person):
    response = client_for(line.staff(Role.VILLAGE_AGENT)).post(reverse("contributions:tier_batch"), {"year": "2024"})
    assert response.status_code == 400
    assert "请选择要上传的文件" in field_html(response.content.decode(), "file")


# --- renewal ----------------------------------------------------------------------------------------------


@pytest.fixture
def renewal_village(line, policy):
    """2023 payers: two aged 16–44 in 2024 (one renewed), two aged 45–59 (one renewed); one 2024-only payer."""
    young = [make_person(line.village, name=f"青年{i}", birth_date=dt.date(1990, 1, 1 + i)) for i in range(2)]
    older = [make_person(line.village, name=f"中年{i}", birth_date=dt.date(1970, 1, 1 + i)) for i in range(2)]
    for p in young + older:
        pay(line, p, 2023)
    pay(line, young[0], 2024)
    pay(line, older[0], 2024)
    pay(line, make_person(line.village, name="新缴费", birth_date=dt.date(1985, 1, 1)), 2024)
    return {"young": young, "older": older}


def test_the_renewal_page_shows_rates_against_targets_and_who_is_left(line, renewal_village, foreign):
    stranger = make_person(foreign.village, name="外地人", birth_date=dt.date(1990, 5, 5))
    pay(foreign, stranger, 2023)
    html = (
        client_for(line.staff(Role.COUNTY_CLERK))
        .get(reverse("contributions:renewals"), {"year": "2024"})
        .content.decode()
    )
    young = re.search(r'<tr data-village="320412101201" data-band="16-44">(.*?)</tr>', html, re.S).group(1)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", young, re.S)
    assert cells[2:6] == ["2", "1", "50.0%", "70.0%"]
    assert "未达标" in young
    older = re.search(r'data-band="45-59">(.*?)</tr>', html, re.S).group(1)
    assert re.findall(r"<td[^>]*>(.*?)</td>", older, re.S)[2:6] == ["2", "1", "50.0%", "100.0%"]
    pending = html[html.index('id="renewal-list"') :]
    assert "青年1" in pending and "中年1" in pending
    assert "青年0" not in pending and "新缴费" not in pending
    assert "外地人" not in html
    assert renewal_village["young"][1].id_number not in html
    assert idnumber.mask(renewal_village["young"][1].id_number) in html


def test_the_renewal_list_filters_by_village_and_band(line, renewal_village):
    html = (
        client_for(line.staff(Role.TOWNSHIP_CLERK))
        .get(reverse("contributions:renewals"), {"year": "2024", "village": line.village.code, "age_band": "45-59"})
        .content.decode()
    )
    pending = html[html.index('id="renewal-list"') :]
    assert "中年1" in pending and "青年1" not in pending


def test_the_renewal_table_exports_to_xlsx(line, renewal_village):
    response = client_for(line.staff(Role.COUNTY_CLERK)).get(reverse("contributions:renewals_xlsx"), {"year": "2024"})
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    assert book.sheetnames == ["续保率", "未续缴名单"]
    rates = list(book["续保率"].iter_rows(values_only=True))
    assert rates[1] == ("区划代码", "村（社区）", "年龄段", "上年缴费人数", "本年已续缴", "续保率", "目标", "达标")
    young = next(row for row in rates if row[0] == "320412101201" and row[2] == "16–44周岁")
    assert young[3:5] == (2, 1) and Decimal(str(young[5])) == Decimal("0.5") and young[7] == "否"
    names = [row[0] for row in book["未续缴名单"].iter_rows(min_row=2, values_only=True)]
    assert sorted(names) == ["中年1", "青年1"]
    assert renewal_village["young"][1].id_number not in {
        v for row in book["未续缴名单"].iter_rows(values_only=True) for v in row
    }


def test_the_renewal_page_queries_do_not_grow_with_persons(line, renewal_village):
    client = client_for(line.staff(Role.COUNTY_CLERK))
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("contributions:renewals"), {"year": "2024"})
    for i in range(6):
        p = make_person(line.village, name=f"更多{i}", birth_date=dt.date(1975, 2, 1 + i))
        pay(line, p, 2023)
    with CaptureQueriesContext(connection) as many:
        client.get(reverse("contributions:renewals"), {"year": "2024"})
    assert len(many) == len(few)


# --- policy -----------------------------------------------------------------------------------------------


def policy_data(**fields) -> dict:
    return {
        "pooling_region": "320412",
        "valid_from": "2027-01-01",
        "tiers": "200 40\n500 60\n1000 80",
        "window_start_month": "1",
        "window_start_day": "1",
        "window_end_month": "3",
        "window_end_day": "31",
        "back_payment_max_years": "15",
        "province_share": "30",
        "city_share": "30",
        "county_share": "40",
        "hardship_tekun": "100",
        "hardship_dibao": "70",
        **fields,
    }


def test_a_city_supervisor_sees_the_periods_and_rates(line, policy):
    supervisor = line.staff(Role.CITY_SUPERVISOR)
    services.interest_rate_set(actor=supervisor, pooling_region=line.pooling_region, year=2016, rate="1.5%")
    html = client_for(supervisor).get(reverse("contributions:policies")).content.decode()
    section = html[html.index('id="pooling-320412"') :]
    assert "2012-01-01 起" in section and "现行" in section
    assert "每年1月1日至12月31日" in section
    assert "特困人员 100%" in section and "低保对象 70%" in section
    assert "省30%、市30%、县40%" in section
    assert "1.5%" in section and ">2016<" in section
    assert 'id="policy-form"' in html and 'id="rate-form"' in html


def test_a_supervisor_adds_a_period_which_closes_the_open_one(line, policy):
    response = client_for(line.staff(Role.CITY_SUPERVISOR)).post(
        reverse("contributions:policy_add"), policy_data(), follow=True
    )
    assert "已设置统筹区320412自2027-01-01起的缴费政策" in response.content.decode()
    new = ContributionPolicy.objects.get(valid_from=dt.date(2027, 1, 1))
    assert [t.amount for t in new.tiers.order_by("amount")] == [
        Decimal("200.00"),
        Decimal("500.00"),
        Decimal("1000.00"),
    ]
    assert (new.window_end_month, new.window_end_day) == (3, 31)
    assert dict(new.hardship_shares.values_list("group", "share_percent")) == {"tekun": 100, "dibao": 70}
    policy.refresh_from_db()
    assert policy.valid_to == dt.date(2026, 12, 31)


@pytest.mark.parametrize(
    "fields, field, message",
    [
        ({"tiers": "200\n500 60"}, "tiers", "第1个档次应写成"),
        ({"tiers": "200 40\n200 45"}, "tiers", "缴费档次重复"),
        ({"tiers": ""}, "tiers", "请至少设置一个缴费档次"),
        ({"county_share": "50"}, "shares", "合计须为100%"),
        ({"window_end_month": "13"}, "window", "征缴期的起止月日不正确"),
        ({"hardship_dibao": "170"}, "hardship_shares", "不超过100%"),
        ({"valid_from": "2011-06-01"}, "valid_from", "新政策期间"),
        ({"pooling_region": "320115"}, "pooling_region", "不在您的管辖范围内"),
    ],
)
def test_a_refused_period_shows_why_next_to_the_field(line, policy, foreign, fields, field, message):
    response = client_for(line.staff(Role.CITY_SUPERVISOR)).post(
        reverse("contributions:policy_add"), policy_data(**fields)
    )
    assert response.status_code == 400
    block = field_html(response.content.decode(), field)
    assert "errorlist" in block and message in block
    assert ContributionPolicy.objects.count() == 2  # the home one and the foreign one, nothing added


def test_a_supervisor_sets_a_years_rate_and_a_bad_rate_is_refused(line, policy):
    client = client_for(line.staff(Role.CITY_SUPERVISOR))
    data = {"pooling_region": "320412", "year": "2025", "rate": "1.5%", "rounding": "half_up"}
    response = client.post(reverse("contributions:interest_rate_add"), data, follow=True)
    assert "已设置统筹区3204122025年度记账利率：1.500%。" in response.content.decode()
    assert InterestRate.objects.get(year=2025).rate == Decimal("0.01500")
    response = client.post(reverse("contributions:interest_rate_add"), {**data, "year": "2024", "rate": "1.5"})
    assert response.status_code == 400
    assert "百分数请加“%”" in field_html(response.content.decode(), "rate")
    assert not InterestRate.objects.filter(year=2024).exists()


@pytest.mark.parametrize("role", [Role.COUNTY_CLERK, Role.TOWNSHIP_CLERK, Role.VILLAGE_AGENT])
def test_clerks_read_the_policy_but_change_nothing(line, policy, role):
    client = client_for(line.staff(role))
    html = client.get(reverse("contributions:policies")).content.decode()
    assert "2012-01-01 起" in html and 'id="policy-form"' not in html
    assert client.post(reverse("contributions:policy_add"), policy_data()).status_code == 403
    assert client.post(reverse("contributions:interest_rate_add"), {"year": "2025", "rate": "1%"}).status_code == 403
    assert ContributionPolicy.objects.count() == 1


def test_the_policy_page_does_not_show_another_citys_region(line, policy, foreign):
    html = client_for(line.staff(Role.CITY_SUPERVISOR)).get(reverse("contributions:policies")).content.decode()
    assert 'id="pooling-320412"' in html and "320115" not in html


# --- navigation -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "role, shown, hidden",
    [
        (Role.VILLAGE_AGENT, ["tier_batch", "renewals"], ["collective_subsidies", "policies"]),
        (Role.TOWNSHIP_CLERK, ["tier_batch", "collective_subsidies", "renewals"], ["policies"]),
        (Role.CITY_SUPERVISOR, ["renewals", "policies"], ["tier_batch", "collective_subsidies"]),
    ],
)
def test_the_navigation_offers_each_post_its_pages(line, role, shown, hidden):
    html = client_for(line.staff(role)).get(reverse("portal:home")).content.decode()
    nav = html[html.index('class="site-nav"') : html.index("</nav>")]
    for name in shown:
        assert reverse(f"contributions:{name}") in nav
    for name in hidden:
        assert reverse(f"contributions:{name}") not in nav
