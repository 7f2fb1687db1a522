"""The freeze step: after the settle step, the source area is frozen under the project's name, once."""

import datetime as dt

import pytest
from django.db import DatabaseError, connection, transaction

from agencies.errors import Conflict, NotPermitted
from agencies.freeze import _existing_triggers, frozen_label_for, frozen_refusal
from agencies.models import RegionFreeze, Role
from agencies.tests.factories import RegionFactory, region_line
from enrollment.models import InsuredPerson
from enrollment.tests.factories import make_person
from migration.freezing import freeze_apply, freeze_lift
from migration.models import MergerEvent, MergerStep, Step, StepState
from migration.services import project_create, source_prefixes, step_finish, step_of, step_start


@pytest.fixture
def world():
    source = region_line(county="320411")
    target = region_line(county="320412")
    supervisor = source.staff(Role.CITY_SUPERVISOR)
    project = project_create(
        actor=supervisor,
        name="新北区并入市统筹",
        source_pooling_region=source.pooling_region,
        target_pooling_region=target.pooling_region,
        cutover_date=dt.date(2016, 1, 1),
        source_tiers_until=dt.date(2016, 6, 30),
        deemed_years_until=dt.date(2015, 12, 31),
    )
    return source, target, supervisor, project


@pytest.mark.django_db
def test_the_freeze_needs_the_settle_step(world):
    source, _, supervisor, project = world
    with pytest.raises(Conflict) as refused:
        freeze_apply(actor=supervisor, project=project)
    assert refused.value.message == "请先完成：源统筹区结算核对。"
    assert not RegionFreeze.objects.exists()
    assert step_of(project, Step.FREEZE).state == StepState.PENDING


@pytest.mark.django_db
def test_the_freeze_makes_the_source_read_only_under_the_projects_name(world):
    source, target, supervisor, project = world
    person = make_person(source.village, name="李封存")
    other = make_person(target.village, name="王照常")
    step_finish(project, Step.SETTLE, actor=supervisor)

    freeze_apply(actor=supervisor, project=project)

    label = f"新北区并入市统筹（并轨项目 #{project.pk}）"
    assert list(RegionFreeze.objects.values_list("prefix", "label", "reference")) == [
        ("320411", label, f"merger:{project.pk}")
    ]
    row = step_of(project, Step.FREEZE)
    assert row.state == StepState.DONE
    assert row.summary == "已封存：县320411（320411）"
    project.refresh_from_db()
    assert project.frozen_at is not None
    # the settle step finished today: the prior year's interest is what it checked
    assert project.interest_settled_through == dt.date(dt.date.today().year - 1, 12, 31)
    assert frozen_label_for(person.region_code) == label

    with pytest.raises(DatabaseError) as caught, transaction.atomic():
        InsuredPerson.objects.filter(pk=person.pk).update(name="改名")
    assert frozen_refusal(caught.value).message == f"该记录所属地区的数据已因“{label}”封存，暂不能修改。"
    InsuredPerson.objects.filter(pk=other.pk).update(name="王改名")


@pytest.mark.django_db
def test_a_freeze_of_some_towns_freezes_those_towns_only(world):
    source, _, supervisor, _ = world
    second_town = RegionFactory(code="320411102000", name="罗溪镇", level="township", parent=source.county)
    project = project_create(
        actor=supervisor,
        name="罗溪镇划转",
        source_pooling_region=source.pooling_region,
        source_towns=["320411102"],
        target_pooling_region=region_line(county="320413").pooling_region,
        cutover_date=dt.date(2016, 1, 1),
        source_tiers_until=dt.date(2016, 6, 30),
        deemed_years_until=dt.date(2015, 12, 31),
    )
    step_finish(project, Step.SETTLE, actor=supervisor)

    freeze_apply(actor=supervisor, project=project)

    assert list(RegionFreeze.objects.values_list("prefix", flat=True)) == ["320411102"]
    assert step_of(project, Step.FREEZE).summary == f"已封存：{second_town.name}（320411102）"
    assert frozen_label_for(source.village.code) is None


