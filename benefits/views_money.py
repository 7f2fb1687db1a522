"""The browser side of the money and the cases of benefits: the monthly payroll (preview, confirmation in the
background with its progress, the funding request and the payout list, the PAYOUT batches to the partner banks
and the failed payouts to issue again), death lists and single deaths,
overpayments and their recovery, the death settlement and the other-pension stop, and transfers.

Thin views: every record is fetched through the selectors first (out of scope → 404, whatever the role), then
the role is checked (403), then one service is called; its refusal is shown next to the field it names, or as
a message. Reading someone's full record is logged to "portal.audit" (who read whose, never the data).
"""

import datetime as dt
import logging
import mimetypes
import tempfile
from decimal import Decimal
from pathlib import PurePath

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

from agencies.errors import DomainError
from agencies.exports import xlsx_header
from agencies.models import PoolingRegion
from agencies.money import ZERO
from agencies.permissions import Action, can
from agencies.scope import code_in_scope, covered_pooling_regions, get_scoped_or_404, scope_prefix, scoped
from benefits import bank, funding, payroll, selectors, services, tasks
from benefits.forms_money import (
    DeathListUploadForm,
    DeathRecordForm,
    DeathSettlementForm,
    FromEmployeesForm,
    OffsetForm,
    OtherPensionStopForm,
    PayrollPrepareForm,
    PersonFindForm,
    RecoveryForm,
    ReferForm,
    ToEmployeesForm,
    TransferRequestForm,
)
from benefits.models import (
    Award,
    AwardCategory,
    AwardStatus,
    DeathListLoad,
    DeathRecord,
    DeathSettlement,
    Overpayment,
    OverpaymentStatus,
    PayrollRun,
    PayrollStatus,
    StopReason,
    Transfer,
    TransferKind,
    TransferStatus,
)
from enrollment import idnumber
from enrollment.api.serializers import mask_bank_account
from enrollment.forms import villages_in_scope
from enrollment.models import DualEnrollmentFlag, InsuredPerson
from enrollment.selectors import person_get, person_search
from enrollment.views import INLINE_TYPES, scope_model
from funds import selectors_bank
from funds.forms_bank import PayoutIssueForm
from funds.models import BatchKind, ResultCode
from funds.selectors import account_for_person

audit = logging.getLogger("portal.audit")

PER_PAGE = 50
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# The award events an overpayment's page shows, by their stored action.
EVENT_ACTIONS = {
    "submit": gettext_lazy("提交待遇申请"),
    "accept": gettext_lazy("乡镇审核通过"),
    "return": gettext_lazy("退回"),
    "resubmit": gettext_lazy("补正后重新提交"),
    "withdraw": gettext_lazy("撤回"),
    "approve": gettext_lazy("县级核定"),
    "suspend": gettext_lazy("暂停发放"),
    "resume": gettext_lazy("恢复发放"),
    "stop": gettext_lazy("终止发放"),
    "overpayment": gettext_lazy("形成多发待遇"),
    "recovery": gettext_lazy("追回"),
    "offset_set": gettext_lazy("设置待遇抵扣"),
    "refer": gettext_lazy("移交处理"),
    "death_settlement": gettext_lazy("死亡待遇结算"),
}


def _require(user, action: Action) -> None:
    if not can(user, action):
        raise PermissionDenied


def _require_any(user, *actions: Action) -> None:
    if not any(can(user, action) for action in actions):
        raise PermissionDenied


def _require_jurisdiction(user) -> None:
    if scope_prefix(user) is None:
        raise PermissionDenied  # no jurisdiction: nothing to see or record


def _bound(request: HttpRequest) -> tuple:
    return (request.POST, request.FILES) if request.method == "POST" else (None, None)


def _page(request: HttpRequest, rows):
    return Paginator(rows, PER_PAGE).get_page(request.GET.get("page"))


def _month_text(month: dt.date) -> str:
    return f"{month:%Y年%m月}"


# --- payroll -----------------------------------------------------------------------------------------------


def _covered_regions(user) -> list[PoolingRegion]:
    return covered_pooling_regions(user=user)


def _prepare_form(user, data=None) -> PayrollPrepareForm:
    ids = [region.pk for region in _covered_regions(user)]
    today = timezone.localdate()
    return PayrollPrepareForm(
        data,
        pooling_regions=PoolingRegion.objects.filter(pk__in=ids).order_by("code"),
        initial={"month": today.replace(day=1)},
    )


def _render_payroll_list(request: HttpRequest, *, form=None, status: int = 200) -> HttpResponse:
    user = request.user
    runs = selectors.payroll_run_queryset(user=user).order_by("-month", "pooling_region__code")
    may_run = can(user, Action.RUN_PAYROLL)
    context = {
        "page": _page(request, runs),
        "may_run": may_run,
        "form": form or (_prepare_form(user) if may_run else None),
    }
    return render(request, "benefits/payroll_list.html", context, status=status)


@login_required
@require_GET
def payroll_list(request: HttpRequest) -> HttpResponse:
    """月度发放: the runs of the pooling regions the user covers; the fund officer's 试算 form."""
    _require_jurisdiction(request.user)
    return _render_payroll_list(request)


