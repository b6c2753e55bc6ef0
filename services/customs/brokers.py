"""The brokers' reading and claims: the work queue, one declaration with its documents, messages and receipts,
and claiming a declaration to work on it (the actions themselves are in broker_actions.py).

A broker must hold the claim to act; the claim is taken with one conditional UPDATE, so of two brokers racing
exactly one wins, and every action is a versioned update, so an action taken on a stale view fails instead of
overwriting another's.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

import structlog

from services.customs.domain.status import allowed_actions, broker_actions, is_final
from services.customs.models import Declaration
from services.customs.repository import DeclarationRepository, QueueFilters, QueuePosition
from services.customs.repository_exchange import ExchangeRepository
from services.customs.schemas import (
    AuditEntryView,
    AuditTrail,
    ClaimView,
    DeclarationDetail,
    DeclarationPage,
    DeclarationSummary,
    DocumentView,
    FindingView,
    LineView,
    MessageList,
    MessageView,
    ReceiptView,
)
from services.customs.service import Actor, CustomsConfig, record_action
from shared.auth import Principal
from shared.errors import Conflict, InvalidInput, NotFound

log = structlog.get_logger()

# ── reading ───────────────────────────────────────────────────────────────


async def work_queue(repo: DeclarationRepository, config: CustomsConfig, *, filters: QueueFilters,
                     starting_after: str | None, limit: int) -> DeclarationPage:
    """Green lane first, then oldest first; the cursor carries the last row's full sort key."""
    after = decode_cursor(starting_after) if starting_after else None
    rows = await repo.queue(filters, after=after, limit=limit + 1)
    page, has_more = rows[:limit], len(rows) > limit
    now = config.now()
    return DeclarationPage(data=[summary(d, now) for d in page], has_more=has_more,
                           next_cursor=encode_cursor(page[-1]) if has_more else None)


async def declaration_detail(repo: DeclarationRepository, config: CustomsConfig,
                             declaration_id: str) -> DeclarationDetail:
    declaration = await get_declaration(repo, declaration_id)
    exchange = ExchangeRepository(repo.session)
    lines = await repo.lines(declaration.id)
    documents = await repo.documents(declaration.order_id)
    findings = await repo.findings(declaration.id)
    history = await repo.audit_trail(declaration.id)
    return DeclarationDetail(
        **summary(declaration, config.now()).model_dump(),
        tax_regime=declaration.tax_regime,
        parcel=declaration.parcel,
        lines=[LineView.model_validate(line, from_attributes=True) for line in lines],
        documents=[DocumentView.model_validate(d, from_attributes=True) for d in documents],
        findings=[FindingView.model_validate(f, from_attributes=True) for f in findings],
        messages=[MessageView.model_validate(m, from_attributes=True)
                  for m in await exchange.messages_of(declaration.id)],
        receipts=[ReceiptView.model_validate(r, from_attributes=True)
                  for r in await exchange.receipts_of(declaration.id)],
        history=[AuditEntryView.model_validate(e, from_attributes=True) for e in history],
    )


async def message_list(repo: DeclarationRepository, declaration_id: str) -> MessageList:
    """The messages filed for a declaration and the receipts the authority sent, oldest first."""
    declaration = await get_declaration(repo, declaration_id)
    exchange = ExchangeRepository(repo.session)
    return MessageList(declaration_id=declaration.id,
                       messages=[MessageView.model_validate(m, from_attributes=True)
                                 for m in await exchange.messages_of(declaration.id)],
                       receipts=[ReceiptView.model_validate(r, from_attributes=True)
                                 for r in await exchange.receipts_of(declaration.id)])


async def audit_trail(repo: DeclarationRepository, declaration_id: str) -> AuditTrail:
    declaration = await get_declaration(repo, declaration_id)
    entries = await repo.audit_trail(declaration.id)
    return AuditTrail(declaration_id=declaration.id,
                      data=[AuditEntryView.model_validate(e, from_attributes=True) for e in entries])


def summary(declaration: Declaration, now: datetime) -> DeclarationSummary:
    claim = None
    if declaration.claimed_by and declaration.claim_expires_at and declaration.claim_expires_at > now:
        claim = ClaimView(broker=declaration.claimed_by, expires_at=declaration.claim_expires_at)
    return DeclarationSummary(
        id=declaration.id, order_id=declaration.order_id, merchant_code=declaration.merchant_code,
        merchant_order_no=declaration.merchant_order_no, channel=declaration.channel,
        direction=declaration.direction, form=declaration.form, trade_mode=declaration.trade_mode,
        lane=declaration.lane, status=declaration.status, ceb_code=declaration.ceb_code,
        tracking_number=declaration.tracking_number, needs_broker=declaration.needs_broker,
        value_cny=declaration.value_cny, tax_cny=declaration.tax_cny, risk_score=declaration.risk_score,
        awaiting_documents=declaration.awaiting_documents, opened_at=declaration.opened_at,
        documents_deadline_at=declaration.documents_deadline_at, filed_at=declaration.filed_at,
        filings=declaration.filings, released_at=declaration.released_at, decided_at=declaration.decided_at,
        decided_by=declaration.decided_by, claim=claim,
        allowed_actions=broker_actions(declaration.status, needs_broker=declaration.needs_broker),
    )


