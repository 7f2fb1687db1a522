"""The benefits API: each endpoint's happy path with figures computed by hand, role refusals (403), records of
another jurisdiction (404), input errors (400 naming the field), idempotent retries, query counts that do not
grow with the rows, and an OpenAPI schema without warnings.

The services' "today" is held by a clock the tests move (the API passes no date of its own), so the figures
are those of ``test_awards``: 60 in March 2025, claimed in March, approved on 20 March, paid from April.
"""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from agencies.models import Role
from agencies.tests.factories import RegionLine, region_line
from benefits import payroll, services
from benefits.models import (
    Arrear,
    ArrearStatus,
    Award,
    AwardStatus,
    Claim,
    DeathListLoad,
    DeathRecord,
    MonthlyConfirmation,
    Overpayment,
    PayrollRun,
    PensionParameters,
    RecoveryStep,
    Transfer,
    TransferStatus,
)
from benefits.tests.factories import make_award, make_contributor, make_parameters
from contributions.models import InterestRate
from enrollment.models import InsuredPerson, PersonStatus
from enrollment.tests.factories import new_id_number
from funds.models import EntryKind, IndividualAccount, LedgerEntry

pytestmark = pytest.mark.django_db

API = "/api/v1"
BANK_ACCOUNT = "6222000011112222"


class Clock:
    today = dt.date(2025, 3, 20)


@pytest.fixture(autouse=True)
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(services, "_today", lambda: clock.today)
    return clock


def _setup(line: RegionLine) -> RegionLine:
    line.pooling_region.scheme_started_on = dt.date(2011, 7, 1)
    line.pooling_region.save()
    InterestRate.objects.create(pooling_region=line.pooling_region, year=2025, rate=Decimal("0.01500"))
    make_parameters(
        line,
        valid_from=dt.date(2024, 1, 1),
        per_year_beyond_minimum="2",
        addition_at_65="10",
        addition_at_80="30",
        funeral_grant_fixed="500",
        funeral_grant_months="2",
    )
    return line


@pytest.fixture
def line() -> RegionLine:
    return _setup(region_line())


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def staff(line: RegionLine, role: str) -> APIClient:
    return client_for(line.staff(role))


def contributor(line: RegionLine, **fields) -> InsuredPerson:
    """17 years paid (2008–2024), 13,900.00 in the account at the end of 2024, 60 in March 2025."""
    fields = {"birth_date": dt.date(1965, 3, 10), "years": 17, "bank_account": BANK_ACCOUNT, **fields}
    return make_contributor(line, **fields)


def awarded(line: RegionLine, **fields) -> Award:
    """Approved on 20 March 2025, paid from April: basic 123 + 100 + 2 × 2 = 227.00, account 13,952.13 ÷ 139 =
    100.38 (the balance after Jan–Mar interest 13,900 × 1.5% × 3/12 = 52.13), 327.38 a month."""
    return make_award(
        line, contributor(line, **fields), claimed_on=dt.date(2025, 3, 5), approved_on=dt.date(2025, 3, 20)
    )


def pay(line: RegionLine, month: dt.date) -> PayrollRun:
    officer = line.staff(Role.COUNTY_FUND_OFFICER)
    run = payroll.payroll_prepare(actor=officer, pooling_region=line.pooling_region, month=month)
    return payroll.payroll_confirm(actor=officer, run=run)


def field_errors(response) -> set[str]:
    """The fields a 400 names: DRF's {field: [...]} or the domain error's {"field": ..., "errors": {...}}."""
    body = response.json()
    if "errors" in body and isinstance(body["errors"], dict):
        return set(body["errors"])
    return {key for key in body if key not in ("detail", "code")}


# --- pension parameters and back pay ---------------------------------------------------------------------------


def test_new_parameters_recalculate_awards_and_list_the_back_pay(line):
    award = awarded(line)
    pay(line, dt.date(2025, 4, 1))  # April paid at 327.38
    supervisor = staff(line, Role.CITY_SUPERVISOR)

    # when the central minimum rises from 123 to 143 from April
    response = supervisor.post(
        f"{API}/pension-parameters/",
        {"pooling_region": line.pooling_region.code, "valid_from": "2025-04", "central_minimum": "143", "note": "国发"},
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["valid_from"], body["central_minimum"], body["local_top_up"]) == ("2025-04", "143.00", "100.00")
    assert (body["per_year_beyond_minimum"], body["funeral_grant_months"]) == ("2.00", "2.00")  # kept
    # one award recalculated; April already paid 327.38, due 143 + 100 + 4 + 100.38 = 347.38: back pay 20.00
    assert body["recalculation"]["awards_changed"] == 1
    assert body["recalculation"]["arrears_total"] == "20.00"
    assert body["recalculation"]["from_month"] == "2025-04"

    listed = supervisor.get(f"{API}/pension-parameters/?pooling_region={line.pooling_region.code}").json()
    assert [row["valid_from"] for row in listed["results"]] == ["2025-04", "2024-01"]
    assert supervisor.get(f"{API}/pension-parameters/?pooling_region=000000").json()["results"] == []
    assert supervisor.get(f"{API}/pension-parameters/{body['id']}/").json()["central_minimum"] == "143.00"

    # the award shows the new live period and the replaced one
    detail = staff(line, Role.COUNTY_APPROVER).get(f"{API}/awards/{award.pk}/").json()
    april = [p for p in detail["periods"] if p["valid_from"] == "2025-04"]
    assert [(p["basic_pension"], p["total"]) for p in april] == [("247.00", "347.38")]
    assert ("2025-04", "327.38") in [(p["valid_from"], p["total"]) for p in detail["replaced_periods"]]

    # the back pay waits for the county's review
    approver = staff(line, Role.COUNTY_APPROVER)
    [arrear] = approver.get(f"{API}/arrears/").json()["results"]
    assert (arrear["month"], arrear["paid_amount"], arrear["due_amount"], arrear["amount"]) == (
        "2025-04",
        "327.38",
        "347.38",
        "20.00",
    )
    assert arrear["recalculation_from"] == "2025-04"
    assert (
        staff(line, Role.VILLAGE_AGENT)
        .post(f"{API}/arrears/approve/", {"ids": [arrear["id"]]}, format="json")
        .status_code
        == 403
    )
    approved = approver.post(f"{API}/arrears/approve/", {"ids": [arrear["id"]]}, format="json")
    assert approved.json() == {"approved": 1, "not_pending": []}
    # approving again changes nothing
    again = approver.post(f"{API}/arrears/approve/", {"ids": [arrear["id"]]}, format="json")
    assert again.status_code == 200 and again.json() == {"approved": 0, "not_pending": [arrear["id"]]}
    assert Arrear.objects.get().status == ArrearStatus.APPROVED
    assert approver.get(f"{API}/arrears/").json()["results"] == []
    assert field_errors(approver.post(f"{API}/arrears/approve/", {"ids": []}, format="json")) == {"ids"}


