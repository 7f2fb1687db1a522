"""A merger freezes one town of a pooling region: the deduction batch and the settlement of its result file
go on for the other town, leave the frozen town's persons untouched and say how many waited."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from agencies.errors import Conflict
from agencies.freeze import freeze_lift, freeze_set
from agencies.models import Role
from agencies.tests.factories import region_line
from benefits.tests.factories import make_contributor, pension_line
from contributions import services as contribution_services
from contributions.bank import deduct_batch_issue
from contributions.models import Contribution
from contributions.tests.factories import make_policy
from funds.batches import receipt_settle, result_receive
from funds.models import BankBatchLine, ReceiptStatus, ResultReceipt
from funds.tests.bank_factories import make_partner, result_file

TODAY = timezone.localdate()
YEAR = TODAY.year
ISSUED_ON = max(TODAY - dt.timedelta(days=5), dt.date(YEAR, 1, 1))
BANK = "ICBC1"
TOWN_FROZEN = "320412102"
MERGER = "merger:9"


@pytest.fixture
def region():
    line = pension_line("320412", rates={YEAR: "0.01500"})
    make_policy(line)
    partner = make_partner(line, code=BANK)
    other = region_line(county="320412", township="102")  # the second town of the same pooling region
    persons = []
    for place, name, account in ((line, "甲", "6228480000000000011"), (other, "乙", "6228480000000000022")):
        person = make_contributor(place, name=name, birth_date=dt.date(1980, 6, 1), years=5, last_year=YEAR - 1,
                                  bank_code=BANK, bank_account=account)  # fmt: skip
        agent = place.staff(Role.VILLAGE_AGENT)
        contribution_services.tier_choice_record(actor=agent, person=person, year=YEAR, amount=Decimal(300))
        persons.append(person)
    return line, partner, persons[0], persons[1]


def issue(line, partner):
    return deduct_batch_issue(
        actor=line.staff(Role.COUNTY_FUND_OFFICER),
        partner=partner,
        pooling_region=line.pooling_region,
        year=YEAR,
        issued_on=ISSUED_ON,
    )


@pytest.mark.django_db
def test_deduction_batch_leaves_the_frozen_town_out_and_takes_it_after_the_lift(region):
    line, partner, open_person, frozen_person = region
    freeze_set(prefixes=[TOWN_FROZEN], label="并轨测试", reference=MERGER)

    batch = issue(line, partner)

    assert (batch.record_count, batch.total_amount) == (1, Decimal("300.00"))
    assert list(BankBatchLine.objects.filter(batch=batch).values_list("person_id", flat=True)) == [open_person.pk]
    assert batch.frozen_left_out == 1
    assert batch.frozen_notice == "1 人所在乡镇因并轨封存，本次未纳入。"

    freeze_lift(reference=MERGER)
    later = issue(line, partner)
    assert list(BankBatchLine.objects.filter(batch=later).values_list("person_id", flat=True)) == [frozen_person.pk]
    assert later.frozen_left_out == 0
    assert later.frozen_notice == ""


@pytest.mark.django_db
def test_deduction_batch_of_a_wholly_frozen_region_is_refused_with_the_freeze_message(region):
    line, partner, _, _ = region
    freeze_set(prefixes=["320412"], label="并轨测试", reference=MERGER)
    with pytest.raises(Conflict) as refused:
        issue(line, partner)
    assert refused.value.code == "frozen"
    assert "并轨测试" in refused.value.message


@pytest.mark.django_db
def test_result_file_settles_the_open_town_and_the_frozen_town_waits_for_the_lift(region):
    # given a batch of both towns issued before the freeze, and the bank's answer (both paid)
    line, partner, open_person, frozen_person = region
    batch = issue(line, partner)
    assert batch.record_count == 2
    received = result_receive(partner=partner, batch_no=batch.batch_no, data=result_file(batch), idempotency_key="r1")
    # one line a chunk, so the towns' lines fall into different chunks
    ResultReceipt.objects.filter(pk=received.receipt.pk).update(chunk_size=1)
    freeze_set(prefixes=[TOWN_FROZEN], label="并轨测试", reference=MERGER)

    # when it is settled while the town is frozen
    with pytest.raises(Conflict) as waiting:
        receipt_settle(receipt_id=received.receipt.pk)

    # then the open town's deduction is posted, the frozen one's waits and the file is not closed
    assert waiting.value.code == "frozen"
    assert "1 人所在乡镇因并轨封存，本次未纳入。" in waiting.value.message
    paid = Contribution.objects.filter(year=YEAR)
    assert list(paid.values_list("person_id", "personal_amount")) == [(open_person.pk, Decimal("300.00"))]
    assert ResultReceipt.objects.get(pk=received.receipt.pk).status == ReceiptStatus.PROCESSING

    # and after the lift the same settlement finishes it
    freeze_lift(reference=MERGER)
    receipt = receipt_settle(receipt_id=received.receipt.pk)
    assert receipt.status == ReceiptStatus.SETTLED
    assert sorted(paid.values_list("person_id", flat=True)) == sorted([open_person.pk, frozen_person.pk])
    assert receipt.exception_count == 0


@pytest.mark.django_db
def test_the_fund_officer_is_told_on_the_page_how_many_waited(region, client):
    line, partner, _, _ = region
    freeze_set(prefixes=[TOWN_FROZEN], label="并轨测试", reference=MERGER)
    client.force_login(line.staff(Role.COUNTY_FUND_OFFICER))

    response = client.post(
        reverse("contributions:deduct_issue"),
        {"pooling_region": line.pooling_region.pk, "partner": partner.pk, "year": str(YEAR)},
        follow=True,
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert "已下发代扣批次" in html and "1 人所在乡镇因并轨封存，本次未纳入。" in html
