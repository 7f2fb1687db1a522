"""contribution_post: hand-computed figures, 代缴, back payment, and every bad input refused with nothing written.

The test policy: national tiers 100–2000, subsidy 30 at 100, 35 at 200, 40 at 300, 45 at 400, 60 from 500;
代缴 特困 100%, 低保 70%, 重度残疾 100% of the lowest tier; shares province 30, city 30, county 40.
"""

import datetime as dt
from decimal import Decimal

import pytest

from agencies.errors import Conflict, DomainError, NotPermitted
from agencies.models import Role
from agencies.tests.factories import region_line
from contributions import services
from contributions.models import Contribution, ContributionKind, TierChoice, TierSource
from contributions.tests.factories import make_policy
from enrollment import services as enrollment_services
from enrollment.models import PersonStatus
from enrollment.tests.factories import make_person
from funds.models import IndividualAccount, LedgerEntry

pytestmark = pytest.mark.django_db

D = dt.date


MARCH_2024 = D(2024, 3, 1)
CERTIFIED = D(2020, 1, 1)


def pay(clerk, person, amount, *, year=2024, paid_on=MARCH_2024, reference="R1", **kwargs):
    return services.contribution_post(
        actor=clerk,
        person=person,
        year=year,
        amount=amount,
        paid_on=paid_on,
        channel=kwargs.pop("channel", "counter"),
        bank_code=kwargs.pop("bank_code", "314"),
        bank_reference=reference,
        **kwargs,
    )


def in_group(line, person, group, certified_on=CERTIFIED, ends_on=None):
    enrollment_services.special_group_record(
        actor=line.staff(Role.TOWNSHIP_CLERK), person=person, group=group, certified_on=certified_on, ends_on=ends_on
    )


def balances(person) -> dict[str, Decimal]:
    account = IndividualAccount.objects.get(person=person)
    return {
        "personal": account.balance_personal,
        "subsidy": account.balance_government_subsidy,
        "paid": account.balance_government_paid,
        "total": account.balance,
    }


def nothing_written():
    return not Contribution.objects.exists() and not LedgerEntry.objects.exists()


def test_tier_300_for_a_dibao_member_who_chose_it(line, clerk, agent, person):
    # given 低保 (70% of the lowest tier 100 = 70) and a choice of 300
    in_group(line, person, "dibao")
    services.tier_choice_record(actor=agent, person=person, year=2024, amount="300")
    # when the person pays 300 − 70 = 230 at the bank counter
    contribution = pay(clerk, person, "230")
    # then subsidy 40 and 代缴 70 are credited beside the 230, each split 30/30/40 by level
    assert (contribution.tier_amount, contribution.personal_amount) == (Decimal(300), Decimal(230))
    assert (contribution.government_subsidy, contribution.government_paid) == (Decimal(40), Decimal(70))
    assert (contribution.subsidy_province, contribution.subsidy_city, contribution.subsidy_county) == (
        Decimal(12),
        Decimal(12),
        Decimal(16),
    )
    assert (contribution.paid_province, contribution.paid_city, contribution.paid_county) == (
        Decimal(21),
        Decimal(21),
        Decimal(28),
    )
    assert balances(person) == {"personal": 230, "subsidy": 40, "paid": 70, "total": 340}
    entries = LedgerEntry.objects.filter(account__person=person).order_by("id")
    assert [(e.component, e.kind, e.amount, e.booked_on) for e in entries] == [
        ("personal", "contribution", Decimal(230), D(2024, 3, 1)),
        ("government_subsidy", "subsidy", Decimal(40), D(2024, 3, 1)),
        ("government_paid", "government_paid", Decimal(70), D(2024, 3, 1)),
    ]
    assert {e.reference for e in entries} == {f"contribution:{contribution.pk}"}


def test_two_hardship_groups_count_once_at_the_largest_share(line, clerk, person):
    in_group(line, person, "tekun")
    in_group(line, person, "dibao")
    # 特困 100% + 低保 70% → 100% of 100 once (not 170): at the lowest tier the person pays nothing
    contribution = pay(clerk, person, "0")
    assert (contribution.tier_amount, contribution.government_paid, contribution.personal_amount) == (
        Decimal(100),
        Decimal(100),
        Decimal(0),
    )
    assert balances(person) == {"personal": 0, "subsidy": 30, "paid": 100, "total": 130}
    assert not LedgerEntry.objects.filter(component="personal").exists()  # no zero entries


def test_a_higher_tier_does_not_raise_the_government_paid_share(line, clerk, person):
    in_group(line, person, "dibao")
    contribution = pay(clerk, person, "1930")  # no choice: 1930 + 70 = the 2000 tier
    assert (contribution.tier_amount, contribution.government_paid, contribution.government_subsidy) == (
        Decimal(2000),
        Decimal(70),
        Decimal(60),
    )
    choice = TierChoice.objects.get(person=person, year=2024)
    assert (choice.amount, choice.source) == (Decimal(2000), TierSource.PAYMENT)