def test_parameter_refusals(line):
    supervisor = staff(line, Role.CITY_SUPERVISOR)
    body = {"pooling_region": line.pooling_region.code, "valid_from": "2025-07", "central_minimum": "143"}
    assert staff(line, Role.COUNTY_CLERK).post(f"{API}/pension-parameters/", body, format="json").status_code == 403
    for bad, field in (
        ({**body, "valid_from": "2025-13"}, "valid_from"),
        ({**body, "valid_from": "2025-07-01"}, "valid_from"),
        ({**body, "central_minimum": 143.5}, "central_minimum"),
        ({**body, "central_minimum": "1e3"}, "central_minimum"),
        ({**body, "account_divisor": "0"}, "account_divisor"),
        ({**body, "pooling_region": "999999"}, "pooling_region"),
    ):
        response = supervisor.post(f"{API}/pension-parameters/", bad, format="json")
        assert response.status_code == 400, bad
        assert field in field_errors(response), (bad, response.json())
    assert supervisor.post(f"{API}/pension-parameters/", body, format="json").status_code == 201
    again = supervisor.post(f"{API}/pension-parameters/", body, format="json")
    assert again.status_code == 409 and again.json()["field"] == "valid_from"
    assert PensionParameters.objects.count() == 2


# --- claims ------------------------------------------------------------------------------------------------------


def test_claim_from_village_to_award(line, clock):
    person = contributor(line)
    agent, township, approver = (
        staff(line, r) for r in (Role.VILLAGE_AGENT, Role.TOWNSHIP_CLERK, Role.COUNTY_APPROVER)
    )
    clock.today = dt.date(2025, 3, 5)

    created = agent.post(f"{API}/claims/", {"insurance_number": person.insurance_number}, format="json")

    assert created.status_code == 201, created.json()
    claim = created.json()
    assert (claim["status"], claim["category"], claim["eligible_from"], claim["years_paid"]) == (
        "submitted",
        "monthly",
        "2025-04",
        17,
    )
    assert claim["bank_account_masked"] == "****2222" and claim["bank_account"] == BANK_ACCOUNT
    assert [e["action"] for e in claim["events"]] == ["submit"]
    assert agent.get(f"{API}/claims/").json()["results"][0]["id"] == claim["id"]
    assert "bank_account" not in agent.get(f"{API}/claims/").json()["results"][0]

    accepted = township.post(f"{API}/claims/{claim['id']}/accept/", {"note": "材料齐全"}, format="json")
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"

    clock.today = dt.date(2025, 3, 20)
    approved = approver.post(f"{API}/claims/{claim['id']}/approve/")

    assert approved.status_code == 201, approved.json()
    award = approved.json()
    # from April; interest Jan–Mar 13,900 × 1.5% × 3/12 = 52.125 → 52.13; 13,952.13 ÷ 139 = 100.375… → 100.38
    assert (award["start_month"], award["account_balance_at_start"], award["account_pension"]) == (
        "2025-04",
        "13952.13",
        "100.38",
    )
    periods = {p["valid_from"]: p for p in award["periods"]}
    # basic 123 + 100 + 2 × (17 − 15) = 227.00; with the account part 327.38
    assert (periods["2025-04"]["central_minimum"], periods["2025-04"]["local_top_up"]) == ("123.00", "100.00")
    assert (periods["2025-04"]["years_addition"], periods["2025-04"]["basic_pension"]) == ("4.00", "227.00")
    assert periods["2025-04"]["total"] == "327.38"
    # 10.00 more from the month after the 65th birthday month, 30.00 instead from after the 80th
    assert (periods["2030-04"]["age_addition"], periods["2030-04"]["total"]) == ("10.00", "337.38")
    assert (periods["2045-04"]["age_addition"], periods["2045-04"]["total"]) == ("30.00", "357.38")
    assert award["replaced_periods"] == [] and award["claim"] == claim["id"]

    detail = agent.get(f"{API}/claims/{claim['id']}/").json()
    assert (detail["status"], detail["award"]) == ("approved", award["id"])
    assert [e["action"] for e in detail["events"]] == ["submit", "accept", "approve"]
    # approving again is refused: the claim is no longer awaiting the county
    assert approver.post(f"{API}/claims/{claim['id']}/approve/").status_code == 409
    assert Award.objects.count() == 1


def test_claim_by_id_returned_resubmitted_and_withdrawn(line):
    person = contributor(line)
    agent, township = staff(line, Role.VILLAGE_AGENT), staff(line, Role.TOWNSHIP_CLERK)
    claim = agent.post(f"{API}/claims/", {"person": person.pk}, format="json").json()

    no_reason = township.post(f"{API}/claims/{claim['id']}/return/", {}, format="json")
    assert no_reason.status_code == 400 and field_errors(no_reason) == {"reason"}
    returned = township.post(f"{API}/claims/{claim['id']}/return/", {"reason": "缺身份证复印件"}, format="json")
    assert (returned.json()["status"], returned.json()["return_reason"]) == ("returned", "缺身份证复印件")

    # only whoever entered it sends it again or withdraws it
    assert township.post(f"{API}/claims/{claim['id']}/resubmit/").status_code == 403
    resubmitted = agent.post(f"{API}/claims/{claim['id']}/resubmit/")
    assert resubmitted.json()["status"] == "submitted" and resubmitted.json()["return_reason"] == ""
    assert township.post(f"{API}/claims/{claim['id']}/withdraw/", {}, format="json").status_code == 403
    withdrawn = agent.post(f"{API}/claims/{claim['id']}/withdraw/", {"reason": "本人撤回"}, format="json")
    assert withdrawn.json()["status"] == "withdrawn"
    assert [e["action"] for e in withdrawn.json()["events"]] == ["submit", "return", "resubmit", "withdraw"]
    assert agent.get(f"{API}/claims/?status=withdrawn").json()["count"] == 1
    assert agent.get(f"{API}/claims/?status=submitted").json()["count"] == 0
    assert agent.get(f"{API}/claims/?status=nonsense").status_code == 400


