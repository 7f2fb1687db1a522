"""正式导入 on the hand-computed case of ``import_factories.import_world`` (its docstring has the figures)."""

import datetime as dt
from decimal import Decimal

import pytest

from agencies.errors import Conflict
from agencies.models import Region, RegionFreeze
from benefits.models import Award, AwardEvent, AwardPeriod, YearsCredit
from contributions.models import Contribution, TierChoice
from enrollment.models import InsuranceNumberCounter, InsuredPerson, PersonStatus, SpecialGroupMembership
from funds.models import IndividualAccount, LedgerEntry
from migration import lists
from migration.importer import import_run, import_start
from migration.models import ImportStatus, MergerStep, StagedPerson, Step, StepState
from migration.models import TestLoadStatus as LoadStatus
from migration.tests.import_factories import account_row, clean_testload, import_world, staged_person

D = Decimal
pytestmark = pytest.mark.django_db


def _import(world, **kwargs):
    run = import_start(actor=world.supervisor, project=world.project, package=world.package)
    return import_run(run.pk, **kwargs)


def _person(world, line: int) -> InsuredPerson:
    return InsuredPerson.objects.get(pk=StagedPerson.objects.get(testload=world.testload, line=line).person_id)


def test_the_import_writes_every_record_and_proves_the_balance():
    # given
    world = import_world()
    # when
    run = _import(world, chunk_size=2)
    # then the run and its step say what happened, and the balance proof holds to the fen
    assert run.status == ImportStatus.DONE
    assert (run.persons_created, run.persons_rehomed, run.insurance_numbers_reissued) == (3, 1, 1)
    assert (run.accounts, run.contributions, run.awards, run.tier_choices) == (2, 3, 1, 2)
    assert run.balance_expected == run.balance_imported == D("3062.34")
    step = MergerStep.objects.get(project=world.project, step=Step.IMPORT)
    assert step.state == StepState.DONE
    assert "导入 4 人" in step.summary
    assert "账户余额合计 ¥3,062.34，账户明细合计 ¥3,062.34，均与数据包清单一致" in step.summary
    # and the freeze is lifted
    assert not RegionFreeze.objects.filter(lifted_at__isnull=True).exists()


def test_new_persons_are_created_in_the_mapped_village_with_their_numbers():
    world = import_world()
    _import(world, chunk_size=2)
    a, b, d = _person(world, 2), _person(world, 3), _person(world, 5)
    village = world.target.village
    assert (a.village_id, a.region_code) == (village.pk, "320412001001")
    assert (a.name, a.name_initials, a.sex, a.status) == ("王芳", "wf", "F", PersonStatus.ACTIVE)
    assert a.insurance_number == "3204110000001"  # unique here: kept
    assert b.insurance_number == "32041200000001"  # taken by a target person: the target county's next one
    assert InsuranceNumberCounter.objects.get(county_code="320412").last_serial == 1
    assert StagedPerson.objects.get(testload=world.testload, line=3).insurance_number == "32041200000001"
    assert b.status == PersonStatus.ACTIVE and b.sex == "M"
    assert d.status == PersonStatus.CANCELLED
    assert not IndividualAccount.objects.filter(person=d).exists()
    groups = SpecialGroupMembership.objects.filter(person=a).order_by("group")
    assert [(m.group, m.certifying_department, m.certificate_number, m.certified_on) for m in groups] == [
        ("dibao", "民政部门", "并轨迁入", dt.date(2012, 3, 1)),
        ("family_planning", "卫生健康部门", "并轨迁入", dt.date(2012, 3, 1)),
    ]
    [credit] = YearsCredit.objects.filter(person=b)
    assert (credit.kind, credit.years, credit.reference) == ("deemed", 3, f"merger:{world.project.pk}")


def test_accounts_carry_every_component_and_fold_the_pooled_balance():
    world = import_world()
    _import(world)
    a = _person(world, 2)
    account = IndividualAccount.objects.get(person=a)
    assert account.pooling_region_id == world.target.pooling_region.pk
    assert (
        account.balance_personal,
        account.balance_government_subsidy,
        account.balance_collective,
        account.balance_donation,
        account.balance_government_paid,
        account.balance_interest,
        account.balance,
    ) == (D("500.00"), D("170.00"), D("50.00"), D("30.00"), D("0.00"), D("12.34"), D("762.34"))
    entries = LedgerEntry.objects.filter(account=account).order_by("idempotency_key")
    key = f"merger:{world.project.pk}:{a.pk}"
    assert [(e.idempotency_key, e.component, e.kind, e.amount, e.booked_on) for e in entries] == [
        (f"{key}:collective", "collective", "transfer_in", D("50.00"), dt.date(2015, 12, 26)),
        (f"{key}:donation", "donation", "transfer_in", D("30.00"), dt.date(2015, 12, 26)),
        (f"{key}:government_subsidy", "government_subsidy", "transfer_in", D("70.00"), dt.date(2015, 12, 26)),
        (f"{key}:interest", "interest", "transfer_in", D("12.34"), dt.date(2015, 12, 26)),
        (f"{key}:personal", "personal", "transfer_in", D("500.00"), dt.date(2015, 12, 26)),
        (f"{key}:pooled", "government_subsidy", "transfer_in", D("100.00"), dt.date(2015, 12, 26)),
    ]
    # the ledger proves the cached balance
    assert sum(e.amount for e in entries) == account.balance


