from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from simple_history.admin import SimpleHistoryAdmin

from agencies.models import Agency, PoolingRegion, Region, User
from agencies.scope import scope_prefix, scoped


class ScopedAdminMixin:
    """Admin pages pass through the same jurisdiction scope as every other view."""

    def get_queryset(self, request):
        return scoped(super().get_queryset(request), request.user)


@admin.register(PoolingRegion)
class PoolingRegionAdmin(SimpleHistoryAdmin):
    list_display = ("code", "name")
    search_fields = ("code", "name")


@admin.register(Region)
class RegionAdmin(ScopedAdminMixin, admin.ModelAdmin):
    list_display = ("code", "name", "level", "pooling_region", "registered_population")
    list_filter = ("level", "pooling_region")
    search_fields = ("code", "name")
    raw_id_fields = ("parent",)


@admin.register(Agency)
class AgencyAdmin(admin.ModelAdmin):
    list_display = ("name", "region")
    search_fields = ("name", "region__code")
    raw_id_fields = ("region",)

    def get_queryset(self, request):
        prefix = scope_prefix(request.user)
        agencies = super().get_queryset(request).select_related("region")
        if prefix is None:
            return agencies.none()
        # Agency has no region code of its own: scope it through its region, with the same rule.
        return agencies.filter(region__in=scoped(Region.objects.all(), request.user))


@admin.register(User)
class StaffAdmin(UserAdmin, SimpleHistoryAdmin):
    list_display = ("username", "last_name", "first_name", "role", "agency", "is_active")
    list_filter = ("role", "is_active")
    raw_id_fields = ("agency",)
    fieldsets = (*UserAdmin.fieldsets, ("岗位", {"fields": ("agency", "role")}))

    def get_queryset(self, request):
        staff = super().get_queryset(request).select_related("agency__region")
        if request.user.is_superuser and request.user.agency_id is None:
            return staff
        return staff.filter(agency__region__in=scoped(Region.objects.all(), request.user))
