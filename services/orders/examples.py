"""Request and response examples shown in the OpenAPI document (/docs): one realistic parcel per channel."""

from __future__ import annotations

import copy
from typing import Any

_PAYMENT = {
    "payer_name": "Wang Fang",
    "payer_id_type": "resident_id",
    "payer_id_number": "11010519491231002X",
    "provider": "Alipay",
    "transaction_id": "2026030122001400001234567890",
    "amount": "208.51",
    "currency": "CNY",
    "paid_at": "2026-03-01T10:15:00+08:00",
}

ECOMMERCE_PARCEL: dict[str, Any] = {
    "merchant_order_no": "ECOM-2026-0001",
    "channel": "ecommerce",
    "direction": "import",
    "trade_mode": "9610",
    "sender": {
        "name": "Almaty Honey LLP",
        "phone": "+7 727 123 4567",
        "address": "Abay Avenue 52, apt. 14",
        "city": "Almaty",
        "postal_code": "050000",
        "country": "KZ",
    },
    "consignee": {
        "name": "Wang Fang",
        "phone": "13812345678",
        "address": "Room 1203, Building 5, Jianwai SOHO, Chaoyang District",
        "city": "Beijing",
        "postal_code": "100022",
        "country": "CN",
        "id_type": "resident_id",
        "id_number": "11010519491231002X",
    },
    "lines": [
        {"line_no": 1, "sku": "HONEY-500", "name": "Mountain honey 500 g", "hs_code": "0409000000",
         "quantity": "2", "unit": "PCE", "unit_price": "68.00", "total_price": "136.00", "currency": "CNY",
         "origin_country": "KZ", "net_weight_kg": "1.000"},
        {"line_no": 2, "sku": "BISC-300", "name": "Butter biscuits 300 g", "hs_code": "1905310000",
         "quantity": "3", "unit": "PCE", "unit_price": "15.90", "total_price": "47.70", "currency": "CNY",
         "origin_country": "KZ", "net_weight_kg": "0.900"},
    ],
    "currency": "CNY",
    "goods_value": "183.70",
    "freight": "12.00",
    "tax": "17.81",
    "discount": "5.00",
    "amount_paid": "208.51",
    "payment": _PAYMENT,
}

MAIL_PARCEL: dict[str, Any] = {
    "merchant_order_no": "MAIL-2026-0001",
    "channel": "mail",
    "direction": "export",
    "mail_product": "parcel",
    "sender": {"name": "Kashgar Silk Road Trading Co., Ltd.", "phone": "+86 998 282 1234",
               "address": "No. 8 Free Trade Zone Road, Kashgar", "country": "CN"},
    "consignee": {"name": "Aigerim Nurlanovna", "phone": "+7 727 123 4567", "address": "Abay Avenue 52, apt. 14",
                  "city": "Almaty", "postal_code": "050000", "country": "KZ"},
    "lines": [
        {"line_no": 1, "sku": "SHIRT-COT-M", "name": "Men's cotton shirt", "hs_code": "620520", "quantity": "2",
         "unit_price": "45.50", "total_price": "91.00", "currency": "CNY", "origin_country": "CN",
         "net_weight_kg": "0.400"},
    ],
    "currency": "CNY",
    "goods_value": "91.00",
    "freight": "30.00",
    "amount_paid": "121.00",
}

EXPRESS_PARCEL: dict[str, Any] = {
    "merchant_order_no": "EXP-2026-0001",
    "channel": "express",
    "direction": "export",
    "carrier": "DHL",
    "contents_type": "merchandise",
    "sender": MAIL_PARCEL["sender"],
    "consignee": {"name": "Jonas Weber", "phone": "+49 30 1234567", "address": "Torstraße 101", "city": "Berlin",
                  "postal_code": "10119", "country": "DE"},
    "lines": [
        {"line_no": 1, "sku": "PHONE-X1", "name": "Smartphone", "hs_code": "8517130000", "quantity": "1",
         "unit_price": "199.99", "total_price": "199.99", "currency": "EUR", "origin_country": "CN",
         "net_weight_kg": "0.210"},
    ],
    "currency": "EUR",
    "goods_value": "199.99",
    "freight": "25.00",
    "insurance": "5.00",
    "amount_paid": "224.99",
}

PARCEL_EXAMPLES = {
    "ecommerce": {"summary": "E-commerce 9610 import, with the order's claim about its payment",
                  "value": ECOMMERCE_PARCEL},
    "ecommerce_external_logistics": {
        "summary": "E-commerce import carried by an external logistics company (it sends the waybill)",
        "value": {**ECOMMERCE_PARCEL, "merchant_order_no": "ECOM-2026-0002", "logistics_company": "YTO"}},
    "mail": {"summary": "Mail parcel (CN23) export", "value": MAIL_PARCEL},
    "express": {"summary": "Express export with a carrier", "value": EXPRESS_PARCEL},
}

