"""The papers a district merger files into the archives: each data package (并轨数据包), and the source region's
records taken over after the merger (并轨移交档案, one item per row of the archive survey, filed by
``archives.survey`` when the paper arrives).

Builders work from the saved record alone (see ``enrollment.records``); ``SOURCES`` lists every record of each
kind with what its builder reads, for the archives' backfill.
"""

from __future__ import annotations

import re

from django.utils import timezone

from agencies.records import Kind, Record, Source
from funds.records import pooling_region_place
from migration.models import ArchiveSurveyItem, MergerPackage

_YEAR = re.compile(r"(?<!\d)(19\d{2}|20\d{2})(?!\d)")


def merger_package_record(package: MergerPackage) -> Record:
    """并轨数据包: the file and its digest, kept for ever as the record of what was moved."""
    project = package.project
    made_on = timezone.localdate(package.created_at)
    return Record(
        kind=Kind.MERGER_PACKAGE,
        source=package,
        region_code=project.region_code,
        year=made_on.year,
        title=f"并轨数据包 {project.name} {package.file_name}",
        fields={
            "并轨项目": project.name,
            "文件名": package.file_name,
            "大小（字节）": str(package.size),
            "SHA-256": package.sha256,
            "来源": package.get_origin_display(),
            "数据包编号": package.package_id,
            "日期": f"{made_on:%Y-%m-%d}",
        },
        filed_by_id=package.created_by_id,
        filed_on=made_on,
    )


def last_year(years: str) -> int | None:
    """The last year named in a survey row's years ("2010-2015年" → 2015), or None when it names none."""
    found = [int(year) for year in _YEAR.findall(years or "")]
    return max(found) if found else None


def handed_over_record(item: ArchiveSurveyItem) -> Record:
    """并轨移交档案: one surveyed lot of the source region's records, filed under its place (or, when the survey
    named none, the source pooling region's own code) and the last year it covers."""
    project = item.project
    handed_on = timezone.localdate(item.handed_over_at or item.recorded_at)
    years = item.years.strip()
    return Record(
        kind=Kind.HANDED_OVER,
        source=item,
        region_code=item.region_code or pooling_region_place(project.source_pooling_region),
        year=last_year(years) or handed_on.year,
        title=f"{item.kind}（{years}）" if years else item.kind,
        fields={
            "档案类别": item.kind,
            "原存放地点": item.place,
            "年度": years,
            "数量（卷/盒）": str(item.quantity),
            "备注": item.note[:200],
            "并轨项目": project.name,
        },
        filed_by_id=item.recorded_by_id,
        filed_on=handed_on,
    )


SOURCES = [
    Source(
        kind=Kind.MERGER_PACKAGE,
        queryset=lambda: MergerPackage.objects.select_related("project").order_by("pk"),
        build=merger_package_record,
    ),
    Source(
        kind=Kind.HANDED_OVER,
        queryset=lambda: (
            ArchiveSurveyItem.objects.filter(handed_over_at__isnull=False)
            .select_related("project__source_pooling_region")
            .order_by("pk")
        ),
        build=handed_over_record,
    ),
]
