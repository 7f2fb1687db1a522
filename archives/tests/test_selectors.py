"""Archive reads: search by every filter, a person's records, custody, keepers, events, and the scope on each."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from dataclasses import dataclass

import pytest
from django.http import Http404
from django.utils import timezone

from agencies.models import Region, Role, User
from agencies.tests.factories import RegionLine, UserFactory, region_line
from archives import selectors, services
from archives.models import ArchiveFile, ArchiveItem, ArchiveKind, Loan, LoanKind
from enrollment import idnumber
from enrollment.models import InsuredPerson
from enrollment.tests.factories import make_person

pytestmark = pytest.mark.django_db

_digest = itertools.count(1)


def kind(code: str) -> ArchiveKind:
    return ArchiveKind.objects.get(code=code)


def attach(item: ArchiveItem, *, by: User, pages: int) -> ArchiveFile:
    """A scan's row as file_attach leaves it (reads never open the content)."""
    n = next(_digest)
    return ArchiveFile.objects.create(
        item=item,
        file=f"2025/06/scan{n}.pdf",
        original_name=f"扫描件{n}.pdf",
        content_type="application/pdf",
        size=1000 + n,
        sha256=hashlib.sha256(str(n).encode()).hexdigest(),
        pages=pages,
        uploaded_by=by,
    )


def destroy(item: ArchiveItem) -> None:
    """What an approved destruction leaves: the item marked, its files' content gone (rows kept)."""
    now = timezone.now()
    ArchiveItem.objects.filter(pk=item.pk).update(destroyed_at=now)
    ArchiveFile.objects.filter(item=item).update(deleted_at=now)


def lend(item: ArchiveItem, *, by: User) -> Loan:
    return Loan.objects.create(
        item=item,
        kind=LoanKind.BORROW,
        borrower="县审计局 张审计",
        purpose="审计核对",
        due_on=dt.date(2099, 1, 1),
        lent_by=by,
    )


@dataclass
class Archive:
    """Two villages (A, B) of township 101, township 102 of the same county, and another county (320411)."""

    line_a: RegionLine
    village_b: Region
    line_t2: RegionLine
    line_c2: RegionLine
    county_clerk: User
    town_clerk: User
    t2_clerk: User
    c2_clerk: User
    wang: InsuredPerson
    li: InsuredPerson
    zhao: InsuredPerson
    other_wang: InsuredPerson
    items: dict[str, ArchiveItem]

    def no(self, *names: str) -> list[str]:
        return [self.items[name].archive_no for name in names]


