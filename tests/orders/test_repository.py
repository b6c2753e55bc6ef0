"""Queries of the hot paths on a real database (SQLite, or PostgreSQL with SILKGATE_TEST_POSTGRES_URL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from services.orders import repository
from services.orders.models import Order, OrderEvent
from services.orders.webhooks import repository as webhooks_repository
from services.orders.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from shared.db import utcnow
from tests.orders.domain.factories import mail_parcel


@pytest.fixture
async def orders(start_orders):
    return await start_orders(run_workers=False)


async def _order(orders, number: str = "R-1") -> str:
    return (await orders.create_order(mail_parcel(merchant_order_no=number)))["id"]


def _entry(order_id: str, event_id: str) -> dict:
    now = utcnow()
    return {"order_id": order_id, "event_id": event_id, "event_type": "silkgate.postal.parcel.tracking.v1",
            "title": "In transit", "occurred_at": now, "recorded_at": now, "data": {"status": "in_transit"}}


async def _timeline_ids(orders, order_id: str) -> list[str]:
    async with orders.runtime.db.reader() as session:
        query = select(OrderEvent.event_id).where(OrderEvent.order_id == order_id).order_by(OrderEvent.id)
        return list((await session.scalars(query)).all())


# ── progress ──────────────────────────────────────────────────────────────────


async def test_lock_order_progress_reads_what_events_change(orders):
    order_id = await _order(orders)
    async with orders.runtime.db.transaction() as session:
        progress = await repository.lock_order_progress(session, order_id)
        assert await repository.lock_order_progress(session, "ord_missing") is None
    assert (progress.id, progress.merchant_code, progress.merchant_order_no, progress.status) == \
        (order_id, "M-KASHGAR", "R-1", "accepted")
    assert progress.tracking_number is None and progress.updated_at == progress.status_changed_at


async def test_lock_orders_progress_reads_many_orders_at_once(orders):
    first, second = await _order(orders, "R-1"), await _order(orders, "R-2")
    async with orders.runtime.db.transaction() as session:
        progress = await session.run_sync(repository.lock_orders_progress, [second, first, "ord_missing", first])
        assert await session.run_sync(repository.lock_orders_progress, []) == {}
    assert sorted(progress) == sorted([first, second])
    assert (progress[second].merchant_order_no, progress[second].status) == ("R-2", "accepted")


async def test_update_order_progress_writes_one_order_and_update_orders_progress_many(orders):
    first, second = await _order(orders, "R-1"), await _order(orders, "R-2")
    later = utcnow() + timedelta(minutes=5)
    async with orders.runtime.db.transaction() as session:
        one = await repository.lock_order_progress(session, first)
        one.status, one.tracking_number, one.updated_at = "awaiting_clearance", "CP123456785CN", later
        await repository.update_order_progress(session, one)
    async with orders.runtime.db.transaction() as session:
        progresses = [await repository.lock_order_progress(session, order_id) for order_id in (first, second)]
        for progress in progresses:
            progress.customs_status, progress.customs_ceb_code, progress.status_reason = "released", 800, None
            progress.status, progress.status_changed_at = "released", later
        await session.run_sync(repository.update_orders_progress, progresses)
    async with orders.runtime.db.reader() as session:
        rows = {row.id: row for row in (await session.scalars(select(Order))).all()}
    assert (rows[first].status, rows[first].tracking_number, rows[first].customs_ceb_code) == \
        ("released", "CP123456785CN", 800)
    assert (rows[second].status, rows[second].status_changed_at) == ("released", later)


# ── timeline ──────────────────────────────────────────────────────────────────


async def test_insert_order_event_if_new_adds_an_event_id_once(orders):
    order_id = await _order(orders)
    async with orders.runtime.db.transaction() as session:
        assert await repository.insert_order_event_if_new(session, _entry(order_id, "evt-1")) is True
        assert await repository.insert_order_event_if_new(session, _entry(order_id, "evt-1")) is False
    assert (await _timeline_ids(orders, order_id))[1:] == ["evt-1"]


async def test_insert_order_events_if_new_counts_the_entries_added(orders):
    order_id = await _order(orders)
    async with orders.runtime.db.transaction() as session:
        await repository.insert_order_event_if_new(session, _entry(order_id, "evt-2"))
        entries = [_entry(order_id, event_id) for event_id in ("evt-1", "evt-2", "evt-3")]
        assert await session.run_sync(repository.insert_order_events_if_new, entries) == 2
        assert await session.run_sync(repository.insert_order_events_if_new, []) == 0
    assert (await _timeline_ids(orders, order_id))[1:] == ["evt-2", "evt-1", "evt-3"]


# ── intake ────────────────────────────────────────────────────────────────────


async def _add_endpoint(orders, merchant: str, *, enabled: bool) -> None:
    now = utcnow()
    async with orders.runtime.db.transaction() as session:
        session.add(WebhookEndpoint(
            id=f"we_{merchant}_{enabled}", merchant_code=merchant, url="https://hooks.example/x", description="",
            event_types=["*"], secret="whsec_x", enabled=enabled, disabled_reason=None, disabled_at=None,
            failing_since=None, created_at=now, updated_at=now))


async def test_intake_lookup_reads_taken_numbers_the_stored_response_and_webhooks_at_once(orders):
    await _order(orders, "TAKEN")  # stored under the key "key-TAKEN" (conftest's post_order)
    key_id = await _merchant_key_id(orders)

    async def lookup(merchant: str = "M-KASHGAR", key: str = "other") -> repository.IntakeLookup:
        async with orders.runtime.db.reader() as session:
            return await repository.intake_lookup(session, merchant_code=merchant, numbers=["TAKEN", "FREE", "TAKEN"],
                                                  api_key_id=key_id, key=key)

    found = await lookup()
    assert (found.taken, found.stored, found.has_webhook_endpoints) == ({"TAKEN"}, None, False)
    stored = (await lookup(key="key-TAKEN")).stored
    assert stored.response_status == 201 and '"merchant_order_no":"TAKEN"' in stored.response_body
    assert stored == await _find_key(orders, key_id, "key-TAKEN")
    assert (await lookup(merchant="M-ALMATY")).taken == set()  # numbers are per merchant

    await _add_endpoint(orders, "M-KASHGAR", enabled=False)
    await _add_endpoint(orders, "M-ALMATY", enabled=True)
    assert (await lookup()).has_webhook_endpoints is False
    await _add_endpoint(orders, "M-KASHGAR", enabled=True)
    assert (await lookup()).has_webhook_endpoints is True


async def test_intake_lookup_of_no_numbers(orders):
    async with orders.runtime.db.reader() as session:
        found = await repository.intake_lookup(session, merchant_code="M-KASHGAR", numbers=[], api_key_id="k",
                                               key="k")
    assert (found.taken, found.stored, found.has_webhook_endpoints) == (set(), None, False)


async def _merchant_key_id(orders) -> str:
    table = orders.runtime.tables.api_keys
    async with orders.runtime.db.reader() as session:
        return (await session.execute(select(table.c.id).where(table.c.owner == "M-KASHGAR"))).scalar_one()


async def _find_key(orders, key_id: str, key: str):
    async with orders.runtime.db.reader() as session:
        return await repository.find_idempotency_key(session, api_key_id=key_id, key=key)


# ── stuck orders ──────────────────────────────────────────────────────────────


async def test_claim_stuck_orders_takes_orders_past_their_status_cutoff_once(orders):
    old, new = await _order(orders, "OLD"), await _order(orders, "NEW")
    async with orders.runtime.db.transaction() as session:
        await session.execute(update(Order).where(Order.id == old)
                              .values(status_changed_at=utcnow() - timedelta(hours=2)))
    cutoffs = {"accepted": utcnow() - timedelta(hours=1), "released": utcnow()}
    async with orders.runtime.db.transaction() as session:
        [stuck] = await repository.claim_stuck_orders(session, cutoffs, limit=10)
        assert await repository.claim_stuck_orders(session, cutoffs, limit=10) == []
        assert await repository.claim_stuck_orders(session, {}, limit=10) == []
    assert (stuck.id, stuck.status, stuck.merchant_order_no) == (old, "accepted", "OLD")
    async with orders.runtime.db.reader() as session:
        reported = dict((await session.execute(select(Order.id, Order.stuck_reported_status))).all())
    assert reported == {old: "accepted", new: None}


# ── webhooks ──────────────────────────────────────────────────────────────────


async def test_enabled_endpoints_are_the_subscriptions_of_the_merchants_asked_about(orders):
    await _add_endpoint(orders, "M-KASHGAR", enabled=True)
    await _add_endpoint(orders, "M-KASHGAR", enabled=False)
    await _add_endpoint(orders, "M-ALMATY", enabled=True)
    async with orders.runtime.db.reader() as session:
        rows = await session.run_sync(webhooks_repository.enabled_endpoints, ["M-KASHGAR", "M-KASHGAR"])
        assert await session.run_sync(webhooks_repository.enabled_endpoints, []) == []
    assert [(row.id, row.merchant_code, row.event_types) for row in rows] == [("we_M-KASHGAR_True", "M-KASHGAR", ["*"])]


async def test_insert_events_and_deliveries_on_a_sync_session(orders):
    await _add_endpoint(orders, "M-KASHGAR", enabled=True)
    now = utcnow()
    event = {"id": "evt_1", "merchant_code": "M-KASHGAR", "event_type": "order.accepted", "order_id": "ord_1",
             "payload": "{}", "created_at": now}
    delivery = {"id": "whd_1", "endpoint_id": "we_M-KASHGAR_True", "event_id": "evt_1", "event_type": "order.accepted",
                "order_id": "ord_1", "status": "pending", "attempt_count": 0, "next_attempt_at": now,
                "locked_until": None, "lease_token": None, "queued_at": now, "created_at": now}
    async with orders.runtime.db.transaction() as session:
        await session.run_sync(webhooks_repository.insert_events_and_deliveries, [event], [delivery])
        await session.run_sync(webhooks_repository.insert_events_and_deliveries, [], [])
    async with orders.runtime.db.reader() as session:
        assert (await session.scalars(select(WebhookEvent.id))).all() == ["evt_1"]
        assert (await session.scalars(select(WebhookDelivery.event_id))).all() == ["evt_1"]
