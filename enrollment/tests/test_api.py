"""The register's REST API: the workflow from village to county, refusals, scope, masking and query counts."""

import datetime as dt
import io
import json
import logging

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from agencies.models import Role
from agencies.tests.factories import UserFactory, region_line
from enrollment import idnumber
from enrollment.models import (
    Application,
    ApplicationKind,
    ApplicationStatus,
    DualEnrollmentFlag,
    InsuredPerson,
    PersonStatus,
)
from enrollment.tests.factories import make_person, new_id_number

pytestmark = pytest.mark.django_db

API = "/api/v1"


@pytest.fixture
def line():
    return region_line()


@pytest.fixture
def other_line():
    """A neighbouring county of the same city: outside the scope of everyone in ``line`` below the city."""
    return region_line(county="320411")


@pytest.fixture
def staff(line):
    return {role: line.staff(role) for role in Role.values if role != Role.ADMINISTRATOR}


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def proof_file(name: str = "proof.pdf") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, b"%PDF-1.4\n% scanned proof\n", content_type="application/pdf")


def registration_body(line, **overrides) -> dict:
    body = {
        "village": line.village.code,
        "id_number": new_id_number("320412", dt.date(1980, 3, 8)),
        "name": "赵 小 梅",
        "phone": "0519-86001234",
        "address": "一组18号",
        "social_security_card_number": "A12345678",
        "bank_code": "102",
        "bank_account": "6222 0212 3456 7890",
    }
    body.update(overrides)
    return body


