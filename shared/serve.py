"""Run one service process: the HTTP API, the workers (relay, consumers, timers), or both."""

from __future__ import annotations

import asyncio
import errno
import signal
import socket
import sys

import click

from shared.db import Database
from shared.logging import cache_loggers
from shared.secrets import is_production, production_problems
from shared.services import SANDBOXES, create_app_for, settings_for


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def fail(message: str) -> None:
    click.echo(f"silkgate: {message}", err=True)
    sys.exit(2)


async def _check_database(url: str) -> None:
    db = Database(url)
    try:
        await asyncio.wait_for(db.ping(), timeout=10)
    finally:
        await db.dispose()


def serve(service: str, *, role: str = "all", host: str | None = None, port: int | None = None) -> None:
    """Start `service` in this process; fail fast on a taken port or an unreachable database."""
    overrides: dict = {}
    if host:
        overrides["host"] = host
    if port:
        overrides["port"] = port
    settings = settings_for(service, **overrides)
    if service not in SANDBOXES:
        settings.run_api = role in ("api", "all")
        settings.run_workers = role in ("worker", "all")
    if is_production():
        problems = production_problems(settings)
        if problems:
            fail(f"{service}: refusing to start in production (SILKGATE_ENV=production): " + "; ".join(problems))
    bind_port = settings.resolved_port()
    if role != "worker" and not port_is_free(settings.host, bind_port):
        fail(f"{service}: port {settings.host}:{bind_port} is already in use "
             f"(set SILKGATE_{service.upper()}_PORT or stop what holds it)")
    url = settings.resolved_database_url()
    try:
        asyncio.run(_check_database(url))
    except Exception as exc:  # noqa: BLE001 - any failure here is reported as unreachable
        fail(f"{service}: database unreachable at {_redact(url)}: {type(exc).__name__}: {exc}")
    cache_loggers()
    app = create_app_for(service, settings)
    if role == "worker":
        # Until the event loop takes SIGTERM/SIGINT over (_run_workers), a stop asked for while starting ends the
        # process cleanly (exit 0), not by the signal's default (killed): the metrics thread already answers by then.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, _exit_cleanly)
        if settings.worker_metrics_port:
            if not port_is_free(settings.host, settings.worker_metrics_port):
                fail(f"{service} worker: metrics port {settings.host}:{settings.worker_metrics_port} is already in use")
            from prometheus_client import start_http_server

            start_http_server(settings.worker_metrics_port, addr=settings.host)
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(_run_workers(app))
        return
    import uvicorn

    # loop and http "auto": uvloop and httptools (dependencies) when installed, asyncio and h11 otherwise.
    uvicorn.run(app, host=settings.host, port=bind_port, log_level="warning", access_log=False,
                timeout_graceful_shutdown=5, loop="auto", http="auto")


def _exit_cleanly(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


async def _run_workers(app) -> None:
    """A worker process: the app's lifespan (relay, consumers, timers) without an HTTP server."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with app.router.lifespan_context(app):
        await stop.wait()


def _loop_factory():
    """uvloop's event loop for the workers, as uvicorn takes it for the APIs: the loop's own work (callbacks,
    timers, sockets) costs a fraction of asyncio's, and every consumer, relay and request goes through it."""
    try:
        import uvloop
    except ImportError:  # not installed (it is a dependency on Linux and macOS): the standard loop
        return None
    return uvloop.new_event_loop


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
