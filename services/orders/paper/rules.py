"""Which document an order can have now, and the problem to answer when it cannot (pure, no I/O).

- label: once postal has issued the tracking number (409 tracking_number_pending with Retry-After before); never
  for an order that will not travel (cancelled, rejected: 409 order_not_shippable), nor for a number Code 128
  cannot carry (an external logistics company's number outside printable ASCII: 409 tracking_number_not_encodable).
- customs form (CN22/CN23): mail only (404 document_not_applicable otherwise); once customs has chosen the form
  (409 customs_form_pending with Retry-After before; 409 customs_form_unavailable when it never will: the order
  was rejected or cancelled before customs decided).
- commercial invoice: every order, at once: everything on it is the merchant's own order (the invoice number is the
  merchant order number). Mail may need it too: a CN23 for goods sold goes with an invoice (UPU).
"""

from __future__ import annotations

from typing import Literal

from shared.errors import Conflict, NotFound, SilkgateError

Document = Literal["label", "customs_form", "commercial_invoice"]
NOT_SHIPPABLE = frozenset({"cancelled", "rejected"})
CN_FORMS = frozenset({"CN22", "CN23"})


def label_problem(*, order_id: str, status: str, tracking_number: str | None,
                  retry_after_s: int) -> SilkgateError | None:
    if status in NOT_SHIPPABLE:
        return Conflict(f"Order {order_id} is {status}: it will not travel, so it has no label",
                        code="order_not_shippable", extra={"order_status": status})
    if tracking_number is None:
        return Conflict(f"Order {order_id} has no tracking number yet: postal issues it within seconds of "
                        "acceptance; retry", code="tracking_number_pending",
                        headers={"Retry-After": str(retry_after_s)})
    if not code128_encodable(tracking_number):
        return Conflict(f"The tracking number of order {order_id} has characters a Code 128 barcode cannot carry",
                        code="tracking_number_not_encodable")
    return None


def code128_encodable(value: str) -> bool:
    """Printable ASCII only: what Code 128 carries and a scanner gives back as typed (reportlab would silently
    drop anything else, and the bars would not say the number printed under them)."""
    return all(" " <= char <= "~" for char in value)


def customs_form_problem(*, order_id: str, channel: str, status: str, form: str | None,
                         retry_after_s: int) -> SilkgateError | None:
    if channel != "mail":
        return NotFound(f"Order {order_id} is {channel}: CN22/CN23 forms are for mail (print its commercial "
                        "invoice instead)", code="document_not_applicable")
    if form in CN_FORMS:
        return None
    if status in NOT_SHIPPABLE:
        return Conflict(f"Order {order_id} is {status} and customs chose no form for it",
                        code="customs_form_unavailable", extra={"order_status": status})
    return Conflict(f"Customs has not yet decided whether order {order_id} travels with a CN22 or a CN23; retry",
                    code="customs_form_pending", headers={"Retry-After": str(retry_after_s)})


def document_problem(document: Document, *, order_id: str, channel: str, status: str, tracking_number: str | None,
                     form: str | None, retry_after_s: int) -> SilkgateError | None:
    """Why the order cannot have this document now, or None when it can."""
    if document == "label":
        return label_problem(order_id=order_id, status=status, tracking_number=tracking_number,
                             retry_after_s=retry_after_s)
    if document == "customs_form":
        return customs_form_problem(order_id=order_id, channel=channel, status=status, form=form,
                                    retry_after_s=retry_after_s)
    return None


def incoterm(*, channel: str, direction: str) -> str:
    """The delivery term printed on the invoice (the parcel carries none): DDP for e-commerce imports, whose tax
    the e-commerce company collects at checkout and pays on the buyer's behalf (DOMAIN.md §7); DAP otherwise
    (the consignee pays any duties and taxes on delivery)."""
    return "DDP" if channel == "ecommerce" and direction == "import" else "DAP"


S10_FAMILIES = {
    "C": "parcel",
    "E": "EMS",
    "L": "letter-post tracked/express",
    "R": "registered",
    "V": "insured",
    "U": "letter post with CN22/CN23",
}


def is_s10(number: str) -> bool:
    """Shaped as a UPU S10 id: 2 letters, 9 digits, 2 letters (postal checks the check digit when it issues one)."""
    return (len(number) == 13 and number[:2].isascii() and number[:2].isalpha() and number[:2].isupper()
            and number[2:11].isascii() and number[2:11].isdigit()
            and number[11:].isascii() and number[11:].isalpha() and number[11:].isupper())


def s10_service(number: str) -> str | None:
    """'CP · parcel' for CP123456785CN: the service indicator and its family (DOMAIN.md §3); None if not S10."""
    if not is_s10(number):
        return None
    family = S10_FAMILIES.get(number[0])
    return f"{number[:2]} · {family}" if family else number[:2]


def human_readable(number: str) -> str:
    """The tracking number as printed under its barcode: an S10 id grouped as UPU S10 shows it
    (RR 287 043 775 IN), anything else as it is."""
    if not is_s10(number):
        return number
    return f"{number[:2]} {number[2:5]} {number[5:8]} {number[8:11]} {number[11:]}"
