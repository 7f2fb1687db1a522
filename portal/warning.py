"""基金预警: how many months of payouts a pooling region's fund can pay, where it is heading over the next years,
and a warning when either falls below the threshold its supervisor sets.

The fund's balance available for payouts is what its expenditure account and fiscal special account hold, both
funds together (the individual-account fund and the basic-pension money: the payroll is paid from both, and the
income account is swept to the fiscal special account every month). The monthly payout is the average total of
the last three confirmed payroll months. Months covered = balance ÷ monthly payout, cut to one place (rounded
down: a warning should not be rounded away).

The projection is a plain cash-flow roll-forward, with these assumptions (the page states them too):

- The balance now opens the first projected year (next calendar year); the rest of this year is left out.
- Income each year is held flat at what the fund received over the last twelve months, read from the same
  books as the balance: personal contributions banked into the income account (deductions and counter
  payments), and government money from finance into the fiscal special account (contribution subsidies,
  government-paid 代缴 and the basic-pension money), both funds. (Summing the register's contributions instead
  reads every contribution row of the region, half a second a region at a million persons; the books hold the
  same money once it has arrived.)
- Each recipient is paid the current average (monthly payout ÷ recipients of the latest payroll) every month.
- Each year a fixed share of the recipients (``AWARD_END_RATE``) stops being paid (deaths, mostly), on average
  at mid-year; the count is rounded to whole persons.
- Active contributors not yet receiving who turn the pension age (60) in a year and will have the minimum years
  (15) by then, counting their years paid before this year and one for each year from this one until they turn
  60, start receiving the average at mid-year (six months in that year, twelve after). Deemed years and those
  turning 60 during the rest of this year are left out.
- Interest at the region's latest bookkeeping rate (``InterestRate``) on each year's opening balance when it is
  positive. Amounts are rounded to the fen (``agencies.money``).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation

from django.db import transaction
from django.db.models import Count, Exists, F, IntegerField, OuterRef, Q, Subquery, Sum, Window
from django.db.models.functions import Coalesce, ExtractYear, RowNumber
from django.http import Http404
from django.utils import timezone

from agencies.errors import DomainError, NotPermitted
from agencies.models import PoolingRegion, Region, Role
from agencies.money import ZERO, money_total, round_fen
from agencies.permissions import Action, can, require
from agencies.scope import covered_pooling_regions, covers_pooling_region
from benefits.models import Award, PayrollRun, PayrollStatus, PensionParameters
from contributions.models import Contribution, InterestRate
from contributions.policy import add_years
from enrollment.models import InsuredPerson, PersonStatus
from funds.fund_accounts import FINANCE
from funds.models import Fund, FundAccountKind, FundMovement, MovementKind
from portal.models import FundWarning, RetirementCohort

audit = logging.getLogger("portal.audit")

PAYOUT_MONTHS = 3  # the average monthly payout is of the last three confirmed payroll months
AWARD_END_RATE = Decimal("0.04")  # the share of recipients whose payment ends each year
DEFAULT_YEARS = 5
PENSION_AGE, MINIMUM_YEARS = 60, 15  # when the region has no pension parameters yet
MONTHS_PLACES = Decimal("0.1")
MAX_THRESHOLD = Decimal("120")
READERS = frozenset({Role.CITY_SUPERVISOR, Role.COUNTY_FUND_OFFICER})


def may_read(user) -> bool:
    """The fund's officer and the city supervisor read the warnings (of the pooling regions their scope covers)."""
    return bool(
        user is not None and user.is_authenticated and (user.role in READERS or can(user, Action.SET_FUND_WARNING))
    )


def _open(regions: list[PoolingRegion], today: dt.date) -> list[PoolingRegion]:
    """Pooling regions still doing business (one merged into another has no fund of its own left)."""
    return [r for r in regions if r.closed_on is None or r.closed_on > today]


def regions_of(*, user, today: dt.date | None = None) -> list[PoolingRegion]:
    """The open pooling regions whose every place lies in the user's scope, in code order."""
    return _open(covered_pooling_regions(user=user), today or timezone.localdate())


def pooling_region_get(*, user, pk) -> PoolingRegion:
    """A pooling region the user's scope covers wholly; any other answers 404."""
    try:
        region = PoolingRegion.objects.get(pk=int(pk))
    except (PoolingRegion.DoesNotExist, TypeError, ValueError):
        raise Http404 from None
    if not covers_pooling_region(user, region):
        raise Http404
    return region


