"""What a broker does with a declaration that needs a person (DOMAIN.md §11: the broker files, the authority decides).

Before filing: amend the lines (HS codes, descriptions, quantities, values) and file, ask the parties again for
missing documents, reject or cancel. With the authority: answer a manual review (300) or a detention, record an
inspection (500), amend and file again after a rejection (100). No action releases goods: the authority's 800 does.
Every action needs the broker's claim, goes on the audit trail, and is the same function for the API and console.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

import structlog

from services.customs.brokers import broker_of, concurrent, get_declaration, not_allowed, require_claim, summary
from services.customs.domain.controls import blocking
from services.customs.domain.errors import TransitionNotAllowed
from services.customs.domain.status import next_status
from services.customs.filing import file_with_authority, give_back_quota, prefiling_findings, reject
from services.customs.models import Declaration, DeclarationLine
from services.customs.outgoing import file_answer
from services.customs.repository import DeclarationRepository
from services.customs.schemas import (
    AmendBody,
    AnswerBody,
    CancelBody,
    DeclarationSummary,
    FileBody,
    InspectionBody,
    LineAmendment,
    RejectBody,
    RequestDocumentsBody,
)
from services.customs.service import (
    Actor,
    CustomsConfig,
    Emitter,
    StaleDeclaration,
    as_findings,
    broker_reason,
    order_lines,
    parcel_of,
    status_event,
    transition,
)
from shared.auth import Principal
from shared.contract.events import Finding
from shared.errors import Conflict, InvalidInput

log = structlog.get_logger()


async def _claimed(repo: DeclarationRepository, config: CustomsConfig, declaration_id: str, principal: Principal,
                   action: str) -> tuple[Declaration, Actor, datetime]:
    """The declaration, if the action is allowed in its status and this broker holds the claim."""
    declaration = await get_declaration(repo, declaration_id)
    actor, now = broker_of(principal), config.now()
    try:
        next_status(declaration.status, action)
    except TransitionNotAllowed:
        raise not_allowed(declaration, action) from None
    if action in ("answer", "record_inspection") and not declaration.needs_broker:
        raise Conflict(f"Declaration {declaration.id} was answered already; the authority has the next move",
                       code="already_answered", extra={"current_status": declaration.status})
    require_claim(declaration, actor, now)
    return declaration, actor, now


# ── before filing (and after the authority's rejection) ───────────────────


async def amend(repo: DeclarationRepository, config: CustomsConfig, declaration_id: str, principal: Principal, *,
                body: AmendBody) -> DeclarationSummary:
    """Correct lines before (re-)filing; every change goes on the audit trail with what it was before."""
    declaration, actor, now = await _claimed(repo, config, declaration_id, principal, "amend")
    lines = {line.line_no: line for line in await repo.lines(declaration.id)}
    changes = []
    for amendment in body.lines:
        line = lines.get(amendment.line_no)
        if line is None:
            raise InvalidInput(f"Declaration {declaration.id} has no line {amendment.line_no}",
                               code="line_not_found", field=f"lines[{amendment.line_no}].line_no")
        values = _amended_values(line, amendment)
        if values:
            await repo.amend_line(declaration.id, line.line_no, **values)
            changes.append(f"line {line.line_no}: " + ", ".join(
                f"{name} {getattr(line, name)} → {value}" for name, value in values.items()))
    if not changes:
        raise InvalidInput("The amendment changes nothing", code="amendment_empty", field="lines")
    try:
        await transition(repo, declaration, action="amend", actor=actor, now=now, reason_code=body.reason_code,
                         note="; ".join(changes) + (f" — {body.note}" if body.note else ""),
                         values={"needs_broker": True})
    except StaleDeclaration:
        raise concurrent(declaration_id) from None
    log.info("declaration.amended", declaration_id=declaration.id, broker=actor.name, lines=len(changes))
    return summary(declaration, now)


def _amended_values(line: DeclarationLine, amendment: LineAmendment) -> dict:
    """The columns an amendment changes; the line's arithmetic must still hold (total = price × quantity)."""
    wanted = amendment.model_dump(exclude_none=True, exclude={"line_no"})
    values = {name: value for name, value in wanted.items() if getattr(line, name) != value}
    quantity = values.get("quantity", line.quantity)
    unit_price = values.get("unit_price", line.unit_price)
    total = values.get("total_price", line.total_price)
    if {"quantity", "unit_price", "total_price"} & values.keys() and \
            abs(Decimal(unit_price) * Decimal(quantity) - Decimal(total)) > Decimal("0.01"):
        raise InvalidInput(f"line {line.line_no}: total_price {total} is not unit_price {unit_price} × quantity "
                           f"{quantity}", code="line_total_mismatch", field=f"lines[{line.line_no}].total_price")
    return values


