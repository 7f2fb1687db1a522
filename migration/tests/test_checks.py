"""Every kind of finding, each from a package with one defect: its kind, file, line and column."""

import datetime as dt
import hashlib
import json

import pytest

from agencies.tests.factories import region_line
from benefits.models import Award, AwardCategory
from enrollment.tests.factories import make_person
from migration import checks, layout
from migration.tests.testload_factories import (
    ID_1,
    ID_2,
    build_zip,
    clean_rows,
    csv_bytes,
    kinds,
    make_scene,
    manifest_for,
    run_testload,
    totals_of,
    where,
    zip_of,
)

pytestmark = pytest.mark.django_db

P, A, C, R, T = layout.PERSONS, layout.ACCOUNTS, layout.CONTRIBUTIONS, layout.RECIPIENTS, layout.TIER_CHOICES


def spoiled(file: str, line: int, column: str, value: str):
    rows = clean_rows()
    rows.set(file, line, column, value)
    return build_zip(rows)


def blocking_kinds(load) -> set[str]:
    return set(load.findings.filter(severity="blocking").values_list("kind", flat=True))


@pytest.mark.parametrize(
    ("file", "line", "column", "value", "kind", "expected"),
    [
        (P, 3, "birth_date", "1950-02-30", "value_invalid", {"value_invalid"}),
        (P, 2, "gender", "男", "value_invalid", {"value_invalid"}),
        (C, 3, "year", "２０１５", "value_invalid", {"value_invalid"}),
        (P, 2, "status", "", "value_invalid", {"value_invalid"}),
        (P, 2, "id_number", ID_1[:17] + ("0" if ID_1[17] != "0" else "1"), "id_number_invalid", None),
        (R, 2, "start_month", "2010-13", "value_invalid", {"value_invalid"}),
        (A, 4, "interest", "1.105", "value_invalid", None),
        (A, 3, "collective", "-50.00", "negative_amount", None),
        (A, 2, "balance", "1475.51", "account_parts_mismatch", None),
        (P, 4, "id_number", ID_1, "id_number_duplicate", None),
        (P, 4, "region_code", "320411001999", "region_unmapped", {"region_unmapped"}),
        (R, 2, "start_month", "2010-02", "recipient_under_age", {"recipient_under_age"}),
        (T, 2, "tier", "550.00", "tier_not_in_schedule", {"tier_not_in_schedule"}),
    ],
)
def test_one_defect_one_kind(file, line, column, value, kind, expected):
    scene = make_scene()
    load = run_testload(scene, spoiled(file, line, column, value))
    assert (file, line, column) in where(load, kind), list(load.findings.values_list("kind", "message"))
    if expected is not None:
        assert blocking_kinds(load) == expected


def test_a_recipient_whose_person_is_not_receiving():
    scene = make_scene()
    load = run_testload(scene, spoiled(P, 3, "status", "contributing"))
    assert where(load, "recipient_not_receiving") == [(R, 2, "insurance_no")]
    assert blocking_kinds(load) == {"recipient_not_receiving"}


def test_a_tier_choice_for_a_year_without_a_policy():
    scene = make_scene()
    load = run_testload(scene, spoiled(T, 2, "year", "2005"))
    assert where(load, "tier_not_in_schedule") == [(T, 2, "tier")]
    assert "没有2005年度的缴费政策" in load.findings.get(kind="tier_not_in_schedule").message


def test_value_invalid_for_full_width_digits_names_the_column():
    scene = make_scene()
    load = run_testload(scene, spoiled(C, 3, "year", "２０１５"))
    message = load.findings.get(kind="value_invalid").message
    assert "year" in message and "四位年份" in message


def test_a_negative_balance_and_a_wrong_manifest_total():
    scene = make_scene()
    rows = clean_rows()
    good = totals_of(rows)
    load = run_testload(scene, build_zip(rows, manifest_patch={"totals": {**good, "account_balance": "2616.84"}}))
    # 1475.50 + 770.25 + 371.10 = 2616.85: a fen short in the manifest
    assert where(load, "totals_mismatch") == [(layout.MANIFEST, None, "account_balance")]
    assert where(load, "balance_total_mismatch") == [(A, None, "balance")]
    assert "2616.85" in load.findings.get(kind="balance_total_mismatch").message


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("persons", 4),
        ("recipients", 0),
        ("pooled_account_balance", "0.00"),
        ("contributions_personal", "1500.01"),
        ("contributions_subsidy", "300.01"),
    ],
)
def test_each_manifest_total_is_checked(key, value):
    scene = make_scene()
    rows = clean_rows()
    load = run_testload(scene, build_zip(rows, manifest_patch={"totals": {**totals_of(rows), key: value}}))
    assert where(load, "totals_mismatch") == [(layout.MANIFEST, None, key)]
    assert blocking_kinds(load) == {"totals_mismatch"}


def test_files_missing_rows_and_sha256_not_as_the_manifest_says():
    scene = make_scene()
    rows = clean_rows()
    made = {name: csv_bytes(name, data) for name, data in rows.files.items()}
    changed = csv_bytes(C, rows[C][:2])  # a line lost in transit
    manifest = manifest_for(made, totals_of(rows))
    content = zip_of(
        {
            layout.MANIFEST: json.dumps(manifest).encode(),
            **{name: data for name, data in made.items() if name != R},
            C: changed,
        }
    )
    load = run_testload(scene, content)
    assert where(load, "file_missing") == [(R, None, "")]
    assert where(load, "row_count_mismatch") == [(C, None, "")]
    assert where(load, "sha256_mismatch") == [(C, None, "")]
    assert load.findings.get(kind="sha256_mismatch").message.count(hashlib.sha256(changed).hexdigest()) == 1


