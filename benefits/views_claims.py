"""The browser side of claims and awards: thin views that fetch through the selectors and the scope (out of
scope → 404), call one service, and show its refusal next to the field it names or as a message.

Claims (待遇申请表) from a person search, with the eligibility shown before submitting, reviewed by the
township and approved by the county; the printed application form and the notice (待遇领取通知表). Awards
with the parts of their amount, their periods and what each was computed from, and the county's suspend /
resume / stop; the yearly check. Who turns 60 next month (and its .xlsx). The pension parameters per pooling
region with the recalculation they cause, and the back pay review. The monthly confirmation of recipients
and the month's stop list (停止发放人员核定表).
"""

import datetime as dt
import logging
import tempfile
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet, Subquery, Sum
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from openpyxl import Workbook

from agencies.errors import DomainError
from agencies.exports import xlsx_header
from agencies.models import PoolingRegion
from agencies.money import ZERO
from agencies.permissions import Action, can
from agencies.scope import covered_pooling_regions, scope_prefix, scoped, visible_pooling_region_ids
from benefits import calc, selectors, services
from benefits.forms_claims import (
    AwardResumeForm,
    AwardStopForm,
    ClaimForm,
    ClaimReturnForm,
    ParametersForm,
    StopReportForm,
    YearlyCheckForm,
    parse_month,
)
from benefits.models import (
    OPEN_CLAIM_STATUSES,
    Arrear,
    Award,
    AwardCategory,
    AwardPeriod,
    AwardStatus,
    Claim,
    ClaimStatus,
    MonthlyConfirmation,
    Recalculation,
    YearlyCheck,
)
from enrollment import idnumber
from enrollment.forms import villages_in_scope
from enrollment.models import InsuredPerson, PersonStatus
from enrollment.selectors import person_get, person_search
from enrollment.views import scope_model

audit = logging.getLogger("portal.audit")

CLAIMS_PER_PAGE = 50
AWARDS_PER_PAGE = 50
ARREARS_PER_PAGE = 100
RECIPIENTS_PER_PAGE = 100
PERSONS_FOUND = 20
LINES_SHOWN = 36
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
LIVE_AWARD_STATUSES = (AwardStatus.ACTIVE, AwardStatus.SUSPENDED)

EVENT_ACTIONS = {
    "submit": gettext_lazy("提交申请"),
    "accept": gettext_lazy("乡镇审核通过"),
    "return": gettext_lazy("退回"),
    "approve": gettext_lazy("县级审批通过"),
    "resubmit": gettext_lazy("补正后重新提交"),
    "withdraw": gettext_lazy("撤回"),
    "suspend": gettext_lazy("暂停发放"),
    "resume": gettext_lazy("恢复发放"),
    "stop": gettext_lazy("终止发放"),
    "overpayment": gettext_lazy("形成多发待遇"),
    "recovery": gettext_lazy("追回多发待遇"),
    "offset_set": gettext_lazy("设置待遇抵扣"),
    "refer": gettext_lazy("移交处理"),
    "death_settlement": gettext_lazy("死亡待遇结算"),
}
STATUSES = {**dict(ClaimStatus.choices), **dict(AwardStatus.choices)}


# --- small helpers -----------------------------------------------------------------------------------------


def _require(user, action: Action) -> None:
    if not can(user, action):
        raise PermissionDenied


def _require_jurisdiction(user) -> None:
    if scope_prefix(user) is None:
        raise PermissionDenied  # no jurisdiction: nothing to see or record


def _this_month() -> dt.date:
    return calc.month_of(timezone.localdate())


def _is_partial(request: HttpRequest) -> bool:
    return bool(request.htmx) and not request.htmx.history_restore_request


def _month_param(raw: str | None, default: dt.date) -> dt.date:
    return parse_month(raw) or default


def _month_nav(month: dt.date) -> dict[str, dt.date]:
    return {"month": month, "previous_month": calc.add_months(month, -1), "next_month": calc.add_months(month, 1)}


def _xlsx_response(book: Workbook, filename: str) -> FileResponse:
    handle = tempfile.TemporaryFile()  # noqa: SIM115 - the response closes it once sent, and so deletes it
    book.save(handle)
    handle.seek(0)
    response = FileResponse(handle, as_attachment=True, filename=filename, content_type=XLSX)
    response["Cache-Control"] = "private, no-store"
    return response


def _issuer(user) -> str:
    return user.agency.name if getattr(user, "agency", None) else user.display_name


# --- claims: the list and the person search ----------------------------------------------------------------


