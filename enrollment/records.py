"""The papers enrollment files into the archives: 参保登记表, 变更登记表, 注销登记表 and 残疾人缴费补助申请表.

Each builder turns a saved record into an ``agencies.records.Record`` from the record alone (no request, no
acting user), so the services file through it when the paper is received and the archives' backfill files
older records the same way. ``SOURCES`` says which records of each kind there are, with what the builders read.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone

from agencies.records import Kind, Record, Source
from enrollment.idnumber import mask
from enrollment.models import Application, ApplicationKind, InsuredPerson, SpecialGroup, SpecialGroupMembership

TITLES = {
    ApplicationKind.REGISTER: "参保登记表",
    ApplicationKind.CHANGE: "变更登记表",
    ApplicationKind.CANCEL: "注销登记表",
}
# The person's fields a change may name, as the form labels them.
FIELD_LABELS = {
    "name": "姓名",
    "id_number": "身份证号",
    "phone": "联系电话",
    "address": "住址",
    "social_security_card_number": "社会保障卡号",
    "bank_code": "开户银行代码",
    "bank_account": "银行账号",
}


def mask_account(number: str) -> str:
    """A bank account never goes into the archive's searchable text in full: first 4 and last 4 digits."""
    number = "".join(str(number or "").split())
    if len(number) <= 8:
        return "*" * len(number)
    return f"{number[:4]}{'*' * (len(number) - 8)}{number[-4:]}"


def person_label(person: InsuredPerson) -> str:
    # Titles are shown in lists: the insurance number once there is one, else the masked identity number.
    return f"{person.name} {person.insurance_number or mask(person.id_number)}"


def _person_fields(person: InsuredPerson) -> dict[str, str]:
    return {
        "姓名": person.name,
        "身份证号": person.id_number,
        "保险编号": person.insurance_number or "",
        "村（社区）": person.village.name,
    }


def _application_record(application: Application, kind: str, fields: dict[str, str]) -> Record:
    person = application.person
    made_on = timezone.localdate(application.created_at)
    return Record(
        kind=kind,
        source=application,
        region_code=application.region_code,
        year=made_on.year,
        title=f"{TITLES[application.kind]} {person_label(person)}",
        person_id=person.pk,
        fields={**_person_fields(person), **fields, "录入日期": f"{made_on:%Y-%m-%d}"},
        filed_by_id=application.created_by_id,
        filed_on=made_on,
    )


def registration_record(application: Application) -> Record:
    """参保登记表: what the form said when it was entered (or last corrected after a return)."""
    form = application.changes or {}
    person = application.person
    return _application_record(
        application,
        Kind.REGISTRATION,
        {
            "姓名": form.get("name") or person.name,
            "身份证号": form.get("id_number") or person.id_number,
            "性别": person.get_sex_display(),
            "出生日期": f"{person.birth_date:%Y-%m-%d}",
            "联系电话": form.get("phone", person.phone),
            "住址": form.get("address", person.address),
            "社会保障卡号": form.get("social_security_card_number", person.social_security_card_number),
            "开户银行代码": form.get("bank_code", person.bank_code),
            "银行账号": mask_account(form.get("bank_account", person.bank_account)),
        },
    )


def change_record(application: Application) -> Record:
    """变更登记表: each field asked for, with its new value (a bank account masked)."""
    changes = {
        FIELD_LABELS.get(field, field): mask_account(value) if field == "bank_account" else value
        for field, value in (application.changes or {}).items()
    }
    fields = {"变更事项": "、".join(changes), **{f"变更后{label}": value for label, value in changes.items()}}
    if application.reason:
        fields["变更原因"] = application.reason[:200]
    return _application_record(application, Kind.CHANGE, fields)


def cancellation_record(application: Application) -> Record:
    fields = {
        "注销原因": application.get_cancellation_reason_display(),
        "事件日期": f"{application.event_date:%Y-%m-%d}" if application.event_date else "",
    }
    if application.reason:
        fields["申请事由"] = application.reason[:200]
    return _application_record(application, Kind.CANCELLATION, fields)


def disability_aid_record(membership: SpecialGroupMembership) -> Record:
    """残疾人缴费补助申请表: the certification of a severely disabled person, for the government to pay 代缴."""
    person = membership.person
    made_on = timezone.localdate(membership.recorded_at)
    return Record(
        kind=Kind.DISABILITY_AID,
        source=membership,
        region_code=person.region_code,
        year=made_on.year,
        title=f"残疾人缴费补助申请表 {person_label(person)}",
        person_id=person.pk,
        fields={
            **_person_fields(person),
            "认定部门": membership.certifying_department,
            "认定文号": membership.certificate_number,
            "认定日期": f"{membership.certified_on:%Y-%m-%d}",
            "终止日期": f"{membership.ends_on:%Y-%m-%d}" if membership.ends_on else "",
            "登记日期": f"{made_on:%Y-%m-%d}",
        },
        filed_by_id=membership.recorded_by_id,
        filed_on=made_on,
    )


def _applications(kind: str) -> QuerySet[Application]:
    return Application.objects.filter(kind=kind).select_related("person__village").order_by("pk")


SOURCES = [
    Source(kind=Kind.REGISTRATION, queryset=lambda: _applications(ApplicationKind.REGISTER), build=registration_record),
    Source(kind=Kind.CHANGE, queryset=lambda: _applications(ApplicationKind.CHANGE), build=change_record),
    Source(kind=Kind.CANCELLATION, queryset=lambda: _applications(ApplicationKind.CANCEL), build=cancellation_record),
    Source(
        kind=Kind.DISABILITY_AID,
        queryset=lambda: (
            SpecialGroupMembership.objects.filter(group=SpecialGroup.SEVERE_DISABILITY)
            .select_related("person__village")
            .order_by("pk")
        ),
        build=disability_aid_record,
    ),
]
