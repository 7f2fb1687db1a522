"""Tier choices: one by one, the .xlsx template and its all-or-nothing import, and the default lowest tier."""

import datetime as dt
import io
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from agencies.errors import Conflict, DomainError, NotPermitted
from agencies.models import Role
from agencies.tests.factories import region_line
from contributions import services
from contributions.models import TierBatchKind, TierChoice, TierChoiceBatch, TierSource
from contributions.tests.factories import make_policy
from enrollment.models import PersonStatus
from enrollment.tests.factories import make_person

pytestmark = pytest.mark.django_db

D = dt.date


def pay(line, person, amount, year=2024):
    return services.contribution_post(
        actor=line.staff(Role.TOWNSHIP_CLERK),
        person=person,
        year=year,
        amount=amount,
        paid_on=D(year, 3, 1),
        channel="counter",
        bank_code="314",
        bank_reference=f"R{person.pk}-{year}",
    )


def test_choice_recorded_and_changed_before_payment_with_history(agent, person):
    choice = services.tier_choice_record(actor=agent, person=person, year=2024, amount="300")
    assert (choice.amount, choice.source, choice.chosen_by) == (Decimal(300), TierSource.CLERK, agent)
    services.tier_choice_record(actor=agent, person=person, year=2024, amount="500.00")
    choice.refresh_from_db()
    assert choice.amount == 500
    assert [h.amount for h in choice.history.order_by("history_id")] == [Decimal(300), Decimal(500)]
    assert choice.history.latest().history_user == agent


def test_a_paid_years_tier_cannot_change(line, agent, person):
    services.tier_choice_record(actor=agent, person=person, year=2024, amount="300")
    pay(line, person, "300")
    with pytest.raises(Conflict, match="已缴年度的档次不能再修改"):
        services.tier_choice_record(actor=agent, person=person, year=2024, amount="500")
    assert TierChoice.objects.get(person=person, year=2024).amount == 300
    # the same tier again is no change, not a refusal
    services.tier_choice_record(actor=agent, person=person, year=2024, amount="300")


@pytest.mark.parametrize("amount", ["250", "0", "-100", "1e3", "30O", "0.001"])
def test_bad_tiers_refused(agent, person, amount):
    with pytest.raises(DomainError):
        services.tier_choice_record(actor=agent, person=person, year=2024, amount=amount)
    assert not TierChoice.objects.exists()


def test_a_year_without_policy_has_no_tiers(agent, person):
    with pytest.raises(DomainError, match="尚未设置2011年度"):
        services.tier_choice_record(actor=agent, person=person, year=2011, amount="100")


@pytest.mark.parametrize("role", [Role.VILLAGE_AGENT, Role.TOWNSHIP_CLERK, Role.COUNTY_CLERK])
def test_agents_and_clerks_record_choices(line, person, role):
    services.tier_choice_record(actor=line.staff(role), person=person, year=2024, amount="100")


@pytest.mark.parametrize("role", [Role.COUNTY_APPROVER, Role.COUNTY_FUND_OFFICER, Role.CITY_SUPERVISOR])
def test_other_roles_do_not(line, person, role):
    with pytest.raises(NotPermitted):
        services.tier_choice_record(actor=line.staff(role), person=person, year=2024, amount="100")


def test_an_agent_of_another_village_cannot(line, person):
    other = region_line(county="320412", township="101", village="202")
    with pytest.raises(DomainError, match="管辖范围"):
        services.tier_choice_record(actor=other.staff(Role.VILLAGE_AGENT), person=person, year=2024, amount="100")


# --- template and import ------------------------------------------------------------------------------


@pytest.fixture
def village_persons(line, policy):
    return [
        make_person(line.village, name="甲", birth_date=D(1970, 1, 1)),
        make_person(line.village, name="乙", birth_date=D(1971, 1, 1)),
        make_person(line.village, name="丙", birth_date=D(1972, 1, 1)),
    ]


