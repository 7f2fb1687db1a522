"""The dashboard benchmark (``manage.py bench dashboard --persons N``): a city of N persons with a few years of
activity, the nightly summaries rebuilt over it, then the supervisors' dashboard timed server-side, page by page.

The data, built set-based in SQL on PostgreSQL only (one transaction, TRUNCATE-and-insert):
- a city (region codes 9910…) of several counties, each its own pooling region, about 15 townships a county and
  20 villages a township, one village per 500 persons; each village's registered population set so that about
  95 % of it is insured (93–97 % by village);
- N persons: one in five aged 60 to 90, the others 16 to 59; most enrolled years ago, one contributor in 25 in
  the last two years (the new members), one person in a hundred cancelled since;
- contributions for the last three years (this one only up to today): most contributors pay every year, about
  one in eleven lapses in a given year and one in fifty has stopped; one payment in ten at a bank counter,
  the rest by the bank's deduction;
- an award for everyone aged 60 and over whose pension has started (stopped for those since cancelled), with
  the approved claim for those of the last two years; claims still open for some who turned 60 lately;
- a confirmed payroll for each of the last 12 months in every pooling region, a line per award in payment,
  one line in 300 failed at the bank;
- registration applications for the new members and change applications for one person in 40 over the last
  two years, with their events; one in 300 returned for correction once, and some of the last 40 days still
  open, past their time limit or not, or sent back;
- each pooling region's three fund accounts with their movements (counter payments one by one, the month's
  deduction, the month-end sweep, government money, the payroll's funding and payout), the year's targets of
  every county and township, a time limit and a fund warning line per pooling region.
The individual accounts and their ledger are not built: neither the summaries nor the dashboard read them.

Then the nightly summaries are rebuilt for the last months (``portal.summaries.summaries_rebuild``), timed per
month, and the dashboard pages are requested with Django's test client as the city supervisor (the city, a
county, a township, a village) and as the village's agent: the first request warms up, the others are timed
(median and maximum), one more counts the queries. While the dashboard has no route yet, the same regions'
``portal.measures`` calls (month_measures, children, trend) are timed instead, and the figures say so.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import Resolver404, resolve, reverse
from django.utils import timezone

from agencies.models import Agency, PoolingRegion, Region, RegionLevel, Role, User
from enrollment import idnumber

CITY_PREFIX = "9910"
CITY = "991000000000"
SCRATCH_DATABASE = "pension_bench_dashboard"
PERSONS_PER_VILLAGE = 500
VILLAGES_PER_TOWNSHIP = 20
TOWNSHIPS_PER_COUNTY = 15
SCHEME_STARTED_ON = dt.date(2011, 7, 1)
PAYROLL_MONTHS = 12
TARGET_MS = 300  # the target for every page at a million persons on 2 cores
USERS = {
    "supervisor": ("bench_dashboard_supervisor", Role.CITY_SUPERVISOR),
    "approver": ("bench_dashboard_approver", Role.COUNTY_APPROVER),
    "officer": ("bench_dashboard_officer", Role.COUNTY_FUND_OFFICER),
    "clerk": ("bench_dashboard_clerk", Role.TOWNSHIP_CLERK),
    "agent": ("bench_dashboard_agent", Role.VILLAGE_AGENT),
}
# (tier, government subsidy) in yuan a year.
TIERS = ((100, 30), (200, 35), (300, 40), (500, 60), (1000, 60), (2000, 60))
LAPSE_PERCENT = 9  # of the contributors in a given year

Say = Callable[[str], None]
FROM_TABLE = re.compile(r'FROM "(\w+)"')


@dataclass(frozen=True)
class Layout:
    """How many counties, townships and villages N persons fill: a village per 500, 20 villages a township,
    15 townships a county (at least two counties of two townships of two villages, so a small run still
    drills down)."""

    counties: int
    townships: int
    villages: int

    @classmethod
    def for_persons(cls, persons: int) -> Layout:
        villages = max(8, math.ceil(persons / PERSONS_PER_VILLAGE))
        counties = max(2, math.ceil(villages / (VILLAGES_PER_TOWNSHIP * TOWNSHIPS_PER_COUNTY)))
        townships = max(2 * counties, math.ceil(villages / VILLAGES_PER_TOWNSHIP))
        return cls(counties=counties, townships=townships, villages=villages)

    def places(self) -> list[tuple[str, str, str, str]]:
        """(code, name, level, parent code), parents first. Townships and villages are dealt out in order, so
        every county has about as many townships and every township about as many villages."""
        places = [(CITY, "基准测试市", RegionLevel.CITY, "")]
        counties = [f"{CITY_PREFIX}{c + 1:02d}000000" for c in range(self.counties)]
        places += [(code, f"测试{c + 1}县", RegionLevel.COUNTY, CITY) for c, code in enumerate(counties)]
        townships: list[str] = []
        per_county: dict[int, int] = {}
        for t in range(self.townships):
            c = t * self.counties // self.townships
            j = per_county[c] = per_county.get(c, 0) + 1
            code = f"{counties[c][:6]}{j:03d}000"
            townships.append(code)
            places.append((code, f"第{j}镇", RegionLevel.TOWNSHIP, counties[c]))
        per_township: dict[int, int] = {}
        for v in range(self.villages):
            t = v * self.townships // self.villages
            m = per_township[t] = per_township.get(t, 0) + 1
            places.append((f"{townships[t][:9]}{m:03d}", f"第{m}村", RegionLevel.VILLAGE, townships[t]))
        return places


@dataclass
class Places:
    city: Region
    county: Region
    township: Region
    village: Region
    users: dict[str, User]


# --- the load ------------------------------------------------------------------------------------------------

# Everything the bench writes, emptied before a load (on a database holding nothing else, checked first).
TRUNCATE_SQL = """
TRUNCATE portal_monthlysummary, portal_summaryrun, portal_target, portal_assessmententry, portal_fundwarning,
    portal_timelimit, portal_reportfile, funds_fundmovement, funds_fundaccount, benefits_payrollline,
    benefits_payrollrun, benefits_award, benefits_historicalaward, benefits_claim, benefits_historicalclaim,
    enrollment_applicationevent, enrollment_application, enrollment_historicalapplication,
    contributions_contribution, enrollment_insuredperson, enrollment_historicalinsuredperson
