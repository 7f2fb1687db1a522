"""The nightly job: what is due on a date, run twice, killed and run again, one region's failure, the task,
the command and the beat schedule."""

import datetime as dt
import io
import itertools
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connections
from django.utils import timezone

from agencies.tests.factories import region_line
from config.celery import app
from contributions.models import Contribution, InterestRate
from contributions.tests.factories import make_policy
from enrollment.tests.factories import make_person
from funds import batches
from funds.management.commands.check_balances import balance_mismatches
from funds.models import (
    Component,
    EntryKind,
    InterestSettlement,
    LedgerEntry,
    ReceiptStatus,
    ResultReceipt,
    SettlementStatus,
)
from funds.services import Posting, account_open, ledger_post
from funds.tests.bank_factories import issue_deduct, make_partner, make_payers, result_file
from portal import nightly as nightly_module
from portal.nightly import _LOCK_KEY, due_settlements, run_nightly
from portal.tasks import NightlyFailed, nightly

pytestmark = pytest.mark.django_db

D = Decimal
_keys = itertools.count(1)


class Killed(BaseException):
    """A kill from outside (a signal, a lost worker): not a failure the job could record."""


def funded_account(line, amount="1000.00", on=dt.date(2024, 1, 15)):
    account = account_open(person=make_person(line.village), opened_on=on)
    ledger_post(
        account=account,
        postings=[Posting(Component.PERSONAL, EntryKind.CONTRIBUTION, D(amount))],
        booked_on=on,
        reference="test",
        idempotency_key=f"nightly-test:{next(_keys)}",
    )
    return account


def rate(line, year, value="0.01500"):
    return InterestRate.objects.create(pooling_region=line.pooling_region, year=year, rate=D(value))


def interest(account, period):
    return list(
        LedgerEntry.objects.filter(account=account, kind=EntryKind.INTEREST, period=period).values_list(
            "amount", flat=True
        )
    )


@pytest.fixture
def line():
    return region_line()


def test_settles_each_year_once_it_has_ended(line):
    account = funded_account(line)
    rate(line, 2024)
    rate(line, 2025)

    on_30_december = run_nightly(on_date=dt.date(2025, 12, 30))
    assert [(s.year, s.entries_posted) for s in on_30_december.settlements] == [(2024, 1)]
    on_31_december = run_nightly(on_date=dt.date(2025, 12, 31))
    assert [(s.year, s.entries_posted) for s in on_31_december.settlements] == [(2025, 1)]

    # 2024: 1000 × 1.5% × 11/12 = 13.75; 2025: 1013.75 × 1.5% = 15.20625 → 15.21
    assert interest(account, "2024") == [D("13.75")]
    assert interest(account, "2025") == [D("15.21")]
    assert on_31_december.ok


def test_safe_to_run_twice(line):
    account = funded_account(line)
    rate(line, 2025)
    first = run_nightly(on_date=dt.date(2026, 1, 5))
    second = run_nightly(on_date=dt.date(2026, 1, 5))
    assert len(first.settlements) == 1
    assert second.settlements == []  # nothing due any more
    assert interest(account, "2025") == [D("15.00")]
    assert balance_mismatches() == []


def test_nothing_due_without_a_rate(line):
    funded_account(line)
    report = run_nightly(on_date=dt.date(2026, 1, 5))
    assert report.settlements == []
    assert report.ok
    assert not LedgerEntry.objects.filter(kind=EntryKind.INTEREST).exists()


def test_killed_half_way_and_run_again_finishes_with_nothing_twice(line, monkeypatch):
    accounts = [funded_account(line) for _ in range(5)]
    rate(line, 2025)
    real_settle_year = nightly_module.settle_year
    monkeypatch.setattr(nightly_module, "settle_year", lambda **kwargs: real_settle_year(**{**kwargs, "chunk_size": 2}))

    def kill(step, done, total):
        raise Killed

    with pytest.raises(Killed):
        run_nightly(on_date=dt.date(2025, 12, 31), progress=kill)
    assert LedgerEntry.objects.filter(kind=EntryKind.INTEREST).count() == 2
    assert due_settlements(on_date=dt.date(2025, 12, 31)) == [(line.pooling_region, 2025)]

    again = run_nightly(on_date=dt.date(2025, 12, 31))
    assert again.settlements[0].entries_posted == 3
    assert all(interest(account, "2025") == [D("15.00")] for account in accounts)
    assert balance_mismatches() == []
    assert list(InterestSettlement.objects.order_by("id").values_list("status", flat=True)) == [
        SettlementStatus.FAILED,
        SettlementStatus.DONE,
    ]


