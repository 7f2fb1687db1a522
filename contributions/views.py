"""The browser side of contributions: thin views that fetch through the selectors (out of scope → 404), call
one service, and show its refusal next to the field it names.

One person: their contribution record, the tier for a year, a payment recorded at the bank counter, a donation.
A village: the tier template and the batch import (all or nothing, row errors as a table), the collective
subsidy. The renewal list with its rates against the targets, and its .xlsx. For city supervisors: the
pooling regions' policy periods and interest rates, with forms for a new period and a year's rate.
Through the partner banks: the fund officer's DEDUCT issue form (代扣), and the year's failed deductions and
refunds for the village agent to follow up, with its .xlsx.
"""

import io
import logging
import tempfile
from decimal import ROUND_DOWN, Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Exists, OuterRef, Prefetch
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

from agencies.errors import DomainError
from agencies.exports import xlsx_header
from agencies.models import PoolingRegion, Region, RegionLevel
from agencies.permissions import Action, can
from agencies.scope import get_scoped_or_404, scope_prefix, scoped, visible_pooling_region_ids
from contributions import policy as rules
from contributions import selectors, services
from contributions.bank import deduct_batch_issue
from contributions.forms import (
    CollectiveSubsidyForm,
    CounterPaymentForm,
    DonationForm,
    InterestRateForm,
    PolicyForm,
    TierChoiceForm,
    TierImportForm,
    TierTemplateForm,
)
from contributions.models import Channel, Contribution, TierChoiceBatch
from enrollment import idnumber
from enrollment.api.serializers import mask_bank_account
from enrollment.forms import villages_in_scope
from enrollment.models import InsuredPerson, SpecialGroup
from enrollment.selectors import person_get
from enrollment.views import scope_model
from funds import selectors_bank
from funds.forms_bank import DeductIssueForm
from funds.models import BatchKind, ResultCode

audit = logging.getLogger("portal.audit")

RENEWALS_PER_PAGE = 50
SUBSIDIES_PER_PAGE = 50
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
AGE_BAND_LABELS = {"16-44": "16–44周岁", "45-59": "45–59周岁"}


def _require(user, action: Action) -> None:
    if not can(user, action):
        raise PermissionDenied


def _require_jurisdiction(user) -> None:
    if scope_prefix(user) is None:
        raise PermissionDenied  # no jurisdiction: nothing to see or record


def _this_year() -> int:
    return timezone.localdate().year


def _year_param(raw: str | None, default: int | None = None) -> int | None:
    raw = (raw or "").strip()
    if raw.isdigit() and services.FIRST_YEAR <= int(raw) <= _this_year() + 1:
        return int(raw)
    return default


def _is_partial(request: HttpRequest) -> bool:
    return bool(request.htmx) and not request.htmx.history_restore_request


def _xlsx(content: bytes, filename: str) -> FileResponse:
    response = FileResponse(io.BytesIO(content), as_attachment=True, filename=filename, content_type=XLSX)
    response["Cache-Control"] = "private, no-store"
    return response


# --- one person --------------------------------------------------------------------------------------------


def _person_actions(user, person: InsuredPerson) -> dict[str, bool]:
    return {
        "tier": can(user, Action.RECORD_TIER_CHOICE),
        "payment": can(user, Action.RECORD_COUNTER_PAYMENT),
        "donation": can(user, Action.RECORD_SUBSIDY),
    }


@scope_model(InsuredPerson)
@login_required
@require_GET
def person_contributions(request: HttpRequest, pk: int) -> HttpResponse:
    """缴费记录: the tier of each year, each contribution with the government money it brought, donations."""
    user = request.user
    person = person_get(user=user, pk=pk)
    context = {
        "person": person,
        "tier_choices": selectors.tier_choice_queryset(user=user).filter(person=person).order_by("-year"),
        "contributions": selectors.contribution_queryset(user=user).filter(person=person).order_by("-year"),
        "donations": selectors.donation_queryset(user=user).filter(person=person).order_by("-year", "-id"),
        "actions": _person_actions(user, person),
    }
    return render(request, "contributions/person.html", context)


