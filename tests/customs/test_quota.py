"""The annual quota (DOMAIN.md §7) against the database: one quota per person, reserved on filing, given back on
rejection, cancellation and return within 30 days, never passed by declarations filed together."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from services.customs.domain.quota import quota_year
from services.customs.intake import request_return
from services.customs.repository import DeclarationRepository
from services.customs.repository_quota import QuotaRepository
from services.customs.service import outbox_emitter
from tests.customs.domain.factories import line, party
from tests.customs.events import accepted, mail, new_order_id
from tests.support import POSTGRES_URL


def _pin(customs, when: datetime) -> None:
    customs.clock.offset = when - datetime.now(UTC)


def _worth(value: str, **overrides) -> dict:
    return dict(lines=[line(quantity=Decimal("10"), unit_price=Decimal(value) / 10, total_price=Decimal(value))],
                goods_value=Decimal(value), amount_paid=Decimal(value), **overrides)


async def _ecommerce(customs, value: str, **overrides):
    return await customs.file(accepted(new_order_id(), **_worth(value, **overrides)))


async def _reserved(customs, buyer_key: str, year: int) -> int:
    async with customs.runtime.db.reader() as session:
        return await QuotaRepository(session).quota_reserved(buyer_key=buyer_key, year=year)


async def test_filing_reserves_the_value_and_the_sixth_parcel_over_26000_is_held(customs):
    _pin(customs, datetime(2025, 3, 1, 9, tzinfo=UTC))
    for _ in range(5):
        declaration = await _ecommerce(customs, "4500")  # each under 5,000; a day apart, so no split purchase
        assert declaration.status == "filed" and declaration.quota_reserved_fen == 450000
        customs.clock.advance(hours=25)
    assert await _reserved(customs, declaration.buyer_key, 2025) == 2_250_000
    sixth = await _ecommerce(customs, "4500")  # 22,500 + 4,500 = 27,000 > 26,000 (DOMAIN.md §7)
    assert sixth.status == "held" and sixth.quota_reserved_fen is None
    async with customs.runtime.db.reader() as session:
        codes = [f.code for f in await DeclarationRepository(session).findings(sixth.id)]
    assert codes == ["annual_limit_exceeded"]


async def test_pending_declarations_count_once_filed_not_only_once_released(customs):
    """Issue 13 finding 3: only released declarations counted, so several pending ones passed together."""
    first = await _ecommerce(customs, "4900")
    assert first.status == "filed"  # filed, not released: its value is reserved all the same
    for _ in range(4):
        customs.clock.advance(hours=25)
        assert (await _ecommerce(customs, "4900")).status == "filed"
    customs.clock.advance(hours=25)
    assert (await _ecommerce(customs, "4900")).status == "held"  # 6 × 4,900 > 26,000


async def test_one_quota_per_person_whatever_the_phone_or_the_name(customs):
    """Issue 13 finding 3: a buyer without an ID was keyed by name + phone (three phones → three quotas)."""
    keys = set()
    for phone in ("+86 138 0013 8000", "+86 139 0000 0001", "+86 137 0000 0002"):
        customs.clock.advance(hours=25)
        declaration = await _ecommerce(customs, "4000", consignee=party(phone=phone))
        keys.add(declaration.buyer_key)
    assert len(keys) == 1
    assert await _reserved(customs, keys.pop(), quota_year(customs.config.now())) == 1_200_000
    no_id = await customs.file(accepted(new_order_id(), consignee=party(id_type=None, id_number=None)))
    assert no_id.status == "held" and no_id.quota_reserved_fen is None


async def test_the_quota_runs_by_the_calendar_year_in_china(customs):
    _pin(customs, datetime(2024, 6, 1, 9, tzinfo=UTC))
    for _ in range(5):
        assert (await _ecommerce(customs, "4500")).status == "filed"
        customs.clock.advance(hours=25)
    # 16:30 UTC on 31 December is 00:30 on 1 January in China: the 22,500 CNY of 2024 no longer count.
    _pin(customs, datetime(2024, 12, 31, 16, 30, tzinfo=UTC))
    assert (await _ecommerce(customs, "4500")).status == "filed"


async def test_a_rejection_or_cancellation_gives_the_quota_back(customs):
    broker = await customs.key()
    declaration = await _ecommerce(customs, "5000")
    year = quota_year(customs.config.now())
    assert await _reserved(customs, declaration.buyer_key, year) == 500000
    declaration = await customs.answer(declaration, 100)
    assert declaration.status == "authority_rejected"
    assert await _reserved(customs, declaration.buyer_key, year) == 500000  # kept while a broker may file again
    await customs.client.post(f"/v1/declarations/{declaration.id}/claim", headers=broker)
    reject = await customs.client.post(f"/v1/declarations/{declaration.id}/reject", headers=broker,
                                       json={"reason_code": "misdeclared_goods"})
    assert reject.status_code == 200
    assert await _reserved(customs, declaration.buyer_key, year) == 0


async def test_a_return_within_30_days_of_release_gives_the_quota_back(customs):
    returned = await customs.answer(await _ecommerce(customs, "3000"), 120, 800)
    late = await customs.answer(await _ecommerce(customs, "2000"), 120, 800)
    year = quota_year(customs.config.now())
    assert await _reserved(customs, returned.buyer_key, year) == 500000
    await _request_return(customs, returned.order_id)
    return_message = (await customs.messages(returned.id))[-1]
    assert (return_message.message_type, return_message.purpose) == ("CEB625", "return")
    returned = await customs.answer(returned, 700, purpose="return")
    assert returned.status == "returned"
    [event] = await customs.wait_published(returned.order_id, "declaration.returned")
    assert Decimal(event.data["quota_restored_cny"]) == Decimal("3000.00")
    assert await _reserved(customs, returned.buyer_key, year) == 200000
    customs.clock.advance(days=31)  # past the window: returned, but the quota stays used
    await _request_return(customs, late.order_id)
    late = await customs.answer(late, 700, purpose="return")
    assert late.status == "returned" and await _reserved(customs, late.buyer_key, year) == 200000


async def _request_return(customs, order_id: str) -> None:
    async with customs.runtime.db.transaction() as session:
        await request_return(DeclarationRepository(session), customs.config, order_id=order_id,
                             reason="refund after return", emit=outbox_emitter(customs.runtime.outbox, session))


async def test_split_purchase_only_counts_the_same_buyer_inside_the_window(customs):
    _pin(customs, datetime(2025, 3, 1, 9, tzinfo=UTC))
    six_hundred = _worth("600")
    assert (await customs.file(mail(new_order_id(), **six_hundred))).status == "filed"
    customs.clock.advance(hours=25)
    assert (await customs.file(mail(new_order_id(), **six_hundred))).status == "filed"  # the first is outside 24 h
    third = await customs.file(mail(new_order_id(), **six_hundred))
    assert third.status == "held"  # 600 + 600 = 1,200 > 1,000 within 24 h, each under


@pytest.mark.skipif(not POSTGRES_URL, reason="concurrent writers need PostgreSQL (SQLite has one writer)")
async def test_concurrent_filings_of_one_buyer_never_pass_the_limit_together(customs):
    """Issue 13: concurrent declarations of one buyer cannot together pass the limit — ten transactions at once,
    each reserving 4,900 CNY of 26,000: five get through, whichever they are."""
    declarations = [await customs.file(accepted(new_order_id(), **_worth("4900")), documents=False)
                    for _ in range(10)]
    year, now = quota_year(customs.config.now()), customs.config.now()

    async def reserve(declaration) -> bool:
        async with customs.runtime.db.transaction() as session:
            return await QuotaRepository(session).reserve_quota(
                buyer_key=declaration.buyer_key, year=year, fen=490000, limit_fen=2_600_000, now=now)

    granted = await asyncio.gather(*(reserve(d) for d in declarations))
    assert sum(granted) == 5
    assert await _reserved(customs, declarations[0].buyer_key, year) == 2_450_000
