"""示范点评估: scores from hand-made monthly summaries and archive items, the inspector's entries, the pass mark."""

import datetime as dt
import logging
from decimal import Decimal

import pytest
from django.http import Http404
from django.utils import timezone

from agencies.errors import DomainError, NotPermitted
from agencies.models import RegionLevel, Role
from agencies.tests.factories import RegionFactory, region_line
from archives.tests.factories import make_item
from portal import assessment as scoring
from portal.models import AssessmentEntry, MonthlySummary, SummaryRun

pytestmark = pytest.mark.django_db

D = Decimal
YEAR = dt.date.today().year


@pytest.fixture
def line():
    return region_line()


def summary(code: str, month: int, **figures) -> MonthlySummary:
    """A village's figures for a month, and the finished nightly run that built them."""
    first = dt.date(YEAR, month, 1)
    SummaryRun.objects.get_or_create(month=first, defaults={"finished_at": timezone.now()})
    return MonthlySummary.objects.create(region_code=code, month=first, **figures)


def scores(result) -> dict[str, Decimal | None]:
    return {item.key: item.score for item in result.items}


def test_every_level_is_worth_100_points():
    for level, items in scoring.TABLE.items():
        assert sum(points for _, points in items) == 100, level


def test_a_township_scored_from_its_measures_and_the_inspectors_entries(line):
    # given a township with two villages and three months of figures
    other = RegionFactory(code=line.township.code[:9] + "202", level=RegionLevel.VILLAGE, parent=line.township)
    summary(line.village.code, 1, payroll_lines=60, payroll_paid=60, applications=300)
    summary(other.code, 1, payroll_lines=40, payroll_paid=40, applications=200)
    summary(line.village.code, 2, payroll_lines=100, payroll_paid=100, applications_overdue=2)
    summary(line.village.code, 3, insured=500, should_insure=500, renewal_due_old=60, renewal_paid_old=60,
            renewal_due_young=50, renewal_paid_young=35, payroll_lines=60, payroll_paid=59, applications=250,
            applications_returned=1)  # fmt: skip
    summary(other.code, 3, insured=490, should_insure=500, renewal_due_old=40, renewal_paid_old=40,
            renewal_due_young=50, renewal_paid_young=34, payroll_lines=40, payroll_paid=40, applications=250)  # fmt: skip
    inspector = line.staff(Role.COUNTY_APPROVER)
    scoring.assessment_entry_set(actor=inspector, region=line.township, year=YEAR, item="window", score="9.5")
    scoring.assessment_entry_set(
        actor=inspector, region=line.township, year=YEAR, item="rules_on_wall", score="5", note="流程、时限已上墙"
    )

    # when
    result = scoring.assessment(user=inspector, region=line.township, year=YEAR, month=dt.date(YEAR, 3, 1))

    # then
    # coverage 990/1000 = 99% ≥ 98% → 20; 45-59 renew 100/100 → 10; 16-44 renew 69/100 = 69% < 70% → 0;
    # payout Jan–Mar 299/300 < 100% → 0; entry errors 1 of 1,000 = 1‰ ≤ 1‰ → 10; none overdue at March's end
    # (February's two no longer) → 10; nothing filed for the year → 10; by hand 9.5 + 5, 档案规范 not yet scored
    assert scores(result) == {
        "coverage": D(20),
        "renewal_old": D(10),
        "renewal_young": D(0),
        "payout": D(0),
        "error_rate": D(10),
        "overdue": D(10),
        "archives": D(10),
        "window": D("9.5"),
        "rules_on_wall": D("5.0"),
        "archive_room": None,
    }
    assert result.total == D("74.5") and result.points == 100
    assert not result.passed and not result.complete
    assert [item.key for item in result.pending] == ["archive_room"]
    shown = {item.key: item.value for item in result.items}
    assert shown["coverage"] == "99.00%（990/1000）"
    assert shown["renewal_young"] == "69.00%（69/100）"
    assert shown["payout"] == "99.67%（299/300）"
    assert shown["error_rate"] == "1.0‰（1/1000）"
    assert {item.key: item.note for item in result.items}["rules_on_wall"] == "流程、时限已上墙"


def test_a_village_meeting_every_standard_passes_with_100(line):
    summary(line.village.code, 1, insured=98, should_insure=100, renewal_due_old=5, renewal_paid_old=5)
    supervisor = line.staff(Role.CITY_SUPERVISOR)
    scoring.assessment_entry_set(actor=supervisor, region=line.village, year=YEAR, item="window", score=10)
    scoring.assessment_entry_set(actor=supervisor, region=line.village, year=YEAR, item="rules_on_wall", score="10")

    result = scoring.assessment(user=supervisor, region=line.village, year=YEAR, month=dt.date(YEAR, 1, 1))

    # no one 16-44 due to renew, no payroll, no application, nothing filed: nothing fell short
    assert result.total == D(100) and result.passed and result.complete
    notes = {item.key: item.note for item in result.items}
    assert notes["renewal_young"] == "无应续保人员" and notes["payout"] == "本年无应发待遇"


def test_coverage_without_a_population_is_not_met(line):
    summary(line.village.code, 1, insured=50)
    result = scoring.assessment(
        user=line.staff(Role.COUNTY_APPROVER), region=line.village, year=YEAR, month=dt.date(YEAR, 1, 1)
    )
    coverage = next(item for item in result.items if item.key == "coverage")
    assert coverage.score == 0 and coverage.note == "未登记应参保人数，无法计算参保率"


