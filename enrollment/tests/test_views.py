"""The browser side of the register: pages per role, the registration form and its errors, the as-you-type
check, review buttons and separation of duties, query counts, and proof files behind the scope."""

import datetime as dt
import logging
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from agencies.models import Role
from agencies.tests.factories import region_line
from enrollment import idnumber, services
from enrollment.models import (
    Application,
    ApplicationStatus,
    DualEnrollmentFlag,
    InsuredPerson,
    PersonStatus,
    SpecialGroupMembership,
)
from enrollment.tests.factories import make_person

pytestmark = pytest.mark.django_db

ALL_ROLES = [role for role, _ in Role.choices]
SUBMITTERS = {Role.VILLAGE_AGENT, Role.TOWNSHIP_CLERK, Role.COUNTY_CLERK}
COMPARERS = {Role.COUNTY_CLERK, Role.COUNTY_APPROVER}


@pytest.fixture
def line():
    return region_line()


@pytest.fixture
def foreign():
    return region_line(county="320115")


@pytest.fixture
def staff(line):
    return {
        "agent": line.staff(Role.VILLAGE_AGENT),
        "township": line.staff(Role.TOWNSHIP_CLERK),
        "township2": line.staff(Role.TOWNSHIP_CLERK, username="township_second"),
        "approver": line.staff(Role.COUNTY_APPROVER),
        "county_clerk": line.staff(Role.COUNTY_CLERK),
    }


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def proof(name: str = "proof.pdf", content: bytes = b"%PDF-1.4 proof") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/pdf")


def years_ago(years: int, days: int = 0) -> dt.date:
    today = timezone.localdate()
    return today.replace(year=today.year - years) - dt.timedelta(days=days)


def person_links(html: str) -> int:
    return len(re.findall(r'href="/enrollment/persons/\d+/"', html))


def field_html(html: str, name: str) -> str:
    """The markup of one form field block (label, input, errors), up to the next block."""
    start = html.index(f'id="field-{name}"')
    end = html.find('class="field', start + 1)
    return html[start : end if end != -1 else len(html)]


def field_errors(html: str, name: str) -> list[str]:
    block = field_html(html, name)
    match = re.search(r'<ul class="errorlist"[^>]*>(.*?)</ul>', block, re.S)
    return re.findall(r"<li>(.*?)</li>", match.group(1), re.S) if match else []


def registration_data(line, **overrides) -> dict[str, str]:
    data = {
        "village": line.village.code,
        "name": "李秀英",
        "id_number": idnumber.make(line.village.code[:6], dt.date(1975, 3, 8), 22),
        "phone": "13800000000",
        "address": "幸福村1组8号",
        "social_security_card_number": "",
        "bank_code": "",
        "bank_account": "",
    }
    data.update(overrides)
    return data


def submit(line, actor, *, name="李秀英", birth=dt.date(1975, 3, 8), sequence=22) -> Application:
    return services.registration_submit(
        actor=actor,
        village=line.village,
        id_number=idnumber.make(line.village.code[:6], birth, sequence),
        data={"name": name},
    )


# --- sign-in and pages for every role -------------------------------------------------------------


def test_pages_need_sign_in(client, line):
    person = make_person(line.village)
    for url in (
        reverse("portal:home"),
        reverse("enrollment:person_list"),
        reverse("enrollment:person_detail", args=[person.pk]),
        reverse("enrollment:register"),
        reverse("enrollment:check_id") + "?id_number=1",
    ):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_login_page_and_logout_by_post(client, staff):
    page = client.get(reverse("login"))
    assert page.status_code == 200
    assert "工作人员登录" in page.content.decode()

    response = client.post(reverse("login"), {"username": staff["agent"].username, "password": "pass-12345"})
    assert response.status_code == 302
    home = client.get(reverse("portal:home")).content.decode()
    assert f'action="{reverse("logout")}"' in home and 'method="post"' in home

    assert client.post(reverse("logout")).status_code == 302
    assert client.get(reverse("portal:home")).status_code == 302


