"""Event handlers of the customs service: order.accepted, order.cancelled, order.return_requested, payment.recorded,
waybill.issued and waybill.recorded.

Handlers run inside the consumer's batch transaction, after the kit has locked the batch's parcels (PostgreSQL), so
an order.accepted and a document of the same order in two transactions never miss each other. Raising retries the
message with backoff, so a declaration changed concurrently by a broker or the deadline worker is simply handled
again.

Before the handlers of a batch run, the prefetchers read what they will ask for, for all the batch's parcels at once
(repository_batch.py says how the batch's writes keep it exact): an order's arrivals, its documents when they came
first, and its buyer's history when it will be assessed on filing; a document's declaration, and for a declaration
waiting for documents, the documents and the buyer's history of its assessment.
"""

from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from services.customs import filing, intake
from services.customs.domain.quota import quota_year
from services.customs.repository import PRIOR_DECLARATIONS_LIMIT, DeclarationRepository
from services.customs.repository_batch import ReadAhead
from services.customs.service import CustomsConfig, buyer_key, context_emitter
from shared.batch import BatchScope
from shared.consumer import Handler, MessageContext, Prefetcher
from shared.contract.events import (
    Event,
    OrderAccepted,
    OrderCancelled,
    OrderReturnRequested,
    PaymentRecorded,
    WaybillIssued,
    WaybillRecorded,
)

log = structlog.get_logger()


def build_handlers(config: CustomsConfig) -> dict[type[Event], Handler]:
    """The handlers of a running service, bound to its policy and clock."""

    async def on_order_accepted(ctx: MessageContext) -> None:
        event: OrderAccepted = ctx.event
        await intake.open_declaration(DeclarationRepository(ctx.session), config, event,
                                      correlation_id=ctx.correlation_id, event_id=ctx.envelope.id,
                                      emit=context_emitter(ctx))

    async def on_order_cancelled(ctx: MessageContext) -> None:
        await intake.cancel_order(DeclarationRepository(ctx.session), config, ctx.event, emit=context_emitter(ctx))

    async def on_payment_recorded(ctx: MessageContext) -> None:
        await intake.receive_payment(DeclarationRepository(ctx.session), config, ctx.event,
                                     event_id=ctx.envelope.id, emit=context_emitter(ctx))

    async def on_waybill_issued(ctx: MessageContext) -> None:
        await intake.receive_waybill(DeclarationRepository(ctx.session), config, ctx.event,
                                     event_id=ctx.envelope.id, emit=context_emitter(ctx))

    async def on_waybill_recorded(ctx: MessageContext) -> None:
        await intake.receive_recorded_waybill(DeclarationRepository(ctx.session), config, ctx.event,
                                              event_id=ctx.envelope.id, emit=context_emitter(ctx))

    async def on_return_requested(ctx: MessageContext) -> None:
        event: OrderReturnRequested = ctx.event
        await intake.request_return(DeclarationRepository(ctx.session), config, order_id=event.order_id,
                                    reason=event.reason, emit=context_emitter(ctx))

    return {
        OrderAccepted: on_order_accepted,
        OrderCancelled: on_order_cancelled,
        OrderReturnRequested: on_return_requested,
        PaymentRecorded: on_payment_recorded,
        WaybillIssued: on_waybill_issued,
        WaybillRecorded: on_waybill_recorded,
    }


def build_prefetchers(config: CustomsConfig) -> dict[type[Event], Prefetcher]:
    """Read-ahead for the handlers above, one statement per kind for a whole batch."""

    async def history(read: ReadAhead, buyers: list[tuple[str, str, bool]]) -> None:
        now = config.now()
        await read.buyer_histories(buyers, since=filing.split_window_start(config, now), year=quota_year(now),
                                   limit=PRIOR_DECLARATIONS_LIMIT)

    async def before_orders(session: AsyncSession, scope: BatchScope, contexts: list[MessageContext]) -> None:
        orders: list[OrderAccepted] = _locked(contexts)
        read = ReadAhead(session, scope)
        arrivals = await read.arrivals(list(dict.fromkeys(order.order_id for order in orders)))
        # What the new declarations will match: an order's documents are those kept for it (a document names a
        # declaration only once the order opened one), none at all when nothing came first.
        unopened = {order_id: buffered for order_id, (declaration_id, _, buffered) in arrivals.items()
                    if declaration_id is None}
        read.no_documents([order_id for order_id, buffered in unopened.items() if not buffered])
        await read.match_documents([order_id for order_id, buffered in unopened.items() if buffered])
        # Assessed on opening: those whose documents came first; not a second order.accepted nor one a
        # cancellation overtook.
        await history(read, [(buyer_key(o.parcel), o.parcel.channel, filing.counts_annually(o.parcel.channel,
                                                                                           o.parcel.direction))
                             for o in orders if _assessed_on_filing(o, *arrivals[o.order_id])])

    async def before_documents(session: AsyncSession, scope: BatchScope, contexts: list[MessageContext]) -> None:
        read = ReadAhead(session, scope)
        declarations = await read.declarations(list(dict.fromkeys(event.order_id for event in _locked(contexts))))
        waiting = [d for d in declarations.values() if d.status == "pending_documents" and d.awaiting_documents]
        await read.match_documents([d.order_id for d in waiting])
        await history(read, [(d.buyer_key, d.channel, filing.counts_annually(d.channel, d.direction))
                             for d in waiting])

    return {OrderAccepted: before_orders, PaymentRecorded: before_documents, WaybillIssued: before_documents,
            WaybillRecorded: before_documents}


def _locked(contexts: list[MessageContext]) -> list:
    """The events about the parcel they are sent for: the kit's lock of that parcel covers their order's rows."""
    return [ctx.event for ctx in contexts if ctx.event.order_id == ctx.envelope.subject]


def _assessed_on_filing(order: OrderAccepted, declaration_id: str | None, cancellation_reason: str | None,
                        buffered_documents: int) -> bool:
    if declaration_id is not None or cancellation_reason is not None:
        return False
    return buffered_documents > 0


# With the default policy; create_app builds the configured ones. Kept for tools that list what customs consumes.
HANDLERS: dict[type[Event], Handler] = build_handlers(CustomsConfig())
