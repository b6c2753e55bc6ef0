"""What customs files with the authority: a declaration's messages built from its tables, signed, kept as filed.

The builders (services/customs/messages, shared/ceb) are pure: this module gathers their facts — the declaration,
its current lines (a broker may have amended them), the payment company's and the logistics company's documents —
and turns what they build into rows of `messages`, which the gateway (exchange.py) sends. Per channel and
direction (DOMAIN.md §5, §11): e-commerce imports file CEB311 + CEB621, exports CEB303 + CEB603; mail the
ITMATT/CUSITM content as JSON; express its manifest line. Cancellations file CEB623/605 (the JSON message again,
as a delete, for mail and express), returns CEB625; brokers' answers REVIEWANSWER and INSPECTIONRECORD.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from lxml import etree

from services.customs.messages.answers import build_inspection_record, build_review_answer
from services.customs.messages.ecommerce_export import build_ceb303, build_ceb603, build_ceb605
from services.customs.messages.ecommerce_import import build_ceb311, build_ceb621, build_ceb623, build_ceb625
from services.customs.messages.facts import AppType, FilingFacts, FilingLine
from services.customs.messages.postal import build_cusitm, build_expmanifest
from services.customs.models import Declaration
from services.customs.repository import DeclarationRepository, DocumentBody
from services.customs.service import Actor, CustomsConfig, Signer, order_lines, record_action
from shared.ceb.errors import MessageRuleViolation
from shared.ceb.fields import new_guid
from shared.ceb.json_messages import message_bytes
from shared.ceb.signing import sign_bytes, sign_xml
from shared.contract.events import Finding, PaymentRecorded
from shared.contract.parcel import OrderLine, Parcel, Payment

Purpose = Literal["declaration", "order", "cancel", "return", "answer"]
XML, JSON = "application/xml", "application/json"
WAYBILL_RECORDED = "silkgate.orders.waybill.recorded.v1"


class FilingRefused(Exception):
    """The declaration breaks a message field rule (DOMAIN.md §11): nothing is filed; a broker must amend it."""

    def __init__(self, violation: MessageRuleViolation) -> None:
        super().__init__(str(violation))
        self.finding = Finding(code="message_rule_violation", severity="high",
                               message=f"{violation.field}: {violation.detail}"[:512], fields=[violation.field])


@dataclass(frozen=True)
class OutgoingMessage:
    """One message as filed: the signed XML (or the JSON and its detached signature)."""

    guid: str
    message_type: str
    purpose: Purpose
    app_type: int
    content_type: str
    body: str
    signature: str | None = None

    def row(self, declaration_id: str, *, now: datetime) -> dict[str, Any]:
        """The columns of its `messages` row: queued for the gateway at once."""
        return {"guid": self.guid, "declaration_id": declaration_id, "message_type": self.message_type,
                "purpose": self.purpose, "app_type": self.app_type, "content_type": self.content_type,
                "body": self.body, "signature": self.signature, "state": "queued", "attempts": 0,
                "next_attempt_at": now, "last_error": None, "created_at": now, "sent_at": None}


@dataclass(frozen=True)
class Filing:
    """A declaration's messages of one filing; `guid` is the message whose receipts move the declaration."""

    guid: str
    messages: tuple[OutgoingMessage, ...]

    def rows(self, declaration_id: str, *, now: datetime) -> list[dict[str, Any]]:
        return [message.row(declaration_id, now=now) for message in self.messages]


def _signed_xml(signer: Signer, root: etree._Element, *, guid: str, message_type: str, purpose: Purpose,
                app_type: int) -> OutgoingMessage:
    return OutgoingMessage(guid, message_type, purpose, app_type, XML, sign_xml(root, signer.identity).decode())


def _signed_json(signer: Signer, message: Any, *, guid: str, message_type: str, purpose: Purpose,
                 app_type: int) -> OutgoingMessage:
    data = message_bytes(message)
    return OutgoingMessage(guid, message_type, purpose, app_type, JSON, data.decode(), sign_bytes(data, signer.identity))


Builder = Callable[[FilingFacts, Signer], OutgoingMessage]


def _xml(builder: Callable[..., etree._Element], message_type: str, purpose: Purpose) -> Builder:
    def build(facts: FilingFacts, signer: Signer) -> OutgoingMessage:
        guid = new_guid()
        return _signed_xml(signer, builder(facts, signer.declarant, guid=guid), guid=guid,
                           message_type=message_type, purpose=purpose, app_type=facts.app_type)
    return build


def _json(builder: Callable[..., Any], message_type: str, purpose: Purpose) -> Builder:
    def build(facts: FilingFacts, signer: Signer) -> OutgoingMessage:
        guid = new_guid()
        return _signed_json(signer, builder(facts, signer.declarant, guid=guid), guid=guid,
                            message_type=message_type, purpose=purpose, app_type=facts.app_type)
    return build


