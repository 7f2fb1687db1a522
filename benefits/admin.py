"""Read-only, scoped admin pages of the benefits app.

Every change to a claim, an award, a payroll or a recovery goes through ``benefits.services`` and
``benefits.payroll``: they check who may do it, write the audit event and move money only through the ledger.
So nothing here is added, changed or deleted. Records of a place pass through the jurisdiction scope like every
other page; parameters and recalculations through the pooling regions the user's jurisdiction touches; payroll
runs only for those whose jurisdiction holds the whole pooling region (as the payroll pages). Lists show no
identity numbers or bank accounts in full.
"""

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from agencies.admin import ScopedAdminMixin
from agencies.scope import covered_pooling_regions, visible_pooling_region_ids
from benefits.models import (
    Arrear,
    Award,
    AwardEvent,
    AwardPeriod,
    Claim,
    DeathListLoad,
    DeathRecord,
    DeathSettlement,
    MonthlyConfirmation,
    Overpayment,
    PayrollLine,
    PayrollRun,
    PensionParameters,
    Recalculation,
    RecoveryStep,
    Transfer,
    YearlyCheck,
    YearsCredit,
)


class ReadOnlyMixin:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class PoolingRegionScopedMixin:
    """Parameters and recalculations belong to a pooling region: seen where the user's jurisdiction touches it."""

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        ids = visible_pooling_region_ids(user=request.user)
        return queryset if ids is None else queryset.filter(pooling_region_id__in=ids)


# --- parameters, claims, awards ----------------------------------------------------------------------------


@admin.register(PensionParameters)
class PensionParametersAdmin(ReadOnlyMixin, PoolingRegionScopedMixin, SimpleHistoryAdmin):
    list_display = (
        "pooling_region",
        "valid_from",
        "central_minimum",
        "local_top_up",
        "per_year_beyond_minimum",
        "addition_at_65",
        "addition_at_80",
        "urban_elderly_allowance",
        "account_divisor",
    )
    list_filter = ("pooling_region",)
    list_select_related = ("pooling_region",)


@admin.register(Recalculation)
class RecalculationAdmin(ReadOnlyMixin, PoolingRegionScopedMixin, admin.ModelAdmin):
    list_display = ("id", "pooling_region", "from_month", "awards_changed", "arrears_total", "actor", "at")
    list_select_related = ("pooling_region", "actor")


@admin.register(YearsCredit)
class YearsCreditAdmin(ReadOnlyMixin, ScopedAdminMixin, admin.ModelAdmin):
    list_display = ("person", "kind", "years", "reference", "recorded_by", "recorded_at")
    list_filter = ("kind",)
    search_fields = ("person__id_number", "person__name", "reference")
    list_select_related = ("person", "recorded_by")


@admin.register(Claim)
class ClaimAdmin(ReadOnlyMixin, ScopedAdminMixin, SimpleHistoryAdmin):
    list_display = ("id", "person", "category", "status", "eligible_from", "region_code", "created_by", "created_at")
    list_filter = ("status", "category")
    search_fields = ("person__id_number", "person__name")
    list_select_related = ("person", "created_by")


class AwardPeriodInline(ReadOnlyMixin, admin.TabularInline):
    model = AwardPeriod
    fields = (
        "valid_from",
        "central_minimum",
        "local_top_up",
        "years_addition",
        "age_addition",
        "urban_allowance",
        "basic_pension",
        "account_pension",
        "total",
        "replaced_by",
    )
    ordering = ("valid_from", "id")


@admin.register(Award)
class AwardAdmin(ReadOnlyMixin, ScopedAdminMixin, SimpleHistoryAdmin):
    list_display = ("id", "person", "category", "status", "start_month", "paid_until", "account_pension")
    list_filter = ("status", "category", "pooling_region")
    search_fields = ("person__id_number", "person__name")
    list_select_related = ("person",)
    inlines = [AwardPeriodInline]


@admin.register(AwardPeriod)
class AwardPeriodAdmin(ReadOnlyMixin, ScopedAdminMixin, admin.ModelAdmin):
    list_display = ("award", "valid_from", "basic_pension", "account_pension", "total", "replaced_by")
    search_fields = ("award__person__id_number", "award__person__name")
    list_select_related = ("award",)


