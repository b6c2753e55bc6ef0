"""HTTP endpoints for the other parties' documents: payments from payment providers, waybills from external
logistics companies. Each answers with a receipt, never the order."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import JSONResponse

from services.orders import examples, payments, waybills
from services.orders.api import OrderId, in_transaction, runtime_of
from services.orders.examples import responses
from services.orders.partners import acting_partner
from services.orders.schemas import (
    PaymentBatchRequest,
    PaymentBatchResponse,
    PaymentReceipt,
    WaybillIn,
    WaybillReceipt,
)
from shared.auth import Principal, require_roles
from shared.contract.parcel import Payment
from shared.db import utcnow

router = APIRouter(prefix="/v1")
PAYMENT_BATCH_PATH = "/v1/payments/batch"

PaymentKey = Annotated[Principal, Depends(require_roles("payment"))]
LogisticsKey = Annotated[Principal, Depends(require_roles("logistics"))]


def _errors(role: str, instance: str) -> tuple:
    return (
        (401, "Missing, unknown or revoked API key",
         examples.problem(401, "api_key_invalid", "Missing or invalid API key", "Unknown or revoked API key",
                          instance=instance)),
        (403, f"Only {role} keys send this document",
         examples.problem(403, "role_not_allowed", "Not allowed for this key",
                          f"This endpoint needs a key with role {role}", instance=instance)),
    )


_PAYMENT_PATH = "/v1/orders/ord_3f9c2a7be1d04c6a8e5f0b12/payment"
_WAYBILL_PATH = "/v1/orders/ord_3f9c2a7be1d04c6a8e5f0b12/waybill"
_NOT_YOURS = ("No such order — or one of a merchant this key's partner is not bound to (the same answer, so a key "
              "learns nothing about other merchants' orders)")


@router.post(
    "/orders/{order_id}/payment", status_code=201, response_model=PaymentReceipt, tags=["payments"],
    summary="Record the payment of an order (payment providers)",
    responses=responses(
        (201, "Recorded: the receipt", examples.PAYMENT_RECEIPT_EXAMPLE),
        (200, "The same payment was recorded before (a retry): the same receipt", examples.PAYMENT_RECEIPT_EXAMPLE),
        *_errors("payment", _PAYMENT_PATH),
        (404, _NOT_YOURS, examples.problem(404, "order_not_found", "Not found",
                                           "No order ord_3f9c2a7be1d04c6a8e5f0b12", instance=_PAYMENT_PATH)),
        (409, ("The order has another payment (`payment_already_recorded`), or is cancelled or rejected "
               "(`order_not_payable`)"),
         examples.problem(409, "payment_already_recorded", "Conflict",
                          "Order ord_3f9c2a7be1d04c6a8e5f0b12 already has a payment", instance=_PAYMENT_PATH)),
        (422, "The payment is malformed: paid_at outside the sane window, another provider named, a bad payer ID…",
         examples.problem(422, "time_out_of_range", "Invalid input",
                          "must lie between 2000-01-01T00:00:00+00:00 and 24 h from now", field="paid_at",
                          instance=_PAYMENT_PATH))),
)
async def record_payment(
    request: Request,
    order_id: OrderId,
    payment: Annotated[Payment, Body(openapi_examples={"alipay": {"summary": "An Alipay payment",
                                                                  "value": examples.PAYMENT_EXAMPLE}})],
    principal: PaymentKey,
) -> JSONResponse:
    """The payment document (CEB411) of an order, sent by its payment provider: a key with role `payment` whose
    owner is a registered payment provider bound to the order's merchant. `provider` names that provider (its code
    or its name); `paid_at` has a time zone and lies between 2000-01-01 and a day from now. The amount need not
    equal the order's: customs matches it within ±1 CNY (DOMAIN.md §6). Publishes `payment.recorded`."""
    runtime = runtime_of(request)
    item = payments.PaymentItem(order_id, payment)

    async def use_case(session):
        provider = await acting_partner(session, code=principal.owner, kind="payment")
        return await payments.record_payments(session, runtime.outbox, provider=provider, items=[item],
                                              now=utcnow(), window=runtime.settings.time_window, prefix="")

    [outcome] = await in_transaction(runtime, use_case)
    if outcome.problem is not None:
        raise outcome.problem
    return JSONResponse(outcome.receipt, status_code=outcome.status)


