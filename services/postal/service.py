"""Waybill use cases: issue on order.accepted, bag on declaration.released, void on cancel or rejection.

Events about one parcel may come in any order. A release or a void that comes before its order.accepted is kept
(pending_events) and applied when the waybill is issued. Orders' and customs' events come through different
consumers, so the two can be handled at the same moment, each in a transaction that cannot see the other's: then
the kept event is found by the next consolidation tick (apply_stranded). Every step checks the waybill's status
under its row lock, so a redelivered or doubly applied event does nothing twice: no parcel gets two numbers or
goes into a bag twice. Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from services.postal import repository
from services.postal.consolidation import place_in_receptacle, take_out
from services.postal.domain import consolidation as rules
from services.postal.domain.errors import PostalRuleError
from services.postal.identifiers import Identifier, allocate_identifier, put_back
from services.postal.models import Waybill
from services.postal.settings import PostalSettings
from shared.contract.envelope import Envelope
from shared.contract.events import DeclarationReleased, Event, OrderAccepted, WaybillIssued, WaybillVoided
from shared.contract.parcel import Party
from shared.outbox import Outbox

log = structlog.get_logger()

# emit(event, subject=order_id, correlation_id=…): the outbox of the caller's transaction.
Emit = Callable[..., Awaitable[Any]]

VOIDABLE = frozenset({"issued", "in_receptacle"})


async def issue_waybill(session: AsyncSession, settings: PostalSettings, event: OrderAccepted, *,
                        correlation_id: str, emit: Emit, now: datetime) -> str:
    """Issue the parcel's tracking number (once per order) and publish waybill.issued; returns the number."""
    known = repository.issue_state(session, event.order_id)
    if known is not None and not known.issued:
        return await _issue_first(session, settings, event, kept=known.kept, correlation_id=correlation_id,
                                  emit=emit, now=now)
    parcel = event.parcel
    try:
        identifier = await allocate_identifier(session, parcel, settings, today=now.date())
        values = waybill_values(settings, event, identifier, correlation_id=correlation_id, now=now)
    except PostalRuleError:
        # An order we cannot number (now) may have had its waybill issued before: a redelivery gets that one.
        existing = await repository.get_waybill_by_order(session, event.order_id)
        if existing is None:
            raise
        return already_issued(existing)
    kept = await repository.insert_waybill(session, values)
    if kept is None:
        # The order has its waybill (a redelivery under another event id, or a replica just issued it).
        put_back(session, identifier.sequence, identifier.serial)
        existing = await repository.get_waybill_by_order(session, event.order_id)
        assert existing is not None
        return already_issued(existing)
    await issued(session, settings, event, identifier, kept=kept, correlation_id=correlation_id, emit=emit,
                  now=now)
    return identifier.tracking_number


async def _issue_first(session: AsyncSession, settings: PostalSettings, event: OrderAccepted, *, kept: bool,
                       correlation_id: str, emit: Emit, now: datetime) -> str:
    """Issue a waybill to an order read ahead without one (under its parcel's lock, so nobody issues it meanwhile):
    no "insert if new", so the insert can be held for the batch; no waybill to fall back to if numbering fails."""
    identifier = await allocate_identifier(session, event.parcel, settings, today=now.date())
    values = waybill_values(settings, event, identifier, correlation_id=correlation_id, now=now)
    await repository.hold_waybill(session, values)
    await issued(session, settings, event, identifier, kept=kept, correlation_id=correlation_id, emit=emit, now=now)
    return identifier.tracking_number