def encode_cursor(declaration: Declaration) -> str:
    key = [declaration.lane_rank, declaration.opened_at.isoformat(), declaration.id]
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> QueuePosition:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        lane_rank, opened_at, declaration_id = json.loads(raw)
        position = QueuePosition(int(lane_rank), datetime.fromisoformat(opened_at), str(declaration_id))
        if position.opened_at.tzinfo is None:
            raise ValueError("naive time")
        return position
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput("starting_after is not a cursor this API returned", code="cursor_invalid",
                           field="starting_after") from None


async def get_declaration(repo: DeclarationRepository, declaration_id: str) -> Declaration:
    declaration = await repo.get(declaration_id)
    if declaration is None:
        raise NotFound(f"No declaration {declaration_id}", code="declaration_not_found")
    return declaration


# ── claims ────────────────────────────────────────────────────────────────


def broker_of(principal: Principal) -> Actor:
    """A broker acts under the key owner's name; the key id is kept in the audit trail."""
    return Actor(principal.owner, "broker", principal.key_id)


async def claim(repo: DeclarationRepository, config: CustomsConfig, declaration_id: str,
                principal: Principal) -> DeclarationSummary:
    """Take the declaration for this broker (or extend the claim it already holds)."""
    declaration = await get_declaration(repo, declaration_id)
    actor, now = broker_of(principal), config.now()
    extending = declaration.claimed_by == actor.name and claim_active(declaration, now)
    if not await repo.claim(declaration, broker=actor.name, key_id=principal.key_id, now=now,
                            expires_at=now + config.claim_ttl):
        current = await repo.get_fresh(declaration_id)
        if current is None or is_final(current.status):
            raise Conflict(f"Declaration {declaration_id} is {current.status if current else 'gone'}; "
                           "there is nothing left to decide", code="declaration_final",
                           extra={"current_status": current.status if current else None})
        raise _claimed_by_other(current)
    await record_action(repo, declaration, action="claim_extended" if extending else "claim", actor=actor, now=now,
                        note=f"claimed until {declaration.claim_expires_at.isoformat()}")
    log.info("declaration.claimed", declaration_id=declaration.id, broker=actor.name,
             expires_at=declaration.claim_expires_at.isoformat())
    return summary(declaration, now)


async def unclaim(repo: DeclarationRepository, config: CustomsConfig, declaration_id: str,
                  principal: Principal) -> DeclarationSummary:
    """Give the declaration back to the queue."""
    declaration = await get_declaration(repo, declaration_id)
    actor, now = broker_of(principal), config.now()
    require_claim(declaration, actor, now)
    if not await repo.change(declaration, claimed_by=None, claimed_by_key=None, claim_expires_at=None,
                             updated_at=now):
        raise concurrent(declaration_id)
    await record_action(repo, declaration, action="unclaim", actor=actor, now=now)
    log.info("declaration.unclaimed", declaration_id=declaration.id, broker=actor.name)
    return summary(declaration, now)


def claim_active(declaration: Declaration, now: datetime) -> bool:
    return declaration.claimed_by is not None and declaration.claim_expires_at is not None \
        and declaration.claim_expires_at > now


def require_claim(declaration: Declaration, actor: Actor, now: datetime) -> None:
    if declaration.claimed_by == actor.name and claim_active(declaration, now):
        return
    holder = declaration.claimed_by if claim_active(declaration, now) else None
    detail = (f"Declaration {declaration.id} is claimed by {holder}" if holder
              else f"Claim declaration {declaration.id} first (POST /v1/declarations/{declaration.id}/claim)")
    raise Conflict(detail, code="claim_required", extra={
        "claimed_by": holder,
        "claim_expires_at": declaration.claim_expires_at.isoformat() if holder else None,
    })


def _claimed_by_other(declaration: Declaration) -> Conflict:
    expires = declaration.claim_expires_at.isoformat() if declaration.claim_expires_at else None
    return Conflict(f"Declaration {declaration.id} is claimed by {declaration.claimed_by} until {expires}",
                    code="declaration_claimed",
                    extra={"claimed_by": declaration.claimed_by, "claim_expires_at": expires})


def concurrent(declaration_id: str) -> Conflict:
    return Conflict(f"Declaration {declaration_id} changed while you were deciding; reload it and decide again",
                    code="concurrent_update")


def not_allowed(declaration: Declaration, action: str) -> Conflict:
    allowed = sorted(allowed_actions(declaration.status))
    return Conflict(f"Cannot {action.replace('_', ' ')} a declaration that is {declaration.status}",
                    code="transition_not_allowed",
                    extra={"current_status": declaration.status, "allowed_actions": allowed})
