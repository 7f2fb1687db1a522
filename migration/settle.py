"""结算核对: what must be true on the source side before its records are frozen (Changzhou 2016, step 1).

Each check counts what is not yet done in the area that moves (``source_prefixes``) and says so in a
sentence a supervisor can act on; the step is done only when every count is zero. The checks only read.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.db.models import CharField, Exists, OuterRef, Q, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from agencies.errors import Conflict
from migration.models import MergerProject, Step, StepState
from migration.services import require_merger_user, source_prefixes, step_fail, step_finish, step_of, step_start


@dataclass(frozen=True)
class SettleItem:
    key: str
    label: str
    count: int
    ok: bool
    detail: str


def _area(prefixes: list[str], field: str = "region_code") -> Q:
    condition = Q(pk__in=[])
    for prefix in prefixes:
        condition |= Q(**{f"{field}__startswith": prefix})
    return condition


def _item(key: str, label: str, count: int, detail: str) -> SettleItem:
    return SettleItem(key=key, label=label, count=count, ok=count == 0, detail=detail if count else "已完成")


def _deductions(project: MergerProject, prefixes: list[str]) -> SettleItem:
    from funds.models import BankBatch, BankBatchLine, BatchKind, BatchStatus

    lines = BankBatchLine.objects.filter(_area(prefixes), batch_id=OuterRef("pk"))
    count = (
        BankBatch.objects.filter(kind=BatchKind.DEDUCT, pooling_region=project.source_pooling_region)
        .exclude(status=BatchStatus.SETTLED)
        .filter(Exists(lines))
        .count()
    )
    return _item("deductions", "年度代扣已完成", count, f"{count} 个代扣批次尚未回盘结算")


def _payroll(project: MergerProject, prefixes: list[str], month: dt.date) -> list[SettleItem]:
    from benefits.models import Award, AwardStatus, LineKind, PayoutStatus, PayrollLine, PayrollStatus

    unpaid = (
        PayrollLine.objects.filter(_area(prefixes), run__month=month, run__pooling_region=project.source_pooling_region)
        .exclude(payout_status=PayoutStatus.PAID)
        .count()
    )
    paid_line = PayrollLine.objects.filter(
        award_id=OuterRef("pk"), run__month=month, run__status=PayrollStatus.CONFIRMED, kind=LineKind.PENSION
    )
    missing = (
        Award.objects.filter(_area(prefixes), status=AwardStatus.ACTIVE, start_month__lte=month)
        .filter(~Exists(paid_line))
        .count()
    )
    label = f"{month.year}年{month.month}月待遇已发放"
    return [
        _item("payroll_unpaid", label, unpaid, f"{unpaid} 笔{month.year}年{month.month}月发放明细尚未到账"),
        _item(
            "awards_without_payroll",
            f"{month.year}年{month.month}月发放名单完整",
            missing,
            f"{missing} 名正常发放的领取人不在{month.year}年{month.month}月已确认的发放名单中",
        ),
    ]


def _subsidies(prefixes: list[str], year: int) -> list[SettleItem]:
    from contributions.models import CollectiveSubsidy, CollectiveSubsidyCredit, Contribution
    from funds.models import EntryKind, LedgerEntry

    # The subsidy is posted with the contribution, under the reference "contribution:<id>".
    posted = LedgerEntry.objects.filter(
        kind=EntryKind.SUBSIDY,
        reference=Concat(Value("contribution:"), Cast(OuterRef("pk"), output_field=CharField())),
    )
    government = (
        Contribution.objects.filter(_area(prefixes), year=year, government_subsidy__gt=0)
        .filter(~Exists(posted))
        .count()
    )
    granted = CollectiveSubsidy.objects.filter(village_id=OuterRef("person__village_id"), year=year)
    credited = CollectiveSubsidyCredit.objects.filter(
        subsidy__village_id=OuterRef("person__village_id"), subsidy__year=year, person_id=OuterRef("person_id")
    )
    collective = (
        Contribution.objects.filter(_area(prefixes), year=year)
        .filter(Exists(granted))
        .filter(~Exists(credited))
        .count()
    )
    return [
        _item(
            "government_subsidy",
            f"{year}年度政府缴费补贴已记入个人账户",
            government,
            f"{government} 笔{year}年度缴费的政府补贴尚未记账",
        ),
        _item(
            "collective_subsidy",
            f"{year}年度集体补助已记入个人账户",
            collective,
            f"{collective} 名{year}年度缴费人员尚未记入所在村已登记的集体补助",
        ),
    ]


def _interest(prefixes: list[str], year: int) -> SettleItem:
    from funds.models import EntryKind, IndividualAccount, LedgerEntry
    from funds.settlement import year_period

    year_end = dt.date(year, 12, 31)
    settled = LedgerEntry.objects.filter(account_id=OuterRef("pk"), kind=EntryKind.INTEREST, period=year_period(year))
    # Money booked before December earns at least a month: an account holding only December's money may
    # round to no interest at all, and is not counted.
    earning = LedgerEntry.objects.filter(account_id=OuterRef("pk"), booked_on__lt=dt.date(year, 12, 1))
    count = (
        IndividualAccount.objects.filter(_area(prefixes), balance__gt=0)
        .filter(Q(closed_on__isnull=True) | Q(closed_on__gt=year_end))
        .filter(Exists(earning))
        .filter(~Exists(settled))
        .count()
    )
    return _item("interest", f"{year}年度利息已结算", count, f"{count} 个有余额的个人账户尚未结算{year}年度利息")


def _open_business(prefixes: list[str]) -> list[SettleItem]:
    from benefits.models import OPEN_CLAIM_STATUSES, Claim
    from enrollment.models import OPEN_STATUSES, Application

    applications = Application.objects.filter(_area(prefixes), status__in=OPEN_STATUSES).count()
    claims = Claim.objects.filter(_area(prefixes), status__in=OPEN_CLAIM_STATUSES).count()
    return [
        _item("open_applications", "参保登记/变更/注销已办结", applications, f"{applications} 件登记业务尚在办理中"),
        _item("open_claims", "待遇申请已办结", claims, f"{claims} 件待遇申请尚在审核中"),
    ]


def settle_check(project: MergerProject, *, on: dt.date | None = None) -> list[SettleItem]:
    """The source side's state on ``on`` (today by default): each item with its count, ok when zero."""
    on = on or timezone.localdate()
    prefixes = source_prefixes(project)
    month = on.replace(day=1)
    return [
        _deductions(project, prefixes),
        *_payroll(project, prefixes, month),
        *_subsidies(prefixes, on.year - 1),
        _interest(prefixes, on.year - 1),
        *_open_business(prefixes),
    ]


