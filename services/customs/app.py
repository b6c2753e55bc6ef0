"""The customs service: create_app builds the FastAPI app without I/O; the lifespan connects."""

from __future__ import annotations

from fastapi import FastAPI

from services.customs.api import router
from services.customs.consumers import HANDLERS
from services.customs.models import tables
from services.customs.settings import CustomsSettings
from shared.app import build_app
from shared.migrate import upgrade_async
from shared.runtime import ServiceRuntime


def create_app(settings: CustomsSettings | None = None) -> FastAPI:
    """Build the customs app; pass settings in tests, read the environment otherwise."""
    settings = settings or CustomsSettings()

    async def migrate(url: str) -> None:
        await upgrade_async("customs", url)

    runtime = ServiceRuntime(settings=settings, tables=tables, handlers=HANDLERS,
                             migrate=migrate if settings.migrate_on_start else None)
    return build_app(runtime, title="silkgate customs", description=__doc__ or "", routers=[router])
