"""Browser forms for the money side of benefits: payroll, deaths, overpayments, death settlement, transfers.

They only shape input for the services, which hold every rule and refuse with a Chinese message naming the
field (``DomainError.field``); the form shows it next to that field. Amounts stay text: the services parse
them (Decimal from text, never float). Uploads are checked as the register's are (size and extension).
"""

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from agencies.models import PoolingRegion, Region
from benefits.models import RecoveryMethod
from enrollment.forms import (
    PROOF_EXTENSIONS,
    REGISTER_EXTENSIONS,
    DomainErrorForm,
    VillageChoiceField,
    check_upload,
)

DATE_ERRORS = {"invalid": _("请按“年-月-日”填写日期，例如2025-03-15。")}
MONTH_ERRORS = {"invalid": _("请按“年-月”填写月份，例如2025-04。"), "required": _("请选择发放月份。")}


def _date(label, **kwargs) -> forms.DateField:
    return forms.DateField(
        label=label,
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages=DATE_ERRORS,
        **kwargs,
    )


def _text(label, max_length: int, **kwargs) -> forms.CharField:
    # Length and format rules live in the services; the form only caps what a browser may send.
    return forms.CharField(label=label, max_length=max_length, required=False, strip=True, **kwargs)


def _amount(label, **kwargs) -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=20,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
        **kwargs,
    )


def _years(label, **kwargs) -> forms.IntegerField:
    return forms.IntegerField(
        label=label,
        min_value=0,
        max_value=60,
        error_messages={
            "required": _("请填写缴费年限。"),
            "invalid": _("缴费年限须为整数。"),
            "min_value": _("缴费年限不能为负数。"),
            "max_value": _("缴费年限不能超过60年。"),
        },
        widget=forms.NumberInput(attrs={"class": "small-number"}),
        **kwargs,
    )


class _Upload(forms.FileField):
    """A file field checked like the register's uploads: size limit and allowed extensions."""

    def __init__(self, *, extensions: tuple[str, ...], **kwargs):
        self.extensions = extensions
        kwargs.setdefault("error_messages", {"required": _("请选择要上传的文件。")})
        kwargs.setdefault("widget", forms.ClearableFileInput(attrs={"accept": ",".join(extensions)}))
        super().__init__(**kwargs)

    def clean(self, data, initial=None):
        upload = super().clean(data, initial)
        if upload:
            check_upload(upload, self.extensions)
        return upload


# --- payroll -----------------------------------------------------------------------------------------------


