"""The reports pages (/reports/): the monthly report set of a region, produced and kept for download, and the
villages' public notices (公示) to show, print on A4 and export.

Thin views: the place asked for is read through the scope first (outside it → 404), then the role (403), then one
service or selector; a refusal is shown next to its field, a success redirects (POST-redirect-GET). Downloads of
kept reports are logged to "portal.audit".
"""

from __future__ import annotations

import datetime as dt
import io
import logging
from urllib.parse import quote

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods
from openpyxl import Workbook

from agencies.errors import DomainError
from agencies.exports import xlsx_header
from agencies.models import Region
from agencies.permissions import Action, can
from agencies.scope import get_scoped_or_404, scope_prefix
from enrollment.views import scope_model
from portal import notices, reports
from portal.measures import require_region
from portal.models import ReportFile, ReportSet

audit = logging.getLogger("portal.audit")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PER_PAGE = 50
ALL_SETS = "all"


def _require_scope(user) -> None:
    if scope_prefix(user) is None:
        raise PermissionDenied


def _wants_xlsx(request: HttpRequest) -> bool:
    return request.GET.get("format") == "xlsx"


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "private, no-store"
    return response


def _xlsx(content: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type=XLSX)
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(filename)}"
    return _no_store(response)


def parse_month(text: str | None) -> dt.date | None:
    """ "2025-03" → 2025-03-01; None when absent or malformed."""
    try:
        return dt.datetime.strptime((text or "").strip(), "%Y-%m").date()
    except ValueError:
        return None


def _report_region(user, code: str) -> Region:
    """A region by its code, in the user's scope and not above their own place (404 otherwise)."""
    region = get_scoped_or_404(Region.objects.select_related("parent__parent__parent"), user, code=code)
    require_region(user=user, region=region)
    return region


# --- the report set ------------------------------------------------------------------------------------------------


class ProduceForm(forms.Form):
    region = forms.CharField(label=gettext_lazy("区划"), max_length=12)
    month = forms.CharField(label=gettext_lazy("统计期"), max_length=7)
    report_set = forms.ChoiceField(
        label=gettext_lazy("报表"), choices=[(ALL_SETS, gettext_lazy("全部（五套）")), *ReportSet.choices]
    )

    def clean_month(self) -> dt.date:
        month = parse_month(self.cleaned_data["month"])
        if month is None:
            raise forms.ValidationError(_("请按“年-月”选择统计期，例如 2025-03。"))
        return month


def _last_month(today: dt.date) -> dt.date:
    return (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)


@login_required
@require_http_methods(["GET", "POST"])
def report_index(request: HttpRequest) -> HttpResponse:
    """报表: choose a region and month, produce one set or all of them, and the kept reports to download."""
    user = request.user
    _require_scope(user)
    today = timezone.localdate()
    source = request.POST if request.method == "POST" else request.GET
    region = _report_region(user, source["region"]) if source.get("region") else None
    month = parse_month(source.get("month"))
    form = ProduceForm(
        request.POST if request.method == "POST" else None,
        initial={"region": region.code if region else "", "month": f"{month or _last_month(today):%Y-%m}"},
    )
    status = 200
    if request.method == "POST":
        if not can(user, Action.PRODUCE_REPORTS):
            raise PermissionDenied
        if form.is_valid():
            try:
                if region is None:
                    raise DomainError(_("请选择区划。"), field="region")
                chosen, month = form.cleaned_data["report_set"], form.cleaned_data["month"]
                if chosen == ALL_SETS:
                    kept = reports.report_produce_all(actor=user, region=region, month=month, today=today)
                else:
                    kept = [
                        reports.report_produce(actor=user, region=region, month=month, report_set=chosen, today=today)
                    ]
            except DomainError as error:
                form.add_error(error.field if error.field in form.fields else None, error.message)
            else:
                messages.success(
                    request,
                    _("已生成%(region)s%(month)s报表%(n)s张。")
                    % {"region": region.full_name(), "month": f"{month:%Y年%m月}", "n": len(kept)},
                )
                query = urlencode({"region": region.code, "month": f"{month:%Y-%m}"})
                return redirect(f"{reverse('portal:reports')}?{query}")
        status = 400
    kept_rows = reports.kept_reports(user=user, region=region, month=month)
    if _wants_xlsx(request) and request.method == "GET":
        return _kept_xlsx(kept_rows)
    page = Paginator(kept_rows, PER_PAGE).get_page(request.GET.get("page"))
    names = reports.region_names(row.region_code for row in page.object_list)
    for row in page.object_list:
        row.region_name = names.get(row.region_code, row.region_code)
    context = {
        "form": form,
        "regions": reports.report_regions(user=user).select_related("parent__parent__parent"),
        "region": region,
        "month": month or _last_month(today),
        "chosen_month": month,
        "page": page,
        "may_produce": can(user, Action.PRODUCE_REPORTS),
        "report_sets": ReportSet.choices,
        "base_query": urlencode(
            {k: v for k, v in (("region", region.code if region else ""), ("month", source.get("month", ""))) if v}
        ),
    }
    return render(request, "portal/report_index.html", context, status=status)