@login_required
@require_POST
def payroll_prepare(request: HttpRequest) -> HttpResponse:
    """试算 (preview) of a region's month: repeatable while the run is a draft."""
    _require(request.user, Action.RUN_PAYROLL)
    form = _prepare_form(request.user, request.POST)
    if form.is_valid():
        try:
            run = payroll.payroll_prepare(
                actor=request.user,
                pooling_region=form.cleaned_data["pooling_region"],
                month=form.cleaned_data["month"],
            )
        except DomainError as error:
            form.add_domain_error(error)
        else:
            messages.success(
                request,
                _("已完成%(region)s%(month)s的试算：%(count)s人，发放总额%(total)s元。请核对后确认发放。")
                % {
                    "region": run.pooling_region.name,
                    "month": _month_text(run.month),
                    "count": run.lines_count,
                    "total": run.total,
                },
            )
            if getattr(run, "frozen_notice", ""):  # some places were frozen for a merger and wait
                messages.warning(request, run.frozen_notice)
            return redirect("benefits:payroll_detail", pk=run.pk)
    return _render_payroll_list(request, form=form, status=400)


def _categories(run: PayrollRun) -> list[dict]:
    """The run's totals by category, in the categories' order, amounts as Decimal."""
    rows = []
    for value, label in AwardCategory.choices:
        row = (run.totals_by_category or {}).get(value)
        if not row:
            continue
        rows.append(
            {
                "label": row.get("label") or label,
                "persons": row["persons"],
                "basic": Decimal(row["basic"]),
                "account": Decimal(row["account"]),
                "total": Decimal(row["total"]),
            }
        )
    return rows


def _payroll_actions(user, run: PayrollRun) -> dict[str, bool]:
    officer = can(user, Action.RUN_PAYROLL)
    return {
        "prepare": officer and run.status == PayrollStatus.DRAFT,
        "confirm": officer and run.status == PayrollStatus.DRAFT,
        # A confirmation killed half way stays "confirming": confirming again finishes it, taking nothing twice.
        "resume": officer and run.status == PayrollStatus.CONFIRMING,
    }


def _payout_form(user, run: PayrollRun, data=None) -> PayoutIssueForm | None:
    """The 下发代发批次 form: for the fund officer, once the run is confirmed."""
    if run.status != PayrollStatus.CONFIRMED or not can(user, Action.ISSUE_BANK_BATCH):
        return None
    return PayoutIssueForm(data, partners=selectors_bank.partners_serving(pooling_region_ids=[run.pooling_region_id]))


# How many of the run's failed payouts the page lists (the rest are counted).
REISSUE_SHOWN = 100


def _render_payroll_detail(
    request: HttpRequest, run: PayrollRun, *, payout_form=None, status: int = 200
) -> HttpResponse:
    user = request.user
    page = _page(request, selectors.payroll_lines(user=user, run=run))
    lines = list(page.object_list)
    for line in lines:
        line.bank_masked = mask_bank_account(line.bank_account)
    context = {
        "run": run,
        "timetable": payroll.timetable(run),
        "categories": _categories(run),
        "offsets_total": payroll.offsets_total(run),
        "page": page,
        "lines": lines,
        "actions": _payroll_actions(user, run),
        "queued": request.GET.get("queued") == "1" and run.status != PayrollStatus.CONFIRMED,
    }
    if run.status == PayrollStatus.CONFIRMED:
        # Through the partner banks: the run's PAYOUT batches, the form for another, and the failures to pay again.
        batches = selectors_bank.batch_queryset(user=user).filter(kind=BatchKind.PAYOUT, source_id=run.pk)
        reissue = selectors_bank.payout_reissue_list(user=user, run_id=run.pk)
        context.update(
            payout_form=payout_form or _payout_form(user, run),
            bank_batches=list(batches.order_by("issued_at", "id")),
            reissue=list(reissue[:REISSUE_SHOWN]),
            reissue_total=reissue.count(),
            result_labels=dict(ResultCode.choices),
        )
    return render(request, "benefits/payroll_detail.html", context, status=status)


@scope_model(PayrollRun)
@login_required
@require_GET
def payroll_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The run: status, totals, totals by category, the timetable, and its lines (50 a page); once confirmed its
    PAYOUT batches and the failed payouts to issue again."""
    run = selectors.payroll_run_get(user=request.user, pk=pk)
    return _render_payroll_detail(request, run)


@scope_model(PayrollRun)
@login_required
@require_POST
def payroll_bank_batch(request: HttpRequest, pk: int) -> HttpResponse:
    """下发代发批次: the confirmed run's unpaid awards banking with the chosen bank, as one file for it (failed
    payouts whose person has corrected the account go in again)."""
    user = request.user
    run = selectors.payroll_run_get(user=user, pk=pk)
    _require(user, Action.ISSUE_BANK_BATCH)
    partners = selectors_bank.partners_serving(pooling_region_ids=[run.pooling_region_id])
    form = PayoutIssueForm(request.POST, partners=partners)
    if form.is_valid():
        try:
            batch = bank.payout_batch_issue(actor=user, run=run, partner=form.cleaned_data["partner"])
        except DomainError as error:
            if run.status != PayrollStatus.CONFIRMED:  # the page shows no bank form yet: say it at the top
                messages.error(request, error.message)
                return redirect("benefits:payroll_detail", pk=run.pk)
            form.add_domain_error(error)
        else:
            messages.success(
                request,
                _("已下发代发批次 %(no)s：%(count)s笔，合计%(total)s元，等待%(bank)s回盘。")
                % {
                    "no": batch.batch_no,
                    "count": batch.record_count,
                    "total": batch.total_amount,
                    "bank": batch.partner.name,
                },
            )
            return redirect("funds:batch_detail", pk=batch.pk)
    return _render_payroll_detail(request, run, payout_form=form, status=400)


@scope_model(PayrollRun)
@login_required
@require_POST
def payroll_reprepare(request: HttpRequest, pk: int) -> HttpResponse:
    """重新试算: the month computed again from today's awards, back pay and offsets; refused once confirmed."""
    run = selectors.payroll_run_get(user=request.user, pk=pk)
    _require(request.user, Action.RUN_PAYROLL)
    if run.status != PayrollStatus.DRAFT:
        messages.error(
            request,
            _("%(region)s%(month)s的发放已确认（或正在确认），发放数据已锁定，不能重新试算。")
            % {"region": run.pooling_region.name, "month": _month_text(run.month)},
        )
        return redirect("benefits:payroll_detail", pk=run.pk)
    try:
        run = payroll.payroll_prepare(actor=request.user, pooling_region=run.pooling_region, month=run.month)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            _("已重新试算：%(count)s人，发放总额%(total)s元。") % {"count": run.lines_count, "total": run.total},
        )
    return redirect("benefits:payroll_detail", pk=run.pk)


