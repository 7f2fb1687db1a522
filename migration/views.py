"""The browser side of district mergers (并轨), for the city supervisor.

Thin views, as elsewhere: the project (or its step, package, test-load) is fetched through the jurisdiction
scope first (outside it → 404, whatever the role), then the merger role is checked (403), then one service is
called and its refusal shown as a message. Long steps (export, test-load, import) are queued as Celery tasks
after the request commits; their step reports progress, which the page polls every 2 s. Packages hold every
identity number and account in full: they are served only through a view that checks the scope, and each
download is logged to "portal.audit".
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from agencies.errors import DomainError
from enrollment.views import scope_model
from migration import freezing, importer, lists, mapping, report, selectors, settle, survey, tasks, testload, transfer
from migration import services as merger
from migration.forms import MappingConfirmForm, MappingFileForm, PackageUploadForm, ProjectForm, SurveyItemForm
from migration.models import (
    MergerPackage,
    MergerProject,
    MergerStep,
    PackageOrigin,
    Step,
    StepState,
    TestLoad,
    TestLoadStatus,
)

audit = logging.getLogger("portal.audit")

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FINDING_ROWS_SHOWN = 20


def _require_merger(user, project: MergerProject | None = None) -> None:
    try:
        merger.require_merger_user(user, project)
    except DomainError:
        raise PermissionDenied from None


def _project(request: HttpRequest, pk: int) -> MergerProject:
    project = selectors.project_get(user=request.user, pk=pk)
    _require_merger(request.user, project)
    return project


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "private, no-store"
    return response


def _to_step(project: MergerProject, step: str, query: str = "") -> HttpResponse:
    return redirect(reverse("migration:project_detail", args=[project.pk]) + query + f"#step-{step}")


def _act(request: HttpRequest, project: MergerProject, step: str, call: Callable[[], object], done: str):
    """Call one service; its refusal (in Chinese) goes to the page as a message."""
    try:
        call()
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, done)
    return _to_step(project, step)


# --- projects -------------------------------------------------------------------------------------------


@login_required
@require_GET
def project_list(request: HttpRequest) -> HttpResponse:
    """并轨项目: the projects in the user's jurisdiction, each with the step it stands at."""
    _require_merger(request.user)
    projects = list(selectors.project_list(user=request.user).prefetch_related("steps"))
    for project in projects:
        steps = {row.step: row for row in project.steps.all()}
        project.current = next(
            (steps[name] for name in Step.values if name in steps and steps[name].state != StepState.DONE), None
        )
    return render(request, "migration/project_list.html", {"projects": projects})


@login_required
@require_http_methods(["GET", "POST"])
def project_create(request: HttpRequest) -> HttpResponse:
    """新建并轨项目: source and target pooling regions the user covers, the towns that move, dates and the policy."""
    user = request.user
    _require_merger(user)
    regions = selectors.mergeable_pooling_regions(user=user)
    towns = selectors.town_choices(user=user, pooling_regions=regions)
    form = ProjectForm(request.POST if request.method == "POST" else None, pooling_regions=regions, towns=towns)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            project = merger.project_create(
                actor=user,
                name=data["name"],
                source_pooling_region=data["source_pooling_region"],
                target_pooling_region=data["target_pooling_region"],
                cutover_date=data["cutover_date"],
                source_tiers_until=data["source_tiers_until"],
                deemed_years_until=data["deemed_years_until"],
                source_towns=data["source_towns"] or None,
                default_tier=data["default_tier"],
                fold_pooled=data["fold_pooled"],
            )
        except DomainError as error:
            form.add_domain_error(error)
        else:
            messages.success(request, _("已新建并轨项目：%(name)s。") % {"name": project.name})
            return redirect("migration:project_detail", pk=project.pk)
    return render(request, "migration/project_form.html", {"form": form}, status=400 if form.errors else 200)


@scope_model(MergerProject)
@login_required
@require_GET
def project_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The project page: the seven steps in order, who did each and when, and each step's action when allowed."""
    project = _project(request, pk)
    steps = selectors.steps_in_order(project)
    by_name = {row.step: row for row in steps}
    packages = list(selectors.project_packages(project))
    loads = list(selectors.project_testloads(project)[:20])
    last_load = {}
    for load in reversed(loads):
        last_load[load.package_id] = load
    for package in packages:
        package.last_testload = last_load.get(package.pk)
        package.imported = hasattr(package, "import_run")
    settle_row = by_name.get(Step.SETTLE)
    context = {
        "project": project,
        "steps": steps,
        "by_name": by_name,
        "packages": packages,
        "exported": [package for package in packages if package.origin == PackageOrigin.EXPORT],
        "testloads": loads,
        "imports": list(selectors.project_imports(project)),
        "events": selectors.project_events(project, limit=20),
        "unmapped": len(mapping.source_codes_unmapped(project)),
        "mapped": selectors.project_mappings(project).count(),
        "queued": request.GET.get("queued", ""),
        "max_mb": settings.MERGER_PACKAGE_MAX_BYTES // (1024 * 1024),
        "upload_form": PackageUploadForm(),
        "fund_transfer": getattr(project, "fund_transfer", None),
    }
    if by_name.get(Step.IMPORT) is not None and by_name[Step.IMPORT].state == StepState.DONE:
        context["lists_summary"] = lists.lists_summary(project)
    # The checklist counts over the whole source: only while the settlement is still to confirm.
    if settle_row is not None and settle_row.state != StepState.DONE:
        context["settle_items"] = settle.settle_check(project)
    return render(request, "migration/project_detail.html", context)


