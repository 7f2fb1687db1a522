"""Each role's work (待办): the applications, claims and transfers waiting on the user, each with the date it falls
due under the promised time limit (办理时限), and the village agent's and supervisors' counts.

Who acts next follows the apps' own worklists: the township reviews what was submitted (SUBMITTED), the county
approves what the township accepted (ACCEPTED), whoever entered a form corrects it when it comes back (RETURNED),
the sending side's approver approves a transfer requested of it and the receiving side books it once the money
has moved. An item's due date is the day its clock started plus the working days in force on that day for its
kind and for the pooling region of the office that acts next (``portal.timelimits.due_on``). The clock starts at
the latest submission: a form's creation, or its latest resubmission after it was sent back; for a transfer
booked on the receiving side, the day the money moved. An item sent back for correction has no due date: the
clock stops while it is with the applicant (the summaries count it so too).

A list is a handful of queries whatever its length: a few columns of every item, the places' pooling regions and
every limit of those pooling regions, read once; due dates, order and counts are worked out in memory, and only
the items shown are then read in full (``WorkIndex``).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace

from django.db.models import Exists, F, Max, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from agencies.models import PoolingRegion, Region, Role
from agencies.permissions import Action, can
from agencies.scope import (
    EVERYWHERE,
    covered_pooling_regions,
    covers_pooling_region,
    scope_prefix,
    visible_pooling_region_ids,
)
from benefits import calc
from benefits import selectors as benefit_selectors
from benefits.models import AwardEvent, Claim, ClaimStatus, TransferKind, TransferStatus
from contributions import selectors as contribution_selectors
from contributions.models import Contribution
from enrollment import idnumber
from enrollment import selectors as enrollment_selectors
from enrollment.models import Application, ApplicationEvent, ApplicationKind, ApplicationStatus
from funds import selectors_bank
from funds.models import ResultCode
from portal.models import TimeLimit, WorkKind
from portal.timelimits import STATUTORY_WORKING_DAYS, add_working_days, first_not_overdue

# An item due within this many working days is flagged 即将到期.
DUE_SOON_WORKING_DAYS = 2

NORMAL = "normal"
DUE_SOON = "due_soon"
OVERDUE = "overdue"
RETURNED = "returned"  # with the applicant for correction: no time limit runs
STATE_LABELS = {
    NORMAL: _("正常"),
    DUE_SOON: _("即将到期"),
    OVERDUE: _("已超时"),
    RETURNED: _("待补正"),
}

# Those who see every open item of their jurisdiction that is past its limit, not a queue of their own.
SUPERVISORS = frozenset({Role.CITY_SUPERVISOR, Role.ADMINISTRATOR})
# Those who enter forms, and so correct them when they come back.
ENTERING = frozenset({Role.VILLAGE_AGENT, Role.TOWNSHIP_CLERK, Role.COUNTY_CLERK})

APPLICATION_WORK = {
    ApplicationKind.REGISTER: WorkKind.REGISTER,
    ApplicationKind.CHANGE: WorkKind.CHANGE,
    ApplicationKind.CANCEL: WorkKind.CANCEL,
}
KIND_LABELS = dict(WorkKind.choices)


@dataclass(frozen=True)
class WorkItem:
    """One application, claim or transfer in a worklist."""

    kind: str  # a WorkKind
    pk: int
    url: str
    person_name: str
    id_number: str  # masked
    region_code: str
    status: str
    status_label: str
    submitted_at: dt.datetime
    due: dt.date | None
    state: str
    entered_by: str
    note: str = ""  # why it was sent back
    place: str = ""  # township and village

    @property
    def kind_label(self) -> str:
        return str(KIND_LABELS[self.kind])

    @property
    def state_label(self) -> str:
        return str(STATE_LABELS[self.state])

    @property
    def submitted(self) -> dt.date:
        return timezone.localdate(self.submitted_at)

    @property
    def overdue(self) -> bool:
        return self.state == OVERDUE


@dataclass(frozen=True)
class WorkCount:
    """A count on the home page that links to the page where the work is done."""

    label: str
    count: int
    url: str
    note: str = ""


def state_on(due: dt.date | None, today: dt.date) -> str:
    if due is None:
        return RETURNED
    if due < today:
        return OVERDUE
    if due <= add_working_days(today, DUE_SOON_WORKING_DAYS):
        return DUE_SOON
    return NORMAL


class LimitBook:
    """Every limit of the pooling regions a list touches, read in one query; answers like ``timelimits.limits``."""

    def __init__(self, pooling_region_ids: Iterable[int]):
        self._rows: dict[tuple[int, str], list[tuple[dt.date, int]]] = defaultdict(list)
        ids = {pk for pk in pooling_region_ids if pk is not None}
        if ids:
            rows = TimeLimit.objects.filter(pooling_region_id__in=ids).order_by("valid_from")
            for pool, kind, valid_from, days in rows.values_list(
                "pooling_region_id", "kind", "valid_from", "working_days"
            ):
                self._rows[(pool, kind)].append((valid_from, days))

    def days(self, pooling_region_id: int | None, kind: str, on: dt.date) -> int:
        found = STATUTORY_WORKING_DAYS[kind]
        for valid_from, days in self._rows.get((pooling_region_id, kind), ()):
            if valid_from > on:
                break
            found = days  # the latest valid_from on or before the day wins
        return found

    def due(self, pooling_region_id: int | None, kind: str, submitted: dt.date) -> dt.date:
        return add_working_days(submitted, self.days(pooling_region_id, kind, submitted))


# --- what waits on whom ------------------------------------------------------------------------------------

# The event both apps record when whoever entered a returned form sends it up again: the clock starts anew.
RESUBMIT = "resubmit"


def _start_of(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _transfer_side(prefix: str | None, column: str) -> Q:
    return Q() if prefix == EVERYWHERE else Q(**{f"{column}__startswith": prefix})


def _within_transfer_to_book() -> Q:
    return Q(kind=TransferKind.WITHIN_SCHEME, status=TransferStatus.MOVED)


def _latest_resubmit(events, column: str) -> Subquery:
    """The latest resubmission of the outer row, as one correlated subquery (never a query per row)."""
    latest = events.filter(**{column: OuterRef("pk")}, action=RESUBMIT).order_by().values(column)
    return Subquery(latest.annotate(latest=Max("at")).values("latest")[:1])


def _with_clock(applications, claims):
    """``started_at``: when the clock started, the latest submission (a resubmission after return, else the form's
    creation)."""
    return (
        applications.annotate(
            started_at=Coalesce(_latest_resubmit(ApplicationEvent.objects, "application"), F("created_at"))
        ),
        claims.annotate(started_at=Coalesce(_latest_resubmit(AwardEvent.objects, "claim"), F("created_at"))),
    )


def _transfer_clock(status: str, requested_at: dt.datetime, approved_at: dt.datetime | None) -> dt.datetime:
    """A transfer's clock: from the request on the sending side, from the day the money moved (the sending side
    approves and pays in one step, ``approved_at``) on the receiving side."""
    if status == TransferStatus.MOVED and approved_at is not None:
        return approved_at
    return requested_at


def _transfer_acting(status: str, region_code: str, from_code: str, to_code: str) -> str:
    # Whoever acts next keeps the promise: the sending side until the money moves, then the receiving side.
    return to_code if status == TransferStatus.MOVED else (from_code or region_code)


def _lists(user, *, supervising: bool):
    """The user's applications, claims and transfers, as querysets (nothing evaluated yet)."""
    prefix = scope_prefix(user)
    applications, claims = _with_clock(
        enrollment_selectors.application_queryset(user=user), benefit_selectors.claim_queryset(user=user)
    )
    transfers = benefit_selectors.transfer_queryset(user=user).select_related("requested_by")
    if prefix is None:
        return applications.none(), claims.none(), transfers.none()
    if supervising:
        return (
            applications.filter(status__in=[ApplicationStatus.SUBMITTED, ApplicationStatus.ACCEPTED]),
            claims.filter(status__in=[ClaimStatus.SUBMITTED, ClaimStatus.ACCEPTED]),
            transfers.filter(Q(status=TransferStatus.REQUESTED) | _within_transfer_to_book()),
        )
    role = user.role
    app_q, claim_q, transfer_q = Q(pk__in=[]), Q(pk__in=[]), Q(pk__in=[])
    if role in ENTERING:
        # Sent back to whoever entered it.
        app_q |= Q(status=ApplicationStatus.RETURNED, created_by=user)
        claim_q |= Q(status=ClaimStatus.RETURNED, created_by=user)
    if role == Role.TOWNSHIP_CLERK:
        app_q |= Q(status=ApplicationStatus.SUBMITTED)
        claim_q |= Q(status=ClaimStatus.SUBMITTED)
    if role == Role.COUNTY_APPROVER:
        app_q |= Q(status=ApplicationStatus.ACCEPTED)
        claim_q |= Q(status=ClaimStatus.ACCEPTED)
        # The sending side approves and pays.
        transfer_q |= Q(status=TransferStatus.REQUESTED) & _transfer_side(prefix, "from_region_code")
    if role in (Role.TOWNSHIP_CLERK, Role.COUNTY_CLERK):
        # The receiving side books what has moved.
        transfer_q |= _within_transfer_to_book() & _transfer_side(prefix, "to_region_code")
    return applications.filter(app_q), claims.filter(claim_q), transfers.filter(transfer_q)