def _places(pooling_region: PoolingRegion, field: str = "region_code") -> Q:
    """The records of the pooling region's places: under the prefix of each region assigned to it, but not under
    a place within one that an adjustment assigned to another pooling region."""
    assigned = [
        (region.scope_prefix, region.pooling_region_id)
        for region in Region.objects.filter(pooling_region__isnull=False).only("code", "level", "pooling_region_id")
    ]
    own = [prefix for prefix, owner in assigned if owner == pooling_region.pk]
    if not own:
        return Q(pk__in=[])
    place = Q()
    for prefix in own:
        place |= Q(**{f"{field}__startswith": prefix})
    for prefix, owner in assigned:
        if owner != pooling_region.pk and any(prefix.startswith(o) and len(prefix) > len(o) for o in own):
            place &= ~Q(**{f"{field}__startswith": prefix})
    return place


# --- months covered ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PayoutMonth:
    month: dt.date
    total: Decimal
    recipients: int


@dataclass(frozen=True)
class FundPosition:
    pooling_region: PoolingRegion
    on: dt.date
    expenditure: Decimal  # both funds
    fiscal: Decimal
    individual_account: Decimal  # of the two accounts, by fund
    basic_pension: Decimal
    payouts: list[PayoutMonth]  # the last confirmed payroll months, newest first

    @property
    def balance(self) -> Decimal:
        return self.expenditure + self.fiscal

    @property
    def monthly_payout(self) -> Decimal | None:
        if not self.payouts:
            return None
        return round_fen(sum((p.total for p in self.payouts), ZERO) / len(self.payouts))

    @property
    def recipients(self) -> int:
        return self.payouts[0].recipients if self.payouts else 0

    @property
    def months_covered(self) -> Decimal | None:
        payout = self.monthly_payout
        if payout is None or payout <= 0:
            return None
        return (self.balance / payout).quantize(MONTHS_PLACES, rounding=ROUND_DOWN)


def fund_positions(*, regions: list[PoolingRegion], on: dt.date | None = None) -> dict[int, FundPosition]:
    """Each region's position (by id) in two queries however many regions: the expenditure and fiscal balances by
    fund as of the end of ``on`` (today), and the last confirmed payroll months. The caller has read the regions
    through the scope (``regions_of``, ``pooling_region_get``)."""
    on = on or timezone.localdate()
    ids = [region.pk for region in regions]
    sums = {
        (region_id, kind, fund): money_total(total)
        for region_id, kind, fund, total in FundMovement.objects.filter(
            account__pooling_region__in=ids,
            account__kind__in=[FundAccountKind.EXPENDITURE, FundAccountKind.FISCAL],
            booked_on__lte=on,
        )
        .values("account__pooling_region", "account__kind", "fund")
        .annotate(total=Sum("amount"))
        .order_by()
        .values_list("account__pooling_region", "account__kind", "fund", "total")
    }
    latest = Window(RowNumber(), partition_by=[F("pooling_region")], order_by=F("month").desc())
    runs: dict[int, list[PayoutMonth]] = {region_id: [] for region_id in ids}
    for run in (
        PayrollRun.objects.filter(pooling_region__in=ids, status=PayrollStatus.CONFIRMED, month__lte=on)
        .annotate(latest=latest)
        .filter(latest__lte=PAYOUT_MONTHS)
        .order_by("pooling_region", "-month")
        .only("pooling_region", "month", "total", "lines_count")
    ):
        runs[run.pooling_region_id].append(PayoutMonth(run.month, run.total, run.lines_count))

    def part(region_id: int, kind: str | None = None, fund: str | None = None) -> Decimal:
        return sum(
            (
                amount
                for (rid, k, f), amount in sums.items()
                if rid == region_id and kind in (None, k) and fund in (None, f)
            ),
            ZERO,
        )

    return {
        region.pk: FundPosition(
            pooling_region=region,
            on=on,
            expenditure=part(region.pk, kind=FundAccountKind.EXPENDITURE),
            fiscal=part(region.pk, kind=FundAccountKind.FISCAL),
            individual_account=part(region.pk, fund=Fund.INDIVIDUAL_ACCOUNT),
            basic_pension=part(region.pk, fund=Fund.BASIC_PENSION),
            payouts=runs[region.pk],
        )
        for region in regions
    }


def fund_position(*, pooling_region: PoolingRegion, on: dt.date | None = None) -> FundPosition:
    """The balance available for payouts as of the end of ``on`` (today) and the last confirmed payroll months."""
    return fund_positions(regions=[pooling_region], on=on)[pooling_region.pk]


