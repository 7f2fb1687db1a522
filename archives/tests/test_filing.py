"""Filing: a source app's record becomes one archive item, whatever the retries; a clerk files papers the portal
did not make; archive numbers run on per township, year and class; retention ends on 31 December of the last year."""

from __future__ import annotations

import datetime as dt
import threading
import time
from zoneinfo import ZoneInfo

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction

from agencies.errors import DomainError, NotPermitted
from agencies.models import Role
from agencies.records import Record, file_record
from agencies.tests.factories import RegionFactory, region_line
from archives.models import ArchiveEvent, ArchiveItem, ArchiveKind, ArchiveNumberCounter
from archives.services import item_create, record_file, retain_until
from enrollment.models import Application, ApplicationKind, ApplicationStatus
from enrollment.tests.factories import make_person

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")


def kind(code: str) -> ArchiveKind:
    return ArchiveKind.objects.get(code=code)


@pytest.fixture
def line():
    return region_line()


@pytest.fixture
def clerk(line):
    return line.staff(Role.TOWNSHIP_CLERK)


def registration(person, clerk) -> Application:
    # Made straight in the table: filing is what is under test, not the enrollment service.
    return Application.objects.create(
        kind=ApplicationKind.REGISTER,
        person=person,
        region_code=person.region_code,
        status=ApplicationStatus.APPROVED,
        created_by=clerk,
    )


def registration_record(application: Application, **overrides) -> Record:
    person = application.person
    values = {
        "kind": "registration",
        "source": application,
        "region_code": application.region_code,
        "year": 2024,
        "title": f"参保登记表 {person.name}",
        "person_id": person.pk,
        "fields": {"联系电话": "13912345678", "家庭人口": 4, "备注": None},
        "filed_by_id": application.created_by_id,
        "filed_on": dt.date(2024, 3, 15),
    }
    return Record(**{**values, **overrides})


# --- record_file ---------------------------------------------------------------------------------------------


def test_a_record_is_filed_with_its_number_source_person_and_fields(line, clerk):
    person = make_person(line.village, name="王秀英")
    application = registration(person, clerk)

    item = record_file(registration_record(application))

    item.refresh_from_db()
    assert item.archive_no == "320412101-2024-01-000001"
    assert (item.kind.code, item.region_code, item.year, item.title) == (
        "registration",
        "320412101201",
        2024,
        "参保登记表 王秀英",
    )
    assert item.person == person
    assert item.source == application
    assert item.source_type == ContentType.objects.get_for_model(Application)
    # Values are kept as text: a number as written, nothing as empty.
    assert item.fields == {"联系电话": "13912345678", "家庭人口": "4", "备注": ""}
    assert item.search_text == (
        f"参保登记表 王秀英 王秀英 {person.id_number} {person.insurance_number} 联系电话 13912345678 家庭人口 4"
    )
    assert item.filed_by == clerk
    # Filed on the day the source says, at noon in Shanghai.
    assert item.filed_at == dt.datetime(2024, 3, 15, 12, tzinfo=SHANGHAI)
    assert item.retain_until is None  # a registration form is kept permanently
    assert (item.location, item.keeper, item.paper_received_at) == (None, None, None)
    assert list(ArchiveEvent.objects.filter(item=item).values_list("action", "note")) == [
        ("filed", "参保登记表 王秀英")
    ]


def test_filing_the_same_record_again_returns_the_item_filed_unchanged(line, clerk):
    application = registration(make_person(line.village), clerk)
    first = record_file(registration_record(application))

    again = record_file(registration_record(application))

    assert again.pk == first.pk
    again.refresh_from_db()
    assert (again.title, again.fields, again.search_text) == (first.title, first.fields, first.search_text)
    assert ArchiveItem.objects.count() == 1
    # No number was taken for the retry, and nothing was logged for it.
    assert ArchiveNumberCounter.objects.get(prefix="320412101-2024-01").last == 1
    assert list(ArchiveEvent.objects.filter(item=first).values_list("action", flat=True)) == ["filed"]


