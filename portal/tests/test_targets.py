"""目标任务分解: setting targets (who, where, what figures), the all-or-nothing import, progress against the measures
and the ranking of the regions below, on hand-made monthly summaries."""

import datetime as dt
import io
import logging
from decimal import Decimal

import pytest
from django.http import Http404
from openpyxl import Workbook

from agencies.errors import DomainError, NotPermitted
from agencies.models import Region, RegionLevel, Role
from agencies.tests.factories import RegionFactory, region_line
from portal import targets
from portal.models import MonthlySummary, Target

pytestmark = pytest.mark.django_db

D = Decimal
YEAR = dt.date.today().year


@pytest.fixture
def line():
    return region_line()  # 3204 / 320412 / 320412101 / 320412101201


def township(line, number: str, name: str | None = None) -> Region:
    return RegionFactory(
        code=f"{line.county.code[:6]}{number}000",
        name=name or f"镇{number}",
        level=RegionLevel.TOWNSHIP,
        parent=line.county,
    )


def village(parent: Region, number: str) -> Region:
    return RegionFactory(
        code=f"{parent.code[:9]}{number}",
        name=f"村{parent.code[6:9]}{number}",
        level=RegionLevel.VILLAGE,
        parent=parent,
    )


def summary(code: str, month: dt.date, **figures) -> MonthlySummary:
    return MonthlySummary.objects.create(region_code=code, month=month, **figures)


# --- target_set ------------------------------------------------------------------------------------------------


def test_a_city_supervisor_sets_a_county_and_a_township_rates_as_percentages(line):
    supervisor = line.staff(Role.CITY_SUPERVISOR)

    county = targets.target_set(
        actor=supervisor, region=line.county, year=YEAR, new_members="1500", renewals=9000, coverage_rate="98.5"
    )
    town = targets.target_set(actor=supervisor, region=line.township, year=YEAR, payout_rate="100%")

    county.refresh_from_db()
    assert (county.new_members, county.renewals, county.coverage_rate, county.payout_rate) == (
        1500,
        9000,
        D("0.9850"),
        None,
    )
    assert town.payout_rate == D("1.0000") and town.set_by == supervisor


def test_a_county_approver_sets_its_townships(line):
    target = targets.target_set(
        actor=line.staff(Role.COUNTY_APPROVER), region=line.township, year=YEAR, coverage_rate=D("98")
    )
    assert target.coverage_rate == D("0.9800")


def test_setting_again_replaces_the_figures_in_the_one_row_and_is_audited(line, caplog):
    supervisor = line.staff(Role.CITY_SUPERVISOR)
    targets.target_set(actor=supervisor, region=line.township, year=YEAR, new_members="150", renewals="800")

    with caplog.at_level(logging.INFO, logger="portal.audit"):
        again = targets.target_set(actor=supervisor, region=line.township, year=YEAR, new_members="160")

    assert Target.objects.count() == 1
    assert (again.new_members, again.renewals) == (160, None)
    assert f"target changed: user={supervisor.pk} region={line.township.code} year={YEAR}" in caplog.text
    assert "new_members=160" in caplog.text


@pytest.mark.parametrize(
    ("role", "error"),
    [(Role.COUNTY_CLERK, NotPermitted), (Role.TOWNSHIP_CLERK, NotPermitted), (Role.COUNTY_FUND_OFFICER, NotPermitted)],
)
def test_roles_that_do_not_set_targets_are_refused(line, role, error):
    with pytest.raises(error):
        targets.target_set(actor=line.staff(role), region=line.township, year=YEAR, new_members="1")
    assert not Target.objects.exists()


def test_own_level_above_and_village_are_refused(line):
    approver = line.staff(Role.COUNTY_APPROVER)
    supervisor = line.staff(Role.CITY_SUPERVISOR)
    cases = [
        (approver, line.county, "not_below"),  # its own level
        (approver, line.city, "out_of_scope"),  # above: the city lies outside the county
        (supervisor, line.city, "wrong_level"),
        (supervisor, line.village, "wrong_level"),
    ]
    for actor, region, code in cases:
        with pytest.raises(DomainError) as refused:
            targets.target_set(actor=actor, region=region, year=YEAR, new_members="10")
        assert refused.value.code == code, region.code
    assert not Target.objects.exists()


def test_a_region_of_another_city_is_out_of_scope(line):
    foreign = region_line(county="320115", city="3201")
    with pytest.raises(DomainError) as refused:
        targets.target_set(actor=line.staff(Role.CITY_SUPERVISOR), region=foreign.township, year=YEAR, new_members="10")
    assert refused.value.code == "out_of_scope"
    assert not Target.objects.exists()


