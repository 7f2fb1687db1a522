"""The region tree over the API: only as far as the caller's jurisdiction reaches."""

import pytest
from rest_framework.test import APIClient

from agencies.models import RegionLevel, Role
from agencies.tests.factories import RegionFactory, UserFactory, region_line

pytestmark = pytest.mark.django_db

API = "/api/v1"


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def codes(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["code"] for row in response.json()["results"]]


@pytest.fixture
def line():
    line = region_line()
    # a second village in the same township, and a second township in the same county
    RegionFactory(code="320412101202", name="二村", level=RegionLevel.VILLAGE, parent=line.township)
    RegionFactory(code="320412102000", name="二镇", level=RegionLevel.TOWNSHIP, parent=line.county)
    return line


@pytest.fixture
def other_line():
    return region_line(county="320411")


def test_a_township_clerk_sees_the_township_and_its_villages_only(line, other_line):
    clerk = line.staff(Role.TOWNSHIP_CLERK)

    assert codes(client_for(clerk).get(f"{API}/regions/")) == ["320412101000", "320412101201", "320412101202"]


def test_a_county_clerk_sees_the_county_down_to_its_villages(line, other_line):
    clerk = line.staff(Role.COUNTY_CLERK)

    assert codes(client_for(clerk).get(f"{API}/regions/")) == [
        "320412000000",
        "320412101000",
        "320412101201",
        "320412101202",
        "320412102000",
    ]


def test_the_city_sees_both_counties(line, other_line):
    supervisor = line.staff(Role.CITY_SUPERVISOR)

    result = codes(client_for(supervisor).get(f"{API}/regions/", {"level": RegionLevel.COUNTY}))

    assert result == ["320411000000", "320412000000"]


def test_filter_by_level_and_parent(line):
    client = client_for(line.staff(Role.COUNTY_CLERK))

    villages = codes(client.get(f"{API}/regions/", {"level": "village"}))
    by_parent_id = codes(client.get(f"{API}/regions/", {"parent": line.township.pk}))
    by_parent_code = codes(client.get(f"{API}/regions/", {"parent_code": line.county.code}))
    towns_of_county = codes(client.get(f"{API}/regions/", {"parent": line.county.pk, "level": "township"}))

    assert villages == ["320412101201", "320412101202"]
    assert by_parent_id == ["320412101201", "320412101202"]
    assert by_parent_code == ["320412101000", "320412102000"]
    assert towns_of_county == ["320412101000", "320412102000"]


def test_filtering_by_a_parent_outside_the_scope_finds_nothing_rather_than_an_error(line, other_line):
    client = client_for(line.staff(Role.COUNTY_CLERK))

    response = client.get(f"{API}/regions/", {"parent": other_line.township.pk})

    assert codes(response) == []


def test_an_unknown_level_is_refused_in_chinese(line):
    response = client_for(line.staff(Role.COUNTY_CLERK)).get(f"{API}/regions/", {"level": "planet"})

    assert response.status_code == 400
    assert "planet" in response.json()["level"][0]
    assert "选择" in response.json()["level"][0]


def test_detail_shows_the_place_and_its_parent(line):
    response = client_for(line.staff(Role.VILLAGE_AGENT)).get(f"{API}/regions/{line.village.pk}/")

    assert response.status_code == 200
    assert response.json() == {
        "id": line.village.pk,
        "code": "320412101201",
        "name": line.village.name,
        "level": "village",
        "level_display": "村/社区",
        "parent": line.township.pk,
        "parent_code": "320412101000",
        "registered_population": 0,
    }


def test_a_place_outside_the_scope_answers_404(line, other_line):
    agent = client_for(line.staff(Role.VILLAGE_AGENT))

    assert agent.get(f"{API}/regions/{other_line.village.pk}/").status_code == 404
    # above the caller's own place is outside too
    assert agent.get(f"{API}/regions/{line.township.pk}/").status_code == 404
    assert agent.get(f"{API}/regions/999999/").status_code == 404


def test_without_an_agency_nothing_and_a_superuser_everything(line, other_line):
    nobody = UserFactory(username="nobody")
    root = UserFactory(username="root", is_superuser=True, is_staff=True)

    assert codes(client_for(nobody).get(f"{API}/regions/")) == []
    assert len(codes(client_for(root).get(f"{API}/regions/"))) == 9  # one city shared by both lines


def test_anonymous_callers_are_turned_away(line):
    response = APIClient().get(f"{API}/regions/")

    assert response.status_code in (401, 403)


def test_the_region_list_does_not_query_per_row(line, django_assert_max_num_queries):
    client = client_for(line.staff(Role.COUNTY_CLERK))
    for n in range(30):
        RegionFactory(code=f"320412101{300 + n}", level=RegionLevel.VILLAGE, parent=line.township)

    with django_assert_max_num_queries(7):
        response = client.get(f"{API}/regions/")

    assert response.json()["count"] == 35
    assert all(row["parent_code"] for row in response.json()["results"] if row["level"] != "county")


def test_the_schema_is_served(line):
    response = client_for(line.staff(Role.COUNTY_CLERK)).get("/api/schema/")

    assert response.status_code == 200
    assert b"/api/v1/persons/{id}/change/" in response.content
