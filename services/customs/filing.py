"""Declarations driven by events: open on order.accepted, attach payments and waybills, evaluate, cancel.

Events about one parcel arrive in any order and may arrive twice (DESIGN.md): a document before its order is
kept by order id and attached when the declaration opens; a cancellation before its order is remembered and
the declaration opens cancelled; a second order.accepted opens nothing; nothing here undoes a decision.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import structlog

from services.customs.domain.errors import UnknownCurrency
from services.customs.domain.forms import select_form
from services.customs.domain.matching import (
    MatchResult,
    WaybillDocument,
    match_documents,
    needs_three_document_match,
)
from services.customs.domain.money import ZERO
from services.customs.domain.policy import CustomsPolicy
from services.customs.domain.risk import Assessment, assess, hold_for_documents, lane
from services.customs.domain.status import action_for_decision, allowed_actions
from services.customs.domain.tax import TaxAssessment, declaration_tax, taxable_value_cny
from services.customs.models import Declaration, EarlyCancellation
from services.customs.repository import (
    LANE_RANKS,
    DeclarationRepository,
    DocumentBody,
    OrderArrivals,
)
from services.customs.repository_draft import DraftRepository
from services.customs.service import (
    SYSTEM,
    CustomsConfig,
    Emitter,
    HeldEvents,
    buyer_key,
    new_declaration_id,
    parcel_of,
    record_action,
    record_filing,
    status_event,
    transition,
)
from shared.contract.events import (
    DeclarationCancellationRefused,
    DeclarationFiled,
    Finding,
    OrderAccepted,
    OrderCancelled,
    PaymentRecorded,
    WaybillIssued,
)
from shared.contract.parcel import Parcel, Payment

log = structlog.get_logger()

# The annual e-commerce quota runs by calendar year in China (UTC+8).
CHINA_TIME = timezone(timedelta(hours=8))


async def file_declaration(repo: DeclarationRepository, config: CustomsConfig, event: OrderAccepted, *,
                           correlation_id: str, event_id: str | None, emit: Emitter) -> Declaration:
    """Open the order's declaration (once), attach what already arrived, then evaluate it if it can be.

    The declaration is decided before anything of it is written, then written in its final state with one insert
    per table, and its events go out in one outbox insert.
    """
    arrivals = await repo.order_arrivals(event.order_id)
    if arrivals.declaration_id is not None:
        # A redelivered or re-published order.accepted: one order, one declaration.
        existing = await repo.get(arrivals.declaration_id)
        log.info("declaration.duplicate_order_ignored", declaration_id=existing.id, status=existing.status)
        return existing
    draft, currency_error = await _open(repo, config, event, correlation_id=correlation_id, event_id=event_id,
                                        documents_came_first=arrivals.buffered_documents > 0)
    declaration, held = draft.declaration, HeldEvents()
    with structlog.contextvars.bound_contextvars(declaration_id=declaration.id):
        await _decide_on_filing(draft, config, event.parcel, arrivals, currency_error, emit=held)
        await draft.write()
        if arrivals.buffered_documents:
            await repo.attach_buffered_documents(order_id=event.order_id, declaration_id=declaration.id)
        if arrivals.cancellation_reason is not None:
            await repo.drop_early_cancellation(event.order_id)
        await emit.many(held.events, declaration)
    return declaration


async def _decide_on_filing(draft: DraftRepository, config: CustomsConfig, parcel: Parcel, arrivals: OrderArrivals,
                            currency_error: UnknownCurrency | None, *, emit: Emitter) -> None:
    """Cancelled if the cancellation came first, rejected without an exchange rate, else filed and evaluated."""
    declaration = draft.declaration
    now = declaration.opened_at
    if arrivals.cancellation_reason is not None:
        await _cancel(draft, declaration, reason=arrivals.cancellation_reason, now=now, emit=emit)
        return
    if currency_error is not None:
        await _reject_unknown_currency(draft, declaration, currency_error, now=now, emit=emit)
        return
    await emit(DeclarationFiled(
        declaration_id=declaration.id, order_id=declaration.order_id, channel=declaration.channel,
        status="accepted", ceb_code=declaration.ceb_code, occurred_at=now, form=declaration.form,
        trade_mode=declaration.trade_mode, lane=declaration.lane, value_cny=declaration.value_cny,
    ), declaration)
    log.info("declaration.filed", form=declaration.form, channel=declaration.channel, lane=declaration.lane,
             value_cny=str(declaration.value_cny), buffered_documents=arrivals.buffered_documents)
    await evaluate(draft, config, declaration, emit=emit, parcel=parcel)


async def _open(repo: DeclarationRepository, config: CustomsConfig, event: OrderAccepted, *, correlation_id: str,
                event_id: str | None, documents_came_first: bool) -> tuple[DraftRepository, UnknownCurrency | None]:
    """The new declaration, its lines, its filing audit entry and the order's documents, not written yet."""
    parcel, policy, now = event.parcel, config.policy, config.now()
    try:
        selection = select_form(parcel, policy)
        taxable = taxable_value_cny(parcel, policy)
        currency_error = None
    except UnknownCurrency as exc:
        selection, taxable, currency_error = None, None, exc
    waits = needs_three_document_match(parcel.channel) and currency_error is None
    queue_lane = lane(parcel, policy)
    order_body = event.model_dump(mode="json")
    declaration = Declaration(
        id=new_declaration_id(), order_id=event.order_id, merchant_code=event.merchant_code,
        merchant_order_no=parcel.merchant_order_no, channel=parcel.channel, direction=parcel.direction,
        form=selection.form if selection else None, trade_mode=selection.trade_mode if selection else None,
        lane=queue_lane, lane_rank=LANE_RANKS[queue_lane], status="accepted", ceb_code=120,
        value_cny=selection.value_cny if selection else None, taxable_value_cny=taxable,
        counts_towards_annual=False, buyer_key=buyer_key(parcel), parcel=order_body["parcel"],
        correlation_id=correlation_id, awaiting_documents=waits, opened_at=now,
        documents_deadline_at=now + config.documents_deadline if waits else None, version=1, updated_at=now,
    )
    lines = [
        {"declaration_id": declaration.id, "line_no": line.line_no, "sku": line.sku, "name": line.name,
         "hs_code": line.hs_code, "quantity": line.quantity, "unit": line.unit, "unit_price": line.unit_price,
         "total_price": line.total_price, "currency": line.currency, "origin_country": line.origin_country,
         "net_weight_kg": line.net_weight_kg}
        for line in parcel.lines
    ]
    draft = DraftRepository(repo.session, declaration, lines, documents_came_first=documents_came_first)
    await record_filing(draft, declaration, now=now)
    await _file_order_documents(draft, event, declaration, order_body, event_id=event_id, now=now)
    return draft, currency_error


