"""Every write to the register: registration, change and cancellation applications and their review.

Each service takes keyword-only arguments, runs in one transaction and refuses with a ``DomainError``
whose Chinese message a clerk can act on. Nothing is half-saved: a refused call changes nothing.
"""

import csv
import datetime as dt
import hashlib
import io
from collections.abc import Iterable, Iterator
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from agencies.closing import require_open
from agencies.errors import Conflict, DomainError, NotPermitted
from agencies.models import Region, RegionLevel
from agencies.permissions import Action, can, require
from agencies.records import file_record
from agencies.scope import code_in_scope, scope_prefix
from enrollment import idnumber
from enrollment.models import (
    CERTIFYING_DEPARTMENTS,
    Application,
    ApplicationEvent,
    ApplicationKind,
    ApplicationStatus,
    CancellationReason,
    DualEnrollmentFlag,
    EmployeeRegisterLoad,
    InsuranceNumberCounter,
    InsuredPerson,
    PersonStatus,
    SpecialGroup,
    SpecialGroupMembership,
)
from enrollment.pinyin import name_initials
from enrollment.records import cancellation_record, change_record, disability_aid_record, registration_record

# Fields a registration form fills on the person, beside identity number and village.
REGISTRATION_FIELDS = ("name", "phone", "address", "social_security_card_number", "bank_code", "bank_account")
# Fields a change application may touch; the first group needs the form and proof (DOMAIN.md).
CHANGE_FIELDS_NEEDING_PROOF = ("name", "id_number")
CHANGE_FIELDS = (
    *CHANGE_FIELDS_NEEDING_PROOF,
    "phone",
    "address",
    "social_security_card_number",
    "bank_code",
    "bank_account",
)


def _today() -> dt.date:
    return timezone.localdate()


def _require_in_scope(actor, region_code: str) -> None:
    # Callers fetch through the scope already; this guards services called with a stray object.
    if not code_in_scope(actor, region_code):
        raise DomainError("该记录不在您的管辖范围内。", code="out_of_scope")


def _clean_name(raw: str) -> str:
    name = "".join((raw or "").split())
    if not name:
        raise DomainError("请填写姓名。", code="required", field="name")
    if len(name) > 50:
        raise DomainError("姓名过长，最多50个字。", code="too_long", field="name")
    return name


def _clean_text(data: dict[str, Any], field: str, limit: int) -> str:
    value = str(data.get(field) or "").strip()
    if len(value) > limit:
        raise DomainError(f"内容过长，最多{limit}个字符。", code="too_long", field=field)
    return value


def _clean_person_fields(data: dict[str, Any]) -> dict[str, str]:
    cleaned = {
        "phone": _clean_text(data, "phone", 20),
        "address": _clean_text(data, "address", 200),
        "social_security_card_number": _clean_text(data, "social_security_card_number", 20),
        "bank_code": _clean_text(data, "bank_code", 10),
        "bank_account": "".join(_clean_text(data, "bank_account", 40).split()),
    }
    if cleaned["phone"] and not cleaned["phone"].replace("-", "").isdigit():
        raise DomainError("联系电话只能包含数字和“-”。", code="invalid", field="phone")
    if cleaned["bank_account"] and not cleaned["bank_account"].isdigit():
        raise DomainError("银行账号只能包含数字。", code="invalid", field="bank_account")
    if len(cleaned["bank_account"]) > 32:
        raise DomainError("银行账号过长，最多32位。", code="too_long", field="bank_account")
    return cleaned


def _parse_id(raw: str, *, for_registration: bool, today: dt.date) -> idnumber.IdentityNumber:
    try:
        if for_registration:
            return idnumber.parse_for_registration(raw, today=today)
        return idnumber.parse(raw, today=today)
    except idnumber.IdNumberError as error:
        raise DomainError(error.message, code=error.code, field="id_number") from None


def _describe_holder(person: InsuredPerson, actor) -> str:
    # Outside the clerk's jurisdiction only where and in which state, never who.
    if code_in_scope(actor, person.region_code):
        return f"{person.name}，{person.village.full_name()}，{person.get_status_display()}"
    return f"在{person.village.full_name()}，{person.get_status_display()}"


