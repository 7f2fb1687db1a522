"""Every write of contributions: policy parameters, tier choices, contributions, collective subsidies, donations.

Each service takes keyword-only arguments, runs in one transaction and refuses with a ``DomainError`` whose
Chinese message a clerk can act on; a refused call writes nothing. Money reaches an individual account only
through ``funds.services.ledger_post``, in the same transaction as the record that explains it.

Choices made where the rules are silent:
- The tiers of a contribution year are those of the policy in force on its window start (``selectors``).
- A tier chosen by default (nobody picked one by the window's end) does not bind a later payment: the amount
  paid decides the tier, as it does when there is no choice at all.
- A back payment (补缴) earns neither the government subsidy nor 代缴; it is priced by the tiers of the year it
  pays for, and must itself be paid within the current collection window unless the region allows otherwise.
- Collective subsidy plus donations may not pass the year's top tier per person: a collective subsidy that
  would pass it is credited only up to the cap (and the person is counted as capped); a donation that would
  pass it is refused, saying how much may still be given.
"""

import datetime as dt
import hashlib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q, Sum
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from agencies.errors import Conflict, DomainError, NotPermitted
from agencies.models import PoolingRegion, Region, RegionLevel
from agencies.money import ZERO, Rounding, parse_money
from agencies.permissions import Action, require
from agencies.records import file_record
from agencies.scope import code_in_scope, covers_pooling_region, scope_prefix, scoped
from contributions import policy as rules
from contributions import records as filing
from contributions import selectors, xlsx
from contributions.models import (
    Channel,
    CollectiveSubsidy,
    CollectiveSubsidyCredit,
    Contribution,
    ContributionKind,
    ContributionPolicy,
    ContributionTier,
    Donation,
    HardshipShare,
    InterestRate,
    TierBatchKind,
    TierChoice,
    TierChoiceBatch,
    TierSource,
)
from enrollment import idnumber
from enrollment.models import InsuredPerson, PersonStatus, SpecialGroup, SpecialGroupMembership
from funds.models import Component, EntryKind, IndividualAccount, LedgerEntry
from funds.services import Posting, account_open, ledger_post

FIRST_YEAR = 1990  # the old rural scheme (老农保) began in the 1990s; nothing here is older
DEFAULT_CHUNK = 5000


def _today() -> dt.date:
    return timezone.localdate()


def yuan(amount: Decimal) -> str:
    """300.00 → "300", 230.50 → "230.50": how a clerk writes amounts."""
    return f"{amount:.0f}" if amount == amount.to_integral_value() else f"{amount:.2f}"


# Plain written amounts only: Decimal() alone would also take "1e3" and "1_000" as a thousand yuan.
PLAIN_AMOUNT = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")


def money(raw, *, field: str = "amount", allow_zero: bool = False) -> Decimal:
    """Yuan from text as a clerk types it (or a Decimal): ``parse_money`` behind a stricter look at the text."""
    if isinstance(raw, str):
        text = raw.strip().replace(",", "").replace("，", "").lstrip("¥￥").rstrip("元").strip()
        if not PLAIN_AMOUNT.match(text):
            raise DomainError(
                f"金额“{raw}”格式不正确，请填写数字，例如 300 或 300.00。", code="invalid_amount", field=field
            )
    elif isinstance(raw, bool) or not isinstance(raw, Decimal | int | float):
        raise DomainError("请填写金额。", code="invalid_amount", field=field)
    return parse_money(raw, field=field, allow_zero=allow_zero)


def _require_in_scope(actor, region_code: str) -> None:
    if not code_in_scope(actor, region_code):
        raise DomainError("该记录不在您的管辖范围内。", code="out_of_scope")


def _require_covers(actor, pooling_region: PoolingRegion) -> None:
    """Policy is set only by someone whose jurisdiction covers every place of the pooling region."""
    if scope_prefix(actor) is None:
        raise NotPermitted()
    if not covers_pooling_region(actor, pooling_region):
        raise DomainError(f"{pooling_region.name}不在您的管辖范围内，不能设置其政策。", code="out_of_scope")


def _clean_year(year, *, field_name: str = "year") -> int:
    try:
        value = int(str(year).strip())
    except (TypeError, ValueError):
        raise DomainError("年度须为四位数字的年份，如 2025。", code="invalid", field=field_name) from None
    if not FIRST_YEAR <= value <= _today().year + 1:
        raise DomainError(
            f"年度 {year} 不在可办理的范围内（{FIRST_YEAR} 至 {_today().year + 1}）。", code="invalid", field=field_name
        )
    return value


def _clean_date(value, *, field_name: str, label: str) -> dt.date:
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise DomainError(f"请填写{label}。", code="required", field=field_name)
    if value > _today():
        raise DomainError(f"{label}不能晚于今天。", code="future_date", field=field_name)
    return value


def _lock_person(person: InsuredPerson) -> InsuredPerson:
    """The person's row locked: tier choice, payment and subsidies of one person act in turn."""
    return InsuredPerson.objects.select_for_update().select_related("village").get(pk=person.pk)


def _require_active(person: InsuredPerson) -> None:
    if person.status != PersonStatus.ACTIVE:
        raise Conflict(
            f"参保人{person.name}当前状态为“{person.get_status_display()}”，不能办理缴费业务。", code="wrong_status"
        )


def _pooling_region(person: InsuredPerson) -> PoolingRegion:
    pooling_region = person.village.effective_pooling_region()
    if pooling_region is None:
        raise DomainError(f"{person.village.full_name()}未归属任何统筹区，无法办理缴费。", code="no_pooling_region")
    return pooling_region


def _tier_list(tiers: Iterable[Decimal]) -> str:
    return "、".join(yuan(t) for t in sorted(tiers))


# --- policy parameters -------------------------------------------------------------------------------


