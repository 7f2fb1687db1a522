"""Demo benefits for the demo city (``manage.py seed_demo``), written through the benefits services.

- Pension parameters (待遇计发参数) for every pooling region, entered by the city supervisor: the central
  minimum's history (70 from 2014-07, 88 from 2018-01, 93 from 2020-07, 98 from 2022-07, 103 from 2023-01,
  123 from 2024-01, 143 from 2025-01), a local top-up, 2 yuan a month per year paid beyond 15, additions at 65
  and 80, a funeral grant; 常州市本级 also pays an urban elderly allowance.
- The years of interest the accounts are due (every year with a rate before the reference year) settled for
  every pooling region, as the nightly job would: an award's account part is the balance after the interest
  up to its start, and that settlement needs the earlier years done. When the register has grown (new
  persons with contributions in past years), the years are settled again for the new accounts.
- On the demo line (武进区 → 奔牛镇 → the demo village), with the demo logins: recipients of each category
  claimed by the village agent (or, in a community, a township clerk), reviewed by a township clerk and
  approved by the county approver: monthly pensions (their years made up by years brought from the
  employees' scheme, or by deemed years of military service), basic-pension-only for those already 60 when
  the scheme began, and the urban elderly allowance. Then two monthly payrolls confirmed by the fund officer
  of 常州市本级, one claim waiting in each state (submitted, accepted, returned) and one person of the demo
  township turning 60 next month, with the years they need.

Dates are counted from the reference date (the seed's, not today), recipients are picked from the register
by a fixed order, so the same register gives the same benefits. Safe to run again: parameters and settled
years that exist are kept, and the claims, awards and payrolls are written once, in one transaction (when the
demo township has no claim yet), so a run killed half way leaves none of them behind.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction
from django.db.models import Q

from agencies.errors import DomainError
from agencies.models import PoolingRegion, User
from benefits import calc, payroll, services
from benefits.models import Award, AwardCategory, Claim, ClaimStatus, PayrollRun, PensionParameters, YearsCreditKind
from enrollment.models import DualEnrollmentFlag, InsuredPerson, PersonStatus

# (month, central minimum, note): DOMAIN.md's history of the national figure.
CENTRAL_MINIMUM = (
    (dt.date(2014, 7, 1), "70", "国发〔2014〕8号：城乡居民基本养老保险制度合并实施"),
    (dt.date(2018, 1, 1), "88", "中央基础养老金最低标准提高至每人每月88元"),
    (dt.date(2020, 7, 1), "93", "中央基础养老金最低标准提高至每人每月93元"),
    (dt.date(2022, 7, 1), "98", "中央基础养老金最低标准提高至每人每月98元"),
    (dt.date(2023, 1, 1), "103", "中央基础养老金最低标准提高至每人每月103元"),
    (dt.date(2024, 1, 1), "123", "中央基础养老金最低标准提高至每人每月123元"),
    (dt.date(2025, 1, 1), "143", "中央基础养老金最低标准提高至每人每月143元"),
)


@dataclass(frozen=True)
class LocalFigures:
    """What a pooling region adds to the central minimum, yuan a month (the funeral grant: once)."""

    local_top_up: str
    addition_at_65: str
    addition_at_80: str
    urban_elderly_allowance: str = "0"
    funeral_grant_fixed: str = "0"
    funeral_grant_months: str = "0"
    per_year_beyond_minimum: str = "2"


LOCAL = {
    "320400": LocalFigures("300", "10", "30", urban_elderly_allowance="150", funeral_grant_fixed="2000"),
    "320411": LocalFigures("280", "10", "30", funeral_grant_fixed="2000"),
    "320413": LocalFigures("260", "10", "20", funeral_grant_months="10"),
    "320481": LocalFigures("260", "10", "20", funeral_grant_fixed="1500"),
}
DEMO_POOLING = "320400"  # 常州市本级: 武进区 and the demo line belong to it

MONTHLY_RECIPIENTS = 5
BASIC_ONLY_RECIPIENTS = 3
URBAN_ELDERLY_RECIPIENTS = 2
RETURN_REASON = "待遇领取通知表未经本人签字，请补签后重新提交。"


@dataclass(frozen=True)
class DemoStaff:
    """The demo logins on the demo line, and the two above it who set parameters and run the payroll."""

    village_agent: User
    township_clerk: User
    township_clerk2: User
    county_approver: User
    city_supervisor: User
    fund_officer: User  # a fund officer whose jurisdiction holds all of 常州市本级


@dataclass
class BenefitsDemo:
    parameters: int = 0
    settled_years: int = 0
    awards: dict[str, int] = field(default_factory=dict)
    payrolls: list[str] = field(default_factory=list)
    open_claims: int = 0
    turning_60: str = ""
    written: bool = False


def seed_benefits(
    *,
    reference_date: dt.date,
    staff: DemoStaff,
    village_code: str,
    township_code: str,
    new_contributions: bool = False,
) -> BenefitsDemo:
    """``new_contributions``: the caller has just written contributions (for persons added to the register), so
    every past year is settled again for the accounts that have not had its interest yet."""
    report = BenefitsDemo()
    report.parameters = _ensure_parameters(staff.city_supervisor)
    report.settled_years = _settle_past_years(reference_date, again=new_contributions)
    township_prefix = township_code[:9]
    if not Claim.objects.filter(region_code__startswith=township_prefix).exists():
        with transaction.atomic():
            _write(
                report, reference_date=reference_date, staff=staff, village_code=village_code, prefix=township_prefix
            )
        report.written = True
    _summarise(report, township_prefix)
    turning = _turning_60_candidates(reference_date=reference_date, prefix=township_prefix)
    person = turning.filter(region_code=village_code).first() or turning.first()
    if person is not None:
        report.turning_60 = f"{person.name}（{person.birth_date:%Y年%m月%d日}生，{person.village.name}）"
    return report


# --- parameters and interest -------------------------------------------------------------------------------


def _ensure_parameters(supervisor: User) -> int:
    """Each region's rows oldest first (a row left out keeps the previous row's figures)."""
    written = 0
    for pooling_region in PoolingRegion.objects.filter(code__in=LOCAL).order_by("code"):
        local = LOCAL[pooling_region.code]
        have = set(PensionParameters.objects.filter(pooling_region=pooling_region).values_list("valid_from", flat=True))
        for valid_from, central, note in CENTRAL_MINIMUM:
            if valid_from in have:
                continue
            values = {
                "central_minimum": central,
                "local_top_up": local.local_top_up,
                "per_year_beyond_minimum": local.per_year_beyond_minimum,
                "addition_at_65": local.addition_at_65,
                "addition_at_80": local.addition_at_80,
                "urban_elderly_allowance": local.urban_elderly_allowance,
                "funeral_grant_fixed": local.funeral_grant_fixed,
                "funeral_grant_months": local.funeral_grant_months,
                "account_divisor": 139,
                "pension_age": 60,
                "minimum_years": 15,
            }
            services.pension_parameters_set(
                actor=supervisor, pooling_region=pooling_region, valid_from=valid_from, values=values, note=note
            )
            written += 1
    return written


def _settle_past_years(reference_date: dt.date, *, again: bool) -> int:
    """Every year with a rate before the reference year, oldest first, as the nightly job settles them.

    Years already settled are left alone, unless ``again``: a settlement run again posts the year's interest
    to the accounts that lack it (accounts opened since for entries of that year) and nothing twice.
    """
    from contributions.models import InterestRate  # the rates the demo contributions loader set
    from funds.settlement import settle_year, unsettled_earlier_years

    settled = 0
    for pooling_region in PoolingRegion.objects.order_by("code"):
        if again:
            rates = InterestRate.objects.filter(pooling_region=pooling_region, year__lt=reference_date.year)
            years = sorted(rates.values_list("year", flat=True))
        else:
            years = unsettled_earlier_years(pooling_region=pooling_region, year=reference_date.year)
        for year in years:
            settle_year(pooling_region=pooling_region, year=year)
            settled += 1
    return settled


# --- recipients, claims, payrolls --------------------------------------------------------------------------


def _candidates(prefix: str, **filters):
    """Active persons of the demo township with a bank account and no suspected second pension."""
    flagged = DualEnrollmentFlag.objects.filter(resolved_at__isnull=True).values("person_id")
    return (
        InsuredPerson.objects.filter(status=PersonStatus.ACTIVE, region_code__startswith=prefix, **filters)
        .exclude(bank_account="")
        .exclude(pk__in=flagged)
        .exclude(claims__isnull=False)
        .select_related("village")
    )


def _years_short(person: InsuredPerson, *, on: dt.date) -> int:
    result = services.claim_eligibility(person=person, category=AwardCategory.MONTHLY_PENSION, on=on)
    return max(0, result.years_required - result.years_paid)


def _make_up_years(person: InsuredPerson, *, n: int, staff: DemoStaff, on: dt.date, deemed: bool = False) -> bool:
    """Years brought from the employees' scheme (with its account), or deemed years of military service."""
    short = _years_short(person, on=on)
    if short >= 15:
        return False
    extra = n % 3  # some have more than the minimum: 长缴多得 shows
    years = min(14, short + extra)
    if years == 0:
        return True
    if deemed:
        services.years_credit_record(
            actor=staff.county_approver,
            person=person,
            kind=YearsCreditKind.DEEMED,
            years=years,
            reference=f"服现役{years}年，视同缴费年限（武进区人武部证明）",
        )
    else:
        services.transfer_from_employees(
            actor=staff.township_clerk,
            person=person,
            employee_years=years,
            amount=Decimal(1600 + 137 * (n % 5)) * years,
            reference=f"职保转入函{on:%Y}-{person.pk:05d}",
            today=on,
        )
    return True


