"""The papers funds files into the archives: the bank's result file (银行回执) once it is settled.

The builder works from the saved receipt alone (see ``enrollment.records``); ``SOURCES`` lists every settled
receipt with what the builder reads, for the archives' backfill.
"""

from __future__ import annotations

from django.utils import timezone

from agencies.models import PoolingRegion, Region
from agencies.records import Kind, Record, Source
from funds.models import ReceiptStatus, ResultReceipt


def pooling_region_place(pooling_region: PoolingRegion) -> str:
    """The 12-digit code a pooling region's own papers are filed under (a payout roll, a bank receipt): its code
    padded with zeros, as in its bank files (a county's 320412 → 320412000000, a city's own districts' 320400 →
    320400000000). A code that is not a division code falls back to the county of its first place."""
    code = pooling_region.code
    if code.isdigit() and len(code) <= 12:
        return code.ljust(12, "0")
    first = Region.objects.filter(pooling_region=pooling_region).order_by("code").values_list("code", flat=True)
    place = first.first()
    if place is None and pooling_region.merged_into_id:
        return pooling_region_place(pooling_region.merged_into)
    return (place or "")[:6].ljust(12, "0")


def bank_receipt_record(receipt: ResultReceipt) -> Record:
    """银行回执: the bank's result file of a batch, filed under the batch's pooling region when it is settled."""
    batch = receipt.batch
    settled_on = timezone.localdate(receipt.finished_at or receipt.received_at)
    return Record(
        kind=Kind.BANK_RECEIPT,
        source=receipt,
        region_code=pooling_region_place(batch.pooling_region),
        year=(receipt.processed_on or settled_on).year,
        title=f"银行回执 {batch.partner.name} {batch.get_kind_display()} {batch.batch_no}",
        fields={
            "银行": f"{batch.partner.name}（{batch.partner.code}）",
            "批次号": batch.batch_no,
            "类型": batch.get_kind_display(),
            "期间": batch.period,
            "统筹区": batch.pooling_region.name,
            "笔数": str(batch.record_count),
            "金额合计": f"{batch.total_amount:.2f}元",
            "成功笔数": str(receipt.ok_count),
            "成功金额": f"{receipt.ok_amount:.2f}元",
            "失败笔数": str(receipt.failed_count),
            "失败金额": f"{receipt.failed_amount:.2f}元",
            "银行处理日期": f"{receipt.processed_on:%Y-%m-%d}" if receipt.processed_on else "",
            "文件SHA-256": receipt.sha256,
        },
        # The bank posted it through its API: no member of staff filed it.
        filed_by_id=None,
        filed_on=settled_on,
    )


SOURCES = [
    Source(
        kind=Kind.BANK_RECEIPT,
        queryset=lambda: (
            ResultReceipt.objects.filter(status=ReceiptStatus.SETTLED)
            .select_related("batch__partner", "batch__pooling_region")
            .order_by("pk")
        ),
        build=bank_receipt_record,
    ),
]
