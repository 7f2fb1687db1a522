"""The bank pages: the administrator's partner registry and API keys (a key shown once, rotated, revoked), the
fund officer's batches with the banks' result files (the city supervisor reads them), the DEDUCT issue form in
contributions and the PAYOUT one on a confirmed payroll run, the village agent's follow-up list and its export,
the home worklists. Each page for the roles that may and may not use it (403), other jurisdictions (404),
identity numbers and bank accounts masked in lists, and list queries that do not grow with the rows."""

import datetime as dt
import hashlib
import io
import os
import re
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from agencies.models import Role
from agencies.tests.factories import UserFactory, region_line
from benefits import payroll
from benefits.models import PayoutStatus
from benefits.tests.factories import make_award, make_contributor, make_parameters
from contributions import services as contribution_services
from contributions.models import InterestRate
from contributions.tests.factories import make_policy
from enrollment import idnumber
from enrollment.api.serializers import mask_bank_account
from enrollment.tests.factories import make_person
from funds.bank_partners import credential_for_key, credential_issue
from funds.batches import batch_file, result_receive
from funds.models import (
    BankBatch,
    BankBatchLine,
    BankCredential,
    BankPartner,
    BatchStatus,
    CredentialUse,
    ReceiptStatus,
    ResultLine,
    ResultReceipt,
)
from funds.tests.bank_factories import BANK, issue_deduct, make_partner, make_payers, result_file, result_lines

pytestmark = pytest.mark.django_db

ALL_ROLES = [role for role, _ in Role.choices]
YEAR = 2026


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _line(county: str = "320412", **kwargs):
    line = region_line(county=county, **kwargs)
    line.pooling_region.scheme_started_on = dt.date(2009, 7, 1)
    line.pooling_region.save()
    make_policy(line)
    return line


@pytest.fixture
def line():
    return _line()


@pytest.fixture
def partner(line):
    return make_partner(line)


@pytest.fixture
def payers(line, partner):
    # 300 + 500 + 1000 = 1800.00; the 500 payer's account holds too little
    return make_payers(line, partner, [300, 500, 1000], names=["赵一", "钱二", "孙三"])


def settle(batch, codes, capture, **kwargs):
    data = result_file(batch, codes, **kwargs)
    with capture(execute=True):
        received = result_receive(partner=batch.partner, batch_no=batch.batch_no, data=data, idempotency_key="k")
    batch.refresh_from_db()
    return received.receipt


def seq_of(batch, person) -> int:
    return batch.lines.get(person=person).seq


@pytest.fixture
def settled(line, partner, payers, django_capture_on_commit_callbacks):
    """The DEDUCT batch of 2026, settled: 300 and 1000 deducted, the 500 refused for insufficient funds."""
    batch = issue_deduct(line, partner)
    settle(batch, {seq_of(batch, payers[1]): "1001"}, django_capture_on_commit_callbacks)
    assert batch.status == BatchStatus.SETTLED
    return batch


def html_of(response) -> str:
    return response.content.decode()


def field_html(html: str, name: str) -> str:
    start = html.index(f'id="field-{name}"')
    end = html.find('class="field', start + 1)
    return html[start : end if end != -1 else len(html)]


# --- the partner registry ------------------------------------------------------------------------------


PARTNER_PAGES = ["funds:partner_list", "funds:partner_add"]


@pytest.mark.parametrize("role", ALL_ROLES)
def test_only_the_administrator_uses_the_partner_pages(line, partner, role):
    client = client_for(line.staff(role))
    allowed = role == Role.ADMINISTRATOR
    for name in PARTNER_PAGES:
        assert client.get(reverse(name)).status_code == (200 if allowed else 403), name
    for name in ("funds:partner_detail", "funds:partner_edit"):
        assert client.get(reverse(name, args=[partner.pk])).status_code == (200 if allowed else 403), name
    credential = credential_issue(actor=line.staff(Role.ADMINISTRATOR), partner=partner).credential
    for name, pk in (
        ("funds:credential_issue", partner.pk),
        ("funds:credential_rotate", credential.pk),
        ("funds:credential_revoke", credential.pk),
        ("funds:partner_deactivate", partner.pk),
    ):
        if not allowed:
            assert client.post(reverse(name, args=[pk])).status_code == 403, name
    if not allowed:
        credential.refresh_from_db()
        partner.refresh_from_db()
        assert (credential.revoked_at, credential.expires_at, partner.active) == (None, None, True)
        assert BankCredential.objects.count() == 1


def test_an_administrator_of_another_city_gets_404_for_the_bank(line, partner):
    other = _line("320115")
    client = client_for(other.staff(Role.ADMINISTRATOR))
    credential = credential_issue(actor=line.staff(Role.ADMINISTRATOR), partner=partner).credential
    assert client.get(reverse("funds:partner_detail", args=[partner.pk])).status_code == 404
    assert client.post(reverse("funds:credential_revoke", args=[credential.pk])).status_code == 404
    assert client.post(reverse("funds:partner_deactivate", args=[partner.pk])).status_code == 404
    assert partner.name not in html_of(client.get(reverse("funds:partner_list")))
    credential.refresh_from_db()
    assert credential.revoked_at is None


