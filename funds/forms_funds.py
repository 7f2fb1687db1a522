"""Browser forms of the fund accounts and the three-way reconciliation: the month-end sweep, a finance receipt,
an account's bank and number, a reconciliation's account and period, clearing a difference, finance's
confirmation. They only shape input: ``funds.fund_accounts`` and ``funds.reconciliation`` hold the rules and
refuse with a message naming the field, which the form shows next to it (``DomainErrorForm``).

A pooling region or an account is chosen among those the user covers wholly (``covered_pooling_regions``): one
outside is not offered, and choosing it anyway is refused as an invalid choice.
"""

from __future__ import annotations

import datetime as dt
import re

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from agencies.models import PoolingRegion
from enrollment.forms import DomainErrorForm
from funds.forms_bank import PartnerChoiceField
from funds.models import BankPartner, Fund, FundAccount, FundAccountKind

_MONTH = re.compile(r"(\d{4})-(\d{1,2})")


class PoolingRegionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: PoolingRegion) -> str:
        return f"{obj.name}（{obj.code}）"


class FundAccountChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: FundAccount) -> str:
        label = f"{obj.pooling_region.name} · {obj.get_kind_display()}"
        if obj.account_number:
            bank = obj.bank_partner.name if obj.bank_partner_id else ""
            label += f" · {bank} {obj.account_number}".rstrip()
        return label


def _pooling_region_field() -> PoolingRegionChoiceField:
    return PoolingRegionChoiceField(
        label=_("统筹区"),
        queryset=PoolingRegion.objects.none(),
        empty_label=_("请选择"),
        error_messages={
            "required": _("请选择统筹区。"),
            "invalid_choice": _("所选统筹区不全在您的管辖范围内，请重新选择。"),
        },
    )


def _date_field(label, **kwargs) -> forms.DateField:
    # Blank passes as None: the service says what is missing, next to the field.
    return forms.DateField(
        label=label,
        required=False,
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": _("日期格式应为“年-月-日”，例如2026-03-31。")},
        **kwargs,
    )


def _money_field(label) -> forms.CharField:
    # Text as typed: ``parse_money`` reads it (never a float) and refuses with the field's name.
    return forms.CharField(
        label=label,
        max_length=30,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off", "class": "money"}),
    )


def _reference_field(label, help_text="") -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=100,
        required=False,
        help_text=help_text,
        widget=forms.TextInput(attrs={"autocomplete": "off", "class": "mono"}),
    )


class _RegionForm(DomainErrorForm):
    """A form whose first field is a pooling region among ``pooling_regions``; preset when there is only one."""

    def __init__(self, *args, pooling_regions: QuerySet[PoolingRegion], region: PoolingRegion | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["pooling_region"].queryset = pooling_regions
        if not self.is_bound:
            if region is not None:
                self.initial.setdefault("pooling_region", region.pk)
            else:
                only = list(pooling_regions[:2])
                if len(only) == 1:  # a county fund officer covers one pooling region: no need to choose it
                    self.initial.setdefault("pooling_region", only[0].pk)


class SweepForm(_RegionForm):
    """月末归集: a region's income account at the end of an ended month, moved to its fiscal special account."""

    pooling_region = _pooling_region_field()
    month = forms.CharField(
        label=_("归集月份"),
        max_length=7,
        required=False,
        help_text=_("将收入户截至该月末的余额（分基金）全部划入财政专户，记账日期为该月最后一天。"),
        widget=forms.TextInput(attrs={"type": "month", "placeholder": "2026-03", "autocomplete": "off"}),
    )

    def clean_month(self) -> dt.date:
        raw = self.cleaned_data["month"].strip()
        if not raw:
            raise forms.ValidationError(_("请填写归集月份。"))
        match = _MONTH.fullmatch(raw)
        if match is None or not 1 <= int(match.group(2)) <= 12:
            raise forms.ValidationError(_("归集月份格式应为“年-月”，例如2026-03。"))
        return dt.date(int(match.group(1)), int(match.group(2)), 1)


class FinanceReceiptForm(_RegionForm):
    """财政资金到账: government money arriving in the fiscal special account."""

    pooling_region = _pooling_region_field()
    fund = forms.ChoiceField(
        label=_("基金"),
        choices=[("", _("请选择"))] + list(Fund.choices),
        required=False,
    )
    amount = _money_field(_("金额（元）"))
    booked_on = _date_field(_("到账日期"))
    reference = _reference_field(_("业务编号"), _("财政拨款单据上的编号；同一编号同一基金只记一次。"))


class FundAccountBankForm(_RegionForm):
    """开户银行和账号 of one of a region's three accounts; the bank's statements are addressed by this number."""

    pooling_region = _pooling_region_field()
    kind = forms.ChoiceField(
        label=_("账户"), choices=[("", _("请选择"))] + list(FundAccountKind.choices), required=False
    )
    partner = PartnerChoiceField(
        label=_("开户银行"),
        queryset=BankPartner.objects.none(),
        empty_label=_("请选择"),
        error_messages={
            "required": _("请选择开户银行。"),
            "invalid_choice": _("所选银行已停止合作或不服务于您管辖的统筹区，请重新选择。"),
        },
    )
    account_number = forms.CharField(
        label=_("账号"),
        max_length=64,
        required=False,
        help_text=_("1至32位数字或字母，与银行对账单上的账号一致。收到该账户的对账单后不能再更改。"),
        widget=forms.TextInput(attrs={"autocomplete": "off", "class": "mono"}),
    )

    def __init__(self, *args, partners: QuerySet[BankPartner], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["partner"].queryset = partners


class PeriodForm(forms.Form):
    """The period of the reconciliation summary (GET): bad or missing dates fall back to the default."""

    date_from = _date_field(_("起始日期"))
    date_to = _date_field(_("截止日期"))


class ReconcileForm(DomainErrorForm):
    """三方对账 of one fund account over a period (a year at most)."""

    account = FundAccountChoiceField(
        label=_("账户"),
        queryset=FundAccount.objects.none(),
        empty_label=_("请选择"),
        error_messages={
            "required": _("请选择要对账的账户。"),
            "invalid_choice": _("所选账户不在您管辖的统筹区内，请重新选择。"),
        },
    )
    date_from = _date_field(_("起始日期"))
    date_to = _date_field(_("截止日期"))

    def __init__(self, *args, accounts: QuerySet[FundAccount], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["account"].queryset = accounts


class DifferenceClearForm(DomainErrorForm):
    """处理对账差异: the reason is required (the service says so when it is blank)."""

    reason = forms.CharField(
        label=_("处理说明"),
        max_length=2000,
        required=False,
        help_text=_("写明差异的原因和处理方式，例如“银行手续费，已报销”“款项已于次日到账”。"),
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class FinanceConfirmationForm(_RegionForm):
    """录入财政确认 of a sweep (GJ…) or a funding transfer (YK…): its whole amount, both funds together."""

    pooling_region = _pooling_region_field()
    reference = _reference_field(_("业务编号"), _("归集或拨付的划转编号，如GJ320412202603。"))
    amount = _money_field(_("确认金额（元）"))
    confirmed_on = _date_field(_("确认日期"))
    document_number = _reference_field(_("财政单据号"))
