"""The worklists: each item's due date under the promised time limit and its state, who sees what (the township,
the county, the sending and receiving sides of a transfer, whoever entered a form sent back, a supervisor's
overdue), the order, the jurisdiction, the number of queries, and each role's home page and queue page."""

from __future__ import annotations

import datetime as dt
import io
import itertools
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from agencies.models import Role
from agencies.tests.factories import region_line
from benefits import calc
from benefits.models import (
    Award,
    AwardCategory,
    AwardEvent,
    Claim,
    ClaimStatus,
    PayrollRun,
    PayrollStatus,
    Transfer,
    TransferKind,
    TransferStatus,
)
from benefits.tests.factories import make_parameters
from contributions.models import Channel, Contribution
from enrollment import idnumber
from enrollment.models import Application, ApplicationEvent
from enrollment.tests.factories import make_person
from portal import worklists
from portal.models import FundWarning, WorkKind
from portal.timelimits import time_limit_set

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Wednesday 9 December 2026. Region A promises registrations in 3 working days and transfers in 5, region B
# transfers in 2; everything else is statutory (changes and cancellations 10, claims 20).
TODAY = dt.date(2026, 12, 9)
_references = itertools.count(1)


def at(day: dt.date, hour: int = 10) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=SHANGHAI)


def application(village, kind, status, created: dt.date, by, *, name="某人", reason=""):
    person = make_person(village, name=name)
    row = Application.objects.create(
        kind=kind, person=person, region_code=village.code, status=status, created_by=by, return_reason=reason
    )
    Application.objects.filter(pk=row.pk).update(created_at=at(created))
    return row


def claim(village, status, created: dt.date, by, *, name="申领人", reason=""):
    person = make_person(village, name=name, birth_date=dt.date(1966, 1, 5))
    row = Claim.objects.create(
        person=person,
        region_code=village.code,
        category=AwardCategory.MONTHLY_PENSION,
        status=status,
        eligible_from=dt.date(2026, 2, 1),
        created_by=by,
        return_reason=reason,
    )
    Claim.objects.filter(pk=row.pk).update(created_at=at(created))
    return row


def transfer(source, target, status, requested: dt.date, by, *, name="转移人"):
    person = make_person(source, name=name, birth_date=dt.date(1980, 6, 1))
    row = Transfer.objects.create(
        kind=TransferKind.WITHIN_SCHEME,
        person=person,
        status=status,
        region_code=source.code,
        from_region_code=source.code,
        to_region_code=target.code,
        to_village=target,
        requested_by=by,
    )
    Transfer.objects.filter(pk=row.pk).update(requested_at=at(requested))
    return row


@pytest.fixture
def world():
    a = region_line()  # county 320412 (pooling region A), township 101
    neighbour = region_line(county="320412", township="102")
    b = region_line(county="320411")  # pooling region B, same city
    foreign = region_line(county="320115")  # another city
    supervisor = a.staff(Role.CITY_SUPERVISOR)
    time_limit_set(
        actor=supervisor,
        pooling_region=a.pooling_region,
        kind="register",
        working_days=3,
        valid_from=dt.date(2026, 1, 1),
    )
    time_limit_set(
        actor=supervisor,
        pooling_region=a.pooling_region,
        kind="transfer",
        working_days=5,
        valid_from=dt.date(2026, 1, 1),
    )
    time_limit_set(
        actor=supervisor,
        pooling_region=b.pooling_region,
        kind="transfer",
        working_days=2,
        valid_from=dt.date(2026, 1, 1),
    )
    agent = a.staff(Role.VILLAGE_AGENT)
    items = {
        # Thursday + 3 = Tuesday 8th: overdue; Friday + 3 = Wednesday 9th: due today; a change: Friday 18th.
        "app1": application(a.village, "register", "submitted", dt.date(2026, 12, 3), agent, name="甲一"),
        "app2": application(a.village, "register", "submitted", dt.date(2026, 12, 4), agent, name="甲二"),
        "app3": application(a.village, "change", "submitted", dt.date(2026, 12, 4), agent, name="甲三"),
        # A cancellation accepted by the township: Monday 2 November + 10 = Monday 16 November.
        "app4": application(a.village, "cancel", "accepted", dt.date(2026, 11, 2), agent, name="甲四"),
        # The neighbouring township's: Tuesday 1 December + 3 = Friday 4th.
        "app5": application(
            neighbour.village, "register", "submitted", dt.date(2026, 12, 1), neighbour.staff(Role.VILLAGE_AGENT)
        ),
        "foreign": application(
            foreign.village, "register", "submitted", dt.date(2026, 11, 2), foreign.staff(Role.VILLAGE_AGENT)
        ),
        "returned": application(
            a.village, "register", "returned", dt.date(2026, 11, 2), agent, name="甲退", reason="缺户口簿"
        ),
        # Claims: Monday 7th + 20 = Monday 4 January; Monday 9 November + 20 = Monday 7 December.
        "claim1": claim(a.village, ClaimStatus.SUBMITTED, dt.date(2026, 12, 7), agent, name="乙一"),
        "claim2": claim(a.village, ClaimStatus.ACCEPTED, dt.date(2026, 11, 9), agent, name="乙二"),
        "claim3": claim(a.village, ClaimStatus.RETURNED, dt.date(2026, 12, 1), agent, name="乙退", reason="缺照片"),
        # From B to A, requested Friday 4th: B's approver, 2 days → Tuesday 8th.
        "t1": transfer(
            b.village, a.village, TransferStatus.REQUESTED, dt.date(2026, 12, 4), a.staff(Role.TOWNSHIP_CLERK)
        ),
        # From B to A, the money moved: A books it, 5 days from Monday 30 November → Monday 7th.
        "t2": transfer(b.village, a.village, TransferStatus.MOVED, dt.date(2026, 11, 30), a.staff(Role.TOWNSHIP_CLERK)),
    }
    return {"a": a, "b": b, "neighbour": neighbour, "foreign": foreign, "items": items}


