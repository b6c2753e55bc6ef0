"""What the CEB builders share: the BaseTransfer block, the buyer, the lines' arithmetic and code tables."""

from __future__ import annotations

from decimal import Decimal

from lxml import etree

from services.customs.messages.facts import Declarant, FilingFacts, FilingLine
from shared.ceb import codes
from shared.ceb.errors import MessageRuleViolation
from shared.ceb.fields import Writer, amount_text, app_time, ceb
from shared.contract.parcel import Party

CENT = Decimal("0.01")
DXP_MODE = "DXP"


def base_transfer(root: etree._Element, declarant: Declarant) -> None:
    """The filer's block after the body: copCode, copName, dxpMode, dxpId."""
    writer = Writer(etree.SubElement(root, ceb("BaseTransfer")), "BaseTransfer")
    writer.text("copCode", declarant.cop_code, max_len=18)
    writer.text("copName", declarant.cop_name, max_len=100)
    writer.text("dxpMode", DXP_MODE, max_len=3)
    writer.text("dxpId", declarant.dxp_id, max_len=30)


def head(root: etree._Element, body: str, record: str) -> Writer:
    """`<body><record>` under the root (e.g. Order/OrderHead), with a writer for the record."""
    parent = etree.SubElement(root, ceb(body))
    return Writer(etree.SubElement(parent, ceb(record)), record)


def record(root: etree._Element, name: str) -> Writer:
    """A record directly under the root (e.g. InvtCancel), with a writer for it."""
    return Writer(etree.SubElement(root, ceb(name)), name)


def application(writer: Writer, facts: FilingFacts, guid: str) -> None:
    """guid, appType, appTime, appStatus (2: declared) — how every request head starts."""
    writer.text("guid", guid, max_len=36)
    if facts.app_type not in (1, 2, 3):
        raise MessageRuleViolation(writer.field("appType"), f"{facts.app_type!r} is not 1, 2 or 3",
                                   code="code_table")
    writer.integer("appType", facts.app_type)
    writer.text("appTime", app_time(facts.app_time, writer.field("appTime")), max_len=14, pattern=r"\d{14}",
                meaning="YYYYMMDDhhmmss")
    writer.text("appStatus", "2", max_len=1)


def currency(facts: FilingFacts, field: str) -> str:
    """The message's one currency as a JGS-20 code; every line must be in the order's currency."""
    iso = facts.parcel.currency
    for line in facts.lines:
        if line.currency != iso:
            raise MessageRuleViolation(field, f"line {line.line_no} is in {line.currency}, the order in {iso}: "
                                       "one message, one currency", code="code_table")
    code = codes.currency_code(iso)
    if code is None:
        raise MessageRuleViolation(field, f"{iso!r} has no code in the JGS-20 currency table: declare the values "
                                   "in a currency of the table (e.g. CNY, 142)", code="code_table")
    return code


def country(iso: str, field: str) -> str:
    code = codes.country_code(iso)
    if code is None:
        raise MessageRuleViolation(field, f"{iso!r} has no code in the JGS-20 country table", code="code_table")
    return code


def unit(value: str, field: str) -> str:
    code = codes.unit_code(value)
    if code is None:
        raise MessageRuleViolation(field, f"{value!r} has no code in the customs units table", code="code_table")
    return code


def checked_lines(facts: FilingFacts, record: str) -> list[tuple[int, FilingLine]]:
    """(gnum, line) from 1 in order — gnum is the position, whatever line numbers an amendment left — with each
    line's totalPrice = price × qty checked (to the cent: qty may have 3 places, so the product 5)."""
    if not facts.lines:
        raise MessageRuleViolation(f"{record}[1]", "a message has at least one line", code="required")
    numbered = list(enumerate(facts.lines, start=1))
    for gnum, line in numbered:
        exact = line.unit_price * line.quantity
        if abs(line.total_price - exact) >= CENT:
            raise MessageRuleViolation(
                f"{record}[{gnum}].totalPrice",
                f"{amount_text(line.total_price, 'totalPrice')} is not price {amount_text(line.unit_price, 'price')}"
                f" x qty {amount_text(line.quantity, 'qty')}", code="arithmetic")
    return numbered


def goods_value(facts: FilingFacts) -> Decimal:
    """goodsValue: the lines' totals."""
    return sum((line.total_price for line in facts.lines), Decimal(0))


def gross_weight(facts: FilingFacts) -> Decimal:
    return facts.parcel.gross_weight_kg or net_weight(facts)


def net_weight(facts: FilingFacts) -> Decimal:
    return sum((line.net_weight_kg for line in facts.lines), Decimal(0))


def buyer_id_type(party: Party) -> str:
    """1 for a resident ID card, 2 for any other document."""
    return "1" if party.id_type == "resident_id" else "2"


def hs10(line: FilingLine, field: str) -> str:
    """The 10-digit tariff code an inventory list line needs (dots and spaces dropped)."""
    digits = line.hs_code.replace(".", "").replace(" ", "")
    if len(digits) != 10 or not digits.isdigit():
        raise MessageRuleViolation(field, f"{line.hs_code!r} is not a 10-digit HS code (an inventory list line needs "
                                   "the full tariff code)", code="format")
    return digits


def logistics(facts: FilingFacts, declarant: Declarant) -> tuple[str, str]:
    return (facts.logistics_code or declarant.logistics_code, facts.logistics_name or declarant.logistics_name)


def note(facts: FilingFacts) -> str:
    """The note every head carries: silkgate's order id, then the filer's note."""
    return f"silkgate order {facts.order_id}" + (f"; {facts.note}" if facts.note else "")
