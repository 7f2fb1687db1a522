"""bench dashboard: the layout of the city for N persons; the command refuses SQLite or a database with other data;
on PostgreSQL a small run loads a city, rebuilds its summaries, times the dashboard pages and prints its figures as
the last line, and a second run with --keep reuses the load."""

import datetime as dt
import io
import json
from collections import Counter
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Q, Sum
from django.utils import timezone

from agencies.models import Region, RegionLevel
from agencies.tests.factories import region_line
from benefits.models import Award, PayrollLine
from enrollment import idnumber
from enrollment.models import InsuredPerson
from enrollment.tests.factories import make_person
from funds.models import FundAccount, FundMovement
from portal import bench_dashboard as bench
from portal.models import MonthlySummary

PAGES = {"city", "county", "township", "village", "village_agent"}


def test_a_million_persons_fill_seven_counties_of_about_fifteen_townships_of_twenty_villages():
    # given: a village per 500 persons, 20 villages a township, 15 townships a county
    layout = bench.Layout.for_persons(1_000_000)
    # then: 2,000 villages in 100 townships (2,000 / 20), in 7 counties (100 / 15 rounded up)
    assert (layout.counties, layout.townships, layout.villages) == (7, 100, 2000)
    places = layout.places()
    levels = Counter(level for _code, _name, level, _parent in places)
    assert levels == {RegionLevel.CITY: 1, RegionLevel.COUNTY: 7, RegionLevel.TOWNSHIP: 100, RegionLevel.VILLAGE: 2000}
    townships_per_county = Counter(parent for _c, _n, level, parent in places if level == RegionLevel.TOWNSHIP)
    assert sorted(townships_per_county.values()) == [14, 14, 14, 14, 14, 15, 15]
    villages_per_township = Counter(parent for _c, _n, level, parent in places if level == RegionLevel.VILLAGE)
    assert set(villages_per_township.values()) == {20}
    # every code sits under its parent's prefix, and none repeats
    codes = [code for code, *_rest in places]
    assert len(set(codes)) == len(codes) and all(len(code) == 12 for code in codes)
    width = {RegionLevel.COUNTY: 4, RegionLevel.TOWNSHIP: 6, RegionLevel.VILLAGE: 9}
    assert all(code.startswith(parent[: width[level]]) for code, _n, level, parent in places if parent)


def test_a_small_run_still_has_two_counties_of_two_townships_of_two_villages():
    layout = bench.Layout.for_persons(600)
    assert (layout.counties, layout.townships, layout.villages) == (2, 4, 8)
    villages_per_township = Counter(parent for _c, _n, level, parent in layout.places() if level == RegionLevel.VILLAGE)
    assert sorted(villages_per_township.values()) == [2, 2, 2, 2]


@pytest.mark.django_db
def test_bench_dashboard_refuses_sqlite_or_a_database_with_other_data():
    line = region_line()
    make_person(line.village)  # a real person: the bench would TRUNCATE them
    expected = "只在 PostgreSQL 上运行" if connection.vendor == "sqlite" else "基准测试以外的数据"
    with pytest.raises(CommandError, match=expected):
        call_command("bench", "dashboard", "--persons", "10", stdout=io.StringIO())
    assert InsuredPerson.objects.count() == 1
    assert MonthlySummary.objects.count() == 0


def _h(i: int) -> int:
    """The load's stand-in for chance (its multiplicative hash of the person's number)."""
    return (i * 2654435761) % 1000003


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # the load truncates and vacuums: outside the test's transaction
def test_bench_dashboard_loads_a_city_summarises_it_and_times_every_page():
    # when
    out = io.StringIO()
    call_command("bench", "dashboard", "--persons", "600", "--months", "2", "--repeat", "2", stdout=out)
    figures = json.loads(out.getvalue().strip().splitlines()[-1])

    # then: the figures
    assert figures["bench"] == "dashboard" and figures["persons"] == 600
    assert (figures["counties"], figures["townships"], figures["villages"]) == (2, 4, 8)
    assert figures["load_seconds"] > 0 and figures["summary_months"] == 2
    assert figures["summary_seconds_per_month"] > 0
    assert figures["mode"] == ("pages" if bench.dashboard_routed() else "measures")
    assert set(figures["seconds"]) == set(figures["max_seconds"]) == set(figures["queries"]) == PAGES
    assert figures["status"] == dict.fromkeys(PAGES, 200)
    assert all(figures["max_seconds"][key] >= figures["seconds"][key] > 0 for key in PAGES)
    assert all(figures["queries"][key] >= 1 for key in PAGES)
    assert figures["rows"]["persons"] == 600

    # the data: i = 0, 5, …, 595 are aged 60 and over; one person in a hundred (h mod 100 = 57) is cancelled
    today = timezone.localdate()
    cancelled = sum(1 for i in range(600) if _h(i) % 100 == 57)
    assert InsuredPerson.objects.filter(status="cancelled").count() == cancelled
    sixty = dt.date(today.year - 60, today.month, today.day if (today.month, today.day) != (2, 29) else 28)
    assert InsuredPerson.objects.filter(birth_date__lte=sixty).count() == 120
    for number in InsuredPerson.objects.values_list("id_number", flat=True):
        idnumber.parse(number, today=today)  # a valid identity number, check character and all
    # contributions only from those under 60; pensions only from 60, and this month's payroll has a line for
    # every award in payment
    assert not InsuredPerson.objects.filter(birth_date__lte=sixty, contributions__isnull=False).exists()
    month = today.replace(day=1)
    in_payment = Award.objects.filter(start_month__lte=month).filter(
        Q(paid_until__isnull=True) | Q(paid_until__gt=month)
    )
    lines = PayrollLine.objects.filter(run__month=month)
    assert lines.count() == in_payment.count() > 0
    # each fund account's cached balance is the sum of its movements
    for account in FundAccount.objects.all():
        total = FundMovement.objects.filter(account=account).aggregate(total=Sum("amount"))["total"] or Decimal("0")
        assert account.balance == total
    # the summaries: everyone not cancelled is insured this month, about 95 % of the registered population
    summaries = MonthlySummary.objects.filter(month=month)
    assert summaries.count() == 8
    insured, should = (summaries.aggregate(a=Sum("insured"), b=Sum("should_insure"))[k] for k in ("a", "b"))
    assert insured == 600 - cancelled
    assert Decimal("0.93") <= Decimal(insured) / should <= Decimal("0.97")
    assert summaries.aggregate(n=Sum("payroll_lines"))["n"] == in_payment.count()

    # when: again, reusing the load
    out = io.StringIO()
    call_command("bench", "dashboard", "--persons", "600", "--months", "2", "--repeat", "1", "--keep", stdout=out)
    again = json.loads(out.getvalue().strip().splitlines()[-1])
    # then: nothing loaded, the same rows, every page timed again
    assert again["load_seconds"] is None and again["rows"] == figures["rows"]
    assert again["status"] == dict.fromkeys(PAGES, 200)
    assert Region.objects.filter(code__startswith=bench.CITY_PREFIX, level=RegionLevel.VILLAGE).count() == 8
