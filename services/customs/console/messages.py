"""The messages filed with the customs authority and its receipts, as the declaration page lists them.

The customs exchange (issue 14) keeps every message out and every receipt in; the console reads them through
`MESSAGE_LOADER` (a declaration's list) and `RAW_MESSAGE_LOADER` (one message exactly as filed or received, shown
at /console/messages/{guid}), which the exchange sets to its queries. Until they are set, a declaration has no
messages to show and the page says so.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal


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


# (database session, declaration id) → the declaration's messages and receipts, oldest first.
MessageLoader = Callable[[Any, str], Awaitable[list[MessageView]]]
MESSAGE_LOADER: MessageLoader | None = None
# (database session, message guid) → the message's bytes exactly as filed or received, or None.
RawMessageLoader = Callable[[Any, str], Awaitable[bytes | None]]
RAW_MESSAGE_LOADER: RawMessageLoader | None = None


async def declaration_messages(session: Any, declaration_id: str) -> list[MessageView]:
    return await MESSAGE_LOADER(session, declaration_id) if MESSAGE_LOADER is not None else []


async def raw_message(session: Any, guid: str) -> bytes | None:
    return await RAW_MESSAGE_LOADER(session, guid) if RAW_MESSAGE_LOADER is not None else None


def raw_url(guid: str) -> str:
    """Where the console shows a message exactly as filed (for MessageView.raw_url)."""
    return f"/console/messages/{guid}"
