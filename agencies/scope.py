"""THE jurisdiction scope. Every selector, list, detail, API view, export and admin page filters through here.

A staff user sees and changes only records whose region code starts with the scope prefix of their
agency's region. A superuser without an agency sees everything; anyone else without an agency sees nothing.
Models opt in by naming the field that holds their 12-digit region code in ``SCOPE_FIELD``.
"""

from typing import TypeVar

from django.db.models import Model, QuerySet
from django.http import Http404

M = TypeVar("M", bound=Model)

EVERYWHERE = ""


def scope_prefix(user) -> str | None:
    """The region-code prefix the user may see: '' for everything, None for nothing."""
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    agency = getattr(user, "agency", None)
    if agency is None:
        return EVERYWHERE if user.is_superuser else None
    return agency.region.scope_prefix


def scoped(queryset: QuerySet[M], user) -> QuerySet[M]:
    field = getattr(queryset.model, "SCOPE_FIELD", None)
    if not field:
        raise TypeError(f"{queryset.model.__name__} declares no SCOPE_FIELD and cannot be scoped")
    prefix = scope_prefix(user)
    if prefix is None:
        return queryset.none()
    if prefix == EVERYWHERE:
        return queryset
    return queryset.filter(**{f"{field}__startswith": prefix})


def get_scoped_or_404(queryset: QuerySet[M], user, **lookup) -> M:
    try:
        return scoped(queryset, user).get(**lookup)
    except (queryset.model.DoesNotExist, ValueError, TypeError):
        raise Http404 from None


def code_in_scope(user, region_code: str) -> bool:
    prefix = scope_prefix(user)
    return prefix is not None and region_code.startswith(prefix)


def covers_pooling_region(user, pooling_region) -> bool:
    """Whether the user's scope holds every place of the pooling region (its policy, payroll and funds are
    the whole region's, so only such a user may set or run them)."""
    from agencies.models import Region

    prefix = scope_prefix(user)
    if prefix is None:
        return False
    if prefix == EVERYWHERE:
        return True
    codes = list(Region.objects.filter(pooling_region=pooling_region).values_list("code", flat=True))
    if not codes and pooling_region.merged_into_id:
        # A pooling region merged whole has no places left: its history (payrolls, fund accounts) is the
        # business of whoever holds the region it joined.
        return covers_pooling_region(user, pooling_region.merged_into)
    return bool(codes) and all(code.startswith(prefix) for code in codes)


def visible_pooling_region_ids(*, user) -> list[int] | None:
    """The pooling regions a user's jurisdiction touches; None means all of them.

    A user sees a pooling region's policy when a region of it lies within their scope (a city supervisor,
    a county clerk) or their scope lies within one of its regions (a village agent sees their county's).
    """
    prefix = scope_prefix(user)
    if prefix is None:
        return []
    if prefix == EVERYWHERE:
        return None
    from agencies.models import Region

    assigned = Region.objects.filter(pooling_region__isnull=False).only("code", "level", "pooling_region_id")
    visible: set[int] = set()
    enclosing: Region | None = None
    for region in assigned:
        if region.code.startswith(prefix):
            visible.add(region.pooling_region_id)
        elif prefix.startswith(region.scope_prefix) and (
            enclosing is None or len(region.scope_prefix) > len(enclosing.scope_prefix)
        ):
            enclosing = region  # the most specific assignment wins (a town moved to another pooling region)
    if enclosing is not None:
        visible.add(enclosing.pooling_region_id)
    # Pooling regions merged whole into one the user sees stay visible, for their history.
    from agencies.models import PoolingRegion

    merged = set(PoolingRegion.objects.filter(merged_into_id__in=visible).values_list("pk", flat=True))
    return sorted(visible | merged)


def covered_pooling_regions(*, user) -> list:
    """The pooling regions whose every place lies in the user's scope (whose payroll the user may see)."""
    from agencies.models import PoolingRegion

    ids = visible_pooling_region_ids(user=user)
    regions = PoolingRegion.objects.order_by("code")
    if ids is not None:
        regions = regions.filter(pk__in=ids)
    return [region for region in regions if covers_pooling_region(user, region)]
