"""Demo contribution policy and a few years of contributions for the demo city (``manage.py seed_demo``).

Policy: every pooling region gets two periods, 2012–2017 with the national tiers (100–1000 by 100, 1500,
2000) and from 2018 a raised schedule starting at 200 (to show effective dating); subsidy 30 at the lowest
tier rising to at least 60 from 500; 代缴 特困 100%, 低保 70%, 重度残疾 100% of the lowest tier; one region
(溧阳市) collects only in the first quarter, the others all year. Interest rates 2012–2026 are the central
bank's one-year deposit rates on 1 January (3.50%, 3.00%, 3.00%, 2.75%, then 1.50%).

Contributions: every insured person (not pending) pays for some of the years 2021–2026 in which they were
enrolled and aged 16–59, by bank deduction or at the counter, within the window. Rows are built in Python
and written by multi-row INSERTs (contributions, tier choices, ledger entries; accounts by bulk_create), and
the cached balances are set from the ledger sums by one UPDATE per chunk: 3,000 persons load in about a second. Everything is
drawn from generators seeded by the identity number, so the same register gives the same money on every run;
persons who already have contributions, a tier choice or an account are left alone, so the command is safe to re-run.
Interest is not posted here: ``seed_demo`` settles the past years afterwards (``benefits.demo``), before any claim is approved.
"""

import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.db.models import DateField, DateTimeField, DecimalField, Exists, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from simple_history.utils import bulk_create_with_history

from agencies.models import PoolingRegion
from agencies.money import MONEY_MAX_DIGITS, MONEY_PLACES, ZERO
from contributions import policy as rules
from contributions import selectors
from contributions.models import (
    Channel,
    Contribution,
    ContributionKind,
    ContributionPolicy,
    ContributionTier,
    HardshipShare,
    InterestRate,
    TierChoice,
    TierSource,
)
from enrollment.models import InsuredPerson, PersonStatus, SpecialGroupMembership
from funds.models import BALANCE_COLUMN, Component, EntryKind, IndividualAccount, LedgerEntry

TZ = ZoneInfo("Asia/Shanghai")
FIRST_YEAR = 2021  # a few years: enough for renewal figures and interest, quick to load
CHUNK = 2000

OLD_TIERS = {100: 30, 200: 35, 300: 40, 400: 45, 500: 60, 600: 65, 700: 70, 800: 75, 900: 80, 1000: 85, 1500: 90, 2000: 100}  # fmt: skip
NEW_TIERS = {200: 40, 300: 45, 400: 50, 500: 60, 600: 65, 700: 70, 800: 75, 900: 80, 1000: 90, 1500: 110, 2000: 130, 2500: 140, 3000: 150}  # fmt: skip
HARDSHIP = {"tekun": Decimal(100), "dibao": Decimal(70), "disability": Decimal(100)}
# One-year deposit rate on 1 January of each year.
RATES = {2012: "0.035", 2013: "0.03", 2014: "0.03", 2015: "0.0275", **{y: "0.015" for y in range(2016, 2027)}}
FIRST_QUARTER_REGIONS = {"320481"}  # 溧阳市 collects in the first quarter, as Linyi does
# (province, city, county) percent of each government subsidy and 代缴: the city pays more for its own districts.
LEVEL_SHARES = {"320400": (30, 50, 20)}
COUNTY_LEVEL_SHARES = (30, 20, 50)


def seed_contributions(*, reference_date: dt.date, seed_user=None) -> int:
    """Policies, rates, and contributions for persons who have none. Returns how many contributions it wrote."""
    for pooling_region in PoolingRegion.objects.order_by("code"):
        _ensure_policies(pooling_region, seed_user)
        _ensure_rates(pooling_region, reference_date, seed_user)
    return _load_contributions(reference_date=reference_date)


# --- policy ---------------------------------------------------------------------------------------------------


