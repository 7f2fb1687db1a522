"""数据封存 holds on every write path a clerk, a fund officer or a bank has.

Two identical areas are built through the services: 新北区 (320411), then frozen for a merger, and 武进区
(320412), left open; a third county (320413) receives transfers. Each write path is tried in both: in the
frozen area it is refused with the message naming the merger and not one row of the register, the accounts,
the benefits or the bank files changes; the same call in the open area goes through and changes something
(so a path that writes nothing cannot pass for refused). A few paths also go through the API and the
browser, which answer 409 with the message. After the lift the frozen area takes the same writes again.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.apps import apps
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from openpyxl import Workbook
from rest_framework.test import APIClient

from agencies.errors import DomainError
from agencies.freeze import freeze_bypass, freeze_lift, freeze_set, frozen_refusal
from agencies.models import Role, User
from agencies.tests.factories import RegionLine
from benefits import payroll
from benefits import services as benefit_services
from benefits.models import Award, AwardStatus, Claim, StopReason
from benefits.tests.factories import make_award, make_contributor, pension_line
from contributions import services as contribution_services
from contributions.bank import counter_payment_post, deduct_batch_issue
from contributions.models import Channel, ContributionKind
from contributions.tests.factories import make_policy
from enrollment import services as enrollment_services
from enrollment.idnumber import make as make_id_number
from enrollment.models import Application, InsuredPerson, SpecialGroup
from enrollment.tests.factories import make_person
from funds.batches import receipt_settle, result_receive
from funds.models import BankBatch, BankPartner, Component, EntryKind, IndividualAccount
from funds.services import Posting, ledger_post
from funds.settlement import settle_year
from funds.tests.bank_factories import make_key, make_partner, result_file

LABEL = "新北区并入市统筹（并轨项目 #7）"
MESSAGE = f"该记录所属地区的数据已因“{LABEL}”封存，暂不能修改。"
FROZEN, OPEN, ELSEWHERE = "320411", "320412", "320413"
TODAY = timezone.localdate()
YEAR = TODAY.year
# Bank files are answered the day after they are issued: issued a few days ago, the answer is not in the future.
ISSUED_ON = max(TODAY - dt.timedelta(days=5), dt.date(YEAR, 1, 1))
# A claim approved on the last day of last month starts this month, in this year (whose rate is set).
CLAIM_DAY = TODAY.replace(day=1) - dt.timedelta(days=1)
# The apps whose rows a refused write must leave exactly as they were; a bank key's use is logged either way.
WATCHED_APPS = ("enrollment", "contributions", "benefits", "funds")
UNWATCHED = ("funds.BankCredential", "funds.CredentialUse")


@dataclass
class Area:
    line: RegionLine
    partner: BankPartner
    agent: User
    township: User
    clerk: User
    approver: User
    officer: User
    payer: InsuredPerson  # active, banks with the partner, a tier chosen for this year
    recipient: InsuredPerson
    award: Award
    aged: InsuredPerson  # 60 and 15 years paid, no claim yet
    late: InsuredPerson  # within 15 years of 60 when the scheme started: may pay back years
    claim: Claim  # accepted by the township, waiting for the county
    submitted: Application  # a change waiting for the township
    accepted: Application  # a registration waiting for the county
    batch: BankBatch  # this year's deductions, issued


def build_area(county: str, bank: str) -> Area:
    line = pension_line(county, rates={YEAR - 1: "0.01500", YEAR: "0.01500"}, valid_from=dt.date(2024, 1, 1))
    make_policy(line)
    partner = make_partner(line, code=bank)
    agent, township = line.staff(Role.VILLAGE_AGENT), line.staff(Role.TOWNSHIP_CLERK)
    clerk, approver = line.staff(Role.COUNTY_CLERK), line.staff(Role.COUNTY_APPROVER)
    officer = line.staff(Role.COUNTY_FUND_OFFICER)

    payer = make_contributor(
        line, name="缴费人", birth_date=dt.date(1980, 6, 1), years=5, last_year=YEAR - 1, balance=Decimal("2500.00"),
        booked_on=dt.date(YEAR - 1, 3, 1), bank_code=bank, bank_account="6228480000000000011",
    )  # fmt: skip
    contribution_services.tier_choice_record(actor=agent, person=payer, year=YEAR, amount=Decimal(300))
    batch = deduct_batch_issue(
        actor=officer, partner=partner, pooling_region=line.pooling_region, year=YEAR, issued_on=ISSUED_ON
    )

    recipient = make_contributor(line, name="领取人", birth_date=dt.date(1960, 3, 10), last_year=2024)
    award = make_award(line, recipient, claimed_on=dt.date(2025, 4, 1))
    aged = make_contributor(line, name="到龄人", birth_date=dt.date(1962, 1, 10), last_year=2024)
    late = make_person(line.village, name="补缴人", birth_date=dt.date(1960, 6, 1))
    claimant = make_contributor(line, name="申领人", birth_date=dt.date(1961, 1, 10), last_year=2024)
    claim = benefit_services.claim_submit(actor=agent, person=claimant, today=CLAIM_DAY)
    benefit_services.claim_accept(actor=township, claim=claim)

    changer = make_person(line.village, name="变更人", birth_date=dt.date(1975, 1, 1))
    submitted = enrollment_services.change_submit(actor=agent, person=changer, changes={"phone": "13900000001"})
    accepted = enrollment_services.registration_submit(
        actor=agent,
        village=line.village,
        id_number=make_id_number(county, dt.date(1985, 2, 2), 11),
        data={"name": "新登记", "phone": "13800000000"},
        today=TODAY,
    )
    enrollment_services.application_accept(actor=township, application=accepted)
    # Last year's interest is settled: a pension starting this month closes the account's months of this year.
    settle_year(pooling_region=line.pooling_region, year=YEAR - 1)
    return Area(
        line, partner, agent, township, clerk, approver, officer, payer, recipient, award, aged, late, claim,
        submitted, accepted, batch,
    )  # fmt: skip


@dataclass
class World:
    frozen: Area
    open: Area
    elsewhere: RegionLine


@pytest.fixture
def world() -> World:
    frozen = build_area(FROZEN, "ABC01")
    open_ = build_area(OPEN, "ICBC1")
    elsewhere = pension_line(ELSEWHERE, rates={})
    freeze_set(prefixes=[FROZEN], label=LABEL, reference="merger:7")
    return World(frozen, open_, elsewhere)


def fingerprint() -> dict[str, list[tuple]]:
    """Every row of the watched apps, as values."""
    rows = {}
    for model in apps.get_models():
        if model._meta.app_label in WATCHED_APPS and not model._meta.proxy and model._meta.label not in UNWATCHED:
            rows[model._meta.label] = list(model._base_manager.order_by("pk").values_list())
    return rows


def refused(write: Callable[[], object]) -> DomainError:
    """Run a write in its own savepoint; it must be refused by the freeze. Returns the clerk's refusal."""
    try:
        with transaction.atomic():
            write()
    except Exception as exc:  # noqa: BLE001 - any refusal is judged below
        refusal = exc if isinstance(exc, DomainError) and exc.code == "frozen" else frozen_refusal(exc)
        assert refusal is not None, f"refused for another reason: {exc!r}"
        return refusal
    pytest.fail("the write went through in the frozen area")


