"""Shapes of benefits in the API. Input serializers check types only (the rules are the services'); amounts
travel as text with two places ("327.38") and a JSON float is refused before it reaches money; months are
"YYYY-MM"; identity numbers and bank accounts are masked wherever a list shows them."""

import datetime as dt
import re

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from agencies.money import MONEY_MAX_DIGITS, MONEY_PLACES
from benefits.models import (
    Arrear,
    ArrearStatus,
    Award,
    AwardCategory,
    AwardEvent,
    AwardPeriod,
    AwardStatus,
    CheckChannel,
    Claim,
    ClaimStatus,
    DeathListLoad,
    DeathRecord,
    DeathSettlement,
    LineKind,
    MonthlyConfirmation,
    Overpayment,
    OverpaymentStatus,
    PayoutStatus,
    PayrollLine,
    PayrollRun,
    PayrollStatus,
    PensionParameters,
    Recalculation,
    RecoveryMethod,
    RecoveryStep,
    StopReason,
    Transfer,
    TransferKind,
    TransferStatus,
    YearlyCheck,
)
from enrollment import idnumber
from enrollment.api.serializers import ProofField, mask_bank_account

TEXT_LIMIT = 500
MONTH_TEXT = re.compile(r"(\d{4})-(\d{2})")

EVENT_ACTIONS = {
    "submit": "提交申请",
    "accept": "乡镇审核通过",
    "return": "退回",
    "resubmit": "重新提交",
    "withdraw": "撤回",
    "approve": "县级审批通过",
    "suspend": "暂停发放",
    "resume": "恢复发放",
    "stop": "终止发放",
    "overpayment": "形成多发待遇",
    "recovery": "追回",
    "offset_set": "设置每月抵扣",
    "refer": "移交",
    "death_settlement": "死亡待遇结算",
}


def _text(**kwargs) -> serializers.CharField:
    return serializers.CharField(required=False, allow_blank=True, default="", max_length=TEXT_LIMIT, **kwargs)


def _money(**kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=MONEY_MAX_DIGITS, decimal_places=MONEY_PLACES, read_only=True, **kwargs)


def _enum_schema(choices: type) -> dict:
    return {
        "type": "string",
        "enum": list(choices.values),
        "description": "；".join(f"{value} {label}" for value, label in choices.choices),
    }


def _choice_field(choices: type, component: str, message: str) -> type[serializers.ChoiceField]:
    """A choice field with a named schema component: several benefits models have a "status" or a "kind" with
    different values, and a named component keeps the schema from guessing names for them."""

    @extend_schema_field(_enum_schema(choices), component_name=component)
    class Field(serializers.ChoiceField):
        def __init__(self, **kwargs):
            kwargs.setdefault("error_messages", {"invalid_choice": message, "required": message})
            super().__init__(choices=choices.choices, **kwargs)

    Field.__name__ = Field.__qualname__ = component.removesuffix("Enum") + "Field"
    return Field


AwardCategoryField = _choice_field(AwardCategory, "AwardCategoryEnum", "请选择待遇类别。")
ClaimStatusField = _choice_field(ClaimStatus, "ClaimStatusEnum", "申请状态“{input}”不存在。")
AwardStatusField = _choice_field(AwardStatus, "AwardStatusEnum", "发放状态“{input}”不存在。")
StopReasonField = _choice_field(StopReason, "StopReasonEnum", "请选择停发原因。")
CheckChannelField = _choice_field(CheckChannel, "CheckChannelEnum", "请选择认证方式。")
PayrollStatusField = _choice_field(PayrollStatus, "PayrollStatusEnum", "发放状态“{input}”不存在。")
LineKindField = _choice_field(LineKind, "PayrollLineKindEnum", "明细类型“{input}”不存在。")
PayoutStatusField = _choice_field(PayoutStatus, "PayoutStatusEnum", "发放结果“{input}”不存在。")
ArrearStatusField = _choice_field(ArrearStatus, "ArrearStatusEnum", "补发状态“{input}”不存在。")
OverpaymentStatusField = _choice_field(OverpaymentStatus, "OverpaymentStatusEnum", "状态“{input}”不存在。")
RecoveryMethodField = _choice_field(RecoveryMethod, "RecoveryMethodEnum", "请选择追回方式。")
TransferKindField = _choice_field(TransferKind, "TransferKindEnum", "转移类型“{input}”不存在。")
TransferStatusField = _choice_field(TransferStatus, "TransferStatusEnum", "转移状态“{input}”不存在。")


@extend_schema_field(
    {"type": "string", "pattern": r"^\d{4}-(0[1-9]|1[0-2])$", "example": "2025-04", "description": "月份 YYYY-MM"}
)
class MonthField(serializers.Field):
    """A month as "YYYY-MM" (held as the first day of the month)."""

    default_error_messages = {"invalid": "月份格式应为 YYYY-MM，例如 2025-04。"}

    def to_internal_value(self, data) -> dt.date:
        match = MONTH_TEXT.fullmatch(data.strip()) if isinstance(data, str) else None
        if match is None:
            self.fail("invalid")
        year, month = int(match[1]), int(match[2])
        if not (1900 <= year <= 2200 and 1 <= month <= 12):
            self.fail("invalid")
        return dt.date(year, month, 1)

    def to_representation(self, value: dt.date) -> str:
        return f"{value:%Y-%m}"


