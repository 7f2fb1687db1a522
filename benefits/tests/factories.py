"""Parameters, contributors and awards for benefits tests, made through the services where the workflow matters."""

import datetime as dt
from decimal import Decimal

from agencies.models import Role
from agencies.tests.factories import RegionLine, region_line
from benefits import payroll, services
from benefits.models import Award, AwardCategory, PayrollRun, PensionParameters
from contributions.models import Channel, Contribution, InterestRate
from enrollment.models import InsuredPerson
from enrollment.tests.factories import make_person
from funds.models import Component, EntryKind
from funds.services import Posting, account_open, ledger_post


def make_parameters(
    line: RegionLine,
    *,
    valid_from: dt.date = dt.date(2024, 1, 1),
    central_minimum: str = "123",
    local_top_up: str = "100",
    **values,
) -> PensionParameters:
    """The region's parameters from a month, entered by the city supervisor (recalculating any awards)."""
    row, _ = services.pension_parameters_set(
        actor=line.staff(Role.CITY_SUPERVISOR),
        pooling_region=line.pooling_region,
        valid_from=valid_from,
        values={"central_minimum": central_minimum, "local_top_up": local_top_up, **values},
    )
    return row


def pension_line(
    county: str = "320412",
    *,
    rates: dict[int, str] | None = None,
    scheme_started_on: dt.date = dt.date(2011, 7, 1),
    valid_from: dt.date = dt.date(2024, 1, 1),
    **parameters,
) -> RegionLine:
    """A pooling region with its local start, interest rates by year (1.5% for 2025 unless told) and parameters
    from ``valid_from`` (central minimum 123, local top-up 100 unless told)."""
    line = region_line(county=county)
    line.pooling_region.scheme_started_on = scheme_started_on
    line.pooling_region.save()
    for year, rate in (rates if rates is not None else {2025: "0.01500"}).items():
        InterestRate.objects.create(pooling_region=line.pooling_region, year=year, rate=Decimal(rate))
    make_parameters(line, valid_from=valid_from, **parameters)
    return line


def run_payroll(line: RegionLine, month: dt.date, *, confirm: bool = True) -> PayrollRun:
    """The month's payroll prepared (and confirmed) by the county fund officer."""
    officer = line.staff(Role.COUNTY_FUND_OFFICER)
    run = payroll.payroll_prepare(actor=officer, pooling_region=line.pooling_region, month=month)
    return payroll.payroll_confirm(actor=officer, run=run) if confirm else run


def make_contributor(
    line: RegionLine,
    *,
    birth_date: dt.date = dt.date(1965, 3, 10),
    years: int = 15,
    last_year: int = 2024,
    balance: Decimal = Decimal("13900.00"),
    booked_on: dt.date = dt.date(2024, 12, 31),
    name: str = "李四",
    components: dict[str, Decimal] | None = None,
    **fields,
) -> InsuredPerson:
    """An active person with ``years`` contribution years on record and ``balance`` in the account.

    The contribution rows only count the years; the balance is one personal posting on ``booked_on``, plus
    one posting per other component given in ``components`` (e.g. the government subsidy), on the same day.
    """
    person = make_person(line.village, name=name, birth_date=birth_date, **fields)
    clerk = line.staff(Role.COUNTY_CLERK)
    Contribution.objects.bulk_create(
        [
            Contribution(
                person=person,
                year=year,
                tier_amount=Decimal(500),
                personal_amount=Decimal(500),
                paid_on=dt.date(year, 3, 1),
                channel=Channel.COUNTER,
                bank_code="ICBC",
                bank_reference=f"T{person.pk}-{year}",
                region_code=person.region_code,
                recorded_by=clerk,
            )
            for year in range(last_year - years + 1, last_year + 1)
        ]
    )
    account = account_open(person=person, opened_on=dt.date(last_year - years + 1, 1, 1))
    if balance:
        ledger_post(
            account=account,
            postings=[Posting(Component.PERSONAL, EntryKind.CONTRIBUTION, balance)],
            booked_on=booked_on,
            reference=f"opening:{person.pk}",
            idempotency_key=f"test-opening:{person.pk}",
        )
    kinds = {
        Component.GOVERNMENT_SUBSIDY: EntryKind.SUBSIDY,
        Component.COLLECTIVE: EntryKind.COLLECTIVE,
        Component.DONATION: EntryKind.DONATION,
        Component.GOVERNMENT_PAID: EntryKind.GOVERNMENT_PAID,
    }
    if components:
        ledger_post(
            account=account,
            postings=[Posting(c, kinds[c], Decimal(a)) for c, a in components.items()],
            booked_on=booked_on,
            reference=f"opening:{person.pk}",
            idempotency_key=f"test-opening-components:{person.pk}",
        )
    return person


def make_award(
    line: RegionLine,
    person: InsuredPerson,
    *,
    claimed_on: dt.date,
    approved_on: dt.date | None = None,
    category: str = AwardCategory.MONTHLY_PENSION,
) -> Award:
    """Claim by the village agent, review by the township, approval by the county."""
    claim = services.claim_submit(
        actor=line.staff(Role.VILLAGE_AGENT), person=person, category=category, today=claimed_on
    )
    services.claim_accept(actor=line.staff(Role.TOWNSHIP_CLERK), claim=claim)
    return services.claim_approve(actor=line.staff(Role.COUNTY_APPROVER), claim=claim, today=approved_on or claimed_on)
