"""Filing older records: rows made with filing switched off (bulk-loaded like the demo's register) are filed once, in
pk order, numbered on after what the counters hold; a second run files nothing, and a run stopped half way resumes."""

from __future__ import annotations

import datetime as dt
import io
import threading
from zoneinfo import ZoneInfo

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.management import CommandError, call_command
from django.db import connection

from agencies import records
from agencies.errors import DomainError
from agencies.models import Role
from agencies.records import Kind, Record, Source
from agencies.tests.factories import RegionFactory, region_line
from archives.backfill import backfill, enclosing_region_code
from archives.models import ArchiveEvent, ArchiveItem, ArchiveKind, ArchiveNumberCounter
from archives.services import item_create, record_file
from enrollment.models import Application, ApplicationKind, ApplicationStatus
from enrollment.tests.factories import make_person

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def line():
    return region_line()


@pytest.fixture
def clerk(line):
    return line.staff(Role.TOWNSHIP_CLERK)


def bulk_registrations(line, clerk, count: int, *, on: dt.date = dt.date(2015, 6, 1)) -> list[Application]:
    """``count`` registrations written in bulk, as the demo loads its register: nothing is filed."""
    persons = [make_person(line.village, name=f"参保人{n}") for n in range(count)]
    Application.objects.bulk_create(
        [
            Application(
                kind=ApplicationKind.REGISTER,
                person=person,
                region_code=person.region_code,
                status=ApplicationStatus.APPROVED,
                created_by=clerk,
            )
            for person in persons
        ]
    )
    made = Application.objects.filter(person__in=persons).order_by("pk")
    made.update(created_at=dt.datetime.combine(on, dt.time(9), tzinfo=SHANGHAI))
    return list(made)


def simple_record(application: Application) -> Record:
    made_on = application.created_at.astimezone(SHANGHAI).date()
    return Record(
        kind=Kind.REGISTRATION,
        source=application,
        region_code=application.region_code,
        year=made_on.year,
        title=f"参保登记表 {application.person.name}",
        person_id=application.person_id,
        fields={"编号": application.pk},
        filed_by_id=application.created_by_id,
        filed_on=made_on,
    )


def registrations() -> Source:
    return Source(
        kind=Kind.REGISTRATION,
        queryset=lambda: Application.objects.filter(kind=ApplicationKind.REGISTER).select_related("person"),
        build=simple_record,
    )


@pytest.fixture
def only(monkeypatch):
    """Let the backfill see only the given sources (the apps' own are tested with them below)."""

    def install(*sources: Source) -> None:
        monkeypatch.setattr(records, "_sources", {source.kind: source for source in sources})

    return install


def numbers() -> list[str]:
    return list(ArchiveItem.objects.order_by("archive_no").values_list("archive_no", flat=True))


def number_of(application: Application) -> str:
    return ArchiveItem.objects.get(source_id=application.pk).archive_no


# --- with the apps' own sources -------------------------------------------------------------------------------


def test_registrations_loaded_in_bulk_are_filed_once_with_the_apps_source(line, clerk):
    applications = bulk_registrations(line, clerk, 3)
    assert not ArchiveItem.objects.exists()

    counts = backfill(kinds=["registration"])

    assert counts == {"registration": 3}
    items = list(ArchiveItem.objects.order_by("archive_no"))
    assert [item.source for item in items] == applications
    assert [item.archive_no for item in items] == [
        "320412101-2015-01-000001",
        "320412101-2015-01-000002",
        "320412101-2015-01-000003",
    ]
    first = items[0]
    assert (first.kind.code, first.region_code, first.year, first.person) == (
        "registration",
        "320412101201",
        2015,
        applications[0].person,
    )
    assert first.title.startswith("参保登记表 参保人0 ")
    assert first.filed_at == dt.datetime(2015, 6, 1, 12, tzinfo=SHANGHAI)
    assert first.filed_by == clerk
    assert first.retain_until is None
    assert applications[0].person.id_number in first.search_text
    assert ArchiveNumberCounter.objects.get(prefix="320412101-2015-01").last == 3

    assert backfill(kinds=["registration"]) == {"registration": 0}
    assert ArchiveItem.objects.count() == 3


