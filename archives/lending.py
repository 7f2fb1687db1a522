"""查阅/借阅: lending an item's paper (or letting someone read it, paper or scan) and taking it back.

An item is out to one borrower at a time: the row is locked while a loan is opened, and the ``one_open_loan``
constraint refuses a second open loan even if two clerks get past the check at the same moment. The two reads
of open and overdue loans live here too, so that lending is in one place.
"""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from agencies.errors import Conflict, DomainError
from agencies.permissions import Action, require
from agencies.scope import scoped
from archives.models import ArchiveItem, Loan, LoanKind
from archives.services import event, require_item_in_scope, require_not_destroyed

# The longest a paper may stay out (借阅期限).
MAX_LOAN_DAYS = 90
TEXT_LIMITS = {"borrower": 60, "borrower_unit": 100, "purpose": 200, "note": 200}


def _today() -> dt.date:
    return timezone.localdate()


def _text(value: str, *, field: str, label: str, required: bool) -> str:
    value = (value or "").strip()
    if required and not value:
        raise DomainError(f"请填写{label}。", code="required", field=field)
    limit = TEXT_LIMITS[field]
    if len(value) > limit:
        raise DomainError(f"{label}最多{limit}个字。", code="too_long", field=field)
    return value


def _already_out(item: ArchiveItem, loan: Loan) -> Conflict:
    return Conflict(
        f"档案 {item.archive_no} 已于{timezone.localtime(loan.out_at):%Y-%m-%d}借给{loan.borrower}，"
        f"应还日期{loan.due_on:%Y-%m-%d}，归还后才能再借。",
        code="already_lent",
    )


def loan_open(
    *,
    actor,
    item: ArchiveItem,
    kind: str,
    borrower: str,
    purpose: str,
    due_on: dt.date,
    borrower_unit: str = "",
    own_record: bool = False,
    today: dt.date | None = None,
) -> Loan:
    """Lend an item (借阅, the paper leaves the room) or let someone read it (查阅, back the same day)."""
    require(actor, Action.KEEP_ARCHIVES)
    require_item_in_scope(actor, item)
    today = today or _today()
    if kind not in LoanKind.values:
        raise DomainError("请选择查阅或借阅。", code="invalid", field="kind")
    borrower = _text(borrower, field="borrower", label="借阅人", required=True)
    purpose = _text(purpose, field="purpose", label="事由", required=True)
    borrower_unit = _text(borrower_unit, field="borrower_unit", label="单位", required=False)
    if due_on is None:
        raise DomainError("请填写应还日期。", code="required", field="due_on")
    if due_on < today:
        raise DomainError("应还日期不能早于今天。", code="invalid", field="due_on")
    if kind == LoanKind.READ and due_on != today:
        raise DomainError("查阅须当日归还，应还日期只能是今天。", code="invalid", field="due_on")
    if due_on > today + dt.timedelta(days=MAX_LOAN_DAYS):
        raise DomainError(
            f"借阅期限最长{MAX_LOAN_DAYS}天，应还日期最晚为{today + dt.timedelta(days=MAX_LOAN_DAYS):%Y-%m-%d}。",
            code="invalid",
            field="due_on",
        )
    if own_record and item.person_id is None:
        raise DomainError(
            f"档案 {item.archive_no} 不属于某一参保人，不能按本人查阅办理。", code="invalid", field="own_record"
        )
    with transaction.atomic():
        # Locked so that two clerks lending the same item queue here; the second sees the first's loan.
        item = ArchiveItem.objects.select_for_update().get(pk=item.pk)
        require_not_destroyed(item)
        if kind == LoanKind.BORROW and item.paper_received_at is None:
            raise Conflict(f"档案 {item.archive_no} 的纸质件尚未入库，没有可借出的原件。", code="no_paper")
        if (
            kind == LoanKind.READ
            and item.paper_received_at is None
            and not item.files.filter(deleted_at__isnull=True).exists()
        ):
            raise Conflict(f"档案 {item.archive_no} 既无入库的纸质件，也无电子件，没有可查阅的内容。", code="no_paper")
        current = Loan.objects.filter(item=item, returned_at__isnull=True).first()
        if current is not None:
            raise _already_out(item, current)
        loan = Loan(
            item=item,
            kind=kind,
            borrower=borrower,
            borrower_unit=borrower_unit,
            purpose=purpose,
            own_record=own_record,
            due_on=due_on,
            lent_by=actor,
        )
        try:
            with transaction.atomic():
                loan.save()
        except IntegrityError:
            # Lent by someone else a moment ago where rows cannot be locked (SQLite): the constraint decides.
            raise _already_out(item, Loan.objects.get(item=item, returned_at__isnull=True)) from None
        who = borrower + (f"（{borrower_unit}）" if borrower_unit else "") + ("，本人查阅" if own_record else "")
        event(
            item=item,
            region_code=item.region_code,
            action="lent",
            actor=actor,
            note=f"{LoanKind(kind).label}：{who}，事由：{purpose}，应还{due_on:%Y-%m-%d}",
        )
    return loan


def loan_return(*, actor, item: ArchiveItem, note: str = "") -> Loan:
    """Take an item back. Returning it twice is refused (``not_lent``) and changes nothing."""
    require(actor, Action.KEEP_ARCHIVES)
    require_item_in_scope(actor, item)
    note = _text(note, field="note", label="归还情况", required=False)
    with transaction.atomic():
        item = ArchiveItem.objects.select_for_update().get(pk=item.pk)
        loan = Loan.objects.select_for_update().filter(item=item, returned_at__isnull=True).first()
        if loan is None:
            raise Conflict(f"档案 {item.archive_no} 未借出，无需归还。", code="not_lent")
        loan.returned_at = timezone.now()
        loan.received_by = actor
        loan.return_note = note
        loan.save(update_fields=["returned_at", "received_by", "return_note"])
        event(
            item=item,
            region_code=item.region_code,
            action="returned",
            actor=actor,
            note=f"{loan.borrower}归还" + (f"：{note}" if note else ""),
        )
    return loan


def open_loans(*, actor) -> QuerySet[Loan]:
    """Everything out now in the actor's jurisdiction, the earliest due first."""
    return (
        scoped(Loan.objects.filter(returned_at__isnull=True), actor)
        .select_related("item", "item__kind", "lent_by")
        .order_by("due_on", "out_at", "id")
    )


def overdue_loans(*, actor, today: dt.date | None = None) -> QuerySet[Loan]:
    """Open loans whose due date has passed (due today is not yet overdue)."""
    today = today or _today()
    return open_loans(actor=actor).filter(due_on__lt=today)
