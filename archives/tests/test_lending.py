"""查阅/借阅: lending an item and taking it back, the overdue list, and what may not be lent.

The clerk's "today" is 10 March 2026 unless a test says otherwise; loans due on 9 March are overdue, those due on
10 March are not yet.
"""

import datetime as dt
import threading

import pytest
from django.db import connection
from django.utils import timezone

from agencies.errors import Conflict, DomainError, NotPermitted
from agencies.models import Role
from agencies.tests.factories import region_line
from archives import lending, services
from archives.models import ArchiveEvent, Loan, LoanKind
from archives.tests.factories import (
    make_item,
    placed_item,
    png_upload,
    temporary_archive_storage,
)
from enrollment.tests.factories import make_person

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 3, 10)


@pytest.fixture
def line():
    return region_line()


@pytest.fixture
def clerk(line):
    return line.staff(Role.TOWNSHIP_CLERK)


def _lend(clerk, item, *, kind=LoanKind.BORROW, due_on=TODAY + dt.timedelta(days=14), today=TODAY, **fields):
    values = {"borrower": "李四", "purpose": "核对缴费记录"} | fields
    return lending.loan_open(actor=clerk, item=item, kind=kind, due_on=due_on, today=today, **values)


def test_lend_and_return(line, clerk):
    # given a registration form in the archive room
    item = placed_item(line.village)

    # when it is lent for two weeks
    loan = _lend(clerk, item, borrower_unit="县审计局")

    # then it is out until 24 March, and the lending is logged
    assert (loan.kind, loan.borrower, loan.borrower_unit, loan.purpose) == (
        LoanKind.BORROW,
        "李四",
        "县审计局",
        "核对缴费记录",
    )
    assert (loan.due_on, loan.lent_by, loan.returned_at, loan.own_record) == (dt.date(2026, 3, 24), clerk, None, False)
    assert list(lending.open_loans(actor=clerk)) == [loan]
    assert ArchiveEvent.objects.filter(item=item, action="lent", actor=clerk).count() == 1

    # when it comes back
    county = line.staff(Role.COUNTY_CLERK)
    returned = lending.loan_return(actor=county, item=item, note="完好")

    # then the loan is closed by whoever received it, and the item may be lent again
    returned.refresh_from_db()
    assert returned.pk == loan.pk
    assert returned.returned_at is not None
    assert (returned.received_by, returned.return_note) == (county, "完好")
    assert list(lending.open_loans(actor=clerk)) == []
    assert ArchiveEvent.objects.filter(item=item, action="returned", actor=county).count() == 1
    again = _lend(clerk, item, borrower="王五")
    assert list(lending.open_loans(actor=clerk)) == [again]


def test_overdue_lists_open_loans_due_before_today(line, clerk):
    late, returned, due_today, later = (placed_item(line.village, title=f"登记表{n}") for n in range(4))
    lent_on = dt.date(2026, 3, 2)
    late_loan = _lend(clerk, late, due_on=dt.date(2026, 3, 9), today=lent_on)
    _lend(clerk, returned, due_on=dt.date(2026, 3, 9), today=lent_on)
    lending.loan_return(actor=clerk, item=returned)
    today_loan = _lend(clerk, due_today, due_on=TODAY, today=lent_on)
    later_loan = _lend(clerk, later, due_on=dt.date(2026, 3, 20), today=lent_on)

    # due yesterday and still out: overdue; returned, or due today: not
    assert list(lending.overdue_loans(actor=clerk, today=TODAY)) == [late_loan]
    # the day after, today's loan is overdue too, the earliest due first
    assert list(lending.overdue_loans(actor=clerk, today=dt.date(2026, 3, 11))) == [late_loan, today_loan]
    assert list(lending.open_loans(actor=clerk)) == [late_loan, today_loan, later_loan]


def test_open_and_overdue_lists_read_in_a_fixed_number_of_queries(line, clerk, django_assert_num_queries):
    for n in range(5):
        _lend(
            clerk, placed_item(line.village, title=f"登记表{n}"), due_on=dt.date(2026, 3, 9), today=dt.date(2026, 3, 1)
        )

    with django_assert_num_queries(1):
        rows = [
            (loan.item.archive_no, loan.item.kind.name, loan.lent_by.display_name)
            for loan in lending.overdue_loans(actor=clerk, today=TODAY)
        ]
    assert len(rows) == 5


def test_return_of_an_item_not_lent_is_refused_and_changes_nothing(line, clerk):
    item = placed_item(line.village)
    never_lent = placed_item(line.village, title="另一份")
    loan = _lend(clerk, item)
    lending.loan_return(actor=clerk, item=item, note="完好")
    loan.refresh_from_db()
    returned_at = loan.returned_at
    events = ArchiveEvent.objects.count()

    # a second return (a retried form) is the same refusal as returning what was never lent
    with pytest.raises(Conflict) as refused:
        lending.loan_return(actor=line.staff(Role.COUNTY_CLERK), item=item, note="再次归还")
    assert refused.value.code == "not_lent"
    assert refused.value.message == f"档案 {item.archive_no} 未借出，无需归还。"
    with pytest.raises(Conflict) as refused:
        lending.loan_return(actor=clerk, item=never_lent)
    assert refused.value.code == "not_lent"

    loan.refresh_from_db()
    assert (loan.returned_at, loan.received_by, loan.return_note) == (returned_at, clerk, "完好")
    assert Loan.objects.count() == 1
    assert ArchiveEvent.objects.count() == events


