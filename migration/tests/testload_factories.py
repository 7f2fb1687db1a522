"""Small merger packages built by hand for the test-load tests: a clean one, and ways to spoil it.

``clean_rows()`` gives three persons of the source (one receiving), their accounts, contributions, the
recipient and a tier choice; ``build_zip`` writes them with a manifest whose counts, SHA-256 and totals are
right unless a test says otherwise.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from decimal import Decimal

from django.core.files.uploadedfile import SimpleUploadedFile

from agencies.models import Role
from agencies.tests.factories import RegionLine, region_line
from contributions.tests.factories import make_policy
from enrollment import idnumber
from migration import layout, mapping, testload
from migration.models import MergerProject, TestLoad
from migration.services import project_create

ID_1 = idnumber.make("320411", dt.date(1970, 5, 17), 11)
ID_2 = idnumber.make("320411", dt.date(1950, 3, 10), 22)
ID_3 = idnumber.make("320411", dt.date(1980, 1, 1), 31)
SOURCE_VILLAGE = "320411001001"


@dataclass
class Scene:
    source: RegionLine
    target: RegionLine
    supervisor: object
    project: MergerProject


def make_scene() -> Scene:
    """Xinbei (320411) joining Wujin's pooling region (320412) of the city 3204; source villages mapped to
    themselves; the source's tier schedule from 2012 on."""
    source = region_line(county="320411", township="001", village="001")
    target = region_line(county="320412", township="001", village="001")
    supervisor = source.staff(Role.CITY_SUPERVISOR)
    make_policy(source, pooling_region=source.pooling_region)
    project = project_create(
        actor=supervisor,
        name="新北区并轨",
        source_pooling_region=source.pooling_region,
        target_pooling_region=target.pooling_region,
        cutover_date=dt.date(2016, 1, 1),
        source_tiers_until=dt.date(2016, 6, 30),
        deemed_years_until=dt.date(2016, 1, 1),
    )
    mapping.mapping_identity(actor=supervisor, project=project)
    return Scene(source, target, supervisor, project)


@dataclass
class Rows:
    """The data rows of each file, in the layout's column order, as text."""

    files: dict[str, list[list[str]]] = field(default_factory=dict)

    def __getitem__(self, name: str) -> list[list[str]]:
        return self.files[name]

    def set(self, name: str, line: int, column: str, value: str) -> None:
        """Change one value; ``line`` as in the file (the header is line 1)."""
        self.files[name][line - 2][layout.COLUMNS[name].index(column)] = value


def clean_rows() -> Rows:
    return Rows(
        {
            layout.PERSONS: [
                [
                    "X0001",
                    ID_1,
                    "张一",
                    "1",
                    "1970-05-17",
                    "rural",
                    SOURCE_VILLAGE,
                    "新北村1号",
                    "13800000001",
                    "ABC",
                    "6222000000000001",
                    "contributing",
                    "2010-01-01",
                    "",
                    "0",
                ],
                [
                    "X0002",
                    ID_2,
                    "李二",
                    "2",
                    "1950-03-10",
                    "rural",
                    SOURCE_VILLAGE,
                    "",
                    "",
                    "ABC",
                    "6222000000000002",
                    "receiving",
                    "2009-12-01",
                    "dibao",
                    "2",
                ],
                [
                    "X0003",
                    ID_3,
                    "王三",
                    "1",
                    "1980-01-01",
                    "urban",
                    SOURCE_VILLAGE,
                    "",
                    "",
                    "",
                    "",
                    "contributing",
                    "2011-06-01",
                    "",
                    "",
                ],
            ],
            layout.ACCOUNTS: [
                ["X0001", "1200.00", "240.00", "0.00", "0.00", "35.50", "0.00", "1475.50", "2015-12-26"],
                ["X0002", "500.00", "100.00", "50.00", "0.00", "20.25", "100.00", "770.25", "2015-12-26"],
                ["X0003", "300.00", "60.00", "0.00", "10.00", "1.10", "0.00", "371.10", "2015-12-26"],
            ],
            layout.CONTRIBUTIONS: [
                ["X0001", "2014", "600.00", "600.00", "120.00", "0.00", "0.00", "2014-05-10", "bank_deduction"],
                ["X0001", "2015", "600.00", "600.00", "120.00", "0.00", "0.00", "2015-05-10", "bank_deduction"],
                ["X0003", "2015", "300.00", "300.00", "60.00", "0.00", "10.00", "2015-06-01", "bank_counter"],
            ],
            layout.RECIPIENTS: [
                ["X0002", "monthly_pension", "2010-04", "55.00", "5.40", "60.40", "ABC", "6222000000000002", "2015-12"],
            ],
            layout.TIER_CHOICES: [["X0001", "2016", "500.00"]],
        }
    )


