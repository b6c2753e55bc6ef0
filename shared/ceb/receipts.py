"""Receipts: built by the authority, read by customs.

E-commerce messages get the CEB even numbers (CEB312 for a 311, CEB622 for a 621 …); the JSON messages (mail,
express, brokers' answers) get a CUSRSPMessage in silkgate's namespace, of the same shape. Each receipt's record
names the guid of the message it answers, the declaration (copNo), the status and its time; the root's guid is the
document's own. The schema lets one document carry several records of its type (ceb.xsd: maxOccurs unbounded), so
the authority may answer several messages under one signature; customs' batch endpoint reads them all
(read_receipts), its single endpoint one (read_receipt).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from lxml import etree

from shared.ceb.errors import MessageMalformed, MessageRuleViolation
from shared.ceb.fields import CEB_NS, SILKGATE_NS, Writer, check_guid, message_root, parse_return_time, return_time
from shared.ceb.schema import check_outgoing, check_received
from shared.ceb.signing import verify_xml
from shared.ceb.status import is_known

# Message type filed → its receipt's type.
RECEIPT_OF: dict[str, str] = {
    "CEB311": "CEB312", "CEB303": "CEB304", "CEB621": "CEB622", "CEB603": "CEB604", "CEB623": "CEB624",
    "CEB605": "CEB606", "CEB625": "CEB626", "CUSITM": "CUSRSP", "EXPMANIFEST": "CUSRSP", "REVIEWANSWER": "CUSRSP",
    "INSPECTIONRECORD": "CUSRSP",
}
ANSWERS: dict[str, str] = {receipt: filed for filed, receipt in RECEIPT_OF.items() if receipt != "CUSRSP"}
# Receipt type → its record element and the fields it carries, in order (besides the status triple).
_LAYOUT: dict[str, tuple[str, tuple[str, ...]]] = {
    "CEB312": ("OrderReturn", ("guid", "ebpCode", "ebcCode", "orderNo")),
    "CEB304": ("OrderReturn", ("guid", "ebpCode", "ebcCode", "orderNo")),
    "CEB622": ("InventoryReturn", ("guid", "customsCode", "ebpCode", "ebcCode", "agentCode", "copNo", "preNo",
                                   "invtNo")),
    "CEB604": ("InventoryReturn", ("guid", "customsCode", "ebpCode", "ebcCode", "agentCode", "copNo", "preNo",
                                   "invtNo")),
    "CEB624": ("InvtCancelReturn", ("guid", "customsCode", "ebpCode", "ebcCode", "agentCode", "copNo", "preNo",
                                    "invtNo")),
    "CEB626": ("InvtRefundReturn", ("guid", "customsCode", "ebpCode", "ebcCode", "agentCode", "copNo", "preNo",
                                    "invtNo")),
    "CEB606": ("InvtCancelReturn", ("guid", "agentCode", "copNo", "preNo", "invtNo")),
    "CUSRSP": ("Response", ("guid", "messageType", "copNo", "orderNo", "preNo", "invtNo")),
}
_OPTIONAL = {"preNo", "invtNo", "orderNo"}
_ATTRIBUTES = {"guid": "guid", "ebpCode": "ebp_code", "ebcCode": "ebc_code", "orderNo": "order_no",
               "customsCode": "customs_code", "agentCode": "agent_code", "copNo": "cop_no", "preNo": "pre_no",
               "invtNo": "invt_no", "messageType": "answered_type"}
# Records one receipt document may carry (more is refused unread: one signature check must stay bounded).
MAX_RECORDS = 100
_LENGTHS = {"ebpCode": 18, "ebcCode": 18, "orderNo": 60, "customsCode": 4, "agentCode": 18, "copNo": 32,
            "preNo": 18, "invtNo": 18, "messageType": 16}


@dataclass(frozen=True)
class Receipt:
    """One receipt record. `guid` is the message answered; `receipt_guid` the receipt's own."""

    message_type: str  # CEB312 … CEB626, or CUSRSP
    receipt_guid: str
    guid: str
    return_status: int
    return_time: datetime
    return_info: str
    cop_no: str | None = None
    order_no: str | None = None
    pre_no: str | None = None
    invt_no: str | None = None
    answered_type: str | None = None  # the type of the message answered (CEB621, CUSITM …)
    customs_code: str | None = None
    ebp_code: str | None = None
    ebc_code: str | None = None
    agent_code: str | None = None


def build_receipt(receipt: Receipt) -> etree._Element:
    """The receipt document (unsigned): sign it with shared.ceb.signing.sign_xml before sending."""
    return build_receipts([receipt])


