import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from agencies.errors import Conflict, DomainError, NotPermitted
from agencies.models import Role
from agencies.tests.factories import region_line
from enrollment import idnumber, services
from enrollment.models import (
    ApplicationKind,
    ApplicationStatus,
    CancellationReason,
    InsuranceNumberCounter,
    InsuredPerson,
    PersonStatus,
    SpecialGroup,
)
from enrollment.tests.factories import make_person

pytestmark = pytest.mark.django_db
TODAY = dt.date(2026, 11, 22)


@pytest.fixture
def line():
    return region_line()


@pytest.fixture
def staff(line):
    return {
        "agent": line.staff(Role.VILLAGE_AGENT),
        "township": line.staff(Role.TOWNSHIP_CLERK),
        "township2": line.staff(Role.TOWNSHIP_CLERK, username="township_second"),
        "approver": line.staff(Role.COUNTY_APPROVER),
        "county_clerk": line.staff(Role.COUNTY_CLERK),
    }


def proof() -> SimpleUploadedFile:
    return SimpleUploadedFile("proof.pdf", b"%PDF-1.4 proof", content_type="application/pdf")


def register(line, actor, *, number=None, name="李秀英", birth=dt.date(1975, 3, 8), **kwargs):
    number = number or idnumber.make(line.village.code[:6], birth, 22)
    return services.registration_submit(
        actor=actor,
        village=line.village,
        id_number=number,
        data={"name": name, "phone": "13800000000"},
        today=TODAY,
        **kwargs,
    )


def approve_all(application, staff):
    services.application_accept(actor=staff["township"], application=application)
    return services.application_approve(actor=staff["approver"], application=application, today=TODAY)


# --- registration -----------------------------------------------------------------------------------


def test_registration_creates_pending_person_and_application(line, staff):
    application = register(line, staff["agent"])

    person = application.person
    assert application.kind == ApplicationKind.REGISTER
    assert application.status == ApplicationStatus.SUBMITTED
    assert person.status == PersonStatus.PENDING
    assert person.insurance_number is None
    assert person.birth_date == dt.date(1975, 3, 8)
    assert person.sex == "F"  # sequence 022 is even
    assert person.name_initials == "lxy"
    assert person.region_code == line.village.code
    assert [event.action for event in application.events.all()] == ["submit"]
    assert person.history.first().history_user == staff["agent"]


def test_full_registration_flow_gives_insurance_number(line, staff):
    application = register(line, staff["agent"])

    services.application_accept(actor=staff["township"], application=application)
    application.refresh_from_db()
    assert application.status == ApplicationStatus.ACCEPTED
    assert application.reviewed_by == staff["township"]

    services.application_approve(actor=staff["approver"], application=application, today=TODAY)
    application.refresh_from_db()
    person = application.person
    person.refresh_from_db()
    assert application.status == ApplicationStatus.APPROVED
    assert application.decided_by == staff["approver"]
    assert person.status == PersonStatus.ACTIVE
    assert person.enrolled_on == TODAY
    assert person.insurance_number == "32041200000001"
    assert [e.action for e in application.events.all()] == ["submit", "accept", "approve"]
    assert [e.to_status for e in application.events.all()] == ["submitted", "accepted", "approved"]


def test_insurance_numbers_are_sequential_and_never_reused(line, staff):
    first = approve_all(register(line, staff["agent"], name="甲"), staff)
    second_application = register(line, staff["agent"], name="乙", birth=dt.date(1980, 1, 1))
    # A withdrawn registration consumes no number; the next approval takes the next serial.
    services.application_withdraw(actor=staff["agent"], application=second_application)
    third = approve_all(register(line, staff["agent"], name="丙", birth=dt.date(1981, 1, 1)), staff)

    assert first.person.insurance_number == "32041200000001"
    third.person.refresh_from_db()
    assert third.person.insurance_number == "32041200000002"
    assert InsuranceNumberCounter.objects.get(county_code="320412").last_serial == 2


def test_under_sixteen_refused_and_nothing_saved(line, staff):
    with pytest.raises(DomainError) as refusal:
        register(line, staff["agent"], birth=dt.date(2011, 1, 1))
    assert refusal.value.field == "id_number"
    assert refusal.value.code == "under_age"
    assert not InsuredPerson.objects.exists()


