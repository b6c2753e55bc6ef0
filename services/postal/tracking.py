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
from services.postal.service import Outgoing, emit_all
from services.postal.settings import PostalSettings
from shared.contract.events import ParcelDelivered, ParcelTracking
from shared.errors import InvalidInput, NotFound, SilkgateError
from shared.outbox import Outbox

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

    An owner of "*" acts for every carrier: only in the sandbox (PostalSettings.sandbox, set by `silkgate up`), whose
    carrier plays whichever carrier a manifest names; elsewhere such a key is refused (services/postal/api.py).
    """
    return frozenset(code.strip().upper() for code in owner.split(",") if code.strip())


def acts_for(carriers: frozenset[str], carrier: str) -> bool:
    """True when a key acting for `carriers` may report on (and read) parcels handed to `carrier`."""
    return ANY_CARRIER in carriers or carrier.upper() in carriers


def normalize_number(raw: str) -> str:
    return "".join(raw.split()).upper()


async def record_events(session: AsyncSession, settings: PostalSettings, items: list[TrackingEventInput | None], *,
                        carriers: frozenset[str], poster: str, outbox: Outbox, now: datetime,
                        invalid: dict[int, SilkgateError] | None = None) -> list[ItemResult]:
    """Record a batch; `invalid` holds the items that failed schema validation (by index), reported as rejected.

    The batch is read and written a few statements at a time, not per event: its parcels locked in one query, their
    stored events in another, new events in one INSERT, status changes in one UPDATE and the events published in
    one outbox INSERT. Each event is still answered, stored, published and applied in the batch's order.
    """
    numbers = [normalize_number(item.tracking_number) if item is not None else None for item in items]
    parcels = await repository.lock_tracked_parcels(session, [n for n in numbers if n is not None and _s10_ok(n)])
    results, new = _screen(settings, items, numbers, parcels, carriers=carriers, poster=poster, now=now,
                           invalid=invalid or {})
    histories = await repository.tracking_histories(session, [event.number for event in new])
    stored = await repository.add_tracking_events(session, [event.row for event in new])
    states = {number: _ParcelState.of(parcels[number], histories[number]) for number in histories}
    outgoing = _apply(new, stored, states, results)
    await repository.set_tracking_statuses(session, [state.change() for state in states.values() if state.changed])
    await emit_all(session, outbox, outgoing)
    return [result for result in results if result is not None]


def _screen(settings: PostalSettings, items: list[TrackingEventInput | None], numbers: list[str | None],
            parcels: dict[str, Any], *, carriers: frozenset[str], poster: str, now: datetime,
            invalid: dict[int, SilkgateError]) -> tuple[list[ItemResult | None], list[_NewEvent]]:
    """Answer the events refused or repeated within the batch; the others, to be stored, are answered None."""
    results: list[ItemResult | None] = []
    new: list[_NewEvent] = []
    keys: set[str] = set()
    for index, (item, number) in enumerate(zip(items, numbers, strict=True)):
        if item is None or number is None:
            error = invalid.get(index) or InvalidInput("invalid tracking event", code="invalid_input")
            results.append(ItemResult.rejected(index, None, error))
            continue
        try:
            waybill = _check(settings, number, item, parcels, carriers=carriers, now=now)
        except SilkgateError as error:
            log.info("tracking.event_rejected", tracking_number=number, code=error.code, poster=poster)
            results.append(ItemResult.rejected(index, number, error))
            continue
        event = _NewEvent.of(index, number, item, waybill, poster=poster, now=now)
        if event.row["dedupe_key"] in keys:  # the same event twice in one batch: the second is a duplicate
            results.append(_duplicate(event))
            continue
        keys.add(event.row["dedupe_key"])
        new.append(event)
        results.append(None)
    return results, new


def _apply(new: list[_NewEvent], stored: set[str], states: dict[str, _ParcelState],
           results: list[ItemResult | None]) -> list[Outgoing]:
    """Answer the events sent to be stored and apply the stored ones to their parcels, in order; returns what to
    publish (parcel.tracking per event, parcel.delivered when a parcel gets there)."""
    outgoing: list[Outgoing] = []
    for event in new:
        if event.row["dedupe_key"] not in stored:
            results[event.index] = _duplicate(event)
            continue
        outgoing.append(_tracking_event(event))
        results[event.index] = _recorded(event)
        delivered = states[event.number].apply(event)
        if delivered is not None:
            outgoing.append(delivered)
    return outgoing


def _s10_ok(number: str) -> bool:
    return not S10_SHAPE.fullmatch(number) or s10.is_valid(number)


def _check(settings: PostalSettings, number: str, item: TrackingEventInput, parcels: dict[str, Any], *,
           carriers: frozenset[str], now: datetime) -> Any:
    """The parcel an event reports on, handed to one of `carriers`; or why the event is refused."""
    if item.occurred_at > now + timedelta(seconds=settings.tracking_max_future_s):
        raise InvalidInput("occurred_at lies in the future", code="occurred_in_future", field="occurred_at")
    if item.occurred_at < settings.tracking_earliest:
        raise InvalidInput(f"occurred_at lies before {settings.tracking_earliest:%Y-%m-%d}: no carrier scanned it then",
                           code="occurred_too_early", field="occurred_at")
    if S10_SHAPE.fullmatch(number):
        try:
            s10.validate(number)
        except InvalidS10 as exc:
            raise InvalidInput(f"{number} is not a valid S10 identifier: {exc.detail}",
                               code="invalid_tracking_number", field="tracking_number") from None
    waybill = parcels.get(number)
    if waybill is None or waybill.handed_off_at is None or not acts_for(carriers, waybill.carrier):
        # Not handed to anyone yet, not ours at all, or handed to another carrier: one answer for all three, so a
        # carrier cannot learn which tracking numbers exist by trying them.
        raise NotFound(f"No parcel {number} has been handed off to you", code="parcel_not_found",
                       field="tracking_number")
    return waybill


@dataclass(frozen=True, slots=True)
class _NewEvent:
    """An accepted-looking event: its row for tracking_events and what publishing it needs."""

    index: int
    number: str
    mapped: codes.MappedEvent
    item: TrackingEventInput
    waybill: Any
    row: dict[str, Any]

    @classmethod
    def of(cls, index: int, number: str, item: TrackingEventInput, waybill: Any, *, poster: str,
           now: datetime) -> _NewEvent:
        # Mail speaks EMSEVT whoever carries it; a carrier's own parcels use its code table (or the express default).
        mapped = codes.map_event("mail" if waybill.channel == "mail" else waybill.carrier, item.code)
        row = {
            "tracking_number": number, "code": mapped.code, "status": mapped.status, "known": mapped.known,
            "description": item.description or (mapped.description if mapped.known else ""),
            "location": item.location, "occurred_at": item.occurred_at, "received_at": now, "carrier": poster,
            "dedupe_key": codes.dedupe_key(number, mapped.code, item.occurred_at),
        }
        return cls(index, number, mapped, item, waybill, row)

    @property
    def ids(self) -> dict[str, str]:
        return {"tracking_number": self.number, "order_id": self.waybill.order_id,
                "correlation_id": self.waybill.correlation_id}


def _duplicate(event: _NewEvent) -> ItemResult:
    log.info("tracking.duplicate_ignored", **event.ids, code=event.mapped.code)
    return ItemResult(event.index, event.number, "duplicate", event.mapped.code, event.mapped.status,
                      event.mapped.known)


def _recorded(event: _NewEvent) -> ItemResult:
    mapped = event.mapped
    if not mapped.known:
        log.warning("tracking.unknown_code", **event.ids, code=mapped.code, carrier=event.waybill.carrier,
                    poster=event.row["carrier"])
    log.info("tracking.event_recorded", **event.ids, code=mapped.code, status=mapped.status, known=mapped.known,
             occurred_at=event.item.occurred_at.isoformat())
    return ItemResult(event.index, event.number, "accepted", mapped.code, mapped.status, mapped.known)


def _tracking_event(event: _NewEvent) -> Outgoing:
    item, mapped, waybill = event.item, event.mapped, event.waybill
    return Outgoing(
        ParcelTracking(order_id=waybill.order_id, tracking_number=event.number, code=mapped.code, status=mapped.status,
                       description=(item.description or mapped.description)[:512], location=item.location,
                       occurred_at=item.occurred_at),
        subject=waybill.order_id, correlation_id=waybill.correlation_id,
    )


@dataclass(frozen=True, slots=True)
class _Scan:
    """A stored or new event as the status derivation sees it."""

    status: str
    occurred_at: datetime
    location: str


@dataclass
class _ParcelState:
    """One parcel's status as its events are applied one by one, as if each had been recorded on its own."""

    waybill: Any
    scans: list[_Scan]
    status: str
    tracking_status: str
    delivered_at: datetime | None
    changed: bool = False

    @classmethod
    def of(cls, waybill: Any, history: list[Any]) -> _ParcelState:
        scans = [_Scan(row.status, row.occurred_at, row.location) for row in history]
        return cls(waybill, scans, waybill.status, waybill.tracking_status, waybill.delivered_at)

    def apply(self, event: _NewEvent) -> Outgoing | None:
        """Derive the status anew from all events in time order (a late event lands in its place); returns
        parcel.delivered when the parcel gets there."""
        self.scans.append(_Scan(event.mapped.status, event.item.occurred_at, event.item.location))
        status = codes.current_status(self.scans)
        if status == self.tracking_status:
            return None
        ids = event.ids
        log.info("parcel.status_changed", **ids, previous=self.tracking_status, status=status)
        self.tracking_status, self.changed = status, True
        if status == "delivered" and self.delivered_at is None:
            delivery = _first(self.scans, "delivered")
            self.status, self.delivered_at = "delivered", delivery.occurred_at
            log.info("parcel.delivered", **ids, delivered_at=delivery.occurred_at.isoformat())
            return Outgoing(ParcelDelivered(order_id=self.waybill.order_id, tracking_number=event.number,
                                            delivered_at=delivery.occurred_at, location=delivery.location),
                            subject=self.waybill.order_id, correlation_id=self.waybill.correlation_id)
        if status == "returned":
            self.status = "returned"
        return None

    def change(self) -> dict[str, Any]:
        return {"tracking_number": self.waybill.tracking_number, "tracking_status": self.tracking_status,
                "status": self.status, "delivered_at": self.delivered_at}


def _first(scans: list[_Scan], status: str) -> _Scan:
    # The first in time order; current_status keeps the first delivery (later ones do not move it).
    return next(scan for scan in sorted(scans, key=lambda scan: scan.occurred_at) if scan.status == status)