async def _file_order_documents(repo: DeclarationRepository, event: OrderAccepted, declaration: Declaration,
                                order_body: dict[str, Any], *, event_id: str | None, now: datetime) -> None:
    """The order is the first of the three documents; a payment the order carries counts as the second."""
    source = OrderAccepted.event_type()
    await repo.add_document(document_row(event.order_id, declaration.id, kind="order", source=source,
                                         event_id=event_id, now=now, body=order_body))
    if event.parcel.payment is not None:
        body = {"order_id": event.order_id, "merchant_code": event.merchant_code,
                "payment": order_body["parcel"]["payment"]}
        await repo.add_document(document_row(event.order_id, declaration.id, kind="payment", source=source,
                                             event_id=event_id, now=now, body=body))


def document_row(order_id: str, declaration_id: str | None, *, kind: str, source: str, event_id: str | None,
                 now: datetime, body: dict[str, Any]) -> dict[str, Any]:
    """The columns of one documents row (its id comes from the database)."""
    return {"order_id": order_id, "declaration_id": declaration_id, "kind": kind, "source": source,
            "source_event_id": event_id, "received_at": now, "body": body}


async def receive_payment(repo: DeclarationRepository, config: CustomsConfig, event: PaymentRecorded, *,
                          event_id: str | None, emit: Emitter) -> None:
    """Attach the payment company's document; it may complete an e-commerce declaration's three documents."""
    await _receive_document(repo, config, order_id=event.order_id, kind="payment", source=event.event_type(),
                            body=event.model_dump(mode="json"), event_id=event_id, emit=emit)


