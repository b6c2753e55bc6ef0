"""Consumer batches: one fetch is one transaction whose reads are made ahead and whose waybill inserts and bagging
updates go out together; whatever fails sends the batch through the kit's message-by-message path. The consumers
are driven by hand here, so that a test decides what one batch holds."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from sqlalchemy import func, select

from services.postal import repository
from services.postal.consumers import build_handlers, build_prefetchers
from services.postal.domain import s10
from services.postal.identifiers import sequence_of
from services.postal.models import Receptacle, Waybill
from shared.batch import BatchScope, close_scope, open_scope
from shared.consumer import build_consumers
from shared.contract.events import Event, WaybillIssued, WaybillVoided
from tests.postal.factories import accepted, cancelled, rejected, released
from tests.support import handle_as_one_batch


@pytest.fixture
async def postal(start_postal):
    """No background consumers or workers: the test fetches and hands over each batch."""
    return await start_postal(run_workers=False)


async def handle_one_batch(postal, events: list[Event], *, split: bool = False) -> int:
    """handle_as_logged(), counting the statements."""
    return len(await handle_as_logged(postal, events, split=split))


async def handle_as_logged(postal, events: list[Event], *, split: bool = False) -> list[str]:
    """Publish the events (a fresh envelope each, so one event twice is a redelivery under another id), fetch them
    as one batch of their stream, handle it; returns the SQL statements the batch ran. `split`: whether the batch
    is expected to fail as a whole and be redone message by message."""
    runtime = postal.runtime
    for event_ in events:
        await postal.publish(event_, event_id=uuid.uuid4().hex)
    [source] = {type(event_).SERVICE for event_ in events}  # one batch comes from one stream
    [consumer] = [c for c in build_consumers(service="postal", handlers=build_handlers(runtime.settings),
                                             db=runtime.db, bus=runtime.bus, inbox=runtime.inbox,
                                             outbox=runtime.outbox, settings=runtime.consumer_settings(),
                                             prefetchers=build_prefetchers(runtime.settings))
                  if c.stream == f"SILKGATE_{source.upper()}"]
    statements = await handle_as_one_batch(consumer, len(events), runtime.db.engine)
    assert any(statement.startswith("SAVEPOINT") for statement in statements) == split
    return statements


async def serial(waybill: Waybill) -> int:
    return s10.validate(waybill.tracking_number).serial


async def test_a_batch_of_accepts_issues_every_waybill_in_a_few_statements(postal):
    orders = [f"o{n}" for n in range(8)]
    statements = await handle_one_batch(postal, [accepted(order) for order in orders])
    waybills = [await postal.waybill(order) for order in orders]
    assert [w.status for w in waybills] == ["issued"] * 8
    assert sorted([await serial(w) for w in waybills]) == list(range(1, 9))  # consecutive, none lost
    issued = await postal.emitted(WaybillIssued)
    assert sorted(e.data["order_id"] for e in issued) == orders
    assert {e.data["order_id"]: e.data["tracking_number"] for e in issued} == {
        w.order_id: w.tracking_number for w in waybills}
    # Per batch, not per event: lock, inbox, read-ahead, numbers, the held inserts, the inbox rows, the give-back.
    assert statements <= 10


async def test_an_order_twice_in_one_batch_gets_one_waybill(postal):
    await handle_one_batch(postal, [accepted("twice"), accepted("once"), accepted("twice")])
    issued = await postal.emitted(WaybillIssued)
    assert sorted(e.data["order_id"] for e in issued) == ["once", "twice"]
    assert (await postal.waybill("twice")).tracking_number == next(
        e.data["tracking_number"] for e in issued if e.data["order_id"] == "twice")


async def test_an_accept_redelivered_in_a_later_batch_issues_nothing_more(postal):
    await handle_one_batch(postal, [accepted("o0"), accepted("o1")])
    first = await postal.waybill("o1")
    await handle_one_batch(postal, [accepted("o1"), accepted("o2")])
    assert (await postal.waybill("o1")).tracking_number == first.tracking_number
    assert sorted(e.data["order_id"] for e in await postal.emitted(WaybillIssued)) == ["o0", "o1", "o2"]


async def test_a_cancel_after_the_accept_in_one_batch_voids_the_new_waybill(postal):
    await handle_one_batch(postal, [accepted("gone"), cancelled("gone"), accepted("kept")])
    assert (await postal.waybill("gone")).status == "voided"
    assert (await postal.waybill("kept")).status == "issued"
    [voided] = await postal.emitted(WaybillVoided)
    assert voided.data["order_id"] == "gone"


async def test_a_release_kept_before_its_accept_is_applied_by_the_batch_that_issues(postal):
    await handle_one_batch(postal, [released("early"), released("other")])  # no waybills yet: both kept
    await handle_one_batch(postal, [accepted("early"), accepted("plain")])
    early = await postal.waybill("early")
    assert (early.status, early.declaration_id, early.receptacle_id is not None) == (
        "in_receptacle", "dcl_early", True)
    assert (await postal.waybill("plain")).status == "issued"
    async with postal.runtime.db.reader() as session:
        assert await repository.take_pending(session, "early") == {}


async def test_a_batch_of_releases_bags_each_parcel_once_with_its_release(postal):
    orders = [f"r{n}" for n in range(6)]
    await handle_one_batch(postal, [accepted(order, weight="0.500") for order in orders])
    statements = await handle_one_batch(postal, [released(order, form="CN22") for order in orders]
                                        + [released("r0", form="CN22")])  # r0 again: a redelivery
    [receptacle] = await postal.receptacles()
    assert (receptacle.item_count, receptacle.status) == (6, "open")
    assert receptacle.weight_kg == pytest.approx(3.0)
    for order in orders:
        waybill = await postal.waybill(order)
        assert (waybill.status, waybill.receptacle_id, waybill.declaration_id, waybill.customs_form) == (
            "in_receptacle", receptacle.id, f"dcl_{order}", "CN22")
        assert waybill.released_at is not None
    # The five single releases are one held update; r0's two releases are read live.
    assert statements <= 16


async def test_a_receptacle_closed_mid_batch_sees_the_parcels_bagged_before_it(start_postal):
    postal = await start_postal(run_workers=False, max_receptacle_items=3, max_dispatch_receptacles=1)
    orders = [f"c{n}" for n in range(7)]
    await handle_one_batch(postal, [accepted(order) for order in orders])
    await handle_one_batch(postal, [released(order) for order in orders])
    waybills = [await postal.waybill(order) for order in orders]
    closed = [w for w in waybills if w.dispatch_id is not None]
    assert len(closed) == 6  # two bags of three closed, each into its own dispatch; the seventh parcel waits
    async with postal.runtime.db.reader() as session:
        bags = list((await session.execute(select(Receptacle).where(Receptacle.status == "closed"))).scalars())
    assert sorted(bag.item_count for bag in bags) == [3, 3]
    for dispatch in await postal.dispatches():
        items = dispatch.manifest["items"]  # written from the waybill rows: every bagged parcel, released
        assert len(items) == 3 and dispatch.manifest["receptacles"][0]["item_count"] == 3
        assert {item["customs"]["declaration_id"] for item in items} <= {f"dcl_{order}" for order in orders}
        assert {item["customs"]["form"] for item in items} == {"CN23"}


async def test_a_void_and_a_release_of_one_parcel_in_one_batch(postal):
    await handle_one_batch(postal, [accepted("v1"), accepted("v2")])
    await handle_one_batch(postal, [rejected("v1"), released("v1"), released("v2")])
    assert (await postal.waybill("v1")).status == "voided"
    assert (await postal.waybill("v2")).status == "in_receptacle"
    [receptacle] = await postal.receptacles()
    assert receptacle.item_count == 1


async def test_a_failing_accept_sends_the_batch_message_by_message_and_the_others_are_issued(postal):
    events = [accepted("a1"), accepted("bad", "express", carrier="NOBODY"), accepted("a2")]
    await handle_one_batch(postal, events, split=True)
    assert await postal.waybill("bad") is None
    good = [await postal.waybill(order) for order in ("a1", "a2")]
    assert sorted([await serial(w) for w in good]) == [1, 2]  # the failed batch's numbers were not kept
    assert sorted(e.data["order_id"] for e in await postal.emitted(WaybillIssued)) == ["a1", "a2"]
    async with postal.runtime.db.reader() as session:
        count = (await session.execute(select(func.count()).select_from(Waybill))).scalar_one()
    assert count == 2


async def test_a_failing_release_sends_the_batch_message_by_message(postal, monkeypatch):
    await handle_one_batch(postal, [accepted(order) for order in ("f1", "f2", "f3")])
    real = BatchScope.write_held
    failed = False

    def fail_first(scope, session):
        nonlocal failed
        if not failed and scope._held_statements:  # the bagged parcels' held updates
            failed = True
            raise RuntimeError("the held updates fail")
        real(scope, session)

    monkeypatch.setattr(BatchScope, "write_held", fail_first)
    await handle_one_batch(postal, [released(order) for order in ("f1", "f2", "f3")], split=True)
    assert failed
    [receptacle] = await postal.receptacles()
    assert receptacle.item_count == 3
    assert {(await postal.waybill(order)).status for order in ("f1", "f2", "f3")} == {"in_receptacle"}


async def test_nothing_is_read_ahead_outside_a_batch(postal):
    async with postal.runtime.db.transaction() as session:
        assert repository.issue_state(session, "o1") is None
        assert repository.issued_for_release(session, "o1") is None
        scope = open_scope(session, ["o1", "o2", "o2"])
        await repository.read_ahead_issues(session, scope, ["o1", "o2"])
        assert repository.issue_state(session, "o1") == repository.IssueState(issued=False, kept=False)
        assert repository.issue_state(session, "o1") is None  # taken: a second look reads live
        assert repository.issue_state(session, "o2") is None  # two events in the batch: never read ahead
        await close_scope(session)


async def test_a_batch_of_accepts_for_several_sequences_writes_its_waybills_in_one_insert(postal):
    # Mail and express numbers come from two sequences, taken ahead in name order: no block taken mid-batch splits
    # the held waybill inserts, and the numbers stay consecutive per sequence with nothing lost.
    orders = [f"o{n}" for n in range(6)]
    events = [accepted(order) if n % 2 else accepted(order, channel="express", carrier="SGX")
              for n, order in enumerate(orders)]
    statements = await handle_as_logged(postal, events)
    assert sum(s.startswith("INSERT INTO waybills") for s in statements) == 1
    assert sum(s.startswith("INSERT INTO outbox") for s in statements) == 1
    waybills = [await postal.waybill(order) for order in orders]
    assert [w.status for w in waybills] == ["issued"] * 6
    assert sorted([await serial(w) for w in waybills if w.channel == "mail"]) == [1, 2, 3]
    assert sequence_of(accepted("x").parcel, postal.runtime.settings, today=date.today()) == "s10:CP"
