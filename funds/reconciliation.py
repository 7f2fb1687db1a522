"""The banks' daily statements of the fund accounts, finance's confirmations, and the three-way reconciliation
(三方对账): the agency's books (``FundMovement``), the bank's statement lines and finance's confirmations of the
transfers between fund accounts (the month-end sweeps ``GJ…`` and the funding transfers ``YK…``).

Books against bank, per account and day: the movements and the statement lines are grouped by (reference,
date) and their signed amounts added up (a batch books one movement per fund, the bank shows one line; the
lines of a day without a reference, such as bank fees, are one group). A group on both sides with the same
amount matches; one side only is ``only_in_books`` / ``only_in_bank``; both with other amounts is
``amount_differs``. Only days up to the account's latest statement are compared: a day without a statement
before it is a day on which the bank saw no movement, a day after it has not been reported yet. Each
statement's closing balance is compared with the books' balance at the end of that day (``balance_differs``).

Books against finance, per account: the sweep and funding movements grouped by reference, against finance's
confirmation of that reference (``not_confirmed`` without one, ``finance_differs`` when its amount is not the
transfer's).

Each difference is a ``ReconciliationDifference`` named by a stable key (its kind, reference and date), so
running the reconciliation again finds the same row: one no longer found becomes ``resolved``, one found
again is open again unless staff cleared it (a cleared one stays cleared). ``difference`` is always the
other side less the books: bank − books, finance − the transfer's amount, closing balance − books' balance.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Max, Q, QuerySet, Sum
from django.http import Http404
from django.utils import timezone

from agencies.errors import Conflict, DomainError
from agencies.models import PoolingRegion
from agencies.money import ZERO, money_total, parse_money
from agencies.permissions import Action, require
from agencies.scope import covered_pooling_regions, covers_pooling_region
from funds import statementfile
from funds.bankfile import FileError
from funds.fund_accounts import require_fund_region
from funds.models import (
    BankCredential,
    BankPartner,
    BankStatement,
    DifferenceKind,
    DifferenceStatus,
    FinanceConfirmation,
    FundAccount,
    FundAccountKind,
    FundMovement,
    MovementKind,
    ReconciliationDifference,
    StatementLine,
)

# The movements between fund accounts that finance confirms.
CONFIRMED_KINDS = (MovementKind.SWEEP_OUT, MovementKind.SWEEP_IN, MovementKind.FUNDING_OUT, MovementKind.FUNDING_IN)
BANK_KINDS = (
    DifferenceKind.ONLY_IN_BOOKS,
    DifferenceKind.ONLY_IN_BANK,
    DifferenceKind.AMOUNT_DIFFERS,
    DifferenceKind.BALANCE_DIFFERS,
)
FINANCE_KINDS = (DifferenceKind.NOT_CONFIRMED, DifferenceKind.FINANCE_DIFFERS)
# A reconciliation reads every movement and line of its period: a year at most.
MAX_DAYS = 366


class NotFound(DomainError):
    status_code = 404


class StatementRejected(DomainError):
    """A statement that cannot be accepted; ``errors`` lists every problem (the first MAX_ERRORS)."""

    def __init__(self, errors: list[FileError], count: int | None = None):
        self.errors = errors
        self.error_count = count if count is not None else len(errors)
        super().__init__(f"对账单有{self.error_count}处错误，未接收，请更正后重新上传。", code="rejected")


# --- receiving a statement -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedStatement:
    statement: BankStatement
    created: bool


def account_for_partner(*, partner: BankPartner, account_number: str) -> FundAccount:
    """The fund account with this number if the bank holds it, in a pooling region the bank serves; else 404."""
    account = (
        FundAccount.objects.select_related("pooling_region")
        .filter(
            bank_partner=partner,
            account_number=account_number,
            pooling_region__in=partner.pooling_regions.all(),
        )
        .first()
    )
    if account is None or not account_number:
        raise NotFound("没有这个账号，或该账户不是本银行开立的基金专户。", code="not_found")
    return account


def _same_or_conflict(existing: BankStatement, sha256: str) -> ReceivedStatement:
    if existing.sha256 != sha256:
        raise Conflict(
            f"账号{existing.account.account_number}{existing.statement_date:%Y-%m-%d}的对账单已接收"
            f"（SHA-256 {existing.sha256[:12]}…，{existing.line_count}笔），不能再接收另一份；如需更正请联系经办机构。",
            code="already_received",
        )
    return ReceivedStatement(existing, created=False)


def _chain_errors(
    account: FundAccount, statement_date: dt.date, parsed: statementfile.ParsedStatement
) -> tuple[Decimal, Decimal, list[FileError]]:
    """The statement's opening and closing balances, and where they break the chain with its neighbours."""
    before = (
        BankStatement.objects.filter(account=account, statement_date__lt=statement_date)
        .order_by("-statement_date")
        .first()
    )
    after = (
        BankStatement.objects.filter(account=account, statement_date__gt=statement_date)
        .order_by("statement_date")
        .first()
    )
    if not parsed.lines:
        known = before.closing_balance if before else after.opening_balance if after else None
        if known is None:
            return ZERO, ZERO, [FileError(0, "file", "该账户尚无对账单：第一份对账单须至少有一笔交易，才能确定余额。")]
        opening = closing = known
        first_line = last_line = 1
    else:
        opening, closing = parsed.opening_balance, parsed.closing_balance
        first_line, last_line = parsed.lines[0].line_no, parsed.lines[-1].line_no
    errors = []
    if before is not None and opening != before.closing_balance:
        errors.append(
            FileError(
                first_line,
                "balance",
                f"期初余额{opening}元与{before.statement_date:%Y-%m-%d}对账单的期末余额{before.closing_balance}元不符。",
            )
        )
    if after is not None and closing != after.opening_balance:
        errors.append(
            FileError(
                last_line,
                "balance",
                f"期末余额{closing}元与{after.statement_date:%Y-%m-%d}对账单的期初余额{after.opening_balance}元不符。",
            )
        )
    return opening, closing, errors


