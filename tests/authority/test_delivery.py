"""Receipts reach customs in order, whatever customs does: down, failing, or the sandbox restarted mid-plan."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import httpx

from services.authority.delivery import documents
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


async def test_receipts_of_a_round_go_several_to_a_signed_document_and_each_is_settled(settings_for, receiver, keys):
    # The first record customs reads is answered 503 (busy): only that receipt is posted again (in its document,
    # byte for byte; customs finds the document's other records duplicates), every other one is taken once.
    receiver.item_script = [503]
    settings = settings_for(receipt_records=4, declaring_delay_s=0.3, accepted_delay_s=0.3, release_delay_s=0.3)
    async with running_authority(settings, receiver) as (client, gateway):
        filed = [message("CEB621", keys, declaration_id=f"dcl_doc{n}", order_id=f"ord_doc{n}") for n in range(6)]
        await asyncio.gather(*(gateway.file(each) for each in filed))
        await eventually(lambda: all(receiver.statuses(f.guid) == [2, 120, 800] for f in filed))

        async def all_delivered() -> list[dict] | None:
            rows = [row for f in filed for row in (await client.get("/v1/receipts", params={"guid": f.guid})).json()]
            return rows if {r["state"] for r in rows} == {"delivered"} else None

        planned = await eventually(all_delivered)
    assert receiver.documents and max(receiver.documents) <= 4  # documents of several records, at most 4
    assert sorted(r["attempts"] for r in planned) == [1] * 17 + [2]
    # Receipts signed together share their document's bytes; one retried went again in that very document.
    assert len({r["body"] for r in planned}) < len(planned)


def _row(n: int, declaration: str, receipt_type: str, body: bytes | None = None) -> SimpleNamespace:
    return SimpleNamespace(id=n, cop_no=declaration, case_guid=f"case-{n}", receipt_type=receipt_type, body=body)


def test_documents_group_receipts_by_type_and_keep_each_declarations_order():
    rows = [_row(1, "A", "CEB312"), _row(2, "A", "CEB622"), _row(3, "B", "CEB312"), _row(4, "B", "CEB622"),
            _row(5, "C", "CEB622"), _row(6, "D", "CUSRSP"), _row(7, "E", "CEB622")]
    made = documents(rows, size=10)
    # Three documents, not six: the orders' CEB312 first (A's and B's come before their CEB622), then every CEB622.
    assert [[row.id for row in document] for document in made] == [[1, 3], [2, 4, 5, 7], [6]]


def test_documents_hold_at_most_size_records_and_a_signed_document_goes_whole():
    rows = [_row(n, f"D{n}", "CEB622") for n in range(1, 8)]
    assert [len(document) for document in documents(rows, size=3)] == [3, 3, 1]
    assert [len(document) for document in documents(rows, size=1)] == [1] * 7
    signed = b"<CEB622Message .../>"
    retried = [_row(1, "A", "CEB622", signed), _row(2, "B", "CEB622"), _row(3, "C", "CEB622", signed)]
    assert [[row.id for row in document] for document in documents(retried, size=10)] == [[1, 3], [2]]


async def test_documents_of_several_left_waiting_are_signed_again_alone_for_the_single_endpoint(settings_for, receiver,
                                                                                               keys):
    # Customs answers nothing useful while the sandbox signs receipts several to a document; restarted with
    # RECEIPT_BATCH=1 (the single endpoint takes one record a document), those receipts still reach customs.
    settings = settings_for(receipt_records=4, declaring_delay_s=0.2)
    filed = [message("CEB621", keys, declaration_id=f"dcl_alone{n}", order_id=f"ord_alone{n}") for n in range(4)]
    receiver.script = [503] * 1000
    async with running_authority(settings, receiver) as (client, gateway):
        await asyncio.gather(*(gateway.file(each) for each in filed))

        async def signed_together() -> bool:
            rows = [row for f in filed for row in (await client.get("/v1/receipts", params={"guid": f.guid})).json()]
            bodies = [row["body"] for row in rows if row["body"]]
            return len(bodies) > len(set(bodies))  # two receipts, or more, in one signed document

        await eventually(signed_together)
    receiver.script = []
    async with running_authority(settings.model_copy(update={"receipt_batch": 1}), receiver) as (_client, _gateway):
        await eventually(lambda: all(receiver.statuses(f.guid) == [2, 120, 800] for f in filed))
    assert set(receiver.requests[-12:]) == {"/v1/receipts"} and "not_one_record" not in receiver.refused
