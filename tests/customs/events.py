"""Builders for the events customs consumes, on top of the domain factories (one consistent parcel)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from shared.contract.events import OrderAccepted, OrderCancelled, PaymentRecorded, WaybillIssued
from shared.contract.parcel import Parcel
from tests.customs.domain.factories import line, parcel, party, payment, sender


def new_order_id() -> str:
    return f"ord_{uuid.uuid4().hex[:24]}"


def accepted(order_id: str, parcel_: Parcel | None = None, **parcel_overrides: Any) -> OrderAccepted:
    """order.accepted for an e-commerce 9610 import of one T-shirt (100 CNY) unless told otherwise."""
    the_parcel = parcel_ or parcel(merchant_order_no=f"SO-{order_id[-8:]}", **parcel_overrides)
    return OrderAccepted(order_id=order_id, merchant_code="M-KASHGAR", accepted_at=datetime.now(UTC),
                         parcel=the_parcel)


def paid(order_id: str, **payment_overrides: Any) -> PaymentRecorded:
    return PaymentRecorded(order_id=order_id, merchant_code="M-KASHGAR", payment=payment(**payment_overrides))


def s10(serial: int, prefix: str = "CP", country: str = "CN") -> str:
    """A UPU S10 item id with its check digit (DOMAIN.md §3): what postal issues for a mail item."""
    digits = f"{serial % 10**8:08d}"
    check = 11 - sum(int(d) * w for d, w in zip(digits, (8, 6, 4, 2, 3, 5, 9, 7), strict=True)) % 11
    return f"{prefix}{digits}{ {10: 0, 11: 5}.get(check, check)}{country}"


def waybill_for(order: OrderAccepted, **overrides: Any) -> WaybillIssued:
    number = s10(uuid.uuid4().int) if order.parcel.channel == "mail" else f"LN{uuid.uuid4().hex[:10].upper()}"
    values: dict[str, Any] = dict(
        order_id=order.order_id, merchant_order_no=order.parcel.merchant_order_no,
        tracking_number=number, channel=order.parcel.channel, carrier="SFX",
        consignee=order.parcel.consignee, issued_at=datetime.now(UTC),
    )
    values.update(overrides)
    return WaybillIssued(**values)


def cancelled(order_id: str, reason: str = "customer changed their mind") -> OrderCancelled:
    return OrderCancelled(order_id=order_id, merchant_code="M-KASHGAR", reason=reason, cancelled_at=datetime.now(UTC))


def mail(order_id: str, **overrides: Any) -> OrderAccepted:
    """A mail import, evaluated at once (no three-document match)."""
    values: dict[str, Any] = dict(channel="mail", trade_mode=None, mail_product="parcel")
    values.update(overrides)
    return accepted(order_id, **values)


def express(order_id: str, **overrides: Any) -> OrderAccepted:
    values: dict[str, Any] = dict(channel="express", trade_mode=None, carrier="SFX")
    values.update(overrides)
    return accepted(order_id, **values)


def undervalued_line(**overrides: Any):
    """A T-shirt at 5 CNY against a reference of 60: a high finding, so the declaration is held for review."""
    values: dict[str, Any] = dict(unit_price=Decimal("5"), total_price=Decimal("5"))
    values.update(overrides)
    return line(**values)


def green_held(order_id: str) -> OrderAccepted:
    """Dried apricots from KZ (green lane), undervalued, so it waits in the queue."""
    apricots = line(name="Dried apricots", hs_code="0813100000", unit_price=Decimal("1"), total_price=Decimal("1"),
                    net_weight_kg=Decimal("1"), origin_country="KZ")
    return mail(order_id, lines=[apricots], goods_value=Decimal("1"), amount_paid=Decimal("1"))


def held(order_id: str, channel: str = "mail") -> OrderAccepted:
    """A standard-lane declaration held for manual review (undervaluation)."""
    builder = {"mail": mail, "express": express}[channel]
    return builder(order_id, lines=[undervalued_line()], goods_value=Decimal("5"), amount_paid=Decimal("5"))


__all__ = ["accepted", "cancelled", "express", "green_held", "held", "mail", "new_order_id", "paid", "party",
           "sender", "undervalued_line", "waybill_for"]


async def documents_at_least(customs, order_id: str, expected: int) -> bool:
    """Whether customs keeps at least `expected` documents of the order (for `eventually`)."""
    return len(await customs.documents(order_id)) >= expected


async def publish_with_documents(customs, order: OrderAccepted) -> None:
    """The order, then the parties' documents as they would come: the payment company's (e-commerce) and
    postal's waybill (every channel files with its tracking number)."""
    await customs.publish(order, subject=order.order_id)
    if order.parcel.channel == "ecommerce":
        await customs.publish(paid(order.order_id), subject=order.order_id)
    await customs.publish(waybill_for(order), subject=order.order_id)
