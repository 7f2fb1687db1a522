"""Celery tasks of the merger: take ids, call one service; nothing else. Queued by the pages after their request
commits; each service records its own progress and failure on the project's step."""

from celery import shared_task
from django.contrib.auth import get_user_model

from migration import export, importer, testload
from migration.models import MergerProject


@shared_task(name="migration.export_package", acks_late=True)
def export_package(project_id: int, actor_id: int) -> dict:
    """Write the project's data package. Run twice, it writes the same content (one package per SHA-256)."""
    actor = get_user_model().objects.select_related("agency__region").get(pk=actor_id)
    project = MergerProject.objects.get(pk=project_id)
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
