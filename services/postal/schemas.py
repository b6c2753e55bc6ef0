"""Bodies of the postal API: tracking events in, parcels and dispatches out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.contract.events import TrackingStatus
from shared.instants import AwareInstant


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TrackingEventIn(_In):
    """One event a carrier or post reports on a parcel it was handed."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{
            "tracking_number": "CP000000014CN", "code": "EMD", "occurred_at": "2026-03-02T08:15:00Z",
            "location": "KZALAA", "description": "Arrived at inward office of exchange",
        }]},
    )

    tracking_number: Annotated[str, Field(min_length=1, max_length=40)]
    code: Annotated[str, Field(min_length=1, max_length=16, pattern=r"^[A-Za-z0-9_\-]+$",
                               description="EMSEVT code for mail (EMC, EMD, EMI …), the carrier's own otherwise")]
    occurred_at: AwareInstant
    location: Annotated[str, Field(max_length=128)] = ""
    description: Annotated[str, Field(max_length=512)] = ""


class TrackingEventBatch(_In):
    """Several events at once; each is answered on its own."""

    events: Annotated[list[dict[str, Any]], Field(min_length=1, description="TrackingEventIn objects")]


TrackingOutcome = Literal["accepted", "duplicate", "rejected"]


class TrackingEventResult(BaseModel):
    index: int
    tracking_number: str | None
    result: TrackingOutcome
    code: str | None = None
    status: TrackingStatus | None = None
    known: bool | None = Field(None, description="False when the code is not in our tables (kept, not dropped)")
    problem: dict[str, Any] | None = Field(None, description="Why it was rejected (problem+json fields)")


class TrackingEventsResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "accepted": 1, "duplicate": 0, "rejected": 1,
        "results": [
            {"index": 0, "tracking_number": "CP000000014CN", "result": "accepted", "code": "EMD",
             "status": "in_transit", "known": True},
            {"index": 1, "tracking_number": "CP000000028CN", "result": "rejected",
             "problem": {"status": 404, "code": "parcel_not_found", "title": "Not found",
                         "detail": "No parcel CP000000028CN has been handed off to you", "field": "tracking_number"}},
        ],
    }]})

    accepted: int
    duplicate: int
    rejected: int
    results: list[TrackingEventResult]


class TrackingEventOut(BaseModel):
    code: str
    status: TrackingStatus
    known: bool
    description: str
    location: str
    occurred_at: datetime
    received_at: datetime


class ReceptacleOut(BaseModel):
    id: str
    s9_id: str | None
    status: str
    serial: int | None
    item_count: int
    weight_kg: str
    opened_at: datetime
    closed_at: datetime | None
    close_reason: str | None


class DispatchSummary(BaseModel):
    id: str
    dispatch_identifier: str = Field(description="The 20-character S9 dispatch identifier")
    carrier: str
    origin_office: str
    destination_office: str
    mail_category: str
    mail_subclass: str
    year: int
    serial: int
    status: Literal["open", "closed", "handing_off", "handed_off", "emptied"]
    receptacle_count: int
    opened_at: datetime
    closed_at: datetime | None
    close_reason: str | None
    handed_off_at: datetime | None
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None


class DispatchOut(DispatchSummary):
    receptacles: list[ReceptacleOut]
    carrier_receipt: dict[str, Any] | None
    manifest: dict[str, Any] | None = Field(description="PREDES/CARDIT header, receptacles and ITMATT items")


class DispatchPage(BaseModel):
    items: list[DispatchSummary]
    next_cursor: str | None


class ParcelOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "tracking_number": "CP000000014CN", "order_id": "ord_3f9c…", "merchant_order_no": "SHOP-1001",
        "channel": "mail", "carrier": "SGPOST", "status": "handed_off", "tracking_status": "in_transit",
        "weight_kg": "1.200", "destination_office": "KZALAA", "mail_category": "A", "mail_subclass": "CN",
        "customs_form": "CN23", "declaration_id": "dcl_…", "issued_at": "2026-03-02T08:00:00Z",
        "released_at": "2026-03-02T08:00:05Z", "handed_off_at": "2026-03-02T08:02:10Z", "delivered_at": None,
        "voided_at": None, "void_reason": None, "receptacle": None, "dispatch": None, "events": [],
    }]})

    tracking_number: str
    order_id: str
    merchant_order_no: str
    channel: str
    carrier: str
    status: Literal["issued", "in_receptacle", "handed_off", "delivered", "returned", "voided"]
    tracking_status: TrackingStatus
    weight_kg: str
    destination_office: str
    mail_category: str
    mail_subclass: str
    customs_form: str | None
    declaration_id: str | None
    issued_at: datetime
    released_at: datetime | None
    handed_off_at: datetime | None
    delivered_at: datetime | None
    voided_at: datetime | None
    void_reason: str | None
    receptacle: ReceptacleOut | None
    dispatch: DispatchSummary | None
    events: list[TrackingEventOut]
