"""Shapes of individual accounts in the API. Amounts are strings with two places ("340.00"), never floats;
the identity number is masked: the insurance number in the URL already identifies the person."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from agencies.money import MONEY_MAX_DIGITS, MONEY_PLACES
from funds.models import Component, EntryKind, LedgerEntry


def _enum_schema(choices: type) -> dict:
    return {
        "type": "string",
        "enum": list(choices.values),
        "description": "；".join(f"{value} {label}" for value, label in choices.choices),
    }


@extend_schema_field(_enum_schema(Component), component_name="AccountComponentEnum")
class ComponentField(serializers.CharField):
    pass


@extend_schema_field(_enum_schema(EntryKind), component_name="LedgerEntryKindEnum")
class EntryKindField(serializers.CharField):
    pass


def _money(**kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=MONEY_MAX_DIGITS, decimal_places=MONEY_PLACES, read_only=True, **kwargs)


class YearQuerySerializer(serializers.Serializer):
    year = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=1990,
        max_value=2100,
        help_text="只看这一年（按记账日期）；不填为建账至今",
        error_messages={"invalid": "年度须为四位数字，如 2024。"},
    )


class ComponentBalanceSerializer(serializers.Serializer):
    component = ComponentField(read_only=True)
    label = serializers.CharField(read_only=True)
    opening = _money(help_text="期初余额（不指定年度时为 0.00）")
    movement = _money(help_text="本期发生额")
    closing = _money(help_text="期末余额")


class KindTotalSerializer(serializers.Serializer):
    kind = EntryKindField(read_only=True)
    label = serializers.CharField(read_only=True)
    amount = _money()


class YearInterestSerializer(serializers.Serializer):
    year = serializers.IntegerField(read_only=True)
    amount = _money()


class AccountSerializer(serializers.Serializer):
    """个人账户: the person, the balance by component (from the ledger) and interest by year."""

    insurance_number = serializers.CharField(source="account.person.insurance_number", read_only=True)
    name = serializers.CharField(source="account.person.name", read_only=True)
    id_number_masked = serializers.CharField(read_only=True)
    village_full_name = serializers.CharField(read_only=True)
    region_code = serializers.CharField(source="account.person.region_code", read_only=True)
    opened = serializers.BooleanField(read_only=True, help_text="false：尚无入账，账户未建立，余额均为 0")
    pooling_region = serializers.CharField(read_only=True, allow_null=True, help_text="统筹区编码")
    pooling_region_name = serializers.CharField(read_only=True, allow_null=True)
    opened_on = serializers.DateField(source="account.opened_on", read_only=True, allow_null=True)
    closed_on = serializers.DateField(source="account.closed_on", read_only=True, allow_null=True)
    year = serializers.IntegerField(source="summary.year", read_only=True, allow_null=True)
    opening_balance = _money(source="summary.opening", help_text="期初余额")
    movement = _money(source="summary.movement", help_text="本期发生额")
    balance = _money(source="summary.closing", help_text="期末余额（不指定年度时为当前余额）")
    components = ComponentBalanceSerializer(source="summary.components", many=True, read_only=True)
    kinds = KindTotalSerializer(source="summary.kinds", many=True, read_only=True, help_text="本期发生额按类型")
    interest_by_year = YearInterestSerializer(source="summary.interest_by_year", many=True, read_only=True)


class LedgerEntrySerializer(serializers.ModelSerializer):
    component = ComponentField(read_only=True)
    component_display = serializers.CharField(source="get_component_display", read_only=True)
    kind = EntryKindField(read_only=True)
    kind_display = serializers.CharField(source="get_kind_display", read_only=True)
    amount = _money(help_text="正数记入账户，负数从账户支出或冲正")

    class Meta:
        model = LedgerEntry
        fields = [
            "id",
            "booked_on",
            "kind",
            "kind_display",
            "component",
            "component_display",
            "amount",
            "period",
            "reference",
            "reverses",
            "created_at",
        ]
        read_only_fields = fields
