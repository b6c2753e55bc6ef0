"""Events and parcels for postal tests: one builder per event postal consumes."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from shared.contract.events import (
    DeclarationRejected,
    DeclarationReleased,
    OrderAccepted,
    OrderCancelled,
    WaybillRecorded,
)
from shared.contract.parcel import Parcel

SENDER = {"name": "Kashgar Dried Fruit Co", "phone": "+86 998 1234567", "address": "1 Bazaar Rd", "city": "Kashgar",
          "country": "CN"}
CONSIGNEE = {"name": "Aigerim N.", "phone": "+7 727 1234567", "address": "5 Abay Ave", "city": "Almaty",
             "postal_code": "050000", "country": "KZ"}


def parcel(channel: str = "mail", *, product: str | None = "parcel", carrier: str | None = None,
           weight: str = "1.000", country: str = "KZ", merchant_order_no: str = "MO-1", **extra: Any) -> Parcel:
    """A valid order of any channel; `weight` is the gross weight in kg."""
    body: dict[str, Any] = {
        "merchant_order_no": merchant_order_no,
        "channel": channel,
        "direction": "export",
        "mail_product": product if channel == "mail" else None,
        "carrier": carrier if carrier is not None else ("SGX" if channel == "express" else None),
        "trade_mode": "9610" if channel == "ecommerce" else None,
        "sender": SENDER,
        "consignee": {**CONSIGNEE, "country": country},
        "lines": [{"line_no": 1, "sku": "APR-1", "name": "Dried apricots", "hs_code": "0813100000", "quantity": "2",
                   "unit_price": "30.00", "total_price": "60.00", "currency": "CNY", "origin_country": "CN",
                   "net_weight_kg": "0.800"}],
        "currency": "CNY",
        "goods_value": "60.00",
        "amount_paid": "60.00",
        "gross_weight_kg": weight,
        **extra,
    }
    return Parcel.model_validate(body)


def accepted(order_id: str, channel: str = "mail", **parcel_options: Any) -> OrderAccepted:
    parcel_options.setdefault("merchant_order_no", f"MO-{order_id}")
    return OrderAccepted(order_id=order_id, merchant_code="M1", accepted_at=datetime.now(UTC),
                         parcel=parcel(channel, **parcel_options))


def released(order_id: str, channel: str = "mail", form: str = "CN23") -> DeclarationReleased:
    return DeclarationReleased(declaration_id=f"dcl_{order_id}", order_id=order_id, channel=channel,
                               status="released", ceb_code=800, occurred_at=datetime.now(UTC), form=form,
                               value_cny=Decimal("60.00"))


def rejected(order_id: str, channel: str = "mail") -> DeclarationRejected:
    return DeclarationRejected(declaration_id=f"dcl_{order_id}", order_id=order_id, channel=channel,
                               status="rejected", ceb_code=100, occurred_at=datetime.now(UTC),
                               reason="prohibited goods", reason_code="prohibited")


def cancelled(order_id: str) -> OrderCancelled:
    return OrderCancelled(order_id=order_id, merchant_code="M1", reason="customer changed their mind",
                          cancelled_at=datetime.now(UTC))


def waybill_recorded(order_id: str, logistics_no: str = "YT7890123456789", *, company: str = "YTO",
                     weight: str | None = "2.100", **consignee: Any) -> WaybillRecorded:
    """An external logistics company's waybill for an order that names it (orders publishes it)."""
    return WaybillRecorded(order_id=order_id, merchant_code="M1", merchant_order_no=f"MO-{order_id}",
                           logistics_code=company, logistics_name=f"{company} Express", logistics_no=logistics_no,
                           consignee={**CONSIGNEE, "name": "Aigerim Nurlanovna", **consignee},
                           freight=Decimal("12.00"), gross_weight_kg=Decimal(weight) if weight else None,
                           recorded_at=datetime.now(UTC))
