"""Every write of the benefits app but the payroll (``benefits.payroll``): parameters and recalculation,
claims and awards, eligibility checks, deaths, overpayments and their recovery, transfers.

Each service takes keyword-only arguments, runs in one transaction, writes an ``AwardEvent`` for each state
change and refuses with a ``DomainError`` whose Chinese message a clerk can act on. Money moves in the
individual accounts only through ``funds`` services.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.db.models import Sum
from django.utils import timezone

from agencies.errors import Conflict, DomainError, NotPermitted
from agencies.models import PoolingRegion, Region, RegionLevel
from agencies.money import ZERO, parse_money
from agencies.permissions import Action, can, require
from agencies.records import file_record
from agencies.scope import code_in_scope, covers_pooling_region, scope_prefix
from benefits import calc
from benefits.models import (
    OPEN_CLAIM_STATUSES,
    Arrear,
    ArrearStatus,
    Award,
    AwardCategory,
    AwardEvent,
    AwardPeriod,
    AwardStatus,
    Claim,
    ClaimStatus,
    DeathListLoad,
    DeathRecord,
    DeathSettlement,
    LineKind,
    MonthlyConfirmation,
    Overpayment,
    OverpaymentStatus,
    PayrollLine,
    PayrollRun,
    PayrollStatus,
    PensionParameters,
    Recalculation,
    RecoveryMethod,
    RecoveryStep,
    StopReason,
    Transfer,
    TransferKind,
    TransferStatus,
    YearlyCheck,
    YearsCredit,
    YearsCreditKind,
)
from benefits.records import claim_record
from enrollment import idnumber
from enrollment.models import DualEnrollmentFlag, InsuredPerson, PersonStatus
from enrollment.services import person_cancel, person_rehome
from funds.bulk import split_in_proportion
from funds.models import BALANCE_COLUMN, Component, EntryKind, IndividualAccount
from funds.services import Posting, account_open, ledger_post
from funds.settlement import settle_account_year, settle_closing

PARAMETER_FIELDS = (
    "central_minimum",
    "local_top_up",
    "per_year_beyond_minimum",
    "addition_at_65",
    "addition_at_80",
    "urban_elderly_allowance",
    "funeral_grant_fixed",
)
PARAMETER_INTEGERS = ("account_divisor", "pension_age", "minimum_years")
GOVERNMENT_COMPONENTS = (Component.GOVERNMENT_SUBSIDY, Component.GOVERNMENT_PAID)
# A month's payroll being confirmed has its lines fixed: what they pay is paid, what they leave out is missed.
SETTLED_RUNS = (PayrollStatus.CONFIRMING, PayrollStatus.CONFIRMED)


def _today() -> dt.date:
    return timezone.localdate()


def _require_in_scope(actor, region_code: str) -> None:
    if not code_in_scope(actor, region_code):
        raise DomainError("该记录不在您的管辖范围内。", code="out_of_scope")


def _event(
    *,
    actor,
    action: str,
    claim: Claim | None = None,
    award: Award | None = None,
    from_status: str = "",
    to_status: str = "",
    note: str = "",
) -> None:
    region_code = (award or claim).region_code
    AwardEvent.objects.create(
        region_code=region_code,
        claim=claim,
        award=award,
        action=action,
        from_status=from_status,
        to_status=to_status,
        actor=actor,
        note=note,
    )


def _parse_id(raw: str, *, field: str, today: dt.date) -> idnumber.IdentityNumber:
    try:
        return idnumber.parse(raw, today=today)
    except idnumber.IdNumberError as error:
        raise DomainError(error.message, code=error.code, field=field) from None


def _save(instance, *, actor, reason: str) -> None:
    instance._history_user = actor
    instance._change_reason = reason
    instance.save()


# --- parameters --------------------------------------------------------------------------------------------


def as_parameters(row: PensionParameters) -> calc.Parameters:
    return calc.Parameters(
        central_minimum=row.central_minimum,
        local_top_up=row.local_top_up,
        per_year_beyond_minimum=row.per_year_beyond_minimum,
        addition_at_65=row.addition_at_65,
        addition_at_80=row.addition_at_80,
        urban_elderly_allowance=row.urban_elderly_allowance,
        account_divisor=row.account_divisor,
        pension_age=row.pension_age,
        minimum_years=row.minimum_years,
        funeral_grant_fixed=row.funeral_grant_fixed,
        funeral_grant_months=row.funeral_grant_months,
    )


def parameter_rows(pooling_region: PoolingRegion) -> list[PensionParameters]:
    return list(PensionParameters.objects.filter(pooling_region=pooling_region).order_by("valid_from"))


def parameters_for(pooling_region: PoolingRegion, month: dt.date) -> PensionParameters:
    row = (
        PensionParameters.objects.filter(pooling_region=pooling_region, valid_from__lte=month)
        .order_by("-valid_from")
        .first()
    )
    if row is None:
        raise DomainError(
            f"{pooling_region.name}尚未设置{month:%Y年%m月}适用的待遇计发参数，请先由市级设置。", code="no_parameters"
        )
    return row


def pension_parameters_set(
    *, actor, pooling_region: PoolingRegion, valid_from: dt.date, values: dict, note: str = ""
) -> tuple[PensionParameters, Recalculation | None]:
    """Enter the parameters in effect from a month on, and recalculate every affected award from that month.

    ``values`` holds the amounts as text (or Decimal); fields not given keep the previous row's value.
    """
    require(actor, Action.SET_PENSION_PARAMETERS)
    if not covers_pooling_region(actor, pooling_region):
        raise DomainError(f"{pooling_region.name}不全在您的管辖范围内，不能设置其待遇计发参数。", code="out_of_scope")
    valid_from = calc.month_of(valid_from)
    given: dict = {}
    for name in PARAMETER_FIELDS:
        if name in values and values[name] not in (None, ""):
            given[name] = parse_money(values[name], field=name, allow_zero=True)
    months = values.get("funeral_grant_months")
    if months not in (None, ""):
        refusal = DomainError(
            "丧葬补助金倍数须为0至100之间的数，最多两位小数，例如 10 或 2.5。", field="funeral_grant_months"
        )
        if isinstance(months, float):
            raise TypeError("multiples are Decimal or text, never float")
        try:
            multiple = Decimal(str(months).strip())
        except ArithmeticError:
            raise refusal from None
        if not multiple.is_finite() or not 0 <= multiple <= 100 or multiple != multiple.quantize(Decimal("0.01")):
            raise refusal
        given["funeral_grant_months"] = multiple
    for name in PARAMETER_INTEGERS:
        raw = values.get(name)
        if raw in (None, ""):
            continue
        try:
            given[name] = int(raw)
        except (TypeError, ValueError):
            raise DomainError(f"{PensionParameters._meta.get_field(name).verbose_name}须为整数。", field=name) from None
        if given[name] <= 0:
            raise DomainError(f"{PensionParameters._meta.get_field(name).verbose_name}须大于0。", field=name)
    with transaction.atomic():
        # One change at a time per region: each recalculation must see the rows entered before it, and claims
        # approved meanwhile must see this one (claim_approve shares this lock).
        PoolingRegion.objects.select_for_update().get(pk=pooling_region.pk)
        if PensionParameters.objects.filter(pooling_region=pooling_region, valid_from=valid_from).exists():
            raise Conflict(
                f"{pooling_region.name}已有{valid_from:%Y年%m月}起执行的参数；参数按月份生效，请选择新的执行月份。",
                code="parameters_exist",
                field="valid_from",
            )
        previous = (
            PensionParameters.objects.filter(pooling_region=pooling_region, valid_from__lt=valid_from)
            .order_by("-valid_from")
            .first()
        )
        fields: dict = {}
        for name in (*PARAMETER_FIELDS, "funeral_grant_months", *PARAMETER_INTEGERS):
            if name in given:
                fields[name] = given[name]
            elif previous is not None:
                fields[name] = getattr(previous, name)
            else:
                default = PensionParameters._meta.get_field(name).default
                fields[name] = ZERO if name in PARAMETER_FIELDS or name == "funeral_grant_months" else default
        if fields["central_minimum"] <= 0:
            raise DomainError("中央基础养老金最低标准须大于0。", field="central_minimum")
        row = PensionParameters(
            pooling_region=pooling_region, valid_from=valid_from, note=note, created_by=actor, **fields
        )
        _save(row, actor=actor, reason="设置待遇计发参数")
        recalculation = awards_recalculate(actor=actor, parameters=row)
    return row, recalculation


def _share_pooling_region(pooling_region: PoolingRegion) -> None:
    """Hold off a parameter change of the region (which locks it for update) until this transaction ends."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM agencies_poolingregion WHERE id = %s FOR SHARE", [pooling_region.pk])


