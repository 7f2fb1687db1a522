"""Browser forms for the register. They only shape input for the services, which hold every rule.

Each form shows a ``DomainError`` from a service next to the field it names (``error.field``); an error
without a field (or naming a field the form does not have) goes to the top of the form.
"""

from pathlib import Path
from typing import Any

from django import forms
from django.conf import settings
from django.db.models import QuerySet
from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _

from agencies.errors import DomainError
from agencies.models import Region, RegionLevel
from agencies.scope import scoped
from enrollment.models import CancellationReason, InsuredPerson, SpecialGroup
from enrollment.services import CHANGE_FIELDS, REGISTRATION_FIELDS

# Scans and photos of certificates; anything else (HTML, scripts, office macros) has no business here.
PROOF_EXTENSIONS = (".pdf", ".jpg", ".jpeg", ".png")
REGISTER_EXTENSIONS = (".xlsx", ".csv")


def villages_in_scope(user) -> QuerySet[Region]:
    """The villages the user may register residents in, through the one jurisdiction filter."""
    return scoped(Region.objects.filter(level=RegionLevel.VILLAGE), user).select_related("parent").order_by("code")


def check_upload(upload, extensions: tuple[str, ...]) -> None:
    if upload.size > settings.PORTAL_MAX_UPLOAD_BYTES:
        limit_mb = settings.PORTAL_MAX_UPLOAD_BYTES // (1024 * 1024)
        raise forms.ValidationError(_("文件过大，最大允许 %(mb)s MB。") % {"mb": limit_mb})
    if Path(upload.name).suffix.lower() not in extensions:
        raise forms.ValidationError(_("只能上传以下格式的文件：%(ext)s。") % {"ext": "、".join(extensions)})


class DomainErrorForm(forms.Form):
    """A form that can show a service's refusal next to its field."""

    def add_domain_error(self, error: DomainError) -> None:
        field = error.field if error.field in self.fields else None
        self.add_error(field, error.message)


def _text(label, max_length: int, **kwargs) -> forms.CharField:
    # Length and format rules live in the services; the form only caps what a browser may send.
    return forms.CharField(label=label, max_length=max_length, required=False, strip=True, **kwargs)


class VillageChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Region) -> str:
        township = obj.parent.name if obj.parent_id else ""
        return f"{township} {obj.name}（{obj.code}）".strip()


# The as-you-type identity check: every input that changes its outcome asks the server again.
ID_CHECK_INCLUDE = "#id_village, #id_name, #id_id_number, #id_confirm_possible_duplicate"


def _check_attrs(trigger: str) -> dict[str, Any]:
    return {
        "hx-get": reverse_lazy("enrollment:check_id"),
        "hx-trigger": trigger,
        "hx-target": "#id-check",
        "hx-include": ID_CHECK_INCLUDE,
        "hx-sync": "closest form:replace",
        "hx-indicator": "#id-check-indicator",
    }


