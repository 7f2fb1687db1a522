"""交接: when a keeper changes, everything in their custody is listed, checked and signed over by both keepers.

A keeper's custody is every item they keep that is not destroyed. The inventory (one line per item) is written
set-based, since a county's keeper may hold 100,000 items; checking, refreshing and the move of custody are single
statements too. Custody moves only when the incoming keeper signs, and only when every line is accounted for:
present in the room, or out on a loan that is still open.

Every item of the custody must lie within the jurisdiction of whoever acts and of the receiver. A keeper who has
left (an inactive account) is handed over from all the same: an archive clerk supervises and signs for them (监交).
"""

from __future__ import annotations

from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from agencies.errors import Conflict, DomainError, NotPermitted
from agencies.models import PREFIX_LENGTH
from agencies.permissions import Action, can, require
from agencies.scope import code_in_scope, scope_prefix
from archives.models import ArchiveItem, HandOver, HandOverLine, HandOverStatus, LineState, Loan
from archives.services import event

OPEN_STATUSES = (HandOverStatus.OPEN, HandOverStatus.SIGNED_BY_OUTGOING)
# How many archive numbers a refusal names before "等".
NAMED = 10
NOTE_LIMIT = 200


def _filed_under(from_keeper, to_keeper) -> str:
    """The smallest region holding both keepers' offices and every item in the custody: the hand-over (its list
    names the items) is seen only by those whose jurisdiction holds all of it, never by the clerks of a township
    the outgoing keeper moved to."""
    codes = [from_keeper.agency.region.code, to_keeper.agency.region.code]
    codes += _custody(from_keeper.pk).order_by().values_list("region_code", flat=True).distinct()
    shared = 0
    while shared < 12 and len({code[shared] for code in codes}) == 1:
        shared += 1
    width = max((length for length in PREFIX_LENGTH.values() if length <= shared), default=0)
    return codes[0][:width].ljust(12, "0")


def _custody(keeper_id: int) -> QuerySet[ArchiveItem]:
    return ArchiveItem.objects.filter(keeper_id=keeper_id, destroyed_at__isnull=True)


def _open_loan_of_item() -> QuerySet[Loan]:
    return Loan.objects.filter(item_id=OuterRef("item_id"), returned_at__isnull=True)


def _named(archive_nos: list[str], total: int) -> str:
    return "、".join(archive_nos[:NAMED]) + (f"等{total}件" if total > NAMED else "")


def _label(handover: HandOver) -> str:
    return f"交接#{handover.pk}（{handover.from_keeper}→{handover.to_keeper}）"


def _require_keeper(actor, keeper, *, field: str, label: str, may_have_left: bool = False) -> None:
    agency = getattr(keeper, "agency", None) if keeper is not None else None
    if keeper is None or agency is None or not (keeper.is_active or may_have_left):
        raise DomainError(f"{label}须是在岗的工作人员。", code="invalid", field=field)
    if not code_in_scope(actor, agency.region.code):
        raise DomainError(f"{label}须是您管辖范围内的工作人员。", code="out_of_scope", field=field)


def _require_party(actor, handover: HandOver) -> None:
    """The two keepers, or any archive clerk whose jurisdiction holds the hand-over."""
    if actor.pk in (handover.from_keeper_id, handover.to_keeper_id):
        return
    require(actor, Action.KEEP_ARCHIVES)
    if not code_in_scope(actor, handover.region_code):
        raise DomainError("该交接不在您的管辖范围内。", code="out_of_scope")


def _inside(user) -> Q:
    """The items a user's jurisdiction holds (nothing for a user without one)."""
    prefix = scope_prefix(user)
    return Q(region_code__startswith=prefix) if prefix is not None else Q(pk__isnull=True)


def _require_within_reach(*, actor, from_keeper, to_keeper) -> None:
    """Every item of the outgoing keeper's custody must lie in the jurisdiction of whoever acts and of the receiver.

    A keeper moved from one township to another still keeps the first township's papers: a clerk of the second may
    not list them, and a receiver who could not open them could neither check them nor keep them.
    """
    outside = _custody(from_keeper.pk).aggregate(
        actor=Count("pk", filter=~_inside(actor)),
        receiver=Count("pk", filter=~_inside(to_keeper)),
    )
    if outside["actor"]:
        raise DomainError(
            f"{from_keeper} 名下有{outside['actor']}件档案不在您的管辖范围内（如调岗前所在地的档案），"
            "您不能交接这些档案，请由管辖全部这些档案的上级经办机构办理。",
            code="out_of_scope",
            field="from_keeper",
        )
    if outside["receiver"]:
        raise DomainError(
            f"{from_keeper} 名下有{outside['receiver']}件档案不在接收人{to_keeper}的管辖范围内，接收后无法查阅，"
            "请改选能查阅全部这些档案的接收人（如上级经办机构的档案管理员）。",
            code="out_of_reach",
            field="to_keeper",
        )


