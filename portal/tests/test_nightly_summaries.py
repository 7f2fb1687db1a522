"""The nightly job's summaries step: the month of the business day and the one before rebuilt as of that day, a
second run writing the same rows, one month's failure recorded while the other is still rebuilt; the report, the
task's answer, the commands' output."""

from __future__ import annotations

import datetime as dt
import io
import itertools
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from agencies.tests.factories import region_line
from contributions.models import Channel, Contribution
from enrollment.tests.factories import make_person
from portal.measures import month_summarized
from portal.models import MonthlySummary, RetirementCohort, SummaryRun
from portal.nightly import run_nightly
from portal.tasks import nightly

pytestmark = pytest.mark.django_db

NOVEMBER, DECEMBER = dt.date(2026, 11, 1), dt.date(2026, 12, 1)
MONDAY = dt.date(2026, 12, 7)
_references = itertools.count(1)


def paid(person, paid_on: dt.date, amount: str) -> None:
    Contribution.objects.create(
        person=person,
        year=paid_on.year,
        tier_amount=Decimal(amount),
        personal_amount=Decimal(amount),
        paid_on=paid_on,
        channel=Channel.COUNTER,
        bank_code="ICBC",
        bank_reference=f"N{next(_references)}",
        region_code=person.region_code,
    )


@pytest.fixture
def villages():
    """Two villages: one who joined in November and paid 300 then, one who joined on 3 December and paid 200 on
    the 8th (after the business day); the other village only has 4 who should be insured."""
    line = region_line()
    other = region_line(township="102")
    other.village.registered_population = 4
    other.village.save()
    november = make_person(line.village, name="十一月", enrolled_on=dt.date(2026, 11, 10))
    paid(november, dt.date(2026, 11, 12), "300.00")
    december = make_person(line.village, name="十二月", enrolled_on=dt.date(2026, 12, 3))
    paid(december, dt.date(2026, 12, 8), "200.00")
    return line, other


def table() -> list[tuple]:
    return list(
        MonthlySummary.objects.order_by("month", "region_code").values_list(
            "month", "region_code", "insured", "new_members", "payers", "contribution_income", "should_insure"
        )
    )


def test_the_night_rebuilds_the_month_and_the_one_before_as_of_the_business_day(villages):
    line, other = villages

    report = run_nightly(on_date=MONDAY)

    assert report.ok
    assert [(s.month, s.villages) for s in report.summaries] == [(NOVEMBER, 2), (DECEMBER, 2)]
    assert all(s.seconds >= 0 for s in report.summaries)
    assert table() == [
        (NOVEMBER, line.village.code, 1, 1, 1, Decimal("300.00"), 0),
        (NOVEMBER, other.village.code, 0, 0, 0, Decimal("0.00"), 4),
        # as of Monday 7 December: the newcomer of the 3rd counts, the payment of the 8th not yet
        (DECEMBER, line.village.code, 2, 1, 0, Decimal("0.00"), 0),
        (DECEMBER, other.village.code, 0, 0, 0, Decimal("0.00"), 4),
    ]
    assert report.as_dict()["summaries"] == [
        {"month": "2026-11", "villages": 2, "seconds": round(report.summaries[0].seconds, 3)},
        {"month": "2026-12", "villages": 2, "seconds": round(report.summaries[1].seconds, 3)},
    ]


def test_a_second_run_changes_nothing(villages):
    run_nightly(on_date=MONDAY)
    first = table()
    ids = set(MonthlySummary.objects.values_list("pk", flat=True))

    again = run_nightly(on_date=MONDAY)

    assert again.ok and [s.villages for s in again.summaries] == [2, 2]
    assert table() == first
    assert MonthlySummary.objects.count() == 4
    assert ids.isdisjoint(MonthlySummary.objects.values_list("pk", flat=True))  # replaced whole, not patched
    assert SummaryRun.objects.filter(finished_at__isnull=False).count() == 4


def test_the_next_night_moves_on(villages):
    run_nightly(on_date=MONDAY)
    # Tuesday the 8th: December's payment of that day now counts; November is rebuilt the same.
    run_nightly(on_date=dt.date(2026, 12, 8))
    december = MonthlySummary.objects.get(month=DECEMBER, region_code=villages[0].village.code)
    assert (december.payers, december.contribution_income) == (1, Decimal("200.00"))
    # 1 January: December is the month before, January the running one.
    report = run_nightly(on_date=dt.date(2027, 1, 1))
    assert [s.month for s in report.summaries] == [DECEMBER, dt.date(2027, 1, 1)]