def register(line, agent) -> dict:
    response = client_for(agent).post(f"{API}/applications/", registration_body(line), format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def active_application(application_id: int, staff) -> None:
    """Take a submitted application through township review and county approval."""
    accepted = client_for(staff[Role.TOWNSHIP_CLERK]).post(f"{API}/applications/{application_id}/accept/")
    assert accepted.status_code == 200, accepted.json()
    approved = client_for(staff[Role.COUNTY_APPROVER]).post(f"{API}/applications/{application_id}/approve/")
    assert approved.status_code == 200, approved.json()


def count_queries(client: APIClient, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, response.content
    return len(queries)


# --- the workflow -----------------------------------------------------------------------------------


def test_registration_goes_from_village_to_county_and_the_person_gets_an_insurance_number(line, staff):
    # given a village agent enters a registration form
    created = register(line, staff[Role.VILLAGE_AGENT])
    assert created["kind"] == ApplicationKind.REGISTER
    assert created["status"] == ApplicationStatus.SUBMITTED
    person_id = created["person"]
    pending = client_for(staff[Role.COUNTY_CLERK]).get(f"{API}/persons/{person_id}/").json()
    assert pending["status"] == PersonStatus.PENDING
    assert pending["name"] == "赵小梅"  # spaces typed between characters dropped
    assert pending["bank_account"] == "6222021234567890"

    # when the township accepts and the county approves
    accepted = client_for(staff[Role.TOWNSHIP_CLERK]).post(f"{API}/applications/{created['id']}/accept/")
    assert accepted.json()["status"] == ApplicationStatus.ACCEPTED
    approved = client_for(staff[Role.COUNTY_APPROVER]).post(f"{API}/applications/{created['id']}/approve/")

    # then the application is approved, with its trail, and the person is insured with a number of the county
    assert approved.status_code == 200
    body = approved.json()
    assert body["status"] == ApplicationStatus.APPROVED
    assert body["decided_by"] == staff[Role.COUNTY_APPROVER].pk
    assert [event["action"] for event in body["events"]] == ["submit", "accept", "approve"]
    assert body["events"][1]["actor_name"] == staff[Role.TOWNSHIP_CLERK].display_name
    person = client_for(staff[Role.COUNTY_CLERK]).get(f"{API}/persons/{person_id}/").json()
    assert person["status"] == PersonStatus.ACTIVE
    assert person["insurance_number"].startswith("320412")
    assert len(person["insurance_number"]) == 14
    # and the person's history says who did what and why, and lists the application
    history = client_for(staff[Role.COUNTY_CLERK]).get(f"{API}/persons/{person_id}/history/").json()["results"]
    assert [(entry["type"], entry["reason"], entry["user_id"]) for entry in history] == [
        ("~", "参保登记审批通过", staff[Role.COUNTY_APPROVER].pk),
        ("+", "参保登记申请", staff[Role.VILLAGE_AGENT].pk),
    ]
    approval = {change["field"]: change for change in history[0]["changes"]}
    assert set(approval) == {"status", "insurance_number", "enrolled_on"}
    assert (approval["status"]["old_display"], approval["status"]["new_display"]) == ("登记审核中", "正常参保")
    created_fields = {change["field"]: change["new_display"] for change in history[1]["changes"]}
    assert created_fields["village"] == line.village.name
    assert created_fields["sex"] == "男"
    applications = client_for(staff[Role.VILLAGE_AGENT]).get(f"{API}/persons/{person_id}/applications/").json()
    assert [(row["id"], row["status"]) for row in applications["results"]] == [(created["id"], "approved")]


def test_whoever_entered_an_application_cannot_review_it(line, staff):
    clerk = staff[Role.TOWNSHIP_CLERK]
    created = register(line, clerk)

    response = client_for(clerk).post(f"{API}/applications/{created['id']}/accept/")

    assert response.status_code == 403
    assert response.json()["code"] == "own_application"
    assert "录入人不能审核或审批自己录入的申请" in response.json()["detail"]
    assert Application.objects.get(pk=created["id"]).status == ApplicationStatus.SUBMITTED


def test_whoever_entered_an_application_cannot_approve_it_even_after_moving_to_the_county(line, staff):
    # given a township clerk entered a form, another clerk accepted it, and the first one became an approver
    clerk = staff[Role.TOWNSHIP_CLERK]
    created = register(line, clerk)
    second_clerk = line.staff(Role.TOWNSHIP_CLERK, username="second_clerk")
    assert client_for(second_clerk).post(f"{API}/applications/{created['id']}/accept/").status_code == 200
    clerk.role, clerk.agency = Role.COUNTY_APPROVER, line.agency("county")
    clerk.save()

    # when they try to approve their own form
    response = client_for(clerk).post(f"{API}/applications/{created['id']}/approve/")

    # then the API refuses, in Chinese, and nothing changes
    assert response.status_code == 403
    assert "录入人不能审核或审批" in response.json()["detail"]
    assert Application.objects.get(pk=created["id"]).status == ApplicationStatus.ACCEPTED


def test_a_role_that_may_not_act_gets_403_with_a_chinese_message(line, staff):
    created = register(line, staff[Role.VILLAGE_AGENT])

    response = client_for(staff[Role.VILLAGE_AGENT]).post(f"{API}/applications/{created['id']}/approve/")

    assert response.status_code == 403
    assert response.json()["detail"] == "您的岗位无权办理此项业务。"


def test_send_back_needs_a_reason_and_the_agent_corrects_and_resubmits(line, staff):
    agent, township = client_for(staff[Role.VILLAGE_AGENT]), client_for(staff[Role.TOWNSHIP_CLERK])
    created = register(line, staff[Role.VILLAGE_AGENT])

    # without a reason: refused, naming the field
    refused = township.post(f"{API}/applications/{created['id']}/return/", {"reason": "  "}, format="json")
    assert refused.status_code == 400
    assert refused.json()["errors"] == {"reason": ["退回时请写明原因，以便录入人补正。"]}

    # with a reason: back on the agent's worklist, saying why
    returned = township.post(f"{API}/applications/{created['id']}/return/", {"reason": "电话号码有误"}, format="json")
    assert returned.status_code == 200
    assert returned.json()["status"] == ApplicationStatus.RETURNED
    assert returned.json()["return_reason"] == "电话号码有误"
    worklist = agent.get(f"{API}/applications/", {"worklist": 1}).json()
    assert [(row["id"], row["return_reason"]) for row in worklist["results"]] == [(created["id"], "电话号码有误")]
    assert township.get(f"{API}/applications/", {"worklist": 1}).json()["count"] == 0

    # the agent corrects the phone and sends it up again
    resubmitted = agent.post(
        f"{API}/applications/{created['id']}/resubmit/", {"data": {"phone": "13800001111"}}, format="json"
    )
    assert resubmitted.status_code == 200
    body = resubmitted.json()
    assert body["status"] == ApplicationStatus.SUBMITTED
    assert body["return_reason"] == ""
    assert body["changes"]["phone"] == "13800001111"
    assert [event["action"] for event in body["events"]] == ["submit", "return", "resubmit"]
    assert body["events"][1]["note"] == "电话号码有误"
    assert InsuredPerson.objects.get(pk=created["person"]).phone == "13800001111"
    assert township.get(f"{API}/applications/", {"worklist": 1}).json()["count"] == 1


def test_malformed_json_bodies_are_refused_as_fields_not_errors(line, staff):
    person = make_person(line.village)
    agent = client_for(staff[Role.VILLAGE_AGENT])
    created = register(line, staff[Role.VILLAGE_AGENT])
    client_for(staff[Role.TOWNSHIP_CLERK]).post(
        f"{API}/applications/{created['id']}/return/", {"reason": "补正"}, format="json"
    )

    listed = agent.post(f"{API}/persons/{person.pk}/change/", {"changes": ["phone"]}, format="json")
    nested = agent.post(f"{API}/persons/{person.pk}/change/", {"changes": {"phone": {"a": 1}}}, format="json")
    not_json = agent.post(f"{API}/persons/{person.pk}/change/", {"changes": "{phone"}, format="multipart")
    resubmit = agent.post(f"{API}/applications/{created['id']}/resubmit/", {"data": {"name": None}}, format="json")
    unknown = agent.post(f"{API}/persons/{person.pk}/change/", {"changes": {"insurance_number": "1"}}, format="json")

    assert listed.status_code == nested.status_code == not_json.status_code == resubmit.status_code == 400
    assert listed.json() == {"changes": ["请填写要变更的内容，格式为 {字段: 新值}。"]}
    assert nested.json() == {"changes": ["每一项的值都须为文字。"]}
    assert "changes" in not_json.json()
    assert resubmit.json() == {"data": ["每一项的值都须为文字。"]}
    assert unknown.status_code == 400
    assert unknown.json()["detail"] == "不能通过变更登记修改：insurance_number。"


def test_withdrawn_registration_leaves_no_insured_person_in_the_list(line, staff):
    agent = client_for(staff[Role.VILLAGE_AGENT])
    created = register(line, staff[Role.VILLAGE_AGENT])

    response = agent.post(f"{API}/applications/{created['id']}/withdraw/", {"reason": "本人不愿参保"}, format="json")

    assert response.status_code == 200
    assert response.json()["status"] == ApplicationStatus.WITHDRAWN
    assert InsuredPerson.objects.get(pk=created["person"]).status == PersonStatus.VOID
    assert agent.get(f"{API}/persons/").json()["count"] == 0


def test_acting_twice_answers_conflict(line, staff):
    created = register(line, staff[Role.VILLAGE_AGENT])
    township = client_for(staff[Role.TOWNSHIP_CLERK])
    assert township.post(f"{API}/applications/{created['id']}/accept/").status_code == 200

    again = township.post(f"{API}/applications/{created['id']}/accept/")

    assert again.status_code == 409
    assert "不能进行此操作" in again.json()["detail"]


def test_a_change_of_name_needs_proof_and_takes_effect_on_approval_with_history(line, staff):
    person = make_person(line.village, name="钱大")
    agent = client_for(staff[Role.VILLAGE_AGENT])
    url = f"{API}/persons/{person.pk}/change/"

    # without proof: refused on the proof field
    refused = agent.post(url, {"changes": json.dumps({"name": "钱大勇"}), "reason": "户口簿更名"}, format="multipart")
    assert refused.status_code == 400
    assert refused.json()["field"] == "proof"
    assert "须上传" in refused.json()["detail"]

    # with proof, sent as multipart: the change waits for review
    created = agent.post(
        url,
        {"changes": json.dumps({"name": "钱大勇"}), "reason": "户口簿更名", "proof": proof_file("hukou.png")},
        format="multipart",
    )
    assert created.status_code == 201, created.json()
    assert created.json()["kind"] == ApplicationKind.CHANGE
    assert created.json()["changes"] == {"name": "钱大勇"}
    assert created.json()["has_proof"] is True
    person.refresh_from_db()
    assert person.name == "钱大"

    active_application(created.json()["id"], staff)

    person.refresh_from_db()
    assert person.name == "钱大勇"
    history = client_for(staff[Role.COUNTY_CLERK]).get(f"{API}/persons/{person.pk}/history/").json()
    latest = history["results"][0]
    assert latest["user_id"] == staff[Role.COUNTY_APPROVER].pk
    assert latest["reason"] == "变更登记审批通过：户口簿更名"
    assert [(c["field"], c["old"], c["new"]) for c in latest["changes"]] == [("name", "钱大", "钱大勇")]
    assert latest["changes"][0]["label"] == "姓名"


def test_a_phone_change_needs_no_proof_and_accepts_json(line, staff):
    person = make_person(line.village)

    response = client_for(staff[Role.VILLAGE_AGENT]).post(
        f"{API}/persons/{person.pk}/change/", {"changes": {"phone": "13912345678"}}, format="json"
    )

    assert response.status_code == 201
    assert response.json()["changes"] == {"phone": "13912345678"}


def test_only_one_open_application_per_person(line, staff):
    person = make_person(line.village)
    agent = client_for(staff[Role.VILLAGE_AGENT])
    url = f"{API}/persons/{person.pk}/change/"
    assert agent.post(url, {"changes": {"phone": "13912345678"}}, format="json").status_code == 201

    second = agent.post(url, {"changes": {"address": "二组"}}, format="json")

    assert second.status_code == 409
    assert second.json()["code"] == "open_application"


def test_cancellation_with_uploaded_proof(line, staff, caplog):
    person = make_person(line.village, name="孙老汉")
    agent = client_for(staff[Role.VILLAGE_AGENT])
    death = dt.date.today() - dt.timedelta(days=3)

    created = agent.post(
        f"{API}/persons/{person.pk}/cancel/",
        {
            "cancellation_reason": "death",
            "event_date": death.isoformat(),
            "reason": "家属申报",
            "proof": proof_file("death-certificate.pdf"),
        },
        format="multipart",
    )

    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["kind"] == ApplicationKind.CANCEL
    assert body["cancellation_reason_display"] == "死亡"
    assert body["proof_name"].startswith("death-certificate")
    # the proof is served through the scope only, and reading it is logged
    with caplog.at_level(logging.INFO, logger="portal.audit"):
        download = client_for(staff[Role.COUNTY_APPROVER]).get(f"{API}/applications/{body['id']}/proof/")
    assert download.status_code == 200
    assert b"".join(download.streaming_content).startswith(b"%PDF")
    assert f"application_proof_read user={staff[Role.COUNTY_APPROVER].pk} application={body['id']}" in caplog.text

    active_application(body["id"], staff)

    person.refresh_from_db()
    assert person.status == PersonStatus.CANCELLED
    assert person.cancelled_on == death


def test_cancellation_refusals_name_their_field(line, staff):
    person = make_person(line.village)
    agent = client_for(staff[Role.VILLAGE_AGENT])
    url = f"{API}/persons/{person.pk}/cancel/"
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()

    no_reason = agent.post(url, {"event_date": "2024-01-01", "proof": proof_file()}, format="multipart")
    future = agent.post(
        url, {"cancellation_reason": "death", "event_date": tomorrow, "proof": proof_file()}, format="multipart"
    )
    no_proof = agent.post(url, {"cancellation_reason": "death", "event_date": "2024-01-01"}, format="multipart")
    script = agent.post(
        url,
        {"cancellation_reason": "death", "event_date": "2024-01-01", "proof": proof_file("x.html")},
        format="multipart",
    )

    assert no_reason.status_code == 400
    assert no_reason.json() == {"cancellation_reason": ["请选择注销原因。"]}
    assert future.status_code == 400
    assert future.json()["errors"] == {"event_date": ["事件发生日期不能晚于今天。"]}
    assert no_proof.status_code == 400
    assert no_proof.json()["field"] == "proof"
    assert script.status_code == 400
    assert "证明材料须为PDF" in script.json()["proof"][0]
    assert not Application.objects.filter(person=person).exists()


def test_oversized_proof_is_refused_before_the_service(line, staff, settings):
    settings.PORTAL_MAX_UPLOAD_BYTES = 1024 * 1024
    person = make_person(line.village)
    big = SimpleUploadedFile("big.pdf", b"%PDF" + b"0" * (1024 * 1024), content_type="application/pdf")

    response = client_for(staff[Role.VILLAGE_AGENT]).post(
        f"{API}/persons/{person.pk}/cancel/",
        {"cancellation_reason": "death", "event_date": "2024-01-01", "proof": big},
        format="multipart",
    )

    assert response.status_code == 400
    assert response.json() == {"proof": ["文件过大，最大1MB。"]}


# --- validation -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"id_number": "32041219800308123"}, "id_number", "身份证号应为18位，现在是17位，请核对后重新填写。"),
        ({"id_number": "320412198003081230"}, "id_number", "身份证号校验位不正确"),
        ({"id_number": idnumber.make("320412", dt.date(2015, 6, 1), 11)}, "id_number", "未满16周岁"),
        ({"name": "   "}, "name", "请填写姓名。"),
        ({"phone": "电话"}, "phone", "联系电话只能包含数字和“-”。"),
        ({"bank_account": "6222-abc"}, "bank_account", "银行账号只能包含数字。"),
    ],
)
def test_registration_refusals_answer_400_with_field_and_chinese_message(line, staff, overrides, field, message):
    response = client_for(staff[Role.VILLAGE_AGENT]).post(
        f"{API}/applications/", registration_body(line, **overrides), format="json"
    )

    assert response.status_code == 400
    body = response.json()
    assert body["field"] == field
    assert message in body["errors"][field][0]
    assert not InsuredPerson.objects.exists()


