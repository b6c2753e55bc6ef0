"""Receipt documents of several records (one signature over several answers, as the schema allows and the sandbox
authority sends them): POST /v1/receipts/batch applies each record as a receipt of its own; nothing in such a
document is taken unless its one signature verifies."""

from __future__ import annotations

import base64
from datetime import timedelta
from types import SimpleNamespace

from sqlalchemy import func, select

from services.customs.models import Receipt
from shared.ceb.fields import new_guid
from tests.customs.events import mail, new_order_id
from tests.customs.test_receipts_batch import _send_batch


async def _post_batch(customs, bodies):
    if customs._authority_headers is None:
        customs._authority_headers = await customs.key("authority", "customs-authority")
    return await customs.client.post("/v1/receipts/batch", headers=customs._authority_headers,
                                     json={"receipts": [base64.b64encode(body).decode() for body in bodies]})


async def _stored(customs) -> list[Receipt]:
    async with customs.runtime.db.reader() as session:
        return list((await session.execute(select(Receipt).order_by(Receipt.id))).scalars())


async def _filings(customs, count: int):
    declarations = [await customs.file(mail(new_order_id())) for _ in range(count)]
    return declarations, [(await customs.messages(d.id))[0] for d in declarations]


async def test_each_record_of_a_document_is_a_receipt_of_its_own(customs):
    declarations, filings = await _filings(customs, 3)
    start = customs.config.now()
    accepted = customs.receipts_document([(filing, 120) for filing in filings], at=start)
    released = customs.receipts_document([(filing, 800) for filing in filings], at=start + timedelta(seconds=1))
    results = await _send_batch(customs, [accepted, released])
    assert [r["status"] for r in results] == [200, 200]
    assert [[record["guid"] for record in r["records"]] for r in results] == [[f.guid for f in filings]] * 2
    assert [record["declaration_status"] for record in results[1]["records"]] == ["released"] * 3
    for declaration in declarations:
        assert (await customs.reload(declaration.id)).status == "released"
    stored = await _stored(customs)
    assert [(r.message_guid, r.outcome) for r in stored] == \
        [(f.guid, "applied") for f in filings] + [(f.guid, "applied") for f in filings]
    # Each record's receipt is kept with the signed document it came in, served as received.
    assert {r.body for r in stored[:3]} == {accepted.decode()} and {r.body for r in stored[3:]} == {released.decode()}
    raw = await customs.client.get(f"/v1/receipts/{stored[4].id}", headers=await customs.key("ops", "ops"))
    assert raw.status_code == 200 and raw.content == released
    # The same document again: every record a duplicate, nothing moves.
    again = await _send_batch(customs, [released])
    assert [record["outcome"] for record in again[0]["records"]] == ["duplicate"] * 3


async def test_a_record_answering_an_unknown_message_is_refused_alone(customs):
    declarations, [filing] = await _filings(customs, 1)
    stranger = SimpleNamespace(message_type=filing.message_type, guid=new_guid(), declaration_id="dcl_nobody")
    [result] = await _send_batch(customs, [customs.receipts_document([(filing, 120), (stranger, 120)])])
    assert (result["status"], result["code"]) == (404, "receipt_unknown_message")
    assert [(r["guid"], r["status"]) for r in result["records"]] == [(filing.guid, 200), (stranger.guid, 404)]
    assert (await customs.reload(declarations[0].id)).status == "accepted"
    assert [(r.message_guid, r.outcome) for r in await _stored(customs)] == \
        [(filing.guid, "applied"), (stranger.guid, "refused")]


async def test_a_tampered_document_is_refused_whole_and_kept_once(customs):
    declarations, filings = await _filings(customs, 2)
    document = customs.receipts_document([(filing, 800) for filing in filings])
    forged = document.replace(b"status 800", b"status 80O", 1)  # one record's text changed after signing
    [result] = await _send_batch(customs, [forged])
    assert (result["status"], result["code"]) == (422, "receipt_signature_invalid") and "records" not in result
    for declaration in declarations:
        assert (await customs.reload(declaration.id)).status != "released"
    [kept] = await _stored(customs)
    assert (kept.outcome, kept.body) == ("refused", forged.decode())


async def test_the_single_endpoint_takes_a_document_of_one_record(customs):
    declarations, filings = await _filings(customs, 2)
    response = await customs.send_receipt(customs.receipts_document([(filing, 800) for filing in filings]))
    assert response.status_code == 422 and response.json()["code"] == "receipt_malformed"
    assert "one receipt per document" in response.json()["detail"]
    for declaration in declarations:
        assert (await customs.reload(declaration.id)).status != "released"


async def test_more_records_than_a_request_may_carry_are_refused_before_anything_is_written(customs):
    strangers = [SimpleNamespace(message_type="CUSITM", guid=new_guid(), declaration_id="dcl_nobody")
                 for _ in range(100)]
    document = customs.receipts_document([(stranger, 120) for stranger in strangers])
    response = await _post_batch(customs, [document] * 10 + [customs.receipts_document([(strangers[0], 800)])])
    assert response.status_code == 422
    assert (response.json()["code"], response.json()["field"]) == ("receipt_batch_too_large", "receipts")
    async with customs.runtime.db.reader() as session:
        assert await session.scalar(select(func.count()).select_from(Receipt)) == 0
