"""Browser forms of the bank side: a partner bank, a key's label, and the two issue forms (DEDUCT from the
contribution pages, PAYOUT from a confirmed payroll run). They only shape input: the services in
``funds.bank_partners``, ``contributions.bank`` and ``benefits.bank`` hold the rules and refuse with a message
naming the field, which the form shows next to it (``DomainErrorForm``)."""

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from agencies.models import PoolingRegion
from enrollment.forms import DomainErrorForm
from funds.models import BankPartner, FileEncoding


class PartnerChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: BankPartner) -> str:
        regions = "、".join(region.name for region in obj.pooling_regions.all())
        return f"{obj.name}（{obj.code}）" + (f" · {regions}" if regions else "")


class PoolingRegionsField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: PoolingRegion) -> str:
        return f"{obj.name}（{obj.code}）"


def _pooling_region_field() -> forms.ModelChoiceField:
    return forms.ModelChoiceField(
        label=_("统筹区"),
        queryset=PoolingRegion.objects.none(),
        empty_label=_("请选择"),
        error_messages={
            "required": _("请选择统筹区。"),
            "invalid_choice": _("所选统筹区不全在您的管辖范围内，请重新选择。"),
        },
    )


def _partner_field() -> PartnerChoiceField:
    return PartnerChoiceField(
        label=_("合作银行"),
        queryset=BankPartner.objects.none(),
        empty_label=_("请选择"),
        error_messages={
            "required": _("请选择合作银行。"),
            "invalid_choice": _("所选银行已停止合作或不服务于您管辖的统筹区，请重新选择。"),
        },
    )


class PartnerForm(DomainErrorForm):
    """登记或修改合作银行. The bank code is fixed once registered (the files and the API carry it)."""

    code = forms.CharField(
        label=_("银行代码"),
        max_length=20,
        required=False,
        help_text=_("1至10位字母或数字，与银行文件头中的银行代码一致。"),
        widget=forms.TextInput(attrs={"autocomplete": "off", "class": "mono"}),
    )
    name = forms.CharField(label=_("银行名称"), max_length=100, required=False)
    pooling_regions = PoolingRegionsField(
        label=_("服务的统筹区"),
        queryset=PoolingRegion.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"invalid_choice": _("所选统筹区不在您的管辖范围内。")},
    )
    encoding = forms.ChoiceField(
        label=_("文件编码"),
        choices=FileEncoding.choices,
        initial=FileEncoding.UTF8,
        help_text=_("下发文件和回盘文件使用的字符编码，按银行的要求选择。"),
    )
    active = forms.BooleanField(label=_("合作中"), required=False)

    def __init__(self, *args, pooling_regions: QuerySet[PoolingRegion], editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["pooling_regions"].queryset = pooling_regions
        if editing:
            del self.fields["code"]
        else:
            del self.fields["active"]

    def pooling_regions_for(self, partner: BankPartner | None) -> list[PoolingRegion]:
        """The regions chosen here, plus those the bank serves beyond this administrator's jurisdiction, which
        the form does not show and so must not take away."""
        chosen = list(self.cleaned_data["pooling_regions"])
        if partner is None:
            return chosen
        shown = set(self.fields["pooling_regions"].queryset.values_list("pk", flat=True))
        return chosen + [region for region in partner.pooling_regions.all() if region.pk not in shown]


class CredentialForm(DomainErrorForm):
    label = forms.CharField(
        label=_("用途说明"),
        max_length=100,
        required=False,
        help_text=_("如“代扣代发系统生产环境”，便于日后轮换或吊销时辨认。"),
    )


class DeductIssueForm(DomainErrorForm):
    """下发代扣批次: a pooling region the officer covers, a bank serving it, a contribution year."""

    pooling_region = _pooling_region_field()
    partner = _partner_field()
    year = forms.CharField(
        label=_("缴费年度"),
        max_length=4,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "class": "year-input", "autocomplete": "off"}),
    )

    def __init__(self, *args, pooling_regions: QuerySet[PoolingRegion], partners: QuerySet[BankPartner], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["pooling_region"].queryset = pooling_regions
        self.fields["partner"].queryset = partners
        if not self.is_bound:
            only = list(pooling_regions[:2])
            if len(only) == 1:  # a county fund officer covers one pooling region: no need to choose it
                self.initial.setdefault("pooling_region", only[0].pk)

    def clean_year(self) -> int:
        raw = self.cleaned_data["year"].strip()
        if not raw:
            raise forms.ValidationError(_("请填写缴费年度。"))
        if not (raw.isdigit() and len(raw) == 4):
            raise forms.ValidationError(_("缴费年度为四位数字，例如2026。"))
        return int(raw)


class PayoutIssueForm(DomainErrorForm):
    """下发代发批次 of a confirmed payroll run: the bank whose customers it pays."""

    partner = _partner_field()

    def __init__(self, *args, partners: QuerySet[BankPartner], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["partner"].queryset = partners