@scope_model(PayrollRun)
@login_required
@require_POST
def payroll_confirm(request: HttpRequest, pk: int) -> HttpResponse:
    """确认发放: queued for the background after this request commits; the run page shows its progress."""
    run = selectors.payroll_run_get(user=request.user, pk=pk)
    _require(request.user, Action.RUN_PAYROLL)
    if run.status == PayrollStatus.CONFIRMED:
        messages.error(
            request,
            _("%(region)s%(month)s的发放已确认，不能再次确认。")
            % {"region": run.pooling_region.name, "month": _month_text(run.month)},
        )
        return redirect("benefits:payroll_detail", pk=run.pk)
    run_id, actor_id = run.pk, request.user.pk
    try:
        # Without a broker the task runs in-process here, and a refusal comes back at once.
        transaction.on_commit(lambda: tasks.payroll_confirm.delay(run_id, actor_id))
    except DomainError as error:
        messages.error(request, error.message)
        return redirect("benefits:payroll_detail", pk=run.pk)
    messages.info(request, _("已提交确认发放，后台正在逐笔记账，完成后本页自动刷新。"))
    return redirect(reverse("benefits:payroll_detail", args=[run.pk]) + "?queued=1")


@scope_model(PayrollRun)
@login_required
@require_GET
def payroll_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """The progress bar, polled by HTMX while the run is being confirmed; once confirmed the page reloads."""
    run = selectors.payroll_run_get(user=request.user, pk=pk)
    queued = request.GET.get("queued") == "1"
    if run.status == PayrollStatus.CONFIRMED and request.htmx:
        return HttpResponseClientRedirect(reverse("benefits:payroll_detail", args=[run.pk]))
    return render(request, "benefits/payroll_progress.html", {"run": run, "queued": queued})


@scope_model(PayrollRun)
@login_required
@require_GET
def payroll_funding_request(request: HttpRequest, pk: int) -> HttpResponse:
    """用款申请 for finance, on A4: only for a confirmed run (its figures no longer change)."""
    run = selectors.payroll_run_get(user=request.user, pk=pk)
    if run.status != PayrollStatus.CONFIRMED:
        messages.error(request, _("发放确认后才能生成用款申请。"))
        return redirect("benefits:payroll_detail", pk=run.pk)
    context = {
        "run": run,
        "figures": payroll.funding_figures(run),
        "categories": _categories(run),
        "timetable": payroll.timetable(run),
        "issuer": request.user.agency.name if request.user.agency_id else request.user.display_name,
        "generated_at": timezone.localtime(),
        "transfer": funding.funding_transfer_booked(run),
        "may_record_approval": can(request.user, Action.MANAGE_FUND_ACCOUNTS),
        "today": timezone.localdate(),
    }
    return render(request, "benefits/payroll_funding_request.html", context)


@scope_model(PayrollRun)
@login_required
@require_POST
def payroll_funding_approve(request: HttpRequest, pk: int) -> HttpResponse:
    """Record finance's approval of the funding request: the transfer fiscal → expenditure is booked."""
    run = selectors.payroll_run_get(user=request.user, pk=pk)
    _require(request.user, Action.MANAGE_FUND_ACCOUNTS)
    try:
        booked_on = dt.date.fromisoformat(request.POST.get("booked_on", "").strip())
    except ValueError:
        messages.error(request, _("请填写财政拨付日期（年-月-日）。"))
        return redirect("benefits:payroll_funding_request", pk=run.pk)
    try:
        movements = funding.funding_request_approve(actor=request.user, run=run, booked_on=booked_on)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        total = sum((m.amount for m in movements if m.amount > 0), ZERO)
        messages.success(request, _("已登记财政拨付 %(total)s 元，资金已从财政专户转入支出户。") % {"total": total})
    return redirect("benefits:payroll_funding_request", pk=run.pk)