class _Pools:
    """Every place's pooling region and every limit, read once (two queries) for a list."""

    def __init__(self):
        self.prefixes = contribution_selectors.pooling_prefixes()
        self.book = LimitBook(pool for _, pool in self.prefixes)

    def due(self, region_code: str, kind: str, started: dt.datetime) -> dt.date:
        pool = contribution_selectors.pooling_region_id_of(region_code, self.prefixes)
        return self.book.due(pool, kind, timezone.localdate(started))


def _items(applications, claims, transfers, *, today: dt.date, pools: _Pools | None = None) -> list[WorkItem]:
    applications, claims, transfers = list(applications), list(claims), list(transfers)
    pools = pools or _Pools()
    codes = {row.region_code for row in itertools.chain(applications, claims, transfers)}
    places = (
        {
            region.code: f"{region.parent.name if region.parent_id else ''}{region.name}"
            for region in Region.objects.filter(code__in=codes).select_related("parent")
        }
        if codes
        else {}
    )
    items: list[WorkItem] = []
    for row in applications:
        items.append(_item(APPLICATION_WORK[row.kind], row, pools, today, url=_url("application", row.pk)))
    for row in claims:
        items.append(_item(WorkKind.CLAIM, row, pools, today, url=_url("claim", row.pk)))
    for row in transfers:
        acting = _transfer_acting(row.status, row.region_code, row.from_region_code, row.to_region_code)
        started = _transfer_clock(row.status, row.requested_at, row.approved_at)
        due = pools.due(acting, WorkKind.TRANSFER, started)
        items.append(
            WorkItem(
                kind=WorkKind.TRANSFER,
                pk=row.pk,
                url=_url("transfer", row.pk),
                person_name=row.person.name,
                id_number=idnumber.mask(row.person.id_number),
                region_code=row.region_code,
                status=row.status,
                status_label=row.get_status_display(),
                submitted_at=started,
                due=due,
                state=state_on(due, today),
                entered_by=row.requested_by.display_name,
            )
        )
    return sorted((replace(item, place=places.get(item.region_code, "")) for item in items), key=_order)