def statement_receive(
    *,
    partner: BankPartner,
    account_number: str,
    statement_date: dt.date,
    data: bytes,
    credential: BankCredential | None = None,
) -> ReceivedStatement:
    """Accept a bank's statement of one of its fund accounts for one day (the format: ``funds.statementfile``).

    The same file again returns the same statement; another file for the same account and day is a conflict;
    an account that is not this bank's fund account answers 404. Every error of the file is reported at once
    (``StatementRejected``), the opening balance breaking the chain with the previous statement among them.
    """
    account = account_for_partner(partner=partner, account_number=account_number)
    if statement_date > timezone.localdate():
        raise DomainError(f"对账单日期{statement_date:%Y-%m-%d}晚于今天。", code="future_date", field="statement_date")
    sha256 = hashlib.sha256(data).hexdigest()
    existing = BankStatement.objects.select_related("account").filter(account=account, statement_date=statement_date)
    if (found := existing.first()) is not None:
        return _same_or_conflict(found, sha256)
    parsed = statementfile.parse(data, statement_date=statement_date, encoding=partner.encoding)
    if not parsed.ok:
        raise StatementRejected(parsed.errors, parsed.error_count)
    try:
        with transaction.atomic():
            FundAccount.objects.select_for_update().filter(pk=account.pk).first()
            if (found := existing.first()) is not None:
                return _same_or_conflict(found, sha256)
            opening, closing, errors = _chain_errors(account, statement_date, parsed)
            if errors:
                raise StatementRejected(errors)
            statement = BankStatement.objects.create(
                account=account,
                statement_date=statement_date,
                sha256=sha256,
                opening_balance=opening,
                closing_balance=closing,
                line_count=len(parsed.lines),
                credential=credential,
            )
            StatementLine.objects.bulk_create(
                StatementLine(
                    statement=statement,
                    line_no=line.line_no,
                    value_date=line.value_date,
                    amount=line.amount,
                    direction=line.direction,
                    counterpart=line.counterpart,
                    reference=line.reference,
                    balance=line.balance,
                )
                for line in parsed.lines
            )
    except IntegrityError:
        found = existing.first()
        if found is None:
            raise
        return _same_or_conflict(found, sha256)
    return ReceivedStatement(statement, created=True)