RESTART IDENTITY CASCADE
"""

# One row per person with everything the other tables are built from (a temporary table of the load). h is a
# multiplicative hash of i that stands in for chance (other draws hash i, and the year, modulo other primes, so
# that they do not follow each other); i = 0, 5, 10, … are the persons aged 60 and over.
# Sequence numbers count the persons born on the same day, so identity numbers stay unique for any N.
PLAN_SQL = """
CREATE TEMP TABLE bench_dashboard_plan ON COMMIT DROP AS
WITH g AS (
    SELECT i, (i::bigint * 2654435761) %% 1000003 AS h, i %% 5 = 0 AS elder
    FROM generate_series(0, %(n)s - 1) AS s(i)
), b AS (
    SELECT g.*,
           CASE WHEN elder THEN (%(today)s::date - interval '60 years')::date - (h %% 10950)::int
                ELSE (%(today)s::date - interval '16 years')::date - (h %% 16070)::int END AS birth
    FROM g
), seq AS (
    SELECT b.*, row_number() OVER (PARTITION BY birth ORDER BY i) - 1 AS k FROM b
), villages AS (
    SELECT v.id, v.code, p.id AS pooling_id, row_number() OVER (ORDER BY v.code) - 1 AS v
    FROM agencies_region v JOIN agencies_poolingregion p ON p.code = substr(v.code, 1, 6)
    WHERE v.code LIKE %(city_like)s AND v.level = 'village'
), enrolled AS (
    SELECT seq.*, villages.id AS village_id, villages.code AS region_code, villages.pooling_id,
           LEAST(%(today)s::date, GREATEST(
               (seq.birth + interval '16 years')::date,
               CASE WHEN NOT seq.elder AND seq.h %% 25 = 3 THEN %(today)s::date - ((seq.h / 25) %% 730)::int
                    ELSE %(scheme)s::date + ((seq.h / 7) %% 4900)::int END)) AS enrolled_on,
           GREATEST((date_trunc('month', seq.birth) + interval '721 months')::date, %(scheme)s::date) AS start_month,
           t.amount AS tier, t.subsidy
    FROM seq
    JOIN villages ON villages.v = (seq.i::bigint * 2654435761) %% 999959 %% %(villages)s
    JOIN (SELECT * FROM unnest(%(tier_amounts)s::numeric[], %(tier_subsidies)s::numeric[]) WITH ORDINALITY
          AS t(amount, subsidy, o)) t ON t.o = 1 + (seq.h / 3) %% %(tier_count)s
), cancelled AS (
    SELECT enrolled.*,
           CASE WHEN h %% 100 = 57
                THEN enrolled_on + ((%(today)s::date - enrolled_on) * (50 + (h / 100) %% 50) / 100)::int END AS cancelled_on
    FROM enrolled
)
SELECT cancelled.*, i + 1 AS person_id,
       %(area)s || lpad(((k / 1000) %% 100)::text, 2, '0') || to_char(birth, 'YYYYMMDD')
           || lpad((k %% 1000)::text, 3, '0') AS f17,
       elder AND cancelled_on IS NULL AND start_month >= %(month)s::date - interval '1 month'
           AND (i / 5) %% 2 = 0 AS open_claim,
       CASE WHEN start_month = %(scheme)s::date THEN 'basic_only' ELSE 'monthly' END AS category,
       CASE WHEN start_month = %(scheme)s::date THEN 0 ELSE 15 + h %% 11 END AS years_paid
FROM cancelled;
ALTER TABLE bench_dashboard_plan ADD COLUMN awarded boolean;
UPDATE bench_dashboard_plan SET awarded = elder AND NOT open_claim AND start_month <= %(month)s
    AND (cancelled_on IS NULL OR cancelled_on >= start_month);
CREATE INDEX ON bench_dashboard_plan (person_id);
ANALYZE bench_dashboard_plan
"""

PLACES_SQL = """
UPDATE agencies_region r SET registered_population = ceil(s.insured / (0.93 + (r.id %% 5) / 100.0))
FROM (SELECT village_id, COUNT(*) FILTER (WHERE cancelled_on IS NULL) AS insured
      FROM bench_dashboard_plan GROUP BY village_id) s
WHERE r.id = s.village_id
"""

PERSONS_SQL = (
    """
INSERT INTO enrollment_insuredperson
    (id, id_number, insurance_number, name, name_initials, sex, birth_date, region_code, status, phone, address,
     social_security_card_number, bank_code, bank_account, enrolled_on, cancelled_on, created_at, village_id)
SELECT person_id, f17 || """
    + idnumber.check_character_sql("f17")
    + """,
       %(area)s || lpad(i::text, 10, '0'), '统计测试' || (i %% 1000), 'TJCS', CASE WHEN k %% 2 = 1 THEN 'M' ELSE 'F' END,
       birth, region_code, CASE WHEN cancelled_on IS NULL THEN 'active' ELSE 'cancelled' END,
       '1390000' || lpad((i %% 10000)::text, 4, '0'), '', '', '314', '623062' || lpad(i::text, 13, '0'), enrolled_on,
       cancelled_on, (enrolled_on + time '09:00') AT TIME ZONE %(tz)s, village_id
FROM bench_dashboard_plan
ORDER BY person_id;
SELECT setval(pg_get_serial_sequence('enrollment_insuredperson', 'id'), %(n)s)
"""
)

# Three contribution years, this one only up to today. A contributor lapses in a given year by chance (about one
# in eleven) and one in fifty has stopped paying since the first year; one payment in ten is at a bank counter.
CONTRIBUTIONS_SQL = """
INSERT INTO contributions_contribution
    (year, kind, tier_amount, personal_amount, government_subsidy, government_paid, paid_on, channel, bank_code,
     bank_reference, region_code, recorded_at, person_id, recorded_by_id, paid_city, paid_county, paid_province,
     subsidy_city, subsidy_county, subsidy_province)
