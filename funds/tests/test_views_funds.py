"""The fund account pages: the three accounts with their banks, numbers and balances per fund, their movements
and .xlsx, the month-end sweep and finance receipts, the banks' statements, the three-way reconciliation with
its differences cleared by a reason, finance's confirmations, and the fund officer's home worklist.

Each page for the roles that may and may not use it (403; 404 for roles whose jurisdiction does not hold the
whole pooling region, and for another county's records), refusals shown next to their field, figures computed
by hand, list queries that do not grow with the rows. Data is made through the services."""

import datetime as dt
import io
import re
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from agencies.models import Role
from agencies.tests.factories import UserFactory, region_line
from contributions.bank import counter_payment_post
from contributions.tests.factories import make_policy
from enrollment.tests.factories import make_person
from funds.batches import result_receive
from funds.fund_accounts import fund_account_bank_set, fund_balances, income_sweep, month_end, movement_post
from funds.models import (
    BankStatement,
    DifferenceKind,
    DifferenceStatus,
    FinanceConfirmation,
    Fund,
    FundAccount,
    FundAccountKind,
    FundMovement,
    MovementKind,
    ReconciliationDifference,
)
from funds.reconciliation import reconcile, statement_receive
from funds.selectors_funds import previous_month
from funds.statementfile import CREDIT, DEBIT, Entry, write
from funds.tests.bank_factories import issue_deduct, make_partner, make_payers, result_file

pytestmark = pytest.mark.django_db

D = Decimal
ALL_ROLES = [role for role, _ in Role.choices]
READERS = {Role.COUNTY_FUND_OFFICER, Role.CITY_SUPERVISOR}
# Roles whose jurisdiction holds the whole pooling region (a county's or a city's agency): a wrong role is 403.
# The others (a village, a township) do not cover the region: its records are not theirs to see (404).
COVERING = {Role.COUNTY_CLERK, Role.COUNTY_APPROVER, Role.COUNTY_FUND_OFFICER, Role.CITY_SUPERVISOR, Role.ADMINISTRATOR}
INCOME, EXPENDITURE, FISCAL = FundAccountKind.INCOME, FundAccountKind.EXPENDITURE, FundAccountKind.FISCAL
IA, BP = Fund.INDIVIDUAL_ACCOUNT, Fund.BASIC_PENSION
INCOME_NO, EXPENDITURE_NO, FISCAL_NO = "6228480000000001", "6228480000000002", "6228480000000003"
MARCH_1, MARCH_5, MARCH_20, MARCH_31 = (dt.date(2026, 3, d) for d in (1, 5, 20, 31))
COUNTER_TXN = "CT20260320001"


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def html_of(response) -> str:
    return response.content.decode()


def field_html(html: str, name: str) -> str:
    start = html.index(f'id="field-{name}"')
    end = html.find('class="field', start + 1)
    return html[start : end if end != -1 else len(html)]


def section(html: str, marker: str) -> str:
    start = html.index(marker)
    return html[start : html.find("</table>", start)]


def _line(county: str = "320412"):
    line = region_line(county=county)
    line.pooling_region.scheme_started_on = dt.date(2009, 7, 1)
    line.pooling_region.save()
    make_policy(line)
    return line


@pytest.fixture
def line():
    return _line()


@pytest.fixture
def officer(line):
    return line.staff(Role.COUNTY_FUND_OFFICER)


@pytest.fixture
def partner(line, officer):
    """The region's bank, holding its three accounts."""
    bank = make_partner(line)
    for kind, number in ((INCOME, INCOME_NO), (EXPENDITURE, EXPENDITURE_NO), (FISCAL, FISCAL_NO)):
        fund_account_bank_set(
            actor=officer, pooling_region=line.pooling_region, kind=kind, partner=bank, account_number=number
        )
    return bank


def account(line, kind) -> FundAccount:
    return FundAccount.objects.get(pooling_region=line.pooling_region, kind=kind)


def march_income(line, partner, capture):
    """Deductions of 300.00 + 1000.00 settled on 2026-03-05 (the 500.00 failed: insufficient funds) and a counter
    payment of 500.00 on 2026-03-20: income holds 1300.00 after the 5th and 1800.00 after the 20th."""
    persons = make_payers(line, partner, [300, 500, 1000], names=["赵一", "钱二", "孙三"])
    batch = issue_deduct(line, partner)
    poor = batch.lines.get(person=persons[1]).seq
    with capture(execute=True):
        result_receive(partner=partner, batch_no=batch.batch_no, data=result_file(batch, {poor: "1001"}))
    counter_payment_post(
        partner=partner,
        insurance_no=make_person(line.village, name="柜面缴费人").insurance_number,
        year=2026,
        amount=D("500.00"),
        paid_on=MARCH_20,
        bank_txn_id=COUNTER_TXN,
    )
    batch.refresh_from_db()
    return batch


@pytest.fixture
def income(line, partner, django_capture_on_commit_callbacks):
    return march_income(line, partner, django_capture_on_commit_callbacks)


