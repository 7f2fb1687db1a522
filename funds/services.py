"""Every write to individual accounts: opening one, and appending entries with the cached balances kept in step.

Other apps post money only through ``ledger_post``; nothing else writes ledger rows or balance columns
(the bulk interest settlement in ``funds.settlement`` does the same in SQL, under the same rules).
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import F

from agencies.errors import Conflict, DomainError
from funds.models import BALANCE_COLUMN, Component, EntryKind, IndividualAccount, LedgerEntry


@dataclass(frozen=True)
class Posting:
    """One line of a posting: which component, what kind of money, how much (signed)."""

    component: str
    kind: str
    amount: Decimal


def account_open(*, person, opened_on: dt.date) -> IndividualAccount:
    """The person's account, opened on first use. Safe to call again: returns the existing one."""
    pooling_region = person.village.effective_pooling_region()
    if pooling_region is None:
        raise DomainError(f"{person.village.full_name()}未归属任何统筹区，无法建立个人账户。", code="no_pooling_region")
    account, _ = IndividualAccount.objects.get_or_create(
        person=person,
        defaults={"region_code": person.region_code, "pooling_region": pooling_region, "opened_on": opened_on},
    )
    return account


def ledger_post(
    *,
    account: IndividualAccount,
    postings: list[Posting],
    booked_on: dt.date,
    reference: str,
    idempotency_key: str,
    actor=None,
    reverses: LedgerEntry | None = None,
) -> list[LedgerEntry]:
    """Append entries and move the cached balances, in one transaction. Run twice with the same key: posts once.

    Each posting gets the key ``{idempotency_key}:{component}:{kind}``; a retry finds them and returns them.
    """
    if not postings:
        raise DomainError("没有需要入账的金额。", code="empty_posting")
    for posting in postings:
        if not isinstance(posting.amount, Decimal):
            raise TypeError("ledger amounts are Decimal")
        if posting.component not in Component.values or posting.kind not in EntryKind.values:
            raise ValueError(f"unknown component or kind: {posting}")
    keys = [f"{idempotency_key}:{p.component}:{p.kind}" for p in postings]
    existing = list(LedgerEntry.objects.filter(idempotency_key__in=keys).order_by("id"))
    if existing:
        if len(existing) != len(keys):
            raise Conflict("该笔入账已部分存在，与本次内容不一致，请联系管理员核查。", code="posting_mismatch")
        return existing
    if account.closed_on is not None and booked_on > account.closed_on:
        raise Conflict("个人账户已销户，不能再入账。", code="account_closed")
    try:
        with transaction.atomic():
            entries = LedgerEntry.objects.bulk_create(
                [
                    LedgerEntry(
                        account=account,
                        component=p.component,
                        kind=p.kind,
                        amount=p.amount,
                        booked_on=booked_on,
                        reference=reference,
                        idempotency_key=key,
                        created_by=actor,
                        reverses=reverses,
                    )
                    for p, key in zip(postings, keys, strict=True)
                ]
            )
            changes: dict[str, Decimal] = {}
            for p in postings:
                column = BALANCE_COLUMN[p.component]
                changes[column] = changes.get(column, Decimal("0")) + p.amount
            total = sum(changes.values(), Decimal("0"))
            IndividualAccount.objects.filter(pk=account.pk).update(
                balance=F("balance") + total, **{column: F(column) + delta for column, delta in changes.items()}
            )
    except IntegrityError:
        # Someone posted the same key a moment ago: return what they posted.
        existing = list(LedgerEntry.objects.filter(idempotency_key__in=keys).order_by("id"))
        if len(existing) == len(keys):
            return existing
        raise
    account.refresh_from_db()
    return entries


def ledger_reverse(*, entry: LedgerEntry, booked_on: dt.date, reason: str, actor=None) -> LedgerEntry:
    """Correct a mistake by an entry of the opposite sign; the original stays as it was."""
    if entry.kind == EntryKind.REVERSAL:
        raise Conflict("冲正记录不能再冲正，请重新入账。", code="reverse_reversal")
    [reversal] = ledger_post(
        account=entry.account,
        postings=[Posting(entry.component, EntryKind.REVERSAL, -entry.amount)],
        booked_on=booked_on,
        reference=f"reversal:{entry.pk}:{reason}"[:100],
        idempotency_key=f"reversal:{entry.pk}",
        actor=actor,
        reverses=entry,
    )
    return reversal