def test_every_registered_source_is_backfilled_when_none_is_named(line, clerk):
    bulk_registrations(line, clerk, 2)

    counts = backfill()

    assert set(counts) == {source.kind for source in records.sources()}
    assert counts["registration"] == 2
    assert sum(counts.values()) == ArchiveItem.objects.count()
    assert set(backfill().values()) == {0}


# --- numbering, chunks, resuming -------------------------------------------------------------------------------


def test_numbers_continue_the_counters_a_clerk_left(line, clerk, only):
    only(registrations())
    # A clerk filed two registration papers of 2015 by hand before the backfill ran.
    for title in ("补录的登记表一", "补录的登记表二"):
        item_create(
            actor=clerk,
            kind=ArchiveKind.objects.get(code="registration"),
            region=line.village,
            year=2015,
            title=title,
        )
    bulk_registrations(line, clerk, 2)

    backfill()

    assert numbers() == [
        "320412101-2015-01-000001",
        "320412101-2015-01-000002",
        "320412101-2015-01-000003",
        "320412101-2015-01-000004",
    ]
    assert ArchiveNumberCounter.objects.get(prefix="320412101-2015-01").last == 4
    # And the clerk's next paper follows the backfill's.
    after = item_create(
        actor=clerk, kind=ArchiveKind.objects.get(code="registration"), region=line.village, year=2015, title="又一份"
    )
    assert after.archive_no == "320412101-2015-01-000005"


def test_each_township_and_year_has_its_own_sequence(line, clerk, only):
    only(registrations())
    other = region_line(township="102")
    other_clerk = other.staff(Role.TOWNSHIP_CLERK)
    a = bulk_registrations(line, clerk, 2, on=dt.date(2015, 6, 1))
    b = bulk_registrations(other, other_clerk, 1, on=dt.date(2015, 6, 1))
    c = bulk_registrations(line, clerk, 1, on=dt.date(2016, 1, 4))
    d = bulk_registrations(line, clerk, 1, on=dt.date(2015, 12, 31))

    backfill(chunk=2)

    by_source = dict(ArchiveItem.objects.values_list("source_id", "archive_no"))
    assert [by_source[app.pk] for app in (*a, *b, *c, *d)] == [
        "320412101-2015-01-000001",
        "320412101-2015-01-000002",
        "320412102-2015-01-000001",
        "320412101-2016-01-000001",
        "320412101-2015-01-000003",
    ]


def test_chunks_report_progress_and_leave_one_event_each(line, clerk, only):
    only(registrations())
    bulk_registrations(line, clerk, 5)
    seen: list[tuple[str, int, int]] = []

    counts = backfill(chunk=2, progress=lambda kind, done, total: seen.append((kind, done, total)))

    assert counts == {"registration": 5}
    assert seen == [("registration", 2, 5), ("registration", 4, 5), ("registration", 5, 5)]
    events = list(ArchiveEvent.objects.filter(action="backfill").order_by("id"))
    assert [(e.item_id, e.region_code, e.actor_id) for e in events] == [(None, "320412101201", None)] * 3
    assert [e.note for e in events] == [
        "补录归档：参保登记表 2 件（320412101-2015-01-000001 等）",
        "补录归档：参保登记表 2 件（320412101-2015-01-000003 等）",
        "补录归档：参保登记表 1 件（320412101-2015-01-000005 等）",
    ]
    # The items themselves are filed quietly: one event per chunk, not one per item.
    assert not ArchiveEvent.objects.filter(action="filed").exists()


