"""The messages filed with the customs authority and its receipts, as the declaration page lists them.

The customs exchange (issue 14) keeps every message out and every receipt in; the console reads them through
`MESSAGE_LOADER`, which the exchange sets to its query (see the README's console section). Until it is set, a
declaration has no messages to show and the page says so.
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


async def declaration_messages(session: Any, declaration_id: str) -> list[MessageView]:
    return await MESSAGE_LOADER(session, declaration_id) if MESSAGE_LOADER is not None else []
