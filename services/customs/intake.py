"""Declarations driven by events: open on order.accepted, take each party's document, cancel, return.

Events about one parcel arrive in any order and may arrive twice (DESIGN.md): a document before its order is
kept by order id and attached when the declaration opens; a cancellation before its order is remembered and
the declaration opens cancelled; a second order.accepted opens nothing; nothing here undoes a decision.
Each party's document counts only as that party's: the order is the merchant's, the payment the payment
company's (payment.recorded), the waybill the logistics company's (filing.documents_for).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog

from services.customs.domain.errors import UnknownCurrency
from services.customs.domain.forms import select_form
from services.customs.domain.quota import return_restores_quota
from services.customs.domain.risk import lane
from services.customs.domain.status import BEFORE_FILING, allowed_actions
from services.customs.domain.tax import taxable_value_cny
from services.customs.filing import evaluate, give_back_quota, reject_unknown_currency
from services.customs.models import Declaration, EarlyCancellation
from services.customs.outgoing import FilingRefused, file_follow_up
from services.customs.repository import LANE_RANKS, DeclarationRepository, OrderArrivals
from services.customs.repository_draft import DraftRepository
from services.customs.service import (
    SYSTEM,
    CustomsConfig,
    Emitter,
    HeldEvents,
    buyer_key,
    new_declaration_id,
    record_action,
    record_opening,
    status_event,
    transition,
)
from shared.contract.events import (
    DeclarationCancellationRefusedV2,
    OrderAccepted,
    OrderCancelled,
    PaymentRecorded,
    WaybillIssued,
    WaybillRecorded,
)
from shared.contract.parcel import Parcel

log = structlog.get_logger()


async def open_declaration(repo: DeclarationRepository, config: CustomsConfig, event: OrderAccepted, *,
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
        await record_opening(draft, declaration, now=declaration.opened_at)
        await _decide_on_opening(draft, config, event.parcel, arrivals, currency_error, emit=held)
        await draft.write()
        if arrivals.buffered_documents:
            await repo.attach_buffered_documents(order_id=event.order_id, declaration_id=declaration.id)
        if arrivals.cancellation_reason is not None:
            await repo.drop_early_cancellation(event.order_id)
        await emit.many(held.events, declaration)
    return declaration


async def _decide_on_opening(draft: DraftRepository, config: CustomsConfig, parcel: Parcel, arrivals: OrderArrivals,
                             currency_error: UnknownCurrency | None, *, emit: Emitter) -> None:
    """Cancelled if the cancellation came first, rejected without an exchange rate, else evaluated."""
    declaration = draft.declaration
    now = declaration.opened_at
    if arrivals.cancellation_reason is not None:
        await _cancel(draft, declaration, reason=arrivals.cancellation_reason, now=now, emit=emit)
        return
    if currency_error is not None:
        await reject_unknown_currency(draft, declaration, currency_error, now=now, emit=emit)
        return
    log.info("declaration.opened", form=declaration.form, channel=declaration.channel, lane=declaration.lane,
             value_cny=str(declaration.value_cny), buffered_documents=arrivals.buffered_documents)
    await evaluate(draft, config, declaration, emit=emit, parcel=parcel)


async def _open(repo: DeclarationRepository, config: CustomsConfig, event: OrderAccepted, *, correlation_id: str,
                event_id: str | None, documents_came_first: bool) -> tuple[DraftRepository, UnknownCurrency | None]:
    """The new declaration, its lines and the order's document, not written yet."""
    parcel, policy, now = event.parcel, config.policy, config.now()
    try:
        selection = select_form(parcel, policy)
        taxable = taxable_value_cny(parcel, policy)
        currency_error = None
    except UnknownCurrency as exc:
        selection, taxable, currency_error = None, None, exc
    waits = currency_error is None  # every channel files with its waybill; e-commerce with its payment too
    queue_lane = lane(parcel, policy)
    order_body = event.model_dump(mode="json")
    declaration = Declaration(
        id=new_declaration_id(), order_id=event.order_id, merchant_code=event.merchant_code,
        merchant_order_no=parcel.merchant_order_no, channel=parcel.channel, direction=parcel.direction,
        form=selection.form if selection else None, trade_mode=selection.trade_mode if selection else None,
        lane=queue_lane, lane_rank=LANE_RANKS[queue_lane], status="pending_documents", ceb_code=1,
        value_cny=selection.value_cny if selection else None, taxable_value_cny=taxable,
        counts_towards_annual=False, buyer_key=buyer_key(parcel), parcel=order_body["parcel"],
        correlation_id=correlation_id, awaiting_documents=waits, needs_broker=False, filings=0, opened_at=now,
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
    await draft.add_document(document_row(event.order_id, declaration.id, kind="order",
                                          source=OrderAccepted.event_type(), event_id=event_id, now=now,
                                          body=order_body))
    return draft, currency_error


def document_row(order_id: str, declaration_id: str | None, *, kind: str, source: str, event_id: str | None,
                 now: datetime, body: dict[str, Any]) -> dict[str, Any]:
    """The columns of one documents row (its id comes from the database)."""
    return {"order_id": order_id, "declaration_id": declaration_id, "kind": kind, "source": source,
            "source_event_id": event_id, "received_at": now, "body": body}


async def receive_payment(repo: DeclarationRepository, config: CustomsConfig, event: PaymentRecorded, *,
                          event_id: str | None, emit: Emitter) -> None:
    """Attach the payment company's document; it may complete an e-commerce declaration's three documents."""
    await receive_document(repo, config, order_id=event.order_id, kind="payment", source=event.event_type(),
                           body=event.model_dump(mode="json"), event_id=event_id, emit=emit)


async def receive_waybill(repo: DeclarationRepository, config: CustomsConfig, event: WaybillIssued, *,
                          event_id: str | None, emit: Emitter) -> None:
    """Attach silkgate postal's waybill (the logistics company's document unless the order names another)."""
    body = event.model_dump(mode="json")
    await receive_document(repo, config, order_id=event.order_id, kind="waybill", source=event.event_type(),
                           body=body, event_id=event_id, emit=emit, tracking_number=event.tracking_number)


async def receive_recorded_waybill(repo: DeclarationRepository, config: CustomsConfig, event: WaybillRecorded, *,
                                   event_id: str | None, emit: Emitter) -> None:
    """Attach an external logistics company's own waybill (CEB511): the logistics document when the order names
    that company (filing.documents_for takes it only from the company the order names)."""
    await receive_document(repo, config, order_id=event.order_id, kind="waybill", source=event.event_type(),
                           body=event.model_dump(mode="json"), event_id=event_id, emit=emit,
                           tracking_number=event.logistics_no)


async def receive_document(repo: DeclarationRepository, config: CustomsConfig, *, order_id: str, kind: str,
                           source: str, body: dict[str, Any], event_id: str | None, emit: Emitter,
                           tracking_number: str | None = None) -> None:
    declaration = await repo.get_by_order(order_id)
    await repo.add_document(document_row(order_id, declaration.id if declaration else None, kind=kind,
                                         source=source, event_id=event_id, now=config.now(), body=body))
    if declaration is None:
        log.info("declaration.document_buffered", kind=kind)
        return
    with structlog.contextvars.bound_contextvars(declaration_id=declaration.id):
        if declaration.status == "pending_documents" and declaration.awaiting_documents:
            log.info("declaration.document_attached", kind=kind, status=declaration.status)
            await evaluate(repo, config, declaration, emit=emit)
        else:
            # Decided or with a broker already: the document joins the file (the broker sees it), the status stands.
            if tracking_number and declaration.tracking_number != tracking_number:
                await repo.change(declaration, tracking_number=tracking_number)
            log.info("declaration.document_attached", kind=kind, status=declaration.status, reevaluated=False)


async def cancel_order(repo: DeclarationRepository, config: CustomsConfig, event: OrderCancelled, *,
                       emit: Emitter) -> None:
    """Cancel the declaration before filing; after filing ask the authority (CEB623/605); refuse, saying why,
    once the goods are with customs or released."""
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
        if declaration.status in ("cancelled", "cancel_requested"):
            log.info("declaration.duplicate_cancellation_ignored")
            return
        actions = allowed_actions(declaration.status)
        if "cancel" in actions:
            await _cancel(repo, declaration, reason=event.reason, now=now, emit=emit)
            return
        if "request_cancel" in actions:
            try:
                await file_follow_up(repo, config, declaration, purpose="cancel", actor=SYSTEM, now=now,
                                     reason=event.reason or "order cancelled by the merchant")
                filed = True
            except FilingRefused:
                # The authority has not numbered the inventory list yet (its 120 brings preNo/invtNo, which the
                # cancellation names): the cancellation waits and is filed when that receipt comes (receipts.py).
                filed = False
            await transition(repo, declaration, action="request_cancel", actor=SYSTEM, now=now,
                             reason_code="order_cancelled", note=event.reason or None)
            log.info("declaration.cancel_requested", cancellation_filed=filed)
            return
        reason = refusal_reason(declaration)
        await record_action(repo, declaration, action="cancel_refused", actor=SYSTEM, now=now,
                            reason_code="cancellation_refused", note=reason)
        await emit(DeclarationCancellationRefusedV2(
            declaration_id=declaration.id, order_id=declaration.order_id, channel=declaration.channel,
            status=declaration.status, ceb_code=declaration.ceb_code, occurred_at=now, reason=reason,
        ), declaration)
        log.info("declaration.cancellation_refused", status=declaration.status, reason=reason)


async def _cancel(repo: DeclarationRepository, declaration: Declaration, *, reason: str, now: datetime,
                  emit: Emitter) -> None:
    values = await give_back_quota(repo, declaration, now=now) if declaration.status not in BEFORE_FILING else {}
    await transition(repo, declaration, action="cancel", actor=SYSTEM, now=now, reason_code="order_cancelled",
                     note=reason or None, values=values)
    await emit(status_event(declaration, now=now, actor=SYSTEM, reason=reason), declaration)
    log.info("declaration.cancelled", reason=reason)


async def request_return(repo: DeclarationRepository, config: CustomsConfig, *, order_id: str, reason: str,
                         emit: Emitter) -> None:
    """The merchant asked for a return of released goods: file CEB625; the authority's 700 returns them."""
    now = config.now()
    declaration = await repo.get_by_order(order_id)
    if declaration is None:
        log.warning("declaration.return_without_declaration", order_id=order_id)
        return
    with structlog.contextvars.bound_contextvars(declaration_id=declaration.id):
        if declaration.status in ("return_requested", "returned"):
            log.info("declaration.duplicate_return_ignored")
            return
        if "request_return" not in allowed_actions(declaration.status):
            await record_action(repo, declaration, action="return_refused", actor=SYSTEM, now=now,
                                reason_code="return_not_allowed",
                                note=f"a {declaration.status} declaration cannot be returned")
            log.warning("declaration.return_refused", status=declaration.status)
            return
        try:
            filed = await file_follow_up(repo, config, declaration, purpose="return", actor=SYSTEM, now=now,
                                         reason=reason or "returned by the buyer")
        except FilingRefused as refused:
            await record_action(repo, declaration, action="return_refused", actor=SYSTEM, now=now,
                                reason_code=refused.finding.code, note=refused.finding.message)
            log.warning("declaration.return_refused", status=declaration.status, reason=refused.finding.message)
            return
        await transition(repo, declaration, action="request_return", actor=SYSTEM, now=now,
                         reason_code="return_requested", note=reason or None)
        if not filed:
            # Mail and express goods go back through the posts: no customs message, nothing to wait for.
            await transition(repo, declaration, action="receipt", to_status="returned", actor=SYSTEM, now=now,
                             reason_code="returned", note=reason or None)
            await emit(status_event(declaration, now=now, actor=SYSTEM, reason=reason), declaration)
        log.info("declaration.return_requested", message_filed=filed)


def quota_back_on_return(declaration: Declaration, config: CustomsConfig, *, now: datetime) -> bool:
    """Whether the return gives the buyer's quota back: within the window after release (DOMAIN.md §7)."""
    return return_restores_quota(released_at=declaration.released_at, returned_at=now, policy=config.policy)


def refusal_reason(declaration: Declaration) -> str:
    """Why a cancellation cannot be honoured, in words the merchant's order page can show."""
    when = f"{declaration.decided_at:%Y-%m-%d %H:%M} UTC" if declaration.decided_at else "an earlier date"
    if declaration.status in ("released", "closed", "return_requested", "returned"):
        return f"declaration already released on {when}; request a return (CEB 625) instead"
    if declaration.status == "rejected":
        return f"declaration already rejected on {when}; the goods will not be released, nothing to cancel"
    if declaration.status == "inspection":
        return "goods are under customs inspection; cancellation is possible only after the authority decides"
    if declaration.status == "detained":
        return f"goods are detained by customs (CEB {declaration.ceb_code}); cancellation is not possible now"
    return f"declaration is {declaration.status}; it cannot be cancelled"
