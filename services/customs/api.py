"""HTTP endpoints of the customs service: the brokers' work queue, claims, decisions and the audit trail.

Keys of role `broker` read and decide; `ops` keys may read. Every write runs in one transaction with the
events it publishes (outbox); the audit trail has no write endpoint at all.
"""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Path, Query, Request

from services.customs import brokers
from services.customs.repository import DeclarationRepository
from services.customs.schemas import (
    AuditTrail,
    DecisionBody,
    DeclarationDetail,
    DeclarationPage,
    DeclarationSummary,
    DetainBody,
    InspectionResultBody,
)
from services.customs.service import CustomsConfig, outbox_emitter
from shared.auth import Principal, require_roles
from shared.contract.events import CustomsStatus, Lane
from shared.contract.parcel import Channel
from shared.runtime import ServiceRuntime

router = APIRouter(prefix="/v1", tags=["declarations"])

Reader = Annotated[Principal, Depends(require_roles("broker", "ops"))]
Broker = Annotated[Principal, Depends(require_roles("broker"))]
DeclarationId = Annotated[str, Path(min_length=1, max_length=64, examples=["dcl_3f2a9c0e5b7d41e8a6c2f1b0"])]

_ERRORS = {
    401: {"description": "Missing or unknown API key"},
    403: {"description": "The key's role may not do this"},
    404: {"description": "No such declaration (code declaration_not_found)"},
}
_DECISION_ERRORS = {
    **_ERRORS,
    409: {"description": "claim_required, declaration_claimed, transition_not_allowed (names the current status) "
                         "or concurrent_update"},
    422: {"description": "Invalid body; names the field"},
}


def _runtime(request: Request) -> ServiceRuntime:
    return request.app.state.runtime


def _config(request: Request) -> CustomsConfig:
    return _runtime(request).extras["customs"]


@router.get("/declarations", response_model=DeclarationPage, responses=_ERRORS,
            summary="The work queue: green lane first, then oldest first")
async def list_declarations(
    request: Request,
    _principal: Reader,
    status: Annotated[CustomsStatus | None, Query(description="Only this status, e.g. manual_review")] = None,
    channel: Annotated[Channel | None, Query()] = None,
    lane: Annotated[Lane | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    starting_after: Annotated[str | None, Query(max_length=512, description="next_cursor of the previous page")] = None,
) -> DeclarationPage:
    async with _runtime(request).db.reader() as session:
        return await brokers.work_queue(DeclarationRepository(session), _config(request), status=status,
                                        channel=channel, lane=lane, starting_after=starting_after, limit=limit)


@router.get("/declarations/{declaration_id}", response_model=DeclarationDetail, responses=_ERRORS,
            summary="One declaration with its lines, documents, findings and history")
async def get_declaration(request: Request, declaration_id: DeclarationId, _principal: Reader) -> DeclarationDetail:
    async with _runtime(request).db.reader() as session:
        return await brokers.declaration_detail(DeclarationRepository(session), _config(request), declaration_id)


@router.get("/declarations/{declaration_id}/audit", response_model=AuditTrail, responses=_ERRORS,
            summary="The declaration's audit trail (append-only)")
async def get_audit_trail(request: Request, declaration_id: DeclarationId, _principal: Reader) -> AuditTrail:
    async with _runtime(request).db.reader() as session:
        return await brokers.audit_trail(DeclarationRepository(session), declaration_id)


@router.post("/declarations/{declaration_id}/claim", response_model=DeclarationSummary, responses=_DECISION_ERRORS,
             summary="Claim the declaration (one broker at a time; the claim lapses after the TTL)")
async def claim_declaration(request: Request, declaration_id: DeclarationId, principal: Broker) -> DeclarationSummary:
    structlog.contextvars.bind_contextvars(declaration_id=declaration_id)
    async with _runtime(request).db.transaction() as session:
        return await brokers.claim(DeclarationRepository(session), _config(request), declaration_id, principal)


@router.delete("/declarations/{declaration_id}/claim", response_model=DeclarationSummary,
               responses=_DECISION_ERRORS, summary="Give a claimed declaration back to the queue")
async def unclaim_declaration(request: Request, declaration_id: DeclarationId,
                              principal: Broker) -> DeclarationSummary:
    structlog.contextvars.bind_contextvars(declaration_id=declaration_id)
    async with _runtime(request).db.transaction() as session:
        return await brokers.unclaim(DeclarationRepository(session), _config(request), declaration_id, principal)


async def _decide(request: Request, declaration_id: str, principal: Principal, action: str, body: DecisionBody,
                  detention_code: int | None = None) -> DeclarationSummary:
    structlog.contextvars.bind_contextvars(declaration_id=declaration_id)
    runtime = _runtime(request)
    async with runtime.db.transaction() as session:
        return await brokers.decide(DeclarationRepository(session), _config(request), declaration_id, principal,
                                    action=action, body=body, emit=outbox_emitter(runtime.outbox, session),
                                    detention_code=detention_code)


@router.post("/declarations/{declaration_id}/release", response_model=DeclarationSummary,
             responses=_DECISION_ERRORS, summary="Release the goods (CEB 800)")
async def release_declaration(request: Request, declaration_id: DeclarationId, body: DecisionBody,
                              principal: Broker) -> DeclarationSummary:
    return await _decide(request, declaration_id, principal, "release", body)


@router.post("/declarations/{declaration_id}/reject", response_model=DeclarationSummary,
             responses=_DECISION_ERRORS, summary="Reject the declaration (CEB 100)")
async def reject_declaration(request: Request, declaration_id: DeclarationId, body: DecisionBody,
                             principal: Broker) -> DeclarationSummary:
    return await _decide(request, declaration_id, principal, "reject", body)


@router.post("/declarations/{declaration_id}/inspect", response_model=DeclarationSummary,
             responses=_DECISION_ERRORS, summary="Order a physical inspection (CEB 500)")
async def inspect_declaration(request: Request, declaration_id: DeclarationId, body: DecisionBody,
                              principal: Broker) -> DeclarationSummary:
    return await _decide(request, declaration_id, principal, "inspect", body)


@router.post("/declarations/{declaration_id}/detain", response_model=DeclarationSummary,
             responses=_DECISION_ERRORS, summary="Detain the goods (CEB 501–599)")
async def detain_declaration(request: Request, declaration_id: DeclarationId, body: DetainBody,
                             principal: Broker) -> DeclarationSummary:
    return await _decide(request, declaration_id, principal, "detain", body, detention_code=body.detention_code)


@router.post("/declarations/{declaration_id}/inspection-result", response_model=DeclarationSummary,
             responses=_DECISION_ERRORS, summary="Record the inspection's outcome (review concluded, CEB 399)")
async def record_inspection_result(request: Request, declaration_id: DeclarationId, body: InspectionResultBody,
                                   principal: Broker) -> DeclarationSummary:
    structlog.contextvars.bind_contextvars(declaration_id=declaration_id)
    runtime = _runtime(request)
    async with runtime.db.transaction() as session:
        return await brokers.record_inspection_result(DeclarationRepository(session), _config(request),
                                                      declaration_id, principal, body=body,
                                                      emit=outbox_emitter(runtime.outbox, session))
