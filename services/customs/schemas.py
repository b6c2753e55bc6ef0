"""API bodies and responses of the customs service (brokers' work queue and actions, messages, receipts, audit)."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from shared.contract.events import CustomsStatus, Lane
from shared.contract.parcel import Channel, PositiveMoney

Note = Annotated[str, Field(max_length=2000, examples=["Invoice and waybill checked against the goods."])]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


RejectReason = Literal["prohibited_goods", "misdeclared_goods", "documents_missing", "documents_mismatch",
                       "quota_exceeded", "buyer_identity", "buyer_request", "other"]
CancelReason = Literal["order_cancelled", "documents_missing", "duplicate_order", "other"]
AmendReason = Literal["hs_code_corrected", "description_corrected", "value_corrected", "quantity_corrected", "other"]
FileReason = Literal["findings_resolved", "amended", "risk_accepted", "refile_after_rejection", "other"]
DocumentsReason = Literal["payment_document", "waybill_document", "payment_and_waybill", "other"]
AnswerReason = Literal["documents_provided", "explanation", "other"]

# Every reason code a broker action takes, by action (the console's drop-downs; the API's enums).
REASON_CODES: dict[str, tuple[str, ...]] = {
    "reject": get_args(RejectReason), "cancel": get_args(CancelReason), "amend": get_args(AmendReason),
    "file": get_args(FileReason), "request_documents": get_args(DocumentsReason), "answer": get_args(AnswerReason),
}


class RejectBody(Body):
    """Reject the declaration for good: it will not be filed (again); the order is rejected."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"reason_code": "documents_missing", "note": "Payment company never sent its document."}]
    })

    reason_code: RejectReason
    note: Note | None = None


class CancelBody(Body):
    """Cancel the declaration before it is filed (the order cannot go ahead)."""

    reason_code: CancelReason
    note: Note | None = None


MoneyText = PositiveMoney


class LineAmendment(Body):
    """What changes on one line; fields left out stay as they are. total_price must equal unit_price × quantity."""

    line_no: Annotated[int, Field(ge=1, le=100)]
    hs_code: Annotated[str, Field(pattern=r"^[0-9]{6,10}$", examples=["8517130000"])] | None = None
    name: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    quantity: Annotated[Decimal, Field(gt=0, max_digits=12, decimal_places=3)] | None = None
    unit_price: MoneyText | None = None
    total_price: MoneyText | None = None


class AmendBody(Body):
    """Correct the declaration's lines before (re-)filing: HS codes, descriptions, quantities, values."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"lines": [{"line_no": 1, "hs_code": "9503002100", "name": "Plastic toy car"}],
                      "reason_code": "description_corrected", "note": "Photo shows a toy car."}]
    })

    lines: Annotated[list[LineAmendment], Field(min_length=1, max_length=100)]
    reason_code: AmendReason
    note: Note | None = None


class FileBody(Body):
    """File the declaration with the customs authority (again, as appType 2, after a rejection)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"reason_code": "findings_resolved", "note": "Description and HS code corrected."}]
    })

    reason_code: FileReason = "findings_resolved"
    note: Note | None = None


class RequestDocumentsBody(Body):
    """Ask the parties again for the documents that are missing; a new deadline starts."""

    reason_code: DocumentsReason
    note: Note | None = None


class DocumentReference(Body):
    """A document the broker gives the authority, by reference (the authority fetches it through its channels)."""

    kind: Annotated[str, Field(min_length=1, max_length=32, examples=["invoice"])]
    reference: Annotated[str, Field(min_length=1, max_length=128, examples=["INV-2026-0042"])]
    description: Annotated[str, Field(max_length=512)] | None = None


class AnswerBody(Body):
    """The broker's answer to the authority's manual review (300) or detention: an explanation and documents."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"reason_code": "documents_provided", "explanation": "Invoice and product photos attached.",
                      "documents": [{"kind": "invoice", "reference": "INV-2026-0042"}]}]
    })

    reason_code: AnswerReason
    explanation: Annotated[str, Field(min_length=1, max_length=2000)]
    documents: Annotated[list[DocumentReference], Field(max_length=20)] = []


class InspectionBody(Body):
    """Who attended the authority's inspection (500) and what it found."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"attended_by": "Li Wei", "attended_at": "2026-03-01T09:30:00+08:00", "outcome": "passed",
                      "note": "Contents match the inventory list."}]
    })

    attended_by: Annotated[str, Field(min_length=1, max_length=128)]
    attended_at: AwareDatetime
    outcome: Literal["passed", "failed"]
    note: Note | None = None


BrokerAction = Literal["amend", "file", "request_documents", "answer", "record_inspection", "reject", "cancel"]


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
    tracking_number: str | None = Field(description="From the logistics company's waybill")
    needs_broker: bool = Field(description="A broker has to act; false while the authority or a party has the "
                                           "next move")
    awaiting_documents: bool
    opened_at: datetime
    documents_deadline_at: datetime | None
    filed_at: datetime | None = Field(description="Last filed with the customs authority")
    filings: int = Field(description="How often it was filed; 2 and up: filed again as a change (appType 2)")
    released_at: datetime | None = Field(description="When the authority released the goods (CEB 800)")
    decided_at: datetime | None
    decided_by: str | None
    claim: ClaimView | None = None
    allowed_actions: list[BrokerAction] = Field(examples=[["amend", "file", "reject", "cancel"]])


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


