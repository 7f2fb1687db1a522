"""The merger benchmark (``manage.py bench merger --persons N``): N persons with ten years of history in a
pooling region of their own, exported as a merger package, test-loaded and imported into another pooling
region, each step timed.

The data, built set-based in SQL on PostgreSQL only (one transaction, TRUNCATE-and-insert):
- source pooling region 990400 (a county, 5 towns of 20 villages: region codes 9904…), target 990500 (another
  county with one town), a city above both with a city supervisor who runs the merger;
- contribution policies of both with tiers for every year, pension parameters of both, interest rates;
- N persons with valid identity numbers (the GB 11643 check character computed in SQL) and insurance numbers;
  one in five a recipient (aged 60 at an award that started this year, with its period and this month's
  paid payroll line), the others contributors aged 30 to 59;
- ten contributions each (the years cut-over−10 … cut-over−1) with the ledger entries their posting writes
  (personal and government subsidy, keyed as ``contribution:<id>``), a collective subsidy in a third of the
  villages for the last three full years (credits and entries), interest for every full year, the month's
  account pension debited for the recipients, and cached balances equal to the ledger's sums;
- a tier choice for the year after the freeze for half the contributors, a few special-group memberships
  and deemed years (military service).
Then the merger project, the identity place mapping, the settle and freeze steps, and the timed steps:
export, test-load (start + run) and import (start + run). The import's own proof (the imported balances
against the manifest) is read back and checked once more here.

The source is this register, so the import re-homes its persons. With ``--legacy`` the package stands for a
legacy system's instead: after the export the register forgets the source's persons (untimed), and the import
creates every person, account (with its opening entries) and contribution. ``PhaseClock`` samples the
running step's phase to say where the time goes.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from agencies.errors import DomainError
from agencies.models import Agency, PoolingRegion, Region, RegionLevel, Role, User
from enrollment import idnumber

SOURCE_CODE = "990400"
TARGET_CODE = "990500"
SOURCE_PREFIX = "9904"
TARGET_PREFIX = "9905"
CITY = "990000000000"
SOURCE_COUNTY = "990400000000"
TARGET_COUNTY = "990500000000"
SOURCE_TOWNSHIPS = 5
VILLAGES_PER_TOWNSHIP = 20
TARGET_VILLAGES = 5
SCHEME_STARTED_ON = dt.date(2011, 7, 1)
SCRATCH_DATABASE = "pension_bench_merger"
SUPERVISOR = "bench_merger_supervisor"
OFFICER = "bench_merger_officer"
TARGET_SECONDS = 180  # the target for test-load plus import at 300,000 persons on 2 cores
YEARS = 10
# (tier, government subsidy) of both regions' schedules.
TIERS = ((100, 30), (200, 35), (300, 40), (500, 60), (1000, 60), (2000, 60))
SHARES = (Decimal(30), Decimal(30), Decimal(40))  # province, city, county (%)
INTEREST_RATE = Decimal("0.01500")
COLLECTIVE_AMOUNT = 50
COLLECTIVE_YEARS = 3  # the last full years a third of the villages granted a collective subsidy
CENTRAL_MINIMUM = Decimal("143")
LOCAL_TOP_UP = Decimal("300")
DIVISOR = 139

Say = Callable[[str], None]

# One row per person with everything the other tables are built from (a temporary table of the load).
# Contributors are 30 to 59 at the freeze year; recipients turned 60 the month before their award started,
# in a month of the freeze year up to this one. Sequence numbers count the persons born on the same day, so
# identity numbers stay unique for any N; the sequence's parity carries the sex, as GB 11643 says.
PLAN_SQL = """
CREATE TEMP TABLE bench_merger_plan ON COMMIT DROP AS
WITH g AS (
    SELECT i, i %% 5 = 0 AS recipient,
           CASE WHEN i %% 5 = 0 THEN make_date(%(year)s, 1 + (i / 5) %% %(months)s, 1) END AS start_month
    FROM generate_series(0, %(n)s - 1) AS s(i)
), b AS (
    SELECT g.*, CASE WHEN recipient THEN (start_month - interval '721 months')::date + (i / 5) %% 28
                     ELSE make_date(%(year)s - 59, 1, 1) + ((i::bigint * 7919) %% 10950)::int END AS birth
    FROM g
), seq AS (
    SELECT b.*, row_number() OVER (PARTITION BY birth ORDER BY i) - 1 AS k FROM b
), villages AS (
    SELECT id, code, row_number() OVER (ORDER BY code) - 1 AS v FROM agencies_region
    WHERE code LIKE %(source_like)s AND level = 'village'
)
SELECT seq.i, seq.recipient, seq.start_month, seq.birth, seq.k, villages.v, villages.id AS village_id,
       villages.code AS region_code,
       %(area)s || lpad(((seq.k / 1000) %% 100)::text, 2, '0') || to_char(seq.birth, 'YYYYMMDD')
           || lpad((seq.k %% 1000)::text, 3, '0') AS f17,
       t.amount AS tier, t.subsidy,
       NULL::bigint AS person_id, NULL::bigint AS account_id