def _xlsx(rows: list[tuple]) -> bytes:
    book = Workbook()
    book.active.append(["身份证号", "姓名", "选择档次(元)"])
    for row in rows:
        book.active.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# --- the write paths, each a call that writes in the area it is given ---------------------------------------


def registration_submit(a: Area, w: World) -> None:
    enrollment_services.registration_submit(
        actor=a.agent,
        village=a.line.village,
        id_number=make_id_number(a.line.county.code[:6], dt.date(1990, 3, 3), 21),
        data={"name": "再登记"},
        today=TODAY,
    )


def application_accept(a: Area, w: World) -> None:
    enrollment_services.application_accept(actor=a.township, application=a.submitted)


def application_return(a: Area, w: World) -> None:
    enrollment_services.application_return(actor=a.township, application=a.submitted, reason="材料不全")


def application_approve(a: Area, w: World) -> None:
    enrollment_services.application_approve(actor=a.approver, application=a.accepted, today=TODAY)


def change_submit(a: Area, w: World) -> None:
    enrollment_services.change_submit(actor=a.agent, person=a.payer, changes={"address": "新村路8号"})


def cancellation_submit(a: Area, w: World) -> None:
    enrollment_services.cancellation_submit(
        actor=a.agent,
        person=a.payer,
        cancellation_reason="emigration",
        event_date=TODAY,
        proof="定居证明",
        reason="出国定居",
    )


def special_group_record(a: Area, w: World) -> None:
    enrollment_services.special_group_record(
        actor=a.township,
        person=a.payer,
        group=SpecialGroup.SUBSISTENCE,
        certified_on=TODAY,
        certifying_department="民政部门",
    )


def tier_choice_record(a: Area, w: World) -> None:
    contribution_services.tier_choice_record(actor=a.agent, person=a.payer, year=YEAR, amount=Decimal(500))


