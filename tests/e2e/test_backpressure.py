"""Back-pressure from the exchange with the customs authority, through the real processes: while the authority does
not answer, filed declarations pile up; past customs' bound (2 here) customs stops taking new orders, their events
wait on the orders stream, and intake answers 429 once they pass its own bound (3 events) — instead of taking
orders nobody can clear. When the authority is back its receipts drain the exchange, customs takes the waiting
orders (each once), and intake takes orders again."""

from __future__ import annotations

import asyncio
import time

import pytest
import pytest_asyncio

from shared.stack import Stack
from tests.e2e.conftest import FAST
from tests.e2e.journey import Actors, order
from tests.support import POSTGRES_URL

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

BOUNDED = {
    **FAST,
    "SILKGATE_CUSTOMS_EXCHANGE_BACKLOG_MAX": "2",
    "SILKGATE_CUSTOMS_EXCHANGE_BACKLOG_RESUME": "0.5",
    "SILKGATE_CUSTOMS_EXCHANGE_BACKLOG_POLL_S": "0.1",
    "SILKGATE_ORDERS_MAX_BACKLOG": "3",
    "SILKGATE_ORDERS_BACKLOG_HARD_FACTOR": "1",
    "SILKGATE_ORDERS_BACKLOG_POLL_INTERVAL_S": "0.1",
}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory):
    stack = Stack(tmp_path_factory.mktemp("backpressure"), postgres_url=POSTGRES_URL, extra_env=BOUNDED)
    await stack.start()
    yield stack
    await stack.stop()


async def _declarations_of(actors: Actors, order_id: str) -> list[dict]:
    response = await actors.broker.get("/v1/declarations", params={"order_id": order_id})
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def _wait_filed(actors: Actors, order_id: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = await _declarations_of(actors, order_id)
        if found and found[0]["status"] == "filed":
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{order_id} was not filed: {found}")


async def test_intake_waits_while_the_authority_does_not_answer_and_resumes_when_it_does(actors, stack):
    authority = stack.processes["authority"]
    authority.kill()
    authority.wait(10)
    try:
        filed = []
        for _ in range(3):  # three filed, none answered: 3 > 2, customs pauses its intake of orders
            filed.append((await actors.place(order("express")))["id"])
            await _wait_filed(actors, filed[-1])
        await asyncio.sleep(0.5)  # customs counts every 0.1 s: it has seen the third by now
        waiting, refusal = [], None
        for _ in range(20):  # these wait on the orders stream until intake's bound of 3 events is passed
            body = order("express")
            response = await actors.merchant.post("/v1/orders", json=body,
                                                  headers={"Idempotency-Key": body["merchant_order_no"]})
            if response.status_code == 429:
                refusal = response
                break
            assert response.status_code == 201, response.text
            waiting.append(response.json()["id"])
            await asyncio.sleep(0.3)  # intake's monitor counts every 0.1 s
        assert refusal is not None, "intake never answered 429 while customs was paused"
        problem = refusal.json()
        assert problem["code"] in ("backlog_full", "backlog_share_exceeded") and refusal.headers["retry-after"]
        assert 3 <= len(waiting) <= 5, waiting
        for order_id in waiting:  # customs has not opened them: it is not taking orders
            assert await _declarations_of(actors, order_id) == []
    finally:
        stack.spawn("authority", ["authority"])
        await stack.wait_ready(["authority"])
    # The authority answers: the three are released, customs resumes and takes the waiting orders, once each.
    for order_id in filed + waiting:
        await actors.wait_status(order_id, "released", "handed_off", "in_transit", "delivered", timeout=120)
        assert len(await _declarations_of(actors, order_id)) == 1
    after = await actors.place(order("express"))  # intake takes orders again
    await actors.wait_status(after["id"], "released", "handed_off", "in_transit", "delivered", timeout=60)