FROM seq
JOIN villages ON villages.v = seq.i %% %(villages)s
JOIN (SELECT * FROM unnest(%(tier_amounts)s::numeric[], %(tier_subsidies)s::numeric[]) WITH ORDINALITY
      AS t(amount, subsidy, o)) t ON t.o = 1 + (seq.i / 3) %% %(tier_count)s
"""

PERSONS_SQL = (
    """
INSERT INTO enrollment_insuredperson
    (id_number, insurance_number, name, name_initials, sex, birth_date, region_code, status, phone, address,
     social_security_card_number, bank_code, bank_account, enrolled_on, cancelled_on, created_at, village_id)
SELECT f17 || """
    + idnumber.check_character_sql("f17")
    + """,
       %(source)s || lpad(i::text, 10, '0'), '并轨测试' || (i %% 1000), 'BGCS',
       CASE WHEN k %% 2 = 1 THEN 'M' ELSE 'F' END, birth, region_code, 'active', '1390000' || lpad((i %% 10000)::text, 4, '0'),
       '并轨测试村' || v, '', '314', '623062' || lpad(i::text, 13, '0'), make_date(%(first)s, 1, 1), NULL, now(),
       village_id
FROM bench_merger_plan
ORDER BY i;
UPDATE bench_merger_plan p SET person_id = x.id
FROM enrollment_insuredperson x WHERE x.insurance_number = %(source)s || lpad(p.i::text, 10, '0');
CREATE INDEX ON bench_merger_plan (person_id);
ANALYZE bench_merger_plan
"""
)

ACCOUNTS_SQL = """
INSERT INTO funds_individualaccount
    (region_code, opened_on, closed_on, balance_personal, balance_government_subsidy, balance_collective,
     balance_donation, balance_government_paid, balance_interest, balance, person_id, pooling_region_id)
SELECT region_code, make_date(%(first)s, 1, 1), NULL, 0, 0, 0, 0, 0, 0, 0, person_id, %(pooling)s
FROM bench_merger_plan
ORDER BY person_id;
UPDATE bench_merger_plan p SET account_id = a.id FROM funds_individualaccount a WHERE a.person_id = p.person_id
"""

# Ten years paid by the bank's deduction, the subsidy split 30/30/40 between province, city and county.
CONTRIBUTIONS_SQL = """
INSERT INTO contributions_contribution
    (year, kind, tier_amount, personal_amount, government_subsidy, government_paid, paid_on, channel, bank_code,
     bank_reference, region_code, recorded_at, person_id, recorded_by_id, paid_city, paid_county, paid_province,
     subsidy_city, subsidy_county, subsidy_province)
SELECT y, 'regular', p.tier, p.tier, p.subsidy, 0, make_date(y, 3 + p.i %% 9, 1 + p.i %% 28), 'bank_file',
       'BENCH', 'bench:' || p.i || ':' || y, p.region_code, now(), p.person_id, NULL, 0, 0, 0,
       p.subsidy * 0.30, p.subsidy - p.subsidy * 0.30 - p.subsidy * 0.30, p.subsidy * 0.30
FROM generate_series(%(first)s, %(year)s) AS y
CROSS JOIN bench_merger_plan p
ORDER BY y, p.person_id
"""

# The entries the posting of each contribution writes (funds.services.ledger_post's keys).
CONTRIBUTION_ENTRIES_SQL = """
INSERT INTO funds_ledgerentry
    (account_id, component, kind, amount, booked_on, period, reference, idempotency_key, created_at,
     created_by_id, reverses_id)
SELECT p.account_id, c.component, c.kind, CASE WHEN c.o = 1 THEN x.personal_amount ELSE x.government_subsidy END,
       x.paid_on, '', 'contribution:' || x.id, 'contribution:' || x.id || ':' || c.component || ':' || c.kind,
       now(), NULL, NULL
FROM contributions_contribution x
JOIN bench_merger_plan p ON p.person_id = x.person_id
CROSS JOIN (VALUES (1, 'personal', 'contribution'), (2, 'government_subsidy', 'subsidy')) AS c(o, component, kind)
ORDER BY x.year, x.id, c.o
"""

# A third of the villages grant 50 yuan a year to everyone who paid, in the last full years.
COLLECTIVE_SQL = """
INSERT INTO contributions_collectivesubsidy
    (region_code, year, amount_per_person, decision, recorded_at, persons_credited, persons_capped,
     recorded_by_id, village_id)
SELECT v.code, y, %(collective)s, '村民会议决议（基准测试）', now(),
       (SELECT COUNT(*) FROM bench_merger_plan p WHERE p.village_id = v.id), 0, %(officer)s, v.id
FROM (SELECT id, code, row_number() OVER (ORDER BY code) - 1 AS k FROM agencies_region
      WHERE code LIKE %(source_like)s AND level = 'village') v
CROSS JOIN generate_series(%(year)s - %(collective_years)s, %(year)s - 1) AS y
WHERE v.k %% 3 = 0;
INSERT INTO contributions_collectivesubsidycredit (amount, capped, person_id, subsidy_id)
SELECT s.amount_per_person, false, p.person_id, s.id
FROM contributions_collectivesubsidy s JOIN bench_merger_plan p ON p.village_id = s.village_id
ORDER BY s.id, p.person_id;
INSERT INTO funds_ledgerentry
    (account_id, component, kind, amount, booked_on, period, reference, idempotency_key, created_at,
     created_by_id, reverses_id)
