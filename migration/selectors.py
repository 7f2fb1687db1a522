"""Reads of the merger pages, every one through the jurisdiction scope: a project, package or test-load outside
the user's scope is not found (404), whatever the role."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from agencies.models import PoolingRegion, Region, RegionLevel
from agencies.scope import covered_pooling_regions, get_scoped_or_404, scoped
from migration.models import (
    STEP_ORDER,
    ImportRun,
    MergerEvent,
    MergerPackage,
    MergerProject,
    MergerStep,
    PlaceMapping,
    StepState,
    TestLoad,
)

EVENTS_SHOWN = 50


def project_queryset(*, user) -> QuerySet[MergerProject]:
    return scoped(MergerProject.objects.all(), user).select_related(
        "source_pooling_region", "target_pooling_region", "created_by"
    )


def project_list(*, user) -> QuerySet[MergerProject]:
    return project_queryset(user=user).order_by("-created_at", "-id")


def project_get(*, user, pk: int) -> MergerProject:
    return get_scoped_or_404(project_queryset(user=user), user, pk=pk)


def step_get(*, user, pk: int) -> MergerStep:
    return get_scoped_or_404(MergerStep.objects.select_related("project", "actor"), user, pk=pk)


def package_get(*, user, pk: int) -> MergerPackage:
    return get_scoped_or_404(MergerPackage.objects.select_related("project", "created_by"), user, pk=pk)


def testload_get(*, user, pk: int) -> TestLoad:
    return get_scoped_or_404(TestLoad.objects.select_related("project", "package", "started_by"), user, pk=pk)


def steps_in_order(project: MergerProject) -> list[MergerStep]:
    rows = {row.step: row for row in MergerStep.objects.filter(project=project).select_related("actor")}
    return [rows[step] for step in STEP_ORDER if step in rows]


def any_running(steps: list[MergerStep]) -> bool:
    return any(row.state == StepState.RUNNING for row in steps)


def project_packages(project: MergerProject) -> QuerySet[MergerPackage]:
    return (
        MergerPackage.objects.filter(project=project)
        .select_related("created_by", "import_run")
        .order_by("-created_at", "-id")
    )


def project_testloads(project: MergerProject) -> QuerySet[TestLoad]:
    return (
        TestLoad.objects.filter(project=project).select_related("package", "started_by").order_by("-started_at", "-id")
    )


def project_imports(project: MergerProject) -> QuerySet[ImportRun]:
    return ImportRun.objects.filter(project=project).select_related("package", "started_by").order_by("-id")


ACTION_LABELS = {
    "create": "新建项目",
    "start": "开始",
    "finish": "完成",
    "fail": "失败",
    "reset": "重置",
    "lift": "解除封存",
}
STATE_LABELS = dict(StepState.choices)


def project_events(project: MergerProject, limit: int | None = EVENTS_SHOWN) -> list[MergerEvent]:
    """Newest first, each with its action and states in words (other actions, such as a freeze lifted, as named)."""
    events = MergerEvent.objects.filter(project=project).select_related("actor").order_by("-at", "-id")
    rows = list(events[:limit] if limit else events)
    for event in rows:
        event.action_label = ACTION_LABELS.get(event.action, event.action)
        event.from_label = STATE_LABELS.get(event.from_state, event.from_state)
        event.to_label = STATE_LABELS.get(event.to_state, event.to_state)
    return rows


def project_mappings(project: MergerProject) -> QuerySet[PlaceMapping]:
    return (
        PlaceMapping.objects.filter(project=project)
        .select_related("target__parent", "confirmed_by")
        .order_by("source_code")
    )


def mergeable_pooling_regions(*, user) -> list[PoolingRegion]:
    """Pooling regions whose every place the user covers: only those may be a merger's source or target."""
    return covered_pooling_regions(user=user)


@dataclass(frozen=True)
class TownChoice:
    code: str  # 9-digit township prefix, as ``MergerProject.source_towns`` keeps it
    label: str


def town_choices(*, user, pooling_regions: list[PoolingRegion]) -> list[TownChoice]:
    """The townships in the user's scope that belong to one of the pooling regions (a part of a source may move)."""
    ids = {region.pk for region in pooling_regions}
    towns = scoped(Region.objects.filter(level=RegionLevel.TOWNSHIP), user).select_related(
        "parent__pooling_region", "pooling_region"
    )
    choices = []
    for town in towns.order_by("code"):
        pooling = town.pooling_region or (town.parent.pooling_region if town.parent_id else None)
        if pooling is not None and pooling.pk in ids:
            county = town.parent.name if town.parent_id else ""
            choices.append(TownChoice(town.code[:9], f"{pooling.name} · {county}{town.name}（{town.code[:9]}）"))
    return choices
