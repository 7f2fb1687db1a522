"""Every write to the fund accounts (收入户/支出户/财政专户): movements, appended and never changed.

Other apps and the bank settlement book money only through ``movement_post``; it is idempotent by key, so a
settlement re-run or a retried API call books once.

The money's path (收支两条线): settled deductions and counter payments arrive in income; ``income_sweep``
moves income to the fiscal special account at month end (归集), so income holds nothing then; government
money arrives in the fiscal special account (``finance_receipt``); an approved funding request moves money
from fiscal to expenditure (``funding_transfer``); settled payouts leave expenditure. Every movement names its
fund, so the individual-account fund and the basic-pension money are reported apart (``fund_balances``).

Transfer numbers the agency gives the bank and finance: ``GJ<pooling region code><YYYYMM>`` for a month's
sweep (``-2``, ``-3`` … for a later sweep of the same month, when money booked in that month arrived after
the first), and the payroll run's funding request number ``YK<pooling region code><YYYYMM>`` for its
funding transfer.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone

from agencies.errors import Conflict, DomainError, NotPermitted
from agencies.models import PoolingRegion
from agencies.money import ZERO, money_total, parse_money
from agencies.permissions import Action, require
from agencies.scope import covers_pooling_region
from funds.models import BankPartner, Fund, FundAccount, FundAccountKind, FundMovement, MovementKind

SWEEP_PREFIX = "GJ"
FINANCE = "财政"


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


# --- who may -------------------------------------------------------------------------------------------------


def require_fund_region(actor, pooling_region: PoolingRegion, action: Action = Action.MANAGE_FUND_ACCOUNTS) -> None:
    """The actor's role may do ``action`` and their scope holds every place of the pooling region (its fund
    accounts are the whole region's)."""
    require(actor, action)
    if not covers_pooling_region(actor, pooling_region):
        raise NotPermitted(
            f"{pooling_region.name}不全在您的管辖范围内，不能办理其基金账户业务。", code="not_whole_region"
        )


# --- small helpers ---------------------------------------------------------------------------------------------


def month_end(day: dt.date) -> dt.date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def fund_balance(account: FundAccount, fund: str, on: dt.date | None = None) -> Decimal:
    """One fund's money on an account from its movements, as of the end of ``on`` (all of them without)."""
    rows = FundMovement.objects.filter(account=account, fund=fund)
    if on is not None:
        rows = rows.filter(booked_on__lte=on)
    # quantize: SQLite's sums come back without their two places
    return money_total(rows.aggregate(total=Sum("amount"))["total"])


def _reference(reference: str) -> str:
    text = "".join(str(reference or "").split())
    if not text:
        raise DomainError("请填写业务编号（划转编号或财政单据上的编号）。", code="required", field="reference")
    if len(text) > 64:
        raise DomainError("业务编号最多64个字符。", code="invalid", field="reference")
    return text


def _booking_day(booked_on: dt.date) -> dt.date:
    if not isinstance(booked_on, dt.date):
        raise DomainError("请填写记账日期。", code="required", field="booked_on")
    if booked_on > timezone.localdate():
        raise DomainError(f"记账日期{booked_on:%Y-%m-%d}晚于今天，请核对。", code="future_date", field="booked_on")
    return booked_on


def _fund_label(fund: str) -> str:
    return str(Fund(fund).label)


def _lock(*accounts: FundAccount) -> None:
    """Row locks on the accounts, in the order of their ids (every writer here locks the same way)."""
    list(FundAccount.objects.select_for_update().filter(pk__in=[a.pk for a in accounts]).order_by("pk"))


# --- the bank account of each fund account ----------------------------------------------------------------------


