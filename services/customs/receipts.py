"""The customs authority's receipts: verified, kept as received, and applied to their declaration.

Every receipt is stored, refused ones too (an auditor asks for the partners' raw messages first). A receipt
answers one message by its guid: the declaration's filing (CEB621/603, the mail or express filing), its order
(CEB311/303), a cancellation, a return or a broker's answer. Receipts come late, twice or out of order (DOMAIN.md
§11): status.supersedes decides whether one moves its filing, so nothing goes backwards and nothing doubles.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TypeVar

import structlog
from sqlalchemy import inspect

from services.customs.domain.status import (
    REJECTED,
    RELEASED,
    after_receipt,
    status_for_code,
    supersedes,
)
from services.customs.domain.tax import tax_figures
from services.customs.filing import give_back_quota
from services.customs.intake import quota_back_on_return
from services.customs.models import Declaration
from services.customs.outgoing import FilingRefused, file_follow_up
from services.customs.repository import DeclarationRepository
from services.customs.repository_exchange import ExchangeRepository
from services.customs.repository_receipts import Answer, FiledMessage, ReceiptRepository
from services.customs.schemas import ReceiptAnswer
from services.customs.service import (
    AUTHORITY,
    SYSTEM,
    CustomsConfig,
    Emitter,
    StaleDeclaration,
    as_findings,
    outbox_emitter,
    record_action,
    status_event,
    transition,
)
from shared.auth import Principal
from shared.ceb.errors import MessageMalformed, SignatureInvalid
from shared.ceb.fields import return_time as format_return_time
from shared.ceb.receipts import Receipt, read_receipt, read_receipts
from shared.contract.events import DeclarationCancellationRefusedV2, TaxBill
from shared.errors import InvalidInput, NotFound, ServiceUnavailable, SilkgateError
from shared.logging import message_context
from shared.runtime import ServiceRuntime

log = structlog.get_logger()


_Read = TypeVar("_Read", Receipt, list[Receipt])

# A receipt that keeps failing on concurrent changes of its declaration (a broker acting at the same moment) is
# redone this many times before the authority is told to send it again later.
_ATTEMPTS = 5


@dataclass(frozen=True)
class ParsedReceipt:
    """A verified receipt as the declaration's bookkeeping compares them: returnTime kept as the authority wrote
    it (YYYYMMDDhhmmssSSS, China time), which orders receipts exactly."""

    message_type: str
    guid: str
    return_status: int
    return_time: str
    return_info: str
    pre_no: str | None = None
    invt_no: str | None = None

    @classmethod
    def of(cls, receipt: Receipt) -> ParsedReceipt:
        return cls(receipt.message_type, receipt.guid, receipt.return_status, format_return_time(receipt.return_time),
                   receipt.return_info, receipt.pre_no, receipt.invt_no)


@dataclass(frozen=True)
class ReceiptProblem:
    """Why a receipt was not applied: the HTTP status and stable code POST /v1/receipts answers, and the detail.
    A refused receipt (`kept`) is stored all the same; a busy one is for the authority to send again."""

    status: int
    code: str
    detail: str
    error: str
    field: str | None = None
    parsed: ParsedReceipt | None = None
    kept: bool = True

    def as_error(self) -> SilkgateError:
        """The problem as the single endpoint raises it."""
        if self.status == 404:
            return NotFound(self.detail, code=self.code)
        if self.status == 503:
            return ServiceUnavailable(self.detail, code=self.code, headers={"Retry-After": "1"})
        return InvalidInput(self.detail, code=self.code, field=self.field)


async def receive(runtime: ServiceRuntime, config: CustomsConfig, body: bytes, *,
                  principal: Principal) -> ReceiptAnswer:
    """Verify a receipt and apply it; a refused one is kept all the same (the boundary of POST /v1/receipts)."""
    text = body.decode("utf-8", errors="replace")
    verified = verify(config, body)
    if isinstance(verified, ReceiptProblem):
        await keep_refused(runtime, config, [(text, verified)], key_id=principal.key_id)
        raise verified.as_error()
    done = await apply_alone(runtime, config, verified, body=text, key_id=principal.key_id)
    if isinstance(done, ReceiptProblem):
        raise done.as_error()
    return ReceiptAnswer(receipt_id=done.receipt_id, outcome=done.outcome, declaration_id=done.declaration_id,
                         status=done.status)


def verify(config: CustomsConfig, body: bytes) -> ParsedReceipt | ReceiptProblem:
    """Check the receipt's signature against the authority's certificate and read it (CPU only, no I/O)."""
    read = _verified(config, body, read_receipt)
    return read if isinstance(read, ReceiptProblem) else ParsedReceipt.of(read)


def verify_document(config: CustomsConfig, body: bytes) -> list[ParsedReceipt] | ReceiptProblem:
    """Check a receipt document's one signature and read every record in it, in order (CPU only, no I/O)."""
    read = _verified(config, body, read_receipts)
    return read if isinstance(read, ReceiptProblem) else [ParsedReceipt.of(receipt) for receipt in read]


