"""The nightly summaries on a village built by hand: every figure of November 2026 worked out below, a rerun
that writes the same rows, and the running month counted as of today."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from zoneinfo import ZoneInfo

import psycopg2
import pytest
from django.db import OperationalError, connection

from agencies.models import Role
from agencies.tests.factories import PoolingRegionFactory, RegionFactory, region_line
from benefits.models import (
    Award,
    AwardCategory,
    AwardEvent,
    AwardStatus,
    Claim,
    ClaimStatus,
    LineKind,
    PayoutStatus,
    PayrollLine,
    PayrollRun,
    PayrollStatus,
)
from contributions.models import Channel, Contribution
from enrollment.models import (
    Application,
    ApplicationEvent,
    ApplicationKind,
    ApplicationStatus,
    InsuredPerson,
    PersonStatus,
)
from enrollment.tests.factories import make_person
from portal.models import MonthlySummary, SummaryRun, TimeLimit, WorkKind
from portal.summaries import (
    _MONTH_LOCK_CLASS,
    month_end,
    months_between,
    nightly_months,
    summaries_rebuild,
    summarize_month,
)
from portal.timelimits import time_limit_set

pytestmark = pytest.mark.django_db

D = Decimal
SHANGHAI = ZoneInfo("Asia/Shanghai")
NOVEMBER = dt.date(2026, 11, 1)
DECEMBER = dt.date(2026, 12, 1)
_references = itertools.count(1)


def at(day: dt.date, hour: int = 10, minute: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI)


def paid(person, year: int, paid_on: dt.date, amount: str = "500.00") -> Contribution:
    return Contribution.objects.create(
        person=person,
        year=year,
        tier_amount=D(amount),
        personal_amount=D(amount),
        paid_on=paid_on,
        channel=Channel.COUNTER,
        bank_code="ICBC",
        bank_reference=f"S{next(_references)}",
        region_code=person.region_code,
    )


def award(line, person, *, start: dt.date, paid_until: dt.date | None = None, status=AwardStatus.ACTIVE) -> Award:
    return Award.objects.create(
        person=person,
        region_code=person.region_code,
        pooling_region=line.pooling_region,
        category=AwardCategory.MONTHLY_PENSION,
        status=status,
        start_month=start,
        paid_until=paid_until,
        birth_date=person.birth_date,
        years_paid=15,
        account_balance_at_start=D("13900.00"),
        account_divisor=139,
        account_pension=D("100.00"),
        approved_by=line.staff(Role.COUNTY_APPROVER),
    )


def line_of(run, award_row, *, basic: str, account: str, status: str, kind: str = LineKind.PENSION) -> PayrollLine:
    return PayrollLine.objects.create(
        run=run,
        award=award_row,
        person=award_row.person,
        region_code=award_row.region_code,
        kind=kind,
        category=award_row.category,
        basic_pension=D(basic),
        account_pension=D(account),
        account_paid=D(account),
        total=D(basic) + D(account),
        payout_status=status,
    )


def application(person, kind: str, *, created: dt.datetime, status: str, decided: dt.datetime | None = None, by=None):
    row = Application.objects.create(
        kind=kind, person=person, region_code=person.region_code, status=status, created_by=by, decided_at=decided
    )
    Application.objects.filter(pk=row.pk).update(created_at=created)
    return row


def returned_at(row: Application, moment: dt.datetime, actor, action: str = "return") -> None:
    event = ApplicationEvent.objects.create(
        application=row, action=action, from_status="submitted", to_status="returned", actor=actor
    )
    ApplicationEvent.objects.filter(pk=event.pk).update(at=moment)


def claim_event(claim: Claim, action: str, moment: dt.datetime, actor) -> None:
    event = AwardEvent.objects.create(region_code=claim.region_code, claim=claim, action=action, actor=actor)
    AwardEvent.objects.filter(pk=event.pk).update(at=moment)


@pytest.fixture
def village():
    """A village of 12 who should be insured, its neighbour of 3 with no activity, and a county elsewhere with
    an empty village; the pooling region promises changes in 3 working days from 1 January 2026."""
    line = region_line()
    line.village.registered_population = 12
    line.village.save()
    RegionFactory(code="320412101202", name="邻村", parent=line.township, registered_population=3)
    other = region_line(county="320411")
    assert other.village.registered_population == 0
    time_limit_set(
        actor=line.staff(Role.CITY_SUPERVISOR),
        pooling_region=line.pooling_region,
        kind=WorkKind.CHANGE,
        working_days=3,
        valid_from=dt.date(2026, 1, 1),
    )
    agent = line.staff(Role.VILLAGE_AGENT)
    clerk = line.staff(Role.TOWNSHIP_CLERK)
    v = line.village
    since_2015 = dt.date(2015, 1, 1)
    p = {
        # Renewal bands by age on 1 January 2026: 45 → 45-59, 44 (born a day later) → 16-44, 60 → neither.
        "old_45": make_person(v, name="老甲", birth_date=dt.date(1981, 1, 1), enrolled_on=since_2015),
        "young_44": make_person(v, name="青乙", birth_date=dt.date(1981, 1, 2), enrolled_on=since_2015),
        "young_unpaid": make_person(v, name="青丙", birth_date=dt.date(1990, 6, 1), enrolled_on=since_2015),
        "paid_december": make_person(v, name="青丁", birth_date=dt.date(1985, 5, 5), enrolled_on=since_2015),
        "aged_60": make_person(v, name="老戊", birth_date=dt.date(1966, 1, 1), enrolled_on=since_2015),
        "new_november": make_person(v, name="新己", birth_date=dt.date(1995, 1, 1), enrolled_on=dt.date(2026, 11, 10)),
        "new_december": make_person(v, name="新庚", birth_date=dt.date(1996, 1, 1), enrolled_on=DECEMBER),
        "cancelled_november": make_person(
            v,
            name="注辛",
            birth_date=dt.date(1970, 3, 3),
            status=PersonStatus.CANCELLED,
            enrolled_on=dt.date(2012, 1, 1),
            cancelled_on=dt.date(2026, 11, 20),
        ),
        "cancelled_december": make_person(
            v,
            name="注壬",
            birth_date=dt.date(1971, 3, 3),
            status=PersonStatus.CANCELLED,
            enrolled_on=dt.date(2012, 1, 1),
            cancelled_on=dt.date(2026, 12, 3),
        ),
        "pending": make_person(v, name="审癸", birth_date=dt.date(1992, 2, 2), status=PersonStatus.PENDING),
        "registered_december": make_person(v, name="审子", birth_date=dt.date(1993, 2, 2), enrolled_on=DECEMBER),
        "r1": make_person(v, name="领甲", birth_date=dt.date(1960, 1, 1), enrolled_on=dt.date(2011, 1, 1)),
        "r2": make_person(v, name="领乙", birth_date=dt.date(1961, 1, 1), enrolled_on=dt.date(2011, 1, 1)),
        "r3_dead": make_person(
            v,
            name="领丙",
            birth_date=dt.date(1950, 1, 1),
            status=PersonStatus.CANCELLED,
            enrolled_on=dt.date(2011, 1, 1),
            cancelled_on=dt.date(2026, 10, 20),
        ),
        "r4_from_december": make_person(v, name="领丁", birth_date=dt.date(1966, 11, 5), enrolled_on=since_2015),
    }
    # Contributions: 2025 for the renewal base; 2026 before, in and after November.
    for key in ("old_45", "young_44", "young_unpaid", "paid_december", "aged_60", "cancelled_november"):
        paid(p[key], 2025, dt.date(2025, 3, 1))
    paid(p["old_45"], 2026, dt.date(2026, 3, 10))
    paid(p["young_44"], 2026, dt.date(2026, 11, 15), "500.00")
    paid(p["new_november"], 2026, dt.date(2026, 11, 12), "300.00")
    paid(p["paid_december"], 2026, dt.date(2026, 12, 2), "400.00")
    # Awards: two paid in November, one stopped from November (died in October), one starting in December.
    r1 = award(line, p["r1"], start=dt.date(2024, 1, 1))
    r2 = award(line, p["r2"], start=dt.date(2025, 6, 1))
    award(line, p["r3_dead"], start=dt.date(2020, 1, 1), paid_until=NOVEMBER, status=AwardStatus.STOPPED)
    award(line, p["r4_from_december"], start=DECEMBER)
    run = PayrollRun.objects.create(
        pooling_region=line.pooling_region,
        month=NOVEMBER,
        status=PayrollStatus.CONFIRMED,
        prepared_by=line.staff(Role.COUNTY_FUND_OFFICER),
        prepared_at=at(dt.date(2026, 11, 5)),
    )
    line_of(run, r1, basic="223.00", account="100.00", status=PayoutStatus.PAID)
    line_of(run, r2, basic="223.00", account="50.50", status=PayoutStatus.FAILED)
    line_of(run, r1, basic="10.00", account="0.00", status=PayoutStatus.PAID, kind=LineKind.ARREARS)  # not a month
    # Applications and a claim.
    application(
        p["new_november"],
        ApplicationKind.REGISTER,
        created=at(dt.date(2026, 11, 5)),
        status=ApplicationStatus.APPROVED,
        decided=at(dt.date(2026, 11, 10)),
        by=agent,
    )
    # Changes submitted on two Fridays: due on the Wednesdays after (25 November, 2 December).
    application(
        p["young_unpaid"], ApplicationKind.CHANGE, created=at(dt.date(2026, 11, 20)), status="submitted", by=agent
    )
    application(
        p["paid_december"], ApplicationKind.CHANGE, created=at(dt.date(2026, 11, 27)), status="submitted", by=agent
    )
    sent_back = application(
        p["cancelled_november"],
        ApplicationKind.CANCEL,
        created=at(dt.date(2026, 11, 2)),
        status=ApplicationStatus.RETURNED,
        by=agent,
    )
    returned_at(sent_back, at(dt.date(2026, 11, 3)), clerk)
    # Submitted in October, approved on 1 December: open at November's end, past its 10 statutory days.
    october = application(
        p["registered_december"],
        ApplicationKind.REGISTER,
        created=at(dt.date(2026, 10, 15)),
        status=ApplicationStatus.APPROVED,
        decided=at(DECEMBER, 9),
        by=agent,
    )
    returned_at(october, at(dt.date(2026, 10, 30)), clerk)  # October's correction, not November's
    # Resubmitted on Monday 2 November: 10 working days from then, due on 16 November.
    returned_at(october, at(dt.date(2026, 11, 2)), agent, action="resubmit")
    # Half past midnight on 1 December in Shanghai is still 30 November in UTC: December's.
    application(p["pending"], ApplicationKind.REGISTER, created=at(DECEMBER, 0, 30), status="submitted", by=agent)
    claim = Claim.objects.create(
        person=p["aged_60"],
        region_code=v.code,
        category=AwardCategory.MONTHLY_PENSION,
        status=ClaimStatus.SUBMITTED,
        eligible_from=dt.date(2026, 2, 1),
        created_by=agent,
    )
    Claim.objects.filter(pk=claim.pk).update(created_at=at(dt.date(2026, 11, 16)))
    return line


FIELDS = [
    "insured",
    "recipients",
    "should_insure",
    "new_members",
    "cancelled",
    "payers",
    "contribution_income",
    "renewal_due_young",
    "renewal_paid_young",
    "renewal_due_old",
    "renewal_paid_old",
    "payroll_lines",
    "payroll_paid",
    "basic_pension",
    "account_pension",
    "applications",
    "applications_returned",
    "applications_overdue",
]


def rows(month: dt.date) -> dict[str, dict]:
    return {
        row["region_code"]: row for row in MonthlySummary.objects.filter(month=month).values("region_code", *FIELDS)
    }


def test_a_month_of_one_village_every_figure(village):
    # when November is summarized after it has ended
    run = summarize_month(month=dt.date(2026, 11, 17), today=dt.date(2026, 12, 7))

    # then one row for the village, one for its neighbour (only who should be insured), none for the empty one
    found = rows(NOVEMBER)
    assert set(found) == {village.village.code, "320412101202"}
    assert run.villages == 2 and run.month == NOVEMBER and run.finished_at is not None
    assert found["320412101202"] == {"region_code": "320412101202", **dict.fromkeys(FIELDS, 0), "should_insure": 3}
    assert found[village.village.code] == {
        "region_code": village.village.code,
        # old_45, young_44, young_unpaid, paid_december, aged_60, new_november, cancelled_december (still on
        # 30 November), r1, r2, r4_from_december; not new_december, registered_december, the cancelled, pending
        "insured": 10,
        # r1 and r2; r3 stopped from November, r4 starts in December
        "recipients": 2,
        "should_insure": 12,
        "new_members": 1,  # new_november
        "cancelled": 1,  # cancelled_november
        "payers": 2,  # young_44 (500) and new_november (300) paid in November
        "contribution_income": D("800.00"),
        # paid 2025 and active: young_44 (44 on 1 January), young_unpaid, paid_december (paid on 2 December)
        "renewal_due_young": 3,
        "renewal_paid_young": 1,
        # old_45 (45 on 1 January) paid in March; aged_60 is past the bands; cancelled_november is not active
        "renewal_due_old": 1,
        "renewal_paid_old": 1,
        # the confirmed payroll's two pension lines, r1 paid and r2 failed; the back-pay line is not a month
        "payroll_lines": 2,
        "payroll_paid": 1,
        "basic_pension": D("446.00"),
        "account_pension": D("150.50"),
        # registered 5th, changes 20th and 27th, cancellation 2nd, claim 16th; not October's nor 1 December's
        "applications": 5,
        "applications_returned": 1,  # the cancellation sent back on 3 November
        # the change of Friday 20 November (due Wednesday 25th) and October's registration (resubmitted on 2
        # November, due 16th, decided only on 1 December); the change of Friday 27th is due on 2 December, the claim on 14 December
        "applications_overdue": 2,
    }


def test_a_rerun_writes_the_same_rows(village):
    summarize_month(month=NOVEMBER, today=dt.date(2026, 12, 7))
    first = rows(NOVEMBER)

    again = summarize_month(month=NOVEMBER, today=dt.date(2026, 12, 7))

    assert rows(NOVEMBER) == first
    assert MonthlySummary.objects.filter(month=NOVEMBER).count() == 2
    assert again.villages == 2
    assert SummaryRun.objects.filter(month=NOVEMBER).count() == 2  # each run audits itself


def test_the_running_month_counts_as_of_today(village):
    # On Wednesday 2 December: the change of Friday 27 November is due today, not yet overdue.
    summarize_month(month=DECEMBER, today=dt.date(2026, 12, 2))
    wednesday = rows(DECEMBER)[village.village.code]
    # new_december and registered_december joined on 1 December; cancelled_december still insured until the 3rd
    assert wednesday["insured"] == 12
    assert wednesday["new_members"] == 2
    assert wednesday["cancelled"] == 0
    assert (wednesday["payers"], wednesday["contribution_income"]) == (1, D("400.00"))  # paid_december, 2 December
    assert (wednesday["renewal_due_young"], wednesday["renewal_paid_young"]) == (3, 2)
    assert wednesday["recipients"] == 3  # r4 from December
    assert wednesday["applications"] == 1  # half past midnight on 1 December
    assert wednesday["applications_overdue"] == 1  # the change of 20 November; October's was decided on the 1st
    assert wednesday["payroll_lines"] == 0

    # On Thursday 3 December the change of 27 November is overdue too, and cancelled_december has gone.
    summarize_month(month=DECEMBER, today=dt.date(2026, 12, 3))
    thursday = rows(DECEMBER)[village.village.code]
    assert thursday["applications_overdue"] == 2
    assert (thursday["insured"], thursday["cancelled"]) == (11, 1)
    assert MonthlySummary.objects.filter(month=DECEMBER).count() == 2  # replaced, not added


def test_rebuild_of_a_range_and_the_nightly_months(village):
    done = []
    runs = summaries_rebuild(
        first=dt.date(2026, 10, 1), last=DECEMBER, today=dt.date(2026, 12, 7), progress=done.append
    )
    assert done == [dt.date(2026, 10, 1), NOVEMBER, DECEMBER]
    assert [run.month for run in runs] == done
    assert rows(NOVEMBER)[village.village.code]["payers"] == 2
    assert nightly_months(dt.date(2026, 12, 7)) == [NOVEMBER, DECEMBER]
    # The night of 30 November runs on 1 December: December gets its rows that night.
    assert nightly_months(dt.date(2026, 11, 30)) == [dt.date(2026, 10, 1), NOVEMBER, DECEMBER]
    assert nightly_months(dt.date(2027, 1, 1)) == [DECEMBER, dt.date(2027, 1, 1)]
    assert months_between(dt.date(2026, 11, 30), dt.date(2027, 1, 1)) == [NOVEMBER, DECEMBER, dt.date(2027, 1, 1)]
    assert month_end(dt.date(2028, 2, 1)) == dt.date(2028, 2, 29)


def november_of(village) -> dict:
    summarize_month(month=NOVEMBER, today=dt.date(2026, 12, 7))
    return rows(NOVEMBER)[village.village.code]


def test_a_town_moved_to_another_pooling_region_counts_its_overdue_once(village):
    # given the village's township moved to another pooling region (its county stays in the first)
    moved = PoolingRegionFactory(code="320499", name="统筹区320499")
    village.township.pooling_region = moved
    village.township.save()

    # then the two overdue items of November count once each, under the pooling region that holds the village
    # (the moved one has no limit of its own: the change of 20 November is due on 4 December, not overdue)
    assert november_of(village)["applications_overdue"] == 1


def test_a_returned_claim_is_an_error_like_a_returned_application(village):
    # given the claim of 16 November sent back on the 18th, and an older claim sent back in October
    claim = Claim.objects.get()
    clerk = village.staff(Role.TOWNSHIP_CLERK)
    claim_event(claim, "return", at(dt.date(2026, 11, 18)), clerk)
    claim_event(claim, "return", at(dt.date(2026, 10, 30)), clerk)

    # then November has two returns: the cancellation's and the claim's
    assert november_of(village)["applications_returned"] == 2


def test_overdue_uses_the_limit_in_force_on_the_day_of_submission(village):
    # given the change limit raised from 3 to 10 working days from Monday 23 November
    time_limit_set(
        actor=village.staff(Role.CITY_SUPERVISOR),
        pooling_region=village.pooling_region,
        kind=WorkKind.CHANGE,
        working_days=10,
        valid_from=dt.date(2026, 11, 23),
    )
    assert TimeLimit.objects.count() == 2

    # then the change of Friday 20 November still had 3 days (due 25th, overdue); the one of the 27th has 10 (due
    # 11 December); with October's registration, two
    assert november_of(village)["applications_overdue"] == 2
    # and on 2 December the change of 20 November is still overdue, though 10 days from it ran to 4 December
    summarize_month(month=DECEMBER, today=dt.date(2026, 12, 2))
    assert rows(DECEMBER)[village.village.code]["applications_overdue"] == 1


def test_the_clock_starts_at_the_latest_submission_and_past_months_ignore_todays_status(village):
    agent, clerk = village.staff(Role.VILLAGE_AGENT), village.staff(Role.TOWNSHIP_CLERK)
    person, other = InsuredPerson.objects.get(name="老甲"), InsuredPerson.objects.get(name="领甲")
    # given a change of 1 October sent back on the 5th and resubmitted on Wednesday 25 November (due the 30th)
    resubmitted = application(
        person, ApplicationKind.CHANGE, created=at(dt.date(2026, 10, 1)), status="submitted", by=agent
    )
    returned_at(resubmitted, at(dt.date(2026, 10, 5)), clerk)
    returned_at(resubmitted, at(dt.date(2026, 11, 25)), agent, action="resubmit")
    # and a claim of 1 October sent back on the 5th and resubmitted on 20 November (20 days: due 18 December)
    claim = Claim.objects.get()
    Claim.objects.filter(pk=claim.pk).update(created_at=at(dt.date(2026, 10, 1)))
    claim_event(claim, "return", at(dt.date(2026, 10, 5)), clerk)
    claim_event(claim, "resubmit", at(dt.date(2026, 11, 20)), agent)
    # and a change of 1 October sent back only on 2 December (returned today, open at November's end)
    late = application(other, ApplicationKind.CHANGE, created=at(dt.date(2026, 10, 1)), status="returned", by=agent)
    returned_at(late, at(dt.date(2026, 12, 2)), clerk)

    # then November's overdue: the change of 20 November, October's registration and the change returned later
    assert november_of(village)["applications_overdue"] == 3


def test_past_months_count_renewals_as_of_their_end(village):
    # given cancelled_december (55, in the older band) paid 2025 and was a member until 3 December
    person = InsuredPerson.objects.get(name="注壬")
    paid(person, 2025, dt.date(2025, 3, 1))

    # then November counts it due (not paid this year), though it is cancelled today
    found = november_of(village)
    assert (found["renewal_due_old"], found["renewal_paid_old"]) == (2, 1)


def test_payers_are_persons_not_contributions(village):
    # given young_44, who paid 2026 on 15 November, also pays a missed 2024 in November
    person = InsuredPerson.objects.get(name="青乙")
    paid(person, 2024, dt.date(2026, 11, 20), "200.00")

    found = november_of(village)
    assert (found["payers"], found["contribution_income"]) == (2, D("1000.00"))


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the month lock is PostgreSQL's")
def test_a_rebuild_waits_for_another_rebuild_of_the_same_month(village):
    # given another session holding November's lock (as a rebuild in progress does)
    settings = connection.settings_dict
    other = psycopg2.connect(
        dbname=settings["NAME"],
        user=settings["USER"],
        password=settings["PASSWORD"] or None,
        host=settings["HOST"] or None,
        port=settings["PORT"] or None,
    )
    other.autocommit = True
    try:
        other.cursor().execute("SELECT pg_advisory_lock(%s, %s)", [_MONTH_LOCK_CLASS, 202611])
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '200ms'")

        # when November is rebuilt, then it waits (and here gives up); December is not held up
        with pytest.raises(OperationalError):
            summarize_month(month=NOVEMBER, today=dt.date(2026, 12, 7))
        assert not MonthlySummary.objects.filter(month=NOVEMBER).exists()
        summarize_month(month=DECEMBER, today=dt.date(2026, 12, 7))
        assert MonthlySummary.objects.filter(month=DECEMBER).exists()
    finally:
        other.close()
