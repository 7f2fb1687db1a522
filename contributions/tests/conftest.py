import datetime as dt

import pytest

from agencies.models import Role
from agencies.tests.factories import RegionLine, region_line
from contributions.tests.factories import make_policy
from enrollment.models import InsuredPerson
from enrollment.tests.factories import make_person


@pytest.fixture
def line() -> RegionLine:
    home = region_line()
    home.pooling_region.scheme_started_on = dt.date(2009, 7, 1)
    home.pooling_region.save()
    return home


@pytest.fixture
def policy(line):
    return make_policy(line)


@pytest.fixture
def supervisor(line):
    return line.staff(Role.CITY_SUPERVISOR)


@pytest.fixture
def agent(line):
    return line.staff(Role.VILLAGE_AGENT)


@pytest.fixture
def clerk(line):
    return line.staff(Role.TOWNSHIP_CLERK)


@pytest.fixture
def person(line, policy) -> InsuredPerson:
    return make_person(line.village, name="李四", birth_date=dt.date(1980, 6, 1))
