"""Relationship transfers: across two pooling regions of the scheme (the receiving side applies, the sending side
approves and pays, the receiving side books), to the employees' scheme and from it.

Both pooling regions set 1.5% for 2025. The mover: born 1 May 1980, 10 years paid (2015–2024), and at the end of
2024 5,000.00 personal money, 600.00 government subsidy and 400.00 collective subsidy: 6,000.00.
"""

import datetime as dt
from decimal import Decimal

import pytest
from django.db.models import Sum

from agencies.errors import Conflict, DomainError, NotPermitted
from agencies.models import Role
from agencies.tests.factories import region_line
from benefits import services
from benefits.models import Transfer, TransferKind, TransferStatus, YearsCredit, YearsCreditKind
from benefits.tests.factories import make_award, make_contributor, pension_line
from enrollment import idnumber
from enrollment.models import PersonStatus
from funds.models import Component, EntryKind, IndividualAccount, LedgerEntry

pytestmark = pytest.mark.django_db

D = Decimal


@pytest.fixture
def sending():
    return pension_line()


@pytest.fixture
def receiving():
    return pension_line(county="320411")


@pytest.fixture
def mover(sending):
    return make_contributor(
        sending,
        birth_date=dt.date(1980, 5, 1),
        years=10,
        balance=D("5000.00"),
        components={Component.GOVERNMENT_SUBSIDY: D("600.00"), Component.COLLECTIVE: D("400.00")},
        name="迁户",
    )


def _request(line, person, *, role=Role.COUNTY_CLERK, village=None, today=dt.date(2025, 4, 10), **overrides):
    fields = {"id_number": person.id_number, "hukou_moved_on": dt.date(2025, 3, 1), "reference": "ZY-2025-001"}
    fields.update(overrides)
    return services.transfer_request(actor=line.staff(role), to_village=village or line.village, today=today, **fields)


def _components(entries):
    return {e.component: e.amount for e in entries}


def test_transfer_across_pooling_regions_keeps_every_fen_and_the_years(sending, receiving, mover):
    insurance_number = mover.insurance_number
    # given the receiving side's request
    transfer = _request(receiving, mover)
    assert (transfer.status, transfer.kind) == (TransferStatus.REQUESTED, TransferKind.WITHIN_SCHEME)
    assert (transfer.from_region_code, transfer.to_region_code) == (mover.region_code, receiving.village.code)
    # when the sending side's approver approves on 15 April 2025
    transfer = services.transfer_approve(
        actor=sending.staff(Role.COUNTY_APPROVER), transfer=transfer, today=dt.date(2025, 4, 15)
    )
    # then interest is settled for January–March: 6,000 × 3 × 1.5% / 12 = 22.50
    entries = LedgerEntry.objects.filter(account__person=mover)
    assert entries.get(kind=EntryKind.INTEREST).amount == D("22.50")
    # and the whole 6,022.50 leaves, component by component
    moved_out = {
        Component.PERSONAL: D("-5000.00"),
        Component.GOVERNMENT_SUBSIDY: D("-600.00"),
        Component.COLLECTIVE: D("-400.00"),
        Component.INTEREST: D("-22.50"),
    }
    assert _components(entries.filter(kind=EntryKind.TRANSFER_OUT)) == moved_out
    account = IndividualAccount.objects.get(person=mover)
    assert account.balance == D("0.00") and account.closed_on == dt.date(2025, 4, 15)
    assert account.pooling_region == sending.pooling_region
    assert transfer.status == TransferStatus.MOVED
    assert transfer.amount == D("6022.50") and transfer.years_moved == 10
    # when the receiving side books it on 20 April
    transfer = services.transfer_book(
        actor=receiving.staff(Role.COUNTY_CLERK), transfer=transfer, today=dt.date(2025, 4, 20)
    )
    # then every component arrives whole, in the receiving pooling region's account
    moved_in = _components(entries.filter(kind=EntryKind.TRANSFER_IN))
    assert moved_in == {component: -amount for component, amount in moved_out.items()}
    account.refresh_from_db()
    assert (account.balance, account.closed_on) == (D("6022.50"), None)
    assert account.pooling_region == receiving.pooling_region and account.region_code == receiving.village.code
    assert (account.balance_personal, account.balance_government_subsidy, account.balance_collective) == (
        D("5000.00"),
        D("600.00"),
        D("400.00"),
    )
    assert account.balance_interest == D("22.50")
    assert entries.aggregate(s=Sum("amount"))["s"] == D("6022.50")
    # the person now lives in the receiving village, with the same insurance number and the same 10 years
    mover.refresh_from_db()
    assert (mover.village, mover.region_code) == (receiving.village, receiving.village.code)
    assert mover.insurance_number == insurance_number and mover.status == PersonStatus.ACTIVE
    assert services.years_paid(mover) == 10
    assert (transfer.status, transfer.region_code) == (TransferStatus.BOOKED, receiving.village.code)
    # booking again is refused
    with pytest.raises(Conflict):
        services.transfer_book(actor=receiving.staff(Role.COUNTY_CLERK), transfer=transfer)


