"""The sandbox customs authority: takes filings from customs (POST /v1/messages, the §11 transport), checks their
envelope, signature and schema, keeps every one, and answers with signed receipts posted to customs'
POST /v1/receipts — 2 → 120 → 800, or 300 / 500 / 100 at configured rates or by rule — after configured delays.

Its own small service like the sandbox carrier: a SQLite file (var/authority.db) or a PostgreSQL database, no
broker; its tables are created at start-up (a sandbox has no migrations to run).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import structlog
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.authority.api import router
from services.authority.delivery import Round, post_due_receipts
from services.authority.intake import Intake
from services.authority.models import metadata
from services.authority.settings import AuthoritySettings
from shared.app import BodySizeLimit, RequestContext
from shared.ceb.signing import SigningIdentity, load_certificate
from shared.certificates import certificate_fingerprint, ensure_pair
from shared.db import Database
from shared.errors import install_error_handlers
from shared.logging import configure_logging

log = structlog.get_logger()


def create_app(settings: AuthoritySettings | None = None, *,
               customs_transport: httpx.AsyncBaseTransport | None = None, configure_logs: bool = True) -> FastAPI:
    """Build the sandbox authority; `customs_transport` lets tests reach an in-process receiver."""
    settings = settings or AuthoritySettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if configure_logs:
            configure_logging(settings.service, level=settings.log_level, log_file=settings.log_file)
        identity, customs_cert = load_keys(settings)
        app.state.customs_cert = customs_cert
        db = Database(settings.resolved_database_url())
        async with db.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        app.state.db = db
        app.state.intake = Intake(db, settings, customs_cert)
        stop = asyncio.Event()
        client = httpx.AsyncClient(base_url=settings.customs_url, transport=customs_transport,
                                   timeout=settings.post_timeout_s)
        poster = _receipt_poster(db, settings, identity, client, stop)
        task = asyncio.create_task(poster, name="authority-receipts")
        log.info("authority.started", customs_url=settings.customs_url,
                 customs_certificate=certificate_fingerprint(customs_cert)[:16],
                 own_certificate=certificate_fingerprint(identity.cert_pem)[:16])
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
            log.info("authority.stopped")

    app = FastAPI(title="silkgate sandbox customs authority", description=__doc__ or "", version="1.0.0",
                  lifespan=lifespan)
    app.state.settings = settings
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=max(settings.max_body_bytes, 4_000_000))
    app.add_middleware(RequestContext, service=settings.service)
    app.include_router(_health())
    app.include_router(router)
    return app


def load_keys(settings: AuthoritySettings) -> tuple[SigningIdentity, bytes]:
    """The authority's own signing identity (made on first start when the default paths are used) and the filer's
    certificate it checks messages with (which must exist: without it no filing can be checked)."""
    if not settings.signing_key_file and not settings.signing_cert_file:
        ensure_pair(settings.key_file().parent, "authority", common_name="silkgate sandbox customs authority")
    identity = SigningIdentity.from_files(settings.key_file(), settings.cert_file())
    cert_file = settings.customs_cert_file()
    if not cert_file.exists():
        raise RuntimeError(f"the filer's certificate {cert_file} does not exist: set "
                           "SILKGATE_AUTHORITY_DECLARANT_CERT_FILE to customs' certificate")
    return identity, load_certificate(cert_file)


async def _receipt_poster(db: Database, settings: AuthoritySettings, identity: SigningIdentity,
                          client: httpx.AsyncClient, stop: asyncio.Event) -> None:
    """Post due receipts until stopped: after a full round at once (a backlog), after a round that delivered some
    once a few more have fallen due (post_gather_s), else at the next poll."""
    while not stop.is_set():
        posted = Round()
        try:
            posted = await post_due_receipts(db, settings, identity, client)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - keep going through database or network hiccups
            log.warning("authority.post_error", error=str(exc) or type(exc).__name__)
        if posted.delivered and posted.due >= settings.post_batch_size:
            continue
        try:
            await asyncio.wait_for(stop.wait(), timeout=settings.post_gather_s if posted.delivered
                                   else settings.poll_interval_s)
        except TimeoutError:
            pass


def _health() -> APIRouter:
    health = APIRouter(tags=["operations"])

    @health.get("/healthz", summary="The process is alive")
    async def healthz() -> dict:
        return {"status": "ok"}

    @health.get("/readyz", summary="Database reachable")
    async def readyz(request: Request) -> JSONResponse:
        try:
            await request.app.state.db.ping()
        except Exception as exc:  # noqa: BLE001 - readiness reports, it does not raise
            return JSONResponse({"status": "not_ready", "checks": {"database": type(exc).__name__}}, status_code=503)
        return JSONResponse({"status": "ready", "checks": {"database": "ok"}})

    @health.get("/metrics", summary="Prometheus metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return health
