"""The contributions API: each endpoint's happy path, refusals as 4xx with nothing written, scope, query counts."""

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from openpyxl import load_workbook
from rest_framework.test import APIClient

from agencies.models import Role
from agencies.tests.factories import region_line
from contributions import services
from contributions.models import Contribution, ContributionPolicy, Donation, InterestRate, TierChoice
from contributions.tests.factories import make_policy
from enrollment.tests.factories import make_person
from funds.models import LedgerEntry

pytestmark = pytest.mark.django_db

API = "/api/v1"


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def counter_payment(person, **overrides) -> dict:
    body = {
        "person": person.pk,
        "year": 2024,
        "amount": "300",
        "paid_on": "2024-03-01",
        "bank_code": "314",
        "bank_reference": "R-API-1",
    }
    return {**body, **overrides}


# --- policy and rates -------------------------------------------------------------------------------------


def policy_body(line, **overrides) -> dict:
    body = {
        "pooling_region": line.pooling_region.code,
        "valid_from": "2012-01-01",
        "tiers": [{"amount": "100", "government_subsidy": "30"}, {"amount": "500", "government_subsidy": "60"}],
        "hardship_shares": {"tekun": "100", "dibao": "70"},
        "window_end_month": 3,
        "window_end_day": 31,
        "province_share": "20",
        "city_share": "30",
        "county_share": "50",
    }
    return {**body, **overrides}


