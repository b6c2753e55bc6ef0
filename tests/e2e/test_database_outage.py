"""The database briefly unavailable: requests get 503 problem+json with Retry-After, and nothing is half-written;
a worker whose database fails over in the middle of a batch redoes the batch and loses nothing.

PostgreSQL: the service reaches the database through a TCP proxy that the test cuts and restores.
SQLite: another process holds the file's write lock past the service's busy timeout (a backup, a stuck writer).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from services.orders.app import create_app
from services.orders.models import Order, OrderEvent, metadata
from services.orders.settings import OrdersSettings
from shared.contract.events import WaybillIssued
from shared.contract.subjects import DEAD_LETTER_STREAM
from tests.e2e.journey import order
from tests.orders.events import publish, waybill_issued
from tests.support import POSTGRES_URL, create_api_key, eventually, running_service


class CuttableProxy:
    """A TCP proxy to PostgreSQL whose connections can be cut and whose listener can refuse new ones."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.cut = False
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut:
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.writers += [writer, up_writer]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def sever(self) -> None:
        self.cut = True
        for writer in self.writers:
            writer.transport.abort()
        self.writers.clear()

    def restore(self) -> None:
        self.cut = False

    async def close(self) -> None:
        self.sever()
        self.server.close()


async def count_orders(app) -> int:
    async with app.state.runtime.db.reader() as session:
        return (await session.execute(select(func.count()).select_from(Order))).scalar_one()


async def test_database_briefly_unavailable_gives_503_and_writes_nothing(database_provider, nats_url):
    url = await database_provider.url_for("orders", metadata)
    parsed = make_url(url)
    proxy = None
    if parsed.get_backend_name() == "postgresql":
        proxy = CuttableProxy(parsed.host or "127.0.0.1", parsed.port or 5432)
        url = parsed.set(host="127.0.0.1", port=await proxy.start()).render_as_string(hide_password=False)
    settings = OrdersSettings(database_url=url, nats_url=nats_url, migrate_on_start=False, run_workers=False,
                              sqlite_busy_timeout_ms=300, database_pool_size=2)
    async with running_service(create_app, settings) as (app, client):
        key = await create_api_key(app, role="merchant", owner="M001")
        headers = {"Authorization": f"Bearer {key}"}
        body = order("mail")
        release = threading.Event()
        if proxy:
            proxy.sever()
        else:
            locked = threading.Event()

            def hold_write_lock() -> None:
                conn = sqlite3.connect(parsed.database, isolation_level=None)
                conn.execute("BEGIN EXCLUSIVE")
                locked.set()
                release.wait(10)
                conn.execute("ROLLBACK")
                conn.close()

            holder = threading.Thread(target=hold_write_lock)
            holder.start()
            locked.wait(5)

        response = await client.post("/v1/orders", json=body, headers={**headers, "Idempotency-Key": "outage-1"})
        assert response.status_code == 503, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "database_unavailable" and "retry-after" in response.headers

        if proxy:
            proxy.restore()
        else:
            release.set()
            holder.join()
        assert await count_orders(app) == 0  # nothing half-written
        retried = await client.post("/v1/orders", json=body, headers={**headers, "Idempotency-Key": "outage-1"})
        assert retried.status_code == 201, retried.text
        assert await count_orders(app) == 1
    if proxy:
        await proxy.close()


@pytest.mark.skipif(not POSTGRES_URL, reason="a database failover is a PostgreSQL server's (SILKGATE_TEST_POSTGRES_URL)")
async def test_a_database_failover_mid_batch_redoes_the_batch_and_loses_nothing(database_provider, nats_url):
    """What a PostgreSQL failover looks like to a worker: every connection drops at once (here: in the middle of a
    consumer batch's transaction) and new ones are refused until the standby takes over. The batch's transaction
    is lost whole, its messages come again, and each event takes effect once."""
    url = make_url(await database_provider.url_for("orders", metadata))
    proxy = CuttableProxy(url.host or "127.0.0.1", url.port or 5432)
    via_proxy = url.set(host="127.0.0.1", port=await proxy.start()).render_as_string(hide_password=False)
    settings = OrdersSettings(database_url=via_proxy, nats_url=nats_url, migrate_on_start=False,
                              consumer_fetch_timeout_s=0.2, consumer_backoff_s=[0.3, 0.5], consumer_batch_size=50,
                              database_pool_size=3)
    async with running_service(create_app, settings) as (app, client):
        key = await create_api_key(app, role="merchant", owner="M001")
        headers = {"Authorization": f"Bearer {key}"}
        order_ids = []
        for n in range(40):
            body = order("mail")
            response = await client.post("/v1/orders", json=body, headers={**headers, "Idempotency-Key": f"fo-{n}"})
            assert response.status_code == 201, response.text
            order_ids.append(response.json()["id"])

        consumer = next(c for c in app.state.runtime.consumers if WaybillIssued.event_type() in c.handlers)
        handle = consumer.handlers[WaybillIssued.event_type()]
        calls = []

        async def failing_over(ctx):
            calls.append(ctx.envelope.id)
            if len(calls) == 20:  # the middle of a batch: the primary goes away
                proxy.sever()
                asyncio.get_running_loop().call_later(1.5, proxy.restore)
            await handle(ctx)

        consumer.handlers[WaybillIssued.event_type()] = failing_over
        for n, order_id in enumerate(order_ids):
            await publish(app.state.runtime, waybill_issued(order_id, tracking_number=f"CP{n:09d}CN"))

        async def all_tracked():
            try:
                async with app.state.runtime.db.reader() as session:
                    rows = (await session.execute(select(OrderEvent.order_id, func.count()).where(
                        OrderEvent.event_type == WaybillIssued.event_type()).group_by(OrderEvent.order_id))).all()
            except (DBAPIError, OSError):
                return None  # we read through the same failing-over connection pool
            return rows if len(rows) == len(order_ids) else None

        rows = await eventually(all_tracked, timeout=60)
        assert {count for _, count in rows} == {1}, "each event took effect once"
        assert len(calls) > len(order_ids), "the batch cut by the failover was handled again"
        info = await app.state.runtime.bus.js.stream_info(DEAD_LETTER_STREAM)
        assert info.state.messages == 0
    await proxy.close()
