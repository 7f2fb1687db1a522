"""Browser forms of the archives pages. They only shape input: the services hold every rule and refuse with a
message naming the field, which the form shows next to it (``DomainErrorForm``); a refusal without a field (an
occupied place, an item already lent) goes to the top of the form that was sent."""

from __future__ import annotations

import re

from django import forms
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from agencies.errors import DomainError
from agencies.models import Region, RegionLevel
from agencies.scope import scope_prefix, scoped
from archives import filecheck
from archives.models import ArchiveItem, ArchiveKind, LoanKind
from enrollment.forms import DomainErrorForm

YES_NO = [("", _("全部")), ("1", _("有")), ("0", _("无"))]
# What a clerk types may be cut anywhere by the services; the form only caps what a browser may send.
LABEL_MAX = 100
ARCHIVE_NOS_MAX = 200_000  # a county keeper's inventory pasted whole (about 25 characters a number)
# The position's column is short: longer is refused here, with the service's message.
POSITION_MAX = ArchiveItem._meta.get_field("position").max_length


def _text(label, max_length: int, required: bool = False, **kwargs) -> forms.CharField:
    return forms.CharField(label=label, max_length=max_length, required=required, strip=True, **kwargs)


class RegionField(forms.ModelChoiceField):
    """A place in scope chosen by its code, shown with its township (a village's name alone repeats)."""

    def label_from_instance(self, obj: Region) -> str:
        parent = obj.parent.name if obj.level == RegionLevel.VILLAGE and obj.parent_id else ""
        return f"{parent} {obj.name}（{obj.code}）".strip()


def filing_regions(user, *, villages: bool = True) -> QuerySet[Region]:
    """The places archives are filed under (county, township, village) within the user's scope."""
    levels = [RegionLevel.COUNTY, RegionLevel.TOWNSHIP] + ([RegionLevel.VILLAGE] if villages else [])
    return scoped(Region.objects.filter(level__in=levels), user).select_related("parent").order_by("code")


def register_regions(user) -> QuerySet[Region]:
    """The register's choices: counties and townships, and villages only for a township's staff or below (a city
    holds thousands of villages; any village in scope can still be asked for by its code)."""
    prefix = scope_prefix(user)
    return filing_regions(user, villages=prefix is not None and len(prefix) >= 9)


def _region_field(label, queryset: QuerySet[Region], required: bool = True) -> RegionField:
    return RegionField(
        label=label,
        queryset=queryset,
        to_field_name="code",
        required=required,
        empty_label=_("请选择"),
        error_messages={
            "required": _("请选择村、乡镇或县。"),
            "invalid_choice": _("请选择您管辖范围内的村、乡镇或县。"),
        },
    )


def _kind_field(required: bool) -> forms.ModelChoiceField:
    return forms.ModelChoiceField(
        label=_("档案类别"),
        queryset=ArchiveKind.objects.order_by("number"),
        to_field_name="code",
        required=required,
        empty_label=_("全部类别") if not required else _("请选择"),
        error_messages={"required": _("请选择档案类别。"), "invalid_choice": _("没有这个档案类别。")},
    )


def _year_field(required: bool) -> forms.IntegerField:
    return forms.IntegerField(
        label=_("年度"),
        required=required,
        min_value=1900,
        max_value=2999,
        error_messages={"required": _("请填写年度。"), "invalid": _("年度应为四位数字，如 2026。")},
    )


def _date(label) -> forms.DateField:
    return forms.DateField(
        label=label,
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"required": _("请填写%(label)s。") % {"label": label}, "invalid": _("日期格式应为 年-月-日。")},
    )