# --- finance's confirmations -------------------------------------------------------------------------------------


def finance_confirmation_record(
    *,
    actor,
    pooling_region: PoolingRegion,
    reference: str,
    amount,
    confirmed_on: dt.date,
    document_number: str = "",
) -> FinanceConfirmation:
    """Record finance's confirmation (财政确认) of a transfer the books hold: a sweep or a funding transfer.

    The amount is the transfer's whole amount (both funds). The same confirmation again returns the first;
    another one for the same reference is a conflict (a wrong confirmation shows as a difference, cleared
    with its explanation).
    """
    require_fund_region(actor, pooling_region)
    reference = "".join(str(reference or "").split())
    if not reference or len(reference) > 64:
        raise DomainError("请填写业务编号（1至64个字符）。", code="required", field="reference")
    amount = parse_money(amount, field="amount")
    if not isinstance(confirmed_on, dt.date):
        raise DomainError("请填写财政确认日期。", code="required", field="confirmed_on")
    if confirmed_on > timezone.localdate():
        raise DomainError(
            f"确认日期{confirmed_on:%Y-%m-%d}晚于今天，请核对。", code="future_date", field="confirmed_on"
        )
    document_number = str(document_number or "").strip()
    if len(document_number) > 64:
        raise DomainError("财政单据号最多64个字符。", code="invalid", field="document_number")
    booked = FundMovement.objects.filter(
        account__pooling_region=pooling_region, reference=reference, kind__in=CONFIRMED_KINDS
    )
    if not booked.exists():
        raise DomainError(
            f"{pooling_region.name}的经办账中没有业务编号为{reference}的归集或拨付记录，请核对业务编号。",
            code="unknown_reference",
            field="reference",
        )
    values = {"amount": amount, "confirmed_on": confirmed_on, "document_number": document_number}
    found = FinanceConfirmation.objects.filter(pooling_region=pooling_region, reference=reference).first()
    if found is None:
        try:
            with transaction.atomic():
                return FinanceConfirmation.objects.create(
                    pooling_region=pooling_region, reference=reference, recorded_by=actor, **values
                )
        except IntegrityError:
            found = FinanceConfirmation.objects.get(pooling_region=pooling_region, reference=reference)
    if (found.amount, found.confirmed_on, found.document_number) != (amount, confirmed_on, document_number):
        raise Conflict(
            f"业务编号{reference}已录入财政确认：{found.amount}元，{found.confirmed_on:%Y-%m-%d}"
            f"{'，单据号' + found.document_number if found.document_number else ''}。"
            "不能再录入另一份；如确认有误，请在对账差异中说明处理。",
            code="already_confirmed",
        )
    return found


# --- the reconciliation ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Match:
    """A (reference, date) on which books and bank agree; ``amount`` is signed, as on this account."""

    reference: str
    on_date: dt.date
    amount: Decimal


@dataclass(frozen=True)
class FinanceMatch:
    reference: str
    on_date: dt.date
    amount: Decimal  # the books' signed amount on this account
    confirmation: FinanceConfirmation


@dataclass(frozen=True)
class DayBalance:
    """A statement's day: the bank's balances against the books' balance at the end of the day."""

    on_date: dt.date
    statement: BankStatement
    opening: Decimal
    closing: Decimal
    books: Decimal

    @property
    def difference(self) -> Decimal:
        return self.closing - self.books

    @property
    def agrees(self) -> bool:
        return self.closing == self.books


@dataclass
class Reconciliation:
    account: FundAccount
    date_from: dt.date
    date_to: dt.date
    compared_through: dt.date | None  # the last day compared with the bank (None: no statement yet)
    matched: list[Match] = field(default_factory=list)
    finance_matched: list[FinanceMatch] = field(default_factory=list)
    days: list[DayBalance] = field(default_factory=list)
    # Every difference found by this run, as stored (a cleared one keeps its status and reason).
    differences: list[ReconciliationDifference] = field(default_factory=list)
    # Differences open before this run and no longer found.
    resolved: list[ReconciliationDifference] = field(default_factory=list)
    books_balance: Decimal = ZERO  # every movement of the account
    cached_balance_ok: bool = True  # the account's cached balance equals the sum of its movements

    @property
    def open(self) -> list[ReconciliationDifference]:
        return [d for d in self.differences if d.status == DifferenceStatus.OPEN]

    @property
    def agrees(self) -> bool:
        return not self.open and self.cached_balance_ok


