"""Reads of the fund account pages and the home worklist: accounts, movements, statements, month-end sweeps.

Every function takes regions or objects the caller has already read through the scope (``covered_pooling_regions``,
``reconciliation.fund_account_get``) or the acting user.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Case, F, IntegerField, QuerySet, Sum, Value, When, Window
from django.http import Http404

from agencies.models import PoolingRegion
from agencies.money import ZERO, money_total
from funds import fund_accounts, reconciliation
from funds.models import BankStatement, FinanceConfirmation, Fund, FundAccount, FundAccountKind, FundMovement

KIND_ORDER = {kind: i for i, kind in enumerate(FundAccountKind.values)}  # 收入户, 支出户, 财政专户


def accounts_of(regions: list[PoolingRegion]) -> QuerySet[FundAccount]:
    """The fund accounts of these regions, each region's in the order 收入户, 支出户, 财政专户."""
    order = Case(*(When(kind=k, then=Value(i)) for k, i in KIND_ORDER.items()), output_field=IntegerField())
    return (
        FundAccount.objects.filter(pooling_region__in=[r.pk for r in regions])
        .select_related("pooling_region", "bank_partner")
        .order_by("pooling_region__code", order)
    )


def previous_month(today: dt.date) -> dt.date:
    """The first day of the calendar month before ``today``'s: "last month", whose sweep is due by now."""
    return (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)


@dataclass(frozen=True)
class SweepCheck:
    """What a region's income account held at the end of a month, per fund: nothing once the month is swept."""

    pooling_region: PoolingRegion
    month: dt.date
    individual_account: Decimal
    basic_pension: Decimal

    @property
    def month_end(self) -> dt.date:
        return fund_accounts.month_end(self.month)

    @property
    def total(self) -> Decimal:
        return self.individual_account + self.basic_pension

    @property
    def done(self) -> bool:
        return self.individual_account == 0 and self.basic_pension == 0


def sweep_checks(*, regions: Iterable[PoolingRegion], month: dt.date) -> list[SweepCheck]:
    """Each region's income account at the end of ``month``, per fund: one query for all the regions. The caller
    passes regions the user covers."""
    regions = list(regions)
    end = fund_accounts.month_end(month)
    sums = {
        (region_id, fund): money_total(total)
        for region_id, fund, total in FundMovement.objects.filter(
            account__pooling_region__in=[r.pk for r in regions],
            account__kind=FundAccountKind.INCOME,
            booked_on__lte=end,
        )
        .values("account__pooling_region", "fund")
        .annotate(total=Sum("amount"))
        .values_list("account__pooling_region", "fund", "total")
    }
    return [
        SweepCheck(
            pooling_region=region,
            month=month.replace(day=1),
            individual_account=sums.get((region.pk, Fund.INDIVIDUAL_ACCOUNT), ZERO),
            basic_pension=sums.get((region.pk, Fund.BASIC_PENSION), ZERO),
        )
        for region in regions
    ]


def account_movements(
    account: FundAccount, *, date_from: dt.date | None, date_to: dt.date | None, fund: str, kind: str
) -> tuple[QuerySet[FundMovement], Decimal]:
    """The account's movements as filtered, oldest first, and the balance before the first of them (of the
    chosen fund, or of both). The account comes from ``fund_account_get``: it is in the user's scope."""
    rows = FundMovement.objects.filter(account=account)
    if fund:
        rows = rows.filter(fund=fund)
    opening = ZERO
    if date_from is not None:
        opening = money_total(rows.filter(booked_on__lt=date_from).aggregate(total=Sum("amount"))["total"])
        rows = rows.filter(booked_on__gte=date_from)
    if date_to is not None:
        rows = rows.filter(booked_on__lte=date_to)
    if kind:
        rows = rows.filter(kind=kind)
    return rows.select_related("created_by").order_by("booked_on", "id"), opening


def with_running_balance(rows: QuerySet[FundMovement]) -> QuerySet[FundMovement]:
    return rows.annotate(
        running=Window(Sum("amount"), order_by=[F("booked_on").asc(), F("id").asc()]),
    )


def statement_get(*, user, pk) -> BankStatement:
    """A statement of a fund account in a pooling region the user covers (404 otherwise)."""
    account_id = BankStatement.objects.filter(pk=pk).values_list("account_id", flat=True).first()
    if account_id is None:
        raise Http404
    account = reconciliation.fund_account_get(user=user, pk=account_id)
    statement = BankStatement.objects.get(pk=pk)
    statement.account = account
    return statement


def books_balance(account: FundAccount, *, on: dt.date) -> Decimal:
    """The account's balance in the agency's books at the end of ``on``, both funds."""
    return sum((fund_accounts.fund_balance(account, fund, on) for fund in Fund.values), ZERO)


def finance_confirmations(regions: Iterable[PoolingRegion]) -> QuerySet[FinanceConfirmation]:
    """Finance's confirmations recorded for these regions (the ones the user covers), newest first."""
    return (
        FinanceConfirmation.objects.filter(pooling_region__in=[r.pk for r in regions])
        .select_related("pooling_region", "recorded_by")
        .order_by("-confirmed_on", "-id")
    )
