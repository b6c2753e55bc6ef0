"""Stuck parcels (issue 6): an order in a status longer than that status's age is logged once as `order.stuck`."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import structlog
from pydantic import ValidationError
from sqlalchemy import select, update

from services.orders.models import Order
from services.orders.service import report_stuck_orders
from services.orders.settings import STUCK_AFTER_S, OrdersSettings
from services.orders.workers import check_stuck_orders
from shared.db import Database, utcnow
from tests.orders import events
from tests.orders.domain.factories import mail_parcel
from tests.orders.events import publish
from tests.support import eventually

HOUR_S = 3600.0


async def _in_status_since(orders, order_id: str, hours: float) -> None:
    """Move the order's last status change back in time."""
    async with orders.runtime.db.transaction() as session:
        await session.execute(update(Order).where(Order.id == order_id)
                              .values(status_changed_at=utcnow() - timedelta(hours=hours)))


async def _stuck_logs(orders) -> list[dict]:
    with structlog.testing.capture_logs() as logs:
        await check_stuck_orders(orders.runtime)
    return [entry for entry in logs if entry["event"] == "order.stuck"]


async def _order_row(orders, order_id: str) -> Order:
    async with orders.runtime.db.reader() as session:
        return (await session.scalars(select(Order).where(Order.id == order_id))).one()


@pytest.fixture
async def orders(start_orders):
    """Ages of an hour in two statuses; the background check is not due during a test."""
    return await start_orders(stuck_after_s={"accepted": HOUR_S, "awaiting_clearance": HOUR_S},
                              stuck_check_interval_s=3600)


async def test_an_order_past_its_status_age_is_reported_once_with_its_ids(orders):
    order = await orders.create_order(mail_parcel(merchant_order_no="SLOW"))
    await orders.create_order(mail_parcel(merchant_order_no="FRESH"))
    assert await _stuck_logs(orders) == []

    await _in_status_since(orders, order["id"], 2)
    [logged] = await _stuck_logs(orders)
    assert logged["log_level"] == "warning"
    assert {k: logged[k] for k in ("order_id", "merchant_order_no", "tracking_number", "status",
                                   "correlation_id")} == {
        "order_id": order["id"], "merchant_order_no": "SLOW", "tracking_number": None, "status": "accepted",
        "correlation_id": (await _order_row(orders, order["id"])).correlation_id}
    assert 2 * HOUR_S - 60 < logged["age_s"] < 2 * HOUR_S + 60
    assert (await _order_row(orders, order["id"])).stuck_reported_status == "accepted"

    assert await _stuck_logs(orders) == []  # once per status: the next checks stay quiet


async def test_an_order_is_reported_again_when_it_gets_stuck_in_its_next_status(orders):
    order_id = (await orders.create_order(mail_parcel()))["id"]
    await _in_status_since(orders, order_id, 2)
    assert [entry["status"] for entry in await _stuck_logs(orders)] == ["accepted"]

    await publish(orders.runtime, events.filed(order_id))
    await eventually(lambda: _status_is(orders, order_id, "awaiting_clearance"))
    assert await _stuck_logs(orders) == []  # it moved just now
    await _in_status_since(orders, order_id, 2)
    assert [entry["status"] for entry in await _stuck_logs(orders)] == ["awaiting_clearance"]


async def _status_is(orders, order_id: str, status: str) -> bool:
    return (await orders.get_order(order_id))["status"] == status


async def test_each_status_has_its_own_age_and_unlisted_statuses_are_not_checked(start_orders):
    orders = await start_orders(stuck_after_s={"accepted": 10 * HOUR_S, "awaiting_clearance": HOUR_S},
                                stuck_check_interval_s=3600)
    accepted = (await orders.create_order(mail_parcel(merchant_order_no="A")))["id"]
    filed = (await orders.create_order(mail_parcel(merchant_order_no="F")))["id"]
    released = (await orders.create_order(mail_parcel(merchant_order_no="R")))["id"]
    await publish(orders.runtime, events.filed(filed))
    await publish(orders.runtime, events.released(released))
    await eventually(lambda: _status_is(orders, released, "released"))
    await eventually(lambda: _status_is(orders, filed, "awaiting_clearance"))
    for order_id in (accepted, filed, released):
        await _in_status_since(orders, order_id, 5)
    assert [entry["order_id"] for entry in await _stuck_logs(orders)] == [filed]