def test_each_side_does_its_own_part(sending, receiving, mover):
    for role in (Role.VILLAGE_AGENT, Role.COUNTY_APPROVER, Role.COUNTY_FUND_OFFICER):
        with pytest.raises(NotPermitted):
            _request(receiving, mover, role=role)
    # the sending side cannot apply into the receiving side's village
    with pytest.raises(DomainError) as refused:
        services.transfer_request(
            actor=sending.staff(Role.COUNTY_CLERK),
            id_number=mover.id_number,
            to_village=receiving.village,
            hukou_moved_on=dt.date(2025, 3, 1),
            today=dt.date(2025, 4, 10),
        )
    assert refused.value.code == "out_of_scope"
    transfer = _request(receiving, mover, role=Role.TOWNSHIP_CLERK)
    # only the sending side's approver approves
    with pytest.raises(NotPermitted):
        services.transfer_approve(actor=sending.staff(Role.COUNTY_CLERK), transfer=transfer)
    with pytest.raises(DomainError) as refused:
        services.transfer_approve(actor=receiving.staff(Role.COUNTY_APPROVER), transfer=transfer)
    assert refused.value.code == "out_of_scope"
    # nothing is booked before the money has moved
    with pytest.raises(Conflict):
        services.transfer_book(actor=receiving.staff(Role.COUNTY_CLERK), transfer=transfer)
    transfer = services.transfer_approve(
        actor=sending.staff(Role.COUNTY_APPROVER), transfer=transfer, today=dt.date(2025, 4, 15)
    )
    with pytest.raises(Conflict):
        services.transfer_approve(actor=sending.staff(Role.COUNTY_APPROVER), transfer=transfer)
    # only the receiving side books
    with pytest.raises(DomainError) as refused:
        services.transfer_book(actor=sending.staff(Role.COUNTY_CLERK), transfer=transfer)
    assert refused.value.code == "out_of_scope"
    with pytest.raises(NotPermitted):
        services.transfer_book(actor=receiving.staff(Role.COUNTY_APPROVER), transfer=transfer)
    assert Transfer.objects.get().status == TransferStatus.MOVED


def test_the_requester_cannot_approve_their_own_transfer(sending, mover):
    # a clerk enters a move to the employees' scheme, then becomes the county's approver
    clerk = sending.staff(Role.COUNTY_CLERK)
    transfer = services.transfer_to_employees(actor=clerk, person=mover, employee_years=16, reference="ZG-1")
    clerk.role = Role.COUNTY_APPROVER
    clerk.save()
    with pytest.raises(NotPermitted) as refused:
        services.transfer_approve(actor=clerk, transfer=transfer, today=dt.date(2025, 4, 15))
    assert refused.value.code == "own_transfer"
    assert Transfer.objects.get().status == TransferStatus.REQUESTED
    assert not LedgerEntry.objects.filter(kind=EntryKind.TRANSFER_OUT).exists()


def test_a_move_within_the_pooling_region_is_not_a_transfer(sending, mover):
    neighbour = region_line(village="202")  # the next village, same county and pooling region
    with pytest.raises(DomainError) as refused:
        _request(sending, mover, village=neighbour.village)
    assert refused.value.field == "to_village"
    with pytest.raises(DomainError) as refused:
        _request(sending, mover, village=sending.township)
    assert refused.value.field == "to_village"
    assert not Transfer.objects.exists()


def test_bad_requests_are_refused(receiving, mover):
    with pytest.raises(DomainError) as refused:
        _request(receiving, mover, id_number=mover.id_number[:17] + ("0" if mover.id_number[17] != "0" else "1"))
    assert refused.value.field == "id_number"
    with pytest.raises(DomainError) as refused:
        _request(receiving, mover, id_number=idnumber.make("110101", dt.date(1990, 1, 1), 123))  # nobody's
    assert refused.value.field == "id_number"
    with pytest.raises(DomainError) as refused:
        _request(receiving, mover, hukou_moved_on=dt.date(2025, 5, 1))
    assert refused.value.field == "hukou_moved_on"
    mover.status = PersonStatus.CANCELLED
    mover.save()
    with pytest.raises(Conflict):
        _request(receiving, mover)
    assert not Transfer.objects.exists()


def test_a_second_open_transfer_is_refused(receiving, mover):
    _request(receiving, mover)
    with pytest.raises(Conflict) as refused:
        _request(receiving, mover, reference="ZY-2025-002")
    assert refused.value.code == "open_transfer"
    assert Transfer.objects.count() == 1


def test_a_recipient_cannot_transfer(sending, receiving):
    person = make_contributor(sending, name="领取人")
    make_award(sending, person, claimed_on=dt.date(2025, 3, 5), approved_on=dt.date(2025, 3, 20))
    with pytest.raises(Conflict) as refused:
        _request(receiving, person, today=dt.date(2025, 4, 10))
    assert refused.value.code == "receiving"
    with pytest.raises(Conflict) as refused:
        services.transfer_to_employees(
            actor=sending.staff(Role.COUNTY_CLERK), person=person, employee_years=20, reference="ZG-9"
        )
    assert refused.value.code == "receiving"
    assert not Transfer.objects.exists()


