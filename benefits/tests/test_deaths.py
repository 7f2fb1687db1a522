"""Deaths: the civil-affairs death and cremation list matched whole or not at all, the award paid for the month of
death and stopped after it, what was paid later an overpayment; then the settlement with the heir.

Death-list award: 323.38 a month from April 2025 (basic 123 + 100 = 223; account 13,952.13 ÷ 139 → 100.38).
"""

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from openpyxl import Workbook

from agencies.errors import Conflict, DomainError, NotPermitted
from agencies.models import Role
from benefits import services
from benefits.models import (
    Award,
    AwardStatus,
    DeathListLoad,
    DeathRecord,
    DeathSettlement,
    LineKind,
    Overpayment,
    OverpaymentStatus,
    RecoveryMethod,
    StopReason,
)
from benefits.tests.factories import make_award, make_contributor, pension_line, run_payroll
from enrollment import idnumber
from enrollment.models import PersonStatus
from funds.models import EntryKind, IndividualAccount, LedgerEntry

pytestmark = pytest.mark.django_db

APRIL, MAY, JUNE, JULY, AUGUST = (dt.date(2025, m, 1) for m in (4, 5, 6, 7, 8))
TODAY = dt.date(2025, 7, 20)


@pytest.fixture
def line():
    return pension_line()


@pytest.fixture
def award(line):
    person = make_contributor(line, name="周一")
    return make_award(line, person, claimed_on=dt.date(2025, 3, 5), approved_on=dt.date(2025, 3, 20))


def _csv(*rows, header=True, encoding="utf-8") -> bytes:
    lines = (["身份证号,死亡日期"] if header else []) + [",".join(row) for row in rows]
    return ("\n".join(lines) + "\n").encode(encoding)


def _load(line, content, *, file_name="deaths.csv", today=TODAY, role=Role.COUNTY_CLERK):
    return services.death_list_load(actor=line.staff(role), file_name=file_name, content=content, today=today)


def _wrong_check(number: str) -> str:
    return number[:17] + ("0" if number[17] != "0" else "1")


# --- the death list ----------------------------------------------------------------------------------------


def test_a_malformed_list_is_refused_row_by_row_and_matches_nothing(line, award):
    other = make_contributor(line, birth_date=dt.date(1950, 1, 2), name="吴二")
    content = _csv(
        (award.person.id_number, "2025-05-15"),  # row 2: good
        (_wrong_check(other.id_number), "2025-05-15"),  # row 3: check character wrong
        (other.id_number, "2025-13-01"),  # row 4: no such date
        (other.id_number, "2025-09-01"),  # row 5: after today
        (award.person.id_number, "2025-05-15"),  # row 6: the person of row 2 again
    )
    with pytest.raises(services.RowErrors) as refused:
        _load(line, content)
    assert [(e["row"], e["field"]) for e in refused.value.errors] == [
        (3, "id_number"),
        (4, "died_on"),
        (5, "died_on"),
        (6, "id_number"),
    ]
    assert "校验位" in refused.value.errors[0]["message"]
    assert "第2行" in refused.value.errors[3]["message"]
    # nothing matched: not even the good row
    assert not DeathListLoad.objects.exists() and not DeathRecord.objects.exists()
    award.refresh_from_db()
    assert award.status == AwardStatus.ACTIVE


def test_a_row_without_a_date_or_dying_before_birth_is_refused(line, award):
    content = _csv((award.person.id_number,), (idnumber.make("110101", dt.date(1990, 1, 1), 123), "1980-01-01"))
    with pytest.raises(services.RowErrors) as refused:
        _load(line, content)
    assert [(e["row"], e["field"]) for e in refused.value.errors] == [(2, "died_on"), (3, "died_on")]


