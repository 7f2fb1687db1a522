"""The archives pages through the test client: each page for the roles that use it, each action called through
with its refusals in Chinese, 403 for the roles that may not, 404 for another county's records, the scans served
only to users in scope, the register's .xlsx, and list pages whose queries do not grow with their rows.

Places: 新北区 (320411) is home; it joins 常州市本级 (320402) in a merger whose archive survey lands here. 南京
(320115) is another county of another city, whose records must stay out of sight.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook
from PIL import Image
from pypdf import PdfWriter

from agencies.models import Role
from agencies.tests.factories import RegionLine, region_line
from archives import handover, lending, retention, services
from archives.models import (
    ArchiveEvent,
    ArchiveFile,
    ArchiveItem,
    HandOver,
    HandOverStatus,
    LineState,
    Loan,
    RetentionReview,
    ReviewStatus,
)
from archives.tests.factories import make_item, placed_item, temporary_archive_storage
from enrollment import idnumber
from enrollment.tests.factories import make_person
from migration.models import ArchiveSurveyItem
from migration.services import project_create
from migration.survey import survey_item_add

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()
VIEWERS = [Role.VILLAGE_AGENT, Role.TOWNSHIP_CLERK, Role.COUNTY_CLERK, Role.COUNTY_APPROVER, Role.CITY_SUPERVISOR]
OUTSIDERS = [Role.COUNTY_FUND_OFFICER, Role.ADMINISTRATOR]


# --- real scans ------------------------------------------------------------------------------------------------


def pdf_bytes(pages: int = 1) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)  # A4 in points
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def image_bytes(format: str, size: tuple[int, int] = (40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color=(200, 180, 20)).save(out, format=format)
    return out.getvalue()


def scan(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content)


# --- the places and people -------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def storage(db, monkeypatch, tmp_path):
    return temporary_archive_storage(monkeypatch, tmp_path / "archives")


@pytest.fixture
def home() -> RegionLine:
    return region_line(county="320411", township="101", village="201")


@pytest.fixture
def foreign() -> RegionLine:
    return region_line(county="320115", township="101", village="201")


@pytest.fixture
def clerk(home):
    """The county's archive clerk (keeps, lends, hands over)."""
    return home.staff(Role.COUNTY_CLERK)


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def text(response) -> str:
    return response.content.decode()


@pytest.fixture
def person(home):
    return make_person(home.village, name="李秀英", birth_date=dt.date(1962, 3, 8))


@pytest.fixture
def item(home, clerk, person) -> ArchiveItem:
    """A registration form of the home village, its paper placed in the county's room and kept by the clerk."""
    return placed_item(
        home.village,
        actor=clerk,
        title="参保登记表 李秀英",
        person=person,
        fields={"姓名": "李秀英", "缴费档次": "300元"},
        room="一号库房",
        cabinet="A01",
        box="2024-001",
        position="1",
    )


@pytest.fixture
def foreign_item(foreign) -> ArchiveItem:
    return placed_item(foreign.village, title="参保登记表 境外某甲", position="1")


# --- the list and search ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", VIEWERS)
def test_the_list_answers_the_roles_that_use_archives_and_shows_only_their_items(home, item, foreign_item, role):
    page = client_for(home.staff(role)).get(reverse("archives:item_list"))
    assert page.status_code == 200
    body = text(page)
    assert item.archive_no in body
    assert "李秀英" in body
    assert idnumber.mask(item.person.id_number) in body
    assert item.person.id_number not in body  # masked in lists
    assert foreign_item.archive_no not in body


@pytest.mark.parametrize("role", OUTSIDERS)
def test_the_list_is_refused_to_roles_without_archive_work(home, role):
    assert client_for(home.staff(role)).get(reverse("archives:item_list")).status_code == 403


def test_the_list_filters_by_text_kind_year_and_paper(home, clerk, item):
    report = make_item(home.township, kind="monthly_report", year=2013, title="2013年月报", actor=clerk)
    client = client_for(clerk)
    url = reverse("archives:item_list")

    by_text = text(client.get(url, {"q": "300元"}))
    assert item.archive_no in by_text and report.archive_no not in by_text
    by_kind = text(client.get(url, {"kind": "monthly_report"}))
    assert report.archive_no in by_kind and item.archive_no not in by_kind
    by_year = text(client.get(url, {"year": "2013"}))
    assert report.archive_no in by_year and item.archive_no not in by_year
    without_paper = text(client.get(url, {"paper": "0"}))
    assert report.archive_no in without_paper and item.archive_no not in without_paper
    by_place = text(client.get(url, {"region": home.village.code}))
    assert item.archive_no in by_place and report.archive_no not in by_place


def test_the_list_exports_the_filtered_items_in_scope_as_xlsx(home, clerk, item, foreign_item):
    make_item(home.township, kind="monthly_report", year=2013, title="2013年月报", actor=clerk)
    response = client_for(clerk).get(reverse("archives:item_list"), {"kind": "registration", "format": "xlsx"})
    assert response.status_code == 200
    assert response["Cache-Control"] == "private, no-store"
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    rows = list(book.active.iter_rows(values_only=True))
    assert rows[0][0] == "档号"
    assert [row[0] for row in rows[1:]] == [item.archive_no]
    assert rows[1][5] == "李秀英"
    assert rows[1][6] == idnumber.mask(item.person.id_number)
    assert rows[1][7] == "✓"
    assert rows[1][11] == "在库"


# --- filing by hand --------------------------------------------------------------------------------------------


