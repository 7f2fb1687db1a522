"""Merger projects and the state machine of their steps.

Each step is a ``MergerStep`` row: pending → running → done (or failed, and from failed running again).
Every transition writes a ``MergerEvent``. A step may start only when the steps it needs are done
(``REQUIRES``); the test-load may be repeated while the import has not run. Long steps report progress
through ``step_progress``, a small update outside the caller's transaction so the page sees it at once.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from agencies.errors import Conflict, DomainError
from agencies.models import PREFIX_LENGTH, PoolingRegion, Region, RegionLevel
from agencies.permissions import Action, require
from agencies.scope import code_in_scope
from contributions.selectors import pooling_prefixes
from migration.models import STEP_ORDER, MergerEvent, MergerProject, MergerStep, Step, StepState

# The steps that must be done before a step may start.
REQUIRES: dict[str, tuple[str, ...]] = {
    Step.SETTLE: (),
    Step.FREEZE: (Step.SETTLE,),
    Step.EXPORT: (Step.FREEZE,),
    Step.TESTLOAD: (),
    Step.IMPORT: (Step.FREEZE, Step.TESTLOAD),
    Step.FUND_TRANSFER: (Step.IMPORT,),
    Step.CUTOVER: (Step.IMPORT, Step.FUND_TRANSFER),
}
# Steps that may run again once done (a corrected source is test-loaded again, exported again).
REPEATABLE = frozenset({Step.SETTLE, Step.EXPORT, Step.TESTLOAD})
# Once the import has run, nothing before it may run again.
CLOSED_BY_IMPORT = frozenset({Step.SETTLE, Step.FREEZE, Step.EXPORT, Step.TESTLOAD})


def require_merger_user(actor, project: MergerProject | None = None) -> None:
    """A city supervisor whose scope holds the project's place (both pooling regions)."""
    require(actor, Action.RUN_MERGER)
    if project is not None and not code_in_scope(actor, project.region_code):
        raise DomainError("该并轨项目不在您的管辖范围内。", code="out_of_scope")


def pooling_region_codes(pooling_region: PoolingRegion) -> list[str]:
    """The region codes (county or township level) that point at the pooling region."""
    return list(Region.objects.filter(pooling_region=pooling_region).values_list("code", flat=True))


def covering_code(codes: list[str]) -> str:
    """The 12-digit code of the smallest place that holds every code given (their common prefix, cut to a
    whole level and padded with zeros)."""
    if not codes:
        return ""
    common = codes[0]
    for code in codes[1:]:
        while not code.startswith(common):
            common = common[:-1]
    lengths = sorted(PREFIX_LENGTH.values())
    level_length = max((n for n in lengths if n <= len(common)), default=0)
    return common[:level_length].ljust(12, "0")


def source_prefixes(project: MergerProject) -> list[str]:
    """The region-code prefixes of the area that moves: the chosen towns, or every place of the source.

    A town inside the source's county that an earlier adjustment gave to another pooling region is not the
    source's: the county's prefix is then replaced by those of its towns that are."""
    if project.source_towns:
        return sorted(project.source_towns)
    source_id = project.source_pooling_region_id
    assigned = pooling_prefixes()
    own = {prefix for prefix, pool in assigned if pool == source_id}
    others = [prefix for prefix, pool in assigned if pool != source_id]
    prefixes: set[str] = set()
    for prefix in own:
        nested = [other for other in others if other.startswith(prefix) and other != prefix]
        if not nested:
            prefixes.add(prefix)
            continue
        towns = Region.objects.filter(level=RegionLevel.TOWNSHIP, code__startswith=prefix)
        prefixes.update(
            town.scope_prefix
            for town in towns
            if not any(town.scope_prefix.startswith(n) or n.startswith(town.scope_prefix) for n in nested)
        )
    # A prefix inside another one adds nothing.
    return sorted(p for p in prefixes if not any(p != q and p.startswith(q) for q in prefixes))


