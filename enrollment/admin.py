from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from agencies.admin import ScopedAdminMixin
from enrollment.models import Application, DualEnrollmentFlag, EmployeeRegisterLoad, InsuredPerson


@admin.register(InsuredPerson)
class InsuredPersonAdmin(ScopedAdminMixin, SimpleHistoryAdmin):
    """Read-only: the register changes only through applications and their review."""

    list_display = ("insurance_number", "name", "region_code", "status")
    list_filter = ("status",)
    search_fields = ("id_number", "insurance_number", "name")
    list_select_related = ("village",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Application)
class ApplicationAdmin(InsuredPersonAdmin):
    list_display = ("id", "kind", "status", "person", "region_code", "created_by", "created_at")
    list_filter = ("kind", "status")
    search_fields = ("person__id_number", "person__name")
    list_select_related = ("person", "created_by")


@admin.register(EmployeeRegisterLoad)
class EmployeeRegisterLoadAdmin(InsuredPersonAdmin):
    list_display = ("id", "file_name", "region_code", "rows_read", "matches", "loaded_by", "loaded_at")
    list_filter = ()
    search_fields = ("file_name",)
    list_select_related = ("loaded_by",)


@admin.register(DualEnrollmentFlag)
class DualEnrollmentFlagAdmin(InsuredPersonAdmin):
    list_display = ("id", "person", "employer", "resolved_at")
    list_filter = ()
    search_fields = ("person__id_number", "person__name")
    list_select_related = ("person",)