def test_membership_counts_only_while_valid_on_the_day_paid(line, clerk, person):
    in_group(line, person, "dibao", certified_on=D(2020, 1, 1), ends_on=D(2023, 12, 31))
    in_group(line, person, "tekun", certified_on=D(2024, 6, 1))
    contribution = pay(clerk, person, "300", paid_on=D(2024, 3, 1))
    assert contribution.government_paid == 0 and contribution.tier_amount == 300


def test_without_choice_the_amount_paid_decides_the_tier(clerk, person):
    contribution = pay(clerk, person, "500")
    assert (contribution.tier_amount, contribution.government_subsidy) == (Decimal(500), Decimal(60))


def test_a_default_choice_does_not_bind_the_payment(line, clerk, person):
    TierChoice.objects.create(
        person=person, year=2024, amount=Decimal(100), source=TierSource.DEFAULT, region_code=person.region_code
    )
    contribution = pay(clerk, person, "300")
    assert contribution.tier_amount == 300
    assert TierChoice.objects.get(person=person, year=2024).amount == 300


def test_amount_must_match_the_chosen_tier(agent, clerk, person):
    services.tier_choice_record(actor=agent, person=person, year=2024, amount="300")
    with pytest.raises(DomainError, match="个人应缴300元"):
        pay(clerk, person, "200")
    assert nothing_written()


def test_back_payment_earns_no_subsidy_and_no_government_paid(line, policy, clerk):
    # born 1955: 60 in 2015, fewer than 15 years left at the start on 2009-07-01
    older = make_person(line.village, name="王五", birth_date=D(1955, 3, 1))
    in_group(line, older, "dibao", certified_on=D(2010, 1, 1))
    contribution = pay(
        clerk, older, "500", year=2012, paid_on=D(2014, 5, 1), kind=ContributionKind.BACK_PAYMENT, reference="B1"
    )
    assert (contribution.tier_amount, contribution.government_subsidy, contribution.government_paid) == (
        Decimal(500),
        Decimal(0),
        Decimal(0),
    )
    assert balances(older) == {"personal": 500, "subsidy": 0, "paid": 0, "total": 500}


def test_back_payment_refused_to_those_with_15_years_or_more_left(clerk, person):
    with pytest.raises(DomainError, match="不属于可以补缴"):
        pay(clerk, person, "500", year=2012, paid_on=D(2014, 5, 1), kind=ContributionKind.BACK_PAYMENT)
    assert nothing_written()


def test_back_payment_limited_to_the_policy_maximum(line):
    # a region that allows 2 back-paid years
    make_policy(line, valid_from=D(2008, 1, 1), back_payment_max_years=2)
    clerk = line.staff(Role.TOWNSHIP_CLERK)
    older = make_person(line.village, name="王五", birth_date=D(1955, 3, 1))
    for n, year in enumerate((2010, 2011)):
        pay(clerk, older, "100", year=year, paid_on=D(2014, 5, 1), kind="back_payment", reference=f"B{n}")
    with pytest.raises(DomainError, match="补缴年限上限（2年）"):
        pay(clerk, older, "100", year=2012, paid_on=D(2014, 5, 1), kind="back_payment", reference="B9")
    assert Contribution.objects.count() == 2


@pytest.mark.parametrize(
    "year, paid_on, message",
    [
        (2008, D(2014, 5, 1), "不能早于本地实施年度"),
        (2014, D(2014, 5, 1), "只能补缴以往年度"),
        (2016, D(2017, 5, 1), "已满60周岁"),
    ],
)
def test_back_payment_years(line, policy, clerk, year, paid_on, message):
    make_policy(line, valid_from=D(2008, 1, 1), valid_to=D(2011, 12, 31))
    older = make_person(line.village, name="王五", birth_date=D(1955, 3, 1))
    with pytest.raises(DomainError, match=message):
        pay(clerk, older, "100", year=year, paid_on=paid_on, kind="back_payment")
    assert nothing_written()


# --- bad input ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("amount", ["30O", "1e3", "-5", "0.001", "", "1_000", "abc", "250", "0", None])
def test_bad_amounts_refused_with_nothing_written(clerk, person, amount):
    with pytest.raises(DomainError):
        pay(clerk, person, amount)
    assert nothing_written()
    assert not TierChoice.objects.exists()


def test_float_amount_is_a_programming_error(clerk, person):
    with pytest.raises(TypeError):
        pay(clerk, person, 300.0)
    assert nothing_written()


