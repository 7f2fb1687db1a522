"""End to end in a real browser: a village agent registers a resident, and the portal refuses the same
identity number a second time, with the as-you-type check doing its work in between.

Drives Debian's chromium through Playwright against pytest-django's live server. Without chromium the
test is skipped, unless PORTAL_REQUIRE_BROWSER=1 (CI), where a missing browser is a failure.
Screenshots go to test-artifacts/ at the project root, for a person to look at.
"""

import datetime as dt
import re
from pathlib import Path

import pytest

from agencies.models import Role
from agencies.tests.factories import region_line
from enrollment import idnumber
from enrollment.models import Application, InsuredPerson, PersonStatus

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
PASSWORD = "pass-12345"  # agencies.tests.factories.UserFactory


@pytest.fixture
def agent():
    line = region_line()
    # Real-looking names, so the screenshots read like the portal in use.
    for region, name in ((line.county, "武进区"), (line.township, "湖塘镇"), (line.village, "幸福村")):
        region.name = name
        region.save()
    agency = line.agency("village")
    agency.name = "幸福村代办点"
    agency.save()
    return line.staff(Role.VILLAGE_AGENT, username="xingfu_agent")


def _sign_in(page, user) -> None:
    page.goto("/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))


def _shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000  # a real page, not a blank one
    return path


def test_village_agent_registers_a_resident_and_is_warned_of_a_duplicate(page, agent):
    from playwright.sync_api import expect

    birth = dt.date(1975, 3, 8)
    number = idnumber.make(agent.agency.region.code[:6], birth, 22)
    age = idnumber.age_on(birth, dt.date.today())

    # given: the agent signs in
    page.goto("/login/")
    expect(page.locator("h1")).to_have_text("工作人员登录")
    page.fill("#id_username", agent.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator(".who")).to_contain_text("村协理员")
    expect(page.locator(".who")).to_contain_text("幸福村代办点")
    # the agent's home is their work: this month's collecting and confirming first, then their queue
    expect(page.locator("h2").first).to_have_text("本月工作")
    expect(page.locator("h2", has_text="待办：")).to_be_visible()
    _shot(page, "home.png")

    # when: they open the registration form and type the identity number
    page.click("a.button.big")
    expect(page.locator("h1")).to_have_text("参保登记表")
    expect(page.locator("#id_village")).to_have_value(agent.agency.region.code)  # their one village, chosen
    page.fill("#id_name", "李秀英")
    page.locator("#id_id_number").press_sequentially(number, delay=15)

    # then: the derived birth date, sex and age appear without a page load
    derived = page.locator("#id-derived")
    expect(derived).to_contain_text("1975-03-08")
    expect(derived).to_contain_text("女")
    expect(derived).to_contain_text(f"{age}周岁")
    expect(page.locator("#id-check-error")).to_have_count(0)
    page.fill("#id_phone", "13800000000")
    page.fill("#id_address", "湖塘镇幸福村3组12号")
    _shot(page, "registration-form.png")

    # when: they submit
    page.click("text=提交参保登记")

    # then: the application page, with the person saved as pending
    expect(page.locator(".messages")).to_contain_text("已提交李秀英的参保登记表")
    expect(page.locator("h1")).to_contain_text("参保登记")
    expect(page.locator("h1")).to_contain_text("待乡镇审核")
    expect(page.get_by_role("cell", name="湖塘镇幸福村3组12号")).to_be_visible()  # the form's contents
    person = InsuredPerson.objects.get(id_number=number)
    assert person.status == PersonStatus.PENDING
    assert Application.objects.filter(person=person).count() == 1
    _shot(page, "application-detail.png")

    # the person's record: full identity number, history with who and why
    page.click(f"a[href='/enrollment/persons/{person.pk}/']")
    expect(page.locator("h1")).to_contain_text("李秀英")
    expect(page.locator("dl.record")).to_contain_text(number)
    expect(page.locator("dl.record")).to_contain_text("幸福村")
    expect(page.get_by_text("参保登记申请").first).to_be_visible()
    _shot(page, "person-detail.png")

    # the person list finds them by pinyin initials, identity number masked
    page.click("nav >> text=参保人查询")
    page.locator("#q").press_sequentially("lxy", delay=30)
    expect(page).to_have_url(re.compile(r"/enrollment/persons/\?q=lxy"))  # pushed, so back and reload work
    rows = page.locator("#person-results tbody tr")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text(idnumber.mask(number))
    expect(rows).not_to_contain_text(number)
    _shot(page, "person-list.png")

    # when: a second registration starts with the same identity number
    page.click("nav >> text=参保登记")
    page.fill("#id_name", "李秀英")
    page.locator("#id_id_number").press_sequentially(number, delay=15)

    # then: the portal says it is taken and links the person already registered
    warning = page.locator("#id-registered")
    expect(warning).to_contain_text("该身份证号已经参保登记")
    expect(warning).to_contain_text("登记审核中")
    expect(warning.locator("a")).to_have_attribute("href", f"/enrollment/persons/{person.pk}/")
    expect(page.locator("#id-derived")).to_contain_text("1975-03-08")
    _shot(page, "registration-duplicate.png")

    # and submitting anyway is refused next to the field, saving nothing
    page.click("text=提交参保登记")
    expect(page.locator("#field-id_number .errorlist")).to_contain_text("请勿重复登记")
    assert InsuredPerson.objects.filter(id_number=number).count() == 1
    assert Application.objects.count() == 1
    _shot(page, "registration-refused.png")

    assert page.js_errors == []


def test_a_clerk_reads_a_persons_account_and_prints_the_statement(page, agent):
    from playwright.sync_api import expect

    from enrollment.tests.factories import make_person
    from funds.tests.ledger_data import account_with_history

    # given: a resident of 幸福村 with two years of money on the account, and the township clerk
    line = region_line()
    clerk = line.staff(Role.TOWNSHIP_CLERK, username="hutang_clerk")
    agency = clerk.agency
    agency.name = "湖塘镇社保所"
    agency.save()
    person = make_person(agent.agency.region, name="王秀兰", phone="13900000000", address="湖塘镇幸福村5组8号")
    account_with_history(person)

    page.goto("/login/")
    page.fill("#id_username", clerk.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator(".who")).to_contain_text("乡镇经办员")

    # when: they open the person's record and follow the account link
    page.goto(f"/enrollment/persons/{person.pk}/")
    expect(page.locator("#account-section")).to_contain_text("953.83")
    page.click("#account-section >> text=个人账户明细")

    # then: the balance by component, the entries with a running balance, the interest of 2023
    expect(page.locator("h1")).to_contain_text("王秀兰 · 个人账户")
    expect(page.locator("#account-balance")).to_have_text("953.83")
    balances = page.locator("#balances")
    expect(balances.locator("tr[data-component=personal] td").last).to_have_text("800.00")
    expect(balances.locator("tr[data-component=government_subsidy] td").last).to_have_text("100.00")
    expect(balances.locator("tr[data-component=collective] td").last).to_have_text("50.00")
    expect(balances.locator("tr[data-component=interest] td").last).to_have_text("3.83")
    expect(balances.locator("tfoot")).to_contain_text("953.83")
    expect(page.locator("#entries tbody tr")).to_have_count(6)
    expect(page.locator("#interest")).to_contain_text("2023")
    expect(page.locator("dl.record")).to_contain_text(idnumber.mask(person.id_number))
    expect(page.locator("dl.record")).not_to_contain_text(person.id_number)
    _shot(page, "account.png")

    # when: they choose 2024, the period is swapped in without a page load and the address keeps the year
    page.select_option("#year", "2024")
    expect(page).to_have_url(re.compile(r"/funds/persons/\d+/account/\?year=2024"))
    expect(page.locator("#balances thead")).to_contain_text("期初余额")
    expect(page.locator("#entries tbody tr")).to_have_count(4)  # the balance brought forward and three entries
    expect(page.locator("#entries tbody tr").first).to_contain_text("343.83")
    _shot(page, "account-2024.png")

    # and the printable statement, as it comes out of the printer
    page.click("#statement-print")
    expect(page.locator(".statement h1")).to_have_text("城乡居民基本养老保险个人账户对账单")
    expect(page.locator(".statement")).to_contain_text("对账期间：2024年1月1日至2024年12月31日")
    expect(page.locator(".statement")).to_contain_text("出具机构：湖塘镇社保所")
    page.emulate_media(media="print")
    navigation = page.locator(".site-nav")
    expect(navigation).to_have_count(2)  # the main row and the benefits row
    for nav in navigation.all():
        expect(nav).to_be_hidden()
    expect(page.locator(".site-header")).to_be_hidden()
    expect(page.locator(".actions")).to_be_hidden()
    _shot(page, "statement-print.png")
    page.emulate_media(media="screen")

    # the village's statements in one go: the township clerk chooses the village
    page.click("nav >> text=对账单")
    page.select_option("#village", agent.agency.region.code)
    page.click("main form button[type=submit]")
    expect(page.locator("main")).to_contain_text("共1个个人账户")
    _shot(page, "village-statements.png")
    with page.expect_download() as download:
        page.click("text=Excel（每人一个工作表）")
    assert download.value.suggested_filename.endswith(".xlsx")

    assert page.js_errors == []


def test_a_clerk_records_a_counter_payment_and_the_account_shows_it(page, agent):
    from playwright.sync_api import expect

    from contributions.tests.factories import make_policy
    from enrollment.tests.factories import make_person

    # given: the national tiers in force, a resident of 幸福村, the township clerk
    line = region_line()
    make_policy(line)
    clerk = line.staff(Role.TOWNSHIP_CLERK, username="hutang_clerk")
    person = make_person(agent.agency.region, name="张建国", birth_date=dt.date(1972, 4, 9))
    _sign_in(page, clerk)

    # when: they record the payment from the bank's receipt, first with a slip in the amount
    page.goto(f"/contributions/persons/{person.pk}/")
    page.click("text=登记柜面缴费")
    page.fill("#id_year", "2024")
    page.fill("#id_amount", "350")
    page.fill("#id_paid_on", "2024-03-05")
    page.fill("#id_bank_code", "ICBC")
    page.fill("#id_bank_reference", "20240305-0001")
    page.click("main form.stacked button[type=submit]")

    # then: the refusal stands next to the amount, in the clerk's language
    expect(page.locator("#field-amount .errorlist")).to_contain_text("不对应")
    _shot(page, "payment-refused.png")

    # when: corrected
    page.fill("#id_amount", "300")
    page.click("main form.stacked button[type=submit]")

    # then: recorded with the subsidy it earns, and on the account
    expect(page.locator(".messages")).to_contain_text("个人缴费300元，政府缴费补贴40元")
    expect(page.locator("#contributions")).to_contain_text("20240305-0001")
    _shot(page, "contributions-person.png")
    page.click(".actions >> text=个人账户")
    expect(page.locator("#account-balance")).to_have_text("340.00")
    assert page.js_errors == []


def test_a_village_agent_uploads_tiers_and_reads_the_renewal_list(page, agent):
    import io

    from openpyxl import Workbook
    from playwright.sync_api import expect

    from contributions import services
    from contributions.tests.factories import make_policy
    from enrollment.tests.factories import make_person

    line = region_line()
    make_policy(line)
    clerk = line.staff(Role.TOWNSHIP_CLERK, username="hutang_clerk")
    village = agent.agency.region
    people = [
        make_person(village, name=name, birth_date=born, phone=f"1390000000{i}")
        for i, (name, born) in enumerate(
            [("李秀英", dt.date(1975, 3, 8)), ("王建华", dt.date(1990, 6, 1)), ("陈桂兰", dt.date(1968, 9, 9))]
        )
    ]
    for n, person in enumerate(people):
        services.contribution_post(
            actor=clerk,
            person=person,
            year=2023,
            amount="300",
            paid_on=dt.date(2023, 3, 1),
            channel="counter",
            bank_code="ICBC",
            bank_reference=f"2023-{n}",
        )
    services.contribution_post(
        actor=clerk,
        person=people[0],
        year=2024,
        amount="500",
        paid_on=dt.date(2024, 3, 1),
        channel="counter",
        bank_code="ICBC",
        bank_reference="2024-0",
    )
    _sign_in(page, agent)

    # a filled-in sheet with a tier the year does not have: nothing is imported, the rows say why
    book = Workbook()
    book.active.append(["身份证号", "姓名", "选择档次(元)"])
    book.active.append([people[1].id_number, "王建华", 250])
    book.active.append([people[2].id_number, "陈桂兰", 300])
    out = io.BytesIO()
    book.save(out)
    page.click("nav >> text=缴费档次")
    page.fill("#id_year", "2025")
    page.set_input_files(
        "#id_file",
        files=[{"name": "幸福村档次.xlsx", "mimeType": "application/octet-stream", "buffer": out.getvalue()}],
    )
    page.click("#import-form button[type=submit]")
    expect(page.locator("#import-errors")).to_contain_text("未导入任何数据")
    expect(page.locator("#import-errors tbody tr")).to_have_count(1)
    expect(page.locator("#import-errors")).to_contain_text("没有250元这一档次")
    _shot(page, "tier-import-errors.png")

    # the renewal list of 2024: one of three renewed, the two others listed to be reminded
    page.goto("/contributions/renewals/?year=2024")
    expect(page.locator("#renewal-list tbody tr")).to_have_count(2)
    expect(page.locator("#renewal-list")).to_contain_text("王建华")
    expect(page.locator("#renewal-rates")).to_contain_text("未达标")
    _shot(page, "renewals.png")
    assert page.js_errors == []


def test_a_city_supervisor_reads_the_policy_periods(page, agent):
    from playwright.sync_api import expect

    from contributions import services
    from contributions.tests.factories import make_policy

    line = region_line()
    line.pooling_region.name = "武进区统筹区"
    line.pooling_region.save()
    make_policy(line)
    supervisor = line.staff(Role.CITY_SUPERVISOR, username="city_supervisor")
    for year, rate in ((2015, "2.75%"), (2016, "1.5%")):
        services.interest_rate_set(actor=supervisor, pooling_region=line.pooling_region, year=year, rate=rate)
    _sign_in(page, supervisor)
    page.click("nav >> text=缴费政策")
    section = page.locator(f"#pooling-{line.pooling_region.code}")
    expect(section).to_contain_text("2012-01-01 起")
    expect(section.locator("table.rates")).to_contain_text("2.75%")

    # a period whose shares do not add up is refused at the shares
    page.fill("#id_valid_from", "2027-01-01")
    page.fill("#id_tiers", "200 40\n500 60")
    page.fill("#id_county_share", "50")
    page.click("#policy-form button[type=submit]")
    expect(page.locator("#field-shares .errorlist")).to_contain_text("合计须为100%")
    _shot(page, "policies.png")
    assert page.js_errors == []


def test_a_claim_is_made_in_the_browser_and_the_first_month_is_paid(page, agent):
    """The village agent fills the claim for someone turning 60 this month; once approved, the fund officer
    prepares and confirms next month's payroll, and the funding request shows its figures."""
    from decimal import Decimal

    from playwright.sync_api import expect

    from benefits import services as benefit_services
    from benefits.models import Claim, PayrollRun, PayrollStatus
    from benefits.tests.factories import make_contributor, make_parameters
    from contributions.models import InterestRate

    today = dt.date.today()
    line = region_line()
    line.pooling_region.scheme_started_on = dt.date(2011, 7, 1)
    line.pooling_region.save()
    InterestRate.objects.create(pooling_region=line.pooling_region, year=today.year, rate=Decimal("0.01500"))
    make_parameters(line, valid_from=dt.date(today.year - 1, 1, 1), central_minimum="143", local_top_up="100")
    # 60 this month, 15 years paid, 13,900.00 in the account
    birth = dt.date(today.year - 60, today.month, 1)
    person = make_contributor(
        line,
        birth_date=birth,
        years=15,
        last_year=today.year - 1,
        name="周秀英",
        booked_on=dt.date(today.year - 1, 12, 31),
    )

    # the village agent finds the person and sees the eligibility before submitting
    _sign_in(page, agent)
    page.goto(f"/benefits/claims/new/?q={person.id_number}")
    page.click("text=填写待遇申请表")
    expect(page.locator("body")).to_contain_text("周秀英")
    expect(page.locator("body")).to_contain_text("15")
    _shot(page, "claim-new.png")
    page.click("text=提交待遇申请")
    expect(page.locator("body")).to_contain_text("待乡镇审核")
    claim = Claim.objects.get(person=person)
    assert page.js_errors == []

    # the township reviews and the county approves (their pages are covered by the view tests)
    benefit_services.claim_accept(actor=line.staff(Role.TOWNSHIP_CLERK), claim=claim)
    award = benefit_services.claim_approve(actor=line.staff(Role.COUNTY_APPROVER), claim=claim)
    start = award.start_month

    # the fund officer prepares the start month's payroll, checks it and confirms it
    page.context.clear_cookies()
    officer = line.staff(Role.COUNTY_FUND_OFFICER)
    _sign_in(page, officer)
    page.goto("/benefits/payroll/")
    page.select_option("#id_pooling_region", str(line.pooling_region.pk))
    page.fill("#id_month", f"{start:%Y-%m}")
    page.click("#prepare-form button[type=submit]")
    expect(page.locator("#run-status")).to_have_text("试算")
    expect(page.locator("#run-totals")).to_contain_text(str(award.periods.get(valid_from=start).total))
    expect(page.locator("#timetable")).to_contain_text("10")
    page.on("dialog", lambda dialog: dialog.accept())
    page.click('#actions button:has-text("确认发放")')
    expect(page.locator("#run-status")).to_have_text("已确认", timeout=20_000)
    _shot(page, "payroll-confirmed.png")
    run = PayrollRun.objects.get(pooling_region=line.pooling_region, month=start)
    assert run.status == PayrollStatus.CONFIRMED
    page.goto(f"/benefits/payroll/{run.pk}/funding-request/")
    expect(page.locator("body")).to_contain_text(run.funding_request_number)
    expect(page.locator("body")).to_contain_text(str(run.total))
    assert page.js_errors == []


def test_a_city_supervisor_follows_a_merger_on_its_project_page(page):
    from playwright.sync_api import expect

    from migration.models import Step
    from migration.services import project_create, step_finish, step_progress, step_start

    # given: 新北区 joining 常州市本级, settled and frozen, its export a third of the way through
    source = region_line(county="320411", township="101", village="201")
    target = region_line(county="320402", township="101", village="201")
    for line, name in ((source, "新北区"), (target, "常州市本级")):
        line.pooling_region.name = name
        line.pooling_region.save()
    source.city.name = "常州市"
    source.city.save()
    supervisor = source.staff(Role.CITY_SUPERVISOR, username="city_supervisor")
    project = project_create(
        actor=supervisor,
        name="新北区并入常州市本级",
        source_pooling_region=source.pooling_region,
        target_pooling_region=target.pooling_region,
        cutover_date=dt.date(2027, 1, 1),
        source_tiers_until=dt.date(2027, 6, 30),
        deemed_years_until=dt.date(2027, 1, 1),
    )
    for step in (Step.SETTLE, Step.FREEZE):
        step_start(project, step, actor=supervisor)
        step_finish(project, step, actor=supervisor, summary="已完成")
    row = step_start(project, Step.EXPORT, actor=supervisor, total=81234, phase="persons.csv")
    step_progress(row, done=27078)

    # when: the supervisor opens the project from the home page's card
    _sign_in(page, supervisor)
    page.click("#merger-card >> text=并轨项目")
    page.click("text=新北区并入常州市本级")

    # then: the seven steps in order, the export with its progress bar, polling while it runs
    steps = page.locator("li.merger-step h2")
    expect(steps).to_have_count(7)
    expect(steps.nth(0)).to_have_text("1. 源统筹区结算核对")
    expect(steps.nth(6)).to_have_text("7. 系统切换")
    export = page.locator("#step-export")
    expect(export.locator("progress")).to_have_attribute("value", "27078")
    expect(export).to_contain_text("33% · 27078 / 81234 · persons.csv")
    expect(page.locator("#step-freeze [data-state=done]")).to_be_visible()

    # when the export moves on, the bar follows without a reload
    step_progress(row, done=54156)
    expect(export).to_contain_text("66% · 54156 / 81234", timeout=8_000)
    _shot(page, "merger_project.png")
    assert page.js_errors == []


def test_a_clerk_files_a_registration_scans_it_shelves_it_and_finds_it_in_the_register(page, agent, tmp_path):
    from PIL import Image
    from playwright.sync_api import expect

    from archives.models import ArchiveFile, ArchiveItem
    from enrollment import services

    # given: a registration entered by the village agent, so its form is filed (参保登记表), and the county clerk
    # who keeps the archive room

    application = services.registration_submit(
        actor=agent,
        village=agent.agency.region,
        id_number=idnumber.make("320412", dt.date(1975, 6, 1), 3),
        data={"name": "周秀英", "phone": "13912345678"},
    )
    item = ArchiveItem.objects.get(source_id=application.pk, kind__code="registration")
    village = agent.agency.region
    line = region_line(county=village.code[:6], township=village.code[6:9], village=village.code[9:])
    archivist = line.staff(Role.COUNTY_CLERK, username="wujin_archivist")
    scan = tmp_path / "登记表.png"
    Image.new("RGB", (800, 1100), "white").save(scan)

    # when: the clerk searches by name, opens the item, attaches the scan and shelves the paper
    _sign_in(page, archivist)
    page.click("nav.site-nav >> text=档案")
    page.fill("#id_q", "周秀英")
    page.click("#item-search button[type=submit]")
    page.click(f"text={item.archive_no}")
    expect(page.locator("#item-record")).to_contain_text("参保登记表")
    page.set_input_files("#attach-form input[type=file]", str(scan))
    page.click("#attach-form button[type=submit]")
    expect(page.locator("#files")).to_contain_text("登记表.png")
    for field, value in (("room", "一号库房"), ("cabinet", "A01"), ("box", "2026-001"), ("position", "1")):
        page.fill(f"#place-form [name={field}]", value)
    page.click("#place-form button[type=submit]")
    expect(page.locator("#item-place")).to_contain_text("一号库房 A01柜 2026-001盒 第1号")

    # then: the township's register lists it with both copies present
    page.goto(f"/archives/register/?region={agent.agency.region.parent.code}&year={item.year}")
    row = page.locator(f"#register-rows tr[data-item='{item.pk}']")
    expect(row).to_contain_text("周秀英")
    expect(row).to_contain_text(idnumber.mask(application.person.id_number))
    expect(page.locator("#register-summary")).to_contain_text("1纸质电子齐全")
    _shot(page, "archives_register.png")
    assert ArchiveFile.objects.get(item=item).content_type == "image/png"
    assert page.js_errors == []