class MoneyTextField(serializers.CharField):
    """An amount as text, or a whole number; never a float (0.1 + 0.2 is not 0.3)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 30)
        kwargs.setdefault("help_text", '金额（元），以文字提交，如 "300" 或 "230.50"')
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, float):
            raise serializers.ValidationError('金额请以文字提交（如 "300.00"），不接受浮点数。')
        if isinstance(data, bool):
            raise serializers.ValidationError("请填写金额。")
        return super().to_internal_value(data)


def _optional_money(help_text: str) -> MoneyTextField:
    return MoneyTextField(required=False, allow_null=True, allow_blank=True, default=None, help_text=help_text)


class PersonRefMixin(serializers.Serializer):
    """The person a row belongs to, identity number masked (lists do not need it in full)."""

    person_name = serializers.CharField(source="person.name", read_only=True)
    insurance_number = serializers.CharField(source="person.insurance_number", read_only=True, allow_null=True)
    id_number_masked = serializers.SerializerMethodField()

    def get_id_number_masked(self, obj) -> str:
        return idnumber.mask(obj.person.id_number)


class PersonInputMixin(serializers.Serializer):
    """A person given by id or by insurance number (保险编号), one of the two."""

    person = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=1, help_text="参保人 id")
    insurance_number = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=20, help_text="保险编号（不填 person 时）"
    )

    def validate(self, attrs):
        attrs = super().validate(attrs)
        if not attrs.get("person") and not attrs.get("insurance_number", "").strip():
            raise serializers.ValidationError({"person": "请填写参保人 id 或保险编号。"})
        return attrs


# --- parameters ----------------------------------------------------------------------------------------------


class RecalculationSerializer(serializers.ModelSerializer):
    from_month = MonthField(read_only=True)
    arrears_total = _money(help_text="已发月份的补发合计（待审核）")

    class Meta:
        model = Recalculation
        fields = ["id", "from_month", "awards_changed", "arrears_total", "at"]
        read_only_fields = fields


class PensionParametersSerializer(serializers.ModelSerializer):
    pooling_region_code = serializers.CharField(source="pooling_region.code", read_only=True)
    pooling_region_name = serializers.CharField(source="pooling_region.name", read_only=True)
    valid_from = MonthField(read_only=True)
    central_minimum = _money()
    local_top_up = _money()
    per_year_beyond_minimum = _money()
    addition_at_65 = _money()
    addition_at_80 = _money()
    urban_elderly_allowance = _money()
    funeral_grant_fixed = _money()
    funeral_grant_months = serializers.DecimalField(max_digits=5, decimal_places=2, read_only=True)
    created_by_name = serializers.CharField(source="created_by.display_name", read_only=True)

    class Meta:
        model = PensionParameters
        fields = [
            "id",
            "pooling_region",
            "pooling_region_code",
            "pooling_region_name",
            "valid_from",
            "central_minimum",
            "local_top_up",
            "per_year_beyond_minimum",
            "addition_at_65",
            "addition_at_80",
            "urban_elderly_allowance",
            "account_divisor",
            "pension_age",
            "minimum_years",
            "funeral_grant_fixed",
            "funeral_grant_months",
            "funding_request_day",
            "finance_transfer_day",
            "bank_credit_day",
            "note",
            "created_by",
            "created_by_name",
            "created_at",
        ]
        read_only_fields = fields


class PensionParametersSetSerializer(PensionParametersSerializer):
    """The new parameters and what they changed: awards recalculated from their month, back pay found."""

    recalculation = RecalculationSerializer(read_only=True, allow_null=True, source="recalculation_done")

    class Meta(PensionParametersSerializer.Meta):
        fields = [*PensionParametersSerializer.Meta.fields, "recalculation"]
        read_only_fields = fields


class PensionParametersInputSerializer(serializers.Serializer):
    """Amounts left out keep the value of the region's previous parameters."""

    pooling_region = serializers.CharField(
        max_length=12, help_text="统筹区编码", error_messages={"required": "请选择统筹区。", "blank": "请选择统筹区。"}
    )
    valid_from = MonthField(help_text="执行月份 YYYY-MM", error_messages={"required": "请填写执行月份。"})
    central_minimum = _optional_money("中央基础养老金最低标准（元/月）")
    local_top_up = _optional_money("地方提高部分（元/月）")
    per_year_beyond_minimum = _optional_money("缴费年限超过最低年限每年加发（元/月）")
    addition_at_65 = _optional_money("65周岁以上加发（元/月）")
    addition_at_80 = _optional_money("80周岁以上加发（元/月）")
    urban_elderly_allowance = _optional_money("城镇老年补贴（元/月），0 表示不发放")
    funeral_grant_fixed = _optional_money("丧葬补助金固定金额（元）")
    funeral_grant_months = _optional_money('丧葬补助金为月基础养老金的倍数，如 "10"')
    account_divisor = serializers.IntegerField(required=False, allow_null=True, default=None)
    pension_age = serializers.IntegerField(required=False, allow_null=True, default=None)
    minimum_years = serializers.IntegerField(required=False, allow_null=True, default=None)
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=200, help_text="文件依据")


