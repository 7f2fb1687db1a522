"""The archives' demo: what a county's archive rooms hold once the portal has been in use for a while.

Run after every other app's demo (the register, claims, payrolls and bank batches are loaded by then):

* the backfill files every record the demo loaded in bulk (registrations, cancellations, disability aid, …);
* each county's clerk files the county's annual reports of the last three years by hand and places them in the
  county's 一号库房 (a cabinet per class, a box per year); 武进区 also keeps its monthly reports of 2012 (kept 10
  years, so due for review) in 二号库房, and one of them is proposed for destruction, awaiting the county approver;
* the demo township's clerk places the township's personal papers in the 社保所's 一号库房, numbered in each box,
  and keeps them; the village agent attaches a scanned PDF to the first registration forms of the demo village;
* one paper is out on loan and overdue, one was read by its own person and returned;
* the township's two clerks have an open hand-over of everything the first keeps (some of it checked already).

Everything goes through the services, as a clerk would do it. Dates are counted from the demo's reference date;
run again, the demo finds what it made and adds nothing.
"""

from __future__ import annotations

import datetime as dt
import io
import time
from collections import defaultdict
from dataclasses import dataclass, field

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

from agencies.errors import DomainError
from agencies.models import Region, RegionLevel, Role, User
from agencies.records import Kind
from archives.backfill import backfill
from archives.handover import handover_check, handover_start
from archives.lending import loan_open, loan_return
from archives.models import ArchiveItem, ArchiveKind, HandOver, LineState, Loan, LoanKind, RetentionReview
from archives.retention import review_propose
from archives.services import file_attach, item_create, kind_by_code, paper_place

# The personal papers the demo township keeps in its own room, in this order of cabinets.
TOWNSHIP_KINDS = (Kind.REGISTRATION, Kind.CHANGE, Kind.CANCELLATION, Kind.CLAIM, Kind.DISABILITY_AID)
BOX_SIZE = 50  # papers per box
SCANNED = 3  # registration forms of the demo village with a scanned copy
CHECKED = 10  # lines of the hand-over already checked
ANNUAL_YEARS = 3  # the county's annual reports of the last few years
MONTHLY_2012 = ("2012年10月", "2012年11月", "2012年12月")
REVIEW_REASON = "保管期满十年，业务数据已并入年度报表，经鉴定无继续保存价值，拟销毁。"


@dataclass(frozen=True)
class ArchiveStaff:
    village_agent: User
    township_clerk: User
    township_clerk2: User
    county_clerk: User


@dataclass
class ArchivesDemo:
    backfilled: dict[str, int] = field(default_factory=dict)
    filed_by_hand: int = 0
    placed: int = 0
    scans: int = 0
    loans: int = 0
    handover: HandOver | None = None
    reviews: int = 0
    seconds: float = 0.0

    @property
    def backfilled_total(self) -> int:
        return sum(self.backfilled.values())


def seed_archives(
    *, reference_date: dt.date, staff: ArchiveStaff, township_code: str, village_code: str
) -> ArchivesDemo:
    started = time.monotonic()
    report = ArchivesDemo(backfilled=backfill())
    township = Region.objects.get(code=township_code)
    county = Region.objects.get(code=township_code[:6] + "000000")
    for each, clerk in _county_clerks(staff.county_clerk, county).items():
        _annual_reports(report, clerk, each, reference_date)
    monthly = _monthly_reports(report, staff.county_clerk, county)
    _township_papers(report, staff.township_clerk, township)
    scanned = _scans(report, staff.village_agent, village_code)
    _loans(report, staff.township_clerk, township, scanned, reference_date)
    report.handover = _handover(staff)
    _review(report, staff.county_clerk, monthly, reference_date)
    report.seconds = time.monotonic() - started
    return report


# --- the counties' rooms ---------------------------------------------------------------------------------------


def _county_clerks(demo_clerk: User, demo_county: Region) -> dict[Region, User]:
    """Each county's clerk: the demo login for the demo county, the first clerk on the staff list elsewhere."""
    clerks: dict[Region, User] = {demo_county: demo_clerk}
    for county in Region.objects.filter(level=RegionLevel.COUNTY).exclude(pk=demo_county.pk).order_by("code"):
        clerk = (
            User.objects.filter(role=Role.COUNTY_CLERK, agency__region=county, is_active=True)
            .select_related("agency__region")
            .order_by("username")
            .first()
        )
        if clerk is not None:
            clerks[county] = clerk
    return clerks


