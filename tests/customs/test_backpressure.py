"""Back-pressure from the exchange with the authority (services/customs/backpressure.py): past the bound of
declarations waiting on the authority, customs' consumer of the orders stream pauses; it resumes below the resume
fraction; broker work and closed declarations do not count."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import update

from services.customs.backpressure import paused_after
from services.customs.models import Declaration
from services.customs.repository import DeclarationRepository
from services.customs.repository_exchange import ExchangeRepository
from tests.support import eventually

T0 = datetime(2025, 3, 1, 9, tzinfo=UTC)
WATCHED = {"exchange_backlog_max": 2, "exchange_backlog_resume": 0.5, "exchange_backlog_poll_s": 0.05,
           "deadline_check_interval_s": 3600}


@pytest.mark.parametrize(("waiting", "paused", "expected"), [
    (0, False, False), (2, False, False), (3, False, True),  # pauses only past the bound
    (3, True, True), (2, True, True), (1, True, True), (0, True, False),  # resumes only below half of it
])
def test_intake_pauses_past_the_bound_and_resumes_below_its_resume_fraction(waiting, paused, expected):
    assert paused_after(waiting, paused=paused, bound=2, resume_fraction=0.5) is expected


def test_a_bound_of_zero_never_pauses():
    assert paused_after(10**6, paused=True, bound=0, resume_fraction=0.8) is False


def _declaration(n: int, status: str) -> Declaration:
    return Declaration(
        id=f"dcl_bp_{n}", order_id=f"ord_bp_{n}", merchant_code="M-KASHGAR", merchant_order_no=f"SO-{n}",
        channel="mail", direction="export", form="postal", trade_mode=None, lane="standard", lane_rank=1,
        status=status, ceb_code=2, value_cny=Decimal("10"), taxable_value_cny=Decimal("10"),
        counts_towards_annual=False, buyer_key="buyer-1", parcel={}, correlation_id=f"corr-{n}",
        awaiting_documents=False, needs_broker=False, filings=1, opened_at=T0, version=1, updated_at=T0)


async def _add(customs, *declarations: Declaration) -> None:
    async with customs.runtime.db.transaction() as session:
        for declaration in declarations:
            await DeclarationRepository(session).insert_declaration(declaration, [])


async def _set_status(customs, declaration_id: str, status: str) -> None:
    async with customs.runtime.db.transaction() as session:
        await session.execute(update(Declaration).where(Declaration.id == declaration_id).values(status=status))


@pytest.mark.parametrize("customs_overrides", [WATCHED])
async def test_only_declarations_waiting_on_the_authority_count_and_the_count_stops_at_its_limit(customs):
    waiting = ["filed", "accepted", "review_concluded"]
    not_waiting = ["pending_documents", "held", "manual_review", "inspection", "detained", "authority_rejected",
                   "released", "rejected", "cancelled", "closed"]
    await _add(customs, *(_declaration(n, status) for n, status in enumerate(waiting + not_waiting)))
    async with customs.runtime.db.reader() as session:
        assert await ExchangeRepository(session).awaiting_authority(up_to=100) == 3
        assert await ExchangeRepository(session).awaiting_authority(up_to=2) == 2


@pytest.mark.parametrize("customs_overrides", [WATCHED])
async def test_the_orders_consumer_pauses_while_the_exchange_is_full_and_resumes_when_it_drains(customs):
    runtime = customs.runtime
    orders = next(c for c in runtime.consumers if c.source_service == "orders")
    postal = next(c for c in runtime.consumers if c.source_service == "postal")
    assert orders.paused is not None and not orders.paused()
    await _add(customs, *(_declaration(n, "filed") for n in range(3)))  # 3 > 2: full
    await eventually(orders.paused)
    assert postal.paused is None  # the declarations already open still get their waybills
    await _set_status(customs, "dcl_bp_0", "released")  # 2 left: not below half of the bound yet
    await _set_status(customs, "dcl_bp_1", "manual_review")  # 1 left: a broker's now, the authority's no more
    await _set_status(customs, "dcl_bp_2", "accepted")
    await asyncio.sleep(0.3)  # six counts later: one waiting is not below half of the bound, still paused
    assert orders.paused()
    await _set_status(customs, "dcl_bp_2", "released")  # 0 < 1: resumes
    await eventually(lambda: not orders.paused())
