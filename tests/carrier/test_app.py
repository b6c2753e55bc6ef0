"""The sandbox carrier: takes each manifest once, plans realistic events, posts them to postal until they land."""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from datetime import datetime

import httpx
import pytest

from services.carrier.app import create_app
from services.carrier.settings import CarrierSettings
from tests.support import eventually

MAIL = "CP000000014CN"
EXPRESS = "SGX0000000019"


def manifest(dispatch_id: str = "CNURCAKZALAAACN60001", *numbers: str) -> dict:
    return {
        "manifest_version": 1,
        "dispatch": {"dispatch_id": dispatch_id, "carrier": "SGPOST", "origin_office": "CNURCA",
                     "destination_office": "KZALAA", "item_count": len(numbers or (MAIL,))},
        "receptacles": [],
        "items": [{"tracking_number": n, "addressee": {"city": "Almaty", "country": "KZ"}} for n in numbers or (MAIL,)],
    }


class FakePostal:
    """Postal's tracking endpoint as the sandbox sees it: answers scripted per call, else accepts everything."""

    def __init__(self) -> None:
        self.calls: list[dict] = []
        # Per call: an exception to raise, a status code, or a problem for the call's first event (others pass).
        self.script: list = []
        self.transport = httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.calls.append({"auth": request.headers.get("authorization"), "events": body["events"]})
        step = self.script.pop(0) if self.script else "accepted"
        if isinstance(step, Exception):
            raise step
        if isinstance(step, int):
            return httpx.Response(step, json={"code": "down"})
        results = []
        for index, event in enumerate(body["events"]):
            if isinstance(step, dict) and index == 0:
                results.append({"index": index, "result": "rejected", "problem": step})
            else:
                results.append({"index": index, "tracking_number": event["tracking_number"],
                                "result": "accepted" if isinstance(step, dict) else step})
        return httpx.Response(200, json={"results": results})

    def events(self) -> list[dict]:
        return [event for call in self.calls for event in call["events"]]

    def delivered(self) -> list[str]:
        return [e["tracking_number"] for e in self.events() if e["code"] in ("EMI", "DL")]


@pytest.fixture
def carrier_settings(tmp_path):
    def make(**overrides) -> CarrierSettings:
        values = {"database_url": f"sqlite+aiosqlite:///{tmp_path / 'carrier.db'}", "api_key": "sg_carrier_test",
                  "postal_url": "http://postal", "step_interval_s": 0.02, "retry_backoff_s": [0.02],
                  "log_level": "WARNING", **overrides}
        return CarrierSettings(**values)

    return make


