"""The web shell: each user's home page, their work first: the queue with its due dates (待办, 办理时限), the
village agent's month, a supervisor's overdue items, dashboard and fund warnings, then the money and other cards."""

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from agencies.models import Role
from agencies.money import ZERO
from agencies.permissions import Action, can
from agencies.scope import covered_pooling_regions, scope_prefix, scoped
from archives import lending, retention
from archives import selectors as archive_selectors
from archives import survey as archive_survey
from archives.models import RetentionReview, ReviewStatus
from archives.views import may_use_archives
from benefits import calc
from benefits import selectors as benefit_selectors
from benefits.models import ClaimStatus
from enrollment import selectors
from enrollment.models import ApplicationStatus
from funds import reconciliation, selectors_bank
from funds.selectors_funds import previous_month, sweep_checks
from migration import selectors as merger_selectors
from migration.models import Step, StepState
from portal import warning, worklists

# The oldest first, as many as a clerk works through in a sitting; the counts give the whole size.
WORKLIST_SHOWN = 100
IN_PROGRESS_SHOWN = 20

WORKLIST_TITLES = {
    Role.VILLAGE_AGENT: _("被退回、待我补正的申请"),
    Role.COUNTY_CLERK: _("被退回、待我补正的申请，待转入记账的关系转移"),
    Role.TOWNSHIP_CLERK: _("待乡镇审核的申请"),
    Role.COUNTY_APPROVER: _("待县级审批的申请"),
}
# A supervisor's home lists this many of the overdue items; the work page has them all.
OVERDUE_SHOWN = 10


def _item(label, count: int, url: str, note: str = "") -> dict:
    return {"label": label, "count": count, "url": url, "note": note}


def _benefit_items(user) -> list[dict]:
    """The benefits part of the role's worklist: how many are waiting, and where to work through them."""
    if scope_prefix(user) is None:
        return []
    month = calc.month_of(timezone.localdate())
    claims = benefit_selectors.claim_queryset(user=user)
    claim_list = reverse("benefits:claim_list")
    items = []
    if user.role == Role.VILLAGE_AGENT:
        # The month's confirmations are in the village agent's month of work (portal.worklists.month_work).
        items.append(
            _item(
                _("被退回的待遇申请"),
                claims.filter(status=ClaimStatus.RETURNED, created_by=user).count(),
                f"{claim_list}?status=returned&mine=1",
            )
        )
    elif user.role == Role.TOWNSHIP_CLERK:
        items.append(
            _item(
                _("待乡镇审核的待遇申请"),
                claims.filter(status=ClaimStatus.SUBMITTED).count(),
                f"{claim_list}?status=submitted",
            )
        )
        rows = benefit_selectors.turning_60(user=user, month=calc.add_months(month, 1))
        qualifying = sum(1 for row in rows if row.eligibility.eligible)
        items.append(
            _item(
                _("下月年满60周岁"),
                len(rows),
                reverse("benefits:turning_60"),
                gettext("其中符合领取条件%(n)s人") % {"n": qualifying},
            )
        )
    elif user.role == Role.COUNTY_APPROVER:
        items.append(
            _item(
                _("待县级审批的待遇申请"),
                claims.filter(status=ClaimStatus.ACCEPTED).count(),
                f"{claim_list}?status=accepted",
            )
        )
        arrears = benefit_selectors.arrears_pending(user=user).aggregate(n=Count("id"), total=Sum("amount"))
        items.append(
            _item(
                _("待审核的待遇补发"),
                arrears["n"],
                reverse("benefits:arrears"),
                gettext("合计%(total)s元") % {"total": arrears["total"] or ZERO},
            )
        )
    return items


def _bank_items(user) -> list[dict]:
    """The partner banks' part of the fund officer's worklist: batches awaiting the bank's answer, result files
    refused and awaiting a corrected one, and this year's settled batches with failures. (The village agent's
    failed deductions are in their month of work, ``portal.worklists.month_work``.)"""
    if user.role != Role.COUNTY_FUND_OFFICER or scope_prefix(user) is None:
        return []
    batches = reverse("funds:batch_list")
    counts = selectors_bank.officer_worklist(user=user)
    return [
        _item(_("已下发、待银行回盘的批次"), counts.open, f"{batches}?todo={selectors_bank.TODO_OPEN}"),
        _item(
            _("回盘被拒收、待银行重传的批次"),
            counts.rejected,
            f"{batches}?todo={selectors_bank.TODO_REJECTED}",
            gettext("请通知银行按错误清单更正后重传"),
        ),
        _item(_("本年已结算、有失败笔数的批次"), counts.failures, f"{batches}?todo={selectors_bank.TODO_FAILURES}"),
    ]