@login_required
@require_GET
def claim_list(request: HttpRequest) -> HttpResponse:
    """待遇申请 in scope, newest first; by status, by person (name, initials, identity or insurance number)."""
    user = request.user
    _require_jurisdiction(user)
    status = request.GET.get("status", "")
    if status not in ClaimStatus.values:
        status = ""
    q = request.GET.get("q", "").strip()
    mine = request.GET.get("mine") == "1"
    claims = selectors.claim_queryset(user=user).select_related("person__village")
    if status:
        claims = claims.filter(status=status)
    if q:
        claims = claims.filter(person__in=person_search(user=user, q=q).values("pk"))
    if mine:
        claims = claims.filter(created_by=user)
    context = {
        "page": Paginator(claims.order_by("-created_at", "-id"), CLAIMS_PER_PAGE).get_page(request.GET.get("page")),
        "status": status,
        "statuses": ClaimStatus.choices,
        "q": q,
        "mine": mine,
        "may_claim": can(user, Action.SUBMIT_CLAIM),
    }
    return render(request, "benefits/claims_list.html", context)


@login_required
@require_GET
def claim_start(request: HttpRequest) -> HttpResponse:
    """申请待遇, step one: find the person by identity number, insurance number or name."""
    user = request.user
    _require(user, Action.SUBMIT_CLAIM)
    _require_jurisdiction(user)
    q = request.GET.get("q", "").strip()
    persons: list[InsuredPerson] = []
    if q:
        persons = list(
            person_search(user=user, q=q, status=PersonStatus.ACTIVE)
            .annotate(
                open_claim=Exists(Claim.objects.filter(person=OuterRef("pk"), status__in=OPEN_CLAIM_STATUSES)),
                live_award=Exists(Award.objects.filter(person=OuterRef("pk"), status__in=LIVE_AWARD_STATUSES)),
            )
            .order_by("region_code", "name", "id")[:PERSONS_FOUND]
        )
    return render(request, "benefits/claims_start.html", {"q": q, "persons": persons, "shown": PERSONS_FOUND})


# --- claims: the form with the eligibility -----------------------------------------------------------------


def _eligibility(user, person: InsuredPerson, category: str) -> dict[str, Any]:
    """What the clerk sees before submitting: years paid (with the credited ones), years required, what is
    missing; or why it cannot be worked out (no pooling region, no parameters)."""
    credits = list(selectors.years_credits(user=user, person=person).order_by("recorded_at", "id"))
    credited = sum(credit.years for credit in credits)
    context: dict[str, Any] = {
        "category": category,
        "credits": credits,
        "credited": credited,
        "open_claim": selectors.claim_queryset(user=user).filter(person=person, status__in=OPEN_CLAIM_STATUSES).first(),
        "live_award": selectors.award_queryset(user=user).filter(person=person, status__in=LIVE_AWARD_STATUSES).first(),
    }
    if category not in AwardCategory.values:
        return context
    try:
        result = services.claim_eligibility(person=person, category=category, on=timezone.localdate())
    except DomainError as error:
        context["error"] = error.message
        return context
    context.update(result=result, contributed=result.years_paid - credited)
    return context


@scope_model(InsuredPerson)
@login_required
@require_http_methods(["GET", "POST"])
def claim_new(request: HttpRequest, pk: int) -> HttpResponse:
    """待遇申请表 for one person; choosing another category re-checks the eligibility in place (htmx)."""
    user = request.user
    person = person_get(user=user, pk=pk)
    _require(user, Action.SUBMIT_CLAIM)
    if request.method == "POST":
        form = ClaimForm(request.POST)
        category = request.POST.get("category", "")
    else:
        category = request.GET.get("category", "")
        if category not in AwardCategory.values:
            category = AwardCategory.MONTHLY_PENSION
        form = ClaimForm(initial={"category": category})
    if request.method == "POST" and form.is_valid():
        try:
            claim = services.claim_submit(
                actor=user,
                person=person,
                category=form.cleaned_data["category"],
                bank_code=form.cleaned_data["bank_code"],
                bank_account=form.cleaned_data["bank_account"],
            )
        except DomainError as error:
            form.add_domain_error(error)
        else:
            messages.success(request, _("已提交%(name)s的待遇申请，等待乡镇审核。") % {"name": person.name})
            return redirect("benefits:claim_detail", pk=claim.pk)
    context = {"person": person, "form": form, **_eligibility(user, person, category)}
    if _is_partial(request) and request.method == "GET":
        response = render(request, "benefits/claims_eligibility.html", context)
    else:
        response = render(request, "benefits/claims_new.html", context, status=400 if form.errors else 200)
    patch_vary_headers(response, ["HX-Request"])
    return response