def test_death_in_mid_month_is_paid_that_month_and_recovered_after(line, award):
    # given April to July paid at 323.38
    for month in (APRIL, MAY, JUNE, JULY):
        run_payroll(line, month)
    # when the list says the recipient died on 15 May
    load = _load(line, _csv((award.person.id_number, "2025-05-15")))
    # then the award is stopped from June: May stays paid
    award.refresh_from_db()
    assert (award.status, award.paid_until, award.stop_reason) == (AwardStatus.STOPPED, JUNE, StopReason.DEATH)
    assert award.payroll_lines.filter(run__month=MAY, kind=LineKind.PENSION).get().total == Decimal("323.38")
    # June and July become an overpayment: 2 × 323.38 = 646.76
    [overpayment] = Overpayment.objects.filter(award=award)
    assert (overpayment.first_month, overpayment.last_month, overpayment.amount) == (JUNE, JULY, Decimal("646.76"))
    assert overpayment.reason == StopReason.DEATH and overpayment.status == OverpaymentStatus.OPEN
    assert (load.rows_read, load.matches, load.overpayments) == (1, 1, 1)
    death = DeathRecord.objects.get(person=award.person)
    assert death.died_on == dt.date(2025, 5, 15) and death.load == load
    # August's payroll leaves the award out
    assert not run_payroll(line, AUGUST).lines.filter(award=award).exists()


def test_loading_the_same_list_twice_changes_nothing(line, award):
    for month in (APRIL, MAY, JUNE, JULY):
        run_payroll(line, month)
    content = _csv((award.person.id_number, "2025-05-15"))
    first = _load(line, content)
    second = _load(line, content, file_name="again.csv")
    assert second.pk == first.pk
    assert DeathListLoad.objects.count() == 1 and DeathRecord.objects.count() == 1
    assert Overpayment.objects.get().amount == Decimal("646.76")


def test_gbk_csv_and_xlsx_lists_are_read(line, award):
    second = make_award(
        line,
        make_contributor(line, birth_date=dt.date(1965, 2, 3), name="郑三"),
        claimed_on=dt.date(2025, 3, 5),
        approved_on=dt.date(2025, 3, 20),
    )
    # GBK (as Excel saves a CSV on a Chinese Windows), with dates written 2025/06/30
    gbk = _csv((award.person.id_number, "2025/06/30"), encoding="gbk")
    with pytest.raises(UnicodeDecodeError):
        gbk.decode("utf-8")
    _load(line, gbk, file_name="民政名单.csv")
    # .xlsx with real date cells
    book = Workbook()
    sheet = book.active
    sheet.append(["身份证号", "死亡日期"])
    sheet.append([second.person.id_number, dt.date(2025, 7, 2)])
    buffer = io.BytesIO()
    book.save(buffer)
    _load(line, buffer.getvalue(), file_name="火化名单.xlsx")
    assert dict(DeathRecord.objects.values_list("person_id", "died_on")) == {
        award.person_id: dt.date(2025, 6, 30),
        second.person_id: dt.date(2025, 7, 2),
    }
    paid_until = dict(Award.objects.values_list("id", "paid_until"))
    assert paid_until == {award.pk: JULY, second.pk: AUGUST}


def test_a_list_matches_only_persons_in_the_loaders_scope(line, award):
    elsewhere = pension_line(county="320411")
    outside = make_award(
        elsewhere,
        make_contributor(elsewhere, name="王外"),
        claimed_on=dt.date(2025, 3, 5),
        approved_on=dt.date(2025, 3, 20),
    )
    content = _csv((award.person.id_number, "2025-06-01"), (outside.person.id_number, "2025-06-01"))
    load = _load(line, content)
    assert (load.rows_read, load.matches) == (2, 1)
    assert list(DeathRecord.objects.values_list("person_id", flat=True)) == [award.person_id]
    outside.refresh_from_db()
    assert outside.status == AwardStatus.ACTIVE
    # the other county's own clerk matches theirs with the same file
    assert _load(elsewhere, content).matches == 1


def test_who_may_load_a_death_list(line, award):
    content = _csv((award.person.id_number, "2025-06-01"))
    for role in (Role.VILLAGE_AGENT, Role.TOWNSHIP_CLERK, Role.COUNTY_FUND_OFFICER, Role.CITY_SUPERVISOR):
        with pytest.raises(NotPermitted):
            _load(line, content, role=role)
    assert _load(line, content, role=Role.COUNTY_APPROVER).matches == 1