@dataclass(frozen=True)
class _Found:
    kind: str
    on_date: dt.date
    reference: str
    books_amount: Decimal | None
    bank_amount: Decimal | None = None
    finance_amount: Decimal | None = None

    @property
    def difference(self) -> Decimal:
        if self.kind in FINANCE_KINDS:
            return (self.finance_amount or ZERO) - abs(self.books_amount or ZERO)
        return (self.bank_amount or ZERO) - (self.books_amount or ZERO)


def _check_period(date_from: dt.date, date_to: dt.date) -> None:
    if not isinstance(date_from, dt.date) or not isinstance(date_to, dt.date):
        raise DomainError("请填写对账的起止日期。", code="required", field="date_from")
    if date_from > date_to:
        raise DomainError("起始日期不能晚于截止日期。", code="invalid", field="date_from")
    if (date_to - date_from).days >= MAX_DAYS:
        raise DomainError(f"一次对账最多{MAX_DAYS}天，请分段对账。", code="invalid", field="date_to")


def _compare_with_bank(
    account: FundAccount, movements: list[FundMovement], date_from: dt.date, through: dt.date
) -> tuple[list[Match], dict[str, _Found]]:
    books: dict[tuple[str, dt.date], Decimal] = defaultdict(lambda: ZERO)
    for movement in movements:
        if movement.booked_on <= through:
            books[(movement.reference, movement.booked_on)] += movement.amount
    bank: dict[tuple[str, dt.date], Decimal] = defaultdict(lambda: ZERO)
    lines = StatementLine.objects.filter(
        statement__account=account, statement__statement_date__range=(date_from, through)
    ).order_by("statement__statement_date", "line_no")
    for line in lines:
        bank[(line.reference, line.value_date)] += line.signed_amount
    matched: list[Match] = []
    found: dict[str, _Found] = {}
    for reference, day in sorted(set(books) | set(bank), key=lambda k: (k[1], k[0])):
        in_books, in_bank = books.get((reference, day)), bank.get((reference, day))
        if in_books is not None and in_bank is not None and in_books == in_bank:
            matched.append(Match(reference, day, in_books))
            continue
        kind = (
            DifferenceKind.AMOUNT_DIFFERS
            if in_books is not None and in_bank is not None
            else DifferenceKind.ONLY_IN_BOOKS
            if in_bank is None
            else DifferenceKind.ONLY_IN_BANK
        )
        found[f"{kind}:{reference}:{day:%Y%m%d}"] = _Found(kind, day, reference, in_books, in_bank)
    return matched, found


def _balances(
    account: FundAccount, movements: list[FundMovement], date_from: dt.date, date_to: dt.date
) -> tuple[list[DayBalance], dict[str, _Found]]:
    statements = list(
        BankStatement.objects.filter(account=account, statement_date__range=(date_from, date_to)).order_by(
            "statement_date"
        )
    )
    before = money_total(
        FundMovement.objects.filter(account=account, booked_on__lt=date_from).aggregate(total=Sum("amount"))["total"]
    )
    by_day: dict[dt.date, Decimal] = defaultdict(lambda: ZERO)
    for movement in movements:
        by_day[movement.booked_on] += movement.amount
    days, found = [], {}
    for statement in statements:
        books = before + sum((a for d, a in by_day.items() if d <= statement.statement_date), ZERO)
        day = DayBalance(
            statement.statement_date, statement, statement.opening_balance, statement.closing_balance, books
        )
        days.append(day)
        if not day.agrees:
            key = f"{DifferenceKind.BALANCE_DIFFERS}:{statement.statement_date:%Y%m%d}"
            found[key] = _Found(DifferenceKind.BALANCE_DIFFERS, day.on_date, "", books, day.closing)
    return days, found