async def receive_waybill(repo: DeclarationRepository, config: CustomsConfig, event: WaybillIssued, *,
                          event_id: str | None, emit: Emitter) -> None:
    """Attach the logistics company's waybill; for mail and express it is only kept with the declaration."""
    await _receive_document(repo, config, order_id=event.order_id, kind="waybill", source=event.event_type(),
                            body=event.model_dump(mode="json"), event_id=event_id, emit=emit)


async def _receive_document(repo: DeclarationRepository, config: CustomsConfig, *, order_id: str, kind: str,
                            source: str, body: dict[str, Any], event_id: str | None, emit: Emitter) -> None:
    declaration = await repo.get_by_order(order_id)
    await repo.add_document(document_row(order_id, declaration.id if declaration else None, kind=kind,
                                         source=source, event_id=event_id, now=config.now(), body=body))
    if declaration is None:
        log.info("declaration.document_buffered", kind=kind)
        return
    with structlog.contextvars.bound_contextvars(declaration_id=declaration.id):
        if declaration.status == "accepted" and declaration.awaiting_documents:
            log.info("declaration.document_attached", kind=kind, status=declaration.status)
            await evaluate(repo, config, declaration, emit=emit)
        else:
            # Decided (or held) already: the document joins the file, the decision stands.
            log.info("declaration.document_attached", kind=kind, status=declaration.status, reevaluated=False)


def match_for(declaration: Declaration, parcel: Parcel, documents: Sequence[DocumentBody],
              config: CustomsConfig) -> MatchResult:
    """The three-document match over what has arrived; the payment company's own document wins over the
    payment the order carries."""
    payments = [d for d in documents if d.kind == "payment"]
    recorded = [d for d in payments if d.source == PaymentRecorded.event_type()]
    payment_doc = (recorded or payments or [None])[-1]
    waybills = [d for d in documents if d.kind == "waybill"]
    waybill = WaybillDocument.from_event(WaybillIssued.model_validate(waybills[-1].body)) if waybills else None
    return match_documents(
        order_id=declaration.order_id, parcel=parcel,
        payment=Payment.model_validate(payment_doc.body["payment"]) if payment_doc else None,
        waybill=waybill, policy=config.policy,
        payment_order_id=payment_doc.body.get("order_id") if payment_doc else None,
    )


async def evaluate(repo: DeclarationRepository, config: CustomsConfig, declaration: Declaration, *,
                   emit: Emitter, parcel: Parcel | None = None) -> None:
    """Run the match (e-commerce, once all three documents are in) and the risk rules, then apply the decision.

    `parcel` is the declaration's parcel when the caller has it already (else it is read from the declaration).
    """
    if declaration.status != "accepted":
        return  # decided already: never twice
    parcel = parcel or parcel_of(declaration)
    match_findings: list[Finding] = []
    if needs_three_document_match(declaration.channel):
        match = match_for(declaration, parcel, await repo.match_documents(declaration.order_id), config)
        if not match.complete:
            log.info("declaration.awaiting_documents", missing=match.missing)
            return
        match_findings = list(match.findings)
    now = config.now()
    try:
        assessment, tax = await _assess(repo, config, declaration, parcel, match_findings, now=now)
    except UnknownCurrency as exc:
        await _reject_unknown_currency(repo, declaration, exc, now=now, emit=emit)
        return
    reason_code, reason = decision_reason(assessment, config.policy)
    # The versioned status change goes first: if another transaction decided meanwhile, nothing else is written.
    await transition(
        repo, declaration, action=action_for_decision(assessment.decision), actor=SYSTEM, now=now,
        reason_code=reason_code, note=reason,
        values={"risk_score": assessment.score, "risk_decision": assessment.decision, "tax_cny": tax.tax_cny,
                "tax_regime": tax.regime, "counts_towards_annual": tax.counts_towards_annual},
    )
    risk_findings = [f for f in assessment.findings if f not in match_findings]
    await repo.add_findings(declaration.id, risk_findings, source="risk", now=now)
    await repo.add_findings(declaration.id, match_findings, source="match", now=now)
    await emit(status_event(declaration, now=now, actor=SYSTEM, reason=reason, reason_code=reason_code,
                            findings=assessment.findings), declaration)
    log.info(_log_event(declaration.status), status=declaration.status, ceb_code=declaration.ceb_code,
             risk_score=assessment.score, findings=[f.code for f in assessment.findings], lane=declaration.lane,
             tax_cny=str(tax.tax_cny))