def test_registration_in_a_township_rather_than_a_village_is_refused(line, staff):
    response = client_for(staff[Role.TOWNSHIP_CLERK]).post(
        f"{API}/applications/", registration_body(line, village=line.township.code), format="json"
    )

    assert response.status_code == 400
    assert response.json()["errors"] == {"village": ["请选择户籍所在的村（社区）。"]}


def test_registration_without_village_is_a_serializer_error_in_chinese(line, staff):
    body = registration_body(line)
    del body["village"]

    response = client_for(staff[Role.VILLAGE_AGENT]).post(f"{API}/applications/", body, format="json")

    assert response.status_code == 400
    assert response.json() == {"village": ["请选择户籍所在的村（社区）。"]}


def test_registration_refuses_a_number_already_registered_and_warns_of_a_possible_duplicate(line, staff):
    agent = client_for(staff[Role.VILLAGE_AGENT])
    holder = make_person(line.village, name="周芳", birth_date=dt.date(1980, 3, 8))

    taken = agent.post(f"{API}/applications/", registration_body(line, id_number=holder.id_number), format="json")
    maybe_same = agent.post(f"{API}/applications/", registration_body(line, name="周芳"), format="json")
    confirmed = agent.post(
        f"{API}/applications/", registration_body(line, name="周芳", confirm_possible_duplicate=True), format="json"
    )

    assert taken.status_code == 400
    assert taken.json()["code"] == "duplicate_id"
    assert maybe_same.status_code == 400
    assert maybe_same.json()["field"] == "confirm_possible_duplicate"
    assert confirmed.status_code == 201


