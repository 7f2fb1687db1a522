"""Reads of the benefits app, always through the scope.

Records of a place (claims, awards, lines, overpayments) are scoped by their region code. The parameters and
the payroll runs belong to a pooling region: parameters are seen by anyone whose jurisdiction touches the
region, a payroll run only by those whose jurisdiction holds the whole region (its lines are everyone's).
A transfer is seen by both sides: the sending place and the receiving one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.http import Http404

from agencies.models import PoolingRegion, Region
from agencies.money import ZERO
from agencies.scope import (
    EVERYWHERE,
    covered_pooling_regions,
    get_scoped_or_404,
    scope_prefix,
    scoped,
    visible_pooling_region_ids,
)
from benefits import calc
from benefits.models import (
    Arrear,
    ArrearStatus,
    Award,
    AwardCategory,
    AwardPeriod,
    AwardStatus,
    Claim,
    DeathListLoad,
    MonthlyConfirmation,
    Overpayment,
    OverpaymentStatus,
    PayrollLine,
    PayrollRun,
    PensionParameters,
    Transfer,
    YearsCredit,
)
from enrollment.models import InsuredPerson, PersonStatus


def _get_or_404(queryset: QuerySet, pk):
    try:
        return queryset.get(pk=pk)
    except (queryset.model.DoesNotExist, ValueError, TypeError):
        raise Http404 from None


# --- parameters and pooling regions ------------------------------------------------------------------------


def parameters_queryset(*, user) -> QuerySet[PensionParameters]:
    rows = PensionParameters.objects.select_related("pooling_region", "created_by")
    ids = visible_pooling_region_ids(user=user)
    return rows if ids is None else rows.filter(pooling_region_id__in=ids)


def parameters_get(*, user, pk) -> PensionParameters:
    return _get_or_404(parameters_queryset(user=user), pk)


# --- claims, awards ----------------------------------------------------------------------------------------


def claim_queryset(*, user) -> QuerySet[Claim]:
    return scoped(Claim.objects.select_related("person", "created_by"), user)


def claim_get(*, user, pk) -> Claim:
    return get_scoped_or_404(
        Claim.objects.select_related("person", "created_by", "reviewed_by", "decided_by"), user, pk=pk
    )


def award_queryset(*, user) -> QuerySet[Award]:
    return scoped(Award.objects.select_related("person", "pooling_region"), user)


def award_get(*, user, pk) -> Award:
    return get_scoped_or_404(
        Award.objects.select_related("person", "pooling_region", "claim", "approved_by"), user, pk=pk
    )


def live_periods(award: Award) -> QuerySet[AwardPeriod]:
    return award.periods.filter(replaced_by__isnull=True).select_related("parameters").order_by("valid_from")


def current_period(award: Award, month: dt.date) -> AwardPeriod | None:
    return live_periods(award).filter(valid_from__lte=month).order_by("-valid_from").first()


# --- who turns 60 ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Turning60:
    person: InsuredPerson
    eligibility: calc.Eligibility
    basic_pension: Decimal
    account_pension: Decimal

    @property
    def total(self) -> Decimal:
        return self.basic_pension + self.account_pension


def turning_60(*, user, month: dt.date, region: Region | None = None) -> list[Turning60]:
    """Active persons in scope (or in ``region``) who reach the pension age in ``month``, with whether they
    qualify and an estimate of what they would get (the account part from today's balance; the award itself
    adds the interest up to the start)."""
    from benefits.services import as_parameters, parameters_for  # the rules live there
    from enrollment.models import DualEnrollmentFlag

    month = calc.month_of(month)
    persons = scoped(InsuredPerson.objects.filter(status=PersonStatus.ACTIVE), user).select_related(
        "village", "account"
    )
    if region is not None:
        persons = persons.filter(region_code__startswith=region.scope_prefix)
    # Only the birth months that reach a pension age in ``month`` (60 unless a region says otherwise).
    ages = set(PensionParameters.objects.values_list("pension_age", flat=True).distinct()) or {60}
    window = Q()
    for age in ages:
        first, last = birth_window(month, age)
        window |= Q(birth_date__range=(first, last))
    persons = persons.filter(window)
    years = (
        _contribution_years()
        .filter(person=OuterRef("pk"))
        .values("person")
        .annotate(n=Count("year", distinct=True))
        .values("n")
    )
    credited = YearsCredit.objects.filter(person=OuterRef("pk")).values("person").annotate(n=Sum("years")).values("n")
    persons = persons.annotate(
        years_on_record=Coalesce(Subquery(years, output_field=IntegerField()), Value(0)),
        years_credited=Coalesce(Subquery(credited, output_field=IntegerField()), Value(0)),
    ).exclude(awards__status__in=[AwardStatus.ACTIVE, AwardStatus.SUSPENDED])
    rows: list[Turning60] = []
    parameters: dict[int, object] = {}
    persons = list(persons.order_by("region_code", "name"))
    # A few queries for the whole list, not a few per person: places' pooling regions, open dual enrolments.
    prefixes = sorted(
        (
            (region.scope_prefix, region.pooling_region_id)
            for region in Region.objects.filter(pooling_region__isnull=False).only("code", "level", "pooling_region")
        ),
        key=lambda item: -len(item[0]),
    )
    pooling_regions = PoolingRegion.objects.in_bulk({pool for _, pool in prefixes})
    dual = set(
        DualEnrollmentFlag.objects.filter(person__in=persons, resolved_at__isnull=True).values_list(
            "person_id", flat=True
        )
    )
    for person in persons:
        pool_id = next((pool for prefix, pool in prefixes if person.region_code.startswith(prefix)), None)
        pooling_region = pooling_regions.get(pool_id)
        if pooling_region is None:
            continue
        if pooling_region.pk not in parameters:
            try:
                parameters[pooling_region.pk] = as_parameters(parameters_for(pooling_region, month))
            except Exception:  # noqa: BLE001 — a region without parameters lists nobody, the page says why
                parameters[pooling_region.pk] = None
        params = parameters[pooling_region.pk]
        if params is None or calc.birthday_month(person.birth_date, params.pension_age) != month:
            continue
        category = (
            AwardCategory.BASIC_ONLY
            if calc.aged_at_start(
                birth_date=person.birth_date, scheme_started_on=pooling_region.scheme_started_on, params=params
            )
            else AwardCategory.MONTHLY_PENSION
        )
        result = calc.eligibility(
            category=category,
            birth_date=person.birth_date,
            claim_month=calc.add_months(month, -1),
            scheme_started_on=pooling_region.scheme_started_on,
            years_paid=person.years_on_record + person.years_credited,
            other_pension=person.pk in dual,
            params=params,
        )
        balance = getattr(getattr(person, "account", None), "balance", ZERO) or ZERO
        amounts = calc.monthly_amounts(
            params,
            category=category,
            years_paid=result.years_paid,
            birth_date=person.birth_date,
            month=result.eligible_from,
            account_part=calc.account_pension(balance, params.account_divisor),
        )
        rows.append(Turning60(person, result, amounts.basic_pension, amounts.account_pension))
    return rows


def _contribution_years():
    from contributions.models import Contribution  # the years paid are recorded by contributions

    return Contribution.objects.all()


def birth_window(month: dt.date, pension_age: int = 60) -> tuple[dt.date, dt.date]:
    """Birth dates of those reaching ``pension_age`` in ``month`` (for callers that filter in SQL)."""
    first = dt.date(month.year - pension_age, month.month, 1)
    return first, calc.add_months(first, 1) - dt.timedelta(days=1)


# --- eligibility checks ------------------------------------------------------------------------------------


def recipients_to_confirm(*, user, month: dt.date) -> QuerySet[Award]:
    """Awards in payment in ``month`` in scope not yet confirmed for it (the village agent's monthly list)."""
    month = calc.month_of(month)
    done = MonthlyConfirmation.objects.filter(month=month).values("award_id")
    return (
        award_queryset(user=user)
        .filter(status=AwardStatus.ACTIVE, start_month__lte=month)
        .exclude(pk__in=done)
        .order_by("region_code", "person__name")
    )


def stop_list(*, user, month: dt.date) -> QuerySet[MonthlyConfirmation]:
    """停止发放人员核定表: the month's stop reports in scope."""
    return scoped(
        MonthlyConfirmation.objects.filter(month=calc.month_of(month), alive=False).select_related(
            "award__person", "confirmed_by"
        ),
        user,
    ).order_by("award__region_code")


def death_list_loads(*, user) -> QuerySet[DeathListLoad]:
    return scoped(DeathListLoad.objects.select_related("loaded_by"), user)


def death_list_load_get(*, user, pk) -> DeathListLoad:
    return get_scoped_or_404(DeathListLoad.objects.all(), user, pk=pk)


# --- payroll -----------------------------------------------------------------------------------------------


def payroll_run_queryset(*, user) -> QuerySet[PayrollRun]:
    ids = [region.pk for region in covered_pooling_regions(user=user)]
    return PayrollRun.objects.filter(pooling_region_id__in=ids).select_related(
        "pooling_region", "prepared_by", "confirmed_by"
    )


def payroll_run_get(*, user, pk) -> PayrollRun:
    return _get_or_404(payroll_run_queryset(user=user), pk)


def payroll_lines(*, user, run: PayrollRun) -> QuerySet[PayrollLine]:
    return scoped(PayrollLine.objects.filter(run=run).select_related("person"), user).order_by("region_code", "id")


def payout_list(*, user, run: PayrollRun):
    """The run's payout list (one row per award, net amount), through the scope like every list."""
    from benefits.payroll import payout_lines

    return scoped(payout_lines(run), user)


def award_lines(*, user, award: Award) -> QuerySet[PayrollLine]:
    return scoped(PayrollLine.objects.filter(award=award).select_related("run"), user).order_by("-run__month", "id")


def arrears_pending(*, user) -> QuerySet[Arrear]:
    return scoped(
        Arrear.objects.filter(status=ArrearStatus.PENDING).select_related("award__person", "recalculation"), user
    ).order_by("award__region_code", "award_id", "month")


# --- overpayments, transfers -------------------------------------------------------------------------------


def overpayment_queryset(*, user, open_only: bool = False) -> QuerySet[Overpayment]:
    rows = scoped(Overpayment.objects.select_related("person", "award"), user)
    return rows.filter(status=OverpaymentStatus.OPEN) if open_only else rows


def overpayment_get(*, user, pk) -> Overpayment:
    return get_scoped_or_404(Overpayment.objects.select_related("person", "award"), user, pk=pk)


def transfer_queryset(*, user) -> QuerySet[Transfer]:
    """Both sides see a transfer: where the person is (sending, until booked) and where they are going."""
    prefix = scope_prefix(user)
    rows = Transfer.objects.select_related("person", "to_village")
    if prefix is None:
        return rows.none()
    if prefix == EVERYWHERE:
        return rows
    return rows.filter(
        Q(region_code__startswith=prefix)
        | Q(from_region_code__startswith=prefix)
        | Q(to_region_code__startswith=prefix)
    )


def transfer_get(*, user, pk) -> Transfer:
    return _get_or_404(transfer_queryset(user=user), pk)


def years_credits(*, user, person: InsuredPerson) -> QuerySet[YearsCredit]:
    return scoped(YearsCredit.objects.filter(person=person), user)