def test_a_clerk_files_a_paper_by_hand(home, clerk, person):
    response = client_for(clerk).post(
        reverse("archives:item_create"),
        {
            "kind": "collective_subsidy",
            "region": home.village.code,
            "year": "2024",
            "title": "2024年集体补助明细表",
            "id_number": "",
        },
    )
    created = ArchiveItem.objects.get(title="2024年集体补助明细表")
    assert response.status_code == 302
    assert response["Location"] == reverse("archives:item_detail", args=[created.pk])
    assert created.region_code == home.village.code and created.filed_by == clerk
    assert created.archive_no.startswith("320411101-2024-")


def test_filing_by_hand_refuses_a_place_outside_scope_and_an_unknown_person(home, foreign, clerk):
    client = client_for(clerk)
    data = {"kind": "collective_subsidy", "region": foreign.village.code, "year": "2024", "title": "越权归档"}
    outside = client.post(reverse("archives:item_create"), data)
    assert outside.status_code == 400
    assert "请选择您管辖范围内的村、乡镇或县。" in text(outside)

    data.update(region=home.village.code, id_number=idnumber.make("320411", dt.date(1950, 1, 1), 3))
    unknown = client.post(reverse("archives:item_create"), data)
    assert unknown.status_code == 400
    assert "您的管辖范围内没有该身份证号的参保人。" in text(unknown)

    data.update(id_number="", year="1980")
    too_early = client.post(reverse("archives:item_create"), data)
    assert "年度应在1990至" in text(too_early)
    assert not ArchiveItem.objects.filter(title="越权归档").exists()


@pytest.mark.parametrize("role", [Role.VILLAGE_AGENT, Role.COUNTY_APPROVER, Role.CITY_SUPERVISOR])
def test_filing_by_hand_is_refused_to_those_who_do_not_keep_archives(home, role):
    client = client_for(home.staff(role))
    assert client.get(reverse("archives:item_create")).status_code == 403
    assert client.post(reverse("archives:item_create"), {"title": "x"}).status_code == 403


# --- one item ----------------------------------------------------------------------------------------------------


def test_the_detail_shows_the_form_the_place_and_the_forms_for_the_role(home, clerk, item):
    body = text(client_for(clerk).get(reverse("archives:item_detail", args=[item.pk])))
    assert "缴费档次" in body and "300元" in body
    assert "一号库房 A01柜 2024-001盒" in body
    assert 'id="attach-form"' in body and 'id="place-form"' in body and 'id="lend-form"' in body
    assert 'accept=".pdf,.jpg,.jpeg,.png"' in body

    agent = text(client_for(home.staff(Role.VILLAGE_AGENT)).get(reverse("archives:item_detail", args=[item.pk])))
    assert 'id="attach-form"' in agent
    assert 'id="place-form"' not in agent and 'id="lend-form"' not in agent

    supervisor = client_for(home.staff(Role.CITY_SUPERVISOR)).get(reverse("archives:item_detail", args=[item.pk]))
    assert supervisor.status_code == 200 and 'id="attach-form"' not in text(supervisor)


def test_a_scan_is_attached_under_a_random_name_outside_media_and_read_back_in_scope(home, clerk, item, storage):
    content = pdf_bytes(pages=2)
    agent = home.staff(Role.VILLAGE_AGENT)

    response = client_for(agent).post(
        reverse("archives:item_attach", args=[item.pk]), {"file": scan("李秀英登记表.pdf", content)}
    )
    assert response.status_code == 302
    stored = ArchiveFile.objects.get(item=item)
    assert (stored.pages, stored.content_type, stored.original_name) == (2, "application/pdf", "李秀英登记表.pdf")
    # the stored name is random, not the upload's; the file is in the archive storage, not under MEDIA_ROOT
    assert "李秀英" not in stored.file.name and stored.file.name.endswith(".pdf")
    path = Path(storage.path(stored.file.name)).resolve()
    assert path.read_bytes() == content
    assert path.is_relative_to(Path(storage.location).resolve())
    assert not path.is_relative_to(Path(settings.MEDIA_ROOT).resolve())

    download = client_for(clerk).get(reverse("archives:file_download", args=[stored.pk]))
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == content
    assert download["Content-Type"] == "application/pdf"
    assert download["X-Content-Type-Options"] == "nosniff"
    assert download["Cache-Control"] == "private, no-store"
    assert "attachment" in download["Content-Disposition"]
    assert ArchiveEvent.objects.filter(item=item, action="file_read", actor=clerk).count() == 1


def test_a_scan_is_not_served_outside_scope(home, foreign, item):
    services.file_attach(actor=home.staff(Role.VILLAGE_AGENT), item=item, upload=scan("a.png", image_bytes("PNG")))
    stored = ArchiveFile.objects.get(item=item)
    for role in (Role.COUNTY_CLERK, Role.VILLAGE_AGENT, Role.CITY_SUPERVISOR):
        response = client_for(foreign.staff(role)).get(reverse("archives:file_download", args=[stored.pk]))
        assert response.status_code == 404, role
    assert not ArchiveEvent.objects.filter(item=item, action="file_read").exists()


def test_a_png_named_pdf_and_a_file_past_the_limit_are_refused_next_to_the_field(home, clerk, item, settings):
    client = client_for(clerk)
    url = reverse("archives:item_attach", args=[item.pk])

    mismatch = client.post(url, {"file": scan("scan.pdf", image_bytes("PNG"))})
    assert mismatch.status_code == 400
    assert "内容却是PNG" in text(mismatch)

    settings.ARCHIVE_FILE_MAX_BYTES = 1024
    photo = image_bytes("JPEG", size=(400, 300))
    assert len(photo) > 1024
    too_large = client.post(url, {"file": scan("photo.jpg", photo)})
    assert too_large.status_code == 400
    assert "文件过大" in text(too_large)
    assert not ArchiveFile.objects.exists()


