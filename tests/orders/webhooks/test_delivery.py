"""Deliveries to a real local HTTP receiver: signed bodies for each status change, retries on a schedule, giving
up, disabling a failing endpoint, replay, and concurrent senders that never send a delivery twice."""

from __future__ import annotations

import asyncio
import itertools
from datetime import datetime, timedelta

from sqlalchemy import select

from services.orders.webhooks import repository, signing
from services.orders.webhooks.delivery import USER_AGENT, WebhookSender
from services.orders.webhooks.models import WebhookDelivery
from shared.db import utcnow
from tests.orders import events
from tests.orders.domain.factories import mail_parcel
from tests.orders.events import TRACKING_NUMBER, publish
from tests.orders.webhooks.receiver import Switch, failing_first
from tests.orders.webhooks.support import (
    all_succeeded,
    deliveries,
    deliveries_when,
    endpoint,
    register,
)
from tests.support import eventually


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def received(receiver, count: int) -> list:
    await eventually(lambda: len(receiver.requests) >= count)
    return receiver.requests


async def test_each_status_change_is_posted_signed_with_the_order(orders, receivers):
    receiver = await receivers()
    created = await register(orders, receiver.url)
    order = await orders.create_order(mail_parcel())
    order_id = order["id"]
    await received(receiver, 1)
    # One change at a time: deliveries due together go out concurrently, in no promised order.
    for count, event in enumerate((events.waybill_issued(order_id), events.filed(order_id),
                                   events.held(order_id, reason="manual review: vague description")), start=2):
        await publish(orders.runtime, event)
        await received(receiver, count)
    cancelled = await orders.client.post(f"/v1/orders/{order_id}/cancel", json={"reason": "buyer changed mind"},
                                         headers=orders.merchant)
    assert cancelled.status_code == 200
    requests = await received(receiver, 5)

    assert receiver.types() == ["order.accepted", "waybill.issued", "declaration.filed", "declaration.held",
                                "order.cancelled"]
    for request in requests:
        assert request.method == "POST" and request.path == "/hooks"
        assert request.headers["content-type"] == "application/json"
        assert request.headers["user-agent"] == USER_AGENT
        assert signing.verify(created["secret"], request.headers["silkgate-signature"], request.body)
        assert not signing.verify("whsec_wrong", request.headers["silkgate-signature"], request.body)
        body = request.json()
        assert request.headers["silkgate-event-id"] == body["id"] and body["id"].startswith("evt_")
        assert request.headers["silkgate-event-type"] == body["type"]
        assert parse_time(body["created"]).tzinfo is not None
    accepted, issued, filed, held, cancel = (r.json()["data"] for r in requests)
    assert accepted["order"] == {
        "id": order_id, "merchant_order_no": order["merchant_order_no"], "status": "accepted", "channel": "mail",
        "tracking_number": None, "customs_status": None, "status_reason": None, "updated_at": order["updated_at"]}
    assert accepted["previous_status"] is None
    assert (issued["order"]["status"], issued["order"]["tracking_number"]) == ("accepted", TRACKING_NUMBER)
    assert (filed["order"]["status"], filed["previous_status"]) == ("awaiting_clearance", "accepted")
    assert (held["order"]["status"], held["order"]["customs_status"]) == ("on_hold", "manual_review")
    assert held["order"]["status_reason"] == "manual review: vague description"
    assert (cancel["order"]["status"], cancel["order"]["status_reason"]) == ("cancelled", "buyer changed mind")

    log = await deliveries_when(orders, created["id"], all_succeeded(5))
    assert [d["event_type"] for d in log] == receiver.types()
    assert all(len(d["attempts"]) == 1 and d["attempts"][0]["status_code"] == 200 for d in log)
    assert log[0]["attempts"][0]["response_body"] == '{"ok": true}'