def test_the_partner_list_queries_do_not_grow_with_banks(line, django_assert_max_num_queries):
    admin = line.staff(Role.ADMINISTRATOR)
    client = client_for(admin)
    credential_issue(actor=admin, partner=make_partner(line))
    with django_assert_max_num_queries(10) as one:
        assert client.get(reverse("funds:partner_list")).status_code == 200
    for n in range(3):
        partner = make_partner(line, code=f"B{n}", name=f"银行{n}")
        credential_issue(actor=admin, partner=partner)
        credential_issue(actor=admin, partner=partner)
    with django_assert_max_num_queries(len(one)):
        body = html_of(client.get(reverse("funds:partner_list")))
    assert body.count("<tr data-code=") == 4


def test_registering_a_bank_through_the_page(line):
    client = client_for(line.staff(Role.ADMINISTRATOR))
    response = client.post(
        reverse("funds:partner_add"),
        {"code": "314", "name": "江南农村商业银行", "pooling_regions": [line.pooling_region.pk], "encoding": "gbk"},
    )
    partner = BankPartner.objects.get(code="314")
    assert response.status_code == 302 and response["Location"] == reverse("funds:partner_detail", args=[partner.pk])
    assert (partner.name, partner.encoding, partner.active) == ("江南农村商业银行", "gbk", True)
    assert list(partner.pooling_regions.all()) == [line.pooling_region]
    listing = html_of(client.get(reverse("funds:partner_list")))
    assert "江南农村商业银行" in listing and "GBK" in listing

    # the service's refusals: next to the code, or at the top for a code already registered
    bad = client.post(reverse("funds:partner_add"), {"code": "3 1-4", "name": "某银行", "encoding": "utf-8"})
    assert bad.status_code == 400
    assert "银行代码为1至10位字母或数字" in field_html(html_of(bad), "code")
    again = client.post(reverse("funds:partner_add"), {"code": "314", "name": "重复", "encoding": "utf-8"})
    assert again.status_code == 400 and "银行代码 314 已登记" in html_of(again)
    assert BankPartner.objects.count() == 1


def test_editing_keeps_the_regions_an_administrator_cannot_see(line, partner):
    other = _line("320115")
    partner.pooling_regions.add(other.pooling_region)
    client = client_for(line.staff(Role.ADMINISTRATOR))
    page = html_of(client.get(reverse("funds:partner_edit", args=[partner.pk])))
    assert other.pooling_region.name not in page  # not offered to this administrator
    response = client.post(
        reverse("funds:partner_edit", args=[partner.pk]),
        {"name": "中国农业银行", "encoding": "gbk", "active": "on"},  # the home region unticked
    )
    assert response.status_code == 302
    partner.refresh_from_db()
    assert (partner.name, partner.encoding, partner.active) == ("中国农业银行", "gbk", True)
    assert list(partner.pooling_regions.all()) == [other.pooling_region]
    assert partner.history.first().history_user == line.staff(Role.ADMINISTRATOR)