SELECT y, 'regular', p.tier, p.tier, p.subsidy, 0, x.paid_on,
       CASE WHEN (p.i::bigint * 2654435761 + y * 16807) %% 999961 %% 10 = 0 THEN 'counter' ELSE 'bank_file' END, 'BENCH', 'dash:' || p.i || ':' || y,
       p.region_code, (x.paid_on + time '12:00') AT TIME ZONE %(tz)s, p.person_id, NULL, 0, 0, 0,
       round(p.subsidy * 0.30, 2), p.subsidy - 2 * round(p.subsidy * 0.30, 2), round(p.subsidy * 0.30, 2)
FROM bench_dashboard_plan p
CROSS JOIN generate_series(%(year)s - 2, %(year)s) AS y
CROSS JOIN LATERAL (
    SELECT GREATEST(make_date(y, 3 + ((p.i::bigint * 2654435761 + y * 40503) %% 999979 %% 9)::int,
                     1 + ((p.h / 11) %% 28)::int), p.enrolled_on) AS paid_on
) x
WHERE NOT p.elder
  AND p.enrolled_on <= make_date(y, 12, 31)
  AND (p.i::bigint * 2654435761 + y * 69621) %% 999983 %% 100 >= %(lapse)s
  AND NOT (p.h %% 50 = 9 AND y > %(year)s - 2)
  AND x.paid_on <= %(today)s
  AND (p.cancelled_on IS NULL OR x.paid_on < p.cancelled_on)
ORDER BY y, p.person_id
"""

# Claims: approved for the pensions that started in the last two years, open for some who turned 60 lately.
CLAIMS_SQL = """
INSERT INTO benefits_claim
    (region_code, category, status, eligible_from, years_paid, bank_code, bank_account, return_reason, created_at,
     reviewed_at, decided_at, created_by_id, decided_by_id, person_id, reviewed_by_id)
SELECT p.region_code, p.category,
       CASE WHEN p.awarded THEN 'approved' WHEN (p.h / 3) %% 2 = 0 THEN 'submitted' ELSE 'accepted' END,
       p.start_month, p.years_paid, '314', '623062' || lpad(p.i::text, 13, '0'), '', x.created,
       CASE WHEN p.awarded OR (p.h / 3) %% 2 = 1 THEN LEAST(x.created + interval '2 days', now()) END,
       CASE WHEN p.awarded THEN x.created + interval '12 days' END,
       %(agent)s, CASE WHEN p.awarded THEN %(approver)s END, p.person_id,
       CASE WHEN p.awarded OR (p.h / 3) %% 2 = 1 THEN %(clerk)s END
FROM bench_dashboard_plan p
CROSS JOIN LATERAL (
    SELECT CASE WHEN p.awarded THEN ((p.start_month - 25) + time '10:00') AT TIME ZONE %(tz)s
                ELSE ((%(today)s::date - (p.h %% 45)::int) + time '10:00') AT TIME ZONE %(tz)s END AS created
) x
WHERE p.open_claim OR (p.awarded AND p.start_month >= %(month)s::date - interval '24 months')
ORDER BY p.person_id
"""

# Awards: the basic pension 143 + 100 yuan, 2 yuan a year paid beyond 15; the account pension the balance at
# the start (the years paid at the tier and its subsidy) divided by 139. Stopped at death for the cancelled.
AWARDS_SQL = """
INSERT INTO benefits_award
    (person_id, claim_id, region_code, pooling_region_id, category, status, start_month, paid_until, stop_reason,
     stop_note, birth_date, years_paid, account_balance_at_start, account_divisor, account_pension, bank_code,
     bank_account, approved_by_id, approved_at)
SELECT p.person_id, c.id, p.region_code, p.pooling_id, p.category,
       CASE WHEN p.cancelled_on IS NULL THEN 'active' ELSE 'stopped' END, p.start_month,
       date_trunc('month', p.cancelled_on)::date, CASE WHEN p.cancelled_on IS NULL THEN '' ELSE 'death' END, '',
       p.birth, p.years_paid, x.balance, 139, round(x.balance / 139, 2), '314', '623062' || lpad(p.i::text, 13, '0'),
       %(approver)s, ((p.start_month - 5) + time '15:00') AT TIME ZONE %(tz)s
FROM bench_dashboard_plan p
CROSS JOIN LATERAL (SELECT p.years_paid * (p.tier + p.subsidy) * 1.08 AS balance) x
LEFT JOIN benefits_claim c ON c.person_id = p.person_id AND c.status = 'approved'
WHERE p.awarded
ORDER BY p.person_id
"""

# A confirmed payroll for each of the last 12 months in every pooling region, a line per award in payment.
PAYROLL_SQL = """
INSERT INTO benefits_payrollrun
    (month, status, lines_count, basic_total, account_total, account_paid_total, fund_paid_total, arrears_total,
     total, totals_by_category, progress_done, progress_total, prepared_at, confirmed_at, funding_request_number,
     confirmed_by_id, pooling_region_id, prepared_by_id)
SELECT m::date, 'confirmed', 0, 0, 0, 0, 0, 0, 0, '{}'::jsonb, 0, 0, LEAST(m + interval '2 days', now()),
       LEAST(m + interval '3 days', now()), 'YK' || pr.code || to_char(m, 'YYYYMM'), %(officer)s, pr.id, %(officer)s
FROM generate_series(%(first_payroll)s::date, %(month)s::date, interval '1 month') AS m
CROSS JOIN agencies_poolingregion pr
WHERE pr.code LIKE %(city_like)s
ORDER BY pr.id, m;
INSERT INTO benefits_payrollline
    (region_code, kind, category, basic_pension, account_pension, account_paid, fund_paid, total, debited,
     bank_code, bank_account, payout_status, award_id, person_id, run_id)
SELECT a.region_code, 'pension', a.category, x.basic, a.account_pension, a.account_pension, 0,
       x.basic + a.account_pension, true, a.bank_code, a.bank_account,
       CASE WHEN (a.id * 31 + EXTRACT(MONTH FROM r.month)::int) %% 300 = 0 THEN 'failed' ELSE 'paid' END,
       a.id, a.person_id, r.id
FROM benefits_award a
JOIN benefits_payrollrun r ON r.pooling_region_id = a.pooling_region_id AND r.month >= a.start_month
     AND (a.paid_until IS NULL OR r.month <= a.paid_until)
