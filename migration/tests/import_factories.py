"""A merger ready to import: the project frozen, a package whose test-load is done with no blocking finding,
and the staging rows the test passes (typed, as the test-load leaves them).

``import_world()`` builds the hand-computed case the import tests share:

Source 新北区 (pooling region 320411, village 320411001001) joins 320412 (village 320412001001) on 2016-01-01;
frozen 2015-12-26. Target parameters from 2012-01: central minimum 70.00, local top-up 50.00, divisor 139;
the target's tiers for 2016 start at 100.00.

  line 2  王芳 (A)  new, contributing, 低保 + 计生. Package number 3204110000001 is kept. Account: personal
          500.00, subsidy 70.00, collective 50.00, other 30.00, interest 12.34, pooled 100.00 → 762.34, of which
          the subsidy component holds 170.00 once the pooled part is folded. Contributions 2014 (bank
          deduction 300, subsidy 40) and 2015 (代缴: tier 100, personal 0, subsidy 30, 代缴 100). Tier choices
          2016 500.00 (stands) and 2017 800.00 (after the source's tiers end: dropped).
  line 3  李强 (B)  new, receiving. Package number is already a target person's → re-issued 32041200000001.
          Account personal 2000.00. Contribution 2012 at the counter 500, subsidy 60. Deemed years 3.
          Monthly pension from 2012-07: basic 120.00 + account 14.39 = 134.39.
  line 4  赵敏 (C)  already in this register in the source village: re-homed. Account personal 300.00 (as
          posted in the register), a 2015 contribution; no tier choice for 2016 → the default 100.00.
  line 5  钱进 (D)  new, deceased: cancelled, no account.

Balances: 762.34 + 2000.00 + 300.00 = 3062.34 (the manifest's total).
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from agencies.models import Role, User
from agencies.tests.factories import RegionLine, region_line
from benefits.tests.factories import make_parameters
from contributions.models import Channel, Contribution
from contributions.tests.factories import make_policy
from enrollment import idnumber
from enrollment.models import InsuredPerson
from enrollment.tests.factories import make_person, new_id_number
from funds.models import Component, EntryKind
from funds.services import Posting, account_open, ledger_post
from migration.freezing import freeze_apply
from migration.models import (
    MergerPackage,
    MergerProject,
    PackageOrigin,
    StagedAccount,
    StagedContribution,
    StagedPerson,
    StagedRecipient,
    StagedTierChoice,
    Step,
    TestLoad,
    TestLoadStatus,
)
from migration.services import project_create, step_finish

D = Decimal
FROZEN_AT = dt.datetime(2015, 12, 26, 18, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
_packages = itertools.count(1)


@dataclass
class ImportWorld:
    source: RegionLine
    target: RegionLine
    supervisor: User
    project: MergerProject
    package: MergerPackage
    testload: TestLoad
    rehomed: InsuredPerson  # C, already in the register
    target_person: InsuredPerson  # whose insurance number B's package number repeats


def merger_lines() -> tuple[RegionLine, RegionLine, User]:
    source = region_line(county="320411", township="001", village="001")
    target = region_line(county="320412", township="001", village="001")
    return source, target, source.staff(Role.CITY_SUPERVISOR)


def frozen_project(source: RegionLine, target: RegionLine, supervisor: User, **fields) -> MergerProject:
    """The project with Settle done and the source frozen (the database guard is live)."""
    project = project_create(
        actor=supervisor,
        name="新北区并轨",
        source_pooling_region=source.pooling_region,
        target_pooling_region=target.pooling_region,
        cutover_date=dt.date(2016, 1, 1),
        source_tiers_until=dt.date(2016, 6, 30),
        deemed_years_until=dt.date(2016, 1, 1),
        **fields,
    )
    step_finish(project, Step.SETTLE, actor=supervisor)
    freeze_apply(actor=supervisor, project=project)
    # Frozen as the Changzhou merger was (the guard itself is live from now on).
    MergerProject.objects.filter(pk=project.pk).update(frozen_at=FROZEN_AT)
    project.refresh_from_db()
    return project


def clean_testload(
    project: MergerProject,
    *,
    persons: list[dict],
    accounts: list[dict] = (),
    contributions: list[dict] = (),
    recipients: list[dict] = (),
    tier_choices: list[dict] = (),
    totals: dict | None = None,
    blocking: int = 0,
    status: str = TestLoadStatus.DONE,
    package: MergerPackage | None = None,
) -> TestLoad:
    """A test-load of a (new) package that found ``blocking`` blocking problems, with the staged rows given
    (each dict a row's fields; lines numbered from 2 in the order given unless ``line`` is passed). The
    manifest's account total is the sum of the staged balances unless ``totals`` says otherwise."""
    if package is None:
        number = next(_packages)
        balance = sum((row.get("balance") or D(0) for row in accounts), D(0))
        pooled = sum((row.get("pooled") or D(0) for row in accounts), D(0))
        package = MergerPackage.objects.create(
            project=project,
            origin=PackageOrigin.UPLOAD,
            file=f"merger/test-{number}.zip",
            file_name=f"test-{number}.zip",
            sha256=f"{number:064d}",
            package_id=f"test-{number}",
            manifest={
                "frozen_at": "2015-12-26T18:00:00+08:00",
                "totals": {
                    "persons": len(persons),
                    "account_balance": str(balance),
                    "pooled_account_balance": str(pooled),
                    **(totals or {}),
                },
            },
        )
    load = TestLoad.objects.create(
        project=project,
        package=package,
        status=status,
        blocking_count=blocking,
        rows={"persons.csv": len(persons)},
    )
    for model, rows in (
        (StagedPerson, persons),
        (StagedAccount, accounts),
        (StagedContribution, contributions),
        (StagedRecipient, recipients),
        (StagedTierChoice, tier_choices),
    ):
        model.objects.bulk_create(
            [model(testload=load, **{"line": line, **row}) for line, row in enumerate(rows, start=2)]
        )
    if status == TestLoadStatus.DONE:
        step_finish(project, Step.TESTLOAD, actor=project.created_by)
    return load


def staged_person(
    target: RegionLine,
    *,
    insurance_no: str,
    name: str,
    birth_date: dt.date,
    gender: str = "1",
    status: str = "contributing",
    existing: InsuredPerson | None = None,
    **fields,
) -> dict:
    id_number = existing.id_number if existing else new_id_number("320411", birth_date, male=gender == "1")
    return {
        "insurance_no": insurance_no,
        "id_number": id_number,
        "name": name,
        "gender": gender,
        "birth_date": birth_date,
        "hukou_type": "rural",
        "region_code": "320411001001",
        "bank_code": fields.pop("bank_code", "ABC"),
        "bank_account": fields.pop("bank_account", f"62280000{idnumber.parse(id_number).birth_date:%Y%m%d}"),
        "status": status,
        "enrolled_on": fields.pop("enrolled_on", dt.date(2012, 3, 1)),
        "target_village_id": target.village.pk,
        "target_region_code": target.village.code,
        "existing_person_id": existing.pk if existing else None,
        **fields,
    }


def account_row(insurance_no: str, **parts: str) -> dict:
    names = ("personal", "gov_subsidy", "collective", "other_subsidy", "interest", "pooled")
    values = {name: D(parts.get(name, "0.00")) for name in names}
    return {"insurance_no": insurance_no, **values, "balance": sum(values.values(), D(0))}


def import_world(**project_fields) -> ImportWorld:
    source, target, supervisor = merger_lines()
    make_policy(target, pooling_region=target.pooling_region)
    make_parameters(target, valid_from=dt.date(2012, 1, 1), central_minimum="70", local_top_up="50")
    target_person = make_person(target.village, name="郑目标")

    # C: in the register, in the source, with an account posted through the ledger and one contribution.
    rehomed = make_person(source.village, name="赵敏", birth_date=dt.date(1975, 4, 2))
    account = account_open(person=rehomed, opened_on=dt.date(2015, 3, 1))
    ledger_post(
        account=account,
        postings=[Posting(Component.PERSONAL, EntryKind.CONTRIBUTION, D("300.00"))],
        booked_on=dt.date(2015, 3, 1),
        reference="test:c",
        idempotency_key="test:c:2015",
    )
    Contribution.objects.create(
        person=rehomed,
        year=2015,
        tier_amount=D("300.00"),
        personal_amount=D("300.00"),
        government_subsidy=D("0.00"),
        government_paid=D("0.00"),
        paid_on=dt.date(2015, 3, 1),
        channel=Channel.COUNTER,
        bank_reference="c-2015",
        region_code=rehomed.region_code,
    )

    project = frozen_project(source, target, supervisor, **project_fields)
    a_no, b_no, c_no, d_no = "3204110000001", target_person.insurance_number, rehomed.insurance_number, "3204110000004"
    persons = [
        staged_person(
            target,
            insurance_no=a_no,
            name="王芳",
            birth_date=dt.date(1968, 9, 12),
            gender="2",
            special_groups="dibao;family_planning",
        ),
        staged_person(
            target, insurance_no=b_no, name="李强", birth_date=dt.date(1950, 3, 1), status="receiving", military_years=3
        ),
        staged_person(target, insurance_no=c_no, name="赵敏", birth_date=dt.date(1975, 4, 2), existing=rehomed),
        staged_person(target, insurance_no=d_no, name="钱进", birth_date=dt.date(1940, 1, 5), status="deceased"),
    ]
    accounts = [
        account_row(
            a_no,
            personal="500.00",
            gov_subsidy="70.00",
            collective="50.00",
            other_subsidy="30.00",
            interest="12.34",
            pooled="100.00",
        ),
        account_row(b_no, personal="2000.00"),
        account_row(c_no, personal="300.00"),
    ]
    contributions = [
        {
            "insurance_no": a_no,
            "year": 2014,
            "tier": D("300.00"),
            "personal": D("300.00"),
            "gov_subsidy": D("40.00"),
            "collective": D("0.00"),
            "other_subsidy": D("0.00"),
            "paid_on": dt.date(2014, 4, 1),
            "channel": "bank_deduction",
        },
        {
            "insurance_no": a_no,
            "year": 2015,
            "tier": D("100.00"),
            "personal": D("0.00"),
            "gov_subsidy": D("30.00"),
            "collective": D("0.00"),
            "other_subsidy": D("100.00"),
            "paid_on": dt.date(2015, 4, 1),
            "channel": "government_paid",
        },
        {
            "insurance_no": b_no,
            "year": 2012,
            "tier": D("500.00"),
            "personal": D("500.00"),
            "gov_subsidy": D("60.00"),
            "collective": D("0.00"),
            "other_subsidy": D("0.00"),
            "paid_on": dt.date(2012, 5, 1),
            "channel": "bank_counter",
        },
        {
            "insurance_no": c_no,
            "year": 2015,
            "tier": D("300.00"),
            "personal": D("300.00"),
            "gov_subsidy": D("0.00"),
            "collective": D("0.00"),
            "other_subsidy": D("0.00"),
            "paid_on": dt.date(2015, 3, 1),
            "channel": "bank_counter",
        },
    ]
    recipients = [
        {
            "insurance_no": b_no,
            "category": "monthly_pension",
            "start_month": dt.date(2012, 7, 1),
            "basic_pension": D("120.00"),
            "account_pension": D("14.39"),
            "monthly_total": D("134.39"),
            "bank_code": "ABC",
            "bank_account": "6228000011112222",
            "last_paid_month": dt.date(2015, 12, 1),
        }
    ]
    tier_choices = [
        {"insurance_no": a_no, "year": 2016, "tier": D("500.00")},
        {"insurance_no": a_no, "year": 2017, "tier": D("800.00")},
    ]
    load = clean_testload(
        project,
        persons=persons,
        accounts=accounts,
        contributions=contributions,
        recipients=recipients,
        tier_choices=tier_choices,
    )
    return ImportWorld(source, target, supervisor, project, load.package, load, rehomed, target_person)