def test_a_death_reported_after_a_suspension_recovers_only_months_after_death(line, award):
    # the agent could not find the recipient in July and reported a stop: suspended from August
    for month in (APRIL, MAY, JUNE, JULY):
        run_payroll(line, month)
    services.monthly_confirmation_record(
        actor=line.staff(Role.VILLAGE_AGENT), award=award, month=JULY, alive=False, stop_reason="other", note="失联"
    )
    # the list then says 15 May: stopped from June, June and July recovered (the suspension's August is later)
    _load(line, _csv((award.person.id_number, "2025-05-15")))
    award.refresh_from_db()
    assert (award.status, award.paid_until) == (AwardStatus.STOPPED, JUNE)
    assert Overpayment.objects.get().amount == Decimal("646.76")


def test_a_death_after_a_suspension_keeps_the_unpaid_months_unpaid(line, award):
    # suspended from June on the agent's report in May; June and July paid without it
    run_payroll(line, APRIL)
    run_payroll(line, MAY)
    services.monthly_confirmation_record(
        actor=line.staff(Role.VILLAGE_AGENT), award=award, month=MAY, alive=False, stop_reason="death"
    )
    run_payroll(line, JUNE)
    run_payroll(line, JULY)
    _load(line, _csv((award.person.id_number, "2025-05-28")))
    award.refresh_from_db()
    assert (award.status, award.paid_until) == (AwardStatus.STOPPED, JUNE)
    assert not Overpayment.objects.exists()


def test_back_pay_for_months_before_death_is_not_an_overpayment(line, award):
    approver = line.staff(Role.COUNTY_APPROVER)
    # suspended from June, resumed in August: June and July back paid with August's pension
    run_payroll(line, APRIL)
    run_payroll(line, MAY)
    services.award_suspend(actor=approver, award=award, from_month=JUNE, reason="other")
    run_payroll(line, JUNE)
    run_payroll(line, JULY)
    services.award_resume(actor=approver, award=award, today=dt.date(2025, 8, 1))
    august = run_payroll(line, AUGUST)
    assert august.total == Decimal("970.14")  # 323.38 + 2 × 323.38
    # when the recipient turns out to have died on 10 July
    services.death_record(
        actor=line.staff(Role.COUNTY_CLERK),
        person=award.person,
        died_on=dt.date(2025, 7, 10),
        source="家属报告",
        today=dt.date(2025, 8, 25),
    )
    # then only August's month is recovered: June and July were due (alive), paid late
    [overpayment] = Overpayment.objects.all()
    assert (overpayment.first_month, overpayment.last_month, overpayment.amount) == (AUGUST, AUGUST, Decimal("323.38"))


def test_death_record_refuses_the_future_and_a_different_date(line, award):
    clerk = line.staff(Role.TOWNSHIP_CLERK)
    with pytest.raises(DomainError):
        services.death_record(actor=clerk, person=award.person, died_on=dt.date(2025, 8, 1), source="家属", today=TODAY)
    services.death_record(actor=clerk, person=award.person, died_on=dt.date(2025, 6, 1), source="家属", today=TODAY)
    with pytest.raises(Conflict):
        services.death_record(actor=clerk, person=award.person, died_on=dt.date(2025, 6, 2), source="民政", today=TODAY)
    with pytest.raises(NotPermitted):
        services.death_record(
            actor=line.staff(Role.VILLAGE_AGENT),
            person=award.person,
            died_on=dt.date(2025, 6, 1),
            source="家属",
            today=TODAY,
        )


def test_a_conflicting_date_refuses_the_whole_list(line, award):
    other = make_contributor(line, birth_date=dt.date(1950, 1, 2), name="吴二")
    services.death_record(
        actor=line.staff(Role.COUNTY_CLERK),
        person=award.person,
        died_on=dt.date(2025, 6, 1),
        source="家属",
        today=TODAY,
    )
    with pytest.raises(Conflict):
        _load(line, _csv((other.id_number, "2025-06-03"), (award.person.id_number, "2025-06-09")))
    # nothing half-applied: the first row's person is not recorded either
    assert not DeathRecord.objects.filter(person=other).exists()
    assert not DeathListLoad.objects.exists()


