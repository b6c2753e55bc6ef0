"""Downstream events about an order as customs and postal publish them, and a way to put them on the real broker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from shared.contract.envelope import Envelope
from shared.contract.events import (
    DeclarationCancellationRefused,
    DeclarationCancelled,
    DeclarationFiled,
    DeclarationHeld,
    DeclarationRejected,
    DeclarationReleased,
    DeclarationReturned,
    Event,
    ParcelDelivered,
    ParcelHandedOff,
    ParcelTracking,
    WaybillIssued,
    WaybillVoided,
)
from shared.contract.parcel import Party

TRACKING_NUMBER = "CP123456785CN"


def at(minutes: float) -> datetime:
    """`minutes` from now: events carry the time they happened, whatever order they arrive in."""
    return datetime.now(UTC) + timedelta(minutes=minutes)


def _declaration(order_id: str, minutes: float, **fields: Any) -> dict[str, Any]:
    return {"declaration_id": f"dcl_{order_id[-12:]}", "order_id": order_id, "channel": "mail",
            "occurred_at": at(minutes), **fields}


def filed(order_id: str, minutes: float = 2) -> DeclarationFiled:
    return DeclarationFiled(**_declaration(order_id, minutes, status="accepted", ceb_code=120, form="CN23",
                                           value_cny=Decimal("128.05")))


def held(order_id: str, minutes: float = 3, *, reason: str = "manual review: vague description",
         status: str = "manual_review", ceb_code: int = 300) -> DeclarationHeld:
    return DeclarationHeld(**_declaration(order_id, minutes, status=status, ceb_code=ceb_code, reason=reason))


def released(order_id: str, minutes: float = 4) -> DeclarationReleased:
    return DeclarationReleased(**_declaration(order_id, minutes, status="released", ceb_code=800, form="CN23",
                                              value_cny=Decimal("128.05")))


def rejected(order_id: str, minutes: float = 4, *, reason: str = "prohibited goods: HS chapter 93") -> DeclarationRejected:
    return DeclarationRejected(**_declaration(order_id, minutes, status="rejected", ceb_code=100, reason=reason,
                                              reason_code="prohibited"))


def declaration_cancelled(order_id: str, minutes: float = 6) -> DeclarationCancelled:
    return DeclarationCancelled(**_declaration(order_id, minutes, status="cancelled", ceb_code=899,
                                               reason="cancelled by the merchant"))


def cancellation_refused(order_id: str, minutes: float = 6, *,
                         reason: str = "released already: the release stays on record") -> DeclarationCancellationRefused:
    return DeclarationCancellationRefused(**_declaration(order_id, minutes, status="released", ceb_code=800,
                                                         reason=reason))


def returned(order_id: str, minutes: float = 12, *, reason: str = "return approved") -> DeclarationReturned:
    return DeclarationReturned(**_declaration(order_id, minutes, channel="ecommerce", status="returned", ceb_code=700,
                                              reason=reason, quota_restored_cny=Decimal("208.51")))


def waybill_issued(order_id: str, minutes: float = 1, *, tracking_number: str = TRACKING_NUMBER) -> WaybillIssued:
    consignee = Party(name="Aigerim Nurlanovna", phone="+7 727 123 4567", address="Abay Avenue 52", country="KZ")
    return WaybillIssued(order_id=order_id, merchant_order_no="MAIL-2026-0001", tracking_number=tracking_number,
                         channel="mail", carrier="KZPOST", consignee=consignee, issued_at=at(minutes))


def waybill_voided(order_id: str, minutes: float = 7, *, tracking_number: str = TRACKING_NUMBER) -> WaybillVoided:
    return WaybillVoided(order_id=order_id, tracking_number=tracking_number, reason="order cancelled",
                         voided_at=at(minutes))


def handed_off(order_id: str, minutes: float = 5, *, tracking_number: str = TRACKING_NUMBER) -> ParcelHandedOff:
    return ParcelHandedOff(order_id=order_id, tracking_number=tracking_number, carrier="KZPOST",
                           receptacle_id="CNKHGAKZALAAAUN60001001101000150", dispatch_id="dsp_1",
                           handed_off_at=at(minutes))


def tracking(order_id: str, minutes: float = 6, *, status: str = "in_transit", code: str = "EMC",
             tracking_number: str = TRACKING_NUMBER) -> ParcelTracking:
    return ParcelTracking(order_id=order_id, tracking_number=tracking_number, code=code, status=status,
                          description="left outward office", location="Kashgar", occurred_at=at(minutes))


def delivered(order_id: str, minutes: float = 9, *, tracking_number: str = TRACKING_NUMBER) -> ParcelDelivered:
    return ParcelDelivered(order_id=order_id, tracking_number=tracking_number, delivered_at=at(minutes),
                           location="Almaty")


async def publish(runtime: Any, event: Event, *, envelope: Envelope | None = None,
                  msg_id: str | None = None) -> Envelope:
    """Publish an event (or a given envelope again) to its service's stream on the real nats-server."""
    await runtime.bus.wait_ready()
    order_id = event.order_id
    envelope = envelope or Envelope.wrap(event, subject=order_id, correlation_id=f"corr-{order_id}")
    await runtime.bus.js.publish(envelope.type, envelope.to_bytes(), headers={"Nats-Msg-Id": msg_id or envelope.id})
    return envelope
