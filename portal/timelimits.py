"""办理时限: the working days an agency promises from submission to decision, per kind and pooling region.

A pooling region sets its own (counties promise far less than the law allows); where it has set none, the
statutory limit applies: 10 working days to register (and to change or cancel), 20 to approve a pension claim.
Working days are Monday to Friday; public holidays are not known to the portal, so a limit that spans one
falls due a little early, never late.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from agencies.errors import DomainError
from agencies.models import PoolingRegion
from agencies.permissions import Action, require
from agencies.scope import covers_pooling_region
from portal.models import TimeLimit, WorkKind

STATUTORY_WORKING_DAYS: dict[str, int] = {
    WorkKind.REGISTER: 10,
    WorkKind.CHANGE: 10,
    WorkKind.CANCEL: 10,
    WorkKind.CLAIM: 20,
    WorkKind.TRANSFER: 15,
}


def add_working_days(day: dt.date, days: int) -> dt.date:
    """The date ``days`` working days after ``day`` (a submission on Friday with 1 day is due on Monday)."""
    if days > 0 and day.weekday() >= 5:
        # From a weekend the count runs as from the Friday before (whole weeks would otherwise land on a weekend).
        day -= dt.timedelta(days=day.weekday() - 4)
    weeks, rest = divmod(days, 5)
    result = day + dt.timedelta(weeks=weeks)
    while rest:
        result += dt.timedelta(days=1)
        if result.weekday() < 5:
            rest -= 1
    return result


def first_not_overdue(on: dt.date, days: int) -> dt.date:
    """The earliest submission date still within its limit on ``on``: anything submitted before it is overdue.

    Set-based counts compare submission dates with this one cut-off instead of computing each due date.
    """
    # The due date never falls as the submission date rises: walk back from ``on`` to the first overdue date.
    candidate = on
    while add_working_days(candidate, days) >= on:
        candidate -= dt.timedelta(days=1)
    return candidate + dt.timedelta(days=1)


def limits(pooling_region_id: int, on: dt.date) -> dict[str, int]:
    """Each kind's limit in force on ``on`` for the pooling region."""
    found = dict(STATUTORY_WORKING_DAYS)
    rows = TimeLimit.objects.filter(pooling_region_id=pooling_region_id, valid_from__lte=on).order_by(
        "kind", "valid_from"
    )
    for row in rows:
        found[row.kind] = row.working_days  # the latest valid_from wins
    return found


def due_on(*, submitted: dt.date, pooling_region_id: int, kind: str) -> dt.date:
    return add_working_days(submitted, limits(pooling_region_id, submitted)[kind])


def time_limit_set(
    *, actor, pooling_region: PoolingRegion, kind: str, working_days: int, valid_from: dt.date
) -> TimeLimit:
    """A supervisor sets a kind's limit from a date (a later change starts a new period; the old one stands)."""
    require(actor, Action.SET_TIME_LIMITS)
    if not covers_pooling_region(actor, pooling_region):
        raise DomainError("该统筹区不在您的管辖范围内。", code="out_of_scope", field="pooling_region")
    if kind not in WorkKind.values:
        raise DomainError("请选择业务类型。", code="invalid", field="kind")
    try:
        working_days = int(working_days)
    except (TypeError, ValueError):
        raise DomainError("办理时限应为整数个工作日。", code="invalid", field="working_days") from None
    statutory = STATUTORY_WORKING_DAYS[kind]
    if not 1 <= working_days <= statutory:
        raise DomainError(
            f"办理时限应在1至{statutory}个工作日之间（不得长于法定时限）。", code="invalid", field="working_days"
        )
    with transaction.atomic():
        row, _ = TimeLimit.objects.update_or_create(
            pooling_region=pooling_region,
            kind=kind,
            valid_from=valid_from,
            defaults={"working_days": working_days, "set_by": actor},
        )
    return row