def _item(kind: str, row: Application | Claim, pools: _Pools, today: dt.date, *, url: str):
    returned = row.status in (ApplicationStatus.RETURNED, ClaimStatus.RETURNED)
    started = row.started_at  # annotated by ``_with_clock``
    due = None if returned else pools.due(row.region_code, kind, started)
    return WorkItem(
        kind=kind,
        pk=row.pk,
        url=url,
        person_name=row.person.name,
        id_number=idnumber.mask(row.person.id_number),
        region_code=row.region_code,
        status=row.status,
        status_label=row.get_status_display(),
        submitted_at=started,
        due=due,
        state=state_on(due, today),
        entered_by=row.created_by.display_name,
        note=row.return_reason if returned else "",
    )


_URL_NAMES = {
    "application": "enrollment:application_detail",
    "claim": "benefits:claim_detail",
    "transfer": "benefits:transfer_detail",
}


def _url(what: str, pk: int) -> str:
    return reverse(_URL_NAMES[what], args=[pk])


def _sort_key(state: str, due: dt.date | None, started: dt.datetime, kind: str, pk: int) -> tuple:
    # Overdue first, then by due date (those without one last), then oldest first.
    return (state != OVERDUE, due or dt.date.max, started, kind, pk)


def _order(item: WorkItem) -> tuple:
    return _sort_key(item.state, item.due, item.submitted_at, item.kind, item.pk)


