"""试导入: a package uploaded, read into the staging tables, checked, and its findings kept.

The live register is only read. Each file is streamed once: every value is checked and typed as it passes
(dictionaries of values already seen keep the per-row work to a lookup per field), and chunks of about 50,000
rows go to the staging table by ``COPY`` (PostgreSQL) or ``bulk_create`` (SQLite). The cross-row checks then
run as SQL (``migration.checks``). Killed half way, a test-load is run again from the start: its staged rows
and findings are dropped first.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from itertools import islice
from operator import getitem, itemgetter

from django.conf import settings
from django.core.files.base import File
from django.db import connection, models, transaction
from django.utils import timezone

from agencies.errors import DomainError
from agencies.records import file_record
from enrollment.models import InsuredPerson
from migration import checks, layout
from migration.models import (
    Finding,
    ImportRun,
    MergerPackage,
    MergerProject,
    PackageOrigin,
    PlaceMapping,
    StagedAccount,
    StagedContribution,
    StagedPerson,
    StagedRecipient,
    StagedTierChoice,
    Step,
    TestLoad,
    TestLoadStatus,
)
from migration.reader import CsvMember, Package, PackageRefused, open_package
from migration.records import merger_package_record
from migration.services import require_merger_user, step_fail, step_finish, step_of, step_progress, step_start

CHUNK_ROWS = 50_000
RUNNER_LOCK = 6_003  # the advisory lock class of test-loads (the key's second half is the test-load id)
_HASH_CHUNK = 1 << 20
_READ_SIZE = 1 << 20

STAGED_MODELS: dict[str, type[models.Model]] = {
    layout.PERSONS: StagedPerson,
    layout.ACCOUNTS: StagedAccount,
    layout.CONTRIBUTIONS: StagedContribution,
    layout.RECIPIENTS: StagedRecipient,
    layout.TIER_CHOICES: StagedTierChoice,
}

# --- values ------------------------------------------------------------------------------------------------
# A converter is a dict from the text of a field to the field as staged (a CSV field: empty is NULL for a
# typed column) or BAD. A value seen before costs one lookup; a new one is checked once by ``__missing__``.

BAD = object()
_MONEY = re.compile(r"-?[0-9]{1,12}(?:\.[0-9]{1,2})?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")
_YEAR = re.compile(r"(19|20)[0-9]{2}")
_SMALL_INT = re.compile(r"[0-9]{1,2}")
_REGION = re.compile(r"[0-9]{12}")


class _Converter(dict):
    def __init__(self, check: Callable[[str], object], cache: bool = True):
        super().__init__()
        self.check = check
        self.cache = cache

    def __missing__(self, key: str) -> object:
        value = self.check(key)
        if self.cache:
            self[key] = value
        return value


def _csv_field(value: str) -> str:
    """A value as a field of the CSV that COPY reads (quoted only when it must be)."""
    if '"' in value or "," in value or "\n" in value or "\r" in value:
        return '"' + value.replace('"', '""') + '"'
    return value


def _text(max_length: int, required: bool = False) -> Callable[[str], object]:
    def check(raw: str) -> object:
        value = raw.strip()
        if (required and not value) or len(value) > max_length:
            return BAD
        return _csv_field(value)

    return check


def _money(required: bool) -> Callable[[str], object]:
    def check(raw: str) -> object:
        value = raw.strip()
        if not value:
            # An empty part is no money of that kind; an empty required amount is a finding.
            return BAD if required else "0.00"
        return value if _MONEY.fullmatch(value) else BAD

    return check


def _date(required: bool) -> Callable[[str], object]:
    def check(raw: str) -> object:
        value = raw.strip()
        if not value:
            return BAD if required else ""
        if not _DATE.fullmatch(value):
            return BAD
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            return BAD
        return value

    return check


def _month(required: bool) -> Callable[[str], object]:
    def check(raw: str) -> object:
        value = raw.strip()
        if not value:
            return BAD if required else ""
        return value + "-01" if _MONTH.fullmatch(value) else BAD

    return check


def _year(raw: str) -> object:
    value = raw.strip()
    return value if _YEAR.fullmatch(value) else BAD


def _military_years(raw: str) -> object:
    value = raw.strip()
    if not value:
        return "0"
    return str(int(value)) if _SMALL_INT.fullmatch(value) else BAD


def _choice(values, required: bool = True) -> Callable[[str], object]:
    allowed = frozenset(values)

    def check(raw: str) -> object:
        value = raw.strip()
        if not value and not required:
            return ""
        return value if value in allowed else BAD

    return check


def _region(raw: str) -> object:
    value = raw.strip()
    return value if _REGION.fullmatch(value) else BAD


def _bank_account(raw: str) -> object:
    """Digits only: a pension paid to an account read wrongly goes to a stranger. Empty is no account."""
    value = raw.strip()
    return value if not value or (value.isascii() and value.isdigit() and len(value) <= 40) else BAD


def _special_groups(raw: str) -> object:
    parts = [part.strip() for part in raw.split(";") if part.strip()]
    if any(part not in layout.SPECIAL_GROUPS for part in parts) or len(raw) > 200:
        return BAD
    return ";".join(parts)


# What a bad value should have been, for the finding's message.
_EXPECTED = {
    "text": "不能为空且不能过长",
    "money": "应为金额（元，最多两位小数，如 300.00）",
    "date": "应为日期（YYYY-MM-DD）",
    "month": "应为月份（YYYY-MM）",
    "year": "应为四位年份",
    "int": "应为0–99的整数",
    "region": "应为12位数字区划代码",
    "bank_account": "银行账号只能由数字组成",
}

# (column, value check, kind of value for the message / staging type, cache the converter)
Column = tuple[str, Callable[[str], object], str, bool]
SPECS: dict[str, tuple[Column, ...]] = {
    layout.PERSONS: (
        ("insurance_no", _text(40, True), "text", False),
        ("id_number", _text(40, True), "text", False),
        ("name", _text(100, True), "text", False),
        ("gender", _choice(layout.GENDERS), "gender", True),
        ("birth_date", _date(True), "date", True),
        ("hukou_type", _choice(layout.HUKOU_TYPES), "hukou_type", True),
        ("region_code", _region, "region", True),
        ("address", _text(200), "text", False),
        ("phone", _text(40), "text", False),
        ("bank_code", _text(10), "text", True),
        ("bank_account", _bank_account, "bank_account", False),
        ("status", _choice(layout.PERSON_STATUSES), "status", True),
        ("enrolled_on", _date(False), "date", True),
        ("special_groups", _special_groups, "special_groups", True),
        ("military_years", _military_years, "int", True),
    ),
    layout.ACCOUNTS: (
        ("insurance_no", _text(40, True), "text", True),
        ("personal", _money(False), "money", True),
        ("gov_subsidy", _money(False), "money", True),
        ("collective", _money(False), "money", True),
        ("other_subsidy", _money(False), "money", True),
        ("interest", _money(False), "money", True),
        ("pooled", _money(False), "money", True),
        ("balance", _money(True), "money", True),
        ("last_interest_date", _date(False), "date", True),
    ),
    layout.CONTRIBUTIONS: (
        ("insurance_no", _text(40, True), "text", True),
        ("year", _year, "year", True),
        ("tier", _money(True), "money", True),
        ("personal", _money(True), "money", True),
        ("gov_subsidy", _money(False), "money", True),
        ("collective", _money(False), "money", True),
        ("other_subsidy", _money(False), "money", True),
        ("paid_on", _date(False), "date", True),
        ("channel", _choice(layout.CHANNELS), "channel", True),
    ),
    layout.RECIPIENTS: (
        ("insurance_no", _text(40, True), "text", True),
        ("category", _choice(layout.RECIPIENT_CATEGORIES), "category", True),
        ("start_month", _month(True), "month", True),
        ("basic_pension", _money(False), "money", True),
        ("account_pension", _money(False), "money", True),
        ("monthly_total", _money(True), "money", True),
        ("bank_code", _text(10), "text", True),
        ("bank_account", _bank_account, "bank_account", False),
        ("last_paid_month", _month(False), "month", True),
    ),
    layout.TIER_CHOICES: (
        ("insurance_no", _text(40, True), "text", True),
        ("year", _year, "year", True),
        ("tier", _money(True), "money", True),
    ),
}
_ENUM_TEXT = {
    "gender": "应为1（男）或2（女）",
    "hukou_type": "应为rural或urban",
    "status": "应为" + "、".join(layout.PERSON_STATUSES),
    "channel": "应为" + "、".join(layout.CHANNELS),
    "category": "应为" + "、".join(layout.RECIPIENT_CATEGORIES),
    "special_groups": "应为以分号分隔的" + "、".join(layout.SPECIAL_GROUPS),
}
_TYPED = {"money", "date", "month", "year", "int"}
# Staged columns the package does not fill, with their value at reading (NOT NULL text columns need one).
_EXTRA_COLUMNS = {
    layout.PERSONS: (
        ("target_village_id", "int"),
        ("target_region_code", "text"),
        ("insurance_number", "text"),
        ("existing_person_id", "int"),
    )
}
_NO_TARGET = ("", "")


def _expected(kind: str, raw: str) -> str:
    if not raw.strip():
        return "必填项为空"
    return _EXPECTED.get(kind) or _ENUM_TEXT.get(kind, "格式不正确")


# --- staging writes -------------------------------------------------------------------------------------------


class _LineStream:
    """Staged rows, each a CSV line, handed to PostgreSQL's COPY as it asks for more: the server parses one part
    while Python reads and checks the next."""

    def __init__(self, lines: Iterator[str]):
        self._lines = lines
        self.count = 0

    def read(self, size: int = -1) -> str:
        lines = list(islice(self._lines, 2000))
        self.count += len(lines)
        return "".join(lines)


class _Stager:
    """Chunks of staged rows for one file: a streamed COPY on PostgreSQL, bulk_create elsewhere."""

    def __init__(self, name: str):
        self.model = STAGED_MODELS[name]
        spec = SPECS[name]
        extras = _EXTRA_COLUMNS.get(name, ())
        self.columns = ["testload_id", "line"] + [c[0] for c in spec] + [c for c, _k in extras]
        kinds = ["int", "int"] + [c[2] for c in spec] + [k for _c, k in extras]
        self.text_columns = [c for c, k in zip(self.columns, kinds, strict=True) if k not in _TYPED and c != "line"]
        self.kinds = kinds
        self.postgres = connection.vendor == "postgresql"
        self.sql = (
            f"COPY {self.model._meta.db_table} ({', '.join(self.columns)}) FROM STDIN WITH (FORMAT csv, "
            f"FORCE_NOT_NULL ({', '.join(self.text_columns)}))"
        )

    def write(self, lines: Iterator[str]) -> int:
        """Stage the rows (CSV lines); how many there were."""
        if self.postgres:
            stream = _LineStream(lines)
            with connection.cursor() as cursor:
                # The size goes by position: Django's debug cursor wrapper (DEBUG on) takes no keywords here.
                cursor.copy_expert(self.sql, stream, _READ_SIZE)
            return stream.count
        # SQLite: the same lines read back as COPY would, an empty typed field being NULL.
        convert = [_PY.get(kind) for kind in self.kinds]
        objects = []
        for row in csv.reader(lines):
            values = {
                column: (value if fn is None else fn(value) if value != "" else None)
                for column, fn, value in zip(self.columns, convert, row, strict=True)
            }
            objects.append(self.model(**values))
        self.model.objects.bulk_create(objects, batch_size=2000)
        return len(objects)

    def analyze(self) -> None:
        """Fresh statistics for the checks' plans (a table that grew by millions is otherwise misjudged)."""
        if self.postgres:
            with connection.cursor() as cursor:
                cursor.execute(f"ANALYZE {self.model._meta.db_table}")