def test_invalid_list_filters_answer_400(line, staff):
    client = client_for(staff[Role.COUNTY_CLERK])

    persons = client.get(f"{API}/persons/", {"status": "dead"})
    applications = client.get(f"{API}/applications/", {"kind": "adopt"})

    assert persons.status_code == 400
    assert persons.json() == {"status": ["参保状态“dead”不存在。"]}
    assert applications.status_code == 400
    assert applications.json() == {"kind": ["业务类型“adopt”不存在。"]}


# --- scope ------------------------------------------------------------------------------------------


def test_a_person_outside_the_scope_answers_404_for_every_method(line, other_line, staff):
    stranger = make_person(other_line.village)
    clerk = client_for(staff[Role.TOWNSHIP_CLERK])
    base = f"{API}/persons/{stranger.pk}"

    answers = {
        "detail": clerk.get(f"{base}/"),
        "history": clerk.get(f"{base}/history/"),
        "applications": clerk.get(f"{base}/applications/"),
        "special-groups": clerk.get(f"{base}/special-groups/"),
        "record group": clerk.post(
            f"{base}/special-groups/", {"group": "dibao", "certified_on": "2024-01-01"}, format="json"
        ),
        "change": clerk.post(f"{base}/change/", {"changes": {"phone": "13800000000"}}, format="json"),
        "cancel": clerk.post(
            f"{base}/cancel/",
            {"cancellation_reason": "death", "event_date": "2024-01-01", "proof": proof_file()},
            format="multipart",
        ),
    }

    assert {name: response.status_code for name, response in answers.items()} == dict.fromkeys(answers, 404)
    assert clerk.get(f"{API}/persons/").json()["count"] == 0
    assert not Application.objects.exists()


