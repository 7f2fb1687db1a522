"""Shapes of contributions in the API. Input serializers check types only (the rules are the services');
amounts and rates travel as text ("300.00", "1.5%") and a JSON float is refused before it reaches money."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from contributions.models import (
    CollectiveSubsidy,
    Contribution,
    ContributionKind,
    ContributionPolicy,
    ContributionTier,
    Donation,
    HardshipShare,
    InterestRate,
    TierChoice,
)
from contributions.policy import AGE_BANDS
from enrollment import idnumber
from enrollment.models import InsuredPerson, SpecialGroup

TEXT_LIMIT = 200


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


class PercentTextField(MoneyTextField):
    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", '百分比，以文字提交，如 "70"')
        super().__init__(**kwargs)


# "kind" is a field of applications and ledger entries too: a named component keeps the schema from guessing.
@extend_schema_field(
    {
        "type": "string",
        "enum": list(ContributionKind.values),
        "description": "；".join(f"{value} {label}" for value, label in ContributionKind.choices),
    },
    component_name="ContributionKindEnum",
)
class ContributionKindField(serializers.ChoiceField):
    def __init__(self, **kwargs):
        kwargs.setdefault("error_messages", {"invalid_choice": "缴费类型“{input}”不存在。"})
        super().__init__(choices=ContributionKind.choices, **kwargs)


def _masked(person: InsuredPerson) -> str:
    return idnumber.mask(person.id_number)


class PersonRefMixin(serializers.Serializer):
    """The person a row belongs to, identity number masked (lists do not need it in full)."""

    person_name = serializers.CharField(source="person.name", read_only=True)
    insurance_number = serializers.CharField(source="person.insurance_number", read_only=True, allow_null=True)
    id_number_masked = serializers.SerializerMethodField()

    def get_id_number_masked(self, obj) -> str:
        return _masked(obj.person)


# --- policy -----------------------------------------------------------------------------------------------


class TierSerializer(serializers.ModelSerializer):
    class Meta:
        model = ContributionTier
        fields = ["amount", "government_subsidy"]
        read_only_fields = fields


class HardshipShareSerializer(serializers.ModelSerializer):
    group_display = serializers.SerializerMethodField()

    class Meta:
        model = HardshipShare
        fields = ["group", "group_display", "share_percent"]
        read_only_fields = fields

    def get_group_display(self, share: HardshipShare) -> str:
        return str(SpecialGroup(share.group).label) if share.group in SpecialGroup.values else share.group


class PolicySerializer(serializers.ModelSerializer):
    pooling_region_code = serializers.CharField(source="pooling_region.code", read_only=True)
    pooling_region_name = serializers.CharField(source="pooling_region.name", read_only=True)
    tiers = TierSerializer(many=True, read_only=True)
    hardship_shares = HardshipShareSerializer(many=True, read_only=True)
    created_by_name = serializers.CharField(source="created_by.display_name", read_only=True, default="")

    class Meta:
        model = ContributionPolicy
        fields = [
            "id",
            "pooling_region",
            "pooling_region_code",
            "pooling_region_name",
            "valid_from",
            "valid_to",
            "window_start_month",
            "window_start_day",
            "window_end_month",
            "window_end_day",
            "allow_outside_window",
            "back_payment_max_years",
            "province_share",
            "city_share",
            "county_share",
            "tiers",
            "hardship_shares",
            "created_by",
            "created_by_name",
        ]
        read_only_fields = fields


class TierInputSerializer(serializers.Serializer):
    amount = MoneyTextField()
    government_subsidy = MoneyTextField()


class PolicyInputSerializer(serializers.Serializer):
    pooling_region = serializers.CharField(max_length=12, help_text="统筹区编码")
    valid_from = serializers.DateField()
    valid_to = serializers.DateField(required=False, allow_null=True, default=None)
    tiers = TierInputSerializer(many=True, allow_empty=False)
    hardship_shares = serializers.DictField(
        child=PercentTextField(), required=False, default=dict, help_text='{"tekun": "100", "dibao": "70"}'
    )
    window_start_month = serializers.IntegerField(min_value=1, max_value=12, default=1)
    window_start_day = serializers.IntegerField(min_value=1, max_value=31, default=1)
    window_end_month = serializers.IntegerField(min_value=1, max_value=12, default=12)
    window_end_day = serializers.IntegerField(min_value=1, max_value=31, default=31)
    allow_outside_window = serializers.BooleanField(default=False)
    back_payment_max_years = serializers.IntegerField(min_value=0, max_value=15, default=15)
    province_share = PercentTextField(default="0")
    city_share = PercentTextField(default="0")
    county_share = PercentTextField(default="100")


class PolicyQuerySerializer(serializers.Serializer):
    pooling_region = serializers.CharField(required=False, allow_blank=True, max_length=12, help_text="统筹区编码")
    on = serializers.DateField(required=False, allow_null=True, default=None, help_text="在该日有效的政策")


class InterestRateSerializer(serializers.ModelSerializer):
    pooling_region_code = serializers.CharField(source="pooling_region.code", read_only=True)
    pooling_region_name = serializers.CharField(source="pooling_region.name", read_only=True)
    rate_percent = serializers.SerializerMethodField()

    class Meta:
        model = InterestRate
        fields = [
            "id",
            "pooling_region",
            "pooling_region_code",
            "pooling_region_name",
            "year",
            "rate",
            "rate_percent",
            "rounding",
        ]
        read_only_fields = fields

    def get_rate_percent(self, rate: InterestRate) -> str:
        return f"{rate.rate * 100:.3f}".rstrip("0").rstrip(".") + "%"


class InterestRateInputSerializer(serializers.Serializer):
    pooling_region = serializers.CharField(max_length=12, help_text="统筹区编码")
    year = serializers.IntegerField()
    rate = serializers.CharField(max_length=20, help_text='小数 "0.015" 或百分数 "1.5%"')
    rounding = serializers.ChoiceField(
        choices=InterestRate._meta.get_field("rounding").choices,
        default="half_up",
        error_messages={"invalid_choice": "舍入规则“{input}”不存在。"},
    )

    def validate_rate(self, value):
        if isinstance(self.initial_data.get("rate"), float):
            raise serializers.ValidationError('利率请以文字提交（如 "0.015" 或 "1.5%"），不接受浮点数。')
        return value


# --- tier choices -----------------------------------------------------------------------------------------


class TierChoiceSerializer(PersonRefMixin, serializers.ModelSerializer):
    source_display = serializers.CharField(source="get_source_display", read_only=True)
    chosen_by_name = serializers.CharField(source="chosen_by.display_name", read_only=True, default="")

    class Meta:
        model = TierChoice
        fields = [
            "id",
            "person",
            "person_name",
            "insurance_number",
            "id_number_masked",
            "year",
            "amount",
            "source",
            "source_display",
            "region_code",
            "chosen_by",
            "chosen_by_name",
            "chosen_at",
        ]
        read_only_fields = fields


class TierChoiceInputSerializer(serializers.Serializer):
    person = serializers.IntegerField(help_text="参保人 id")
    year = serializers.IntegerField()
    amount = MoneyTextField(help_text='缴费档次（元），如 "300"')


class YearQuerySerializer(serializers.Serializer):
    year = serializers.IntegerField(required=False, allow_null=True, default=None)
    person = serializers.IntegerField(required=False, allow_null=True, default=None)


class TemplateQuerySerializer(serializers.Serializer):
    year = serializers.IntegerField(error_messages={"required": "请选择年度。", "invalid": "年度须为数字。"})
    village = serializers.CharField(max_length=12, error_messages={"required": "请选择村（社区）。"})


class TierImportInputSerializer(serializers.Serializer):
    year = serializers.IntegerField(error_messages={"required": "请选择年度。", "invalid": "年度须为数字。"})
    file = serializers.FileField(allow_empty_file=False, error_messages={"required": "请选择要导入的文件。"})


class RowErrorSerializer(serializers.Serializer):
    row = serializers.IntegerField()
    message = serializers.CharField()


class TierImportResultSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    rows = serializers.IntegerField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    blank = serializers.IntegerField()
    errors = RowErrorSerializer(many=True)
    batch_id = serializers.IntegerField(allow_null=True)


# --- contributions ----------------------------------------------------------------------------------------


class ContributionSerializer(PersonRefMixin, serializers.ModelSerializer):
    kind = ContributionKindField(read_only=True)
    kind_display = serializers.CharField(source="get_kind_display", read_only=True)
    channel_display = serializers.CharField(source="get_channel_display", read_only=True)
    recorded_by_name = serializers.CharField(source="recorded_by.display_name", read_only=True, default="")

    class Meta:
        model = Contribution
        fields = [
            "id",
            "person",
            "person_name",
            "insurance_number",
            "id_number_masked",
            "year",
            "kind",
            "kind_display",
            "tier_amount",
            "personal_amount",
            "government_subsidy",
            "government_paid",
            "subsidy_province",
            "subsidy_city",
            "subsidy_county",
            "paid_province",
            "paid_city",
            "paid_county",
            "paid_on",
            "channel",
            "channel_display",
            "bank_code",
            "bank_reference",
            "region_code",
            "recorded_by",
            "recorded_by_name",
            "recorded_at",
        ]
        read_only_fields = fields


class ContributionInputSerializer(serializers.Serializer):
    """A bank-counter payment, from the bank's receipt."""

    person = serializers.IntegerField(help_text="参保人 id")
    year = serializers.IntegerField()
    amount = MoneyTextField(help_text='个人实缴金额（元），以文字提交，如 "230"')
    paid_on = serializers.DateField()
    bank_code = serializers.CharField(max_length=10)
    bank_reference = serializers.CharField(max_length=64)
    kind = ContributionKindField(default=ContributionKind.REGULAR)


