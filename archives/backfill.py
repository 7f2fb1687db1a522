"""Filing older records: every source record that should have been filed but was not (made before filing existed,
or loaded in bulk like the demo's register) becomes an archive item, numbered after the items already filed.

Each source app registers an ``agencies.records.Source`` per kind: which records should be filed and how one becomes
a ``Record`` (the same function its service files through). The backfill selects the records of a kind that have no
item of that kind, in chunks ordered by primary key; each chunk is filed in one transaction of its own, so a run
stopped half way keeps what it filed and the next run goes on from there, and a run over everything filed files
nothing.

Numbers are taken the way a clerk's filing takes them: the counters a chunk needs are locked (in prefix order) for
the chunk's transaction, the chunk's items get the next numbers, and the counters move on by as many.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from agencies import records
from agencies.errors import DomainError
from archives.models import ArchiveEvent, ArchiveItem, ArchiveKind, ArchiveNumberCounter
from archives.services import (
    archive_number,
    clean_fields,
    number_prefix,
    record_filed_at,
    retain_until,
    search_text,
)

Progress = Callable[[str, int, int], None]

# Records filed per transaction. The counters a chunk numbers under are locked until it commits, so a clerk filing
# in the same township, year and class waits for the chunk: small chunks keep that wait short.
DEFAULT_CHUNK = 500

# The lengths of a region code's meaningful prefix at each level: province, city, county, township, village.
LEVEL_PREFIXES = (2, 4, 6, 9, 12)


def backfill(
    *, kinds: list[str] | None = None, chunk: int = DEFAULT_CHUNK, progress: Progress | None = None
) -> dict[str, int]:
    """File every registered source's records not yet filed (only ``kinds``, when named); return how many items
    were filed per kind code. ``progress(kind, done, total)`` is called after each chunk."""
    if chunk < 1:
        raise ValueError("chunk must be at least 1")
    selected = _selected_sources(kinds)
    archive_kinds = {k.code: k for k in ArchiveKind.objects.filter(code__in=[s.kind for s in selected])}
    missing = [s.kind for s in selected if s.kind not in archive_kinds]
    if missing:
        raise RuntimeError(f"archive kinds {missing} are not defined: are the archives migrations applied?")
    _refresh_statistics()
    counts: dict[str, int] = {}
    for source in selected:
        counts[source.kind] = _backfill_source(source, archive_kinds[source.kind], chunk=chunk, progress=progress)
    return counts


def pending(source: records.Source, kind: ArchiveKind) -> QuerySet:
    """The source's records that have no item of the kind yet (NOT EXISTS on the item's source)."""
    queryset = source.queryset()
    source_type = ContentType.objects.get_for_model(queryset.model, for_concrete_model=False)
    filed = ArchiveItem.objects.filter(kind=kind, source_type=source_type, source_id=OuterRef("pk"))
    return queryset.filter(~Exists(filed))


def _selected_sources(kinds: Iterable[str] | None) -> list[records.Source]:
    registered = {source.kind: source for source in records.sources()}
    if kinds is None:
        return [registered[code] for code in sorted(registered)]
    wanted = list(dict.fromkeys(kinds))
    unknown = [code for code in wanted if code not in registered]
    if unknown:
        known = "、".join(sorted(registered)) or "无"
        raise DomainError(
            f"没有可补录的档案类别：{'、'.join(unknown)}。可补录的类别：{known}。", code="unknown_kind", field="kinds"
        )
    return [registered[code] for code in wanted]


def _backfill_source(source: records.Source, kind: ArchiveKind, *, chunk: int, progress: Progress | None) -> int:
    total = pending(source, kind).count()
    if total == 0:
        return 0  # the usual case once filed: no need to page through every record
    queryset = source.queryset()
    source_type = ContentType.objects.get_for_model(queryset.model, for_concrete_model=False)
    done = 0
    after = None
    while True:
        # The next page of the source by primary key, then which of it is filed: two index lookups whatever the
        # planner believes. (One NOT EXISTS with a LIMIT, planned on statistics taken before the run filed most of
        # the items, became a nested loop over every item of the kind: a minute for the last page of 170,000.)
        page = queryset.order_by("pk")
        if after is not None:
            page = page.filter(pk__gt=after)
        ids = list(page.values_list("pk", flat=True)[:chunk])
        if not ids:
            break
        after = ids[-1]
        filed = set(_filed_source_ids(kind, source_type, ids))
        unfiled = [pk for pk in ids if pk not in filed]
        if not unfiled:
            continue
        done += _file_chunk(source, kind, unfiled)
        if progress is not None:
            progress(kind.code, done, total)
    return done


def _filed_source_ids(kind: ArchiveKind, source_type: ContentType, ids: list) -> QuerySet:
    return ArchiveItem.objects.filter(kind=kind, source_type=source_type, source_id__in=ids).values_list(
        "source_id", flat=True
    )


def _refresh_statistics() -> None:
    """On PostgreSQL, let the planner see the items filed so far (a run files many between autovacuum's visits)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(ArchiveItem._meta.db_table)}")


def _file_chunk(source: records.Source, kind: ArchiveKind, ids: list) -> int:
    """File the records ``ids`` of one source in one transaction; return how many were filed."""
    with transaction.atomic():
        objects = list(source.queryset().filter(pk__in=ids).order_by("pk"))
        built = [(obj, _build(source, obj)) for obj in objects]
        prefixes = sorted({number_prefix(record.region_code, record.year, kind) for _, record in built})
        counters = _lock_counters(prefixes)
        # Under the counters' locks: anything filed meanwhile (a concurrent run, a clerk's retry) has committed and
        # is left out, so no number is taken for a record that already has one.
        source_type = ContentType.objects.get_for_model(source.queryset().model, for_concrete_model=False)
        filed = set(_filed_source_ids(kind, source_type, ids))
        built = [(obj, record) for obj, record in built if obj.pk not in filed]
        if not built:
            return 0
        persons = _persons({record.person_id for _, record in built if record.person_id})
        now = timezone.now()
        items = []
        for obj, record in built:
            counter = counters[number_prefix(record.region_code, record.year, kind)]
            counter.last += 1
            fields = clean_fields(record.fields)
            person = persons.get(record.person_id) if record.person_id else None
            items.append(
                ArchiveItem(
                    archive_no=archive_number(counter.prefix, counter.last),
                    kind=kind,
                    region_code=record.region_code,
                    year=record.year,
                    title=record.title[:200],
                    person_id=record.person_id,
                    source_type=source_type,
                    source_id=obj.pk,
                    fields=fields,
                    search_text=search_text(record.title, fields, person),
                    filed_by_id=record.filed_by_id,
                    filed_at=record_filed_at(record) or now,
                    retain_until=retain_until(kind, record.year),
                )
            )
        ArchiveItem.objects.bulk_create(items)
        ArchiveNumberCounter.objects.bulk_update(counters.values(), ["last"])
        ArchiveEvent.objects.create(
            item=None,
            region_code=enclosing_region_code([item.region_code for item in items]),
            action="backfill",
            note=f"补录归档：{kind.name} {len(items)} 件（{items[0].archive_no} 等）",
        )
        return len(items)


def _build(source: records.Source, obj) -> records.Record:
    record = source.build(obj)
    # The item is found again by its source: a Record of another kind or another object would be filed again on
    # every run.
    if record.kind != source.kind or record.source.pk != obj.pk:
        raise RuntimeError(
            f"the {source.kind} source built a record of {record.kind} #{record.source.pk} for #{obj.pk}"
        )
    return record


def _lock_counters(prefixes: list[str]) -> dict[str, ArchiveNumberCounter]:
    ArchiveNumberCounter.objects.bulk_create(
        [ArchiveNumberCounter(prefix=prefix) for prefix in prefixes], ignore_conflicts=True
    )
    locked = list(ArchiveNumberCounter.objects.select_for_update().filter(prefix__in=prefixes).order_by("prefix"))
    return {counter.prefix: counter for counter in locked}


def _persons(ids: set[int]) -> dict:
    if not ids:
        return {}
    from enrollment.models import InsuredPerson

    return InsuredPerson.objects.only("name", "id_number", "insurance_number").in_bulk(ids)


def enclosing_region_code(codes: list[str]) -> str:
    """The smallest region holding every code (a township, a county, …), as a 12-digit code; '' for none."""
    if not codes:
        return ""
    first, last = min(codes), max(codes)
    common = 0
    while common < min(len(first), len(last)) and first[common] == last[common]:
        common += 1
    level = max((length for length in LEVEL_PREFIXES if length <= common), default=0)
    return first[:level].ljust(12, "0") if level else ""