@router.post(
    "/payments/batch", response_model=PaymentBatchResponse, tags=["payments"],
    summary="Record up to 1,000 payments (payment providers)",
    responses=responses((200, "One result per item, in input order", examples.PAYMENT_BATCH_RESPONSE_EXAMPLE),
                        *_errors("payment", PAYMENT_BATCH_PATH),
                        (413, "Request body too large", examples.TOO_LARGE_PROBLEM),
                        (422, "The body is no list of 1 to 1,000 items (each item's own faults are in its result)",
                         examples.problem(422, "too_many_items", "Invalid input",
                                          "List should have at most 1000 items after validation, not 1001",
                                          field="payments", instance=PAYMENT_BATCH_PATH))),
)
async def record_payments_batch(
    request: Request,
    batch: Annotated[PaymentBatchRequest, Body(openapi_examples={"two": {"summary": "A payment, and one for an "
                                                                                    "order this key may not pay",
                                                                         "value": examples.PAYMENT_BATCH_EXAMPLE}})],
    principal: PaymentKey,
) -> JSONResponse:
    """Each item gets what it would have got alone: 201 with its receipt, 200 with the receipt of the same payment
    recorded before, or its problem (404, 409, 422; fields relative to the item, e.g. `payment.paid_at`). The good
    ones are stored together in one transaction. Sending the same batch again is safe: recorded items answer 200."""
    runtime = runtime_of(request)
    items = payments.parse_items(batch.payments)

    async def use_case(session):
        provider = await acting_partner(session, code=principal.owner, kind="payment")
        return await payments.record_payments(session, runtime.outbox, provider=provider, items=items,
                                              now=utcnow(), window=runtime.settings.time_window)

    outcomes = await in_transaction(runtime, use_case)
    return JSONResponse(payments.summarize(outcomes, items, PAYMENT_BATCH_PATH))


@router.post(
    "/orders/{order_id}/waybill", status_code=201, response_model=WaybillReceipt, tags=["waybills"],
    summary="Record the waybill of a parcel an external logistics company carries",
    responses=responses(
        (201, "Recorded: the receipt", examples.WAYBILL_RECEIPT_EXAMPLE),
        (200, "The same waybill was recorded before (a retry): the same receipt", examples.WAYBILL_RECEIPT_EXAMPLE),
        *_errors("logistics", _WAYBILL_PATH),
        (404, _NOT_YOURS + ", or an order that does not name this company as its `logistics_company`",
         examples.problem(404, "order_not_found", "Not found", "No order ord_3f9c2a7be1d04c6a8e5f0b12",
                          instance=_WAYBILL_PATH)),
        (409, ("The order has another waybill (`waybill_already_recorded`), the number is another parcel's "
               "(`logistics_no_taken`), or the order is cancelled or rejected (`order_not_shippable`)"),
         examples.problem(409, "logistics_no_taken", "Conflict", "Logistics number YT7890123456789 is another "
                          "parcel's", field="logistics_no", instance=_WAYBILL_PATH)),
        (422, "The waybill is malformed",
         examples.problem(422, "id_number_invalid", "Invalid input", "not a valid resident_id number",
                          field="consignee.id_number", instance=_WAYBILL_PATH))),
)
async def record_waybill(
    request: Request,
    order_id: OrderId,
    waybill: Annotated[WaybillIn, Body(openapi_examples={"yto": {"summary": "A waybill",
                                                                 "value": examples.WAYBILL_EXAMPLE}})],
    principal: LogisticsKey,
) -> JSONResponse:
    """The waybill (CEB511) of an e-commerce parcel whose order names this company as `logistics_company`, sent with
    a key of role `logistics` whose owner is that registered company, bound to the order's merchant. Its
    `logistics_no` becomes the parcel's tracking number: postal adopts it (`waybill.issued`, carrier = the company's
    code) and consolidates and hands the parcel off as usual. Publishes `waybill.recorded` (customs matches the
    consignee with the order's)."""
    runtime = runtime_of(request)

    async def use_case(session):
        company = await acting_partner(session, code=principal.owner, kind="logistics")
        return await waybills.record_waybill(session, runtime.outbox, company=company, order_id=order_id,
                                             waybill=waybill, now=utcnow())

    status, receipt = await in_transaction(runtime, use_case)
    return JSONResponse(receipt, status_code=status)
