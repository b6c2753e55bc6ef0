"""The postal service: create_app builds the FastAPI app without I/O; the lifespan connects.

Tracking numbers on order.accepted, receptacles and dispatches from declaration.released, handoff to carriers,
tracking events back from them.
"""

from __future__ import annotations

from fastapi import FastAPI

from services.postal.adapters import CarrierAdapter
from services.postal.api import router
from services.postal.consumers import build_handlers, build_prefetchers
from services.postal.models import tables
from services.postal.settings import PostalSettings
from services.postal.workers import ADAPTER, consolidation_worker, handoff_worker
from shared.app import build_app
from shared.migrate import upgrade_async
from shared.runtime import ServiceRuntime


def create_app(settings: PostalSettings | None = None, *, carrier_adapter: CarrierAdapter | None = None) -> FastAPI:
    """Build the postal app; pass settings in tests, read the environment otherwise.

    `carrier_adapter` replaces the HTTP adapter built from the settings (tests, or an embedder's own transport).
    """
    settings = settings or PostalSettings()

    async def migrate(url: str) -> None:
        await upgrade_async("postal", url)

    runtime = ServiceRuntime(settings=settings, tables=tables, handlers=build_handlers(settings),
                             prefetchers=build_prefetchers(settings),
                             workers=[consolidation_worker, handoff_worker],
                             migrate=migrate if settings.migrate_on_start else None)
    if carrier_adapter is not None:
        runtime.extras[ADAPTER] = carrier_adapter
    return build_app(runtime, title="silkgate postal", description=__doc__ or "", routers=[router])
