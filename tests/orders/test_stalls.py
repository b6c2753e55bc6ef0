"""A stall announced by customs or postal (shared.stall) shows on the order, against the real nats-server: the
status stays, `status_reason` and the timeline say what is stuck, and the service's next event clears it."""

from __future__ import annotations

from datetime import UTC, datetime

from services.orders.domain.progress import reason_after_stall, stall_reason
from services.orders.webhooks.rules import STALLED, webhook_event_type
from shared.contract.events import CustomsEventDeadLettered, OrderAccepted, PostalEventDeadLettered
from tests.orders import events
from tests.orders.domain.factories import mail_parcel
from tests.orders.events import TRACKING_NUMBER, publish
from tests.orders.test_consumers import order_when

STALL = "postal could not act on order.accepted: KeyError; operators were alerted"


def postal_stall(order_id: str) -> PostalEventDeadLettered:
    return PostalEventDeadLettered(order_id=order_id, original_type=OrderAccepted.event_type(), original_id="evt-1",
                                   consumer="postal", reason="KeyError", dead_letter_id=9,
                                   dead_lettered_at=datetime.now(UTC))


def test_a_stall_is_cleared_by_the_stalled_services_next_event_only():
    assert stall_reason(service="postal", original_type=OrderAccepted.event_type(), reason="KeyError") == STALL
    customs = "silkgate.customs.declaration.released.v1"
    assert reason_after_stall(STALL, service="customs", event_type=customs) == STALL
    assert reason_after_stall(STALL, service="postal", event_type="silkgate.postal.waybill.issued.v1") is None
    assert reason_after_stall("manual review", service="postal", event_type=customs) == "manual review"
    own = "orders could not act on waybill.issued: RuntimeError; operators were alerted"
    assert reason_after_stall(own, service="customs", event_type=customs) == own
    assert reason_after_stall(own, service="postal", event_type="silkgate.postal.waybill.issued.v1") is None


def test_a_stall_raises_the_order_stalled_webhook():
    for event in (PostalEventDeadLettered, CustomsEventDeadLettered):
        assert webhook_event_type(event_type=event.event_type(), old_status="released",
                                  new_status="released") == STALLED


async def test_a_postal_stall_shows_on_the_released_order_and_the_next_events_move_it_on(orders):
    order_id = (await orders.create_order(mail_parcel()))["id"]
    runtime = orders.runtime
    await publish(runtime, events.filed(order_id))
    await publish(runtime, events.released(order_id))
    await order_when(orders, order_id, lambda o: o["status"] == "released")

    await publish(runtime, postal_stall(order_id))
    order = await order_when(orders, order_id, lambda o: o["status_reason"] is not None)
    assert (order["status"], order["status_reason"]) == ("released", STALL)
    [entry] = [e for e in order["timeline"] if e["type"] == PostalEventDeadLettered.event_type()]
    assert entry["title"] == STALL

    await publish(runtime, events.held(order_id, 5))  # customs moving does not hide postal's stall
    await publish(runtime, events.waybill_issued(order_id))  # replayed and handled: postal moved on
    order = await order_when(orders, order_id, lambda o: o["tracking_number"] == TRACKING_NUMBER)
    assert (order["status"], order["status_reason"]) == ("released", None)
    await publish(runtime, events.handed_off(order_id))
    order = await order_when(orders, order_id, lambda o: o["status"] == "handed_off")
    assert order["status_reason"] is None
