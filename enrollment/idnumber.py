"""Resident identity numbers (公民身份号码), GB 11643-1999.

18 characters: 6-digit area, 8-digit birth date, 3-digit sequence (odd = male), check character.
Pure functions: no database, so the form, the API and the services share one set of rules.
"""

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"
MINIMUM_AGE = 16


class IdNumberError(ValueError):
    """A refusal a clerk can act on: ``message`` says what is wrong and how to fix it."""

    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class IdentityNumber:
    number: str
    area_code: str
    birth_date: dt.date
    sex: str  # "M" or "F"

    def age_on(self, day: dt.date) -> int:
        return age_on(self.birth_date, day)


def normalise(raw: str) -> str:
    """Full-width digits and letters to half-width, spaces dropped, a lower-case x raised."""
    text = unicodedata.normalize("NFKC", raw or "")
    return re.sub(r"\s+", "", text).upper()


def check_character(first17: str) -> str:
    total = sum(int(digit) * weight for digit, weight in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARS[total % 11]


def check_character_sql(first17: str) -> str:
    """The check character as a PostgreSQL expression over a column or expression of 17 digits, for
    set-based generation (the benchmarks). Written for a parameterised statement: the modulo is ``%%``."""
    weighted = " + ".join(
        f"substr({first17}, {position}, 1)::int * {weight}" for position, weight in enumerate(WEIGHTS, start=1)
    )
    return f"substr('{CHECK_CHARS}', (({weighted}) %% 11) + 1, 1)"


def age_on(birth_date: dt.date, day: dt.date) -> int:
    years = day.year - birth_date.year
    if (day.month, day.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


def parse(raw: str, *, today: dt.date | None = None) -> IdentityNumber:
    """Normalise and validate; raise IdNumberError with a Chinese message on the first problem found."""
    today = today or dt.date.today()
    number = normalise(raw)
    if not number:
        raise IdNumberError("请填写身份证号。", "required")
    if len(number) == 15 and number.isdigit():
        raise IdNumberError(
            "这是15位旧身份证号，新参保登记须使用18位身份证号，请核对居民身份证后重新填写。", "legacy_15"
        )
    if len(number) != 18:
        raise IdNumberError(f"身份证号应为18位，现在是{len(number)}位，请核对后重新填写。", "length")
    if not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        raise IdNumberError("身份证号前17位须为数字，最后一位为数字或X，请核对后重新填写。", "characters")
    try:
        birth_date = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise IdNumberError(
            f"身份证号第7–14位的出生日期{number[6:10]}年{number[10:12]}月{number[12:14]}日不存在，请核对。",
            "birth_date",
        ) from None
    if birth_date > today:
        raise IdNumberError("身份证号中的出生日期晚于今天，请核对。", "future_birth")
    if birth_date.year < 1900:
        raise IdNumberError("身份证号中的出生年份早于1900年，请核对。", "birth_date")
    expected = check_character(number[:17])
    if number[17] != expected:
        raise IdNumberError("身份证号校验位不正确，请逐位核对（常见原因：录错一位或两位颠倒）。", "check_character")
    sex = "M" if int(number[16]) % 2 == 1 else "F"
    return IdentityNumber(number=number, area_code=number[:6], birth_date=birth_date, sex=sex)


def parse_for_registration(raw: str, *, today: dt.date | None = None) -> IdentityNumber:
    """As ``parse``, and refuses anyone under the minimum age for enrolment."""
    today = today or dt.date.today()
    identity = parse(raw, today=today)
    if identity.age_on(today) < MINIMUM_AGE:
        raise IdNumberError(
            f"未满{MINIMUM_AGE}周岁（出生于{identity.birth_date:%Y年%m月%d日}），不能参加城乡居民养老保险。",
            "under_age",
        )
    return identity


def make(area_code: str, birth_date: dt.date, sequence: int) -> str:
    """Build a valid number (demo data and tests)."""
    first17 = f"{area_code}{birth_date:%Y%m%d}{sequence:03d}"
    return first17 + check_character(first17)


def mask(number: str) -> str:
    """Shown in lists: area and check kept, birth date and sequence hidden."""
    if len(number) < 10:
        return "*" * len(number)
    return f"{number[:6]}********{number[-4:]}"