def statement(partner, number, day, opening, *entries):
    data = write(
        statement_date=day,
        opening_balance=D(opening),
        entries=[
            Entry(D(amount), direction, counterpart, reference) for amount, direction, counterpart, reference in entries
        ],
    )
    return statement_receive(partner=partner, account_number=number, statement_date=day, data=data).statement


def sweep_reference(line, month="202603") -> str:
    return f"GJ{line.pooling_region.code}{month}"


@pytest.fixture
def march(line, officer, partner, income):
    """March 2026 on the income account, swept on the 31st (books), and the bank's statements of it, which also
    show a fee of 2.50 on the 5th that the books do not hold:

    ========== ============ ========== ========== =====================================================
    day        reference    books      bank       so
    ========== ============ ========== ========== =====================================================
    03-05      the batch    +1300.00   +1300.00   match
    03-05      (fee)                   −2.50      only in bank, −2.50
    03-20      CT…          +500.00    +500.00    match
    03-31      GJ…202603    −1800.00   −1800.00   match; finance has not confirmed it yet
    ========== ============ ========== ========== =====================================================

    Balances (bank − books): 03-05 1297.50 − 1300.00, 03-20 1797.50 − 1800.00, 03-31 −2.50 − 0.00: −2.50 each.
    """
    income_sweep(pooling_region=line.pooling_region, month=MARCH_1, actor=officer)
    reference = sweep_reference(line)
    statement(
        partner,
        INCOME_NO,
        MARCH_5,
        "0.00",
        ("1300.00", CREDIT, "农业银行代扣", income.batch_no),
        ("2.50", DEBIT, "手续费", ""),
    )
    statement(partner, INCOME_NO, MARCH_20, "1297.50", ("500.00", CREDIT, "柜面", COUNTER_TXN))
    statement(partner, INCOME_NO, MARCH_31, "1797.50", ("1800.00", DEBIT, "财政专户", reference))
    return account(line, INCOME)


@pytest.fixture
def differences(line, officer, march):
    """The March reconciliation of the income account, run through the service: five open differences."""
    reconcile(actor=officer, account=march, date_from=MARCH_1, date_to=MARCH_31)
    assert ReconciliationDifference.objects.filter(status=DifferenceStatus.OPEN).count() == 5
    return march


# --- who may use the pages -----------------------------------------------------------------------------------


LIST_PAGES = ["funds:fund_accounts", "funds:fund_reconciliation", "funds:fund_differences", "funds:fund_confirmations"]


def expected(role, allowed: set) -> int:
    return 200 if role in allowed else (403 if role in COVERING else 404)


@pytest.mark.parametrize("role", ALL_ROLES)
def test_the_fund_officer_and_the_city_supervisor_read_the_pages_others_get_403(line, differences, role):
    client = client_for(line.staff(role))
    reader = role in READERS
    for name in LIST_PAGES:
        assert client.get(reverse(name)).status_code == (200 if reader else 403), name
    assert client.get(reverse("funds:fund_account_bank")).status_code == (
        200 if role == Role.COUNTY_FUND_OFFICER else 403
    )
    income = differences
    one_statement = BankStatement.objects.get(account=income, statement_date=MARCH_5)
    difference = ReconciliationDifference.objects.filter(account=income).first()
    for name, pk in (
        ("funds:fund_account_detail", income.pk),
        ("funds:fund_movements_xlsx", income.pk),
        ("funds:fund_statements", income.pk),
        ("funds:fund_statement_detail", one_statement.pk),
        ("funds:fund_difference_detail", difference.pk),
    ):
        assert client.get(reverse(name, args=[pk])).status_code == expected(role, READERS), name


@pytest.mark.parametrize("role", [r for r in ALL_ROLES if r != Role.COUNTY_FUND_OFFICER])
def test_only_the_fund_officer_changes_anything(line, differences, role):
    client = client_for(line.staff(role))
    region = line.pooling_region.pk
    movements, confirmations = FundMovement.objects.count(), FinanceConfirmation.objects.count()
    posts = [
        (reverse("funds:fund_sweep"), {"pooling_region": region, "month": "2026-03"}),
        (
            reverse("funds:fund_finance_receipt"),
            {"pooling_region": region, "fund": BP, "amount": "100", "booked_on": "2026-03-02", "reference": "CZ1"},
        ),
        (
            reverse("funds:fund_account_bank"),
            {"pooling_region": region, "kind": INCOME, "partner": "", "account_number": "1"},
        ),
        (
            reverse("funds:fund_reconciliation"),
            {"account": differences.pk, "date_from": "2026-03-01", "date_to": "2026-03-31"},
        ),
        (
            reverse("funds:fund_confirmations"),
            {
                "pooling_region": region,
                "reference": sweep_reference(line),
                "amount": "1800",
                "confirmed_on": "2026-04-01",
            },
        ),
    ]
    for url, data in posts:
        assert client.post(url, data).status_code == 403, url
    difference = ReconciliationDifference.objects.filter(account=differences).first()
    clear = client.post(reverse("funds:fund_difference_clear", args=[difference.pk]), {"reason": "越权处理"})
    assert clear.status_code == (403 if role in COVERING else 404)
    assert (FundMovement.objects.count(), FinanceConfirmation.objects.count()) == (movements, confirmations)
    assert not ReconciliationDifference.objects.exclude(status=DifferenceStatus.OPEN).exists()


