"""Customs' outgoing messages (DOMAIN.md §11), built from FilingFacts; pure: no database, no HTTP.

    messages = build_filing(facts, declarant, identity)   # CEB311 + CEB621, CEB303 + CEB603, CUSITM or EXPMANIFEST
    cancel = build_message(cancel_kind(channel, direction), facts, declarant, identity)
    answer = seal_json(build_review_answer(...), identity)

A broken field rule raises shared.ceb.errors.MessageRuleViolation naming the element (e.g. OrderHead.acturalPaid).
"""

from services.customs.messages.answers import build_inspection_record, build_review_answer
from services.customs.messages.ecommerce_export import build_ceb303, build_ceb603, build_ceb605
from services.customs.messages.ecommerce_import import build_ceb311, build_ceb621, build_ceb623, build_ceb625
from services.customs.messages.facts import Declarant, DeclarantSettings, FilingFacts, FilingLine
from services.customs.messages.outgoing import (
    RETURN_KIND,
    OutgoingMessage,
    build_filing,
    build_message,
    cancel_kind,
    filing_kinds,
    seal_json,
    seal_xml,
)
from services.customs.messages.postal import build_cusitm, build_expmanifest
from shared.ceb.errors import MessageRuleViolation

__all__ = [
    "RETURN_KIND", "Declarant", "DeclarantSettings", "FilingFacts", "FilingLine", "MessageRuleViolation",
    "OutgoingMessage", "build_ceb303", "build_ceb311", "build_ceb603", "build_ceb605", "build_ceb621",
    "build_ceb623", "build_ceb625", "build_cusitm", "build_expmanifest", "build_filing", "build_inspection_record",
    "build_message", "build_review_answer", "cancel_kind", "filing_kinds", "seal_json", "seal_xml",
]