def build_archive() -> Archive:
    """The items, by name (year 2025 unless said; paper = placed in the archive room):

    reg_wang    A  参保登记表  王建国  {村: 新安村, 档次: 300元}  paper, 1 file (3 pages), on loan
    back_wang   A  补缴申请表 2024 王建国 {档次: 500元}           1 file (2 pages)
    change_wang A  变更登记表  王建国                             paper, 1 file — destroyed
    reg_li      B  参保登记表  李秀英  {村: 红星村, 档次: 300元}  paper
    roll_b      B  个人缴费明细表 2024 {村: 红星村}
    claim_li    B  待遇申请表  李秀英                             1 file (4 pages)
    report_town township 101  年度报表                            paper
    reg_zhao    township 102's village  参保登记表 赵六 {档次: 300元} paper (kept by 102's clerk), 1 file
    reg_other   county 320411's village 参保登记表 王建国 {档次: 300元}
    """
    line_a = region_line()
    village_b = region_line(village="202").village
    line_t2 = region_line(township="102")
    line_c2 = region_line(county="320411")
    county_clerk = line_a.staff(Role.COUNTY_CLERK)
    town_clerk = line_a.staff(Role.TOWNSHIP_CLERK)
    t2_clerk = line_t2.staff(Role.TOWNSHIP_CLERK)
    c2_clerk = line_c2.staff(Role.COUNTY_CLERK)
    wang = make_person(line_a.village, name="王建国", id_number=idnumber.make("320412", dt.date(1960, 1, 2), 11))
    li = make_person(village_b, name="李秀英", id_number=idnumber.make("320412", dt.date(1965, 3, 8), 22))
    zhao = make_person(line_t2.village, name="赵六", id_number=idnumber.make("320412", dt.date(1970, 7, 9), 33))
    other_wang = make_person(line_c2.village, name="王建国", id_number=idnumber.make("320411", dt.date(1960, 1, 2), 11))

    def filed(region, code, title, *, person=None, year=2025, fields=None, by=county_clerk):
        return services.item_create(
            actor=by, kind=kind(code), region=region, year=year, title=title, person=person, fields=fields or {}
        )

    items = {
        "reg_wang": filed(
            line_a.village,
            "registration",
            "王建国参保登记表",
            person=wang,
            fields={"村（社区）": "新安村", "缴费档次": "300元"},
        ),
        "back_wang": filed(
            line_a.village, "back_payment", "王建国保费补缴申请表", person=wang, year=2024, fields={"缴费档次": "500元"}
        ),
        "change_wang": filed(
            line_a.village, "change", "王建国变更登记表", person=wang, fields={"变更项目": "联系电话"}
        ),
        "reg_li": filed(
            village_b,
            "registration",
            "李秀英参保登记表",
            person=li,
            fields={"村（社区）": "红星村", "缴费档次": "300元"},
        ),
        "roll_b": filed(
            village_b, "contribution_roll", "红星村2024年度个人缴费明细表", year=2024, fields={"村（社区）": "红星村"}
        ),
        "claim_li": filed(
            village_b, "claim", "李秀英待遇申请表", person=li, fields={"领取方式": "银行代发", "开户行": "ICBC"}
        ),
        "report_town": filed(line_a.township, "annual_report", "2025年度报表"),
        "reg_zhao": filed(line_t2.village, "registration", "赵六参保登记表", person=zhao, fields={"缴费档次": "300元"}),
        "reg_other": filed(
            line_c2.village,
            "registration",
            "王建国参保登记表",
            person=other_wang,
            fields={"缴费档次": "300元"},
            by=c2_clerk,
        ),
    }
    # Shelf positions chosen so the custody's shelf order differs from the archive-number order.
    for name, position in (("report_town", "1"), ("reg_li", "2"), ("reg_wang", "10"), ("change_wang", "3")):
        services.paper_place(
            actor=town_clerk, item=items[name], room="一号库房", cabinet="A01", box="2025-001", position=position
        )
    services.paper_place(actor=t2_clerk, item=items["reg_zhao"], room="档案室", cabinet="1", box="1", position="1")
    attach(items["reg_wang"], by=town_clerk, pages=3)
    attach(items["back_wang"], by=town_clerk, pages=2)
    attach(items["change_wang"], by=town_clerk, pages=1)
    attach(items["claim_li"], by=town_clerk, pages=4)
    attach(items["reg_zhao"], by=t2_clerk, pages=1)
    lend(items["reg_wang"], by=town_clerk)
    destroy(items["change_wang"])
    items = {name: ArchiveItem.objects.get(pk=item.pk) for name, item in items.items()}
    return Archive(
        line_a,
        village_b,
        line_t2,
        line_c2,
        county_clerk,
        town_clerk,
        t2_clerk,
        c2_clerk,
        wang,
        li,
        zhao,
        other_wang,
        items,
    )


@pytest.fixture
def archive() -> Archive:
    return build_archive()


def found(user, **filters) -> list[str]:
    return list(selectors.items_search(user=user, **filters).values_list("archive_no", flat=True))


# --- search ------------------------------------------------------------------------------------------------------


def test_without_filters_lists_what_is_kept_in_scope_in_place_year_number_order(archive):
    assert found(archive.county_clerk) == archive.no(
        "report_town", "back_wang", "reg_wang", "roll_b", "reg_li", "claim_li", "reg_zhao"
    )


def test_by_name_finds_the_persons_records_within_the_scope_only(archive):
    # The other county's 王建国 stays out; the destroyed 变更登记表 is left out.
    assert found(archive.county_clerk, q="王建国") == archive.no("back_wang", "reg_wang")
    assert found(archive.county_clerk, q=" 李秀英 ") == archive.no("reg_li", "claim_li")
    assert found(archive.c2_clerk, q="王建国") == archive.no("reg_other")


