"""The commercial invoice of an order, on A4: what express and e-commerce parcels (and mail goods) travel with.

The seller (the sender), the buyer and the consignee; the invoice number (the merchant order number), date, order,
waybill and carrier; currency, incoterm, origin and destination; the lines with HS codes, origin, quantities, unit
and total prices; goods value, discount, freight, insurance, tax and the total; the weights; the declaration and
signature line. Lines that do not fit continue on further pages; the totals close the last one.
"""

from __future__ import annotations

from decimal import Decimal

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm

from services.orders.paper.content import (
    CONTENTS_NAMES,
    OrderPaper,
    country_name,
    date,
    locality,
    masked_id,
    money,
    quantity,
    weight,
)
from services.orders.paper.drawing import Column, Pen, box, flow, hline
from services.orders.paper.rules import human_readable, incoterm

DECLARATION = ("We declare that the information on this invoice is true and correct, and that the goods are of the "
               "origin shown.")


def invoice_total(paper: OrderPaper) -> Decimal:
    """Goods − discount + freight + insurance + tax."""
    parcel = paper.parcel
    return parcel.goods_value - parcel.discount + parcel.freight + parcel.insurance + parcel.tax


def draw_invoice(pen: Pen, paper: OrderPaper) -> None:
    width, height = A4
    margin = 12 * mm
    left, inner = margin, width - 2 * margin
    parcel = paper.parcel
    currency = parcel.currency
    columns = (
        Column("No.", 9 * mm, align="right"),
        Column("Description", 58 * mm, max_lines=2),
        Column("HS code", 22 * mm),
        Column("Origin", 12 * mm, align="center"),
        Column("Quantity", 18 * mm, align="right"),
        Column("Net kg", 15 * mm, align="right"),
        Column(f"Unit price ({currency})", 26 * mm, align="right"),
        Column(f"Total ({currency})", 26 * mm, align="right"),
    )
    rows = [(str(line.line_no), f"{line.name} ({line.sku})", line.hs_code, line.origin_country,
             f"{quantity(line.quantity)} {line.unit}", weight(line.net_weight_kg), money(line.unit_price),
             money(line.total_price)) for line in parcel.lines]

    def header(page: int) -> float:
        pen.canvas.setPageSize(A4)
        top = height - margin
        pen.text(left, top - 16, "COMMERCIAL INVOICE", 16, bold=True)
        facts = [("Invoice No.", paper.merchant_order_no), ("Date", date(paper.created_at)),
                 ("Order", paper.order_id),
                 ("Waybill", human_readable(paper.tracking_number) if paper.tracking_number else "not yet issued"),
                 ("Carrier", paper.carrier_name or "—")]
        fy = top - 6
        for caption, value in facts:
            pen.text(left + inner - 62 * mm, fy, caption, 7.5)
            pen.text(left + inner, fy, pen.fit(value, 8, 44 * mm), 8, bold=True, align="right")
            fy -= 10
        if page > 1:
            pen.text(left, top - 30, f"Continued, page {page}", 8, bold=True)
            return fy - 4 * mm
        y = fy - 3 * mm
        third = inner / 3
        buyer = parcel.effective_buyer
        for index, (caption, party) in enumerate((("Seller / exporter", parcel.sender), ("Buyer", buyer),
                                                  ("Consignee", parcel.consignee))):
            _party_box(pen, caption, party, x=left + index * third, y=y, width=third, height=38 * mm)
        y -= 38 * mm
        terms = [("Currency", currency), ("Incoterm", incoterm(channel=parcel.channel, direction=parcel.direction)),
                 ("Country of origin", _origins(paper)),
                 ("Destination", f"{country_name(parcel.consignee.country)} ({parcel.consignee.country})"),
                 ("Reason for export", CONTENTS_NAMES.get(parcel.contents_type, parcel.contents_type)),
                 ("Trade mode", parcel.trade_mode or "—")]
        cell = inner / len(terms)
        for index, (caption, value) in enumerate(terms):
            x = left + index * cell
            pen.text(x + 2, y - 8, caption, 6.5)
            pen.text(x + 2, y - 18, pen.fit(value, 8, cell - 4), 8, bold=True)
        box(pen.canvas, left, y - 22, inner, 22)
        return y - 22 - 4 * mm

    def closing(y: float) -> None:
        y -= 6 * mm
        figures = [("Goods", parcel.goods_value), ("Discount", -parcel.discount if parcel.discount else Decimal(0)),
                   ("Freight", parcel.freight),
                   ("Insurance", parcel.insurance), ("Tax", parcel.tax)]
        label_x, value_x = left + inner - 70 * mm, left + inner - 2
        for caption, amount in figures:
            pen.text(label_x, y, caption, 8)
            pen.text(value_x, y, money(amount, currency), 8, align="right")
            y -= 11
        hline(pen.canvas, label_x, left + inner, y + 7)
        pen.text(label_x, y - 3, "Total", 10, bold=True)
        pen.text(value_x, y - 3, money(invoice_total(paper), currency), 10, bold=True, align="right")
        net = sum((line.net_weight_kg for line in parcel.lines), start=Decimal(0))
        pen.text(left, y + 11 * len(figures) - 11,
                 f"Total net weight {weight(net)} kg · gross weight {weight(parcel.weight_kg)} kg", 8)
        pen.text(left, y + 11 * len(figures) - 22, f"Packages 1 · Lines {len(parcel.lines)}", 8)
        y -= 12 * mm
        y = pen.block(left, y, DECLARATION, 7.5, inner, leading=9)
        pen.text(left, y - 16, f"{date(paper.created_at)}   {parcel.sender.name}", 9, bold=True)
        hline(pen.canvas, left, left + inner / 2, y - 20, line_width=0.5)
        pen.text(left, y - 28, "Date, name and signature of the seller", 7)

    flow(pen, columns, rows, header=header, closing=closing, x=left, table_size=8, heading_size=7,
          y_bottom=margin, closing_height=70 * mm)


def _origins(paper: OrderPaper) -> str:
    codes = sorted({line.origin_country for line in paper.parcel.lines})
    if len(codes) == 1:
        return f"{country_name(codes[0])} ({codes[0]})"
    return ", ".join(codes)


def _party_box(pen: Pen, caption: str, party, *, x: float, y: float, width: float, height: float) -> None:
    pad = 2.5 * mm
    inner = width - 2 * pad
    box(pen.canvas, x, y - height, width, height)
    ty = y - 9
    pen.text(x + pad, ty, caption, 7, bold=True)
    ty = pen.block(x + pad, ty - 11, party.name, 9, inner, bold=True, max_lines=2)
    ty = pen.block(x + pad, ty, party.address, 7.5, inner, max_lines=3, leading=9)
    if locality(party):
        pen.text(x + pad, ty, pen.fit(locality(party), 7.5, inner), 7.5)
        ty -= 9
    pen.text(x + pad, ty, f"{country_name(party.country)} ({party.country})", 7.5)
    ty -= 9
    pen.text(x + pad, ty, pen.fit(f"Tel. {party.phone}", 7.5, inner), 7.5)
    if party.id_number:
        pen.text(x + pad, ty - 9, pen.fit(f"ID {masked_id(party)}", 7.5, inner), 7.5)
