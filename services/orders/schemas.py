"""API bodies of the orders service (the order itself is the contract's Parcel)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.orders import examples
from services.orders.domain.status import OrderStatus
from services.orders.paper.schemas import AssessedTax
from shared.contract.events import CustomsForm
from shared.contract.parcel import Channel, Direction, Parcel, Payment

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

    payment: Payment | None
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
    """A key for a merchant (owner = merchant code), a payment company (owner = provider) or ops."""

    role: Literal["merchant", "payment", "ops"]
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
