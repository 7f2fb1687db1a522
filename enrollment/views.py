"""The browser side of the register: thin views that fetch through the selectors (out of scope → 404),
call one service, and show its refusal next to the field it names or as a message."""

import logging
import mimetypes
from pathlib import PurePath
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Model, Prefetch
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from agencies.errors import DomainError
from agencies.permissions import Action, can
from agencies.scope import scope_prefix, scoped
from enrollment import checks, selectors, services
from enrollment.forms import (
    CancellationForm,
    ChangeForm,
    EmployeeRegisterUploadForm,
    PersonFieldsForm,
    RegistrationForm,
    ResolveFlagForm,
    ReturnForm,
    SpecialGroupForm,
    villages_in_scope,
)
from enrollment.history import person_history
from enrollment.models import (
    Application,
    ApplicationEvent,
    ApplicationKind,
    ApplicationStatus,
    DualEnrollmentFlag,
    InsuredPerson,
    PersonStatus,
    SpecialGroupMembership,
)
from enrollment.services import CHANGE_FIELDS, REGISTRATION_FIELDS

# Reading a full record (identity number, bank account) is itself logged: who read whose record, never the data.
audit = logging.getLogger("portal.audit")

PERSONS_PER_PAGE = 50
FLAGS_PER_PAGE = 50

# Shown inline by the browser; anything else is downloaded, so an uploaded file can never run as a page here.
INLINE_TYPES = frozenset({"application/pdf", "image/jpeg", "image/png"})

EVENT_ACTIONS = {
    "submit": gettext_lazy("提交"),
    "accept": gettext_lazy("乡镇审核通过"),
    "return": gettext_lazy("退回"),
    "approve": gettext_lazy("县级审批通过"),
    "resubmit": gettext_lazy("补正后重新提交"),
    "withdraw": gettext_lazy("撤回"),
}


def scope_model(model: type[Model]):
    """Names the model whose id a route carries (read by the scope-matrix test, which calls every such route
    with the id of a record in another jurisdiction and expects 404)."""

    def mark(view):
        view.scope_model = model
        return view

    return mark


def _require(user, action: Action) -> None:
    if not can(user, action):
        raise PermissionDenied


def _bound(request: HttpRequest) -> tuple:
    """Form data and files on POST, nothing on GET (an empty POST still counts as a submission)."""
    return (request.POST, request.FILES) if request.method == "POST" else (None, None)


def _is_partial(request: HttpRequest) -> bool:
    # A history restore asks for the whole page again.
    return bool(request.htmx) and not request.htmx.history_restore_request


def _field_label(name: str) -> str:
    return str(InsuredPerson._meta.get_field(name).verbose_name)


# --- person list and search ---------------------------------------------------------------------