def test_a_new_key_is_shown_once_and_only_its_hash_is_kept(line, partner):
    client = client_for(line.staff(Role.ADMINISTRATOR))
    response = client.post(reverse("funds:credential_issue", args=[partner.pk]), {"label": "生产环境"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    html = html_of(response)
    key = re.search(r'id="issued-key" class="mono" value="([^"]+)"', html).group(1)
    assert "密钥只显示这一次" in html
    credential = BankCredential.objects.get()
    prefix, secret = key.split(".")
    assert (credential.prefix, credential.label) == (prefix, "生产环境")
    assert credential.secret_sha256 == hashlib.sha256(secret.encode()).hexdigest()
    assert credential_for_key(key) == credential
    # never again: not on the bank's page, nowhere in the database
    detail = html_of(client.get(reverse("funds:partner_detail", args=[partner.pk])))
    assert prefix in detail and secret not in detail and credential.secret_sha256 not in detail
    assert not BankCredential.objects.filter(secret_sha256=secret).exists()


def test_rotation_and_revocation_through_the_pages(line, partner):
    admin = line.staff(Role.ADMINISTRATOR)
    client = client_for(admin)
    old = credential_issue(actor=admin, partner=partner)
    # when the key is rotated
    before = timezone.now()
    response = client.post(reverse("funds:credential_rotate", args=[old.credential.pk]))
    html = html_of(response)
    new_key = re.search(r'id="issued-key" class="mono" value="([^"]+)"', html).group(1)
    assert new_key != old.key and f"旧密钥 {old.credential.prefix} 将于" in html
    old.credential.refresh_from_db()
    # then both work for now, and the old one stops 24 hours later
    assert credential_for_key(old.key) == old.credential and credential_for_key(new_key) is not None
    assert before + dt.timedelta(hours=24) <= old.credential.expires_at <= timezone.now() + dt.timedelta(hours=24)
    detail = html_of(client.get(reverse("funds:partner_detail", args=[partner.pk])))
    assert f'data-prefix="{old.credential.prefix}" data-state="expiring"' in detail
    # when the new key is revoked
    new = BankCredential.objects.get(prefix=new_key.split(".")[0])
    response = client.post(reverse("funds:credential_revoke", args=[new.pk]))
    assert response.status_code == 302
    new.refresh_from_db()
    assert (new.revoked_by, credential_for_key(new_key)) == (admin, None)
    detail = html_of(client.get(reverse("funds:partner_detail", args=[partner.pk])))
    assert f'data-prefix="{new.prefix}" data-state="revoked"' in detail
    # and a revoked key cannot be rotated: the refusal is shown, no key is made
    response = client.post(reverse("funds:credential_rotate", args=[new.pk]), follow=True)
    assert "该密钥已吊销" in html_of(response)
    assert BankCredential.objects.count() == 2


def test_the_bank_page_shows_the_keys_use(line, partner):
    admin = line.staff(Role.ADMINISTRATOR)
    credential = credential_issue(actor=admin, partner=partner).credential
    CredentialUse.objects.create(credential=credential, method="GET", path="/api/v1/bank/batches/", status_code=200)
    CredentialUse.objects.create(
        credential=credential, method="POST", path="/api/v1/bank/batches/X/result", status_code=400
    )
    html = html_of(client_for(admin).get(reverse("funds:partner_detail", args=[partner.pk])))
    uses = html[html.index('id="credential-uses"') :]
    assert uses.index("/api/v1/bank/batches/X/result") < uses.index("/api/v1/bank/batches/</td>")  # newest first
    assert ">400<" in uses and ">POST<" in uses


def test_deactivating_a_bank_stops_its_keys(line, partner):
    admin = line.staff(Role.ADMINISTRATOR)
    issued = credential_issue(actor=admin, partner=partner)
    response = client_for(admin).post(reverse("funds:partner_deactivate", args=[partner.pk]), follow=True)
    partner.refresh_from_db()
    assert partner.active is False and "已停止" in html_of(response)
    assert list(partner.pooling_regions.all()) == [line.pooling_region]
    assert credential_for_key(issued.key) is None
    # no new key for a bank we no longer work with; the refusal is shown
    response = client_for(admin).post(reverse("funds:credential_issue", args=[partner.pk]), {"label": "x"})
    assert response.status_code == 400 and "已停止合作，不能签发密钥" in html_of(response)


# --- batches -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ALL_ROLES)
def test_batch_pages_for_the_fund_officer_and_the_city_supervisor_only(settled, line, role):
    client = client_for(line.staff(role))
    reader = role in (Role.COUNTY_FUND_OFFICER, Role.CITY_SUPERVISOR)
    listing = client.get(reverse("funds:batch_list"))
    assert listing.status_code == (200 if reader else 403)
    detail = client.get(reverse("funds:batch_detail", args=[settled.pk]))
    # a village agent and a township clerk do not cover the pooling region: for them the batch does not exist
    covers = role not in (Role.VILLAGE_AGENT, Role.TOWNSHIP_CLERK)
    assert detail.status_code == (200 if reader else 403 if covers else 404)
    download = client.get(reverse("funds:batch_download", args=[settled.pk]))
    assert download.status_code == (200 if role == Role.COUNTY_FUND_OFFICER else 403 if covers else 404)
    if reader:
        assert settled.batch_no in html_of(listing)


def test_another_regions_officer_neither_lists_nor_opens_the_batch(settled):
    other = _line("320481")
    client = client_for(other.staff(Role.COUNTY_FUND_OFFICER))
    assert settled.batch_no not in html_of(client.get(reverse("funds:batch_list")))
    for name in ("funds:batch_detail", "funds:batch_download"):
        assert client.get(reverse(name, args=[settled.pk])).status_code == 404


def test_the_batch_page_shows_figures_receipts_and_masked_failures(settled, line, payers):
    html = html_of(
        client_for(line.staff(Role.COUNTY_FUND_OFFICER)).get(reverse("funds:batch_detail", args=[settled.pk]))
    )
    rows = re.findall(r'<tr data-row="(\w+)">.*?<td class="num">(\d+)</td><td class="num money">([\d.]+)</td>', html)
    assert rows == [("issued", "3", "1800.00"), ("ok", "2", "1300.00"), ("failed", "1", "500.00")]
    receipts = html[html.index('id="receipts"') :]
    assert 'data-status="settled"' in receipts
    # the failure: the 500 payer, insufficient funds, identity number and account masked
    poor = payers[1]
    follow = html[html.index('id="follow-ups"') :]
    assert re.findall(r'<tr data-seq="(\d+)" data-code="(\d+)">', follow) == [(str(seq_of(settled, poor)), "1001")]
    assert "钱二" in follow and "余额不足" in follow and "500.00" in follow
    assert idnumber.mask(poor.id_number) in follow and mask_bank_account(poor.bank_account) in follow
    assert poor.id_number not in html and poor.bank_account not in html
    assert "赵一" not in follow and "孙三" not in follow


def test_the_download_is_the_file_the_bank_gets(settled, line):
    officer = line.staff(Role.COUNTY_FUND_OFFICER)
    response = client_for(officer).get(reverse("funds:batch_download", args=[settled.pk]))
    assert response.status_code == 200
    assert response.content == batch_file(settled)
    assert hashlib.sha256(response.content).hexdigest() == settled.file_sha256 == response["X-Content-SHA256"]
    assert f'filename="{settled.batch_no}.txt"' in response["Content-Disposition"]


def test_a_rejected_file_shows_every_error_and_waits_for_a_corrected_one(line, partner, payers):
    batch = issue_deduct(line, partner)
    # the bank's file names a result code the contract does not have, and changes a name it repeats
    lines = [replace(answer, result_code="7777") if answer.seq == 1 else answer for answer in result_lines(batch)]
    lines[2] = replace(lines[2], name="孙叁")
    receipt = result_receive(partner=partner, batch_no=batch.batch_no, data=result_file(batch, lines=lines)).receipt
    assert receipt.status == ReceiptStatus.REJECTED and receipt.error_count >= 1
    officer = client_for(line.staff(Role.COUNTY_FUND_OFFICER))
    html = html_of(officer.get(reverse("funds:batch_detail", args=[batch.pk])))
    errors = html[html.index(f'id="errors-{receipt.pk}"') :]
    for error in receipt.errors:
        assert f">{error['field']}<" in errors and error["message"] in errors
    assert "已整份拒收" in html
    # the worklist and the list's shortcut find it
    home = html_of(officer.get(reverse("portal:home")))
    assert re.search(r"<strong>1</strong>回盘被拒收、待银行重传的批次", home)
    shortcut = html_of(officer.get(reverse("funds:batch_list") + "?todo=rejected"))
    assert batch.batch_no in shortcut


def test_the_batch_list_queries_do_not_grow_with_batches(
    line, partner, django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    officer = line.staff(Role.COUNTY_FUND_OFFICER)
    client = client_for(officer)
    make_payers(line, partner, [300], year=2025)
    settle(issue_deduct(line, partner, year=2025), {}, django_capture_on_commit_callbacks)
    with django_assert_max_num_queries(12) as one:
        assert client.get(reverse("funds:batch_list")).status_code == 200
    for day in (3, 4):
        make_payers(line, partner, [500, 300], year=2025, names=[f"甲{day}", f"乙{day}"])
        batch = issue_deduct(line, partner, year=2025, on=dt.date(2025, 3, day))
        result_receive(partner=partner, batch_no=batch.batch_no, data=b"H|bad\n")  # a rejected file first
        settle(batch, {1: "1002"}, django_capture_on_commit_callbacks)
    with django_assert_max_num_queries(len(one)) as three:
        body = html_of(client.get(reverse("funds:batch_list")))
    assert body.count('<tr data-batch="') == 3
    assert len(three) == len(one)


# --- the DEDUCT issue form -----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ALL_ROLES)
def test_only_the_fund_officer_issues_deductions(line, partner, payers, role):
    client = client_for(line.staff(role))
    officer = role == Role.COUNTY_FUND_OFFICER
    assert client.get(reverse("contributions:deduct_issue")).status_code == (200 if officer else 403)
    if not officer:
        data = {"pooling_region": line.pooling_region.pk, "partner": partner.pk, "year": str(YEAR)}
        assert client.post(reverse("contributions:deduct_issue"), data).status_code == 403
        assert not BankBatch.objects.exists()


def test_a_deduction_issued_through_the_form(line, partner, payers):
    client = client_for(line.staff(Role.COUNTY_FUND_OFFICER))
    form = html_of(client.get(reverse("contributions:deduct_issue")))
    assert f'<option value="{line.pooling_region.pk}" selected>' in form  # the one region the officer covers
    response = client.post(
        reverse("contributions:deduct_issue"),
        {"pooling_region": line.pooling_region.pk, "partner": partner.pk, "year": "2026"},
        follow=True,
    )
    batch = BankBatch.objects.get()
    assert response.redirect_chain[-1][0] == reverse("funds:batch_detail", args=[batch.pk])
    assert (batch.kind, batch.period, batch.record_count, batch.total_amount) == (
        "DEDUCT",
        "2026",
        3,
        Decimal("1800.00"),
    )
    html = html_of(response)
    assert f"已下发代扣批次 {batch.batch_no}：3笔，合计1800.00元" in html
    assert 'data-status="issued"' in html
    # the same again: every payer is in a live batch, the refusal is shown on the form
    again = client.post(
        reverse("contributions:deduct_issue"),
        {"pooling_region": line.pooling_region.pk, "partner": partner.pk, "year": "2026"},
    )
    assert again.status_code == 400 and "没有可下发的记录" in html_of(again)
    assert BankBatch.objects.count() == 1


def test_a_bank_that_does_not_serve_the_region_is_refused_next_to_its_field(line, partner, payers):
    # given a fund officer at the city, covering two pooling regions, and a bank serving only the other one
    north = _line("320411")
    other_bank = make_partner(north, code="BOC02", name="中国银行")
    officer = UserFactory(username="city_fund", role=Role.COUNTY_FUND_OFFICER, agency=line.agency("city"))
    client = client_for(officer)
    response = client.post(
        reverse("contributions:deduct_issue"),
        {"pooling_region": line.pooling_region.pk, "partner": other_bank.pk, "year": "2026"},
    )
    assert response.status_code == 400
    assert "中国银行不是统筹区320412的合作银行" in field_html(html_of(response), "partner")
    bad_year = client.post(
        reverse("contributions:deduct_issue"),
        {"pooling_region": line.pooling_region.pk, "partner": partner.pk, "year": "26"},
    )
    assert "缴费年度为四位数字" in field_html(html_of(bad_year), "year")
    assert not BankBatch.objects.exists()


# --- the PAYOUT issue form on a payroll run ----------------------------------------------------------


APRIL = dt.date(2025, 4, 1)


def pension_year(line) -> None:
    """Pension parameters from 2024 and the 2025 interest rate (an award's account part is figured with it)."""
    InterestRate.objects.create(pooling_region=line.pooling_region, year=2025, rate=Decimal("0.015"))
    make_parameters(line, valid_from=dt.date(2024, 1, 1))


@pytest.fixture
def run(line, partner):
    """April 2025 confirmed for two recipients banking with the partner."""
    pension_year(line)
    for name, account in (("周五", "6228480000000000011"), ("吴六", "6228480000000000022")):
        person = make_contributor(
            line, birth_date=dt.date(1965, 3, 10), years=17, name=name, bank_code=partner.code, bank_account=account
        )
        make_award(line, person, claimed_on=dt.date(2025, 3, 5), approved_on=dt.date(2025, 3, 20))
    officer = line.staff(Role.COUNTY_FUND_OFFICER)
    prepared = payroll.payroll_prepare(actor=officer, pooling_region=line.pooling_region, month=APRIL)
    return payroll.payroll_confirm(actor=officer, run=prepared)


def test_a_payout_issued_from_the_run_then_its_failure_reissued_once_the_account_is_corrected(
    line, partner, run, django_capture_on_commit_callbacks
):
    client = client_for(line.staff(Role.COUNTY_FUND_OFFICER))
    page = html_of(client.get(reverse("benefits:payroll_detail", args=[run.pk])))
    assert 'id="payout-form"' in page and "本月发放尚未下发代发批次" in page
    # when the officer issues the run's PAYOUT batch
    response = client.post(reverse("benefits:payroll_bank_batch", args=[run.pk]), {"partner": partner.pk})
    batch = BankBatch.objects.get(kind="PAYOUT")
    assert response.status_code == 302 and response["Location"] == reverse("funds:batch_detail", args=[batch.pk])
    assert (batch.source_id, batch.period, batch.record_count, batch.total_amount) == (run.pk, "202504", 2, run.total)
    # and the bank pays one and fails the other (account closed)
    wu = batch.lines.get(name="吴六")
    settle(batch, {wu.seq: "1002"}, django_capture_on_commit_callbacks)
    assert (batch.status, batch.failed_count, batch.failed_amount) == ("settled", 1, wu.amount)
    page = html_of(client.get(reverse("benefits:payroll_detail", args=[run.pk])))
    assert f'<tr data-batch="{batch.batch_no}">' in page
    reissue = page[page.index('id="reissue"') : page.index("</table>", page.index('id="reissue"'))]
    assert "吴六" in reissue and "账户已销户" in reissue and "周五" not in reissue
    assert "已更正账号" not in reissue and mask_bank_account(wu.bank_account) in reissue
    assert wu.bank_account not in page
    # when the person's account is corrected, the failure is marked ready
    person = wu.person
    person.bank_account = "6228480000000000099"
    person.save()
    page = html_of(client.get(reverse("benefits:payroll_detail", args=[run.pk])))
    assert "已更正账号" in page[page.index('id="reissue"') : page.index('id="lines"')]
    # and the next batch pays it at the new account, after which it leaves the list
    client.post(reverse("benefits:payroll_bank_batch", args=[run.pk]), {"partner": partner.pk})
    second = BankBatch.objects.filter(kind="PAYOUT").exclude(pk=batch.pk).get()
    assert list(second.lines.values_list("name", "bank_account")) == [("吴六", "6228480000000000099")]
    page = html_of(client.get(reverse("benefits:payroll_detail", args=[run.pk])))
    assert "没有代发失败的待遇" in page
    assert run.lines.filter(award_id=wu.source_id).first().payout_status == PayoutStatus.PENDING


def test_the_payout_form_shows_refusals_and_is_the_officers_alone(line, partner, run):
    officer = client_for(line.staff(Role.COUNTY_FUND_OFFICER))
    officer.post(reverse("benefits:payroll_bank_batch", args=[run.pk]), {"partner": partner.pk})
    # everything is in a live batch: nothing more to issue, said next to the form
    again = officer.post(reverse("benefits:payroll_bank_batch", args=[run.pk]), {"partner": partner.pk})
    assert again.status_code == 400 and "没有可下发的记录" in html_of(again)
    missing = officer.post(reverse("benefits:payroll_bank_batch", args=[run.pk]), {})
    assert "请选择合作银行" in field_html(html_of(missing), "partner")
    supervisor = client_for(line.staff(Role.CITY_SUPERVISOR))
    assert 'id="payout-form"' not in html_of(supervisor.get(reverse("benefits:payroll_detail", args=[run.pk])))
    assert (
        supervisor.post(reverse("benefits:payroll_bank_batch", args=[run.pk]), {"partner": partner.pk}).status_code
        == 403
    )
    assert BankBatch.objects.count() == 1


def test_no_payout_form_before_confirmation(line, partner):
    pension_year(line)
    person = make_contributor(line, name="郑七", bank_code=partner.code, bank_account="6228480000000000033")
    make_award(line, person, claimed_on=dt.date(2025, 3, 5), approved_on=dt.date(2025, 3, 20))
    officer = line.staff(Role.COUNTY_FUND_OFFICER)
    draft = payroll.payroll_prepare(actor=officer, pooling_region=line.pooling_region, month=APRIL)
    client = client_for(officer)
    assert 'id="bank-batches"' not in html_of(client.get(reverse("benefits:payroll_detail", args=[draft.pk])))
    response = client.post(
        reverse("benefits:payroll_bank_batch", args=[draft.pk]), {"partner": partner.pk}, follow=True
    )
    assert "尚未确认，不能下发代发批次" in html_of(response)
    assert not BankBatch.objects.exists()


# --- the village agent's follow-up list -------------------------------------------------------------


def test_the_village_agent_follows_up_their_villages_failures_masked(settled, line, payers):
    agent = client_for(line.staff(Role.VILLAGE_AGENT))
    html = html_of(agent.get(reverse("contributions:deduct_follow_ups") + f"?year={YEAR}"))
    rows = re.findall(r'<tr data-person="(\d+)" data-code="(\d+)">', html)
    poor = payers[1]
    assert rows == [(str(poor.pk), "1001")]
    table = html[html.index('id="follow-ups"') :]
    assert "钱二" in table and "余额不足" in table and "未缴费" in table
    assert idnumber.mask(poor.id_number) in table and mask_bank_account(poor.bank_account) in table
    assert poor.id_number not in html and poor.bank_account not in html
    # the home page counts them
    home = html_of(agent.get(reverse("portal:home")))
    assert re.search(r"<strong>1</strong>本年代扣失败待跟进", home)
    # the export says the same, masked
    response = agent.get(reverse("contributions:deduct_follow_ups_xlsx") + f"?year={YEAR}")
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    values = list(sheet.iter_rows(values_only=True))
    assert values[1][:3] == ("姓名", "身份证号", "村（社区）")
    assert len(values) == 3
    person_row = values[2]
    assert person_row[0] == "钱二" and person_row[1] == idnumber.mask(poor.id_number)
    assert person_row[4] == f"{BANK} {mask_bank_account(poor.bank_account)}"
    assert Decimal(str(person_row[5])) == Decimal("500.00") and person_row[6] == "余额不足"
    assert all(poor.id_number not in str(c) and poor.bank_account not in str(c) for row in values for c in row)


def test_a_payment_at_the_counter_afterwards_marks_the_failure_paid(settled, line, payers):
    poor = payers[1]
    contribution_services.contribution_post(
        actor=line.staff(Role.TOWNSHIP_CLERK),
        person=poor,
        year=YEAR,
        amount="500",
        paid_on=dt.date(2026, 4, 1),
        channel="counter",
        bank_code=BANK,
        bank_reference="GM-1",
    )
    agent = client_for(line.staff(Role.VILLAGE_AGENT))
    html = html_of(agent.get(reverse("contributions:deduct_follow_ups") + f"?year={YEAR}"))
    assert "已缴费" in html[html.index('id="follow-ups"') :]
    assert re.search(r"<strong>0</strong>本年代扣失败待跟进", html_of(agent.get(reverse("portal:home"))))


def test_a_village_agent_of_another_village_sees_none(settled, line):
    neighbour = region_line(county="320412", township="101", village="202")
    agent = client_for(neighbour.staff(Role.VILLAGE_AGENT))
    html = html_of(agent.get(reverse("contributions:deduct_follow_ups") + f"?year={YEAR}"))
    assert "没有需要跟进的代扣失败记录" in html and "钱二" not in html
    response = agent.get(reverse("contributions:deduct_follow_ups_xlsx") + f"?year={YEAR}")
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    assert len(list(sheet.iter_rows(values_only=True))) == 2  # the title and the header, no one
    # asking for the other village by its code does not help
    html = html_of(agent.get(reverse("contributions:deduct_follow_ups") + f"?year={YEAR}&village={line.village.code}"))
    assert "钱二" not in html and "不在您的管辖范围内" in html


def test_a_refund_is_listed_for_follow_up(line, partner, payers, django_capture_on_commit_callbacks):
    # given a payer who paid at the counter after the batch was issued, and whom the bank deducted as well
    batch = issue_deduct(line, partner)
    rich = payers[2]
    contribution_services.contribution_post(
        actor=line.staff(Role.TOWNSHIP_CLERK),
        person=rich,
        year=YEAR,
        amount="1000",
        paid_on=dt.date(2026, 3, 3),
        channel="counter",
        bank_code="ICBC",
        bank_reference="GM-2",
    )
    settle(batch, {}, django_capture_on_commit_callbacks)
    html = html_of(client_for(line.staff(Role.VILLAGE_AGENT)).get(reverse("contributions:deduct_follow_ups")))
    rows = re.findall(r'<tr data-person="(\d+)" data-code="(\d+)">', html)
    assert rows == [(str(rich.pk), "0000")]
    assert "需退款" in html and "该年度已另有缴费记录，代扣款需退还" in html
    detail = html_of(
        client_for(line.staff(Role.COUNTY_FUND_OFFICER)).get(reverse("funds:batch_detail", args=[batch.pk]))
    )
    assert "该年度已另有缴费记录" in detail


def test_follow_up_list_queries_do_not_grow_with_rows(
    line, partner, django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    client = client_for(line.staff(Role.TOWNSHIP_CLERK))
    make_payers(line, partner, [300, 500], year=2025, names=["甲", "乙"])
    settle(issue_deduct(line, partner, year=2025), {1: "1001"}, django_capture_on_commit_callbacks)
    url = reverse("contributions:deduct_follow_ups") + "?year=2025"
    with django_assert_max_num_queries(12) as one:
        client.get(url)
    make_payers(line, partner, [300, 500, 1000, 2000], year=2025, names=["丙", "丁", "戊", "己"])
    settle(
        issue_deduct(line, partner, year=2025, on=dt.date(2025, 4, 1)),
        {1: "1001", 2: "1002", 3: "1004"},
        django_capture_on_commit_callbacks,
    )
    with django_assert_max_num_queries(len(one)):
        html = html_of(client.get(url))
    # the first batch's failure was issued again in the second: only the second's outcome counts
    assert html.count("<tr data-person=") == 3


# --- home worklists ---------------------------------------------------------------------------------------


def test_the_fund_officers_worklist(settled, line, partner, django_capture_on_commit_callbacks):
    # one settled with a failure (the fixture), one waiting for the bank
    make_payers(line, partner, [300], names=["新人"])
    issue_deduct(line, partner, on=dt.date(2026, 3, 9))
    home = html_of(client_for(line.staff(Role.COUNTY_FUND_OFFICER)).get(reverse("portal:home")))
    assert re.search(r"<strong>1</strong>已下发、待银行回盘的批次", home)
    assert re.search(r"<strong>0</strong>回盘被拒收、待银行重传的批次", home)
    failures = 1 if settled.issued_on.year == timezone.localdate().year else 0
    assert re.search(rf"<strong>{failures}</strong>本年已结算、有失败笔数的批次", home)
    assert "?todo=open" in home


# --- masking helper -----------------------------------------------------------------------------------


def test_bank_accounts_are_masked_by_the_one_helper():
    from portal.templatetags.portal_tags import masked_account

    assert masked_account("6228480000000001234") == "****1234" == mask_bank_account("6228480000000001234")
    assert masked_account("") == "" and masked_account(None) == ""


# --- in a real browser ---------------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_fund_officer_opens_the_batch_list_in_a_browser(live_server, tmp_path, django_capture_on_commit_callbacks):
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        pytest.skip("chromium is not installed")
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        pytest.skip("the playwright package is not installed")
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    line = _line()
    partner = make_partner(line)
    make_payers(line, partner, [300, 500, 1000], names=["赵一", "钱二", "孙三"])
    batch = issue_deduct(line, partner)
    settle(batch, {2: "1001"}, django_capture_on_commit_callbacks)
    officer = line.staff(Role.COUNTY_FUND_OFFICER)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(base_url=live_server.url, locale="zh-CN", viewport={"width": 1280, "height": 900})
        page.goto("/login/")
        page.fill("#id_username", officer.username)
        page.fill("#id_password", "pass-12345")
        page.click("button[type=submit]")
        page.click("text=银行批次")
        expect(page.locator("h1")).to_have_text("银行批次")
        expect(page.locator(f'tr[data-batch="{batch.batch_no}"]')).to_contain_text("1800.00")
        shot = tmp_path / "batch_list.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert shot.stat().st_size > 10_000


# --- the demo and the admin -------------------------------------------------------------------------------


def test_the_demo_banks_keys_and_batches_once(django_capture_on_commit_callbacks):
    from contributions.bank import deduct_batch_issue
    from funds.demo import seed_bank
    from funds.models import FundAccount

    # given a pooling region with payers of the reference year at both banks, in the village and the next one
    line = _line()
    neighbour = region_line(county="320412", township="101", village="202").village
    admin = line.staff(Role.ADMINISTRATOR)
    officer = UserFactory(username="city_fund", role=Role.COUNTY_FUND_OFFICER, agency=line.agency("city"))
    clerk = line.staff(Role.TOWNSHIP_CLERK)
    payers = (
        (line.village, "314", 300),
        (line.village, "314", 500),
        (neighbour, "314", 1000),
        (neighbour, "314", 200),
        (line.village, "103", 300),
    )
    for i, (village, bank, tier) in enumerate(payers):
        person = make_person(village, name=f"演示{i}", bank_code=bank, bank_account=f"62170000{i:011d}")
        contribution_services.tier_choice_record(actor=clerk, person=person, year=YEAR, amount=Decimal(tier))

    def seed():
        with django_capture_on_commit_callbacks(execute=True):
            return seed_bank(
                reference_date=dt.date(YEAR, 11, 1),
                admin=admin,
                fund_officer=officer,
                village_code=line.village.code,
                issue_deduct=deduct_batch_issue,
                pooling_code=line.pooling_region.code,
            )

    report = seed()
    # then two banks, a key each shown once, three named fund accounts at the GBK bank
    assert set(BankPartner.objects.values_list("code", "encoding")) == {("314", "gbk"), ("103", "utf-8")}
    assert len(report.keys) == 2 and all(credential_for_key(key) for key in report.keys.values())
    assert FundAccount.objects.filter(pooling_region=line.pooling_region).exclude(account_number="").count() == 3
    # a settled DEDUCT of 300 + 500 + 1000 + 200 = 2000.00: the village's two fail (insufficient funds, account
    # closed), the neighbour's last one too (account frozen), the 1000 is paid
    settled = BankBatch.objects.get(partner__code="314")
    assert (settled.status, settled.record_count, settled.total_amount) == ("settled", 4, Decimal("2000.00"))
    assert (settled.ok_count, settled.ok_amount, settled.failed_count) == (1, Decimal("1000.00"), 3)
    failed = dict(
        ResultLine.objects.filter(receipt__batch=settled).exclude(result_code="0000").values_list("seq", "result_code")
    )
    codes = {line.region_code[-3:] + str(line.amount): failed.get(line.seq) for line in settled.lines.all()}
    assert codes == {"201300.00": "1001", "201500.00": "1002", "2021000.00": None, "202200.00": "1004"}
    awaiting = BankBatch.objects.get(partner__code="103")
    assert (awaiting.status, awaiting.record_count, awaiting.issued_on) == ("issued", 1, dt.date(YEAR, 10, 30))
    # and again: nothing new, no key shown
    counts = (BankPartner.objects.count(), BankCredential.objects.count(), BankBatch.objects.count())
    again = seed()
    assert (BankPartner.objects.count(), BankCredential.objects.count(), BankBatch.objects.count()) == counts
    assert again.keys == {} and again.partners == [] and again.accounts == 0 and len(again.batches) == 2


def test_the_bank_admin_pages_are_read_only_and_scoped(settled, line):
    from django.contrib import admin

    other = _line("320115")
    foreign_partner = make_partner(other, code="F001", name="境外银行")
    credential_issue(actor=other.staff(Role.ADMINISTRATOR), partner=foreign_partner)
    superuser = UserFactory(
        username="city_admin", role=Role.ADMINISTRATOR, agency=line.agency("city"), is_staff=True, is_superuser=True
    )
    client = client_for(superuser)
    for model in (BankPartner, BankCredential, CredentialUse, BankBatch, ResultReceipt, BankBatchLine):
        opts = model._meta
        response = client.get(reverse(f"admin:funds_{opts.model_name}_changelist"))
        assert response.status_code == 200, opts.model_name
        model_admin = admin.site._registry[model]
        assert not model_admin.has_add_permission(response.wsgi_request)
        assert "境外银行" not in html_of(response)
    assert BankCredential.objects.filter(partner=foreign_partner).exists()
    page = html_of(client.get(reverse("admin:funds_bankcredential_changelist")))
    assert all(c.secret_sha256 not in page for c in BankCredential.objects.all())
    foreign = client.get(reverse("admin:funds_bankpartner_change", args=[foreign_partner.pk]))
    assert foreign.status_code == 302
    lines = html_of(client.get(reverse("admin:funds_bankbatchline_changelist")))
    assert "钱二" in lines and all(line.bank_account not in lines for line in settled.lines.all())
