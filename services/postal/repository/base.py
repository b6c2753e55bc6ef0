"""What every repository module shares: the tables for Core statements, dialect helpers, per-transaction memory."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from services.postal.models import PendingEvent, Receptacle, Sequence, TrackingEvent, Waybill

# Hot paths use Core statements on the tables, built once: no ORM unit of work, no statement building per call.
waybills = Waybill.__table__
sequences = Sequence.__table__
pending_events = PendingEvent.__table__
receptacles = Receptacle.__table__
tracking_events = TrackingEvent.__table__


def dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else "sqlite"


def insert_for(session: AsyncSession, model: Any) -> Any:
    """INSERT with ON CONFLICT support for the session's dialect."""
    return (postgresql.insert if dialect(session) == "postgresql" else sqlite.insert)(model)


def per_dialect(build: Callable[[Any], Any]) -> dict[str, Any]:
    """A statement built once for each dialect from its own insert() (ON CONFLICT is dialect-specific)."""
    return {"postgresql": build(postgresql.insert), "sqlite": build(sqlite.insert)}


def locked(query: Select, *, skip_locked: bool = False) -> Select:
    # populate_existing: a row already in the session is refreshed with what the lock let us read.
    return query.with_for_update(skip_locked=skip_locked).execution_options(populate_existing=True)


def held_in_transaction(session: AsyncSession, key: str) -> dict[Any, Any] | None:
    """A dict for what this session's transaction read under its locks (valid until it ends); None in a savepoint,
    whose rollback would undo what the dict remembers."""
    sync = session.sync_session
    if sync.in_nested_transaction():
        return None
    transaction = sync.get_transaction()
    held = sync.info.get(key)
    if held is None or held[0] is not transaction:
        held = sync.info[key] = (transaction, {})
    return held[1]

