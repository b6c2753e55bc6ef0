"""API keys of the orders service (merchants, payment providers, logistics companies, ops) and the merchant registry.

Plain async functions over an open session, so the HTTP endpoints and the `silkgate keys` CLI share them.
"""

from __future__ import annotations

from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from services.orders import parties_repository, repository
from services.orders.domain.documents import ROLE_OF_KIND, role_violation
from services.orders.models import tables
from shared.auth import ApiKeyRepository, generate_key
from shared.db import utcnow
from shared.errors import InvalidInput, NotFound

log = structlog.get_logger()

API_KEYS = ApiKeyRepository(tables.api_keys)
# Roles whose keys this service authenticates (shared.auth.ROLE_SERVICES): brokers and carriers live elsewhere.
ORDERS_ROLES = ("merchant", "payment", "logistics", "ops")
# Roles whose keys belong to a registered partner (owner = the partner's code).
PARTNER_ROLES = frozenset(ROLE_OF_KIND.values())


async def ensure_merchant(session: AsyncSession, *, code: str, name: str) -> None:
    """Register a merchant under its code, once; later keys of the same merchant leave its name alone."""
    await repository.insert_merchant_if_missing(session, code=code, name=name, created_at=utcnow())


async def create_api_key(session: AsyncSession, *, role: str, owner: str, name: str) -> tuple[str, str]:
    """Create a key for `owner` (merchant code, payment provider, ops team); returns (key id, key), the key once.

    A merchant key also registers the merchant.
    """
    if role not in ORDERS_ROLES:
        raise InvalidInput(f"the orders service holds keys of roles {', '.join(ORDERS_ROLES)}, not {role}",
                           code="role_not_allowed", field="role")
    await check_key_owner(session, role=role, owner=owner)
    key_id, key = generate_key(role)
    await API_KEYS.insert(session, key_id=key_id, key=key, role=role, owner=owner, name=name)
    if role == "merchant":
        await ensure_merchant(session, code=owner, name=name)
    log.info("api_key.created", key_id=key_id, role=role, owner=owner)
    return key_id, key


async def check_key_owner(session: AsyncSession, *, role: str, owner: str) -> None:
    """A payment or logistics key belongs to a registered partner of that kind (InvalidInput otherwise)."""
    if role not in PARTNER_ROLES:
        return
    partner = await parties_repository.get_partner(session, owner)
    violation = role_violation(role=role, partner_kind=partner.kind if partner else None, owner=owner)
    if violation is not None:
        raise InvalidInput(violation.message, code=violation.code, field=violation.field)


async def get_api_key(session: AsyncSession, key_id: str) -> dict[str, Any]:
    found = await repository.get_api_key(session, tables.api_keys, key_id)
    if found is None:
        raise NotFound(f"No API key {key_id}", code="api_key_not_found")
    return found


async def list_api_keys(session: AsyncSession, *, role: str | None = None, owner: str | None = None,
                        active: bool | None = None) -> list[dict[str, Any]]:
    """Keys without their hashes, oldest first."""
    return await repository.list_api_keys(session, tables.api_keys, role=role, owner=owner, active=active)


async def revoke_api_key(session: AsyncSession, key_id: str) -> dict[str, Any]:
    """Revoke a key; it stops working with the next request (keys are looked up on every request).

    Revoking a revoked key returns it unchanged; an unknown id is a 404.
    """
    found = await get_api_key(session, key_id)
    if found["active"]:
        await API_KEYS.revoke(session, key_id)
        log.info("api_key.revoked", key_id=key_id, role=found["role"], owner=found["owner"])
        found = await get_api_key(session, key_id)
    return found
