"""The archive survey (档案摸底): where each kind of the source's records is kept."""

# The fixtures are shared from test_views: imported by name, they are redefined as test arguments.
# ruff: noqa: F401, F811

import pytest

from agencies.errors import DomainError, NotPermitted
from agencies.models import Role
from migration.models import ArchiveSurveyItem
from migration.survey import survey_item_add, survey_items
from migration.tests.test_views import project, source, supervisor, target

pytestmark = pytest.mark.django_db


def test_an_item_is_recorded_with_who_recorded_it(project, supervisor):
    item = survey_item_add(
        actor=supervisor,
        project=project,
        kind=" 参保登记表 ",
        region_code="320411101000",
        place="新北区社保中心档案室",
        years="2010-2015",
        quantity=12,
        note="纸质",
    )
    assert (item.kind, item.region_code, item.quantity, item.recorded_by) == (
        "参保登记表",
        "320411101000",
        12,
        supervisor,
    )
    assert list(survey_items(project=project)) == [item]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "", "place": "档案室"}, "请填写档案类别。"),
        ({"kind": "缴费台账", "place": "  "}, "请填写存放地点。"),
        ({"kind": "缴费台账", "place": "档案室", "quantity": -1}, "数量不能为负数。"),
        ({"kind": "缴费台账", "place": "档案室", "region_code": "3204"}, "区划代码应为12位数字。"),
        # 常州市本级's village is not in the area that moves
        ({"kind": "缴费台账", "place": "档案室", "region_code": "320402101201"}, "该区划不在并入的范围内。"),
    ],
)
def test_refusals_name_the_field(project, supervisor, fields, message):
    data = {"region_code": "", "years": "", "quantity": 0, "note": "", **fields}
    with pytest.raises(DomainError) as refused:
        survey_item_add(actor=supervisor, project=project, **data)
    assert refused.value.message == message
    assert not ArchiveSurveyItem.objects.exists()


def test_only_a_city_supervisor_records(project, source):
    with pytest.raises(NotPermitted):
        survey_item_add(
            actor=source.staff(Role.COUNTY_CLERK),
            project=project,
            kind="缴费台账",
            region_code="",
            place="档案室",
        )
