"""The account pages: each role in scope sees a person's account, its balance by component, entries with a
running balance and interest by year; the printable statement; a village's statements; 404 out of scope;
reads logged; query counts that do not grow with the entries."""

import logging
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from agencies.models import Role
from agencies.tests.factories import region_line
from enrollment import idnumber
from enrollment.models import PersonStatus
from enrollment.tests.factories import make_person
from funds import selectors
from funds.tests.ledger_data import account_with_entries, account_with_history

pytestmark = pytest.mark.django_db

ALL_ROLES = [role for role, _ in Role.choices]


@pytest.fixture
def line():
    return region_line()


@pytest.fixture
def person(line):
    return make_person(line.village, name="王秀兰")


@pytest.fixture
def account(person):
    return account_with_history(person)


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def account_url(person, **query) -> str:
    url = reverse("funds:account_detail", args=[person.pk])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def balances(html: str) -> dict[str, list[str]]:
    """{component: [figures…]} from the balances table."""
    rows = re.findall(r'<tr data-component="(\w+)">(.*?)</tr>', html, re.S)
    return {component: re.findall(r'class="num money">([-\d.]+)<', cells) for component, cells in rows}


@pytest.mark.parametrize("role", ALL_ROLES)
def test_every_role_in_scope_sees_the_balance_by_component(line, person, account, role):
    response = client_for(line.staff(role)).get(account_url(person))
    assert response.status_code == 200
    html = response.content.decode()
    assert balances(html) == {
        "personal": ["800.00"],
        "government_subsidy": ["100.00"],
        "collective": ["50.00"],
        "donation": ["0.00"],
        "government_paid": ["0.00"],
        "interest": ["3.83"],
    }
    assert '<strong class="money" id="account-balance">953.83</strong>' in html
    assert re.search(r"<td>2023</td><td class=\"num money\">3.83</td>", html)  # interest of the year


def test_the_entries_carry_date_kind_component_amount_running_balance_and_source(line, person, account):
    html = client_for(line.staff(Role.TOWNSHIP_CLERK)).get(account_url(person)).content.decode()
    entries = html[html.index('id="entries"') :]
    rows = re.findall(r"<tr>\s*<td class=\"nowrap\">([\d-]+)</td>(.*?)</tr>", entries, re.S)
    assert [date for date, _ in rows] == [
        "2023-03-05",
        "2023-03-05",
        "2023-12-31",
        "2024-02-10",
        "2024-02-10",
        "2024-02-10",
    ]
    running = [re.findall(r'class="num money[^"]*">([-\d.]+)<', cells) for _, cells in rows]
    assert running == [
        ["300.00", "300.00"],
        ["40.00", "340.00"],
        ["3.83", "343.83"],
        ["500.00", "843.83"],
        ["60.00", "903.83"],
        ["50.00", "953.83"],
    ]
    assert "个人缴费" in rows[0][1] and "contribution:2023" in rows[0][1]
    assert "记息" in rows[2][1] and "interest:2023" in rows[2][1]


def test_a_year_shows_opening_movement_and_closing(line, person, account):
    html = client_for(line.staff(Role.COUNTY_CLERK)).get(account_url(person, year=2024)).content.decode()
    figures = balances(html)
    assert figures["personal"] == ["300.00", "500.00", "800.00"]
    assert figures["interest"] == ["3.83", "0.00", "3.83"]
    assert figures["collective"] == ["0.00", "50.00", "50.00"]
    total = html[html.index('<tr class="total">') :]
    assert re.findall(r'class="num money">([\d.]+)<', total)[:3] == ["343.83", "610.00", "953.83"]
    entries = html[html.index('id="entries"') :]
    assert "2023-03-05" not in entries
    assert entries.count("2024-02-10") == 3
    assert "期初余额" in entries