SELECT p.account_id, 'collective', 'collective', s.amount_per_person, make_date(s.year, 12, 1), '',
       'collective:' || s.id, 'collective:' || s.id || ':' || p.person_id || ':collective:collective', now(), NULL,
       NULL
FROM contributions_collectivesubsidy s JOIN bench_merger_plan p ON p.village_id = s.village_id
ORDER BY s.id, p.person_id
"""

# Interest for every full year: the rate on what was paid in the years before (the tier and its subsidy, a
# year's worth each), posted at 31 December as the year-end settlement does.
INTEREST_SQL = """
INSERT INTO funds_ledgerentry
    (account_id, component, kind, amount, booked_on, period, reference, idempotency_key, created_at,
     created_by_id, reverses_id)
SELECT p.account_id, 'interest', 'interest', round((y - %(first)s) * (p.tier + p.subsidy) * %(rate)s, 2),
       make_date(y, 12, 31), y::text, 'interest-settlement:bench', NULL, now(), NULL, NULL
FROM generate_series(%(first)s + 1, %(year)s - 1) AS y
CROSS JOIN bench_merger_plan p
ORDER BY y, p.account_id
"""

AWARDS_SQL = """
INSERT INTO benefits_award
    (person_id, claim_id, region_code, pooling_region_id, category, status, start_month, paid_until,
     stop_reason, stop_note, birth_date, years_paid, account_balance_at_start, account_divisor, account_pension,
     bank_code, bank_account, approved_by_id, approved_at)
SELECT p.person_id, NULL, p.region_code, %(pooling)s, 'monthly', 'active', p.start_month, NULL, '', '', p.birth,
       %(years)s, 0, %(divisor)s, 0, '314', '623062' || lpad(p.i::text, 13, '0'), %(officer)s, now()
FROM bench_merger_plan p
WHERE p.recipient
ORDER BY p.person_id;
INSERT INTO benefits_awardperiod
    (award_id, valid_from, parameters_id, central_minimum, local_top_up, years_addition, age_addition,
     urban_allowance, basic_pension, account_pension, total, recalculation_id, replaced_by_id)
SELECT a.id, a.start_month, %(parameters)s, %(central)s, %(top_up)s, 0, 0, 0, %(central)s + %(top_up)s, 0,
       %(central)s + %(top_up)s, NULL, NULL
FROM benefits_award a WHERE a.pooling_region_id = %(pooling)s
ORDER BY a.id
"""

BALANCES_SQL = """
UPDATE funds_individualaccount a
SET balance_personal = s.personal, balance_government_subsidy = s.subsidy, balance_collective = s.collective,
    balance_interest = s.interest, balance = s.personal + s.subsidy + s.collective + s.interest
FROM (
    SELECT account_id,
           COALESCE(SUM(amount) FILTER (WHERE component = 'personal'), 0) AS personal,
           COALESCE(SUM(amount) FILTER (WHERE component = 'government_subsidy'), 0) AS subsidy,
           COALESCE(SUM(amount) FILTER (WHERE component = 'collective'), 0) AS collective,
           COALESCE(SUM(amount) FILTER (WHERE component = 'interest'), 0) AS interest
    FROM funds_ledgerentry GROUP BY account_id
) s
WHERE a.id = s.account_id
"""

# The recipients' account pension (balance / 139 at the award's start), then this month's payroll: a
# confirmed run, a paid line per award, the account pension debited from the personal component.
PAYROLL_SQL = """
UPDATE benefits_award a SET account_balance_at_start = x.balance, account_pension = round(x.balance / %(divisor)s, 2)
FROM funds_individualaccount x WHERE x.person_id = a.person_id AND a.pooling_region_id = %(pooling)s;
UPDATE benefits_awardperiod d SET account_pension = a.account_pension, total = d.basic_pension + a.account_pension
FROM benefits_award a WHERE a.id = d.award_id AND a.pooling_region_id = %(pooling)s;
INSERT INTO benefits_payrollrun
    (month, status, lines_count, basic_total, account_total, account_paid_total, fund_paid_total, arrears_total,
     total, totals_by_category, progress_done, progress_total, prepared_at, confirmed_at, funding_request_number,
     confirmed_by_id, pooling_region_id, prepared_by_id)
SELECT %(month)s, 'confirmed', COUNT(*), COALESCE(SUM(d.basic_pension), 0), COALESCE(SUM(d.account_pension), 0),
       COALESCE(SUM(d.account_pension), 0), 0, 0, COALESCE(SUM(d.total), 0), '{}'::jsonb, COUNT(*), COUNT(*), now(),
       now(), 'BENCH-' || to_char(%(month)s::date, 'YYYYMM'), %(officer)s, %(pooling)s, %(officer)s
FROM benefits_award a JOIN benefits_awardperiod d ON d.award_id = a.id
WHERE a.pooling_region_id = %(pooling)s;
INSERT INTO benefits_payrollline
    (region_code, kind, category, basic_pension, account_pension, account_paid, fund_paid, total, debited,
     bank_code, bank_account, payout_status, award_id, person_id, run_id)
SELECT a.region_code, 'pension', a.category, d.basic_pension, d.account_pension, d.account_pension, 0, d.total, true,
       a.bank_code, a.bank_account, 'paid', a.id, a.person_id, r.id
