"""Every write to the fund accounts (收入户/支出户/财政专户): movements, appended and never changed.

Other apps and the bank settlement book money only through ``movement_post``; it is idempotent by key, so a
settlement re-run or a retried API call books once.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import F

from agencies.errors import Conflict, DomainError
from agencies.models import PoolingRegion
from funds.models import Fund, FundAccount, FundAccountKind, FundMovement, MovementKind


def fund_accounts_ensure(*, pooling_region: PoolingRegion) -> dict[str, FundAccount]:
    """The pooling region's three accounts, created on first use (their bank and number are filled in later)."""
    accounts = {a.kind: a for a in FundAccount.objects.filter(pooling_region=pooling_region)}
    for kind in FundAccountKind.values:
        if kind not in accounts:
            accounts[kind], _ = FundAccount.objects.get_or_create(pooling_region=pooling_region, kind=kind)
    return accounts


def movement_post(
    *,
    pooling_region: PoolingRegion,
    account_kind: str,
    fund: str,
    kind: str,
    amount: Decimal,
    booked_on: dt.date,
    reference: str,
    idempotency_key: str,
    counterpart: str = "",
    actor=None,
) -> FundMovement:
    """Book one movement and move the account's cached balance. The same key again returns the first movement."""
    if not isinstance(amount, Decimal):
        raise TypeError("fund movements are Decimal")
    if fund not in Fund.values or kind not in MovementKind.values or account_kind not in FundAccountKind.values:
        raise ValueError(f"unknown fund, movement kind or account: {fund} {kind} {account_kind}")
    if amount == 0:
        raise DomainError("金额为零，无需记账。", code="empty_movement")
    existing = FundMovement.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        return _same_or_conflict(existing, amount)
    account = fund_accounts_ensure(pooling_region=pooling_region)[account_kind]
    try:
        with transaction.atomic():
            movement = FundMovement.objects.create(
                account=account,
                fund=fund,
                kind=kind,
                amount=amount,
                booked_on=booked_on,
                reference=reference,
                counterpart=counterpart,
                idempotency_key=idempotency_key,
                created_by=actor,
            )
            FundAccount.objects.filter(pk=account.pk).update(balance=F("balance") + amount)
    except IntegrityError:
        existing = FundMovement.objects.filter(idempotency_key=idempotency_key).first()
        if existing is None:
            raise
        return _same_or_conflict(existing, amount)
    return movement


def _same_or_conflict(existing: FundMovement, amount: Decimal) -> FundMovement:
    if existing.amount != amount:
        raise Conflict(
            f"业务编号 {existing.reference} 已记账 {existing.amount} 元，与本次 {amount} 元不一致，请核查。",
            code="movement_mismatch",
        )
    return existing