def test_same_id_number_anywhere_refused(line, staff):
    other = region_line(county="320411")
    existing = make_person(other.village, name="王建国", id_number=idnumber.make("320411", dt.date(1960, 1, 1), 11))

    with pytest.raises(DomainError) as refusal:
        register(line, staff["agent"], number=existing.id_number.lower())
    assert refusal.value.code == "duplicate_id"
    # Another county's person: the clerk learns where and in which state, not who.
    assert "王建国" not in refusal.value.message
    assert "村320411101201" in refusal.value.message
    assert InsuredPerson.objects.count() == 1


def test_same_id_number_in_own_jurisdiction_names_the_holder(line, staff):
    existing = make_person(line.village, name="王建国", id_number=idnumber.make("320412", dt.date(1960, 1, 1), 11))
    with pytest.raises(DomainError) as refusal:
        register(line, staff["agent"], number=existing.id_number)
    assert "王建国" in refusal.value.message


def test_only_the_creator_resubmits_or_withdraws(line, staff):
    application = register(line, staff["agent"])
    services.application_return(actor=staff["township"], application=application, reason="缺照片")
    other_agent = line.staff(Role.VILLAGE_AGENT, username="agent_two")
    with pytest.raises(NotPermitted):
        services.application_resubmit(actor=other_agent, application=application)
    with pytest.raises(NotPermitted):
        services.application_withdraw(actor=other_agent, application=application)


def test_resubmit_corrects_identity_number_of_a_registration(line, staff):
    application = register(line, staff["agent"], birth=dt.date(1975, 3, 8))
    services.application_return(actor=staff["township"], application=application, reason="身份证号录错")
    corrected = idnumber.make("320412", dt.date(1975, 8, 3), 31)
    services.application_resubmit(actor=staff["agent"], application=application, data={"id_number": corrected})
    application.refresh_from_db()
    person = application.person
    assert person.id_number == corrected
    assert person.birth_date == dt.date(1975, 8, 3)
    assert person.sex == "M"
    assert application.changes["id_number"] == corrected


def test_same_name_and_birth_date_in_village_needs_confirmation(line, staff):
    make_person(line.village, name="李秀英", birth_date=dt.date(1975, 3, 8))

    with pytest.raises(DomainError) as refusal:
        register(line, staff["agent"], name="李秀英", birth=dt.date(1975, 3, 8))
    assert refusal.value.code == "possible_duplicate"
    assert refusal.value.field == "confirm_possible_duplicate"

    application = register(
        line, staff["agent"], name="李秀英", birth=dt.date(1975, 3, 8), confirm_possible_duplicate=True
    )
    assert application.person.pk is not None


def test_registration_outside_jurisdiction_refused(line, staff):
    other = region_line(county="320411")
    with pytest.raises(DomainError) as refusal:
        services.registration_submit(
            actor=staff["agent"],
            village=other.village,
            id_number=idnumber.make("320411", dt.date(1970, 1, 1), 3),
            data={"name": "赵六"},
            today=TODAY,
        )
    assert refusal.value.code == "out_of_scope"
    assert not InsuredPerson.objects.exists()


def test_roles_that_may_not_register(line):
    for role in (Role.COUNTY_APPROVER, Role.CITY_SUPERVISOR, Role.COUNTY_FUND_OFFICER):
        with pytest.raises(NotPermitted):
            register(line, line.staff(role))


# --- review -----------------------------------------------------------------------------------------


def test_creator_cannot_review_or_approve_own_application(line, staff):
    application = services.registration_submit(
        actor=staff["township"],
        village=line.village,
        id_number=idnumber.make("320412", dt.date(1970, 1, 1), 5),
        data={"name": "钱七"},
        today=TODAY,
    )
    with pytest.raises(NotPermitted) as refusal:
        services.application_accept(actor=staff["township"], application=application)
    assert refusal.value.code == "own_application"

    services.application_accept(actor=staff["township2"], application=application)
    application.refresh_from_db()
    assert application.status == ApplicationStatus.ACCEPTED


def test_township_cannot_approve_and_approver_cannot_accept(line, staff):
    application = register(line, staff["agent"])
    with pytest.raises(NotPermitted):
        services.application_approve(actor=staff["township"], application=application)
    with pytest.raises(NotPermitted):
        services.application_accept(actor=staff["approver"], application=application)


def test_approve_before_township_review_is_a_conflict(line, staff):
    application = register(line, staff["agent"])
    with pytest.raises(Conflict):
        services.application_approve(actor=staff["approver"], application=application)


