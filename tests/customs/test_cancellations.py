"""A parcel's order.accepted twice, and its cancellation before, during and after filing, on a real nats-server."""

from __future__ import annotations

from tests.customs.events import (
    accepted,
    cancelled,
    documents_at_least,
    mail,
    new_order_id,
    paid,
    publish_with_documents,
    waybill_for,
)
from tests.support import eventually


async def test_duplicate_order_accepted_never_opens_a_second_declaration(customs):
    order_id = new_order_id()
    order = mail(order_id)
    first = await customs.publish(order, subject=order_id)
    await customs.publish(waybill_for(order), subject=order_id)
    await customs.wait_published(order_id, "declaration.filed")
    await customs.republish(first)  # redelivered past the broker's duplicate window: the inbox drops it
    await customs.publish(order, subject=order_id)  # re-published as a new envelope: the order id dedupes
    await customs.publish(paid(order_id), subject=order_id)  # a sentinel behind them on the same stream
    await eventually(lambda: documents_at_least(customs, order_id, 3))
    assert len(await customs.published(order_id, "declaration.filed")) == 1
    declaration = await customs.declaration(order_id)
    assert declaration.status == "filed" and len(await customs.messages(declaration.id)) == 1


async def test_cancel_before_filing_cancels_and_late_documents_do_not_file(customs):
    order_id = new_order_id()
    order = accepted(order_id)
    await customs.publish(order, subject=order_id)
    await customs.wait_declaration(order_id)
    await customs.publish(cancelled(order_id, "buyer cancelled"), subject=order_id)
    [event] = await customs.wait_published(order_id, "declaration.cancelled")
    assert (event.data["status"], event.data["ceb_code"], event.data["reason"]) == ("cancelled", 899, "buyer cancelled")
    await customs.publish(paid(order_id), subject=order_id)
    await customs.publish(waybill_for(order), subject=order_id)
    await eventually(lambda: documents_at_least(customs, order_id, 3))
    assert (await customs.declaration(order_id)).status == "cancelled"
    assert await customs.published(order_id, "declaration.filed") == []


async def test_cancel_after_filing_asks_the_authority_and_cancels_on_its_approval(customs):
    order_id = new_order_id()
    await publish_with_documents(customs, mail(order_id))
    await customs.wait_published(order_id, "declaration.filed")
    await customs.publish(cancelled(order_id, "buyer cancelled"), subject=order_id)
    declaration = await customs.wait_declaration(order_id, "cancel_requested")
    cancel = (await customs.messages(declaration.id))[-1]
    assert (cancel.message_type, cancel.purpose, cancel.app_type) == ("CUSITM", "cancel", 3)  # mail: a delete
    declaration = await customs.answer(declaration, 899, purpose="cancel")
    assert declaration.status == "cancelled"
    [event] = await customs.wait_published(order_id, "declaration.cancelled")
    assert event.data["status"] == "cancelled"


async def test_cancel_after_release_is_refused_with_a_reason_the_merchant_can_read(customs):
    order_id = new_order_id()
    await publish_with_documents(customs, mail(order_id))
    await customs.wait_published(order_id, "declaration.filed")
    await customs.answer(await customs.declaration(order_id), 120, 800)
    await customs.publish(cancelled(order_id), subject=order_id)
    [refused] = await customs.wait_published(order_id, "declaration.cancellation_refused")
    assert refused.data["status"] == "released" and refused.data["ceb_code"] == 800
    assert refused.data["reason"].startswith("declaration already released on ")
    assert "request a return (CEB 625) instead" in refused.data["reason"]
    assert (await customs.declaration(order_id)).status == "released"


async def test_cancel_that_overtakes_its_order_opens_the_declaration_cancelled(customs):
    order_id = new_order_id()
    await customs.publish(cancelled(order_id, "too slow"), subject=order_id)
    await customs.publish(paid(order_id), subject=order_id)  # same stream, behind the cancellation
    await eventually(lambda: documents_at_least(customs, order_id, 1))
    order = accepted(order_id)
    await customs.publish(order, subject=order_id)
    await customs.publish(waybill_for(order), subject=order_id)
    [event] = await customs.wait_published(order_id, "declaration.cancelled")
    assert event.data["reason"] == "too slow"
    await eventually(lambda: documents_at_least(customs, order_id, 3))
    assert (await customs.declaration(order_id)).status == "cancelled"
    assert await customs.published(order_id, "declaration.filed") == []
    assert await customs.published(order_id, "declaration.released") == []