_PY: dict[str, Callable] = {
    "money": Decimal,
    "date": dt.date.fromisoformat,
    "month": dt.date.fromisoformat,
    "year": int,
    "int": int,
}


# --- reading one file -----------------------------------------------------------------------------------------


class _Run:
    """One reading of a package: its findings as they come, its row counts, and its progress."""

    def __init__(self, load: TestLoad, package: Package):
        self.load = load
        self.package = package
        self.findings: list[Finding] = []
        self.rows: dict[str, int] = {}
        self.read = 0
        files = package.manifest.get("files")
        self.listed: dict = files if isinstance(files, dict) else {}
        self.total = sum(
            entry.get("rows", 0)
            for entry in self.listed.values()
            if isinstance(entry, dict) and isinstance(entry.get("rows"), int)
        )
        self.step_row = step_of(load.project, Step.TESTLOAD)
        self.today = timezone.localdate()
        self.copying = False
        # The project's place mapping, source code → (target village id, its code), applied as persons are read.
        self.places: dict[str, tuple[int, str]] = {
            source: (target_id, code)
            for source, target_id, code in PlaceMapping.objects.filter(project=load.project).values_list(
                "source_code", "target_id", "target__code"
            )
        }

    def add(self, kind: str, **fields) -> None:
        self.findings.append(checks.finding(kind, **fields))
        # Not while a COPY holds the connection: the next chunk's end writes them.
        if len(self.findings) >= 5000 and not self.copying:
            self.flush_findings()

    def flush_findings(self) -> None:
        for row in self.findings:
            row.testload = self.load
        Finding.objects.bulk_create(self.findings, batch_size=2000)
        self.findings = []

    def stage(self, name: str) -> bool:
        """Read one file into staging; False when its header lacks a column (values of it stay empty)."""
        member = self.package.csv(name)
        try:
            self._stage(name, member)
            sha256, rows = member.finish()
        finally:
            member.close()
        self._drain(name, member)
        self.rows[name] = rows
        entry = self.listed.get(name)
        if not isinstance(entry, dict):
            self.add(
                "row_count_mismatch",
                file=name,
                message=f"清单manifest.json的files中没有列出{name}，无法核对行数和校验值",
            )
        else:
            if entry.get("rows") != rows:
                self.add(
                    "row_count_mismatch",
                    file=name,
                    value=str(entry.get("rows", "")),
                    message=f"清单记载{entry.get('rows')}行，实际读取{rows}行数据",
                )
            if str(entry.get("sha256", "")).lower() != sha256:
                self.add(
                    "sha256_mismatch",
                    file=name,
                    value=str(entry.get("sha256", "")),
                    message=f"文件的SHA-256为{sha256}，与清单不符，文件可能在生成后被改动或传输不完整",
                )
        return True

    def _drain(self, name: str, member: CsvMember) -> None:
        for problem in member.problems:
            self.add(
                problem.kind,
                file=name,
                line=problem.line,
                column=problem.column,
                value=problem.value,
                message=problem.message,
            )
        member.problems.clear()

    def _stage(self, name: str, member: CsvMember) -> None:
        spec = SPECS[name]
        header = member.header
        expected = [c[0] for c in spec]
        width = len(header)
        for column in header:
            if column not in expected or header.count(column) > 1:
                self.add(
                    "header_unknown_column",
                    file=name,
                    line=1,
                    column=column,
                    value=column,
                    message=f"表头中的“{column}”不是{name}规定的列" + ("（重复）" if column in expected else ""),
                )
        missing = [c for c in expected if c not in header]
        for column in missing:
            self.add(
                "header_missing_column",
                file=name,
                line=1,
                column=column,
                message=f"{name}的表头缺少“{column}”列",
            )
        # A missing column reads as an empty field, one past the end of the row.
        positions = [header.index(c) if c in header else width for c in expected]
        rows = self._rows(name, member, itemgetter(*positions), bool(missing))
        stager = _Stager(name)
        while True:
            if name == layout.PERSONS:
                # Persons come a chunk at a time: the register is asked which of them it already holds.
                chunk = self._with_existing(list(islice(rows, CHUNK_ROWS)))
                count = stager.write(iter(chunk)) if chunk else 0
            else:
                self.copying = True
                try:
                    count = stager.write(islice(rows, CHUNK_ROWS))
                finally:
                    self.copying = False
            if not count:
                break
            self.read += count
            self._drain(name, member)
            self.flush_findings()
            step_progress(self.step_row, done=self.read, total=max(self.total, self.read))
        self._drain(name, member)
        self.flush_findings()
        stager.analyze()

    def _rows(self, name: str, member: CsvMember, pick, pad: bool) -> Iterator[tuple]:
        """The file's rows checked and typed for staging, findings noted on the way."""
        spec = SPECS[name]
        converters = [_Converter(check, cache) for _c, check, _k, cache in spec]
        nulls = ("",) * len(spec)
        persons = name == layout.PERSONS
        if persons:
            id_at = [c[0] for c in spec].index("id_number")
            region_at = [c[0] for c in spec].index("region_code")
            places = self.places
        pk = self.load.pk
        today = self.today
        for line, row in member:
            if pad:
                row.append("")
            values = pick(row)
            out = tuple(map(getitem, converters, values))
            if BAD in out:
                out = self._bad_values(name, line, spec, values, out, nulls)
            if persons:
                if out[id_at]:
                    problem = checks.id_number_problem(out[id_at], today)
                    if problem:
                        self.add(
                            "id_number_invalid",
                            file=name,
                            line=line,
                            column="id_number",
                            value=out[id_at],
                            message=problem,
                        )
                target_id, target_code = places.get(out[region_at], _NO_TARGET)
                yield f"{pk},{line},{','.join(out)},{target_id},{target_code},,", out[id_at]
            else:
                yield f"{pk},{line},{','.join(out)}\n"

    def _with_existing(self, chunk: list[tuple[str, str]]) -> list[str]:
        """Each person's line ended with the register's person of the same identity number (or nothing)."""
        numbers = [number for _line, number in chunk if number]
        found: dict[str, int] = {}
        for start in range(0, len(numbers), 5000):
            found.update(
                InsuredPerson.objects.filter(id_number__in=numbers[start : start + 5000]).values_list("id_number", "id")
            )
        return [f"{line}{found.get(number, '')}\n" for line, number in chunk]

    def _bad_values(self, name, line, spec, values, out, nulls) -> tuple:
        fixed = list(out)
        for index, value in enumerate(out):
            if value is BAD:
                column, _check, kind, _cache = spec[index]
                raw = values[index]
                self.add(
                    "value_invalid",
                    file=name,
                    line=line,
                    column=column,
                    value=raw,
                    message=f"{column}“{raw[:50]}”不正确：{_expected(kind, raw)}",
                )
                fixed[index] = nulls[index]
        return tuple(fixed)


