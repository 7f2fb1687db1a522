"""Browser forms for claims, awards, parameters and eligibility checks. They only shape input for the
services, which hold every rule and refuse with a Chinese message naming the field (``DomainError.field``);
the form shows it next to that field.

Amounts stay text: ``benefits.services.pension_parameters_set`` parses them (Decimal from text, never float).
Months are entered as ``YYYY-MM`` and handed on as the first day of the month.
"""

import datetime as dt

from django import forms
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from agencies.models import PoolingRegion
from benefits.models import AwardCategory, CheckChannel, StopReason
from enrollment.forms import DomainErrorForm

MONTH_ERRORS = {"invalid": _("请按“年-月”填写月份，例如2025-07。")}
DATE_ERRORS = {"invalid": _("请按“年-月-日”填写日期，例如2025-03-15。")}


def parse_month(raw: str | None) -> dt.date | None:
    """``2025-07`` (or ``2025-07-01``) → 2025-07-01; anything else → None."""
    raw = (raw or "").strip()
    for fmt in ("%Y-%m", "%Y-%m-%d"):
        try:
            day = dt.datetime.strptime(raw, fmt).date()
        except ValueError:
            continue
        if 1990 <= day.year <= 2100:
            return day.replace(day=1)
    return None


def _month(label, **kwargs) -> forms.DateField:
    return forms.DateField(
        label=label,
        required=False,
        input_formats=["%Y-%m", "%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "month"}, format="%Y-%m"),
        error_messages=MONTH_ERRORS,
        **kwargs,
    )


def _date(label, **kwargs) -> forms.DateField:
    return forms.DateField(
        label=label,
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages=DATE_ERRORS,
        **kwargs,
    )


def _amount(label, **kwargs) -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=20,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
        **kwargs,
    )


def _note(label=None, *, rows: int = 2, **kwargs) -> forms.CharField:
    return forms.CharField(
        label=label or _("说明"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": rows}),
        **kwargs,
    )


def _choices(choices) -> list:
    return [("", _("请选择")), *choices]


# --- claims ------------------------------------------------------------------------------------------------


class ClaimForm(DomainErrorForm):
    """待遇申请表: the category and where the money goes (the person's card account unless another is given)."""

    category = forms.ChoiceField(label=_("待遇类别"), choices=AwardCategory.choices, required=False)
    bank_code = forms.CharField(
        label=_("发放银行代码"),
        max_length=10,
        required=False,
        help_text=_("不填则使用参保登记的开户银行。"),
    )
    bank_account = forms.CharField(
        label=_("发放账号"),
        max_length=32,
        required=False,
        help_text=_("不填则使用参保登记的社会保障卡银行账号。"),
        widget=forms.TextInput(attrs={"autocomplete": "off", "class": "mono"}),
    )

    def clean_category(self):
        category = self.cleaned_data.get("category") or ""
        if category not in AwardCategory.values:
            raise forms.ValidationError(_("请选择待遇类别。"))
        return category


class ClaimReturnForm(DomainErrorForm):
    reason = forms.CharField(
        label=_("退回原因"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2, "required": True}),
    )


# --- awards ------------------------------------------------------------------------------------------------


class AwardStopForm(DomainErrorForm):
    """Suspend (暂停) or stop (终止) from a month, with the reason."""

    from_month = _month(_("自该月起停发"))
    reason = forms.ChoiceField(label=_("原因"), choices=_choices(StopReason.choices), required=False)
    note = _note()

    def clean_from_month(self):
        month = self.cleaned_data.get("from_month")
        if month is None:
            raise forms.ValidationError(_("请填写自哪个月起停发。"))
        return month.replace(day=1)

    def clean_reason(self):
        reason = self.cleaned_data.get("reason") or ""
        if reason not in StopReason.values:
            raise forms.ValidationError(_("请选择停发原因。"))
        return reason

    def clean(self):
        data = super().clean()
        if data.get("reason") == StopReason.OTHER and not (data.get("note") or "").strip():
            self.add_error("note", _("选择“其他”时请说明原因。"))
        return data


class AwardResumeForm(DomainErrorForm):
    note = _note(_("恢复说明"))