def test_contribution_history_is_copied_without_money_moving():
    world = import_world()
    _import(world)
    a = _person(world, 2)
    rows = Contribution.objects.filter(person=a).order_by("year")
    assert [
        (
            c.year,
            c.kind,
            c.tier_amount,
            c.personal_amount,
            c.government_subsidy,
            c.government_paid,
            c.channel,
            c.subsidy_county,
            c.paid_county,
            c.region_code,
        )
        for c in rows
    ] == [
        (
            2014,
            "regular",
            D("300.00"),
            D("300.00"),
            D("40.00"),
            D("0.00"),
            "bank_file",
            D("40.00"),
            D("0.00"),
            a.region_code,
        ),
        (
            2015,
            "regular",
            D("100.00"),
            D("0.00"),
            D("30.00"),
            D("100.00"),
            "bank_file",
            D("30.00"),
            D("100.00"),
            a.region_code,
        ),
    ]
    assert rows[0].bank_reference == f"merger:{world.package.pk}:2"
    assert LedgerEntry.objects.filter(account__person=a, kind="contribution").count() == 0


def test_a_recipient_gets_an_award_and_a_period_from_the_cutover_month():
    world = import_world()
    _import(world)
    b = _person(world, 3)
    award = Award.objects.get(person=b)
    assert (award.category, award.status, award.start_month) == ("monthly", "active", dt.date(2012, 7, 1))
    assert (award.years_paid, award.account_divisor, award.account_pension) == (4, 139, D("14.39"))
    assert award.account_balance_at_start == D("2000.00")
    assert award.pooling_region_id == world.target.pooling_region.pk
    assert (award.bank_code, award.bank_account, award.approved_by) == ("ABC", "6228000011112222", world.supervisor)
    [period] = AwardPeriod.objects.filter(award=award)
    assert period.valid_from == dt.date(2016, 1, 1)
    assert (period.central_minimum, period.local_top_up, period.basic_pension) == (D("70.00"), D("50.00"), D("120.00"))
    assert (period.account_pension, period.total, period.urban_allowance) == (D("14.39"), D("134.39"), D("0.00"))
    assert AwardEvent.objects.filter(award=award, action="merger_import", actor=world.supervisor).count() == 1


def test_the_rehomed_person_keeps_account_and_ledger_and_moves_place():
    world = import_world()
    c = world.rehomed
    account_before = IndividualAccount.objects.get(person=c)
    entries_before = list(LedgerEntry.objects.filter(account=account_before).values_list("id", "amount"))
    _import(world)
    c.refresh_from_db()
    assert (c.village_id, c.region_code) == (world.target.village.pk, "320412001001")
    account = IndividualAccount.objects.get(person=c)
    assert account.pk == account_before.pk and account.balance == D("300.00")
    assert (account.region_code, account.pooling_region_id) == ("320412001001", world.target.pooling_region.pk)
    assert list(LedgerEntry.objects.filter(account=account).values_list("id", "amount")) == entries_before
    assert list(Contribution.objects.filter(person=c).values_list("year", "region_code")) == [(2015, "320412001001")]
    assert StagedPerson.objects.get(testload=world.testload, line=4).person_id == c.pk


def test_tier_choices_stand_until_the_source_tiers_end_and_the_rest_get_the_default():
    world = import_world()
    _import(world)
    a, b, c, d = (_person(world, line) for line in (2, 3, 4, 5))
    choices = {(t.person_id, t.year): (t.amount, t.source) for t in TierChoice.objects.all()}
    assert choices[(a.pk, 2016)] == (D("500.00"), "batch")
    assert (a.pk, 2017) not in choices  # after 2016-06-30 the target's tiers apply
    assert choices[(c.pk, 2016)] == (D("100.00"), "default")  # the target's lowest tier for 2016
    assert (b.pk, 2016) not in choices  # receiving
    assert (d.pk, 2016) not in choices  # cancelled


