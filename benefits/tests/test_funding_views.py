"""Finance's approval of a payroll run's funding request, recorded on the request's page."""

import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from agencies.models import Role
from benefits.funding import funding_amounts
from benefits.tests.factories import make_award, make_contributor, pension_line, run_payroll
from funds.fund_accounts import finance_receipt, fund_balances
from funds.models import Fund, FundAccountKind, FundMovement

pytestmark = pytest.mark.django_db


@pytest.fixture
def run():
    line = pension_line()
    for i in range(2):
        make_award(line, make_contributor(line, name=f"领取人{i}"), claimed_on=dt.date(2025, 3, 20))
    run = run_payroll(line, dt.date(2026, 1, 1))
    run.line = line
    return run


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _fund(run, *, individual: str, basic: str) -> None:
    officer = run.line.staff(Role.COUNTY_FUND_OFFICER)
    for fund, amount in ((Fund.INDIVIDUAL_ACCOUNT, individual), (Fund.BASIC_PENSION, basic)):
        finance_receipt(
            actor=officer,
            pooling_region=run.pooling_region,
            fund=fund,
            amount=amount,
            booked_on=dt.date(2026, 1, 5),
            reference=f"CZ2026{fund[:3]}",
        )


def test_the_fund_officer_records_finances_approval_once(run):
    # given finance has put 100,000.00 of each fund in the fiscal account
    _fund(run, individual="100000.00", basic="100000.00")
    wanted = funding_amounts(run)
    officer = run.line.staff(Role.COUNTY_FUND_OFFICER)
    url = reverse("benefits:payroll_funding_approve", args=[run.pk])

    # when the officer records the approval, twice
    first = _client(officer).post(url, {"booked_on": "2026-01-14"}, follow=True)
    _client(officer).post(url, {"booked_on": "2026-01-14"})

    # then the run's total moved once from fiscal to expenditure, by fund, and the page says so
    assert "财政已于2026年1月14日拨付" in first.content.decode()
    balances = fund_balances(pooling_region=run.pooling_region)
    expenditure = balances.of(FundAccountKind.EXPENDITURE)
    assert expenditure.individual_account == wanted[Fund.INDIVIDUAL_ACCOUNT]
    assert expenditure.basic_pension == wanted[Fund.BASIC_PENSION]
    assert expenditure.total == run.total
    fiscal = balances.of(FundAccountKind.FISCAL)
    assert fiscal.total == Decimal("200000.00") - run.total
    assert FundMovement.objects.filter(kind="funding_in").count() == 2


def test_a_short_fiscal_account_is_refused_and_nothing_moves(run):
    _fund(run, individual="0.01", basic="0.01")
    officer = run.line.staff(Role.COUNTY_FUND_OFFICER)
    response = _client(officer).post(
        reverse("benefits:payroll_funding_approve", args=[run.pk]), {"booked_on": "2026-01-14"}, follow=True
    )
    assert "差" in response.content.decode()
    assert not FundMovement.objects.filter(kind__in=["funding_in", "funding_out"]).exists()


def test_only_the_fund_officer_may_record_it(run):
    _fund(run, individual="100000.00", basic="100000.00")
    approver = run.line.staff(Role.COUNTY_APPROVER)
    response = _client(approver).post(
        reverse("benefits:payroll_funding_approve", args=[run.pk]), {"booked_on": "2026-01-14"}
    )
    assert response.status_code == 403
    page = _client(approver).get(reverse("benefits:payroll_funding_request", args=[run.pk])).content.decode()
    assert "财政尚未拨付" in page and "登记财政已拨付" not in page
    assert not FundMovement.objects.filter(kind="funding_in").exists()