@scope_model(MergerStep)
@login_required
@require_GET
def step_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """One step's state and progress bar, polled every 2 s while it runs; once it ends, the page reloads to show
    what comes next."""
    row = selectors.step_get(user=request.user, pk=pk)
    _require_merger(request.user, row.project)
    queued = request.GET.get("queued") == "1"
    response = render(request, "migration/_step_state.html", {"row": row, "queued": queued})
    waiting = row.state == StepState.RUNNING or (queued and row.state == StepState.PENDING)
    if request.htmx and not waiting:
        response["HX-Refresh"] = "true"
    return response


@scope_model(MergerProject)
@login_required
@require_GET
def project_events(request: HttpRequest, pk: int) -> HttpResponse:
    """操作记录: every transition of every step, newest first."""
    project = _project(request, pk)
    return render(
        request, "migration/events.html", {"project": project, "events": selectors.project_events(project, None)}
    )


# --- steps ----------------------------------------------------------------------------------------------


@scope_model(MergerProject)
@login_required
@require_POST
def settle_confirm(request: HttpRequest, pk: int) -> HttpResponse:
    """Run the checklist as the step: done when every item holds, failed (with what is not yet true) otherwise."""
    project = _project(request, pk)
    try:
        items = settle.settle_confirm(actor=request.user, project=project)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        pending = [item.detail for item in items if not item.ok]
        if pending:
            messages.error(request, _("结算核对未通过，尚未完成：%(items)s。") % {"items": "；".join(pending)})
        else:
            messages.success(request, _("已确认源统筹区结算完成。"))
    return _to_step(project, Step.SETTLE)


@scope_model(MergerProject)
@login_required
@require_POST
def freeze_apply(request: HttpRequest, pk: int) -> HttpResponse:
    project = _project(request, pk)
    return _act(
        request,
        project,
        Step.FREEZE,
        lambda: freezing.freeze_apply(actor=request.user, project=project),
        _("已封存源统筹区数据：此后任何修改都将被拒绝。"),
    )


@scope_model(MergerProject)
@login_required
@require_POST
def freeze_lift(request: HttpRequest, pk: int) -> HttpResponse:
    project = _project(request, pk)
    return _act(
        request,
        project,
        Step.FREEZE,
        lambda: freezing.freeze_lift(actor=request.user, project=project),
        _("已解除封存。正式导入前须重新封存，并重新导出、试导入。"),
    )


def _enqueue(call: Callable[[], None]) -> None:
    # Queued only once the request's writes are committed, so the worker finds them.
    transaction.on_commit(call)


@scope_model(MergerProject)
@login_required
@require_POST
def export_start(request: HttpRequest, pk: int) -> HttpResponse:
    """导出数据包: queued; the step shows its progress and then the package with its SHA-256."""
    project = _project(request, pk)
    steps = merger.steps_by_name(project)
    if steps[Step.EXPORT].state == StepState.RUNNING:
        messages.error(request, _("“导出数据包”正在进行中，请等待完成。"))
        return _to_step(project, Step.EXPORT)
    # The worker's refusal would reach no one: say here what the step still needs.
    missing = [str(Step(need).label) for need in merger.REQUIRES[Step.EXPORT] if steps[need].state != StepState.DONE]
    if missing:
        messages.error(request, _("请先完成：%(steps)s。") % {"steps": "、".join(missing)})
        return _to_step(project, Step.EXPORT)
    project_id, actor_id, requested_at = project.pk, request.user.pk, timezone.now().isoformat()
    _enqueue(lambda: tasks.export_package.delay(project_id, actor_id, requested_at))
    messages.success(request, _("已提交导出，后台正在生成数据包。"))
    return _to_step(project, Step.EXPORT, "?queued=export")


@scope_model(MergerPackage)
@login_required
@require_GET
def package_download(request: HttpRequest, pk: int) -> HttpResponse:
    """The package, byte for byte (its SHA-256 in a header), to the supervisor of the project only."""
    package = selectors.package_get(user=request.user, pk=pk)
    _require_merger(request.user, package.project)
    audit.info("merger package downloaded: user=%s package=%s sha256=%s", request.user.pk, package.pk, package.sha256)
    response = FileResponse(
        package.file.open("rb"), as_attachment=True, filename=package.file_name, content_type="application/zip"
    )
    response["X-Content-SHA256"] = package.sha256
    return _no_store(response)


