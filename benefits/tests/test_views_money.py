"""The browser side of the money and the cases: pages per role, the payroll from preview to confirmation
(in the background, with its progress) and its funding request, the payout list, death lists with row errors,
overpayment recovery, the death settlement and its proof, the other-pension stop, transfers across two pooling
regions and with the employees' scheme, and query counts on the lists."""

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
from openpyxl import load_workbook

from agencies.models import Role
from agencies.tests.factories import UserFactory, region_line
from benefits import payroll, services
from benefits.models import (
    AwardStatus,
    DeathListLoad,
    DeathRecord,
    DeathSettlement,
    Overpayment,
    OverpaymentStatus,
    PayrollRun,
    PayrollStatus,
    RecoveryMethod,
    StopReason,
    Transfer,
    TransferKind,
    TransferStatus,
)
from benefits.tests.factories import make_award, make_contributor, make_parameters
from contributions.models import InterestRate
from enrollment import idnumber
from enrollment.models import InsuredPerson, PersonStatus
from enrollment.tests.factories import make_person
from funds.models import Component, EntryKind, IndividualAccount
from funds.services import Posting, ledger_post

pytestmark = pytest.mark.django_db

TODAY = dt.date(2025, 6, 18)
APRIL, MAY = dt.date(2025, 4, 1), dt.date(2025, 5, 1)
ALL_ROLES = [role for role, _ in Role.choices]
BANK_ACCOUNT = "6222021234567890123"
HEIR = idnumber.make("320412", dt.date(1990, 1, 1), 15)


@pytest.fixture(autouse=True)
def _today(monkeypatch):
    """The services' "today" (death dates, settlements, transfers): a fixed day inside the rates set below."""
    monkeypatch.setattr(services, "_today", lambda: TODAY)


def _region(county: str = "320412"):
    line = region_line(county=county)
    line.pooling_region.scheme_started_on = dt.date(2011, 7, 1)
    line.pooling_region.save()
    InterestRate.objects.create(pooling_region=line.pooling_region, year=2025, rate=Decimal("0.01500"))
    return line


@pytest.fixture
def line():
    line = _region()
    make_parameters(line, valid_from=dt.date(2024, 1, 1), per_year_beyond_minimum="2", funeral_grant_fixed="1000")
    return line


def recipient(line, name: str = "李四"):
    """A person paid from April 2025: basic 227.00 + account 100.38 a month."""
    person = make_contributor(line, birth_date=dt.date(1965, 3, 10), years=17, name=name, bank_account=BANK_ACCOUNT)
    return make_award(line, person, claimed_on=dt.date(2025, 3, 5), approved_on=dt.date(2025, 3, 20))


@pytest.fixture
def award(line):
    return recipient(line)


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def confirm_through_view(client, run, capture) -> object:
    """确认发放 as the officer clicks it: the task is queued after commit and (no broker) runs in-process."""
    with capture(execute=True):
        response = client.post(reverse("benefits:payroll_confirm", args=[run.pk]))
    return response


def confirmed_run(line, month: dt.date) -> PayrollRun:
    officer = line.staff(Role.COUNTY_FUND_OFFICER)
    run = payroll.payroll_prepare(actor=officer, pooling_region=line.pooling_region, month=month)
    return payroll.payroll_confirm(actor=officer, run=run)


def figures(html: str) -> dict[str, Decimal]:
    return {name: Decimal(value) for name, value in re.findall(r'data-figure="(\w+)">\s*([-\d.]+)\s*<', html)}


def field_html(html: str, name: str) -> str:
    start = html.index(f'id="field-{name}"')
    end = html.find('class="field', start + 1)
    return html[start : end if end != -1 else len(html)]


def proof(name: str = "heir.pdf", content: bytes = b"%PDF-1.4 inheritance") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/pdf")


# --- pages per role ----------------------------------------------------------------------------------------

EVERYONE = set(ALL_ROLES)
CLERKS = {Role.TOWNSHIP_CLERK, Role.COUNTY_CLERK}
LIST_PAGES = {
    "benefits:payroll_list": EVERYONE,
    "benefits:overpayments": EVERYONE,
    "benefits:transfers": EVERYONE,
    "benefits:death_lists": {Role.TOWNSHIP_CLERK, Role.COUNTY_CLERK, Role.COUNTY_APPROVER},
    "benefits:transfer_request": CLERKS,
}
PERSON_PAGES = {
    "benefits:death_record_person": CLERKS,
    "benefits:settlement_form": {Role.COUNTY_APPROVER},
    "benefits:other_pension_stop": {Role.COUNTY_APPROVER},
    "benefits:transfer_to_employees": CLERKS,
    "benefits:transfer_from_employees": CLERKS,
}
# A payroll is the whole pooling region's: only those whose jurisdiction holds all of it see the run.
RUN_READERS = {
    Role.COUNTY_CLERK,
    Role.COUNTY_APPROVER,
    Role.COUNTY_FUND_OFFICER,
    Role.CITY_SUPERVISOR,
    Role.ADMINISTRATOR,
}