def keys(world, items) -> list[str]:
    names = {(row.__class__.__name__, row.pk): key for key, row in world["items"].items()}
    kind_model = {WorkKind.CLAIM: "Claim", WorkKind.TRANSFER: "Transfer"}
    return [names[(kind_model.get(item.kind, "Application"), item.pk)] for item in items]


def test_township_clerk_due_dates_states_and_order(world):
    found = worklists.queue(user=world["a"].staff(Role.TOWNSHIP_CLERK), today=TODAY)

    assert keys(world, found) == ["t2", "app1", "app2", "app3", "claim1"]
    assert [(item.kind, item.due, item.state) for item in found] == [
        (WorkKind.TRANSFER, dt.date(2026, 12, 7), worklists.OVERDUE),
        (WorkKind.REGISTER, dt.date(2026, 12, 8), worklists.OVERDUE),
        (WorkKind.REGISTER, dt.date(2026, 12, 9), worklists.DUE_SOON),
        (WorkKind.CHANGE, dt.date(2026, 12, 18), worklists.NORMAL),
        (WorkKind.CLAIM, dt.date(2027, 1, 4), worklists.NORMAL),
    ]
    first = found[1]
    assert first.url == reverse("enrollment:application_detail", args=[world["items"]["app1"].pk])
    assert first.person_name == "甲一" and first.id_number == idnumber.mask(world["items"]["app1"].person.id_number)
    assert first.submitted == dt.date(2026, 12, 3) and first.kind_label == "参保登记" and first.state_label == "已超时"
    assert first.place == "镇320412101村320412101201"
    assert found[0].url == reverse("benefits:transfer_detail", args=[world["items"]["t2"].pk])
    assert found[4].url == reverse("benefits:claim_detail", args=[world["items"]["claim1"].pk])


def test_due_soon_means_within_two_working_days():
    assert worklists.state_on(dt.date(2026, 12, 8), TODAY) == worklists.OVERDUE
    assert worklists.state_on(TODAY, TODAY) == worklists.DUE_SOON
    assert worklists.state_on(dt.date(2026, 12, 11), TODAY) == worklists.DUE_SOON  # Friday: 2 working days on
    assert worklists.state_on(dt.date(2026, 12, 14), TODAY) == worklists.NORMAL
    # On a Thursday, Monday is 2 working days on.
    assert worklists.state_on(dt.date(2026, 12, 14), dt.date(2026, 12, 10)) == worklists.DUE_SOON
    assert worklists.state_on(None, TODAY) == worklists.RETURNED


