"""Queries of the exchange with the customs authority: messages filed, the gateway's attempts, receipts received.

Nothing here commits: the filing's transaction, the gateway worker or the receipts endpoint does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.customs.domain.status import AWAITING_AUTHORITY
from services.customs.models import Declaration, Exchange, Message, Receipt
from shared.batch import insert_rows
from shared.bulk import update_many

_messages = Message.__table__
_exchanges = Exchange.__table__
_receipts = Receipt.__table__


class ExchangeRepository:
    """Messages out, the gateway's exchanges and the receipts in, in the caller's session."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # ── messages filed ────────────────────────────────────────────────────

    async def add_messages(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Messages to file: every column of `messages` (the guid is the key)."""
        await insert_rows(self.session, _messages, [dict(row) for row in rows])

    async def message(self, guid: str) -> Message | None:
        return await self.session.get(Message, guid)

    async def messages_of(self, declaration_id: str) -> list[Message]:
        query = (select(Message).where(Message.declaration_id == declaration_id)
                 .order_by(Message.created_at, Message.message_type))  # CEB311 before CEB621 of one filing
        return list((await self.session.execute(query)).scalars())

    async def take_due(self, *, now: datetime, lease_until: datetime, limit: int) -> list[Message]:
        """Queued messages due now, leased to this gateway until `lease_until` (SKIP LOCKED: replicas share the
        work; a gateway that dies mid-send leaves the lease to lapse, and the message goes again — the authority
        is idempotent on the guid)."""
        query = (select(Message).where(Message.state == "queued", Message.next_attempt_at <= now)
                 .order_by(Message.next_attempt_at, Message.created_at).limit(limit)
                 .with_for_update(skip_locked=True))
        due = list((await self.session.execute(query)).scalars())
        if due:
            leases = [{"guid": m.guid, "next_attempt_at": lease_until} for m in due]
            await self.session.run_sync(lambda sync_session: update_many(sync_session, _messages, "guid", leases))
        return due

    async def settle_all(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """What a round's attempts ended in, one row per message (guid, state, attempts, next_attempt_at,
        last_error, sent_at): one statement on PostgreSQL, whatever the round's size."""
        rows = [dict(row) for row in rows]
        await self.session.run_sync(lambda sync_session: update_many(sync_session, _messages, "guid", rows))

    async def awaiting_authority(self, *, up_to: int) -> int:
        """Declarations filed and waiting on the authority's next receipt (not on a broker), counted up to `up_to`
        (so the count costs no more when the exchange is far behind)."""
        waiting = (select(Declaration.id).where(Declaration.status.in_(sorted(AWAITING_AUTHORITY)))
                   .limit(up_to).subquery())
        return int((await self.session.execute(select(func.count()).select_from(waiting))).scalar_one())

    # ── the gateway's attempts (the auditor's record) ─────────────────────

    async def add_exchange(self, row: Mapping[str, Any]) -> None:
        await insert_rows(self.session, _exchanges, [dict(row)])

    async def add_exchanges(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """A gateway round's attempts, in one insert."""
        await insert_rows(self.session, _exchanges, [dict(row) for row in rows])

    async def exchanges_of(self, guid: str) -> list[Exchange]:
        query = select(Exchange).where(Exchange.message_guid == guid).order_by(Exchange.id)
        return list((await self.session.execute(query)).scalars())

    # ── receipts ──────────────────────────────────────────────────────────

    async def add_receipt(self, row: Mapping[str, Any]) -> int:
        """Keep a receipt as received; returns its id."""
        receipt = Receipt(**row)
        self.session.add(receipt)
        await self.session.flush()
        return receipt.id

    async def receipts_of(self, declaration_id: str) -> list[Receipt]:
        query = select(Receipt).where(Receipt.declaration_id == declaration_id).order_by(Receipt.id)
        return list((await self.session.execute(query)).scalars())

    async def receipt(self, receipt_id: int) -> Receipt | None:
        return await self.session.get(Receipt, receipt_id)