CROSS JOIN LATERAL (
    SELECT 243 + 2 * GREATEST(a.years_paid - 15, 0)
           + CASE WHEN r.month >= a.birth_date + interval '80 years' THEN 20
                  WHEN r.month >= a.birth_date + interval '65 years' THEN 10 ELSE 0 END AS basic
) x
ORDER BY r.id, a.id;
UPDATE benefits_payrollrun r
SET lines_count = s.lines, basic_total = s.basic, account_total = s.account, account_paid_total = s.account,
    total = s.total, progress_done = s.lines, progress_total = s.lines
FROM (SELECT run_id, COUNT(*) AS lines, SUM(basic_pension) AS basic, SUM(account_pension) AS account,
             SUM(total) AS total
      FROM benefits_payrollline GROUP BY run_id) s
WHERE s.run_id = r.id
"""

# Registrations of the new members, changes for one person in 40 over two years (the last 40 days' partly
# open or sent back), and their events. One application in 300 was returned for correction once.
APPLICATIONS_SQL = """
INSERT INTO enrollment_application
    (kind, region_code, status, changes, reason, cancellation_reason, event_date, proof, return_reason, created_at,
     reviewed_at, decided_at, created_by_id, decided_by_id, reviewed_by_id, person_id)
SELECT 'register', p.region_code, 'approved', '{}'::jsonb, '', '', NULL, '', '',
       ((p.enrolled_on - (3 + p.h %% 8)::int) + time '10:00') AT TIME ZONE %(tz)s,
       ((p.enrolled_on - (2 + p.h %% 8)::int) + time '10:00') AT TIME ZONE %(tz)s,
       LEAST(((p.enrolled_on) + time '16:00') AT TIME ZONE %(tz)s, now()), %(agent)s, %(approver)s, %(clerk)s,
       p.person_id
FROM bench_dashboard_plan p
WHERE p.enrolled_on >= %(today)s::date - 730
ORDER BY p.enrolled_on, p.person_id;
INSERT INTO enrollment_application
    (kind, region_code, status, changes, reason, cancellation_reason, event_date, proof, return_reason, created_at,
     reviewed_at, decided_at, created_by_id, decided_by_id, reviewed_by_id, person_id)
SELECT 'change', p.region_code, x.status, '{"phone": "13900001111"}'::jsonb, '变更联系电话', '', NULL, '',
       CASE WHEN x.status = 'returned' THEN '联系电话位数不对，请核实后重新提交。' ELSE '' END, x.created,
       CASE WHEN x.status IN ('accepted', 'approved') THEN LEAST(x.created + interval '1 day', now()) END,
       CASE WHEN x.status = 'approved' THEN LEAST(x.created + make_interval(days => 2 + (p.h %% 8)::int), now()) END,
       %(agent)s, CASE WHEN x.status = 'approved' THEN %(approver)s END,
       CASE WHEN x.status IN ('accepted', 'approved') THEN %(clerk)s END, p.person_id
FROM bench_dashboard_plan p
CROSS JOIN LATERAL (SELECT %(today)s::date - ((p.h / 40) %% 720)::int AS day) d
CROSS JOIN LATERAL (
    SELECT (d.day + time '11:00') AT TIME ZONE %(tz)s AS created,
           CASE WHEN d.day <= %(today)s::date - 40 THEN 'approved'
                ELSE (ARRAY['returned', 'submitted', 'accepted', 'approved'])[1 + ((p.h / 7) %% 4)::int] END AS status
) x
WHERE p.h %% 40 = 11 AND p.cancelled_on IS NULL AND d.day > p.enrolled_on
ORDER BY x.created, p.person_id;
INSERT INTO enrollment_applicationevent (action, from_status, to_status, note, at, actor_id, application_id)
SELECT e.action, e.from_status, e.to_status, e.note, e.at, e.actor, e.application_id
FROM (
    SELECT 'submit' AS action, '' AS from_status, 'submitted' AS to_status, '' AS note, a.created_at AS at,
           a.created_by_id AS actor, a.id AS application_id
    FROM enrollment_application a
    UNION ALL
    SELECT 'return', 'submitted', 'returned', '信息有误，退回更正', a.created_at + interval '12 hours', %(clerk)s, a.id
    FROM enrollment_application a WHERE a.status = 'returned' OR a.id %% 300 = 7
    UNION ALL
    SELECT 'resubmit', 'returned', 'submitted', '', a.created_at + interval '20 hours', a.created_by_id, a.id
    FROM enrollment_application a WHERE a.status <> 'returned' AND a.id %% 300 = 7
    UNION ALL
    SELECT 'accept', 'submitted', 'accepted', '', a.reviewed_at, a.reviewed_by_id, a.id
    FROM enrollment_application a WHERE a.reviewed_at IS NOT NULL
    UNION ALL
    SELECT 'approve', 'accepted', 'approved', '', a.decided_at, a.decided_by_id, a.id
    FROM enrollment_application a WHERE a.status = 'approved'
) e
WHERE e.at <= now()
ORDER BY e.at, e.application_id
"""

# The fund accounts' movements, as the services book them: counter payments one by one, each month's deduction
# and government subsidy, the month-end sweep of income to the fiscal special account, the basic pension's money
# from finance, the payroll's funding transfer and its payout (failed lines stay in the expenditure account).
FUNDS_SQL = """
INSERT INTO funds_fundaccount (pooling_region_id, kind, bank_partner_id, account_number, balance)
SELECT pr.id, k.kind, NULL, '62' || pr.code || k.o, 0
FROM agencies_poolingregion pr
CROSS JOIN (VALUES ('income', 1), ('expenditure', 2), ('fiscal', 3)) AS k(kind, o)
WHERE pr.code LIKE %(city_like)s
ORDER BY pr.id, k.o;
INSERT INTO funds_fundmovement
    (account_id, fund, kind, amount, booked_on, reference, counterpart, idempotency_key, created_at, created_by_id)
SELECT fa.id, 'individual_account', 'counter', c.personal_amount, c.paid_on, c.bank_reference, '',
       'counter:BENCH:' || c.bank_reference, c.recorded_at, NULL
FROM contributions_contribution c
JOIN agencies_poolingregion pr ON pr.code = substr(c.region_code, 1, 6)
JOIN funds_fundaccount fa ON fa.pooling_region_id = pr.id AND fa.kind = 'income'
WHERE c.channel = 'counter'
ORDER BY c.paid_on, c.id;
INSERT INTO funds_fundmovement
    (account_id, fund, kind, amount, booked_on, reference, counterpart, idempotency_key, created_at, created_by_id)