def test_header_missing_and_unknown_columns():
    scene = make_scene()
    rows = clean_rows()
    header = [c for c in layout.COLUMNS[A] if c != "interest"] + ["remark"]
    body = [[v for c, v in zip(layout.COLUMNS[A], row, strict=True) if c != "interest"] + [""] for row in rows[A]]
    load = run_testload(scene, build_zip(rows, files={A: csv_bytes(A, body, header=header)}))
    assert where(load, "header_missing_column") == [(A, 1, "interest")]
    assert where(load, "header_unknown_column") == [(A, 1, "remark")]


def test_orphan_rows_in_each_dependent_file():
    scene = make_scene()
    rows = clean_rows()
    rows.set(A, 3, "insurance_no", "Y9")
    rows.set(C, 4, "insurance_no", "Y9")
    rows.set(R, 2, "insurance_no", "Y9")
    rows.set(T, 2, "insurance_no", "Y9")
    load = run_testload(scene, build_zip(rows))
    assert where(load, "orphan_row") == [
        (A, 3, "insurance_no"),
        (C, 4, "insurance_no"),
        (R, 2, "insurance_no"),
        (T, 2, "insurance_no"),
    ]
    # X0002 and X0003 lost their accounts rows / kept theirs: X0002's went to Y9
    assert where(load, "person_without_account") == [(P, 3, "insurance_no")]


def test_insurance_numbers_repeated_in_persons_and_a_year_twice_in_contributions():
    scene = make_scene()
    rows = clean_rows()
    rows.set(P, 4, "insurance_no", "X0001")
    rows.set(C, 3, "year", "2014")
    load = run_testload(scene, build_zip(rows))
    assert (P, 4, "insurance_no") in where(load, "insurance_no_duplicate")
    assert (C, 3, "insurance_no") in where(load, "insurance_no_duplicate")


def test_a_contribution_year_after_the_freeze():
    scene = make_scene()
    load = run_testload(scene, spoiled(C, 4, "year", "2016"))
    assert where(load, "contribution_after_freeze") == [(C, 4, "year")]


def test_persons_already_in_the_register():
    scene = make_scene()
    elsewhere = region_line(county="320413", township="001", village="001")
    # given: the first is enrolled in the target and receives there; the second lives in the source (re-homed);
    # a stranger holds the third's insurance number; a fourth person lives in a third county
    in_target = make_person(scene.target.village, id_number=ID_1, birth_date=dt.date(1970, 5, 17))
    Award.objects.create(
        person=in_target,
        region_code=in_target.region_code,
        pooling_region=scene.target.pooling_region,
        category=AwardCategory.MONTHLY_PENSION,
        start_month=dt.date(2015, 1, 1),
        birth_date=in_target.birth_date,
        years_paid=15,
        account_divisor=139,
        approved_by=scene.supervisor,
    )
    make_person(scene.source.village, id_number=ID_2, birth_date=dt.date(1950, 3, 10))
    stranger = make_person(elsewhere.village)
    stranger.insurance_number = "X0003"
    stranger.save()
    rows = clean_rows()
    other = make_person(elsewhere.village)
    rows.set(P, 4, "id_number", other.id_number)
    rows.set(P, 4, "birth_date", other.birth_date.isoformat())

    load = run_testload(scene, build_zip(rows))

    assert where(load, "already_enrolled_in_target") == [(P, 2, "id_number")]
    assert where(load, "already_receiving_in_target") == [(P, 2, "id_number")]
    assert where(load, "rehome") == [(P, 3, "id_number")]
    assert where(load, "enrolled_elsewhere") == [(P, 4, "id_number")]
    assert where(load, "insurance_no_taken") == [(P, 4, "insurance_no")]
    assert {"rehome", "insurance_no_taken"} <= kinds(load)
    assert load.findings.get(kind="rehome").severity == "warning"


def test_a_clean_package_has_every_kind_registered():
    # Every kind a check or the reader writes is in the registry the report reads.
    written = {
        "package_unreadable", "file_missing", "row_count_mismatch", "sha256_mismatch", "header_missing_column",
        "header_unknown_column", "encoding_error", "csv_malformed", "value_invalid", "negative_amount",
        "totals_mismatch", "account_parts_mismatch", "balance_total_mismatch", "id_number_invalid",
        "id_number_duplicate", "insurance_no_duplicate", "already_enrolled_in_target",
        "already_receiving_in_target", "enrolled_elsewhere", "orphan_row", "region_unmapped",
        "recipient_under_age", "recipient_not_receiving", "contribution_after_freeze", "tier_not_in_schedule",
        "rehome", "insurance_no_taken", "person_without_account", "rehome_balance_mismatch", "pooled_not_folded",
        "value_too_long", "manifest_region_mismatch", "birth_date_mismatch", "recipient_total_mismatch",
    }  # fmt: skip
    assert set(checks.KINDS) == written
