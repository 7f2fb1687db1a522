"""Browser forms of the merger pages. They only shape input: the services hold the rules and refuse with a
message naming the field, which the form shows next to it (``DomainErrorForm``)."""

from __future__ import annotations

from pathlib import Path

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from agencies.models import PoolingRegion
from enrollment.forms import DomainErrorForm, check_upload
from migration.selectors import TownChoice

MAPPING_EXTENSIONS = (".csv", ".xlsx")


class PoolingRegionField(forms.ModelChoiceField):
    def label_from_instance(self, obj: PoolingRegion) -> str:
        return f"{obj.name}（{obj.code}）"


def _pooling_region_field(label: str) -> PoolingRegionField:
    return PoolingRegionField(
        label=label,
        queryset=PoolingRegion.objects.none(),
        empty_label=_("请选择"),
        error_messages={
            "required": _("请选择统筹区。"),
            "invalid_choice": _("所选统筹区不全在您的管辖范围内，请重新选择。"),
        },
    )


def _date(label, help_text=""):
    return forms.DateField(
        label=label,
        help_text=help_text,
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"required": _("请填写%(label)s。") % {"label": label}, "invalid": _("日期格式应为 年-月-日。")},
    )


class ProjectForm(DomainErrorForm):
    """新建并轨项目."""

    name = forms.CharField(label=_("项目名称"), max_length=100, error_messages={"required": _("请填写项目名称。")})
    source_pooling_region = _pooling_region_field(_("源统筹区"))
    source_towns = forms.MultipleChoiceField(
        label=_("只并入部分乡镇"),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 8}),
        help_text=_("整个源统筹区并入时不选；只有部分乡镇并入时选择这些乡镇（须属于源统筹区）。"),
        error_messages={"invalid_choice": _("所选乡镇不在您的管辖范围内。")},
    )
    target_pooling_region = _pooling_region_field(_("目标统筹区"))
    cutover_date = _date(_("切换日期"), _("自该日起只在目标统筹区办理业务。"))
    source_tiers_until = _date(_("原档次执行至"), _("此前按原办法选定的缴费档次执行到该日，之后执行目标统筹区档次。"))
    default_tier = forms.DecimalField(
        label=_("默认档次（元）"),
        required=False,
        max_digits=14,
        decimal_places=2,
        min_value=0,
        help_text=_("未选档次的人员按此档次；不填表示目标统筹区最低档。"),
        error_messages={"invalid": _("请填写金额，如 300。")},
    )
    fold_pooled = forms.BooleanField(label=_("统筹账户并入个人账户"), required=False, initial=True)
    deemed_years_until = _date(
        _("视同缴费年限认定截止"), _("此前认定的视同缴费年限（如军龄）继续计算，此后新参保人员不再认定。")
    )

    def __init__(self, *args, pooling_regions: list[PoolingRegion], towns: list[TownChoice], **kwargs):
        super().__init__(*args, **kwargs)
        ids = [region.pk for region in pooling_regions]
        for name in ("source_pooling_region", "target_pooling_region"):
            self.fields[name].queryset = PoolingRegion.objects.filter(pk__in=ids).order_by("code")
        self.fields["source_towns"].choices = [(town.code, town.label) for town in towns]

    def clean(self):
        data = super().clean()
        source, target = data.get("source_pooling_region"), data.get("target_pooling_region")
        if source is not None and target is not None and source.pk == target.pk:
            self.add_error("target_pooling_region", _("源统筹区和目标统筹区不能相同。"))
        return data


class PackageUploadForm(forms.Form):
    """上传数据包 (.zip), up to the merger package limit."""

    file = forms.FileField(label=_("数据包（.zip）"), error_messages={"required": _("请选择要上传的数据包。")})

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > settings.MERGER_PACKAGE_MAX_BYTES:
            limit = settings.MERGER_PACKAGE_MAX_BYTES // (1024 * 1024)
            raise forms.ValidationError(_("数据包过大，最大允许 %(mb)s MB。") % {"mb": limit})
        if Path(upload.name).suffix.lower() != ".zip":
            raise forms.ValidationError(_("数据包应为 .zip 文件。"))
        return upload


class MappingFileForm(forms.Form):
    """区划对照文件: one line per source code and its target code."""

    file = forms.FileField(label=_("对照文件（.csv 或 .xlsx）"), error_messages={"required": _("请选择对照文件。")})

    def clean_file(self):
        upload = self.cleaned_data["file"]
        check_upload(upload, MAPPING_EXTENSIONS)
        return upload


class MappingConfirmForm(DomainErrorForm):
    source_code = forms.CharField(label=_("原区划代码"), max_length=12)
    target_code = forms.CharField(label=_("新村/社区代码"), max_length=12)


class SurveyItemForm(DomainErrorForm):
    """档案摸底: one kind of record and where it is kept."""

    kind = forms.CharField(label=_("档案类别"), max_length=100, required=False)
    region_code = forms.CharField(label=_("区划代码"), max_length=12, required=False)
    place = forms.CharField(label=_("存放地点"), max_length=200, required=False)
    years = forms.CharField(label=_("年度"), max_length=40, required=False)
    quantity = forms.IntegerField(label=_("数量（卷/盒）"), min_value=0, initial=0, required=False)
    note = forms.CharField(label=_("备注"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