def is_supervisor(user) -> bool:
    return user.role in SUPERVISORS or (user.is_superuser and not user.role)


@dataclass(frozen=True)
class Key:
    """One item of a list from a few of its columns: enough to order and count it, not to show it."""

    what: str  # "application", "claim" or "transfer"
    kind: str  # a WorkKind
    pk: int
    state: str
    order: tuple


def _keys(applications, claims, transfers, *, today: dt.date, pools: _Pools) -> list[Key]:
    """Every item's due date and state from a few columns (three queries whatever the length), in list order."""
    keys: list[Key] = []

    def add(what: str, kind: str, pk: int, due: dt.date | None, started: dt.datetime) -> None:
        state = state_on(due, today)
        keys.append(Key(what, kind, pk, state, _sort_key(state, due, started, kind, pk)))

    returned = (ApplicationStatus.RETURNED, ClaimStatus.RETURNED)
    rows = applications.order_by().values_list("kind", "pk", "region_code", "status", "started_at")
    for kind, pk, code, status, started in rows:
        work = APPLICATION_WORK[kind]
        add("application", work, pk, None if status in returned else pools.due(code, work, started), started)
    for pk, code, status, started in claims.order_by().values_list("pk", "region_code", "status", "started_at"):
        add(
            "claim",
            WorkKind.CLAIM,
            pk,
            None if status in returned else pools.due(code, WorkKind.CLAIM, started),
            started,
        )
    columns = ("pk", "status", "region_code", "from_region_code", "to_region_code", "requested_at", "approved_at")
    for pk, status, code, from_code, to_code, requested_at, approved_at in transfers.order_by().values_list(*columns):
        started = _transfer_clock(status, requested_at, approved_at)
        due = pools.due(_transfer_acting(status, code, from_code, to_code), WorkKind.TRANSFER, started)
        add("transfer", WorkKind.TRANSFER, pk, due, started)
    keys.sort(key=lambda key: key.order)
    return keys


class WorkIndex:
    """A whole list (a queue, or the overdue items) ordered and counted from a few columns of every item; full
    rows (person, who entered it, the place) are loaded only for the part shown (``load``)."""

    def __init__(self, keys: list[Key], lists: tuple, *, today: dt.date, pools: _Pools | None):
        self.keys = keys
        self._lists = lists
        self._today = today
        self._pools = pools

    @classmethod
    def empty(cls) -> WorkIndex:
        """No work at all (a role with no queue): counts of nothing, and nothing read."""
        return cls([], (), today=timezone.localdate(), pools=None)

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def total(self) -> int:
        return len(self.keys)

    @property
    def overdue(self) -> int:
        return sum(1 for key in self.keys if key.state == OVERDUE)

    @property
    def due_soon(self) -> int:
        return sum(1 for key in self.keys if key.state == DUE_SOON)

    @property
    def counts(self) -> list[tuple[str, int]]:
        """(kind label, count) for every kind, in the kinds' order."""
        counted: dict[str, int] = defaultdict(int)
        for key in self.keys:
            counted[key.kind] += 1
        return [(str(label), counted[kind]) for kind, label in WorkKind.choices]

    def load(self, keys: Iterable[Key] | None = None) -> list[WorkItem]:
        """The items of ``keys`` (all by default) in full, in list order: a handful of queries however many."""
        keys = self.keys if keys is None else list(keys)
        if not keys:
            return []
        wanted: dict[str, list[int]] = defaultdict(list)
        for key in keys:
            wanted[key.what].append(key.pk)
        applications, claims, transfers = self._lists
        return _items(
            applications.filter(pk__in=wanted["application"]) if wanted["application"] else [],
            claims.filter(pk__in=wanted["claim"]) if wanted["claim"] else [],
            transfers.filter(pk__in=wanted["transfer"]) if wanted["transfer"] else [],
            today=self._today,
            pools=self._pools,
        )


