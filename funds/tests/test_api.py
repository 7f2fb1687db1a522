"""The account over the API, by insurance number: balance by component, a year's figures, the entries
paginated with constant queries, 404 out of scope, reads logged."""

import logging

import pytest
from rest_framework.test import APIClient

from agencies.models import Role
from agencies.tests.factories import UserFactory, region_line
from enrollment import idnumber
from enrollment.models import PersonStatus
from enrollment.tests.factories import make_person
from funds.tests.ledger_data import account_with_entries, account_with_history

pytestmark = pytest.mark.django_db

API = "/api/v1"
ALL_ROLES = [role for role, _ in Role.choices]


@pytest.fixture
def line():
    return region_line()


@pytest.fixture
def account(line):
    return account_with_history(make_person(line.village, name="王秀兰"))


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def account_url(account, suffix: str = "") -> str:
    return f"{API}/persons/{account.person.insurance_number}/account/{suffix}"


@pytest.mark.parametrize("role", ALL_ROLES)
def test_every_role_in_scope_reads_the_balance_by_component(line, account, role):
    response = client_for(line.staff(role)).get(account_url(account))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["insurance_number"] == account.person.insurance_number
    assert body["name"] == "王秀兰"
    assert body["id_number_masked"] == idnumber.mask(account.person.id_number)
    assert account.person.id_number not in response.content.decode()
    assert body["opened"] is True
    assert body["opened_on"] == "2023-03-05"
    assert body["pooling_region"] == line.pooling_region.code
    assert body["year"] is None
    assert body["balance"] == "953.83"
    assert {c["component"]: c["closing"] for c in body["components"]} == {
        "personal": "800.00",
        "government_subsidy": "100.00",
        "collective": "50.00",
        "donation": "0.00",
        "government_paid": "0.00",
        "interest": "3.83",
    }
    assert body["interest_by_year"] == [{"year": 2023, "amount": "3.83"}]
    assert {k["kind"]: k["amount"] for k in body["kinds"]} == {
        "contribution": "800.00",
        "subsidy": "100.00",
        "collective": "50.00",
        "interest": "3.83",
    }


def test_a_year_gives_opening_movement_and_closing(line, account):
    body = client_for(line.staff(Role.COUNTY_CLERK)).get(account_url(account), {"year": 2024}).json()
    assert body["year"] == 2024
    assert (body["opening_balance"], body["movement"], body["balance"]) == ("343.83", "610.00", "953.83")
    personal = next(c for c in body["components"] if c["component"] == "personal")
    assert (personal["opening"], personal["movement"], personal["closing"]) == ("300.00", "500.00", "800.00")
    assert body["interest_by_year"] == [{"year": 2023, "amount": "3.83"}]  # every year's interest, whatever the year


@pytest.mark.parametrize("year", ["20x4", "1800", "3000"])
def test_a_malformed_year_is_refused(line, account, year):
    response = client_for(line.staff(Role.COUNTY_CLERK)).get(account_url(account), {"year": year})
    assert response.status_code == 400
    assert "year" in response.json()


def test_a_person_without_postings_reads_as_an_empty_account(line):
    person = make_person(line.village, name="刘新")
    body = client_for(line.staff(Role.VILLAGE_AGENT)).get(f"{API}/persons/{person.insurance_number}/account/").json()
    assert body["opened"] is False
    assert body["opened_on"] is None and body["pooling_region"] is None
    assert body["balance"] == "0.00"
    assert {c["closing"] for c in body["components"]} == {"0.00"}
    entries = client_for(line.staff(Role.VILLAGE_AGENT)).get(
        f"{API}/persons/{person.insurance_number}/account/entries/"
    )
    assert entries.json()["count"] == 0


def test_entries_in_order_with_kind_component_amount_and_source(line, account):
    response = client_for(line.staff(Role.TOWNSHIP_CLERK)).get(account_url(account, "entries/"))
    body = response.json()
    assert body["count"] == 6
    first, _, interest, *_ = body["results"]
    assert first["booked_on"] == "2023-03-05"
    assert (first["kind"], first["component"], first["amount"]) == ("contribution", "personal", "300.00")
    assert (first["kind_display"], first["component_display"]) == ("个人缴费", "个人缴费")
    assert first["reference"] == "contribution:2023"
    assert (interest["kind"], interest["period"], interest["amount"]) == ("interest", "2023", "3.83")


