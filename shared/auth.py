"""API keys: stored hashed, one role per key, the owner bound to the request."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

import structlog
from fastapi import Request
from sqlalchemy import Boolean, Column, Index, MetaData, String, Table, select, update

from shared.db import UTCDateTime, utcnow
from shared.errors import Forbidden, NotFound, Unauthorized

Role = Literal["merchant", "broker", "carrier", "payment", "logistics", "authority", "ops"]
ROLES: tuple[str, ...] = ("merchant", "broker", "carrier", "payment", "logistics", "authority", "ops")
# Which service's database holds a role's keys; ops keys live in all three.
ROLE_SERVICES: dict[str, tuple[str, ...]] = {
    "merchant": ("orders",),
    "payment": ("orders",),
    # An external logistics company posts its waybill (CEB 511) for the merchants it is bound to.
    "logistics": ("orders",),
    "broker": ("customs",),
    # The customs authority (or the sandbox authority) posts its receipts to customs.
    "authority": ("customs",),
    "carrier": ("postal",),
    "ops": ("orders", "customs", "postal"),
}


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id, role and owner (merchant code, carrier code, broker name)."""

    key_id: str
    role: str
    owner: str
    name: str


def api_keys_table(metadata: MetaData) -> Table:
    return Table(
        "api_keys",
        metadata,
        Column("id", String(32), primary_key=True),
        Column("key_hash", String(64), nullable=False, unique=True),
        Column("prefix", String(16), nullable=False),
        Column("role", String(16), nullable=False),
        Column("owner", String(64), nullable=False),
        Column("name", String(128), nullable=False),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("revoked_at", UTCDateTime(), nullable=True),
        Column("active", Boolean, nullable=False, default=True),
        Index(None, "owner"),
    )


def hash_key(key: str) -> str:
    """Keys are 256-bit random, so a plain SHA-256 is a safe one-way store (no need for a slow KDF)."""
    return hashlib.sha256(key.encode()).hexdigest()


def generate_key(role: str) -> tuple[str, str]:
    """A new key and its id; the key is shown once and only its hash is kept."""
    key_id = secrets.token_hex(8)
    return key_id, f"sg_{role}_{secrets.token_urlsafe(32)}"


class ApiKeyRepository:
    """Queries on one service's api_keys table."""

    def __init__(self, table: Table) -> None:
        self.table = table

    async def insert(self, session, *, key_id: str, key: str, role: str, owner: str, name: str) -> None:
        await session.execute(
            self.table.insert().values(
                id=key_id, key_hash=hash_key(key), prefix=key[:12], role=role, owner=owner, name=name,
                created_at=utcnow(), active=True,
            )
        )

    async def find_active(self, session, key: str) -> Principal | None:
        row = (
            await session.execute(select(self.table).where(self.table.c.key_hash == hash_key(key), self.table.c.active))
        ).first()
        return Principal(key_id=row.id, role=row.role, owner=row.owner, name=row.name) if row else None

    async def list(self, session) -> list[dict]:
        rows = (await session.execute(select(self.table).order_by(self.table.c.created_at))).all()
        return [
            {"id": r.id, "prefix": r.prefix, "role": r.role, "owner": r.owner, "name": r.name,
             "created_at": r.created_at, "revoked_at": r.revoked_at, "active": r.active}
            for r in rows
        ]

    async def revoke(self, session, key_id: str) -> None:
        result = await session.execute(
            update(self.table).where(self.table.c.id == key_id, self.table.c.active).values(active=False, revoked_at=utcnow())
        )
        if result.rowcount == 0:
            raise NotFound(f"No active API key {key_id}", code="api_key_not_found")


def bearer_key(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthorized("Send 'Authorization: Bearer <api key>'", code="api_key_missing")
    return key.strip()


def require_roles(*roles: str) -> Callable[[Request], Awaitable[Principal]]:
    """FastAPI dependency: the calling key must be active and have one of `roles`."""

    async def dependency(request: Request) -> Principal:
        key = bearer_key(request)
        runtime = request.app.state.runtime
        # Keys are looked up on every request (no cache) so a revoked key stops working at once.
        async with runtime.db.reader() as session:
            principal = await runtime.api_keys.find_active(session, key)
        if principal is None:
            raise Unauthorized("Unknown or revoked API key", code="api_key_invalid")
        if principal.role not in roles:
            raise Forbidden(f"This endpoint needs a key with role {' or '.join(roles)}", code="role_not_allowed")
        structlog.contextvars.bind_contextvars(principal_role=principal.role, principal_owner=principal.owner)
        request.state.principal = principal
        return principal

    return dependency
