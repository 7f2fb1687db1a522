"""Collective subsidy per village and donations, and the cap: together no more than the year's top tier."""

import datetime as dt
from decimal import Decimal

import pytest

from agencies.errors import Conflict, DomainError, NotPermitted
from agencies.models import Role
from agencies.tests.factories import region_line
from contributions import services
from contributions.models import CollectiveSubsidy, CollectiveSubsidyCredit, Donation
from contributions.tests.factories import make_policy
from enrollment.tests.factories import make_person
from funds.models import Component, IndividualAccount, LedgerEntry

pytestmark = pytest.mark.django_db

D = dt.date


def pay(clerk, person, amount="300", year=2024):
    return services.contribution_post(
        actor=clerk,
        person=person,
        year=year,
        amount=amount,
        paid_on=D(year, 3, 1),
        channel="counter",
        bank_code="314",
        bank_reference=f"R{person.pk}-{year}",
    )


def collective_balance(person) -> Decimal:
    return IndividualAccount.objects.get(person=person).balance_collective


def test_collective_subsidy_credits_every_payer_of_the_village_and_reruns_safely(line, policy, clerk):
    payers = [make_person(line.village, name=f"缴{n}") for n in range(3)]
    make_person(line.village, name="未缴")
    neighbour = make_person(region_line(county="320412", township="101", village="202").village, name="邻村")
    for person in [*payers[:2], neighbour]:
        pay(clerk, person)
    subsidy = services.collective_subsidy_record(
        actor=clerk, village=line.village, year=2024, amount_per_person="50", decision="村委〔2024〕3号",
        booked_on=D(2024, 6, 30),
    )  # fmt: skip
    assert (subsidy.persons_credited, subsidy.persons_capped) == (2, 0)
    assert [collective_balance(p) for p in payers[:2]] == [Decimal(50), Decimal(50)]
    assert collective_balance(neighbour) == 0
    entry = LedgerEntry.objects.filter(component=Component.COLLECTIVE).first()
    assert (entry.kind, entry.booked_on, entry.reference) == ("collective", D(2024, 6, 30), f"collective:{subsidy.pk}")
    # a third villager pays later; recording again credits only the newcomer
    pay(clerk, payers[2])
    again = services.collective_subsidy_record(actor=clerk, village=line.village, year=2024, amount_per_person="50")
    assert again.pk == subsidy.pk and again.persons_credited == 3
    assert [collective_balance(p) for p in payers] == [Decimal(50)] * 3
    assert LedgerEntry.objects.filter(component=Component.COLLECTIVE).count() == 3


def test_collective_subsidy_with_another_amount_is_a_conflict(line, policy, clerk):
    pay(clerk, make_person(line.village))
    services.collective_subsidy_record(actor=clerk, village=line.village, year=2024, amount_per_person="50")
    with pytest.raises(Conflict, match="每人50元"):
        services.collective_subsidy_record(actor=clerk, village=line.village, year=2024, amount_per_person="60")


def test_collective_subsidy_capped_at_the_top_tier_less_donations(line, clerk):
    # top tier 1000 in this region
    make_policy(line, tiers=[(Decimal(100), Decimal(30)), (Decimal(1000), Decimal(60))])
    rich, plain = make_person(line.village, name="受助"), make_person(line.village, name="普通")
    pay(clerk, rich, "100")
    pay(clerk, plain, "100")
    services.donation_record(
        actor=clerk, person=rich, year=2024, donor="爱心企业", amount="900", received_on=D(2024, 2, 1)
    )
    subsidy = services.collective_subsidy_record(actor=clerk, village=line.village, year=2024, amount_per_person="300")
    assert (subsidy.persons_credited, subsidy.persons_capped) == (2, 1)
    assert collective_balance(rich) == 100 and collective_balance(plain) == 300
    credit = CollectiveSubsidyCredit.objects.get(person=rich)
    assert (credit.amount, credit.capped) == (Decimal(100), True)


def test_a_donation_beyond_the_cap_is_refused_saying_how_much_is_left(line, clerk):
    make_policy(line, tiers=[(Decimal(100), Decimal(30)), (Decimal(1000), Decimal(60))])
    person = make_person(line.village)
    pay(clerk, person, "100")
    services.collective_subsidy_record(actor=clerk, village=line.village, year=2024, amount_per_person="400")
    services.donation_record(actor=clerk, person=person, year=2024, donor="甲", amount="500", received_on=D(2024, 5, 1))
    with pytest.raises(DomainError, match="最多还可资助100元"):
        services.donation_record(
            actor=clerk, person=person, year=2024, donor="乙", amount="100.01", received_on=D(2024, 5, 2)
        )
    assert Donation.objects.count() == 1
    services.donation_record(actor=clerk, person=person, year=2024, donor="乙", amount="100", received_on=D(2024, 5, 2))
    account = IndividualAccount.objects.get(person=person)
    assert (account.balance_collective, account.balance_donation) == (Decimal(400), Decimal(600))


@pytest.mark.parametrize("amount", ["-5", "30O", "1e3", "0", "0.001"])
def test_bad_donation_amounts_refused(person, clerk, amount):
    with pytest.raises(DomainError):
        services.donation_record(
            actor=clerk, person=person, year=2024, donor="甲", amount=amount, received_on=D(2024, 5, 1)
        )
    assert not Donation.objects.exists() and not LedgerEntry.objects.exists()


def test_donation_needs_a_donor(person, clerk):
    with pytest.raises(DomainError, match="资助方"):
        services.donation_record(
            actor=clerk, person=person, year=2024, donor=" ", amount="100", received_on=D(2024, 5, 1)
        )


def test_collective_subsidy_over_the_top_tier_refused(line, policy, clerk):
    with pytest.raises(DomainError, match="最高缴费档次"):
        services.collective_subsidy_record(actor=clerk, village=line.village, year=2024, amount_per_person="2000.01")
    assert not CollectiveSubsidy.objects.exists()


def test_collective_subsidy_only_per_village_and_by_clerks(line, policy, clerk):
    with pytest.raises(DomainError, match="村（社区）"):
        services.collective_subsidy_record(actor=clerk, village=line.township, year=2024, amount_per_person="50")
    with pytest.raises(NotPermitted):
        services.collective_subsidy_record(
            actor=line.staff(Role.VILLAGE_AGENT), village=line.village, year=2024, amount_per_person="50"
        )
    other = region_line(county="320115")
    with pytest.raises(DomainError, match="管辖范围"):
        services.collective_subsidy_record(
            actor=other.staff(Role.COUNTY_CLERK), village=line.village, year=2024, amount_per_person="50"
        )
    assert not CollectiveSubsidy.objects.exists()