def _award_periods(award: Award, *, rows: list[PensionParameters], from_month: dt.date) -> list[AwardPeriod]:
    """The periods of ``award`` from ``from_month`` on, computed from the region's parameter rows."""
    by_month = [(row.valid_from, row) for row in rows]
    months = calc.change_months(
        start=from_month,
        birth_date=award.birth_date,
        parameter_months=[row.valid_from for row in rows],
        until=award.paid_until if award.status == AwardStatus.STOPPED else None,
    )
    periods = []
    for month in months:
        row = calc.parameters_in_effect(by_month, month)
        if row is None:
            raise DomainError(
                f"{award.pooling_region.name}尚未设置{month:%Y年%m月}适用的待遇计发参数。", code="no_parameters"
            )
        amounts = calc.monthly_amounts(
            as_parameters(row),
            category=award.category,
            years_paid=award.years_paid,
            birth_date=award.birth_date,
            month=month,
            account_part=award.account_pension,
        )
        periods.append(
            AwardPeriod(
                award=award,
                valid_from=month,
                parameters=row,
                central_minimum=amounts.central_minimum,
                local_top_up=amounts.local_top_up,
                years_addition=amounts.years_addition,
                age_addition=amounts.age_addition,
                urban_allowance=amounts.urban_allowance,
                basic_pension=amounts.basic_pension,
                account_pension=amounts.account_pension,
                total=amounts.total,
            )
        )
    return periods


def period_in_effect(award: Award, month: dt.date) -> AwardPeriod | None:
    return award.periods.filter(replaced_by__isnull=True, valid_from__lte=month).order_by("-valid_from").first()


RECALCULATION_CHUNK = 2000


def awards_recalculate(*, actor, parameters: PensionParameters) -> Recalculation | None:
    """Recalculate every award of the region from the parameters' month, and list the back pay due for months
    already paid at the old amount (an ``Arrear`` each, pending review; negative where the amount fell).

    Old periods from that month on are kept, marked replaced. Runs inside the caller's transaction.
    """
    pooling_region = parameters.pooling_region
    from_month = parameters.valid_from
    awards = Award.objects.filter(pooling_region=pooling_region).exclude(
        status=AwardStatus.STOPPED, paid_until__lte=from_month
    )
    if not awards.exists():
        return None
    rows = parameter_rows(pooling_region)
    recalculation = Recalculation.objects.create(
        pooling_region=pooling_region, parameters=parameters, from_month=from_month, actor=actor
    )
    changed = 0
    arrears_total = ZERO
    last_id = 0
    while True:
        chunk = list(
            awards.filter(id__gt=last_id).select_related("pooling_region").order_by("id")[:RECALCULATION_CHUNK]
        )
        if not chunk:
            break
        last_id = chunk[-1].id
        new_periods: list[AwardPeriod] = []
        by_month: dict[dt.date, list[int]] = {}
        for award in chunk:
            # An award starting after the month is recalculated whole: its start may fall under the new row.
            recalc_from = max(from_month, award.start_month)
            periods = _award_periods(award, rows=rows, from_month=recalc_from)
            if not periods:
                continue
            for period in periods:
                period.recalculation = recalculation
            new_periods.extend(periods)
            by_month.setdefault(recalc_from, []).append(award.id)
        for month, ids in by_month.items():
            AwardPeriod.objects.filter(award_id__in=ids, replaced_by__isnull=True, valid_from__gte=month).update(
                replaced_by=recalculation
            )
        AwardPeriod.objects.bulk_create(new_periods, batch_size=5000)
        ids = [award_id for ids in by_month.values() for award_id in ids]
        changed += len(ids)
        arrears_total += _arrears_for(ids=ids, recalculation=recalculation, from_month=from_month)
    recalculation.awards_changed = changed
    recalculation.arrears_total = arrears_total
    recalculation.save(update_fields=["awards_changed", "arrears_total"])
    return recalculation


def _arrears_for(*, ids: list[int], recalculation: Recalculation, from_month: dt.date) -> Decimal:
    """Back pay for months from ``from_month`` already settled: due at the new amount − what was paid for the
    month (its pension line in a payroll confirmed or being confirmed) and what is listed already as back pay for it (by an earlier
    recalculation, or for a month missed while suspended). Months from a stop on are left out: what was paid for
    them is an overpayment, not a payment at the wrong amount."""
    settled: dict[tuple[int, dt.date], Decimal] = {}
    for award_id, month, total in PayrollLine.objects.filter(
        award_id__in=ids,
        kind=LineKind.PENSION,
        run__status__in=SETTLED_RUNS,
        run__month__gte=from_month,
    ).values_list("award_id", "run__month", "total"):
        settled[(award_id, month)] = settled.get((award_id, month), ZERO) + total
    for award_id, month, amount in (
        Arrear.objects.filter(award_id__in=ids, month__gte=from_month)
        .exclude(recalculation=recalculation)
        .values_list("award_id", "month", "amount")
    ):
        settled[(award_id, month)] = settled.get((award_id, month), ZERO) + amount
    stopped_from = dict(Award.objects.filter(id__in=ids, status=AwardStatus.STOPPED).values_list("id", "paid_until"))
    periods: dict[int, list[tuple[dt.date, AwardPeriod]]] = {}
    for period in AwardPeriod.objects.filter(award_id__in=ids, replaced_by__isnull=True).order_by("valid_from"):
        periods.setdefault(period.award_id, []).append((period.valid_from, period))
    arrears = []
    total = ZERO
    for (award_id, month), paid in sorted(settled.items()):
        if award_id in stopped_from and month >= stopped_from[award_id]:
            continue
        due = calc.parameters_in_effect(periods.get(award_id, []), month)
        due_total = due.total if due is not None else ZERO
        if due_total != paid:
            arrears.append(
                Arrear(
                    award_id=award_id,
                    recalculation=recalculation,
                    month=month,
                    paid_amount=paid,
                    due_amount=due_total,
                    amount=due_total - paid,
                )
            )
            total += due_total - paid
    Arrear.objects.bulk_create(arrears, batch_size=5000)
    return total


def arrears_review(*, actor, arrears: Iterable[Arrear]) -> int:
    """The county approves listed back pay; the next payroll pays it."""
    require(actor, Action.MANAGE_AWARD)
    ids = []
    for arrear in arrears:
        _require_in_scope(actor, arrear.award.region_code)
        ids.append(arrear.pk)
    return Arrear.objects.filter(pk__in=ids, status=ArrearStatus.PENDING).update(
        status=ArrearStatus.APPROVED, reviewed_by=actor
    )


# --- claims and awards -------------------------------------------------------------------------------------


def years_paid(person: InsuredPerson) -> int:
    """Contribution years on record (each year counted once) plus credited years (deemed, transferred)."""
    from contributions.models import Contribution  # a sibling app's record of the years paid

    paid = Contribution.objects.filter(person=person).values("year").distinct().count()
    credited = YearsCredit.objects.filter(person=person).aggregate(total=Sum("years"))["total"] or 0
    return paid + credited


def _other_pension(person: InsuredPerson) -> bool:
    return DualEnrollmentFlag.objects.filter(person=person, resolved_at__isnull=True).exists()


def claim_eligibility(*, person: InsuredPerson, category: str, on: dt.date) -> calc.Eligibility:
    pooling_region = person.village.effective_pooling_region()
    if pooling_region is None:
        raise DomainError("参保人所在村未归属任何统筹区。", code="no_pooling_region")
    row = parameters_for(pooling_region, calc.month_of(on))
    return calc.eligibility(
        category=category,
        birth_date=person.birth_date,
        claim_month=calc.month_of(on),
        scheme_started_on=pooling_region.scheme_started_on,
        years_paid=years_paid(person),
        other_pension=_other_pension(person),
        params=as_parameters(row),
    )


