"""The browser side of the partner banks: the registry of banks and their API keys (the administrator), and
the batches with the banks' result files (the fund officer; the city supervisor reads them).

Thin views, as elsewhere: the record is fetched through ``funds.selectors_bank`` first (outside the user's
jurisdiction → 404, whatever the role), then the role is checked (403), then one service is called and its
refusal shown next to the field it names. A new API key is shown once, in the answer to the request that made
it, and never stored: only its hash is kept. Downloading an issued file (full identity numbers and accounts) is
logged to "portal.audit".
"""

import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from agencies.errors import DomainError
from agencies.models import PoolingRegion, Role
from agencies.permissions import Action, can
from enrollment.views import scope_model
from funds import bank_partners, selectors_bank
from funds.batches import batch_file
from funds.forms_bank import CredentialForm, PartnerForm
from funds.models import BankBatch, BankCredential, BankPartner, BatchKind, BatchStatus, ReceiptStatus, ResultCode

audit = logging.getLogger("portal.audit")

PER_PAGE = 50
RESULT_LABELS = dict(ResultCode.choices)


def _require(user, action: Action) -> None:
    if not can(user, action):
        raise PermissionDenied


def may_read_batches(user) -> bool:
    """The fund officer issues and follows batches; the city supervisor reads those of the regions they cover."""
    return can(user, Action.ISSUE_BANK_BATCH) or getattr(user, "role", None) == Role.CITY_SUPERVISOR


def _require_batch_reader(user) -> None:
    if not may_read_batches(user):
        raise PermissionDenied


def _bound(request: HttpRequest) -> tuple:
    return (request.POST,) if request.method == "POST" else (None,)


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "private, no-store"
    return response


# --- partner banks --------------------------------------------------------------------------------------


@login_required
@require_GET
def partner_list(request: HttpRequest) -> HttpResponse:
    """合作银行: each bank, the pooling regions it serves, its file encoding, its live keys and their last use."""
    _require(request.user, Action.MANAGE_BANK_PARTNERS)
    partners = selectors_bank.partner_list(user=request.user)
    return render(request, "funds/bank/partner_list.html", {"partners": partners})


@login_required
@require_http_methods(["GET", "POST"])
def partner_add(request: HttpRequest) -> HttpResponse:
    """登记合作银行."""
    user = request.user
    _require(user, Action.MANAGE_BANK_PARTNERS)
    form = PartnerForm(*_bound(request), pooling_regions=selectors_bank.assignable_pooling_regions(user=user))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            partner = bank_partners.partner_register(
                actor=user,
                code=data["code"],
                name=data["name"],
                pooling_regions=form.pooling_regions_for(None),
                encoding=data["encoding"],
            )
        except DomainError as error:
            form.add_domain_error(error)
        else:
            messages.success(
                request,
                _("已登记合作银行：%(name)s（%(code)s）。请为其签发接口密钥。")
                % {"name": partner.name, "code": partner.code},
            )
            return redirect("funds:partner_detail", pk=partner.pk)
    context = {"form": form, "partner": None}
    return render(request, "funds/bank/partner_form.html", context, status=400 if form.errors else 200)


def _render_partner(
    request: HttpRequest, partner: BankPartner, *, credential_form=None, status: int = 200
) -> HttpResponse:
    credentials = list(selectors_bank.partner_credentials(partner=partner))
    for credential in credentials:
        credential.state = selectors_bank.credential_state(credential)
    context = {
        "partner": partner,
        "pooling_regions": partner.pooling_regions.order_by("code"),
        "credentials": credentials,
        "uses": selectors_bank.recent_uses(partner=partner),
        "recent_uses": selectors_bank.RECENT_USES,
        "credential_form": credential_form or CredentialForm(),
    }
    return _no_store(render(request, "funds/bank/partner_detail.html", context, status=status))


