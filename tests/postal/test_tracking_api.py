"""POST /v1/tracking-events: mapping, duplicates, out-of-order events, unknown codes, tenancy, batches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import structlog

from services.postal.domain import s10
from shared.contract.events import ParcelDelivered, ParcelTracking
from tests.postal.factories import accepted
from tests.postal.support import HAND_OFF_AT_ONCE, RecordingCarrier, handed_off

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def at(hours: float) -> str:
    return (T0 + timedelta(hours=hours)).isoformat()


@pytest.fixture
async def postal(start_postal):
    """A postal service whose mail parcel "m1" went to SGPOST and express parcel "x1" to SGX."""
    service = await start_postal(adapter=RecordingCarrier(), **HAND_OFF_AT_ONCE)
    service.numbers = await handed_off(service, ("m1", "mail", {}), ("x1", "express", {"carrier": "SGX"}))
    service.post_key = await service.key("carrier", "SGPOST")
    service.sgx_key = await service.key("carrier", "SGX")
    return service


async def post(postal, body, key=None):
    return await postal.client.post("/v1/tracking-events", json=body, headers=key or postal.post_key)


async def test_an_emsevt_event_is_mapped_stored_and_published(postal):
    number = postal.numbers["m1"]
    response = await post(postal, {"tracking_number": number, "code": "emc", "occurred_at": at(1),
                                   "location": "CNURCA"})
    assert response.status_code == 200
    assert response.json() == {"accepted": 1, "duplicate": 0, "rejected": 0, "results": [
        {"index": 0, "tracking_number": number, "result": "accepted", "code": "EMC", "status": "in_transit",
         "known": True, "problem": None}]}
    [event] = await postal.emitted(ParcelTracking)
    assert (event.subject, event.correlation_id) == ("m1", "corr-m1")
    assert event.data | {"occurred_at": None} == {
        "order_id": "m1", "tracking_number": number, "code": "EMC", "status": "in_transit",
        "description": "Left outward office of exchange", "location": "CNURCA", "occurred_at": None}
    parcel = (await postal.client.get(f"/v1/parcels/{number}", headers=postal.post_key)).json()
    assert parcel["tracking_status"] == "in_transit"
    assert [e["code"] for e in parcel["events"]] == ["EMC"]


async def test_a_resent_event_is_a_duplicate_and_published_once(postal):
    body = {"tracking_number": postal.numbers["m1"], "code": "EMD", "occurred_at": at(2)}
    assert (await post(postal, body)).json()["accepted"] == 1
    again = (await post(postal, body)).json()
    assert (again["duplicate"], again["results"][0]["result"]) == (1, "duplicate")
    same_in_batch = (await post(postal, {"events": [body, body]})).json()
    assert same_in_batch["duplicate"] == 2
    assert len(await postal.emitted(ParcelTracking)) == 1


async def test_late_events_take_their_place_in_time_and_delivery_is_published_once(postal):
    number = postal.numbers["m1"]
    await post(postal, {"tracking_number": number, "code": "EMI", "occurred_at": at(30), "location": "Almaty"})
    await post(postal, {"events": [
        {"tracking_number": number, "code": "EMD", "occurred_at": at(10)},
        {"tracking_number": number, "code": "EDG", "occurred_at": at(28)},
        {"tracking_number": number, "code": "EMI", "occurred_at": at(31)},  # a second scan of the delivery
    ]})
    [delivered] = await postal.emitted(ParcelDelivered)
    assert delivered.data["delivered_at"] == at(30).replace("+00:00", "Z")
    assert (delivered.data["location"], delivered.subject) == ("Almaty", "m1")
    parcel = (await postal.client.get(f"/v1/parcels/{number}", headers=postal.post_key)).json()
    assert (parcel["status"], parcel["tracking_status"]) == ("delivered", "delivered")
    assert [e["code"] for e in parcel["events"]] == ["EMD", "EDG", "EMI", "EMI"]  # in time order
    assert len(await postal.emitted(ParcelTracking)) == 4


async def test_an_unknown_code_is_kept_and_logged_but_moves_nothing(postal):
    number = postal.numbers["m1"]
    await post(postal, {"tracking_number": number, "code": "EMC", "occurred_at": at(1)})
    with structlog.testing.capture_logs() as logs:
        response = await post(postal, {"tracking_number": number, "code": "ZZ9", "occurred_at": at(2),
                                       "description": "Scanned at hub 7"})
    result = response.json()["results"][0]
    assert (result["result"], result["status"], result["known"]) == ("accepted", "unknown", False)
    assert [e["code"] for e in logs if e["event"] == "tracking.unknown_code"] == ["ZZ9"]
    parcel = (await postal.client.get(f"/v1/parcels/{number}", headers=postal.post_key)).json()
    assert parcel["tracking_status"] == "in_transit"
    assert parcel["events"][-1] | {"received_at": None} == {
        "code": "ZZ9", "status": "unknown", "known": False, "description": "Scanned at hub 7", "location": "",
        "occurred_at": at(2).replace("+00:00", "Z"), "received_at": None}
    [_, unknown] = await postal.emitted(ParcelTracking)
    assert unknown.data["status"] == "unknown"


async def test_express_codes_come_from_the_carrier_table(postal):
    number = postal.numbers["x1"]
    response = await post(postal, {"events": [
        {"tracking_number": number, "code": "PU", "occurred_at": at(1)},
        {"tracking_number": number, "code": "CH", "occurred_at": at(2)},
        {"tracking_number": number, "code": "DL", "occurred_at": at(3)},
    ]}, key=postal.sgx_key)
    assert [r["status"] for r in response.json()["results"]] == ["in_transit", "held_by_customs", "delivered"]
    assert len(await postal.emitted(ParcelDelivered)) == 1


async def test_a_returned_parcel_ends_returned(postal):
    number = postal.numbers["x1"]
    await post(postal, {"tracking_number": number, "code": "RT", "occurred_at": at(5)}, key=postal.sgx_key)
    parcel = (await postal.client.get(f"/v1/parcels/{number}", headers=postal.sgx_key)).json()
    assert (parcel["status"], parcel["tracking_status"]) == ("returned", "returned")


async def test_a_batch_answers_each_event_on_its_own(postal):
    mail, express = postal.numbers["m1"], postal.numbers["x1"]
    bad_check = mail[:10] + str((int(mail[10]) + 1) % 10) + mail[11:]
    never_issued = s10.build(service_indicator="CP", serial=99_999_999, country="CN")
    response = await post(postal, {"events": [
        {"tracking_number": mail, "code": "EMC", "occurred_at": at(1)},
        {"tracking_number": mail, "code": "EMC", "occurred_at": at(1)},
        {"tracking_number": never_issued, "code": "EMC", "occurred_at": at(1)},
        {"tracking_number": express, "code": "IT", "occurred_at": at(1)},
        {"tracking_number": bad_check, "code": "EMC", "occurred_at": at(1)},
        {"tracking_number": mail, "occurred_at": at(1)},
        {"tracking_number": mail, "code": "EMD", "occurred_at": "2026-03-02T10:00:00"},
        {"tracking_number": mail, "code": "EMD", "occurred_at": (datetime.now(UTC) + timedelta(days=2)).isoformat()},
        {"tracking_number": mail, "code": "EMD", "occurred_at": "0001-01-01T00:00:00Z"},  # a typed-in year
        # Issue 16: no UTC equivalent (was OverflowError: a 500 for the whole batch); one rejected item.
        {"tracking_number": mail, "code": "EMD", "occurred_at": "0001-01-01T00:00:00+01:00"},
    ]})
    assert response.status_code == 200
    body = response.json()
    assert (body["accepted"], body["duplicate"], body["rejected"]) == (1, 1, 8)
    problems = [(r["result"], r["problem"] and (r["problem"]["status"], r["problem"]["code"], r["problem"].get("field")))
                for r in body["results"]]
    assert problems == [
        ("accepted", None),
        ("duplicate", None),
        ("rejected", (404, "parcel_not_found", "tracking_number")),
        ("rejected", (404, "parcel_not_found", "tracking_number")),  # another carrier's: as unknown
        ("rejected", (422, "invalid_tracking_number", "tracking_number")),
        ("rejected", (422, "field_required", "events[5].code")),
        ("rejected", (422, "timezone_aware", "events[6].occurred_at")),
        ("rejected", (422, "occurred_in_future", "occurred_at")),
        ("rejected", (422, "occurred_too_early", "occurred_at")),
        ("rejected", (422, "date_out_of_range", "events[9].occurred_at")),
    ]
    assert "check digit" in body["results"][4]["problem"]["detail"]
    assert not s10.is_valid(bad_check)
    assert len(await postal.emitted(ParcelTracking)) == 1


async def test_unreadable_tracking_bodies_answer_422_not_500(postal):
    """Issue 16: nesting that made the parser recurse (RecursionError, a 500) and nested arrays in `events`."""
    headers = {**postal.post_key, "content-type": "application/json"}
    for body, code in ((b"[" * 100_000, "json_too_deep"), (b'{"events": [' + b"[" * 200 + b"]" * 200 + b"]}",
                                                           "json_too_deep"),
                       (b'{"tracking_number": ' + b"9" * 5000 + b"}", "json_number_too_long"),
                       (b'{"tracking_number": "CP', "json_invalid")):
        response = await postal.client.post("/v1/tracking-events", content=body, headers=headers)
        assert (response.status_code, response.json()["code"], response.json()["field"]) == (422, code, "body")


async def test_a_single_rejected_event_answers_with_its_problem_status(postal):
    express = postal.numbers["x1"]
    foreign = await post(postal, {"tracking_number": express, "code": "IT", "occurred_at": at(1)})
    assert foreign.status_code == 404
    assert foreign.headers["content-type"] == "application/problem+json"
    unknown = await post(postal, {"tracking_number": "NOPE123", "code": "IT", "occurred_at": at(1)})
    assert (unknown.status_code, unknown.json()["code"]) == (404, "parcel_not_found")
    # Another carrier's parcel and a number that does not exist get the same answer: nothing tells them apart.
    assert {k: v for k, v in foreign.json().items() if k != "detail"} == \
        {k: v for k, v in unknown.json().items() if k != "detail"}
    assert foreign.json()["detail"].replace(express, "N") == unknown.json()["detail"].replace("NOPE123", "N")
    invalid = await post(postal, {"tracking_number": express, "code": "I T", "occurred_at": at(1), "extra": 1})
    assert (invalid.status_code, invalid.json()["field"]) == (422, "code")
    assert {e["field"] for e in invalid.json()["errors"]} == {"code", "extra"}


async def test_a_parcel_not_handed_off_yet_is_not_the_carriers_to_report_on(postal):
    await postal.publish(accepted("later"))
    waybill = await postal.until_waybill("later")
    response = await post(postal, {"tracking_number": waybill.tracking_number, "code": "EMC", "occurred_at": at(1)})
    assert (response.status_code, response.json()["code"]) == (404, "parcel_not_found")


async def test_a_key_may_act_for_several_carriers_or_all_of_them_in_the_sandbox(postal):
    postal.app.state.runtime.settings.sandbox = True
    several = await postal.key("carrier", "SGPOST, sgx")
    everyone = await postal.key("carrier", "*")
    for key, code in ((several, "EMC"), (everyone, "EMD")):
        response = await post(postal, {"events": [
            {"tracking_number": postal.numbers["m1"], "code": code, "occurred_at": at(1)},
            {"tracking_number": postal.numbers["x1"], "code": "IT", "occurred_at": at(1) if code == "EMC" else at(2)},
        ]}, key=key)
        assert response.json()["accepted"] == 2


async def test_only_carrier_keys_post_and_bad_bodies_are_refused(postal):
    body = {"tracking_number": postal.numbers["m1"], "code": "EMC", "occurred_at": at(1)}
    assert (await postal.client.post("/v1/tracking-events", json=body)).status_code == 401
    ops = await postal.key("ops", "ops-team")
    refused = await post(postal, body, key=ops)
    assert (refused.status_code, refused.json()["code"]) == (403, "role_not_allowed")
    not_json = await postal.client.post("/v1/tracking-events", content=b"{nope", headers=postal.post_key)
    assert (not_json.status_code, not_json.json()["code"]) == (422, "json_invalid")
    empty = await post(postal, {"events": []})
    assert (empty.status_code, empty.json()["field"]) == (422, "events")
    too_many = await post(postal, {"events": [body] * 501})
    assert (too_many.status_code, too_many.json()["code"]) == (422, "too_many_items")
    assert await postal.emitted(ParcelTracking) == []


async def test_a_batch_applies_its_events_one_by_one_as_if_posted_alone(postal):
    # Delivered, then returned, in one batch: the delivery is published and the parcel ends returned, as when the two
    # events come in two requests; the other parcel's events in the same batch move only that parcel.
    mail, express = postal.numbers["m1"], postal.numbers["x1"]
    postal.app.state.runtime.settings.sandbox = True
    everyone = await postal.key("carrier", "*")
    response = await post(postal, {"events": [
        {"tracking_number": express, "code": "DL", "occurred_at": at(3), "location": "Berlin"},
        {"tracking_number": mail, "code": "EMC", "occurred_at": at(1)},
        {"tracking_number": express, "code": "RT", "occurred_at": at(4)},
        {"tracking_number": express, "code": "PU", "occurred_at": at(1)},  # late: lands before the delivery
    ]}, key=everyone)
    assert response.json()["accepted"] == 4
    [delivered] = await postal.emitted(ParcelDelivered)
    assert (delivered.subject, delivered.data["delivered_at"], delivered.data["location"]) == (
        "x1", at(3).replace("+00:00", "Z"), "Berlin")
    returned = (await postal.client.get(f"/v1/parcels/{express}", headers=everyone)).json()
    assert (returned["status"], returned["tracking_status"], returned["delivered_at"]) == (
        "returned", "returned", at(3).replace("+00:00", "Z"))
    assert [e["code"] for e in returned["events"]] == ["PU", "DL", "RT"]
    in_transit = (await postal.client.get(f"/v1/parcels/{mail}", headers=everyone)).json()
    assert (in_transit["status"], in_transit["tracking_status"]) == ("handed_off", "in_transit")
    assert [e.subject for e in await postal.emitted(ParcelTracking)] == ["x1", "m1", "x1", "x1"]


async def test_a_wildcard_carrier_key_is_refused_outside_the_sandbox(postal):
    everyone = await postal.key("carrier", "*")
    body = {"tracking_number": postal.numbers["m1"], "code": "EMC", "occurred_at": at(1)}
    refused = await post(postal, body, key=everyone)
    assert (refused.status_code, refused.json()["code"]) == (403, "wildcard_key_not_allowed")
    parcel = await postal.client.get(f"/v1/parcels/{postal.numbers['x1']}", headers=everyone)
    assert (parcel.status_code, parcel.json()["code"]) == (403, "wildcard_key_not_allowed")
    assert await postal.emitted(ParcelTracking) == []


async def test_another_carriers_parcel_reads_as_no_parcel(postal):
    theirs = await postal.client.get(f"/v1/parcels/{postal.numbers['x1']}", headers=postal.post_key)
    unknown = await postal.client.get("/v1/parcels/CP999999995CN", headers=postal.post_key)
    assert (theirs.status_code, theirs.json()["code"]) == (unknown.status_code, unknown.json()["code"]) == (
        404, "parcel_not_found")
