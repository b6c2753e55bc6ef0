"""API keys: stored hashed, one role per key, the owner bound to the request."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import structlog
from fastapi import Request
from starlette.types import ASGIApp, Receive, Scope, Send
from sqlalchemy import Boolean, Column, Index, MetaData, String, Table, select, update

from shared.db import UTCDateTime, utcnow
from shared.errors import Forbidden, NotFound, SilkgateError, Unauthorized

log = structlog.get_logger()

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
    expires_at: datetime | None = None


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
        # Optional end of validity (`silkgate keys create --expires-in 90d`); none: until revoked.
        Column("expires_at", UTCDateTime(), nullable=True),
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

    async def insert(self, session, *, key_id: str, key: str, role: str, owner: str, name: str,
                     expires_at: datetime | None = None) -> None:
        await session.execute(
            self.table.insert().values(
                id=key_id, key_hash=hash_key(key), prefix=key[:12], role=role, owner=owner, name=name,
                created_at=utcnow(), active=True, expires_at=expires_at,
            )
        )

    async def find_active(self, session, key: str) -> Principal | None:
        """The key's principal when it is active and not expired."""
        row = (
            await session.execute(select(self.table).where(self.table.c.key_hash == hash_key(key), self.table.c.active))
        ).first()
        if row is None or (row.expires_at is not None and row.expires_at <= utcnow()):
            return None
        return Principal(key_id=row.id, role=row.role, owner=row.owner, name=row.name, expires_at=row.expires_at)

    async def list(self, session) -> list[dict]:
        rows = (await session.execute(select(self.table).order_by(self.table.c.created_at))).all()
        return [
            {"id": r.id, "prefix": r.prefix, "role": r.role, "owner": r.owner, "name": r.name,
             "created_at": r.created_at, "revoked_at": r.revoked_at, "active": r.active, "expires_at": r.expires_at}
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


# A key used within this long of its expiry is logged (api_key.expiring), at most once an hour per key and process.
EXPIRY_WARNING_S = 14 * 24 * 3600.0
_warned: dict[str, float] = {}


async def authenticate(request: Request) -> Principal:
    """The calling key's principal (401 when missing, unknown, revoked or expired); looked up on every request
    (no cache) so a revoked key stops working at once."""
    key = bearer_key(request)
    runtime = request.app.state.runtime
    async with runtime.db.reader() as session:
        principal = await runtime.api_keys.find_active(session, key)
    if principal is None:
        raise Unauthorized("Unknown, revoked or expired API key", code="api_key_invalid")
    _warn_if_expiring(principal)
    structlog.contextvars.bind_contextvars(principal_role=principal.role, principal_owner=principal.owner)
    return principal


def _warn_if_expiring(principal: Principal) -> None:
    if principal.expires_at is None:
        return
    left = (principal.expires_at - utcnow()).total_seconds()
    now = time.monotonic()
    if left < EXPIRY_WARNING_S and now - _warned.get(principal.key_id, -1e9) > 3600:
        _warned[principal.key_id] = now
        log.warning("api_key.expiring", key_id=principal.key_id, role=principal.role, owner=principal.owner,
                    expires_at=principal.expires_at.isoformat(), days_left=round(left / 86400, 1))


def require_roles(*roles: str) -> Callable[[Request], Awaitable[Principal]]:
    """FastAPI dependency: the calling key must be active and have one of `roles` (ApiKeyGate has authenticated it
    before the body was read; without the gate, as in a bare router, it is authenticated here)."""

    async def dependency(request: Request) -> Principal:
        principal = getattr(request.state, "principal", None) or await authenticate(request)
        if principal.role not in roles:
            raise Forbidden(f"This endpoint needs a key with role {' or '.join(roles)}", code="role_not_allowed")
        request.state.principal = principal
        return principal

    return dependency


class ApiKeyGate:
    """Authenticate `/v1/` requests from their headers alone, before anything reads the body (pure ASGI).

    Without it FastAPI reads and parses a request's body before its dependencies run, so an anonymous client could
    make us read and parse megabytes. A missing, unknown, revoked or expired key is answered 401 here and the body
    is never received; the principal found is handed to require_roles through the request state.
    """

    def __init__(self, app: ASGIApp, *, prefix: str = "/v1/") -> None:
        self.app, self.prefix = app, prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "OPTIONS" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        request = Request(scope)  # headers and app only: no receive, the body stays unread
        try:
            principal = await authenticate(request)
        except SilkgateError as error:
            from shared.errors import problem_response

            await problem_response(error, request)(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)
