"""The gateway worker: files queued messages with the customs authority, retried with backoff, nothing lost.

A message is queued in the same transaction as the declaration's change (outgoing.py), so a filing is never lost
between the two. The worker leases due messages (SKIP LOCKED, so replicas share them), sends each through the
authority's adapter outside any transaction, and records every attempt — request and answer — in `exchanges`
for the auditor. The authority is idempotent on the message guid, so a message sent twice (a lease that lapsed
mid-send) is answered twice and processed once. A refusal (4xx) is final: the declaration goes back to a broker.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from prometheus_client import Counter

from services.customs.domain.status import FILED_STATUSES
from services.customs.gateway import AuthorityGateway, GatewayAnswer, HttpAuthorityAdapter, backoff
from services.customs.messages.outgoing import OutgoingMessage
from services.customs.models import Message
from services.customs.repository import DeclarationRepository
from services.customs.repository_exchange import ExchangeRepository
from services.customs.service import SYSTEM, CustomsConfig, GatewayConfig, outbox_emitter, status_event, transition
from shared.contract.events import Finding
from shared.runtime import ServiceRuntime

log = structlog.get_logger()

SENT = Counter("silkgate_customs_messages_sent_total", "Messages the customs authority took", ["message_type"])
FAILED = Counter("silkgate_customs_message_attempts_failed_total",
                 "Attempts to file a message that failed (retried later)", ["reason"])
REFUSED = Counter("silkgate_customs_messages_refused_total", "Messages the customs authority refused for good",
                  ["message_type"])

_LEASE = timedelta(seconds=60)  # longer than any attempt (timeout): a live sender never loses its lease


def outgoing(message: Message) -> OutgoingMessage:
    """A stored message as the adapter files it: exactly the bytes that were signed."""
    return OutgoingMessage(kind=message.message_type, guid=message.guid, cop_no=message.declaration_id,
                           body=message.body.encode("utf-8"), signature=message.signature)


async def send_due(runtime: ServiceRuntime, config: CustomsConfig, gateway: AuthorityGateway, *,
                   endpoint: str) -> int:
    """One round: lease what is due, send it through `gateway` (at `endpoint`, as the audit records it), settle
    each attempt; returns how many were attempted."""
    now = config.now()
    async with runtime.db.transaction() as session:
        due = await ExchangeRepository(session).take_due(now=now, lease_until=now + _LEASE,
                                                         limit=config.gateway.batch_size)
        leased = [(outgoing(m), m.purpose, m.attempts) for m in due]
    if not leased:
        return 0
    limit = asyncio.Semaphore(config.gateway.concurrency)

    async def attempt(message: OutgoingMessage, purpose: str, attempts: int) -> _Attempt:
        async with limit:
            started = time.monotonic()
            answer = await gateway.file(message)
            return _Attempt(message, purpose, attempts + 1, answer, int((time.monotonic() - started) * 1000))

    done = await asyncio.gather(*(attempt(*item) for item in leased))
    # One transaction settles the round: on SQLite every transaction waits for the one writer (behind whole
    # consumer batches), so settling each message alone made the round as slow as a hundred such waits. A gateway
    # that dies before this commit leaves its leases to lapse and sends again; the authority is idempotent on guids.
    async with runtime.db.transaction() as session:
        exchange = ExchangeRepository(session)
        now = config.now()
        await exchange.add_exchanges([_exchange_row(item, endpoint=endpoint, now=now) for item in done])
        settled = [_settled(config, item, now=now) for item in done]
        await exchange.settle_all(settled)
        for item, row in zip(done, settled, strict=True):
            await _after(runtime, session, item, row, now=now)
    return len(leased)


@dataclass(frozen=True)
class _Attempt:
    """One message sent in a round, and what the authority answered."""

    message: OutgoingMessage
    purpose: str
    attempts: int  # counting this one
    answer: GatewayAnswer
    duration_ms: int


def _exchange_row(item: _Attempt, *, endpoint: str, now: datetime) -> dict:
    """The auditor's record of one attempt: the request and the answer, as they went."""
    answer = item.answer
    return {"message_guid": item.message.guid, "attempt": item.attempts, "at": now, "endpoint": endpoint,
            "request_body": answer.request_body.decode("utf-8"), "response_status": answer.status_code,
            "response_body": answer.response_body.decode("utf-8", errors="replace") if answer.response_body else None,
            "error": _error(answer), "duration_ms": item.duration_ms}