class PayrollPrepareForm(DomainErrorForm):
    """试算: a pooling region the user covers and a month."""

    pooling_region = forms.ModelChoiceField(
        label=_("统筹区"),
        queryset=PoolingRegion.objects.none(),
        empty_label=_("请选择"),
        error_messages={
            "required": _("请选择统筹区。"),
            "invalid_choice": _("所选统筹区不全在您的管辖范围内，请重新选择。"),
        },
    )
    month = forms.DateField(
        label=_("发放月份"),
        input_formats=["%Y-%m", "%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "month"}, format="%Y-%m"),
        error_messages=MONTH_ERRORS,
    )

    def __init__(self, *args, pooling_regions: QuerySet[PoolingRegion], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["pooling_region"].queryset = pooling_regions
        if not self.is_bound:
            only = list(pooling_regions[:2])
            if len(only) == 1:  # a county covers one pooling region: no need to choose it
                self.initial.setdefault("pooling_region", only[0].pk)


# --- deaths ------------------------------------------------------------------------------------------------


class DeathListUploadForm(DomainErrorForm):
    file = _Upload(
        label=_("死亡火化名单"),
        extensions=REGISTER_EXTENSIONS,
        help_text=_(".xlsx 或 .csv 文件：第一列身份证号，第二列死亡日期（如 2025-03-18），可有标题行。"),
    )


class DeathRecordForm(DomainErrorForm):
    died_on = _date(_("死亡日期"))
    source = _text(
        _("信息来源"),
        100,
        help_text=_("如：家属报告、村协理员报告、公安户籍注销、医学死亡证明编号。"),
    )

    def clean_died_on(self):
        value = self.cleaned_data.get("died_on")
        if value is None:
            raise forms.ValidationError(_("请填写死亡日期。"))
        return value

    def clean_source(self):
        value = self.cleaned_data.get("source", "")
        if not value:
            raise forms.ValidationError(_("请填写信息来源。"))
        return value


class PersonFindForm(forms.Form):
    id_number = forms.CharField(label=_("身份证号"), max_length=30, required=False, strip=True)


# --- overpayments ------------------------------------------------------------------------------------------

# Offsets against later benefits are set as a monthly amount (the payroll takes them), not entered as steps.
RECOVERY_METHODS = [(value, label) for value, label in RecoveryMethod.choices if value != RecoveryMethod.BENEFIT_OFFSET]


class RecoveryForm(DomainErrorForm):
    """One step of recovery: a repayment, an instalment, or an offset against the account balance."""

    method = forms.ChoiceField(label=_("追回方式"), choices=[("", _("请选择")), *RECOVERY_METHODS], required=False)
    amount = _amount(_("金额（元）"))
    on = _date(_("日期"))
    reference = _text(_("凭证号"), 64, help_text=_("银行回单号或收据号；抵扣个人账户时填写审批单号。"))
    note = forms.CharField(label=_("说明"), required=False, max_length=500, widget=forms.Textarea(attrs={"rows": 2}))

    def clean_method(self):
        value = self.cleaned_data.get("method", "")
        if not value:
            raise forms.ValidationError(_("请选择追回方式。"))
        return value

    def clean_on(self):
        value = self.cleaned_data.get("on")
        if value is None:
            raise forms.ValidationError(_("请填写日期。"))
        return value


class OffsetForm(DomainErrorForm):
    per_month = _amount(_("每月从待遇中抵扣（元）"), help_text=_("填 0 停止抵扣。"))


class ReferForm(DomainErrorForm):
    note = forms.CharField(
        label=_("移交说明"), required=False, max_length=1000, widget=forms.Textarea(attrs={"rows": 2})
    )


# --- death settlement, other pension -----------------------------------------------------------------------


class DeathSettlementForm(DomainErrorForm):
    heir_name = _text(_("继承人姓名"), 50)
    heir_id_number = _text(
        _("继承人身份证号"), 30, widget=forms.TextInput(attrs={"class": "id-number", "autocomplete": "off"})
    )
    heir_relation = _text(_("与死者关系"), 20, help_text=_("如：配偶、子女、父母。"))
    heir_bank_code = _text(_("开户银行代码"), 10)
    heir_bank_account = _text(_("银行账号"), 32)
    proof = _Upload(
        label=_("继承权证明"),
        extensions=PROOF_EXTENSIONS,
        required=False,  # the service says why it is needed, in its own words
        help_text=_("死亡证明及继承权公证书、法院文书或亲属关系证明的扫描件，PDF或图片。"),
        widget=forms.ClearableFileInput(attrs={"accept": ",".join(PROOF_EXTENSIONS), "required": True}),
    )


class OtherPensionStopForm(DomainErrorForm):
    employee_pension_from = _date(
        _("开始领取职工养老金日期"), help_text=_("本保险待遇自该月起停发，此后已发的基础养老金予以追回。")
    )

    def clean_employee_pension_from(self):
        value = self.cleaned_data.get("employee_pension_from")
        if value is None:
            raise forms.ValidationError(_("请填写开始领取职工养老金的日期。"))
        return value


# --- transfers ---------------------------------------------------------------------------------------------


class TransferRequestForm(DomainErrorForm):
    """转入地申请: the receiving side asks for a person whose hukou has moved here."""

    id_number = _text(_("身份证号"), 30, widget=forms.TextInput(attrs={"class": "id-number", "autocomplete": "off"}))
    to_village = VillageChoiceField(
        label=_("转入村（社区）"),
        queryset=Region.objects.none(),
        to_field_name="code",
        empty_label=_("请选择"),
        error_messages={
            "required": _("请选择转入的村（社区）。"),
            "invalid_choice": _("所选村（社区）不在您的管辖范围内，请重新选择。"),
        },
    )
    hukou_moved_on = _date(_("户籍迁入日期"))
    reference = _text(_("转移联系函编号"), 64)

    def __init__(self, *args, villages: QuerySet[Region], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["to_village"].queryset = villages
        if not self.is_bound:
            only = list(villages[:2])
            if len(only) == 1:
                self.initial.setdefault("to_village", only[0].code)

    def clean_hukou_moved_on(self):
        value = self.cleaned_data.get("hukou_moved_on")
        if value is None:
            raise forms.ValidationError(_("请填写户籍迁入日期。"))
        return value


class ToEmployeesForm(DomainErrorForm):
    """转入职工养老保险 (15 or more employee years)."""

    employee_years = _years(_("职工养老保险缴费年限"))
    reference = _text(_("职工养老保险经办机构联系函编号"), 64)


class FromEmployeesForm(DomainErrorForm):
    """职工养老保险转入 (fewer than 15 employee years)."""

    employee_years = _years(_("职工养老保险缴费年限"))
    amount = _amount(_("转入个人账户金额（元）"))
    reference = _text(_("职工养老保险经办机构联系函编号"), 64)