def _tier_options(person: InsuredPerson, year: int | None) -> tuple[list[tuple[str, str]], str]:
    """The year's tiers as (value, label) for the select, or the reason there are none."""
    if year is None:
        return [], _("请先填写缴费年度。")
    pooling_region = person.village.effective_pooling_region()
    if pooling_region is None:
        return [], _("该参保人所在村（社区）未归属任何统筹区。")
    try:
        tiers = selectors.tiers_for(pooling_region=pooling_region, year=year)
    except DomainError as error:
        return [], error.message
    return [
        (
            f"{tier.amount}",
            _("%(amount)s元（政府补贴%(subsidy)s元）")
            % {"amount": services.yuan(tier.amount), "subsidy": services.yuan(tier.government_subsidy)},
        )
        for tier in tiers
    ], ""


@scope_model(InsuredPerson)
@login_required
@require_http_methods(["GET", "POST"])
def tier_choice(request: HttpRequest, pk: int) -> HttpResponse:
    """选择缴费档次 for a year; changing the year reloads the year's tiers (htmx)."""
    person = person_get(user=request.user, pk=pk)
    _require(request.user, Action.RECORD_TIER_CHOICE)
    source = request.POST if request.method == "POST" else request.GET
    year = _year_param(source.get("year"), default=None if request.method == "POST" else _this_year())
    tiers, no_tiers = _tier_options(person, year)
    current = selectors.tier_choice_queryset(user=request.user).filter(person=person, year=year).first()
    initial = {"year": year or "", "amount": f"{current.amount}" if current else ""}
    form = TierChoiceForm(request.POST if request.method == "POST" else None, initial=initial, tiers=tiers)
    if request.method == "POST" and form.is_valid():
        try:
            choice = services.tier_choice_record(
                actor=request.user, person=person, year=form.cleaned_data["year"], amount=form.cleaned_data["amount"]
            )
        except DomainError as error:
            form.add_domain_error(error)
        else:
            messages.success(
                request,
                _("已记录%(name)s%(year)s年度缴费档次：%(amount)s元。")
                % {"name": person.name, "year": choice.year, "amount": services.yuan(choice.amount)},
            )
            return redirect("contributions:person", pk=person.pk)
    context = {"person": person, "form": form, "no_tiers": no_tiers, "current": current, "year": year}
    if _is_partial(request):
        response = render(request, "contributions/partials/tier_field.html", context)
    else:
        response = render(request, "contributions/tier_choice.html", context, status=400 if form.errors else 200)
    patch_vary_headers(response, ["HX-Request"])
    return response