def test_claim_refusals(line):
    agent, township = staff(line, Role.VILLAGE_AGENT), staff(line, Role.TOWNSHIP_CLERK)
    # under 60: says from when a claim can be made
    young = contributor(line, birth_date=dt.date(1966, 3, 10), name="年轻人")
    refused = agent.post(f"{API}/claims/", {"person": young.pk}, format="json")
    assert refused.status_code == 400 and refused.json()["code"] == "not_eligible"
    assert "未到领取年龄" in refused.json()["detail"] and "2026年02月起申请" in refused.json()["detail"]
    # no person, a person of another jurisdiction, a category that does not exist
    assert field_errors(agent.post(f"{API}/claims/", {}, format="json")) == {"person"}
    foreign = make_contributor(_setup(region_line(county="320115")), name="境外人")
    stranger = agent.post(f"{API}/claims/", {"person": foreign.pk}, format="json")
    assert stranger.status_code == 400 and stranger.json()["field"] == "person"
    unknown = agent.post(f"{API}/claims/", {"insurance_number": "NOPE"}, format="json")
    assert unknown.status_code == 400 and unknown.json()["field"] == "insurance_number"
    person = contributor(line)
    assert field_errors(agent.post(f"{API}/claims/", {"person": person.pk, "category": "x"}, format="json")) == {
        "category"
    }
    # a county fund officer does not take claims; the one who entered a claim cannot review it
    assert staff(line, Role.COUNTY_FUND_OFFICER).post(f"{API}/claims/", {"person": person.pk}).status_code == 403
    claim = township.post(f"{API}/claims/", {"person": person.pk}, format="json").json()
    own = township.post(f"{API}/claims/{claim['id']}/accept/", {}, format="json")
    assert own.status_code == 403 and own.json()["code"] == "own_claim"
    # a second open claim for the same person
    assert agent.post(f"{API}/claims/", {"person": person.pk}, format="json").status_code == 409
    assert Claim.objects.count() == 1


def test_eligibility_check(line):
    ready = contributor(line)
    short = contributor(line, years=12, name="赵六")
    agent = staff(line, Role.VILLAGE_AGENT)

    response = agent.get(f"{API}/claims/eligibility/?person={ready.pk}&category=monthly&on=2025-03-20")

    assert response.status_code == 200
    # 46 at the local start in 2011: 14 years were left to 60, so 14 suffice
    assert response.json() == {
        "person": ready.pk,
        "category": "monthly",
        "eligible": True,
        "years_paid": 17,
        "years_required": 14,
        "eligible_from": "2025-04",
        "missing": [],
    }
    body = agent.get(f"{API}/claims/eligibility/?insurance_number={short.insurance_number}&on=2025-03-20").json()
    assert (body["eligible"], body["years_paid"], body["years_required"]) == (False, 12, 14)
    assert ["已缴12年，还差2年" in m for m in body["missing"]] == [True]
    assert field_errors(agent.get(f"{API}/claims/eligibility/?on=2025-03-20")) == {"person"}
    assert field_errors(agent.get(f"{API}/claims/eligibility/?person={ready.pk}&on=2025-13-01")) == {"on"}


# --- awards ------------------------------------------------------------------------------------------------------


def test_award_list_masks_and_detail_shows_everything(line):
    award = awarded(line)
    agent = staff(line, Role.VILLAGE_AGENT)
    [row] = agent.get(f"{API}/awards/").json()["results"]
    assert (row["id"], row["status"], row["start_month"], row["account_pension"]) == (
        award.pk,
        "active",
        "2025-04",
        "100.38",
    )
    assert row["bank_account_masked"] == "****2222" and "bank_account" not in row
    assert "*" in row["id_number_masked"] and row["paid_until"] is None
    assert agent.get(f"{API}/awards/?status=stopped").json()["count"] == 0
    detail = agent.get(f"{API}/awards/{award.pk}/").json()
    assert detail["bank_account"] == BANK_ACCOUNT
    assert [e["action"] for e in detail["events"]] == ["approve"]


def test_suspend_resume_pays_the_missed_month_and_stop(line):
    award = awarded(line)
    approver = staff(line, Role.COUNTY_APPROVER)
    missing = approver.post(f"{API}/awards/{award.pk}/suspend/", {"reason": "other"}, format="json")
    assert missing.status_code == 400 and field_errors(missing) == {"from_month"}
    bad_reason = approver.post(
        f"{API}/awards/{award.pk}/suspend/", {"from_month": "2025-04", "reason": "why"}, format="json"
    )
    assert field_errors(bad_reason) == {"reason"}

    suspended = approver.post(
        f"{API}/awards/{award.pk}/suspend/", {"from_month": "2025-04", "reason": "other", "note": "外出未认证"}
    )
    assert (suspended.json()["status"], suspended.json()["paid_until"]) == ("suspended", "2025-04")
    # April's payroll leaves it out
    april = pay(line, dt.date(2025, 4, 1))
    assert april.lines_count == 0
    assert staff(line, Role.VILLAGE_AGENT).post(f"{API}/awards/{award.pk}/resume/", {}).status_code == 403

    resumed = approver.post(f"{API}/awards/{award.pk}/resume/", {"note": "已认证"}, format="json")

    assert resumed.status_code == 200
    assert (resumed.json()["status"], resumed.json()["paid_until"]) == ("active", None)
    assert "应发327.38元" in resumed.json()["events"][-1]["note"]
    # May pays the month and April's 327.38 as back pay: 654.76
    may = pay(line, dt.date(2025, 5, 1))
    assert (may.arrears_total, may.total) == (Decimal("327.38"), Decimal("654.76"))
    assert approver.post(f"{API}/awards/{award.pk}/resume/", {}, format="json").status_code == 409

    stopped = approver.post(
        f"{API}/awards/{award.pk}/stop/", {"from_month": "2025-06", "reason": "fraud", "note": "冒领"}, format="json"
    )
    assert (stopped.json()["status"], stopped.json()["paid_until"], stopped.json()["stop_reason"]) == (
        "stopped",
        "2025-06",
        "fraud",
    )
    assert [e["action"] for e in stopped.json()["events"]] == ["approve", "suspend", "resume", "stop"]
    payments = approver.get(f"{API}/awards/{award.pk}/payments/").json()["results"]
    assert [(p["month"], p["kind"], p["total"]) for p in payments] == [
        ("2025-05", "pension", "327.38"),
        ("2025-05", "arrears", "327.38"),
    ]


def test_monthly_confirmation_and_yearly_check(line):
    award = awarded(line)
    agent = staff(line, Role.VILLAGE_AGENT)
    url = f"{API}/awards/{award.pk}/confirmations/"

    first = agent.post(url, {"month": "2025-04", "alive": True}, format="json")
    assert first.status_code == 201 and (first.json()["month"], first.json()["alive"]) == ("2025-04", True)
    # the same confirmation again answers the one recorded; a different answer for the month is refused
    assert agent.post(url, {"month": "2025-04", "alive": True}, format="json").json()["id"] == first.json()["id"]
    assert (
        agent.post(url, {"month": "2025-04", "alive": False, "stop_reason": "death"}, format="json").status_code == 409
    )
    assert MonthlyConfirmation.objects.count() == 1
    # a stop report needs its reason, and "other" its note
    assert field_errors(agent.post(url, {"month": "2025-05", "alive": False}, format="json")) == {"stop_reason"}
    assert field_errors(agent.post(url, {"month": "2025-05", "alive": False, "stop_reason": "other"})) == {"note"}
    assert field_errors(agent.post(url, {"month": "2025-5", "alive": True}, format="json")) == {"month"}
    assert staff(line, Role.COUNTY_APPROVER).post(url, {"month": "2025-05", "alive": True}).status_code == 403

    reported = agent.post(url, {"month": "2025-05", "alive": False, "stop_reason": "other", "note": "失联"})
    assert reported.status_code == 201
    # suspended from the month after the report, for the county to stop or resume
    award.refresh_from_db()
    assert (award.status, award.paid_until) == (AwardStatus.SUSPENDED, dt.date(2025, 6, 1))

    checks = f"{API}/awards/{award.pk}/yearly-checks/"
    body = {"year": 2025, "channel": "phone", "checked_on": "2025-03-25"}
    check = agent.post(checks, body, format="json")
    assert check.status_code == 201 and (check.json()["channel"], check.json()["passed"]) == ("phone", True)
    assert agent.post(checks, body, format="json").status_code == 409
    assert field_errors(agent.post(checks, {**body, "year": 2026, "channel": "fax"}, format="json")) == {"channel"}
    assert staff(line, Role.COUNTY_APPROVER).post(checks, {**body, "year": 2026}, format="json").status_code == 403


