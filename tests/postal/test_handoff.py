"""Handing dispatches to carriers over HTTP: receipts, retries with backoff, crashes, replicas, late voids."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import update

from services.postal import handoff
from services.postal.adapters import HttpCarrierAdapter
from services.postal.domain import s9
from services.postal.models import Dispatch
from shared.contract.events import ParcelHandedOff, WaybillVoided
from shared.db import Database, utcnow
from tests.postal.receiver import FakeCarrier

READY = {"max_receptacle_items": 1, "max_dispatch_receptacles": 1}  # every release closes a dispatch at once


class Crash(BaseException):
    """Stands for the process dying (not an Exception, so nothing catches it)."""


@pytest.fixture
async def carrier():
    fake = await FakeCarrier().start()
    yield fake
    await fake.stop()


async def hand_off(stage, *, db: Database | None = None) -> int:
    adapter = HttpCarrierAdapter(stage.settings)
    try:
        return await handoff.hand_off_due(db or stage.db, stage.settings, adapter, stage.outbox)
    finally:
        await adapter.aclose()


async def make_due(stage) -> None:
    """Skip the backoff and any lease: every dispatch in handoff is due now."""
    async with stage.db.transaction() as session:
        await session.execute(update(Dispatch).where(Dispatch.status == "handing_off")
                              .values(next_attempt_at=utcnow() - timedelta(seconds=1), claimed_until=None))


async def test_a_closed_dispatch_is_posted_with_its_idempotency_key_and_every_parcel_is_handed_off(staging, carrier):
    stage = staging(default_carrier_url=carrier.url, max_receptacle_items=2, max_dispatch_receptacles=1)
    await stage.ship("o1")
    await stage.ship("o2")
    assert await hand_off(stage) == 1
    [dispatch] = await stage.dispatches()
    [post] = carrier.posts
    assert post["headers"]["idempotency-key"] == dispatch.id
    assert post["headers"]["content-type"] == "application/json"
    assert post["manifest"] == dispatch.manifest
    assert (dispatch.status, dispatch.attempts, dispatch.carrier_receipt) == (
        "handed_off", 1, {"receipt_id": "rcv_1", "dispatch_id": dispatch.dispatch_identifier})
    events = await stage.emitted(ParcelHandedOff)
    assert sorted(e.subject for e in events) == ["o1", "o2"]
    [receptacle] = await stage.receptacles()
    for envelope in events:
        waybill = await stage.waybill(envelope.subject)
        assert waybill.status == "handed_off"
        assert envelope.correlation_id == f"corr-{envelope.subject}"
        assert envelope.data["tracking_number"] == waybill.tracking_number
        assert (envelope.data["carrier"], envelope.data["dispatch_id"]) == ("SGPOST", dispatch.dispatch_identifier)
        assert envelope.data["receptacle_id"] == receptacle.s9_id
        assert s9.parse_receptacle_id(receptacle.s9_id).is_last
    assert await hand_off(stage) == 0  # nothing left to hand off


async def test_each_carrier_gets_its_manifests_at_its_own_endpoint(staging, carrier):
    express = await FakeCarrier().start()
    try:
        stage = staging(default_carrier_url=carrier.url, carrier_endpoints={"SGX": express.url}, **READY)
        await stage.ship("m1")
        await stage.ship("x1", "express")
        assert await hand_off(stage) == 2
    finally:
        await express.stop()
    assert [p["manifest"]["dispatch"]["carrier"] for p in carrier.posts] == ["SGPOST"]
    assert [p["manifest"]["dispatch"]["carrier"] for p in express.posts] == ["SGX"]


async def test_a_failed_handoff_is_recorded_and_retried_with_backoff(staging, carrier):
    stage = staging(default_carrier_url=carrier.url, handoff_backoff_s=[30.0, 120.0], **READY)
    await stage.ship("o1")
    carrier.script = [(503, 0.0), (500, 0.0)]
    before = utcnow()
    assert await hand_off(stage) == 0
    [dispatch] = await stage.dispatches()
    assert (dispatch.status, dispatch.attempts, dispatch.claimed_until) == ("handing_off", 1, None)
    assert "503" in dispatch.last_error
    assert before + timedelta(seconds=30) <= dispatch.next_attempt_at <= utcnow() + timedelta(seconds=30)
    assert await hand_off(stage) == 0 and len(carrier.posts) == 1  # not due yet
    await make_due(stage)
    assert await hand_off(stage) == 0
    [dispatch] = await stage.dispatches()
    assert dispatch.attempts == 2 and dispatch.next_attempt_at >= utcnow() + timedelta(seconds=110)
    await make_due(stage)
    assert await hand_off(stage) == 1
    [dispatch] = await stage.dispatches()
    assert (dispatch.status, dispatch.attempts, dispatch.last_error) == ("handed_off", 3, None)
    assert len(await stage.emitted(ParcelHandedOff)) == 1
    assert carrier.keys() == [dispatch.id] * 3


async def test_a_carrier_that_does_not_answer_in_time_or_at_all_fails_the_attempt(staging, carrier):
    stage = staging(default_carrier_url=carrier.url, handoff_timeout_s=0.2, **READY)
    await stage.ship("slow")
    carrier.script = [(202, 1.0)]
    assert await hand_off(stage) == 0
    [dispatch] = await stage.dispatches()
    assert "Timeout" in dispatch.last_error
    down = staging(default_carrier_url="http://127.0.0.1:9/v1/manifests", **READY)
    await down.ship("nobody-home")
    await make_due(down)
    assert await hand_off(down) == 0
    assert all(d.status == "handing_off" and d.last_error for d in await down.dispatches())


async def test_a_crash_after_the_post_reposts_under_the_same_key_and_hands_off_once(staging, carrier, monkeypatch):
    stage = staging(default_carrier_url=carrier.url, **READY)
    await stage.ship("o1")

    async def die(*_args, **_kwargs):
        raise Crash("killed after the carrier took the manifest")

    monkeypatch.setattr(handoff, "mark_handed_off", die)
    with pytest.raises(Crash):
        await hand_off(stage)
    monkeypatch.undo()
    [dispatch] = await stage.dispatches()
    assert dispatch.status == "handing_off" and dispatch.claimed_until > utcnow()  # leased: no one else posts it
    assert await hand_off(stage) == 0
    await make_due(stage)  # the lease runs out
    assert await hand_off(stage) == 1
    [dispatch] = await stage.dispatches()
    assert carrier.keys() == [dispatch.id, dispatch.id]
    assert len(carrier.receipts) == 1 and dispatch.carrier_receipt == carrier.receipts[dispatch.id]
    assert len(await stage.emitted(ParcelHandedOff)) == 1


async def test_two_replicas_never_post_the_same_dispatch(staging, carrier, postal_url):
    stage = staging(default_carrier_url=carrier.url, **READY)
    for order in range(8):
        await stage.ship(f"o{order}", country=["KZ", "DE", "FR", "GB"][order % 4])
    other = Database(postal_url)
    try:
        handed = await asyncio.gather(hand_off(stage), hand_off(stage, db=other))
    finally:
        await other.dispose()
    dispatches = await stage.dispatches()
    assert sum(handed) == len(dispatches) == 8
    assert sorted(carrier.keys()) == sorted(d.id for d in dispatches)
    assert len(await stage.emitted(ParcelHandedOff)) == 8


async def test_a_void_once_the_carrier_may_hold_the_manifest_is_refused(staging, carrier):
    stage = staging(default_carrier_url=carrier.url, **READY)
    await stage.ship("o1")
    carrier.script = [(503, 0.0)]
    await hand_off(stage)
    await stage.void("o1")  # the first attempt may have reached the carrier
    assert await stage.emitted(WaybillVoided) == []
    assert (await stage.waybill("o1")).status == "in_receptacle"
    await make_due(stage)
    assert await hand_off(stage) == 1
    await stage.void("o1")
    assert await stage.emitted(WaybillVoided) == []
    assert (await stage.waybill("o1")).status == "handed_off"


async def test_a_void_before_the_first_attempt_keeps_the_parcel_out_of_the_manifest(staging, carrier):
    stage = staging(default_carrier_url=carrier.url, max_receptacle_items=2, max_dispatch_receptacles=1)
    await stage.ship("o1")
    await stage.ship("o2")
    await stage.void("o1")
    assert await hand_off(stage) == 1
    voided = (await stage.waybill("o1")).tracking_number
    [post] = carrier.posts
    assert voided not in [item["tracking_number"] for item in post["manifest"]["items"]]
    assert [e.subject for e in await stage.emitted(ParcelHandedOff)] == ["o2"]