async def issued(session: AsyncSession, settings: PostalSettings, event: OrderAccepted, identifier: Identifier, *,
                  kept: bool, correlation_id: str, emit: Emit, now: datetime, consignee: Party | None = None) -> None:
    """Publish waybill.issued, then apply what was kept for the order if a release or a void came first.
    `consignee`: whom the waybill names, when the logistics party's own waybill says (else the order's)."""
    parcel = event.parcel
    await emit(
        WaybillIssued(order_id=event.order_id, merchant_order_no=parcel.merchant_order_no,
                      tracking_number=identifier.tracking_number, channel=parcel.channel, carrier=identifier.carrier,
                      consignee=consignee or parcel.consignee, issued_at=now),
        subject=event.order_id, correlation_id=correlation_id,
    )
    log.info("waybill.issued", order_id=event.order_id, tracking_number=identifier.tracking_number,
             channel=parcel.channel, carrier=identifier.carrier, sequence=identifier.sequence)
    if kept:
        await _apply_pending(session, settings, event.order_id, identifier.tracking_number, emit=emit, now=now)


def already_issued(existing: Waybill) -> str:
    log.info("waybill.already_issued", order_id=existing.order_id, tracking_number=existing.tracking_number)
    return existing.tracking_number


def waybill_values(settings: PostalSettings, event: OrderAccepted, identifier: Identifier, *, correlation_id: str,
                   now: datetime) -> dict[str, Any]:
    """The new waybill's row: identifier, routing (office of exchange, S9 category and subclass) and the parcel."""
    parcel = event.parcel
    product = parcel.mail_product if parcel.channel == "mail" else None
    return {
        "tracking_number": identifier.tracking_number,
        "order_id": event.order_id,
        "merchant_code": event.merchant_code,
        "merchant_order_no": parcel.merchant_order_no,
        "channel": parcel.channel,
        "carrier": identifier.carrier,
        "mail_product": product,
        "status": "issued",
        "tracking_status": "pre_transit",
        "parcel": parcel.model_dump(mode="json"),
        "weight_kg": Decimal(parcel.weight_kg),
        "destination_office": rules.office_of_exchange(parcel.consignee.country, offices=settings.office_table),
        "mail_category": rules.mail_category_for(parcel.channel, product, categories=settings.category_table),
        "mail_subclass": rules.mail_subclass_for(parcel.channel, product, subclasses=settings.subclass_table),
        "registered": rules.is_registered_or_insured(product),
        "correlation_id": correlation_id,
        "issued_at": now,
    }


async def apply_stranded(session: AsyncSession, settings: PostalSettings, *, emit: Emit, now: datetime,
                         limit: int = 100) -> int:
    """Apply kept events whose waybill was issued while they were being kept; returns how many orders."""
    orders = await repository.stranded_pending_orders(session, limit=limit)
    for order_id in orders:
        waybill = await repository.get_waybill_by_order(session, order_id, lock=True)
        if waybill is not None:
            log.info("pending.stranded_applied", order_id=order_id, tracking_number=waybill.tracking_number)
            await _apply_pending(session, settings, order_id, waybill.tracking_number, emit=emit, now=now)
    return len(orders)


async def _apply_pending(session: AsyncSession, settings: PostalSettings, order_id: str, tracking_number: str, *,
                         emit: Emit, now: datetime) -> None:
    """Apply what was kept for an order whose waybill exists: a void beats a release (the parcel must not travel)."""
    pending = await repository.take_pending(session, order_id)
    if "void" in pending:
        await void_waybill(session, order_id=order_id, reason=pending["void"]["reason"], emit=emit, now=now)
    elif "release" in pending:
        log.info("declaration.release_applied", order_id=order_id, tracking_number=tracking_number)
        await release_parcel(session, settings, DeclarationReleased.model_validate(pending["release"]), now=now)