@login_required
@require_GET
def person_list(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()
    status = request.GET.get("status", "")
    if status not in PersonStatus.values:
        status = ""
    persons = selectors.person_search(user=request.user, q=q, status=status)
    page = Paginator(persons, PERSONS_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "q": q,
        "status": status,
        # Void registrations are withdrawn forms, not people: the list never shows them.
        "statuses": [choice for choice in PersonStatus.choices if choice[0] != PersonStatus.VOID],
    }
    template = "enrollment/partials/person_table.html" if _is_partial(request) else "enrollment/person_list.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


# --- person detail ------------------------------------------------------------------------------


def _person_actions(user, person: InsuredPerson, open_application: Application | None) -> dict[str, bool]:
    may_apply = can(user, Action.SUBMIT_APPLICATION) and person.status == PersonStatus.ACTIVE
    return {
        "change": may_apply and open_application is None,
        "cancel": may_apply and open_application is None,
        "special_group": can(user, Action.RECORD_SPECIAL_GROUP),
        "resolve_flags": can(user, Action.LOAD_EMPLOYEE_REGISTER),
    }


def _render_person(
    request: HttpRequest, person: InsuredPerson, *, special_group_form: SpecialGroupForm | None = None, status=200
) -> HttpResponse:
    user = request.user
    audit.info("person record read: user=%s person=%s", user.pk, person.pk)
    applications = list(
        selectors.application_queryset(user=user)
        .filter(person=person)
        .prefetch_related(Prefetch("events", queryset=ApplicationEvent.objects.select_related("actor")))
    )
    open_application = next((a for a in applications if a.is_open), None)
    context = {
        "person": person,
        "history": person_history(person=person),
        "applications": applications,
        "open_application": open_application,
        "event_actions": EVENT_ACTIONS,
        "statuses": dict(ApplicationStatus.choices),
        "special_groups": scoped(
            SpecialGroupMembership.objects.filter(person=person).select_related("recorded_by"), user
        ),
        "flags": selectors.dual_enrollment_flags(user=user).filter(person=person).select_related("resolved_by"),
        "actions": _person_actions(user, person, open_application),
        "special_group_form": special_group_form or SpecialGroupForm(),
        "resolve_form": ResolveFlagForm(),
    }
    return render(request, "enrollment/person_detail.html", context, status=status)


@scope_model(InsuredPerson)
@login_required
@require_GET
def person_detail(request: HttpRequest, pk: int) -> HttpResponse:
    person = selectors.person_get(user=request.user, pk=pk)
    return _render_person(request, person)


@scope_model(InsuredPerson)
@login_required
@require_POST
def special_group_add(request: HttpRequest, pk: int) -> HttpResponse:
    person = selectors.person_get(user=request.user, pk=pk)
    _require(request.user, Action.RECORD_SPECIAL_GROUP)
    form = SpecialGroupForm(request.POST)
    if form.is_valid():
        try:
            membership = services.special_group_record(actor=request.user, person=person, **form.cleaned_data)
        except DomainError as error:
            form.add_domain_error(error)
        else:
            messages.success(request, _("已登记特殊群体认定：%(group)s。") % {"group": membership.get_group_display()})
            return redirect("enrollment:person_detail", pk=person.pk)
    return _render_person(request, person, special_group_form=form, status=400)


# --- registration -------------------------------------------------------------------------------


def _check_context(check: dict[str, Any], *, confirmed: bool, confirm_errors=()) -> dict[str, Any]:
    return {"check": check, "confirm_checked": confirmed, "confirm_errors": list(confirm_errors)}


@login_required
@require_http_methods(["GET", "POST"])
def register(request: HttpRequest) -> HttpResponse:
    """参保登记表. Nothing is saved unless the service accepts the whole form."""
    _require(request.user, Action.SUBMIT_APPLICATION)
    form = RegistrationForm(*_bound(request)[:1], villages=villages_in_scope(request.user))
    if request.method == "POST" and form.is_valid():
        try:
            application = services.registration_submit(
                actor=request.user,
                village=form.cleaned_data["village"],
                id_number=form.cleaned_data["id_number"],
                data=form.person_data(),
                confirm_possible_duplicate=form.cleaned_data["confirm_possible_duplicate"],
            )
        except DomainError as error:
            form.add_domain_error(error)
        else:
            messages.success(
                request,
                _("已提交%(name)s的参保登记表，等待乡镇审核。") % {"name": application.person.name},
            )
            return redirect("enrollment:application_detail", pk=application.pk)
    context: dict[str, Any] = {"form": form, "check": None}
    if form.is_bound:
        # Show the same check the clerk saw while typing, beside the errors.
        check = checks.id_number_check(
            user=request.user,
            raw=form.data.get("id_number", ""),
            village=form.data.get("village") or None,
            name=form.data.get("name", ""),
        )
        context.update(
            _check_context(
                check,
                confirmed=bool(form.data.get("confirm_possible_duplicate")),
                confirm_errors=form.errors.get("confirm_possible_duplicate", ()),
            )
        )
        # The field already shows its error; the check then adds only what was derived and the duplicates.
        context["suppress_error"] = "id_number" in form.errors
    return render(request, "enrollment/register.html", context, status=400 if form.errors else 200)


@login_required
@require_GET
def check_id(request: HttpRequest) -> HttpResponse:
    """The as-you-type identity check: derived birth date, sex and age, or what is wrong; and duplicates."""
    _require(request.user, Action.SUBMIT_APPLICATION)
    if scope_prefix(request.user) is None:
        # Staff with no jurisdiction register nobody, so they have no business probing the register.
        raise PermissionDenied
    check = checks.id_number_check(
        user=request.user,
        raw=request.GET.get("id_number", ""),
        village=request.GET.get("village") or None,
        name=request.GET.get("name", ""),
    )
    context = _check_context(check, confirmed=bool(request.GET.get("confirm_possible_duplicate")))
    return render(request, "enrollment/partials/id_check.html", context)


# --- change and cancellation --------------------------------------------------------------------


@scope_model(InsuredPerson)
@login_required
@require_http_methods(["GET", "POST"])
def change(request: HttpRequest, pk: int) -> HttpResponse:
    """变更登记表."""
    person = selectors.person_get(user=request.user, pk=pk)
    _require(request.user, Action.SUBMIT_APPLICATION)
    form = ChangeForm(*_bound(request), person=person)
    if request.method == "POST" and form.is_valid():
        try:
            application = services.change_submit(
                actor=request.user,
                person=person,
                changes=form.changes(),
                reason=form.cleaned_data["reason"],
                proof=form.cleaned_data["proof"],
            )
        except DomainError as error:
            form.add_domain_error(error)
        else:
            messages.success(request, _("已提交%(name)s的变更登记表，等待乡镇审核。") % {"name": person.name})
            return redirect("enrollment:application_detail", pk=application.pk)
    return render(
        request, "enrollment/change.html", {"form": form, "person": person}, status=400 if form.errors else 200
    )


@scope_model(InsuredPerson)
@login_required
@require_http_methods(["GET", "POST"])
def cancel(request: HttpRequest, pk: int) -> HttpResponse:
    """注销登记表."""
    person = selectors.person_get(user=request.user, pk=pk)
    _require(request.user, Action.SUBMIT_APPLICATION)
    form = CancellationForm(*_bound(request))
    if request.method == "POST" and form.is_valid():
        try:
            application = services.cancellation_submit(
                actor=request.user,
                person=person,
                cancellation_reason=form.cleaned_data["cancellation_reason"],
                event_date=form.cleaned_data["event_date"],
                proof=form.cleaned_data["proof"],
                reason=form.cleaned_data["reason"],
            )
        except DomainError as error:
            form.add_domain_error(error)
        else:
            messages.success(request, _("已提交%(name)s的注销登记表，等待乡镇审核。") % {"name": person.name})
            return redirect("enrollment:application_detail", pk=application.pk)
    return render(
        request, "enrollment/cancel.html", {"form": form, "person": person}, status=400 if form.errors else 200
    )


# --- applications -------------------------------------------------------------------------------


def _application_actions(user, application: Application) -> dict[str, bool]:
    """Which buttons to show. The services decide again on submit; this only spares clerks a refusal."""
    own = application.created_by_id == user.pk
    status = application.status
    township = can(user, Action.TOWNSHIP_REVIEW)
    county = can(user, Action.COUNTY_APPROVE)
    # A returned or open form goes back to whoever entered it, so only they correct or withdraw it.
    submitter = can(user, Action.SUBMIT_APPLICATION) and own
    return {
        "accept": township and not own and status == ApplicationStatus.SUBMITTED,
        "return": not own
        and ((township and status == ApplicationStatus.SUBMITTED) or (county and status == ApplicationStatus.ACCEPTED)),
        "approve": county and not own and status == ApplicationStatus.ACCEPTED,
        "resubmit": submitter and status == ApplicationStatus.RETURNED,
        "withdraw": submitter and status in (ApplicationStatus.SUBMITTED, ApplicationStatus.RETURNED),
    }


def _application_contents(application: Application) -> list[dict[str, str]]:
    """The form as entered: registration fields, or each change with the value it replaces."""
    person = application.person
    if application.kind == ApplicationKind.REGISTER:
        values = {**application.changes, "village": person.village.full_name()}
        order = ("name", "id_number", "village", *REGISTRATION_FIELDS[1:])
        return [{"field": _field_label(f), "new": values[f], "old": ""} for f in order if values.get(f)]
    if application.kind == ApplicationKind.CHANGE:
        return [
            {
                "field": _field_label(field),
                "new": application.changes[field],
                # Once approved the record holds the new value; the history shows the old one.
                "old": getattr(person, field) if application.is_open else "",
            }
            for field in CHANGE_FIELDS
            if field in application.changes
        ]
    event_date = f"{application.event_date:%Y-%m-%d}" if application.event_date else ""
    return [
        {"field": _("注销原因"), "new": application.get_cancellation_reason_display(), "old": ""},
        {"field": _("事件日期"), "new": event_date, "old": ""},
    ]


def _resubmit_form(application: Application, data=None) -> PersonFieldsForm | ChangeForm | None:
    if application.kind == ApplicationKind.REGISTER:
        initial = {field: getattr(application.person, field) for field in ("id_number", *REGISTRATION_FIELDS)}
        return PersonFieldsForm(data, initial=initial)
    if application.kind == ApplicationKind.CHANGE:
        form = ChangeForm(data, person=application.person)
        if data is None:
            form.initial.update(application.changes)
        # The proof and the reason already given stay with the application; only the values are corrected.
        del form.fields["proof"], form.fields["reason"]
        return form
    return None


def _render_application(
    request: HttpRequest,
    application: Application,
    *,
    resubmit_form=None,
    return_form: ReturnForm | None = None,
    status: int = 200,
) -> HttpResponse:
    actions = _application_actions(request.user, application)
    context = {
        "application": application,
        "person": application.person,
        "contents": _application_contents(application),
        "events": application.events.select_related("actor"),
        "event_actions": EVENT_ACTIONS,
        "statuses": dict(ApplicationStatus.choices),
        "actions": actions,
        "return_form": return_form or ReturnForm(),
        "resubmit_form": resubmit_form or (_resubmit_form(application) if actions["resubmit"] else None),
    }
    return render(request, "enrollment/application_detail.html", context, status=status)


@scope_model(Application)
@login_required
@require_GET
def application_detail(request: HttpRequest, pk: int) -> HttpResponse:
    application = selectors.application_get(user=request.user, pk=pk)
    # The form's contents carry the full identity number and bank account: a full-record read.
    audit.info("application read: user=%s application=%s", request.user.pk, application.pk)
    return _render_application(request, application)


def _act(request: HttpRequest, pk: int, service, success: str, **kwargs) -> HttpResponse:
    """Run one review action; a refusal (wrong state, not this role, own application) becomes a message."""
    application = selectors.application_get(user=request.user, pk=pk)
    try:
        service(actor=request.user, application=application, **kwargs)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, success)
    return redirect("enrollment:application_detail", pk=application.pk)