# --- services ---------------------------------------------------------------------------------------------


def package_upload(*, actor, project: MergerProject, uploaded_file) -> MergerPackage:
    """Keep an uploaded .zip as a package of the project; the same content again is the same package."""
    require_merger_user(actor, project)
    limit = settings.MERGER_PACKAGE_MAX_BYTES
    size = getattr(uploaded_file, "size", None)
    if size is not None and size > limit:
        raise DomainError(f"数据包过大，最大允许 {limit // (1024 * 1024)} MB。", code="too_large", field="file")
    digest = hashlib.sha256()
    size = 0
    uploaded_file.seek(0)
    for piece in iter(lambda: uploaded_file.read(_HASH_CHUNK), b""):
        size += len(piece)
        if size > limit:
            raise DomainError(f"数据包过大，最大允许 {limit // (1024 * 1024)} MB。", code="too_large", field="file")
        digest.update(piece)
    sha256 = digest.hexdigest()
    existing = MergerPackage.objects.filter(project=project, sha256=sha256).first()
    if existing is not None:
        return existing
    uploaded_file.seek(0)
    name = str(getattr(uploaded_file, "name", "") or "package.zip").replace("\\", "/").rsplit("/", 1)[-1][:200]
    package = MergerPackage(
        project=project,
        origin=PackageOrigin.UPLOAD,
        file_name=name,
        size=size,
        sha256=sha256,
        created_by=actor,
    )
    package.file.save(f"{sha256[:16]}.zip", File(uploaded_file), save=False)
    try:
        with transaction.atomic():
            package.save()
            file_record(merger_package_record(package))
    except Exception:
        # Two uploads of one content at once: the other one won; keep it and drop our copy of the file.
        package.file.delete(save=False)
        found = MergerPackage.objects.filter(project=project, sha256=sha256).first()
        if found is None:
            raise
        return found
    return package


