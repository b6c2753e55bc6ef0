"""A slow merchant endpoint delays neither other merchants' webhooks nor the order pipeline."""

from __future__ import annotations

import asyncio

from tests.orders import events
from tests.orders.domain.factories import mail_parcel
from tests.orders.events import TRACKING_NUMBER, publish
from tests.orders.webhooks.support import deliveries, register
from tests.support import eventually

TIMEOUT_S = 8.0


async def test_a_hanging_endpoint_never_delays_another_merchant(start_webhook_orders, receivers):
    orders = await start_webhook_orders(webhook_timeout_s=TIMEOUT_S, webhook_max_in_flight_per_endpoint=4)
    release = asyncio.Event()

    async def hang(_):
        await release.wait()  # past the sender's timeout, unless the test ends first
        return 200

    slow, prompt = await receivers(hang), await receivers()
    slow_endpoint = await register(orders, slow.url)
    await register(orders, prompt.url, headers=orders.other_merchant)

    # Merchant A's six orders go first: four POSTs hang (A's cap), two wait behind them.
    slow_orders = [(await orders.create_order(mail_parcel(merchant_order_no=f"A-{n}")))["id"] for n in range(6)]
    await eventually(lambda: len(slow.requests) == 4)
    for n in range(5):
        await orders.create_order(mail_parcel(merchant_order_no=f"B-{n}"), headers=orders.other_merchant)
    await eventually(lambda: len(prompt.requests) == 5)

    # B's events all arrived while every one of A's POSTs still hung: none had been answered or timed out.
    assert max(r.arrived for r in prompt.requests) < min(r.arrived for r in slow.requests) + TIMEOUT_S
    assert all(r.answered is None for r in slow.requests)
    assert len(slow.requests) == 4  # at most four in flight to one endpoint
    assert all(d["attempts"] == [] for d in await deliveries(orders, slow_endpoint["id"]))

    # The order pipeline moves on meanwhile: consumers record events of A's orders.
    await publish(orders.runtime, events.waybill_issued(slow_orders[0]))

    async def tracked():
        return (await orders.get_order(slow_orders[0]))["tracking_number"] == TRACKING_NUMBER

    await eventually(tracked)
    assert all(r.answered is None for r in slow.requests)
    release.set()
