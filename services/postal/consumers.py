"""Event handlers of the postal service: orders' and customs' events in, waybill events out.

A handler that raises is retried with backoff and dead-lettered after the last attempt. That is the fate of an
express order for a carrier with no numbering configured (reason `unknown_carrier`): postal cannot number or hand
off a parcel for a carrier it has no contract with; once the carrier is configured the message can be replayed.
"""

from __future__ import annotations

import structlog

from services.postal import service
from services.postal.settings import PostalSettings
from shared.consumer import Handler, MessageContext
from shared.contract.events import DeclarationRejected, DeclarationReleased, Event, OrderAccepted, OrderCancelled
from shared.db import utcnow

log = structlog.get_logger()


def _emit(ctx: MessageContext) -> service.Emit:
    # The handled envelope fills in correlation and causation; the parcel's correlation id is the same one.
    async def emit(event: Event, *, subject: str, correlation_id: str) -> None:
        await ctx.emit(event, subject=subject)

    return emit


def build_handlers(settings: PostalSettings) -> dict[type[Event], Handler]:
    """The handlers, bound to this process's settings."""

    async def on_order_accepted(ctx: MessageContext) -> None:
        event: OrderAccepted = ctx.event
        try:
            await service.issue_waybill(ctx.session, settings, event, correlation_id=ctx.correlation_id,
                                        emit=_emit(ctx), now=utcnow())
        except Exception as exc:
            log.warning("waybill.issue_failed", order_id=event.order_id, channel=event.parcel.channel,
                        carrier=event.parcel.carrier, reason=getattr(exc, "reason", type(exc).__name__),
                        error=str(exc))
            raise

    async def on_declaration_released(ctx: MessageContext) -> None:
        await service.release_parcel(ctx.session, settings, ctx.event, now=utcnow())

    async def on_order_cancelled(ctx: MessageContext) -> None:
        event: OrderCancelled = ctx.event
        reason = f"order cancelled: {event.reason}" if event.reason else "order cancelled"
        await service.void_waybill(ctx.session, order_id=event.order_id, reason=reason, emit=_emit(ctx),
                                   now=utcnow())

    async def on_declaration_rejected(ctx: MessageContext) -> None:
        event: DeclarationRejected = ctx.event
        reason = f"declaration rejected ({event.reason_code}): {event.reason}"
        await service.void_waybill(ctx.session, order_id=event.order_id, reason=reason, emit=_emit(ctx),
                                   now=utcnow())

    return {
        OrderAccepted: on_order_accepted,
        OrderCancelled: on_order_cancelled,
        DeclarationReleased: on_declaration_released,
        DeclarationRejected: on_declaration_rejected,
    }


# The handled event types with the default settings (for tooling that lists what postal consumes).
HANDLERS: dict[type[Event], Handler] = build_handlers(PostalSettings())