@pytest.mark.django_db
def test_freezing_again_changes_nothing_and_restores_a_lifted_freeze(world):
    source, _, supervisor, project = world
    step_finish(project, Step.SETTLE, actor=supervisor)
    freeze_apply(actor=supervisor, project=project)
    project.refresh_from_db()
    frozen_at = project.frozen_at
    events = MergerEvent.objects.filter(project=project).count()

    freeze_apply(actor=supervisor, project=project)

    project.refresh_from_db()
    assert project.frozen_at == frozen_at
    assert RegionFreeze.objects.filter(lifted_at__isnull=True).count() == 1
    assert MergerEvent.objects.filter(project=project).count() == events

    # lifted by hand (an abandoned merger), then frozen again
    assert freeze_lift(actor=supervisor, project=project, note="并轨暂停") == 1
    assert _existing_triggers(connection) == []
    lift = MergerEvent.objects.filter(project=project, action="lift").get()
    assert (lift.step, lift.note, lift.actor) == (Step.FREEZE, "并轨暂停", supervisor)
    assert freeze_lift(actor=supervisor, project=project) == 0

    freeze_apply(actor=supervisor, project=project)
    assert RegionFreeze.objects.filter(lifted_at__isnull=True).count() == 1
    assert _existing_triggers(connection)


@pytest.mark.django_db
def test_only_a_city_supervisor_freezes_or_lifts(world):
    source, _, supervisor, project = world
    step_finish(project, Step.SETTLE, actor=supervisor)
    clerk = source.staff(Role.COUNTY_CLERK)
    with pytest.raises(NotPermitted):
        freeze_apply(actor=clerk, project=project)
    freeze_apply(actor=supervisor, project=project)
    with pytest.raises(NotPermitted):
        freeze_lift(actor=clerk, project=project)
    assert RegionFreeze.objects.filter(lifted_at__isnull=True).count() == 1


@pytest.mark.django_db
def test_a_freeze_lifted_by_hand_before_the_import_must_be_made_again_with_its_export_and_testload(world):
    # given a frozen source that was exported and test-loaded
    source, _, supervisor, project = world
    step_finish(project, Step.SETTLE, actor=supervisor)
    freeze_apply(actor=supervisor, project=project)
    step_finish(project, Step.EXPORT, actor=supervisor)
    step_finish(project, Step.TESTLOAD, actor=supervisor)
    # when the supervisor lifts it (a clerk must correct a record)
    freeze_lift(actor=supervisor, project=project, note="更正数据")
    # then nothing read under the freeze counts any more, and the import waits for all of it again
    states = {step: step_of(project, step).state for step in (Step.FREEZE, Step.EXPORT, Step.TESTLOAD)}
    assert states == {Step.FREEZE: StepState.PENDING, Step.EXPORT: StepState.PENDING, Step.TESTLOAD: StepState.PENDING}
    assert not RegionFreeze.objects.filter(lifted_at__isnull=True).exists()
    with pytest.raises(Conflict, match="请先完成：数据封存、试导入"):
        step_start(project, Step.IMPORT, actor=supervisor)


@pytest.mark.django_db
def test_no_lift_by_hand_while_an_import_is_unfinished_and_no_freeze_once_it_started(world):
    source, _, supervisor, project = world
    step_finish(project, Step.SETTLE, actor=supervisor)
    freeze_apply(actor=supervisor, project=project)
    MergerStep.objects.filter(project=project, step=Step.IMPORT).update(state=StepState.FAILED)
    with pytest.raises(Conflict, match="正式导入中断"):
        freeze_lift(actor=supervisor, project=project)
    assert RegionFreeze.objects.filter(lifted_at__isnull=True).count() == 1
    with pytest.raises(Conflict, match="正式导入已开始，不能再封存"):
        freeze_apply(actor=supervisor, project=project)


@pytest.mark.django_db
def test_a_town_given_earlier_to_another_pooling_region_is_not_part_of_the_source(world):
    # given a town of the source county that an earlier adjustment gave to the target
    source, target, supervisor, project = world
    moved = RegionFactory(code="320411102000", name="划出镇", level="township", parent=source.county)
    RegionFactory(code="320411103000", name="留下镇", level="township", parent=source.county)
    moved.pooling_region = target.pooling_region
    moved.save()
    # when the source's area is worked out
    prefixes = source_prefixes(project)
    # then the county is replaced by its towns that are still the source's
    assert "320411102" not in prefixes
    assert "320411103" in prefixes and source.township.code[:9] in prefixes
    assert "320411" not in prefixes