class ItemSearchForm(forms.Form):
    """档案查询: every filter optional; a value that does not parse is left out rather than refused."""

    q = _text(_("姓名、身份证号、档号或表单内容"), 100)
    kind = _kind_field(required=False)
    region = _text(_("区划代码"), 12)
    year = _year_field(required=False)
    paper = forms.ChoiceField(label=_("纸质件"), choices=YES_NO, required=False)
    electronic = forms.ChoiceField(label=_("电子件"), choices=YES_NO, required=False)

    def filters(self) -> dict:
        """The keyword arguments of ``selectors.items_search`` from what parsed."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})  # the filters that parsed, even if another did not
        flag = {"1": True, "0": False}
        return {
            "q": data.get("q", ""),
            "kind": data.get("kind"),
            "region_code": data.get("region", ""),
            "year": data.get("year"),
            "paper": flag.get(data.get("paper", "")),
            "electronic": flag.get(data.get("electronic", "")),
        }


class ItemCreateForm(DomainErrorForm):
    """手工归档: a paper the portal did not produce (a village's contribution roll, an annual report)."""

    kind = _kind_field(required=True)
    region = _region_field(_("归档单位（村、乡镇或县）"), Region.objects.none())
    year = _year_field(required=True)
    title = _text(_("题名"), 200, required=True, error_messages={"required": _("请填写题名。")})
    id_number = _text(
        _("参保人身份证号"), 18, help_text=_("只有本人的材料（如个人申请表）才填写；村、乡镇的汇总表不填。")
    )

    # A service's field name → this form's field.
    FIELD_OF = {"person": "id_number"}

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["region"].queryset = filing_regions(user)

    def add_domain_error(self, error: DomainError) -> None:
        field = self.FIELD_OF.get(error.field or "", error.field)
        self.add_error(field if field in self.fields else None, error.message)


class AttachForm(DomainErrorForm):
    """上传扫描件: the type is checked by content in the service; ``accept`` only helps the browser's picker."""

    file = forms.FileField(
        label=_("扫描件或照片"),
        widget=forms.ClearableFileInput(attrs={"accept": filecheck.ACCEPT}),
        error_messages={"required": _("请选择要上传的扫描件或照片。"), "empty": _("上传的是空文件。")},
        help_text=_("PDF（扫描件）或 JPEG、PNG（照片）。"),
    )


class PlaceForm(DomainErrorForm):
    """存放位置: room, cabinet, box and the position in the box."""

    room = _text(_("档案室"), LABEL_MAX, required=True, error_messages={"required": _("请填写档案室。")})
    cabinet = _text(_("档案柜号"), LABEL_MAX, required=True, error_messages={"required": _("请填写档案柜号。")})
    box = _text(_("档案盒号"), LABEL_MAX, required=True, error_messages={"required": _("请填写档案盒号。")})
    position = _text(
        _("盒内序号"),
        POSITION_MAX,
        required=True,
        error_messages={
            "required": _("请填写盒内序号。"),
            "max_length": _("盒内序号最多%(limit_value)d个字。"),
        },
    )


class FirstPlaceForm(PlaceForm):
    """The first placing also names the keeper (the clerk placing it, unless another is chosen)."""

    keeper = forms.ModelChoiceField(
        label=_("保管人"),
        queryset=None,
        required=False,
        empty_label=_("本人"),
        error_messages={"invalid_choice": _("保管人须是您管辖范围内的工作人员。")},
    )

    def __init__(self, *args, keepers, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["keeper"].queryset = keepers
        self.fields["keeper"].label_from_instance = _staff_label


def _staff_label(user) -> str:
    agency = user.agency.name if user.agency_id else ""
    label = f"{user.display_name}（{agency}）" if agency else user.display_name
    return label if user.is_active else f"{label} [{_('已离岗')}]"


class LendForm(DomainErrorForm):
    """查阅/借阅."""

    kind = forms.ChoiceField(label=_("方式"), choices=LoanKind.choices, initial=LoanKind.READ, widget=forms.RadioSelect)
    borrower = _text(_("借阅人"), 60, required=True, error_messages={"required": _("请填写借阅人。")})
    borrower_unit = _text(_("单位"), 100)
    purpose = _text(_("事由"), 200, required=True, error_messages={"required": _("请填写事由。")})
    due_on = _date(_("应还日期"))
    own_record = forms.BooleanField(label=_("本人查阅（参保人查阅本人档案）"), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["due_on"].initial = timezone.localdate()


class ReturnForm(DomainErrorForm):
    note = _text(_("归还情况"), 200, help_text=_("如：完好、缺页等。"))


class HandOverForm(DomainErrorForm):
    """发起交接: whose custody is handed to whom."""

    from_keeper = forms.ModelChoiceField(
        label=_("移交人"),
        queryset=None,
        empty_label=_("请选择"),
        error_messages={"required": _("请选择移交人。"), "invalid_choice": _("移交人须是您管辖范围内的工作人员。")},
    )
    to_keeper = forms.ModelChoiceField(
        label=_("接收人"),
        queryset=None,
        empty_label=_("请选择"),
        error_messages={"required": _("请选择接收人。"), "invalid_choice": _("接收人须是您管辖范围内的工作人员。")},
    )
    note = _text(_("说明"), 200, help_text=_("如：岗位调整、退休。"))

    def __init__(self, *args, keepers, outgoing=None, **kwargs):
        super().__init__(*args, **kwargs)
        # The outgoing keeper may have left (监交); ``outgoing`` lists them with those at work.
        for name, queryset in (("from_keeper", keepers if outgoing is None else outgoing), ("to_keeper", keepers)):
            self.fields[name].queryset = queryset
            self.fields[name].label_from_instance = _staff_label


def split_archive_numbers(text: str) -> list[str]:
    """Archive numbers pasted one a line (or separated by spaces, commas or 、), in order, without repeats."""
    seen: dict[str, None] = {}
    for number in re.split(r"[\s,，、;；]+", text or ""):
        if number:
            seen.setdefault(number, None)
    return list(seen)


class HandOverCheckForm(DomainErrorForm):
    """清点: archive numbers (scanned or typed) marked present or missing."""

    archive_nos = forms.CharField(
        label=_("档号"),
        max_length=ARCHIVE_NOS_MAX,
        widget=forms.Textarea(attrs={"rows": 6, "class": "mono"}),
        help_text=_("每行一个档号，可用扫码枪逐件扫入。"),
        error_messages={"required": _("请填写要清点的档号。")},
    )
    state = forms.ChoiceField(
        label=_("清点结果"),
        choices=[("present", _("在库")), ("missing", _("缺失"))],
        initial="present",
        widget=forms.RadioSelect,
        error_messages={"required": _("请选择清点结果。")},
    )

    def clean_archive_nos(self) -> list[str]:
        numbers = split_archive_numbers(self.cleaned_data["archive_nos"])
        if not numbers:
            raise forms.ValidationError(_("请填写要清点的档号。"))
        return numbers


class ReasonForm(DomainErrorForm):
    reason = _text(_("原因"), 200, required=True, error_messages={"required": _("请填写原因。")})


class ProposeForm(DomainErrorForm):
    """到期鉴定: the items chosen from the list of those due, and the appraisal (鉴定意见)."""

    items = forms.ModelMultipleChoiceField(
        label=_("档案"),
        queryset=None,
        widget=forms.CheckboxSelectMultiple,
        error_messages={
            "required": _("请勾选要提请销毁鉴定的档案。"),
            "invalid_choice": _("所选档案不在到期待鉴定的档案中，请刷新后重新勾选。"),
            "invalid_pk_value": _("所选档案不在到期待鉴定的档案中，请刷新后重新勾选。"),
        },
    )
    reason = _text(_("鉴定意见"), 200, required=True, error_messages={"required": _("请填写鉴定意见。")})

    def __init__(self, *args, due, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["items"].queryset = due


class DecideForm(DomainErrorForm):
    """审批: destroy, or keep longer."""

    decision = forms.ChoiceField(
        label=_("审批结果"),
        choices=[("destroy", _("批准销毁")), ("extend", _("延长保管"))],
        widget=forms.RadioSelect,
        error_messages={"required": _("请选择批准销毁或延长保管。")},
    )
    extend_years = forms.IntegerField(
        label=_("延长年限"),
        required=False,
        min_value=1,
        max_value=100,
        error_messages={
            "invalid": _("延长年限应为1至100之间的整数。"),
            "min_value": _("延长年限应为1至100之间的整数。"),
            "max_value": _("延长年限应为1至100之间的整数。"),
        },
    )
    note = _text(_("审批意见"), 200, required=True, error_messages={"required": _("请填写审批意见。")})


class RegisterForm(forms.Form):
    """档案登记簿: a place (county, township or village) in scope and a year."""

    region = _region_field(_("区划"), Region.objects.none())
    year = _year_field(required=True)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        # Any place in scope is accepted by its code; the list offers the usual ones.
        self.fields["region"].queryset = filing_regions(user)
        self.choices = register_regions(user)