@pytest.mark.parametrize("role", ALL_ROLES)
def test_pages_render_for_the_right_roles_and_refuse_the_others(line, award, role):
    run = payroll.payroll_prepare(
        actor=line.staff(Role.COUNTY_FUND_OFFICER), pooling_region=line.pooling_region, month=APRIL
    )
    client = client_for(line.staff(role))
    failures = []
    for name, allowed in LIST_PAGES.items():
        status = client.get(reverse(name)).status_code
        if status != (200 if role in allowed else 403):
            failures.append(f"{name}: {status}")
    for name, allowed in PERSON_PAGES.items():
        status = client.get(reverse(name, args=[award.person_id])).status_code
        if status != (200 if role in allowed else 403):
            failures.append(f"{name}: {status}")
    status = client.get(reverse("benefits:payroll_detail", args=[run.pk])).status_code
    if status != (200 if role in RUN_READERS else 404):
        failures.append(f"payroll_detail: {status}")
    assert not failures, failures


def test_staff_without_jurisdiction_are_refused(line):
    client = client_for(UserFactory(username="nobody", role=Role.COUNTY_CLERK))
    for name in LIST_PAGES:
        assert client.get(reverse(name)).status_code == 403, name


def test_only_the_fund_officer_sees_the_preview_form_and_may_prepare(line, award):
    clerk = client_for(line.staff(Role.COUNTY_CLERK))
    assert 'id="prepare-form"' not in clerk.get(reverse("benefits:payroll_list")).content.decode()
    data = {"pooling_region": line.pooling_region.pk, "month": "2025-04"}
    assert clerk.post(reverse("benefits:payroll_prepare"), data).status_code == 403
    assert not PayrollRun.objects.exists()
    officer = client_for(line.staff(Role.COUNTY_FUND_OFFICER))
    assert 'id="prepare-form"' in officer.get(reverse("benefits:payroll_list")).content.decode()


# --- payroll -----------------------------------------------------------------------------------------------


def test_payroll_preview_then_confirm_through_the_views(line, award, django_capture_on_commit_callbacks):
    client = client_for(line.staff(Role.COUNTY_FUND_OFFICER))
    # given a preview of April
    response = client.post(
        reverse("benefits:payroll_prepare"), {"pooling_region": line.pooling_region.pk, "month": "2025-04"}
    )
    run = PayrollRun.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("benefits:payroll_detail", args=[run.pk])
    page = client.get(response["Location"]).content.decode()
    assert run.status == PayrollStatus.DRAFT and "327.38" in page and "重新试算" in page and "确认发放" in page
    assert "2025年4月10日前" in page and "2025年4月15日前" in page and "2025年4月20日前" in page
    assert BANK_ACCOUNT not in page and "****0123" in page
    # a preview may be computed again while a draft
    assert client.post(reverse("benefits:payroll_reprepare", args=[run.pk])).status_code == 302
    # when confirmed
    response = confirm_through_view(client, run, django_capture_on_commit_callbacks)
    assert response["Location"] == reverse("benefits:payroll_detail", args=[run.pk]) + "?queued=1"
    run.refresh_from_db()
    assert run.status == PayrollStatus.CONFIRMED
    assert run.account_paid_total == Decimal("100.38") and run.total == Decimal("327.38")
    assert run.funding_request_number
    # then the page no longer offers to prepare or confirm, and both are refused with a clear message
    page = client.get(reverse("benefits:payroll_detail", args=[run.pk]), {"queued": "1"}).content.decode()
    assert 'id="payroll-progress"' not in page and "用款申请" in page
    assert "重新试算</button>" not in page and "确认发放</button>" not in page
    response = client.post(reverse("benefits:payroll_reprepare", args=[run.pk]), follow=True)
    assert "发放数据已锁定，不能重新试算" in response.content.decode()
    response = client.post(reverse("benefits:payroll_confirm", args=[run.pk]), follow=True)
    assert "已确认，不能再次确认" in response.content.decode()
    prepare = client.post(
        reverse("benefits:payroll_prepare"), {"pooling_region": line.pooling_region.pk, "month": "2025-04"}
    )
    assert prepare.status_code == 400 and "不能重新试算" in prepare.content.decode()


def test_confirming_elsewhere_is_refused_before_queueing(line, award, django_capture_on_commit_callbacks):
    run = payroll.payroll_prepare(
        actor=line.staff(Role.COUNTY_FUND_OFFICER), pooling_region=line.pooling_region, month=APRIL
    )
    clerk = client_for(line.staff(Role.COUNTY_CLERK))
    with django_capture_on_commit_callbacks() as callbacks:
        assert clerk.post(reverse("benefits:payroll_confirm", args=[run.pk])).status_code == 403
    assert not callbacks
    township = client_for(line.staff(Role.TOWNSHIP_CLERK))
    assert township.post(reverse("benefits:payroll_confirm", args=[run.pk])).status_code == 404


