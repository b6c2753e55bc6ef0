"""Valid parcels of each channel as JSON API bodies (strings for money, ISO timestamps).

Each factory returns a fresh dict that passes `Parcel.model_validate` and `validate_parcel` with no violation;
keyword overrides replace top-level fields. `party` and `order_line` build the nested parts.
"""

from __future__ import annotations

import copy
from typing import Any

# Real check-character vectors (GB 11643 worked example; a GB 32100 code), verified in test_identity.py.
RESIDENT_ID = "11010519491231002X"
USCC = "91350100M000100Y43"

_KASHGAR_MERCHANT = {
    "name": "Kashgar Silk Road Trading Co., Ltd.",
    "phone": "+86 998 282 1234",
    "address": "No. 8 Free Trade Zone Road, Kashgar Comprehensive Bonded Zone",
    "city": "Kashgar",
    "postal_code": "844000",
    "country": "CN",
    "email": "export@kashgar-silk.example",
    "id_type": "uscc",
    "id_number": USCC,
}


def party(**overrides: Any) -> dict[str, Any]:
    """A party in Almaty (KZ) without an ID; override any field."""
    base = {
        "name": "Aigerim Nurlanovna",
        "phone": "+7 727 123 4567",
        "address": "Abay Avenue 52, apt. 14",
        "city": "Almaty",
        "postal_code": "050000",
        "country": "KZ",
    }
    return {**base, **overrides}


def order_line(**overrides: Any) -> dict[str, Any]:
    """Line 1: two cotton shirts at 45.50 CNY (HS 620520, made in CN); override any field."""
    base = {
        "line_no": 1,
        "sku": "SHIRT-COT-M",
        "name": "Men's cotton shirt",
        "hs_code": "620520",
        "quantity": "2",
        "unit": "PCE",
        "unit_price": "45.50",
        "total_price": "91.00",
        "currency": "CNY",
        "origin_country": "CN",
        "net_weight_kg": "0.400",
    }
    return {**base, **overrides}


def mail_parcel(**overrides: Any) -> dict[str, Any]:
    """A postal parcel (CN23) exported from Kashgar to Almaty, two lines, no payment document."""
    base = {
        "merchant_order_no": "MAIL-2026-0001",
        "channel": "mail",
        "direction": "export",
        "mail_product": "parcel",
        "sender": _KASHGAR_MERCHANT,
        "consignee": party(),
        "lines": [
            order_line(),
            order_line(
                line_no=2,
                sku="BAG-LTH",
                name="Leather handbag",
                hs_code="42022100",
                quantity="3",
                unit_price="12.35",
                total_price="37.05",
                net_weight_kg="1.200",
            ),
        ],
        "currency": "CNY",
        "goods_value": "128.05",
        "freight": "30.00",
        "amount_paid": "158.05",
    }
    return _with(base, overrides)


def express_parcel(**overrides: Any) -> dict[str, Any]:
    """A DHL express shipment exported from Kashgar to Berlin in EUR, with insurance and a discount."""
    base = {
        "merchant_order_no": "EXP-2026-0001",
        "channel": "express",
        "direction": "export",
        "carrier": "DHL",
        "sender": _KASHGAR_MERCHANT,
        "consignee": party(
            name="Jonas Weber",
            phone="+49 30 1234567",
            address="Torstraße 101",
            city="Berlin",
            postal_code="10119",
            country="DE",
            email="jonas@example.de",
        ),
        "lines": [
            order_line(
                sku="PHONE-X1",
                name="Smartphone",
                hs_code="8517130000",
                quantity="1",
                unit_price="199.99",
                total_price="199.99",
                currency="EUR",
                net_weight_kg="0.210",
            ),
            order_line(
                line_no=2,
                sku="TEA-GRN-1KG",
                name="Green tea",
                hs_code="0902100000",
                quantity="2.500",
                unit="KGM",
                unit_price="18.40",
                total_price="46.00",
                currency="EUR",
                net_weight_kg="2.500",
            ),
        ],
        "currency": "EUR",
        "goods_value": "245.99",
        "freight": "25.00",
        "insurance": "5.00",
        "discount": "10.00",
        "amount_paid": "260.99",
        "gross_weight_kg": "3.100",
    }
    return _with(base, overrides)


def ecommerce_parcel(**overrides: Any) -> dict[str, Any]:
    """A 9610 B2C import from Almaty to Beijing in CNY: 10-digit HS codes, consignee resident ID, matching payment."""
    consignee = {
        "name": "Wang Fang",
        "phone": "13812345678",
        "address": "Room 1203, Building 5, Jianwai SOHO, Chaoyang District",
        "city": "Beijing",
        "postal_code": "100022",
        "country": "CN",
        "id_type": "resident_id",
        "id_number": RESIDENT_ID,
    }
    base = {
        "merchant_order_no": "ECOM-2026-0001",
        "channel": "ecommerce",
        "direction": "import",
        "trade_mode": "9610",
        "sender": party(name="Almaty Honey LLP", id_type="other", id_number="BIN 123456789012"),
        "consignee": consignee,
        "lines": [
            order_line(
                sku="HONEY-500",
                name="Mountain honey 500 g",
                hs_code="0409000000",
                quantity="2",
                unit_price="68.00",
                total_price="136.00",
                origin_country="KZ",
                net_weight_kg="1.000",
            ),
            order_line(
                line_no=2,
                sku="BISC-300",
                name="Butter biscuits 300 g",
                hs_code="1905310000",
                quantity="3",
                unit_price="15.90",
                total_price="47.70",
                origin_country="KZ",
                net_weight_kg="0.900",
            ),
        ],
        "currency": "CNY",
        "goods_value": "183.70",
        "freight": "12.00",
        "tax": "17.81",  # 9.1% of (183.70 + 12.00), DOMAIN.md §7
        "discount": "5.00",
        "amount_paid": "208.51",
        "payment": {
            "payer_name": "Wang Fang",
            "payer_id_type": "resident_id",
            "payer_id_number": RESIDENT_ID,
            "provider": "Alipay",
            "transaction_id": "2026030122001400001234567890",
            "amount": "208.51",
            "currency": "CNY",
            "paid_at": "2025-03-01T10:15:00+08:00",
        },
    }
    return _with(base, overrides)


def ecommerce_export_parcel(**overrides: Any) -> dict[str, Any]:
    """A 9610 B2C export (CEB603) from Kashgar to Almaty: 10-digit HS codes, no buyer ID needed abroad."""
    base = {
        "merchant_order_no": "ECOM-EXP-2026-0001",
        "channel": "ecommerce",
        "direction": "export",
        "trade_mode": "9610",
        "sender": _KASHGAR_MERCHANT,
        "consignee": party(),
        "lines": [order_line(hs_code="6205200010")],
        "currency": "CNY",
        "goods_value": "91.00",
        "freight": "10.00",
        "amount_paid": "101.00",
    }
    return _with(base, overrides)


def _with(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of base with the top-level overrides applied (so callers may mutate the result freely)."""
    return copy.deepcopy({**base, **overrides})