def test_an_application_outside_the_scope_answers_404_for_every_method(line, other_line, staff):
    other_agent = other_line.staff(Role.VILLAGE_AGENT)
    created = register(other_line, other_agent)
    base = f"{API}/applications/{created['id']}"

    for role in (Role.VILLAGE_AGENT, Role.TOWNSHIP_CLERK, Role.COUNTY_APPROVER):
        client = client_for(staff[role])
        answers = [
            client.get(f"{base}/"),
            client.get(f"{base}/proof/"),
            client.post(f"{base}/accept/"),
            client.post(f"{base}/return/", {"reason": "不在辖区"}, format="json"),
            client.post(f"{base}/approve/"),
            client.post(f"{base}/resubmit/"),
            client.post(f"{base}/withdraw/"),
        ]
        assert [response.status_code for response in answers] == [404] * len(answers), role
        assert client.get(f"{API}/applications/").json()["count"] == 0
    assert Application.objects.get(pk=created["id"]).status == ApplicationStatus.SUBMITTED


def test_the_city_sees_both_counties(line, other_line, staff):
    make_person(line.village)
    make_person(other_line.village)

    assert client_for(staff[Role.CITY_SUPERVISOR]).get(f"{API}/persons/").json()["count"] == 2
    assert client_for(staff[Role.COUNTY_CLERK]).get(f"{API}/persons/").json()["count"] == 1


def test_registering_in_a_village_outside_the_scope_looks_like_an_unknown_village(line, other_line, staff):
    agent = client_for(staff[Role.VILLAGE_AGENT])

    outside = agent.post(
        f"{API}/applications/", registration_body(line, village=other_line.village.code), format="json"
    )
    unknown = agent.post(f"{API}/applications/", registration_body(line, village="999999999999"), format="json")

    assert outside.status_code == unknown.status_code == 400
    assert outside.json() == unknown.json()
    assert outside.json()["errors"] == {"village": ["找不到该村（社区），或它不在您的管辖范围内。"]}
    assert not InsuredPerson.objects.exists()


def test_a_user_without_an_agency_sees_nothing(line):
    make_person(line.village)
    nobody = UserFactory(username="no_agency")

    assert client_for(nobody).get(f"{API}/persons/").json()["count"] == 0


# --- authentication ---------------------------------------------------------------------------------


def test_a_machine_obtains_a_token_and_uses_it(line, staff):
    make_person(line.village)
    machine = APIClient()

    refused = machine.post(f"{API}/auth/token/", {"username": staff[Role.COUNTY_CLERK].username, "password": "x"})
    anonymous = machine.get(f"{API}/persons/")
    issued = machine.post(
        f"{API}/auth/token/", {"username": staff[Role.COUNTY_CLERK].username, "password": "pass-12345"}
    )
    machine.credentials(HTTP_AUTHORIZATION=f"Token {issued.json()['token']}")
    listed = machine.get(f"{API}/persons/")

    assert refused.status_code == 400
    assert anonymous.status_code in (401, 403)
    assert issued.status_code == 200
    assert issued.json()["token"] == Token.objects.get(user=staff[Role.COUNTY_CLERK]).key
    assert listed.status_code == 200
    assert listed.json()["count"] == 1


def test_token_auth_can_write_without_csrf(line, staff):
    token = Token.objects.create(user=staff[Role.VILLAGE_AGENT])
    machine = APIClient(enforce_csrf_checks=True)
    machine.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")

    response = machine.post(f"{API}/applications/", registration_body(line), format="json")

    assert response.status_code == 201
    assert response.json()["created_by"] == staff[Role.VILLAGE_AGENT].pk


# --- personal data ----------------------------------------------------------------------------------


