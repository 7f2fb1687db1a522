"""Celery tasks of the merger: take ids, call one service; nothing else. Queued by the pages after their request
commits; each service records its own progress and failure on the project's step."""

import datetime as dt
import logging

from celery import shared_task
from django.contrib.auth import get_user_model
from django.utils import timezone

from migration import export, importer, testload
from migration.models import (
    ImportRun,
    ImportStatus,
    MergerPackage,
    MergerProject,
    MergerStep,
    PackageOrigin,
    Step,
    StepState,
    TestLoad,
    TestLoadStatus,
)

logger = logging.getLogger(__name__)


@shared_task(name="migration.export_package", acks_late=True)
def export_package(project_id: int, actor_id: int, requested_at: str | None = None) -> dict:
    """Write the project's data package. Delivered again once that request's export is written (a worker lost
    before acknowledging it), it returns that package instead of writing another."""
    actor = get_user_model().objects.select_related("agency__region").get(pk=actor_id)
    project = MergerProject.objects.get(pk=project_id)
    package = None
    if requested_at:
        package = (
            MergerPackage.objects.filter(
                project=project, origin=PackageOrigin.EXPORT, created_at__gte=dt.datetime.fromisoformat(requested_at)
            )
            .order_by("id")
            .first()
        )
    if package is None:
        package = export.package_export(actor=actor, project=project)
    return {"project": project.pk, "package": package.pk, "sha256": package.sha256}


@shared_task(name="migration.run_testload", acks_late=True)
def run_testload(testload_id: int) -> dict:
    """Read a package into staging and check it. Run again after a worker died, it starts the reading afresh."""
    load = testload.testload_run(testload_id)
    return {"testload": load.pk, "status": load.status, "blocking": load.blocking_count, "warnings": load.warning_count}


@shared_task(name="migration.run_import", acks_late=True)
def run_import(run_id: int) -> dict:
    """Import a clean package. Run again after a worker died, it resumes after its last committed chunk."""
    run = importer.import_run(run_id)
    return {"run": run.pk, "status": run.status}


# A test-load or import whose step has reported no progress for this long lost its worker.
STALLED_AFTER = dt.timedelta(minutes=30)


def resume_stalled(*, now: dt.datetime | None = None) -> list[str]:
    """Run again, here, each test-load and import left running with no progress for 30 minutes (the nightly job
    calls this). The services resume: a test-load reads its package afresh, an import skips its committed chunks.
    Returns the failures, in words; one failure does not stop the others."""
    cutoff = (now or timezone.now()) - STALLED_AFTER
    stalled = MergerStep.objects.filter(
        state=StepState.RUNNING, step__in=[Step.TESTLOAD, Step.IMPORT], heartbeat_at__lt=cutoff
    ).values_list("project_id", "step")
    failures = []
    for project_id, step in stalled:
        if step == Step.TESTLOAD:
            runs = TestLoad.objects.filter(project_id=project_id, status=TestLoadStatus.RUNNING)
            resume, label = testload.testload_run, "试导入"
        else:
            runs = ImportRun.objects.filter(project_id=project_id, status=ImportStatus.RUNNING)
            resume, label = importer.import_run, "正式导入"
        for pk in runs.order_by("pk").values_list("pk", flat=True):
            try:
                resume(pk)
            except Exception as error:  # logged in full; the nightly report names it
                logger.exception("resuming merger %s %s failed", step, pk)
                failures.append(f"并轨{label} {pk}：{type(error).__name__}: {error}")
            else:
                logger.info("resumed merger %s %s", step, pk)
    return failures
