"""Recording events batch by batch: one fetch of the consumer is one transaction, its writes go out together before
it commits, and whatever makes that fail sends the batch through the kit's message-by-message path, which writes at
once. The consumers are driven by hand here, so that a test decides what one batch holds."""

from __future__ import annotations

import json
import uuid

import pytest
import structlog
from sqlalchemy import delete, select

from services.orders import recording
from services.orders.consumers import HANDLERS
from services.orders.models import Order
from services.orders.recording import batch_recorder
from services.orders.webhooks.models import WebhookEvent
from shared.consumer import build_consumers
from shared.contract.envelope import Envelope
from tests.orders import events
from tests.orders.domain.factories import mail_parcel
from tests.orders.events import TRACKING_NUMBER, publish
from tests.orders.webhooks.conftest import WEBHOOK_SETTINGS
from tests.orders.webhooks.support import register
from tests.support import handle_as_one_batch


@pytest.fixture
async def orders(start_orders):
    """No background consumers (the test fetches and hands over each batch), no back-pressure polling."""
    return await start_orders(run_workers=False, backlog_poll_interval_s=3600, **WEBHOOK_SETTINGS)


async def handle_one_batch(orders, source: str, envelopes: list[Envelope]) -> int:
    """Put the envelopes on the broker, fetch them as one batch of `source`'s stream, handle it; returns the SQL
    statements the batch took."""
    runtime = orders.runtime
    for envelope in envelopes:
        # A fresh message id: the broker takes an envelope again (the inbox is what dedupes it).
        await publish(runtime, envelope.event(), envelope=envelope, msg_id=uuid.uuid4().hex)
    [consumer] = [c for c in build_consumers(service="orders", handlers=HANDLERS, db=runtime.db, bus=runtime.bus,
                                             inbox=runtime.inbox, outbox=runtime.outbox,
                                             settings=runtime.consumer_settings())
                  if c.stream == f"SILKGATE_{source.upper()}"]
    statements = await handle_as_one_batch(consumer, len(envelopes), runtime.db.engine)
    return len(statements)


def wrap(event_, **fields) -> Envelope:
    return Envelope.wrap(event_, subject=event_.order_id, correlation_id=f"corr-{event_.order_id}", **fields)


async def timeline_types(orders, order_id: str) -> list[str]:
    return [entry["type"].split(".")[2] for entry in (await orders.get_order(order_id))["timeline"]]


async def test_a_batch_records_each_event_in_turn_in_a_few_statements(orders):
    a = (await orders.create_order(mail_parcel(merchant_order_no="A")))["id"]
    b = (await orders.create_order(mail_parcel(merchant_order_no="B")))["id"]
    batch = [wrap(events.waybill_issued(a)), wrap(events.handed_off(a)), wrap(events.tracking(a)),
             wrap(events.delivered(a)), wrap(events.waybill_issued(b, tracking_number="CP000000001CN")),
             wrap(events.handed_off(b, tracking_number="CP000000001CN"))]

    statements = await handle_one_batch(orders, "postal", batch)

    order_a, order_b = await orders.get_order(a), await orders.get_order(b)
    assert (order_a["status"], order_a["tracking_number"]) == ("delivered", TRACKING_NUMBER)
    assert (order_b["status"], order_b["tracking_number"]) == ("handed_off", "CP000000001CN")
    assert await timeline_types(orders, a) == ["order", "waybill", "parcel", "parcel", "parcel"]
    assert len(order_a["timeline"]) == 5 and len(order_b["timeline"]) == 3
    # Whatever the batch holds: the inbox look-up and insert, one locking read of the orders, the merchant's webhook
    # endpoints, the timeline entries, the orders' updates, and SQLite's BEGIN or PostgreSQL's parcel locks.
    assert statements <= 7


async def test_status_changed_at_moves_with_the_status_only(orders):
    order_id = (await orders.create_order(mail_parcel()))["id"]
    accepted = await _row(orders, order_id)
    await handle_one_batch(orders, "postal", [wrap(events.waybill_issued(order_id))])
    issued = await _row(orders, order_id)
    assert issued.status == "accepted" and issued.status_changed_at == accepted.status_changed_at
    assert issued.updated_at > accepted.updated_at
    await handle_one_batch(orders, "customs", [wrap(events.filed(order_id))])
    filed = await _row(orders, order_id)
    assert filed.status == "awaiting_clearance" and filed.status_changed_at == filed.updated_at > issued.updated_at


