"""The browser side of individual accounts: the account page, the statement (对账单) printable and as .xlsx,
and a village's statements in one go. Every read goes through ``funds.selectors`` (out of scope → 404),
and reading someone's account is logged to "portal.audit" (who read whose, never the figures)."""

import logging
import tempfile
from collections.abc import Callable
from typing import IO

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from agencies.models import Region
from agencies.scope import scope_prefix
from enrollment.forms import villages_in_scope
from enrollment.models import InsuredPerson
from enrollment.views import scope_model
from funds import selectors, statements

audit = logging.getLogger("portal.audit")

FIRST_YEAR, LAST_YEAR = 1990, 2100  # the scheme began in 2009; older pilots (老农保) were merged in from the 1990s
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _year(request: HttpRequest) -> int | None:
    """The year asked for, or None for the whole life of the account (also for anything that is not a year)."""
    raw = request.GET.get("year", "").strip()
    if raw.isdigit() and FIRST_YEAR <= int(raw) <= LAST_YEAR:
        return int(raw)
    return None


def _issuer(user) -> str:
    return user.agency.name if getattr(user, "agency", None) else user.display_name


def _is_partial(request: HttpRequest) -> bool:
    return bool(request.htmx) and not request.htmx.history_restore_request


def _xlsx_response(write: Callable[[IO[bytes]], None], filename: str) -> FileResponse:
    """The workbook written to a temporary file and streamed from it: memory stays flat for a whole village."""
    handle = tempfile.TemporaryFile()  # noqa: SIM115 - the response closes it once sent, and so deletes it
    write(handle)
    handle.seek(0)
    response = FileResponse(handle, as_attachment=True, filename=filename, content_type=XLSX)
    response["Cache-Control"] = "private, no-store"
    return response


# --- one person's account ------------------------------------------------------------------------------


@scope_model(InsuredPerson)
@login_required
@require_GET
def account_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """个人账户: balance by component, entries with running balance, interest by year; a year filter."""
    account = selectors.account_for_person(user=request.user, person_id=pk)
    year = _year(request)
    audit.info("account read: user=%s person=%s year=%s", request.user.pk, account.person.pk, year or "all")
    summary = selectors.account_summary(account=account, year=year)
    context = {"account": account, "person": account.person, "summary": summary, "year": year}
    template = "funds/partials/account_period.html" if _is_partial(request) else "funds/account.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@scope_model(InsuredPerson)
@login_required
@require_GET
def statement(request: HttpRequest, pk: int) -> HttpResponse:
    """The statement laid out for paper: print it from the browser."""
    account = selectors.account_for_person(user=request.user, person_id=pk)
    year = _year(request)
    audit.info("statement read: user=%s person=%s year=%s", request.user.pk, account.person.pk, year or "all")
    context = {
        "items": [(account, selectors.account_summary(account=account, year=year))],
        "person": account.person,
        "year": year,
        "generated_at": timezone.localtime(),
        "issuer": _issuer(request.user),
    }
    return render(request, "funds/statement.html", context)


@scope_model(InsuredPerson)
@login_required
@require_GET
def statement_xlsx(request: HttpRequest, pk: int) -> FileResponse:
    account = selectors.account_for_person(user=request.user, person_id=pk)
    year = _year(request)
    audit.info("statement downloaded: user=%s person=%s year=%s", request.user.pk, account.person.pk, year or "all")
    summary = selectors.account_summary(account=account, year=year)
    person = account.person
    name = f"对账单_{person.name}_{person.insurance_number or person.pk}{f'_{year}' if year else ''}.xlsx"
    return _xlsx_response(
        lambda out: statements.statement_workbook(
            out, account=account, summary=summary, generated_at=timezone.localtime(), issuer=_issuer(request.user)
        ),
        name,
    )


# --- a village's statements ----------------------------------------------------------------------------


@login_required
@require_GET
def village_statements(request: HttpRequest) -> HttpResponse:
    """Choose a village and a year; the statements come in parts of ``VILLAGE_PART_SIZE`` persons."""
    if scope_prefix(request.user) is None:
        raise PermissionDenied  # no jurisdiction, no villages
    villages = villages_in_scope(request.user)
    chosen: Region | None = None
    code = request.GET.get("village", "").strip()
    only = list(villages[:2])
    if code:
        chosen = villages.filter(code=code).first()
    elif len(only) == 1:  # a village agent has one village
        chosen = only[0]
    context: dict = {"villages": villages, "chosen": chosen, "year": _year(request), "code": code}
    if chosen is not None:
        total, parts = selectors.village_part_count(selectors.village_accounts(user=request.user, village=chosen))
        size = selectors.VILLAGE_PART_SIZE
        context.update(
            total=total,
            part_size=size,
            parts=[
                {"number": n, "first": (n - 1) * size + 1, "last": min(n * size, total)} for n in range(1, parts + 1)
            ]
            if total
            else [],
        )
    return render(request, "funds/village_statements.html", context)


def _village_part(request: HttpRequest, pk: int):
    village = selectors.statement_village(user=request.user, village_id=pk)
    accounts = selectors.village_accounts(user=request.user, village=village)
    total, parts = selectors.village_part_count(accounts)
    raw = request.GET.get("part", "1")
    part = int(raw) if raw.isdigit() and 1 <= int(raw) <= parts else 1
    year = _year(request)
    items = selectors.village_statements(village=village, accounts=accounts, year=year, part=part)
    audit.info(
        "village statements read: user=%s village=%s year=%s part=%s persons=%s",
        request.user.pk,
        village.code,
        year or "all",
        part,
        len(items),
    )
    return village, items, year, part, parts


@scope_model(Region)
@login_required
@require_GET
def village_statements_xlsx(request: HttpRequest, pk: int) -> FileResponse:
    """One workbook, one sheet per person, built while the clerk waits (see ``VILLAGE_PART_SIZE``: a part
    takes a few seconds); a bigger village is offered in parts by the page, so no request runs long."""
    village, items, year, part, parts = _village_part(request, pk)
    suffix = (f"_{year}" if year else "") + (f"_第{part}部分" if parts > 1 else "")
    return _xlsx_response(
        lambda out: statements.village_workbook(
            out,
            village=village,
            statements=items,
            year=year,
            generated_at=timezone.localtime(),
            issuer=_issuer(request.user),
            part=part,
            parts=parts,
        ),
        f"对账单_{village.name}_{village.code}{suffix}.xlsx",
    )


@scope_model(Region)
@login_required
@require_GET
def village_statements_print(request: HttpRequest, pk: int) -> HttpResponse:
    """The same part on paper: one statement per printed page."""
    village, items, year, part, parts = _village_part(request, pk)
    context = {
        "items": items,
        "village": village,
        "year": year,
        "part": part,
        "parts": parts,
        "generated_at": timezone.localtime(),
        "issuer": _issuer(request.user),
        "title": _("%(village)s 个人账户对账单") % {"village": village.name},
    }
    return render(request, "funds/statement.html", context)
