import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import Http404

from agencies.models import Agency, Region, Role
from agencies.scope import code_in_scope, get_scoped_or_404, scope_prefix, scoped
from agencies.tests.factories import UserFactory, region_line
from enrollment.models import InsuredPerson
from enrollment.tests.factories import make_person

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    home = region_line(county="320412", township="101", village="201")
    sibling_village = region_line(county="320412", township="101", village="202")
    sibling_township = region_line(county="320412", township="102", village="201")
    other_county = region_line(county="320411", township="101", village="201")
    other_city = region_line(county="320115", township="101", village="201")
    persons = {
        name: make_person(line.village, name=name)
        for name, line in [
            ("home", home),
            ("sibling_village", sibling_village),
            ("sibling_township", sibling_township),
            ("other_county", other_county),
            ("other_city", other_city),
        ]
    }
    return home, persons


@pytest.mark.parametrize(
    ("role", "visible"),
    [
        (Role.VILLAGE_AGENT, {"home"}),
        (Role.TOWNSHIP_CLERK, {"home", "sibling_village"}),
        (Role.COUNTY_CLERK, {"home", "sibling_village", "sibling_township"}),
        (Role.COUNTY_APPROVER, {"home", "sibling_village", "sibling_township"}),
        (Role.CITY_SUPERVISOR, {"home", "sibling_village", "sibling_township", "other_county"}),
    ],
)
def test_each_level_sees_its_own_region_and_below(world, role, visible):
    home, persons = world
    user = home.staff(role)
    seen = set(scoped(InsuredPerson.objects.all(), user).values_list("name", flat=True))
    assert seen == visible


def test_prefixes_by_level(world):
    home, _ = world
    assert scope_prefix(home.staff(Role.VILLAGE_AGENT)) == "320412101201"
    assert scope_prefix(home.staff(Role.TOWNSHIP_CLERK)) == "320412101"
    assert scope_prefix(home.staff(Role.COUNTY_CLERK)) == "320412"
    assert scope_prefix(home.staff(Role.CITY_SUPERVISOR)) == "3204"


def test_no_agency_sees_nothing_unless_superuser(world):
    nobody = UserFactory(username="no_agency")
    assert scoped(InsuredPerson.objects.all(), nobody).count() == 0
    assert scoped(InsuredPerson.objects.all(), AnonymousUser()).count() == 0
    root = UserFactory(username="root", is_superuser=True)
    assert scoped(InsuredPerson.objects.all(), root).count() == 5


def test_inactive_user_sees_nothing(world):
    home, _ = world
    user = home.staff(Role.COUNTY_CLERK)
    user.is_active = False
    assert scoped(InsuredPerson.objects.all(), user).count() == 0


def test_out_of_scope_object_is_404(world):
    home, persons = world
    user = home.staff(Role.TOWNSHIP_CLERK)
    assert get_scoped_or_404(InsuredPerson.objects.all(), user, pk=persons["home"].pk) == persons["home"]
    with pytest.raises(Http404):
        get_scoped_or_404(InsuredPerson.objects.all(), user, pk=persons["other_county"].pk)
    with pytest.raises(Http404):
        get_scoped_or_404(InsuredPerson.objects.all(), user, pk="not-a-number")


def test_regions_scoped_by_their_own_code(world):
    home, _ = world
    user = home.staff(Role.TOWNSHIP_CLERK)
    codes = set(scoped(Region.objects.all(), user).values_list("code", flat=True))
    assert codes == {"320412101000", "320412101201", "320412101202"}
    assert code_in_scope(user, "320412101202")
    assert not code_in_scope(user, "320412102201")


def test_model_without_scope_field_cannot_be_scoped(world):
    home, _ = world
    with pytest.raises(TypeError):
        scoped(Agency.objects.all(), home.staff(Role.COUNTY_CLERK))
