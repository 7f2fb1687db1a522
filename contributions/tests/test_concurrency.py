"""Two clerks (or a clerk and the bank) at the same moment: the row locks and unique constraints decide.

Real PostgreSQL, one connection per thread.
"""

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import connection

from agencies.errors import DomainError
from agencies.models import Role
from agencies.tests.factories import region_line
from contributions import services
from contributions.models import Contribution, ContributionPolicy, Donation
from contributions.tests.factories import make_policy, national_tiers
from enrollment.tests.factories import make_person
from funds.models import IndividualAccount, LedgerEntry

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_together(*targets) -> list:
    """Start every target at once (a barrier), each on its own connection; the results or refusals in order."""
    barrier = threading.Barrier(len(targets))
    results: list = [None] * len(targets)

    def runner(index, target):
        try:
            barrier.wait(10)
            results[index] = target()
        except DomainError as refusal:
            results[index] = refusal
        finally:
            connection.close()

    threads = [threading.Thread(target=runner, args=(i, t)) for i, t in enumerate(targets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def test_the_same_bank_receipt_posted_twice_at_once_posts_once():
    line = region_line()
    make_policy(line)
    person = make_person(line.village)
    clerks = [line.staff(Role.TOWNSHIP_CLERK, username=f"clerk{i}") for i in range(3)]

    def post(clerk):
        return lambda: services.contribution_post(
            actor=clerk,
            person=person,
            year=2024,
            amount="300",
            paid_on=dt.date(2024, 3, 1),
            channel="counter",
            bank_code="314",
            bank_reference="SAME",
        )

    results = run_together(*(post(c) for c in clerks))
    assert all(isinstance(r, Contribution) for r in results), results
    assert len({r.pk for r in results}) == 1
    assert Contribution.objects.count() == 1
    assert LedgerEntry.objects.count() == 2
    assert IndividualAccount.objects.get().balance == Decimal("340.00")


def test_two_receipts_for_one_person_and_year_at_once_one_is_refused():
    line = region_line()
    make_policy(line)
    person = make_person(line.village)

    def post(reference):
        return lambda: services.contribution_post(
            actor=line.staff(Role.COUNTY_CLERK),
            person=person,
            year=2024,
            amount="300",
            paid_on=dt.date(2024, 3, 1),
            channel="counter",
            bank_code="314",
            bank_reference=reference,
        )

    results = run_together(post("A"), post("B"))
    assert sorted(type(r).__name__ for r in results) == ["Conflict", "Contribution"]
    assert Contribution.objects.count() == 1 and LedgerEntry.objects.count() == 2


def test_two_supervisors_setting_periods_at_once_cannot_both_succeed():
    line = region_line()
    make_policy(line, valid_from=dt.date(2012, 1, 1), valid_to=dt.date(2017, 12, 31))
    supervisors = [line.staff(Role.CITY_SUPERVISOR, username=f"sup{i}") for i in range(2)]

    def create(supervisor, start):
        return lambda: services.policy_create(
            actor=supervisor,
            pooling_region=line.pooling_region,
            valid_from=start,
            tiers=national_tiers(),
            hardship_shares={},
        )

    # Each alone would be accepted (both start the day after the last period ends); together, one overlaps.
    results = run_together(create(supervisors[0], dt.date(2018, 1, 1)), create(supervisors[1], dt.date(2018, 1, 1)))
    created = [r for r in results if isinstance(r, ContributionPolicy)]
    refused = [r for r in results if isinstance(r, DomainError)]
    assert len(created) == 1 and len(refused) == 1
    assert "重叠" in refused[0].message  # the second waited for the region lock, then saw the first's period
    assert ContributionPolicy.objects.filter(pooling_region=line.pooling_region).count() == 2


def test_donations_at_once_never_pass_the_cap():
    line = region_line()
    make_policy(line, tiers=[(Decimal(100), Decimal(30)), (Decimal(1000), Decimal(60))])
    person = make_person(line.village)
    clerk = line.staff(Role.TOWNSHIP_CLERK)

    def give(n):
        return lambda: services.donation_record(
            actor=clerk, person=person, year=2024, donor=f"资助方{n}", amount="400", received_on=dt.date(2024, 5, 1)
        )

    results = run_together(*(give(n) for n in range(3)))
    assert sum(isinstance(r, Donation) for r in results) == 2  # 800 of 1000; the third would make 1200
    assert IndividualAccount.objects.get().balance_donation == Decimal("800.00")
