"""The work pages: the whole queue (待办) with due dates and its .xlsx, and the time limits (办理时限).

Thin views: the jurisdiction first, the role next (403), then one selector or service; a refusal is shown next to
its field; a change redirects back (POST-redirect-GET).
"""

from __future__ import annotations

import tempfile

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods
from openpyxl import Workbook

from agencies.errors import DomainError
from agencies.exports import xlsx_header
from agencies.models import PoolingRegion
from agencies.permissions import Action, can
from agencies.scope import scope_prefix
from portal import worklists
from portal.forms_work import TimeLimitForm
from portal.timelimits import time_limit_set

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
QUEUE_PER_PAGE = 100
SHOW_QUEUE, SHOW_OVERDUE = "queue", "overdue"


def _xlsx_response(book: Workbook, filename: str) -> FileResponse:
    handle = tempfile.TemporaryFile()  # noqa: SIM115 - the response closes it once sent, and so deletes it
    book.save(handle)
    handle.seek(0)
    response = FileResponse(handle, as_attachment=True, filename=filename, content_type=XLSX)
    response["Cache-Control"] = "private, no-store"
    return response


def _wants_xlsx(request: HttpRequest) -> bool:
    return request.GET.get("format") == "xlsx"


def _require_jurisdiction(user) -> None:
    if scope_prefix(user) is None:
        raise PermissionDenied


# --- the queue ------------------------------------------------------------------------------------------------


QUEUE_COLUMNS = [
    gettext_lazy("编号"),
    gettext_lazy("业务类型"),
    gettext_lazy("参保人"),
    gettext_lazy("身份证号"),
    gettext_lazy("区划代码"),
    gettext_lazy("所在地"),
    gettext_lazy("状态"),
    gettext_lazy("录入人"),
    gettext_lazy("受理日期"),
    gettext_lazy("办结时限"),
    gettext_lazy("时限状态"),
    gettext_lazy("退回原因"),
]


def _queue_xlsx(items: list[worklists.WorkItem], show: str) -> FileResponse:
    book = Workbook(write_only=True)
    sheet = book.create_sheet(_("超时未办结") if show == SHOW_OVERDUE else _("待办"))
    xlsx_header(sheet, [str(label) for label in QUEUE_COLUMNS])
    for item in items:
        sheet.append(
            [
                item.pk,
                item.kind_label,
                item.person_name,
                item.id_number,  # masked already
                item.region_code,
                item.place,
                item.status_label,
                item.entered_by,
                item.submitted,
                item.due,
                item.state_label,
                item.note,
            ]
        )
    return _xlsx_response(book, f"{show}-{timezone.localdate():%Y%m%d}.xlsx")


@login_required
@require_GET
def work_queue(request: HttpRequest) -> HttpResponse:
    """待办: the queue a page at a time with each item's due date, overdue first; or (``?show=overdue``, a
    supervisor's default) the overdue items, for a supervisor every open item in the jurisdiction past its limit."""
    user = request.user
    _require_jurisdiction(user)
    default = SHOW_OVERDUE if worklists.is_supervisor(user) else SHOW_QUEUE
    show = request.GET.get("show") or default
    if show not in (SHOW_QUEUE, SHOW_OVERDUE):
        show = default
    today = timezone.localdate()
    # Ordered and counted from a few columns of every item; full rows only for the page (the export is the lot).
    index = (
        worklists.overdue_index(user=user, today=today)
        if show == SHOW_OVERDUE
        else worklists.queue_index(user=user, today=today)
    )
    if _wants_xlsx(request):
        return _queue_xlsx(index.load(), show)
    page = Paginator(index.keys, QUEUE_PER_PAGE).get_page(request.GET.get("page"))
    page.object_list = index.load(page.object_list)
    context = {
        "show": show,
        "page": page,
        "total": index.total,
        "overdue_count": index.overdue,
        "counts": index.counts,
        "today": today,
        "due_soon_days": worklists.DUE_SOON_WORKING_DAYS,
    }
    return render(request, "portal/work_queue.html", context)