class PoolingRegionQuerySerializer(serializers.Serializer):
    pooling_region = serializers.CharField(required=False, allow_blank=True, max_length=12, help_text="统筹区编码")


# --- claims and eligibility ------------------------------------------------------------------------------------


class AwardEventSerializer(serializers.ModelSerializer):
    action_display = serializers.SerializerMethodField()
    actor_name = serializers.CharField(source="actor.display_name", read_only=True)

    class Meta:
        model = AwardEvent
        fields = ["id", "action", "action_display", "from_status", "to_status", "actor", "actor_name", "note", "at"]
        read_only_fields = fields

    def get_action_display(self, event: AwardEvent) -> str:
        return EVENT_ACTIONS.get(event.action, event.action)


class ClaimListSerializer(PersonRefMixin, serializers.ModelSerializer):
    category = AwardCategoryField(read_only=True)
    category_display = serializers.CharField(source="get_category_display", read_only=True)
    status = ClaimStatusField(read_only=True)
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    eligible_from = MonthField(read_only=True)
    bank_account_masked = serializers.SerializerMethodField()
    created_by_name = serializers.CharField(source="created_by.display_name", read_only=True)

    class Meta:
        model = Claim
        fields = [
            "id",
            "person",
            "person_name",
            "insurance_number",
            "id_number_masked",
            "region_code",
            "category",
            "category_display",
            "status",
            "status_display",
            "eligible_from",
            "years_paid",
            "bank_code",
            "bank_account_masked",
            "return_reason",
            "created_by",
            "created_by_name",
            "created_at",
            "reviewed_by",
            "reviewed_at",
            "decided_by",
            "decided_at",
        ]
        read_only_fields = fields

    def get_bank_account_masked(self, claim: Claim) -> str:
        return mask_bank_account(claim.bank_account)


class ClaimDetailSerializer(ClaimListSerializer):
    """The whole form with its trail and the award it led to; its reading is logged by the view."""

    reviewed_by_name = serializers.CharField(source="reviewed_by.display_name", read_only=True, default="")
    decided_by_name = serializers.CharField(source="decided_by.display_name", read_only=True, default="")
    award = serializers.IntegerField(source="award_pk", read_only=True, allow_null=True)
    events = AwardEventSerializer(many=True, read_only=True, source="event_list")

    class Meta(ClaimListSerializer.Meta):
        fields = [
            *ClaimListSerializer.Meta.fields,
            "bank_account",
            "reviewed_by_name",
            "decided_by_name",
            "award",
            "events",
        ]
        read_only_fields = fields


class ClaimQuerySerializer(serializers.Serializer):
    status = ClaimStatusField(required=False, allow_blank=True, default="")
    category = AwardCategoryField(required=False, allow_blank=True, default="")
    person = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=1, help_text="参保人 id")


class ClaimInputSerializer(PersonInputMixin):
    category = AwardCategoryField(default=AwardCategory.MONTHLY_PENSION)
    bank_code = serializers.CharField(required=False, allow_blank=True, default="", max_length=10)
    bank_account = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=32, help_text="不填则用参保登记的账号"
    )


class ClaimNoteInputSerializer(serializers.Serializer):
    note = _text()


class ClaimReasonInputSerializer(serializers.Serializer):
    reason = _text()


class EligibilityQuerySerializer(PersonInputMixin):
    category = AwardCategoryField(default=AwardCategory.MONTHLY_PENSION)
    on = serializers.DateField(required=False, allow_null=True, default=None, help_text="按该日判断，不填为今天")


class EligibilitySerializer(serializers.Serializer):
    person = serializers.IntegerField()
    category = AwardCategoryField()
    eligible = serializers.BooleanField()
    years_paid = serializers.IntegerField(help_text="缴费年限（含视同、转入年限）")
    years_required = serializers.IntegerField()
    eligible_from = MonthField(help_text="可领取的起始月")
    missing = serializers.ListField(child=serializers.CharField(), help_text="不符合的条件，逐条说明")


# --- awards ----------------------------------------------------------------------------------------------------


