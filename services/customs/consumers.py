"""Event handlers of the customs service: order.accepted, order.cancelled, payment.recorded, waybill.issued.

Handlers run inside the consumer's batch transaction, after the kit has locked the batch's parcels (PostgreSQL), so
an order.accepted and a document of the same order in two transactions never miss each other. Raising retries the
message with backoff, so a declaration changed concurrently by a broker or the deadline worker is simply handled
again.
"""

from __future__ import annotations

import structlog

from services.customs import filing
from services.customs.repository import DeclarationRepository
from services.customs.service import CustomsConfig, context_emitter
from shared.consumer import Handler, MessageContext
from shared.contract.events import Event, OrderAccepted, OrderCancelled, PaymentRecorded, WaybillIssued

log = structlog.get_logger()


def build_handlers(config: CustomsConfig) -> dict[type[Event], Handler]:
    """The handlers of a running service, bound to its policy and clock."""

    async def on_order_accepted(ctx: MessageContext) -> None:
        event: OrderAccepted = ctx.event
        await filing.file_declaration(DeclarationRepository(ctx.session), config, event,
                                      correlation_id=ctx.correlation_id, event_id=ctx.envelope.id,
                                      emit=context_emitter(ctx))

    async def on_order_cancelled(ctx: MessageContext) -> None:
        await filing.cancel_order(DeclarationRepository(ctx.session), config, ctx.event, emit=context_emitter(ctx))

    async def on_payment_recorded(ctx: MessageContext) -> None:
        await filing.receive_payment(DeclarationRepository(ctx.session), config, ctx.event,
                                     event_id=ctx.envelope.id, emit=context_emitter(ctx))

    async def on_waybill_issued(ctx: MessageContext) -> None:
        await filing.receive_waybill(DeclarationRepository(ctx.session), config, ctx.event,
                                     event_id=ctx.envelope.id, emit=context_emitter(ctx))

    return {
        OrderAccepted: on_order_accepted,
        OrderCancelled: on_order_cancelled,
        PaymentRecorded: on_payment_recorded,
        WaybillIssued: on_waybill_issued,
    }


# With the default policy; create_app builds the configured ones. Kept for tools that list what customs consumes.
HANDLERS: dict[type[Event], Handler] = build_handlers(CustomsConfig())