def _clean_tiers(tiers) -> list[tuple[Decimal, Decimal]]:
    if not tiers:
        raise DomainError("请至少设置一个缴费档次。", code="required", field="tiers")
    cleaned: list[tuple[Decimal, Decimal]] = []
    for entry in tiers:
        try:
            amount, subsidy = entry
        except (TypeError, ValueError):
            raise DomainError("每个缴费档次须有档次金额和政府补贴两项。", code="invalid", field="tiers") from None
        amount = money(amount, field="tiers")
        subsidy = money(subsidy, field="tiers", allow_zero=True)
        cleaned.append((amount, subsidy))
    amounts = [amount for amount, _ in cleaned]
    if len(set(amounts)) != len(amounts):
        repeated = sorted({a for a in amounts if amounts.count(a) > 1})
        raise DomainError(
            f"缴费档次重复：{_tier_list(repeated)}元，每个档次只能设置一次。", code="invalid", field="tiers"
        )
    return sorted(cleaned)


def _clean_hardship_shares(shares: dict) -> dict[str, Decimal]:
    cleaned: dict[str, Decimal] = {}
    for group, percent in (shares or {}).items():
        if group not in SpecialGroup.values:
            raise DomainError(f"未知的特殊群体“{group}”。", code="invalid", field="hardship_shares")
        value = _percent(percent, field_name="hardship_shares")
        if value <= 0 or value > 100:
            raise DomainError(
                f"{SpecialGroup(group).label}的代缴比例须大于0且不超过100%。", code="invalid", field="hardship_shares"
            )
        cleaned[group] = value
    return cleaned


def _percent(raw, *, field_name: str) -> Decimal:
    if isinstance(raw, float):
        raise TypeError("percentages must not be floats")
    try:
        value = Decimal(str(raw).strip().rstrip("%％"))
    except Exception:
        raise DomainError(f"比例“{raw}”格式不正确，请填写数字（如 70）。", code="invalid", field=field_name) from None
    if not value.is_finite() or value != value.quantize(Decimal("0.01")) or value < 0:
        raise DomainError(f"比例“{raw}”须为不小于0、最多两位小数的数字。", code="invalid", field=field_name)
    return value.quantize(Decimal("0.01"))


def _clean_level_shares(shares) -> tuple[Decimal, Decimal, Decimal]:
    try:
        province, city, county = (_percent(share, field_name="shares") for share in shares)
    except (TypeError, ValueError):
        raise DomainError("请填写省、市、县三级分担比例。", code="invalid", field="shares") from None
    if province + city + county != 100:
        raise DomainError(
            f"省、市、县三级分担比例合计须为100%，现为{province + city + county}%。", code="invalid", field="shares"
        )
    return province, city, county


def _contributions_governed_from(policy_start: dt.date, window: rules.Window) -> int:
    """The first contribution year a period starting on ``policy_start`` governs."""
    start_of_window = dt.date(policy_start.year, window[0], window[1])
    return policy_start.year if policy_start <= start_of_window else policy_start.year + 1


def policy_create(
    *,
    actor,
    pooling_region: PoolingRegion,
    valid_from: dt.date,
    valid_to: dt.date | None = None,
    tiers: list[tuple[Decimal, Decimal]],
    hardship_shares: dict[str, Decimal],
    window: tuple[int, int, int, int] = (1, 1, 12, 31),
    allow_outside_window: bool = False,
    back_payment_max_years: int = 15,
    shares: tuple[Decimal, Decimal, Decimal] = (Decimal(0), Decimal(0), Decimal(100)),
) -> ContributionPolicy:
    """A new period of a pooling region's contribution policy, by a city supervisor.

    Periods follow one another without gap or overlap. A period starting after an open-ended last one closes
    that one the day before; anything else that overlaps or leaves a gap is refused.
    """
    require(actor, Action.SET_CONTRIBUTION_POLICY)
    _require_covers(actor, pooling_region)
    if not isinstance(valid_from, dt.date):
        raise DomainError("请填写生效日期。", code="required", field="valid_from")
    if valid_to is not None and valid_to < valid_from:
        raise DomainError("失效日期不能早于生效日期。", code="invalid", field="valid_to")
    cleaned_tiers = _clean_tiers(tiers)
    cleaned_hardship = _clean_hardship_shares(hardship_shares)
    cleaned_window = rules.check_window(window)
    province, city, county = _clean_level_shares(shares)
    try:
        back_years = int(back_payment_max_years)
    except (TypeError, ValueError):
        back_years = -1
    if not 0 <= back_years <= rules.BACK_PAYMENT_THRESHOLD_YEARS:
        raise DomainError("补缴年限上限须为0至15年。", code="invalid", field="back_payment_max_years")
    try:
        with transaction.atomic():
            # Two supervisors saving periods of one region at once would each see the other's gap: act in turn.
            PoolingRegion.objects.select_for_update().get(pk=pooling_region.pk)
            existing = list(ContributionPolicy.objects.filter(pooling_region=pooling_region).order_by("valid_from"))
            last = existing[-1] if existing else None
            closing = last if last is not None and last.valid_to is None and valid_from > last.valid_from else None
            periods = [
                (p.valid_from, valid_from - dt.timedelta(days=1) if p is closing else p.valid_to) for p in existing
            ]
            problem = rules.check_periods([*periods, (valid_from, valid_to)])
            if problem:
                shown_to = f"{valid_to:%Y-%m-%d}" if valid_to else "长期"
                raise DomainError(
                    f"新政策期间（{valid_from:%Y-%m-%d} 至 {shown_to}）{problem}请调整生效或失效日期。",
                    code="period_conflict",
                    field="valid_from",
                )
            first_year = _contributions_governed_from(valid_from, cleaned_window)
            paid = Contribution.objects.filter(
                person__account__pooling_region=pooling_region, year__gte=first_year, kind=ContributionKind.REGULAR
            )
            if valid_to is not None:
                paid = paid.filter(year__lte=valid_to.year)
            if paid.exists():
                raise Conflict(
                    f"{pooling_region.name}{first_year}年度起已有缴费记录，已缴年度的档次不能改变；"
                    "新政策请从尚无缴费的年度开始生效。",
                    code="years_paid",
                )
            if closing is not None:
                closing.valid_to = valid_from - dt.timedelta(days=1)
                closing._history_user = actor
                closing._change_reason = f"新政策自{valid_from:%Y-%m-%d}起生效，本期间截止"
                closing.save(update_fields=["valid_to"])
            new_policy = ContributionPolicy(
                pooling_region=pooling_region,
                valid_from=valid_from,
                valid_to=valid_to,
                window_start_month=cleaned_window[0],
                window_start_day=cleaned_window[1],
                window_end_month=cleaned_window[2],
                window_end_day=cleaned_window[3],
                allow_outside_window=bool(allow_outside_window),
                back_payment_max_years=back_years,
                province_share=province,
                city_share=city,
                county_share=county,
                created_by=actor,
            )
            new_policy._history_user = actor
            new_policy._change_reason = "设置缴费政策"
            new_policy.save()
            for amount, subsidy in cleaned_tiers:
                tier = ContributionTier(policy=new_policy, amount=amount, government_subsidy=subsidy)
                tier._history_user = actor
                tier.save()
            for group, percent in cleaned_hardship.items():
                share = HardshipShare(policy=new_policy, group=group, share_percent=percent)
                share._history_user = actor
                share.save()
    except IntegrityError:
        raise Conflict("该统筹区同一生效日期的政策刚刚已由他人设置，请刷新后核对。", code="duplicate") from None
    return new_policy


