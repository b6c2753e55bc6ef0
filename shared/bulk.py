"""Many rows in one statement.

A multi-row executemany still runs its statement once per row on PostgreSQL: one Bind and Execute each, with the
executor's start-up, locks and snapshot every time, and the driver encoding every row. Rows of the same columns
go instead as one array per column through `unnest(…)`: one execution whatever the count, and one SQL text per
table and column set, so one prepared statement. SQLite runs in-process, where executemany is already cheap.

Values go through the columns' own bind processing (type decorators included), so rows are given exactly as to
`table.insert()` or `table.update()`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Connection, Dialect, Table, bindparam
from sqlalchemy.orm import Session


def insert_many(bind: Connection | Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """INSERT the rows in one statement on PostgreSQL (one per set of keys, when rows leave different columns
    out); executemany elsewhere."""
    if not rows:
        return
    connection = bind.connection() if isinstance(bind, Session) else bind
    if not _same_keys(rows, tuple(rows[0])):
        for group in _by_keys(rows):
            insert_many(connection, table, group)
        return
    shape = _array_insert(connection.dialect, table, tuple(rows[0])) if len(rows) > 1 else None
    if shape is None:
        connection.execute(table.insert(), list(rows))
        return
    arrays = _columns_of(rows, shape.keys, shape.processors)
    arrays.extend([value] * len(rows) for value in shape.defaults)
    connection.exec_driver_sql(shape.sql, tuple(arrays))


def update_many(bind: Connection | Session, table: Table, key: str, rows: Sequence[Mapping[str, Any]]) -> None:
    """UPDATE one row per given row, found by `key` (a unique column), setting the row's other keys; one
    statement on PostgreSQL, executemany elsewhere. Each key at most once: which of two rows for one key wins
    is not defined."""
    if not rows:
        return
    connection = bind.connection() if isinstance(bind, Session) else bind
    keys = tuple(rows[0])
    if not _same_keys(rows, keys):
        for group in _by_keys(rows):
            update_many(connection, table, key, group)
        return
    shape = _array_update(connection.dialect, table, key, keys)
    if shape is None:
        statement = table.update().where(table.c[key] == bindparam("_bulk_key"))
        connection.execute(statement, [{**{name: value for name, value in row.items() if name != key},
                                        "_bulk_key": row[key]} for row in rows])
        return
    connection.exec_driver_sql(shape.sql, tuple(_columns_of(rows, shape.keys, shape.processors)))


def _same_keys(rows: Sequence[Mapping[str, Any]], keys: tuple[str, ...]) -> bool:
    first = rows[0].keys()
    return len(first) == len(keys) and all(row.keys() == first for row in rows)


def _by_keys(rows: Sequence[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
    groups: dict[frozenset[str], list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(frozenset(row), []).append(row)
    return list(groups.values())


def _columns_of(rows: Sequence[Mapping[str, Any]], keys: tuple[str, ...],
                processors: tuple[Any, ...]) -> list[list[Any]]:
    arrays = []
    for key, process in zip(keys, processors):
        values = [row[key] for row in rows]
        arrays.append([process(value) for value in values] if process is not None else values)
    return arrays


@dataclass(frozen=True)
class _Shape:
    sql: str
    keys: tuple[str, ...]
    processors: tuple[Any, ...]
    defaults: tuple[Any, ...] = ()


def _array_of(dialect: Dialect, columns: Sequence[Column[Any]]) -> str:
    return ", ".join(f"${n}::{column.type.compile(dialect=dialect)}[]" for n, column in enumerate(columns, 1))


def _processors(dialect: Dialect, table: Table, keys: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(table.c[key].type._cached_bind_processor(dialect) for key in keys)


@functools.lru_cache(maxsize=256)
def _array_insert(dialect: Dialect, table: Table, keys: tuple[str, ...]) -> _Shape | None:
    """How to insert `table` rows of `keys` as arrays, or None where executemany must do: not PostgreSQL, or a
    column left out whose Python-side default is computed per row."""
    if dialect.name != "postgresql" or any(key not in table.c for key in keys):
        return None
    defaults, default_columns = [], []
    for column in table.c:
        if column.key in keys or column.default is None:
            continue
        if not column.default.is_scalar:
            return None
        defaults.append(column.default.arg)
        default_columns.append(column)
    columns = [table.c[key] for key in keys] + default_columns
    quote = dialect.identifier_preparer.quote
    sql = (f"INSERT INTO {dialect.identifier_preparer.format_table(table)} "
           f"({', '.join(quote(column.name) for column in columns)}) "
           f"SELECT * FROM unnest({_array_of(dialect, columns)})")
    return _Shape(sql=sql, keys=keys, processors=_processors(dialect, table, keys), defaults=tuple(defaults))


@functools.lru_cache(maxsize=256)
def _array_update(dialect: Dialect, table: Table, key: str, keys: tuple[str, ...]) -> _Shape | None:
    if dialect.name != "postgresql" or key not in keys or any(name not in table.c for name in keys):
        return None
    quote = dialect.identifier_preparer.quote
    names = [quote(table.c[name].name) for name in keys]
    key_name = quote(table.c[key].name)
    target = dialect.identifier_preparer.format_table(table)
    assignments = ", ".join(f"{name} = rows.{name}" for name, key_ in zip(names, keys) if key_ != key)
    sql = (f"UPDATE {target} SET {assignments} FROM unnest({_array_of(dialect, [table.c[name] for name in keys])}) "
           f"AS rows({', '.join(names)}) WHERE {target}.{key_name} = rows.{key_name}")
    return _Shape(sql=sql, keys=keys, processors=_processors(dialect, table, keys))
