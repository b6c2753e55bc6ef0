"""Orders as the documents see them, built from the orders tests' parcel factories."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.orders.paper.content import OrderPaper
from services.orders.paper.documents import render
from services.orders.paper.fonts import fonts_for
from shared.contract.parcel import Parcel
from tests.orders.domain.factories import party

CHINESE_CONSIGNEE = party(name="张伟", address="新疆维吾尔自治区喀什市人民路12号3单元501室", city="喀什市",
                          postal_code="844000", country="CN", phone="13812345678")
CHINESE_NAME, CHINESE_ADDRESS = CHINESE_CONSIGNEE["name"], CHINESE_CONSIGNEE["address"]


def paper(body: dict[str, Any], **overrides: Any) -> OrderPaper:
    fields = {"order_id": "ord_3f9c2a7be1d04c6a8e5f0b12", "merchant_order_no": body["merchant_order_no"],
              "created_at": datetime(2026, 3, 1, 10, 15, tzinfo=UTC), "status": "awaiting_clearance",
              "tracking_number": "CP123456785CN", "parcel": Parcel.model_validate(body), "customs_form": None,
              "carrier": "CNPOST", **overrides}
    return OrderPaper(**fields)


def pdf_of(document: str, *papers: OrderPaper, font: str = "STSong-Light") -> bytes:
    content, _ = render(document, list(papers), fonts_for(font))
    return content
