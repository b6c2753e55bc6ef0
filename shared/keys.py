"""API keys from the command line: create, list and revoke, in the database of each service that uses the role."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from shared.auth import ROLE_SERVICES, generate_key
from shared.db import Database
from shared.runtime import ServiceTables
from shared.services import settings_for


def _tables(service: str) -> ServiceTables:
    import importlib

    return importlib.import_module(f"services.{service}.models").tables


async def _with_db(service: str, action) -> Any:
    db = Database(settings_for(service).resolved_database_url())
    try:
        async with db.transaction() as session:
            return await action(session, _tables(service))
    finally:
        await db.dispose()


class KeyRefused(ValueError):
    """A key that may not be made here (a wildcard carrier key outside the sandbox)."""


async def create_key(*, role: str, owner: str, name: str, services: tuple[str, ...] | None = None,
                     expires_in: timedelta | None = None) -> tuple[str, str]:
    """Create one key (same id and hash) in every service that authenticates `role`; returns (key id, key).
    With `expires_in` the key stops working then (and is logged as expiring in the days before)."""
    from shared.auth import ApiKeyRepository
    from shared.db import utcnow

    if role == "carrier" and "*" in {code.strip() for code in owner.split(",")} and not settings_for("postal").sandbox:
        raise KeyRefused("a carrier key for every carrier (*) is for the sandbox only (SILKGATE_POSTAL_SANDBOX=true): "
                         "name the carrier codes the key acts for")
    expires_at = utcnow() + expires_in if expires_in is not None else None
    key_id, key = generate_key(role)
    for service in services or ROLE_SERVICES[role]:

        async def insert(session, tables, service=service):
            if service == "orders":
                from services.orders.keys import check_key_owner

                await check_key_owner(session, role=role, owner=owner)  # payment/logistics: a registered partner
            await ApiKeyRepository(tables.api_keys).insert(session, key_id=key_id, key=key, role=role, owner=owner,
                                                          name=name, expires_at=expires_at)
            if service == "orders" and role == "merchant":
                from services.orders.service import ensure_merchant

                await ensure_merchant(session, code=owner, name=name)

        await _with_db(service, insert)
    return key_id, key


async def list_keys(services: tuple[str, ...]) -> list[dict]:
    from shared.auth import ApiKeyRepository

    found: dict[str, dict] = {}
    for service in services:
        rows = await _with_db(service, lambda session, tables: ApiKeyRepository(tables.api_keys).list(session))
        for row in rows:
            found.setdefault(row["id"], {**row, "services": []})["services"].append(service)
    return sorted(found.values(), key=lambda r: r["created_at"])


async def revoke_key(key_id: str, services: tuple[str, ...]) -> int:
    """Revoke a key wherever it exists; returns in how many services it was active."""
    from shared.auth import ApiKeyRepository
    from shared.errors import NotFound

    revoked = 0
    for service in services:

        async def revoke(session, tables):
            await ApiKeyRepository(tables.api_keys).revoke(session, key_id)

        try:
            await _with_db(service, revoke)
            revoked += 1
        except NotFound:
            continue
    return revoked


async def revoke_owner_keys(*, service: str, owner: str, name: str) -> None:
    """Revoke every active key of one owner and name (used to rotate the sandbox carrier's key)."""
    from sqlalchemy import update

    from shared.db import utcnow

    async def revoke(session, tables):
        table = tables.api_keys
        await session.execute(update(table).where(table.c.owner == owner, table.c.name == name, table.c.active)
                              .values(active=False, revoked_at=utcnow()))

    await _with_db(service, revoke)


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> timedelta:
    """`90d`, `12h`, `30m`, `3600s`, `2w` (or a number of seconds) as a timedelta; raises ValueError."""
    value = text.strip().lower()
    unit = value[-1] if value and value[-1] in _UNITS else "s"
    number = value[:-1] if value and value[-1] in _UNITS else value
    seconds = float(number) * _UNITS[unit]
    if seconds <= 0:
        raise ValueError(f"a duration must be positive: {text!r}")
    return timedelta(seconds=seconds)