def build_receipts(receipts: Sequence[Receipt]) -> etree._Element:
    """One receipt document (unsigned) with a record for each receipt, in order: all of one receipt type, the
    root's guid the first receipt's receipt_guid. Sign it with shared.ceb.signing.sign_xml before sending."""
    if not 1 <= len(receipts) <= MAX_RECORDS:
        raise MessageRuleViolation("records", f"{len(receipts)} records; a receipt document holds 1 to {MAX_RECORDS}",
                                   code="format")
    message_type = receipts[0].message_type
    if message_type not in _LAYOUT:
        raise MessageRuleViolation("messageType", f"{message_type!r} is not a receipt type", code="format")
    if any(receipt.message_type != message_type for receipt in receipts):
        raise MessageRuleViolation("messageType", "one receipt document holds records of one type", code="format")
    record_name, fields = _LAYOUT[message_type]
    namespace = SILKGATE_NS if message_type == "CUSRSP" else CEB_NS
    root = message_root(message_type, receipts[0].receipt_guid, namespace)
    for receipt in receipts:
        if not is_known(receipt.return_status):
            raise MessageRuleViolation("returnStatus", f"{receipt.return_status} is not a customs return status",
                                       code="code_table")
        check_guid(receipt.guid, "guid")
        record = etree.SubElement(root, f"{{{namespace}}}{record_name}")
        writer = Writer(record, record_name, namespace)
        for name in fields:
            value = getattr(receipt, _ATTRIBUTES[name])
            writer.text(name, value, max_len=_LENGTHS.get(name, 36), required=name not in _OPTIONAL)
        writer.integer("returnStatus", receipt.return_status)
        writer.text("returnTime", return_time(receipt.return_time), max_len=17)
        writer.text("returnInfo", receipt.return_info or "-", max_len=1000)
    check_outgoing(root)
    return root


def parse_receipts(root: etree._Element) -> list[Receipt]:
    """Every record of a receipt document, checked against its XSD (MessageMalformed when it is not one)."""
    qname = etree.QName(root)
    message_type = qname.localname.removesuffix("Message")
    if qname.namespace not in (CEB_NS, SILKGATE_NS) or message_type not in _LAYOUT:
        raise MessageMalformed("message", f"{qname.localname!r} is not a receipt", code="not_a_receipt")
    check_received(root)
    record_name = _LAYOUT[message_type][0]
    record_tag, qualified, (status_tag, time_tag, info_tag) = _qualified(qname.namespace, message_type)
    answered = {} if message_type == "CUSRSP" else {"answered_type": ANSWERS[message_type]}
    receipt_guid = root.get("guid", "")
    receipts = []
    for record in root.iterchildren(record_tag):
        # The record's fields read in one pass, by qualified name (the schema allows each at most once).
        texts = {child.tag: child.text for child in record}
        values = {attribute: texts.get(tag) for tag, attribute in qualified}
        status = int(texts.get(status_tag) or 0)
        if not is_known(status):
            raise MessageMalformed(f"{record_name}.returnStatus", f"{status} is not a customs return status",
                                   code="code_table")
        receipts.append(Receipt(
            message_type=message_type, receipt_guid=receipt_guid, return_status=status,
            return_time=parse_return_time(texts.get(time_tag) or "", f"{record_name}.returnTime"),
            return_info=texts.get(info_tag) or "", **values, **answered,
        ))
    return receipts


@cache
def _qualified(namespace: str, message_type: str) -> tuple[str, tuple[tuple[str, str], ...], tuple[str, str, str]]:
    """A receipt type's record tag, its fields' tags with the attribute each fills, and the status triple's tags."""
    record_name, fields = _LAYOUT[message_type]
    ns = f"{{{namespace}}}"
    return (ns + record_name, tuple((ns + name, _ATTRIBUTES[name]) for name in fields),
            (ns + "returnStatus", ns + "returnTime", ns + "returnInfo"))


def read_receipt(data: bytes, authority_cert_pem: bytes) -> Receipt:
    """A received receipt: its signature checked against the authority's certificate, then its schema; exactly one
    record. Raises SignatureInvalid or MessageMalformed (keep the raw bytes either way: they are evidence)."""
    receipts = read_receipts(data, authority_cert_pem)
    if len(receipts) != 1:
        raise MessageMalformed("message", f"{len(receipts)} records; one receipt per document is expected",
                               code="not_one_record")
    return receipts[0]


def read_receipts(data: bytes, authority_cert_pem: bytes) -> list[Receipt]:
    """A received receipt document and every record in it, in order: the one signature checked against the
    authority's certificate, then the schema; 1 to MAX_RECORDS records. Raises SignatureInvalid or
    MessageMalformed (keep the raw bytes either way: they are evidence)."""
    signed = verify_xml(data, authority_cert_pem)
    receipts = parse_receipts(signed)
    if len(receipts) > MAX_RECORDS:
        raise MessageMalformed("message", f"{len(receipts)} records; a receipt document holds at most {MAX_RECORDS}",
                               code="too_many_records")
    return receipts