def _verified(config: CustomsConfig, body: bytes, reader: Callable[[bytes, bytes], _Read]) -> _Read | ReceiptProblem:
    """What `reader` reads of the verified document, or why it was refused."""
    if config.authority_certificate is None:
        raise ServiceUnavailable("The customs authority's certificate is not configured: receipts cannot be verified",
                                 code="authority_certificate_missing")
    try:
        return reader(body, config.authority_certificate)
    except SignatureInvalid as exc:
        return ReceiptProblem(422, "receipt_signature_invalid",
                              f"The receipt's signature does not verify: {exc.detail}", exc.detail, field=exc.field)
    except MessageMalformed as exc:
        return ReceiptProblem(422, "receipt_malformed", f"The receipt cannot be read: {exc.detail}", exc.detail,
                              field=exc.field)


def unknown_message(parsed: ParsedReceipt) -> ReceiptProblem:
    """A verified receipt answering a guid silkgate never filed."""
    return ReceiptProblem(404, "receipt_unknown_message",
                          f"The receipt answers message {parsed.guid}, which silkgate never filed",
                          f"no message {parsed.guid} was filed", parsed=parsed)


def busy(parsed: ParsedReceipt) -> ReceiptProblem:
    """The declaration kept changing under the receipt: not kept, the authority sends it again."""
    return ReceiptProblem(503, "receipt_busy", "The declaration kept changing while the receipt was applied; "
                          "send it again", "busy", parsed=parsed, kept=False)


async def apply_alone(runtime: ServiceRuntime, config: CustomsConfig, parsed: ParsedReceipt, *, body: str,
                      key_id: str | None) -> ReceiptOutcome | ReceiptProblem:
    """Apply a verified receipt in a transaction of its own, redone on a concurrent change of its declaration;
    a receipt for an unknown message is kept as refused."""
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            async with runtime.db.transaction() as session:
                return await apply_receipt(DeclarationRepository(session), config, parsed, body=body,
                                           key_id=key_id, emit=outbox_emitter(runtime.outbox, session))
        except StaleDeclaration:
            log.info("receipt.retried", attempt=attempt, guid=parsed.guid)
        except UnknownMessage:
            problem = unknown_message(parsed)
            await keep_refused(runtime, config, [(body, problem)], key_id=key_id)
            return problem
    return busy(parsed)


async def keep_refused(runtime: ServiceRuntime, config: CustomsConfig, refused: list[tuple[str, ReceiptProblem]], *,
                       key_id: str | None) -> None:
    """Evidence first: refused receipts are stored in their own transaction before the refusal is answered."""
    async with runtime.db.transaction() as session:
        exchange = ExchangeRepository(session)
        for text, problem in refused:
            await exchange.add_receipt(refused_row(config, text, problem, key_id=key_id))


