"""Policy periods and interest rates: who may set them, and the periods that follow one another."""

import datetime as dt
from decimal import Decimal

import pytest

from agencies.errors import Conflict, DomainError, NotPermitted
from agencies.models import Role
from agencies.tests.factories import region_line
from contributions import selectors, services
from contributions.models import ContributionPolicy, InterestRate
from contributions.tests.factories import make_policy, national_tiers
from funds.models import Component, EntryKind, LedgerEntry
from funds.services import account_open

pytestmark = pytest.mark.django_db

D = dt.date


def periods(line):
    return list(
        ContributionPolicy.objects.filter(pooling_region=line.pooling_region)
        .order_by("valid_from")
        .values_list("valid_from", "valid_to")
    )


def test_a_new_period_closes_the_open_ended_last_one(line, supervisor):
    # given a policy from 2012, open-ended
    first = make_policy(line, valid_from=D(2012, 1, 1))
    # when a supervisor sets new tiers from 2018
    second = make_policy(line, valid_from=D(2018, 1, 1), tiers=[(Decimal(200), Decimal(40))])
    # then the first ends the day before and the history says who closed it
    assert periods(line) == [(D(2012, 1, 1), D(2017, 12, 31)), (D(2018, 1, 1), None)]
    first.refresh_from_db()
    latest = first.history.latest()
    assert latest.history_user == supervisor and latest.valid_to == D(2017, 12, 31)
    assert first.history.count() == 2
    assert second.history.get().history_user == supervisor
    assert second.tiers.get().history.get().history_user == supervisor
    assert selectors.policy_for(pooling_region=line.pooling_region, on=D(2017, 6, 1)) == first
    assert selectors.policy_for(pooling_region=line.pooling_region, on=D(2026, 6, 1)) == second
    assert [t.amount for t in selectors.tiers_for(pooling_region=line.pooling_region, year=2018)] == [Decimal(200)]
    assert len(selectors.tiers_for(pooling_region=line.pooling_region, year=2017)) == 12


@pytest.mark.parametrize(
    "valid_from, valid_to, message",
    [
        (D(2014, 1, 1), D(2014, 12, 31), "重叠"),  # inside the closed first period
        (D(2017, 7, 1), None, "重叠"),  # starts inside the closed first period
        (D(2012, 1, 1), None, "重叠"),  # the same start
        (D(2010, 1, 1), D(2012, 6, 30), "重叠"),  # overlaps the start of the first
        (D(2010, 1, 1), D(2010, 12, 31), "空档"),  # before the first, with a gap
        (D(2010, 1, 1), None, "重叠"),  # open-ended before the first
    ],
)
def test_overlaps_and_gaps_are_refused(line, valid_from, valid_to, message):
    make_policy(line, valid_from=D(2012, 1, 1), valid_to=D(2017, 12, 31))
    make_policy(line, valid_from=D(2018, 1, 1))
    before = periods(line)
    with pytest.raises(DomainError) as refused:
        make_policy(line, valid_from=valid_from, valid_to=valid_to)
    assert message in refused.value.message
    assert periods(line) == before


def test_a_gap_after_a_closed_last_period_is_refused_and_adjacent_accepted(line):
    make_policy(line, valid_from=D(2012, 1, 1), valid_to=D(2017, 12, 31))
    with pytest.raises(DomainError, match="空档"):
        make_policy(line, valid_from=D(2018, 2, 1))
    make_policy(line, valid_from=D(2018, 1, 1))
    make_policy(line, valid_from=D(2011, 1, 1), valid_to=D(2011, 12, 31))  # adjacent before the first
    assert periods(line)[0] == (D(2011, 1, 1), D(2011, 12, 31))


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"tiers": []}, "tiers"),
        ({"tiers": [("100", "30"), ("100", "35")]}, "tiers"),
        ({"tiers": [("0", "30")]}, "tiers"),
        ({"tiers": [("-100", "30")]}, "tiers"),
        ({"tiers": [("100", "-1")]}, "tiers"),
        ({"tiers": [("1e3", "30")]}, "tiers"),
        ({"shares": (Decimal(30), Decimal(30), Decimal(30))}, "shares"),
        ({"hardship_shares": {"dibao": Decimal(120)}}, "hardship_shares"),
        ({"hardship_shares": {"rich": Decimal(50)}}, "hardship_shares"),
        ({"window": (4, 1, 3, 31)}, "window"),
        ({"back_payment_max_years": 16}, "back_payment_max_years"),
        ({"valid_to": D(2011, 1, 1)}, "valid_to"),
    ],
)
def test_bad_parameters_refused_with_nothing_written(line, kwargs, field):
    with pytest.raises(DomainError) as refused:
        make_policy(line, **kwargs)
    assert refused.value.field == field
    assert not ContributionPolicy.objects.exists()