@pytest.mark.parametrize("role", ALL_ROLES)
def test_every_page_renders_for_every_role(line, staff, role):
    user = line.staff(role)
    person = make_person(line.village, name="王建国")
    application = submit(line, staff["agent"], name="赵小红")
    client = client_for(user)

    pages = {
        reverse("portal:home"): 200,
        reverse("enrollment:person_list"): 200,
        reverse("enrollment:person_detail", args=[person.pk]): 200,
        reverse("enrollment:application_detail", args=[application.pk]): 200,
        reverse("enrollment:register"): 200 if role in SUBMITTERS else 403,
        reverse("enrollment:change", args=[person.pk]): 200 if role in SUBMITTERS else 403,
        reverse("enrollment:cancel", args=[person.pk]): 200 if role in SUBMITTERS else 403,
        reverse("enrollment:comparison"): 200 if role in COMPARERS else 403,
    }
    for url, status in pages.items():
        response = client.get(url)
        assert response.status_code == status, url
        if status == 200:
            body = response.content.decode()
            assert user.display_name in body  # header: who is signed in
            assert str(Role(role).label) in body  # their role
            assert user.agency.name in body  # their agency

    nav = client.get(reverse("portal:home")).content.decode()
    assert ("信息比对" in nav) == (role in COMPARERS)
    assert (reverse("enrollment:register") in nav) == (role in SUBMITTERS)


def test_no_cdn_and_htmx_from_our_static_files(client, staff):
    client.force_login(staff["agent"])
    body = client.get(reverse("enrollment:register")).content.decode()
    assert "/static/django_htmx/htmx-2.min.js" in body
    assert "/static/portal/portal.css" in body
    assert "https://" not in body and "http://" not in body


# --- person list and search ---------------------------------------------------------------------


def test_person_list_masks_identity_numbers_and_shows_status(line, staff):
    person = make_person(line.village, name="王建国")
    body = client_for(staff["township"]).get(reverse("enrollment:person_list")).content.decode()
    assert "王建国" in body
    assert person.id_number not in body
    assert idnumber.mask(person.id_number) in body
    assert "正常参保" in body


def test_person_search_by_initials_and_htmx_partial(line, staff):
    make_person(line.village, name="王建国")
    make_person(line.village, name="李四")
    client = client_for(staff["township"])

    full = client.get(reverse("enrollment:person_list"), {"q": "wjg"}).content.decode()
    assert "王建国" in full and "李四" not in full and "<html" in full

    partial = client.get(reverse("enrollment:person_list"), {"q": "李"}, headers={"HX-Request": "true"})
    body = partial.content.decode()
    assert "李四" in body and "王建国" not in body
    assert "<html" not in body  # only the table is swapped in
    assert "HX-Request" in partial["Vary"]


def test_person_list_hides_other_jurisdictions(line, foreign, staff):
    make_person(foreign.village, name="外县人")
    body = client_for(staff["approver"]).get(reverse("enrollment:person_list")).content.decode()
    assert "外县人" not in body


def test_person_list_is_paginated_by_fifty(line, staff):
    for n in range(51):
        make_person(line.village, name=f"参保人{n:02d}")
    client = client_for(staff["township"])
    first = client.get(reverse("enrollment:person_list")).content.decode()
    assert person_links(first) == 50
    assert "下一页" in first
    # the link itself leads to page 2 (the querystring tag brings its own "?")
    assert 'href="?page=2"' in first
    second = client.get(reverse("enrollment:person_list"), {"page": 2}).content.decode()
    assert person_links(second) == 1


def _person_list_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("enrollment:person_list"))
    assert response.status_code == 200
    return len(queries)


def test_person_list_queries_do_not_grow_with_rows(line, staff, django_assert_max_num_queries):
    client = client_for(staff["township"])
    for n in range(5):
        make_person(line.village, name=f"甲{n}")
    with_five = _person_list_queries(client)
    for n in range(45):
        make_person(line.village, name=f"乙{n}")

    with django_assert_max_num_queries(with_five):
        response = client.get(reverse("enrollment:person_list"))
    assert person_links(response.content.decode()) == 50


# --- person detail ------------------------------------------------------------------------------


