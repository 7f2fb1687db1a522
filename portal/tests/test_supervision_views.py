"""The supervision pages: targets, the assessment and the fund warning, their forms and exports; scope first (404),
then role (403); constant query counts."""

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from agencies.models import RegionLevel, Role
from agencies.tests.factories import RegionFactory, region_line
from benefits.models import PayrollRun, PayrollStatus
from funds.fund_accounts import FINANCE, movement_post
from funds.models import Fund, FundAccountKind, MovementKind
from portal import targets
from portal.models import AssessmentEntry, FundWarning, MonthlySummary, Target

pytestmark = pytest.mark.django_db

D = Decimal
TODAY = timezone.localdate()
YEAR = TODAY.year
MONTH = TODAY.replace(day=1)

TARGETS = reverse("portal:supervision_targets")
TARGET_SET = reverse("portal:supervision_target_set")
TARGET_IMPORT = reverse("portal:supervision_target_import")
TEMPLATE = reverse("portal:supervision_target_template")
ASSESSMENT = reverse("portal:supervision_assessment")
ENTRY = reverse("portal:supervision_assessment_entry")
FUNDS = reverse("portal:supervision_funds")
THRESHOLD = reverse("portal:supervision_fund_warning_set")


@pytest.fixture
def line():
    return region_line()


@pytest.fixture
def foreign():
    return region_line(county="320115", township="201", village="301", city="3201")


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def sheet_rows(response) -> list[tuple]:
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    return [tuple(row) for row in book.worksheets[0].iter_rows(values_only=True)]


def summary(code: str, **figures) -> MonthlySummary:
    return MonthlySummary.objects.create(region_code=code, month=MONTH, **figures)


def township(line, number: str):
    return RegionFactory(
        code=f"{line.county.code[:6]}{number}000", name=f"镇{number}", level=RegionLevel.TOWNSHIP, parent=line.county
    )


# --- targets ---------------------------------------------------------------------------------------------------


def test_the_targets_page_shows_progress_ranking_and_the_years_targets(line):
    supervisor = line.staff(Role.CITY_SUPERVISOR)
    summary(line.village.code, new_members=120, insured=98, should_insure=100)
    targets.target_set(actor=supervisor, region=line.county, year=YEAR, new_members="150", coverage_rate="98.5")
    targets.target_set(actor=supervisor, region=line.township, year=YEAR, new_members="150")

    response = client_for(supervisor).get(TARGETS, {"region": line.county.code, "year": YEAR, "month": MONTH.month})

    assert response.status_code == 200
    page = response.content.decode()
    # the county's own progress: 120 of 150 → 80.00%; coverage 98.00% of 98.50% → 99.49%
    assert "80.00%" in page and "99.49%" in page
    assert f'data-code="{line.township.code}"' in page  # ranked below, and listed with its target
    assert 'id="target-form"' in page and 'id="import-form"' in page


def test_roles_that_do_not_set_read_the_page_without_forms(line):
    response = client_for(line.staff(Role.TOWNSHIP_CLERK)).get(TARGETS)
    assert response.status_code == 200
    assert 'id="target-form"' not in response.content.decode()


def test_the_targets_page_reads_a_constant_number_of_queries(line, django_assert_max_num_queries):
    supervisor = line.staff(Role.CITY_SUPERVISOR)
    client = client_for(supervisor)
    for number in range(102, 132):
        town = township(line, str(number))
        summary(f"{town.code[:9]}201", new_members=number)
        targets.target_set(actor=supervisor, region=town, year=YEAR, new_members="100", coverage_rate="98")
    with django_assert_max_num_queries(20):
        response = client.get(TARGETS, {"region": line.county.code})
    assert response.content.decode().count("data-code=") >= 60


def test_setting_a_target_redirects_and_a_bad_rate_shows_next_to_its_field(line):
    client = client_for(line.staff(Role.COUNTY_APPROVER))
    data = {"region": line.township.code, "year": YEAR, "new_members": "150", "coverage_rate": "98.5"}

    response = client.post(f"{TARGET_SET}?region={line.county.code}", data)

    assert response.status_code == 302 and response["Location"].startswith(TARGETS)
    assert Target.objects.get().coverage_rate == D("0.9850")
    refused = client.post(f"{TARGET_SET}?region={line.county.code}", {**data, "coverage_rate": "120"})
    assert refused.status_code == 400
    assert "参保率不能超过100%" in refused.content.decode()
    assert Target.objects.get().coverage_rate == D("0.9850")


