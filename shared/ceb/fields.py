"""Field formats of the CEB messages and a writer that enforces each field's rule as it writes the element.

Times are China time (UTC+8), as the single window's are: appTime YYYYMMDDhhmmss, returnTime YYYYMMDDhhmmssSSS,
dates YYYYMMDD. Amounts are decimals of at most 19 digits, 5 after the point (N19,5). Every error names the
element path, e.g. `OrderHead.acturalPaid` or `InventoryList[2].gcode` (the number in brackets is the gnum).
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation

from lxml import etree

from shared.ceb.errors import MessageMalformed, MessageRuleViolation

CEB_NS = "http://www.chinaport.gov.cn/ceb"
# silkgate's own namespace for receipts of the JSON messages (mail, express, answers): not a published standard.
SILKGATE_NS = "urn:silkgate:customs:1"
DSIG_NS = "http://www.w3.org/2000/09/xmldsig#"
VERSION = "1.0"
CHINA_TIME = timezone(timedelta(hours=8))

GUID_PATTERN = re.compile(r"[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}")
AMOUNT_DIGITS, AMOUNT_PLACES = 19, 5


def new_guid() -> str:
    """A message guid: 36 characters, upper case."""
    return str(uuid.uuid4()).upper()


def check_guid(value: str, field: str) -> str:
    if not isinstance(value, str) or not GUID_PATTERN.fullmatch(value):
        raise MessageRuleViolation(field, f"{value!r} is not a 36-character upper-case guid", code="format")
    return value


def _china(moment: datetime, field: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise MessageRuleViolation(field, "a time without a time zone cannot be stated in China time", code="format")
    return moment.astimezone(CHINA_TIME)


def app_time(moment: datetime, field: str = "appTime") -> str:
    """YYYYMMDDhhmmss in China time."""
    return _china(moment, field).strftime("%Y%m%d%H%M%S")


def ceb_date(moment: datetime, field: str) -> str:
    """YYYYMMDD in China time."""
    return _china(moment, field).strftime("%Y%m%d")


def return_time(moment: datetime) -> str:
    """YYYYMMDDhhmmssSSS in China time (receipts)."""
    local = _china(moment, "returnTime")
    return local.strftime("%Y%m%d%H%M%S") + f"{local.microsecond // 1000:03d}"


def parse_return_time(text: str, field: str = "returnTime") -> datetime:
    """A receipt's returnTime (17 digits; 14 accepted) as an aware datetime."""
    if not _RETURN_TIME.fullmatch(text or ""):
        raise MessageMalformed(field, f"{text!r} is not YYYYMMDDhhmmssSSS", code="format")
    try:
        # By position, not strptime (a third of reading a receipt's fields): the pattern fixed every digit's place.
        moment = datetime(int(text[:4]), int(text[4:6]), int(text[6:8]), int(text[8:10]), int(text[10:12]),
                          int(text[12:14]), tzinfo=CHINA_TIME)
    except ValueError as exc:
        raise MessageMalformed(field, f"{text!r} is not a valid time", code="format") from exc
    return moment + timedelta(milliseconds=int(text[14:] or 0))


_RETURN_TIME = re.compile(r"[0-9]{14}([0-9]{3})?")  # ASCII digits only, as strptime read them


def parse_app_time(text: str, field: str = "appTime") -> datetime:
    if not re.fullmatch(r"\d{14}", text or ""):
        raise MessageMalformed(field, f"{text!r} is not YYYYMMDDhhmmss", code="format")
    try:
        return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=CHINA_TIME)
    except ValueError as exc:
        raise MessageMalformed(field, f"{text!r} is not a valid time", code="format") from exc


def amount_text(value: Decimal, field: str, *, places: int = AMOUNT_PLACES) -> str:
    """A decimal as the message writes it: plain digits, no exponent, trailing zeros after the point dropped."""
    try:
        number = Decimal(value)
    except (InvalidOperation, TypeError, ValueError) as exc:
        raise MessageRuleViolation(field, f"{value!r} is not a number", code="format") from exc
    if not number.is_finite() or number < 0:
        raise MessageRuleViolation(field, f"{value} must be a finite number not below zero", code="format")
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > places and number != number.quantize(Decimal(1).scaleb(-places)):
        raise MessageRuleViolation(field, f"{value} has more than {places} decimal places", code="format")
    text = format(number.normalize(), "f") if number else "0"
    if len(text.replace(".", "")) > AMOUNT_DIGITS:
        raise MessageRuleViolation(field, f"{value} has more than {AMOUNT_DIGITS} digits", code="format")
    return text


class Writer:
    """Appends the child elements of one CEB record in order, checking each value against its rule."""

    def __init__(self, parent: etree._Element, path: str, namespace: str = CEB_NS) -> None:
        self.parent, self.path, self.namespace = parent, path, namespace

    def field(self, name: str) -> str:
        return f"{self.path}.{name}"

    def _append(self, name: str, text: str) -> etree._Element:
        element = etree.SubElement(self.parent, f"{{{self.namespace}}}{name}")
        element.text = text
        return element

    def text(self, name: str, value: str | None, *, max_len: int, required: bool = True,
             pattern: str | None = None, meaning: str = "") -> None:
        """A string field of at most `max_len` characters; an optional empty one is left out."""
        value = (value or "").strip() if value is not None else ""
        if not value:
            if required:
                raise MessageRuleViolation(self.field(name), "is required", code="required")
            return
        if len(value) > max_len:
            raise MessageRuleViolation(self.field(name), f"{len(value)} characters, at most {max_len} allowed",
                                       code="too_long")
        if pattern is not None and not re.fullmatch(pattern, value):
            raise MessageRuleViolation(self.field(name), f"{value!r} is not {meaning or pattern}", code="format")
        self._append(name, value)

    def amount(self, name: str, value: Decimal, *, places: int = AMOUNT_PLACES) -> None:
        self._append(name, amount_text(value, self.field(name), places=places))

    def integer(self, name: str, value: int) -> None:
        self._append(name, str(int(value)))

    def coded(self, name: str, code: str | None, *, source: str, table: str) -> None:
        """A code-table field: `code` is the looked-up code, None when `source` has none in `table`."""
        if code is None:
            raise MessageRuleViolation(self.field(name), f"{source!r} has no code in the {table} table",
                                       code="code_table")
        self._append(name, code)


def ceb(name: str) -> str:
    """The qualified name of a CEB element."""
    return f"{{{CEB_NS}}}{name}"


def message_root(message_type: str, guid: str, namespace: str = CEB_NS) -> etree._Element:
    """`<CEBnnnMessage guid=… version="1.0">` with the namespace as default (no prefix)."""
    root = etree.Element(f"{{{namespace}}}{message_type}Message", nsmap={None: namespace})
    root.set("guid", check_guid(guid, f"{message_type}Message@guid"))
    root.set("version", VERSION)
    return root


def to_bytes(root: etree._Element) -> bytes:
    """UTF-8 with an XML declaration, as filed."""
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def parse_xml(data: bytes, field: str = "message") -> etree._Element:
    """Parse received XML safely: no DTDs, no entities, no network."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                             remove_blank_text=False)
    try:
        return etree.fromstring(data, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise MessageMalformed(field, f"not well-formed XML: {exc}", code="xml_malformed") from exc