def _refuse_taken_id(number: str, *, actor, exclude_person_id: int | None = None) -> None:
    holder = (
        InsuredPerson.objects.select_related("village__parent__parent__parent")
        .exclude(status=PersonStatus.VOID)
        .exclude(pk=exclude_person_id)
        .filter(id_number=number)
        .first()
    )
    if holder is not None:
        raise DomainError(
            f"该身份证号已经参保登记（{_describe_holder(holder, actor)}），一人只能有一个保险编号，请勿重复登记。",
            code="duplicate_id",
            field="id_number",
        )


def possible_duplicates(*, village: Region, name: str, birth_date: dt.date, exclude_id_number: str = ""):
    """Same name and birth date in the same village: maybe the same person under a mistyped number."""
    return (
        InsuredPerson.objects.filter(village=village, name=name, birth_date=birth_date)
        .exclude(id_number=exclude_id_number)
        .exclude(status=PersonStatus.VOID)
    )


def _event(application: Application, *, actor, action: str, from_status: str, note: str = "") -> None:
    ApplicationEvent.objects.create(
        application=application,
        action=action,
        from_status=from_status,
        to_status=application.status,
        actor=actor,
        note=note,
    )


def _save_person(person: InsuredPerson, *, actor, reason: str) -> None:
    person.name_initials = name_initials(person.name)
    person._history_user = actor  # django-simple-history: who made this change
    person._change_reason = reason
    person.save()


def _save_application(application: Application, *, actor, reason: str) -> None:
    application._history_user = actor
    application._change_reason = reason
    application.save()


def _lock(application: Application) -> Application:
    """Re-read the application under a row lock, so two clerks acting at once act in turn."""
    return Application.objects.select_for_update().select_related("person").get(pk=application.pk)


# --- registration -----------------------------------------------------------------------------------


def registration_submit(
    *,
    actor,
    village: Region,
    id_number: str,
    data: dict[str, Any],
    confirm_possible_duplicate: bool = False,
    today: dt.date | None = None,
) -> Application:
    """A village agent (or a clerk above) enters a 参保登记表. Creates the person, pending, and the application."""
    require(actor, Action.SUBMIT_APPLICATION)
    today = today or _today()
    if village.level != RegionLevel.VILLAGE:
        raise DomainError("请选择户籍所在的村（社区）。", code="invalid", field="village")
    _require_in_scope(actor, village.code)
    require_open(village.effective_pooling_region(), today)
    identity = _parse_id(id_number, for_registration=True, today=today)
    name = _clean_name(data.get("name", ""))
    fields = _clean_person_fields(data)
    _refuse_taken_id(identity.number, actor=actor)
    if (
        not confirm_possible_duplicate
        and possible_duplicates(
            village=village, name=name, birth_date=identity.birth_date, exclude_id_number=identity.number
        ).exists()
    ):
        raise DomainError(
            f"本村已有同名同出生日期（{name}，{identity.birth_date:%Y-%m-%d}）的参保人，可能是同一人。"
            "请核对身份证后勾选“确认不是同一人”再提交。",
            code="possible_duplicate",
            field="confirm_possible_duplicate",
        )
    try:
        with transaction.atomic():
            person = InsuredPerson.objects.select_for_update().filter(id_number=identity.number).first()
            if person is None:
                person = InsuredPerson(id_number=identity.number)
            elif person.status != PersonStatus.VOID:
                raise IntegrityError("identity number taken meanwhile")
            person.name = name
            person.sex = identity.sex
            person.birth_date = identity.birth_date
            person.village = village
            person.region_code = village.code
            person.status = PersonStatus.PENDING
            for field, value in fields.items():
                setattr(person, field, value)
            _save_person(person, actor=actor, reason="参保登记申请")
            application = Application(
                kind=ApplicationKind.REGISTER,
                person=person,
                region_code=village.code,
                changes={"name": name, "id_number": identity.number, "village": village.code, **fields},
                created_by=actor,
            )
            _save_application(application, actor=actor, reason="录入参保登记表")
            _event(application, actor=actor, action="submit", from_status="")
            file_record(registration_record(application))
    except IntegrityError:
        # Another clerk registered the same number a moment ago: one person, one clear refusal.
        raise DomainError(
            "该身份证号刚刚已由其他经办人登记，一人只能有一个保险编号，请勿重复登记。",
            code="duplicate_id",
            field="id_number",
        ) from None
    return application


