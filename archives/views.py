"""The browser side of the archives (档案管理): search, filing by hand, an item with its scans, place, loans and
log; the register (档案登记簿), loans, a person's own records, custody and hand-overs, retention reviews and the
merger's survey rows still to be received.

Thin views, as elsewhere: a record is fetched through the jurisdiction scope first (outside it → 404, whatever
the role), then the role is checked (403), then one service is called; its refusal is shown next to the field it
names (or at the top of the form sent), and a success redirects (POST-redirect-GET). Scans are served only by
``file_download``, which checks the scope and logs the reading; they never live under MEDIA.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from openpyxl import Workbook

from agencies.errors import DomainError, NotPermitted
from agencies.exports import xlsx_header, xlsx_text
from agencies.models import Region
from agencies.permissions import ALLOWED, Action, can
from agencies.scope import get_scoped_or_404, scope_prefix, scoped
from archives import filecheck, handover, lending, register, retention, selectors, services, survey
from archives.forms import (
    AttachForm,
    DecideForm,
    FirstPlaceForm,
    HandOverCheckForm,
    HandOverForm,
    ItemCreateForm,
    ItemSearchForm,
    LendForm,
    PlaceForm,
    ProposeForm,
    ReasonForm,
    RegisterForm,
    ReturnForm,
)
from archives.models import (
    ArchiveFile,
    ArchiveItem,
    HandOver,
    HandOverStatus,
    LineState,
    RetentionReview,
    ReviewStatus,
)
from enrollment import idnumber
from enrollment.models import InsuredPerson
from enrollment.selectors import person_get
from enrollment.views import scope_model
from migration.models import ArchiveSurveyItem

PER_PAGE = 50
# The register printed whole (a township's year); a county's year goes out as .xlsx.
REGISTER_PRINT_MAX = 5000
EVENTS_SHOWN = 100
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# The roles that hold archives (keep, lend, hand over) and may be named keepers.
KEEPER_ROLES = sorted(ALLOWED[Action.KEEP_ARCHIVES])

EVENT_ACTIONS = {
    "filed": gettext_lazy("归档"),
    "refiled": gettext_lazy("重新归档（内容更新）"),
    "record_read": gettext_lazy("查阅档案"),
    "file_attached": gettext_lazy("上传电子件"),
    "file_read": gettext_lazy("查阅电子件"),
    "placed": gettext_lazy("入库/调整位置"),
    "lent": gettext_lazy("查阅/借出"),
    "returned": gettext_lazy("归还"),
    "handed_over": gettext_lazy("交接"),
    "proposed": gettext_lazy("提请销毁鉴定"),
    "review_proposed": gettext_lazy("提请销毁鉴定"),
    "destroyed": gettext_lazy("销毁"),
    "extended": gettext_lazy("延长保管"),
    "retention_extended": gettext_lazy("延长保管"),
    "received": gettext_lazy("接收移交档案"),
}


# --- who may do what ---------------------------------------------------------------------------------------


def may_use_archives(user) -> bool:
    """Those whose work touches the archives: who attaches scans, who keeps the papers, who decides destruction,
    and the city supervisor who oversees them; each within their jurisdiction."""
    if scope_prefix(user) is None:
        return False
    return can(user, Action.READ_ARCHIVES)


def _require_viewer(user) -> None:
    if not may_use_archives(user):
        raise PermissionDenied


def _require(user, action: Action) -> None:
    if scope_prefix(user) is None or not can(user, action):
        raise PermissionDenied


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "private, no-store"
    return response


def _xlsx_response(book: Workbook, filename: str) -> FileResponse:
    handle = tempfile.TemporaryFile()  # noqa: SIM115 - the response closes it once sent, and so deletes it
    book.save(handle)
    handle.seek(0)
    return _no_store(FileResponse(handle, as_attachment=True, filename=filename, content_type=XLSX))


def _wants_xlsx(request: HttpRequest) -> bool:
    return request.GET.get("format") == "xlsx"


def _page(request: HttpRequest, rows, per_page: int = PER_PAGE):
    return Paginator(rows, per_page).get_page(request.GET.get("page"))


def _place_names(codes: Iterable[str]) -> dict[str, str]:
    """The names of the places items are filed under, in one query for a page of them."""
    codes = set(codes)
    if not codes:
        return {}
    return dict(Region.objects.filter(code__in=codes).values_list("code", "name"))


def _state(item: ArchiveItem) -> tuple[str, str]:
    """在库 / 借出 / 已销毁 / 未入库, with a badge class."""
    if item.destroyed_at is not None:
        return "void", _("已销毁")
    if getattr(item, "on_loan", False):
        return "returned", _("借出")
    if item.paper_received_at is not None:
        return "active", _("在库")
    return "pending", _("未入库")


def _decorate(items: Iterable[ArchiveItem]) -> list[ArchiveItem]:
    items = list(items)
    names = _place_names(item.region_code for item in items)
    for item in items:
        item.place_name = getattr(item, "place_name", None) or names.get(item.region_code, item.region_code)
        item.state_class, item.state_label = _state(item)
    return items


def _location_text(item: ArchiveItem) -> str:
    return f"{item.location} 第{item.position}号" if item.location_id else ""


# --- items: search, filing by hand ------------------------------------------------------------------------


ITEM_COLUMNS = [
    gettext_lazy("档号"),
    gettext_lazy("类别"),
    gettext_lazy("题名"),
    gettext_lazy("年度"),
    gettext_lazy("村（社区）"),
    gettext_lazy("参保人"),
    gettext_lazy("身份证号"),
    gettext_lazy("纸质件"),
    gettext_lazy("电子件（页数）"),
    gettext_lazy("位置"),
    gettext_lazy("保管人"),
    gettext_lazy("状态"),
]


def _items_xlsx(user, items: QuerySet[ArchiveItem]) -> FileResponse:
    book = Workbook(write_only=True)
    sheet = book.create_sheet(_("档案查询"))
    xlsx_header(sheet, [str(label) for label in ITEM_COLUMNS])
    # Every place name in scope at once: the export streams rows and cannot look them up page by page.
    names = dict(scoped(Region.objects.all(), user).values_list("code", "name"))
    for item in items.iterator(chunk_size=2000):
        sheet.append(
            [
                item.archive_no,
                item.kind.name,
                xlsx_text(item.title),
                item.year,
                names.get(item.region_code, item.region_code),
                xlsx_text(item.person.name) if item.person_id else "",
                idnumber.mask(item.person.id_number) if item.person_id else "",
                "✓" if item.paper_received_at else "✗",
                f"✓（{item.file_pages}）" if item.has_file else "✗",
                xlsx_text(_location_text(item)),
                xlsx_text(item.keeper.display_name) if item.keeper_id else "",
                _state(item)[1],
            ]
        )
    return _xlsx_response(book, f"archives-{timezone.localdate():%Y%m%d}.xlsx")


@login_required
@require_GET
def item_list(request: HttpRequest) -> HttpResponse:
    """档案查询: by person, archive number, any text of the form, kind, place, year, paper and electronic copy."""
    user = request.user
    _require_viewer(user)
    form = ItemSearchForm(request.GET or None)
    filters = form.filters() if request.GET else {}
    items = selectors.items_search(user=user, **filters)
    if _wants_xlsx(request):
        return _items_xlsx(user, items)
    page = _page(request, items)
    page.object_list = _decorate(page.object_list)
    context = {
        "form": form,
        "page": page,
        "may_file": can(user, Action.KEEP_ARCHIVES),
        "export_query": _with_format(request),
    }
    return render(request, "archives/item_list.html", context)


def _with_format(request: HttpRequest) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    query["format"] = "xlsx"
    return query.urlencode()


@login_required
@require_http_methods(["GET", "POST"])
def item_create(request: HttpRequest) -> HttpResponse:
    """手工归档 of a paper the portal did not produce."""
    user = request.user
    _require(user, Action.KEEP_ARCHIVES)
    form = ItemCreateForm(request.POST if request.method == "POST" else None, user=user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        person = None
        if data["id_number"]:
            person = scoped(InsuredPerson.objects.filter(id_number=data["id_number"].upper()), user).first()
            if person is None:
                form.add_error("id_number", _("您的管辖范围内没有该身份证号的参保人。"))
        if not form.errors:
            try:
                item = services.item_create(
                    actor=user,
                    kind=data["kind"],
                    region=data["region"],
                    year=data["year"],
                    title=data["title"],
                    person=person,
                )
            except DomainError as error:
                form.add_domain_error(error)
            else:
                messages.success(
                    request, _("已归档：%(no)s %(title)s。") % {"no": item.archive_no, "title": item.title}
                )
                return redirect("archives:item_detail", pk=item.pk)
    return render(request, "archives/item_form.html", {"form": form}, status=400 if form.errors else 200)


# --- one item -------------------------------------------------------------------------------------------------


def _item(request: HttpRequest, pk: int) -> ArchiveItem:
    item = selectors.item_get(user=request.user, pk=pk)
    _require_viewer(request.user)
    return item


def _render_item(request: HttpRequest, item: ArchiveItem, *, status: int = 200, **forms) -> HttpResponse:
    user = request.user
    # The page shows the form's fields in full (identity numbers): every showing of it is logged.
    services.item_read(actor=user, item=item)
    live = item.destroyed_at is None
    open_loan = services.open_loan(item)
    context = {
        "item": item,
        "place_name": _place_names([item.region_code]).get(item.region_code, item.region_code),
        "files": list(item.files.select_related("uploaded_by").order_by("id")),
        "loans": list(item.loans.select_related("lent_by", "received_by")),
        "reviews": list(item.reviews.select_related("proposed_by", "decided_by")),
        "events": list(selectors.events(user=user, item=item)[:EVENTS_SHOWN]),
        "event_actions": EVENT_ACTIONS,
        "events_shown": EVENTS_SHOWN,
        "open_loan": open_loan,
        "state": _state(item),
        "accept": filecheck.ACCEPT,
    }
    if live and can(user, Action.ATTACH_ARCHIVE_FILE):
        context["attach_form"] = forms.get("attach_form") or AttachForm()
    if live and can(user, Action.KEEP_ARCHIVES):
        if item.paper_received_at is None:
            keepers = selectors.keepers(user=user, roles=KEEPER_ROLES)
            context["place_form"] = forms.get("place_form") or FirstPlaceForm(keepers=keepers)
        elif open_loan is None and services.may_move(user, item):
            # Moved by its keeper or the room's staff, and only while it is in the room.
            initial = {"room": item.location.room, "cabinet": item.location.cabinet, "box": item.location.box}
            initial["position"] = item.position
            context["place_form"] = forms.get("place_form") or PlaceForm(initial=initial)
        if open_loan is None:
            context["lend_form"] = forms.get("lend_form") or LendForm()
        else:
            context["return_form"] = forms.get("return_form") or ReturnForm()
    # A refused form is shown again with its message even where the page would not offer it now (a return of an
    # item no longer out).
    context.update(forms)
    return render(request, "archives/item_detail.html", context, status=status)


@scope_model(ArchiveItem)
@login_required
@require_GET
def item_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One record: the form's fields, its scans, where the paper is and who keeps it, loans, reviews and the log."""
    return _render_item(request, _item(request, pk))


