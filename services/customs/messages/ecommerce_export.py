"""Export e-commerce messages: CEB303 order, CEB603 inventory list, CEB605 cancel."""

from __future__ import annotations

from lxml import etree

from services.customs.messages import common
from services.customs.messages.ecommerce_import import TRADE_MODE
from services.customs.messages.facts import Declarant, FilingFacts
from shared.ceb.errors import MessageRuleViolation
from shared.ceb.fields import Writer, ceb, ceb_date, message_root

FREIGHT_FLAG_TOTAL = "3"  # freight and insurance stated as a total amount (1 would be a rate, 2 per unit)
STATISTICS_SIMPLIFIED = "A"  # B2C export lists declared in the simplified way


def build_ceb303(facts: FilingFacts, declarant: Declarant, *, guid: str) -> etree._Element:
    """The export order."""
    root = message_root("CEB303", guid)
    writer = common.head(root, "Order", "OrderHead")
    parcel = facts.parcel
    currency = common.currency(facts, writer.field("currency"))
    lines = common.checked_lines(facts, "OrderList")
    common.application(writer, facts, guid)
    writer.text("orderType", "E", max_len=1)
    writer.text("orderNo", parcel.merchant_order_no, max_len=60)
    writer.text("ebpCode", declarant.ebp_code, max_len=18)
    writer.text("ebpName", declarant.ebp_name, max_len=100)
    writer.text("ebcCode", facts.merchant_code, max_len=18)
    writer.text("ebcName", facts.merchant_name, max_len=100)
    writer.amount("goodsValue", common.goods_value(facts))
    writer.amount("freight", parcel.freight)
    writer.coded("currency", currency, source=parcel.currency, table="JGS-20 currency")
    writer.text("note", common.note(facts), max_len=1000, required=False)
    order = writer.parent.getparent()
    for gnum, line in lines:
        item = Writer(etree.SubElement(order, ceb("OrderList")), f"OrderList[{gnum}]")
        item.integer("gnum", gnum)
        item.text("itemNo", line.sku, max_len=30)
        item.text("itemName", line.name, max_len=250)
        item.text("itemDescribe", line.description or line.name, max_len=1000)
        item.coded("unit", common.unit(line.unit, item.field("unit")), source=line.unit, table="units")
        item.coded("currency", currency, source=line.currency, table="JGS-20 currency")
        item.amount("qty", line.quantity)
        item.amount("price", line.unit_price)
        item.amount("totalPrice", line.total_price)
    common.base_transfer(root, declarant)
    return root


def build_ceb603(facts: FilingFacts, declarant: Declarant, *, guid: str) -> etree._Element:
    """The export inventory list (ieFlag E): what customs clears for export."""
    root = message_root("CEB603", guid)
    writer = common.head(root, "Inventory", "InventoryHead")
    parcel = facts.parcel
    currency = common.currency(facts, writer.field("currency"))
    logistics_code, logistics_name = common.logistics(facts, declarant)
    trade_mode = facts.trade_mode or "9610"
    if trade_mode == "1210" and not declarant.ems_no:
        raise MessageRuleViolation(writer.field("emsNo"), "trade mode 1210 (bonded) needs the account book "
                                   "number (emsNo)", code="required")
    common.application(writer, facts, guid)
    writer.text("customsCode", declarant.customs_code, max_len=4, pattern=r"\d{4}", meaning="4 digits")
    writer.text("ebpCode", declarant.ebp_code, max_len=18)
    writer.text("ebpName", declarant.ebp_name, max_len=100)
    writer.text("orderNo", parcel.merchant_order_no, max_len=60)
    writer.text("logisticsCode", logistics_code, max_len=18)
    writer.text("logisticsName", logistics_name, max_len=100)
    writer.text("logisticsNo", facts.tracking_number, max_len=60)
    writer.text("copNo", facts.declaration_id, max_len=32)
    writer.text("preNo", facts.pre_no, max_len=18, required=False)
    writer.text("invtNo", facts.invt_no, max_len=18, required=False)
    writer.text("ieFlag", "E", max_len=1)
    writer.text("portCode", declarant.port_code, max_len=4, pattern=r"\d{4}", meaning="4 digits")
    writer.text("ieDate", ceb_date(facts.app_time, writer.field("ieDate")), max_len=8)
    writer.text("statisticsFlag", STATISTICS_SIMPLIFIED, max_len=1)
    writer.text("agentCode", declarant.agent_code, max_len=18)
    writer.text("agentName", declarant.agent_name, max_len=100)
    writer.text("ebcCode", facts.merchant_code, max_len=18)
    writer.text("ebcName", facts.merchant_name, max_len=100)
    # The producer or seller of the goods: the e-commerce company itself.
    writer.text("ownerCode", facts.merchant_code, max_len=18)
    writer.text("ownerName", facts.merchant_name, max_len=100)
    writer.text("emsNo", declarant.ems_no if trade_mode == "1210" else None, max_len=30, required=False)
    writer.text("tradeMode", trade_mode, max_len=4, pattern=TRADE_MODE, meaning="9610, 9710, 9810 or 1210")
    writer.text("trafMode", declarant.traf_mode, max_len=1)
    # The country of destination: where the parcel goes.
    writer.coded("country", common.country(parcel.consignee.country, writer.field("country")),
                 source=parcel.consignee.country, table="JGS-20 country")
    writer.amount("freight", parcel.freight)
    writer.coded("fCurrency", currency, source=parcel.currency, table="JGS-20 currency")
    writer.text("fFlag", FREIGHT_FLAG_TOTAL, max_len=1)
    writer.amount("insuredFee", parcel.insurance)
    writer.coded("iCurrency", currency, source=parcel.currency, table="JGS-20 currency")
    writer.text("iFlag", FREIGHT_FLAG_TOTAL, max_len=1)
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
        item.amount("qty1", line.net_weight_kg)  # the legal quantity as net kilograms (see build_ceb621)
        item.coded("unit", common.unit(line.unit, item.field("unit")), source=line.unit, table="units")
        item.text("unit1", "035", max_len=3)
        item.amount("price", line.unit_price)
        item.amount("totalPrice", line.total_price)
    common.base_transfer(root, declarant)
    return root


def build_ceb605(facts: FilingFacts, declarant: Declarant, *, guid: str) -> etree._Element:
    """Cancel an accepted export inventory list."""
    root = message_root("CEB605", guid)
    writer = common.record(root, "InvtCancel")
    common.application(writer, facts, guid)
    writer.text("customsCode", declarant.customs_code, max_len=4, pattern=r"\d{4}", meaning="4 digits")
    writer.text("copNo", facts.declaration_id, max_len=32)
    writer.text("preNo", facts.pre_no, max_len=18)
    writer.text("invtNo", facts.invt_no, max_len=18)
    writer.text("reason", facts.reason, max_len=1000)
    writer.text("agentCode", declarant.agent_code, max_len=18)
    writer.text("agentName", declarant.agent_name, max_len=100)
    writer.text("ebcCode", facts.merchant_code, max_len=18)
    writer.text("ebcName", facts.merchant_name, max_len=100)
    writer.text("note", common.note(facts), max_len=1000, required=False)
    common.base_transfer(root, declarant)
    return root
