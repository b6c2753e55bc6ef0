"""Seeing a declaration's personal data: masked on every page until the broker asks, and every request audited.

The audit entry is the permission: a broker sees the clear values of a declaration while their current session
has a `reveal_personal_data` entry for it on the audit trail (so there is no way to see them without one).
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from services.customs.brokers import broker_of, get_declaration
from services.customs.console.sessions import BrokerSession
from services.customs.repository import DeclarationRepository
from services.customs.schemas import AuditEntryView
from services.customs.service import CustomsConfig, record_action
from shared.auth import Principal

log = structlog.get_logger()

REVEAL_ACTION = "reveal_personal_data"


async def reveal_personal_data(repo: DeclarationRepository, config: CustomsConfig, declaration_id: str,
                               principal: Principal, *, reason_code: str, note: str | None) -> None:
    """Record that this broker asked to see the declaration's personal data, and why (the status is unchanged)."""
    declaration = await get_declaration(repo, declaration_id)
    await record_action(repo, declaration, action=REVEAL_ACTION, actor=broker_of(principal), now=config.now(),
                        reason_code=reason_code, note=note)
    log.info("declaration.personal_data_revealed", declaration_id=declaration.id, broker=principal.owner,
             key_id=principal.key_id, reason_code=reason_code)


def revealed_in_session(history: Sequence[AuditEntryView], session: BrokerSession) -> AuditEntryView | None:
    """The audit entry that lets this session see the personal data, if there is one."""
    return next((entry for entry in reversed(history)
                 if entry.action == REVEAL_ACTION and entry.key_id == session.key_id
                 and entry.at >= session.created_at), None)
