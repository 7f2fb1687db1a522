"""Read-only, scoped admin pages: every change goes through the services (periods, caps, ledger postings)."""

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from agencies.admin import ScopedAdminMixin
from agencies.scope import visible_pooling_region_ids
from contributions.models import (
    CollectiveSubsidy,
    Contribution,
    ContributionPolicy,
    ContributionTier,
    Donation,
    HardshipShare,
    InterestRate,
    TierChoice,
    TierChoiceBatch,
)


class ReadOnlyMixin:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class PoolingRegionScopedMixin:
    """Policies and rates are scoped through their pooling region, as in the API."""

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        ids = visible_pooling_region_ids(user=request.user)
        return queryset if ids is None else queryset.filter(pooling_region_id__in=ids)


class TierInline(ReadOnlyMixin, admin.TabularInline):
    model = ContributionTier
    fields = ("amount", "government_subsidy")


class HardshipShareInline(ReadOnlyMixin, admin.TabularInline):
    model = HardshipShare
    fields = ("group", "share_percent")


@admin.register(ContributionPolicy)
class ContributionPolicyAdmin(ReadOnlyMixin, PoolingRegionScopedMixin, SimpleHistoryAdmin):
    list_display = ("pooling_region", "valid_from", "valid_to", "window_end_month", "window_end_day", "created_by")
    list_select_related = ("pooling_region", "created_by")
    inlines = [TierInline, HardshipShareInline]


@admin.register(InterestRate)
class InterestRateAdmin(ReadOnlyMixin, PoolingRegionScopedMixin, SimpleHistoryAdmin):
    list_display = ("pooling_region", "year", "rate", "rounding")
    list_select_related = ("pooling_region",)


@admin.register(TierChoice)
class TierChoiceAdmin(ReadOnlyMixin, ScopedAdminMixin, SimpleHistoryAdmin):
    list_display = ("person", "year", "amount", "source", "region_code", "chosen_by", "chosen_at")
    list_filter = ("year", "source")
    search_fields = ("person__id_number", "person__name")
    list_select_related = ("person", "chosen_by")


@admin.register(Contribution)
class ContributionAdmin(ReadOnlyMixin, ScopedAdminMixin, admin.ModelAdmin):
    list_display = ("person", "year", "kind", "tier_amount", "personal_amount", "government_subsidy", "paid_on")
    list_filter = ("year", "kind", "channel")
    search_fields = ("person__id_number", "person__name", "bank_reference")
    list_select_related = ("person",)


@admin.register(CollectiveSubsidy)
class CollectiveSubsidyAdmin(ReadOnlyMixin, ScopedAdminMixin, admin.ModelAdmin):
    list_display = ("village", "year", "amount_per_person", "persons_credited", "persons_capped", "recorded_by")
    list_filter = ("year",)
    list_select_related = ("village", "recorded_by")


@admin.register(Donation)
class DonationAdmin(ReadOnlyMixin, ScopedAdminMixin, admin.ModelAdmin):
    list_display = ("person", "year", "donor", "amount", "received_on")
    list_filter = ("year",)
    search_fields = ("person__id_number", "person__name", "donor")
    list_select_related = ("person",)


@admin.register(TierChoiceBatch)
class TierChoiceBatchAdmin(ReadOnlyMixin, ScopedAdminMixin, admin.ModelAdmin):
    list_display = ("kind", "year", "region_code", "file_name", "rows", "created", "updated", "actor", "at")
    list_filter = ("kind", "year")
