"""Idempotent consumers: durable pull, one transaction per fetched batch, inbox, bounded retries, dead letters."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shared import tracing
from shared.batch import BatchScope, close_scope, open_scope
from shared.bus import Bus
from shared.consumer_messages import (
    bound,
    deliveries,
    lock_parcels,
    observe_ages,
    parse,
    quietly,
    take_queued_messages_at_once,
)
from shared.contract.envelope import Envelope
from shared.contract.events import Event
from shared.contract.subjects import dead_letter_subject, stream_name
from shared.db import Database
from shared.dlq import REPLAY_HEADER
from shared.inbox import Inbox
from shared.logging import safe_error
from shared.metrics import BATCH_SECONDS, CONSUMED, CONSUMER_LAG, DEAD_LETTERED
from shared.outbox import Outbox
from shared.stall import StallRecorder, announce_stall

log = structlog.get_logger()

# How long a consumer fetches nothing before it checks that the broker still has its durable.
CHECK_WHEN_IDLE_S = 5.0
# How often a paused consumer asks whether it may fetch again.
PAUSED_POLL_S = 0.1


@dataclass
class MessageContext:
    """What a handler gets: the open transaction, the event, and a way to emit follow-up events."""

    session: AsyncSession
    envelope: Envelope
    event: Any
    outbox: Outbox
    emitted: list[Envelope] = field(default_factory=list)

    @property
    def correlation_id(self) -> str:
        return self.envelope.correlation_id

    async def emit(self, event: Event, *, subject: str) -> Envelope:
        """Add a follow-up event to the outbox, caused by the one being handled."""
        envelope = await self.outbox.add(
            self.session, event, subject=subject, correlation_id=self.envelope.correlation_id,
            causation_id=self.envelope.id,
        )
        self.emitted.append(envelope)
        return envelope


Handler = Callable[[MessageContext], Awaitable[None]]
# Reads ahead for a batch's messages of one event type (see shared.batch); must not write.
Prefetcher = Callable[[AsyncSession, BatchScope, list[MessageContext]], Awaitable[None]]


@dataclass
class ConsumerSettings:
    batch_size: int = 200
    fetch_timeout_s: float = 1.0
    linger_s: float = 0.0
    ack_wait_s: float = 30.0
    max_attempts: int = 5
    backoff_s: list[float] = field(default_factory=lambda: [0.5, 2.0, 5.0, 15.0, 30.0])
    inbox_retention_s: float = 14 * 24 * 3600


@dataclass
class _Outcome:
    ack: list[Any] = field(default_factory=list)
    retry: list[tuple[Any, str]] = field(default_factory=list)
    dead: list[tuple[Any, str]] = field(default_factory=list)


class DurableConsumer:
    """One durable pull consumer of one stream, for the event types this service handles from it."""

    def __init__(self, *, service: str, source_service: str, handlers: dict[str, Handler], db: Database, bus: Bus,
                 inbox: Inbox, outbox: Outbox, settings: ConsumerSettings,
                 prefetchers: dict[str, Prefetcher] | None = None) -> None:
        self.service = service
        self.prefetchers = prefetchers or {}
        self.source_service = source_service
        self.stream = stream_name(source_service)
        self.name = service  # consumer names are scoped by stream
        self.handlers = handlers
        self.db, self.bus, self.inbox, self.outbox = db, bus, inbox, outbox
        self.settings = settings
        self._sub = None
        # Set by a service that records its own stalls in its database instead of announcing them (orders).
        self.record_stall: StallRecorder | None = None
        # Set by a service whose downstream work can fall behind (customs' exchange with the authority): while it
        # answers True the consumer fetches nothing, so its pending count on the stream grows and the producer's
        # back-pressure (orders' intake reads that count) answers 429 instead of piling up work nobody can finish.
        self.paused: Callable[[], bool] | None = None

    def config(self) -> ConsumerConfig:
        return ConsumerConfig(
            name=self.name,
            durable_name=self.name,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self.settings.ack_wait_s,
            # Unlimited at the server: we count deliveries ourselves and park the message in the
            # dead-letter stream on the last try, so it is never silently dropped.
            max_deliver=-1,
            max_ack_pending=max(1000, self.settings.batch_size * 4),
            filter_subjects=sorted(self.handlers),
        )

    async def subscribe(self) -> None:
        js = self.bus.js
        assert js is not None
        await js.add_consumer(self.stream, config=self.config())
        self._sub = await js.pull_subscribe_bind(self.name, self.stream)
        take_queued_messages_at_once(self._sub)

    async def run(self, stop: asyncio.Event) -> None:
        """Fetch and handle batches until `stop`; survives broker and database outages."""
        idle_since = time.monotonic()
        while not stop.is_set():
            try:
                await self.bus.wait_ready()
                if self._sub is None:
                    await self.subscribe()
                    log.info("consumer.started", consumer=self.name, stream=self.stream, subjects=sorted(self.handlers))
                if self.paused is not None and self.paused():
                    # Between batches: nothing is delivered and unacknowledged, so nothing is redelivered meanwhile.
                    await asyncio.sleep(PAUSED_POLL_S)
                    idle_since = time.monotonic()
                    continue
                try:
                    msgs = await self._sub.fetch(self.settings.batch_size, timeout=self.settings.fetch_timeout_s)
                except TimeoutError:
                    if time.monotonic() - idle_since >= CHECK_WHEN_IDLE_S:
                        idle_since = time.monotonic()
                        await self._check_durable()
                    continue
                idle_since = time.monotonic()
                await self.handle_batch(msgs)
                if len(msgs) < self.settings.batch_size and self.settings.linger_s > 0:
                    await asyncio.sleep(self.settings.linger_s)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - keep consuming after broker/database hiccups
                log.warning("consumer.error", consumer=self.name, stream=self.stream, error=safe_error(exc))
                self._sub = None
                await asyncio.sleep(1.0)

    async def _check_durable(self) -> None:
        """After a quiet spell, make sure the broker still has our durable consumer.

        When it is gone (an operator deleted it, a broker lost it), some nats-server versions answer a fetch with
        an error, which makes us subscribe again; others let it time out forever while messages wait. Finding it
        gone, subscribe again: that creates it where the stream starts, and the inbox drops what we had handled.
        """
        js = self.bus.js
        if js is None:
            return
        try:
            await js.consumer_info(self.stream, self.name)
        except NotFoundError:
            log.warning("consumer.missing", consumer=self.name, stream=self.stream)
            self._sub = None

    async def handle_batch(self, msgs: list[Any]) -> None:
        """Handle a batch in one transaction; ack only after commit."""
        started = time.perf_counter()
        msgs = await self._skip_replays_for_others(msgs)
        if not msgs:
            return
        parsed = [parse(msg) for msg in msgs]
        # Handle one parcel's events together and parcels in a fixed order, so concurrent batches (another stream's
        # consumer, a replica) lock rows in the same order and do not deadlock; a stable sort keeps each parcel's
        # events in their delivery order.
        parsed.sort(key=lambda item: item[1].subject if item[1] is not None else "")
        unreadable = [(msg, error) for msg, _, _, error in parsed if error is not None]
        readable = [(msg, envelope, event) for msg, envelope, event, error in parsed if error is None]
        outcome: _Outcome | None = None
        if len(readable) > 1:
            try:
                outcome = await self._handle_all_at_once(readable)
            except Exception as exc:  # noqa: BLE001 - some message failed: redo the batch one savepoint each
                log.warning("consumer.batch_split", consumer=self.name, size=len(readable),
                            error=safe_error(exc))
        if outcome is None:
            try:
                outcome = await self._handle_one_by_one(readable)
            except Exception as exc:  # noqa: BLE001 - commit failed: nothing took effect, all come again
                log.warning("consumer.batch_failed", consumer=self.name, size=len(msgs), error=safe_error(exc))
                for msg in msgs:
                    await quietly(msg.nak(delay=self.settings.backoff_s[0]))
                return
        outcome.dead.extend(unreadable)
        for msg, reason in outcome.dead:
            await self._dead_letter(msg, reason)
        for msg in outcome.ack:
            await quietly(msg.ack())
        for msg, _reason in outcome.retry:
            attempt = deliveries(msg)
            delay = self.settings.backoff_s[min(attempt - 1, len(self.settings.backoff_s) - 1)]
            await quietly(msg.nak(delay=delay))
        elapsed = time.perf_counter() - started
        BATCH_SECONDS.labels(self.service).observe(elapsed)
        observe_ages(self.service, [envelope for _, envelope, _, _ in parsed if envelope is not None])
        log.debug("consumer.batch_handled", consumer=self.name, stream=self.stream, size=len(msgs),
                  duration_ms=round(elapsed * 1000, 1))

    async def _skip_replays_for_others(self, msgs: list[Any]) -> list[Any]:
        """A dead letter replayed by an operator (shared.dlq) is meant for one consumer: the others ack it unseen."""
        mine = []
        for msg in msgs:
            target = (msg.headers or {}).get(REPLAY_HEADER)
            if target is not None and target != self.name:
                await quietly(msg.ack())
            else:
                mine.append(msg)
        return mine

    async def _handle_all_at_once(self, readable: list[tuple[Any, Envelope, Event]]) -> _Outcome:
        """The common case: every message succeeds. One inbox look-up and one inbox insert for the whole batch,
        no savepoints; any failure rolls the batch back and the caller redoes it message by message."""
        outcome = _Outcome(ack=[msg for msg, _, _ in readable])
        async with self.db.transaction() as session:
            await lock_parcels(session, [envelope.subject for _, envelope, _ in readable])
            seen = await self.inbox.seen_many(session, self.name, [envelope.id for _, envelope, _ in readable])
            fresh: dict[str, MessageContext] = {}
            fresh_msgs: list[Any] = []
            for msg, envelope, event in readable:
                if envelope.id in seen or envelope.id in fresh:
                    log.info("consumer.duplicate_skipped", consumer=self.name, event_id=envelope.id)
                    CONSUMED.labels(self.service, envelope.type, "duplicate").inc()
                else:
                    fresh[envelope.id] = MessageContext(session, envelope, event, self.outbox)
                    fresh_msgs.append(msg)
            contexts = list(fresh.values())
            scope = open_scope(session, [ctx.envelope.subject for ctx in contexts])
            await self._prefetch(session, scope, contexts)
            for ctx, msg in zip(contexts, fresh_msgs, strict=True):
                with bound(ctx.envelope), tracing.handling(self.service, msg, ctx.envelope):
                    await self.handlers[ctx.envelope.type](ctx)
                CONSUMED.labels(self.service, ctx.envelope.type, "ok").inc()
            await close_scope(session)
            # A replica that handled one of these meanwhile makes this insert fail: the batch is redone carefully.
            await self.inbox.record_many(session, self.name, [ctx.envelope for ctx in contexts])
        return outcome

    async def _prefetch(self, session: AsyncSession, scope: BatchScope, contexts: list[MessageContext]) -> None:
        """Let each event type's prefetcher read ahead for its messages (one call per type, delivery order)."""
        by_type: dict[str, list[MessageContext]] = {}
        for ctx in contexts:
            if ctx.envelope.type in self.prefetchers:
                by_type.setdefault(ctx.envelope.type, []).append(ctx)
        for event_type, group in by_type.items():
            await self.prefetchers[event_type](session, scope, group)

    async def _handle_one_by_one(self, readable: list[tuple[Any, Envelope, Event]]) -> _Outcome:
        """Each message in its own savepoint, so a failing one is retried or dead-lettered alone."""
        outcome = _Outcome()
        async with self.db.transaction() as session:
            await lock_parcels(session, [envelope.subject for _, envelope, _ in readable])
            for msg, envelope, event in readable:
                await self._handle_one(session, msg, envelope, event, outcome)
        return outcome

    async def _handle_one(self, session: AsyncSession, msg: Any, envelope: Envelope, event: Event,
                          outcome: _Outcome) -> None:
        with bound(envelope):
            if await self.inbox.seen(session, self.name, envelope.id):
                log.info("consumer.duplicate_skipped", consumer=self.name)
                CONSUMED.labels(self.service, envelope.type, "duplicate").inc()
                outcome.ack.append(msg)
                return
            try:
                async with session.begin_nested():
                    # The inbox row goes first: a replica racing on the same event blocks here, then fails.
                    await self.inbox.record(session, self.name, envelope)
                    with tracing.handling(self.service, msg, envelope):
                        await self.handlers[envelope.type](MessageContext(session, envelope, event, self.outbox))
            except Exception as exc:  # noqa: BLE001 - one failing message must not sink the batch
                if isinstance(exc, IntegrityError) and await self.inbox.seen(session, self.name, envelope.id):
                    log.info("consumer.duplicate_skipped", consumer=self.name, reason="handled by a replica")
                    outcome.ack.append(msg)
                    return
                reason = safe_error(exc)[:1000]
                attempt = deliveries(msg)
                if attempt >= self.settings.max_attempts:
                    outcome.dead.append((msg, reason))
                else:
                    log.warning("consumer.handler_failed", consumer=self.name, attempt=attempt, reason=reason)
                    CONSUMED.labels(self.service, envelope.type, "retry").inc()
                    outcome.retry.append((msg, reason))
                return
            CONSUMED.labels(self.service, envelope.type, "ok").inc()
            outcome.ack.append(msg)

    async def _dead_letter(self, msg: Any, reason: str) -> None:
        """Park the message with its reason, then ack it so the ones behind it go on."""
        js = self.bus.js
        assert js is not None
        meta = msg.metadata
        headers = {
            "Nats-Msg-Id": f"{self.name}:{self.stream}:{meta.sequence.stream}",
            "Silkgate-Reason": reason.replace("\n", " ")[:1000],
            "Silkgate-Consumer": self.name,
            "Silkgate-Original-Subject": msg.subject,
            "Silkgate-Original-Stream": self.stream,
            "Silkgate-Deliveries": str(meta.num_delivered),
        }
        if msg.headers and tracing.TRACEPARENT in msg.headers:  # a replay continues the parcel's trace
            headers[tracing.TRACEPARENT] = msg.headers[tracing.TRACEPARENT]
        parked = await js.publish(dead_letter_subject(self.name, msg.subject), msg.data, headers=headers)
        await announce_stall(service=self.service, consumer=self.name, js=js, data=msg.data, reason=reason,
                             dead_letter_id=getattr(parked, "seq", None), record=self.record_stall)
        await quietly(msg.ack())
        DEAD_LETTERED.labels(self.service).inc()
        log.error("consumer.dead_lettered", consumer=self.name, subject=msg.subject, deliveries=meta.num_delivered,
                  reason=reason)

    async def pending(self) -> int:
        """Messages not yet delivered plus delivered-but-unacked: the consumer's backlog."""
        js = self.bus.js
        assert js is not None
        info = await js.consumer_info(self.stream, self.name)
        CONSUMER_LAG.labels(self.service, self.stream).set(info.num_pending + info.num_ack_pending)
        return (info.num_pending or 0) + (info.num_ack_pending or 0)


def build_consumers(*, service: str, handlers: dict[type[Event], Handler], db: Database, bus: Bus, inbox: Inbox,
                    outbox: Outbox, settings: ConsumerSettings,
                    prefetchers: dict[type[Event], Prefetcher] | None = None) -> list[DurableConsumer]:
    """One durable consumer per source stream, filtered to the event types handled."""
    by_source: dict[str, dict[str, Handler]] = {}
    for event_type, handler in handlers.items():
        by_source.setdefault(event_type.SERVICE, {})[event_type.event_type()] = handler
    reading_ahead = {event_type.event_type(): prefetch for event_type, prefetch in (prefetchers or {}).items()}
    return [
        DurableConsumer(service=service, source_service=source, handlers=source_handlers, db=db, bus=bus,
                        inbox=inbox, outbox=outbox, settings=settings,
                        prefetchers={t: p for t, p in reading_ahead.items() if t in source_handlers})
        for source, source_handlers in sorted(by_source.items())
    ]