def _item_action(
    request: HttpRequest, item: ArchiveItem, form, form_name: str, call: Callable[[dict], object], done: str
) -> HttpResponse:
    """Call one service with the form's data: its refusal goes back next to the field (400), success redirects."""
    if form.is_valid():
        try:
            call(form.cleaned_data)
        except NotPermitted:
            raise PermissionDenied from None
        except DomainError as error:
            form.add_domain_error(error)
        else:
            messages.success(request, done)
            return redirect("archives:item_detail", pk=item.pk)
    return _render_item(request, item, status=400, **{form_name: form})


@scope_model(ArchiveItem)
@login_required
@require_POST
def item_attach(request: HttpRequest, pk: int) -> HttpResponse:
    """上传扫描件 (PDF, JPEG or PNG, checked by content)."""
    item = _item(request, pk)
    _require(request.user, Action.ATTACH_ARCHIVE_FILE)
    form = AttachForm(request.POST, request.FILES)
    return _item_action(
        request,
        item,
        form,
        "attach_form",
        lambda data: services.file_attach(actor=request.user, item=item, upload=data["file"]),
        _("已上传电子件。"),
    )


@scope_model(ArchiveItem)
@login_required
@require_POST
def item_place(request: HttpRequest, pk: int) -> HttpResponse:
    """入库 or move the paper: room, cabinet, box and position."""
    item = _item(request, pk)
    user = request.user
    _require(user, Action.KEEP_ARCHIVES)
    if item.paper_received_at is None:
        form = FirstPlaceForm(request.POST, keepers=selectors.keepers(user=user, roles=KEEPER_ROLES))
    else:
        form = PlaceForm(request.POST)

    def call(data: dict):
        place = {name: data[name] for name in ("room", "cabinet", "box", "position")}
        return services.paper_place(actor=user, item=item, keeper=data.get("keeper"), **place)

    return _item_action(request, item, form, "place_form", call, _("已登记存放位置。"))


