"""NATS subjects and JetStream streams: one stream per publishing service, plus the dead letters."""

from __future__ import annotations

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