def _next_insurance_number(county_code: str) -> str:
    InsuranceNumberCounter.objects.bulk_create([InsuranceNumberCounter(county_code=county_code)], ignore_conflicts=True)
    counter = InsuranceNumberCounter.objects.select_for_update().get(county_code=county_code)
    counter.last_serial = F("last_serial") + 1
    counter.save(update_fields=["last_serial"])
    counter.refresh_from_db(fields=["last_serial"])
    return f"{county_code}{counter.last_serial:08d}"


# --- change and cancellation ------------------------------------------------------------------------


def _clean_changes(person: InsuredPerson, changes: dict[str, Any], *, actor, today: dt.date) -> dict[str, str]:
    unknown = set(changes) - set(CHANGE_FIELDS)
    if unknown:
        raise DomainError(f"不能通过变更登记修改：{'、'.join(sorted(unknown))}。", code="invalid")
    proposed = dict(changes)
    cleaned: dict[str, str] = {}
    if "name" in proposed:
        cleaned["name"] = _clean_name(proposed.pop("name"))
    if "id_number" in proposed:
        identity = _parse_id(str(proposed.pop("id_number")), for_registration=False, today=today)
        _refuse_taken_id(identity.number, actor=actor, exclude_person_id=person.pk)
        cleaned["id_number"] = identity.number
    if proposed:
        current = {field: getattr(person, field) for field in proposed}
        merged = _clean_person_fields({**current, **proposed})
        cleaned.update({field: merged[field] for field in proposed})
    cleaned = {field: value for field, value in cleaned.items() if getattr(person, field) != value}
    if not cleaned:
        raise DomainError("没有任何需要变更的内容。", code="no_change")
    return cleaned


def _require_active(person: InsuredPerson) -> None:
    if person.status != PersonStatus.ACTIVE:
        raise Conflict(f"参保人当前状态为“{person.get_status_display()}”，不能办理此业务。", code="wrong_status")


def _create_application(application: Application, *, actor, reason: str) -> Application:
    try:
        with transaction.atomic():
            _save_application(application, actor=actor, reason=reason)
            _event(application, actor=actor, action="submit", from_status="")
            build = change_record if application.kind == ApplicationKind.CHANGE else cancellation_record
            file_record(build(application))
    except IntegrityError:
        raise Conflict("该参保人已有一份未办结的申请，请先办结或撤回后再提交。", code="open_application") from None
    return application


def change_submit(
    *,
    actor,
    person: InsuredPerson,
    changes: dict[str, Any],
    reason: str = "",
    proof=None,
    today: dt.date | None = None,
) -> Application:
    """变更登记表. Name and identity-number changes need proof; phone, address and bank details do not."""
    require(actor, Action.SUBMIT_APPLICATION)
    _require_in_scope(actor, person.region_code)
    _require_active(person)
    cleaned = _clean_changes(person, changes, actor=actor, today=today or _today())
    if any(field in cleaned for field in CHANGE_FIELDS_NEEDING_PROOF) and not proof:
        raise DomainError(
            "变更姓名或身份证号须上传户口簿、身份证或公安机关证明的扫描件。", code="proof_required", field="proof"
        )
    application = Application(
        kind=ApplicationKind.CHANGE,
        person=person,
        region_code=person.region_code,
        changes=cleaned,
        reason=(reason or "").strip(),
        created_by=actor,
    )
    if proof:
        application.proof = proof
    return _create_application(application, actor=actor, reason="录入变更登记表")


def cancellation_submit(
    *,
    actor,
    person: InsuredPerson,
    cancellation_reason: str,
    event_date: dt.date | None,
    proof,
    reason: str = "",
    today: dt.date | None = None,
) -> Application:
    """注销登记表: death, emigration, another basic pension, or transfer out; proof always attached."""
    require(actor, Action.SUBMIT_APPLICATION)
    _require_in_scope(actor, person.region_code)
    _require_active(person)
    today = today or _today()
    if cancellation_reason not in CancellationReason.values:
        raise DomainError("请选择注销原因。", code="required", field="cancellation_reason")
    if event_date is None:
        raise DomainError("请填写事件发生日期（如死亡日期）。", code="required", field="event_date")
    if event_date > today:
        raise DomainError("事件发生日期不能晚于今天。", code="future_date", field="event_date")
    if event_date < person.birth_date:
        raise DomainError("事件发生日期不能早于出生日期。", code="invalid", field="event_date")
    if not proof:
        raise DomainError(
            "注销登记须上传证明材料（死亡证明、法院宣告、丧失国籍证明或其他养老待遇证明）。",
            code="proof_required",
            field="proof",
        )
    application = Application(
        kind=ApplicationKind.CANCEL,
        person=person,
        region_code=person.region_code,
        cancellation_reason=cancellation_reason,
        event_date=event_date,
        reason=(reason or "").strip(),
        proof=proof,
        created_by=actor,
    )
    return _create_application(application, actor=actor, reason="录入注销登记表")


# --- review and approval ----------------------------------------------------------------------------


def _refuse_own(application: Application, actor) -> None:
    if application.created_by_id == actor.pk:
        raise NotPermitted("申请的录入人不能审核或审批自己录入的申请，请交由其他经办人办理。", code="own_application")


def _require_status(application: Application, *expected: str) -> None:
    if application.status not in expected:
        raise Conflict(
            f"申请当前状态为“{application.get_status_display()}”，不能进行此操作（可能已被他人处理，请刷新页面）。",
            code="wrong_status",
        )


def application_accept(*, actor, application: Application, note: str = "") -> Application:
    """The township reviews the form and passes it to the county (乡镇审核)."""
    require(actor, Action.TOWNSHIP_REVIEW)
    _require_in_scope(actor, application.region_code)
    with transaction.atomic():
        application = _lock(application)
        _require_status(application, ApplicationStatus.SUBMITTED)
        _refuse_own(application, actor)
        application.status = ApplicationStatus.ACCEPTED
        application.reviewed_by = actor
        application.reviewed_at = timezone.now()
        _save_application(application, actor=actor, reason="乡镇审核通过")
        _event(application, actor=actor, action="accept", from_status=ApplicationStatus.SUBMITTED, note=note)
    return application


def application_return(*, actor, application: Application, reason: str) -> Application:
    """Township or county sends the form back to whoever entered it, saying what to fix."""
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("退回时请写明原因，以便录入人补正。", code="required", field="reason")
    if not (can(actor, Action.TOWNSHIP_REVIEW) or can(actor, Action.COUNTY_APPROVE)):
        raise NotPermitted()
    _require_in_scope(actor, application.region_code)
    with transaction.atomic():
        application = _lock(application)
        expected = ApplicationStatus.SUBMITTED if can(actor, Action.TOWNSHIP_REVIEW) else ApplicationStatus.ACCEPTED
        _require_status(application, expected)
        _refuse_own(application, actor)
        previous = application.status
        application.status = ApplicationStatus.RETURNED
        application.return_reason = reason
        _save_application(application, actor=actor, reason=f"退回：{reason}")
        _event(application, actor=actor, action="return", from_status=previous, note=reason)
    return application


