"""Every webhook query: endpoints, events, deliveries (claimed with a lease), attempts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from services.orders.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from shared.bulk import insert_many

PENDING, SUCCEEDED, FAILED = "pending", "succeeded", "failed"

# ── endpoints ─────────────────────────────────────────────────────────────────


async def count_endpoints(session: AsyncSession, merchant_code: str) -> int:
    query = select(func.count()).select_from(WebhookEndpoint).where(WebhookEndpoint.merchant_code == merchant_code)
    return (await session.execute(query)).scalar_one()


async def get_endpoint(session: AsyncSession, endpoint_id: str, *, merchant_code: str | None = None,
                       for_update: bool = False) -> WebhookEndpoint | None:
    """One endpoint; restricted to a merchant when `merchant_code` is given; row-locked when `for_update`."""
    query = select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id)
    if merchant_code is not None:
        query = query.where(WebhookEndpoint.merchant_code == merchant_code)
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    return (await session.scalars(query)).first()


async def list_endpoints(session: AsyncSession, merchant_code: str) -> list[WebhookEndpoint]:
    """A merchant's endpoints, oldest first (a merchant has a handful: no pagination)."""
    query = (select(WebhookEndpoint).where(WebhookEndpoint.merchant_code == merchant_code)
             .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id))
    return list((await session.scalars(query)).all())


_endpoints = WebhookEndpoint.__table__
# Built once: queueing runs with every status change (Core, no ORM entities: only the subscription is needed).
_ENABLED_SUBSCRIPTIONS = (
    select(_endpoints.c.id, _endpoints.c.merchant_code, _endpoints.c.event_types)
    .where(_endpoints.c.merchant_code.in_(bindparam("merchant_codes", expanding=True)), _endpoints.c.enabled.is_(True))
)


def enabled_endpoints(session: Session, merchant_codes: Iterable[str]) -> list[Row]:
    """The enabled endpoints of these merchants as (id, merchant_code, event_types) rows (sync: see
    service.subscriptions_of)."""
    codes = sorted(set(merchant_codes))
    if not codes:
        return []
    return list(session.execute(_ENABLED_SUBSCRIPTIONS, {"merchant_codes": codes}).all())


async def delete_endpoint(session: AsyncSession, endpoint_id: str) -> None:
    """The endpoint with its deliveries and their attempts (events stay until the purge: other endpoints share them)."""
    deliveries = select(WebhookDelivery.id).where(WebhookDelivery.endpoint_id == endpoint_id)
    await session.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(deliveries)))
    await session.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id))
    await session.execute(delete(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id))


async def endpoint_succeeded(session: AsyncSession, endpoint_id: str) -> None:
    """A success ends a failing streak."""
    await session.execute(update(WebhookEndpoint)
                          .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.failing_since.is_not(None))
                          .values(failing_since=None))


async def endpoint_failed(session: AsyncSession, endpoint_id: str, now: datetime) -> datetime | None:
    """Start the failing streak unless one runs already; returns when it started (None: endpoint gone)."""
    await session.execute(update(WebhookEndpoint)
                          .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.failing_since.is_(None))
                          .values(failing_since=now))
    query = select(WebhookEndpoint.failing_since).where(WebhookEndpoint.id == endpoint_id)
    return (await session.execute(query)).scalar_one_or_none()


async def disable_endpoint(session: AsyncSession, endpoint_id: str, *, reason: str, now: datetime) -> bool:
    """Disable an enabled endpoint; False when it was disabled (or deleted) already."""
    result = await session.execute(update(WebhookEndpoint)
                                   .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.enabled.is_(True))
                                   .values(enabled=False, disabled_reason=reason, disabled_at=now, updated_at=now))
    return bool(result.rowcount)


async def park_pending(session: AsyncSession, endpoint_id: str) -> int:
    """Take a disabled endpoint's waiting deliveries off the schedule (next_attempt_at NULL), so the sender's due
    scan never walks them; wake_pending puts them back when the endpoint is enabled."""
    result = await session.execute(update(WebhookDelivery)
                                   .where(WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.status == PENDING)
                                   .values(next_attempt_at=None))
    return result.rowcount or 0


# ── events and deliveries ─────────────────────────────────────────────────────


_INSERT_EVENTS = insert(WebhookEvent.__table__)
_INSERT_DELIVERIES = insert(WebhookDelivery.__table__)