@pytest.mark.parametrize(
    ("figures", "field"),
    [
        ({"coverage_rate": "101"}, "coverage_rate"),
        ({"coverage_rate": "98.555"}, "coverage_rate"),
        ({"payout_rate": "-1"}, "payout_rate"),
        ({"payout_rate": "九十八"}, "payout_rate"),
        ({"new_members": "-5"}, "new_members"),
        ({"renewals": "12.5"}, "renewals"),
        ({}, None),
    ],
)
def test_bad_figures_are_refused_next_to_their_field(line, figures, field):
    with pytest.raises(DomainError) as refused:
        targets.target_set(actor=line.staff(Role.CITY_SUPERVISOR), region=line.township, year=YEAR, **figures)
    assert refused.value.field == field
    assert not Target.objects.exists()


def test_a_year_out_of_range_is_refused(line):
    with pytest.raises(DomainError) as refused:
        targets.target_set(actor=line.staff(Role.CITY_SUPERVISOR), region=line.township, year=2008, new_members=1)
    assert refused.value.field == "year"


def test_floats_never_pass_as_rates():
    with pytest.raises(TypeError):
        targets.parse_percent(98.5, field="coverage_rate")


# --- the import ------------------------------------------------------------------------------------------------


def xlsx(rows: list[list], *, percent_column: int | None = None) -> bytes:
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    if percent_column is not None:
        for (cell,) in sheet.iter_rows(min_row=2, min_col=percent_column, max_col=percent_column):
            cell.number_format = "0.00%"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


HEADER = ["区划代码", "新增参保", "续保", "参保率(%)", "发放率（%）"]


def test_an_import_sets_every_row_and_says_what_it_created_and_updated(line):
    supervisor = line.staff(Role.CITY_SUPERVISOR)
    second = township(line, "102")
    targets.target_set(actor=supervisor, region=line.township, year=YEAR, new_members="1")
    content = xlsx(
        [
            HEADER,
            [line.county.code, 1500, 9000, 0.985, 1],  # the rate cell formatted as a percentage holds 0.985
            [line.township.code[:9], "150", "", 0.98, None],
            [second.code, 90, 400, None, None],
        ],
        percent_column=4,
    )

    result = targets.targets_import(actor=supervisor, year=YEAR, file_name="目标.xlsx", content=content)

    assert (result.created, result.updated) == (2, 1)
    rows = {t.region.code: t for t in Target.objects.filter(year=YEAR).select_related("region")}
    assert rows[line.county.code].coverage_rate == D("0.9850")
    assert rows[line.county.code].payout_rate == D("0.0100")  # "1" in the plain 发放率 column is 1%
    assert (rows[line.township.code].new_members, rows[line.township.code].coverage_rate) == (150, D("0.9800"))
    assert rows[second.code].renewals == 400


def test_a_csv_in_gbk_imports_too(line):
    content = f"区划代码,新增参保,续保,参保率,发放率\n{line.township.code},150,,98.5%,100\n".encode("gbk")
    result = targets.targets_import(
        actor=line.staff(Role.COUNTY_APPROVER), year=YEAR, file_name="目标.csv", content=content
    )
    assert result.created == 1
    target = Target.objects.get()
    assert (target.coverage_rate, target.payout_rate) == (D("0.9850"), D("1.0000"))


def test_an_import_with_bad_rows_names_each_by_line_and_column_and_writes_nothing(line):
    supervisor = line.staff(Role.CITY_SUPERVISOR)
    foreign = region_line(county="320115", city="3201")
    targets.target_set(actor=supervisor, region=line.county, year=YEAR, new_members="7")
    content = xlsx(
        [
            HEADER,
            [line.township.code, 150, 800, 98, 100],  # good
            [line.county.code, 1600, None, "102", None],  # line 3: a rate over 100%
            ["32041", 1, None, None, None],  # line 4: not a code
            [foreign.township.code, 5, None, None, None],  # line 5: another city's
            [line.village.code, 5, None, None, None],  # line 6: a village
            [line.township.code, -3, None, None, None],  # line 7: a repeat, and a negative count
            [line.city.code, None, None, None, None],  # line 8: the city, and nothing to set
        ]
    )

    with pytest.raises(targets.TargetImportRefused) as refused:
        targets.targets_import(actor=supervisor, year=YEAR, file_name="目标.xlsx", content=content)

    named = [(e.line, e.column) for e in refused.value.errors]
    assert named == [
        (3, "参保率"),
        (4, "区划代码"),
        (5, "区划代码"),
        (6, "区划代码"),
        (7, "区划代码"),
        (7, "新增参保"),
        (8, "区划代码"),
    ]
    assert "第7行“区划代码”" in str(refused.value.errors[4]) and "第2行重复" in refused.value.errors[4].message
    assert refused.value.field == "file"
    # Nothing written: the county keeps its 7, the township has no target.
    assert list(Target.objects.values_list("region__code", "new_members")) == [(line.county.code, 7)]


def test_an_import_without_the_columns_is_refused_whole(line):
    content = xlsx([["区划代码", "新增参保"], [line.township.code, 5]])
    with pytest.raises(DomainError) as refused:
        targets.targets_import(
            actor=line.staff(Role.CITY_SUPERVISOR), year=YEAR, file_name="目标.xlsx", content=content
        )
    assert refused.value.code == "bad_header" and "续保" in refused.value.message


def test_an_import_by_a_role_that_does_not_set_targets_is_refused(line):
    with pytest.raises(NotPermitted):
        targets.targets_import(actor=line.staff(Role.COUNTY_CLERK), year=YEAR, file_name="目标.csv", content=b"x")


def test_the_template_lists_the_regions_the_user_may_set_and_reads_back(line):
    approver = line.staff(Role.COUNTY_APPROVER)
    targets.target_set(actor=approver, region=line.township, year=YEAR, new_members="150", coverage_rate="98.5")

    content = targets.import_template(user=approver, year=YEAR)
    result = targets.targets_import(actor=approver, year=YEAR, file_name="模板.xlsx", content=content)

    assert (result.created, result.updated) == (0, 1)
    target = Target.objects.get()
    assert (target.new_members, target.coverage_rate) == (150, D("0.9850"))


# --- progress --------------------------------------------------------------------------------------------------


def test_progress_against_the_target_hand_computed(line):
    # given two villages of the township, three months of summaries
    other = village(line.township, "202")
    summary(line.village.code, dt.date(YEAR, 1, 1), new_members=40)
    summary(other.code, dt.date(YEAR, 2, 1), new_members=30)
    summary(line.village.code, dt.date(YEAR, 3, 1), new_members=30, insured=490, should_insure=500,
            renewal_paid_young=300, renewal_due_young=400, renewal_paid_old=250, renewal_due_old=250,
            payroll_lines=100, payroll_paid=99)  # fmt: skip
    summary(other.code, dt.date(YEAR, 3, 1), new_members=20, insured=480, should_insure=500,
            renewal_paid_young=100, renewal_due_young=150, renewal_paid_old=50, renewal_due_old=50,
            payroll_lines=100, payroll_paid=100)  # fmt: skip
    summary(line.village.code, dt.date(YEAR - 1, 12, 1), new_members=500)  # last year: not counted
    supervisor = line.staff(Role.CITY_SUPERVISOR)
    targets.target_set(
        actor=supervisor,
        region=line.township,
        year=YEAR,
        new_members="150",
        renewals="800",
        coverage_rate="98",
        payout_rate="100",
    )

    # when
    result = targets.progress(user=supervisor, region=line.township, year=YEAR, month=dt.date(YEAR, 3, 1))

    # then: 40 + 30 + 30 + 20 = 120 of 150 → 80.00%; renewals 300+250+100+50 = 700 of 800 → 87.50%;
    # coverage 970/1000 = 97.00% of 98% → 98.98%; payout 199/200 = 99.50% of 100% → 99.50%
    items = {item.key: item for item in result.items}
    assert (items["new_members"].done, items["new_members"].target, items["new_members"].ratio) == (
        120,
        150,
        D("0.8000"),
    )
    assert (items["renewals"].done, items["renewals"].ratio) == (700, D("0.8750"))
    assert (items["coverage_rate"].done, items["coverage_rate"].ratio) == (D("0.9700"), D("0.9898"))
    assert (items["payout_rate"].done, items["payout_rate"].ratio) == (D("0.9950"), D("0.9950"))
    assert items["new_members"].met is False
    # 综合完成率: (0.8 + 0.875 + 0.9898 + 0.995) / 4 = 0.9150
    assert result.completion == D("0.9150")


def test_progress_without_a_target_shows_what_was_done(line):
    summary(line.village.code, dt.date(YEAR, 1, 1), new_members=7)
    result = targets.progress(
        user=line.staff(Role.TOWNSHIP_CLERK), region=line.township, year=YEAR, month=dt.date(YEAR, 1, 1)
    )
    assert result.target is None and result.completion is None
    assert [(i.key, i.done, i.ratio) for i in result.items][0] == ("new_members", 7, None)