def refused_row(config: CustomsConfig, text: str, problem: ReceiptProblem, *, key_id: str | None) -> dict:
    """The stored form of a refused receipt: the body as received, why, and what could be read of it."""
    row = {"received_at": config.now(), "key_id": key_id, "body": text, "outcome": "refused",
           "error_code": problem.code, "error": problem.error[:512]}
    if (parsed := problem.parsed) is not None:
        row.update(message_type=parsed.message_type, message_guid=parsed.guid, return_status=parsed.return_status,
                   return_time=parsed.return_time, return_info=parsed.return_info[:1024])
    log.warning("receipt.refused", code=problem.code, error=problem.error[:200])
    return row


@dataclass(frozen=True)
class ReceiptOutcome:
    """What a receipt did: applied (moved the declaration), recorded (kept, nothing to move), duplicate, late,
    superseded (for a filing replaced by a later one)."""

    receipt_id: int
    outcome: str
    declaration_id: str | None
    status: str | None


async def apply_receipt(repo: DeclarationRepository, config: CustomsConfig, receipt: ParsedReceipt, *, body: str,
                        key_id: str | None, emit: Emitter) -> ReceiptOutcome:
    """Apply a verified receipt in the caller's transaction (raises StaleDeclaration on a concurrent change:
    the caller redoes the whole transaction)."""
    reads = ReceiptRepository(repo.session)
    now = config.now()
    message = (await reads.messages([receipt.guid])).get(receipt.guid)
    if message is None:
        raise UnknownMessage(receipt.guid)
    declaration = await repo.get(message.declaration_id)
    answered = set() if message.purpose == "declaration" else await reads.answered([receipt.guid])
    outcome = await settle(repo, config, message, declaration, receipt, answered=answered, now=now, emit=emit)
    receipt_id = await ExchangeRepository(repo.session).add_receipt(kept_row(receipt, body=body, key_id=key_id, now=now,
                                                     declaration_id=declaration.id, outcome=outcome))
    return ReceiptOutcome(receipt_id, outcome, declaration.id, declaration.status)


async def settle(repo: DeclarationRepository, config: CustomsConfig, message: FiledMessage, declaration: Declaration,
                 receipt: ParsedReceipt, *, answered: set[Answer], now: datetime, emit: Emitter) -> str:
    """What a verified receipt does to its declaration (the message it answers and the declaration as read);
    returns the outcome. `answered`: the message's answers applied or recorded before (cancellations, returns and
    answers keep no receipt state on the declaration), to which this one is added when it counts."""
    # shared.logging's message context, not structlog's bound_contextvars (two context copies a receipt, ~6 µs,
    # more than a recorded receipt's own rule): its fields win over the request's in every line written inside.
    with message_context(declaration_id=declaration.id, order_id=declaration.order_id,
                         correlation_id=declaration.correlation_id):
        outcome = await _apply(repo, ExchangeRepository(repo.session), config, declaration, message, receipt,
                               answered=answered, now=now, emit=emit)
        if outcome in ("applied", "recorded"):
            answered.add((receipt.guid, receipt.return_status, receipt.return_time))
        log.info("declaration.receipt", outcome=outcome, code=receipt.return_status, message_type=message.message_type,
                 status=declaration.status)
    return outcome


def kept_row(receipt: ParsedReceipt, *, body: str, key_id: str | None, now: datetime, declaration_id: str,
             outcome: str) -> dict:
    """The stored form of a verified receipt: the body as received, what it said, and what it did."""
    return {"received_at": now, "key_id": key_id, "body": body, "message_type": receipt.message_type,
            "message_guid": receipt.guid, "return_status": receipt.return_status, "return_time": receipt.return_time,
            "return_info": (receipt.return_info or "")[:1024], "declaration_id": declaration_id, "outcome": outcome}


