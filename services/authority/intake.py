"""Taking a message: envelope, signature, schema, then the plan of its receipts — all kept, good or bad.

Every request is stored exactly as received with the answer given; a repeat of the same MessageId carrying the
same message (its envelope may differ: a resend has another SendTime) gets the same answer again and is not
processed twice. A message that cannot be read is refused with
problem+json (400 for the envelope, 422 for the message, 409 for an answer nobody asked for) and kept too.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from prometheus_client import Counter
from sqlalchemy.exc import IntegrityError

from services.authority import repository
from services.authority.decisions import (
    ANSWER_KINDS,
    CANCEL_KINDS,
    FILING_KINDS,
    ORDER_KINDS,
    RETURN_KINDS,
    Decision,
    conclusion_steps,
    decide,
    filing_steps,
    info_for,
    numbers,
    state_after,
)
from services.authority.reading import Filing, read
from services.authority.settings import AuthoritySettings
from shared.ceb.errors import ExchangeError, MessageMalformed, SignatureInvalid
from shared.ceb.fields import new_guid
from shared.ceb.transport import Envelope, transport_type, unwrap
from shared.db import Database, utcnow

log = structlog.get_logger()
MESSAGES = Counter("silkgate_authority_messages_total", "Messages received by the sandbox authority",
                   ["kind", "result"])


@dataclass(frozen=True)
class Answer:
    """The HTTP answer to one POST /v1/messages."""

    status: int
    body: dict[str, Any]

    @property
    def media_type(self) -> str:
        return "application/json" if self.status < 400 else "application/problem+json"


class _Refusal(Exception):
    def __init__(self, status: int, code: str, field: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.field, self.detail = status, code, field, detail


def problem(status: int, code: str, field: str, detail: str, message_id: str | None) -> dict[str, Any]:
    titles = {400: "Bad request", 409: "Conflict", 422: "Invalid message"}
    body = {"type": f"https://silkgate.dev/problems/{code}", "title": titles.get(status, "Refused"),
            "status": status, "code": code, "detail": detail, "field": field}
    if message_id:
        body["MessageId"] = message_id
    return body


async def receive(db: Database, settings: AuthoritySettings, customs_cert_pem: bytes, raw: bytes) -> Answer:
    """Take one request body; never raises for what the message contains."""
    digest = hashlib.sha256(raw).hexdigest()
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        return await _refuse(db, raw, digest, None, None, _Refusal(400, "json_invalid", "Message",
                                                                   "the body is not JSON"))
    try:
        envelope = unwrap(body)
    except MessageMalformed as exc:
        return await _refuse(db, raw, digest, None, None, _Refusal(400, exc.code, exc.field, exc.detail))
    # A resend wraps the same message in a new envelope (another SendTime): what must match is the message.
    digest = hashlib.sha256(envelope.data + (envelope.signature or "").encode()).hexdigest()
    for _attempt in range(2):
        async with db.reader() as session:
            existing = await repository.find_message(session, envelope.message_id)
        if existing is not None and existing.body_sha256 != digest:
            # Same id, other message: never process it, and keep it without the id (the id names the first).
            log.warning("authority.message_id_reused", message_id=envelope.message_id)
            detail = "this MessageId was already used for another message; a new message needs a new guid"
            return await _refuse(db, raw, digest, envelope, None, _Refusal(
                409, "message_id_reused", "Message.MessageHead.MessageId", detail), keep_id=False)
        if existing is not None:
            return _replay(existing, envelope)
        try:
            return await _take(db, settings, customs_cert_pem, raw, digest, envelope)
        except IntegrityError:
            continue  # the same message arrived twice at once: the other request stored it, answer as it did
    raise RuntimeError("message could be neither stored nor found")


def _replay(existing: Any, envelope: Envelope) -> Answer:
    """The answer the message got the first time (marked as a duplicate when it was taken)."""
    answer = dict(existing.answer)
    if existing.answer_status < 400:
        answer["duplicate"] = True
    log.info("authority.message_duplicate", message_id=envelope.message_id, kind=existing.kind)
    return Answer(existing.answer_status, answer)


async def _take(db: Database, settings: AuthoritySettings, customs_cert_pem: bytes, raw: bytes, digest: str,
                envelope: Envelope) -> Answer:
    try:
        filing = read(envelope, customs_cert_pem)
    except (SignatureInvalid, MessageMalformed) as exc:
        return await _refuse(db, raw, digest, envelope, None, _refusal_of(exc))
    now = utcnow()
    try:
        async with db.transaction() as session:
            planned = await _plan(session, settings, filing, now=now)
            answer = Answer(200, {"MessageId": envelope.message_id, "guid": filing.guid,
                                  "MessageType": transport_type(filing.kind), "status": "accepted",
                                  "received_at": now.isoformat(), "receipts_planned": planned, "duplicate": False})
            await repository.add_message(session, _message_row(raw, digest, envelope, filing.cop_no, answer, now))
    except _Refusal as refusal:
        return await _refuse(db, raw, digest, envelope, filing.cop_no, refusal)
    MESSAGES.labels(filing.kind, "accepted").inc()
    log.info("authority.message_accepted", message_id=envelope.message_id, kind=filing.kind, cop_no=filing.cop_no,
             app_type=filing.app_type, receipts_planned=planned)
    return answer


def _refusal_of(error: ExchangeError) -> _Refusal:
    return _Refusal(422, error.code, error.field, error.detail)


async def _refuse(db: Database, raw: bytes, digest: str, envelope: Envelope | None, cop_no: str | None,
                  refusal: _Refusal, *, keep_id: bool = True) -> Answer:
    """Keep the refused request as received, with the answer it got (under its MessageId, so that a repeat gets
    the same refusal, unless that id already names another message)."""
    message_id = envelope.message_id if envelope else None
    answer = Answer(refusal.status, problem(refusal.status, refusal.code, refusal.field, refusal.detail, message_id))
    row = _message_row(raw, digest, envelope, cop_no, answer, utcnow())
    row["problem_code"] = refusal.code
    if not keep_id:
        row["message_id"] = None
    try:
        async with db.transaction() as session:
            await repository.add_message(session, row)
    except IntegrityError:
        # The same MessageId is already kept (a race with its twin): keep this copy without the id.
        async with db.transaction() as session:
            await repository.add_message(session, {**row, "message_id": None})
    MESSAGES.labels(envelope.kind if envelope else "unknown", "refused").inc()
    log.warning("authority.message_refused", message_id=message_id, code=refusal.code, field=refusal.field,
                detail=refusal.detail[:300])
    return answer


def _message_row(raw: bytes, digest: str, envelope: Envelope | None, cop_no: str | None, answer: Answer,
                 now: datetime) -> dict[str, Any]:
    return {"message_id": envelope.message_id if envelope else None, "kind": envelope.kind if envelope else None,
            "cop_no": cop_no, "received_at": now, "body_sha256": digest, "request_body": raw,
            "result": "accepted" if answer.status < 400 else "refused",
            "problem_code": None, "answer_status": answer.status, "answer": answer.body}


# ── planning receipts ─────────────────────────────────────────────────────────────────────────────────────────


async def _plan(session: Any, settings: AuthoritySettings, filing: Filing, *, now: datetime) -> int:
    """Store the message's case and plan its receipts; returns how many were planned."""
    if filing.kind in ORDER_KINDS:
        await _new_case(session, filing, now=now, state="done")
        return await _add_steps(session, filing.guid, [(2, settings.declaring_delay_s, None),
                                                       (120, settings.accepted_delay_s, None)],
                                settings, now=now)
    if filing.kind in FILING_KINDS:
        return await _plan_filing(session, settings, filing, now=now)
    if filing.kind in CANCEL_KINDS or filing.kind in RETURN_KINDS:
        return await _plan_cancel_or_return(session, settings, filing, now=now)
    if filing.kind in ANSWER_KINDS:
        return await _plan_answer(session, settings, filing, now=now)
    raise _Refusal(422, "message_type_unknown", "Message.MessageHead.MessageType", f"{filing.kind} is not handled")