def interest_rate_set(
    *, actor, pooling_region: PoolingRegion, year: int, rate: Decimal | str, rounding: str = Rounding.HALF_UP
) -> InterestRate:
    """The bookkeeping rate of a year ("0.015" or "1.5%"); refused once that year's interest is posted."""
    require(actor, Action.SET_CONTRIBUTION_POLICY)
    _require_covers(actor, pooling_region)
    year = _clean_year(year)
    value = rules.parse_rate(rate)
    if rounding not in Rounding.values:
        raise DomainError("请选择舍入规则。", code="invalid", field="rounding")
    with transaction.atomic():
        PoolingRegion.objects.select_for_update().get(pk=pooling_region.pk)
        settled = LedgerEntry.objects.filter(
            kind=EntryKind.INTEREST, account__pooling_region=pooling_region, period__startswith=str(year)
        )
        current = InterestRate.objects.filter(pooling_region=pooling_region, year=year).first()
        if current is not None and current.rate == value and current.rounding == rounding:
            return current
        if settled.exists():
            raise Conflict(
                f"{pooling_region.name}{year}年度利息已经结算入账，利率不能再修改；如确有错误请走冲正程序。",
                code="interest_settled",
            )
        rate_row = current or InterestRate(pooling_region=pooling_region, year=year)
        rate_row.rate = value
        rate_row.rounding = rounding
        rate_row._history_user = actor
        rate_row._change_reason = "设置记账利率" if current is None else "修改记账利率"
        rate_row.save()
    return rate_row


# --- tier choices ----------------------------------------------------------------------------------------


def _check_tier(tiers: dict[Decimal, Decimal], amount: Decimal, *, pooling_region: PoolingRegion, year: int) -> None:
    if amount not in tiers:
        raise DomainError(
            f"{pooling_region.name}{year}年度没有{yuan(amount)}元这一缴费档次。可选档次：{_tier_list(tiers)}元。",
            code="no_such_tier",
            field="amount",
        )


def tier_choice_record(*, actor, person: InsuredPerson, year: int, amount: Decimal | str) -> TierChoice:
    """The tier a person picks for a year; may change until the year is paid (history kept)."""
    require(actor, Action.RECORD_TIER_CHOICE)
    _require_in_scope(actor, person.region_code)
    year = _clean_year(year)
    amount = money(amount, field="amount")
    with transaction.atomic():
        person = _lock_person(person)
        if person.status not in (PersonStatus.PENDING, PersonStatus.ACTIVE):
            raise Conflict(
                f"参保人{person.name}当前状态为“{person.get_status_display()}”，不能选择缴费档次。", code="wrong_status"
            )
        pooling_region = _pooling_region(person)
        tiers = selectors.tier_table(selectors.policy_for_year(pooling_region=pooling_region, year=year))
        _check_tier(tiers, amount, pooling_region=pooling_region, year=year)
        choice = TierChoice.objects.filter(person=person, year=year).first()
        if choice is not None and choice.amount == amount and choice.source != TierSource.DEFAULT:
            return choice  # nothing changes: no history row, and no refusal for a paid year
        if Contribution.objects.filter(person=person, year=year).exists():
            raise Conflict(f"{person.name}{year}年度已经缴费，已缴年度的档次不能再修改。", code="year_paid")
        choice = choice or TierChoice(person=person, year=year)
        choice.amount = amount
        choice.source = TierSource.CLERK
        choice.region_code = person.region_code
        choice.chosen_by = actor
        choice._history_user = actor
        choice._change_reason = "录入缴费档次"
        choice.save()
    return choice


def tier_choices_template(*, actor, year: int, village: Region) -> bytes:
    """An .xlsx of the village's active persons, their current choice, and a drop-down of the year's tiers."""
    require(actor, Action.RECORD_TIER_CHOICE)
    if village.level != RegionLevel.VILLAGE:
        raise DomainError("请选择村（社区）。", code="invalid", field="village")
    _require_in_scope(actor, village.code)
    year = _clean_year(year)
    pooling_region = village.effective_pooling_region()
    if pooling_region is None:
        raise DomainError(f"{village.full_name()}未归属任何统筹区。", code="no_pooling_region", field="village")
    tiers = selectors.tier_table(selectors.policy_for_year(pooling_region=pooling_region, year=year))
    persons = (
        scoped(InsuredPerson.objects.all(), actor)
        .filter(village=village, status=PersonStatus.ACTIVE)
        .order_by("name", "id")
    )
    choices = dict(TierChoice.objects.filter(person__in=persons, year=year).values_list("person_id", "amount"))
    paid = set(Contribution.objects.filter(person__in=persons, year=year).values_list("person_id", flat=True))
    rows = [
        xlsx.TemplateRow(
            id_number=p.id_number,
            name=p.name,
            insurance_number=p.insurance_number or "",
            current=choices.get(p.pk),
            paid=p.pk in paid,
        )
        for p in persons
    ]
    return xlsx.build_template(year=year, village_name=village.full_name(), tiers=list(tiers), rows=rows)


