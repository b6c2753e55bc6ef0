"""The sandbox carrier: takes dispatch manifests from postal and, step by step, posts realistic tracking events
back to postal's POST /v1/tracking-events (EMSEVT for mail, courier codes for express) with its carrier API key.

Its own small service: a SQLite file (var/carrier.db) and no broker. Its tables are created at start-up
(a sandbox has no migrations to run).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import structlog
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.carrier.api import router
from services.carrier.models import metadata
from services.carrier.service import post_due_events
from services.carrier.settings import CarrierSettings
from shared.apidocs import install_offline_docs
from shared.app import METRICS_RESPONSE, RequestContext
from shared.db import Database
from shared.errors import install_error_handlers
from shared.logging import configure_logging, safe_error
from shared.openapi import install_contract

log = structlog.get_logger()


def create_app(settings: CarrierSettings | None = None, *,
               postal_transport: httpx.AsyncBaseTransport | None = None, configure_logs: bool = True) -> FastAPI:
    """Build the sandbox carrier; `postal_transport` lets tests reach an in-process postal app."""
    settings = settings or CarrierSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if configure_logs:
            configure_logging(settings.service, level=settings.log_level, log_file=settings.log_file)
        db = Database(settings.resolved_database_url())
        async with db.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        app.state.db = db
        stop = asyncio.Event()
        client = httpx.AsyncClient(base_url=settings.postal_url, transport=postal_transport,
                                   timeout=settings.post_timeout_s)
        task = asyncio.create_task(_tracking_poster(db, settings, client, stop), name="carrier-tracking")
        log.info("carrier.started", postal_url=settings.postal_url, step_interval_s=settings.step_interval_s)
        try:
            yield
        finally:
            stop.set()
            try:
                await asyncio.wait_for(task, timeout=5.0)
            except TimeoutError:
                task.cancel()
            await client.aclose()
            await db.dispose()
            log.info("carrier.stopped")

    app = FastAPI(title="silkgate sandbox carrier", description=__doc__ or "", version="1.0.0", lifespan=lifespan,
                  docs_url=None, redoc_url=None)
    app.state.settings = settings
    install_offline_docs(app)
    install_error_handlers(app)
    # The sandbox asks for a key only when one is configured; its document says which.
    install_contract(app, secured_prefix="/v1/" if settings.manifest_api_key else None)
    app.add_middleware(RequestContext, service="carrier")  # request metrics, as every service has
    app.include_router(_health())
    app.include_router(router)
    return app


async def _tracking_poster(db: Database, settings: CarrierSettings, client: httpx.AsyncClient,
                           stop: asyncio.Event) -> None:
    """Post due events until stopped; an idle round waits a fraction of a step."""
    idle = max(0.05, min(1.0, settings.step_interval_s / 4))
    while not stop.is_set():
        settled = 0
        try:
            settled = await post_due_events(db, settings, client)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - keep going through database or postal hiccups
            log.warning("carrier.post_error", error=safe_error(exc))
        if settled < settings.post_batch_size:
            try:
                await asyncio.wait_for(stop.wait(), timeout=idle)
            except TimeoutError:
                pass


def _health() -> APIRouter:
    health = APIRouter(tags=["operations"])

    @health.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    @health.get("/readyz")
    async def readyz(request: Request) -> JSONResponse:
        try:
            await request.app.state.db.ping()
        except Exception as exc:  # noqa: BLE001 - readiness reports, it does not raise
            return JSONResponse({"status": "not_ready", "checks": {"database": type(exc).__name__}}, status_code=503)
        return JSONResponse({"status": "ready", "checks": {"database": "ok"}})

    @health.get("/metrics", summary="Prometheus metrics", response_class=Response, responses={200: METRICS_RESPONSE})
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return health