def tier_choices_import(a: Area, w: World) -> None:
    contribution_services.tier_choices_import(
        actor=a.agent, year=YEAR, file_name="档次.xlsx", content=_xlsx([(a.payer.id_number, a.payer.name, 500)])
    )


def counter_payment(a: Area, w: World) -> None:
    contribution_services.contribution_post(
        actor=a.township,
        person=a.payer,
        year=YEAR,
        amount=Decimal(300),
        paid_on=TODAY,
        channel=Channel.COUNTER,
        bank_code=a.partner.code,
        bank_reference=f"CT-{a.payer.pk}",
    )


def back_payment(a: Area, w: World) -> None:
    contribution_services.contribution_post(
        actor=a.township,
        person=a.late,
        year=2015,
        amount=Decimal(300),
        paid_on=TODAY,
        channel=Channel.COUNTER,
        bank_code=a.partner.code,
        bank_reference=f"BP-{a.late.pk}",
        kind=ContributionKind.BACK_PAYMENT,
    )


def bank_counter_payment(a: Area, w: World) -> None:
    counter_payment_post(
        partner=a.partner,
        insurance_no=a.payer.insurance_number,
        year=YEAR,
        amount=Decimal("300.00"),
        paid_on=TODAY,
        bank_txn_id=f"BK-{a.payer.pk}",
    )


def collective_subsidy(a: Area, w: World) -> None:
    counter_payment(a, w)  # a contributor of the year to credit
    contribution_services.collective_subsidy_record(
        actor=a.township, village=a.line.village, year=YEAR, amount_per_person=Decimal(50)
    )


def donation(a: Area, w: World) -> None:
    contribution_services.donation_record(
        actor=a.township, person=a.payer, year=YEAR, donor="慈善总会", amount=Decimal(100), received_on=TODAY
    )


def claim_submit(a: Area, w: World) -> None:
    benefit_services.claim_submit(actor=a.agent, person=a.aged, today=TODAY)


def claim_approve(a: Area, w: World) -> None:
    benefit_services.claim_approve(actor=a.approver, claim=a.claim, today=CLAIM_DAY)


def award_suspend(a: Area, w: World) -> None:
    benefit_services.award_suspend(
        actor=a.approver, award=a.award, from_month=TODAY.replace(day=1), reason=StopReason.OTHER
    )


def award_resume(a: Area, w: World) -> None:
    # suspended as it was before the freeze (written past the guard, in this call's transaction)
    with transaction.atomic(), freeze_bypass():
        Award.objects.filter(pk=a.award.pk).update(status=AwardStatus.SUSPENDED, paid_until=TODAY.replace(day=1))
    a.award.refresh_from_db()
    benefit_services.award_resume(actor=a.approver, award=a.award, today=TODAY)


def award_stop(a: Area, w: World) -> None:
    benefit_services.award_stop(
        actor=a.approver, award=a.award, from_month=TODAY.replace(day=1), reason=StopReason.OTHER, note="核查"
    )


def monthly_confirmation(a: Area, w: World) -> None:
    benefit_services.monthly_confirmation_record(
        actor=a.township, award=a.award, month=TODAY.replace(day=1), alive=True
    )


def yearly_check(a: Area, w: World) -> None:
    benefit_services.yearly_check_record(actor=a.township, award=a.award, year=YEAR, channel="office", checked_on=TODAY)


def death_record(a: Area, w: World) -> None:
    benefit_services.death_record(
        actor=a.township, person=a.recipient, died_on=TODAY - dt.timedelta(days=3), source="公安户籍注销", today=TODAY
    )


def transfer_request(a: Area, w: World) -> None:
    benefit_services.transfer_request(
        actor=w.elsewhere.staff(Role.COUNTY_CLERK),
        id_number=a.payer.id_number,
        to_village=w.elsewhere.village,
        hukou_moved_on=TODAY - dt.timedelta(days=10),
        today=TODAY,
    )


def payroll_prepare(a: Area, w: World) -> None:
    payroll.payroll_prepare(actor=a.officer, pooling_region=a.line.pooling_region, month=TODAY.replace(day=1))


def deduct_issue(a: Area, w: World) -> None:
    contribution_services.tier_choice_record(actor=a.agent, person=a.payer, year=YEAR + 1, amount=Decimal(300))
    deduct_batch_issue(
        actor=a.officer, partner=a.partner, pooling_region=a.line.pooling_region, year=YEAR + 1, issued_on=TODAY
    )


def bank_result_settlement(a: Area, w: World) -> None:
    received = result_receive(
        partner=a.partner, batch_no=a.batch.batch_no, data=result_file(a.batch), idempotency_key=f"r-{a.batch.pk}"
    )
    receipt_settle(receipt_id=received.receipt.pk)


