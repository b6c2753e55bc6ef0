"""Postal's consumers on a real nats-server: issue on accept, bag on release, void on cancel or rejection."""

from __future__ import annotations

import nats
import structlog
from sqlalchemy import func, select

from services.postal.domain import s9, s10
from shared.contract.events import ParcelHandedOff, WaybillIssued, WaybillVoided
from shared.contract.subjects import DEAD_LETTER_STREAM
from tests.postal.factories import accepted, cancelled, rejected, released
from tests.postal.support import RecordingCarrier
from tests.support import eventually


async def until_settled(postal) -> None:
    """Every envelope published so far has been handled, and nothing is left unacked."""
    await postal.until_handled()
    await eventually(lambda: _backlog_empty(postal))


async def _backlog_empty(postal) -> bool:
    try:
        return await postal.runtime.consumer_backlog() == 0
    except Exception:  # noqa: BLE001 - the durable consumers are not created yet
        return False


async def test_accept_issues_one_waybill_per_order_even_when_redelivered(start_postal):
    postal = await start_postal()
    event = accepted("ord_1")
    first = await postal.publish(event, correlation_id="journey-1")
    # The same envelope again past the broker's duplicate window, and a second envelope for the same order.
    await postal.runtime.bus.js.publish(first.type, first.to_bytes(), headers={"Nats-Msg-Id": "redelivery"})
    await postal.publish(event, correlation_id="journey-1")
    await until_settled(postal)
    [issued] = await postal.emitted(WaybillIssued)
    assert (issued.correlation_id, issued.causation_id, issued.subject) == ("journey-1", first.id, "ord_1")
    data = issued.data
    assert s10.validate(data["tracking_number"]).indicator == "CP"
    assert (data["order_id"], data["merchant_order_no"], data["channel"], data["carrier"]) == (
        "ord_1", "MO-ord_1", "mail", "SGPOST")
    assert data["consignee"] == event.parcel.consignee.model_dump(mode="json")
    waybill = await postal.waybill("ord_1")
    assert (waybill.tracking_number, waybill.status) == (data["tracking_number"], "issued")


async def test_each_channel_gets_its_own_kind_of_identifier(start_postal):
    postal = await start_postal()
    await postal.publish(accepted("m", "mail", product="ems"))
    await postal.publish(accepted("x", "express", carrier="DHL"))
    await postal.publish(accepted("e", "ecommerce"))
    issued = await eventually(lambda: _by_order(postal, 3))
    assert issued["m"]["tracking_number"].startswith("EA") and s10.is_valid(issued["m"]["tracking_number"])
    assert (issued["x"]["carrier"], len(issued["x"]["tracking_number"])) == ("DHL", 10)
    assert (issued["e"]["carrier"], issued["e"]["tracking_number"][:3]) == ("SGE", "SGL")


async def _by_order(postal, expected: int) -> dict[str, dict] | None:
    issued = {e.data["order_id"]: e.data for e in await postal.emitted(WaybillIssued)}
    return issued if len(issued) == expected else None


async def test_released_parcels_are_bagged_and_the_item_count_closes_the_bag_with_its_s9_id(start_postal):
    postal = await start_postal(max_receptacle_items=2)
    for order in ("o1", "o2"):
        await postal.publish(accepted(order, weight="0.75"))
        await postal.publish(released(order))
    receptacle = await eventually(lambda: _closed_receptacle(postal))
    assert (receptacle.item_count, receptacle.close_reason) == (2, "count")
    assert s9.parse_receptacle_id(receptacle.s9_id).weight_units == 15
    assert {(await postal.waybill(o)).receptacle_id for o in ("o1", "o2")} == {receptacle.id}


async def _closed_receptacle(postal):
    closed = [r for r in await postal.receptacles() if r.status == "closed"]
    return closed[0] if closed else None


async def test_the_weight_limit_closes_a_bag_before_the_parcel_that_would_not_fit(start_postal):
    postal = await start_postal(max_receptacle_weight_kg="20")
    for order in ("o1", "o2"):
        await postal.publish(accepted(order, weight="15"))
        await postal.publish(released(order))
    await until_settled(postal)
    first, second = sorted(await postal.receptacles(), key=lambda r: r.status)
    assert (first.status, first.close_reason, s9.parse_receptacle_id(first.s9_id).weight_units) == (
        "closed", "weight", 150)
    assert (second.status, second.item_count) == ("open", 1)