async def test_only_subscribed_types_reach_an_endpoint_and_only_the_merchants_own(orders, receivers):
    mine, theirs = await receivers(), await receivers()
    held_only = await register(orders, mine.url, event_types=["declaration.held"])
    await register(orders, theirs.url, headers=orders.other_merchant)
    order_id = (await orders.create_order(mail_parcel()))["id"]
    await publish(orders.runtime, events.filed(order_id))
    await publish(orders.runtime, events.held(order_id))
    await received(mine, 1)
    # A later event of the other merchant proves the sender has gone past everything before it.
    await orders.create_order(mail_parcel(merchant_order_no="ALMATY-1"), headers=orders.other_merchant)
    await received(theirs, 1)
    assert mine.types() == ["declaration.held"]
    assert [r.json()["data"]["order"]["merchant_order_no"] for r in theirs.requests] == ["ALMATY-1"]
    assert len(await deliveries(orders, held_only["id"])) == 1


async def test_failures_are_retried_with_growing_delays_and_every_attempt_is_logged(start_webhook_orders, receivers):
    orders = await start_webhook_orders(webhook_retry_base_s=0.2, webhook_retry_jitter=0.25)
    receiver = await receivers(failing_first(3, status=503))
    created = await register(orders, receiver.url)
    await orders.create_order(mail_parcel())

    async def pending_retry():
        [delivery] = await deliveries(orders, created["id"])
        return delivery if delivery["status"] == "pending" and delivery["attempt_count"] == 1 else None

    waiting = await eventually(pending_retry)
    assert waiting["last_status_code"] == 503 and waiting["next_attempt_at"] is not None
    first_try = parse_time(waiting["attempts"][0]["attempted_at"])
    # Scheduled 0.15–0.2 s after the attempt started (plus the attempt's own duration on a loaded machine).
    assert timedelta(seconds=0.15) <= parse_time(waiting["next_attempt_at"]) - first_try <= timedelta(seconds=1.0)

    [delivery] = await deliveries_when(orders, created["id"], all_succeeded(1))
    assert [a["status_code"] for a in delivery["attempts"]] == [503, 503, 503, 200]
    assert [a["attempt"] for a in delivery["attempts"]] == [1, 2, 3, 4]
    times = [parse_time(a["attempted_at"]) for a in delivery["attempts"]]
    gaps = [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(times)]
    # base 0.2 s doubling, shortened by at most a quarter: ≥ 0.15, 0.3, 0.6 s; each longer than the one before.
    # (Actual gaps also carry the sender's polling latency, so only the scheduled minimums are asserted.)
    assert [round(g, 2) >= minimum for g, minimum in zip(gaps, (0.15, 0.3, 0.6), strict=True)] == [True] * 3
    assert delivery["attempt_count"] == 4 and delivery["next_attempt_at"] is None and delivery["succeeded_at"]
    assert len(receiver.requests) == 4 and len(set(receiver.event_ids())) == 1  # same event id each time
    assert (await endpoint(orders, created["id"]))["failing_since"] is None


async def test_timeouts_and_connection_errors_are_failures_too(start_webhook_orders, receivers):
    orders = await start_webhook_orders(webhook_timeout_s=0.3, webhook_retry_base_s=60)

    async def slow(_):
        await asyncio.sleep(5)
        return 200

    slow_receiver = await receivers(slow)
    closed = await receivers()
    closed_url = closed.url
    await closed.stop()
    slow_endpoint = await register(orders, slow_receiver.url)
    closed_endpoint = await register(orders, closed_url)
    await orders.create_order(mail_parcel())

    [timed_out] = await deliveries_when(orders, slow_endpoint["id"], lambda log: log and log[0]["attempts"])
    [refused] = await deliveries_when(orders, closed_endpoint["id"], lambda log: log and log[0]["attempts"])
    assert timed_out["status"] == "pending" and timed_out["attempts"][0]["status_code"] is None
    assert timed_out["attempts"][0]["error"].startswith("timeout")
    assert 250 <= timed_out["attempts"][0]["duration_ms"] < 2000
    assert refused["attempts"][0]["error"].startswith("connection error")
    assert (await endpoint(orders, closed_endpoint["id"]))["failing_since"] is not None


