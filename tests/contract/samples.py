"""One valid instance of every event type, for round trips and schema checks."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from shared.contract import events as ev
from shared.contract.parcel import OrderLine, Parcel, Party, Payment

AT = datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)
CONSIGNEE = Party(name="Li Wei", phone="+86 138 0013 8000", address="1 Renmin Rd", city="Hangzhou", country="CN",
                  id_type="resident_id", id_number="11010519491231002X")
SENDER = Party(name="Atelier Nord", phone="+33 1 23 45 67 89", address="3 rue de la Paix", country="FR")
PAYMENT = Payment(payer_name="Li Wei", provider="alipay", transaction_id="TX-1", amount=Decimal("120.50"),
                  currency="CNY", paid_at=AT)
PARCEL = Parcel(
    merchant_order_no="NORD-1001", channel="ecommerce", direction="import", trade_mode="9610",
    sender=SENDER, consignee=CONSIGNEE, currency="CNY", goods_value=Decimal("110.50"), freight=Decimal(10),
    amount_paid=Decimal("120.50"), payment=PAYMENT,
    lines=[OrderLine(line_no=1, sku="SCARF-01", name="wool scarf", hs_code="6117101000", quantity=Decimal(1),
                     unit_price=Decimal("110.50"), total_price=Decimal("110.50"), currency="CNY",
                     origin_country="FR", net_weight_kg=Decimal("0.250"))],
)
_DECLARATION: dict[str, Any] = {"declaration_id": "D-1", "order_id": "O-1", "channel": "ecommerce", "occurred_at": AT}
# 120.50 CNY taxable (goods + freight) at the B2C composite rate: VAT 13% × 70% = 10.97, no duty (DOMAIN.md §7).
_TAX_BILL = ev.TaxBill(tax_no="TX2025031400001", invt_no="I-1", taxable_value_cny=Decimal("120.50"),
                       vat_cny=Decimal("10.97"), total_cny=Decimal("10.97"), issued_at=AT,
                       lines=[ev.TaxBillLine(line_no=1, hs_code="6117101000", taxable_value_cny=Decimal("120.50"),
                                             vat_cny=Decimal("10.97"))])
_FINDING = ev.Finding(code="value.low", severity="medium", message="declared value below market", fields=["value"])

SAMPLES: dict[type[ev.Event], ev.Event] = {
    sample.__class__: sample
    for sample in [
        ev.OrderAccepted(order_id="O-1", merchant_code="NORD", accepted_at=AT, parcel=PARCEL),
        ev.OrderCancelled(order_id="O-1", merchant_code="NORD", reason="buyer changed mind", cancelled_at=AT),
        ev.PaymentRecorded(order_id="O-1", merchant_code="NORD", payment=PAYMENT, provider_code="ALIPAY"),
        ev.WaybillRecorded(order_id="O-1", merchant_code="NORD", merchant_order_no="NORD-1001", logistics_code="YTO",
                           logistics_name="YTO Express", logistics_no="YT7890123456789", consignee=CONSIGNEE,
                           freight=Decimal(10), insured_fee=Decimal("0.50"), gross_weight_kg=Decimal("0.400"),
                           recorded_at=AT),
        ev.OrderReturnRequested(order_id="O-1", merchant_code="NORD", reason="wrong size", requested_at=AT),
        ev.DeclarationFiled(**_DECLARATION, status="accepted", ceb_code=120, form="inventory_list", trade_mode="9610",
                            value_cny=Decimal("110.50")),
        ev.DeclarationHeld(**_DECLARATION, status="manual_review", ceb_code=300, reason="value check", lane="green",
                           findings=[_FINDING], form="inventory_list"),
        ev.DeclarationReleased(**_DECLARATION, status="released", ceb_code=800, form="inventory_list",
                               value_cny=Decimal("110.50"), tax_cny=Decimal("10.97"), tax_bill=_TAX_BILL),
        ev.DeclarationRejected(**_DECLARATION, status="rejected", ceb_code=100, reason="prohibited goods",
                               reason_code="prohibited", findings=[_FINDING], decided_by="broker-7"),
        ev.DeclarationCancelled(**_DECLARATION, status="cancelled", ceb_code=899, reason="order cancelled"),
        ev.DeclarationCancellationRefused(**_DECLARATION, status="released", ceb_code=800, reason="already released"),
        ev.DeclarationFiledV2(**_DECLARATION, status="filed", ceb_code=2, form="inventory_list", trade_mode="9610",
                              value_cny=Decimal("110.50")),
        ev.DeclarationHeldV2(**_DECLARATION, status="authority_rejected", ceb_code=100, reason="gcode refused",
                             lane="standard", findings=[_FINDING], form="inventory_list"),
        ev.DeclarationCancellationRefusedV2(**_DECLARATION, status="inspection", ceb_code=500,
                                            reason="goods under inspection"),
        ev.DeclarationReturned(**_DECLARATION, status="returned", ceb_code=700, reason="refund",
                               quota_restored_cny=Decimal("110.50")),
        ev.WaybillIssued(order_id="O-1", merchant_order_no="NORD-1001", tracking_number="LX123456785CN",
                         channel="ecommerce", carrier="CNPOST", consignee=CONSIGNEE, issued_at=AT),
        ev.WaybillVoided(order_id="O-1", tracking_number="LX123456785CN", reason="order cancelled", voided_at=AT),
        ev.ParcelHandedOff(order_id="O-1", tracking_number="LX123456785CN", carrier="CNPOST", receptacle_id="R-1",
                           dispatch_id="DSP-1", handed_off_at=AT),
        ev.ParcelTracking(order_id="O-1", tracking_number="LX123456785CN", code="EMD", status="in_transit",
                          location="Shanghai", occurred_at=AT),
        ev.ParcelDelivered(order_id="O-1", tracking_number="LX123456785CN", delivered_at=AT, location="Hangzhou"),
        ev.CustomsEventDeadLettered(order_id="O-1", original_type="silkgate.orders.order.accepted.v1",
                                    original_id="E-1", consumer="customs", reason="RuntimeError", dead_letter_id=7,
                                    dead_lettered_at=AT),
        ev.PostalEventDeadLettered(order_id="O-1", original_type="silkgate.orders.order.accepted.v1",
                                   original_id="E-1", consumer="postal", reason="UnknownCarrier",
                                   dead_lettered_at=AT),
    ]
}