FROM benefits_award a JOIN benefits_awardperiod d ON d.award_id = a.id
JOIN benefits_payrollrun r ON r.pooling_region_id = a.pooling_region_id AND r.month = %(month)s
WHERE a.pooling_region_id = %(pooling)s
ORDER BY a.id;
INSERT INTO funds_ledgerentry
    (account_id, component, kind, amount, booked_on, period, reference, idempotency_key, created_at,
     created_by_id, reverses_id)
SELECT x.id, 'personal', 'pension', -l.account_paid, %(month)s, to_char(%(month)s::date, 'YYYY-MM'),
       'payroll:' || l.run_id, 'payroll:' || l.run_id || ':' || l.id || ':personal:pension', now(), NULL, NULL
FROM benefits_payrollline l JOIN funds_individualaccount x ON x.person_id = l.person_id
JOIN benefits_payrollrun r ON r.id = l.run_id AND r.pooling_region_id = %(pooling)s
WHERE l.account_paid > 0
ORDER BY l.id;
UPDATE funds_individualaccount x SET balance_personal = x.balance_personal - l.account_paid,
                                     balance = x.balance - l.account_paid
FROM benefits_payrollline l JOIN benefits_payrollrun r ON r.id = l.run_id AND r.pooling_region_id = %(pooling)s
WHERE x.person_id = l.person_id
"""

# The rest of a register: tier choices for the year after the freeze (half the contributors), special groups
# (one person in 97), deemed years of military service (one in 89).
EXTRAS_SQL = """
INSERT INTO contributions_tierchoice (person_id, year, amount, source, region_code, chosen_by_id, chosen_at)
SELECT p.person_id, %(year)s + 1, p.tier, 'clerk', p.region_code, NULL, now()
FROM bench_merger_plan p WHERE NOT p.recipient AND p.i %% 2 = 1
ORDER BY p.person_id;
INSERT INTO enrollment_specialgroupmembership
    ("group", certifying_department, certificate_number, certified_on, ends_on, recorded_at, person_id,
     recorded_by_id)
SELECT g.grp, g.department, 'BENCH-' || p.i, make_date(%(first)s, 6, 1), NULL, now(), p.person_id, %(officer)s
FROM bench_merger_plan p
JOIN (SELECT * FROM unnest(%(groups)s::text[], %(departments)s::text[]) WITH ORDINALITY AS g(grp, department, o)) g
  ON g.o = 1 + (p.i / 97) %% %(group_count)s
WHERE p.i %% 97 = 1
ORDER BY p.person_id;
INSERT INTO benefits_yearscredit (kind, years, reference, recorded_at, person_id, recorded_by_id)
SELECT 'deemed', 2 + p.i %% 3, '退役军人事务部门认定（基准测试）', now(), p.person_id, %(officer)s
FROM bench_merger_plan p WHERE p.i %% 89 = 2
ORDER BY p.person_id
"""

# Everything the bench writes or the merger leaves behind: emptied before a load (on a database that holds
# nothing else, checked before). CASCADE empties what hangs off them (history, staging, findings).
REGISTER_TABLES = """
    benefits_payrollline, benefits_payrollrun, benefits_awardperiod, benefits_award, benefits_historicalaward,
    benefits_yearscredit, contributions_collectivesubsidycredit, contributions_collectivesubsidy,
    contributions_tierchoice, contributions_historicaltierchoice, contributions_contribution,
    enrollment_specialgroupmembership, funds_ledgerentry, funds_individualaccount, enrollment_insuredperson,
    enrollment_historicalinsuredperson
"""
TRUNCATE_SQL = f"""
TRUNCATE migration_importchunk, migration_importrun, migration_finding, migration_stagedperson,
    migration_stagedaccount, migration_stagedcontribution, migration_stagedrecipient, migration_stagedtierchoice,
    migration_testload, migration_mergerpackage, migration_placemapping, migration_mergerevent,
    migration_mergerstep, migration_fundtransferrecord, migration_archivesurveyitem, migration_mergerproject,
    migration_historicalmergerproject, agencies_regionfreeze, {REGISTER_TABLES}
RESTART IDENTITY CASCADE
"""

VACUUMED = (
    "enrollment_insuredperson",
    "funds_individualaccount",
    "funds_ledgerentry",
    "contributions_contribution",
    "contributions_tierchoice",
    "contributions_collectivesubsidycredit",
    "benefits_award",
    "benefits_awardperiod",
    "benefits_payrollline",
    "enrollment_specialgroupmembership",
    "benefits_yearscredit",
)


@dataclass
class Places:
    source: PoolingRegion
    target: PoolingRegion
    supervisor: User
    officer: User
    parameters_id: int


@dataclass
class Calendar:
    """The bench's dates, from today: the freeze this year, the cut-over on 1 January next."""

    today: dt.date
    year: int = field(init=False)  # the freeze year, the last contribution year
    first: int = field(init=False)  # the first contribution year
    cutover: dt.date = field(init=False)
    month: dt.date = field(init=False)

    def __post_init__(self) -> None:
        self.year = self.today.year
        self.first = self.year - YEARS + 1
        self.cutover = dt.date(self.year + 1, 1, 1)
        self.month = self.today.replace(day=1)


