"""HTTP endpoints of the sandbox authority: take messages; show what it received and what it sent."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from services.authority import repository
from services.authority.schemas import (
    Acknowledgement,
    MessageDetail,
    MessageSummary,
    ReceiptSummary,
    TransportMessage,
)
from shared.auth import bearer_key
from shared.errors import NotFound, Unauthorized

router = APIRouter(prefix="/v1", tags=["sandbox customs authority"])
PROBLEM = {"content": {"application/problem+json": {}}}


def _check_key(request: Request) -> None:
    expected = request.app.state.settings.filer_api_key
    if expected and bearer_key(request) != expected:
        raise Unauthorized("Unknown API key", code="api_key_invalid")


@router.post(
    "/messages", response_model=Acknowledgement, summary="File a message (the §11 transport envelope)",
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/json": {"schema": TransportMessage.model_json_schema()}}}},
    responses={400: {**PROBLEM, "description": "the envelope cannot be read"},
               409: {**PROBLEM, "description": "MessageId reused for other bytes, or an answer nobody asked for"},
               422: {**PROBLEM, "description": "bad signature, schema or content (the message is kept)"}},
)
async def post_message(request: Request) -> JSONResponse:
    """Takes one message: checks the envelope, the signature (with the filer's certificate) and the XSD or JSON
    model, keeps it, and plans its receipts. The same MessageId again gets the same answer, nothing more."""
    _check_key(request)
    raw = await request.body()
    answer = await request.app.state.intake.receive(raw)
    return JSONResponse(answer.body, status_code=answer.status, media_type=answer.media_type)


@router.get("/messages", response_model=list[MessageSummary], summary="Messages received, newest first")
async def list_messages(request: Request, cop_no: str | None = None,
                        result: Literal["accepted", "refused"] | None = None,
                        limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[MessageSummary]:
    _check_key(request)
    async with request.app.state.db.reader() as session:
        rows = await repository.list_messages(session, cop_no=cop_no, result=result, limit=limit)
    return [MessageSummary(**row._mapping) for row in rows]


@router.get("/messages/{message_id}", response_model=MessageDetail, summary="One message as received")
async def get_message(message_id: str, request: Request) -> MessageDetail:
    _check_key(request)
    async with request.app.state.db.reader() as session:
        row = await repository.get_message(session, message_id)
    if row is None:
        raise NotFound(f"No message {message_id}", code="message_not_found")
    values = dict(row._mapping)
    values["request_body"] = values["request_body"].decode(errors="replace")
    return MessageDetail(**values)


@router.get("/receipts", response_model=list[ReceiptSummary], summary="Receipts planned and sent, in order")
async def list_receipts(request: Request, guid: str | None = None, cop_no: str | None = None,
                        state: Literal["planned", "delivered", "withdrawn"] | None = None,
                        limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[ReceiptSummary]:
    _check_key(request)
    async with request.app.state.db.reader() as session:
        rows = await repository.list_receipts(session, case_guid=guid, cop_no=cop_no, state=state, limit=limit)
    out = []
    for row in rows:
        values = dict(row._mapping)
        values["body"] = values["body"].decode() if values["body"] else None
        out.append(ReceiptSummary(**values))
    return out