def test_send_back_needs_reason_then_resubmit_with_correction(line, staff):
    application = register(line, staff["agent"], name="李秀瑛")
    with pytest.raises(DomainError) as refusal:
        services.application_return(actor=staff["township"], application=application, reason="  ")
    assert refusal.value.field == "reason"

    services.application_return(actor=staff["township"], application=application, reason="姓名与户口簿不符")
    application.refresh_from_db()
    assert application.status == ApplicationStatus.RETURNED
    assert application.return_reason == "姓名与户口簿不符"

    services.application_resubmit(actor=staff["agent"], application=application, data={"name": "李秀英"})
    application.refresh_from_db()
    assert application.status == ApplicationStatus.SUBMITTED
    assert application.person.name == "李秀英"
    assert application.person.name_initials == "lxy"
    events = list(application.events.values_list("action", "from_status", "to_status", "note"))
    assert events == [
        ("submit", "", "submitted", ""),
        ("return", "submitted", "returned", "姓名与户口簿不符"),
        ("resubmit", "returned", "submitted", ""),
    ]


def test_county_can_send_back_after_township_accepts(line, staff):
    application = register(line, staff["agent"])
    services.application_accept(actor=staff["township"], application=application)
    services.application_return(actor=staff["approver"], application=application, reason="缺少户口簿复印件")
    application.refresh_from_db()
    assert application.status == ApplicationStatus.RETURNED


def test_withdrawn_registration_frees_the_identity_number(line, staff):
    application = register(line, staff["agent"])
    number = application.person.id_number
    services.application_withdraw(actor=staff["agent"], application=application)
    application.person.refresh_from_db()
    assert application.person.status == PersonStatus.VOID

    again = register(line, staff["agent"], number=number)
    assert again.person.pk == application.person.pk
    assert again.person.status == PersonStatus.PENDING


def test_application_history_records_actors(line, staff):
    application = register(line, staff["agent"])
    approve_all(application, staff)
    users = [record.history_user for record in application.history.order_by("history_date")]
    assert users == [staff["agent"], staff["township"], staff["approver"]]
    reasons = [record.history_change_reason for record in application.person.history.order_by("history_date")]
    assert reasons == ["参保登记申请", "参保登记审批通过"]


# --- change -----------------------------------------------------------------------------------------


def test_change_of_address_needs_no_proof_and_applies_on_approval(line, staff):
    person = make_person(line.village, name="周明")
    application = services.change_submit(
        actor=staff["agent"],
        person=person,
        changes={"address": "新村路8号", "phone": "13912345678"},
        reason="搬家",
    )
    assert application.changes == {"address": "新村路8号", "phone": "13912345678"}
    approve_all(application, staff)
    person.refresh_from_db()
    assert person.address == "新村路8号"
    assert person.phone == "13912345678"
    record = person.history.first()
    assert record.history_user == staff["approver"]
    assert record.history_change_reason == "变更登记审批通过：搬家"


def test_change_of_identity_number_needs_proof_and_rederives_birth_date(line, staff):
    person = make_person(line.village, name="周明", birth_date=dt.date(1970, 1, 1))
    corrected = idnumber.make("320412", dt.date(1970, 10, 1), 13)
    with pytest.raises(DomainError) as refusal:
        services.change_submit(actor=staff["agent"], person=person, changes={"id_number": corrected})
    assert refusal.value.field == "proof"

    application = services.change_submit(
        actor=staff["agent"], person=person, changes={"id_number": corrected}, proof=proof()
    )
    approve_all(application, staff)
    person.refresh_from_db()
    assert person.id_number == corrected
    assert person.birth_date == dt.date(1970, 10, 1)
    assert person.sex == "M"


def test_change_to_a_taken_identity_number_refused(line, staff):
    person = make_person(line.village, name="周明")
    other = make_person(line.village, name="吴刚", birth_date=dt.date(1965, 2, 2))
    with pytest.raises(DomainError) as refusal:
        services.change_submit(
            actor=staff["agent"], person=person, changes={"id_number": other.id_number}, proof=proof()
        )
    assert refusal.value.code == "duplicate_id"


def test_change_with_nothing_different_refused(line, staff):
    person = make_person(line.village, name="周明", phone="123")
    with pytest.raises(DomainError) as refusal:
        services.change_submit(actor=staff["agent"], person=person, changes={"phone": "123"})
    assert refusal.value.code == "no_change"


def test_only_one_open_application_per_person(line, staff):
    person = make_person(line.village, name="周明")
    services.change_submit(actor=staff["agent"], person=person, changes={"phone": "1"})
    with pytest.raises(Conflict) as refusal:
        services.change_submit(actor=staff["agent"], person=person, changes={"phone": "2"})
    assert refusal.value.code == "open_application"
    assert person.applications.count() == 1