def test_county_approvers_of_the_sending_and_of_the_receiving_side(world):
    ours = worklists.queue(user=world["a"].staff(Role.COUNTY_APPROVER), today=TODAY)
    assert keys(world, ours) == ["app4", "claim2"]
    assert [item.due for item in ours] == [dt.date(2026, 11, 16), dt.date(2026, 12, 7)]
    assert all(item.overdue for item in ours)

    # B's approver approves the transfer requested of it, by B's limit of 2 days.
    theirs = worklists.queue(user=world["b"].staff(Role.COUNTY_APPROVER), today=TODAY)
    assert keys(world, theirs) == ["t1"]
    assert (theirs[0].due, theirs[0].state) == (dt.date(2026, 12, 8), worklists.OVERDUE)


def test_the_county_clerk_books_what_has_moved_to_the_county(world):
    assert keys(world, worklists.queue(user=world["a"].staff(Role.COUNTY_CLERK), today=TODAY)) == ["t2"]
    assert worklists.queue(user=world["b"].staff(Role.COUNTY_CLERK), today=TODAY) == []


def test_what_comes_back_waits_on_whoever_entered_it_with_no_time_limit(world):
    found = worklists.queue(user=world["a"].staff(Role.VILLAGE_AGENT), today=TODAY)
    assert keys(world, found) == ["returned", "claim3"]  # oldest first
    assert [(item.due, item.state, item.note) for item in found] == [
        (None, worklists.RETURNED, "缺户口簿"),
        (None, worklists.RETURNED, "缺照片"),
    ]
    # another agent of the same village entered none of them
    other = world["a"].staff(Role.VILLAGE_AGENT, username="another_agent")
    assert worklists.queue(user=other, today=TODAY) == []


def test_queues_stay_within_the_jurisdiction(world):
    neighbour = worklists.queue(user=world["neighbour"].staff(Role.TOWNSHIP_CLERK), today=TODAY)
    assert keys(world, neighbour) == ["app5"]
    foreign = worklists.queue(user=world["foreign"].staff(Role.TOWNSHIP_CLERK), today=TODAY)
    assert keys(world, foreign) == ["foreign"]
    assert worklists.queue(user=world["foreign"].staff(Role.COUNTY_APPROVER), today=TODAY) == []


def test_overdue_for_a_clerk_and_for_a_supervisor(world):
    clerk = worklists.overdue(user=world["a"].staff(Role.TOWNSHIP_CLERK), today=TODAY)
    assert keys(world, clerk) == ["t2", "app1"]

    # The city supervisor: every open item of the city past its limit, whoever acts next; not the other city's,
    # not what is back with the applicant, not what is still within its limit.
    supervisor = worklists.overdue(user=world["a"].staff(Role.CITY_SUPERVISOR), today=TODAY)
    assert keys(world, supervisor) == ["app4", "app5", "claim2", "t2", "app1", "t1"]
    assert worklists.kind_counts(supervisor) == [
        ("参保登记", 2),
        ("变更登记", 0),
        ("注销登记", 1),
        ("待遇申请", 1),
        ("关系转移", 2),
    ]
    assert worklists.queue(user=world["a"].staff(Role.CITY_SUPERVISOR), today=TODAY) == []

    # The home page's short form: the same first items, total and counts, loading only the items it shows.
    for shown in (2, 4, 10):
        head = worklists.overdue_head(user=world["a"].staff(Role.CITY_SUPERVISOR), today=TODAY, shown=shown)
        assert keys(world, head.items) == keys(world, supervisor)[:shown]
        assert (head.total, head.counts) == (6, worklists.kind_counts(supervisor))
    clerk_head = worklists.overdue_head(user=world["a"].staff(Role.TOWNSHIP_CLERK), today=TODAY, shown=1)
    assert (keys(world, clerk_head.items), clerk_head.total) == (["t2"], 2)


def test_a_limit_set_later_does_not_move_what_was_submitted_before(world):
    # From 7 December registrations get 1 day: those of the 3rd and 4th keep their 3.
    time_limit_set(
        actor=world["a"].staff(Role.CITY_SUPERVISOR),
        pooling_region=world["a"].pooling_region,
        kind="register",
        working_days=1,
        valid_from=dt.date(2026, 12, 7),
    )
    found = worklists.queue(user=world["a"].staff(Role.TOWNSHIP_CLERK), today=TODAY)
    assert {item.pk: item.due for item in found if item.kind == WorkKind.REGISTER} == {
        world["items"]["app1"].pk: dt.date(2026, 12, 8),
        world["items"]["app2"].pk: dt.date(2026, 12, 9),
    }


