"""Read-only, scoped admin pages of the bank side of funds.

Every change to a partner bank or its keys goes through ``funds.bank_partners`` (who may, history, the key shown
once), and every batch and result file through ``funds.batches`` and the bank API. So nothing here is added,
changed or deleted. Partner banks are seen where the user's jurisdiction touches a pooling region they serve (as
the partner pages); batches and result files only by those whose jurisdiction holds the whole pooling region (as
the batch pages); batch lines through the jurisdiction scope by their region code. No key hash is shown, and
lists show no identity numbers or bank accounts.
"""

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from agencies.admin import ScopedAdminMixin
from funds import selectors_bank
from funds.models import BankBatch, BankBatchLine, BankCredential, BankPartner, CredentialUse, ResultReceipt


class ReadOnlyMixin:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(BankPartner)
class BankPartnerAdmin(ReadOnlyMixin, SimpleHistoryAdmin):
    list_display = ("code", "name", "encoding", "active", "created_at")
    list_filter = ("active", "encoding")
    search_fields = ("code", "name")

    def get_queryset(self, request):
        visible = selectors_bank.partner_queryset(user=request.user).values("pk")
        return super().get_queryset(request).filter(pk__in=visible)


@admin.register(BankCredential)
class BankCredentialAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = (
        "prefix",
        "partner",
        "label",
        "created_at",
        "created_by",
        "last_used_at",
        "expires_at",
        "revoked_at",
    )
    # Only the banks of the rows shown: a plain filter would list every bank, other cities' included.
    list_filter = (("partner", admin.RelatedOnlyFieldListFilter),)
    list_select_related = ("partner", "created_by")
    exclude = ("secret_sha256",)

    def get_queryset(self, request):
        visible = selectors_bank.partner_queryset(user=request.user).values("pk")
        return super().get_queryset(request).filter(partner__in=visible)


@admin.register(CredentialUse)
class CredentialUseAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("at", "credential", "method", "path", "status_code", "remote_addr")
    list_select_related = ("credential__partner",)

    def get_queryset(self, request):
        visible = selectors_bank.partner_queryset(user=request.user).values("pk")
        return super().get_queryset(request).filter(credential__partner__in=visible)


class ResultReceiptInline(ReadOnlyMixin, admin.TabularInline):
    model = ResultReceipt
    fields = ("received_at", "sha256", "status", "error_count", "ok_count", "failed_count", "exception_count")
    readonly_fields = fields
    show_change_link = True


@admin.register(BankBatch)
class BankBatchAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = (
        "batch_no",
        "kind",
        "pooling_region",
        "partner",
        "period",
        "record_count",
        "total_amount",
        "status",
        "failed_count",
    )
    list_filter = (
        "kind",
        "status",
        ("pooling_region", admin.RelatedOnlyFieldListFilter),
        ("partner", admin.RelatedOnlyFieldListFilter),
    )
    search_fields = ("batch_no",)
    list_select_related = ("pooling_region", "partner")
    inlines = [ResultReceiptInline]

    def get_queryset(self, request):
        # A batch is the whole pooling region's: only for those whose jurisdiction holds all of it.
        ids = selectors_bank.covered_region_ids(user=request.user)
        return super().get_queryset(request).filter(pooling_region_id__in=ids)


@admin.register(ResultReceipt)
class ResultReceiptAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("batch", "received_at", "sha256", "status", "error_count", "ok_count", "failed_count")
    list_filter = ("status",)
    list_select_related = ("batch",)
    exclude = ("idempotency_key",)

    def get_queryset(self, request):
        ids = selectors_bank.covered_region_ids(user=request.user)
        return super().get_queryset(request).filter(batch__pooling_region_id__in=ids)


@admin.register(BankBatchLine)
class BankBatchLineAdmin(ReadOnlyMixin, ScopedAdminMixin, admin.ModelAdmin):
    list_display = ("batch", "seq", "name", "region_code", "amount", "period")
    search_fields = ("batch__batch_no", "insurance_no")
    list_select_related = ("batch",)
    exclude = ("id_number", "bank_account")
    raw_id_fields = ("person",)