def filled(content: bytes, tiers: dict[str, object]) -> bytes:
    """The template with the 选择档次 column filled in by name."""
    workbook = load_workbook(io.BytesIO(content))
    sheet = workbook.worksheets[0]
    for row in sheet.iter_rows(min_row=2):
        if row[1].value in tiers:
            row[5].value = tiers[row[1].value]
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def test_template_lists_the_villages_active_persons_with_a_tier_list(line, agent, village_persons):
    make_person(line.village, name="注销", status=PersonStatus.CANCELLED)
    make_person(region_line(county="320412", township="101", village="202").village, name="邻村")
    services.tier_choice_record(actor=agent, person=village_persons[0], year=2025, amount="300")
    content = services.tier_choices_template(actor=agent, year=2025, village=line.village)
    workbook = load_workbook(io.BytesIO(content))
    sheet = workbook.worksheets[0]
    assert sheet.title == "2025年度缴费档次"
    rows = [[c.value for c in row] for row in sheet.iter_rows(min_row=2)]
    assert [r[1] for r in rows] == ["丙", "乙", "甲"]  # by name; the cancelled and the neighbours left out
    by_name = {r[1]: r for r in rows}
    assert by_name["甲"][0] == village_persons[0].id_number and by_name["甲"][3] == 300
    validation = sheet.data_validations.dataValidation[0]
    assert validation.type == "list" and "档次" in validation.formula1
    assert [c.value for (c,) in workbook["档次"].iter_rows()] == [
        100,
        200,
        300,
        400,
        500,
        600,
        700,
        800,
        900,
        1000,
        1500,
        2000,
    ]


def test_import_writes_every_row_with_history_and_an_audit_row(line, agent, village_persons):
    content = services.tier_choices_template(actor=agent, year=2025, village=line.village)
    result = services.tier_choices_import(
        actor=agent, year=2025, file_name="奔牛村.xlsx", content=filled(content, {"甲": 300, "乙": "500"})
    )
    assert result.ok and (result.created, result.updated, result.blank) == (2, 0, 1)
    choices = {c.person.name: c for c in TierChoice.objects.select_related("person")}
    assert {name: c.amount for name, c in choices.items()} == {"甲": 300, "乙": 500}
    assert choices["甲"].source == TierSource.BATCH
    assert choices["甲"].history.get().history_user == agent
    batch = TierChoiceBatch.objects.get()
    assert (batch.kind, batch.file_name, batch.created, batch.actor) == (TierBatchKind.IMPORT, "奔牛村.xlsx", 2, agent)
    # the same file again changes nothing
    again = services.tier_choices_import(
        actor=agent, year=2025, file_name="奔牛村.xlsx", content=filled(content, {"甲": 300, "乙": "500"})
    )
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)


def test_import_is_all_or_nothing_with_every_row_problem_listed(line, agent, village_persons):
    services.tier_choice_record(actor=agent, person=village_persons[2], year=2025, amount="100")
    stranger = make_person(region_line(county="320115").village, name="外地")
    csv_text = "\n".join(
        [
            "身份证号,姓名,选择档次(元)",
            f"{village_persons[0].id_number.lower()[:-1]}{village_persons[0].id_number[-1].lower()},甲,300",  # ok, lower x
            f"{village_persons[1].id_number},乙,250",  # no such tier
            "320412197001011234,某,300",  # bad check digit
            f"{stranger.id_number},外地,300",  # not in scope
            f"{village_persons[0].id_number},甲,500",  # repeated
            f"{village_persons[2].id_number},错名,300",  # name does not match
            f"{village_persons[2].id_number[:6]}x,丙,1e3",  # malformed both
        ]
    )
    result = services.tier_choices_import(actor=agent, year=2025, file_name="a.csv", content=csv_text.encode("gbk"))
    assert not result.ok
    assert [e.row for e in result.errors] == [3, 4, 5, 6, 7, 8]
    messages = {e.row: e.message for e in result.errors}
    assert "没有250元" in messages[3]
    assert "不是您辖区内" in messages[5]
    assert "与第2行重复" in messages[6]
    assert "姓名" in messages[7]
    # nothing written: the valid row 2 too
    assert list(TierChoice.objects.values_list("amount", flat=True)) == [Decimal(100)]
    assert not TierChoiceBatch.objects.exists()


def test_import_refuses_a_paid_years_change(line, agent, village_persons):
    pay(line, village_persons[0], "300", year=2024)
    csv_text = f"身份证号,选择档次\n{village_persons[0].id_number},300\n{village_persons[1].id_number},200\n"
    assert services.tier_choices_import(actor=agent, year=2024, file_name="a.csv", content=csv_text.encode()).ok
    csv_text = f"身份证号,选择档次\n{village_persons[0].id_number},500\n"
    result = services.tier_choices_import(actor=agent, year=2024, file_name="a.csv", content=csv_text.encode())
    assert "已经缴费" in result.errors[0].message


