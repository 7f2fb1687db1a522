"""The project's creation and the state machine of its steps."""

import datetime as dt

import pytest
from django.utils import timezone

from agencies.errors import Conflict, DomainError, NotPermitted
from agencies.models import Role
from migration.models import MergerEvent, MergerStep, Step, StepState
from migration.services import (
    STALLED_AFTER,
    covering_code,
    project_create,
    source_prefixes,
    step_fail,
    step_finish,
    step_start,
)
from migration.tests.testload_factories import make_scene

pytestmark = pytest.mark.django_db


def test_covering_code_is_the_smallest_place_holding_every_code():
    assert covering_code(["320411000000", "320412000000"]) == "320400000000"
    assert covering_code(["320411101000", "320411102000"]) == "320411000000"
    assert covering_code(["320411000000", "330100000000"]) == "000000000000"


def test_a_project_has_seven_pending_steps_and_the_city_as_its_place():
    scene = make_scene()
    steps = list(MergerStep.objects.filter(project=scene.project).order_by("id").values_list("step", "state"))
    assert steps == [(step, StepState.PENDING) for step in Step.values]
    assert scene.project.region_code == "320400000000"
    assert source_prefixes(scene.project) == ["320411"]


def test_only_a_city_supervisor_over_both_regions_may_create_one():
    scene = make_scene()
    clerk = scene.source.staff(Role.COUNTY_CLERK)
    arguments = dict(
        name="再并一次",
        source_pooling_region=scene.source.pooling_region,
        target_pooling_region=scene.target.pooling_region,
        cutover_date=dt.date(2016, 1, 1),
        source_tiers_until=dt.date(2016, 6, 30),
        deemed_years_until=dt.date(2016, 1, 1),
    )
    with pytest.raises(NotPermitted):
        project_create(actor=clerk, **arguments)
    with pytest.raises(DomainError, match="不能相同"):
        project_create(actor=scene.supervisor, **{**arguments, "target_pooling_region": scene.source.pooling_region})
    with pytest.raises(DomainError, match="不属于源统筹区"):
        project_create(actor=scene.supervisor, source_towns=["320412001"], **arguments)


def test_a_step_waits_for_the_steps_it_needs():
    scene = make_scene()
    with pytest.raises(Conflict, match="请先完成：数据封存"):
        step_start(scene.project, Step.EXPORT, actor=scene.supervisor)
    with pytest.raises(Conflict, match="请先完成：源统筹区结算核对"):
        step_start(scene.project, Step.FREEZE, actor=scene.supervisor)


def test_a_running_step_refuses_a_second_start_until_it_stalls():
    # given a test-load that started and then went silent
    scene = make_scene()
    row = step_start(scene.project, Step.TESTLOAD, actor=scene.supervisor)
    with pytest.raises(Conflict, match="正在进行中"):
        step_start(scene.project, Step.TESTLOAD, actor=scene.supervisor)
    MergerStep.objects.filter(pk=row.pk).update(heartbeat_at=timezone.now() - STALLED_AFTER - dt.timedelta(seconds=1))
    # when it is started again
    again = step_start(scene.project, Step.TESTLOAD, actor=scene.supervisor)
    # then it runs afresh and the log says it was restarted
    assert again.state == StepState.RUNNING and again.progress_done == 0
    actions = list(
        MergerEvent.objects.filter(project=scene.project, step=Step.TESTLOAD).values_list("action", flat=True)
    )
    assert actions == ["start", "restart"]


def test_a_done_step_runs_again_only_when_repeatable_and_never_after_the_import():
    scene = make_scene()
    step_start(scene.project, Step.SETTLE, actor=scene.supervisor)
    step_finish(scene.project, Step.SETTLE, actor=scene.supervisor, summary="无未结事项")
    step_start(scene.project, Step.FREEZE, actor=scene.supervisor)
    step_finish(scene.project, Step.FREEZE, actor=scene.supervisor)
    with pytest.raises(Conflict, match="已完成"):
        step_start(scene.project, Step.FREEZE, actor=scene.supervisor)
    step_start(scene.project, Step.TESTLOAD, actor=scene.supervisor)
    step_finish(scene.project, Step.TESTLOAD, actor=scene.supervisor)
    step_start(scene.project, Step.TESTLOAD, actor=scene.supervisor)  # a corrected package, tested again
    step_fail(scene.project, Step.TESTLOAD, actor=scene.supervisor, error="中断")
    step_start(scene.project, Step.TESTLOAD, actor=scene.supervisor)
    step_finish(scene.project, Step.TESTLOAD, actor=scene.supervisor)
    step_start(scene.project, Step.IMPORT, actor=scene.supervisor)
    with pytest.raises(Conflict, match="正式导入已开始"):
        step_start(scene.project, Step.TESTLOAD, actor=scene.supervisor)