@asynccontextmanager
async def running_carrier(settings: CarrierSettings, postal: FakePostal):
    app = create_app(settings, postal_transport=postal.transport, configure_logs=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://carrier") as client:
            yield client


async def progress(client: httpx.AsyncClient, dispatch_id: str, expected: dict[str, int]) -> bool:
    return (await client.get(f"/v1/manifests/{dispatch_id}")).json()["events"] == expected


async def test_a_manifest_is_taken_once_and_answered_with_its_receipt(carrier_settings):
    postal = FakePostal()
    async with running_carrier(carrier_settings(step_interval_s=60), postal) as client:
        body = manifest("CNURCAKZALAAACN60001", MAIL, EXPRESS)
        first = await client.post("/v1/manifests", json=body, headers={"Idempotency-Key": "dsp_1"})
        assert first.status_code == 202
        receipt = first.json()
        assert (receipt["dispatch_id"], receipt["items"], receipt["duplicate"]) == ("CNURCAKZALAAACN60001", 2, False)
        assert receipt["events_planned"] == 6 + 5  # the EMSEVT journey of a mail item, the courier's of the other
        again = await client.post("/v1/manifests", json=body, headers={"Idempotency-Key": "dsp_1"})
        same_dispatch = await client.post("/v1/manifests", json=body, headers={"Idempotency-Key": "dsp_other"})
        for repeat in (again, same_dispatch):
            assert repeat.status_code == 202
            assert (repeat.json()["receipt_id"], repeat.json()["duplicate"]) == (receipt["receipt_id"], True)
        status = (await client.get("/v1/manifests/CNURCAKZALAAACN60001")).json()
        assert status["events"] == {"planned": 11}
        assert (await client.get("/v1/manifests/nope")).status_code == 404


async def test_a_malformed_manifest_or_a_wrong_key_is_refused(carrier_settings):
    async with running_carrier(carrier_settings(manifest_api_key="secret"), FakePostal()) as client:
        no_key = await client.post("/v1/manifests", json=manifest())
        assert no_key.status_code == 401
        bad = await client.post("/v1/manifests", json={"items": []}, headers={"Authorization": "Bearer secret"})
        assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
        ok = await client.post("/v1/manifests", json=manifest(), headers={"Authorization": "Bearer secret"})
        assert ok.status_code == 202


async def test_events_go_to_postal_step_by_step_with_the_carrier_key(carrier_settings):
    postal = FakePostal()
    async with running_carrier(carrier_settings(), postal) as client:
        await client.post("/v1/manifests", json=manifest("CNURCAKZALAAACN60001", MAIL, EXPRESS))
        await eventually(lambda: progress(client, "CNURCAKZALAAACN60001", {"accepted": 11}))
    assert {call["auth"] for call in postal.calls} == {"Bearer sg_carrier_test"}
    by_parcel: dict[str, list] = {}
    for event in postal.events():
        by_parcel.setdefault(event["tracking_number"], []).append(event)
    assert [e["code"] for e in by_parcel[MAIL]] == ["EMC", "EMD", "EDB", "EMF", "EDG", "EMI"]
    assert [e["code"] for e in by_parcel[EXPRESS]] == ["PU", "IT", "CC", "OD", "DL"]
    times = [datetime.fromisoformat(e["occurred_at"]) for e in by_parcel[MAIL]]
    assert times == sorted(times) and all(t.tzinfo is not None for t in times)
    assert [e["location"] for e in by_parcel[MAIL]] == ["CNURCA", "KZALAA", "KZALAA", "KZALAA", "Almaty", "Almaty"]


async def test_events_wait_while_postal_is_down_and_none_is_lost(carrier_settings):
    postal = FakePostal()
    postal.script = [httpx.ConnectError("postal is down"), 503, 401]
    async with running_carrier(carrier_settings(), postal) as client:
        await client.post("/v1/manifests", json=manifest())
        await eventually(lambda: progress(client, "CNURCAKZALAAACN60001", {"accepted": 6}))
    assert len(postal.calls) >= 4  # three failed rounds, then the ones postal took


async def test_a_parcel_postal_does_not_know_yet_is_tried_again_and_a_bad_event_given_up(carrier_settings):
    postal = FakePostal()
    not_yet = {"status": 404, "code": "parcel_not_found", "detail": "not handed off yet"}
    postal.script = [not_yet, not_yet]
    async with running_carrier(carrier_settings(), postal) as client:
        await client.post("/v1/manifests", json=manifest())
        await eventually(lambda: progress(client, "CNURCAKZALAAACN60001", {"accepted": 6}))
    assert [e["code"] for e in postal.events()].count("EMC") == 3  # refused twice, then taken

    postal = FakePostal()
    postal.script = [{"status": 422, "code": "invalid_tracking_number", "detail": "bad"}]
    async with running_carrier(carrier_settings(), postal) as client:
        await client.post("/v1/manifests", json=manifest("CNURCAKZALAAACN60002", "CP000000028CN"))
        await eventually(lambda: progress(client, "CNURCAKZALAAACN60002", {"given_up": 1, "accepted": 5}))


async def test_a_restarted_sandbox_resumes_its_plan(carrier_settings):
    postal = FakePostal()
    async with running_carrier(carrier_settings(step_interval_s=0.3), postal) as client:
        await client.post("/v1/manifests", json=manifest())
    assert postal.delivered() == []  # stopped before the first event was due
    async with running_carrier(carrier_settings(step_interval_s=0.3), postal):
        await eventually(lambda: postal.delivered() == [MAIL])
    assert [e["code"] for e in postal.events()] == ["EMC", "EMD", "EDB", "EMF", "EDG", "EMI"]


async def test_the_carrier_serves_prometheus_metrics_like_every_service(carrier_settings):
    """Issue 16 finding 10: the README says every service has /metrics; the carrier had none."""
    async with running_carrier(carrier_settings(step_interval_s=60), FakePostal()) as client:
        await client.get("/v1/manifests/nope")
        response = await client.get("/metrics")
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
        assert 'service="carrier"' in response.text
