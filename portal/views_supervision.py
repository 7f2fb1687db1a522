"""The supervision pages under /supervision/: targets (目标任务分解) with progress and ranking, the offices'
standardisation assessment (示范点评估), and the fund early warning (基金预警).

Thin views: the region (by its code, ``?region=``) or pooling region (by id) is read through the scope first (a
foreign one answers 404), then the role is checked (403), then one selector or service is called; a service's
refusal is shown next to its field and a success redirects (POST-redirect-GET). Every table has its .xlsx
(``?format=xlsx``, with ``table=`` where a page has several), read through the same selectors as the page.
"""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

from agencies.errors import DomainError
from agencies.exports import xlsx_header
from agencies.models import PoolingRegion, Region
from agencies.permissions import Action, can
from agencies.scope import get_scoped_or_404, scope_prefix, scoped
from portal import assessment as scoring
from portal import targets, warning
from portal.forms_supervision import AssessmentEntryForm, FundWarningForm, TargetForm, TargetImportForm
from portal.measures import require_region
from portal.models import Target

audit = logging.getLogger("portal.audit")

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
RANK_LABELS = {
    "completion": gettext_lazy("综合完成率"),
    "new_members": gettext_lazy("新增参保完成率"),
    "renewals": gettext_lazy("续保完成率"),
    "coverage_rate": gettext_lazy("参保率完成率"),
    "payout_rate": gettext_lazy("发放率完成率"),
}


# --- shared helpers ------------------------------------------------------------------------------------------


def _require(allowed: bool) -> None:
    if not allowed:
        raise PermissionDenied


def _home_region(user) -> Region | None:
    agency = getattr(user, "agency", None)
    if agency is not None:
        return Region.objects.select_related("parent").get(pk=agency.region_id)
    if scope_prefix(user) is not None:  # a superuser without an agency sees from the top
        return Region.objects.filter(parent__isnull=True).order_by("code").first()
    return None


def _region(request: HttpRequest) -> Region:
    """The page's region: ``?region=<code>`` in the user's scope (404 otherwise), or their own agency's."""
    user = request.user
    code = (request.GET.get("region") or "").strip()
    if code:
        region = get_scoped_or_404(Region.objects.select_related("parent"), user, code=code)
    else:
        region = _home_region(user)
        if region is None:
            raise Http404
    require_region(user=user, region=region)
    return region


def _period(request: HttpRequest) -> tuple[int, dt.date]:
    """The year and month asked (``?year=&month=``): this month unless told; a past year's December."""
    today = timezone.localdate()
    try:
        year = targets.check_year(request.GET.get("year") or today.year, today=today)
    except DomainError:
        year = today.year
    default = today.month if year == today.year else (12 if year < today.year else 1)
    try:
        month = int(request.GET.get("month") or default)
    except ValueError:
        month = default
    if not 1 <= month <= 12:
        month = default
    return year, dt.date(year, month, 1)


def _trail(user, region: Region) -> list[Region]:
    """The region and those above it down from the user's own level, top first (for the breadcrumb)."""
    prefix = scope_prefix(user) or ""
    chain: list[Region] = []
    place: Region | None = region
    while place is not None and len(place.scope_prefix) >= len(prefix) and place.code.startswith(prefix):
        chain.append(place)
        place = place.parent
    return list(reversed(chain))


def _query(**values) -> str:
    return urlencode({key: value for key, value in values.items() if value not in (None, "")})


def _period_context(year: int, month: dt.date) -> dict:
    today = timezone.localdate()
    return {
        "year": year,
        "month": month,
        "years": list(range(today.year + 1, max(targets.FIRST_YEAR, today.year - 5) - 1, -1)),
        "months": list(range(1, 13)),
    }


def _cell(sheet, value):
    if isinstance(value, Promise):  # a label marked for translation
        return str(value)
    if isinstance(value, Decimal):
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = "#,##0.00"
        return cell
    return value


def _xlsx(*, filename: str, title: str, headers: list[str], rows: list[list]) -> FileResponse:
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title[:31])
    sheet.append([title])
    xlsx_header(sheet, headers)
    for row in rows:
        sheet.append([_cell(sheet, value) for value in row])
    handle = tempfile.TemporaryFile()  # noqa: SIM115 - the response closes it once sent, and so deletes it
    book.save(handle)
    handle.seek(0)
    response = FileResponse(handle, as_attachment=True, filename=filename, content_type=XLSX)
    response["Cache-Control"] = "private, no-store"
    return response


def _wants_xlsx(request: HttpRequest) -> bool:
    return request.GET.get("format") == "xlsx"


