"""From facts to what is filed: which messages a declaration needs, each checked against its schema and signed.

`build_filing` gives the messages of a first filing (or a re-filing, app_type 2) by channel and direction:
e-commerce import CEB311 + CEB621, e-commerce export CEB303 + CEB603, mail CUSITM, express EXPMANIFEST. A cancel
is CEB623 / CEB605 for e-commerce, and for mail and express the same JSON message again with app_type 3 (delete);
a return is CEB625. Each message gets its own guid: the guid is the transport's MessageId and what receipts name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lxml import etree

from services.customs.messages.ecommerce_export import build_ceb303, build_ceb603, build_ceb605
from services.customs.messages.ecommerce_import import build_ceb311, build_ceb621, build_ceb623, build_ceb625
from services.customs.messages.facts import Declarant, FilingFacts
from services.customs.messages.postal import build_cusitm, build_expmanifest
from shared.ceb.fields import new_guid
from shared.ceb.json_messages import JsonMessage, message_bytes
from shared.ceb.schema import check_outgoing
from shared.ceb.signing import SigningIdentity, sign_bytes, sign_xml
from shared.ceb.transport import XML_TYPES

XML_BUILDERS: dict[str, Callable[..., etree._Element]] = {
    "CEB311": build_ceb311, "CEB621": build_ceb621, "CEB623": build_ceb623, "CEB625": build_ceb625,
    "CEB303": build_ceb303, "CEB603": build_ceb603, "CEB605": build_ceb605,
}
JSON_BUILDERS: dict[str, Callable[..., JsonMessage]] = {"CUSITM": build_cusitm, "EXPMANIFEST": build_expmanifest}
RETURN_KIND = "CEB625"


@dataclass(frozen=True)
class OutgoingMessage:
    """One message ready to file, exactly as it will be filed (and stored for audit)."""

    kind: str  # CEB621, CUSITM, REVIEWANSWER …
    guid: str
    cop_no: str
    body: bytes  # signed XML, or the JSON bytes that `signature` signs
    signature: str | None = None  # JSON messages only: detached RSA-SHA256, base64

    @property
    def content_type(self) -> str:
        return "application/xml" if self.kind in XML_TYPES else "application/json"


def filing_kinds(channel: str, direction: str) -> tuple[str, ...]:
    """The messages a filing of this channel and direction consists of, in filing order."""
    if channel == "ecommerce":
        return ("CEB311", "CEB621") if direction == "import" else ("CEB303", "CEB603")
    if channel == "mail":
        return ("CUSITM",)
    if channel == "express":
        return ("EXPMANIFEST",)
    raise ValueError(f"unknown channel {channel!r}")


def cancel_kind(channel: str, direction: str) -> str:
    """The message that cancels a filing: CEB623/CEB605, or for mail and express their message with app_type 3."""
    if channel == "ecommerce":
        return "CEB623" if direction == "import" else "CEB605"
    return filing_kinds(channel, direction)[0]


def seal_xml(kind: str, root: etree._Element, *, cop_no: str, identity: SigningIdentity) -> OutgoingMessage:
    """Check the document against the XSD (MessageRuleViolation on failure), then sign it."""
    check_outgoing(root)
    return OutgoingMessage(kind=kind, guid=root.get("guid", ""), cop_no=cop_no, body=sign_xml(root, identity))


def seal_json(message: JsonMessage, identity: SigningIdentity) -> OutgoingMessage:
    """The JSON bytes (already validated by their model) and their detached signature."""
    body = message_bytes(message)
    return OutgoingMessage(kind=message.message_type, guid=message.guid, cop_no=message.cop_no, body=body,
                           signature=sign_bytes(body, identity))


def build_message(kind: str, facts: FilingFacts, declarant: Declarant, identity: SigningIdentity, *,
                  guid: str | None = None) -> OutgoingMessage:
    """One message of `kind` built from `facts`, checked and signed; a new guid unless one is given."""
    guid = guid or new_guid()
    if kind in XML_BUILDERS:
        root = XML_BUILDERS[kind](facts, declarant, guid=guid)
        return seal_xml(kind, root, cop_no=facts.declaration_id, identity=identity)
    if kind in JSON_BUILDERS:
        return seal_json(JSON_BUILDERS[kind](facts, declarant, guid=guid), identity)
    raise ValueError(f"no builder for {kind!r}")


def build_filing(facts: FilingFacts, declarant: Declarant, identity: SigningIdentity) -> list[OutgoingMessage]:
    """Every message of one filing of `facts` (see filing_kinds), each with a new guid. Any rule broken raises
    MessageRuleViolation before anything is signed, so a filing is all or nothing."""
    return [build_message(kind, facts, declarant, identity) for kind in filing_kinds(facts.channel, facts.direction)]