def _supervised(handover: HandOver) -> bool:
    """监交: the outgoing keeper has left (their account is no longer active), or has moved to an office whose
    jurisdiction no longer holds the papers (they cannot open the list), so they cannot sign themselves."""
    return not handover.from_keeper.is_active or not code_in_scope(handover.from_keeper, handover.region_code)


def may_sign_outgoing(user, handover: HandOver) -> bool:
    """The outgoing keeper signs; once they have left, an archive clerk whose jurisdiction holds the hand-over
    signs for them as supervisor (监交人), who is not the receiver (one person signing both sides proves nothing)."""
    if user.pk == handover.from_keeper_id:
        return True
    return (
        _supervised(handover)
        and user.pk != handover.to_keeper_id
        and can(user, Action.KEEP_ARCHIVES)
        and code_in_scope(user, handover.region_code)
    )


def _locked(handover: HandOver) -> HandOver:
    return HandOver.objects.select_for_update().select_related("from_keeper", "to_keeper").get(pk=handover.pk)


def _require_open(handover: HandOver) -> None:
    if handover.status == HandOverStatus.DONE:
        raise Conflict(
            f"{_label(handover)}已于{timezone.localtime(handover.to_signed_at):%Y-%m-%d}完成，不能再更改。", code="done"
        )
    if handover.status == HandOverStatus.CANCELLED:
        raise Conflict(f"{_label(handover)}已取消，不能再更改。", code="cancelled")


def _reopen_if_signed(handover: HandOver, *, actor, why: str) -> None:
    """The outgoing keeper signed a list that has since changed: the signature no longer holds."""
    if handover.status != HandOverStatus.SIGNED_BY_OUTGOING:
        return
    handover.status = HandOverStatus.OPEN
    handover.from_signed_at = None
    handover.save(update_fields=["status", "from_signed_at"])
    event(
        item=None,
        region_code=handover.region_code,
        action="handover_reopened",
        actor=actor,
        note=f"{_label(handover)}{why}，移交人须重新签字",
    )


def _insert_lines(handover: HandOver, *, only_new: bool) -> int:
    """One INSERT ... SELECT of a line per custody item (an item on an open loan is listed with its loan)."""
    line, item, loan = HandOverLine._meta.db_table, ArchiveItem._meta.db_table, Loan._meta.db_table
    new_only = f"AND NOT EXISTS (SELECT 1 FROM {line} x WHERE x.handover_id = %s AND x.item_id = i.id)"
    sql = f"""
        INSERT INTO {line} (handover_id, item_id, state, loan_id, note)
        SELECT %s, i.id, CASE WHEN l.id IS NULL THEN %s ELSE %s END, l.id, ''
        FROM {item} i LEFT JOIN {loan} l ON l.item_id = i.id AND l.returned_at IS NULL
        WHERE i.keeper_id = %s AND i.destroyed_at IS NULL {new_only if only_new else ""}
        ORDER BY i.archive_no
    """
    params = [handover.pk, LineState.PENDING, LineState.ON_LOAN, handover.from_keeper_id]
    if only_new:
        params.append(handover.pk)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def handover_start(*, actor, from_keeper, to_keeper, note: str = "") -> HandOver:
    """Open a hand-over and list everything in the outgoing keeper's custody."""
    require(actor, Action.KEEP_ARCHIVES)
    # A keeper who has left may still be handed over from: a clerk supervises and signs for them (监交).
    _require_keeper(actor, from_keeper, field="from_keeper", label="移交人", may_have_left=True)
    _require_keeper(actor, to_keeper, field="to_keeper", label="接收人")
    if from_keeper.pk == to_keeper.pk:
        raise DomainError("移交人和接收人不能是同一人。", code="invalid", field="to_keeper")
    if not from_keeper.agency.region.code.startswith(to_keeper.agency.region.scope_prefix):
        # The hand-over and every item in it are filed within the outgoing keeper's jurisdiction: a receiver who
        # could not open them could neither sign the list nor keep the papers.
        raise DomainError(
            "接收人须是移交人所在机构或其上级机构的工作人员，否则接收后无法查阅所保管的档案。",
            code="out_of_reach",
            field="to_keeper",
        )
    note = (note or "").strip()
    if len(note) > NOTE_LIMIT:
        raise DomainError(f"说明最多{NOTE_LIMIT}个字。", code="too_long", field="note")
    if not _custody(from_keeper.pk).exists():
        raise DomainError(f"{from_keeper} 名下没有保管的档案，无需交接。", code="nothing_kept", field="from_keeper")
    _require_within_reach(actor=actor, from_keeper=from_keeper, to_keeper=to_keeper)
    with transaction.atomic():
        refusal = _open_one_conflict(from_keeper)
        if refusal is not None:
            raise refusal
        handover = HandOver(
            region_code=_filed_under(from_keeper, to_keeper),
            from_keeper=from_keeper,
            to_keeper=to_keeper,
            note=note,
            created_by=actor,
        )
        try:
            with transaction.atomic():
                handover.save()
        except IntegrityError:
            # Another clerk opened one for this keeper a moment ago.
            raise _open_one_conflict(from_keeper) or Conflict("该保管人刚刚已有一份交接，请刷新。") from None
        listed = _insert_lines(handover, only_new=False)
        if listed == 0:
            # The custody emptied between the check and the list (handed over or destroyed meanwhile).
            raise DomainError(f"{from_keeper} 名下没有保管的档案，无需交接。", code="nothing_kept", field="from_keeper")
        on_loan = handover.lines.filter(state=LineState.ON_LOAN).count()
        event(
            item=None,
            region_code=handover.region_code,
            action="handover_started",
            actor=actor,
            note=f"{_label(handover)}发起，清单{listed}件" + (f"，其中借出在外{on_loan}件" if on_loan else ""),
        )
    return handover