@pytest.mark.parametrize("role", [Role.COUNTY_APPROVER, Role.CITY_SUPERVISOR, Role.COUNTY_FUND_OFFICER])
def test_attaching_is_refused_to_roles_that_may_not(home, item, role):
    response = client_for(home.staff(role)).post(
        reverse("archives:item_attach", args=[item.pk]), {"file": scan("a.pdf", pdf_bytes())}
    )
    assert response.status_code == 403
    assert not ArchiveFile.objects.exists()


def test_placing_a_paper_and_an_occupied_place_refused(home, clerk, item):
    other = make_item(home.village, title="变更登记表", kind="change", actor=clerk)
    client = client_for(clerk)
    url = reverse("archives:item_place", args=[other.pk])

    taken = client.post(url, {"room": "一号库房", "cabinet": "A01", "box": "2024-001", "position": "1"})
    assert taken.status_code == 400
    assert f"已存放档案 {item.archive_no}" in text(taken)

    placed = client.post(url, {"room": "一号库房", "cabinet": "A01", "box": "2024-001", "position": "2", "keeper": ""})
    assert placed.status_code == 302
    other.refresh_from_db()
    assert (other.position, other.keeper) == ("2", clerk)

    missing = client.post(url, {"room": "", "cabinet": "A01", "box": "2024-001", "position": "3"})
    assert "请填写档案室。" in text(missing)

    agent = client_for(home.staff(Role.VILLAGE_AGENT))
    assert agent.post(url, {"room": "二号库房", "cabinet": "B", "box": "1", "position": "1"}).status_code == 403


def test_lending_and_returning_and_a_return_of_an_item_not_lent_refused(home, clerk, item):
    client = client_for(clerk)
    not_lent = client.post(reverse("archives:item_return", args=[item.pk]), {"note": ""})
    assert not_lent.status_code == 400
    assert f"档案 {item.archive_no} 未借出，无需归还。" in text(not_lent)

    no_purpose = client.post(
        reverse("archives:item_lend", args=[item.pk]),
        {"kind": "read", "borrower": "李秀英", "purpose": "", "due_on": TODAY.isoformat()},
    )
    assert no_purpose.status_code == 400 and "请填写事由。" in text(no_purpose)

    lent = client.post(
        reverse("archives:item_lend", args=[item.pk]),
        {
            "kind": "read",
            "borrower": "李秀英",
            "purpose": "核对缴费档次",
            "due_on": TODAY.isoformat(),
            "own_record": "on",
        },
    )
    assert lent.status_code == 302
    loan = Loan.objects.get(item=item)
    assert loan.own_record and loan.returned_at is None
    assert 'id="return-form"' in text(client.get(reverse("archives:item_detail", args=[item.pk])))

    returned = client.post(reverse("archives:item_return", args=[item.pk]), {"note": "完好"}, follow=True)
    assert "已登记归还。" in text(returned)
    loan.refresh_from_db()
    assert loan.returned_at is not None and loan.return_note == "完好"

    agent = client_for(home.staff(Role.VILLAGE_AGENT))
    data = {"kind": "read", "borrower": "某", "purpose": "查", "due_on": TODAY.isoformat()}
    assert agent.post(reverse("archives:item_lend", args=[item.pk]), data).status_code == 403
    assert agent.post(reverse("archives:item_return", args=[item.pk])).status_code == 403


OBJECT_ROUTES = [
    "item_detail",
    "item_attach",
    "item_place",
    "item_lend",
    "item_return",
]


@pytest.mark.parametrize("role", VIEWERS + OUTSIDERS)
def test_another_countys_records_answer_404_on_every_object_route(home, foreign, foreign_item, role):
    client = client_for(home.staff(role))
    services.file_attach(
        actor=foreign.staff(Role.VILLAGE_AGENT), item=foreign_item, upload=scan("a.png", image_bytes("PNG"))
    )
    lending.loan_open(
        actor=foreign.staff(Role.COUNTY_CLERK),
        item=foreign_item,
        kind="borrow",
        borrower="境外某乙",
        purpose="查",
        due_on=TODAY,
    )
    keeper_out, keeper_in = foreign.staff(Role.TOWNSHIP_CLERK, "out"), foreign.staff(Role.COUNTY_CLERK, "in")
    foreign_item.keeper = keeper_out
    foreign_item.save(update_fields=["keeper"])
    foreign_handover = handover.handover_start(
        actor=foreign.staff(Role.COUNTY_CLERK), from_keeper=keeper_out, to_keeper=keeper_in
    )
    old = make_item(foreign.village, kind="monthly_report", year=2012, title="境外月报")
    review = retention.review_propose(actor=foreign.staff(Role.TOWNSHIP_CLERK), items=[old], reason="期满")[0]
    foreign_person = make_person(foreign.village, name="境外某丙")
    foreign_row = _survey_row(foreign, region_line(county="320116", township="101", village="201"))
    handover_posts = ["check", "check_all", "refresh", "sign_out", "sign_in", "cancel"]
    targets = [
        ("get", reverse("archives:item_detail", args=[foreign_item.pk])),
        *(("post", reverse(f"archives:{name}", args=[foreign_item.pk])) for name in OBJECT_ROUTES[1:]),
        ("get", reverse("archives:file_download", args=[ArchiveFile.objects.get(item=foreign_item).pk])),
        ("get", reverse("archives:person_records", args=[foreign_person.pk])),
        ("get", reverse("archives:handover_detail", args=[foreign_handover.pk])),
        *(("post", reverse(f"archives:handover_{name}", args=[foreign_handover.pk])) for name in handover_posts),
        ("post", reverse("archives:review_decide", args=[review.pk])),
        ("post", reverse("archives:survey_receive", args=[foreign_row.pk])),
    ]
    data = {
        "reason": "x",
        "decision": "destroy",
        "note": "x",
        "room": "一",
        "cabinet": "1",
        "box": "1",
        "position": "1",
    }
    failures = [
        f"{method.upper()} {url} → {status}"
        for method, url in targets
        if (status := getattr(client, method)(url, data).status_code) != 404
    ]
    assert not failures
    assert RetentionReview.objects.get(pk=review.pk).status == ReviewStatus.PROPOSED
    assert HandOver.objects.get(pk=foreign_handover.pk).status == HandOverStatus.OPEN
    assert ArchiveSurveyItem.objects.get(pk=foreign_row.pk).handed_over_at is None