# --- claims: the detail and the review ---------------------------------------------------------------------


def _claim_actions(user, claim: Claim) -> dict[str, bool]:
    """Which buttons to show. The services decide again on submit; this only spares clerks a refusal."""
    own = claim.created_by_id == user.pk
    status = claim.status
    township = can(user, Action.TOWNSHIP_REVIEW)
    county = can(user, Action.COUNTY_APPROVE)
    return {
        "accept": township and not own and status == ClaimStatus.SUBMITTED,
        "return": not own
        and ((township and status == ClaimStatus.SUBMITTED) or (county and status == ClaimStatus.ACCEPTED)),
        "approve": county and not own and status == ClaimStatus.ACCEPTED,
        # A returned or open claim goes back to whoever entered it, so only they correct or withdraw it.
        "resubmit": own and status == ClaimStatus.RETURNED,
        "withdraw": own and status in OPEN_CLAIM_STATUSES,
        "own_reviewer": own and (township or county) and status in OPEN_CLAIM_STATUSES,
    }


def _award_of(user, claim: Claim) -> Award | None:
    if claim.status != ClaimStatus.APPROVED:
        return None
    return selectors.award_queryset(user=user).filter(claim=claim).first()


def _render_claim(
    request: HttpRequest, claim: Claim, *, return_form: ClaimReturnForm | None = None, status: int = 200
) -> HttpResponse:
    user = request.user
    award = _award_of(user, claim)
    context: dict[str, Any] = {
        "claim": claim,
        "person": claim.person,
        "award": award,
        "start_period": selectors.live_periods(award).first() if award else None,
        "events": claim.events.select_related("actor"),
        "event_actions": EVENT_ACTIONS,
        "statuses": STATUSES,
        "actions": _claim_actions(user, claim),
        "return_form": return_form or ClaimReturnForm(),
    }
    if claim.status in OPEN_CLAIM_STATUSES:
        # The conditions as they stand today, for the reviewer (the approval checks them again).
        context["check"] = _eligibility(user, claim.person, claim.category)
    return render(request, "benefits/claims_detail.html", context, status=status)


@scope_model(Claim)
@login_required
@require_GET
def claim_detail(request: HttpRequest, pk: int) -> HttpResponse:
    claim = selectors.claim_get(user=request.user, pk=pk)
    return _render_claim(request, claim)


def _claim_act(request: HttpRequest, pk: int, service, success: str, **kwargs) -> HttpResponse:
    """Run one review action; a refusal (wrong state, not this role, own claim) becomes a message."""
    claim = selectors.claim_get(user=request.user, pk=pk)
    try:
        service(actor=request.user, claim=claim, **kwargs)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, success)
    return redirect("benefits:claim_detail", pk=claim.pk)


@scope_model(Claim)
@login_required
@require_POST
def claim_accept(request: HttpRequest, pk: int) -> HttpResponse:
    return _claim_act(
        request, pk, services.claim_accept, _("乡镇审核通过，已报县级审批。"), note=request.POST.get("note", "")
    )


@scope_model(Claim)
@login_required
@require_POST
def claim_return(request: HttpRequest, pk: int) -> HttpResponse:
    claim = selectors.claim_get(user=request.user, pk=pk)
    form = ClaimReturnForm(request.POST)
    if form.is_valid():
        try:
            services.claim_return(actor=request.user, claim=claim, reason=form.cleaned_data["reason"])
        except DomainError as error:
            if not error.field:
                messages.error(request, error.message)
                return redirect("benefits:claim_detail", pk=claim.pk)
            form.add_domain_error(error)
        else:
            messages.success(request, _("已退回录入人补正。"))
            return redirect("benefits:claim_detail", pk=claim.pk)
    return _render_claim(request, claim, return_form=form, status=400)


@scope_model(Claim)
@login_required
@require_POST
def claim_approve(request: HttpRequest, pk: int) -> HttpResponse:
    claim = selectors.claim_get(user=request.user, pk=pk)
    try:
        award = services.claim_approve(actor=request.user, claim=claim)
    except DomainError as error:
        messages.error(request, error.message)
        return redirect("benefits:claim_detail", pk=claim.pk)
    messages.success(
        request,
        _("已核定%(name)s的待遇，自%(start)s起发放，个人账户养老金%(account)s元/月。")
        % {"name": claim.person.name, "start": f"{award.start_month:%Y年%m月}", "account": award.account_pension},
    )
    return redirect("benefits:award_detail", pk=award.pk)


