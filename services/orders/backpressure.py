"""Back-pressure on intake (DESIGN.md "Back-pressure"): past a bound on work not yet done downstream, 429.

The backlog is what intake has produced and nobody has finished: this service's unsent outbox rows plus, on our
stream, the pending and unacknowledged messages of the customs and postal durable consumers. A monitor in each
API process measures it every `backlog_poll_interval_s`, so a request only reads a number.
"""

from __future__ import annotations

import asyncio
import math

import structlog
from nats.js.errors import NotFoundError
from prometheus_client import Gauge

from services.orders.settings import OrdersSettings
from shared.contract.subjects import stream_name
from shared.errors import TooManyRequests
from shared.outbox import unsent_count
from shared.runtime import ServiceRuntime

log = structlog.get_logger()

# The durable consumers of our stream (each is named after its service).
DOWNSTREAM_CONSUMERS = ("customs", "postal")
BACKLOG = Gauge("silkgate_orders_backlog", "Events intake produced that are not yet handled downstream")


class BacklogMonitor:
    """Measures the backlog in the background; `admit()` raises 429 while it is over the bound."""

    def __init__(self, runtime: ServiceRuntime, settings: OrdersSettings) -> None:
        self.runtime = runtime
        self.settings = settings
        self.backlog = 0
        self._downstream = 0
        self._full_logged = False

    @property
    def full(self) -> bool:
        return self.backlog > self.settings.max_backlog

    def admit(self) -> None:
        """Raise 429 backlog_full with Retry-After while the backlog is over the bound."""
        if self.full:
            retry_after = max(1, math.ceil(self.settings.backlog_retry_after_s))
            raise TooManyRequests(
                f"Intake is paused while {self.backlog} events wait downstream (bound {self.settings.max_backlog}); "
                f"retry after {retry_after} s",
                code="backlog_full", headers={"Retry-After": str(retry_after)},
                extra={"backlog": self.backlog, "max_backlog": self.settings.max_backlog},
            )

    async def measure(self) -> int:
        """Refresh the backlog: unsent outbox rows plus the downstream consumers' pending messages."""
        outbox = await unsent_count(self.runtime.db, self.runtime.tables.outbox)
        self._downstream = await self._downstream_pending()
        self.backlog = outbox + self._downstream
        BACKLOG.set(self.backlog)
        if self.full != self._full_logged:
            self._full_logged = self.full
            event = "intake.backlog_full" if self.full else "intake.backlog_cleared"
            log.warning(event, backlog=self.backlog, outbox=outbox, downstream=self._downstream,
                        max_backlog=self.settings.max_backlog)
        return self.backlog

    async def _downstream_pending(self) -> int:
        """Pending + unacked on our stream per downstream consumer; a consumer not created yet counts 0.

        While the broker is unreachable the last known figure stands (the outbox grows meanwhile, and counts).
        """
        js = self.runtime.bus.js
        if js is None or not self.runtime.bus.connected:
            return self._downstream
        total = 0
        for consumer in DOWNSTREAM_CONSUMERS:
            try:
                info = await js.consumer_info(stream_name(self.runtime.service), consumer)
            except NotFoundError:
                continue
            total += (info.num_pending or 0) + (info.num_ack_pending or 0)
        return total

    async def run(self, stop: asyncio.Event) -> None:
        """Measure until `stop`; a failed measurement keeps the last figure and is logged."""
        log.info("intake.backlog_monitor_started", max_backlog=self.settings.max_backlog)
        while not stop.is_set():
            try:
                await self.measure()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the monitor must outlive broker and database hiccups
                log.warning("intake.backlog_measure_failed", error=str(exc) or type(exc).__name__)
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.settings.backlog_poll_interval_s)
            except TimeoutError:
                pass
