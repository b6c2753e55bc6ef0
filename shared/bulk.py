"""Many rows in one statement.

A multi-row executemany still runs its statement once per row on PostgreSQL: one Bind and Execute each, with the
executor's start-up, locks and snapshot every time, and the driver encoding every row. Rows of the same columns
go instead as one array per column through `unnest(…)`: one execution whatever the count, and one SQL text per
table and column set, so one prepared statement. SQLite runs in-process, where the driver's executemany is cheap;
inserts hand it the rows bound here, skipping SQLAlchemy's per-row parameter handling (most of an insert's CPU).

Values go through the columns' own bind processing (type decorators included), so rows are given exactly as to
`table.insert()` or `table.update()`; a value repeated from row to row (one timestamp for a batch) is processed
once.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Connection, Dialect, Table, bindparam
from sqlalchemy.dialects import postgresql, sqlite
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
    shape = _insert_shape(connection.dialect, table, tuple(rows[0])) if len(rows) > 1 else None
    if shape is None:
        connection.execute(table.insert(), list(rows))
        return
    _execute(connection, shape, rows)


def insert_new(bind: Connection | Session, table: Table, rows: Sequence[Mapping[str, Any]],
               unique: tuple[str, ...]) -> int:
    """insert_many, leaving out the rows whose `unique` columns (a unique constraint's) match a stored row or an
    earlier row (ON CONFLICT DO NOTHING); returns how many were added."""
    if not rows:
        return 0
    connection = bind.connection() if isinstance(bind, Session) else bind
    if not _same_keys(rows, tuple(rows[0])):
        return sum(insert_new(connection, table, group, unique) for group in _by_keys(rows))
    shape = _insert_shape(connection.dialect, table, tuple(rows[0]), unique) if len(rows) > 1 else None
    if shape is None:
        return len(connection.execute(_insert_new_statement(connection.dialect.name, table, unique), list(rows)).all())
    return _execute(connection, shape, rows).rowcount


def _execute(connection: Connection, shape: _Shape, rows: Sequence[Mapping[str, Any]]) -> Any:
    """The shape's statement with the rows: as one array per column, or executemany of row tuples."""
    columns = _columns_of(rows, shape.keys, shape.processors)
    columns.extend([value] * len(rows) for value in shape.defaults)
    if shape.arrays:
        return connection.exec_driver_sql(shape.sql, tuple(columns))
    return connection.exec_driver_sql(shape.sql, list(zip(*columns)))


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
        arrays.append(_processed(values, process) if process is not None else values)
    return arrays


def _processed(values: list[Any], process: Any) -> list[Any]:
    """The values bound as their column binds them; a value repeated row after row (a batch's one timestamp) is
    processed once."""
    processed, last, last_processed = [], _NOTHING, None
    for value in values:
        if value is not last:
            last, last_processed = value, process(value)
        processed.append(last_processed)
    return processed


_NOTHING = object()


@dataclass(frozen=True)
class _Shape:
    sql: str
    keys: tuple[str, ...]
    processors: tuple[Any, ...]
    defaults: tuple[Any, ...] = ()
    arrays: bool = True  # one array per column (PostgreSQL), else executemany of row tuples


def _array_of(dialect: Dialect, columns: Sequence[Column[Any]]) -> str:
    return ", ".join(f"${n}::{column.type.compile(dialect=dialect)}[]" for n, column in enumerate(columns, 1))


def _processors(dialect: Dialect, table: Table, keys: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(table.c[key].type._cached_bind_processor(dialect) for key in keys)


@functools.lru_cache(maxsize=64)
def _insert_new_statement(dialect_name: str, table: Table, unique: tuple[str, ...]) -> Any:
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    return (dialect.insert(table).on_conflict_do_nothing(index_elements=list(unique))
            .returning(table.c[unique[0]]))


@functools.lru_cache(maxsize=256)
def _insert_shape(dialect: Dialect, table: Table, keys: tuple[str, ...],
                  unique: tuple[str, ...] | None = None) -> _Shape | None:
    """How to insert `table` rows of `keys` (skipping those conflicting on `unique`, if given) with the values bound
    here: as arrays on PostgreSQL, by executemany of the driver's statement on SQLite (without SQLAlchemy's per-row
    parameter handling). None where SQLAlchemy must do it: another database, or a column left out whose Python-side
    default is computed per row."""
    if dialect.name not in ("postgresql", "sqlite") or any(key not in table.c for key in keys):
        return None
    if dialect.name == "sqlite" and dialect.paramstyle != "qmark":
        return None
    defaults, default_columns = [], []
    for column in table.c:
        if column.key in keys or column.default is None:
            continue
        if not column.default.is_scalar:
            return None
        process = column.type._cached_bind_processor(dialect)
        defaults.append(column.default.arg if process is None else process(column.default.arg))
        default_columns.append(column)
    columns = [table.c[key] for key in keys] + default_columns
    quote = dialect.identifier_preparer.quote
    arrays = dialect.name == "postgresql"
    values = f"SELECT * FROM unnest({_array_of(dialect, columns)})" if arrays else \
        f"VALUES ({', '.join('?' for _ in columns)})"
    sql = (f"INSERT INTO {dialect.identifier_preparer.format_table(table)} "
           f"({', '.join(quote(column.name) for column in columns)}) {values}")
    if unique is not None:
        sql += f" ON CONFLICT ({', '.join(quote(table.c[key].name) for key in unique)}) DO NOTHING"
    return _Shape(sql=sql, keys=keys, processors=_processors(dialect, table, keys), defaults=tuple(defaults),
                  arrays=arrays)


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
