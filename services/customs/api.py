"""HTTP endpoints of the customs service: the brokers' work queue and actions, the messages filed with the
customs authority, and the authority's receipts.

Keys of role `broker` read and act; `ops` keys may read; the `authority` key posts receipts. Every write runs in
one transaction with the events it publishes (outbox); the audit trail has no write endpoint at all. No broker
endpoint releases goods: the customs authority does, by its receipts (CEB 800).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Path, Query, Request, Response

from services.customs import broker_actions, brokers, receipts, receipts_batch
from services.customs.repository import DeclarationRepository, QueueFilters
from services.customs.repository_exchange import ExchangeRepository
from services.customs.schemas import (
    AmendBody,
    AnswerBody,
    AuditTrail,
    CancelBody,
    DeclarationDetail,
    DeclarationPage,
    DeclarationSummary,
    FileBody,
    InspectionBody,
    MessageList,
    ReceiptAnswer,
    ReceiptBatchAnswer,
    ReceiptBatchBody,
    RejectBody,
    RequestDocumentsBody,
)
from services.customs.service import CustomsConfig, outbox_emitter
from shared.auth import Principal, require_roles
from shared.contract.events import CustomsStatus, Lane
from shared.contract.parcel import Channel
from shared.errors import Gone, NotFound
from shared.runtime import ServiceRuntime

router = APIRouter(prefix="/v1", tags=["declarations"])

Reader = Annotated[Principal, Depends(require_roles("broker", "ops"))]
Broker = Annotated[Principal, Depends(require_roles("broker"))]
Authority = Annotated[Principal, Depends(require_roles("authority"))]
DeclarationId = Annotated[str, Path(min_length=1, max_length=64, examples=["dcl_3f2a9c0e5b7d41e8a6c2f1b0"])]
Guid = Annotated[str, Path(min_length=36, max_length=36, pattern=r"^[0-9A-F-]{36}$",
                           examples=["8C1E2A50-3B7D-4F0A-9E61-2D5C7B9A1F03"])]

_ERRORS = {
    401: {"description": "Missing or unknown API key"},
    403: {"description": "The key's role may not do this"},
    404: {"description": "No such declaration (code declaration_not_found)"},
}
_ACTION_ERRORS = {
    **_ERRORS,
    409: {"description": "claim_required, declaration_claimed, transition_not_allowed (names the current status), "
                         "concurrent_update, filing_blocked (names the findings that stop it), documents_missing, "
                         "already_answered"},
    422: {"description": "Invalid body; names the field"},
}


def _runtime(request: Request) -> ServiceRuntime:
    return request.app.state.runtime


def _config(request: Request) -> CustomsConfig:
    return _runtime(request).extras["customs"]


# ── the queue and one declaration ─────────────────────────────────────────


@router.get("/declarations", response_model=DeclarationPage, responses=_ERRORS,
            summary="The work queue: what needs a broker, green lane first, then oldest first")
async def list_declarations(
    request: Request,
    principal: Reader,
    status: Annotated[CustomsStatus | None, Query(description="Only this status, e.g. held")] = None,
    channel: Annotated[Channel | None, Query()] = None,
    lane: Annotated[Lane | None, Query()] = None,
    needs_broker: Annotated[bool | None, Query(description="true: only what waits for a broker (the queue); "
                                                           "false: only what waits for others")] = None,
    order_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    merchant_order_no: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    tracking_number: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    claimed_by_me: Annotated[bool, Query(description="Only declarations this broker holds")] = False,
    waited_minutes: Annotated[int | None, Query(ge=0, le=525600,
                                                description="Only those opened at least this long ago")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    starting_after: Annotated[str | None, Query(max_length=512, description="next_cursor of the previous page")] = None,
) -> DeclarationPage:
    config = _config(request)
    now = config.now()
    filters = QueueFilters(status=status, channel=channel, lane=lane, needs_broker=needs_broker, order_id=order_id,
                           merchant_order_no=merchant_order_no, tracking_number=tracking_number,
                           claimed_by=principal.owner if claimed_by_me else None, now=now,
                           opened_before=now - timedelta(minutes=waited_minutes) if waited_minutes else None)
    async with _runtime(request).db.reader() as session:
        return await brokers.work_queue(DeclarationRepository(session), config, filters=filters,
                                        starting_after=starting_after, limit=limit)


@router.get("/declarations/{declaration_id}", response_model=DeclarationDetail, responses=_ERRORS,
            summary="One declaration: lines, documents, findings, messages filed, receipts, history")
async def get_declaration(request: Request, declaration_id: DeclarationId, _principal: Reader) -> DeclarationDetail:
    async with _runtime(request).db.reader() as session:
        return await brokers.declaration_detail(DeclarationRepository(session), _config(request), declaration_id)


@router.get("/declarations/{declaration_id}/audit", response_model=AuditTrail, responses=_ERRORS,
            summary="The declaration's audit trail (append-only)")
async def get_audit_trail(request: Request, declaration_id: DeclarationId, _principal: Reader) -> AuditTrail:
    async with _runtime(request).db.reader() as session:
        return await brokers.audit_trail(DeclarationRepository(session), declaration_id)


@router.get("/declarations/{declaration_id}/messages", response_model=MessageList, responses=_ERRORS,
            summary="The messages filed for the declaration and the authority's receipts")
async def list_messages(request: Request, declaration_id: DeclarationId, _principal: Reader) -> MessageList:
    async with _runtime(request).db.reader() as session:
        return await brokers.message_list(DeclarationRepository(session), declaration_id)


@router.get("/messages/{guid}", responses={
    **_ERRORS, 200: {"description": "The message exactly as filed (signed XML, or the JSON message)",
                     "content": {"application/xml": {"schema": {"type": "string"}},
                                 "application/json": {"schema": {"type": "object"}}}}},
    response_class=Response, summary="A message exactly as filed with the authority")
async def get_message(request: Request, guid: Guid, _principal: Reader) -> Response:
    async with _runtime(request).db.reader() as session:
        message = await ExchangeRepository(session).message(guid)
    if message is None:
        raise NotFound(f"No message {guid}", code="message_not_found")
    headers = {"Silkgate-Message-Type": message.message_type}
    if message.signature:
        headers["Silkgate-Signature"] = message.signature
    return Response(message.body, media_type=message.content_type, headers=headers)


@router.get("/receipts/{receipt_id}", responses={
    **_ERRORS, 200: {"description": "The receipt exactly as received",
                     "content": {"application/xml": {"schema": {"type": "string"}}}}},
    response_class=Response, summary="A receipt exactly as the authority sent it")
async def get_receipt(request: Request, receipt_id: Annotated[int, Path(ge=1, le=2**62)],
                      _principal: Reader) -> Response:
    async with _runtime(request).db.reader() as session:
        receipt = await ExchangeRepository(session).receipt(receipt_id)
    if receipt is None:
        raise NotFound(f"No receipt {receipt_id}", code="receipt_not_found")
    return Response(receipt.body, media_type="application/xml",
                    headers={"Silkgate-Receipt-Outcome": receipt.outcome})


# ── claims ────────────────────────────────────────────────────────────────


@router.post("/declarations/{declaration_id}/claim", response_model=DeclarationSummary, responses=_ACTION_ERRORS,
             summary="Claim the declaration (one broker at a time; the claim lapses after the TTL)")
async def claim_declaration(request: Request, declaration_id: DeclarationId, principal: Broker) -> DeclarationSummary:
    structlog.contextvars.bind_contextvars(declaration_id=declaration_id)
    async with _runtime(request).db.transaction() as session:
        return await brokers.claim(DeclarationRepository(session), _config(request), declaration_id, principal)


@router.delete("/declarations/{declaration_id}/claim", response_model=DeclarationSummary,
               responses=_ACTION_ERRORS, summary="Give a claimed declaration back to the queue")
async def unclaim_declaration(request: Request, declaration_id: DeclarationId,
                              principal: Broker) -> DeclarationSummary:
    structlog.contextvars.bind_contextvars(declaration_id=declaration_id)
    async with _runtime(request).db.transaction() as session:
        return await brokers.unclaim(DeclarationRepository(session), _config(request), declaration_id, principal)


# ── actions ───────────────────────────────────────────────────────────────


async def _act(request: Request, declaration_id: str, action: Any, **kwargs: Any) -> DeclarationSummary:
    structlog.contextvars.bind_contextvars(declaration_id=declaration_id)
    runtime = _runtime(request)
    async with runtime.db.transaction() as session:
        return await action(DeclarationRepository(session), _config(request), declaration_id, **kwargs)


@router.post("/declarations/{declaration_id}/amend", response_model=DeclarationSummary, responses=_ACTION_ERRORS,
             summary="Correct lines (HS code, description, quantity, values) before filing")
async def amend_declaration(request: Request, declaration_id: DeclarationId, body: AmendBody,
                            principal: Broker) -> DeclarationSummary:
    return await _act(request, declaration_id, broker_actions.amend, principal=principal, body=body)


@router.post("/declarations/{declaration_id}/file", response_model=DeclarationSummary, responses=_ACTION_ERRORS,
             summary="File with the customs authority (again, as a change, after its rejection)")
async def file_declaration(request: Request, declaration_id: DeclarationId, body: FileBody,
                           principal: Broker) -> DeclarationSummary:
    return await _with_outbox(request, declaration_id, broker_actions.file, principal=principal, body=body)


@router.post("/declarations/{declaration_id}/request-documents", response_model=DeclarationSummary,
             responses=_ACTION_ERRORS, summary="Ask the parties again for missing documents (a new deadline)")
async def request_documents(request: Request, declaration_id: DeclarationId, body: RequestDocumentsBody,
                            principal: Broker) -> DeclarationSummary:
    return await _with_outbox(request, declaration_id, broker_actions.request_documents, principal=principal,
                              body=body)


@router.post("/declarations/{declaration_id}/answer", response_model=DeclarationSummary, responses=_ACTION_ERRORS,
             summary="Answer the authority's manual review (CEB 300) or detention")
async def answer_authority(request: Request, declaration_id: DeclarationId, body: AnswerBody,
                           principal: Broker) -> DeclarationSummary:
    return await _act(request, declaration_id, broker_actions.answer, principal=principal, body=body)


@router.post("/declarations/{declaration_id}/inspection", response_model=DeclarationSummary,
             responses=_ACTION_ERRORS, summary="Record attendance and outcome of the authority's inspection (CEB 500)")
async def record_inspection(request: Request, declaration_id: DeclarationId, body: InspectionBody,
                            principal: Broker) -> DeclarationSummary:
    return await _act(request, declaration_id, broker_actions.record_inspection, principal=principal, body=body)


@router.post("/declarations/{declaration_id}/reject", response_model=DeclarationSummary, responses=_ACTION_ERRORS,
             summary="Reject for good: not filed (again); the order is rejected")
async def reject_declaration(request: Request, declaration_id: DeclarationId, body: RejectBody,
                             principal: Broker) -> DeclarationSummary:
    return await _with_outbox(request, declaration_id, broker_actions.reject_declaration, principal=principal,
                              body=body)


@router.post("/declarations/{declaration_id}/cancel", response_model=DeclarationSummary, responses=_ACTION_ERRORS,
             summary="Cancel a declaration that cannot go ahead (before filing)")
async def cancel_declaration(request: Request, declaration_id: DeclarationId, body: CancelBody,
                             principal: Broker) -> DeclarationSummary:
    return await _with_outbox(request, declaration_id, broker_actions.cancel, principal=principal, body=body)


async def _with_outbox(request: Request, declaration_id: str, action: Any, **kwargs: Any) -> DeclarationSummary:
    structlog.contextvars.bind_contextvars(declaration_id=declaration_id)
    runtime = _runtime(request)
    async with runtime.db.transaction() as session:
        return await action(DeclarationRepository(session), _config(request), declaration_id,
                            emit=outbox_emitter(runtime.outbox, session), **kwargs)


_GONE = {410: {"description": "Removed: only the customs authority releases, inspects or detains goods "
                              "(code broker_decision_removed); see the answer's `instead`"}}


@router.post("/declarations/{declaration_id}/release", deprecated=True, responses={**_ERRORS, **_GONE},
             status_code=410, summary="Removed: the customs authority releases (CEB 800), not a broker")
async def release_removed(declaration_id: DeclarationId, _principal: Broker) -> None:
    raise _gone(declaration_id, "release", "file the declaration; the authority's 800 receipt releases it")


@router.post("/declarations/{declaration_id}/inspect", deprecated=True, responses={**_ERRORS, **_GONE},
             status_code=410, summary="Removed: the customs authority orders inspections (CEB 500)")
async def inspect_removed(declaration_id: DeclarationId, _principal: Broker) -> None:
    raise _gone(declaration_id, "inspect", "the authority's 500 receipt asks for an inspection; record it with "
                                           "POST /v1/declarations/{id}/inspection")


@router.post("/declarations/{declaration_id}/detain", deprecated=True, responses={**_ERRORS, **_GONE},
             status_code=410, summary="Removed: the customs authority detains goods (CEB 501–599)")
async def detain_removed(declaration_id: DeclarationId, _principal: Broker) -> None:
    raise _gone(declaration_id, "detain", "the authority's 5xx receipt detains; answer it with "
                                          "POST /v1/declarations/{id}/answer")


@router.post("/declarations/{declaration_id}/inspection-result", deprecated=True, responses={**_ERRORS, **_GONE},
             status_code=410, summary="Removed: record the inspection with POST …/inspection")
async def inspection_result_removed(declaration_id: DeclarationId, _principal: Broker) -> None:
    raise _gone(declaration_id, "inspection-result", "POST /v1/declarations/{id}/inspection")


def _gone(declaration_id: str, action: str, instead: str) -> Gone:
    return Gone(f"Brokers no longer {action.replace('-', ' ')} declarations: the customs authority decides",
                code="broker_decision_removed", extra={"instead": instead.replace("{id}", declaration_id)})


# ── the authority's receipts ──────────────────────────────────────────────


@router.post("/receipts", response_model=ReceiptAnswer, tags=["receipts"], responses={
    401: {"description": "Missing or unknown API key"},
    403: {"description": "Not the customs authority's key"},
    404: {"description": "The receipt answers no message silkgate filed (code receipt_unknown_message)"},
    422: {"description": "Malformed, unsigned or badly signed receipt (codes receipt_malformed, "
                         "receipt_signature_invalid); it is kept all the same"},
}, openapi_extra={"requestBody": {"required": True, "content": {"application/xml": {"schema": {"type": "string"}}}}},
    summary="A receipt from the customs authority (signed XML: CEB312, CEB622, CEB604 …, CUSRSP)")
async def post_receipt(request: Request, principal: Authority) -> ReceiptAnswer:
    body = await request.body()
    return await receipts.receive(_runtime(request), _config(request), body, principal=principal)


def _problem_example(status: int, code: str, detail: str, **extra: str) -> dict[str, Any]:
    return {"content": {"application/problem+json": {"example": {
        "type": f"https://silkgate.dev/problems/{code}", "status": status, "code": code, "detail": detail,
        "instance": "/v1/receipts/batch", **extra}}}}


@router.post("/receipts/batch", response_model=ReceiptBatchAnswer, response_model_exclude_none=True,
             tags=["receipts"], responses={
    200: {"description": "One result per receipt, in the order posted; each `status` is what POST /v1/receipts "
                         "would have answered for it (refused ones are kept all the same)",
          "content": {"application/json": {"example": {"results": [
              {"status": 200, "receipt_id": 4711, "outcome": "applied",
               "declaration_id": "dcl_3f2a9c0e5b7d41e8a6c2f1b0", "declaration_status": "accepted"},
              {"status": 200, "receipt_id": 4712, "outcome": "applied",
               "declaration_id": "dcl_3f2a9c0e5b7d41e8a6c2f1b0", "declaration_status": "released"},
              {"status": 422, "code": "receipt_signature_invalid",
               "detail": "The receipt's signature does not verify: digest mismatch"},
              {"status": 404, "code": "receipt_unknown_message",
               "detail": "The receipt answers message 0000000-…, which silkgate never filed"},
              {"status": 503, "code": "receipt_busy",
               "detail": "The declaration kept changing while the receipt was applied; send it again"},
              {"status": 200, "records": [
                  {"guid": "9F1C2D3E-4B5A-4C6D-8E7F-0A1B2C3D4E5F", "status": 200, "receipt_id": 4713,
                   "outcome": "applied", "declaration_id": "dcl_5d0b7e2a9c4f41a3b8e6d2c1",
                   "declaration_status": "accepted"},
                  {"guid": "0A1B2C3D-4E5F-4A6B-9C7D-8E9F0A1B2C3D", "status": 200, "receipt_id": 4714,
                   "outcome": "applied", "declaration_id": "dcl_8a3c1f6e2b9d47c0a5e4b3d2",
                   "declaration_status": "released"}]}]}}}},
    401: {"description": "Missing or unknown API key",
          **_problem_example(401, "api_key_invalid", "Missing or unknown API key")},
    403: {"description": "Not the customs authority's key",
          **_problem_example(403, "role_not_allowed", "This key's role (broker) may not do this")},
    422: {"description": "Invalid body (not JSON, no receipts, more than 100, an item not base64), or more than "
                         "1,000 records in all (code receipt_batch_too_large, nothing applied); names the field",
          **_problem_example(422, "value_error", "Value error, not base64 (RFC 4648, standard alphabet, padded)",
                             field="receipts[3]")},
    503: {"description": "The authority's certificate is not configured (code authority_certificate_missing) or "
                         "the database is unavailable; nothing was applied",
          **_problem_example(503, "authority_certificate_missing", "The customs authority's certificate is not "
                                                                   "configured: receipts cannot be verified")},
}, summary="Up to 100 receipt documents from the customs authority at once (base64 of each signed XML), applied "
            "in order")
async def post_receipt_batch(request: Request, body: ReceiptBatchBody, principal: Authority) -> ReceiptBatchAnswer:
    """Each document is verified as POST /v1/receipts verifies one; the records of the good ones are applied in one
    transaction, in the order given (a declaration's receipts in the batch one after the other). A document may
    carry several records of one receipt type under its one signature (e.g. a CEB622Message with several
    InventoryReturn): each record is a receipt of its own, kept with the document as its body, and the document's
    result lists one result per record. A concurrent change of one of their declarations makes the batch fall back
    to one transaction per receipt."""
    return await receipts_batch.receive_batch(_runtime(request), _config(request),
                                              body.signed(), principal=principal)