# --- the register --------------------------------------------------------------------------------------------------


def test_the_register_shows_a_townships_year_with_its_counts_and_opens_as_xlsx(home, clerk, item, foreign_item):
    make_item(home.village, kind="change", year=2024, title="变更登记表", actor=clerk)  # no paper, no scan
    make_item(home.village, kind="change", year=2023, title="去年的变更登记表", actor=clerk)
    services.file_attach(actor=clerk, item=item, upload=scan("a.pdf", pdf_bytes(pages=3)))
    client = client_for(home.staff(Role.TOWNSHIP_CLERK))
    url = reverse("archives:register")

    assert client.get(url).status_code == 200  # the choice alone
    page = client.get(url, {"region": home.township.code, "year": "2024"})
    assert page.status_code == 200
    body = text(page)
    assert "2024年度档案登记簿" in body
    assert item.archive_no in body and "变更登记表" in body and "去年的变更登记表" not in body
    assert foreign_item.archive_no not in body
    assert "@media print" in body and "A4" in body and "打印" in body
    summary = page.context["summary"]
    assert (summary["total"], summary["with_paper"], summary["with_electronic"], summary["both"]) == (2, 1, 1, 1)
    assert (summary["missing_paper"], summary["missing_electronic"], summary["destroyed"]) == (1, 1, 0)

    whole = client.get(url, {"region": home.township.code, "year": "2024", "all": "1"})
    assert whole.context["whole"] and len(whole.context["rows"]) == 2

    exported = client.get(url, {"region": home.township.code, "year": "2024", "format": "xlsx"})
    assert exported.status_code == 200
    book = load_workbook(io.BytesIO(exported.content))
    cells = [value for row in book.active.iter_rows(values_only=True) for value in row if value is not None]
    assert item.archive_no in cells
    assert idnumber.mask(item.person.id_number) in cells
    assert item.person.id_number not in cells


def test_the_register_refuses_a_place_outside_scope(home, foreign):
    client = client_for(home.staff(Role.TOWNSHIP_CLERK))
    response = client.get(reverse("archives:register"), {"region": foreign.township.code, "year": "2024"})
    assert response.status_code == 400
    assert "请选择您管辖范围内的村、乡镇或县。" in text(response)
    assert "region" not in response.context or response.context.get("region") is None


# --- loans ----------------------------------------------------------------------------------------------------------


def test_the_loans_page_lists_what_is_out_and_highlights_the_overdue(home, clerk, item):
    late = placed_item(home.village, actor=clerk, title="待遇申请表", kind="claim", position="9")
    lending.loan_open(
        actor=clerk,
        item=late,
        kind="borrow",
        borrower="王审计",
        purpose="审计",
        due_on=TODAY - dt.timedelta(days=3),
        today=TODAY - dt.timedelta(days=10),
    )
    lending.loan_open(actor=clerk, item=item, kind="read", borrower="李秀英", purpose="查阅", due_on=TODAY)
    client = client_for(home.staff(Role.TOWNSHIP_CLERK))

    everything = text(client.get(reverse("archives:loans")))
    assert "王审计" in everything and "李秀英" in everything
    assert "逾期3天" in everything
    overdue = client.get(reverse("archives:loans"), {"overdue": "1"})
    assert "王审计" in text(overdue) and "李秀英" not in text(overdue)

    exported = client.get(reverse("archives:loans"), {"overdue": "1", "format": "xlsx"})
    rows = list(load_workbook(io.BytesIO(b"".join(exported.streaming_content))).active.iter_rows(values_only=True))
    assert [row[3] for row in rows[1:]] == ["王审计"]
    assert rows[1][8] == 3


# --- a person's records ---------------------------------------------------------------------------------------------


def test_a_persons_own_records_are_shown_printable(home, item, person, clerk):
    make_item(home.village, title="他人的登记表", actor=clerk)
    page = client_for(home.staff(Role.VILLAGE_AGENT)).get(reverse("archives:person_records", args=[person.pk]))
    assert page.status_code == 200
    body = text(page)
    assert item.archive_no in body and "他人的登记表" not in body
    assert "window.print()" in body


# --- custody and hand-overs -----------------------------------------------------------------------------------------


