"""The merchant-facing order status and the events that move it (DESIGN.md "Statuses").

accepted → awaiting_clearance → [on_hold] → released → handed_off → in_transit → delivered, and the ends
rejected, cancelled and returned; a return the merchant requests shows as return_requested until customs
approves it (returned). Events about one parcel arrive late, twice or out of order (DESIGN.md
"Delivery guarantees"), so a status only ever moves forward along the journey; an event that would move it
back is history for the timeline, not a transition.

What each event does (anything not listed leaves the status alone):
- order.accepted         creates the order as `accepted`; never changes an existing one.
- order.cancelled        → cancelled, while `can_cancel` (before handoff).
- payment.recorded       no change (timeline only).
- waybill.recorded       no change (timeline only: an external logistics company's waybill; postal adopts its
                         number and announces it with waybill.issued).
- waybill.issued         no change; the caller records the tracking number.
- declaration.filed      → awaiting_clearance.
- declaration.held       → on_hold (manual review, inspection, detention; DOMAIN.md §5 codes 300/500/5xx).
- declaration.released   → released (CEB 800).
- declaration.rejected   → rejected, only before release (customs cannot reject what it has released).
- declaration.cancelled  → cancelled, while `can_cancel`.
- declaration.cancellation_refused  no change: the order stays cancelled, customs keeps its release on record.
- waybill.voided         no change: postal voids a waybill only to compensate an order.cancelled or a
                         declaration.rejected, and those set the status themselves. Arriving before the rejection
                         (another stream), a void that cancelled the order would leave a rejected parcel cancelled.
- parcel.handed_off      → handed_off.
- parcel.tracking        by its canonical status: in_transit, held_by_customs, out_for_delivery and
                         delivery_failed → in_transit; delivered → delivered; returned → returned;
                         pre_transit and unknown: no change.
- parcel.delivered       → delivered.
- order.return_requested → return_requested (the merchant asked for a return: after handoff, see returns.py).
- declaration.returned   → returned (customs approved the return, CEB625 → 700).
- event.dead_lettered    no change: customs or postal (or orders' own consumer) gave up on an event about the
                         order; the stall shows as the reason and on the timeline (progress.stall_reason) until
                         the order moves on. A status `exception` would have to be left again by whatever comes
                         next, and every rule here would need to know it; the order has not moved, so it keeps its
                         status.

Terminal statuses (rejected, cancelled, delivered, returned) stay, with one decided exception: `return_requested`
and `returned` may follow `delivered`. A carrier reporting a return after a delivery scan (refused at the door, or
a return to sender completed) is the later physical fact, and the merchant must act on it (refund, CEB625 return);
a late `delivered` never moves a returned order back. Physical events after a cancellation (a handoff that
won the race with the cancel) leave the order cancelled; the timeline still shows them.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, get_args

from services.orders.domain.progress import stall_reason
from shared.contract.events import (
    CustomsEventDeadLettered,
    DeclarationCancellationRefused,
    DeclarationCancelled,
    DeclarationFiled,
    DeclarationHeld,
    DeclarationRejected,
    DeclarationReleased,
    DeclarationReturned,
    OrderAccepted,
    OrderCancelled,
    OrderReturnRequested,
    ParcelDelivered,
    ParcelHandedOff,
    ParcelTracking,
    PaymentRecorded,
    PostalEventDeadLettered,
    WaybillIssued,
    WaybillRecorded,
    WaybillVoided,
)

OrderStatus = Literal[
    "accepted",
    "awaiting_clearance",
    "on_hold",
    "released",
    "handed_off",
    "in_transit",
    "delivered",
    "return_requested",
    "rejected",
    "cancelled",
    "returned",
]
INITIAL_STATUS = "accepted"
# The journey in order; its rank is how far an order has got. The return ranks last: it may follow delivered.
JOURNEY = ("accepted", "awaiting_clearance", "on_hold", "released", "handed_off", "in_transit", "delivered",
           "return_requested", "returned")
RANK = {status: rank for rank, status in enumerate(JOURNEY)}
STATUSES: frozenset[str] = frozenset(get_args(OrderStatus))
TERMINAL_STATUSES = frozenset({"delivered", "rejected", "cancelled", "returned"})
# Orders still on their way to the buyer: the ones that can get stuck (a requested return is paperwork after it).
IN_FLIGHT_STATUSES = tuple(status for status in JOURNEY[: JOURNEY.index("delivered")])
# What may follow a delivery: the merchant's return, and the return itself (customs' approval or the carrier's).
AFTER_DELIVERY = frozenset({"return_requested", "returned"})
# Cancellation is possible until the parcel is in a carrier's hands.
CANCELLABLE_STATUSES = frozenset({"accepted", "awaiting_clearance", "on_hold", "released"})
REJECTABLE_STATUSES = frozenset({"accepted", "awaiting_clearance", "on_hold"})
# With customs, back and forth: held for a broker, filed with the authority, held by the authority's review …
CLEARANCE_STATUSES = frozenset({"awaiting_clearance", "on_hold"})

# The status each event moves an order towards; None leaves it alone. parcel.tracking is in TRACKING_TARGETS.
EVENT_TARGETS: dict[str, str | None] = {
    OrderAccepted.event_type(): None,
    OrderCancelled.event_type(): "cancelled",
    PaymentRecorded.event_type(): None,
    WaybillRecorded.event_type(): None,
    WaybillIssued.event_type(): None,
    DeclarationFiled.event_type(): "awaiting_clearance",
    DeclarationHeld.event_type(): "on_hold",
    DeclarationReleased.event_type(): "released",
    DeclarationRejected.event_type(): "rejected",
    DeclarationCancelled.event_type(): "cancelled",
    DeclarationCancellationRefused.event_type(): None,
    WaybillVoided.event_type(): None,
    ParcelHandedOff.event_type(): "handed_off",
    ParcelDelivered.event_type(): "delivered",
    OrderReturnRequested.event_type(): "return_requested",
    DeclarationReturned.event_type(): "returned",
    CustomsEventDeadLettered.event_type(): None,
    PostalEventDeadLettered.event_type(): None,
}
TRACKING_TARGETS: dict[str, str | None] = {
    "pre_transit": None,
    "in_transit": "in_transit",
    "held_by_customs": "in_transit",  # destination customs: still travelling, as far as the merchant is concerned
    "out_for_delivery": "in_transit",
    "delivery_failed": "in_transit",
    "delivered": "delivered",
    "returned": "returned",
    "unknown": None,
}


def is_terminal(status: str) -> bool:
    """True when the order's journey is over (only delivered → return_requested → returned can still happen)."""
    return _known(status) in TERMINAL_STATUSES