def test_a_queue_takes_the_same_queries_whatever_its_length(world, django_assert_num_queries):
    a = world["a"]
    clerk, agent = a.staff(Role.TOWNSHIP_CLERK), a.staff(Role.VILLAGE_AGENT)
    worklists.queue(user=clerk, today=TODAY)  # the user's agency and region, read once and kept on the user
    with CaptureQueriesContext(connection) as few:
        worklists.queue(user=clerk, today=TODAY)
    for n in range(10):
        application(a.village, "change", "submitted", dt.date(2026, 12, 1), agent, name=f"多{n}")
        claim(a.village, ClaimStatus.SUBMITTED, dt.date(2026, 11, 1), agent, name=f"领{n}")
    other = region_line(county="320413")  # another pooling region with limits of its own
    time_limit_set(
        actor=a.staff(Role.CITY_SUPERVISOR),
        pooling_region=other.pooling_region,
        kind="claim",
        working_days=5,
        valid_from=dt.date(2026, 1, 1),
    )
    transfer(other.village, a.village, TransferStatus.MOVED, dt.date(2026, 12, 1), clerk, name="转多")

    with django_assert_num_queries(len(few)):
        assert len(worklists.queue(user=clerk, today=TODAY)) == 26
    supervisor = a.staff(Role.CITY_SUPERVISOR)
    worklists.overdue(user=supervisor, today=TODAY)
    with CaptureQueriesContext(connection) as many:
        worklists.overdue(user=supervisor, today=TODAY)
    assert len(many) == len(few)


# --- pages ---------------------------------------------------------------------------------------------------


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def recent(world) -> dict:
    """Two registrations relative to the real today (the pages use it): one a month old (past any limit),
    one submitted today (within it)."""
    a, today = world["a"], timezone.localdate()
    agent = a.staff(Role.VILLAGE_AGENT)
    return {
        "late": application(a.village, "change", "submitted", today - dt.timedelta(days=40), agent, name="迟某"),
        "fresh": application(a.village, "change", "submitted", today, agent, name="新某"),
    }


def test_the_township_clerks_home_shows_the_queue_with_due_dates_and_a_red_badge(world):
    made = recent(world)
    body = client_for(world["a"].staff(Role.TOWNSHIP_CLERK)).get(reverse("portal:home")).content.decode()

    queue = body[body.index('id="work-queue"') :]
    late = queue[queue.index(f'data-kind="change" data-pk="{made["late"].pk}"') :]
    late = late[: late.index("</tr>")]
    assert 'data-state="overdue"' in late and '<span class="badge overdue">超时</span>' in late
    fresh = queue[queue.index(f'data-kind="change" data-pk="{made["fresh"].pk}"') :]
    fresh = fresh[: fresh.index("</tr>")]
    assert "超时" not in fresh
    due = worklists.queue(user=world["a"].staff(Role.TOWNSHIP_CLERK))
    assert f"<strong>{sum(item.overdue for item in due)}</strong>已超时" in queue
    assert queue.index("迟某") < queue.index("新某")  # overdue first
    assert reverse("portal:work_queue") in queue and reverse("portal:time_limits") in queue
    assert "甲一" in queue
    assert f'data-kind="register" data-pk="{world["items"]["app5"].pk}"' not in queue  # the neighbouring township's


def test_the_supervisors_home_shows_the_overdue_and_the_dashboard(world):
    recent(world)
    body = client_for(world["a"].staff(Role.CITY_SUPERVISOR)).get(reverse("portal:home")).content.decode()
    panel = body[body.index('id="supervision"') :]
    late = worklists.overdue(user=world["a"].staff(Role.CITY_SUPERVISOR))
    assert f"<strong>{len(late)}</strong>超时未办结" in panel
    assert "迟某" in panel and "新某" not in panel
    assert 'href="/dashboard/"' in panel
    assert f"{reverse('portal:work_queue')}?show=overdue&format=xlsx" in panel
    assert "您的岗位没有需要审核或补正的申请" in body


