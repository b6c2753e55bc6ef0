"""The orders Alembic revision builds the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from services.orders.models import metadata
from shared.migrate import upgrade, version_table
from tests.support import POSTGRES_URL


def _diff(sync_conn):
    context = MigrationContext.configure(sync_conn, opts={"compare_type": False,
                                                          "version_table": version_table("orders")})
    return compare_metadata(context, metadata)


async def _check(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []  # the revision and the models agree
            version = (await conn.execute(text("SELECT version_num FROM alembic_version_orders"))).scalar_one()
            assert version == "orders_0003"
    finally:
        await engine.dispose()


def test_upgrade_on_a_fresh_sqlite_file(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'orders.db'}"
    upgrade("orders", url)
    upgrade("orders", url)  # a second run is a no-op
    asyncio.run(_check(url))


@pytest.mark.skipif(not POSTGRES_URL, reason="needs SILKGATE_TEST_POSTGRES_URL")
def test_upgrade_on_a_fresh_postgresql_database():
    name = f"sgt_orders_migrate_{uuid.uuid4().hex[:8]}"

    async def admin(statement: str) -> None:
        engine = create_async_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(statement))
        await engine.dispose()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        url = POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
        upgrade("orders", url)
        asyncio.run(_check(url))
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_orders_of_before_the_stuck_check_take_their_last_update_as_their_last_status_change(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'orders.db'}"
    upgrade("orders", url, "orders_0002")

    async def insert_order() -> None:
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            await conn.execute(text(
                "INSERT INTO orders (id, merchant_code, merchant_order_no, channel, direction, status, parcel, "
                "correlation_id, created_at, updated_at) VALUES ('ord_1', 'M', 'N-1', 'mail', 'export', "
                "'in_transit', '{}', 'c', '2026-01-01 00:00:00.000000', '2026-01-02 03:04:05.000000')"))
        await engine.dispose()

    async def read() -> tuple:
        engine = create_async_engine(url)
        async with engine.connect() as conn:
            row = (await conn.execute(text("SELECT status_changed_at, stuck_reported_status FROM orders"))).one()
        await engine.dispose()
        return tuple(row)

    asyncio.run(insert_order())
    upgrade("orders", url)
    assert asyncio.run(read()) == ("2026-01-02 03:04:05.000000", None)
    asyncio.run(_check(url))