async def insert_events(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(_INSERT_EVENTS, rows)


async def insert_deliveries(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(_INSERT_DELIVERIES, rows)


def insert_events_and_deliveries(session: Session, events: list[dict[str, Any]],
                                 deliveries: list[dict[str, Any]]) -> None:
    """Both inserts on a sync session: for the orders' batch writes, which run inside the commit (one statement
    each on PostgreSQL, shared.bulk)."""
    insert_many(session, WebhookEvent.__table__, events)
    insert_many(session, WebhookDelivery.__table__, deliveries)


def _due(now: datetime):
    """Pending deliveries whose time has come, not leased, of an enabled endpoint."""
    return (select(WebhookDelivery.id, WebhookDelivery.endpoint_id, WebhookDelivery.next_attempt_at)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .where(WebhookDelivery.status == PENDING, WebhookDelivery.next_attempt_at <= now,
                   or_(WebhookDelivery.locked_until.is_(None), WebhookDelivery.locked_until < now),
                   WebhookEndpoint.enabled.is_(True)))


async def due_deliveries(session: AsyncSession, *, now: datetime, busy_endpoints: Iterable[str], per_endpoint: int,
                         limit: int) -> list[tuple[str, str]]:
    """(delivery id, endpoint id) of due deliveries, oldest due first, at most `per_endpoint` per endpoint.

    Endpoints this process already keeps busy are left out, so a backlog on one endpoint never fills the page
    and hides another merchant's deliveries.
    """
    due = _due(now)
    busy = list(busy_endpoints)
    if busy:
        due = due.where(WebhookDelivery.endpoint_id.not_in(busy))
    rank = func.row_number().over(partition_by=WebhookDelivery.endpoint_id,
                                  order_by=(WebhookDelivery.next_attempt_at, WebhookDelivery.id))
    ranked = due.add_columns(rank.label("rank")).subquery()
    query = (select(ranked.c.id, ranked.c.endpoint_id).where(ranked.c.rank <= per_endpoint)
             .order_by(ranked.c.next_attempt_at, ranked.c.id).limit(limit))
    return [(row.id, row.endpoint_id) for row in (await session.execute(query)).all()]


async def claim(session: AsyncSession, delivery_ids: list[str], *, now: datetime, lease_until: datetime,
                token: str) -> None:
    """Lease the given deliveries that are still due and unleased. One conditional UPDATE: on PostgreSQL a racing
    replica's UPDATE waits for ours and then finds the lease taken, so no delivery is claimed twice."""
    if delivery_ids:
        await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id.in_(delivery_ids), WebhookDelivery.status == PENDING,
                   WebhookDelivery.next_attempt_at <= now,
                   or_(WebhookDelivery.locked_until.is_(None), WebhookDelivery.locked_until < now))
            .values(locked_until=lease_until, lease_token=token)
        )


@dataclass(frozen=True)
class ClaimedDelivery:
    """What the sender needs to POST one delivery."""

    id: str
    endpoint_id: str
    event_id: str
    event_type: str
    order_id: str
    attempt_count: int
    queued_at: datetime
    lease_token: str
    url: str
    secret: str  # sealed (webhooks/encryption.py)
    previous_secret: str | None
    previous_secret_expires_at: datetime | None
    payload: str


async def claimed_deliveries(session: AsyncSession, token: str) -> list[ClaimedDelivery]:
    query = (select(WebhookDelivery.id, WebhookDelivery.endpoint_id, WebhookDelivery.event_id,
                    WebhookDelivery.event_type, WebhookDelivery.order_id, WebhookDelivery.attempt_count,
                    WebhookDelivery.queued_at, WebhookDelivery.lease_token, WebhookEndpoint.url,
                    WebhookEndpoint.secret, WebhookEndpoint.previous_secret,
                    WebhookEndpoint.previous_secret_expires_at, WebhookEvent.payload)
             .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
             .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
             .where(WebhookDelivery.lease_token == token))
    return [ClaimedDelivery(**row._mapping) for row in (await session.execute(query)).all()]


async def release(session: AsyncSession, delivery_ids: list[str], token: str) -> None:
    """Give leased deliveries back unsent (the sender stops): due again at once for the next sender."""
    if delivery_ids:
        await session.execute(update(WebhookDelivery)
                              .where(WebhookDelivery.id.in_(delivery_ids), WebhookDelivery.lease_token == token)
                              .values(locked_until=None, lease_token=None))


async def finish_attempt(session: AsyncSession, delivery_id: str, token: str, **values: Any) -> bool:
    """Write an attempt's outcome on the delivery while we still hold its lease; False when we do not."""
    result = await session.execute(
        update(WebhookDelivery).where(WebhookDelivery.id == delivery_id, WebhookDelivery.lease_token == token)
        .values(locked_until=None, lease_token=None, attempt_count=WebhookDelivery.attempt_count + 1, **values)
    )
    return bool(result.rowcount)


