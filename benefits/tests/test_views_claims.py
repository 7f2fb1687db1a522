"""The browser pages of claims, awards, the turning-60 list, parameters and back pay, and the monthly checks:
who sees what, who may act, the claim workflow through the views, and lists whose queries do not grow."""

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from agencies.models import Role
from agencies.tests.factories import UserFactory, region_line
from benefits import calc, payroll, services
from benefits.models import (
    Arrear,
    ArrearStatus,
    Award,
    AwardCategory,
    AwardPeriod,
    AwardStatus,
    Claim,
    ClaimStatus,
    MonthlyConfirmation,
    PensionParameters,
    StopReason,
    YearlyCheck,
    YearsCreditKind,
)
from benefits.tests.factories import make_award, make_contributor, make_parameters
from contributions.models import InterestRate
from enrollment import idnumber
from enrollment.tests.factories import make_person

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def body(response) -> str:
    return response.content.decode()


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


@pytest.fixture
def line():
    """A pooling region started locally in July 2011, with parameters from 2024."""
    line = region_line()
    line.pooling_region.scheme_started_on = dt.date(2011, 7, 1)
    line.pooling_region.save()
    make_parameters(line, valid_from=dt.date(2024, 1, 1), per_year_beyond_minimum="2", addition_at_65="10")
    return line


@pytest.fixture
def award(line):
    """李四, 17 years paid, 13,900.00 in the account: approved 20 March 2025, paid from April 2025."""
    InterestRate.objects.get_or_create(
        pooling_region=line.pooling_region, year=2025, defaults={"rate": Decimal("0.015")}
    )
    person = make_contributor(line, birth_date=dt.date(1965, 3, 10), years=17)
    return make_award(line, person, claimed_on=dt.date(2025, 3, 5), approved_on=dt.date(2025, 3, 20))


def _today_claimant(line, *, years: int = 15, name: str = "王秀兰", credited: int = 0):
    """Someone who reached 60 last month, so that a claim made today through the views can be approved today:
    the award starts next month, with a rate for that year (and none before it, so no earlier year waits)."""
    this_month = calc.month_of(timezone.localdate())
    birthday = calc.add_months(this_month, -1)
    start = calc.add_months(this_month, 1)
    InterestRate.objects.get_or_create(
        pooling_region=line.pooling_region, year=start.year, defaults={"rate": Decimal("0.01500")}
    )
    last_year = start.year - 1
    person = make_contributor(
        line,
        birth_date=dt.date(birthday.year - 60, birthday.month, 5),
        years=years,
        last_year=last_year,
        booked_on=dt.date(last_year, 12, 31),
        name=name,
    )
    if credited:
        services.years_credit_record(
            actor=line.staff(Role.COUNTY_APPROVER),
            person=person,
            kind=YearsCreditKind.DEEMED,
            years=credited,
            reference="退役士兵服役年限认定",
        )
    return person


# --- the claim workflow through the browser --------------------------------------------------------------


