"""A service process: database, bus, outbox relay, consumers and any extra workers, started and stopped together."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog
from sqlalchemy import MetaData, Table

from shared.auth import ApiKeyRepository
from shared.bus import Bus
from shared.consumer import ConsumerSettings, DurableConsumer, Handler, Prefetcher, build_consumers
from shared.contract.envelope import Envelope
from shared.contract.events import Event
from shared.db import Database
from shared.dlq import DeadLetterMonitor
from shared.inbox import Inbox
from shared.logging import safe_error
from shared.outbox import Outbox, Relay
from shared.settings import ServiceSettings

log = structlog.get_logger()


def bus_credentials(settings: ServiceSettings) -> dict:
    """The bus's NATS credentials and TLS; with its own user, a service manages only its own stream (and the dead
    letters): the others' are created by their services or by `silkgate up`."""
    from shared.contract.subjects import SERVICES
    from shared.natsauth import client_auth_from_settings

    auth = client_auth_from_settings(settings)
    own_stream_only = bool(auth.user) and settings.service in SERVICES
    return {"connect_options": auth.connect_options(),
            "managed_services": (settings.service,) if own_stream_only else SERVICES}

Worker = Callable[["ServiceRuntime", asyncio.Event], Awaitable[None]]


@dataclass
class ServiceTables:
    """The kit's tables inside a service's own metadata."""

    metadata: MetaData
    outbox: Table
    inbox: Table
    api_keys: Table


@dataclass
class ServiceRuntime:
    """Everything a running service holds; `app.state.runtime` in the HTTP layer."""

    settings: ServiceSettings
    tables: ServiceTables
    handlers: dict[type[Event], Handler] = field(default_factory=dict)
    # Read-ahead for a consumer batch's messages of a type (shared.batch); optional per event type.
    prefetchers: dict[type[Event], Prefetcher] = field(default_factory=dict)
    workers: list[Worker] = field(default_factory=list)
    migrate: Callable[[str], Awaitable[None]] | None = None
    # Run first when the process starts (reading certificates, say): building the app does no I/O.
    on_start: list[Callable[[], None]] = field(default_factory=list)
    # Records the consumers' stalls in this service's database instead of announcing them (shared.stall; orders).
    record_stall: Callable[[Database, Envelope, Event], Awaitable[None]] | None = None
    # Pauses this service's consumer of a source stream while the callable answers True (DurableConsumer.paused),
    # keyed by the source service: customs stops taking new orders while its exchange with the authority is full.
    pause_consumers: dict[str, Callable[[], bool]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.service = self.settings.service
        self.db: Database | None = None
        self.bus = Bus(self.settings.nats_url, duplicate_window_s=self.settings.duplicate_window_s,
                       connect_timeout_s=self.settings.nats_connect_timeout_s,
                       replicas=self.settings.nats_stream_replicas, **bus_credentials(self.settings))
        self.outbox = Outbox(self.tables.outbox)
        self.inbox = Inbox(self.tables.inbox)
        self.api_keys = ApiKeyRepository(self.tables.api_keys)
        self.consumers: list[DurableConsumer] = []
        self.extras: dict[str, object] = {}
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task] = []

    def consumer_settings(self) -> ConsumerSettings:
        s = self.settings
        return ConsumerSettings(batch_size=s.consumer_batch_size, fetch_timeout_s=s.consumer_fetch_timeout_s,
                                linger_s=s.consumer_linger_s,
                                ack_wait_s=s.consumer_ack_wait_s, max_attempts=s.consumer_max_attempts,
                                backoff_s=list(s.consumer_backoff_s))

    async def start(self) -> None:
        """Open the database (migrating first when asked), then connect the bus and start workers in the background."""
        for prepare in self.on_start:
            prepare()
        url = self.settings.resolved_database_url()
        if self.migrate is not None:
            await self.migrate(url)
        self.db = Database(url, pool_size=self.settings.database_pool_size,
                           busy_timeout_ms=self.settings.sqlite_busy_timeout_ms)
        await self.db.ping()
        self._stop.clear()
        self._tasks.append(asyncio.create_task(self._connect_bus(), name=f"{self.service}-bus"))
        if self.settings.run_workers:
            relay = Relay(self.db, self.bus, self.tables.outbox, service=self.service,
                          batch_size=self.settings.relay_batch_size, idle_interval_s=self.settings.relay_idle_interval_s,
                          retention_s=self.settings.outbox_retention_s)
            self._tasks.append(asyncio.create_task(relay.run(self._stop), name=f"{self.service}-relay"))
            self.consumers = build_consumers(service=self.service, handlers=self.handlers, db=self.db, bus=self.bus,
                                             inbox=self.inbox, outbox=self.outbox, settings=self.consumer_settings(),
                                             prefetchers=self.prefetchers)
            for consumer in self.consumers:
                if self.record_stall is not None:
                    consumer.record_stall = functools.partial(self.record_stall, self.db)
                consumer.paused = self.pause_consumers.get(consumer.source_service)
                self._tasks.append(asyncio.create_task(consumer.run(self._stop), name=f"{self.service}-{consumer.stream}"))
            for worker in self.workers:
                self._tasks.append(asyncio.create_task(worker(self, self._stop), name=f"{self.service}-worker"))
            self._tasks.append(asyncio.create_task(self._watch_broker(), name=f"{self.service}-broker-watch"))
        log.info("service.started", run_api=self.settings.run_api, run_workers=self.settings.run_workers,
                 database=self.db.engine.url.get_backend_name())

    async def _watch_broker(self) -> None:
        """Every broker_watch_interval_s: the consumers' pending counts (silkgate_consumer_pending) and this
        service's dead letters (silkgate_dead_letters, a warning when they grow)."""
        dead_letters = DeadLetterMonitor(self.service, self.bus)
        while not self._stop.is_set():
            try:
                await self.bus.wait_ready()
                for consumer in self.consumers:
                    await consumer.pending()
                await dead_letters.check()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a broker hiccup: look again next time
                log.debug("broker_watch.failed", error=str(exc) or type(exc).__name__)
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=self.settings.broker_watch_interval_s)
            except TimeoutError:
                pass

    async def _connect_bus(self) -> None:
        await self.bus.connect(retry=True)

    async def stop(self) -> None:
        self._stop.set()
        if self._tasks:
            done, pending = await asyncio.wait(self._tasks, timeout=5.0)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    log.warning("service.task_failed", task=task.get_name(), error=safe_error(task.exception()))
        self._tasks.clear()
        await self.bus.close()
        if self.db is not None:
            await self.db.dispose()
        log.info("service.stopped")

    async def consumer_backlog(self) -> int:
        """Sum of pending messages over this service's durable consumers (0 while the bus is down)."""
        total = 0
        for consumer in self.consumers:
            total += await consumer.pending()
        return total