def test_a_record_whose_content_changed_refiles_its_item_once(line, clerk):
    person = make_person(line.village, name="王秀英")
    application = registration(person, clerk)
    first = record_file(registration_record(application))

    # given the form corrected after filing: a new telephone number, the household no longer given
    corrected = registration_record(application, fields={"联系电话": "13800000001", "家庭人口": None, "备注": "补正"})
    again = record_file(corrected)

    # then the same item, number and filing, carries the corrected form, searchable by it
    assert again.pk == first.pk
    again.refresh_from_db()
    assert again.archive_no == first.archive_no == "320412101-2024-01-000001"
    assert again.fields == {"联系电话": "13800000001", "家庭人口": "", "备注": "补正"}
    assert again.search_text == (
        f"参保登记表 王秀英 王秀英 {person.id_number} {person.insurance_number} 联系电话 13800000001 备注 补正"
    )
    assert ArchiveItem.objects.filter(search_text__contains="13912345678").count() == 0
    # and one event names what changed
    assert list(ArchiveEvent.objects.filter(item=first).order_by("id").values_list("action", "note")) == [
        ("filed", "参保登记表 王秀英"),
        ("refiled", "来源记录内容已更改，档案内容随之更新：联系电话、家庭人口、备注"),
    ]

    # a retry of the corrected form changes nothing more
    record_file(corrected)
    assert ArchiveEvent.objects.filter(item=first, action="refiled").count() == 1
    assert ArchiveNumberCounter.objects.get(prefix="320412101-2024-01").last == 1


def test_a_changed_title_is_refiled_and_a_destroyed_item_is_left_as_it_was(line, clerk):
    application = registration(make_person(line.village, name="王秀英"), clerk)
    item = record_file(registration_record(application))

    record_file(registration_record(application, title="参保登记表 王秀英（补正）"))
    item.refresh_from_db()
    assert item.title == "参保登记表 王秀英（补正）"
    assert ArchiveEvent.objects.get(item=item, action="refiled").note == "来源记录内容已更改，档案内容随之更新：题名"

    ArchiveItem.objects.filter(pk=item.pk).update(destroyed_at=dt.datetime(2026, 1, 5, tzinfo=SHANGHAI))
    record_file(registration_record(application, title="销毁后的题名"))
    item.refresh_from_db()
    assert item.title == "参保登记表 王秀英（补正）"
    assert ArchiveEvent.objects.filter(item=item, action="refiled").count() == 1


def test_one_source_may_be_filed_under_two_kinds(line, clerk):
    application = registration(make_person(line.village), clerk)

    registered = record_file(registration_record(application))
    changed = record_file(registration_record(application, kind="change", title="变更登记表"))

    assert registered.pk != changed.pk
    assert changed.archive_no == "320412101-2024-02-000001"


def test_file_record_reaches_the_archives(line, clerk):
    application = registration(make_person(line.village), clerk)

    item = file_record(registration_record(application))

    assert ArchiveItem.objects.get(source_id=application.pk) == item


def test_a_record_without_a_date_is_filed_now(line, clerk):
    application = registration(make_person(line.village), clerk)
    before = dt.datetime.now(dt.UTC)

    item = record_file(registration_record(application, filed_on=None, filed_by_id=None, person_id=None))

    assert item.filed_at >= before
    assert (item.filed_by, item.person) == (None, None)


def test_an_unknown_kind_is_a_programming_error(line, clerk):
    application = registration(make_person(line.village), clerk)

    with pytest.raises(RuntimeError):
        record_file(registration_record(application, kind="no_such_kind"))


# --- numbering -----------------------------------------------------------------------------------------------


