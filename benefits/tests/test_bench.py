"""bench payroll: refuses a database with other data; on PostgreSQL, its figures check and a rerun repeats them."""

import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from agencies.tests.factories import region_line
from enrollment.tests.factories import make_person
from funds.models import LedgerEntry


@pytest.mark.django_db
def test_bench_payroll_refuses_sqlite_or_a_database_with_other_data():
    line = region_line()
    make_person(line.village)  # a real person: the bench would TRUNCATE them
    expected = "只在 PostgreSQL 上运行" if connection.vendor == "sqlite" else "基准测试以外的数据"
    with pytest.raises(CommandError, match=expected):
        call_command("bench", "payroll", "--awards", "10", stdout=io.StringIO())
    assert LedgerEntry.objects.count() == 0


def _figures(*args: str) -> dict:
    out = io.StringIO()
    call_command("bench", "payroll", *args, stdout=out)
    return json.loads(out.getvalue().strip().splitlines()[-1])


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # the load truncates and vacuums: outside the test's transaction
def test_bench_payroll_checks_its_totals_and_runs_again_alike():
    # when
    first = _figures("--awards", "300")
    again = _figures("--awards", "300", "--keep")
    # then
    assert first["rows"] == 300 and first["totals_check"] is True
    assert first["ledger_entries"] > 0 and first["fund_paid_lines"] > 0
    for key in ("rows", "ledger_entries", "account_paid_total", "fund_paid_total", "total"):
        assert again[key] == first[key]
    assert again["totals_check"] is True
