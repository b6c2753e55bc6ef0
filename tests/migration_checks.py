"""What every service's migration test checks: a fresh database upgraded to head matches the models."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import create_async_engine

from shared.migrate import version_table
from tests.support import POSTGRES_URL


async def assert_schema_at(url: str, service: str, metadata: MetaData, revision: str) -> None:
    """The database is at `revision` and its schema is the one the models describe."""

    def diff(sync_conn) -> list:
        context = MigrationContext.configure(sync_conn, opts={"compare_type": False,
                                                              "version_table": version_table(service)})
        return compare_metadata(context, metadata)

    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(diff) == []  # the revision and the models agree
            version = (await conn.execute(text(f"SELECT version_num FROM {version_table(service)}"))).scalar_one()
            assert version == revision
    finally:
        await engine.dispose()


@contextmanager
def fresh_postgres_database(service: str) -> Iterator[str]:
    """A new, empty PostgreSQL database on the test server (SILKGATE_TEST_POSTGRES_URL), dropped afterwards."""
    name = f"sgt_{service}_migrate_{uuid.uuid4().hex[:8]}"

    async def admin(statement: str) -> None:
        engine = create_async_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(statement))
        await engine.dispose()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
