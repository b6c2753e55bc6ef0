"""The postal Alembic revision builds the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import create_async_engine

from services.postal.models import metadata
from shared.migrate import upgrade
from tests.migration_checks import assert_schema_at, fresh_postgres_database
from tests.support import POSTGRES_URL

OPEN_BAG = ("INSERT INTO receptacles (id, carrier, channel, origin_office, destination_office, mail_category, "
            "mail_subclass, status, registered, weight_kg, item_count, opened_at) VALUES (:id, 'SGPOST', 'mail', "
            "'CNURCA', 'KZALAA', 'A', 'CN', :status, false, 0, 0, '2026-01-01 00:00:00')")


async def _check(url: str) -> None:
    await assert_schema_at(url, "postal", metadata, "postal_0003")
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(OPEN_BAG), {"id": "rcp_1", "status": "open"})
            await conn.execute(text(OPEN_BAG), {"id": "rcp_2", "status": "closed"})
        with pytest.raises(IntegrityError):  # one open bag per route: the partial unique index is there
            async with engine.begin() as conn:
                await conn.execute(text(OPEN_BAG), {"id": "rcp_3", "status": "open"})
    finally:
        await engine.dispose()


def test_upgrade_on_a_fresh_sqlite_file(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'postal.db'}"
    upgrade("postal", url)
    upgrade("postal", url)  # a second run is a no-op
    asyncio.run(_check(url))


@pytest.mark.skipif(not POSTGRES_URL, reason="needs SILKGATE_TEST_POSTGRES_URL")
def test_upgrade_on_a_fresh_postgresql_database():
    with fresh_postgres_database("postal") as url:
        upgrade("postal", url)
        asyncio.run(_check(url))
