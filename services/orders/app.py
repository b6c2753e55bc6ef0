"""The orders service: create_app builds the FastAPI app without I/O; the lifespan connects."""

from __future__ import annotations

from fastapi import FastAPI

from services.orders.api import router
from services.orders.consumers import HANDLERS
from services.orders.models import tables
from services.orders.settings import OrdersSettings
from shared.app import build_app
from shared.migrate import upgrade_async
from shared.runtime import ServiceRuntime


def create_app(settings: OrdersSettings | None = None) -> FastAPI:
    """Build the orders app; pass settings in tests, read the environment otherwise."""
    settings = settings or OrdersSettings()

    async def migrate(url: str) -> None:
        await upgrade_async("orders", url)

    runtime = ServiceRuntime(settings=settings, tables=tables, handlers=HANDLERS,
                             migrate=migrate if settings.migrate_on_start else None)
    return build_app(runtime, title="silkgate orders", description=__doc__ or "", routers=[router])
