"""The merger pages through the test client: each step's page and action, the refusals in Chinese, the progress
fragment, the scoped downloads. The services run for real (tasks run in-process once the request commits)."""

import datetime as dt
import io
import zipfile

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from agencies.models import Role
from agencies.tests.factories import RegionLine, region_line
from contributions.tests.factories import make_policy
from enrollment.tests.factories import make_person
from migration.models import (
    ArchiveSurveyItem,
    MergerPackage,
    MergerProject,
    MergerStep,
    PackageOrigin,
    PlaceMapping,
    Step,
    StepState,
)
from migration.models import TestLoad as Load
from migration.services import project_create, step_finish, step_progress, step_start

pytestmark = pytest.mark.django_db

CUTOVER = dt.date(2027, 1, 1)


@pytest.fixture
def source() -> RegionLine:
    line = region_line(county="320411", township="101", village="201")
    line.pooling_region.name = "新北区"
    line.pooling_region.save()
    return line


@pytest.fixture
def target() -> RegionLine:
    line = region_line(county="320402", township="101", village="201")
    line.pooling_region.name = "常州市本级"
    line.pooling_region.save()
    return line


@pytest.fixture
def supervisor(source, target):
    return source.staff(Role.CITY_SUPERVISOR)


@pytest.fixture
def project(source, target, supervisor) -> MergerProject:
    return project_create(
        actor=supervisor,
        name="新北区并入市本级",
        source_pooling_region=source.pooling_region,
        target_pooling_region=target.pooling_region,
        cutover_date=CUTOVER,
        source_tiers_until=dt.date(2027, 6, 30),
        deemed_years_until=CUTOVER,
    )


@pytest.fixture
def client(supervisor) -> Client:
    client = Client()
    client.force_login(supervisor)
    return client


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]] if response.context else []


def _follow_post(client: Client, url: str, data=None, callbacks=None):
    if callbacks is None:
        return client.post(url, data or {}, follow=True)
    with callbacks(execute=True):
        return client.post(url, data or {}, follow=True)


def _step(project: MergerProject, step: str) -> MergerStep:
    return MergerStep.objects.get(project=project, step=step)


# --- who may see what --------------------------------------------------------------------------------------


def test_the_list_shows_the_projects_in_scope_and_refuses_other_roles(client, project, source):
    page = client.get(reverse("migration:project_list"))
    assert page.status_code == 200
    assert "新北区并入市本级" in page.content.decode()

    clerk = Client()
    clerk.force_login(source.staff(Role.COUNTY_CLERK))
    assert clerk.get(reverse("migration:project_list")).status_code == 403


@pytest.mark.parametrize("role", [Role.COUNTY_CLERK, Role.TOWNSHIP_CLERK, Role.COUNTY_APPROVER])
def test_a_project_at_city_level_is_not_found_by_county_and_township_staff(project, source, role):
    other = Client()
    other.force_login(source.staff(role))
    assert other.get(reverse("migration:project_detail", args=[project.pk])).status_code == 404


def test_a_supervisor_of_another_city_finds_nothing(project):
    nanjing = region_line(county="320115", township="101", village="201")
    other = Client()
    other.force_login(nanjing.staff(Role.CITY_SUPERVISOR))
    assert other.get(reverse("migration:project_detail", args=[project.pk])).status_code == 404
    assert "新北区并入市本级" not in other.get(reverse("migration:project_list")).content.decode()
    assert other.post(reverse("migration:freeze_apply", args=[project.pk])).status_code == 404


# --- the project ---------------------------------------------------------------------------------------------


