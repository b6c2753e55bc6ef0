"""Background workers of the orders service (run with the relay and consumers in worker processes)."""

from __future__ import annotations

import asyncio

import structlog

from services.orders.intake import purge_idempotency_keys
from shared.runtime import ServiceRuntime

log = structlog.get_logger()


async def purge_idempotency_keys_worker(runtime: ServiceRuntime, stop: asyncio.Event) -> None:
    """Forget stored Idempotency-Key responses once they are older than the retention (at least 24 h)."""
    settings = runtime.settings
    while not stop.is_set():
        try:
            async with runtime.db.transaction() as session:
                purged = await purge_idempotency_keys(session, older_than_s=settings.idempotency_retention_s)
            if purged:
                log.info("idempotency.purged", count=purged)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - retried on the next round; the keys only live a little longer
            log.warning("idempotency.purge_failed", error=str(exc) or type(exc).__name__)
        try:
            await asyncio.wait_for(stop.wait(), timeout=settings.idempotency_purge_interval_s)
        except TimeoutError:
            pass
