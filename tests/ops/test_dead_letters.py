"""Dead letters for operators, against the real nats-server: a poison message and an event whose handler keeps
failing are parked with their reason and attempts; `silkgate dlq` and the ops API list, show, replay and drop them;
a replay goes through the normal consumer (once handled, a second replay changes nothing); the worker's monitor
counts them and warns when they grow."""

from __future__ import annotations

import asyncio
import json

import pytest
import structlog
from click.testing import CliRunner

from shared.cli import main
from shared.contract.events import WaybillIssued
from shared.contract.subjects import DEAD_LETTER_STREAM, dead_letter_subject
from shared.dlq import DEAD_LETTERS, DeadLetterMonitor, DeadLetters
from shared.metrics import CONSUMER_LAG
from tests.orders import events
from tests.orders.domain.factories import mail_parcel
from tests.orders.events import TRACKING_NUMBER, publish
from tests.support import eventually

FAILURE = "RuntimeError: tracking table locked by a migration"


@pytest.fixture
async def failing_orders(start_orders):
    """Orders whose waybill.issued handler fails while `broken` is set; two tries, then the dead-letter stream."""
    orders = await start_orders(consumer_max_attempts=2, consumer_backoff_s=[0.1], broker_watch_interval_s=3600)
    broken = asyncio.Event()
    broken.set()
    consumer = next(c for c in orders.runtime.consumers if WaybillIssued.event_type() in c.handlers)
    handle = consumer.handlers[WaybillIssued.event_type()]

    async def maybe_failing(ctx):
        if broken.is_set():
            raise RuntimeError("tracking table locked by a migration")
        await handle(ctx)

    consumer.handlers[WaybillIssued.event_type()] = maybe_failing
    orders.broken = broken
    return orders


async def dead_letters(orders, service="orders") -> list:
    return await DeadLetters(orders.runtime.bus.js).list(service=service)


async def cli(nats_url: str, *args: str):
    """`silkgate …` as an operator types it (in a thread: the command runs its own event loop)."""
    result = await asyncio.to_thread(CliRunner().invoke, main, list(args), env={"SILKGATE_NATS_URL": nats_url})
    return result


async def park_poison_and_a_failing_event(orders):
    order_id = (await orders.create_order(mail_parcel()))["id"]
    envelope = await publish(orders.runtime, events.waybill_issued(order_id))
    await orders.runtime.bus.js.publish(WaybillIssued.event_type(), b"{not an envelope",
                                        headers={"Nats-Msg-Id": "poison-1"})
    parked = await eventually(lambda: _when_count(orders, 2), timeout=30)
    by_reason = {("unreadable" in letter.reason): letter for letter in parked}
    return order_id, envelope, by_reason[False], by_reason[True]


async def _when_count(orders, count):
    found = await dead_letters(orders)
    return found if len(found) == count else None


async def test_a_failing_event_and_a_poison_message_are_parked_and_replayed_through_the_cli(failing_orders, nats_url):
    orders = failing_orders
    order_id, envelope, failing, poison = await park_poison_and_a_failing_event(orders)
    assert failing.reason == FAILURE and failing.attempts == 2
    assert failing.summary()["event_id"] == envelope.id and failing.summary()["order_id"] == order_id
    assert poison.reason.startswith("unreadable message") and poison.attempts == 1

    listed = await cli(nats_url, "dlq", "list", "--service", "orders")
    assert listed.exit_code == 0, listed.output
    assert FAILURE in listed.output and order_id in listed.output and "unreadable message" in listed.output
    assert "no dead letters" in (await cli(nats_url, "dlq", "list", "--service", "postal")).output

    shown = await cli(nats_url, "dlq", "show", str(failing.id))
    detail = json.loads(shown.stdout)
    assert (detail["reason"], detail["attempts"], detail["service"]) == (FAILURE, 2, "orders")
    assert detail["event"]["id"] == envelope.id and detail["event"]["data"]["tracking_number"] == TRACKING_NUMBER

    # The cause is fixed; the replay goes through the orders consumer like the original did.
    orders.broken.clear()
    replayed = await cli(nats_url, "dlq", "replay", str(failing.id))
    assert replayed.exit_code == 0 and "1 replayed" in replayed.output, replayed.output
    order = await eventually(lambda: _order_if(orders, order_id, lambda o: o["tracking_number"] == TRACKING_NUMBER))
    assert [e["title"] for e in order["timeline"]].count(f"Tracking number {TRACKING_NUMBER} issued") == 1
    assert [letter.id for letter in await dead_letters(orders)] == [poison.id]

    again = await cli(nats_url, "dlq", "replay", str(failing.id))
    assert again.exit_code == 1 and f"no dead letter {failing.id}" in again.output

    dropped = await cli(nats_url, "dlq", "drop", "--yes", str(poison.id))
    assert dropped.exit_code == 0 and f"dropped {poison.id}" in dropped.output
    assert await dead_letters(orders) == []


async def test_replay_all_of_a_service_is_idempotent(failing_orders, nats_url):
    """Replaying an event the consumer already handled (parked by a race, replayed twice) changes nothing."""
    orders = failing_orders
    order_id, envelope, failing, poison = await park_poison_and_a_failing_event(orders)
    orders.broken.clear()
    # The same event parked a second time (as if two replicas had both given up on it).
    await orders.runtime.bus.js.publish(
        dead_letter_subject("orders", envelope.type), envelope.to_bytes(),
        headers={"Silkgate-Consumer": "orders", "Silkgate-Original-Subject": envelope.type,
                 "Silkgate-Original-Stream": "SILKGATE_POSTAL", "Silkgate-Reason": FAILURE, "Silkgate-Deliveries": "2",
                 "Nats-Msg-Id": "parked-twice"})
    replayed = await cli(nats_url, "dlq", "replay", "--all", "--service", "orders")
    assert replayed.exit_code == 0 and "3 replayed" in replayed.output, replayed.output
    # The poison comes back (unreadable again); the event is handled once, its copy skipped by the inbox.
    parked = await eventually(lambda: _when_count(orders, 1), timeout=30)
    assert parked[0].reason.startswith("unreadable message") and parked[0].id > poison.id
    order = await eventually(lambda: _order_if(orders, order_id, lambda o: o["tracking_number"] == TRACKING_NUMBER))
    await eventually(lambda: _acked(orders.runtime.bus.js, "SILKGATE_POSTAL", "orders"))
    assert [e["title"] for e in order["timeline"]].count(f"Tracking number {TRACKING_NUMBER} issued") == 1
    assert (await cli(nats_url, "dlq", "replay", "--all")).exit_code == 2  # --all needs --service


async def test_a_replay_is_handled_only_by_the_consumer_it_is_for(orders, nats_url):
    """A dead letter of postal's consumer replayed onto the orders stream is acked unseen by the other consumers."""
    order_id = (await orders.create_order(mail_parcel()))["id"]
    envelope = await publish(orders.runtime, events.waybill_issued(order_id))
    await eventually(lambda: _order_if(orders, order_id, lambda o: o["tracking_number"] == TRACKING_NUMBER))
    js = orders.runtime.bus.js
    released = events.released(order_id)
    copy = envelope.wrap(released, subject=order_id, correlation_id=f"corr-{order_id}")
    await js.publish(dead_letter_subject("postal", copy.type), copy.to_bytes(),
                     headers={"Silkgate-Consumer": "postal", "Silkgate-Original-Subject": copy.type,
                              "Silkgate-Original-Stream": "SILKGATE_CUSTOMS", "Silkgate-Reason": "boom",
                              "Silkgate-Deliveries": "5", "Nats-Msg-Id": "postal-parked"})
    (letter,) = await dead_letters(orders, "postal")
    await DeadLetters(js).replay(letter.id)
    # orders consumes declaration.released too, but this replay is postal's: orders acks it and the order stays.
    info = await eventually(lambda: _acked(js, "SILKGATE_CUSTOMS", "orders"))
    assert info.num_ack_pending == 0 and info.num_pending == 0
    assert (await orders.get_order(order_id))["status"] == "accepted"


