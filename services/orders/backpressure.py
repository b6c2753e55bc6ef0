"""Back-pressure on intake (DESIGN.md "Back-pressure"), fair between merchants: 429 goes to the merchant over its
rate or its share of the backlog, not to the others.

The backlog is what intake has produced and nobody has finished: this service's unsent outbox rows plus, on our
stream, the pending and unacknowledged messages of the customs and postal durable consumers. A monitor in each
API process measures it every `backlog_poll_interval_s` and attributes it to merchants (fairness.py), so a request
only reads numbers. Each merchant also has a token bucket of orders (rate and burst, configurable per merchant).
The buckets and the attribution are per API process: with several API replicas behind a balancer each holds its
part. Past `max_backlog × backlog_hard_factor` everyone waits: that protects the system whoever caused it.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable

import structlog
from nats.js.errors import NotFoundError
from prometheus_client import Gauge

from services.orders.fairness import IntakeLedger, Share, TokenBucket, backlog_shares
from services.orders.settings import OrdersSettings
from shared.contract.subjects import stream_name
from shared.errors import TooManyRequests
from shared.logging import safe_error
from shared.outbox import unsent_count
from shared.runtime import ServiceRuntime

log = structlog.get_logger()

# The durable consumers of our stream (each is named after its service).
DOWNSTREAM_CONSUMERS = ("customs", "postal")
BACKLOG = Gauge("silkgate_orders_backlog", "Events intake produced that are not yet handled downstream")


class BacklogMonitor:
    """Measures the backlog in the background; `refusal()` says whether a merchant's request must wait (429)."""

    def __init__(self, runtime: ServiceRuntime, settings: OrdersSettings, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.runtime = runtime
        self.settings = settings
        self.clock = clock
        self.backlog = 0
        self._downstream = 0
        self._full_logged = False
        self.ledger = IntakeLedger(capacity=max(2 * settings.max_backlog, 1000))
        self.buckets: dict[str, TokenBucket] = {}
        self.shares: dict[str, Share] = {}
        self._refused_logged: dict[tuple[str, str], float] = {}

    @property
    def full(self) -> bool:
        return self.backlog > self.settings.max_backlog

    @property
    def overloaded(self) -> bool:
        return self.backlog > self.settings.max_backlog * self.settings.backlog_hard_factor

    def refusal(self, merchant: str, orders: int = 1) -> TooManyRequests | None:
        """Why `merchant` must wait before `orders` more orders, or None (then they are counted as taken):
        over its share of the backlog (backlog_full past the bound, backlog_share_exceeded before it), over its
        rate (rate_limited), or everyone past the hard bound (backlog_full)."""
        s = self.settings
        share = self.shares.get(merchant)
        if self.overloaded or (share is not None and share.exceeded):
            retry_after = max(1, math.ceil(s.backlog_retry_after_s))
            code = "backlog_full" if self.full else "backlog_share_exceeded"
            self._log_refusal(merchant, code)
            return TooManyRequests(
                f"Intake is paused for merchant {merchant} while {self.backlog} events wait downstream (bound "
                f"{s.max_backlog}; this merchant's part about {round(share.backlog) if share else 0} of its share "
                f"{round(share.limit) if share else 0}); retry after {retry_after} s",
                code=code, headers={"Retry-After": str(retry_after)},
                extra={"backlog": self.backlog, "max_backlog": s.max_backlog,
                       "merchant_backlog": round(share.backlog) if share else 0,
                       "merchant_share": round(share.limit) if share else 0},
            )
        limit = s.limit_for(merchant)
        if limit.rate_per_s > 0:
            bucket = self.buckets.get(merchant)
            if bucket is None:
                bucket = self.buckets[merchant] = TokenBucket.full(limit.rate_per_s, limit.burst, self.clock())
            wait = bucket.take(orders, self.clock())
            if wait > 0:
                retry_after = max(1, math.ceil(wait))
                self._log_refusal(merchant, "rate_limited")
                return TooManyRequests(
                    f"Merchant {merchant} sends more than {limit.rate_per_s:g} orders/s (burst {limit.burst}); "
                    f"retry after {retry_after} s", code="rate_limited", headers={"Retry-After": str(retry_after)},
                    extra={"rate_per_s": limit.rate_per_s, "burst": limit.burst})
        self.ledger.record(merchant, orders)
        return None

    def admit(self, merchant: str, orders: int = 1) -> None:
        """Raise the refusal, if any (see refusal)."""
        error = self.refusal(merchant, orders)
        if error is not None:
            raise error

    def _log_refusal(self, merchant: str, code: str) -> None:
        """One line per merchant and reason every 10 s at most: a flood must not flood the logs too."""
        now = self.clock()
        if now - self._refused_logged.get((merchant, code), -1e9) >= 10:
            self._refused_logged[(merchant, code)] = now
            log.warning("intake.throttled", merchant_code=merchant, code=code, backlog=self.backlog)

    async def measure(self) -> int:
        """Refresh the backlog: unsent outbox rows plus the downstream consumers' pending messages."""
        outbox = await unsent_count(self.runtime.db, self.runtime.tables.outbox)
        self._downstream = await self._downstream_pending()
        self.backlog = outbox + self._downstream
        BACKLOG.set(self.backlog)
        self.shares = backlog_shares(self.backlog, self.ledger.recent(self.backlog), self.settings.backlog_weights(),
                                     self.settings.max_backlog)
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
                log.warning("intake.backlog_measure_failed", error=safe_error(exc))
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.settings.backlog_poll_interval_s)
            except TimeoutError:
                pass