async def _assess(repo: DeclarationRepository, config: CustomsConfig, declaration: Declaration, parcel: Parcel,
                  match_findings: list[Finding], *, now: datetime) -> tuple[Assessment, TaxAssessment]:
    policy = config.policy
    history = await repo.buyer_history(
        buyer_key=declaration.buyer_key, channel=declaration.channel, since=split_window_start(config, now),
        exclude_id=declaration.id,
        year_start=year_start(now) if counts_annually(declaration.channel, declaration.direction) else None,
    )
    annual = history.annual_total_cny
    assessment = assess(parcel, declaration_id=declaration.id, policy=policy, now=now, recent=history.recent,
                        annual_total_cny=annual, extra_findings=match_findings)
    assessment = hold_for_documents(assessment, match_findings, policy)
    tax = declaration_tax(parcel, form=declaration.form or "", policy=policy, annual_total_cny=annual)
    return assessment, tax


async def compute_tax(repo: DeclarationRepository, config: CustomsConfig, declaration: Declaration, *,
                      now: datetime) -> TaxAssessment:
    """The tax due on release, counting the buyer's e-commerce purchases so far this year (DOMAIN.md §7)."""
    annual = await _annual_total(repo, declaration, now=now)
    return declaration_tax(parcel_of(declaration), form=declaration.form or "", policy=config.policy,
                           annual_total_cny=annual)


def counts_annually(channel: str, direction: str) -> bool:
    """Only e-commerce imports count towards the buyer's annual limit (DOMAIN.md §7)."""
    return channel == "ecommerce" and direction == "import"


async def _annual_total(repo: DeclarationRepository, declaration: Declaration, *, now: datetime) -> Decimal:
    if not counts_annually(declaration.channel, declaration.direction):
        return ZERO
    return await repo.annual_total_cny(buyer_key=declaration.buyer_key, year_start=year_start(now),
                                       exclude_id=declaration.id)


def split_window_start(config: CustomsConfig, now: datetime) -> datetime:
    """Since when a buyer's other declarations count towards a split purchase."""
    return now - timedelta(hours=config.policy.split_window_hours)


def year_start(now: datetime) -> datetime:
    """The start of the annual quota's year: 1 January in China."""
    local = now.astimezone(CHINA_TIME)
    return local.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


def decision_reason(assessment: Assessment, policy: CustomsPolicy) -> tuple[str | None, str]:
    """A stable reason code (the leading finding) and a sentence a broker or merchant can read."""
    findings = assessment.findings
    if assessment.decision == "reject":
        blocking = [f for f in findings if f.severity == "prohibited"] or [f for f in findings if f.severity == "high"]
        leading = (blocking or list(findings))[0]
        return leading.code, leading.message
    if assessment.decision == "release":
        return None, f"released automatically (risk score {assessment.score})"
    codes = list(dict.fromkeys(f.code for f in findings if f.severity != "info" or assessment.decision == "inspection"))
    # The finding that forced the outcome leads: an inspection code, else the most severe finding.
    ranked = sorted(findings, key=lambda f: (f.code in policy.inspection_codes, _SEVERITY_RANK[f.severity]),
                    reverse=True)
    return ranked[0].code, f"{assessment.decision}: {', '.join(codes)}"


_SEVERITY_RANK = {"info": 0, "low": 1, "medium": 2, "high": 3, "prohibited": 4}