# Per (channel, direction): the messages of a filing, the declaration's own last (its receipts move it).
_FILINGS: dict[tuple[str, str], tuple[Builder, ...]] = {
    ("ecommerce", "import"): (_xml(build_ceb311, "CEB311", "order"), _xml(build_ceb621, "CEB621", "declaration")),
    ("ecommerce", "export"): (_xml(build_ceb303, "CEB303", "order"), _xml(build_ceb603, "CEB603", "declaration")),
    ("mail", "import"): (_json(build_cusitm, "CUSITM", "declaration"),),
    ("mail", "export"): (_json(build_cusitm, "CUSITM", "declaration"),),
    ("express", "import"): (_json(build_expmanifest, "EXPMANIFEST", "declaration"),),
    ("express", "export"): (_json(build_expmanifest, "EXPMANIFEST", "declaration"),),
}
_CANCELS: dict[tuple[str, str], Builder] = {
    ("ecommerce", "import"): _xml(build_ceb623, "CEB623", "cancel"),
    ("ecommerce", "export"): _xml(build_ceb605, "CEB605", "cancel"),
}
_RETURNS: dict[tuple[str, str], Builder] = {("ecommerce", "import"): _xml(build_ceb625, "CEB625", "return")}


async def build_filing(repo: DeclarationRepository, config: CustomsConfig, declaration: Declaration, *,
                       parcel: Parcel, lines: Sequence[OrderLine], form: str, app_type: AppType,
                       now: datetime) -> Filing:
    """The declaration's messages for one filing, built, validated and signed; raises FilingRefused."""
    facts = await filing_facts(repo, declaration, parcel=parcel, lines=lines, form=form, app_type=app_type, now=now)
    try:
        messages = tuple(build(facts, config.filer) for build in _FILINGS[declaration.channel, declaration.direction])
    except MessageRuleViolation as violation:
        raise FilingRefused(violation) from violation
    return Filing(messages[-1].guid, messages)


async def filing_facts(repo: DeclarationRepository, declaration: Declaration, *, parcel: Parcel,
                       lines: Sequence[OrderLine], form: str | None, app_type: AppType, now: datetime,
                       reason: str | None = None) -> FilingFacts:
    """What one filing says, from the declaration, its current lines and the parties' documents."""
    documents = await repo.match_documents(declaration.order_id)
    payment = _payment(documents)
    company = getattr(parcel, "logistics_company", None)
    waybill = _external_waybill(documents, company) if company else None
    return FilingFacts(
        declaration_id=declaration.id, order_id=declaration.order_id, app_type=app_type, app_time=now,
        channel=declaration.channel, direction=declaration.direction, merchant_code=declaration.merchant_code,
        merchant_name=parcel.sender.name, parcel=parcel, lines=tuple(FilingLine.from_order_line(li) for li in lines),
        form=form, trade_mode=declaration.trade_mode, tracking_number=declaration.tracking_number,
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
    own = [d.body for d in documents if d.kind == "waybill" and d.source == WAYBILL_RECORDED
           and d.body.get("logistics_code") == company]
    return own[-1] if own else None


async def file_follow_up(repo: DeclarationRepository, config: CustomsConfig, declaration: Declaration, *,
                         purpose: Literal["cancel", "return"], actor: Actor, now: datetime, reason: str) -> None:
    """Queue the cancellation (CEB623/605) or the return (CEB625) of a filed declaration. Mail and express
    cancel by filing their JSON message again as a delete (appType 3); they have no return message."""
    parcel = Parcel.model_validate(declaration.parcel)
    lines = order_lines(await repo.lines(declaration.id))
    key = (declaration.channel, declaration.direction)
    if purpose == "cancel":
        build = _CANCELS.get(key) or _delete_of(key)
    else:
        build = _RETURNS.get(key) or _FILINGS[key][-1]
    app_type: AppType = 3 if purpose == "cancel" and key not in _CANCELS else 1
    facts = await filing_facts(repo, declaration, parcel=parcel, lines=lines, form=declaration.form,
                               app_type=app_type, now=now, reason=reason)
    message = build(facts, config.filer)
    message = OutgoingMessage(message.guid, message.message_type, purpose, message.app_type, message.content_type,
                              message.body, message.signature)
    await repo.add_messages([message.row(declaration.id, now=now)])
    await record_action(repo, declaration, action=f"{purpose}_filed", actor=actor, now=now,
                        note=f"{message.message_type} {message.guid} queued")


def _delete_of(key: tuple[str, str]) -> Builder:
    return _FILINGS[key][-1]


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
        message_type = "REVIEWANSWER"
    else:
        message = build_inspection_record(**common, attended_by=content["attended_by"],
                                          attended_at=datetime.fromisoformat(content["attended_at"]),
                                          outcome=content["outcome"], note=content["note"] or None)
        message_type = "INSPECTIONRECORD"
    outgoing = _signed_json(config.filer, message, guid=guid, message_type=message_type, purpose="answer",
                            app_type=1)
    await repo.add_messages([outgoing.row(declaration.id, now=now)])
    await record_action(repo, declaration, action=f"{kind}_answer_filed", actor=actor, now=now,
                        note=f"{message_type} {guid} queued")
