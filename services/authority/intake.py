"""Taking a message: envelope, signature, schema, then the plan of its receipts — all kept, good or bad.

Every request is stored exactly as received with the answer given; a repeat of the same MessageId carrying the
same message (its envelope may differ: a resend has another SendTime) gets the same answer again and is not
processed twice. A message that cannot be read is refused with
problem+json (400 for the envelope, 422 for the message, 409 for an answer nobody asked for) and kept too.

Each request reads and checks its message itself; what it then keeps and plans is written by one transaction for
all the requests waiting at that moment (customs files many at once), in the order they arrived, and each request
is answered once that transaction has committed: a 2xx still means the message and its plan are durably kept.
Should that transaction fail, its messages are taken again one by one, each alone as before.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from prometheus_client import Counter
from sqlalchemy.exc import IntegrityError

from services.authority import repository
from services.authority.planning import LOOKS_UP_DECLARATION, Batch, Refusal, plan
from services.authority.reading import Filing, read
from services.authority.settings import AuthoritySettings
from services.authority.verification import FilerCertificate
from shared.ceb.errors import ExchangeError, MessageMalformed, SignatureInvalid
from shared.ceb.transport import Envelope, transport_type, unwrap
from shared.db import Database, utcnow

log = structlog.get_logger()
MESSAGES = Counter("silkgate_authority_messages_total", "Messages received by the sandbox authority",
                   ["kind", "result"])
MAX_BATCH = 64  # messages a transaction takes at most


@dataclass(frozen=True)
class Answer:
    """The HTTP answer to one POST /v1/messages."""

    status: int
    body: dict[str, Any]

    @property
    def media_type(self) -> str:
        return "application/json" if self.status < 400 else "application/problem+json"


@dataclass(frozen=True)
class Arrival:
    """One request body as read and checked, waiting to be kept: its filing, or why it is refused."""

    raw: bytes
    digest: str  # of the message and its JSON signature (a resend's new envelope keeps it), else of the body
    envelope: Envelope | None
    filing: Filing | None = None
    refusal: Refusal | None = None


@dataclass(frozen=True)
class Kept:
    """A message already kept under its MessageId: what a repeat is compared with and answered from."""

    kind: str | None
    body_sha256: str
    answer_status: int
    answer: dict[str, Any]


@dataclass
class _Outcome:
    answer: Answer
    event: str  # the log line written once the transaction has committed
    fields: dict[str, Any] = field(default_factory=dict)
    result: tuple[str, str] | None = None  # (kind, accepted | refused) for the metric


def problem(status: int, code: str, field: str, detail: str, message_id: str | None) -> dict[str, Any]:
    titles = {400: "Bad request", 409: "Conflict", 422: "Invalid message"}
    body = {"type": f"https://silkgate.dev/problems/{code}", "title": titles.get(status, "Refused"),
            "status": status, "code": code, "detail": detail, "field": field}
    if message_id:
        body["MessageId"] = message_id
    return body


def arrival_of(raw: bytes, filer: FilerCertificate) -> Arrival:
    """Read one request body: the envelope, then the message (signature, schema, content). Pure; never raises for
    what the body contains."""
    digest = hashlib.sha256(raw).hexdigest()
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        return Arrival(raw, digest, None, refusal=Refusal(400, "json_invalid", "Message", "the body is not JSON"))
    try:
        envelope = unwrap(body)
    except MessageMalformed as exc:
        return Arrival(raw, digest, None, refusal=Refusal(400, exc.code, exc.field, exc.detail))
    # A resend wraps the same message in a new envelope (another SendTime): what must match is the message.
    digest = hashlib.sha256(envelope.data + (envelope.signature or "").encode()).hexdigest()
    try:
        return Arrival(raw, digest, envelope, filing=read(envelope, filer))
    except (SignatureInvalid, MessageMalformed) as exc:
        return Arrival(raw, digest, envelope, refusal=_refusal_of(exc))


class Intake:
    """Takes the requests' messages, in transactions shared by the requests waiting together."""

    def __init__(self, db: Database, settings: AuthoritySettings, customs_cert_pem: bytes) -> None:
        self.db, self.settings = db, settings
        self.filer = FilerCertificate(customs_cert_pem)  # read once, not once a message
        self._waiting: list[tuple[Arrival, asyncio.Future[Answer]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def receive(self, raw: bytes) -> Answer:
        """Take one request body; answers once what it brought is kept. Never raises for what it contains."""
        arrival = arrival_of(raw, self.filer)
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._waiting.append((arrival, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_waiting(), name="authority-intake")
        return await future

    async def _write_waiting(self) -> None:
        batch: list[tuple[Arrival, asyncio.Future[Answer]]] = []
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
                await self._write(batch)
        except asyncio.CancelledError:  # shutting down: no request waits for an answer that will not come
            for _arrival, future in batch + self._waiting:
                _settle(future, error=RuntimeError("the authority is stopping"))
            self._waiting = []
            raise

    async def _write(self, batch: list[tuple[Arrival, asyncio.Future[Answer]]]) -> None:
        arrivals = [arrival for arrival, _ in batch]
        answers = None
        try:
            try:
                answers = await self.take(arrivals, look_up=False)
            except IntegrityError:  # one of them was kept before (a resend): take them again, looking them up
                answers = await self.take(arrivals)
        except Exception:  # noqa: BLE001 - taken again one by one: one message's trouble stays its own
            for arrival, future in batch:
                try:
                    _settle(future, answer=await self.take_alone(arrival))
                except Exception as exc:  # noqa: BLE001 - the request answers 500, as it did alone
                    _settle(future, error=exc)
            return
        for (_arrival, future), answer in zip(batch, answers, strict=True):
            _settle(future, answer=answer)

    async def take_alone(self, arrival: Arrival) -> Answer:
        for _attempt in range(2):
            try:
                return (await self.take([arrival]))[0]
            except IntegrityError:
                continue  # the same message arrived twice at once: the other request stored it, answer as it did
        raise RuntimeError("message could be neither stored nor found")

    async def take(self, arrivals: list[Arrival], *, look_up: bool = True) -> list[Answer]:
        """Keep and plan these messages in one transaction, in their order; their answers.

        look_up=False skips looking for messages kept before under the same MessageIds (resends are rare): one of
        them then fails the transaction with IntegrityError (its MessageId, or its guid as a case, is taken), and
        the caller takes them again looking up."""
        async with self.db.transaction() as session:
            ids = [a.envelope.message_id for a in arrivals if a.envelope is not None] if look_up else []
            kept = {row.message_id: Kept(row.kind, row.body_sha256, row.answer_status, row.answer)
                    for row in await repository.find_messages(session, ids)}
            cop_nos = [a.filing.cop_no or "" for a in arrivals if a.filing is not None
                       and a.filing.kind in LOOKS_UP_DECLARATION and a.filing.guid not in kept]
            quiet = set(cop_nos) - await repository.declarations_with_live_cases(session, cop_nos)
            batch = Batch(session, quiet=quiet)
            outcomes = [await self._take_one(batch, arrival, kept) for arrival in arrivals]
            await batch.flush()
        for outcome in outcomes:  # committed: now it can be said
            if outcome.result is not None:
                MESSAGES.labels(*outcome.result).inc()
            level = log.warning if outcome.event == "authority.message_refused" else log.info
            level(outcome.event, **outcome.fields)
        return [outcome.answer for outcome in outcomes]

    async def _take_one(self, batch: Batch, arrival: Arrival, kept: dict[str, Kept]) -> _Outcome:
        envelope = arrival.envelope
        existing = kept.get(envelope.message_id) if envelope is not None else None
        if envelope is not None and existing is not None and existing.body_sha256 != arrival.digest:
            # Same id, other message: never process it, and keep it without the id (the id names the first).
            log.warning("authority.message_id_reused", message_id=envelope.message_id)
            detail = "this MessageId was already used for another message; a new message needs a new guid"
            return _refuse(batch, arrival, Refusal(409, "message_id_reused", "Message.MessageHead.MessageId", detail),
                           kept, cop_no=None, keep_id=False)
        if envelope is not None and existing is not None:
            return _replay(existing, envelope)
        if arrival.filing is None:
            assert arrival.refusal is not None
            return _refuse(batch, arrival, arrival.refusal, kept, cop_no=None)
        filing, now = arrival.filing, utcnow()
        assert envelope is not None
        try:
            planned = await plan(batch, self.settings, filing, now=now)
        except Refusal as refusal:
            return _refuse(batch, arrival, refusal, kept, cop_no=filing.cop_no)
        answer = Answer(200, {"MessageId": envelope.message_id, "guid": filing.guid,
                              "MessageType": transport_type(filing.kind), "status": "accepted",
                              "received_at": now.isoformat(), "receipts_planned": planned.receipts,
                              "duplicate": False})
        _keep(batch, kept, _message_row(arrival, filing.cop_no, answer, now))
        return _Outcome(answer, "authority.message_accepted", {
            "message_id": envelope.message_id, "kind": filing.kind, "cop_no": filing.cop_no,
            "app_type": filing.app_type, "receipts_planned": planned.receipts, "decision": planned.decision},
            (filing.kind, "accepted"))


def _settle(future: asyncio.Future[Answer], *, answer: Answer | None = None, error: Exception | None = None) -> None:
    if future.done():  # the request went away meanwhile; what it brought is kept all the same
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(answer)  # type: ignore[arg-type]


def _replay(existing: Kept, envelope: Envelope) -> _Outcome:
    """The answer the message got the first time (marked as a duplicate when it was taken)."""
    answer = dict(existing.answer)
    if existing.answer_status < 400:
        answer["duplicate"] = True
    return _Outcome(Answer(existing.answer_status, answer), "authority.message_duplicate",
                    {"message_id": envelope.message_id, "kind": existing.kind})


def _refusal_of(error: ExchangeError) -> Refusal:
    return Refusal(422, error.code, error.field, error.detail)


def _refuse(batch: Batch, arrival: Arrival, refusal: Refusal, kept: dict[str, Kept], *, cop_no: str | None,
            keep_id: bool = True) -> _Outcome:
    """Keep the refused request as received, with the answer it got (under its MessageId, so that a repeat gets
    the same refusal, unless that id already names another message)."""
    envelope = arrival.envelope
    message_id = envelope.message_id if envelope else None
    answer = Answer(refusal.status, problem(refusal.status, refusal.code, refusal.field, refusal.detail, message_id))
    row = _message_row(arrival, cop_no, answer, utcnow())
    row["problem_code"] = refusal.code
    if not keep_id:
        row["message_id"] = None
    _keep(batch, kept, row)
    return _Outcome(answer, "authority.message_refused", {
        "message_id": message_id, "code": refusal.code, "field": refusal.field, "detail": refusal.detail[:300]},
        (envelope.kind if envelope else "unknown", "refused"))


def _keep(batch: Batch, kept: dict[str, Kept], row: dict[str, Any]) -> None:
    batch.add_message(row)
    if row["message_id"] is not None:  # a repeat later in the same transaction is answered from it
        kept[row["message_id"]] = Kept(row["kind"], row["body_sha256"], row["answer_status"], row["answer"])


def _message_row(arrival: Arrival, cop_no: str | None, answer: Answer, now: datetime) -> dict[str, Any]:
    envelope = arrival.envelope
    return {"message_id": envelope.message_id if envelope else None, "kind": envelope.kind if envelope else None,
            "cop_no": cop_no, "received_at": now, "body_sha256": arrival.digest, "request_body": arrival.raw,
            "result": "accepted" if answer.status < 400 else "refused",
            "problem_code": None, "answer_status": answer.status, "answer": answer.body}
