"""The messages a consumer fetched, before and after its handlers see them: read and believed (or not), their
parcels locked, taken from the subscription at once, their ages observed, their delivery counts, acks and naks.

shared/consumer.py runs the batch; this module is what it does with each message around that.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contract.envelope import Envelope
from shared.contract.events import EVENTS_BY_TYPE, Event
from shared.logging import message_context, safe_error
from shared.metrics import EVENT_AGE

log = structlog.get_logger()


async def lock_parcels(session: AsyncSession, subjects: list[str]) -> None:
    """Serialize the handling of one parcel's events across consumers and replicas (PostgreSQL).

    Two events about one parcel from different streams (say waybill.issued and order.accepted) handled at the same
    moment in two transactions would each miss the other's uncommitted rows under READ COMMITTED, and a document
    could be buffered "for later" while the declaration it belongs to opens without it. A transaction-scoped
    advisory lock per parcel makes the second wait for the first. All of a batch's locks are taken in one statement
    in sorted order, before any row lock, so two batches can never wait on each other in a cycle. SQLite needs none
    of this: it has one writer at a time.
    """
    if session.bind.dialect.name != "postgresql" or not subjects:
        return
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(s, 7)) "
             "FROM (SELECT DISTINCT unnest(CAST(:subjects AS text[])) AS s ORDER BY 1) AS parcels"),
        {"subjects": sorted(set(subjects))},
    )


def bound(envelope: Envelope) -> message_context:
    """Bind the journey's ids to every log line written while one event is handled."""
    return message_context(correlation_id=envelope.correlation_id, event_id=envelope.id, event_type=envelope.type,
                           order_id=envelope.subject)


def take_queued_messages_at_once(pull_subscription: Any) -> None:
    """Let a fetch take messages that already arrived without a task and a timer each.

    nats-py's fetch asks its subscription for a batch's messages one `next_msg` at a time, and each call starts a
    task running `asyncio.wait_for` even when the message is already queued: for a batch of 200 that is 400 tasks,
    more CPU than handling the events. Queued messages are handed over directly here; an empty queue waits as
    before. (nats-py internals, checked: a version without them keeps the library's behaviour.)
    """
    sub = getattr(pull_subscription, "_sub", None)
    queue = getattr(sub, "_pending_queue", None)
    if sub is None or queue is None or not hasattr(sub, "_pending_size") or getattr(sub, "_cb", None):
        return
    waiting_next_msg = sub.next_msg

    async def next_msg(timeout: float | None = 1.0) -> Any:
        if queue.empty() or sub._conn.is_closed:
            return await waiting_next_msg(timeout)
        msg = queue.get_nowait()
        sub._pending_size -= len(msg.data)
        queue.task_done()
        return msg

    sub.next_msg = next_msg


_AGE_BY_TYPE: dict[tuple[str, str], Any] = {}


def observe_ages(service: str, envelopes: list[Envelope]) -> None:
    """How long each handled event waited since it was written (one histogram child per event type, kept)."""
    now = datetime.now(UTC)
    for envelope in envelopes:
        key = (service, envelope.type)
        histogram = _AGE_BY_TYPE.get(key)
        if histogram is None:
            histogram = _AGE_BY_TYPE[key] = EVENT_AGE.labels(service, envelope.type)
        histogram.observe(max(0.0, (now - envelope.time).total_seconds()))


def parse(msg: Any) -> tuple[Any, Envelope | None, Event | None, str | None]:
    try:
        envelope = Envelope.from_bytes(msg.data)
        event = envelope.event()
    except Exception as exc:  # noqa: BLE001 - a message we cannot read will never succeed
        return msg, None, None, f"unreadable message: {safe_error(exc)}"[:1000]
    refused = provenance_problem(envelope, msg.subject)
    if refused is not None:
        log.error("consumer.message_refused", subject=msg.subject, event_id=envelope.id, event_type=envelope.type,
                  source=envelope.source, reason=refused)
        return msg, None, None, refused
    return msg, envelope, event, None


def provenance_problem(envelope: Envelope, subject: str) -> str | None:
    """Why an event may not be believed, or None: its type must be the subject it came on, and its source the
    service that publishes that subject.

    The broker lets only that service's NATS user publish on its subjects (shared.natsauth); these checks make sure
    nothing inside the message claims otherwise — a `declaration.released` body sent on a postal subject, or an
    event whose source names another service, is refused and dead-lettered with the reason, never applied.
    """
    if envelope.type != subject:
        return f"refused: event type {envelope.type} arrived on subject {subject}"
    publisher = EVENTS_BY_TYPE[envelope.type].SERVICE
    if envelope.source != f"silkgate/{publisher}":
        return f"refused: source {envelope.source} does not publish {subject} (silkgate/{publisher} does)"
    return None


def deliveries(msg: Any) -> int:
    try:
        return int(msg.metadata.num_delivered)
    except Exception:  # noqa: BLE001
        return 1


async def quietly(awaitable: Awaitable[Any]) -> None:
    """Acks and naks are best effort: a lost ack means a redelivery, which the inbox absorbs."""
    try:
        await awaitable
    except Exception as exc:  # noqa: BLE001
        log.debug("consumer.ack_failed", error=safe_error(exc))