class AwardPeriodSerializer(serializers.ModelSerializer):
    valid_from = MonthField(read_only=True)
    central_minimum = _money()
    local_top_up = _money()
    years_addition = _money()
    age_addition = _money()
    urban_allowance = _money()
    basic_pension = _money()
    account_pension = _money()
    total = _money()

    class Meta:
        model = AwardPeriod
        fields = [
            "id",
            "valid_from",
            "parameters",
            "central_minimum",
            "local_top_up",
            "years_addition",
            "age_addition",
            "urban_allowance",
            "basic_pension",
            "account_pension",
            "total",
            "recalculation",
            "replaced_by",
        ]
        read_only_fields = fields


class AwardListSerializer(PersonRefMixin, serializers.ModelSerializer):
    pooling_region_code = serializers.CharField(source="pooling_region.code", read_only=True)
    pooling_region_name = serializers.CharField(source="pooling_region.name", read_only=True)
    category = AwardCategoryField(read_only=True)
    category_display = serializers.CharField(source="get_category_display", read_only=True)
    status = AwardStatusField(read_only=True)
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    start_month = MonthField(read_only=True)
    paid_until = MonthField(read_only=True, allow_null=True, help_text="停发或暂停的第一个月")
    stop_reason = serializers.CharField(read_only=True, help_text="见 StopReasonEnum；未停发为空")
    account_balance_at_start = _money()
    account_pension = _money()
    bank_account_masked = serializers.SerializerMethodField()

    class Meta:
        model = Award
        fields = [
            "id",
            "person",
            "person_name",
            "insurance_number",
            "id_number_masked",
            "region_code",
            "pooling_region",
            "pooling_region_code",
            "pooling_region_name",
            "category",
            "category_display",
            "status",
            "status_display",
            "start_month",
            "paid_until",
            "stop_reason",
            "stop_note",
            "years_paid",
            "account_balance_at_start",
            "account_divisor",
            "account_pension",
            "bank_code",
            "bank_account_masked",
            "approved_at",
        ]
        read_only_fields = fields

    def get_bank_account_masked(self, award: Award) -> str:
        return mask_bank_account(award.bank_account)


class AwardDetailSerializer(AwardListSerializer):
    """The award with its parts by period (live ones, and those a recalculation replaced) and its trail."""

    claim = serializers.IntegerField(source="claim_id", read_only=True, allow_null=True)
    approved_by_name = serializers.CharField(source="approved_by.display_name", read_only=True)
    periods = AwardPeriodSerializer(many=True, read_only=True, source="live_period_list")
    replaced_periods = AwardPeriodSerializer(many=True, read_only=True, source="replaced_period_list")
    events = AwardEventSerializer(many=True, read_only=True, source="event_list")

    class Meta(AwardListSerializer.Meta):
        fields = [
            *AwardListSerializer.Meta.fields,
            "claim",
            "bank_account",
            "approved_by",
            "approved_by_name",
            "periods",
            "replaced_periods",
            "events",
        ]
        read_only_fields = fields


class AwardQuerySerializer(serializers.Serializer):
    status = AwardStatusField(required=False, allow_blank=True, default="")
    category = AwardCategoryField(required=False, allow_blank=True, default="")
    person = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=1, help_text="参保人 id")


class AwardStopInputSerializer(serializers.Serializer):
    from_month = MonthField(help_text="自该月起不再发放", error_messages={"required": "请填写停发月份。"})
    reason = StopReasonField()
    note = _text()


class AwardNoteInputSerializer(serializers.Serializer):
    note = _text()


class ConfirmationInputSerializer(serializers.Serializer):
    month = MonthField(error_messages={"required": "请填写认证月份。"})
    alive = serializers.BooleanField(help_text="true：在世并符合条件；false：报停（须选停发原因）")
    stop_reason = StopReasonField(required=False, allow_blank=True, default="")
    note = _text()


class ConfirmationSerializer(serializers.ModelSerializer):
    month = MonthField(read_only=True)
    stop_reason = serializers.CharField(read_only=True, help_text="见 StopReasonEnum；确认在世时为空")
    confirmed_by_name = serializers.CharField(source="confirmed_by.display_name", read_only=True)

    class Meta:
        model = MonthlyConfirmation
        fields = ["id", "award", "month", "alive", "stop_reason", "note", "confirmed_by", "confirmed_by_name"]
        read_only_fields = fields


class YearlyCheckInputSerializer(serializers.Serializer):
    year = serializers.IntegerField(min_value=2000, max_value=2100, error_messages={"required": "请填写年度。"})
    channel = CheckChannelField()
    checked_on = serializers.DateField(error_messages={"required": "请填写认证日期。"})
    passed = serializers.BooleanField(default=True)
    note = _text()


class YearlyCheckSerializer(serializers.ModelSerializer):
    channel = CheckChannelField(read_only=True)
    channel_display = serializers.CharField(source="get_channel_display", read_only=True)

    class Meta:
        model = YearlyCheck
        fields = ["id", "award", "year", "channel", "channel_display", "checked_on", "passed", "note", "checked_by"]
        read_only_fields = fields