def test_claim_through_the_views_from_search_to_the_notice(line):
    person = _today_claimant(line, years=13, credited=2)
    agent, township, approver = (line.staff(r) for r in (Role.VILLAGE_AGENT, Role.TOWNSHIP_CLERK, Role.COUNTY_APPROVER))
    agent_client = client_for(agent)

    # the agent finds the person by identity number
    found = agent_client.get(reverse("benefits:claim_start"), {"q": person.id_number})
    assert found.status_code == 200
    new_url = reverse("benefits:claim_new", args=[person.pk])
    assert new_url in body(found)

    # the form shows the eligibility before anything is submitted: 13 paid + 2 deemed = 15 of 15
    form = agent_client.get(new_url)
    page = body(form)
    assert form.status_code == 200
    assert 'id="eligibility-result"' in page and "符合待遇领取条件" in page
    assert "退役士兵服役年限认定" in page
    table = form.context["result"]
    assert (table.years_paid, table.years_required, form.context["credited"]) == (15, 15, 2)
    assert not Claim.objects.exists()

    # the category changed in place (htmx) answers just the eligibility
    partial = agent_client.get(new_url, {"category": AwardCategory.URBAN_ELDERLY}, headers={"HX-Request": "true"})
    assert partial.status_code == 200
    assert "<html" not in body(partial) and "本统筹区未设立城镇老年补贴" in body(partial)

    # submitted
    submitted = agent_client.post(new_url, {"category": AwardCategory.MONTHLY_PENSION})
    claim = Claim.objects.get(person=person)
    assert submitted.status_code == 302 and submitted["Location"] == reverse("benefits:claim_detail", args=[claim.pk])
    assert claim.status == ClaimStatus.SUBMITTED and claim.created_by == agent
    detail_url = reverse("benefits:claim_detail", args=[claim.pk])

    # the agent may withdraw but not review; the township reviews
    own_page = body(agent_client.get(detail_url))
    assert 'id="claim-withdraw"' in own_page and 'id="claim-accept"' not in own_page
    township_client = client_for(township)
    assert 'id="claim-accept"' in body(township_client.get(detail_url))
    township_client.post(reverse("benefits:claim_accept", args=[claim.pk]))
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.ACCEPTED and claim.reviewed_by == township

    # the county returns it: without a reason, refused next to the field
    approver_client = client_for(approver)
    refused = approver_client.post(reverse("benefits:claim_return", args=[claim.pk]), {"reason": " "})
    assert refused.status_code == 400
    assert "请填写退回原因" in str(refused.context["return_form"].errors["reason"])
    approver_client.post(reverse("benefits:claim_return", args=[claim.pk]), {"reason": "缺户口簿复印件"})
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.RETURNED

    # back with the agent, who resubmits; reviewed and accepted again
    returned_page = body(agent_client.get(detail_url))
    assert "缺户口簿复印件" in returned_page and 'id="claim-resubmit"' in returned_page
    agent_client.post(reverse("benefits:claim_resubmit", args=[claim.pk]))
    township_client.post(reverse("benefits:claim_accept", args=[claim.pk]))
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.ACCEPTED

    # approved by the county: the award page with its parts
    approved = approver_client.post(reverse("benefits:claim_approve", args=[claim.pk]), follow=True)
    award = Award.objects.get(claim=claim)
    assert approved.redirect_chain[-1][0] == reverse("benefits:award_detail", args=[award.pk])
    assert award.start_month == calc.add_months(calc.month_of(timezone.localdate()), 1)
    start = award.periods.get(valid_from=award.start_month)
    page = body(approved)
    assert "已核定王秀兰的待遇" in page
    assert f"{award.account_balance_at_start} 元 ÷ 计发月数 139" in page
    assert start.total == start.basic_pension + award.account_pension

    # the two paper forms, with the award's parts
    application = approver_client.get(reverse("benefits:claim_print", args=[claim.pk]))
    notice = approver_client.get(reverse("benefits:claim_notice", args=[claim.pk]))
    assert "城乡居民基本养老保险待遇申请表" in body(application)
    assert "城乡居民基本养老保险待遇领取通知表" in body(notice)
    for paper in (application, notice):
        assert person.id_number in body(paper)  # the form for the file carries the full number
        assert f'id="award-total">{start.total}<' in body(paper)
        assert "@page { size: A4" in body(paper)
    assert list(claim.events.values_list("action", flat=True)) == [
        "submit",
        "accept",
        "return",
        "resubmit",
        "accept",
        "approve",
    ]


def test_a_claim_short_of_years_shows_what_is_missing_and_is_refused(line):
    person = _today_claimant(line, years=12)
    client = client_for(line.staff(Role.VILLAGE_AGENT))
    url = reverse("benefits:claim_new", args=[person.pk])

    page = body(client.get(url))
    assert "不符合待遇领取条件" in page
    assert "需15年（含视同缴费年限），已缴12年，还差3年" in page

    refused = client.post(url, {"category": AwardCategory.MONTHLY_PENSION})
    assert refused.status_code == 400
    assert "还差3年" in str(refused.context["form"].non_field_errors())
    assert not Claim.objects.exists()


