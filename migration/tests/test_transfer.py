"""基金划转: the imported balance total (3062.34, see ``import_factories``) from the source's fiscal special
account to the target's, as two movements under one reference that the banks' statements match."""

import datetime as dt
from decimal import Decimal

import pytest

from agencies.errors import Conflict, DomainError
from agencies.models import Role
from agencies.tests.factories import UserFactory
from funds.fund_accounts import fund_accounts_ensure, fund_balance, movement_post
from funds.models import BankStatement, Direction, Fund, FundAccountKind, FundMovement, MovementKind, StatementLine
from funds.reconciliation import reconcile
from migration.importer import import_run, import_start
from migration.models import FundTransferRecord, MergerStep, Step, StepState
from migration.tests.import_factories import import_world
from migration.transfer import fund_transfer, transfer_reference

D = Decimal
ON = dt.date(2016, 1, 20)
pytestmark = pytest.mark.django_db


def _imported(world):
    run = import_start(actor=world.supervisor, project=world.project, package=world.package)
    return import_run(run.pk)


def _source_fiscal_holds(world, amount: str) -> None:
    movement_post(
        pooling_region=world.source.pooling_region,
        account_kind=FundAccountKind.FISCAL,
        fund=Fund.INDIVIDUAL_ACCOUNT,
        kind=MovementKind.SWEEP_IN,
        amount=D(amount),
        booked_on=dt.date(2015, 12, 31),
        reference="GJ320411201512",
        idempotency_key=f"test:fiscal:{amount}",
    )


def _fiscal(pooling_region):
    return fund_accounts_ensure(pooling_region=pooling_region)[FundAccountKind.FISCAL]


def test_the_balances_move_between_the_fiscal_special_accounts():
    # given an import done and 5000.00 of the individual-account fund in the source's fiscal account
    world = import_world()
    _imported(world)
    _source_fiscal_holds(world, "5000.00")
    # when
    record = fund_transfer(actor=world.supervisor, project=world.project, on=ON)
    # then
    reference = transfer_reference(world.project)
    assert (record.amount, record.reference, record.transferred_on) == (D("3062.34"), reference, ON)
    moved = FundMovement.objects.filter(reference=reference).order_by("amount")
    assert [(m.account.pooling_region_id, m.account.kind, m.fund, m.kind, m.amount, m.booked_on) for m in moved] == [
        (world.source.pooling_region.pk, "fiscal", "individual_account", "transfer_out", D("-3062.34"), ON),
        (world.target.pooling_region.pk, "fiscal", "individual_account", "transfer_in", D("3062.34"), ON),
    ]
    source_fiscal, target_fiscal = _fiscal(world.source.pooling_region), _fiscal(world.target.pooling_region)
    assert fund_balance(source_fiscal, Fund.INDIVIDUAL_ACCOUNT) == D("1937.66")
    assert fund_balance(target_fiscal, Fund.INDIVIDUAL_ACCOUNT) == D("3062.34")
    source_fiscal.refresh_from_db()
    assert source_fiscal.balance == D("1937.66")  # the cached balance moved with it
    step = MergerStep.objects.get(project=world.project, step=Step.FUND_TRANSFER)
    assert step.state == StepState.DONE and "¥3,062.34" in step.summary


def test_a_retry_returns_the_same_transfer():
    world = import_world()
    _imported(world)
    _source_fiscal_holds(world, "5000.00")
    first = fund_transfer(actor=world.supervisor, project=world.project, on=ON)
    again = fund_transfer(actor=world.supervisor, project=world.project, on=dt.date(2016, 1, 21))
    assert again.pk == first.pk
    assert FundMovement.objects.filter(reference=first.reference).count() == 2
    assert FundTransferRecord.objects.count() == 1


def test_refused_with_both_figures_when_the_source_holds_less():
    world = import_world()
    _imported(world)
    _source_fiscal_holds(world, "3062.33")
    with pytest.raises(DomainError) as refused:
        fund_transfer(actor=world.supervisor, project=world.project, on=ON)
    assert "现有 ¥3,062.33" in refused.value.message and "需划转 ¥3,062.34" in refused.value.message
    assert "差 ¥0.01" in refused.value.message
    assert not FundMovement.objects.filter(kind__in=["transfer_out", "transfer_in"]).exists()
    assert MergerStep.objects.get(project=world.project, step=Step.FUND_TRANSFER).state == StepState.PENDING


def test_refused_before_the_import_is_done():
    world = import_world()
    _source_fiscal_holds(world, "5000.00")
    with pytest.raises(Conflict) as refused:
        fund_transfer(actor=world.supervisor, project=world.project, on=ON)
    assert refused.value.code == "not_imported"


def test_the_target_side_reconciles_with_its_bank_statement():
    # given the transfer, and the target bank's statement of the day showing it under its reference
    world = import_world()
    _imported(world)
    _source_fiscal_holds(world, "5000.00")
    record = fund_transfer(actor=world.supervisor, project=world.project, on=ON)
    account = _fiscal(world.target.pooling_region)
    statement = BankStatement.objects.create(
        account=account, statement_date=ON, sha256="0" * 64, opening_balance=D("0.00"), closing_balance=D("3062.34")
    )
    StatementLine.objects.create(
        statement=statement,
        line_no=1,
        value_date=ON,
        amount=D("3062.34"),
        direction=Direction.CREDIT,
        reference=record.reference,
        balance=D("3062.34"),
    )
    # a fund officer of the city holds every place of the target (the source's places now belong to it)
    officer = UserFactory(username="city_fund", role=Role.COUNTY_FUND_OFFICER, agency=world.source.agency("city"))
    # when
    result = reconcile(actor=officer, account=account, date_from=ON, date_to=ON)
    # then
    assert result.agrees, [(d.kind, d.reference, d.difference) for d in result.differences]
    assert [(m.reference, m.amount) for m in result.matched] == [(record.reference, D("3062.34"))]


def test_the_source_side_stays_reachable_and_reconciles_after_it_lost_its_places():
    # given the whole source imported (its places now belong to the target) and the transfer made
    world = import_world()
    _imported(world)
    _source_fiscal_holds(world, "5000.00")
    record = fund_transfer(actor=world.supervisor, project=world.project, on=ON)
    account = _fiscal(world.source.pooling_region)
    statement = BankStatement.objects.create(
        account=account, statement_date=ON, sha256="1" * 64, opening_balance=D("5000.00"), closing_balance=D("1937.66")
    )
    StatementLine.objects.create(
        statement=statement,
        line_no=1,
        value_date=ON,
        amount=D("3062.34"),
        direction=Direction.DEBIT,
        reference=record.reference,
        balance=D("1937.66"),
    )
    officer = UserFactory(username="city_fund", role=Role.COUNTY_FUND_OFFICER, agency=world.source.agency("city"))
    # when the city's fund officer reconciles the source's fiscal account
    result = reconcile(actor=officer, account=account, date_from=ON, date_to=ON)
    # then the transfer out is matched: the source's history is reached through the region it joined
    assert [(m.reference, m.amount) for m in result.matched] == [(record.reference, D("-3062.34"))]