def application_approve(*, actor, application: Application, today: dt.date | None = None) -> Application:
    """The county approves (县级审批) and the application takes effect on the person."""
    require(actor, Action.COUNTY_APPROVE)
    _require_in_scope(actor, application.region_code)
    today = today or _today()
    with transaction.atomic():
        application = _lock(application)
        _require_status(application, ApplicationStatus.ACCEPTED)
        _refuse_own(application, actor)
        person = InsuredPerson.objects.select_for_update().get(pk=application.person_id)
        if application.kind == ApplicationKind.REGISTER:
            person.status = PersonStatus.ACTIVE
            person.enrolled_on = today
            if not person.insurance_number:
                person.insurance_number = _next_insurance_number(person.region_code[:6])
            reason = "参保登记审批通过"
        elif application.kind == ApplicationKind.CHANGE:
            _require_active(person)
            cleaned = _clean_changes(person, application.changes, actor=actor, today=today)
            for field, value in cleaned.items():
                setattr(person, field, value)
            if "id_number" in cleaned:
                identity = idnumber.parse(cleaned["id_number"], today=today)
                person.birth_date, person.sex = identity.birth_date, identity.sex
            reason = f"变更登记审批通过：{application.reason}" if application.reason else "变更登记审批通过"
        else:
            _require_active(person)
            person.status = PersonStatus.CANCELLED
            person.cancelled_on = application.event_date or today
            reason = f"注销登记审批通过：{application.get_cancellation_reason_display()}"
        try:
            with transaction.atomic():
                _save_person(person, actor=actor, reason=reason)
        except IntegrityError:
            raise Conflict("新身份证号已被其他参保人使用，不能批准此变更。", code="duplicate_id") from None
        application.person = person  # the caller gets the person as approved, not as locked
        application.status = ApplicationStatus.APPROVED
        application.decided_by = actor
        application.decided_at = timezone.now()
        _save_application(application, actor=actor, reason="县级审批通过")
        _event(application, actor=actor, action="approve", from_status=ApplicationStatus.ACCEPTED)
    return application


def _refuse_unless_creator(application: Application, actor) -> None:
    if application.created_by_id != actor.pk:
        raise NotPermitted("只有录入人可以补正或撤回这份申请。", code="not_creator")


def application_resubmit(
    *, actor, application: Application, data: dict[str, Any] | None = None, today: dt.date | None = None
) -> Application:
    """Whoever entered a returned form corrects it and sends it up again.

    A registration may correct its identity number too (the usual reason to send one back); a change
    application corrects the values it asks for.
    """
    require(actor, Action.SUBMIT_APPLICATION)
    _require_in_scope(actor, application.region_code)
    today = today or _today()
    with transaction.atomic():
        application = _lock(application)
        _require_status(application, ApplicationStatus.RETURNED)
        _refuse_unless_creator(application, actor)
        person = application.person
        if data and application.kind == ApplicationKind.REGISTER:
            _correct_registration(application, person, data, actor=actor, today=today)
        elif data and application.kind == ApplicationKind.CHANGE:
            application.changes = _clean_changes(person, data, actor=actor, today=today)
        application.status = ApplicationStatus.SUBMITTED
        application.return_reason = ""
        _save_application(application, actor=actor, reason="补正后重新提交")
        _event(application, actor=actor, action="resubmit", from_status=ApplicationStatus.RETURNED)
        build = {ApplicationKind.REGISTER: registration_record, ApplicationKind.CHANGE: change_record}
        file_record(build.get(application.kind, cancellation_record)(application))  # the corrected form, refiled
    return application


def _correct_registration(
    application: Application, person: InsuredPerson, data: dict[str, Any], *, actor, today: dt.date
) -> None:
    if "id_number" in data:
        identity = _parse_id(str(data["id_number"]), for_registration=True, today=today)
        if identity.number != person.id_number:
            _refuse_taken_id(identity.number, actor=actor, exclude_person_id=person.pk)
            person.id_number, person.birth_date, person.sex = identity.number, identity.birth_date, identity.sex
    if "name" in data:
        person.name = _clean_name(data["name"])
    current = {field: getattr(person, field) for field in REGISTRATION_FIELDS}
    editable = {field: data[field] for field in REGISTRATION_FIELDS if field in data and field != "name"}
    for field, value in _clean_person_fields({**current, **editable}).items():
        setattr(person, field, value)
    try:
        with transaction.atomic():
            _save_person(person, actor=actor, reason="补正参保登记表")
    except IntegrityError:
        raise DomainError(
            "该身份证号刚刚已由其他经办人登记，请核对。", code="duplicate_id", field="id_number"
        ) from None
    application.changes = {
        **application.changes,
        "id_number": person.id_number,
        **{field: getattr(person, field) for field in REGISTRATION_FIELDS},
    }


