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
import io
import re
import zipfile
import zlib
from collections.abc import Callable
from decimal import Decimal
from operator import getitem, itemgetter

from django.conf import settings
from django.core.files.base import File
from django.db import connection, models, transaction
from django.utils import timezone

from agencies.errors import DomainError
from migration import checks, layout
from migration.models import (
    Finding,
    ImportRun,
    MergerPackage,
    MergerProject,
    PackageOrigin,
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
from migration.services import require_merger_user, step_fail, step_finish, step_of, step_progress, step_start

CHUNK_ROWS = 50_000
_HASH_CHUNK = 1 << 20

STAGED_MODELS: dict[str, type[models.Model]] = {
    layout.PERSONS: StagedPerson,
    layout.ACCOUNTS: StagedAccount,
    layout.CONTRIBUTIONS: StagedContribution,
    layout.RECIPIENTS: StagedRecipient,
    layout.TIER_CHOICES: StagedTierChoice,
}

# --- values ------------------------------------------------------------------------------------------------
# A converter is a dict from the text of a field to what is staged: itself, normalised, or BAD. A value seen
# before costs one lookup; a new one is checked once by ``__missing__``.

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


def _text(max_length: int, required: bool = False) -> Callable[[str], object]:
    def check(raw: str) -> object:
        value = raw.strip()
        if (required and not value) or len(value) > max_length:
            return BAD
        return value

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
            return BAD if required else None
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
            return BAD if required else None
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
        ("bank_account", _text(40), "text", False),
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
        ("bank_account", _text(40), "text", False),
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
_EXTRA_COLUMNS = {layout.PERSONS: (("target_region_code", ""), ("insurance_number", ""))}


def _expected(kind: str, raw: str) -> str:
    if not raw.strip():
        return "必填项为空"
    return _EXPECTED.get(kind) or _ENUM_TEXT.get(kind, "格式不正确")


# --- staging writes -------------------------------------------------------------------------------------------


class _Stager:
    """Chunks of staged rows for one file: COPY on PostgreSQL, bulk_create elsewhere."""

    def __init__(self, name: str):
        self.model = STAGED_MODELS[name]
        spec = SPECS[name]
        extras = _EXTRA_COLUMNS.get(name, ())
        self.columns = ["testload_id", "line"] + [c[0] for c in spec] + [c for c, _v in extras]
        kinds = ["int", "int"] + [c[2] for c in spec] + ["text" for _ in extras]
        self.text_columns = [c for c, k in zip(self.columns, kinds, strict=True) if k not in _TYPED and c != "line"]
        self.kinds = kinds
        self.postgres = connection.vendor == "postgresql"

    def write(self, rows: list[tuple]) -> None:
        if not rows:
            return
        if self.postgres:
            buffer = io.StringIO()
            csv.writer(buffer, lineterminator="\n").writerows(rows)
            buffer.seek(0)
            table = self.model._meta.db_table
            with connection.cursor() as cursor:
                cursor.copy_expert(
                    f"COPY {table} ({', '.join(self.columns)}) FROM STDIN WITH (FORMAT csv, "
                    f"FORCE_NOT_NULL ({', '.join(self.text_columns)}))",
                    buffer,
                )
            return
        convert = [_PY.get(kind) for kind in self.kinds]
        objects = []
        for row in rows:
            values = {
                column: (fn(value) if fn is not None and value is not None else value)
                for column, fn, value in zip(self.columns, convert, row, strict=True)
            }
            objects.append(self.model(**values))
        self.model.objects.bulk_create(objects, batch_size=2000)


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

    def add(self, kind: str, **fields) -> None:
        self.findings.append(checks.finding(kind, **fields))
        if len(self.findings) >= 5000:
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
        pick = itemgetter(*positions)
        converters = [_Converter(check, cache) for _c, check, _k, cache in spec]
        nulls = tuple(None if kind in _TYPED else "" for _c, _f, kind, _x in spec)
        extras = tuple(value for _c, value in _EXTRA_COLUMNS.get(name, ()))
        id_position = expected.index("id_number") if name == layout.PERSONS else None
        stager = _Stager(name)
        pk = self.load.pk
        today = self.today
        chunk: list[tuple] = []
        for line, row in member:
            if missing:
                row.append("")
            values = pick(row)
            out = tuple(map(getitem, converters, values))
            if BAD in out:
                out = self._bad_values(name, line, spec, values, out, nulls)
            if id_position is not None and out[id_position]:
                problem = checks.id_number_problem(out[id_position], today)
                if problem:
                    self.add(
                        "id_number_invalid",
                        file=name,
                        line=line,
                        column="id_number",
                        value=out[id_position],
                        message=problem,
                    )
            chunk.append((pk, line, *out, *extras))
            if len(chunk) >= CHUNK_ROWS:
                self._write(stager, chunk, name, member)
                chunk = []
        self._write(stager, chunk, name, member)

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

    def _write(self, stager: _Stager, chunk: list[tuple], name: str, member: CsvMember) -> None:
        stager.write(chunk)
        self.read += len(chunk)
        self._drain(name, member)
        self.flush_findings()
        step_progress(self.step_row, done=self.read, total=max(self.total, self.read))


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


def testload_run(testload_id: int) -> TestLoad:
    """Read the package into staging, run the checks and keep the findings. A DONE test-load is returned as it
    is; one left running (killed) is read again from the start."""
    load = TestLoad.objects.select_related("project", "package", "started_by").get(pk=testload_id)
    if load.status == TestLoadStatus.DONE:
        return load
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