def claim_submit(
    *,
    actor,
    person: InsuredPerson,
    category: str = AwardCategory.MONTHLY_PENSION,
    bank_code: str = "",
    bank_account: str = "",
    today: dt.date | None = None,
) -> Claim:
    """待遇申请: refused with every missing condition listed, or sent to the township."""
    require(actor, Action.SUBMIT_CLAIM)
    _require_in_scope(actor, person.region_code)
    today = today or _today()
    if category not in AwardCategory.values:
        raise DomainError("请选择待遇类别。", field="category")
    if person.status != PersonStatus.ACTIVE:
        raise Conflict(f"{person.name}的参保状态为“{person.get_status_display()}”，不能申请待遇。", code="not_active")
    if Award.objects.filter(person=person, status__in=[AwardStatus.ACTIVE, AwardStatus.SUSPENDED]).exists():
        raise Conflict(f"{person.name}已在领取待遇，不能重复申请。", code="award_exists")
    result = claim_eligibility(person=person, category=category, on=today)
    if not result.eligible:
        raise DomainError("不符合待遇领取条件：" + "".join(result.missing), code="not_eligible")
    claim = Claim(
        person=person,
        region_code=person.region_code,
        category=category,
        eligible_from=result.eligible_from,
        years_paid=result.years_paid,
        bank_code=(bank_code or person.bank_code).strip(),
        bank_account=(bank_account or person.bank_account).strip(),
        created_by=actor,
    )
    try:
        with transaction.atomic():
            _save(claim, actor=actor, reason="提交待遇申请")
            _event(actor=actor, action="submit", claim=claim, to_status=claim.status)
            file_record(claim_record(claim))
    except IntegrityError:
        raise Conflict(f"{person.name}已有在办的待遇申请。", code="open_claim") from None
    return claim


def _lock_claim(claim: Claim) -> Claim:
    return Claim.objects.select_for_update().select_related("person").get(pk=claim.pk)


def _require_claim_status(claim: Claim, *expected: str) -> None:
    if claim.status not in expected:
        raise Conflict(f"该申请当前状态为“{claim.get_status_display()}”，不能办理此操作。", code="wrong_status")


def _refuse_own(claim: Claim, actor) -> None:
    if claim.created_by_id == actor.pk:
        raise NotPermitted("录入人不能审核或审批自己录入的申请。", code="own_claim")


def claim_accept(*, actor, claim: Claim, note: str = "") -> Claim:
    require(actor, Action.TOWNSHIP_REVIEW)
    _require_in_scope(actor, claim.region_code)
    with transaction.atomic():
        claim = _lock_claim(claim)
        _require_claim_status(claim, ClaimStatus.SUBMITTED)
        _refuse_own(claim, actor)
        claim.status = ClaimStatus.ACCEPTED
        claim.reviewed_by = actor
        claim.reviewed_at = timezone.now()
        _save(claim, actor=actor, reason="乡镇审核通过")
        _event(
            actor=actor,
            action="accept",
            claim=claim,
            from_status=ClaimStatus.SUBMITTED,
            to_status=claim.status,
            note=note,
        )
    return claim


def claim_return(*, actor, claim: Claim, reason: str) -> Claim:
    if not (can(actor, Action.TOWNSHIP_REVIEW) or can(actor, Action.COUNTY_APPROVE)):
        raise NotPermitted()
    _require_in_scope(actor, claim.region_code)
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("请填写退回原因。", field="reason")
    with transaction.atomic():
        claim = _lock_claim(claim)
        _require_claim_status(claim, ClaimStatus.SUBMITTED, ClaimStatus.ACCEPTED)
        _refuse_own(claim, actor)
        before = claim.status
        claim.status = ClaimStatus.RETURNED
        claim.return_reason = reason
        _save(claim, actor=actor, reason="退回")
        _event(actor=actor, action="return", claim=claim, from_status=before, to_status=claim.status, note=reason)
    return claim


def claim_resubmit(*, actor, claim: Claim, today: dt.date | None = None) -> Claim:
    _require_in_scope(actor, claim.region_code)
    with transaction.atomic():
        claim = _lock_claim(claim)
        _require_claim_status(claim, ClaimStatus.RETURNED)
        if claim.created_by_id != actor.pk:
            raise NotPermitted("只有录入人可以重新提交或撤回申请。", code="not_creator")
        result = claim_eligibility(person=claim.person, category=claim.category, on=today or _today())
        if not result.eligible:
            raise DomainError("不符合待遇领取条件：" + "".join(result.missing), code="not_eligible")
        claim.status = ClaimStatus.SUBMITTED
        claim.years_paid = result.years_paid
        claim.return_reason = ""
        _save(claim, actor=actor, reason="重新提交")
        _event(actor=actor, action="resubmit", claim=claim, from_status=ClaimStatus.RETURNED, to_status=claim.status)
    return claim


def claim_withdraw(*, actor, claim: Claim, reason: str = "") -> Claim:
    _require_in_scope(actor, claim.region_code)
    with transaction.atomic():
        claim = _lock_claim(claim)
        _require_claim_status(claim, *OPEN_CLAIM_STATUSES)
        if claim.created_by_id != actor.pk:
            raise NotPermitted("只有录入人可以重新提交或撤回申请。", code="not_creator")
        before = claim.status
        claim.status = ClaimStatus.WITHDRAWN
        _save(claim, actor=actor, reason="撤回")
        _event(actor=actor, action="withdraw", claim=claim, from_status=before, to_status=claim.status, note=reason)
    return claim


def claim_approve(*, actor, claim: Claim, today: dt.date | None = None) -> Award:
    """The county approves: interest settled up to the start month, the account pension fixed, the award made."""
    require(actor, Action.COUNTY_APPROVE)
    _require_in_scope(actor, claim.region_code)
    today = today or _today()
    with transaction.atomic():
        claim = _lock_claim(claim)
        _require_claim_status(claim, ClaimStatus.ACCEPTED)
        _refuse_own(claim, actor)
        person = InsuredPerson.objects.select_for_update().get(pk=claim.person_id)
        result = claim_eligibility(person=person, category=claim.category, on=today)
        if not result.eligible:
            raise DomainError("不符合待遇领取条件：" + "".join(result.missing), code="not_eligible")
        pooling_region = person.village.effective_pooling_region()
        _share_pooling_region(pooling_region)
        start = calc.start_month(eligible_from=result.eligible_from, approved_on=today)
        row = parameters_for(pooling_region, start)
        balance = ZERO
        account_part = ZERO
        if claim.category == AwardCategory.MONTHLY_PENSION:
            account = account_open(person=person, opened_on=today)
            # The account pension is the balance at the start, after the interest of the months before it: for a
            # January start that is the old year's whole interest, settled now for this one account.
            settled = False
            if start.month == 1:
                try:
                    settle_account_year(account=account, year=start.year - 1, actor=actor)
                    settled = True
                except DomainError as refusal:
                    if refusal.code != "no_interest_rate":
                        raise  # with no rate for the old year there is nothing to settle for it
            if not settled:
                settle_closing(account=account, closing_date=start, actor=actor)
            account.refresh_from_db()
            balance = account.balance
            account_part = calc.account_pension(balance, row.account_divisor)
        award = Award(
            person=person,
            claim=claim,
            region_code=person.region_code,
            pooling_region=pooling_region,
            category=claim.category,
            start_month=start,
            birth_date=person.birth_date,
            years_paid=result.years_paid,
            account_balance_at_start=balance,
            account_divisor=row.account_divisor,
            account_pension=account_part,
            bank_code=claim.bank_code,
            bank_account=claim.bank_account,
            approved_by=actor,
        )
        try:
            with transaction.atomic():
                _save(award, actor=actor, reason="待遇核定")
        except IntegrityError:
            raise Conflict(f"{person.name}已有正在发放的待遇。", code="award_exists") from None
        AwardPeriod.objects.bulk_create(_award_periods(award, rows=parameter_rows(pooling_region), from_month=start))
        claim.status = ClaimStatus.APPROVED
        claim.years_paid = result.years_paid
        claim.decided_by = actor
        claim.decided_at = timezone.now()
        _save(claim, actor=actor, reason="县级审批通过")
        _event(
            actor=actor,
            action="approve",
            claim=claim,
            award=award,
            from_status=ClaimStatus.ACCEPTED,
            to_status=claim.status,
            note=f"自{start:%Y年%m月}起发放",
        )
    return award