@scope_model(Claim)
@login_required
@require_POST
def claim_resubmit(request: HttpRequest, pk: int) -> HttpResponse:
    return _claim_act(request, pk, services.claim_resubmit, _("已补正并重新提交，等待乡镇审核。"))


@scope_model(Claim)
@login_required
@require_POST
def claim_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    return _claim_act(request, pk, services.claim_withdraw, _("申请已撤回。"), reason=request.POST.get("reason", ""))


# --- claims: the paper forms -------------------------------------------------------------------------------


def _print_context(request: HttpRequest, claim: Claim) -> dict[str, Any]:
    award = _award_of(request.user, claim)
    return {
        "claim": claim,
        "person": claim.person,
        "award": award,
        "start_period": selectors.live_periods(award).first() if award else None,
        "issuer": _issuer(request.user),
        "printed_at": timezone.localtime(),
    }


@scope_model(Claim)
@login_required
@require_GET
def claim_print(request: HttpRequest, pk: int) -> HttpResponse:
    """待遇申请表 on A4, for the person's signature and the file; once approved it carries the award's parts."""
    claim = selectors.claim_get(user=request.user, pk=pk)
    audit.info("claim form printed: user=%s claim=%s", request.user.pk, claim.pk)
    return render(request, "benefits/claims_print_application.html", _print_context(request, claim))


@scope_model(Claim)
@login_required
@require_GET
def claim_notice(request: HttpRequest, pk: int) -> HttpResponse:
    """待遇领取通知表 on A4: what the person gets from which month, part by part. Only once approved."""
    claim = selectors.claim_get(user=request.user, pk=pk)
    context = _print_context(request, claim)
    if context["award"] is None:
        messages.error(request, _("申请核定后才能打印待遇领取通知表。"))
        return redirect("benefits:claim_detail", pk=claim.pk)
    audit.info("award notice printed: user=%s claim=%s", request.user.pk, claim.pk)
    return render(request, "benefits/claims_print_notice.html", context)


# --- awards ------------------------------------------------------------------------------------------------


def _current_total(month: dt.date):
    """The monthly total of an award's live period in effect in ``month`` (one subquery, not a query per row)."""
    periods = AwardPeriod.objects.filter(
        award=OuterRef("pk"), replaced_by__isnull=True, valid_from__lte=month
    ).order_by("-valid_from")
    return Subquery(periods.values("total")[:1])


@login_required
@require_GET
def award_list(request: HttpRequest) -> HttpResponse:
    """养老金待遇 in scope: by status, category and person, with this month's amount."""
    user = request.user
    _require_jurisdiction(user)
    status = request.GET.get("status", "")
    if status not in AwardStatus.values:
        status = ""
    category = request.GET.get("category", "")
    if category not in AwardCategory.values:
        category = ""
    q = request.GET.get("q", "").strip()
    month = _this_month()
    awards = (
        selectors.award_queryset(user=user)
        .select_related("person__village")
        .annotate(monthly_total=_current_total(month))
    )
    if status:
        awards = awards.filter(status=status)
    if category:
        awards = awards.filter(category=category)
    if q:
        awards = awards.filter(person__in=person_search(user=user, q=q).values("pk"))
    context = {
        "page": Paginator(awards.order_by("region_code", "id"), AWARDS_PER_PAGE).get_page(request.GET.get("page")),
        "status": status,
        "statuses": AwardStatus.choices,
        "category": category,
        "categories": AwardCategory.choices,
        "q": q,
        "month": month,
    }
    return render(request, "benefits/award_list.html", context)


def _award_actions(user, award: Award) -> dict[str, bool]:
    manage = can(user, Action.MANAGE_AWARD)
    return {
        "suspend": manage and award.status == AwardStatus.ACTIVE,
        "resume": manage and award.status == AwardStatus.SUSPENDED,
        "stop": manage and award.status != AwardStatus.STOPPED,
        "yearly_check": can(user, Action.RECORD_YEARLY_CHECK) and award.status != AwardStatus.STOPPED,
    }