def test_person_detail_shows_full_record_history_and_logs_the_read(line, staff, caplog):
    application = submit(line, staff["agent"], name="李秀英")
    services.application_accept(actor=staff["township"], application=application)
    services.application_approve(actor=staff["approver"], application=application)
    person = InsuredPerson.objects.get(pk=application.person_id)
    client = client_for(staff["township"])

    with caplog.at_level(logging.INFO, logger="portal.audit"):
        body = client.get(reverse("enrollment:person_detail", args=[person.pk])).content.decode()

    assert person.id_number in body  # the full record
    assert person.insurance_number in body
    # History: who, when, why, and what changed field by field.
    assert "参保登记申请" in body and "参保登记审批通过" in body
    assert staff["approver"].display_name in body
    assert "登记审核中" in body and "正常参保" in body  # status: old → new
    # The application with its events.
    assert "乡镇审核通过" in body and "县级审批通过" in body
    audit = [r for r in caplog.records if r.name == "portal.audit"]
    assert audit and f"person={person.pk}" in audit[-1].getMessage()
    assert person.id_number not in audit[-1].getMessage()


def test_person_out_of_scope_is_404(line, foreign, staff):
    person = make_person(foreign.village)
    client = client_for(staff["approver"])
    assert client.get(reverse("enrollment:person_detail", args=[person.pk])).status_code == 404
    assert client.get(reverse("enrollment:change", args=[person.pk])).status_code == 404


def test_person_detail_buttons_for_change_and_cancellation(line, staff):
    person = make_person(line.village)
    body = client_for(staff["agent"]).get(reverse("enrollment:person_detail", args=[person.pk])).content.decode()
    assert reverse("enrollment:change", args=[person.pk]) in body
    assert reverse("enrollment:cancel", args=[person.pk]) in body
    approver_body = (
        client_for(staff["approver"]).get(reverse("enrollment:person_detail", args=[person.pk])).content.decode()
    )
    assert reverse("enrollment:change", args=[person.pk]) not in approver_body


def test_special_group_recorded_by_township_clerk(line, staff):
    person = make_person(line.village)
    client = client_for(staff["township"])
    url = reverse("enrollment:special_group_add", args=[person.pk])
    assert "登记特殊群体认定" in client.get(reverse("enrollment:person_detail", args=[person.pk])).content.decode()

    refused = client.post(url, {"group": "", "certified_on": "2024-01-01"})
    assert refused.status_code == 400
    assert field_errors(refused.content.decode(), "group") == ["请选择特殊群体类别。"]

    response = client.post(url, {"group": "dibao", "certified_on": "2024-01-01"})
    assert response.status_code == 302
    membership = SpecialGroupMembership.objects.get(person=person)
    assert membership.certifying_department == "民政部门"
    assert "低保对象" in client.get(response["Location"]).content.decode()


def test_village_agent_may_not_record_special_groups(line, staff):
    person = make_person(line.village)
    response = client_for(staff["agent"]).post(
        reverse("enrollment:special_group_add", args=[person.pk]), {"group": "dibao", "certified_on": "2024-01-01"}
    )
    assert response.status_code == 403
    assert not SpecialGroupMembership.objects.exists()


# --- registration form --------------------------------------------------------------------------


def test_registration_form_offers_only_villages_in_scope(line, foreign, staff):
    other_village = region_line(township="102", village="301").village
    body = client_for(staff["township"]).get(reverse("enrollment:register")).content.decode()
    assert line.village.code in body
    assert other_village.code not in body  # another township of the same county
    assert foreign.village.code not in body


def test_registration_through_the_form(line, staff):
    client = client_for(staff["agent"])
    data = registration_data(line)

    response = client.post(reverse("enrollment:register"), data)

    application = Application.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("enrollment:application_detail", args=[application.pk])
    assert application.person.name == "李秀英"
    assert application.person.status == PersonStatus.PENDING
    page = client.get(response["Location"]).content.decode()
    assert "已提交李秀英的参保登记表" in page
    assert "待乡镇审核" in page


@pytest.mark.parametrize(
    ("id_number", "message"),
    [
        (idnumber.make("320412", dt.date(1975, 3, 8), 22)[:17] + "0", "校验位不正确"),
        ("32041219750308", "应为18位"),
    ],
)
def test_registration_shows_identity_error_next_to_its_field(line, staff, id_number, message):
    if id_number.endswith("0") and idnumber.check_character(id_number[:17]) == "0":
        id_number = id_number[:17] + "1"
    response = client_for(staff["agent"]).post(
        reverse("enrollment:register"), registration_data(line, id_number=id_number)
    )

    assert response.status_code == 400
    errors = field_errors(response.content.decode(), "id_number")
    assert len(errors) == 1 and message in errors[0]
    assert not field_errors(response.content.decode(), "name")
    assert not InsuredPerson.objects.exists() and not Application.objects.exists()


