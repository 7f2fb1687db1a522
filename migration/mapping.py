"""区划对照: which village of the target each source village or community code becomes.

Loaded from a file (.csv in UTF-8 or GBK, or .xlsx, with the columns 原区划代码, 新区划代码 and optionally
原名称), confirmed one by one, or, when a whole district joins and keeps its codes, each source village mapped
to itself. A valid target is a village of the target pooling region, or a village of the area that moves (it
becomes the target's at the import). Nothing changes once the import has started.
"""

from __future__ import annotations

import re

from django.db import transaction
from django.utils import timezone

from agencies.errors import Conflict, DomainError
from agencies.models import Region, RegionLevel
from contributions.selectors import pooling_prefixes, pooling_region_id_of
from contributions.xlsx import read_rows as sheet_rows
from migration.models import MappingSource, MergerProject, PlaceMapping, Step, StepState, TestLoad
from migration.services import require_merger_user, source_prefixes, step_of

_CODE = re.compile(r"[0-9]{12}")
SOURCE_HEADER, TARGET_HEADER, NAME_HEADER = "原区划代码", "新区划代码", "原名称"
MAX_ERRORS_SHOWN = 30


def _guard(actor, project: MergerProject) -> None:
    require_merger_user(actor, project)
    if step_of(project, Step.IMPORT).state != StepState.PENDING:
        raise Conflict("正式导入已开始，区划对照不能再修改。", code="import_started")


class _Targets:
    """Decides whether a code names a village the source's people may be placed in."""

    def __init__(self, project: MergerProject):
        self.project = project
        self.prefixes = pooling_prefixes()
        self.source = source_prefixes(project)

    def villages(self, codes: set[str]) -> dict[str, Region]:
        return {r.code: r for r in Region.objects.filter(level=RegionLevel.VILLAGE, code__in=codes)}

    def problem(self, code: str, villages: dict[str, Region]) -> str | None:
        if not _CODE.fullmatch(code):
            return f"新区划代码“{code[:30]}”应为12位数字"
        if code not in villages:
            return f"新区划代码{code}不是系统中的村（社区）"
        in_target = pooling_region_id_of(code, self.prefixes) == self.project.target_pooling_region_id
        if not in_target and not any(code.startswith(p) for p in self.source):
            return f"新区划代码{code}不属于目标统筹区，也不在并入地区内"
        return None


def mapping_load(*, actor, project: MergerProject, content: bytes, file_name: str) -> int:
    """Load a mapping file, all or nothing: every bad row is reported at once. Returns the rows loaded."""
    _guard(actor, project)
    if not content:
        raise DomainError("上传的文件是空的。", code="empty", field="file")
    _title, rows = sheet_rows(file_name, content)
    header = next(rows, None)
    headers = ["".join(str(h).split()) for h in (header or [])]
    if SOURCE_HEADER not in headers or TARGET_HEADER not in headers:
        raise DomainError(
            f"文件第1行须有“{SOURCE_HEADER}”和“{TARGET_HEADER}”两列（可另有“{NAME_HEADER}”列）。",
            code="bad_header",
            field="file",
        )
    source_at, target_at = headers.index(SOURCE_HEADER), headers.index(TARGET_HEADER)
    name_at = headers.index(NAME_HEADER) if NAME_HEADER in headers else None
    parsed: list[tuple[int, str, str, str]] = []
    for number, row in enumerate(rows, start=2):
        cells = [str(c).strip() for c in row]
        if not any(cells):
            continue

        def cell(index: int | None, cells: list[str] = cells) -> str:
            return cells[index] if index is not None and index < len(cells) else ""

        parsed.append((number, cell(source_at), cell(target_at), cell(name_at)))
    if not parsed:
        raise DomainError("文件中没有对照数据。", code="empty", field="file")
    targets = _Targets(project)
    villages = targets.villages({target for _n, _s, target, _name in parsed})
    errors: list[str] = []
    first_line: dict[str, int] = {}
    for number, source, target, name in parsed:
        if not _CODE.fullmatch(source):
            errors.append(f"第{number}行：原区划代码“{source[:30]}”应为12位数字")
        elif source in first_line:
            errors.append(f"第{number}行：原区划代码{source}与第{first_line[source]}行重复")
        else:
            first_line[source] = number
        problem = targets.problem(target, villages)
        if problem:
            errors.append(f"第{number}行：{problem}")
        if len(name) > 100:
            errors.append(f"第{number}行：原名称过长（最多100字）")
    if errors:
        shown = "；".join(errors[:MAX_ERRORS_SHOWN])
        more = f"（共{len(errors)}处，仅列出前{MAX_ERRORS_SHOWN}处）" if len(errors) > MAX_ERRORS_SHOWN else ""
        raise DomainError(f"区划对照文件有错误，未导入任何一行：{shown}{more}", code="bad_rows", field="file")
    now = timezone.now()
    rows_to_save = [
        PlaceMapping(
            project=project,
            source_code=source,
            source_name=name,
            target=villages[target],
            origin=MappingSource.FILE,
            confirmed_by=actor,
            confirmed_at=now,
        )
        for _n, source, target, name in parsed
    ]
    with transaction.atomic():
        PlaceMapping.objects.bulk_create(
            rows_to_save,
            batch_size=1000,
            update_conflicts=True,
            unique_fields=["project", "source_code"],
            update_fields=["source_name", "target", "origin", "confirmed_by", "confirmed_at"],
        )
    return len(rows_to_save)