def test_a_role_that_may_not_set_gets_403_and_a_foreign_region_404(line, foreign):
    data = {"year": YEAR, "new_members": "5"}
    clerk = client_for(line.staff(Role.COUNTY_CLERK))
    assert clerk.post(TARGET_SET, {**data, "region": line.township.code}).status_code == 403
    supervisor = client_for(line.staff(Role.CITY_SUPERVISOR))
    assert supervisor.post(TARGET_SET, {**data, "region": foreign.township.code}).status_code == 404
    assert supervisor.get(TARGETS, {"region": foreign.county.code}).status_code == 404
    assert supervisor.get(TARGETS, {"region": foreign.county.code, "format": "xlsx"}).status_code == 404
    township_clerk = client_for(line.staff(Role.TOWNSHIP_CLERK))
    assert township_clerk.get(TARGETS, {"region": line.county.code}).status_code == 404
    assert clerk.get(TEMPLATE).status_code == 403
    assert not Target.objects.exists()


def test_an_import_lists_every_bad_row_and_writes_nothing_then_a_good_one_lands(line):
    client = client_for(line.staff(Role.CITY_SUPERVISOR))
    bad = f"区划代码,新增参保,续保,参保率,发放率\n{line.township.code},150,,98,\n{line.county.code},x,,,\n".encode()

    response = client.post(
        f"{TARGET_IMPORT}?region={line.city.code}", {"year": YEAR, "file": SimpleUploadedFile("t.csv", bad)}
    )

    assert response.status_code == 400
    page = response.content.decode()
    assert "第3行“新增参保”" in page
    assert not Target.objects.exists()
    good = f"区划代码,新增参保,续保,参保率,发放率\n{line.township.code},150,,98,\n".encode()
    landed = client.post(TARGET_IMPORT, {"year": YEAR, "file": SimpleUploadedFile("t.csv", good)})
    assert landed.status_code == 302
    assert Target.objects.get().new_members == 150


def test_the_exports_carry_the_pages_figures(line, foreign):
    supervisor = line.staff(Role.CITY_SUPERVISOR)
    summary(line.village.code, new_members=120)
    summary(foreign.village.code, new_members=999)
    targets.target_set(actor=supervisor, region=line.township, year=YEAR, new_members="150", payout_rate="99.5")
    client = client_for(supervisor)
    query = {"region": line.county.code, "year": YEAR, "month": MONTH.month, "format": "xlsx"}

    ranking = sheet_rows(client.get(TARGETS, {**query, "table": "ranking"}))
    listed = sheet_rows(client.get(TARGETS, {**query, "table": "targets"}))
    progress = sheet_rows(client.get(TARGETS, {**query, "table": "progress"}))

    assert ranking[2][:5] == (1, line.township.code, line.township.name, "120", "150")
    assert listed[2][:6] == (line.township.code, line.township.name, 150, None, "—", "99.50%")
    assert progress[2] == ("新增参保", "120", "—", "—")  # the county itself has no target
    assert not any("999" in str(cell) for row in ranking + progress for cell in row)


def test_the_template_downloads_for_a_setter(line):
    response = client_for(line.staff(Role.COUNTY_APPROVER)).get(TEMPLATE, {"year": YEAR})
    rows = sheet_rows(response)
    assert rows[0][:5] == ("区划代码", "新增参保", "续保", "参保率(%)", "发放率(%)")
    assert rows[1][0] == line.township.code


# --- the assessment --------------------------------------------------------------------------------------------


def test_the_assessment_page_scores_and_an_inspector_enters_a_score(line):
    summary(line.village.code, insured=99, should_insure=100)
    client = client_for(line.staff(Role.COUNTY_APPROVER))
    query = f"?region={line.township.code}&year={YEAR}&month={MONTH.month}"

    page = client.get(ASSESSMENT + query)
    assert page.status_code == 200 and 'data-key="window"' in page.content.decode()

    response = client.post(ENTRY + query, {"item": "window", "score": "8.5", "note": "窗口标识齐全"})
    assert response.status_code == 302
    assert AssessmentEntry.objects.get().score == D("8.5")
    refused = client.post(ENTRY + query, {"item": "window", "score": "11"})
    assert refused.status_code == 400 and "满分10分" in refused.content.decode()
    rows = sheet_rows(client.get(ASSESSMENT + query + "&format=xlsx"))
    assert ("服务窗口", "服务场所、窗口设置和标识规范，服务时间公开", "人工评分", 10, None, 8.5, "窗口标识齐全") in rows


def test_a_city_chooses_a_county_to_assess(line):
    response = client_for(line.staff(Role.CITY_SUPERVISOR)).get(ASSESSMENT)
    assert response.status_code == 200
    assert f"?region={line.county.code}" in response.content.decode()


def test_assessment_scope_and_role(line, foreign):
    query = f"?region={line.village.code}&year={YEAR}"
    assert client_for(line.staff(Role.TOWNSHIP_CLERK)).post(ENTRY + query, {"item": "window", "score": "1"}).status_code == 403  # fmt: skip
    supervisor = client_for(line.staff(Role.CITY_SUPERVISOR))
    assert supervisor.get(ASSESSMENT, {"region": foreign.township.code}).status_code == 404
    assert (
        supervisor.post(f"{ENTRY}?region={foreign.village.code}", {"item": "window", "score": "1"}).status_code == 404
    )
    assert not AssessmentEntry.objects.exists()


