"""Reads of the archives, always through the jurisdiction scope: search, an item and its files, a person's own
records, a keeper's custody, the register (档案登记簿) of a place and year, and the lists the forms choose from.

List reads carry their flags as annotations (``has_file``, ``file_count``, ``file_pages``, ``on_loan``) so a page
of fifty items is one query, not fifty.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from django.db.models import (
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, Length
from django.db.models.lookups import IContains
from django.http import Http404

from agencies.models import Region, User
from agencies.scope import code_in_scope, get_scoped_or_404, scoped
from archives.models import ArchiveEvent, ArchiveFile, ArchiveItem, ArchiveKind, ArchiveLocation, Loan
from enrollment.models import InsuredPerson

# 档号: township (or county + 000), year, class number, sequence, e.g. 320412101-2026-01-000012.
ARCHIVE_NO = re.compile(r"^\d{9}-\d{4}-\d{2}-\d{6}$", re.ASCII)
ID_NUMBER = re.compile(r"^\d{17}[\dX]$", re.ASCII)
# An insurance number, or part of an identity number.
DIGITS = re.compile(r"^\d{4,20}$", re.ASCII)


class TextContains(IContains):
    """A case-insensitive substring match that PostgreSQL's trigram index on ``search_text`` can serve.

    Django's ``icontains`` compares ``UPPER(column)``, an expression the index (on the bare column) does not
    cover; ``ILIKE`` on the column itself is what ``gin_trgm_ops`` answers. Other databases use ``icontains``.
    Used directly in ``filter()``, not registered on the field.
    """

    def as_postgresql(self, compiler, connection):
        lhs_sql, lhs_params = compiler.compile(self.lhs)
        rhs_sql, rhs_params = self.process_rhs(compiler, connection)  # '%…%' with % _ \ escaped
        return f"{lhs_sql} ILIKE {rhs_sql}", (*lhs_params, *rhs_params)


def _live_files():
    return ArchiveFile.objects.filter(item=OuterRef("pk"), deleted_at__isnull=True)


def _with_flags(items: QuerySet[ArchiveItem]) -> QuerySet[ArchiveItem]:
    """has_file, file_count and file_pages (electronic copies not deleted) and on_loan (an open loan)."""
    count = _live_files().order_by().values("item").annotate(n=Count("pk")).values("n")
    pages = _live_files().order_by().values("item").annotate(n=Sum("pages")).values("n")
    return items.annotate(
        has_file=Exists(_live_files()),
        file_count=Coalesce(Subquery(count, output_field=IntegerField()), Value(0)),
        file_pages=Coalesce(Subquery(pages, output_field=IntegerField()), Value(0)),
        on_loan=Exists(Loan.objects.filter(item=OuterRef("pk"), returned_at__isnull=True)),
    )


def _items(user) -> QuerySet[ArchiveItem]:
    return _with_flags(scoped(ArchiveItem.objects.select_related("kind", "location", "person", "keeper"), user))


def items_flagged(*, user) -> QuerySet[ArchiveItem]:
    """Every item in the user's scope as the lists show them: kind, place, person and keeper joined, and the
    has_file, file_count, file_pages and on_loan flags, so a page of them is one query."""
    return _items(user)


# --- one item, one file ----------------------------------------------------------------------------------------


def item_get(*, user, pk: int) -> ArchiveItem:
    items = _with_flags(ArchiveItem.objects.select_related("kind", "location", "keeper", "person", "filed_by"))
    return get_scoped_or_404(items, user, pk=pk)


def file_get(*, user, pk: int) -> ArchiveFile:
    """An electronic copy, scoped through its item (a file of an item outside the scope answers 404)."""
    files = ArchiveFile.objects.select_related("item", "item__kind", "uploaded_by")
    return get_scoped_or_404(files, user, pk=pk)


# --- search ------------------------------------------------------------------------------------------------------


def _person_ids(condition: Q) -> list[int]:
    # Unique columns (identity and insurance numbers): a person or two, found by their indexes. Taken first so the
    # item filter stays a plain OR of two indexed conditions on the item table (a join in the OR would scan).
    return list(InsuredPerson.objects.filter(condition).values_list("pk", flat=True)[:2])


def _search_filter(q: str) -> Q | TextContains | None:
    text = unicodedata.normalize("NFKC", q or "").strip()  # full-width digits and hyphens as typed on some IMEs
    if not text:
        return None
    compact = "".join(text.split()).upper()
    if ARCHIVE_NO.match(compact):
        return Q(archive_no=compact)
    if ID_NUMBER.match(compact) or DIGITS.match(compact):
        # The person's record today as well as the numbers as written on the papers: an insurance number is often
        # given after the registration form was filed, and an identity number may have been corrected since.
        person = Q(person_id__in=_person_ids(Q(id_number=compact) | Q(insurance_number=compact)))
        return person | Q(TextContains(F("search_text"), compact))
    # A name, a place, a tier, any word of the form: the search text holds the title, the person's name and
    # numbers when filed, and every field as "label value".
    return TextContains(F("search_text"), text)


def _place_prefix(region_code: str) -> str:
    """A township's or county's full code stands for every place under it; a shorter code is a prefix already."""
    code = (region_code or "").strip()
    if len(code) == 12:
        region = Region.objects.filter(code=code).only("code", "level").first()
        if region is not None:
            return region.scope_prefix
    return code


def items_search(
    *,
    user,
    q: str = "",
    kind: ArchiveKind | None = None,
    region_code: str = "",
    year: int | None = None,
    paper: bool | None = None,
    electronic: bool | None = None,
    destroyed: bool = False,
) -> QuerySet[ArchiveItem]:
    """Items in the user's scope by person (name, identity or insurance number), archive number (exact), any text
    of the form, kind, place (a code prefix), year and whether the paper and an electronic copy are held.
    Destroyed items only when ``destroyed`` is asked for."""
    items = _items(user)
    if not destroyed:
        items = items.filter(destroyed_at__isnull=True)
    condition = _search_filter(q)
    if condition is not None:
        items = items.filter(condition)
    if kind is not None:
        items = items.filter(kind=kind)
    prefix = _place_prefix(region_code)
    if prefix:
        items = items.filter(region_code__startswith=prefix)
    if year is not None:
        items = items.filter(year=year)
    if paper is not None:
        items = items.filter(paper_received_at__isnull=not paper)
    if electronic is not None:
        items = items.filter(has_file=electronic)
    return items.order_by("region_code", "year", "archive_no")


# --- a person's records, a keeper's custody -------------------------------------------------------------------


def person_records(*, user, person) -> QuerySet[ArchiveItem]:
    """查阅本人档案: the person's own records in the user's scope, newest first, with their electronic copies."""
    files = ArchiveFile.objects.filter(deleted_at__isnull=True).order_by("id")
    return (
        _items(user)
        .filter(person=person, destroyed_at__isnull=True)
        .prefetch_related(Prefetch("files", queryset=files))
        .order_by("-year", "-filed_at", "-id")
    )


def custody(*, user, keeper) -> QuerySet[ArchiveItem]:
    """What a keeper holds (the hand-over inventory), in shelf order: room, cabinet, box, position (2 before 10)."""
    return (
        _items(user)
        .filter(keeper=keeper, destroyed_at__isnull=True)
        .order_by("location__room", "location__cabinet", "location__box", Length("position"), "position", "archive_no")
    )


def keepers(*, user, roles: Iterable[str] | None = None) -> QuerySet[User]:
    """Active staff of agencies in the user's scope (the hand-over form's choices); ``roles`` narrows them."""
    staff = User.objects.filter(is_active=True, agency__region__in=scoped(Region.objects.all(), user))
    if roles is not None:
        staff = staff.filter(role__in=list(roles))
    return staff.select_related("agency__region").order_by("agency__region__code", "username")


def outgoing_keepers(*, user, roles: Iterable[str] | None = None) -> QuerySet[User]:
    """Whose custody may be handed over: the active keepers as ``keepers``, and staff in scope who have left
    (inactive accounts) but still keep papers, handed over under a clerk's supervision (监交)."""
    in_scope = User.objects.filter(agency__region__in=scoped(Region.objects.all(), user))
    keeping = Exists(ArchiveItem.objects.filter(keeper=OuterRef("pk"), destroyed_at__isnull=True))
    active = Q(is_active=True) & (Q(role__in=list(roles)) if roles is not None else Q())
    return (
        in_scope.filter(active | (Q(is_active=False) & keeping))
        .select_related("agency__region")
        .order_by("-is_active", "agency__region__code", "username")
    )


