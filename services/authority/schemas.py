"""Bodies of the sandbox authority's API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class Acknowledgement(BaseModel):
    """The answer to a message the authority took (its receipts follow, to customs' POST /v1/receipts)."""

    MessageId: str
    guid: str
    MessageType: str
    status: str = Field(description="accepted")
    received_at: str
    receipts_planned: int
    duplicate: bool = Field(description="true when this MessageId was taken before: nothing was done again")


class TransportMessage(BaseModel):
    """The transport envelope (DOMAIN.md §11): {"Message": {"MessageHead": {…}, "MessageBody": {"data": …}}}."""

    Message: dict[str, Any]


class MessageSummary(BaseModel):
    id: int
    message_id: str | None
    kind: str | None
    cop_no: str | None
    received_at: datetime
    result: str
    problem_code: str | None
    answer_status: int


class MessageDetail(MessageSummary):
    request_body: str = Field(description="the HTTP body exactly as received (UTF-8)")
    answer: dict[str, Any]


class ReceiptSummary(BaseModel):
    id: int
    case_guid: str = Field(description="the guid of the message the receipt answers")
    kind: str
    receipt_type: str
    cop_no: str | None
    seq: int
    receipt_guid: str
    return_status: int
    return_info: str
    state: str = Field(description="planned | delivered | withdrawn")
    due_at: datetime
    attempts: int
    last_error: str | None
    delivered_at: datetime | None
    body: str | None = Field(description="the signed receipt as posted (once its first attempt made it)")
