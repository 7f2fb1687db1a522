"""Every source app files its papers into the archives, through its real service, once per record.

Archive numbers are <township or county, 9 digits>-<year>-<class>-<sequence>; the classes are those of the
standard kinds (01 参保登记表 … 12 并轨数据包). Retention counts from the year after the record's year: a 100-year
record of 2026 is kept to 2126-12-31, a 30-year one of 2026 to 2056-12-31; permanent ones have no end.
Records stamped when they are entered (applications, claims, packages) are of this year: ``THIS_YEAR``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from agencies.errors import Conflict, DomainError
from agencies.models import Role
from agencies.records import Kind
from agencies.tests.factories import region_line
from archives.models import ArchiveItem
from benefits import payroll
from benefits import services as benefit_services
from benefits.models import ClaimStatus
from benefits.tests.factories import make_award, make_contributor, make_parameters
from contributions import services as contribution_services
from contributions.models import Contribution, ContributionKind, InterestRate
from contributions.tests.factories import make_policy
from enrollment import idnumber
from enrollment import services as enrollment_services
from enrollment.models import CancellationReason, SpecialGroup
from enrollment.tests.factories import make_person
from funds.batches import receipt_settle, result_receive
from funds.models import ReceiptStatus, ResultReceipt
from funds.tests.bank_factories import issue_deduct, make_partner, make_payers, result_file
from migration import testload
from migration.export import package_export
from migration.models import PackageOrigin
from migration.tests.export_factories import freeze, source_world
from migration.tests.testload_factories import build_zip, make_scene

pytestmark = pytest.mark.django_db

THIS_YEAR = timezone.localdate().year
ACCOUNT = "6228480012345678901"


def filed(kind: str, source) -> ArchiveItem:
    """The one item of ``kind``, which must record ``source``."""
    items = list(ArchiveItem.objects.filter(kind__code=kind))
    assert len(items) == 1, items
    [item] = items
    assert item.source == source
    return item


def found(text: str) -> set[int]:
    return set(ArchiveItem.objects.filter(search_text__contains=text).values_list("pk", flat=True))


@pytest.fixture
def line():
    home = region_line()  # 320412 / 320412101 / 320412101201
    home.pooling_region.scheme_started_on = dt.date(2009, 7, 1)
    home.pooling_region.save()
    return home


# --- enrollment ---------------------------------------------------------------------------------------------


def register(line, actor, *, name="李秀英", number=None):
    return enrollment_services.registration_submit(
        actor=actor,
        village=line.village,
        id_number=number or idnumber.make("320412", dt.date(1975, 3, 8), 22),
        data={"name": name, "phone": "13800000000", "bank_code": "103", "bank_account": ACCOUNT},
    )


def test_a_registration_is_filed_under_its_village_once_whatever_its_corrections(line):
    agent = line.staff(Role.VILLAGE_AGENT)
    # when a village agent enters a registration
    application = register(line, agent)
    # then its form is filed under the village, this year, for ever, with its fields searchable
    item = filed(Kind.REGISTRATION, application)
    person = application.person
    assert (item.region_code, item.year, item.person, item.filed_by) == ("320412101201", THIS_YEAR, person, agent)
    assert item.archive_no == f"320412101-{THIS_YEAR}-01-000001"
    assert item.retain_until is None
    assert item.title == f"参保登记表 李秀英 {idnumber.mask(person.id_number)}"
    assert item.fields["村（社区）"] == line.village.name
    assert item.fields["联系电话"] == "13800000000"
    assert found("李秀英") == found(person.id_number) == found("13800000000") == {item.pk}
    # the bank account only masked: its first four and last four digits
    assert item.fields["银行账号"] == "6228***********8901"
    assert found(ACCOUNT) == set()
    # when the township returns it and the agent corrects and resubmits it, it is the same form
    enrollment_services.application_return(
        actor=line.staff(Role.TOWNSHIP_CLERK), application=application, reason="电话有误"
    )
    enrollment_services.application_resubmit(actor=agent, application=application, data={"phone": "13900000000"})
    refiled = filed(Kind.REGISTRATION, application)
    assert (refiled.pk, refiled.archive_no) == (item.pk, item.archive_no)
    # and the archived form is the corrected one: found by the new number, no longer by the old
    assert refiled.fields["联系电话"] == "13900000000"
    assert found("13900000000") == {item.pk} and found("13800000000") == set()
    assert list(refiled.events.filter(action="refiled").values_list("note", flat=True)) == [
        "来源记录内容已更改，档案内容随之更新：联系电话"
    ]


def test_a_registration_resubmitted_with_a_corrected_name_is_found_by_it(line):
    agent = line.staff(Role.VILLAGE_AGENT)
    application = register(line, agent, name="李秀瑛")
    enrollment_services.application_return(
        actor=line.staff(Role.TOWNSHIP_CLERK), application=application, reason="姓名有误"
    )

    enrollment_services.application_resubmit(actor=agent, application=application, data={"name": "李秀英"})

    item = filed(Kind.REGISTRATION, application)
    assert item.title.startswith("参保登记表 李秀英 ")
    assert item.fields["姓名"] == "李秀英"
    assert found("李秀英") == {item.pk} and found("李秀瑛") == set()


def test_a_change_resubmitted_after_return_refiles_what_it_changes(line):
    person = make_person(line.village, name="张三", phone="13800000000")
    agent = line.staff(Role.VILLAGE_AGENT)
    application = enrollment_services.change_submit(
        actor=agent, person=person, changes={"phone": "13912345678"}, reason="换号"
    )
    enrollment_services.application_return(
        actor=line.staff(Role.TOWNSHIP_CLERK), application=application, reason="号码有误"
    )

    enrollment_services.application_resubmit(actor=agent, application=application, data={"phone": "13912345679"})

    item = filed(Kind.CHANGE, application)
    assert item.fields["变更后联系电话"] == "13912345679"
    assert found("13912345679") == {item.pk} and found("13912345678") == set()


def test_a_refused_registration_files_nothing(line):
    agent = line.staff(Role.VILLAGE_AGENT)
    first = register(line, agent)
    # the same identity number again is refused, and so is a number with a wrong check character
    with pytest.raises(DomainError) as taken:
        register(line, agent, name="李秀英二")
    assert taken.value.field == "id_number"
    number = first.person.id_number
    wrong = number[:17] + ("0" if number[17] != "0" else "1")
    with pytest.raises(DomainError) as invalid:
        register(line, agent, number=wrong)
    assert invalid.value.field == "id_number"
    filed(Kind.REGISTRATION, first)


def test_a_change_is_filed_with_what_it_changes(line):
    person = make_person(line.village, name="张三", phone="13800000000")
    agent = line.staff(Role.VILLAGE_AGENT)
    application = enrollment_services.change_submit(
        actor=agent, person=person, changes={"phone": "13912345678", "bank_account": ACCOUNT}, reason="换号"
    )
    item = filed(Kind.CHANGE, application)
    assert (item.region_code, item.year, item.person, item.retain_until) == ("320412101201", THIS_YEAR, person, None)
    assert item.archive_no == f"320412101-{THIS_YEAR}-02-000001"
    assert item.title == f"变更登记表 张三 {person.insurance_number}"
    assert item.fields["变更事项"] == "联系电话、银行账号"
    assert (item.fields["变更后联系电话"], item.fields["变更后银行账号"]) == ("13912345678", "6228***********8901")
    assert found("13912345678") == found("换号") == {item.pk}
    # a second change while the first is open is refused and files nothing
    with pytest.raises(Conflict):
        enrollment_services.change_submit(actor=agent, person=person, changes={"phone": "13700000000"})
    assert ArchiveItem.objects.count() == 1


def test_a_cancellation_is_filed_with_its_reason(line):
    person = make_person(line.village, name="王五")
    application = enrollment_services.cancellation_submit(
        actor=line.staff(Role.VILLAGE_AGENT),
        person=person,
        cancellation_reason=CancellationReason.DEATH,
        event_date=dt.date(2026, 1, 5),
        proof=SimpleUploadedFile("death.pdf", b"%PDF-1.4 proof", content_type="application/pdf"),
    )
    item = filed(Kind.CANCELLATION, application)
    assert (item.region_code, item.year, item.person, item.retain_until) == ("320412101201", THIS_YEAR, person, None)
    assert item.archive_no == f"320412101-{THIS_YEAR}-03-000001"
    assert (item.fields["注销原因"], item.fields["事件日期"]) == ("死亡", "2026-01-05")
    assert found("王五") == found("死亡") == {item.pk}


def test_only_a_severe_disability_files_a_disability_aid_form(line):
    person = make_person(line.village, name="赵六")
    clerk = line.staff(Role.TOWNSHIP_CLERK)
    enrollment_services.special_group_record(
        actor=clerk, person=person, group=SpecialGroup.SUBSISTENCE, certified_on=dt.date(2026, 1, 1)
    )
    assert not ArchiveItem.objects.exists()
    membership = enrollment_services.special_group_record(
        actor=clerk,
        person=person,
        group=SpecialGroup.SEVERE_DISABILITY,
        certified_on=dt.date(2026, 2, 1),
        certificate_number="残联〔2026〕7号",
    )
    item = filed(Kind.DISABILITY_AID, membership)
    assert (item.region_code, item.year, item.person, item.filed_by) == ("320412101201", THIS_YEAR, person, clerk)
    assert item.archive_no == f"320412101-{THIS_YEAR}-09-000001"
    # kept 100 years from the year after the record's
    assert item.retain_until == dt.date(THIS_YEAR + 100, 12, 31)
    assert (item.fields["认定部门"], item.fields["认定日期"]) == ("残疾人联合会", "2026-02-01")
    assert found("残联〔2026〕7号") == {item.pk}
    # the same certification again is refused and files nothing more
    with pytest.raises(Conflict):
        enrollment_services.special_group_record(
            actor=clerk, person=person, group=SpecialGroup.SEVERE_DISABILITY, certified_on=dt.date(2026, 2, 1)
        )
    assert ArchiveItem.objects.count() == 1


# --- contributions ------------------------------------------------------------------------------------------


def pay(clerk, person, amount, *, year, paid_on, reference, kind=ContributionKind.REGULAR):
    return contribution_services.contribution_post(
        actor=clerk,
        person=person,
        year=year,
        amount=amount,
        paid_on=paid_on,
        channel="counter",
        bank_code="314",
        bank_reference=reference,
        kind=kind,
    )


def test_a_back_payment_is_filed_in_the_year_it_is_paid_and_a_retry_files_nothing(line):
    make_policy(line)
    clerk = line.staff(Role.TOWNSHIP_CLERK)
    # born 1955: 60 in 2015, fewer than 15 years left at the local start in 2009, so 2012 may be paid back
    older = make_person(line.village, name="王老五", birth_date=dt.date(1955, 3, 1))
    pay(clerk, older, "500", year=2026, paid_on=dt.date(2026, 5, 1), reference="R1")
    assert not ArchiveItem.objects.exists()  # a regular contribution has no form of its own
    back = dict(year=2012, paid_on=dt.date(2026, 5, 1), reference="B1", kind=ContributionKind.BACK_PAYMENT)
    contribution = pay(clerk, older, "500", **back)
    item = filed(Kind.BACK_PAYMENT, contribution)
    assert (item.region_code, item.year, item.person, item.filed_by) == ("320412101201", 2026, older, clerk)
    assert item.archive_no == "320412101-2026-04-000001"
    assert item.retain_until == dt.date(2126, 12, 31)
    assert (item.fields["补缴年度"], item.fields["个人缴费"], item.fields["银行流水号"]) == ("2012", "500.00元", "B1")
    assert found("王老五") == {item.pk}
    # the bank's reference again is the same payment: nothing new
    assert pay(clerk, older, "500", **back).pk == contribution.pk
    assert ArchiveItem.objects.count() == 1 and Contribution.objects.count() == 2


def test_a_collective_subsidy_is_filed_per_village_and_year_once(line):
    make_policy(line)
    clerk = line.staff(Role.TOWNSHIP_CLERK)
    payers = [make_person(line.village, name=f"缴{n}") for n in range(3)]
    for n, person in enumerate(payers[:2]):
        pay(clerk, person, "300", year=2024, paid_on=dt.date(2024, 3, 1), reference=f"R{n}")
    subsidy = contribution_services.collective_subsidy_record(
        actor=clerk, village=line.village, year=2024, amount_per_person="50", decision="村委〔2024〕3号"
    )
    item = filed(Kind.COLLECTIVE_SUBSIDY, subsidy)
    assert (item.region_code, item.year, item.person, item.filed_by) == ("320412101201", 2024, None, clerk)
    assert item.archive_no == "320412101-2024-06-000001"
    assert item.retain_until == dt.date(2124, 12, 31)
    assert (item.fields["每人补助金额"], item.fields["补助人数"]) == ("50.00元", "2")
    assert found("村委〔2024〕3号") == {item.pk}
    # recording again after a third villager paid credits the newcomer and files nothing new
    pay(clerk, payers[2], "300", year=2024, paid_on=dt.date(2024, 4, 1), reference="R9")
    again = contribution_services.collective_subsidy_record(
        actor=clerk, village=line.village, year=2024, amount_per_person="50"
    )
    assert again.persons_credited == 3
    refiled = filed(Kind.COLLECTIVE_SUBSIDY, subsidy)
    assert (refiled.pk, refiled.archive_no) == (item.pk, "320412101-2024-06-000001")
    # the archived roll counts the newcomer: 3 persons now
    assert refiled.fields["补助人数"] == "3"
    assert list(refiled.events.filter(action="refiled").values_list("note", flat=True)) == [
        "来源记录内容已更改，档案内容随之更新：补助人数"
    ]
    # a re-run that credits nobody new leaves the item as it is
    contribution_services.collective_subsidy_record(
        actor=clerk, village=line.village, year=2024, amount_per_person="50"
    )
    assert refiled.events.filter(action="refiled").count() == 1


# --- benefits -----------------------------------------------------------------------------------------------


@pytest.fixture
def pension_line(line):
    line.pooling_region.scheme_started_on = dt.date(2011, 7, 1)
    line.pooling_region.save()
    InterestRate.objects.create(pooling_region=line.pooling_region, year=2025, rate=Decimal("0.01500"))
    make_parameters(line, valid_from=dt.date(2024, 1, 1), per_year_beyond_minimum="2")
    return line


def test_a_claim_is_filed_once_and_a_resubmission_is_the_same_form(pension_line):
    line = pension_line
    person = make_contributor(line, birth_date=dt.date(1965, 3, 10), years=17, name="钱七")
    agent = line.staff(Role.VILLAGE_AGENT)
    claim = benefit_services.claim_submit(
        actor=agent, person=person, bank_code="103", bank_account=ACCOUNT, today=dt.date(2025, 3, 5)
    )
    item = filed(Kind.CLAIM, claim)
    assert (item.region_code, item.year, item.person, item.filed_by) == ("320412101201", THIS_YEAR, person, agent)
    assert item.archive_no == f"320412101-{THIS_YEAR}-08-000001"
    assert item.retain_until is None
    assert (item.fields["待遇类别"], item.fields["符合条件月份"]) == ("按月领取养老金", "2025年04月")
    assert item.fields["发放账号"] == "6228***********8901" and found(ACCOUNT) == set()
    assert found("钱七") == found(person.insurance_number) == {item.pk}
    benefit_services.claim_return(actor=line.staff(Role.TOWNSHIP_CLERK), claim=claim, reason="缺身份证复印件")
    claim = benefit_services.claim_resubmit(actor=agent, claim=claim, today=dt.date(2025, 3, 6))
    assert claim.status == ClaimStatus.SUBMITTED
    assert filed(Kind.CLAIM, claim).pk == item.pk


def test_a_payout_roll_is_filed_when_the_month_is_confirmed_once(pension_line):
    line = pension_line
    person = make_contributor(line, birth_date=dt.date(1965, 3, 10), years=17)
    make_award(line, person, claimed_on=dt.date(2025, 3, 5), approved_on=dt.date(2025, 3, 20))
    officer = line.staff(Role.COUNTY_FUND_OFFICER)
    run = payroll.payroll_prepare(actor=officer, pooling_region=line.pooling_region, month=dt.date(2025, 4, 1))
    rolls = ArchiveItem.objects.filter(kind__code=Kind.PAYOUT_ROLL)
    assert not rolls.exists()  # a draft is no paper yet
    run = payroll.payroll_confirm(actor=officer, run=run)
    item = filed(Kind.PAYOUT_ROLL, run)
    # under the pooling region's own code (its county), in the month's year, kept 30 years
    assert (item.region_code, item.year, item.person, item.filed_by) == ("320412000000", 2025, None, officer)
    assert item.archive_no == "320412000-2025-10-000001"
    assert item.retain_until == dt.date(2055, 12, 31)
    # 227.00 basic + 100.38 from the account for the one pensioner
    assert (item.fields["发放人数"], item.fields["发放总额"]) == ("1", "327.38元")
    assert found(run.funding_request_number) == found("统筹区320412") == {item.pk}
    with pytest.raises(Conflict):
        payroll.payroll_confirm(actor=officer, run=run)
    assert rolls.count() == 1


# --- funds --------------------------------------------------------------------------------------------------


def test_a_bank_receipt_is_filed_once_when_its_settlement_finishes_after_a_resume(line):
    make_policy(line)
    partner = make_partner(line)
    make_payers(line, partner, [300, 500, 1000])
    batch = issue_deduct(line, partner)  # issued 2026-03-02, processed by the bank three days later
    # the file is accepted (its settlement would run after commit) and settled one line per chunk
    receipt = result_receive(partner=partner, batch_no=batch.batch_no, data=result_file(batch, {2: "1001"})).receipt
    ResultReceipt.objects.filter(pk=receipt.pk).update(chunk_size=1)

    def killed(done, total):
        raise RuntimeError("worker killed")

    # when a first run dies after its first chunk
    with pytest.raises(RuntimeError):
        receipt_settle(receipt_id=receipt.pk, progress=killed)
    assert ResultReceipt.objects.get(pk=receipt.pk).status == ReceiptStatus.PROCESSING
    assert not ArchiveItem.objects.exists()
    # then the resumed run finishes and files the receipt, and running it again files nothing
    receipt = receipt_settle(receipt_id=receipt.pk)
    assert receipt.status == ReceiptStatus.SETTLED
    receipt_settle(receipt_id=receipt.pk)
    item = filed(Kind.BANK_RECEIPT, receipt)
    assert (item.region_code, item.year, item.person, item.filed_by) == ("320412000000", 2026, None, None)
    assert item.archive_no == "320412000-2026-11-000001"
    assert item.retain_until == dt.date(2056, 12, 31)
    assert (item.fields["银行"], item.fields["批次号"], item.fields["类型"]) == (
        "农业银行（ABC01）",
        batch.batch_no,
        "代扣",
    )
    # 300 and 1000 taken, the 500 failed
    assert (item.fields["成功笔数"], item.fields["成功金额"], item.fields["失败金额"]) == ("2", "1300.00元", "500.00元")
    assert found(batch.batch_no) == {item.pk}


# --- migration ----------------------------------------------------------------------------------------------


def test_an_exported_package_is_filed_under_the_project_for_ever():
    world = source_world()
    freeze(world)
    package = package_export(actor=world.supervisor, project=world.project)
    item = filed(Kind.MERGER_PACKAGE, package)
    assert world.project.region_code == "320400000000"
    assert (item.region_code, item.year, item.filed_by) == ("320400000000", THIS_YEAR, world.supervisor)
    assert item.archive_no == f"320400000-{THIS_YEAR}-12-000001"
    assert item.retain_until is None
    assert (item.fields["来源"], item.fields["SHA-256"], item.fields["文件名"]) == (
        "本系统导出",
        package.sha256,
        package.file_name,
    )
    assert found(package.sha256) == {item.pk}


def test_an_uploaded_package_is_filed_once_however_often_it_is_uploaded():
    scene = make_scene()
    content = build_zip()
    first = testload.package_upload(
        actor=scene.supervisor, project=scene.project, uploaded_file=SimpleUploadedFile("legacy.zip", content)
    )
    again = testload.package_upload(
        actor=scene.supervisor, project=scene.project, uploaded_file=SimpleUploadedFile("again.zip", content)
    )
    assert again.pk == first.pk and first.origin == PackageOrigin.UPLOAD
    item = filed(Kind.MERGER_PACKAGE, first)
    assert (item.region_code, item.fields["来源"], item.fields["文件名"]) == ("320400000000", "上传", "legacy.zip")
    assert item.fields["大小（字节）"] == str(len(content))