def application_withdraw(*, actor, application: Application, reason: str = "") -> Application:
    """An open form is withdrawn; a withdrawn registration leaves no insured person behind (status void)."""
    require(actor, Action.SUBMIT_APPLICATION)
    _require_in_scope(actor, application.region_code)
    with transaction.atomic():
        application = _lock(application)
        _require_status(application, ApplicationStatus.SUBMITTED, ApplicationStatus.RETURNED)
        _refuse_unless_creator(application, actor)
        previous = application.status
        application.status = ApplicationStatus.WITHDRAWN
        _save_application(application, actor=actor, reason="撤回")
        if application.kind == ApplicationKind.REGISTER:
            person = application.person
            person.status = PersonStatus.VOID
            _save_person(person, actor=actor, reason="参保登记申请撤回")
        _event(application, actor=actor, action="withdraw", from_status=previous, note=(reason or "").strip())
    return application


# --- special groups ---------------------------------------------------------------------------------


def special_group_record(
    *,
    actor,
    person: InsuredPerson,
    group: str,
    certified_on: dt.date,
    certifying_department: str = "",
    certificate_number: str = "",
    ends_on: dt.date | None = None,
) -> SpecialGroupMembership:
    require(actor, Action.RECORD_SPECIAL_GROUP)
    _require_in_scope(actor, person.region_code)
    if person.status not in (PersonStatus.PENDING, PersonStatus.ACTIVE):
        raise Conflict(f"参保人当前状态为“{person.get_status_display()}”，不能登记特殊群体。", code="wrong_status")
    if group not in SpecialGroup.values:
        raise DomainError("请选择特殊群体类别。", code="required", field="group")
    if certified_on is None:
        raise DomainError("请填写认定日期。", code="required", field="certified_on")
    if ends_on is not None and ends_on < certified_on:
        raise DomainError("终止日期不能早于认定日期。", code="invalid", field="ends_on")
    membership = SpecialGroupMembership(
        person=person,
        group=group,
        certified_on=certified_on,
        ends_on=ends_on,
        certifying_department=(certifying_department or "").strip() or CERTIFYING_DEPARTMENTS[SpecialGroup(group)],
        certificate_number=(certificate_number or "").strip(),
        recorded_by=actor,
    )
    membership._history_user = actor
    try:
        with transaction.atomic():
            membership.save()
            if group == SpecialGroup.SEVERE_DISABILITY:
                file_record(disability_aid_record(membership))  # 残疾人缴费补助申请表
    except IntegrityError:
        raise Conflict("该参保人同一日期的此类认定已经登记过。", code="duplicate") from None
    return membership


# --- comparison with the employees' scheme register (信息比对) -----------------------------------------

ID_HEADERS = ("身份证号", "公民身份号码", "身份证号码", "证件号码", "id_number")
EMPLOYER_HEADERS = ("单位名称", "参保单位", "单位", "employer")
MATCH_CHUNK = 2000


def _rows_from_upload(file_name: str, content: bytes) -> Iterator[list[str]]:
    if content[:2] == b"PK":  # an .xlsx is a zip archive, whatever the file is called
        from openpyxl import load_workbook

        try:
            workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        except Exception:
            raise DomainError(
                "无法读取该Excel文件，请另存为.xlsx或.csv后重新上传。", code="unreadable", field="file"
            ) from None
        for row in workbook.worksheets[0].iter_rows(values_only=True):
            yield ["" if cell is None else str(cell) for cell in row]
        return
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = content.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise DomainError("无法识别文件编码，请上传.xlsx，或UTF-8/GBK编码的.csv文件。", code="unreadable", field="file")
    yield from csv.reader(io.StringIO(text))