def months_covered(*, pooling_region: PoolingRegion, on: dt.date | None = None) -> Decimal | None:
    """可支付月数: None when the region has no confirmed payroll yet."""
    return fund_position(pooling_region=pooling_region, on=on).months_covered


# --- the projection ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProjectionBasis:
    """What the projection starts from, each figure as the page shows it."""

    pooling_region: PoolingRegion
    on: dt.date
    balance: Decimal
    monthly_payout: Decimal | None
    recipients: int
    contributions: Decimal  # personal contributions banked in the last twelve months
    government: Decimal  # finance's money (subsidies, 代缴, basic pension) of the last twelve months
    interest_rate: Decimal
    interest_year: int | None
    end_rate: Decimal
    pension_age: int
    minimum_years: int
    new_recipients: dict[int, int]  # calendar year → persons starting to receive

    @property
    def first_year(self) -> int:
        return self.on.year + 1

    @property
    def income(self) -> Decimal:
        return self.contributions + self.government

    @property
    def interest_rate_text(self) -> str:
        return f"{self.interest_rate * 100:.2f}%"

    @property
    def per_recipient(self) -> Decimal | None:
        if self.monthly_payout is None or not self.recipients:
            return None
        return self.monthly_payout / self.recipients


@dataclass(frozen=True)
class YearProjection:
    year: int
    opening: Decimal
    income: Decimal
    interest: Decimal
    payout: Decimal
    closing: Decimal
    recipients_start: int
    ending: int
    new_recipients: int
    months_covered: Decimal | None  # the closing balance in months of that year's payout

    @property
    def recipients_end(self) -> int:
        return self.recipients_start - self.ending + self.new_recipients


def _incomes(ids: list[int], on: dt.date) -> dict[int, tuple[Decimal, Decimal]]:
    """Per region (by id), (personal contributions banked, finance's money received) over the twelve months to
    ``on``, both funds: one query grouped by region and account however many regions."""
    banked = Q(account__kind=FundAccountKind.INCOME, kind__in=[MovementKind.DEDUCTION, MovementKind.COUNTER])
    from_finance = Q(account__kind=FundAccountKind.FISCAL, kind=MovementKind.TRANSFER_IN, counterpart=FINANCE)
    sums: dict[tuple[int, str], Decimal] = {
        (region_id, kind): total
        for region_id, kind, total in FundMovement.objects.filter(
            banked | from_finance,
            account__pooling_region__in=ids,
            booked_on__gt=add_years(on, -1),
            booked_on__lte=on,
        )
        .values("account__pooling_region", "account__kind")
        .annotate(total=Sum("amount"))
        .order_by()
        .values_list("account__pooling_region", "account__kind", "total")
    }
    return {
        region_id: (
            money_total(sums.get((region_id, FundAccountKind.INCOME))),
            money_total(sums.get((region_id, FundAccountKind.FISCAL))),
        )
        for region_id in ids
    }


def _interest_rates(ids: list[int]) -> dict[int, InterestRate]:
    """Each region's latest bookkeeping rate (by region id; none for a region without one), in one query."""
    latest = Window(RowNumber(), partition_by=[F("pooling_region")], order_by=F("year").desc())
    return {
        rate.pooling_region_id: rate
        for rate in InterestRate.objects.filter(pooling_region__in=ids).annotate(latest=latest).filter(latest=1)
    }


def _rules(ids: list[int], today: dt.date) -> dict[int, tuple[int, int]]:
    """Each region's (pension age, minimum years) in force on ``today``, the defaults where it has no pension
    parameters yet, in one query."""
    latest = Window(RowNumber(), partition_by=[F("pooling_region")], order_by=F("valid_from").desc())
    found = {
        region_id: (age, years)
        for region_id, age, years in PensionParameters.objects.filter(pooling_region__in=ids, valid_from__lte=today)
        .annotate(latest=latest)
        .filter(latest=1)
        .values_list("pooling_region", "pension_age", "minimum_years")
    }
    return {region_id: found.get(region_id, (PENSION_AGE, MINIMUM_YEARS)) for region_id in ids}


