"""Waybills from external logistics companies (CEB511): the third document of an e-commerce parcel the merchant
has them carry (`Parcel.logistics_company`).

A logistics company's key (role `logistics`, owner = its partner code) records the waybill of an order of a merchant
bound to it that names the company as its carrier; any other order is a 404, as if it did not exist. The waybill's
logistics number becomes the parcel's tracking number: `waybill.recorded` goes to customs (the document) and to
postal, which adopts the number instead of issuing one. The answer is a receipt, never the order. Nothing here
commits.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from services.orders import parties_repository as repository
from services.orders import repository as orders_repository
from services.orders.domain.documents import PartnerView
from services.orders.domain.reference import COUNTRY_CODES
from services.orders.domain.validation import Violation, id_violations
from services.orders.models import Order, WaybillRecord
from services.orders.recording import timeline_entry
from services.orders.schemas import WaybillIn, WaybillReceipt
from shared.contract.events import WaybillRecorded
from shared.contract.parcel import Parcel
from shared.errors import Conflict, NotFound, invalid_input_from
from shared.outbox import Outbox

log = structlog.get_logger()

CLOSED_STATUSES = frozenset({"cancelled", "rejected"})


def new_waybill_id() -> str:
    return f"wbr_{uuid.uuid4().hex[:24]}"


def waybill_violations(waybill: WaybillIn) -> list[Violation]:
    """The consignee's country is an ISO code and its ID, when given, is whole and passes its check."""
    violations = []
    if waybill.consignee.country not in COUNTRY_CODES:
        violations.append(Violation("consignee.country", "country_unknown",
                                    f"{waybill.consignee.country} is not an ISO 3166-1 country code"))
    violations += id_violations("consignee", waybill.consignee.id_type, waybill.consignee.id_number, prefix="")
    return violations


def _receipt(record: WaybillRecord | dict[str, Any]) -> dict[str, Any]:
    values = record if isinstance(record, dict) else {c.key: getattr(record, c.key)
                                                      for c in WaybillRecord.__table__.columns}
    return WaybillReceipt(id=values["id"], order_id=values["order_id"], logistics_code=values["logistics_code"],
                          logistics_no=values["logistics_no"], status="recorded",
                          recorded_at=values["recorded_at"]).model_dump(mode="json")


async def record_waybill(session: AsyncSession, outbox: Outbox, *, company: PartnerView | None, order_id: str,
                         waybill: WaybillIn, now: datetime) -> tuple[int, dict[str, Any]]:
    """Record the company's waybill of an order it carries; (201, receipt), or (200, receipt) for the same waybill
    sent again. 404 for an order it may not act on, 409 for another waybill or a number in use, 422 for bad data."""
    order = None
    if company is not None:
        order = await repository.lock_order_for_logistics(session, partner_code=company.code, order_id=order_id)
    if company is None or order is None or Parcel.model_validate(order.parcel).logistics_company != company.code:
        raise NotFound(f"No order {order_id}", code="order_not_found")
    violations = waybill_violations(waybill)
    if violations:
        raise invalid_input_from([{"field": v.field, "code": v.code, "message": v.message} for v in violations])
    document = waybill.model_dump(mode="json")
    existing = await repository.waybill_of(session, order.id)
    if existing is not None:
        if existing.document == document:
            log.info("waybill.record_repeated", order_id=order.id, logistics_no=existing.logistics_no)
            return 200, _receipt(existing)
        raise Conflict(f"Order {order.id} already has a waybill", code="waybill_already_recorded")
    if order.status in CLOSED_STATUSES:
        raise Conflict(f"Order {order.id} is {order.status}: nothing to carry", code="order_not_shippable")
    if await repository.logistics_no_taken(session, waybill.logistics_no):
        raise Conflict(f"Logistics number {waybill.logistics_no} is another parcel's", code="logistics_no_taken",
                       field="logistics_no")
    return 201, await _record(session, outbox, order, company, waybill, document, now)


async def _record(session: AsyncSession, outbox: Outbox, order: Order, company: PartnerView, waybill: WaybillIn,
                  document: dict[str, Any], now: datetime) -> dict[str, Any]:
    values = {"id": new_waybill_id(), "order_id": order.id, "logistics_code": company.code,
              "logistics_no": waybill.logistics_no, "document": document, "recorded_at": now}
    await repository.insert_waybill(session, values)
    event = WaybillRecorded(order_id=order.id, merchant_code=order.merchant_code,
                            merchant_order_no=order.merchant_order_no, logistics_code=company.code,
                            logistics_name=company.name, logistics_no=waybill.logistics_no,
                            consignee=waybill.consignee, freight=waybill.freight, insured_fee=waybill.insured_fee,
                            gross_weight_kg=waybill.gross_weight_kg, recorded_at=now)
    envelope = await outbox.add(session, event, subject=order.id, correlation_id=order.correlation_id)
    await orders_repository.insert_order_events(session, [timeline_entry(order.id, event, envelope.id, now=now)])
    await repository.touch_order(session, order.id, now)
    log.info("waybill.recorded", order_id=order.id, logistics_code=company.code, logistics_no=waybill.logistics_no,
             correlation_id=order.correlation_id)
    return _receipt(values)
