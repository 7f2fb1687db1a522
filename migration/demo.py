"""The merger's demo: a draft project 新北区 → 常州市本级, as in 2016, for the demo city supervisor to walk through.

Dates are counted from the demo's reference date: the cut-over is the next 1 January, tiers chosen under 新北区's
rules stand until 30 June of that year, deemed years are recognised until the cut-over. The project gets the
identity place mapping (新北区's villages keep their codes) and nothing else: every step is left to do.
Run again, it finds the project and adds nothing.
"""

from __future__ import annotations

import datetime as dt

from agencies.models import PoolingRegion
from migration import mapping
from migration.models import MergerProject
from migration.services import project_create

DEMO_NAME = "新北区并入常州市本级"
SOURCE_CODE = "320411"  # 新北区
TARGET_CODE = "320400"  # 常州市本级


def demo_dates(reference_date: dt.date) -> tuple[dt.date, dt.date, dt.date]:
    """(cut-over, source tiers until, deemed years until) for a reference date."""
    cutover = dt.date(reference_date.year + 1, 1, 1)
    return cutover, dt.date(cutover.year, 6, 30), cutover


def seed_merger(*, reference_date: dt.date, city_supervisor) -> MergerProject | None:
    """The draft project, or None when the demo has no 新北区 or 常州市本级 pooling region."""
    regions = {r.code: r for r in PoolingRegion.objects.filter(code__in=[SOURCE_CODE, TARGET_CODE])}
    if len(regions) < 2:
        return None
    existing = MergerProject.objects.filter(
        name=DEMO_NAME, source_pooling_region=regions[SOURCE_CODE], target_pooling_region=regions[TARGET_CODE]
    ).first()
    if existing is not None:
        return existing
    cutover, tiers_until, deemed_until = demo_dates(reference_date)
    project = project_create(
        actor=city_supervisor,
        name=DEMO_NAME,
        source_pooling_region=regions[SOURCE_CODE],
        target_pooling_region=regions[TARGET_CODE],
        cutover_date=cutover,
        source_tiers_until=tiers_until,
        deemed_years_until=deemed_until,
    )
    mapping.mapping_identity(actor=city_supervisor, project=project)
    return project
