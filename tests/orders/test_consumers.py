"""Consumers against the real nats-server: downstream events keep each order's status and timeline, whatever their
order of arrival, and however often they arrive."""

from __future__ import annotations

import structlog
from sqlalchemy import func, select

from shared.contract.events import DeclarationFiled, DeclarationReleased, OrderCancelled, WaybillIssued
from shared.contract.subjects import DEAD_LETTER_STREAM
from tests.orders import events
from tests.orders.domain.factories import mail_parcel
from tests.orders.events import TRACKING_NUMBER, publish
from tests.support import eventually


async def order_when(orders, order_id, predicate, headers=None):
    """The order once `predicate(order)` holds (consumers work in the background)."""

    async def check():
        order = await orders.get_order(order_id, headers)
        return order if predicate(order) else None

    return await eventually(check)


def has_timeline(count):
    return lambda order: len(order["timeline"]) == count


async def test_a_parcel_journey_keeps_status_customs_status_tracking_and_timeline(orders):
    order_id = (await orders.create_order(mail_parcel()))["id"]
    runtime = orders.runtime

    await publish(runtime, events.waybill_issued(order_id))
    order = await order_when(orders, order_id, lambda o: o["tracking_number"] == TRACKING_NUMBER)
    assert order["status"] == "accepted"

    await publish(runtime, events.filed(order_id))
    order = await order_when(orders, order_id, lambda o: o["status"] == "awaiting_clearance")
    assert (order["customs_status"], order["customs_ceb_code"]) == ("accepted", 120)

    await publish(runtime, events.held(order_id, reason="manual review: vague description"))
    order = await order_when(orders, order_id, lambda o: o["status"] == "on_hold")
    assert (order["customs_status"], order["customs_ceb_code"]) == ("manual_review", 300)
    assert order["status_reason"] == "manual review: vague description"

    await publish(runtime, events.held(order_id, 3.5, reason="inspection ordered", status="inspection", ceb_code=500))
    order = await order_when(orders, order_id, lambda o: o["customs_status"] == "inspection")
    assert (order["status"], order["status_reason"]) == ("on_hold", "inspection ordered")

    await publish(runtime, events.released(order_id))
    order = await order_when(orders, order_id, lambda o: o["status"] == "released")
    assert (order["customs_status"], order["customs_ceb_code"], order["status_reason"]) == ("released", 800, None)

    for event in (events.handed_off(order_id), events.tracking(order_id), events.delivered(order_id)):
        await publish(runtime, event)
    order = await order_when(orders, order_id, lambda o: o["status"] == "delivered")
    order = await order_when(orders, order_id, has_timeline(9))
    titles = [entry["title"] for entry in order["timeline"]]
    assert titles[1:] == [
        f"Tracking number {TRACKING_NUMBER} issued",
        "Customs declaration filed (CN23)",
        "Held by customs: manual review: vague description",
        "Held by customs: inspection ordered",
        "Released by customs",
        "Handed off to the carrier KZPOST",
        "In transit: left outward office (Kashgar)",
        "Delivered at Almaty",
    ]
    times = [entry["occurred_at"] for entry in order["timeline"][1:]]
    assert times == sorted(times)


async def test_release_before_filing_leaves_the_order_released(orders):
    order_id = (await orders.create_order(mail_parcel()))["id"]
    await publish(orders.runtime, events.released(order_id, 4))
    await order_when(orders, order_id, lambda o: o["status"] == "released")
    await publish(orders.runtime, events.filed(order_id, 2))

    order = await order_when(orders, order_id, has_timeline(3))
    assert (order["status"], order["customs_status"], order["customs_ceb_code"]) == ("released", "released", 800)
    # The timeline is in the order things happened, not the order they arrived in.
    assert [e["type"] for e in order["timeline"][1:]] == [DeclarationFiled.event_type(),
                                                          DeclarationReleased.event_type()]


async def test_a_late_waybill_issued_never_moves_a_delivered_order_back(orders):
    order_id = (await orders.create_order(mail_parcel()))["id"]
    await publish(orders.runtime, events.delivered(order_id))
    await order_when(orders, order_id, lambda o: o["status"] == "delivered")
    for event in (events.waybill_issued(order_id), events.handed_off(order_id), events.held(order_id)):
        await publish(orders.runtime, event)

    order = await order_when(orders, order_id, has_timeline(5))
    assert order["status"] == "delivered"
    assert order["tracking_number"] == TRACKING_NUMBER
    # A hold that arrives after delivery is history: it neither holds the order nor gives it a reason.
    assert order["status_reason"] is None and order["customs_status"] == "manual_review"
    assert order["timeline"][-1]["type"] == "silkgate.postal.parcel.delivered.v1"


async def test_a_duplicate_envelope_makes_one_timeline_entry(orders):
    order_id = (await orders.create_order(mail_parcel()))["id"]
    envelope = await publish(orders.runtime, events.waybill_issued(order_id))
    # The same envelope again, past the broker's duplicate window (another Nats-Msg-Id), twice.
    await publish(orders.runtime, events.waybill_issued(order_id), envelope=envelope, msg_id="copy-1")
    await publish(orders.runtime, events.waybill_issued(order_id), envelope=envelope, msg_id="copy-2")
    # A later event proves the copies were handled (one consumer, in stream order).
    await publish(orders.runtime, events.filed(order_id))
    await order_when(orders, order_id, lambda o: o["status"] == "awaiting_clearance")

    order = await orders.get_order(order_id)
    assert [e["type"] for e in order["timeline"]].count(WaybillIssued.event_type()) == 1
    assert len(order["timeline"]) == 3