def test_custody_shows_the_keepers_items_and_a_foreign_keeper_answers_404(home, foreign, clerk, item):
    client = client_for(clerk)
    page = client.get(reverse("archives:custody"))
    assert page.status_code == 200
    assert page.context["page"].paginator.count == 1 and item.archive_no in text(page)
    assert reverse("archives:handover_create") in text(page)

    township = home.staff(Role.TOWNSHIP_CLERK)
    assert client.get(reverse("archives:custody"), {"keeper": township.pk}).context["page"].paginator.count == 0
    stranger = foreign.staff(Role.COUNTY_CLERK)
    assert client.get(reverse("archives:custody"), {"keeper": stranger.pk}).status_code == 404


def test_a_hand_over_from_start_to_both_signatures(home, clerk, item):
    second = placed_item(home.village, actor=clerk, title="变更登记表", kind="change", position="2")
    successor = home.staff(Role.COUNTY_CLERK, "successor")
    out_client, in_client = client_for(clerk), client_for(successor)

    started = out_client.post(
        reverse("archives:handover_create"), {"from_keeper": clerk.pk, "to_keeper": successor.pk, "note": "岗位调整"}
    )
    found = HandOver.objects.get(from_keeper=clerk)
    assert started.status_code == 302 and started["Location"] == reverse("archives:handover_detail", args=[found.pk])
    detail = out_client.get(reverse("archives:handover_detail", args=[found.pk]))
    assert item.archive_no in text(detail) and second.archive_no in text(detail)

    # one missing: neither signature is taken
    marked = out_client.post(
        reverse("archives:handover_check", args=[found.pk]), {"archive_nos": second.archive_no, "state": "missing"}
    )
    assert marked.status_code == 302
    refused = out_client.post(reverse("archives:handover_sign_out", args=[found.pk]), follow=True)
    assert "还有2件档案未清点或缺失" in text(refused)
    found.refresh_from_db()
    assert found.status == HandOverStatus.OPEN

    # an unknown number is refused next to the field
    unknown = out_client.post(
        reverse("archives:handover_check", args=[found.pk]),
        {"archive_nos": "320411101-2024-01-999999", "state": "present"},
    )
    assert unknown.status_code == 400 and "不在本次交接清单中" in text(unknown)

    # found after all: everything present, both sign, custody moves
    out_client.post(
        reverse("archives:handover_check", args=[found.pk]), {"archive_nos": second.archive_no, "state": "present"}
    )
    out_client.post(reverse("archives:handover_check_all", args=[found.pk]))
    assert set(found.lines.values_list("state", flat=True)) == {LineState.PRESENT}
    wrong = in_client.post(reverse("archives:handover_sign_out", args=[found.pk]), follow=True)
    assert "只有移交人" in text(wrong)
    out_client.post(reverse("archives:handover_sign_out", args=[found.pk]))
    signed = in_client.post(reverse("archives:handover_sign_in", args=[found.pk]), follow=True)
    assert "交接完成" in text(signed)
    found.refresh_from_db()
    assert found.status == HandOverStatus.DONE
    assert set(ArchiveItem.objects.filter(pk__in=[item.pk, second.pk]).values_list("keeper", flat=True)) == {
        successor.pk
    }

    exported = out_client.get(reverse("archives:handover_detail", args=[found.pk]), {"format": "xlsx"})
    rows = list(load_workbook(io.BytesIO(b"".join(exported.streaming_content))).active.iter_rows(values_only=True))
    assert {row[1] for row in rows[2:]} == {item.archive_no, second.archive_no}
    assert {row[6] for row in rows[2:]} == {"在库"}


def test_an_item_on_loan_shows_its_borrower_and_a_refresh_and_cancel_go_through(home, clerk, item):
    lending.loan_open(actor=clerk, item=item, kind="borrow", borrower="王审计", purpose="审计", due_on=TODAY)
    successor = home.staff(Role.COUNTY_CLERK, "successor")
    found = handover.handover_start(actor=clerk, from_keeper=clerk, to_keeper=successor)
    client = client_for(clerk)
    body = text(client.get(reverse("archives:handover_detail", args=[found.pk])))
    assert "借出在外" in body and "王审计" in body

    placed_item(home.village, actor=clerk, title="新入库", kind="change", position="5")
    refreshed = client.post(reverse("archives:handover_refresh", args=[found.pk]), follow=True)
    assert "已刷新交接清单。" in text(refreshed) and "新增1件" in text(refreshed)
    assert found.lines.count() == 2

    no_reason = client.post(reverse("archives:handover_cancel", args=[found.pk]), {"reason": ""})
    assert no_reason.status_code == 400 and "请填写原因。" in text(no_reason)
    client.post(reverse("archives:handover_cancel", args=[found.pk]), {"reason": "人员未调整"})
    found.refresh_from_db()
    assert found.status == HandOverStatus.CANCELLED


@pytest.mark.parametrize("role", [Role.COUNTY_APPROVER, Role.CITY_SUPERVISOR])
def test_hand_overs_are_seen_but_not_worked_by_those_who_do_not_keep_archives(home, clerk, item, role):
    successor = home.staff(Role.COUNTY_CLERK, "successor")
    found = handover.handover_start(actor=clerk, from_keeper=clerk, to_keeper=successor)
    client = client_for(home.staff(role))
    assert client.get(reverse("archives:handover_list")).status_code == 200
    assert client.get(reverse("archives:handover_detail", args=[found.pk])).status_code == 200
    assert client.get(reverse("archives:handover_create")).status_code == 403
    for name in ("handover_check_all", "handover_refresh", "handover_sign_out", "handover_cancel"):
        assert client.post(reverse(f"archives:{name}", args=[found.pk]), {"reason": "x"}).status_code == 403, name
    assert found.lines.get().state == LineState.PENDING
    assert HandOver.objects.get(pk=found.pk).status == HandOverStatus.OPEN