def test_the_notice_waits_for_approval_and_the_entering_clerk_cannot_review(line):
    person = _today_claimant(line)
    clerk = line.staff(Role.TOWNSHIP_CLERK)
    claim = services.claim_submit(actor=clerk, person=person)
    client = client_for(clerk)

    page = body(client.get(reverse("benefits:claim_detail", args=[claim.pk])))
    assert 'id="claim-accept"' not in page and "须由其他工作人员办理" in page
    refused = client.post(reverse("benefits:claim_accept", args=[claim.pk]), follow=True)
    assert "录入人不能审核" in body(refused)
    notice = client.get(reverse("benefits:claim_notice", args=[claim.pk]), follow=True)
    assert "申请核定后才能打印" in body(notice)
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.SUBMITTED


def test_roles_without_the_action_are_refused(line, award):
    person = _today_claimant(line)
    claim = services.claim_submit(actor=line.staff(Role.VILLAGE_AGENT), person=person)
    officer = client_for(line.staff(Role.COUNTY_FUND_OFFICER))
    agent = client_for(line.staff(Role.VILLAGE_AGENT))
    approver = client_for(line.staff(Role.COUNTY_APPROVER))

    assert officer.get(reverse("benefits:claim_start")).status_code == 403
    assert officer.get(reverse("benefits:claim_new", args=[person.pk])).status_code == 403
    assert agent.post(reverse("benefits:parameters_add"), {"valid_from": "2025-07"}).status_code == 403
    assert agent.post(reverse("benefits:arrears_approve"), {"all": "1"}).status_code == 403
    assert approver.get(reverse("benefits:confirmations")).status_code == 403
    assert agent.post(reverse("benefits:award_stop", args=[award.pk]), {}).status_code == 403
    # the approve of someone without the role is refused by the service, and nothing changes
    refused = agent.post(reverse("benefits:claim_approve", args=[claim.pk]), follow=True)
    assert "无权办理" in body(refused)
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.SUBMITTED
    # no agency, no jurisdiction: nothing to list
    stranger = client_for(UserFactory(username="no_agency"))
    for name in ("claim_list", "award_list", "turning_60", "parameters", "arrears", "stop_list"):
        assert stranger.get(reverse(f"benefits:{name}")).status_code == 403, name


@pytest.mark.parametrize("role", [role for role, _ in Role.choices])
def test_every_list_page_renders_for_every_role_with_a_jurisdiction(line, award, role):
    client = client_for(line.staff(role))
    for name in ("claim_list", "award_list", "turning_60", "parameters", "arrears", "stop_list"):
        response = client.get(reverse(f"benefits:{name}"))
        assert response.status_code == 200, name
    detail = client.get(reverse("benefits:award_detail", args=[award.pk]))
    assert detail.status_code == 200
    page = body(detail)
    assert ('id="suspend-form"' in page) == (role == Role.COUNTY_APPROVER)
    assert ('id="yearly-check-form"' in page) == (role in (Role.VILLAGE_AGENT, Role.TOWNSHIP_CLERK, Role.COUNTY_CLERK))
    assert (client.get(reverse("benefits:confirmations")).status_code == 200) == (
        role in (Role.VILLAGE_AGENT, Role.TOWNSHIP_CLERK)
    )
    home = body(client.get(reverse("portal:home")))
    assert "待遇" in home


# --- awards ------------------------------------------------------------------------------------------------


