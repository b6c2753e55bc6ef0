"""The customs authority's receipts posted together (POST /v1/receipts/batch): each verified exactly as one posted
alone, the refused ones kept, the rest applied in one transaction in the order given.

Three receipts per filed message, each with its own request, signature check and transaction, made the receipt
endpoint the pipeline's bottleneck; a batch shares the request and the transaction, and its reads and writes are
set-based (one statement per kind for the whole batch, see _apply_together). A concurrent change of one of the
batch's declarations (a broker acting at the same moment: StaleBatch when the batch writes its versioned updates,
or StaleDeclaration) rolls the shared transaction back; the batch's receipts are then applied one transaction
each, with the single endpoint's retries, so one busy declaration cannot hold the others' receipts back.
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
    verify,
)
from services.customs.repository import DeclarationRepository
from services.customs.repository_batch import StaleBatch
from services.customs.repository_receipts import ReceiptRepository
from services.customs.schemas import ReceiptBatchAnswer, ReceiptBatchItem
from services.customs.service import CustomsConfig, StaleDeclaration, outbox_emitter
from shared.auth import Principal
from shared.batch import close_scope, open_scope
from shared.runtime import ServiceRuntime

log = structlog.get_logger()

Done = ReceiptOutcome | ReceiptProblem


async def receive_batch(runtime: ServiceRuntime, config: CustomsConfig, bodies: list[bytes], *,
                        principal: Principal) -> ReceiptBatchAnswer:
    """Verify each receipt, keep the refused ones, apply the others together; one result each, in order."""
    texts = [body.decode("utf-8", errors="replace") for body in bodies]
    verified = [verify(config, body) for body in bodies]
    refused = {i: v for i, v in enumerate(verified) if isinstance(v, ReceiptProblem)}
    if refused:
        await keep_refused(runtime, config, [(texts[i], problem) for i, problem in refused.items()],
                           key_id=principal.key_id)
    good = [(i, v) for i, v in enumerate(verified) if isinstance(v, ParsedReceipt)]
    done: dict[int, Done] = dict(refused)
    if good:
        try:
            done.update(await _apply_together(runtime, config, good, texts, key_id=principal.key_id))
        except (StaleDeclaration, StaleBatch) as stale:
            log.info("receipt.batch_split", receipts=len(good), reason=str(stale))
            for i, parsed in good:
                done[i] = await apply_alone(runtime, config, parsed, body=texts[i], key_id=principal.key_id)
    log.info("receipt.batch", receipts=len(bodies), refused=len(refused))
    return ReceiptBatchAnswer(results=[_item(done[i]) for i in range(len(bodies))])


async def _apply_together(runtime: ServiceRuntime, config: CustomsConfig, good: list[tuple[int, ParsedReceipt]],
                          texts: list[str], *, key_id: str | None) -> dict[int, Done]:
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
        messages = await reads.messages({parsed.guid for _, parsed in good})
        declarations = await reads.declarations({message.declaration_id for message in messages.values()})
        answered = await reads.answered({guid for guid, message in messages.items() if message.purpose != "declaration"})
        rows: list[dict] = []
        settled: list[tuple[int, Done | None]] = []  # per row: the receipt's index, its problem or None (kept)
        outcomes: dict[int, tuple[str, str, str]] = {}
        for i, parsed in good:
            now = config.now()
            message = messages.get(parsed.guid)
            if message is None:
                problem = unknown_message(parsed)
                rows.append(refused_row(config, texts[i], problem, key_id=key_id))
                settled.append((i, problem))
                continue
            declaration = declarations[message.declaration_id]
            outcome = await settle(repo, config, message, declaration, parsed, answered=answered, now=now, emit=emit)
            rows.append(kept_row(parsed, body=texts[i], key_id=key_id, now=now, declaration_id=declaration.id,
                                 outcome=outcome))
            settled.append((i, None))
            # The declaration as this receipt left it: a later receipt of the batch may move it on.
            outcomes[i] = (outcome, declaration.id, declaration.status)
        ids = await reads.add_receipts(rows)
        await close_scope(session)
    done: dict[int, Done] = {}
    for receipt_id, (i, problem) in zip(ids, settled, strict=True):
        done[i] = problem if problem is not None else ReceiptOutcome(receipt_id, *outcomes[i])
    return done


def _item(done: Done) -> ReceiptBatchItem:
    if isinstance(done, ReceiptProblem):
        return ReceiptBatchItem(status=done.status, code=done.code, detail=done.detail)
    return ReceiptBatchItem(status=200, receipt_id=done.receipt_id, outcome=done.outcome,
                            declaration_id=done.declaration_id, declaration_status=done.status)