async def _row(orders, order_id: str) -> Order:
    async with orders.runtime.db.reader() as session:
        return (await session.scalars(select(Order).where(Order.id == order_id))).one()


async def test_an_event_on_the_timeline_the_inbox_has_forgotten_changes_nothing(orders):
    order_id = (await orders.create_order(mail_parcel()))["id"]
    filed = wrap(events.filed(order_id))
    await handle_one_batch(orders, "customs", [filed])
    async with orders.runtime.db.transaction() as session:  # the inbox keeps ids for a while only
        await session.execute(delete(orders.runtime.tables.inbox))

    with structlog.testing.capture_logs() as logs:
        await handle_one_batch(orders, "customs", [filed, wrap(events.held(order_id))])

    # The batch's writes found the entry already there, so the kit redid the batch message by message.
    assert [entry["event"] for entry in logs if entry["event"] in ("consumer.batch_split", "order.event_duplicate")] \
        == ["consumer.batch_split", "order.event_duplicate"]
    assert await timeline_types(orders, order_id) == ["order", "declaration", "declaration"]
    assert (await orders.get_order(order_id))["status"] == "on_hold"


async def test_a_message_failing_in_a_batch_leaves_the_others_recorded(orders, monkeypatch):
    good = (await orders.create_order(mail_parcel(merchant_order_no="GOOD")))["id"]
    bad = (await orders.create_order(mail_parcel(merchant_order_no="BAD")))["id"]
    entry = recording.timeline_entry

    def failing_for_bad(order_id, *args, **kwargs):
        if order_id == bad:
            raise RuntimeError("cannot record this one")
        return entry(order_id, *args, **kwargs)

    monkeypatch.setattr(recording, "timeline_entry", failing_for_bad)
    with structlog.testing.capture_logs() as logs:
        await handle_one_batch(orders, "customs", [wrap(events.filed(good)), wrap(events.filed(bad)),
                                                   wrap(events.released(good))])
    assert [entry["event"] for entry in logs if entry["event"].startswith("consumer.")] == \
        ["consumer.batch_split", "consumer.handler_failed"]
    assert (await orders.get_order(good))["status"] == "released"
    assert (await orders.get_order(bad))["status"] == "accepted"  # retried later, like any failing message


async def test_webhooks_of_a_batch_show_the_order_as_each_event_left_it(orders):
    endpoint = await register(orders, "http://127.0.0.1:9/hooks")
    order_id = (await orders.create_order(mail_parcel()))["id"]
    await handle_one_batch(orders, "postal", [wrap(events.waybill_issued(order_id)), wrap(events.handed_off(order_id))])

    async with orders.runtime.db.reader() as session:
        rows = (await session.scalars(select(WebhookEvent).where(WebhookEvent.order_id == order_id))).all()
    payloads = {row.event_type: json.loads(row.payload)["data"] for row in rows}
    assert set(payloads) == {"order.accepted", "waybill.issued", "parcel.handed_off"}
    issued, handed_off = payloads["waybill.issued"], payloads["parcel.handed_off"]
    assert (issued["order"]["status"], issued["order"]["tracking_number"]) == ("accepted", TRACKING_NUMBER)
    assert (handed_off["order"]["status"], handed_off["previous_status"]) == ("handed_off", "accepted")
    response = await orders.client.get(f"/v1/webhook-endpoints/{endpoint['id']}/deliveries", headers=orders.merchant)
    assert len(response.json()["data"]) == 3


async def test_a_batch_is_recorded_at_its_commit_and_in_a_savepoint_at_once(orders):
    async with orders.runtime.db.transaction() as session:
        recorder = batch_recorder(session)
        assert recorder is not None and batch_recorder(session) is recorder  # one per transaction
        async with session.begin_nested():
            assert batch_recorder(session) is None
    async with orders.runtime.db.transaction() as session:
        assert batch_recorder(session) is not recorder  # a new transaction starts empty


async def test_events_of_unknown_orders_are_logged_and_the_rest_of_the_batch_recorded(orders):
    order_id = (await orders.create_order(mail_parcel()))["id"]
    with structlog.testing.capture_logs() as logs:
        await handle_one_batch(orders, "customs", [wrap(events.filed("ord_unknown")), wrap(events.filed(order_id))])
    assert [entry["order_id"] for entry in logs if entry["event"] == "order.event_for_unknown_order"] == \
        ["ord_unknown"]
    assert (await orders.get_order(order_id))["status"] == "awaiting_clearance"
