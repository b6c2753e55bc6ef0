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
    await assert_schema_at(url, "customs", metadata, "customs_0006")
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(
                "INSERT INTO declarations (id, order_id, merchant_code, merchant_order_no, channel, direction, lane, "
                "lane_rank, status, ceb_code, counts_towards_annual, buyer_key, parcel, correlation_id, "
                "awaiting_documents, needs_broker, filings, opened_at, version, updated_at) VALUES ('dcl_1', 'ord_1', 'M', "
                "'SO', 'mail', 'export', 'standard', 1, 'filed', 2, false, 'k', '{}', 'c', false, false, 1, "
                "'2025-01-01 00:00:00', 1, '2025-01-01 00:00:00')"))
            await conn.execute(text(
                "INSERT INTO audit_trail (declaration_id, actor, actor_role, action, to_status, ceb_code, at) "
                "VALUES ('dcl_1', 'system', 'system', 'file', 'filed', 2, '2025-01-01 00:00:00')"))
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
        assert asyncio.run(_compression(url)) == {"messages.body": "l", "exchanges.request_body": "l",
                                                  "exchanges.response_body": "l", "receipts.body": "l"}


async def _compression(url: str) -> dict[str, str]:
    """The kept messages' columns and their compression method ('l' is lz4)."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(text(
                "SELECT c.relname || '.' || a.attname, a.attcompression::text FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
                "WHERE c.relname IN ('messages', 'exchanges', 'receipts') "
                "AND a.attname IN ('body', 'request_body', 'response_body')"))).all()
    finally:
        await engine.dispose()
    return dict(rows)


def test_the_exchange_revision_moves_old_statuses_and_seeds_the_quota(tmp_path):
    """Declarations a broker held under the old model become `held`; released e-commerce imports reserve quota."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'customs.db'}"
    upgrade("customs", url, revision="customs_0001")

    async def seed_then_check() -> None:
        engine = create_async_engine(url)
        columns = ("id, order_id, merchant_code, merchant_order_no, channel, direction, lane, lane_rank, status, "
                   "ceb_code, taxable_value_cny, counts_towards_annual, buyer_key, parcel, correlation_id, "
                   "awaiting_documents, opened_at, decided_at, version, updated_at")
        rows = [("d1", "ecommerce", "import", "released", 800, "'1000.50'", "true", "false", "'2025-03-01 02:00:00'"),
                ("d2", "ecommerce", "import", "accepted", 120, "'100.00'", "false", "true", "NULL"),
                ("d3", "mail", "import", "manual_review", 300, "NULL", "false", "false", "NULL")]
        async with engine.begin() as conn:
            for id_, channel, direction, status, code, value, counts, waiting, decided in rows:
                await conn.execute(text(
                    f"INSERT INTO declarations ({columns}) VALUES ('{id_}', 'o-{id_}', 'M', 'SO', '{channel}', "
                    f"'{direction}', 'standard', 1, '{status}', {code}, {value}, {counts}, 'buyer', '{{}}', 'c', "
                    f"{waiting}, '2025-03-01 00:00:00', {decided}, 1, '2025-03-01 00:00:00')"))
        await engine.dispose()
        await asyncio.to_thread(upgrade, "customs", url)
        engine = create_async_engine(url)
        async with engine.connect() as conn:
            statuses = dict((await conn.execute(text("SELECT id, status FROM declarations"))).all())
            quota = (await conn.execute(text("SELECT buyer_key, year, reserved_fen FROM buyer_quotas"))).all()
            held = (await conn.execute(text("SELECT needs_broker FROM declarations WHERE id = 'd3'"))).scalar_one()
        await engine.dispose()
        assert statuses == {"d1": "released", "d2": "pending_documents", "d3": "held"} and held
        assert quota == [("buyer", 2025, 100050)]

    asyncio.run(seed_then_check())