def _drop_staged(testload_ids: list[int]) -> None:
    if not testload_ids:
        return
    for model in STAGED_MODELS.values():
        model.objects.filter(testload_id__in=testload_ids)._raw_delete(using="default")


def testload_start(*, actor, project: MergerProject, package: MergerPackage) -> TestLoad:
    """Open a test-load of the package (the reading itself is ``testload_run``, usually a task)."""
    require_merger_user(actor, project)
    if package.project_id != project.pk:
        raise DomainError("该数据包不属于本并轨项目。", code="wrong_project")
    step_start(project, Step.TESTLOAD, actor=actor, phase="读取数据包")
    # Earlier test-loads keep their findings; their staged rows go, unless an import reads them.
    kept = set(ImportRun.objects.filter(project=project).values_list("testload_id", flat=True))
    earlier = [pk for pk in TestLoad.objects.filter(project=project).values_list("pk", flat=True) if pk not in kept]
    _drop_staged(earlier)
    return TestLoad.objects.create(project=project, package=package, started_by=actor)


def _reset(load: TestLoad) -> None:
    """A test-load killed half way starts again: its staged rows and findings go."""
    _drop_staged([load.pk])
    Finding.objects.filter(testload=load).delete()
    load.rows, load.counts, load.blocking_count, load.warning_count, load.error = {}, {}, 0, 0, ""
    load.status = TestLoadStatus.RUNNING