SELECT fa.id, 'individual_account', s.kind, s.amount, s.booked_on, s.reference, s.counterpart,
       s.prefix || s.reference || ':individual_account', now(), NULL
FROM (
    SELECT pr.id AS pooling_id, 'income' AS account, 'deduction' AS kind, SUM(c.personal_amount) AS amount,
           MAX(c.paid_on) AS booked_on, 'DK' || pr.code || to_char(c.paid_on, 'YYYYMM') AS reference,
           '基准测试银行' AS counterpart, 'batch:' AS prefix
    FROM contributions_contribution c JOIN agencies_poolingregion pr ON pr.code = substr(c.region_code, 1, 6)
    WHERE c.channel = 'bank_file'
    GROUP BY pr.id, pr.code, to_char(c.paid_on, 'YYYYMM')
    UNION ALL
    SELECT pr.id, 'fiscal', 'transfer_in', SUM(c.government_subsidy), MAX(c.paid_on),
           'CZ' || pr.code || to_char(c.paid_on, 'YYYYMM'), '财政', 'finance_receipt:' || pr.id || ':'
    FROM contributions_contribution c JOIN agencies_poolingregion pr ON pr.code = substr(c.region_code, 1, 6)
    GROUP BY pr.id, pr.code, to_char(c.paid_on, 'YYYYMM')
) s
JOIN funds_fundaccount fa ON fa.pooling_region_id = s.pooling_id AND fa.kind = s.account
ORDER BY s.booked_on, fa.id;
INSERT INTO funds_fundmovement
    (account_id, fund, kind, amount, booked_on, reference, counterpart, idempotency_key, created_at, created_by_id)
SELECT fa.id, 'individual_account', side.kind, side.sign * s.amount, s.month_end,
       'GJ' || pr.code || to_char(s.month, 'YYYYMM'), pr.name || side.other,
       'sweep:' || pr.id || ':' || to_char(s.month, 'YYYYMM') || ':1:individual_account:' || side.tag, now(), NULL
FROM (
    SELECT fa.pooling_region_id AS pooling_id, date_trunc('month', m.booked_on)::date AS month,
           (date_trunc('month', m.booked_on) + interval '1 month - 1 day')::date AS month_end, SUM(m.amount) AS amount
    FROM funds_fundmovement m JOIN funds_fundaccount fa ON fa.id = m.account_id
    WHERE fa.kind = 'income'
    GROUP BY 1, 2, 3
) s
JOIN agencies_poolingregion pr ON pr.id = s.pooling_id
CROSS JOIN (VALUES ('income', 'sweep_out', -1, 'out', '财政专户'), ('fiscal', 'sweep_in', 1, 'in', '收入户'))
    AS side(account, kind, sign, tag, other)
JOIN funds_fundaccount fa ON fa.pooling_region_id = s.pooling_id AND fa.kind = side.account
WHERE s.month_end < %(today)s
ORDER BY s.month_end, fa.id;
INSERT INTO funds_fundmovement
    (account_id, fund, kind, amount, booked_on, reference, counterpart, idempotency_key, created_at, created_by_id)
SELECT fa.id, x.fund, x.kind, x.amount, x.booked_on, x.reference, x.counterpart, x.key, now(), NULL
FROM benefits_payrollrun r
JOIN agencies_poolingregion pr ON pr.id = r.pooling_region_id
CROSS JOIN LATERAL (
    SELECT COALESCE(SUM(l.basic_pension) FILTER (WHERE l.payout_status = 'paid'), 0) AS basic_paid,
           COALESCE(SUM(l.account_pension) FILTER (WHERE l.payout_status = 'paid'), 0) AS account_paid
    FROM benefits_payrollline l WHERE l.run_id = r.id
) paid
CROSS JOIN LATERAL (VALUES
    ('fiscal', 'basic_pension', 'transfer_in', r.basic_total, LEAST(r.month + 1, %(today)s::date),
     'JC' || pr.code || to_char(r.month, 'YYYYMM'), '财政',
     'finance_receipt:' || pr.id || ':JC' || pr.code || to_char(r.month, 'YYYYMM') || ':basic_pension'),
    ('fiscal', 'basic_pension', 'funding_out', -r.basic_total, LEAST(r.month + 2, %(today)s::date),
     r.funding_request_number, pr.name || '支出户',
     'funding:' || pr.id || ':' || r.funding_request_number || ':basic_pension:out'),
    ('expenditure', 'basic_pension', 'funding_in', r.basic_total, LEAST(r.month + 2, %(today)s::date),
     r.funding_request_number, pr.name || '财政专户',
     'funding:' || pr.id || ':' || r.funding_request_number || ':basic_pension:in'),
    ('fiscal', 'individual_account', 'funding_out', -r.account_total, LEAST(r.month + 2, %(today)s::date),
     r.funding_request_number, pr.name || '支出户',
     'funding:' || pr.id || ':' || r.funding_request_number || ':individual_account:out'),
    ('expenditure', 'individual_account', 'funding_in', r.account_total, LEAST(r.month + 2, %(today)s::date),
     r.funding_request_number, pr.name || '财政专户',
     'funding:' || pr.id || ':' || r.funding_request_number || ':individual_account:in'),
    ('expenditure', 'basic_pension', 'payout', -paid.basic_paid, LEAST(r.month + 5, %(today)s::date),
     'FF' || pr.code || to_char(r.month, 'YYYYMM'), '基准测试银行',
     'batch:FF' || pr.code || to_char(r.month, 'YYYYMM') || ':basic_pension'),
    ('expenditure', 'individual_account', 'payout', -paid.account_paid, LEAST(r.month + 5, %(today)s::date),
     'FF' || pr.code || to_char(r.month, 'YYYYMM'), '基准测试银行',
     'batch:FF' || pr.code || to_char(r.month, 'YYYYMM') || ':individual_account')
) AS x(account, fund, kind, amount, booked_on, reference, counterpart, key)
JOIN funds_fundaccount fa ON fa.pooling_region_id = r.pooling_region_id AND fa.kind = x.account
WHERE x.amount <> 0
ORDER BY x.booked_on, fa.id;
UPDATE funds_fundaccount fa SET balance = s.total
FROM (SELECT account_id, SUM(amount) AS total FROM funds_fundmovement GROUP BY account_id) s
WHERE s.account_id = fa.id
"""

# The year's targets of every county and township (from the persons they hold), a time limit for registrations
# shorter than the law's and a fund warning line in every pooling region.
SUPERVISION_SQL = """
INSERT INTO portal_target
    (region_id, year, new_members, renewals, coverage_rate, payout_rate, set_by_id, set_at)
