"""Order bodies for the benchmark: all three channels, distinct buyers, a share meant to be held by customs; and the
payment provider's payments of the e-commerce ones, sent as a real provider does (its own key, in batches)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from services.orders.domain.identity import resident_id_check_char


def resident_id(n: int) -> str:
    """A valid GB 11643 number per buyer, so no two parcels look like one buyer splitting purchases."""
    body = f"110105{1960 + n % 40:04d}{1 + n % 12:02d}{1 + n % 28:02d}{n % 1000:03d}"
    return body + resident_id_check_char(body)


def _line(name: str, hs: str, price: str, qty: int, currency: str, origin: str, kg: str) -> dict:
    return {"line_no": 1, "sku": f"SKU-{hs[:4]}", "name": name, "hs_code": hs, "quantity": str(qty), "unit": "PCE",
            "unit_price": price, "total_price": f"{float(price) * qty:.2f}", "currency": currency,
            "origin_country": origin, "net_weight_kg": kg}


def order_body(n: int, run: str, *, held: bool) -> dict:
    """Order number n of the run; channel by n mod 3; `held` gives it a vague description (manual review)."""
    kashgar = {"name": "Kashgar Trading", "phone": "+86 998 2821234", "address": "12 Silk Road, Kashgar", "country": "CN"}
    channel = ("mail", "express", "ecommerce")[n % 3]
    name = "Gift" if held else None
    if channel == "mail":
        line = _line(name or "Dried apricots", "081310", "6.50", 2, "USD", "CN", "0.8")
        extra = {"mail_product": "parcel", "direction": "export",
                 "consignee": {"name": f"Buyer {n}", "phone": f"+7 727 {n % 10_000_000:07d}",
                               "address": f"{n} Abay Ave, Almaty", "country": "KZ"}}
    elif channel == "express":
        line = _line(name or "Silk scarf", "621410", "45.00", 1, "EUR", "CN", "0.3")
        extra = {"carrier": "SGX", "direction": "export",
                 "consignee": {"name": f"Kunde {n}", "phone": f"+49 30 {n % 10_000_000:07d}",
                               "address": f"Torstr. {n}, Berlin", "country": "DE"}}
    else:
        line = _line(name or "Cashmere sweater", "6110120000", "380.00", 1, "CNY", "MN", "0.4")
        rid = resident_id(n)
        consignee = {"name": f"Buyer {n}", "phone": f"+86 138 {n % 100_000_000:08d}",
                     "address": f"{n} Chang'an Ave, Beijing", "country": "CN", "id_type": "resident_id", "id_number": rid}
        extra = {"trade_mode": "9610", "direction": "import", "consignee": consignee,
                 "sender": {"name": "UB Cashmere", "phone": "+976 11 321234", "address": "Peace Ave 17, Ulaanbaatar",
                            "country": "MN"},
                 "payment": {"payer_name": consignee["name"], "payer_id_type": "resident_id", "payer_id_number": rid,
                             "provider": "Alipay", "transaction_id": f"BENCH{run}{n}", "amount": line["total_price"],
                             "currency": "CNY", "paid_at": datetime.now(UTC).isoformat()}}
    return {"merchant_order_no": f"B{run}-{n}", "channel": channel, "sender": kashgar, "lines": [line],
            "currency": line["currency"], "goods_value": line["total_price"], "amount_paid": line["total_price"],
            **extra}


def is_held(n: int, share: float, seed: int = 7) -> bool:
    return random.Random(seed * 1_000_003 + n).random() < share


def payment_items(bodies: list[dict], results: list[dict]) -> list[dict]:
    """The payment provider's batch items for the e-commerce orders of an accepted batch (`results` as
    POST /v1/orders/batch answers, in the order of `bodies`): each order's claim is what the provider reports."""
    return [{"order_id": result["order"]["id"], "payment": body["payment"]}
            for body, result in zip(bodies, results, strict=True)
            if result.get("status") == 201 and body.get("payment") is not None]
