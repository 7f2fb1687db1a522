"""数据封存 as a merger step: the area that moves becomes read-only everywhere (``agencies.freeze``) until the
import has re-homed it, or a supervisor lifts the freeze of an abandoned merger."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from agencies import freeze
from agencies.errors import Conflict
from agencies.models import Region
from migration.models import MergerEvent, MergerProject, Step, StepState
from migration.services import (
    require_merger_user,
    source_prefixes,
    step_fail,
    step_finish,
    step_of,
    step_reset,
    step_start,
)


def freeze_reference(project: MergerProject) -> str:
    return f"merger:{project.pk}"


def freeze_label(project: MergerProject) -> str:
    return f"{project.name}（并轨项目 #{project.pk}）"


def _places(prefixes: list[str]) -> str:
    names = dict(Region.objects.filter(code__in=[p.ljust(12, "0") for p in prefixes]).values_list("code", "name"))
    return "、".join(f"{names.get(p.ljust(12, '0'), p)}（{p}）" for p in prefixes)


def freeze_apply(*, actor, project: MergerProject) -> None:
    """Freeze the source area (it needs the Settle step done). Safe to repeat: a done freeze is made sure of
    (a freeze lifted by hand is set again) and nothing else changes."""
    require_merger_user(actor, project)
    if step_of(project, Step.IMPORT).state != StepState.PENDING:
        # After the import the source's codes may be the target's own: freezing them again would stop the target.
        raise Conflict("正式导入已开始，不能再封存。", code="import_started")
    prefixes = source_prefixes(project)
    if step_of(project, Step.FREEZE).state == StepState.DONE:
        freeze.freeze_set(prefixes=prefixes, label=freeze_label(project), reference=freeze_reference(project))
        return
    if step_of(project, Step.SETTLE).state != StepState.DONE:
        raise Conflict("请先完成：源统筹区结算核对。", code="step_not_ready")
    step_start(project, Step.FREEZE, actor=actor)
    try:
        with transaction.atomic():
            freeze.freeze_set(prefixes=prefixes, label=freeze_label(project), reference=freeze_reference(project))
            project.frozen_at = timezone.now()
            if project.interest_settled_through is None:
                # The Settle step checked the prior year's interest on the day it finished.
                settled = step_of(project, Step.SETTLE).finished_at or project.frozen_at
                project.interest_settled_through = dt.date(timezone.localdate(settled).year - 1, 12, 31)
            project.save(update_fields=["frozen_at", "interest_settled_through"])
            step_finish(project, Step.FREEZE, actor=actor, summary=f"已封存：{_places(prefixes)}")
    except Exception as exc:
        step_fail(project, Step.FREEZE, actor=actor, error=f"封存未完成：{exc}")
        raise


def freeze_lift(*, actor, project: MergerProject, note: str = "") -> int:
    """Lift the project's freezes (the import when it has finished, or a supervisor for an abandoned merger).
    Returns how many places were unfrozen; 0 when none was frozen."""
    require_merger_user(actor, project)
    import_state = step_of(project, Step.IMPORT).state
    if import_state == StepState.FAILED:
        raise Conflict(
            "正式导入中断，部分人员已迁入目标统筹区：请先重新执行并完成导入，封存随导入完成自动解除。",
            code="import_unfinished",
        )
    with transaction.atomic():
        lifted = freeze.freeze_lift(reference=freeze_reference(project))
        state = step_of(project, Step.FREEZE).state
        MergerEvent.objects.create(
            project=project,
            step=Step.FREEZE,
            action="lift",
            from_state=state,
            to_state=state,
            actor=actor,
            note=note or f"解除封存 {lifted} 处",
        )
        if import_state == StepState.PENDING:
            # Lifted by hand before the import: the source may change again, so the freeze and whatever was
            # read under it (the export, the test-loads) must be done again before an import may run.
            for step in (Step.FREEZE, Step.EXPORT, Step.TESTLOAD):
                if step_of(project, step).state != StepState.PENDING:
                    step_reset(project, step, actor=actor, note="封存已解除，须重新封存并导出、试导入")
    return lifted
