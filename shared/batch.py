"""Read ahead and write behind for a consumer batch handled in one transaction.

Per statement, the round trip to the database and the driver's work cost far more than the database needs to run
it, so a batch of 200 events written row by row spends most of its time on overhead. While the kit handles a batch
without savepoints (consumer.DurableConsumer's fast path) the session carries a `BatchScope`:

- **write behind**: plain inserts the handlers queue with `insert_rows` are held and written with one multi-row
  insert per table. Held rows are written before any other statement the session runs (and before a flush of
  the ORM and the commit), in the order they were queued, so every read sees them and foreign keys hold: the
  handlers behave exactly as if each insert had run at once. A failing held insert fails that statement; the
  kit then redoes the batch message by message, without a scope, so the error lands on the message at fault.
- **statements held**: an UPDATE or DELETE whose result nobody reads (`execute_later`) joins the batch's other
  calls of the same statement in one executemany, written right after the held inserts.
- **read ahead**: before the handlers run, a service's prefetchers read what the batch's handlers will ask for in
  one statement per kind and keep it in `scope.cache`. A cached answer must equal what a live read would return
  at that moment; the kit helps with `scope.unique_subjects`: the parcels with exactly one event in the batch,
  whose rows no earlier handler of the batch can have changed (events of one parcel are serialized across
  consumers by consumer.lock_parcels). Anything else is read live.

Outside the fast path (API requests, the savepoint path) there is no scope and `insert_rows` writes at once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session

from shared.bulk import insert_many

SCOPE_KEY = "silkgate_batch_scope"


@dataclass
class BatchScope:
    """What one batch transaction holds back and reads ahead; lives in `session.info` while the batch runs."""

    unique_subjects: frozenset[str] = frozenset()
    cache: dict[Any, Any] = field(default_factory=dict)
    _held: dict[Table, list[Mapping[str, Any]]] = field(default_factory=dict)
    _held_statements: dict[Any, list[Mapping[str, Any]]] = field(default_factory=dict)
    writing: bool = False

    @classmethod
    def for_subjects(cls, subjects: Iterable[str]) -> BatchScope:
        counts = Counter(subjects)
        return cls(unique_subjects=frozenset(s for s, n in counts.items() if n == 1))

    def hold(self, table: Table, rows: list[Mapping[str, Any]]) -> None:
        self._held.setdefault(table, []).extend(rows)

    def hold_statement(self, statement: Any, parameters: Mapping[str, Any]) -> None:
        self._held_statements.setdefault(statement, []).append(parameters)

    @property
    def pending(self) -> bool:
        return bool(self._held or self._held_statements)

    def write_held(self, session: Session) -> None:
        """Write every held row now: one multi-row insert per table, parents before children (the metadata's
        foreign-key order), each table's rows in the order queued. Sync: runs inside the session's greenlet."""
        if not self.pending or self.writing:
            return
        held, self._held = self._held, {}
        statements, self._held_statements = self._held_statements, {}
        self.writing = True
        try:
            connection = session.connection()
            for table in _dependency_order(held):
                insert_many(connection, table, held[table])
            for statement, parameters in statements.items():
                connection.execute(statement, parameters)
        finally:
            self.writing = False


def _dependency_order(held: dict[Table, list[Mapping[str, Any]]]) -> list[Table]:
    tables = list(held)
    if not tables:
        return tables
    order = {table: rank for rank, table in enumerate(tables[0].metadata.sorted_tables)}
    return sorted(tables, key=lambda table: order.get(table, len(order)))


def scope_of(session: AsyncSession | Session) -> BatchScope | None:
    """The batch scope of a consumer's fast path, or None (API requests, the savepoint path)."""
    return session.info.get(SCOPE_KEY)


async def insert_rows(session: AsyncSession, table: Table, rows: list[Mapping[str, Any]]) -> None:
    """Insert rows: held until the next statement inside a batch scope, at once otherwise.

    Only for plain inserts whose failure nobody catches on the spot (an "insert if new" must run at once)."""
    if not rows:
        return
    scope = scope_of(session)
    if scope is not None:
        scope.hold(table, rows)
        return
    await session.execute(table.insert(), rows)


async def execute_later(session: AsyncSession, statement: Any, parameters: Mapping[str, Any]) -> None:
    """Run an UPDATE or DELETE whose result nobody reads: inside a batch scope held and run with the batch's other
    calls of the same statement as one executemany, right after the held inserts; at once otherwise.

    Only for statements whose effect no row inserted later in the same batch could change (held inserts are
    written first), and whose failure nobody catches on the spot."""
    scope = scope_of(session)
    if scope is not None:
        scope.hold_statement(statement, parameters)
        return
    await session.execute(statement, parameters)


def open_scope(session: AsyncSession, subjects: Iterable[str]) -> BatchScope:
    scope = BatchScope.for_subjects(subjects)
    session.info[SCOPE_KEY] = scope
    return scope


async def close_scope(session: AsyncSession) -> None:
    """Write what is still held and leave the fast path (called before the kit's own inbox insert)."""
    scope = session.info.get(SCOPE_KEY)
    if scope is None:
        return
    if scope.pending:
        await session.run_sync(scope.write_held)
    session.info.pop(SCOPE_KEY, None)


def _write_held_first(session: Session) -> None:
    scope = session.info.get(SCOPE_KEY)
    if scope is not None and scope.pending and not scope.writing:
        scope.write_held(session)


@sqlalchemy_event.listens_for(Session, "do_orm_execute")
def _before_statement(state: ORMExecuteState) -> None:
    _write_held_first(state.session)


@sqlalchemy_event.listens_for(Session, "before_flush")
def _before_orm_flush(session: Session, _flush_context: Any, _instances: Any) -> None:
    _write_held_first(session)


@sqlalchemy_event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    _write_held_first(session)
