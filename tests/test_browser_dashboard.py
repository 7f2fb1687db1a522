"""In a real browser: a city supervisor opens the dashboard (统计分析), sees every chart drawn by the vendored
ECharts over its table, and drills down to a county.

Drives Debian's chromium through Playwright against pytest-django's live server, like ``tests/test_browser.py``
(skipped without chromium unless PORTAL_REQUIRE_BROWSER=1). The screenshot goes to
test-artifacts/dashboard.png, for a person to look at.
"""

from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from agencies.models import Role
from agencies.tests.factories import region_line
from funds.fund_accounts import movement_post
from funds.models import Fund, FundAccountKind, MovementKind
from portal.dashboard import add_months
from portal.models import MonthlySummary, SummaryRun, Target
from portal.summaries import fund_balances_summarize

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
PASSWORD = "pass-12345"  # agencies.tests.factories.UserFactory

# What each chart of the city's page and of a county's page is (a county holds its own pooling region's fund).
CITY_CHARTS = ["coverage", "renewal", "trend", "payout", "pensions", "errors", "funds"]


@pytest.fixture
def supervisor():
    """常州市 with 武进区 (two towns, four villages) and 新北区 (one town, two villages), a year of summaries up
    to the running month, a target for 武进区 and money in both pooling regions' accounts."""
    names = {
        ("320412", "101"): ("武进区", "湖塘镇", ["幸福村", "团结村"]),
        ("320412", "102"): ("武进区", "牛塘镇", ["红星村", "东风村"]),
        ("320411", "101"): ("新北区", "罗溪镇", ["向阳村", "光明村"]),
    }
    running = timezone.localdate().replace(day=1)
    rows, line = [], None
    for (county, township), (county_name, township_name, villages) in names.items():
        for index, village_name in enumerate(villages):
            line = region_line(county, township, f"{201 + index}")
            for region, name in ((line.city, "常州市"), (line.county, county_name), (line.township, township_name)):
                region.name = name
                region.save()
            line.village.name = village_name
            line.village.save()
            seed = int(township) + index * 7 + int(county[-1])
            for back in range(12):
                month = add_months(running, -back)
                rows.append(
                    MonthlySummary(
                        region_code=line.village.code,
                        month=month,
                        should_insure=1000 + seed,
                        insured=960 + seed - back,
                        recipients=200 + seed - back,
                        new_members=(seed + back) % 9,
                        payers=(seed * back) % 40,
                        contribution_income=Decimal(300 * ((seed + back) % 5)) + Decimal("0.50"),
                        renewal_due_young=100,
                        renewal_paid_young=60 + seed % 30,
                        renewal_due_old=50,
                        renewal_paid_old=45 + seed % 6,
                        payroll_lines=200 + seed - back,
                        payroll_paid=200 + seed - back - (back % 2),
                        basic_pension=Decimal(150 * (200 + seed - back)),
                        account_pension=Decimal("23.45") * (200 + seed - back),
                        applications=400 + back,
                        applications_returned=back % 2,
                        applications_overdue=back % 3,
                    )
                )
        movement_post(
            pooling_region=line.pooling_region,
            account_kind=FundAccountKind.FISCAL,
            fund=Fund.BASIC_PENSION,
            kind=MovementKind.TRANSFER_IN,
            amount=Decimal("250000.00") + int(county[-1]) * 1000,
            booked_on=running,
            reference=f"browser-{county}",
            idempotency_key=f"browser-dashboard:{county}",
        )
    MonthlySummary.objects.bulk_create(rows)
    # The nightly run: the month is summarized and the balances are read from FundBalanceSummary, as in production.
    fund_balances_summarize(month=running)
    SummaryRun.objects.create(month=running, finished_at=timezone.now())
    user = line.staff(Role.CITY_SUPERVISOR, username="changzhou_supervisor")
    wujin = line.city.children.get(code="320412000000")
    Target.objects.create(region=wujin, year=running.year, new_members=60, coverage_rate=Decimal("0.98"), set_by=user)
    agency = user.agency
    agency.name = "常州市社会保险管理局"
    agency.save()
    return user