def test_turning_60_list(line):
    ready = contributor(line, birth_date=dt.date(1965, 4, 2), years=15, name="王五")
    short = contributor(line, birth_date=dt.date(1965, 4, 20), years=10, name="赵六")
    contributor(line, birth_date=dt.date(1965, 5, 2), years=15, name="钱七")  # next-but-one month
    township = staff(line, Role.TOWNSHIP_CLERK)

    rows = township.get(f"{API}/turning-60/?month=2025-04").json()["results"]

    by_person = {row["person"]: row for row in rows}
    assert set(by_person) == {ready.pk, short.pk}
    # 13,900 ÷ 139 = 100.00 from today's balance; basic 123 + 100 + 2 × 0
    assert (by_person[ready.pk]["eligible"], by_person[ready.pk]["eligible_from"]) == (True, "2025-05")
    assert (by_person[ready.pk]["basic_pension"], by_person[ready.pk]["account_pension"]) == ("223.00", "100.00")
    assert by_person[ready.pk]["total"] == "323.00"
    assert by_person[short.pk]["eligible"] is False and by_person[short.pk]["missing"]
    assert field_errors(township.get(f"{API}/turning-60/?month=2025-4")) == {"month"}


# --- payroll -----------------------------------------------------------------------------------------------------


def test_payroll_prepare_confirm_lines_and_payout(line, django_capture_on_commit_callbacks):
    person = awarded(line).person
    officer, clerk = staff(line, Role.COUNTY_FUND_OFFICER), staff(line, Role.COUNTY_CLERK)
    body = {"pooling_region": line.pooling_region.code, "month": "2025-04"}
    assert clerk.post(f"{API}/payroll-runs/", body, format="json").status_code == 403

    prepared = officer.post(f"{API}/payroll-runs/", body, format="json")

    assert prepared.status_code == 201, prepared.json()
    run = prepared.json()
    assert (run["status"], run["month"], run["lines_count"]) == ("draft", "2025-04", 1)
    assert (run["basic_total"], run["account_total"], run["total"]) == ("227.00", "100.38", "327.38")
    assert run["timetable"] == {
        "funding_request_by": "2025-04-10",
        "finance_transfer_by": "2025-04-15",
        "bank_credit_by": "2025-04-20",
    }
    assert run["totals_by_category"] == [
        {
            "category": "monthly",
            "label": "按月领取养老金",
            "persons": 1,
            "basic": "227.00",
            "account": "100.38",
            "total": "327.38",
        }
    ]
    # preparing again recomputes the same draft
    again = officer.post(f"{API}/payroll-runs/", body, format="json").json()
    assert (again["id"], again["total"]) == (run["id"], "327.38")
    assert [r["id"] for r in clerk.get(f"{API}/payroll-runs/").json()["results"]] == [run["id"]]
    # a village agent's jurisdiction does not hold the whole region: no runs for them
    agent = staff(line, Role.VILLAGE_AGENT)
    assert agent.get(f"{API}/payroll-runs/").json()["results"] == []
    assert agent.get(f"{API}/payroll-runs/{run['id']}/").status_code == 404

    [line_row] = clerk.get(f"{API}/payroll-runs/{run['id']}/lines/").json()["results"]
    assert (line_row["kind"], line_row["total"], line_row["bank_account_masked"]) == ("pension", "327.38", "****2222")
    assert clerk.get(f"{API}/payroll-runs/{run['id']}/lines/?kind=arrears").json()["results"] == []

    with django_capture_on_commit_callbacks(execute=True) as queued:
        assert clerk.post(f"{API}/payroll-runs/{run['id']}/confirm/").status_code == 403
    assert queued == []
    with django_capture_on_commit_callbacks(execute=True) as queued:
        confirmed = officer.post(f"{API}/payroll-runs/{run['id']}/confirm/")

    # queued after the request commits (in-process here, without a broker); the run is followed by its status
    assert confirmed.status_code == 202, confirmed.json()
    assert len(queued) == 1
    run = officer.get(f"{API}/payroll-runs/{run['id']}/").json()
    assert run["status"] == "confirmed"
    assert (run["account_paid_total"], run["fund_paid_total"]) == ("100.38", "0.00")
    assert run["funding_request_number"] == f"YK{line.pooling_region.code}202504"
    # the account part left the account: 13,952.13 − 100.38
    debits = LedgerEntry.objects.filter(account__person=person, kind=EntryKind.PENSION).aggregate(s=Sum("amount"))
    assert debits["s"] == Decimal("-100.38")
    assert IndividualAccount.objects.get(person=person).balance == Decimal("13851.75")
    # the month is locked
    with django_capture_on_commit_callbacks(execute=True) as queued:
        assert officer.post(f"{API}/payroll-runs/{run['id']}/confirm/").status_code == 409
    assert queued == []
    assert officer.post(f"{API}/payroll-runs/", body, format="json").status_code == 409

    # the payout list: in full for the fund officer, masked for others
    [payout] = officer.get(f"{API}/payroll-runs/{run['id']}/payout/").json()["results"]
    assert (payout["person"], payout["person_name"], payout["amount"]) == (person.pk, "李四", "327.38")
    assert payout["bank_account"] == BANK_ACCOUNT
    assert clerk.get(f"{API}/payroll-runs/{run['id']}/payout/").json()["results"][0]["bank_account"] == "****2222"


def test_payroll_input_errors(line):
    officer = staff(line, Role.COUNTY_FUND_OFFICER)
    for body, field in (
        ({"pooling_region": line.pooling_region.code, "month": "2025/04"}, "month"),
        ({"pooling_region": line.pooling_region.code}, "month"),
        ({"pooling_region": "999999", "month": "2025-04"}, "pooling_region"),
        ({"month": "2025-04"}, "pooling_region"),
    ):
        response = officer.post(f"{API}/payroll-runs/", body, format="json")
        assert response.status_code == 400 and field in field_errors(response), body
    assert PayrollRun.objects.count() == 0


# --- deaths and overpayments -------------------------------------------------------------------------------------


