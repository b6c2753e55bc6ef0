"""Transactional outbox: events are rows written with the state change, published later by the relay."""

from __future__ import annotations

import asyncio
import fcntl
from collections import Counter
from datetime import timedelta
from pathlib import Path

import structlog
from sqlalchemy import BigInteger, Column, Index, Integer, MetaData, String, Table, Text, delete, func, select, update
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from shared import tracing
from shared.batch import insert_rows
from shared.bus import Bus
from shared.contract.envelope import Envelope
from shared.contract.events import Event
from shared.db import Database, UTCDateTime, bucketed, utcnow
from shared.logging import safe_error
from shared.metrics import EVENTS_PUBLISHED, OUTBOX_LAG, OUTBOX_PUBLISHED
from shared.tracing import current_traceparent

log = structlog.get_logger()

# After this long without a row to publish the relay polls less often (up to IDLE_MAX_INTERVAL_S between looks): an
# idle service then costs a few polls a second instead of twenty. Rows written by this process wake it at once
# anyway (see _wake_relays); only another process's rows (the API's, for a worker's relay) can wait the longer gap,
# and only the first ones after a quiet spell: under load the relay always finds rows and keeps the short interval.
IDLE_BACKOFF_AFTER_S = 2.0
IDLE_MAX_INTERVAL_S = 0.25
_WRITTEN = "silkgate_outbox_written"


def outbox_table(metadata: MetaData) -> Table:
    table = Table(
        "outbox",
        metadata,
        Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
        Column("event_id", String(64), nullable=False, unique=True),
        Column("subject", String(160), nullable=False),
        Column("event_type", String(128), nullable=False),
        Column("correlation_id", String(64), nullable=False),
        Column("payload", Text, nullable=False),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("sent_at", UTCDateTime(), nullable=True),
        # W3C traceparent of the span that wrote the event (shared.tracing; null when tracing is off).
        Column("trace_context", String(64), nullable=True),
    )
    # Only unsent rows are indexed, so the relay's scan stays small however much history is kept.
    Index("ix_outbox_unsent", table.c.id, sqlite_where=table.c.sent_at.is_(None), postgresql_where=table.c.sent_at.is_(None))
    return table


class Outbox:
    """Adds events to the current transaction."""

    def __init__(self, table: Table) -> None:
        self.table = table

    async def add(
        self,
        session: AsyncSession,
        event: Event,
        *,
        subject: str,
        correlation_id: str,
        causation_id: str | None = None,
    ) -> Envelope:
        """Write `event` in an envelope as an outbox row of the caller's transaction."""
        envelope = Envelope.wrap(event, subject=subject, correlation_id=correlation_id, causation_id=causation_id)
        await self.add_envelopes(session, [envelope])
        return envelope

    async def add_envelopes(self, session: AsyncSession, envelopes: list[Envelope]) -> None:
        if not envelopes:
            return
        now = utcnow()
        trace_context = current_traceparent()
        # Inside a consumer batch the rows are held and written with the batch's other outbox rows (shared.batch).
        # Committed, these rows wake this process's relay (if it runs here) instead of waiting for its next poll.
        session.sync_session.info[_WRITTEN] = self.table
        await insert_rows(session, self.table, [
            {
                "event_id": env.id,
                "subject": env.type,
                "event_type": env.type,
                "correlation_id": env.correlation_id,
                "payload": env.model_dump_json(),
                "created_at": now,
                "trace_context": trace_context,
            }
            for env in envelopes
        ])
        for env in envelopes:
            log.debug("outbox.added", event_id=env.id, event_type=env.type, correlation_id=env.correlation_id)


class RelayLockHeld(RuntimeError):
    """Another relay already serves this SQLite file."""


# The relays running in this process, by outbox table: a commit that wrote rows to a table wakes its relays.
_RELAYS: dict[Table, set[Relay]] = {}