async def test_a_release_before_its_order_is_kept_and_applied_when_the_waybill_is_issued(start_postal):
    postal = await start_postal()
    await postal.publish(released("early"))
    await until_settled(postal)
    assert await postal.waybill("early") is None
    await postal.publish(accepted("early"))
    waybill = await eventually(lambda: _with_status(postal, "early", "in_receptacle"))
    assert (waybill.declaration_id, waybill.customs_form) == ("dcl_early", "CN23")


async def _with_status(postal, order_id: str, status: str):
    waybill = await postal.waybill(order_id)
    return waybill if waybill is not None and waybill.status == status else None


async def test_a_redelivered_release_never_bags_a_parcel_twice(start_postal):
    postal = await start_postal()
    await postal.publish(accepted("o1"))
    await postal.publish(released("o1"))
    await postal.publish(released("o1"))  # another envelope: the inbox cannot tell, the waybill's status can
    await until_settled(postal)
    [receptacle] = await postal.receptacles()
    assert receptacle.item_count == 1


async def test_cancel_before_handoff_voids_the_waybill_and_takes_it_out_of_its_bag(start_postal):
    postal = await start_postal()
    await postal.publish(accepted("o1", weight="2"))
    await postal.publish(accepted("o2", weight="3"))
    await postal.publish(released("o1"))
    await postal.publish(released("o2"))
    await until_settled(postal)
    await postal.publish(cancelled("o1"), correlation_id="corr-o1")
    await until_settled(postal)
    [voided] = await postal.emitted(WaybillVoided)
    waybill = await postal.waybill("o1")
    assert voided.data["tracking_number"] == waybill.tracking_number
    assert voided.data["reason"] == "order cancelled: customer changed their mind"
    assert (waybill.status, waybill.receptacle_id) == ("voided", None)
    [receptacle] = await postal.receptacles()
    assert (receptacle.item_count, str(receptacle.weight_kg)) == (1, "3.000")


async def test_a_rejected_declaration_voids_the_waybill(start_postal):
    postal = await start_postal()
    await postal.publish(accepted("o1", "express"))
    await postal.publish(rejected("o1", "express"))
    [voided] = await eventually(lambda: postal.emitted(WaybillVoided))
    assert voided.data["reason"] == "declaration rejected (prohibited): prohibited goods"


async def test_a_cancel_before_its_order_voids_the_waybill_as_soon_as_it_is_issued(start_postal):
    postal = await start_postal()
    await postal.publish(cancelled("o1"))
    await postal.publish(released("o1"))
    await until_settled(postal)
    await postal.publish(accepted("o1"))
    await eventually(lambda: postal.emitted(WaybillVoided))
    waybill = await postal.waybill("o1")
    assert (waybill.status, waybill.receptacle_id) == ("voided", None)
    assert [e.type for e in await postal.emitted()] == [WaybillIssued.event_type(), WaybillVoided.event_type()]


async def test_a_void_after_handoff_is_refused_with_its_reason(start_postal):
    carrier = RecordingCarrier()
    postal = await start_postal(adapter=carrier, max_receptacle_items=1, max_dispatch_receptacles=1)
    await postal.publish(accepted("o1"))
    await postal.publish(released("o1"))
    [handed] = await eventually(lambda: postal.emitted(ParcelHandedOff))
    assert handed.data["tracking_number"] == carrier.manifests[0]["items"][0]["tracking_number"]
    with structlog.testing.capture_logs() as logs:
        await postal.publish(cancelled("o1"))
        await until_settled(postal)
    assert await postal.emitted(WaybillVoided) == []
    assert (await postal.waybill("o1")).status == "handed_off"
    [refusal] = [entry for entry in logs if entry["event"] == "waybill.void_refused"]
    assert (refusal["reason"], refusal["order_id"]) == ("handed_off", "o1")


async def test_an_express_order_for_a_carrier_without_numbering_is_dead_lettered_with_its_reason(start_postal,
                                                                                                 nats_url):
    postal = await start_postal(consumer_max_attempts=2, consumer_backoff_s=[0.1])
    await postal.publish(accepted("o1", "express", carrier="NOPE"))
    await postal.publish(accepted("o2", "express"))
    await eventually(lambda: postal.waybill("o2"))
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        dead = await eventually(lambda: _last_dead_letter(js))
    finally:
        await nc.close()
    assert "UnknownCarrier" in dead.headers["Silkgate-Reason"] and "NOPE" in dead.headers["Silkgate-Reason"]
    async with postal.runtime.db.reader() as session:
        from services.postal.models import Waybill

        assert (await session.execute(select(func.count()).select_from(Waybill))).scalar_one() == 1


async def _last_dead_letter(js):
    try:
        return await js.get_last_msg(DEAD_LETTER_STREAM, "silkgate.dlq.>")
    except Exception:  # noqa: BLE001 - not there yet
        return None
