"""Browser forms of the supervision pages: a region's targets, the targets' import, an inspector's score, a fund's
warning threshold. They only shape input: ``portal.targets``, ``portal.assessment`` and ``portal.warning`` hold
the rules and refuse with a message naming the field, which the form shows next to it (``DomainErrorForm``).

A region or pooling region is chosen among those the user may act on; one outside is not offered, and the views
answer 404 before a form sees a foreign code.
"""

from __future__ import annotations

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from agencies.models import PoolingRegion, Region
from enrollment.forms import REGISTER_EXTENSIONS, DomainErrorForm, check_upload


class RegionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Region) -> str:
        return f"{obj.name}（{obj.code}）"


class PoolingRegionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: PoolingRegion) -> str:
        return f"{obj.name}（{obj.code}）"


def _year_field() -> forms.IntegerField:
    return forms.IntegerField(
        label=_("年度"),
        required=False,
        widget=forms.NumberInput(attrs={"class": "year-input", "min": 2009, "max": 2100}),
        error_messages={"invalid": _("请填写年度，例如 2026。")},
    )


def _figure(label, help_text="", *, percent: bool = False) -> forms.CharField:
    # Text as typed: the service reads it (never a float) and refuses with the field's name.
    attrs = {"inputmode": "decimal" if percent else "numeric", "autocomplete": "off", "class": "small-number"}
    return forms.CharField(
        label=label, max_length=20, required=False, help_text=help_text, widget=forms.TextInput(attrs=attrs)
    )


class TargetForm(DomainErrorForm):
    """目标任务: a county's or township's four figures for a year; a figure left blank has no target."""

    region = RegionChoiceField(
        label=_("下达区划"),
        queryset=Region.objects.none(),
        to_field_name="code",
        empty_label=_("请选择"),
        error_messages={
            "required": _("请选择县（市、区）或乡镇（街道）。"),
            "invalid_choice": _("只能为您管辖范围内的下级县、乡镇下达目标任务，请重新选择。"),
        },
    )
    year = _year_field()
    new_members = _figure(_("新增参保（人）"))
    renewals = _figure(_("续保（人）"))
    coverage_rate = _figure(_("参保率（%）"), _("填百分数，如 98 或 98.5"), percent=True)
    payout_rate = _figure(_("发放率（%）"), _("填百分数，如 100"), percent=True)

    def __init__(self, *args, regions: QuerySet[Region], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["region"].queryset = regions


class TargetImportForm(DomainErrorForm):
    """导入目标任务: one year's targets from the template (.xlsx) or a .csv with the same columns."""

    year = _year_field()
    file = forms.FileField(
        label=_("目标任务文件"),
        required=False,
        help_text=_("列：区划代码、新增参保、续保、参保率、发放率（.xlsx 或 .csv）。全部行无误才会导入。"),
    )

    def clean_file(self):
        upload = self.cleaned_data.get("file")
        if upload is None:
            raise forms.ValidationError(_("请选择要导入的文件。"))
        check_upload(upload, REGISTER_EXTENSIONS)
        return upload


class AssessmentEntryForm(DomainErrorForm):
    """人工评分: an inspector's score for one of a region's judged items."""

    item = forms.ChoiceField(label=_("评估项目"), required=False)
    score = _figure(_("得分"), _("不超过该项满分，最多一位小数"), percent=True)
    note = forms.CharField(
        label=_("说明"),
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
        help_text=_("检查发现的情况，最多200字"),
    )

    def __init__(self, *args, items: list[tuple[str, str, int]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["item"].choices = [("", _("请选择"))] + [
            (key, f"{label}（满分{points}分）") for key, label, points in items
        ]


class FundWarningForm(DomainErrorForm):
    """基金预警线: the months of payouts below which a pooling region's fund is flagged."""

    pooling_region = PoolingRegionChoiceField(
        label=_("统筹区"),
        queryset=PoolingRegion.objects.none(),
        empty_label=_("请选择"),
        error_messages={
            "required": _("请选择统筹区。"),
            "invalid_choice": _("所选统筹区不全在您的管辖范围内，请重新选择。"),
        },
    )
    threshold_months = _figure(_("预警线（可支付月数）"), _("例如 6 或 4.5；低于此月数时预警"), percent=True)

    def __init__(self, *args, pooling_regions: QuerySet[PoolingRegion], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["pooling_region"].queryset = pooling_regions