def test_an_award_made_after_the_request_stops_the_transfer(sending):
    # born 10 March 1965: a move to the employees' scheme is entered, then a resident pension is approved
    person = make_contributor(sending, name="两边")
    transfer = services.transfer_to_employees(
        actor=sending.staff(Role.COUNTY_CLERK), person=person, employee_years=16, reference="ZG-2"
    )
    make_award(sending, person, claimed_on=dt.date(2025, 3, 5), approved_on=dt.date(2025, 3, 20))
    with pytest.raises(Conflict) as refused:
        services.transfer_approve(
            actor=sending.staff(Role.COUNTY_APPROVER), transfer=transfer, today=dt.date(2025, 4, 15)
        )
    assert refused.value.code == "receiving"
    assert not LedgerEntry.objects.filter(kind=EntryKind.TRANSFER_OUT).exists()


def test_to_the_employees_scheme_with_15_years_or_more(sending, mover):
    clerk = sending.staff(Role.COUNTY_CLERK)
    with pytest.raises(DomainError) as refused:
        services.transfer_to_employees(actor=clerk, person=mover, employee_years=14, reference="ZG-1")
    assert refused.value.field == "employee_years"
    with pytest.raises(DomainError) as refused:
        services.transfer_to_employees(actor=clerk, person=mover, employee_years=15, reference=" ")
    assert refused.value.field == "reference"
    transfer = services.transfer_to_employees(actor=clerk, person=mover, employee_years=15, reference="ZG-1")
    # approved on 10 June 2025: interest 6,000 × 5 × 1.5% / 12 = 37.50; 6,037.50 leaves whole
    transfer = services.transfer_approve(
        actor=sending.staff(Role.COUNTY_APPROVER), transfer=transfer, today=dt.date(2025, 6, 10)
    )
    assert (transfer.status, transfer.amount, transfer.employee_years) == (TransferStatus.MOVED, D("6037.50"), 15)
    assert transfer.amounts_by_component == {
        Component.PERSONAL: "5000.00",
        Component.GOVERNMENT_SUBSIDY: "600.00",
        Component.COLLECTIVE: "400.00",
        Component.INTEREST: "37.50",
    }
    account = IndividualAccount.objects.get(person=mover)
    assert account.balance == D("0.00") and account.closed_on == dt.date(2025, 6, 10)
    mover.refresh_from_db()
    assert (mover.status, mover.cancelled_on) == (PersonStatus.CANCELLED, dt.date(2025, 6, 10))


def test_from_the_employees_scheme_with_fewer_than_15_years(sending, mover):
    clerk = sending.staff(Role.COUNTY_CLERK)
    for years in (0, 15):
        with pytest.raises(DomainError) as refused:
            services.transfer_from_employees(
                actor=clerk, person=mover, employee_years=years, amount="8000", reference="ZR-1"
            )
        assert refused.value.field == "employee_years"
    with pytest.raises(DomainError) as refused:
        services.transfer_from_employees(actor=clerk, person=mover, employee_years=5, amount="8千", reference="ZR-1")
    assert refused.value.field == "amount"
    with pytest.raises(NotPermitted):
        services.transfer_from_employees(
            actor=sending.staff(Role.VILLAGE_AGENT), person=mover, employee_years=5, amount="8000", reference="ZR-1"
        )
    # when 5 employee years and 8,000.00 arrive on 1 May 2025
    transfer = services.transfer_from_employees(
        actor=clerk, person=mover, employee_years=5, amount="8000.00", reference="ZR-1", today=dt.date(2025, 5, 1)
    )
    # then the money is personal money, and the years count: 10 + 5 = 15
    assert (transfer.kind, transfer.status, transfer.amount) == (
        TransferKind.FROM_EMPLOYEES,
        TransferStatus.BOOKED,
        D("8000.00"),
    )
    [arrived] = LedgerEntry.objects.filter(kind=EntryKind.TRANSFER_IN)
    assert (arrived.component, arrived.amount, arrived.booked_on) == (
        Component.PERSONAL,
        D("8000.00"),
        dt.date(2025, 5, 1),
    )
    assert IndividualAccount.objects.get(person=mover).balance == D("14000.00")  # 6,000 + 8,000
    [credit] = YearsCredit.objects.filter(person=mover)
    assert (credit.kind, credit.years) == (YearsCreditKind.EMPLOYEES_SCHEME, 5)
    assert services.years_paid(mover) == 15
    # the same letter again: the same transfer, nothing booked twice
    again = services.transfer_from_employees(
        actor=clerk, person=mover, employee_years=5, amount="8000.00", reference="ZR-1", today=dt.date(2025, 5, 2)
    )
    assert again.pk == transfer.pk
    assert LedgerEntry.objects.filter(kind=EntryKind.TRANSFER_IN).count() == 1
    assert services.years_paid(mover) == 15
    # the same letter with other figures is refused
    with pytest.raises(Conflict):
        services.transfer_from_employees(
            actor=clerk, person=mover, employee_years=6, amount="8000.00", reference="ZR-1"
        )
