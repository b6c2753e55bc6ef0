"""The XSDs the project keeps (shared/ceb/xsd), and validation against them.

Outgoing messages are checked before they are signed (a failure is a MessageRuleViolation with code "schema");
received ones after their signature is checked (a failure is MessageMalformed). The error names the element path
at fault, e.g. `CEB621Message.Inventory.InventoryList[2].gcode`.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from lxml import etree

from shared.ceb.errors import MessageMalformed, MessageRuleViolation
from shared.ceb.fields import CEB_NS, SILKGATE_NS

_SCHEMA_FILES = {CEB_NS: "ceb.xsd", SILKGATE_NS: "cusrsp.xsd"}


@cache
def _schema(namespace: str) -> etree.XMLSchema:
    text = resources.files("shared.ceb").joinpath("xsd", _SCHEMA_FILES[namespace]).read_bytes()
    return etree.XMLSchema(etree.fromstring(text))


def schema_errors(root: etree._Element) -> list[tuple[str, str]]:
    """(element path, message) for each way `root` breaks its schema; empty when it validates."""
    namespace = etree.QName(root).namespace
    if namespace not in _SCHEMA_FILES:
        return [("/", f"no schema for namespace {namespace!r}")]
    schema = _schema(namespace)
    if schema.validate(root):
        return []
    # Errors carry a line number but, for a default namespace, only "/*/*" as a path: validate a pretty-printed
    # copy (one element per line) to tell which element each error is about.
    copy = etree.fromstring(etree.tostring(root, pretty_print=True))
    schema.validate(copy)
    by_line = {element.sourceline: element for element in copy.iter() if isinstance(element.tag, str)}
    return [(element_path(by_line.get(error.line)), _plain_message(error.message)) for error in schema.error_log]


def check_outgoing(root: etree._Element) -> None:
    """Raise MessageRuleViolation for the first schema error of a message silkgate is about to sign."""
    errors = schema_errors(root)
    if errors:
        path, message = errors[0]
        raise MessageRuleViolation(path, message, code="schema")


def check_received(root: etree._Element) -> None:
    """Raise MessageMalformed for the first schema error of a received message or receipt."""
    errors = schema_errors(root)
    if errors:
        path, message = errors[0]
        raise MessageMalformed(path, message, code="schema_invalid")


def element_path(element: etree._Element | None) -> str:
    """CEB621Message.Inventory.InventoryList[2].gcode: local names, a 1-based index where a name repeats."""
    if element is None:
        return "message"
    parts = []
    while element is not None:
        name = etree.QName(element).localname
        parent = element.getparent()
        if parent is not None:
            same = [sibling for sibling in parent if sibling.tag == element.tag]
            if len(same) > 1:
                name += f"[{same.index(element) + 1}]"
        parts.append(name)
        element = parent
    return ".".join(reversed(parts))


def _plain_message(message: str) -> str:
    return message.replace("{" + CEB_NS + "}", "").replace("{" + SILKGATE_NS + "}", "")