# --- targets ---------------------------------------------------------------------------------------------------


def _target_rows(user, region: Region, year: int) -> list[dict]:
    """The year's targets of the regions below ``region``, in code order (one query), with their rates as shown."""
    rows = Target.objects.filter(year=year, region__code__startswith=region.scope_prefix).exclude(region=region)
    return [
        {
            "target": target,
            "coverage_rate": targets.percent_text(target.coverage_rate),
            "payout_rate": targets.percent_text(target.payout_rate),
        }
        for target in scoped(rows, user).select_related("region", "set_by").order_by("region__code")
    ]


def _target_initial(user, request: HttpRequest, year: int) -> dict:
    """The form's figures: those of the target chosen for change (``?edit=<code>``), as the user typed them."""
    initial = {"year": year}
    code = (request.GET.get("edit") or "").strip()
    region = targets.settable_regions(user=user).filter(code=code).first() if code else None
    if region is None:
        return initial
    initial["region"] = region.code
    target = Target.objects.filter(region=region, year=year).first()
    if target is not None:
        for name in targets.FIELDS:
            value = getattr(target, name)
            if value is not None and targets.IS_RATE[name]:
                value = targets.percent_cell(value)
            initial[name] = value
    return initial


def _targets_page(
    request: HttpRequest,
    *,
    form: TargetForm | None = None,
    import_form: TargetImportForm | None = None,
    import_errors: list | None = None,
    status: int = 200,
) -> HttpResponse:
    user = request.user
    region = _region(request)
    year, month = _period(request)
    by = request.GET.get("by") if request.GET.get("by") in targets.RANK_BY else "completion"
    progress = targets.progress(user=user, region=region, year=year, month=month)
    ranking = targets.ranking(user=user, region=region, year=year, month=month, by=by)
    target_rows = _target_rows(user, region, year)
    if _wants_xlsx(request):
        return _targets_xlsx(request, region=region, year=year, month=month, by=by, progress=progress,
                             ranking=ranking, target_rows=target_rows)  # fmt: skip
    may_set = can(user, Action.SET_TARGETS)
    context = {
        "region": region,
        "trail": _trail(user, region),
        **_period_context(year, month),
        "progress": progress,
        "ranking": ranking,
        "by": by,
        "rank_choices": list(RANK_LABELS.items()),
        "by_label": RANK_LABELS[by],
        "target_rows": target_rows,
        "may_set": may_set,
        "query": _query(region=region.code, year=year, month=month.month),
    }
    if may_set:
        regions = targets.settable_regions(user=user)
        context["form"] = form or TargetForm(regions=regions, initial=_target_initial(user, request, year))
        context["import_form"] = import_form or TargetImportForm(initial={"year": year})
        context["import_errors"] = import_errors or []
    return render(request, "portal/supervision_targets.html", context, status=status)


def _targets_xlsx(request, *, region, year, month, by, progress, ranking, target_rows) -> FileResponse:
    table = request.GET.get("table", "ranking")
    audit.info("supervision export: user=%s targets %s region=%s %s", request.user.pk, table, region.code, month)
    if table == "targets":
        return _xlsx(
            filename=f"{region.name}{year}年度目标任务.xlsx",
            title=f"{region.full_name()}所辖{year}年度目标任务",
            headers=["区划代码", "名称", "新增参保（人）", "续保（人）", "参保率", "发放率", "下达人", "下达时间"],
            rows=[
                [
                    row["target"].region.code,
                    row["target"].region.name,
                    row["target"].new_members,
                    row["target"].renewals,
                    row["coverage_rate"],
                    row["payout_rate"],
                    row["target"].set_by.display_name,
                    timezone.localtime(row["target"].set_at).strftime("%Y-%m-%d %H:%M"),
                ]
                for row in target_rows
            ],
        )
    if table == "progress":
        return _xlsx(
            filename=f"{region.name}{month:%Y年%m月}目标完成情况.xlsx",
            title=f"{region.full_name()}{year}年度目标完成情况（截至{month:%Y年%m月}）",
            headers=["项目", "完成", "目标", "完成率"],
            rows=[[i.label, i.done_text, i.target_text, i.ratio_text] for i in progress.items]
            + [["综合完成率", "", "", targets.percent_text(progress.completion)]],
        )
    return _xlsx(
        filename=f"{region.name}{month:%Y年%m月}下级排名.xlsx",
        title=f"{region.full_name()}下级{year}年度目标完成排名（截至{month:%Y年%m月}，按{RANK_LABELS[by]}）",
        headers=[
            "排名",
            "区划代码",
            "名称",
            "新增参保（本年）",
            "新增参保目标",
            "续保",
            "续保目标",
            "参保率",
            "参保率目标",
            "发放率",
            "发放率目标",
            "综合完成率",
            "排名依据",
        ],
        rows=[
            [
                row.rank,
                row.region.code,
                row.region.name,
                *[text for item in row.items for text in (item.done_text, item.target_text)],
                targets.percent_text(row.completion),
                "参保率（无目标）" if row.by_coverage else RANK_LABELS[by],
            ]
            for row in ranking
        ],
    )