@pytest.fixture
def paid_to_may(line, clock):
    """An award paid for April and May (327.38 each); today is 5 June 2025."""
    award = awarded(line)
    pay(line, dt.date(2025, 4, 1))
    pay(line, dt.date(2025, 5, 1))
    clock.today = dt.date(2025, 6, 5)
    return award


def test_death_list_upload_matches_and_is_refused_whole_with_every_bad_row(line, paid_to_may):
    person = paid_to_may.person
    clerk = staff(line, Role.COUNTY_CLERK)
    stranger = new_id_number("110101", dt.date(1950, 1, 1))  # on the list, not insured here
    good = f"身份证号,死亡日期\n{person.id_number},2025-04-15\n{stranger},2025-01-01\n".encode()
    bad = f"身份证号,死亡日期\n{person.id_number},2025-04-15\n{stranger}\n{person.id_number},2025/13/40\n"

    refused = clerk.post(f"{API}/death-lists/", {"file": SimpleUploadedFile("bad.csv", bad.encode())})

    assert refused.status_code == 400
    assert refused.json()["code"] == "invalid_rows"
    assert [(e["row"], e["field"]) for e in refused.json()["errors"]] == [(3, "died_on"), (4, "died_on")]
    assert "2025/13/40" in refused.json()["errors"][1]["message"]
    assert not DeathRecord.objects.exists() and not DeathListLoad.objects.exists()
    assert field_errors(clerk.post(f"{API}/death-lists/", {}, format="multipart")) == {"file"}
    upload = {"file": SimpleUploadedFile("deaths.csv", good)}
    assert staff(line, Role.VILLAGE_AGENT).post(f"{API}/death-lists/", upload).status_code == 403

    loaded = clerk.post(f"{API}/death-lists/", {"file": SimpleUploadedFile("deaths.csv", good)})

    assert loaded.status_code == 201, loaded.json()
    load = loaded.json()
    assert (load["rows_read"], load["matches"], load["overpayments"]) == (2, 1, 1)
    assert [(d["person"], d["died_on"]) for d in load["deaths"]] == [(person.pk, "2025-04-15")]
    # died in April: paid for April, stopped from May; May's 327.38 is to be recovered
    award = Award.objects.get()
    assert (award.status, award.paid_until) == (AwardStatus.STOPPED, dt.date(2025, 5, 1))
    overpayment = Overpayment.objects.get()
    assert (overpayment.amount, overpayment.first_month) == (Decimal("327.38"), dt.date(2025, 5, 1))
    # the same list again matches nothing twice
    again = clerk.post(f"{API}/death-lists/", {"file": SimpleUploadedFile("deaths.csv", good)})
    assert again.json()["id"] == load["id"]
    assert (DeathListLoad.objects.count(), DeathRecord.objects.count(), Overpayment.objects.count()) == (1, 1, 1)
    assert [row["id"] for row in clerk.get(f"{API}/death-lists/").json()["results"]] == [load["id"]]
    assert clerk.get(f"{API}/death-lists/{load['id']}/").json()["deaths"][0]["died_on"] == "2025-04-15"


def test_a_malformed_identity_number_in_a_death_list_is_a_row_error(line):
    clerk = staff(line, Role.COUNTY_CLERK)
    refused = clerk.post(f"{API}/death-lists/", {"file": SimpleUploadedFile("bad.csv", b"12345,2025-01-01\n")})
    assert refused.status_code == 400
    assert [(e["row"], e["field"]) for e in refused.json()["errors"]] == [(1, "id_number")]


def test_single_death_record(line, paid_to_may):
    person = paid_to_may.person
    township = staff(line, Role.TOWNSHIP_CLERK)
    body = {"insurance_number": person.insurance_number, "died_on": "2025-04-15", "source": "家属报告"}
    assert staff(line, Role.VILLAGE_AGENT).post(f"{API}/deaths/", body, format="json").status_code == 403
    future = township.post(f"{API}/deaths/", {**body, "died_on": "2025-07-01"}, format="json")
    assert future.status_code == 400 and future.json()["field"] == "died_on"
    assert field_errors(township.post(f"{API}/deaths/", {**body, "source": ""}, format="json")) == {"source"}

    recorded = township.post(f"{API}/deaths/", body, format="json")

    assert recorded.status_code == 201, recorded.json()
    death = recorded.json()
    assert [(a["status"], a["paid_until"], a["stop_reason"]) for a in death["awards"]] == [
        ("stopped", "2025-05", "death")
    ]
    assert [(o["first_month"], o["last_month"], o["amount"], o["outstanding"]) for o in death["overpayments"]] == [
        ("2025-05", "2025-05", "327.38", "327.38")
    ]
    # the same death again answers the record; another date is refused for checking
    assert township.post(f"{API}/deaths/", body, format="json").json()["id"] == death["id"]
    assert township.post(f"{API}/deaths/", {**body, "died_on": "2025-04-16"}, format="json").status_code == 409
    assert (DeathRecord.objects.count(), Overpayment.objects.count()) == (1, 1)


def test_overpayment_recovery_offset_and_referral(line, paid_to_may):
    person = paid_to_may.person
    services.death_record(
        actor=line.staff(Role.TOWNSHIP_CLERK), person=person, died_on=dt.date(2025, 4, 15), source="家属报告"
    )
    overpayment = Overpayment.objects.get()
    clerk = staff(line, Role.COUNTY_CLERK)
    url = f"{API}/overpayments/{overpayment.pk}"
    [row] = clerk.get(f"{API}/overpayments/?open=1").json()["results"]
    assert (row["id"], row["amount"], row["outstanding"], row["reason"]) == (
        overpayment.pk,
        "327.38",
        "327.38",
        "death",
    )

    step = {"method": "repayment", "amount": "100.00", "on": "2025-06-05", "reference": "HD-1"}
    assert staff(line, Role.VILLAGE_AGENT).post(f"{url}/recoveries/", step, format="json").status_code == 403
    first = clerk.post(f"{url}/recoveries/", step, format="json")
    assert first.status_code == 201 and first.json()["amount"] == "100.00"
    # the same voucher again answers the step recorded: nothing counted twice
    assert clerk.post(f"{url}/recoveries/", step, format="json").json()["id"] == first.json()["id"]
    assert clerk.post(f"{url}/recoveries/", {**step, "amount": "90"}, format="json").status_code == 409
    for bad, field in (
        ({**step, "reference": "HD-2", "amount": 100.0}, "amount"),
        ({**step, "reference": "HD-2", "amount": "300.00"}, "amount"),  # more than the 227.38 outstanding
        ({**step, "reference": "", "amount": "10"}, "reference"),
        ({**step, "reference": "HD-2", "method": "cash"}, "method"),
    ):
        response = clerk.post(f"{url}/recoveries/", bad, format="json")
        assert response.status_code == 400 and field in field_errors(response), (bad, response.json())
    # 27.38 offset against the account: 13,952.13 − 2 × 100.38 = 13,751.37 → 13,723.99
    offset_step = {"method": "account_offset", "amount": "27.38", "on": "2025-06-05", "reference": "DK-1"}
    assert clerk.post(f"{url}/recoveries/", offset_step, format="json").status_code == 201
    assert IndividualAccount.objects.get(person=person).balance == Decimal("13723.99")

    detail = clerk.get(f"{url}/").json()
    assert (detail["recovered"], detail["outstanding"], detail["status"]) == ("127.38", "200.00", "open")
    assert [(s["method"], s["amount"]) for s in detail["steps"]] == [
        ("repayment", "100.00"),
        ("account_offset", "27.38"),
    ]
    # the award is stopped: nothing can be offset against later benefits
    assert clerk.post(f"{url}/offset/", {"per_month": "50"}, format="json").status_code == 409
    assert clerk.post(f"{url}/offset/", {"per_month": "0"}, format="json").json()["offset_per_month"] == "0.00"
    assert field_errors(clerk.post(f"{url}/offset/", {"per_month": "abc"}, format="json")) == {"per_month"}

    assert field_errors(clerk.post(f"{url}/refer/", {}, format="json")) == {"note"}
    referred = clerk.post(f"{url}/refer/", {"note": "涉嫌冒领，移交公安"}, format="json")
    assert referred.json()["status"] == "referred"
    assert clerk.get(f"{API}/overpayments/?open=1").json()["results"] == []
    assert RecoveryStep.objects.count() == 2