def test_the_command_files_500_records_a_chunk_unless_told(line, clerk, only):
    # 501 registrations of one person (approved ones may repeat), written in bulk: nothing filed
    only(registrations())
    person = make_person(line.village, name="多次登记")
    Application.objects.bulk_create(
        Application(
            kind=ApplicationKind.REGISTER,
            person=person,
            region_code=person.region_code,
            status=ApplicationStatus.APPROVED,
            created_by=clerk,
        )
        for _ in range(501)
    )
    out = io.StringIO()

    call_command("archives", "backfill", stdout=out)

    # two chunks, two transactions: 500 and 1
    assert "参保登记表：500/501" in out.getvalue() and "参保登记表：501/501" in out.getvalue()
    notes = list(ArchiveEvent.objects.filter(action="backfill").order_by("id").values_list("note", flat=True))
    assert [note.split(" 件")[0] for note in notes] == ["补录归档：参保登记表 500", "补录归档：参保登记表 1"]
    assert ArchiveItem.objects.count() == 501


def test_a_run_stopped_half_way_resumes_where_it_stopped(line, clerk, only):
    applications = bulk_registrations(line, clerk, 5)
    broken = applications[2].pk

    def fails_on_the_third(application: Application) -> Record:
        if application.pk == broken:
            raise RuntimeError("stopped")
        return simple_record(application)

    only(Source(kind=Kind.REGISTRATION, queryset=registrations().queryset, build=fails_on_the_third))
    with pytest.raises(RuntimeError):
        backfill(chunk=2)

    # The first chunk stays filed; the second rolled back whole, its numbers with it.
    assert numbers() == ["320412101-2015-01-000001", "320412101-2015-01-000002"]
    assert ArchiveNumberCounter.objects.get(prefix="320412101-2015-01").last == 2

    only(registrations())
    assert backfill(chunk=2) == {"registration": 3}
    assert numbers() == [f"320412101-2015-01-00000{n}" for n in range(1, 6)]
    assert list(ArchiveItem.objects.order_by("archive_no").values_list("source_id", flat=True)) == [
        app.pk for app in applications
    ]


def test_records_filed_already_are_left_alone(line, clerk, only):
    only(registrations())
    applications = bulk_registrations(line, clerk, 3)
    live = record_file(simple_record(applications[1]))

    assert backfill() == {"registration": 2}

    assert ArchiveItem.objects.get(source_id=applications[1].pk) == live
    assert [number_of(app) for app in applications] == [
        "320412101-2015-01-000002",
        "320412101-2015-01-000001",
        "320412101-2015-01-000003",
    ]


def test_a_record_filed_while_its_chunk_is_built_takes_no_second_number(line, clerk, only):
    # A clerk's retry files the last record of the chunk while the backfill is building it: the backfill finds it
    # filed once it holds the counter, leaves it out and numbers on after it.
    applications = bulk_registrations(line, clerk, 3)

    def meanwhile(application: Application) -> Record:
        if application.pk == applications[0].pk:
            record_file(simple_record(applications[2]))
        return simple_record(application)

    only(Source(kind=Kind.REGISTRATION, queryset=registrations().queryset, build=meanwhile))

    assert backfill() == {"registration": 2}
    assert [number_of(app) for app in applications] == [
        "320412101-2015-01-000002",
        "320412101-2015-01-000003",
        "320412101-2015-01-000001",
    ]
    assert ArchiveItem.objects.count() == 3


def test_only_the_sources_records_are_filed(line, clerk, only):
    only(
        Source(
            kind=Kind.REGISTRATION,
            queryset=lambda: Application.objects.filter(kind=ApplicationKind.REGISTER, status="approved"),
            build=simple_record,
        )
    )
    approved, returned = bulk_registrations(line, clerk, 2)
    Application.objects.filter(pk=returned.pk).update(status=ApplicationStatus.RETURNED)

    assert backfill() == {"registration": 1}
    assert list(ArchiveItem.objects.values_list("source_id", flat=True)) == [approved.pk]
    assert ArchiveItem.objects.get().source_type == ContentType.objects.get_for_model(Application)


def test_a_source_that_builds_another_record_is_refused(line, clerk, only):
    first, second = bulk_registrations(line, clerk, 2)
    only(Source(kind=Kind.REGISTRATION, queryset=registrations().queryset, build=lambda app: simple_record(first)))

    with pytest.raises(RuntimeError):
        backfill()

    assert not ArchiveItem.objects.exists()