def _filed(report: ArchivesDemo, actor: User, kind: ArchiveKind, region: Region, year: int, title: str) -> ArchiveItem:
    existing = ArchiveItem.objects.filter(kind=kind, region_code=region.code, year=year, title=title).first()
    if existing is not None:
        return existing
    report.filed_by_hand += 1
    return item_create(actor=actor, kind=kind, region=region, year=year, title=title, fields={"报送单位": region.name})


def _place(report: ArchivesDemo, actor: User, item: ArchiveItem, **where: str) -> None:
    if item.location_id is not None:
        return
    paper_place(actor=actor, item=item, **where)
    report.placed += 1


def _annual_reports(report: ArchivesDemo, clerk: User, county: Region, reference_date: dt.date) -> None:
    """一号库房: permanent papers, a cabinet per class (A13 年度报表), a box per year."""
    kind = kind_by_code("annual_report")
    for year in range(reference_date.year - ANNUAL_YEARS, reference_date.year):
        item = _filed(report, clerk, kind, county, year, f"{county.name}{year}年度城乡居民养老保险统计年报")
        _place(report, clerk, item, room="一号库房", cabinet=f"A{kind.number}", box=f"{year}-001", position="1")


def _monthly_reports(report: ArchivesDemo, clerk: User, county: Region) -> list[ArchiveItem]:
    """二号库房: papers kept for a term. The monthly reports of 2012 were kept to 2022-12-31 and are due for review."""
    kind = kind_by_code("monthly_report")
    items = []
    for number, month in enumerate(MONTHLY_2012, start=1):
        item = _filed(report, clerk, kind, county, 2012, f"{county.name}{month}城乡居民养老保险业务月报")
        _place(report, clerk, item, room="二号库房", cabinet=f"B{kind.number}", box="2012-001", position=str(number))
        items.append(item)
    return items


# --- the demo township -------------------------------------------------------------------------------------------


def _township_papers(report: ArchivesDemo, clerk: User, township: Region) -> None:
    """The township's personal papers in the 社保所's 一号库房: cabinet A<class>, boxes <year>-001… of 50, numbered."""
    items = (
        ArchiveItem.objects.filter(
            region_code__startswith=township.scope_prefix, kind__code__in=TOWNSHIP_KINDS, destroyed_at__isnull=True
        )
        .select_related("kind")
        .order_by("kind__number", "year", "archive_no")
    )
    groups: dict[tuple[str, int], list[ArchiveItem]] = defaultdict(list)
    for item in items:
        groups[(item.kind.number, item.year)].append(item)
    for (number, year), group in groups.items():
        # Papers placed on an earlier run keep their positions; new ones go after them.
        taken = sum(1 for item in group if item.location_id is not None)
        for item in group:
            if item.location_id is not None:
                continue
            box, position = divmod(taken, BOX_SIZE)
            taken += 1
            try:
                _place(
                    report,
                    clerk,
                    item,
                    room="一号库房",
                    cabinet=f"A{number}",
                    box=f"{year}-{box + 1:03d}",
                    position=str(position + 1),
                )
            except DomainError:
                continue  # a position someone filled by hand: this paper waits for a clerk


def _registrations(region_prefix: str) -> list[ArchiveItem]:
    return list(
        ArchiveItem.objects.filter(
            region_code__startswith=region_prefix, kind__code=Kind.REGISTRATION, destroyed_at__isnull=True
        ).order_by("archive_no")
    )


