"""Reads of contribution policy, tier choices, contributions and renewal, always through the scope.

Which policy governs a contribution year: the one in force on its own collection-window start day of that
year (the earlier one, should two periods each contain their own window start). A region that changes its
tiers "from 2018" starts the new period on or before the 2018 window start, so 2018 gets the new tiers.
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Case, CharField, Count, Exists, OuterRef, Q, QuerySet, Value, When

from agencies.errors import DomainError
from agencies.models import PoolingRegion, Region
from agencies.scope import get_scoped_or_404, scoped, visible_pooling_region_ids
from contributions import policy as rules
from contributions.models import (
    CollectiveSubsidy,
    Contribution,
    ContributionPolicy,
    ContributionTier,
    Donation,
    InterestRate,
    TierChoice,
)
from enrollment.models import InsuredPerson, PersonStatus

# --- policy ----------------------------------------------------------------------------------------------


def policy_for(*, pooling_region: PoolingRegion, on: dt.date) -> ContributionPolicy:
    """The policy period in force on a day."""
    found = (
        ContributionPolicy.objects.filter(pooling_region=pooling_region, valid_from__lte=on)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gte=on))
        .first()
    )
    if found is None:
        raise DomainError(
            f"{pooling_region.name}在{on:%Y年%m月%d日}没有有效的缴费政策，请联系市级主管部门设置。", code="no_policy"
        )
    return found


def policy_for_year(*, pooling_region: PoolingRegion, year: int) -> ContributionPolicy:
    """The policy that governs a contribution year (see the module's note)."""
    candidates = (
        ContributionPolicy.objects.filter(pooling_region=pooling_region, valid_from__lte=dt.date(year, 12, 31))
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gte=dt.date(year, 1, 1)))
        .order_by("valid_from")
    )
    for candidate in candidates:
        start = dt.date(year, candidate.window_start_month, candidate.window_start_day)
        if candidate.valid_from <= start and (candidate.valid_to is None or start <= candidate.valid_to):
            return candidate
    raise DomainError(
        f"{pooling_region.name}尚未设置{year}年度的缴费政策（缴费档次），请联系市级主管部门。", code="no_policy"
    )


def policy_window(policy: ContributionPolicy) -> rules.Window:
    return (policy.window_start_month, policy.window_start_day, policy.window_end_month, policy.window_end_day)


def tiers_for(*, pooling_region: PoolingRegion, year: int) -> list[ContributionTier]:
    """The year's tiers, lowest first (DomainError when the year has no policy)."""
    year_policy = policy_for_year(pooling_region=pooling_region, year=year)
    return list(year_policy.tiers.order_by("amount"))


def tier_table(policy: ContributionPolicy) -> dict[Decimal, Decimal]:
    """{tier amount: government subsidy}, lowest tier first."""
    return {tier.amount: tier.government_subsidy for tier in policy.tiers.order_by("amount")}


def pooling_prefixes() -> list[tuple[str, int]]:
    """(code prefix, pooling region id) of every place assigned to a pooling region, most specific first."""
    assigned = Region.objects.filter(pooling_region__isnull=False).only("code", "level", "pooling_region_id")
    return sorted(((r.scope_prefix, r.pooling_region_id) for r in assigned), key=lambda item: -len(item[0]))


def pooling_region_sql(pooling_region: PoolingRegion, column: str = "p.region_code") -> tuple[str, list[str]]:
    """SQL on ``column`` for the places of the pooling region (a town moved to another one is not ours), with
    its positional parameters."""
    prefixes = pooling_prefixes()
    own = [prefix for prefix, pool in prefixes if pool == pooling_region.pk]
    if not own:
        raise DomainError(f"{pooling_region.name}下没有任何地区。", code="no_places")
    nested = [p for p, pool in prefixes if pool != pooling_region.pk and any(p.startswith(o) and p != o for o in own)]
    sql = "(" + " OR ".join(f"{column} LIKE %s" for _ in own) + ")"
    sql += "".join(f" AND {column} NOT LIKE %s" for _ in nested)
    return sql, [f"{o}%" for o in own] + [f"{n}%" for n in nested]


def pooling_region_id_of(region_code: str, prefixes: list[tuple[str, int]]) -> int | None:
    """The pooling region of a place, from ``pooling_prefixes()`` (a town moved by an adjustment wins)."""
    return next((pool for prefix, pool in prefixes if region_code.startswith(prefix)), None)


def _by_pooling_region(queryset: QuerySet, user) -> QuerySet:
    ids = visible_pooling_region_ids(user=user)
    return queryset if ids is None else queryset.filter(pooling_region_id__in=ids)


def policy_queryset(*, user) -> QuerySet[ContributionPolicy]:
    policies = ContributionPolicy.objects.select_related("pooling_region", "created_by").prefetch_related(
        "tiers", "hardship_shares"
    )
    return _by_pooling_region(policies, user)


def policy_get(*, user, pk) -> ContributionPolicy:
    return _get_or_404(policy_queryset(user=user), pk)


def interest_rate_queryset(*, user) -> QuerySet[InterestRate]:
    return _by_pooling_region(InterestRate.objects.select_related("pooling_region"), user)