def test_the_village_agents_month_of_work(world):
    # given: in the agent's village two paid last year and not yet this year, one paid both years, a recipient to
    # confirm this month, and one turning 60 next month; in the neighbouring township one more who has not paid
    a, today = world["a"], timezone.localdate()
    make_parameters(a)
    clerk = a.staff(Role.COUNTY_CLERK)

    def paid(person, year):
        Contribution.objects.create(
            person=person,
            year=year,
            tier_amount=Decimal(500),
            personal_amount=Decimal(500),
            paid_on=dt.date(year, 3, 1),
            channel=Channel.COUNTER,
            bank_code="ICBC",
            bank_reference=f"W{next(_references)}",
            region_code=person.region_code,
            recorded_by=clerk,
        )

    for name in ("续一", "续二"):
        paid(make_person(a.village, name=name, birth_date=dt.date(1985, 3, 3)), today.year - 1)
    both = make_person(a.village, name="续三", birth_date=dt.date(1986, 3, 3))
    paid(both, today.year - 1)
    paid(both, today.year)
    paid(make_person(world["neighbour"].village, name="邻续", birth_date=dt.date(1987, 3, 3)), today.year - 1)
    recipient = make_person(a.village, name="领取某", birth_date=dt.date(1955, 1, 1))
    Award.objects.create(
        person=recipient,
        region_code=recipient.region_code,
        pooling_region=a.pooling_region,
        category=AwardCategory.MONTHLY_PENSION,
        start_month=dt.date(2020, 1, 1),
        birth_date=recipient.birth_date,
        years_paid=15,
        account_balance_at_start=Decimal("13900.00"),
        account_divisor=139,
        account_pension=Decimal("100.00"),
        approved_by=a.staff(Role.COUNTY_APPROVER),
    )
    next_month = calc.add_months(calc.month_of(today), 1)
    make_person(a.village, name="满六十", birth_date=dt.date(next_month.year - 60, next_month.month, 15))

    # when the agent opens the home page
    body = client_for(a.staff(Role.VILLAGE_AGENT)).get(reverse("portal:home")).content.decode()

    # then the month's four counts, each linking to where the work is done, come first
    panel = body[body.index('id="month-work"') : body.index("</section>", body.index('id="month-work"'))]
    assert body.index('id="month-work"') < body.index('id="work-queue"')
    assert f'href="{reverse("contributions:renewals")}"' in panel and "<strong>2</strong>本年待续保缴费" in panel
    assert f'href="{reverse("benefits:confirmations")}"' in panel and "<strong>1</strong>本月待确认的领取人员" in panel
    assert f'href="{reverse("contributions:deduct_follow_ups")}"' in panel
    assert "<strong>0</strong>本年代扣失败待跟进" in panel
    assert f'href="{reverse("benefits:turning_60")}"' in panel and "<strong>1</strong>下月年满60周岁" in panel
    assert "其中符合领取条件0人" in panel  # no contribution years on record
    # and what came back to them, with no time limit running
    queue = body[body.index('id="work-queue"') :]
    assert "被退回、待我补正的申请" in queue and "缺户口簿" in queue and "待补正" in queue


def test_the_queue_page_lists_and_exports_the_whole_queue_masked(world):
    client = client_for(world["a"].staff(Role.TOWNSHIP_CLERK))
    expected = worklists.queue(user=world["a"].staff(Role.TOWNSHIP_CLERK))

    page = client.get(reverse("portal:work_queue")).content.decode()
    assert f"<strong>{len(expected)}</strong>合计" in page
    assert all(f'data-kind="{item.kind}" data-pk="{item.pk}"' in page for item in expected)
    assert f'data-kind="register" data-pk="{world["items"]["app5"].pk}"' not in page  # the neighbouring township's

    response = client.get(reverse("portal:work_queue"), {"format": "xlsx"})
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][:4] == ("编号", "业务类型", "参保人", "身份证号")
    assert [(row[0], row[1]) for row in values[1:]] == [(item.pk, item.kind_label) for item in expected]
    app1 = world["items"]["app1"]
    row = next(row for row in values[1:] if row[0] == app1.pk and row[1] == "参保登记")
    assert row[3] == idnumber.mask(app1.person.id_number)
    assert all(app1.person.id_number not in str(cell) for line in values for cell in line)


def test_the_supervisors_queue_page_shows_the_overdue_of_the_city_only(world):
    recent(world)
    client = client_for(world["a"].staff(Role.CITY_SUPERVISOR))
    page = client.get(reverse("portal:work_queue")).content.decode()
    assert "超时未办结" in page and "迟某" in page and "新某" not in page
    assert f'data-kind="register" data-pk="{world["items"]["app5"].pk}"' in page  # another township of the city
    assert f'data-kind="register" data-pk="{world["items"]["foreign"].pk}"' not in page
    response = client.get(reverse("portal:work_queue"), {"format": "xlsx"})
    values = list(load_workbook(io.BytesIO(b"".join(response.streaming_content))).active.iter_rows(values_only=True))
    assert {row[4][:4] for row in values[1:]} == {"3204"}  # region codes: this city only
    assert len(values) - 1 == len(worklists.overdue(user=world["a"].staff(Role.CITY_SUPERVISOR)))


