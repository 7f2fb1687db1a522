"""The export of a frozen source region as a merger package: every column by hand (see export_factories)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from decimal import Decimal

import pytest
from django.db import connection

from agencies.errors import Conflict, DomainError, NotPermitted
from agencies.models import Role
from agencies.tests.factories import region_line
from enrollment.models import InsuredPerson
from funds.models import IndividualAccount, LedgerEntry
from migration import layout
from migration.export import hukou_type, package_export
from migration.models import MergerEvent, MergerPackage, MergerStep, PackageOrigin, Step, StepState
from migration.tests.export_factories import freeze, source_world

pytestmark = pytest.mark.django_db


def read_package(package: MergerPackage) -> tuple[dict, dict[str, bytes]]:
    with package.file.open("rb") as handle, zipfile.ZipFile(handle) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
        compressions = {info.compress_type for info in archive.infolist()}
    assert compressions == {zipfile.ZIP_DEFLATED}
    return json.loads(members.pop(layout.MANIFEST).decode("utf-8")), members


def rows_of(data: bytes, encoding: str = "utf-8") -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode(encoding), newline="")))


@pytest.fixture
def world():
    world = source_world()
    freeze(world)
    return world


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("320411101001", "urban"),  # 社区居委会 001–199
        ("320411101099", "urban"),
        ("320411101199", "urban"),
        ("320411101200", "rural"),  # 村委会 200 and up
        ("320411101201", "rural"),
        ("320411101399", "rural"),
        ("320411101000", "rural"),  # not a place under the township
        ("3204111", "rural"),
    ],
)
def test_hukou_type_follows_the_village_part_of_the_code(code, expected):
    assert hukou_type(code) == expected


def test_every_file_and_column_as_the_register_says(world):
    package = package_export(actor=world.supervisor, project=world.project)
    manifest, members = read_package(package)
    wang, li, zhao, qian, sun = (p.insurance_number for p in (world.wang, world.li, world.zhao, world.qian, world.sun))

    assert set(members) == set(layout.DATA_FILES)
    assert rows_of(members[layout.PERSONS]) == [
        list(layout.COLUMNS[layout.PERSONS]),
        [wang, world.wang.id_number, "王芳", "2", "1970-05-17", "urban", "320411101001", "新桥社区长江路8号",
         "13800000001", "ABC", "6228480000000000011", "contributing", "2013-03-01", "dibao;family_planning", "5"],
        [li, world.li.id_number, "李强", "1", "1950-02-03", "rural", "320411101201", "", "", "", "", "receiving",
         "2011-07-01", "", ""],
        [zhao, world.zhao.id_number, "赵敏", "2", "1948-01-09", "rural", "320411101201", "", "", "", "", "deceased",
         "", "", ""],
        [qian, world.qian.id_number, "钱进", "1", "1952-04-04", "rural", "320411101201", "", "", "", "", "cancelled",
         "", "", ""],
        [sun, world.sun.id_number, "孙丽", "2", "1940-10-01", "urban", "320411101001", "", "", "", "", "receiving",
         "2011-07-01", "", ""],
    ]  # fmt: skip
    assert rows_of(members[layout.ACCOUNTS]) == [
        list(layout.COLUMNS[layout.ACCOUNTS]),
        [wang, "500.00", "70.00", "50.00", "130.00", "12.34", "0.00", "762.34", "2014-12-31"],
        [li, "2000.00", "0.00", "0.00", "0.00", "0.00", "0.00", "2000.00", ""],
        [sun, "800.00", "200.00", "0.00", "0.00", "0.00", "0.00", "1000.00", ""],
    ]
    assert rows_of(members[layout.CONTRIBUTIONS]) == [
        list(layout.COLUMNS[layout.CONTRIBUTIONS]),
        [wang, "2013", "300.00", "300.00", "40.00", "0.00", "0.00", "2013-03-15", "bank_deduction"],
        [wang, "2014", "200.00", "200.00", "0.00", "0.00", "0.00", "2015-06-01", "back_payment"],
        # 代缴 100.00 + the year's donation 30.00; the village's collective credit 50.00.
        [wang, "2015", "100.00", "0.00", "30.00", "50.00", "130.00", "2015-03-15", "government_paid"],
        [li, "2012", "500.00", "500.00", "60.00", "0.00", "0.00", "2012-03-15", "bank_counter"],
    ]
    assert rows_of(members[layout.RECIPIENTS]) == [
        list(layout.COLUMNS[layout.RECIPIENTS]),
        # The 2015-01 period is in force in December 2015 (2015-07 was replaced, 2016-01 comes later); the
        # November payroll was confirmed, December's is a draft.
        [li, "monthly_pension", "2012-07", "100.00", "20.00", "120.00", "ABC", "6228480000000000029", "2015-11"],
        # Only a period after the freeze: the earliest one.
        [sun, "basic_pension_only", "2012-07", "130.00", "0.00", "130.00", "", "", ""],
    ]
    assert rows_of(members[layout.TIER_CHOICES]) == [
        list(layout.COLUMNS[layout.TIER_CHOICES]),
        [wang, "2016", "500.00"],
    ]

    assert list(manifest) == [
        "format", "package_id", "source_pooling_region", "source_name", "target_pooling_region", "frozen_at",
        "interest_settled_through", "encoding", "files", "totals",
    ]  # fmt: skip
    assert manifest["format"] == "merger-package/1"
    assert manifest["package_id"].startswith(f"320411-{world.project.pk}-")
    assert manifest["package_id"].endswith("Z")
    assert manifest["source_pooling_region"] == "320411"
    assert manifest["source_name"] == world.source.pooling_region.name
    assert manifest["target_pooling_region"] == "320412"
    assert manifest["frozen_at"] == "2015-12-26T18:00:00+08:00"
    assert manifest["interest_settled_through"] == "2015-12-26"
    assert manifest["encoding"] == "utf-8"
    assert manifest["totals"] == {
        "persons": 5,
        "recipients": 2,
        "account_balance": "3762.34",
        "pooled_account_balance": "0.00",
        "contributions_personal": "1000.00",
        "contributions_subsidy": "130.00",
    }
    expected_rows = {
        layout.PERSONS: 5,
        layout.ACCOUNTS: 3,
        layout.CONTRIBUTIONS: 4,
        layout.RECIPIENTS: 2,
        layout.TIER_CHOICES: 1,
    }
    assert manifest["files"] == {
        name: {"rows": expected_rows[name], "sha256": hashlib.sha256(data).hexdigest()}
        for name, data in members.items()
    }
    # The totals are the sums over the files.
    accounts = rows_of(members[layout.ACCOUNTS])[1:]
    assert sum(Decimal(row[7]) for row in accounts) == Decimal(manifest["totals"]["account_balance"])
    for row in accounts:
        assert sum(Decimal(value) for value in row[1:7]) == Decimal(row[7])
    # RFC 4180 with CRLF line ends.
    assert members[layout.PERSONS].count(b"\r\n") == 6


def test_the_package_is_stored_with_its_digest_and_the_step_is_done(world):
    package = package_export(actor=world.supervisor, project=world.project)

    with package.file.open("rb") as handle:
        data = handle.read()
    assert package.origin == PackageOrigin.EXPORT
    assert package.sha256 == hashlib.sha256(data).hexdigest()
    assert package.size == len(data)
    assert package.file_name.endswith(".zip") and package.file.name.startswith("merger/")
    assert package.created_by == world.supervisor
    assert package.package_id == package.manifest["package_id"]
    step = MergerStep.objects.get(project=world.project, step=Step.EXPORT)
    assert step.state == StepState.DONE
    assert step.actor == world.supervisor
    assert "导出 5 人" in step.summary and "3762.34" in step.summary and package.sha256 in step.summary
    assert list(
        MergerEvent.objects.filter(project=world.project, step=Step.EXPORT).values_list("action", "to_state")
    ) == [("start", StepState.RUNNING), ("finish", StepState.DONE)]


def test_progress_is_reported_per_file_up_to_its_rows(world):
    seen: list[tuple[int, int]] = []

    package_export(
        actor=world.supervisor, project=world.project, progress=lambda done, total: seen.append((done, total))
    )

    finals = [pair for pair in seen if pair[0] == pair[1] and pair != (0, 0)]
    assert finals == [(5, 5), (3, 3), (4, 4), (2, 2), (1, 1)]


def test_two_exports_are_two_packages_and_the_register_is_untouched(world):
    before = (
        InsuredPerson.objects.count(),
        IndividualAccount.objects.count(),
        LedgerEntry.objects.count(),
        list(IndividualAccount.objects.order_by("pk").values_list("balance", flat=True)),
    )

    first = package_export(actor=world.supervisor, project=world.project)
    second = package_export(actor=world.supervisor, project=world.project)

    assert first.pk != second.pk
    assert first.package_id != second.package_id
    assert first.sha256 != second.sha256
    assert MergerPackage.objects.filter(project=world.project).count() == 2
    assert first.manifest["files"] == second.manifest["files"]  # the same data, file by file
    after = (
        InsuredPerson.objects.count(),
        IndividualAccount.objects.count(),
        LedgerEntry.objects.count(),
        list(IndividualAccount.objects.order_by("pk").values_list("balance", flat=True)),
    )
    assert after == before


def test_a_gbk_package_is_written_in_gbk(world):
    package = package_export(actor=world.supervisor, project=world.project, encoding="gbk")

    manifest, members = read_package(package)
    assert manifest["encoding"] == "gbk"
    assert rows_of(members[layout.PERSONS], "gbk")[1][2] == "王芳"
    assert "王芳".encode("gbk") in members[layout.PERSONS]
    assert manifest["files"][layout.PERSONS]["sha256"] == hashlib.sha256(members[layout.PERSONS]).hexdigest()


def test_only_the_chosen_towns_move(world):
    other_town = region_line(county="320411", township="102", village="201")
    moved_elsewhere = InsuredPerson.objects.filter(pk=world.li.pk)
    moved_elsewhere.update(region_code=other_town.village.code, village=other_town.village)
    world.project.source_towns = ["320411101"]
    world.project.save()

    package = package_export(actor=world.supervisor, project=world.project)

    _, members = read_package(package)
    exported = [row[0] for row in rows_of(members[layout.PERSONS])[1:]]
    assert world.li.insurance_number not in exported
    assert len(exported) == 4
    assert package.manifest["totals"]["recipients"] == 1


def test_refused_before_the_freeze():
    world = source_world()
    MergerStep.objects.filter(project=world.project, step=Step.SETTLE).update(state=StepState.DONE)

    with pytest.raises(Conflict) as refused:
        package_export(actor=world.supervisor, project=world.project)

    assert "数据封存" in refused.value.message
    assert MergerPackage.objects.count() == 0
    assert MergerStep.objects.get(project=world.project, step=Step.EXPORT).state == StepState.PENDING


def test_refused_to_a_county_clerk_and_to_a_supervisor_of_another_city(world):
    with pytest.raises(NotPermitted):
        package_export(actor=world.source.staff(Role.COUNTY_CLERK), project=world.project)
    elsewhere = region_line(county="320111").staff(Role.CITY_SUPERVISOR)
    with pytest.raises(DomainError) as refused:
        package_export(actor=elsewhere, project=world.project)
    assert refused.value.code == "out_of_scope"
    assert MergerPackage.objects.count() == 0


def test_an_account_whose_parts_do_not_add_up_fails_the_step_and_keeps_no_package(world):
    IndividualAccount.objects.filter(person=world.li).update(balance=Decimal("2000.01"))

    with pytest.raises(DomainError) as refused:
        package_export(actor=world.supervisor, project=world.project)

    assert world.li.insurance_number in refused.value.message and "2000.01" in refused.value.message
    step = MergerStep.objects.get(project=world.project, step=Step.EXPORT)
    assert step.state == StepState.FAILED
    assert step.error == refused.value.message
    assert MergerPackage.objects.count() == 0

    # Corrected, the export runs again from the failed step.
    IndividualAccount.objects.filter(person=world.li).update(balance=Decimal("2000.00"))
    package = package_export(actor=world.supervisor, project=world.project)
    assert package.manifest["totals"]["account_balance"] == "3762.34"


def test_a_stop_from_the_progress_callback_fails_the_step(world):
    class Stop(Exception):
        pass

    def stop(done: int, total: int) -> None:
        if done:
            raise Stop

    with pytest.raises(Stop):
        package_export(actor=world.supervisor, project=world.project, progress=stop)

    step = MergerStep.objects.get(project=world.project, step=Step.EXPORT)
    assert step.state == StepState.FAILED
    assert "导出中断" in step.error
    assert MergerPackage.objects.count() == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_progress_is_committed_while_the_files_are_written():
    world = source_world()
    freeze(world)
    seen: list[tuple[str, int]] = []

    def look(done: int, total: int) -> None:
        # Another connection would see what this one committed: outside a transaction, each report is.
        assert not connection.in_atomic_block
        step = MergerStep.objects.get(project=world.project, step=Step.EXPORT)
        seen.append((step.phase, step.progress_done))

    package = package_export(actor=world.supervisor, project=world.project, progress=look)

    assert (layout.CONTRIBUTIONS, 4) in seen
    assert package.manifest["totals"]["account_balance"] == "3762.34"
    assert connection.vendor == "postgresql"