class RegistrationForm(DomainErrorForm):
    """参保登记表."""

    village = VillageChoiceField(
        label=_("户籍所在村（社区）"),
        queryset=Region.objects.none(),
        to_field_name="code",
        empty_label=_("请选择"),
        error_messages={
            "required": _("请选择户籍所在的村（社区）。"),
            "invalid_choice": _("所选村（社区）不在您的管辖范围内，请重新选择。"),
        },
        widget=forms.Select(attrs=_check_attrs("change")),
    )
    name = _text(_("姓名"), 50, widget=forms.TextInput(attrs=_check_attrs("change")))
    id_number = forms.CharField(
        label=_("身份证号"),
        max_length=30,  # full-width digits and spaces are normalised by the service
        required=False,
        help_text=_("18位居民身份证号，最后一位可以是X。"),
        widget=forms.TextInput(
            attrs={
                **_check_attrs("keyup changed delay:300ms, change"),
                "class": "id-number",
                "autocomplete": "off",
                "spellcheck": "false",
            }
        ),
    )
    phone = _text(_("联系电话"), 20, widget=forms.TextInput(attrs={"type": "tel"}))
    address = _text(_("住址"), 200)
    social_security_card_number = _text(_("社会保障卡号"), 20)
    bank_code = _text(_("开户银行代码"), 10)
    bank_account = _text(_("银行账号"), 40)
    # Rendered by the identity check partial, only when a same-name same-birthday resident exists.
    confirm_possible_duplicate = forms.BooleanField(label=_("确认不是同一人"), required=False)

    def __init__(self, *args, villages: QuerySet[Region], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["village"].queryset = villages
        if not self.is_bound:
            only = list(villages[:2])
            if len(only) == 1:  # a village agent has one village: no need to choose it
                self.initial.setdefault("village", only[0].code)

    def person_data(self) -> dict[str, str]:
        return {field: self.cleaned_data[field] for field in REGISTRATION_FIELDS}


class PersonFieldsForm(DomainErrorForm):
    """The fields a resubmitted registration may correct, the identity number included."""

    name = _text(_("姓名"), 50)
    id_number = _text(_("身份证号"), 30, widget=forms.TextInput(attrs={"class": "id-number", "autocomplete": "off"}))
    phone = _text(_("联系电话"), 20, widget=forms.TextInput(attrs={"type": "tel"}))
    address = _text(_("住址"), 200)
    social_security_card_number = _text(_("社会保障卡号"), 20)
    bank_code = _text(_("开户银行代码"), 10)
    bank_account = _text(_("银行账号"), 40)


class ChangeForm(PersonFieldsForm):
    """变更登记表: shown with the current values; what the clerk altered is what the application asks for."""

    reason = forms.CharField(
        label=_("变更事由"), required=False, max_length=500, widget=forms.Textarea(attrs={"rows": 3})
    )
    proof = forms.FileField(
        label=_("证明材料"),
        required=False,
        help_text=_("变更姓名或身份证号时必须上传（户口簿、身份证或公安机关证明），PDF或图片。"),
        widget=forms.ClearableFileInput(attrs={"accept": ",".join(PROOF_EXTENSIONS)}),
    )

    def __init__(self, *args, person: InsuredPerson, **kwargs):
        initial = {field: getattr(person, field) or "" for field in CHANGE_FIELDS}
        super().__init__(*args, initial=initial, **kwargs)
        self.person = person

    def clean_proof(self):
        proof = self.cleaned_data.get("proof")
        if proof:
            check_upload(proof, PROOF_EXTENSIONS)
        return proof

    def changes(self) -> dict[str, str]:
        """Only the fields the clerk altered, so a stale value elsewhere on the record cannot block the form."""
        return {
            field: self.cleaned_data[field]
            for field in CHANGE_FIELDS
            if self.cleaned_data[field] != (getattr(self.person, field) or "")
        }


class CancellationForm(DomainErrorForm):
    """注销登记表."""

    cancellation_reason = forms.ChoiceField(
        label=_("注销原因"), choices=[("", _("请选择")), *CancellationReason.choices], required=False
    )
    event_date = forms.DateField(
        label=_("事件发生日期"),
        required=False,
        help_text=_("死亡、定居国外、开始领取其他养老待遇或转出的日期。"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": _("请按“年-月-日”填写日期，例如2024-03-15。")},
    )
    proof = forms.FileField(
        label=_("证明材料"),
        required=False,  # the service says why it is needed, in its own words
        help_text=_("死亡证明、法院宣告、丧失国籍证明或其他养老待遇证明的扫描件，PDF或图片。"),
        widget=forms.ClearableFileInput(attrs={"accept": ",".join(PROOF_EXTENSIONS), "required": True}),
    )
    reason = forms.CharField(label=_("备注"), required=False, max_length=500, widget=forms.Textarea(attrs={"rows": 3}))

    def clean_proof(self):
        proof = self.cleaned_data.get("proof")
        if proof:
            check_upload(proof, PROOF_EXTENSIONS)
        return proof


class SpecialGroupForm(DomainErrorForm):
    """A special-group certification made by another department, recorded by a township or county clerk."""

    group = forms.ChoiceField(label=_("特殊群体"), choices=[("", _("请选择")), *SpecialGroup.choices], required=False)
    certified_on = forms.DateField(
        label=_("认定日期"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": _("请按“年-月-日”填写日期，例如2024-03-15。")},
    )
    ends_on = forms.DateField(
        label=_("终止日期"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": _("请按“年-月-日”填写日期，例如2024-03-15。")},
    )
    certifying_department = _text(_("认定部门"), 50, help_text=_("不填则按类别默认（如低保为民政部门）。"))
    certificate_number = _text(_("认定文号"), 50)


class ReturnForm(DomainErrorForm):
    reason = forms.CharField(
        label=_("退回原因"), required=False, max_length=1000, widget=forms.Textarea(attrs={"rows": 2, "required": True})
    )


class EmployeeRegisterUploadForm(DomainErrorForm):
    file = forms.FileField(
        label=_("职工养老参保名单"),
        help_text=_(".xlsx 或 .csv 文件，须有“身份证号”列，可有“单位名称”列。"),
        error_messages={"required": _("请选择要上传的文件。")},
        widget=forms.ClearableFileInput(attrs={"accept": ",".join(REGISTER_EXTENSIONS)}),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        check_upload(upload, REGISTER_EXTENSIONS)
        return upload


class ResolveFlagForm(DomainErrorForm):
    resolution = forms.CharField(
        label=_("处理结果"), required=False, max_length=1000, widget=forms.TextInput(attrs={"required": True})
    )