def in_source_area(project: MergerProject, region_code: str) -> bool:
    return any(region_code.startswith(prefix) for prefix in source_prefixes(project))


def project_create(
    *,
    actor,
    name: str,
    source_pooling_region: PoolingRegion,
    target_pooling_region: PoolingRegion,
    cutover_date: dt.date,
    source_tiers_until: dt.date,
    deemed_years_until: dt.date,
    source_towns: list[str] | None = None,
    default_tier: Decimal | None = None,
    fold_pooled: bool = True,
) -> MergerProject:
    require(actor, Action.RUN_MERGER)
    if source_pooling_region.pk == target_pooling_region.pk:
        raise DomainError("源统筹区和目标统筹区不能相同。", code="same_region", field="target_pooling_region")
    source_codes = pooling_region_codes(source_pooling_region)
    target_codes = pooling_region_codes(target_pooling_region)
    if not source_codes:
        raise DomainError("源统筹区下没有任何区划。", code="empty_source", field="source_pooling_region")
    if not target_codes:
        raise DomainError("目标统筹区下没有任何区划。", code="empty_target", field="target_pooling_region")
    towns = sorted({code[:9] for code in (source_towns or [])})
    if towns:
        known = Region.objects.filter(level=RegionLevel.TOWNSHIP, code__in=[t.ljust(12, "0") for t in towns])
        found = {region.code[:9] for region in known if region.effective_pooling_region() == source_pooling_region}
        missing = [t for t in towns if t not in found]
        if missing:
            raise DomainError(
                f"以下乡镇不属于源统筹区：{'、'.join(missing)}。", code="town_not_in_source", field="source_towns"
            )
    region_code = covering_code(source_codes + target_codes)
    if not code_in_scope(actor, region_code):
        raise DomainError("源统筹区和目标统筹区须都在您的管辖范围内。", code="out_of_scope")
    if source_tiers_until < cutover_date:
        raise DomainError("原档次执行截止日不能早于切换日期。", code="invalid_date", field="source_tiers_until")
    with transaction.atomic():
        project = MergerProject.objects.create(
            name=name.strip(),
            source_pooling_region=source_pooling_region,
            source_towns=towns,
            target_pooling_region=target_pooling_region,
            region_code=region_code,
            cutover_date=cutover_date,
            source_tiers_until=source_tiers_until,
            default_tier=default_tier,
            fold_pooled=fold_pooled,
            deemed_years_until=deemed_years_until,
            created_by=actor,
        )
        MergerStep.objects.bulk_create([MergerStep(project=project, step=step) for step in STEP_ORDER])
        MergerEvent.objects.create(project=project, step=Step.SETTLE, action="create", to_state="", actor=actor)
    return project


def step_of(project: MergerProject, step: str) -> MergerStep:
    return MergerStep.objects.get(project=project, step=step)


def steps_by_name(project: MergerProject) -> dict[str, MergerStep]:
    return {row.step: row for row in MergerStep.objects.filter(project=project)}


def _record(project: MergerProject, row: MergerStep, action: str, from_state: str, actor, note: str = "") -> None:
    MergerEvent.objects.create(
        project=project, step=row.step, action=action, from_state=from_state, to_state=row.state, actor=actor, note=note
    )