def interest_settlement(a: Area, w: World) -> None:
    settle_year(pooling_region=a.line.pooling_region, year=YEAR)


def ledger_posting(a: Area, w: World) -> None:
    ledger_post(
        account=IndividualAccount.objects.get(person=a.payer),
        postings=[Posting(Component.PERSONAL, EntryKind.CONTRIBUTION, Decimal("10.00"))],
        booked_on=TODAY,
        reference="manual:1",
        idempotency_key=f"manual:{a.payer.pk}",
    )


WRITE_PATHS = [
    registration_submit,
    application_accept,
    application_return,
    application_approve,
    change_submit,
    cancellation_submit,
    special_group_record,
    tier_choice_record,
    tier_choices_import,
    counter_payment,
    back_payment,
    bank_counter_payment,
    collective_subsidy,
    donation,
    claim_submit,
    claim_approve,
    award_suspend,
    award_resume,
    award_stop,
    monthly_confirmation,
    yearly_check,
    death_record,
    transfer_request,
    payroll_prepare,
    deduct_issue,
    bank_result_settlement,
    interest_settlement,
    ledger_posting,
]


@pytest.mark.django_db
@pytest.mark.parametrize("write", WRITE_PATHS, ids=[w.__name__ for w in WRITE_PATHS])
def test_every_write_path_is_refused_in_the_frozen_area_and_works_elsewhere(world, write):
    # given the frozen area as it stands
    before = fingerprint()

    # when the write is tried there, then it is refused naming the merger and nothing changed
    refusal = refused(lambda: write(world.frozen, world))
    assert refusal.message == MESSAGE
    assert refusal.status_code == 409
    assert fingerprint() == before

    # and the same write in the open area goes through
    with transaction.atomic():
        write(world.open, world)
    assert fingerprint() != before


@pytest.mark.django_db
@pytest.mark.parametrize(
    "write", [change_submit, counter_payment, claim_approve, interest_settlement], ids=lambda w: w.__name__
)
def test_after_the_lift_the_area_takes_writes_again(world, write):
    freeze_lift(reference="merger:7")
    before = fingerprint()
    with transaction.atomic():
        write(world.frozen, world)
    assert fingerprint() != before


# --- through the API and the browser ------------------------------------------------------------------------


def api_client(user: User) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_api_answers_409_with_the_message(world):
    before = fingerprint()
    for area, expected in ((world.frozen, 409), (world.open, 201)):
        response = api_client(area.agent).post(
            "/api/v1/tier-choices/", {"person": area.payer.pk, "year": YEAR, "amount": "500"}, format="json"
        )
        assert response.status_code == expected, response.content
        if expected == 409:
            assert response.json() == {"detail": MESSAGE, "code": "frozen"}
            assert fingerprint() == before


@pytest.mark.django_db
def test_bank_counter_payment_over_the_bank_api_answers_409(world):
    before = fingerprint()
    for area, expected in ((world.frozen, 409), (world.open, 201)):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {make_key(area.line, area.partner)}")
        before = fingerprint()
        response = client.post(
            "/api/v1/bank/counter-payments/",
            {
                "insurance_no": area.payer.insurance_number,
                "year": YEAR,
                "amount": "300.00",
                "paid_on": f"{TODAY:%Y-%m-%d}",
                "bank_txn_id": f"API-{area.payer.pk}",
            },
            format="json",
        )
        assert response.status_code == expected, response.content
        if expected == 409:
            assert response.json()["detail"] == MESSAGE
            assert fingerprint() == before


@pytest.mark.django_db
def test_browser_form_answers_409_with_the_message(world, client):
    client.force_login(world.frozen.agent)
    before = fingerprint()

    response = client.post(
        reverse("contributions:tier_choice", args=[world.frozen.payer.pk]), {"year": YEAR, "amount": "500"}
    )

    assert response.status_code == 409
    assert MESSAGE in response.content.decode()
    assert fingerprint() == before

    client.force_login(world.open.agent)
    response = client.post(
        reverse("contributions:tier_choice", args=[world.open.payer.pk]), {"year": YEAR, "amount": "500"}
    )
    assert response.status_code == 302


@pytest.mark.django_db
def test_htmx_request_gets_a_fragment_with_409(world, client):
    client.force_login(world.frozen.township)
    response = client.post(
        reverse("enrollment:application_accept", args=[world.frozen.submitted.pk]), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 409
    assert response.content.decode() == f'<p class="error" role="alert">{MESSAGE}</p>'
