"""Stalls end to end on the real nats-server: postal's consumer gives up on an order.accepted and the merchant's
order shows it; orders' own consumer gives up on a waybill.issued and records it on the order itself, and once an
operator replays it the order moves on."""

from __future__ import annotations

from shared.contract.events import OrderAccepted, PostalEventDeadLettered, WaybillIssued
from shared.dlq import DeadLetters
from tests.ops.test_dead_letters import dead_letters, failing_orders  # noqa: F401 - fixture
from tests.orders import events
from tests.orders.domain.factories import mail_parcel
from tests.orders.events import TRACKING_NUMBER, publish
from tests.orders.test_consumers import order_when
from tests.postal.conftest import postal_settings, postal_url, start_postal  # noqa: F401 - fixtures
from tests.support import eventually


async def test_postal_parking_an_order_accepted_shows_on_the_order(start_orders, start_postal):
    orders = await start_orders()
    postal = await start_postal(consumer_max_attempts=1)
    consumer = next(c for c in postal.app.state.runtime.consumers if OrderAccepted.event_type() in c.handlers)

    async def unknown_carrier(ctx):
        raise KeyError("NOPE")

    consumer.handlers[OrderAccepted.event_type()] = unknown_carrier

    order_id = (await orders.create_order(mail_parcel()))["id"]
    order = await order_when(orders, order_id, lambda o: o["status_reason"] is not None)
    assert order["status"] == "accepted"
    assert order["status_reason"] == "postal could not act on order.accepted: KeyError; operators were alerted"
    [entry] = [e for e in order["timeline"] if e["type"] == PostalEventDeadLettered.event_type()]
    assert entry["title"] == order["status_reason"]
    [letter] = await dead_letters(orders, service="postal")
    assert letter.subject == OrderAccepted.event_type() and letter.summary()["order_id"] == order_id


async def test_orders_records_its_own_parked_event_and_a_replay_moves_the_order_on(failing_orders):
    orders = failing_orders
    order_id = (await orders.create_order(mail_parcel()))["id"]
    await publish(orders.runtime, events.waybill_issued(order_id))
    order = await order_when(orders, order_id, lambda o: o["status_reason"] is not None)
    assert order["status_reason"] == ("orders could not act on waybill.issued: RuntimeError; "
                                      "operators were alerted")
    assert (order["status"], order["tracking_number"]) == ("accepted", None)

    orders.broken.clear()
    [letter] = await eventually(lambda: dead_letters(orders))
    await DeadLetters(orders.runtime.bus.js).replay(letter.id)
    order = await order_when(orders, order_id, lambda o: o["tracking_number"] == TRACKING_NUMBER)
    assert (order["status"], order["status_reason"]) == ("accepted", None)
    assert [e["type"] for e in order["timeline"]].count(WaybillIssued.event_type()) == 1
