"""Reads of the bank side for the browser: partner banks and their keys, batches and result files, and the lines
that need following up. Always through the jurisdiction scope.

- A partner bank is seen by an administrator whose jurisdiction touches a pooling region it serves (or that
  serves none yet, so it can be given one); anyone else gets 404 for it.
- A batch and its result files are a whole pooling region's: seen only by users whose jurisdiction holds every
  place of that region (``covered_pooling_regions``), as the payroll runs; anyone else gets 404.
- The lines of a batch are persons' records and go through ``scoped`` by their region code as well.

A line's outcome is the bank's answer in the batch's settled result file (``ResultLine``, matched by seq); only
failures and the success lines whose money must go back (``follow_up``) are listed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import (
    BooleanField,
    Case,
    Count,
    Exists,
    F,
    Max,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.http import Http404
from django.utils import timezone

from agencies.models import PoolingRegion
from agencies.scope import covered_pooling_regions, scope_prefix, scoped, visible_pooling_region_ids
from funds.models import (
    BankBatch,
    BankBatchLine,
    BankCredential,
    BankPartner,
    BatchKind,
    BatchStatus,
    CredentialUse,
    ReceiptStatus,
    ResultCode,
    ResultLine,
    ResultReceipt,
)

RECENT_USES = 50

# --- partner banks and their keys ---------------------------------------------------------------------------


def assignable_pooling_regions(*, user) -> QuerySet[PoolingRegion]:
    """The pooling regions an administrator may give a bank: those their jurisdiction touches."""
    if scope_prefix(user) is None:
        return PoolingRegion.objects.none()
    ids = visible_pooling_region_ids(user=user)
    regions = PoolingRegion.objects.order_by("code")
    return regions if ids is None else regions.filter(pk__in=ids)


def partner_queryset(*, user) -> QuerySet[BankPartner]:
    if scope_prefix(user) is None:
        return BankPartner.objects.none()
    ids = visible_pooling_region_ids(user=user)
    partners = BankPartner.objects.all()
    if ids is None:
        return partners
    served = BankPartner.pooling_regions.through.objects.filter(bankpartner_id=OuterRef("pk"))
    return partners.filter(Exists(served.filter(poolingregion_id__in=ids)) | ~Exists(served))


def partner_get(*, user, pk) -> BankPartner:
    try:
        return partner_queryset(user=user).get(pk=pk)
    except (BankPartner.DoesNotExist, ValueError, TypeError):
        raise Http404 from None


def partner_list(*, user) -> QuerySet[BankPartner]:
    """Each bank with the regions it serves, how many keys are live and when one was last used: a few queries."""
    now = timezone.now()
    live = Q(credentials__revoked_at__isnull=True) & (
        Q(credentials__expires_at__isnull=True) | Q(credentials__expires_at__gt=now)
    )
    return (
        partner_queryset(user=user)
        .annotate(live_keys=Count("credentials", filter=live), last_used_at=Max("credentials__last_used_at"))
        .prefetch_related(Prefetch("pooling_regions", queryset=PoolingRegion.objects.order_by("code")))
        .order_by("-active", "code")
    )


def credential_get(*, user, pk) -> BankCredential:
    try:
        return BankCredential.objects.select_related("partner").get(
            pk=pk, partner__in=partner_queryset(user=user).values("pk")
        )
    except (BankCredential.DoesNotExist, ValueError, TypeError):
        raise Http404 from None


def partner_credentials(*, partner: BankPartner) -> QuerySet[BankCredential]:
    return partner.credentials.select_related("created_by", "revoked_by").order_by("-created_at", "-id")


def recent_uses(*, partner: BankPartner, limit: int = RECENT_USES) -> list[CredentialUse]:
    return list(
        CredentialUse.objects.filter(credential__partner=partner)
        .select_related("credential")
        .order_by("-at", "-id")[:limit]
    )


def partners_serving(*, pooling_region_ids: list[int]) -> QuerySet[BankPartner]:
    """Active banks that serve at least one of these pooling regions (the issue forms' choices)."""
    return (
        BankPartner.objects.filter(active=True, pooling_regions__in=pooling_region_ids)
        .distinct()
        .prefetch_related(Prefetch("pooling_regions", queryset=PoolingRegion.objects.order_by("code")))
        .order_by("code")
    )


def credential_state(credential: BankCredential, now: dt.datetime | None = None) -> str:
    """``live``, ``expiring`` (rotated, still valid until ``expires_at``), ``expired`` or ``revoked``."""
    now = now or timezone.now()
    if credential.revoked_at is not None:
        return "revoked"
    if credential.expires_at is not None:
        return "expiring" if credential.expires_at > now else "expired"
    return "live"


# --- batches and their result files -----------------------------------------------------------------------


def covered_region_ids(*, user) -> list[int]:
    return [region.pk for region in covered_pooling_regions(user=user)]


def batch_queryset(*, user, region_ids: list[int] | None = None) -> QuerySet[BankBatch]:
    ids = covered_region_ids(user=user) if region_ids is None else region_ids
    return BankBatch.objects.filter(pooling_region_id__in=ids).select_related("partner", "pooling_region", "issued_by")


def batch_get(*, user, pk) -> BankBatch:
    try:
        return batch_queryset(user=user).get(pk=pk)
    except (BankBatch.DoesNotExist, ValueError, TypeError):
        raise Http404 from None


# The list's shortcuts from the fund officer's worklist.
TODO_OPEN = "open"  # issued or being settled: the bank's answer is awaited or being posted
TODO_REJECTED = "rejected"  # the bank's file was refused and no good one has come yet
TODO_FAILURES = "failures"  # settled this year with failed lines


def _rejected_waiting() -> Q:
    rejected = ResultReceipt.objects.filter(batch=OuterRef("pk"), status=ReceiptStatus.REJECTED)
    return Q(status=BatchStatus.ISSUED) & Q(Exists(rejected))


def _todo_filter(todo: str, today: dt.date) -> Q | None:
    if todo == TODO_OPEN:
        return Q(status__in=[BatchStatus.ISSUED, BatchStatus.SETTLING])
    if todo == TODO_REJECTED:
        return _rejected_waiting()
    if todo == TODO_FAILURES:
        return Q(status=BatchStatus.SETTLED, failed_count__gt=0, issued_on__year=today.year)
    return None


def batch_list(
    *, user, region_ids: list[int] | None = None, pooling_region=None, kind: str = "", status: str = "", todo: str = ""
) -> QuerySet[BankBatch]:
    """The batches of the covered pooling regions, newest first, each with its result files (without their
    error lists, which the detail page shows): three queries for a page, whatever its length."""
    batches = batch_queryset(user=user, region_ids=region_ids)
    if pooling_region is not None:
        batches = batches.filter(pooling_region=pooling_region)
    if kind in BatchKind.values:
        batches = batches.filter(kind=kind)
    if status in BatchStatus.values:
        batches = batches.filter(status=status)
    todo_filter = _todo_filter(todo, timezone.localdate())
    if todo_filter is not None:
        batches = batches.filter(todo_filter)
    receipts = ResultReceipt.objects.defer("errors").order_by("-received_at", "-id")
    return batches.prefetch_related(Prefetch("receipts", queryset=receipts)).order_by("-issued_at", "-id")


def batch_receipts(*, batch: BankBatch) -> list[ResultReceipt]:
    return list(batch.receipts.select_related("credential").order_by("-received_at", "-id"))


@dataclass(frozen=True)
class OfficerWorklist:
    open: int
    rejected: int
    failures: int


def officer_worklist(*, user, region_ids: list[int] | None = None) -> OfficerWorklist:
    """For the fund officer's home page: one query for the three counts."""
    today = timezone.localdate()
    counts = batch_queryset(user=user, region_ids=region_ids).aggregate(
        open=Count("pk", filter=_todo_filter(TODO_OPEN, today)),
        rejected=Count("pk", filter=_todo_filter(TODO_REJECTED, today)),
        failures=Count("pk", filter=_todo_filter(TODO_FAILURES, today)),
    )
    return OfficerWorklist(open=counts["open"], rejected=counts["rejected"], failures=counts["failures"])


# --- lines to follow up ----------------------------------------------------------------------------------


def _results() -> QuerySet[ResultLine]:
    """The bank's answer to the outer line, from its batch's settled result file."""
    return ResultLine.objects.filter(
        receipt__batch_id=OuterRef("batch_id"), receipt__status=ReceiptStatus.SETTLED, seq=OuterRef("seq")
    )


def _with_outcome(lines: QuerySet[BankBatchLine], *, refunds: bool) -> QuerySet[BankBatchLine]:
    """Only the lines that failed (and, with ``refunds``, the success lines whose money must go back), each with
    the bank's code and message and the follow-up note; and whether the person's bank account has changed since
    the line was issued (so a re-issue would go to the corrected account)."""
    results = _results()
    wanted = ~Q(result_code=ResultCode.DONE)
    if refunds:
        wanted |= ~Q(follow_up="")
    corrected = ~Q(person__bank_account="") & (
        ~Q(person__bank_code=F("batch__partner__code")) | ~Q(person__bank_account=F("bank_account"))
    )
    return (
        lines.filter(Exists(results.filter(wanted)))
        .annotate(
            result_code=Subquery(results.values("result_code")[:1]),
            result_message=Subquery(results.values("result_message")[:1]),
            follow_up=Subquery(results.values("follow_up")[:1]),
            account_corrected=Case(
                When(corrected, then=Value(True)), default=Value(False), output_field=BooleanField()
            ),
        )
        .select_related("person", "batch__partner")
    )


def batch_follow_ups(*, user, batch: BankBatch) -> QuerySet[BankBatchLine]:
    """A settled batch's failures and refunds, by seq (empty until the batch is settled)."""
    lines = scoped(BankBatchLine.objects.filter(batch=batch), user)
    return _with_outcome(lines, refunds=True).order_by("seq")


def deduct_follow_ups(*, user, year: int, region_prefix: str = "") -> QuerySet[BankBatchLine]:
    """The DEDUCT failures and refunds of a year from settled batches, in the user's scope (and under
    ``region_prefix``, a village's code): the village agent's list to follow up. A line whose person was put in
    a later DEDUCT batch of the year is left out: that batch's outcome is the one that counts."""
    lines = scoped(
        BankBatchLine.objects.filter(
            batch__kind=BatchKind.DEDUCT, batch__period=str(year), batch__status=BatchStatus.SETTLED
        ),
        user,
    )
    if region_prefix:
        lines = lines.filter(region_code__startswith=region_prefix)
    later = BankBatchLine.objects.filter(
        person_id=OuterRef("person_id"),
        batch__kind=BatchKind.DEDUCT,
        batch__period=str(year),
        batch_id__gt=OuterRef("batch_id"),
    )
    lines = lines.filter(~Exists(later))
    return _with_outcome(lines, refunds=True).select_related("person__village").order_by("region_code", "person_id")


def payout_reissue_list(*, user, run_id: int) -> QuerySet[BankBatchLine]:
    """A payroll run's PAYOUT failures not yet issued again (no later batch of the run carries the award), each
    marked ``account_corrected`` when the person's account has changed: the next PAYOUT batch pays those."""
    lines = scoped(BankBatchLine.objects.filter(batch__kind=BatchKind.PAYOUT, batch__source_id=run_id), user)
    later = BankBatchLine.objects.filter(
        batch__kind=BatchKind.PAYOUT,
        batch__source_id=run_id,
        source_id=OuterRef("source_id"),
        batch_id__gt=OuterRef("batch_id"),
    )
    return _with_outcome(lines.filter(~Exists(later)), refunds=False).order_by("region_code", "person_id")
