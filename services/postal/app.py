"""The postal service: create_app builds the FastAPI app without I/O; the lifespan connects."""

from __future__ import annotations

from fastapi import FastAPI

from services.postal.api import router
from services.postal.consumers import HANDLERS
from services.postal.models import tables
from services.postal.settings import PostalSettings
from shared.app import build_app
from shared.migrate import upgrade_async
from shared.runtime import ServiceRuntime


def create_app(settings: PostalSettings | None = None) -> FastAPI:
    """Build the postal app; pass settings in tests, read the environment otherwise."""
    settings = settings or PostalSettings()

    async def migrate(url: str) -> None:
        await upgrade_async("postal", url)

    runtime = ServiceRuntime(settings=settings, tables=tables, handlers=HANDLERS,
                             migrate=migrate if settings.migrate_on_start else None)
    return build_app(runtime, title="silkgate postal", description=__doc__ or "", routers=[router])
