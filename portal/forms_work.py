"""Browser forms of the work pages. They only shape input; ``portal.timelimits.time_limit_set`` holds the rules."""

from __future__ import annotations

from django import forms
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from agencies.errors import DomainError
from agencies.models import PoolingRegion
from portal.models import WorkKind
from portal.timelimits import STATUTORY_WORKING_DAYS


class PoolingRegionChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: PoolingRegion) -> str:
        return f"{obj.name}（{obj.code}）"


class TimeLimitForm(forms.Form):
    """办理时限 of a kind in a pooling region, from a date."""

    pooling_region = PoolingRegionChoice(label=_("统筹区"), queryset=PoolingRegion.objects.none())
    kind = forms.ChoiceField(
        label=_("业务类型"),
        choices=[
            (kind, format_lazy(_("{label}（法定{days}个工作日）"), label=label, days=STATUTORY_WORKING_DAYS[kind]))
            for kind, label in WorkKind.choices
        ],
    )
    working_days = forms.IntegerField(
        label=_("办理时限（工作日）"), error_messages={"invalid": _("办理时限应为整数个工作日。")}
    )
    valid_from = forms.DateField(
        label=_("生效日期"),
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("自该日起受理的业务按新时限计算；此前受理的仍按原时限。"),
    )

    def __init__(self, *args, pooling_regions, **kwargs):
        kwargs.setdefault("initial", {"valid_from": timezone.localdate()})
        super().__init__(*args, **kwargs)
        self.fields["pooling_region"].queryset = pooling_regions

    def add_domain_error(self, error: DomainError) -> None:
        self.add_error(error.field if error.field in self.fields else None, error.message)
