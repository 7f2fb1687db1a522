"""Filing, electronic copies and places: every write to an archive item outside lending, hand-over and retention.

``record_file`` is the filer the other apps reach through ``agencies.records.file_record`` (registered in
``ArchivesConfig.ready``); it runs inside their transaction, so an item exists exactly when its source does.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from agencies.errors import Conflict, DomainError
from agencies.models import Region, RegionLevel
from agencies.permissions import Action, require
from agencies.records import Record
from agencies.scope import code_in_scope
from archives import filecheck
from archives.models import (
    ArchiveEvent,
    ArchiveFile,
    ArchiveItem,
    ArchiveKind,
    ArchiveLocation,
    ArchiveNumberCounter,
    Loan,
    Retention,
)

logger = logging.getLogger(__name__)

TEXT_LIMIT = 40
# The position in a box is a short label (a number, "7-2"): its column holds 20 characters.
POSITION_LIMIT = ArchiveItem._meta.get_field("position").max_length


def _today() -> dt.date:
    return timezone.localdate()


def event(*, item: ArchiveItem | None, region_code: str, action: str, actor=None, note: str = "") -> ArchiveEvent:
    return ArchiveEvent.objects.create(item=item, region_code=region_code, action=action, actor=actor, note=note[:300])


def require_item_in_scope(actor, item: ArchiveItem) -> None:
    # Views fetch items through the scope already (404); this guards direct service calls the same way.
    if not code_in_scope(actor, item.region_code):
        raise DomainError("该档案不在您的管辖范围内。", code="out_of_scope")


def require_not_destroyed(item: ArchiveItem) -> None:
    if item.destroyed_at is not None:
        raise Conflict(
            f"档案 {item.archive_no} 已于{timezone.localtime(item.destroyed_at):%Y-%m-%d}销毁。", code="destroyed"
        )


def retain_until(kind: ArchiveKind, year: int) -> dt.date | None:
    """Retention counts from the year after the record's year: a 10-year record of 2026 is kept to 2036-12-31."""
    if kind.retention == Retention.PERMANENT:
        return None
    return dt.date(year + kind.retention, 12, 31)


def number_prefix(region_code: str, year: int, kind: ArchiveKind) -> str:
    # The township's nine digits (a county's papers carry the county code and 000).
    return f"{region_code[:9]}-{year}-{kind.number}"


def _next_number(prefix: str) -> str:
    """The next archive number under a prefix. The counter row is locked to the end of the caller's transaction,
    so two clerks filing in the same township, year and class get consecutive numbers, never the same one."""
    ArchiveNumberCounter.objects.get_or_create(prefix=prefix)
    counter = ArchiveNumberCounter.objects.select_for_update().get(prefix=prefix)
    counter.last += 1
    counter.save(update_fields=["last"])
    return archive_number(prefix, counter.last)


def archive_number(prefix: str, sequence: int) -> str:
    return f"{prefix}-{sequence:06d}"


def search_text(title: str, fields: dict[str, Any], person) -> str:
    parts = [title]
    if person is not None:
        parts += [person.name, person.id_number, person.insurance_number or ""]
    parts += [f"{label} {value}" for label, value in fields.items() if value not in (None, "")]
    return " ".join(str(part) for part in parts if part)


def clean_fields(fields: dict[str, Any]) -> dict[str, str]:
    return {str(label): "" if value is None else str(value) for label, value in fields.items()}


def _create_item(
    *,
    kind: ArchiveKind,
    region_code: str,
    year: int,
    title: str,
    person=None,
    source=None,
    fields: dict[str, Any],
    filed_by=None,
    filed_by_id: int | None = None,
    filed_at: dt.datetime | None = None,
) -> ArchiveItem:
    fields = clean_fields(fields)
    item = ArchiveItem(
        archive_no=_next_number(number_prefix(region_code, year, kind)),
        kind=kind,
        region_code=region_code,
        year=year,
        title=title[:200],
        person=person,
        fields=fields,
        search_text=search_text(title, fields, person),
        filed_by=filed_by,
        retain_until=retain_until(kind, year),
        filed_at=filed_at or timezone.now(),
    )
    if filed_by is None and filed_by_id is not None:
        item.filed_by_id = filed_by_id
    if source is not None:
        item.source_type = ContentType.objects.get_for_model(source, for_concrete_model=False)
        item.source_id = source.pk
    item.save()
    event(item=item, region_code=region_code, action="filed", actor=item.filed_by, note=item.title)
    return item


