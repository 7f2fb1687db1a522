import datetime as dt

import pytest

from enrollment import idnumber
from enrollment.idnumber import IdNumberError

TODAY = dt.date(2026, 11, 22)
# Check characters computed by hand with weights 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2:
# 11010519491231002 → sum 167, 167 mod 11 = 2 → "X"
VALID_X = "11010519491231002X"
# 32041219700517001 → sum 220, 220 mod 11 = 0 → "1"
VALID_MALE = "320412197005170011"


def test_valid_number_gives_birth_date_and_sex():
    identity = idnumber.parse(VALID_X, today=TODAY)
    assert identity.birth_date == dt.date(1949, 12, 31)
    assert identity.sex == "F"  # sequence 002 is even
    assert identity.area_code == "110105"


def test_odd_sequence_is_male():
    identity = idnumber.parse(VALID_MALE, today=TODAY)
    assert identity.sex == "M"
    assert identity.birth_date == dt.date(1970, 5, 17)


def test_check_character_by_hand():
    assert idnumber.check_character("11010519491231002") == "X"
    assert idnumber.check_character("32041219700517001") == "1"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("11010519491231002x", VALID_X),  # lower-case x
        (" 1101 0519 4912 3100 2X ", VALID_X),  # spaces
        ("１１０１０５１９４９１２３１００２Ｘ", VALID_X),  # full-width digits and letter
        ("１１０１０５１９４９１２３１００２ｘ", VALID_X),  # full-width lower-case x
        ("320412 19700517 0011\t", VALID_MALE),
    ],
)
def test_normalisation(raw, expected):
    assert idnumber.parse(raw, today=TODAY).number == expected


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("110105194912310021", "check_character"),  # check should be X
        ("320412197005170015", "check_character"),
        ("320412190102290016", "birth_date"),  # 1901-02-29: 1901 is not a leap year
        ("320412197013010010", "birth_date"),  # month 13
        ("320412197004310010", "birth_date"),  # 31 April
        ("32041219700517001", "length"),  # 17 characters
        ("3204121970051700145", "length"),  # 19 characters
        ("320412700517001", "legacy_15"),  # 15-digit legacy number
        ("32041219700517001Y", "characters"),
        ("3204121970O517001X", "characters"),  # letter O for zero
        ("", "required"),
    ],
)
def test_refusals(raw, code):
    with pytest.raises(IdNumberError) as refusal:
        idnumber.parse(raw, today=TODAY)
    assert refusal.value.code == code
    assert refusal.value.message  # a Chinese sentence for the clerk


def test_leap_day_in_leap_year_is_accepted():
    number = idnumber.make("320412", dt.date(2000, 2, 29), 11)
    assert idnumber.parse(number, today=TODAY).birth_date == dt.date(2000, 2, 29)


def test_future_birth_date_refused():
    number = idnumber.make("320412", dt.date(2027, 1, 1), 11)
    with pytest.raises(IdNumberError) as refusal:
        idnumber.parse(number, today=TODAY)
    assert refusal.value.code == "future_birth"


def test_registration_refuses_under_sixteen():
    # Turns 16 tomorrow: refused today, accepted tomorrow.
    number = idnumber.make("320412", dt.date(2010, 11, 23), 11)
    with pytest.raises(IdNumberError) as refusal:
        idnumber.parse_for_registration(number, today=TODAY)
    assert refusal.value.code == "under_age"
    assert "16" in refusal.value.message
    assert idnumber.parse_for_registration(number, today=dt.date(2026, 11, 23)).age_on(dt.date(2026, 11, 23)) == 16


def test_legacy_message_says_use_eighteen_digits():
    with pytest.raises(IdNumberError) as refusal:
        idnumber.parse("320412700517001", today=TODAY)
    assert "18位" in refusal.value.message


def test_age_on_birthday_boundaries():
    birth = dt.date(1966, 3, 1)
    assert idnumber.age_on(birth, dt.date(2026, 2, 28)) == 59
    assert idnumber.age_on(birth, dt.date(2026, 3, 1)) == 60


def test_mask_hides_birth_date_and_sequence():
    assert idnumber.mask(VALID_MALE) == "320412********0011"


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_check_character_in_sql_agrees_with_the_python_rule():
    from django.db import connection

    first17s = ["32041119500310022", "11010519491231002", "44030419851130471"]
    sql = "SELECT f17 || " + idnumber.check_character_sql("f17") + " FROM unnest(%s::text[]) AS u(f17) ORDER BY f17"
    with connection.cursor() as cursor:
        cursor.execute(sql, [first17s])
        computed = [row[0] for row in cursor.fetchall()]
    assert computed == sorted(f + idnumber.check_character(f) for f in first17s)
    assert "11010519491231002X" in computed