def test_the_queue_page_takes_the_same_queries_whatever_its_length(world, django_assert_max_num_queries):
    a = world["a"]
    client = client_for(a.staff(Role.TOWNSHIP_CLERK))
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("portal:work_queue"))
    agent = a.staff(Role.VILLAGE_AGENT)
    for n in range(15):
        application(a.village, "register", "submitted", dt.date(2026, 11, 20), agent, name=f"多{n}")
    with django_assert_max_num_queries(len(few)):
        client.get(reverse("portal:work_queue"))


def test_home_takes_the_same_queries_whatever_the_queue(world, django_assert_max_num_queries):
    a = world["a"]
    client = client_for(a.staff(Role.COUNTY_APPROVER))
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("portal:home"))
    agent = a.staff(Role.VILLAGE_AGENT)
    for n in range(15):
        application(a.village, "register", "accepted", dt.date(2026, 11, 20), agent, name=f"多{n}")
        claim(a.village, ClaimStatus.ACCEPTED, dt.date(2026, 11, 20), agent, name=f"领{n}")
    with django_assert_max_num_queries(len(few)):
        client.get(reverse("portal:home"))


def test_fund_warnings_on_the_homes_of_those_who_read_them(world):
    # given region A's confirmed payroll of last month (1,000.00) and nothing in its expenditure or fiscal account,
    # against a threshold of 3 months
    a, today = world["a"], timezone.localdate()
    PayrollRun.objects.create(
        pooling_region=a.pooling_region,
        month=calc.add_months(calc.month_of(today), -1),
        status=PayrollStatus.CONFIRMED,
        total=Decimal("1000.00"),
        lines_count=4,
        prepared_by=a.staff(Role.COUNTY_FUND_OFFICER),
        prepared_at=timezone.now(),
    )
    FundWarning.objects.create(
        pooling_region=a.pooling_region, threshold_months=Decimal("3"), set_by=a.staff(Role.CITY_SUPERVISOR)
    )

    # then the supervisor and the fund officer are warned, with the way to the fund warning page
    for role in (Role.CITY_SUPERVISOR, Role.COUNTY_FUND_OFFICER):
        body = client_for(a.staff(role)).get(reverse("portal:home")).content.decode()
        panel = body[body.index('id="fund-warnings"') :]
        panel = panel[: panel.index("</section>")]
        assert f"{a.pooling_region.name}：基金结余仅可支付" in panel and "低于预警线3" in panel, role
        assert reverse("portal:supervision_funds") in panel
    # and another city's supervisor, whose region has no threshold, is told none is below it; a clerk gets no panel
    quiet = client_for(world["foreign"].staff(Role.CITY_SUPERVISOR)).get(reverse("portal:home")).content.decode()
    assert "基金可支付月数均未低于预警线" in quiet and a.pooling_region.name not in quiet
    clerk = client_for(a.staff(Role.TOWNSHIP_CLERK)).get(reverse("portal:home")).content.decode()
    assert 'id="fund-warnings"' not in clerk


# --- the clock starts at the latest submission ------------------------------------------------------------------


def resubmitted(row, day: dt.date, by) -> None:
    """A resubmission event as the apps record it (enrollment and benefits), dated ``day``."""
    if isinstance(row, Application):
        event = ApplicationEvent.objects.create(
            application=row, action="resubmit", from_status="returned", to_status=row.status, actor=by
        )
        ApplicationEvent.objects.filter(pk=event.pk).update(at=at(day))
    else:
        event = AwardEvent.objects.create(
            region_code=row.region_code, claim=row, action="resubmit", from_status="returned", actor=by
        )
        AwardEvent.objects.filter(pk=event.pk).update(at=at(day))


def moved_on(row: Transfer, day: dt.date) -> Transfer:
    Transfer.objects.filter(pk=row.pk).update(approved_at=at(day))
    return row


