"""GET /v1/parcels/{tracking_number} and /v1/dispatches: what ops and carriers can read."""

from __future__ import annotations

import pytest

from services.postal.domain import s9
from tests.postal.factories import accepted, released
from tests.postal.support import HAND_OFF_AT_ONCE, RecordingCarrier, handed_off
from tests.support import eventually


@pytest.fixture
async def postal(start_postal):
    service = await start_postal(adapter=RecordingCarrier(), **HAND_OFF_AT_ONCE)
    service.numbers = await handed_off(service, ("m1", "mail", {}), ("x1", "express", {"carrier": "SGX"}))
    service.ops = await service.key("ops", "ops-team")
    service.sgpost = await service.key("carrier", "SGPOST")
    return service


async def test_ops_see_a_parcel_with_its_receptacle_dispatch_and_events(postal):
    number = postal.numbers["m1"]
    await postal.client.post("/v1/tracking-events", headers=postal.sgpost, json={
        "tracking_number": number, "code": "EMC", "occurred_at": "2026-03-02T08:00:00Z", "location": "CNURCA"})
    response = await postal.client.get(f"/v1/parcels/{number.lower()}", headers=postal.ops)
    assert response.status_code == 200
    parcel = response.json()
    assert (parcel["tracking_number"], parcel["order_id"], parcel["channel"], parcel["carrier"]) == (
        number, "m1", "mail", "SGPOST")
    assert (parcel["status"], parcel["tracking_status"], parcel["customs_form"]) == ("handed_off", "in_transit", "CN23")
    assert (parcel["weight_kg"], parcel["destination_office"], parcel["mail_subclass"]) == ("1.000", "KZALAA", "CN")
    receptacle, dispatch = parcel["receptacle"], parcel["dispatch"]
    assert (receptacle["status"], receptacle["item_count"], receptacle["close_reason"]) == ("closed", 1, "count")
    assert s9.parse_receptacle_id(receptacle["s9_id"]).is_last
    assert dispatch["dispatch_identifier"] == receptacle["s9_id"][:20]
    assert (dispatch["status"], dispatch["carrier"], dispatch["attempts"]) == ("handed_off", "SGPOST", 1)
    assert [(e["code"], e["status"], e["location"]) for e in parcel["events"]] == [("EMC", "in_transit", "CNURCA")]


async def test_a_carrier_reads_only_the_parcels_handed_to_it(postal):
    sgx = await postal.key("carrier", "SGX")
    assert (await postal.client.get(f"/v1/parcels/{postal.numbers['x1']}", headers=sgx)).status_code == 200
    other = await postal.client.get(f"/v1/parcels/{postal.numbers['m1']}", headers=sgx)
    assert (other.status_code, other.json()["code"]) == (404, "parcel_not_found")
    await postal.publish(accepted("waiting"))
    waiting = (await postal.until_waybill("waiting")).tracking_number
    assert (await postal.client.get(f"/v1/parcels/{waiting}", headers=postal.sgpost)).status_code == 404
    assert (await postal.client.get(f"/v1/parcels/{waiting}", headers=postal.ops)).json()["status"] == "issued"
    merchant = await postal.key("merchant", "M1")
    assert (await postal.client.get(f"/v1/parcels/{waiting}", headers=merchant)).status_code == 403
    assert (await postal.client.get("/v1/parcels/CP000000000CN", headers=postal.ops)).status_code == 404


async def test_a_dispatch_is_found_by_id_or_s9_identifier_with_its_manifest(postal):
    parcel = (await postal.client.get(f"/v1/parcels/{postal.numbers['m1']}", headers=postal.ops)).json()
    dispatch_id, identifier = parcel["dispatch"]["id"], parcel["dispatch"]["dispatch_identifier"]
    by_id = await postal.client.get(f"/v1/dispatches/{dispatch_id}", headers=postal.ops)
    by_identifier = await postal.client.get(f"/v1/dispatches/{identifier}", headers=postal.sgpost)
    assert by_id.status_code == by_identifier.status_code == 200
    assert by_id.json() == by_identifier.json()
    dispatch = by_id.json()
    assert dispatch["manifest"]["dispatch"]["dispatch_id"] == identifier
    assert [i["tracking_number"] for i in dispatch["manifest"]["items"]] == [postal.numbers["m1"]]
    assert [r["s9_id"] for r in dispatch["receptacles"]] == [parcel["receptacle"]["s9_id"]]
    assert dispatch["carrier_receipt"] == {"receipt_id": dispatch["carrier_receipt"]["receipt_id"]}
    sgx = await postal.key("carrier", "SGX")
    assert (await postal.client.get(f"/v1/dispatches/{dispatch_id}", headers=sgx)).status_code == 404
    assert (await postal.client.get("/v1/dispatches/dsp_nope", headers=postal.ops)).status_code == 404


async def test_a_carrier_does_not_see_a_dispatch_before_it_is_handed_over(start_postal):
    postal = await start_postal(max_receptacle_items=1)  # bags close, the dispatch stays open
    await postal.publish(accepted("o1"))
    await postal.publish(released("o1"))
    waybill = await postal.until_waybill("o1")
    [dispatch] = await _eventually_dispatches(postal, 1)
    ops, carrier = await postal.key("ops", "ops"), await postal.key("carrier", "SGPOST")
    assert (await postal.client.get(f"/v1/dispatches/{dispatch.id}", headers=ops)).json()["status"] == "open"
    assert (await postal.client.get(f"/v1/dispatches/{dispatch.id}", headers=carrier)).status_code == 404
    assert waybill.order_id == "o1"


async def _eventually_dispatches(postal, count):
    async def found():
        dispatches = await postal.dispatches()
        return dispatches if len(dispatches) == count else None

    return await eventually(found)


async def test_ops_page_through_dispatches_by_status(postal):
    await handed_off(postal, ("m2", "mail", {"country": "DE"}), ("m3", "mail", {"country": "FR"}))
    first = await postal.client.get("/v1/dispatches", params={"limit": 2, "status": "handed_off"},
                                    headers=postal.ops)
    assert first.status_code == 200
    page = first.json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = (await postal.client.get("/v1/dispatches", params={"limit": 2, "cursor": page["next_cursor"]},
                                    headers=postal.ops)).json()
    assert len(rest["items"]) == 2 and rest["next_cursor"] is None
    ids = [d["id"] for d in page["items"] + rest["items"]]
    assert len(set(ids)) == 4
    sgx = (await postal.client.get("/v1/dispatches", params={"carrier": "SGX"}, headers=postal.ops)).json()
    assert [d["carrier"] for d in sgx["items"]] == ["SGX"]
    assert (await postal.client.get("/v1/dispatches", params={"status": "open"},
                                    headers=postal.ops)).json()["items"] == []
    bad = await postal.client.get("/v1/dispatches", params={"cursor": "garbage!"}, headers=postal.ops)
    assert (bad.status_code, bad.json()["code"], bad.json()["field"]) == (422, "invalid_cursor", "cursor")
    wrong_status = await postal.client.get("/v1/dispatches", params={"status": "lost"}, headers=postal.ops)
    assert (wrong_status.status_code, wrong_status.json()["field"]) == (422, "status")
    assert (await postal.client.get("/v1/dispatches", headers=postal.sgpost)).status_code == 403
