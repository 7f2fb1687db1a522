"""``manage.py merger <verb>``: each step run synchronously by an operator, a refusal as a non-zero exit with the
service's Chinese message."""

# The fixtures are shared from test_views: imported by name, they are redefined as test arguments.
# ruff: noqa: F401, F811

import datetime as dt
import io
import zipfile

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from agencies.models import Role
from agencies.tests.factories import region_line
from migration.models import MergerPackage, MergerProject, MergerStep, PlaceMapping, Step, StepState
from migration.models import TestLoad as Load
from migration.tests.test_views import people, project, source, supervisor, target

pytestmark = pytest.mark.django_db


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command("merger", *args, stdout=out)
    return out.getvalue()


def _state(project, step: str) -> str:
    return MergerStep.objects.get(project=project, step=step).state


def test_create_then_status(source, target, supervisor):
    output = _run(
        "create",
        "--actor", supervisor.username,
        "--name", "新北区并入市本级",
        "--source", "320411",
        "--target", "320402",
        "--cutover", "2027-01-01",
        "--tiers-until", "2027-06-30",
        "--deemed-until", "2027-01-01",
        "--default-tier", "300",
    )  # fmt: skip
    project = MergerProject.objects.get()
    assert f"已新建并轨项目 {project.pk}：新北区并入市本级" in output
    assert str(project.default_tier) == "300.00" and project.fold_pooled

    status = _run("status", "--actor", supervisor.username, "--project", str(project.pk))
    assert "新北区 → 常州市本级" in status
    assert "1. 源统筹区结算核对：未开始" in status
    assert "7. 系统切换：未开始" in status


def test_the_steps_from_settle_to_a_clean_testload(project, people, supervisor, tmp_path):
    who = ["--actor", supervisor.username, "--project", str(project.pk)]
    assert "已确认源统筹区结算完成。" in _run("settle", *who)
    assert "已封存源统筹区数据。" in _run("freeze", *who)
    assert "尚未对照 0 个代码" in _run("map", *who, "--identity")
    assert PlaceMapping.objects.filter(project=project, source_code="320411101201").exists()

    out = tmp_path / "package.zip"
    output = _run("export", *who, "--out", str(out))
    package = MergerPackage.objects.get(project=project)
    assert f"SHA-256 {package.sha256}" in output
    assert out.stat().st_size == package.size
    with zipfile.ZipFile(out) as archive:
        assert archive.read("persons.csv").decode().count("\n") == 3  # the header and two persons

    output = _run("testload", *who, "--package-id", str(package.pk))
    load = Load.objects.get(package=package)
    assert f"试导入 {load.pk} 完成：无阻断问题" in output
    assert _state(project, Step.TESTLOAD) == StepState.DONE


def test_a_testload_with_blocking_findings_exits_non_zero(project, people, supervisor):
    who = ["--actor", supervisor.username, "--project", str(project.pk)]
    _run("settle", *who)
    _run("freeze", *who)
    _run("export", *who)  # no mapping: every village is unmapped
    package = MergerPackage.objects.get(project=project)
    with pytest.raises(CommandError, match="发现阻断问题 1 个，不能正式导入。") as refused:
        _run("testload", *who, "--package-id", str(package.pk))
    assert refused.value.returncode == 1


def test_a_settlement_not_yet_true_exits_non_zero_with_what_is_open(project, source, supervisor):
    from enrollment import idnumber, services

    services.registration_submit(
        actor=source.staff(Role.VILLAGE_AGENT),
        village=source.village,
        id_number=idnumber.make("320411", dt.date(1980, 2, 2), 7),
        data={"name": "在途甲"},
    )
    with pytest.raises(CommandError, match="^结算核对未通过，尚未完成：1 件登记业务尚在办理中。$"):
        _run("settle", "--actor", supervisor.username, "--project", str(project.pk))
    assert _state(project, Step.SETTLE) == StepState.FAILED


def test_a_refused_step_exits_with_the_services_message(project, supervisor):
    who = ["--actor", supervisor.username, "--project", str(project.pk)]
    with pytest.raises(CommandError, match="请先完成：源统筹区结算核对。"):
        _run("freeze", *who)
    assert _state(project, Step.FREEZE) == StepState.PENDING


def test_an_actor_who_may_not_run_mergers_is_refused(project, source):
    clerk = source.staff(Role.COUNTY_CLERK)
    with pytest.raises(CommandError, match="不在 .* 的管辖范围内"):
        _run("status", "--actor", clerk.username, "--project", str(project.pk))
    nanjing = region_line(county="320115", township="101", village="201").staff(Role.CITY_SUPERVISOR)
    with pytest.raises(CommandError, match="未找到并轨项目"):
        _run("settle", "--actor", nanjing.username, "--project", str(project.pk))
    with pytest.raises(CommandError, match="未找到用户 nobody。"):
        _run("status", "--actor", "nobody", "--project", str(project.pk))


def test_create_by_a_county_clerk_is_refused_in_chinese(source, target):
    clerk = source.staff(Role.COUNTY_CLERK)
    with pytest.raises(CommandError, match="您的岗位无权办理此项业务。"):
        _run(
            "create", "--actor", clerk.username, "--name", "越权", "--source", "320411", "--target", "320402",
            "--cutover", "2027-01-01", "--tiers-until", "2027-06-30", "--deemed-until", "2027-01-01",
        )  # fmt: skip
    assert not MergerProject.objects.exists()


def test_from_the_shell_a_refusal_exits_1_and_prints_the_message(project, supervisor, capsys):
    from django.core.management import ManagementUtility

    utility = ManagementUtility(["manage.py", "merger", "freeze", "--actor", supervisor.username, "--project",
                                 str(project.pk)])  # fmt: skip
    with pytest.raises(SystemExit) as exited:
        utility.execute()
    assert exited.value.code == 1
    assert "请先完成：源统筹区结算核对。" in capsys.readouterr().err


def test_the_demo_project_is_a_draft_counted_from_the_reference_date(source, target, supervisor):
    from agencies.models import PoolingRegion
    from migration.demo import DEMO_NAME, seed_merger

    # given: the demo's 常州市本级 (320400) holds the target district
    city_level = PoolingRegion.objects.create(code="320400", name="常州市本级")
    target.county.pooling_region = city_level
    target.county.save()

    project = seed_merger(reference_date=dt.date(2026, 11, 1), city_supervisor=supervisor)
    again = seed_merger(reference_date=dt.date(2026, 11, 1), city_supervisor=supervisor)

    assert again == project and MergerProject.objects.count() == 1
    assert project.name == DEMO_NAME
    assert (project.cutover_date, project.source_tiers_until, project.deemed_years_until) == (
        dt.date(2027, 1, 1),
        dt.date(2027, 6, 30),
        dt.date(2027, 1, 1),
    )
    assert list(PlaceMapping.objects.filter(project=project).values_list("source_code", "target__code")) == [
        ("320411101201", "320411101201")
    ]
    assert {row.state for row in MergerStep.objects.filter(project=project)} == {StepState.PENDING}
