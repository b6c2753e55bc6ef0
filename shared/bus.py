"""NATS JetStream connection: connect (waiting while the server is down), streams, publishing."""

from __future__ import annotations

import asyncio
from typing import Any

import nats
import structlog
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

from shared.contract.subjects import DEAD_LETTER_PREFIX, DEAD_LETTER_STREAM, SERVICES, stream_name, stream_subjects
from shared.logging import safe_error

log = structlog.get_logger()


def redacted(url: str) -> str:
    """The URL without user and password, for log lines."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}{rest.rsplit('@', 1)[-1]}" if sep else url


class Bus:
    """One NATS connection per process; JetStream for durable publish and pull consumers."""

    def __init__(self, url: str, *, duplicate_window_s: float = 600.0, connect_timeout_s: float = 2.0,
                 connect_options: dict[str, Any] | None = None,
                 managed_services: tuple[str, ...] = SERVICES) -> None:
        self.url = url
        # Credentials and TLS (shared.natsauth.NatsClientAuth.connect_options); none against an open server.
        self.connect_options = connect_options or {}
        # The service streams this process creates and updates (with its own NATS user: its own stream only).
        self.managed_services = managed_services
        self.duplicate_window_s = duplicate_window_s
        self.connect_timeout_s = connect_timeout_s
        self.nc: NATS | None = None
        self.js: JetStreamContext | None = None
        self._ready = asyncio.Event()

    @property
    def connected(self) -> bool:
        return self.nc is not None and self.nc.is_connected

    async def wait_ready(self) -> None:
        await self._ready.wait()

    async def connect(self, *, retry: bool = True) -> None:
        """Connect, retrying with backoff while the server is unreachable (a service may start before NATS)."""
        delay = 0.2
        while True:
            try:
                self.nc = await nats.connect(
                    self.url,
                    connect_timeout=self.connect_timeout_s,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.5,
                    allow_reconnect=True,
                    pending_size=64 * 1024 * 1024,
                    error_cb=self._on_error,
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected,
                    **self.connect_options,
                )
                self.js = self.nc.jetstream(timeout=10)
                # A server that is still starting (or restarting) takes connections before JetStream answers:
                # a failure here is one more reason to wait and retry, never to give up on the broker.
                await self.ensure_streams()
                break
            except Exception as exc:  # noqa: BLE001 - any failure to reach the server means wait and retry
                await self._discard_connection()
                if not retry:
                    raise
                log.warning("bus.waiting", url=redacted(self.url), error=safe_error(exc), retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        self._ready.set()
        log.info("bus.connected", url=redacted(self.url))

    async def _discard_connection(self) -> None:
        nc, self.nc, self.js = self.nc, None, None
        if nc is not None:
            try:
                await nc.close()
            except Exception:  # noqa: BLE001 - it is being thrown away
                pass

    async def ensure_streams(self) -> None:
        """Create or update every service stream and the dead-letter stream (idempotent)."""
        assert self.js is not None
        configs = [
            StreamConfig(
                name=stream_name(service),
                subjects=stream_subjects(service),
                retention=RetentionPolicy.LIMITS,
                storage=StorageType.FILE,
                discard=DiscardPolicy.OLD,
                max_age=7 * 24 * 3600,
                duplicate_window=self.duplicate_window_s,
            )
            for service in self.managed_services
        ]
        configs.append(
            StreamConfig(
                name=DEAD_LETTER_STREAM,
                subjects=[f"{DEAD_LETTER_PREFIX}.>"],
                retention=RetentionPolicy.LIMITS,
                storage=StorageType.FILE,
                max_age=30 * 24 * 3600,
                duplicate_window=self.duplicate_window_s,
            )
        )
        for config in configs:
            try:
                await self.js.stream_info(config.name)
                await self.js.update_stream(config)
            except NotFoundError:
                try:
                    await self.js.add_stream(config)
                except BadRequestError:
                    # Another process created it between our look and our add.
                    await self.js.update_stream(config)

    async def close(self) -> None:
        if self.nc is not None:
            # Workers are stopped by now; flush pending acks and close (drain would wait on idle pull requests).
            try:
                await asyncio.wait_for(self.nc.flush(), timeout=2.0)
            except Exception:  # noqa: BLE001 - closing a broken connection must not fail shutdown
                pass
            await self.nc.close()
        self.nc = None
        self.js = None
        self._ready.clear()

    async def _on_error(self, exc: Exception) -> None:
        log.warning("bus.error", error=safe_error(exc))

    async def _on_disconnected(self) -> None:
        log.warning("bus.disconnected", url=redacted(self.url))

    async def _on_reconnected(self) -> None:
        log.info("bus.reconnected", url=redacted(self.url))