def _lock_award(award: Award) -> Award:
    # Only the award's row, not its person's and pooling region's (that would queue every award of the region).
    return Award.objects.select_for_update(of=("self",)).select_related("person", "pooling_region").get(pk=award.pk)


def award_suspend(*, actor, award: Award, from_month: dt.date, reason: str, note: str = "") -> Award:
    """Stop paying from ``from_month`` until resumed (暂停发放)."""
    if not (can(actor, Action.MANAGE_AWARD) or can(actor, Action.CONFIRM_RECIPIENTS)):
        raise NotPermitted()
    _require_in_scope(actor, award.region_code)
    _require_stop_reason(reason)
    with transaction.atomic():
        award = _lock_award(award)
        if award.status != AwardStatus.ACTIVE:
            raise Conflict(f"该待遇当前为“{award.get_status_display()}”，不能暂停。", code="wrong_status")
        award.status = AwardStatus.SUSPENDED
        award.paid_until = max(calc.month_of(from_month), award.start_month)
        award.stop_reason = reason
        award.stop_note = note
        _save(award, actor=actor, reason="暂停发放")
        _event(
            actor=actor,
            action="suspend",
            award=award,
            from_status=AwardStatus.ACTIVE,
            to_status=award.status,
            note=f"自{award.paid_until:%Y年%m月}起暂停：{note or award.get_stop_reason_display()}",
        )
    return award


def award_resume(*, actor, award: Award, note: str = "", today: dt.date | None = None) -> Award:
    """Resume a suspended award. Months it missed in payrolls confirmed (or being confirmed) become approved back
    pay, paid with the next payroll."""
    require(actor, Action.MANAGE_AWARD)
    _require_in_scope(actor, award.region_code)
    today = today or _today()
    with transaction.atomic():
        award = _lock_award(award)
        if award.status != AwardStatus.SUSPENDED:
            raise Conflict("只有暂停发放的待遇可以恢复。", code="wrong_status")
        missed_from = award.paid_until
        award.status = AwardStatus.ACTIVE
        award.paid_until = None
        award.stop_reason = ""
        award.stop_note = ""
        _save(award, actor=actor, reason="恢复发放")
        missed = ZERO
        # A month counts as paid when a confirmed payroll paid it, or when it is back pay already (a suspension
        # entered again over months an earlier resumption paid).
        paid_months = set(
            PayrollLine.objects.filter(award=award, kind=LineKind.PENSION, run__status__in=SETTLED_RUNS).values_list(
                "run__month", flat=True
            )
        )
        paid_months.update(
            Arrear.objects.filter(award=award, recalculation__isnull=True).values_list("month", flat=True)
        )
        for run_month in (
            PayrollRun.objects.filter(
                pooling_region=award.pooling_region, status__in=SETTLED_RUNS, month__gte=missed_from
            )
            .order_by("month")
            .values_list("month", flat=True)
        ):
            if run_month in paid_months:
                continue
            period = period_in_effect(award, run_month)
            due = period.total if period else ZERO
            Arrear.objects.create(
                award=award,
                month=run_month,
                paid_amount=ZERO,
                due_amount=due,
                amount=due,
                status=ArrearStatus.APPROVED,
                reviewed_by=actor,
            )
            missed += due
        _event(
            actor=actor,
            action="resume",
            award=award,
            from_status=AwardStatus.SUSPENDED,
            to_status=award.status,
            note=f"{note}（暂停期间应发{missed}元，随下月补发）" if missed else note,
        )
    return award


def _stop(award: Award, *, actor, paid_until: dt.date, reason: str, note: str) -> Award:
    before = award.status
    award.status = AwardStatus.STOPPED
    award.paid_until = max(paid_until, award.start_month)
    award.stop_reason = reason
    award.stop_note = note
    _save(award, actor=actor, reason="终止发放")
    _event(
        actor=actor,
        action="stop",
        award=award,
        from_status=before,
        to_status=award.status,
        note=f"自{award.paid_until:%Y年%m月}起终止：{note or award.get_stop_reason_display()}",
    )
    return award


def _require_stop_reason(reason: str) -> None:
    if reason not in StopReason.values:
        raise DomainError("请选择停发原因。", field="reason")


def award_stop(*, actor, award: Award, from_month: dt.date, reason: str, note: str = "") -> Award:
    require(actor, Action.MANAGE_AWARD)
    _require_in_scope(actor, award.region_code)
    _require_stop_reason(reason)
    with transaction.atomic():
        award = _lock_award(award)
        if award.status == AwardStatus.STOPPED:
            raise Conflict("该待遇已终止发放。", code="wrong_status")
        _stop(award, actor=actor, paid_until=calc.month_of(from_month), reason=reason, note=note)
        # Stopped from a month already paid (fraud found late, say): what was paid since is to be recovered.
        _overpayment_create(actor=actor, award=award, reason=reason, first_month=award.paid_until)
    return award


# --- eligibility checks ------------------------------------------------------------------------------------


def monthly_confirmation_record(
    *, actor, award: Award, month: dt.date, alive: bool, stop_reason: str = "", note: str = ""
) -> MonthlyConfirmation:
    """The village agent confirms a recipient for the month, or reports them for stopping (suspended from the
    next month, for the county to stop or resume)."""
    require(actor, Action.CONFIRM_RECIPIENTS)
    _require_in_scope(actor, award.region_code)
    month = calc.month_of(month)
    if not alive:
        if stop_reason not in StopReason.values:
            raise DomainError("请选择停发原因。", field="stop_reason")
        if stop_reason == StopReason.OTHER and not note.strip():
            raise DomainError("请说明停发原因。", field="note")
    with transaction.atomic():
        confirmation, created = MonthlyConfirmation.objects.get_or_create(
            award=award,
            month=month,
            defaults={"alive": alive, "stop_reason": "" if alive else stop_reason, "note": note, "confirmed_by": actor},
        )
        if not created:
            if confirmation.alive == alive:
                return confirmation
            raise Conflict(f"{month:%Y年%m月}已确认过，如有变化请联系县级经办机构。", code="confirmed")
        # As the award stands now, not as the caller read it: someone may have suspended it meanwhile.
        if not alive and Award.objects.filter(pk=award.pk, status=AwardStatus.ACTIVE).exists():
            award_suspend(
                actor=actor,
                award=award,
                from_month=calc.add_months(month, 1),
                reason=stop_reason,
                note=note or "村协理员报停",
            )
    return confirmation


def yearly_check_record(
    *, actor, award: Award, year: int, channel: str, checked_on: dt.date, passed: bool = True, note: str = ""
) -> YearlyCheck:
    require(actor, Action.RECORD_YEARLY_CHECK)
    _require_in_scope(actor, award.region_code)
    from benefits.models import CheckChannel

    if channel not in CheckChannel.values:
        raise DomainError("请选择认证方式。", field="channel")
    try:
        with transaction.atomic():
            return YearlyCheck.objects.create(
                award=award,
                year=year,
                channel=channel,
                checked_on=checked_on,
                passed=passed,
                note=note,
                checked_by=actor,
            )
    except IntegrityError:
        raise Conflict(f"{year}年度的资格认证已登记。", code="checked") from None


# --- deaths and overpayments -------------------------------------------------------------------------------


def _paid_for_months(award: Award, first_month: dt.date, *, basic_only: bool = False) -> dict[dt.date, Decimal]:
    """What payrolls (confirmed, or being confirmed) paid the award for each month from ``first_month`` on: the
    month's pension line, and back pay counted in the month it is for, not the month it was paid with (back pay
    paid in a later month for months before ``first_month`` is not counted). ``basic_only``: the basic part."""
    paid: dict[dt.date, Decimal] = {}
    for month, basic, total in PayrollLine.objects.filter(
        award=award, kind=LineKind.PENSION, run__status__in=SETTLED_RUNS, run__month__gte=first_month
    ).values_list("run__month", "basic_pension", "total"):
        paid[month] = paid.get(month, ZERO) + (basic if basic_only else total)
    for month, amount, recalculation_id in Arrear.objects.filter(
        award=award, status=ArrearStatus.PAID, month__gte=first_month, payroll_line__run__status__in=SETTLED_RUNS
    ).values_list("month", "amount", "recalculation_id"):
        if basic_only and recalculation_id is None:
            # A missed month's back pay is its whole amount, account part included; a recalculation's is basic.
            amount -= award.account_pension
        paid[month] = paid.get(month, ZERO) + amount
    return paid