def settle_summary(items: list[SettleItem]) -> str:
    return "；".join(f"{item.label}：{item.detail}" for item in items)


def settle_confirm(*, actor, project: MergerProject, on: dt.date | None = None) -> list[SettleItem]:
    """Run the checks as the Settle step: done when all hold, failed with what is not yet true. Repeatable
    until the source is frozen."""
    require_merger_user(actor, project)
    if step_of(project, Step.FREEZE).state == StepState.DONE:
        raise Conflict("源统筹区数据已封存，结算核对不能再执行。", code="already_frozen")
    on = on or timezone.localdate()
    step_start(project, Step.SETTLE, actor=actor)
    try:
        items = settle_check(project, on=on)
    except Exception as exc:
        step_fail(project, Step.SETTLE, actor=actor, error=f"核对中断：{exc}")
        raise
    pending = [item for item in items if not item.ok]
    if pending:
        step_fail(project, Step.SETTLE, actor=actor, error="尚未完成：" + "；".join(item.detail for item in pending))
        return items
    with transaction.atomic():
        # What the freeze records as the interest settled: the prior year's, checked here.
        project.interest_settled_through = dt.date(on.year - 1, 12, 31)
        project.save(update_fields=["interest_settled_through"])
        step_finish(project, Step.SETTLE, actor=actor, summary=f"核对日期 {on:%Y-%m-%d}：" + settle_summary(items))
    return items
