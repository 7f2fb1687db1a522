"""The demo benefits that ``seed_demo`` loads: every category, two confirmed payrolls, open claims, a rerun
that adds nothing; and the benefits admin pages, read-only, over them."""

import io

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.db.models import Sum
from django.urls import reverse

from agencies.models import User
from benefits.models import Award, AwardCategory, Claim, ClaimStatus, PayrollRun, PayrollStatus, PensionParameters
from funds.management.commands.check_balances import balance_mismatches
from funds.models import EntryKind, LedgerEntry

pytestmark = pytest.mark.django_db


def _counts() -> tuple:
    return (
        PensionParameters.objects.count(),
        Award.objects.count(),
        Claim.objects.count(),
        PayrollRun.objects.count(),
        LedgerEntry.objects.count(),
    )


def test_seed_demo_benefits(client):
    # when
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    # then: the central minimum's history in every pooling region, 143 from 2025
    assert PensionParameters.objects.filter(central_minimum=143).count() == 4
    assert PensionParameters.objects.count() == 28
    awards = Award.objects.filter(region_code__startswith="320412101")
    for category in AwardCategory:
        assert awards.filter(category=category).exists(), category
    monthly = awards.filter(category=AwardCategory.MONTHLY_PENSION)
    assert all(a.years_paid >= 15 and a.account_pension > 0 for a in monthly)
    runs = list(PayrollRun.objects.order_by("month"))
    assert [f"{r.month:%Y-%m}" for r in runs] == ["2026-09", "2026-10"]
    for run in runs:
        assert run.status == PayrollStatus.CONFIRMED
        assert run.lines_count == awards.count()
        assert run.total == run.lines.aggregate(s=Sum("total"))["s"]
        debits = LedgerEntry.objects.filter(kind=EntryKind.PENSION, reference__startswith=f"payroll:{run.pk}:")
        assert -debits.aggregate(s=Sum("amount"))["s"] == run.account_paid_total > 0
    open_states = set(Claim.objects.exclude(status=ClaimStatus.APPROVED).values_list("status", flat=True))
    assert open_states == {ClaimStatus.SUBMITTED, ClaimStatus.ACCEPTED, ClaimStatus.RETURNED}
    assert "下月年满60周岁" in out.getvalue()
    assert balance_mismatches() == []
    # and again: nothing added
    before = _counts()
    call_command("seed_demo", stdout=io.StringIO())
    assert _counts() == before
    _admin_pages(client, User.objects.get(username="admin"))


def _admin_pages(client, user) -> None:
    """Every benefits model's list and first record open for the city's administrator, and none can be edited."""
    client.force_login(user)
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label != "benefits":
            continue
        opts = model._meta
        response = client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        assert response.status_code == 200, opts.model_name
        request = response.wsgi_request
        assert not model_admin.has_add_permission(request)
        first = model_admin.get_queryset(request).first()
        if first is not None:
            page = client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[first.pk]))
            assert page.status_code == 200, opts.model_name
            assert not model_admin.has_change_permission(request, first)
