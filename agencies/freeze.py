"""数据封存 enforced by the database: see ``agencies.models.RegionFreeze``.

While a freeze is live, every table that carries a region code has BEFORE INSERT / UPDATE / DELETE row
triggers whose WHEN clause compares the row's code with the frozen prefixes written in as literals, so a
write under a frozen prefix is refused whatever path it takes (a form, the API, a service, a bank file, raw
SQL) and rows elsewhere never call a function. Tables whose rows belong to such a row (a ledger entry, an
award's period, a person's special group) carry no code of their own: on PostgreSQL their triggers call a
function that looks the parent row up, for every write to them anywhere while any freeze is live (a merger's
few days; the year-end interest of other regions pays one index lookup per entry then). With nothing frozen
there are no triggers at all.

``guards_sync()`` rebuilds the triggers from the live ``RegionFreeze`` rows; ``freeze_set`` and
``freeze_lift`` change the rows and call it in the same transaction (DDL is transactional on PostgreSQL
and SQLite alike). The merger's own import writes through ``freeze_bypass()``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.apps import apps
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from agencies.errors import Conflict, DomainError

# Every guard trigger's name starts with this, so a sync finds and drops exactly its own.
TRIGGER_PREFIX = "freeze_guard_"
# What a refusal's database error carries, followed by the freeze's label (read by ``frozen_refusal``).
MARKER = "PENSION_FROZEN:"
PG_FUNCTION = "pension_freeze_refuse"
PG_CHILD_FUNCTION = "pension_freeze_refuse_child"
PG_SETTING = "pension.freeze_bypass"
SQLITE_FUNCTION = "pension_freeze_bypass"
SQLITE_REFUSE = "pension_freeze_refuse"
# What sqlite3 says when a Python function called by SQL raises (the exception itself is not kept).
SQLITE_FUNCTION_RAISED = "user-defined function raised exception"
# Apps whose tables are never guarded: the merger keeps its own staging and project rows, and the paper archives
# stay where they are during a merger (reading, lending and hand-overs go on; no paper moves with the data).
UNGUARDED_APPS = frozenset({"migration", "archives"})

_OPS = (("ins", "INSERT"), ("upd", "UPDATE"), ("del", "DELETE"))
_PREFIX_RE = re.compile(r"^\d{1,12}$")
_local = threading.local()


# --- which tables ----------------------------------------------------------------------------------


def guarded_tables() -> list[tuple[str, str]]:
    """(table, column) for every table that carries a region code, in a fixed order (the order triggers
    are created in, so two syncs lock tables alike)."""
    from agencies.models import Region, RegionFreeze

    found: dict[str, str] = {Region._meta.db_table: Region._meta.get_field("code").column}
    for model in apps.get_models():
        meta = model._meta
        if meta.app_label in UNGUARDED_APPS or meta.proxy or not meta.managed or model is RegionFreeze:
            continue
        # simple-history's Historical* models copy region_code: their rows are the record of the past.
        if model.__name__.startswith("Historical") and hasattr(model, "history_object"):
            continue
        try:
            field = meta.get_field("region_code")
        except Exception:  # noqa: BLE001 - FieldDoesNotExist: the model has no region code
            continue
        if getattr(field, "concrete", False) and field.model is model:
            found[meta.db_table] = field.column
    return sorted(found.items())


@dataclass(frozen=True)
class ChildTable:
    """A table without a region code of its own whose rows belong to a guarded row (``SCOPE_FIELD`` of the
    form ``<foreign key>__region_code``): a special group of a person, a check of an award, a ledger entry."""

    table: str
    fk_column: str
    parent_table: str
    parent_pk: str
    parent_column: str


def guarded_children() -> list[ChildTable]:
    direct = dict(guarded_tables())
    found: list[ChildTable] = []
    for model in apps.get_models():
        meta = model._meta
        if meta.app_label in UNGUARDED_APPS or meta.proxy or not meta.managed or meta.db_table in direct:
            continue
        if model.__name__.startswith("Historical") and hasattr(model, "history_object"):
            continue
        parts = str(getattr(model, "SCOPE_FIELD", "") or "").split("__")
        if len(parts) != 2:
            continue
        try:
            fk = meta.get_field(parts[0])
        except Exception:  # noqa: BLE001 - FieldDoesNotExist: not a path this guard follows
            continue
        if not (fk.many_to_one or fk.one_to_one) or not getattr(fk, "concrete", False):
            continue
        parent = fk.related_model._meta
        if direct.get(parent.db_table) != parent.get_field(parts[1]).column:
            continue
        found.append(
            ChildTable(meta.db_table, fk.column, parent.db_table, fk.target_field.column, direct[parent.db_table])
        )
    return sorted(found, key=lambda child: child.table)


# --- the triggers ----------------------------------------------------------------------------------


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _quote(connection: BaseDatabaseWrapper, name: str) -> str:
    return connection.ops.quote_name(name)


def _existing_triggers(connection: BaseDatabaseWrapper) -> list[tuple[str, str]]:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT t.tgname, c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE NOT t.tgisinternal AND n.nspname = current_schema() "
                f"AND left(t.tgname, {len(TRIGGER_PREFIX)}) = {_literal(TRIGGER_PREFIX)}"
            )
        else:
            cursor.execute(
                "SELECT name, tbl_name FROM sqlite_master WHERE type = 'trigger' "
                f"AND substr(name, 1, {len(TRIGGER_PREFIX)}) = {_literal(TRIGGER_PREFIX)}"
            )
        return list(cursor.fetchall())


def _condition(row: str, column: str, prefixes: list[str]) -> str:
    return " OR ".join(f"{row}.{column} LIKE {_literal(prefix + '%')}" for prefix in prefixes)


def _trigger_sql(
    connection: BaseDatabaseWrapper, *, name: str, table: str, column: str, op: str, label: str, prefixes: list[str]
) -> str:
    col = _quote(connection, column)
    if op == "INSERT":
        hit = _condition("NEW", col, prefixes)
    elif op == "DELETE":
        hit = _condition("OLD", col, prefixes)
    else:
        # Changing a frozen row, or moving a row into the frozen area.
        hit = f"{_condition('OLD', col, prefixes)} OR {_condition('NEW', col, prefixes)}"
    message = _literal(f"{MARKER}{label}")
    if connection.vendor == "postgresql":
        return (
            f"CREATE TRIGGER {_quote(connection, name)} BEFORE {op} ON {_quote(connection, table)} FOR EACH ROW "
            f"WHEN (({hit}) AND current_setting({_literal(PG_SETTING)}, true) IS DISTINCT FROM 'on') "
            f"EXECUTE FUNCTION {PG_FUNCTION}({message})"
        )
    return (
        f"CREATE TRIGGER {_quote(connection, name)} BEFORE {op} ON {_quote(connection, table)} FOR EACH ROW "
        f"WHEN (({hit}) AND {SQLITE_FUNCTION}() = 0) BEGIN SELECT {SQLITE_REFUSE}({message}); END"
    )


# PostgreSQL allows no subquery in a trigger's WHEN: a child's row looks its parent up in the function, which
# runs only while a freeze is live and only on these few tables. Arguments: the message, the child's foreign
# key column, the parent's table, primary key and code column, then the prefixes.
PG_CHILD_FUNCTION_SQL = f"""
CREATE OR REPLACE FUNCTION {PG_CHILD_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  code text;
  r jsonb;
  checked jsonb[] := ARRAY[]::jsonb[];
BEGIN
  IF TG_OP <> 'INSERT' THEN checked := checked || to_jsonb(OLD); END IF;
  IF TG_OP <> 'DELETE' THEN checked := checked || to_jsonb(NEW); END IF;
  FOREACH r IN ARRAY checked LOOP
    EXECUTE format('SELECT %I FROM %I WHERE %I = $1', TG_ARGV[4], TG_ARGV[2], TG_ARGV[3])
      INTO code USING (r ->> TG_ARGV[1])::bigint;
    IF code IS NOT NULL THEN
      FOR i IN 5 .. TG_NARGS - 1 LOOP
        IF code LIKE TG_ARGV[i] || '%' THEN
          RAISE EXCEPTION USING MESSAGE = TG_ARGV[0];
        END IF;
      END LOOP;
    END IF;
  END LOOP;
  IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
  RETURN NEW;
END $fn$
"""


def _child_trigger_sql(
    connection: BaseDatabaseWrapper, *, name: str, child: ChildTable, op: str, label: str, prefixes: list[str]
) -> str:
    message = _literal(f"{MARKER}{label}")
    head = f"CREATE TRIGGER {_quote(connection, name)} BEFORE {op} ON {_quote(connection, child.table)} FOR EACH ROW "
    if connection.vendor == "postgresql":
        args = ", ".join(
            _literal(arg)
            for arg in (child.fk_column, child.parent_table, child.parent_pk, child.parent_column, *prefixes)
        )
        return (
            f"{head}WHEN (current_setting({_literal(PG_SETTING)}, true) IS DISTINCT FROM 'on') "
            f"EXECUTE FUNCTION {PG_CHILD_FUNCTION}({message}, {args})"
        )
    parent_code = f"p.{_quote(connection, child.parent_column)}"

    def owned(row: str) -> str:
        matches = " OR ".join(f"{parent_code} LIKE {_literal(prefix + '%')}" for prefix in prefixes)
        return (
            f"EXISTS (SELECT 1 FROM {_quote(connection, child.parent_table)} p "
            f"WHERE p.{_quote(connection, child.parent_pk)} = {row}.{_quote(connection, child.fk_column)} "
            f"AND ({matches}))"
        )

    hit = {"INSERT": owned("NEW"), "DELETE": owned("OLD")}.get(op) or f"{owned('OLD')} OR {owned('NEW')}"
    return f"{head}WHEN (({hit}) AND {SQLITE_FUNCTION}() = 0) BEGIN SELECT {SQLITE_REFUSE}({message}); END"


def _live_groups() -> list[tuple[str, list[str]]]:
    """The live freezes as (label, prefixes), one group per label."""
    from agencies.models import RegionFreeze

    groups: dict[str, set[str]] = {}
    for prefix, label in RegionFreeze.objects.filter(lifted_at__isnull=True).values_list("prefix", "label"):
        groups.setdefault(label, set()).add(prefix)
    return [(label, sorted(prefixes)) for label, prefixes in sorted(groups.items())]


def guards_sync(*, using: str = DEFAULT_DB_ALIAS) -> int:
    """Drop every guard trigger and create those the live freezes need. Returns how many were created."""
    connection = connections[using]
    created = 0
    with transaction.atomic(using=using), connection.cursor() as cursor:
        for name, table in _existing_triggers(connection):
            if connection.vendor == "postgresql":
                cursor.execute(f"DROP TRIGGER IF EXISTS {_quote(connection, name)} ON {_quote(connection, table)}")
            else:
                cursor.execute(f"DROP TRIGGER IF EXISTS {_quote(connection, name)}")
        groups = _live_groups()
        if not groups:
            return 0
        if connection.vendor == "postgresql":
            cursor.execute(
                f"CREATE OR REPLACE FUNCTION {PG_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $fn$ "
                "BEGIN RAISE EXCEPTION USING MESSAGE = TG_ARGV[0]; END $fn$"
            )
        for table, column in guarded_tables():
            for number, (label, prefixes) in enumerate(groups):
                for short, op in _OPS:
                    # PostgreSQL names triggers per table (63 bytes); SQLite's are database-wide.
                    name = f"{TRIGGER_PREFIX}{short}{number}_{table}"[:63]
                    cursor.execute(
                        _trigger_sql(
                            connection,
                            name=name,
                            table=table,
                            column=column,
                            op=op,
                            label=label,
                            prefixes=prefixes,
                        )
                    )
                    created += 1
        if connection.vendor == "postgresql":
            cursor.execute(PG_CHILD_FUNCTION_SQL)
        for child in guarded_children():
            for number, (label, prefixes) in enumerate(groups):
                for short, op in _OPS:
                    name = f"{TRIGGER_PREFIX}{short}{number}_{child.table}"[:63]
                    cursor.execute(
                        _child_trigger_sql(connection, name=name, child=child, op=op, label=label, prefixes=prefixes)
                    )
                    created += 1
    return created


# --- freezes ---------------------------------------------------------------------------------------


def freeze_set(*, prefixes: list[str], label: str, reference: str) -> None:
    """Freeze the places under the prefixes. Safe to repeat: a prefix already frozen under the reference stays."""
    from agencies.models import RegionFreeze

    cleaned = sorted({p.strip() for p in prefixes})
    bad = [p for p in cleaned if not _PREFIX_RE.match(p)]
    if not cleaned or bad:
        raise DomainError(f"封存的区划代码前缀不正确：{'、'.join(bad) or '（空）'}。", code="invalid_prefix")
    if not label.strip() or not reference.strip():
        raise DomainError("封存须写明原因和来源。", code="invalid_freeze")
    with transaction.atomic():
        live = set(
            RegionFreeze.objects.filter(reference=reference, lifted_at__isnull=True).values_list("prefix", flat=True)
        )
        RegionFreeze.objects.bulk_create(
            [RegionFreeze(prefix=p, label=label.strip(), reference=reference) for p in cleaned if p not in live]
        )
        guards_sync()


def freeze_lift(*, reference: str) -> int:
    """Lift the live freezes made under the reference; returns how many were lifted (0 when none was live)."""
    from agencies.models import RegionFreeze

    with transaction.atomic():
        lifted = RegionFreeze.objects.filter(reference=reference, lifted_at__isnull=True).update(
            lifted_at=timezone.now()
        )
        if lifted:
            guards_sync()
    return lifted


def frozen_prefixes() -> list[str]:
    from agencies.models import RegionFreeze

    return sorted(set(RegionFreeze.objects.filter(lifted_at__isnull=True).values_list("prefix", flat=True)))


def frozen_label_for(region_code: str) -> str | None:
    """The label of a live freeze covering the code, for a friendly refusal before the database's."""
    from agencies.models import RegionFreeze

    for prefix, label in RegionFreeze.objects.filter(lifted_at__isnull=True).values_list("prefix", "label"):
        if region_code.startswith(prefix):
            return label
    return None


def frozen_message(label: str) -> str:
    return f"该记录所属地区的数据已因“{label}”封存，暂不能修改。"


def frozen_refusal(exc: BaseException) -> DomainError | None:
    """The clerk's refusal for a database error raised by a freeze guard (psycopg2: InternalError; SQLite:
    OperationalError), or None for any other error."""
    if SQLITE_FUNCTION_RAISED in str(exc) and getattr(_local, "refused", None) is not None:
        label, _local.refused = _local.refused, None  # read once: a later, unrelated error is not a freeze
        return Conflict(frozen_message(label), code="frozen")
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        text = str(current)
        at = text.find(MARKER)
        if at >= 0:
            # PostgreSQL appends CONTEXT lines after the message.
            label = text[at + len(MARKER) :].splitlines()[0].strip() if text[at + len(MARKER) :] else ""
            return Conflict(frozen_message(label), code="frozen")
        current = current.__cause__ or current.__context__
    return None


# --- the bypass ------------------------------------------------------------------------------------


def sqlite_bypass_on() -> int:
    """The SQLite function the guards call: 1 while this thread is inside ``freeze_bypass()``."""
    return 1 if getattr(_local, "bypass", 0) else 0


# The statement Django's flush sends SQLite for each table: SQLite's TRUNCATE.
_SQLITE_WIPE_RE = re.compile(r'^DELETE FROM "[A-Za-z0-9_]+";$')


def _sqlite_wipe_passes(execute, sql, params, many, context):
    """A whole-table wipe passes the guards on SQLite as TRUNCATE passes row triggers on PostgreSQL: it is
    the test flush's, never business (which deletes rows by key), and a flush must not fail on a freeze."""
    if params is None and isinstance(sql, str) and _SQLITE_WIPE_RE.match(sql):
        before = getattr(_local, "bypass", 0)
        _local.bypass = before + 1
        try:
            return execute(sql, params, many, context)
        finally:
            _local.bypass = before
    return execute(sql, params, many, context)


def sqlite_refuse(message: str) -> None:
    """The SQLite guard's refusal. Raised from a function rather than by RAISE(ABORT): SQLite reports that
    as a constraint failure (IntegrityError), which services read as "someone else got there first"; sqlite3
    keeps only a fixed text of a function's exception, so the label waits here for ``frozen_refusal``."""
    _local.refused = message[len(MARKER) :] if message.startswith(MARKER) else message
    raise RuntimeError(message)


def register_sqlite_function(sender, connection: BaseDatabaseWrapper, **kwargs) -> None:
    """``connection_created``: give every SQLite connection the functions the guard triggers call."""
    if connection.vendor == "sqlite":
        connection.connection.create_function(SQLITE_FUNCTION, 0, sqlite_bypass_on)
        connection.connection.create_function(SQLITE_REFUSE, 1, sqlite_refuse)
        if _sqlite_wipe_passes not in connection.execute_wrappers:
            connection.execute_wrappers.append(_sqlite_wipe_passes)


def _pg_in_error(connection: BaseDatabaseWrapper) -> bool:
    import psycopg2.extensions

    raw = connection.connection
    return raw is None or raw.info.transaction_status == psycopg2.extensions.TRANSACTION_STATUS_INERROR


@contextmanager
def freeze_bypass(*, using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """Inside a transaction: let this transaction write frozen rows (the merger's own import). The bypass
    ends with the block, and at the latest with the transaction."""
    connection = connections[using]
    if not connection.in_atomic_block:
        raise RuntimeError("freeze_bypass() must be used inside transaction.atomic()")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL {PG_SETTING} = 'on'")
        try:
            yield
        finally:
            # An aborted transaction takes the SET LOCAL with it when it rolls back.
            if not _pg_in_error(connection):
                with connection.cursor() as cursor:
                    cursor.execute(f"RESET {PG_SETTING}")
        return
    before = getattr(_local, "bypass", 0)
    _local.bypass = before + 1
    try:
        yield
    finally:
        _local.bypass = before
