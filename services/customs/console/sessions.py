"""Signing in to the console: a broker key exchanged for a server-side session, and the CSRF token of its forms.

Sessions are stored server-side (console_sessions): the cookie carries 256 random bits, the table only their
SHA-256, so a database dump opens no session. Signing out deletes the row — the cookie is dead even if copied;
revoking the broker's key ends its sessions at the next request (each request checks the key is active); a session
expires after `session_ttl_s` whatever happens. Every form carries the session's CSRF token (synchronizer token);
the sign-in form, which has no session yet, a token paired with a short-lived cookie (double submit).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from services.customs.console.repository import ConsoleSessionRepository
from services.customs.models import ConsoleSession
from shared.auth import ApiKeyRepository, Principal
from shared.errors import Forbidden, Unauthorized

log = structlog.get_logger()

SESSION_COOKIE = "silkgate_console"
SIGN_IN_COOKIE = "silkgate_console_sign_in"  # the sign-in form's CSRF pair (double submit)
CONSOLE_ROLE = "broker"


@dataclass(frozen=True)
class BrokerSession:
    """A signed-in broker as the console's pages see them."""

    id: str  # the token's hash (the row's id)
    key_id: str
    broker: str
    broker_name: str
    csrf_token: str
    created_at: datetime
    expires_at: datetime

    @property
    def principal(self) -> Principal:
        """The broker as the service functions know callers: the same Principal an API request would carry."""
        return Principal(key_id=self.key_id, role=CONSOLE_ROLE, owner=self.broker, name=self.broker_name)

    @classmethod
    def of(cls, row: ConsoleSession) -> BrokerSession:
        return cls(id=row.id, key_id=row.key_id, broker=row.broker, broker_name=row.broker_name,
                   csrf_token=row.csrf_token, created_at=row.created_at, expires_at=row.expires_at)


def session_id(token: str) -> str:
    """What the table keeps of a cookie's token."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


async def sign_in(repo: ConsoleSessionRepository, keys: ApiKeyRepository, *, key: str, now: datetime,
                  ttl: timedelta) -> tuple[str, BrokerSession]:
    """Exchange a broker key for a new session; returns the cookie's token (shown nowhere else) and the session."""
    principal = await keys.find_active(repo.session, key.strip()) if key.strip() else None
    if principal is None:
        log.info("console.sign_in_refused", reason="key_invalid")
        raise Unauthorized("Unknown or revoked key", code="api_key_invalid", field="key")
    if principal.role != CONSOLE_ROLE:
        log.info("console.sign_in_refused", reason="role_not_allowed", role=principal.role, key_id=principal.key_id)
        raise Forbidden(f"The console is for customs brokers; a {principal.role} key cannot sign in",
                        code="role_not_allowed", field="key")
    await repo.remove_expired(now=now)
    token = new_token()
    row = ConsoleSession(id=session_id(token), key_id=principal.key_id, broker=principal.owner,
                         broker_name=principal.name, csrf_token=new_token(), created_at=now, expires_at=now + ttl)
    await repo.add(row)
    log.info("console.signed_in", broker=principal.owner, key_id=principal.key_id, expires_at=row.expires_at.isoformat())
    return token, BrokerSession.of(row)


async def current(repo: ConsoleSessionRepository, token: str | None, *, now: datetime) -> BrokerSession | None:
    """The live session a cookie names, if any."""
    if not token:
        return None
    row = await repo.live(session_id(token), now=now)
    return BrokerSession.of(row) if row is not None else None


async def sign_out(repo: ConsoleSessionRepository, session: BrokerSession) -> None:
    await repo.remove(session.id)
    log.info("console.signed_out", broker=session.broker, key_id=session.key_id)


def check_csrf(expected: str | None, submitted: object) -> None:
    """The form's token must be the session's (or the sign-in cookie's); compared in constant time."""
    if not expected or not isinstance(submitted, str) or not hmac.compare_digest(expected, submitted):
        log.warning("console.csrf_refused")
        raise Forbidden("This form did not come from your console session, or the session changed; "
                        "reload the page and try again", code="csrf_invalid")