def test_death_settlement_pays_the_heir_after_the_overpayment(line, paid_to_may):
    person = paid_to_may.person
    services.death_record(
        actor=line.staff(Role.TOWNSHIP_CLERK), person=person, died_on=dt.date(2025, 4, 15), source="家属报告"
    )
    approver = staff(line, Role.COUNTY_APPROVER)
    heir = new_id_number("320412", dt.date(1990, 1, 1))

    def body(**overrides):
        data = {
            "person": person.pk,
            "heir_name": "李小四",
            "heir_id_number": heir,
            "heir_relation": "子",
            "heir_bank_account": "6222000099998888",
            "proof": SimpleUploadedFile("继承公证书.pdf", b"%PDF-1.4 proof", content_type="application/pdf"),
        }
        return {key: value for key, value in {**data, **overrides}.items() if value is not None}

    assert staff(line, Role.COUNTY_CLERK).post(f"{API}/death-settlements/", body()).status_code == 403
    assert field_errors(approver.post(f"{API}/death-settlements/", body(proof=None))) == {"proof"}
    assert field_errors(approver.post(f"{API}/death-settlements/", body(heir_id_number="12345"))) == {"heir_id_number"}
    own = approver.post(f"{API}/death-settlements/", body(heir_id_number=person.id_number))
    assert field_errors(own) == {"heir_id_number"}
    exe = SimpleUploadedFile("x.exe", b"MZ", content_type="application/octet-stream")
    assert field_errors(approver.post(f"{API}/death-settlements/", body(proof=exe))) == {"proof"}

    settled = approver.post(f"{API}/death-settlements/", body())

    assert settled.status_code == 201, settled.json()
    result = settled.json()
    # interest to June, from the April start: the 13,952.13 then earns April and May, 13,952.13 × 1.5% × 2/12 =
    # 34.880…; money leaving in month m stops earning from m: April's 100.38 loses two months (0.250…), May's
    # one (0.125…): 34.50. The balance 13,751.37 + 34.50 = 13,785.87 less May's 327.38 goes to the heir: 13,458.49.
    assert (result["overpayment_offset"], result["balance_paid"]) == ("327.38", "13458.49")
    # funeral grant: 500 + 2 × April's basic pension 227.00
    assert result["funeral_grant"] == "954.00"
    assert result["heir_bank_account_masked"] == "****8888" and "*" in result["heir_id_number_masked"]
    assert IndividualAccount.objects.get(person=person).balance == Decimal("0.00")
    assert InsuredPerson.objects.get(pk=person.pk).status == PersonStatus.CANCELLED
    assert approver.post(f"{API}/death-settlements/", body()).status_code == 409


def test_other_pension_stop_recovers_the_basic_pension_and_refunds(line, paid_to_may):
    person = paid_to_may.person
    approver = staff(line, Role.COUNTY_APPROVER)
    body = {"person": person.pk, "employee_pension_from": "2025-05"}
    assert staff(line, Role.COUNTY_CLERK).post(f"{API}/other-pension-stops/", body, format="json").status_code == 403
    assert field_errors(approver.post(f"{API}/other-pension-stops/", {"person": person.pk}, format="json")) == {
        "employee_pension_from"
    }

    stopped = approver.post(f"{API}/other-pension-stops/", body, format="json")

    assert stopped.status_code == 201, stopped.json()
    result = stopped.json()
    # May's basic pension 227.00 was paid twice over: recovered from the account first; no government money here,
    # so the refund is the balance with interest to June (13,785.87, see the death settlement) less 227.00
    assert (result["overpayment"]["amount"], result["overpayment"]["recovered"]) == ("227.00", "227.00")
    assert result["overpayment"]["status"] == "recovered"
    assert result["refund"] == "13558.87"
    assert Award.objects.get().status == AwardStatus.STOPPED
    assert InsuredPerson.objects.get(pk=person.pk).status == PersonStatus.CANCELLED
    assert approver.post(f"{API}/other-pension-stops/", body, format="json").status_code == 409


# --- transfers ---------------------------------------------------------------------------------------------------