class ContributionQuerySerializer(YearQuerySerializer):
    kind = ContributionKindField(required=False, allow_blank=True, default="")


# --- collective subsidies and donations ---------------------------------------------------------------------


class CollectiveSubsidySerializer(serializers.ModelSerializer):
    village_code = serializers.CharField(source="village.code", read_only=True)
    village_name = serializers.CharField(source="village.name", read_only=True)
    recorded_by_name = serializers.CharField(source="recorded_by.display_name", read_only=True)

    class Meta:
        model = CollectiveSubsidy
        fields = [
            "id",
            "village",
            "village_code",
            "village_name",
            "year",
            "amount_per_person",
            "decision",
            "persons_credited",
            "persons_capped",
            "recorded_by",
            "recorded_by_name",
            "recorded_at",
        ]
        read_only_fields = fields


class CollectiveSubsidyInputSerializer(serializers.Serializer):
    village = serializers.CharField(max_length=12, help_text="村（社区）区划代码")
    year = serializers.IntegerField()
    amount_per_person = MoneyTextField(help_text='每人补助金额（元），如 "50"')
    decision = serializers.CharField(required=False, allow_blank=True, default="", max_length=TEXT_LIMIT)


class DonationSerializer(PersonRefMixin, serializers.ModelSerializer):
    recorded_by_name = serializers.CharField(source="recorded_by.display_name", read_only=True)

    class Meta:
        model = Donation
        fields = [
            "id",
            "person",
            "person_name",
            "insurance_number",
            "id_number_masked",
            "year",
            "donor",
            "amount",
            "received_on",
            "region_code",
            "recorded_by",
            "recorded_by_name",
            "recorded_at",
        ]
        read_only_fields = fields