def test_award_detail_shows_the_parts_and_what_they_were_computed_from(line, award):
    services.pension_parameters_set(
        actor=line.staff(Role.CITY_SUPERVISOR),
        pooling_region=line.pooling_region,
        valid_from=dt.date(2025, 7, 1),
        values={"central_minimum": "143"},
        note="人社部发〔2025〕XX号",
    )
    response = client_for(line.staff(Role.TOWNSHIP_CLERK)).get(reverse("benefits:award_detail", args=[award.pk]))
    page = body(response)
    current = response.context["current"]
    # this month's period: 143 + 100 + 2 × 2 = 247 basic; 13,952.13 ÷ 139 = 100.38
    assert current.valid_from == dt.date(2025, 7, 1)
    assert (current.central_minimum, current.local_top_up, current.years_addition) == (
        Decimal("143.00"),
        Decimal("100.00"),
        Decimal("4.00"),
    )
    assert current.total == Decimal("347.38")
    assert "13952.13 元 ÷ 计发月数 139" in page
    assert "人社部发〔2025〕XX号" in page  # the parameters row the period was computed from
    assert 'id="replaced-periods"' in page  # the periods the recalculation replaced
    assert "2025-07" in page and "2030-04" in page  # the addition at 65 is a period of its own


def test_the_county_suspends_resumes_and_stops_an_award(line, award):
    client = client_for(line.staff(Role.COUNTY_APPROVER))
    url = reverse("benefits:award_suspend", args=[award.pk])

    refused = client.post(url, {"suspend-from_month": "", "suspend-reason": ""})
    assert refused.status_code == 400
    form = refused.context["suspend_form"]
    assert "请填写自哪个月起停发" in str(form.errors["from_month"]) and "请选择停发原因" in str(form.errors["reason"])

    client.post(
        url, {"suspend-from_month": "2025-06", "suspend-reason": StopReason.OTHER, "suspend-note": "外出未认证"}
    )
    award.refresh_from_db()
    assert award.status == AwardStatus.SUSPENDED and award.paid_until == dt.date(2025, 6, 1)

    client.post(reverse("benefits:award_resume", args=[award.pk]), {"resume-note": "已补认证"})
    award.refresh_from_db()
    assert award.status == AwardStatus.ACTIVE

    client.post(
        reverse("benefits:award_stop", args=[award.pk]),
        {"stop-from_month": "2025-08", "stop-reason": StopReason.OTHER_PENSION},
    )
    award.refresh_from_db()
    assert award.status == AwardStatus.STOPPED and award.paid_until == dt.date(2025, 8, 1)
    assert list(award.events.values_list("action", flat=True)) == ["approve", "suspend", "resume", "stop"]


def test_a_yearly_check_is_recorded_with_its_channel(line, award):
    client = client_for(line.staff(Role.VILLAGE_AGENT))
    url = reverse("benefits:award_yearly_check", args=[award.pk])
    refused = client.post(url, {"check-year": "2025", "check-checked_on": "2025-05-06"})
    assert refused.status_code == 400
    assert "请选择认证方式" in str(refused.context["check_form"].errors["channel"])
    client.post(
        url, {"check-year": "2025", "check-channel": "phone", "check-checked_on": "2025-05-06", "check-passed": "1"}
    )
    check = YearlyCheck.objects.get(award=award)
    assert (check.year, check.channel, check.passed) == (2025, "phone", True)
    twice = client.post(
        url, {"check-year": "2025", "check-channel": "office", "check-checked_on": "2025-05-07", "check-passed": "1"}
    )
    assert "2025年度的资格认证已登记" in body(client.get(twice["Location"]))


# --- who turns 60 ------------------------------------------------------------------------------------------