@dataclass
class RowError:
    row: int
    message: str


@dataclass
class TierImportResult:
    """What an import did; with ``errors`` it did nothing at all."""

    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    blank: int = 0
    errors: list[RowError] = field(default_factory=list)
    batch_id: int | None = None

    @property
    def ok(self) -> bool:
        return not self.errors


MAX_IMPORT_ERRORS = 500


def tier_choices_import(*, actor, year: int, file_name: str, content: bytes) -> TierImportResult:
    """A batch of tier choices from the template (or any sheet with 身份证号 and 缴费档次 columns): all or nothing.

    Every row's problem is listed with its row number; if there is any, nothing is written. A blank tier
    leaves that person as they were; a row repeating a paid year's tier unchanged is accepted.
    """
    require(actor, Action.RECORD_TIER_CHOICE)
    year = _clean_year(year)
    sheet = xlsx.read_tier_sheet(file_name=file_name, content=content, year=year)
    result = TierImportResult(rows=len(sheet.rows))
    errors = result.errors
    errors.extend(RowError(row, message) for row, message in sheet.errors)
    wanted: dict[str, tuple[int, Decimal, str]] = {}  # id number → (row, amount, name in the sheet)
    for row in sheet.rows:
        if not row.tier.strip():
            result.blank += 1
            continue
        try:
            number = idnumber.parse(row.id_number).number
        except idnumber.IdNumberError as error:
            errors.append(RowError(row.number, f"身份证号“{row.id_number}”有误：{error.message}"))
            continue
        try:
            amount = money(row.tier, field="amount")
        except DomainError as error:
            errors.append(RowError(row.number, f"缴费档次“{row.tier}”有误：{error.message}"))
            continue
        if number in wanted:
            errors.append(RowError(row.number, f"身份证号 {idnumber.mask(number)} 与第{wanted[number][0]}行重复。"))
            continue
        wanted[number] = (row.number, amount, row.name.strip())
    persons: dict[str, InsuredPerson] = {}
    numbers = list(wanted)
    for start in range(0, len(numbers), 1000):
        chunk = numbers[start : start + 1000]
        for person in scoped(InsuredPerson.objects.all(), actor).filter(id_number__in=chunk):
            persons[person.id_number] = person
    prefixes = selectors.pooling_prefixes()
    tables: dict[int, dict[Decimal, Decimal] | None] = {}
    person_ids = [p.pk for p in persons.values()]
    current = {c.person_id: c for c in TierChoice.objects.filter(year=year, person_id__in=person_ids)}
    paid = set(Contribution.objects.filter(year=year, person_id__in=person_ids).values_list("person_id", flat=True))
    planned: list[tuple[InsuredPerson, Decimal]] = []
    for number, (row_number, amount, name) in wanted.items():
        person = persons.get(number)
        if person is None or person.status not in (PersonStatus.PENDING, PersonStatus.ACTIVE):
            errors.append(
                RowError(row_number, f"身份证号 {idnumber.mask(number)} 不是您辖区内正常参保的人员，请核对。")
            )
            continue
        if name and name != person.name:
            errors.append(RowError(row_number, f"姓名“{name}”与身份证号登记的姓名不符，请核对。"))
            continue
        pool_id = selectors.pooling_region_id_of(person.region_code, prefixes)
        if pool_id not in tables:
            try:
                pool = PoolingRegion.objects.get(pk=pool_id)
                tables[pool_id] = selectors.tier_table(selectors.policy_for_year(pooling_region=pool, year=year))
            except (PoolingRegion.DoesNotExist, DomainError):
                tables[pool_id] = None
        tiers = tables[pool_id]
        if tiers is None:
            errors.append(RowError(row_number, f"{person.name}所在统筹区尚未设置{year}年度缴费档次。"))
            continue
        if amount not in tiers:
            errors.append(
                RowError(row_number, f"{year}年度没有{yuan(amount)}元这一档次，可选：{_tier_list(tiers)}元。")
            )
            continue
        existing = current.get(person.pk)
        if existing is not None and existing.amount == amount and existing.source != TierSource.DEFAULT:
            result.unchanged += 1
            continue
        if person.pk in paid:
            errors.append(RowError(row_number, f"{person.name}{year}年度已经缴费，已缴年度的档次不能再修改。"))
            continue
        planned.append((person, amount))
    if errors:
        errors.sort(key=lambda e: e.row)
        del errors[MAX_IMPORT_ERRORS:]
        return result
    prefix = scope_prefix(actor) or ""
    with transaction.atomic():
        # The persons locked in a fixed order, then paid years checked again: a payment may have landed meanwhile.
        ids = sorted(p.pk for p, _ in planned)
        list(InsuredPerson.objects.select_for_update().filter(pk__in=ids).order_by("pk").values_list("pk"))
        paid_now = set(Contribution.objects.filter(year=year, person_id__in=ids).values_list("person_id", flat=True))
        if paid_now:
            raise Conflict("导入期间有人员刚刚缴费，请重新下载模板后再导入。", code="year_paid")
        current = {c.person_id: c for c in TierChoice.objects.filter(year=year, person_id__in=ids)}
        new: list[TierChoice] = []
        changed: list[TierChoice] = []
        for person, amount in planned:
            choice = current.get(person.pk)
            if choice is None:
                new.append(
                    TierChoice(
                        person=person,
                        year=year,
                        amount=amount,
                        source=TierSource.BATCH,
                        region_code=person.region_code,
                        chosen_by=actor,
                    )
                )
            else:
                choice.amount, choice.source, choice.chosen_by = amount, TierSource.BATCH, actor
                choice.region_code = person.region_code
                choice.chosen_at = timezone.now()
                changed.append(choice)
        reason = f"批量导入缴费档次：{os.path.basename(file_name)[:80]}"
        if new:
            bulk_create_with_history(new, TierChoice, default_user=actor, default_change_reason=reason)
        if changed:
            bulk_update_with_history(
                changed,
                TierChoice,
                ["amount", "source", "chosen_by", "region_code", "chosen_at"],
                default_user=actor,
                default_change_reason=reason,
            )
        batch = TierChoiceBatch.objects.create(
            kind=TierBatchKind.IMPORT,
            region_code=prefix,
            year=year,
            file_name=os.path.basename(file_name)[:200],
            file_sha256=hashlib.sha256(content).hexdigest(),
            rows=result.rows,
            created=len(new),
            updated=len(changed),
            actor=actor,
        )
    result.created, result.updated, result.batch_id = len(new), len(changed), batch.pk
    return result


