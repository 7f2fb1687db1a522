"""The merger's tasks: queued by the pages only once the request commits, each calling its one service."""

# The fixtures are shared from test_views: imported by name, they are redefined as test arguments.
# ruff: noqa: F401, F811

import pytest
from django.test import Client
from django.urls import reverse

from migration import tasks
from migration.models import ImportRun, MergerPackage, MergerStep, Step, StepState
from migration.models import TestLoad as Load
from migration.tests.test_views import (
    client,
    people,
    project,
    source,
    supervisor,
    target,
)

pytestmark = pytest.mark.django_db


def _settle_and_freeze(client: Client, project) -> None:
    client.post(reverse("migration:settle_confirm", args=[project.pk]))
    client.post(reverse("migration:freeze_apply", args=[project.pk]))
    assert MergerStep.objects.get(project=project, step=Step.FREEZE).state == StepState.DONE


def test_the_tasks_carry_their_names():
    assert tasks.export_package.name == "migration.export_package"
    assert tasks.run_testload.name == "migration.run_testload"
    assert tasks.run_import.name == "migration.run_import"


def test_export_is_queued_after_commit_and_runs_once_queued(
    client, project, people, django_capture_on_commit_callbacks
):
    _settle_and_freeze(client, project)
    # when: the request commits, but its callbacks have not run
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        client.post(reverse("migration:export_start", args=[project.pk]))
    # then: nothing was exported inside the request; the one callback queues the task
    assert len(callbacks) == 1
    assert not MergerPackage.objects.exists()
    callbacks[0]()
    package = MergerPackage.objects.get(project=project)
    assert MergerStep.objects.get(project=project, step=Step.EXPORT).state == StepState.DONE
    assert package.manifest["totals"]["persons"] == 2
    # and delivered again (a worker lost before acknowledging it), the same request writes no second package
    callbacks[0]()
    assert list(MergerPackage.objects.filter(project=project).values_list("pk", flat=True)) == [package.pk]


def test_testload_and_import_tasks_take_ids(client, project, people, supervisor):
    from migration.export import package_export
    from migration.importer import import_start
    from migration.mapping import mapping_identity
    from migration.testload import testload_start

    _settle_and_freeze(client, project)
    mapping_identity(actor=supervisor, project=project)
    package = package_export(actor=supervisor, project=project)
    load = testload_start(actor=supervisor, project=project, package=package)
    result = tasks.run_testload.delay(load.pk).get()
    assert result == {
        "testload": load.pk,
        "status": "done",
        "blocking": 0,
        "warnings": Load.objects.get().warning_count,
    }

    run = import_start(actor=supervisor, project=project, package=package)
    assert tasks.run_import.delay(run.pk).get() == {"run": run.pk, "status": "done"}
    assert ImportRun.objects.get().persons_created + ImportRun.objects.get().persons_rehomed == 2


def test_a_refused_testload_queues_nothing(client, project, django_capture_on_commit_callbacks):
    from django.core.files.base import ContentFile

    # given: a test-load of the package already runs
    package = MergerPackage.objects.create(
        project=project, origin="upload", file=ContentFile(b"PK", name="a.zip"), file_name="a.zip", sha256="a" * 64
    )
    client.post(reverse("migration:testload_start", args=[package.pk]))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(reverse("migration:testload_start", args=[package.pk]), follow=True)
    assert callbacks == []
    assert "“试导入”正在进行中，请等待完成。" in [str(m) for m in response.context["messages"]]


def test_the_nightly_job_resumes_a_testload_left_running(client, project, people, supervisor):
    import datetime as dt

    from django.utils import timezone

    from migration.export import package_export
    from migration.mapping import mapping_identity
    from migration.testload import testload_start
    from portal.nightly import run_nightly

    _settle_and_freeze(client, project)
    mapping_identity(actor=supervisor, project=project)
    package = package_export(actor=supervisor, project=project)
    # given: a test-load whose worker died: running, silent for 31 minutes
    load = testload_start(actor=supervisor, project=project, package=package)
    MergerStep.objects.filter(project=project, step=Step.TESTLOAD).update(
        heartbeat_at=timezone.now() - dt.timedelta(minutes=31)
    )
    fresh = tasks.resume_stalled(now=timezone.now() - dt.timedelta(minutes=2))
    assert fresh == [] and Load.objects.get(pk=load.pk).status == "running"  # 29 minutes then: not yet stalled

    report = run_nightly(on_date=timezone.localdate() - dt.timedelta(days=1))

    assert report.failures == []
    assert Load.objects.get(pk=load.pk).status == "done"
    assert MergerStep.objects.get(project=project, step=Step.TESTLOAD).state == StepState.DONE