def test_an_unknown_kind_is_refused_naming_the_kinds_there_are(only):
    only(registrations())

    with pytest.raises(DomainError) as refused:
        backfill(kinds=["annual_report"])

    assert refused.value.message == "没有可补录的档案类别：annual_report。可补录的类别：registration。"


def test_nothing_to_file_files_nothing(only):
    only(registrations())

    assert backfill() == {"registration": 0}
    assert not ArchiveEvent.objects.exists()


@pytest.mark.parametrize(
    ("codes", "enclosing"),
    [
        (["320412101201"], "320412101201"),
        (["320412101201", "320412101202"], "320412101000"),
        (["320412101201", "320412102201"], "320412000000"),
        (["320412101201", "320411101201"], "320400000000"),
        (["320412101201", "320412000000"], "320412000000"),
        (["320412101201", "110101001001"], ""),
        ([], ""),
    ],
)
def test_a_chunks_event_is_filed_under_the_smallest_region_holding_it(codes, enclosing):
    assert enclosing_region_code(codes) == enclosing


def test_a_chunk_of_two_villages_is_logged_under_their_township(line, clerk, only):
    only(registrations())
    neighbour = RegionFactory(code="320412101202", name="邻村", level="village", parent=line.township)
    bulk_registrations(line, clerk, 1)
    Application.objects.create(
        kind=ApplicationKind.REGISTER,
        person=(person := make_person(neighbour)),
        region_code=person.region_code,
        status=ApplicationStatus.APPROVED,
        created_by=clerk,
    )

    backfill()

    assert ArchiveEvent.objects.get(action="backfill").region_code == "320412101000"


# --- the command ---------------------------------------------------------------------------------------------


def test_the_command_prints_progress_and_counts(line, clerk, only):
    only(registrations())
    bulk_registrations(line, clerk, 3)
    out = io.StringIO()

    call_command("archives", "backfill", "--kind", "registration", "--chunk", "2", stdout=out)

    text = out.getvalue()
    assert "参保登记表：2/3" in text and "参保登记表：3/3" in text
    assert "参保登记表（registration）：补录 3 件" in text
    assert "补录归档完成：共 3 件" in text
    again = io.StringIO()
    call_command("archives", "backfill", stdout=again)
    assert "没有需要补录的记录，均已归档。" in again.getvalue()


def test_the_command_refuses_an_unknown_kind_in_chinese(only):
    only(registrations())

    with pytest.raises(CommandError, match="没有可补录的档案类别：nothing"):
        call_command("archives", "backfill", "--kind", "nothing", stdout=io.StringIO())


def test_the_command_lists_the_kinds_with_their_retention(line, clerk, only):
    only(registrations())
    bulk_registrations(line, clerk, 1)
    backfill()
    out = io.StringIO()

    call_command("archives", "kinds", stdout=out)

    rows = {line.split()[0]: line.split() for line in out.getvalue().splitlines()[1:]}
    assert rows["registration"] == ["registration", "01", "永久", "1", "是", "参保登记表"]
    assert rows["monthly_report"] == ["monthly_report", "14", "10年", "0", "否", "月度、季度报表"]
    assert rows["payout_roll"][2] == "30年"
    assert rows["back_payment"][2] == "100年"


# --- two runs at once ----------------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_file_each_record_once_with_consecutive_numbers(only):
    line = region_line()
    clerk = line.staff(Role.TOWNSHIP_CLERK)
    only(registrations())
    applications = bulk_registrations(line, clerk, 12)
    start = threading.Barrier(2)
    counts: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            start.wait(10)
            counts.append(backfill(chunk=3)["registration"])
        except BaseException as error:  # reported below, not lost in the thread
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    assert sum(counts) == 12
    assert sorted(number_of(app) for app in applications) == [f"320412101-2015-01-{n:06d}" for n in range(1, 13)]
    assert ArchiveNumberCounter.objects.get(prefix="320412101-2015-01").last == 12