def default_tiers_assign(*, on_date: dt.date) -> int:
    """Once a region's collection window for a year has ended, every active person under 60 (on 1 January),
    enrolled by the window's end, without a choice or a payment for that year gets the lowest tier (source: default).

    Looks at the year of ``on_date`` and the year before: a window ending on 31 December has ended only when
    the next year has begun. Set-based, in chunks of one INSERT each, every chunk its own transaction; safe
    to kill and run again. Returns how many choices it added; each region and year done leaves an audit row.
    """
    prefixes = selectors.pooling_prefixes()
    assigned_total = 0
    for pooling_region in PoolingRegion.objects.order_by("pk"):
        own = [prefix for prefix, pool in prefixes if pool == pooling_region.pk]
        if not own:
            continue
        for year in (on_date.year - 1, on_date.year):
            assigned_total += _default_tiers_for(pooling_region, year, on_date=on_date, own=own, prefixes=prefixes)
    return assigned_total


def _default_tiers_for(
    pooling_region: PoolingRegion, year: int, *, on_date: dt.date, own: list[str], prefixes: list[tuple[str, int]]
) -> int:
    try:
        year_policy = selectors.policy_for_year(pooling_region=pooling_region, year=year)
    except DomainError:
        return 0
    _, window_end = rules.window_dates(selectors.policy_window(year_policy), year)
    lowest = year_policy.tiers.order_by("amount").first()
    if on_date <= window_end or lowest is None:
        return 0
    # Places of another pooling region nested inside ours (a town moved by an adjustment) are not ours.
    nested = [
        prefix
        for prefix, pool in prefixes
        if pool != pooling_region.pk and any(prefix.startswith(o) and prefix != o for o in own)
    ]
    where = Q()
    for prefix in own:
        where |= Q(region_code__startswith=prefix)
    for prefix in nested:
        where &= ~Q(region_code__startswith=prefix)
    persons = (
        InsuredPerson.objects.filter(where, status=PersonStatus.ACTIVE)
        .filter(birth_date__gt=rules.add_years(dt.date(year, 1, 1), -rules.PENSION_AGE))
        # Not those who joined after the window closed: that year was never theirs to pay.
        .filter(Q(enrolled_on__isnull=True) | Q(enrolled_on__lte=window_end))
        .filter(~Exists(TierChoice.objects.filter(person=OuterRef("pk"), year=year)))
        .filter(~Exists(Contribution.objects.filter(person=OuterRef("pk"), year=year)))
        .order_by("pk")
    )
    added = 0
    last_pk = 0
    while True:
        chunk = list(persons.filter(pk__gt=last_pk).values_list("pk", "region_code")[:DEFAULT_CHUNK])
        if not chunk:
            break
        last_pk = chunk[-1][0]
        ids = [pk for pk, _ in chunk]
        with transaction.atomic():
            before = TierChoice.objects.filter(year=year, person_id__in=ids).count()
            TierChoice.objects.bulk_create(
                [
                    TierChoice(
                        person_id=pk, year=year, amount=lowest.amount, source=TierSource.DEFAULT, region_code=code
                    )
                    for pk, code in chunk
                ],
                ignore_conflicts=True,  # a clerk's choice saved meanwhile wins
            )
            added += TierChoice.objects.filter(year=year, person_id__in=ids).count() - before
    if added:
        TierChoiceBatch.objects.create(
            kind=TierBatchKind.DEFAULT, region_code=os.path.commonprefix(own), year=year, rows=added, created=added
        )
    return added


# --- contributions -----------------------------------------------------------------------------------------


def _clean_bank_fields(bank_code: str, bank_reference: str) -> tuple[str, str]:
    code = "".join(str(bank_code or "").split())
    reference = "".join(str(bank_reference or "").split())
    if not code:
        raise DomainError("请填写银行代码（见银行回单）。", code="required", field="bank_code")
    if len(code) > 10:
        raise DomainError("银行代码最多10位。", code="too_long", field="bank_code")
    if not reference:
        raise DomainError("请填写银行流水号（见银行回单）。", code="required", field="bank_reference")
    if len(reference) > 64:
        raise DomainError("银行流水号最多64位。", code="too_long", field="bank_reference")
    return code, reference


def _retry_of(existing: Contribution, *, person, year, amount, paid_on, kind) -> Contribution:
    """The same bank reference again: the same payment retried returns the first; anything else is a conflict."""
    if (existing.person_id, existing.year, existing.personal_amount, existing.paid_on, existing.kind) == (
        person.pk,
        year,
        amount,
        paid_on,
        kind,
    ):
        return existing
    raise Conflict(
        f"银行流水号 {existing.bank_reference} 已用于另一笔缴费（{existing.paid_on:%Y-%m-%d}，{yuan(existing.personal_amount)}元），"
        "同一流水号不能重复入账，请核对银行回单。",
        code="bank_reference_used",
    )


