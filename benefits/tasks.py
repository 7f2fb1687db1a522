"""Celery tasks of benefits: take ids, call a service; nothing else."""

from celery import shared_task
from django.contrib.auth import get_user_model

from agencies.errors import Conflict
from benefits import payroll
from benefits.models import PayrollRun, PayrollStatus


@shared_task(name="benefits.payroll_confirm")
def payroll_confirm(run_id: int, actor_id: int) -> dict:
    """Confirm a month's payroll (queued by the run page, after its request commits). Run again after a
    worker died half way, it finishes the lines not yet debited and takes nothing twice."""
    actor = get_user_model().objects.select_related("agency__region").get(pk=actor_id)
    run = PayrollRun.objects.get(pk=run_id)
    try:
        run = payroll.payroll_confirm(actor=actor, run=run)
    except Conflict:
        run.refresh_from_db()
        if run.status != PayrollStatus.CONFIRMED:
            raise
        # Delivered twice, or confirmed meanwhile by another request: the work is done, nothing to repeat.
    return {"run": run.pk, "status": run.status, "lines": run.lines_count, "total": str(run.total)}