def test_transfer_out_and_in_across_pooling_regions_keeps_every_fen(line):
    person = make_contributor(line, birth_date=dt.date(1980, 5, 1), years=10, balance=Decimal("13900.00"))
    target = region_line(county="320411", township="102", village="203")  # another pooling region of the city
    receiving, sending = staff(target, Role.TOWNSHIP_CLERK), staff(line, Role.COUNTY_APPROVER)
    body = {"id_number": person.id_number, "to_village": target.village.code, "hukou_moved_on": "2025-03-01"}
    assert staff(target, Role.VILLAGE_AGENT).post(f"{API}/transfers/", body, format="json").status_code == 403
    assert field_errors(receiving.post(f"{API}/transfers/", {**body, "hukou_moved_on": None}, format="json")) == {
        "hukou_moved_on"
    }
    assert field_errors(receiving.post(f"{API}/transfers/", {**body, "id_number": "12345"}, format="json")) == {
        "id_number"
    }
    outside = receiving.post(f"{API}/transfers/", {**body, "to_village": line.village.code}, format="json")
    assert outside.status_code == 400 and outside.json()["field"] == "to_village"

    requested = receiving.post(f"{API}/transfers/", {**body, "reference": "ZY-2025-1"}, format="json")

    assert requested.status_code == 201, requested.json()
    transfer = requested.json()
    assert (transfer["status"], transfer["kind"], transfer["to_village_code"]) == (
        "requested",
        "within",
        target.village.code,
    )
    assert receiving.post(f"{API}/transfers/", body, format="json").status_code == 409  # one open transfer
    # both sides see it
    assert [t["id"] for t in sending.get(f"{API}/transfers/").json()["results"]] == [transfer["id"]]
    assert [t["id"] for t in receiving.get(f"{API}/transfers/").json()["results"]] == [transfer["id"]]
    # booking before the money moved is refused
    assert receiving.post(f"{API}/transfers/{transfer['id']}/book/").status_code == 409

    approved = sending.post(f"{API}/transfers/{transfer['id']}/approve/")

    # interest to March: 13,900 × 1.5% × 2/12 = 34.75, the whole 13,934.75 moved out
    assert approved.status_code == 200, approved.json()
    assert (approved.json()["status"], approved.json()["amount"]) == ("moved", "13934.75")
    assert approved.json()["amounts_by_component"] == {"personal": "13900.00", "interest": "34.75"}
    assert sending.post(f"{API}/transfers/{transfer['id']}/approve/").status_code == 409

    booked = receiving.post(f"{API}/transfers/{transfer['id']}/book/")

    assert booked.status_code == 200, booked.json()
    assert (booked.json()["status"], booked.json()["region_code"], booked.json()["years_moved"]) == (
        "booked",
        target.village.code,
        10,
    )
    account = IndividualAccount.objects.get(person=person)
    assert account.balance == Decimal("13934.75") and account.pooling_region == target.pooling_region
    moved_in = LedgerEntry.objects.filter(account=account, kind=EntryKind.TRANSFER_IN).aggregate(s=Sum("amount"))
    moved_out = LedgerEntry.objects.filter(account=account, kind=EntryKind.TRANSFER_OUT).aggregate(s=Sum("amount"))
    assert moved_in["s"] == -moved_out["s"] == Decimal("13934.75")


def test_transfers_with_the_employees_scheme(line):
    clerk, approver = staff(line, Role.COUNTY_CLERK), staff(line, Role.COUNTY_APPROVER)
    leaving = make_contributor(line, birth_date=dt.date(1965, 1, 1), years=5, balance=Decimal("3000.00"), name="甲")
    joining = make_contributor(line, birth_date=dt.date(1966, 1, 1), years=5, balance=Decimal("0"), name="乙")

    short = clerk.post(
        f"{API}/transfers/to-employees/", {"person": leaving.pk, "employee_years": 10, "reference": "ZG-1"}
    )
    assert short.status_code == 400 and short.json()["field"] == "employee_years"
    out = clerk.post(
        f"{API}/transfers/to-employees/", {"person": leaving.pk, "employee_years": 16, "reference": "ZG-1"}
    )
    assert out.status_code == 201 and (out.json()["kind"], out.json()["status"]) == ("to_employees", "requested")
    moved = approver.post(f"{API}/transfers/{out.json()['id']}/approve/").json()
    # 3,000 booked at the end of 2024, interest Jan–Feb 3,000 × 1.5% × 2/12 = 7.50
    assert (moved["status"], moved["amount"]) == ("moved", "3007.50")
    assert InsuredPerson.objects.get(pk=leaving.pk).status == PersonStatus.CANCELLED

    body = {"insurance_number": joining.insurance_number, "employee_years": 8, "amount": "5000.00", "reference": "ZG-2"}
    assert staff(line, Role.VILLAGE_AGENT).post(f"{API}/transfers/from-employees/", body).status_code == 403
    assert field_errors(clerk.post(f"{API}/transfers/from-employees/", {**body, "amount": 5000.0}, format="json")) == {
        "amount"
    }
    booked = clerk.post(f"{API}/transfers/from-employees/", body, format="json")
    assert booked.status_code == 201, booked.json()
    assert (booked.json()["status"], booked.json()["amount"], booked.json()["years_moved"]) == ("booked", "5000.00", 8)
    # the same letter again answers the transfer booked: the money comes in once
    assert clerk.post(f"{API}/transfers/from-employees/", body, format="json").json()["id"] == booked.json()["id"]
    assert IndividualAccount.objects.get(person=joining).balance == Decimal("5000.00")
    assert Transfer.objects.filter(kind="from_employees").count() == 1
    assert clerk.get(f"{API}/transfers/?kind=from_employees").json()["count"] == 1
    assert clerk.get(f"{API}/transfers/?status={TransferStatus.MOVED}").json()["count"] == 1


# --- scope: records of another jurisdiction ----------------------------------------------------------------------


def _benefit_object_routes() -> list[tuple[str, type]]:
    """(path pattern, model) of every benefits API route that takes an object id."""
    routes = []

    def walk(patterns, prefix: str) -> None:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, prefix + str(entry.pattern))
            elif isinstance(entry, URLPattern):
                view = getattr(entry.callback, "cls", None) or getattr(entry.callback, "view_class", None)
                if view is not None and view.__module__ == "benefits.api.views" and entry.pattern.regex.groupindex:
                    routes.append(("/" + prefix + str(entry.pattern), view.scope_model))

    walk(get_resolver().url_patterns, "")
    return routes


@pytest.fixture
def foreign_world(clock) -> dict[type, object]:
    """One of each benefits record in another city: parameters, a claim and its award paid for April and May,
    back pay from a parameter change, a death list that stopped the award, its overpayment, a transfer."""
    foreign = _setup(region_line(county="320115", township="101", village="201"))
    award = awarded(foreign, name="境外某甲")
    april = pay(foreign, dt.date(2025, 4, 1))
    pay(foreign, dt.date(2025, 5, 1))
    parameters = make_parameters(foreign, valid_from=dt.date(2025, 4, 1), central_minimum="143")
    clock.today = dt.date(2025, 6, 5)
    load = services.death_list_load(
        actor=foreign.staff(Role.COUNTY_CLERK),
        file_name="境外名单.csv",
        content=f"{award.person.id_number},2025-04-15\n".encode(),
    )
    other = make_contributor(foreign, birth_date=dt.date(1966, 1, 1), years=5, name="境外某乙")
    transfer = services.transfer_from_employees(
        actor=foreign.staff(Role.COUNTY_CLERK), person=other, employee_years=8, amount="100", reference="境外函"
    )
    return {
        PensionParameters: parameters,
        Claim: award.claim,
        Award: award,
        Arrear: Arrear.objects.filter(award=award).first(),
        PayrollRun: april,
        DeathListLoad: load,
        Overpayment: Overpayment.objects.get(award=award),
        Transfer: transfer,
    }


def _state() -> dict:
    models = (PensionParameters, Claim, Award, Arrear, PayrollRun, DeathListLoad, Overpayment, Transfer)
    return {
        model.__name__: sorted(map(str, model.objects.values_list(*[f.attname for f in model._meta.concrete_fields])))
        for model in models
    }