def kind_by_code(code: str) -> ArchiveKind:
    try:
        return ArchiveKind.objects.get(code=code)
    except ArchiveKind.DoesNotExist:
        raise RuntimeError(f"archive kind {code!r} is not defined: are the archives migrations applied?") from None


def record_filed_at(record: Record) -> dt.datetime | None:
    """A record dated by its source (an application decided years ago) is filed at noon of that day."""
    if record.filed_on is None:
        return None
    return timezone.make_aware(dt.datetime.combine(record.filed_on, dt.time(12)))


def record_file(record: Record) -> ArchiveItem:
    """The filer behind ``agencies.records.file_record``: file a source app's record once, whatever the retries.

    A record filed already is brought up to date when its content has changed since (a form corrected and sent
    again after a return, a subsidy re-run that credited more persons); the same content again changes nothing.
    """
    kind = kind_by_code(record.kind)
    source_type = ContentType.objects.get_for_model(record.source, for_concrete_model=False)
    existing = ArchiveItem.objects.filter(kind=kind, source_type=source_type, source_id=record.source.pk).first()
    if existing is not None:
        return _refile(existing, record)
    from enrollment.models import InsuredPerson

    person = InsuredPerson.objects.get(pk=record.person_id) if record.person_id else None
    try:
        with transaction.atomic():
            return _create_item(
                kind=kind,
                region_code=record.region_code,
                year=record.year,
                title=record.title,
                person=person,
                source=record.source,
                fields=record.fields,
                filed_by_id=record.filed_by_id,
                filed_at=record_filed_at(record),
            )
    except IntegrityError:
        # Filed by a concurrent retry of the same work a moment ago.
        return _refile(ArchiveItem.objects.get(kind=kind, source_type=source_type, source_id=record.source.pk), record)


def _refile(item: ArchiveItem, record: Record) -> ArchiveItem:
    """Bring a filed item's title, fields and search text to the record's content; log what changed, once."""
    if item.destroyed_at is not None:
        return item  # the record of what was destroyed stays as it was
    title = record.title[:200]
    fields = clean_fields(record.fields)
    if (item.title, item.fields) == (title, fields):
        return item
    from enrollment.models import InsuredPerson

    # The person as they are now: a corrected name or identity number is what a search will be given.
    person = InsuredPerson.objects.filter(pk=item.person_id).first() if item.person_id else None
    labels = dict.fromkeys([*fields, *item.fields])  # the record's order, then labels it no longer has
    changed = (["题名"] if item.title != title else []) + [
        label for label in labels if fields.get(label) != item.fields.get(label)
    ]
    item.title, item.fields, item.search_text = title, fields, search_text(record.title, fields, person)
    item.save(update_fields=["title", "fields", "search_text"])
    event(
        item=item,
        region_code=item.region_code,
        action="refiled",
        note="来源记录内容已更改，档案内容随之更新：" + ("、".join(changed) or "检索内容"),
    )
    return item


def item_create(
    *,
    actor,
    kind: ArchiveKind,
    region: Region,
    year: int,
    title: str,
    person=None,
    fields: dict[str, Any] | None = None,
) -> ArchiveItem:
    """A clerk files a paper the portal did not produce (a village's contribution roll, an annual report)."""
    require(actor, Action.KEEP_ARCHIVES)
    if not code_in_scope(actor, region.code):
        raise DomainError("请选择您管辖范围内的村、乡镇或县。", code="out_of_scope", field="region")
    if region.level not in (RegionLevel.VILLAGE, RegionLevel.TOWNSHIP, RegionLevel.COUNTY):
        raise DomainError("档案按村、乡镇或县归档，请选择其中一级。", code="invalid", field="region")
    this_year = _today().year
    if not 1990 <= int(year) <= this_year:
        raise DomainError(f"年度应在1990至{this_year}之间。", code="invalid", field="year")
    title = (title or "").strip()
    if not title:
        raise DomainError("请填写题名。", code="required", field="title")
    if person is not None and not person.region_code.startswith(region.scope_prefix):
        raise DomainError("该参保人不在所选区划内。", code="invalid", field="person")
    with transaction.atomic():
        return _create_item(
            kind=kind,
            region_code=region.code,
            year=int(year),
            title=title,
            person=person,
            fields=fields or {},
            filed_by=actor,
        )


