"""Parcels an external logistics company carries (`Parcel.logistics_company`): postal adopts the company's number.

For such a parcel postal issues no number of its own. The company posts its waybill to orders (CEB511), which
publishes `waybill.recorded`; postal takes its logistics number as the parcel's tracking number and publishes its
usual `waybill.issued` (carrier = the company's code, consignee = the company's waybill), so orders and the rest of
the pipeline see one number; the parcel is then consolidated and handed off like any other (to the company's
manifest endpoint, `SILKGATE_POSTAL_CARRIER_ENDPOINTS`, or the default one).

The two events may arrive in either order (DESIGN.md "Delivery guarantees"): whichever comes first is kept
(pending_events, kinds `order_accepted` and `waybill_recorded`) and the second completes the adoption. A release
or a void that came before the waybill is kept as for any parcel and applied once it exists. Both events are about
the same parcel (envelope subject = order id), so the consumer's per-parcel lock serialises them across batches and
replicas. Nothing here commits.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from services.postal import repository
from services.postal.domain.errors import PostalRuleError
from services.postal.identifiers import Identifier
from services.postal.service import Emit, already_issued, issued, waybill_values
from services.postal.settings import PostalSettings
from shared.contract.events import OrderAccepted, WaybillRecorded

log = structlog.get_logger()

ORDER_KEPT = "order_accepted"
WAYBILL_KEPT = "waybill_recorded"


class LogisticsNumberTaken(PostalRuleError):
    """The company's logistics number is already another parcel's tracking number: it cannot be adopted."""


async def on_order_accepted(session: AsyncSession, settings: PostalSettings, event: OrderAccepted, *,
                            correlation_id: str, emit: Emit, now: datetime) -> str | None:
    """The order of a parcel a company carries: adopt its waybill if it came first, else wait for it.
    Returns the tracking number, or None while the company's waybill has not come."""
    repository.issue_state(session, event.order_id)  # read ahead for postal's own numbering: not needed here
    existing = await repository.get_waybill_by_order(session, event.order_id)
    if existing is not None:
        return already_issued(existing)  # a redelivery
    kept = await repository.take_pending_kind(session, event.order_id, WAYBILL_KEPT)
    if kept is None:
        added = await repository.add_pending(session, order_id=event.order_id, kind=ORDER_KEPT,
                                             payload=event.model_dump(mode="json"))
        log.info("waybill.awaiting_external", order_id=event.order_id,
                 logistics_company=event.parcel.logistics_company, duplicate=not added)
        return None
    return await _adopt(session, settings, event, WaybillRecorded.model_validate(kept),
                        correlation_id=correlation_id, emit=emit, now=now)


async def on_waybill_recorded(session: AsyncSession, settings: PostalSettings, event: WaybillRecorded, *,
                              correlation_id: str, emit: Emit, now: datetime) -> str | None:
    """The company's waybill: adopt it if its order came first, else keep it for the order."""
    existing = await repository.get_waybill_by_order(session, event.order_id)
    if existing is not None:
        if existing.tracking_number != event.logistics_no:
            # Orders records one waybill per order, so this is not a second company's number but a bug to see.
            log.error("waybill.external_conflict", order_id=event.order_id, tracking_number=existing.tracking_number,
                      logistics_no=event.logistics_no)
        return already_issued(existing)
    kept = await repository.take_pending_kind(session, event.order_id, ORDER_KEPT)
    if kept is None:
        added = await repository.add_pending(session, order_id=event.order_id, kind=WAYBILL_KEPT,
                                             payload=event.model_dump(mode="json"))
        log.info("waybill.external_buffered", order_id=event.order_id, logistics_no=event.logistics_no,
                 duplicate=not added)
        return None
    return await _adopt(session, settings, OrderAccepted.model_validate(kept), event,
                        correlation_id=correlation_id, emit=emit, now=now)


async def _adopt(session: AsyncSession, settings: PostalSettings, order: OrderAccepted, waybill: WaybillRecorded, *,
                 correlation_id: str, emit: Emit, now: datetime) -> str:
    """The parcel's waybill under the company's number, announced as waybill.issued; kept events applied."""
    taken = await repository.get_waybill(session, waybill.logistics_no)
    if taken is not None:
        log.error("waybill.external_number_taken", order_id=order.order_id, logistics_no=waybill.logistics_no,
                  taken_by=taken.order_id)
        raise LogisticsNumberTaken("logistics_no_taken",
                                   f"{waybill.logistics_no} is the tracking number of order {taken.order_id}")
    identifier = Identifier(tracking_number=waybill.logistics_no, carrier=waybill.logistics_code,
                            sequence=f"external:{waybill.logistics_code}", serial=0)
    values = waybill_values(settings, order, identifier, correlation_id=correlation_id, now=now)
    if waybill.gross_weight_kg is not None:
        values["weight_kg"] = Decimal(waybill.gross_weight_kg)  # the carrier weighed it
    kept = await repository.insert_waybill(session, values)
    if kept is None:  # a replica adopted it meanwhile
        existing = await repository.get_waybill_by_order(session, order.order_id)
        assert existing is not None
        return already_issued(existing)
    log.info("waybill.adopted", order_id=order.order_id, tracking_number=waybill.logistics_no,
             carrier=waybill.logistics_code)
    await issued(session, settings, order, identifier, kept=kept, correlation_id=correlation_id, emit=emit, now=now,
                 consignee=waybill.consignee)
    return waybill.logistics_no
