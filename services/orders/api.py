"""HTTP endpoints of the orders service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import structlog
from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.orders import examples, intake, returns, service
from services.orders.api_keys import router as api_keys_router
from services.orders.domain.idempotency import request_fingerprint
from services.orders.domain.status import OrderStatus
from services.orders.examples import responses
from services.orders.intake import IntakeRequest, IntakeResponse
from services.orders.paper.api import router as documents_router
from services.orders.repository import OrderFilters
from services.orders.schemas import BatchRequest, BatchResponse, CancelRequest, OrderOut, OrderPage, ReturnRequest
from shared.auth import Principal, require_roles
from shared.contract.parcel import Channel, Parcel
from shared.db import utcnow
from shared.errors import InvalidInput
from shared.instants import Instant
from shared.runtime import ServiceRuntime

log = structlog.get_logger()

router = APIRouter(prefix="/v1")
BATCH_PATH = "/v1/orders/batch"

MerchantKey = Annotated[Principal, Depends(require_roles("merchant"))]
ReaderKey = Annotated[Principal, Depends(require_roles("merchant", "ops"))]
IdempotencyKeyHeader = Annotated[
    str | None,
    Header(alias="Idempotency-Key", description="Required. A unique string per order (e.g. a UUID); kept 24 h.",
           examples=["7d0c8a36-2b51-4c1e-9a53-0f6a3d2b9e11"]),
]
OrderId = Annotated[str, Path(description="The order id", examples=["ord_3f9c2a7be1d04c6a8e5f0b12"], max_length=64)]

_COMMON_ERRORS = (
    (401, "Missing, unknown or revoked API key",
     examples.problem(401, "api_key_invalid", "Missing or invalid API key", "Unknown or revoked API key")),
    (403, "The key's role may not call this endpoint",
     examples.problem(403, "role_not_allowed", "Not allowed for this key",
                      "This endpoint needs a key with role merchant")),
    (422, "Invalid input: the field at fault and a stable code",
     examples.problem(422, "too_long", "Invalid input", "String should have at most 64 characters",
                      field="order_id", instance="/v1/orders/ord_…")),
)
_INTAKE_ERRORS = (
    *_COMMON_ERRORS,
    (409, "Duplicate merchant order number, or the Idempotency-Key was used with another body",
     examples.DUPLICATE_PROBLEM),
    (413, "Request body too large", examples.TOO_LARGE_PROBLEM),
    (422, "Invalid order: every field at fault in `errors`", examples.VALIDATION_PROBLEM),
    (429, "Backlog full: retry after the `Retry-After` seconds", examples.BACKLOG_PROBLEM),
)


def runtime_of(request: Request) -> ServiceRuntime:
    return request.app.state.runtime


T = TypeVar("T")
# A unique constraint decides a race between concurrent requests; the loser runs again and sees the winner.
INTAKE_ATTEMPTS = 3


async def in_transaction(runtime: ServiceRuntime, use_case: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run a use case in one transaction, again when a concurrent request won a unique constraint."""
    for attempt in range(1, INTAKE_ATTEMPTS + 1):
        try:
            async with runtime.db.transaction() as session:
                return await use_case(session)
        except IntegrityError:
            if attempt == INTAKE_ATTEMPTS:
                raise
            log.info("order.intake_retried", attempt=attempt, reason="a concurrent request won a unique constraint")
    raise AssertionError("unreachable")


async def intake_request(request: Request, principal: Principal, idempotency_key: str | None) -> IntakeRequest:
    key = intake.require_idempotency_key(idempotency_key)
    body = await request.body()  # FastAPI has read and cached it: the bytes the merchant sent
    correlation_id = intake.usable_correlation_id(getattr(request.state, "correlation_id", None))
    structlog.contextvars.bind_contextvars(idempotency_key=key)
    return IntakeRequest(principal=principal, idempotency_key=key, correlation_id=correlation_id,
                         fingerprint=request_fingerprint(request.method, request.url.path, body),
                         window=runtime_of(request).settings.time_window)