@scope_model(ArchiveItem)
@login_required
@require_POST
def item_lend(request: HttpRequest, pk: int) -> HttpResponse:
    """查阅/借阅 登记."""
    item = _item(request, pk)
    _require(request.user, Action.KEEP_ARCHIVES)
    form = LendForm(request.POST)
    return _item_action(
        request,
        item,
        form,
        "lend_form",
        lambda data: lending.loan_open(actor=request.user, item=item, **data),
        _("已登记查阅/借阅。"),
    )


@scope_model(ArchiveItem)
@login_required
@require_POST
def item_return(request: HttpRequest, pk: int) -> HttpResponse:
    """归还."""
    item = _item(request, pk)
    _require(request.user, Action.KEEP_ARCHIVES)
    form = ReturnForm(request.POST)
    return _item_action(
        request,
        item,
        form,
        "return_form",
        lambda data: lending.loan_return(actor=request.user, item=item, note=data["note"]),
        _("已登记归还。"),
    )


@scope_model(ArchiveFile)
@login_required
@require_GET
def file_download(request: HttpRequest, pk: int) -> HttpResponse:
    """An electronic copy, to a user in scope only; every reading is logged by the service. It goes out as an
    attachment of its checked type, never sniffed or cached."""
    archive_file = selectors.file_get(user=request.user, pk=pk)
    _require_viewer(request.user)
    try:
        handle = services.file_read(actor=request.user, archive_file=archive_file)
    except DomainError as error:
        messages.error(request, error.message)
        return redirect("archives:item_detail", pk=archive_file.item_id)
    except FileNotFoundError:
        messages.error(
            request, _("电子文件 %(name)s 的存储内容缺失，请联系系统管理员。") % {"name": archive_file.original_name}
        )
        return redirect("archives:item_detail", pk=archive_file.item_id)
    response = FileResponse(
        handle, as_attachment=True, filename=archive_file.original_name, content_type=archive_file.content_type
    )
    response["X-Content-Type-Options"] = "nosniff"
    return _no_store(response)