def test_papers_filed_without_paper_or_scan_fail_the_archives_item(line):
    make_item(line.village, year=YEAR)
    make_item(line.village, year=YEAR - 1)  # another year's: not counted

    result = scoring.assessment(
        user=line.staff(Role.COUNTY_APPROVER), region=line.township, year=YEAR, month=dt.date(YEAR, 1, 1)
    )

    archives = next(item for item in result.items if item.key == "archives")
    assert archives.score == 0
    assert archives.value == "纸质缺1件、电子缺1件（共1件）"


def test_entering_again_replaces_the_score_and_is_audited(line, caplog):
    inspector = line.staff(Role.COUNTY_APPROVER)
    scoring.assessment_entry_set(actor=inspector, region=line.township, year=YEAR, item="window", score="6")
    with caplog.at_level(logging.INFO, logger="portal.audit"):
        entry = scoring.assessment_entry_set(
            actor=inspector, region=line.township, year=YEAR, item="window", score="8.5"
        )
    assert AssessmentEntry.objects.count() == 1 and entry.score == D("8.5")
    assert f"region={line.township.code} year={YEAR} item=window score=8.5" in caplog.text


@pytest.mark.parametrize(
    ("item", "score", "field"),
    [
        ("window", "10.5", "score"),  # a township's window is worth 10
        ("window", "-1", "score"),
        ("window", "9.25", "score"),
        ("window", "", "score"),
        ("window", "九", "score"),
        ("coverage", "20", "item"),  # measured, never entered
        ("fund_management", "5", "item"),  # a county's item
    ],
)
def test_bad_entries_are_refused_next_to_their_field(line, item, score, field):
    with pytest.raises(DomainError) as refused:
        scoring.assessment_entry_set(
            actor=line.staff(Role.COUNTY_APPROVER), region=line.township, year=YEAR, item=item, score=score
        )
    assert refused.value.field == field
    assert not AssessmentEntry.objects.exists()


def test_who_and_where_may_enter(line):
    foreign = region_line(county="320115", city="3201")
    with pytest.raises(NotPermitted):
        scoring.assessment_entry_set(
            actor=line.staff(Role.TOWNSHIP_CLERK), region=line.village, year=YEAR, item="window", score="1"
        )
    refusals = [
        (line.staff(Role.COUNTY_APPROVER), line.county, "not_below"),
        (line.staff(Role.CITY_SUPERVISOR), foreign.township, "out_of_scope"),
        (line.staff(Role.CITY_SUPERVISOR), line.city, "wrong_level"),
    ]
    for actor, region, code in refusals:
        with pytest.raises(DomainError) as refused:
            scoring.assessment_entry_set(actor=actor, region=region, year=YEAR, item="window", score="1")
        assert refused.value.code == code
    assert not AssessmentEntry.objects.exists()


def test_an_assessment_outside_the_scope_answers_404_and_a_city_is_not_assessed(line):
    foreign = region_line(county="320115", city="3201")
    supervisor = line.staff(Role.CITY_SUPERVISOR)
    with pytest.raises(Http404):
        scoring.assessment(user=supervisor, region=foreign.township, year=YEAR, month=dt.date(YEAR, 1, 1))
    with pytest.raises(Http404):
        scoring.assessment(
            user=line.staff(Role.VILLAGE_AGENT), region=line.township, year=YEAR, month=dt.date(YEAR, 1, 1)
        )
    with pytest.raises(DomainError):
        scoring.assessment(user=supervisor, region=line.city, year=YEAR, month=dt.date(YEAR, 1, 1))


def test_an_assessment_reads_a_constant_number_of_queries(line, django_assert_max_num_queries):
    for month in range(1, 13):
        summary(line.village.code, month, insured=10, should_insure=10)
    supervisor = line.staff(Role.CITY_SUPERVISOR)
    # the months, whether the month is summarized, the register's counts, the entries (and the user's agency)
    with django_assert_max_num_queries(6):
        result = scoring.assessment(user=supervisor, region=line.township, year=YEAR, month=dt.date(YEAR, 12, 1))
    assert scores(result)["coverage"] == 20


def test_a_month_not_summarized_awards_no_points_for_what_the_summaries_measure(line):
    # given: a village that met every standard in January; February's nightly run has not finished yet
    summary(line.village.code, 1, insured=98, should_insure=100, renewal_due_old=5, renewal_paid_old=5)
    SummaryRun.objects.create(month=dt.date(YEAR, 2, 1))  # started, not finished
    supervisor = line.staff(Role.CITY_SUPERVISOR)
    scoring.assessment_entry_set(actor=supervisor, region=line.village, year=YEAR, item="window", score=10)
    scoring.assessment_entry_set(actor=supervisor, region=line.village, year=YEAR, item="rules_on_wall", score="10")

    # when: assessed as of February
    result = scoring.assessment(user=supervisor, region=line.village, year=YEAR, month=dt.date(YEAR, 2, 1))

    # then: the summaries' items earn nothing and say why; the register's (nothing filed) and the inspector's count
    assert result.summarized is False
    assert scores(result) == {
        "coverage": 0, "renewal_old": 0, "renewal_young": 0, "payout": 0, "error_rate": 0, "archives": 10,
        "window": 10, "rules_on_wall": 10,
    }  # fmt: skip
    assert result.total == D(30) and not result.passed
    coverage = next(item for item in result.items if item.key == "coverage")
    assert coverage.note == "本月数据尚未汇总（每晚汇总），本项暂不得分" and coverage.value == "—"
    # and January, summarized, still passes with 100
    assert scoring.assessment(user=supervisor, region=line.village, year=YEAR, month=dt.date(YEAR, 1, 1)).total == 100