def test_numbers_run_on_per_township_year_and_class(line, clerk):
    other_village = RegionFactory(code="320412101202", name="另一村", level="village", parent=line.township)
    other_township = region_line(township="102")
    county_clerk = line.staff(Role.COUNTY_CLERK)
    annual = kind("annual_report")

    def filed(region, year=2024, of=annual):
        return item_create(actor=county_clerk, kind=of, region=region, year=year, title="年报").archive_no

    assert [filed(line.village), filed(line.village), filed(other_village), filed(line.township)] == [
        "320412101-2024-13-000001",
        "320412101-2024-13-000002",
        # Villages and the township itself share the township's sequence.
        "320412101-2024-13-000003",
        "320412101-2024-13-000004",
    ]
    assert filed(other_township.village) == "320412102-2024-13-000001"
    assert filed(line.village, year=2023) == "320412101-2023-13-000001"
    assert filed(line.village, of=kind("monthly_report")) == "320412101-2024-14-000001"
    # A county's own papers carry the county code and 000.
    assert filed(line.county) == "320412000-2024-13-000001"
    assert filed(line.village) == "320412101-2024-13-000005"
    assert dict(ArchiveNumberCounter.objects.values_list("prefix", "last")) == {
        "320412101-2024-13": 5,
        "320412102-2024-13": 1,
        "320412101-2023-13": 1,
        "320412101-2024-14": 1,
        "320412000-2024-13": 1,
    }


def test_numbers_continue_after_the_counter(line, clerk):
    ArchiveNumberCounter.objects.create(prefix="320412101-2024-13", last=41)

    item = item_create(actor=clerk, kind=kind("annual_report"), region=line.village, year=2024, title="年报")

    assert item.archive_no == "320412101-2024-13-000042"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("counter_exists", [False, True], ids=["first-of-the-year", "counter-in-use"])
def test_two_clerks_filing_at_once_get_consecutive_distinct_numbers(counter_exists):
    line = region_line()
    first_clerk = line.staff(Role.TOWNSHIP_CLERK)
    second_clerk = line.staff(Role.TOWNSHIP_CLERK, username="clerk2")
    annual = kind("annual_report")
    if counter_exists:
        # the township's 2024 annual reports are numbered up to 7 already
        ArchiveNumberCounter.objects.create(prefix="320412101-2024-13", last=7)
    start = 8 if counter_exists else 1
    numbered = threading.Event()
    numbers: dict[str, str] = {}
    errors: list[BaseException] = []

    def file_as(clerk, title: str, *, hold: bool) -> None:
        try:
            with transaction.atomic():
                numbers[title] = item_create(
                    actor=clerk, kind=annual, region=line.village, year=2024, title=title
                ).archive_no
                if hold:
                    # The first clerk has a number and keeps the transaction open until the second clerk waits.
                    numbered.set()
                    _wait_until_a_session_waits_for_a_lock()
        except BaseException as error:  # reported below, not lost in the thread
            errors.append(error)
            numbered.set()
        finally:
            connection.close()

    def second() -> None:
        numbered.wait(10)
        file_as(second_clerk, "乙的年报", hold=False)

    threads = [
        threading.Thread(target=file_as, args=(first_clerk, "甲的年报"), kwargs={"hold": True}),
        threading.Thread(target=second),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert errors == []
    # the second clerk waited for the first and took the next number: consecutive, never the same
    assert numbers == {
        "甲的年报": f"320412101-2024-13-{start:06d}",
        "乙的年报": f"320412101-2024-13-{start + 1:06d}",
    }
    assert ArchiveNumberCounter.objects.get(prefix="320412101-2024-13").last == start + 1
    assert ArchiveItem.objects.filter(year=2024).count() == 2


def _wait_until_a_session_waits_for_a_lock(seconds: float = 10) -> None:
    """Until another connection to this database is blocked on a lock (the counter row this one holds)."""
    deadline = time.monotonic() + seconds
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            # Inside a transaction the activity view is a snapshot taken once: clear it to see the present.
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.02)
    raise AssertionError("the second clerk never waited for the counter")


# --- retention -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "year", "until"),
    [
        ("registration", 2024, None),  # 永久
        ("annual_report", 2012, None),  # 永久
        ("back_payment", 2024, dt.date(2124, 12, 31)),  # 100 years after 2024
        ("payout_roll", 2024, dt.date(2054, 12, 31)),  # 30 years
        ("bank_receipt", 2010, dt.date(2040, 12, 31)),  # 30 years
        ("monthly_report", 2012, dt.date(2022, 12, 31)),  # 10 years: due for review since 2023
        ("monthly_report", 2026, dt.date(2036, 12, 31)),
    ],
)
def test_retention_ends_on_31_december_of_the_last_year(code, year, until):
    assert retain_until(kind(code), year) == until


