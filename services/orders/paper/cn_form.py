"""The UPU customs declarations of a mail item: CN22 on a 100 × 150 mm label, CN23 on A4 (DOMAIN.md §2, §11).

Both carry the fields of the UPU forms, numbered as on them: sender and addressee, the category of item, per line
the detailed description with its quantity (1), net weight (2 / 3), value (3 / 5), HS tariff number (4 / 7) and
country of origin (5 / 8); the total weight and value (6, 7 / 4, 6), and the declaration with the date and the
sender's signature (8 / 15). The CN23 adds the postal charges, the sender's and importer's references, the
comments, licence, certificate and invoice numbers and the office and date of posting. Lines that do not fit
continue on further pages; the totals and the signature close the last one.
"""

from __future__ import annotations

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
from services.orders.paper.drawing import Column, Pen, box, checkbox, flow, hline
from services.orders.paper.label import PAGE_SIZE as LABEL_SIZE
from services.orders.paper.label import draw_code128
from services.orders.paper.rules import human_readable

CN22_DECLARATION = (
    "I, the undersigned, whose name and address are given on the item, certify that the particulars given in this "
    "declaration are correct and that this item does not contain any dangerous article or articles prohibited by "
    "legislation or by postal or customs regulations."
)
CN23_DECLARATION = (
    "I certify that the particulars given in this customs declaration are correct and that this item does not "
    "contain any dangerous article or articles prohibited by legislation or by postal or customs regulations."
)
# Category of item, in the order of the 2020 UPU forms, keyed by the parcel's contents_type.
CATEGORIES = ("gift", "documents", "commercial_sample", "returned_goods", "merchandise", "other")


def draw_cn_form(pen: Pen, paper: OrderPaper) -> None:
    """The CN22 or CN23 customs chose for this mail item (rules.customs_form_problem checked it has one)."""
    if paper.customs_form == "CN22":
        _draw_cn22(pen, paper)
    else:
        _draw_cn23(pen, paper)


# ── CN22 ──────────────────────────────────────────────────────────────────────


def _draw_cn22(pen: Pen, paper: OrderPaper) -> None:
    width, height = LABEL_SIZE
    margin = 4 * mm
    left, inner = margin, width - 2 * margin
    parcel = paper.parcel
    columns = (
        Column("Quantity and detailed description of contents (1)", 36 * mm, max_lines=2),
        Column("HS tariff number (4)", 16 * mm),
        Column("Origin (5)", 10 * mm, align="center"),
        Column("Net weight kg (2)", 13 * mm, align="right"),
        Column("Value (3)", 17 * mm, align="right"),
    )
    rows = [(f"{quantity(line.quantity)} × {line.name}", line.hs_code, line.origin_country, weight(line.net_weight_kg),
             money(line.total_price, line.currency)) for line in parcel.lines]
    closing_height = 44 * mm

    def header(page: int) -> float:
        pen.canvas.setPageSize(LABEL_SIZE)
        box(pen.canvas, margin, margin, inner, height - 2 * margin, line_width=1.0)
        top = height - margin
        pen.text(left + 2 * mm, top - 11, "CUSTOMS DECLARATION", 9, bold=True)
        pen.text(left + inner - 2 * mm, top - 15, "CN 22", 16, bold=True, align="right")
        pen.text(left + 2 * mm, top - 20, f"Designated operator: {paper.carrier_name or '—'}", 6.5)
        pen.text(left + inner - 2 * mm, top - 23, "May be opened officially", 5.5, align="right")
        item = human_readable(paper.tracking_number) if paper.tracking_number else "—"
        suffix = f"   (continued, page {page})" if page > 1 else ""
        pen.text(left + 2 * mm, top - 29, f"Item No. {item}{suffix}", 7, bold=True)
        y = top - 32
        hline(pen.canvas, left, left + inner, y)
        if page > 1:
            return y
        y = _parties_side_by_side(pen, paper, x=left, y=y, width=inner, size=6.2, lines=2)
        hline(pen.canvas, left, left + inner, y)
        y -= 9
        x = left + 2 * mm
        for index, category in enumerate(CATEGORIES):
            if index == 3:
                y, x = y - 9, left + 2 * mm
            x = max(checkbox(pen, x, y, CONTENTS_NAMES[category], parcel.contents_type == category, 6.5),
                    left + 2 * mm + (index % 3 + 1) * 30 * mm)
        y -= 5
        hline(pen.canvas, left, left + inner, y)
        return y

    def closing(y: float) -> None:
        y -= 10
        total_weight = f"Total weight (kg) (6)  {weight(parcel.weight_kg)}"
        pen.text(left + 2 * mm, y, total_weight, 7, bold=True)
        pen.text(left + inner - 2 * mm, y, f"Total value (7)  {money(parcel.goods_value, parcel.currency)}", 7,
                 bold=True, align="right")
        y -= 4
        hline(pen.canvas, left, left + inner, y)
        y = pen.block(left + 2 * mm, y - 8, CN22_DECLARATION, 5.8, inner - 4 * mm, leading=7)
        _signature(pen, paper, x=left + 2 * mm, y=margin + 4 * mm, width=inner - 4 * mm, size=6.5,
                   caption="Date and sender's signature (8)")

    flow(pen, columns, rows, header=header, closing=closing, x=left, table_size=6.5, heading_size=5.2,
          y_bottom=margin + 2 * mm, closing_height=closing_height)


