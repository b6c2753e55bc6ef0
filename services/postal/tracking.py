"""Tracking events from carriers and posts: validated, mapped to the canonical status set, stored once, published.

The parcel's status is derived from all its stored events in time order (domain.tracking.current_status), so an
event that arrives late lands in its place instead of moving the parcel backwards. Unknown codes are stored with
known=false and logged, never dropped: a carrier adding a code must not lose us its events.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from services.postal import repository
from services.postal.domain import s10
from services.postal.domain import tracking as codes
from services.postal.domain.errors import InvalidS10
from services.postal.models import TrackingEvent, Waybill
from services.postal.service import Emit
from services.postal.settings import PostalSettings
from shared.contract.events import ParcelDelivered, ParcelTracking
from shared.errors import Forbidden, InvalidInput, NotFound, SilkgateError

log = structlog.get_logger()

# Shaped like an S10 id: such numbers are checked by the S10 rules (check digit, country) before anything else.
S10_SHAPE = re.compile(r"[A-Z]{2}[0-9]{9}[A-Z]{2}")


@dataclass(frozen=True, slots=True)
class TrackingEventInput:
    """One event as a carrier reports it (already schema-validated)."""

    tracking_number: str
    code: str
    occurred_at: datetime
    location: str = ""
    description: str = ""


@dataclass
class ItemResult:
    """What became of one reported event; `error` says why it was rejected."""

    index: int
    tracking_number: str | None
    result: Literal["accepted", "duplicate", "rejected"]
    code: str | None = None
    status: str | None = None
    known: bool | None = None
    error: SilkgateError | None = field(default=None)

    @classmethod
    def rejected(cls, index: int, tracking_number: str | None, error: SilkgateError) -> ItemResult:
        return cls(index, tracking_number, "rejected", error=error)

    def problem(self) -> dict[str, Any] | None:
        """The rejection as problem+json fields (status, code, title, detail, field)."""
        if self.error is None:
            return None
        problem = self.error.problem()
        problem.pop("type", None)
        return problem


ANY_CARRIER = "*"


def carrier_codes(owner: str) -> frozenset[str]:
    """The carrier codes a key acts for: its owner, or a comma-separated list of codes (the sandbox carrier).

    An owner of "*" acts for every carrier: meant for the embedded sandbox, which plays whichever carrier a
    manifest names. Production carrier keys name their codes.
    """
    return frozenset(code.strip().upper() for code in owner.split(",") if code.strip())


def acts_for(carriers: frozenset[str], carrier: str) -> bool:
    """True when a key acting for `carriers` may report on (and read) parcels handed to `carrier`."""
    return ANY_CARRIER in carriers or carrier.upper() in carriers


def normalize_number(raw: str) -> str:
    return "".join(raw.split()).upper()


async def record_events(session: AsyncSession, settings: PostalSettings, items: list[TrackingEventInput | None], *,
                        carriers: frozenset[str], poster: str, emit: Emit, now: datetime,
                        invalid: dict[int, SilkgateError] | None = None) -> list[ItemResult]:
    """Record a batch; `invalid` holds the items that failed schema validation (by index), reported as rejected."""
    results = []
    for index, item in enumerate(items):
        if item is None:
            error = (invalid or {}).get(index) or InvalidInput("invalid tracking event", code="invalid_input")
            results.append(ItemResult.rejected(index, None, error))
            continue
        number = normalize_number(item.tracking_number)
        try:
            results.append(await _record_one(session, settings, index, number, item, carriers=carriers,
                                             poster=poster, emit=emit, now=now))
        except SilkgateError as error:
            log.info("tracking.event_rejected", tracking_number=number, code=error.code, poster=poster)
            results.append(ItemResult.rejected(index, number, error))
    return results


async def _parcel_for(session: AsyncSession, number: str, carriers: frozenset[str]) -> Waybill:
    """The parcel handed to one of `carriers` under this number, locked; 404 or 403 otherwise."""
    if S10_SHAPE.fullmatch(number):
        try:
            s10.validate(number)
        except InvalidS10 as exc:
            raise InvalidInput(f"{number} is not a valid S10 identifier: {exc.detail}",
                               code="invalid_tracking_number", field="tracking_number") from None
    waybill = await repository.get_waybill(session, number, lock=True)
    if waybill is None or waybill.handed_off_at is None:
        # Not handed to anyone yet, or not ours at all: nothing this carrier can report on.
        raise NotFound(f"No parcel {number} has been handed off to you", code="parcel_not_found",
                       field="tracking_number")
    if not acts_for(carriers, waybill.carrier):
        raise Forbidden(f"Parcel {number} was handed to another carrier", code="parcel_of_another_carrier",
                        field="tracking_number")
    return waybill


async def _record_one(session: AsyncSession, settings: PostalSettings, index: int, number: str,
                      item: TrackingEventInput, *, carriers: frozenset[str], poster: str, emit: Emit,
                      now: datetime) -> ItemResult:
    if item.occurred_at > now + timedelta(seconds=settings.tracking_max_future_s):
        raise InvalidInput("occurred_at lies in the future", code="occurred_in_future", field="occurred_at")
    waybill = await _parcel_for(session, number, carriers)
    # Mail speaks EMSEVT whoever carries it; a carrier's own parcels use its code table (or the express default).
    mapped = codes.map_event("mail" if waybill.channel == "mail" else waybill.carrier, item.code)
    ids = {"tracking_number": number, "order_id": waybill.order_id, "correlation_id": waybill.correlation_id}
    stored = await repository.add_tracking_event(session, {
        "tracking_number": number, "code": mapped.code, "status": mapped.status, "known": mapped.known,
        "description": item.description or (mapped.description if mapped.known else ""),
        "location": item.location, "occurred_at": item.occurred_at, "received_at": now, "carrier": poster,
        "dedupe_key": codes.dedupe_key(number, mapped.code, item.occurred_at),
    })
    if not stored:
        log.info("tracking.duplicate_ignored", **ids, code=mapped.code)
        return ItemResult(index, number, "duplicate", mapped.code, mapped.status, mapped.known)
    if not mapped.known:
        log.warning("tracking.unknown_code", **ids, code=mapped.code, carrier=waybill.carrier, poster=poster)
    await emit(
        ParcelTracking(order_id=waybill.order_id, tracking_number=number, code=mapped.code, status=mapped.status,
                       description=(item.description or mapped.description)[:512], location=item.location,
                       occurred_at=item.occurred_at),
        subject=waybill.order_id, correlation_id=waybill.correlation_id,
    )
    log.info("tracking.event_recorded", **ids, code=mapped.code, status=mapped.status, known=mapped.known,
             occurred_at=item.occurred_at.isoformat())
    await _derive_status(session, waybill, emit=emit)
    return ItemResult(index, number, "accepted", mapped.code, mapped.status, mapped.known)


async def _derive_status(session: AsyncSession, waybill: Waybill, *, emit: Emit) -> None:
    """Recompute the parcel's status from its events in time order; publish parcel.delivered when it gets there."""
    events = await repository.tracking_events_of(session, waybill.tracking_number)
    status = codes.current_status(events)
    if status == waybill.tracking_status:
        return
    ids = {"tracking_number": waybill.tracking_number, "order_id": waybill.order_id,
           "correlation_id": waybill.correlation_id}
    log.info("parcel.status_changed", **ids, previous=waybill.tracking_status, status=status)
    waybill.tracking_status = status
    if status == "delivered" and waybill.delivered_at is None:
        delivery = _first(events, "delivered")
        waybill.status = "delivered"
        waybill.delivered_at = delivery.occurred_at
        await emit(ParcelDelivered(order_id=waybill.order_id, tracking_number=waybill.tracking_number,
                                   delivered_at=delivery.occurred_at, location=delivery.location),
                   subject=waybill.order_id, correlation_id=waybill.correlation_id)
        log.info("parcel.delivered", **ids, delivered_at=delivery.occurred_at.isoformat())
    elif status == "returned":
        waybill.status = "returned"


def _first(events: list[TrackingEvent], status: str) -> TrackingEvent:
    # Events come in time order; current_status keeps the first delivery (later ones do not move it).
    return next(event for event in events if event.status == status)