def test_the_city_supervisor_reads_without_forms(line, differences):
    client = client_for(line.staff(Role.CITY_SUPERVISOR))
    overview = html_of(client.get(reverse("funds:fund_accounts")))
    assert 'id="sweep-form"' not in overview and 'id="receipt-form"' not in overview
    assert "1800.00" in overview  # fiscal holds March's income
    recon = html_of(client.get(reverse("funds:fund_reconciliation")))
    assert 'id="reconcile-form"' not in recon and 'id="open-differences-table"' in recon
    difference = ReconciliationDifference.objects.filter(account=differences).first()
    detail = html_of(client.get(reverse("funds:fund_difference_detail", args=[difference.pk])))
    assert 'id="clear-form"' not in detail and "待基金管理员处理" in detail
    assert 'id="confirmation-form"' not in html_of(client.get(reverse("funds:fund_confirmations")))


def test_the_navigation_shows_the_fund_pages_to_the_officer_and_the_supervisor(line):
    for role in ALL_ROLES:
        home = html_of(client_for(line.staff(role)).get(reverse("portal:home")))
        shown = f'href="{reverse("funds:fund_accounts")}"' in home and "基金账户/对账" in home
        assert shown == (role in READERS), role


# --- another county's records ---------------------------------------------------------------------------------


@pytest.fixture
def foreign(django_capture_on_commit_callbacks):
    """Another county's pooling region with its accounts, March income swept, a statement and differences."""
    other = _line("320115")
    bank = make_partner(other, code="F001", name="境外银行")
    other_officer = other.staff(Role.COUNTY_FUND_OFFICER)
    fund_account_bank_set(
        actor=other_officer, pooling_region=other.pooling_region, kind=INCOME, partner=bank, account_number="9558800001"
    )
    batch = march_income(other, bank, django_capture_on_commit_callbacks)
    income_sweep(pooling_region=other.pooling_region, month=MARCH_1, actor=other_officer)
    statement(bank, "9558800001", MARCH_5, "0.00", ("1300.00", CREDIT, "", batch.batch_no))
    income = account(other, INCOME)
    reconcile(actor=other_officer, account=income, date_from=MARCH_1, date_to=MARCH_31)
    return other


def test_another_countys_accounts_statements_and_differences_answer_404(line, differences, foreign):
    client = client_for(line.staff(Role.COUNTY_FUND_OFFICER))
    income = account(foreign, INCOME)
    foreign_statement = BankStatement.objects.get(account=income)
    difference = ReconciliationDifference.objects.filter(account=income).first()
    for name, pk in (
        ("funds:fund_account_detail", income.pk),
        ("funds:fund_account_detail", account(foreign, FISCAL).pk),
        ("funds:fund_movements_xlsx", income.pk),
        ("funds:fund_statements", income.pk),
        ("funds:fund_statement_detail", foreign_statement.pk),
        ("funds:fund_difference_detail", difference.pk),
    ):
        assert client.get(reverse(name, args=[pk])).status_code == 404, name
    assert client.post(reverse("funds:fund_difference_clear", args=[difference.pk]), {"reason": "x"}).status_code == 404
    difference.refresh_from_db()
    assert difference.status == DifferenceStatus.OPEN

    # the lists show the home region only
    for name in LIST_PAGES:
        body = html_of(client.get(reverse(name)))
        assert foreign.pooling_region.name not in body and "9558800001" not in body, name
        assert sweep_reference(foreign) not in body, name

    # the forms do not take the other region or its accounts
    region = foreign.pooling_region.pk
    sweep = client.post(reverse("funds:fund_sweep"), {"pooling_region": region, "month": "2026-03"})
    assert sweep.status_code == 400
    assert "不全在您的管辖范围内" in field_html(html_of(sweep), "pooling_region")
    run = client.post(
        reverse("funds:fund_reconciliation"), {"account": income.pk, "date_from": "2026-03-01", "date_to": "2026-03-31"}
    )
    assert run.status_code == 400 and "所选账户不在您管辖的统筹区内" in field_html(html_of(run), "account")
    confirm = client.post(
        reverse("funds:fund_confirmations"),
        {
            "pooling_region": region,
            "reference": sweep_reference(foreign),
            "amount": "1800",
            "confirmed_on": "2026-04-01",
        },
    )
    assert confirm.status_code == 400
    assert not FinanceConfirmation.objects.filter(pooling_region=foreign.pooling_region).exists()


# --- the accounts and the sweep -------------------------------------------------------------------------------


def balance_row(html: str, region_code: str, kind: str) -> tuple[str, ...]:
    table = section(html, f'id="balances-{region_code}"')
    row = re.search(rf'<tr data-kind="{kind}">(.*?)</tr>', table, re.S).group(1)
    return tuple(re.findall(r'<td class="num money">([-\d.]+)</td>', row))