@scope_model(BankPartner)
@login_required
@require_GET
def partner_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One bank: its details, its keys (issued, last used, expiry, revoked) and the latest calls made with them."""
    partner = selectors_bank.partner_get(user=request.user, pk=pk)
    _require(request.user, Action.MANAGE_BANK_PARTNERS)
    return _render_partner(request, partner)


@scope_model(BankPartner)
@login_required
@require_http_methods(["GET", "POST"])
def partner_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """修改合作银行: name, pooling regions served, file encoding, whether the bank still works with us."""
    user = request.user
    partner = selectors_bank.partner_get(user=user, pk=pk)
    _require(user, Action.MANAGE_BANK_PARTNERS)
    regions = selectors_bank.assignable_pooling_regions(user=user)
    initial = {
        "name": partner.name,
        "pooling_regions": list(partner.pooling_regions.values_list("pk", flat=True)),
        "encoding": partner.encoding,
        "active": partner.active,
    }
    form = PartnerForm(*_bound(request), pooling_regions=regions, editing=True, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            bank_partners.partner_update(
                actor=user,
                partner=partner,
                name=data["name"],
                pooling_regions=form.pooling_regions_for(partner),
                encoding=data["encoding"],
                active=data["active"],
            )
        except DomainError as error:
            form.add_domain_error(error)
        else:
            messages.success(request, _("已保存%(name)s的信息。") % {"name": partner.name})
            return redirect("funds:partner_detail", pk=partner.pk)
    context = {"form": form, "partner": partner}
    return render(request, "funds/bank/partner_form.html", context, status=400 if form.errors else 200)


@scope_model(BankPartner)
@login_required
@require_POST
def partner_deactivate(request: HttpRequest, pk: int) -> HttpResponse:
    """停止合作: its keys stop working at once (the API refuses an inactive bank's keys); nothing else changes."""
    user = request.user
    partner = selectors_bank.partner_get(user=user, pk=pk)
    _require(user, Action.MANAGE_BANK_PARTNERS)
    try:
        bank_partners.partner_update(
            actor=user,
            partner=partner,
            name=partner.name,
            pooling_regions=list(partner.pooling_regions.all()),
            encoding=partner.encoding,
            active=False,
        )
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request, _("已停止与%(name)s的合作，其接口密钥即刻失效，也不能再向其下发批次。") % {"name": partner.name}
        )
    return redirect("funds:partner_detail", pk=partner.pk)


def _show_key(request: HttpRequest, issued: bank_partners.IssuedKey, *, rotated: BankCredential | None = None):
    """The one page that ever shows the key: never cached, never stored."""
    context = {"issued": issued, "credential": issued.credential, "partner": issued.credential.partner}
    context["rotated"] = rotated
    return _no_store(render(request, "funds/bank/credential_key.html", context))


@scope_model(BankPartner)
@login_required
@require_POST
def credential_issue(request: HttpRequest, pk: int) -> HttpResponse:
    """签发接口密钥: the answer shows the key, once."""
    user = request.user
    partner = selectors_bank.partner_get(user=user, pk=pk)
    _require(user, Action.MANAGE_BANK_PARTNERS)
    form = CredentialForm(request.POST)
    if form.is_valid():
        try:
            issued = bank_partners.credential_issue(actor=user, partner=partner, label=form.cleaned_data["label"])
        except DomainError as error:
            form.add_domain_error(error)
        else:
            audit.info("bank key issued: user=%s partner=%s prefix=%s", user.pk, partner.code, issued.credential.prefix)
            return _show_key(request, issued)
    return _render_partner(request, partner, credential_form=form, status=400)


@scope_model(BankCredential)
@login_required
@require_POST
def credential_rotate(request: HttpRequest, pk: int) -> HttpResponse:
    """轮换: a new key, shown once; the old one keeps working for 24 hours so the bank can switch without a gap."""
    user = request.user
    credential = selectors_bank.credential_get(user=user, pk=pk)
    _require(user, Action.MANAGE_BANK_PARTNERS)
    try:
        issued = bank_partners.credential_rotate(actor=user, credential=credential)
    except DomainError as error:
        messages.error(request, error.message)
        return redirect("funds:partner_detail", pk=credential.partner_id)
    credential.refresh_from_db()
    audit.info(
        "bank key rotated: user=%s partner=%s old=%s new=%s",
        user.pk,
        credential.partner.code,
        credential.prefix,
        issued.credential.prefix,
    )
    return _show_key(request, issued, rotated=credential)