WITH per_village AS (
    SELECT region_code, COUNT(*) AS persons, COUNT(*) FILTER (WHERE NOT elder) AS contributors
    FROM bench_dashboard_plan GROUP BY region_code
)
SELECT r.id, %(year)s, GREATEST(1, round(SUM(v.persons) * 0.02)), GREATEST(1, round(SUM(v.contributors) * 0.85)),
       0.9500, 1.0000, %(supervisor)s, now()
FROM agencies_region r
JOIN per_village v ON v.region_code LIKE substr(r.code, 1, CASE WHEN r.level = 'county' THEN 6 ELSE 9 END) || '%%'
WHERE r.code LIKE %(city_like)s AND r.level IN ('county', 'township')
GROUP BY r.id
ORDER BY r.id;
INSERT INTO portal_timelimit (pooling_region_id, kind, working_days, valid_from, set_by_id, set_at)
SELECT pr.id, 'register', 7, DATE '2020-01-01', %(supervisor)s, now()
FROM agencies_poolingregion pr WHERE pr.code LIKE %(city_like)s;
INSERT INTO portal_fundwarning (pooling_region_id, threshold_months, set_by_id, set_at)
SELECT pr.id, 12.0, %(supervisor)s, now()
FROM agencies_poolingregion pr WHERE pr.code LIKE %(city_like)s
"""

VACUUMED = (
    "agencies_region",
    "enrollment_insuredperson",
    "contributions_contribution",
    "benefits_claim",
    "benefits_award",
    "benefits_payrollrun",
    "benefits_payrollline",
    "enrollment_application",
    "enrollment_applicationevent",
    "funds_fundaccount",
    "funds_fundmovement",
    "portal_target",
)

ROW_COUNTS = {
    "persons": "enrollment_insuredperson",
    "contributions": "contributions_contribution",
    "awards": "benefits_award",
    "claims": "benefits_claim",
    "payroll_lines": "benefits_payrollline",
    "applications": "enrollment_application",
    "application_events": "enrollment_applicationevent",
    "fund_movements": "funds_fundmovement",
}


def refuse_foreign_data() -> str | None:
    """The load starts with TRUNCATE: a reason to refuse unless every person, fund account and payroll is the
    bench's own."""
    like = f"{CITY_PREFIX}%"
    foreign = {
        "参保人": _count("SELECT COUNT(*) FROM enrollment_insuredperson WHERE region_code NOT LIKE %s", [like]),
        "基金专户": _count(
            "SELECT COUNT(*) FROM funds_fundaccount a JOIN agencies_poolingregion p ON p.id = a.pooling_region_id"
            " WHERE p.code NOT LIKE %s",
            [like],
        ),
        "发放批次": _count(
            "SELECT COUNT(*) FROM benefits_payrollrun r JOIN agencies_poolingregion p ON p.id = r.pooling_region_id"
            " WHERE p.code NOT LIKE %s",
            [like],
        ),
    }
    if not any(foreign.values()):
        return None
    name = connection.settings_dict["NAME"]
    found = "、".join(f"{label} {count}" for label, count in foreign.items() if count)
    url = f"postgres://postgres@127.0.0.1:5432/{SCRATCH_DATABASE}"
    return (
        f"数据库 {name} 中有基准测试以外的数据（{found}），基准测试会清空参保人、缴费、待遇、发放、申请和基金流水，"
        f"为免误删已停止。请改用专用的空数据库，例如：\n"
        f"  createdb -h 127.0.0.1 -U postgres {SCRATCH_DATABASE}\n"
        f"  DATABASE_URL={url} python manage.py migrate\n"
        f"  DATABASE_URL={url} python manage.py bench dashboard --persons 1000000"
    )


def ensure_places(layout: Layout) -> Places:
    """The city's regions for the layout (those of an earlier, larger layout removed: the caller has emptied
    the tables that point at them), a pooling region per county, and the staff the bench acts as."""
    wanted = layout.places()
    codes = [code for code, *_rest in wanted]
    with connection.cursor() as cursor:
        # Below the city only: the agencies of the bench's staff stay on places every layout has.
        cursor.execute(
            "DELETE FROM agencies_region WHERE code LIKE %s AND NOT (code = ANY(%s))", [f"{CITY_PREFIX}%", codes]
        )
        cursor.execute(
            "DELETE FROM agencies_poolingregion p WHERE p.code LIKE %s AND NOT (p.code = ANY(%s))"
            " AND NOT EXISTS (SELECT 1 FROM agencies_region r WHERE r.pooling_region_id = p.id)",
            [f"{CITY_PREFIX}%", [code[:6] for code, _n, level, _p in wanted if level == RegionLevel.COUNTY]],
        )
    existing = {region.code: region for region in Region.objects.filter(code__startswith=CITY_PREFIX)}
    pooling: dict[str, PoolingRegion] = {}
    for code, name, level, _parent in wanted:
        if level == RegionLevel.COUNTY:
            pooling[code], _ = PoolingRegion.objects.update_or_create(
                code=code[:6], defaults={"name": f"{name}统筹区", "scheme_started_on": SCHEME_STARTED_ON}
            )
    for depth in (RegionLevel.CITY, RegionLevel.COUNTY, RegionLevel.TOWNSHIP, RegionLevel.VILLAGE):
        missing = [
            Region(
                code=code,
                name=name,
                level=level,
                parent=existing.get(parent),
                pooling_region=pooling.get(code),
                registered_population=0,
            )
            for code, name, level, parent in wanted
            if level == depth and code not in existing
        ]
        for region in Region.objects.bulk_create(missing, batch_size=2000):
            existing[region.code] = region
    for code, region in existing.items():
        if code in pooling and region.pooling_region_id != pooling[code].pk:
            Region.objects.filter(pk=region.pk).update(pooling_region=pooling[code])
    return _places_of(existing)