def test_turning_60_lists_the_month_with_what_is_missing_and_exports_only_the_scope(line):
    month = calc.add_months(calc.month_of(timezone.localdate()), 1)
    born = dt.date(month.year - 60, month.month, 2)
    ready = make_contributor(line, birth_date=born, years=15, name="王五", last_year=month.year - 1)
    short = make_contributor(line, birth_date=born.replace(day=20), years=10, name="赵六", last_year=month.year - 1)
    other_township = region_line(county="320412", township="102", village="201")
    elsewhere = make_contributor(other_township, birth_date=born, years=15, name="孙八", last_year=month.year - 1)

    clerk = client_for(line.staff(Role.TOWNSHIP_CLERK))
    response = clerk.get(reverse("benefits:turning_60"))  # next month by default
    page = body(response)
    assert response.context["month"] == month
    assert {row.person.pk for row in response.context["rows"]} == {ready.pk, short.pk}
    assert "王五" in page and "赵六" in page and "孙八" not in page
    assert "还差5年" in page
    assert "323.00" in page  # 123 + 100 + 13,900 ÷ 139
    assert reverse("benefits:claim_new", args=[ready.pk]) in page

    export = clerk.get(reverse("benefits:turning_60_xlsx"), {"month": f"{month:%Y-%m}"})
    assert export.status_code == 200
    sheet = load_workbook(io.BytesIO(b"".join(export.streaming_content))).active
    names = [row[0] for row in sheet.iter_rows(min_row=3, values_only=True)]
    assert sorted(names) == ["王五", "赵六"]
    numbers = [row[2] for row in sheet.iter_rows(min_row=3, values_only=True)]
    assert idnumber.mask(ready.id_number) in numbers and ready.id_number not in numbers
    county = client_for(line.staff(Role.COUNTY_CLERK)).get(reverse("benefits:turning_60"))
    assert {row.person.pk for row in county.context["rows"]} == {ready.pk, short.pk, elsewhere.pk}


# --- parameters and back pay -------------------------------------------------------------------------------


def test_new_parameters_recalculate_and_the_county_approves_the_back_pay(line, award):
    officer = line.staff(Role.COUNTY_FUND_OFFICER)
    for month in (dt.date(2025, 4, 1), dt.date(2025, 5, 1)):
        run = payroll.payroll_prepare(actor=officer, pooling_region=line.pooling_region, month=month)
        payroll.payroll_confirm(actor=officer, run=run)
    supervisor = client_for(line.staff(Role.CITY_SUPERVISOR))

    # a month missing: refused next to the field; nothing saved
    refused = supervisor.post(
        reverse("benefits:parameters_add"), {"pooling_region": line.pooling_region.code, "central_minimum": "143"}
    )
    assert refused.status_code == 400
    assert "请填写执行月份" in str(refused.context["form"].errors["valid_from"])

    # from April: both paid months owe 20 yuan more each
    done = supervisor.post(
        reverse("benefits:parameters_add"),
        {"pooling_region": line.pooling_region.code, "valid_from": "2025-04", "central_minimum": "143"},
        follow=True,
    )
    page = body(done)
    assert "已重新计算1人的待遇，补发合计40.00元" in page
    assert 'id="recalculation-arrears">40.00<' in page
    row = PensionParameters.objects.get(pooling_region=line.pooling_region, valid_from=dt.date(2025, 4, 1))
    assert row.local_top_up == Decimal("100.00")  # kept from the previous row

    # the same month again: refused at the month
    again = supervisor.post(
        reverse("benefits:parameters_add"),
        {"pooling_region": line.pooling_region.code, "valid_from": "2025-04", "central_minimum": "150"},
    )
    assert again.status_code == 400 and "请选择新的执行月份" in str(again.context["form"].errors["valid_from"])

    # the township sees the back pay but cannot approve it
    township = client_for(line.staff(Role.TOWNSHIP_CLERK))
    listing = township.get(reverse("benefits:arrears"))
    assert listing.context["totals"]["amount"] == Decimal("40.00")
    assert 'name="arrear"' not in body(listing)
    assert township.post(reverse("benefits:arrears_approve"), {"all": "1"}).status_code == 403

    approver = client_for(line.staff(Role.COUNTY_APPROVER))
    april = Arrear.objects.get(month=dt.date(2025, 4, 1))
    approver.post(reverse("benefits:arrears_approve"), {"arrear": [str(april.pk), "x"]})
    assert set(Arrear.objects.values_list("month", "status")) == {
        (dt.date(2025, 4, 1), ArrearStatus.APPROVED),
        (dt.date(2025, 5, 1), ArrearStatus.PENDING),
    }
    approver.post(reverse("benefits:arrears_approve"), {"all": "1"})
    assert set(Arrear.objects.values_list("status", flat=True)) == {ArrearStatus.APPROVED}


