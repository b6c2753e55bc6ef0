"""The customs authority's receipts posted together (POST /v1/receipts/batch): each verified exactly as one posted
alone, the refused ones kept, the rest applied in one transaction in the order given.

Three receipts per filed message, each with its own request, signature check and transaction, made the receipt
endpoint the pipeline's bottleneck; a batch shares the request and the transaction, and its reads and writes are
set-based (one statement per kind for the whole batch, see _apply_together). A concurrent change of one of the
batch's declarations (a broker acting at the same moment: StaleBatch when the batch writes its versioned updates,
or StaleDeclaration) rolls the shared transaction back; the batch's receipts are then applied one transaction
each, with the single endpoint's retries, so one busy declaration cannot hold the others' receipts back.

A posted document may carry several records of its type under one signature (the authority answers several
messages at once, shared.ceb.receipts): its signature is checked once, each record is applied as a receipt of its
own, in order, and stored with the document it came in; its result lists one result per record.
"""

from __future__ import annotations

import structlog

from services.customs.receipts import (
    ParsedReceipt,
    ReceiptOutcome,
    ReceiptProblem,
    apply_alone,
    keep_refused,
    kept_row,
    refused_row,
    settle,
    unknown_message,
    verify_document,
)
from services.customs.repository import DeclarationRepository
from services.customs.repository_batch import StaleBatch
from services.customs.repository_receipts import ReceiptRepository
from services.customs.schemas import RECEIPT_RECORDS_MAX, ReceiptBatchAnswer, ReceiptBatchItem, ReceiptRecordItem
from services.customs.service import CustomsConfig, StaleDeclaration, outbox_emitter
from shared.auth import Principal
from shared.batch import close_scope, open_scope
from shared.errors import InvalidInput
from shared.runtime import ServiceRuntime

log = structlog.get_logger()

Done = ReceiptOutcome | ReceiptProblem


async def receive_batch(runtime: ServiceRuntime, config: CustomsConfig, bodies: list[bytes], *,
                        principal: Principal) -> ReceiptBatchAnswer:
    """Verify each document, keep the refused ones, apply the records of the others together; one result each,
    in order (with one per record for a document of several)."""
    texts = [body.decode("utf-8", errors="replace") for body in bodies]
    verified = [verify_document(config, body) for body in bodies]
    records = sum(len(v) for v in verified if not isinstance(v, ReceiptProblem))
    if records > RECEIPT_RECORDS_MAX:  # refused before anything is written
        raise InvalidInput(f"{records} receipt records in one request; at most {RECEIPT_RECORDS_MAX}",
                           code="receipt_batch_too_large", field="receipts")
    refused = {i: v for i, v in enumerate(verified) if isinstance(v, ReceiptProblem)}
    if refused:
        await keep_refused(runtime, config, [(texts[i], problem) for i, problem in refused.items()],
                           key_id=principal.key_id)
    # Each record keyed by its document and its place there; the records of one document share its text.
    good = [((i, j), parsed, texts[i]) for i, v in enumerate(verified) if not isinstance(v, ReceiptProblem)
            for j, parsed in enumerate(v)]
    done: dict[tuple[int, int], Done] = {}
    if good:
        try:
            done.update(await _apply_together(runtime, config, good, key_id=principal.key_id))
        except (StaleDeclaration, StaleBatch) as stale:
            log.info("receipt.batch_split", receipts=len(good), reason=str(stale))
            for key, parsed, text in good:
                done[key] = await apply_alone(runtime, config, parsed, body=text, key_id=principal.key_id)
    log.info("receipt.batch", documents=len(bodies), receipts=records, refused=len(refused))
    results = []
    for i, v in enumerate(verified):
        if isinstance(v, ReceiptProblem):
            results.append(_item(v))
        elif len(v) == 1:
            results.append(_item(done[i, 0]))
        else:
            results.append(_document_item([(parsed.guid, done[i, j]) for j, parsed in enumerate(v)]))
    return ReceiptBatchAnswer(results=results)


async def _apply_together(runtime: ServiceRuntime, config: CustomsConfig,
                          good: list[tuple[tuple[int, int], ParsedReceipt, str]], *,
                          key_id: str | None) -> dict[tuple[int, int], Done]:
    """Every verified receipt in one transaction, in the order given (a declaration's receipts one after the
    other, each ranked against the last); one for an unknown message is kept as refused in the same transaction.

    Set-based: the batch's messages, their declarations and the answers they had are read in one statement each,
    and what the receipts write is held and written together (shared.batch's scope, as in a consumer batch): the
    audit entries and events in one insert each, the declarations' versioned UPDATEs in one executemany (a row
    changed meanwhile raises StaleBatch there), the receipts in one insert at the end, in the order given."""
    async with runtime.db.transaction() as session:
        open_scope(session, ())
        repo, reads = DeclarationRepository(session), ReceiptRepository(session)
        emit = outbox_emitter(runtime.outbox, session)
        messages = await reads.messages({parsed.guid for _, parsed, _ in good})
        declarations = await reads.declarations({message.declaration_id for message in messages.values()})
        answered = await reads.answered({guid for guid, message in messages.items() if message.purpose != "declaration"})
        rows: list[dict] = []
        settled: list[tuple[tuple[int, int], Done | None]] = []  # per row: the receipt's key, its problem or None
        outcomes: dict[tuple[int, int], tuple[str, str, str]] = {}
        for key, parsed, text in good:
            now = config.now()
            message = messages.get(parsed.guid)
            if message is None:
                problem = unknown_message(parsed)
                rows.append(refused_row(config, text, problem, key_id=key_id))
                settled.append((key, problem))
                continue
            declaration = declarations[message.declaration_id]
            outcome = await settle(repo, config, message, declaration, parsed, answered=answered, now=now, emit=emit)
            rows.append(kept_row(parsed, body=text, key_id=key_id, now=now, declaration_id=declaration.id,
                                 outcome=outcome))
            settled.append((key, None))
            # The declaration as this receipt left it: a later receipt of the batch may move it on.
            outcomes[key] = (outcome, declaration.id, declaration.status)
        ids = await reads.add_receipts(rows)
        await close_scope(session)
    done: dict[tuple[int, int], Done] = {}
    for receipt_id, (key, problem) in zip(ids, settled, strict=True):
        done[key] = problem if problem is not None else ReceiptOutcome(receipt_id, *outcomes[key])
    return done


def _document_item(records: list[tuple[str, Done]]) -> ReceiptBatchItem:
    """A document of several records: 200 when customs took every record, else the first refusal's status and
    code; one result per record, in the document's order, each naming the message it answers."""
    items = [ReceiptRecordItem(guid=guid, **_result(done)) for guid, done in records]
    first_refusal = next((item for item in items if not 200 <= item.status < 300), None)
    if first_refusal is None:
        return ReceiptBatchItem(status=200, records=items)
    return ReceiptBatchItem(status=first_refusal.status, code=first_refusal.code,
                            detail=f"{sum(not 200 <= item.status < 300 for item in items)} of {len(items)} records "
                                   f"not taken; the first: {first_refusal.detail}", records=items)


def _item(done: Done) -> ReceiptBatchItem:
    return ReceiptBatchItem(**_result(done))


def _result(done: Done) -> dict:
    """What a receipt did, as the fields of its result (a record's built from them directly: building the
    document's item and dumping it again cost a model and a dump per record)."""
    if isinstance(done, ReceiptProblem):
        return {"status": done.status, "code": done.code, "detail": done.detail}
    return {"status": 200, "receipt_id": done.receipt_id, "outcome": done.outcome,
            "declaration_id": done.declaration_id, "declaration_status": done.status}
