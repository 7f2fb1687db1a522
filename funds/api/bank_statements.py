"""The bank's daily statement of a fund account over the bank API:
``POST /api/v1/bank/statements/<account_number>/<YYYYMMDD>``.

The body is the statement file itself (any content type, e.g. ``text/csv``), or a multipart form with the
file in ``file``. Its format is ``funds.statementfile``'s. Answers: 201 with the statement's summary, 200 with
the same summary when the same file comes again, 400 with every error of the file, 404 for an account that
is not one of this bank's fund accounts, 409 for another file of an account and day already received, 413
for a body larger than ``BANK_FILE_MAX_BYTES`` (refused before it is read).
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.parsers import BaseParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from agencies.errors import DomainError
from agencies.money import MONEY_MAX_DIGITS, MONEY_PLACES
from funds import statementfile
from funds.api.bank_auth import BankAPIView
from funds.models import BankStatement, FundAccount, FundAccountKind
from funds.reconciliation import StatementRejected, statement_receive

_DAY = re.compile(r"\d{8}")


class TooLarge(DomainError):
    status_code = 413

    def __init__(self):
        limit = settings.BANK_FILE_MAX_BYTES
        super().__init__(f"文件超过{limit}字节的上限，未接收。", code="too_large")


class StatementFileParser(BaseParser):
    """The statement file as the request body, whatever its content type; read up to the size limit."""

    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None) -> bytes:
        if stream is None:
            return b""
        limit = settings.BANK_FILE_MAX_BYTES
        data = stream.read(limit + 1)
        if len(data) > limit:
            raise TooLarge()
        return data


# --- shapes ------------------------------------------------------------------------------------------------------


def _money(**kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=MONEY_MAX_DIGITS, decimal_places=MONEY_PLACES, read_only=True, **kwargs)


@extend_schema_field(
    {
        "type": "string",
        "enum": list(FundAccountKind.values),
        "description": "；".join(f"{value} {label}" for value, label in FundAccountKind.choices),
    },
    component_name="FundAccountKindEnum",
)
class FundAccountKindField(serializers.CharField):
    pass


class BankStatementUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="对账单文件（CSV，UTF-8 或约定的 GBK 编码）")


class BankStatementSerializer(serializers.ModelSerializer):
    """The statement as received: its balances and how many lines."""

    account_number = serializers.CharField(source="account.account_number", read_only=True)
    account_kind = FundAccountKindField(source="account.kind", read_only=True)
    account_kind_display = serializers.CharField(source="account.get_kind_display", read_only=True)
    pooling_region_code = serializers.CharField(source="account.pooling_region.code", read_only=True)
    pooling_region_name = serializers.CharField(source="account.pooling_region.name", read_only=True)
    opening_balance = _money(help_text="期初余额：第一笔交易前的余额")
    closing_balance = _money(help_text="期末余额：最后一笔交易后的余额")
    line_count = serializers.IntegerField(read_only=True, help_text="交易笔数")
    sha256 = serializers.CharField(read_only=True, help_text="所收文件的 SHA-256（十六进制）")

    class Meta:
        model = BankStatement
        fields = [
            "id",
            "account_number",
            "account_kind",
            "account_kind_display",
            "pooling_region_code",
            "pooling_region_name",
            "statement_date",
            "opening_balance",
            "closing_balance",
            "line_count",
            "sha256",
            "received_at",
        ]
        read_only_fields = fields


class BankStatementFileErrorSerializer(serializers.Serializer):
    line = serializers.IntegerField(help_text="文件行号（表头为第1行）；0 表示整个文件")
    field = serializers.CharField(
        help_text="字段名：date、amount、direction、counterpart、reference、balance，或 header、line、file、encoding"
    )
    message = serializers.CharField(help_text="问题说明")


class BankStatementRejectedSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField(help_text="rejected（文件未通过校验）；invalid（日期等参数错误）")
    field = serializers.CharField(required=False, help_text="出错的参数（参数错误时）")
    errors = BankStatementFileErrorSerializer(many=True, required=False, help_text="文件的全部问题（最多1000条）")
    error_count = serializers.IntegerField(required=False, help_text="问题总数")


class BankStatementRefusalSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField(help_text="not_found、already_received、too_large 等")


# --- the endpoint ------------------------------------------------------------------------------------------------

_EXAMPLE = statementfile.write(
    statement_date=dt.date(2026, 3, 5),
    opening_balance=Decimal("0.00"),
    entries=[
        statementfile.Entry(Decimal("1300.00"), statementfile.CREDIT, "农业银行代扣", "D320412000000202603020001"),
        statementfile.Entry(Decimal("2.50"), statementfile.DEBIT, "手续费,三月", "FEE0305"),
    ],
).decode()


class BankStatementView(BankAPIView):
    """提交银行对账单: one fund account's statement of one day."""

    parser_classes = [MultiPartParser, StatementFileParser]
    # Read by the scope-matrix test: the route is addressed by a fund account's number.
    scope_model = FundAccount
    scope_lookup_field = "account_number"

    @extend_schema(
        operation_id="bank_statement_upload",
        tags=["bank"],
        summary="提交银行对账单",
        description=(
            "本行开立的基金专户（收入户、支出户、财政专户）某一天的对账单。请求体为文件本身（任意 Content-Type，"
            "如 text/csv），或 multipart 表单的 file 字段。格式：CSV，首行表头 "
            "`date,amount,direction,counterpart,reference,balance`；每行一笔交易：日期 YYYY-MM-DD（须为对账单日期）、"
            "金额（正数，两位小数）、方向 C 收入 / D 支出、对方户名、业务编号、该笔后的余额（须等于上一行余额加减本笔"
            "金额）；期初余额须等于上一份对账单的期末余额。同一文件重复提交返回同一结果（200）；同一账户同一天的另一份"
            "文件返回 409。"
        ),
        parameters=[
            OpenApiParameter("account_number", str, OpenApiParameter.PATH, description="基金专户账号"),
            OpenApiParameter("statement_date", str, OpenApiParameter.PATH, description="对账单日期 YYYYMMDD"),
        ],
        request={
            "text/csv": OpenApiTypes.BINARY,
            "application/octet-stream": OpenApiTypes.BINARY,
            "multipart/form-data": BankStatementUploadSerializer,
        },
        responses={
            201: OpenApiResponse(BankStatementSerializer, description="已接收"),
            200: OpenApiResponse(BankStatementSerializer, description="同一文件已接收过，返回同一结果"),
            400: OpenApiResponse(BankStatementRejectedSerializer, description="文件有错误（全部列出）或日期无效"),
            404: OpenApiResponse(BankStatementRefusalSerializer, description="没有这个账号，或不是本行的基金专户"),
            409: OpenApiResponse(BankStatementRefusalSerializer, description="该账户当天已接收另一份对账单"),
            413: OpenApiResponse(BankStatementRefusalSerializer, description="文件过大"),
        },
        examples=[OpenApiExample("对账单", value=_EXAMPLE, media_type="text/csv", request_only=True)],
    )
    def post(self, request: Request, account_number: str, statement_date: str) -> Response:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.BANK_FILE_MAX_BYTES:
            raise TooLarge()
        day = _statement_day(statement_date)
        if day is None:
            return Response(
                {
                    "detail": f"对账单日期“{statement_date[:20]}”无效，应为YYYYMMDD，如20260305。",
                    "code": "invalid",
                    "field": "statement_date",
                },
                status=status.HTTP_400_BAD_REQUEST,
            )
        data = _file(request)
        if data is None:
            return Response(
                {
                    "detail": "请以 file 字段上传对账单文件，或把文件本身作为请求体。",
                    "code": "invalid",
                    "field": "file",
                },
                status=status.HTTP_400_BAD_REQUEST,
            )
        try:
            received = statement_receive(
                partner=self.partner(),
                account_number=account_number,
                statement_date=day,
                data=data,
                credential=request.auth,
            )
        except StatementRejected as rejected:
            return Response(
                {
                    "detail": rejected.message,
                    "code": rejected.code,
                    "errors": [error.as_dict() for error in rejected.errors],
                    "error_count": rejected.error_count,
                },
                status=status.HTTP_400_BAD_REQUEST,
            )
        return Response(
            BankStatementSerializer(received.statement).data,
            status=status.HTTP_201_CREATED if received.created else status.HTTP_200_OK,
        )


def _statement_day(text: str) -> dt.date | None:
    if not _DAY.fullmatch(text):
        return None
    try:
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def _file(request: Request) -> bytes | None:
    """The file's bytes: the multipart ``file`` or the body itself (None: a form without the file)."""
    if request.content_type.startswith("multipart/form-data"):
        upload = request.FILES.get("file")
        if upload is None:
            return None
        if upload.size > settings.BANK_FILE_MAX_BYTES:
            raise TooLarge()
        return upload.read()
    data = request.data
    return data if isinstance(data, bytes) else b""


__all__ = ["BankStatementView", "StatementFileParser", "TooLarge"]
