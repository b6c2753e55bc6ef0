"""The customs Alembic revision builds the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from services.customs.models import metadata
from shared.migrate import upgrade
from tests.migration_checks import assert_schema_at, fresh_postgres_database
from tests.support import POSTGRES_URL


async def _check(url: str) -> None:
    await assert_schema_at(url, "customs", metadata, "customs_outbox_trace")
    engine = create_async_engine(url)
    try:
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
    with fresh_postgres_database("customs") as url:
        upgrade("customs", url)
        asyncio.run(_check(url))
