"""The partner banks' API under ``/api/v1/bank/``: the contract is ``../shared/specs/bank-batch-file.md``, told
to a bank's developers in ``docs/bank-interface.md``.

A bank authenticates with its own key (``funds.api.bank_auth``) and sees only the batches addressed to it in
the pooling regions it serves: anything else answers 404, like a number that does not exist. Views validate,
call one service of ``funds.batches`` or ``contributions.bank`` and shape the answer; refusals become 4xx in
``portal.api_errors``.

A result file can be 160 MB: its body is read here from the underlying Django request in chunks, never
through ``request.body`` (whose DATA_UPLOAD_MAX_MEMORY_SIZE is meant for forms), and a body over
``BANK_FILE_MAX_BYTES`` is refused with 413 by its declared length before a byte is read, or while reading
when the length was not declared.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework import exceptions, status
from rest_framework.generics import ListAPIView
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from agencies.errors import Conflict, DomainError
from contributions.bank import counter_payment_post
from funds import bankfile
from funds.api import bank_serializers as s
from funds.api.bank_auth import BankAPIView
from funds.batches import (
    NotThisBanksReceipt,
    batch_file,
    batch_for_partner,
    issued_header,
    partner_batches,
    receipt_for_partner,
    result_receive,
)
from funds.models import BankBatch, ReceiptStatus, ResultReceipt

log = logging.getLogger(__name__)

READ_CHUNK = 1024 * 1024
IDEMPOTENCY_KEY_MAX = 100
BIGINT_MAX = 2**63 - 1

BATCH_NO = OpenApiParameter(
    "batch_no", str, OpenApiParameter.PATH, description="24位批次号，如 D32041200000020260302001"
)
RECEIPT_ID = OpenApiParameter(
    "receipt_id", int, OpenApiParameter.PATH, description="回执编号（提交回盘文件时返回的 id）"
)
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=True,
    description="幂等键：1至100位可见ASCII字符。同一份文件重发用同一个键；改正后的新文件用新键",
)
DIGEST = OpenApiParameter(
    "Digest", str, OpenApiParameter.HEADER, response=[200], description="sha-256=<文件SHA-256的Base64>"
)
CONTENT_SHA256 = OpenApiParameter(
    "X-Content-SHA256", str, OpenApiParameter.HEADER, response=[200], description="文件SHA-256的十六进制"
)

ERROR = s.BankErrorSerializer
NOT_FOUND = OpenApiResponse(ERROR, description="没有这个批次，或不是本行的批次")
COMMON_ERRORS = {
    401: OpenApiResponse(ERROR, description="缺少密钥，或密钥无效、已过期、已吊销"),
    429: OpenApiResponse(ERROR, description="调用过于频繁（每个密钥限速）"),
}


class FileTooLarge(DomainError):
    status_code = 413

    def __init__(self, limit: int):
        super().__init__(
            f"回盘文件超过{limit / 1024 / 1024:.0f}MB（{limit}字节）的上限，未予接收。请核对文件后重发，或联系经办机构。",
            code="too_large",
        )


class NotFoundHere(DomainError):
    status_code = 404

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message, code="not_found", field=field)


class BadInput(exceptions.ValidationError):
    """A 400 shaped like every other refusal of the bank API: a sentence, a code, and the errors by field."""

    def __init__(self, errors: dict):
        messages = [f"{name}：{message}" for name, problems in errors.items() for message in _texts(problems)]
        super().__init__({"detail": "；".join(messages) or "请求有误。", "code": "invalid", "errors": errors})


def _texts(problems) -> list[str]:
    if isinstance(problems, dict):
        return [text for value in problems.values() for text in _texts(value)]
    if isinstance(problems, list):
        return [text for value in problems for text in _texts(value)]
    return [str(problems)]


def _validated(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    if not serializer.is_valid():
        raise BadInput(serializer.errors)
    return serializer.validated_data


# --- the body of a result file ----------------------------------------------------------------------------


def _refuse_declared_size(request: Request, limit: int) -> None:
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise FileTooLarge(limit)


def _read_limited(chunks: Iterable[bytes], limit: int) -> bytes:
    kept: list[bytes] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise FileTooLarge(limit)
        kept.append(chunk)
    return b"".join(kept)


def _result_file(request: Request, limit: int) -> bytes:
    """The file: the raw body, or the multipart field ``file``; refused past ``limit`` bytes while reading."""
    raw: HttpRequest = request._request
    if not (raw.content_type or "").startswith("multipart/form-data"):
        return _read_limited(iter(lambda: raw.read(READ_CHUNK), b""), limit)
    try:
        upload = raw.FILES.get("file")
    except (MultiPartParserError, SuspiciousOperation):
        raise DomainError("multipart 请求格式不正确，无法读取。", code="invalid_multipart", field="file") from None
    if upload is None:
        raise DomainError("multipart 请求中没有名为 file 的文件字段。", code="required", field="file")
    if upload.size is not None and upload.size > limit:
        raise FileTooLarge(limit)
    return _read_limited(upload.chunks(READ_CHUNK), limit)


def _idempotency_key(request: Request) -> str:
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        raise DomainError(
            "缺少 Idempotency-Key 请求头：请为每份回盘文件生成一个键，重发同一份文件时使用同一个键。",
            code="idempotency_key_required",
            field="Idempotency-Key",
        )
    if len(key) > IDEMPOTENCY_KEY_MAX or not key.isascii() or not key.isprintable():
        raise DomainError(
            f"Idempotency-Key 应为1至{IDEMPOTENCY_KEY_MAX}位可见ASCII字符。",
            code="invalid",
            field="Idempotency-Key",
        )
    return key


# --- views ------------------------------------------------------------------------------------------------


class _BankView(BankAPIView):
    """JSON answers only (the issued file aside), and never a 406: a bank's client may ask for text/plain."""

    renderer_classes = [JSONRenderer]

    def perform_content_negotiation(self, request, force=False):
        return super().perform_content_negotiation(request, force=True)


