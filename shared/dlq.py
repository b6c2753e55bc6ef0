"""Dead letters for operators: list, show, replay and drop what the consumers parked in the SILKGATE_DLQ stream.

A consumer parks a message that kept failing (or that nobody can read) under `silkgate.dlq.<service>.<subject>`,
with its reason, delivery count and origin in headers (shared.consumer). A dead letter's id is its sequence number
in the dead-letter stream.

Replay publishes the original bytes (and headers, trace context included) back to the original subject with
`Silkgate-Replay-For: <service>`: only that service's consumer handles it; the other consumers of the stream ack it
unseen. It goes through the normal consumer, so the inbox makes it idempotent, and a replay that fails again is
dead-lettered again under a new id. Each dead letter replays under one `Nats-Msg-Id`, so two operators replaying the
same one at once publish it once; once published, it is removed from the dead-letter stream.

Used by `silkgate dlq …` (shared.cli) and by each service's ops API (shared.dlq_api); the worker process watches the
stream's size (DeadLetterMonitor).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from prometheus_client import Gauge

from shared.contract.subjects import DEAD_LETTER_PREFIX, DEAD_LETTER_STREAM

log = structlog.get_logger()

DEAD_LETTERS = Gauge("silkgate_dead_letters", "Messages waiting in the dead-letter stream, per consuming service",
                     ["service"])

REPLAY_HEADER = "Silkgate-Replay-For"
# Headers the consumer adds when it parks a message; they are not replayed.
PARKING_HEADERS = ("Silkgate-Reason", "Silkgate-Consumer", "Silkgate-Original-Subject", "Silkgate-Original-Stream",
                   "Silkgate-Deliveries", "Nats-Msg-Id")


class DeadLetterNotFound(LookupError):
    """No dead letter with that id (never existed, replayed or dropped)."""


@dataclass
class DeadLetter:
    id: int
    service: str
    subject: str  # the original subject
    stream: str  # the original stream
    reason: str
    attempts: int
    parked_at: datetime | None
    data: bytes = field(repr=False)
    headers: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def event(self) -> Any:
        """The original event as JSON, or its text when it is not JSON (a message nobody could read)."""
        try:
            return json.loads(self.data)
        except ValueError:
            return self.data.decode(errors="replace")

    def summary(self) -> dict[str, Any]:
        event = self.event
        envelope = event if isinstance(event, dict) else {}
        return {"id": self.id, "service": self.service, "subject": self.subject, "reason": self.reason,
                "attempts": self.attempts, "parked_at": self.parked_at.isoformat() if self.parked_at else None,
                "event_id": envelope.get("id"), "event_type": envelope.get("type"),
                "order_id": envelope.get("subject"), "correlation_id": envelope.get("correlation_id")}

    def detail(self) -> dict[str, Any]:
        replayed = {k: v for k, v in self.headers.items() if k not in PARKING_HEADERS}
        return {**self.summary(), "stream": self.stream, "headers": replayed, "event": self.event}


def _service_filter(service: str | None) -> str:
    return f"{DEAD_LETTER_PREFIX}.{service}.>" if service else f"{DEAD_LETTER_PREFIX}.>"


def _from_raw(raw: Any) -> DeadLetter:
    headers = {k: v for k, v in (raw.headers or {}).items()}
    subject = headers.get("Silkgate-Original-Subject") or raw.subject.split(".", 3)[-1]
    try:
        attempts = int(headers.get("Silkgate-Deliveries", "0"))
    except ValueError:
        attempts = 0
    return DeadLetter(id=raw.seq, service=headers.get("Silkgate-Consumer") or raw.subject.split(".")[2],
                      subject=subject, stream=headers.get("Silkgate-Original-Stream", ""),
                      reason=headers.get("Silkgate-Reason", ""), attempts=attempts, parked_at=raw.time,
                      data=raw.data or b"", headers=headers)


class DeadLetters:
    """Operations on the dead-letter stream through a JetStream context."""

    def __init__(self, js: JetStreamContext) -> None:
        self.js = js

    async def list(self, *, service: str | None = None, limit: int = 100, after: int = 0) -> list[DeadLetter]:
        """Dead letters oldest first, of one service or all, starting after id `after`."""
        found: list[DeadLetter] = []
        seq = after + 1
        while len(found) < limit:
            try:
                raw = await self.js.get_msg(DEAD_LETTER_STREAM, seq=seq, subject=_service_filter(service), next=True)
            except NotFoundError:
                break
            found.append(_from_raw(raw))
            seq = raw.seq + 1
        return found

    async def count(self, service: str | None = None) -> int:
        """How many dead letters one service (or all) has."""
        try:
            info = await self.js.stream_info(DEAD_LETTER_STREAM, subjects_filter=_service_filter(service))
        except NotFoundError:
            return 0
        if service is None:
            return info.state.messages
        return sum((info.state.subjects or {}).values())

    async def get(self, dead_letter_id: int, *, service: str | None = None) -> DeadLetter:
        """One dead letter; with `service`, only if it is that service's."""
        try:
            raw = await self.js.get_msg(DEAD_LETTER_STREAM, seq=dead_letter_id)
        except NotFoundError as exc:
            raise DeadLetterNotFound(dead_letter_id) from exc
        letter = _from_raw(raw)
        if service is not None and letter.service != service:
            raise DeadLetterNotFound(dead_letter_id)
        return letter

    async def replay(self, dead_letter_id: int, *, service: str | None = None) -> DeadLetter:
        """Publish the original message again for its service's consumer, then remove the dead letter."""
        letter = await self.get(dead_letter_id, service=service)
        headers = {k: v for k, v in letter.headers.items() if k not in PARKING_HEADERS}
        headers[REPLAY_HEADER] = letter.service
        headers["Nats-Msg-Id"] = f"replay:{DEAD_LETTER_STREAM}:{letter.id}"
        await self.js.publish(letter.subject, letter.data, headers=headers)
        await self._delete(letter.id)
        log.info("dlq.replayed", dead_letter_id=letter.id, service=letter.service, subject=letter.subject,
                 event_id=letter.summary()["event_id"], order_id=letter.summary()["order_id"])
        return letter

    async def replay_all(self, *, service: str) -> list[DeadLetter]:
        """Replay every dead letter the service had when called (one that fails again comes back under a new id,
        past the snapshot, so it is not replayed in a loop)."""
        last = (await self.js.stream_info(DEAD_LETTER_STREAM)).state.last_seq
        replayed: list[DeadLetter] = []
        after = 0
        while batch := [letter for letter in await self.list(service=service, limit=200, after=after)
                        if letter.id <= last]:
            for letter in batch:
                replayed.append(await self.replay(letter.id, service=service))
            after = batch[-1].id
        return replayed

    async def drop(self, dead_letter_id: int, *, service: str | None = None) -> DeadLetter:
        """Remove a dead letter for good (it will not be handled)."""
        letter = await self.get(dead_letter_id, service=service)
        await self._delete(letter.id)
        log.warning("dlq.dropped", dead_letter_id=letter.id, service=letter.service, subject=letter.subject,
                    reason=letter.reason, event_id=letter.summary()["event_id"], order_id=letter.summary()["order_id"])
        return letter

    async def _delete(self, seq: int) -> None:
        try:
            await self.js.delete_msg(DEAD_LETTER_STREAM, seq)
        except NotFoundError:
            pass  # removed meanwhile (another operator): the outcome is the same


class DeadLetterMonitor:
    """Keeps `silkgate_dead_letters{service}` current and warns when a service's dead letters grow (checked by
    the worker's broker watch, shared.runtime)."""

    def __init__(self, service: str, bus: Any) -> None:
        self.service, self.bus = service, bus
        self.last: int | None = None

    async def check(self) -> int:
        assert self.bus.js is not None
        count = await DeadLetters(self.bus.js).count(self.service)
        DEAD_LETTERS.labels(self.service).set(count)
        if self.last is None and count:
            log.warning("dlq.not_empty", count=count, hint=f"silkgate dlq list --service {self.service}")
        elif self.last is not None and count > self.last:
            log.warning("dlq.grew", count=count, added=count - self.last,
                        hint=f"silkgate dlq list --service {self.service}")
        self.last = count
        return count
