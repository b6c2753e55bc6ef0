"""API bodies of the webhook endpoints, and the JSON body merchants receive."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from services.orders.domain.status import OrderStatus
from services.orders.webhooks.rules import ALL_EVENT_TYPES, EVENT_TYPES
from shared.contract.parcel import Channel
from shared.instants import Instant

DeliveryStatus = Literal["pending", "succeeded", "failed"]
_EVENT_TYPES_DOC = ("The event types to receive, or `[\"*\"]` for all: " + ", ".join(f"`{name}`" for name in EVENT_TYPES))

ENDPOINT_EXAMPLE = {
    "id": "we_5b1f0c9e2d7a4f3b8c6e1a20",
    "url": "https://shop.example.com/silkgate/webhooks",
    "description": "order updates for the shop",
    "event_types": ["declaration.held", "declaration.rejected", "parcel.delivered"],
    "enabled": True,
    "disabled_reason": None,
    "disabled_at": None,
    "failing_since": None,
    "created_at": "2026-03-01T02:00:00Z",
    "updated_at": "2026-03-01T02:00:00Z",
}
ORDER_EXAMPLE = {
    "id": "ord_3f9c2a7be1d04c6a8e5f0b12",
    "merchant_order_no": "MAIL-2026-0001",
    "status": "on_hold",
    "channel": "mail",
    "tracking_number": "CP123456785CN",
    "customs_status": "manual_review",
    "status_reason": "manual review: vague description",
    "updated_at": "2026-03-01T02:21:13Z",
}
EVENT_EXAMPLE = {
    "id": "evt_9a0d4c1b7e2f4a6b8c3d5e71",
    "type": "declaration.held",
    "created": "2026-03-01T02:21:13Z",
    "data": {"order": ORDER_EXAMPLE, "previous_status": "awaiting_clearance"},
}

SECRET_EXAMPLE = "whsec_x3F9c2a7be1d04c6a8e5f0b12Qk1Zr8Yw7P4tLm0nAa"
DELIVERY_EXAMPLE = {
    "id": "whd_0c7e3b9a1d2f4e5a6b7c8d90",
    "endpoint_id": "we_5b1f0c9e2d7a4f3b8c6e1a20",
    "event_id": "evt_9a0d4c1b7e2f4a6b8c3d5e71",
    "event_type": "declaration.held",
    "order_id": "ord_3f9c2a7be1d04c6a8e5f0b12",
    "status": "succeeded",
    "attempt_count": 2,
    "next_attempt_at": None,
    "last_attempt_at": "2026-03-01T02:21:44Z",
    "last_status_code": 200,
    "last_error": None,
    "succeeded_at": "2026-03-01T02:21:44Z",
    "created_at": "2026-03-01T02:21:13Z",
    "attempts": [
        {"attempt": 1, "attempted_at": "2026-03-01T02:21:13Z", "duration_ms": 10001, "status_code": None,
         "error": "timeout: no answer within 10 s", "response_body": None},
        {"attempt": 2, "attempted_at": "2026-03-01T02:21:44Z", "duration_ms": 84, "status_code": 200,
         "error": None, "response_body": '{"received": true}'},
    ],
}
DELIVERY_PAGE_EXAMPLE = {"data": [DELIVERY_EXAMPLE], "has_more": True, "next_cursor": DELIVERY_EXAMPLE["id"]}


class Schema(BaseModel):
    model_config = ConfigDict(extra="forbid")


# The enumeration is documented (issue 16: it lived in the description only); the service checks it itself, so an
# unknown type is reported with its index (`event_type_unknown`) together with the URL's faults.
EventTypeList = Annotated[list[Annotated[str, Field(max_length=64, json_schema_extra={
                              "enum": [ALL_EVENT_TYPES, *EVENT_TYPES]})]],
                          Field(min_length=1, max_length=32, description=_EVENT_TYPES_DOC)]
Description = Annotated[str, Field(max_length=256, description="Your note on what the endpoint is for")]
Url = Annotated[str, Field(min_length=1, max_length=2048,
                           description="http(s) URL receiving POSTs; no credentials; a public address")]


class EndpointCreate(Schema):
    """An endpoint to register: where to POST, which event types, enabled or not."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {
        "url": ENDPOINT_EXAMPLE["url"], "event_types": ["*"], "description": "all order updates"}})

    url: Url
    event_types: EventTypeList
    description: Description = ""
    enabled: StrictBool = True