def _read_package(load: TestLoad, package: Package) -> dict[str, int]:
    run = _Run(load, package)
    present = [name for name in layout.DATA_FILES if name in package.names]
    for name in layout.DATA_FILES:
        if name not in package.names and (name in layout.REQUIRED_FILES or name in run.listed):
            run.add("file_missing", file=name, message=f"数据包中缺少{name}")
    for name in present:
        run.stage(name)
    run.flush_findings()
    ctx = checks.Context(testload=load, project=load.project, manifest=package.manifest, files=set(present))
    checks.run_checks(
        ctx, progress=lambda done, total: step_progress(run.step_row, done=run.read, phase=f"核查 {done}/{total}")
    )
    return run.rows


def _finish(load: TestLoad, actor) -> TestLoad:
    counts: dict[str, int] = {}
    blocking = warning = 0
    for kind, severity, number in (
        Finding.objects.filter(testload=load)
        .values("kind", "severity")
        .annotate(n=models.Count("id"))
        .values_list("kind", "severity", "n")
        .order_by()
    ):
        counts[kind] = number
        if severity == checks.B:
            blocking += number
        else:
            warning += number
    load.counts, load.blocking_count, load.warning_count = counts, blocking, warning
    load.status = TestLoadStatus.DONE
    load.finished_at = timezone.now()
    load.save()
    step_finish(load.project, Step.TESTLOAD, actor=actor, summary=f"阻断问题 {blocking} 项，提示 {warning} 项")
    return load


