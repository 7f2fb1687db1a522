"""Persons and applications for tests, made through the services where the workflow matters."""

import datetime as dt
import itertools

from agencies.models import Region
from enrollment import idnumber
from enrollment.models import InsuredPerson, PersonStatus
from enrollment.pinyin import name_initials

_sequence = itertools.count(1)


def new_id_number(area_code: str = "320412", birth_date: dt.date = dt.date(1970, 5, 17), male: bool = True) -> str:
    """A valid, unused 18-digit identity number."""
    serial = next(_sequence) % 500 * 2 + (1 if male else 0)
    number = idnumber.make(area_code, birth_date, serial % 1000)
    while InsuredPerson.objects.filter(id_number=number).exists():
        serial = next(_sequence) % 500 * 2 + (1 if male else 0)
        number = idnumber.make(area_code, birth_date, serial % 1000)
    return number


_insurance_serial = itertools.count(90_000_000)


def make_person(
    village: Region,
    *,
    name: str = "张三",
    status: str = PersonStatus.ACTIVE,
    birth_date: dt.date = dt.date(1970, 5, 17),
    id_number: str | None = None,
    **fields,
) -> InsuredPerson:
    """An insured person straight in the database (for reads); use the services to test writes."""
    number = id_number or new_id_number(village.code[:6], birth_date)
    identity = idnumber.parse(number)
    return InsuredPerson.objects.create(
        id_number=number,
        name=name,
        name_initials=name_initials(name),
        sex=identity.sex,
        birth_date=identity.birth_date,
        village=village,
        region_code=village.code,
        status=status,
        insurance_number=(
            f"{village.code[:6]}{next(_insurance_serial):08d}" if status != PersonStatus.PENDING else None
        ),
        **fields,
    )
