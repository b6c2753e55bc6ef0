"""Dead letters on the ops API when the service connects with its own NATS user (as `silkgate up` and compose run
it): the operator reads and drops them at once; a replay, which would publish another service's event, is refused
at once with the way to do it (the operators' `silkgate dlq replay`), never a 503 after a timeout."""

from __future__ import annotations

import asyncio
import json
import time

import nats
import pytest
from click.testing import CliRunner

from shared.bus import Bus
from shared.cli import main
from shared.contract.subjects import DEAD_LETTER_STREAM, dead_letter_subject
from shared.natsserver import NatsServer

ORIGINAL = "silkgate.postal.waybill.issued.v1"


@pytest.fixture
def secured():
    server = NatsServer(auth=True)
    server.start()

    async def provision() -> None:  # the admin creates every stream before the services start, as `up` does
        bus = Bus(server.url)
        await bus.connect(retry=False)
        await bus.close()

    asyncio.run(provision())
    yield server
    server.cleanup()


async def park(server: NatsServer, *, consumer: str, order_id: str) -> int:
    """A dead letter as the consumer parks it, published with that service's own user."""
    nc = await nats.connect(server.address, user=consumer, password=server.credentials.password(consumer),
                            inbox_prefix=f"_INBOX_{consumer}")
    try:
        envelope = {"specversion": "1.0", "id": f"evt-{order_id}", "type": ORIGINAL, "subject": order_id,
                    "source": "silkgate/postal", "time": "2026-03-01T02:20:41Z", "data": {"order_id": order_id}}
        ack = await nc.jetstream().publish(dead_letter_subject(consumer, ORIGINAL), json.dumps(envelope).encode(),
                                           headers={"Silkgate-Reason": "ValueError: test", "Silkgate-Consumer": consumer,
                                                    "Silkgate-Original-Subject": ORIGINAL,
                                                    "Silkgate-Original-Stream": "SILKGATE_POSTAL",
                                                    "Silkgate-Deliveries": "5"})
        assert ack.stream == DEAD_LETTER_STREAM
        return ack.seq
    finally:
        await nc.close()


async def test_the_ops_api_works_with_the_services_own_nats_user(secured, start_orders):
    orders = await start_orders(nats_url=secured.address, nats_user="orders",
                                nats_password=secured.credentials.password("orders"))
    await orders.runtime.bus.wait_ready()
    first = await park(secured, consumer="orders", order_id="ord_a")
    second = await park(secured, consumer="orders", order_id="ord_b")
    foreign = await park(secured, consumer="customs", order_id="ord_c")
    client, ops = orders.client, orders.ops

    started = time.monotonic()
    page = await client.get("/v1/ops/dead-letters", headers=ops)
    assert page.status_code == 200, page.text
    assert [row["id"] for row in page.json()["data"]] == [first, second] and page.json()["total"] == 2
    shown = await client.get(f"/v1/ops/dead-letters/{first}", headers=ops)
    assert shown.status_code == 200 and shown.json()["order_id"] == "ord_a"
    assert (await client.get(f"/v1/ops/dead-letters/{foreign}", headers=ops)).status_code == 404

    for replay in (client.post(f"/v1/ops/dead-letters/{first}/replay", headers=ops),
                   client.post("/v1/ops/dead-letters/replay", headers=ops, json={"all": True})):
        refused = await replay
        assert refused.status_code == 409 and refused.json()["code"] == "replay_needs_operator"
        assert "silkgate dlq replay" in refused.json()["detail"]
    dropped = await client.delete(f"/v1/ops/dead-letters/{second}", headers=ops)
    assert dropped.status_code == 200 and dropped.json()["dropped"]["id"] == second
    assert time.monotonic() - started < 8  # answered, not timed out (a refused NATS request waits its 10 s)
    assert [row["id"] for row in (await client.get("/v1/ops/dead-letters", headers=ops)).json()["data"]] == [first]

    # The operator's tool (the admin user) replays it: published again for orders' consumer, it leaves the stream
    # (this test's made-up event fails again there, and comes back under a new id).
    result = await asyncio.to_thread(CliRunner().invoke, main, ["dlq", "replay", str(first)],
                                     env={"SILKGATE_NATS_URL": secured.url})
    assert result.exit_code == 0, result.output
    assert (await client.get(f"/v1/ops/dead-letters/{first}", headers=ops)).status_code == 404