def test_a_filed_item_carries_its_retention(line, clerk):
    item = item_create(actor=clerk, kind=kind("monthly_report"), region=line.township, year=2012, title="2012年3月月报")

    item.refresh_from_db()
    assert item.retain_until == dt.date(2022, 12, 31)


# --- item_create -----------------------------------------------------------------------------------------------


def test_a_clerk_files_a_paper_of_their_township(line, clerk):
    person = make_person(line.village, name="李建国")

    item = item_create(
        actor=clerk,
        kind=kind("contribution_roll"),
        region=line.village,
        year=2019,
        title="  2019年度个人缴费明细表  ",
        person=person,
        fields={"页数": 12},
    )

    item.refresh_from_db()
    assert (item.archive_no, item.title, item.region_code, item.year) == (
        "320412101-2019-05-000001",
        "2019年度个人缴费明细表",
        "320412101201",
        2019,
    )
    assert (item.filed_by, item.person, item.fields, item.source_id) == (clerk, person, {"页数": "12"}, None)
    assert item.retain_until == dt.date(2119, 12, 31)
    assert "李建国" in item.search_text and "页数 12" in item.search_text


@pytest.mark.parametrize("role", [Role.VILLAGE_AGENT, Role.COUNTY_APPROVER, Role.COUNTY_FUND_OFFICER])
def test_only_clerks_file_by_hand(line, role):
    with pytest.raises(NotPermitted):
        item_create(actor=line.staff(role), kind=kind("annual_report"), region=line.village, year=2020, title="年报")

    assert not ArchiveItem.objects.exists()


def test_a_clerk_files_nothing_for_another_township(line, clerk):
    other = region_line(township="102")

    with pytest.raises(DomainError) as refused:
        item_create(actor=clerk, kind=kind("annual_report"), region=other.village, year=2020, title="年报")

    assert (refused.value.code, refused.value.field) == ("out_of_scope", "region")
    assert not ArchiveItem.objects.exists()
    assert not ArchiveNumberCounter.objects.exists()


def test_a_county_clerk_files_for_the_county_but_not_the_city(line):
    county_clerk = line.staff(Role.COUNTY_CLERK)

    item_create(actor=county_clerk, kind=kind("annual_report"), region=line.county, year=2020, title="县年报")
    with pytest.raises(DomainError) as refused:
        item_create(actor=county_clerk, kind=kind("annual_report"), region=line.city, year=2020, title="市年报")

    assert refused.value.code == "out_of_scope"


def test_a_city_supervisor_is_not_a_keeper(line):
    with pytest.raises(NotPermitted):
        item_create(
            actor=line.staff(Role.CITY_SUPERVISOR),
            kind=kind("annual_report"),
            region=line.city,
            year=2020,
            title="年报",
        )


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"year": 1989}, "invalid", "year"),
        ({"year": dt.date.today().year + 1}, "invalid", "year"),
        ({"title": "   "}, "required", "title"),
    ],
)
def test_refusals_name_the_field(line, clerk, changes, code, field):
    values = {"kind": kind("annual_report"), "region": line.village, "year": 2020, "title": "年报", **changes}

    with pytest.raises(DomainError) as refused:
        item_create(actor=clerk, **values)

    assert (refused.value.code, refused.value.field) == (code, field)
    assert not ArchiveItem.objects.exists()


def test_the_person_must_live_in_the_region_filed_under(line, clerk):
    neighbour = RegionFactory(code="320412101202", name="邻村", level="village", parent=line.township)
    person = make_person(neighbour)

    with pytest.raises(DomainError) as refused:
        item_create(
            actor=clerk, kind=kind("back_payment"), region=line.village, year=2020, title="补缴申请", person=person
        )

    assert refused.value.field == "person"
    # Filed under the township, the neighbour's paper is in the region.
    item = item_create(
        actor=clerk, kind=kind("back_payment"), region=line.township, year=2020, title="补缴申请", person=person
    )
    assert item.person == person
