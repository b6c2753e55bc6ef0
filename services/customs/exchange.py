"""The gateway worker: files queued messages with the customs authority, retried with backoff, nothing lost.

A message is queued in the same transaction as the declaration's change (outgoing.py), so a filing is never lost
between the two. The worker leases due messages (SKIP LOCKED, so replicas share them), sends each through the
authority's adapter outside any transaction, and records every attempt — request and answer — in `exchanges`
for the auditor. The authority is idempotent on the message guid, so a message sent twice (a lease that lapsed
mid-send) is answered twice and processed once. A refusal (4xx) is final: the declaration goes back to a broker.
"""

from __future__ import annotations

import asyncio
import random
import time
from datetime import datetime, timedelta

import structlog

from services.customs.domain.status import FILED_STATUSES
from services.customs.gateway import AuthorityGateway, FilingAnswer, HttpAuthorityAdapter
from services.customs.models import Message
from services.customs.repository import DeclarationRepository
from services.customs.repository_exchange import ExchangeRepository
from services.customs.service import SYSTEM, CustomsConfig, GatewayConfig, outbox_emitter, status_event, transition
from shared.ceb.transport import wrap
from shared.contract.events import Finding
from prometheus_client import Counter
from shared.runtime import ServiceRuntime

log = structlog.get_logger()

SENT = Counter("silkgate_customs_messages_sent_total", "Messages the customs authority took", ["message_type"])
FAILED = Counter("silkgate_customs_message_attempts_failed_total",
                 "Attempts to file a message that failed (retried later)", ["reason"])
REFUSED = Counter("silkgate_customs_messages_refused_total", "Messages the customs authority refused for good",
                  ["message_type"])

_LEASE = timedelta(seconds=60)  # longer than any attempt (timeout): a live sender never loses its lease


def backoff(attempt: int, *, maximum: float) -> float:
    """Seconds before the next attempt: 1, 2, 4 … up to `maximum`, with ±20% jitter so retries spread out."""
    base = min(maximum, 2.0 ** max(0, attempt - 1))
    return base * random.uniform(0.8, 1.2)


def envelope(message: Message, config: CustomsConfig, *, now: datetime) -> dict:
    """The §11 transport around one message, as filed."""
    return wrap(message.body.encode("utf-8"), kind=message.message_type, message_id=message.guid,
                sender_id=config.filer.declarant.dxp_id, receiver_id=config.gateway.receiver_id, send_time=now,
                signature=message.signature)


async def send_due(runtime: ServiceRuntime, config: CustomsConfig, gateway: AuthorityGateway) -> int:
    """One round: lease what is due, send it, settle each attempt; returns how many were attempted."""
    now = config.now()
    async with runtime.db.transaction() as session:
        due = await ExchangeRepository(session).take_due(now=now, lease_until=now + _LEASE,
                                                         limit=config.gateway.batch_size)
        leased = [(m.guid, m.message_type, m.purpose, m.declaration_id, m.attempts, envelope(m, config, now=now))
                  for m in due]
    if not leased:
        return 0
    limit = asyncio.Semaphore(config.gateway.concurrency)

    async def attempt(guid: str, message_type: str, purpose: str, declaration_id: str, attempts: int,
                      request: dict) -> None:
        async with limit:
            started = time.monotonic()
            answer = await gateway.file(request)
            await _settle(runtime, config, guid=guid, message_type=message_type, purpose=purpose,
                          declaration_id=declaration_id, attempts=attempts + 1, request=request, answer=answer,
                          duration_ms=int((time.monotonic() - started) * 1000))

    await asyncio.gather(*(attempt(*item) for item in leased))
    return len(leased)


async def _settle(runtime: ServiceRuntime, config: CustomsConfig, *, guid: str, message_type: str, purpose: str,
                  declaration_id: str, attempts: int, request: dict, answer: FilingAnswer, duration_ms: int) -> None:
    """Record the attempt and what it means for the message (and, on a refusal, for its declaration)."""
    now = config.now()
    async with runtime.db.transaction() as session:
        exchange = ExchangeRepository(session)
        await exchange.add_exchange({
            "message_guid": guid, "attempt": attempts, "at": now, "endpoint": answer.endpoint,
            "request_body": answer.request_body, "response_status": answer.status_code,
            "response_body": answer.response_body, "error": (answer.error or "")[:512] or None,
            "duration_ms": duration_ms,
        })
        with structlog.contextvars.bound_contextvars(declaration_id=declaration_id, message_guid=guid):
            if answer.accepted:
                await exchange.settle(guid, state="sent", attempts=attempts, next_attempt_at=now, last_error=None,
                                      sent_at=now)
                SENT.labels(message_type).inc()
                log.info("message.sent", message_type=message_type, attempts=attempts)
            elif answer.retryable:
                delay = backoff(attempts, maximum=config.gateway.backoff_max_s)
                await exchange.settle(guid, state="queued", attempts=attempts,
                                      next_attempt_at=now + timedelta(seconds=delay),
                                      last_error=(answer.error or "")[:512] or None, sent_at=None)
                FAILED.labels(answer.reason).inc()
                log.warning("message.retry", message_type=message_type, attempts=attempts, retry_in_s=round(delay, 1),
                            reason=answer.reason, status_code=answer.status_code)
            else:
                await exchange.settle(guid, state="refused", attempts=attempts, next_attempt_at=now,
                                      last_error=(answer.error or "")[:512] or None, sent_at=None)
                REFUSED.labels(message_type).inc()
                log.warning("message.refused", message_type=message_type, status_code=answer.status_code,
                            error=(answer.error or "")[:200])
                if purpose in ("declaration", "order"):
                    await _back_to_broker(runtime, config, session, declaration_id, guid, answer, now=now)


async def _back_to_broker(runtime: ServiceRuntime, config: CustomsConfig, session, declaration_id: str, guid: str,
                          answer: FilingAnswer, *, now: datetime) -> None:
    """The authority refused the filing at its gate (the message itself is wrong): a broker must amend and file
    again. Only while the declaration is still waiting on that filing."""
    repo = DeclarationRepository(session)
    declaration = await repo.get(declaration_id)
    if declaration is None or declaration.status not in FILED_STATUSES or declaration.last_receipt_code is not None:
        return
    finding = Finding(code="filing_refused", severity="high", fields=[],
                      message=f"the customs authority refused message {guid}: {answer.error or answer.status_code}"
                              [:512])
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
    gateway = HttpAuthorityAdapter(settings.authority_url, timeout_s=settings.timeout_s)
    log.info("gateway.started", authority_url=settings.authority_url)
    try:
        while not stop.is_set():
            try:
                sent = await send_due(runtime, config, gateway)
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
        await gateway.close()