def test_by_identity_number_in_any_case_and_width(archive):
    assert found(archive.county_clerk, q=archive.li.id_number) == archive.no("reg_li", "claim_li")
    full_width = archive.li.id_number.translate(str.maketrans("0123456789X", "０１２３４５６７８９Ｘ"))
    assert found(archive.county_clerk, q=full_width.lower()) == archive.no("reg_li", "claim_li")
    # A part of a number, as written on the papers.
    assert found(archive.county_clerk, q=archive.li.id_number[:14]) == archive.no("reg_li", "claim_li")


def test_by_insurance_number(archive):
    assert found(archive.county_clerk, q=archive.wang.insurance_number) == archive.no("back_wang", "reg_wang")


def test_numbers_given_or_corrected_after_filing_match_through_the_person(archive):
    # given: the registration was filed before the insurance number was given, and the identity number is
    # corrected later (the papers' search text still holds the old number)
    old_number = archive.zhao.id_number
    new_number = idnumber.make("320412", dt.date(1970, 7, 9), 35)
    InsuredPerson.objects.filter(pk=archive.zhao.pk).update(id_number=new_number, insurance_number="32041299990001")
    # when / then
    assert found(archive.county_clerk, q=new_number) == archive.no("reg_zhao")
    assert found(archive.county_clerk, q="32041299990001") == archive.no("reg_zhao")
    assert found(archive.county_clerk, q=old_number) == archive.no("reg_zhao")  # as written on the form


def test_an_archive_number_matches_exactly(archive):
    number = archive.items["reg_li"].archive_no
    assert found(archive.county_clerk, q=number) == [number]
    assert found(archive.county_clerk, q=f" {number} ") == [number]
    # A shorter number is not an archive number: nothing holds it as text.
    assert found(archive.county_clerk, q=number[:-1]) == []
    # Another township's item by its number, out of scope.
    assert found(archive.town_clerk, q=archive.items["reg_zhao"].archive_no) == []


def test_full_text_of_the_forms_fields(archive):
    assert found(archive.county_clerk, q="300元") == archive.no("reg_wang", "reg_li", "reg_zhao")
    assert found(archive.county_clerk, q="红星村") == archive.no("roll_b", "reg_li")
    assert found(archive.county_clerk, q="新安村") == archive.no("reg_wang")
    assert found(archive.county_clerk, q="银行代发") == archive.no("claim_li")
    assert found(archive.county_clerk, q="icbc") == archive.no("claim_li")  # letters in any case
    assert found(archive.county_clerk, q="补缴申请") == archive.no("back_wang")  # the title
    # LIKE's wildcards are plain characters here.
    assert found(archive.county_clerk, q="%") == []
    assert found(archive.county_clerk, q="300_") == []


def test_by_kind_and_year(archive):
    assert found(archive.county_clerk, kind=kind("registration")) == archive.no("reg_wang", "reg_li", "reg_zhao")
    assert found(archive.county_clerk, year=2024) == archive.no("back_wang", "roll_b")
    assert found(archive.county_clerk, kind=kind("registration"), year=2024) == []
    assert found(archive.county_clerk, q="300元", kind=kind("registration"), year=2025) == archive.no(
        "reg_wang", "reg_li", "reg_zhao"
    )


def test_by_place_a_townships_code_lists_all_its_villages(archive):
    township_101 = archive.no("report_town", "back_wang", "reg_wang", "roll_b", "reg_li", "claim_li")
    assert found(archive.county_clerk, region_code=archive.line_a.township.code) == township_101  # 320412101000
    assert found(archive.county_clerk, region_code="320412101") == township_101
    assert found(archive.county_clerk, region_code=archive.village_b.code) == archive.no("roll_b", "reg_li", "claim_li")
    assert found(archive.county_clerk, region_code=archive.line_t2.township.code) == archive.no("reg_zhao")
    assert len(found(archive.county_clerk, region_code=archive.line_a.county.code)) == 7
    # Another county's place: nothing, the scope still applies.
    assert found(archive.county_clerk, region_code=archive.line_c2.county.code) == []


