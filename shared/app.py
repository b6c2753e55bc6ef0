"""The FastAPI shell every service shares: lifespan, errors, health, metrics, request logging, body limit."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.apidocs import install_offline_docs
from shared.auth import ApiKeyGate
from shared.bodies import BodyTooLarge
from shared import tracing
from shared.dlq_api import dead_letter_router
from shared.errors import install_error_handlers, problem_response
from shared.logging import configure_logging
from shared.metrics import HTTP_REQUESTS, HTTP_SECONDS
from shared.openapi import install_contract
from shared.runtime import ServiceRuntime

log = structlog.get_logger()


def build_app(runtime: ServiceRuntime, *, title: str, description: str, routers: list[APIRouter],
              configure_logs: bool = True) -> FastAPI:
    """Assemble a service app; building does no I/O, the lifespan connects."""
    settings = runtime.settings

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if configure_logs:
            configure_logging(settings.service, level=settings.log_level, log_file=settings.log_file)
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    tracing.setup(settings.service)
    app = FastAPI(title=title, description=description, version="1.0.0", lifespan=lifespan, docs_url=None,
                  redoc_url=None, telemetry=tracing.fastapi_telemetry(settings.service))
    app.state.runtime = runtime
    install_offline_docs(app)  # /docs with Swagger UI's assets from the package: works without internet
    install_error_handlers(app)
    install_contract(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    # Keys are checked from the headers before the body limit and anything else reads the body (shared.auth).
    app.add_middleware(ApiKeyGate)
    app.add_middleware(RequestContext, service=settings.service)
    app.include_router(health_router())
    app.include_router(dead_letter_router(settings.service))
    for router in routers:
        app.include_router(router)
    return app


class RequestContext:
    """Correlation id, request metrics and the access log line (pure ASGI: no copy of the body, no extra task)."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app, self.service = app, service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        correlation_id = _header(scope, b"x-correlation-id") or uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(service=self.service, correlation_id=correlation_id)
        scope.setdefault("state", {})["correlation_id"] = correlation_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-correlation-id", correlation_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            elapsed = time.perf_counter() - started
            HTTP_REQUESTS.labels(self.service, metric_method(scope["method"]), path, str(status)).inc()
            HTTP_SECONDS.labels(self.service, path).observe(elapsed)
            if path not in ("/healthz", "/readyz", "/metrics"):
                log.info("http.request", method=scope["method"], path=scope["path"], status=status,
                         duration_ms=round(elapsed * 1000, 1))


# A label value per method a client makes up would be a new time series each (`FOOBAR /v1/orders`).
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})


def metric_method(method: str) -> str:
    """The method as a metrics label: one of the standard methods, or `other`."""
    return method if method in KNOWN_METHODS else "other"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or []:
        if key == name:
            return value.decode("latin-1")
    return None


class BodySizeLimit:
    """Refuse bodies over the limit with 413 before reading them into memory (pure ASGI: no buffering)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Raised inside the app's body read: the error handler answers 413 (shared.bodies).
                    raise BodyTooLarge(self.max_bytes)
            return message

        try:
            await self.app(scope, limited_receive, send)
        except BodyTooLarge:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        await problem_response(BodyTooLarge(self.max_bytes))(scope, receive, send)


# Prometheus text exposition format, not JSON.
METRICS_RESPONSE = {"description": "Prometheus text exposition format",
                    "content": {"text/plain": {"schema": {"type": "string"}}}}


def health_router() -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="The process is alive")
    async def healthz() -> dict:
        return {"status": "ok"}

    @router.get("/readyz", summary="Database and broker reachable")
    async def readyz(request: Request) -> JSONResponse:
        runtime: ServiceRuntime = request.app.state.runtime
        checks = {"database": "ok", "broker": "ok"}
        try:
            await runtime.db.ping()
        except Exception as exc:  # noqa: BLE001 - readiness reports, it does not raise
            checks["database"] = f"unavailable: {type(exc).__name__}"
        if not runtime.bus.connected:
            checks["broker"] = "unavailable"
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ready" if ready else "not_ready", "checks": checks},
                            status_code=200 if ready else 503)

    @router.get("/metrics", summary="Prometheus metrics", response_class=Response,
                responses={200: METRICS_RESPONSE})
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router