def test_a_tier_that_does_not_exist_for_that_year(line, clerk, person):
    # from 2018 the region's tiers start at 200: 100 is no tier of 2024 (but was of 2017)
    make_policy(line, valid_from=D(2018, 1, 1), tiers=[(Decimal(200), Decimal(40)), (Decimal(500), Decimal(60))])
    with pytest.raises(DomainError, match="可缴金额") as refused:
        pay(clerk, person, "100")
    assert refused.value.code == "no_such_tier"
    assert nothing_written()
    with pytest.raises(DomainError, match="没有100元这一缴费档次"):
        services.tier_choice_record(actor=line.staff(Role.VILLAGE_AGENT), person=person, year=2024, amount="100")


def test_a_year_without_policy(line, clerk, person):
    with pytest.raises(DomainError, match="尚未设置2011年度"):
        pay(clerk, person, "100", year=2011, paid_on=D(2011, 3, 1))
    assert nothing_written()


def test_a_second_contribution_for_the_same_year(clerk, person):
    pay(clerk, person, "300", reference="R1")
    with pytest.raises(Conflict, match="同一年度只能缴费一次"):
        pay(clerk, person, "300", reference="R2", paid_on=D(2024, 4, 1))
    assert Contribution.objects.count() == 1 and LedgerEntry.objects.count() == 2


def test_outside_the_window_refused_unless_the_region_allows(line):
    make_policy(line, window=(1, 1, 3, 31))
    clerk = line.staff(Role.TOWNSHIP_CLERK)
    person = make_person(line.village)
    with pytest.raises(DomainError, match="不在.*征缴期") as refused:
        pay(clerk, person, "300", paid_on=D(2024, 4, 1))
    assert refused.value.code == "outside_window"
    assert nothing_written()
    pay(clerk, person, "300", paid_on=D(2024, 3, 31))


def test_outside_the_window_allowed_when_the_region_says_so(line):
    make_policy(line, window=(1, 1, 3, 31), allow_outside_window=True)
    contribution = pay(line.staff(Role.TOWNSHIP_CLERK), make_person(line.village), "300", paid_on=D(2024, 9, 1))
    assert contribution.paid_on == D(2024, 9, 1)


def test_a_regular_payment_belongs_to_its_own_year(clerk, person):
    with pytest.raises(DomainError, match="补缴"):
        pay(clerk, person, "300", year=2023, paid_on=D(2024, 3, 1))
    assert nothing_written()


def test_payment_date_in_the_future_refused(clerk, person):
    with pytest.raises(DomainError, match="不能晚于今天"):
        pay(clerk, person, "300", year=2024, paid_on=dt.date.today() + dt.timedelta(days=400))


@pytest.mark.parametrize("field", ["bank_code", "bank_reference"])
def test_bank_receipt_fields_required(clerk, person, field):
    kwargs = {"bank_code": "314"}
    if field == "bank_code":
        kwargs["bank_code"] = " "
        reference = "R1"
    else:
        reference = ""
    with pytest.raises(DomainError) as refused:
        pay(clerk, person, "300", reference=reference, **kwargs)
    assert refused.value.field == field


def test_only_active_persons_pay(line, clerk):
    cancelled = make_person(line.village, status=PersonStatus.CANCELLED)
    make_policy(line)
    with pytest.raises(Conflict, match="已注销"):
        pay(clerk, cancelled, "300")


# --- idempotency, permissions, scope --------------------------------------------------------------------


def test_the_same_bank_reference_again_returns_the_first(clerk, person):
    first = pay(clerk, person, "300", reference="R1")
    again = pay(clerk, person, "300", reference="R1")
    assert again.pk == first.pk
    assert Contribution.objects.count() == 1 and LedgerEntry.objects.count() == 2
    assert balances(person)["total"] == 340


def test_the_same_bank_reference_for_another_payment_is_a_conflict(line, clerk, person):
    pay(clerk, person, "300", reference="R1")
    other = make_person(line.village, name="赵六")
    with pytest.raises(Conflict, match="已用于另一笔缴费"):
        pay(clerk, other, "300", reference="R1")
    with pytest.raises(Conflict, match="已用于另一笔缴费"):
        pay(clerk, person, "400", reference="R1")
    assert Contribution.objects.count() == 1


@pytest.mark.parametrize("role", [Role.VILLAGE_AGENT, Role.COUNTY_APPROVER, Role.CITY_SUPERVISOR])
def test_no_cash_through_a_village_agents_hands(line, person, role):
    with pytest.raises(NotPermitted):
        pay(line.staff(role), person, "300")
    assert nothing_written()


def test_bank_file_channel_is_the_fund_officers(line, person):
    with pytest.raises(NotPermitted):
        pay(line.staff(Role.TOWNSHIP_CLERK), person, "300", channel="bank_file")
    contribution = pay(line.staff(Role.COUNTY_FUND_OFFICER), person, "300", channel="bank_file")
    assert contribution.channel == "bank_file"


def test_a_clerk_of_another_county_cannot_post(line, person):
    other = region_line(county="320115")
    with pytest.raises(DomainError, match="管辖范围"):
        pay(other.staff(Role.TOWNSHIP_CLERK), person, "300")
    assert nothing_written()