# ── CN23 ──────────────────────────────────────────────────────────────────────


def _draw_cn23(pen: Pen, paper: OrderPaper) -> None:
    width, height = A4
    margin = 12 * mm
    left, inner = margin, width - 2 * margin
    parcel = paper.parcel
    columns = (
        Column("Detailed description of contents (1)", 66 * mm, max_lines=2),
        Column("Quantity (2)", 16 * mm, align="right"),
        Column("Net weight (in kg) (3)", 20 * mm, align="right"),
        Column("Value (5)", 26 * mm, align="right"),
        Column("HS tariff number (7)", 30 * mm),
        Column("Country of origin of goods (8)", 28 * mm),
    )
    rows = [(f"{line.name} ({line.sku})", f"{quantity(line.quantity)} {line.unit}", weight(line.net_weight_kg),
             money(line.total_price, line.currency), line.hs_code,
             f"{country_name(line.origin_country)} ({line.origin_country})") for line in parcel.lines]

    def header(page: int) -> float:
        pen.canvas.setPageSize(A4)
        top = height - margin
        pen.text(left, top - 14, "CUSTOMS DECLARATION", 14, bold=True)
        pen.text(left, top - 26, f"Designated operator: {paper.carrier_name or '—'}", 8)
        pen.text(left, top - 36, "May be opened officially", 7)
        pen.text(left + 95 * mm, top - 18, "CN 23", 20, bold=True)
        if paper.tracking_number:
            draw_code128(pen.canvas, paper.tracking_number, center_x=left + inner - 30 * mm, y=top - 16 * mm,
                         max_width=60 * mm, bar_height=12 * mm)
            pen.text(left + inner - 30 * mm, top - 16 * mm - 10, human_readable(paper.tracking_number), 9,
                     bold=True, align="center")
        y = top - 22 * mm
        if page > 1:
            pen.text(left, y + 4, f"Continued, page {page}", 8, bold=True)
            return y - 2 * mm
        hline(pen.canvas, left, left + inner, y, line_width=1.0)
        half = inner / 2
        _cn23_party(pen, "From (sender)", parcel.sender, x=left, y=y, width=half,
                    reference=("Sender's customs reference (if any)", masked_id(parcel.sender)))
        _cn23_party(pen, "To (addressee)", parcel.consignee, x=left + half, y=y, width=half,
                    reference=("Importer's reference (if any) (tax code/VAT No./importer code)",
                               masked_id(parcel.consignee)))
        y -= 44 * mm
        box(pen.canvas, left, y, inner, 44 * mm)
        pen.canvas.line(left + half, y, left + half, y + 44 * mm)
        return y - 2 * mm

    def closing(y: float) -> None:
        canvas = pen.canvas
        box_top = y - 3 * mm
        box_height = 9 * mm
        third = inner / 3
        for index, (caption, value) in enumerate((
            ("Total gross weight (kg) (4)", weight(parcel.weight_kg)),
            ("Total value (6)", money(parcel.goods_value, parcel.currency)),
            ("Postal charges/Fees (9)", money(parcel.freight, parcel.currency)),
        )):
            x = left + index * third
            pen.text(x + 2, box_top - 8, caption, 6.5)
            pen.text(x + third - 3, box_top - box_height + 4, value, 9, bold=True, align="right")
        box(canvas, left, box_top - box_height, inner, box_height)
        for index in (1, 2):
            canvas.line(left + index * third, box_top - box_height, left + index * third, box_top)
        y = box_top - box_height - 10
        pen.text(left + 2, y, "Category of item (10)", 7, bold=True)
        x = left + 34 * mm
        for category in CATEGORIES:
            x = checkbox(pen, x, y, CONTENTS_NAMES[category], parcel.contents_type == category, 7.5)
        y -= 10
        explanation = CONTENTS_NAMES.get(parcel.contents_type, "") if parcel.contents_type == "other" else ""
        pen.text(left + 2, y, f"Explanation: {explanation}", 7)
        y -= 10
        comments = f"Merchant order {paper.merchant_order_no}; silkgate order {paper.order_id}"
        pen.text(left + 2, y, f"Comments (11): {comments}", 7)
        y -= 4
        hline(canvas, left, left + inner, y)
        y -= 9
        for index, (caption, value) in enumerate((("Licence (12) No(s). of licence(s)", "—"),
                                                   ("Certificate (13) No(s). of certificate(s)", "—"),
                                                   ("Invoice (14) No. of invoice", paper.merchant_order_no))):
            x = left + 2 + index * third
            pen.text(x, y, caption, 6.5)
            pen.text(x, y - 10, pen.fit(value, 8, third - 6), 8, bold=True)
        y -= 16
        hline(canvas, left, left + inner, y)
        y -= 9
        pen.text(left + 2, y, f"Office of origin/Date of posting: {paper.carrier_name or '—'}, "
                              f"{date(paper.created_at)}", 7)
        y -= 4
        hline(canvas, left, left + inner, y)
        y = pen.block(left + 2, y - 9, CN23_DECLARATION, 7, inner - 4, leading=8.5)
        _signature(pen, paper, x=left + 2, y=y - 22, width=inner / 2, size=8,
                   caption="Date and sender's signature (15)")

    flow(pen, columns, rows, header=header, closing=closing, x=left, table_size=8, heading_size=6.5,
          y_bottom=margin, closing_height=95 * mm)


