"""Facts for the message builders: one valid filing per channel and direction, and the identities that sign."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import Any

from services.customs.messages import Declarant, FilingFacts, FilingLine
from shared.ceb.signing import SigningIdentity
from shared.certificates import make_pair
from shared.contract.parcel import OrderLine, Parcel, Party, Payment

AT = datetime(2026, 3, 1, 2, 21, 13, 250000, tzinfo=UTC)  # 10:21:13.250 in China
DECLARANT = Declarant()

BUYER = Party(name="Li Wei", phone="+86 138 0013 8000", address="1 Renmin Rd, Kashgar", city="Kashgar",
              country="CN", id_type="resident_id", id_number="11010519491231002X", email="li.wei@example.cn")
SELLER_KZ = Party(name="Almaty Dried Fruit", phone="+7 727 250 0000", address="12 Abay Ave", city="Almaty",
                  country="KZ")
MERCHANT_CN = Party(name="Kashgar Dried Fruit", phone="+86 998 2821234", address="12 Silk Road", city="Kashgar",
                    country="CN")
ABROAD = Party(name="Jonas Weber", phone="+49 30 1234567", address="Torstr. 1", city="Berlin", postal_code="10119",
               country="DE")


@cache
def identity() -> SigningIdentity:
    return SigningIdentity(*make_pair("silkgate customs test"))


@cache
def other_identity() -> SigningIdentity:
    return SigningIdentity(*make_pair("someone else"))


def line(number: int = 1, **overrides: Any) -> OrderLine:
    values: dict[str, Any] = {"line_no": number, "sku": f"APR-{number}", "name": "dried apricots",
                              "hs_code": "0813100000", "quantity": Decimal(2), "unit": "KGM",
                              "unit_price": Decimal("45.50"), "total_price": Decimal("91.00"), "currency": "CNY",
                              "origin_country": "KZ", "net_weight_kg": Decimal("2.000")}
    values.update(overrides)
    return OrderLine(**values)


def parcel(**overrides: Any) -> Parcel:
    lines = overrides.pop("lines", None) or [line(1), line(2, sku="FIG-2", name="dried figs", hs_code="0804200000",
                                                          quantity=Decimal(1), unit_price=Decimal("30.00"),
                                                          total_price=Decimal("30.00"), net_weight_kg=Decimal(1))]
    goods = sum((item.total_price for item in lines), Decimal(0))
    values: dict[str, Any] = {
        "merchant_order_no": "MO-2026-0001", "channel": "ecommerce", "direction": "import", "trade_mode": "9610",
        "sender": SELLER_KZ, "consignee": BUYER, "lines": lines, "currency": "CNY", "goods_value": goods,
        "freight": Decimal("10.00"), "tax": Decimal("11.01"), "discount": Decimal("5.00"),
        "amount_paid": goods + Decimal("10.00") + Decimal("11.01") - Decimal("5.00"),
        "payment": Payment(payer_name="Li Wei", payer_id_type="resident_id", payer_id_number="11010519491231002X",
                           provider="Alipay", transaction_id="2026030122001400001", amount=Decimal("137.01"),
                           currency="CNY", paid_at=AT),
    }
    values.update(overrides)
    return Parcel(**values)


def facts(p: Parcel | None = None, **overrides: Any) -> FilingFacts:
    p = p or parcel()
    values: dict[str, Any] = {
        "declaration_id": "dcl_0123456789abcdef01234567", "order_id": "ord_0123456789abcdef01234567",
        "app_type": 1, "app_time": AT, "channel": p.channel, "direction": p.direction, "merchant_code": "M001",
        "merchant_name": "Kashgar Dried Fruit", "parcel": p, "lines": tuple(FilingLine.from_order_line(x)
                                                                               for x in p.lines),
        "form": "inventory_list", "trade_mode": p.trade_mode, "tracking_number": "SGE000000017CN",
        "payment": p.payment, "pay_code": "3120080000", "pay_name": "Alipay", "tax_total": p.tax,
    }
    values.update(overrides)
    return FilingFacts(**values)


def export_facts(**overrides: Any) -> FilingFacts:
    p = parcel(direction="export", sender=MERCHANT_CN, consignee=ABROAD, tax=Decimal(0), discount=Decimal(0),
               amount_paid=Decimal("131.00"), payment=None,
               lines=[line(1, origin_country="CN"), line(2, sku="FIG-2", name="dried figs", hs_code="0804200000",
                                                         quantity=Decimal(1), unit_price=Decimal("30.00"),
                                                         total_price=Decimal("30.00"), origin_country="CN",
                                                         net_weight_kg=Decimal(1))])
    return facts(p, tax_total=Decimal(0), payment=None, pay_code=None, pay_name=None, **overrides)


def mail_facts(**overrides: Any) -> FilingFacts:
    p = parcel(channel="mail", direction="export", trade_mode=None, mail_product="parcel", contents_type="gift",
               sender=MERCHANT_CN, consignee=ABROAD, currency="USD", tax=Decimal(0), discount=Decimal(0),
               freight=Decimal("12.00"), payment=None, amount_paid=Decimal("42.00"),
               lines=[line(1, name="silk scarf", hs_code="621410", quantity=Decimal(1), unit="PCE",
                           unit_price=Decimal("30.00"), total_price=Decimal("30.00"), currency="USD",
                           origin_country="CN", net_weight_kg=Decimal("0.2"))])
    return facts(p, form="CN23", trade_mode=None, tracking_number="CP123456785CN", payment=None, pay_code=None,
                 pay_name=None, tax_total=Decimal(0), **overrides)


def express_facts(**overrides: Any) -> FilingFacts:
    base = mail_facts()
    p = base.parcel.model_copy(update={"channel": "express", "mail_product": None, "carrier": "SGX",
                                       "contents_type": "merchandise"})
    return replace(base, parcel=p, channel="express", form="express_C", tracking_number="SGX0000000019",
                   **overrides)
