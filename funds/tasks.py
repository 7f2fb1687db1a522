"""Celery tasks of funds: take ids, call a service; nothing else."""

from celery import shared_task
from django.conf import settings

from funds.batches import receipt_settle


@shared_task(name="funds.settle_result", acks_late=True)
def settle_result(receipt_id: int) -> dict:
    """Settle an accepted result file. Delivered twice, or run again after a worker died, it posts nothing twice."""
    receipt = receipt_settle(receipt_id=receipt_id, workers=settings.BANK_SETTLE_WORKERS)
    return {"receipt": receipt.pk, "status": receipt.status, "ok": receipt.ok_count, "failed": receipt.failed_count}