def _render_award(
    request: HttpRequest,
    award: Award,
    *,
    suspend_form: AwardStopForm | None = None,
    resume_form: AwardResumeForm | None = None,
    stop_form: AwardStopForm | None = None,
    check_form: YearlyCheckForm | None = None,
    status: int = 200,
) -> HttpResponse:
    user = request.user
    month = _this_month()
    periods = list(selectors.live_periods(award).select_related("parameters__pooling_region"))
    in_effect = [period for period in periods if period.valid_from <= month]
    current = in_effect[-1] if in_effect else (periods[0] if periods else None)
    next_month = calc.add_months(month, 1)
    context = {
        "award": award,
        "person": award.person,
        "current": current,
        "month": month,
        "periods": periods,
        "replaced": award.periods.filter(replaced_by__isnull=False)
        .select_related("parameters__pooling_region", "replaced_by")
        .order_by("valid_from", "id"),
        "events": award.events.select_related("actor"),
        "event_actions": EVENT_ACTIONS,
        "statuses": STATUSES,
        "lines": selectors.award_lines(user=user, award=award)[:LINES_SHOWN],
        "confirmations": scoped(
            MonthlyConfirmation.objects.filter(award=award).select_related("confirmed_by"), user
        ).order_by("-month")[:24],
        "checks": scoped(YearlyCheck.objects.filter(award=award).select_related("checked_by"), user).order_by("-year"),
        "arrears": scoped(Arrear.objects.filter(award=award).select_related("recalculation"), user).order_by(
            "month", "id"
        ),
        "overpayments": selectors.overpayment_queryset(user=user).filter(award=award),
        "actions": _award_actions(user, award),
        "suspend_form": suspend_form or AwardStopForm(prefix="suspend", initial={"from_month": next_month}),
        "resume_form": resume_form or AwardResumeForm(prefix="resume"),
        "stop_form": stop_form or AwardStopForm(prefix="stop", initial={"from_month": next_month}),
        "check_form": check_form
        or YearlyCheckForm(
            prefix="check", initial={"year": month.year, "checked_on": timezone.localdate(), "passed": "1"}
        ),
    }
    return render(request, "benefits/award_detail.html", context, status=status)


@scope_model(Award)
@login_required
@require_GET
def award_detail(request: HttpRequest, pk: int) -> HttpResponse:
    award = selectors.award_get(user=request.user, pk=pk)
    return _render_award(request, award)


def _award_change(request: HttpRequest, pk: int, *, form_class, prefix: str, action: Action, call, success: str):
    """One county action on an award: the form checked, the service called, its refusal shown."""
    award = selectors.award_get(user=request.user, pk=pk)
    _require(request.user, action)
    form = form_class(request.POST, prefix=prefix)
    if form.is_valid():
        try:
            call(award, form.cleaned_data)
        except DomainError as error:
            if not (error.field and error.field in form.fields):
                messages.error(request, error.message)
                return redirect("benefits:award_detail", pk=award.pk)
            form.add_domain_error(error)
        else:
            messages.success(request, success)
            return redirect("benefits:award_detail", pk=award.pk)
    return _render_award(request, award, status=400, **{f"{prefix}_form": form})


@scope_model(Award)
@login_required
@require_POST
def award_suspend(request: HttpRequest, pk: int) -> HttpResponse:
    return _award_change(
        request,
        pk,
        form_class=AwardStopForm,
        prefix="suspend",
        action=Action.MANAGE_AWARD,
        call=lambda award, data: services.award_suspend(
            actor=request.user, award=award, from_month=data["from_month"], reason=data["reason"], note=data["note"]
        ),
        success=_("已暂停发放。"),
    )


@scope_model(Award)
@login_required
@require_POST
def award_resume(request: HttpRequest, pk: int) -> HttpResponse:
    return _award_change(
        request,
        pk,
        form_class=AwardResumeForm,
        prefix="resume",
        action=Action.MANAGE_AWARD,
        call=lambda award, data: services.award_resume(actor=request.user, award=award, note=data["note"]),
        success=_("已恢复发放；暂停期间已发放月份的待遇随下次发放补发。"),
    )


@scope_model(Award)
@login_required
@require_POST
def award_stop(request: HttpRequest, pk: int) -> HttpResponse:
    return _award_change(
        request,
        pk,
        form_class=AwardStopForm,
        prefix="stop",
        action=Action.MANAGE_AWARD,
        call=lambda award, data: services.award_stop(
            actor=request.user, award=award, from_month=data["from_month"], reason=data["reason"], note=data["note"]
        ),
        success=_("已终止发放。"),
    )


@scope_model(Award)
@login_required
@require_POST
def award_yearly_check(request: HttpRequest, pk: int) -> HttpResponse:
    return _award_change(
        request,
        pk,
        form_class=YearlyCheckForm,
        prefix="check",
        action=Action.RECORD_YEARLY_CHECK,
        call=lambda award, data: services.yearly_check_record(
            actor=request.user,
            award=award,
            year=data["year"],
            channel=data["channel"],
            checked_on=data["checked_on"],
            passed=data["passed"],
            note=data["note"],
        ),
        success=_("已登记年度资格认证。"),
    )