def _compare_with_finance(
    account: FundAccount, movements: list[FundMovement]
) -> tuple[list[FinanceMatch], dict[str, _Found]]:
    transfers: dict[str, Decimal] = defaultdict(lambda: ZERO)
    first_day: dict[str, dt.date] = {}
    for movement in movements:
        if movement.kind in CONFIRMED_KINDS:
            transfers[movement.reference] += movement.amount
            first_day.setdefault(movement.reference, movement.booked_on)
    confirmations = {
        c.reference: c
        for c in FinanceConfirmation.objects.filter(
            pooling_region_id=account.pooling_region_id, reference__in=list(transfers)
        )
    }
    matched, found = [], {}
    for reference, amount in transfers.items():
        day = first_day[reference]
        confirmation = confirmations.get(reference)
        if confirmation is not None and confirmation.amount == abs(amount):
            matched.append(FinanceMatch(reference, day, amount, confirmation))
        elif confirmation is None:
            kind = DifferenceKind.NOT_CONFIRMED
            found[f"{kind}:{reference}"] = _Found(kind, day, reference, amount)
        else:
            kind = DifferenceKind.FINANCE_DIFFERS
            found[f"{kind}:{reference}"] = _Found(kind, day, reference, amount, finance_amount=confirmation.amount)
    return matched, found


def _store(
    account: FundAccount, found: dict[str, _Found], *, date_from: dt.date, date_to: dt.date, through: dt.date | None
) -> tuple[list[ReconciliationDifference], list[ReconciliationDifference]]:
    """Upsert the differences found by key; the open ones of the period no longer found become resolved."""
    existing = {d.key: d for d in ReconciliationDifference.objects.filter(account=account, key__in=list(found))}
    stored = []
    for key, item in sorted(found.items(), key=lambda kv: (kv[1].on_date, kv[0])):
        values = {
            "kind": item.kind,
            "on_date": item.on_date,
            "reference": item.reference,
            "books_amount": item.books_amount,
            "bank_amount": item.bank_amount,
            "finance_amount": item.finance_amount,
            "difference": item.difference,
        }
        row = existing.get(key)
        if row is None:
            row = ReconciliationDifference.objects.create(account=account, key=key, **values)
        elif row.status != DifferenceStatus.CLEARED:
            for name, value in values.items():
                setattr(row, name, value)
            row.status = DifferenceStatus.OPEN
            row.save(update_fields=[*values, "status"])
        stored.append(row)
    window = Q(kind__in=FINANCE_KINDS, on_date__range=(date_from, date_to))
    if through is not None:
        window |= Q(kind__in=BANK_KINDS, on_date__range=(date_from, through))
    gone = list(
        ReconciliationDifference.objects.filter(account=account, status=DifferenceStatus.OPEN)
        .filter(window)
        .exclude(key__in=list(found))
        .order_by("on_date", "id")
    )
    ReconciliationDifference.objects.filter(pk__in=[d.pk for d in gone]).update(status=DifferenceStatus.RESOLVED)
    for row in gone:
        row.status = DifferenceStatus.RESOLVED
    return stored, gone


def reconcile(*, actor, account: FundAccount, date_from: dt.date, date_to: dt.date) -> Reconciliation:
    """三方对账 of one fund account over a period: what matches, every difference (stored by key) and the
    balance of each statement day against the books. Safe to run again: it finds the same differences."""
    require_fund_region(actor, account.pooling_region, Action.RECONCILE_FUNDS)
    _check_period(date_from, date_to)
    with transaction.atomic():
        account = FundAccount.objects.select_for_update().select_related("pooling_region").get(pk=account.pk)
        latest = BankStatement.objects.filter(account=account, statement_date__lte=date_to).aggregate(
            latest=Max("statement_date")
        )["latest"]
        through = latest if latest is not None and latest >= date_from else None
        movements = list(FundMovement.objects.filter(account=account, booked_on__range=(date_from, date_to)))
        found: dict[str, _Found] = {}
        matched: list[Match] = []
        days: list[DayBalance] = []
        if through is not None:
            matched, found = _compare_with_bank(account, movements, date_from, through)
            days, balance_found = _balances(account, movements, date_from, through)
            found.update(balance_found)
        finance_matched, finance_found = _compare_with_finance(account, movements)
        found.update(finance_found)
        stored, resolved = _store(account, found, date_from=date_from, date_to=date_to, through=through)
        books_balance = money_total(
            FundMovement.objects.filter(account=account).aggregate(total=Sum("amount"))["total"]
        )
    return Reconciliation(
        account=account,
        date_from=date_from,
        date_to=date_to,
        compared_through=through,
        matched=matched,
        finance_matched=finance_matched,
        days=days,
        differences=stored,
        resolved=resolved,
        books_balance=books_balance,
        cached_balance_ok=account.balance == books_balance,
    )