def test_the_clock_starts_at_the_latest_resubmission_and_on_the_receiving_side_when_the_money_moved(world):
    # given: forms made on Monday 2 November, long past any limit by their creation date
    a, b = world["a"], world["b"]
    agent, clerk = a.staff(Role.VILLAGE_AGENT), a.staff(Role.TOWNSHIP_CLERK)
    app = application(a.village, "register", "submitted", dt.date(2026, 11, 2), agent, name="补正甲")
    resubmitted(app, dt.date(2026, 11, 20), agent)
    resubmitted(app, dt.date(2026, 12, 8), agent)  # the latest: Tuesday 8th + 3 = Friday 11th
    late_claim = claim(a.village, ClaimStatus.SUBMITTED, dt.date(2026, 11, 2), agent, name="补正乙")
    resubmitted(late_claim, dt.date(2026, 12, 7), agent)  # Monday 7th + 20 = Monday 4 January
    # Requested Monday 2 November from B; the money moved Monday 7th: A books it in 5 days, by Monday 14th.
    moved = transfer(b.village, a.village, TransferStatus.MOVED, dt.date(2026, 11, 2), clerk)
    moved_on(moved, dt.date(2026, 12, 7))

    # when
    found = {(item.kind, item.pk): item for item in worklists.queue(user=clerk, today=TODAY)}

    # then
    mine = found[(WorkKind.REGISTER, app.pk)]
    assert (mine.submitted, mine.due, mine.state) == (dt.date(2026, 12, 8), dt.date(2026, 12, 11), worklists.DUE_SOON)
    theirs = found[(WorkKind.CLAIM, late_claim.pk)]
    assert (theirs.submitted, theirs.due, theirs.state) == (dt.date(2026, 12, 7), dt.date(2027, 1, 4), worklists.NORMAL)
    booked = found[(WorkKind.TRANSFER, moved.pk)]
    assert (booked.submitted, booked.due, booked.state) == (
        dt.date(2026, 12, 7),
        dt.date(2026, 12, 14),
        worklists.NORMAL,
    )
    # untouched: a moved transfer with no date of moving keeps its request date; app1 has no resubmission
    assert found[(WorkKind.TRANSFER, world["items"]["t2"].pk)].due == dt.date(2026, 12, 7)
    assert found[(WorkKind.REGISTER, world["items"]["app1"].pk)].due == dt.date(2026, 12, 8)
    # none of the three is overdue, for the clerk or for the supervisor
    supervisor = a.staff(Role.CITY_SUPERVISOR)
    for user in (clerk, supervisor):
        late = {(item.kind, item.pk) for item in worklists.overdue(user=user, today=TODAY)}
        assert not late & {(WorkKind.REGISTER, app.pk), (WorkKind.CLAIM, late_claim.pk), (WorkKind.TRANSFER, moved.pk)}
    assert worklists.overdue_head(user=supervisor, today=TODAY, shown=10).total == 6  # as before: app4 … t1


def test_the_sending_side_still_counts_from_the_request(world):
    # A transfer still awaiting the sending side's approval: B's 2 days from the request, Friday 4th → Tuesday 8th.
    found = worklists.queue(user=world["b"].staff(Role.COUNTY_APPROVER), today=TODAY)
    assert [(item.pk, item.submitted, item.due) for item in found] == [
        (world["items"]["t1"].pk, dt.date(2026, 12, 4), dt.date(2026, 12, 8))
    ]


# --- the whole queue counted, a page of it read -------------------------------------------------------------


def more_work(world, n: int) -> None:
    """``n`` more items for A's township clerk, of every sort: fresh and resubmitted applications and claims,
    transfers moved to A."""
    a, b = world["a"], world["b"]
    agent, clerk = a.staff(Role.VILLAGE_AGENT), a.staff(Role.TOWNSHIP_CLERK)
    for i in range(n):
        match i % 4:
            case 0:
                application(a.village, "change", "submitted", dt.date(2026, 11, 20), agent, name=f"多{i}")
            case 1:
                row = application(a.village, "register", "submitted", dt.date(2026, 11, 2), agent, name=f"补{i}")
                resubmitted(row, timezone.localdate(), agent)
            case 2:
                row = claim(a.village, ClaimStatus.SUBMITTED, dt.date(2026, 11, 2), agent, name=f"领{i}")
                resubmitted(row, dt.date(2026, 12, 1), agent)
            case 3:
                row = transfer(b.village, a.village, TransferStatus.MOVED, dt.date(2026, 11, 2), clerk, name=f"转{i}")
                moved_on(row, dt.date(2026, 12, 1))