@extend_schema(tags=["bank"])
class BatchListView(_BankView, ListAPIView):
    """本行的批次，最新下发的在前，分页；``?status=issued`` 为待回盘的批次。"""

    serializer_class = s.BankBatchSerializer
    filter_backends: list = []

    def get_queryset(self) -> QuerySet[BankBatch]:
        if getattr(self, "swagger_fake_view", False):  # the schema generator has no bank
            return BankBatch.objects.none()
        params = _validated(s.BankBatchQuerySerializer, self.request.query_params)
        rows = partner_batches(self.partner())
        if params.get("status"):
            rows = rows.filter(status=params["status"])
        return rows.order_by("-issued_at", "-id")

    @extend_schema(
        parameters=[s.BankBatchQuerySerializer], responses={200: s.BankBatchSerializer, 400: ERROR, **COMMON_ERRORS}
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)


@extend_schema(tags=["bank"], parameters=[BATCH_NO])
class BatchDetailView(_BankView):
    """一个批次：类型、统筹区、期间、笔数、金额、状态；结算后含成功与失败的笔数和金额。"""

    # Read by the scope-matrix test: a bank's batch, addressed by its number.
    scope_model = BankBatch
    scope_lookup_field = "batch_no"

    @extend_schema(responses={200: s.BankBatchSerializer, 404: NOT_FOUND, **COMMON_ERRORS})
    def get(self, request: Request, batch_no: str) -> Response:
        batch = batch_for_partner(partner=self.partner(), batch_no=batch_no)
        return Response(s.BankBatchSerializer(batch, context={"request": request}).data)


@extend_schema(tags=["bank"], parameters=[BATCH_NO])
class BatchFileView(_BankView):
    """下发文件：本行的编码（UTF-8 或 GBK），SHA-256 在 ``Digest`` 与 ``X-Content-SHA256`` 头中。"""

    scope_model = BankBatch
    scope_lookup_field = "batch_no"

    @extend_schema(
        parameters=[DIGEST, CONTENT_SHA256],
        responses={
            (200, "text/plain"): OpenApiResponse(OpenApiTypes.BINARY, description="下发文件"),
            404: NOT_FOUND,
            409: OpenApiResponse(ERROR, description="文件与下发时的校验值不一致（请联系经办机构）"),
            **COMMON_ERRORS,
        },
    )
    def get(self, request: Request, batch_no: str) -> HttpResponse:
        batch = batch_for_partner(partner=self.partner(), batch_no=batch_no)
        data = batch_file(batch)
        digest = hashlib.sha256(data)
        if digest.hexdigest() != batch.file_sha256:
            # The lines are never changed after issue, so this is a fault to look into, not a file to hand out.
            log.error("batch %s: the file made now differs from the file issued", batch.batch_no)
            raise Conflict(
                f"批次 {batch.batch_no} 的文件与下发时的校验值不一致，暂不能下载，请联系经办机构。", code="file_changed"
            )
        response = HttpResponse(data, content_type=f"text/plain; charset={batch.partner.encoding}")
        response["Digest"] = "sha-256=" + base64.b64encode(digest.digest()).decode("ascii")
        response["X-Content-SHA256"] = digest.hexdigest()
        response["Content-Disposition"] = f'attachment; filename="{batch.batch_no}.txt"'
        return response