def test_only_regions_wholly_in_scope_can_be_given_parameters(line):
    other = region_line(county="320411")
    supervisor = line.staff(Role.CITY_SUPERVISOR)  # city 3204: both counties
    county_admin = UserFactory(username="county_admin", role=Role.ADMINISTRATOR, agency=line.agency("county"))
    form = client_for(supervisor).get(reverse("benefits:parameters")).context["form"]
    assert {r.code for r in form.fields["pooling_region"].queryset} == {
        line.pooling_region.code,
        other.pooling_region.code,
    }
    refused = client_for(county_admin).post(
        reverse("benefits:parameters_add"),
        {"pooling_region": other.pooling_region.code, "valid_from": "2025-07", "central_minimum": "143"},
    )
    assert refused.status_code == 400
    assert not PensionParameters.objects.filter(pooling_region=other.pooling_region).exists()


# --- monthly confirmation and the stop list ----------------------------------------------------------------


def test_the_agent_confirms_reports_a_stop_and_prints_the_stop_list(line, award):
    second = make_award(
        line, make_contributor(line, birth_date=dt.date(1965, 2, 1), name="周九"), claimed_on=dt.date(2025, 3, 5)
    )
    agent = client_for(line.staff(Role.VILLAGE_AGENT))
    month = calc.month_of(timezone.localdate())

    listing = agent.get(reverse("benefits:confirmations"))
    assert {a.pk for a in listing.context["page"].object_list} == {award.pk, second.pk}

    # a stop report without its reason is refused next to the field
    stop_url = reverse("benefits:confirmation_stop", args=[second.pk])
    assert agent.get(stop_url).status_code == 200
    refused = agent.post(stop_url, {"month": f"{month:%Y-%m}", "stop_reason": ""})
    assert refused.status_code == 400 and "请选择停发原因" in str(refused.context["form"].errors["stop_reason"])
    other = agent.post(stop_url, {"month": f"{month:%Y-%m}", "stop_reason": StopReason.OTHER})
    assert other.status_code == 400 and "请说明停发原因" in str(other.context["form"].errors["note"])
    agent.post(stop_url, {"month": f"{month:%Y-%m}", "stop_reason": StopReason.DEATH, "note": "本月5日去世"})
    second.refresh_from_db()
    assert second.status == AwardStatus.SUSPENDED and second.paid_until == calc.add_months(month, 1)

    # one confirmed, then nobody left
    agent.post(reverse("benefits:confirmation_confirm", args=[award.pk]), {"month": f"{month:%Y-%m}"})
    assert MonthlyConfirmation.objects.get(award=award, month=month).alive
    assert agent.get(reverse("benefits:confirmations")).context["page"].paginator.count == 0
    assert "本月没有待确认的领取人员" in body(agent.post(reverse("benefits:confirmation_confirm_all"), follow=True))

    # the stop list, for the county too
    stop_list = body(client_for(line.staff(Role.COUNTY_CLERK)).get(reverse("benefits:stop_list")))
    assert "停止发放人员核定表" in stop_list and "周九" in stop_list and "本月5日去世" in stop_list
    assert "李四" not in stop_list


def test_confirm_all_confirms_everyone_left(line, award):
    make_award(
        line, make_contributor(line, birth_date=dt.date(1965, 2, 1), name="周九"), claimed_on=dt.date(2025, 3, 5)
    )
    agent = client_for(line.staff(Role.VILLAGE_AGENT))
    done = agent.post(reverse("benefits:confirmation_confirm_all"), {"month": ""}, follow=True)
    assert "已确认2人" in body(done)
    assert MonthlyConfirmation.objects.filter(alive=True).count() == 2


