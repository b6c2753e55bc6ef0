"""Recording what happens to an order: the one place its status, customs status, tracking number, reason and
timeline change, with the merchant's webhooks queued in the same transaction.

Two ways in:
- `record_order_event`, at once: API requests (cancel, payment), and a consumer batch the kit redoes message by
  message in savepoints (so a message that fails takes its writes back with it).
- `BatchRecorder`, for a consumer batch handled in one transaction without savepoints, the common case: the
  handlers only queue their events, and the batch is recorded as its transaction commits (a before_commit hook),
  in one transaction with the kit's inbox rows: one locking read of all its orders, one insert of the timeline
  entries, one update of the orders, the webhooks, whatever the batch size. Anything failing there fails the
  commit, and the kit redoes the batch message by message.

Nothing here commits: the request or the consumer's batch owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from services.orders import repository
from services.orders.domain.progress import (
    OrderProgress,
    customs_status_after,
    reason_after_stall,
    stall_reason,
    status_reason_after,
)
from services.orders.domain.status import apply_event, timeline_title
from services.orders.webhooks import repository as webhooks_repository
from services.orders.webhooks import service as webhooks
from services.orders.webhooks.rules import webhook_event_type
from shared.contract.envelope import Envelope
from shared.contract.events import Event, EventDeadLettered, ParcelTracking, WaybillVoided
from shared.db import utcnow
from shared.logging import message_context

log = structlog.get_logger()

# Payload fields kept off the timeline: the order holds the parcel and payment already, and they (like a waybill's
# consignee) carry personal data.
_TIMELINE_OMITS = frozenset({"parcel", "payment", "consignee"})
# Where each event type keeps the time it happened.
_TIME_FIELDS = ("occurred_at", "issued_at", "voided_at", "handed_off_at", "delivered_at", "accepted_at",
                "cancelled_at", "requested_at", "recorded_at", "dead_lettered_at")


@dataclass(frozen=True)
class StatusChange:
    """What recording an event did to an order."""

    order: OrderProgress
    event_type: str
    old_status: str
    new_status: str
    recorded: bool  # False: the event was on the timeline already, nothing changed
    webhook_type: str | None = None  # the webhook event it raised, if any

    @property
    def changed(self) -> bool:
        return self.old_status != self.new_status


# ── at once ───────────────────────────────────────────────────────────────────


async def record_order_event(session: AsyncSession, *, order: OrderProgress, event: Event, event_id: str,
                             occurred_at: datetime | None = None, title: str | None = None) -> StatusChange:
    """Apply one event to an order (status, customs status, tracking number, reason) and add it to the timeline.

    Every status change of an order goes through here or BatchRecorder. Events arrive late, twice or out of order:
    the status never moves backwards (status.apply_event), and an event already on the timeline changes nothing.
    `order` must be read under the order's row lock (repository.lock_order_progress); it is updated in place.
    """
    now = utcnow()
    entry = timeline_entry(order.id, event, event_id, now=now, occurred_at=occurred_at, title=title)
    if not await repository.insert_order_event_if_new(session, entry):
        return _duplicate(order, event, event_id)
    change = apply_to_order(order, event, now=now)
    await repository.update_order_progress(session, order)
    # The merchant's webhooks are queued in this same transaction: they exist exactly when the change does.
    if change.webhook_type is not None:
        await webhooks.enqueue(session, [(order, change.webhook_type, change.old_status)])
    _log_recorded(change)
    return change


# ── per batch ─────────────────────────────────────────────────────────────────


class TimelineEntryExists(RuntimeError):
    """An event of the batch was on the timeline already (recorded outside the inbox's memory): the commit fails,
    and the kit redoes the batch message by message, which records the event as a duplicate."""


class BatchRecorder:
    """The events a consumer batch's handlers queued; recorded together when its transaction commits."""

    def __init__(self, transaction: SessionTransaction) -> None:
        self.transaction = transaction
        self.queued: list[tuple[Envelope, Event]] = []

    def add(self, envelope: Envelope, event: Event) -> None:
        self.queued.append((envelope, event))

    def record(self, session: Session) -> None:
        """Record the queued events in arrival order, each as record_order_event would; sync (inside the commit)."""
        queued, self.queued = self.queued, []
        if not queued:
            return
        orders = repository.lock_orders_progress(session, {event.order_id for _, event in queued})
        writes = _BatchWrites()
        for envelope, event in queued:
            with _bound(envelope):
                order = orders.get(event.order_id)
                if order is None:
                    log_unknown_order(event, envelope.type)
                elif envelope.id in writes.entries:  # (the kit drops a batch's twins already)
                    _duplicate(order, event, envelope.id)
                else:
                    writes.add(session, order, event, envelope.id)
        writes.write(session)


@dataclass
class _BatchWrites:
    """What a batch's events change, written in a few statements.

    The batch is recorded at one moment, its commit: its events share one `now` (recorded_at, updated_at, the
    webhooks' times), which the bulk writes bind once."""

    entries: dict[str, dict[str, Any]] = field(default_factory=dict)  # timeline entries by event id
    orders: dict[str, OrderProgress] = field(default_factory=dict)  # the orders changed, as they end up
    webhook_rows: webhooks.QueuedWebhooks = field(default_factory=webhooks.QueuedWebhooks)
    subscriptions: dict[str, list[Any]] = field(default_factory=dict)  # the merchants' endpoints met so far
    now: datetime = field(default_factory=utcnow)

    def add(self, session: Session, order: OrderProgress, event: Event, event_id: str) -> None:
        now = self.now
        self.entries[event_id] = timeline_entry(order.id, event, event_id, now=now)
        change = apply_to_order(order, event, now=now)
        self.orders[order.id] = order
        if change.webhook_type is not None:
            # Built now: the payload shows the order as this event left it.
            if order.merchant_code not in self.subscriptions:
                self.subscriptions = webhooks.subscriptions_of(session, {order.merchant_code})
            self.webhook_rows.extend(webhooks.build_webhooks(self.subscriptions,
                                                             [(order, change.webhook_type, change.old_status)],
                                                             now=now))
        _log_recorded(change)

    def write(self, session: Session) -> None:
        added = repository.insert_order_events_if_new(session, list(self.entries.values()))
        if added != len(self.entries):
            raise TimelineEntryExists(f"{len(self.entries) - added} of {len(self.entries)} events were on the "
                                      "timeline already")
        repository.update_orders_progress(session, list(self.orders.values()))
        webhooks_repository.insert_events_and_deliveries(session, self.webhook_rows.events,
                                                         self.webhook_rows.deliveries)


_BATCH = "orders.recording.batch"


def batch_recorder(session: AsyncSession) -> BatchRecorder | None:
    """The recorder of the session's transaction, or None inside a savepoint (there, record at once).

    The first call on a session hooks its recorders to its commits.
    """
    if session.in_nested_transaction():
        return None
    transaction = session.sync_session.get_transaction()
    recorder = session.info.get(_BATCH)
    if recorder is None:
        sqlalchemy_event.listen(session.sync_session, "before_commit", _record_batch)
    if recorder is None or recorder.transaction is not transaction:
        recorder = session.info[_BATCH] = BatchRecorder(transaction)
    return recorder


def _record_batch(session: Session) -> None:
    recorder = session.info.get(_BATCH)
    if recorder is not None and recorder.transaction is session.get_transaction():
        recorder.record(session)


def _bound(envelope: Envelope) -> message_context:
    """The ids the kit binds while a handler runs, bound again for the recording at commit (the kit's own cheap
    message context: structlog's bound_contextvars cost two context copies per event, 4% of a batch's CPU)."""
    return message_context(correlation_id=envelope.correlation_id, event_id=envelope.id, event_type=envelope.type,
                           order_id=envelope.subject)


# ── the change itself (no I/O) ────────────────────────────────────────────────


def apply_to_order(order: OrderProgress, event: Event, *, now: datetime) -> StatusChange:
    """Move the order's status, customs status, tracking number and reason as the event says, in place."""
    event_type = first_version_type(event)
    payload = _payload_of(event)
    old_status = order.status
    tracking_status = event.status if isinstance(event, ParcelTracking) else None
    new_status = apply_event(old_status, event_type, tracking_status=tracking_status)
    customs_moved = _apply_customs_status(order, event, payload)
    old_tracking_number = order.tracking_number
    _apply_tracking_number(order, event, payload)
    if isinstance(event, EventDeadLettered):
        order.status_reason = stall_reason(service=event.SERVICE, original_type=event.original_type,
                                           reason=event.reason)
    else:
        order.status_reason = status_reason_after(
            event_type, old_status=old_status, new_status=new_status, reason=payload.get("reason"),
            customs_moved=customs_moved,
            current_reason=reason_after_stall(order.status_reason, service=event.SERVICE, event_type=event_type),
        )
    if new_status != old_status:
        order.status, order.status_changed_at = new_status, now
    order.updated_at = now
    webhook_type = webhook_event_type(event_type=event_type, old_status=old_status, new_status=new_status,
                                      tracking_assigned=old_tracking_number is None and order.tracking_number is not None,
                                      customs_moved=customs_moved)
    return StatusChange(order, event_type, old_status, new_status, recorded=True, webhook_type=webhook_type)


def first_version_type(event: Event) -> str:
    """The event's type as recorded: a .v2 customs event is the same fact as its .v1 (the name built once per
    event class)."""
    event_class = type(event)
    name = _FIRST_VERSION_TYPES.get(event_class)
    if name is None:
        name = _FIRST_VERSION_TYPES[event_class] = event_class.first_version_type()
    return name


_FIRST_VERSION_TYPES: dict[type[Event], str] = {}


def timeline_entry(order_id: str, event: Event, event_id: str, *, now: datetime, occurred_at: datetime | None = None,
                   title: str | None = None) -> dict[str, Any]:
    """The timeline row of an event: a readable title, when it happened, and its payload without personal data."""
    event_type = first_version_type(event)
    data = event.model_dump(mode="json")
    return {
        "order_id": order_id,
        "event_id": event_id,
        "event_type": event_type,
        "title": title or timeline_title(event_type, data),
        "occurred_at": occurred_at or event_time(event) or now,
        "recorded_at": now,
        "data": {k: v for k, v in data.items() if k not in _TIMELINE_OMITS},
    }


def event_time(event: Event) -> datetime | None:
    """When the event happened, by the payload's own time field."""
    payload = _payload_of(event)
    for name in _TIME_FIELDS:
        value = payload.get(name)
        if isinstance(value, datetime):
            # A producer that sent a time without a zone meant UTC (the contract's times are UTC).
            return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return None


def _payload_of(event: Event) -> dict[str, Any]:
    """The event's fields by name. Events forbid unknown fields, so this is the whole payload; a field the event type
    lacks is a dict miss here, where getattr(event, name, None) raises and catches an AttributeError inside pydantic's
    __getattr__ (those misses were a third of the CPU of applying an event)."""
    return event.__dict__


def _apply_customs_status(order: OrderProgress, event: Event, payload: dict[str, Any]) -> bool:
    """Take a declaration event's customs status and CEB code unless it would move customs backwards."""
    incoming = payload.get("status") if "ceb_code" in payload else None
    if incoming is None:
        return False
    if customs_status_after(order.customs_status, incoming) != incoming:
        return False
    order.customs_status, order.customs_ceb_code = incoming, payload["ceb_code"]
    return True


def _apply_tracking_number(order: OrderProgress, event: Event, payload: dict[str, Any]) -> None:
    """The first tracking number postal tells us about sticks (a late or repeated waybill.issued changes nothing)."""
    number = payload.get("tracking_number")
    if number and order.tracking_number is None and not isinstance(event, WaybillVoided):
        order.tracking_number = number


# ── logs ──────────────────────────────────────────────────────────────────────


def _duplicate(order: OrderProgress, event: Event, event_id: str) -> StatusChange:
    event_type = first_version_type(event)
    log.info("order.event_duplicate", order_id=order.id, event_id=event_id, event_type=event_type)
    return StatusChange(order, event_type, order.status, order.status, recorded=False)


def _log_recorded(change: StatusChange) -> None:
    order = change.order
    if change.changed:
        log.info("order.status_changed", order_id=order.id, event_type=change.event_type,
                 old_status=change.old_status, new_status=change.new_status, tracking_number=order.tracking_number)
    else:
        log.info("order.event_recorded", order_id=order.id, event_type=change.event_type, status=change.new_status)


def log_unknown_order(event: Event, event_type: str) -> None:
    # Cannot happen while orders publishes order.accepted before anyone hears of an order; retrying would never
    # help, so the event is logged and left (the inbox records it as handled).
    log.warning("order.event_for_unknown_order", order_id=event.order_id, event_type=event_type)
