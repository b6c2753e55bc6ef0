"""What customs files with the authority: a declaration's messages built from its tables, signed, kept as filed.

The builders (services/customs/messages, shared/ceb) are pure: this module gathers their facts — the declaration,
its current lines (a broker may have amended them), the payment company's and the logistics company's documents —
and turns what they build into rows of `messages`, which the gateway (exchange.py) sends. Per channel and
direction (DOMAIN.md §5, §11): e-commerce imports file CEB311 + CEB621, exports CEB303 + CEB603; mail the
ITMATT/CUSITM content as JSON; express its manifest line. Cancellations file CEB623/605 (the JSON message again,
as a delete, for mail and express), returns CEB625; brokers' answers REVIEWANSWER and INSPECTIONRECORD.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from services.customs.messages.answers import build_inspection_record, build_review_answer
from services.customs.messages.facts import AppType, FilingFacts, FilingLine
from services.customs.messages.outgoing import (
    RETURN_KIND,
    OutgoingMessage,
    build_message,
    cancel_kind,
    filing_kinds,
    seal_json,
)
from services.customs.messages.outgoing import build_filing as build_messages
from services.customs.models import Declaration
from services.customs.repository import DeclarationRepository, DocumentBody
from services.customs.service import Actor, CustomsConfig, order_lines, record_action
from shared.ceb.errors import MessageRuleViolation
from shared.ceb.fields import new_guid
from shared.contract.events import Finding, PaymentRecorded, WaybillRecorded
from shared.contract.parcel import OrderLine, Parcel, Payment

Purpose = Literal["declaration", "order", "cancel", "return", "answer"]
# The order messages of a filing (CEB311/303): only their rejection moves the declaration.
_ORDER_KINDS = frozenset({"CEB311", "CEB303"})


class FilingRefused(Exception):
    """The declaration breaks a message field rule (DOMAIN.md §11): nothing is filed; a broker must amend it."""

    def __init__(self, violation: MessageRuleViolation) -> None:
        super().__init__(str(violation))
        self.finding = Finding(code="message_rule_violation", severity="high",
                               message=f"{violation.field}: {violation.detail}"[:512], fields=[violation.field])


def message_row(message: OutgoingMessage, *, purpose: Purpose, app_type: int, now: datetime) -> dict[str, Any]:
    """The columns of a message's `messages` row, exactly as filed: queued for the gateway at once."""
    return {"guid": message.guid, "declaration_id": message.cop_no, "message_type": message.kind,
            "purpose": purpose, "app_type": app_type, "content_type": message.content_type,
            "body": message.body.decode("utf-8"), "signature": message.signature, "state": "queued", "attempts": 0,
            "next_attempt_at": now, "last_error": None, "created_at": now, "sent_at": None}


@dataclass(frozen=True)
class Filing:
    """A declaration's messages of one filing; `guid` is the message whose receipts move the declaration."""

    guid: str
    rows: tuple[dict[str, Any], ...]

    @property
    def message_types(self) -> list[str]:
        return [row["message_type"] for row in self.rows]


async def build_filing(repo: DeclarationRepository, config: CustomsConfig, declaration: Declaration, *,
                       parcel: Parcel, lines: Sequence[OrderLine], form: str, app_type: AppType, now: datetime,
                       tracking_number: str | None) -> Filing:
    """The declaration's messages for one filing, built, validated and signed; raises FilingRefused."""
    facts = await filing_facts(repo, declaration, parcel=parcel, lines=lines, form=form, app_type=app_type, now=now,
                               tracking_number=tracking_number)
    try:
        messages = build_messages(facts, config.filer.declarant, config.filer.identity)
    except MessageRuleViolation as violation:
        raise FilingRefused(violation) from violation
    rows = tuple(message_row(m, purpose="order" if m.kind in _ORDER_KINDS else "declaration", app_type=app_type,
                             now=now) for m in messages)
    return Filing(messages[-1].guid, rows)


