"""Faults with real processes: SIGKILL at random moments, a nats-server restart, services started without NATS.

Afterwards every order reaches its right final state, nothing is duplicated, and the dead-letter stream holds only
the messages meant to fail.
"""

from __future__ import annotations

import asyncio
import os
import random
import uuid

import httpx
import nats
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from shared.bus import server_urls
from shared.contract.subjects import DEAD_LETTER_STREAM
from shared.stack import Stack
from tests.e2e.conftest import FAST
from tests.e2e.journey import order, pay_for
from tests.support import POSTGRES_URL

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ORDERS = int(os.environ.get("SILKGATE_FAULT_ORDERS", "2000"))


async def scalar_rows(url: str, sql: str) -> list:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(text(sql))).all())
    finally:
        await engine.dispose()


async def submit_all(stack: Stack, bodies: list[dict], *, over_s: float) -> None:
    """Send every order in batches spread over `over_s` seconds, so the faults strike while orders flow; a killed
    orders process just means: send the same batch again (idempotent)."""
    pause = over_s / max(1, len(bodies) / 50)
    headers = {"Authorization": f"Bearer {stack.keys['merchant']}"}
    async with httpx.AsyncClient(base_url=stack.url("orders"), headers=headers, timeout=30) as client:
        for start in range(0, len(bodies), 50):
            batch = bodies[start:start + 50]
            key = f"fault-batch-{batch[0]['merchant_order_no']}"
            while True:
                try:
                    response = await client.post("/v1/orders/batch", json={"orders": batch},
                                                 headers={"Idempotency-Key": key})
                except httpx.HTTPError:
                    await asyncio.sleep(0.5)
                    continue
                if response.status_code in (429, 503):
                    await asyncio.sleep(float(response.headers.get("retry-after", "1")))
                    continue
                assert response.status_code == 200, response.text
                statuses = {r["status"] for r in response.json()["results"]}
                assert statuses <= {201, 409}, response.text  # 409: already taken before a kill cut the reply
                break
            await asyncio.sleep(pause)


async def submit_and_pay(stack: Stack, bodies: list[dict]) -> None:
    """The merchant's orders, then the payment provider's payments of the e-commerce ones, while faults strike."""
    await submit_all(stack, bodies, over_s=15)
    await pay_for(stack, bodies)


async def chaos(stack: Stack, rng: random.Random) -> list[str]:
    """Kill a service with SIGKILL at a random moment and restart it, round-robin; restart nats-server once."""
    done: list[str] = []
    victims = ["customs", "postal", "orders", "nats", "postal", "customs", "orders"]
    for victim in victims:
        await asyncio.sleep(rng.uniform(1.0, 3.0))
        if victim == "nats":
            stack.restart_nats()
        else:
            await stack.restart(victim)
        done.append(victim)
    return done


async def publish_poison(stack: Stack) -> int:
    """Two messages no consumer can read: they, and only they, must end in the dead-letter stream."""
    nc = await nats.connect(stack.nats.url)
    try:
        js = nc.jetstream()
        for n in range(2):
            await js.publish("silkgate.orders.order.accepted.v1", b'{"not": "an envelope"}',
                             headers={"Nats-Msg-Id": f"poison-{n}-{uuid.uuid4().hex}"})
    finally:
        await nc.close()
    return 2 * 2  # customs and postal both consume order.accepted


async def test_kills_and_a_nats_restart_lose_nothing_and_duplicate_nothing(tmp_path):
    stack = Stack(tmp_path, postgres_url=POSTGRES_URL, extra_env=FAST)
    await stack.start()
    try:
        bodies = [order(("mail", "express", "ecommerce")[n % 3], buyer=1000 + n) for n in range(ORDERS)]
        expected_dead = await publish_poison(stack)
        victims, _ = await asyncio.gather(chaos(stack, random.Random(20261121)), submit_and_pay(stack, bodies))
        assert "nats" in victims and {"orders", "customs", "postal"} <= set(victims), victims
        await stack.wait_ready()

        orders_db = stack.env["SILKGATE_ORDERS_DATABASE_URL"]
        for _ in range(600):
            rows = await scalar_rows(orders_db, "SELECT status, count(*) FROM orders GROUP BY status")
            if dict(rows).get("delivered") == ORDERS:
                break
            await asyncio.sleep(1)
        assert dict(rows) == {"delivered": ORDERS}

        postal_db = stack.env["SILKGATE_POSTAL_DATABASE_URL"]
        customs_db = stack.env["SILKGATE_CUSTOMS_DATABASE_URL"]
        assert await scalar_rows(postal_db, "SELECT order_id FROM waybills GROUP BY order_id HAVING count(*) > 1") == []
        assert (await scalar_rows(postal_db, "SELECT count(*) FROM waybills"))[0][0] == ORDERS
        assert await scalar_rows(customs_db,
                                 "SELECT order_id FROM declarations GROUP BY order_id HAVING count(*) > 1") == []
        assert (await scalar_rows(customs_db, "SELECT count(*) FROM declarations"))[0][0] == ORDERS
        # No event applied twice: each milestone once on every order's timeline (a re-published event with a new id
        # would show here as a second entry).
        doubled = await scalar_rows(orders_db, """
            SELECT order_id, event_type FROM order_events
            WHERE event_type NOT LIKE '%parcel.tracking%'
            GROUP BY order_id, event_type HAVING count(*) > 1""")
        assert doubled == []
        await assert_stream_counts(stack, ORDERS, expected_dead)
    finally:
        await stack.stop()


async def assert_stream_counts(stack: Stack, orders: int, expected_dead: int) -> None:
    nc = await nats.connect(servers=server_urls(stack.nats.url))  # one server, or a cluster's list
    try:
        js = nc.jetstream()
        for subject in ("silkgate.postal.waybill.issued.v1", "silkgate.customs.declaration.released.v1",
                        "silkgate.postal.parcel.delivered.v1"):
            info = await js.stream_info(f"SILKGATE_{subject.split('.')[1].upper()}", subjects_filter=subject)
            assert (info.state.subjects or {}).get(subject) == orders, subject
        dead = await js.stream_info(DEAD_LETTER_STREAM)
        assert dead.state.messages == expected_dead
    finally:
        await nc.close()


async def test_a_service_started_while_nats_is_down_waits_and_recovers(tmp_path):
    stack = Stack(tmp_path, postgres_url=POSTGRES_URL, extra_env=FAST)
    await stack.start()
    try:
        stack.nats.stop()
        stack.kill("customs")
        stack.start_service("customs")
        async with httpx.AsyncClient(timeout=5) as client:
            for _ in range(100):
                try:
                    if (await client.get(f"{stack.url('customs')}/healthz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
            ready = await client.get(f"{stack.url('customs')}/readyz")
            assert ready.status_code == 503 and ready.json()["checks"]["broker"] == "unavailable"
            # Intake still works while the broker is down: the order waits in the outbox.
            body = order("mail")
            placed = await client.post(f"{stack.url('orders')}/v1/orders", json=body,
                                       headers={"Authorization": f"Bearer {stack.keys['merchant']}",
                                                "Idempotency-Key": body["merchant_order_no"]})
            assert placed.status_code == 201, placed.text
            stack.nats.start()
            await stack.wait_ready()
            for _ in range(300):
                view = (await client.get(f"{stack.url('orders')}/v1/orders/{placed.json()['id']}",
                                         headers={"Authorization": f"Bearer {stack.keys['merchant']}"})).json()
                if view["status"] == "delivered":
                    break
                await asyncio.sleep(0.2)
            assert view["status"] == "delivered"
    finally:
        await stack.stop()