@login_required
@require_GET
def targets_page(request: HttpRequest) -> HttpResponse:
    """目标任务: the year's targets of the regions below, progress against the region's own, the ranking below."""
    return _targets_page(request)


def _back_to_targets(request: HttpRequest, **values) -> HttpResponse:
    query = _query(
        region=request.GET.get("region"),
        year=values.get("year") or request.GET.get("year"),
        month=request.GET.get("month"),
    )
    return redirect(f"{reverse('portal:supervision_targets')}?{query}")


@login_required
@require_POST
def target_set(request: HttpRequest) -> HttpResponse:
    """下达目标任务 for one region (the page's ``?region=`` stays the page's)."""
    user = request.user
    _region(request)
    code = (request.POST.get("region") or "").strip()
    if code:
        get_scoped_or_404(Region.objects.all(), user, code=code)
    _require(can(user, Action.SET_TARGETS))
    form = TargetForm(request.POST, regions=targets.settable_regions(user=user))
    if form.is_valid():
        data = form.cleaned_data
        try:
            target = targets.target_set(
                actor=user,
                region=data["region"],
                year=data["year"],
                new_members=data["new_members"],
                renewals=data["renewals"],
                coverage_rate=data["coverage_rate"],
                payout_rate=data["payout_rate"],
            )
        except DomainError as error:
            form.add_domain_error(error)
        else:
            messages.success(
                request,
                _("已下达%(region)s%(year)s年度目标任务。") % {"region": target.region.name, "year": target.year},
            )
            return _back_to_targets(request, year=target.year)
    return _targets_page(request, form=form, status=400)


@login_required
@require_POST
def target_import(request: HttpRequest) -> HttpResponse:
    """导入目标任务: all rows or none; every bad row is listed by line and column."""
    user = request.user
    _region(request)
    _require(can(user, Action.SET_TARGETS))
    form = TargetImportForm(request.POST, request.FILES)
    errors: list = []
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            result = targets.targets_import(
                actor=user, year=form.cleaned_data["year"], file_name=upload.name, content=upload.read()
            )
        except targets.TargetImportRefused as refused:
            form.add_domain_error(refused)
            errors = refused.errors
        except DomainError as error:
            form.add_domain_error(error)
        else:
            messages.success(
                request,
                _("已导入%(year)s年度目标任务%(rows)s行：新下达%(created)s个，修改%(updated)s个。")
                % {"year": result.year, "rows": result.rows, "created": result.created, "updated": result.updated},
            )
            return _back_to_targets(request, year=result.year)
    return _targets_page(request, import_form=form, import_errors=errors, status=400)


@login_required
@require_GET
def target_template(request: HttpRequest) -> FileResponse:
    """The import's workbook with a row for each region the user may set."""
    user = request.user
    _require(can(user, Action.SET_TARGETS))
    year, _month = _period(request)
    handle = tempfile.TemporaryFile()  # noqa: SIM115 - closed (and deleted) by the response
    handle.write(targets.import_template(user=user, year=year))
    handle.seek(0)
    response = FileResponse(handle, as_attachment=True, filename=f"{year}年度目标任务导入模板.xlsx", content_type=XLSX)
    response["Cache-Control"] = "private, no-store"
    return response


# --- the assessment --------------------------------------------------------------------------------------------


def _may_enter(user, region: Region) -> bool:
    prefix = scope_prefix(user) or ""
    return (
        can(user, Action.ASSESS_OFFICES)
        and region.level in scoring.ASSESSED_LEVELS
        and len(region.scope_prefix) > len(prefix)
    )


