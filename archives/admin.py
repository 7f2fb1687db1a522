"""Read-only, scoped admin pages of the archives. Every change goes through the services (filing, places, lending,
hand-over, retention), which check the role, write the item's events and keep the custody straight, so nothing here
is added, changed or deleted; each list passes through the jurisdiction scope.

Two exceptions, both outside any jurisdiction: kinds may be added (the standard set grows), and a kind's name and
description corrected; its code, class number and retention stay as filed items and their numbers were made with
them. A scan's stored file and a form's fields are not shown: the portal's item page serves them to users in scope
and logs the reading.
"""

from __future__ import annotations

from django.contrib import admin

from agencies.admin import ScopedAdminMixin
from agencies.scope import EVERYWHERE, scope_prefix
from archives.models import (
    ArchiveEvent,
    ArchiveFile,
    ArchiveItem,
    ArchiveKind,
    ArchiveLocation,
    ArchiveNumberCounter,
    HandOver,
    HandOverLine,
    Loan,
    RetentionReview,
)


class ReadOnlyMixin:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ArchiveKind)
class ArchiveKindAdmin(admin.ModelAdmin):
    list_display = ("number", "code", "name", "retention", "description")
    search_fields = ("code", "name")

    def get_readonly_fields(self, request, obj=None):
        # Items of the kind carry its class number in their archive numbers and its retention in their end dates.
        return ("code", "number", "retention") if obj is not None else ()

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ArchiveLocation)
class ArchiveLocationAdmin(ReadOnlyMixin, ScopedAdminMixin, admin.ModelAdmin):
    list_display = ("region_code", "room", "cabinet", "box")
    search_fields = ("region_code", "room", "cabinet", "box")


@admin.register(ArchiveItem)
class ArchiveItemAdmin(ReadOnlyMixin, ScopedAdminMixin, admin.ModelAdmin):
    list_display = (
        "archive_no",
        "title",
        "kind",
        "region_code",
        "year",
        "location",
        "position",
        "keeper",
        "retain_until",
        "destroyed_at",
    )
    list_filter = ("kind", "year")
    list_select_related = ("kind", "location", "keeper")
    search_fields = ("archive_no", "title")
    exclude = ("fields", "search_text")


@admin.register(ArchiveFile)
class ArchiveFileAdmin(ReadOnlyMixin, ScopedAdminMixin, admin.ModelAdmin):
    list_display = (
        "item",
        "original_name",
        "content_type",
        "pages",
        "size",
        "uploaded_by",
        "uploaded_at",
        "deleted_at",
    )
    list_filter = ("content_type",)
    list_select_related = ("item", "uploaded_by")
    search_fields = ("item__archive_no", "sha256")
    exclude = ("file",)


@admin.register(Loan)
class LoanAdmin(ReadOnlyMixin, ScopedAdminMixin, admin.ModelAdmin):
    list_display = ("item", "kind", "borrower", "borrower_unit", "out_at", "due_on", "returned_at", "lent_by")
    list_filter = ("kind", "own_record")
    list_select_related = ("item", "lent_by")
    search_fields = ("item__archive_no", "borrower")


class HandOverLineInline(admin.TabularInline):
    model = HandOverLine
    fields = ("item", "state", "loan", "note")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(HandOver)
class HandOverAdmin(ReadOnlyMixin, ScopedAdminMixin, admin.ModelAdmin):
    list_display = ("pk", "region_code", "from_keeper", "to_keeper", "status", "created_at", "to_signed_at")
    list_filter = ("status",)
    list_select_related = ("from_keeper", "to_keeper")
    inlines = (HandOverLineInline,)


@admin.register(RetentionReview)
class RetentionReviewAdmin(ReadOnlyMixin, ScopedAdminMixin, admin.ModelAdmin):
    list_display = ("item", "status", "reason", "proposed_by", "proposed_at", "decided_by", "decided_at")
    list_filter = ("status",)
    list_select_related = ("item", "proposed_by", "decided_by")
    search_fields = ("item__archive_no",)


@admin.register(ArchiveEvent)
class ArchiveEventAdmin(ReadOnlyMixin, ScopedAdminMixin, admin.ModelAdmin):
    list_display = ("at", "action", "item", "region_code", "actor", "note")
    list_filter = ("action",)
    list_select_related = ("item", "actor")
    search_fields = ("item__archive_no", "note")


@admin.register(ArchiveNumberCounter)
class ArchiveNumberCounterAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("prefix", "last")
    search_fields = ("prefix",)

    def get_queryset(self, request):
        # A prefix begins with the township's (or county's) nine digits: the same scope as the region codes.
        queryset = super().get_queryset(request)
        prefix = scope_prefix(request.user)
        if prefix is None:
            return queryset.none()
        return queryset if prefix == EVERYWHERE else queryset.filter(prefix__startswith=prefix)