async def file(repo: DeclarationRepository, config: CustomsConfig, declaration_id: str, principal: Principal, *,
               body: FileBody, emit: Emitter) -> DeclarationSummary:
    """File with the authority (appType 2 after a rejection) — refused while a control fails (409 filing_blocked)."""
    declaration, actor, now = await _claimed(repo, config, declaration_id, principal, "file")
    parcel = parcel_of(declaration)
    lines = order_lines(await repo.lines(declaration.id))
    prefiling = await prefiling_findings(repo, config, declaration, parcel, lines=lines, now=now)
    if prefiling is None:
        raise Conflict(f"Declaration {declaration.id} still misses documents", code="documents_missing",
                       extra={"current_status": declaration.status})
    stops = blocking(prefiling.findings) or await _refused(repo, config, declaration, parcel, lines, actor, now,
                                                           body, emit, prefiling.values)
    if stops:
        raise _filing_blocked(declaration, stops)
    log.info("declaration.filed_by_broker", declaration_id=declaration.id, broker=actor.name,
             filings=declaration.filings)
    return summary(declaration, now)


async def _refused(repo: DeclarationRepository, config: CustomsConfig, declaration: Declaration, parcel, lines,
                   actor: Actor, now: datetime, body: FileBody, emit: Emitter, values: dict) -> list[Finding]:
    try:
        return await file_with_authority(repo, config, declaration, parcel=parcel, lines=lines, actor=actor,
                                         now=now, emit=emit, reason_code=body.reason_code, note=body.note,
                                         values=values) or []
    except StaleDeclaration:
        raise concurrent(declaration.id) from None


def _filing_blocked(declaration: Declaration, findings: Sequence[Finding]) -> Conflict:
    codes = ", ".join(dict.fromkeys(f.code for f in findings))
    return Conflict(f"Declaration {declaration.id} cannot be filed: {codes}", code="filing_blocked",
                    extra={"findings": [f.model_dump(mode="json") for f in findings]})


async def request_documents(repo: DeclarationRepository, config: CustomsConfig, declaration_id: str,
                            principal: Principal, *, body: RequestDocumentsBody, emit: Emitter) -> DeclarationSummary:
    """Documents missing past the deadline: wait for them again, with a new deadline."""
    declaration, actor, now = await _claimed(repo, config, declaration_id, principal, "request_documents")
    reason = broker_reason(body.reason_code, body.note)
    try:
        await transition(repo, declaration, action="request_documents", actor=actor, now=now,
                         reason_code=body.reason_code, note=body.note,
                         values={"documents_deadline_at": now + config.documents_deadline})
    except StaleDeclaration:
        raise concurrent(declaration_id) from None
    await emit(status_event(declaration, now=now, actor=actor, reason=f"documents requested again: {reason}",
                            reason_code=body.reason_code), declaration)
    log.info("declaration.documents_requested", declaration_id=declaration.id, broker=actor.name)
    return summary(declaration, now)


