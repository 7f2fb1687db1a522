"""The papers contributions files into the archives: 保费补缴申请表 and 集体补助明细表.

Builders work from the saved record alone (see ``enrollment.records``); ``SOURCES`` lists every record of each
kind with what its builder reads, for the archives' backfill.
"""

from __future__ import annotations

from django.utils import timezone

from agencies.records import Kind, Record, Source
from contributions.models import CollectiveSubsidy, Contribution, ContributionKind
from enrollment.records import person_label


def back_payment_record(contribution: Contribution) -> Record:
    """保费补缴申请表: one past year paid back, filed in the year it was paid."""
    person = contribution.person
    return Record(
        kind=Kind.BACK_PAYMENT,
        source=contribution,
        region_code=contribution.region_code,
        year=contribution.paid_on.year,
        title=f"保费补缴申请表 {person_label(person)} {contribution.year}年度",
        person_id=person.pk,
        fields={
            "姓名": person.name,
            "身份证号": person.id_number,
            "保险编号": person.insurance_number or "",
            "村（社区）": person.village.name,
            "补缴年度": str(contribution.year),
            "缴费档次": f"{contribution.tier_amount:.2f}元",
            "个人缴费": f"{contribution.personal_amount:.2f}元",
            "政府缴费补贴": f"{contribution.government_subsidy:.2f}元",
            "缴费日期": f"{contribution.paid_on:%Y-%m-%d}",
            "缴费渠道": contribution.get_channel_display(),
            "银行流水号": contribution.bank_reference,
        },
        filed_by_id=contribution.recorded_by_id,
        filed_on=timezone.localdate(contribution.recorded_at),
    )


def collective_subsidy_record(subsidy: CollectiveSubsidy) -> Record:
    """集体补助明细表: a village's grant for a year, per person, and how many it credited."""
    village = subsidy.village
    return Record(
        kind=Kind.COLLECTIVE_SUBSIDY,
        source=subsidy,
        region_code=subsidy.region_code,
        year=subsidy.year,
        title=f"集体补助明细表 {village.name} {subsidy.year}年度",
        fields={
            "村（社区）": village.name,
            "年度": str(subsidy.year),
            "每人补助金额": f"{subsidy.amount_per_person:.2f}元",
            "补助人数": str(subsidy.persons_credited),
            "受上限限制人数": str(subsidy.persons_capped),
            "村民会议决议文号": subsidy.decision,
        },
        filed_by_id=subsidy.recorded_by_id,
        filed_on=timezone.localdate(subsidy.recorded_at),
    )


SOURCES = [
    Source(
        kind=Kind.BACK_PAYMENT,
        queryset=lambda: (
            Contribution.objects.filter(kind=ContributionKind.BACK_PAYMENT)
            .select_related("person__village")
            .order_by("pk")
        ),
        build=back_payment_record,
    ),
    Source(
        kind=Kind.COLLECTIVE_SUBSIDY,
        queryset=lambda: CollectiveSubsidy.objects.select_related("village").order_by("pk"),
        build=collective_subsidy_record,
    ),
]