def _claim(person, *, category: str, entered_by: User, reviewer: User, on: dt.date) -> Claim:
    claim = services.claim_submit(actor=entered_by, person=person, category=category, today=on)
    return services.claim_accept(actor=reviewer, claim=claim, note="材料齐全，同意上报。")


def _write(report: BenefitsDemo, *, reference_date: dt.date, staff: DemoStaff, village_code: str, prefix: str) -> None:
    this_month = calc.month_of(reference_date)
    first_payroll = calc.add_months(this_month, -2)
    approved_on = first_payroll - dt.timedelta(days=12)
    submitted_on = approved_on - dt.timedelta(days=17)
    transferred_on = submitted_on - dt.timedelta(days=18)
    pending_on = reference_date - dt.timedelta(days=4)
    pooling_region = PoolingRegion.objects.get(code=DEMO_POOLING)
    scheme_start = pooling_region.scheme_started_on or dt.date(2009, 7, 1)
    # Already 60 when the scheme began locally: the basic pension without contributing.
    aged_at_start = dt.date(scheme_start.year - 60, scheme_start.month, 1)
    # Eligible by the first payroll's month: 60 by the month before it; recently, so the youngest first.
    youngest = dt.date(first_payroll.year - 60, first_payroll.month, 1) - dt.timedelta(days=1)
    in_village = Q(region_code=village_code)

    monthly = list(
        _candidates(prefix, birth_date__range=(dt.date(youngest.year - 5, 1, 1), youngest))
        .filter(in_village)
        .order_by("-birth_date", "id_number")[: MONTHLY_RECIPIENTS + 6]
    )
    basic_only = list(
        _candidates(prefix, birth_date__lt=aged_at_start)
        .filter(in_village)
        .order_by("-birth_date", "id_number")[: BASIC_ONLY_RECIPIENTS + 2]
    )
    # Communities (codes below 200) of the township: the urban elderly allowance, entered at the township.
    urban = [
        p
        for p in _candidates(prefix, birth_date__range=(aged_at_start, dt.date(youngest.year - 10, 12, 31)))
        .exclude(in_village)
        .order_by("region_code", "-birth_date", "id_number")
        if p.region_code[9:] < "200"
    ][:URBAN_ELDERLY_RECIPIENTS]

    awarded: list[Claim] = []
    made = 0
    leftovers = []
    for n, person in enumerate(monthly):
        if made >= MONTHLY_RECIPIENTS:
            leftovers.append(person)
            continue
        if not _make_up_years(person, n=n, staff=staff, on=transferred_on, deemed=n == 2):
            continue
        awarded.append(
            _claim(
                person,
                category=AwardCategory.MONTHLY_PENSION,
                entered_by=staff.village_agent,
                reviewer=staff.township_clerk,
                on=submitted_on,
            )
        )
        made += 1
    for person in basic_only[:BASIC_ONLY_RECIPIENTS]:
        awarded.append(
            _claim(
                person,
                category=AwardCategory.BASIC_ONLY,
                entered_by=staff.village_agent,
                reviewer=staff.township_clerk,
                on=submitted_on,
            )
        )
    for person in urban:
        awarded.append(
            _claim(
                person,
                category=AwardCategory.URBAN_ELDERLY,
                entered_by=staff.township_clerk2,
                reviewer=staff.township_clerk,
                on=submitted_on,
            )
        )
    for claim in awarded:
        services.claim_approve(actor=staff.county_approver, claim=claim, today=approved_on)

    for month in (first_payroll, calc.add_months(first_payroll, 1)):
        run = payroll.payroll_prepare(actor=staff.fund_officer, pooling_region=pooling_region, month=month)
        payroll.payroll_confirm(actor=staff.fund_officer, run=run)

    # One claim waiting in each state, for the worklists of the village, the township and the county.
    waiting = []
    for person in leftovers:
        if len(waiting) == 2:
            break
        if _make_up_years(person, n=1, staff=staff, on=transferred_on):
            waiting.append(person)
    spare_basic = basic_only[BASIC_ONLY_RECIPIENTS:]
    if waiting:
        services.claim_submit(
            actor=staff.village_agent, person=waiting[0], category=AwardCategory.MONTHLY_PENSION, today=pending_on
        )
    if spare_basic:
        _claim(
            spare_basic[0],
            category=AwardCategory.BASIC_ONLY,
            entered_by=staff.village_agent,
            reviewer=staff.township_clerk,
            on=pending_on,
        )
    if len(waiting) > 1:
        claim = services.claim_submit(
            actor=staff.village_agent, person=waiting[1], category=AwardCategory.MONTHLY_PENSION, today=pending_on
        )
        services.claim_return(actor=staff.township_clerk, claim=claim, reason=RETURN_REASON)

    _turning_60(reference_date=reference_date, staff=staff, prefix=prefix, village_code=village_code)


