"""Event handlers of the postal service: orders' and customs' events in, waybill events out.

A parcel an external logistics company carries gets no number of ours: its waybill.recorded brings the company's,
which postal adopts (adoption.py).

A handler that raises is retried with backoff and dead-lettered after the last attempt. That is the fate of an
express order for a carrier with no numbering configured (reason `unknown_carrier`): postal cannot number or hand
off a parcel for a carrier it has no contract with; once the carrier is configured the message can be replayed.
"""

from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from services.postal import adoption, identifiers, repository, service
from services.postal.settings import PostalSettings
from shared.batch import BatchScope
from shared.consumer import Handler, MessageContext, Prefetcher
from shared.contract.events import (
    DeclarationRejected,
    DeclarationReleased,
    Event,
    OrderAccepted,
    OrderCancelled,
    WaybillRecorded,
)
from shared.db import utcnow
from shared.logging import safe_error

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
        if event.parcel.logistics_company is not None:
            # An external logistics company carries it: its own waybill brings the number (adoption.py).
            await adoption.on_order_accepted(ctx.session, settings, event, correlation_id=ctx.correlation_id,
                                             emit=_emit(ctx), now=utcnow())
            return
        try:
            await service.issue_waybill(ctx.session, settings, event, correlation_id=ctx.correlation_id,
                                        emit=_emit(ctx), now=utcnow())
        except Exception as exc:
            log.warning("waybill.issue_failed", order_id=event.order_id, channel=event.parcel.channel,
                        carrier=event.parcel.carrier, reason=getattr(exc, "reason", type(exc).__name__),
                        error=safe_error(exc))
            raise

    async def on_waybill_recorded(ctx: MessageContext) -> None:
        await adoption.on_waybill_recorded(ctx.session, settings, ctx.event, correlation_id=ctx.correlation_id,
                                           emit=_emit(ctx), now=utcnow())

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
        WaybillRecorded: on_waybill_recorded,
        DeclarationReleased: on_declaration_released,
        DeclarationRejected: on_declaration_rejected,
    }


def build_prefetchers(settings: PostalSettings) -> dict[type[Event], Prefetcher]:
    """Read-ahead for a consumer batch (shared.batch): one statement per event type instead of one per event."""

    async def before_accepts(session: AsyncSession, scope: BatchScope, contexts: list[MessageContext]) -> None:
        await repository.read_ahead_issues(session, scope, _parcels(contexts))
        # The numbers of the orders about to be issued, one UPDATE per sequence (identifiers.reserve_numbers).
        issuing = [ctx.event.parcel for ctx in contexts
                   if ctx.event.parcel.logistics_company is None and repository.will_issue(scope, ctx.event.order_id)]
        await identifiers.reserve_numbers(session, issuing, settings, today=utcnow().date())

    async def before_releases(session: AsyncSession, scope: BatchScope, contexts: list[MessageContext]) -> None:
        await repository.lock_issued_for_release(session, scope, _parcels(contexts))

    return {OrderAccepted: before_accepts, DeclarationReleased: before_releases}


def _parcels(contexts: list[MessageContext]) -> list[str]:
    # The kit proves a parcel's uniqueness in the batch by envelope subject: read ahead only where it is the order.
    return [ctx.event.order_id for ctx in contexts if ctx.envelope.subject == ctx.event.order_id]


# The handled event types with the default settings (for tooling that lists what postal consumes).
HANDLERS: dict[type[Event], Handler] = build_handlers(PostalSettings())
