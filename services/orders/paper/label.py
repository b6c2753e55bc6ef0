"""The shipping label: 100 × 150 mm (the common 4 × 6 in thermal label), one page per order.

Top to bottom: the channel and direction with the customs form in a corner box, the carrier and (mail) the S10
service; the sender; the consignee, larger, ending with the destination country in capitals; the order, weight and
contents; the tracking number as a Code 128 barcode with the number printed under it (UPU S10: the human-readable
id grouped as RR 287 043 775 IN); the order id in the footer.
"""

from __future__ import annotations

from decimal import Decimal

from reportlab.graphics.barcode.code128 import Code128
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from services.orders.paper.content import (
    CHANNEL_NAMES,
    CONTENTS_NAMES,
    FORM_BADGES,
    OrderPaper,
    destination_line,
    locality,
    quantity,
    weight,
)
from services.orders.paper.drawing import Pen, box, hline
from services.orders.paper.rules import human_readable, s10_service

PAGE_SIZE = (100 * mm, 150 * mm)
MARGIN = 4 * mm
# X-dimension of the bars: 0.375 mm is 3 dots of a 203 dpi thermal printer; narrower only when a long number needs it.
MAX_MODULE = 0.375 * mm
QUIET_MODULES = 10  # Code 128's quiet zone on each side
BAR_HEIGHT = 22 * mm


def draw_label(pen: Pen, paper: OrderPaper) -> None:
    """Draw the label of an order that has its tracking number as one page of `pen.canvas`."""
    assert paper.tracking_number is not None, "rules.label_problem lets no order without a number through"
    canvas = pen.canvas
    canvas.setPageSize(PAGE_SIZE)
    width, height = PAGE_SIZE
    left, right, inner = MARGIN, width - MARGIN, width - 2 * MARGIN
    box(canvas, MARGIN, MARGIN, inner, height - 2 * MARGIN, line_width=1.2)
    parcel = paper.parcel
    pad = 2.5 * mm

    # 1. Channel, direction, form, carrier, S10 service.
    top = height - MARGIN
    y = top - pad - 13
    pen.text(left + pad, y, f"{CHANNEL_NAMES[parcel.channel]} · {parcel.direction.upper()}", 13, bold=True)
    badge = FORM_BADGES.get(paper.customs_form or "", paper.customs_form or "")
    if badge:
        badge_width = max(16 * mm, pen.width(badge, 15, bold=True) + 4 * mm)
        box(canvas, right - pad - badge_width, top - pad - 11 * mm, badge_width, 11 * mm, line_width=1.2)
        pen.text(right - pad - badge_width / 2, top - pad - 7.6 * mm, badge, 15, bold=True, align="center")
    details = [f"Carrier {paper.carrier_name}" if paper.carrier_name else ""]
    service = s10_service(paper.tracking_number) if parcel.channel == "mail" else None
    if service:
        details.append(f"S10 {service}")
    if parcel.trade_mode and parcel.channel == "ecommerce":
        details.append(f"Trade mode {parcel.trade_mode}")
    y -= 11
    pen.text(left + pad, y, pen.fit(" · ".join(d for d in details if d), 7.5, inner * 0.7), 7.5)
    y = top - 16 * mm
    hline(canvas, left, right, y)

    # 2. Sender.
    y = _party(pen, "FROM", parcel.sender, x=left + pad, y=y - pad, max_width=inner - 2 * pad, name_size=9,
               size=7.5, address_lines=2)
    hline(canvas, left, right, y)

    # 3. Consignee.
    y = _party(pen, "TO", parcel.consignee, x=left + pad, y=y - pad, max_width=inner - 2 * pad, name_size=12,
               size=9.5, address_lines=3, country_bold=True)
    hline(canvas, left, right, y, line_width=1.2)

    # 4. Order, weight, contents.
    pieces = sum((line.quantity for line in parcel.lines), start=Decimal(0))
    y -= pad + 8
    pen.text(left + pad, y, f"Order {paper.merchant_order_no}", 8, bold=True)
    pen.text(right - pad, y, f"Weight {weight(parcel.weight_kg)} kg", 8, bold=True, align="right")
    y -= 10
    contents = (f"Contents {CONTENTS_NAMES.get(parcel.contents_type, parcel.contents_type)} · "
                f"{len(parcel.lines)} line{'s' if len(parcel.lines) != 1 else ''}, {quantity(pieces)} pcs")
    pen.text(left + pad, y, pen.fit(contents, 7.5, inner * 0.62), 7.5)
    if paper.customs_form:
        pen.text(right - pad, y, f"Customs {paper.customs_form}", 7.5, align="right")
    y -= pad + 2
    hline(canvas, left, right, y)

    # 5. The tracking number: Code 128 and the number under it.
    footer = MARGIN + 7 * mm
    space = y - footer
    bar_top = y - max(pad, (space - BAR_HEIGHT - 20) / 2)
    draw_code128(canvas, paper.tracking_number, center_x=width / 2, y=bar_top - BAR_HEIGHT, max_width=inner,
                 bar_height=BAR_HEIGHT)
    pen.text(width / 2, bar_top - BAR_HEIGHT - 15, human_readable(paper.tracking_number), 13, bold=True,
             align="center")

    # 6. Footer.
    hline(canvas, left, right, footer)
    pen.text(left + pad, MARGIN + 2.5 * mm, f"silkgate {paper.order_id}", 6.5)
    canvas.showPage()


def draw_code128(canvas: Canvas, value: str, *, center_x: float, y: float, max_width: float,
                 bar_height: float) -> float:
    """Draw `value` as Code 128 centred on `center_x`, bars from `y` up; returns the symbol's width.

    The bars are MAX_MODULE wide unless the symbol with its quiet zones would be wider than `max_width`.
    """
    modules = Code128(value, barWidth=1, quiet=0).width  # the symbol's width in modules, stop pattern included
    module = min(MAX_MODULE, max_width / (modules + 2 * QUIET_MODULES))
    symbol = Code128(value, barWidth=module, barHeight=bar_height, quiet=0, humanReadable=0)
    symbol.drawOn(canvas, center_x - symbol.width / 2, y)
    return symbol.width


def _party(pen: Pen, caption: str, party, *, x: float, y: float, max_width: float, name_size: float, size: float,
           address_lines: int, country_bold: bool = False) -> float:
    """A sender or consignee block from `y` down; returns the y below it."""
    y -= 6.5
    pen.text(x, y, caption, 6.5, bold=True)
    y -= name_size * 1.15
    y = pen.block(x, y, party.name, name_size, max_width, bold=True, max_lines=2)
    y = pen.block(x, y + name_size * 1.2 - size * 1.2 - 1, party.address, size, max_width, max_lines=address_lines)
    if locality(party):
        pen.text(x, y, pen.fit(locality(party), size, max_width), size)
        y -= size * 1.2
    country_size = size + 1 if country_bold else size
    country, phone = destination_line(party), f"Tel. {party.phone}"
    pen.text(x, y, country, country_size, bold=country_bold)
    if pen.width(country, country_size, bold=country_bold) + pen.width(phone, size - 1) + 6 > max_width:
        y -= size * 1.2
    pen.text(x + max_width, y, phone, size - 1, align="right")
    return y - size * 0.9
