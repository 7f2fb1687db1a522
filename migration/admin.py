"""Read-only, scoped admin pages of the merger. Every change goes through ``migration.services`` and the step
modules (the state machine, its events, the freeze), so nothing here is added, changed or deleted; each list
passes through the jurisdiction scope. A package's file is not linked: it is served by the scoped download view.
"""

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from agencies.admin import ScopedAdminMixin
from migration.models import Finding, MergerEvent, MergerPackage, MergerProject, MergerStep, TestLoad


class ReadOnlyMixin:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(MergerProject)
class MergerProjectAdmin(ReadOnlyMixin, ScopedAdminMixin, SimpleHistoryAdmin):
    list_display = ("name", "source_pooling_region", "target_pooling_region", "cutover_date", "frozen_at", "created_by")
    list_select_related = ("source_pooling_region", "target_pooling_region", "created_by")
    search_fields = ("name",)


@admin.register(MergerStep)
class MergerStepAdmin(ReadOnlyMixin, ScopedAdminMixin, admin.ModelAdmin):
    list_display = ("project", "step", "state", "progress_done", "progress_total", "actor", "started_at", "finished_at")
    list_filter = ("step", "state")
    list_select_related = ("project", "actor")


@admin.register(MergerEvent)
class MergerEventAdmin(ReadOnlyMixin, ScopedAdminMixin, admin.ModelAdmin):
    list_display = ("at", "project", "step", "action", "from_state", "to_state", "actor")
    list_filter = ("step", "action")
    list_select_related = ("project", "actor")


@admin.register(MergerPackage)
class MergerPackageAdmin(ReadOnlyMixin, ScopedAdminMixin, admin.ModelAdmin):
    list_display = ("file_name", "project", "origin", "size", "sha256", "package_id", "created_by", "created_at")
    list_filter = ("origin",)
    list_select_related = ("project", "created_by")
    exclude = ("file",)


@admin.register(TestLoad)
class TestLoadAdmin(ReadOnlyMixin, ScopedAdminMixin, admin.ModelAdmin):
    list_display = ("pk", "project", "package", "status", "blocking_count", "warning_count", "started_by", "started_at")
    list_filter = ("status",)
    list_select_related = ("project", "package", "started_by")


@admin.register(Finding)
class FindingAdmin(ReadOnlyMixin, ScopedAdminMixin, admin.ModelAdmin):
    list_display = ("testload", "kind", "severity", "file", "line", "column", "value", "message")
    list_filter = ("severity", "kind")
    list_select_related = ("testload",)
