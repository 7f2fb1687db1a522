"""Shapes of the partner banks' API (``/api/v1/bank/``, the contract in ``../shared/specs/bank-batch-file.md``).

Amounts are text with two places ("300.00"), both ways: a JSON float is refused before it reaches money.
Field names are the contract's English names; labels and messages are Chinese.
"""

import re

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from agencies.errors import DomainError
from agencies.money import MONEY_MAX_DIGITS, MONEY_PLACES, parse_money
from contributions.models import Contribution
from funds.batches import file_region_code
from funds.models import BankBatch, BatchKind, BatchStatus, ReceiptStatus, ResultReceipt

# A bank's own reference: visible ASCII, no spaces (it is the key a repeated payment is recognised by).
TXN_ID = re.compile(r"[\x21-\x7e]{1,64}")


def _enum_schema(choices: type) -> dict:
    return {
        "type": "string",
        "enum": list(choices.values),
        "description": "；".join(f"{value} {label}" for value, label in choices.choices),
    }


@extend_schema_field(_enum_schema(BatchKind), component_name="BankBatchKindEnum")
class BatchKindField(serializers.CharField):
    pass


@extend_schema_field(_enum_schema(BatchStatus), component_name="BankBatchStatusEnum")
class BatchStatusField(serializers.CharField):
    pass


@extend_schema_field(_enum_schema(ReceiptStatus), component_name="BankReceiptStatusEnum")
class ReceiptStatusField(serializers.CharField):
    pass


def _money(**kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=MONEY_MAX_DIGITS, decimal_places=MONEY_PLACES, read_only=True, **kwargs)


# --- input -------------------------------------------------------------------------------------------------


class BankBatchQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=BatchStatus.choices,
        required=False,
        help_text="issued 待回盘；settling 回盘处理中；settled 已结算。不填为全部",
        error_messages={
            "invalid_choice": "批次状态“{input}”无效，只能是 issued（已下发待回盘）、settling（回盘处理中）"
            "或 settled（已结算）。"
        },
    )


@extend_schema_field(OpenApiTypes.BINARY)
class UploadField(serializers.FileField):
    """A file part of a multipart request (bytes, not a URL, in the schema)."""


class BankResultUploadSerializer(serializers.Serializer):
    """The multipart form of a result file (the other form is the file itself as the request body)."""

    file = UploadField(help_text="回盘文件（文件部分，如 curl -F file=@回盘.txt），编码与下发文件相同（UTF-8 或 GBK）")


class MoneyTextField(serializers.CharField):
    """An amount as text ("300.00"), read by ``agencies.money.parse_money``: never a float, at most two places."""

    MAX_LENGTH = 20

    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", '金额（元），以文字提交，最多两位小数，如 "300.00"')
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            raise serializers.ValidationError('金额请以文字提交（如 "300.00"），不接受数字类型。')
        if len(data) > self.MAX_LENGTH:
            raise serializers.ValidationError(f"金额最多{self.MAX_LENGTH}个字符。")
        text = super().to_internal_value(data)
        try:
            return parse_money(text, field=self.field_name)
        except DomainError as error:
            raise serializers.ValidationError(error.message) from None


class BankCounterPaymentInputSerializer(serializers.Serializer):
    """实时缴费: one payment a person made at the bank's counter, posted at once."""

    insurance_no = serializers.CharField(
        max_length=20,
        help_text="保险编号",
        error_messages={"required": "请填写保险编号。", "blank": "请填写保险编号。"},
    )
    year = serializers.IntegerField(
        min_value=1000,
        max_value=9999,
        help_text="缴费年度，如 2026",
        error_messages={"invalid": "缴费年度须为四位数字，如 2026。", "required": "请填写缴费年度。"},
    )
    amount = MoneyTextField(error_messages={"required": "请填写金额。", "blank": "请填写金额。"})
    paid_on = serializers.DateField(
        input_formats=["%Y-%m-%d"],
        help_text="缴费日期 YYYY-MM-DD",
        error_messages={"invalid": "缴费日期格式应为 YYYY-MM-DD，如 2026-03-02。", "required": "请填写缴费日期。"},
    )
    bank_txn_id = serializers.CharField(
        max_length=64,
        help_text="银行流水号：本行唯一，1至64位可见ASCII字符，不含空格",
        error_messages={"required": "请填写银行流水号。", "blank": "请填写银行流水号。"},
    )

    def validate_insurance_no(self, value: str) -> str:
        return value.strip()

    def validate_bank_txn_id(self, value: str) -> str:
        if not TXN_ID.fullmatch(value):
            raise serializers.ValidationError(
                "银行流水号为1至64位可见ASCII字符（字母、数字、符号），不能含空格或汉字。"
            )
        return value


# --- output ------------------------------------------------------------------------------------------------


class BankFileErrorSerializer(serializers.Serializer):
    line = serializers.IntegerField(help_text="文件行号（从1起）；0 表示整个文件（如缺少某序号）")
    field = serializers.CharField(help_text="字段名，同接口规范中的英文字段名")
    message = serializers.CharField(help_text="问题说明")


class BankErrorSerializer(serializers.Serializer):
    """Every refusal other than a file's: what went wrong, in words for a person, and a code for a program."""

    detail = serializers.CharField()
    code = serializers.CharField(required=False, help_text="机器可读的错误代码，如 not_found、already_settled")
    field = serializers.CharField(required=False, help_text="出错的字段")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), required=False, help_text="各字段的错误"
    )


def _absolute(context: dict, name: str, *args) -> str:
    path = reverse(name, args=args)
    request = context.get("request")
    return request.build_absolute_uri(path) if request is not None else path