def _places_of(regions: dict[str, Region]) -> Places:
    """The first county, its first township and village, and the staff: the supervisor at the city, the agent
    at that village, the others at the places their roles work at."""
    county = regions[f"{CITY_PREFIX}01000000"]
    township = regions[f"{CITY_PREFIX}01001000"]
    village = regions[f"{CITY_PREFIX}01001001"]
    city = regions[CITY]
    at = {
        Role.CITY_SUPERVISOR: city,
        Role.COUNTY_APPROVER: county,
        Role.COUNTY_FUND_OFFICER: county,
        Role.TOWNSHIP_CLERK: township,
        Role.VILLAGE_AGENT: village,
    }
    users = {}
    for key, (username, role) in USERS.items():
        agency, _ = Agency.objects.get_or_create(region=at[role], defaults={"name": f"{at[role].name}经办机构"})
        users[key], _ = User.objects.update_or_create(
            username=username, defaults={"role": role, "agency": agency, "last_name": "基准", "first_name": "测试"}
        )
    return Places(city=city, county=county, township=township, village=village, users=users)


def existing_places() -> Places:
    return _places_of({region.code: region for region in Region.objects.filter(code__startswith=CITY_PREFIX)})


def build(*, persons: int, layout: Layout, today: dt.date, say: Say) -> tuple[Places, float]:
    """Empty the tables and load N persons with their years of activity, in one transaction: a load killed
    half way leaves nothing. Returns the places and the seconds taken (the settling of the tables included)."""
    started = time.monotonic()
    month = today.replace(day=1)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL work_mem = '256MB'")
        cursor.execute(TRUNCATE_SQL)
        places = ensure_places(layout)
        users = places.users
        params = {
            "n": persons,
            "today": today,
            "year": today.year,
            "month": month,
            "first_payroll": _add_months(month, 1 - PAYROLL_MONTHS),
            "scheme": SCHEME_STARTED_ON,
            "city_like": f"{CITY_PREFIX}%",
            "area": CITY_PREFIX,
            "villages": layout.villages,
            "tier_amounts": [Decimal(a) for a, _ in TIERS],
            "tier_subsidies": [Decimal(s) for _, s in TIERS],
            "tier_count": len(TIERS),
            "lapse": LAPSE_PERCENT,
            "tz": settings.TIME_ZONE,
            **{key: user.pk for key, user in users.items()},
        }
        steps = (
            ("计划", PLAN_SQL),
            ("应参保人口", PLACES_SQL),
            ("参保人", PERSONS_SQL),
            ("缴费记录", CONTRIBUTIONS_SQL),
            ("待遇申请", CLAIMS_SQL),
            ("待遇", AWARDS_SQL),
            ("发放批次与明细", PAYROLL_SQL),
            ("业务申请及流转记录", APPLICATIONS_SQL),
            ("基金专户流水", FUNDS_SQL),
            ("目标任务、办理时限、预警线", SUPERVISION_SQL),
        )
        for label, sql in steps:
            step = time.monotonic()
            rows = 0
            for statement in (s for s in sql.split(";\n") if s.strip()):
                cursor.execute(statement, params)
                rows = max(rows, cursor.rowcount)
            say(f"  生成{label} {rows} 行（{time.monotonic() - step:.1f} 秒）")
        committing = time.monotonic()
    # The foreign keys are checked at commit (they are deferred): millions of rows' worth.
    say(f"  提交，检查外键（{time.monotonic() - committing:.1f} 秒）")
    settle_tables(VACUUMED, say)
    return places, time.monotonic() - started


def settle_tables(tables: tuple[str, ...], say: Say) -> None:
    """A settled steady state, as after a night's autovacuum: visibility map set and statistics current."""
    step = time.monotonic()
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"VACUUM (ANALYZE) {table}")
    say(f"  整理表和统计信息（{time.monotonic() - step:.1f} 秒）")


def row_counts() -> dict[str, int]:
    return {key: _count(f"SELECT COUNT(*) FROM {table}") for key, table in ROW_COUNTS.items()}


def _count(sql: str, params: list | None = None) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchone()[0]