def csv_bytes(name: str, rows: list[list[str]], *, encoding: str = "utf-8", header: list[str] | None = None) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header if header is not None else layout.COLUMNS[name])
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def totals_of(rows: Rows) -> dict:
    def total(name: str, column: str) -> str:
        at = layout.COLUMNS[name].index(column)
        return str(sum((Decimal(r[at]) for r in rows[name]), Decimal("0.00")))

    return {
        "persons": len(rows[layout.PERSONS]),
        "recipients": len(rows[layout.RECIPIENTS]),
        "account_balance": total(layout.ACCOUNTS, "balance"),
        "pooled_account_balance": total(layout.ACCOUNTS, "pooled"),
        "contributions_personal": total(layout.CONTRIBUTIONS, "personal"),
        "contributions_subsidy": total(layout.CONTRIBUTIONS, "gov_subsidy"),
    }


def manifest_for(files: dict[str, bytes], totals: dict, encoding: str = "utf-8") -> dict:
    listed = {}
    for name, content in files.items():
        lines = content.decode(encoding, errors="replace").splitlines()
        listed[name] = {
            "rows": len([line for line in lines[1:] if line]),
            "sha256": hashlib.sha256(content).hexdigest(),
        }
    return {
        "format": layout.FORMAT,
        "package_id": "XB-2015-001",
        "source_pooling_region": "320411",
        "source_name": "新北区",
        "target_pooling_region": "320412",
        "frozen_at": "2015-12-26T18:00:00+08:00",
        "interest_settled_through": "2015-12-26",
        "encoding": encoding,
        "files": listed,
        "totals": totals,
    }


def zip_of(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return out.getvalue()


def build_zip(
    rows: Rows | None = None,
    *,
    encoding: str = "utf-8",
    files: dict[str, bytes] | None = None,
    manifest_patch: dict | None = None,
    drop: tuple[str, ...] = (),
    manifest_files: dict[str, bytes] | None = None,
) -> bytes:
    """A package of ``rows``; ``files`` replaces a member's bytes after the manifest was made from
    ``manifest_files`` (default: the same bytes), so a file can disagree with its manifest."""
    rows = rows or clean_rows()
    made = {name: csv_bytes(name, data, encoding=encoding) for name, data in rows.files.items() if name not in drop}
    manifest = manifest_for(manifest_files or made, totals_of(rows), encoding)
    manifest.update(manifest_patch or {})
    members = {**made, **(files or {})}
    return zip_of({layout.MANIFEST: json.dumps(manifest, ensure_ascii=False).encode(), **members})


def run_testload(scene: Scene, content: bytes, name: str = "xinbei.zip") -> TestLoad:
    package = testload.package_upload(
        actor=scene.supervisor,
        project=scene.project,
        uploaded_file=SimpleUploadedFile(name, content, content_type="application/zip"),
    )
    load = testload.testload_start(actor=scene.supervisor, project=scene.project, package=package)
    return testload.testload_run(load.pk)


def kinds(load: TestLoad) -> set[str]:
    return set(load.findings.values_list("kind", flat=True))


def where(load: TestLoad, kind: str) -> list[tuple]:
    return list(load.findings.filter(kind=kind).order_by("id").values_list("file", "line", "column"))
