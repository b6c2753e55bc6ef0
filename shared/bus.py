"""NATS JetStream connection: connect (waiting while the server is down), streams, publishing.

`url` may name one server or a cluster: a comma-separated list (`nats://n1:4222,nats://n2:4222,nats://n3:4222`).
The client connects to any of them, learns the others from the cluster, and reconnects to a live one when its
server goes away. Streams get `replicas` copies (0: 3 when the cluster has at least three nodes, else 1).
"""

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
    """The URL (or comma-separated URLs) without user and password, for log lines."""
    def one(part: str) -> str:
        scheme, sep, rest = part.strip().partition("://")
        return f"{scheme}{sep}{rest.rsplit('@', 1)[-1]}" if sep else part.strip()
    return ",".join(one(part) for part in url.split(","))


class Bus:
    """One NATS connection per process; JetStream for durable publish and pull consumers."""

    def __init__(self, url: str, *, duplicate_window_s: float = 600.0, connect_timeout_s: float = 2.0,
                 connect_options: dict[str, Any] | None = None,
                 managed_services: tuple[str, ...] = SERVICES, replicas: int = 0) -> None:
        self.url = url
        self.servers = server_urls(url)
        # Credentials and TLS (shared.natsauth.NatsClientAuth.connect_options); none against an open server.
        self.connect_options = connect_options or {}
        # The service streams this process creates and updates (with its own NATS user: its own stream only).
        self.managed_services = managed_services
        self.duplicate_window_s = duplicate_window_s
        self.connect_timeout_s = connect_timeout_s
        self.replicas = replicas  # 0: decided from the cluster's size when connected
        self.stream_replicas = 1
        self.nc: NATS | None = None
        self.js: JetStreamContext | None = None
        self._ready = asyncio.Event()
        self._closing = False  # our own close: its disconnect is no news

    @property
    def connected(self) -> bool:
        return self.nc is not None and self.nc.is_connected

    async def wait_ready(self) -> None:
        await self._ready.wait()

    async def connect(self, *, retry: bool = True) -> None:
        """Connect, retrying with backoff while the server is unreachable (a service may start before NATS)."""
        self._closing = False
        delay = 0.2
        while True:
            try:
                self.nc = await nats.connect(
                    servers=self.servers,
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
        log.info("bus.connected", url=redacted(self.url), server=self._server(), stream_replicas=self.stream_replicas)

    async def _discard_connection(self) -> None:
        nc, self.nc, self.js = self.nc, None, None
        if nc is not None:
            try:
                await nc.close()
            except Exception:  # noqa: BLE001 - it is being thrown away
                pass

    def cluster_size(self) -> int:
        """Servers known in the cluster: the ones configured plus the ones the cluster announced."""
        assert self.nc is not None
        return max(len(self.servers), len({server.netloc for server in self.nc.servers}))

    async def ensure_streams(self) -> None:
        """Create or update every service stream and the dead-letter stream (idempotent)."""
        assert self.js is not None
        self.stream_replicas = self.replicas or stream_replicas_for(self.cluster_size())
        configs = [
            StreamConfig(
                name=stream_name(service),
                subjects=stream_subjects(service),
                retention=RetentionPolicy.LIMITS,
                storage=StorageType.FILE,
                discard=DiscardPolicy.OLD,
                max_age=7 * 24 * 3600,
                duplicate_window=self.duplicate_window_s,
                num_replicas=self.stream_replicas,
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
                num_replicas=self.stream_replicas,
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
        self._closing = True
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
        if not self._closing:
            log.warning("bus.disconnected", url=redacted(self.url))

    async def _on_reconnected(self) -> None:
        log.info("bus.reconnected", url=redacted(self.url), server=self._server())

    def _server(self) -> str:
        connected = self.nc.connected_url if self.nc is not None else None
        return connected.netloc if connected is not None else ""


def server_urls(url: str) -> list[str]:
    """`SILKGATE_NATS_URL` as a list of servers: one URL, or several separated by commas."""
    servers = [part.strip() for part in url.split(",") if part.strip()]
    if not servers:
        raise ValueError("SILKGATE_NATS_URL names no server")
    return servers


def stream_replicas_for(cluster_size: int) -> int:
    """Three copies when the cluster can hold them (one node may be lost), else one (a single server)."""
    return 3 if cluster_size >= 3 else 1
