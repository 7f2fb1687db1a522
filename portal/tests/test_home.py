"""The home page: each role's worklist (待办) with counts, and the way in for village agents."""

import datetime as dt

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from agencies.models import Role
from agencies.tests.factories import region_line
from enrollment import idnumber, services

pytestmark = pytest.mark.django_db


@pytest.fixture
def line():
    return region_line()


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def register(line, actor, name: str, sequence: int):
    return services.registration_submit(
        actor=actor,
        village=line.village,
        id_number=idnumber.make(line.village.code[:6], dt.date(1970, 1, 1), sequence),
        data={"name": name},
    )


def detail_url(application) -> str:
    return reverse("enrollment:application_detail", args=[application.pk])


def test_township_clerk_sees_submitted_forms_with_counts(line):
    agent = line.staff(Role.VILLAGE_AGENT)
    first = register(line, agent, "甲某", 11)
    second = register(line, agent, "乙某", 13)

    body = client_for(line.staff(Role.TOWNSHIP_CLERK)).get(reverse("portal:home")).content.decode()

    assert "待乡镇审核的申请" in body
    assert detail_url(first) in body and detail_url(second) in body
    assert "<strong>2</strong>合计" in body
    assert "<strong>2</strong>参保登记" in body
    assert body.index("甲某") < body.index("乙某")  # oldest first


def test_county_approver_sees_only_accepted_forms(line):
    agent = line.staff(Role.VILLAGE_AGENT)
    accepted = register(line, agent, "甲某", 11)
    waiting = register(line, agent, "乙某", 13)
    services.application_accept(actor=line.staff(Role.TOWNSHIP_CLERK), application=accepted)

    body = client_for(line.staff(Role.COUNTY_APPROVER)).get(reverse("portal:home")).content.decode()

    assert "待县级审批的申请" in body
    assert detail_url(accepted) in body
    assert detail_url(waiting) not in body


def test_village_agent_sees_returned_forms_and_the_register_button(line):
    agent = line.staff(Role.VILLAGE_AGENT)
    returned = register(line, agent, "甲某", 11)
    in_progress = register(line, agent, "乙某", 13)
    services.application_return(actor=line.staff(Role.TOWNSHIP_CLERK), application=returned, reason="缺户口簿")

    body = client_for(agent).get(reverse("portal:home")).content.decode()

    assert 'class="button big"' in body and reverse("enrollment:register") in body
    assert "被退回、待我补正的申请" in body
    assert detail_url(returned) in body and "缺户口簿" in body
    assert "我录入的在途申请" in body and detail_url(in_progress) in body
    assert idnumber.make(line.village.code[:6], dt.date(1970, 1, 1), 11) not in body  # masked


def test_worklist_stays_within_the_jurisdiction(line):
    foreign = region_line(county="320115")
    foreign_app = register(foreign, foreign.staff(Role.VILLAGE_AGENT), "外县某", 11)

    body = client_for(line.staff(Role.TOWNSHIP_CLERK)).get(reverse("portal:home")).content.decode()

    assert detail_url(foreign_app) not in body
    assert "外县某" not in body
    assert "暂无待办事项" in body


@pytest.mark.parametrize("role", [Role.COUNTY_FUND_OFFICER, Role.CITY_SUPERVISOR, Role.ADMINISTRATOR])
def test_roles_without_a_worklist_get_a_plain_home(line, role):
    body = client_for(line.staff(role)).get(reverse("portal:home")).content.decode()
    assert "您的岗位没有需要审核或补正的申请" in body
    assert 'class="button big"' not in body


def test_home_queries_do_not_grow_with_the_worklist(line, django_assert_max_num_queries):
    agent = line.staff(Role.VILLAGE_AGENT)
    client = client_for(line.staff(Role.TOWNSHIP_CLERK))
    register(line, agent, "甲某", 1)
    with CaptureQueriesContext(connection) as one:
        client.get(reverse("portal:home"))
    for n in range(2, 22):
        register(line, agent, f"某{n}", n * 2 + 1)

    with django_assert_max_num_queries(len(one)):
        client.get(reverse("portal:home"))
