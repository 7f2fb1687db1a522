"""Checks a clerk sees while typing a registration form, shared by the API (``id-check/``) and the browser.

Read-only: nothing here writes, and nothing outside the caller's jurisdiction is revealed beyond what the
"one person, one number" rule needs (that a number is taken, where, and in which state).
"""

import datetime as dt
from typing import Any

from django.utils import timezone

from agencies.models import Region, RegionLevel
from agencies.scope import code_in_scope, scoped
from enrollment import idnumber
from enrollment.models import InsuredPerson, PersonStatus, Sex
from enrollment.services import possible_duplicates

# Enough to show the clerk there is something to look at; the form is not a search page.
POSSIBLE_DUPLICATES_LIMIT = 10


def _village_in_scope(user, village: Region | str | None) -> Region | None:
    """The village, if the caller may see it; a code the caller may not see counts as no village."""
    if village is None or village == "":
        return None
    if isinstance(village, Region):
        if village.level != RegionLevel.VILLAGE or not code_in_scope(user, village.code):
            return None
        return village
    return scoped(Region.objects.filter(level=RegionLevel.VILLAGE), user).filter(code=str(village).strip()).first()


def _registered_holder(user, number: str) -> dict[str, Any] | None:
    holder = (
        InsuredPerson.objects.select_related("village__parent__parent__parent")
        .exclude(status=PersonStatus.VOID)
        .filter(id_number=number)
        .first()
    )
    if holder is None:
        return None
    in_scope = code_in_scope(user, holder.region_code)
    return {
        "in_scope": in_scope,
        # Outside the jurisdiction the clerk learns only where and in which state, never who or which record.
        "person_id": holder.pk if in_scope else None,
        "name": holder.name if in_scope else "",
        "insurance_number": (holder.insurance_number or "") if in_scope else "",
        "region_name": holder.village.full_name(),
        "status": holder.status,
        "status_display": holder.get_status_display(),
    }


def _possible_duplicates(user, *, village: Region, name: str, identity: idnumber.IdentityNumber) -> list[dict]:
    persons = scoped(
        possible_duplicates(
            village=village, name=name, birth_date=identity.birth_date, exclude_id_number=identity.number
        ),
        user,
    ).order_by("id")[:POSSIBLE_DUPLICATES_LIMIT]
    return [
        {
            "person_id": person.pk,
            "name": person.name,
            "id_number_masked": idnumber.mask(person.id_number),
            "insurance_number": person.insurance_number or "",
            "birth_date": person.birth_date,
            "status": person.status,
            "status_display": person.get_status_display(),
        }
        for person in persons
    ]


def id_number_check(
    *,
    user,
    raw: str,
    village: Region | str | None = None,
    name: str = "",
    today: dt.date | None = None,
) -> dict[str, Any]:
    """Normalise and validate an identity number for registration, and look for duplicates.

    ``village`` is a Region or its 12-digit code; one outside the caller's scope is ignored.
    Returns a dict (dates are ``datetime.date``)::

        number               the normalised number ("" if nothing was typed)
        valid                True if a registration with this number may go ahead as far as the number goes
        error                None, or {"code", "message"} with the first problem (Chinese)
        birth_date, sex, sex_display, age   from the number, when it is well formed (also when under age)
        registered           None, or the holder of the same number anywhere (see ``_registered_holder``)
        possible_duplicates  same name and birth date in the same village, within the caller's scope
    """
    today = today or timezone.localdate()
    number = idnumber.normalise(raw)
    result: dict[str, Any] = {
        "number": number,
        "valid": False,
        "error": None,
        "birth_date": None,
        "sex": "",
        "sex_display": "",
        "age": None,
        "registered": None,
        "possible_duplicates": [],
    }
    try:
        identity = idnumber.parse(number, today=today)
    except idnumber.IdNumberError as error:
        result["error"] = {"code": error.code, "message": error.message}
        return result

    result.update(
        number=identity.number,
        birth_date=identity.birth_date,
        sex=identity.sex,
        sex_display=str(Sex(identity.sex).label),
        age=identity.age_on(today),
    )
    try:
        idnumber.parse_for_registration(identity.number, today=today)
    except idnumber.IdNumberError as error:
        # Under age: still show the birth date so the clerk sees why.
        result["error"] = {"code": error.code, "message": error.message}

    result["registered"] = _registered_holder(user, identity.number)
    if result["registered"] is not None and result["error"] is None:
        result["error"] = {
            "code": "duplicate_id",
            "message": (
                f"该身份证号已经参保登记（{result['registered']['region_name']}，"
                f"{result['registered']['status_display']}），一人只能有一个保险编号，请勿重复登记。"
            ),
        }

    clean_name = "".join((name or "").split())
    region = _village_in_scope(user, village)
    if region is not None and clean_name:
        result["possible_duplicates"] = _possible_duplicates(user, village=region, name=clean_name, identity=identity)

    result["valid"] = result["error"] is None
    return result