def difference_clear(*, actor, difference: ReconciliationDifference, reason: str) -> ReconciliationDifference:
    """Staff clear a difference with its explanation (e.g. 银行手续费, 已于次日到账). A cleared one stays cleared."""
    require(actor, Action.RECONCILE_FUNDS)
    reason = str(reason or "").strip()
    with transaction.atomic():
        row = (
            ReconciliationDifference.objects.select_for_update(of=("self",))
            .select_related("account__pooling_region", "cleared_by")
            .filter(pk=difference.pk)
            .first()
        )
        if row is None or not covers_pooling_region(actor, row.account.pooling_region):
            raise NotFound("没有这条对账差异，或其不在您的管辖范围内。", code="not_found")
        if not reason:
            raise DomainError("请填写处理说明：差异的原因和处理方式。", code="required", field="reason")
        if row.status == DifferenceStatus.CLEARED:
            who = row.cleared_by.get_full_name() or row.cleared_by.username if row.cleared_by else ""
            raise Conflict(
                f"该差异已于{timezone.localtime(row.cleared_at):%Y-%m-%d %H:%M}由{who}处理：{row.reason}",
                code="already_cleared",
            )
        if row.status == DifferenceStatus.RESOLVED:
            raise Conflict("该差异在重新对账时已不存在（已自动消除），无需处理。", code="resolved")
        row.status = DifferenceStatus.CLEARED
        row.reason = reason
        row.cleared_by = actor
        row.cleared_at = timezone.now()
        row.save(update_fields=["status", "reason", "cleared_by", "cleared_at"])
    return row


# --- reads for pages ---------------------------------------------------------------------------------------------


def _covered_ids(user) -> list[int]:
    return [region.pk for region in covered_pooling_regions(user=user)]


def _covered_or_404(user, pooling_region: PoolingRegion) -> None:
    if not covers_pooling_region(user, pooling_region):
        raise Http404


def fund_account_get(*, user, pk) -> FundAccount:
    """One fund account of a pooling region the user covers (404 otherwise)."""
    try:
        return FundAccount.objects.select_related("pooling_region", "bank_partner").get(
            pk=pk, pooling_region_id__in=_covered_ids(user)
        )
    except (FundAccount.DoesNotExist, ValueError, TypeError):
        raise Http404 from None


def statement_list(
    *, user, account: FundAccount, date_from: dt.date | None = None, date_to: dt.date | None = None
) -> QuerySet[BankStatement]:
    """The statements received for an account, latest first (404 outside the user's pooling regions)."""
    _covered_or_404(user, account.pooling_region)
    rows = BankStatement.objects.filter(account=account)
    if date_from is not None:
        rows = rows.filter(statement_date__gte=date_from)
    if date_to is not None:
        rows = rows.filter(statement_date__lte=date_to)
    return rows.order_by("-statement_date")


def differences_queryset(*, user) -> QuerySet[ReconciliationDifference]:
    """Every difference of the fund accounts of the pooling regions the user covers."""
    return ReconciliationDifference.objects.filter(account__pooling_region_id__in=_covered_ids(user)).select_related(
        "account__pooling_region", "cleared_by"
    )


def difference_get(*, user, pk) -> ReconciliationDifference:
    try:
        return differences_queryset(user=user).get(pk=pk)
    except (ReconciliationDifference.DoesNotExist, ValueError, TypeError):
        raise Http404 from None