def _stored_cohorts(rules: dict[int, tuple[int, int]], *, this_year: int, years: int) -> dict[int, dict[int, int]]:
    """The nightly counts (``cohorts_refresh``) of the regions whose counts cover every year asked under the rules
    in force, in one query; a region missing a year is left out (the caller counts it live)."""
    rows: dict[int, dict[int, int]] = {region_id: {} for region_id in rules}
    for region_id, age, minimum, year, persons in RetirementCohort.objects.filter(
        pooling_region__in=list(rules),
        counted_in=this_year,
        year__gt=this_year,
        year__lte=this_year + years,
    ).values_list("pooling_region", "pension_age", "minimum_years", "year", "persons"):
        if rules[region_id] == (age, minimum):
            rows[region_id][year] = persons
    return {
        region_id: {year: persons for year, persons in stored.items() if persons}
        for region_id, stored in rows.items()
        if len(stored) == years
    }


def cohorts_refresh(*, today: dt.date | None = None, years: int = DEFAULT_YEARS) -> int:
    """The nightly count of each pooling region's coming retirements (a zero is stored too, so a stored year is
    told from one never counted). Each region is replaced in one transaction; a rerun gives the same rows."""
    today = today or timezone.localdate()
    written = 0
    regions = list(PoolingRegion.objects.filter(regions__isnull=False).distinct().order_by("code"))
    rules = _rules([region.pk for region in regions], today)
    for pooling_region in regions:
        pension_age, minimum_years = rules[pooling_region.pk]
        counts = _count_new_recipients(
            pooling_region, this_year=today.year, years=years, pension_age=pension_age, minimum_years=minimum_years
        )
        rows = [
            RetirementCohort(
                pooling_region=pooling_region,
                counted_in=today.year,
                pension_age=pension_age,
                minimum_years=minimum_years,
                year=year,
                persons=counts.get(year, 0),
            )
            for year in range(today.year + 1, today.year + years + 1)
        ]
        with transaction.atomic():
            RetirementCohort.objects.filter(pooling_region=pooling_region, counted_in=today.year).delete()
            RetirementCohort.objects.bulk_create(rows)
        written += len(rows)
    return written


