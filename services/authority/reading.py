"""Reading a received message: its signature against the filer's certificate, its XSD or JSON model, and the
facts the authority acts on. Pure: bytes in, a Filing or a typed error out."""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from services.authority.verification import FilerCertificate, verify_detached, verify_filing
from shared.ceb import codes
from shared.ceb.errors import MessageMalformed
from shared.ceb.fields import CEB_NS
from shared.ceb.json_messages import Cusitm, ExpManifest, InspectionRecord, ReviewAnswer, parse_json_message
from shared.ceb.receipts import RECEIPT_OF
from shared.ceb.schema import check_received, element_path
from shared.ceb.transport import Envelope

# Message kind → (record path under the root, head element inside the record or None).
_RECORDS = {
    "CEB311": ("Order", "OrderHead"), "CEB303": ("Order", "OrderHead"),
    "CEB621": ("Inventory", "InventoryHead"), "CEB603": ("Inventory", "InventoryHead"),
    "CEB623": ("InvtCancel", None), "CEB605": ("InvtCancel", None), "CEB625": ("InvtRefund", "InvtRefundHead"),
}
_GCODES = {"CEB621": "InventoryList", "CEB603": "InventoryList", "CEB625": "InvtRefundList"}
# The XSD says "three digits"; the code tables say which three digits exist.
_CODED = {"currency": codes.is_currency_code, "fCurrency": codes.is_currency_code,
          "iCurrency": codes.is_currency_code, "country": codes.is_country_code, "unit": codes.is_unit_code,
          "unit1": codes.is_unit_code}
_CODED_TAGS = tuple(f"{{{CEB_NS}}}{name}" for name in _CODED)
_CHECKS = {f"{{{CEB_NS}}}{name}": check for name, check in _CODED.items()}


@dataclass(frozen=True)
class Filing:
    """What the authority needs to know of one received message."""

    kind: str
    guid: str
    app_type: int
    cop_no: str | None = None
    order_no: str | None = None
    customs_code: str | None = None
    ebp_code: str | None = None
    ebc_code: str | None = None
    agent_code: str | None = None
    pre_no: str | None = None
    invt_no: str | None = None
    hs_codes: tuple[str, ...] = field(default=())
    answers_guid: str | None = None  # answers: the filing answered
    passed: bool | None = None  # INSPECTIONRECORD: the outcome

    @property
    def receipt_type(self) -> str:
        return RECEIPT_OF[self.kind]


def read(envelope: Envelope, filer: FilerCertificate) -> Filing:
    """Check and read one message with the filer's certificate; raises SignatureInvalid or MessageMalformed naming
    the field at fault."""
    filing = _read_xml(envelope, filer) if envelope.is_xml else _read_json(envelope, filer)
    if filing.guid != envelope.message_id:
        raise MessageMalformed("Message.MessageHead.MessageId", f"{envelope.message_id} is not the message's guid "
                               f"{filing.guid}", code="message_id_mismatch")
    return filing


def _read_xml(envelope: Envelope, filer: FilerCertificate) -> Filing:
    signed = verify_filing(envelope.data, filer)
    name = etree.QName(signed)
    if (name.namespace, name.localname) != (CEB_NS, f"{envelope.kind}Message"):
        raise MessageMalformed("Message.MessageHead.MessageType", f"the envelope says {envelope.kind}, the "
                               f"message is {name.localname}", code="message_type_mismatch")
    check_received(signed)
    _check_codes(signed)
    record_name, head_name = _RECORDS[envelope.kind]
    records = signed.findall(f"{{{CEB_NS}}}{record_name}")
    if len(records) != 1:
        raise MessageMalformed(f"{name.localname}.{record_name}", f"{len(records)} records; the sandbox takes one "
                               "per message", code="one_record_expected")
    record = records[0]
    head = record.find(f"{{{CEB_NS}}}{head_name}") if head_name else record

    def value(tag: str) -> str | None:
        element = head.find(f"{{{CEB_NS}}}{tag}")
        return element.text if element is not None else None

    hs_codes = tuple(element.text or "" for element in record.findall(f"{{{CEB_NS}}}{_GCODES.get(envelope.kind, '-')}"
                                                                     f"/{{{CEB_NS}}}gcode"))
    return Filing(kind=envelope.kind, guid=signed.get("guid", ""), app_type=int(value("appType") or 1),
                  cop_no=value("copNo"), order_no=value("orderNo"), customs_code=value("customsCode"),
                  ebp_code=value("ebpCode"), ebc_code=value("ebcCode"), agent_code=value("agentCode"),
                  pre_no=value("preNo"), invt_no=value("invtNo"), hs_codes=hs_codes)


def _check_codes(root: etree._Element) -> None:
    """The first coded element (in document order) whose code is not in its table is refused."""
    for element in root.iter(*_CODED_TAGS):
        if not _CHECKS[element.tag](element.text or ""):
            raise MessageMalformed(element_path(element), f"{element.text!r} is not in the code table",
                                   code="code_table")


def _read_json(envelope: Envelope, filer: FilerCertificate) -> Filing:
    verify_detached(envelope.data, envelope.signature, filer, field="Message.MessageHead.Signature")
    message = parse_json_message(envelope.kind, envelope.data)
    common = {"kind": envelope.kind, "guid": message.guid, "cop_no": message.cop_no,
              "agent_code": message.filer.cop_code}
    if isinstance(message, Cusitm):
        return Filing(**common, app_type=message.app_type, order_no=message.order_no,
                      hs_codes=tuple(line.hs_code for line in message.lines))
    if isinstance(message, ExpManifest):
        return Filing(**common, app_type=message.app_type, order_no=message.order_no,
                      hs_codes=tuple(line.hs_code or "" for line in message.contents))
    if isinstance(message, ReviewAnswer):
        return Filing(**common, app_type=1, answers_guid=message.answers_guid)
    assert isinstance(message, InspectionRecord)
    return Filing(**common, app_type=1, answers_guid=message.answers_guid, passed=message.outcome == "passed")