# --- the death settlement ----------------------------------------------------------------------------------
#
# A region with a 1.5% rate for 2026 only, and a funeral grant of 1,000 + 2 months of basic pension.
# Born 10 December 1965, 15 years, 13,900.00 personal money at the end of 2024; claimed in December 2025 and
# approved on 20 December, so the pension starts in January 2026 (no months of 2026 before it: no interest at
# the start); account pension 13,900 ÷ 139 = 100.00; basic 123 + 100 = 223; 323.00 a month.
# January–June 2026 paid, 100.00 a month from the personal money. Died on 15 May 2026: June is overpaid.


@pytest.fixture
def settled_line():
    return pension_line(rates={2026: "0.01500"}, funeral_grant_fixed="1000", funeral_grant_months="2")


@pytest.fixture
def deceased(settled_line):
    person = make_contributor(settled_line, birth_date=dt.date(1965, 12, 10), name="孙五")
    award = make_award(settled_line, person, claimed_on=dt.date(2025, 12, 5), approved_on=dt.date(2025, 12, 20))
    assert (award.start_month, award.account_pension) == (dt.date(2026, 1, 1), Decimal("100.00"))
    for month in range(1, 7):
        run_payroll(settled_line, dt.date(2026, month, 1))
    services.death_record(
        actor=settled_line.staff(Role.TOWNSHIP_CLERK),
        person=person,
        died_on=dt.date(2026, 5, 15),
        source="家属报告",
        today=dt.date(2026, 6, 20),
    )
    assert Overpayment.objects.get(person=person).amount == Decimal("323.00")
    return person


HEIR = idnumber.make("320412", dt.date(1990, 4, 1), 13)


def _settle(line, person, *, today=dt.date(2026, 7, 10), role=Role.COUNTY_APPROVER, **overrides):
    fields = {
        "heir_name": "孙小五",
        "heir_id_number": HEIR,
        "heir_relation": "子",
        "proof": SimpleUploadedFile("继承公证书.pdf", b"%PDF-1.4 proof"),
        "heir_bank_code": "ICBC",
        "heir_bank_account": "6222000011112222",
    }
    fields.update(overrides)
    return services.death_settlement_record(actor=line.staff(role), person=person, today=today, **fields)


def test_death_settlement_by_hand(settled_line, deceased):
    # when the county settles on 10 July 2026
    settlement = _settle(settled_line, deceased)
    entries = LedgerEntry.objects.filter(account__person=deceased)
    # interest to July (c = 7): the opening 13,900.00 earns 6 months; each 100.00 debited on the 1st of month m
    # stops earning from m, i.e. loses 7 − m months: 6 + 5 + 4 + 3 + 2 + 1 = 21.
    # (13,900 × 6 − 100 × 21) × 1.5% / 12 = 81,300 × 0.00125 = 101.625 → 101.63
    assert entries.get(kind=EntryKind.INTEREST).amount == Decimal("101.63")
    # balance 13,900 − 6 × 100 + 101.63 = 13,401.63: personal 13,300.00, interest 101.63.
    # The overpaid 323.00 is offset first, in proportion by the largest remainder in fen:
    # 32,300 × 1,330,000 / 1,340,163 = 32,055 r 75,035; 32,300 × 10,163 / 1,340,163 = 244 r 1,265,128;
    # the one fen left goes to the larger remainder (interest): 320.55 + 2.45
    recovery = {e.component: e.amount for e in entries.filter(kind=EntryKind.RECOVERY)}
    assert recovery == {"personal": Decimal("-320.55"), "interest": Decimal("-2.45")}
    # the rest to the heir: 13,300.00 − 320.55 = 12,979.45 and 101.63 − 2.45 = 99.18; 13,078.63 in all
    inheritance = {e.component: e.amount for e in entries.filter(kind=EntryKind.INHERITANCE)}
    assert inheritance == {"personal": Decimal("-12979.45"), "interest": Decimal("-99.18")}
    assert settlement.balance_paid == Decimal("13078.63")
    assert settlement.overpayment_offset == Decimal("323.00")
    account = IndividualAccount.objects.get(person=deceased)
    assert account.balance == Decimal("0.00") and account.closed_on == dt.date(2026, 7, 10)
    assert all(getattr(account, f"balance_{c}") == 0 for c in ("personal", "interest", "government_subsidy"))
    # funeral grant: 1,000 + 2 × 223.00 (the basic pension of May 2026, the month of death) = 1,446.00
    assert settlement.funeral_grant == Decimal("1446.00")
    overpayment = Overpayment.objects.get(person=deceased)
    assert (overpayment.status, overpayment.recovered) == (OverpaymentStatus.RECOVERED, Decimal("323.00"))
    [step] = overpayment.steps.all()
    assert (step.method, step.amount) == (RecoveryMethod.ACCOUNT_OFFSET, Decimal("323.00"))
    deceased.refresh_from_db()
    assert (deceased.status, deceased.cancelled_on) == (PersonStatus.CANCELLED, dt.date(2026, 5, 15))
    assert (settlement.heir_id_number, settlement.heir_relation) == (HEIR, "子")
    assert settlement.proof.name.endswith(".pdf")
    # a second settlement is refused, and nothing more leaves the account
    with pytest.raises(Conflict):
        _settle(settled_line, deceased)
    assert DeathSettlement.objects.count() == 1
    assert entries.count() == 1 + 6 + 1 + 2 + 2  # opening, six pensions, interest, recovery, inheritance