def _hardship_share(person: InsuredPerson, year_policy: ContributionPolicy, on: dt.date) -> Decimal:
    groups = set(
        SpecialGroupMembership.objects.filter(person=person, certified_on__lte=on)
        .filter(Q(ends_on__isnull=True) | Q(ends_on__gte=on))
        .values_list("group", flat=True)
    )
    shares = {share.group: share.share_percent for share in year_policy.hardship_shares.all()}
    return rules.government_paid_share(shares[group] for group in groups if group in shares)


def _check_back_payment(person: InsuredPerson, pooling_region: PoolingRegion, year: int, paid_on: dt.date) -> None:
    started = pooling_region.scheme_started_on
    if started is None:
        raise DomainError(f"{pooling_region.name}未设置本地实施日期，无法判断补缴资格。", code="no_scheme_start")
    if not rules.back_payment_eligible(birth_date=person.birth_date, scheme_started_on=started):
        raise DomainError(
            f"{person.name}在本地实施（{started:%Y-%m-%d}）时距60周岁不少于15年（或已满60周岁），"
            "不属于可以补缴的人员，请按年正常缴费。",
            code="back_payment_not_allowed",
        )
    if year >= paid_on.year:
        raise DomainError("补缴只能补缴以往年度；当年的缴费请按正常缴费办理。", code="invalid", field="year")
    if year < started.year:
        raise DomainError(f"补缴年度不能早于本地实施年度（{started.year}年）。", code="invalid", field="year")
    if rules.age_on(person.birth_date, dt.date(year, 1, 1)) >= rules.PENSION_AGE:
        raise DomainError(f"{person.name}在{year}年初已满60周岁，该年度不能补缴。", code="invalid", field="year")
    limit = selectors.policy_for(pooling_region=pooling_region, on=paid_on).back_payment_max_years
    done = Contribution.objects.filter(person=person, kind=ContributionKind.BACK_PAYMENT).count()
    if done >= limit:
        raise DomainError(
            f"{person.name}已补缴{done}个年度，已达到补缴年限上限（{limit}年），不能再补缴。",
            code="back_payment_limit",
        )


def contribution_post(
    *,
    actor,
    person: InsuredPerson,
    year: int,
    amount: Decimal | str,
    paid_on: dt.date,
    channel: str,
    bank_code: str,
    bank_reference: str,
    kind: str = ContributionKind.REGULAR,
) -> Contribution:
    """A person's contribution for a year, and the account credited component by component, in one transaction.

    ``amount`` is what the person paid. The tier is the person's choice for the year (the amount must then be
    the tier less 代缴), or with no choice of their own, the amount plus 代缴 must be a tier of the year.
    代缴 is the largest share among the person's hardship groups valid on the day paid, of the LOWEST tier.
    The same bank reference again returns the first contribution when it is the same payment.
    """
    if channel not in Channel.values:
        raise DomainError("请选择缴费渠道。", code="invalid", field="channel")
    require(actor, Action.RECORD_COUNTER_PAYMENT if channel == Channel.COUNTER else Action.POST_BANK_FILE_PAYMENT)
    _require_in_scope(actor, person.region_code)
    return bank_payment_post(
        actor=actor,
        person=person,
        year=year,
        amount=amount,
        paid_on=paid_on,
        channel=channel,
        bank_code=bank_code,
        bank_reference=bank_reference,
        kind=kind,
    )