def _open_one_conflict(from_keeper) -> Conflict | None:
    current = (
        HandOver.objects.filter(from_keeper=from_keeper, status__in=OPEN_STATUSES).select_related("to_keeper").first()
    )
    if current is None:
        return None
    return Conflict(
        f"{from_keeper} 已有一份未完成的交接（交接#{current.pk}，交给{current.to_keeper}，"
        f"{timezone.localtime(current.created_at):%Y-%m-%d}发起，{current.get_status_display()}），请先完成或取消。",
        code="handover_open",
    )


def handover_check(*, actor, handover: HandOver, archive_nos: list[str], state: str) -> int:
    """Mark the named lines present or missing; returns how many lines changed."""
    _require_party(actor, handover)
    if state not in (LineState.PRESENT, LineState.MISSING):
        raise DomainError("清点结果只能是在库或缺失。", code="invalid", field="state")
    wanted = list(dict.fromkeys(no.strip() for no in archive_nos if no and no.strip()))
    if not wanted:
        raise DomainError("请填写要清点的档号。", code="required", field="archive_nos")
    with transaction.atomic():
        handover = _locked(handover)
        _require_open(handover)
        lines = HandOverLine.objects.filter(handover=handover, item__archive_no__in=wanted)
        found = set(lines.values_list("item__archive_no", flat=True))
        unknown = [no for no in wanted if no not in found]
        if unknown:
            raise DomainError(
                f"以下档号不在本次交接清单中：{_named(unknown, len(unknown))}。", code="not_listed", field="archive_nos"
            )
        changed = HandOverLine.objects.filter(pk__in=lines.exclude(state=state).values("pk")).update(state=state)
        if changed:
            _reopen_if_signed(handover, actor=actor, why=f"清点结果有{changed}处变更")
            event(
                item=None,
                region_code=handover.region_code,
                action="handover_checked",
                actor=actor,
                note=f"{_label(handover)}清点{changed}件为{LineState(state).label}",
            )
    return changed


def handover_check_all_present(*, actor, handover: HandOver) -> int:
    """全部清点无误: every line not yet checked is present."""
    _require_party(actor, handover)
    with transaction.atomic():
        handover = _locked(handover)
        _require_open(handover)
        changed = HandOverLine.objects.filter(handover=handover, state=LineState.PENDING).update(
            state=LineState.PRESENT
        )
        if changed:
            _reopen_if_signed(handover, actor=actor, why=f"清点结果有{changed}处变更")
            event(
                item=None,
                region_code=handover.region_code,
                action="handover_checked",
                actor=actor,
                note=f"{_label(handover)}其余{changed}件全部清点在库",
            )
    return changed


