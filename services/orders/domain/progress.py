"""What an order shows besides its status: the customs status (with its CEB code) and the reason for the status.

Declaration events arrive late, twice or out of order like every other event, so the customs status only moves
forward along the declaration's life (DOMAIN.md §5 receipt codes):

    held / filed / accepted (120) / manual_review (300) / inspection (500) / detained (5xx) / review_concluded (399)
    / authority_rejected (100, to be filed again) → released (800) or rejected → cancelled → closed (899) → returned

Before release the latest arrival wins (a hold is answered and the declaration filed again, a review turns into an
inspection); released and rejected never replace each other; a late `declaration.filed` never hides a release.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from shared.contract.events import (
    DeclarationCancellationRefused,
    DeclarationCancelled,
    DeclarationHeld,
    DeclarationRejected,
    DeclarationReturned,
    OrderCancelled,
    OrderReturnRequested,
    WaybillVoided,
)

CUSTOMS_RANK = {
    # Before and with the authority, the latest arrival wins: held, filed, reviewed, filed again …
    "pending_documents": 1,
    "documents_missing": 1,
    "held": 1,
    "filed": 1,
    "accepted": 1,
    "manual_review": 1,
    "inspection": 1,
    "detained": 1,
    "review_concluded": 1,
    "authority_rejected": 1,
    "cancel_requested": 1,
    "released": 2,
    "rejected": 2,
    "cancelled": 3,
    "closed": 4,
    "return_requested": 5,
    "returned": 6,
}
HELD_RANK = 1
# Statuses that are explained by a reason; any other status clears it.
EXPLAINED_STATUSES = frozenset({"on_hold", "rejected", "cancelled", "return_requested", "returned"})
# Events whose reason explains the status they move the order to.
_EXPLAINING_EVENTS = {OrderReturnRequested.event_type(): "return_requested",
                      DeclarationReturned.event_type(): "returned"}
_CANCELLING_EVENTS = frozenset(
    {OrderCancelled.event_type(), WaybillVoided.event_type(), DeclarationCancelled.event_type()}
)

# (named once: every recorded event compares its type with them)
_HELD = DeclarationHeld.event_type()
_REJECTED = DeclarationRejected.event_type()
_CANCELLATION_REFUSED = DeclarationCancellationRefused.event_type()


@dataclass
class OrderProgress:
    """What events change on an order, with what a status change announces (ids, number, channel).

    The consumers read this instead of the whole order: the parcel and payment documents are not needed to record
    an event, and loading them would cost more than everything else an event does.
    """

    id: str
    merchant_code: str
    merchant_order_no: str
    channel: str
    correlation_id: str
    status: str
    tracking_number: str | None
    customs_status: str | None
    customs_ceb_code: int | None
    status_reason: str | None
    updated_at: datetime
    status_changed_at: datetime


def customs_status_after(current: str | None, incoming: str) -> str:
    """The order's customs status once a declaration event with status `incoming` has arrived."""
    if current is None or current not in CUSTOMS_RANK:
        return incoming
    if incoming not in CUSTOMS_RANK:
        return current
    new_rank, old_rank = CUSTOMS_RANK[incoming], CUSTOMS_RANK[current]
    if new_rank > old_rank or new_rank == old_rank == HELD_RANK:
        return incoming
    return current


def status_reason_after(
    event_type: str,
    *,
    old_status: str,
    new_status: str,
    reason: str | None,
    customs_moved: bool,
    current_reason: str | None,
) -> str | None:
    """The reason shown with the order's status after an event (None: no reason to show).

    - a hold or a rejection that took effect shows customs' reason;
    - a cancellation refused by customs (the order was cancelled after release) shows customs' reason, so the
      merchant sees why customs keeps the release on record while the order stays cancelled;
    - a cancellation (the merchant's, a voided waybill, a cancelled declaration) that took effect shows its reason;
    - a requested return shows the merchant's reason, an approved one customs' (if it gave one);
    - any other status change clears the reason; events that change nothing leave it as it was.
    """
    reason = reason or None
    changed = new_status != old_status
    if event_type == _HELD:
        return reason if new_status == "on_hold" and (changed or customs_moved) else current_reason
    if event_type == _REJECTED:
        return reason if changed and new_status == "rejected" else current_reason
    if event_type == _CANCELLATION_REFUSED:
        return reason if new_status == "cancelled" else current_reason
    if event_type in _CANCELLING_EVENTS and changed and new_status == "cancelled":
        return reason
    if changed and _EXPLAINING_EVENTS.get(event_type) == new_status:
        return reason
    if changed and new_status not in EXPLAINED_STATUSES:
        return None
    return current_reason


# ── stalls ────────────────────────────────────────────────────────────────────
# A service that gave up on an event about the order (shared.stall) leaves the status where it is: the order has not
# moved, and a status `exception` would have to be undone by whatever comes next. The stall shows as the reason and on
# the timeline instead, and the service's next event about the order clears it (for orders' own stall: the parked
# event itself, handled once an operator replays it).

_STALL = re.compile(r"^(?P<service>[a-z]+) could not act on (?P<name>[a-z_.]+): ")


def event_name(event_type: str) -> str:
    """`order.accepted` from `silkgate.orders.order.accepted.v1`."""
    parts = event_type.split(".")
    return ".".join(parts[2:-1]) if len(parts) > 3 and parts[0] == "silkgate" else event_type


def stall_reason(*, service: str, original_type: str, reason: str) -> str:
    """What the merchant reads while an order is stalled (no personal data: the reason is an error's type)."""
    return f"{service} could not act on {event_name(original_type)}: {reason}; operators were alerted"


def reason_after_stall(current_reason: str | None, *, service: str, event_type: str) -> str | None:
    """The reason once an event from `service` is recorded: a stall it shows to be over is cleared.

    Customs or postal publishing anything more about the order has moved on (their events keep their order on
    one stream, after the stall's announcement); orders' own stall ends when it handles the parked event.
    """
    found = _STALL.match(current_reason or "")
    if found is None:
        return current_reason
    if found["service"] == "orders":
        return None if found["name"] == event_name(event_type) else current_reason
    return None if found["service"] == service else current_reason