class DonationInputSerializer(serializers.Serializer):
    person = serializers.IntegerField(help_text="参保人 id")
    year = serializers.IntegerField()
    donor = serializers.CharField(max_length=TEXT_LIMIT)
    amount = MoneyTextField()
    received_on = serializers.DateField()


# --- renewal ------------------------------------------------------------------------------------------------


class RenewalQuerySerializer(serializers.Serializer):
    year = serializers.IntegerField(error_messages={"required": "请选择年度。", "invalid": "年度须为数字。"})
    village = serializers.CharField(required=False, allow_blank=True, default="", max_length=12)
    age_band = serializers.ChoiceField(
        choices=list(AGE_BANDS), required=False, allow_blank=True, default="",
        error_messages={"invalid_choice": "年龄段须为 16-44 或 45-59。"},
    )  # fmt: skip


class RatesQuerySerializer(serializers.Serializer):
    year = serializers.IntegerField(error_messages={"required": "请选择年度。", "invalid": "年度须为数字。"})


class RenewalPersonSerializer(serializers.ModelSerializer):
    age_band = serializers.CharField(read_only=True)
    village_name = serializers.CharField(source="village.name", read_only=True)
    id_number_masked = serializers.SerializerMethodField()

    class Meta:
        model = InsuredPerson
        fields = [
            "id",
            "insurance_number",
            "name",
            "id_number_masked",
            "birth_date",
            "age_band",
            "village",
            "village_name",
            "region_code",
            "phone",
        ]
        read_only_fields = fields

    def get_id_number_masked(self, person: InsuredPerson) -> str:
        return _masked(person)


class RenewalRateSerializer(serializers.Serializer):
    village_id = serializers.IntegerField()
    village_code = serializers.CharField()
    village_name = serializers.CharField()
    age_band = serializers.CharField()
    paid_last_year = serializers.IntegerField()
    renewed = serializers.IntegerField()
    rate = serializers.DecimalField(max_digits=6, decimal_places=4)
    target = serializers.DecimalField(max_digits=6, decimal_places=4)
    met = serializers.BooleanField()
