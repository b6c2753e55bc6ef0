"""The transport envelope (DOMAIN.md §11), as one open-source gateway does it:

    {"Message": {"MessageHead": {"MessageId", "MessageType": "CEB621Message.xml", "SenderID", "ReceiverID",
                                 "SendTime", "Version"},
                 "MessageBody": {"data": base64(message bytes)}}}

MessageId is the message's guid, so a repeat of the same message is recognised. JSON messages travel the same way
("CUSITM.json"); their detached signature (shared.ceb.signing.sign_bytes over the exact bytes of `data`) rides in
the head as `Signature` — a silkgate addition, absent for XML messages, which carry theirs inside.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.ceb.errors import MessageMalformed
from shared.ceb.fields import GUID_PATTERN, return_time

XML_TYPES = ("CEB311", "CEB303", "CEB621", "CEB603", "CEB623", "CEB605", "CEB625")
JSON_TYPES = ("CUSITM", "EXPMANIFEST", "REVIEWANSWER", "INSPECTIONRECORD")
TRANSPORT_VERSION = "1.0"
MAX_MESSAGE_BYTES = 2_000_000


def transport_type(kind: str) -> str:
    """CEB621 → CEB621Message.xml; CUSITM → CUSITM.json."""
    if kind in XML_TYPES:
        return f"{kind}Message.xml"
    if kind in JSON_TYPES:
        return f"{kind}.json"
    raise ValueError(f"{kind!r} is not a message type silkgate files")


def kind_of(message_type: str) -> str | None:
    """CEB621Message.xml → CEB621; None for a type outside the exchange."""
    for kind in (*XML_TYPES, *JSON_TYPES):
        if transport_type(kind) == message_type:
            return kind
    return None


@dataclass(frozen=True)
class Envelope:
    """An unwrapped transport envelope: the head's fields and the message bytes."""

    message_id: str
    kind: str  # CEB621, CUSITM …
    sender_id: str
    receiver_id: str
    send_time: str
    version: str
    data: bytes
    signature: str | None = None

    @property
    def is_xml(self) -> bool:
        return self.kind in XML_TYPES


def wrap(data: bytes, *, kind: str, message_id: str, sender_id: str, receiver_id: str, send_time: datetime,
         signature: str | None = None) -> dict[str, Any]:
    """The envelope around one message, as JSON-ready dict."""
    head: dict[str, Any] = {"MessageId": message_id, "MessageType": transport_type(kind), "SenderID": sender_id,
                            "ReceiverID": receiver_id, "SendTime": return_time(send_time),
                            "Version": TRANSPORT_VERSION}
    if signature is not None:
        head["Signature"] = signature
    return {"Message": {"MessageHead": head, "MessageBody": {"data": base64.b64encode(data).decode()}}}


class _Head(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    MessageId: Annotated[str, Field(pattern=f"^{GUID_PATTERN.pattern}$")]
    MessageType: Annotated[str, Field(min_length=1, max_length=40)]
    SenderID: Annotated[str, Field(min_length=1, max_length=40)]
    ReceiverID: Annotated[str, Field(min_length=1, max_length=40)]
    SendTime: Annotated[str, Field(pattern=r"^\d{14}(\d{3})?$")]
    Version: Annotated[str, Field(min_length=1, max_length=10)]
    Signature: Annotated[str, Field(min_length=1, max_length=4096)] | None = None


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    data: Annotated[str, Field(min_length=1, max_length=MAX_MESSAGE_BYTES * 4 // 3 + 4)]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    MessageHead: _Head
    MessageBody: _Body


class _Transport(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    Message: _Message


def unwrap(body: Any) -> Envelope:
    """Read an envelope (the parsed JSON); MessageMalformed names the field at fault, e.g. Message.MessageHead.MessageId."""
    try:
        transport = _Transport.model_validate(body)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error.get("loc", ())) or "Message"
        raise MessageMalformed(field, error.get("msg", "invalid"), code="envelope_invalid") from exc
    head = transport.Message.MessageHead
    kind = kind_of(head.MessageType)
    if kind is None:
        raise MessageMalformed("Message.MessageHead.MessageType", f"{head.MessageType!r} is not a message type "
                               f"of the exchange", code="message_type_unknown")
    try:
        data = base64.b64decode(transport.Message.MessageBody.data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MessageMalformed("Message.MessageBody.data", "not base64", code="envelope_invalid") from exc
    return Envelope(message_id=head.MessageId, kind=kind, sender_id=head.SenderID, receiver_id=head.ReceiverID,
                    send_time=head.SendTime, version=head.Version, data=data, signature=head.Signature)
