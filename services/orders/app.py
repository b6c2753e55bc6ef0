"""The orders service: create_app builds the FastAPI app without I/O; the lifespan connects."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from services.orders.api import BATCH_PATH, router
from services.orders.api_documents import PAYMENT_BATCH_PATH
from services.orders.api_documents import router as documents_router
from services.orders.api_partners import router as partners_router
from services.orders.backpressure import BacklogMonitor
from services.orders.consumers import HANDLERS, record_own_stall
from services.orders.models import tables
from services.orders.settings import OrdersSettings
from services.orders.webhooks.api import router as webhooks_router
from services.orders.webhooks.delivery import webhook_sender_worker
from services.orders.workers import purge_idempotency_keys_worker, report_stuck_orders_worker
from shared.app import BodySizeLimit, build_app
from shared.migrate import upgrade_async
from shared.runtime import ServiceRuntime

DESCRIPTION = """Merchants submit parcel orders of every channel (mail, express, e-commerce) and follow them to delivery.

**Who sends which document, with which key.** An e-commerce parcel clears customs on three documents from three
independent parties (DOMAIN.md §6): the **order** from the merchant (key role `merchant`: `POST /v1/orders`); the
**payment** from the payment provider (role `payment`: `POST /v1/orders/{id}/payment` or `POST /v1/payments/batch`);
the **waybill** from the logistics party — silkgate postal issues it itself, or, when the order names an external
`logistics_company`, that company posts it (role `logistics`: `POST /v1/orders/{id}/waybill`). What an order says
about its payment (`parcel.payment`) is only its claim: customs compares it with the provider's document, never
takes it for one. Payment providers and logistics companies are registered partners (`/v1/partners`, ops keys, or
`silkgate partners`) bound to the merchants they serve; a partner key acts only for those merchants' orders and gets
404 for any other, exactly as for an order that does not exist. Their answers are receipts (ids, amounts, status),
never the order or anyone's personal data.

Authenticate with `Authorization: Bearer <api key>`. Every order needs an `Idempotency-Key` header: the same key with
the same body replays the first answer (`Idempotent-Replayed: true`), the same key with another body is a 409.
Register webhook endpoints (`/v1/webhook-endpoints`) to hear of status changes instead of polling: each POST is
signed (`Silkgate-Signature`), retried with backoff for up to 3 days, and logged per endpoint (replayable).
Errors are `application/problem+json` with a stable `code` and, for invalid input, the `field` at fault and an
`errors` list naming every field. Past a backlog of unfinished work intake answers 429 with `Retry-After`.
"""


def create_app(settings: OrdersSettings | None = None) -> FastAPI:
    """Build the orders app; pass settings in tests, read the environment otherwise."""
    settings = settings or OrdersSettings()

    async def migrate(url: str) -> None:
        await upgrade_async("orders", url)

    runtime = ServiceRuntime(settings=settings, tables=tables, handlers=HANDLERS,
                             workers=[purge_idempotency_keys_worker, webhook_sender_worker,
                                      report_stuck_orders_worker],
                             migrate=migrate if settings.migrate_on_start else None, record_stall=record_own_stall)
    app = build_app(runtime, title="silkgate orders", description=DESCRIPTION,
                    routers=[router, documents_router, partners_router, webhooks_router])
    # The kit's limit (max_body_bytes) is sized for a batch; everything else gets the single-order limit.
    app.add_middleware(SingleOrderBodyLimit, max_bytes=settings.max_order_body_bytes,
                       exempt_paths={BATCH_PATH, PAYMENT_BATCH_PATH})
    _run_backlog_monitor(app, runtime, settings)
    return app


def _run_backlog_monitor(app: FastAPI, runtime: ServiceRuntime, settings: OrdersSettings) -> None:
    """Run the back-pressure monitor for the app's lifetime in processes that serve the API.

    It wraps the kit's lifespan rather than joining `runtime.workers`, which only run in worker processes.
    """
    kit_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with kit_lifespan(app):
            if not settings.run_api:
                yield
                return
            monitor = BacklogMonitor(runtime, settings)
            runtime.extras["backlog"] = monitor
            stop = asyncio.Event()
            task = asyncio.create_task(monitor.run(stop), name="orders-backlog-monitor")
            try:
                yield
            finally:
                stop.set()
                try:
                    await asyncio.wait_for(task, timeout=5.0)
                except TimeoutError:
                    task.cancel()
                runtime.extras.pop("backlog", None)

    app.router.lifespan_context = lifespan


class SingleOrderBodyLimit:
    """The kit's 413 body limit at a lower bound for every path but the exempt ones (the batch endpoint)."""

    def __init__(self, app: ASGIApp, max_bytes: int, exempt_paths: set[str]) -> None:
        self.app = app
        self.limited = BodySizeLimit(app, max_bytes=max_bytes)
        self.exempt_paths = exempt_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path") not in self.exempt_paths:
            await self.limited(scope, receive, send)
        else:
            await self.app(scope, receive, send)