def test_lists_mask_identity_numbers_and_bank_accounts_and_a_full_read_is_logged(line, staff, caplog):
    person = make_person(line.village, bank_account="6222021234567890")
    client = client_for(staff[Role.TOWNSHIP_CLERK])

    row = client.get(f"{API}/persons/").json()["results"][0]
    with caplog.at_level(logging.INFO, logger="portal.audit"):
        detail = client.get(f"{API}/persons/{person.pk}/").json()

    assert "id_number" not in row
    assert "bank_account" not in row
    assert row["id_number_masked"] == f"{person.id_number[:6]}********{person.id_number[-4:]}"
    assert person.id_number not in json.dumps(row)
    assert row["bank_account_masked"] == "****7890"
    assert detail["id_number"] == person.id_number
    assert detail["bank_account"] == "6222021234567890"
    assert f"person_read user={staff[Role.TOWNSHIP_CLERK].pk} person={person.pk}" in caplog.text


def test_application_lists_leave_the_form_content_out(line, staff):
    register(line, staff[Role.VILLAGE_AGENT])
    person = InsuredPerson.objects.get()

    row = client_for(staff[Role.TOWNSHIP_CLERK]).get(f"{API}/applications/").json()["results"][0]

    assert "changes" not in row
    assert person.id_number not in json.dumps(row, ensure_ascii=False)
    assert row["person_id_number_masked"] == idnumber.mask(person.id_number)


def test_person_search_and_status_filter(line, staff):
    wang = make_person(line.village, name="王建国")
    make_person(line.village, name="李秀英", status=PersonStatus.CANCELLED)
    client = client_for(staff[Role.COUNTY_CLERK])

    def names(**params) -> list[str]:
        return [row["name"] for row in client.get(f"{API}/persons/", params).json()["results"]]

    assert names(q="wjg") == ["王建国"]
    assert names(q="建国") == ["王建国"]
    assert names(q=wang.insurance_number) == ["王建国"]
    assert names(q=wang.id_number) == ["王建国"]
    assert names(status=PersonStatus.CANCELLED) == ["李秀英"]


# --- special groups ---------------------------------------------------------------------------------


def test_special_groups_are_recorded_by_the_township_and_listed(line, staff):
    person = make_person(line.village)
    url = f"{API}/persons/{person.pk}/special-groups/"
    body = {"group": "tekun", "certified_on": "2024-02-01", "certificate_number": "民救〔2024〕3号"}

    by_agent = client_for(staff[Role.VILLAGE_AGENT]).post(url, body, format="json")
    recorded = client_for(staff[Role.TOWNSHIP_CLERK]).post(url, body, format="json")
    again = client_for(staff[Role.TOWNSHIP_CLERK]).post(url, body, format="json")
    bad_end = client_for(staff[Role.TOWNSHIP_CLERK]).post(
        url, {"group": "dibao", "certified_on": "2024-02-01", "ends_on": "2023-01-01"}, format="json"
    )
    listed = client_for(staff[Role.VILLAGE_AGENT]).get(url).json()

    assert by_agent.status_code == 403
    assert recorded.status_code == 201
    assert recorded.json()["certifying_department"] == "民政部门"
    assert recorded.json()["group_display"] == "特困人员"
    assert again.status_code == 409
    assert bad_end.status_code == 400
    assert bad_end.json()["errors"] == {"ends_on": ["终止日期不能早于认定日期。"]}
    assert [(row["group"], row["recorded_by"]) for row in listed["results"]] == [
        ("tekun", staff[Role.TOWNSHIP_CLERK].pk)
    ]


# --- identity-number check --------------------------------------------------------------------------


def test_id_check_reads_the_number_and_finds_nothing_for_a_new_one(line, staff):
    number = idnumber.make("320412", dt.date(1966, 10, 1), 22)

    # typed with a full-width digit and a space, as clerks do
    typed = "３" + number[1:9] + " " + number[9:]
    body = client_for(staff[Role.VILLAGE_AGENT]).get(f"{API}/id-check/", {"id_number": typed}).json()

    assert body["valid"] is True
    assert body["number"] == number
    assert body["birth_date"] == "1966-10-01"
    assert body["sex"] == "F"
    assert body["sex_display"] == "女"
    assert body["age"] == idnumber.age_on(dt.date(1966, 10, 1), dt.date.today())
    assert body["registered"] is None
    assert body["possible_duplicates"] == []


def test_id_check_explains_a_bad_number(staff):
    body = client_for(staff[Role.VILLAGE_AGENT]).get(f"{API}/id-check/", {"id_number": "32041219661001002"}).json()

    assert body["valid"] is False
    assert body["error"] == {"code": "length", "message": "身份证号应为18位，现在是17位，请核对后重新填写。"}
    assert body["birth_date"] is None


def test_id_check_names_the_holder_only_inside_the_scope(line, other_line, staff):
    mine = make_person(line.village, name="吴一")
    theirs = make_person(other_line.village, name="郑二")
    client = client_for(staff[Role.VILLAGE_AGENT])

    inside = client.get(f"{API}/id-check/", {"id_number": mine.id_number}).json()
    outside = client.get(f"{API}/id-check/", {"id_number": theirs.id_number}).json()

    assert inside["valid"] is False
    assert inside["registered"]["in_scope"] is True
    assert inside["registered"]["person_id"] == mine.pk
    assert inside["registered"]["name"] == "吴一"
    assert outside["valid"] is False
    assert outside["error"]["code"] == "duplicate_id"
    assert outside["registered"] == {
        "in_scope": False,
        "person_id": None,
        "name": "",
        "insurance_number": "",
        "region_name": other_line.village.full_name(),
        "status": "active",
        "status_display": "正常参保",
    }
    assert "郑二" not in json.dumps(outside, ensure_ascii=False)


