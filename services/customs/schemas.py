"""API bodies and responses of the customs service (brokers' work queue, decisions, audit trail)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.contract.events import CustomsStatus, Lane
from shared.contract.parcel import Channel

ReasonCode = Annotated[str, Field(min_length=2, max_length=64, pattern=r"^[a-z][a-z0-9_]*$",
                                  examples=["documents_verified"])]
Note = Annotated[str, Field(max_length=2000, examples=["Invoice and waybill checked against the goods."])]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DecisionBody(Body):
    """A broker's decision: a stable reason code and a free-text note for the file."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"reason_code": "documents_verified", "note": "Invoice matches the declared value."}]
    })

    reason_code: ReasonCode
    note: Note | None = None


class DetainBody(DecisionBody):
    """Detain the goods; the CEB code (501–599) may carry the detention reason."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"reason_code": "suspected_counterfeit", "note": "Brand logos on unbranded invoice.",
                      "detention_code": 502}]
    })

    detention_code: Annotated[int, Field(ge=501, le=599)] = 501


class InspectionResultBody(Body):
    """The outcome of a physical inspection; a broker then releases, detains or rejects."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"outcome": "passed", "note": "Contents match the inventory list."}]
    })

    outcome: Literal["passed", "failed", "discrepancy"]
    note: Note | None = None


class ClaimView(BaseModel):
    broker: str
    expires_at: datetime


class DeclarationSummary(BaseModel):
    """A declaration as the work queue lists it."""

    id: str = Field(examples=["dcl_3f2a9c0e5b7d41e8a6c2f1b0"])
    order_id: str
    merchant_code: str
    merchant_order_no: str
    channel: Channel
    direction: str
    form: str | None = Field(examples=["inventory_list"])
    trade_mode: str | None = None
    lane: Lane
    status: CustomsStatus
    ceb_code: int = Field(examples=[300])
    value_cny: Decimal | None
    tax_cny: Decimal | None
    risk_score: int | None
    awaiting_documents: bool
    opened_at: datetime
    documents_deadline_at: datetime | None
    decided_at: datetime | None
    decided_by: str | None
    claim: ClaimView | None = None
    allowed_actions: list[str] = Field(examples=[["release", "reject", "inspect", "detain"]])


class LineView(BaseModel):
    line_no: int
    sku: str
    name: str
    hs_code: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    total_price: Decimal
    currency: str
    origin_country: str
    net_weight_kg: Decimal


class DocumentView(BaseModel):
    kind: Literal["order", "payment", "waybill"]
    source: str
    received_at: datetime
    body: dict[str, Any]


class FindingView(BaseModel):
    code: str
    severity: str
    message: str
    fields: list[str]
    source: str
    created_at: datetime


class AuditEntryView(BaseModel):
    id: int
    at: datetime
    actor: str = Field(examples=["Kashgar Customs Brokerage"])
    actor_role: str = Field(examples=["broker"])
    key_id: str | None = None
    action: str = Field(examples=["release"])
    from_status: str | None
    to_status: str
    ceb_code: int
    reason_code: str | None
    note: str | None


class DeclarationDetail(DeclarationSummary):
    """One declaration with the parcel, its lines, the documents received, the findings and the history."""

    tax_regime: str | None
    parcel: dict[str, Any]
    lines: list[LineView]
    documents: list[DocumentView]
    findings: list[FindingView]
    history: list[AuditEntryView]


class DeclarationPage(BaseModel):
    data: list[DeclarationSummary]
    has_more: bool
    next_cursor: str | None = Field(description="Pass as starting_after to get the next page")


class AuditTrail(BaseModel):
    declaration_id: str
    data: list[AuditEntryView]
