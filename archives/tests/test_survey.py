"""The merger's archive survey lands in the archives: who sees which rows, and receiving one into the room.

新北区 (320411) joins 常州市本级 (320402) in the city 3204; the project's place is the city, 320400000000. A second
merger in the city 3205 is another city's business.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from agencies.errors import Conflict, DomainError, NotPermitted
from agencies.models import Role
from agencies.tests.factories import region_line
from archives.models import ArchiveItem
from archives.survey import SurveyItemNotFound, survey_pending, survey_receive
from archives.tests.factories import placed_item
from migration.models import ArchiveSurveyItem
from migration.services import project_create
from migration.survey import survey_item_add

pytestmark = pytest.mark.django_db

THIS_YEAR = timezone.localdate().year


def merger(source_county: str, target_county: str, name: str):
    source = region_line(county=source_county, township="101", village="201")
    target = region_line(county=target_county, township="101", village="201")
    supervisor = source.staff(Role.CITY_SUPERVISOR)
    project = project_create(
        actor=supervisor,
        name=name,
        source_pooling_region=source.pooling_region,
        target_pooling_region=target.pooling_region,
        cutover_date=dt.date(2027, 1, 1),
        source_tiers_until=dt.date(2027, 6, 30),
        deemed_years_until=dt.date(2027, 1, 1),
    )
    return source, target, supervisor, project


@pytest.fixture
def world():
    source, target, supervisor, project = merger("320411", "320402", "新北区并入市本级")

    def row(region_code: str, kind: str, years: str = "", **fields):
        return survey_item_add(
            actor=supervisor,
            project=project,
            kind=kind,
            region_code=region_code,
            place=fields.pop("place", "新北区社保中心档案室"),
            years=years,
            **fields,
        )

    rows = {
        "township": row("320411101000", "参保登记表", "2010-2015年", quantity=12, note="纸质，按村装盒"),
        "unplaced": row("", "待遇审批表", "历年"),
    }
    _, _, other_supervisor, other_project = merger("320505", "320506", "虎丘区并入")
    rows["other_city"] = survey_item_add(
        actor=other_supervisor, project=other_project, kind="缴费台账", region_code="320505101000", place="虎丘档案室"
    )
    return source, target, project, rows


def test_each_clerk_sees_the_rows_still_to_hand_over_in_their_place(world):
    source, target, project, rows = world
    # the source county's clerk sees its township's row and the rows without a place (filed under the county)
    county_clerk = source.staff(Role.COUNTY_CLERK)
    assert list(survey_pending(actor=county_clerk)) == [rows["unplaced"], rows["township"]]
    # the township's clerk only its own; the target's clerk and a village agent elsewhere none
    assert list(survey_pending(actor=source.staff(Role.TOWNSHIP_CLERK))) == [rows["township"]]
    assert list(survey_pending(actor=target.staff(Role.COUNTY_CLERK))) == []
    # the city's supervisor sees the project's rows, never another city's
    supervisor = source.staff(Role.CITY_SUPERVISOR)
    assert list(survey_pending(actor=supervisor)) == [rows["unplaced"], rows["township"]]


def test_receiving_a_row_files_it_places_it_and_marks_it_handed_over(world):
    source, _, project, rows = world
    clerk = source.staff(Role.COUNTY_CLERK)
    # when the county's archive clerk receives the township's registration forms into the archive room
    item = survey_receive(
        actor=clerk, survey_item=rows["township"], room="一号库房", cabinet="B02", box="2015-001", position="1"
    )
    # then an item of 并轨移交档案 is filed under the township, in the last year it covers, kept for ever
    assert item.kind.code == "handed_over"
    assert item.source == rows["township"]
    assert (item.region_code, item.year, item.retain_until) == ("320411101000", 2015, None)
    assert item.archive_no == "320411101-2015-15-000001"
    assert item.title == "参保登记表（2010-2015年）"
    assert item.fields == {
        "档案类别": "参保登记表",
        "原存放地点": "新北区社保中心档案室",
        "年度": "2010-2015年",
        "数量（卷/盒）": "12",
        "备注": "纸质，按村装盒",
        "并轨项目": "新北区并入市本级",
    }
    # its paper is in the clerk's archive room, the clerk keeps it, and the clerk filed it
    assert (item.location.region_code, item.location.room, item.location.cabinet, item.location.box) == (
        "320411000000",
        "一号库房",
        "B02",
        "2015-001",
    )
    assert (item.position, item.keeper, item.filed_by) == ("1", clerk, clerk)
    assert item.paper_received_at is not None
    assert [e.action for e in item.events.order_by("id")] == ["filed", "placed"]
    # and the survey row is handed over: no longer pending
    rows["township"].refresh_from_db()
    assert rows["township"].handed_over_at is not None
    assert list(survey_pending(actor=clerk)) == [rows["unplaced"]]


def test_a_row_without_a_place_is_filed_under_the_source_county_in_this_year(world):
    source, _, _, rows = world
    clerk = source.staff(Role.COUNTY_CLERK)
    item = survey_receive(
        actor=clerk, survey_item=rows["unplaced"], room="一号库房", cabinet="B02", box="001", position="1"
    )
    # 历年 names no year: the year it is received
    assert (item.region_code, item.year) == ("320411000000", THIS_YEAR)
    assert item.archive_no == f"320411000-{THIS_YEAR}-15-000001"


def test_a_second_receipt_is_refused_and_changes_nothing(world):
    source, _, _, rows = world
    clerk = source.staff(Role.COUNTY_CLERK)
    place = dict(room="一号库房", cabinet="B02", box="001")
    first = survey_receive(actor=clerk, survey_item=rows["township"], position="1", **place)
    with pytest.raises(Conflict) as refused:
        survey_receive(actor=clerk, survey_item=rows["township"], position="2", **place)
    assert "已于" in refused.value.message and "不能重复接收" in refused.value.message
    assert list(ArchiveItem.objects.values_list("pk", "position")) == [(first.pk, "1")]


def test_another_citys_row_is_not_found_and_a_village_agent_may_not_receive(world):
    source, _, _, rows = world
    with pytest.raises(SurveyItemNotFound) as missing:
        survey_receive(
            actor=source.staff(Role.COUNTY_CLERK),
            survey_item=rows["other_city"],
            room="一号库房",
            cabinet="B02",
            box="001",
            position="1",
        )
    assert missing.value.status_code == 404
    # a township clerk of the source does not see the rows filed under the county either
    with pytest.raises(SurveyItemNotFound):
        survey_receive(
            actor=source.staff(Role.TOWNSHIP_CLERK),
            survey_item=rows["unplaced"],
            room="一号库房",
            cabinet="B02",
            box="001",
            position="1",
        )
    with pytest.raises(NotPermitted):
        survey_receive(
            actor=source.staff(Role.VILLAGE_AGENT),
            survey_item=rows["township"],
            room="一号库房",
            cabinet="B02",
            box="001",
            position="1",
        )
    assert not ArchiveItem.objects.exists()
    assert not ArchiveSurveyItem.objects.filter(handed_over_at__isnull=False).exists()


def test_a_refused_placing_leaves_the_row_pending_and_files_nothing(world):
    source, _, _, rows = world
    clerk = source.staff(Role.COUNTY_CLERK)
    taken = placed_item(source.county, actor=clerk, room="一号库房", cabinet="B02", box="001", position="1")
    with pytest.raises(Conflict, match="已存放档案"):
        survey_receive(
            actor=clerk, survey_item=rows["township"], room="一号库房", cabinet="B02", box="001", position="1"
        )
    with pytest.raises(DomainError, match="请填写档案盒号"):
        survey_receive(actor=clerk, survey_item=rows["township"], room="一号库房", cabinet="B02", box=" ", position="2")
    assert list(ArchiveItem.objects.values_list("pk", flat=True)) == [taken.pk]
    rows["township"].refresh_from_db()
    assert rows["township"].handed_over_at is None
    assert rows["township"] in survey_pending(actor=clerk)