# --- who turns 60 ------------------------------------------------------------------------------------------


def _turning_60_params(request: HttpRequest) -> dict[str, Any]:
    villages = villages_in_scope(request.user)
    code = request.GET.get("village", "").strip()
    return {
        **_month_nav(_month_param(request.GET.get("month"), calc.add_months(_this_month(), 1))),
        "villages": villages,
        "code": code,
        "village": villages.filter(code=code).first() if code else None,
    }


@login_required
@require_GET
def turning_60(request: HttpRequest) -> HttpResponse:
    """下月年满60周岁: who reaches the pension age in the month, whether they qualify, what is missing, and
    about what they would get."""
    user = request.user
    _require_jurisdiction(user)
    params = _turning_60_params(request)
    rows = selectors.turning_60(user=user, month=params["month"], region=params["village"])
    context = {
        **params,
        "rows": rows,
        "qualifying": sum(1 for row in rows if row.eligibility.eligible),
        "may_claim": can(user, Action.SUBMIT_CLAIM),
        "query": request.GET.urlencode(),
    }
    return render(request, "benefits/claims_turning_60.html", context)


@login_required
@require_GET
def turning_60_xlsx(request: HttpRequest) -> FileResponse:
    """The same list as .xlsx, identity numbers masked."""
    user = request.user
    _require_jurisdiction(user)
    params = _turning_60_params(request)
    month = params["month"]
    rows = selectors.turning_60(user=user, month=month, region=params["village"])
    audit.info("turning-60 list exported: user=%s month=%s village=%s", user.pk, f"{month:%Y-%m}", params["code"])
    book = Workbook(write_only=True)
    sheet = book.create_sheet(_("年满60周岁人员"))
    for column, width in zip(
        "ABCDEFGHIJKLMNO", (12, 18, 22, 12, 16, 14, 10, 10, 10, 10, 12, 12, 12, 40, 14), strict=True
    ):
        sheet.column_dimensions[column].width = width
    sheet.append([_("%(month)s年满60周岁人员名单") % {"month": f"{month:%Y年%m月}"}])
    xlsx_header(
        sheet,
        [
            _("姓名"),
            _("保险编号"),
            _("身份证号"),
            _("出生日期"),
            _("村（社区）"),
            _("联系电话"),
            _("缴费年限（含视同）"),
            _("应缴年限"),
            _("是否符合条件"),
            _("待遇起始月"),
            _("预计基础养老金"),
            _("预计个人账户养老金"),
            _("预计月发放合计"),
            _("尚缺条件"),
            _("待遇类别"),
        ],
    )
    for row in rows:
        person, result = row.person, row.eligibility
        sheet.append(
            [
                person.name,
                person.insurance_number or "",
                idnumber.mask(person.id_number),
                f"{person.birth_date:%Y-%m-%d}",
                person.village.name,
                person.phone,
                result.years_paid,
                result.years_required,
                _("是") if result.eligible else _("否"),
                f"{result.eligible_from:%Y-%m}",
                row.basic_pension,
                row.account_pension,
                row.total,
                "".join(result.missing),
                str(AwardCategory(result.category).label),
            ]
        )
    scope = params["village"].name if params["village"] is not None else _("全部")
    return _xlsx_response(book, f"{month:%Y年%m月}年满60周岁人员_{scope}.xlsx")


# --- parameters and back pay -------------------------------------------------------------------------------


def _visible_pooling_regions(user) -> QuerySet[PoolingRegion]:
    ids = visible_pooling_region_ids(user=user)
    regions = PoolingRegion.objects.order_by("code")
    return regions if ids is None else regions.filter(pk__in=ids)


def _settable_pooling_regions(user) -> QuerySet[PoolingRegion]:
    """A pooling region's parameters are the whole region's: only one wholly in the user's scope."""
    return PoolingRegion.objects.filter(pk__in=[region.pk for region in covered_pooling_regions(user=user)]).order_by(
        "code"
    )


