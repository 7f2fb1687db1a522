"""The one call through which every app files the papers it produces or receives into the archives.

``archives`` sits above the apps whose records it keeps, so they cannot import it. Instead each source app
calls ``file_record()`` inside the transaction that creates its record (a registration, a claim, a payout
roll, a bank receipt, a merger package); ``archives`` registers the filer in its ``AppConfig.ready()``.
The filer is idempotent: filing the same record of the same kind twice returns the item already filed.
Each source app also registers a ``Source`` per kind, so records made before filing existed can be filed later.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Model, QuerySet


@dataclass(frozen=True)
class Record:
    """One paper (or electronic document) to be filed.

    ``kind`` is an archive kind's code (``archives.kinds``); ``source`` is the application, batch or package the
    paper records; ``region_code`` is the place it is filed under (the village for a person's form, the county
    for a payout roll); ``fields`` are the form's fields as label → text, kept for full-text search.
    """

    kind: str
    source: Model
    region_code: str
    year: int
    title: str
    person_id: int | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    filed_by_id: int | None = None
    filed_on: dt.date | None = None


class Kind:
    """The codes of the archive kinds the portal files by itself (``archives.kinds`` has their names and retention)."""

    REGISTRATION = "registration"  # 参保登记表
    CHANGE = "change"  # 变更登记表
    CANCELLATION = "cancellation"  # 注销登记表
    BACK_PAYMENT = "back_payment"  # 保费补缴申请表
    COLLECTIVE_SUBSIDY = "collective_subsidy"  # 集体补助明细表
    CLAIM = "claim"  # 待遇申请表
    DISABILITY_AID = "disability_aid"  # 残疾人缴费补助申请表
    PAYOUT_ROLL = "payout_roll"  # 待遇发放花名册 (monthly)
    BANK_RECEIPT = "bank_receipt"  # 银行回执
    MERGER_PACKAGE = "merger_package"  # 并轨数据包
    HANDED_OVER = "handed_over"  # 并轨移交档案 (a source region's records taken over after a merger)


Filer = Callable[[Record], Any]

_filer: Filer | None = None


def register_filer(filer: Filer) -> None:
    global _filer
    if _filer is not None and _filer is not filer:
        raise RuntimeError("an archive filer is already registered")
    _filer = filer


@dataclass(frozen=True)
class Source:
    """How a source app's records of one kind are filed: every record that should have been filed (``queryset``)
    and how one becomes a ``Record`` (``build``, the same function its service files through). The archives
    backfill uses these to file records made before filing existed, or loaded in bulk (the demo register)."""

    kind: str
    queryset: Callable[[], QuerySet]
    build: Callable[[Any], Record]


_sources: dict[str, Source] = {}


def register_source(source: Source) -> None:
    """Called from a source app's ``AppConfig.ready()``."""
    existing = _sources.get(source.kind)
    if existing is not None and existing != source:
        raise RuntimeError(f"a source of {source.kind} records is already registered")
    _sources[source.kind] = source


def sources() -> list[Source]:
    return list(_sources.values())


def file_record(record: Record) -> Any:
    """File ``record``; returns the archive item. Call it inside the transaction that creates the source."""
    if _filer is None:
        raise RuntimeError("no archive filer registered: is the archives app installed?")
    return _filer(record)
