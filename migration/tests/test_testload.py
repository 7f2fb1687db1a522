"""The test-load as a whole: a clean package, the live register untouched, uploads, re-runs and the report."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from openpyxl import load_workbook

from agencies.errors import DomainError
from enrollment.models import InsuredPerson
from funds.models import IndividualAccount
from migration import layout, report, testload
from migration.models import Finding, StagedContribution, StagedPerson
from migration.models import TestLoadStatus as Status
from migration.tests.testload_factories import ID_1, build_zip, clean_rows, kinds, make_scene, run_testload

pytestmark = pytest.mark.django_db


def test_a_clean_package_is_staged_typed_with_no_blocking_finding():
    scene = make_scene()
    persons_before, accounts_before = InsuredPerson.objects.count(), IndividualAccount.objects.count()

    load = run_testload(scene, build_zip())

    assert load.status == Status.DONE
    assert load.blocking_count == 0, list(load.findings.values_list("kind", "message"))
    assert load.rows == {
        "persons.csv": 3,
        "accounts.csv": 3,
        "contributions.csv": 3,
        "recipients.csv": 1,
        "tier_choices.csv": 1,
    }
    first = StagedPerson.objects.get(testload=load, line=2)
    assert (first.insurance_no, first.id_number, first.birth_date.isoformat()) == ("X0001", ID_1, "1970-05-17")
    assert first.target_region_code == "320411001001" and first.existing_person_id is None
    assert first.military_years == 0
    contribution = StagedContribution.objects.get(testload=load, line=4)
    assert (contribution.year, str(contribution.gov_subsidy), str(contribution.other_subsidy)) == (
        2015,
        "60.00",
        "10.00",
    )
    # Nothing in the register changed.
    assert (InsuredPerson.objects.count(), IndividualAccount.objects.count()) == (persons_before, accounts_before)
    scene.project.refresh_from_db()
    step = scene.project.steps.get(step="testload")
    assert (step.state, step.summary) == ("done", "阻断问题 0 项，提示 0 项")
    load.package.refresh_from_db()
    assert load.package.package_id == "XB-2015-001"


def test_the_same_upload_twice_is_one_package_and_a_too_large_one_is_refused(settings):
    scene = make_scene()
    content = build_zip()
    first = testload.package_upload(
        actor=scene.supervisor, project=scene.project, uploaded_file=SimpleUploadedFile("a.zip", content)
    )
    again = testload.package_upload(
        actor=scene.supervisor, project=scene.project, uploaded_file=SimpleUploadedFile("b.zip", content)
    )
    assert again.pk == first.pk and first.size == len(content)
    settings.MERGER_PACKAGE_MAX_BYTES = 1024 * 1024
    with pytest.raises(DomainError, match="最大允许 1 MB"):
        testload.package_upload(
            actor=scene.supervisor,
            project=scene.project,
            uploaded_file=SimpleUploadedFile("big.zip", b"0" * (1024 * 1024 + 1)),
        )


def test_a_refused_package_is_a_done_testload_with_one_blocking_finding():
    scene = make_scene()
    load = run_testload(scene, b"this is not a zip at all")
    assert load.status == Status.DONE
    assert load.counts == {"package_unreadable": 1} and load.blocking_count == 1
    assert "不是有效的zip" in load.findings.get().message


def test_a_killed_testload_run_again_reads_afresh_and_duplicates_nothing():
    scene = make_scene()
    rows = clean_rows()
    rows.set(layout.ACCOUNTS, 2, "balance", "1475.51")  # one blocking finding, to count
    content = build_zip(rows)
    load = run_testload(scene, content)
    counts = dict(load.counts)
    staged = StagedPerson.objects.filter(testload=load).count()
    # given the worker died half way: still running, some rows and findings left behind
    load.status = Status.RUNNING
    load.save()
    StagedPerson.objects.filter(testload=load, line=2).delete()
    Finding.objects.create(testload=load, kind="csv_malformed", severity="blocking", message="leftover")

    again = testload.testload_run(load.pk)

    assert again.status == Status.DONE and again.counts == counts
    assert StagedPerson.objects.filter(testload=load).count() == staged == 3
    # and run once more, it is left as it is
    assert testload.testload_run(load.pk).counts == counts


def test_a_new_testload_drops_the_staged_rows_of_earlier_ones_and_keeps_their_findings():
    scene = make_scene()
    rows = clean_rows()
    rows.set(layout.PERSONS, 3, "gender", "9")
    first = run_testload(scene, build_zip(rows))
    second = run_testload(scene, build_zip())
    assert StagedPerson.objects.filter(testload=first).count() == 0
    assert first.findings.filter(kind="value_invalid").count() == 1
    assert StagedPerson.objects.filter(testload=second).count() == 3


def test_the_report_lists_every_finding_and_sums_them_up():
    scene = make_scene()
    rows = clean_rows()
    rows.set(layout.PERSONS, 2, "gender", "9")
    rows.set(layout.PERSONS, 3, "birth_date", "1950-02-30")
    rows.set(layout.PERSONS, 4, "region_code", "=1+1")
    load = run_testload(scene, build_zip(rows))

    summary = report.findings_summary(load)
    invalid = next(item for item in summary if item["kind"] == "value_invalid")
    assert invalid["count"] == 3 and invalid["title"] == "数据格式不正确" and invalid["severity"] == "blocking"
    assert [row["line"] for row in invalid["rows"]] == [2, 3, 4]

    book = load_workbook(io.BytesIO(report.findings_xlsx(load)))
    totals = {row[0]: row[3] for row in book["汇总"].iter_rows(min_row=2, values_only=True)}
    assert totals["value_invalid"] == 3
    details = list(book["明细"].iter_rows(min_row=2, values_only=True))
    assert len(details) == sum(load.counts.values())
    assert ("persons.csv", 4, "region_code", "'=1+1") in [row[2:6] for row in details]
    assert "value_invalid" in kinds(load)


def test_an_unexpected_error_fails_the_testload_and_its_step():
    scene = make_scene()
    package = testload.package_upload(
        actor=scene.supervisor, project=scene.project, uploaded_file=SimpleUploadedFile("a.zip", build_zip())
    )
    load = testload.testload_start(actor=scene.supervisor, project=scene.project, package=package)
    package.file.storage.delete(package.file.name)  # the stored file is gone

    with pytest.raises(FileNotFoundError):
        testload.testload_run(load.pk)

    load.refresh_from_db()
    assert load.status == Status.FAILED and load.error
    step = scene.project.steps.get(step="testload")
    assert step.state == "failed" and "试导入中断" in step.error


def test_a_testload_is_refused_once_the_import_started():
    scene = make_scene()
    load = run_testload(scene, build_zip())
    step = scene.project.steps.get(step="import")
    step.state = "running"
    step.save()
    with pytest.raises(DomainError, match="正式导入已开始"):
        testload.testload_start(actor=scene.supervisor, project=scene.project, package=load.package)


def test_a_testload_runs_with_the_debug_cursor_that_logs_every_query():
    # given the cursor wrapper Django uses with DEBUG on (it wraps COPY too)
    from django.db import connection

    scene = make_scene()
    connection.force_debug_cursor = True
    try:
        # when
        load = run_testload(scene, build_zip(clean_rows()))
    finally:
        connection.force_debug_cursor = False
    # then the package is staged as without it
    assert load.status == Status.DONE and load.blocking_count == 0
    assert StagedPerson.objects.filter(testload=load).count() == len(clean_rows()[layout.PERSONS])


@pytest.mark.postgres
def test_a_second_runner_returns_at_once_without_touching_staging():
    from django.db import connection

    from migration.tests.testload_factories import make_scene as scene_of

    scene = scene_of()
    package = testload.package_upload(
        actor=scene.supervisor, project=scene.project, uploaded_file=SimpleUploadedFile("a.zip", build_zip())
    )
    load = testload.testload_start(actor=scene.supervisor, project=scene.project, package=package)
    # another runner (its own connection) holds the test-load
    other = connection.get_new_connection(connection.get_connection_params())
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", [testload.RUNNER_LOCK, load.pk])
        again = testload.testload_run(load.pk)
        assert again.status == Status.RUNNING
        assert not StagedPerson.objects.filter(testload=load).exists()
        assert not Finding.objects.filter(testload=load).exists()
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [testload.RUNNER_LOCK, load.pk])
    finally:
        other.close()
    assert testload.testload_run(load.pk).status == Status.DONE