def _fund_items(user) -> list[dict]:
    """The fund officer's fund accounts: open reconciliation differences, and whether last month's income was
    swept to the fiscal special account in every pooling region they cover (income holds nothing at month end)."""
    if user.role != Role.COUNTY_FUND_OFFICER or scope_prefix(user) is None:
        return []
    regions = covered_pooling_regions(user=user)
    month = previous_month(timezone.localdate())
    waiting = [check for check in sweep_checks(regions=regions, month=month) if not check.done]
    if waiting:
        note = gettext("%(month)s末收入户尚有%(total)s元未归集：%(regions)s") % {
            "month": f"{month:%Y年%m月}",
            "total": sum((check.total for check in waiting), ZERO),
            "regions": "、".join(check.pooling_region.name for check in waiting),
        }
    else:
        note = gettext("%(month)s：已全部归集") % {"month": f"{month:%Y年%m月}"}
    return [
        _item(
            _("待处理的对账差异"),
            reconciliation.open_differences(user=user).count(),
            reverse("funds:fund_reconciliation"),
            gettext("三方对账发现、尚未处理的差异"),
        ),
        _item(_("上月收入户未归集的统筹区"), len(waiting), reverse("funds:fund_accounts"), note),
    ]


def _payroll_of_the_month(user) -> list[dict]:
    """For the fund officer: each pooling region wholly in scope, and where its payroll of the month stands."""
    if user.role != Role.COUNTY_FUND_OFFICER or scope_prefix(user) is None:
        return []
    month = calc.month_of(timezone.localdate())
    runs = {run.pooling_region_id: run for run in benefit_selectors.payroll_run_queryset(user=user).filter(month=month)}
    return [
        {"pooling_region": region, "month": month, "run": runs.get(region.pk)}
        for region in covered_pooling_regions(user=user)
    ]


def _merger_card(user) -> dict | None:
    """For the city supervisor: the district mergers in their jurisdiction, and how many are not yet cut over."""
    if not can(user, Action.RUN_MERGER) or scope_prefix(user) is None:
        return None
    projects = merger_selectors.project_list(user=user)
    return {
        "total": projects.count(),
        "open": projects.exclude(steps__step=Step.CUTOVER, steps__state=StepState.DONE).count(),
    }


def _archives_card(user) -> dict | None:
    """For those whose work touches the archives: what they keep, what is overdue, what is due for review (and, for
    the approver, the proposals to decide), and the merger's survey rows still to be received."""
    if not may_use_archives(user):
        return None
    keeps = can(user, Action.KEEP_ARCHIVES)
    card = {
        "custody": archive_selectors.custody(user=user, keeper=user).count() if keeps else None,
        "overdue": lending.overdue_loans(actor=user).count(),
        "due": retention.retention_due(actor=user).count(),
        "survey": archive_survey.survey_pending(actor=user).count(),
        "may_file": keeps,
        "proposals": None,
    }
    if can(user, Action.DECIDE_DESTRUCTION):
        card["proposals"] = scoped(RetentionReview.objects.filter(status=ReviewStatus.PROPOSED), user).count()
    return card


def _supervision(user, today) -> dict | None:
    """For a supervisor: every open item of the jurisdiction past its limit."""
    if not worklists.is_supervisor(user) or scope_prefix(user) is None:
        return None
    late = worklists.overdue_head(user=user, today=today, shown=OVERDUE_SHOWN)
    return {
        "overdue": late.items,
        "overdue_total": late.total,
        "overdue_shown": OVERDUE_SHOWN,
        "counts": late.counts,
    }


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    today = timezone.localdate()
    title = WORKLIST_TITLES.get(user.role)
    # Counted from a few columns of the whole queue; only the rows shown are read in full.
    queue = worklists.queue_index(user=user, today=today) if title else worklists.WorkIndex.empty()
    context = {
        "worklist": queue.load(queue.keys[:WORKLIST_SHOWN]),
        "worklist_total": queue.total,
        "worklist_shown": WORKLIST_SHOWN,
        "worklist_overdue": queue.overdue,
        "worklist_due_soon": queue.due_soon,
        "counts": [{"label": label, "count": count} for label, count in queue.counts],
        "worklist_title": title,
        "month_work": worklists.month_work(user=user, today=today),
        "supervision": _supervision(user, today),
        # 基金预警 for those who read it (the city supervisor, the fund officers): the covered pooling regions below
        # the threshold set for them.
        "fund_warnings": warning.warnings(user=user, today=today) if warning.may_read(user) else None,
        "may_register": can(user, Action.SUBMIT_APPLICATION),
        "is_village_agent": user.role == Role.VILLAGE_AGENT,
        # The bank items go with the benefits items: the page has one panel of money worklists.
        "benefit_items": _benefit_items(user) + _bank_items(user) + _fund_items(user),
        "payroll_of_the_month": _payroll_of_the_month(user),
        "merger": _merger_card(user),
        "archives": _archives_card(user),
    }
    if context["may_register"]:
        # What this clerk sent up and is still waiting on, so they can answer the resident who asks.
        context["in_progress"] = (
            selectors.application_queryset(user=user)
            .filter(created_by=user, status__in=[ApplicationStatus.SUBMITTED, ApplicationStatus.ACCEPTED])
            .order_by("-created_at", "-id")[:IN_PROGRESS_SHOWN]
        )
    return render(request, "portal/home.html", context)