async def admit(runtime: ServiceRuntime, request: IntakeRequest, orders: int = 1) -> None:
    """429 for a merchant over its rate or its share of the backlog (services/orders/backpressure.py); a replay of an
    answered request still goes through."""
    monitor = runtime.extras.get("backlog")
    if monitor is None:
        return
    refusal = monitor.refusal(request.principal.owner, orders)
    if refusal is None:
        return
    async with runtime.db.reader() as session:
        if await intake.stored_response(session, request) is not None:
            return
    raise refusal


def intake_response(outcome: IntakeResponse) -> JSONResponse:
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else {}
    if outcome.status == 201 and "id" in outcome.body:
        headers["Location"] = f"/v1/orders/{outcome.body['id']}"
    return JSONResponse(outcome.body, status_code=outcome.status, headers=headers)


@router.post(
    "/orders", status_code=201, response_model=OrderOut, tags=["orders"], summary="Submit an order",
    responses=responses((201, "The order, accepted (replays carry `Idempotent-Replayed: true`)",
                         examples.ACCEPTED_ORDER_EXAMPLE), *_INTAKE_ERRORS),
)
async def create_order(
    request: Request,
    parcel: Annotated[Parcel, Body(openapi_examples=examples.PARCEL_EXAMPLES)],
    principal: MerchantKey,
    idempotency_key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    """Validate and accept one order of any channel; `order.accepted` goes out through the outbox."""
    runtime = runtime_of(request)
    intake_req = await intake_request(request, principal, idempotency_key)
    await admit(runtime, intake_req)
    outcome = await in_transaction(runtime, lambda s: intake.accept_order(s, runtime.outbox, intake_req, parcel))
    return intake_response(outcome)


@router.post(
    "/orders/batch", response_model=BatchResponse, tags=["orders"], summary="Submit up to 1,000 orders",
    responses=responses((200, "One result per order, in input order", examples.BATCH_RESPONSE_EXAMPLE),
                        *_INTAKE_ERRORS),
)
async def create_orders_batch(
    request: Request,
    batch: Annotated[BatchRequest, Body(openapi_examples={"mixed": {"summary": "A good and a bad order",
                                                                     "value": examples.BATCH_REQUEST_EXAMPLE}})],
    principal: MerchantKey,
    idempotency_key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    """Each order is created (201) or gets the problem it would have got alone (409, 422); the good ones are
    stored together in one transaction. The whole batch is idempotent under its Idempotency-Key."""
    runtime = runtime_of(request)
    intake_req = await intake_request(request, principal, idempotency_key)
    await admit(runtime, intake_req, orders=len(batch.orders))
    prepared = intake.prepare_batch(batch.orders, window=intake_req.window)
    outcome = await in_transaction(runtime, lambda s: intake.accept_batch(s, runtime.outbox, intake_req, prepared))
    return intake_response(outcome)


@router.get(
    "/orders", response_model=OrderPage, tags=["orders"], summary="List orders, newest first",
    responses=responses((200, "A page of orders", examples.ORDER_PAGE_EXAMPLE), *_COMMON_ERRORS,
                        (422, "Invalid filter or cursor",
                         examples.problem(422, "cursor_invalid", "Invalid input",
                                          "starting_after ord_x is not an order of this list",
                                          field="starting_after"))),
)
async def list_orders(
    request: Request,
    principal: ReaderKey,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    starting_after: Annotated[str | None, Query(max_length=64, description="The last id of the previous page")] = None,
    status: OrderStatus | None = None,
    channel: Channel | None = None,
    created_gte: Annotated[Instant | None, Query(description="Created at or after (with a time zone)")] = None,
    created_lt: Annotated[Instant | None, Query(description="Created before (with a time zone)")] = None,
    merchant_order_no: Annotated[str | None, Query(max_length=64)] = None,
    merchant: Annotated[str | None, Query(max_length=64, description="Ops only: one merchant's orders")] = None,
) -> JSONResponse:
    """A merchant's orders (ops: everyone's), filtered, with cursor pagination (`starting_after`)."""
    for name, value in (("created_gte", created_gte), ("created_lt", created_lt)):
        if value is not None and value.tzinfo is None:
            raise InvalidInput(f"{name} needs a time zone, e.g. 2026-03-01T00:00:00Z", code="timezone_required",
                               field=name)
    filters = OrderFilters(merchant_code=merchant, status=status, channel=channel, created_gte=created_gte,
                           created_lt=created_lt, merchant_order_no=merchant_order_no)
    page = service.OrderPageRequest(filters=filters, starting_after=starting_after, limit=limit)
    async with runtime_of(request).db.reader() as session:
        return JSONResponse(await service.list_orders(session, principal, page))


@router.get(
    "/orders/{order_id}", response_model=OrderOut, tags=["orders"], summary="An order, its status and timeline",
    responses=responses((200, "The order", examples.ORDER_EXAMPLE), *_COMMON_ERRORS,
                        (404, "No such order (or another merchant's)", examples.NOT_FOUND_PROBLEM)),
)
async def get_order(request: Request, order_id: OrderId, principal: ReaderKey) -> JSONResponse:
    """Status, channel, tracking number, customs status and reason, and every event with its time."""
    async with runtime_of(request).db.reader() as session:
        return JSONResponse(await service.get_order(session, principal, order_id))


@router.post(
    "/orders/{order_id}/cancel", response_model=OrderOut, tags=["orders"], summary="Cancel an order before handoff",
    responses=responses(
        (200, "The order, cancelled (again: unchanged)", examples.CANCELLED_ORDER_EXAMPLE), *_COMMON_ERRORS,
        (404, "No such order (or another merchant's)", examples.NOT_FOUND_PROBLEM),
        (409, "Handed off already: too late to cancel",
         examples.problem(409, "cancel_not_allowed", "Conflict",
                          "Order ord_3f9c2a7be1d04c6a8e5f0b12 is handed_off: it can only be cancelled before handoff",
                          instance="/v1/orders/ord_3f9c2a7be1d04c6a8e5f0b12/cancel"))),
)
async def cancel_order(
    request: Request,
    order_id: OrderId,
    principal: ReaderKey,
    body: Annotated[CancelRequest | None, Body(openapi_examples={
        "reason": {"summary": "With a reason", "value": {"reason": "buyer changed their mind"}}})] = None,
) -> JSONResponse:
    """Publishes `order.cancelled`; customs cancels the declaration (or, after release, refuses and says why:
    see `status_reason`) and postal voids the waybill."""
    runtime = runtime_of(request)
    reason = body.reason if body is not None else ""
    async with runtime.db.transaction() as session:
        order = await service.cancel_order(session, runtime.outbox, principal=principal, order_id=order_id,
                                           reason=reason)
    return JSONResponse(order)


@router.post(
    "/orders/{order_id}/return", response_model=OrderOut, tags=["orders"],
    summary="Ask for a return of a released e-commerce import (CEB625)",
    responses=responses(
        (200, "The order, return_requested", {**examples.ORDER_EXAMPLE, "status": "return_requested",
                                               "status_reason": "buyer returned it: wrong size"}),
        *_COMMON_ERRORS,
        (404, "No such order (or another merchant's)", examples.NOT_FOUND_PROBLEM),
        (409, ("Not returnable: before the handoff (cancel instead), not an e-commerce import, or asked before "
               "(`return_already_requested`)"),
         examples.problem(409, "return_not_allowed", "Conflict",
                          "The order is released: a return is possible once the parcel is handed off. Cancel it "
                          "instead: it has not left yet.",
                          instance="/v1/orders/ord_3f9c2a7be1d04c6a8e5f0b12/return"))),
)
async def request_return(
    request: Request,
    order_id: OrderId,
    principal: MerchantKey,
    body: Annotated[ReturnRequest, Body(openapi_examples={"size": {
        "summary": "The buyer sent it back", "value": {"reason": "buyer returned it: wrong size"}}})],
) -> JSONResponse:
    """Once the parcel is out of your hands (handed off, in transit, delivered, or brought back by the carrier),
    ask customs to take it back: publishes `order.return_requested`, customs files the return (CEB625), and the
    order shows `return_requested`, then `returned` when customs approves it. Within 30 days of release the buyer's
    annual quota comes back (DOMAIN.md §7). Before the handoff, cancel instead. One return per order."""
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        order = await returns.request_return(session, runtime.outbox, principal=principal, order_id=order_id,
                                             reason=body.reason, now=utcnow())
    return JSONResponse(order)


router.include_router(api_keys_router)
router.include_router(documents_router)