def handover_refresh(*, actor, handover: HandOver) -> int:
    """Bring the list up to the custody as it is now; returns how many lines were added.

    Items that came into the outgoing keeper's custody since the list was made are added; lines of items no longer
    in it (destroyed) are dropped; a line not yet checked, or out on a loan since returned, whose item is out on a
    loan now is listed with that loan.
    """
    _require_party(actor, handover)
    with transaction.atomic():
        handover = _locked(handover)
        _require_open(handover)
        _require_within_reach(actor=actor, from_keeper=handover.from_keeper, to_keeper=handover.to_keeper)
        in_custody = _custody(handover.from_keeper_id).filter(pk=OuterRef("item_id"))
        dropped, _ = HandOverLine.objects.filter(handover=handover).exclude(Exists(in_custody)).delete()
        added = _insert_lines(handover, only_new=True)
        # Lines whose item went out on a loan since: accounted for by that loan.
        relent = (
            HandOverLine.objects.filter(handover=handover)
            .filter(Q(state=LineState.PENDING) | Q(state=LineState.ON_LOAN, loan__returned_at__isnull=False))
            .filter(Exists(_open_loan_of_item()))
            .update(state=LineState.ON_LOAN, loan=Subquery(_open_loan_of_item().values("pk")[:1]))
        )
        if added or dropped or relent:
            _reopen_if_signed(handover, actor=actor, why="清单已刷新")
            parts = (
                [f"新增{added}件"]
                + ([f"移除{dropped}件"] if dropped else [])
                + ([f"{relent}件已借出"] if relent else [])
            )
            event(
                item=None,
                region_code=handover.region_code,
                action="handover_refreshed",
                actor=actor,
                note=f"{_label(handover)}刷新清单：" + "，".join(parts),
            )
    return added


def _require_accounted(handover: HandOver) -> None:
    """Refuse a signature while anything is unaccounted for: not checked, missing, back from a loan but not checked
    present, or a list that no longer matches the custody."""
    lines = HandOverLine.objects.filter(handover=handover)
    open_ = lines.filter(state__in=[LineState.PENDING, LineState.MISSING])
    count = open_.count()
    if count:
        numbers = list(open_.order_by("item__archive_no").values_list("item__archive_no", flat=True)[:NAMED])
        raise Conflict(
            f"还有{count}件档案未清点或缺失：{_named(numbers, count)}。须全部在库或借出在外方可签字。",
            code="unaccounted",
        )
    back = lines.filter(state=LineState.ON_LOAN).exclude(loan__returned_at__isnull=True)
    count = back.count()
    if count:
        numbers = list(back.order_by("item__archive_no").values_list("item__archive_no", flat=True)[:NAMED])
        raise Conflict(
            f"有{count}件借出的档案已归还，尚未清点在库：{_named(numbers, count)}。请清点后再签字。",
            code="unaccounted",
        )
    _require_all_listed(handover)
    gone = lines.exclude(Exists(_custody(handover.from_keeper_id).filter(pk=OuterRef("item_id"))))
    count = gone.count()
    if count:
        numbers = list(gone.order_by("item__archive_no").values_list("item__archive_no", flat=True)[:NAMED])
        raise Conflict(
            f"有{count}件档案已不在{handover.from_keeper}名下（已销毁）：{_named(numbers, count)}。请先刷新清单。",
            code="inventory_stale",
        )


def _require_all_listed(handover: HandOver) -> None:
    """Nothing in the outgoing keeper's custody is left off the list."""
    listed = HandOverLine.objects.filter(handover=handover, item_id=OuterRef("pk"))
    unlisted = _custody(handover.from_keeper_id).exclude(Exists(listed))
    count = unlisted.count()
    if count:
        numbers = list(unlisted.order_by("archive_no").values_list("archive_no", flat=True)[:NAMED])
        raise Conflict(
            f"有{count}件档案是清单生成后交由{handover.from_keeper}保管的，未列入交接清单：{_named(numbers, count)}。"
            "请先刷新清单并清点。",
            code="inventory_stale",
        )


