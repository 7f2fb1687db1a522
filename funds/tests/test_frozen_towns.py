"""A merger freezes one town of a pooling region: the year-end interest settles the other town, leaves the
frozen town's accounts untouched and says how many waited; after the lift a second run settles them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from agencies.errors import Conflict
from agencies.freeze import freeze_lift, freeze_set
from agencies.tests.factories import region_line
from benefits.tests.factories import make_contributor, pension_line
from funds.models import EntryKind, IndividualAccount, InterestSettlement, LedgerEntry, SettlementStatus
from funds.settlement import settle_year, unsettled_earlier_years

MERGER = "merger:9"


@pytest.fixture
def accounts():
    line = pension_line("320412", rates={2025: "0.01500"})
    other = region_line(county="320412", township="102")
    # 1200 yuan opening balance each: 1200 × 1.5% × 12/12 = 18.00 interest for 2025
    open_person = make_contributor(line, name="甲", balance=Decimal("1200.00"), booked_on=dt.date(2024, 12, 31))
    frozen_person = make_contributor(other, name="乙", balance=Decimal("1200.00"), booked_on=dt.date(2024, 12, 31))
    return line, open_person, frozen_person


def interest(person) -> list[Decimal]:
    return list(
        LedgerEntry.objects.filter(account__person=person, kind=EntryKind.INTEREST).values_list("amount", flat=True)
    )


@pytest.mark.django_db
def test_year_end_interest_leaves_the_frozen_town_out_until_the_lift(accounts):
    line, open_person, frozen_person = accounts
    freeze_set(prefixes=["320412102"], label="并轨测试", reference=MERGER)

    result = settle_year(pooling_region=line.pooling_region, year=2025)

    assert (result.entries_posted, result.amount_posted) == (1, Decimal("18.00"))
    assert result.frozen_left_out == 1
    assert result.frozen_notice == "1 人所在乡镇因并轨封存，本次未纳入。"
    assert interest(open_person) == [Decimal("18.00")]
    assert interest(frozen_person) == []
    assert IndividualAccount.objects.get(person=frozen_person).balance == Decimal("1200.00")
    # the year is not complete: the next year waits for it
    run = InterestSettlement.objects.get(pk=result.settlement_id)
    assert run.status == SettlementStatus.FAILED
    assert "1 人所在乡镇因并轨封存" in run.error
    assert unsettled_earlier_years(pooling_region=line.pooling_region, year=2026) == [2025]

    freeze_lift(reference=MERGER)
    again = settle_year(pooling_region=line.pooling_region, year=2025)

    assert (again.entries_posted, again.amount_posted, again.frozen_left_out) == (1, Decimal("18.00"), 0)
    assert interest(frozen_person) == [Decimal("18.00")]
    assert interest(open_person) == [Decimal("18.00")]
    assert IndividualAccount.objects.get(person=frozen_person).balance == Decimal("1218.00")
    assert InterestSettlement.objects.get(pk=again.settlement_id).status == SettlementStatus.DONE
    assert unsettled_earlier_years(pooling_region=line.pooling_region, year=2026) == []


@pytest.mark.django_db
def test_year_end_interest_of_a_wholly_frozen_region_is_refused_with_nothing_written(accounts):
    line, _, _ = accounts
    freeze_set(prefixes=["320412"], label="并轨测试", reference=MERGER)
    with pytest.raises(Conflict) as refused:
        settle_year(pooling_region=line.pooling_region, year=2025)
    assert refused.value.code == "frozen"
    assert not InterestSettlement.objects.exists()
    assert not LedgerEntry.objects.filter(kind=EntryKind.INTEREST).exists()
