"""数据封存: the database refuses every write under a frozen prefix, whatever path it takes, and nothing else."""

import datetime as dt

import pytest
from django.core.management import call_command
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.test import RequestFactory

from agencies.errors import Conflict
from agencies.freeze import (
    _existing_triggers,
    freeze_bypass,
    freeze_lift,
    freeze_set,
    frozen_label_for,
    frozen_prefixes,
    frozen_refusal,
    guarded_children,
    guarded_tables,
    guards_sync,
)
from agencies.models import Region, RegionFreeze, RegionLevel, Role
from agencies.tests.factories import RegionFactory, region_line
from enrollment.models import InsuredPerson, SpecialGroup, SpecialGroupMembership
from enrollment.tests.factories import make_person
from portal.middleware import FrozenRefusalMiddleware

LABEL = "新北区并入常州市本级（并轨项目 #3）"
MESSAGE = f"该记录所属地区的数据已因“{LABEL}”封存，暂不能修改。"


def refused(write) -> Conflict:
    """Run a write in its own savepoint, expect the freeze to refuse it, and return the clerk's refusal."""
    with pytest.raises(DatabaseError) as caught, transaction.atomic():
        write()
    refusal = frozen_refusal(caught.value)
    assert refusal is not None, caught.value
    return refusal


@pytest.fixture
def places():
    frozen = region_line(county="320411")  # 新北区
    open_ = region_line(county="320412")  # 武进区
    return frozen, open_


@pytest.fixture
def people(places):
    frozen, open_ = places
    return make_person(frozen.village, name="李封存"), make_person(open_.village, name="王照常")


@pytest.mark.django_db
def test_nothing_frozen_means_no_triggers(people):
    assert _existing_triggers(connection) == []
    assert guards_sync() == 0
    assert frozen_prefixes() == []


@pytest.mark.django_db
def test_a_freeze_guards_every_table_with_a_region_code(people):
    freeze_set(prefixes=["320411"], label=LABEL, reference="merger:3")

    tables = dict(guarded_tables())
    assert tables["agencies_region"] == "code"
    assert tables["enrollment_insuredperson"] == "region_code"
    assert tables["funds_individualaccount"] == "region_code"
    assert not any(name.startswith(("migration_", "enrollment_historical")) for name in tables)
    assert "agencies_regionfreeze" not in tables
    children = {child.table: child for child in guarded_children()}
    assert children["enrollment_specialgroupmembership"].parent_table == "enrollment_insuredperson"
    assert children["funds_ledgerentry"].fk_column == "account_id"
    assert not set(children) & set(tables)
    # Three triggers (insert, update, delete) per table for the one label.
    assert len(_existing_triggers(connection)) == 3 * (len(tables) + len(children))
    assert frozen_prefixes() == ["320411"]
    assert frozen_label_for("320411101201") == LABEL
    assert frozen_label_for("320412101201") is None


@pytest.mark.django_db
def test_orm_writes_under_the_prefix_are_refused_and_elsewhere_pass(places, people):
    frozen_place, open_place = places
    frozen, open_ = people
    freeze_set(prefixes=["320411"], label=LABEL, reference="merger:3")

    # update, delete, insert under the prefix: refused, with the merger named
    def rename():
        InsuredPerson.objects.filter(pk=frozen.pk).update(name="改名")

    assert refused(rename).message == MESSAGE
    assert refused(lambda: InsuredPerson.objects.filter(pk=frozen.pk).delete()).status_code == 409
    refused(lambda: make_person(frozen_place.village, name="新人"))
    refused(lambda: Region.objects.filter(code=frozen_place.village.code).update(name="新村名"))
    refused(
        lambda: RegionFactory(code="320411101202", name="新村", level=RegionLevel.VILLAGE, parent=frozen_place.township)
    )
    # moving a person into the frozen area is a write to it
    refused(
        lambda: InsuredPerson.objects.filter(pk=open_.pk).update(
            region_code=frozen_place.village.code, village=frozen_place.village
        )
    )
    frozen.refresh_from_db()
    assert frozen.name == "李封存"
    assert InsuredPerson.objects.filter(village=frozen_place.village).count() == 1

    # elsewhere: business as usual
    InsuredPerson.objects.filter(pk=open_.pk).update(name="王改名")
    make_person(open_place.village, name="新参保")
    assert InsuredPerson.objects.filter(village=open_place.village).count() == 2


@pytest.mark.django_db
def test_rows_that_belong_to_a_frozen_row_are_frozen_with_it(places, people):
    frozen, open_ = people
    clerk = places[0].staff(Role.COUNTY_CLERK)
    membership = SpecialGroupMembership.objects.create(
        person=frozen, group=SpecialGroup.SUBSISTENCE, certified_on=dt.date(2014, 1, 1), recorded_by=clerk
    )
    freeze_set(prefixes=["320411"], label=LABEL, reference="merger:3")

    def add():
        SpecialGroupMembership.objects.create(
            person=frozen, group=SpecialGroup.SEVERE_DISABILITY, certified_on=dt.date(2015, 1, 1), recorded_by=clerk
        )

    assert refused(add).message == MESSAGE
    refused(lambda: SpecialGroupMembership.objects.filter(pk=membership.pk).update(certifying_department="民政"))
    refused(lambda: SpecialGroupMembership.objects.filter(pk=membership.pk).delete())
    # handing the row to a frozen person is a write to the frozen area too
    other = SpecialGroupMembership.objects.create(
        person=open_, group=SpecialGroup.SUBSISTENCE, certified_on=dt.date(2014, 1, 1), recorded_by=clerk
    )
    refused(lambda: SpecialGroupMembership.objects.filter(pk=other.pk).update(person=frozen))
    SpecialGroupMembership.objects.filter(pk=other.pk).update(certifying_department="民政")
    assert SpecialGroupMembership.objects.filter(person=frozen).count() == 1


