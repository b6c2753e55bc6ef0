"""The partner registry: payment providers and external logistics companies, and the merchants each serves.

A partner's code is the owner of its API keys (role `payment` or `logistics`); its keys act only for the orders of
merchants bound to it, and get 404 for anything else, as for an order that does not exist. Plain async functions over
an open session, so the ops endpoints and the `silkgate partners` CLI share them; nothing here commits.
"""

from __future__ import annotations

from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from services.orders import parties_repository as repository
from services.orders.domain.documents import PartnerView, partner_violations
from services.orders.models import Partner
from shared.db import utcnow
from shared.errors import Conflict, NotFound, invalid_input_from

log = structlog.get_logger()


def partner_view(partner: Partner, merchants: list[str]) -> dict[str, Any]:
    """A partner as the API and the CLI show it."""
    return {"code": partner.code, "kind": partner.kind, "name": partner.name, "uscc": partner.uscc,
            "active": partner.active, "merchants": merchants, "created_at": partner.created_at,
            "updated_at": partner.updated_at}


def _check(uscc: str | None) -> None:
    violations = partner_violations(uscc=uscc)
    if violations:
        raise invalid_input_from([{"field": v.field, "code": v.code, "message": v.message} for v in violations])


async def add_partner(session: AsyncSession, *, code: str, kind: str, name: str,
                      uscc: str | None = None) -> dict[str, Any]:
    """Register a partner; 409 when its code is taken."""
    uscc = uscc.upper() if uscc else None
    _check(uscc)
    now = utcnow()
    added = await repository.insert_partner(session, {"code": code, "kind": kind, "name": name, "uscc": uscc,
                                                      "active": True, "created_at": now, "updated_at": now})
    if not added:
        raise Conflict(f"A partner {code} exists already", code="partner_exists", field="code")
    log.info("partner.added", partner_code=code, kind=kind)
    return await get_partner(session, code)


async def _partner(session: AsyncSession, code: str) -> Partner:
    partner = await repository.get_partner(session, code)
    if partner is None:
        raise NotFound(f"No partner {code}", code="partner_not_found")
    return partner


async def get_partner(session: AsyncSession, code: str) -> dict[str, Any]:
    partner = await _partner(session, code)
    merchants = await repository.merchants_of(session, [code])
    return partner_view(partner, merchants[code])


async def list_partners(session: AsyncSession, *, kind: str | None = None,
                        merchant_code: str | None = None) -> list[dict[str, Any]]:
    partners = await repository.list_partners(session, kind=kind, merchant_code=merchant_code)
    merchants = await repository.merchants_of(session, [p.code for p in partners])
    return [partner_view(p, merchants[p.code]) for p in partners]


async def update_partner(session: AsyncSession, code: str, changes: dict[str, Any]) -> dict[str, Any]:
    """Change a partner's name, USCC or active flag; an inactive partner's keys act for nobody."""
    await _partner(session, code)
    if changes.get("uscc"):
        changes["uscc"] = changes["uscc"].upper()
        _check(changes["uscc"])
    if changes:
        await repository.update_partner(session, code, {**changes, "updated_at": utcnow()})
        log.info("partner.updated", partner_code=code, fields=sorted(changes))
    return await get_partner(session, code)


async def bind(session: AsyncSession, *, code: str, merchant_code: str) -> bool:
    """Bind a partner to a registered merchant; True when newly bound (binding twice changes nothing)."""
    await _partner(session, code)
    if not await repository.merchant_exists(session, merchant_code):
        raise NotFound(f"No merchant {merchant_code}: a merchant is registered with its first key",
                       code="merchant_not_found")
    added = await repository.bind(session, partner_code=code, merchant_code=merchant_code, created_at=utcnow())
    log.info("partner.bound", partner_code=code, merchant_code=merchant_code, new=added)
    return added


async def unbind(session: AsyncSession, *, code: str, merchant_code: str) -> None:
    """Unbind; its keys act for that merchant's orders no more, at once. 404 when it was not bound."""
    await _partner(session, code)
    if not await repository.unbind(session, partner_code=code, merchant_code=merchant_code):
        raise NotFound(f"Partner {code} is not bound to merchant {merchant_code}", code="binding_not_found")
    log.info("partner.unbound", partner_code=code, merchant_code=merchant_code)


async def acting_partner(session: AsyncSession, *, code: str, kind: str) -> PartnerView | None:
    """The active partner of `kind` a key acts for, or None (then it acts for nobody: every order is a 404)."""
    partner = await repository.get_partner(session, code)
    if partner is None or partner.kind != kind or not partner.active:
        return None
    return PartnerView(code=partner.code, name=partner.name)