def test_registration_refuses_under_sixteen(line, staff):
    number = idnumber.make("320412", years_ago(16, days=-1), 31)  # sixteen tomorrow
    response = client_for(staff["agent"]).post(
        reverse("enrollment:register"), registration_data(line, id_number=number)
    )

    assert response.status_code == 400
    errors = field_errors(response.content.decode(), "id_number")
    assert len(errors) == 1 and "未满16周岁" in errors[0]
    assert not InsuredPerson.objects.exists()


def test_registration_refuses_duplicate_identity_number_with_a_link(line, staff):
    existing = make_person(line.village, name="王建国")
    response = client_for(staff["agent"]).post(
        reverse("enrollment:register"), registration_data(line, id_number=existing.id_number, name="王建国")
    )

    assert response.status_code == 400
    body = response.content.decode()
    errors = field_errors(body, "id_number")
    assert len(errors) == 1 and "已经参保登记" in errors[0]
    assert reverse("enrollment:person_detail", args=[existing.pk]) in body
    assert InsuredPerson.objects.count() == 1


def test_registration_shows_name_error_next_to_name(line, staff):
    response = client_for(staff["agent"]).post(reverse("enrollment:register"), registration_data(line, name=" "))
    assert field_errors(response.content.decode(), "name") == ["请填写姓名。"]
    assert not InsuredPerson.objects.exists()


def test_possible_duplicate_must_be_confirmed(line, staff):
    make_person(line.village, name="李秀英", birth_date=dt.date(1975, 3, 8))
    client = client_for(staff["agent"])
    data = registration_data(line)

    refused = client.post(reverse("enrollment:register"), data)
    body = refused.content.decode()
    assert refused.status_code == 400
    assert 'name="confirm_possible_duplicate"' in body
    assert "确认不是同一人" in body
    assert re.search(r'id="confirm-errors".*?同名同出生日期', body, re.S)
    assert InsuredPerson.objects.count() == 1

    accepted = client.post(reverse("enrollment:register"), {**data, "confirm_possible_duplicate": "on"})
    assert accepted.status_code == 302
    assert InsuredPerson.objects.count() == 2


def test_registration_in_a_village_out_of_scope_is_refused(line, foreign, staff):
    response = client_for(staff["agent"]).post(
        reverse("enrollment:register"), registration_data(line, village=foreign.village.code)
    )
    assert response.status_code == 400
    assert field_errors(response.content.decode(), "village") == ["所选村（社区）不在您的管辖范围内，请重新选择。"]
    assert not InsuredPerson.objects.exists()


def test_registration_form_is_refused_to_roles_that_do_not_enter_forms(staff, line):
    response = client_for(staff["approver"]).post(reverse("enrollment:register"), registration_data(line))
    assert response.status_code == 403
    assert not InsuredPerson.objects.exists()


# --- the as-you-type identity check -------------------------------------------------------------


def check(client, **params) -> str:
    response = client.get(reverse("enrollment:check_id"), params, headers={"HX-Request": "true"})
    assert response.status_code == 200
    return response.content.decode()


def test_check_shows_birth_date_sex_and_age(line, staff):
    number = idnumber.make("320412", dt.date(1975, 3, 8), 23)
    body = check(client_for(staff["agent"]), id_number=number)
    assert "1975-03-08" in body
    assert "男" in body
    assert f"{idnumber.age_on(dt.date(1975, 3, 8), timezone.localdate())}周岁" in body
    assert "<html" not in body


def test_check_shows_the_error_in_chinese(line, staff):
    client = client_for(staff["agent"])
    good = idnumber.make("320412", dt.date(1975, 3, 8), 23)
    bad = good[:17] + ("0" if good[17] != "0" else "1")
    assert "校验位不正确" in check(client, id_number=bad)
    assert "应为18位，现在是6位" in check(client, id_number="320412")
    young = idnumber.make("320412", years_ago(10), 23)
    body = check(client, id_number=young)
    assert "未满16周岁" in body
    assert f"{years_ago(10):%Y-%m-%d}" in body
    assert check(client, id_number="").strip() == ""


