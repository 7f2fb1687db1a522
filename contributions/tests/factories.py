"""Policies, tier tables and contributions for tests, made through the services."""

import datetime as dt
from decimal import Decimal

from agencies.models import PoolingRegion, Role
from agencies.tests.factories import RegionLine
from contributions import services
from contributions.models import ContributionPolicy

# The national tiers: 100 to 1000 in steps of 100, then 1500 and 2000.
NATIONAL = [100, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 1500, 2000]
SUBSIDY = {100: 30, 200: 35, 300: 40, 400: 45}  # 500 and above: 60


def national_tiers() -> list[tuple[Decimal, Decimal]]:
    return [(Decimal(a), Decimal(SUBSIDY.get(a, 60))) for a in NATIONAL]


HARDSHIP = {"tekun": Decimal(100), "dibao": Decimal(70), "disability": Decimal(100)}


def make_policy(
    line: RegionLine,
    *,
    valid_from: dt.date = dt.date(2012, 1, 1),
    valid_to: dt.date | None = None,
    tiers: list[tuple[Decimal, Decimal]] | None = None,
    window: tuple[int, int, int, int] = (1, 1, 12, 31),
    allow_outside_window: bool = False,
    shares: tuple = (Decimal(30), Decimal(30), Decimal(40)),
    pooling_region: PoolingRegion | None = None,
    **kwargs,
) -> ContributionPolicy:
    supervisor = line.staff(Role.CITY_SUPERVISOR)
    return services.policy_create(
        actor=supervisor,
        pooling_region=pooling_region or line.pooling_region,
        valid_from=valid_from,
        valid_to=valid_to,
        tiers=national_tiers() if tiers is None else tiers,
        hardship_shares=kwargs.pop("hardship_shares", HARDSHIP),
        window=window,
        allow_outside_window=allow_outside_window,
        shares=shares,
        **kwargs,
    )
