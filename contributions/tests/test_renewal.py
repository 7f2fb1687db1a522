"""Renewal: who paid last year and not yet this year, by village and age band, against the targets."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agencies.models import Role
from agencies.tests.factories import region_line
from contributions import selectors, services
from enrollment.models import PersonStatus
from enrollment.tests.factories import make_person

pytestmark = pytest.mark.django_db

D = dt.date
YOUNG = D(1990, 5, 5)  # 34 on 1 January 2025
OLDER = D(1970, 5, 5)  # 54


def pay(clerk, person, year):
    services.contribution_post(
        actor=clerk,
        person=person,
        year=year,
        amount="100",
        paid_on=D(year, 3, 1),
        channel="counter",
        bank_code="314",
        bank_reference=f"R{person.pk}-{year}",
    )


@pytest.fixture
def village_two(line):
    return region_line(county="320412", township="101", village="202").village


@pytest.fixture
def paid(line, policy, village_two):
    """Village one: 3 young paid 2024 (2 renewed), 2 older paid 2024 (both renewed), 1 young only 2025,
    1 who paid 2024 and is cancelled, 1 aged 60. Village two: 1 older paid 2024, not renewed."""
    clerk = line.staff(Role.COUNTY_CLERK)
    people = {}
    for name, village, birth, years in [
        ("青一", line.village, YOUNG, (2024, 2025)),
        ("青二", line.village, YOUNG, (2024, 2025)),
        ("青三", line.village, YOUNG, (2024,)),
        ("中一", line.village, OLDER, (2024, 2025)),
        ("中二", line.village, OLDER, (2024, 2025)),
        ("新人", line.village, YOUNG, (2025,)),
        ("老人", line.village, D(1964, 12, 31), (2024,)),  # 60 on 1 January 2025
        ("邻中", village_two, OLDER, (2024,)),
    ]:
        person = make_person(village, name=name, birth_date=birth)
        for year in years:
            pay(clerk, person, year)
        people[name] = person
    gone = make_person(line.village, name="注销", birth_date=YOUNG)
    pay(clerk, gone, 2024)
    gone.status = PersonStatus.CANCELLED
    gone.save()
    return people


def test_renewal_list(line, paid):
    clerk = line.staff(Role.COUNTY_CLERK)
    names = {p.name: p.age_band for p in selectors.renewal_list(user=clerk, year=2025)}
    assert names == {"青三": "16-44", "邻中": "45-59"}
    assert [p.name for p in selectors.renewal_list(user=clerk, year=2025, age_band="45-59")] == ["邻中"]
    assert [p.name for p in selectors.renewal_list(user=clerk, year=2025, village=line.village)] == ["青三"]


def test_renewal_list_is_scoped(line, paid):
    agent = line.staff(Role.VILLAGE_AGENT)  # village one only
    assert [p.name for p in selectors.renewal_list(user=agent, year=2025)] == ["青三"]
    stranger = region_line(county="320115").staff(Role.COUNTY_CLERK)
    assert not selectors.renewal_list(user=stranger, year=2025).exists()


def test_renewal_rates_against_the_targets(line, paid, village_two):
    clerk = line.staff(Role.COUNTY_CLERK)
    rates = {(r.village_code, r.age_band): r for r in selectors.renewal_rates(user=clerk, year=2025)}
    young = rates[(line.village.code, "16-44")]
    assert (young.paid_last_year, young.renewed, young.rate, young.target, young.met) == (
        3,
        2,
        Decimal("0.6667"),
        Decimal("0.70"),
        False,
    )
    older = rates[(line.village.code, "45-59")]
    assert (older.paid_last_year, older.renewed, older.rate, older.met) == (2, 2, Decimal("1.0000"), True)
    neighbour = rates[(village_two.code, "45-59")]
    assert (neighbour.renewed, neighbour.rate, neighbour.met) == (0, Decimal("0.0000"), False)
    assert len(rates) == 3


def test_renewal_queries_do_not_grow_with_villages_or_persons(line, paid):
    clerk = line.staff(Role.COUNTY_CLERK)
    selectors.renewal_rates(user=clerk, year=2025)  # the clerk's agency and region are read once and kept
    with CaptureQueriesContext(connection) as before:
        selectors.renewal_rates(user=clerk, year=2025)
        list(selectors.renewal_list(user=clerk, year=2025))
    for n in range(3, 8):
        village = region_line(county="320412", township="101", village=f"2{n:02d}").village
        for i in range(3):
            pay(clerk, make_person(village, name=f"村{n}人{i}", birth_date=OLDER), 2024)
    with CaptureQueriesContext(connection) as after:
        rates = selectors.renewal_rates(user=clerk, year=2025)
        listed = list(selectors.renewal_list(user=clerk, year=2025))
    assert len(after) == len(before) == 3  # rates: the aggregate and the village names; the list: one
    assert len(rates) == 8 and len(listed) == 17


def test_a_year_without_anyone_paying_last_year(line, policy):
    assert selectors.renewal_rates(user=line.staff(Role.COUNTY_CLERK), year=2013) == []
