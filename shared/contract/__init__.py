"""The message contract shared by orders, customs and postal."""

from shared.contract.envelope import Envelope, UnknownEventType
from shared.contract.events import *  # noqa: F403
from shared.contract.events import ALL_EVENTS, EVENTS_BY_TYPE, Event, Finding
from shared.contract.parcel import OrderLine, Parcel, Party, Payment
from shared.contract.subjects import SERVICES, dead_letter_subject, stream_name, subject_of

__all__ = [
    "ALL_EVENTS", "EVENTS_BY_TYPE", "Envelope", "Event", "Finding", "OrderLine", "Parcel", "Party", "Payment",
    "SERVICES", "UnknownEventType", "dead_letter_subject", "stream_name", "subject_of",
]