class UnknownMessage(Exception):
    """A receipt for a guid silkgate never filed."""

    def __init__(self, guid: str) -> None:
        super().__init__(f"no message {guid} was filed")
        self.guid = guid


async def _apply(repo: DeclarationRepository, exchange: ExchangeRepository, config: CustomsConfig,
                 declaration: Declaration, message: FiledMessage, receipt: ParsedReceipt, *, answered: set[Answer],
                 now: datetime, emit: Emitter) -> str:
    code, at = receipt.return_status, receipt.return_time
    if message.purpose == "declaration":
        if message.guid != declaration.filing_guid:
            return "superseded"  # an earlier filing's late answer: the declaration was filed again since
        current = (declaration.last_receipt_code, declaration.last_receipt_time) \
            if declaration.last_receipt_code is not None else None
        if not supersedes((code, at), current):
            return "duplicate" if current == (code, at) else "late"
        target = after_receipt(declaration.status, purpose="declaration", code=code)
        values = {"last_receipt_code": code, "last_receipt_time": at}
        values.update({name: getattr(receipt, name) for name in ("pre_no", "invt_no") if getattr(receipt, name)})
        if target is None or target == declaration.status and target not in ("manual_review", "inspection",
                                                                                "detained"):
            if not await repo.change(declaration, ceb_code=code if code > 0 else declaration.ceb_code,
                                     updated_at=now, **values):
                raise StaleDeclaration(declaration.id)  # else the receipt would count as recorded, its rank lost
            await _file_waiting_cancellation(repo, exchange, config, declaration, now=now)
            return "recorded"
        await _move(repo, config, declaration, target, code=code, info=receipt.return_info, now=now, emit=emit,
                    values=values)
        return "applied"
    if (receipt.guid, code, at) in answered:  # the same answer to the same message, applied before
        return "duplicate"
    if message.purpose == "order":
        if code == REJECTED and after_receipt(declaration.status, purpose="order", code=code):
            await _move(repo, config, declaration, "authority_rejected", code=code, info=receipt.return_info,
                        now=now, emit=emit)
            return "applied"
        return "recorded"
    if message.purpose in ("cancel", "return"):
        target = after_receipt(declaration.status, purpose=message.purpose, code=code)
        if target is not None:
            await _move(repo, config, declaration, target, code=code, info=receipt.return_info, now=now, emit=emit)
            return "applied"
        if code == REJECTED and declaration.status in ("cancel_requested", "return_requested"):
            await _refused(repo, declaration, message.purpose, info=receipt.return_info, now=now, emit=emit)
            return "applied"
    return "recorded"


async def _file_waiting_cancellation(repo: DeclarationRepository, exchange: ExchangeRepository, config: CustomsConfig,
                                     declaration: Declaration, *, now: datetime) -> None:
    """A cancellation that came before the authority numbered the list is filed once a receipt brings the numbers."""
    if declaration.status != "cancel_requested" or not declaration.pre_no:
        return
    if any(m.purpose == "cancel" for m in await exchange.messages_of(declaration.id)):
        return
    if "parcel" in inspect(declaration).unloaded:  # a batch reads its declarations without (repository_receipts)
        await repo.session.refresh(declaration, ["parcel"])
    try:
        await file_follow_up(repo, config, declaration, purpose="cancel", actor=SYSTEM, now=now,
                             reason="order cancelled by the merchant")
    except FilingRefused as refused:
        log.warning("declaration.cancellation_not_filed", reason=refused.finding.message)