# --- time limits ----------------------------------------------------------------------------------------------


LIMIT_COLUMNS = [
    gettext_lazy("统筹区"),
    gettext_lazy("业务类型"),
    gettext_lazy("现行办理时限（工作日）"),
    gettext_lazy("法定时限（工作日）"),
    gettext_lazy("执行依据"),
    gettext_lazy("生效日期"),
]
HISTORY_COLUMNS = [
    gettext_lazy("统筹区"),
    gettext_lazy("业务类型"),
    gettext_lazy("办理时限（工作日）"),
    gettext_lazy("生效日期"),
    gettext_lazy("设置人"),
    gettext_lazy("设置时间"),
]


def _limits_xlsx(overview: list[worklists.RegionLimits]) -> FileResponse:
    book = Workbook(write_only=True)
    current = book.create_sheet(_("现行办理时限"))
    xlsx_header(current, [str(label) for label in LIMIT_COLUMNS])
    history = book.create_sheet(_("设置记录"))
    xlsx_header(history, [str(label) for label in HISTORY_COLUMNS])
    for region in overview:
        for limit in region.kinds:
            current.append(
                [
                    region.pooling_region.name,
                    limit.kind_label,
                    limit.days,
                    limit.statutory,
                    _("法定时限") if limit.is_statutory else _("本统筹区承诺"),
                    limit.valid_from,
                ]
            )
            for row in limit.history:
                history.append(
                    [
                        region.pooling_region.name,
                        limit.kind_label,
                        row.working_days,
                        row.valid_from,
                        row.set_by.display_name,
                        timezone.localtime(row.set_at).strftime("%Y-%m-%d %H:%M"),
                    ]
                )
    return _xlsx_response(book, f"time-limits-{timezone.localdate():%Y%m%d}.xlsx")


@login_required
@require_http_methods(["GET", "POST"])
def time_limits(request: HttpRequest) -> HttpResponse:
    """办理时限: each pooling region's limits in force per kind (the statutory default marked) and their history;
    a city supervisor sets a new limit from a date for the pooling regions wholly in their jurisdiction."""
    user = request.user
    _require_jurisdiction(user)
    today = timezone.localdate()
    may_set = can(user, Action.SET_TIME_LIMITS)
    form = None
    status = 200
    if request.method == "POST":
        if not may_set:
            raise PermissionDenied
        settable = worklists.settable_pooling_regions(user=user)
        form = TimeLimitForm(
            request.POST, pooling_regions=PoolingRegion.objects.filter(pk__in=[r.pk for r in settable])
        )
        if form.is_valid():
            data = form.cleaned_data
            try:
                row = time_limit_set(
                    actor=user,
                    pooling_region=data["pooling_region"],
                    kind=data["kind"],
                    working_days=data["working_days"],
                    valid_from=data["valid_from"],
                )
            except DomainError as error:
                form.add_domain_error(error)
            else:
                messages.success(
                    request,
                    _("已设置%(region)s“%(kind)s”自%(day)s起的办理时限：%(days)s个工作日。")
                    % {
                        "region": row.pooling_region.name,
                        "kind": row.get_kind_display(),
                        "day": f"{row.valid_from:%Y年%m月%d日}",
                        "days": row.working_days,
                    },
                )
                return redirect("portal:time_limits")
        status = 400
    overview = worklists.time_limits_overview(user=user, on=today)
    if _wants_xlsx(request) and request.method == "GET":
        return _limits_xlsx(overview)
    settable_ids = [region.pooling_region.pk for region in overview if region.may_set]
    if form is None and settable_ids:
        form = TimeLimitForm(pooling_regions=PoolingRegion.objects.filter(pk__in=settable_ids).order_by("code"))
    context = {"overview": overview, "form": form if settable_ids else None, "today": today}
    return render(request, "portal/timelimits.html", context, status=status)
