"""The inbox: the event ids each consumer has handled, written in the same transaction as the handling."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Column, MetaData, String, Table, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.bulk import insert_many
from shared.contract.envelope import Envelope
from shared.db import UTCDateTime, bucketed, utcnow


def inbox_table(metadata: MetaData) -> Table:
    return Table(
        "inbox",
        metadata,
        Column("consumer", String(64), primary_key=True),
        Column("event_id", String(64), primary_key=True),
        Column("event_type", String(128), nullable=False),
        Column("processed_at", UTCDateTime(), nullable=False),
    )


class Inbox:
    """Processed event ids per consumer, written in the handler's transaction."""

    def __init__(self, table: Table) -> None:
        self.table = table

    async def seen(self, session: AsyncSession, consumer: str, event_id: str) -> bool:
        query = select(self.table.c.event_id).where(self.table.c.consumer == consumer, self.table.c.event_id == event_id)
        return (await session.execute(query)).first() is not None

    async def seen_many(self, session: AsyncSession, consumer: str, event_ids: list[str]) -> set[str]:
        if not event_ids:
            return set()
        query = select(self.table.c.event_id).where(self.table.c.consumer == consumer,
                                                    self.table.c.event_id.in_(bucketed(event_ids)))
        return set((await session.execute(query)).scalars().all())

    async def record_many(self, session: AsyncSession, consumer: str, envelopes: list[Envelope]) -> None:
        if not envelopes:
            return
        now = utcnow()
        await session.run_sync(insert_many, self.table, [
            {"consumer": consumer, "event_id": env.id, "event_type": env.type, "processed_at": now} for env in envelopes
        ])

    async def record(self, session: AsyncSession, consumer: str, envelope: Envelope) -> None:
        await session.execute(
            self.table.insert().values(
                consumer=consumer, event_id=envelope.id, event_type=envelope.type, processed_at=utcnow()
            )
        )

    async def purge(self, session: AsyncSession, older_than_s: float) -> None:
        cutoff = utcnow() - timedelta(seconds=older_than_s)
        await session.execute(delete(self.table).where(self.table.c.processed_at < cutoff))