def test_one_regions_failure_is_reported_and_the_others_still_run(line, monkeypatch):
    mine = funded_account(line)
    rate(line, 2024)
    rate(line, 2025)
    other_line = region_line(county="320411")
    theirs = funded_account(other_line)
    rate(other_line, 2025)
    real_settle_year = nightly_module.settle_year

    def settle_year(*, pooling_region, year, **kwargs):
        if pooling_region == line.pooling_region and year == 2024:
            raise RuntimeError("disk full")
        return real_settle_year(pooling_region=pooling_region, year=year, **kwargs)

    monkeypatch.setattr(nightly_module, "settle_year", settle_year)
    report = run_nightly(on_date=dt.date(2026, 1, 5))
    assert [s.pooling_region_id for s in report.settlements] == [other_line.pooling_region.pk]
    assert len(report.failures) == 1 and "disk full" in report.failures[0]
    assert interest(theirs, "2025") == [D("15.00")]
    assert interest(mine, "2025") == []  # 2025 waits for 2024


def test_default_tiers_are_assigned_with_the_business_day(line, monkeypatch):
    calls = []
    monkeypatch.setattr(nightly_module, "default_tiers_assign", lambda *, on_date: calls.append(on_date) or 7)
    report = run_nightly(on_date=dt.date(2026, 4, 1))
    assert calls == [dt.date(2026, 4, 1)]
    assert report.default_tiers == 7


def test_default_tiers_for_real_with_nothing_to_do(line):
    assert run_nightly(on_date=dt.date(2026, 4, 1)).default_tiers == 0


def test_task_runs_the_job_and_fails_loudly(line, monkeypatch):
    funded_account(line)
    rate(line, 2025)
    result = nightly.delay("2026-01-05").get()
    assert result["settlements"][0]["entries_posted"] == 1
    assert result["settlements"][0]["amount_posted"] == "15.00"

    monkeypatch.setattr(nightly_module, "default_tiers_assign", lambda *, on_date: 1 / 0)
    with pytest.raises(NightlyFailed, match="ZeroDivisionError"):
        nightly.delay("2026-01-06").get()


def test_beat_runs_the_task_every_night():
    entry = settings.CELERY_BEAT_SCHEDULE["nightly"]
    assert entry["task"] == "portal.nightly"
    assert entry["task"] in app.tasks
    assert (entry["schedule"].hour, entry["schedule"].minute) == ({1}, {30})
    assert settings.CELERY_TIMEZONE == "Asia/Shanghai"


def test_command_prints_progress_and_the_summary(line):
    funded_account(line)
    rate(line, 2025)
    out = io.StringIO()
    call_command("run_nightly", "--date", "2025-12-31", stdout=out)
    text = out.getvalue()
    assert "业务日期 2025-12-31" in text
    assert f"结息 {line.pooling_region.name} 2025年度：1/1" in text
    assert "入账 1 笔，共 15.00 元" in text


def test_command_refuses_a_malformed_date():
    with pytest.raises(CommandError, match="格式不正确"):
        call_command("run_nightly", "--date", "2025-13-01")


@pytest.mark.postgres
def test_a_second_run_at_the_same_time_does_nothing(line):
    funded_account(line)
    rate(line, 2025)
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [_LOCK_KEY])
        report = run_nightly(on_date=dt.date(2026, 1, 5))
        assert report.busy and report.settlements == []
        with pytest.raises(CommandError, match="另一个夜间批处理正在运行"):
            call_command("run_nightly", "--date", "2026-01-05", stdout=io.StringIO())
    finally:
        # Unlock before closing: a closed session's locks go only when its server process has ended.
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [_LOCK_KEY])
        other.close()
    assert run_nightly(on_date=dt.date(2026, 1, 5)).settlements[0].entries_posted == 1


@pytest.mark.django_db
def test_a_result_file_whose_task_was_lost_is_settled_by_the_night(monkeypatch):
    # given an accepted file of two lines (300 and 500) whose settlement task never ran, an hour ago
    home = region_line(county="320413")
    make_policy(home)
    partner = make_partner(home)
    make_payers(home, partner, [300, 500])
    batch = issue_deduct(home, partner)
    monkeypatch.setattr(batches, "_enqueue_settlement", lambda receipt_id: None)
    receipt = batches.result_receive(partner=partner, batch_no=batch.batch_no, data=result_file(batch)).receipt
    ResultReceipt.objects.filter(pk=receipt.pk).update(received_at=timezone.now() - dt.timedelta(hours=1))

    # when the night runs
    report = run_nightly(on_date=dt.date(2026, 3, 6))

    # then the file is settled: two contributions, 800.00 in income (and swept no earlier than month end)
    receipt.refresh_from_db()
    assert receipt.status == ReceiptStatus.SETTLED
    assert report.resumed_receipts == [receipt.pk]
    assert sorted(Contribution.objects.values_list("personal_amount", flat=True)) == [300, 500]