def test_by_paper_and_electronic_copy(archive):
    assert found(archive.county_clerk, paper=True) == archive.no("report_town", "reg_wang", "reg_li", "reg_zhao")
    assert found(archive.county_clerk, paper=False) == archive.no("back_wang", "roll_b", "claim_li")
    assert found(archive.county_clerk, electronic=True) == archive.no("back_wang", "reg_wang", "claim_li", "reg_zhao")
    assert found(archive.county_clerk, electronic=False) == archive.no("report_town", "roll_b", "reg_li")
    assert found(archive.county_clerk, paper=True, electronic=True) == archive.no("reg_wang", "reg_zhao")
    assert found(archive.county_clerk, paper=False, electronic=False) == archive.no("roll_b")


def test_destroyed_items_only_when_asked(archive):
    assert archive.items["change_wang"].archive_no not in found(archive.county_clerk)
    assert found(archive.county_clerk, q="变更登记", destroyed=True) == archive.no("change_wang")


def test_the_flags_are_annotated(archive):
    rows = {item.archive_no: item for item in selectors.items_search(user=archive.county_clerk, destroyed=True)}
    reg_wang = rows[archive.items["reg_wang"].archive_no]
    assert (reg_wang.has_file, reg_wang.file_count, reg_wang.file_pages, reg_wang.on_loan) == (True, 1, 3, True)
    reg_li = rows[archive.items["reg_li"].archive_no]
    assert (reg_li.has_file, reg_li.file_count, reg_li.file_pages, reg_li.on_loan) == (False, 0, 0, False)
    # A destroyed item's copies are deleted with it.
    change = rows[archive.items["change_wang"].archive_no]
    assert (change.has_file, change.file_count) == (False, 0)
    # A returned loan is no longer out.
    Loan.objects.filter(item=archive.items["reg_wang"]).update(returned_at=timezone.now())
    assert not selectors.items_search(user=archive.county_clerk, q=reg_wang.archive_no).get().on_loan


def test_a_second_copy_counts(archive):
    attach(archive.items["reg_li"], by=archive.town_clerk, pages=2)
    attach(archive.items["reg_li"], by=archive.town_clerk, pages=5)
    row = selectors.items_search(user=archive.county_clerk, q=archive.items["reg_li"].archive_no).get()
    assert (row.has_file, row.file_count, row.file_pages) == (True, 2, 7)


def test_a_township_clerk_searches_only_the_township(archive):
    assert found(archive.town_clerk) == archive.no(
        "report_town", "back_wang", "reg_wang", "roll_b", "reg_li", "claim_li"
    )
    assert found(archive.town_clerk, q="300元") == archive.no("reg_wang", "reg_li")
    assert found(archive.town_clerk, q=archive.zhao.id_number) == []
    assert found(archive.town_clerk, region_code=archive.line_t2.township.code) == []
    assert found(archive.t2_clerk) == archive.no("reg_zhao")


def test_a_village_agent_searches_only_the_village(archive):
    agent = archive.line_a.staff(Role.VILLAGE_AGENT)
    assert found(agent) == archive.no("back_wang", "reg_wang")


def test_search_over_thirty_items_is_one_query(archive, django_assert_num_queries):
    # given: thirty kept items, each with a place, a keeper, a copy and a loan to show
    for n in range(24):
        item = services.item_create(
            actor=archive.county_clerk,
            kind=kind("registration"),
            region=archive.line_a.village,
            year=2023,
            title=f"参保登记表{n}",
            person=archive.wang,
        )
        services.paper_place(
            actor=archive.town_clerk, item=item, room="二号库房", cabinet="B", box="1", position=str(n + 1)
        )
        attach(item, by=archive.town_clerk, pages=1)
        if n % 3 == 0:
            lend(item, by=archive.town_clerk)

    def shown(rows):
        return [
            (
                row.archive_no,
                row.kind.name,
                row.person.name if row.person else "",
                str(row.location or ""),
                str(row.keeper or ""),
                row.has_file,
                row.file_count,
                row.on_loan,
            )
            for row in rows
        ]

    # when / then: the list and its flags in one query; a number search adds the person's lookup
    with django_assert_num_queries(1):
        rows = shown(selectors.items_search(user=archive.county_clerk))
    assert len(rows) == 31
    with django_assert_num_queries(2):
        rows = shown(selectors.items_search(user=archive.county_clerk, q=archive.wang.id_number))
    assert len(rows) == 26
    with django_assert_num_queries(3):
        rows = shown(
            selectors.items_search(
                user=archive.county_clerk,
                q=archive.wang.id_number,
                region_code=archive.line_a.township.code,
                paper=True,
                electronic=True,
            )
        )
    assert len(rows) == 25