def test_check_links_a_duplicate_in_scope(line, staff):
    existing = make_person(line.village, name="王建国")
    body = check(client_for(staff["agent"]), id_number=existing.id_number)
    assert reverse("enrollment:person_detail", args=[existing.pk]) in body
    assert "王建国" in body


def test_check_names_only_place_and_status_of_a_duplicate_out_of_scope(line, foreign, staff):
    existing = make_person(foreign.village, name="外县人")
    body = check(client_for(staff["agent"]), id_number=existing.id_number)
    assert foreign.village.name in body
    assert "正常参保" in body
    assert "外县人" not in body
    assert f"/persons/{existing.pk}/" not in body


def test_check_warns_of_same_name_and_birth_date_with_a_checkbox(line, staff):
    other = make_person(line.village, name="李秀英", birth_date=dt.date(1975, 3, 8))
    number = idnumber.make("320412", dt.date(1975, 3, 8), 24)
    client = client_for(staff["agent"])
    body = check(client, id_number=number, village=line.village.code, name="李秀英")
    assert "确认不是同一人" in body
    assert 'name="confirm_possible_duplicate"' in body
    assert reverse("enrollment:person_detail", args=[other.pk]) in body
    assert " checked" not in body
    ticked = check(client, id_number=number, village=line.village.code, name="李秀英", confirm_possible_duplicate="on")
    assert " checked" in ticked
    assert "确认不是同一人" not in check(client, id_number=number, village=line.village.code, name="张三")


def test_check_is_for_roles_that_enter_forms_in_a_jurisdiction(staff):
    assert client_for(staff["approver"]).get(reverse("enrollment:check_id"), {"id_number": "1"}).status_code == 403
    agent = staff["agent"]
    agent.agency = None
    agent.save()
    assert client_for(agent).get(reverse("enrollment:check_id"), {"id_number": "1"}).status_code == 403


# --- application page, review buttons, separation of duties -------------------------------------


def buttons(client, application) -> set[str]:
    body = client.get(reverse("enrollment:application_detail", args=[application.pk])).content.decode()
    names = {
        "accept": "application_accept",
        "return": "application_return",
        "approve": "application_approve",
        "resubmit": "application_resubmit",
        "withdraw": "application_withdraw",
    }
    return {key for key, url in names.items() if reverse(f"enrollment:{url}", args=[application.pk]) in body}


def test_buttons_follow_role_state_and_who_entered_it(line, staff):
    application = submit(line, staff["agent"])

    assert buttons(client_for(staff["agent"]), application) == {"withdraw"}
    assert buttons(client_for(staff["township"]), application) == {"accept", "return"}
    assert buttons(client_for(staff["approver"]), application) == set()

    services.application_accept(actor=staff["township"], application=application)
    assert buttons(client_for(staff["township"]), application) == set()
    assert buttons(client_for(staff["approver"]), application) == {"approve", "return"}


def test_review_and_approval_through_the_buttons(line, staff):
    application = submit(line, staff["agent"])
    township, approver = client_for(staff["township"]), client_for(staff["approver"])

    response = township.post(reverse("enrollment:application_accept", args=[application.pk]))
    assert response.status_code == 302
    assert "乡镇审核通过，已报县级审批" in township.get(response["Location"]).content.decode()

    approver.post(reverse("enrollment:application_approve", args=[application.pk]))

    application.refresh_from_db()
    person = application.person
    person.refresh_from_db()
    assert application.status == ApplicationStatus.APPROVED
    assert person.status == PersonStatus.ACTIVE and person.insurance_number
    page = approver.get(reverse("enrollment:application_detail", args=[application.pk])).content.decode()
    assert staff["township"].display_name in page and staff["approver"].display_name in page
    assert "待乡镇审核 → 待县级审批" in page  # the events: from → to