def test_a_village_agent_starts_no_hand_over(home):
    agent = client_for(home.staff(Role.VILLAGE_AGENT))
    assert agent.get(reverse("archives:handover_list")).status_code == 200
    assert agent.get(reverse("archives:handover_create")).status_code == 403
    assert agent.post(reverse("archives:handover_create"), {"note": "x"}).status_code == 403


# --- retention ------------------------------------------------------------------------------------------------------


def test_items_due_are_proposed_by_the_keeper_and_destroyed_by_the_approver(home, clerk):
    old = make_item(home.township, kind="monthly_report", year=2012, title="2012年3月月报", actor=clerk)
    kept = make_item(home.township, kind="registration", year=2012, title="永久保管的登记表", actor=clerk)
    client = client_for(clerk)
    page = client.get(reverse("archives:retention"))
    assert old.archive_no in text(page) and kept.archive_no not in text(page)

    no_reason = client.post(reverse("archives:retention"), {"items": [old.pk], "reason": ""})
    assert no_reason.status_code == 400 and "请填写鉴定意见。" in text(no_reason)
    proposed = client.post(reverse("archives:retention"), {"items": [old.pk], "reason": "10年期满，无保存价值"})
    assert proposed.status_code == 302
    review = RetentionReview.objects.get(item=old)

    approver = client_for(home.staff(Role.COUNTY_APPROVER))
    assert "10年期满，无保存价值" in text(approver.get(reverse("archives:retention")))
    assert (
        client.post(
            reverse("archives:review_decide", args=[review.pk]), {"decision": "destroy", "note": "同意"}
        ).status_code
        == 403
    )
    unnoted = approver.post(reverse("archives:review_decide", args=[review.pk]), {"decision": "destroy"}, follow=True)
    assert "请填写审批意见。" in text(unnoted)
    no_years = approver.post(
        reverse("archives:review_decide", args=[review.pk]), {"decision": "extend", "note": "再留"}, follow=True
    )
    assert "延长保管须填写延长年限" in text(no_years)
    decided = approver.post(
        reverse("archives:review_decide", args=[review.pk]), {"decision": "destroy", "note": "同意销毁"}, follow=True
    )
    assert f"已批准销毁档案 {old.archive_no}。" in text(decided)
    old.refresh_from_db()
    assert old.destroyed_at is not None
    again = approver.post(
        reverse("archives:review_decide", args=[review.pk]), {"decision": "destroy", "note": "同意"}, follow=True
    )
    assert "不能重复审批" in text(again)


def test_proposing_is_refused_to_those_who_do_not_keep_archives(home, clerk):
    old = make_item(home.township, kind="monthly_report", year=2012, title="2012年月报", actor=clerk)
    approver = client_for(home.staff(Role.COUNTY_APPROVER))
    assert approver.post(reverse("archives:retention"), {"items": [old.pk], "reason": "期满"}).status_code == 403
    assert not RetentionReview.objects.exists()


# --- the merger's survey ----------------------------------------------------------------------------------------------


def _survey_row(source: RegionLine, target: RegionLine) -> ArchiveSurveyItem:
    """A merger of the source's pooling region into the target's, and one surveyed lot of the source's township."""
    supervisor = source.staff(Role.CITY_SUPERVISOR)
    project = project_create(
        actor=supervisor,
        name=f"{source.county.name}并轨",
        source_pooling_region=source.pooling_region,
        target_pooling_region=target.pooling_region,
        cutover_date=dt.date(2027, 1, 1),
        source_tiers_until=dt.date(2027, 6, 30),
        deemed_years_until=dt.date(2027, 1, 1),
    )
    return survey_item_add(
        actor=supervisor,
        project=project,
        kind="参保登记表",
        region_code=source.township.code,
        place="新北区社保中心档案室",
        years="2010-2015年",
        quantity=12,
    )


@pytest.fixture
def survey_row(home):
    return _survey_row(home, region_line(county="320402", township="101", village="201"))


def test_the_survey_rows_are_received_into_the_room(home, clerk, survey_row):
    client = client_for(clerk)
    page = client.get(reverse("archives:survey"))
    assert page.status_code == 200 and "新北区社保中心档案室" in text(page)

    url = reverse("archives:survey_receive", args=[survey_row.pk])
    missing = client.post(url, {"room": "", "cabinet": "C01", "box": "1", "position": "1"})
    assert missing.status_code == 400 and "请填写档案室。" in text(missing)

    received = client.post(url, {"room": "二号库房", "cabinet": "C01", "box": "1", "position": "1"}, follow=True)
    assert "已接收并归档" in text(received)
    survey_row.refresh_from_db()
    assert survey_row.handed_over_at is not None
    filed = ArchiveItem.objects.get(kind__code="handed_over")
    assert (filed.keeper, filed.position) == (clerk, "1")
    # received once: the row has left the list, and a second receipt finds nothing
    assert client.post(url, {"room": "二号库房", "cabinet": "C01", "box": "1", "position": "2"}).status_code == 404
    assert ArchiveItem.objects.filter(kind__code="handed_over").count() == 1