def _kept_xlsx(rows) -> HttpResponse:
    book = Workbook(write_only=True)
    sheet = book.create_sheet(_("已生成报表"))
    xlsx_header(sheet, [_("区划代码"), _("区划"), _("统计期"), _("报表"), _("生成人"), _("生成时间"), "SHA-256"])
    labels = dict(ReportSet.choices)
    rows = list(rows[:10000])
    names = reports.region_names(row.region_code for row in rows)
    for row in rows:
        sheet.append(
            [
                row.region_code,
                names.get(row.region_code, ""),
                f"{row.month:%Y-%m}",
                str(labels.get(row.report_set, row.report_set)),
                row.produced_by.display_name if row.produced_by else "",
                timezone.localtime(row.produced_at).strftime("%Y-%m-%d %H:%M"),
                row.sha256,
            ]
        )
    handle = io.BytesIO()
    book.save(handle)
    return _xlsx(handle.getvalue(), "kept-reports.xlsx")


@login_required
@require_GET
@scope_model(ReportFile)
def report_download(request: HttpRequest, pk: int) -> FileResponse:
    """One kept report, to those whose scope holds its region (404 otherwise); the reading is logged."""
    user = request.user
    kept = reports.report_get(user=user, pk=pk)
    region = Region.objects.filter(code=kept.region_code).select_related("parent__parent__parent").first()
    try:
        handle = kept.file.open("rb")
    except FileNotFoundError:
        raise Http404 from None
    audit.info(
        "report downloaded: user=%s report=%s region=%s month=%s set=%s",
        user.pk,
        kept.pk,
        kept.region_code,
        f"{kept.month:%Y-%m}",
        kept.report_set,
    )
    filename = (
        reports.report_file_name(region, kept.month, kept.report_set)
        if region is not None
        else f"{kept.region_code}-{kept.month:%Y%m}-{kept.report_set}.xlsx"
    )
    return _no_store(FileResponse(handle, as_attachment=True, filename=filename, content_type=XLSX))


# --- public notices --------------------------------------------------------------------------------------------------


def _notice_village(request: HttpRequest, villages) -> Region | None:
    """The village asked for (404 outside the scope), or the user's only village."""
    code = request.GET.get("village", "").strip()
    if code:
        return notices.notice_village(user=request.user, code=code)
    only = list(villages[:2])
    return only[0] if len(only) == 1 else None


def _notice_context(villages, village: Region | None) -> dict:
    today = timezone.localdate()
    return {
        "villages": villages,
        "village": village,
        "period": notices.NoticePeriod.from_print_date(today),
        "printed_on": today,
    }


@login_required
@require_GET
def notice_paid(request: HttpRequest) -> HttpResponse:
    """缴费公示 of a village and year: the page (printable on A4) and its .xlsx."""
    user = request.user
    _require_scope(user)
    villages = notices.notice_villages(user=user)
    village = _notice_village(request, villages)
    today = timezone.localdate()
    context = _notice_context(villages, village)
    raw_year = request.GET.get("year", "").strip()
    year = int(raw_year) if raw_year.isdigit() and 1990 <= int(raw_year) <= 2999 else None
    if raw_year and year is None:
        context["year_error"] = _("年度应为四位数字，例如 %(year)s。") % {"year": today.year}
    year = year or today.year
    context["year"] = year
    if village is not None:
        if _wants_xlsx(request):
            content = notices.paid_notice_xlsx(user=user, village=village, year=year, period=context["period"])
            return _xlsx(content, f"{village.name}{year}年度缴费公示.xlsx")
        lines = notices.paid_notice(user=user, village=village, year=year)
        context.update(
            {
                "lines": lines,
                "total": sum((line.personal_amount for line in lines), reports.ZERO),
                "title": notices.paid_title(village, year),
                "sentence": notices.paid_sentence(village, year, context["period"]),
                "query": urlencode({"village": village.code, "year": year}),
            }
        )
    return render(request, "portal/notice_paid.html", context, status=400 if "year_error" in context else 200)


@login_required
@require_GET
def notice_recipients(request: HttpRequest) -> HttpResponse:
    """待遇领取公示 of a village and month: the page (printable on A4) and its .xlsx."""
    user = request.user
    _require_scope(user)
    villages = notices.notice_villages(user=user)
    village = _notice_village(request, villages)
    today = timezone.localdate()
    context = _notice_context(villages, village)
    raw_month = request.GET.get("month", "").strip()
    month = parse_month(raw_month)
    if raw_month and month is None:
        context["month_error"] = _("请按“年-月”选择月份，例如 %(month)s。") % {"month": f"{today:%Y-%m}"}
    month = month or today.replace(day=1)
    context["month"] = month
    if village is not None:
        if _wants_xlsx(request):
            content = notices.recipients_notice_xlsx(user=user, village=village, month=month, period=context["period"])
            return _xlsx(content, f"{village.name}{month:%Y年%m月}待遇领取公示.xlsx")
        lines = notices.recipients_notice(user=user, village=village, month=month)
        context.update(
            {
                "lines": lines,
                "total": sum((line.total for line in lines), reports.ZERO),
                "title": notices.recipients_title(village, month),
                "sentence": notices.recipients_sentence(village, month, context["period"]),
                "query": urlencode({"village": village.code, "month": f"{month:%Y-%m}"}),
            }
        )
    return render(request, "portal/notice_recipients.html", context, status=400 if "month_error" in context else 200)
