"""The customs Alembic revision builds the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from services.customs.models import metadata
from shared.migrate import upgrade, version_table
from tests.support import POSTGRES_URL


def _diff(sync_conn):
    context = MigrationContext.configure(sync_conn, opts={"compare_type": False,
                                                          "version_table": version_table("customs")})
    return compare_metadata(context, metadata)


async def _check(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []  # the revision and the models agree
            assert (await conn.execute(text("SELECT version_num FROM alembic_version_customs"))).scalar_one() == \
                "customs_0001"
        async with engine.begin() as conn:
            await conn.execute(text(
                "INSERT INTO declarations (id, order_id, merchant_code, merchant_order_no, channel, direction, lane, "
                "lane_rank, status, ceb_code, counts_towards_annual, buyer_key, parcel, correlation_id, "
                "awaiting_documents, opened_at, version, updated_at) VALUES ('dcl_1', 'ord_1', 'M', 'SO', 'mail', "
                "'export', 'standard', 1, 'accepted', 120, false, 'k', '{}', 'c', false, '2025-01-01 00:00:00', 1, "
                "'2025-01-01 00:00:00')"))
            await conn.execute(text(
                "INSERT INTO audit_trail (declaration_id, actor, actor_role, action, to_status, ceb_code, at) "
                "VALUES ('dcl_1', 'system', 'system', 'file', 'accepted', 120, '2025-01-01 00:00:00')"))
        for statement in ("UPDATE audit_trail SET note = 'x'", "DELETE FROM audit_trail"):
            with pytest.raises(Exception, match="append-only"):
                async with engine.begin() as conn:
                    await conn.execute(text(statement))
    finally:
        await engine.dispose()


def test_upgrade_on_a_fresh_sqlite_file(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'customs.db'}"
    upgrade("customs", url)
    upgrade("customs", url)  # a second run is a no-op
    asyncio.run(_check(url))


@pytest.mark.skipif(not POSTGRES_URL, reason="needs SILKGATE_TEST_POSTGRES_URL")
def test_upgrade_on_a_fresh_postgresql_database():
    name = f"sgt_customs_migrate_{uuid.uuid4().hex[:8]}"

    async def admin(statement: str) -> None:
        engine = create_async_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(statement))
        await engine.dispose()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        url = POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
        upgrade("customs", url)
        asyncio.run(_check(url))
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