def fund_account_bank_set(
    *, actor, pooling_region: PoolingRegion, kind: str, partner: BankPartner, account_number: str
) -> FundAccount:
    """Name the bank and the account number of one of the region's fund accounts (the bank's statements of it
    are addressed by this number). Refused once statements of the account have been received."""
    require_fund_region(actor, pooling_region)
    if kind not in FundAccountKind.values:
        raise DomainError("账户类型只能是收入户、支出户或财政专户。", code="invalid", field="kind")
    number = "".join(str(account_number or "").split())
    if not number or len(number) > 32 or not number.isalnum():
        raise DomainError("账号为1至32位数字或字母。", code="invalid", field="account_number")
    if not partner.active or not partner.pooling_regions.filter(pk=pooling_region.pk).exists():
        raise DomainError(f"{partner.name}不是{pooling_region.name}的合作银行。", code="not_partner", field="partner")
    with transaction.atomic():
        account = fund_accounts_ensure(pooling_region=pooling_region)[kind]
        account = FundAccount.objects.select_for_update().get(pk=account.pk)
        if (account.bank_partner_id, account.account_number) == (partner.pk, number):
            return account
        if account.statements.exists():
            raise Conflict(
                f"{account}已收到银行对账单，不能再更改开户银行或账号；如确已换户，请联系系统管理员。",
                code="has_statements",
            )
        taken = FundAccount.objects.filter(bank_partner=partner, account_number=number).exclude(pk=account.pk).first()
        if taken is not None:
            raise Conflict(f"{partner.name}账号{number}已登记为{taken}。", code="duplicate", field="account_number")
        account.bank_partner = partner
        account.account_number = number
        account.save(update_fields=["bank_partner", "account_number"])
    return account


# --- the month-end sweep (归集) --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sweep:
    """What one run of ``income_sweep`` moved: nothing (``reference`` None) when income held nothing."""

    pooling_region: PoolingRegion
    month: dt.date  # the month's first day
    booked_on: dt.date  # the month's last day
    reference: str | None = None
    amounts: dict[str, Decimal] = field(default_factory=dict)
    movements: list[FundMovement] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return sum(self.amounts.values(), ZERO)


def _transfer(
    *,
    pooling_region: PoolingRegion,
    source: str,
    target: str,
    kinds: tuple[str, str],
    fund: str,
    amount: Decimal,
    booked_on: dt.date,
    reference: str,
    key: str,
    actor,
) -> list[FundMovement]:
    """One fund's money from one account to another: the pair of movements under one reference, out then in.
    The caller holds both accounts' locks in its transaction."""
    out_kind, in_kind = kinds
    labels = {kind: label for kind, label in FundAccountKind.choices}
    return [
        movement_post(
            pooling_region=pooling_region,
            account_kind=account_kind,
            fund=fund,
            kind=kind,
            amount=signed,
            booked_on=booked_on,
            reference=reference,
            counterpart=f"{pooling_region.name}{labels[other]}",
            idempotency_key=f"{key}:{side}",
            actor=actor,
        )
        for account_kind, other, kind, signed, side in (
            (source, target, out_kind, -amount, "out"),
            (target, source, in_kind, amount, "in"),
        )
    ]


def sweep_reference(*, pooling_region: PoolingRegion, month: dt.date, sequence: int = 1) -> str:
    base = f"{SWEEP_PREFIX}{pooling_region.code}{month:%Y%m}"
    return base if sequence == 1 else f"{base}-{sequence}"


def income_sweep(*, pooling_region: PoolingRegion, month: dt.date, actor=None) -> Sweep:
    """Move each fund's income-account balance at the end of ``month`` to the fiscal special account.

    Booked on the month's last day: SWEEP_OUT on income and SWEEP_IN on fiscal, one pair per fund, under the
    month's transfer number. Safe to run again: income then holds nothing at month end and nothing moves;
    money booked in the month after a sweep (a late settlement) is swept by the next run under ``-2``, ``-3``…
    ``actor`` None is the nightly job (its business day says the month has ended); staff need the fund role
    and the whole region in their scope, and the month must have reached its last day.
    """
    first = month.replace(day=1)
    last = month_end(first)
    if actor is not None:
        require_fund_region(actor, pooling_region)
        if last > timezone.localdate():
            raise DomainError(f"{first:%Y年%m月}尚未到月末，不能归集。", code="month_not_ended", field="month")
    nothing = Sweep(pooling_region=pooling_region, month=first, booked_on=last)
    income = FundAccount.objects.filter(pooling_region=pooling_region, kind=FundAccountKind.INCOME).first()
    if income is None or not FundMovement.objects.filter(account=income, booked_on__lte=last).exists():
        return nothing
    with transaction.atomic():
        accounts = fund_accounts_ensure(pooling_region=pooling_region)
        fiscal = accounts[FundAccountKind.FISCAL]
        _lock(income, fiscal)
        balances = {fund: fund_balance(income, fund, last) for fund in Fund.values}
        negative = [f"{_fund_label(fund)}{amount}元" for fund, amount in balances.items() if amount < 0]
        if negative:
            raise DomainError(
                f"{pooling_region.name}收入户{first:%Y年%m月}末余额为负（{'、'.join(negative)}），请先核查收入户流水再归集。",
                code="negative_income",
            )
        amounts = {fund: amount for fund, amount in balances.items() if amount > 0}
        if not amounts:
            return nothing
        base = sweep_reference(pooling_region=pooling_region, month=first)
        earlier = (
            FundMovement.objects.filter(account=income, kind=MovementKind.SWEEP_OUT, booked_on=last)
            .filter(reference__startswith=base)
            .values("reference")
            .distinct()
            .count()
        )
        sequence = earlier + 1
        reference = sweep_reference(pooling_region=pooling_region, month=first, sequence=sequence)
        movements = []
        for fund, amount in amounts.items():
            movements += _transfer(
                pooling_region=pooling_region,
                source=FundAccountKind.INCOME,
                target=FundAccountKind.FISCAL,
                kinds=(MovementKind.SWEEP_OUT, MovementKind.SWEEP_IN),
                fund=fund,
                amount=amount,
                booked_on=last,
                reference=reference,
                key=f"sweep:{pooling_region.pk}:{first:%Y%m}:{sequence}:{fund}",
                actor=actor,
            )
    return Sweep(
        pooling_region=pooling_region,
        month=first,
        booked_on=last,
        reference=reference,
        amounts=amounts,
        movements=movements,
    )