async def reject_declaration(repo: DeclarationRepository, config: CustomsConfig, declaration_id: str,
                             principal: Principal, *, body: RejectBody, emit: Emitter) -> DeclarationSummary:
    """Reject for good: the declaration is not filed (again), the order is rejected, the quota given back."""
    declaration, actor, now = await _claimed(repo, config, declaration_id, principal, "reject")
    findings = as_findings(await repo.findings(declaration.id))
    try:
        await reject(repo, declaration, findings, actor=actor, now=now, emit=emit, reason_code=body.reason_code,
                     note=broker_reason(body.reason_code, body.note))
    except StaleDeclaration:
        raise concurrent(declaration_id) from None
    return summary(declaration, now)


async def cancel(repo: DeclarationRepository, config: CustomsConfig, declaration_id: str, principal: Principal, *,
                 body: CancelBody, emit: Emitter) -> DeclarationSummary:
    """Cancel a declaration that cannot go ahead (documents never came, a duplicate order); quota given back."""
    declaration, actor, now = await _claimed(repo, config, declaration_id, principal, "cancel")
    reason = broker_reason(body.reason_code, body.note)
    try:
        values = await give_back_quota(repo, declaration, now=now)
        await transition(repo, declaration, action="cancel", actor=actor, now=now, reason_code=body.reason_code,
                         note=body.note, values=values)
    except StaleDeclaration:
        raise concurrent(declaration_id) from None
    await emit(status_event(declaration, now=now, actor=actor, reason=reason), declaration)
    log.info("declaration.cancelled", declaration_id=declaration.id, broker=actor.name, reason_code=body.reason_code)
    return summary(declaration, now)


# ── answering the authority ───────────────────────────────────────────────


async def answer(repo: DeclarationRepository, config: CustomsConfig, declaration_id: str, principal: Principal, *,
                 body: AnswerBody) -> DeclarationSummary:
    """Answer the authority's manual review (300) or detention with an explanation and documents."""
    declaration, actor, now = await _claimed(repo, config, declaration_id, principal, "answer")
    await file_answer(repo, config, declaration, kind="review", actor=actor, now=now,
                      content={"reason_code": body.reason_code, "explanation": body.explanation,
                               "documents": [d.model_dump(exclude_none=True) for d in body.documents]})
    try:
        await transition(repo, declaration, action="answer", actor=actor, now=now, reason_code=body.reason_code,
                         note=body.explanation, values={"needs_broker": False})
    except StaleDeclaration:
        raise concurrent(declaration_id) from None
    log.info("declaration.answered", declaration_id=declaration.id, broker=actor.name, status=declaration.status)
    return summary(declaration, now)


async def record_inspection(repo: DeclarationRepository, config: CustomsConfig, declaration_id: str,
                            principal: Principal, *, body: InspectionBody) -> DeclarationSummary:
    """Record the broker's attendance at the authority's inspection (500) and its outcome; the authority decides."""
    declaration, actor, now = await _claimed(repo, config, declaration_id, principal, "record_inspection")
    await file_answer(repo, config, declaration, kind="inspection", actor=actor, now=now,
                      content={"attended_by": body.attended_by, "attended_at": body.attended_at.isoformat(),
                               "outcome": body.outcome, "note": body.note or ""})
    reason_code = f"inspection_{body.outcome}"
    try:
        await transition(repo, declaration, action="record_inspection", actor=actor, now=now,
                         reason_code=reason_code, note=f"attended by {body.attended_by}"
                                                       + (f": {body.note}" if body.note else ""),
                         values={"needs_broker": False})
    except StaleDeclaration:
        raise concurrent(declaration_id) from None
    if body.outcome == "failed":
        message = body.note or "physical inspection failed"
        await repo.add_findings(declaration.id, [Finding(code=reason_code, severity="high", message=message[:512])],
                                source="inspection", now=now)
    log.info("declaration.inspection_recorded", declaration_id=declaration.id, broker=actor.name,
             outcome=body.outcome)
    return summary(declaration, now)
