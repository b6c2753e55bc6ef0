"""Set-based queries of the authority's receipts: what a batch of receipts reads, in one statement per kind, and its
receipts written in one insert.

A batch of 50 receipts read its message, its declaration and (for an order's, cancellation's or return's answer) the
declaration's earlier receipts one receipt at a time, and kept each receipt with an ORM flush of its own: some 220
statements, whose per-statement overhead was most of the batch's CPU. Nothing here commits: the endpoint does.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, NamedTuple

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from services.customs.models import Declaration, Message, Receipt
from shared.db import bucketed

_receipts = Receipt.__table__

# An answer applied or recorded before, as a repeat is recognised: the message answered, the status, its time.
Answer = tuple[str, int, str]


class FiledMessage(NamedTuple):
    """What a receipt needs of the message it answers (not its body: a filed message is kilobytes of XML)."""

    guid: str
    declaration_id: str
    message_type: str
    purpose: str


_m = Message.__table__.c
_MESSAGES = (select(_m.guid, _m.declaration_id, _m.message_type, _m.purpose)
             .where(_m.guid.in_(bindparam("guids", expanding=True))))
# Without the parcel (kilobytes of JSON, decoded per row: a third of reading a batch's declarations), which no
# receipt reads; raiseload: a use of it that this misses fails loudly instead of loading it unseen.
_DECLARATIONS = (select(Declaration).options(defer(Declaration.parcel, raiseload=True))
                 .where(Declaration.id.in_(bindparam("ids", expanding=True))))
_ANSWERED = (select(_receipts.c.message_guid, _receipts.c.return_status, _receipts.c.return_time)
             .where(_receipts.c.message_guid.in_(bindparam("guids", expanding=True)),
                    _receipts.c.outcome.in_(("applied", "recorded"))))
# PostgreSQL: one INSERT ... SELECT ... RETURNING whose ids SQLAlchemy (insertmanyvalues) matches to the rows given.
# SQLite, where the same guarantee costs a statement per row: one multi-row INSERT whose ids, sorted, are in the
# order of the rows (each row of an INSERT takes the table's highest rowid + 1 as it is inserted, and this
# transaction holds the database's only write lock).
_ADD_IN_ORDER = _receipts.insert().returning(_receipts.c.id, sort_by_parameter_order=True)
_ADD = _receipts.insert().returning(_receipts.c.id)


class ReceiptRepository:
    """Receipts' reads and writes for many receipts at once, in the caller's session."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def messages(self, guids: Collection[str]) -> dict[str, FiledMessage]:
        """The messages filed with these guids (absent: never filed), by guid."""
        if not guids:
            return {}
        result = await self.session.execute(_MESSAGES, {"guids": bucketed(sorted(guids))})
        return {row.guid: FiledMessage(*row) for row in result}

    async def declarations(self, ids: Collection[str]) -> dict[str, Declaration]:
        """The declarations with these ids, by id; the objects join the session (repository.get finds them)."""
        if not ids:
            return {}
        result = await self.session.execute(_DECLARATIONS, {"ids": bucketed(sorted(ids))})
        return {declaration.id: declaration for declaration in result.scalars()}

    async def answered(self, guids: Collection[str]) -> set[Answer]:
        """(message guid, status, time) of every receipt applied or recorded for these messages."""
        if not guids:
            return set()
        rows = await self.session.execute(_ANSWERED, {"guids": bucketed(sorted(guids))})
        return {(guid, status, at) for guid, status, at in rows}

    async def add_receipts(self, rows: Sequence[Mapping[str, Any]]) -> list[int]:
        """Keep receipts as received, in one insert (rows of the same columns); their ids, in the order given."""
        if not rows:
            return []
        keys = set().union(*(row.keys() for row in rows))
        # Rows of one shape (a batch's kept receipts) go as they are; copying each into a full row was an eighth
        # of the insert's CPU. A refused receipt among them has other columns: then each row gets every column.
        full = rows if all(len(row) == len(keys) for row in rows) else [{key: row.get(key) for key in keys}
                                                                          for row in rows]
        if self.session.bind.dialect.name == "postgresql":
            return list((await self.session.execute(_ADD_IN_ORDER, full)).scalars())
        return sorted((await self.session.execute(_ADD, full)).scalars())