def _overpayment_create(
    *, actor, award: Award, reason: str, first_month: dt.date, basic_only: bool = False
) -> Overpayment | None:
    paid = _paid_for_months(award, first_month, basic_only=basic_only)
    amount = sum(paid.values(), ZERO)
    if amount <= 0:
        return None
    months = sorted(month for month, part in paid.items() if part)
    overpayment, _ = Overpayment.objects.get_or_create(
        award=award,
        reason=reason,
        first_month=first_month,
        defaults={
            "person": award.person,
            "region_code": award.region_code,
            "last_month": months[-1],
            "amount": amount,
            "created_by": actor,
        },
    )
    _event(
        actor=actor,
        action="overpayment",
        award=award,
        note=f"{first_month:%Y年%m月}至{months[-1]:%Y年%m月}多发{amount}元，待追回",
    )
    return overpayment


def death_record(
    *,
    actor,
    person: InsuredPerson,
    died_on: dt.date,
    source: str,
    load: DeathListLoad | None = None,
    today: dt.date | None = None,
) -> DeathRecord:
    """A death learned: the award is paid for the month of death and stopped from the next; whatever was paid
    for later months becomes an overpayment to recover."""
    if load is None:
        require(actor, Action.RECORD_DEATH)
    _require_in_scope(actor, person.region_code)
    today = today or _today()
    if died_on > today:
        raise DomainError("死亡日期不能晚于今天。", field="died_on")
    with transaction.atomic():
        existing = DeathRecord.objects.filter(person=person).first()
        if existing is not None:
            if existing.died_on != died_on:
                raise Conflict(
                    f"{person.name}已登记死亡日期{existing.died_on:%Y-%m-%d}，与本次{died_on:%Y-%m-%d}不一致，请核实。",
                    code="death_differs",
                )
            return existing
        record = DeathRecord.objects.create(person=person, died_on=died_on, source=source, load=load, recorded_by=actor)
        stop_from = calc.add_months(calc.month_of(died_on), 1)
        for award in (
            Award.objects.select_for_update()
            .filter(person=person, status__in=[AwardStatus.ACTIVE, AwardStatus.SUSPENDED])
            .order_by("pk")
        ):
            # A suspension before death stays the first month unpaid.
            paid_until = min(stop_from, award.paid_until) if award.paid_until else stop_from
            _stop(
                award,
                actor=actor,
                paid_until=paid_until,
                reason=StopReason.DEATH,
                note=f"{died_on:%Y-%m-%d}死亡（{source}）",
            )
            _overpayment_create(actor=actor, award=award, reason=StopReason.DEATH, first_month=stop_from)
    return record


class RowErrors(DomainError):
    """A file refused whole: every row's problem, for the clerk to correct and load again."""

    def __init__(self, message: str, errors: list[dict]):
        super().__init__(message, code="invalid_rows")
        self.errors = errors


@dataclass(frozen=True)
class DeathRow:
    row: int
    id_number: str
    died_on: dt.date


def _read_rows(file_name: str, content: bytes) -> list[list[str]]:
    if file_name.lower().endswith(".xlsx"):
        from openpyxl import load_workbook

        try:
            sheet = load_workbook(io.BytesIO(content), read_only=True, data_only=True).active
        except Exception:
            raise DomainError("无法读取该 Excel 文件，请确认是 .xlsx 格式。", code="unreadable") from None
        rows = []
        for values in sheet.iter_rows(values_only=True):
            rows.append(
                ["" if v is None else (v.isoformat()[:10] if isinstance(v, dt.date) else str(v)) for v in values]
            )
        return rows
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = content.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise DomainError("无法识别文件编码，请保存为 UTF-8 或 GBK 编码的 CSV。", code="unreadable")
    return [row for row in csv.reader(io.StringIO(text))]


def _parse_date(text: str) -> dt.date | None:
    text = text.strip().replace("/", "-").replace(".", "-")
    for fmt in ("%Y-%m-%d", "%Y%m%d"):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def parse_death_list(file_name: str, content: bytes, *, today: dt.date) -> list[DeathRow]:
    """Rows of identity number and date of death (a header row is skipped); every bad row reported."""
    rows = _read_rows(file_name, content)
    parsed: list[DeathRow] = []
    errors: list[dict] = []
    seen: dict[str, int] = {}
    for number, cells in enumerate(rows, start=1):
        cells = [c.strip() for c in cells]
        if not any(cells):
            continue
        if number == 1 and cells and not any(ch.isdigit() for ch in cells[0]):
            continue  # the header
        if len(cells) < 2:
            errors.append({"row": number, "field": "died_on", "message": "缺少死亡日期。"})
            continue
        try:
            identity = idnumber.parse(cells[0], today=today)
        except idnumber.IdNumberError as error:
            errors.append({"row": number, "field": "id_number", "message": error.message})
            continue
        died_on = _parse_date(cells[1])
        if died_on is None:
            errors.append(
                {"row": number, "field": "died_on", "message": f"死亡日期“{cells[1]}”格式不正确，应为 2025-03-18。"}
            )
            continue
        if died_on > today or died_on < identity.birth_date:
            errors.append({"row": number, "field": "died_on", "message": "死亡日期不在合理范围内。"})
            continue
        if identity.number in seen:
            errors.append({"row": number, "field": "id_number", "message": f"与第{seen[identity.number]}行重复。"})
            continue
        seen[identity.number] = number
        parsed.append(DeathRow(row=number, id_number=identity.number, died_on=died_on))
    if errors:
        raise RowErrors(f"名单有{len(errors)}行有误，未做任何比对；请更正后重新导入。", errors)
    if not parsed:
        raise DomainError("名单中没有数据行。", code="empty")
    return parsed


def death_list_load(*, actor, file_name: str, content: bytes, today: dt.date | None = None) -> DeathListLoad:
    """Load a civil-affairs death and cremation list (.xlsx/.csv: identity number, date of death) and match it
    against the persons in the actor's scope. Malformed rows refuse the whole list; nothing is matched."""
    require(actor, Action.LOAD_DEATH_LIST)
    today = today or _today()
    prefix = scope_prefix(actor)
    if prefix is None:
        raise NotPermitted("您的账号未归属经办机构，不能比对死亡名单。", code="no_scope")
    rows = parse_death_list(file_name, content, today=today)
    sha256 = hashlib.sha256(content).hexdigest()
    with transaction.atomic():
        load, created = DeathListLoad.objects.get_or_create(
            region_code=prefix,
            file_sha256=sha256,
            defaults={"file_name": file_name[:200], "rows_read": len(rows), "loaded_by": actor},
        )
        if not created:
            return load  # the same list again: already matched
        persons = {
            p.id_number: p
            for p in InsuredPerson.objects.filter(
                id_number__in=[r.id_number for r in rows], region_code__startswith=prefix
            )
        }
        matches = 0
        overpayments = 0
        for row in rows:
            person = persons.get(row.id_number)
            if person is None:
                continue
            before = Overpayment.objects.filter(person=person).count()
            death_record(
                actor=actor,
                person=person,
                died_on=row.died_on,
                source=f"民政死亡火化名单 {file_name}",
                load=load,
                today=today,
            )
            matches += 1
            overpayments += Overpayment.objects.filter(person=person).count() - before
        load.matches = matches
        load.overpayments = overpayments
        load.save(update_fields=["matches", "overpayments"])
    return load


def _account_of(person: InsuredPerson) -> IndividualAccount | None:
    return IndividualAccount.objects.filter(person=person).first()


def _debit_components(
    account: IndividualAccount, amount: Decimal, components: Iterable[str] | None = None
) -> list[Posting]:
    """Postings that take ``amount`` from the account in proportion (from the given components only)."""
    balances = {c: getattr(account, BALANCE_COLUMN[c]) for c in (components or Component.values)}
    return [Posting(c, "", -part) for c, part in split_in_proportion(amount, balances).items()]


