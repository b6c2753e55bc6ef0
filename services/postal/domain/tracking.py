"""Tracking event codes (UPU EMSEVT for mail, carrier tables for express) mapped to the contract's TrackingStatus."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from shared.contract.events import TrackingStatus

TERMINAL_STATUSES: frozenset[str] = frozenset({"delivered", "returned"})

# UPU EMSEVT event codes (DOMAIN.md §4) → (status, description). "Returned from customs" (EXC, EDC) means customs
# handed the item back to the post, so it is moving again; EXX and EDX end the journey without delivery to the
# addressee, and "returned" is the nearest terminal status the contract has.
EMSEVT_CODES: Mapping[str, tuple[TrackingStatus, str]] = {
    "EMA": ("in_transit", "Posted"),
    "EMB": ("in_transit", "Arrived at outward office of exchange"),
    "EXA": ("in_transit", "Presented to export customs"),
    "EXB": ("held_by_customs", "Held by export customs"),
    "EXC": ("in_transit", "Returned from export customs"),
    "EXD": ("in_transit", "Held at outward office of exchange"),
    "EXX": ("returned", "Export cancelled"),
    "EMC": ("in_transit", "Left outward office of exchange"),
    "EMJ": ("in_transit", "Arrived at transit office of exchange"),
    "EMK": ("in_transit", "Left transit office of exchange"),
    "EMD": ("in_transit", "Arrived at inward office of exchange"),
    "EDA": ("in_transit", "Held at inward office of exchange"),
    "EDB": ("in_transit", "Presented to import customs"),
    "EME": ("held_by_customs", "Held by import customs"),
    "EDC": ("in_transit", "Returned from customs"),
    "EMF": ("in_transit", "Left inward office of exchange"),
    "EDD": ("in_transit", "Arrived at sorting centre"),
    "EDE": ("in_transit", "Left sorting centre"),
    "EMG": ("in_transit", "Arrived at delivery office"),
    "EDF": ("in_transit", "Held at delivery depot"),
    "EDG": ("out_for_delivery", "Out for delivery"),
    "EDH": ("out_for_delivery", "Available at pickup point"),
    "EMH": ("delivery_failed", "Delivery attempt failed"),
    "EMI": ("delivered", "Delivered"),
    "EDX": ("returned", "Import terminated"),
}

# Default express-carrier codes; a carrier with its own vocabulary gets its own table in CODE_TABLES.
EXPRESS_CODES: Mapping[str, tuple[TrackingStatus, str]] = {
    "IR": ("pre_transit", "Shipment information received"),
    "PU": ("in_transit", "Picked up"),
    "IT": ("in_transit", "In transit"),
    "CC": ("in_transit", "Customs clearance"),
    "CH": ("held_by_customs", "Held by customs"),
    "OD": ("out_for_delivery", "Out for delivery"),
    "DF": ("delivery_failed", "Delivery attempt failed"),
    "DL": ("delivered", "Delivered"),
    "RT": ("returned", "Returned to sender"),
}

MAIL = "mail"
DEFAULT_SOURCE = "*"
# Source ("mail" or a carrier code) → its code table; "*" serves carriers without a table of their own.
CODE_TABLES: Mapping[str, Mapping[str, tuple[TrackingStatus, str]]] = {
    MAIL: EMSEVT_CODES,
    DEFAULT_SOURCE: EXPRESS_CODES,
}


@dataclass(frozen=True, slots=True)
class MappedEvent:
    """A carrier or post event code read into the contract's vocabulary; unknown codes are kept, not dropped."""

    code: str
    status: TrackingStatus
    description: str
    known: bool


def map_event(
    source: str, code: str, *, tables: Mapping[str, Mapping[str, tuple[TrackingStatus, str]]] = CODE_TABLES
) -> MappedEvent:
    """Map a tracking code from `source` ("mail" for EMSEVT, else a carrier code) to a canonical status."""
    normalized = code.strip().upper()
    if not normalized:
        raise ValueError("a tracking event code must not be empty")
    table = tables.get(source) or tables.get(DEFAULT_SOURCE) or {}
    entry = table.get(normalized)
    if entry is None:
        return MappedEvent(normalized, "unknown", f"Unrecognised {source} event code {normalized}", known=False)
    status, description = entry
    return MappedEvent(normalized, status, description, known=True)


def is_terminal(status: str) -> bool:
    """True when no later event moves the parcel on (delivered, returned)."""
    return status in TERMINAL_STATUSES


class TimedStatus(Protocol):
    """Anything with a status and the time it happened: a MappedEvent pair, a row, a contract event."""

    @property
    def status(self) -> str: ...

    @property
    def occurred_at(self) -> datetime: ...


def _utc(moment: datetime) -> datetime:
    # Naive times are taken as UTC so naive and aware events sort together instead of raising.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def current_status(events: Iterable[TimedStatus]) -> str:
    """The parcel's status from its events in time order, whatever order they arrived in ("pre_transit" if none).

    Unknown codes do not move the status. Once delivered, only a later "returned" changes it; once returned,
    nothing does (a return delivered back to the sender is still a returned parcel). Equal times keep input order.
    """
    status = "pre_transit"
    for event in sorted(events, key=lambda e: _utc(e.occurred_at)):
        if event.status == "unknown":
            continue
        if status == "returned":
            break
        if status == "delivered" and event.status != "returned":
            continue
        status = event.status
    return status


def dedupe_key(tracking_number: str, code: str, occurred_at: datetime) -> str:
    """A stable key for one tracking event, so a carrier's resend or a redelivered message is stored once."""
    moment = _utc(occurred_at).isoformat(timespec="microseconds")
    return f"{tracking_number.strip().upper()}|{code.strip().upper()}|{moment}"
