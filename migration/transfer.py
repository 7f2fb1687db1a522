"""基金划转 and 系统切换: the imported account balances move from the source's fiscal special account to the
target's, and from the cut-over date the source pooling region takes no new business.

The transfer is two fund movements under one reference (the number the agency gives both banks): out of the
source's fiscal special account and into the target's, in the individual-account fund, booked on the day
the money moved. The bank reconciliation groups movements by reference and day, so each bank's statement
line carrying that reference on that day matches its side.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from agencies.errors import Conflict, DomainError
from agencies.models import PoolingRegion
from funds.fund_accounts import fund_accounts_ensure, fund_balance, movement_post
from funds.models import Fund, FundAccount, FundAccountKind, MovementKind
from migration.models import FundTransferRecord, ImportRun, ImportStatus, MergerProject, Step, StepState
from migration.services import require_merger_user, step_finish, step_of, step_start, steps_by_name

TRANSFER_PREFIX = "HZ"


def transfer_reference(project: MergerProject) -> str:
    """``HZ<source code>-<target code>-<project>``: one per project, what both banks show."""
    return f"{TRANSFER_PREFIX}{project.source_pooling_region.code}-{project.target_pooling_region.code}-{project.pk}"


def _imported_total(project: MergerProject):
    run = ImportRun.objects.filter(project=project, status=ImportStatus.DONE).order_by("-id").first()
    if run is None:
        raise Conflict("正式导入尚未完成，不能划转基金。", code="not_imported")
    return run.balance_imported


def fund_transfer(*, actor, project: MergerProject, on: dt.date | None = None) -> FundTransferRecord:
    """Move the imported balance total from the source's fiscal special account to the target's. Once per
    project: a retry returns the same record. Refused, with both figures, when the source account holds less."""
    require_merger_user(actor, project)
    done = FundTransferRecord.objects.filter(project=project).first()
    if done is not None:
        return done
    on = on or timezone.localdate()
    if on > timezone.localdate():
        raise DomainError(f"划转日期{on:%Y-%m-%d}晚于今天，请核对。", code="future_date", field="on")
    amount = _imported_total(project)
    source: PoolingRegion = project.source_pooling_region
    target: PoolingRegion = project.target_pooling_region
    reference = transfer_reference(project)
    fund = Fund.INDIVIDUAL_ACCOUNT
    with transaction.atomic():
        fiscal_out = fund_accounts_ensure(pooling_region=source)[FundAccountKind.FISCAL]
        fiscal_in = fund_accounts_ensure(pooling_region=target)[FundAccountKind.FISCAL]
        # Both accounts locked in the order of their ids, as every writer of fund accounts locks them.
        list(FundAccount.objects.select_for_update().filter(pk__in=[fiscal_out.pk, fiscal_in.pk]).order_by("pk"))
        done = FundTransferRecord.objects.filter(project=project).first()
        if done is not None:
            return done
        available = min(fund_balance(fiscal_out, fund, on), fund_balance(fiscal_out, fund))
        if available < amount:
            raise DomainError(
                f"{source.name}财政专户个人账户基金现有 ¥{available:,}，需划转 ¥{amount:,}，差 ¥{amount - available:,}。"
                "请待资金到位后再划转。",
                code="insufficient_funds",
            )
        if step_of(project, Step.FUND_TRANSFER).state != StepState.RUNNING:
            step_start(project, Step.FUND_TRANSFER, actor=actor)
        if amount:
            for pooling_region, kind, signed, other, side in (
                (source, MovementKind.TRANSFER_OUT, -amount, target, "out"),
                (target, MovementKind.TRANSFER_IN, amount, source, "in"),
            ):
                movement_post(
                    pooling_region=pooling_region,
                    account_kind=FundAccountKind.FISCAL,
                    fund=fund,
                    kind=kind,
                    amount=signed,
                    booked_on=on,
                    reference=reference,
                    counterpart=f"{other.name}财政专户",
                    idempotency_key=f"merger:{project.pk}:fund_transfer:{side}",
                    actor=actor,
                )
        record = FundTransferRecord.objects.create(
            project=project, reference=reference, amount=amount, transferred_on=on, actor=actor
        )
        step_finish(
            project,
            Step.FUND_TRANSFER,
            actor=actor,
            summary=f"个人账户基金 ¥{amount:,} 已由{source.name}财政专户划入{target.name}财政专户，凭证号 {reference}。",
        )
    return record


def cutover(*, actor, project: MergerProject, today: dt.date | None = None) -> None:
    """From the cut-over date only the target takes business: a whole source pooling region is closed and
    points at the target (a set of towns leaves the source open for its other places)."""
    require_merger_user(actor, project)
    today = today or timezone.localdate()
    if step_of(project, Step.CUTOVER).state == StepState.DONE:
        return
    if today < project.cutover_date:
        raise DomainError(f"切换日期为{project.cutover_date:%Y年%m月%d日}，尚未到达，不能切换。", code="before_cutover")
    states = steps_by_name(project)
    missing = [
        str(Step(need).label) for need in (Step.IMPORT, Step.FUND_TRANSFER) if states[need].state != StepState.DONE
    ]
    if missing:
        raise Conflict(f"请先完成：{'、'.join(missing)}，再进行系统切换。", code="step_not_ready")
    source = project.source_pooling_region
    target = project.target_pooling_region
    with transaction.atomic():
        step_start(project, Step.CUTOVER, actor=actor)
        if project.source_towns:
            summary = f"自{project.cutover_date:%Y年%m月%d日}起，并入的乡镇在{target.name}办理业务。"
        else:
            region = PoolingRegion.objects.select_for_update().get(pk=source.pk)
            region.closed_on = project.cutover_date
            region.merged_into = target
            region._history_user = actor
            region._change_reason = f"并轨切换：{project.name}"
            region.save(update_fields=["closed_on", "merged_into"])
            summary = f"{source.name}自{project.cutover_date:%Y年%m月%d日}起并入{target.name}，不再办理新业务。"
        step_finish(project, Step.CUTOVER, actor=actor, summary=summary)
