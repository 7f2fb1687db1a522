"""到期鉴定与销毁: which items are due, proposing them, and the approver's decision to destroy or keep longer.

Retention counts from the year after the record's: a monthly report of 2015 (10 years) is kept to 2025-12-31 and
due from 2026-01-01; a payout roll of 2015 (30 years) to 2045-12-31; a registration form is kept permanently.
"""

import datetime as dt
import io

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from agencies.errors import Conflict, DomainError, NotPermitted
from agencies.models import Role
from agencies.tests.factories import region_line
from archives import lending, retention, services
from archives.models import ArchiveEvent, ArchiveFile, LoanKind, RetentionReview, ReviewStatus
from archives.tests.factories import placed_item, png_upload, temporary_archive_storage

pytestmark = pytest.mark.django_db

NEW_YEAR = dt.date(2026, 1, 1)


@pytest.fixture
def line():
    return region_line()


@pytest.fixture
def clerk(line):
    return line.staff(Role.COUNTY_CLERK)


@pytest.fixture
def approver(line):
    return line.staff(Role.COUNTY_APPROVER)


@pytest.fixture
def storage(monkeypatch, tmp_path):
    return temporary_archive_storage(monkeypatch, tmp_path)


def report(line, year: int = 2015, **fields):
    return placed_item(line.village, kind="monthly_report", year=year, title=f"{year}年月报", **fields)


def test_due_from_the_day_after_retention_ends(line, clerk):
    monthly = report(line)
    roll = placed_item(line.village, kind="payout_roll", year=2015, title="2015年发放花名册")
    permanent = placed_item(line.village, kind="registration", year=1995, title="1995年参保登记表")
    assert (monthly.retain_until, roll.retain_until, permanent.retain_until) == (
        dt.date(2025, 12, 31),
        dt.date(2045, 12, 31),
        None,
    )

    # on its last day it is still kept; the day after, it is due
    assert list(retention.retention_due(actor=clerk, today=dt.date(2025, 12, 31))) == []
    assert list(retention.retention_due(actor=clerk, today=NEW_YEAR)) == [monthly]
    # a 30-year roll from 2046 on, a permanent form never
    assert list(retention.retention_due(actor=clerk, today=dt.date(2046, 1, 1))) == [monthly, roll]
    assert permanent not in retention.retention_due(actor=clerk, today=dt.date(2999, 1, 1))


def test_due_list_is_scoped_and_leaves_out_proposed_and_destroyed(line, clerk, approver):
    other = region_line(county="320413")
    proposed, destroyed, waiting = (report(line, year) for year in (2013, 2014, 2015))
    report(other)
    retention.review_propose(actor=clerk, items=[proposed], reason="到期", today=NEW_YEAR)
    [review] = retention.review_propose(actor=clerk, items=[destroyed], reason="到期", today=NEW_YEAR)
    retention.review_decide(actor=approver, review=review, decision="destroy", note="同意", today=NEW_YEAR)

    assert list(retention.retention_due(actor=clerk, today=NEW_YEAR)) == [waiting]


def test_proposing(line, clerk):
    due, not_yet = report(line, 2015), report(line, 2016)
    permanent = placed_item(line.village, kind="registration", year=1995)

    # a village agent keeps no archives
    with pytest.raises(NotPermitted):
        retention.review_propose(actor=line.staff(Role.VILLAGE_AGENT), items=[due], reason="到期", today=NEW_YEAR)
    with pytest.raises(DomainError) as refused:
        retention.review_propose(actor=clerk, items=[due], reason=" ", today=NEW_YEAR)
    assert refused.value.field == "reason"
    # a permanent item, or one kept to the end of 2026, is refused by its number; nothing is proposed
    with pytest.raises(DomainError) as refused:
        retention.review_propose(actor=clerk, items=[due, permanent], reason="到期", today=NEW_YEAR)
    assert refused.value.message == f"档案 {permanent.archive_no} 为永久保管，不能鉴定销毁。"
    with pytest.raises(DomainError) as refused:
        retention.review_propose(actor=clerk, items=[due, not_yet], reason="到期", today=NEW_YEAR)
    assert refused.value.message == f"档案 {not_yet.archive_no} 保管期至2026-12-31，尚未到期。"
    with pytest.raises(DomainError) as refused:
        retention.review_propose(actor=clerk, items=[due], reason="到期", today=dt.date(2025, 12, 31))
    assert refused.value.code == "not_due"
    with pytest.raises(DomainError) as refused:
        other = region_line(county="320413").staff(Role.COUNTY_CLERK)
        retention.review_propose(actor=other, items=[due], reason="到期", today=NEW_YEAR)
    assert refused.value.code == "out_of_scope"
    assert not RetentionReview.objects.exists()

    # proposed twice (a retried form): one review
    [review] = retention.review_propose(actor=clerk, items=[due], reason="保管期满，无继续保存价值", today=NEW_YEAR)
    assert (review.status, review.proposed_by, review.reason) == (
        ReviewStatus.PROPOSED,
        clerk,
        "保管期满，无继续保存价值",
    )
    township = line.staff(Role.TOWNSHIP_CLERK)
    assert retention.review_propose(actor=township, items=[due], reason="再次", today=NEW_YEAR) == [review]
    assert RetentionReview.objects.count() == 1
    assert ArchiveEvent.objects.filter(item=due, action="review_proposed").count() == 1