async def test_a_delivery_is_given_up_after_the_maximum_age_then_replayed(start_webhook_orders, receivers):
    orders = await start_webhook_orders(webhook_retry_base_s=0.05, webhook_max_age_s=0.4)
    switch = Switch(500)
    receiver = await receivers(switch)
    created = await register(orders, receiver.url)
    before = utcnow()
    await orders.create_order(mail_parcel(merchant_order_no="A-1"))
    await orders.create_order(mail_parcel(merchant_order_no="A-2"))

    log = await deliveries_when(orders, created["id"], lambda log: len(log) == 2
                                and all(d["status"] == "failed" for d in log), timeout=20)
    assert all(d["next_attempt_at"] is None and d["attempt_count"] >= 2 for d in log)
    assert all(a["status_code"] == 500 for d in log for a in d["attempts"])
    sent = len(receiver.requests)
    assert sent == sum(d["attempt_count"] for d in log)  # nothing sent that the log does not show

    switch.status = 200
    path = f"/v1/webhook-endpoints/{created['id']}"
    response = await orders.client.post(f"{path}/deliveries/{log[0]['id']}/replay", headers=orders.merchant)
    assert response.status_code == 202 and response.json()["status"] == "pending"
    log = await deliveries_when(orders, created["id"], lambda log: log[0]["status"] == "succeeded")
    assert log[1]["status"] == "failed"
    assert receiver.requests[-1].event_id == log[0]["event_id"]

    response = await orders.client.post(f"{path}/replay", json={"since": before.isoformat(), "status": "failed"},
                                        headers=orders.merchant)
    assert (response.status_code, response.json()) == (202, {"replayed": 1})
    log = await deliveries_when(orders, created["id"], all_succeeded(2))
    assert [r.event_id for r in receiver.requests[sent:]] == [log[0]["event_id"], log[1]["event_id"]]

    # A delivered event can be sent again too, with the same event id (receivers dedupe on it).
    response = await orders.client.post(f"{path}/deliveries/{log[1]['id']}/replay", headers=orders.merchant)
    assert response.status_code == 202
    await received(receiver, sent + 3)
    assert receiver.requests[-1].event_id == log[1]["event_id"]
    # Nothing failed since now: nothing to replay.
    response = await orders.client.post(f"{path}/replay", json={"since": utcnow().isoformat()},
                                        headers=orders.merchant)
    assert response.json() == {"replayed": 0}


async def test_an_endpoint_failing_continuously_is_disabled_and_its_deliveries_wait(start_webhook_orders, receivers):
    orders = await start_webhook_orders(webhook_retry_base_s=0.05, webhook_retry_max_s=0.1,
                                        webhook_disable_after_s=0.5)
    switch = Switch(500)
    receiver = await receivers(switch)
    created = await register(orders, receiver.url)
    await orders.create_order(mail_parcel(merchant_order_no="A-1"))

    async def disabled():
        shown = await endpoint(orders, created["id"])
        return shown if not shown["enabled"] else None

    shown = await eventually(disabled)
    assert "every delivery failed for 0.5 s or more" in shown["disabled_reason"]
    assert "last attempt: HTTP 500" in shown["disabled_reason"]
    assert shown["disabled_at"] and shown["failing_since"]
    [waiting] = await deliveries(orders, created["id"])
    assert (waiting["status"], waiting["next_attempt_at"]) == ("pending", None)  # parked until enabled
    attempts_when_disabled = waiting["attempt_count"]
    assert len(receiver.requests) == attempts_when_disabled
    async with orders.runtime.db.reader() as session:
        due = await repository.due_deliveries(session, now=utcnow() + timedelta(days=1), busy_endpoints=[],
                                              per_endpoint=4, limit=10)
    assert due == []  # its deliveries wait: nothing of a disabled endpoint is due
    # Replays wait for the merchant to enable the endpoint: say so rather than queue silently.
    response = await orders.client.post(f"/v1/webhook-endpoints/{created['id']}/deliveries/{waiting['id']}/replay",
                                        headers=orders.merchant)
    assert (response.status_code, response.json()["code"]) == (409, "webhook_endpoint_disabled")
    # New events are not queued for a disabled endpoint.
    await orders.create_order(mail_parcel(merchant_order_no="A-2"))
    assert len(await deliveries(orders, created["id"])) == 1

    switch.status = 204
    response = await orders.client.patch(f"/v1/webhook-endpoints/{created['id']}", json={"enabled": True},
                                         headers=orders.merchant)
    assert response.status_code == 200 and response.json()["disabled_reason"] is None
    [delivery] = await deliveries_when(orders, created["id"], all_succeeded(1))
    assert delivery["attempts"][-1]["status_code"] == 204
    assert len(receiver.requests) == attempts_when_disabled + 1
    assert (await endpoint(orders, created["id"]))["failing_since"] is None