def open_differences(*, user, pooling_region: PoolingRegion | None = None) -> QuerySet[ReconciliationDifference]:
    """The open differences, oldest first, of one pooling region (404 outside the user's) or of all they cover."""
    rows = differences_queryset(user=user).filter(status=DifferenceStatus.OPEN)
    if pooling_region is not None:
        _covered_or_404(user, pooling_region)
        rows = rows.filter(account__pooling_region=pooling_region)
    return rows.order_by("on_date", "account__kind", "id")


@dataclass(frozen=True)
class AccountReconciliationSummary:
    kind: str
    label: str
    account: FundAccount | None
    books_opening: Decimal  # at the end of the day before date_from
    books_in: Decimal
    books_out: Decimal  # negative
    books_closing: Decimal  # at the end of date_to
    statements: int  # received for days of the period
    last_statement: BankStatement | None  # the latest on or before date_to
    books_at_last_statement: Decimal | None
    open_differences: int
    open_difference_total: Decimal  # the sum of their differences

    @property
    def bank_closing(self) -> Decimal | None:
        return self.last_statement.closing_balance if self.last_statement else None

    @property
    def balance_agrees(self) -> bool | None:
        if self.last_statement is None:
            return None
        return self.last_statement.closing_balance == self.books_at_last_statement


def reconciliation_summary(
    *, user, pooling_region: PoolingRegion, date_from: dt.date, date_to: dt.date
) -> list[AccountReconciliationSummary]:
    """The region's three accounts over a period, for the reconciliation page (404 outside the user's scope)."""
    _covered_or_404(user, pooling_region)
    _check_period(date_from, date_to)
    accounts = {a.kind: a for a in FundAccount.objects.filter(pooling_region=pooling_region)}
    rows = []
    for kind, label in FundAccountKind.choices:
        account = accounts.get(kind)
        if account is None:
            rows.append(
                AccountReconciliationSummary(kind, str(label), None, ZERO, ZERO, ZERO, ZERO, 0, None, None, 0, ZERO)
            )
            continue
        movements = FundMovement.objects.filter(account=account)
        figures = movements.aggregate(
            before=Sum("amount", filter=Q(booked_on__lt=date_from)),
            money_in=Sum("amount", filter=Q(booked_on__range=(date_from, date_to), amount__gt=0)),
            money_out=Sum("amount", filter=Q(booked_on__range=(date_from, date_to), amount__lt=0)),
        )
        opening = money_total(figures["before"])
        money_in, money_out = money_total(figures["money_in"]), money_total(figures["money_out"])
        statements = BankStatement.objects.filter(account=account)
        last = statements.filter(statement_date__lte=date_to).order_by("-statement_date").first()
        books_at_last = None
        if last is not None:
            books_at_last = money_total(
                movements.filter(booked_on__lte=last.statement_date).aggregate(total=Sum("amount"))["total"]
            )
        open_rows = ReconciliationDifference.objects.filter(account=account, status=DifferenceStatus.OPEN)
        open_figures = open_rows.aggregate(total=Sum("difference"))
        rows.append(
            AccountReconciliationSummary(
                kind=kind,
                label=str(label),
                account=account,
                books_opening=opening,
                books_in=money_in,
                books_out=money_out,
                books_closing=opening + money_in + money_out,
                statements=statements.filter(statement_date__range=(date_from, date_to)).count(),
                last_statement=last,
                books_at_last_statement=books_at_last,
                open_differences=open_rows.count(),
                open_difference_total=money_total(open_figures["total"]),
            )
        )
    return rows


__all__ = [
    "AccountReconciliationSummary",
    "DayBalance",
    "FinanceMatch",
    "Match",
    "NotFound",
    "ReceivedStatement",
    "Reconciliation",
    "StatementRejected",
    "account_for_partner",
    "difference_clear",
    "difference_get",
    "differences_queryset",
    "finance_confirmation_record",
    "fund_account_get",
    "open_differences",
    "reconcile",
    "reconciliation_summary",
    "statement_list",
    "statement_receive",
]
