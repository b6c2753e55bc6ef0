"""A parked event is a stalled order: say so, so the merchant's order shows it instead of waiting forever.

When a consumer gives up on an event about an order (shared.consumer parks it in the dead-letter stream), the
service announces it on its own subject: `silkgate.<service>.event.dead_lettered.v1` for customs and postal, which
orders records on the order (status kept, `status_reason` and a timeline entry). Orders cannot announce to itself,
so its consumer records its own stalls directly (a `StallRecorder` given to its consumers).

The announcement is published at once, not through the outbox: the message is parked outside any database
transaction. Its envelope id, derived from the consumer, the parked event and the dead letter's id, is its
`Nats-Msg-Id`, so a repeated announcement of one dead letter is dropped by the broker. Announcing is best effort:
a failure is logged and never stops the consumer (the dead letter and its alert stay).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import structlog

from shared.contract.envelope import Envelope
from shared.contract.events import CustomsEventDeadLettered, EventDeadLettered, PostalEventDeadLettered
from shared.logging import safe_error

log = structlog.get_logger()

_NAMESPACE = uuid.UUID("8f0d6c5e-7f1e-4c59-9c55-2f4f5a6b3d11")


class OrdersEventDeadLettered(EventDeadLettered):
    """Orders' own consumer gave up on an event: recorded in orders' database, never published (not in the
    contract)."""

    SERVICE = "orders"


STALL_EVENTS: dict[str, type[EventDeadLettered]] = {
    "customs": CustomsEventDeadLettered,
    "postal": PostalEventDeadLettered,
    "orders": OrdersEventDeadLettered,
}
# Records a stall in the service's own database instead of publishing it (orders).
StallRecorder = Callable[[Envelope, EventDeadLettered], Awaitable[None]]


def short_reason(reason: str) -> str:
    """The reason in a few words without personal data: the exception's type ("RuntimeError"), or the kit's own
    words ("unreadable message", "refused"); never the message, which may quote the input."""
    return reason.split(":", 1)[0].strip()[:128] or "unknown"


def stall_of(*, service: str, consumer: str, data: bytes, reason: str, dead_letter_id: int | None,
             now: datetime | None = None) -> tuple[Envelope, EventDeadLettered] | None:
    """The announcement of a parked message and its event, or None when it names no order (unreadable)."""
    model = STALL_EVENTS.get(service)
    if model is None:
        return None
    try:
        parked = Envelope.from_bytes(data)
    except Exception:  # noqa: BLE001 - an unreadable message names no order; the dead letter alone tells
        return None
    event = model(order_id=parked.subject, original_type=parked.type, original_id=parked.id, consumer=consumer,
                  reason=short_reason(reason), dead_letter_id=dead_letter_id,
                  dead_lettered_at=now or datetime.now(UTC))
    stall_id = uuid.uuid5(_NAMESPACE, f"{consumer}:{parked.id}:{dead_letter_id}").hex
    envelope = Envelope.wrap(event, subject=parked.subject, correlation_id=parked.correlation_id,
                             causation_id=parked.id, event_id=stall_id)
    return envelope, event


async def announce_stall(*, service: str, consumer: str, js: Any, data: bytes, reason: str,
                         dead_letter_id: int | None, record: StallRecorder | None = None) -> None:
    """Tell the order that `consumer` parked the event in `data`; never raises."""
    try:
        stall = stall_of(service=service, consumer=consumer, data=data, reason=reason,
                         dead_letter_id=dead_letter_id)
        if stall is None:
            return
        envelope, event = stall
        if record is not None:
            await record(envelope, event)
        elif service != "orders":
            await js.publish(envelope.type, envelope.to_bytes(), headers={"Nats-Msg-Id": envelope.id})
        else:
            return
        log.warning("consumer.stall_announced", consumer=consumer, order_id=envelope.subject,
                    original_type=envelope.data["original_type"], dead_letter_id=dead_letter_id)
    except Exception as exc:  # noqa: BLE001 - the dead letter is parked and alerted on; this is an extra
        log.error("consumer.stall_announce_failed", consumer=consumer, error=safe_error(exc))