def scan_pdf(item: ArchiveItem) -> bytes:
    """A one-page A4 'scan' naming the item, always the same bytes for the same item (so attaching is idempotent)."""
    writer = PdfWriter()
    page = writer.add_blank_page(width=595, height=842)
    helvetica = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    page[NameObject("/Resources")] = DictionaryObject(
        {NameObject("/Font"): DictionaryObject({NameObject("/F1"): helvetica})}
    )
    lines = (
        f"BT /F1 20 Tf 60 770 Td ({item.archive_no}) Tj ET",
        f"BT /F1 12 Tf 60 745 Td (Region {item.region_code}  Year {item.year}  Kind {item.kind.number}) Tj ET",
        "BT /F1 10 Tf 60 60 Td (Demo scan) Tj ET",
    )
    # A frame round the page and the form's ruled lines, as a scanner would show them.
    ruled = [f"60 {y} m 535 {y} l S" for y in range(700, 120, -36)]
    content = DecodedStreamObject()
    content.set_data("\n".join(("0.5 G 1 w 36 36 523 770 re S", *ruled, "0 g", *lines)).encode("ascii"))
    page.replace_contents(content)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _scans(report: ArchivesDemo, agent: User, village_code: str) -> list[ArchiveItem]:
    items = _registrations(village_code)[:SCANNED]
    for item in items:
        if item.files.exists():
            continue
        file_attach(actor=agent, item=item, upload=SimpleUploadedFile("参保登记表扫描件.pdf", scan_pdf(item)))
        report.scans += 1
    return items


def _loans(
    report: ArchivesDemo, clerk: User, township: Region, scanned: list[ArchiveItem], reference_date: dt.date
) -> None:
    # Read by the insured person in person (本人查阅) and returned at once.
    if scanned and scanned[0].person_id and not Loan.objects.filter(item=scanned[0]).exists():
        item = scanned[0]
        loan_open(
            actor=clerk,
            item=item,
            kind=LoanKind.READ,
            borrower=item.person.name,
            purpose="核对本人参保登记信息",
            due_on=timezone.localdate(),
            own_record=True,
        )
        loan_return(actor=clerk, item=item, note="当场查阅，原件完好")
        report.loans += 1
    # Borrowed by the auditors a month before the reference date, due ten days before it, not back yet: the
    # township's oldest cancellation form (an audit checks that no pension was paid after a death).
    borrowed = (
        ArchiveItem.objects.filter(
            region_code__startswith=township.scope_prefix,
            kind__code=Kind.CANCELLATION,
            location__isnull=False,
            destroyed_at__isnull=True,
        )
        .order_by("year", "archive_no")
        .first()
    )
    if borrowed is not None and not Loan.objects.filter(item=borrowed).exists():
        out_on = reference_date - dt.timedelta(days=40)
        loan = loan_open(
            actor=clerk,
            item=borrowed,
            kind=LoanKind.BORROW,
            borrower="吴建军",
            borrower_unit="武进区审计局",
            purpose="城乡居保基金专项审计，核对注销登记原件",
            due_on=out_on + dt.timedelta(days=30),
            today=out_on,
        )
        # The paper left on the day the loan was made, not on the day the demo was loaded.
        Loan.objects.filter(pk=loan.pk).update(out_at=timezone.make_aware(dt.datetime.combine(out_on, dt.time(10, 30))))
        report.loans += 1


def _handover(staff: ArchiveStaff) -> HandOver | None:
    """The first clerk hands everything she keeps to the second; the first lines are checked already."""
    existing = HandOver.objects.filter(from_keeper=staff.township_clerk).order_by("-pk").first()
    if existing is not None:
        return existing
    if not ArchiveItem.objects.filter(keeper=staff.township_clerk, destroyed_at__isnull=True).exists():
        return None
    handover = handover_start(
        actor=staff.township_clerk,
        from_keeper=staff.township_clerk,
        to_keeper=staff.township_clerk2,
        note="岗位调整，档案管理工作移交周志强",
    )
    first = list(
        handover.lines.filter(state=LineState.PENDING)
        .order_by("item__archive_no")
        .values_list("item__archive_no", flat=True)[:CHECKED]
    )
    if first:
        handover_check(actor=staff.township_clerk2, handover=handover, archive_nos=first, state=LineState.PRESENT)
    return handover


def _review(report: ArchivesDemo, clerk: User, monthly: list[ArchiveItem], reference_date: dt.date) -> None:
    if not monthly or RetentionReview.objects.filter(item__in=monthly).exists():
        return
    report.reviews += len(review_propose(actor=clerk, items=monthly[:1], reason=REVIEW_REASON, today=reference_date))
