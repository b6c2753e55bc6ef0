"""Named sequences: S10 serials, carrier waybill numbers, logistics numbers, S9 dispatch serials."""

from __future__ import annotations

from sqlalchemy import bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from services.postal.repository.base import dialect, per_dialect, sequences
from shared.db import UTCDateTime, utcnow

_BUMP = (
    update(sequences)
    .where(sequences.c.name == bindparam("seq_name"))
    .values(next_value=sequences.c.next_value + bindparam("seq_count"),
            updated_at=bindparam("seq_now", type_=UTCDateTime()))
    .returning(sequences.c.next_value)
)
_CREATE_SEQUENCE = per_dialect(lambda insert: insert(sequences).on_conflict_do_nothing(index_elements=["name"]))


async def allocate(session: AsyncSession, name: str, count: int = 1) -> int:
    """Take `count` consecutive numbers from sequence `name` (starting at 1); returns the first.

    One atomic `UPDATE … RETURNING` in the caller's transaction: the row lock (or SQLite's writer lock) holds off
    every other allocator until we commit, and a rollback gives the numbers back, so none is issued twice.
    """
    if count < 1:
        raise ValueError("count must be positive")
    bump = {"seq_name": name, "seq_count": count, "seq_now": utcnow()}
    end = (await session.execute(_BUMP, bump)).scalar_one_or_none()
    if end is None:
        # First use: create the row; a racing creator wins harmlessly (DO NOTHING), then both increment it.
        await session.execute(_CREATE_SEQUENCE[dialect(session)],
                              {"name": name, "next_value": 1, "updated_at": utcnow()})
        end = (await session.execute(_BUMP, bump)).scalar_one()
    return end - count


_GIVE_BACK = (
    update(sequences)
    .where(sequences.c.name == bindparam("seq_name"), sequences.c.next_value == bindparam("taken_to"))
    .values(next_value=bindparam("unused_from"))
)


def give_back(session: Session, name: str, *, unused_from: int, taken_to: int) -> None:
    """Return the unused tail [unused_from, taken_to) of what this transaction allocated from `name`.

    Synchronous, for a before-commit hook. Safe because the transaction still holds the sequence's row lock (or
    SQLite's writer lock): nobody took a number after ours. Should the counter have moved anyway, nothing changes.
    """
    session.connection().execute(_GIVE_BACK, {"seq_name": name, "unused_from": unused_from, "taken_to": taken_to})

