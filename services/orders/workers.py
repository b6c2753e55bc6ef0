"""Background workers of the orders service (run with the relay and consumers in worker processes)."""

from __future__ import annotations

import asyncio

import structlog

from services.orders.intake import purge_idempotency_keys
from services.orders.service import report_stuck_orders
from shared.db import utcnow
from shared.logging import safe_error
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
            log.warning("idempotency.purge_failed", error=safe_error(exc))
        await _sleep_or_stop(stop, settings.idempotency_purge_interval_s)


async def report_stuck_orders_worker(runtime: ServiceRuntime, stop: asyncio.Event) -> None:
    """Log `order.stuck` for orders in a status longer than its configured age, once per order and status.

    What was reported is stored with the order before it is logged, so a restart or a replica does not repeat it.
    """
    settings = runtime.settings
    while not stop.is_set():
        try:
            await check_stuck_orders(runtime)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - retried on the next round
            log.warning("order.stuck_check_failed", error=safe_error(exc))
        await _sleep_or_stop(stop, settings.stuck_check_interval_s)


async def check_stuck_orders(runtime: ServiceRuntime) -> int:
    """One round of the stuck-order check; returns how many orders were reported."""
    settings = runtime.settings
    now = utcnow()
    async with runtime.db.transaction() as session:
        stuck = await report_stuck_orders(session, stuck_after_s=settings.stuck_after_s, now=now,
                                          limit=settings.stuck_report_limit)
    for order in stuck:
        log.warning("order.stuck", order_id=order.id, merchant_order_no=order.merchant_order_no,
                    tracking_number=order.tracking_number, status=order.status,
                    age_s=round((now - order.status_changed_at).total_seconds()),
                    correlation_id=order.correlation_id)
    return len(stuck)


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass
