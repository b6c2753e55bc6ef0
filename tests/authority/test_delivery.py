"""Receipts reach customs in order, whatever customs does: down, failing, or the sandbox restarted mid-plan."""

from __future__ import annotations

import httpx

from tests.authority.support import eventually, message, running_authority


async def test_receipts_wait_while_customs_is_down_and_arrive_in_order(settings_for, receiver, keys):
    receiver.script = [httpx.ConnectError("customs is down"), 503, 401, httpx.ReadTimeout("slow")]
    async with running_authority(settings_for(), receiver) as (client, gateway):
        filed = message("CEB621", keys)
        await gateway.file(filed)
        await eventually(lambda: receiver.statuses(filed.guid) == [2, 120, 800])

        async def all_delivered() -> list[dict] | None:
            rows = (await client.get("/v1/receipts", params={"guid": filed.guid})).json()
            return rows if {r["state"] for r in rows} == {"delivered"} else None

        planned = await eventually(all_delivered)  # customs took the last one; the sandbox then notes it
    assert receiver.calls >= 3 + 4  # four failed attempts, then the three receipts
    assert planned[0]["attempts"] == 5 and planned[0]["last_error"] is None
    # A retried receipt is the same receipt: the signed bytes made at its first attempt.
    assert [r.receipt_guid for r in receiver.of(filed.guid)] == [r["receipt_guid"] for r in planned]


async def test_receipts_refused_by_customs_are_retried_until_taken(settings_for, receiver, keys):
    async with running_authority(settings_for(api_key="sg_authority_stale"), receiver) as (client, gateway):
        filed = message("CEB621", keys)
        await gateway.file(filed)
        await eventually(lambda: len(receiver.refused) >= 2)  # customs refuses the stale key, again and again
        waiting = (await client.get("/v1/receipts", params={"guid": filed.guid, "state": "planned"})).json()
        assert [r["return_status"] for r in waiting] == [2, 120, 800]
        assert "401" in waiting[0]["last_error"]
    assert receiver.received == []


async def test_a_restarted_sandbox_resumes_its_plan(settings_for, receiver, keys):
    settings = settings_for()
    filed = message("CEB621", keys)
    receiver.script = [503] * 1000  # customs answers nothing useful while the first process runs
    async with running_authority(settings, receiver) as (client, gateway):
        await gateway.file(filed)
        await eventually(lambda: receiver.calls >= 2)
        first_try = (await client.get("/v1/receipts", params={"guid": filed.guid})).json()
    assert receiver.received == []
    receiver.script = []
    async with running_authority(settings, receiver) as (client, _gateway):
        await eventually(lambda: receiver.statuses(filed.guid) == [2, 120, 800])
        delivered = (await client.get("/v1/receipts", params={"guid": filed.guid})).json()
    # The receipt tried before the restart is the one delivered after it, byte for byte.
    assert first_try[0]["body"] is not None and delivered[0]["body"] == first_try[0]["body"]
    assert receiver.of(filed.guid)[0].receipt_guid == first_try[0]["receipt_guid"]


async def test_receipts_of_many_filings_go_in_batches_each_filings_in_order(settings_for, receiver, keys):
    async with running_authority(settings_for(receipt_batch=4), receiver) as (_client, gateway):
        filed = [message("CEB621", keys, declaration_id=f"dcl_batch{n}", order_id=f"ord_batch{n}") for n in range(6)]
        for each in filed:
            await gateway.file(each)
        await eventually(lambda: all(receiver.statuses(f.guid) == [2, 120, 800] for f in filed))
    assert set(receiver.requests) == {"/v1/receipts/batch"}
    assert max(receiver.batch_sizes) <= 4 and sum(receiver.batch_sizes) == 18
    assert len(receiver.batch_sizes) < 18  # several receipts a request


async def test_a_receipt_customs_could_not_take_in_a_batch_is_posted_again(settings_for, receiver, keys):
    receiver.item_script = [503]  # the first receipt's item: customs busy; the request itself succeeds
    async with running_authority(settings_for(), receiver) as (client, gateway):
        filed = message("CEB621", keys)
        await gateway.file(filed)
        await eventually(lambda: receiver.statuses(filed.guid) == [2, 120, 800])

        async def all_delivered() -> list[dict] | None:
            rows = (await client.get("/v1/receipts", params={"guid": filed.guid})).json()
            return rows if {r["state"] for r in rows} == {"delivered"} else None

        planned = await eventually(all_delivered)
    assert planned[0]["attempts"] == 2 and planned[0]["last_error"] is None


async def test_with_a_batch_of_one_each_receipt_goes_alone_as_the_single_window_does(settings_for, receiver, keys):
    async with running_authority(settings_for(receipt_batch=1), receiver) as (_client, gateway):
        filed = message("CEB621", keys)
        await gateway.file(filed)
        await eventually(lambda: receiver.statuses(filed.guid) == [2, 120, 800])
    assert set(receiver.requests) == {"/v1/receipts"} and receiver.batch_sizes == []