# --- cancellation -----------------------------------------------------------------------------------


def test_cancellation_for_death_with_proof(line, staff):
    person = make_person(line.village, name="郑老汉", birth_date=dt.date(1940, 1, 1))
    application = services.cancellation_submit(
        actor=staff["agent"],
        person=person,
        cancellation_reason=CancellationReason.DEATH,
        event_date=dt.date(2026, 10, 3),
        proof=proof(),
        today=TODAY,
    )
    assert application.proof.name.endswith(".pdf")
    approve_all(application, staff)
    person.refresh_from_db()
    assert person.status == PersonStatus.CANCELLED
    assert person.cancelled_on == dt.date(2026, 10, 3)
    assert person.insurance_number  # kept for life, never handed to anyone else


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"cancellation_reason": "", "event_date": dt.date(2026, 1, 1)}, "cancellation_reason"),
        ({"cancellation_reason": "death", "event_date": None}, "event_date"),
        ({"cancellation_reason": "death", "event_date": dt.date(2027, 1, 1)}, "event_date"),
        ({"cancellation_reason": "death", "event_date": dt.date(2026, 1, 1), "proof": None}, "proof"),
    ],
)
def test_cancellation_refusals_name_their_field(line, staff, kwargs, field):
    person = make_person(line.village)
    arguments = {"proof": proof(), **kwargs}
    with pytest.raises(DomainError) as refusal:
        services.cancellation_submit(actor=staff["agent"], person=person, today=TODAY, **arguments)
    assert refusal.value.field == field
    assert not person.applications.exists()


def test_cancelled_person_cannot_be_changed(line, staff):
    person = make_person(line.village, status=PersonStatus.CANCELLED)
    with pytest.raises(Conflict):
        services.change_submit(actor=staff["agent"], person=person, changes={"phone": "1"})


# --- special groups and register comparison ---------------------------------------------------------


def test_special_group_defaults_certifying_department(line, staff):
    person = make_person(line.village)
    membership = services.special_group_record(
        actor=staff["township"],
        person=person,
        group=SpecialGroup.SEVERE_DISABILITY,
        certified_on=dt.date(2025, 6, 1),
        certificate_number="残联〔2025〕12号",
    )
    assert membership.certifying_department == "残疾人联合会"
    with pytest.raises(Conflict):
        services.special_group_record(
            actor=staff["township"],
            person=person,
            group=SpecialGroup.SEVERE_DISABILITY,
            certified_on=dt.date(2025, 6, 1),
        )
    with pytest.raises(NotPermitted):
        services.special_group_record(
            actor=staff["agent"], person=person, group=SpecialGroup.SUBSISTENCE, certified_on=dt.date(2025, 6, 1)
        )


def test_employee_register_csv_flags_dual_enrollment_in_scope_only(line, staff):
    ours = make_person(line.village, name="孙工人")
    other_line = region_line(county="320411")
    theirs = make_person(other_line.village, name="外县人", birth_date=dt.date(1971, 1, 1))
    make_person(line.village, name="未比中", birth_date=dt.date(1972, 1, 1))
    content = (
        "身份证号,姓名,单位名称\n"
        f"{ours.id_number.lower()},孙工人,常州机械厂\n"
        f"{theirs.id_number},外县人,某公司\n"
        "123,坏号码,某公司\n"
    ).encode("gb18030")

    load = services.employee_register_load(actor=staff["county_clerk"], file_name="职工名单.csv", content=content)

    assert (load.rows_read, load.rows_invalid, load.matches) == (3, 1, 1)
    flag = load.flags.get()
    assert flag.person == ours
    assert flag.employer == "常州机械厂"


def test_employee_register_xlsx_without_header(line, staff):
    from io import BytesIO

    from openpyxl import Workbook

    ours = make_person(line.village, name="孙工人")
    workbook = Workbook()
    workbook.active.append([ours.id_number])
    workbook.active.append(["not a number"])
    buffer = BytesIO()
    workbook.save(buffer)

    load = services.employee_register_load(actor=staff["approver"], file_name="名单.xls", content=buffer.getvalue())
    assert (load.rows_read, load.rows_invalid, load.matches) == (2, 1, 1)


def test_employee_register_garbage_refused(line, staff):
    with pytest.raises(DomainError) as refusal:
        services.employee_register_load(actor=staff["county_clerk"], file_name="x.xlsx", content=b"PK\x03\x04junk")
    assert refusal.value.field == "file"
    with pytest.raises(NotPermitted):
        services.employee_register_load(actor=staff["agent"], file_name="x.csv", content=b"a")