def handover_sign_outgoing(*, actor, handover: HandOver) -> HandOver:
    """The outgoing keeper signs the checked list; for a keeper who has left, the supervising clerk (监交人)."""
    with transaction.atomic():
        handover = _locked(handover)
        if not may_sign_outgoing(actor, handover):
            if _supervised(handover) and actor.pk == handover.to_keeper_id:
                raise NotPermitted(
                    "移交人已离岗或调离，须由接收人以外的档案管理员监交并代为签字。", code="not_from_keeper"
                )
            if _supervised(handover):
                raise NotPermitted(
                    f"移交人{handover.from_keeper}已离岗或调离，须由管辖该交接的档案管理员监交并代为签字。",
                    code="not_from_keeper",
                )
            raise NotPermitted(f"只有移交人{handover.from_keeper}本人才能签字移交。", code="not_from_keeper")
        supervisor = actor if actor.pk != handover.from_keeper_id else None
        _require_open(handover)
        if handover.status != HandOverStatus.OPEN:
            raise Conflict(f"{_label(handover)}移交人已签字，等待接收人签字。", code="already_signed")
        if supervisor is not None:
            # The supervisor vouches for the list: every paper on it must be theirs to see.
            _require_within_reach(actor=supervisor, from_keeper=handover.from_keeper, to_keeper=handover.to_keeper)
        _require_accounted(handover)
        handover.status = HandOverStatus.SIGNED_BY_OUTGOING
        handover.from_signed_at = timezone.now()
        handover.save(update_fields=["status", "from_signed_at"])
        event(
            item=None,
            region_code=handover.region_code,
            action="handover_signed_out",
            actor=actor,
            note=f"{_label(handover)}移交人签字，清单{handover.lines.count()}件"
            + (f"（移交人已离岗或调离，监交人 {supervisor} 代为签字）" if supervisor is not None else ""),
        )
    return handover


def handover_sign_incoming(*, actor, handover: HandOver) -> HandOver:
    """The incoming keeper signs; custody of the listed items moves to them in the same transaction."""
    if actor.pk != handover.to_keeper_id:
        raise NotPermitted(f"只有接收人{handover.to_keeper}本人才能签字接收。", code="not_to_keeper")
    with transaction.atomic():
        handover = _locked(handover)
        _require_open(handover)
        if handover.status != HandOverStatus.SIGNED_BY_OUTGOING:
            raise Conflict(f"{_label(handover)}移交人尚未签字，请等移交人签字后再接收。", code="not_signed_out")
        _require_within_reach(actor=actor, from_keeper=handover.from_keeper, to_keeper=handover.to_keeper)
        _require_accounted(handover)
        moved = ArchiveItem.objects.filter(
            pk__in=HandOverLine.objects.filter(handover=handover).values("item_id"),
            keeper_id=handover.from_keeper_id,
            destroyed_at__isnull=True,
        ).update(keeper_id=handover.to_keeper_id)
        # A paper placed with the outgoing keeper after the check above and before the move is not on the list and
        # stays behind: refuse, and the transaction takes the move back.
        _require_all_listed(handover)
        handover.status = HandOverStatus.DONE
        handover.to_signed_at = timezone.now()
        handover.save(update_fields=["status", "to_signed_at"])
        on_loan = handover.lines.filter(state=LineState.ON_LOAN).count()
        event(
            item=None,
            region_code=handover.region_code,
            action="handed_over",
            actor=actor,
            note=f"{_label(handover)}完成，{moved}件档案转由{handover.to_keeper}保管"
            + (f"，其中借出在外{on_loan}件" if on_loan else ""),
        )
    return handover


def handover_cancel(*, actor, handover: HandOver, reason: str) -> HandOver:
    """Give up a hand-over before it is done; custody stays where it is. Cancelling again changes nothing."""
    _require_party(actor, handover)
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("请填写取消原因。", code="required", field="reason")
    if len(reason) > NOTE_LIMIT:
        raise DomainError(f"取消原因最多{NOTE_LIMIT}个字。", code="too_long", field="reason")
    with transaction.atomic():
        handover = _locked(handover)
        if handover.status == HandOverStatus.CANCELLED:
            return handover
        if handover.status == HandOverStatus.DONE:
            raise Conflict(f"{_label(handover)}已完成，不能取消。", code="done")
        handover.status = HandOverStatus.CANCELLED
        handover.note = ((handover.note + "；") if handover.note else "") + f"取消：{reason}"
        handover.note = handover.note[:NOTE_LIMIT]
        handover.save(update_fields=["status", "note"])
        event(
            item=None,
            region_code=handover.region_code,
            action="handover_cancelled",
            actor=actor,
            note=f"{_label(handover)}取消：{reason}",
        )
    return handover