def test_the_march_sweep_through_the_page(line, officer, partner, income):
    client = client_for(officer)
    code = line.pooling_region.code
    url = reverse("funds:fund_accounts")
    # given income holds 1300.00 on 03-05 and 1800.00 on 03-20, in the individual-account fund
    html = html_of(client.get(url + "?on=2026-03-05"))
    assert balance_row(html, code, INCOME) == ("1300.00", "0.00", "1300.00")
    html = html_of(client.get(url + "?on=2026-03-31"))
    assert balance_row(html, code, INCOME) == ("1800.00", "0.00", "1800.00")
    assert balance_row(html, code, FISCAL) == ("0.00", "0.00", "0.00")
    assert INCOME_NO in html and "农业银行" in html
    # and the check line says last month ended with money in income
    last_month = previous_month(timezone.localdate())
    check = html[html.index(f'id="sweep-check-{code}"') :]
    assert 'data-done="0"' in check[:80] and "尚有1800.00元未归集" in check

    # when the officer sweeps March
    response = client.post(reverse("funds:fund_sweep"), {"pooling_region": line.pooling_region.pk, "month": "2026-03"})
    assert response.status_code == 302
    assert response["Location"] == f"{url}?region={line.pooling_region.pk}&on=2026-03-31"
    html = html_of(client.get(response["Location"]))

    # then income shows 0.00 and fiscal 1800.00 at the end of March, under the month's transfer number
    assert f"个人账户基金1800.00元，合计1800.00元，划转编号{sweep_reference(line)}" in html
    assert balance_row(html, code, INCOME) == ("0.00", "0.00", "0.00")
    assert balance_row(html, code, FISCAL) == ("1800.00", "0.00", "1800.00")
    assert balance_row(html, code, "total") == ("1800.00", "0.00", "1800.00")
    assert 'data-done="1"' in html[html.index(f'id="sweep-check-{code}"') :][:120]
    assert f"收入户{last_month:%Y年%m月}末" in html
    sweep_movements = FundMovement.objects.filter(reference=sweep_reference(line))
    assert sorted((m.account.kind, m.amount, m.booked_on, m.created_by) for m in sweep_movements) == [
        (FISCAL, D("1800.00"), MARCH_31, officer),
        (INCOME, D("-1800.00"), MARCH_31, officer),
    ]

    # a second sweep of March moves nothing; a month not yet ended is refused next to the month
    again = client.post(reverse("funds:fund_sweep"), {"pooling_region": line.pooling_region.pk, "month": "2026-03"})
    assert "收入户2026年03月末没有余额，无需归集" in html_of(client.get(again["Location"]))
    this_month = timezone.localdate()
    refused = client.post(
        reverse("funds:fund_sweep"), {"pooling_region": line.pooling_region.pk, "month": f"{this_month:%Y-%m}"}
    )
    assert refused.status_code == 400 and "尚未到月末，不能归集" in field_html(html_of(refused), "month")
    bad = client.post(reverse("funds:fund_sweep"), {"pooling_region": line.pooling_region.pk, "month": "2026-13"})
    assert "归集月份格式应为" in field_html(html_of(bad), "month")
    assert sweep_movements.count() == 2


def test_a_finance_receipt_through_the_page(line, officer, partner):
    client = client_for(officer)
    url = reverse("funds:fund_finance_receipt")
    region = line.pooling_region.pk
    data = {
        "pooling_region": region,
        "fund": BP,
        "amount": "12,345.60",
        "booked_on": "2026-03-02",
        "reference": "CZ 001",
    }
    response = client.post(url, data)
    fiscal = account(line, FISCAL)
    assert response.status_code == 302 and response["Location"] == reverse(
        "funds:fund_account_detail", args=[fiscal.pk]
    )
    html = html_of(client.get(response["Location"]))
    assert "已记录财政资金到账" in html and "基础养老金12345.60元" in html
    movement = FundMovement.objects.get(account=fiscal)
    assert (movement.kind, movement.fund, movement.amount, movement.reference, movement.counterpart) == (
        MovementKind.TRANSFER_IN,
        BP,
        D("12345.60"),
        "CZ001",
        "财政",
    )
    # the refusals, each next to its field, and nothing booked
    cases = [
        ({"amount": ""}, "amount", "金额"),
        ({"amount": "1.005"}, "amount", "最多保留两位小数"),
        ({"fund": ""}, "fund", "请选择基金"),
        ({"booked_on": ""}, "booked_on", "请填写记账日期"),
        ({"booked_on": (timezone.localdate() + dt.timedelta(days=3)).isoformat()}, "booked_on", "晚于今天"),
        ({"reference": " "}, "reference", "请填写业务编号"),
    ]
    for change, field, message in cases:
        refused = client.post(url, {**data, "reference": "CZ002", **change})
        assert refused.status_code == 400, change
        assert message in field_html(html_of(refused), field), change
    assert FundMovement.objects.count() == 1


