"""End to end in a real browser: a village agent registers a resident, and the portal refuses the same
identity number a second time, with the as-you-type check doing its work in between.

Drives Debian's chromium through Playwright against pytest-django's live server. Without chromium the
test is skipped, unless PORTAL_REQUIRE_BROWSER=1 (CI), where a missing browser is a failure.
Screenshots go to test-artifacts/ at the project root, for a person to look at.
"""

import datetime as dt
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from agencies.models import Role
from agencies.tests.factories import region_line
from enrollment import idnumber
from enrollment.models import Application, InsuredPerson, PersonStatus

# Playwright's sync API runs its own event loop in this thread; Django would otherwise refuse the ORM here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
PASSWORD = "pass-12345"  # agencies.tests.factories.UserFactory


def _unavailable(reason: str) -> None:
    if os.environ.get("PORTAL_REQUIRE_BROWSER") == "1":
        pytest.fail(f"PORTAL_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator:
    if not Path(CHROMIUM).exists():
        _unavailable(f"{CHROMIUM} is not installed (apt-get install chromium fonts-wqy-microhei)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # Script errors only: a refused form answers 400 on purpose, which chromium also logs to the console.
    page.on(
        "console",
        lambda message: (
            errors.append(message.text)
            if message.type == "error" and not message.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.js_errors = errors
    yield page
    context.close()


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
    expect(page.locator("h2").first).to_contain_text("待办")
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
    expect(page.locator(".site-nav")).to_be_hidden()
    expect(page.locator(".site-header")).to_be_hidden()
    expect(page.locator(".actions")).to_be_hidden()
    _shot(page, "statement-print.png")

    assert page.js_errors == []
