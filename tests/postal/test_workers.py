"""The background workers in a running service, and two replicas sharing one database and one consumer."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from services.postal.models import Receptacle, Waybill
from shared.contract.events import ParcelHandedOff, WaybillIssued
from tests.postal.factories import accepted, released
from tests.postal.support import RecordingCarrier
from tests.support import eventually


async def test_the_ticks_close_aged_bags_and_dispatches_and_hand_them_off(start_postal):
    carrier = RecordingCarrier()
    postal = await start_postal(adapter=carrier, max_receptacle_age_s=1, max_dispatch_age_s=1)
    await postal.publish(accepted("o1"))
    await postal.publish(released("o1"))
    [handed] = await eventually(lambda: postal.emitted(ParcelHandedOff), timeout=20)
    [receptacle] = await postal.receptacles()
    [dispatch] = await postal.dispatches()
    assert (receptacle.close_reason, dispatch.close_reason, dispatch.status) == ("age", "age", "handed_off")
    assert handed.data["receptacle_id"] == receptacle.s9_id
    assert [m["dispatch"]["dispatch_id"] for m in carrier.manifests] == [dispatch.dispatch_identifier]


async def test_two_replicas_share_the_work_without_doubling_any_of_it(start_postal):
    carrier = RecordingCarrier()
    first = await start_postal(adapter=carrier, max_receptacle_items=5)
    second = await start_postal(adapter=carrier, max_receptacle_items=5)
    orders = [f"o{i:02d}" for i in range(40)]
    for index, order_id in enumerate(orders):
        publisher = first if index % 2 else second
        await publisher.publish(accepted(order_id, country="KZ" if index % 3 else "DE"))
        await publisher.publish(released(order_id))
    first.published |= second.published
    await first.until_handled()
    async with first.runtime.db.reader() as session:
        waybills = list((await session.execute(select(Waybill))).scalars())
        receptacles = list((await session.execute(select(Receptacle))).scalars())
    assert sorted(w.order_id for w in waybills) == orders
    assert all(w.status == "in_receptacle" for w in waybills)
    assert len(await first.emitted(WaybillIssued)) == 40
    bagged = Counter(w.receptacle_id for w in waybills)
    assert {r.id: r.item_count for r in receptacles} == dict(bagged)  # every count matches what is in the bag
    assert all(r.item_count <= 5 for r in receptacles)
    open_per_route = Counter(r.destination_office for r in receptacles if r.status == "open")
    assert max(open_per_route.values()) == 1


async def test_a_dispatch_closed_here_wakes_the_idle_handoff_worker(start_postal):
    # Polling every 60 s, the worker would not see the dispatch within the test: the tick's commit wakes it.
    carrier = RecordingCarrier()
    postal = await start_postal(adapter=carrier, max_receptacle_age_s=1, max_dispatch_age_s=1, handoff_poll_s=60.0)
    await postal.publish(accepted("o1"))
    await postal.publish(released("o1"))
    [handed] = await eventually(lambda: postal.emitted(ParcelHandedOff), timeout=10)
    assert handed.data["order_id"] == "o1"