def _assessment_page(request: HttpRequest, *, form: AssessmentEntryForm | None = None, status: int = 200):
    user = request.user
    region = _region(request)
    year, month = _period(request)
    result = None
    if region.level in scoring.ASSESSED_LEVELS:
        result = scoring.assessment(user=user, region=region, year=year, month=month)
    if result is not None and _wants_xlsx(request):
        audit.info("supervision export: user=%s assessment region=%s year=%s", user.pk, region.code, year)
        return _xlsx(
            filename=f"{region.name}{year}年度示范点评估.xlsx",
            title=f"{region.full_name()}{year}年度示范点评估（截至{month:%Y年%m月}）",
            headers=["评估项目", "标准", "评分方式", "满分", "实际情况", "得分", "说明"],
            rows=[
                [
                    item.label,
                    item.standard,
                    "系统计算" if item.measured else "人工评分",
                    item.points,
                    item.value,
                    item.score if item.score is not None else "未评分",
                    item.note,
                ]
                for item in result.items
            ]
            + [
                [
                    "合计",
                    f"{result.pass_mark}分达标",
                    "",
                    result.points,
                    "",
                    result.total,
                    "达标" if result.passed else "未达标",
                ]
            ],
        )
    if _wants_xlsx(request):
        raise Http404
    below = Region.objects.filter(parent=region).order_by("code")
    context = {
        "region": region,
        "trail": _trail(user, region),
        **_period_context(year, month),
        "result": result,
        "below": below if region.level != "village" else [],
        "may_enter": result is not None and _may_enter(user, region),
        "query": _query(region=region.code, year=year, month=month.month),
        "pass_mark": scoring.PASS_MARK,
    }
    if context["may_enter"]:
        initial = {}
        item = request.GET.get("item", "")
        entries = {i.key: i for i in result.items if not i.measured}
        if item in entries and entries[item].entry is not None:
            initial = {"item": item, "score": entries[item].score, "note": entries[item].note}
        elif item in entries:
            initial = {"item": item}
        context["form"] = form or AssessmentEntryForm(items=scoring.judged_items(region.level), initial=initial)
    return render(request, "portal/supervision_assessment.html", context, status=status)


@login_required
@require_GET
def assessment_page(request: HttpRequest) -> HttpResponse:
    """示范点评估 of a county, township or village (a city chooses one of its counties first)."""
    return _assessment_page(request)


@login_required
@require_POST
def assessment_entry(request: HttpRequest) -> HttpResponse:
    """人工评分 of one judged item of the page's region (``?region=&year=``)."""
    user = request.user
    region = _region(request)
    year, month = _period(request)
    _require(can(user, Action.ASSESS_OFFICES))
    form = AssessmentEntryForm(request.POST, items=scoring.judged_items(region.level))
    if form.is_valid():
        data = form.cleaned_data
        try:
            entry = scoring.assessment_entry_set(
                actor=user, region=region, year=year, item=data["item"], score=data["score"], note=data["note"]
            )
        except DomainError as error:
            form.add_domain_error(error)
        else:
            label = scoring.JUDGED[entry.item][0]
            messages.success(
                request,
                _("已记录%(region)s%(year)s年度“%(item)s”得分%(score)s分。")
                % {"region": region.name, "year": year, "item": label, "score": entry.score},
            )
            query = _query(region=region.code, year=year, month=month.month)
            return redirect(f"{reverse('portal:supervision_assessment')}?{query}")
    return _assessment_page(request, form=form, status=400)


# --- the fund warning ------------------------------------------------------------------------------------------


def _chosen_pooling_region(request: HttpRequest, source, key: str = "region") -> PoolingRegion | None:
    """The pooling region named by ``key`` (its id) if the user covers it wholly; 404 for any other."""
    raw = (source.get(key) or "").strip()
    return warning.pooling_region_get(user=request.user, pk=raw) if raw else None


def _chart(view: warning.Outlook) -> dict:
    """What the chart draws (display only): the balance now and at each projected year's end, in 万元, and the
    months covered against the threshold."""
    now = view.position
    return {
        "years": [str(now.on.year)] + [str(y.year) for y in view.years],
        "balance": [str((now.balance / 10000).quantize(Decimal("0.01")))]
        + [str((y.closing / 10000).quantize(Decimal("0.01"))) for y in view.years],
        "months": [str(now.months_covered) if now.months_covered is not None else None]
        + [str(y.months_covered) if y.months_covered is not None else None for y in view.years],
        "threshold": str(view.threshold) if view.threshold is not None else None,
        "labels": {"balance": _("基金结余（万元）"), "months": _("可支付月数"), "threshold": _("预警线")},
    }


