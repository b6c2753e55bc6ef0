"""The repository's batch-minded queries and the per-transaction number blocks, on a real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from services.postal import repository
from services.postal.identifiers import BLOCK_SIZE, next_number, put_back
from services.postal.models import Sequence
from shared.db import utcnow

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
READY = {"max_receptacle_items": 1, "max_dispatch_receptacles": 1}  # every release closes a dispatch at once


async def _counter(db, name: str) -> int | None:
    async with db.reader() as session:
        return (await session.execute(select(Sequence.next_value).where(Sequence.name == name))).scalar()


# ── number blocks ──────────────────────────────────────────────────────────────


async def test_a_transaction_takes_a_block_and_gives_the_unused_numbers_back_when_it_commits(postal_db):
    async with postal_db.transaction() as session:
        taken = [await next_number(session, "s10:RR") for _ in range(3)]
        assert await _counter(postal_db, "s10:RR") is None  # not committed yet
    assert taken == [1, 2, 3]
    assert await _counter(postal_db, "s10:RR") == 4  # the block's tail went back: no number skipped
    async with postal_db.transaction() as session:
        assert await next_number(session, "s10:RR") == 4


async def test_a_transaction_needing_more_than_a_block_takes_the_next_one(postal_db):
    async with postal_db.transaction() as session:
        taken = [await next_number(session, "carrier:SGX") for _ in range(BLOCK_SIZE + 2)]
    assert taken == list(range(1, BLOCK_SIZE + 3))
    assert await _counter(postal_db, "carrier:SGX") == BLOCK_SIZE + 3


async def test_a_rolled_back_transaction_issues_none_of_its_block(postal_db):
    with pytest.raises(RuntimeError):
        async with postal_db.transaction() as session:
            await next_number(session, "s10:RR")
            raise RuntimeError("the batch failed")
    async with postal_db.transaction() as session:
        assert await next_number(session, "s10:RR") == 1


async def test_in_a_savepoint_numbers_are_allocated_one_at_a_time(postal_db):
    async with postal_db.transaction() as session:
        async with session.begin_nested():
            assert await next_number(session, "s10:RR") == 1
        with pytest.raises(RuntimeError):
            async with session.begin_nested():
                assert await next_number(session, "s10:RR") == 2
                raise RuntimeError("this message failed")
        async with session.begin_nested():
            assert await next_number(session, "s10:RR") == 2  # the failed message's number came back with it
    assert await _counter(postal_db, "s10:RR") == 3


async def test_a_number_put_back_is_the_next_one_issued(postal_db):
    async with postal_db.transaction() as session:
        first = await next_number(session, "s10:RR")
        put_back(session, "s10:RR", first)
        assert await next_number(session, "s10:RR") == first
        second = await next_number(session, "s10:RR")
        put_back(session, "s10:RR", first)  # not the last one taken: ignored
        assert await next_number(session, "s10:RR") == second + 1


async def test_held_in_transaction_lasts_one_transaction_and_is_refused_in_a_savepoint(postal_db):
    async with postal_db.transaction() as session:
        held = repository.held_in_transaction(session, "test")
        held["x"] = 1
        assert repository.held_in_transaction(session, "test") is held
        async with session.begin_nested():
            assert repository.held_in_transaction(session, "test") is None
    async with postal_db.transaction() as session:
        assert repository.held_in_transaction(session, "test") == {}


# ── waybills ──────────────────────────────────────────────────────────────────


def _values(order_id: str, number: str) -> dict:
    return {"tracking_number": number, "order_id": order_id, "merchant_code": "M1", "merchant_order_no": "MO",
            "channel": "mail", "carrier": "SGPOST", "mail_product": "parcel", "status": "issued",
            "tracking_status": "pre_transit", "parcel": {"any": "json"}, "weight_kg": 1, "destination_office": "KZALAA",
            "mail_category": "A", "mail_subclass": "CN", "registered": False, "correlation_id": "c", "issued_at": T0}


async def test_inserting_a_waybill_tells_whether_events_were_kept_and_refuses_a_second_for_the_order(postal_db):
    async with postal_db.transaction() as session:
        await repository.add_pending(session, order_id="o2", kind="release", payload={"x": 1})
        assert await repository.insert_waybill(session, _values("o1", "CP000000014CN")) is False
        assert await repository.insert_waybill(session, _values("o2", "CP000000028CN")) is True
        assert await repository.insert_waybill(session, _values("o1", "CP000000031CN")) is None
        assert await repository.take_pending(session, "o2") == {"release": {"x": 1}}
        assert await repository.take_pending(session, "o2") == {}


async def test_a_release_is_recorded_once_on_an_issued_waybill_and_bagging_moves_it_on(staging):
    stage = staging()
    await stage.ship("o0")
    [receptacle] = await stage.receptacles()
    waybill = await stage.issue("o1", weight="0.750")
    async with stage.db.transaction() as session:
        assert await repository.release_waybill(session, order_id="nobody", declaration_id="d", form="CN23",
                                                released_at=T0) is None
        row = await repository.release_waybill(session, order_id="o1", declaration_id="dcl_1", form="CN23",
                                               released_at=T0)
        assert (row.tracking_number, row.order_id, row.carrier, row.channel, row.destination_office) == (
            waybill.tracking_number, "o1", "SGPOST", "mail", "KZALAA")
        assert (str(row.weight_kg), row.mail_category, row.mail_subclass, row.registered) == ("0.750", "A", "CN", False)
        await repository.bag_waybill(session, waybill.tracking_number, receptacle.id)
        assert await repository.release_waybill(session, order_id="o1", declaration_id="dcl_2", form="CN22",
                                                released_at=T0) is None  # no longer issued
    stored = await stage.waybill("o1")
    assert (stored.status, stored.receptacle_id, stored.declaration_id, stored.customs_form, stored.released_at) == (
        "in_receptacle", receptacle.id, "dcl_1", "CN23", T0)


async def test_parcels_in_receptacles_are_rows_for_the_manifest(staging):
    stage = staging()
    await stage.ship("o2", now=T0)
    await stage.ship("o1", now=T0)
    [receptacle] = await stage.receptacles()
    async with stage.db.reader() as session:
        rows = await repository.parcels_in_receptacles(session, [receptacle.id])
        assert await repository.parcels_in_receptacles(session, []) == []
    numbers = sorted([(await stage.waybill("o1")).tracking_number, (await stage.waybill("o2")).tracking_number])
    assert [row.tracking_number for row in rows] == numbers
    assert {(row.receptacle_id, row.status, row.channel, row.customs_form, row.declaration_id is not None)
            for row in rows} == {(receptacle.id, "in_receptacle", "mail", "CN23", True)}
    assert all(row.parcel["channel"] == "mail" for row in rows)


async def test_a_dispatchs_parcels_are_locked_handed_off_and_labelled_by_receptacle(staging):
    stage = staging(**READY)
    await stage.ship("o1", now=T0)
    [dispatch] = await stage.dispatches()
    [receptacle] = await stage.receptacles()
    async with stage.db.transaction() as session:
        [parcel] = await repository.lock_parcels_of_dispatch(session, dispatch.id)
        assert (parcel.order_id, parcel.correlation_id, parcel.receptacle_id) == ("o1", "corr-o1", receptacle.id)
        assert await repository.receptacle_labels(session, dispatch.id) == {receptacle.id: receptacle.s9_id}
        await repository.hand_off_parcels(session, dispatch.id, now=T0)
        assert await repository.lock_parcels_of_dispatch(session, dispatch.id) == []
    waybill = await stage.waybill("o1")
    assert (waybill.status, waybill.handed_off_at) == ("handed_off", T0)


# ── tracking ───────────────────────────────────────────────────────────────────


def _event(number: str, code: str, status: str, at: datetime, location: str = "") -> dict:
    return {"tracking_number": number, "code": code, "status": status, "known": True, "description": "",
            "location": location, "occurred_at": at, "received_at": T0, "carrier": "SGPOST",
            "dedupe_key": f"{number}|{code}|{at.isoformat()}"}


async def test_tracking_queries_read_and_write_a_batch_at_once(staging):
    stage = staging()
    first, second = (await stage.issue("o1")).tracking_number, (await stage.issue("o2")).tracking_number
    async with stage.db.transaction() as session:
        parcels = await repository.lock_tracked_parcels(session, [second, first, second, "NOPE"])
        assert sorted(parcels) == sorted([first, second])
        assert (parcels[first].order_id, parcels[first].carrier, parcels[first].handed_off_at) == ("o1", "SGPOST", None)
        stored = await repository.add_tracking_events(session, [
            _event(first, "EMD", "in_transit", T0 + timedelta(hours=2)),
            _event(first, "EMC", "in_transit", T0 + timedelta(hours=1), "CNURCA"),
        ])
        assert len(stored) == 2
        again = await repository.add_tracking_events(session, [
            _event(first, "EMC", "in_transit", T0 + timedelta(hours=1)),  # stored already
            _event(second, "EMI", "delivered", T0),
        ])
        assert again == {f"{second}|EMI|{T0.isoformat()}"}
        assert await repository.add_tracking_events(session, []) == set()
        histories = await repository.tracking_histories(session, [first, second])
        assert [(row.status, row.location) for row in histories[first]] == [("in_transit", "CNURCA"),
                                                                           ("in_transit", "")]  # in time order
        assert [row.occurred_at for row in histories[second]] == [T0]
        await repository.set_tracking_statuses(session, [
            {"tracking_number": second, "tracking_status": "delivered", "status": "delivered", "delivered_at": T0},
        ])
    delivered = await stage.waybill("o2")
    assert (delivered.tracking_status, delivered.status, delivered.delivered_at) == ("delivered", "delivered", T0)
    assert (await stage.waybill("o1")).tracking_status == "pre_transit"


async def test_a_release_kept_before_the_waybill_is_found_by_the_insert(staging):
    stage = staging()
    await stage.release("o1", now=utcnow())  # kept: no waybill yet
    await stage.issue("o1")
    assert (await stage.waybill("o1")).status == "in_receptacle"
    async with stage.db.reader() as session:
        assert await repository.take_pending(session, "o1") == {}