def test_a_project_is_created_through_the_form(client, source, target):
    form = client.get(reverse("migration:project_create"))
    assert form.status_code == 200
    body = form.content.decode()
    assert "新北区" in body and "常州市本级" in body
    assert "320411101" in body  # the source's township, offered for a partial move

    response = client.post(
        reverse("migration:project_create"),
        {
            "name": "三镇并入",
            "source_pooling_region": source.pooling_region.pk,
            "source_towns": ["320411101"],
            "target_pooling_region": target.pooling_region.pk,
            "cutover_date": "2027-01-01",
            "source_tiers_until": "2027-06-30",
            "deemed_years_until": "2027-01-01",
            "default_tier": "300",
            "fold_pooled": "on",
        },
    )
    project = MergerProject.objects.get(name="三镇并入")
    assert response.status_code == 302
    assert response["Location"] == reverse("migration:project_detail", args=[project.pk])
    assert project.source_towns == ["320411101"]
    assert str(project.default_tier) == "300.00"
    assert project.region_code == "320400000000"
    assert project.steps.count() == 7


def test_the_services_refusal_is_shown_next_to_its_field(client, source, target):
    response = client.post(
        reverse("migration:project_create"),
        {
            "name": "日期有误",
            "source_pooling_region": source.pooling_region.pk,
            "target_pooling_region": target.pooling_region.pk,
            "cutover_date": "2027-01-01",
            "source_tiers_until": "2026-12-31",
            "deemed_years_until": "2027-01-01",
        },
    )
    assert response.status_code == 400
    assert "原档次执行截止日不能早于切换日期。" in response.content.decode()
    assert not MergerProject.objects.filter(name="日期有误").exists()


def test_the_same_region_twice_is_refused(client, source):
    response = client.post(
        reverse("migration:project_create"),
        {
            "name": "自己并自己",
            "source_pooling_region": source.pooling_region.pk,
            "target_pooling_region": source.pooling_region.pk,
            "cutover_date": "2027-01-01",
            "source_tiers_until": "2027-06-30",
            "deemed_years_until": "2027-01-01",
        },
    )
    assert response.status_code == 400
    assert "源统筹区和目标统筹区不能相同。" in response.content.decode()


def test_the_project_page_shows_the_seven_steps_in_order(client, project, supervisor):
    step_start(project, Step.SETTLE, actor=supervisor)
    step_finish(project, Step.SETTLE, actor=supervisor, summary="结算核对无误")
    page = client.get(reverse("migration:project_detail", args=[project.pk]))
    assert page.status_code == 200
    body = page.content.decode()
    labels = ["源统筹区结算核对", "数据封存", "导出数据包", "试导入", "正式导入", "基金划转", "系统切换"]
    positions = [body.index(f"{n}. {label}") for n, label in enumerate(labels, start=1)]
    assert positions == sorted(positions)
    assert "结算核对无误" in body
    assert supervisor.display_name in body
    assert 'data-state="done"' in body


def test_a_running_step_polls_its_progress_fragment_until_it_ends(client, project, supervisor):
    # given: the export runs, 30 of 120 rows written
    step_start(project, Step.SETTLE, actor=supervisor)
    step_finish(project, Step.SETTLE, actor=supervisor)
    step_start(project, Step.FREEZE, actor=supervisor)
    step_finish(project, Step.FREEZE, actor=supervisor)
    row = step_start(project, Step.EXPORT, actor=supervisor, total=120, phase="persons.csv")
    step_progress(row, done=30)

    page = client.get(reverse("migration:project_detail", args=[project.pk])).content.decode()
    fragment_url = reverse("migration:step_progress", args=[row.pk])
    assert f'hx-get="{fragment_url}"' in page
    assert 'hx-trigger="every 2s"' in page

    fragment = client.get(fragment_url, headers={"HX-Request": "true"})
    body = fragment.content.decode()
    assert "<progress" in body and 'value="30"' in body and 'max="120"' in body
    assert "25% · 30 / 120" in body
    assert "HX-Refresh" not in fragment

    # when: it ends, the next poll asks the page to reload (its next actions appear)
    step_finish(project, Step.EXPORT, actor=supervisor, summary="导出 2 人")
    fragment = client.get(fragment_url, headers={"HX-Request": "true"})
    assert fragment["HX-Refresh"] == "true"
    assert "every 2s" not in fragment.content.decode()