def _add_months(month: dt.date, count: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + count
    return dt.date(index // 12, index % 12 + 1, 1)


# --- the nightly summaries -----------------------------------------------------------------------------------


def rebuild_summaries(*, months: int, today: dt.date, say: Say) -> list[float]:
    """The nightly rebuild, month by month, for the last ``months`` months: the seconds each took."""
    from portal.summaries import summaries_rebuild

    last = today.replace(day=1)
    runs = summaries_rebuild(first=_add_months(last, 1 - months), last=last, today=today)
    for run in runs:
        say(f"  汇总 {run.month:%Y-%m}：{run.villages} 个村，{run.seconds:.2f} 秒")
    # The rebuild replaced the rows: autovacuum analyses the table soon after, as here.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) portal_monthlysummary")
    return [run.seconds or 0.0 for run in runs]


# --- the pages -----------------------------------------------------------------------------------------------


@dataclass
class Timing:
    """A page's timed requests, and where the time of the one counted went: the database's answers (as the
    client waited for them) and this process's own CPU (on a busy machine both wait for a core)."""

    status: int
    seconds: list[float]
    cpu_seconds: list[float]
    queries: int
    sql_seconds: float
    slowest_query: tuple[float, str]  # seconds, the table it reads first

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu_seconds)

    @property
    def max(self) -> float:
        return max(self.seconds)


def dashboard_routed() -> bool:
    """Whether the dashboard has its page yet (``portal/urls_dashboard.py`` routes ``/dashboard/``)."""
    try:
        resolve("/dashboard/")
    except Resolver404:
        return False
    return True


def page_targets(places: Places) -> list[tuple[str, str, Region]]:
    """(key, user key, region) of each page timed: the city supervisor drilling down, and the village's agent."""
    return [
        ("city", "supervisor", places.city),
        ("county", "supervisor", places.county),
        ("township", "supervisor", places.township),
        ("village", "supervisor", places.village),
        ("village_agent", "agent", places.village),
    ]


def time_pages(*, places: Places, month: dt.date, repeat: int, say: Say) -> tuple[str, dict[str, Timing]]:
    """Each page requested 1 + ``repeat`` + 1 times: warm-up, timed, and once more to count its queries."""
    routed = dashboard_routed()
    mode = "pages" if routed else "measures"
    if not routed:
        say("注意：统计分析页面（/dashboard/）尚无路由，改为计时 portal.measures 的 month_measures、children、trend。")
    clients: dict[str, Client] = {}
    timings: dict[str, Timing] = {}
    for key, user_key, region in page_targets(places):
        user = places.users[user_key]
        if routed:
            if user_key not in clients:
                clients[user_key] = Client()
                clients[user_key].force_login(user)
            url = f"{reverse('portal:dashboard')}?region={region.code}&month={month:%Y-%m}"
            client = clients[user_key]

            def request(url: str = url, client: Client = client) -> int:
                return client.get(url).status_code
        else:

            def request(user: User = user, region: Region = region) -> int:
                _measures_calls(user=user, region=region, month=month)
                return 200

        timing = _time(request, repeat=repeat)
        timings[key] = timing
        shown = region.full_name() or region.name
        say(
            f"  {key}（{shown}，{user.get_role_display()}）：中位 {timing.median * 1000:.1f} ms，"
            f"最长 {timing.max * 1000:.1f} ms，{timing.queries} 条查询，HTTP {timing.status}；"
            f"本进程 CPU {timing.cpu_median * 1000:.1f} ms，查询共 {timing.sql_seconds * 1000:.0f} ms，"
            f"最慢 {timing.slowest_query[0] * 1000:.0f} ms（{timing.slowest_query[1]}）"
        )
    return mode, timings


def _measures_calls(*, user: User, region: Region, month: dt.date) -> None:
    from portal import measures

    measures.month_measures(user=user, region=region, month=month)
    measures.children(user=user, region=region, month=month)
    measures.trend(user=user, region=region, first=_add_months(month, 1 - PAYROLL_MONTHS), last=month)


def _time(request: Callable[[], int], *, repeat: int) -> Timing:
    status = request()  # warm-up: connections, templates, translations
    seconds, cpu_seconds = [], []
    for _ in range(repeat):
        started, cpu = time.perf_counter(), time.process_time()
        answered = request()
        seconds.append(time.perf_counter() - started)
        cpu_seconds.append(time.process_time() - cpu)
        status = status if status != 200 else answered
    with CaptureQueriesContext(connection) as captured:
        request()
    queries = [(float(query["time"]), query["sql"]) for query in captured.captured_queries]
    slowest = max(queries, default=(0.0, ""))
    table = FROM_TABLE.search(slowest[1])
    return Timing(
        status=status,
        seconds=seconds,
        cpu_seconds=cpu_seconds,
        queries=len(queries),
        sql_seconds=sum(spent for spent, _sql in queries),
        slowest_query=(slowest[0], table.group(1) if table else ""),
    )


# --- the run -------------------------------------------------------------------------------------------------


def run(*, persons: int, months: int, repeat: int, keep: bool, say: Say) -> dict:
    """Load (or reuse), rebuild the summaries, time the pages; return the figures."""
    today = timezone.localdate()
    layout = Layout.for_persons(persons)
    reuse = keep and _count("SELECT COUNT(*) FROM enrollment_insuredperson") == persons
    load_seconds = None
    if reuse:
        say(f"复用已有数据（参保人 {persons} 名）。")
        places = existing_places()
    else:
        say(
            f"生成数据：参保人 {persons} 名，{layout.counties} 个县（统筹区）、{layout.townships} 个乡镇、"
            f"{layout.villages} 个村……"
        )
        places, load_seconds = build(persons=persons, layout=layout, today=today, say=say)
        say(f"数据生成完成（{load_seconds:.1f} 秒）。")
    rows = row_counts()
    villages = Region.objects.filter(code__startswith=CITY_PREFIX, level=RegionLevel.VILLAGE).count()
    say("数据：" + "，".join(f"{key} {value}" for key, value in rows.items()) + f"，村 {villages} 个。")

    say(f"重算近 {months} 个月的月度汇总（夜间任务每晚重算本月和上月）……")
    per_month = rebuild_summaries(months=months, today=today, say=say)
    summary_seconds = sum(per_month)
    say(f"汇总共 {summary_seconds:.1f} 秒，平均每月 {summary_seconds / len(per_month):.2f} 秒。")

    load_before = os.getloadavg()[0]  # other work on the machine slows the pages: say so beside the figures
    mode, timings = time_pages(places=places, month=today.replace(day=1), repeat=repeat, say=say)
    load_after = os.getloadavg()[0]
    slowest = max(timing.max for timing in timings.values())
    ok = all(timing.status == 200 for timing in timings.values())
    return {
        "bench": "dashboard",
        "persons": persons,
        "villages": villages,
        "townships": layout.townships,
        "counties": layout.counties,
        "load_seconds": round(load_seconds, 1) if load_seconds is not None else None,
        "summary_months": len(per_month),
        "summary_seconds_per_month": round(summary_seconds / len(per_month), 2),
        "summary_seconds_max": round(max(per_month), 2),
        "mode": mode,
        "month": f"{today:%Y-%m}",
        "repeat": repeat,
        "seconds": {key: round(timing.median, 4) for key, timing in timings.items()},
        "max_seconds": {key: round(timing.max, 4) for key, timing in timings.items()},
        "queries": {key: timing.queries for key, timing in timings.items()},
        "cpu_seconds": {key: round(timing.cpu_median, 4) for key, timing in timings.items()},
        "sql_seconds": {key: round(timing.sql_seconds, 4) for key, timing in timings.items()},
        "slowest_query": {
            key: {"seconds": round(timing.slowest_query[0], 4), "table": timing.slowest_query[1]}
            for key, timing in timings.items()
        },
        "status": {key: timing.status for key, timing in timings.items()},
        "target_ms": TARGET_MS,
        "met": ok and mode == "pages" and slowest * 1000 < TARGET_MS,
        "rows": rows,
        "debug": settings.DEBUG,
        "load_before": round(load_before, 2),
        "load_after": round(load_after, 2),
        "cpus": os.cpu_count(),
    }


def figures_line(figures: dict) -> str:
    return json.dumps(figures, ensure_ascii=False)
