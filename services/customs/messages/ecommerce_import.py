"""Import e-commerce messages: CEB311 order, CEB621 inventory list, CEB623 cancel, CEB625 return.

Each builder returns the unsigned document; outgoing.seal checks it against the XSD and signs it. Field rules of
DOMAIN.md §11 are checked as the fields are written and raise MessageRuleViolation naming the element.
"""

from __future__ import annotations

from lxml import etree

from services.customs.messages import common
from services.customs.messages.facts import Declarant, FilingFacts
from shared.ceb.errors import MessageRuleViolation
from shared.ceb.fields import Writer, amount_text, ceb, ceb_date, message_root

TRADE_MODE = r"9610|9710|9810|1210"


def build_ceb311(facts: FilingFacts, declarant: Declarant, *, guid: str) -> etree._Element:
    """The import order (the first of the three documents, as the platform declares it)."""
    root = message_root("CEB311", guid)
    writer = common.head(root, "Order", "OrderHead")
    parcel, buyer, consignee = facts.parcel, facts.parcel.effective_buyer, facts.parcel.consignee
    currency = common.currency(facts, writer.field("currency"))
    goods_value = common.goods_value(facts)
    expected = goods_value + parcel.freight + facts.tax_total - parcel.discount
    if parcel.amount_paid != expected:
        raise MessageRuleViolation(
            writer.field("acturalPaid"),
            f"{amount_text(parcel.amount_paid, 'acturalPaid')} is not goodsValue {goods_value} + freight "
            f"{parcel.freight} + taxTotal {facts.tax_total} - discount {parcel.discount} = {expected}",
            code="arithmetic")
    payment = facts.payment or parcel.payment
    common.application(writer, facts, guid)
    writer.text("orderType", "I", max_len=1)
    writer.text("orderNo", parcel.merchant_order_no, max_len=60)
    writer.text("ebpCode", declarant.ebp_code, max_len=18)
    writer.text("ebpName", declarant.ebp_name, max_len=100)
    writer.text("ebcCode", facts.merchant_code, max_len=18)
    writer.text("ebcName", facts.merchant_name, max_len=100)
    writer.amount("goodsValue", goods_value)
    writer.amount("freight", parcel.freight)
    writer.amount("discount", parcel.discount)
    writer.amount("taxTotal", facts.tax_total)
    writer.amount("acturalPaid", parcel.amount_paid)
    writer.coded("currency", currency, source=parcel.currency, table="JGS-20 currency")
    writer.text("buyerRegNo", buyer.email or buyer.phone, max_len=60)
    writer.text("buyerName", buyer.name, max_len=60)
    writer.text("buyerTelephone", buyer.phone, max_len=30)
    writer.text("buyerIdType", common.buyer_id_type(buyer), max_len=1)
    writer.text("buyerIdNumber", buyer.id_number, max_len=60)
    writer.text("payCode", facts.pay_code, max_len=18)
    writer.text("payName", facts.pay_name or (payment.provider if payment else None), max_len=100)
    writer.text("payTransactionId", payment.transaction_id if payment else None, max_len=60)
    writer.text("consignee", consignee.name, max_len=100)
    writer.text("consigneeTelephone", consignee.phone, max_len=50)
    writer.text("consigneeAddress", consignee.address, max_len=200)
    writer.text("note", common.note(facts), max_len=1000, required=False)
    order = writer.parent.getparent()
    for gnum, line in common.checked_lines(facts, "OrderList"):
        item = Writer(etree.SubElement(order, ceb("OrderList")), f"OrderList[{gnum}]")
        item.integer("gnum", gnum)
        item.text("itemNo", line.sku, max_len=30)
        item.text("itemName", line.name, max_len=250)
        item.text("itemDescribe", line.description or line.name, max_len=1000)
        item.coded("unit", common.unit(line.unit, item.field("unit")), source=line.unit, table="units")
        item.amount("qty", line.quantity)
        item.amount("price", line.unit_price)
        item.amount("totalPrice", line.total_price)
        item.coded("currency", currency, source=line.currency, table="JGS-20 currency")
        item.coded("country", common.country(line.origin_country, item.field("country")),
                   source=line.origin_country, table="JGS-20 country")
    common.base_transfer(root, declarant)
    return root


