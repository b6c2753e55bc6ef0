"""The documents-deadline worker: declarations still missing documents go to the brokers, once, even with
replicas."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from services.customs.deadlines import refer_overdue
from services.customs.models import AuditEntry
from services.customs.repository import DeclarationRepository
from services.customs.service import outbox_emitter
from tests.customs.events import accepted, mail, new_order_id, paid

# The service's own worker sleeps for an hour after its first pass: these tests drive the sweeps themselves.
QUIET_WORKER = {"deadline_check_interval_s": 3600}


async def _sweep(customs) -> int:
    runtime = customs.runtime
    async with runtime.db.transaction() as session:
        return await refer_overdue(DeclarationRepository(session), customs.config,
                                   emit=outbox_emitter(runtime.outbox, session))


@pytest.mark.parametrize("customs_overrides", [QUIET_WORKER])
async def test_only_overdue_declarations_waiting_for_documents_move(customs):
    waiting = await customs.file(accepted(new_order_id()), documents=False)
    assert waiting.documents_deadline_at == waiting.opened_at + customs.config.documents_deadline
    filed = await customs.file(mail(new_order_id()))
    assert filed.status == "filed"
    customs.clock.advance(minutes=29)
    assert await _sweep(customs) == 0
    customs.clock.advance(minutes=2)
    assert await _sweep(customs) == 1
    moved = await customs.declaration(waiting.order_id)
    assert (moved.status, moved.needs_broker) == ("documents_missing", True)
    assert (await customs.declaration(filed.order_id)).status == "filed"
    assert await _sweep(customs) == 0
    [held] = await customs.wait_published(waiting.order_id, "declaration.held")
    assert held.data["reason"] == "documents_missing: payment, waybill"
    assert held.correlation_id == f"corr-{waiting.order_id}"


@pytest.mark.parametrize("customs_overrides", [{**QUIET_WORKER, "documents_deadline_minutes": 5}])
async def test_the_deadline_is_configurable(customs):
    order_id = new_order_id()
    await customs.file(accepted(order_id), documents=False)
    await customs.attach(paid(order_id))
    customs.clock.advance(minutes=6)
    assert await _sweep(customs) == 1
    [held] = await customs.wait_published(order_id, "declaration.held")
    assert held.data["reason"] == "documents_missing: waybill"


@pytest.mark.parametrize("customs_overrides", [QUIET_WORKER])
async def test_two_workers_at_once_refer_each_declaration_exactly_once(customs):
    declarations = [await customs.file(accepted(new_order_id()), documents=False) for _ in range(6)]
    customs.clock.advance(minutes=31)
    moved = await asyncio.gather(_sweep(customs), _sweep(customs), _sweep(customs))
    assert sum(moved) == 6
    async with customs.runtime.db.reader() as session:
        referrals = (await session.execute(
            select(AuditEntry.declaration_id, func.count()).where(AuditEntry.action == "documents_overdue")
            .group_by(AuditEntry.declaration_id))).all()
    assert sorted(referrals) == sorted((d.id, 1) for d in declarations)
    for declaration in declarations:
        assert len(await customs.wait_published(declaration.order_id, "declaration.held")) == 1
