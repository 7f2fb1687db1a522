"""结算核对: each item counted on hand-built data in the source (新北区 320411), nothing counted in the target.

On 2015-12-20: the month is December 2015, the prior year 2014.
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import pytest

from agencies.errors import Conflict
from agencies.models import Role, User
from agencies.tests.factories import RegionLine, region_line
from benefits.models import (
    Award,
    AwardCategory,
    AwardStatus,
    Claim,
    ClaimStatus,
    LineKind,
    PayoutStatus,
    PayrollLine,
    PayrollRun,
    PayrollStatus,
)
from contributions.models import Channel, CollectiveSubsidy, CollectiveSubsidyCredit, Contribution
from enrollment.models import Application, ApplicationKind, ApplicationStatus, InsuredPerson
from enrollment.tests.factories import make_person
from funds.models import BankBatch, BankBatchLine, BankPartner, BatchKind, BatchStatus, Component, EntryKind
from funds.services import Posting, account_open, ledger_post
from funds.tests.ledger_data import post_interest
from migration.models import MergerEvent, MergerProject, Step, StepState
from migration.services import project_create, step_finish, step_of
from migration.settle import settle_check, settle_confirm

D = Decimal
ON = dt.date(2015, 12, 20)
DECEMBER = dt.date(2015, 12, 1)


@dataclass
class World:
    source: RegionLine
    target: RegionLine
    supervisor: User
    clerk: User
    project: MergerProject


@pytest.fixture
def world() -> World:
    source = region_line(county="320411")
    target = region_line(county="320412")
    supervisor = source.staff(Role.CITY_SUPERVISOR)
    project = project_create(
        actor=supervisor,
        name="新北区并入市统筹",
        source_pooling_region=source.pooling_region,
        target_pooling_region=target.pooling_region,
        cutover_date=dt.date(2016, 1, 1),
        source_tiers_until=dt.date(2016, 6, 30),
        deemed_years_until=dt.date(2015, 12, 31),
    )
    return World(source, target, supervisor, source.staff(Role.COUNTY_CLERK), project)


def counts(project: MergerProject) -> dict[str, int]:
    return {item.key: item.count for item in settle_check(project, on=ON)}


def _batch(line: RegionLine, person: InsuredPerson, clerk: User, *, status: str, number: str) -> BankBatch:
    partner, _ = BankPartner.objects.get_or_create(code="ABC01", defaults={"name": "农业银行"})
    batch = BankBatch.objects.create(
        batch_no=number,
        kind=BatchKind.DEDUCT,
        partner=partner,
        pooling_region=line.pooling_region,
        issued_on=dt.date(2015, 11, 2),
        period="2015",
        record_count=1,
        total_amount=D("300.00"),
        file_sha256="0" * 64,
        status=status,
        issued_by=clerk,
    )
    BankBatchLine.objects.create(
        batch=batch,
        seq=1,
        person=person,
        region_code=person.region_code,
        insurance_no=person.insurance_number,
        id_number=person.id_number,
        name=person.name,
        bank_account="6228480000000000011",
        amount=D("300.00"),
        period="2015",
    )
    return batch


def _award(person: InsuredPerson, line: RegionLine, clerk: User) -> Award:
    return Award.objects.create(
        person=person,
        region_code=person.region_code,
        pooling_region=line.pooling_region,
        category=AwardCategory.MONTHLY_PENSION,
        start_month=dt.date(2012, 7, 1),
        birth_date=person.birth_date,
        years_paid=15,
        account_divisor=139,
        approved_by=clerk,
    )


def _contribution(person: InsuredPerson, year: int, subsidy: str = "0.00") -> Contribution:
    return Contribution.objects.create(
        person=person,
        year=year,
        tier_amount=D(300),
        personal_amount=D(300),
        government_subsidy=D(subsidy),
        paid_on=dt.date(year, 3, 15),
        channel=Channel.COUNTER,
        bank_reference=f"T{person.pk}-{year}",
        region_code=person.region_code,
    )


@pytest.mark.django_db
def test_a_clean_source_has_every_item_ok(world):
    items = settle_check(world.project, on=ON)
    assert [item.key for item in items] == [
        "deductions",
        "payroll_unpaid",
        "awards_without_payroll",
        "government_subsidy",
        "collective_subsidy",
        "interest",
        "open_applications",
        "open_claims",
    ]
    assert all(item.ok and item.count == 0 for item in items)


@pytest.mark.django_db
def test_deduct_batches_not_settled_are_counted(world):
    payer = make_person(world.source.village, name="代扣人")
    other = make_person(world.target.village, name="外区人")
    _batch(world.source, payer, world.clerk, status=BatchStatus.ISSUED, number="D1")
    _batch(world.source, payer, world.clerk, status=BatchStatus.SETTLING, number="D2")
    _batch(world.source, payer, world.clerk, status=BatchStatus.SETTLED, number="D3")
    _batch(world.target, other, world.clerk, status=BatchStatus.ISSUED, number="D4")

    item = settle_check(world.project, on=ON)[0]
    assert (item.key, item.count, item.ok) == ("deductions", 2, False)
    assert item.detail == "2 个代扣批次尚未回盘结算"


@pytest.mark.django_db
def test_the_months_payouts(world):
    paid, unpaid, absent, suspended = (
        make_person(world.source.village, name=name, birth_date=dt.date(1950, 1, 1 + i))
        for i, name in enumerate(["已到账", "未到账", "无明细", "暂停"])
    )
    awards = {p.name: _award(p, world.source, world.clerk) for p in (paid, unpaid, absent, suspended)}
    Award.objects.filter(pk=awards["暂停"].pk).update(status=AwardStatus.SUSPENDED)
    outsider = make_person(world.target.village, name="外区领取人", birth_date=dt.date(1950, 2, 1))
    _award(outsider, world.target, world.clerk)  # no payroll at all, but not in the source
    run = PayrollRun.objects.create(
        pooling_region=world.source.pooling_region,
        month=DECEMBER,
        status=PayrollStatus.CONFIRMED,
        prepared_by=world.clerk,
        prepared_at=dt.datetime(2015, 12, 10, tzinfo=dt.UTC),
    )
    for person, status in ((paid, PayoutStatus.PAID), (unpaid, PayoutStatus.FAILED)):
        PayrollLine.objects.create(
            run=run,
            award=awards[person.name],
            person=person,
            region_code=person.region_code,
            kind=LineKind.PENSION,
            category=AwardCategory.MONTHLY_PENSION,
            total=D("120.00"),
            payout_status=status,
        )

    found = counts(world.project)
    assert found["payroll_unpaid"] == 1  # 未到账's failed line
    assert found["awards_without_payroll"] == 1  # 无明细; the suspended award is not paid, the outsider not ours

    # a November run does not pay December
    PayrollRun.objects.filter(pk=run.pk).update(month=dt.date(2015, 11, 1))
    assert counts(world.project)["awards_without_payroll"] == 3


@pytest.mark.django_db
def test_prior_year_subsidies(world):
    credited, missing, no_subsidy, this_year = (
        make_person(world.source.village, name=name, birth_date=dt.date(1970, 1, 1 + i))
        for i, name in enumerate(["已记补贴", "未记补贴", "无补贴", "今年"])
    )
    posted = _contribution(credited, 2014, "40.00")
    ledger_post(
        account=account_open(person=credited, opened_on=dt.date(2014, 3, 15)),
        postings=[
            Posting(Component.PERSONAL, EntryKind.CONTRIBUTION, D("300.00")),
            Posting(Component.GOVERNMENT_SUBSIDY, EntryKind.SUBSIDY, D("40.00")),
        ],
        booked_on=dt.date(2014, 3, 15),
        reference=f"contribution:{posted.pk}",
        idempotency_key=f"contribution:{posted.pk}",
    )
    _contribution(missing, 2014, "40.00")
    _contribution(no_subsidy, 2014)
    _contribution(this_year, 2015, "40.00")  # 2015's subsidy is not the prior year's
    outsider = make_person(world.target.village, name="外区人")
    _contribution(outsider, 2014, "40.00")

    # the village granted 50 a head for 2014; only one contributor got it
    grant = CollectiveSubsidy.objects.create(
        village=world.source.village,
        region_code=world.source.village.code,
        year=2014,
        amount_per_person=D(50),
        recorded_by=world.clerk,
    )
    CollectiveSubsidyCredit.objects.create(subsidy=grant, person=credited, amount=D("50.00"))

    found = counts(world.project)
    assert found["government_subsidy"] == 1  # 未记补贴
    assert found["collective_subsidy"] == 2  # 未记补贴 and 无补贴 paid 2014 in the village, not credited


@pytest.mark.django_db
def test_prior_year_interest(world):
    settled, unsettled, december, empty, closed = (
        make_person(world.source.village, name=name, birth_date=dt.date(1970, 1, 1 + i))
        for i, name in enumerate(["已结息", "未结息", "十二月", "零余额", "已销户"])
    )

    def account(person, booked_on, amount="300.00"):
        acc = account_open(person=person, opened_on=booked_on)
        if amount:
            ledger_post(
                account=acc,
                postings=[Posting(Component.PERSONAL, EntryKind.CONTRIBUTION, D(amount))],
                booked_on=booked_on,
                reference=f"t:{person.pk}",
                idempotency_key=f"t:{person.pk}",
            )
        return acc

    post_interest(account(settled, dt.date(2014, 3, 15)), 2014, "5.00")
    account(unsettled, dt.date(2014, 3, 15))
    account(december, dt.date(2014, 12, 5))  # earns no month of 2014
    account(empty, dt.date(2014, 3, 15), amount="")
    acc = account(closed, dt.date(2014, 3, 15))
    acc.closed_on = dt.date(2014, 10, 1)  # settled at its closing
    acc.save(update_fields=["closed_on"])
    account(make_person(world.target.village, name="外区人"), dt.date(2014, 3, 15))

    item = next(i for i in settle_check(world.project, on=ON) if i.key == "interest")
    assert (item.count, item.label) == (1, "2014年度利息已结算")


@pytest.mark.django_db
def test_open_applications_and_claims(world):
    for i, status in enumerate((ApplicationStatus.SUBMITTED, ApplicationStatus.RETURNED, ApplicationStatus.APPROVED)):
        person = make_person(world.source.village, name=f"在办{i}", birth_date=dt.date(1960, 1, 1 + i))
        Application.objects.create(
            kind=ApplicationKind.CHANGE,
            person=person,
            region_code=person.region_code,
            status=status,
            created_by=world.clerk,
        )
    Claim.objects.create(
        person=person,
        region_code=person.region_code,
        category=AwardCategory.MONTHLY_PENSION,
        status=ClaimStatus.ACCEPTED,
        eligible_from=dt.date(2015, 6, 1),
        created_by=world.clerk,
    )
    outsider = make_person(world.target.village, name="外区人")
    Application.objects.create(
        kind=ApplicationKind.CHANGE, person=outsider, region_code=outsider.region_code, created_by=world.clerk
    )

    found = counts(world.project)
    assert (found["open_applications"], found["open_claims"]) == (2, 1)


@pytest.mark.django_db
def test_confirm_fails_with_the_list_then_passes_once_done(world):
    person = make_person(world.source.village, name="在办")
    application = Application.objects.create(
        kind=ApplicationKind.CHANGE, person=person, region_code=person.region_code, created_by=world.clerk
    )

    items = settle_confirm(actor=world.supervisor, project=world.project, on=ON)

    assert [i.key for i in items if not i.ok] == ["open_applications"]
    row = step_of(world.project, Step.SETTLE)
    assert row.state == StepState.FAILED
    assert row.error == "尚未完成：1 件登记业务尚在办理中"

    # done at source, the check is run again and passes
    Application.objects.filter(pk=application.pk).update(status=ApplicationStatus.APPROVED)
    items = settle_confirm(actor=world.supervisor, project=world.project, on=ON)
    row = step_of(world.project, Step.SETTLE)
    assert row.state == StepState.DONE and all(i.ok for i in items)
    assert row.summary.startswith("核对日期 2015-12-20：年度代扣已完成：已完成")
    world.project.refresh_from_db()
    assert world.project.interest_settled_through == dt.date(2014, 12, 31)
    # repeatable until the freeze
    settle_confirm(actor=world.supervisor, project=world.project, on=ON)
    assert list(
        MergerEvent.objects.filter(project=world.project, step=Step.SETTLE).values_list("action", flat=True)
    ) == ["create", "start", "fail", "start", "finish", "start", "finish"]

    step_finish(world.project, Step.FREEZE, actor=world.supervisor)
    with pytest.raises(Conflict):
        settle_confirm(actor=world.supervisor, project=world.project, on=ON)


@pytest.mark.django_db
def test_only_a_city_supervisor_confirms(world):
    with pytest.raises(Exception) as refused:
        settle_confirm(actor=world.clerk, project=world.project, on=ON)
    assert refused.value.status_code == 403
    assert step_of(world.project, Step.SETTLE).state == StepState.PENDING