def test_receiving_is_refused_to_those_who_do_not_keep_archives(home, survey_row):
    supervisor = client_for(home.staff(Role.CITY_SUPERVISOR))
    assert supervisor.get(reverse("archives:survey")).status_code == 200
    response = supervisor.post(
        reverse("archives:survey_receive", args=[survey_row.pk]),
        {"room": "一", "cabinet": "1", "box": "1", "position": "1"},
    )
    assert response.status_code == 403
    assert ArchiveSurveyItem.objects.get(pk=survey_row.pk).handed_over_at is None


# --- the home page's card ------------------------------------------------------------------------------------------


def test_the_home_page_shows_the_archives_card_to_those_who_use_archives(home, clerk, item, survey_row):
    body = text(client_for(clerk).get(reverse("portal:home")))
    assert 'id="archives-card"' in body
    card = client_for(clerk).get(reverse("portal:home")).context["archives"]
    assert (card["custody"], card["overdue"], card["due"], card["survey"]) == (1, 0, 0, 1)
    officer = text(client_for(home.staff(Role.COUNTY_FUND_OFFICER)).get(reverse("portal:home")))
    assert 'id="archives-card"' not in officer


# --- queries do not grow with rows ----------------------------------------------------------------------------------


def _fill(home, clerk, n: int, start: int) -> None:
    """n registration forms of n persons, placed, each with a scan and every other one out on loan."""
    for i in range(start, start + n):
        person = make_person(home.village, name=f"参保人{i}", birth_date=dt.date(1960, 1, 1) + dt.timedelta(days=i))
        filed = placed_item(home.village, actor=clerk, title=f"参保登记表 {i}", person=person, position=f"p{i}")
        services.file_attach(actor=clerk, item=filed, upload=scan(f"s{i}.png", image_bytes("PNG")))
        if i % 2:
            lending.loan_open(actor=clerk, item=filed, kind="borrow", borrower=f"借阅人{i}", purpose="查", due_on=TODAY)
        # a due item with a person and a scan, every other one out on loan: the retention list shows all three
        old = placed_item(
            home.village,
            actor=clerk,
            kind="monthly_report",
            year=2012,
            title=f"月报 {i}",
            person=person,
            position=f"o{i}",
        )
        services.file_attach(actor=clerk, item=old, upload=scan(f"o{i}.pdf", pdf_bytes(pages=1 + i % 3)))
        if i % 2:
            lending.loan_open(actor=clerk, item=old, kind="read", borrower=f"查阅人{i}", purpose="查", due_on=TODAY)
        assert old.retain_until < TODAY


LIST_PAGES = [
    ("archives:item_list", {}),
    ("archives:register", {"year": "2024"}),
    ("archives:loans", {}),
    ("archives:custody", {}),
    ("archives:retention", {}),
]