def file_attach(*, actor, item: ArchiveItem, upload) -> ArchiveFile:
    """Attach a scan or photograph of the item's paper. The same content attached again is the same file."""
    require(actor, Action.ATTACH_ARCHIVE_FILE)
    require_item_in_scope(actor, item)
    require_not_destroyed(item)
    inspected = filecheck.inspect_upload(upload)
    existing = ArchiveFile.objects.filter(item=item, sha256=inspected.sha256).first()
    if existing is not None:
        return existing
    # The content is stored before the row (slow work stays outside the transaction); if the row then fails, for
    # whatever reason, the stored copy is removed, and a crash in between leaves only an unreferenced file, never a
    # row without content.
    archive_file = ArchiveFile(
        item=item,
        original_name=(upload.name or "")[-200:],
        content_type=inspected.content_type,
        size=inspected.size,
        sha256=inspected.sha256,
        pages=inspected.pages,
        uploaded_by=actor,
    )
    archive_file.file.save(upload.name or "scan", ContentFile(inspected.content), save=False)
    stored = archive_file.file.name
    try:
        with transaction.atomic():
            # The item as it is now, locked as the destruction decision locks it: an item destroyed while the
            # content was being stored takes no new scan.
            require_not_destroyed(ArchiveItem.objects.select_for_update().get(pk=item.pk))
            archive_file.save()
            event(
                item=item,
                region_code=item.region_code,
                action="file_attached",
                actor=actor,
                note=f"{archive_file.original_name}（{filecheck.TYPE_NAMES[inspected.content_type]}，{inspected.pages}页）",
            )
    except IntegrityError:
        _delete_stored(stored)
        # Attached by a concurrent retry of the same upload a moment ago.
        return ArchiveFile.objects.get(item=item, sha256=inspected.sha256)
    except BaseException:
        _delete_stored(stored)
        raise
    return archive_file


def _delete_stored(name: str) -> None:
    """Remove content stored for a row that was never written; a failure is logged (``archives sweep`` does not
    see such content, having no row for it) and never hides the error that brought us here."""
    try:
        ArchiveFile._meta.get_field("file").storage.delete(name)
    except Exception:
        logger.exception("archive file %s stored for a row never written could not be deleted", name)


def file_read(*, actor, archive_file: ArchiveFile):
    """Open a stored copy for a user in scope; every reading is logged (it holds personal data)."""
    require_item_in_scope(actor, archive_file.item)
    if archive_file.deleted_at is not None or archive_file.item.destroyed_at is not None:
        raise Conflict("该电子文件已随档案销毁。", code="destroyed")
    event(
        item=archive_file.item,
        region_code=archive_file.item.region_code,
        action="file_read",
        actor=actor,
        note=archive_file.original_name,
    )
    return archive_file.file.open("rb")


def item_read(*, actor, item: ArchiveItem) -> ArchiveEvent:
    """Opening an item shows its form in full (identity numbers included): each opening is logged, one insert."""
    return event(item=item, region_code=item.region_code, action="record_read", actor=actor)


def _clean_label(value: str, *, field: str, label: str, limit: int = TEXT_LIMIT) -> str:
    value = (value or "").strip()
    if not value:
        raise DomainError(f"请填写{label}。", code="required", field=field)
    if len(value) > limit:
        raise DomainError(f"{label}最多{limit}个字。", code="too_long", field=field)
    return value