async def release_parcel(session: AsyncSession, settings: PostalSettings, event: DeclarationReleased, *,
                         now: datetime) -> None:
    """Customs released the parcel: into the open receptacle of its route (kept until its waybill exists)."""
    issued = repository.issued_for_release(session, event.order_id)
    if issued is not None:
        # Read ahead as `issued` under its row lock, so this is its first release: recorded as it is bagged.
        release = repository.Release(event.declaration_id, event.form, event.occurred_at)
        await place_in_receptacle(session, settings, issued, now=now, release=release)
        return
    released = await _record_release(session, event)
    if released is None:
        waybill = await repository.get_waybill_by_order(session, event.order_id, lock=True)
        if waybill is None:
            kept = await repository.add_pending(session, order_id=event.order_id, kind="release",
                                                payload=event.model_dump(mode="json"))
            log.info("declaration.release_buffered", order_id=event.order_id, declaration_id=event.declaration_id,
                     duplicate=not kept)
            return
        if waybill.status != "issued":
            # Already bagged (a second release) or voided meanwhile: never bag a parcel twice or bag a void one.
            log.info("waybill.release_ignored", order_id=waybill.order_id, tracking_number=waybill.tracking_number,
                     status=waybill.status, declaration_id=event.declaration_id)
            return
        # Issued by a transaction that committed after our first look; we hold its lock now.
        released = await _record_release(session, event)
        assert released is not None
    await place_in_receptacle(session, settings, released, now=now)


async def _record_release(session: AsyncSession, event: DeclarationReleased) -> Any:
    return await repository.release_waybill(session, order_id=event.order_id, declaration_id=event.declaration_id,
                                            form=event.form, released_at=event.occurred_at)


async def void_waybill(session: AsyncSession, *, order_id: str, reason: str, emit: Emit, now: datetime) -> None:
    """Void the order's waybill before handoff (kept until the waybill exists); refused, and logged, after it."""
    waybill = await repository.get_waybill_by_order(session, order_id, lock=True)
    if waybill is None:
        kept = await repository.add_pending(session, order_id=order_id, kind="void", payload={"reason": reason})
        log.info("waybill.void_buffered", order_id=order_id, reason=reason, duplicate=not kept)
        return
    await _void(session, waybill, reason=reason, emit=emit, now=now)


async def _void(session: AsyncSession, waybill: Waybill, *, reason: str, emit: Emit, now: datetime) -> None:
    ids = {"order_id": waybill.order_id, "tracking_number": waybill.tracking_number}
    if waybill.status == "voided":
        log.info("waybill.void_duplicate", **ids)
        return
    if waybill.status not in VOIDABLE:
        log.warning("waybill.void_refused", **ids, reason="handed_off", status=waybill.status, requested=reason)
        return
    if waybill.receptacle_id is not None:
        refusal = await take_out(session, waybill, now=now)
        if refusal is not None:
            # The carrier may already hold the manifest naming this parcel; orders learns the rest from handoff.
            log.warning("waybill.void_refused", **ids, reason=refusal, status=waybill.status, requested=reason)
            return
    waybill.status = "voided"
    waybill.voided_at = now
    waybill.void_reason = reason[:512]
    # Written now: releasing and bagging use Core statements that do not flush first, and a release of this parcel
    # later in the same batch must find it voided, not bag it.
    await session.flush()
    await emit(WaybillVoided(order_id=waybill.order_id, tracking_number=waybill.tracking_number,
                             reason=reason[:512], voided_at=now),
               subject=waybill.order_id, correlation_id=waybill.correlation_id)
    log.info("waybill.voided", **ids, reason=reason)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """An event for the outbox with its parcel's order id (the subject) and correlation id."""

    event: Event
    subject: str
    correlation_id: str


async def emit_all(session: AsyncSession, outbox: Outbox, outgoing: list[Outgoing]) -> None:
    """Write events to the outbox of the session's transaction in one INSERT, in order (workers and HTTP requests)."""
    await outbox.add_envelopes(session, [
        Envelope.wrap(item.event, subject=item.subject, correlation_id=item.correlation_id) for item in outgoing
    ])


def outbox_emitter(session: AsyncSession, outbox: Any) -> Emit:
    """An Emit writing to `outbox` in `session`'s transaction (workers and HTTP requests)."""

    async def emit(event: Event, *, subject: str, correlation_id: str) -> None:
        await outbox.add(session, event, subject=subject, correlation_id=correlation_id)

    return emit
