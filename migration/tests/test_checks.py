"""Every kind of finding, each from a package with one defect: its kind, file, line and column."""

import datetime as dt
import hashlib
import json
from decimal import Decimal

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


# --- what the import relies on ----------------------------------------------------------------------------


def _rehomed_with_account(scene, **parts: str):
    """X0001 (张一, ID_1) already in the register in the source village, with an account posted through the
    ledger: personal, gov_subsidy and interest as given."""
    from funds.models import Component, EntryKind
    from funds.services import Posting, account_open, ledger_post

    person = make_person(scene.source.village, name="张一", id_number=ID_1, birth_date=dt.date(1970, 5, 17))
    account = account_open(person=person, opened_on=dt.date(2010, 1, 1))
    postings = [
        Posting(component, EntryKind.CONTRIBUTION, Decimal(parts[name]))
        for name, component in (
            ("personal", Component.PERSONAL),
            ("gov_subsidy", Component.GOVERNMENT_SUBSIDY),
            ("interest", Component.INTEREST),
        )
        if name in parts
    ]
    ledger_post(account=account, postings=postings, booked_on=dt.date(2015, 5, 10), reference="t", idempotency_key="t")
    return person


def test_a_rehomed_persons_account_equal_to_the_register_passes():
    scene = make_scene()
    # the package's X0001: personal 1200.00 + subsidy 240.00 + interest 35.50 = 1475.50, as in the register
    _rehomed_with_account(scene, personal="1200.00", gov_subsidy="240.00", interest="35.50")
    load = run_testload(scene, build_zip())
    assert "rehome" in kinds(load)
    assert load.blocking_count == 0, list(load.findings.values_list("kind", "message"))


def test_a_rehomed_persons_account_that_differs_from_the_register_is_blocking_with_each_part_named():
    scene = make_scene()
    # the register holds interest 30.00, the package 35.50: the balance 1470.00 against 1475.50
    _rehomed_with_account(scene, personal="1200.00", gov_subsidy="240.00", interest="30.00")
    load = run_testload(scene, build_zip())
    assert where(load, "rehome_balance_mismatch") == [(A, 2, "interest")]
    message = load.findings.get(kind="rehome_balance_mismatch").message
    assert "利息（interest）数据包35.50元、本系统30.00元" in message
    assert "余额（不含统筹账户）（balance）数据包1475.50元、本系统1470.00元" in message
    assert "个人缴费" not in message


def test_a_rehomed_person_with_an_account_on_one_side_only_is_blocking():
    scene = make_scene()
    # in the register without an account, the package has one (accounts.csv line 2)
    make_person(scene.source.village, name="张一", id_number=ID_1, birth_date=dt.date(1970, 5, 17))
    assert where(run_testload(scene, build_zip()), "rehome_balance_mismatch") == [(A, 2, "balance")]


def test_a_rehomed_person_with_a_register_account_and_no_package_account_is_blocking():
    scene = make_scene()
    _rehomed_with_account(scene, personal="1200.00", gov_subsidy="240.00", interest="35.50")
    rows = clean_rows()
    del rows[A][0]  # X0001's account row
    load = run_testload(scene, build_zip(rows))
    assert where(load, "rehome_balance_mismatch") == [(P, 2, "insurance_no")]


def test_pooled_money_without_folding_is_blocking():
    scene = make_scene()
    scene.project.fold_pooled = False
    scene.project.save(update_fields=["fold_pooled"])
    # X0002 (accounts.csv line 3) holds a pooled 100.00, and the manifest's pooled total says so
    load = run_testload(scene, build_zip())
    assert sorted(where(load, "pooled_not_folded"), key=str) == sorted(
        [(A, 3, "pooled"), (layout.MANIFEST, None, "pooled_account_balance")], key=str
    )
    assert "pooled_not_folded" in blocking_kinds(load)