async def test_the_ops_api_lists_shows_replays_and_drops_this_services_dead_letters(failing_orders):
    orders = failing_orders
    order_id, envelope, failing, poison = await park_poison_and_a_failing_event(orders)
    client, ops = orders.client, orders.ops

    assert (await client.get("/v1/ops/dead-letters", headers=orders.merchant)).status_code == 403
    assert (await client.get("/v1/ops/dead-letters")).status_code == 401
    page = (await client.get("/v1/ops/dead-letters", headers=ops, params={"limit": 1})).json()
    assert page["total"] == 2 and len(page["data"]) == 1 and page["next_after"] == page["data"][0]["id"]
    rest = (await client.get("/v1/ops/dead-letters", headers=ops, params={"after": page["next_after"]})).json()
    assert {row["id"] for row in page["data"] + rest["data"]} == {failing.id, poison.id}
    assert rest["next_after"] is None

    detail = (await client.get(f"/v1/ops/dead-letters/{failing.id}", headers=ops)).json()
    assert (detail["reason"], detail["attempts"], detail["order_id"]) == (FAILURE, 2, order_id)
    assert detail["event"]["id"] == envelope.id

    for absent in (999999, 2**63 - 1):
        missing = await client.get(f"/v1/ops/dead-letters/{absent}", headers=ops)
        assert missing.status_code == 404 and missing.json()["code"] == "dead_letter_not_found"
    assert (await client.get(f"/v1/ops/dead-letters/{2**64}", headers=ops)).status_code == 422
    bad = await client.get("/v1/ops/dead-letters/zero", headers=ops)
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
    neither = await client.post("/v1/ops/dead-letters/replay", headers=ops, json={})
    assert neither.status_code == 422

    orders.broken.clear()
    replayed = await client.post(f"/v1/ops/dead-letters/{failing.id}/replay", headers=ops)
    assert replayed.status_code == 200 and replayed.json()["replayed"][0]["event_id"] == envelope.id
    await eventually(lambda: _order_if(orders, order_id, lambda o: o["tracking_number"] == TRACKING_NUMBER))
    dropped = await client.delete(f"/v1/ops/dead-letters/{poison.id}", headers=ops)
    assert dropped.status_code == 200 and dropped.json()["dropped"]["id"] == poison.id
    assert (await client.get("/v1/ops/dead-letters", headers=ops)).json() == {"data": [], "total": 0,
                                                                                "next_after": None}


async def test_another_services_dead_letter_is_not_found_on_this_service(orders):
    await orders.runtime.bus.wait_ready()  # the streams exist once the bus is ready
    js = orders.runtime.bus.js
    ack = await js.publish(dead_letter_subject("customs", "silkgate.orders.order.accepted.v1"), b"{}",
                           headers={"Silkgate-Consumer": "customs", "Nats-Msg-Id": "customs-parked"})
    for method, path in (("GET", f"/v1/ops/dead-letters/{ack.seq}"), ("POST", f"/v1/ops/dead-letters/{ack.seq}/replay"),
                         ("DELETE", f"/v1/ops/dead-letters/{ack.seq}")):
        response = await orders.client.request(method, path, headers=orders.ops)
        assert response.status_code == 404, (method, path)
    assert (await js.stream_info(DEAD_LETTER_STREAM)).state.messages == 1


async def test_the_monitor_counts_dead_letters_and_warns_when_they_grow(failing_orders):
    orders = failing_orders
    await orders.runtime.bus.wait_ready()
    monitor = DeadLetterMonitor("orders", orders.runtime.bus)
    with structlog.testing.capture_logs() as logs:
        assert await monitor.check() == 0
        await park_poison_and_a_failing_event(orders)
        assert await monitor.check() == 2
    assert DEAD_LETTERS.labels("orders")._value.get() == 2
    grew = [line for line in logs if line["event"] == "dlq.grew"]
    assert len(grew) == 1 and grew[0]["log_level"] == "warning" and grew[0]["added"] == 2


async def _order_if(orders, order_id, predicate):
    order = await orders.get_order(order_id)
    return order if predicate(order) else None


async def _acked(js, stream, consumer):
    info = await js.consumer_info(stream, consumer)
    return info if info.num_ack_pending == 0 and info.num_pending == 0 and info.delivered.stream_seq > 0 else None


async def test_the_workers_broker_watch_keeps_the_gauges_current(start_orders):
    orders = await start_orders(consumer_max_attempts=1, broker_watch_interval_s=0.1)
    await orders.runtime.bus.wait_ready()
    await orders.runtime.bus.js.publish(WaybillIssued.event_type(), b"not json", headers={"Nats-Msg-Id": "poison-w"})
    await eventually(lambda: DEAD_LETTERS.labels("orders")._value.get() == 1, timeout=30)
    streams = {sample.labels["stream"] for metric in CONSUMER_LAG.collect() for sample in metric.samples
               if sample.labels["service"] == "orders"}
    assert streams == {"SILKGATE_CUSTOMS", "SILKGATE_POSTAL"}