async def test_a_rejection_is_final_and_shows_its_reason(orders):
    order_id = (await orders.create_order(mail_parcel()))["id"]
    await publish(orders.runtime, events.filed(order_id))
    await publish(orders.runtime, events.rejected(order_id, reason="prohibited goods: HS chapter 93"))
    order = await order_when(orders, order_id, lambda o: o["status"] == "rejected")
    assert (order["customs_status"], order["customs_ceb_code"]) == ("rejected", 100)
    assert order["status_reason"] == "prohibited goods: HS chapter 93"
    # Postal's compensation, and a stray release, change nothing.
    await publish(orders.runtime, events.waybill_voided(order_id))
    await publish(orders.runtime, events.released(order_id, 8))
    order = await order_when(orders, order_id, has_timeline(5))
    assert (order["status"], order["customs_status"]) == ("rejected", "rejected")
    assert order["status_reason"] == "prohibited goods: HS chapter 93"


async def test_cancel_then_customs_and_postal_undo(orders):
    order_id = (await orders.create_order(mail_parcel()))["id"]
    await publish(orders.runtime, events.waybill_issued(order_id, 0))
    await publish(orders.runtime, events.filed(order_id, 0))
    await order_when(orders, order_id, lambda o: o["status"] == "awaiting_clearance")

    response = await orders.client.post(f"/v1/orders/{order_id}/cancel", json={"reason": "buyer changed mind"},
                                        headers=orders.merchant)
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    [cancelled] = await orders.outbox_envelopes(OrderCancelled.event_type())
    assert cancelled.event().reason == "buyer changed mind"

    await publish(orders.runtime, events.declaration_cancelled(order_id, 1))
    await publish(orders.runtime, events.waybill_voided(order_id, 2))
    order = await order_when(orders, order_id, has_timeline(6))
    assert (order["status"], order["customs_status"]) == ("cancelled", "cancelled")
    assert order["status_reason"] == "buyer changed mind"
    assert [e["title"] for e in order["timeline"][-3:]] == [
        "Cancellation requested: buyer changed mind",
        "Customs declaration cancelled: cancelled by the merchant",
        f"Tracking number {TRACKING_NUMBER} voided: order cancelled",
    ]


async def test_cancel_after_release_stays_cancelled_with_customs_refusal_as_reason(orders):
    order_id = (await orders.create_order(mail_parcel()))["id"]
    await publish(orders.runtime, events.released(order_id, 0))
    await order_when(orders, order_id, lambda o: o["status"] == "released")
    response = await orders.client.post(f"/v1/orders/{order_id}/cancel", headers=orders.merchant)
    assert response.status_code == 200 and response.json()["status"] == "cancelled"

    await publish(orders.runtime, events.cancellation_refused(order_id, reason="released already"))
    order = await order_when(orders, order_id, has_timeline(4))
    assert order["status"] == "cancelled"
    assert (order["customs_status"], order["customs_ceb_code"]) == ("released", 800)
    assert order["status_reason"] == "released already"
    assert order["timeline"][-1]["title"] == (
        "Customs kept the release and refused to cancel the declaration: released already")


async def test_cancel_is_refused_after_handoff(orders):
    order_id = (await orders.create_order(mail_parcel()))["id"]
    await publish(orders.runtime, events.released(order_id))
    await publish(orders.runtime, events.handed_off(order_id))
    await order_when(orders, order_id, lambda o: o["status"] == "handed_off")

    response = await orders.client.post(f"/v1/orders/{order_id}/cancel", json={"reason": "too late"},
                                        headers=orders.merchant)
    assert response.status_code == 409
    assert (response.json()["code"], response.json()["order_status"]) == ("cancel_not_allowed", "handed_off")
    assert await orders.outbox_envelopes(OrderCancelled.event_type()) == []
    assert (await orders.get_order(order_id))["status"] == "handed_off"


async def test_a_return_after_delivery_is_shown(orders):
    order_id = (await orders.create_order(mail_parcel()))["id"]
    await publish(orders.runtime, events.delivered(order_id))
    await publish(orders.runtime, events.tracking(order_id, 12, status="returned", code="EMI"))
    order = await order_when(orders, order_id, lambda o: o["status"] == "returned")
    assert order["timeline"][-1]["title"].startswith("Returned to sender")


async def test_an_event_for_an_unknown_order_is_logged_and_skipped(orders):
    order_id = (await orders.create_order(mail_parcel()))["id"]
    with structlog.testing.capture_logs() as logs:
        await publish(orders.runtime, events.filed("ord_unknown"))
        await publish(orders.runtime, events.filed(order_id))
        await order_when(orders, order_id, lambda o: o["status"] == "awaiting_clearance")
    warnings = [entry for entry in logs if entry["event"] == "order.event_for_unknown_order"]
    assert [w["order_id"] for w in warnings] == ["ord_unknown"]
    # Handled (recorded in the inbox), not retried and not dead-lettered.
    inbox = orders.runtime.tables.inbox
    async with orders.runtime.db.reader() as session:
        assert (await session.execute(select(func.count()).select_from(inbox))).scalar_one() == 2
    info = await orders.runtime.bus.js.stream_info(DEAD_LETTER_STREAM)
    assert info.state.messages == 0