def test_the_project_default_tier_wins_over_the_lowest():
    world = import_world(default_tier=D("300.00"))
    _import(world)
    assert TierChoice.objects.get(person=world.rehomed, year=2016).amount == D("300.00")


def test_the_whole_source_is_repooled_to_the_target():
    world = import_world()
    _import(world)
    assert not Region.objects.filter(pooling_region=world.source.pooling_region).exists()
    world.source.county.refresh_from_db()
    assert world.source.county.pooling_region_id == world.target.pooling_region.pk


def test_january_lists_name_every_contributor_and_recipient():
    world = import_world()
    _import(world)
    deduction = lists.deduction_list(world.project)
    assert [(r.name, r.tier) for r in deduction] == [("赵敏", D("100.00")), ("王芳", D("500.00"))] or [
        (r.name, r.tier) for r in deduction
    ] == [("王芳", D("500.00")), ("赵敏", D("100.00"))]
    [payout] = lists.payout_list(world.project)
    assert (payout.name, payout.amount, payout.bank_account_masked) == ("李强", D("134.39"), "****2222")
    assert "*" in payout.id_number_masked
    summary = lists.lists_summary(world.project)
    assert (summary.contributors, summary.recipients, summary.payout_total) == (2, 1, D("134.39"))
    assert lists.deduction_xlsx(world.project)[:2] == b"PK"
    assert lists.payout_xlsx(world.project)[:2] == b"PK"


# --- refusals ---------------------------------------------------------------------------------------------


def test_refused_without_a_clean_last_testload():
    world = import_world()
    # a later test-load of the same package found a blocking problem
    clean_testload(world.project, persons=[], package=world.package, blocking=2)
    with pytest.raises(Conflict) as refused:
        import_start(actor=world.supervisor, project=world.project, package=world.package)
    assert "2 个阻断问题" in refused.value.message


def test_refused_when_the_last_testload_is_of_another_package_or_unfinished():
    world = import_world()
    other = clean_testload(world.project, persons=[])
    with pytest.raises(Conflict) as refused:
        import_start(actor=world.supervisor, project=world.project, package=world.package)
    assert refused.value.code == "testload_other_package"
    clean_testload(world.project, persons=[], package=other.package, status=LoadStatus.FAILED)
    with pytest.raises(Conflict) as refused:
        import_start(actor=world.supervisor, project=world.project, package=other.package)
    assert refused.value.code == "testload_not_done"


def test_a_package_is_imported_once():
    world = import_world()
    _import(world)
    with pytest.raises(Conflict) as refused:
        import_start(actor=world.supervisor, project=world.project, package=world.package)
    assert refused.value.message == "该数据包已导入，不能重复导入。"
    # and running the done import again changes nothing
    before = InsuredPerson.objects.count(), LedgerEntry.objects.count(), Contribution.objects.count()
    import_run(world.package.import_run.pk)
    assert (InsuredPerson.objects.count(), LedgerEntry.objects.count(), Contribution.objects.count()) == before


def test_a_balance_that_does_not_arrive_fails_the_step_with_both_figures():
    # given a manifest total one fen off the staged balances
    world = import_world()
    source, target = world.source, world.target
    del source
    project = world.project
    person = staged_person(target, insurance_no="X1", name="孙丽", birth_date=dt.date(1980, 1, 1))
    # a fresh project is not needed: a second package of the same project, one fen off
    load = clean_testload(
        project, persons=[person], accounts=[account_row("X1", personal="10.00")], totals={"account_balance": "10.01"}
    )
    # when
    run = import_start(actor=world.supervisor, project=project, package=load.package)
    run = import_run(run.pk)
    # then
    assert run.status == ImportStatus.FAILED
    assert run.balance_imported == D("10.00")
    step = MergerStep.objects.get(project=project, step=Step.IMPORT)
    assert step.state == StepState.FAILED
    assert "¥10.00" in step.error and "¥10.01" in step.error
    # the freeze stays until the money is right
    assert RegionFreeze.objects.filter(lifted_at__isnull=True).exists()