def test_progress_of_a_region_outside_the_scope_answers_404(line):
    foreign = region_line(county="320115", city="3201")
    with pytest.raises(Http404):
        targets.progress(
            user=line.staff(Role.CITY_SUPERVISOR), region=foreign.township, year=YEAR, month=dt.date(YEAR, 1, 1)
        )
    with pytest.raises(Http404):  # a township clerk never reads the county's figures
        targets.progress(user=line.staff(Role.TOWNSHIP_CLERK), region=line.county, year=YEAR, month=dt.date(YEAR, 1, 1))


# --- ranking ---------------------------------------------------------------------------------------------------


def test_ranking_by_completion_with_ties_in_code_order_then_by_coverage(line):
    # given four townships: 101 and 103 complete 80% of their new members, 102 complete 100%, 104 has no target
    towns = {"101": line.township, "102": township(line, "102"), "103": township(line, "103"), "104": township(line, "104")}  # fmt: skip
    month = dt.date(YEAR, 2, 1)
    figures = {"101": (40, 40), "102": (50, 50), "103": (60, 60), "104": (10, 0)}  # (January, February) new members
    for number, town in towns.items():
        place = village(town, "201")
        january, february = figures[number]
        summary(place.code, dt.date(YEAR, 1, 1), new_members=january)
        summary(place.code, month, new_members=february, insured=95, should_insure=100)
    supervisor = line.staff(Role.CITY_SUPERVISOR)
    for number, wanted in (("101", "100"), ("102", "100"), ("103", "150")):
        targets.target_set(actor=supervisor, region=towns[number], year=YEAR, new_members=wanted)

    # when
    rows = targets.ranking(user=supervisor, region=line.county, year=YEAR, month=month)

    # then: 102 (100/100) first; 101 (80/100) and 103 (120/150) tie at 80% in code order; 104 by coverage after
    assert [(row.rank, row.region.code[6:9], row.value) for row in rows] == [
        (1, "102", D("1.0000")),
        (2, "101", D("0.8000")),
        (2, "103", D("0.8000")),
        (4, "104", D("0.9500")),
    ]
    assert rows[3].by_coverage and rows[3].target is None
    assert rows[2].new_members_ytd == 120


def test_ranking_without_any_target_is_by_coverage_and_a_missing_population_comes_last(line):
    second, third = township(line, "102"), township(line, "103")
    month = dt.date(YEAR, 5, 1)
    summary(line.village.code, month, insured=90, should_insure=100)
    summary(village(second, "201").code, month, insured=99, should_insure=100)
    summary(village(third, "201").code, month, insured=50)

    rows = targets.ranking(user=line.staff(Role.COUNTY_APPROVER), region=line.county, year=YEAR, month=month)

    assert [(row.rank, row.region.code[6:9], row.value) for row in rows] == [
        (1, "102", D("0.9900")),
        (2, "101", D("0.9000")),
        (3, "103", None),
    ]


def test_ranking_by_one_figure(line):
    second = township(line, "102")
    month = dt.date(YEAR, 1, 1)
    summary(line.village.code, month, new_members=10, insured=80, should_insure=100)
    summary(village(second, "201").code, month, new_members=1, insured=90, should_insure=100)
    supervisor = line.staff(Role.CITY_SUPERVISOR)
    targets.target_set(actor=supervisor, region=line.township, year=YEAR, new_members="10", coverage_rate="100")
    targets.target_set(actor=supervisor, region=second, year=YEAR, new_members="10", coverage_rate="100")

    by_coverage = targets.ranking(user=supervisor, region=line.county, year=YEAR, month=month, by="coverage_rate")
    by_members = targets.ranking(user=supervisor, region=line.county, year=YEAR, month=month, by="new_members")

    assert [row.region.code[6:9] for row in by_coverage] == ["102", "101"]
    assert [row.region.code[6:9] for row in by_members] == ["101", "102"]


def test_ranking_queries_do_not_grow_with_the_regions(line, django_assert_max_num_queries):
    supervisor = line.staff(Role.CITY_SUPERVISOR)
    month = dt.date(YEAR, 1, 1)
    for number in range(102, 122):
        town = township(line, str(number))
        summary(village(town, "201").code, month, new_members=number)
        targets.target_set(actor=supervisor, region=town, year=YEAR, new_members="100")

    with django_assert_max_num_queries(5):
        rows = targets.ranking(user=supervisor, region=line.county, year=YEAR, month=month)
    assert len(rows) == 21