# --- government money into the fiscal special account -------------------------------------------------------------


def finance_receipt(
    *, actor, pooling_region: PoolingRegion, fund: str, amount, booked_on: dt.date, reference: str
) -> FundMovement:
    """Government money (subsidies, the basic pension's funding) arriving in the fiscal special account from
    finance: TRANSFER_IN on fiscal, counterpart 财政. The same reference and fund again returns the first."""
    require_fund_region(actor, pooling_region)
    if fund not in Fund.values:
        raise DomainError("请选择基金：个人账户基金或基础养老金。", code="invalid", field="fund")
    amount = parse_money(amount, field="amount")
    reference = _reference(reference)
    booked_on = _booking_day(booked_on)
    return movement_post(
        pooling_region=pooling_region,
        account_kind=FundAccountKind.FISCAL,
        fund=fund,
        kind=MovementKind.TRANSFER_IN,
        amount=amount,
        booked_on=booked_on,
        reference=reference,
        counterpart=FINANCE,
        idempotency_key=f"finance_receipt:{pooling_region.pk}:{reference}:{fund}",
        actor=actor,
    )


# --- funding: fiscal → expenditure -------------------------------------------------------------------------------


def _funding_amounts(amounts_by_fund: dict) -> dict[str, Decimal]:
    amounts: dict[str, Decimal] = {}
    for fund, raw in amounts_by_fund.items():
        if fund not in Fund.values:
            raise ValueError(f"unknown fund {fund}")
        amount = parse_money(raw, field="amount", allow_zero=True, allow_negative=True)
        if amount:
            amounts[fund] = amount
    if not amounts:
        raise DomainError("拨付金额为零，无需划拨。", code="empty_transfer")
    return {fund: amounts[fund] for fund in Fund.values if fund in amounts}


def _funding_done(pooling_region: PoolingRegion, reference: str, amounts: dict[str, Decimal]) -> list[FundMovement]:
    """The transfer's movements when it is already booked (and the same); [] when it is not."""
    booked = list(
        FundMovement.objects.filter(
            account__pooling_region=pooling_region,
            kind__in=[MovementKind.FUNDING_OUT, MovementKind.FUNDING_IN],
            reference=reference,
        ).order_by("id")
    )
    if not booked:
        return []
    out = {m.fund: -m.amount for m in booked if m.kind == MovementKind.FUNDING_OUT}
    if out != amounts:
        shown = "、".join(f"{_fund_label(f)}{a}元" for f, a in out.items())
        asked = "、".join(f"{_fund_label(f)}{a}元" for f, a in amounts.items())
        raise Conflict(
            f"业务编号{reference}已拨付（{shown}），与本次（{asked}）不一致，请核对业务编号。",
            code="transfer_mismatch",
        )
    order = {fund: i for i, fund in enumerate(Fund.values)}
    return sorted(booked, key=lambda m: (order[m.fund], m.kind != MovementKind.FUNDING_OUT))


