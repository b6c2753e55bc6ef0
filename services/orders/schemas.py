"""API bodies of the orders service (the order itself is the contract's Parcel)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from services.orders import examples
from services.orders.domain.status import OrderStatus
from services.orders.paper.schemas import AssessedTax
from shared.contract.events import CustomsForm
from shared.contract.parcel import Channel, Direction, Money, Parcel, PartnerCode, Party, Payment

MAX_BATCH_ORDERS = 1000
OwnerCode = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._\-]+$")]


class Schema(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TimelineEntry(Schema):
    """One event in the order's life, with the time it happened."""

    type: str = Field(description="The event type (CloudEvents type), e.g. silkgate.customs.declaration.held.v1")
    title: str
    occurred_at: datetime


class OrderSummary(Schema):
    """An order as listed: its identity and where it stands."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": examples.ORDER_SUMMARY_EXAMPLE})

    id: str
    merchant_code: str
    merchant_order_no: str
    channel: Channel
    direction: Direction
    status: OrderStatus
    tracking_number: str | None = Field(None, description="Once postal has issued the waybill")
    customs_status: str | None = Field(None, description="The declaration's status, once customs has filed it")
    customs_ceb_code: int | None = Field(None, description="CEB receipt code of the customs status (DOMAIN.md §5)")
    status_reason: str | None = Field(
        None, description="Why: the hold or rejection reason, the cancellation reason, or customs' refusal to cancel"
    )
    correlation_id: str = Field(description="Follows this parcel through every service's logs")
    created_at: datetime
    updated_at: datetime


class OrderOut(OrderSummary):
    """An order with its parcel, its payment and its timeline (every event, oldest first)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": examples.ORDER_EXAMPLE})

    payment: Payment | None = Field(description="The payment document the payment provider recorded with its own key "
                                                "(POST /v1/orders/{id}/payment); null until then. What the order "
                                                "itself says about its payment is `parcel.payment`, the order's claim")
    parcel: Parcel
    timeline: list[TimelineEntry]
    customs_form: CustomsForm | None = Field(
        None, description="The form customs chose (CN22/CN23 for mail: GET /v1/orders/{id}/customs-form prints it)")
    assessed_tax: AssessedTax | None = Field(
        None, description="The tax customs assessed on release (e-commerce imports: the CEB816 tax bill); null before")


class OrderPage(Schema):
    """One page of orders, newest first; pass `next_cursor` as `starting_after` for the next page."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": examples.ORDER_PAGE_EXAMPLE})

    data: list[OrderSummary]
    has_more: bool
    next_cursor: str | None


class BatchRequest(Schema):
    """Up to 1,000 orders; each is validated on its own, so one bad order does not sink the others."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": examples.BATCH_REQUEST_EXAMPLE})

    orders: Annotated[
        list[Any],
        Field(min_length=1, max_length=MAX_BATCH_ORDERS, json_schema_extra={"items": {"$ref": "#/components/schemas/Parcel"}}),
    ]


class BatchResult(Schema):
    """The outcome of one order of a batch: 201 with the order, or the problem it would have got alone."""

    index: int
    status: Literal[201, 409, 422]
    order: OrderSummary | None = None
    problem: dict[str, Any] | None = None


class BatchResponse(Schema):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": examples.BATCH_RESPONSE_EXAMPLE})

    created: int
    failed: int
    results: list[BatchResult]


class CancelRequest(Schema):
    reason: Annotated[str, Field(max_length=512)] = ""


class ApiKeyCreate(Schema):
    """A key for a merchant (owner = merchant code), a registered partner (role payment or logistics, owner = the
    partner's code) or ops."""

    role: Literal["merchant", "payment", "logistics", "ops"]
    owner: OwnerCode
    name: Annotated[str, Field(min_length=1, max_length=128)]


