"""A pooling region closed by a district merger's cut-over takes no new business; its history stays readable."""

import datetime as dt

from agencies.errors import DomainError
from agencies.models import PoolingRegion


def require_open(pooling_region: PoolingRegion | None, on: dt.date) -> None:
    """Refuse new business (a deduction batch, a payroll, a registration) in a region closed on or before ``on``."""
    if pooling_region is None or pooling_region.closed_on is None or pooling_region.closed_on > on:
        return
    target = pooling_region.merged_into.name if pooling_region.merged_into_id else "其他统筹区"
    raise DomainError(
        f"{pooling_region.name}已于{pooling_region.closed_on:%Y年%m月%d日}并入{target}，不再办理新业务。",
        code="pooling_region_closed",
    )