async def _move(repo: DeclarationRepository, config: CustomsConfig, declaration: Declaration, target: str, *,
                code: int, info: str | None, now: datetime, emit: Emitter, values: dict | None = None) -> None:
    """The authority moved the declaration: its status, the side effects of release, cancellation and return,
    and the event the other services follow."""
    values = dict(values or {})
    reason = (info or "").strip() or f"customs authority: {target} (CEB {code})"
    reason_code = f"ceb_{code}"
    if target == "released":
        values["released_at"] = now
    if target == "cancelled":
        values.update(await give_back_quota(repo, declaration, now=now))
    if target == "returned":
        if quota_back_on_return(declaration, config, now=now):
            restored = declaration.quota_reserved_fen or 0
            values.update(await give_back_quota(repo, declaration, now=now))
            reason_code = "quota_restored" if restored else reason_code
            reason = f"{reason}; quota restored" if restored else reason
        else:
            reason = f"{reason}; returned more than {config.policy.return_quota_days} days after release: " \
                     "the quota stays used"
    await transition(repo, declaration, action="receipt", to_status=target, actor=AUTHORITY, now=now, code=code,
                     reason_code=reason_code, note=reason, values=values)
    if target == "returned" and reason_code == "quota_restored":
        # The event reports what came back; the declaration now holds nothing of the quota.
        declaration_event = status_event(declaration, now=now, actor=AUTHORITY, reason=reason)
        event = declaration_event.model_copy(update={"quota_restored_cny": _restored_cny(restored)})
    else:
        findings = as_findings(await repo.findings(declaration.id)) if target == "authority_rejected" else ()
        event = status_event(declaration, now=now, actor=AUTHORITY, reason=reason, reason_code=reason_code,
                             findings=findings, tax_bill=tax_bill_of(declaration, config, now=now)
                             if target == "released" else None)
    if event is not None:
        await emit(event, declaration)
    level = log.warning if target in ("authority_rejected", "detained") else log.info
    level(f"declaration.{target}", status=target, ceb_code=code)


def tax_bill_of(declaration: Declaration, config: CustomsConfig, *, now: datetime) -> TaxBill | None:
    """The electronic tax bill's figures (CEB816) of a released e-commerce import: what the buyer owes, split."""
    if declaration.channel != "ecommerce" or declaration.direction != "import" or declaration.tax_cny is None:
        return None
    value = declaration.taxable_value_cny or Decimal(0)
    figures = tax_figures(regime=declaration.tax_regime or "", taxable_value_cny=value, tax_cny=declaration.tax_cny,
                          policy=config.policy)
    return TaxBill(invt_no=declaration.invt_no, taxable_value_cny=value, customs_duty_cny=figures.customs_duty_cny,
                   vat_cny=figures.vat_cny, consumption_tax_cny=figures.consumption_tax_cny,
                   total_cny=figures.total_cny, issued_at=now)


def _restored_cny(fen: int) -> Decimal:
    return Decimal(fen) / 100


async def _refused(repo: DeclarationRepository, declaration: Declaration, purpose: str, *, info: str | None,
                   now: datetime, emit: Emitter) -> None:
    """The authority refused a cancellation or a return: the declaration goes back to where its filing stands."""
    if purpose == "cancel":
        back = status_for_code(declaration.last_receipt_code or 0) or "filed"
    else:
        back = "closed" if declaration.last_receipt_code == 899 else "released"
    reason = (info or "").strip() or f"the customs authority refused the {purpose}"
    await transition(repo, declaration, action="receipt", to_status=back, actor=AUTHORITY, now=now,
                     code=declaration.last_receipt_code or (RELEASED if purpose == "return" else 2),
                     reason_code=f"{purpose}_refused", note=reason)
    if purpose == "cancel":
        await emit(DeclarationCancellationRefusedV2(
            declaration_id=declaration.id, order_id=declaration.order_id, channel=declaration.channel,
            status=declaration.status, ceb_code=declaration.ceb_code, occurred_at=now, reason=reason[:512],
        ), declaration)
    else:
        await record_action(repo, declaration, action="return_refused", actor=AUTHORITY, now=now,
                            reason_code="return_refused", note=reason)
    log.warning(f"declaration.{purpose}_refused", status=declaration.status)