@pytest.mark.parametrize("role", [Role.VILLAGE_AGENT, Role.TOWNSHIP_CLERK, Role.COUNTY_CLERK, Role.COUNTY_APPROVER])
def test_only_a_city_supervisor_sets_policy(line, role):
    with pytest.raises(NotPermitted):
        services.policy_create(
            actor=line.staff(role),
            pooling_region=line.pooling_region,
            valid_from=D(2012, 1, 1),
            tiers=national_tiers(),
            hardship_shares={},
        )


def test_a_supervisor_of_another_city_cannot_set_policy(line):
    other = region_line(county="320115")
    with pytest.raises(DomainError, match="管辖范围"):
        services.policy_create(
            actor=other.staff(Role.CITY_SUPERVISOR),
            pooling_region=line.pooling_region,
            valid_from=D(2012, 1, 1),
            tiers=national_tiers(),
            hardship_shares={},
        )
    assert not ContributionPolicy.objects.exists()


def test_a_new_period_may_not_change_a_year_already_paid(line, policy, clerk, person):
    services.contribution_post(
        actor=clerk,
        person=person,
        year=2024,
        amount="300",
        paid_on=D(2024, 3, 1),
        channel="counter",
        bank_code="314",
        bank_reference="R-2024",
    )
    with pytest.raises(Conflict, match="已有缴费记录"):
        make_policy(line, valid_from=D(2024, 1, 1))
    make_policy(line, valid_from=D(2025, 1, 1))  # a year nobody paid yet is fine


def test_interest_rate_from_text_with_history(line, supervisor):
    rate = services.interest_rate_set(actor=supervisor, pooling_region=line.pooling_region, year=2015, rate="2.75%")
    assert rate.rate == Decimal("0.02750")
    again = services.interest_rate_set(actor=supervisor, pooling_region=line.pooling_region, year=2015, rate="0.0275")
    assert again.pk == rate.pk and rate.history.count() == 1  # the same value: no change recorded
    services.interest_rate_set(actor=supervisor, pooling_region=line.pooling_region, year=2015, rate="0.03")
    rate.refresh_from_db()
    assert rate.rate == Decimal("0.03000") and rate.history.count() == 2
    assert rate.history.latest().history_user == supervisor


@pytest.mark.parametrize("bad", ["1.5", "3O%", "-1%", "25%"])
def test_bad_interest_rates_refused(line, supervisor, bad):
    with pytest.raises(DomainError):
        services.interest_rate_set(actor=supervisor, pooling_region=line.pooling_region, year=2015, rate=bad)
    assert not InterestRate.objects.exists()


def test_interest_rate_of_a_settled_year_cannot_change(line, supervisor):
    from enrollment.tests.factories import make_person

    services.interest_rate_set(actor=supervisor, pooling_region=line.pooling_region, year=2020, rate="1.5%")
    account = account_open(person=make_person(line.village), opened_on=D(2020, 1, 1))
    # What the year-end settlement leaves behind: an interest entry for the period "2020".
    LedgerEntry.objects.create(
        account=account,
        component=Component.INTEREST,
        kind=EntryKind.INTEREST,
        amount=Decimal("0.00"),
        booked_on=D(2020, 12, 31),
        period="2020",
    )
    with pytest.raises(Conflict, match="已经结算"):
        services.interest_rate_set(actor=supervisor, pooling_region=line.pooling_region, year=2020, rate="2%")


def test_interest_rate_only_by_a_supervisor(line):
    with pytest.raises(NotPermitted):
        services.interest_rate_set(
            actor=line.staff(Role.COUNTY_CLERK), pooling_region=line.pooling_region, year=2015, rate="1.5%"
        )