async def _plan_filing(session: Any, settings: AuthoritySettings, filing: Filing, *, now: datetime) -> int:
    live = await repository.live_cases(session, cop_no=filing.cop_no or "", kinds=[filing.kind])
    if filing.app_type == 1 and live:
        # Customs refuses a second "new" filing of a copNo it already has: a correction is a change (appType 2).
        await _new_case(session, filing, now=now, state="rejected", decision=100)
        info = "rejected: this copNo is already declared; file a change (appType 2)"
        return await _add_steps(session, filing.guid, [(2, settings.declaring_delay_s, None),
                                                       (100, settings.accepted_delay_s, info)], settings, now=now)
    for case in live:  # a change or a delete replaces whatever the earlier filing was waiting for
        await repository.withdraw_pending(session, case.guid)
        await repository.set_case_state(session, case.guid, state="withdrawn", now=now)
    if filing.app_type == 3:
        await _new_case(session, filing, now=now, state="closed")
        return await _add_steps(session, filing.guid, [(2, settings.declaring_delay_s, None),
                                                       (899, settings.accepted_delay_s, "declaration deleted")],
                                settings, now=now)
    decision = decide(settings, guid=filing.guid, kind=filing.kind, order_no=filing.order_no,
                      hs_codes=filing.hs_codes)
    # Customs numbers an accepted inventory list (mail and express items keep their item id and waybill number).
    pre_no, invt_no = (numbers(filing.guid, kind=filing.kind, customs_code=filing.customs_code, at=now)
                       if filing.kind.startswith("CEB") else (None, None))
    await _new_case(session, filing, now=now, state=state_after(decision.answer), decision=decision.answer,
                    failed_answer=decision.failed_answer, pre_no=pre_no, invt_no=invt_no)
    steps = [(status, delay, info_for(status, decision)) for status, delay in filing_steps(settings, decision)]
    log.info("authority.decided", guid=filing.guid, cop_no=filing.cop_no, kind=filing.kind, answer=decision.answer)
    return await _add_steps(session, filing.guid, steps, settings, now=now)