@pytest.mark.django_db
def test_raw_sql_is_refused_too(people):
    frozen, open_ = people
    freeze_set(prefixes=["320411101"], label=LABEL, reference="merger:3")

    def raw_update():
        with connection.cursor() as cursor:
            cursor.execute("UPDATE enrollment_insuredperson SET name = %s WHERE id = %s", ["改名", frozen.pk])

    def raw_delete():
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM enrollment_insuredperson WHERE id = %s", [frozen.pk])

    assert refused(raw_update).message == MESSAGE
    refused(raw_delete)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE enrollment_insuredperson SET name = %s WHERE id = %s", ["王照旧", open_.pk])
    assert InsuredPerson.objects.get(pk=open_.pk).name == "王照旧"
    assert InsuredPerson.objects.get(pk=frozen.pk).name == "李封存"


@pytest.mark.django_db
def test_a_refusal_is_never_an_integrity_error(people):
    # Services read an IntegrityError as "someone else got there first": a freeze must not look like one.
    frozen, _ = people
    freeze_set(prefixes=["320411"], label=LABEL, reference="merger:3")
    with pytest.raises(DatabaseError) as caught, transaction.atomic():
        InsuredPerson.objects.filter(pk=frozen.pk).update(name="改名")
    assert not isinstance(caught.value, IntegrityError)
    expected = "OperationalError" if connection.vendor == "sqlite" else "InternalError"
    assert type(caught.value).__name__ == expected


@pytest.mark.django_db
def test_lifting_removes_the_guards(people):
    frozen, _ = people
    freeze_set(prefixes=["320411"], label=LABEL, reference="merger:3")
    # repeating the freeze changes nothing
    freeze_set(prefixes=["320411"], label=LABEL, reference="merger:3")
    assert RegionFreeze.objects.filter(lifted_at__isnull=True).count() == 1

    assert freeze_lift(reference="merger:3") == 1
    assert freeze_lift(reference="merger:3") == 0

    assert _existing_triggers(connection) == []
    InsuredPerson.objects.filter(pk=frozen.pk).update(name="解封后改名")
    assert InsuredPerson.objects.get(pk=frozen.pk).name == "解封后改名"
    assert RegionFreeze.objects.get().lifted_at is not None


@pytest.mark.django_db
def test_two_freezes_each_name_their_own_merger(places, people):
    frozen, open_ = people
    freeze_set(prefixes=["320411"], label=LABEL, reference="merger:3")
    freeze_set(prefixes=["320412101"], label="邹区镇划入新北区（并轨项目 #4）", reference="merger:4")

    assert refused(lambda: InsuredPerson.objects.filter(pk=frozen.pk).update(name="x")).message == MESSAGE
    other = refused(lambda: InsuredPerson.objects.filter(pk=open_.pk).update(name="x"))
    assert "邹区镇划入新北区（并轨项目 #4）" in other.message

    freeze_lift(reference="merger:3")
    InsuredPerson.objects.filter(pk=frozen.pk).update(name="x")
    refused(lambda: InsuredPerson.objects.filter(pk=open_.pk).update(name="x"))


@pytest.mark.django_db
def test_bypass_lets_its_own_transaction_write_and_no_other(places, people):
    frozen, _ = people
    freeze_set(prefixes=["320411"], label=LABEL, reference="merger:3")

    with transaction.atomic(), freeze_bypass():
        InsuredPerson.objects.filter(pk=frozen.pk).update(name="导入改名")
        make_person(places[0].village, name="导入新人")
    assert InsuredPerson.objects.get(pk=frozen.pk).name == "导入改名"

    # after the block the guard is back, in the same transaction too
    with transaction.atomic():
        with freeze_bypass():
            pass
        refused(lambda: InsuredPerson.objects.filter(pk=frozen.pk).update(name="再改"))


def test_bypass_outside_a_transaction_is_refused_in_autocommit(django_db_blocker):
    with django_db_blocker.unblock():
        assert not connection.in_atomic_block
        with pytest.raises(RuntimeError), freeze_bypass():
            pass


@pytest.mark.django_db
def test_a_database_error_that_is_not_a_freeze_is_left_alone():
    assert frozen_refusal(IntegrityError("UNIQUE constraint failed: x.y")) is None
    assert frozen_refusal(ValueError("PENSION")) is None


@pytest.mark.django_db
def test_browser_gets_the_message_with_409(people, rf: RequestFactory):
    frozen, _ = people
    freeze_set(prefixes=["320411"], label=LABEL, reference="merger:3")
    with pytest.raises(DatabaseError) as caught, transaction.atomic():
        InsuredPerson.objects.filter(pk=frozen.pk).update(name="x")
    middleware = FrozenRefusalMiddleware(lambda request: None)

    request = rf.post("/enrollment/persons/1/", HTTP_HX_REQUEST="true")
    request.htmx = True
    fragment = middleware.process_exception(request, caught.value)
    assert fragment.status_code == 409
    assert MESSAGE in fragment.content.decode()

    assert middleware.process_exception(request, ValueError("boom")) is None


@pytest.mark.django_db(transaction=True)
def test_a_flush_leaves_no_triggers_behind(places):
    freeze_set(prefixes=["320411"], label=LABEL, reference="merger:3")
    assert _existing_triggers(connection)

    call_command("flush", interactive=False, verbosity=0)

    assert _existing_triggers(connection) == []
    assert not RegionFreeze.objects.exists()