# --- one item, one file ------------------------------------------------------------------------------------------


def test_item_and_file_are_read_in_scope_and_404_outside(archive):
    reg_zhao = archive.items["reg_zhao"]
    assert selectors.item_get(user=archive.t2_clerk, pk=reg_zhao.pk) == reg_zhao
    assert selectors.item_get(user=archive.county_clerk, pk=reg_zhao.pk).on_loan is False
    scan = reg_zhao.files.get()
    assert selectors.file_get(user=archive.county_clerk, pk=scan.pk) == scan
    with pytest.raises(Http404):
        selectors.item_get(user=archive.town_clerk, pk=reg_zhao.pk)
    with pytest.raises(Http404):
        selectors.file_get(user=archive.town_clerk, pk=scan.pk)
    with pytest.raises(Http404):
        selectors.item_get(user=archive.county_clerk, pk=archive.items["reg_other"].pk)
    with pytest.raises(Http404):
        selectors.item_get(user=archive.county_clerk, pk="not-a-number")


# --- a person's records, custody, keepers -------------------------------------------------------------------------


def test_a_persons_records_newest_first_with_their_files(archive, django_assert_num_queries):
    with django_assert_num_queries(2):
        records = [
            (item.archive_no, [scan.pages for scan in item.files.all()])
            for item in selectors.person_records(user=archive.county_clerk, person=archive.wang)
        ]
    # The 2025 registration before the 2024 back payment (filed later); the destroyed change is left out.
    assert records == [(archive.items["reg_wang"].archive_no, [3]), (archive.items["back_wang"].archive_no, [2])]
    assert list(selectors.person_records(user=archive.t2_clerk, person=archive.wang)) == []


def test_custody_in_shelf_order_kept_items_only_and_in_scope(archive):
    # Position 10 comes after 2 and 3 (the destroyed item's place is not listed).
    assert list(
        selectors.custody(user=archive.county_clerk, keeper=archive.town_clerk).values_list("archive_no", flat=True)
    ) == archive.no("report_town", "reg_li", "reg_wang")
    assert list(selectors.custody(user=archive.county_clerk, keeper=archive.t2_clerk)) == [archive.items["reg_zhao"]]
    # Another township's keeper holds nothing this clerk may see.
    assert list(selectors.custody(user=archive.town_clerk, keeper=archive.t2_clerk)) == []


def test_keepers_are_active_staff_in_scope(archive):
    agent = archive.line_a.staff(Role.VILLAGE_AGENT)
    UserFactory(username="left", role=Role.TOWNSHIP_CLERK, agency=archive.line_a.agency("township"), is_active=False)
    UserFactory(username="nobody", role=Role.TOWNSHIP_CLERK)  # no agency
    assert list(selectors.keepers(user=archive.county_clerk)) == [
        archive.county_clerk,
        archive.town_clerk,
        agent,
        archive.t2_clerk,
    ]
    assert list(selectors.keepers(user=archive.town_clerk)) == [archive.town_clerk, agent]
    assert list(selectors.keepers(user=archive.county_clerk, roles=[Role.TOWNSHIP_CLERK])) == [
        archive.town_clerk,
        archive.t2_clerk,
    ]


# --- lists ---------------------------------------------------------------------------------------------------------


def test_kinds_locations_and_events(archive):
    assert [k.number for k in selectors.kinds()][:3] == ["01", "02", "03"]
    assert [str(place) for place in selectors.locations(user=archive.town_clerk)] == ["一号库房 A01柜 2025-001盒"]
    assert len(selectors.locations(user=archive.county_clerk)) == 2
    assert list(selectors.locations(user=archive.c2_clerk)) == []
    reg_wang = archive.items["reg_wang"]
    assert [e.action for e in selectors.events(user=archive.county_clerk, item=reg_wang)] == ["placed", "filed"]
    assert selectors.events(user=archive.county_clerk, item=reg_wang)[0].actor == archive.town_clerk
    assert list(selectors.events(user=archive.t2_clerk, item=reg_wang)) == []