def _post_debit(
    *,
    account: IndividualAccount,
    amount: Decimal,
    kind: str,
    booked_on: dt.date,
    reference: str,
    key: str,
    actor,
    components: Iterable[str] | None = None,
) -> Decimal:
    if amount <= 0:
        return ZERO
    postings = [Posting(p.component, kind, p.amount) for p in _debit_components(account, amount, components)]
    ledger_post(
        account=account,
        postings=postings,
        booked_on=booked_on,
        reference=reference[:100],
        idempotency_key=key,
        actor=actor,
    )
    account.refresh_from_db()
    return amount


def overpayment_recover(
    *, actor, overpayment: Overpayment, method: str, amount, on: dt.date, reference: str, note: str = ""
) -> RecoveryStep:
    """Record one step of recovery. An offset against the account balance takes the money from the account."""
    require(actor, Action.RECOVER_OVERPAYMENT)
    _require_in_scope(actor, overpayment.region_code)
    if method not in RecoveryMethod.values:
        raise DomainError("请选择追回方式。", field="method")
    amount = parse_money(amount, field="amount")
    reference = (reference or "").strip()
    if not reference:
        raise DomainError("请填写凭证号（银行回单或收据号）。", field="reference")
    with transaction.atomic():
        overpayment = Overpayment.objects.select_for_update().get(pk=overpayment.pk)
        existing = overpayment.steps.filter(reference=reference).first()
        if existing is not None:
            if existing.amount == amount and existing.method == method:
                return existing
            raise Conflict("该凭证号已登记过不同的追回记录。", code="reference_used", field="reference")
        if overpayment.status != OverpaymentStatus.OPEN:
            raise Conflict("该笔多发待遇已处理完毕。", code="closed")
        held = _offset_being_confirmed(overpayment)
        if amount > overpayment.outstanding - held:
            raise DomainError(
                f"追回金额超过尚未追回的{overpayment.outstanding - held}元"
                + (f"（另有{held}元正在本月发放中抵扣）。" if held else "。"),
                field="amount",
            )
        if method == RecoveryMethod.ACCOUNT_OFFSET:
            account = _account_of(overpayment.person)
            if account is None or account.balance < amount:
                raise DomainError(
                    f"个人账户余额{account.balance if account else ZERO}元，不足以抵扣{amount}元。", field="amount"
                )
            _post_debit(
                account=account,
                amount=amount,
                kind=EntryKind.RECOVERY,
                booked_on=on,
                reference=f"overpayment:{overpayment.pk}",
                key=f"recovery:{overpayment.pk}:{reference}",
                actor=actor,
            )
        if method == RecoveryMethod.BENEFIT_OFFSET:
            raise DomainError("后续待遇抵扣请设置每月抵扣金额，由月度发放自动扣回。", field="method")
        step = RecoveryStep.objects.create(
            overpayment=overpayment,
            method=method,
            amount=amount,
            on=on,
            reference=reference,
            note=note,
            recorded_by=actor,
        )
        _apply_recovered(overpayment, amount)
        _event(
            actor=actor,
            action="recovery",
            award=overpayment.award,
            note=f"{step.get_method_display()}{amount}元（{reference}）",
        )
    return step


def _offset_being_confirmed(overpayment: Overpayment) -> Decimal:
    """What a payroll being confirmed deducts for this overpayment and has not yet recorded as a step.

    A confirmation fixes its recovery lines first and records them as steps at its end, for the award's oldest
    open overpayment with a monthly offset; money repaid in between must leave room for them."""
    if overpayment.offset_per_month <= 0:
        return ZERO
    first = (
        Overpayment.objects.filter(award_id=overpayment.award_id, status=OverpaymentStatus.OPEN, offset_per_month__gt=0)
        .order_by("pk")
        .values_list("pk", flat=True)
        .first()
    )
    if first != overpayment.pk:
        return ZERO
    recorded = overpayment.steps.filter(method=RecoveryMethod.BENEFIT_OFFSET).values_list("reference", flat=True)
    held = ZERO
    for run_id, total in PayrollLine.objects.filter(
        award_id=overpayment.award_id, kind=LineKind.RECOVERY, run__status=PayrollStatus.CONFIRMING
    ).values_list("run_id", "total"):
        if f"payroll:{run_id}" not in set(recorded):
            held -= total
    return held


def _apply_recovered(overpayment: Overpayment, amount: Decimal) -> None:
    overpayment.recovered += amount
    if overpayment.recovered >= overpayment.amount:
        overpayment.status = OverpaymentStatus.RECOVERED
        overpayment.offset_per_month = ZERO
    overpayment.save(update_fields=["recovered", "status", "offset_per_month"])


def overpayment_offset_set(*, actor, overpayment: Overpayment, per_month) -> Overpayment:
    """Deduct from each later payroll (后续待遇抵扣) until recovered; 0 stops it."""
    require(actor, Action.RECOVER_OVERPAYMENT)
    _require_in_scope(actor, overpayment.region_code)
    per_month = parse_money(per_month, field="per_month", allow_zero=True)
    with transaction.atomic():
        overpayment = Overpayment.objects.select_for_update().get(pk=overpayment.pk)
        if per_month > 0 and overpayment.award.status != AwardStatus.ACTIVE:
            raise Conflict("该待遇已停发，不能从后续待遇中抵扣；请选择其他追回方式。", code="award_not_active")
        overpayment.offset_per_month = per_month
        overpayment.save(update_fields=["offset_per_month"])
        _event(actor=actor, action="offset_set", award=overpayment.award, note=f"每月抵扣{per_month}元")
    return overpayment


def overpayment_refer(*, actor, overpayment: Overpayment, note: str) -> Overpayment:
    """Fraud is referred on (移交): the overpayment leaves the recovery worklist with the reason."""
    require(actor, Action.RECOVER_OVERPAYMENT)
    _require_in_scope(actor, overpayment.region_code)
    if not note.strip():
        raise DomainError("请填写移交说明。", field="note")
    with transaction.atomic():
        overpayment = Overpayment.objects.select_for_update().get(pk=overpayment.pk)
        if overpayment.status != OverpaymentStatus.OPEN:
            raise Conflict(f"该笔多发待遇当前为“{overpayment.get_status_display()}”，不能移交。", code="closed")
        overpayment.status = OverpaymentStatus.REFERRED
        overpayment.offset_per_month = ZERO
        overpayment.save(update_fields=["status", "offset_per_month"])
        _event(actor=actor, action="refer", award=overpayment.award, note=note)
    return overpayment


def _offset_from_account(*, actor, person: InsuredPerson, account: IndividualAccount, on: dt.date) -> Decimal:
    """Offset every open overpayment of the person against the account balance, as far as it goes."""
    offset = ZERO
    for overpayment in (
        Overpayment.objects.select_for_update().filter(person=person, status=OverpaymentStatus.OPEN).order_by("pk")
    ):
        take = min(overpayment.outstanding, account.balance)
        if take <= 0:
            break
        reference = f"account-offset:{overpayment.pk}"
        _post_debit(
            account=account,
            amount=take,
            kind=EntryKind.RECOVERY,
            booked_on=on,
            reference=f"overpayment:{overpayment.pk}",
            key=f"recovery:{overpayment.pk}:{reference}",
            actor=actor,
        )
        RecoveryStep.objects.create(
            overpayment=overpayment,
            method=RecoveryMethod.ACCOUNT_OFFSET,
            amount=take,
            on=on,
            reference=reference,
            note="结算时从个人账户余额抵扣",
            recorded_by=actor,
        )
        _apply_recovered(overpayment, take)
        offset += take
    return offset


