"""Pure webhook rules: the event types merchants subscribe to, which status change raises which, and the retry
schedule (exponential backoff with jitter, give-up age, endpoint disabling). No I/O."""

from __future__ import annotations

from datetime import datetime, timedelta

from shared.contract.events import DeclarationHeld, WaybillIssued

STALLED = "order.stalled"

ALL_EVENT_TYPES = "*"
# The webhook event types, named after what happened to the order (documented in the README and OpenAPI).
EVENT_TYPES: dict[str, str] = {
    "order.accepted": "The order was accepted (status `accepted`).",
    "waybill.issued": "Postal issued the tracking number (`tracking_number` is set; the status stays).",
    "declaration.filed": "Customs filed the declaration (status `awaiting_clearance`).",
    "declaration.held": "Customs held the parcel: manual review, inspection or detention (status `on_hold`, "
                        "`status_reason` says why; sent again when the hold's reason changes).",
    "declaration.released": "Customs released the parcel (status `released`).",
    "declaration.rejected": "Customs rejected the parcel (status `rejected`, `status_reason` says why).",
    "parcel.handed_off": "The parcel was handed to the carrier (status `handed_off`).",
    "parcel.in_transit": "The carrier reports the parcel travelling (status `in_transit`).",
    "parcel.delivered": "The parcel was delivered (status `delivered`).",
    "parcel.returned": "The parcel was returned to the sender (status `returned`).",
    "order.cancelled": "The order was cancelled: by the merchant, or when customs or postal undid it "
                       "(status `cancelled`).",
    STALLED: "A service could not act on an event about the order and operators were alerted: the status stays, "
             "`status_reason` says what is stuck until the order moves on.",
}
# The event type announcing that an order reached a status.
STATUS_EVENT_TYPES: dict[str, str] = {
    "accepted": "order.accepted",
    "awaiting_clearance": "declaration.filed",
    "on_hold": "declaration.held",
    "released": "declaration.released",
    "rejected": "declaration.rejected",
    "handed_off": "parcel.handed_off",
    "in_transit": "parcel.in_transit",
    "delivered": "parcel.delivered",
    "returned": "parcel.returned",
    "cancelled": "order.cancelled",
}

_WAYBILL_ISSUED = WaybillIssued.event_type()
_DECLARATION_HELD = DeclarationHeld.event_type()


def webhook_event_type(*, event_type: str, old_status: str, new_status: str, tracking_assigned: bool = False,
                       customs_moved: bool = False) -> str | None:
    """The webhook event one recorded order event raises, or None when the merchant has nothing new to hear.

    A status change announces the new status. Without one, two things still matter to a merchant: the first
    tracking number (waybill.issued), and a hold whose reason changed (manual review turned into an inspection).
    """
    if new_status != old_status:
        return STATUS_EVENT_TYPES.get(new_status)
    if event_type.endswith(".event.dead_lettered.v1"):
        return STALLED
    if event_type == _WAYBILL_ISSUED and tracking_assigned:
        return "waybill.issued"
    if event_type == _DECLARATION_HELD and customs_moved and new_status == "on_hold":
        return "declaration.held"
    return None


def normalize_event_types(requested: list[str]) -> tuple[list[str], list[tuple[int, str]]]:
    """The subscription as stored (sorted, unique; ["*"] for everything) and the unknown entries by index."""
    unknown = [(index, name) for index, name in enumerate(requested)
               if name != ALL_EVENT_TYPES and name not in EVENT_TYPES]
    if ALL_EVENT_TYPES in requested:
        return [ALL_EVENT_TYPES], unknown
    return sorted(set(requested)), unknown


def subscribes(event_types: list[str], event_type: str) -> bool:
    return ALL_EVENT_TYPES in event_types or event_type in event_types


# ── retry schedule ────────────────────────────────────────────────────────────


def retry_delay(attempt: int, *, base_s: float, cap_s: float, jitter: float, rand: float) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based): base doubling per attempt, capped, then
    shortened by up to `jitter` (a fraction) × `rand` (0..1) so that endpoints failing together spread out.

    With jitter ≤ 0.5 every delay is still longer than the one before (until the cap).
    """
    delay = min(cap_s, base_s * 2 ** min(attempt - 1, 62))
    return delay * (1 - jitter * min(max(rand, 0.0), 1.0))


def next_attempt_at(*, now: datetime, queued_at: datetime, attempt: int, base_s: float, cap_s: float,
                    jitter: float, max_age_s: float, rand: float) -> datetime | None:
    """When to try again after failed attempt `attempt`, or None: the delivery is `max_age_s` old, give up.

    The last retry is held at the give-up deadline rather than skipped, so a delivery gets its full window.
    """
    deadline = queued_at + timedelta(seconds=max_age_s)
    if now >= deadline:
        return None
    delay = retry_delay(attempt, base_s=base_s, cap_s=cap_s, jitter=jitter, rand=rand)
    return min(now + timedelta(seconds=delay), deadline)


def should_disable(*, failing_since: datetime | None, now: datetime, disable_after_s: float) -> bool:
    """True once an endpoint has failed every delivery for `disable_after_s`."""
    return failing_since is not None and (now - failing_since).total_seconds() >= disable_after_s


def is_success(status_code: int | None) -> bool:
    """Only a 2xx answer counts as delivered (a redirect is not followed, so it is a failure)."""
    return status_code is not None and 200 <= status_code < 300