@scope_model(Application)
@login_required
@require_POST
def application_accept(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(
        request,
        pk,
        services.application_accept,
        _("乡镇审核通过，已报县级审批。"),
        note=request.POST.get("note", ""),
    )


@scope_model(Application)
@login_required
@require_POST
def application_return(request: HttpRequest, pk: int) -> HttpResponse:
    application = selectors.application_get(user=request.user, pk=pk)
    form = ReturnForm(request.POST)
    if form.is_valid():
        try:
            services.application_return(actor=request.user, application=application, reason=form.cleaned_data["reason"])
        except DomainError as error:
            if error.field:
                form.add_domain_error(error)
            else:
                messages.error(request, error.message)
                return redirect("enrollment:application_detail", pk=application.pk)
        else:
            messages.success(request, _("已退回录入人补正。"))
            return redirect("enrollment:application_detail", pk=application.pk)
    return _render_application(request, application, return_form=form, status=400)


@scope_model(Application)
@login_required
@require_POST
def application_approve(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, services.application_approve, _("县级审批通过，已生效。"))


@scope_model(Application)
@login_required
@require_POST
def application_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, services.application_withdraw, _("申请已撤回。"), reason=request.POST.get("reason", ""))


@scope_model(Application)
@login_required
@require_POST
def application_resubmit(request: HttpRequest, pk: int) -> HttpResponse:
    application = selectors.application_get(user=request.user, pk=pk)
    form = _resubmit_form(application, request.POST)
    data: dict[str, str] | None = None
    if form is not None:
        if not form.is_valid():
            return _render_application(request, application, resubmit_form=form, status=400)
        data = form.changes() if isinstance(form, ChangeForm) else dict(form.cleaned_data)
    try:
        services.application_resubmit(actor=request.user, application=application, data=data)
    except DomainError as error:
        if form is not None and error.field:
            form.add_domain_error(error)
            return _render_application(request, application, resubmit_form=form, status=400)
        messages.error(request, error.message)
    else:
        messages.success(request, _("已补正并重新提交。"))
    return redirect("enrollment:application_detail", pk=application.pk)