@scope_model(MergerProject)
@login_required
@require_POST
def package_upload(request: HttpRequest, pk: int) -> HttpResponse:
    """上传数据包 from a legacy system. A body past the limit is refused before it is read; Django streams a
    large upload to a temporary file, and the service copies it to storage in chunks."""
    project = _project(request, pk)
    limit = settings.MERGER_PACKAGE_MAX_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit + 64 * 1024:  # the form's own fields and boundaries add a little
        messages.error(request, _("数据包过大，最大允许 %(mb)s MB。") % {"mb": limit // (1024 * 1024)})
        return _to_step(project, Step.TESTLOAD)
    form = PackageUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return _to_step(project, Step.TESTLOAD)
    try:
        package = testload.package_upload(actor=request.user, project=project, uploaded_file=form.cleaned_data["file"])
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("已上传数据包 %(name)s，可以试导入。") % {"name": package.file_name})
    return _to_step(project, Step.TESTLOAD)


@scope_model(MergerPackage)
@login_required
@require_POST
def testload_start(request: HttpRequest, pk: int) -> HttpResponse:
    """试导入 a package: queued; its report appears when the step ends."""
    package = selectors.package_get(user=request.user, pk=pk)
    project = package.project
    _require_merger(request.user, project)
    try:
        with transaction.atomic():
            load = testload.testload_start(actor=request.user, project=project, package=package)
            load_id = load.pk
            _enqueue(lambda: tasks.run_testload.delay(load_id))
    except DomainError as error:
        messages.error(request, error.message)
        return _to_step(project, Step.TESTLOAD)
    messages.success(request, _("已提交试导入，后台正在读取数据包。"))
    return _to_step(project, Step.TESTLOAD, "?queued=testload")


@scope_model(TestLoad)
@login_required
@require_GET
def testload_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """试导入报告: findings by kind with their counts and first rows; the full list as .xlsx."""
    load = selectors.testload_get(user=request.user, pk=pk)
    _require_merger(request.user, load.project)
    summary = report.findings_summary(load) if load.status != TestLoadStatus.RUNNING else []
    for item in summary:
        item["shown"] = list(item["rows"])[:FINDING_ROWS_SHOWN]
    context = {"load": load, "project": load.project, "summary": summary, "rows_shown": FINDING_ROWS_SHOWN}
    return render(request, "migration/testload_detail.html", context)


@scope_model(TestLoad)
@login_required
@require_GET
def testload_xlsx(request: HttpRequest, pk: int) -> HttpResponse:
    load = selectors.testload_get(user=request.user, pk=pk)
    _require_merger(request.user, load.project)
    response = HttpResponse(report.findings_xlsx(load), content_type=XLSX)
    response["Content-Disposition"] = f'attachment; filename="testload-{load.pk}.xlsx"'
    return _no_store(response)


@scope_model(MergerPackage)
@login_required
@require_POST
def import_start(request: HttpRequest, pk: int) -> HttpResponse:
    """正式导入 a package: refused by the service unless its last test-load was clean and it was never imported."""
    package = selectors.package_get(user=request.user, pk=pk)
    project = package.project
    _require_merger(request.user, project)
    try:
        with transaction.atomic():
            run = importer.import_start(actor=request.user, project=project, package=package)
            run_id = run.pk
            _enqueue(lambda: tasks.run_import.delay(run_id))
    except DomainError as error:
        messages.error(request, error.message)
        return _to_step(project, Step.IMPORT)
    messages.success(request, _("已提交正式导入，后台正在导入。"))
    return _to_step(project, Step.IMPORT, "?queued=import")


@scope_model(MergerProject)
@login_required
@require_GET
def deduction_list_xlsx(request: HttpRequest, pk: int) -> HttpResponse:
    """次年1月的代扣名单 of everyone imported."""
    project = _project(request, pk)
    return _list_download(request, project, lists.deduction_xlsx, "deduction")


@scope_model(MergerProject)
@login_required
@require_GET
def payout_list_xlsx(request: HttpRequest, pk: int) -> HttpResponse:
    """次年1月的待遇发放名单 of every recipient imported."""
    project = _project(request, pk)
    return _list_download(request, project, lists.payout_xlsx, "payout")


def _list_download(request: HttpRequest, project: MergerProject, build, kind: str) -> HttpResponse:
    try:
        content = build(project)
    except DomainError as error:
        messages.error(request, error.message)
        return _to_step(project, Step.IMPORT)
    audit.info("merger list downloaded: user=%s project=%s kind=%s", request.user.pk, project.pk, kind)
    response = HttpResponse(content, content_type=XLSX)
    response["Content-Disposition"] = f'attachment; filename="merger-{project.pk}-{kind}.xlsx"'
    return _no_store(response)


@scope_model(MergerProject)
@login_required
@require_POST
def fund_transfer(request: HttpRequest, pk: int) -> HttpResponse:
    project = _project(request, pk)
    return _act(
        request,
        project,
        Step.FUND_TRANSFER,
        lambda: transfer.fund_transfer(actor=request.user, project=project),
        _("已将个人账户基金积存额划转至目标统筹区财政专户。"),
    )


@scope_model(MergerProject)
@login_required
@require_POST
def cutover(request: HttpRequest, pk: int) -> HttpResponse:
    project = _project(request, pk)
    return _act(
        request,
        project,
        Step.CUTOVER,
        lambda: transfer.cutover(actor=request.user, project=project),
        _("已完成系统切换：源统筹区不再受理新业务，历史记录仍可查询。"),
    )


# --- place mapping --------------------------------------------------------------------------------------


@scope_model(MergerProject)
@login_required
@require_GET
def mapping_page(request: HttpRequest, pk: int) -> HttpResponse:
    """区划对照: the codes mapped so far, the source codes still without a target, and the three ways to map."""
    project = _project(request, pk)
    return _render_mapping(request, project)


def _render_mapping(request, project, *, file_form=None, confirm_form=None, status: int = 200) -> HttpResponse:
    context = {
        "project": project,
        "mappings": selectors.project_mappings(project),
        "unmapped": mapping.source_codes_unmapped(project),
        "file_form": file_form or MappingFileForm(),
        "confirm_form": confirm_form or MappingConfirmForm(),
    }
    return render(request, "migration/mapping.html", context, status=status)


def _to_mapping(project: MergerProject) -> HttpResponse:
    return redirect("migration:mapping", pk=project.pk)


@scope_model(MergerProject)
@login_required
@require_POST
def mapping_load(request: HttpRequest, pk: int) -> HttpResponse:
    project = _project(request, pk)
    form = MappingFileForm(request.POST, request.FILES)
    if not form.is_valid():
        return _render_mapping(request, project, file_form=form, status=400)
    upload = form.cleaned_data["file"]
    try:
        result = mapping.mapping_load(actor=request.user, project=project, content=upload.read(), file_name=upload.name)
    except DomainError as error:
        form.add_error("file", error.message)
        return _render_mapping(request, project, file_form=form, status=400)
    count = result if isinstance(result, int) else None
    if count is None:
        messages.success(request, _("已导入对照文件 %(name)s。") % {"name": upload.name})
    else:
        messages.success(request, _("已导入对照文件 %(name)s：%(n)s 条。") % {"name": upload.name, "n": count})
    return _to_mapping(project)


@scope_model(MergerProject)
@login_required
@require_POST
def mapping_confirm(request: HttpRequest, pk: int) -> HttpResponse:
    project = _project(request, pk)
    form = MappingConfirmForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            mapping.mapping_confirm(
                actor=request.user, project=project, source_code=data["source_code"], target_code=data["target_code"]
            )
        except DomainError as error:
            form.add_domain_error(error)
        else:
            messages.success(
                request,
                _("已确认：%(source)s → %(target)s。") % {"source": data["source_code"], "target": data["target_code"]},
            )
            return _to_mapping(project)
    return _render_mapping(request, project, confirm_form=form, status=400)


@scope_model(MergerProject)
@login_required
@require_POST
def mapping_identity(request: HttpRequest, pk: int) -> HttpResponse:
    project = _project(request, pk)
    try:
        mapping.mapping_identity(actor=request.user, project=project)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("已按原代码对照：代码不变的村/社区已全部对照。"))
    return _to_mapping(project)


# --- archive survey -------------------------------------------------------------------------------------


@scope_model(MergerProject)
@login_required
@require_http_methods(["GET", "POST"])
def survey_page(request: HttpRequest, pk: int) -> HttpResponse:
    """档案摸底: where each kind of the source's records is kept, for the archives to take over later."""
    project = _project(request, pk)
    form = SurveyItemForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            survey.survey_item_add(
                actor=request.user,
                project=project,
                kind=data["kind"],
                region_code=data["region_code"],
                place=data["place"],
                years=data["years"],
                quantity=data["quantity"] or 0,
                note=data["note"],
            )
        except DomainError as error:
            form.add_domain_error(error)
        else:
            messages.success(request, _("已登记：%(kind)s。") % {"kind": data["kind"]})
            return redirect("migration:survey", pk=project.pk)
    context = {"project": project, "items": survey.survey_items(project=project), "form": form}
    return render(request, "migration/survey.html", context, status=400 if form.errors else 200)