PAYMENT_EXAMPLE = {**_PAYMENT}

_TIMELINE = [
    {"type": "silkgate.orders.order.accepted.v1", "title": "Order ECOM-2026-0001 accepted",
     "occurred_at": "2026-03-01T02:16:04.120000Z"},
    {"type": "silkgate.postal.waybill.issued.v1", "title": "Tracking number EC100000017CN issued",
     "occurred_at": "2026-03-01T02:16:04.380000Z"},
    {"type": "silkgate.customs.declaration.filed.v1",
     "title": "Customs declaration filed (e-commerce inventory list, trade mode 9610)",
     "occurred_at": "2026-03-01T02:16:04.410000Z"},
    {"type": "silkgate.customs.declaration.held.v1", "title": "Held by customs: manual review: value near limit",
     "occurred_at": "2026-03-01T02:16:04.450000Z"},
]

ORDER_SUMMARY_EXAMPLE: dict[str, Any] = {
    "id": "ord_3f9c2a7be1d04c6a8e5f0b12",
    "merchant_code": "KSG-HONEY",
    "merchant_order_no": "ECOM-2026-0001",
    "channel": "ecommerce",
    "direction": "import",
    "status": "on_hold",
    "tracking_number": "EC100000017CN",
    "customs_status": "manual_review",
    "customs_ceb_code": 300,
    "status_reason": "manual review: value near limit",
    "correlation_id": "9b1f0c5e7d2a4e43a1c8f6b3d0e2a9c4",
    "created_at": "2026-03-01T02:16:04.120000Z",
    "updated_at": "2026-03-01T02:16:04.450000Z",
}

ACCEPTED_ORDER_EXAMPLE: dict[str, Any] = {
    **ORDER_SUMMARY_EXAMPLE,
    "status": "accepted",
    "tracking_number": None,
    "customs_status": None,
    "customs_ceb_code": None,
    "status_reason": None,
    "updated_at": "2026-03-01T02:16:04.120000Z",
    "payment": None,
    "parcel": ECOMMERCE_PARCEL,
    "timeline": _TIMELINE[:1],
}

ORDER_EXAMPLE: dict[str, Any] = {
    **ORDER_SUMMARY_EXAMPLE, "payment": PAYMENT_EXAMPLE, "parcel": ECOMMERCE_PARCEL, "timeline": _TIMELINE,
}

CANCELLED_ORDER_EXAMPLE: dict[str, Any] = {
    **ACCEPTED_ORDER_EXAMPLE,
    "status": "cancelled",
    "status_reason": "buyer changed their mind",
    "timeline": [
        *_TIMELINE[:1],
        {"type": "silkgate.orders.order.cancelled.v1", "title": "Cancellation requested: buyer changed their mind",
         "occurred_at": "2026-03-01T02:20:11.000000Z"},
    ],
}

ORDER_PAGE_EXAMPLE = {"data": [ORDER_SUMMARY_EXAMPLE], "has_more": True, "next_cursor": ORDER_SUMMARY_EXAMPLE["id"]}


def problem(status: int, code: str, title: str, detail: str, *, field: str | None = None,
            errors: list[dict[str, str]] | None = None, instance: str = "/v1/orders") -> dict[str, Any]:
    """A problem+json body as the error handler writes it."""
    body: dict[str, Any] = {"type": f"https://silkgate.dev/problems/{code}", "title": title, "status": status,
                            "code": code, "detail": detail, "instance": instance}
    if field:
        body["field"] = field
    if errors:
        body["errors"] = errors
    return body


VALIDATION_PROBLEM = problem(
    422, "hs_code_invalid_length", "Invalid input", "China declares 10-digit HS codes", field="lines[0].hs_code",
    errors=[
        {"field": "lines[0].hs_code", "code": "hs_code_invalid_length", "message": "China declares 10-digit HS codes"},
        {"field": "amount_paid", "code": "amount_paid_mismatch",
         "message": "amount paid 200.00 is not goods value + freight + tax - discount = 208.51"},
    ],
)
DUPLICATE_PROBLEM = problem(409, "duplicate_merchant_order_no", "Conflict",
                            "Merchant order number ECOM-2026-0001 already exists", field="merchant_order_no")
REUSE_PROBLEM = problem(409, "idempotency_key_reuse", "Conflict",
                        "This Idempotency-Key was used with a different request", field="Idempotency-Key")
