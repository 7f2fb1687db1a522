"""The round trip: a source region exported as a package (``export_factories.source_world``), the package
test-loaded and imported, and every person's balance, each account component and the contribution history
equal to the fen on the other side.

Twice: the package as exported (its persons are in this register, so the import re-homes them), and the same
package as another system would send it, the identity numbers being new here (so the import creates everyone).
"""

import csv
import datetime as dt
import io
import json
import zipfile
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from benefits.tests.factories import make_parameters
from contributions.models import Contribution
from contributions.tests.factories import make_policy
from enrollment.models import InsuredPerson, PersonStatus
from enrollment.tests.factories import new_id_number
from funds.models import IndividualAccount, LedgerEntry
from migration import layout, mapping, testload
from migration.export import package_export
from migration.importer import import_run, import_start
from migration.models import ImportStatus, StagedPerson
from migration.tests.export_factories import freeze, source_world
from migration.tests.testload_factories import csv_bytes, manifest_for, zip_of

D = Decimal
pytestmark = pytest.mark.django_db

COMPONENTS = ("personal", "government_subsidy", "collective", "donation", "government_paid", "interest")


def _account(person: InsuredPerson) -> dict[str, Decimal] | None:
    account = IndividualAccount.objects.filter(person=person).first()
    if account is None:
        return None
    figures = {c: getattr(account, f"balance_{c}") for c in COMPONENTS}
    figures["balance"] = account.balance
    # the cached balance is the ledger's
    assert sum(LedgerEntry.objects.filter(account=account).values_list("amount", flat=True), D(0)) == account.balance
    return figures


def _history(person: InsuredPerson) -> list[tuple]:
    return list(
        Contribution.objects.filter(person=person)
        .order_by("year")
        .values_list("year", "tier_amount", "personal_amount", "government_subsidy")
    )


def _exported_persons(world) -> list[InsuredPerson]:
    return [world.wang, world.li, world.zhao, world.qian, world.sun]


def _ready(world) -> None:
    """Frozen, every village mapped to itself; the source's tier schedule (the package's 2016 choice is in it),
    the target's schedule (its lowest tier the default) and the target's pension parameters."""
    make_policy(world.source, pooling_region=world.source.pooling_region, valid_from=dt.date(2016, 1, 1))
    make_policy(world.target, pooling_region=world.target.pooling_region)
    make_parameters(world.target, valid_from=dt.date(2012, 1, 1), central_minimum="70", local_top_up="50")
    freeze(world)
    mapping.mapping_identity(actor=world.supervisor, project=world.project)


def _clean_load(world, package):
    load = testload.testload_run(
        testload.testload_start(actor=world.supervisor, project=world.project, package=package).pk
    )
    blocking = list(load.findings.filter(severity="blocking").values_list("kind", "message")[:5])
    assert load.clean, blocking
    return load


def _import(world, package):
    run = import_start(actor=world.supervisor, project=world.project, package=package)
    return import_run(run.pk, chunk_size=2)


def test_an_exported_region_is_rehomed_with_every_figure_unchanged():
    # given the source region frozen, every village mapped to itself, and its figures before
    world = source_world()
    _ready(world)
    before = {p.id_number: (_account(p), _history(p), p.insurance_number) for p in _exported_persons(world)}
    # when exported, test-loaded and imported
    package = package_export(actor=world.supervisor, project=world.project)
    _clean_load(world, package)
    run = _import(world, package)
    # then the balance total is the manifest's, everyone was re-homed, and every figure is as it was
    assert run.status == ImportStatus.DONE
    assert run.balance_imported == run.balance_expected == D("3762.34")
    assert (run.persons_rehomed, run.persons_created) == (5, 0)
    for person in _exported_persons(world):
        person.refresh_from_db()
        assert (_account(person), _history(person), person.insurance_number) == before[person.id_number]
        account = IndividualAccount.objects.filter(person=person).first()
        if account is not None:
            assert account.pooling_region_id == world.target.pooling_region.pk


def _renumbered(package) -> tuple[bytes, dict[str, str]]:
    """The package's files with every identity number replaced by a new one (same birth date and sex), the
    manifest's checksums made again; and the map old → new."""
    with package.file.open("rb") as handle, zipfile.ZipFile(handle) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    manifest = json.loads(members[layout.MANIFEST])
    rows = list(csv.reader(io.StringIO(members[layout.PERSONS].decode("utf-8"))))
    header, data = rows[0], rows[1:]
    at = {name: header.index(name) for name in ("id_number", "birth_date", "gender")}
    renumbered: dict[str, str] = {}
    for row in data:
        birth = row[at["birth_date"]]
        new = new_id_number("320411", dt.date.fromisoformat(birth), male=row[at["gender"]] == "1")
        renumbered[row[at["id_number"]]] = new
        row[at["id_number"]] = new
    files = {name: content for name, content in members.items() if name != layout.MANIFEST}
    files[layout.PERSONS] = csv_bytes(layout.PERSONS, data, header=header)
    new_manifest = manifest_for(files, manifest["totals"])
    return zip_of({layout.MANIFEST: json.dumps(new_manifest, ensure_ascii=False).encode(), **files}), renumbered


def test_a_package_of_new_persons_is_created_with_every_figure_to_the_fen():
    # given the exported package, as another system would send it: identity numbers new here
    world = source_world()
    _ready(world)
    exported = package_export(actor=world.supervisor, project=world.project)
    content, renumbered = _renumbered(exported)
    package = testload.package_upload(
        actor=world.supervisor,
        project=world.project,
        uploaded_file=SimpleUploadedFile("legacy.zip", content, content_type="application/zip"),
    )
    # when test-loaded and imported
    load = _clean_load(world, package)
    run = _import(world, package)
    # then everyone is created and the balance total is the manifest's
    assert run.status == ImportStatus.DONE
    assert (run.persons_rehomed, run.persons_created) == (0, 5)
    assert run.insurance_numbers_reissued == 5  # the originals still hold the package's numbers
    assert run.balance_imported == D("3762.34")
    assert StagedPerson.objects.filter(testload=load, person_id__isnull=True).count() == 0
    # and each new person carries the original's balance, components and contribution years to the fen
    for original in _exported_persons(world):
        copy = InsuredPerson.objects.get(id_number=renumbered[original.id_number])
        assert (copy.name, copy.birth_date, copy.sex, copy.region_code) == (
            original.name,
            original.birth_date,
            original.sex,
            original.region_code,
        )
        if original.status == PersonStatus.CANCELLED:
            assert copy.status == PersonStatus.CANCELLED
        was, now = _account(original), _account(copy)
        if was is None:
            assert now is None
            continue
        assert now["balance"] == was["balance"]
        # the package carries 代缴 and donations in one column (other_subsidy), which the import books as donation
        assert now["donation"] == was["donation"] + was["government_paid"]
        for component in ("personal", "government_subsidy", "collective", "interest"):
            assert now[component] == was[component], component
        assert _history(copy) == _history(original)