def test_an_htmx_request_gets_only_the_period(line, person, account):
    response = client_for(line.staff(Role.VILLAGE_AGENT)).get(account_url(person, year=2023), HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "<html" not in html
    assert 'id="entries"' in html and "2023-12-31" in html and "2024-02-10" not in html
    assert response["Vary"].count("HX-Request") == 1


def test_a_year_that_is_not_a_year_shows_everything(line, person, account):
    html = client_for(line.staff(Role.VILLAGE_AGENT)).get(account_url(person, year="20x4")).content.decode()
    assert balances(html)["personal"] == ["800.00"]


def test_the_identity_number_is_masked_on_the_account_page(line, person, account):
    html = client_for(line.staff(Role.VILLAGE_AGENT)).get(account_url(person)).content.decode()
    assert person.id_number not in html
    assert idnumber.mask(person.id_number) in html
    assert person.insurance_number in html


def test_reading_an_account_is_logged(line, person, account, caplog):
    user = line.staff(Role.TOWNSHIP_CLERK)
    with caplog.at_level(logging.INFO, logger="portal.audit"):
        client_for(user).get(account_url(person, year=2024))
    assert f"account read: user={user.pk} person={person.pk} year=2024" in caplog.text
    assert "953.83" not in caplog.text  # who read whose, never the figures


def test_a_person_without_postings_has_an_empty_account(line):
    newcomer = make_person(line.village, name="刘新")
    html = client_for(line.staff(Role.VILLAGE_AGENT)).get(account_url(newcomer)).content.decode()
    assert "尚未建账" in html
    assert set(sum(balances(html).values(), [])) == {"0.00"}


@pytest.mark.parametrize("name", ["funds:account_detail", "funds:statement", "funds:statement_xlsx"])
def test_an_account_out_of_scope_answers_404(line, account, name):
    elsewhere = region_line(county="320115")
    stranger = make_person(elsewhere.village, name="外地人")
    account_with_history(stranger)
    neighbour = region_line(county="320412", township="101", village="202")  # same township, another village
    client = client_for(neighbour.staff(Role.VILLAGE_AGENT))
    assert client.get(reverse(name, args=[stranger.pk])).status_code == 404
    assert client.get(reverse(name, args=[account.person.pk])).status_code == 404
    assert client_for(line.staff(Role.TOWNSHIP_CLERK)).get(reverse(name, args=[stranger.pk])).status_code == 404


def test_a_withdrawn_registration_has_no_account_page(line):
    void = make_person(line.village, name="撤回", status=PersonStatus.VOID)
    assert client_for(line.staff(Role.COUNTY_CLERK)).get(account_url(void)).status_code == 404


def test_the_person_page_links_the_account(line, person, account):
    html = client_for(line.staff(Role.VILLAGE_AGENT)).get(reverse("enrollment:person_detail", args=[person.pk]))
    html = html.content.decode()
    section = html[html.index('id="account-section"') :]
    assert "953.83" in section[:600]
    assert reverse("funds:account_detail", args=[person.pk]) in section
    assert reverse("funds:statement", args=[person.pk]) in section


def test_the_account_page_queries_do_not_grow_with_the_entries(line):
    clerk = client_for(line.staff(Role.TOWNSHIP_CLERK))
    few = account_with_entries(make_person(line.village, name="少"), 5)
    many = account_with_entries(make_person(line.village, name="多"), 30)
    counts = []
    for account in (few, many):
        with CaptureQueriesContext(connection) as queries:
            assert clerk.get(account_url(account.person)).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]
    assert counts[1] <= 10


# --- the printable statement ---------------------------------------------------------------------------


def test_the_printable_statement_has_title_person_balances_interest_and_date(line, person, account):
    html = client_for(line.staff(Role.TOWNSHIP_CLERK)).get(reverse("funds:statement", args=[person.pk]) + "?year=2024")
    html = html.content.decode()
    assert 'class="statements"' in html  # the print stylesheet drops the portal's header for it
    assert "城乡居民基本养老保险个人账户对账单" in html
    assert "对账期间：2024年1月1日至2024年12月31日" in html
    assert person.id_number not in html and idnumber.mask(person.id_number) in html
    assert balances(html)["personal"] == ["300.00", "500.00", "800.00"]
    assert "生成时间：" in html and "出具机构：" in html and "经办人：" in html