@scope_model(InsuredPerson)
@login_required
@require_http_methods(["GET", "POST"])
def counter_payment(request: HttpRequest, pk: int) -> HttpResponse:
    """登记柜面缴费 from the bank's receipt, with its transaction number (流水号)."""
    person = person_get(user=request.user, pk=pk)
    _require(request.user, Action.RECORD_COUNTER_PAYMENT)
    form = CounterPaymentForm(
        request.POST if request.method == "POST" else None,
        initial={"year": _this_year(), "paid_on": timezone.localdate()},
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            contribution = services.contribution_post(
                actor=request.user,
                person=person,
                year=data["year"],
                amount=data["amount"],
                paid_on=data["paid_on"],
                channel=Channel.COUNTER,
                bank_code=data["bank_code"],
                bank_reference=data["bank_reference"],
                kind=data["kind"],
            )
        except DomainError as error:
            form.add_domain_error(error)
        else:
            messages.success(
                request,
                _(
                    "已登记%(name)s%(year)s年度缴费：个人缴费%(personal)s元，政府缴费补贴%(subsidy)s元，"
                    "政府代缴%(paid)s元，已记入个人账户。"
                )
                % {
                    "name": person.name,
                    "year": contribution.year,
                    "personal": services.yuan(contribution.personal_amount),
                    "subsidy": services.yuan(contribution.government_subsidy),
                    "paid": services.yuan(contribution.government_paid),
                },
            )
            return redirect("contributions:person", pk=person.pk)
    context = {
        "person": person,
        "form": form,
        "tier_choices": selectors.tier_choice_queryset(user=request.user).filter(person=person).order_by("-year")[:5],
    }
    return render(request, "contributions/payment.html", context, status=400 if form.errors else 200)


@scope_model(InsuredPerson)
@login_required
@require_http_methods(["GET", "POST"])
def donation(request: HttpRequest, pk: int) -> HttpResponse:
    """登记社会资助 to one person."""
    person = person_get(user=request.user, pk=pk)
    _require(request.user, Action.RECORD_SUBSIDY)
    form = DonationForm(
        request.POST if request.method == "POST" else None,
        initial={"year": _this_year(), "received_on": timezone.localdate()},
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.donation_record(
                actor=request.user,
                person=person,
                year=data["year"],
                donor=data["donor"],
                amount=data["amount"],
                received_on=data["received_on"],
            )
        except DomainError as error:
            form.add_domain_error(error)
        else:
            messages.success(request, _("已登记%(name)s的社会资助，已记入个人账户。") % {"name": person.name})
            return redirect("contributions:person", pk=person.pk)
    return render(
        request, "contributions/donation.html", {"person": person, "form": form}, status=400 if form.errors else 200
    )


# --- a village: tier template and batch import, collective subsidy ------------------------------------------


def _render_batch(request: HttpRequest, *, import_form=None, result=None, status: int = 200) -> HttpResponse:
    villages = villages_in_scope(request.user)
    context = {
        "template_form": TierTemplateForm(villages=villages, initial={"year": _this_year()}),
        "import_form": import_form or TierImportForm(initial={"year": _this_year()}),
        "result": result,
        # The audit rows of bulk imports in the caller's scope: who, when, which file, how many.
        "batches": scoped(TierChoiceBatch.objects.select_related("actor"), request.user)[:10],
    }
    return render(request, "contributions/tier_batch.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def tier_batch(request: HttpRequest) -> HttpResponse:
    """批量录入缴费档次: download a village's template, fill it in, upload it. Any row error: nothing is written."""
    _require(request.user, Action.RECORD_TIER_CHOICE)
    _require_jurisdiction(request.user)
    if request.method == "GET":
        return _render_batch(request)
    form = TierImportForm(request.POST, request.FILES)
    if not form.is_valid():
        return _render_batch(request, import_form=form, status=400)
    upload = form.cleaned_data["file"]
    try:
        result = services.tier_choices_import(
            actor=request.user, year=form.cleaned_data["year"], file_name=upload.name, content=upload.read()
        )
    except DomainError as error:
        form.add_domain_error(error)
        return _render_batch(request, import_form=form, status=400)
    if not result.ok:
        return _render_batch(request, import_form=form, result=result, status=400)
    messages.success(
        request,
        _("已导入%(rows)s行：新增%(created)s人，修改%(updated)s人，未变%(unchanged)s人，未填档次%(blank)s人。")
        % {
            "rows": result.rows,
            "created": result.created,
            "updated": result.updated,
            "unchanged": result.unchanged,
            "blank": result.blank,
        },
    )
    return redirect("contributions:tier_batch")


@scope_model(Region)
@login_required
@require_GET
def tier_template(request: HttpRequest, pk: int) -> HttpResponse:
    """The village's tier template for a year: its active persons, their current tier, a drop-down of the tiers."""
    village = get_scoped_or_404(Region.objects.filter(level=RegionLevel.VILLAGE), request.user, pk=pk)
    _require(request.user, Action.RECORD_TIER_CHOICE)
    year = _year_param(request.GET.get("year"), default=_this_year())
    try:
        content = services.tier_choices_template(actor=request.user, year=year, village=village)
    except DomainError as error:
        messages.error(request, error.message)
        return redirect("contributions:tier_batch")
    audit.info("tier template downloaded: user=%s village=%s year=%s", request.user.pk, village.code, year)
    return _xlsx(content, f"{year}年度缴费档次_{village.name}.xlsx")


@login_required
@require_GET
def tier_template_for(request: HttpRequest) -> HttpResponse:
    """The template form's target: resolves the chosen village through the scope, then the download."""
    _require(request.user, Action.RECORD_TIER_CHOICE)
    form = TierTemplateForm(request.GET, villages=villages_in_scope(request.user))
    if not form.is_valid():
        for errors in form.errors.values():
            for message in errors:
                messages.error(request, message)
        return redirect("contributions:tier_batch")
    year = _year_param(form.cleaned_data["year"], default=_this_year())
    return redirect(f"{reverse('contributions:tier_template', args=[form.cleaned_data['village'].pk])}?year={year}")


def _render_collective(request: HttpRequest, form: CollectiveSubsidyForm | None = None, status: int = 200):
    villages = villages_in_scope(request.user)
    subsidies = selectors.collective_subsidy_queryset(user=request.user).order_by("-year", "region_code", "id")
    context = {
        "form": form or CollectiveSubsidyForm(villages=villages, initial={"year": _this_year()}),
        "may_record": can(request.user, Action.RECORD_SUBSIDY),
        "subsidies": Paginator(subsidies, SUBSIDIES_PER_PAGE).get_page(request.GET.get("page")),
    }
    return render(request, "contributions/collective.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def collective_subsidies(request: HttpRequest) -> HttpResponse:
    """集体补助 per village and year: credited to everyone of the village who paid that year."""
    _require_jurisdiction(request.user)
    if request.method == "GET":
        return _render_collective(request)
    _require(request.user, Action.RECORD_SUBSIDY)
    form = CollectiveSubsidyForm(request.POST, villages=villages_in_scope(request.user))
    if form.is_valid():
        data = form.cleaned_data
        try:
            subsidy = services.collective_subsidy_record(
                actor=request.user,
                village=data["village"],
                year=data["year"],
                amount_per_person=data["amount_per_person"],
                decision=data["decision"],
            )
        except DomainError as error:
            form.add_domain_error(error)
        else:
            text = _("已登记%(village)s%(year)s年度集体补助，已为%(count)s人记入个人账户。") % {
                "village": subsidy.village.name,
                "year": subsidy.year,
                "count": subsidy.persons_credited,
            }
            if subsidy.persons_capped:
                text += _("其中%(capped)s人因集体补助与社会资助合计超过最高档次，只记入了允许的部分。") % {
                    "capped": subsidy.persons_capped
                }
            messages.success(request, text)
            return redirect("contributions:collective_subsidies")
    return _render_collective(request, form, status=400)


# --- renewal (续保) ------------------------------------------------------------------------------------------


def _renewal_params(request: HttpRequest) -> dict[str, Any]:
    villages = villages_in_scope(request.user)
    code = request.GET.get("village", "").strip()
    band = request.GET.get("age_band", "").strip()
    return {
        "year": _year_param(request.GET.get("year"), default=_this_year()),
        "villages": villages,
        "village": villages.filter(code=code).first() if code else None,
        "code": code,
        "age_band": band if band in rules.AGE_BANDS else "",
    }


def _band_totals(rates: list[selectors.RenewalRate]) -> list[dict[str, Any]]:
    """The whole jurisdiction's rate per age band, against the same targets."""
    totals = []
    for band, target in rules.RENEWAL_TARGETS.items():
        paid = sum(r.paid_last_year for r in rates if r.age_band == band)
        renewed = sum(r.renewed for r in rates if r.age_band == band)
        rate = (Decimal(renewed) / Decimal(paid)).quantize(Decimal("0.0001")) if paid else Decimal(0)
        totals.append(
            {
                "age_band": band,
                "paid_last_year": paid,
                "renewed": renewed,
                "rate": rate,
                "target": target,
                "met": rate >= target,
            }
        )
    return totals


def _percent_text(value: Decimal) -> str:
    # One decimal, rounded down: 69.96% must not read as a target of 70% met.
    return f"{(value * 100).quantize(Decimal('0.1'), rounding=ROUND_DOWN)}%"


def _rate_rows(rates: list[selectors.RenewalRate]) -> list[dict[str, Any]]:
    return [{"row": r, "rate": _percent_text(r.rate), "target": _percent_text(r.target)} for r in rates]


@login_required
@require_GET
def renewals(request: HttpRequest) -> HttpResponse:
    """续保: per village and age band, who paid last year and not yet this year, and the rate against the target."""
    _require_jurisdiction(request.user)
    params = _renewal_params(request)
    year = params["year"]
    rates = selectors.renewal_rates(user=request.user, year=year)
    if params["village"] is not None:
        rates = [r for r in rates if r.village_id == params["village"].pk]
    pending = selectors.renewal_list(
        user=request.user, year=year, village=params["village"], age_band=params["age_band"] or None
    )
    context = {
        **params,
        "rates": _rate_rows(rates),
        "totals": [
            {**total, "rate_text": _percent_text(total["rate"]), "target_text": _percent_text(total["target"])}
            for total in _band_totals(rates)
        ],
        "page": Paginator(pending, RENEWALS_PER_PAGE).get_page(request.GET.get("page")),
        "band_labels": AGE_BAND_LABELS,
        "query": request.GET.urlencode(),
    }
    return render(request, "contributions/renewals.html", context)


@login_required
@require_GET
def renewals_xlsx(request: HttpRequest) -> FileResponse:
    """The renewal table as .xlsx: the rates per village and band, and the names still to renew."""
    _require_jurisdiction(request.user)
    params = _renewal_params(request)
    year = params["year"]
    rates = selectors.renewal_rates(user=request.user, year=year)
    if params["village"] is not None:
        rates = [r for r in rates if r.village_id == params["village"].pk]
    pending = selectors.renewal_list(
        user=request.user, year=year, village=params["village"], age_band=params["age_band"] or None
    )
    audit.info("renewal list exported: user=%s year=%s village=%s", request.user.pk, year, params["code"] or "all")
    book = Workbook(write_only=True)
    sheet = book.create_sheet(_("续保率"))
    for column, width in zip("ABCDEFGH", (16, 18, 12, 14, 14, 10, 10, 10), strict=True):
        sheet.column_dimensions[column].width = width
    sheet.append([_("%(year)s年度续保率（上年已缴费人员中本年已缴费的比例）") % {"year": year}])
    xlsx_header(
        sheet,
        [
            _("区划代码"),
            _("村（社区）"),
            _("年龄段"),
            _("上年缴费人数"),
            _("本年已续缴"),
            _("续保率"),
            _("目标"),
            _("达标"),
        ],
    )
    for r in rates:
        sheet.append(
            [r.village_code, r.village_name, AGE_BAND_LABELS[r.age_band], r.paid_last_year, r.renewed]
            + [_percent_cell(sheet, r.rate), _percent_cell(sheet, r.target), _("是") if r.met else _("否")]
        )
    for total in _band_totals(rates):
        sheet.append(
            ["", _("合计"), AGE_BAND_LABELS[total["age_band"]], total["paid_last_year"], total["renewed"]]
            + [_percent_cell(sheet, total["rate"]), _percent_cell(sheet, total["target"])]
            + [_("是") if total["met"] else _("否")]
        )
    names = book.create_sheet(_("未续缴名单"))
    for column, width in zip("ABCDEFG", (12, 18, 22, 12, 16, 14, 24), strict=True):
        names.column_dimensions[column].width = width
    xlsx_header(
        names, [_("姓名"), _("保险编号"), _("身份证号"), _("年龄段"), _("村（社区）"), _("联系电话"), _("住址")]
    )
    for person in pending.iterator(chunk_size=2000):
        names.append(
            [
                person.name,
                person.insurance_number or "",
                idnumber.mask(person.id_number),
                AGE_BAND_LABELS.get(person.age_band, person.age_band),
                person.village.name,
                person.phone,
                person.address,
            ]
        )
    handle = tempfile.TemporaryFile()  # noqa: SIM115 - the response closes it once sent, and so deletes it
    book.save(handle)
    handle.seek(0)
    scope = params["village"].name if params["village"] is not None else _("全部")
    response = FileResponse(handle, as_attachment=True, filename=f"{year}年度续保名单_{scope}.xlsx", content_type=XLSX)
    response["Cache-Control"] = "private, no-store"
    return response


def _percent_cell(sheet, value: Decimal) -> WriteOnlyCell:
    cell = WriteOnlyCell(sheet, value=value)
    cell.number_format = "0.0%"
    return cell


# --- policy (city supervisors) --------------------------------------------------------------------------------


def _pooling_regions(user):
    ids = visible_pooling_region_ids(user=user)
    regions = PoolingRegion.objects.order_by("code")
    return regions if ids is None else regions.filter(pk__in=ids)


def _render_policies(request: HttpRequest, *, policy_form=None, rate_form=None, status: int = 200) -> HttpResponse:
    user = request.user
    regions = _pooling_regions(user)
    policies = selectors.policy_queryset(user=user).order_by("pooling_region__code", "-valid_from")
    rates = selectors.interest_rate_queryset(user=user).order_by("pooling_region__code", "year")
    listed = regions.prefetch_related(
        Prefetch("contribution_policies", queryset=policies, to_attr="periods"),
        Prefetch("interest_rates", queryset=rates, to_attr="rates"),
    )
    listed = list(listed)
    for region in listed:
        for rate in region.rates:
            # 0.01500 → "1.5%": the rate as the notice that sets it reads
            rate.percent = f"{rate.rate * 100:.3f}".rstrip("0").rstrip(".") + "%"
    may_set = can(user, Action.SET_CONTRIBUTION_POLICY)
    context = {
        "pooling_regions": listed,
        "may_set": may_set,
        "policy_form": policy_form or (PolicyForm(pooling_regions=regions) if may_set else None),
        "rate_form": rate_form
        or (InterestRateForm(pooling_regions=regions, initial={"year": _this_year()}) if may_set else None),
        "groups": dict(SpecialGroup.choices),
    }
    return render(request, "contributions/policies.html", context, status=status)


@login_required
@require_GET
def policies(request: HttpRequest) -> HttpResponse:
    """The pooling regions' policy periods (tiers, subsidy, window, 代缴 shares, level shares) and interest rates."""
    _require_jurisdiction(request.user)
    return _render_policies(request)


@login_required
@require_POST
def policy_add(request: HttpRequest) -> HttpResponse:
    _require(request.user, Action.SET_CONTRIBUTION_POLICY)
    form = PolicyForm(request.POST, pooling_regions=_pooling_regions(request.user))
    if form.is_valid():
        try:
            created = services.policy_create(actor=request.user, **form.service_arguments())
        except DomainError as error:
            form.add_domain_error(error)
        else:
            messages.success(
                request,
                _("已设置%(region)s自%(start)s起的缴费政策。")
                % {"region": created.pooling_region.name, "start": f"{created.valid_from:%Y-%m-%d}"},
            )
            return redirect("contributions:policies")
    return _render_policies(request, policy_form=form, status=400)


@login_required
@require_POST
def interest_rate_add(request: HttpRequest) -> HttpResponse:
    _require(request.user, Action.SET_CONTRIBUTION_POLICY)
    form = InterestRateForm(request.POST, pooling_regions=_pooling_regions(request.user))
    if form.is_valid():
        data = form.cleaned_data
        try:
            rate = services.interest_rate_set(
                actor=request.user,
                pooling_region=data["pooling_region"],
                year=data["year"],
                rate=data["rate"],
                rounding=data["rounding"],
            )
        except DomainError as error:
            form.add_domain_error(error)
        else:
            messages.success(
                request,
                _("已设置%(region)s%(year)s年度记账利率：%(rate)s。")
                % {"region": rate.pooling_region.name, "year": rate.year, "rate": f"{rate.rate * 100:.3f}%"},
            )
            return redirect("contributions:policies")
    return _render_policies(request, rate_form=form, status=400)


# --- through the partner banks: DEDUCT batches and their failures ---------------------------------------------

FOLLOW_UPS_PER_PAGE = 50
RESULT_LABELS = dict(ResultCode.choices)


def _deduct_form(user, data=None) -> DeductIssueForm:
    ids = selectors_bank.covered_region_ids(user=user)
    return DeductIssueForm(
        data,
        pooling_regions=PoolingRegion.objects.filter(pk__in=ids).order_by("code"),
        partners=selectors_bank.partners_serving(pooling_region_ids=ids),
        initial={"year": _this_year()},
    )


@login_required
@require_http_methods(["GET", "POST"])
def deduct_issue(request: HttpRequest) -> HttpResponse:
    """下发代扣批次: the year's tier choices of a pooling region's persons who bank with the chosen bank and have
    not paid, as one file for the bank; the recent DEDUCT batches below."""
    user = request.user
    _require(user, Action.ISSUE_BANK_BATCH)
    form = _deduct_form(user, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            batch = deduct_batch_issue(
                actor=user, partner=data["partner"], pooling_region=data["pooling_region"], year=data["year"]
            )
        except DomainError as error:
            form.add_domain_error(error)
        else:
            messages.success(
                request,
                _("已下发代扣批次 %(no)s：%(count)s笔，合计%(total)s元，等待%(bank)s回盘。")
                % {
                    "no": batch.batch_no,
                    "count": batch.record_count,
                    "total": batch.total_amount,
                    "bank": batch.partner.name,
                },
            )
            if getattr(batch, "frozen_notice", ""):  # some places were frozen for a merger and wait
                messages.warning(request, batch.frozen_notice)
            return redirect("funds:batch_detail", pk=batch.pk)
    recent = selectors_bank.batch_list(user=user, kind=BatchKind.DEDUCT)[:10]
    context = {"form": form, "batches": recent}
    return render(request, "contributions/deduct_issue.html", context, status=400 if form.errors else 200)


def _follow_up_params(request: HttpRequest) -> dict[str, Any]:
    villages = villages_in_scope(request.user)
    code = request.GET.get("village", "").strip()
    village = villages.filter(code=code).first() if code else None
    if village is None and not code:
        only = list(villages[:2])
        if len(only) == 1:  # a village agent has one village
            village = only[0]
    return {
        "year": _year_param(request.GET.get("year"), default=_this_year()),
        "villages": villages,
        "village": village,
        "code": code,
    }


def _follow_ups(user, *, year: int, village: Region | None):
    """The year's failed deductions and refunds in the user's scope, each marked ``paid`` once the person has
    a contribution for the year after all (at the counter, or in a later batch)."""
    rows = selectors_bank.deduct_follow_ups(user=user, year=year, region_prefix=village.code if village else "")
    return rows.annotate(paid=Exists(Contribution.objects.filter(person_id=OuterRef("person_id"), year=year)))


@login_required
@require_GET
def deduct_follow_ups(request: HttpRequest) -> HttpResponse:
    """代扣失败跟进: who the bank could not deduct from this year (insufficient funds, account closed, …) and whose
    deducted money must go back, village by village; identity numbers and accounts masked."""
    _require_jurisdiction(request.user)
    params = _follow_up_params(request)
    rows = _follow_ups(request.user, year=params["year"], village=params["village"])
    context = {
        **params,
        "page": Paginator(rows, FOLLOW_UPS_PER_PAGE).get_page(request.GET.get("page")),
        "result_labels": RESULT_LABELS,
        "query": request.GET.urlencode(),
    }
    return render(request, "contributions/deduct_follow_ups.html", context)


@login_required
@require_GET
def deduct_follow_ups_xlsx(request: HttpRequest) -> FileResponse:
    """The same list as .xlsx, for the village agent's rounds; identity numbers and accounts masked."""
    user = request.user
    _require_jurisdiction(user)
    params = _follow_up_params(request)
    year = params["year"]
    rows = _follow_ups(user, year=year, village=params["village"])
    audit.info("deduct follow-ups exported: user=%s year=%s village=%s", user.pk, year, params["code"] or "all")
    book = Workbook(write_only=True)
    sheet = book.create_sheet(_("代扣失败跟进"))
    for column, width in zip("ABCDEFGHIJKL", (12, 22, 16, 14, 22, 10, 14, 20, 28, 10, 24, 26), strict=True):
        sheet.column_dimensions[column].width = width
    sheet.append([_("%(year)s年度银行代扣失败及需退款人员（身份证号、银行账号已隐去）") % {"year": year}])
    xlsx_header(
        sheet,
        [
            _("姓名"),
            _("身份证号"),
            _("村（社区）"),
            _("联系电话"),
            _("银行账号"),
            _("金额（元）"),
            _("银行处理结果"),
            _("银行说明"),
            _("后续处理"),
            _("本年现状"),
            _("批次号"),
            _("住址"),
        ],
    )
    for line in rows.iterator(chunk_size=2000):
        amount = WriteOnlyCell(sheet, value=line.amount)
        amount.number_format = "#,##0.00"
        person = line.person
        sheet.append(
            [
                line.name,
                idnumber.mask(line.id_number),
                person.village.name,
                person.phone,
                f"{line.batch.partner.code} {mask_bank_account(line.bank_account)}",
                amount,
                str(RESULT_LABELS.get(line.result_code, line.result_code)),
                line.result_message,
                line.follow_up or (_("已更正账号") if line.account_corrected else _("待跟进")),
                _("已缴费") if line.paid else _("未缴费"),
                line.batch.batch_no,
                person.address,
            ]
        )
    handle = tempfile.TemporaryFile()  # noqa: SIM115 - the response closes it once sent, and so deletes it
    book.save(handle)
    handle.seek(0)
    scope = params["village"].name if params["village"] is not None else _("全部")
    response = FileResponse(
        handle, as_attachment=True, filename=f"{year}年度代扣失败跟进_{scope}.xlsx", content_type=XLSX
    )
    response["Cache-Control"] = "private, no-store"
    return response