def test_the_progress_fragment_of_a_foreign_step_is_not_found(project):
    nanjing = region_line(county="320115", township="101", village="201")
    other = Client()
    other.force_login(nanjing.staff(Role.CITY_SUPERVISOR))
    assert other.get(reverse("migration:step_progress", args=[_step(project, Step.EXPORT).pk])).status_code == 404


# --- the steps -------------------------------------------------------------------------------------------------


def _settle_and_freeze(client: Client, project: MergerProject) -> None:
    response = client.post(reverse("migration:settle_confirm", args=[project.pk]), follow=True)
    assert _step(project, Step.SETTLE).state == StepState.DONE, _messages(response)
    response = client.post(reverse("migration:freeze_apply", args=[project.pk]), follow=True)
    assert _step(project, Step.FREEZE).state == StepState.DONE, _messages(response)


def test_settle_shows_the_checklist_then_freeze_before_export(client, project):
    page = client.get(reverse("migration:project_detail", args=[project.pk])).content.decode()
    assert 'id="settle-checklist"' in page

    # export before the freeze: refused with the step it needs
    response = client.post(reverse("migration:export_start", args=[project.pk]), follow=True)
    assert "请先完成：数据封存。" in _messages(response)
    assert not MergerPackage.objects.exists()

    _settle_and_freeze(client, project)
    page = client.get(reverse("migration:project_detail", args=[project.pk])).content.decode()
    assert 'id="settle-checklist"' not in page
    assert reverse("migration:export_start", args=[project.pk]) in page


def test_an_open_registration_fails_the_settlement_and_the_page_says_so(client, project, source):
    from enrollment import idnumber, services

    # given: a registration submitted in the source and not yet approved
    services.registration_submit(
        actor=source.staff(Role.VILLAGE_AGENT),
        village=source.village,
        id_number=idnumber.make("320411", dt.date(1980, 2, 2), 7),
        data={"name": "在途甲"},
    )
    page = client.get(reverse("migration:project_detail", args=[project.pk])).content.decode()
    assert '<tr data-key="open_applications">' in page

    response = client.post(reverse("migration:settle_confirm", args=[project.pk]), follow=True)
    assert _messages(response) == ["结算核对未通过，尚未完成：1 件登记业务尚在办理中。"]
    row = _step(project, Step.SETTLE)
    assert row.state == StepState.FAILED
    assert "1 件登记业务尚在办理中" in response.content.decode()  # the step's reason, on the page


def test_freezing_twice_is_refused_with_a_message(client, project):
    _settle_and_freeze(client, project)
    response = client.post(reverse("migration:freeze_apply", args=[project.pk]), follow=True)
    assert response.status_code == 200
    assert any("已完成" in text or "封存" in text for text in _messages(response))


@pytest.fixture
def people(source, target):
    make_policy(target, valid_from=dt.date(2024, 1, 1))  # the tiers January's deduction list is drawn from
    return [
        make_person(source.village, name="陈一", birth_date=dt.date(1970, 3, 1)),
        make_person(source.village, name="王二", birth_date=dt.date(1975, 4, 2)),
    ]


def _export(client, project, callbacks) -> MergerPackage:
    response = _follow_post(client, reverse("migration:export_start", args=[project.pk]), callbacks=callbacks)
    assert "已提交导出，后台正在生成数据包。" in _messages(response)
    return MergerPackage.objects.get(project=project, origin=PackageOrigin.EXPORT)


def test_export_queues_the_task_and_the_package_is_downloaded_through_the_scope(
    client, project, people, django_capture_on_commit_callbacks
):
    _settle_and_freeze(client, project)
    package = _export(client, project, django_capture_on_commit_callbacks)
    assert _step(project, Step.EXPORT).state == StepState.DONE

    page = client.get(reverse("migration:project_detail", args=[project.pk])).content.decode()
    assert package.sha256 in page
    download = client.get(reverse("migration:package_download", args=[package.pk]))
    assert download.status_code == 200
    assert download["X-Content-SHA256"] == package.sha256
    assert download["Cache-Control"] == "private, no-store"
    content = b"".join(download.streaming_content)
    assert len(content) == package.size
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert "persons.csv" in archive.namelist()

    nanjing = region_line(county="320115", township="101", village="201")
    other = Client()
    other.force_login(nanjing.staff(Role.CITY_SUPERVISOR))
    assert other.get(reverse("migration:package_download", args=[package.pk])).status_code == 404


