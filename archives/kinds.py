"""The standard archive kinds, kept present.

The kinds are loaded by the data migration ``0002_standard_kinds`` (its list is the one source). A database
emptied by ``flush`` (a transactional test's teardown, a reset demo) never runs that migration again, so the
kinds are also put back after every ``migrate``/``flush`` through Django's ``post_migrate`` signal. Kinds
already there are left as they are: a deployment may have renamed one in the admin (code, number and retention
are fixed there, since filed items carry their end of retention).
"""

from __future__ import annotations

import importlib


def standard_kinds() -> list[tuple[str, str, str, int, str]]:
    return importlib.import_module("archives.migrations.0002_standard_kinds").KINDS


def ensure_standard_kinds(using: str = "default", **_) -> None:
    from django.db import connections

    from archives.models import ArchiveKind

    if ArchiveKind._meta.db_table not in connections[using].introspection.table_names():
        return  # migrated back to before the archives existed
    present = set(ArchiveKind.objects.using(using).values_list("code", flat=True))
    missing = [
        ArchiveKind(code=code, number=number, name=name, retention=retention, description=description)
        for code, number, name, retention, description in standard_kinds()
        if code not in present
    ]
    if missing:
        ArchiveKind.objects.using(using).bulk_create(missing, ignore_conflicts=True)