KEY_REQUIRED_PROBLEM = problem(422, "idempotency_key_required", "Invalid input",
                               "Send an Idempotency-Key header", field="Idempotency-Key")
BACKLOG_PROBLEM = problem(429, "backlog_full", "Too many requests",
                          "Intake is paused while 20412 events wait downstream; retry after 2 s")
NOT_FOUND_PROBLEM = problem(404, "order_not_found", "Not found", "No order ord_3f9c2a7be1d04c6a8e5f0b12",
                            instance="/v1/orders/ord_3f9c2a7be1d04c6a8e5f0b12")
TOO_LARGE_PROBLEM = problem(413, "body_too_large", "Request body too large",
                            "Request body is larger than 1000000 bytes")

BATCH_REQUEST_EXAMPLE = {"orders": [MAIL_PARCEL, {**EXPRESS_PARCEL, "carrier": None}]}
BATCH_RESPONSE_EXAMPLE = {
    "created": 1,
    "failed": 1,
    "results": [
        {"index": 0, "status": 201, "order": {**ORDER_SUMMARY_EXAMPLE, "merchant_order_no": "MAIL-2026-0001",
                                              "channel": "mail", "direction": "export", "status": "accepted",
                                              "tracking_number": None, "customs_status": None,
                                              "customs_ceb_code": None, "status_reason": None}, "problem": None},
        {"index": 1, "status": 422, "order": None,
         "problem": problem(422, "carrier_required", "Invalid input", "an express parcel needs a carrier",
                            field="carrier", errors=[{"field": "carrier", "code": "carrier_required",
                                                      "message": "an express parcel needs a carrier"}])},
    ],
}

API_KEY_EXAMPLE = {
    "id": "5c1e0a9f3b7d2e41",
    "prefix": "sg_merchant_",
    "role": "merchant",
    "owner": "KSG-HONEY",
    "name": "Honey shop ERP",
    "created_at": "2026-03-01T02:00:00Z",
    "revoked_at": None,
    "active": True,
}

PARTNER_EXAMPLE = {
    "code": "ALIPAY",
    "kind": "payment",
    "name": "Alipay",
    "uscc": "91350100M000100Y43",
    "active": True,
    "merchants": ["KSG-HONEY"],
    "created_at": "2026-03-01T01:00:00Z",
    "updated_at": "2026-03-01T01:00:00Z",
}
PAYMENT_RECEIPT_EXAMPLE = {
    "id": "pay_8e2d4c6a0b1f4e3a9c7d5b21",
    "order_id": "ord_3f9c2a7be1d04c6a8e5f0b12",
    "provider": "ALIPAY",
    "transaction_id": _PAYMENT["transaction_id"],
    "amount": "208.51",
    "currency": "CNY",
    "status": "recorded",
    "recorded_at": "2026-03-01T02:18:00Z",
}
PAYMENT_BATCH_EXAMPLE = {"payments": [{"order_id": "ord_3f9c2a7be1d04c6a8e5f0b12", "payment": _PAYMENT},
                                      {"order_id": "ord_0000000000000000000000", "payment": _PAYMENT}]}
PAYMENT_BATCH_RESPONSE_EXAMPLE = {
    "recorded": 1,
    "replayed": 0,
    "failed": 1,
    "results": [
        {"index": 0, "order_id": "ord_3f9c2a7be1d04c6a8e5f0b12", "status": 201, "payment": PAYMENT_RECEIPT_EXAMPLE,
         "problem": None},
        {"index": 1, "order_id": "ord_0000000000000000000000", "status": 404, "payment": None,
         "problem": problem(404, "order_not_found", "Not found", "No order ord_0000000000000000000000",
                            instance="/v1/payments/batch")},
    ],
}
WAYBILL_EXAMPLE = {
    "logistics_no": "YT7890123456789",
    "consignee": ECOMMERCE_PARCEL["consignee"],
    "freight": "12.00",
    "insured_fee": "0.00",
    "gross_weight_kg": "2.100",
}
WAYBILL_RECEIPT_EXAMPLE = {
    "id": "wbr_1a2b3c4d5e6f7a8b9c0d1e2f",
    "order_id": "ord_3f9c2a7be1d04c6a8e5f0b12",
    "logistics_code": "YTO",
    "logistics_no": "YT7890123456789",
    "status": "recorded",
    "recorded_at": "2026-03-01T02:17:00Z",
}


def responses(*entries: tuple[int, str, dict[str, Any]]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` with one example each: (status, description, example); errors as problem+json."""
    out: dict[int | str, dict[str, Any]] = {}
    for status, description, example in entries:
        media = "application/json" if status < 400 else "application/problem+json"
        out[status] = {"description": description, "content": {media: {"example": copy.deepcopy(example)}}}
    return out