def _ensure_policies(pooling_region: PoolingRegion, seed_user) -> None:
    if ContributionPolicy.objects.filter(pooling_region=pooling_region).exists():
        return
    window_end = (3, 31) if pooling_region.code in FIRST_QUARTER_REGIONS else (12, 31)
    province, city, county = LEVEL_SHARES.get(pooling_region.code, COUNTY_LEVEL_SHARES)
    periods = ((dt.date(2012, 1, 1), dt.date(2017, 12, 31), OLD_TIERS), (dt.date(2018, 1, 1), None, NEW_TIERS))
    reason = "演示数据：缴费政策"
    with transaction.atomic():
        policies = [
            ContributionPolicy(
                pooling_region=pooling_region,
                valid_from=start,
                valid_to=end,
                window_end_month=window_end[0],
                window_end_day=window_end[1],
                province_share=Decimal(province),
                city_share=Decimal(city),
                county_share=Decimal(county),
                created_by=seed_user,
            )
            for start, end, _ in periods
        ]
        bulk_create_with_history(policies, ContributionPolicy, default_user=seed_user, default_change_reason=reason)
        policies = list(ContributionPolicy.objects.filter(pooling_region=pooling_region).order_by("valid_from"))
        tiers = [
            ContributionTier(policy=policy, amount=Decimal(amount), government_subsidy=Decimal(subsidy))
            for policy, (_, _, table) in zip(policies, periods, strict=True)
            for amount, subsidy in table.items()
        ]
        shares = [
            HardshipShare(policy=policy, group=group, share_percent=percent)
            for policy in policies
            for group, percent in HARDSHIP.items()
        ]
        bulk_create_with_history(tiers, ContributionTier, default_user=seed_user, default_change_reason=reason)
        bulk_create_with_history(shares, HardshipShare, default_user=seed_user, default_change_reason=reason)


def _ensure_rates(pooling_region: PoolingRegion, reference_date: dt.date, seed_user) -> None:
    have = set(InterestRate.objects.filter(pooling_region=pooling_region).values_list("year", flat=True))
    missing = [
        InterestRate(pooling_region=pooling_region, year=year, rate=Decimal(rate))
        for year, rate in RATES.items()
        if year not in have and year <= reference_date.year
    ]
    bulk_create_with_history(missing, InterestRate, default_user=seed_user, default_change_reason="演示数据：记账利率")


# --- contributions ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class YearRules:
    """What a pooling region's policy says for one year, read once for the whole load."""

    tiers: dict[Decimal, Decimal]
    window: rules.Window
    shares: dict[str, Decimal]
    levels: dict[str, Decimal]


def _year_rules(pooling_ids: set[int], years: range) -> dict[tuple[int, int], YearRules]:
    table: dict[tuple[int, int], YearRules] = {}
    for pooling_region in PoolingRegion.objects.filter(pk__in=pooling_ids):
        for year in years:
            try:
                policy = selectors.policy_for_year(pooling_region=pooling_region, year=year)
            except Exception:  # a year without policy: nobody pays it in the demo
                continue
            table[(pooling_region.pk, year)] = YearRules(
                tiers=selectors.tier_table(policy),
                window=selectors.policy_window(policy),
                shares={s.group: s.share_percent for s in policy.hardship_shares.all()},
                levels={"province": policy.province_share, "city": policy.city_share, "county": policy.county_share},
            )
    return table


def _load_contributions(*, reference_date: dt.date) -> int:
    prefixes = selectors.pooling_prefixes()
    pooling_ids = {pool for _, pool in prefixes}
    years = range(FIRST_YEAR, reference_date.year + 1)
    table = _year_rules(pooling_ids, years)
    persons = (
        InsuredPerson.objects.exclude(status__in=[PersonStatus.PENDING, PersonStatus.VOID])
        .filter(enrolled_on__isnull=False)
        .filter(~Exists(Contribution.objects.filter(person=OuterRef("pk"))))
        .filter(~Exists(IndividualAccount.objects.filter(person=OuterRef("pk"))))
        .filter(~Exists(TierChoice.objects.filter(person=OuterRef("pk"))))
        .order_by("pk")
    )
    written = 0
    last_pk = 0
    while True:
        chunk = list(persons.filter(pk__gt=last_pk)[:CHUNK])
        if not chunk:
            break
        last_pk = chunk[-1].pk
        written += _load_chunk(chunk, prefixes, table, reference_date)
    return written


def _at(day: dt.date, rng: random.Random) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(rng.randint(8, 16), rng.randint(0, 59)), TZ)


def _memberships(person_ids: list[int]) -> dict[int, list[tuple[str, dt.date, dt.date | None]]]:
    found: dict[int, list[tuple[str, dt.date, dt.date | None]]] = {}
    rows = SpecialGroupMembership.objects.filter(person_id__in=person_ids).values_list(
        "person_id", "group", "certified_on", "ends_on"
    )
    for person_id, group, certified_on, ends_on in rows:
        found.setdefault(person_id, []).append((group, certified_on, ends_on))
    return found