def optional(module: str, name: str):
    """A service of the merger, or None while its module is not there yet."""
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None


def refuse_foreign_data() -> str | None:
    """The load starts with TRUNCATE: a reason to refuse unless every person and account is the bench's own."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM enrollment_insuredperson WHERE region_code NOT LIKE %s AND region_code NOT LIKE %s",
            [f"{SOURCE_PREFIX}%", f"{TARGET_PREFIX}%"],
        )
        (foreign,) = cursor.fetchone()
        cursor.execute(
            "SELECT COUNT(*) FROM funds_individualaccount a JOIN agencies_poolingregion p ON p.id = a.pooling_region_id"
            " WHERE p.code NOT IN (%s, %s)",
            [SOURCE_CODE, TARGET_CODE],
        )
        (foreign_accounts,) = cursor.fetchone()
    if foreign or foreign_accounts:
        name = connection.settings_dict["NAME"]
        return (
            f"数据库 {name} 中有基准测试以外的数据（参保人 {foreign} 名、账户 {foreign_accounts} 个），基准测试会清空参保人、"
            f"账户、明细、缴费、待遇和并轨项目，为免误删已停止。请改用专用的空数据库，例如：\n"
            f"  createdb -h 127.0.0.1 -U postgres {SCRATCH_DATABASE}\n"
            f"  DATABASE_URL=postgres://postgres@127.0.0.1:5432/{SCRATCH_DATABASE} python manage.py migrate\n"
            f"  DATABASE_URL=postgres://postgres@127.0.0.1:5432/{SCRATCH_DATABASE} python manage.py bench merger"
        )
    return None


def ensure_places(calendar: Calendar) -> Places:
    """Both pooling regions and their places (the source's towns back under the source, as before a merger),
    the city supervisor and a county officer, policies, tiers, parameters and interest rates."""
    from benefits.models import PensionParameters
    from contributions.models import ContributionPolicy, ContributionTier, InterestRate

    with transaction.atomic():
        _lift_freezes()
        source, _ = PoolingRegion.objects.get_or_create(
            code=SOURCE_CODE, defaults={"name": "并轨基准测试源区", "scheme_started_on": SCHEME_STARTED_ON}
        )
        target, _ = PoolingRegion.objects.get_or_create(
            code=TARGET_CODE, defaults={"name": "并轨基准测试目标区", "scheme_started_on": SCHEME_STARTED_ON}
        )
        # A previous run merged them: the source is open again and its places its own.
        PoolingRegion.objects.filter(pk=source.pk).update(closed_on=None, merged_into=None)
        city, _ = Region.objects.get_or_create(code=CITY, defaults={"name": "基准测试市", "level": RegionLevel.CITY})
        counties = {}
        for code, name, pooling in (
            (SOURCE_COUNTY, "并轨基准测试源县", source),
            (TARGET_COUNTY, "并轨基准测试目标县", target),
        ):
            counties[code], _ = Region.objects.update_or_create(
                code=code,
                defaults={"name": name, "level": RegionLevel.COUNTY, "parent": city, "pooling_region": pooling},
            )
        Region.objects.filter(code__startswith=SOURCE_PREFIX).exclude(code=SOURCE_COUNTY).update(pooling_region=None)
        existing = set(Region.objects.filter(code__regex=r"^990[45]").values_list("code", flat=True))
        places = [(SOURCE_COUNTY, t, VILLAGES_PER_TOWNSHIP) for t in range(1, SOURCE_TOWNSHIPS + 1)]
        places.append((TARGET_COUNTY, 1, TARGET_VILLAGES))
        for county_code, t, villages in places:
            code = f"{county_code[:6]}{100 + t:03d}000"
            label = "源" if county_code == SOURCE_COUNTY else "目标"
            if code not in existing:
                Region.objects.create(
                    code=code, name=f"并轨{label}镇{t}", level=RegionLevel.TOWNSHIP, parent=counties[county_code]
                )
            township = Region.objects.get(code=code)
            Region.objects.bulk_create(
                [
                    Region(code=c, name=f"并轨{label}镇{t}第{v}村", level=RegionLevel.VILLAGE, parent=township)
                    for v in range(1, villages + 1)
                    if (c := f"{code[:9]}{200 + v:03d}") not in existing
                ]
            )
        city_agency, _ = Agency.objects.get_or_create(region=city, defaults={"name": "基准测试市经办中心"})
        county_agency, _ = Agency.objects.get_or_create(
            region=counties[SOURCE_COUNTY], defaults={"name": "并轨基准测试源县经办中心"}
        )
        supervisor, _ = User.objects.get_or_create(
            username=SUPERVISOR,
            defaults={"role": Role.CITY_SUPERVISOR, "agency": city_agency, "last_name": "基准", "first_name": "监管"},
        )
        officer, _ = User.objects.get_or_create(
            username=OFFICER,
            defaults={
                "role": Role.COUNTY_FUND_OFFICER,
                "agency": county_agency,
                "last_name": "基准",
                "first_name": "经办",
            },
        )
        parameters_id = 0
        for pooling in (source, target):
            policy, created = ContributionPolicy.objects.get_or_create(
                pooling_region=pooling,
                valid_from=SCHEME_STARTED_ON,
                defaults={"province_share": SHARES[0], "city_share": SHARES[1], "county_share": SHARES[2]},
            )
            if created:
                ContributionTier.objects.bulk_create(
                    [
                        ContributionTier(policy=policy, amount=Decimal(a), government_subsidy=Decimal(s))
                        for a, s in TIERS
                    ]
                )
            for year in range(calendar.first, calendar.year + 2):
                InterestRate.objects.get_or_create(pooling_region=pooling, year=year, defaults={"rate": INTEREST_RATE})
            parameters, _ = PensionParameters.objects.get_or_create(
                pooling_region=pooling,
                valid_from=dt.date(calendar.first, 1, 1),
                defaults={
                    "central_minimum": CENTRAL_MINIMUM,
                    "local_top_up": LOCAL_TOP_UP,
                    "per_year_beyond_minimum": Decimal("2"),
                    "addition_at_65": Decimal("10"),
                    "addition_at_80": Decimal("20"),
                    "urban_elderly_allowance": Decimal("150"),
                    "funeral_grant_fixed": Decimal("2000"),
                    "note": "基准测试",
                    "created_by": officer,
                },
            )
            if pooling == source:
                parameters_id = parameters.pk
    return Places(source=source, target=target, supervisor=supervisor, officer=officer, parameters_id=parameters_id)


def _lift_freezes() -> None:
    """A previous run's freeze (or one left by a killed run) would refuse the load: drop it with its triggers."""
    from agencies.models import RegionFreeze

    RegionFreeze.objects.all().delete()
    guards_sync = optional("agencies.freeze", "guards_sync")
    if guards_sync is not None:
        guards_sync()


def build(*, places: Places, persons: int, calendar: Calendar, say: Say) -> None:
    """Empty the tables and load N persons, in one transaction: a load killed half way leaves nothing."""
    from enrollment.models import CERTIFYING_DEPARTMENTS, SpecialGroup

    started = time.monotonic()
    groups = list(SpecialGroup.values)
    params = {
        "n": persons,
        "year": calendar.year,
        "first": calendar.first,
        "months": calendar.today.month,
        "month": calendar.month,
        "source": SOURCE_PREFIX,
        "area": SOURCE_PREFIX,
        "source_like": f"{SOURCE_CODE}%",
        "villages": SOURCE_TOWNSHIPS * VILLAGES_PER_TOWNSHIP,
        "tier_amounts": [Decimal(a) for a, _ in TIERS],
        "tier_subsidies": [Decimal(s) for _, s in TIERS],
        "tier_count": len(TIERS),
        "pooling": places.source.pk,
        "officer": places.officer.pk,
        "parameters": places.parameters_id,
        "central": CENTRAL_MINIMUM,
        "top_up": LOCAL_TOP_UP,
        "divisor": DIVISOR,
        "years": YEARS,
        "rate": INTEREST_RATE,
        "collective": COLLECTIVE_AMOUNT,
        "collective_years": COLLECTIVE_YEARS,
        "groups": groups,
        "departments": [CERTIFYING_DEPARTMENTS[g] for g in groups],
        "group_count": len(groups),
    }
    steps = (
        ("计划", PLAN_SQL),
        ("参保人", PERSONS_SQL),
        ("个人账户", ACCOUNTS_SQL),
        ("缴费记录", CONTRIBUTIONS_SQL),
        ("缴费明细", CONTRIBUTION_ENTRIES_SQL),
        ("集体补助", COLLECTIVE_SQL),
        ("利息明细", INTEREST_SQL),
        ("待遇", AWARDS_SQL),
        ("账户余额", BALANCES_SQL),
        ("当月发放", PAYROLL_SQL),
        ("档次选择、特殊群体、视同缴费年限", EXTRAS_SQL),
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL work_mem = '256MB'")
        cursor.execute(TRUNCATE_SQL)
        for label, sql in steps:
            step = time.monotonic()
            rows = 0
            for statement in (s for s in sql.split(";\n") if s.strip()):
                cursor.execute(statement, params)
                rows = max(rows, cursor.rowcount)
            say(f"  生成{label} {rows} 行（{time.monotonic() - step:.1f} 秒）")
    settle_tables(say)
    say(f"数据生成完成（{time.monotonic() - started:.1f} 秒）。")


def settle_tables(say: Say) -> None:
    """A settled steady state, as after a night's autovacuum: visibility map set and statistics current."""
    step = time.monotonic()
    with connection.cursor() as cursor:
        for table in VACUUMED:
            cursor.execute(f"VACUUM (ANALYZE) {table}")
        cursor.execute("CHECKPOINT")
    say(f"  整理表和统计信息（{time.monotonic() - step:.1f} 秒）")


def _count(sql: str, params: list | None = None) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchone()[0]


def prepare_project(*, places: Places, calendar: Calendar, say: Say):
    """The project, its place mapping (the whole county joins: every village keeps its code), and the settle and
    freeze steps through their services where they pass on this data, else marked done (and said so)."""
    from migration.models import Step, StepState
    from migration.services import project_create, step_finish, step_of, step_start

    project = project_create(
        actor=places.supervisor,
        name=f"{places.source.name}并入{places.target.name}（基准测试）",
        source_pooling_region=places.source,
        target_pooling_region=places.target,
        cutover_date=calendar.cutover,
        source_tiers_until=dt.date(calendar.cutover.year, 6, 30),
        deemed_years_until=calendar.cutover - dt.timedelta(days=1),
    )
    notes: list[str] = []
    mapping_identity = optional("migration.mapping", "mapping_identity")
    if mapping_identity is None:
        raise RuntimeError("migration.mapping.mapping_identity is missing: the place mapping cannot be made")
    mapped = mapping_identity(actor=places.supervisor, project=project)
    say(f"区划对照：{mapped} 个村/社区按原代码对照。")

    settle_confirm = optional("migration.settle", "settle_confirm")
    if settle_confirm is not None:
        try:
            items = settle_confirm(actor=places.supervisor, project=project, on=calendar.today)
        except DomainError as exc:
            notes.append(f"结算核对未能执行：{exc}")
        else:
            failing = [item for item in items if not item.ok]
            if failing:
                notes.append("结算核对未通过：" + "；".join(f"{i.label} {i.count}" for i in failing))
    else:
        notes.append("结算核对服务（migration.settle）尚不存在")
    if step_of(project, Step.SETTLE).state != StepState.DONE:
        if step_of(project, Step.SETTLE).state != StepState.RUNNING:
            step_start(project, Step.SETTLE, actor=places.supervisor)
        step_finish(project, Step.SETTLE, actor=places.supervisor, summary="基准测试：直接标记完成")
        notes.append("结算核对步骤直接标记完成")

    freeze_apply = optional("migration.freezing", "freeze_apply")
    if freeze_apply is not None:
        freeze_apply(actor=places.supervisor, project=project)
    else:
        project.frozen_at = timezone.now()
        project.interest_settled_through = dt.date(calendar.year - 1, 12, 31)
        project.save(update_fields=["frozen_at", "interest_settled_through"])
        step_start(project, Step.FREEZE, actor=places.supervisor)
        step_finish(project, Step.FREEZE, actor=places.supervisor, summary="基准测试：直接标记完成")
        notes.append("数据封存服务（migration.freezing）尚不存在，封存步骤直接标记完成")
    project.refresh_from_db()
    for note in notes:
        say(f"注意：{note}。")
    return project, notes


class PhaseClock:
    """Where a step's time goes: samples the running step's phase (which the services report outside their
    chunks' transactions) from a connection of its own, and adds up the seconds each phase was seen."""

    def __init__(self, project, *, every: float = 0.2) -> None:
        self.project_id = project.pk
        self.every = every
        self.seconds: dict[str, dict[str, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PhaseClock:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        from django.db import connections

        from migration.models import MergerStep, StepState

        last = time.monotonic()
        try:
            while not self._stop.wait(self.every):
                now = time.monotonic()
                running = MergerStep.objects.filter(project_id=self.project_id, state=StepState.RUNNING)
                for step, phase in running.values_list("step", "phase"):
                    # A phase is the step's own words ("核查 3/20" is the test-load's third check of twenty).
                    phases = self.seconds.setdefault(step, {})
                    phases[phase] = phases.get(phase, 0.0) + (now - last)
                last = now
        finally:
            connections.close_all()  # this thread's own connection

    def rounded(self) -> dict[str, dict[str, float]]:
        return {step: {p: round(s, 1) for p, s in phases.items()} for step, phases in self.seconds.items()}


def forget_source(say: Say) -> None:
    """--legacy: the package stands for a legacy system's, so the register forgets the source's persons and all
    that hangs off them (on this scratch database only): the import then creates everyone, their accounts with
    opening entries and their history, instead of re-homing them."""
    started = time.monotonic()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {REGISTER_TABLES} CASCADE")
    with connection.cursor() as cursor:
        for table in VACUUMED:
            cursor.execute(f"VACUUM (ANALYZE) {table}")
    say(f"视为旧系统数据包：源区参保人及其账户、缴费、待遇已从登记库清除（{time.monotonic() - started:.1f} 秒）。")


def _timed(label: str, say: Say, work: Callable[[], object]) -> tuple[object, float]:
    started = time.monotonic()
    result = work()
    seconds = time.monotonic() - started
    say(f"{label}：{seconds:.2f} 秒。")
    return result, seconds


def _findings(testload) -> list[dict]:
    from migration.models import Finding, Severity

    rows = (
        Finding.objects.filter(testload=testload)
        .values_list("kind", "severity", "file", "line", "column", "value", "message")
        .order_by("severity", "kind", "id")
    )
    return [
        {"kind": k, "severity": s, "file": f, "line": ln, "column": c, "value": v, "message": m}
        for k, s, f, ln, c, v, m in rows.filter(severity=Severity.BLOCKING)[:20]
    ]


def imported_balance(run) -> Decimal:
    """The sum of the imported persons' account balances, read here (not from the run)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COALESCE(SUM(a.balance), 0) FROM funds_individualaccount a"
            " JOIN migration_stagedperson s ON s.person_id = a.person_id WHERE s.testload_id = %s",
            [run.testload_id],
        )
        return cursor.fetchone()[0]


def run(*, persons: int, say: Say, legacy: bool = False) -> dict:
    """Load the data, prepare the project, time export, test-load and import, check; return the figures."""
    calendar = Calendar(today=timezone.localdate())
    places = ensure_places(calendar)
    build(places=places, persons=persons, calendar=calendar, say=say)
    say(
        f"数据：参保人 {persons} 名，缴费 {_count('SELECT COUNT(*) FROM contributions_contribution')} 条，"
        f"账户明细 {_count('SELECT COUNT(*) FROM funds_ledgerentry')} 笔，"
        f"待遇 {_count('SELECT COUNT(*) FROM benefits_award')} 人；缴费年度 {calendar.first}–{calendar.year}，"
        f"切换日期 {calendar.cutover}。"
    )
    project, notes = prepare_project(places=places, calendar=calendar, say=say)
    actor = places.supervisor
    missing = [
        f"{module}.{name}"
        for module, name in (
            ("migration.export", "package_export"),
            ("migration.testload", "testload_start"),
            ("migration.testload", "testload_run"),
            ("migration.importer", "import_start"),
            ("migration.importer", "import_run"),
        )
        if optional(module, name) is None
    ]
    if missing:
        raise RuntimeError("并轨服务尚不存在：" + "、".join(missing))
    package_export = optional("migration.export", "package_export")
    testload_start = optional("migration.testload", "testload_start")
    testload_run = optional("migration.testload", "testload_run")
    import_start = optional("migration.importer", "import_start")
    import_run = optional("migration.importer", "import_run")

    load_before = os.getloadavg()[0]  # other work on the machine slows the run: say so beside the figures
    with PhaseClock(project) as clock:
        figures = _steps(
            project=project,
            actor=actor,
            say=say,
            services=(package_export, testload_start, testload_run, import_start, import_run),
            legacy=legacy,
        )
    load_after = os.getloadavg()[0]
    phases = clock.rounded()
    for step, spent in phases.items():
        say(f"  {step} 各阶段（秒，每 {clock.every} 秒采样）：{spent}")
    return {
        "bench": "merger",
        "persons": persons,
        "legacy": legacy,
        **figures,
        "phases": phases,
        "notes": notes,
        "load_before": round(load_before, 2),
        "load_after": round(load_after, 2),
        "cpus": os.cpu_count(),
    }


def _steps(*, project, actor, say: Say, services: tuple, legacy: bool) -> dict:
    """Export, test-load and import, each timed; the balances proved after the import."""
    package_export, testload_start, testload_run, import_start, import_run = services
    package, export_seconds = _timed("导出", say, lambda: package_export(actor=actor, project=project))
    manifest = package.manifest or {}
    say(f"  数据包 {package.file_name}：{package.size / 1e6:.1f} MB，SHA-256 {package.sha256[:16]}…")
    if legacy:
        forget_source(say)  # not timed: it stands for the package arriving from elsewhere

    def testload() -> object:
        started = testload_start(actor=actor, project=project, package=package)
        return testload_run(started.pk)

    loaded, testload_seconds = _timed("试导入", say, testload)
    package.refresh_from_db()
    manifest = package.manifest or manifest
    say(
        f"  读取行数 {loaded.rows}；阻断问题 {loaded.blocking_count} 项，提示 {loaded.warning_count} 项：{loaded.counts}"
    )
    for finding in _findings(loaded):
        say(f"  阻断：{finding}")

    import_seconds = 0.0
    imported = None
    if loaded.blocking_count == 0:

        def do_import() -> object:
            started = import_start(actor=actor, project=project, package=package)
            return import_run(started.pk)

        imported, import_seconds = _timed("正式导入", say, do_import)
        imported.refresh_from_db()

    expected = Decimal(str((manifest.get("totals") or {}).get("account_balance", "0")))
    balances_match = False
    balance_read = None
    if imported is not None:
        balance_read = imported_balance(imported)
        balances_match = (
            imported.status == "done"
            and imported.balance_expected == expected
            and imported.balance_imported == expected
            and balance_read == expected
        )
        say(
            f"  导入 {imported.get_status_display()}：新建 {imported.persons_created} 人，迁入 {imported.persons_rehomed} 人，"
            f"账户余额合计（导入记录）{imported.balance_imported}，（本处重算）{balance_read}，数据包清单 {expected}："
            f"{'一致' if balances_match else '不一致'}。"
        )
    rows = {name: spec.get("rows") for name, spec in (manifest.get("files") or {}).items()}
    plus = testload_seconds + import_seconds
    total = export_seconds + testload_seconds + import_seconds
    return {
        "rows": rows,
        "seconds": {
            "export": round(export_seconds, 2),
            "testload": round(testload_seconds, 2),
            "import": round(import_seconds, 2),
            "testload_plus_import": round(plus, 2),
            "total": round(total, 2),
        },
        "target_seconds": TARGET_SECONDS,
        "met": imported is not None and plus < TARGET_SECONDS,
        "balances_match": balances_match,
        "persons_created": imported.persons_created if imported is not None else 0,
        "persons_rehomed": imported.persons_rehomed if imported is not None else 0,
        "balance_expected": str(expected),
        "balance_imported": str(balance_read) if balance_read is not None else None,
        "blocking_findings": loaded.blocking_count,
        "warnings": loaded.warning_count,
        "finding_counts": loaded.counts,
        "package_mb": round(package.size / 1e6, 1),
    }


def figures_line(figures: dict) -> str:
    return json.dumps(figures, ensure_ascii=False)
