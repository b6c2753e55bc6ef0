"""Queries about the other parties of an order: the partner registry (payment providers, logistics companies and
the merchants they serve), the payments providers recorded and the waybills logistics companies recorded."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import bindparam, delete, exists, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from services.orders.models import Merchant, Order, Partner, PartnerMerchant, PaymentRecord, WaybillRecord
from shared.bulk import update_many
from shared.db import bucketed

_orders = Order.__table__
_partners = Partner.__table__
_bindings = PartnerMerchant.__table__
_payments = PaymentRecord.__table__
_waybills = WaybillRecord.__table__


def _dialect(session: AsyncSession) -> Any:
    return postgresql if session.bind.dialect.name == "postgresql" else sqlite


# ── the registry ──────────────────────────────────────────────────────────────


async def get_partner(session: AsyncSession, code: str) -> Partner | None:
    return await session.get(Partner, code, populate_existing=True)


async def list_partners(session: AsyncSession, *, kind: str | None, merchant_code: str | None) -> list[Partner]:
    """Partners by code; of one kind, or bound to one merchant, when asked."""
    query = select(Partner).order_by(Partner.code)
    if kind is not None:
        query = query.where(Partner.kind == kind)
    if merchant_code is not None:
        query = query.where(exists().where(_bindings.c.partner_code == Partner.code,
                                           _bindings.c.merchant_code == merchant_code))
    return list((await session.scalars(query)).all())


async def insert_partner(session: AsyncSession, values: dict[str, Any]) -> bool:
    """Register a partner; False when its code is taken (the primary key decides, even between racing requests)."""
    statement = _dialect(session).insert(_partners).values(**values).on_conflict_do_nothing(index_elements=["code"])
    return (await session.execute(statement)).rowcount == 1


async def update_partner(session: AsyncSession, code: str, values: dict[str, Any]) -> None:
    await session.execute(update(_partners).where(_partners.c.code == code).values(**values))


async def merchants_of(session: AsyncSession, codes: Iterable[str]) -> dict[str, list[str]]:
    """The merchant codes bound to each partner, sorted."""
    ids = sorted(set(codes))
    found: dict[str, list[str]] = {code: [] for code in ids}
    if not ids:
        return found
    query = (select(_bindings.c.partner_code, _bindings.c.merchant_code)
             .where(_bindings.c.partner_code.in_(ids)).order_by(_bindings.c.partner_code, _bindings.c.merchant_code))
    for partner_code, merchant_code in (await session.execute(query)).all():
        found[partner_code].append(merchant_code)
    return found


async def merchant_exists(session: AsyncSession, code: str) -> bool:
    return (await session.execute(select(exists().where(Merchant.code == code)))).scalar_one()


async def bind(session: AsyncSession, *, partner_code: str, merchant_code: str, created_at: datetime) -> bool:
    """Bind a partner to a merchant; False when it was bound already."""
    statement = (_dialect(session).insert(_bindings)
                 .values(partner_code=partner_code, merchant_code=merchant_code, created_at=created_at)
                 .on_conflict_do_nothing(index_elements=["partner_code", "merchant_code"]))
    return (await session.execute(statement)).rowcount == 1


async def unbind(session: AsyncSession, *, partner_code: str, merchant_code: str) -> bool:
    """Unbind a partner from a merchant; False when it was not bound."""
    statement = delete(_bindings).where(_bindings.c.partner_code == partner_code,
                                        _bindings.c.merchant_code == merchant_code)
    return (await session.execute(statement)).rowcount == 1


def _serves(partner_code: Any, kind: str, merchant_code: Any) -> Any:
    """The condition: an active partner of `kind` with this code is bound to this merchant."""
    return exists().where(_bindings.c.partner_code == partner_code, _bindings.c.merchant_code == merchant_code,
                          _partners.c.code == _bindings.c.partner_code, _partners.c.kind == kind,
                          _partners.c.active.is_(True))


async def bound_partners(session: AsyncSession, *, merchant_code: str, kind: str, codes: Iterable[str]) -> set[str]:
    """Of these partner codes, the active partners of `kind` bound to the merchant."""
    wanted = sorted(set(codes))
    if not wanted:
        return set()
    query = select(_bindings.c.partner_code).join(_partners, _partners.c.code == _bindings.c.partner_code).where(
        _bindings.c.merchant_code == merchant_code, _bindings.c.partner_code.in_(wanted), _partners.c.kind == kind,
        _partners.c.active.is_(True))
    return set((await session.scalars(query)).all())


# ── orders a partner acts on ─────────────────────────────────────────────────


class PayableOrder(NamedTuple):
    """An order as a payment provider's request needs it, with the payment recorded for it, if any."""

    id: str
    merchant_code: str
    status: str
    correlation_id: str
    payment_id: str | None
    provider_code: str | None
    document: dict[str, Any] | None
    recorded_at: datetime | None


_LOCK_PAYABLE = (
    select(_orders.c.id, _orders.c.merchant_code, _orders.c.status, _orders.c.correlation_id, _payments.c.id,
           _payments.c.provider_code, _payments.c.document, _payments.c.recorded_at)
    .select_from(_orders.outerjoin(_payments, _payments.c.order_id == _orders.c.id))
    .where(_orders.c.id.in_(bindparam("order_ids", expanding=True)),
           _serves(bindparam("partner_code"), "payment", _orders.c.merchant_code))
    .order_by(_orders.c.id)
    .with_for_update(of=_orders)
)


async def lock_payable_orders(session: AsyncSession, *, partner_code: str,
                              order_ids: Iterable[str]) -> dict[str, PayableOrder]:
    """The orders of merchants this payment provider serves, by id, row-locked in id order (like every multi-order
    lock, so they never wait on each other in a cycle); another merchant's order is simply not there."""
    ids = sorted(set(order_ids))
    if not ids:
        return {}
    rows = await session.execute(_LOCK_PAYABLE, {"order_ids": bucketed(ids), "partner_code": partner_code})
    return {row[0]: PayableOrder(*row) for row in rows.all()}


async def lock_order_for_logistics(session: AsyncSession, *, partner_code: str, order_id: str) -> Order | None:
    """The order if the logistics company serves its merchant, row-locked; else None."""
    query = (select(Order).where(Order.id == order_id, _serves(partner_code, "logistics", Order.merchant_code))
             .with_for_update(of=_orders).execution_options(populate_existing=True))
    return (await session.scalars(query)).first()


# ── payments ──────────────────────────────────────────────────────────────────

_INSERT_PAYMENTS = insert(_payments)


async def insert_payments(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(_INSERT_PAYMENTS, rows)


async def set_orders_payment(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Each order's payment document and updated_at ({"id", "payment", "updated_at"}), in one statement."""
    if rows:
        await session.run_sync(lambda sync_session: update_many(sync_session, _orders, "id", rows))


# ── waybills of external logistics companies ──────────────────────────────────


async def waybill_of(session: AsyncSession, order_id: str) -> WaybillRecord | None:
    return (await session.scalars(select(WaybillRecord).where(WaybillRecord.order_id == order_id))).first()


async def logistics_no_taken(session: AsyncSession, logistics_no: str) -> bool:
    return (await session.execute(select(exists().where(_waybills.c.logistics_no == logistics_no)))).scalar_one()


async def insert_waybill(session: AsyncSession, values: dict[str, Any]) -> None:
    await session.execute(insert(_waybills).values(**values))


async def touch_order(session: AsyncSession, order_id: str, updated_at: datetime) -> None:
    await session.execute(update(_orders).where(_orders.c.id == order_id).values(updated_at=updated_at))