def _pick_tier(rng: random.Random, tiers: list[Decimal]) -> Decimal:
    # Most pick the lowest tier or one just above it; a few pick 500 (the subsidy step) or more.
    roll = rng.random()
    if roll < 0.45:
        return tiers[0]
    if roll < 0.65:
        return tiers[1]
    if roll < 0.75:
        return tiers[2]
    if roll < 0.90:
        return next((t for t in tiers if t >= 500), tiers[-1])
    return rng.choice(tiers[3:])


def _load_chunk(chunk: list[InsuredPerson], prefixes, table, reference_date: dt.date) -> int:
    memberships = _memberships([p.pk for p in chunk])
    contributions: list[dict] = []
    choices: list[dict] = []
    accounts: list[IndividualAccount] = []
    for person in chunk:
        pool_id = selectors.pooling_region_id_of(person.region_code, prefixes)
        if pool_id is None:
            continue
        rng = random.Random(f"contributions/{person.id_number}")
        assert person.enrolled_on is not None
        last_year = reference_date.year
        if person.status == PersonStatus.CANCELLED and person.cancelled_on:
            last_year = min(last_year, person.cancelled_on.year - 1)
        age_now = rules.age_on(person.birth_date, reference_date)
        diligence = 0.93 if age_now >= 45 else 0.80  # older members renew more faithfully (Ankang's targets)
        preferred: Decimal | None = None
        first_paid: dt.date | None = None
        for year in range(max(FIRST_YEAR, person.enrolled_on.year), last_year + 1):
            year_rules = table.get((pool_id, year))
            age = rules.age_on(person.birth_date, dt.date(year, 1, 1))
            if year_rules is None or not 16 <= age <= 59:
                continue
            tiers = list(year_rules.tiers)
            if preferred is None or preferred not in year_rules.tiers or rng.random() < 0.1:
                preferred = _pick_tier(rng, tiers)
            start, end = rules.window_dates(year_rules.window, year)
            start = max(start, person.enrolled_on)
            end = min(end, reference_date - dt.timedelta(days=1))
            if start > end or rng.random() > diligence:
                if year == reference_date.year and start <= end and rng.random() < 0.5:
                    # Not paid yet this year, but the agent has recorded the choice.
                    choices.append(_choice(person, year, preferred, TierSource.CLERK, _at(start, rng)))
                continue
            paid_on = start + dt.timedelta(days=rng.randint(0, min((end - start).days, 120)))
            first_paid = first_paid or paid_on
            groups = [
                year_rules.shares[group]
                for group, certified_on, ends_on in memberships.get(person.pk, ())
                if group in year_rules.shares and certified_on <= paid_on and (ends_on is None or ends_on >= paid_on)
            ]
            government_paid = rules.government_paid_amount(
                lowest_tier=tiers[0], share_percent=rules.government_paid_share(groups)
            )
            subsidy = year_rules.tiers[preferred]
            subsidy_parts = rules.split_by_level(subsidy, **year_rules.levels)
            paid_parts = rules.split_by_level(government_paid, **year_rules.levels)
            by_bank = rng.random() < 0.8
            recorded_at = _at(paid_on, rng)
            contributions.append(
                {
                    "person_id": person.pk,
                    "year": year,
                    "kind": ContributionKind.REGULAR.value,
                    "tier_amount": preferred,
                    "personal_amount": preferred - government_paid,
                    "government_subsidy": subsidy,
                    "government_paid": government_paid,
                    "subsidy_province": subsidy_parts[0],
                    "subsidy_city": subsidy_parts[1],
                    "subsidy_county": subsidy_parts[2],
                    "paid_province": paid_parts[0],
                    "paid_city": paid_parts[1],
                    "paid_county": paid_parts[2],
                    "paid_on": paid_on,
                    "channel": (Channel.BANK_FILE if by_bank else Channel.COUNTER).value,
                    "bank_code": person.bank_code or "314",
                    "bank_reference": f"{'DK' if by_bank else 'GM'}{year}{person.id_number}",
                    "region_code": person.region_code,
                    "recorded_by_id": None,
                    "recorded_at": recorded_at,
                }
            )
            source = TierSource.BATCH if rng.random() < 0.6 else TierSource.CLERK
            choices.append(_choice(person, year, preferred, source, recorded_at - dt.timedelta(days=20)))
        if first_paid is not None:
            accounts.append(
                IndividualAccount(
                    person=person, region_code=person.region_code, pooling_region_id=pool_id, opened_on=first_paid
                )
            )
    person_ids = [p.pk for p in chunk]
    with transaction.atomic():
        _insert(Contribution, contributions)
        _insert(TierChoice, choices)
        IndividualAccount.objects.bulk_create(accounts, batch_size=CHUNK)
        account_of = dict(IndividualAccount.objects.filter(person_id__in=person_ids).values_list("person_id", "pk"))
        contribution_of = {
            (person_id, year): pk
            for person_id, year, pk in Contribution.objects.filter(person_id__in=person_ids).values_list(
                "person_id", "year", "pk"
            )
        }
        entries = [
            entry
            for c in contributions
            for entry in _entries(c, contribution_of[(c["person_id"], c["year"])], account_of[c["person_id"]])
        ]
        _insert(LedgerEntry, entries)
        _set_balances(list(account_of.values()))
    return len(contributions)