def test_a_supervisor_creates_a_policy_and_everyone_in_the_region_reads_it(line, supervisor, agent):
    response = client_for(supervisor).post(f"{API}/contribution-policies/", policy_body(line), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert [t["amount"] for t in body["tiers"]] == ["100.00", "500.00"]
    assert (body["window_end_month"], body["county_share"]) == (3, "50.00")
    assert {s["group"]: s["share_percent"] for s in body["hardship_shares"]} == {"tekun": "100.00", "dibao": "70.00"}
    # a village agent sees the policy of the pooling region their village belongs to
    listed = client_for(agent).get(f"{API}/contribution-policies/").json()["results"]
    assert [p["id"] for p in listed] == [body["id"]]
    assert client_for(agent).get(f"{API}/contribution-policies/{body['id']}/").status_code == 200


def test_policy_refusals(line, supervisor, agent):
    client = client_for(supervisor)
    floats = policy_body(line, tiers=[{"amount": 100.5, "government_subsidy": "30"}])
    assert client.post(f"{API}/contribution-policies/", floats, format="json").status_code == 400
    overlap = client.post(f"{API}/contribution-policies/", policy_body(line), format="json")
    assert overlap.status_code == 201
    again = client.post(f"{API}/contribution-policies/", policy_body(line, valid_from="2011-06-01"), format="json")
    assert again.status_code == 400 and "重叠" in again.json()["detail"]
    assert client_for(agent).post(f"{API}/contribution-policies/", policy_body(line), format="json").status_code == 403
    foreign = region_line(county="320115")
    unknown = client.post(f"{API}/contribution-policies/", policy_body(foreign), format="json")
    assert unknown.status_code == 400 and unknown.json()["field"] == "pooling_region"
    assert ContributionPolicy.objects.count() == 1


def test_interest_rates(line, supervisor, clerk):
    client = client_for(supervisor)
    body = {"pooling_region": line.pooling_region.code, "year": 2015, "rate": "2.75%"}
    response = client.post(f"{API}/interest-rates/", body, format="json")
    assert response.status_code == 201
    assert (response.json()["rate"], response.json()["rate_percent"]) == ("0.02750", "2.75%")
    assert client.post(f"{API}/interest-rates/", {**body, "rate": 0.0275}, format="json").status_code == 400
    assert client.post(f"{API}/interest-rates/", {**body, "rate": "2.75"}, format="json").status_code == 400
    assert client_for(clerk).post(f"{API}/interest-rates/", body, format="json").status_code == 403
    assert [r["year"] for r in client_for(clerk).get(f"{API}/interest-rates/").json()["results"]] == [2015]
    assert InterestRate.objects.get().rate == Decimal("0.0275")


# --- tier choices -----------------------------------------------------------------------------------------


def test_tier_choice_create_and_list(agent, person):
    client = client_for(agent)
    response = client.post(f"{API}/tier-choices/", {"person": person.pk, "year": 2024, "amount": "300"}, format="json")
    assert response.status_code == 201
    assert (response.json()["amount"], response.json()["source"]) == ("300.00", "clerk")
    assert "*" in response.json()["id_number_masked"]
    bad = client.post(f"{API}/tier-choices/", {"person": person.pk, "year": 2024, "amount": "250"}, format="json")
    assert bad.status_code == 400 and "没有250元" in bad.json()["detail"]
    listed = client.get(f"{API}/tier-choices/?year=2024").json()["results"]
    assert [c["amount"] for c in listed] == ["300.00"]
    assert client.get(f"{API}/tier-choices/?year=2023").json()["results"] == []


def test_tier_choice_for_a_person_out_of_scope(line, agent, policy):
    neighbour = make_person(region_line(county="320412", township="101", village="202").village)
    response = client_for(agent).post(
        f"{API}/tier-choices/", {"person": neighbour.pk, "year": 2024, "amount": "300"}, format="json"
    )
    assert response.status_code == 400 and response.json()["field"] == "person"
    assert not TierChoice.objects.exists()


def test_template_download_and_import(line, agent, person):
    client = client_for(agent)
    response = client.get(f"{API}/tier-choices/template/?year=2025&village={line.village.code}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    workbook = load_workbook(io.BytesIO(response.content))
    sheet = workbook.worksheets[0]
    sheet["F2"] = 500
    filled = io.BytesIO()
    workbook.save(filled)
    upload = SimpleUploadedFile("tiers.xlsx", filled.getvalue())
    result = client.post(f"{API}/tier-choices/import/", {"year": 2025, "file": upload}, format="multipart")
    assert result.status_code == 201, result.json()
    assert (result.json()["ok"], result.json()["created"]) == (True, 1)
    assert TierChoice.objects.get(person=person, year=2025).amount == 500


def test_import_with_errors_answers_400_with_every_row(line, agent, person):
    text = f"身份证号,选择档次\n{person.id_number},250\nabc,300\n".encode()
    upload = SimpleUploadedFile("tiers.csv", text)
    result = client_for(agent).post(f"{API}/tier-choices/import/", {"year": 2025, "file": upload}, format="multipart")
    assert result.status_code == 400
    assert [e["row"] for e in result.json()["errors"]] == [2, 3]
    assert not TierChoice.objects.exists()


def test_template_of_a_village_out_of_scope(agent, policy):
    other = region_line(county="320412", township="101", village="202")
    response = client_for(agent).get(f"{API}/tier-choices/template/?year=2025&village={other.village.code}")
    assert response.status_code == 400 and response.json()["field"] == "village"


# --- contributions ----------------------------------------------------------------------------------------


def test_counter_payment(clerk, person):
    response = client_for(clerk).post(f"{API}/contributions/", counter_payment(person), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["tier_amount"], body["personal_amount"], body["government_subsidy"]) == ("300.00", "300.00", "40.00")
    assert (body["channel"], body["kind"], body["recorded_by"]) == ("counter", "regular", clerk.pk)
    # the same receipt again: the same contribution, nothing posted twice
    again = client_for(clerk).post(f"{API}/contributions/", counter_payment(person), format="json")
    assert again.json()["id"] == body["id"]
    assert LedgerEntry.objects.count() == 2
    assert client_for(clerk).get(f"{API}/contributions/{body['id']}/").json()["bank_reference"] == "R-API-1"


@pytest.mark.parametrize("amount", ["30O", "1e3", "-5", "0.001", 300.0, "250"])
def test_bad_amounts_answer_400_with_nothing_written(clerk, person, amount):
    response = client_for(clerk).post(f"{API}/contributions/", counter_payment(person, amount=amount), format="json")
    assert response.status_code == 400
    assert not Contribution.objects.exists() and not LedgerEntry.objects.exists()


def test_a_second_payment_for_the_year_is_409(clerk, person):
    client = client_for(clerk)
    assert client.post(f"{API}/contributions/", counter_payment(person), format="json").status_code == 201
    second = client.post(f"{API}/contributions/", counter_payment(person, bank_reference="R-2"), format="json")
    assert second.status_code == 409 and "同一年度只能缴费一次" in second.json()["detail"]


def test_outside_the_window_is_400(line):
    make_policy(line, window=(1, 1, 3, 31))
    clerk = line.staff(Role.TOWNSHIP_CLERK)
    person = make_person(line.village)
    response = client_for(clerk).post(
        f"{API}/contributions/", counter_payment(person, paid_on="2024-04-01"), format="json"
    )
    assert response.status_code == 400 and response.json()["code"] == "outside_window"


def test_a_village_agent_records_no_payment(agent, person):
    response = client_for(agent).post(f"{API}/contributions/", counter_payment(person), format="json")
    assert response.status_code == 403
    assert not Contribution.objects.exists()


def test_contribution_list_query_count_is_constant(line, clerk, policy):
    client = client_for(clerk)

    def pay_for(n: int, start: int) -> None:
        for i in range(start, start + n):
            person = make_person(line.village, name=f"缴费人{i}")
            services.contribution_post(
                actor=clerk,
                person=person,
                year=2024,
                amount="100",
                paid_on=dt.date(2024, 3, 1),
                channel="counter",
                bank_code="314",
                bank_reference=f"Q{i}",
            )

    pay_for(2, 0)
    client.get(f"{API}/contributions/")
    with CaptureQueriesContext(connection) as few:
        assert len(client.get(f"{API}/contributions/").json()["results"]) == 2
    pay_for(10, 2)
    with CaptureQueriesContext(connection) as many:
        assert len(client.get(f"{API}/contributions/").json()["results"]) == 12
    assert len(many) == len(few)


# --- collective subsidies and donations -------------------------------------------------------------------


def test_collective_subsidy_and_donation(line, clerk, person):
    client = client_for(clerk)
    assert client.post(f"{API}/contributions/", counter_payment(person), format="json").status_code == 201
    response = client.post(
        f"{API}/collective-subsidies/",
        {"village": line.village.code, "year": 2024, "amount_per_person": "50", "decision": "村民代表会议决议"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert (response.json()["persons_credited"], response.json()["village_name"]) == (1, line.village.name)
    donation = client.post(
        f"{API}/donations/",
        {"person": person.pk, "year": 2024, "donor": "爱心企业", "amount": "2000", "received_on": "2024-05-01"},
        format="json",
    )
    assert donation.status_code == 400 and "最多还可资助1950元" in donation.json()["detail"]
    donation = client.post(
        f"{API}/donations/",
        {"person": person.pk, "year": 2024, "donor": "爱心企业", "amount": "200", "received_on": "2024-05-01"},
        format="json",
    )
    assert donation.status_code == 201
    assert [d["amount"] for d in client.get(f"{API}/donations/").json()["results"]] == ["200.00"]
    assert Donation.objects.count() == 1


# --- renewal ------------------------------------------------------------------------------------------------


def test_renewal_list_and_rates(line, policy):
    clerk = line.staff(Role.COUNTY_CLERK)
    for name, years in (("续了", (2024, 2025)), ("没续", (2024,))):
        person = make_person(line.village, name=name, birth_date=dt.date(1990, 1, 1))
        for year in years:
            services.contribution_post(
                actor=clerk,
                person=person,
                year=year,
                amount="100",
                paid_on=dt.date(year, 3, 1),
                channel="counter",
                bank_code="314",
                bank_reference=f"{name}{year}",
            )
    client = client_for(clerk)
    listed = client.get(f"{API}/renewals/?year=2025").json()["results"]
    assert [(p["name"], p["age_band"]) for p in listed] == [("没续", "16-44")]
    rates = client.get(f"{API}/renewals/rates/?year=2025").json()
    assert rates == [
        {
            "village_id": line.village.pk,
            "village_code": line.village.code,
            "village_name": line.village.name,
            "age_band": "16-44",
            "paid_last_year": 2,
            "renewed": 1,
            "rate": "0.5000",
            "target": "0.7000",
            "met": False,
        }
    ]
    assert client.get(f"{API}/renewals/").status_code == 400  # the year is required
    assert client.get(f"{API}/renewals/?year=2025&age_band=60-99").status_code == 400


def test_the_schema_describes_the_contribution_endpoints(line):
    response = client_for(line.staff(Role.COUNTY_CLERK)).get("/api/schema/")
    assert response.status_code == 200
    for path in (b"/api/v1/contributions/", b"/api/v1/tier-choices/import/", b"/api/v1/renewals/rates/"):
        assert path in response.content


def test_admin_pages_are_read_only_and_scoped(line, clerk, person):
    from agencies.tests.factories import UserFactory

    client_for(clerk).post(f"{API}/contributions/", counter_payment(person), format="json")
    foreign = region_line(county="320115")
    make_policy(foreign)
    admin_user = UserFactory(
        username="city_admin", role=Role.ADMINISTRATOR, agency=line.agency("city"), is_staff=True, is_superuser=True
    )
    client = client_for(admin_user)
    for page in ("contribution", "contributionpolicy", "tierchoice", "interestrate", "donation", "collectivesubsidy"):
        assert client.get(f"/admin/contributions/{page}/").status_code == 200
    listing = client.get("/admin/contributions/contributionpolicy/").content.decode()
    assert line.pooling_region.name in listing and foreign.pooling_region.name not in listing
    assert client.get("/admin/contributions/contribution/add/").status_code == 403