# --- the register -----------------------------------------------------------------------------------------


@login_required
@require_GET
def register_page(request: HttpRequest) -> HttpResponse:
    """档案登记簿 of a place and year: the rows, the counts, .xlsx, and an A4 page to print."""
    user = request.user
    _require_viewer(user)
    form = RegisterForm(request.GET if "region" in request.GET else None, user=user)
    context: dict = {"form": form, "this_year": timezone.localdate().year}
    if form.is_bound and form.is_valid():
        region, year = form.cleaned_data["region"], form.cleaned_data["year"]
        if _wants_xlsx(request):
            response = HttpResponse(register.register_xlsx(user=user, region=region, year=year), content_type=XLSX)
            response["Content-Disposition"] = f'attachment; filename="register-{region.code}-{year}.xlsx"'
            return _no_store(response)
        rows = selectors.register_rows(user=user, region=region, year=year)
        summary = selectors.register_summary(rows)
        whole = request.GET.get("all") == "1" and summary["total"] <= REGISTER_PRINT_MAX
        if whole:
            shown = _decorate(rows[:REGISTER_PRINT_MAX])
            context["rows"] = shown
        else:
            page = _page(request, rows)
            page.object_list = _decorate(page.object_list)
            context["page"] = page
            context["rows"] = page.object_list
        context.update(
            {
                "region": region,
                "region_name": region.full_name(),
                "year": year,
                "summary": summary,
                "whole": whole,
                "print_max": REGISTER_PRINT_MAX,
                "base_query": f"region={region.code}&year={year}",
                # A place asked for by its code that the list does not offer (a village, for a county's staff).
                "unlisted_region": None if form.choices.filter(pk=region.pk).exists() else region,
            }
        )
    return render(request, "archives/register.html", context, status=400 if form.errors else 200)


# --- loans ------------------------------------------------------------------------------------------------


