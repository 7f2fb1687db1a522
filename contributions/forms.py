"""Browser forms for contributions. They only shape input for the services, which hold every rule and refuse
with a Chinese message naming the field (``DomainError.field``); the form shows it next to that field.

Amounts, years and rates stay text here: the services parse them (Decimal from text, never float) and say
what is wrong in their own words.
"""

from pathlib import Path

from django import forms
from django.conf import settings
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from agencies.models import PoolingRegion, Region
from agencies.money import Rounding
from contributions.models import ContributionKind
from enrollment.forms import DomainErrorForm, VillageChoiceField
from enrollment.models import SpecialGroup

DATE_ERRORS = {"invalid": _("请按“年-月-日”填写日期，例如2025-03-15。")}
TIER_FILE_EXTENSIONS = (".xlsx", ".csv")


def _date(label, **kwargs) -> forms.DateField:
    return forms.DateField(
        label=label,
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages=DATE_ERRORS,
        **kwargs,
    )


def _year(label=None, **kwargs) -> forms.CharField:
    return forms.CharField(
        label=label or _("缴费年度"),
        max_length=4,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "class": "year-input", "autocomplete": "off"}),
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


def _village(villages: QuerySet[Region], **kwargs) -> VillageChoiceField:
    return VillageChoiceField(
        label=_("村（社区）"),
        queryset=villages,
        to_field_name="code",
        empty_label=_("请选择"),
        error_messages={
            "required": _("请选择村（社区）。"),
            "invalid_choice": _("所选村（社区）不在您的管辖范围内，请重新选择。"),
        },
        **kwargs,
    )


def _preselect_only(form: forms.Form, name: str, choices: QuerySet) -> None:
    """A village agent has one village (a county one pooling region): no need to choose it."""
    if not form.is_bound:
        only = list(choices[:2])
        if len(only) == 1:
            form.initial.setdefault(name, only[0].code)


# --- one person ----------------------------------------------------------------------------------------


