"""Where a paper is kept: room, cabinet, box and position in the keeping agency's archive room. A position holds
one paper; the first placing receives the paper and makes its keeper responsible; moving frees the old place."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from agencies.errors import Conflict, DomainError, NotPermitted
from agencies.models import Role
from agencies.tests.factories import region_line
from archives import lending
from archives.forms import PlaceForm
from archives.models import ArchiveEvent, ArchiveItem, ArchiveKind, ArchiveLocation, LoanKind
from archives.services import item_create, paper_place

pytestmark = pytest.mark.django_db


@pytest.fixture
def line():
    return region_line()


@pytest.fixture
def clerk(line):
    return line.staff(Role.TOWNSHIP_CLERK)


def filed(line, clerk, title: str = "参保登记表") -> ArchiveItem:
    return item_create(
        actor=clerk, kind=ArchiveKind.objects.get(code="registration"), region=line.village, year=2015, title=title
    )


def place(actor, item, position: str = "1", box: str = "2015-001", **extra) -> ArchiveItem:
    return paper_place(actor=actor, item=item, room="一号库房", cabinet="A01", box=box, position=position, **extra)


def test_the_first_placing_receives_the_paper_into_the_actors_room(line, clerk):
    item = filed(line, clerk)
    before = timezone.now()

    placed = place(clerk, item, position=" 7 ")

    placed.refresh_from_db()
    location = placed.location
    # The township's 社保所 keeps it: the room is the actor's agency's, not the village's.
    assert (location.region_code, location.room, location.cabinet, location.box) == (
        "320412101000",
        "一号库房",
        "A01",
        "2015-001",
    )
    assert placed.position == "7"
    assert placed.keeper == clerk
    assert placed.paper_received_at >= before
    assert placed.has_paper
    assert ArchiveEvent.objects.filter(item=item, action="placed").get().note == "一号库房 A01柜 2015-001盒 第7号"


def test_a_named_keeper_of_the_township_takes_custody(line, clerk):
    colleague = line.staff(Role.TOWNSHIP_CLERK, username="clerk2")

    placed = place(clerk, filed(line, clerk), keeper=colleague)

    assert placed.keeper == colleague


def test_a_keeper_outside_the_actors_scope_is_refused(line, clerk):
    stranger = region_line(township="102").staff(Role.TOWNSHIP_CLERK)
    item = filed(line, clerk)

    with pytest.raises(DomainError) as refused:
        place(clerk, item, keeper=stranger)

    assert refused.value.field == "keeper"
    item.refresh_from_db()
    assert (item.location, item.keeper) == (None, None)


def test_an_occupied_position_is_refused_naming_the_paper_there(line, clerk):
    first = place(clerk, filed(line, clerk, "甲"))
    second = filed(line, clerk, "乙")

    with pytest.raises(Conflict) as refused:
        place(clerk, second, position="1")

    assert refused.value.code == "position_taken"
    assert first.archive_no in refused.value.message
    assert refused.value.message == (
        f"一号库房 A01柜 2015-001盒 第1号位置已存放档案 {first.archive_no}，请换一个位置。"
    )
    second.refresh_from_db()
    assert (second.location, second.position, second.keeper, second.paper_received_at) == (None, "", None, None)
    assert not ArchiveEvent.objects.filter(item=second, action="placed").exists()


def test_the_same_position_in_another_box_is_free(line, clerk):
    place(clerk, filed(line, clerk, "甲"), position="1", box="2015-001")

    other = place(clerk, filed(line, clerk, "乙"), position="1", box="2015-002")

    assert other.position == "1"
    assert ArchiveLocation.objects.count() == 2


def test_the_same_labels_in_another_agencys_room_are_another_place(line, clerk):
    place(clerk, filed(line, clerk, "甲"))
    county_clerk = line.staff(Role.COUNTY_CLERK)

    at_county = place(county_clerk, filed(line, clerk, "乙"))

    assert at_county.location.region_code == "320412000000"
    assert ArchiveLocation.objects.count() == 2


def test_moving_frees_the_old_position_and_keeps_the_keeper(line, clerk):
    colleague = line.staff(Role.TOWNSHIP_CLERK, username="clerk2")
    first = place(clerk, filed(line, clerk, "甲"), position="1", keeper=colleague)
    received = first.paper_received_at

    moved = place(clerk, first, position="2")
    second = place(clerk, filed(line, clerk, "乙"), position="1")

    moved.refresh_from_db()
    assert (moved.position, moved.keeper, moved.paper_received_at) == ("2", colleague, received)
    assert second.position == "1"
    assert ArchiveEvent.objects.filter(item=first, action="placed").order_by("id").last().note == (
        "一号库房 A01柜 2015-001盒 第2号（原 一号库房 A01柜 2015-001盒 第1号）"
    )


def test_placing_again_in_its_own_position_is_no_conflict(line, clerk):
    item = place(clerk, filed(line, clerk))

    again = place(clerk, item)

    assert (again.location_id, again.position) == (item.location_id, "1")


def test_the_keeper_of_a_received_paper_changes_only_by_hand_over(line, clerk):
    colleague = line.staff(Role.TOWNSHIP_CLERK, username="clerk2")
    item = place(clerk, filed(line, clerk))

    with pytest.raises(DomainError) as refused:
        place(clerk, item, position="2", keeper=colleague)

    assert refused.value.code == "keeper_by_handover"
    item.refresh_from_db()
    assert (item.position, item.keeper) == ("1", clerk)


def test_a_destroyed_paper_frees_its_position_and_is_not_placed(line, clerk):
    gone = place(clerk, filed(line, clerk, "甲"))
    ArchiveItem.objects.filter(pk=gone.pk).update(destroyed_at=timezone.now())  # as the destruction decision leaves it

    taken = place(clerk, filed(line, clerk, "乙"), position="1")
    with pytest.raises(Conflict) as refused:
        place(clerk, gone, position="3")

    assert taken.position == "1"
    assert refused.value.code == "destroyed"


@pytest.mark.parametrize("role", [Role.VILLAGE_AGENT, Role.COUNTY_APPROVER])
def test_only_clerks_place_papers(line, clerk, role):
    item = filed(line, clerk)

    with pytest.raises(NotPermitted):
        place(line.staff(role), item)

    assert not ArchiveLocation.objects.exists()


def test_a_paper_of_another_township_is_not_placed(line, clerk):
    stranger = region_line(township="102").staff(Role.TOWNSHIP_CLERK)

    with pytest.raises(DomainError) as refused:
        place(stranger, filed(line, clerk))

    assert refused.value.code == "out_of_scope"
    assert not ArchiveLocation.objects.exists()


@pytest.mark.parametrize(
    ("labels", "field", "message"),
    [
        ({"room": " "}, "room", "请填写档案室。"),
        ({"cabinet": ""}, "cabinet", "请填写档案柜号。"),
        ({"box": "  "}, "box", "请填写档案盒号。"),
        ({"position": ""}, "position", "请填写盒内序号。"),
        ({"room": "库" * 41}, "room", "档案室最多40个字。"),
    ],
)
def test_each_label_is_required_and_short(line, clerk, labels, field, message):
    values = {"room": "一号库房", "cabinet": "A01", "box": "2015-001", "position": "1", **labels}

    with pytest.raises(DomainError) as refused:
        paper_place(actor=clerk, item=filed(line, clerk), **values)

    assert (refused.value.field, refused.value.message) == (field, message)
    assert not ArchiveLocation.objects.exists()


def test_a_position_longer_than_its_column_is_refused_and_nothing_written(line, clerk):
    item = filed(line, clerk)
    position = "2015-001-" + "7" * 16  # 25 characters; the column holds 20

    with pytest.raises(DomainError) as refused:
        place(clerk, item, position=position)

    assert (refused.value.field, refused.value.code, refused.value.message) == (
        "position",
        "too_long",
        "盒内序号最多20个字。",
    )
    item.refresh_from_db()
    assert (item.location, item.position, item.keeper, item.paper_received_at) == (None, "", None, None)
    assert not ArchiveLocation.objects.exists()
    assert not ArchiveEvent.objects.filter(action="placed").exists()
    # the page's form says the same before the service is asked
    form = PlaceForm({"room": "一号库房", "cabinet": "A01", "box": "2015-001", "position": position})
    assert form.errors == {"position": ["盒内序号最多20个字。"]}
    assert PlaceForm({"room": "一号库房", "cabinet": "A01", "box": "2015-001", "position": "7" * 20}).is_valid()


def test_a_paper_out_on_loan_is_not_moved_until_it_is_back(line, clerk):
    item = place(clerk, filed(line, clerk), position="1")
    lending.loan_open(
        actor=clerk,
        item=item,
        kind=LoanKind.BORROW,
        borrower="审计员",
        purpose="专项审计",
        due_on=timezone.localdate() + dt.timedelta(days=5),
    )

    with pytest.raises(Conflict) as refused:
        place(clerk, item, position="2")

    assert refused.value.code == "on_loan"
    assert "借出在外，归还后才能移动" in refused.value.message
    item.refresh_from_db()
    assert item.position == "1"
    assert ArchiveEvent.objects.filter(item=item, action="placed").count() == 1

    lending.loan_return(actor=clerk, item=item)
    assert place(clerk, item, position="2").position == "2"


def test_only_the_keeper_or_the_rooms_staff_move_a_paper(line, clerk):
    county_clerk = line.staff(Role.COUNTY_CLERK)
    colleague = line.staff(Role.TOWNSHIP_CLERK, username="clerk2")
    # two papers in the county's room: one kept by the county's clerk, one by the township's clerk
    county_kept = place(county_clerk, filed(line, clerk, "甲"), position="1")
    township_kept = place(county_clerk, filed(line, clerk, "乙"), position="2", keeper=clerk)
    assert county_kept.location.region_code == "320412000000"

    # a township clerk who neither keeps it nor holds the county's room cannot move it, though the paper is theirs
    for actor in (clerk, colleague):
        with pytest.raises(DomainError) as refused:
            place(actor, county_kept, position="9")
        assert refused.value.code == "not_keeper"
    county_kept.refresh_from_db()
    assert (county_kept.location.region_code, county_kept.position) == ("320412000000", "1")

    # its keeper moves it (into the keeper's own room), and the county's clerk moves what is in the county's room
    moved = place(clerk, township_kept, position="3")
    assert (moved.location.region_code, moved.position, moved.keeper) == ("320412101000", "3", clerk)
    assert place(county_clerk, county_kept, position="4").position == "4"
    # and the county's clerk, whose jurisdiction holds the township's room, may move it on from there
    assert place(county_clerk, moved, position="5").location.region_code == "320412000000"