def _settled(config: CustomsConfig, item: _Attempt, *, now: datetime) -> dict:
    """The message's row after the attempt: sent, queued again for later (with backoff), or refused for good."""
    answer, attempts = item.answer, item.attempts
    row = {"guid": item.message.guid, "attempts": attempts, "last_error": _error(answer)}
    if answer.outcome == "accepted":
        return {**row, "state": "sent", "next_attempt_at": now, "sent_at": now}
    if answer.outcome == "retry":
        delay = max(answer.retry_after or 0, backoff(attempts, cap_s=config.gateway.backoff_max_s))
        return {**row, "state": "queued", "next_attempt_at": now + timedelta(seconds=delay), "sent_at": None}
    return {**row, "state": "refused", "next_attempt_at": now, "sent_at": None}


async def _after(runtime: ServiceRuntime, session, item: _Attempt, row: dict, *, now: datetime) -> None:
    """What the attempt means besides its message's row: metrics, a log line, and on a refusal of a filing, its
    declaration back to a broker — in the round's session."""
    message, answer, attempts = item.message, item.answer, item.attempts
    error = _error(answer)
    with structlog.contextvars.bound_contextvars(declaration_id=message.cop_no, message_guid=message.guid):
        if answer.outcome == "accepted":
            SENT.labels(message.kind).inc()
            log.info("message.sent", message_type=message.kind, attempts=attempts, duplicate=answer.duplicate)
        elif answer.outcome == "retry":
            FAILED.labels("http" if answer.status_code else "connection").inc()
            log.warning("message.retry", message_type=message.kind, attempts=attempts,
                        retry_in_s=round((row["next_attempt_at"] - now).total_seconds(), 1),
                        status_code=answer.status_code, error=error)
        else:
            REFUSED.labels(message.kind).inc()
            log.warning("message.refused", message_type=message.kind, status_code=answer.status_code,
                        error=error)
            if item.purpose in ("declaration", "order"):
                await _back_to_broker(runtime, session, message, error or str(answer.status_code), now=now)


def _error(answer: GatewayAnswer) -> str | None:
    """What went wrong, in a line: the connection error, or the authority's problem (its code and detail)."""
    if answer.error:
        return answer.error[:512]
    if answer.outcome == "accepted":
        return None
    problem = answer.problem or {}
    text = " ".join(str(problem.get(k, "")) for k in ("code", "field", "detail")).strip()
    return (text or f"HTTP {answer.status_code}")[:512]


async def _back_to_broker(runtime: ServiceRuntime, session, message: OutgoingMessage, error: str, *,
                          now: datetime) -> None:
    """The authority refused the filing at its gate (the message itself is wrong): a broker must amend and file
    again. Only while the declaration is still waiting on that filing."""
    repo = DeclarationRepository(session)
    declaration = await repo.get(message.cop_no)
    if declaration is None or declaration.status not in FILED_STATUSES or declaration.last_receipt_code is not None:
        return
    finding = Finding(code="filing_refused", severity="high", fields=[],
                      message=f"the customs authority refused {message.kind} {message.guid}: {error}"[:512])
    await repo.add_findings(declaration.id, [finding], source="exchange", now=now)
    await transition(repo, declaration, action="receipt", to_status="authority_rejected", actor=SYSTEM, now=now,
                     code=-1, reason_code="filing_refused", note=finding.message)
    event = status_event(declaration, now=now, actor=SYSTEM, reason=finding.message, reason_code=finding.code,
                         findings=[finding])
    if event is not None:
        await outbox_emitter(runtime.outbox, session)(event, declaration)


async def gateway_worker(runtime: ServiceRuntime, stop: asyncio.Event) -> None:
    """File queued messages until stopped; idle when there is nothing due or no authority is configured."""
    config: CustomsConfig = runtime.extras["customs"]
    settings: GatewayConfig = config.gateway
    if settings.authority_url is None:
        log.warning("gateway.not_configured", detail="no SILKGATE_CUSTOMS_AUTHORITY_URL: filings stay queued")
        return
    gateway = HttpAuthorityAdapter(settings.authority_url, sender_id=config.filer.declarant.dxp_id,
                                   receiver_id=settings.receiver_id, timeout_s=settings.timeout_s)
    endpoint = f"{settings.authority_url.rstrip('/')}/v1/messages"
    log.info("gateway.started", endpoint=endpoint)
    try:
        while not stop.is_set():
            try:
                sent = await send_due(runtime, config, gateway, endpoint=endpoint)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the gateway must outlive a database outage
                log.warning("gateway.error", error=type(exc).__name__)
                sent = 0
            if sent < settings.batch_size:
                try:
                    await asyncio.wait_for(stop.wait(), timeout=settings.idle_interval_s)
                except TimeoutError:
                    pass
    finally:
        await gateway.aclose()