# --- the fund warning ------------------------------------------------------------------------------------------


def fund(line, balance: str, payout: str):
    movement_post(
        pooling_region=line.pooling_region,
        account_kind=FundAccountKind.FISCAL,
        fund=Fund.BASIC_PENSION,
        kind=MovementKind.TRANSFER_IN,
        amount=D(balance),
        booked_on=TODAY - dt.timedelta(days=40),
        reference=f"F{line.pooling_region.code}",
        idempotency_key=f"views-test:{line.pooling_region.code}",
        counterpart=FINANCE,
    )
    PayrollRun.objects.create(
        pooling_region=line.pooling_region,
        month=MONTH,
        status=PayrollStatus.CONFIRMED,
        total=D(payout),
        lines_count=10,
        prepared_by=line.staff(Role.COUNTY_FUND_OFFICER),
        prepared_at=timezone.now(),
    )


def test_the_fund_page_shows_months_covered_the_projection_and_its_chart(line):
    fund(line, "60000.00", "10000.00")  # 6.0 months
    supervisor = line.staff(Role.CITY_SUPERVISOR)
    FundWarning.objects.create(pooling_region=line.pooling_region, threshold_months=D("8"), set_by=supervisor)

    response = client_for(supervisor).get(FUNDS)

    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-warning="320412"' in page and "基金结余仅可支付6.0个月，低于预警线8.0个月" in page
    assert 'id="fund-chart"' in page and "/static/portal/vendor/echarts-6.1.0.min.js" in page
    assert "cdn" not in page.lower()
    assert page.count("data-year=") == 5


def test_setting_the_threshold(line):
    client = client_for(line.staff(Role.CITY_SUPERVISOR))
    response = client.post(THRESHOLD, {"pooling_region": line.pooling_region.pk, "threshold_months": "6"})
    assert response.status_code == 302
    assert FundWarning.objects.get().threshold_months == D("6.0")
    refused = client.post(THRESHOLD, {"pooling_region": line.pooling_region.pk, "threshold_months": "0"})
    assert refused.status_code == 400 and "预警线应大于0" in refused.content.decode()


def test_fund_page_scope_and_roles(line, foreign):
    fund(foreign, "1.00", "100.00")
    supervisor = client_for(line.staff(Role.CITY_SUPERVISOR))
    assert supervisor.get(FUNDS, {"region": foreign.pooling_region.pk}).status_code == 404
    assert (
        supervisor.post(THRESHOLD, {"pooling_region": foreign.pooling_region.pk, "threshold_months": "6"}).status_code
        == 404
    )
    assert foreign.pooling_region.name not in supervisor.get(FUNDS).content.decode()
    officer = client_for(line.staff(Role.COUNTY_FUND_OFFICER))
    assert officer.get(FUNDS).status_code == 200
    assert (
        officer.post(THRESHOLD, {"pooling_region": line.pooling_region.pk, "threshold_months": "6"}).status_code == 403
    )
    assert client_for(line.staff(Role.COUNTY_APPROVER)).get(FUNDS).status_code == 403
    assert not FundWarning.objects.exists()


def test_the_fund_exports(line):
    fund(line, "60000.00", "10000.00")
    client = client_for(line.staff(Role.CITY_SUPERVISOR))
    overview = sheet_rows(client.get(FUNDS, {"format": "xlsx"}))
    projection = sheet_rows(
        client.get(FUNDS, {"region": line.pooling_region.pk, "format": "xlsx", "table": "projection"})
    )
    assert overview[2][:7] == (line.pooling_region.name, "320412", 0, 60000, 60000, 10000, "6.0")
    assert [row[0] for row in projection[2:]] == [YEAR + k for k in range(1, 6)]


def test_the_fund_page_reads_as_many_queries_for_five_thresholds_as_for_one(line, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from portal.warning import cohorts_refresh

    # given: five pooling regions of the city, funded, their retirements counted last night; one threshold
    lines = [line] + [region_line(county=county) for county in ("320411", "320413", "320481", "320482")]
    for each in lines:
        fund(each, "60000.00", "10000.00")
    cohorts_refresh(today=TODAY)
    supervisor = line.staff(Role.CITY_SUPERVISOR)
    FundWarning.objects.create(pooling_region=line.pooling_region, threshold_months=D("8"), set_by=supervisor)
    client = client_for(supervisor)
    with CaptureQueriesContext(connection) as one:
        assert client.get(FUNDS).content.decode().count("data-warning=") == 1

    # when: every region has a threshold
    for each in lines[1:]:
        FundWarning.objects.create(pooling_region=each.pooling_region, threshold_months=D("8"), set_by=supervisor)

    # then: five warnings, no more queries
    with django_assert_max_num_queries(len(one)):
        assert client.get(FUNDS).content.decode().count("data-warning=") == 5
