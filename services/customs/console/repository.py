"""The console's own queries: its sessions, and whether the key a session came from is still active."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, exists, select

from services.customs.models import ConsoleSession


class ConsoleSessionRepository:
    """Sessions of brokers signed in to the console, in the caller's session (database)."""

    def __init__(self, session: Any, api_keys: Table) -> None:
        self.session = session
        self.api_keys = api_keys

    async def add(self, row: ConsoleSession) -> None:
        self.session.add(row)
        await self.session.flush()

    async def live(self, session_id: str, *, now: datetime) -> ConsoleSession | None:
        """The session if it has not expired and its key is still active (a revoked key ends its sessions)."""
        key_active = exists().where(self.api_keys.c.id == ConsoleSession.key_id, self.api_keys.c.active)
        query = select(ConsoleSession).where(ConsoleSession.id == session_id, ConsoleSession.expires_at > now,
                                             key_active)
        return (await self.session.execute(query)).scalar_one_or_none()

    async def remove(self, session_id: str) -> None:
        await self.session.execute(delete(ConsoleSession).where(ConsoleSession.id == session_id))

    async def remove_expired(self, *, now: datetime) -> int:
        result = await self.session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at <= now))
        return result.rowcount or 0