def test_id_check_lists_possible_duplicates_in_the_village_only_within_scope(line, other_line, staff):
    same = make_person(line.village, name="冯梅", birth_date=dt.date(1975, 7, 7))
    make_person(other_line.village, name="冯梅", birth_date=dt.date(1975, 7, 7))
    number = new_id_number("320412", dt.date(1975, 7, 7), male=False)
    client = client_for(staff[Role.VILLAGE_AGENT])

    mine = client.get(f"{API}/id-check/", {"id_number": number, "village": line.village.code, "name": "冯 梅"}).json()
    theirs = client.get(
        f"{API}/id-check/", {"id_number": number, "village": other_line.village.code, "name": "冯梅"}
    ).json()

    assert mine["valid"] is True  # a warning, not a refusal: the clerk confirms it is not the same person
    assert [row["person_id"] for row in mine["possible_duplicates"]] == [same.pk]
    assert mine["possible_duplicates"][0]["id_number_masked"] == idnumber.mask(same.id_number)
    assert theirs["possible_duplicates"] == []


def test_id_check_is_closed_to_staff_without_a_jurisdiction(line):
    holder = make_person(line.village)
    nobody = UserFactory(username="no_agency_check")

    response = client_for(nobody).get(f"{API}/id-check/", {"id_number": holder.id_number})

    assert response.status_code == 403
    assert response.json()["detail"] == "您的岗位无权办理此项业务。"


# --- employees' scheme register ---------------------------------------------------------------------


def _xlsx(rows: list[list[str]]) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_employee_register_csv_flags_dual_enrolment_in_the_scope_and_a_flag_is_resolved(line, other_line, staff):
    # given two insured persons here and one in the next county, all on the employees' register
    both = make_person(line.village, name="蒋工")
    make_person(line.village, name="沈农")
    elsewhere = make_person(other_line.village, name="韩工")
    csv_text = (
        f"姓名,身份证号,单位名称\n蒋工,{both.id_number},常州机械厂\n韩工,{elsewhere.id_number},无锡纺织厂\n错号,123,\n"
    )
    county = client_for(staff[Role.COUNTY_CLERK])

    # when the county loads it
    upload = SimpleUploadedFile("职工名单.csv", csv_text.encode("gb18030"), content_type="text/csv")
    response = county.post(f"{API}/employee-register-loads/", {"file": upload}, format="multipart")

    # then only the person in the county is flagged
    assert response.status_code == 201, response.json()
    load = response.json()
    assert (load["rows_read"], load["rows_invalid"], load["matches"]) == (3, 1, 1)
    assert load["region_code"] == "320412"
    assert county.get(f"{API}/employee-register-loads/{load['id']}/").json()["file_name"] == "职工名单.csv"
    flags = county.get(f"{API}/dual-enrollment-flags/", {"open": 1}).json()["results"]
    assert [(f["person"], f["employer"], f["is_open"]) for f in flags] == [(both.pk, "常州机械厂", True)]
    assert flags[0]["person_id_number_masked"] == idnumber.mask(both.id_number)

    # and resolving it needs a note, closes it, and cannot be done twice
    url = f"{API}/dual-enrollment-flags/{flags[0]['id']}/resolve/"
    assert county.post(url, {"resolution": ""}, format="json").status_code == 400
    resolved = county.post(url, {"resolution": "已核实，本人申请退出城乡居民养老保险"}, format="json")
    assert resolved.status_code == 200
    assert resolved.json()["is_open"] is False
    assert county.post(url, {"resolution": "重复"}, format="json").status_code == 409
    assert county.get(f"{API}/dual-enrollment-flags/", {"open": 1}).json()["count"] == 0
    assert county.get(f"{API}/dual-enrollment-flags/").json()["count"] == 1


def test_employee_register_xlsx_made_by_openpyxl(line, staff):
    person = make_person(line.village)
    content = _xlsx([["身份证号", "参保单位"], [person.id_number.lower(), "武进电厂"], ["", ""]])
    upload = SimpleUploadedFile(
        "register.xlsx", content, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )

    response = client_for(staff[Role.COUNTY_APPROVER]).post(
        f"{API}/employee-register-loads/", {"file": upload}, format="multipart"
    )

    assert response.status_code == 201, response.json()
    assert (response.json()["rows_read"], response.json()["matches"]) == (1, 1)
    assert DualEnrollmentFlag.objects.get().employer == "武进电厂"


