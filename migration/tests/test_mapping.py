"""区划对照: loaded from a file all or nothing, confirmed one by one, or each source village kept as it is."""

import io

import pytest
from openpyxl import Workbook

from agencies.errors import Conflict, DomainError
from agencies.models import Region, RegionLevel
from agencies.tests.factories import RegionFactory
from migration import layout, mapping
from migration.models import MappingSource, PlaceMapping, Step, StepState
from migration.services import step_of
from migration.tests.testload_factories import SOURCE_VILLAGE, build_zip, clean_rows, make_scene, run_testload

pytestmark = pytest.mark.django_db


def village(township: Region, code: str) -> Region:
    return RegionFactory(code=code, name=f"村{code}", level=RegionLevel.VILLAGE, parent=township)


def test_identity_maps_each_source_village_to_itself_once():
    scene = make_scene()  # already ran it once
    assert list(PlaceMapping.objects.filter(project=scene.project).values_list("source_code", "target__code")) == [
        (SOURCE_VILLAGE, SOURCE_VILLAGE)
    ]
    village(scene.source.township, "320411001002")
    assert mapping.mapping_identity(actor=scene.supervisor, project=scene.project) == 1
    assert mapping.mapping_identity(actor=scene.supervisor, project=scene.project) == 0
    assert PlaceMapping.objects.filter(project=scene.project).count() == 2


def test_a_csv_file_is_loaded_and_replaces_earlier_rows():
    scene = make_scene()
    second = village(scene.target.township, "320412001002")
    content = (
        "原区划代码,新区划代码,原名称\n"
        f"{SOURCE_VILLAGE},{second.code},新北一村\n"
        f"320411009001,{scene.target.village.code},老村\n"
    ).encode("gbk")
    assert (
        mapping.mapping_load(actor=scene.supervisor, project=scene.project, content=content, file_name="对照.csv") == 2
    )
    rows = dict(PlaceMapping.objects.filter(project=scene.project).values_list("source_code", "target__code"))
    assert rows == {SOURCE_VILLAGE: second.code, "320411009001": scene.target.village.code}
    loaded = PlaceMapping.objects.get(project=scene.project, source_code="320411009001")
    assert (loaded.origin, loaded.source_name) == (MappingSource.FILE, "老村")


def test_an_xlsx_file_is_loaded():
    scene = make_scene()
    book = Workbook()
    sheet = book.active
    sheet.append(["原区划代码", "新区划代码"])
    sheet.append(["320411009001", scene.target.village.code])
    out = io.BytesIO()
    book.save(out)
    assert (
        mapping.mapping_load(actor=scene.supervisor, project=scene.project, content=out.getvalue(), file_name="a.xlsx")
        == 1
    )


def test_a_file_with_bad_rows_loads_nothing_and_names_every_bad_row():
    scene = make_scene()
    elsewhere = RegionFactory(code="320413001001", name="外村", level=RegionLevel.VILLAGE)
    content = (
        "原区划代码,新区划代码\n"
        f"320411009001,{scene.target.village.code}\n"
        f"32041100900X,{scene.target.village.code}\n"
        f"320411009001,{scene.target.village.code}\n"
        f"320411009003,{elsewhere.code}\n"
        "320411009004,320412001999\n"
        f"320411009005,{scene.target.township.code}\n"
    ).encode()
    with pytest.raises(DomainError) as caught:
        mapping.mapping_load(actor=scene.supervisor, project=scene.project, content=content, file_name="a.csv")
    message = caught.value.message
    for expected in ("第3行", "第4行：原区划代码320411009001与第2行重复", "第5行", "第6行", "第7行"):
        assert expected in message
    assert "第2行" not in message.replace("与第2行", "")
    assert not PlaceMapping.objects.filter(project=scene.project, source_code__startswith="320411009").exists()


def test_a_file_without_the_columns_is_refused():
    scene = make_scene()
    with pytest.raises(DomainError, match="原区划代码"):
        mapping.mapping_load(actor=scene.supervisor, project=scene.project, content=b"a,b\n1,2\n", file_name="a.csv")


def test_confirm_one_by_one_and_refuse_a_target_outside():
    scene = make_scene()
    found = mapping.mapping_confirm(
        actor=scene.supervisor, project=scene.project, source_code="320411009001", target_code=scene.target.village.code
    )
    assert (found.origin, found.confirmed_by, found.target) == (
        MappingSource.CLERK,
        scene.supervisor,
        scene.target.village,
    )
    assert found.confirmed_at is not None
    with pytest.raises(DomainError, match="不是系统中的村"):
        mapping.mapping_confirm(
            actor=scene.supervisor, project=scene.project, source_code="320411009001", target_code="320412001999"
        )


def test_unmapped_codes_come_from_the_source_villages_and_the_latest_testload():
    scene = make_scene()
    village(scene.source.township, "320411001002")
    rows = clean_rows()
    rows.set(layout.PERSONS, 4, "region_code", "320411777001")
    run_testload(scene, build_zip(rows))
    assert mapping.source_codes_unmapped(scene.project) == ["320411001002", "320411777001"]
    mapping.mapping_confirm(
        actor=scene.supervisor, project=scene.project, source_code="320411777001", target_code=scene.target.village.code
    )
    assert mapping.source_codes_unmapped(scene.project) == ["320411001002"]
    # and the next test-load finds every person placed
    load = run_testload(scene, build_zip(rows))
    assert "region_unmapped" not in load.counts


def test_nothing_changes_once_the_import_started():
    scene = make_scene()
    row = step_of(scene.project, Step.IMPORT)
    row.state = StepState.RUNNING
    row.save()
    with pytest.raises(Conflict, match="正式导入已开始"):
        mapping.mapping_identity(actor=scene.supervisor, project=scene.project)