@pytest.mark.parametrize("role", [role for role, _ in Role.choices])
def test_records_of_another_jurisdiction_answer_404_on_every_route(line, foreign_world, role):
    client = staff(line, role)
    routes = _benefit_object_routes()
    assert {model for _, model in routes} <= set(foreign_world)
    before = _state()
    failures = []
    for pattern, model in routes:
        path = pattern.replace("<int:pk>", str(foreign_world[model].pk))
        for method in ("get", "post", "put", "patch", "delete"):
            response = getattr(client, method)(path)
            if response.status_code not in (404, 405):
                failures.append(f"{method.upper()} {path} → {response.status_code}")
    assert not failures, "\n".join(failures)
    assert _state() == before
    # and the lists show none of them
    for path in (
        "pension-parameters/",
        "claims/",
        "awards/",
        "arrears/",
        "payroll-runs/",
        "death-lists/",
        "overpayments/",
        "transfers/",
        "turning-60/?month=2025-03",
    ):
        body = client.get(f"{API}/{path}").content.decode()
        assert "境外" not in body and foreign_world[Award].person.insurance_number not in body, path


# --- query counts ------------------------------------------------------------------------------------------------


LIST_URLS = (
    "pension-parameters/",
    "claims/",
    "awards/",
    "arrears/",
    "payroll-runs/",
    "death-lists/",
    "overpayments/",
    "transfers/",
)


def _populate(line: RegionLine, clock: Clock, start: int, count: int, months: tuple[int, int]) -> PayrollRun:
    """``count`` more of each listed record: awards paid for two months (the first month's run is returned),
    stopped by a death in April with the months paid since to recover, back pay, transfers, parameter sets,
    payroll runs and death lists."""
    clock.today = dt.date(2025, 3, 20)
    officer = line.staff(Role.COUNTY_FUND_OFFICER)
    awards = [
        make_award(
            line,
            make_contributor(line, birth_date=dt.date(1965, 3, 10), years=17, name=f"领取人{start + i:02d}"),
            claimed_on=dt.date(2025, 3, 5),
            approved_on=dt.date(2025, 3, 20),
        )
        for i in range(count)
    ]
    runs = [pay(line, dt.date(2025, month, 1)) for month in months]
    clock.today = dt.date(2025, 9, 5)
    clerk = line.staff(Role.COUNTY_CLERK)
    for award in awards:
        services.death_record(actor=clerk, person=award.person, died_on=dt.date(2025, 4, 15), source="测试")
        services.transfer_from_employees(
            actor=clerk, person=award.person, employee_years=3, amount="10", reference=f"函{award.pk}"
        )
    supervisor = line.staff(Role.CITY_SUPERVISOR)
    PensionParameters.objects.bulk_create(
        PensionParameters(
            pooling_region=line.pooling_region,
            valid_from=dt.date(1990 + (start + i) // 12, (start + i) % 12 + 1, 1),
            central_minimum=Decimal("55"),
            created_by=supervisor,
        )
        for i in range(count)
    )
    PayrollRun.objects.bulk_create(
        PayrollRun(
            pooling_region=line.pooling_region,
            month=dt.date(2010 + (start + i) // 12, (start + i) % 12 + 1, 1),
            prepared_by=officer,
            prepared_at=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
        )
        for i in range(count)
    )
    DeathListLoad.objects.bulk_create(
        DeathListLoad(
            region_code=line.county.scope_prefix, file_name=f"{i}.csv", file_sha256=f"{start + i:064d}", loaded_by=clerk
        )
        for i in range(count)
    )
    Arrear.objects.bulk_create(
        Arrear(award=award, month=dt.date(2025, 4, 1), paid_amount=Decimal(1), due_amount=Decimal(2), amount=Decimal(1))
        for award in awards
    )
    return runs[0]


def _queries(client: APIClient, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, (url, response.content[:300])
    return len(queries)


def test_list_queries_do_not_grow_with_rows(line, clock):
    client = staff(line, Role.COUNTY_FUND_OFFICER)

    def urls(run: PayrollRun) -> dict[str, str]:
        return {
            **{url: url for url in LIST_URLS},
            "lines": f"payroll-runs/{run.pk}/lines/",
            "payout": f"payroll-runs/{run.pk}/payout/",
            "payments": f"awards/{run.lines.first().award_id}/payments/",
        }

    few_urls = urls(_populate(line, clock, 0, 2, months=(4, 5)))
    for url in few_urls.values():
        client.get(f"{API}/{url}")  # warm the caches (content types, the session)
    few = {name: _queries(client, f"{API}/{url}") for name, url in few_urls.items()}

    many_urls = urls(_populate(line, clock, 2, 48, months=(6, 7)))

    many = {name: _queries(client, f"{API}/{url}") for name, url in many_urls.items()}
    for url in LIST_URLS:
        assert client.get(f"{API}/{url}").json()["count"] >= 50, url
    assert client.get(f"{API}/{many_urls['lines']}").json()["count"] == 48
    assert client.get(f"{API}/{many_urls['payout']}").json()["count"] == 48
    assert many == few
    assert max(many.values()) <= 12, many


def test_turning_60_queries_do_not_grow_with_rows(line):
    client = staff(line, Role.TOWNSHIP_CLERK)
    for i in range(2):
        make_contributor(line, birth_date=dt.date(1965, 4, 2), years=15, name=f"将满{i}")
    client.get(f"{API}/turning-60/?month=2025-04")
    few = _queries(client, f"{API}/turning-60/?month=2025-04")
    for i in range(2, 50):
        make_contributor(line, birth_date=dt.date(1965, 4, 2), years=15, name=f"将满{i}")
    assert client.get(f"{API}/turning-60/?month=2025-04").json()["count"] == 50
    assert _queries(client, f"{API}/turning-60/?month=2025-04") == few


# --- the API description -----------------------------------------------------------------------------------------


def test_the_schema_describes_the_benefits_endpoints_without_warnings():
    from django.urls import include, path
    from drf_spectacular.drainage import GENERATOR_STATS
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.validation import validate_schema

    GENERATOR_STATS.reset()
    with GENERATOR_STATS.silence():
        schema = SchemaGenerator(patterns=[path("api/v1/", include("benefits.api.urls"))]).get_schema(public=True)
    warnings, errors = dict(GENERATOR_STATS._warn_cache), dict(GENERATOR_STATS._error_cache)
    GENERATOR_STATS.reset()
    assert not warnings and not errors, [*warnings, *errors]
    validate_schema(schema)
    assert {"/api/v1/claims/{id}/approve/", "/api/v1/payroll-runs/{id}/payout/", "/api/v1/turning-60/"} <= set(
        schema["paths"]
    )
    # and the whole portal's schema, where names from every app meet, stays free of warnings about benefits
    with GENERATOR_STATS.silence():
        whole = SchemaGenerator().get_schema(public=True)
    clashes = [msg for msg in GENERATOR_STATS._warn_cache if "benefits" in msg or "Enum" in msg]
    GENERATOR_STATS.reset()
    assert not clashes, clashes
    assert "/api/v1/transfers/from-employees/" in whole["paths"]