def funding_transfer(
    *, pooling_region: PoolingRegion, reference: str, amounts_by_fund: dict, booked_on: dt.date, actor
) -> list[FundMovement]:
    """Move money from the fiscal special account to the expenditure account, per fund (FUNDING_OUT on fiscal,
    FUNDING_IN on expenditure, the same reference). Refused when fiscal holds less of a fund than asked, as of
    the booking day or now. The same reference again returns the same movements (in fund order, out then in).
    """
    require_fund_region(actor, pooling_region)
    reference = _reference(reference)
    amounts = _funding_amounts(amounts_by_fund)
    negative = [f"{_fund_label(f)}{a}元" for f, a in amounts.items() if a < 0]
    if negative:
        raise DomainError(f"拨付金额不能为负：{'、'.join(negative)}。", code="negative_amount", field="amount")
    done = _funding_done(pooling_region, reference, amounts)
    if done:
        return done
    booked_on = _booking_day(booked_on)
    with transaction.atomic():
        accounts = fund_accounts_ensure(pooling_region=pooling_region)
        fiscal, expenditure = accounts[FundAccountKind.FISCAL], accounts[FundAccountKind.EXPENDITURE]
        _lock(fiscal, expenditure)
        done = _funding_done(pooling_region, reference, amounts)
        if done:
            return done
        short = []
        for fund, amount in amounts.items():
            available = min(fund_balance(fiscal, fund, booked_on), fund_balance(fiscal, fund))
            if available < amount:
                short.append(f"{_fund_label(fund)}现有{available}元，需拨付{amount}元，差{amount - available}元")
        if short:
            raise DomainError(
                f"{pooling_region.name}财政专户余额不足，不能拨付：{'；'.join(short)}。请待财政资金到账后再拨付。",
                code="insufficient_funds",
            )
        movements = []
        for fund, amount in amounts.items():
            movements += _transfer(
                pooling_region=pooling_region,
                source=FundAccountKind.FISCAL,
                target=FundAccountKind.EXPENDITURE,
                kinds=(MovementKind.FUNDING_OUT, MovementKind.FUNDING_IN),
                fund=fund,
                amount=amount,
                booked_on=booked_on,
                reference=reference,
                key=f"funding:{pooling_region.pk}:{reference}:{fund}",
                actor=actor,
            )
    return movements


# --- balances for pages ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountBalance:
    kind: str
    label: str
    account: FundAccount | None  # None: the account has never moved (nor been set up)
    individual_account: Decimal
    basic_pension: Decimal

    @property
    def total(self) -> Decimal:
        return self.individual_account + self.basic_pension


@dataclass(frozen=True)
class FundBalances:
    """The region's three accounts as of the end of ``on`` (None: everything booked), each fund apart."""

    pooling_region: PoolingRegion
    on: dt.date | None
    accounts: list[AccountBalance]

    def of(self, kind: str) -> AccountBalance:
        return next(row for row in self.accounts if row.kind == kind)

    @property
    def individual_account(self) -> Decimal:
        return sum((row.individual_account for row in self.accounts), ZERO)

    @property
    def basic_pension(self) -> Decimal:
        return sum((row.basic_pension for row in self.accounts), ZERO)

    @property
    def total(self) -> Decimal:
        return self.individual_account + self.basic_pension


def fund_balances(*, pooling_region: PoolingRegion, on: dt.date | None = None) -> FundBalances:
    """Per account kind and fund, from the movements (two queries). The caller has checked the scope."""
    accounts = {a.kind: a for a in FundAccount.objects.filter(pooling_region=pooling_region)}
    rows = FundMovement.objects.filter(account__pooling_region=pooling_region)
    if on is not None:
        rows = rows.filter(booked_on__lte=on)
    sums = {
        (kind, fund): money_total(total)
        for kind, fund, total in rows.values("account__kind", "fund")
        .annotate(total=Sum("amount"))
        .values_list("account__kind", "fund", "total")
    }
    return FundBalances(
        pooling_region=pooling_region,
        on=on,
        accounts=[
            AccountBalance(
                kind=kind,
                label=str(label),
                account=accounts.get(kind),
                individual_account=sums.get((kind, Fund.INDIVIDUAL_ACCOUNT), ZERO),
                basic_pension=sums.get((kind, Fund.BASIC_PENSION), ZERO),
            )
            for kind, label in FundAccountKind.choices
        ],
    )
