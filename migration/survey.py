"""档案摸底: where each kind of the source's records is kept (paper forms, ledgers, scans), listed per project so
the archives app can take them over later. Archives stay where they are during the merger; only the list moves.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from agencies.errors import Conflict, DomainError
from agencies.scope import code_in_scope
from migration.models import ArchiveSurveyItem, MergerProject
from migration.services import in_source_area, require_merger_user


def survey_item_add(
    *,
    actor,
    project: MergerProject,
    kind: str,
    region_code: str,
    place: str,
    years: str = "",
    quantity: int = 0,
    note: str = "",
) -> ArchiveSurveyItem:
    """Record one kind of record and where it is kept. The place code, when given, must lie in the area that moves."""
    require_merger_user(actor, project)
    kind, place, region_code = kind.strip(), place.strip(), region_code.strip()
    if not kind:
        raise DomainError("请填写档案类别。", code="required", field="kind")
    if not place:
        raise DomainError("请填写存放地点。", code="required", field="place")
    if quantity < 0:
        raise DomainError("数量不能为负数。", code="invalid", field="quantity")
    if region_code:
        if len(region_code) != 12 or not region_code.isdigit():
            raise DomainError("区划代码应为12位数字。", code="invalid", field="region_code")
        if not in_source_area(project, region_code) or not code_in_scope(actor, region_code):
            raise DomainError("该区划不在并入的范围内。", code="not_in_source", field="region_code")
    return ArchiveSurveyItem.objects.create(
        project=project,
        kind=kind[:100],
        region_code=region_code,
        place=place[:200],
        years=years.strip()[:40],
        quantity=quantity,
        note=note.strip(),
        recorded_by=actor,
    )


def survey_items(*, project: MergerProject) -> QuerySet[ArchiveSurveyItem]:
    return ArchiveSurveyItem.objects.filter(project=project).select_related("recorded_by").order_by("region_code", "id")


def survey_item_mark_handed_over(*, item: ArchiveSurveyItem, at: dt.datetime) -> ArchiveSurveyItem:
    """The archives took this row's records over (``archives.survey.survey_receive``, in its transaction).

    The row is locked, so two clerks receiving it at once act in turn and the second is refused."""
    with transaction.atomic():
        item = (
            ArchiveSurveyItem.objects.select_for_update(of=("self",))
            .select_related("project__source_pooling_region")
            .get(pk=item.pk)
        )
        if item.handed_over_at is not None:
            raise Conflict(
                f"“{item.kind}”已于{timezone.localtime(item.handed_over_at):%Y-%m-%d}移交入库，不能重复接收。",
                code="handed_over",
            )
        item.handed_over_at = at
        item.save(update_fields=["handed_over_at"])
    return item