def can_cancel(status: str) -> bool:
    """True while the order can be cancelled: until the parcel is handed off to a carrier."""
    return _known(status) in CANCELLABLE_STATUSES


_TRACKING = ParcelTracking.event_type()


def target_status(event_type: str, *, tracking_status: str | None = None) -> str | None:
    """The status an event moves an order towards, or None when it moves nothing (or is unknown)."""
    if event_type == _TRACKING:
        return TRACKING_TARGETS.get(tracking_status or "unknown")
    return EVENT_TARGETS.get(event_type)


def apply_event(current_status: str, event_type: str, *, tracking_status: str | None = None) -> str:
    """The order's status after an event; never earlier in the journey than `current_status`."""
    current = _known(current_status)
    target = target_status(event_type, tracking_status=tracking_status)
    if target is None or target == current:
        return current
    if target == "cancelled":
        return target if current in CANCELLABLE_STATUSES else current
    if target == "rejected":
        return target if current in REJECTABLE_STATUSES else current
    if current in TERMINAL_STATUSES and not (current == "delivered" and target in AFTER_DELIVERY):
        return current
    if {current, target} <= CLEARANCE_STATUSES:
        return target  # with customs: a hold is answered and the declaration filed again, or the reverse
    return target if RANK[target] > RANK[current] else current


def _known(status: str) -> str:
    """The status itself, or ValueError for a status this machine does not know."""
    if status not in STATUSES:
        raise ValueError(f"unknown order status {status!r}")
    return status


# ── timeline ──────────────────────────────────────────────────────────────────

FORM_LABELS = {
    "CN22": "CN22",
    "CN23": "CN23",
    "express_A": "express category A",
    "express_B": "express category B",
    "express_C": "express category C",
    "express_D": "express category D",
    "inventory_list": "e-commerce inventory list",
}
TRACKING_LABELS = {
    "pre_transit": "Carrier has the shipment details",
    "in_transit": "In transit",
    "held_by_customs": "Held by customs",
    "out_for_delivery": "Out for delivery",
    "delivery_failed": "Delivery attempt failed",
    "delivered": "Delivered",
    "returned": "Returned to sender",
    "unknown": "Tracking update",
}