class YearlyCheckForm(DomainErrorForm):
    """年检: the year, how it was done, when, and whether it passed."""

    year = forms.IntegerField(
        label=_("认证年度"),
        required=False,
        min_value=2009,
        max_value=2100,
        widget=forms.NumberInput(attrs={"class": "year-input"}),
        error_messages={
            "invalid": _("请填写四位年份。"),
            "min_value": _("年度不正确。"),
            "max_value": _("年度不正确。"),
        },
    )
    channel = forms.ChoiceField(label=_("认证方式"), choices=_choices(CheckChannel.choices), required=False)
    checked_on = _date(_("认证日期"))
    passed = forms.TypedChoiceField(
        label=_("认证结果"),
        choices=[("1", _("通过")), ("0", _("未通过"))],
        coerce=lambda value: value == "1",
        initial="1",
        required=False,
        empty_value=True,
    )
    note = _note()

    def clean_year(self):
        year = self.cleaned_data.get("year")
        if year is None:
            raise forms.ValidationError(_("请填写认证年度。"))
        return year

    def clean_channel(self):
        channel = self.cleaned_data.get("channel") or ""
        if channel not in CheckChannel.values:
            raise forms.ValidationError(_("请选择认证方式。"))
        return channel

    def clean_checked_on(self):
        checked_on = self.cleaned_data.get("checked_on")
        if checked_on is None:
            raise forms.ValidationError(_("请填写认证日期。"))
        if checked_on > timezone.localdate():
            raise forms.ValidationError(_("认证日期不能晚于今天。"))
        return checked_on


# --- parameters --------------------------------------------------------------------------------------------


class PoolingRegionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: PoolingRegion) -> str:
        return f"{obj.name}（{obj.code}）"


class ParametersForm(DomainErrorForm):
    """待遇计发参数 from a month on. An amount left empty keeps the previous row's value."""

    pooling_region = PoolingRegionChoiceField(
        label=_("统筹区"),
        queryset=PoolingRegion.objects.none(),
        to_field_name="code",
        empty_label=_("请选择"),
        required=False,
        error_messages={"invalid_choice": _("所选统筹区不全在您的管辖范围内，请重新选择。")},
    )
    valid_from = _month(_("执行月份"), help_text=_("自该月1日起执行；已发放的月份按新标准计算补发。"))
    central_minimum = _amount(_("中央基础养老金最低标准(元/月)"))
    local_top_up = _amount(_("地方提高部分(元/月)"))
    per_year_beyond_minimum = _amount(_("超过最低缴费年限每年加发(元/月)"))
    addition_at_65 = _amount(_("65周岁以上加发(元/月)"))
    addition_at_80 = _amount(_("80周岁以上加发(元/月)"))
    urban_elderly_allowance = _amount(_("城镇老年补贴(元/月)"), help_text=_("0 表示本统筹区不发放。"))
    funeral_grant_fixed = _amount(_("丧葬补助金固定金额(元)"))
    funeral_grant_months = _amount(_("丧葬补助金(月基础养老金倍数)"))
    account_divisor = forms.CharField(label=_("个人账户养老金计发月数"), max_length=4, required=False)
    pension_age = forms.CharField(label=_("领取年龄"), max_length=3, required=False)
    minimum_years = forms.CharField(label=_("最低缴费年限"), max_length=3, required=False)
    note = forms.CharField(label=_("文件依据"), max_length=200, required=False)

    VALUE_FIELDS = (
        "central_minimum",
        "local_top_up",
        "per_year_beyond_minimum",
        "addition_at_65",
        "addition_at_80",
        "urban_elderly_allowance",
        "funeral_grant_fixed",
        "funeral_grant_months",
        "account_divisor",
        "pension_age",
        "minimum_years",
    )

    def __init__(self, *args, pooling_regions: QuerySet[PoolingRegion], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["pooling_region"].queryset = pooling_regions
        if not self.is_bound:
            only = list(pooling_regions[:2])
            if len(only) == 1:
                self.initial.setdefault("pooling_region", only[0].code)

    def clean_pooling_region(self):
        region = self.cleaned_data.get("pooling_region")
        if region is None:
            raise forms.ValidationError(_("请选择统筹区。"))
        return region

    def clean_valid_from(self):
        month = self.cleaned_data.get("valid_from")
        if month is None:
            raise forms.ValidationError(_("请填写执行月份。"))
        return month.replace(day=1)

    def values(self) -> dict[str, str]:
        return {name: self.cleaned_data[name] for name in self.VALUE_FIELDS if self.cleaned_data.get(name)}


# --- eligibility checks ------------------------------------------------------------------------------------


class StopReportForm(DomainErrorForm):
    """The village agent's stop report for a recipient (报停), with the reason."""

    stop_reason = forms.ChoiceField(label=_("停发原因"), choices=_choices(StopReason.choices), required=False)
    note = _note(help_text=_("死亡的请写明死亡日期；选择“其他”时必须说明。"))

    def clean_stop_reason(self):
        reason = self.cleaned_data.get("stop_reason") or ""
        if reason not in StopReason.values:
            raise forms.ValidationError(_("请选择停发原因。"))
        return reason