LOAN_COLUMNS = [
    gettext_lazy("档号"),
    gettext_lazy("题名"),
    gettext_lazy("方式"),
    gettext_lazy("借阅人"),
    gettext_lazy("单位"),
    gettext_lazy("事由"),
    gettext_lazy("借出时间"),
    gettext_lazy("应还日期"),
    gettext_lazy("逾期天数"),
    gettext_lazy("经办人"),
]


@login_required
@require_GET
def loan_list(request: HttpRequest) -> HttpResponse:
    """查阅借阅: what is out now, the earliest due first; ``?overdue=1`` only what is past its date."""
    user = request.user
    _require_viewer(user)
    today = timezone.localdate()
    overdue = request.GET.get("overdue") == "1"
    loans = lending.overdue_loans(actor=user, today=today) if overdue else lending.open_loans(actor=user)
    if _wants_xlsx(request):
        book = Workbook(write_only=True)
        sheet = book.create_sheet(_("逾期未还") if overdue else _("借出在外"))
        xlsx_header(sheet, [str(label) for label in LOAN_COLUMNS])
        for loan in loans.iterator(chunk_size=2000):
            late = (today - loan.due_on).days if loan.due_on < today else 0
            sheet.append(
                [
                    loan.item.archive_no,
                    xlsx_text(loan.item.title),
                    loan.get_kind_display(),
                    xlsx_text(loan.borrower),
                    xlsx_text(loan.borrower_unit),
                    xlsx_text(loan.purpose),
                    timezone.localtime(loan.out_at).strftime("%Y-%m-%d %H:%M"),
                    loan.due_on,
                    late,
                    xlsx_text(loan.lent_by.display_name),
                ]
            )
        return _xlsx_response(book, f"loans-{today:%Y%m%d}.xlsx")
    page = _page(request, loans)
    for loan in page.object_list:
        loan.days_late = (today - loan.due_on).days if loan.due_on < today else 0
    context = {"page": page, "overdue": overdue, "today": today, "export_query": _with_format(request)}
    return render(request, "archives/loans.html", context)


# --- a person's own records ---------------------------------------------------------------------------------


@scope_model(InsuredPerson)
@login_required
@require_GET
def person_records(request: HttpRequest, pk: int) -> HttpResponse:
    """查阅本人档案: a person's records to show them (printable)."""
    person = person_get(user=request.user, pk=pk)
    _require_viewer(request.user)
    items = _decorate(selectors.person_records(user=request.user, person=person))
    context = {"person": person, "items": items, "today": timezone.localdate()}
    return render(request, "archives/person_records.html", context)


# --- custody and hand-overs ------------------------------------------------------------------------------------


def _keeper_param(request: HttpRequest, keepers: QuerySet):
    """The keeper named in ``?keeper=`` (staff in scope only; anyone else answers 404), or the user."""
    raw = request.GET.get("keeper", "")
    if not raw:
        return request.user
    try:
        return keepers.get(pk=int(raw))
    except (ValueError, keepers.model.DoesNotExist):
        raise Http404 from None


@login_required
@require_GET
def custody_page(request: HttpRequest) -> HttpResponse:
    """我保管的档案 (or a keeper's chosen in scope): how many, in shelf order, and a link to hand them over."""
    user = request.user
    _require_viewer(user)
    # Keepers who have left are listed while they keep anything, so that their papers can be handed over.
    keepers = selectors.outgoing_keepers(user=user, roles=KEEPER_ROLES)
    keeper = _keeper_param(request, keepers)
    items = selectors.custody(user=user, keeper=keeper)
    page = _page(request, items)
    page.object_list = _decorate(page.object_list)
    open_handover = (
        scoped(HandOver.objects.filter(from_keeper=keeper), user)
        .filter(status__in=[HandOverStatus.OPEN, HandOverStatus.SIGNED_BY_OUTGOING])
        .first()
    )
    context = {
        "keeper": keeper,
        "is_me": keeper.pk == user.pk,
        "keepers": keepers,
        "page": page,
        "open_handover": open_handover,
        "may_hand_over": can(user, Action.KEEP_ARCHIVES),
    }
    return render(request, "archives/custody.html", context)


