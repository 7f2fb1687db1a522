"""The funding request (用款申请) of a confirmed payroll run, approved by finance: the month's money moves from
the fiscal special account to the expenditure account, split by fund (分账管理) as ``funding_figures`` says.

By the 10th the agency sends the request with the month's payroll; by the 15th finance moves the money; the
fund officer records finance's approval here, which books the transfer. The PAYOUT batches then take the
money out of the expenditure account, split the same way (``benefits.bank.paid_by_fund``): the account parts
from the individual-account fund, the rest (basic pension, account parts paid by the fund once accounts are
exhausted, back pay, less offsets of overpayments) from the basic-pension money.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from agencies.errors import Conflict
from benefits.models import PayrollRun, PayrollStatus
from benefits.payroll import funding_figures
from funds.fund_accounts import funding_transfer, require_fund_region
from funds.models import Fund, FundAccountKind, FundMovement


def funding_amounts(run: PayrollRun) -> dict[str, Decimal]:
    """The transfer the run asks for, by fund; the two add up to the run's total."""
    figures = funding_figures(run)
    return {
        Fund.INDIVIDUAL_ACCOUNT: figures.account_fund,
        Fund.BASIC_PENSION: figures.basic_fund + figures.offsets,
    }


def funding_reference(run: PayrollRun) -> str:
    """The run's funding request number (set at confirmation), or the same number made from the run."""
    return run.funding_request_number or f"YK{run.pooling_region.code}{run.month:%Y%m}"


def funding_request_approve(*, actor, run: PayrollRun, booked_on: dt.date | None = None) -> list[FundMovement]:
    """Record finance's approval of the run's funding request: the transfer fiscal → expenditure, booked on
    ``booked_on`` (today unless told). A second approval returns the same movements and books nothing."""
    run = PayrollRun.objects.select_related("pooling_region").get(pk=run.pk)
    require_fund_region(actor, run.pooling_region)
    if run.status != PayrollStatus.CONFIRMED:
        raise Conflict(
            f"{run.pooling_region.name}{run.month:%Y年%m月}的发放尚未确认，没有用款申请可以审批。",
            code="not_confirmed",
        )
    return funding_transfer(
        pooling_region=run.pooling_region,
        reference=funding_reference(run),
        amounts_by_fund=funding_amounts(run),
        booked_on=booked_on or timezone.localdate(),
        actor=actor,
    )


def funding_transfer_booked(run: PayrollRun) -> FundMovement | None:
    """The expenditure account's arrival of the run's funding, once finance's approval is recorded."""
    return (
        FundMovement.objects.filter(
            account__pooling_region_id=run.pooling_region_id,
            account__kind=FundAccountKind.EXPENDITURE,
            reference=funding_reference(run),
        )
        .order_by("booked_on", "id")
        .first()
    )


__all__ = ["funding_amounts", "funding_reference", "funding_request_approve", "funding_transfer_booked"]