def _render_parameters(request: HttpRequest, *, form: ParametersForm | None = None, status: int = 200):
    user = request.user
    regions = _visible_pooling_regions(user)
    rows = selectors.parameters_queryset(user=user).order_by("-valid_from")
    listed = list(regions.prefetch_related(Prefetch("pension_parameters", queryset=rows, to_attr="rows")))
    recalculations = (
        Recalculation.objects.filter(pooling_region__in=[region.pk for region in listed])
        .select_related("parameters", "actor")
        .order_by("-at", "-id")
    )
    by_region: dict[int, list[Recalculation]] = {}
    for recalculation in recalculations[:200]:
        by_region.setdefault(recalculation.pooling_region_id, []).append(recalculation)
    for region in listed:
        region.recalculations = by_region.get(region.pk, [])[:10]
    may_set = can(user, Action.SET_PENSION_PARAMETERS)
    raw = request.GET.get("recalculation", "")
    context = {
        "pooling_regions": listed,
        "may_set": may_set,
        "form": form or (ParametersForm(pooling_regions=_settable_pooling_regions(user)) if may_set else None),
        "highlight": recalculations.filter(pk=raw).first() if raw.isdigit() else None,
        "pending_arrears": selectors.arrears_pending(user=user).count(),
    }
    return render(request, "benefits/parameters_list.html", context, status=status)


@login_required
@require_GET
def parameters(request: HttpRequest) -> HttpResponse:
    """待遇计发参数 of each pooling region in view, newest first, with the recalculations they caused."""
    _require_jurisdiction(request.user)
    return _render_parameters(request)


@login_required
@require_POST
def parameters_add(request: HttpRequest) -> HttpResponse:
    """New parameters from a month: every affected award recalculated, back pay listed for review."""
    user = request.user
    _require(user, Action.SET_PENSION_PARAMETERS)
    form = ParametersForm(request.POST, pooling_regions=_settable_pooling_regions(user))
    if form.is_valid():
        data = form.cleaned_data
        try:
            row, recalculation = services.pension_parameters_set(
                actor=user,
                pooling_region=data["pooling_region"],
                valid_from=data["valid_from"],
                values=form.values(),
                note=data["note"],
            )
        except DomainError as error:
            form.add_domain_error(error)
        else:
            text = _("已设置%(region)s自%(month)s起执行的待遇计发参数。") % {
                "region": row.pooling_region.name,
                "month": f"{row.valid_from:%Y年%m月}",
            }
            if recalculation is None:
                messages.success(request, text + _("该统筹区没有需要调整的待遇。"))
                return redirect("benefits:parameters")
            messages.success(
                request,
                text
                + _("已重新计算%(count)s人的待遇，补发合计%(total)s元，待县级审核后随月度发放补发。")
                % {"count": recalculation.awards_changed, "total": recalculation.arrears_total},
            )
            return redirect(f"{reverse('benefits:parameters')}?recalculation={recalculation.pk}")
    return _render_parameters(request, form=form, status=400)


@login_required
@require_GET
def arrears(request: HttpRequest) -> HttpResponse:
    """待遇补发审核: back pay found by recalculations, pending review, for the county approver to approve."""
    user = request.user
    _require_jurisdiction(user)
    pending = selectors.arrears_pending(user=user)
    totals = pending.aggregate(count=Count("id"), amount=Sum("amount"), awards=Count("award", distinct=True))
    context = {
        "page": Paginator(pending, ARREARS_PER_PAGE).get_page(request.GET.get("page")),
        "totals": {**totals, "amount": totals["amount"] or ZERO},
        "may_review": can(user, Action.MANAGE_AWARD),
    }
    return render(request, "benefits/parameters_arrears.html", context)


@login_required
@require_POST
def arrears_approve(request: HttpRequest) -> HttpResponse:
    user = request.user
    _require(user, Action.MANAGE_AWARD)
    pending = selectors.arrears_pending(user=user)
    if request.POST.get("all") != "1":
        ids = [int(raw) for raw in request.POST.getlist("arrear") if raw.isdigit()]
        pending = pending.filter(pk__in=ids)
    chosen = list(pending)
    if not chosen:
        messages.error(request, _("请勾选要审核的补发记录。"))
        return redirect("benefits:arrears")
    try:
        approved = services.arrears_review(actor=user, arrears=chosen)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            _("已审核%(count)s条补发记录，合计%(total)s元，随下次月度发放补发。")
            % {"count": approved, "total": sum((arrear.amount for arrear in chosen), ZERO)},
        )
    return redirect("benefits:arrears")


# --- monthly confirmation and the stop list ----------------------------------------------------------------


def _confirmation_month(raw: str | None) -> dt.date:
    """The month being confirmed: this month unless an earlier one is asked for (never a future one)."""
    this_month = _this_month()
    month = parse_month(raw)
    return month if month is not None and month <= this_month else this_month