async def test_the_delivery_log_pages_newest_first(orders, receivers):
    receiver = await receivers()
    created = await register(orders, receiver.url)
    for number in ("P-1", "P-2", "P-3"):
        await orders.create_order(mail_parcel(merchant_order_no=number))
    await deliveries_when(orders, created["id"], all_succeeded(3))
    path = f"/v1/webhook-endpoints/{created['id']}/deliveries"
    first = (await orders.client.get(path, params={"limit": 2}, headers=orders.merchant)).json()
    assert first["has_more"] and len(first["data"]) == 2
    second = (await orders.client.get(path, params={"limit": 2, "starting_after": first["next_cursor"]},
                                      headers=orders.merchant)).json()
    assert (second["has_more"], second["next_cursor"], len(second["data"])) == (False, None, 1)
    numbers = [d["order_id"] for d in first["data"] + second["data"]]
    assert len(set(numbers)) == 3
    failed = (await orders.client.get(path, params={"status": "failed"}, headers=orders.merchant)).json()
    assert failed["data"] == []

    detail = (await orders.client.get(f"{path}/{second['data'][0]['id']}", headers=orders.merchant)).json()
    assert detail["payload"]["data"]["order"]["merchant_order_no"] == "P-1"
    assert detail["payload"]["id"] == detail["event_id"]
    assert (await orders.client.get(f"{path}/whd_nope", headers=orders.merchant)).status_code == 404


async def test_two_senders_on_one_database_send_each_delivery_once(orders, receivers):
    receiver = await receivers()
    created = await register(orders, receiver.url)
    stop = asyncio.Event()
    second_sender = asyncio.create_task(WebhookSender(orders.runtime, orders.runtime.settings).run(stop))
    try:
        for number in range(12):
            await orders.create_order(mail_parcel(merchant_order_no=f"R-{number}"))
        log = await deliveries_when(orders, created["id"], all_succeeded(12))
    finally:
        stop.set()
        await second_sender
    assert sorted(receiver.event_ids()) == sorted(d["event_id"] for d in log)
    assert all(d["attempt_count"] == 1 for d in log)


async def test_a_deleted_endpoint_gets_nothing_more(start_webhook_orders, receivers):
    orders = await start_webhook_orders(webhook_retry_base_s=60)
    receiver = await receivers(Switch(500))
    created = await register(orders, receiver.url)
    await orders.create_order(mail_parcel())
    await received(receiver, 1)
    await eventually(lambda: _has_attempt(orders, created["id"]))
    response = await orders.client.delete(f"/v1/webhook-endpoints/{created['id']}", headers=orders.merchant)
    assert response.status_code == 204
    async with orders.runtime.db.reader() as session:
        assert (await session.scalars(select(WebhookDelivery))).all() == []


async def _has_attempt(orders, endpoint_id) -> bool:
    log = await deliveries(orders, endpoint_id)
    return bool(log and log[0]["attempts"])