def _count_new_recipients(
    pooling_region: PoolingRegion, *, this_year: int, years: int, pension_age: int, minimum_years: int
) -> dict[int, int]:
    """Per coming year, the active contributors not yet receiving who turn ``pension_age`` in it with at least
    ``minimum_years`` by then (their years paid before this year, and one for each year from this one on)."""
    first_birth, last_birth = this_year + 1 - pension_age, this_year + years - pension_age
    paid_before = (
        Contribution.objects.filter(person=OuterRef("pk"), year__lt=this_year)
        .order_by()
        .values("person")
        .annotate(n=Count("id"))
        .values("n")
    )
    rows = (
        InsuredPerson.objects.filter(
            _places(pooling_region),
            status=PersonStatus.ACTIVE,
            birth_date__gte=dt.date(first_birth, 1, 1),
            birth_date__lte=dt.date(last_birth, 12, 31),
        )
        .exclude(Exists(Award.objects.filter(person=OuterRef("pk"))))
        .annotate(born=ExtractYear("birth_date"), paid=Coalesce(Subquery(paid_before, output_field=IntegerField()), 0))
        .values("born", "paid")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts: dict[int, int] = {}
    for row in rows:
        year = row["born"] + pension_age
        if row["paid"] + (year - this_year) >= minimum_years:
            counts[year] = counts.get(year, 0) + row["n"]
    return counts


def projection_bases(
    *,
    regions: list[PoolingRegion],
    years: int = DEFAULT_YEARS,
    today: dt.date | None = None,
    positions: dict[int, FundPosition] | None = None,
) -> dict[int, ProjectionBasis]:
    """Each region's basis (by id) in a constant number of queries however many regions (income, interest rates,
    pension parameters and stored cohorts each read once for all), but for a region whose cohorts were not
    counted last night, counted now from the register. The caller has read the regions through the scope."""
    today = today or timezone.localdate()
    if not regions:
        return {}
    ids = [region.pk for region in regions]
    positions = positions if positions is not None else fund_positions(regions=regions, on=today)
    incomes = _incomes(ids, today)
    rates = _interest_rates(ids)
    rules = _rules(ids, today)
    stored = _stored_cohorts(rules, this_year=today.year, years=years)
    bases = {}
    for region in regions:
        position, interest = positions[region.pk], rates.get(region.pk)
        contributions, government = incomes[region.pk]
        pension_age, minimum_years = rules[region.pk]
        cohorts = stored.get(region.pk)
        if cohorts is None:
            cohorts = _count_new_recipients(
                region, this_year=today.year, years=years, pension_age=pension_age, minimum_years=minimum_years
            )
        bases[region.pk] = ProjectionBasis(
            pooling_region=region,
            on=today,
            balance=position.balance,
            monthly_payout=position.monthly_payout,
            recipients=position.recipients,
            contributions=contributions,
            government=government,
            interest_rate=interest.rate if interest is not None else Decimal(0),
            interest_year=interest.year if interest is not None else None,
            end_rate=AWARD_END_RATE,
            pension_age=pension_age,
            minimum_years=minimum_years,
            new_recipients=cohorts,
        )
    return bases


def projection_basis(
    *,
    pooling_region: PoolingRegion,
    years: int = DEFAULT_YEARS,
    today: dt.date | None = None,
    position: FundPosition | None = None,
) -> ProjectionBasis:
    today = today or timezone.localdate()
    position = position or fund_position(pooling_region=pooling_region, on=today)
    return projection_bases(
        regions=[pooling_region], years=years, today=today, positions={pooling_region.pk: position}
    )[pooling_region.pk]


def project(basis: ProjectionBasis, years: int = DEFAULT_YEARS) -> list[YearProjection]:
    """The roll-forward of ``basis`` over ``years`` calendar years (none without a confirmed payroll)."""
    per_recipient = basis.per_recipient
    if per_recipient is None:
        return []
    rows = []
    opening, starting = basis.balance, basis.recipients
    for year in range(basis.first_year, basis.first_year + years):
        ending = int((starting * basis.end_rate).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        new = basis.new_recipients.get(year, 0)
        payout = round_fen(per_recipient * (12 * starting - 6 * ending + 6 * new))
        interest = round_fen(opening * basis.interest_rate) if opening > 0 else ZERO
        closing = opening + basis.income + interest - payout
        months = (closing * 12 / payout).quantize(MONTHS_PLACES, rounding=ROUND_DOWN) if payout > 0 else None
        rows.append(
            YearProjection(
                year=year,
                opening=opening,
                income=basis.income,
                interest=interest,
                payout=payout,
                closing=closing,
                recipients_start=starting,
                ending=ending,
                new_recipients=new,
                months_covered=months,
            )
        )
        opening, starting = closing, starting - ending + new
    return rows


def projection(
    *, pooling_region: PoolingRegion, years: int = DEFAULT_YEARS, today: dt.date | None = None
) -> list[YearProjection]:
    """The fund's balance over the next ``years`` calendar years (see the module's assumptions)."""
    return project(projection_basis(pooling_region=pooling_region, years=years, today=today), years)


# --- thresholds and warnings ---------------------------------------------------------------------------------


def _threshold(raw) -> Decimal:
    if isinstance(raw, float):
        raise TypeError("thresholds are typed text or Decimal, never float")
    text = str(raw if raw is not None else "").strip()
    if not text:
        raise DomainError("请填写预警线（可支付月数）。", code="required", field="threshold_months")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise DomainError("预警线请填写月数，例如 6 或 4.5。", code="invalid", field="threshold_months") from None
    if not value.is_finite() or value != value.quantize(MONTHS_PLACES):
        raise DomainError("预警线最多保留一位小数。", code="invalid", field="threshold_months")
    if value <= 0 or value > MAX_THRESHOLD:
        raise DomainError(f"预警线应大于0、不超过{MAX_THRESHOLD}个月。", code="invalid", field="threshold_months")
    return value.quantize(MONTHS_PLACES)


def fund_warning_set(*, actor, pooling_region: PoolingRegion, threshold_months) -> FundWarning:
    """The months of payouts below which the region's fund is flagged. Setting it again replaces it."""
    require(actor, Action.SET_FUND_WARNING)
    if not covers_pooling_region(actor, pooling_region):
        raise NotPermitted(
            f"{pooling_region.name}不全在您的管辖范围内，不能设置其基金预警线。", code="not_whole_region"
        )
    value = _threshold(threshold_months)
    with transaction.atomic():
        warning, _ = FundWarning.objects.update_or_create(
            pooling_region=pooling_region, defaults={"threshold_months": value, "set_by": actor}
        )
    audit.info("fund warning set: user=%s pooling_region=%s threshold=%s", actor.pk, pooling_region.code, value)
    return warning


@dataclass(frozen=True)
class Outlook:
    """A pooling region's position, projection and threshold, as the fund warning page shows them."""

    position: FundPosition
    basis: ProjectionBasis
    years: list[YearProjection]
    threshold: Decimal | None

    @property
    def pooling_region(self) -> PoolingRegion:
        return self.position.pooling_region

    @property
    def below_now(self) -> bool:
        months = self.position.months_covered
        return self.threshold is not None and months is not None and months < self.threshold

    @property
    def years_below(self) -> list[YearProjection]:
        if self.threshold is None:
            return []
        return [y for y in self.years if y.months_covered is not None and y.months_covered < self.threshold]

    @property
    def lowest_months(self) -> Decimal | None:
        """The fewest months covered at a projected year's end."""
        values = [y.months_covered for y in self.years if y.months_covered is not None]
        return min(values) if values else None

    @property
    def warned(self) -> bool:
        return self.below_now or bool(self.years_below)

    @property
    def message(self) -> str:
        name, threshold = self.pooling_region.name, self.threshold
        parts = []
        if self.below_now:
            parts.append(f"基金结余仅可支付{self.position.months_covered}个月，低于预警线{threshold}个月")
        if self.years_below:
            first = self.years_below[0]
            parts.append(f"预计{first.year}年末可支付{first.months_covered}个月，低于预警线{threshold}个月")
        return f"{name}：{'；'.join(parts)}。" if parts else ""


def outlook(
    *,
    pooling_region: PoolingRegion,
    years: int = DEFAULT_YEARS,
    today: dt.date | None = None,
    position: FundPosition | None = None,
) -> Outlook:
    today = today or timezone.localdate()
    position = position or fund_position(pooling_region=pooling_region, on=today)
    basis = projection_basis(pooling_region=pooling_region, years=years, today=today, position=position)
    threshold = FundWarning.objects.filter(pooling_region=pooling_region).values_list("threshold_months", flat=True)
    return Outlook(position=position, basis=basis, years=project(basis, years), threshold=threshold.first())


@dataclass(frozen=True)
class OverviewRow:
    """A pooling region on the overview: its position and threshold; projected only where a threshold is set
    (or the page asks), since the projection reads the register's cohorts about to reach the pension age."""

    position: FundPosition
    threshold: Decimal | None
    outlook: Outlook | None

    @property
    def pooling_region(self) -> PoolingRegion:
        return self.position.pooling_region

    @property
    def warned(self) -> bool:
        return self.outlook is not None and self.outlook.warned


def overview(*, user, today: dt.date | None = None, project_also: PoolingRegion | None = None) -> list[OverviewRow]:
    """The open pooling regions the user's scope covers wholly, in code order, with ``project_also`` (a region the
    caller has read through the scope, e.g. a merged one asked for by id) when not among them."""
    today = today or timezone.localdate()
    regions = regions_of(user=user, today=today)
    if project_also is not None and project_also not in regions:
        regions.append(project_also)
    positions = fund_positions(regions=regions, on=today)
    thresholds = dict(
        FundWarning.objects.filter(pooling_region__in=[r.pk for r in regions]).values_list(
            "pooling_region", "threshold_months"
        )
    )
    # The projection of every region with a threshold is read in one pass (a constant number of queries).
    projected = [region for region in regions if region.pk in thresholds or region == project_also]
    bases = projection_bases(regions=projected, today=today, positions=positions)
    rows = []
    for region in regions:
        view = None
        if region.pk in bases:
            basis = bases[region.pk]
            view = Outlook(
                position=positions[region.pk],
                basis=basis,
                years=project(basis, DEFAULT_YEARS),
                threshold=thresholds.get(region.pk),
            )
        rows.append(OverviewRow(position=positions[region.pk], threshold=thresholds.get(region.pk), outlook=view))
    return rows


def warnings(*, user, today: dt.date | None = None) -> list[Outlook]:
    """The pooling regions the user's scope covers whose months covered, now or in a projected year, fall below
    the threshold set for them (regions without a threshold are never flagged). Empty for roles that do not
    read the fund warnings, so any page may call it."""
    if not may_read(user):
        return []
    return [row.outlook for row in overview(user=user, today=today) if row.warned]


__all__ = [
    "AWARD_END_RATE",
    "FundPosition",
    "Outlook",
    "ProjectionBasis",
    "YearProjection",
    "OverviewRow",
    "fund_position",
    "fund_positions",
    "fund_warning_set",
    "months_covered",
    "outlook",
    "overview",
    "pooling_region_get",
    "project",
    "projection",
    "projection_basis",
    "projection_bases",
    "regions_of",
    "warnings",
]
