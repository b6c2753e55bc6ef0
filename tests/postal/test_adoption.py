"""Parcels an external logistics company carries, on a real nats-server: postal issues no number of its own, adopts
the company's logistics number from waybill.recorded (whichever of the order and the waybill comes first), announces
it as waybill.issued, and bags and hands the parcel off as usual."""

from __future__ import annotations

import nats

from shared.contract.events import WaybillIssued, WaybillVoided
from shared.contract.subjects import DEAD_LETTER_STREAM
from tests.postal.factories import accepted, cancelled, released, waybill_recorded
from tests.postal.support import HAND_OFF_AT_ONCE, RecordingCarrier
from tests.postal.test_consumers import _last_dead_letter, _with_status, until_settled
from tests.support import eventually


def carried(order_id: str, company: str = "YTO"):
    return accepted(order_id, "ecommerce", logistics_company=company)


async def test_the_order_first_then_the_companys_waybill_brings_the_number(start_postal):
    postal = await start_postal()
    await postal.publish(carried("o1"), correlation_id="journey-1")
    await until_settled(postal)
    assert await postal.waybill("o1") is None  # no number of postal's own
    assert await postal.emitted(WaybillIssued) == []

    recorded = await postal.publish(waybill_recorded("o1"), correlation_id="journey-1")
    await until_settled(postal)
    [issued] = await postal.emitted(WaybillIssued)
    assert (issued.data["tracking_number"], issued.data["carrier"], issued.data["channel"]) == (
        "YT7890123456789", "YTO", "ecommerce")
    assert (issued.correlation_id, issued.causation_id) == ("journey-1", recorded.id)
    assert issued.data["consignee"]["name"] == "Aigerim Nurlanovna"  # whom the company's waybill names
    waybill = await postal.waybill("o1")
    assert (waybill.tracking_number, waybill.carrier, waybill.status, str(waybill.weight_kg)) == (
        "YT7890123456789", "YTO", "issued", "2.100")


async def test_the_waybill_first_is_kept_until_its_order_comes(start_postal):
    postal = await start_postal()
    await postal.publish(waybill_recorded("o1", "YT0000000000042", weight=None))
    await until_settled(postal)
    assert await postal.waybill("o1") is None
    await postal.publish(carried("o1"))
    await until_settled(postal)
    [issued] = await postal.emitted(WaybillIssued)
    assert (issued.data["tracking_number"], issued.data["carrier"]) == ("YT0000000000042", "YTO")
    assert str((await postal.waybill("o1")).weight_kg) == "1.000"  # no weighed weight: the order's


async def test_redelivered_events_adopt_once(start_postal):
    postal = await start_postal()
    for event in (carried("o1"), waybill_recorded("o1"), waybill_recorded("o1"), carried("o1")):
        await postal.publish(event)
    await until_settled(postal)
    assert len(await postal.emitted(WaybillIssued)) == 1


async def test_an_adopted_parcel_is_bagged_and_handed_off_to_its_company(start_postal):
    carrier = RecordingCarrier()
    postal = await start_postal(adapter=carrier, **HAND_OFF_AT_ONCE)
    await postal.publish(released("o1", "ecommerce", form="inventory_list"))  # customs may release first
    await postal.publish(carried("o1"))
    await until_settled(postal)
    assert await postal.waybill("o1") is None
    await postal.publish(waybill_recorded("o1"))
    waybill = await eventually(lambda: _with_status(postal, "o1", "handed_off"))
    assert (waybill.tracking_number, waybill.carrier) == ("YT7890123456789", "YTO")
    [manifest] = carrier.manifests
    assert "YT7890123456789" in str(manifest)


async def test_a_cancel_before_the_companys_waybill_voids_it_on_adoption(start_postal):
    postal = await start_postal()
    await postal.publish(carried("o1"))
    await postal.publish(cancelled("o1"))
    await until_settled(postal)
    await postal.publish(waybill_recorded("o1"))
    [voided] = await eventually(lambda: postal.emitted(WaybillVoided))
    assert voided.data["tracking_number"] == "YT7890123456789"
    assert (await postal.waybill("o1")).status == "voided"


async def test_a_logistics_number_that_is_another_parcels_is_dead_lettered(start_postal, nats_url):
    postal = await start_postal(consumer_max_attempts=2, consumer_backoff_s=[0.1])
    await postal.publish(carried("o1"))
    await postal.publish(waybill_recorded("o1", "YT5555555555"))
    await postal.publish(carried("o2"))
    await postal.publish(waybill_recorded("o2", "YT5555555555"))
    nc = await nats.connect(nats_url)
    try:
        dead = await eventually(lambda: _last_dead_letter(nc.jetstream()))
    finally:
        await nc.close()
    assert "logistics_no_taken" in dead.headers["Silkgate-Reason"]
    assert dead.headers["Silkgate-Original-Stream"] == "SILKGATE_ORDERS" and DEAD_LETTER_STREAM
    assert await postal.waybill("o2") is None