@login_required
@require_GET
def handover_list(request: HttpRequest) -> HttpResponse:
    """档案交接: open ones first, then the latest."""
    user = request.user
    _require_viewer(user)
    handovers = (
        scoped(HandOver.objects.select_related("from_keeper", "to_keeper", "created_by"), user)
        .annotate(line_count=Count("lines"))
        .order_by("-created_at", "-id")
    )
    context = {"page": _page(request, handovers), "may_hand_over": can(user, Action.KEEP_ARCHIVES)}
    return render(request, "archives/handover_list.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def handover_create(request: HttpRequest) -> HttpResponse:
    """发起交接: the inventory of the outgoing keeper's custody is made at once."""
    user = request.user
    _require(user, Action.KEEP_ARCHIVES)
    keepers = selectors.keepers(user=user, roles=KEEPER_ROLES)
    # A keeper who has left is handed over from under supervision (监交); the receiver is always at work.
    outgoing = selectors.outgoing_keepers(user=user, roles=KEEPER_ROLES)
    initial = {"from_keeper": request.GET.get("from_keeper") or None}
    form = HandOverForm(
        request.POST if request.method == "POST" else None, keepers=keepers, outgoing=outgoing, initial=initial
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            started = handover.handover_start(
                actor=user, from_keeper=data["from_keeper"], to_keeper=data["to_keeper"], note=data["note"]
            )
        except NotPermitted:
            raise PermissionDenied from None
        except DomainError as error:
            form.add_domain_error(error)
        else:
            messages.success(request, _("已发起交接，清单已生成，请逐件清点。"))
            return redirect("archives:handover_detail", pk=started.pk)
    return render(request, "archives/handover_form.html", {"form": form}, status=400 if form.errors else 200)


def _handover(request: HttpRequest, pk: int) -> HandOver:
    found = get_scoped_or_404(
        HandOver.objects.select_related("from_keeper", "to_keeper", "created_by"), request.user, pk=pk
    )
    _require_viewer(request.user)
    return found


INVENTORY_COLUMNS = [
    gettext_lazy("序号"),
    gettext_lazy("档号"),
    gettext_lazy("类别"),
    gettext_lazy("题名"),
    gettext_lazy("年度"),
    gettext_lazy("位置"),
    gettext_lazy("清点结果"),
    gettext_lazy("借阅人"),
    gettext_lazy("应还日期"),
    gettext_lazy("备注"),
]


def _inventory_xlsx(found: HandOver) -> FileResponse:
    book = Workbook(write_only=True)
    sheet = book.create_sheet(_("交接清单"))
    sheet.append(
        [
            _("档案交接清单：%(out)s → %(in)s")
            % {"out": found.from_keeper.display_name, "in": found.to_keeper.display_name}
        ]
    )
    xlsx_header(sheet, [str(label) for label in INVENTORY_COLUMNS])
    lines = found.lines.select_related("item__kind", "item__location", "loan").order_by("id")
    for n, line in enumerate(lines.iterator(chunk_size=2000), start=1):
        sheet.append(
            [
                n,
                line.item.archive_no,
                line.item.kind.name,
                xlsx_text(line.item.title),
                line.item.year,
                xlsx_text(_location_text(line.item)),
                line.get_state_display(),
                xlsx_text(line.loan.borrower) if line.loan_id else "",
                line.loan.due_on if line.loan_id else None,
                xlsx_text(line.note),
            ]
        )
    return _xlsx_response(book, f"handover-{found.pk}.xlsx")


def _render_handover(request: HttpRequest, found: HandOver, *, status: int = 200, **forms) -> HttpResponse:
    user = request.user
    if _wants_xlsx(request):
        return _inventory_xlsx(found)
    counts = dict(found.lines.order_by().values_list("state").annotate(n=Count("id")))
    state = request.GET.get("state", "")
    lines = found.lines.select_related("item__kind", "item__location", "loan").order_by("id")
    if state in LineState.values:
        lines = lines.filter(state=state)
    else:
        state = ""
    is_open = found.status in (HandOverStatus.OPEN, HandOverStatus.SIGNED_BY_OUTGOING)
    keeper_role = can(user, Action.KEEP_ARCHIVES)
    context = {
        "handover": found,
        "page": _page(request, lines),
        "state": state,
        "states": LineState.choices,
        "counts": [(value, label, counts.get(value, 0)) for value, label in LineState.choices],
        "total": sum(counts.values()),
        "is_open": is_open,
        "may_check": is_open and keeper_role,
        "may_sign_out": found.status == HandOverStatus.OPEN and handover.may_sign_outgoing(user, found),
        # 监交: the outgoing keeper has left and the clerk signs for them.
        "sign_out_supervised": user.pk != found.from_keeper_id,
        "may_sign_in": found.status == HandOverStatus.SIGNED_BY_OUTGOING and user.pk == found.to_keeper_id,
        "may_cancel": is_open and keeper_role,
        "check_form": forms.get("check_form") or HandOverCheckForm(),
        "cancel_form": forms.get("cancel_form") or ReasonForm(),
    }
    return render(request, "archives/handover_detail.html", context, status=status)


@scope_model(HandOver)
@login_required
@require_GET
def handover_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """交接清单: each line's state (on loan shows the borrower), the checking forms, the signatures; .xlsx."""
    return _render_handover(request, _handover(request, pk))


def _handover_action(request: HttpRequest, found: HandOver, call: Callable[[], object], done: str) -> HttpResponse:
    _require(request.user, Action.KEEP_ARCHIVES)
    try:
        call()
    except DomainError as error:
        # A wrong signer is told who must sign rather than shown a bare 403: both are keepers at work.
        messages.error(request, error.message)
    else:
        messages.success(request, done)
    return redirect("archives:handover_detail", pk=found.pk)


@scope_model(HandOver)
@login_required
@require_POST
def handover_check(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark the archive numbers given present or missing."""
    found = _handover(request, pk)
    _require(request.user, Action.KEEP_ARCHIVES)
    form = HandOverCheckForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            changed = handover.handover_check(
                actor=request.user, handover=found, archive_nos=data["archive_nos"], state=data["state"]
            )
        except NotPermitted:
            raise PermissionDenied from None
        except DomainError as error:
            form.add_domain_error(error)
        else:
            label = _("在库") if data["state"] == "present" else _("缺失")
            messages.success(request, _("已标记%(n)s件为%(state)s。") % {"n": changed, "state": label})
            return redirect("archives:handover_detail", pk=found.pk)
    return _render_handover(request, found, status=400, check_form=form)


@scope_model(HandOver)
@login_required
@require_POST
def handover_check_all(request: HttpRequest, pk: int) -> HttpResponse:
    """全部清点无误: every line not yet checked is present."""
    found = _handover(request, pk)

    def call():
        changed = handover.handover_check_all_present(actor=request.user, handover=found)
        messages.info(request, _("%(n)s件标记为在库。") % {"n": changed})

    return _handover_action(request, found, call, _("已全部清点无误。"))


@scope_model(HandOver)
@login_required
@require_POST
def handover_refresh(request: HttpRequest, pk: int) -> HttpResponse:
    """刷新清单: add what came into the custody since, drop what left it."""
    found = _handover(request, pk)

    def call():
        added = handover.handover_refresh(actor=request.user, handover=found)
        messages.info(request, _("新增%(n)s件。") % {"n": added})

    return _handover_action(request, found, call, _("已刷新交接清单。"))


@scope_model(HandOver)
@login_required
@require_POST
def handover_sign_out(request: HttpRequest, pk: int) -> HttpResponse:
    found = _handover(request, pk)
    return _handover_action(
        request,
        found,
        lambda: handover.handover_sign_outgoing(actor=request.user, handover=found),
        _("移交人已签字，请接收人核对后签字。"),
    )


@scope_model(HandOver)
@login_required
@require_POST
def handover_sign_in(request: HttpRequest, pk: int) -> HttpResponse:
    found = _handover(request, pk)
    return _handover_action(
        request,
        found,
        lambda: handover.handover_sign_incoming(actor=request.user, handover=found),
        _("接收人已签字，交接完成：清单上的档案已转由接收人保管。"),
    )


@scope_model(HandOver)
@login_required
@require_POST
def handover_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    found = _handover(request, pk)
    _require(request.user, Action.KEEP_ARCHIVES)
    form = ReasonForm(request.POST)
    if form.is_valid():
        try:
            handover.handover_cancel(actor=request.user, handover=found, reason=form.cleaned_data["reason"])
        except NotPermitted:
            raise PermissionDenied from None
        except DomainError as error:
            form.add_domain_error(error)
        else:
            messages.success(request, _("已取消交接。"))
            return redirect("archives:handover_detail", pk=found.pk)
    return _render_handover(request, found, status=400, cancel_form=form)


# --- retention ----------------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def retention_page(request: HttpRequest) -> HttpResponse:
    """到期鉴定: items whose retention has ended (the keeper proposes some for destruction with an appraisal), and
    the proposals awaiting the approver's decision."""
    user = request.user
    _require_viewer(user)
    may_propose = can(user, Action.KEEP_ARCHIVES)
    due = retention.retention_due(actor=user)
    form = ProposeForm(request.POST if request.method == "POST" else None, due=due)
    if request.method == "POST":
        if not may_propose:
            raise PermissionDenied
        if form.is_valid():
            try:
                reviews = retention.review_propose(
                    actor=user, items=list(form.cleaned_data["items"]), reason=form.cleaned_data["reason"]
                )
            except DomainError as error:
                form.add_domain_error(error)
            else:
                messages.success(request, _("已提请销毁鉴定%(n)s件，待审批。") % {"n": len(reviews)})
                return redirect("archives:retention")
    page = _page(request, due)
    page.object_list = _decorate(page.object_list)
    proposals = (
        scoped(RetentionReview.objects.filter(status=ReviewStatus.PROPOSED), user)
        .select_related("item__kind", "proposed_by")
        .order_by("proposed_at", "id")
    )
    context = {
        "page": page,
        "form": form,
        "may_propose": may_propose,
        "may_decide": can(user, Action.DECIDE_DESTRUCTION),
        "proposals": list(proposals[:PER_PAGE]),
        "proposal_count": proposals.count(),
        "decide_form": DecideForm(),
        "today": timezone.localdate(),
    }
    return render(request, "archives/retention.html", context, status=400 if form.errors else 200)


@scope_model(RetentionReview)
@login_required
@require_POST
def review_decide(request: HttpRequest, pk: int) -> HttpResponse:
    """审批: destroy the item, or keep it N more years."""
    review = get_scoped_or_404(RetentionReview.objects.select_related("item"), request.user, pk=pk)
    _require(request.user, Action.DECIDE_DESTRUCTION)
    form = DecideForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, f"{review.item.archive_no}：{error}")
        return redirect("archives:retention")
    data = form.cleaned_data
    try:
        retention.review_decide(
            actor=request.user,
            review=review,
            decision=data["decision"],
            note=data["note"],
            extend_years=data["extend_years"],
        )
    except NotPermitted as error:
        messages.error(request, error.message)
    except DomainError as error:
        messages.error(request, f"{review.item.archive_no}：{error.message}")
    else:
        if data["decision"] == "destroy":
            messages.success(request, _("已批准销毁档案 %(no)s。") % {"no": review.item.archive_no})
        else:
            messages.success(
                request,
                _("档案 %(no)s 延长保管%(n)s年。") % {"no": review.item.archive_no, "n": data["extend_years"]},
            )
    return redirect("archives:retention")


# --- the merger's survey ----------------------------------------------------------------------------------------


@login_required
@require_GET
def survey_page(request: HttpRequest) -> HttpResponse:
    """并轨移交档案: the source region's records listed in the merger's survey, still to be received here."""
    user = request.user
    _require_viewer(user)
    rows = survey.survey_pending(actor=user).select_related("project", "recorded_by")
    context = {"page": _page(request, rows), "may_receive": can(user, Action.KEEP_ARCHIVES), "form": PlaceForm()}
    return render(request, "archives/survey.html", context)


@scope_model(ArchiveSurveyItem)
@login_required
@require_POST
def survey_receive(request: HttpRequest, pk: int) -> HttpResponse:
    """接收: file the survey row as an item and place its paper; the receiving clerk keeps it."""
    user = request.user
    row = survey.survey_pending(actor=user).filter(pk=pk).first()
    if row is None:
        # Not in the user's sight, or received already (the list no longer shows it): the same 404.
        raise Http404
    _require(user, Action.KEEP_ARCHIVES)
    form = PlaceForm(request.POST)
    if form.is_valid():
        try:
            item = survey.survey_receive(actor=user, survey_item=row, **form.cleaned_data)
        except NotPermitted:
            raise PermissionDenied from None
        except DomainError as error:
            form.add_domain_error(error)
        else:
            messages.success(request, _("已接收并归档：%(no)s。") % {"no": item.archive_no})
            return redirect("archives:survey")
    rows = survey.survey_pending(actor=user).select_related("project", "recorded_by")
    context = {
        "page": _page(request, rows),
        "may_receive": True,
        "form": PlaceForm(),
        "failed_row": row.pk,
        "failed_form": form,
    }
    return render(request, "archives/survey.html", context, status=400)