def _turning_60_candidates(*, reference_date: dt.date, prefix: str):
    month = calc.add_months(calc.month_of(reference_date), 1)
    born_from = dt.date(month.year - 60, month.month, 1)
    born_to = calc.add_months(born_from, 1) - dt.timedelta(days=1)
    return _candidates(prefix, birth_date__range=(born_from, born_to)).order_by("id_number")


def _turning_60(*, reference_date: dt.date, staff: DemoStaff, prefix: str, village_code: str) -> None:
    """Someone of the township who reaches 60 next month, with the employees' scheme years they need."""
    candidates = _turning_60_candidates(reference_date=reference_date, prefix=prefix)
    person = candidates.filter(region_code=village_code).first() or candidates.first()
    if person is None:
        return
    with contextlib.suppress(DomainError):  # if refused, the list shows what is missing
        _make_up_years(person, n=0, staff=staff, on=reference_date - dt.timedelta(days=10))


def _summarise(report: BenefitsDemo, prefix: str) -> None:
    pooling_region = PoolingRegion.objects.filter(code=DEMO_POOLING).first()
    awards = Award.objects.filter(region_code__startswith=prefix)
    for category in AwardCategory:
        count = awards.filter(category=category).count()
        if count:
            report.awards[str(category.label)] = count
    report.payrolls = [
        f"{run.month:%Y-%m}"
        for run in PayrollRun.objects.filter(pooling_region=pooling_region, status="confirmed").order_by("month")
    ]
    report.open_claims = Claim.objects.filter(
        region_code__startswith=prefix,
        status__in=[ClaimStatus.SUBMITTED, ClaimStatus.ACCEPTED, ClaimStatus.RETURNED],
    ).count()
