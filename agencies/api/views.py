"""The region tree, as far as the caller's jurisdiction reaches, and a token for machines."""

import django_filters
from django.db.models import QuerySet
from rest_framework import viewsets

from agencies.api.serializers import RegionSerializer
from agencies.models import Region, RegionLevel
from agencies.scope import scoped


class RegionFilter(django_filters.FilterSet):
    level = django_filters.ChoiceFilter(choices=RegionLevel.choices)
    # By id or code, never a model choice: a choice field would answer "no such region" for one outside
    # the scope and so confirm that it exists; a plain filter on the scoped rows just finds nothing.
    parent = django_filters.NumberFilter(field_name="parent_id")
    parent_code = django_filters.CharFilter(field_name="parent__code")
    code = django_filters.CharFilter(field_name="code")

    class Meta:
        model = Region
        fields = ["level", "parent", "parent_code", "code"]


class RegionViewSet(viewsets.ReadOnlyModelViewSet):
    """Places (city, county, township, village) within the caller's jurisdiction."""

    lookup_value_converter = "int"
    serializer_class = RegionSerializer
    filterset_class = RegionFilter

    def get_queryset(self) -> QuerySet[Region]:
        return scoped(Region.objects.select_related("parent"), self.request.user).order_by("code")