def test_progress_endpoint_polls_while_confirming_and_reloads_when_done(line, award):
    run = payroll.payroll_prepare(
        actor=line.staff(Role.COUNTY_FUND_OFFICER), pooling_region=line.pooling_region, month=APRIL
    )
    client = client_for(line.staff(Role.COUNTY_CLERK))  # anyone who sees the run sees its progress
    url = reverse("benefits:payroll_progress", args=[run.pk])
    # queued: the worker has not started yet
    body = client.get(url, {"queued": "1"}, headers={"HX-Request": "true"}).content.decode()
    assert 'hx-trigger="every 2s"' in body and "等待后台开始处理" in body
    # confirming: the bar from progress_done / progress_total
    PayrollRun.objects.filter(pk=run.pk).update(status=PayrollStatus.CONFIRMING, progress_done=3, progress_total=10)
    body = client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert '<progress max="10" value="3"' in body and 'hx-trigger="every 2s"' in body
    assert "已记账 3 / 10" in body
    page = client.get(reverse("benefits:payroll_detail", args=[run.pk])).content.decode()
    assert 'id="payroll-progress"' in page
    # confirmed: HTMX is told to reload the run page; a plain request gets the partial without polling
    PayrollRun.objects.filter(pk=run.pk).update(status=PayrollStatus.CONFIRMED)
    response = client.get(url, headers={"HX-Request": "true"})
    assert response["HX-Redirect"] == reverse("benefits:payroll_detail", args=[run.pk])
    assert "hx-trigger" not in client.get(url).content.decode()


def test_funding_request_figures_equal_the_runs_totals(line, award):
    # given one recipient whose account runs out this month, and one with back pay and an offset
    exhausted = recipient(line, name="王五")
    ledger_post(
        account=IndividualAccount.objects.get(person=exhausted.person),
        postings=[Posting(Component.PERSONAL, EntryKind.REFUND, Decimal("-13900.00"))],
        booked_on=dt.date(2025, 3, 31),
        reference="test:drain",
        idempotency_key="test:drain",
    )
    Overpayment.objects.create(
        award=award,
        person=award.person,
        region_code=award.region_code,
        reason=StopReason.OTHER,
        first_month=dt.date(2025, 1, 1),
        last_month=dt.date(2025, 1, 1),
        amount=Decimal("50.00"),
        offset_per_month=Decimal("20.00"),
        created_by=line.staff(Role.COUNTY_CLERK),
    )
    run = confirmed_run(line, APRIL)
    assert run.fund_paid_total > 0 and run.total < run.basic_total + run.account_total
    # when the officer opens the funding request
    client = client_for(line.staff(Role.COUNTY_FUND_OFFICER))
    response = client.get(reverse("benefits:payroll_funding_request", args=[run.pk]))
    assert response.status_code == 200
    shown = figures(response.content.decode())
    # then the individual-account fund and the basic-pension money are shown apart and add up to the run
    assert shown["account_fund"] == run.account_paid_total
    assert shown["basic"] == run.basic_total and shown["fund_paid"] == run.fund_paid_total
    assert shown["arrears"] == run.arrears_total
    assert shown["basic_fund"] == run.basic_total + run.fund_paid_total + run.arrears_total
    assert shown["offsets"] == Decimal("-20.00")
    assert shown["total"] == run.total == shown["account_fund"] + shown["basic_fund"] + shown["offsets"]
    body = response.content.decode()
    assert run.funding_request_number in body and "按月领取养老金" in body