def _shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000  # a real page, not a blank one
    return path


def _charts_drawn(page) -> dict[str, dict]:
    """For every chart container: its ECharts instance, and the size of the canvas it holds."""
    return page.evaluate(
        """() => Object.fromEntries(Array.from(document.querySelectorAll('[data-chart]')).map((el) => {
            const canvas = el.querySelector('canvas, svg');
            const box = canvas ? canvas.getBoundingClientRect() : {width: 0, height: 0};
            return [el.dataset.chart, {
                instance: window.echarts.getInstanceByDom(el) !== undefined
                    && window.echarts.getInstanceByDom(el) !== null,
                width: box.width,
                height: box.height,
            }];
        }))"""
    )


def _assert_all_drawn(page, expected: list[str]) -> None:
    # The 1 MB script loads after the page's text: wait until every container holds what ECharts drew.
    page.wait_for_load_state("load")
    page.wait_for_function(
        "(n) => window.echarts && document.querySelectorAll('[data-chart] canvas').length >= n", arg=len(expected)
    )
    drawn = _charts_drawn(page)
    assert list(drawn) == expected
    for name, chart in drawn.items():
        assert chart["instance"], f"{name}: no ECharts instance"
        assert chart["width"] > 100 and chart["height"] > 100, f"{name}: {chart}"


def test_a_city_supervisor_reads_the_dashboard_and_drills_down_to_a_county(page, supervisor):
    from playwright.sync_api import expect

    # given: the city supervisor signs in
    page.goto("/login/")
    page.fill("#id_username", supervisor.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator(".who")).to_contain_text("市级监管员")

    # when: they open 统计分析 from the navigation
    page.click("nav.site-nav >> text=统计分析")

    # then: the city's page, every chart drawn from the project's own ECharts, each over its table
    expect(page.locator("h1")).to_contain_text("常州市")
    expect(page.locator(".dash-crumbs")).to_have_text("常州市")
    _assert_all_drawn(page, CITY_CHARTS)
    assert page.evaluate("() => typeof window.echarts.version") == "string"
    expect(page.locator("#table-coverage tbody tr")).to_have_count(2)
    expect(page.locator("#table-ranking tbody tr")).to_have_count(2)
    expect(page.locator("#table-funds tbody tr")).to_have_count(8)  # two pooling regions, three accounts and a total
    # 新北区's fiscal account holds 251,000.00 of basic pension (the 250,000 + 1 × 1,000 posted above)
    expect(page.locator("#table-funds tbody")).to_contain_text("251,000.00")
    assert "format=xlsx" in page.locator("#export-coverage").get_attribute("href")
    scripts = page.evaluate("() => Array.from(document.scripts).map((s) => s.src).filter(Boolean)")
    assert all(src.startswith(page.url.split("/dashboard")[0]) for src in scripts), scripts  # nothing from a CDN
    _shot(page, "dashboard.png")

    # when: they drill down to 武进区 from the children's table
    page.click("#table-coverage >> text=武进区")

    # then: the county's page, its breadcrumb back to the city, its townships, its target and its fund
    expect(page.locator("h1")).to_contain_text("武进区")
    expect(page.locator(".dash-crumbs a")).to_have_text("常州市")
    expect(page.locator("#table-coverage tbody tr")).to_have_count(2)
    expect(page.locator("#table-coverage tbody")).to_contain_text("湖塘镇")
    expect(page.locator("#dash-targets")).to_contain_text("新增参保")
    _assert_all_drawn(page, CITY_CHARTS)
    expect(page.locator("#table-funds tbody tr")).to_have_count(4)
    _shot(page, "dashboard-county.png")

    # and back up through the breadcrumb
    page.click(".dash-crumbs >> text=常州市")
    expect(page.locator("h1")).to_contain_text("常州市")
    _assert_all_drawn(page, CITY_CHARTS)
    assert page.js_errors == []