def test_import_of_another_years_template_refused(line, agent, village_persons):
    content = services.tier_choices_template(actor=agent, year=2025, village=line.village)
    with pytest.raises(DomainError, match="2025年度的模板"):
        services.tier_choices_import(actor=agent, year=2024, file_name="a.xlsx", content=content)


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 broken", "姓名,金额\n张三,300\n".encode()])
def test_unreadable_files_refused(agent, policy, content):
    with pytest.raises(DomainError):
        services.tier_choices_import(actor=agent, year=2025, file_name="a.xlsx", content=content)


# --- default lowest tier ----------------------------------------------------------------------------------


def test_default_lowest_tier_once_the_window_has_ended(line):
    make_policy(line, valid_from=D(2024, 1, 1), window=(1, 1, 3, 31))
    agent = line.staff(Role.VILLAGE_AGENT)
    chose, silent, paid = (make_person(line.village, name=n) for n in ("选了", "没选", "已缴"))
    old = make_person(line.village, name="老人", birth_date=D(1960, 1, 1))  # 64 on 1 January 2024
    make_person(line.village, name="注销", status=PersonStatus.CANCELLED)
    make_person(line.village, name="新参保", enrolled_on=D(2024, 4, 1))  # joined after the window closed
    services.tier_choice_record(actor=agent, person=chose, year=2024, amount="500")
    pay(line, paid, "300")
    # the window is open on 31 March: nothing yet
    assert services.default_tiers_assign(on_date=D(2024, 3, 31)) == 0
    # after it: only the one who neither chose nor paid
    assert services.default_tiers_assign(on_date=D(2024, 4, 1)) == 1
    defaulted = TierChoice.objects.get(source=TierSource.DEFAULT)
    assert (defaulted.person, defaulted.year, defaulted.amount) == (silent, 2024, Decimal(100))
    assert not TierChoice.objects.filter(person=old).exists()
    assert TierChoice.objects.get(person=chose).amount == 500
    batch = TierChoiceBatch.objects.get()
    assert (batch.kind, batch.created, batch.region_code) == (TierBatchKind.DEFAULT, 1, "320412")
    # run again: idempotent
    assert services.default_tiers_assign(on_date=D(2024, 4, 2)) == 0
    assert TierChoice.objects.filter(year=2024).count() == 3
    # a clerk may still change a default choice before payment
    services.tier_choice_record(actor=agent, person=silent, year=2024, amount="200")
    assert TierChoice.objects.get(person=silent).source == TierSource.CLERK


def test_default_assignment_per_pooling_region_and_after_a_year_end_window(line):
    other = region_line(county="320115")
    make_policy(line, valid_from=D(2024, 1, 1))  # collects all year
    make_policy(other, valid_from=D(2024, 1, 1), window=(1, 1, 3, 31))
    here, there = make_person(line.village), make_person(other.village)
    # on 1 April only the other region's window has ended
    assert services.default_tiers_assign(on_date=D(2024, 4, 1)) == 1
    assert TierChoice.objects.get().person == there
    # a window ending on 31 December has ended once the next year begins
    assert services.default_tiers_assign(on_date=D(2025, 1, 1)) == 1
    assert TierChoice.objects.get(person=here).year == 2024


def test_default_assignment_query_count_does_not_grow_with_persons(line):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    make_policy(line, valid_from=D(2025, 1, 1), window=(1, 1, 1, 31))
    for n in range(10):
        make_person(line.village, name=f"人{n}")
    assert services.default_tiers_assign(on_date=D(2025, 1, 15)) == 0  # the window is open
    with CaptureQueriesContext(connection) as few:
        assert services.default_tiers_assign(on_date=D(2025, 2, 1)) == 10
    TierChoice.objects.all().delete()
    TierChoiceBatch.objects.all().delete()
    for n in range(40):
        make_person(line.village, name=f"又{n}")
    with CaptureQueriesContext(connection) as many:
        assert services.default_tiers_assign(on_date=D(2025, 2, 1)) == 50
    assert len(many) == len(few)
