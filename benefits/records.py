"""The papers benefits files into the archives: 待遇申请表 and the monthly 待遇发放花名册.

Builders work from the saved record alone (see ``enrollment.records``); ``SOURCES`` lists every record of each
kind with what its builder reads, for the archives' backfill.
"""

from __future__ import annotations

from django.utils import timezone

from agencies.records import Kind, Record, Source
from benefits.models import Claim, PayrollRun, PayrollStatus
from enrollment.records import mask_account, person_label
from funds.records import pooling_region_place


def claim_record(claim: Claim) -> Record:
    """待遇申请表, as entered (a resubmission after a return is the same form)."""
    person = claim.person
    made_on = timezone.localdate(claim.created_at)
    return Record(
        kind=Kind.CLAIM,
        source=claim,
        region_code=claim.region_code,
        year=made_on.year,
        title=f"待遇申请表 {person_label(person)}",
        person_id=person.pk,
        fields={
            "姓名": person.name,
            "身份证号": person.id_number,
            "保险编号": person.insurance_number or "",
            "村（社区）": person.village.name,
            "待遇类别": claim.get_category_display(),
            "符合条件月份": f"{claim.eligible_from:%Y年%m月}",
            "缴费年限（含视同）": f"{claim.years_paid}年",
            "发放银行代码": claim.bank_code,
            "发放账号": mask_account(claim.bank_account),
            "录入日期": f"{made_on:%Y-%m-%d}",
        },
        filed_by_id=claim.created_by_id,
        filed_on=made_on,
    )


def payout_roll_record(run: PayrollRun) -> Record:
    """待遇发放花名册: a pooling region's confirmed month, filed under the region's own code."""
    pooling_region = run.pooling_region
    confirmed_on = timezone.localdate(run.confirmed_at) if run.confirmed_at else run.month
    return Record(
        kind=Kind.PAYOUT_ROLL,
        source=run,
        region_code=pooling_region_place(pooling_region),
        year=run.month.year,
        title=f"待遇发放花名册 {pooling_region.name} {run.month:%Y年%m月}",
        fields={
            "统筹区": pooling_region.name,
            "发放月份": f"{run.month:%Y年%m月}",
            "发放人数": str(run.lines_count),
            "基础养老金合计": f"{run.basic_total:.2f}元",
            "个人账户养老金合计": f"{run.account_total:.2f}元",
            "补发合计": f"{run.arrears_total:.2f}元",
            "发放总额": f"{run.total:.2f}元",
            "用款申请编号": run.funding_request_number,
            "确认日期": f"{confirmed_on:%Y-%m-%d}",
        },
        filed_by_id=run.confirmed_by_id,
        filed_on=confirmed_on,
    )


SOURCES = [
    Source(
        kind=Kind.CLAIM,
        queryset=lambda: Claim.objects.select_related("person__village").order_by("pk"),
        build=claim_record,
    ),
    Source(
        kind=Kind.PAYOUT_ROLL,
        queryset=lambda: (
            PayrollRun.objects.filter(status=PayrollStatus.CONFIRMED).select_related("pooling_region").order_by("pk")
        ),
        build=payout_roll_record,
    ),
]