def test_whoever_entered_an_application_cannot_review_it(line, staff):
    application = submit(line, staff["township"])  # a township clerk enters a form at the counter
    client = client_for(staff["township"])

    assert buttons(client, application) == {"withdraw"}
    response = client.post(reverse("enrollment:application_accept", args=[application.pk]), follow=True)

    assert "不能审核或审批自己录入的申请" in response.content.decode()
    application.refresh_from_db()
    assert application.status == ApplicationStatus.SUBMITTED
    assert buttons(client_for(staff["township2"]), application) == {"accept", "return"}


def test_wrong_state_is_a_message_not_an_error_page(line, staff):
    application = submit(line, staff["agent"])
    response = client_for(staff["approver"]).post(
        reverse("enrollment:application_approve", args=[application.pk]), follow=True
    )
    assert response.status_code == 200
    assert "不能进行此操作" in response.content.decode()


def test_return_needs_a_reason_shown_next_to_the_field(line, staff):
    application = submit(line, staff["agent"])
    client = client_for(staff["township"])

    refused = client.post(reverse("enrollment:application_return", args=[application.pk]), {"reason": " "})
    assert refused.status_code == 400
    assert field_errors(refused.content.decode(), "reason") == ["退回时请写明原因，以便录入人补正。"]

    client.post(reverse("enrollment:application_return", args=[application.pk]), {"reason": "住址不全"})
    application.refresh_from_db()
    assert application.status == ApplicationStatus.RETURNED


def test_returned_registration_corrected_and_resubmitted(line, staff):
    application = submit(line, staff["agent"])
    services.application_return(actor=staff["township"], application=application, reason="电话号码有误")
    client = client_for(staff["agent"])

    home = client.get(reverse("portal:home")).content.decode()
    assert reverse("enrollment:application_detail", args=[application.pk]) in home
    page = client.get(reverse("enrollment:application_detail", args=[application.pk])).content.decode()
    assert "电话号码有误" in page
    assert buttons(client, application) == {"resubmit", "withdraw"}

    refused = client.post(
        reverse("enrollment:application_resubmit", args=[application.pk]),
        {"name": "李秀英", "id_number": application.person.id_number, "phone": "138abc"},
    )
    assert refused.status_code == 400
    assert field_errors(refused.content.decode(), "phone") == ["联系电话只能包含数字和“-”。"]

    corrected = idnumber.make("320412", dt.date(1975, 3, 9), 22)  # the birth date was mistyped
    client.post(
        reverse("enrollment:application_resubmit", args=[application.pk]),
        {"name": "李秀英", "id_number": corrected, "phone": "13900000000"},
    )
    application.refresh_from_db()
    assert application.status == ApplicationStatus.SUBMITTED
    assert application.person.phone == "13900000000"
    assert application.person.id_number == corrected
    assert application.person.birth_date == dt.date(1975, 3, 9)


def test_returned_change_corrected_and_resubmitted(line, staff):
    person = make_person(line.village, phone="13000000000")
    application = services.change_submit(actor=staff["agent"], person=person, changes={"phone": "1311111111"})
    services.application_return(actor=staff["township"], application=application, reason="号码少一位")
    client = client_for(staff["agent"])
    page = client.get(reverse("enrollment:application_detail", args=[application.pk])).content.decode()
    assert 'value="1311111111"' in page  # the form comes back with what was asked for

    client.post(
        reverse("enrollment:application_resubmit", args=[application.pk]),
        {"name": person.name, "id_number": person.id_number, "phone": "13111111111"},
    )
    application.refresh_from_db()
    assert application.status == ApplicationStatus.SUBMITTED
    assert application.changes == {"phone": "13111111111"}


def test_withdraw_leaves_no_insured_person(line, staff):
    application = submit(line, staff["agent"])
    client = client_for(staff["agent"])
    client.post(reverse("enrollment:application_withdraw", args=[application.pk]))
    application.refresh_from_db()
    assert application.status == ApplicationStatus.WITHDRAWN
    assert application.person.status == PersonStatus.VOID
    page = client.get(reverse("enrollment:application_detail", args=[application.pk])).content.decode()
    assert "已撤回" in page
    assert reverse("enrollment:person_detail", args=[application.person_id]) not in page  # no record to open


def test_only_whoever_entered_it_withdraws(line, staff):
    application = submit(line, staff["agent"])
    other_agent = line.staff(Role.VILLAGE_AGENT, username="agent_two")
    response = client_for(other_agent).post(
        reverse("enrollment:application_withdraw", args=[application.pk]), follow=True
    )
    assert "只有录入人可以补正或撤回" in response.content.decode()
    application.refresh_from_db()
    assert application.status == ApplicationStatus.SUBMITTED