async def test_finished_orders_are_never_stuck(start_orders):
    orders = await start_orders(stuck_after_s={"accepted": 0.0}, stuck_check_interval_s=3600)
    order_id = (await orders.create_order(mail_parcel()))["id"]
    response = await orders.client.post(f"/v1/orders/{order_id}/cancel", json={}, headers=orders.merchant)
    assert response.status_code == 200
    await _in_status_since(orders, order_id, 1000)
    assert await _stuck_logs(orders) == []


async def test_a_replica_checking_meanwhile_does_not_report_the_orders_again(orders):
    order_ids = [(await orders.create_order(mail_parcel(merchant_order_no=f"S{n}")))["id"] for n in range(5)]
    for order_id in order_ids:
        await _in_status_since(orders, order_id, 2)
    replica = Database(orders.runtime.settings.database_url)  # another process's engine on the same database

    async def check(db: Database) -> list[str]:
        async with db.transaction() as session:
            stuck = await report_stuck_orders(session, stuck_after_s={"accepted": HOUR_S}, now=utcnow(), limit=100)
        return [order.id for order in stuck]

    try:
        async with orders.runtime.db.transaction() as session:
            first = await report_stuck_orders(session, stuck_after_s={"accepted": HOUR_S}, now=utcnow(), limit=100)
            # The replica's claim waits for our row locks (PostgreSQL) or the write lock (SQLite), then finds the
            # orders reported.
            second = asyncio.create_task(check(replica))
            await asyncio.sleep(0.3)
        assert await second == []
    finally:
        await replica.dispose()
    assert sorted(order.id for order in first) == sorted(order_ids)


async def test_a_check_reports_at_most_the_limit_oldest_first(orders):
    order_ids = [(await orders.create_order(mail_parcel(merchant_order_no=f"L{n}")))["id"] for n in range(3)]
    for hours, order_id in zip((3, 5, 4), order_ids, strict=True):
        await _in_status_since(orders, order_id, hours)
    async with orders.runtime.db.transaction() as session:
        first = await report_stuck_orders(session, stuck_after_s={"accepted": HOUR_S}, now=utcnow(), limit=2)
    async with orders.runtime.db.transaction() as session:
        rest = await report_stuck_orders(session, stuck_after_s={"accepted": HOUR_S}, now=utcnow(), limit=2)
    assert sorted(order.id for order in first) == sorted([order_ids[1], order_ids[2]])  # 5 h and 4 h
    assert [order.id for order in rest] == [order_ids[0]]


async def test_the_worker_reports_in_the_background(start_orders):
    orders = await start_orders(stuck_after_s={"accepted": 0.0}, stuck_check_interval_s=0.05)
    with structlog.testing.capture_logs() as logs:
        order_id = (await orders.create_order(mail_parcel()))["id"]
        await eventually(lambda: [e for e in logs if e["event"] == "order.stuck"])
        await asyncio.sleep(0.3)  # a few more rounds
    assert [e["order_id"] for e in logs if e["event"] == "order.stuck"] == [order_id]


def test_the_default_ages():
    assert set(STUCK_AFTER_S) == {"accepted", "awaiting_clearance", "on_hold", "released", "handed_off", "in_transit"}
    assert STUCK_AFTER_S["awaiting_clearance"] == 1800  # the documents deadline


def test_only_statuses_on_the_way_can_have_an_age():
    assert OrdersSettings(stuck_after_s={"in_transit": 60}).stuck_after_s == {"in_transit": 60}
    with pytest.raises(ValidationError, match="delivered"):
        OrdersSettings(stuck_after_s={"delivered": 60})