def test_the_heir_and_the_proof_are_checked(settled_line, deceased):
    with pytest.raises(DomainError) as refused:
        _settle(settled_line, deceased, heir_id_number=_wrong_check(HEIR))
    assert refused.value.field == "heir_id_number"
    with pytest.raises(DomainError) as refused:
        _settle(settled_line, deceased, heir_id_number=deceased.id_number)
    assert refused.value.field == "heir_id_number"
    with pytest.raises(DomainError) as refused:
        _settle(settled_line, deceased, proof=None)
    assert refused.value.field == "proof"
    with pytest.raises(DomainError) as refused:
        _settle(settled_line, deceased, heir_name="  ")
    assert refused.value.field == "heir_name"
    with pytest.raises(DomainError) as refused:
        _settle(settled_line, deceased, heir_relation="")
    assert refused.value.field == "heir_relation"
    for role in (Role.COUNTY_CLERK, Role.TOWNSHIP_CLERK, Role.COUNTY_FUND_OFFICER):
        with pytest.raises(NotPermitted):
            _settle(settled_line, deceased, role=role)
    elsewhere = pension_line(county="320411", rates={})
    with pytest.raises(DomainError) as refused:
        _settle(elsewhere, deceased)
    assert refused.value.code == "out_of_scope"
    # nothing was written by any of these
    assert not DeathSettlement.objects.exists()
    assert IndividualAccount.objects.get(person=deceased).balance == Decimal("13300.00")


def test_settlement_needs_a_recorded_death(settled_line):
    person = make_contributor(settled_line, name="钱六")
    with pytest.raises(Conflict) as refused:
        _settle(settled_line, person)
    assert refused.value.code == "no_death"


def test_death_before_the_pension_pays_the_whole_balance_without_a_grant(settled_line):
    # a contributor (no award) who died on 3 February 2026: interest to March on 13,900.00 for 2 months
    person = make_contributor(settled_line, birth_date=dt.date(1970, 5, 17), name="钱六")
    services.death_record(
        actor=settled_line.staff(Role.COUNTY_CLERK),
        person=person,
        died_on=dt.date(2026, 2, 3),
        source="家属报告",
        today=dt.date(2026, 3, 2),
    )
    settlement = _settle(settled_line, person, today=dt.date(2026, 3, 2))
    # 13,900 × 2 × 1.5% / 12 = 34.75; 13,934.75 to the heir; no award, no funeral grant
    assert settlement.balance_paid == Decimal("13934.75")
    assert settlement.funeral_grant == Decimal("0.00") and settlement.overpayment_offset == Decimal("0.00")
    assert IndividualAccount.objects.get(person=person).balance == Decimal("0.00")


def test_a_clerk_without_an_agency_loads_nothing(line, award):
    clerk = line.staff(Role.COUNTY_CLERK, username="unattached")
    clerk.agency = None
    clerk.save()
    with pytest.raises(NotPermitted):
        services.death_list_load(
            actor=clerk, file_name="deaths.csv", content=_csv((award.person.id_number, "2025-06-01")), today=TODAY
        )
    assert not DeathListLoad.objects.exists() and not DeathRecord.objects.exists()
