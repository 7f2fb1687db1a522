"""并轨移交: the merger's archive survey (``migration.ArchiveSurveyItem``) lands in the archives.

Each survey row is a lot of the source region's records still kept where they were (a township's cabinet, the
old county office). When the paper arrives, a township or county archive clerk receives the row: it becomes an
archive item of kind 并轨移交档案, placed in the clerk's archive room with the clerk as keeper, and the row is
marked handed over, all in one transaction. The survey belongs to ``migration``: the row is marked through
``migration.survey`` and the item is built by ``migration.records``, never by writing their tables here.
"""

from __future__ import annotations

import dataclasses

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from agencies.errors import DomainError
from agencies.permissions import Action, require
from agencies.records import file_record
from agencies.scope import code_in_scope, scope_prefix
from archives.models import ArchiveItem
from archives.services import paper_place
from funds.records import pooling_region_place
from migration.models import ArchiveSurveyItem, MergerProject
from migration.records import handed_over_record
from migration.survey import survey_item_mark_handed_over


class SurveyItemNotFound(DomainError):
    status_code = 404

    def __init__(self):
        super().__init__("没有这条档案移交记录，或不在您的管辖范围内。", code="not_found")


def _unplaced_row_projects(actor) -> list[int]:
    """Projects whose rows without a place the actor sees: those of a project over the actor's place, and those
    filed under the source pooling region's own code when that lies in the actor's scope (the source county's
    clerks, who are to keep them). Projects are few: the rule is worked out here rather than in SQL."""
    projects = MergerProject.objects.select_related("source_pooling_region").order_by("pk")
    return [
        project.pk
        for project in projects
        if code_in_scope(actor, project.region_code)
        or code_in_scope(actor, pooling_region_place(project.source_pooling_region))
    ]


def _visible(actor) -> QuerySet[ArchiveSurveyItem]:
    prefix = scope_prefix(actor)
    rows = ArchiveSurveyItem.objects.select_related("project__source_pooling_region", "recorded_by")
    if prefix is None:
        return rows.none()
    placed = Q(region_code__startswith=prefix) & ~Q(region_code="")
    unplaced = Q(region_code="", project_id__in=_unplaced_row_projects(actor))
    return rows.filter(placed | unplaced)


def survey_pending(*, actor) -> QuerySet[ArchiveSurveyItem]:
    """The surveyed lots not yet handed over that the actor may see: a row's place in the actor's scope, or a row
    without a place whose project (or whose source pooling region) is in the actor's scope."""
    return _visible(actor).filter(handed_over_at__isnull=True).order_by("project", "region_code", "id")


def survey_receive(
    *, actor, survey_item: ArchiveSurveyItem, room: str, cabinet: str, box: str, position: str
) -> ArchiveItem:
    """Receive a surveyed lot into the archive room: file it (并轨移交档案), place its paper with the actor as keeper
    and mark the survey row handed over, together. A second receipt of the same row is refused and changes nothing."""
    require(actor, Action.KEEP_ARCHIVES)
    if not _visible(actor).filter(pk=survey_item.pk).exists():
        raise SurveyItemNotFound()
    with transaction.atomic():
        # The row is locked and checked first: of two clerks receiving it at once, the second is refused here.
        row = survey_item_mark_handed_over(item=survey_item, at=timezone.now())
        record = dataclasses.replace(handed_over_record(row), filed_by_id=actor.pk)
        item = file_record(record)
        return paper_place(actor=actor, item=item, room=room, cabinet=cabinet, box=box, position=position)