@pytest.mark.parametrize("name, query", LIST_PAGES)
def test_list_pages_make_as_many_queries_for_25_rows_as_for_5(home, clerk, name, query, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = client_for(clerk)
    if name == "archives:register":
        query = {**query, "region": home.township.code}
    _fill(home, clerk, 5, 0)
    with CaptureQueriesContext(connection) as five:
        assert client.get(reverse(name), query).status_code == 200
    _fill(home, clerk, 20, 5)
    with django_assert_max_num_queries(len(five)):
        page = client.get(reverse(name), query)
    assert page.status_code == 200


def test_the_hand_over_inventory_and_a_persons_records_make_constant_queries(
    home, clerk, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    person = make_person(home.village, name="多件某", birth_date=dt.date(1961, 1, 1))
    client = client_for(clerk)

    def add(n: int, start: int) -> None:
        for i in range(start, start + n):
            filed = placed_item(
                home.village, actor=clerk, title=f"表{i}", person=person, kind="change", position=f"h{i}"
            )
            services.file_attach(actor=clerk, item=filed, upload=scan(f"h{i}.pdf", pdf_bytes(pages=1 + i % 3)))

    add(5, 0)
    successor = home.staff(Role.COUNTY_CLERK, "successor")
    found = handover.handover_start(actor=clerk, from_keeper=clerk, to_keeper=successor)
    urls = [reverse("archives:handover_detail", args=[found.pk]), reverse("archives:person_records", args=[person.pk])]
    counts = []
    for url in urls:
        with CaptureQueriesContext(connection) as five:
            assert client.get(url).status_code == 200
        counts.append(len(five))
    add(20, 5)
    handover.handover_refresh(actor=clerk, handover=found)
    for url, count in zip(urls, counts, strict=True):
        with django_assert_max_num_queries(count):
            assert client.get(url).status_code == 200


def test_the_retention_list_shows_each_items_person_scan_and_loan(home, clerk, person):
    due = placed_item(home.village, actor=clerk, kind="monthly_report", year=2012, title="2012年月报", person=person)
    services.file_attach(actor=clerk, item=due, upload=scan("补助.pdf", pdf_bytes(pages=3)))
    lending.loan_open(actor=clerk, item=due, kind="read", borrower="档案员", purpose="鉴定前查阅", due_on=TODAY)

    page = client_for(clerk).get(reverse("archives:retention"))

    [row] = page.context["page"].object_list
    assert (row.has_file, row.file_pages, row.on_loan, row.person) == (True, 3, True, person)
    body = text(page)
    assert "✓（3）" in body and "借出" in body and "李秀英" in body


# --- reading an item is logged --------------------------------------------------------------------------------------


def test_each_opening_of_an_item_is_logged_with_one_insert(home, clerk, item):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    agent = home.staff(Role.VILLAGE_AGENT)
    url = reverse("archives:item_detail", args=[item.pk])

    reader = client_for(agent)
    with CaptureQueriesContext(connection) as queries:
        assert reader.get(url).status_code == 200
    # (read before the next request, which empties the connection's log)
    writes = [query["sql"] for query in queries.captured_queries if query["sql"].startswith(("INSERT", "UPDATE"))]
    assert len(writes) == 1 and writes[0].startswith('INSERT INTO "archives_archiveevent"')
    client_for(clerk).get(url)

    reads = ArchiveEvent.objects.filter(item=item, action="record_read").order_by("id")
    assert [(event.actor, event.region_code) for event in reads] == [
        (agent, item.region_code),
        (clerk, item.region_code),
    ]
    # the log on the page says what it was
    assert "查阅档案" in text(client_for(clerk).get(url))


def test_the_move_form_is_offered_only_to_who_may_move_the_paper(home, clerk, item):
    # the paper is in the county's room, kept by the county's clerk
    url = reverse("archives:item_detail", args=[item.pk])
    township = home.staff(Role.TOWNSHIP_CLERK)
    assert 'id="place-form"' in text(client_for(clerk).get(url))
    assert 'id="place-form"' not in text(client_for(township).get(url))

    forged = client_for(township).post(
        reverse("archives:item_place", args=[item.pk]),
        {"room": "一号库房", "cabinet": "A01", "box": "x", "position": "9"},
    )
    assert forged.status_code == 400 and "才能移动" in text(forged)
    too_long = client_for(clerk).post(
        reverse("archives:item_place", args=[item.pk]),
        {"room": "一号库房", "cabinet": "A01", "box": "2024-001", "position": "9" * 25},
    )
    assert too_long.status_code == 400 and "盒内序号最多20个字。" in text(too_long)
    item.refresh_from_db()
    assert item.position == "1"


# --- formulas typed into titles stay text in every export -------------------------------------------------------


def _sheet(response) -> list[tuple]:
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return list(load_workbook(io.BytesIO(body)).active.iter_rows(values_only=True))


def test_text_typed_as_a_formula_is_exported_as_text(home, clerk, person):
    trap = placed_item(
        home.village, actor=clerk, title="=1+1", person=person, room="=A1", cabinet="+1", box="@x", position="-1"
    )
    lending.loan_open(actor=clerk, item=trap, kind="borrow", borrower="=1+2", purpose="@SUM(A1)", due_on=TODAY)
    successor = home.staff(Role.COUNTY_CLERK, "successor")
    found = handover.handover_start(actor=clerk, from_keeper=clerk, to_keeper=successor)
    client = client_for(clerk)

    search = _sheet(client.get(reverse("archives:item_list"), {"format": "xlsx"}))
    assert (search[1][2], search[1][9]) == ("'=1+1", "'=A1 +1柜 @x盒 第-1号")
    loans = _sheet(client.get(reverse("archives:loans"), {"format": "xlsx"}))
    assert (loans[1][1], loans[1][3], loans[1][5]) == ("'=1+1", "'=1+2", "'@SUM(A1)")
    inventory = _sheet(client.get(reverse("archives:handover_detail", args=[found.pk]), {"format": "xlsx"}))
    assert (inventory[2][3], inventory[2][5], inventory[2][7]) == ("'=1+1", "'=A1 +1柜 @x盒 第-1号", "'=1+2")
    register = _sheet(
        client.get(reverse("archives:register"), {"region": home.village.code, "year": "2024", "format": "xlsx"})
    )
    assert (register[2][3], register[2][9], register[2][10], register[2][11], register[2][12]) == (
        "'=1+1",
        "'=A1",
        "'+1",
        "'@x",
        "'-1",
    )


# --- 监交 in the pages ---------------------------------------------------------------------------------------------


def test_a_clerk_hands_over_for_a_keeper_who_has_left(home, clerk):
    gone = home.staff(Role.TOWNSHIP_CLERK, "gone_keeper")
    kept = placed_item(home.village, actor=clerk, keeper=gone, title="离岗人员保管的登记表", position="7")
    gone.is_active = False
    gone.save()
    successor = home.staff(Role.TOWNSHIP_CLERK, "successor")
    client = client_for(clerk)

    # the keeper who left is listed with their papers, and offered as the outgoing keeper
    custody = client.get(reverse("archives:custody"), {"keeper": gone.pk})
    assert custody.status_code == 200 and kept.archive_no in text(custody) and "已离岗" in text(custody)
    form = client.get(reverse("archives:handover_create"), {"from_keeper": gone.pk})
    assert gone in form.context["form"].fields["from_keeper"].queryset
    assert gone not in form.context["form"].fields["to_keeper"].queryset

    started = client.post(reverse("archives:handover_create"), {"from_keeper": gone.pk, "to_keeper": successor.pk})
    found = HandOver.objects.get(from_keeper=gone)
    assert started.status_code == 302
    client.post(reverse("archives:handover_check_all", args=[found.pk]))

    # the clerk, not the receiver, is offered the supervisor's signature
    assert "监交人代移交人签字" in text(client.get(reverse("archives:handover_detail", args=[found.pk])))
    assert "监交人代移交人签字" not in text(
        client_for(successor).get(reverse("archives:handover_detail", args=[found.pk]))
    )
    client.post(reverse("archives:handover_sign_out", args=[found.pk]))
    client_for(successor).post(reverse("archives:handover_sign_in", args=[found.pk]))
    found.refresh_from_db()
    kept.refresh_from_db()
    assert (found.status, kept.keeper) == (HandOverStatus.DONE, successor)
    assert f"监交人 {clerk} 代为签字" in ArchiveEvent.objects.get(action="handover_signed_out").note