def _choice(person: InsuredPerson, year: int, amount: Decimal, source: str, at: dt.datetime) -> dict:
    return {
        "person_id": person.pk,
        "year": year,
        "amount": amount,
        "source": str(source),
        "region_code": person.region_code,
        "chosen_by_id": None,
        "chosen_at": at,
    }


def _entries(contribution: dict, contribution_id: int, account_id: int) -> Iterator[dict]:
    """The same entries, with the same keys, that ``contribution_post`` makes through ``ledger_post``."""
    key = f"contribution:{contribution_id}"
    for component, kind, amount in (
        (Component.PERSONAL, EntryKind.CONTRIBUTION, contribution["personal_amount"]),
        (Component.GOVERNMENT_SUBSIDY, EntryKind.SUBSIDY, contribution["government_subsidy"]),
        (Component.GOVERNMENT_PAID, EntryKind.GOVERNMENT_PAID, contribution["government_paid"]),
    ):
        if amount:
            yield {
                "account_id": account_id,
                "component": component.value,
                "kind": kind.value,
                "amount": amount,
                "booked_on": contribution["paid_on"],
                "period": "",
                "reference": key,
                "idempotency_key": f"{key}:{component.value}:{kind.value}",
                "reverses_id": None,
                "created_at": contribution["recorded_at"],
                "created_by_id": None,
            }


def _insert(model, rows: list[dict]) -> None:
    """Multi-row INSERTs of plain values: bulk_create spends most of its time preparing each value in Python.

    Goes through the driver's cursor (not Django's debug wrapper), so tens of thousands of parameters are not
    formatted into the query log; values are adapted by the backend's own rules for dates, times and decimals.
    """
    if not rows:
        return
    ops = connection.ops
    fields = [model._meta.get_field(name) for name in rows[0]]
    columns = ", ".join(ops.quote_name(f.column) for f in fields)
    adapt = []
    for f in fields:
        if isinstance(f, DateTimeField):
            adapt.append(ops.adapt_datetimefield_value)
        elif isinstance(f, DateField):
            adapt.append(ops.adapt_datefield_value)
        elif isinstance(f, DecimalField):
            adapt.append(lambda value, f=f: ops.adapt_decimalfield_value(value, f.max_digits, f.decimal_places))
        else:
            adapt.append(None)
    per_statement = max(1, (connection.features.max_query_params or 10000) // len(fields))
    row_sql = "(" + ", ".join(["%s"] * len(fields)) + ")"
    with connection.cursor() as cursor:
        driver = cursor.cursor
        for start in range(0, len(rows), per_statement):
            batch = rows[start : start + per_statement]
            params = [
                a(value) if a is not None and value is not None else value
                for row in batch
                for a, value in zip(adapt, row.values(), strict=True)
            ]
            driver.execute(
                f"INSERT INTO {ops.quote_name(model._meta.db_table)} ({columns}) VALUES {', '.join([row_sql] * len(batch))}",
                params,
            )


def _set_balances(account_ids: list[int]) -> None:
    """Cached balances = the ledger sums, for a chunk of accounts, in one UPDATE."""
    money = DecimalField(max_digits=MONEY_MAX_DIGITS, decimal_places=MONEY_PLACES)

    def total(component: str | None = None) -> Coalesce:
        entries = LedgerEntry.objects.filter(account=OuterRef("pk"))
        if component is not None:
            entries = entries.filter(component=component)
        summed = entries.order_by().values("account").annotate(total=Sum("amount")).values("total")
        return Coalesce(Subquery(summed, output_field=money), Value(ZERO), output_field=money)

    IndividualAccount.objects.filter(Q(pk__in=account_ids)).update(
        balance=total(), **{column: total(component) for component, column in BALANCE_COLUMN.items()}
    )