def test_entries_of_one_year(line, account):
    body = client_for(line.staff(Role.TOWNSHIP_CLERK)).get(account_url(account, "entries/"), {"year": 2023}).json()
    assert [e["booked_on"] for e in body["results"]] == ["2023-03-05", "2023-03-05", "2023-12-31"]


def test_entries_are_paginated(line):
    account = account_with_entries(make_person(line.village), 60)
    client = client_for(line.staff(Role.TOWNSHIP_CLERK))
    first = client.get(account_url(account, "entries/")).json()
    assert first["count"] == 60 and len(first["results"]) == 50 and first["next"]
    second = client.get(account_url(account, "entries/"), {"page": 2}).json()
    assert len(second["results"]) == 10
    assert second["results"][-1]["booked_on"] == "2024-12-01"


@pytest.mark.parametrize("suffix", ["", "entries/"])
def test_out_of_scope_unknown_and_pending_answer_404(line, account, suffix):
    elsewhere = region_line(county="320115")
    stranger = account_with_history(make_person(elsewhere.village, name="外地人"))
    neighbour = region_line(county="320412", village="202")
    client = client_for(neighbour.staff(Role.VILLAGE_AGENT))
    assert client.get(account_url(account, suffix)).status_code == 404
    assert client.get(account_url(stranger, suffix)).status_code == 404
    clerk = client_for(line.staff(Role.COUNTY_CLERK))
    assert clerk.get(account_url(stranger, suffix)).status_code == 404
    assert clerk.get(f"{API}/persons/00000000000000/account/{suffix}").status_code == 404
    assert clerk.get(f"{API}/persons/{account.person.pk}/account/{suffix}").status_code == 404  # not the row id
    void = make_person(line.village, status=PersonStatus.VOID)
    assert clerk.get(f"{API}/persons/{void.insurance_number}/account/{suffix}").status_code == 404


def test_staff_without_a_jurisdiction_see_no_account(line, account):
    nobody = UserFactory(username="no_agency", role=Role.COUNTY_CLERK)
    assert client_for(nobody).get(account_url(account)).status_code == 404
    assert APIClient().get(account_url(account)).status_code in (401, 403)


def test_writes_are_not_allowed(line, account):
    client = client_for(line.staff(Role.COUNTY_CLERK))
    for method in ("post", "put", "patch", "delete"):
        assert getattr(client, method)(account_url(account)).status_code == 405
        assert getattr(client, method)(account_url(account, "entries/")).status_code == 405


def test_reads_are_logged(line, account, caplog):
    user = line.staff(Role.TOWNSHIP_CLERK)
    client = client_for(user)
    with caplog.at_level(logging.INFO, logger="portal.audit"):
        client.get(account_url(account), {"year": 2024})
        client.get(account_url(account, "entries/"))
    person = account.person.pk
    assert f"account_read user={user.pk} person={person} year=2024" in caplog.text
    assert f"account_entries_read user={user.pk} person={person}" in caplog.text


def test_entry_queries_do_not_grow_with_entries(line, django_assert_max_num_queries):
    client = client_for(line.staff(Role.TOWNSHIP_CLERK))
    few = account_with_entries(make_person(line.village, name="少"), 5)
    many = account_with_entries(make_person(line.village, name="多"), 30)
    for account in (few, many):
        url = account_url(account, "entries/")
        # session, user, agency and region (the scope), person, account, count, page
        with django_assert_max_num_queries(8):
            response = client.get(url)
        assert response.status_code == 200
    assert response.json()["count"] == 30


def test_account_queries_do_not_grow_with_entries(line, django_assert_max_num_queries):
    client = client_for(line.staff(Role.TOWNSHIP_CLERK))
    few = account_with_entries(make_person(line.village, name="少"), 5)
    many = account_with_entries(make_person(line.village, name="多"), 30)
    for account in (few, many):
        url = account_url(account)
        # session, user, agency and region (the scope), person, account, all its entries, the village's parents
        with django_assert_max_num_queries(9):
            response = client.get(url, {"year": 2021})
        assert response.status_code == 200
    assert response.json()["balance"] == "2400.00"  # 24 months of 100.00 to the end of 2021
