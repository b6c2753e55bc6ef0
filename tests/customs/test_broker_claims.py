"""The brokers' claims: one broker at a time, lapsing, racing, giving back."""

from __future__ import annotations

import asyncio

from tests.customs.broker import FILE, claimed, file_held, parse_time
from tests.customs.events import mail, new_order_id


async def test_one_broker_at_a_time_and_the_same_broker_extends(customs):
    alice, bob = await customs.key(owner="Alice Brokerage"), await customs.key(owner="Bob Brokerage")
    declaration = await file_held(customs)
    url = f"/v1/declarations/{declaration.id}/claim"
    first = await customs.client.post(url, headers=alice)
    assert first.status_code == 200 and first.json()["claim"]["broker"] == "Alice Brokerage"
    refused = await customs.client.post(url, headers=bob)
    assert refused.status_code == 409
    problem = refused.json()
    assert problem["code"] == "declaration_claimed" and problem["claimed_by"] == "Alice Brokerage"
    assert problem["claim_expires_at"] == first.json()["claim"]["expires_at"].replace("Z", "+00:00")
    customs.clock.advance(seconds=60)
    again = await customs.client.post(url, headers=alice)
    assert again.status_code == 200
    assert parse_time(again.json()["claim"]["expires_at"]) > parse_time(first.json()["claim"]["expires_at"])


async def test_a_claim_lapses_after_its_ttl(customs):
    alice, bob = await customs.key(owner="Alice Brokerage"), await customs.key(owner="Bob Brokerage")
    declaration = await claimed(customs, alice)
    customs.clock.advance(seconds=899)
    assert (await customs.client.post(f"/v1/declarations/{declaration.id}/claim", headers=bob)).status_code == 409
    customs.clock.advance(seconds=2)
    listed = (await customs.client.get("/v1/declarations", headers=bob)).json()["data"][0]
    assert listed["claim"] is None  # lapsed claims are not shown as held
    taken = await customs.client.post(f"/v1/declarations/{declaration.id}/claim", headers=bob)
    assert taken.status_code == 200 and taken.json()["claim"]["broker"] == "Bob Brokerage"
    late = await customs.client.post(f"/v1/declarations/{declaration.id}/file", headers=alice, json=FILE)
    assert late.status_code == 409 and late.json()["code"] == "claim_required"
    assert late.json()["claimed_by"] == "Bob Brokerage"


async def test_two_brokers_racing_for_one_declaration_exactly_one_wins(customs):
    brokers = [await customs.key(owner=f"Broker {n}") for n in range(4)]
    for _ in range(3):
        declaration = await file_held(customs)
        url = f"/v1/declarations/{declaration.id}/claim"
        responses = await asyncio.gather(*(customs.client.post(url, headers=h) for h in brokers))
        codes = sorted(r.status_code for r in responses)
        assert codes == [200, 409, 409, 409], [r.text for r in responses]
        winner = next(r for r in responses if r.status_code == 200).json()["claim"]["broker"]
        assert {r.json()["claimed_by"] for r in responses if r.status_code == 409} == {winner}
        trail = (await customs.client.get(f"/v1/declarations/{declaration.id}/audit", headers=brokers[0])).json()
        assert [e["action"] for e in trail["data"]].count("claim") == 1


async def test_unclaim_gives_the_declaration_back(customs):
    alice, bob = await customs.key(owner="Alice Brokerage"), await customs.key(owner="Bob Brokerage")
    declaration = await claimed(customs, alice)
    url = f"/v1/declarations/{declaration.id}/claim"
    assert (await customs.client.delete(url, headers=bob)).json()["code"] == "claim_required"
    response = await customs.client.delete(url, headers=alice)
    assert response.status_code == 200 and response.json()["claim"] is None
    assert (await customs.client.post(url, headers=bob)).status_code == 200


async def test_a_released_declaration_cannot_be_claimed(customs):
    broker = await customs.key()
    released = await customs.answer(await customs.file(mail(new_order_id())), 120, 800)
    response = await customs.client.post(f"/v1/declarations/{released.id}/claim", headers=broker)
    assert response.status_code == 409
    assert (response.json()["code"], response.json()["current_status"]) == ("declaration_final", "released")