def test_an_accounts_bank_and_number_through_the_page(line, officer):
    bank = make_partner(line)
    client = client_for(officer)
    url = reverse("funds:fund_account_bank")
    form = html_of(client.get(url + f"?region={line.pooling_region.pk}&kind=fiscal"))
    assert f'<option value="{line.pooling_region.pk}" selected>' in form and '<option value="fiscal" selected>' in form
    data = {
        "pooling_region": line.pooling_region.pk,
        "kind": FISCAL,
        "partner": bank.pk,
        "account_number": "6228 4800 03",
    }
    response = client.post(url, data)
    assert response.status_code == 302
    fiscal = account(line, FISCAL)
    assert (fiscal.bank_partner, fiscal.account_number) == (bank, "6228480003")
    # the form shows what is registered (the officer's one region needs no choosing)
    again = html_of(client.get(url + "?kind=fiscal"))
    assert 'value="6228480003"' in again and f'<option value="{bank.pk}" selected>' in again
    bad = client.post(url, {**data, "account_number": "62-28"})
    assert bad.status_code == 400 and "账号为1至32位数字或字母" in field_html(html_of(bad), "account_number")
    # the same number for another account of the bank is refused next to the number
    taken = client.post(url, {**data, "kind": INCOME})
    assert "已登记为" in field_html(html_of(taken), "account_number")
    # once the bank has sent a statement of the account, its number stays (said at the top of the form)
    statement(bank, "6228480003", MARCH_5, "0.00", ("10.00", CREDIT, "", "R1"))
    changed = client.post(url, {**data, "account_number": "6228480009"})
    assert changed.status_code == 400 and "已收到银行对账单" in html_of(changed)
    fiscal.refresh_from_db()
    assert fiscal.account_number == "6228480003"


# --- movements and their export -------------------------------------------------------------------------------


def test_an_accounts_movements_with_their_balance_and_filters(line, officer, partner, income):
    income_sweep(pooling_region=line.pooling_region, month=MARCH_1, actor=officer)
    client = client_for(officer)
    income_account = account(line, INCOME)
    html = html_of(client.get(reverse("funds:fund_account_detail", args=[income_account.pk])))
    rows = re.findall(
        r'<tr data-movement="\d+">\s*<td class="nowrap">([\d-]+)</td>\s*<td>(.*?)</td>\s*<td>(.*?)</td>\s*'
        r'<td class="num money">([-\d.]+)</td>\s*<td class="mono small">(.*?)</td>\s*<td>(.*?)</td>\s*'
        r'<td class="num money">([-\d.]+)</td>',
        html,
    )
    assert rows == [
        ("2026-03-05", "代扣缴费到账", "个人账户基金", "1300.00", income.batch_no, "农业银行", "1300.00"),
        ("2026-03-20", "柜面缴费到账", "个人账户基金", "500.00", COUNTER_TXN, "柜面缴费人", "1800.00"),
        (
            "2026-03-31",
            "月末归集转出",
            "个人账户基金",
            "-1800.00",
            sweep_reference(line),
            f"{line.pooling_region.name}财政专户",
            "0.00",
        ),
    ]
    # from the 20th: the opening balance is the 5th's, and the balances go on from it
    html = html_of(client.get(reverse("funds:fund_account_detail", args=[income_account.pk]) + "?date_from=2026-03-20"))
    assert re.search(r'<tr data-row="opening">.*?<td class="num money">1300.00</td>', html, re.S)
    assert html.count('<tr data-movement="') == 2
    # by kind: no balance column
    html = html_of(client.get(reverse("funds:fund_account_detail", args=[income_account.pk]) + "?kind=counter"))
    assert html.count('<tr data-movement="') == 1 and "按类型筛选时不显示余额" in html


def test_the_movements_export_is_the_accounts_own(line, officer, partner, income, foreign):
    income_sweep(pooling_region=line.pooling_region, month=MARCH_1, actor=officer)
    client = client_for(officer)
    income_account = account(line, INCOME)
    response = client.get(reverse("funds:fund_movements_xlsx", args=[income_account.pk]) + "?date_from=2026-03-01")
    assert response.status_code == 200 and response["Cache-Control"] == "private, no-store"
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    values = list(sheet.iter_rows(values_only=True))
    assert INCOME_NO in values[0][0] and "2026-03-01至今" in values[0][0]
    assert values[1][:7] == ("记账日期", "类型", "基金", "金额（元）", "业务编号", "对方", "余额（元）")
    assert values[2][0] == "期初余额" and D(str(values[2][6])) == D("0.00")
    body = [(row[0].date(), row[1], D(str(row[3])), row[4], D(str(row[6]))) for row in values[3:]]
    assert body == [
        (MARCH_5, "代扣缴费到账", D("1300.00"), income.batch_no, D("1300.00")),
        (MARCH_20, "柜面缴费到账", D("500.00"), COUNTER_TXN, D("1800.00")),
        (MARCH_31, "月末归集转出", D("-1800.00"), sweep_reference(line), D("0.00")),
    ]
    text = " ".join(str(cell) for row in values for cell in row)
    assert sweep_reference(foreign) not in text and "9558800001" not in text
    # the other county's account is not exported, whatever the role
    foreign_income = account(foreign, INCOME)
    for role in (Role.COUNTY_FUND_OFFICER, Role.CITY_SUPERVISOR):
        assert (
            client_for(line.staff(role)).get(reverse("funds:fund_movements_xlsx", args=[foreign_income.pk])).status_code
            == 404
        )
    # and a county clerk exports nothing of the home region
    clerk = client_for(line.staff(Role.COUNTY_CLERK))
    assert clerk.get(reverse("funds:fund_movements_xlsx", args=[income_account.pk])).status_code == 403


