"""Two clerks registering one identity number at the same moment: one person, one clear refusal.

Real PostgreSQL, two connections (one per thread); the unique index decides, not Python.
"""

import datetime as dt
import threading
import time

import pytest
from django.db import connection, transaction

from agencies.errors import DomainError
from agencies.models import Role
from agencies.tests.factories import region_line
from enrollment import idnumber, services
from enrollment.models import Application, InsuredPerson

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
NUMBER = idnumber.make("320412", dt.date(1968, 8, 8), 41)


def _in_thread(target, results: list, key: str):
    def run():
        try:
            results.append((key, target()))
        except DomainError as refusal:
            results.append((key, refusal))
        finally:
            connection.close()

    return threading.Thread(target=run)


def test_second_registration_waits_on_the_first_and_is_refused():
    line = region_line()
    agent = line.staff(Role.VILLAGE_AGENT)
    township = line.staff(Role.TOWNSHIP_CLERK)
    first_inserted, release_first = threading.Event(), threading.Event()
    results: list = []

    def first():
        # Holds its transaction open after inserting, so the second must meet the uncommitted row.
        with transaction.atomic():
            application = services.registration_submit(
                actor=agent, village=line.village, id_number=NUMBER, data={"name": "甲"}
            )
            first_inserted.set()
            release_first.wait(10)
        return application

    def second():
        first_inserted.wait(10)
        return services.registration_submit(actor=township, village=line.village, id_number=NUMBER, data={"name": "乙"})

    threads = [_in_thread(first, results, "first"), _in_thread(second, results, "second")]
    for thread in threads:
        thread.start()
    first_inserted.wait(10)
    time.sleep(0.5)  # let the second reach the unique index and block there
    release_first.set()
    for thread in threads:
        thread.join(20)

    outcome = dict(results)
    assert isinstance(outcome["first"], Application)
    assert isinstance(outcome["second"], DomainError)
    assert outcome["second"].code == "duplicate_id"
    assert outcome["second"].field == "id_number"
    assert InsuredPerson.objects.filter(id_number=NUMBER).count() == 1
    assert InsuredPerson.objects.get(id_number=NUMBER).name == "甲"
    assert Application.objects.count() == 1


def test_many_simultaneous_registrations_make_one_person():
    line = region_line()
    clerks = [line.staff(Role.VILLAGE_AGENT, username=f"agent{i}") for i in range(4)]
    start = threading.Barrier(len(clerks))
    results: list = []

    def register(clerk):
        def run():
            start.wait(10)
            return services.registration_submit(
                actor=clerk, village=line.village, id_number=NUMBER, data={"name": clerk.username}
            )

        return run

    threads = [_in_thread(register(clerk), results, clerk.username) for clerk in clerks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)

    created = [value for _, value in results if isinstance(value, Application)]
    refused = [value for _, value in results if isinstance(value, DomainError)]
    assert len(created) == 1
    assert len(refused) == 3
    assert {refusal.code for refusal in refused} == {"duplicate_id"}
    assert InsuredPerson.objects.filter(id_number=NUMBER).count() == 1


def test_simultaneous_approvals_hand_out_distinct_insurance_numbers():
    line = region_line()
    agent = line.staff(Role.VILLAGE_AGENT)
    township = line.staff(Role.TOWNSHIP_CLERK)
    approvers = [line.staff(Role.COUNTY_APPROVER, username=f"approver{i}") for i in range(2)]
    applications = []
    for index in range(4):
        number = idnumber.make("320412", dt.date(1970, 1, 1 + index), 11)
        application = services.registration_submit(
            actor=agent, village=line.village, id_number=number, data={"name": f"人{index}"}
        )
        services.application_accept(actor=township, application=application)
        applications.append(application)
    start = threading.Barrier(len(applications))
    results: list = []

    def approve(application, approver):
        def run():
            start.wait(10)
            return services.application_approve(actor=approver, application=application)

        return run

    threads = [
        _in_thread(approve(application, approvers[index % 2]), results, str(index))
        for index, application in enumerate(applications)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)

    numbers = sorted(InsuredPerson.objects.values_list("insurance_number", flat=True))
    assert numbers == [f"320412{serial:08d}" for serial in range(1, 5)]