@contextmanager
def _runner(testload_id: int) -> Iterator[bool]:
    """One runner per test-load (a task re-sent while the first still reads): on PostgreSQL a session advisory
    lock, released when the runner ends or its connection dies. Yields whether this runner may work."""
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [RUNNER_LOCK, testload_id])
        (acquired,) = cursor.fetchone()
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [RUNNER_LOCK, testload_id])


def testload_run(testload_id: int) -> TestLoad:
    """Read the package into staging, run the checks and keep the findings. A DONE test-load is returned as it
    is; one left running (killed) is read again from the start. While another runner reads the same test-load,
    this one returns it as it stands and touches nothing."""
    with _runner(testload_id) as mine:
        load = TestLoad.objects.select_related("project", "package", "started_by").get(pk=testload_id)
        if load.status == TestLoadStatus.DONE or not mine:
            return load
        return _work(load)


def _work(load: TestLoad) -> TestLoad:
    _reset(load)
    load.save()
    actor = load.started_by
    try:
        try:
            with load.package.file.open("rb") as handle:
                package = open_package(handle)
                try:
                    stored = load.package
                    stored.manifest = package.manifest
                    stored.package_id = str(package.manifest.get("package_id", ""))[:200]
                    stored.save(update_fields=["manifest", "package_id"])
                    load.rows = _read_package(load, package)
                finally:
                    package.close()
        except (PackageRefused, zipfile.BadZipFile, zlib.error, EOFError) as refusal:
            # Nothing of a package that cannot be read is kept: one finding says why.
            _reset(load)
            message = (
                refusal.message if isinstance(refusal, PackageRefused) else f"数据包已损坏，无法解压（{refusal}）。"
            )
            Finding.objects.create(
                testload=load, **checks.finding_fields(checks.finding("package_unreadable", message=message))
            )
        return _finish(load, actor)
    except Exception as error:
        if connection.in_atomic_block and connection.needs_rollback:
            raise
        load.status = TestLoadStatus.FAILED
        load.error = str(error)[:2000]
        load.finished_at = timezone.now()
        load.save(update_fields=["status", "error", "finished_at"])
        step_fail(load.project, Step.TESTLOAD, actor=actor, error=f"试导入中断：{error}")
        raise