def _funds_page(request: HttpRequest, *, form: FundWarningForm | None = None, status: int = 200) -> HttpResponse:
    user = request.user
    chosen = _chosen_pooling_region(request, request.GET)
    _require(warning.may_read(user))
    today = timezone.localdate()
    if chosen is None:
        regions = warning.regions_of(user=user, today=today)
        chosen = regions[0] if len(regions) == 1 else None  # a county's fund officer covers one
    rows = warning.overview(user=user, today=today, project_also=chosen)
    detail = next((row.outlook for row in rows if row.pooling_region == chosen), None)
    if _wants_xlsx(request):
        return _funds_xlsx(request, rows=rows, detail=detail)
    may_set = can(user, Action.SET_FUND_WARNING)
    context = {
        "rows": rows,
        "warned": [row.outlook for row in rows if row.warned],
        "detail": detail,
        "chosen": chosen,
        "today": today,
        "may_set": may_set,
        "end_rate_percent": warning.AWARD_END_RATE * 100,
        "payout_months": warning.PAYOUT_MONTHS,
        "chart": _chart(detail) if detail is not None and detail.years else None,
    }
    if may_set:
        queryset = PoolingRegion.objects.filter(pk__in=[row.pooling_region.pk for row in rows]).order_by("code")
        initial = {}
        if detail is not None:
            initial = {"pooling_region": detail.pooling_region.pk, "threshold_months": detail.threshold}
        context["form"] = form or FundWarningForm(pooling_regions=queryset, initial=initial)
    return render(request, "portal/supervision_funds.html", context, status=status)


def _months(value) -> str:
    return "—" if value is None else str(value)


def _funds_xlsx(request: HttpRequest, *, rows: list[warning.OverviewRow], detail: warning.Outlook | None):
    user = request.user
    if detail is not None and request.GET.get("table") == "projection":
        audit.info("supervision export: user=%s fund projection pooling_region=%s", user.pk, detail.pooling_region.code)
        return _xlsx(
            filename=f"{detail.pooling_region.name}基金收支预测.xlsx",
            title=f"{detail.pooling_region.name}基金收支预测（{detail.position.on:%Y-%m-%d}测算）",
            headers=[
                "年度",
                "年初结余（元）",
                "收入（元）",
                "利息（元）",
                "待遇支出（元）",
                "年末结余（元）",
                "年初领取人数",
                "停发人数",
                "新增领取人数",
                "年末可支付月数",
            ],
            rows=[
                [
                    y.year,
                    y.opening,
                    y.income,
                    y.interest,
                    y.payout,
                    y.closing,
                    y.recipients_start,
                    y.ending,
                    y.new_recipients,
                    _months(y.months_covered),
                ]  # fmt: skip
                for y in detail.years
            ],
        )
    audit.info("supervision export: user=%s fund warning overview", user.pk)
    return _xlsx(
        filename="基金预警.xlsx",
        title=f"基金预警（{timezone.localdate():%Y-%m-%d}）",
        headers=[
            "统筹区",
            "编码",
            "支出户（元）",
            "财政专户（元）",
            "可用结余（元）",
            "月均待遇支出（元）",
            "可支付月数",
            "预警线（月）",
            "预测最低可支付月数",
            "状态",
        ],
        rows=[
            [
                row.pooling_region.name,
                row.pooling_region.code,
                row.position.expenditure,
                row.position.fiscal,
                row.position.balance,
                row.position.monthly_payout if row.position.monthly_payout is not None else "",
                _months(row.position.months_covered),
                _months(row.threshold),
                _months(row.outlook.lowest_months if row.outlook is not None else None),
                "预警" if row.warned else ("未设预警线" if row.threshold is None else "正常"),
            ]
            for row in rows
        ],
    )


@login_required
@require_GET
def funds_page(request: HttpRequest) -> HttpResponse:
    """基金预警: each covered pooling region's months covered and threshold; one region's projection and chart."""
    return _funds_page(request)


@login_required
@require_POST
def fund_warning_set(request: HttpRequest) -> HttpResponse:
    """设置基金预警线 of a pooling region the user covers."""
    user = request.user
    _chosen_pooling_region(request, request.POST, "pooling_region")
    _require(can(user, Action.SET_FUND_WARNING))
    queryset = PoolingRegion.objects.filter(pk__in=[r.pk for r in warning.regions_of(user=user)]).order_by("code")
    form = FundWarningForm(request.POST, pooling_regions=queryset)
    if form.is_valid():
        data = form.cleaned_data
        try:
            line = warning.fund_warning_set(
                actor=user, pooling_region=data["pooling_region"], threshold_months=data["threshold_months"]
            )
        except DomainError as error:
            form.add_domain_error(error)
        else:
            messages.success(
                request,
                _("已将%(region)s的基金预警线设为可支付%(months)s个月。")
                % {"region": line.pooling_region.name, "months": line.threshold_months},
            )
            return redirect(f"{reverse('portal:supervision_funds')}?{_query(region=line.pooling_region_id)}")
    return _funds_page(request, form=form, status=400)
