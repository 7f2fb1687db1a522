"""Celery tasks of the portal shell: the nightly job (scheduled in ``CELERY_BEAT_SCHEDULE``)."""

import datetime as dt

from celery import shared_task

from portal.nightly import business_day, run_nightly

# Year-end settlement on two database connections: the database server has (at least) two cores.
NIGHTLY_WORKERS = 2


class NightlyFailed(Exception):
    """Some step of the night failed (the others ran): the task shows as failed, with each message."""


@shared_task(name="portal.nightly")
def nightly(on_date: str | None = None) -> dict:
    """Run what is due for ``on_date`` (ISO date; default: yesterday, the business day the night closes)."""
    day = dt.date.fromisoformat(on_date) if on_date else business_day()
    report = run_nightly(on_date=day, workers=NIGHTLY_WORKERS)
    if report.failures:
        raise NightlyFailed("; ".join(report.failures))
    return report.as_dict()
