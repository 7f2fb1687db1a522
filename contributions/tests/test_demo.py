"""The demo loader: policies with a change of tiers, rates, and contributions whose ledger matches the balances."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db.models import Sum

from agencies.models import Role
from contributions import selectors, services
from contributions.demo import seed_contributions
from contributions.models import Contribution, ContributionPolicy, InterestRate, TierChoice
from enrollment.models import PersonStatus
from enrollment.tests.factories import make_person
from funds.models import IndividualAccount, LedgerEntry

pytestmark = pytest.mark.django_db

REFERENCE = dt.date(2026, 11, 1)


@pytest.fixture
def register(line):
    persons = [
        make_person(line.village, name=f"人{n}", birth_date=dt.date(1960 + n, 3, 1), enrolled_on=dt.date(2015, 5, 1))
        for n in range(40)
    ]
    make_person(line.village, name="待审", status=PersonStatus.PENDING)
    return persons


def test_demo_policies_rates_and_contributions(line, register):
    written = seed_contributions(reference_date=REFERENCE)
    assert written > 100
    pooling_region = line.pooling_region
    periods = list(ContributionPolicy.objects.filter(pooling_region=pooling_region).order_by("valid_from"))
    assert [(p.valid_from, p.valid_to) for p in periods] == [
        (dt.date(2012, 1, 1), dt.date(2017, 12, 31)),
        (dt.date(2018, 1, 1), None),
    ]
    assert min(selectors.tier_table(periods[0])) == 100 and min(selectors.tier_table(periods[1])) == 200
    assert selectors.tier_table(periods[1])[Decimal(500)] >= 60
    rates = dict(InterestRate.objects.filter(pooling_region=pooling_region).values_list("year", "rate"))
    assert (rates[2012], rates[2015], rates[2016], rates[2026]) == (
        Decimal("0.035"),
        Decimal("0.0275"),
        Decimal("0.015"),
        Decimal("0.015"),
    )
    # every account's cached balances equal its ledger, and every contribution has its tier choice
    for account in IndividualAccount.objects.all():
        assert account.balance == account.entries.aggregate(s=Sum("amount"))["s"]
        personal = account.entries.filter(component="personal").aggregate(s=Sum("amount"))["s"] or 0
        assert account.balance_personal == personal
    contributions = Contribution.objects.all()
    assert contributions.filter(year__lt=2021).count() == 0
    for contribution in contributions:
        assert contribution.tier_amount == contribution.personal_amount + contribution.government_paid
        assert (
            contribution.subsidy_province + contribution.subsidy_city + contribution.subsidy_county
            == contribution.government_subsidy
        )
    assert TierChoice.objects.filter(year__in=contributions.values("year")).count() >= contributions.count()
    assert LedgerEntry.objects.filter(reference__startswith="contribution:").count() >= contributions.count()


def test_demo_is_safe_to_run_again_and_fits_the_services(line, register):
    seed_contributions(reference_date=REFERENCE)
    counts = (Contribution.objects.count(), LedgerEntry.objects.count(), TierChoice.objects.count())
    assert seed_contributions(reference_date=REFERENCE) == 0
    assert (Contribution.objects.count(), LedgerEntry.objects.count(), TierChoice.objects.count()) == counts
    # a contribution loaded by the demo is the one a retry of its bank reference finds
    loaded = Contribution.objects.select_related("person__village").first()
    again = services.contribution_post(
        actor=line.staff(Role.COUNTY_FUND_OFFICER) if loaded.channel == "bank_file" else line.staff(Role.COUNTY_CLERK),
        person=loaded.person,
        year=loaded.year,
        amount=loaded.personal_amount,
        paid_on=loaded.paid_on,
        channel=loaded.channel,
        bank_code=loaded.bank_code,
        bank_reference=loaded.bank_reference,
    )
    assert again.pk == loaded.pk