def test_a_failed_proof_leaves_the_places_and_the_freeze_and_a_corrected_run_completes():
    from agencies.freeze import freeze_bypass
    from funds.models import Component, EntryKind
    from funds.services import Posting, ledger_post

    world = import_world()
    account = IndividualAccount.objects.get(person=world.rehomed)
    # given C's register account got 1.00 after the test-load: 3063.34 arrives against the manifest's 3062.34
    with freeze_bypass():
        ledger_post(
            account=account,
            postings=[Posting(Component.PERSONAL, EntryKind.CONTRIBUTION, D("1.00"))],
            booked_on=dt.date(2015, 12, 20),
            reference="late",
            idempotency_key="late:1",
        )
    run = _import(world)
    assert run.status == ImportStatus.FAILED
    assert "¥3,063.34" in run.error and "¥3,062.34" in run.error
    assert Region.objects.get(pk=world.source.county.pk).pooling_region_id == world.source.pooling_region.pk
    assert RegionFreeze.objects.filter(lifted_at__isnull=True).exists()
    # when the 1.00 is reversed and the import run again
    entry = LedgerEntry.objects.get(account=account, reference="late")
    with freeze_bypass():
        ledger_post(
            account=account,
            postings=[Posting(Component.PERSONAL, EntryKind.CONTRIBUTION, D("-1.00"))],
            booked_on=dt.date(2015, 12, 21),
            reference="late",
            idempotency_key="late:1:reversal",
            reverses=entry,
        )
    run = _import(world)
    # then
    assert run.status == ImportStatus.DONE and run.balance_imported == D("3062.34")
    assert Region.objects.get(pk=world.source.county.pk).pooling_region_id == world.target.pooling_region.pk
    assert not RegionFreeze.objects.filter(lifted_at__isnull=True).exists()


def test_the_proof_reads_the_ledger_as_well_as_the_cached_balances():
    from agencies.freeze import freeze_bypass
    from funds.models import Component, EntryKind
    from funds.services import Posting, ledger_post

    world = import_world()
    account = IndividualAccount.objects.get(person=world.rehomed)
    # given C's ledger holds 301.00 while the cached balance still says 300.00
    with freeze_bypass():
        ledger_post(
            account=account,
            postings=[Posting(Component.PERSONAL, EntryKind.CONTRIBUTION, D("1.00"))],
            booked_on=dt.date(2015, 12, 20),
            reference="late",
            idempotency_key="late:1",
        )
        IndividualAccount.objects.filter(pk=account.pk).update(balance=D("300.00"), balance_personal=D("300.00"))
    run = _import(world)
    # then the cached total 3062.34 agrees, the ledger's 3063.34 does not, and one account is out
    assert run.status == ImportStatus.FAILED
    assert run.balance_imported == D("3062.34")
    assert "账户明细（分户账）合计 ¥3,063.34" in run.error
    assert "1 个账户的余额与其明细合计不符" in run.error
    assert RegionFreeze.objects.filter(lifted_at__isnull=True).exists()


def test_opening_entries_are_booked_on_the_day_interest_was_last_settled():
    world = import_world()
    manifest = {**world.package.manifest, "interest_settled_through": "2014-12-31"}
    type(world.package).objects.filter(pk=world.package.pk).update(manifest=manifest)
    run = _import(world)
    assert run.status == ImportStatus.DONE
    a = _person(world, 2)
    # A's five nonzero parts and the folded pooled 100.00, all on 2014-12-31: the 2015 settlement gives them 12 months
    booked = set(LedgerEntry.objects.filter(account__person=a).values_list("booked_on", flat=True))
    assert booked == {dt.date(2014, 12, 31)}
    assert LedgerEntry.objects.filter(account__person=a).count() == 6


def test_without_a_settled_date_opening_entries_fall_back_to_the_freeze_date():
    world = import_world()
    run = _import(world)
    assert run.status == ImportStatus.DONE
    booked = set(LedgerEntry.objects.filter(account__person=_person(world, 2)).values_list("booked_on", flat=True))
    assert booked == {dt.date(2015, 12, 26)}


def test_an_insurance_number_clash_is_not_reported_as_an_identity_number_already_registered():
    from django.db import IntegrityError, transaction

    from enrollment.tests.factories import make_person
    from migration.importer import _insert_conflict

    world = import_world()
    taken = world.target_person.insurance_number
    # a real refusal of the register: a second person with a number already issued
    other = make_person(world.target.village, name="孙同")
    with pytest.raises(IntegrityError) as refused, transaction.atomic():
        InsuredPerson.objects.filter(pk=other.pk).update(insurance_number=taken)
    conflict = _insert_conflict(refused.value)
    assert conflict.code == "insurance_number_taken" and "身份证号" not in conflict.message
    with pytest.raises(IntegrityError) as refused, transaction.atomic():
        InsuredPerson.objects.filter(pk=other.pk).update(id_number=world.target_person.id_number)
    assert _insert_conflict(refused.value).code == "person_exists"
