"""Claims and awards, with figures computed by hand."""

import datetime as dt
from decimal import Decimal

import pytest

from agencies.errors import Conflict, DomainError, NotPermitted
from agencies.models import Role
from agencies.tests.factories import region_line
from benefits import services
from benefits.models import Award, AwardCategory, AwardStatus, ClaimStatus
from benefits.tests.factories import make_award, make_contributor, make_parameters
from contributions.models import InterestRate
from funds.models import EntryKind, LedgerEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def line():
    line = region_line()
    line.pooling_region.scheme_started_on = dt.date(2011, 7, 1)
    line.pooling_region.save()
    InterestRate.objects.create(pooling_region=line.pooling_region, year=2025, rate=Decimal("0.01500"))
    make_parameters(
        line, valid_from=dt.date(2024, 1, 1), per_year_beyond_minimum="2", addition_at_65="10", addition_at_80="30"
    )
    return line


def test_award_parts_by_hand(line):
    # given 17 years paid (2008–2024) and 13,900.00 in the account at the end of 2024; 60 in March 2025
    person = make_contributor(line, birth_date=dt.date(1965, 3, 10), years=17)
    # when the claim is made in March and approved on 20 March
    award = make_award(line, person, claimed_on=dt.date(2025, 3, 5), approved_on=dt.date(2025, 3, 20))
    # then it starts in April; interest Jan–Mar: 13,900 × 1.5% × 3/12 = 52.125 → 52.13
    assert award.start_month == dt.date(2025, 4, 1)
    interest = LedgerEntry.objects.get(account__person=person, kind=EntryKind.INTEREST)
    assert interest.amount == Decimal("52.13")
    assert award.account_balance_at_start == Decimal("13952.13")
    # 13,952.13 ÷ 139 = 100.3750… → 100.38
    assert award.account_pension == Decimal("100.38")
    [period] = award.periods.filter(valid_from=dt.date(2025, 4, 1))
    # basic: 123 + 100 + 2 × (17 − 15) = 227
    assert (period.central_minimum, period.local_top_up, period.years_addition) == (
        Decimal("123.00"),
        Decimal("100.00"),
        Decimal("4.00"),
    )
    assert period.basic_pension == Decimal("227.00")
    assert period.total == Decimal("327.38")
    # the addition at 65 from April 2030 (birthday month March + 1), at 80 from April 2045
    later = {p.valid_from: p for p in award.periods.all()}
    assert later[dt.date(2030, 4, 1)].age_addition == Decimal("10.00")
    assert later[dt.date(2030, 4, 1)].total == Decimal("337.38")
    assert later[dt.date(2045, 4, 1)].age_addition == Decimal("30.00")
    assert award.claim.status == ClaimStatus.APPROVED


def test_claim_short_of_years_says_what_is_missing(line):
    person = make_contributor(line, birth_date=dt.date(1965, 3, 10), years=12)
    with pytest.raises(DomainError) as refused:
        services.claim_submit(actor=line.staff(Role.VILLAGE_AGENT), person=person, today=dt.date(2025, 3, 5))
    # 46 at the local start in 2011: 2025 − 2011 = 14 years were left to 60, so 14 are needed
    assert "需14年" in refused.value.message and "已缴12年，还差2年" in refused.value.message


def test_claim_under_60_says_when(line):
    person = make_contributor(line, birth_date=dt.date(1966, 3, 10), years=15)
    with pytest.raises(DomainError) as refused:
        services.claim_submit(actor=line.staff(Role.VILLAGE_AGENT), person=person, today=dt.date(2025, 3, 5))
    assert "未到领取年龄" in refused.value.message
    assert "2026年02月起申请" in refused.value.message


def test_transition_rule_near_60_at_local_start(line):
    # born 1955: at the local start in 2011 nine years were left to 60, so nine years suffice
    person = make_contributor(line, birth_date=dt.date(1955, 6, 1), years=9, last_year=2015)
    award = make_award(line, person, claimed_on=dt.date(2025, 3, 5))
    assert award.years_paid == 9


def test_basic_only_for_those_60_at_local_start(line):
    person = make_contributor(line, birth_date=dt.date(1948, 6, 1), years=0, balance=Decimal(0))
    award = make_award(line, person, claimed_on=dt.date(2025, 3, 5), category=AwardCategory.BASIC_ONLY)
    period = award.periods.get(valid_from=award.start_month)
    # 77 in 2025: addition at 65 applies; no years addition, no account part
    assert period.basic_pension == Decimal("233.00")
    assert period.account_pension == Decimal("0.00")


def test_second_live_award_is_impossible(line):
    person = make_contributor(line)
    award = make_award(line, person, claimed_on=dt.date(2025, 3, 5))
    duplicate = Award(
        person=person,
        region_code=award.region_code,
        pooling_region=award.pooling_region,
        category=award.category,
        start_month=award.start_month,
        birth_date=award.birth_date,
        years_paid=15,
        account_divisor=139,
        approved_by=award.approved_by,
    )
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        duplicate.save()
    with pytest.raises(Conflict):
        services.claim_submit(actor=line.staff(Role.VILLAGE_AGENT), person=person, today=dt.date(2025, 5, 1))


def test_entering_clerk_cannot_approve(line):
    person = make_contributor(line)
    clerk = line.staff(Role.TOWNSHIP_CLERK)
    claim = services.claim_submit(actor=clerk, person=person, today=dt.date(2025, 3, 5))
    with pytest.raises(NotPermitted):
        services.claim_accept(actor=clerk, claim=claim)
    with pytest.raises(NotPermitted):
        services.claim_approve(actor=line.staff(Role.VILLAGE_AGENT), claim=claim, today=dt.date(2025, 3, 6))


def test_central_minimum_rise_recalculates_from_its_month(line):
    person = make_contributor(line)
    award = make_award(line, person, claimed_on=dt.date(2025, 3, 5))
    # when the central minimum rises to 143 from July 2025
    _, recalculation = services.pension_parameters_set(
        actor=line.staff(Role.CITY_SUPERVISOR),
        pooling_region=line.pooling_region,
        valid_from=dt.date(2025, 7, 1),
        values={"central_minimum": "143"},
    )
    live = {p.valid_from: p for p in award.periods.filter(replaced_by__isnull=True)}
    assert live[dt.date(2025, 4, 1)].basic_pension == Decimal("223.00")
    assert live[dt.date(2025, 7, 1)].basic_pension == Decimal("243.00")
    assert recalculation.awards_changed == 1
    assert award.status == AwardStatus.ACTIVE


def test_township_sees_who_turns_60_next_month(line):
    from benefits import selectors

    ready = make_contributor(line, birth_date=dt.date(1965, 4, 2), years=15, name="王五")
    short = make_contributor(line, birth_date=dt.date(1965, 4, 20), years=10, name="赵六")
    make_contributor(line, birth_date=dt.date(1965, 5, 2), years=15, name="钱七")  # next-but-one month
    rows = selectors.turning_60(user=line.staff(Role.TOWNSHIP_CLERK), month=dt.date(2025, 4, 1))
    by_person = {row.person.pk: row for row in rows}
    assert set(by_person) == {ready.pk, short.pk}
    assert by_person[ready.pk].eligibility.eligible
    # 13,900 ÷ 139 = 100.00 from today's balance; basic 123 + 100 + 0
    assert by_person[ready.pk].total == Decimal("323.00")
    assert not by_person[short.pk].eligibility.eligible
