"""The idle sender: it polls slowly once nothing was due for a while, and deliveries its process queues wake it."""

from __future__ import annotations

import asyncio

from services.orders.webhooks import delivery
from tests.orders import events
from tests.orders.domain.factories import mail_parcel
from tests.orders.events import publish
from tests.orders.webhooks.support import register
from tests.support import eventually


async def test_a_quiet_sender_is_woken_by_the_deliveries_its_process_commits(orders, receivers, monkeypatch):
    # Quiet from the first empty look on, and then polling only every minute on its own.
    monkeypatch.setattr(delivery, "QUIET_AFTER_S", 0.0)
    monkeypatch.setattr(delivery, "QUIET_POLL_S", 60.0)
    receiver = await receivers()
    await register(orders, receiver.url)
    await asyncio.sleep(0.3)
    order = await orders.create_order(mail_parcel())  # intake's order.accepted delivery (API in this process)
    await eventually(lambda: len(receiver.requests) >= 1, timeout=5.0)
    await asyncio.sleep(0.3)
    await publish(orders.runtime, events.waybill_issued(order["id"]))  # the consumers' batch recording
    await eventually(lambda: len(receiver.requests) >= 2, timeout=5.0)
    assert receiver.types() == ["order.accepted", "waybill.issued"]


async def test_a_rolled_back_transaction_leaves_no_wake_behind(orders):
    from services.orders.webhooks import repository

    try:
        async with orders.runtime.db.transaction() as session:
            session.info[repository.DELIVERIES_QUEUED] = True
            raise RuntimeError("the change failed")
    except RuntimeError:
        pass
    async with orders.runtime.db.transaction() as session:
        assert repository.DELIVERIES_QUEUED not in session.info