def bank_payment_post(
    *,
    person: InsuredPerson,
    year: int,
    amount: Decimal | str,
    paid_on: dt.date,
    channel: str,
    bank_code: str,
    bank_reference: str,
    kind: str = ContributionKind.REGULAR,
    actor=None,
    within_window: bool = True,
) -> Contribution:
    """``contribution_post`` without the clerk's role and scope: for a bank's own posting (a counter payment
    through the API, a line of a settled deduction file), whose bank the caller has checked.

    A settled deduction is money already taken from the person's account, so it is posted outside the
    collection window too (``within_window=False``).
    """
    if channel not in Channel.values:
        raise DomainError("请选择缴费渠道。", code="invalid", field="channel")
    if kind not in ContributionKind.values:
        raise DomainError("请选择缴费类型（正常缴费或补缴）。", code="invalid", field="kind")
    year = _clean_year(year)
    personal = money(amount, field="amount", allow_zero=True)
    paid_on = _clean_date(paid_on, field_name="paid_on", label="缴费日期")
    bank_code, bank_reference = _clean_bank_fields(bank_code, bank_reference)
    retry = dict(person=person, year=year, amount=personal, paid_on=paid_on, kind=kind)
    existing = Contribution.objects.filter(bank_code=bank_code, bank_reference=bank_reference).first()
    if existing is not None:
        return _retry_of(existing, **retry)
    back = kind == ContributionKind.BACK_PAYMENT
    try:
        with transaction.atomic():
            person = _lock_person(person)
            # A retry that waited on the lock above finds the payment its twin just posted.
            existing = Contribution.objects.filter(bank_code=bank_code, bank_reference=bank_reference).first()
            if existing is not None:
                return _retry_of(existing, **retry)
            _require_active(person)
            earlier = Contribution.objects.filter(person=person, year=year).first()
            if earlier is not None:
                raise Conflict(
                    f"{person.name}{year}年度已经缴费（{earlier.paid_on:%Y-%m-%d}，个人缴费{yuan(earlier.personal_amount)}元，"
                    f"流水号 {earlier.bank_reference}），同一年度只能缴费一次。",
                    code="year_paid",
                )
            pooling_region = _pooling_region(person)
            year_policy = selectors.policy_for_year(pooling_region=pooling_region, year=year)
            tiers = selectors.tier_table(year_policy)
            if not tiers:
                raise DomainError(f"{pooling_region.name}{year}年度未设置缴费档次。", code="no_policy")
            if back:
                _check_back_payment(person, pooling_region, year, paid_on)
                window_policy = selectors.policy_for(pooling_region=pooling_region, on=paid_on)
            else:
                if paid_on.year != year:
                    raise DomainError(
                        f"缴费日期（{paid_on:%Y-%m-%d}）不在{year}年度内：以往年度请按补缴办理，不能预缴以后年度。",
                        code="wrong_year",
                        field="paid_on",
                    )
                window_policy = year_policy
            window = selectors.policy_window(window_policy)
            if within_window and not window_policy.allow_outside_window and not rules.in_window(window, paid_on):
                start, end = rules.window_dates(window, paid_on.year)
                raise DomainError(
                    f"{paid_on:%Y-%m-%d}不在{pooling_region.name}的征缴期（{start:%m月%d日}至{end:%m月%d日}）内，"
                    "本统筹区不允许征缴期外缴费。",
                    code="outside_window",
                    field="paid_on",
                )
            lowest = min(tiers)
            share = ZERO if back else _hardship_share(person, year_policy, paid_on)
            government_paid = rules.government_paid_amount(lowest_tier=lowest, share_percent=share)
            choice = TierChoice.objects.filter(person=person, year=year).first()
            if choice is not None and choice.source != TierSource.DEFAULT and not back:
                tier = choice.amount
                if tier not in tiers:
                    raise DomainError(
                        f"{person.name}所选的{yuan(tier)}元不是{year}年度的缴费档次，请先重新选择档次。",
                        code="no_such_tier",
                        field="amount",
                    )
                expected = tier - government_paid
                if personal != expected:
                    paid_part = f"，政府代缴{yuan(government_paid)}元" if government_paid else ""
                    raise DomainError(
                        f"{person.name}{year}年度选择的档次为{yuan(tier)}元{paid_part}，个人应缴{yuan(expected)}元，"
                        f"与实缴{yuan(personal)}元不符。请核对银行回单，或先修改档次。",
                        code="amount_mismatch",
                        field="amount",
                    )
            else:
                tier = personal + government_paid
                if tier not in tiers:
                    payable = _tier_list(t - government_paid for t in tiers)
                    paid_part = f"（已扣除政府代缴{yuan(government_paid)}元）" if government_paid else ""
                    raise DomainError(
                        f"实缴{yuan(personal)}元不对应{pooling_region.name}{year}年度任何缴费档次。"
                        f"个人可缴金额{paid_part}：{payable}元。",
                        code="no_such_tier",
                        field="amount",
                    )
            subsidy = rules.subsidy_for(tiers=tiers, tier=tier, back_payment=back)
            level_shares = dict(
                province=year_policy.province_share, city=year_policy.city_share, county=year_policy.county_share
            )
            subsidy_parts = rules.split_by_level(subsidy, **level_shares)
            paid_parts = rules.split_by_level(government_paid, **level_shares)
            contribution = Contribution.objects.create(
                person=person,
                year=year,
                kind=kind,
                tier_amount=tier,
                personal_amount=personal,
                government_subsidy=subsidy,
                government_paid=government_paid,
                subsidy_province=subsidy_parts[0],
                subsidy_city=subsidy_parts[1],
                subsidy_county=subsidy_parts[2],
                paid_province=paid_parts[0],
                paid_city=paid_parts[1],
                paid_county=paid_parts[2],
                paid_on=paid_on,
                channel=channel,
                bank_code=bank_code,
                bank_reference=bank_reference,
                region_code=person.region_code,
                recorded_by=actor,
            )
            if choice is None or choice.amount != tier or choice.source == TierSource.DEFAULT:
                choice = choice or TierChoice(person=person, year=year, region_code=person.region_code)
                choice.amount = tier
                choice.source = TierSource.PAYMENT
                choice.chosen_by = actor
                choice._history_user = actor
                choice._change_reason = f"按实缴金额确定档次（流水号 {bank_reference}）"
                choice.save()
            postings = [
                Posting(Component.PERSONAL, EntryKind.CONTRIBUTION, personal),
                Posting(Component.GOVERNMENT_SUBSIDY, EntryKind.SUBSIDY, subsidy),
                Posting(Component.GOVERNMENT_PAID, EntryKind.GOVERNMENT_PAID, government_paid),
            ]
            ledger_post(
                account=account_open(person=person, opened_on=paid_on),
                postings=[p for p in postings if p.amount],
                booked_on=paid_on,
                reference=f"contribution:{contribution.pk}",
                idempotency_key=f"contribution:{contribution.pk}",
                actor=actor,
            )
            if back:
                file_record(filing.back_payment_record(contribution))  # 保费补缴申请表
    except IntegrityError:
        # Another clerk (or the bank file) got there a moment before: same payment → the first one.
        existing = Contribution.objects.filter(bank_code=bank_code, bank_reference=bank_reference).first()
        if existing is not None:
            return _retry_of(existing, **retry)
        raise Conflict(
            f"{person.name}{year}年度刚刚已有一笔缴费入账，同一年度只能缴费一次，请刷新后核对。", code="year_paid"
        ) from None
    return contribution


# --- collective subsidy and donations -------------------------------------------------------------------------


def _top_tier(pooling_region: PoolingRegion, year: int) -> Decimal:
    tiers = selectors.tier_table(selectors.policy_for_year(pooling_region=pooling_region, year=year))
    if not tiers:
        raise DomainError(f"{pooling_region.name}{year}年度未设置缴费档次。", code="no_policy")
    return max(tiers)