class BankBatchSerializer(serializers.ModelSerializer):
    """One batch as the bank sees it: what was issued and, once settled, what was posted and what failed."""

    kind = BatchKindField(read_only=True)
    kind_display = serializers.CharField(source="get_kind_display", read_only=True)
    bank_code = serializers.CharField(source="partner.code", read_only=True)
    pooling_region_code = serializers.SerializerMethodField(help_text="12位统筹区编码，同文件表头")
    pooling_region_name = serializers.CharField(source="pooling_region.name", read_only=True)
    period = serializers.CharField(read_only=True, help_text="代扣为缴费年度 YYYY；代发为待遇月份 YYYYMM")
    total_amount = _money()
    status = BatchStatusField(read_only=True)
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    ok_amount = _money(help_text="成功金额（结算后）")
    failed_amount = _money(help_text="失败金额（结算后）")
    file_sha256 = serializers.CharField(read_only=True, help_text="下发文件的 SHA-256（十六进制）")
    file_url = serializers.SerializerMethodField(help_text="下载下发文件")
    result_url = serializers.SerializerMethodField(help_text="提交回盘文件（POST）")

    class Meta:
        model = BankBatch
        fields = [
            "batch_no",
            "kind",
            "kind_display",
            "bank_code",
            "pooling_region_code",
            "pooling_region_name",
            "issued_on",
            "period",
            "record_count",
            "total_amount",
            "status",
            "status_display",
            "ok_count",
            "ok_amount",
            "failed_count",
            "failed_amount",
            "file_sha256",
            "issued_at",
            "settled_at",
            "file_url",
            "result_url",
        ]
        read_only_fields = fields

    def get_pooling_region_code(self, batch: BankBatch) -> str:
        return file_region_code(batch.pooling_region)

    def get_file_url(self, batch: BankBatch) -> str:
        return _absolute(self.context, "bank-batch-file", batch.batch_no)

    def get_result_url(self, batch: BankBatch) -> str:
        return _absolute(self.context, "bank-batch-result", batch.batch_no)


# The figures of a settled file; null until then (a receipt still processing has posted nothing yet).
SETTLED_FIGURES = ("ok_count", "ok_amount", "failed_count", "failed_amount", "exception_count")


class BankReceiptSerializer(serializers.ModelSerializer):
    """回执: a result file the agency received, and what became of it."""

    batch_no = serializers.CharField(source="batch.batch_no", read_only=True)
    status = ReceiptStatusField(read_only=True, help_text="processing 处理中；settled 已结算；rejected 已拒收")
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    sha256 = serializers.CharField(read_only=True, help_text="所收文件的 SHA-256（十六进制）")
    ok_count = serializers.IntegerField(read_only=True, allow_null=True, help_text="成功笔数（结算后）")
    ok_amount = _money(allow_null=True, help_text="成功金额（结算后）")
    failed_count = serializers.IntegerField(read_only=True, allow_null=True, help_text="失败笔数（结算后）")
    failed_amount = _money(allow_null=True, help_text="失败金额（结算后）")
    exception_count = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="银行扣款成功但无法入账、需退款的笔数（结算后）"
    )
    error_count = serializers.IntegerField(read_only=True, help_text="问题总数（拒收时）")
    errors = BankFileErrorSerializer(many=True, read_only=True, help_text="问题清单（拒收时；最多1000条）")
    url = serializers.SerializerMethodField(help_text="查询本回执")

    class Meta:
        model = ResultReceipt
        fields = [
            "id",
            "batch_no",
            "status",
            "status_display",
            "sha256",
            "size_bytes",
            "idempotency_key",
            "received_at",
            "processed_on",
            "finished_at",
            *SETTLED_FIGURES,
            "error_count",
            "errors",
            "url",
        ]
        read_only_fields = fields

    def get_url(self, receipt: ResultReceipt) -> str:
        return _absolute(self.context, "bank-receipt-detail", receipt.pk)

    def to_representation(self, receipt: ResultReceipt) -> dict:
        data = super().to_representation(receipt)
        if receipt.status != ReceiptStatus.SETTLED:
            data.update(dict.fromkeys(SETTLED_FIGURES))
        return data


class BankRejectedFileSerializer(serializers.Serializer):
    """A result file refused whole: every problem found, and the receipt that records the refusal."""

    detail = serializers.CharField()
    code = serializers.CharField(help_text="rejected（文件未通过校验）或 empty（请求体为空）")
    errors = BankFileErrorSerializer(many=True)
    error_count = serializers.IntegerField(help_text="问题总数（清单最多列1000条）")
    receipt = BankReceiptSerializer(allow_null=True, help_text="拒收回执；空请求体不生成回执，为 null")


class BankCounterPaymentSerializer(serializers.ModelSerializer):
    """The contribution a counter payment posted (the same body again for a repeat)."""

    insurance_no = serializers.CharField(source="person.insurance_number", read_only=True)
    tier_amount = _money(help_text="缴费档次")
    personal_amount = _money(help_text="个人缴费（即本次实缴金额）")
    government_subsidy = _money(help_text="政府缴费补贴，记入个人账户")
    government_paid = _money(help_text="政府代缴")
    bank_txn_id = serializers.CharField(source="bank_reference", read_only=True)

    class Meta:
        model = Contribution
        fields = [
            "id",
            "insurance_no",
            "year",
            "tier_amount",
            "personal_amount",
            "government_subsidy",
            "government_paid",
            "paid_on",
            "bank_code",
            "bank_txn_id",
            "recorded_at",
        ]
        read_only_fields = fields