def step_start(project: MergerProject, step: str, *, actor, total: int = 0, phase: str = "") -> MergerStep:
    """pending/failed (or done, for a repeatable step) → running. Refused while a step it needs is not done,
    while it already runs, or once the import has closed the steps before it."""
    with transaction.atomic():
        rows = {row.step: row for row in MergerStep.objects.select_for_update().filter(project=project).order_by("pk")}
        row = rows[step]
        label = Step(step).label
        stalled = row.state == StepState.RUNNING and _stalled(row)
        if row.state == StepState.RUNNING and not stalled:
            raise Conflict(f"“{label}”正在进行中，请等待完成。", code="step_running")
        if row.state == StepState.DONE and step not in REPEATABLE:
            raise Conflict(f"“{label}”已完成，不能重复执行。", code="step_done")
        if step in CLOSED_BY_IMPORT and rows[Step.IMPORT].state != StepState.PENDING:
            raise Conflict(f"正式导入已开始，“{label}”不能再执行。", code="import_started")
        missing = [str(Step(need).label) for need in REQUIRES[step] if rows[need].state != StepState.DONE]
        if missing:
            raise Conflict(f"请先完成：{'、'.join(missing)}。", code="step_not_ready")
        from_state = row.state
        row.state = StepState.RUNNING
        row.actor = actor
        row.started_at = row.heartbeat_at = timezone.now()
        row.finished_at = None
        row.progress_done, row.progress_total, row.phase, row.error = 0, total, phase, ""
        row.save()
        _record(project, row, "restart" if stalled else "start", from_state, actor)
    return row


# A running step that has reported nothing for this long was killed (a worker lost, a machine restarted):
# it may be started again, and the work resumes or restarts as the step's service decides.
STALLED_AFTER = dt.timedelta(minutes=10)


def _stalled(row: MergerStep) -> bool:
    last = row.heartbeat_at or row.started_at
    return last is None or timezone.now() - last > STALLED_AFTER


def step_progress(row: MergerStep, *, done: int, total: int | None = None, phase: str | None = None) -> None:
    """Report progress of a running step. On its own connection's autocommit when outside a transaction;
    inside one (a test, SQLite) it simply joins it."""
    changes: dict = {"progress_done": done, "heartbeat_at": timezone.now()}
    if total is not None:
        changes["progress_total"] = total
    if phase is not None:
        changes["phase"] = phase
    MergerStep.objects.filter(pk=row.pk).update(**changes)
    for key, value in changes.items():
        setattr(row, key, value)


def step_advance(row: MergerStep, by: int) -> None:
    MergerStep.objects.filter(pk=row.pk).update(progress_done=F("progress_done") + by, heartbeat_at=timezone.now())
    row.progress_done += by


def step_finish(project: MergerProject, step: str, *, actor, summary: str = "") -> MergerStep:
    """running → done (or pending → done for a step that is a single act, like the freeze)."""
    with transaction.atomic():
        row = MergerStep.objects.select_for_update().get(project=project, step=step)
        if row.state == StepState.DONE:
            return row
        from_state = row.state
        row.state = StepState.DONE
        row.actor = actor or row.actor
        row.finished_at = timezone.now()
        row.started_at = row.started_at or row.finished_at
        row.summary = summary
        row.error = ""
        if row.progress_total:
            row.progress_done = row.progress_total
        row.save()
        _record(project, row, "finish", from_state, actor, summary)
    return row


def step_fail(project: MergerProject, step: str, *, actor, error: str) -> MergerStep:
    """running → failed, with the reason for the page. Safe to call from an error handler: it commits on its own
    (a failed transaction around it is the caller's to roll back first)."""
    if connection.in_atomic_block and connection.needs_rollback:
        raise RuntimeError("step_fail must be called after the failed transaction is rolled back")
    with transaction.atomic():
        row = MergerStep.objects.select_for_update().get(project=project, step=step)
        from_state = row.state
        row.state = StepState.FAILED
        row.error = error[:2000]
        row.finished_at = timezone.now()
        row.save()
        _record(project, row, "fail", from_state, actor, error[:500])
    return row


def step_reset(project: MergerProject, step: str, *, actor, note: str = "") -> MergerStep:
    """done → pending for a repeatable step made stale by a later change (e.g. a new test-load pending)."""
    with transaction.atomic():
        row = MergerStep.objects.select_for_update().get(project=project, step=step)
        from_state = row.state
        row.state = StepState.PENDING
        row.save()
        _record(project, row, "reset", from_state, actor, note)
    return row