def build_ceb621(facts: FilingFacts, declarant: Declarant, *, guid: str) -> etree._Element:
    """The import inventory list: what customs clears (10-digit HS codes, legal quantities, the buyer)."""
    root = message_root("CEB621", guid)
    writer = common.head(root, "Inventory", "InventoryHead")
    parcel, buyer = facts.parcel, facts.parcel.effective_buyer
    currency = common.currency(facts, writer.field("currency"))
    logistics_code, logistics_name = common.logistics(facts, declarant)
    trade_mode = facts.trade_mode or "9610"
    if trade_mode == "1210" and not declarant.ems_no:
        raise MessageRuleViolation(writer.field("emsNo"), "trade mode 1210 (bonded) needs the account book "
                                   "number (emsNo)", code="required")
    common.application(writer, facts, guid)
    writer.text("orderNo", parcel.merchant_order_no, max_len=60)
    writer.text("ebpCode", declarant.ebp_code, max_len=18)
    writer.text("ebpName", declarant.ebp_name, max_len=100)
    writer.text("ebcCode", facts.merchant_code, max_len=18)
    writer.text("ebcName", facts.merchant_name, max_len=100)
    writer.text("logisticsNo", facts.tracking_number, max_len=60)
    writer.text("logisticsCode", logistics_code, max_len=18)
    writer.text("logisticsName", logistics_name, max_len=100)
    writer.text("copNo", facts.declaration_id, max_len=32)
    writer.text("preNo", facts.pre_no, max_len=18, required=False)
    writer.text("assureCode", declarant.assure_code or facts.merchant_code, max_len=18)
    writer.text("emsNo", declarant.ems_no if trade_mode == "1210" else None, max_len=30, required=False)
    writer.text("invtNo", facts.invt_no, max_len=18, required=False)
    writer.text("ieFlag", "I", max_len=1)
    writer.text("declTime", ceb_date(facts.app_time, writer.field("declTime")), max_len=8)
    writer.text("customsCode", declarant.customs_code, max_len=4, pattern=r"\d{4}", meaning="4 digits")
    writer.text("portCode", declarant.port_code, max_len=4, pattern=r"\d{4}", meaning="4 digits")
    writer.text("ieDate", ceb_date(facts.app_time, writer.field("ieDate")), max_len=8)
    writer.text("buyerIdType", common.buyer_id_type(buyer), max_len=1)
    writer.text("buyerIdNumber", buyer.id_number, max_len=60)
    writer.text("buyerName", buyer.name, max_len=60)
    writer.text("buyerTelephone", buyer.phone, max_len=30)
    writer.text("consigneeAddress", parcel.consignee.address, max_len=200)
    writer.text("agentCode", declarant.agent_code, max_len=18)
    writer.text("agentName", declarant.agent_name, max_len=100)
    writer.text("tradeMode", trade_mode, max_len=4, pattern=TRADE_MODE, meaning="9610, 9710, 9810 or 1210")
    writer.text("trafMode", declarant.traf_mode, max_len=1)
    # The country of departure: where the parcel comes from.
    writer.coded("country", common.country(parcel.sender.country, writer.field("country")),
                 source=parcel.sender.country, table="JGS-20 country")
    writer.amount("freight", parcel.freight)
    writer.amount("insuredFee", parcel.insurance)
    writer.coded("currency", currency, source=parcel.currency, table="JGS-20 currency")
    writer.integer("packNo", 1)
    writer.amount("grossWeight", common.gross_weight(facts))
    writer.amount("netWeight", common.net_weight(facts))
    writer.text("note", common.note(facts), max_len=1000, required=False)
    inventory = writer.parent.getparent()
    for gnum, line in common.checked_lines(facts, "InventoryList"):
        item = Writer(etree.SubElement(inventory, ceb("InventoryList")), f"InventoryList[{gnum}]")
        item.integer("gnum", gnum)
        item.text("itemNo", line.sku, max_len=30)
        item.text("itemName", line.name, max_len=250)
        item.text("gcode", common.hs10(line, item.field("gcode")), max_len=10)
        item.text("gname", line.name, max_len=250)
        item.text("gmodel", line.description or line.name, max_len=250)
        item.coded("country", common.country(line.origin_country, item.field("country")),
                   source=line.origin_country, table="JGS-20 country")
        item.coded("currency", currency, source=line.currency, table="JGS-20 currency")
        item.amount("qty", line.quantity)
        item.coded("unit", common.unit(line.unit, item.field("unit")), source=line.unit, table="units")
        # The legal quantity: silkgate keeps no per-tariff-line legal unit, so it declares the net weight in kg.
        item.amount("qty1", line.net_weight_kg)
        item.text("unit1", "035", max_len=3)
        item.amount("price", line.unit_price)
        item.amount("totalPrice", line.total_price)
    common.base_transfer(root, declarant)
    return root


