"""NATS subjects and JetStream streams: one stream per publishing service, plus the dead letters."""

from __future__ import annotations

from fnmatch import fnmatchcase

from shared.contract.events import ALL_EVENTS, Event

SERVICES = ("orders", "customs", "postal")
DEAD_LETTER_STREAM = "SILKGATE_DLQ"
DEAD_LETTER_PREFIX = "silkgate.dlq"


def stream_name(service: str) -> str:
    """The JetStream stream a service publishes into."""
    return f"SILKGATE_{service.upper()}"


def stream_subjects(service: str) -> list[str]:
    return [f"silkgate.{service}.>"]


def subject_of(event: type[Event] | Event) -> str:
    return event.event_type()


def dead_letter_subject(consumer: str, original_subject: str) -> str:
    """Where a message that kept failing for `consumer` is parked."""
    return f"{DEAD_LETTER_PREFIX}.{consumer}.{original_subject}"


def events_of(service: str) -> list[type[Event]]:
    return [e for e in ALL_EVENTS if e.SERVICE == service]


# Who consumes what (DESIGN.md, "Services and what each owns"), by event name; a trailing `.*` takes a family.
# Every version in ALL_EVENTS matches, so while producers move to a `.v2` the consumer is listed on both.
_CONSUMED_NAMES: dict[str, tuple[str, ...]] = {
    # waybill.recorded is orders' own (an external logistics company's waybill): orders publishes it, postal adopts it.
    # event.dead_lettered: customs or postal gave up on an event about an order; orders shows the stall on it.
    "orders": ("waybill.issued", "waybill.voided", "declaration.*", "parcel.*", "event.dead_lettered"),
    # waybill.recorded: an external logistics company's waybill is the third document; order.return_requested: CEB625.
    "customs": ("order.accepted", "order.cancelled", "order.return_requested", "payment.recorded", "waybill.issued",
                "waybill.recorded"),
    "postal": ("order.accepted", "order.cancelled", "waybill.recorded", "declaration.released",
               "declaration.rejected"),
}

CONSUMERS: dict[str, list[str]] = {
    service: [e.event_type() for e in ALL_EVENTS if any(fnmatchcase(e.NAME, name) for name in names)]
    for service, names in _CONSUMED_NAMES.items()
}


def consumers_of(event: type[Event] | Event) -> list[str]:
    """The services that consume an event type, in SERVICES order."""
    return [service for service in SERVICES if event.event_type() in CONSUMERS.get(service, [])]