def test_an_upload_that_is_not_a_zip_is_refused(client, project):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("package.txt", b"not a zip", content_type="text/plain")
    response = client.post(reverse("migration:package_upload", args=[project.pk]), {"file": upload}, follow=True)
    assert "数据包应为 .zip 文件。" in _messages(response)
    assert not MergerPackage.objects.exists()


def test_an_upload_past_the_limit_is_refused_unread(client, project, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.MERGER_PACKAGE_MAX_BYTES = 1024
    upload = SimpleUploadedFile("big.zip", b"x" * 200_000, content_type="application/zip")
    response = client.post(reverse("migration:package_upload", args=[project.pk]), {"file": upload}, follow=True)
    assert "数据包过大，最大允许 0 MB。" in _messages(response)
    assert not MergerPackage.objects.exists()


def test_testload_runs_after_commit_and_its_report_lists_findings_by_kind(
    client, project, people, django_capture_on_commit_callbacks
):
    _settle_and_freeze(client, project)
    package = _export(client, project, django_capture_on_commit_callbacks)
    # given: the source's places are not mapped yet, so the test-load finds every person's village unmapped
    PlaceMapping.objects.filter(project=project).delete()

    response = _follow_post(
        client, reverse("migration:testload_start", args=[package.pk]), callbacks=django_capture_on_commit_callbacks
    )
    assert "已提交试导入，后台正在读取数据包。" in _messages(response)
    load = Load.objects.get(package=package)
    assert load.status == "done"
    assert load.counts["region_unmapped"] == 1  # one finding for the village, naming its two persons
    assert load.blocking_count == 1

    report = client.get(reverse("migration:testload_detail", args=[load.pk]))
    assert report.status_code == 200
    body = report.content.decode()
    assert "区划代码未对照" in body
    assert "区划代码320411101201没有对照到目标统筹区的村（社区），涉及2人" in body
    assert "有阻断问题" in body
    xlsx = client.get(reverse("migration:testload_xlsx", args=[load.pk]))
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"

    # the import is not offered, and says why; a forced POST is refused by the service
    page = client.get(reverse("migration:project_detail", args=[project.pk])).content.decode()
    assert "最近一次试导入未完成或有阻断问题" in page
    assert reverse("migration:import_start", args=[package.pk]) not in page
    response = client.post(reverse("migration:import_start", args=[package.pk]), follow=True)
    assert _messages(response) and not _messages(response)[0].startswith("已提交")


def test_a_clean_testload_offers_the_import_which_runs_once(
    client, project, people, django_capture_on_commit_callbacks
):
    _settle_and_freeze(client, project)
    client.post(reverse("migration:mapping_identity", args=[project.pk]))
    package = _export(client, project, django_capture_on_commit_callbacks)
    _follow_post(
        client, reverse("migration:testload_start", args=[package.pk]), callbacks=django_capture_on_commit_callbacks
    )
    load = Load.objects.get(package=package)
    assert load.clean, list(load.findings.values_list("kind", "message")[:5])
    page = client.get(reverse("migration:project_detail", args=[project.pk])).content.decode()
    assert reverse("migration:import_start", args=[package.pk]) in page

    response = _follow_post(
        client, reverse("migration:import_start", args=[package.pk]), callbacks=django_capture_on_commit_callbacks
    )
    assert "已提交正式导入，后台正在导入。" in _messages(response)
    assert _step(project, Step.IMPORT).state == StepState.DONE
    page = client.get(reverse("migration:project_detail", args=[project.pk])).content.decode()
    assert reverse("migration:deduction_list", args=[project.pk]) in page
    for name in ("deduction_list", "payout_list"):
        listing = client.get(reverse(f"migration:{name}", args=[project.pk]))
        assert listing.status_code == 200 and listing.content[:2] == b"PK"

    again = client.post(reverse("migration:import_start", args=[package.pk]), follow=True)
    assert _messages(again) and not _messages(again)[0].startswith("已提交")

    # the cut-over needs the fund transfer first; then it waits for its date
    page = client.get(reverse("migration:project_detail", args=[project.pk])).content.decode()
    assert "基金划转完成后才能切换。" in page
    response = client.post(reverse("migration:fund_transfer", args=[project.pk]), follow=True)
    assert "已将个人账户基金积存额划转至目标统筹区财政专户。" in _messages(response)
    assert _step(project, Step.FUND_TRANSFER).state == StepState.DONE
    assert 'id="fund-transfer-record"' in response.content.decode()
    project.cutover_date = timezone.localdate() + dt.timedelta(days=30)
    project.save()
    response = client.post(reverse("migration:cutover", args=[project.pk]), follow=True)
    assert f"切换日期为{project.cutover_date:%Y年%m月%d日}，尚未到达，不能切换。" in _messages(response)
    assert _step(project, Step.CUTOVER).state == StepState.PENDING
    project.cutover_date = timezone.localdate() - dt.timedelta(days=1)
    project.save()
    response = client.post(reverse("migration:cutover", args=[project.pk]), follow=True)
    assert "已完成系统切换：源统筹区不再受理新业务，历史记录仍可查询。" in _messages(response)
    assert _step(project, Step.CUTOVER).state == StepState.DONE


# --- place mapping, survey, events -----------------------------------------------------------------------------


def test_the_mapping_page_lists_unmapped_codes_and_maps_them_identically(client, project, people):
    page = client.get(reverse("migration:mapping", args=[project.pk]))
    assert page.status_code == 200
    assert "320411101201" in page.content.decode()

    response = client.post(reverse("migration:mapping_identity", args=[project.pk]), follow=True)
    assert response.status_code == 200
    mapping = PlaceMapping.objects.get(project=project, source_code="320411101201")
    assert mapping.target.code == "320411101201"
    assert "所有原区划代码都已对照。" in response.content.decode()


def test_a_confirmation_to_an_unknown_code_is_refused_next_to_its_field(client, project, people):
    response = client.post(
        reverse("migration:mapping_confirm", args=[project.pk]),
        {"source_code": "320411101201", "target_code": "999999999999"},
    )
    assert response.status_code == 400
    assert not PlaceMapping.objects.filter(project=project, source_code="320411101201").exists()


def test_the_survey_records_where_archives_are_kept(client, project):
    url = reverse("migration:survey", args=[project.pk])
    response = client.post(
        url,
        {"kind": "参保登记表", "region_code": "320411101000", "place": "新北区社保中心档案室", "years": "2010-2015",
         "quantity": "12", "note": ""},
    )  # fmt: skip
    assert response.status_code == 302
    item = ArchiveSurveyItem.objects.get(project=project)
    assert (item.kind, item.place, item.quantity) == ("参保登记表", "新北区社保中心档案室", 12)
    assert "新北区社保中心档案室" in client.get(url).content.decode()

    refused = client.post(url, {"kind": "缴费台账", "place": "", "quantity": "1"})
    assert refused.status_code == 400
    assert "请填写存放地点。" in refused.content.decode()


def test_the_events_page_lists_every_transition(client, project, supervisor):
    step_start(project, Step.SETTLE, actor=supervisor)
    step_finish(project, Step.SETTLE, actor=supervisor, summary="核对完毕")
    body = client.get(reverse("migration:events", args=[project.pk])).content.decode()
    assert "核对完毕" in body
    assert body.count("源统筹区结算核对") >= 3  # created, started, finished


def test_the_city_supervisors_home_shows_the_merger_card(client, project, source):
    body = client.get(reverse("portal:home")).content.decode()
    assert 'id="merger-card"' in body
    assert reverse("migration:project_list") in body
    clerk = Client()
    clerk.force_login(source.staff(Role.COUNTY_CLERK))
    assert 'id="merger-card"' not in clerk.get(reverse("portal:home")).content.decode()