def _accepted_list(writer: Writer, facts: FilingFacts, declarant: Declarant) -> None:
    """The fields that name an accepted import list and its buyer (623 cancel and 625 return)."""
    parcel, buyer = facts.parcel, facts.parcel.effective_buyer
    logistics_code, logistics_name = common.logistics(facts, declarant)
    writer.text("customsCode", declarant.customs_code, max_len=4, pattern=r"\d{4}", meaning="4 digits")
    writer.text("orderNo", parcel.merchant_order_no, max_len=60)
    writer.text("ebpCode", declarant.ebp_code, max_len=18)
    writer.text("ebpName", declarant.ebp_name, max_len=100)
    writer.text("ebcCode", facts.merchant_code, max_len=18)
    writer.text("ebcName", facts.merchant_name, max_len=100)
    writer.text("logisticsNo", facts.tracking_number, max_len=60)
    writer.text("logisticsCode", logistics_code, max_len=18)
    writer.text("logisticsName", logistics_name, max_len=100)
    writer.text("copNo", facts.declaration_id, max_len=32)
    # Customs' own numbers for the list, from its 120 receipt: a list customs never accepted has nothing to cancel.
    writer.text("preNo", facts.pre_no, max_len=18)
    writer.text("invtNo", facts.invt_no, max_len=18)
    writer.text("buyerIdType", common.buyer_id_type(buyer), max_len=1)
    writer.text("buyerIdNumber", buyer.id_number, max_len=60)
    writer.text("buyerName", buyer.name, max_len=60)
    writer.text("buyerTelephone", buyer.phone, max_len=30)
    writer.text("agentCode", declarant.agent_code, max_len=18)
    writer.text("agentName", declarant.agent_name, max_len=100)
    writer.text("reason", facts.reason, max_len=1000)
    writer.text("note", common.note(facts), max_len=1000, required=False)


def build_ceb623(facts: FilingFacts, declarant: Declarant, *, guid: str) -> etree._Element:
    """Cancel an accepted import inventory list (the order was cancelled after filing)."""
    root = message_root("CEB623", guid)
    writer = common.record(root, "InvtCancel")
    common.application(writer, facts, guid)
    _accepted_list(writer, facts, declarant)
    common.base_transfer(root, declarant)
    return root


def build_ceb625(facts: FilingFacts, declarant: Declarant, *, guid: str) -> etree._Element:
    """Return goods released on an import inventory list (the merchant's return after delivery)."""
    root = message_root("CEB625", guid)
    writer = common.head(root, "InvtRefund", "InvtRefundHead")
    common.application(writer, facts, guid)
    _accepted_list(writer, facts, declarant)
    refund = writer.parent.getparent()
    for gnum, line in common.checked_lines(facts, "InvtRefundList"):
        item = Writer(etree.SubElement(refund, ceb("InvtRefundList")), f"InvtRefundList[{gnum}]")
        item.integer("gnum", gnum)
        item.text("gcode", common.hs10(line, item.field("gcode")), max_len=10)
        item.text("gname", line.name, max_len=250)
        item.amount("qty", line.quantity)
        item.coded("unit", common.unit(line.unit, item.field("unit")), source=line.unit, table="units")
    common.base_transfer(root, declarant)
    return root