class ApiKeyOut(Schema):
    """A key as stored: never its hash, never the key itself."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": examples.API_KEY_EXAMPLE})

    id: str
    prefix: str
    role: str
    owner: str
    name: str
    created_at: datetime
    revoked_at: datetime | None
    active: bool


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The secret: shown once, store it now")


# ── partners (payment providers, logistics companies) ────────────────────────

PartnerKind = Literal["payment", "logistics"]
PartnerName = Annotated[str, Field(min_length=1, max_length=128)]
UsccCode = Annotated[str, Field(min_length=18, max_length=18, description="Unified Social Credit Code (GB 32100)")]


class PartnerCreate(Schema):
    """A payment provider or an external logistics company to register."""

    code: PartnerCode = Field(description="Its code: the owner of its API keys, the `logistics_company` of parcels "
                                          "it carries (upper-case letters, digits, '-' and '_')")
    kind: PartnerKind
    name: PartnerName
    uscc: UsccCode | None = None


class PartnerUpdate(Schema):
    """Fields to change; an inactive partner's keys act for nobody (404 on every order)."""

    name: PartnerName | None = None
    uscc: UsccCode | None = None
    active: StrictBool | None = None  # JSON true/false only: 0 or "no" is not a boolean (issue 16)


class PartnerOut(Schema):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": examples.PARTNER_EXAMPLE})

    code: str
    kind: PartnerKind
    name: str
    uscc: str | None
    active: bool
    merchants: list[str] = Field(description="The merchants it serves: its keys act for their orders only")
    created_at: datetime
    updated_at: datetime


class BindingOut(Schema):
    partner_code: str
    merchant_code: str
    bound: bool = Field(description="True: bound now (or already); false: unbound")


# ── documents of the other parties ───────────────────────────────────────────


class PaymentReceipt(Schema):
    """What a payment provider gets back: the payment as recorded, never the order or anyone's personal data."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": examples.PAYMENT_RECEIPT_EXAMPLE})

    id: str = Field(description="The payment's id")
    order_id: str
    provider: str = Field(description="The partner code of the provider whose key recorded it")
    transaction_id: str
    amount: Money
    currency: str
    status: Literal["recorded"]
    recorded_at: datetime


class PaymentBatchItem(Schema):
    order_id: Annotated[str, Field(min_length=1, max_length=64)]
    payment: Payment


# The items' schema, whole (no $ref into a document it is not part of): each item is parsed on its own.
_PAYMENT_BATCH_ITEM_SCHEMA = PaymentBatchItem.model_json_schema()
_PAYMENT_BATCH_ITEM_SCHEMA.pop("$defs")
_PAYMENT_BATCH_ITEM_SCHEMA["properties"]["payment"] = Payment.model_json_schema()


class PaymentBatchRequest(Schema):
    """Up to 1,000 payments; each is checked on its own, so one bad item does not sink the others."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": examples.PAYMENT_BATCH_EXAMPLE})

    payments: Annotated[
        list[Any],
        Field(min_length=1, max_length=MAX_BATCH_ORDERS, json_schema_extra={"items": _PAYMENT_BATCH_ITEM_SCHEMA}),
    ]


class PaymentBatchResult(Schema):
    """One item's outcome: 201 recorded, 200 recorded before (the same payment), or the problem it would have got
    alone (404 no such order for this provider, 409, 422)."""

    index: int
    order_id: str | None
    status: Literal[200, 201, 404, 409, 422]
    payment: PaymentReceipt | None = None
    problem: dict[str, Any] | None = None


class PaymentBatchResponse(Schema):
    recorded: int = Field(description="Items recorded now (201)")
    replayed: int = Field(description="Items recorded before (200)")
    failed: int
    results: list[PaymentBatchResult]


LogisticsNo = Annotated[str, Field(min_length=6, max_length=32, pattern=r"^[A-Z0-9][A-Z0-9\-]{5,31}$")]


class WaybillIn(Schema):
    """An external logistics company's waybill for a parcel it carries (CEB511). Money in the order's currency."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": examples.WAYBILL_EXAMPLE})

    logistics_no: LogisticsNo = Field(description="The company's waybill number: the parcel's tracking number")
    consignee: Party = Field(description="Who the company delivers to; customs matches it with the order's")
    freight: Money = Decimal("0")
    insured_fee: Money = Decimal("0")
    gross_weight_kg: Annotated[Decimal, Field(gt=0, max_digits=10, decimal_places=3)] | None = None


class WaybillReceipt(Schema):
    """What the logistics company gets back: the waybill as recorded, never the order."""

    id: str
    order_id: str
    logistics_code: str
    logistics_no: str
    status: Literal["recorded"]
    recorded_at: datetime


class ReturnRequest(Schema):
    reason: Annotated[str, Field(min_length=1, max_length=512, description="Why the buyer returns it")]
