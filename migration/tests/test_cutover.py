"""系统切换: from the cut-over date the source pooling region is closed and points at the target, and new
business there (a deduction batch, a payroll, a registration) is refused with the merger named."""

import datetime as dt
from decimal import Decimal

import pytest

from agencies.closing import require_open
from agencies.errors import Conflict, DomainError
from agencies.models import PoolingRegion, Role
from agencies.tests.factories import PoolingRegionFactory, region_line
from benefits.payroll import payroll_prepare
from contributions.bank import deduct_batch_issue
from enrollment.services import registration_submit
from enrollment.tests.factories import new_id_number
from funds.fund_accounts import movement_post
from funds.models import Fund, FundAccountKind, MovementKind
from funds.tests.bank_factories import make_partner
from migration.importer import import_run, import_start
from migration.models import MergerStep, Step, StepState
from migration.tests.import_factories import import_world
from migration.transfer import cutover, fund_transfer

D = Decimal
pytestmark = pytest.mark.django_db


def _imported_and_transferred(world) -> None:
    run = import_start(actor=world.supervisor, project=world.project, package=world.package)
    import_run(run.pk)
    movement_post(
        pooling_region=world.source.pooling_region,
        account_kind=FundAccountKind.FISCAL,
        fund=Fund.INDIVIDUAL_ACCOUNT,
        kind=MovementKind.SWEEP_IN,
        amount=D("3062.34"),
        booked_on=dt.date(2015, 12, 31),
        reference="GJ320411201512",
        idempotency_key="test:fiscal",
    )
    fund_transfer(actor=world.supervisor, project=world.project, on=dt.date(2016, 1, 20))


def test_cutover_closes_the_whole_source_region():
    # given
    world = import_world()
    _imported_and_transferred(world)
    # when
    cutover(actor=world.supervisor, project=world.project, today=dt.date(2016, 1, 1))
    # then
    source = PoolingRegion.objects.get(pk=world.source.pooling_region.pk)
    assert (source.closed_on, source.merged_into_id) == (dt.date(2016, 1, 1), world.target.pooling_region.pk)
    step = MergerStep.objects.get(project=world.project, step=Step.CUTOVER)
    assert step.state == StepState.DONE and "不再办理新业务" in step.summary
    assert source.history.first().history_user == world.supervisor
    # and again is nothing new
    cutover(actor=world.supervisor, project=world.project, today=dt.date(2016, 1, 2))
    assert MergerStep.objects.get(project=world.project, step=Step.CUTOVER).finished_at == step.finished_at


def test_cutover_waits_for_its_date_and_for_the_fund_transfer():
    world = import_world()
    run = import_start(actor=world.supervisor, project=world.project, package=world.package)
    import_run(run.pk)
    with pytest.raises(Conflict) as refused:
        cutover(actor=world.supervisor, project=world.project, today=dt.date(2016, 1, 1))
    assert "基金划转" in refused.value.message
    with pytest.raises(DomainError) as refused:
        cutover(actor=world.supervisor, project=world.project, today=dt.date(2015, 12, 31))
    assert refused.value.code == "before_cutover"
    assert PoolingRegion.objects.get(pk=world.source.pooling_region.pk).closed_on is None


# --- require_open where new business starts -------------------------------------------------------------------


@pytest.fixture
def closed_line():
    """A pooling region closed on 2016-01-01 into another (as a cut-over leaves it)."""
    line = region_line(county="320481", township="101", village="201")
    target = PoolingRegionFactory(code="320400", name="常州市本级")
    line.pooling_region.closed_on = dt.date(2016, 1, 1)
    line.pooling_region.merged_into = target
    line.pooling_region.save()
    return line


MESSAGE = "统筹区320481已于2016年01月01日并入常州市本级，不再办理新业务。"


def test_require_open_refuses_from_the_closing_day(closed_line):
    require_open(closed_line.pooling_region, dt.date(2015, 12, 31))
    with pytest.raises(DomainError) as refused:
        require_open(closed_line.pooling_region, dt.date(2016, 1, 1))
    assert refused.value.message == MESSAGE
    require_open(PoolingRegionFactory(code="320482"), dt.date(2030, 1, 1))  # never closed


def test_no_deduction_batch_in_a_closed_region(closed_line):
    partner = make_partner(closed_line)
    with pytest.raises(DomainError) as refused:
        deduct_batch_issue(
            actor=closed_line.staff(Role.COUNTY_FUND_OFFICER),
            partner=partner,
            pooling_region=closed_line.pooling_region,
            year=2016,
            issued_on=dt.date(2016, 1, 5),
        )
    assert refused.value.message == MESSAGE


def test_no_payroll_in_a_closed_region_from_its_closing_month(closed_line):
    officer = closed_line.staff(Role.COUNTY_FUND_OFFICER)
    december = payroll_prepare(actor=officer, pooling_region=closed_line.pooling_region, month=dt.date(2015, 12, 1))
    assert december.lines_count == 0
    with pytest.raises(DomainError) as refused:
        payroll_prepare(actor=officer, pooling_region=closed_line.pooling_region, month=dt.date(2016, 1, 1))
    assert refused.value.message == MESSAGE


def test_no_registration_in_a_closed_region(closed_line):
    agent = closed_line.staff(Role.VILLAGE_AGENT)
    with pytest.raises(DomainError) as refused:
        registration_submit(
            actor=agent,
            village=closed_line.village,
            id_number=new_id_number("320481", dt.date(1980, 2, 2)),
            data={"name": "周新"},
            today=dt.date(2016, 1, 4),
        )
    assert refused.value.message == MESSAGE
    application = registration_submit(
        actor=agent,
        village=closed_line.village,
        id_number=new_id_number("320481", dt.date(1980, 2, 2)),
        data={"name": "周新"},
        today=dt.date(2015, 12, 30),
    )
    assert application.person.name == "周新"