def _payout_rows(user, run: PayrollRun, chunk: int = 2000):
    """The payout list in the user's scope, with names, in chunks (one query for the persons of each chunk)."""
    rows = selectors.payout_list(user=user, run=run)
    batch: list[dict] = []
    for row in rows.iterator(chunk_size=chunk):
        batch.append(row)
        if len(batch) == chunk:
            yield from _with_persons(batch)
            batch = []
    if batch:
        yield from _with_persons(batch)


def _with_persons(batch: list[dict]):
    persons = InsuredPerson.objects.select_related("village").in_bulk([row["person_id"] for row in batch])
    for row in batch:
        yield row, persons.get(row["person_id"])


@scope_model(PayrollRun)
@login_required
@require_GET
def payroll_payout_xlsx(request: HttpRequest, pk: int) -> FileResponse:
    """发放名册 (.xlsx): one row per award, the net amount to credit. Bank accounts are masked: this list is for
    checking and filing; the bank file is made from the run's lines by the bank batch, never from this sheet."""
    user = request.user
    run = selectors.payroll_run_get(user=user, pk=pk)
    audit.info("payout list downloaded: user=%s run=%s", user.pk, run.pk)
    book = Workbook(write_only=True)
    sheet = book.create_sheet(_("发放名册"))
    for column, width in zip("ABCDEFGH", (8, 12, 22, 16, 20, 10, 18, 14), strict=True):
        sheet.column_dimensions[column].width = width
    sheet.append(
        [
            _("%(region)s %(month)s 城乡居民基本养老保险待遇发放名册（%(status)s）")
            % {"region": run.pooling_region.name, "month": _month_text(run.month), "status": run.get_status_display()}
        ]
    )
    sheet.append([_("银行账号已隐去，仅供核对与归档；银行代发文件由发放批次生成，不使用本表。")])
    xlsx_header(
        sheet,
        [
            _("序号"),
            _("姓名"),
            _("身份证号"),
            _("区划代码"),
            _("村（社区）"),
            _("银行代码"),
            _("银行账号"),
            _("金额（元）"),
        ],
    )
    count = 0
    total = ZERO
    for row, person in _payout_rows(user, run):
        count += 1
        total += row["amount"]
        amount = WriteOnlyCell(sheet, value=row["amount"])
        amount.number_format = "#,##0.00"
        sheet.append(
            [
                count,
                person.name if person else "",
                idnumber.mask(person.id_number) if person else "",
                row["region_code"],
                person.village.name if person else "",
                row["bank_code"],
                mask_bank_account(row["bank_account"]),
                amount,
            ]
        )
    sum_cell = WriteOnlyCell(sheet, value=total)
    sum_cell.number_format = "#,##0.00"
    sum_cell.font = Font(bold=True)
    sheet.append(["", _("合计"), _("%(count)s人") % {"count": count}, "", "", "", "", sum_cell])
    handle = tempfile.TemporaryFile()  # noqa: SIM115 - the response closes it once sent, and so deletes it
    book.save(handle)
    handle.seek(0)
    filename = f"发放名册_{run.pooling_region.name}_{run.month:%Y%m}.xlsx"
    response = FileResponse(handle, as_attachment=True, filename=filename, content_type=XLSX)
    response["Cache-Control"] = "private, no-store"
    return response


# --- deaths ------------------------------------------------------------------------------------------------