def interest_rate_get(*, user, pk) -> InterestRate:
    return _get_or_404(interest_rate_queryset(user=user), pk)


def pooling_region_get(*, user, code: str) -> PoolingRegion | None:
    """A pooling region by code, if the user's jurisdiction touches it."""
    regions = _by_pooling_region_pk(PoolingRegion.objects.all(), user)
    return regions.filter(code=(code or "").strip()).first()


def _by_pooling_region_pk(queryset: QuerySet, user) -> QuerySet:
    ids = visible_pooling_region_ids(user=user)
    return queryset if ids is None else queryset.filter(pk__in=ids)


def _get_or_404(queryset: QuerySet, pk):
    from django.http import Http404

    try:
        return queryset.get(pk=pk)
    except (queryset.model.DoesNotExist, ValueError, TypeError):
        raise Http404 from None


# --- tier choices, contributions, subsidies --------------------------------------------------------------


def tier_choice_queryset(*, user) -> QuerySet[TierChoice]:
    return scoped(TierChoice.objects.select_related("person", "chosen_by"), user)


def tier_choice_get(*, user, pk) -> TierChoice:
    return get_scoped_or_404(TierChoice.objects.select_related("person", "chosen_by"), user, pk=pk)


def contribution_queryset(*, user) -> QuerySet[Contribution]:
    return scoped(Contribution.objects.select_related("person", "recorded_by"), user)


def contribution_get(*, user, pk) -> Contribution:
    return get_scoped_or_404(Contribution.objects.select_related("person", "recorded_by"), user, pk=pk)


def collective_subsidy_queryset(*, user) -> QuerySet[CollectiveSubsidy]:
    return scoped(CollectiveSubsidy.objects.select_related("village", "recorded_by"), user)


def collective_subsidy_get(*, user, pk) -> CollectiveSubsidy:
    return get_scoped_or_404(CollectiveSubsidy.objects.select_related("village", "recorded_by"), user, pk=pk)


def donation_queryset(*, user) -> QuerySet[Donation]:
    return scoped(Donation.objects.select_related("person", "recorded_by"), user)


def donation_get(*, user, pk) -> Donation:
    return get_scoped_or_404(Donation.objects.select_related("person", "recorded_by"), user, pk=pk)


# --- renewal (续保) -----------------------------------------------------------------------------------------


def _band_case(year: int) -> Case:
    whens = []
    for band in rules.AGE_BANDS:
        born_after, born_by = rules.band_birth_range(band, year)
        whens.append(When(birth_date__gt=born_after, birth_date__lte=born_by, then=Value(band)))
    return Case(*whens, default=Value(""), output_field=CharField())


def _paid(year: int) -> Exists:
    return Exists(Contribution.objects.filter(person=OuterRef("pk"), year=year))


def _renewal_base(*, user, year: int, village: Region | None) -> QuerySet[InsuredPerson]:
    persons = scoped(InsuredPerson.objects.all(), user).filter(status=PersonStatus.ACTIVE)
    if village is not None:
        persons = persons.filter(village=village)
    return persons.annotate(age_band=_band_case(year)).exclude(age_band="").filter(_paid(year - 1))


def renewal_list(*, user, year: int, village: Region | None = None, age_band: str | None = None):
    """Active persons in scope who paid last year and not yet this year, with their age band (age on 1 January).

    Those 60 or over on 1 January are left out: they draw a pension instead of contributing.
    """
    persons = _renewal_base(user=user, year=year, village=village).filter(~_paid(year))
    if age_band:
        persons = persons.filter(age_band=age_band)
    return persons.select_related("village").order_by("region_code", "name", "id")


@dataclass(frozen=True)
class RenewalRate:
    village_id: int
    village_code: str
    village_name: str
    age_band: str
    paid_last_year: int
    renewed: int
    rate: Decimal
    target: Decimal

    @property
    def met(self) -> bool:
        return self.rate >= self.target


def renewal_rates(*, user, year: int) -> list[RenewalRate]:
    """Per village and age band: who paid last year, how many of them paid this year, against the targets.

    Two queries whatever the number of villages: one aggregate over persons, one for the village names.
    """
    rows = (
        _renewal_base(user=user, year=year, village=None)
        .annotate(renewed_flag=_paid(year))
        .values("village_id", "age_band")
        .annotate(paid_last_year=Count("id"), renewed=Count("id", filter=Q(renewed_flag=True)))
        .order_by()
    )
    rows = list(rows)
    villages = {v.pk: v for v in Region.objects.filter(pk__in={row["village_id"] for row in rows}).only("code", "name")}
    result = []
    for row in rows:
        village = villages[row["village_id"]]
        paid, renewed = row["paid_last_year"], row["renewed"]
        rate = (Decimal(renewed) / Decimal(paid)).quantize(Decimal("0.0001")) if paid else Decimal(0)
        result.append(
            RenewalRate(
                village_id=village.pk,
                village_code=village.code,
                village_name=village.name,
                age_band=row["age_band"],
                paid_last_year=paid,
                renewed=renewed,
                rate=rate,
                target=rules.RENEWAL_TARGETS[row["age_band"]],
            )
        )
    return sorted(result, key=lambda r: (r.village_code, r.age_band))