# --- the register ------------------------------------------------------------------------------------------------


def register_rows(*, user, region: Region, year: int) -> QuerySet[ArchiveItem]:
    """档案登记簿: every item filed under the region (a village, a township or a county) for the year, destroyed
    ones included (the register shows what was destroyed), with the place's name as ``place_name``."""
    if not code_in_scope(user, region.code):
        raise Http404
    place = Region.objects.filter(code=OuterRef("region_code")).values("name")[:1]
    return (
        _items(user)
        .filter(region_code__startswith=region.scope_prefix, year=year)
        .annotate(place_name=Subquery(place))
        .order_by("region_code", "kind__number", "archive_no")
    )


def register_summary(rows: QuerySet[ArchiveItem]) -> dict[str, int]:
    """The register's counts in one aggregate query. Paper and electronic counts are of items still kept, so
    with_paper + missing_paper + destroyed == total (and the same for the electronic copy)."""
    kept = Q(destroyed_at__isnull=True)
    paper = Q(paper_received_at__isnull=False)
    electronic = Q(has_file=True)
    counts = rows.order_by().aggregate(
        total=Count("pk"),
        with_paper=Count("pk", filter=kept & paper),
        with_electronic=Count("pk", filter=kept & electronic),
        both=Count("pk", filter=kept & paper & electronic),
        missing_paper=Count("pk", filter=kept & ~paper),
        missing_electronic=Count("pk", filter=kept & ~electronic),
        destroyed=Count("pk", filter=~kept),
    )
    return {name: value or 0 for name, value in counts.items()}


# --- lists for forms and pages ------------------------------------------------------------------------------------


def kinds() -> QuerySet[ArchiveKind]:
    return ArchiveKind.objects.order_by("number")


def locations(*, user) -> QuerySet[ArchiveLocation]:
    return scoped(ArchiveLocation.objects.all(), user).order_by("region_code", "room", "cabinet", "box")


def events(*, user, item: ArchiveItem) -> QuerySet[ArchiveEvent]:
    return scoped(ArchiveEvent.objects.filter(item=item).select_related("actor"), user).order_by("-at", "-id")
