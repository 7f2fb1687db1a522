"""The browser side of the fund accounts (收入户/支出户/财政专户) and the three-way reconciliation (三方对账).

The county fund officer works here: the accounts' banks and numbers, the month-end sweep (归集) of an ended
month, government money arriving in the fiscal special account, the reconciliation of an account over a period,
clearing its differences with a reason, and finance's confirmations. The city supervisor reads the same pages
and changes nothing. A manual funding transfer is not a page: it is the payroll run's funding request.

Thin views, as the bank pages: a record is fetched through ``funds.reconciliation``'s selectors first (outside
the pooling regions the user covers wholly → 404, whatever the role), then the role is checked (403), then one
service is called and its refusal shown next to the field it names. A pooling region or an account is chosen
among those the user covers (``covered_pooling_regions``); a foreign one is an invalid choice.
"""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
from dataclasses import dataclass
from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

from agencies.errors import DomainError
from agencies.exports import xlsx_header
from agencies.models import PoolingRegion, Role
from agencies.money import ZERO
from agencies.permissions import Action, can
from agencies.scope import covered_pooling_regions
from enrollment.views import scope_model
from funds import fund_accounts, reconciliation, selectors_bank, selectors_funds
from funds.forms_funds import (
    DifferenceClearForm,
    FinanceConfirmationForm,
    FinanceReceiptForm,
    FundAccountBankForm,
    PeriodForm,
    ReconcileForm,
    SweepForm,
)
from funds.models import (
    BankStatement,
    DifferenceKind,
    DifferenceStatus,
    Fund,
    FundAccount,
    FundAccountKind,
    MovementKind,
    ReconciliationDifference,
)

audit = logging.getLogger("portal.audit")

PER_PAGE = 50
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DIFFERENCE_STATUSES = {"open", "cleared", "resolved", "all"}
# The overview holds two forms with a pooling region each: their inputs get ids of their own.
SWEEP_ID, RECEIPT_ID = "sweep_%s", "receipt_%s"


# --- who may ---------------------------------------------------------------------------------------------


def may_manage_funds(user) -> bool:
    return can(user, Action.MANAGE_FUND_ACCOUNTS)


def may_reconcile(user) -> bool:
    return can(user, Action.RECONCILE_FUNDS)


def may_read_funds(user) -> bool:
    """The fund officer works the accounts; the city supervisor reads those of the regions they cover."""
    return may_manage_funds(user) or may_reconcile(user) or getattr(user, "role", None) == Role.CITY_SUPERVISOR


def _require(allowed: bool) -> None:
    if not allowed:
        raise PermissionDenied


# --- reads (always through the covered pooling regions) ---------------------------------------------------------


def _regions(user) -> list[PoolingRegion]:
    return covered_pooling_regions(user=user)


def _region_queryset(regions: list[PoolingRegion]) -> QuerySet[PoolingRegion]:
    return PoolingRegion.objects.filter(pk__in=[r.pk for r in regions]).order_by("code")


def _chosen_region(request: HttpRequest, regions: list[PoolingRegion]) -> PoolingRegion | None:
    raw = request.GET.get("region", "").strip()
    return next((region for region in regions if str(region.pk) == raw), None)