def test_employee_register_refusals(line, other_line, staff):
    county = client_for(staff[Role.COUNTY_CLERK])
    # the next county loads its own register and gets a flag of its own
    stranger = make_person(other_line.village)
    client_for(other_line.staff(Role.COUNTY_CLERK)).post(
        f"{API}/employee-register-loads/",
        {"file": SimpleUploadedFile("r.csv", f"身份证号\n{stranger.id_number}\n".encode())},
        format="multipart",
    )
    flag_elsewhere = DualEnrollmentFlag.objects.get(person=stranger)

    by_agent = client_for(staff[Role.VILLAGE_AGENT]).post(
        f"{API}/employee-register-loads/", {"file": SimpleUploadedFile("r.csv", b"x")}, format="multipart"
    )
    no_file = county.post(f"{API}/employee-register-loads/", {}, format="multipart")
    empty = county.post(
        f"{API}/employee-register-loads/", {"file": SimpleUploadedFile("r.csv", b"\n\n")}, format="multipart"
    )

    assert by_agent.status_code == 403
    assert no_file.status_code == 400
    assert no_file.json() == {"file": ["请选择要上传的名单文件。"]}
    assert empty.status_code == 400
    assert empty.json()["field"] == "file"
    # the other county's load and flag stay out of sight, for reading and for resolving
    assert county.get(f"{API}/employee-register-loads/").json()["count"] == 0
    assert county.get(f"{API}/employee-register-loads/{flag_elsewhere.load_id}/").status_code == 404
    assert county.get(f"{API}/dual-enrollment-flags/").json()["count"] == 0
    assert county.get(f"{API}/dual-enrollment-flags/{flag_elsewhere.pk}/").status_code == 404
    resolve = county.post(f"{API}/dual-enrollment-flags/{flag_elsewhere.pk}/resolve/", {"resolution": "核实"})
    assert resolve.status_code == 404
    flag_elsewhere.refresh_from_db()
    assert flag_elsewhere.resolved_at is None


# --- query counts -----------------------------------------------------------------------------------


def _people(village, count: int) -> list[InsuredPerson]:
    return [make_person(village, name=f"参保人{i:02d}", bank_account=f"62220000{i:08d}") for i in range(count)]


def test_person_list_queries_do_not_grow_with_rows(line, staff, django_assert_max_num_queries):
    client = client_for(staff[Role.TOWNSHIP_CLERK])
    _people(line.village, 5)
    few = count_queries(client, f"{API}/persons/")
    _people(line.village, 25)

    with django_assert_max_num_queries(8):
        response = client.get(f"{API}/persons/")

    assert response.json()["count"] == 30
    assert count_queries(client, f"{API}/persons/") == few


def test_application_list_queries_do_not_grow_with_rows(line, staff, django_assert_max_num_queries):
    agent, township = client_for(staff[Role.VILLAGE_AGENT]), client_for(staff[Role.TOWNSHIP_CLERK])

    def applications(count: int) -> None:
        for person in _people(line.village, count):
            agent.post(f"{API}/persons/{person.pk}/change/", {"changes": {"phone": "13800000000"}}, format="json")
        # reviewed ones too, so every column of the row has a name to show
        for application in Application.objects.filter(status=ApplicationStatus.SUBMITTED)[:2]:
            township.post(f"{API}/applications/{application.pk}/accept/")

    applications(5)
    few = count_queries(township, f"{API}/applications/")
    applications(25)

    with django_assert_max_num_queries(8):
        response = township.get(f"{API}/applications/")

    assert response.json()["count"] == 30
    assert count_queries(township, f"{API}/applications/") == few
    assert count_queries(township, f"{API}/persons/{InsuredPerson.objects.first().pk}/applications/") <= 8


def test_flag_list_queries_do_not_grow_with_rows(line, staff, django_assert_max_num_queries):
    client = client_for(staff[Role.COUNTY_CLERK])
    people = _people(line.village, 5)
    csv_of = lambda persons: "身份证号\n" + "\n".join(p.id_number for p in persons)  # noqa: E731
    client.post(
        f"{API}/employee-register-loads/",
        {"file": SimpleUploadedFile("a.csv", csv_of(people).encode())},
        format="multipart",
    )
    few = count_queries(client, f"{API}/dual-enrollment-flags/")
    more = _people(line.village, 25)
    client.post(
        f"{API}/employee-register-loads/",
        {"file": SimpleUploadedFile("b.csv", csv_of(more).encode())},
        format="multipart",
    )

    with django_assert_max_num_queries(8):
        assert client.get(f"{API}/dual-enrollment-flags/").json()["count"] == 30
    assert count_queries(client, f"{API}/dual-enrollment-flags/") == few


def test_history_queries_do_not_grow_with_records(line, staff):
    client = client_for(staff[Role.COUNTY_CLERK])
    person = make_person(line.village)

    def edits(count: int) -> None:
        for i in range(count):
            person.phone = f"1380000{i:04d}"
            person._change_reason = "测试"
            person.save()

    edits(2)
    few = count_queries(client, f"{API}/persons/{person.pk}/history/")
    edits(20)

    response = client.get(f"{API}/persons/{person.pk}/history/")

    assert response.json()["count"] == 23
    assert response.json()["results"][-1]["type_display"] == "创建"
    assert count_queries(client, f"{API}/persons/{person.pk}/history/") == few