class PaymentSerializer(serializers.ModelSerializer):
    """One payroll line of an award: what a month paid it."""

    month = MonthField(source="run.month", read_only=True)
    kind = LineKindField(read_only=True)
    basic_pension = _money()
    account_pension = _money()
    account_paid = _money()
    fund_paid = _money()
    total = _money()
    payout_status = PayoutStatusField(read_only=True)

    class Meta:
        model = PayrollLine
        fields = [
            "id",
            "run",
            "month",
            "kind",
            "basic_pension",
            "account_pension",
            "account_paid",
            "fund_paid",
            "total",
            "payout_status",
        ]
        read_only_fields = fields


# --- turning 60 ------------------------------------------------------------------------------------------------


class Turning60QuerySerializer(serializers.Serializer):
    month = MonthField(required=False, allow_null=True, default=None, help_text="年满60周岁的月份，不填为下月")


class Turning60Serializer(serializers.Serializer):
    person = serializers.IntegerField(source="person.pk")
    name = serializers.CharField(source="person.name")
    insurance_number = serializers.CharField(source="person.insurance_number", allow_null=True)
    id_number_masked = serializers.SerializerMethodField()
    birth_date = serializers.DateField(source="person.birth_date")
    village_name = serializers.CharField(source="person.village.name")
    region_code = serializers.CharField(source="person.region_code")
    category = AwardCategoryField(source="eligibility.category")
    eligible = serializers.BooleanField(source="eligibility.eligible")
    years_paid = serializers.IntegerField(source="eligibility.years_paid")
    years_required = serializers.IntegerField(source="eligibility.years_required")
    eligible_from = MonthField(source="eligibility.eligible_from")
    missing = serializers.ListField(source="eligibility.missing", child=serializers.CharField())
    basic_pension = _money(help_text="按当月参数估算")
    account_pension = _money(help_text="按当前账户余额估算（核定时另计起始前利息）")
    total = _money()

    def get_id_number_masked(self, row) -> str:
        return idnumber.mask(row.person.id_number)


# --- back pay --------------------------------------------------------------------------------------------------


class ArrearSerializer(serializers.ModelSerializer):
    person = serializers.IntegerField(source="award.person_id", read_only=True)
    person_name = serializers.CharField(source="award.person.name", read_only=True)
    insurance_number = serializers.CharField(source="award.person.insurance_number", read_only=True, allow_null=True)
    region_code = serializers.CharField(source="award.region_code", read_only=True)
    month = MonthField(read_only=True)
    recalculation_from = MonthField(source="recalculation.from_month", read_only=True, allow_null=True, default=None)
    paid_amount = _money()
    due_amount = _money()
    amount = _money(help_text="应发 − 已发；负数为多发")
    status = ArrearStatusField(read_only=True)

    class Meta:
        model = Arrear
        fields = [
            "id",
            "award",
            "person",
            "person_name",
            "insurance_number",
            "region_code",
            "month",
            "recalculation",
            "recalculation_from",
            "paid_amount",
            "due_amount",
            "amount",
            "status",
        ]
        read_only_fields = fields


class ArrearApproveInputSerializer(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        allow_empty=False,
        max_length=5000,
        error_messages={"required": "请选择要审核的补发记录。", "empty": "请选择要审核的补发记录。"},
    )


class ArrearApproveResultSerializer(serializers.Serializer):
    approved = serializers.IntegerField(help_text="本次审核通过的条数")
    not_pending = serializers.ListField(
        child=serializers.IntegerField(), help_text="不在待审核名单中的 id（已审核过，或不存在）"
    )


# --- payroll ---------------------------------------------------------------------------------------------------


class CategoryTotalSerializer(serializers.Serializer):
    category = AwardCategoryField()
    label = serializers.CharField()
    persons = serializers.IntegerField()
    basic = _money()
    account = _money()
    total = _money()


class TimetableSerializer(serializers.Serializer):
    funding_request_by = serializers.DateField(help_text="用款申请报送财政")
    finance_transfer_by = serializers.DateField(help_text="财政拨付至支出户")
    bank_credit_by = serializers.DateField(help_text="银行到账")


class PayrollRunListSerializer(serializers.ModelSerializer):
    pooling_region_code = serializers.CharField(source="pooling_region.code", read_only=True)
    pooling_region_name = serializers.CharField(source="pooling_region.name", read_only=True)
    month = MonthField(read_only=True)
    status = PayrollStatusField(read_only=True)
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    basic_total = _money()
    account_total = _money()
    account_paid_total = _money(help_text="个人账户支付（试算时按当前余额估算）")
    fund_paid_total = _money(help_text="账户用完后由基金支付")
    arrears_total = _money()
    total = _money(help_text="发放总额（含补发，减去抵扣）")
    prepared_by_name = serializers.CharField(source="prepared_by.display_name", read_only=True)
    confirmed_by_name = serializers.CharField(source="confirmed_by.display_name", read_only=True, default="")

    class Meta:
        model = PayrollRun
        fields = [
            "id",
            "pooling_region",
            "pooling_region_code",
            "pooling_region_name",
            "month",
            "status",
            "status_display",
            "lines_count",
            "basic_total",
            "account_total",
            "account_paid_total",
            "fund_paid_total",
            "arrears_total",
            "total",
            "funding_request_number",
            "prepared_by",
            "prepared_by_name",
            "prepared_at",
            "confirmed_by",
            "confirmed_by_name",
            "confirmed_at",
        ]
        read_only_fields = fields