@extend_schema(tags=["bank"], parameters=[BATCH_NO])
class BatchResultView(_BankView):
    """提交回盘文件：请求体即文件（或 multipart 字段 file），须带 ``Idempotency-Key``。"""

    scope_model = BankBatch
    scope_lookup_field = "batch_no"

    @extend_schema(
        parameters=[IDEMPOTENCY_KEY],
        request={
            "text/plain": OpenApiTypes.BINARY,
            "application/octet-stream": OpenApiTypes.BINARY,
            "multipart/form-data": s.BankResultUploadSerializer,
        },
        responses={
            202: OpenApiResponse(s.BankReceiptSerializer, description="新文件已接收，结算在后台进行；按回执查询结果"),
            200: OpenApiResponse(s.BankReceiptSerializer, description="同一份文件重发：原回执，不重复处理"),
            400: OpenApiResponse(
                PolymorphicProxySerializer(
                    component_name="BankResultRefusal",
                    serializers=[s.BankRejectedFileSerializer, ERROR],
                    resource_type_field_name=None,
                ),
                description="文件未通过校验，整份拒收，列出所有问题（errors）；或缺少、不合格的 Idempotency-Key（detail）",
            ),
            404: NOT_FOUND,
            409: OpenApiResponse(ERROR, description="该批次已接收另一份回盘文件；或幂等键已用于另一份文件"),
            413: OpenApiResponse(ERROR, description="文件超过大小上限"),
            **COMMON_ERRORS,
        },
    )
    def post(self, request: Request, batch_no: str) -> Response:
        limit = settings.BANK_FILE_MAX_BYTES
        _refuse_declared_size(request, limit)
        key = _idempotency_key(request)
        partner = self.partner()
        # Another bank's batch answers 404 before its body is read.
        batch = batch_for_partner(partner=partner, batch_no=batch_no)
        data = _result_file(request, limit)
        if not data.removeprefix(bankfile.UTF8_BOM).strip():
            # Nothing to keep a receipt of: the codec's answer alone (a receipt would use up the key).
            check = bankfile.check_result(data, encoding=partner.encoding, expected=issued_header(batch))
            return _rejected([e.as_dict() for e in check.errors], check.error_count, None, code="empty")
        received = result_receive(
            partner=partner, batch_no=batch.batch_no, data=data, idempotency_key=key, credential=request.auth
        )
        receipt = received.receipt
        receipt.refresh_from_db()
        if receipt.status == ReceiptStatus.REJECTED:
            body = s.BankReceiptSerializer(receipt, context={"request": request}).data
            return _rejected(receipt.errors, receipt.error_count, body)
        body = s.BankReceiptSerializer(receipt, context={"request": request}).data
        if not received.created:
            return Response(body, status=status.HTTP_200_OK)
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})


def _rejected(errors: list[dict], count: int, receipt: dict | None, code: str = "rejected") -> Response:
    body = {
        "detail": f"回盘文件未通过校验，共{count}处问题，整份未予处理。请按清单改正后，以新的 Idempotency-Key 重新提交。",
        "code": code,
        "errors": errors,
        "error_count": count,
        "receipt": receipt,
    }
    return Response(body, status=status.HTTP_400_BAD_REQUEST)


@extend_schema(tags=["bank"], parameters=[RECEIPT_ID])
class ReceiptDetailView(_BankView):
    """回执：processing 处理中；settled 已结算（成功、失败的笔数和金额）；rejected 已拒收（问题清单）。"""

    scope_model = ResultReceipt

    @extend_schema(
        responses={
            200: s.BankReceiptSerializer,
            404: OpenApiResponse(ERROR, description="没有这个回执，或不是本行的回执"),
            **COMMON_ERRORS,
        }
    )
    def get(self, request: Request, receipt_id: int) -> Response:
        if not 0 < receipt_id <= BIGINT_MAX:
            raise NotThisBanksReceipt()
        receipt = receipt_for_partner(partner=self.partner(), receipt_id=receipt_id)
        return Response(s.BankReceiptSerializer(receipt, context={"request": request}).data)


@extend_schema(tags=["bank"])
class CounterPaymentView(_BankView):
    """实时缴费：柜面或渠道收到的一笔缴费，当即入账。同一流水号重发返回同一结果。"""

    parser_classes = [JSONParser]

    @extend_schema(
        request=s.BankCounterPaymentInputSerializer,
        examples=[
            OpenApiExample(
                "一笔500元的缴费",
                value={
                    "insurance_no": "32041200000001",
                    "year": 2026,
                    "amount": "500.00",
                    "paid_on": "2026-03-02",
                    "bank_txn_id": "CT20260302000001",
                },
                request_only=True,
            )
        ],
        responses={
            201: OpenApiResponse(s.BankCounterPaymentSerializer, description="已入账"),
            200: OpenApiResponse(s.BankCounterPaymentSerializer, description="同一笔缴费重发：原入账结果"),
            400: OpenApiResponse(ERROR, description="输入有误，或金额不对应缴费档次、不在征缴期等"),
            404: OpenApiResponse(ERROR, description="没有这个保险编号的参保人，或其不在本行服务的统筹区"),
            409: OpenApiResponse(ERROR, description="流水号已用于另一笔缴费，或该年度已缴费"),
            **COMMON_ERRORS,
        },
    )
    def post(self, request: Request) -> Response:
        data = _validated(s.BankCounterPaymentInputSerializer, request.data)
        try:
            paid = counter_payment_post(partner=self.partner(), **data)
        except DomainError as error:
            if error.code != "not_found":
                raise
            # A person outside the pooling regions this bank serves is out of its scope: 404, like no such person.
            raise NotFoundHere(error.message, field=error.field) from None
        body = s.BankCounterPaymentSerializer(paid.contribution).data
        return Response(body, status=status.HTTP_201_CREATED if paid.created else status.HTTP_200_OK)