def test_the_statement_downloads_as_xlsx(line, person, account, caplog):
    user = line.staff(Role.VILLAGE_AGENT)
    with caplog.at_level(logging.INFO, logger="portal.audit"):
        response = client_for(user).get(reverse("funds:statement_xlsx", args=[person.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert "attachment" in response["Content-Disposition"]
    assert response["Cache-Control"] == "private, no-store"
    assert b"".join(response.streaming_content)[:2] == b"PK"
    assert f"statement downloaded: user={user.pk} person={person.pk}" in caplog.text


# --- a village's statements ----------------------------------------------------------------------------


def test_a_village_agent_gets_their_village_chosen(line, person, account):
    html = client_for(line.staff(Role.VILLAGE_AGENT)).get(reverse("funds:village_statements")).content.decode()
    assert "共1个个人账户" in html
    assert reverse("funds:village_statements_xlsx", args=[line.village.pk]) + "?part=1" in html


def test_a_township_clerk_chooses_among_their_villages(line, person, account):
    region_line(county="320412", township="101", village="202")
    client = client_for(line.staff(Role.TOWNSHIP_CLERK))
    html = client.get(reverse("funds:village_statements")).content.decode()
    assert html.count('<option value="320412101') == 2
    assert "个个人账户" not in html  # nothing chosen yet
    html = client.get(reverse("funds:village_statements") + f"?village={line.village.code}&year=2024").content.decode()
    assert "共1个个人账户" in html
    assert "?part=1&amp;year=2024" in html


def test_a_foreign_village_code_is_not_found(line):
    elsewhere = region_line(county="320115")
    html = client_for(line.staff(Role.COUNTY_CLERK)).get(
        reverse("funds:village_statements") + f"?village={elsewhere.village.code}"
    )
    assert "不在您的管辖范围内" in html.content.decode()


def test_a_big_village_comes_in_parts(line, monkeypatch):
    monkeypatch.setattr(selectors, "VILLAGE_PART_SIZE", 2)
    for n in range(5):
        account_with_entries(make_person(line.village, name=f"村民{n}"), 1)
    client = client_for(line.staff(Role.VILLAGE_AGENT))
    html = client.get(reverse("funds:village_statements")).content.decode()
    assert "共5个个人账户" in html
    assert "第5–5人" in html and "?part=3" in html
    printed = client.get(reverse("funds:village_statements_print", args=[line.village.pk]) + "?part=3").content.decode()
    assert printed.count('<article class="statement">') == 1
    assert "村民4" in printed


def test_the_village_print_page_has_one_statement_per_person_and_logs_the_read(line, caplog):
    for n in range(3):
        account_with_entries(make_person(line.village, name=f"村民{n}"), 2)
    user = line.staff(Role.TOWNSHIP_CLERK)
    with caplog.at_level(logging.INFO, logger="portal.audit"):
        html = client_for(user).get(reverse("funds:village_statements_print", args=[line.village.pk])).content.decode()
    assert html.count('<article class="statement">') == 3
    assert f"village statements read: user={user.pk} village={line.village.code}" in caplog.text
    assert "persons=3" in caplog.text


def test_the_village_pages_queries_do_not_grow_with_persons(line):
    client = client_for(line.staff(Role.TOWNSHIP_CLERK))
    url = reverse("funds:village_statements_xlsx", args=[line.village.pk])
    counts = []
    for n in (2, 8):
        for i in range(n - (2 if n == 8 else 0)):
            account_with_entries(make_person(line.village, name=f"村民{n}{i}"), 3)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
            b"".join(response.streaming_content)
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_the_nav_offers_statements_to_staff_with_a_jurisdiction(line):
    html = client_for(line.staff(Role.VILLAGE_AGENT)).get(reverse("portal:home")).content.decode()
    assert reverse("funds:village_statements") in html


def test_money_is_never_a_float_in_the_summary(account):
    summary = selectors.account_summary(account=account)
    assert all(isinstance(line.closing, Decimal) for line in summary.components)
    assert summary.closing == Decimal("953.83") == account.balance