class EndpointUpdate(Schema):
    """Change an endpoint: send only what changes. `enabled: true` re-enables a disabled endpoint and sends what
    waited meanwhile."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {"enabled": True}})

    url: Url | None = None
    event_types: EventTypeList | None = None
    description: Description | None = None
    enabled: StrictBool | None = None


class EndpointOut(Schema):
    """An endpoint; when disabled, `disabled_reason` says why (ours after continuous failures, or yours)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": ENDPOINT_EXAMPLE})

    id: str
    url: str
    description: str
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None
    disabled_at: datetime | None
    failing_since: datetime | None = Field(description="Every delivery has failed since then (none: healthy)")
    previous_secret_expires_at: datetime | None = Field(
        default=None, description="After a secret rotation, deliveries carry a second signature (the previous "
                                  "secret's) until then")
    created_at: datetime
    updated_at: datetime


class SecretRotation(Schema):
    """How long the previous secret keeps signing deliveries beside the new one (0: stop at once)."""

    expires_in_s: Annotated[int, Field(ge=0, le=7 * 24 * 3600, description="Seconds of overlap, at most 7 days")] = 86400


class EndpointCreated(EndpointOut):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {
        **ENDPOINT_EXAMPLE, "secret": SECRET_EXAMPLE}})

    secret: str = Field(description="The signing secret (whsec_…): shown once, store it now")


class EndpointList(Schema):
    data: list[EndpointOut]


class AttemptOut(Schema):
    """One POST: when, how long, the status code answered or the error (timeout, connection refused, …)."""

    attempt: int
    attempted_at: datetime
    duration_ms: int
    status_code: int | None
    error: str | None
    response_body: str | None = Field(description="The first 1,000 characters of your answer")


class DeliveryOut(Schema):
    """One event for one endpoint and every attempt to deliver it."""

    id: str
    endpoint_id: str
    event_id: str
    event_type: str
    order_id: str
    status: DeliveryStatus = Field(description="pending (next try at next_attempt_at), succeeded, or failed "
                                               "(given up; replay it)")
    attempt_count: int
    next_attempt_at: datetime | None = Field(description="When it is tried next; none while pending means it waits "
                                                         "for the endpoint to be enabled")
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    succeeded_at: datetime | None
    created_at: datetime
    attempts: list[AttemptOut]


class DeliveryDetail(DeliveryOut):
    payload: dict = Field(description="The JSON body sent")


class DeliveryPage(Schema):
    """A page of deliveries newest first; pass `next_cursor` as `starting_after` for the next page."""

    data: list[DeliveryOut]
    has_more: bool
    next_cursor: str | None


class ReplayRequest(Schema):
    """Requeue every delivery of the endpoint in `status` created at or after `since` (with a time zone)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {"since": "2026-03-01T00:00:00Z",
                                                                             "status": "failed"}})

    since: Instant
    status: Literal["failed"] = "failed"


class ReplayResult(Schema):
    replayed: int


# ── what merchants receive ────────────────────────────────────────────────────


class WebhookOrder(Schema):
    """The order as it stood right after the change."""

    id: str
    merchant_order_no: str
    status: OrderStatus
    channel: Channel
    tracking_number: str | None
    customs_status: str | None
    status_reason: str | None
    updated_at: datetime


class WebhookData(Schema):
    order: WebhookOrder
    previous_status: OrderStatus | None = Field(description="The status before this change (none: a new order)")


class WebhookPayload(Schema):
    """The JSON body of every webhook POST."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": EVENT_EXAMPLE})

    id: str = Field(description="The event id (also in Silkgate-Event-Id): the same on retries and replays")
    type: str
    created: datetime
    data: WebhookData