async def _plan_cancel_or_return(session: Any, settings: AuthoritySettings, filing: Filing, *,
                                 now: datetime) -> int:
    is_cancel = filing.kind in CANCEL_KINDS
    target_kind = CANCEL_KINDS.get(filing.kind) or RETURN_KINDS[filing.kind]
    live = await repository.live_cases(session, cop_no=filing.cop_no or "", kinds=[target_kind])
    target = live[0] if live else None
    refusal = None
    if target is None:
        refusal = "rejected: customs has no accepted inventory list with this copNo"
    elif target.invt_no != filing.invt_no:
        refusal = f"rejected: invtNo {filing.invt_no} is not the list's ({target.invt_no})"
    elif not is_cancel and target.state != "released":
        refusal = "rejected: only released goods can be returned"
    if refusal is not None:
        await _new_case(session, filing, now=now, state="rejected", decision=100)
        return await _add_steps(session, filing.guid, [(2, settings.declaring_delay_s, None),
                                                       (100, settings.accepted_delay_s, refusal)], settings, now=now)
    final = 899 if is_cancel else 700
    if is_cancel:  # the cancelled list's receipts still waiting (a release, a decision) are not sent any more
        await repository.withdraw_pending(session, target.guid)
    await repository.set_case_state(session, target.guid, state=state_after(final), now=now)
    await _new_case(session, filing, now=now, state=state_after(final), pre_no=target.pre_no,
                    invt_no=target.invt_no)
    info = "cancellation approved" if is_cancel else "return approved"
    return await _add_steps(session, filing.guid, [(2, settings.declaring_delay_s, None),
                                                   (final, settings.accepted_delay_s, info)], settings, now=now)


async def _plan_answer(session: Any, settings: AuthoritySettings, filing: Filing, *, now: datetime) -> int:
    review = filing.kind == "REVIEWANSWER"
    waiting = "awaiting_review" if review else "awaiting_inspection"
    target = await repository.get_case(session, filing.answers_guid or "")
    if target is None or target.state != waiting:
        what = "a manual review (300)" if review else "an inspection (500)"
        raise _Refusal(409, "no_review_pending" if review else "no_inspection_pending", "answers_guid",
                       f"filing {filing.answers_guid} is not waiting for an answer to {what}")
    if target.cop_no != filing.cop_no:
        raise _Refusal(422, "cop_no_mismatch", "cop_no", f"filing {target.guid} is declaration {target.cop_no}")
    await _new_case(session, filing, now=now, state="done")
    planned = await _add_steps(session, filing.guid, [(120, 0.0, "answer received")], settings, now=now)
    passed = review or bool(filing.passed)
    steps = conclusion_steps(settings, passed=passed, failed_answer=target.failed_answer or 100)
    decision = Decision(target.decision or 800, target.failed_answer or 100)
    planned += await _add_steps(session, target.guid, [(s, d, info_for(s, None if passed else decision))
                                                       for s, d in steps], settings, now=now)
    await repository.set_case_state(session, target.guid, state=state_after(steps[-1][0]), now=now)
    log.info("authority.answer_taken", guid=target.guid, kind=filing.kind, passed=passed)
    return planned


async def _new_case(session: Any, filing: Filing, *, now: datetime, state: str, decision: int | None = None,
                    failed_answer: int | None = None, pre_no: str | None = None,
                    invt_no: str | None = None) -> None:
    await repository.add_case(session, {
        "guid": filing.guid, "kind": filing.kind, "cop_no": filing.cop_no, "order_no": filing.order_no,
        "app_type": filing.app_type, "receipt_type": filing.receipt_type, "answered_type": filing.kind,
        "customs_code": filing.customs_code, "ebp_code": filing.ebp_code, "ebc_code": filing.ebc_code,
        "agent_code": filing.agent_code, "pre_no": pre_no or filing.pre_no, "invt_no": invt_no or filing.invt_no,
        "decision": decision, "failed_answer": failed_answer, "state": state, "created_at": now, "updated_at": now,
    })


async def _add_steps(session: Any, case_guid: str, steps: list[tuple[int, float, str | None]],
                     settings: AuthoritySettings, *, now: datetime) -> int:
    """Plan receipts after the case's last one: each `delay` seconds after the one before."""
    seq, last_due = await repository.last_step(session, case_guid)
    due = max(now, last_due) if last_due else now
    rows = []
    for status, delay, info in steps:
        seq += 1
        due = due + timedelta(seconds=delay)
        rows.append({"case_guid": case_guid, "seq": seq, "receipt_guid": new_guid(), "return_status": status,
                     "return_info": info or info_for(status), "due_at": due, "next_try_at": due, "attempts": 0,
                     "state": "planned"})
    await repository.add_receipts(session, rows)
    return len(rows)