def test_home_and_queue_page_take_the_same_queries_for_5_and_for_30_items(world, django_assert_max_num_queries):
    client = client_for(world["a"].staff(Role.TOWNSHIP_CLERK))
    more_work(world, 5)
    client.get(reverse("portal:home"))  # the session and the user's agency, read once
    with CaptureQueriesContext(connection) as home:
        client.get(reverse("portal:home"))
    with CaptureQueriesContext(connection) as page:
        client.get(reverse("portal:work_queue"))
    more_work(world, 25)
    with django_assert_max_num_queries(len(home)):
        assert client.get(reverse("portal:home")).status_code == 200
    with django_assert_max_num_queries(len(page)):
        assert client.get(reverse("portal:work_queue")).status_code == 200


def rows_of(body: str) -> list[str]:
    return [part.split('"', 1)[0] for part in body.split('data-pk="')[1:]]


def test_the_queue_page_reads_a_page_and_counts_the_whole_queue(world, django_assert_max_num_queries):
    # given: the world's five items for A's township clerk and 101 more
    clerk = world["a"].staff(Role.TOWNSHIP_CLERK)
    more_work(world, 101)
    today = timezone.localdate()
    whole = worklists.queue(user=clerk, today=today)
    assert len(whole) == 106
    client = client_for(clerk)

    # when / then: a hundred on the first page, the rest on the second, in the queue's order; counts of the lot
    first = client.get(reverse("portal:work_queue")).content.decode()
    second = client.get(reverse("portal:work_queue"), {"page": 2}).content.decode()
    assert rows_of(first) == [str(item.pk) for item in whole[:100]]
    assert rows_of(second) == [str(item.pk) for item in whole[100:]]
    overdue = sum(item.overdue for item in whole)
    for body in (first, second):
        assert "<strong>106</strong>合计" in body and f"<strong>{overdue}</strong>已超时" in body
    # the export is the whole list
    response = client.get(reverse("portal:work_queue"), {"format": "xlsx"})
    values = list(load_workbook(io.BytesIO(b"".join(response.streaming_content))).active.iter_rows(values_only=True))
    assert [row[0] for row in values[1:]] == [item.pk for item in whole]


def test_the_home_shows_the_first_of_the_queue_with_the_counts_of_the_whole(world, monkeypatch):
    from portal import views

    monkeypatch.setattr(views, "WORKLIST_SHOWN", 3)  # a short page, so the counts must come from the whole
    clerk = world["a"].staff(Role.TOWNSHIP_CLERK)
    more_work(world, 8)
    today = timezone.localdate()
    whole = worklists.queue(user=clerk, today=today)
    index = worklists.queue_index(user=clerk, today=today)

    response = client_for(clerk).get(reverse("portal:home"))

    context = response.context
    assert [item.pk for item in context["worklist"]] == [item.pk for item in whole[:3]]
    assert context["worklist_total"] == len(whole) == 13
    assert context["worklist_overdue"] == sum(item.overdue for item in whole)
    assert context["worklist_due_soon"] == sum(item.state == worklists.DUE_SOON for item in whole)
    expected = worklists.kind_counts(whole)
    assert [(row["label"], row["count"]) for row in context["counts"]] == expected == index.counts
    assert [item.pk for item in index.load(index.keys[3:5])] == [item.pk for item in whole[3:5]]


def full_reads(queries, table: str) -> list[str]:
    """The queries that read whole rows of ``table`` with the person (the columns a page shows)."""
    return [
        query["sql"]
        for query in queries
        if f'FROM "{table}"' in query["sql"] and 'JOIN "enrollment_insuredperson"' in query["sql"]
    ]


@pytest.mark.parametrize("url", ["portal:home", "portal:work_queue"])
def test_only_the_items_shown_are_read_in_full(world, url):
    # given: more applications and claims than a page holds
    more_work(world, 110)
    client = client_for(world["a"].staff(Role.TOWNSHIP_CLERK))

    # when
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse(url)).status_code == 200

    # then: persons are joined only for the rows picked by id, never for the whole queue
    for table in ("enrollment_application", "benefits_claim", "benefits_transfer"):
        reads = full_reads(queries, table)
        assert reads, table
        # (the home's short list of what the clerk sent up reads its 20 with a LIMIT)
        assert all(f'"{table}"."id" IN (' in sql or sql.endswith("LIMIT 20") for sql in reads), table
