"""Merge-only writes to `processing_metadata` JSON fields: concurrent writers never lose keys.

On PostgreSQL a merge is one statement, `UPDATE ... SET m = m || %s::jsonb` (a shallow merge:
top-level keys are added or replaced, others kept). Elsewhere (SQLite) it is a read-merge-write
inside a transaction on a row locked with SELECT ... FOR UPDATE. Appending to a list, such as an
event history, has its own helper with the same guarantees.
"""

from __future__ import annotations

import json
import math
from typing import Any

from django.db import connection, models, transaction
from pydantic import BaseModel

FIELD = "processing_metadata"


def _finite(value: Any) -> Any:
    """NaN and ±inf become None (JSON, and PostgreSQL's jsonb, have no such numbers)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def _jsonable(values: dict[str, Any] | BaseModel) -> dict[str, Any]:
    if isinstance(values, BaseModel):
        values = values.model_dump(mode="json")
    # Round-trip through JSON: fails early on values JSON cannot hold.
    return json.loads(json.dumps(_finite(values), allow_nan=False))


def _table_and_column(instance: models.Model) -> tuple[str, str, str]:
    meta = instance._meta
    field = meta.get_field(FIELD)
    assert isinstance(field, models.Field) and field.column and meta.pk is not None and meta.pk.column
    qn = connection.ops.quote_name
    return qn(meta.db_table), qn(field.column), qn(meta.pk.column)


def metadata_merge(*, instance: models.Model, values: dict[str, Any]) -> dict[str, Any]:
    """Merge `values` into the row's metadata (top-level keys); returns the stored blob.

    The in-memory instance is refreshed so that callers see what the database holds.
    """
    payload = _jsonable({key: _jsonable(v) if isinstance(v, BaseModel) else v for key, v in values.items()})
    if connection.vendor == "postgresql":
        table, column, pk = _table_and_column(instance)
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET {column} = COALESCE({column}, '{{}}'::jsonb) || %s::jsonb "  # noqa: S608 - quoted identifiers
                f"WHERE {pk} = %s RETURNING {column}",
                [json.dumps(payload), instance.pk],
            )
            row = cursor.fetchone()
        merged = row[0] if isinstance(row[0], dict) else json.loads(row[0])
    else:
        with transaction.atomic():
            locked = type(instance)._default_manager.select_for_update().only(FIELD).get(pk=instance.pk)
            merged = {**(getattr(locked, FIELD) or {}), **payload}
            type(instance)._default_manager.filter(pk=instance.pk).update(**{FIELD: merged})
    setattr(instance, FIELD, merged)
    return merged


def metadata_append(*, instance: models.Model, key: str, item: Any) -> dict[str, Any]:
    """Append `item` to the list under `key` (created when absent); never reassigns the list."""
    item = _jsonable({"item": item})["item"]
    if connection.vendor == "postgresql":
        table, column, pk = _table_and_column(instance)
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET {column} = jsonb_set(COALESCE({column}, '{{}}'::jsonb), %s::text[], "  # noqa: S608
                f"COALESCE({column} -> %s, '[]'::jsonb) || jsonb_build_array(%s::jsonb)) "
                f"WHERE {pk} = %s RETURNING {column}",
                [[key], key, json.dumps(item), instance.pk],
            )
            row = cursor.fetchone()
        merged = row[0] if isinstance(row[0], dict) else json.loads(row[0])
    else:
        with transaction.atomic():
            locked = type(instance)._default_manager.select_for_update().only(FIELD).get(pk=instance.pk)
            current = dict(getattr(locked, FIELD) or {})
            existing = current.get(key, [])
            if not isinstance(existing, list):
                raise ValueError(f"{FIELD}[{key!r}] is not a list; cannot append")
            merged = {**current, key: [*existing, item]}
            type(instance)._default_manager.filter(pk=instance.pk).update(**{FIELD: merged})
    setattr(instance, FIELD, merged)
    return merged