class PayrollRunDetailSerializer(PayrollRunListSerializer):
    """The run with its funding request: totals by category, progress while confirming, the timetable."""

    totals_by_category = CategoryTotalSerializer(many=True, read_only=True, source="category_totals")
    timetable = TimetableSerializer(read_only=True, source="timetable_dates")

    class Meta(PayrollRunListSerializer.Meta):
        fields = [
            *PayrollRunListSerializer.Meta.fields,
            "progress_done",
            "progress_total",
            "totals_by_category",
            "timetable",
        ]
        read_only_fields = fields


class PayrollPrepareInputSerializer(serializers.Serializer):
    pooling_region = serializers.CharField(
        max_length=12, help_text="统筹区编码", error_messages={"required": "请选择统筹区。", "blank": "请选择统筹区。"}
    )
    month = MonthField(help_text="发放月份 YYYY-MM", error_messages={"required": "请填写发放月份。"})


class PayrollLineSerializer(serializers.ModelSerializer):
    person_name = serializers.CharField(source="person.name", read_only=True)
    insurance_number = serializers.CharField(source="person.insurance_number", read_only=True, allow_null=True)
    kind = LineKindField(read_only=True)
    category = AwardCategoryField(read_only=True)
    basic_pension = _money()
    account_pension = _money()
    account_paid = _money()
    fund_paid = _money()
    total = _money()
    bank_account_masked = serializers.SerializerMethodField()
    payout_status = PayoutStatusField(read_only=True)

    class Meta:
        model = PayrollLine
        fields = [
            "id",
            "award",
            "person",
            "person_name",
            "insurance_number",
            "region_code",
            "kind",
            "category",
            "basic_pension",
            "account_pension",
            "account_paid",
            "fund_paid",
            "total",
            "debited",
            "bank_code",
            "bank_account_masked",
            "payout_status",
        ]
        read_only_fields = fields

    def get_bank_account_masked(self, line: PayrollLine) -> str:
        return mask_bank_account(line.bank_account)


class PayrollLineQuerySerializer(serializers.Serializer):
    kind = LineKindField(required=False, allow_blank=True, default="")


class PayoutRowSerializer(serializers.Serializer):
    award = serializers.IntegerField(source="award_id")
    person = serializers.IntegerField(source="person_id")
    person_name = serializers.CharField()
    insurance_number = serializers.CharField(allow_null=True)
    region_code = serializers.CharField()
    bank_code = serializers.CharField()
    bank_account = serializers.CharField(help_text="县级基金管理员看到完整账号，其他岗位只见后四位")
    amount = _money(help_text="应入账金额：当月养老金 + 补发 − 抵扣")


# --- deaths ----------------------------------------------------------------------------------------------------


class DeathListRowErrorSerializer(serializers.Serializer):
    row = serializers.IntegerField()
    field = serializers.CharField()
    message = serializers.CharField()


class DeathListErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField()
    errors = DeathListRowErrorSerializer(many=True)


class DeathListUploadSerializer(serializers.Serializer):
    file = serializers.FileField(
        allow_empty_file=False,
        help_text="民政死亡火化名单：.xlsx 或 UTF-8/GBK 编码的 .csv，两列：身份证号、死亡日期",
        error_messages={"required": "请选择要上传的名单文件。", "empty": "文件是空的。"},
    )

    def validate_file(self, upload):
        limit = settings.PORTAL_MAX_UPLOAD_BYTES
        if upload.size > limit:
            raise serializers.ValidationError(f"文件过大，最大{limit // (1024 * 1024)}MB。")
        return upload


class DeathMatchSerializer(PersonRefMixin, serializers.ModelSerializer):
    class Meta:
        model = DeathRecord
        fields = ["id", "person", "person_name", "insurance_number", "id_number_masked", "died_on", "source"]
        read_only_fields = fields


class DeathListLoadSerializer(serializers.ModelSerializer):
    loaded_by_name = serializers.CharField(source="loaded_by.display_name", read_only=True)

    class Meta:
        model = DeathListLoad
        fields = [
            "id",
            "region_code",
            "file_name",
            "file_sha256",
            "rows_read",
            "matches",
            "overpayments",
            "loaded_by",
            "loaded_by_name",
            "loaded_at",
        ]
        read_only_fields = fields


class DeathListLoadDetailSerializer(DeathListLoadSerializer):
    deaths = DeathMatchSerializer(many=True, read_only=True, source="death_list")

    class Meta(DeathListLoadSerializer.Meta):
        fields = [*DeathListLoadSerializer.Meta.fields, "deaths"]
        read_only_fields = fields


