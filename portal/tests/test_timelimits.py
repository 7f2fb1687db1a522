"""办理时限: working days across week ends, the limit in force on a day, the refusals of a new limit, and the page
where a city supervisor sets them and everyone else in scope reads them."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from openpyxl import load_workbook

from agencies.errors import DomainError, NotPermitted
from agencies.models import Role
from agencies.tests.factories import region_line
from portal.models import TimeLimit, WorkKind
from portal.timelimits import add_working_days, due_on, first_not_overdue, limits, time_limit_set

pytestmark = pytest.mark.django_db

# A week of December 2026: Friday the 4th, the weekend, Monday the 7th to Friday the 11th.
THU, FRI, SAT, SUN = dt.date(2026, 12, 3), dt.date(2026, 12, 4), dt.date(2026, 12, 5), dt.date(2026, 12, 6)
MON, TUE, WED, THU2, FRI2 = (dt.date(2026, 12, d) for d in (7, 8, 9, 10, 11))


# --- working days --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "days", "due"),
    [
        (FRI, 1, MON),  # over the weekend
        (FRI, 3, WED),
        (THU, 2, MON),
        (MON, 4, FRI2),
        (MON, 5, dt.date(2026, 12, 14)),  # a whole week: the Monday after
        (WED, 10, dt.date(2026, 12, 23)),
        (SAT, 1, MON),  # submitted on a weekend: counted as from the Friday before
        (SUN, 3, WED),
        (SAT, 5, FRI2),  # whole weeks from a weekend end on a Friday, not on the weekend
        (SUN, 10, dt.date(2026, 12, 18)),
        (dt.date(2026, 12, 31), 20, dt.date(2027, 1, 28)),  # across the year
    ],
)
def test_add_working_days(start, days, due):
    assert add_working_days(start, days) == due


@pytest.mark.parametrize(
    ("on", "days", "first"),
    [
        (MON, 1, FRI),  # Friday's one day ends on Monday: not overdue; Thursday's ended on Friday
        (WED, 3, FRI),  # Friday + 3 = Wednesday, still within; Thursday + 3 = Tuesday, overdue
        (THU2, 3, MON),  # the weekend's submissions count as Friday's, due Wednesday: overdue on Thursday
        (FRI2, 5, FRI),  # Friday 4th + 5 = Friday 11th: within; Thursday 3rd + 5 = Thursday 10th: overdue
        (SUN, 1, FRI),  # on a Sunday, Friday's is due Monday; Thursday's was due Friday
    ],
)
def test_first_not_overdue(on, days, first):
    assert first_not_overdue(on, days) == first
    # the day before it is overdue on ``on``, the day itself is not
    assert add_working_days(first, days) >= on
    assert add_working_days(first - dt.timedelta(days=1), days) < on


# --- the limits in force -------------------------------------------------------------------------------------


@pytest.fixture
def line():
    return region_line()


@pytest.fixture
def supervisor(line):
    return line.staff(Role.CITY_SUPERVISOR)


def test_limits_in_force_by_date(line, supervisor):
    other = region_line(county="320411")
    set_ = {"actor": supervisor, "pooling_region": line.pooling_region, "kind": WorkKind.REGISTER}
    time_limit_set(**set_, working_days=3, valid_from=dt.date(2026, 1, 1))
    time_limit_set(**set_, working_days=5, valid_from=dt.date(2026, 7, 1))

    assert limits(line.pooling_region.pk, dt.date(2025, 12, 31)) == {
        "register": 10,
        "change": 10,
        "cancel": 10,
        "claim": 20,
        "transfer": 15,
    }
    assert limits(line.pooling_region.pk, dt.date(2026, 1, 1))["register"] == 3
    assert limits(line.pooling_region.pk, dt.date(2026, 6, 30))["register"] == 3
    assert limits(line.pooling_region.pk, dt.date(2026, 7, 1))["register"] == 5
    assert limits(line.pooling_region.pk, dt.date(2026, 7, 1))["change"] == 10
    assert limits(other.pooling_region.pk, dt.date(2026, 7, 1))["register"] == 10
    # The limit in force on the day of submission decides: June's Friday gets 3 days, July's Friday 5.
    assert due_on(submitted=dt.date(2026, 6, 26), pooling_region_id=line.pooling_region.pk, kind="register") == (
        dt.date(2026, 7, 1)
    )
    assert due_on(submitted=dt.date(2026, 7, 3), pooling_region_id=line.pooling_region.pk, kind="register") == (
        dt.date(2026, 7, 10)
    )


def test_setting_the_same_day_again_replaces_it_and_keeps_the_others(line, supervisor):
    kwargs = {"actor": supervisor, "pooling_region": line.pooling_region, "kind": WorkKind.CLAIM}
    time_limit_set(**kwargs, working_days=15, valid_from=dt.date(2026, 1, 1))
    time_limit_set(**kwargs, working_days=12, valid_from=dt.date(2026, 1, 1))
    time_limit_set(**kwargs, working_days=10, valid_from=dt.date(2026, 9, 1))
    assert list(TimeLimit.objects.order_by("valid_from").values_list("valid_from", "working_days")) == [
        (dt.date(2026, 1, 1), 12),
        (dt.date(2026, 9, 1), 10),
    ]


@pytest.mark.parametrize(
    ("kind", "days", "field", "message"),
    [
        ("register", 0, "working_days", "1至10个工作日"),
        ("register", 11, "working_days", "不得长于法定时限"),
        ("claim", 21, "working_days", "1至20个工作日"),
        ("register", "三", "working_days", "整数"),
        ("payroll", 3, "kind", "请选择业务类型"),
    ],
)
def test_time_limit_set_refuses_bad_values(line, supervisor, kind, days, field, message):
    with pytest.raises(DomainError, match=message) as refused:
        time_limit_set(
            actor=supervisor, pooling_region=line.pooling_region, kind=kind, working_days=days, valid_from=MON
        )
    assert refused.value.field == field
    assert not TimeLimit.objects.exists()


def test_a_claims_limit_may_be_the_statutory_twenty(line, supervisor):
    row = time_limit_set(
        actor=supervisor, pooling_region=line.pooling_region, kind="claim", working_days=20, valid_from=MON
    )
    assert row.working_days == 20


@pytest.mark.parametrize("role", [Role.TOWNSHIP_CLERK, Role.COUNTY_APPROVER, Role.COUNTY_CLERK])
def test_only_a_supervisor_or_administrator_sets_limits(line, role):
    with pytest.raises(NotPermitted):
        time_limit_set(
            actor=line.staff(role), pooling_region=line.pooling_region, kind="register", working_days=3, valid_from=MON
        )
    assert not TimeLimit.objects.exists()


def test_a_supervisor_of_another_city_may_not(line):
    elsewhere = region_line(county="320115")
    with pytest.raises(DomainError, match="不在您的管辖范围内"):
        time_limit_set(
            actor=elsewhere.staff(Role.CITY_SUPERVISOR),
            pooling_region=line.pooling_region,
            kind="register",
            working_days=3,
            valid_from=MON,
        )
    assert not TimeLimit.objects.exists()


# --- the page ------------------------------------------------------------------------------------------------


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


URL = "/work/time-limits/"


def test_the_page_is_at_its_address():
    assert reverse("portal:time_limits") == URL


def test_supervisor_sets_a_limit_and_sees_it_in_force_and_in_the_history(line, supervisor):
    client = client_for(supervisor)
    page = client.get(URL).content.decode()
    assert 'id="time-limit-form"' in page
    assert page.count("法定时限（默认）") == 5  # nothing set: every kind at the statutory limit

    response = client.post(
        URL,
        {"pooling_region": line.pooling_region.pk, "kind": "register", "working_days": "3", "valid_from": "2026-01-01"},
    )
    assert response.status_code == 302 and response["Location"] == URL

    row = TimeLimit.objects.get()
    assert (row.kind, row.working_days, row.valid_from, row.set_by) == ("register", 3, dt.date(2026, 1, 1), supervisor)
    page = client.get(URL).content.decode()
    assert "已设置统筹区320412“参保登记”自2026年01月01日起的办理时限：3个工作日。" in page
    assert page.count("法定时限（默认）") == 4
    current = page[page.index('<tr data-kind="register">') :]
    assert "<strong>3</strong>" in current[: current.index("</tr>")]


def test_a_refusal_is_shown_next_to_its_field(line, supervisor):
    response = client_for(supervisor).post(
        URL,
        {"pooling_region": line.pooling_region.pk, "kind": "claim", "working_days": "25", "valid_from": "2026-01-01"},
    )
    assert response.status_code == 400
    page = response.content.decode()
    field = page[page.index('id="field-working_days"') : page.index('id="field-valid_from"')]
    assert "办理时限应在1至20个工作日之间（不得长于法定时限）。" in field
    assert not TimeLimit.objects.exists()


def test_others_in_scope_read_only(line, supervisor):
    time_limit_set(actor=supervisor, pooling_region=line.pooling_region, kind="claim", working_days=12, valid_from=MON)
    clerk = client_for(line.staff(Role.TOWNSHIP_CLERK))

    page = clerk.get(URL).content.decode()
    assert 'id="time-limit-form"' not in page
    assert line.pooling_region.name in page and "<strong>12</strong>" in page
    assert supervisor.display_name in page  # the history says who set it

    refused = clerk.post(
        URL,
        {"pooling_region": line.pooling_region.pk, "kind": "claim", "working_days": "5", "valid_from": "2026-12-01"},
    )
    assert refused.status_code == 403
    assert TimeLimit.objects.get().working_days == 12


def test_another_citys_pooling_regions_are_not_shown_nor_settable(line, supervisor):
    elsewhere = region_line(county="320115")
    time_limit_set(
        actor=elsewhere.staff(Role.CITY_SUPERVISOR),
        pooling_region=elsewhere.pooling_region,
        kind="claim",
        working_days=7,
        valid_from=MON,
    )
    client = client_for(supervisor)
    page = client.get(URL).content.decode()
    assert elsewhere.pooling_region.name not in page
    response = client.post(
        URL,
        {
            "pooling_region": elsewhere.pooling_region.pk,
            "kind": "claim",
            "working_days": "5",
            "valid_from": "2026-12-01",
        },
    )
    assert response.status_code == 400  # not a choice
    assert list(TimeLimit.objects.values_list("working_days", flat=True)) == [7]


def test_a_user_without_a_jurisdiction_is_refused(line):
    from agencies.tests.factories import UserFactory

    assert client_for(UserFactory(username="nobody", role=Role.TOWNSHIP_CLERK)).get(URL).status_code == 403


def test_export_lists_the_limits_in_force_and_their_history(line, supervisor):
    time_limit_set(actor=supervisor, pooling_region=line.pooling_region, kind="change", working_days=3, valid_from=MON)
    time_limit_set(
        actor=supervisor,
        pooling_region=line.pooling_region,
        kind="change",
        working_days=2,
        valid_from=dt.date(2099, 1, 1),
    )
    region_line(county="320115")  # another city's

    response = client_for(line.staff(Role.COUNTY_CLERK)).get(URL, {"format": "xlsx"})

    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    current = list(book.worksheets[0].iter_rows(values_only=True))
    assert current[0][:3] == ("统筹区", "业务类型", "现行办理时限（工作日）")
    assert [row[1:5] for row in current[1:]] == [
        ("参保登记", 10, 10, "法定时限"),
        ("变更登记", 3, 10, "本统筹区承诺"),
        ("注销登记", 10, 10, "法定时限"),
        ("待遇申请", 20, 20, "法定时限"),
        ("关系转移", 15, 15, "法定时限"),
    ]
    history = list(book.worksheets[1].iter_rows(values_only=True))
    assert [row[:3] for row in history[1:]] == [
        (line.pooling_region.name, "变更登记", 2),  # newest first, not yet in force
        (line.pooling_region.name, "变更登记", 3),
    ]


def test_the_page_reads_a_fixed_number_of_queries(line, supervisor, django_assert_max_num_queries):
    client = client_for(line.staff(Role.COUNTY_CLERK))

    def limit_from(day: int) -> None:
        time_limit_set(
            actor=supervisor,
            pooling_region=line.pooling_region,
            kind="register",
            working_days=3,
            valid_from=dt.date(2026, 1, day),
        )

    limit_from(1)
    with CaptureQueriesContext(connection) as one:
        client.get(URL)
    for day in range(2, 21):
        limit_from(day)

    with django_assert_max_num_queries(len(one)):
        assert client.get(URL).status_code == 200