def test_the_movement_list_queries_do_not_grow_with_movements(line, officer, partner, django_assert_max_num_queries):
    client = client_for(officer)

    def book(n: int, start: int) -> None:
        for i in range(start, start + n):
            movement_post(
                pooling_region=line.pooling_region,
                account_kind=INCOME,
                fund=IA if i % 2 else BP,
                kind=MovementKind.COUNTER,
                amount=D("10.00"),
                booked_on=dt.date(2026, 3, 1 + i % 28),
                reference=f"CT{i:06d}",
                counterpart="柜面",
                idempotency_key=f"test:{i}",
                actor=officer,
            )

    book(3, 0)
    url = reverse("funds:fund_account_detail", args=[account(line, INCOME).pk])
    with django_assert_max_num_queries(20) as few:
        assert client.get(url).status_code == 200
    book(45, 3)
    with django_assert_max_num_queries(len(few)):
        html = html_of(client.get(url))
    assert html.count('<tr data-movement="') == 48
    assert re.findall(r'<td class="num money">([\d.]+)</td>\s*<td class="small">', html)[-1] == "480.00"


# --- statements ---------------------------------------------------------------------------------------------


def test_the_statements_of_an_account_and_their_lines(line, officer, march):
    client = client_for(line.staff(Role.CITY_SUPERVISOR))
    html = html_of(client.get(reverse("funds:fund_statements", args=[march.pk])))
    rows = re.findall(
        r'<tr data-statement="([\d-]+)">.*?<td class="num">(\d+)</td>\s*<td class="num money">([-\d.]+)</td>\s*'
        r'<td class="num money">([-\d.]+)</td>',
        html,
        re.S,
    )
    assert rows == [
        ("2026-03-31", "1", "1797.50", "-2.50"),
        ("2026-03-20", "1", "1297.50", "1797.50"),
        ("2026-03-05", "2", "0.00", "1297.50"),
    ]
    fifth = BankStatement.objects.get(account=march, statement_date=MARCH_5)
    detail = html_of(client.get(reverse("funds:fund_statement_detail", args=[fifth.pk])))
    lines = re.findall(
        r'<tr data-line="(\d+)">.*?<td>(收入|支出)</td>\s*<td class="num money">([\d.]+)</td>\s*<td>(.*?)</td>\s*'
        r'<td class="mono small">(.*?)</td>\s*<td class="num money">([-\d.]+)</td>',
        detail,
        re.S,
    )
    assert lines == [
        (
            "2",
            "收入",
            "1300.00",
            "农业银行代扣",
            march.movements.filter(kind=MovementKind.DEDUCTION).get().reference,
            "1300.00",
        ),
        ("3", "支出", "2.50", "手续费", "—", "1297.50"),
    ]
    # the books' balance of the day beside the bank's
    record = detail[detail.index('id="statement-record"') :]
    assert "1300.00" in record and "<strong>-2.50</strong>" in record
    filtered = html_of(client.get(reverse("funds:fund_statements", args=[march.pk]) + "?date_from=2026-03-20"))
    assert filtered.count("<tr data-statement=") == 2


# --- the reconciliation --------------------------------------------------------------------------------------


def result_rows(html: str, kind: str) -> list[tuple[str, ...]]:
    table = section(html, f'id="result-{kind}"')
    return [
        tuple(cells)
        for cells in re.findall(
            r'<tr data-difference="\d+">\s*<td class="nowrap"><a [^>]*>([\d-]+)</a></td>\s*'
            r'<td class="mono small">(.*?)</td>\s*<td class="num money">(.*?)</td>\s*'
            r'<td class="num money">(.*?)</td>\s*<td class="num money">(.*?)</td>',
            table,
        )
    ]