def _render_deaths(request: HttpRequest, *, form=None, row_errors=None, status: int = 200) -> HttpResponse:
    user = request.user
    may_load = can(user, Action.LOAD_DEATH_LIST)
    context = {
        "may_load": may_load,
        "may_record": can(user, Action.RECORD_DEATH),
        "form": form or (DeathListUploadForm() if may_load else None),
        "row_errors": row_errors,
        "page": _page(request, selectors.death_list_loads(user=user).order_by("-loaded_at", "-id")),
        "find_form": PersonFindForm(),
    }
    return render(request, "benefits/deaths_list.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def death_lists(request: HttpRequest) -> HttpResponse:
    """死亡火化名单比对: upload a civil-affairs list; a malformed row refuses it whole, with every row's problem."""
    _require_any(request.user, Action.LOAD_DEATH_LIST, Action.RECORD_DEATH)
    _require_jurisdiction(request.user)
    if request.method == "GET":
        return _render_deaths(request)
    _require(request.user, Action.LOAD_DEATH_LIST)
    form = DeathListUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return _render_deaths(request, form=form, status=400)
    upload = form.cleaned_data["file"]
    try:
        load = services.death_list_load(actor=request.user, file_name=upload.name, content=upload.read())
    except services.RowErrors as error:
        form.add_domain_error(error)
        return _render_deaths(request, form=form, row_errors=error.errors, status=400)
    except DomainError as error:
        form.add_domain_error(error)
        return _render_deaths(request, form=form, status=400)
    messages.success(
        request,
        _("名单共%(rows)s行，匹配到本辖区参保人%(matches)s人，形成多发待遇%(overpayments)s笔。")
        % {"rows": load.rows_read, "matches": load.matches, "overpayments": load.overpayments},
    )
    return redirect("benefits:death_list_detail", pk=load.pk)


@scope_model(DeathListLoad)
@login_required
@require_GET
def death_list_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One load's result: who matched, from which month their pension stopped, and what became overpaid."""
    user = request.user
    load = selectors.death_list_load_get(user=user, pk=pk)
    deaths = scoped(DeathRecord.objects.filter(load=load).select_related("person__village"), user).order_by(
        "person__region_code", "id"
    )
    page = _page(request, deaths)
    persons = [death.person_id for death in page.object_list]
    overpayments: dict[int, list[Overpayment]] = {}
    for overpayment in scoped(
        Overpayment.objects.filter(person_id__in=persons, reason=StopReason.DEATH), user
    ).order_by("id"):
        overpayments.setdefault(overpayment.person_id, []).append(overpayment)
    rows = [{"death": death, "overpayments": overpayments.get(death.person_id, [])} for death in page.object_list]
    context = {"load": load, "page": page, "rows": rows, "may_settle": can(user, Action.SETTLE_DEATH)}
    return render(request, "benefits/deaths_load.html", context)


def _render_death_record(request: HttpRequest, person: InsuredPerson, form, *, award=None, status=200):
    context = {
        "person": person,
        "award": award,
        "form": form,
        "death": DeathRecord.objects.filter(person=person).first(),
        "awards": selectors.award_queryset(user=request.user)
        .filter(person=person, status__in=[AwardStatus.ACTIVE, AwardStatus.SUSPENDED])
        .order_by("pk"),
    }
    return render(request, "benefits/deaths_record.html", context, status=status)


def _death_record(request: HttpRequest, person: InsuredPerson, *, award: Award | None = None) -> HttpResponse:
    _require(request.user, Action.RECORD_DEATH)
    form = DeathRecordForm(*_bound(request)[:1])
    if request.method == "POST" and form.is_valid():
        try:
            record = services.death_record(
                actor=request.user,
                person=person,
                died_on=form.cleaned_data["died_on"],
                source=form.cleaned_data["source"],
            )
        except DomainError as error:
            form.add_domain_error(error)
        else:
            owed = sum(
                scoped(
                    Overpayment.objects.filter(person=person, reason=StopReason.DEATH, status=OverpaymentStatus.OPEN),
                    request.user,
                ).values_list("amount", flat=True),
                ZERO,
            )
            text = _("已登记%(name)s于%(day)s死亡，待遇发放至当月，次月起停发。") % {
                "name": person.name,
                "day": f"{record.died_on:%Y-%m-%d}",
            }
            if owed:
                text += _("死亡后已发的待遇%(amount)s元列为多发待遇，待追回。") % {"amount": owed}
            messages.success(request, text)
            return redirect("benefits:death_lists")
    return _render_death_record(request, person, form, award=award, status=400 if form.errors else 200)


@scope_model(InsuredPerson)
@login_required
@require_http_methods(["GET", "POST"])
def death_record_person(request: HttpRequest, pk: int) -> HttpResponse:
    """登记死亡 of one person (a family's report, the village agent's): the award stops after the month."""
    person = person_get(user=request.user, pk=pk)
    return _death_record(request, person)


@scope_model(Award)
@login_required
@require_http_methods(["GET", "POST"])
def death_record_award(request: HttpRequest, pk: int) -> HttpResponse:
    """The same, reached from an award."""
    award = selectors.award_get(user=request.user, pk=pk)
    return _death_record(request, person_get(user=request.user, pk=award.person_id), award=award)


# Where the identity-number finder sends the clerk, and where it returns when nobody is found.
FIND_TARGETS = {
    "death": ("benefits:death_record_person", "benefits:death_lists"),
    "settlement": ("benefits:settlement_form", "benefits:death_lists"),
    "other_pension": ("benefits:other_pension_stop", "benefits:death_lists"),
    "to_employees": ("benefits:transfer_to_employees", "benefits:transfers"),
    "from_employees": ("benefits:transfer_from_employees", "benefits:transfers"),
}


@login_required
@require_GET
def person_find(request: HttpRequest) -> HttpResponse:
    """A person in scope by the whole identity number, then the form asked for (``for``)."""
    target, back = FIND_TARGETS.get(request.GET.get("for", ""), FIND_TARGETS["death"])
    number = idnumber.normalise(request.GET.get("id_number", ""))
    if not number:
        return redirect(back)
    person = person_search(user=request.user, q=number).filter(id_number=number).first()
    if person is None:
        messages.error(request, _("本辖区内没有身份证号为%(number)s的参保人。") % {"number": idnumber.mask(number)})
        return redirect(back)
    return redirect(target, pk=person.pk)


# --- overpayments ------------------------------------------------------------------------------------------


@login_required
@require_GET
def overpayments(request: HttpRequest) -> HttpResponse:
    """多发待遇: open ones (the recovery worklist), or all."""
    _require_jurisdiction(request.user)
    show_all = request.GET.get("status") == "all"
    rows = selectors.overpayment_queryset(user=request.user, open_only=not show_all).order_by("region_code", "id")
    context = {"page": _page(request, rows), "show_all": show_all}
    return render(request, "benefits/overpayments_list.html", context)


def _render_overpayment(request: HttpRequest, overpayment: Overpayment, *, status=200, **forms) -> HttpResponse:
    user = request.user
    open_ = overpayment.status == OverpaymentStatus.OPEN
    may_recover = can(user, Action.RECOVER_OVERPAYMENT) and open_
    context = {
        "overpayment": overpayment,
        "person": overpayment.person,
        "steps": overpayment.steps.select_related("recorded_by"),
        "events": overpayment.award.events.select_related("actor").order_by("at", "id"),
        "event_actions": EVENT_ACTIONS,
        "may_recover": may_recover,
        "may_settle": can(user, Action.SETTLE_DEATH) and overpayment.reason == StopReason.DEATH,
        "recovery_form": forms.get("recovery_form") or RecoveryForm(initial={"on": timezone.localdate()}),
        "offset_form": forms.get("offset_form") or OffsetForm(initial={"per_month": overpayment.offset_per_month}),
        "refer_form": forms.get("refer_form") or ReferForm(),
        "award_active": overpayment.award.status == AwardStatus.ACTIVE,
    }
    return render(request, "benefits/overpayments_detail.html", context, status=status)


@scope_model(Overpayment)
@login_required
@require_GET
def overpayment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    overpayment = selectors.overpayment_get(user=request.user, pk=pk)
    return _render_overpayment(request, overpayment)


@scope_model(Overpayment)
@login_required
@require_POST
def overpayment_recover(request: HttpRequest, pk: int) -> HttpResponse:
    """A step of recovery: repayment, an instalment, or an offset against the account balance."""
    overpayment = selectors.overpayment_get(user=request.user, pk=pk)
    _require(request.user, Action.RECOVER_OVERPAYMENT)
    form = RecoveryForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            step = services.overpayment_recover(
                actor=request.user,
                overpayment=overpayment,
                method=data["method"],
                amount=data["amount"],
                on=data["on"],
                reference=data["reference"],
                note=data["note"],
            )
        except DomainError as error:
            form.add_domain_error(error)
        else:
            overpayment.refresh_from_db()
            messages.success(
                request,
                _("已登记%(method)s%(amount)s元；尚未追回%(outstanding)s元。")
                % {"method": step.get_method_display(), "amount": step.amount, "outstanding": overpayment.outstanding},
            )
            return redirect("benefits:overpayment_detail", pk=overpayment.pk)
    return _render_overpayment(request, overpayment, recovery_form=form, status=400)


@scope_model(Overpayment)
@login_required
@require_POST
def overpayment_offset(request: HttpRequest, pk: int) -> HttpResponse:
    """后续待遇抵扣: a monthly amount the payroll takes from the award until recovered."""
    overpayment = selectors.overpayment_get(user=request.user, pk=pk)
    _require(request.user, Action.RECOVER_OVERPAYMENT)
    form = OffsetForm(request.POST)
    if form.is_valid():
        try:
            overpayment = services.overpayment_offset_set(
                actor=request.user, overpayment=overpayment, per_month=form.cleaned_data["per_month"]
            )
        except DomainError as error:
            form.add_domain_error(error)
        else:
            if overpayment.offset_per_month:
                text = _("已设置每月从待遇中抵扣%(amount)s元，自下次发放起执行。") % {
                    "amount": overpayment.offset_per_month
                }
            else:
                text = _("已停止从待遇中抵扣。")
            messages.success(request, text)
            return redirect("benefits:overpayment_detail", pk=overpayment.pk)
    return _render_overpayment(request, overpayment, offset_form=form, status=400)


@scope_model(Overpayment)
@login_required
@require_POST
def overpayment_refer(request: HttpRequest, pk: int) -> HttpResponse:
    """移交: suspected fraud leaves the recovery worklist for the competent authority."""
    overpayment = selectors.overpayment_get(user=request.user, pk=pk)
    _require(request.user, Action.RECOVER_OVERPAYMENT)
    form = ReferForm(request.POST)
    if form.is_valid():
        try:
            services.overpayment_refer(actor=request.user, overpayment=overpayment, note=form.cleaned_data["note"])
        except DomainError as error:
            form.add_domain_error(error)
        else:
            messages.success(request, _("已移交处理。"))
            return redirect("benefits:overpayment_detail", pk=overpayment.pk)
    return _render_overpayment(request, overpayment, refer_form=form, status=400)


# --- death settlement, other pension -----------------------------------------------------------------------


def _settlement_queryset():
    return DeathSettlement.objects.select_related("person__village", "settled_by")


def _open_overpayments(user, person: InsuredPerson):
    return scoped(Overpayment.objects.filter(person=person, status=OverpaymentStatus.OPEN), user).order_by("id")


@scope_model(InsuredPerson)
@login_required
@require_http_methods(["GET", "POST"])
def settlement_form(request: HttpRequest, pk: int) -> HttpResponse:
    """死亡待遇结算: the heir, the proof of the right to inherit; the balance, offsets and the funeral grant."""
    user = request.user
    person = person_get(user=user, pk=pk)
    _require(user, Action.SETTLE_DEATH)
    done = scoped(_settlement_queryset(), user).filter(person=person).first()
    if done is not None:
        return redirect("benefits:settlement_detail", pk=done.pk)
    form = DeathSettlementForm(*_bound(request))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            settlement = services.death_settlement_record(
                actor=user,
                person=person,
                heir_name=data["heir_name"],
                heir_id_number=data["heir_id_number"],
                heir_relation=data["heir_relation"],
                proof=data["proof"],
                heir_bank_code=data["heir_bank_code"],
                heir_bank_account=data["heir_bank_account"],
            )
        except DomainError as error:
            form.add_domain_error(error)
        else:
            messages.success(request, _("已办理%(name)s的死亡待遇结算，参保关系已注销。") % {"name": person.name})
            return redirect("benefits:settlement_detail", pk=settlement.pk)
    account = account_for_person(user=user, person_id=person.pk)
    context = {
        "person": person,
        "form": form,
        "death": DeathRecord.objects.filter(person=person).first(),
        "account": account,
        "overpayments": _open_overpayments(user, person),
    }
    return render(request, "benefits/settlement_form.html", context, status=400 if form.errors else 200)


@scope_model(DeathSettlement)
@login_required
@require_GET
def settlement_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The settlement's result: balance inherited, overpayment offset, funeral grant; the heir and the proof."""
    settlement = get_scoped_or_404(_settlement_queryset(), request.user, pk=pk)
    audit.info("death settlement read: user=%s settlement=%s", request.user.pk, settlement.pk)
    context = {
        "settlement": settlement,
        "person": settlement.person,
        "heir_bank_account": mask_bank_account(settlement.heir_bank_account),
        "payable": settlement.balance_paid + settlement.funeral_grant,
    }
    return render(request, "benefits/settlement_detail.html", context)


@scope_model(DeathSettlement)
@login_required
@require_GET
def settlement_proof(request: HttpRequest, pk: int) -> FileResponse:
    """The proof of the right to inherit, streamed only after the scope check (never a public /media/ address)."""
    settlement = get_scoped_or_404(_settlement_queryset(), request.user, pk=pk)
    if not settlement.proof:
        raise Http404
    try:
        handle = settlement.proof.open("rb")
    except FileNotFoundError:
        raise Http404 from None
    audit.info("inheritance proof read: user=%s settlement=%s", request.user.pk, settlement.pk)
    filename = PurePath(settlement.proof.name).name
    content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    response = FileResponse(handle, filename=filename, as_attachment=content_type not in INLINE_TYPES)
    response["Content-Security-Policy"] = "sandbox"
    response["Cache-Control"] = "private, no-store"
    return response


@scope_model(InsuredPerson)
@login_required
@require_http_methods(["GET", "POST"])
def other_pension_stop(request: HttpRequest, pk: int) -> HttpResponse:
    """领取职工养老金人员停发: stopped from that month, the basic pension since recovered, the balance less
    government subsidies refunded, the person cancelled. The result is shown at once (the person is then
    cancelled, so sending the form again is refused)."""
    user = request.user
    person = person_get(user=user, pk=pk)
    _require(user, Action.MANAGE_AWARD)
    form = OtherPensionStopForm(*_bound(request)[:1])
    if request.method == "POST" and form.is_valid():
        try:
            refund, overpayment = services.other_pension_stop(
                actor=user, person=person, employee_pension_from=form.cleaned_data["employee_pension_from"]
            )
        except DomainError as error:
            form.add_domain_error(error)
        else:
            if overpayment is not None:
                overpayment.refresh_from_db()  # the offset against the account was taken on a locked copy
            context = {"person": person, "refund": refund, "overpayment": overpayment}
            return render(request, "benefits/settlement_other_pension_result.html", context)
    context = {
        "person": person,
        "form": form,
        "awards": selectors.award_queryset(user=user)
        .filter(person=person, status__in=[AwardStatus.ACTIVE, AwardStatus.SUSPENDED])
        .order_by("pk"),
        "flags": scoped(DualEnrollmentFlag.objects.filter(person=person, resolved_at__isnull=True), user),
        "account": account_for_person(user=user, person_id=person.pk),
    }
    return render(request, "benefits/settlement_other_pension.html", context, status=400 if form.errors else 200)


# --- transfers ---------------------------------------------------------------------------------------------


@login_required
@require_GET
def transfers(request: HttpRequest) -> HttpResponse:
    """关系转移: both sides see a transfer, the sending place and the receiving one."""
    _require_jurisdiction(request.user)
    status = request.GET.get("status", "")
    rows = selectors.transfer_queryset(user=request.user)
    if status in TransferStatus.values:
        rows = rows.filter(status=status)
    else:
        status = ""
    context = {
        "page": _page(request, rows.order_by("-requested_at", "-id")),
        "status": status,
        "statuses": TransferStatus.choices,
        "may_request": can(request.user, Action.REQUEST_TRANSFER),
        "find_form": PersonFindForm(),
    }
    return render(request, "benefits/transfers_list.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def transfer_request(request: HttpRequest) -> HttpResponse:
    """转入申请: the receiving side applies for a person of another pooling region whose hukou moved here."""
    _require(request.user, Action.REQUEST_TRANSFER)
    _require_jurisdiction(request.user)
    form = TransferRequestForm(*_bound(request)[:1], villages=villages_in_scope(request.user))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            transfer = services.transfer_request(
                actor=request.user,
                id_number=data["id_number"],
                to_village=data["to_village"],
                hukou_moved_on=data["hukou_moved_on"],
                reference=data["reference"],
            )
        except DomainError as error:
            form.add_domain_error(error)
        else:
            messages.success(
                request, _("已提交%(name)s的转入申请，等待转出地审核划转。") % {"name": transfer.person.name}
            )
            return redirect("benefits:transfer_detail", pk=transfer.pk)
    return render(request, "benefits/transfers_request.html", {"form": form}, status=400 if form.errors else 200)


def _transfer_actions(user, transfer: Transfer) -> dict[str, bool]:
    """Which buttons to show; the services decide again on submit."""
    sending = transfer.from_region_code and code_in_scope(user, transfer.from_region_code)
    receiving = transfer.to_region_code and code_in_scope(user, transfer.to_region_code)
    return {
        "approve": bool(
            can(user, Action.APPROVE_TRANSFER)
            and sending
            and transfer.status == TransferStatus.REQUESTED
            and transfer.kind != TransferKind.FROM_EMPLOYEES
        ),
        "book": bool(
            can(user, Action.REQUEST_TRANSFER)
            and receiving
            and transfer.kind == TransferKind.WITHIN_SCHEME
            and transfer.status == TransferStatus.MOVED
        ),
    }


def _components(transfer: Transfer) -> list[dict]:
    from funds.models import Component

    labels = dict(Component.choices)
    return [
        {"label": labels.get(code, code), "amount": Decimal(amount)}
        for code, amount in (transfer.amounts_by_component or {}).items()
    ]


def _transfer_context(request: HttpRequest, transfer: Transfer) -> dict:
    return {
        "transfer": transfer,
        "person": transfer.person,
        "components": _components(transfer),
        "actions": _transfer_actions(request.user, transfer),
    }


@scope_model(Transfer)
@login_required
@require_GET
def transfer_detail(request: HttpRequest, pk: int) -> HttpResponse:
    transfer = selectors.transfer_get(user=request.user, pk=pk)
    return render(request, "benefits/transfers_detail.html", _transfer_context(request, transfer))


@scope_model(Transfer)
@login_required
@require_POST
def transfer_approve(request: HttpRequest, pk: int) -> HttpResponse:
    """转出地审核并划转: interest to the month, the whole balance out, the account closed."""
    transfer = selectors.transfer_get(user=request.user, pk=pk)
    _require(request.user, Action.APPROVE_TRANSFER)
    try:
        transfer = services.transfer_approve(actor=request.user, transfer=transfer)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            _("已审核并划转个人账户%(amount)s元、缴费年限%(years)s年。")
            % {"amount": transfer.amount, "years": transfer.years_moved},
        )
    return redirect("benefits:transfer_detail", pk=transfer.pk)


@scope_model(Transfer)
@login_required
@require_POST
def transfer_book(request: HttpRequest, pk: int) -> HttpResponse:
    """转入地确认记账: the account reopened here, the person re-homed, the years adding up."""
    transfer = selectors.transfer_get(user=request.user, pk=pk)
    _require(request.user, Action.REQUEST_TRANSFER)
    try:
        transfer = services.transfer_book(actor=request.user, transfer=transfer)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("已确认转入并记账%(amount)s元。") % {"amount": transfer.amount})
    return redirect("benefits:transfer_detail", pk=transfer.pk)