def _cn23_party(pen: Pen, caption: str, party, *, x: float, y: float, width: float,
                reference: tuple[str, str | None]) -> None:
    pad = 2.5 * mm
    inner = width - 2 * pad
    y -= 9
    pen.text(x + pad, y, caption, 7, bold=True)
    for label, value, size, lines in (("Name", party.name, 9, 1), ("Street", party.address, 8, 2),
                                      ("Postcode / City", locality(party), 8, 1),
                                      ("Country", f"{country_name(party.country).upper()} ({party.country})", 8, 1)):
        y -= 11
        pen.text(x + pad, y, label, 6)
        below = pen.block(x + pad + 20 * mm, y, value or "—", size, inner - 20 * mm, bold=label == "Name",
                          max_lines=lines, leading=9)
        y = below + 9
    y -= 11
    contact = " · ".join(part for part in (party.phone, party.email) if part)
    pen.text(x + pad, y, "Tel./E-mail", 6)
    pen.text(x + pad + 20 * mm, y, pen.fit(contact, 8, inner - 20 * mm), 8)
    y -= 12
    pen.text(x + pad, y, pen.fit(reference[0], 6, inner), 6)
    pen.text(x + pad, y - 9, reference[1] or "—", 8)


# ── shared ────────────────────────────────────────────────────────────────────


def _parties_side_by_side(pen: Pen, paper: OrderPaper, *, x: float, y: float, width: float, size: float,
                          lines: int) -> float:
    """From and To, one half each, from `y` down; returns the y below them."""
    half = width / 2
    bottoms = []
    for index, (caption, party) in enumerate((("From", paper.parcel.sender), ("To", paper.parcel.consignee))):
        px, py = x + index * half + 2 * mm, y - 8
        max_width = half - 4 * mm
        pen.text(px, py, caption, 6, bold=True)
        py = pen.block(px, py - size * 1.2, party.name, size, max_width, bold=True, max_lines=1)
        py = pen.block(px, py, " ".join(p for p in (party.address, locality(party)) if p), size, max_width,
                       max_lines=lines)
        pen.text(px, py, f"{country_name(party.country).upper()} ({party.country})", size)
        bottoms.append(py - 4)
    bottom = min(bottoms)
    pen.canvas.line(x + half, y, x + half, bottom)
    return bottom


def _signature(pen: Pen, paper: OrderPaper, *, x: float, y: float, width: float, size: float, caption: str) -> None:
    """The date and signature line: the order's date and the sender's name above the line, the caption below."""
    pen.text(x, y + size * 1.6, f"{date(paper.created_at)}   {paper.parcel.sender.name}", size + 1, bold=True)
    hline(pen.canvas, x, x + width, y + size * 1.2, line_width=0.5)
    pen.text(x, y, caption, size - 1)
