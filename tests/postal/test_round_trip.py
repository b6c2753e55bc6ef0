"""The embedded sandbox carrier round trip: manifest out to the carrier, tracking events back to postal."""

from __future__ import annotations

import httpx

from services.carrier.app import create_app as create_carrier
from services.carrier.settings import CarrierSettings
from shared.contract.events import ParcelDelivered, ParcelHandedOff, ParcelTracking
from tests.postal.factories import accepted, released
from tests.postal.support import HAND_OFF_AT_ONCE
from tests.support import create_api_key, eventually


async def test_manifests_go_out_to_the_sandbox_carrier_and_its_events_come_back_to_delivery(start_postal, tmp_path):
    to_carrier = httpx.ASGITransport(app=None)  # pointed at the carrier app once it exists
    postal = await start_postal(transport=to_carrier, **HAND_OFF_AT_ONCE)
    key = await create_api_key(postal.app, role="carrier", owner="SGPOST,SGX")  # the sandbox plays both carriers
    settings = CarrierSettings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'carrier.db'}", api_key=key,
                               postal_url="http://postal", step_interval_s=0.05, log_level="WARNING")
    carrier = create_carrier(settings, postal_transport=httpx.ASGITransport(app=postal.app), configure_logs=False)
    to_carrier.app = carrier
    async with carrier.router.lifespan_context(carrier):
        for order_id, channel in (("m1", "mail"), ("x1", "express")):
            await postal.publish(accepted(order_id, channel))
            await postal.publish(released(order_id, channel))
        delivered = await eventually(lambda: _all(postal, ParcelDelivered, 2), timeout=30)
    assert sorted(e.subject for e in delivered) == ["m1", "x1"]
    assert len(await postal.emitted(ParcelHandedOff)) == 2
    tracking = await postal.emitted(ParcelTracking)
    codes = {order: [e.data["code"] for e in tracking if e.subject == order] for order in ("m1", "x1")}
    assert codes == {"m1": ["EMC", "EMD", "EDB", "EMF", "EDG", "EMI"], "x1": ["PU", "IT", "CC", "OD", "DL"]}
    assert all(e.data["status"] != "unknown" for e in tracking)
    ops = await postal.key("ops", "ops")
    mail = (await postal.client.get(f"/v1/parcels/{(await postal.waybill('m1')).tracking_number}", headers=ops)).json()
    assert (mail["status"], mail["tracking_status"]) == ("delivered", "delivered")
    assert mail["dispatch"]["status"] == "handed_off"
    dispatch = (await postal.client.get(f"/v1/dispatches/{mail['dispatch']['id']}", headers=ops)).json()
    assert dispatch["carrier_receipt"]["dispatch_id"] == dispatch["dispatch_identifier"]
    assert dispatch["carrier_receipt"]["receipt_id"].startswith("rcv_")


async def _all(postal, event_type, count):
    events = await postal.emitted(event_type)
    return events if len(events) >= count else None
