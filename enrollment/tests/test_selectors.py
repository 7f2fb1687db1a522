import datetime as dt

import pytest

from agencies.models import Role
from agencies.tests.factories import region_line
from enrollment import idnumber
from enrollment.models import PersonStatus
from enrollment.selectors import person_get, person_search
from enrollment.tests.factories import make_person

pytestmark = pytest.mark.django_db


@pytest.fixture
def register():
    line = region_line()
    other = region_line(county="320411")
    persons = {
        "wang": make_person(line.village, name="王建国", id_number=idnumber.make("320412", dt.date(1960, 1, 2), 11)),
        "li": make_person(line.village, name="李秀英", id_number=idnumber.make("320412", dt.date(1975, 3, 8), 22)),
        "ouyang": make_person(
            line.village, name="欧阳建华", id_number=idnumber.make("320412", dt.date(1960, 1, 3), 13)
        ),
        "void": make_person(line.village, name="王作废", status=PersonStatus.VOID),
        "stranger": make_person(
            other.village, name="王建国", id_number=idnumber.make("320411", dt.date(1960, 1, 2), 11)
        ),
    }
    return line.staff(Role.COUNTY_CLERK), persons


def names(user, q):
    return sorted(person_search(user=user, q=q).values_list("name", flat=True))


def test_search_by_whole_and_partial_numbers(register):
    user, persons = register
    assert names(user, persons["li"].id_number) == ["李秀英"]
    assert names(user, persons["li"].id_number.lower()) == ["李秀英"]
    assert names(user, "32041219600") == ["欧阳建华", "王建国"]  # prefix: born January 1960
    assert names(user, persons["wang"].insurance_number) == ["王建国"]


def test_search_by_name_part_and_pinyin_initials(register):
    user, _ = register
    assert names(user, "建") == ["欧阳建华", "王建国"]
    assert names(user, "王建国") == ["王建国"]  # the other county's 王建国 stays out of scope
    assert names(user, "WJG") == ["王建国"]
    assert names(user, "oy") == ["欧阳建华"]
    assert names(user, " 李 秀英 ") == ["李秀英"]


def test_withdrawn_registrations_are_neither_listed_nor_opened(register):
    from django.http import Http404

    user, persons = register
    assert "王作废" not in names(user, "")
    with pytest.raises(Http404):
        person_get(user=user, pk=persons["void"].pk)
    with pytest.raises(Http404):
        person_get(user=user, pk=persons["stranger"].pk)