def test_actions_are_post_only(line, staff):
    application = submit(line, staff["agent"])
    client = client_for(staff["township"])
    for name in ("application_accept", "application_return", "application_approve", "application_withdraw"):
        assert client.get(reverse(f"enrollment:{name}", args=[application.pk])).status_code == 405
    application.refresh_from_db()
    assert application.status == ApplicationStatus.SUBMITTED


def test_actions_check_csrf(line, staff):
    application = submit(line, staff["agent"])
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff["township"])
    response = client.post(reverse("enrollment:application_accept", args=[application.pk]))
    assert response.status_code == 403
    application.refresh_from_db()
    assert application.status == ApplicationStatus.SUBMITTED


def test_application_out_of_scope_is_404(line, foreign, staff):
    application = submit(foreign, foreign.staff(Role.VILLAGE_AGENT))
    client = client_for(staff["approver"])
    assert client.get(reverse("enrollment:application_detail", args=[application.pk])).status_code == 404
    assert client.post(reverse("enrollment:application_approve", args=[application.pk])).status_code == 404


# --- change and cancellation ------------------------------------------------------------------------


def test_change_of_name_needs_proof_next_to_the_field(line, staff):
    person = make_person(line.village, name="王建国", phone="13000000000")
    client = client_for(staff["agent"])
    url = reverse("enrollment:change", args=[person.pk])
    page = client.get(url).content.decode()
    assert 'value="王建国"' in page and 'value="13000000000"' in page

    data = {"name": "王建华", "id_number": person.id_number, "phone": "13000000000", "reason": "户口簿更名"}
    refused = client.post(url, data)
    assert refused.status_code == 400
    assert "须上传" in field_errors(refused.content.decode(), "proof")[0]
    assert not Application.objects.exists()

    response = client.post(url, {**data, "proof": proof()})
    application = Application.objects.get()
    assert response["Location"] == reverse("enrollment:application_detail", args=[application.pk])
    assert application.changes == {"name": "王建华"}
    page = client.get(response["Location"]).content.decode()
    assert "王建国" in page and "王建华" in page  # old → new


def test_change_of_phone_needs_no_proof(line, staff):
    person = make_person(line.village, phone="13000000000")
    client_for(staff["agent"]).post(
        reverse("enrollment:change", args=[person.pk]),
        {"name": person.name, "id_number": person.id_number, "phone": "13111111111"},
    )
    assert Application.objects.get().changes == {"phone": "13111111111"}


def test_change_with_nothing_changed_says_so(line, staff):
    person = make_person(line.village)
    response = client_for(staff["agent"]).post(
        reverse("enrollment:change", args=[person.pk]), {"name": person.name, "id_number": person.id_number}
    )
    assert response.status_code == 400
    assert "没有任何需要变更的内容" in response.content.decode()


def test_cancellation_form(line, staff):
    person = make_person(line.village)
    client = client_for(staff["agent"])
    url = reverse("enrollment:cancel", args=[person.pk])
    page = client.get(url).content.decode()
    assert "出国（境）定居并丧失国籍" in page  # reasons from CancellationReason

    data = {"cancellation_reason": "death", "event_date": "2025-06-01"}
    refused = client.post(url, data)
    assert refused.status_code == 400
    assert "须上传证明材料" in field_errors(refused.content.decode(), "proof")[0]
    future = client.post(url, {**data, "event_date": "2999-01-01", "proof": proof()})
    assert field_errors(future.content.decode(), "event_date") == ["事件发生日期不能晚于今天。"]
    no_reason = client.post(url, {**data, "cancellation_reason": "", "proof": proof()})
    assert field_errors(no_reason.content.decode(), "cancellation_reason") == ["请选择注销原因。"]
    assert not Application.objects.exists()

    response = client.post(url, {**data, "proof": proof()})
    assert response.status_code == 302
    application = Application.objects.get()
    assert application.cancellation_reason == "death"
    assert application.event_date == dt.date(2025, 6, 1)


