"""The idempotency purge: stored responses live at least the retention, then go."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from services.orders.intake import purge_idempotency_keys
from services.orders.models import IdempotencyKey
from shared.db import utcnow
from tests.orders.domain.factories import mail_parcel
from tests.support import eventually


async def _age(orders, key: str, hours: float) -> None:
    async with orders.runtime.db.transaction() as session:
        await session.execute(update(IdempotencyKey).where(IdempotencyKey.key == key)
                              .values(created_at=utcnow() - timedelta(hours=hours)))


async def _keys(orders) -> set[str]:
    async with orders.runtime.db.reader() as session:
        return set((await session.scalars(select(IdempotencyKey.key))).all())


async def test_responses_older_than_the_retention_are_purged(orders):
    await orders.create_order(mail_parcel(merchant_order_no="OLD"), key="old")
    await orders.create_order(mail_parcel(merchant_order_no="DAY"), key="day")
    await orders.create_order(mail_parcel(merchant_order_no="NEW"), key="new")
    await _age(orders, "old", 25)
    await _age(orders, "day", 23)
    async with orders.runtime.db.transaction() as session:
        assert await purge_idempotency_keys(session, older_than_s=24 * 3600) == 1
    assert await _keys(orders) == {"day", "new"}
    # Past the retention a key is forgotten: the same request is a new one (here: a duplicate order number).
    response = await orders.post_order(mail_parcel(merchant_order_no="OLD"), key="old")
    assert response.json()["code"] == "duplicate_merchant_order_no"


async def test_the_worker_purges_in_the_background(start_orders):
    orders = await start_orders(idempotency_retention_s=3600, idempotency_purge_interval_s=0.05)
    await orders.create_order(mail_parcel(merchant_order_no="OLD"), key="old")
    await orders.create_order(mail_parcel(merchant_order_no="NEW"), key="new")
    await _age(orders, "old", 2)

    async def purged():
        return await _keys(orders) == {"new"}

    await eventually(purged)