def _log_event(status: str) -> str:
    return {"released": "declaration.released", "rejected": "declaration.rejected",
            "cancelled": "declaration.cancelled"}.get(status, "declaration.held")


async def _reject_unknown_currency(repo: DeclarationRepository, declaration: Declaration, exc: UnknownCurrency, *,
                                   now: datetime, emit: Emitter) -> None:
    """No rate for a currency: the value cannot be assessed, so the declaration is rejected with a finding."""
    parcel = parcel_of(declaration)
    fields = ["currency"] if parcel.currency == exc.currency else []
    fields += [f"lines[{line.line_no}].currency" for line in parcel.lines if line.currency == exc.currency]
    finding = Finding(code="unknown_currency", severity="high", message=str(exc), fields=fields or ["currency"])
    await transition(repo, declaration, action="reject", actor=SYSTEM, now=now, reason_code=finding.code,
                     note=finding.message)
    await repo.add_findings(declaration.id, [finding], source="currency", now=now)
    await emit(status_event(declaration, now=now, actor=SYSTEM, reason=finding.message, reason_code=finding.code,
                            findings=[finding]), declaration)
    log.warning("declaration.rejected", reason_code=finding.code, currency=exc.currency)


async def cancel_order(repo: DeclarationRepository, config: CustomsConfig, event: OrderCancelled, *,
                       emit: Emitter) -> None:
    """Cancel the declaration before release; after release (or once final) refuse, saying why."""
    now = config.now()
    declaration = await repo.get_by_order(event.order_id)
    if declaration is None:
        # The cancellation overtook its order: remember it, the declaration will open cancelled.
        if await repo.early_cancellation(event.order_id) is None:
            await repo.add_early_cancellation(EarlyCancellation(
                order_id=event.order_id, merchant_code=event.merchant_code, reason=event.reason,
                cancelled_at=event.cancelled_at, received_at=now,
            ))
        log.info("declaration.cancellation_buffered")
        return
    with structlog.contextvars.bound_contextvars(declaration_id=declaration.id):
        if declaration.status == "cancelled":
            log.info("declaration.duplicate_cancellation_ignored")
            return
        if "cancel" in allowed_actions(declaration.status):
            await _cancel(repo, declaration, reason=event.reason, now=now, emit=emit)
            return
        reason = refusal_reason(declaration)
        await record_action(repo, declaration, action="cancel_refused", actor=SYSTEM, now=now,
                            reason_code="cancellation_refused", note=reason)
        await emit(DeclarationCancellationRefused(
            declaration_id=declaration.id, order_id=declaration.order_id, channel=declaration.channel,
            status=declaration.status, ceb_code=declaration.ceb_code, occurred_at=now, reason=reason,
        ), declaration)
        log.info("declaration.cancellation_refused", status=declaration.status, reason=reason)


async def _cancel(repo: DeclarationRepository, declaration: Declaration, *, reason: str, now: datetime,
                  emit: Emitter) -> None:
    await transition(repo, declaration, action="cancel", actor=SYSTEM, now=now, reason_code="order_cancelled",
                     note=reason or None)
    await emit(status_event(declaration, now=now, actor=SYSTEM, reason=reason), declaration)
    log.info("declaration.cancelled", reason=reason)


def refusal_reason(declaration: Declaration) -> str:
    """Why a cancellation cannot be honoured, in words the merchant's order page can show."""
    when = f"{declaration.decided_at:%Y-%m-%d %H:%M} UTC" if declaration.decided_at else "an earlier date"
    if declaration.status in ("released", "closed"):
        return f"declaration already released on {when}; request a return (CEB 625) instead"
    if declaration.status == "rejected":
        return f"declaration already rejected on {when}; the goods will not be released, nothing to cancel"
    if declaration.status == "inspection":
        return "goods are under customs inspection; cancellation is possible only after a broker's decision"
    if declaration.status == "detained":
        return f"goods are detained by customs (CEB {declaration.ceb_code}); cancellation is not possible now"
    return f"declaration is {declaration.status}; it cannot be cancelled"