class Relay:
    """Publishes unsent outbox rows in batches with Nats-Msg-Id = event id, then marks them sent.

    PostgreSQL: rows are claimed with FOR UPDATE SKIP LOCKED inside the transaction that marks them,
    so replicas share the work and never both publish a row. SQLite: one relay per file, enforced by
    a file lock. A relay that dies after publishing and before marking republishes on restart; the
    broker's duplicate window and the consumers' inbox make that harmless.

    When to look: at once after a full batch; `idle_interval_s` after a partial or empty one while rows keep coming;
    once nothing was found for IDLE_BACKOFF_AFTER_S, when this process commits rows (at once) or every
    IDLE_MAX_INTERVAL_S.
    """

    def __init__(self, db: Database, bus: Bus, table: Table, *, service: str, batch_size: int = 500,
                 idle_interval_s: float = 0.05, retention_s: float = 86400.0, publish_timeout_s: float = 10.0) -> None:
        self.db, self.bus, self.table, self.service = db, bus, table, service
        self.publish_timeout_s = publish_timeout_s
        self.batch_size = batch_size
        self.idle_interval_s = idle_interval_s
        self.retention_s = retention_s
        self._lock_file = None
        self._any_unsent = select(table.c.id).where(table.c.sent_at.is_(None)).limit(1)
        self._found_rows_last_time = True  # the first round after a start claims at once
        self._written: asyncio.Event | None = None

    def acquire_sqlite_lock(self) -> None:
        if not self.db.sqlite:
            return
        database = make_url(self.db.url).database or "memory"
        path = Path(f"{database}.relay.lock")
        self._lock_file = path.open("w")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise RelayLockHeld(f"another relay holds {path}") from exc

    def wake(self) -> None:
        """Rows were committed to the outbox in this process: look before the idle interval is over."""
        if self._written is not None:
            self._written.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until `stop` is set; waits for the lock instead of failing when another relay has it."""
        while not stop.is_set():
            try:
                self.acquire_sqlite_lock()
                break
            except RelayLockHeld:
                log.info("relay.standby", service=self.service, reason="another relay serves this SQLite file")
                await _sleep_or_stop(stop, 2.0)
        log.info("relay.started", service=self.service)
        self._written = asyncio.Event()
        _RELAYS.setdefault(self.table, set()).add(self)
        try:
            await self._relay(stop)
        finally:
            relays = _RELAYS.get(self.table)
            if relays is not None:
                relays.discard(self)
                if not relays:
                    _RELAYS.pop(self.table, None)

    async def _relay(self, stop: asyncio.Event) -> None:
        assert self._written is not None
        written = self._written
        last_housekeeping = 0.0
        loop = asyncio.get_running_loop()
        last_rows = loop.time()
        while not stop.is_set():
            try:
                await self.bus.wait_ready()
                started = loop.time()
                written.clear()  # rows committed from here on are found by this round or wake the next
                sent = await self.publish_batch()
                if started - last_housekeeping > 5.0:
                    last_housekeeping = started
                    await self.housekeeping()
                if sent >= self.batch_size:
                    continue
                if sent:
                    last_rows = started
                if started - last_rows < IDLE_BACKOFF_AFTER_S:
                    # Busy: every idle_interval_s, so that under load each round takes what several commits wrote.
                    await _sleep_or_stop(stop, self.idle_interval_s)
                else:
                    # Quiet: this process's next commit of rows wakes us at once; another's waits for the next look.
                    interval = max(self.idle_interval_s, IDLE_MAX_INTERVAL_S)
                    await _wait_any(stop, written, interval - (loop.time() - started))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the relay must outlive a broker or database outage
                log.warning("relay.error", service=self.service, error=safe_error(exc))
                await _sleep_or_stop(stop, 1.0)

    async def publish_batch(self) -> int:
        """Publish one batch; returns how many rows were marked sent."""
        if self.db.sqlite:
            async with self.db.reader() as session:
                rows = (await session.execute(self._unsent())).all()
            if not rows:
                return 0
            sent_ids = await self._publish(rows)
            async with self.db.transaction() as session:
                await self._mark_sent(session, sent_ids)
        else:
            # After a round that found nothing, an idle poll is one autocommit read through the partial index, not
            # a transaction; rows are claimed only when there are some. After a round that found rows, claim at once.
            if not self._found_rows_last_time:
                async with self.db.reader() as session:
                    if (await session.execute(self._any_unsent)).first() is None:
                        return 0
            async with self.db.transaction() as session:
                rows = (await session.execute(self._unsent().with_for_update(skip_locked=True))).all()
                self._found_rows_last_time = bool(rows)
                if not rows:
                    return 0
                sent_ids = await self._publish(rows)
                await self._mark_sent(session, sent_ids)
        OUTBOX_PUBLISHED.labels(self.service).inc(len(sent_ids))
        sent = set(sent_ids)
        for event_type, count in Counter(row.subject for row in rows if row.id in sent).items():
            EVENTS_PUBLISHED.labels(self.service, event_type).inc(count)
        log.debug("outbox.published", service=self.service, count=len(sent_ids))
        return len(sent_ids)

    def _unsent(self):
        return select(self.table.c.id, self.table.c.event_id, self.table.c.subject, self.table.c.payload,
                      self.table.c.trace_context).where(
            self.table.c.sent_at.is_(None)
        ).order_by(self.table.c.id).limit(self.batch_size)

    async def _publish(self, rows) -> list[int]:
        """Publish rows concurrently and wait for every ack; only acked rows count as sent.

        An ack can be lost for good: a cluster node dies with our publish in flight, or the connection moves to
        another node. nats-py's futures have no deadline of their own, so the wait is bounded here and the
        unanswered ones are cancelled (which also frees their place in the client's in-flight limit); their rows
        stay unsent and go again next round, where the broker's duplicate window drops any that did arrive.
        """
        js = self.bus.js
        assert js is not None
        futures = []
        traced = tracing.enabled()
        # nats-py bounds the publishes awaiting an ack with a semaphore; with a stall timeout it waits for it through
        # asyncio.wait_for, which runs the acquire as a task: a trip through the event loop per message, so its
        # flusher writes each message to the socket on its own (a send() call each: a third of the relay's CPU).
        # When the semaphore is free the acquire cannot wait, so no timeout is needed: the round's messages are
        # buffered without yielding and go out in one write. Only a full semaphore is waited on, with the timeout.
        in_flight = getattr(js, "_publish_async_pending_semaphore", None)
        for row in rows:
            headers = {"Nats-Msg-Id": row.event_id}
            stall = None if in_flight is not None and not in_flight.locked() else self.publish_timeout_s
            if traced:  # a PRODUCER span per event, its context in the headers
                with tracing.publishing(self.service, row.subject, row.event_id, row.trace_context, headers):
                    futures.append(await js.publish_async(row.subject, row.payload.encode(), headers=headers,
                                                          wait_stall=stall))
            else:
                futures.append(await js.publish_async(row.subject, row.payload.encode(), headers=headers,
                                                      wait_stall=stall))
        _done, unanswered = await asyncio.wait(futures, timeout=self.publish_timeout_s)
        for future in unanswered:
            future.cancel()
        sent: list[int] = []
        for row, future in zip(rows, futures, strict=True):
            error = "no ack in time" if future.cancelled() else future.exception()
            if error is not None:
                log.warning("outbox.publish_failed", event_id=row.event_id,
                            error=error if isinstance(error, str) else safe_error(error))
                break  # keep order: later rows wait for the next round
            sent.append(row.id)
        return sent

    async def _mark_sent(self, session: AsyncSession, ids: list[int]) -> None:
        if ids:
            await session.execute(update(self.table).where(self.table.c.id.in_(bucketed(ids))).values(sent_at=utcnow()))

    async def housekeeping(self) -> None:
        """Update the lag gauge, drop sent rows past retention, and give new tables their first statistics."""
        analyzed = await self.db.analyze_new_tables()
        if analyzed:
            log.info("database.analyzed", service=self.service, tables=analyzed)
        async with self.db.transaction() as session:
            lag = (await session.execute(select(func.count()).where(self.table.c.sent_at.is_(None)))).scalar_one()
            cutoff = utcnow() - timedelta(seconds=self.retention_s)
            await session.execute(delete(self.table).where(self.table.c.sent_at < cutoff))
        OUTBOX_LAG.labels(self.service).set(lag)


async def unsent_count(db: Database, table: Table) -> int:
    async with db.reader() as session:
        return (await session.execute(select(func.count()).where(table.c.sent_at.is_(None)))).scalar_one()


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    if seconds <= 0:
        return
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass


async def _wait_any(stop: asyncio.Event, other: asyncio.Event, seconds: float) -> None:
    """Sleep until `stop`, `other` or the timeout, whichever comes first."""
    if seconds <= 0:
        return
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(other.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


@sqlalchemy_event.listens_for(Session, "after_commit")
def _wake_relays(session: Session) -> None:
    """A committed transaction that wrote outbox rows wakes the relays of that table running in this process."""
    table = session.info.pop(_WRITTEN, None)
    if table is not None:
        for relay in _RELAYS.get(table, ()):
            relay.wake()


@sqlalchemy_event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    session.info.pop(_WRITTEN, None)
