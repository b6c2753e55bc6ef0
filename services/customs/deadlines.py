"""The documents deadline (DOMAIN.md §6): a declaration still missing its payment or waybill after
the configured time goes to the brokers' queue as documents_missing, with the missing documents as its reason.
A broker may ask for them again, cancel or reject it — never file it without them."""

from __future__ import annotations

import asyncio

import structlog

from services.customs.filing import documents_for, evaluate
from services.customs.models import Declaration
from services.customs.repository import DeclarationRepository
from services.customs.service import (
    SYSTEM,
    CustomsConfig,
    Emitter,
    StaleDeclaration,
    as_findings,
    outbox_emitter,
    parcel_of,
    status_event,
    transition,
)
from shared.contract.events import Finding
from shared.logging import safe_error
from shared.runtime import ServiceRuntime

log = structlog.get_logger()


async def refer_overdue(repo: DeclarationRepository, config: CustomsConfig, *, emit: Emitter) -> int:
    """Send every overdue declaration (up to a batch) to the brokers as documents_missing; returns how many moved."""
    now = config.now()
    moved = 0
    for declaration in await repo.overdue_awaiting_documents(now=now, limit=config.deadline_batch_size):
        with structlog.contextvars.bound_contextvars(declaration_id=declaration.id, order_id=declaration.order_id,
                                                     correlation_id=declaration.correlation_id):
            try:
                async with repo.session.begin_nested():
                    moved += await _refer(repo, config, declaration, emit=emit)
            except StaleDeclaration:
                # A document arrived (or a replica acted) at the same moment: that transaction decided.
                log.info("declaration.deadline_skipped", reason="changed concurrently")
    return moved


async def _refer(repo: DeclarationRepository, config: CustomsConfig, declaration: Declaration, *,
                 emit: Emitter) -> int:
    now = config.now()
    match = documents_for(declaration, parcel_of(declaration), await repo.match_documents(declaration.order_id),
                          config)
    if not match.missing:
        # Everything is here after all (an evaluation that failed earlier): decide on the documents instead.
        await evaluate(repo, config, declaration, emit=emit)
        return 1
    reason = f"documents_missing: {', '.join(match.missing)}"
    # High: a control, not a risk to weigh — nothing is filed without its documents (domain.controls).
    finding = Finding(code="documents_missing", severity="high",
                      message=f"{', '.join(match.missing)} not received within "
                              f"{config.policy.document_deadline_minutes} minutes",
                      fields=[f"documents.{name}" for name in match.missing])
    await transition(repo, declaration, action="documents_overdue", actor=SYSTEM, now=now,
                     reason_code="documents_missing", note=reason)
    await repo.add_findings(declaration.id, [finding], source="documents", now=now)
    await emit(status_event(declaration, now=now, actor=SYSTEM, reason=reason,
                            findings=as_findings(await repo.findings(declaration.id))), declaration)
    log.info("declaration.held", status=declaration.status, ceb_code=declaration.ceb_code, reason=reason)
    return 1


async def documents_deadline_worker(runtime: ServiceRuntime, stop: asyncio.Event) -> None:
    """Every few seconds, hand overdue declarations to the brokers; safe with replicas (SKIP LOCKED + versioned
    updates)."""
    config: CustomsConfig = runtime.extras["customs"]
    log.info("deadline_worker.started", interval_s=config.deadline_check_interval_s)
    while not stop.is_set():
        try:
            moved = config.deadline_batch_size
            while moved >= config.deadline_batch_size and not stop.is_set():
                async with runtime.db.transaction() as session:
                    moved = await refer_overdue(DeclarationRepository(session), config,
                                                emit=outbox_emitter(runtime.outbox, session))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the worker must outlive a database outage
            log.warning("deadline_worker.error", error=safe_error(exc))
        try:
            await asyncio.wait_for(stop.wait(), timeout=config.deadline_check_interval_s)
        except TimeoutError:
            pass
