"""Test helpers shared by every test package: real NATS, real databases, running services."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import nats
from sqlalchemy import MetaData, event, text
from sqlalchemy.ext.asyncio import create_async_engine

from shared.natsserver import NatsServer, free_port, nats_server_binary  # noqa: F401 - re-exported for tests

POSTGRES_URL = os.environ.get("SILKGATE_TEST_POSTGRES_URL", "")  # e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test
NATS_URL = os.environ.get("SILKGATE_TEST_NATS_URL", "")  # e.g. nats://127.0.0.1:4222 ; empty: start our own


async def delete_silkgate_streams(url: str) -> None:
    """Start each test from empty streams and consumers."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        for info in await js.streams_info():
            if info.config.name.startswith("SILKGATE_"):
                await js.delete_stream(info.config.name)
    finally:
        await nc.close()


class DatabaseProvider:
    """A fresh database per test: a SQLite file, or (with SILKGATE_TEST_POSTGRES_URL) a PostgreSQL database
    per service created once per run and emptied before each test."""

    def __init__(self, tmp_root: Path) -> None:
        self.tmp_root = tmp_root
        self.pg_created: dict[str, str] = {}
        self.run_id = uuid.uuid4().hex[:8]

    async def url_for(self, service: str, metadata: MetaData) -> str:
        if not POSTGRES_URL:
            path = self.tmp_root / f"{service}-{uuid.uuid4().hex[:8]}.db"
            url = f"sqlite+aiosqlite:///{path}"
            await _create_all(url, metadata)
            return url
        if service not in self.pg_created:
            name = f"sgt_{service}_{self.run_id}"
            admin = create_async_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
                await conn.execute(text(f'CREATE DATABASE "{name}"'))
            await admin.dispose()
            url = POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
            await _create_all(url, metadata)
            self.pg_created[service] = url
        url = self.pg_created[service]
        await _truncate_all(url, metadata)
        return url

    async def drop_all(self) -> None:
        if not self.pg_created:
            return
        admin = create_async_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        async with admin.connect() as conn:
            for url in self.pg_created.values():
                name = url.rsplit("/", 1)[1]
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def _create_all(url: str, metadata: MetaData) -> None:
    from shared.db import Database

    db = Database(url)
    async with db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    await db.dispose()


async def _truncate_all(url: str, metadata: MetaData) -> None:
    engine = create_async_engine(url)
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    await engine.dispose()


@asynccontextmanager
async def running_service(create_app: Any, settings: Any) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """Start a service app's lifespan (database, bus, relay, consumers) and give an in-process HTTP client."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield app, client


async def create_api_key(app: Any, *, role: str, owner: str, name: str = "test key") -> str:
    """Insert an API key directly into a running service's database; returns the clear key."""
    from shared.auth import generate_key

    runtime = app.state.runtime
    key_id, key = generate_key(role)
    async with runtime.db.transaction() as session:
        await runtime.api_keys.insert(session, key_id=key_id, key=key, role=role, owner=owner, name=name)
    return key


async def eventually(check: Any, *, timeout: float = 15.0, interval: float = 0.05) -> Any:
    """Poll an async or sync predicate until it returns a truthy value; fail with the last value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last value: {last!r})")


def record_statements(engine: Any) -> list[str]:
    """The SQL texts `engine` sends from now on, in order (the list fills as they run)."""
    statements: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    return statements


async def handle_as_one_batch(consumer: Any, count: int, engine: Any) -> list[str]:
    """Fetch `count` messages as one batch of `consumer`, handle them, and return the SQL statements that took."""
    await consumer.subscribe()
    msgs = await consumer._sub.fetch(count, timeout=5)
    assert len(msgs) == count
    statements: list[str] = []

    def listener(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", listener)
    try:
        await consumer.handle_batch(msgs)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", listener)
    return statements