def timeline_title(event_type: str, data: Mapping[str, Any]) -> str:
    """A merchant-readable line for the order timeline, from an event's type and payload (dumped or parsed JSON)."""
    title = _TITLES.get(event_type)
    if title is None and event_type.endswith(".event.dead_lettered.v1"):  # customs', postal's or orders' own
        return stall_reason(service=event_type.split(".")[1], original_type=_text(data, "original_type"),
                            reason=_text(data, "reason"))
    return title(data) if title is not None else f"Event {event_type}"


def _text(data: Mapping[str, Any], key: str) -> str:
    """The payload's value for key as text, "" when absent or empty."""
    value = data.get(key)
    return "" if value is None else str(value)


def _suffix(text: str, separator: str = ": ") -> str:
    """separator + text when there is text, else nothing."""
    return f"{separator}{text}" if text else ""


def _amount(value: Any) -> Decimal:
    """A payload amount as Decimal; 0 when absent or not a number."""
    try:
        return Decimal(str(value)) if value is not None else Decimal(0)
    except InvalidOperation:
        return Decimal(0)


def _accepted(data: Mapping[str, Any]) -> str:
    parcel = data.get("parcel") or {}
    return f"Order {parcel['merchant_order_no']} accepted" if parcel.get("merchant_order_no") else "Order accepted"


def _payment(data: Mapping[str, Any]) -> str:
    payment = data.get("payment") or {}
    money = " ".join(part for part in (_text(payment, "amount"), _text(payment, "currency")) if part)
    return "Payment" + _suffix(money, " of ") + " recorded" + _suffix(_text(payment, "provider"), " via ")


def _filed(data: Mapping[str, Any]) -> str:
    form = FORM_LABELS.get(_text(data, "form"), _text(data, "form"))
    mode = _suffix(_text(data, "trade_mode"), ", trade mode ")
    return f"Customs declaration filed ({form}{mode})" if form else "Customs declaration filed"


def _released(data: Mapping[str, Any]) -> str:
    tax = _amount(data.get("tax_cny"))
    return "Released by customs" + (f", tax {tax:.2f} CNY" if tax > 0 else "")


def _tracking(data: Mapping[str, Any]) -> str:
    label = TRACKING_LABELS.get(_text(data, "status"), TRACKING_LABELS["unknown"])
    location = _text(data, "location")
    return label + _suffix(_text(data, "description")) + (f" ({location})" if location else "")


_TITLES = {
    OrderAccepted.event_type(): _accepted,
    OrderCancelled.event_type(): lambda d: "Order cancelled" + _suffix(_text(d, "reason")),
    PaymentRecorded.event_type(): _payment,
    DeclarationFiled.event_type(): _filed,
    DeclarationHeld.event_type(): lambda d: "Held by customs" + _suffix(_text(d, "reason")),
    DeclarationReleased.event_type(): _released,
    DeclarationRejected.event_type(): lambda d: "Rejected by customs" + _suffix(_text(d, "reason")),
    DeclarationCancelled.event_type(): lambda d: "Customs declaration cancelled" + _suffix(_text(d, "reason")),
    DeclarationCancellationRefused.event_type(): (
        lambda d: "Customs kept the release and refused to cancel the declaration" + _suffix(_text(d, "reason"))
    ),
    WaybillIssued.event_type(): lambda d: f"Tracking number {_text(d, 'tracking_number')} issued",
    WaybillRecorded.event_type(): (
        lambda d: f"Waybill {_text(d, 'logistics_no')} recorded" + _suffix(_text(d, "logistics_name"), " by ")
    ),
    OrderReturnRequested.event_type(): lambda d: "Return requested" + _suffix(_text(d, "reason")),
    DeclarationReturned.event_type(): lambda d: "Return approved by customs" + _suffix(_text(d, "reason")),
    WaybillVoided.event_type(): (
        lambda d: f"Tracking number {_text(d, 'tracking_number')} voided" + _suffix(_text(d, "reason"))
    ),
    ParcelHandedOff.event_type(): lambda d: "Handed off to the carrier" + _suffix(_text(d, "carrier"), " "),
    ParcelTracking.event_type(): _tracking,
    ParcelDelivered.event_type(): lambda d: "Delivered" + _suffix(_text(d, "location"), " at "),
}