def test_destroying_deletes_the_scans_keeps_the_record_and_frees_the_position(
    line, clerk, approver, storage, django_capture_on_commit_callbacks
):
    # given a due report in box 2015-01, position 7, with two scans
    item = report(line, box="2015-01", position="7")
    agent = line.staff(Role.VILLAGE_AGENT)
    scans = [services.file_attach(actor=agent, item=item, upload=png_upload(f"p{n}.png", shade=n)) for n in (1, 2)]
    names = [scan.file.name for scan in scans]
    assert all(storage.exists(name) for name in names)
    [review] = retention.review_propose(actor=clerk, items=[item], reason="保管期满", today=NEW_YEAR)

    # when the approver decides to destroy it (one scan already gone from the disk: no matter)
    storage.delete(names[1])
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        decided = retention.review_decide(
            actor=approver, review=review, decision="destroy", note="同意销毁", today=NEW_YEAR
        )

    # then the decision is recorded, the item destroyed, its scans' content gone and their rows kept
    assert len(callbacks) == 1
    assert (decided.status, decided.decided_by, decided.decision_note) == (ReviewStatus.DESTROY, approver, "同意销毁")
    item.refresh_from_db()
    assert item.destroyed_at is not None
    assert not any(storage.exists(name) for name in names)
    rows = ArchiveFile.objects.filter(item=item)
    assert rows.count() == 2
    assert all(row.deleted_at == item.destroyed_at for row in rows)
    assert [row.sha256 for row in rows] == [scan.sha256 for scan in scans]
    assert "删除电子件2份" in ArchiveEvent.objects.get(item=item, action="destroyed").note
    with pytest.raises(Conflict):
        services.file_read(actor=clerk, archive_file=rows[0])
    with pytest.raises(Conflict):
        lending.loan_open(
            actor=clerk,
            item=item,
            kind=LoanKind.READ,
            borrower="李四",
            purpose="查阅",
            due_on=timezone.localdate(),
        )

    # and its position takes another paper
    newcomer = placed_item(line.village, box="2015-01", position="7", title="新入库的登记表")
    assert (newcomer.location, newcomer.position) == (item.location, "7")


def test_an_item_on_loan_is_not_destroyed(line, clerk, approver):
    item = report(line)
    [review] = retention.review_propose(actor=clerk, items=[item], reason="保管期满", today=NEW_YEAR)
    lending.loan_open(
        actor=clerk,
        item=item,
        kind=LoanKind.BORROW,
        borrower="审计员",
        purpose="审计",
        due_on=timezone.localdate() + dt.timedelta(days=5),
    )

    with pytest.raises(Conflict) as refused:
        retention.review_decide(actor=approver, review=review, decision="destroy", note="同意", today=NEW_YEAR)

    assert refused.value.code == "on_loan"
    item.refresh_from_db()
    review.refresh_from_db()
    assert (item.destroyed_at, review.status) == (None, ReviewStatus.PROPOSED)


def test_keeping_longer_moves_the_end_of_retention(line, clerk, approver):
    item = report(line)
    [review] = retention.review_propose(actor=clerk, items=[item], reason="保管期满", today=NEW_YEAR)

    for years in (None, 0, 101):
        with pytest.raises(DomainError) as refused:
            retention.review_decide(
                actor=approver, review=review, decision="extend", note="仍有查考价值", extend_years=years
            )
        assert refused.value.field == "extend_years"

    decided = retention.review_decide(
        actor=approver, review=review, decision="extend", note="仍有查考价值", extend_years=5, today=NEW_YEAR
    )

    # kept to 2025-12-31, five more years: to 2030-12-31, due again from 2031
    item.refresh_from_db()
    assert (decided.status, decided.extend_years) == (ReviewStatus.EXTEND, 5)
    assert (item.retain_until, item.destroyed_at) == (dt.date(2030, 12, 31), None)
    assert list(retention.retention_due(actor=clerk, today=NEW_YEAR)) == []
    assert list(retention.retention_due(actor=clerk, today=dt.date(2031, 1, 1))) == [item]
    assert "2025-12-31改至2030-12-31" in ArchiveEvent.objects.get(item=item, action="retention_extended").note