@admin.register(AwardEvent)
class AwardEventAdmin(ReadOnlyMixin, ScopedAdminMixin, admin.ModelAdmin):
    list_display = ("at", "action", "claim", "award", "from_status", "to_status", "actor", "region_code")
    list_filter = ("action",)
    list_select_related = ("claim", "award", "actor")


@admin.register(Arrear)
class ArrearAdmin(ReadOnlyMixin, ScopedAdminMixin, admin.ModelAdmin):
    list_display = ("award", "month", "paid_amount", "due_amount", "amount", "status", "recalculation")
    list_filter = ("status",)
    list_select_related = ("award", "recalculation")


# --- payroll -----------------------------------------------------------------------------------------------


@admin.register(PayrollRun)
class PayrollRunAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("pooling_region", "month", "status", "lines_count", "total", "prepared_by", "confirmed_at")
    list_filter = ("status", "pooling_region")
    list_select_related = ("pooling_region", "prepared_by")

    def get_queryset(self, request):
        # A run is the whole pooling region's: only for those whose jurisdiction holds all of it.
        regions = covered_pooling_regions(user=request.user)
        return super().get_queryset(request).filter(pooling_region__in=regions)


@admin.register(PayrollLine)
class PayrollLineAdmin(ReadOnlyMixin, ScopedAdminMixin, admin.ModelAdmin):
    list_display = ("run", "award", "kind", "category", "basic_pension", "account_paid", "fund_paid", "total")
    list_filter = ("kind", "category", "payout_status")
    search_fields = ("person__id_number", "person__name")
    list_select_related = ("run__pooling_region", "award")
    exclude = ("bank_account",)


# --- eligibility checks, deaths, recovery, transfers ------------------------------------------------------


@admin.register(MonthlyConfirmation)
class MonthlyConfirmationAdmin(ReadOnlyMixin, ScopedAdminMixin, admin.ModelAdmin):
    list_display = ("award", "month", "alive", "stop_reason", "confirmed_by", "confirmed_at")
    list_filter = ("alive", "month")
    list_select_related = ("award", "confirmed_by")


@admin.register(YearlyCheck)
class YearlyCheckAdmin(ReadOnlyMixin, ScopedAdminMixin, admin.ModelAdmin):
    list_display = ("award", "year", "channel", "checked_on", "passed", "checked_by")
    list_filter = ("year", "channel", "passed")
    list_select_related = ("award", "checked_by")


@admin.register(DeathListLoad)
class DeathListLoadAdmin(ReadOnlyMixin, ScopedAdminMixin, admin.ModelAdmin):
    list_display = ("id", "file_name", "region_code", "rows_read", "matches", "overpayments", "loaded_by", "loaded_at")
    list_select_related = ("loaded_by",)


@admin.register(DeathRecord)
class DeathRecordAdmin(ReadOnlyMixin, ScopedAdminMixin, admin.ModelAdmin):
    list_display = ("person", "died_on", "source", "load", "recorded_by", "recorded_at")
    search_fields = ("person__id_number", "person__name")
    list_select_related = ("person", "recorded_by")


class RecoveryStepInline(ReadOnlyMixin, admin.TabularInline):
    model = RecoveryStep
    fields = ("on", "method", "amount", "reference", "recorded_by")


@admin.register(Overpayment)
class OverpaymentAdmin(ReadOnlyMixin, ScopedAdminMixin, admin.ModelAdmin):
    list_display = ("person", "reason", "first_month", "last_month", "amount", "recovered", "status")
    list_filter = ("status", "reason")
    search_fields = ("person__id_number", "person__name")
    list_select_related = ("person",)
    inlines = [RecoveryStepInline]


@admin.register(DeathSettlement)
class DeathSettlementAdmin(ReadOnlyMixin, ScopedAdminMixin, admin.ModelAdmin):
    list_display = ("person", "heir_name", "heir_relation", "balance_paid", "funeral_grant", "settled_on")
    search_fields = ("person__id_number", "person__name")
    list_select_related = ("person",)
    exclude = ("heir_id_number", "heir_bank_account")


@admin.register(Transfer)
class TransferAdmin(ReadOnlyMixin, ScopedAdminMixin, SimpleHistoryAdmin):
    list_display = ("id", "kind", "person", "status", "amount", "years_moved", "region_code", "to_region_code")
    list_filter = ("kind", "status")
    search_fields = ("person__id_number", "person__name", "reference")
    list_select_related = ("person",)
