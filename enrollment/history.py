"""A person's change history read from django-simple-history: who, when, what changed and why.

A selector in its own module (the API and the browser both show it); the person is fetched through the scope
by the caller, so this only turns the history rows into entries a clerk can read.
"""

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from agencies.models import Region
from enrollment.models import InsuredPerson

HISTORY_TYPES = {"+": "创建", "~": "修改", "-": "删除"}


@dataclass
class FieldChange:
    field: str
    label: str
    old: Any
    new: Any
    old_display: str
    new_display: str


@dataclass
class HistoryEntry:
    history_id: int
    at: dt.datetime
    user_id: int | None
    user_name: str
    type: str
    type_display: str
    reason: str
    changes: list[FieldChange] = field(default_factory=list)


def _display(model_field, value: Any, village_names: dict[int, str]) -> str:
    if value is None or value == "":
        return ""
    if model_field.name == "village":
        return village_names.get(value, str(value))
    if model_field.choices:
        return str(dict(model_field.flatchoices).get(value, value))
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def person_history(*, person: InsuredPerson) -> list[HistoryEntry]:
    """Newest first. The first record lists every field it set; later ones what differs from the one before."""
    records = list(person.history.select_related("history_user").order_by("history_date", "history_id"))
    raw: list[tuple[Any, list[tuple[str, Any, Any]]]] = []
    previous = None
    for record in records:
        if previous is None:
            # The row id is no business of the clerk's.
            tracked = [f.name for f in record.tracked_fields if f.editable and not f.primary_key]
            changes = [(name, None, getattr(record, _attname(name))) for name in tracked]
            changes = [(name, old, new) for name, old, new in changes if new not in (None, "")]
        else:
            delta = record.diff_against(previous)
            changes = [(change.field, change.old, change.new) for change in delta.changes]
        raw.append((record, changes))
        previous = record

    # Villages appear as ids in the diff; name them with one query, not one per change.
    village_ids = {value for _, changes in raw for name, *values in changes if name == "village" for value in values}
    village_names = dict(Region.objects.filter(pk__in=village_ids - {None}).values_list("pk", "name"))

    entries = []
    for record, changes in raw:
        user = record.history_user
        entries.append(
            HistoryEntry(
                history_id=record.history_id,
                at=record.history_date,
                user_id=user.pk if user else None,
                user_name=user.display_name if user else "",
                type=record.history_type,
                type_display=HISTORY_TYPES.get(record.history_type, record.history_type),
                reason=record.history_change_reason or "",
                changes=[
                    _change(name, old, new, village_names) for name, old, new in sorted(changes, key=lambda c: c[0])
                ],
            )
        )
    entries.reverse()
    return entries


def _attname(name: str) -> str:
    return InsuredPerson._meta.get_field(name).attname


def _change(name: str, old: Any, new: Any, village_names: dict[int, str]) -> FieldChange:
    model_field = InsuredPerson._meta.get_field(name)
    return FieldChange(
        field=name,
        label=str(model_field.verbose_name),
        old=old,
        new=new,
        old_display=_display(model_field, old, village_names),
        new_display=_display(model_field, new, village_names),
    )