def test_a_failed_month_is_recorded_and_the_other_still_rebuilt(villages, monkeypatch):
    # given last night's rows, and a November payment since
    run_nightly(on_date=MONDAY)
    before = table()
    paid(make_person(villages[0].village, name="补缴", enrolled_on=dt.date(2026, 1, 5)), dt.date(2026, 11, 20), "100")
    # and November's rebuild failing after its old rows were deleted
    real = MonthlySummary.objects.bulk_create

    def bulk_create(rows, **options):
        if rows and rows[0].month == NOVEMBER:
            raise RuntimeError("disk full")
        return real(rows, **options)

    monkeypatch.setattr(MonthlySummary.objects, "bulk_create", bulk_create)

    # when the night runs again
    report = run_nightly(on_date=MONDAY)

    # then November keeps its old rows whole, December is rebuilt, and the failure is reported
    assert not report.ok
    assert report.failures == ["月度汇总 2026年11月：RuntimeError: disk full"]
    assert [s.month for s in report.summaries] == [DECEMBER]
    assert [row for row in table() if row[0] == NOVEMBER] == [row for row in before if row[0] == NOVEMBER]
    assert MonthlySummary.objects.filter(month=DECEMBER).count() == 2
    assert report.default_tiers == 0  # the steps before it ran as usual


def test_the_night_of_a_year_end_counts_the_new_month_and_year(villages):
    # when the night of 31 December runs (after midnight, on 1 January)
    report = run_nightly(on_date=dt.date(2026, 12, 31))

    # then January has its summaries from its first day, and the retirement cohorts are counted in 2027 too
    january = dt.date(2027, 1, 1)
    assert [s.month for s in report.summaries] == [NOVEMBER, DECEMBER, january]
    assert month_summarized(january) and not month_summarized(dt.date(2027, 2, 1))
    assert set(RetirementCohort.objects.values_list("counted_in", flat=True)) == {2026, 2027}
    # and an ordinary night counts only its own year
    RetirementCohort.objects.all().delete()
    run_nightly(on_date=dt.date(2026, 12, 30))
    assert set(RetirementCohort.objects.values_list("counted_in", flat=True)) == {2026}


def test_the_task_reports_the_summaries(villages):
    result = nightly.delay(MONDAY.isoformat()).get()
    assert [(s["month"], s["villages"]) for s in result["summaries"]] == [("2026-11", 2), ("2026-12", 2)]


def test_run_nightly_prints_the_summaries(villages):
    out = io.StringIO()
    call_command("run_nightly", "--date", MONDAY.isoformat(), stdout=out)
    text = out.getvalue()
    assert "月度汇总 2026年11月：2/2" in text  # progress
    assert "月度汇总 2026年11月：2 个村（社区），" in text and "月度汇总 2026年12月：2 个村（社区），" in text
    assert text.rstrip().endswith("秒。")


def test_the_summaries_command_rebuilds_a_range_with_progress(villages):
    out = io.StringIO()
    call_command("summaries", "rebuild", "--from", "2026-10", "--to", "2026-11", stdout=out)
    lines = out.getvalue().splitlines()
    # October: only the other village's 4 who should be insured make a row (no one had joined the first yet)
    assert lines[0].startswith("  2026-10（1/2）：1 个村（社区），") and lines[0].endswith(" 秒")
    assert list(MonthlySummary.objects.filter(month=dt.date(2026, 10, 1)).values_list("region_code", flat=True)) == [
        villages[1].village.code
    ]
    assert lines[1].startswith("  2026-11（2/2）：2 个村（社区），")
    assert lines[2].startswith("完成：2 个月，共 ") and lines[2].endswith(" 秒。")
    assert sorted(set(MonthlySummary.objects.values_list("month", flat=True))) == [dt.date(2026, 10, 1), NOVEMBER]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--from", "2026-13"], "格式不正确"),
        (["--from", "2026-11", "--to", "2026-10"], "不能早于起始月份"),
        (["--from", "2999-01"], "不能晚于本月"),
    ],
)
def test_the_summaries_command_refuses_bad_months(arguments, message):
    with pytest.raises(CommandError, match=message):
        call_command("summaries", "rebuild", *arguments, stdout=io.StringIO())
    assert not MonthlySummary.objects.exists()