def test_funding_request_only_for_a_confirmed_run(line, award):
    run = payroll.payroll_prepare(
        actor=line.staff(Role.COUNTY_FUND_OFFICER), pooling_region=line.pooling_region, month=APRIL
    )
    client = client_for(line.staff(Role.COUNTY_FUND_OFFICER))
    response = client.get(reverse("benefits:payroll_funding_request", args=[run.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("benefits:payroll_detail", args=[run.pk])


def test_payout_xlsx_masks_bank_accounts_and_is_scoped(line, award):
    recipient(line, name="王五")
    run = confirmed_run(line, APRIL)
    client = client_for(line.staff(Role.COUNTY_FUND_OFFICER))
    response = client.get(reverse("benefits:payroll_payout_xlsx", args=[run.pk]))
    assert response.status_code == 200 and response["Cache-Control"] == "private, no-store"
    content = b"".join(response.streaming_content)
    rows = list(load_workbook(io.BytesIO(content)).active.iter_rows(values_only=True))
    people = [row for row in rows if isinstance(row[0], int)]
    assert sorted(row[1] for row in people) == ["李四", "王五"]
    assert {row[6] for row in people} == {"****0123"}
    assert all(BANK_ACCOUNT not in str(cell) for row in rows for cell in row)
    assert sum(Decimal(str(row[7])) for row in people) == run.total
    assert "银行账号已隐去" in str(rows[1][0])
    # the run is the whole region's: a township clerk and another region's officer get nothing
    assert client_for(line.staff(Role.TOWNSHIP_CLERK)).get(response.wsgi_request.path).status_code == 404
    other = _region("320481")
    assert client_for(other.staff(Role.COUNTY_FUND_OFFICER)).get(response.wsgi_request.path).status_code == 404


def _detail_queries(client, run) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("benefits:payroll_detail", args=[run.pk]))
    assert response.status_code == 200
    return len(queries)


def test_payroll_lines_are_paged_with_constant_queries(line, award):
    officer = line.staff(Role.COUNTY_FUND_OFFICER)
    client = client_for(officer)
    run = payroll.payroll_prepare(actor=officer, pooling_region=line.pooling_region, month=APRIL)
    with_one = _detail_queries(client, run)
    for n in range(4):
        recipient(line, name=f"领取人{n}")
    run = payroll.payroll_prepare(actor=officer, pooling_region=line.pooling_region, month=APRIL)
    assert run.lines_count == 5
    assert _detail_queries(client, run) == with_one


def test_payroll_list_queries_do_not_grow_with_runs(line, award):
    client = client_for(line.staff(Role.COUNTY_FUND_OFFICER))
    confirmed_run(line, APRIL)
    with CaptureQueriesContext(connection) as one:
        client.get(reverse("benefits:payroll_list"))
    confirmed_run(line, MAY)
    payroll.payroll_prepare(
        actor=line.staff(Role.COUNTY_FUND_OFFICER), pooling_region=line.pooling_region, month=dt.date(2025, 6, 1)
    )
    with CaptureQueriesContext(connection) as three:
        body = client.get(reverse("benefits:payroll_list")).content.decode()
    assert body.count("/benefits/payroll/") >= 3
    assert len(three) == len(one)


# --- deaths ------------------------------------------------------------------------------------------------


def _csv(*rows: str) -> SimpleUploadedFile:
    return SimpleUploadedFile("死亡名单.csv", ("身份证号,死亡日期\n" + "\n".join(rows) + "\n").encode())


def test_death_list_with_a_bad_row_shows_row_errors_and_changes_nothing(line, award):
    confirmed_run(line, APRIL)
    confirmed_run(line, MAY)
    client = client_for(line.staff(Role.COUNTY_CLERK))
    number = award.person.id_number
    bad = _csv(
        f"{number},2025-04-15",
        f"{number},2025/13/01",
        f"{idnumber.make('320412', dt.date(1950, 1, 1), 11)},2025-07-01",
        f"{number},2025-04-16",
    )
    response = client.post(reverse("benefits:death_lists"), {"file": bad})
    assert response.status_code == 400
    body = response.content.decode()
    table = body[body.index('id="row-errors"') :]
    assert "名单有3行有误，未做任何比对" in table
    assert re.search(r'<td class="num">3</td><td>死亡日期</td><td>死亡日期“2025/13/01”格式不正确', table)
    assert re.search(r'<td class="num">4</td><td>死亡日期</td><td>死亡日期不在合理范围内', table)
    assert re.search(r'<td class="num">5</td><td>身份证号</td><td>与第2行重复', table)
    assert not DeathListLoad.objects.exists() and not DeathRecord.objects.exists()
    assert not Overpayment.objects.exists()
    award.refresh_from_db()
    assert award.status == AwardStatus.ACTIVE
    # the corrected list matches and makes the overpayment of May
    response = client.post(reverse("benefits:death_lists"), {"file": _csv(f"{award.person.id_number},2025-04-15")})
    load = DeathListLoad.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("benefits:death_list_detail", args=[load.pk])
    page = client.get(response["Location"]).content.decode()
    overpayment = Overpayment.objects.get()
    assert overpayment.amount == Decimal("327.38") and overpayment.first_month == MAY
    assert award.person.name in page and reverse("benefits:overpayment_detail", args=[overpayment.pk]) in page
    assert re.search(r'id="matches">1<', page) and re.search(r'id="overpayments">1<', page)


def test_death_list_with_a_malformed_identity_number_is_refused_whole(line, award):
    client = client_for(line.staff(Role.COUNTY_CLERK))
    bad = _csv(f"{award.person.id_number},2025-04-15", "32041219650310001,2025-04-15")
    response = client.post(reverse("benefits:death_lists"), {"file": bad})
    assert response.status_code == 400
    table = response.content.decode().split('id="row-errors"')[1]
    assert re.search(r'<td class="num">3</td><td>身份证号</td><td>身份证号应为18位，现在是17位', table)
    assert not DeathListLoad.objects.exists() and not DeathRecord.objects.exists()


def test_death_list_refuses_other_files_next_to_the_field(line):
    client = client_for(line.staff(Role.COUNTY_APPROVER))
    upload = SimpleUploadedFile("名单.html", b"<script>")
    response = client.post(reverse("benefits:death_lists"), {"file": upload})
    assert response.status_code == 400
    assert "只能上传以下格式的文件" in field_html(response.content.decode(), "file")
    township = client_for(line.staff(Role.TOWNSHIP_CLERK))
    assert township.post(reverse("benefits:death_lists"), {"file": _csv()}).status_code == 403


def test_record_a_single_death_from_an_award(line, award):
    confirmed_run(line, APRIL)
    confirmed_run(line, MAY)
    client = client_for(line.staff(Role.TOWNSHIP_CLERK))
    url = reverse("benefits:death_record_award", args=[award.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, {"died_on": "2025-07-01", "source": "家属报告"})
    assert response.status_code == 400
    assert "死亡日期不能晚于今天" in field_html(response.content.decode(), "died_on")
    response = client.post(url, {"died_on": "2025-04-15", "source": "家属报告"}, follow=True)
    body = response.content.decode()
    assert "次月起停发" in body and "327.38元列为多发待遇" in body
    award.refresh_from_db()
    assert award.status == AwardStatus.STOPPED and award.paid_until == MAY


def test_person_finder_opens_the_form_for_a_person_in_scope(line, award):
    client = client_for(line.staff(Role.COUNTY_APPROVER))
    response = client.get(
        reverse("benefits:person_find"), {"id_number": award.person.id_number.lower(), "for": "settlement"}
    )
    assert response["Location"] == reverse("benefits:settlement_form", args=[award.person_id])
    other = _region("320481")
    stranger = make_person(other.village, name="外地人")
    response = client.get(reverse("benefits:person_find"), {"id_number": stranger.id_number, "for": "settlement"})
    assert response["Location"] == reverse("benefits:death_lists")


# --- overpayments ------------------------------------------------------------------------------------------


@pytest.fixture
def overpayment(line, award) -> Overpayment:
    confirmed_run(line, APRIL)
    confirmed_run(line, MAY)
    services.death_record(
        actor=line.staff(Role.COUNTY_CLERK), person=award.person, died_on=dt.date(2025, 4, 15), source="家属报告"
    )
    return Overpayment.objects.get()


def test_overpayment_recovery_through_the_form(line, overpayment):
    client = client_for(line.staff(Role.COUNTY_CLERK))
    detail = reverse("benefits:overpayment_detail", args=[overpayment.pk])
    assert 'id="recovery-form"' in client.get(detail).content.decode()
    url = reverse("benefits:overpayment_recover", args=[overpayment.pk])
    # a malformed amount, and more than is outstanding, are refused next to the amount
    step = {"method": RecoveryMethod.REPAYMENT, "amount": "1e2", "on": "2025-06-10", "reference": "HD-001"}
    response = client.post(url, step)
    assert response.status_code == 400 and "格式不正确" in field_html(response.content.decode(), "amount")
    response = client.post(url, {**step, "amount": "400"})
    assert response.status_code == 400 and "超过尚未追回的327.38元" in field_html(response.content.decode(), "amount")
    response = client.post(url, {**step, "amount": "100", "reference": ""})
    assert "请填写凭证号" in field_html(response.content.decode(), "reference")
    assert not overpayment.steps.exists()
    # a repayment, then the rest offset against the account balance
    response = client.post(url, {**step, "amount": "100.00"}, follow=True)
    assert "尚未追回227.38元" in response.content.decode()
    client.post(url, {**step, "method": RecoveryMethod.ACCOUNT_OFFSET, "amount": "227.38", "reference": "SP-002"})
    overpayment.refresh_from_db()
    assert overpayment.recovered == Decimal("327.38") and overpayment.status == OverpaymentStatus.RECOVERED
    page = client.get(detail).content.decode()
    assert "HD-001" in page and "SP-002" in page and 'id="recovery-form"' not in page
    # the recovered one leaves the open list, and stays in "all"
    assert award_name(overpayment) not in client.get(reverse("benefits:overpayments")).content.decode()
    assert award_name(overpayment) in client.get(reverse("benefits:overpayments"), {"status": "all"}).content.decode()


def award_name(overpayment: Overpayment) -> str:
    return f">{overpayment.person.name}</a>"


def test_offset_and_referral_refusals_are_shown(line, overpayment):
    client = client_for(line.staff(Role.COUNTY_FUND_OFFICER))
    response = client.post(reverse("benefits:overpayment_offset", args=[overpayment.pk]), {"per_month": "50"})
    assert response.status_code == 400 and "该待遇已停发，不能从后续待遇中抵扣" in response.content.decode()
    response = client.post(reverse("benefits:overpayment_refer", args=[overpayment.pk]), {"note": ""})
    refer = response.content.decode().split('id="refer-form"')[1]
    assert response.status_code == 400 and "请填写移交说明" in field_html(refer, "note")
    client.post(reverse("benefits:overpayment_refer", args=[overpayment.pk]), {"note": "涉嫌冒领，移交公安"})
    overpayment.refresh_from_db()
    assert overpayment.status == OverpaymentStatus.REFERRED
    agent = client_for(line.staff(Role.VILLAGE_AGENT))  # sees it, may not act
    assert agent.get(reverse("benefits:overpayment_detail", args=[overpayment.pk])).status_code == 200
    assert (
        agent.post(reverse("benefits:overpayment_offset", args=[overpayment.pk]), {"per_month": "1"}).status_code == 403
    )


def test_overpayment_list_queries_do_not_grow_with_rows(line, award):
    client = client_for(line.staff(Role.COUNTY_CLERK))
    clerk = line.staff(Role.COUNTY_CLERK)

    def add(n: int) -> None:
        Overpayment.objects.bulk_create(
            Overpayment(
                award=award,
                person=award.person,
                region_code=award.region_code,
                reason=StopReason.OTHER,
                first_month=dt.date(2000 + Overpayment.objects.count() + i, 1, 1),
                last_month=dt.date(2000 + Overpayment.objects.count() + i, 1, 1),
                amount=Decimal("10.00"),
                created_by=clerk,
            )
            for i in range(n)
        )

    add(2)
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("benefits:overpayments"))
    add(20)
    with CaptureQueriesContext(connection) as many:
        body = client.get(reverse("benefits:overpayments")).content.decode()
    assert body.count("/benefits/overpayments/") >= 22
    assert len(many) == len(few)


# --- death settlement, other pension -----------------------------------------------------------------------


def test_death_settlement_form_result_and_proof(line, overpayment):
    person = overpayment.person
    approver = client_for(line.staff(Role.COUNTY_APPROVER))
    url = reverse("benefits:settlement_form", args=[person.pk])
    heir = {
        "heir_name": "李小四",
        "heir_id_number": HEIR,
        "heir_relation": "子女",
        "heir_bank_code": "ICBC",
        "heir_bank_account": "6222029999888877776",
    }
    # an executable "proof" and a missing one are refused next to the field; nothing is settled
    response = approver.post(url, {**heir, "proof": SimpleUploadedFile("proof.html", b"<script>")})
    assert response.status_code == 400
    assert "只能上传以下格式的文件" in field_html(response.content.decode(), "proof")
    response = approver.post(url, heir)
    assert "请上传继承权证明材料" in field_html(response.content.decode(), "proof")
    response = approver.post(url, {**heir, "heir_id_number": HEIR[:-1] + ("0" if HEIR[-1] != "0" else "1")})
    assert response.status_code == 400 and field_html(response.content.decode(), "heir_id_number").count("errorlist")
    assert not DeathSettlement.objects.exists()
    # when settled
    response = approver.post(url, {**heir, "proof": proof()})
    settlement = DeathSettlement.objects.get()
    assert response["Location"] == reverse("benefits:settlement_detail", args=[settlement.pk])
    body = approver.get(response["Location"]).content.decode()
    shown = figures(body)
    # then the page shows what the service computed: the overpaid May offset, the rest inherited, the grant
    assert shown["overpayment_offset"] == settlement.overpayment_offset == Decimal("327.38")
    assert shown["balance_paid"] == settlement.balance_paid > 0
    assert shown["funeral_grant"] == settlement.funeral_grant == Decimal("1000.00")
    assert shown["payable"] == settlement.balance_paid + settlement.funeral_grant
    assert "6222029999888877776" not in body and "****7776" in body
    person.refresh_from_db()
    assert person.status == PersonStatus.CANCELLED
    # the form now leads to the result
    assert approver.get(url)["Location"] == reverse("benefits:settlement_detail", args=[settlement.pk])
    # the proof: streamed in scope, 404 elsewhere
    proof_url = reverse("benefits:settlement_proof", args=[settlement.pk])
    download = approver.get(proof_url)
    assert download.status_code == 200 and b"".join(download.streaming_content) == b"%PDF-1.4 inheritance"
    assert download["Content-Security-Policy"] == "sandbox"
    other = _region("320481")
    assert client_for(other.staff(Role.COUNTY_APPROVER)).get(proof_url).status_code == 404
    assert client_for(other.staff(Role.COUNTY_APPROVER)).get(response["Location"]).status_code == 404


def test_settlement_needs_a_recorded_death(line, award):
    approver = client_for(line.staff(Role.COUNTY_APPROVER))
    url = reverse("benefits:settlement_form", args=[award.person_id])
    assert "尚未登记死亡信息" in approver.get(url).content.decode()
    data = {"heir_name": "李小四", "heir_id_number": HEIR, "heir_relation": "子女", "proof": proof()}
    response = approver.post(url, data)
    assert response.status_code == 400 and "请先登记死亡信息" in response.content.decode()


def test_other_pension_stop_shows_refund_and_overpayment(line, award):
    confirmed_run(line, APRIL)
    confirmed_run(line, MAY)
    approver = client_for(line.staff(Role.COUNTY_APPROVER))
    url = reverse("benefits:other_pension_stop", args=[award.person_id])
    response = approver.post(url, {"employee_pension_from": ""})
    assert response.status_code == 400 and "请填写开始领取职工养老金的日期" in field_html(
        response.content.decode(), "employee_pension_from"
    )
    response = approver.post(url, {"employee_pension_from": "2025-05-01"})
    assert response.status_code == 200
    shown = figures(response.content.decode())
    overpayment = Overpayment.objects.get(reason=StopReason.OTHER_PENSION)
    assert shown["overpayment"] == overpayment.amount == Decimal("227.00")  # May's basic pension
    assert shown["refund"] > 0
    assert IndividualAccount.objects.get(person=award.person).balance == 0
    again = approver.post(url, {"employee_pension_from": "2025-05-01"})
    assert again.status_code == 400 and "已注销" in again.content.decode()


# --- transfers ---------------------------------------------------------------------------------------------


def test_transfer_across_two_pooling_regions_through_the_views(line):
    other = _region("320481")
    person = make_contributor(line, birth_date=dt.date(1980, 5, 5), years=10, balance=Decimal("5000.00"))
    receiving = client_for(other.staff(Role.COUNTY_CLERK))
    sending = client_for(line.staff(Role.COUNTY_APPROVER))
    # the receiving side applies
    assert receiving.get(reverse("benefits:transfer_request")).status_code == 200
    request = {
        "id_number": person.id_number,
        "to_village": other.village.code,
        "hukou_moved_on": "2025-05-01",
        "reference": "ZY-2025-001",
    }
    bad = receiving.post(reverse("benefits:transfer_request"), {**request, "to_village": line.village.code})
    assert bad.status_code == 400 and "不在您的管辖范围内" in field_html(bad.content.decode(), "to_village")
    response = receiving.post(reverse("benefits:transfer_request"), request)
    transfer = Transfer.objects.get()
    detail = reverse("benefits:transfer_detail", args=[transfer.pk])
    assert response["Location"] == detail
    # both sides see it; a third place does not
    assert person.name in receiving.get(reverse("benefits:transfers")).content.decode()
    assert person.name in sending.get(reverse("benefits:transfers")).content.decode()
    third = _region("320402")
    assert client_for(third.staff(Role.COUNTY_APPROVER)).get(detail).status_code == 404
    assert (
        person.name
        not in client_for(third.staff(Role.COUNTY_CLERK)).get(reverse("benefits:transfers")).content.decode()
    )
    # the receiving side may not approve; the sending approver approves and pays
    assert "审核并划转</button>" not in receiving.get(detail).content.decode()
    assert receiving.post(reverse("benefits:transfer_approve", args=[transfer.pk])).status_code == 403
    assert "审核并划转</button>" in sending.get(detail).content.decode()
    sending.post(reverse("benefits:transfer_approve", args=[transfer.pk]))
    transfer.refresh_from_db()
    assert transfer.status == TransferStatus.MOVED
    moved = transfer.amount
    assert moved == Decimal("5031.25")  # 5,000.00 and five months at 1.5%
    # the sending side cannot book; the receiving side confirms and books
    clerk_a = client_for(line.staff(Role.COUNTY_CLERK))
    response = clerk_a.post(reverse("benefits:transfer_book", args=[transfer.pk]), follow=True)
    assert "不在您的管辖范围内" in response.content.decode()
    assert "确认转入并记账</button>" in receiving.get(detail).content.decode()
    receiving.post(reverse("benefits:transfer_book", args=[transfer.pk]))
    transfer.refresh_from_db()
    person.refresh_from_db()
    account = IndividualAccount.objects.get(person=person)
    assert transfer.status == TransferStatus.BOOKED and person.region_code == other.village.code
    assert account.balance == moved and account.pooling_region == other.pooling_region
    page = receiving.get(detail).content.decode()
    assert re.search(r'data-figure="amount">5031.25<', page) and re.search(r'data-figure="years">10<', page)
    # the printed form for the file, for either side
    for client in (receiving, sending):
        printed = client.get(reverse("benefits:transfer_print", args=[transfer.pk])).content.decode()
        assert "城乡居民基本养老保险关系转移接续申请表" in printed and "5031.25" in printed


def test_transfers_with_the_employees_scheme(line):
    clerk = client_for(line.staff(Role.COUNTY_CLERK))
    leaving = make_contributor(line, birth_date=dt.date(1965, 1, 5), years=8, name="赵六")
    url = reverse("benefits:transfer_to_employees", args=[leaving.pk])
    response = clerk.post(url, {"employee_years": "12", "reference": "ZG-1"})
    assert response.status_code == 400
    assert "不足15年" in field_html(response.content.decode(), "employee_years")
    response = clerk.post(url, {"employee_years": "18", "reference": "ZG-1"})
    out = Transfer.objects.get(person=leaving)
    assert out.kind == TransferKind.TO_EMPLOYEES and response["Location"] == reverse(
        "benefits:transfer_detail", args=[out.pk]
    )
    client_for(line.staff(Role.COUNTY_APPROVER)).post(reverse("benefits:transfer_approve", args=[out.pk]))
    out.refresh_from_db()
    leaving.refresh_from_db()
    assert out.status == TransferStatus.MOVED and leaving.status == PersonStatus.CANCELLED
    printed = clerk.get(reverse("benefits:transfer_print", args=[out.pk])).content.decode()
    assert "转入城镇职工基本养老保险申请表" in printed

    joining = make_contributor(line, birth_date=dt.date(1970, 1, 5), years=5, name="钱七")
    url = reverse("benefits:transfer_from_employees", args=[joining.pk])
    response = clerk.post(url, {"employee_years": "6", "amount": "abc", "reference": "ZG-2"})
    assert "格式不正确" in field_html(response.content.decode(), "amount")
    clerk.post(url, {"employee_years": "6", "amount": "8000.50", "reference": "ZG-2"})
    booked = Transfer.objects.get(person=joining)
    assert booked.status == TransferStatus.BOOKED and booked.amount == Decimal("8000.50")
    assert services.years_paid(joining) == 11
    printed = clerk.get(reverse("benefits:transfer_print", args=[booked.pk])).content.decode()
    assert "城镇职工基本养老保险转入城乡居民基本养老保险申请表" in printed


def test_transfer_list_queries_do_not_grow_with_rows(line):
    clerk_user = line.staff(Role.COUNTY_CLERK)
    client = client_for(clerk_user)

    def add(n: int) -> None:
        for i in range(n):
            person = make_person(line.village, name=f"转移{InsuredPerson.objects.count()}{i}")
            Transfer.objects.create(
                kind=TransferKind.TO_EMPLOYEES,
                person=person,
                region_code=person.region_code,
                from_region_code=person.region_code,
                employee_years=16,
                reference=f"ZG-{person.pk}",
                requested_by=clerk_user,
            )

    add(2)
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("benefits:transfers"))
    add(15)
    with CaptureQueriesContext(connection) as many:
        body = client.get(reverse("benefits:transfers")).content.decode()
    assert body.count('href="/benefits/transfers/') >= 17
    assert len(many) == len(few)


def test_death_load_list_queries_do_not_grow_with_rows(line):
    user = line.staff(Role.COUNTY_CLERK)
    client = client_for(user)

    def add(n: int) -> None:
        start = DeathListLoad.objects.count()
        DeathListLoad.objects.bulk_create(
            DeathListLoad(
                region_code="320412", file_name=f"名单{start + i}.csv", file_sha256=f"{start + i:064d}", loaded_by=user
            )
            for i in range(n)
        )

    add(2)
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("benefits:death_lists"))
    add(20)
    with CaptureQueriesContext(connection) as many:
        body = client.get(reverse("benefits:death_lists")).content.decode()
    assert body.count("/benefits/deaths/loads/") == 22
    assert len(many) == len(few)


