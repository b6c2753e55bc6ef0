"""Deliveries survive a restart: one waiting for its retry is sent by the next process once due, and one that
succeeded is never sent again."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from datetime import datetime

from services.orders.app import create_app
from tests.orders.conftest import Orders, bearer
from tests.orders.domain.factories import mail_parcel
from tests.orders.webhooks.conftest import WEBHOOK_SETTINGS
from tests.orders.webhooks.receiver import Switch
from tests.orders.webhooks.support import deliveries, deliveries_when, register
from tests.support import create_api_key, eventually, running_service


@asynccontextmanager
async def orders_service(settings, keys: dict[str, str]):
    """One run of the orders service on the given settings (same database each time)."""
    async with running_service(create_app, settings) as (app, client):
        if not keys:
            keys["merchant"] = await create_api_key(app, role="merchant", owner="M-KASHGAR")
        merchant = bearer(keys["merchant"])
        yield Orders(app=app, client=client, merchant=merchant, other_merchant={}, ops={}, payment={})


async def test_a_delivery_waiting_for_its_retry_is_sent_after_a_restart_and_never_twice(orders_settings, receivers):
    settings = await orders_settings(**{**WEBHOOK_SETTINGS, "webhook_retry_base_s": 2.0, "webhook_retry_jitter": 0})
    switch = Switch(500)
    receiver = await receivers(switch)
    keys: dict[str, str] = {}

    async with orders_service(settings, keys) as orders:
        created = await register(orders, receiver.url)
        await orders.create_order(mail_parcel(merchant_order_no="R-1"))
        [waiting] = await deliveries_when(orders, created["id"], lambda log: log and log[0]["attempt_count"] == 1)
    # Stopped while the delivery waits for its retry (due two seconds after the failure).
    assert waiting["status"] == "pending" and waiting["next_attempt_at"]
    assert len(receiver.requests) == 1
    switch.status = 200

    async with orders_service(settings, keys) as orders:
        [delivered] = await deliveries_when(orders, created["id"], lambda log: log and log[0]["status"] == "succeeded")
    assert [a["status_code"] for a in delivered["attempts"]] == [500, 200]
    retried_at, due_at = (datetime.fromisoformat(t) for t in (delivered["attempts"][1]["attempted_at"],
                                                             waiting["next_attempt_at"]))
    assert retried_at >= due_at  # not before it was due
    assert receiver.event_ids() == [waiting["event_id"]] * 2

    async with orders_service(settings, keys) as orders:
        # A new event delivered proves the restarted sender has looked at everything due.
        await orders.create_order(mail_parcel(merchant_order_no="R-2"))
        log = await deliveries_when(orders, created["id"], lambda log: len(log) == 2 and log[1]["status"] == "succeeded")
    assert receiver.event_ids() == [waiting["event_id"]] * 2 + [log[1]["event_id"]]
    assert log[0]["attempt_count"] == 2


async def test_a_send_in_flight_at_shutdown_is_given_back_and_sent_by_the_next_process(orders_settings, receivers):
    settings = await orders_settings(**{**WEBHOOK_SETTINGS, "webhook_timeout_s": 30})
    hang = {"on": True}

    async def respond(_):
        while hang["on"]:
            await asyncio.sleep(0.05)
        return 200

    receiver = await receivers(respond)
    keys: dict[str, str] = {}
    async with orders_service(settings, keys) as orders:
        created = await register(orders, receiver.url)
        await orders.create_order(mail_parcel(merchant_order_no="R-1"))
        await eventually(lambda: len(receiver.requests) == 1)
    # The POST was cut at shutdown: no answer, so no success recorded, and the lease was released.
    hang["on"] = False
    async with orders_service(settings, keys) as orders:
        [delivered] = await deliveries_when(orders, created["id"], lambda log: log and log[0]["status"] == "succeeded")
        log = await deliveries(orders, created["id"])
    assert delivered["attempt_count"] == 1
    assert receiver.event_ids() == [log[0]["event_id"]] * 2  # at least once: the cut POST, then the real one
