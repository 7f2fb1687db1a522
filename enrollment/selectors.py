"""Reads of the register, always through the jurisdiction scope."""

import re

from django.db.models import Q, QuerySet

from agencies.models import Role
from agencies.scope import get_scoped_or_404, scoped
from enrollment.models import (
    Application,
    ApplicationStatus,
    DualEnrollmentFlag,
    EmployeeRegisterLoad,
    InsuredPerson,
    PersonStatus,
)

ID_NUMBER_LENGTH = 18
DIGITS = re.compile(r"^[0-9Xx]{4,18}$")
LETTERS = re.compile(r"^[A-Za-z]{1,20}$")


def person_queryset(*, user) -> QuerySet[InsuredPerson]:
    return scoped(InsuredPerson.objects.select_related("village"), user).exclude(status=PersonStatus.VOID)


def person_search(*, user, q: str = "", status: str = "") -> QuerySet[InsuredPerson]:
    """By identity number or insurance number (prefix), pinyin initials (prefix), or name (part of it)."""
    persons = person_queryset(user=user)
    if status:
        persons = persons.filter(status=status)
    q = "".join((q or "").split())
    if not q:
        return persons
    if DIGITS.match(q):
        q = q.upper()
        if len(q) == ID_NUMBER_LENGTH:
            # A whole number: an exact match uses the unique index on every database, a prefix LIKE may not.
            return persons.filter(id_number=q)
        return persons.filter(Q(id_number__startswith=q) | Q(insurance_number=q) | Q(insurance_number__startswith=q))
    if LETTERS.match(q):
        return persons.filter(name_initials__startswith=q.lower())
    return persons.filter(name__contains=q)


def person_get(*, user, pk) -> InsuredPerson:
    # A withdrawn registration left no insured person: its record answers 404 like any stranger's.
    persons = InsuredPerson.objects.select_related("village__parent__parent").exclude(status=PersonStatus.VOID)
    return get_scoped_or_404(persons, user, pk=pk)


def application_queryset(*, user) -> QuerySet[Application]:
    return scoped(Application.objects.select_related("person", "created_by", "reviewed_by", "decided_by"), user)


def application_get(*, user, pk) -> Application:
    return get_scoped_or_404(
        Application.objects.select_related("person__village", "created_by", "reviewed_by", "decided_by"),
        user,
        pk=pk,
    )


# What lands in each role's queue (待办).
WORKLIST_STATUSES: dict[str, tuple[str, ...]] = {
    Role.VILLAGE_AGENT: (ApplicationStatus.RETURNED,),
    Role.TOWNSHIP_CLERK: (ApplicationStatus.SUBMITTED,),
    Role.COUNTY_APPROVER: (ApplicationStatus.ACCEPTED,),
    Role.COUNTY_CLERK: (ApplicationStatus.RETURNED,),
}


def application_worklist(*, user) -> QuerySet[Application]:
    statuses = WORKLIST_STATUSES.get(user.role, ())
    applications = application_queryset(user=user).filter(status__in=statuses)
    if user.role in (Role.VILLAGE_AGENT, Role.COUNTY_CLERK):
        # Sent back to whoever entered it.
        applications = applications.filter(created_by=user)
    return applications.order_by("created_at", "id")


def employee_register_loads(*, user) -> QuerySet[EmployeeRegisterLoad]:
    return scoped(EmployeeRegisterLoad.objects.select_related("loaded_by"), user)


def dual_enrollment_flags(*, user, open_only: bool = False) -> QuerySet[DualEnrollmentFlag]:
    flags = scoped(DualEnrollmentFlag.objects.select_related("person__village", "load"), user)
    return flags.filter(resolved_at__isnull=True) if open_only else flags