@scope_model(Transfer)
@login_required
@require_GET
def transfer_print(request: HttpRequest, pk: int) -> HttpResponse:
    """转移接续 form for the file, laid out for A4: one per kind of transfer."""
    transfer = selectors.transfer_get(user=request.user, pk=pk)
    audit.info("transfer form printed: user=%s transfer=%s", request.user.pk, transfer.pk)
    context = {
        **_transfer_context(request, transfer),
        "issuer": request.user.agency.name if request.user.agency_id else request.user.display_name,
        "generated_at": timezone.localtime(),
    }
    return render(request, "benefits/transfers_print.html", context)


def _employee_transfer(request: HttpRequest, pk: int, *, kind: str) -> HttpResponse:
    user = request.user
    person = person_get(user=user, pk=pk)
    _require(user, Action.REQUEST_TRANSFER)
    form_class = ToEmployeesForm if kind == TransferKind.TO_EMPLOYEES else FromEmployeesForm
    form = form_class(*_bound(request)[:1])
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            if kind == TransferKind.TO_EMPLOYEES:
                transfer = services.transfer_to_employees(
                    actor=user, person=person, employee_years=data["employee_years"], reference=data["reference"]
                )
                text = _("已登记%(name)s转入职工养老保险，等待县级审批划转。")
            else:
                transfer = services.transfer_from_employees(
                    actor=user,
                    person=person,
                    employee_years=data["employee_years"],
                    amount=data["amount"],
                    reference=data["reference"],
                )
                text = _("已将%(name)s的职工养老保险个人账户转入并记账，缴费年限合并计算。")
        except DomainError as error:
            form.add_domain_error(error)
        else:
            messages.success(request, text % {"name": person.name})
            return redirect("benefits:transfer_detail", pk=transfer.pk)
    context = {
        "person": person,
        "form": form,
        "kind": kind,
        "title": TransferKind(kind).label,
        "years_paid": services.years_paid(person),
        "account": account_for_person(user=user, person_id=person.pk),
    }
    return render(request, "benefits/transfers_employees.html", context, status=400 if form.errors else 200)


@scope_model(InsuredPerson)
@login_required
@require_http_methods(["GET", "POST"])
def transfer_to_employees(request: HttpRequest, pk: int) -> HttpResponse:
    """转入职工养老保险: 15 or more employee years at retirement age; the approver then approves and pays."""
    return _employee_transfer(request, pk, kind=TransferKind.TO_EMPLOYEES)


@scope_model(InsuredPerson)
@login_required
@require_http_methods(["GET", "POST"])
def transfer_from_employees(request: HttpRequest, pk: int) -> HttpResponse:
    """职工养老保险转入: fewer than 15 employee years; the employee account merges here and its years count."""
    return _employee_transfer(request, pk, kind=TransferKind.FROM_EMPLOYEES)