def test_an_item_out_cannot_be_lent_again(line, clerk):
    item = placed_item(line.village)
    first = _lend(clerk, item, borrower="李四", due_on=dt.date(2026, 3, 20))

    with pytest.raises(Conflict) as refused:
        _lend(line.staff(Role.COUNTY_CLERK), item, kind=LoanKind.READ, borrower="王五", due_on=TODAY)

    assert refused.value.code == "already_lent"
    assert refused.value.message == (
        f"档案 {item.archive_no} 已于{timezone.localtime(first.out_at):%Y-%m-%d}借给李四，"
        "应还日期2026-03-20，归还后才能再借。"
    )
    assert Loan.objects.filter(item=item).count() == 1


def test_own_record_only_for_a_persons_item(line, clerk):
    person = make_person(line.village, name="赵六")
    own = placed_item(line.village, person=person, title="赵六参保登记表")
    roll = placed_item(line.village, kind="payout_roll", title="2024年1月发放花名册")

    loan = _lend(clerk, own, kind=LoanKind.READ, borrower="赵六", purpose="本人查询缴费", due_on=TODAY, own_record=True)
    assert loan.own_record is True

    with pytest.raises(DomainError) as refused:
        _lend(clerk, roll, kind=LoanKind.READ, borrower="赵六", due_on=TODAY, own_record=True)
    assert refused.value.field == "own_record"
    assert not Loan.objects.filter(item=roll).exists()


def test_borrowing_needs_the_paper_in_the_room(line, clerk, monkeypatch, tmp_path):
    temporary_archive_storage(monkeypatch, tmp_path)
    filed = make_item(line.village)

    # nothing to lend, nothing to read
    with pytest.raises(Conflict) as refused:
        _lend(clerk, filed)
    assert refused.value.code == "no_paper"
    with pytest.raises(Conflict):
        _lend(clerk, filed, kind=LoanKind.READ, due_on=TODAY)

    # with a scan it may be read, still not borrowed
    services.file_attach(actor=line.staff(Role.VILLAGE_AGENT), item=filed, upload=png_upload())
    with pytest.raises(Conflict):
        _lend(clerk, filed)
    loan = _lend(clerk, filed, kind=LoanKind.READ, due_on=TODAY)
    assert loan.kind == LoanKind.READ
    assert Loan.objects.filter(item=filed).count() == 1


def test_dates_a_loan_may_be_due(line, clerk):
    item = placed_item(line.village)

    def refused_due(kind, due_on):
        with pytest.raises(DomainError) as refused:
            _lend(clerk, item, kind=kind, due_on=due_on)
        assert refused.value.field == "due_on"

    # reading is back the same day
    refused_due(LoanKind.READ, dt.date(2026, 3, 11))
    # nothing is due before today
    refused_due(LoanKind.READ, dt.date(2026, 3, 9))
    refused_due(LoanKind.BORROW, dt.date(2026, 3, 9))
    # 10 March + 90 days = 8 June; 9 June is too far
    refused_due(LoanKind.BORROW, dt.date(2026, 6, 9))
    assert not Loan.objects.exists()

    assert _lend(clerk, item, due_on=dt.date(2026, 6, 8)).due_on == dt.date(2026, 6, 8)
    lending.loan_return(actor=clerk, item=item)
    assert _lend(clerk, item, due_on=TODAY).due_on == TODAY


def test_borrower_purpose_and_kind_are_required(line, clerk):
    item = placed_item(line.village)
    for fields, field in (
        ({"borrower": "  "}, "borrower"),
        ({"purpose": ""}, "purpose"),
        ({"kind": "copy"}, "kind"),
    ):
        with pytest.raises(DomainError) as refused:
            _lend(clerk, item, **fields)
        assert refused.value.field == field
    assert not Loan.objects.exists()


def test_only_archive_clerks_in_scope_lend(line, clerk):
    other = region_line(county="320413")
    item = placed_item(line.village)
    theirs = placed_item(other.village)
    _lend(other.staff(Role.COUNTY_CLERK), theirs)

    # a village agent keeps no archives
    with pytest.raises(NotPermitted):
        _lend(line.staff(Role.VILLAGE_AGENT), item)
    # another county's clerk can neither lend nor take back ours
    with pytest.raises(DomainError) as refused:
        _lend(other.staff(Role.COUNTY_CLERK), item)
    assert refused.value.code == "out_of_scope"
    mine = _lend(clerk, item, due_on=dt.date(2026, 3, 10))
    with pytest.raises(DomainError) as refused:
        lending.loan_return(actor=other.staff(Role.COUNTY_CLERK), item=item)
    assert refused.value.code == "out_of_scope"

    # each lists only their own county's loans
    assert list(lending.open_loans(actor=clerk)) == [mine]
    assert list(lending.overdue_loans(actor=clerk, today=dt.date(2026, 3, 11))) == [mine]
    assert [loan.item for loan in lending.open_loans(actor=other.staff(Role.COUNTY_CLERK))] == [theirs]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_clerks_lending_one_item_at_once_make_one_loan():
    line = region_line()
    item = placed_item(line.village)
    clerks = [line.staff(Role.TOWNSHIP_CLERK), line.staff(Role.COUNTY_CLERK)]
    start = threading.Barrier(len(clerks))
    results: list = []

    def lend(clerk):
        try:
            start.wait(10)
            results.append(_lend(clerk, item, borrower=clerk.username))
        except DomainError as refusal:
            results.append(refusal)
        finally:
            connection.close()

    threads = [threading.Thread(target=lend, args=(clerk,)) for clerk in clerks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)

    loans = [result for result in results if isinstance(result, Loan)]
    refusals = [result for result in results if isinstance(result, Conflict)]
    assert (len(loans), len(refusals)) == (1, 1)
    assert refusals[0].code == "already_lent"
    assert list(Loan.objects.filter(item=item).values_list("borrower", flat=True)) == [loans[0].borrower]
