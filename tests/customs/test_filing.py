"""Filing and evaluation against the database: what the pure rules need from a buyer's history."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from services.customs.repository import DeclarationRepository
from tests.customs.domain.factories import line
from tests.customs.events import accepted, mail, new_order_id, paid, waybill_for


def _pin(customs, when: datetime) -> None:
    customs.clock.offset = when - datetime.now(UTC)


async def _ecommerce(customs, value: str):
    order_id = new_order_id()
    order = accepted(order_id, lines=[line(quantity=Decimal("10"), total_price=Decimal(value))],
                     goods_value=Decimal(value), amount_paid=Decimal(value))
    await customs.file(order)
    await customs.attach(paid(order_id, amount=Decimal(value)))
    await customs.attach(waybill_for(order))
    return await customs.declaration(order_id)


async def test_the_buyers_annual_total_counts_released_ecommerce_imports_of_this_year(customs):
    _pin(customs, datetime(2025, 3, 1, 9, tzinfo=UTC))
    released = []
    for _ in range(5):
        declaration = await _ecommerce(customs, "4500")  # each under 5,000; a day apart, so no split purchase
        assert declaration.status == "released" and declaration.counts_towards_annual
        released.append(declaration)
        customs.clock.advance(hours=25)
    sixth = await _ecommerce(customs, "4500")  # 22,500 + 4,500 = 27,000 > 26,000 (DOMAIN.md §7)
    assert sixth.status == "manual_review"
    async with customs.runtime.db.reader() as session:
        codes = [f.code for f in await DeclarationRepository(session).findings(sixth.id)]
    assert codes == ["annual_limit_exceeded"]


async def test_the_annual_quota_runs_by_the_calendar_year_in_china(customs):
    _pin(customs, datetime(2024, 6, 1, 9, tzinfo=UTC))
    for _ in range(5):
        assert (await _ecommerce(customs, "4500")).status == "released"
        customs.clock.advance(hours=25)
    # 16:30 UTC on 31 December is 00:30 on 1 January in China: the 22,500 CNY of 2024 no longer count.
    _pin(customs, datetime(2024, 12, 31, 16, 30, tzinfo=UTC))
    assert (await _ecommerce(customs, "4500")).status == "released"


async def test_split_purchase_only_counts_the_same_buyer_inside_the_window(customs):
    _pin(customs, datetime(2025, 3, 1, 9, tzinfo=UTC))
    assert (await customs.file(mail(new_order_id(), lines=[line(quantity=Decimal("6"), total_price=Decimal("600"))],
                                    goods_value=Decimal("600"), amount_paid=Decimal("600")))).status == "released"
    customs.clock.advance(hours=25)
    later = await customs.file(mail(new_order_id(), lines=[line(quantity=Decimal("6"), total_price=Decimal("600"))],
                                    goods_value=Decimal("600"), amount_paid=Decimal("600")))
    assert later.status == "released"  # the first is outside the 24 h window
    third = await customs.file(mail(new_order_id(), lines=[line(quantity=Decimal("6"), total_price=Decimal("600"))],
                                    goods_value=Decimal("600"), amount_paid=Decimal("600")))
    assert third.status == "manual_review"  # 600 + 600 = 1,200 > 1,000 within 24 h, each under
