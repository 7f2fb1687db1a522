"""A small source region with hand-made persons for the export tests, every figure checkable by hand.

Source 新北区 (pooling region 320411): township 320411101 with community 001 (urban) and village 201 (rural).
Target 320412; both under the city 3204, whose supervisor runs the merger. Frozen 2015-12-26 18:00 (+08:00).

Exported, in insurance-number order (the order they are made):
  wang  王芳 F, community, contributing. Account: personal 500.00, subsidy 70.00, collective 50.00,
        donation 30.00, 代缴 100.00, interest 5.00 (2013) + 7.34 (2014) → balance 762.34.
        Contributions: 2013 bank file 300/300 subsidy 40; 2014 back payment at the counter 200/200 subsidy 0;
        2015 代缴 tier 100, personal 0, subsidy 30, 代缴 100, collective credit 50.00, donation 30.00.
        Groups: 低保 (open), 计生 (ends 2016-06-30), 重残 (ended 2015-06-30, not exported).
        Deemed years 3 + 2 (and 4 employees' scheme years, not deemed). Tier choices 2015 (not exported),
        2016 500.00.
  li    李强 M, village, receiving (monthly). Account: personal 2000.00. Contribution 2012 counter 500/500
        subsidy 60. Periods: 2012-07 (70+20=90), 2015-01 (100+20=120, in force in December 2015), 2015-07
        (replaced by a recalculation), 2016-01 (150+20=170). Payroll: 2015-11 confirmed, 2015-12 draft.
  zhao  赵敏 F, cancelled with a death record → deceased.
  qian  钱进 M, cancelled (emigrated), a stopped award → cancelled.
  sun   孙丽 F, a suspended basic-only award whose only period starts 2016-01. Account: personal 800.00,
        subsidy 200.00.
Not exported: a pending registration and a withdrawn one in the source, a person of the target.

Totals: 5 persons, 2 recipients, balances 762.34 + 2000.00 + 1000.00 = 3762.34, personal contributions
300 + 200 + 0 + 500 = 1000.00, government subsidies 40 + 0 + 30 + 60 = 130.00.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from agencies.models import Region, RegionLevel, Role, User
from agencies.tests.factories import RegionFactory, RegionLine, region_line
from benefits.models import (
    Award,
    AwardCategory,
    AwardPeriod,
    AwardStatus,
    DeathRecord,
    LineKind,
    PayrollLine,
    PayrollRun,
    PayrollStatus,
    PensionParameters,
    Recalculation,
    YearsCredit,
    YearsCreditKind,
)
from contributions.models import (
    Channel,
    CollectiveSubsidy,
    CollectiveSubsidyCredit,
    Contribution,
    ContributionKind,
    Donation,
    TierChoice,
)
from enrollment.models import InsuredPerson, PersonStatus, SpecialGroup, SpecialGroupMembership
from enrollment.tests.factories import make_person, new_id_number
from funds.models import Component, EntryKind, IndividualAccount
from funds.services import Posting, account_open, ledger_post
from funds.tests.ledger_data import post_interest
from migration.models import MergerProject, Step
from migration.services import project_create, step_finish

D = Decimal
FROZEN_AT = dt.datetime(2015, 12, 26, 18, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


@dataclass
class SourceWorld:
    source: RegionLine
    target: RegionLine
    community: Region
    supervisor: User
    project: MergerProject
    wang: InsuredPerson
    li: InsuredPerson
    zhao: InsuredPerson
    qian: InsuredPerson
    sun: InsuredPerson
    li_award: Award


def _account(person: InsuredPerson, **components: str) -> IndividualAccount:
    kinds = {
        Component.PERSONAL: EntryKind.CONTRIBUTION,
        Component.GOVERNMENT_SUBSIDY: EntryKind.SUBSIDY,
        Component.COLLECTIVE: EntryKind.COLLECTIVE,
        Component.DONATION: EntryKind.DONATION,
        Component.GOVERNMENT_PAID: EntryKind.GOVERNMENT_PAID,
    }
    account = account_open(person=person, opened_on=dt.date(2012, 3, 1))
    ledger_post(
        account=account,
        postings=[Posting(component, kinds[component], D(amount)) for component, amount in components.items()],
        booked_on=dt.date(2015, 3, 1),
        reference=f"opening:{person.pk}",
        idempotency_key=f"export-test-opening:{person.pk}",
    )
    return account


def _contribution(person: InsuredPerson, year: int, **fields) -> Contribution:
    values = {
        "kind": ContributionKind.REGULAR,
        "government_subsidy": D("0.00"),
        "government_paid": D("0.00"),
        "paid_on": dt.date(year, 3, 15),
        "channel": Channel.BANK_FILE,
        "bank_code": "ABC",
        **fields,
    }
    return Contribution.objects.create(
        person=person, year=year, region_code=person.region_code, bank_reference=f"T{person.pk}-{year}", **values
    )


def _award(person: InsuredPerson, line: RegionLine, clerk: User, **fields) -> Award:
    values = {
        "category": AwardCategory.MONTHLY_PENSION,
        "status": AwardStatus.ACTIVE,
        "start_month": dt.date(2012, 7, 1),
        "years_paid": 15,
        "account_divisor": 139,
        **fields,
    }
    return Award.objects.create(
        person=person,
        region_code=person.region_code,
        pooling_region=line.pooling_region,
        birth_date=person.birth_date,
        approved_by=clerk,
        **values,
    )


def _period(award: Award, parameters: PensionParameters, month: dt.date, basic: str, account: str, **fields):
    return AwardPeriod.objects.create(
        award=award,
        valid_from=month,
        parameters=parameters,
        central_minimum=D(basic),
        basic_pension=D(basic),
        account_pension=D(account),
        total=D(basic) + D(account),
        **fields,
    )


def source_world() -> SourceWorld:
    source = region_line(county="320411", township="101", village="201")
    target = region_line(county="320412", township="101", village="201")
    community = RegionFactory(code="320411101001", name="新桥社区", level=RegionLevel.VILLAGE, parent=source.township)
    supervisor = source.staff(Role.CITY_SUPERVISOR)
    clerk = source.staff(Role.COUNTY_CLERK)
    project = project_create(
        actor=supervisor,
        name="新北区并入市统筹",
        source_pooling_region=source.pooling_region,
        target_pooling_region=target.pooling_region,
        cutover_date=dt.date(2016, 1, 1),
        source_tiers_until=dt.date(2016, 6, 30),
        deemed_years_until=dt.date(2015, 12, 31),
    )

    # 王芳: a contributor in a community, every component and channel.
    wang = make_person(
        community,
        name="王芳",
        birth_date=dt.date(1970, 5, 17),
        id_number=new_id_number("320411", dt.date(1970, 5, 17), male=False),
        address="新桥社区长江路8号",
        phone="13800000001",
        bank_code="ABC",
        bank_account="6228480000000000011",
        enrolled_on=dt.date(2013, 3, 1),
    )
    account = _account(
        wang, personal="500.00", government_subsidy="70.00", collective="50.00", donation="30.00",
        government_paid="100.00",
    )  # fmt: skip
    post_interest(account, 2013, "5.00")
    post_interest(account, 2014, "7.34")
    _contribution(wang, 2013, tier_amount=D(300), personal_amount=D(300), government_subsidy=D(40))
    _contribution(
        wang, 2014, kind=ContributionKind.BACK_PAYMENT, tier_amount=D(200), personal_amount=D(200),
        channel=Channel.COUNTER, paid_on=dt.date(2015, 6, 1),
    )  # fmt: skip
    _contribution(
        wang, 2015, tier_amount=D(100), personal_amount=D(0), government_subsidy=D(30), government_paid=D(100),
        channel=Channel.COUNTER,
    )  # fmt: skip
    subsidy = CollectiveSubsidy.objects.create(
        village=community, region_code=community.code, year=2015, amount_per_person=D(50), recorded_by=clerk
    )
    CollectiveSubsidyCredit.objects.create(subsidy=subsidy, person=wang, amount=D("50.00"))
    Donation.objects.create(
        person=wang, region_code=wang.region_code, year=2015, donor="新北区慈善总会", amount=D("30.00"),
        received_on=dt.date(2015, 5, 1), recorded_by=clerk,
    )  # fmt: skip
    for group, ends_on in (
        (SpecialGroup.SUBSISTENCE, None),
        (SpecialGroup.FAMILY_PLANNING, dt.date(2016, 6, 30)),
        (SpecialGroup.SEVERE_DISABILITY, dt.date(2015, 6, 30)),
    ):
        SpecialGroupMembership.objects.create(
            person=wang, group=group, certifying_department="民政部门", certified_on=dt.date(2014, 1, 1),
            ends_on=ends_on, recorded_by=clerk,
        )  # fmt: skip
    for kind, years, reference in (
        (YearsCreditKind.DEEMED, 3, "武装部证明 2013-1"),
        (YearsCreditKind.DEEMED, 2, "武装部证明 2013-2"),
        (YearsCreditKind.EMPLOYEES_SCHEME, 4, "职工养老转移接续"),
    ):
        YearsCredit.objects.create(person=wang, kind=kind, years=years, reference=reference, recorded_by=clerk)
    TierChoice.objects.create(person=wang, year=2015, amount=D(100), region_code=wang.region_code)
    TierChoice.objects.create(person=wang, year=2016, amount=D(500), region_code=wang.region_code)

    # 李强: a recipient in a village, with periods around the freeze and a confirmed payroll.
    li = make_person(
        source.village, name="李强", birth_date=dt.date(1950, 2, 3), id_number=new_id_number("320411", dt.date(1950, 2, 3)),
        enrolled_on=dt.date(2011, 7, 1),
    )  # fmt: skip
    _account(li, personal="2000.00")
    _contribution(
        li, 2012, tier_amount=D(500), personal_amount=D(500), government_subsidy=D(60), channel=Channel.COUNTER
    )
    li_award = _award(li, source, clerk, bank_code="ABC", bank_account="6228480000000000029")
    parameters = PensionParameters.objects.create(
        pooling_region=source.pooling_region, valid_from=dt.date(2012, 7, 1), created_by=clerk
    )
    recalculation = Recalculation.objects.create(
        pooling_region=source.pooling_region, parameters=parameters, from_month=dt.date(2015, 7, 1), actor=clerk
    )
    _period(li_award, parameters, dt.date(2012, 7, 1), "70.00", "20.00")
    _period(li_award, parameters, dt.date(2015, 1, 1), "100.00", "20.00")
    _period(li_award, parameters, dt.date(2015, 7, 1), "999.00", "20.00", replaced_by=recalculation)
    _period(li_award, parameters, dt.date(2016, 1, 1), "150.00", "20.00")
    for month, status in ((dt.date(2015, 11, 1), PayrollStatus.CONFIRMED), (dt.date(2015, 12, 1), PayrollStatus.DRAFT)):
        run = PayrollRun.objects.create(
            pooling_region=source.pooling_region, month=month, status=status, prepared_by=clerk,
            prepared_at=FROZEN_AT,
        )  # fmt: skip
        PayrollLine.objects.create(
            run=run, award=li_award, person=li, region_code=li.region_code, kind=LineKind.PENSION,
            category=li_award.category, basic_pension=D(100), account_pension=D(20), total=D(120),
        )  # fmt: skip

    # 赵敏 died; 钱进 emigrated (his award stopped).
    zhao = make_person(
        source.village, name="赵敏", birth_date=dt.date(1948, 1, 9), id_number=new_id_number("320411", dt.date(1948, 1, 9), male=False),
        status=PersonStatus.CANCELLED,
    )  # fmt: skip
    DeathRecord.objects.create(person=zhao, died_on=dt.date(2015, 8, 1), source="公安户籍注销", recorded_by=clerk)
    qian = make_person(
        source.village, name="钱进", birth_date=dt.date(1952, 4, 4), id_number=new_id_number("320411", dt.date(1952, 4, 4)),
        status=PersonStatus.CANCELLED,
    )  # fmt: skip
    _award(qian, source, clerk, status=AwardStatus.STOPPED, stop_reason="other")

    # 孙丽: a suspended basic-only award whose only period starts after the freeze.
    sun = make_person(
        community, name="孙丽", birth_date=dt.date(1940, 10, 1), id_number=new_id_number("320411", dt.date(1940, 10, 1), male=False),
        enrolled_on=dt.date(2011, 7, 1),
    )  # fmt: skip
    _account(sun, personal="800.00", government_subsidy="200.00")
    sun_award = _award(sun, source, clerk, category=AwardCategory.BASIC_ONLY, status=AwardStatus.SUSPENDED)
    _period(sun_award, parameters, dt.date(2016, 1, 1), "130.00", "0.00")

    # Not exported: registrations pending or withdrawn, and a person of the target.
    make_person(source.village, name="周未审", status=PersonStatus.PENDING)
    make_person(source.village, name="吴撤回", status=PersonStatus.VOID)
    make_person(target.village, name="郑目标")

    return SourceWorld(source, target, community, supervisor, project, wang, li, zhao, qian, sun, li_award)


def freeze(world: SourceWorld) -> MergerProject:
    """Settle and freeze done, as the steps record them (the database guard of the freeze is not needed here)."""
    step_finish(world.project, Step.SETTLE, actor=world.supervisor)
    step_finish(world.project, Step.FREEZE, actor=world.supervisor)
    MergerProject.objects.filter(pk=world.project.pk).update(frozen_at=FROZEN_AT)
    world.project.refresh_from_db()
    return world.project
