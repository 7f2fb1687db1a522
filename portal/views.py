"""The web shell: each user's home page with their worklist (待办)."""

from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from agencies.models import Role
from agencies.permissions import Action, can
from enrollment import selectors
from enrollment.models import ApplicationKind, ApplicationStatus

# The oldest first, as many as a clerk works through in a sitting; the counts give the whole size.
WORKLIST_SHOWN = 100
IN_PROGRESS_SHOWN = 20

WORKLIST_TITLES = {
    Role.VILLAGE_AGENT: _("被退回、待我补正的申请"),
    Role.COUNTY_CLERK: _("被退回、待我补正的申请"),
    Role.TOWNSHIP_CLERK: _("待乡镇审核的申请"),
    Role.COUNTY_APPROVER: _("待县级审批的申请"),
}


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    worklist = selectors.application_worklist(user=user)
    by_kind = dict(worklist.order_by().values_list("kind").annotate(n=Count("id")))
    counts = [{"label": label, "count": by_kind.get(kind, 0)} for kind, label in ApplicationKind.choices]
    context = {
        "worklist": worklist[:WORKLIST_SHOWN],
        "worklist_total": sum(by_kind.values()),
        "worklist_shown": WORKLIST_SHOWN,
        "counts": counts,
        "worklist_title": WORKLIST_TITLES.get(user.role),
        "may_register": can(user, Action.SUBMIT_APPLICATION),
        "is_village_agent": user.role == Role.VILLAGE_AGENT,
    }
    if context["may_register"]:
        # What this clerk sent up and is still waiting on, so they can answer the resident who asks.
        context["in_progress"] = (
            selectors.application_queryset(user=user)
            .filter(created_by=user, status__in=[ApplicationStatus.SUBMITTED, ApplicationStatus.ACCEPTED])
            .order_by("-created_at", "-id")[:IN_PROGRESS_SHOWN]
        )
    return render(request, "portal/home.html", context)