async def filing_facts(repo: DeclarationRepository, declaration: Declaration, *, parcel: Parcel,
                       lines: Sequence[OrderLine], form: str | None, app_type: AppType, now: datetime,
                       reason: str | None = None, tracking_number: str | None = None) -> FilingFacts:
    """What one filing says, from the declaration, its current lines and the parties' documents."""
    documents = await repo.match_documents(declaration.order_id)
    payment = _payment(documents)
    company = parcel.logistics_company
    waybill = _external_waybill(documents, company) if company else None
    return FilingFacts(
        declaration_id=declaration.id, order_id=declaration.order_id, app_type=app_type, app_time=now,
        channel=declaration.channel, direction=declaration.direction, merchant_code=declaration.merchant_code,
        merchant_name=parcel.sender.name, parcel=parcel, lines=tuple(FilingLine.from_order_line(li) for li in lines),
        form=form, trade_mode=declaration.trade_mode, tracking_number=tracking_number or declaration.tracking_number,
        logistics_code=company, logistics_name=(waybill or {}).get("logistics_name"),
        payment=payment, pay_code=payment.provider if payment else None,
        pay_name=payment.provider if payment else None,
        # taxTotal is the tax the buyer paid with the order (CEB311 arithmetic), not customs' assessment.
        tax_total=parcel.tax, note=f"silkgate order {declaration.order_id}",
        pre_no=declaration.pre_no, invt_no=declaration.invt_no, reason=reason,
    )


def _payment(documents: Sequence[DocumentBody]) -> Payment | None:
    payments = [d for d in documents if d.kind == "payment" and d.source == PaymentRecorded.event_type()]
    return Payment.model_validate(payments[-1].body["payment"]) if payments else None


def _external_waybill(documents: Sequence[DocumentBody], company: str) -> dict | None:
    own = [d.body for d in documents if d.kind == "waybill" and d.source == WaybillRecorded.event_type()
           and d.body.get("logistics_code") == company]
    return own[-1] if own else None


async def file_follow_up(repo: DeclarationRepository, config: CustomsConfig, declaration: Declaration, *,
                         purpose: Literal["cancel", "return"], actor: Actor, now: datetime, reason: str) -> bool:
    """Queue the cancellation (CEB623/605; mail and express file their message again as a delete, appType 3) or
    the return (CEB625) of a filed declaration. False when the channel files no such message (a return of mail or
    express goes back through the posts, not through a customs message). Raises FilingRefused when the message
    cannot be built (a cancel or return of an inventory list the authority has not numbered yet)."""
    key = (declaration.channel, declaration.direction)
    if purpose == "cancel":
        kind = cancel_kind(*key)
        app_type: AppType = 1 if kind not in filing_kinds(*key) else 3
    elif key == ("ecommerce", "import"):
        kind, app_type = RETURN_KIND, 1
    else:
        return False
    parcel = Parcel.model_validate(declaration.parcel)
    facts = await filing_facts(repo, declaration, parcel=parcel, lines=order_lines(await repo.lines(declaration.id)),
                               form=declaration.form, app_type=app_type, now=now, reason=reason)
    try:
        message = build_message(kind, facts, config.filer.declarant, config.filer.identity)
    except MessageRuleViolation as violation:
        raise FilingRefused(violation) from violation
    await repo.add_messages([message_row(message, purpose=purpose, app_type=app_type, now=now)])
    await record_action(repo, declaration, action=f"{purpose}_filed", actor=actor, now=now,
                        note=f"{message.kind} {message.guid} queued")
    return True


async def file_answer(repo: DeclarationRepository, config: CustomsConfig, declaration: Declaration, *,
                      kind: Literal["review", "inspection"], actor: Actor, now: datetime,
                      content: dict[str, Any]) -> None:
    """Queue a broker's answer to the authority: REVIEWANSWER (to a 300 or a detention) or INSPECTIONRECORD."""
    guid = new_guid()
    common = {"guid": guid, "declaration_id": declaration.id, "answers_guid": declaration.filing_guid,
              "app_time": now, "declarant": config.filer.declarant}
    if kind == "review":
        message = build_review_answer(**common, explanation=content["explanation"], documents=content["documents"],
                                      answered_by=actor.name)
    else:
        message = build_inspection_record(**common, attended_by=content["attended_by"],
                                          attended_at=datetime.fromisoformat(content["attended_at"]),
                                          outcome=content["outcome"], note=content["note"] or None)
    sealed = seal_json(message, config.filer.identity)
    await repo.add_messages([message_row(sealed, purpose="answer", app_type=1, now=now)])
    await record_action(repo, declaration, action=f"{kind}_answer_filed", actor=actor, now=now,
                        note=f"{sealed.kind} {guid} queued")