def test_a_reconciliation_through_the_pages_finds_the_fee_and_it_is_cleared_with_a_reason(line, officer, march):
    client = client_for(officer)
    url = reverse("funds:fund_reconciliation")
    reference = sweep_reference(line)
    page = html_of(client.get(url + f"?account={march.pk}"))
    assert f'<option value="{march.pk}" selected>' in page

    # when finance's confirmation of the sweep is recorded, then March is reconciled through the page
    confirm = client.post(
        reverse("funds:fund_confirmations"),
        {
            "pooling_region": line.pooling_region.pk,
            "reference": reference,
            "amount": "1800.00",
            "confirmed_on": "2026-04-02",
            "document_number": "财确2026-031",
        },
    )
    assert confirm.status_code == 302
    html = html_of(client.post(url, {"account": march.pk, "date_from": "2026-03-01", "date_to": "2026-03-31"}))

    # then the fee is found only in the bank, and each day's balance is 2.50 short
    assert 'data-agrees="0"' in html and "有4条待处理的差异" in html
    assert result_rows(html, DifferenceKind.ONLY_IN_BANK) == [("2026-03-05", "—", "—", "-2.50", "-2.50")]
    assert result_rows(html, DifferenceKind.BALANCE_DIFFERS) == [
        ("2026-03-05", "—", "1300.00", "1297.50", "-2.50"),
        ("2026-03-20", "—", "1800.00", "1797.50", "-2.50"),
        ("2026-03-31", "—", "0.00", "-2.50", "-2.50"),
    ]
    days = re.findall(
        r'<tr data-day="([\d-]+)">.*?<td class="num money">([-\d.]+)</td>\s*<td class="num money">([-\d.]+)</td>\s*'
        r'<td class="num money">([-\d.]+)</td>\s*<td class="num money">([-\d.]+)</td>',
        section(html, 'id="result-days"'),
        re.S,
    )
    assert days == [
        ("2026-03-05", "0.00", "1297.50", "1300.00", "-2.50"),
        ("2026-03-20", "1297.50", "1797.50", "1800.00", "-2.50"),
        ("2026-03-31", "1797.50", "-2.50", "0.00", "-2.50"),
    ]
    matched = section(html, 'id="result-matched"')
    assert all(ref in matched for ref in (COUNTER_TXN, reference)) and "1300.00" in matched
    finance = section(html, 'id="result-finance-matched"')
    assert reference in finance and "财确2026-031" in finance and "-1800.00" in finance
    assert ReconciliationDifference.objects.filter(status=DifferenceStatus.OPEN).count() == 4
    assert len(re.findall(r'<tr data-difference="', section(html, 'id="open-differences-table"'))) == 4

    # when the officer clears the fee: a blank reason is refused next to it
    fee = ReconciliationDifference.objects.get(kind=DifferenceKind.ONLY_IN_BANK)
    clear = reverse("funds:fund_difference_clear", args=[fee.pk])
    blank = client.post(clear, {"reason": "   "})
    assert blank.status_code == 400 and "请填写处理说明" in field_html(html_of(blank), "reason")
    fee.refresh_from_db()
    assert fee.status == DifferenceStatus.OPEN
    done = client.post(clear, {"reason": "银行手续费，已报销"}, follow=True)
    detail = html_of(done)
    assert done.redirect_chain[-1][0] == reverse("funds:fund_difference_detail", args=[fee.pk])
    fee.refresh_from_db()
    assert (fee.status, fee.reason, fee.cleared_by) == (DifferenceStatus.CLEARED, "银行手续费，已报销", officer)
    cleared = detail[detail.index('id="cleared-record"') :]
    assert officer.display_name in cleared and "银行手续费，已报销" in cleared
    assert f"{timezone.localtime(fee.cleared_at):%Y-%m-%d %H:%M}" in cleared
    assert 'id="clear-form"' not in detail
    # clearing it again is refused, saying by whom
    again = client.post(clear, {"reason": "再次处理"})
    assert again.status_code == 400 and "银行手续费，已报销" in html_of(again)

    # the open list now holds the three balances; the differences page shows the cleared one with who and when
    page = html_of(client.get(url))
    assert len(re.findall(r'<tr data-difference="', section(page, 'id="open-differences-table"'))) == 3
    listing = html_of(client.get(reverse("funds:fund_differences") + "?status=cleared"))
    assert listing.count("<tr data-difference=") == 1 and officer.display_name in listing

    # a reconciliation run again keeps the fee cleared
    html = html_of(client.post(url, {"account": march.pk, "date_from": "2026-03-01", "date_to": "2026-03-31"}))
    assert 'data-status="cleared"' in section(html, f'id="result-{DifferenceKind.ONLY_IN_BANK}"')


def test_the_reconciliation_form_shows_refusals_next_to_the_fields(line, officer, march):
    client = client_for(officer)
    url = reverse("funds:fund_reconciliation")
    backwards = client.post(url, {"account": march.pk, "date_from": "2026-03-31", "date_to": "2026-03-01"})
    assert backwards.status_code == 400 and "起始日期不能晚于截止日期" in field_html(html_of(backwards), "date_from")
    too_long = client.post(url, {"account": march.pk, "date_from": "2025-01-01", "date_to": "2026-03-31"})
    assert "一次对账最多366天" in field_html(html_of(too_long), "date_to")
    missing = client.post(url, {"account": march.pk, "date_from": "", "date_to": "2026-03-31"})
    assert "请填写对账的起止日期" in field_html(html_of(missing), "date_from")
    no_account = client.post(url, {"date_from": "2026-03-01", "date_to": "2026-03-31"})
    assert "请选择要对账的账户" in field_html(html_of(no_account), "account")
    assert not ReconciliationDifference.objects.exists()


def test_the_summary_per_account_over_the_period(line, officer, differences):
    html = html_of(
        client_for(officer).get(reverse("funds:fund_reconciliation") + "?date_from=2026-03-01&date_to=2026-03-31")
    )
    table = section(html, f'id="summary-{line.pooling_region.code}"')
    income_row = re.search(r'<tr data-kind="income">(.*?)</tr>', table, re.S).group(1)
    money = re.findall(r'<td class="num money">([-\d.]+)', income_row)
    # opening 0.00, in 1800.00, out −1800.00, closing 0.00; bank −2.50 against books 0.00 on 03-31
    assert money == ["0.00", "1800.00", "-1800.00", "0.00", "-2.50", "0.00"]
    assert "2026-03-31" in income_row and "不符" in income_row
    fiscal_row = re.search(r'<tr data-kind="fiscal">(.*?)</tr>', table, re.S).group(1)
    assert re.findall(r'<td class="num money">([-\d.]+)', fiscal_row)[:4] == ["0.00", "1800.00", "0.00", "1800.00"]


