"""Returns over HTTP and from customs: the merchant asks once the parcel is out of its hands, the order shows
return_requested, then returned when customs publishes declaration.returned."""

from __future__ import annotations

from shared.contract.events import OrderReturnRequested
from tests.orders import events
from tests.orders.domain.factories import ecommerce_parcel, mail_parcel
from tests.orders.events import publish
from tests.orders.test_consumers import order_when


async def ask(orders, order_id: str, *, key: dict | None = None, reason: str = "buyer returned it: wrong size"):
    return await orders.client.post(f"/v1/orders/{order_id}/return", json={"reason": reason},
                                    headers=key or orders.merchant)


async def delivered_order(orders, body: dict | None = None) -> dict:
    order_id = (await orders.create_order(body or ecommerce_parcel()))["id"]
    for event in (events.waybill_issued(order_id), events.filed(order_id), events.released(order_id),
                  events.handed_off(order_id), events.delivered(order_id)):
        await publish(orders.runtime, event)
    return await order_when(orders, order_id, lambda o: o["status"] == "delivered")


async def test_a_delivered_order_is_returned_once_and_customs_approval_returns_it(orders):
    order = await delivered_order(orders)
    response = await ask(orders, order["id"])
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["status_reason"]) == ("return_requested",
                                                                             "buyer returned it: wrong size")
    # (the test's delivery scan is dated minutes ahead, so the entry is not necessarily the last one)
    assert "Return requested: buyer returned it: wrong size" in [e["title"] for e in response.json()["timeline"]]
    [envelope] = await orders.outbox_envelopes(OrderReturnRequested.event_type())
    assert (envelope.subject, envelope.correlation_id) == (order["id"], order["correlation_id"])
    assert envelope.event().reason == "buyer returned it: wrong size"

    again = await ask(orders, order["id"])
    assert (again.status_code, again.json()["code"]) == (409, "return_already_requested")

    await publish(orders.runtime, events.returned(order["id"]))
    returned = await order_when(orders, order["id"], lambda o: o["status"] == "returned")
    assert (returned["customs_status"], returned["customs_ceb_code"]) == ("returned", 700)
    assert returned["timeline"][-1]["title"] == "Return approved by customs: return approved"
    assert len(await orders.outbox_envelopes(OrderReturnRequested.event_type())) == 1


async def test_a_return_may_be_asked_for_in_transit(orders):
    order_id = (await orders.create_order(ecommerce_parcel()))["id"]
    for event in (events.filed(order_id), events.released(order_id), events.handed_off(order_id)):
        await publish(orders.runtime, event)
    await order_when(orders, order_id, lambda o: o["status"] == "handed_off")
    assert (await ask(orders, order_id)).status_code == 200
    await publish(orders.runtime, events.delivered(order_id))  # a late delivery scan does not undo the request
    order = await order_when(orders, order_id, lambda o: len(o["timeline"]) == 6)
    assert order["status"] == "return_requested"


async def test_before_the_handoff_a_return_is_refused_and_cancelling_is_the_way(orders):
    order_id = (await orders.create_order(ecommerce_parcel()))["id"]
    response = await ask(orders, order_id)
    assert (response.status_code, response.json()["code"], response.json()["order_status"]) == (
        409, "return_not_allowed", "accepted")
    assert "Cancel it instead" in response.json()["detail"]
    await publish(orders.runtime, events.released(order_id))
    await order_when(orders, order_id, lambda o: o["status"] == "released")
    response = await ask(orders, order_id)
    assert (response.status_code, response.json()["code"]) == (409, "return_not_allowed")
    assert await orders.outbox_envelopes(OrderReturnRequested.event_type()) == []


async def test_only_ecommerce_imports_are_returned_through_customs(orders):
    order = await delivered_order(orders, mail_parcel())
    response = await ask(orders, order["id"])
    assert (response.status_code, response.json()["code"]) == (409, "return_not_allowed")


async def test_another_merchants_order_is_not_found_and_a_reason_is_needed(orders):
    order = await delivered_order(orders)
    response = await ask(orders, order["id"], key=orders.other_merchant)
    assert (response.status_code, response.json()["code"]) == (404, "order_not_found")
    response = await ask(orders, order["id"], key=orders.payment)
    assert response.status_code == 403
    response = await ask(orders, order["id"], reason="")
    assert (response.status_code, response.json()["field"], response.json()["code"]) == (422, "reason", "too_short")