def test_proof_must_be_a_pdf_or_picture(line, staff):
    person = make_person(line.village)
    response = client_for(staff["agent"]).post(
        reverse("enrollment:cancel", args=[person.pk]),
        {
            "cancellation_reason": "death",
            "event_date": "2025-06-01",
            "proof": SimpleUploadedFile("x.html", b"<script>alert(1)</script>", content_type="text/html"),
        },
    )
    assert response.status_code == 400
    assert "只能上传" in field_errors(response.content.decode(), "proof")[0]
    assert not Application.objects.exists()


# --- proof files ---------------------------------------------------------------------------------


def cancellation(line, staff, **kwargs) -> Application:
    person = make_person(line.village)
    return services.cancellation_submit(
        actor=staff["agent"],
        person=person,
        cancellation_reason="death",
        event_date=dt.date(2025, 6, 1),
        proof=proof(**kwargs),
    )


def test_proof_is_streamed_to_users_in_scope_only(line, foreign, staff):
    application = cancellation(line, staff, content=b"%PDF-1.4 death certificate")
    url = reverse("enrollment:application_proof", args=[application.pk])

    page = client_for(staff["township"]).get(reverse("enrollment:application_detail", args=[application.pk]))
    assert url in page.content.decode()
    assert "/media/" not in page.content.decode()

    response = client_for(staff["township"]).get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"%PDF-1.4 death certificate"
    assert response["Content-Type"] == "application/pdf"
    assert "private" in response["Cache-Control"]

    outsider = client_for(foreign.staff(Role.COUNTY_APPROVER))
    assert outsider.get(url).status_code == 404
    anonymous = Client().get(url)
    assert anonymous.status_code == 302


def test_application_without_proof_has_no_download(line, staff):
    application = submit(line, staff["agent"])
    response = client_for(staff["township"]).get(reverse("enrollment:application_proof", args=[application.pk]))
    assert response.status_code == 404


# --- comparison with the employees' register --------------------------------------------------------


def test_comparison_upload_flags_and_resolve(line, staff):
    person = make_person(line.village, name="王建国")
    client = client_for(staff["county_clerk"])
    upload = SimpleUploadedFile("职工名单.csv", f"身份证号,单位名称\n{person.id_number},常州某厂\n".encode())

    response = client.post(reverse("enrollment:comparison"), {"file": upload}, follow=True)
    body = response.content.decode()
    assert "发现重复参保1人" in body
    assert "王建国" in body and "常州某厂" in body
    assert person.id_number not in body  # masked in the list

    flag = DualEnrollmentFlag.objects.get()
    person_page = client.get(reverse("enrollment:person_detail", args=[person.pk])).content.decode()
    assert "重复参保疑点" in person_page and "常州某厂" in person_page

    client.post(reverse("enrollment:flag_resolve", args=[flag.pk]), {"resolution": "已核实，办理注销"})
    flag.refresh_from_db()
    assert flag.resolved_at is not None and flag.resolution == "已核实，办理注销"
    person_page = client.get(reverse("enrollment:person_detail", args=[person.pk])).content.decode()
    assert "已核实，办理注销" in person_page and staff["county_clerk"].display_name in person_page
    assert "没有待处理的疑点" in client.get(reverse("enrollment:comparison")).content.decode()


def test_comparison_upload_errors_next_to_the_file_field(staff):
    client = client_for(staff["approver"])
    wrong_type = client.post(reverse("enrollment:comparison"), {"file": SimpleUploadedFile("a.txt", b"x")})
    assert "只能上传" in field_errors(wrong_type.content.decode(), "file")[0]
    empty = client.post(reverse("enrollment:comparison"), {"file": SimpleUploadedFile("a.csv", b"\n\n")})
    assert field_errors(empty.content.decode(), "file")


def test_resolving_a_flag_is_for_county_roles(line, staff):
    person = make_person(line.village)
    load = services.employee_register_load(
        actor=staff["county_clerk"], file_name="a.csv", content=f"身份证号\n{person.id_number}\n".encode()
    )
    flag = load.flags.get()
    response = client_for(staff["township"]).post(
        reverse("enrollment:flag_resolve", args=[flag.pk]), {"resolution": "x"}
    )
    assert response.status_code == 403
    flag.refresh_from_db()
    assert flag.resolved_at is None