def queue_index(*, user, today: dt.date | None = None) -> WorkIndex:
    """What waits on the user's decision or correction, overdue first then by due date, as an index."""
    today = today or timezone.localdate()
    lists = _lists(user, supervising=False)
    pools = _Pools()
    return WorkIndex(_keys(*lists, today=today, pools=pools), lists, today=today, pools=pools)


def overdue_index(*, user, today: dt.date | None = None) -> WorkIndex:
    """The user's overdue items; for a supervisor, every open item in their jurisdiction past its limit."""
    today = today or timezone.localdate()
    if is_supervisor(user):
        # Nothing whose clock started on or after this day can be overdue yet, whatever the limit (at least one
        # working day); the clock never starts before the form was made, so the creation date narrows it safely.
        cut = _start_of(first_not_overdue(today, 1))
        applications, claims, transfers = _lists(user, supervising=True)
        lists = (
            applications.filter(created_at__lt=cut),
            claims.filter(created_at__lt=cut),
            transfers.filter(requested_at__lt=cut),
        )
    else:
        lists = _lists(user, supervising=False)
    pools = _Pools()
    keys = [key for key in _keys(*lists, today=today, pools=pools) if key.state == OVERDUE]
    return WorkIndex(keys, lists, today=today, pools=pools)


def queue(*, user, today: dt.date | None = None) -> list[WorkItem]:
    """What waits on the user's decision or correction, overdue first then by due date."""
    return queue_index(user=user, today=today).load()


def overdue(*, user, today: dt.date | None = None) -> list[WorkItem]:
    """The user's overdue items; for a supervisor, every open item in their jurisdiction past its limit."""
    return overdue_index(user=user, today=today).load()


@dataclass(frozen=True)
class OverdueHead:
    """A supervisor's overdue items in short: the first few in full, the total and the count per kind."""

    items: list[WorkItem]
    total: int
    counts: list[tuple[str, int]]


def overdue_head(*, user, shown: int, today: dt.date | None = None) -> OverdueHead:
    """``overdue`` for a home page: due dates worked out from a few columns of every open item, and only the first
    ``shown`` overdue ones loaded in full (a city may hold thousands of open applications)."""
    late = overdue_index(user=user, today=today)
    return OverdueHead(items=late.load(late.keys[:shown]), total=late.total, counts=late.counts)


def kind_counts(items: Iterable[WorkItem]) -> list[tuple[str, int]]:
    """(kind label, count) for every kind, in the kinds' order."""
    counted: dict[str, int] = defaultdict(int)
    for item in items:
        counted[item.kind] += 1
    return [(str(label), counted[kind]) for kind, label in WorkKind.choices]


# --- the village agent's month ------------------------------------------------------------------------------