def mapping_confirm(*, actor, project: MergerProject, source_code: str, target_code: str) -> PlaceMapping:
    """Map one source code to a target village (a clerk's confirmation replaces what a file said)."""
    _guard(actor, project)
    source_code, target_code = source_code.strip(), target_code.strip()
    if not _CODE.fullmatch(source_code):
        raise DomainError("原区划代码应为12位数字。", code="invalid_code", field="source_code")
    targets = _Targets(project)
    villages = targets.villages({target_code})
    problem = targets.problem(target_code, villages)
    if problem:
        raise DomainError(problem + "。", code="invalid_target", field="target_code")
    mapping, _created = PlaceMapping.objects.update_or_create(
        project=project,
        source_code=source_code,
        defaults={
            "target": villages[target_code],
            "origin": MappingSource.CLERK,
            "confirmed_by": actor,
            "confirmed_at": timezone.now(),
        },
    )
    return mapping


def _source_villages(project: MergerProject) -> list[Region]:
    prefixes = pooling_prefixes()
    villages = []
    for prefix in source_prefixes(project):
        for region in Region.objects.filter(level=RegionLevel.VILLAGE, code__startswith=prefix).order_by("code"):
            # A town an adjustment already moved elsewhere is not the source's.
            if project.source_towns or pooling_region_id_of(region.code, prefixes) == project.source_pooling_region_id:
                villages.append(region)
    return villages


def mapping_identity(*, actor, project: MergerProject) -> int:
    """Map each village of the source area to itself (a whole district joining keeps its codes). Codes already
    mapped keep their mapping. Returns how many were added."""
    _guard(actor, project)
    now = timezone.now()
    mapped = set(PlaceMapping.objects.filter(project=project).values_list("source_code", flat=True))
    new = [
        PlaceMapping(
            project=project,
            source_code=village.code,
            source_name=village.name,
            target=village,
            origin=MappingSource.CLERK,
            confirmed_by=actor,
            confirmed_at=now,
        )
        for village in _source_villages(project)
        if village.code not in mapped
    ]
    PlaceMapping.objects.bulk_create(new, batch_size=1000, ignore_conflicts=True)
    return len(new)


def source_codes_unmapped(project: MergerProject) -> list[str]:
    """Villages of the source area, and region codes of the latest test-load's persons, with no mapping."""
    from migration.models import StagedPerson

    mapped = set(PlaceMapping.objects.filter(project=project).values_list("source_code", flat=True))
    codes = {village.code for village in _source_villages(project)}
    latest = TestLoad.objects.filter(project=project).order_by("-started_at", "-id").first()
    if latest is not None:
        codes |= set(
            StagedPerson.objects.filter(testload=latest)
            .exclude(region_code="")
            .values_list("region_code", flat=True)
            .distinct()
        )
    return sorted(codes - mapped)
