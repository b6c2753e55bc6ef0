"""Every query of the sandbox carrier."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.carrier.models import manifests, planned_events


async def find_manifest(session: AsyncSession, *, dispatch_id: str, idempotency_key: str | None) -> Any:
    """A manifest already received under this dispatch id or idempotency key."""
    condition = manifests.c.dispatch_id == dispatch_id
    if idempotency_key:
        condition = or_(condition, manifests.c.idempotency_key == idempotency_key)
    return (await session.execute(select(manifests).where(condition).limit(1))).first()


async def add_manifest(session: AsyncSession, values: dict[str, Any]) -> None:
    await session.execute(manifests.insert().values(**values))


async def add_planned_events(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(planned_events.insert(), rows)


async def due_events(session: AsyncSession, *, now: datetime, limit: int) -> list[Any]:
    query = (
        select(planned_events)
        .where(planned_events.c.state == "planned", planned_events.c.due_at <= now,
               planned_events.c.next_try_at <= now)
        .order_by(planned_events.c.due_at, planned_events.c.id)
        .limit(limit)
    )
    return list((await session.execute(query)).all())


async def settle(session: AsyncSession, event_id: int, *, state: str, now: datetime, error: str | None = None) -> None:
    await session.execute(
        update(planned_events).where(planned_events.c.id == event_id)
        .values(state=state, sent_at=now, last_error=error, attempts=planned_events.c.attempts + 1)
    )


async def postpone(session: AsyncSession, event_id: int, *, until: datetime, error: str) -> None:
    await session.execute(
        update(planned_events).where(planned_events.c.id == event_id)
        .values(next_try_at=until, last_error=error[:2000], attempts=planned_events.c.attempts + 1)
    )


async def progress(session: AsyncSession, dispatch_id: str) -> dict[str, int]:
    query = (
        select(planned_events.c.state, func.count())
        .where(planned_events.c.dispatch_id == dispatch_id)
        .group_by(planned_events.c.state)
    )
    return {state: count for state, count in (await session.execute(query)).all()}