@pytest.mark.parametrize(
    ("file", "line", "column", "value"),
    [
        (P, 2, "name", "张" * 51),  # the register's name holds 50
        (P, 2, "phone", "1" * 21),  # 20
        (P, 2, "bank_account", "6" * 33),  # 32
        (P, 2, "address", "村" * 201),  # 200: longer than staging, refused while reading
        (R, 2, "bank_account", "6" * 33),  # the award's 32
    ],
)
def test_a_value_longer_than_the_register_field_is_blocking(file, line, column, value):
    load = run_testload(make_scene(), spoiled(file, line, column, value))
    if column == "address":
        assert where(load, "value_invalid") == [(file, line, column)]
        return
    assert where(load, "value_too_long") == [(file, line, column)]
    assert "个字符，超过本系统上限" in load.findings.get(kind="value_too_long").message


def test_a_value_at_the_register_limit_passes():
    rows = clean_rows()
    rows.set(P, 2, "name", "张" * 50)
    rows.set(P, 2, "bank_account", "6" * 32)
    load = run_testload(make_scene(), build_zip(rows))
    assert load.blocking_count == 0, list(load.findings.values_list("kind", "message"))


@pytest.mark.parametrize("account", ["6222-0000-0001", "6222 000000000001", "６２２２"])
def test_a_bank_account_must_be_digits_only(account):
    load = run_testload(make_scene(), spoiled(R, 2, "bank_account", account))
    assert where(load, "value_invalid") == [(R, 2, "bank_account")]


def test_the_manifest_must_name_the_projects_pooling_regions():
    scene = make_scene()
    # written short or padded to twelve digits is the same region
    clean = run_testload(
        scene,
        build_zip(manifest_patch={"source_pooling_region": "320411000000", "target_pooling_region": "320412"}),
    )
    assert "manifest_region_mismatch" not in kinds(clean)
    load = run_testload(scene, build_zip(manifest_patch={"source_pooling_region": "320499", "package_id": "other"}))
    assert where(load, "manifest_region_mismatch") == [(layout.MANIFEST, None, "source_pooling_region")]
    load = run_testload(scene, build_zip(manifest_patch={"target_pooling_region": None, "package_id": "third"}))
    assert where(load, "manifest_region_mismatch") == [(layout.MANIFEST, None, "target_pooling_region")]


def test_a_birth_date_other_than_the_identity_numbers_is_blocking():
    # ID_1 says 1970-05-17
    load = run_testload(make_scene(), spoiled(P, 2, "birth_date", "1970-05-18"))
    assert where(load, "birth_date_mismatch") == [(P, 2, "birth_date")]
    assert "1970-05-17" in load.findings.get(kind="birth_date_mismatch").message


def test_a_monthly_total_below_its_parts_is_blocking_and_an_extra_is_not():
    scene = make_scene()
    # basic 55.00 + account 5.40 = 60.40
    load = run_testload(scene, spoiled(R, 2, "monthly_total", "60.39"))
    assert where(load, "recipient_total_mismatch") == [(R, 2, "monthly_total")]
    # 61.00: 0.60 more, kept by the import as the years addition
    load = run_testload(scene, spoiled(R, 2, "monthly_total", "61.00"))
    assert "recipient_total_mismatch" not in kinds(load)


def test_sums_are_exact_to_the_fen_however_large():
    # Twenty amounts whose sum in binary floating point rounds to ...334.49; the exact sum is ...334.50.
    from migration.models import StagedContribution, TestLoad

    amounts = [
        "699857815254.43",
        "615491807220.47",
        "586316524696.72",
        "792823736359.37",
        "922913861002.24",
        "420612874154.65",
        "162488605175.22",
        "759807433376.88",
        "406013580201.85",
        "752449374610.28",
        "838413383003.79",
        "863907275438.46",
        "574858771810.94",
        "391184652740.72",
        "852173270191.99",
        "427370777363.54",
        "772826284659.36",
        "334000646988.37",
        "236716394048.62",
        "279730280036.60",
    ]
    scene = make_scene()
    from migration.tests.import_factories import clean_testload

    load = clean_testload(scene.project, persons=[])
    StagedContribution.objects.bulk_create(
        [StagedContribution(testload=load, line=n, personal=Decimal(a)) for n, a in enumerate(amounts, start=2)]
    )
    assert TestLoad.objects.filter(pk=load.pk).exists()
    assert checks._sum("migration_stagedcontribution", "personal", load.pk) == Decimal("11689957348334.50")