async def insert_attempt(session: AsyncSession, row: dict[str, Any]) -> None:
    await session.execute(insert(WebhookAttempt).values(**row))


async def get_delivery(session: AsyncSession, endpoint_id: str, delivery_id: str) -> WebhookDelivery | None:
    query = select(WebhookDelivery).where(WebhookDelivery.id == delivery_id, WebhookDelivery.endpoint_id == endpoint_id)
    return (await session.scalars(query)).first()


async def get_event(session: AsyncSession, event_id: str) -> WebhookEvent | None:
    return await session.get(WebhookEvent, event_id)


async def list_deliveries(session: AsyncSession, endpoint_id: str, *, status: str | None,
                          after: WebhookDelivery | None, limit: int) -> list[WebhookDelivery]:
    """An endpoint's deliveries newest first by (created_at, id), strictly after the cursor delivery."""
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    if after is not None:
        query = query.where(or_(WebhookDelivery.created_at < after.created_at,
                                and_(WebhookDelivery.created_at == after.created_at, WebhookDelivery.id < after.id)))
    query = query.order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc()).limit(limit)
    return list((await session.scalars(query)).all())


async def attempts_of(session: AsyncSession, delivery_ids: list[str]) -> dict[str, list[WebhookAttempt]]:
    """Attempts per delivery, in the order they were made."""
    out: dict[str, list[WebhookAttempt]] = {delivery_id: [] for delivery_id in delivery_ids}
    if delivery_ids:
        query = (select(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(delivery_ids))
                 .order_by(WebhookAttempt.delivery_id, WebhookAttempt.attempt, WebhookAttempt.id))
        for attempt in (await session.scalars(query)).all():
            out[attempt.delivery_id].append(attempt)
    return out


def _requeue_values(now: datetime) -> dict[str, Any]:
    return {"status": PENDING, "next_attempt_at": now, "queued_at": now}


async def requeue_delivery(session: AsyncSession, delivery_id: str, now: datetime) -> None:
    """Send a delivery again now, with a fresh retry window (its attempts stay in the log)."""
    await session.execute(update(WebhookDelivery).where(WebhookDelivery.id == delivery_id)
                          .values(**_requeue_values(now)))


async def requeue_since(session: AsyncSession, endpoint_id: str, *, status: str, since: datetime,
                        now: datetime) -> int:
    """Requeue an endpoint's deliveries in `status` created at or after `since`; returns how many."""
    result = await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.status == status,
               WebhookDelivery.created_at >= since)
        .values(**_requeue_values(now))
    )
    return result.rowcount or 0


async def wake_pending(session: AsyncSession, endpoint_id: str, now: datetime) -> int:
    """Make an endpoint's waiting deliveries due now with a fresh retry window (it was re-enabled: the time it
    spent disabled does not count against them); returns how many were waiting."""
    result = await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.status == PENDING)
        .values(**_requeue_values(now))
    )
    return result.rowcount or 0


async def purge_finished(session: AsyncSession, cutoff: datetime) -> int:
    """Forget finished deliveries created before `cutoff`, their attempts, and events no delivery needs."""
    finished = select(WebhookDelivery.id).where(WebhookDelivery.status.in_((SUCCEEDED, FAILED)),
                                                WebhookDelivery.created_at < cutoff)
    await session.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(finished)))
    result = await session.execute(delete(WebhookDelivery).where(WebhookDelivery.status.in_((SUCCEEDED, FAILED)),
                                                                 WebhookDelivery.created_at < cutoff))
    referenced = select(WebhookDelivery.event_id)
    await session.execute(delete(WebhookEvent).where(WebhookEvent.created_at < cutoff,
                                                     WebhookEvent.id.not_in(referenced)))
    return result.rowcount or 0


async def sealed_secrets(session: AsyncSession) -> list[Row]:
    """Every endpoint's id and sealed secrets (to encrypt them again under a new key)."""
    query = select(WebhookEndpoint.id, WebhookEndpoint.secret, WebhookEndpoint.previous_secret).order_by(
        WebhookEndpoint.id)
    return list((await session.execute(query)).all())


async def set_sealed_secrets(session: AsyncSession, endpoint_id: str, *, secret: str,
                             previous_secret: str | None) -> None:
    await session.execute(update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id)
                          .values(secret=secret, previous_secret=previous_secret))