# --- home worklists ----------------------------------------------------------------------------------------


def test_home_worklists_carry_the_benefits_items(line, award):
    person = _today_claimant(line)
    agent_user = line.staff(Role.VILLAGE_AGENT)
    claim = services.claim_submit(actor=agent_user, person=person)

    agent = body(client_for(agent_user).get(reverse("portal:home")))
    assert "本月待确认的领取人员" in agent and reverse("benefits:confirmations") in agent
    township = body(client_for(line.staff(Role.TOWNSHIP_CLERK)).get(reverse("portal:home")))
    assert "待乡镇审核的待遇申请" in township and f"{reverse('benefits:claim_list')}?status=submitted" in township
    assert "下月年满60周岁" in township
    services.claim_return(actor=line.staff(Role.TOWNSHIP_CLERK), claim=claim, reason="缺照片")
    agent = body(client_for(agent_user).get(reverse("portal:home")))
    assert "被退回的待遇申请" in agent
    approver = body(client_for(line.staff(Role.COUNTY_APPROVER)).get(reverse("portal:home")))
    assert "待县级审批的待遇申请" in approver and "待审核的待遇补发" in approver
    officer = body(client_for(line.staff(Role.COUNTY_FUND_OFFICER)).get(reverse("portal:home")))
    assert "本月待遇发放" in officer and line.pooling_region.name in officer


# --- lists do not query per row ----------------------------------------------------------------------------


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def _bulk_claims_and_awards(line, n: int) -> None:
    """``n`` claims and ``n`` awards (with a period and a pending back pay each), straight in the database."""
    creator = line.staff(Role.VILLAGE_AGENT)
    approver = line.staff(Role.COUNTY_APPROVER)
    row = PensionParameters.objects.get(pooling_region=line.pooling_region)
    start = Claim.objects.count()
    for i in range(n):
        person = make_person(line.village, name=f"批量{start + i}", birth_date=dt.date(1960, 1, 1))
        Claim.objects.create(
            person=person,
            region_code=person.region_code,
            category=AwardCategory.MONTHLY_PENSION,
            eligible_from=dt.date(2020, 2, 1),
            years_paid=15,
            created_by=creator,
        )
        award = Award.objects.create(
            person=person,
            region_code=person.region_code,
            pooling_region=line.pooling_region,
            category=AwardCategory.MONTHLY_PENSION,
            start_month=dt.date(2024, 1, 1),
            birth_date=person.birth_date,
            years_paid=15,
            account_divisor=139,
            approved_by=approver,
        )
        AwardPeriod.objects.create(
            award=award, valid_from=dt.date(2024, 1, 1), parameters=row, basic_pension=Decimal(223), total=Decimal(223)
        )
        Arrear.objects.create(
            award=award, month=dt.date(2024, 2, 1), paid_amount=Decimal(0), due_amount=Decimal(5), amount=Decimal(5)
        )


def test_list_queries_do_not_grow_with_rows(line):
    _bulk_claims_and_awards(line, 1)
    county = client_for(line.staff(Role.COUNTY_APPROVER))
    agent = client_for(line.staff(Role.VILLAGE_AGENT))
    urls = [
        (county, reverse("benefits:claim_list")),
        (county, reverse("benefits:award_list")),
        (county, reverse("benefits:arrears")),
        (agent, reverse("benefits:confirmations")),
    ]
    one = [_queries(client, url) for client, url in urls]
    _bulk_claims_and_awards(line, 49)
    fifty = [_queries(client, url) for client, url in urls]
    assert one == fifty
    assert len(county.get(reverse("benefits:claim_list")).context["page"].object_list) == 50
    assert len(county.get(reverse("benefits:award_list")).context["page"].object_list) == 50