def _received_for_year(person_ids: list[int], year: int, *, exclude_subsidy: int | None = None) -> dict[int, Decimal]:
    """Collective subsidy and donations each person already has for the year (the cap counts both)."""
    received: dict[int, Decimal] = {}
    donations = (
        Donation.objects.filter(year=year, person_id__in=person_ids)
        .values("person_id")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    credits = (
        CollectiveSubsidyCredit.objects.filter(subsidy__year=year, person_id__in=person_ids)
        .exclude(subsidy_id=exclude_subsidy)
        .values("person_id")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    for row in [*donations, *credits]:
        received[row["person_id"]] = received.get(row["person_id"], ZERO) + row["total"]
    return received


def collective_subsidy_record(
    *,
    actor,
    village: Region,
    year: int,
    amount_per_person: Decimal | str,
    decision: str = "",
    booked_on: dt.date | None = None,
) -> CollectiveSubsidy:
    """集体补助: credits every person of the village who has paid that year (component collective).

    Safe to run again with the same amount: it credits those who paid since and nobody twice. Where the
    subsidy plus donations would pass the year's top tier, the person gets the part allowed and is counted
    in ``persons_capped``.
    """
    require(actor, Action.RECORD_SUBSIDY)
    if village.level != RegionLevel.VILLAGE:
        raise DomainError("集体补助须按村（社区）登记，请选择村（社区）。", code="invalid", field="village")
    _require_in_scope(actor, village.code)
    year = _clean_year(year)
    amount = money(amount_per_person, field="amount_per_person")
    decision = (decision or "").strip()
    if len(decision) > 100:
        raise DomainError("决议文号最多100个字。", code="too_long", field="decision")
    booked_on = booked_on or _today()
    pooling_region = village.effective_pooling_region()
    if pooling_region is None:
        raise DomainError(f"{village.full_name()}未归属任何统筹区。", code="no_pooling_region", field="village")
    cap = _top_tier(pooling_region, year)
    if amount > cap:
        raise DomainError(
            f"每人补助金额不能超过{year}年度最高缴费档次（{yuan(cap)}元）。", code="over_cap", field="amount_per_person"
        )
    try:
        with transaction.atomic():
            subsidy = CollectiveSubsidy.objects.select_for_update().filter(village=village, year=year).first()
            created = subsidy is None
            if created:
                subsidy = CollectiveSubsidy.objects.create(
                    village=village,
                    region_code=village.code,
                    year=year,
                    amount_per_person=amount,
                    decision=decision,
                    recorded_by=actor,
                )
            elif subsidy.amount_per_person != amount:
                raise Conflict(
                    f"{village.name}{year}年度集体补助已登记为每人{yuan(subsidy.amount_per_person)}元，"
                    "重复登记只会为新缴费人员补记；金额有误请联系县级经办机构冲正。",
                    code="amount_differs",
                )
            credited = CollectiveSubsidyCredit.objects.filter(subsidy=subsidy, person_id=OuterRef("person_id"))
            payers = list(
                Contribution.objects.filter(year=year, person__village=village)
                .filter(~Exists(credited))
                .order_by("person_id")
                .values_list("person_id", flat=True)
            )
            # Locked in a fixed order, so a donation to one of them waits rather than passing the cap.
            list(InsuredPerson.objects.select_for_update().filter(pk__in=payers).order_by("pk").values_list("pk"))
            received = _received_for_year(payers, year, exclude_subsidy=subsidy.pk)
            accounts = {a.person_id: a for a in IndividualAccount.objects.filter(person_id__in=payers)}
            credits = []
            for person_id in payers:
                allowed = max(min(amount, cap - received.get(person_id, ZERO)), ZERO)
                credits.append(
                    CollectiveSubsidyCredit(
                        subsidy=subsidy, person_id=person_id, amount=allowed, capped=allowed < amount
                    )
                )
                if not allowed:
                    continue
                account = accounts.get(person_id) or account_open(
                    person=InsuredPerson.objects.select_related("village").get(pk=person_id), opened_on=booked_on
                )
                ledger_post(
                    account=account,
                    postings=[Posting(Component.COLLECTIVE, EntryKind.COLLECTIVE, allowed)],
                    booked_on=booked_on,
                    reference=f"collective:{subsidy.pk}",
                    idempotency_key=f"collective:{subsidy.pk}:{person_id}",
                    actor=actor,
                )
            CollectiveSubsidyCredit.objects.bulk_create(credits)
            all_credits = CollectiveSubsidyCredit.objects.filter(subsidy=subsidy)
            subsidy.persons_credited = all_credits.filter(amount__gt=0).count()
            subsidy.persons_capped = all_credits.filter(capped=True).count()
            subsidy.save(update_fields=["persons_credited", "persons_capped"])
            # 集体补助明细表, filed once and brought up to date by a re-run that credits more persons.
            file_record(filing.collective_subsidy_record(subsidy))
    except IntegrityError:
        raise Conflict("该村本年度集体补助刚刚已由他人登记，请刷新后核对。", code="duplicate") from None
    return subsidy


def donation_record(
    *, actor, person: InsuredPerson, year: int, donor: str, amount: Decimal | str, received_on: dt.date
) -> Donation:
    """资助 to one person for a year, credited to the donation component; refused beyond the cap."""
    require(actor, Action.RECORD_SUBSIDY)
    _require_in_scope(actor, person.region_code)
    year = _clean_year(year)
    amount = money(amount, field="amount")
    donor = " ".join(str(donor or "").split())
    if not donor:
        raise DomainError("请填写资助方名称。", code="required", field="donor")
    if len(donor) > 100:
        raise DomainError("资助方名称最多100个字。", code="too_long", field="donor")
    received_on = _clean_date(received_on, field_name="received_on", label="到账日期")
    with transaction.atomic():
        person = _lock_person(person)
        _require_active(person)
        cap = _top_tier(_pooling_region(person), year)
        already = _received_for_year([person.pk], year).get(person.pk, ZERO)
        if already + amount > cap:
            room = max(cap - already, ZERO)
            raise DomainError(
                f"集体补助和社会资助合计不得超过{year}年度最高缴费档次（{yuan(cap)}元）。{person.name}本年度已有"
                f"{yuan(already)}元，本次最多还可资助{yuan(room)}元。",
                code="over_cap",
                field="amount",
            )
        donation = Donation.objects.create(
            person=person,
            region_code=person.region_code,
            year=year,
            donor=donor,
            amount=amount,
            received_on=received_on,
            recorded_by=actor,
        )
        ledger_post(
            account=account_open(person=person, opened_on=received_on),
            postings=[Posting(Component.DONATION, EntryKind.DONATION, amount)],
            booked_on=received_on,
            reference=f"donation:{donation.pk}",
            idempotency_key=f"donation:{donation.pk}",
            actor=actor,
        )
    return donation
