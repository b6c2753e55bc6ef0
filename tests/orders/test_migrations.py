"""The orders Alembic revision builds the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from services.orders.models import metadata
from shared.migrate import upgrade
from tests.migration_checks import assert_schema_at, fresh_postgres_database
from tests.support import POSTGRES_URL


async def _check(url: str) -> None:
    await assert_schema_at(url, "orders", metadata, "orders_0006")


def test_upgrade_on_a_fresh_sqlite_file(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'orders.db'}"
    upgrade("orders", url)
    upgrade("orders", url)  # a second run is a no-op
    asyncio.run(_check(url))


@pytest.mark.skipif(not POSTGRES_URL, reason="needs SILKGATE_TEST_POSTGRES_URL")
def test_upgrade_on_a_fresh_postgresql_database():
    with fresh_postgres_database("orders") as url:
        upgrade("orders", url)
        asyncio.run(_check(url))


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


def test_secrets_stored_in_clear_before_orders_0005_are_encrypted_by_it_and_decrypted_by_its_downgrade(
        tmp_path, monkeypatch):
    from cryptography.fernet import Fernet

    from services.orders.webhooks.encryption import SecretBox

    key = Fernet.generate_key().decode()
    monkeypatch.setenv("SILKGATE_ORDERS_WEBHOOK_SECRET_KEYS", f'["{key}"]')
    url = f"sqlite+aiosqlite:///{tmp_path / 'orders.db'}"
    upgrade("orders", url, "orders_0003")

    async def execute(statement: str) -> list:
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            result = await conn.execute(text(statement))
            rows = result.all() if result.returns_rows else []
        await engine.dispose()
        return rows

    asyncio.run(execute(
        "INSERT INTO webhook_endpoints (id, merchant_code, url, description, event_types, secret, enabled, created_at, "
        "updated_at) VALUES ('we_1', 'M', 'https://shop.example/h', '', '[\"*\"]', 'whsec_clear', 1, "
        "'2026-01-01 00:00:00.000000', '2026-01-01 00:00:00.000000')"))
    upgrade("orders", url, "orders_0005")
    [(sealed,)] = asyncio.run(execute("SELECT secret FROM webhook_endpoints"))
    assert sealed != "whsec_clear" and SecretBox([key]).open(sealed) == "whsec_clear"
    upgrade("orders", url, "orders_0005")  # again: nothing is encrypted twice
    assert asyncio.run(execute("SELECT secret FROM webhook_endpoints")) == [(sealed,)]

    from alembic import command

    from shared.migrate import alembic_config

    command.downgrade(alembic_config("orders", url), "orders_0003")
    assert asyncio.run(execute("SELECT secret FROM webhook_endpoints")) == [("whsec_clear",)]


def test_payment_claims_copied_by_intake_before_partners_are_cleared_and_recorded_payments_get_a_receipt(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'orders.db'}"
    upgrade("orders", url, "orders_0003")
    claim = '{"provider": "Alipay", "transaction_id": "CLAIM-1", "amount": "10.00", "currency": "CNY"}'
    paid = '{"provider": "Alipay", "transaction_id": "PAID-1", "amount": "20.00", "currency": "CNY"}'

    async def insert_orders() -> None:
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            for order_id, payment in (("ord_claim", claim), ("ord_paid", paid), ("ord_none", None)):
                await conn.execute(text(
                    "INSERT INTO orders (id, merchant_code, merchant_order_no, channel, direction, status, parcel, "
                    "payment, correlation_id, created_at, updated_at, status_changed_at) VALUES (:id, 'M', :id, "
                    "'ecommerce', 'import', 'accepted', '{}', :payment, 'c', '2026-01-01 00:00:00.000000', "
                    "'2026-01-01 00:00:00.000000', '2026-01-01 00:00:00.000000')"),
                    {"id": order_id, "payment": payment})
            await conn.execute(text(
                "INSERT INTO order_events (order_id, event_id, event_type, title, occurred_at, recorded_at, data) "
                "VALUES ('ord_paid', 'evt_1', 'silkgate.orders.payment.recorded.v1', 'Payment', "
                "'2026-01-02 00:00:00.000000', '2026-01-02 00:00:00.000000', '{}')"))
        await engine.dispose()

    async def read() -> tuple:
        engine = create_async_engine(url)
        async with engine.connect() as conn:
            orders = dict((await conn.execute(text("SELECT id, payment FROM orders"))).all())
            payments = (await conn.execute(text(
                "SELECT order_id, provider_code, transaction_id, amount, recorded_at FROM payments"))).all()
        await engine.dispose()
        return orders, [tuple(row) for row in payments]

    asyncio.run(insert_orders())
    upgrade("orders", url)
    orders, payments = asyncio.run(read())
    assert orders["ord_claim"] in (None, "null") and orders["ord_none"] in (None, "null")
    assert "PAID-1" in orders["ord_paid"]
    assert payments == [("ord_paid", "ALIPAY", "PAID-1", 20, "2026-01-02 00:00:00.000000")]
    asyncio.run(_check(url))