class MessageView(BaseModel):
    """A message filed with the customs authority (GET /v1/messages/{guid} gives it exactly as filed)."""

    guid: str
    message_type: str = Field(examples=["CEB621"])
    purpose: Literal["declaration", "order", "cancel", "return", "answer"]
    app_type: int = Field(description="1 new, 2 change, 3 delete")
    state: Literal["queued", "sent", "refused"]
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


class ReceiptView(BaseModel):
    """A receipt from the authority (GET /v1/receipts/{id} gives it exactly as received)."""

    id: int
    received_at: datetime
    message_type: str | None = Field(examples=["CEB622"])
    message_guid: str | None
    return_status: int | None = Field(examples=[800])
    return_time: str | None = Field(description="YYYYMMDDhhmmssSSS, China time")
    return_info: str | None
    outcome: Literal["applied", "recorded", "duplicate", "late", "superseded", "refused"]
    error_code: str | None


class MessageList(BaseModel):
    declaration_id: str
    messages: list[MessageView]
    receipts: list[ReceiptView]


class ReceiptAnswer(BaseModel):
    """What a receipt did: applied (moved the declaration), recorded (kept; nothing to move), duplicate, late,
    superseded (for a filing replaced by a later one)."""

    receipt_id: int
    outcome: Literal["applied", "recorded", "duplicate", "late", "superseded"]
    declaration_id: str
    status: CustomsStatus


def _signed_receipt(value: str) -> str:
    try:
        base64.b64decode(value, validate=True)
        return value
    except (binascii.Error, ValueError):
        raise ValueError("not base64 (RFC 4648, standard alphabet, padded)") from None


# One signed receipt's XML, base64 (a receipt is a few kB; the request body stays under max_body_bytes).
SignedReceipt = Annotated[str, Field(min_length=4, max_length=100_000), AfterValidator(_signed_receipt)]
RECEIPT_BATCH_MAX = 100
# Records in one request, over all its documents (each document holds up to shared.ceb.receipts.MAX_RECORDS).
RECEIPT_RECORDS_MAX = 1000


class ReceiptBatchBody(Body):
    """Signed receipt documents posted together, base64, applied in this order: each as POST /v1/receipts takes
    it, or carrying several records of its type under its one signature (at most 100 a document, 1,000 a request:
    422 receipt_batch_too_large past that)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"receipts": ["PD94bWwgdmVyc2lvbj0iMS4wIiBlbmNvZGluZz0iVVRGLTgiPz4KPENFQjYyMk1lc3NhZ2UgLi4u",
                                   "PD94bWwgdmVyc2lvbj0iMS4wIiBlbmNvZGluZz0iVVRGLTgiPz4KPENVU1JTUCAuLi4="]}]})

    receipts: Annotated[list[SignedReceipt], Field(min_length=1, max_length=RECEIPT_BATCH_MAX)]

    def signed(self) -> list[bytes]:
        """Each receipt's signed XML, as posted."""
        return [base64.b64decode(receipt, validate=True) for receipt in self.receipts]


class ReceiptResult(BaseModel):
    """What customs did with one receipt: taken (`status` 200, what it did to which declaration) or refused
    (`status`, `code`, `detail`)."""

    status: int
    receipt_id: int | None = None
    outcome: Literal["applied", "recorded", "duplicate", "late", "superseded"] | None = None
    declaration_id: str | None = None
    declaration_status: CustomsStatus | None = None
    code: str | None = None
    detail: str | None = None


class ReceiptRecordItem(ReceiptResult):
    """What one record of a document of several did, as ReceiptBatchItem; `guid` is the message it answers."""

    guid: str


class ReceiptBatchItem(ReceiptResult):
    """What one receipt document of a batch did: `status` is what POST /v1/receipts would have answered for it
    (200, or 422 receipt_malformed / receipt_signature_invalid, 404 receipt_unknown_message, 503 receipt_busy); the
    refused ones are kept as received all the same. A document of several records (one signature over several
    answers) has `records`, one result per record in its order, each record kept as a receipt of its own with the
    document as its body; its `status` is 200 when every record was taken, else the first refused record's."""

    records: list[ReceiptRecordItem] | None = None


class ReceiptBatchAnswer(BaseModel):
    """One result per receipt posted, in the order posted."""

    results: list[ReceiptBatchItem]


class DeclarationDetail(DeclarationSummary):
    """One declaration with the parcel, its lines, the documents received, the findings, the messages filed and
    the authority's receipts, and the history."""

    tax_regime: str | None
    parcel: dict[str, Any]
    lines: list[LineView]
    documents: list[DocumentView]
    findings: list[FindingView]
    messages: list[MessageView]
    receipts: list[ReceiptView]
    history: list[AuditEntryView]


class DeclarationPage(BaseModel):
    data: list[DeclarationSummary]
    has_more: bool
    next_cursor: str | None = Field(description="Pass as starting_after to get the next page")


class AuditTrail(BaseModel):
    declaration_id: str
    data: list[AuditEntryView]