def test_an_unconfirmed_sweep_leads_to_finance_confirmation(line, officer, differences):
    client = client_for(officer)
    unconfirmed = ReconciliationDifference.objects.get(account=differences, kind=DifferenceKind.NOT_CONFIRMED)
    assert (unconfirmed.books_amount, unconfirmed.difference) == (D("-1800.00"), D("-1800.00"))
    detail = html_of(client.get(reverse("funds:fund_difference_detail", args=[unconfirmed.pk])))
    link = re.search(r'id="confirm-link" href="([^"]*)"', detail).group(1).replace("&amp;", "&")
    form = html_of(client.get(link))
    assert f'value="{sweep_reference(line)}"' in form and 'value="1800.00"' in form
    # a reference the books do not hold is refused next to it; a good one is recorded once
    data = {
        "pooling_region": line.pooling_region.pk,
        "reference": "GJ000",
        "amount": "1800.00",
        "confirmed_on": "2026-04-02",
    }
    unknown = client.post(reverse("funds:fund_confirmations"), data)
    assert unknown.status_code == 400 and "没有业务编号为GJ000" in field_html(html_of(unknown), "reference")
    bad_amount = client.post(
        reverse("funds:fund_confirmations"), {**data, "reference": sweep_reference(line), "amount": "x"}
    )
    assert "格式不正确" in field_html(html_of(bad_amount), "amount")
    response = client.post(
        reverse("funds:fund_confirmations"), {**data, "reference": sweep_reference(line)}, follow=True
    )
    listing = html_of(response)
    assert f'<tr data-reference="{sweep_reference(line)}">' in listing and "已录入财政确认" in listing
    assert FinanceConfirmation.objects.get().recorded_by == officer
    # then the next run finds the difference gone
    client.post(
        reverse("funds:fund_reconciliation"),
        {"account": differences.pk, "date_from": "2026-03-01", "date_to": "2026-03-31"},
    )
    unconfirmed.refresh_from_db()
    assert unconfirmed.status == DifferenceStatus.RESOLVED


# --- the fund officer's home ------------------------------------------------------------------------------------


def test_the_officers_home_counts_open_differences_and_says_whether_last_month_is_swept(line, officer, differences):
    client = client_for(officer)
    last_month = previous_month(timezone.localdate())
    home = html_of(client.get(reverse("portal:home")))
    assert re.search(r"<strong>5</strong>待处理的对账差异", home)
    assert reverse("funds:fund_reconciliation") in home
    # March's money was swept, nothing arrived since: last month ended with income empty
    assert re.search(r"<strong>0</strong>上月收入户未归集的统筹区", home)
    assert f"{last_month:%Y年%m月}：已全部归集" in home

    # when money of last month arrives in income and is not swept
    movement_post(
        pooling_region=line.pooling_region,
        account_kind=INCOME,
        fund=BP,
        kind=MovementKind.COUNTER,
        amount=D("66.00"),
        booked_on=month_end(last_month),
        reference="CT-LATE",
        idempotency_key="test:late",
    )
    home = html_of(client.get(reverse("portal:home")))
    assert re.search(r"<strong>1</strong>上月收入户未归集的统筹区", home)
    assert "末收入户尚有66.00元未归集" in home and reverse("funds:fund_accounts") in home
    # a clerk's home has none of it
    clerk_home = html_of(client_for(line.staff(Role.COUNTY_CLERK)).get(reverse("portal:home")))
    assert "待处理的对账差异" not in clerk_home


def test_a_city_fund_officer_covering_two_regions_sees_both(line, partner, income):
    north = _line("320411")
    officer = UserFactory(username="city_fund", role=Role.COUNTY_FUND_OFFICER, agency=line.agency("city"))
    client = client_for(officer)
    html = html_of(client.get(reverse("funds:fund_accounts") + "?on=2026-03-31"))
    assert f'id="region-{line.pooling_region.code}"' in html and f'id="region-{north.pooling_region.code}"' in html
    assert balance_row(html, line.pooling_region.code, INCOME) == ("1800.00", "0.00", "1800.00")
    assert balance_row(html, north.pooling_region.code, INCOME) == ("0.00", "0.00", "0.00")
    only_north = html_of(client.get(reverse("funds:fund_accounts") + f"?region={north.pooling_region.pk}"))
    assert f'id="region-{line.pooling_region.code}"' not in only_north
    # the sweep form offers both regions, none preset
    assert (
        '<option value="" selected>' in only_north
        or f'<option value="{north.pooling_region.pk}" selected>' in only_north
    )
    assert fund_balances(pooling_region=north.pooling_region).total == D("0.00")