class TierChoiceForm(DomainErrorForm):
    """缴费档次 for a year. The tier is text from a select of the year's tiers: the service refuses any other."""

    year = _year()
    amount = forms.CharField(label=_("缴费档次（元/年）"), required=False, widget=forms.Select)

    def __init__(self, *args, tiers: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["amount"].widget.choices = [("", _("请选择")), *tiers]


class CounterPaymentForm(DomainErrorForm):
    """A payment made at a bank counter, recorded from the bank's receipt: no cash passes through the clerk."""

    year = _year()
    kind = forms.ChoiceField(label=_("缴费类型"), choices=ContributionKind.choices, initial=ContributionKind.REGULAR)
    amount = _amount(_("个人缴费金额（元）"), help_text=_("回单上的实缴金额；有政府代缴的，为档次减去代缴部分。"))
    paid_on = _date(_("缴费日期"))
    bank_code = forms.CharField(label=_("银行代码"), max_length=10, required=False)
    bank_reference = forms.CharField(label=_("银行流水号"), max_length=64, required=False)


class DonationForm(DomainErrorForm):
    """社会资助 to one person for a year."""

    year = _year(_("资助年度"))
    donor = forms.CharField(label=_("资助方"), max_length=100, required=False)
    amount = _amount(_("资助金额（元）"))
    received_on = _date(_("到账日期"))


# --- a village -----------------------------------------------------------------------------------------


class CollectiveSubsidyForm(DomainErrorForm):
    """集体补助 a village grants each of its contributors for a year."""

    village = _village(Region.objects.none())
    year = _year(_("补助年度"))
    amount_per_person = _amount(_("每人补助金额（元）"))
    decision = forms.CharField(label=_("村民会议决议文号"), max_length=100, required=False)

    def __init__(self, *args, villages: QuerySet[Region], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["village"].queryset = villages
        _preselect_only(self, "village", villages)


class TierTemplateForm(forms.Form):
    """Which village's template, for which year (a GET form: the download link)."""

    village = _village(Region.objects.none())
    year = _year()

    def __init__(self, *args, villages: QuerySet[Region], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["village"].queryset = villages
        _preselect_only(self, "village", villages)


class TierImportForm(DomainErrorForm):
    year = _year()
    file = forms.FileField(
        label=_("填好的档次文件"),
        required=False,
        help_text=_("下载的模板（.xlsx）或含“身份证号”“缴费档次”两列的 .csv 文件。"),
        widget=forms.ClearableFileInput(attrs={"accept": ",".join(TIER_FILE_EXTENSIONS)}),
    )

    def clean_file(self):
        upload = self.cleaned_data.get("file")
        if not upload:
            raise forms.ValidationError(_("请选择要上传的文件。"))
        if upload.size > settings.PORTAL_MAX_UPLOAD_BYTES:
            limit_mb = settings.PORTAL_MAX_UPLOAD_BYTES // (1024 * 1024)
            raise forms.ValidationError(_("文件过大，最大允许 %(mb)s MB。") % {"mb": limit_mb})
        if Path(upload.name).suffix.lower() not in TIER_FILE_EXTENSIONS:
            raise forms.ValidationError(_("只能上传 .xlsx 或 .csv 文件。"))
        return upload


# --- policy (city supervisors) ---------------------------------------------------------------------------


class PoolingRegionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: PoolingRegion) -> str:
        return f"{obj.name}（{obj.code}）"


def _pooling_region(regions: QuerySet[PoolingRegion]) -> PoolingRegionChoiceField:
    return PoolingRegionChoiceField(
        label=_("统筹区"),
        queryset=regions,
        to_field_name="code",
        empty_label=_("请选择"),
        error_messages={
            "required": _("请选择统筹区。"),
            "invalid_choice": _("所选统筹区不在您的管辖范围内，请重新选择。"),
        },
    )


def _small_number(label, **kwargs) -> forms.IntegerField:
    return forms.IntegerField(
        label=label,
        required=False,
        widget=forms.NumberInput(attrs={"class": "small-number"}),
        error_messages={"invalid": _("请填写整数。")},
        **kwargs,
    )


class PolicyForm(DomainErrorForm):
    """A new period of a pooling region's contribution policy."""

    pooling_region = _pooling_region(PoolingRegion.objects.none())
    valid_from = _date(_("生效日期"))
    valid_to = _date(_("失效日期"), help_text=_("不填表示长期有效，直到下一期政策生效。"))
    tiers = forms.CharField(
        label=_("缴费档次及政府补贴"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 8, "class": "mono", "placeholder": "100 30\n200 35\n300 40\n500 60"}),
        help_text=_("每行一个档次：档次金额、空格、该档次的政府缴费补贴（元/年），如“500 60”。"),
    )
    window_start_month = _small_number(_("月"), initial=1)
    window_start_day = _small_number(_("日"), initial=1)
    window_end_month = _small_number(_("月"), initial=12)
    window_end_day = _small_number(_("日"), initial=31)
    allow_outside_window = forms.BooleanField(label=_("允许在征缴期外缴费"), required=False)
    back_payment_max_years = _small_number(_("补缴年限上限（年）"), initial=15)
    province_share = _amount(_("省级（%）"), initial="0")
    city_share = _amount(_("市级（%）"), initial="0")
    county_share = _amount(_("县级（%）"), initial="100")
    # Carriers of the service's refusals that concern a group of inputs; shown at that group.
    window = forms.CharField(required=False, widget=forms.HiddenInput)
    shares = forms.CharField(required=False, widget=forms.HiddenInput)
    hardship_shares = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, pooling_regions: QuerySet[PoolingRegion], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["pooling_region"].queryset = pooling_regions
        for group, label in SpecialGroup.choices:
            self.fields[f"hardship_{group}"] = _amount(label, help_text=_("代缴最低档次的百分比，不代缴不填"))
        _preselect_only(self, "pooling_region", pooling_regions)

    def hardship_fields(self) -> list[forms.BoundField]:
        return [self[f"hardship_{group}"] for group in SpecialGroup.values]

    def clean_tiers(self) -> list[tuple[str, str]]:
        lines = [line.replace("，", " ").replace(",", " ").split() for line in self.cleaned_data["tiers"].splitlines()]
        tiers = []
        for number, parts in enumerate((p for p in lines if p), start=1):
            if len(parts) != 2:
                raise forms.ValidationError(
                    _("第%(n)s个档次应写成“档次金额 补贴金额”两项，如“500 60”。") % {"n": number}
                )
            tiers.append((parts[0], parts[1]))
        return tiers

    def service_arguments(self) -> dict:
        data = self.cleaned_data
        return {
            "pooling_region": data["pooling_region"],
            "valid_from": data["valid_from"],
            "valid_to": data["valid_to"],
            "tiers": data["tiers"],
            "hardship_shares": {
                group: data[f"hardship_{group}"].strip()
                for group in SpecialGroup.values
                if data[f"hardship_{group}"].strip()
            },
            "window": tuple(
                data[name] for name in ("window_start_month", "window_start_day", "window_end_month", "window_end_day")
            ),
            "allow_outside_window": data["allow_outside_window"],
            "back_payment_max_years": 15 if data["back_payment_max_years"] is None else data["back_payment_max_years"],
            "shares": (data["province_share"], data["city_share"], data["county_share"]),
        }


class InterestRateForm(DomainErrorForm):
    pooling_region = _pooling_region(PoolingRegion.objects.none())
    year = _year(_("年度"))
    rate = forms.CharField(
        label=_("记账利率"),
        max_length=20,
        required=False,
        help_text=_("百分数（如 1.5%）或小数（如 0.015）。"),
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    rounding = forms.ChoiceField(label=_("舍入规则"), choices=Rounding.choices, initial=Rounding.HALF_UP)

    def __init__(self, *args, pooling_regions: QuerySet[PoolingRegion], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["pooling_region"].queryset = pooling_regions
        _preselect_only(self, "pooling_region", pooling_regions)
