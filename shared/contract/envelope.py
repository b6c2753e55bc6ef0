"""The envelope every event travels in: CloudEvents 1.0 attributes plus the journey's ids."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import Field

from shared.contract.events import EVENTS_BY_TYPE, Event
from shared.contract.parcel import ContractModel


class UnknownEventType(ValueError):
    """An envelope names an event type this build does not know."""


class Envelope(ContractModel):
    """CloudEvents attributes (id, source, type, subject, time, specversion) plus correlation and causation."""

    specversion: Literal["1.0"] = "1.0"
    id: Annotated[str, Field(min_length=1, max_length=64)]
    source: Annotated[str, Field(min_length=1, max_length=128)]
    type: Annotated[str, Field(min_length=1, max_length=128)]
    subject: Annotated[str, Field(min_length=1, max_length=128)]
    time: datetime
    datacontenttype: Literal["application/json"] = "application/json"
    correlation_id: Annotated[str, Field(min_length=1, max_length=64)]
    causation_id: Annotated[str, Field(max_length=64)] | None = None
    data: dict[str, Any]

    @classmethod
    def wrap(
        cls,
        event: Event,
        *,
        subject: str,
        correlation_id: str,
        causation_id: str | None = None,
        event_id: str | None = None,
        time: datetime | None = None,
    ) -> Envelope:
        """Put an event in a new envelope; `subject` is the parcel's order id."""
        return cls(
            id=event_id or uuid.uuid4().hex,
            source=f"silkgate/{event.SERVICE}",
            type=event.event_type(),
            subject=subject,
            time=time or datetime.now(UTC),
            correlation_id=correlation_id,
            causation_id=causation_id,
            data=event.model_dump(mode="json"),
        )

    def event(self) -> Event:
        """The typed payload; raises UnknownEventType or pydantic.ValidationError.

        A tolerant reader: fields added by a newer producer (an additive change keeps the version) are ignored,
        so consumers need not be upgraded before producers.
        """
        model = EVENTS_BY_TYPE.get(self.type)
        if model is None:
            raise UnknownEventType(self.type)
        return model.model_validate(self.data, extra="ignore")

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Envelope:
        return cls.model_validate_json(raw)