class DeathRecordInputSerializer(PersonInputMixin):
    died_on = serializers.DateField(error_messages={"required": "请填写死亡日期。"})
    source = serializers.CharField(
        max_length=100,
        help_text="信息来源，如 家属报告、村委会证明",
        error_messages={"required": "请填写信息来源。", "blank": "请填写信息来源。"},
    )


class OverpaymentBriefSerializer(serializers.ModelSerializer):
    reason = StopReasonField(read_only=True)
    first_month = MonthField(read_only=True)
    last_month = MonthField(read_only=True)
    amount = _money()
    recovered = _money()
    outstanding = _money()
    status = OverpaymentStatusField(read_only=True)

    class Meta:
        model = Overpayment
        fields = ["id", "award", "reason", "first_month", "last_month", "amount", "recovered", "outstanding", "status"]
        read_only_fields = fields


class AwardBriefSerializer(serializers.ModelSerializer):
    status = AwardStatusField(read_only=True)
    paid_until = MonthField(read_only=True, allow_null=True)
    stop_reason = serializers.CharField(read_only=True, help_text="见 StopReasonEnum；未停发为空")

    class Meta:
        model = Award
        fields = ["id", "status", "paid_until", "stop_reason"]
        read_only_fields = fields


class DeathRecordSerializer(PersonRefMixin, serializers.ModelSerializer):
    """The death as recorded, the awards it stopped and the overpayments it found."""

    awards = AwardBriefSerializer(many=True, read_only=True, source="award_list")
    overpayments = OverpaymentBriefSerializer(many=True, read_only=True, source="overpayment_list")

    class Meta:
        model = DeathRecord
        fields = [
            "id",
            "person",
            "person_name",
            "insurance_number",
            "id_number_masked",
            "died_on",
            "source",
            "load",
            "recorded_at",
            "awards",
            "overpayments",
        ]
        read_only_fields = fields


class DeathSettlementInputSerializer(PersonInputMixin):
    heir_name = serializers.CharField(max_length=50, required=False, allow_blank=True, default="")
    heir_id_number = serializers.CharField(max_length=40, required=False, allow_blank=True, default="")
    heir_relation = serializers.CharField(max_length=20, required=False, allow_blank=True, default="")
    heir_bank_code = serializers.CharField(max_length=10, required=False, allow_blank=True, default="")
    heir_bank_account = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    proof = ProofField(help_text="继承权证明（公证书、法院文书、亲属关系证明等）")


class DeathSettlementSerializer(PersonRefMixin, serializers.ModelSerializer):
    heir_id_number_masked = serializers.SerializerMethodField()
    heir_bank_account_masked = serializers.SerializerMethodField()
    balance_paid = _money(help_text="个人账户余额由继承人继承")
    overpayment_offset = _money(help_text="从账户余额中抵扣的多发待遇")
    funeral_grant = _money()
    settled_by_name = serializers.CharField(source="settled_by.display_name", read_only=True)

    class Meta:
        model = DeathSettlement
        fields = [
            "id",
            "person",
            "person_name",
            "insurance_number",
            "id_number_masked",
            "heir_name",
            "heir_id_number_masked",
            "heir_relation",
            "heir_bank_code",
            "heir_bank_account_masked",
            "balance_paid",
            "overpayment_offset",
            "funeral_grant",
            "settled_on",
            "settled_by",
            "settled_by_name",
        ]
        read_only_fields = fields

    def get_heir_id_number_masked(self, settlement: DeathSettlement) -> str:
        return idnumber.mask(settlement.heir_id_number)

    def get_heir_bank_account_masked(self, settlement: DeathSettlement) -> str:
        return mask_bank_account(settlement.heir_bank_account)


class OtherPensionStopInputSerializer(PersonInputMixin):
    employee_pension_from = MonthField(
        help_text="开始领取职工养老金的月份 YYYY-MM", error_messages={"required": "请填写开始领取职工养老金的月份。"}
    )


class OtherPensionStopSerializer(serializers.Serializer):
    refund = _money(help_text="退还的个人账户余额（不含政府补贴）")
    overpayment = OverpaymentBriefSerializer(allow_null=True, help_text="已发基础养老金，待追回")


# --- overpayments ----------------------------------------------------------------------------------------------


class RecoveryStepSerializer(serializers.ModelSerializer):
    method = RecoveryMethodField(read_only=True)
    method_display = serializers.CharField(source="get_method_display", read_only=True)
    amount = _money()
    recorded_by_name = serializers.CharField(source="recorded_by.display_name", read_only=True)

    class Meta:
        model = RecoveryStep
        fields = [
            "id",
            "overpayment",
            "method",
            "method_display",
            "amount",
            "on",
            "reference",
            "note",
            "recorded_by",
            "recorded_by_name",
            "recorded_at",
        ]
        read_only_fields = fields


