"""An import stopped half way (an error, or the process killed) and run again: it completes, and nothing is
written twice. ``chunk_size=2`` makes two chunks per phase of the four staged persons."""

from decimal import Decimal

import pytest

from benefits.models import Award, AwardEvent, AwardPeriod, YearsCredit
from contributions.models import Contribution, TierChoice
from enrollment.models import InsuranceNumberCounter, InsuredPerson, SpecialGroupMembership
from funds.models import IndividualAccount, LedgerEntry
from migration import importer
from migration.importer import import_run, import_start
from migration.models import ImportChunk, ImportStatus, MergerStep, StagedPerson, Step, StepState
from migration.tests.import_factories import import_world

D = Decimal
pytestmark = pytest.mark.django_db


class Killed(BaseException):
    """The process dying: not an ``Exception``, so nothing records a failure."""


def _stop_after_first_chunk(monkeypatch, phase: str, error: BaseException) -> None:
    real = importer.PHASE_WORK[phase]
    calls = []

    def once_then_stop(ctx, lo, hi):
        calls.append(lo)
        if len(calls) > 1:
            real(ctx, lo, hi)  # the second chunk's writes happen, then it dies before its commit
            raise error
        return real(ctx, lo, hi)

    monkeypatch.setitem(importer.PHASE_WORK, phase, once_then_stop)


def _figures() -> tuple:
    return (
        InsuredPerson.objects.count(),
        IndividualAccount.objects.count(),
        LedgerEntry.objects.count(),
        Contribution.objects.count(),
        Award.objects.count(),
        AwardPeriod.objects.count(),
        AwardEvent.objects.count(),
        TierChoice.objects.count(),
        YearsCredit.objects.count(),
        SpecialGroupMembership.objects.count(),
        InsuranceNumberCounter.objects.filter(county_code="320412").values_list("last_serial", flat=True).first() or 0,
    )


@pytest.mark.parametrize("phase", ["persons", "accounts", "contributions", "recipients", "tier_choices"])
def test_an_error_half_way_fails_the_run_and_a_second_start_completes_it(monkeypatch, phase):
    # given a merger ready to import, and the register's figures before it
    world = import_world()
    base = _figures()
    _stop_after_first_chunk(monkeypatch, phase, RuntimeError("磁盘已满"))
    run = import_start(actor=world.supervisor, project=world.project, package=world.package)
    # when the second chunk of the phase fails
    with pytest.raises(RuntimeError):
        import_run(run.pk, chunk_size=2)
    # then the run and the step say so, and the first chunk stays committed
    run.refresh_from_db()
    assert run.status == ImportStatus.FAILED and "磁盘已满" in run.error
    step = MergerStep.objects.get(project=world.project, step=Step.IMPORT)
    assert step.state == StepState.FAILED and "磁盘已满" in step.error
    assert ImportChunk.objects.filter(run=run, phase=phase).count() == 1
    # when it is started again (the same run comes back) and run without the fault
    monkeypatch.undo()
    again = import_start(actor=world.supervisor, project=world.project, package=world.package)
    assert again.pk == run.pk
    done = import_run(run.pk, chunk_size=2)
    # then it is done, the balance proved, and the register grew exactly as by an import run through
    assert done.status == ImportStatus.DONE and done.balance_imported == D("3062.34")
    assert (done.persons_created, done.persons_rehomed, done.insurance_numbers_reissued) == (3, 1, 1)
    assert (done.accounts, done.contributions, done.awards, done.tier_choices) == (2, 3, 1, 2)
    grown = tuple(after - before for after, before in zip(_figures(), base, strict=True))
    # persons 3, accounts 2, entries 6 (A) + 1 (B), contributions 3, an award with its period and event,
    # tier choices 2, deemed years 1, special groups 2, one number issued from the counter
    assert grown == (3, 2, 7, 3, 1, 1, 1, 2, 1, 2, 1)
    assert MergerStep.objects.get(project=world.project, step=Step.IMPORT).state == StepState.DONE


def test_a_killed_run_is_resumed_by_running_it_again(monkeypatch):
    # given an import killed in the second chunk of the persons phase (lines 4 and 5: C re-homed, D created)
    world = import_world()
    _stop_after_first_chunk(monkeypatch, "persons", Killed())
    run = import_start(actor=world.supervisor, project=world.project, package=world.package)
    with pytest.raises(Killed):
        import_run(run.pk, chunk_size=2)
    run.refresh_from_db()
    assert run.status == ImportStatus.RUNNING  # nobody recorded the death
    assert MergerStep.objects.get(project=world.project, step=Step.IMPORT).state == StepState.RUNNING
    created = StagedPerson.objects.filter(testload=world.testload, person_id__isnull=False)
    assert sorted(created.values_list("line", flat=True)) == [2, 3]
    world.rehomed.refresh_from_db()
    assert world.rehomed.region_code == "320411001001"  # its chunk rolled back
    # when the task runs again, asking for another chunk size (the run keeps the one it started with)
    monkeypatch.undo()
    done = import_run(run.pk, chunk_size=3)
    # then every record is there once
    assert done.status == ImportStatus.DONE and done.balance_imported == D("3062.34")
    assert (done.persons_created, done.persons_rehomed, done.accounts, done.contributions) == (3, 1, 2, 3)
    world.rehomed.refresh_from_db()
    assert world.rehomed.region_code == "320412001001"
    assert InsuredPerson.objects.filter(region_code="320412001001").count() == 5  # 4 imported + the target's own
    new_accounts = IndividualAccount.objects.filter(person__name__in=["王芳", "李强"])
    assert sorted(a.balance for a in new_accounts) == [D("762.34"), D("2000.00")]
    assert LedgerEntry.objects.filter(reference=f"merger:{world.project.pk}").count() == 7
    assert Contribution.objects.filter(bank_reference__startswith=f"merger:{world.package.pk}:").count() == 3
    assert ImportChunk.objects.filter(run=run, phase="persons").count() == 2