def _read_register(file_name: str, content: bytes) -> tuple[dict[str, str], int, int]:
    """{identity number: employer} from the upload, with counts of rows read and rows refused."""
    rows = _rows_from_upload(file_name, content)
    header = next(rows, None)
    if header is None:
        raise DomainError("文件是空的。", code="empty", field="file")
    names = [cell.strip() for cell in header]
    id_column = next((names.index(h) for h in ID_HEADERS if h in names), None)
    employer_column = next((names.index(h) for h in EMPLOYER_HEADERS if h in names), None)
    first_data: Iterable[list[str]] = []
    if id_column is None:
        # No header row: the first column holds the numbers, and the first row is data.
        id_column, first_data = 0, [header]
    numbers: dict[str, str] = {}
    read = invalid = 0
    for row in [*first_data, *rows]:
        if not any(cell.strip() for cell in row):
            continue
        read += 1
        try:
            number = idnumber.parse(row[id_column] if id_column < len(row) else "").number
        except idnumber.IdNumberError:
            invalid += 1
            continue
        employer = row[employer_column].strip() if employer_column is not None and employer_column < len(row) else ""
        numbers[number] = employer[:200]
    if read == 0:
        raise DomainError("文件中没有身份证号。", code="empty", field="file")
    return numbers, read, invalid


def employee_register_load(*, actor, file_name: str, content: bytes) -> EmployeeRegisterLoad:
    """Load the employees' scheme register and flag everyone in the caller's jurisdiction enrolled in both."""
    require(actor, Action.LOAD_EMPLOYEE_REGISTER)
    prefix = scope_prefix(actor)
    if prefix is None:
        raise NotPermitted()
    numbers, read, invalid = _read_register(file_name, content)
    with transaction.atomic():
        load = EmployeeRegisterLoad.objects.create(
            region_code=prefix,
            file_name=file_name[:200],
            file_sha256=hashlib.sha256(content).hexdigest(),
            rows_read=read,
            rows_invalid=invalid,
            loaded_by=actor,
        )
        ids = list(numbers)
        flagged = 0
        for start in range(0, len(ids), MATCH_CHUNK):
            chunk = ids[start : start + MATCH_CHUNK]
            matches = InsuredPerson.objects.filter(
                id_number__in=chunk,
                region_code__startswith=prefix,
                status__in=[PersonStatus.PENDING, PersonStatus.ACTIVE],
            ).values_list("pk", "id_number")
            flags = [DualEnrollmentFlag(load=load, person_id=pk, employer=numbers[number]) for pk, number in matches]
            DualEnrollmentFlag.objects.bulk_create(flags, ignore_conflicts=True)
            flagged += len(flags)
        load.matches = flagged
        load.save(update_fields=["matches"])
    return load


def dual_enrollment_resolve(*, actor, flag: DualEnrollmentFlag, resolution: str) -> DualEnrollmentFlag:
    require(actor, Action.LOAD_EMPLOYEE_REGISTER)
    _require_in_scope(actor, flag.person.region_code)
    resolution = (resolution or "").strip()
    if not resolution:
        raise DomainError("请填写处理结果。", code="required", field="resolution")
    with transaction.atomic():
        flag = DualEnrollmentFlag.objects.select_for_update().get(pk=flag.pk)
        if flag.resolved_at:
            raise Conflict("该疑点已经处理过。", code="wrong_status")
        flag.resolution = resolution
        flag.resolved_at = timezone.now()
        flag.resolved_by = actor
        flag.save(update_fields=["resolution", "resolved_at", "resolved_by"])
    return flag


# --- changes made by other apps' business (death, transfer, another pension) ----------------------------


def person_cancel(*, actor, person: InsuredPerson, on: dt.date, reason: str) -> InsuredPerson:
    """Cancel (注销) a person as the outcome of a benefit or transfer decision already approved there."""
    with transaction.atomic():
        person = InsuredPerson.objects.select_for_update().get(pk=person.pk)
        if person.status == PersonStatus.CANCELLED:
            return person
        person.status = PersonStatus.CANCELLED
        person.cancelled_on = on
        _save_person(person, actor=actor, reason=reason)
    return person


def person_rehome(*, actor, person: InsuredPerson, village: Region, reason: str) -> InsuredPerson:
    """Move a person's record to another village (a transfer booked in); the insurance number stays."""
    if village.level != RegionLevel.VILLAGE:
        raise DomainError("请选择村（社区）一级的区划。", code="not_a_village", field="village")
    with transaction.atomic():
        person = InsuredPerson.objects.select_for_update().get(pk=person.pk)
        person.village = village
        person.region_code = village.code
        _save_person(person, actor=actor, reason=reason)
    return person
