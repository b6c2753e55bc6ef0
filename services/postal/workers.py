"""Background workers of the postal service, run next to the relay and consumers (ServiceRuntime.workers).

Both are safe with replicas: the tick claims receptacles and dispatches with SKIP LOCKED, the handoff worker
claims dispatches under a lease. Each loop survives database and carrier outages and goes on at its interval.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

from services.postal.adapters import CarrierAdapter, HttpCarrierAdapter
from services.postal.consolidation import consolidate
from services.postal.handoff import IDLE_MAX_POLL_S, hand_off_due, register_worker, unregister_worker
from services.postal.service import apply_stranded, outbox_emitter
from services.postal.settings import PostalSettings
from shared.db import utcnow
from shared.logging import safe_error

log = structlog.get_logger()

ADAPTER = "carrier_adapter"  # runtime.extras key: tests and embedders put their own adapter there


async def consolidation_worker(runtime: Any, stop: asyncio.Event) -> None:
    """Every tick, close receptacles and dispatches past their age (count and weight close them on the spot), after
    applying any kept release or void whose waybill turned up meanwhile."""
    settings: PostalSettings = runtime.settings
    while not stop.is_set():
        try:
            async with runtime.db.transaction() as session:
                now = utcnow()
                stranded = await apply_stranded(session, settings, emit=outbox_emitter(session, runtime.outbox),
                                                now=now)
                receptacles, dispatches = await consolidate(session, settings, now=now)
            if receptacles or dispatches or stranded:
                log.info("consolidation.tick", receptacles_closed=receptacles, dispatches_closed=dispatches,
                         pending_applied=stranded)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the next tick tries again
            log.warning("consolidation.error", error=safe_error(exc))
        await _sleep_or_stop(stop, settings.consolidation_tick_s)


async def handoff_worker(runtime: Any, stop: asyncio.Event) -> None:
    """Hand closed dispatches to their carriers, retrying failed ones with backoff. Idle, it looks every
    handoff_poll_s, then less often (up to handoff.IDLE_MAX_POLL_S); a dispatch closed in this process wakes it."""
    settings: PostalSettings = runtime.settings
    adapter: CarrierAdapter | None = runtime.extras.get(ADAPTER)
    owned = adapter is None
    if adapter is None:
        adapter = HttpCarrierAdapter(settings)
    wake = asyncio.Event()
    register_worker(wake)
    interval = settings.handoff_poll_s
    try:
        while not stop.is_set():
            handed = 0
            wake.clear()  # a dispatch closed from now on is looked for by the next round
            try:
                handed = await hand_off_due(runtime.db, settings, adapter, runtime.outbox)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a claimed dispatch is retried when its lease runs out
                log.warning("handoff.error", error=safe_error(exc))
            if handed:
                interval = settings.handoff_poll_s
                continue
            await _sleep_or_wake(stop, wake, interval)
            interval = settings.handoff_poll_s if wake.is_set() else min(interval * 2,
                                                                         max(IDLE_MAX_POLL_S, settings.handoff_poll_s))
    finally:
        unregister_worker(wake)
        if owned:
            await adapter.aclose()


async def _sleep_or_wake(stop: asyncio.Event, wake: asyncio.Event, seconds: float) -> None:
    """Sleep until `stop`, `wake` or the timeout, whichever comes first."""
    if wake.is_set():
        return
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass
