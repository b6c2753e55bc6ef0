"""Builders for contract models with plausible defaults, so each test states only what it is about."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from shared.contract.events import WaybillIssued
from shared.contract.parcel import OrderLine, Parcel, Party, Payment

NOW = datetime(2025, 6, 18, 12, 0, tzinfo=UTC)


def party(**overrides: Any) -> Party:
    """A consignee in Kashgar with a resident ID."""
    values: dict[str, Any] = {
        "name": "Aynur Tursun",
        "phone": "+86 138 0013 8000",
        "address": "12 Renmin East Road, Apt 3",
        "city": "Kashgar",
        "postal_code": "844000",
        "country": "CN",
        "id_type": "resident_id",
        "id_number": "11010519491231002X",
    }
    return Party(**{**values, **overrides})


def sender(**overrides: Any) -> Party:
    """A sender in Almaty."""
    values: dict[str, Any] = {"name": "Aigerim Bekova", "phone": "+7 727 000 0000", "address": "5 Abay Ave",
                              "city": "Almaty", "country": "KZ"}
    return Party(**{**values, **overrides})


def line(**overrides: Any) -> OrderLine:
    """One cotton T-shirt at 100 CNY."""
    values: dict[str, Any] = {
        "line_no": 1, "sku": "TS-1", "name": "Cotton T-shirt", "hs_code": "6109100000", "quantity": Decimal("1"),
        "unit_price": Decimal("100"), "total_price": Decimal("100"), "currency": "CNY", "origin_country": "KZ",
        "net_weight_kg": Decimal("0.2"),
    }
    values.update(overrides)
    return OrderLine(**values)


def parcel(**overrides: Any) -> Parcel:
    """An e-commerce 9610 import of one T-shirt worth 100 CNY, paid in full."""
    values: dict[str, Any] = {
        "merchant_order_no": "SO-1001", "channel": "ecommerce", "direction": "import", "trade_mode": "9610",
        "sender": sender(), "consignee": party(), "lines": [line()], "currency": "CNY",
        "goods_value": Decimal("100"), "amount_paid": Decimal("100"),
    }
    values.update(overrides)
    return Parcel(**values)


def payment(**overrides: Any) -> Payment:
    """The consignee's payment of 100 CNY."""
    values: dict[str, Any] = {
        "payer_name": "Aynur Tursun", "payer_id_type": "resident_id", "payer_id_number": "11010519491231002X",
        "provider": "alipay", "transaction_id": "T-1", "amount": Decimal("100"), "currency": "CNY", "paid_at": NOW,
    }
    values.update(overrides)
    return Payment(**values)


def waybill(**overrides: Any) -> WaybillIssued:
    """The logistics company's waybill for SO-1001 to the same consignee."""
    values: dict[str, Any] = {
        "order_id": "ord-1", "merchant_order_no": "SO-1001", "tracking_number": "LN0001", "channel": "ecommerce",
        "carrier": "SFX", "consignee": party(), "issued_at": NOW,
    }
    values.update(overrides)
    return WaybillIssued(**values)