@scope_model(BankCredential)
@login_required
@require_POST
def credential_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    """吊销: the key stops working at once."""
    user = request.user
    credential = selectors_bank.credential_get(user=user, pk=pk)
    _require(user, Action.MANAGE_BANK_PARTNERS)
    already = credential.revoked_at is not None
    bank_partners.credential_revoke(actor=user, credential=credential)
    if already:
        messages.info(request, _("密钥 %(prefix)s 此前已吊销。") % {"prefix": credential.prefix})
    else:
        audit.info(
            "bank key revoked: user=%s partner=%s prefix=%s", user.pk, credential.partner.code, credential.prefix
        )
        messages.success(request, _("已吊销密钥 %(prefix)s，即刻失效。") % {"prefix": credential.prefix})
    return redirect("funds:partner_detail", pk=credential.partner_id)


# --- batches ------------------------------------------------------------------------------------------------


def _choice(raw: str, values: list[str]) -> str:
    return raw if raw in values else ""


@login_required
@require_GET
def batch_list(request: HttpRequest) -> HttpResponse:
    """银行批次: the covered pooling regions' batches with their counts, totals, status and the banks' result files;
    filtered by pooling region, kind, status, or one of the worklist's shortcuts."""
    user = request.user
    _require_batch_reader(user)
    region_ids = selectors_bank.covered_region_ids(user=user)
    regions = list(PoolingRegion.objects.filter(pk__in=region_ids).order_by("code"))
    raw_region = request.GET.get("region", "").strip()
    chosen = next((region for region in regions if str(region.pk) == raw_region), None)
    kind = _choice(request.GET.get("kind", ""), BatchKind.values)
    status = _choice(request.GET.get("status", ""), BatchStatus.values)
    todo = _choice(
        request.GET.get("todo", ""),
        [selectors_bank.TODO_OPEN, selectors_bank.TODO_REJECTED, selectors_bank.TODO_FAILURES],
    )
    batches = selectors_bank.batch_list(
        user=user, region_ids=region_ids, pooling_region=chosen, kind=kind, status=status, todo=todo
    )
    context = {
        "page": Paginator(batches, PER_PAGE).get_page(request.GET.get("page")),
        "regions": regions,
        "chosen": chosen,
        "kind": kind,
        "status": status,
        "todo": todo,
        "kinds": BatchKind.choices,
        "statuses": BatchStatus.choices,
        "may_issue": can(user, Action.ISSUE_BANK_BATCH),
    }
    return render(request, "funds/bank/batch_list.html", context)


@scope_model(BankBatch)
@login_required
@require_GET
def batch_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One batch: its figures, every result file the bank sent (a rejected one with its errors: line, field,
    message), and once settled the failures and refunds to follow up, identity numbers and accounts masked."""
    user = request.user
    batch = selectors_bank.batch_get(user=user, pk=pk)
    _require_batch_reader(user)
    receipts = selectors_bank.batch_receipts(batch=batch)
    follow_ups = Paginator(selectors_bank.batch_follow_ups(user=user, batch=batch), PER_PAGE).get_page(
        request.GET.get("page")
    )
    context = {
        "batch": batch,
        "receipts": receipts,
        "rejected": [r for r in receipts if r.status == ReceiptStatus.REJECTED],
        "accepted": next((r for r in receipts if r.status != ReceiptStatus.REJECTED), None),
        "page": follow_ups,
        "may_download": can(user, Action.ISSUE_BANK_BATCH),
        "result_labels": RESULT_LABELS,
    }
    return render(request, "funds/bank/batch_detail.html", context)


@scope_model(BankBatch)
@login_required
@require_GET
def batch_download(request: HttpRequest, pk: int) -> HttpResponse:
    """The issued file, byte for byte what the bank downloads (its encoding, its SHA-256), for the fund officer."""
    user = request.user
    batch = selectors_bank.batch_get(user=user, pk=pk)
    _require(user, Action.ISSUE_BANK_BATCH)
    try:
        content = batch_file(batch)
    except DomainError as error:
        messages.error(request, error.message)
        return redirect("funds:batch_detail", pk=batch.pk)
    audit.info("bank batch file downloaded: user=%s batch=%s", user.pk, batch.batch_no)
    response = HttpResponse(content, content_type=f"text/plain; charset={batch.partner.encoding}")
    response["Content-Disposition"] = f'attachment; filename="{batch.batch_no}.txt"'
    response["X-Content-SHA256"] = batch.file_sha256
    return _no_store(response)
