"""Back-pressure: past `max_backlog` unfinished events downstream, intake answers 429 with Retry-After.

The measure may briefly count an event twice (published, not yet marked sent), so the tests reach the bound with
events that are settled on the stream before they assert.
"""

from __future__ import annotations

from nats.js.api import AckPolicy, ConsumerConfig

from services.orders.backpressure import BacklogMonitor
from shared.contract.subjects import stream_name
from shared.outbox import unsent_count
from tests.orders.domain.factories import mail_parcel
from tests.support import eventually


async def test_intake_pauses_while_downstream_consumers_lag_and_resumes(start_orders):
    orders = await start_orders(max_backlog=2, backlog_retry_after_s=3)
    js = orders.runtime.bus.js
    first = mail_parcel(merchant_order_no="BP-0")
    await orders.create_order(first)
    await orders.create_order(mail_parcel(merchant_order_no="BP-1"))
    await orders.create_order(mail_parcel(merchant_order_no="BP-2"))
    await eventually(lambda: _all_sent(orders))
    # A customs consumer that exists but does not keep up: three events wait for it, over the bound of two.
    await js.add_consumer(stream_name("orders"), config=ConsumerConfig(durable_name="customs",
                                                                       ack_policy=AckPolicy.EXPLICIT))
    counter = iter(range(3, 1000))

    async def refused():
        response = await orders.post_order(mail_parcel(merchant_order_no=f"BP-{next(counter)}"))
        return response if response.status_code == 429 else None

    response = await eventually(refused)
    problem = response.json()
    assert response.headers["Retry-After"] == "3"
    assert problem["code"] == "backlog_full" and problem["backlog"] > problem["max_backlog"] == 2
    batch = await orders.client.post("/v1/orders/batch", json={"orders": [mail_parcel(merchant_order_no="BP-B")]},
                                     headers={**orders.merchant, "Idempotency-Key": "batch"})
    assert batch.status_code == 429
    # A replay of an answered request costs nothing downstream: it still gets its answer.
    replay = await orders.post_order(first)
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    stored = (await orders.counts())["orders"]

    await js.delete_consumer(stream_name("orders"), "customs")  # customs caught up (or went away)

    async def accepted():
        response = await orders.post_order(mail_parcel(merchant_order_no="BP-AFTER"))
        return response.status_code == 201

    await eventually(accepted)
    assert (await orders.counts())["orders"] == stored + 1


async def _all_sent(orders) -> bool:
    return await unsent_count(orders.runtime.db, orders.runtime.tables.outbox) == 0


async def test_unsent_outbox_rows_count_towards_the_backlog(start_orders):
    orders = await start_orders(max_backlog=1, run_workers=False)  # no relay: nothing leaves the outbox
    await orders.create_order(mail_parcel(merchant_order_no="OB-1"))
    await orders.create_order(mail_parcel(merchant_order_no="OB-2"))
    monitor: BacklogMonitor = orders.runtime.extras["backlog"]
    assert await monitor.measure() == 2 and monitor.full
    response = await orders.post_order(mail_parcel(merchant_order_no="OB-3"))
    assert (response.status_code, response.json()["code"]) == (429, "backlog_full")
    assert (await orders.counts())["orders"] == 2


async def test_missing_downstream_consumers_count_as_nothing(orders):
    monitor: BacklogMonitor = orders.runtime.extras["backlog"]
    assert await monitor.measure() == 0 and not monitor.full