def month_work(*, user, today: dt.date | None = None) -> list[WorkCount]:
    """The village agent's work of the month, each a count linking to the page where it is done: whom to collect
    from (paid last year, not yet this year), whom to confirm by the 10th, failed deductions to follow up, and
    who turns 60 next month."""
    if user.role != Role.VILLAGE_AGENT or scope_prefix(user) is None:
        return []
    today = today or timezone.localdate()
    year, month = today.year, calc.month_of(today)
    to_collect = contribution_selectors.renewal_list(user=user, year=year).count()
    to_confirm = benefit_selectors.recipients_to_confirm(user=user, month=month).count()
    unpaid = (
        selectors_bank.deduct_follow_ups(user=user, year=year)
        .filter(~Q(result_code=ResultCode.DONE))
        .filter(~Exists(Contribution.objects.filter(person_id=OuterRef("person_id"), year=year)))
    )
    turning = benefit_selectors.turning_60(user=user, month=calc.add_months(month, 1))
    qualifying = sum(1 for row in turning if row.eligibility.eligible)
    return [
        WorkCount(
            gettext("本年待续保缴费"),
            to_collect,
            reverse("contributions:renewals"),
            gettext("上年已缴费、本年尚未缴费的人员"),
        ),
        WorkCount(
            gettext("本月待确认的领取人员"),
            to_confirm,
            reverse("benefits:confirmations"),
            gettext("每月10日前确认"),
        ),
        WorkCount(
            gettext("本年代扣失败待跟进"),
            unpaid.count(),
            reverse("contributions:deduct_follow_ups"),
            gettext("银行扣款失败、尚未缴费的人员"),
        ),
        WorkCount(
            gettext("下月年满60周岁"),
            len(turning),
            reverse("benefits:turning_60"),
            gettext("其中符合领取条件%(n)s人") % {"n": qualifying},
        ),
    ]


# --- the time limits in force -------------------------------------------------------------------------------


@dataclass(frozen=True)
class KindLimit:
    """A kind's limit in force on a day in one pooling region, and every limit it has had or will have."""

    kind: str
    days: int
    statutory: int
    valid_from: dt.date | None  # None: no limit set, the statutory one applies
    history: list[TimeLimit]  # newest first, those not yet in force included

    @property
    def kind_label(self) -> str:
        return str(KIND_LABELS[self.kind])

    @property
    def is_statutory(self) -> bool:
        return self.valid_from is None


@dataclass(frozen=True)
class RegionLimits:
    pooling_region: PoolingRegion
    kinds: list[KindLimit]
    may_set: bool

    @property
    def has_history(self) -> bool:
        return any(limit.history for limit in self.kinds)


def time_limits_overview(*, user, on: dt.date | None = None) -> list[RegionLimits]:
    """Each pooling region the user's jurisdiction touches, with each kind's limit in force on ``on`` and its
    history; ``may_set`` where the user may set its limits (their scope holds the whole pooling region)."""
    on = on or timezone.localdate()
    ids = visible_pooling_region_ids(user=user)
    regions = PoolingRegion.objects.order_by("code")
    if ids is not None:
        regions = regions.filter(pk__in=ids)
    regions = list(regions)
    settable = {region.pk for region in settable_pooling_regions(user=user, among=regions)}
    rows: dict[tuple[int, str], list[TimeLimit]] = defaultdict(list)
    limits = TimeLimit.objects.filter(pooling_region__in=regions).select_related("set_by")
    for row in limits.order_by("-valid_from", "-pk"):
        rows[(row.pooling_region_id, row.kind)].append(row)
    overview = []
    for region in regions:
        kinds = []
        for kind, _label in WorkKind.choices:
            history = rows.get((region.pk, kind), [])
            current = next((row for row in history if row.valid_from <= on), None)
            kinds.append(
                KindLimit(
                    kind=kind,
                    days=current.working_days if current else STATUTORY_WORKING_DAYS[kind],
                    statutory=STATUTORY_WORKING_DAYS[kind],
                    valid_from=current.valid_from if current else None,
                    history=history,
                )
            )
        overview.append(RegionLimits(pooling_region=region, kinds=kinds, may_set=region.pk in settable))
    return overview


def settable_pooling_regions(*, user, among: Iterable[PoolingRegion] | None = None) -> list[PoolingRegion]:
    """The pooling regions whose limits the user may set: the role may, and the scope holds the whole region."""
    if not can(user, Action.SET_TIME_LIMITS):
        return []
    if among is None:
        return covered_pooling_regions(user=user)
    return [region for region in among if covers_pooling_region(user, region)]