def death_settlement_record(
    *,
    actor,
    person: InsuredPerson,
    heir_name: str,
    heir_id_number: str,
    heir_relation: str,
    proof,
    heir_bank_code: str = "",
    heir_bank_account: str = "",
    today: dt.date | None = None,
) -> DeathSettlement:
    """On death: interest settled, open overpayments offset against the account, the rest paid to the heir,
    the funeral grant where the region has one; the account closed and the person cancelled."""
    require(actor, Action.SETTLE_DEATH)
    _require_in_scope(actor, person.region_code)
    today = today or _today()
    heir_name = "".join((heir_name or "").split())
    if not heir_name:
        raise DomainError("请填写继承人姓名。", field="heir_name")
    if not (heir_relation or "").strip():
        raise DomainError("请填写继承人与死者的关系。", field="heir_relation")
    heir = _parse_id(heir_id_number, field="heir_id_number", today=today)
    if heir.number == person.id_number:
        raise DomainError("继承人不能是死者本人。", field="heir_id_number")
    if not proof:
        raise DomainError("请上传继承权证明材料。", field="proof")
    death = DeathRecord.objects.filter(person=person).first()
    if death is None:
        raise Conflict("请先登记死亡信息（死亡日期、来源），再办理继承结算。", code="no_death")
    with transaction.atomic():
        person = InsuredPerson.objects.select_for_update().get(pk=person.pk)
        if DeathSettlement.objects.filter(person=person).exists():
            raise Conflict(f"{person.name}的死亡待遇已结算。", code="settled")
        account = _account_of(person)
        paid = offset = ZERO
        if account is not None:
            settle_closing(account=account, closing_date=today, actor=actor)
            account.refresh_from_db()
            offset = _offset_from_account(actor=actor, person=person, account=account, on=today)
            paid = _post_debit(
                account=account,
                amount=account.balance,
                kind=EntryKind.INHERITANCE,
                booked_on=today,
                reference=f"inheritance:{person.pk}",
                key=f"inheritance:{person.pk}",
                actor=actor,
            )
            IndividualAccount.objects.filter(pk=account.pk).update(closed_on=today)
        grant = ZERO
        award = Award.objects.filter(person=person).order_by("-start_month").first()
        if award is not None and award.category != AwardCategory.URBAN_ELDERLY:
            month = calc.month_of(death.died_on)
            row = parameters_for(award.pooling_region, month)
            period = period_in_effect(award, month)
            grant = calc.funeral_grant(as_parameters(row), basic_pension=period.basic_pension if period else ZERO)
        settlement = DeathSettlement.objects.create(
            person=person,
            heir_name=heir_name,
            heir_id_number=heir.number,
            heir_relation=heir_relation.strip(),
            heir_bank_code=heir_bank_code.strip(),
            heir_bank_account=heir_bank_account.strip(),
            proof=proof,
            balance_paid=paid,
            overpayment_offset=offset,
            funeral_grant=grant,
            settled_on=today,
            settled_by=actor,
        )
        person_cancel(actor=actor, person=person, on=death.died_on, reason="死亡注销（待遇结算）")
        if award is not None:
            _event(
                actor=actor,
                action="death_settlement",
                award=award,
                note=f"继承{paid}元，抵扣多发{offset}元，丧葬补助金{grant}元",
            )
    return settlement


def other_pension_stop(
    *, actor, person: InsuredPerson, employee_pension_from: dt.date, today: dt.date | None = None
) -> tuple[Decimal, Overpayment | None]:
    """Someone found receiving an employees' pension: the award stopped from that month, the basic pension
    paid since recovered (offset first against the refund), the balance less government subsidies refunded
    and the government part returned to the fund; the person cancelled. Returns (refund, overpayment)."""
    require(actor, Action.MANAGE_AWARD)
    _require_in_scope(actor, person.region_code)
    today = today or _today()
    first_month = calc.month_of(employee_pension_from)
    with transaction.atomic():
        person = InsuredPerson.objects.select_for_update().get(pk=person.pk)
        if person.status == PersonStatus.CANCELLED:
            raise Conflict(f"{person.name}已注销。", code="cancelled")
        overpayment = None
        for award in (
            Award.objects.select_for_update()
            .filter(person=person, status__in=[AwardStatus.ACTIVE, AwardStatus.SUSPENDED])
            .order_by("pk")
        ):
            _stop(
                award,
                actor=actor,
                paid_until=first_month,
                reason=StopReason.OTHER_PENSION,
                note=f"自{first_month:%Y年%m月}起领取职工养老金",
            )
            overpayment = _overpayment_create(
                actor=actor, award=award, reason=StopReason.OTHER_PENSION, first_month=first_month, basic_only=True
            )
        refund = ZERO
        account = _account_of(person)
        if account is not None:
            settle_closing(account=account, closing_date=today, actor=actor)
            account.refresh_from_db()
            government = sum((getattr(account, BALANCE_COLUMN[c]) for c in GOVERNMENT_COMPONENTS), ZERO)
            _post_debit(
                account=account,
                amount=government,
                kind=EntryKind.FORFEIT,
                booked_on=today,
                reference=f"other-pension:{person.pk}",
                key=f"forfeit:{person.pk}",
                actor=actor,
                components=GOVERNMENT_COMPONENTS,
            )
            _offset_from_account(actor=actor, person=person, account=account, on=today)
            refund = _post_debit(
                account=account,
                amount=account.balance,
                kind=EntryKind.REFUND,
                booked_on=today,
                reference=f"other-pension:{person.pk}",
                key=f"refund:{person.pk}",
                actor=actor,
            )
            IndividualAccount.objects.filter(pk=account.pk).update(closed_on=today)
        for flag in DualEnrollmentFlag.objects.filter(person=person, resolved_at__isnull=True):
            flag.resolved_at = timezone.now()
            flag.resolved_by = actor
            flag.resolution = f"已领取职工养老金，终止本保险待遇并退还个人账户{refund}元"
            flag.save(update_fields=["resolved_at", "resolved_by", "resolution"])
        person_cancel(actor=actor, person=person, on=today, reason="已享受职工养老保险待遇，注销")
    return refund, overpayment


# --- transfers ---------------------------------------------------------------------------------------------


def _lock_transfer(transfer: Transfer) -> Transfer:
    # Only the transfer's row: PostgreSQL will not lock the nullable side of the outer join to the village.
    return Transfer.objects.select_for_update(of=("self",)).select_related("person", "to_village").get(pk=transfer.pk)


def _transfer_out(*, actor, transfer: Transfer, today: dt.date) -> None:
    """Settle interest to the month, move the whole balance out by component, close the account."""
    person = transfer.person
    account = account_open(person=person, opened_on=today)
    settle_closing(account=account, closing_date=today, actor=actor)
    account.refresh_from_db()
    amounts = {c: getattr(account, BALANCE_COLUMN[c]) for c in Component.values if getattr(account, BALANCE_COLUMN[c])}
    postings = [Posting(c, EntryKind.TRANSFER_OUT, -amount) for c, amount in amounts.items()]
    if postings:
        ledger_post(
            account=account,
            postings=postings,
            booked_on=today,
            reference=f"transfer:{transfer.pk}",
            idempotency_key=f"transfer-out:{transfer.pk}",
            actor=actor,
        )
    IndividualAccount.objects.filter(pk=account.pk).update(closed_on=today)
    transfer.amount = sum(amounts.values(), ZERO)
    transfer.amounts_by_component = {c: str(a) for c, a in amounts.items()}
    transfer.years_moved = years_paid(person)


def _refuse_transfer_of(person: InsuredPerson) -> None:
    if person.status != PersonStatus.ACTIVE:
        raise Conflict(f"该参保人状态为“{person.get_status_display()}”，不能转移。", code="not_active")
    if Award.objects.filter(person=person, status__in=[AwardStatus.ACTIVE, AwardStatus.SUSPENDED]).exists():
        raise Conflict(
            "已领取待遇的人员不能办理关系转移；同时领取职工养老金的，请办理“领取其他养老金终止”。", code="receiving"
        )


def transfer_request(
    *,
    actor,
    id_number: str,
    to_village: Region,
    hukou_moved_on: dt.date,
    reference: str = "",
    today: dt.date | None = None,
) -> Transfer:
    """The receiving side applies for a person of another pooling region whose hukou has moved here."""
    require(actor, Action.REQUEST_TRANSFER)
    _require_in_scope(actor, to_village.code)
    today = today or _today()
    if to_village.level != RegionLevel.VILLAGE:
        raise DomainError("请选择转入的村（社区）。", field="to_village")
    number = _parse_id(id_number, field="id_number", today=today).number
    person = InsuredPerson.objects.filter(id_number=number).select_related("village").first()
    if person is None:
        raise DomainError("未找到该身份证号的参保人；外省转入请凭转移联系函办理参保登记。", field="id_number")
    _refuse_transfer_of(person)
    source = person.village.effective_pooling_region()
    target = to_village.effective_pooling_region()
    if target is None or source == target:
        raise DomainError("同一统筹区内迁移户籍请办理变更登记，无需关系转移。", field="to_village")
    if hukou_moved_on > today:
        raise DomainError("户籍迁移日期不能晚于今天。", field="hukou_moved_on")
    transfer = Transfer(
        kind=TransferKind.WITHIN_SCHEME,
        person=person,
        region_code=person.region_code,
        from_region_code=person.region_code,
        to_village=to_village,
        to_region_code=to_village.code,
        hukou_moved_on=hukou_moved_on,
        reference=reference.strip(),
        requested_by=actor,
    )
    try:
        with transaction.atomic():
            _save(transfer, actor=actor, reason="转入地申请关系转移")
    except IntegrityError:
        raise Conflict("该参保人已有在办的关系转移。", code="open_transfer") from None
    return transfer


