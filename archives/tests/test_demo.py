"""The archives ``seed_demo`` leaves: every record the demo loaded in bulk filed once, the counties' rooms, the demo
township's papers placed and kept, scans, an overdue and a returned loan, an open hand-over, a review awaiting the
approver; and a second run that adds nothing."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from agencies import records
from agencies.models import Region, RegionLevel, User
from archives.backfill import pending
from archives.filecheck import inspect_upload
from archives.lending import overdue_loans
from archives.models import (
    ArchiveFile,
    ArchiveItem,
    ArchiveLocation,
    HandOver,
    HandOverStatus,
    LineState,
    Loan,
    RetentionReview,
    ReviewStatus,
)
from archives.retention import retention_due
from archives.services import kind_by_code
from portal.management.commands.seed_demo import DEMO_TOWNSHIP, DEMO_VILLAGE, REFERENCE_DATE

pytestmark = pytest.mark.django_db


def _counts() -> tuple[int, ...]:
    return tuple(
        model.objects.count() for model in (ArchiveItem, ArchiveLocation, ArchiveFile, Loan, HandOver, RetentionReview)
    )


def test_seed_demo_archives():
    storage = ArchiveFile._meta.get_field("file").storage  # the test's own folder (conftest)
    out = io.StringIO()

    call_command("seed_demo", "--persons", "600", stdout=out)

    assert "档案：补录归档" in out.getvalue()
    users = {
        u.username: u for u in User.objects.filter(username__in=["township_clerk", "township_clerk2", "county_clerk"])
    }
    clerk, clerk2, county_clerk = users["township_clerk"], users["township_clerk2"], users["county_clerk"]

    # Every record of every registered source is filed, once.
    for source in records.sources():
        assert not pending(source, kind_by_code(source.kind)).exists(), source.kind
    assert ArchiveItem.objects.filter(kind__code="registration").exists()

    # Each county keeps its annual reports of the three years before the reference date in its 一号库房.
    for county in Region.objects.filter(level=RegionLevel.COUNTY):
        boxes = set(
            ArchiveLocation.objects.filter(region_code=county.code, room="一号库房").values_list("cabinet", "box")
        )
        assert boxes == {("A13", "2023-001"), ("A13", "2024-001"), ("A13", "2025-001")}, county.code

    # The demo township's personal papers are all on the shelf of its 社保所, kept by its first clerk.
    township_papers = ArchiveItem.objects.filter(
        region_code__startswith=DEMO_TOWNSHIP[:9],
        kind__code__in=["registration", "change", "cancellation", "claim", "disability_aid"],
    )
    assert township_papers.exists()
    assert not township_papers.filter(location__isnull=True).exists()
    assert set(township_papers.values_list("location__region_code", "location__room", "keeper")) == {
        (DEMO_TOWNSHIP, "一号库房", clerk.pk)
    }
    for item in township_papers.select_related("kind", "location"):
        assert item.location.cabinet == f"A{item.kind.number}"
        assert item.location.box.startswith(f"{item.year}-")
    registrations = township_papers.filter(kind__code="registration").order_by("archive_no")
    first_box = registrations.filter(location=registrations.first().location)
    assert sorted(int(p) for p in first_box.values_list("position", flat=True)) == list(range(1, first_box.count() + 1))

    # Scans: real one-page PDFs on the first (up to three) registration forms of the demo village.
    scans = list(ArchiveFile.objects.select_related("item").order_by("item__archive_no"))
    village_forms = registrations.filter(region_code=DEMO_VILLAGE)
    assert scans and [scan.item for scan in scans] == list(village_forms[:3])
    for scan in scans:
        assert storage.exists(scan.file.name)
        with scan.file.open("rb") as opened:
            assert inspect_upload(SimpleUploadedFile("scan.pdf", opened.read())).pages == 1

    # One paper out and overdue since ten days before the reference date; one read in person and returned.
    [overdue] = overdue_loans(actor=clerk)
    assert (overdue.item.kind.code, overdue.due_on, overdue.borrower_unit) == (
        "cancellation",
        REFERENCE_DATE - dt.timedelta(days=10),
        "武进区审计局",
    )
    returned = Loan.objects.get(returned_at__isnull=False)
    assert returned.own_record and returned.borrower == returned.item.person.name

    # The first clerk hands everything she keeps to the second: listed, ten checked, the loan accounted for.
    handover = HandOver.objects.get()
    assert (handover.from_keeper, handover.to_keeper, handover.status) == (clerk, clerk2, HandOverStatus.OPEN)
    assert handover.lines.count() == ArchiveItem.objects.filter(keeper=clerk).count()
    assert handover.lines.filter(state=LineState.PRESENT).count() == 10
    assert list(handover.lines.filter(state=LineState.ON_LOAN).values_list("item", flat=True)) == [overdue.item_id]

    # 2012's monthly reports were kept to 2022: one proposed for destruction, two still due for review.
    [review] = RetentionReview.objects.all()
    assert (review.status, review.proposed_by, review.item.retain_until) == (
        ReviewStatus.PROPOSED,
        county_clerk,
        dt.date(2022, 12, 31),
    )
    due = retention_due(actor=county_clerk, today=REFERENCE_DATE)
    assert due.filter(kind__code="monthly_report", year=2012).count() == 2

    # And again: nothing added.
    before = _counts()
    again = io.StringIO()
    call_command("seed_demo", "--persons", "600", stdout=again)
    assert _counts() == before
    assert "档案：补录归档 0 件，手工归档 0 件，上架 0 件，扫描件 0 份，借阅 0 笔，到期鉴定 0 件" in again.getvalue()