# --- another jurisdiction's records ------------------------------------------------------------------------


def test_another_jurisdictions_records_answer_404_on_every_money_route(line):
    from benefits import urls_money

    # given a pooling region elsewhere with a payroll, a death from its list, the overpayment, the settlement
    foreign = _region("320115")
    make_parameters(foreign, valid_from=dt.date(2024, 1, 1))
    award = recipient(foreign, name="境外某甲")
    run = confirmed_run(foreign, APRIL)
    confirmed_run(foreign, MAY)
    load = services.death_list_load(
        actor=foreign.staff(Role.COUNTY_CLERK),
        file_name="境外名单.csv",
        content=f"{award.person.id_number},2025-04-15\n".encode(),
    )
    overpayment = Overpayment.objects.get()
    settlement = services.death_settlement_record(
        actor=foreign.staff(Role.COUNTY_APPROVER),
        person=award.person,
        heir_name="境外继承人",
        heir_id_number=idnumber.make("320115", dt.date(1990, 1, 1), 15),
        heir_relation="子女",
        proof=proof(),
    )
    leaving = make_contributor(foreign, birth_date=dt.date(1965, 1, 5), years=8, name="境外某乙")
    transfer = services.transfer_to_employees(
        actor=foreign.staff(Role.COUNTY_CLERK), person=leaving, employee_years=18, reference="ZG-F"
    )
    objects = {
        PayrollRun: run,
        DeathListLoad: load,
        Overpayment: overpayment,
        DeathSettlement: settlement,
        Transfer: transfer,
        type(award): award,
        InsuredPerson: leaving,
    }
    counts = {model: model.objects.count() for model in objects}
    routes = [route for route in urls_money.urlpatterns if route.pattern.regex.groupindex]
    failures = []
    for role in ALL_ROLES:
        client = client_for(line.staff(role))
        for route in routes:
            path = "/benefits/" + str(route.pattern).replace("<int:pk>", str(objects[route.callback.scope_model].pk))
            for method in ("get", "post"):
                status = getattr(client, method)(path).status_code
                if status not in (404, 405):
                    failures.append(f"{role} {method.upper()} {path} → {status}")
    assert not failures, "\n".join(failures)
    assert counts == {model: model.objects.count() for model in objects}
    overpayment.refresh_from_db()
    assert (
        overpayment.status == OverpaymentStatus.RECOVERED
        and not overpayment.steps.exclude(reference__startswith="account-offset").exists()
    )