def _date(raw: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat((raw or "").strip())
    except ValueError:
        return None


@dataclass(frozen=True)
class MovementFilter:
    date_from: dt.date | None
    date_to: dt.date | None
    fund: str
    kind: str

    @classmethod
    def from_request(cls, request: HttpRequest) -> MovementFilter:
        fund = request.GET.get("fund", "")
        kind = request.GET.get("kind", "")
        return cls(
            date_from=_date(request.GET.get("date_from")),
            date_to=_date(request.GET.get("date_to")),
            fund=fund if fund in Fund.values else "",
            kind=kind if kind in MovementKind.values else "",
        )

    def query(self) -> str:
        values = {
            "date_from": self.date_from.isoformat() if self.date_from else "",
            "date_to": self.date_to.isoformat() if self.date_to else "",
            "fund": self.fund,
            "kind": self.kind,
        }
        return urlencode({k: v for k, v in values.items() if v})

    @property
    def running(self) -> bool:
        """A balance after each movement says something only when no kind of movement is left out."""
        return not self.kind


# --- the accounts -------------------------------------------------------------------------------------------


def _render_overview(
    request: HttpRequest,
    *,
    sweep_form: SweepForm | None = None,
    receipt_form: FinanceReceiptForm | None = None,
    status: int = 200,
) -> HttpResponse:
    user = request.user
    today = timezone.localdate()
    regions = _regions(user)
    chosen = _chosen_region(request, regions)
    shown = [chosen] if chosen is not None else regions
    on = _date(request.GET.get("on")) or today
    last_month = selectors_funds.previous_month(today)
    checks = {check.pooling_region.pk: check for check in selectors_funds.sweep_checks(regions=shown, month=last_month)}
    blocks = [
        {
            "region": region,
            "balances": fund_accounts.fund_balances(pooling_region=region, on=on),
            "check": checks[region.pk],
        }
        for region in shown
    ]
    may_manage = may_manage_funds(user)
    context = {
        "regions": regions,
        "chosen": chosen,
        "on": on,
        "today": today,
        "blocks": blocks,
        "last_month": last_month,
        "may_manage": may_manage,
        "may_reconcile": may_reconcile(user),
    }
    if may_manage:
        region_qs = _region_queryset(regions)
        context["sweep_form"] = sweep_form or SweepForm(
            pooling_regions=region_qs, region=chosen, initial={"month": f"{last_month:%Y-%m}"}, auto_id=SWEEP_ID
        )
        context["receipt_form"] = receipt_form or FinanceReceiptForm(
            pooling_regions=region_qs, region=chosen, initial={"booked_on": today}, auto_id=RECEIPT_ID
        )
    return render(request, "funds/fund_accounts/overview.html", context, status=status)


@login_required
@require_GET
def fund_accounts_overview(request: HttpRequest) -> HttpResponse:
    """基金账户: per pooling region covered, the three accounts with bank and number and their balance per fund as
    of a chosen day, and whether the income account held nothing at the end of last month."""
    _require(may_read_funds(request.user))
    return _render_overview(request)


@login_required
@require_POST
def fund_sweep(request: HttpRequest) -> HttpResponse:
    """月末归集 of an ended month (the nightly job does it too; running it again moves only what arrived since)."""
    user = request.user
    _require(may_manage_funds(user))
    form = SweepForm(request.POST, pooling_regions=_region_queryset(_regions(user)), auto_id=SWEEP_ID)
    if form.is_valid():
        region = form.cleaned_data["pooling_region"]
        month = form.cleaned_data["month"]
        try:
            sweep = fund_accounts.income_sweep(pooling_region=region, month=month, actor=user)
        except DomainError as error:
            form.add_domain_error(error)
        else:
            if sweep.reference is None:
                messages.info(
                    request,
                    _("%(region)s收入户%(month)s末没有余额，无需归集。")
                    % {"region": region.name, "month": f"{sweep.month:%Y年%m月}"},
                )
            else:
                parts = "、".join(f"{Fund(fund).label}{amount}元" for fund, amount in sweep.amounts.items())
                messages.success(
                    request,
                    _(
                        "已将%(region)s收入户%(month)s末的余额归集到财政专户：%(parts)s，合计%(total)s元，划转编号%(ref)s。"
                    )
                    % {
                        "region": region.name,
                        "month": f"{sweep.month:%Y年%m月}",
                        "parts": parts,
                        "total": sweep.total,
                        "ref": sweep.reference,
                    },
                )
            query = urlencode({"region": region.pk, "on": sweep.booked_on.isoformat()})
            return redirect(f"{reverse('funds:fund_accounts')}?{query}")
    return _render_overview(request, sweep_form=form, status=400)


@login_required
@require_POST
def fund_finance_receipt(request: HttpRequest) -> HttpResponse:
    """财政资金到账: government money into the fiscal special account, per fund."""
    user = request.user
    _require(may_manage_funds(user))
    form = FinanceReceiptForm(request.POST, pooling_regions=_region_queryset(_regions(user)), auto_id=RECEIPT_ID)
    if form.is_valid():
        data = form.cleaned_data
        region = data["pooling_region"]
        try:
            movement = fund_accounts.finance_receipt(
                actor=user,
                pooling_region=region,
                fund=data["fund"],
                amount=data["amount"],
                booked_on=data["booked_on"],
                reference=data["reference"],
            )
        except DomainError as error:
            form.add_domain_error(error)
        else:
            messages.success(
                request,
                _("已记录财政资金到账：%(region)s财政专户%(fund)s%(amount)s元，%(day)s，业务编号%(ref)s。")
                % {
                    "region": region.name,
                    "fund": movement.get_fund_display(),
                    "amount": movement.amount,
                    "day": f"{movement.booked_on:%Y-%m-%d}",
                    "ref": movement.reference,
                },
            )
            return redirect("funds:fund_account_detail", pk=movement.account_id)
    return _render_overview(request, receipt_form=form, status=400)


@login_required
@require_http_methods(["GET", "POST"])
def fund_account_bank(request: HttpRequest) -> HttpResponse:
    """开户银行和账号 of one of a region's three accounts (before the bank sends statements of it)."""
    user = request.user
    _require(may_manage_funds(user))
    regions = _regions(user)
    partners = selectors_bank.partners_serving(pooling_region_ids=[r.pk for r in regions])
    region_qs = _region_queryset(regions)
    if request.method == "POST":
        form = FundAccountBankForm(request.POST, pooling_regions=region_qs, partners=partners)
        if form.is_valid():
            data = form.cleaned_data
            try:
                account = fund_accounts.fund_account_bank_set(
                    actor=user,
                    pooling_region=data["pooling_region"],
                    kind=data["kind"],
                    partner=data["partner"],
                    account_number=data["account_number"],
                )
            except DomainError as error:
                form.add_domain_error(error)
            else:
                messages.success(
                    request,
                    _("已登记%(account)s：%(bank)s，账号%(number)s。")
                    % {"account": str(account), "bank": account.bank_partner.name, "number": account.account_number},
                )
                return redirect(f"{reverse('funds:fund_accounts')}?{urlencode({'region': account.pooling_region_id})}")
    else:
        region = _chosen_region(request, regions) or (regions[0] if len(regions) == 1 else None)
        kind = request.GET.get("kind", "")
        initial = {"kind": kind if kind in FundAccountKind.values else ""}
        current = selectors_funds.accounts_of([region]).filter(kind=kind).first() if region is not None else None
        if current is not None and current.bank_partner_id:
            initial.update(partner=current.bank_partner_id, account_number=current.account_number)
        form = FundAccountBankForm(pooling_regions=region_qs, region=region, partners=partners, initial=initial)
    return render(request, "funds/fund_accounts/bank_form.html", {"form": form}, status=400 if form.errors else 200)


def _account_context(request: HttpRequest, account: FundAccount) -> dict:
    chosen = MovementFilter.from_request(request)
    rows, opening = selectors_funds.account_movements(
        account, date_from=chosen.date_from, date_to=chosen.date_to, fund=chosen.fund, kind=chosen.kind
    )
    if chosen.running:
        rows = selectors_funds.with_running_balance(rows)
    page = Paginator(rows, PER_PAGE).get_page(request.GET.get("page"))
    movements = list(page.object_list)
    if chosen.running:
        for movement in movements:
            movement.balance_after = opening + movement.running
    on = chosen.date_to or timezone.localdate()
    balance = fund_accounts.fund_balances(pooling_region=account.pooling_region, on=on).of(account.kind)
    return {
        "account": account,
        "balance": balance,
        "on": on,
        "chosen": chosen,
        "query": chosen.query(),
        "opening": opening,
        "page": page,
        "movements": movements,
        "funds": Fund.choices,
        "kinds": MovementKind.choices,
        "may_manage": may_manage_funds(request.user),
        "may_reconcile": may_reconcile(request.user),
    }


@scope_model(FundAccount)
@login_required
@require_GET
def fund_account_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One account: bank and number, its balance per fund, and its movements (date, kind, fund, amount, reference,
    counterpart, balance after) filtered by period, fund and kind, with an .xlsx export."""
    account = reconciliation.fund_account_get(user=request.user, pk=pk)
    _require(may_read_funds(request.user))
    return render(request, "funds/fund_accounts/account_detail.html", _account_context(request, account))


def _money_cell(sheet, value: Decimal | None) -> WriteOnlyCell:
    cell = WriteOnlyCell(sheet, value=value)
    cell.number_format = "#,##0.00"
    return cell


@scope_model(FundAccount)
@login_required
@require_GET
def fund_movements_xlsx(request: HttpRequest, pk: int) -> FileResponse:
    """The account's movements as filtered on the page, every one of them, as .xlsx."""
    user = request.user
    account = reconciliation.fund_account_get(user=user, pk=pk)
    _require(may_read_funds(user))
    chosen = MovementFilter.from_request(request)
    rows, opening = selectors_funds.account_movements(
        account, date_from=chosen.date_from, date_to=chosen.date_to, fund=chosen.fund, kind=chosen.kind
    )
    audit.info("fund movements exported: user=%s account=%s %s", user.pk, account.pk, chosen.query() or "all")
    book = Workbook(write_only=True)
    sheet = book.create_sheet(_("账户流水"))
    for column, width in zip("ABCDEFGHI", (12, 16, 14, 14, 26, 26, 14, 12, 18), strict=True):
        sheet.column_dimensions[column].width = width
    period = _("%(start)s至%(end)s") % {
        "start": f"{chosen.date_from:%Y-%m-%d}" if chosen.date_from else _("开户"),
        "end": f"{chosen.date_to:%Y-%m-%d}" if chosen.date_to else _("今"),
    }
    title = _("%(account)s（%(number)s）流水 %(period)s") % {
        "account": account,
        "number": account.account_number or _("账号未登记"),
        "period": period,
    }
    if chosen.fund:
        title += f" · {Fund(chosen.fund).label}"
    if chosen.kind:
        title += f" · {MovementKind(chosen.kind).label}"
    sheet.append([title])
    xlsx_header(
        sheet,
        [
            _("记账日期"),
            _("类型"),
            _("基金"),
            _("金额（元）"),
            _("业务编号"),
            _("对方"),
            _("余额（元）") if chosen.running else _("（筛选类型时不计余额）"),
            _("经办人"),
            _("记账时间"),
        ],
    )
    if chosen.running:
        sheet.append([_("期初余额"), "", "", "", "", "", _money_cell(sheet, opening)])
    running = opening
    for movement in rows.iterator(chunk_size=2000):
        running += movement.amount
        sheet.append(
            [
                movement.booked_on,
                movement.get_kind_display(),
                movement.get_fund_display(),
                _money_cell(sheet, movement.amount),
                movement.reference,
                movement.counterpart,
                _money_cell(sheet, running) if chosen.running else "",
                movement.created_by.display_name if movement.created_by else _("系统"),
                timezone.localtime(movement.created_at).strftime("%Y-%m-%d %H:%M"),
            ]
        )
    handle = tempfile.TemporaryFile()  # noqa: SIM115 - the response closes it once sent, and so deletes it
    book.save(handle)
    handle.seek(0)
    filename = f"{account.pooling_region.name}{account.get_kind_display()}流水.xlsx"
    response = FileResponse(handle, as_attachment=True, filename=filename, content_type=XLSX)
    response["Cache-Control"] = "private, no-store"
    return response


# --- bank statements ------------------------------------------------------------------------------------------


@scope_model(FundAccount)
@login_required
@require_GET
def fund_statements(request: HttpRequest, pk: int) -> HttpResponse:
    """银行对账单 received for an account, latest first: date, lines, opening and closing balance, received time."""
    user = request.user
    account = reconciliation.fund_account_get(user=user, pk=pk)
    _require(may_read_funds(user))
    date_from, date_to = _date(request.GET.get("date_from")), _date(request.GET.get("date_to"))
    statements = reconciliation.statement_list(user=user, account=account, date_from=date_from, date_to=date_to)
    context = {
        "account": account,
        "page": Paginator(statements, PER_PAGE).get_page(request.GET.get("page")),
        "date_from": date_from,
        "date_to": date_to,
    }
    return render(request, "funds/fund_accounts/statement_list.html", context)


@scope_model(BankStatement)
@login_required
@require_GET
def fund_statement_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One statement: its lines as the bank sent them, and the books' balance at the end of that day beside the
    bank's closing balance."""
    user = request.user
    statement = selectors_funds.statement_get(user=user, pk=pk)
    _require(may_read_funds(user))
    account = statement.account
    books = selectors_funds.books_balance(account, on=statement.statement_date)
    lines = statement.lines.order_by("line_no")
    context = {
        "statement": statement,
        "account": account,
        "books": books,
        "books_difference": statement.closing_balance - books,
        "page": Paginator(lines, PER_PAGE).get_page(request.GET.get("page")),
    }
    return render(request, "funds/fund_accounts/statement_detail.html", context)


# --- the three-way reconciliation -----------------------------------------------------------------------------


def _default_period(today: dt.date) -> tuple[dt.date, dt.date]:
    first = selectors_funds.previous_month(today)
    return first, fund_accounts.month_end(first)


def _period(request: HttpRequest) -> tuple[dt.date, dt.date]:
    """The summary's period from the query, last month when missing, wrong or longer than a reconciliation."""
    default = _default_period(timezone.localdate())
    form = PeriodForm(request.GET)
    if not form.is_valid():
        return default
    date_from, date_to = form.cleaned_data["date_from"], form.cleaned_data["date_to"]
    if date_from is None or date_to is None or date_from > date_to:
        return default
    if (date_to - date_from).days >= reconciliation.MAX_DAYS:
        return default
    return date_from, date_to


def _differences_by_kind(differences: list[ReconciliationDifference]) -> list[dict]:
    groups = []
    for kind, label in DifferenceKind.choices:
        rows = [d for d in differences if d.kind == kind]
        if rows:
            groups.append(
                {"kind": kind, "label": label, "rows": rows, "total": sum((d.difference for d in rows), ZERO)}
            )
    return groups


def _render_reconciliation(
    request: HttpRequest,
    *,
    form: ReconcileForm | None = None,
    result: reconciliation.Reconciliation | None = None,
    period: tuple[dt.date, dt.date] | None = None,
    status: int = 200,
) -> HttpResponse:
    user = request.user
    regions = _regions(user)
    chosen = _chosen_region(request, regions)
    date_from, date_to = period or _period(request)
    accounts = selectors_funds.accounts_of(regions)
    if form is None:
        initial = {"date_from": date_from, "date_to": date_to}
        account_id = request.GET.get("account", "")
        if account_id.isdigit():
            initial["account"] = int(account_id)
        form = ReconcileForm(accounts=accounts, initial=initial)
    summaries = [
        {
            "region": region,
            "rows": reconciliation.reconciliation_summary(
                user=user, pooling_region=region, date_from=date_from, date_to=date_to
            ),
        }
        for region in ([chosen] if chosen is not None else regions)
    ]
    open_rows = reconciliation.open_differences(user=user, pooling_region=chosen)
    context = {
        "regions": regions,
        "chosen": chosen,
        "date_from": date_from,
        "date_to": date_to,
        "form": form,
        "result": result,
        "groups": _differences_by_kind(result.differences) if result is not None else [],
        "summaries": summaries,
        "page": Paginator(open_rows, PER_PAGE).get_page(request.GET.get("page")),
        "may_reconcile": may_reconcile(user),
        "may_manage": may_manage_funds(user),
    }
    return render(request, "funds/fund_accounts/reconciliation.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def fund_reconciliation(request: HttpRequest) -> HttpResponse:
    """三方对账: each covered region's accounts over a period (books, bank, open differences), the open differences
    across the regions; on POST (the fund officer) one account's reconciliation run and shown: what matched,
    the differences by kind with both sides' amounts, and each statement day's balance against the books."""
    user = request.user
    _require(may_read_funds(user))
    if request.method == "GET":
        return _render_reconciliation(request)
    _require(may_reconcile(user))
    form = ReconcileForm(request.POST, accounts=selectors_funds.accounts_of(_regions(user)))
    if form.is_valid():
        data = form.cleaned_data
        try:
            result = reconciliation.reconcile(
                actor=user, account=data["account"], date_from=data["date_from"], date_to=data["date_to"]
            )
        except DomainError as error:
            form.add_domain_error(error)
        else:
            audit.info(
                "reconciliation run: user=%s account=%s %s..%s differences=%s",
                user.pk,
                result.account.pk,
                result.date_from,
                result.date_to,
                len(result.differences),
            )
            return _render_reconciliation(request, form=form, result=result, period=(result.date_from, result.date_to))
    return _render_reconciliation(request, form=form, status=400)


@login_required
@require_GET
def fund_differences(request: HttpRequest) -> HttpResponse:
    """对账差异: the differences of the covered regions, open ones by default, or cleared (who, when, why),
    resolved by a later run, or all; by region and kind."""
    user = request.user
    _require(may_read_funds(user))
    regions = _regions(user)
    chosen = _chosen_region(request, regions)
    status = request.GET.get("status", "open")
    status = status if status in DIFFERENCE_STATUSES else "open"
    kind = request.GET.get("kind", "")
    kind = kind if kind in DifferenceKind.values else ""
    rows = reconciliation.differences_queryset(user=user)
    if chosen is not None:
        rows = rows.filter(account__pooling_region=chosen)
    if status != "all":
        rows = rows.filter(status=status)
    if kind:
        rows = rows.filter(kind=kind)
    rows = rows.order_by("on_date", "id") if status == "open" else rows.order_by("-on_date", "-id")
    context = {
        "regions": regions,
        "chosen": chosen,
        "status": status,
        "kind": kind,
        "kinds": DifferenceKind.choices,
        "statuses": [
            ("open", _("待处理")),
            ("cleared", _("已处理")),
            ("resolved", _("已自动消除")),
            ("all", _("全部")),
        ],
        "page": Paginator(rows, PER_PAGE).get_page(request.GET.get("page")),
    }
    return render(request, "funds/fund_accounts/differences.html", context)


def _render_difference(
    request: HttpRequest, difference: ReconciliationDifference, *, form=None, status: int = 200
) -> HttpResponse:
    confirm_url = None
    if difference.kind in (DifferenceKind.NOT_CONFIRMED, DifferenceKind.FINANCE_DIFFERS) and difference.reference:
        query = {"region": difference.account.pooling_region_id, "reference": difference.reference}
        if difference.books_amount is not None:
            query["amount"] = abs(difference.books_amount)
        confirm_url = f"{reverse('funds:fund_confirmations')}?{urlencode(query)}"
    context = {
        "difference": difference,
        "account": difference.account,
        "form": form or DifferenceClearForm(),
        "may_clear": may_reconcile(request.user) and difference.status == DifferenceStatus.OPEN,
        "confirm_url": confirm_url if may_manage_funds(request.user) else None,
    }
    return render(request, "funds/fund_accounts/difference_detail.html", context, status=status)


@scope_model(ReconciliationDifference)
@login_required
@require_GET
def fund_difference_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One difference: both sides' amounts and the difference, and once cleared who cleared it, when and why."""
    difference = reconciliation.difference_get(user=request.user, pk=pk)
    _require(may_read_funds(request.user))
    return _render_difference(request, difference)


@scope_model(ReconciliationDifference)
@login_required
@require_POST
def fund_difference_clear(request: HttpRequest, pk: int) -> HttpResponse:
    """处理: the fund officer clears an open difference with its reason (required)."""
    user = request.user
    difference = reconciliation.difference_get(user=user, pk=pk)
    _require(may_reconcile(user))
    form = DifferenceClearForm(request.POST)
    if form.is_valid():
        try:
            cleared = reconciliation.difference_clear(
                actor=user, difference=difference, reason=form.cleaned_data["reason"]
            )
        except DomainError as error:
            form.add_domain_error(error)
        else:
            messages.success(
                request,
                _("已处理对账差异（%(kind)s，%(day)s）：%(reason)s")
                % {"kind": cleared.get_kind_display(), "day": f"{cleared.on_date:%Y-%m-%d}", "reason": cleared.reason},
            )
            return redirect("funds:fund_difference_detail", pk=cleared.pk)
    difference.refresh_from_db()
    return _render_difference(request, difference, form=form, status=400)


@login_required
@require_http_methods(["GET", "POST"])
def fund_confirmations(request: HttpRequest) -> HttpResponse:
    """财政确认: finance's confirmations of the sweeps and funding transfers recorded so far, and the form to record
    one (the fund officer)."""
    user = request.user
    _require(may_read_funds(user))
    regions = _regions(user)
    region_qs = _region_queryset(regions)
    may_manage = may_manage_funds(user)
    form = None
    if request.method == "POST":
        _require(may_manage)
        form = FinanceConfirmationForm(request.POST, pooling_regions=region_qs)
        if form.is_valid():
            data = form.cleaned_data
            try:
                confirmation = reconciliation.finance_confirmation_record(
                    actor=user,
                    pooling_region=data["pooling_region"],
                    reference=data["reference"],
                    amount=data["amount"],
                    confirmed_on=data["confirmed_on"],
                    document_number=data["document_number"],
                )
            except DomainError as error:
                form.add_domain_error(error)
            else:
                messages.success(
                    request,
                    _("已录入财政确认：%(region)s，业务编号%(ref)s，%(amount)s元，%(day)s。")
                    % {
                        "region": confirmation.pooling_region.name,
                        "ref": confirmation.reference,
                        "amount": confirmation.amount,
                        "day": f"{confirmation.confirmed_on:%Y-%m-%d}",
                    },
                )
                return redirect("funds:fund_confirmations")
    elif may_manage:
        initial = {
            "reference": request.GET.get("reference", "")[:64],
            "amount": request.GET.get("amount", "")[:30],
            "confirmed_on": timezone.localdate(),
        }
        form = FinanceConfirmationForm(
            pooling_regions=region_qs, region=_chosen_region(request, regions), initial=initial
        )
    confirmations = selectors_funds.finance_confirmations(regions)
    context = {
        "form": form,
        "page": Paginator(confirmations, PER_PAGE).get_page(request.GET.get("page")),
        "may_manage": may_manage,
    }
    return render(
        request, "funds/fund_accounts/confirmations.html", context, status=400 if form and form.errors else 200
    )