def keeping_region_code(actor, item: ArchiveItem) -> str:
    """Whose archive room a paper goes into: the actor's agency (a township's 社保所 or the county's agency)."""
    agency = getattr(actor, "agency", None)
    return agency.region.code if agency is not None else item.region_code


def may_move(actor, item: ArchiveItem) -> bool:
    """A paper on the shelf is moved by its keeper, or by staff whose jurisdiction holds the room it is in."""
    if item.keeper_id is not None and actor.pk == item.keeper_id:
        return True
    return item.location_id is not None and code_in_scope(actor, item.location.region_code)


def paper_place(
    *, actor, item: ArchiveItem, room: str, cabinet: str, box: str, position: str, keeper=None
) -> ArchiveItem:
    """Record where the paper is: room, cabinet, box and position. The first placing receives the paper into the
    archive room and makes its keeper (the actor unless named) responsible for it."""
    require(actor, Action.KEEP_ARCHIVES)
    require_item_in_scope(actor, item)
    room = _clean_label(room, field="room", label="档案室")
    cabinet = _clean_label(cabinet, field="cabinet", label="档案柜号")
    box = _clean_label(box, field="box", label="档案盒号")
    position = _clean_label(position, field="position", label="盒内序号", limit=POSITION_LIMIT)
    if keeper is not None and not (keeper.agency_id and code_in_scope(actor, keeper.agency.region.code)):
        raise DomainError("保管人须是您管辖范围内的工作人员。", code="invalid", field="keeper")
    if keeper is not None and not code_in_scope(keeper, item.region_code):
        raise DomainError("保管人须能查阅这份档案（其管辖范围须包含档案所属区划）。", code="invalid", field="keeper")
    with transaction.atomic():
        item = ArchiveItem.objects.select_for_update().get(pk=item.pk)
        require_not_destroyed(item)
        if item.paper_received_at is not None:
            _require_movable(actor, item)
        location, _ = ArchiveLocation.objects.get_or_create(
            region_code=keeping_region_code(actor, item), room=room, cabinet=cabinet, box=box
        )
        taken = (
            ArchiveItem.objects.filter(location=location, position=position, destroyed_at__isnull=True)
            .exclude(pk=item.pk)
            .values_list("archive_no", flat=True)
            .first()
        )
        if taken:
            raise Conflict(f"{location} 第{position}号位置已存放档案 {taken}，请换一个位置。", code="position_taken")
        moved_from = str(item.location) + f" 第{item.position}号" if item.location_id else ""
        item.location, item.position = location, position
        if item.paper_received_at is None:
            item.paper_received_at = timezone.now()
            item.keeper = keeper or actor
        elif keeper is not None:
            raise DomainError("已入库档案的保管人只能通过交接变更。", code="keeper_by_handover", field="keeper")
        try:
            with transaction.atomic():
                item.save(update_fields=["location", "position", "paper_received_at", "keeper"])
        except IntegrityError:
            raise Conflict(
                f"{location} 第{position}号位置刚刚已被占用，请换一个位置。", code="position_taken"
            ) from None
        note = f"{location} 第{position}号" + (f"（原 {moved_from}）" if moved_from else "")
        event(item=item, region_code=item.region_code, action="placed", actor=actor, note=note)
    return item


def _require_movable(actor, item: ArchiveItem) -> None:
    """Moving a paper already on the shelf: by whoever answers for it, and only while it is in the room."""
    if not may_move(actor, item):
        raise DomainError(
            f"档案 {item.archive_no} 存放在{item.location.room}，只有保管人{item.keeper or ''}或管辖该档案室的经办员"
            "才能移动。",
            code="not_keeper",
        )
    loan = open_loan(item)
    if loan is not None:
        raise Conflict(
            f"档案 {item.archive_no} 已借给{loan.borrower}（应还{loan.due_on:%Y-%m-%d}），借出在外，归还后才能移动。",
            code="on_loan",
        )


def open_loan(item: ArchiveItem) -> Loan | None:
    return Loan.objects.filter(item=item, returned_at__isnull=True).first()