def test_the_proposer_does_not_decide(line, clerk):
    # a clerk who proposed and has since become the county's approver
    item = report(line)
    [review] = retention.review_propose(actor=clerk, items=[item], reason="保管期满", today=NEW_YEAR)
    clerk.role = Role.COUNTY_APPROVER
    clerk.save()

    with pytest.raises(NotPermitted) as refused:
        retention.review_decide(actor=clerk, review=review, decision="destroy", note="同意", today=NEW_YEAR)

    assert refused.value.code == "own_proposal"
    # and a clerk may not decide at all
    with pytest.raises(NotPermitted):
        retention.review_decide(
            actor=line.staff(Role.TOWNSHIP_CLERK), review=review, decision="destroy", note="同意", today=NEW_YEAR
        )
    review.refresh_from_db()
    item.refresh_from_db()
    assert (review.status, item.destroyed_at) == (ReviewStatus.PROPOSED, None)


def test_deciding_twice_changes_nothing(line, clerk, approver):
    item = report(line)
    [review] = retention.review_propose(actor=clerk, items=[item], reason="保管期满", today=NEW_YEAR)
    retention.review_decide(
        actor=approver, review=review, decision="extend", note="延长", extend_years=10, today=NEW_YEAR
    )
    events = ArchiveEvent.objects.count()

    second_approver = line.staff(Role.COUNTY_APPROVER, username="approver_2")
    for decision, years in (("destroy", None), ("extend", 10)):
        with pytest.raises(Conflict) as refused:
            retention.review_decide(
                actor=second_approver, review=review, decision=decision, note="再审", extend_years=years
            )
        assert refused.value.code == "decided"

    item.refresh_from_db()
    review.refresh_from_db()
    assert (item.retain_until, item.destroyed_at) == (dt.date(2035, 12, 31), None)
    assert (review.status, review.decided_by, review.decision_note) == (ReviewStatus.EXTEND, approver, "延长")
    assert ArchiveEvent.objects.count() == events


def test_another_countys_approver_cannot_decide(line, clerk):
    item = report(line)
    [review] = retention.review_propose(actor=clerk, items=[item], reason="保管期满", today=NEW_YEAR)
    elsewhere = region_line(county="320413").staff(Role.COUNTY_APPROVER)

    with pytest.raises(DomainError) as refused:
        retention.review_decide(actor=elsewhere, review=review, decision="destroy", note="同意", today=NEW_YEAR)

    assert refused.value.code == "out_of_scope"
    item.refresh_from_db()
    assert item.destroyed_at is None


# --- stored content left behind --------------------------------------------------------------------------------


def sweep() -> str:
    out = io.StringIO()
    call_command("archives", "sweep", stdout=out)
    return out.getvalue()


def test_the_sweep_deletes_scans_of_destroyed_items_left_in_storage_once(line, clerk, approver, storage):
    # given a destroyed report whose scans' deletion after the decision never ran (the callbacks of a test's
    # transaction are not run: as when the deletion failed or the process ended first)
    item = report(line)
    agent = line.staff(Role.VILLAGE_AGENT)
    scans = [services.file_attach(actor=agent, item=item, upload=png_upload(f"p{n}.png", shade=n)) for n in (1, 2)]
    kept = services.file_attach(actor=agent, item=report(line, year=2016), upload=png_upload("keep.png", shade=9))
    [review] = retention.review_propose(actor=clerk, items=[item], reason="保管期满", today=NEW_YEAR)
    retention.review_decide(actor=approver, review=review, decision="destroy", note="同意", today=NEW_YEAR)
    names = [scan.file.name for scan in scans]
    assert all(storage.exists(name) for name in names)

    # when the sweep runs
    output = sweep()

    # then the destroyed item's content is gone, the rows stay, and the scan of a kept item is untouched
    assert "已销毁档案的电子件：2 份；本次删除存储内容 2 份；删除失败 0 份。" in output
    assert not any(storage.exists(name) for name in names)
    assert ArchiveFile.objects.filter(item=item, deleted_at__isnull=False).count() == 2
    assert storage.exists(kept.file.name)

    # and run again it finds nothing more to delete
    assert "本次删除存储内容 0 份" in sweep() and "没有需要清理的存储内容。" in sweep()
    assert storage.exists(kept.file.name)


def test_the_sweep_reports_content_it_could_not_delete(line, clerk, approver, storage, monkeypatch):
    item = report(line)
    scan = services.file_attach(actor=clerk, item=item, upload=png_upload("p.png"))
    [review] = retention.review_propose(actor=clerk, items=[item], reason="保管期满", today=NEW_YEAR)
    retention.review_decide(actor=approver, review=review, decision="destroy", note="同意", today=NEW_YEAR)

    def refuse(name):
        raise PermissionError(13, "Permission denied", name)

    monkeypatch.setattr(storage, "delete", refuse)
    with pytest.raises(CommandError, match="有 1 份电子件的存储内容未能删除"):
        sweep()
    assert storage.exists(scan.file.name)