class OverpaymentListSerializer(PersonRefMixin, serializers.ModelSerializer):
    reason = StopReasonField(read_only=True)
    reason_display = serializers.CharField(source="get_reason_display", read_only=True)
    first_month = MonthField(read_only=True)
    last_month = MonthField(read_only=True)
    amount = _money()
    recovered = _money()
    outstanding = _money()
    offset_per_month = _money(help_text="每月从待遇中抵扣；0 为不抵扣")
    status = OverpaymentStatusField(read_only=True)
    status_display = serializers.CharField(source="get_status_display", read_only=True)

    class Meta:
        model = Overpayment
        fields = [
            "id",
            "award",
            "person",
            "person_name",
            "insurance_number",
            "id_number_masked",
            "region_code",
            "reason",
            "reason_display",
            "first_month",
            "last_month",
            "amount",
            "recovered",
            "outstanding",
            "offset_per_month",
            "status",
            "status_display",
            "created_at",
        ]
        read_only_fields = fields


class OverpaymentDetailSerializer(OverpaymentListSerializer):
    steps = RecoveryStepSerializer(many=True, read_only=True, source="step_list")

    class Meta(OverpaymentListSerializer.Meta):
        fields = [*OverpaymentListSerializer.Meta.fields, "steps"]
        read_only_fields = fields


class OverpaymentQuerySerializer(serializers.Serializer):
    open = serializers.BooleanField(required=False, default=False, help_text="1：只列出追回中的")
    person = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=1, help_text="参保人 id")


class RecoveryInputSerializer(serializers.Serializer):
    method = RecoveryMethodField()
    amount = MoneyTextField()
    on = serializers.DateField(error_messages={"required": "请填写日期。"})
    reference = serializers.CharField(
        max_length=64, required=False, allow_blank=True, default="", help_text="凭证号（银行回单或收据号）"
    )
    note = _text()


class OffsetInputSerializer(serializers.Serializer):
    per_month = MoneyTextField(help_text='每月抵扣金额（元），"0" 为停止抵扣')


class ReferInputSerializer(serializers.Serializer):
    note = _text(help_text="移交说明")


# --- transfers -------------------------------------------------------------------------------------------------


class TransferSerializer(PersonRefMixin, serializers.ModelSerializer):
    kind = TransferKindField(read_only=True)
    kind_display = serializers.CharField(source="get_kind_display", read_only=True)
    status = TransferStatusField(read_only=True)
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    to_village_code = serializers.CharField(source="to_village.code", read_only=True, default="")
    to_village_name = serializers.CharField(source="to_village.name", read_only=True, default="")
    amount = _money()
    amounts_by_component = serializers.DictField(
        child=serializers.DecimalField(max_digits=MONEY_MAX_DIGITS, decimal_places=MONEY_PLACES),
        read_only=True,
        help_text="分项金额 {个人账户组成: 金额}",
    )

    class Meta:
        model = Transfer
        fields = [
            "id",
            "kind",
            "kind_display",
            "status",
            "status_display",
            "person",
            "person_name",
            "insurance_number",
            "id_number_masked",
            "region_code",
            "from_region_code",
            "to_region_code",
            "to_village",
            "to_village_code",
            "to_village_name",
            "hukou_moved_on",
            "employee_years",
            "amount",
            "amounts_by_component",
            "years_moved",
            "reference",
            "requested_by",
            "requested_at",
            "approved_by",
            "approved_at",
            "booked_by",
            "booked_at",
        ]
        read_only_fields = fields


class TransferQuerySerializer(serializers.Serializer):
    kind = TransferKindField(required=False, allow_blank=True, default="")
    status = TransferStatusField(required=False, allow_blank=True, default="")


class TransferRequestInputSerializer(serializers.Serializer):
    id_number = serializers.CharField(
        max_length=40,
        help_text="转入人员的身份证号",
        error_messages={"required": "请填写身份证号。", "blank": "请填写身份证号。"},
    )
    to_village = serializers.CharField(
        max_length=12,
        help_text="转入的村（社区）12位区划代码",
        error_messages={"required": "请选择转入的村（社区）。", "blank": "请选择转入的村（社区）。"},
    )
    hukou_moved_on = serializers.DateField(error_messages={"required": "请填写户籍迁移日期。"})
    reference = serializers.CharField(
        max_length=64, required=False, allow_blank=True, default="", help_text="转移联系函编号"
    )


class ToEmployeesInputSerializer(PersonInputMixin):
    employee_years = serializers.IntegerField(min_value=0, max_value=60, error_messages={"required": "请填写年限。"})
    reference = serializers.CharField(
        max_length=64, required=False, allow_blank=True, default="", help_text="职工养老保险经办机构联系函编号"
    )


class FromEmployeesInputSerializer(ToEmployeesInputSerializer):
    amount = MoneyTextField(help_text="职工养老保险个人账户转入金额（元）")
