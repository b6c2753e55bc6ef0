"""The messages filed with the customs authority and its receipts, as the declaration page lists them.

The customs exchange keeps every message out and every receipt in (repository_exchange); the page lists them and
links each to its raw text: /console/messages/{guid} exactly as filed, /console/receipts/{id} exactly as received.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from services.customs.repository_exchange import ExchangeRepository


@dataclass(frozen=True)
class MessageView:
    """One message as the page lists it; `raw_url` links to the message exactly as filed or received."""

    direction: Literal["out", "in"]
    message_type: str  # CEB621Message, CEB622 receipt, REVIEWANSWER, CUSRSP …
    guid: str
    at: datetime
    status: str  # for a message out: queued, sent, acknowledged…; for a receipt: its returnStatus
    info: str | None = None  # a receipt's returnInfo
    raw_url: str | None = None


async def declaration_messages(session: Any, declaration_id: str) -> list[MessageView]:
    """Every message filed for the declaration and every receipt the authority sent about it, oldest first."""
    exchange = ExchangeRepository(session)
    out = [MessageView("out", m.message_type, m.guid, m.sent_at or m.created_at, m.state,
                       m.last_error, raw_url(m.guid)) for m in await exchange.messages_of(declaration_id)]
    received = [MessageView("in", r.message_type or "receipt", r.message_guid or "", r.received_at,
                            str(r.return_status) if r.return_status is not None else r.outcome,
                            r.return_info or r.error, receipt_url(r.id))
                for r in await exchange.receipts_of(declaration_id)]
    return sorted(out + received, key=lambda view: view.at)


async def raw_message(session: Any, guid: str) -> bytes | None:
    """A message exactly as filed."""
    message = await ExchangeRepository(session).message(guid)
    return message.body.encode("utf-8") if message is not None else None


async def raw_receipt(session: Any, receipt_id: int) -> bytes | None:
    """A receipt exactly as received."""
    receipt = await ExchangeRepository(session).receipt(receipt_id)
    return receipt.body.encode("utf-8") if receipt is not None else None


def raw_url(guid: str) -> str:
    """Where the console shows a message exactly as filed (for MessageView.raw_url)."""
    return f"/console/messages/{guid}"


def receipt_url(receipt_id: int) -> str:
    return f"/console/receipts/{receipt_id}"