def transfer_approve(*, actor, transfer: Transfer, today: dt.date | None = None) -> Transfer:
    """The sending side approves and pays: interest to the month, the whole balance out, the account closed.
    For a move to the employees' scheme the person is also cancelled here."""
    require(actor, Action.APPROVE_TRANSFER)
    _require_in_scope(actor, transfer.from_region_code)
    today = today or _today()
    with transaction.atomic():
        transfer = _lock_transfer(transfer)
        if transfer.status != TransferStatus.REQUESTED:
            raise Conflict(f"该转移当前为“{transfer.get_status_display()}”。", code="wrong_status")
        if transfer.requested_by_id == actor.pk:
            raise NotPermitted("申请人不能审核自己录入的转移。", code="own_transfer")
        # Checked again under the person's lock: a claim may have been approved since the request.
        person = InsuredPerson.objects.select_for_update().get(pk=transfer.person_id)
        _refuse_transfer_of(person)
        _transfer_out(actor=actor, transfer=transfer, today=today)
        transfer.status = TransferStatus.MOVED
        transfer.approved_by = actor
        transfer.approved_at = timezone.now()
        _save(transfer, actor=actor, reason="转出地审核并划转")
        if transfer.kind == TransferKind.TO_EMPLOYEES:
            person_cancel(actor=actor, person=transfer.person, on=today, reason="转入职工养老保险，注销")
    return transfer


def transfer_book(*, actor, transfer: Transfer, today: dt.date | None = None) -> Transfer:
    """The receiving side confirms and books: the account reopened here with every component, the person
    re-homed with the same insurance number, the years adding up."""
    require(actor, Action.REQUEST_TRANSFER)
    _require_in_scope(actor, transfer.to_region_code)
    today = today or _today()
    with transaction.atomic():
        transfer = _lock_transfer(transfer)
        if transfer.kind != TransferKind.WITHIN_SCHEME or transfer.status != TransferStatus.MOVED:
            raise Conflict(f"该转移当前为“{transfer.get_status_display()}”，不能记账。", code="wrong_status")
        person = person_rehome(actor=actor, person=transfer.person, village=transfer.to_village, reason="关系转移转入")
        target = transfer.to_village.effective_pooling_region()
        IndividualAccount.objects.filter(person=person).update(
            closed_on=None, pooling_region=target, region_code=person.region_code
        )
        account = IndividualAccount.objects.get(person=person)
        postings = [Posting(c, EntryKind.TRANSFER_IN, Decimal(a)) for c, a in transfer.amounts_by_component.items()]
        if postings:
            ledger_post(
                account=account,
                postings=postings,
                booked_on=today,
                reference=f"transfer:{transfer.pk}",
                idempotency_key=f"transfer-in:{transfer.pk}",
                actor=actor,
            )
        transfer.status = TransferStatus.BOOKED
        transfer.region_code = person.region_code
        transfer.booked_by = actor
        transfer.booked_at = timezone.now()
        _save(transfer, actor=actor, reason="转入地确认记账")
    return transfer


def transfer_to_employees(
    *, actor, person: InsuredPerson, employee_years: int, reference: str, today: dt.date | None = None
) -> Transfer:
    """At retirement age with 15 or more employee years: the resident account merges into the employees'
    scheme. Entered by the county clerk; the approver then approves and pays (``transfer_approve``)."""
    require(actor, Action.REQUEST_TRANSFER)
    _require_in_scope(actor, person.region_code)
    if employee_years < 15:
        raise DomainError("职工养老保险缴费年限不足15年，应将职工养老保险个人账户转入本保险。", field="employee_years")
    if not reference.strip():
        raise DomainError("请填写职工养老保险经办机构的联系函编号。", field="reference")
    _refuse_transfer_of(person)
    transfer = Transfer(
        kind=TransferKind.TO_EMPLOYEES,
        person=person,
        region_code=person.region_code,
        from_region_code=person.region_code,
        employee_years=employee_years,
        reference=reference.strip(),
        requested_by=actor,
    )
    try:
        with transaction.atomic():
            _save(transfer, actor=actor, reason="申请转入职工养老保险")
    except IntegrityError:
        raise Conflict("该参保人已有在办的关系转移。", code="open_transfer") from None
    return transfer


def transfer_from_employees(
    *, actor, person: InsuredPerson, employee_years: int, amount, reference: str, today: dt.date | None = None
) -> Transfer:
    """Fewer than 15 employee years: the employees' account merges here and its years count."""
    require(actor, Action.REQUEST_TRANSFER)
    _require_in_scope(actor, person.region_code)
    today = today or _today()
    if not 0 < employee_years < 15:
        raise DomainError("职工养老保险缴费年限须为1至14年；满15年的应转入职工养老保险。", field="employee_years")
    amount = parse_money(amount, field="amount")
    reference = reference.strip()
    if not reference:
        raise DomainError("请填写职工养老保险经办机构的联系函编号。", field="reference")
    with transaction.atomic():
        # The person's lock serialises a retry arriving while the first is still being booked.
        person = InsuredPerson.objects.select_for_update().get(pk=person.pk)
        existing = Transfer.objects.filter(person=person, kind=TransferKind.FROM_EMPLOYEES, reference=reference).first()
        if existing is not None:
            if (existing.amount, existing.employee_years) != (amount, employee_years):
                raise Conflict("该联系函编号已按不同的金额或年限办理过转入，请核对。", code="reference_used")
            return existing
        if person.status != PersonStatus.ACTIVE:
            raise Conflict(f"该参保人状态为“{person.get_status_display()}”，不能转入。", code="not_active")
        account = account_open(person=person, opened_on=today)
        transfer = Transfer(
            kind=TransferKind.FROM_EMPLOYEES,
            person=person,
            status=TransferStatus.BOOKED,
            region_code=person.region_code,
            from_region_code="",
            to_region_code=person.region_code,
            employee_years=employee_years,
            amount=amount,
            amounts_by_component={Component.PERSONAL: str(amount)},
            years_moved=employee_years,
            reference=reference,
            requested_by=actor,
            booked_by=actor,
            booked_at=timezone.now(),
        )
        _save(transfer, actor=actor, reason="职工养老保险转入")
        ledger_post(
            account=account,
            postings=[Posting(Component.PERSONAL, EntryKind.TRANSFER_IN, amount)],
            booked_on=today,
            reference=f"transfer:{transfer.pk}",
            idempotency_key=f"transfer-in:{transfer.pk}",
            actor=actor,
        )
        YearsCredit.objects.create(
            person=person,
            kind=YearsCreditKind.EMPLOYEES_SCHEME,
            years=employee_years,
            reference=f"transfer:{transfer.pk}",
            recorded_by=actor,
        )
    return transfer


def years_credit_record(*, actor, person: InsuredPerson, kind: str, years: int, reference: str) -> YearsCredit:
    """Deemed years (e.g. military service recognised before a merger's cut-over) counted towards the minimum."""
    require(actor, Action.MANAGE_AWARD)
    _require_in_scope(actor, person.region_code)
    if kind not in YearsCreditKind.values:
        raise DomainError("请选择年限类型。", field="kind")
    if not 0 < years <= 45:
        raise DomainError("年限须为1至45年。", field="years")
    if not reference.strip():
        raise DomainError("请填写认定依据。", field="reference")
    try:
        with transaction.atomic():
            return YearsCredit.objects.create(
                person=person, kind=kind, years=years, reference=reference.strip(), recorded_by=actor
            )
    except IntegrityError:
        raise Conflict("该依据已登记过年限。", code="credited") from None