@scope_model(Application)
@login_required
@require_GET
def application_proof(request: HttpRequest, pk: int) -> FileResponse:
    """The proof file, streamed only after the scope check: proofs are never at a public /media/ address."""
    application = selectors.application_get(user=request.user, pk=pk)
    if not application.proof:
        raise Http404
    try:
        handle = application.proof.open("rb")
    except FileNotFoundError:
        raise Http404 from None
    audit.info("proof read: user=%s application=%s", request.user.pk, application.pk)
    filename = PurePath(application.proof.name).name
    content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    response = FileResponse(handle, filename=filename, as_attachment=content_type not in INLINE_TYPES)
    response["Content-Security-Policy"] = "sandbox"
    response["Cache-Control"] = "private, no-store"
    return response


# --- comparison with the employees' scheme register (信息比对) ---------------------------------------


def _render_comparison(request: HttpRequest, *, form: EmployeeRegisterUploadForm | None = None, status=200):
    flags = selectors.dual_enrollment_flags(user=request.user, open_only=True).order_by("person__region_code", "id")
    context = {
        "form": form or EmployeeRegisterUploadForm(),
        "loads": selectors.employee_register_loads(user=request.user)[:20],
        "flags": Paginator(flags, FLAGS_PER_PAGE).get_page(request.GET.get("page")),
        "resolve_form": ResolveFlagForm(),
    }
    return render(request, "enrollment/comparison.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def comparison(request: HttpRequest) -> HttpResponse:
    _require(request.user, Action.LOAD_EMPLOYEE_REGISTER)
    if request.method == "GET":
        return _render_comparison(request)
    form = EmployeeRegisterUploadForm(request.POST, request.FILES)
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            load = services.employee_register_load(actor=request.user, file_name=upload.name, content=upload.read())
        except DomainError as error:
            form.add_domain_error(error)
        else:
            messages.success(
                request,
                _("已比对%(read)s行（无效%(invalid)s行），发现重复参保%(matches)s人。")
                % {"read": load.rows_read, "invalid": load.rows_invalid, "matches": load.matches},
            )
            return redirect("enrollment:comparison")
    return _render_comparison(request, form=form, status=400)


@scope_model(DualEnrollmentFlag)
@login_required
@require_POST
def flag_resolve(request: HttpRequest, pk: int) -> HttpResponse:
    # Fetch first: a record out of scope is 404 for everyone, whatever their role.
    flag = get_object_or_404(selectors.dual_enrollment_flags(user=request.user), pk=pk)
    _require(request.user, Action.LOAD_EMPLOYEE_REGISTER)
    try:
        services.dual_enrollment_resolve(actor=request.user, flag=flag, resolution=request.POST.get("resolution", ""))
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("已记录%(name)s的疑点处理结果。") % {"name": flag.person.name})
    if request.POST.get("back") == "person":
        return redirect("enrollment:person_detail", pk=flag.person_id)
    return redirect("enrollment:comparison")