@login_required
@require_GET
def confirmations(request: HttpRequest) -> HttpResponse:
    """每月资格确认: recipients in scope not yet confirmed for the month; confirm one or all, or report a stop."""
    user = request.user
    _require(user, Action.CONFIRM_RECIPIENTS)
    _require_jurisdiction(user)
    month = _confirmation_month(request.GET.get("month"))
    pending = selectors.recipients_to_confirm(user=user, month=month).select_related("person__village")
    done = scoped(MonthlyConfirmation.objects.filter(month=month), user).aggregate(
        confirmed=Count("id", filter=Q(alive=True)), stopped=Count("id", filter=Q(alive=False))
    )
    context = {
        **_month_nav(month),
        "this_month": _this_month(),
        "page": Paginator(pending, RECIPIENTS_PER_PAGE).get_page(request.GET.get("page")),
        "done": done,
    }
    return render(request, "benefits/checks_confirmations.html", context)


def _back_to_confirmations(month: dt.date) -> HttpResponse:
    return redirect(f"{reverse('benefits:confirmations')}?month={month:%Y-%m}")


@scope_model(Award)
@login_required
@require_POST
def confirmation_confirm(request: HttpRequest, pk: int) -> HttpResponse:
    award = selectors.award_get(user=request.user, pk=pk)
    _require(request.user, Action.CONFIRM_RECIPIENTS)
    month = _confirmation_month(request.POST.get("month"))
    try:
        services.monthly_confirmation_record(actor=request.user, award=award, month=month, alive=True)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            _("已确认%(name)s%(month)s的领取资格。") % {"name": award.person.name, "month": f"{month:%Y年%m月}"},
        )
    return _back_to_confirmations(month)


@login_required
@require_POST
def confirmation_confirm_all(request: HttpRequest) -> HttpResponse:
    """Confirm every recipient still on the month's list (those to stop are reported one by one first)."""
    user = request.user
    _require(user, Action.CONFIRM_RECIPIENTS)
    month = _confirmation_month(request.POST.get("month"))
    confirmed = 0
    refused: list[str] = []
    for award in list(selectors.recipients_to_confirm(user=user, month=month)):
        try:
            services.monthly_confirmation_record(actor=user, award=award, month=month, alive=True)
        except DomainError as error:
            refused.append(f"{award.person.name}：{error.message}")
        else:
            confirmed += 1
    if confirmed:
        messages.success(
            request, _("已确认%(count)s人%(month)s的领取资格。") % {"count": confirmed, "month": f"{month:%Y年%m月}"}
        )
    elif not refused:
        messages.info(request, _("本月没有待确认的领取人员。"))
    for text in refused:
        messages.error(request, text)
    return _back_to_confirmations(month)


@scope_model(Award)
@login_required
@require_http_methods(["GET", "POST"])
def confirmation_stop(request: HttpRequest, pk: int) -> HttpResponse:
    """报停: the recipient is reported for stopping with the reason; suspended from next month for the county."""
    user = request.user
    award = selectors.award_get(user=user, pk=pk)
    _require(user, Action.CONFIRM_RECIPIENTS)
    source = request.POST if request.method == "POST" else request.GET
    month = _confirmation_month(source.get("month"))
    form = StopReportForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            services.monthly_confirmation_record(
                actor=user,
                award=award,
                month=month,
                alive=False,
                stop_reason=form.cleaned_data["stop_reason"],
                note=form.cleaned_data["note"],
            )
        except DomainError as error:
            form.add_domain_error(error)
        else:
            messages.success(
                request,
                _("已报停%(name)s，自%(next)s起暂停发放，列入%(month)s停止发放人员核定表，待县级核定。")
                % {
                    "name": award.person.name,
                    "next": f"{calc.add_months(month, 1):%Y年%m月}",
                    "month": f"{month:%Y年%m月}",
                },
            )
            return _back_to_confirmations(month)
    context = {"award": award, "person": award.person, "form": form, "month": month}
    return render(request, "benefits/checks_stop.html", context, status=400 if form.errors else 200)


@login_required
@require_GET
def stop_list(request: HttpRequest) -> HttpResponse:
    """停止发放人员核定表: the month's stop reports in scope, laid out for paper."""
    user = request.user
    _require_jurisdiction(user)
    month = _month_param(request.GET.get("month"), _this_month())
    rows = selectors.stop_list(user=user, month=month).select_related("award__person__village")
    context = {**_month_nav(month), "rows": rows, "issuer": _issuer(user), "printed_at": timezone.localtime()}
    return render(request, "benefits/checks_stop_list.html", context)
