"""到期鉴定与销毁: items whose retention has ended are proposed for review by an archive clerk and decided by an
approver: destroyed, or kept longer. Nothing is ever destroyed automatically.

A destroyed item keeps its row, its events and its files' rows (with their digests) as the record of what was
destroyed; the stored scans are deleted once the decision is committed, and the paper's position is free again.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from agencies.errors import Conflict, DomainError, NotPermitted
from agencies.permissions import Action, require
from archives import selectors
from archives.models import ArchiveFile, ArchiveItem, RetentionReview, ReviewStatus
from archives.services import event, open_loan, require_item_in_scope, require_not_destroyed

logger = logging.getLogger(__name__)

TEXT_LIMIT = 200
MAX_EXTEND_YEARS = 100


def _today() -> dt.date:
    return timezone.localdate()


def _text(value: str, *, field: str, label: str) -> str:
    value = (value or "").strip()
    if not value:
        raise DomainError(f"请填写{label}。", code="required", field=field)
    if len(value) > TEXT_LIMIT:
        raise DomainError(f"{label}最多{TEXT_LIMIT}个字。", code="too_long", field=field)
    return value


def _open_review() -> QuerySet[RetentionReview]:
    return RetentionReview.objects.filter(item_id=OuterRef("pk"), status=ReviewStatus.PROPOSED)


def retention_due(*, actor, today: dt.date | None = None) -> QuerySet[ArchiveItem]:
    """Kept items whose retention ended before today and that no one has proposed for review yet.

    ``retain_until`` is the last day kept: a 10-year record of 2015 is kept to 2025-12-31 and due from 2026-01-01.
    """
    today = today or _today()
    # The lists' queryset: the person and the has_file / on_loan flags the rows show come with each row.
    return (
        selectors.items_flagged(user=actor)
        .filter(retain_until__lt=today, destroyed_at__isnull=True)
        .exclude(Exists(_open_review()))
        .order_by("retain_until", "archive_no")
    )


def _require_due(item: ArchiveItem, today: dt.date) -> None:
    require_not_destroyed(item)
    if item.retain_until is None:
        raise DomainError(f"档案 {item.archive_no} 为永久保管，不能鉴定销毁。", code="permanent", field="items")
    if item.retain_until >= today:
        raise DomainError(
            f"档案 {item.archive_no} 保管期至{item.retain_until:%Y-%m-%d}，尚未到期。", code="not_due", field="items"
        )


def review_propose(
    *, actor, items: list[ArchiveItem], reason: str, today: dt.date | None = None
) -> list[RetentionReview]:
    """Propose items whose retention has ended for an approver's decision. An item already proposed returns its
    open review (a retried proposal makes no second one)."""
    require(actor, Action.KEEP_ARCHIVES)
    reason = _text(reason, field="reason", label="鉴定意见")
    today = today or _today()
    if not items:
        raise DomainError("请选择要鉴定的档案。", code="required", field="items")
    for item in items:
        require_item_in_scope(actor, item)
    reviews: list[RetentionReview] = []
    with transaction.atomic():
        # Checked on the rows as they are now (another clerk may have destroyed or extended one meanwhile).
        fresh = ArchiveItem.objects.in_bulk([item.pk for item in items])
        for item in dict.fromkeys(fresh[item.pk] for item in items):
            existing = RetentionReview.objects.filter(item=item, status=ReviewStatus.PROPOSED).first()
            if existing is not None:
                reviews.append(existing)
                continue
            _require_due(item, today)
            review = RetentionReview(item=item, proposed_by=actor, reason=reason)
            try:
                with transaction.atomic():
                    review.save()
            except IntegrityError:
                # Proposed by another clerk a moment ago.
                reviews.append(RetentionReview.objects.get(item=item, status=ReviewStatus.PROPOSED))
                continue
            event(
                item=item,
                region_code=item.region_code,
                action="review_proposed",
                actor=actor,
                note=f"保管期满（{item.retain_until:%Y-%m-%d}）鉴定：{reason}",
            )
            reviews.append(review)
    return reviews


def _delete_stored(storage, names: list[str]) -> None:
    # After commit: a name already gone (deleted by an earlier attempt, or by hand) is not an error. Content that
    # could not be deleted is left to ``archives sweep``.
    for name in names:
        try:
            storage.delete(name)
        except FileNotFoundError:
            pass
        except OSError:
            logger.exception("archive file %s could not be deleted after its item was destroyed", name)


@dataclass(frozen=True)
class Swept:
    checked: int  # files of destroyed items
    deleted: int  # whose content was still stored, and is now deleted
    failed: int  # whose content could not be deleted (logged; the next sweep tries again)


def sweep_deleted_files(*, chunk: int = 2000) -> Swept:
    """Delete the stored content of every file deleted with its item (``deleted_at`` set) that is still stored:
    the deletion after a destruction's commit failed, or the process ended before it ran. Run again, it finds
    nothing more to delete."""
    storage = ArchiveFile._meta.get_field("file").storage
    checked = deleted = failed = 0
    names = (
        ArchiveFile.objects.filter(deleted_at__isnull=False)
        .exclude(file="")
        .order_by("pk")
        .values_list("file", flat=True)
        .iterator(chunk_size=chunk)
    )
    for name in names:
        checked += 1
        try:
            if not storage.exists(name):
                continue
            storage.delete(name)
        except OSError:
            logger.exception("archive file %s of a destroyed item could not be deleted", name)
            failed += 1
        else:
            deleted += 1
    return Swept(checked=checked, deleted=deleted, failed=failed)


def review_decide(
    *,
    actor,
    review: RetentionReview,
    decision: str,
    note: str,
    extend_years: int | None = None,
    today: dt.date | None = None,
) -> RetentionReview:
    """An approver decides a proposed review: destroy the item, or keep it ``extend_years`` longer."""
    require(actor, Action.DECIDE_DESTRUCTION)
    require_item_in_scope(actor, review.item)
    if review.proposed_by_id == actor.pk:
        raise NotPermitted("鉴定人不能审批自己提出的鉴定，请由另一位审批人审批。", code="own_proposal")
    if decision not in (ReviewStatus.DESTROY, ReviewStatus.EXTEND):
        raise DomainError("请选择批准销毁或延长保管。", code="invalid", field="decision")
    note = _text(note, field="note", label="审批意见")
    if decision == ReviewStatus.EXTEND:
        if extend_years is None or isinstance(extend_years, bool) or not 1 <= int(extend_years) <= MAX_EXTEND_YEARS:
            raise DomainError(
                f"延长保管须填写延长年限（1至{MAX_EXTEND_YEARS}年）。", code="invalid", field="extend_years"
            )
        extend_years = int(extend_years)
    now = timezone.now()
    with transaction.atomic():
        # The item first, then the review: the same order as lending (which locks the item).
        item = ArchiveItem.objects.select_for_update().get(pk=review.item_id)
        review = RetentionReview.objects.select_for_update().get(pk=review.pk)
        if review.status != ReviewStatus.PROPOSED:
            raise Conflict(
                f"档案 {item.archive_no} 的鉴定已于{timezone.localtime(review.decided_at):%Y-%m-%d}"
                f"审批（{review.get_status_display()}），不能重复审批。",
                code="decided",
            )
        require_not_destroyed(item)
        review.decided_by, review.decided_at, review.decision_note = actor, now, note
        review.status = decision
        if decision == ReviewStatus.DESTROY:
            if item.retain_until is None or item.retain_until >= (today or _today()):
                raise Conflict(f"档案 {item.archive_no} 尚未到保管期满，不能销毁。", code="not_due")
            loan = open_loan(item)
            if loan is not None:
                raise Conflict(
                    f"档案 {item.archive_no} 已借给{loan.borrower}（应还{loan.due_on:%Y-%m-%d}），归还后才能销毁。",
                    code="on_loan",
                )
            item.destroyed_at = now
            item.save(update_fields=["destroyed_at"])
            files = ArchiveFile.objects.filter(item=item, deleted_at__isnull=True)
            names = [name for name in files.values_list("file", flat=True) if name]
            deleted = files.update(deleted_at=now)
            storage = ArchiveFile._meta.get_field("file").storage
            transaction.on_commit(lambda: _delete_stored(storage, names))
            event(
                item=item,
                region_code=item.region_code,
                action="destroyed",
                actor=actor,
                note=f"保管期满（{item.retain_until:%Y-%m-%d}）批准销毁：{note}"
                + (f"；删除电子件{deleted}份" if deleted else ""),
            )
        else:
            was = item.retain_until
            item.retain_until = dt.date(was.year + extend_years, 12, 31)
            item.save(update_fields=["retain_until"])
            review.extend_years = extend_years
            event(
                item=item,
                region_code=item.region_code,
                action="retention_extended",
                actor=actor,
                note=f"延长保管{extend_years}年，保管期由{was:%Y-%m-%d}改至{item.retain_until:%Y-%m-%d}：{note}",
            )
        review.save(update_fields=["status", "decided_by", "decided_at", "decision_note", "extend_years"])
    return review
