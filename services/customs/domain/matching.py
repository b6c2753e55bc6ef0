"""Three-document match (三单对碰, DOMAIN.md §6): order, payment and waybill must agree.

Only e-commerce needs it: mail and express are declared by the post or the courier on its own document
(CN22/CN23, express manifest), with no payment company in the flow, so they need no match.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.customs.domain.errors import UnknownCurrency
from services.customs.domain.money import to_cny
from services.customs.domain.policy import CustomsPolicy
from shared.contract.events import Finding, WaybillIssued
from shared.contract.parcel import Parcel, Party, Payment

DOCUMENTS = ("order", "payment", "waybill")

_PUNCTUATION_SPACING = re.compile(r"\s*([,，;])\s*")
_WHITESPACE = re.compile(r"\s+")
_NOT_DIGIT = re.compile(r"\D")
_ID_SEPARATORS = re.compile(r"[\s\-]")


@dataclass(frozen=True)
class WaybillDocument:
    """The waybill as the match needs it: the order number it carries and its consignee."""

    order_no: str
    consignee: Party
    order_id: str | None = None
    tracking_number: str | None = None

    @classmethod
    def from_event(cls, event: WaybillIssued) -> WaybillDocument:
        """The match's view of a waybill.issued event (silkgate postal is the logistics company)."""
        return cls(event.merchant_order_no, event.consignee, event.order_id, event.tracking_number)

    @classmethod
    def from_recorded(cls, body: dict) -> WaybillDocument:
        """The match's view of an external logistics company's waybill (waybill.recorded, CEB511)."""
        return cls(str(body["merchant_order_no"]), Party.model_validate(body["consignee"]), body.get("order_id"),
                   body.get("logistics_no"))


@dataclass(frozen=True)
class MatchResult:
    """Which documents are present, which are missing, and where the present ones disagree."""

    complete: bool
    missing: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def matched(self) -> bool:
        """All three documents present and in agreement: releasable as far as the match goes."""
        return self.complete and not self.findings


def needs_three_document_match(channel: str) -> bool:
    """Only e-commerce declarations wait for order, payment and waybill (DOMAIN.md §6)."""
    return channel == "ecommerce"


def documents_overdue(*, opened_at: datetime, now: datetime, policy: CustomsPolicy) -> bool:
    """True once the configurable deadline for the missing documents has passed (DOMAIN.md §6)."""
    return now - opened_at > timedelta(minutes=policy.document_deadline_minutes)


def normalize_text(text: str) -> str:
    """Compare names and addresses loosely: NFKC (full-width → ASCII), case, whitespace, comma spacing."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _PUNCTUATION_SPACING.sub(r"\1", text)
    return _WHITESPACE.sub(" ", text).strip(" .,;")


def normalize_phone(phone: str) -> str:
    """Digits only, with an international "00" prefix written as "+" (both forms mean the same line)."""
    digits = _NOT_DIGIT.sub("", phone)
    if phone.strip().startswith("00"):
        digits = digits[2:]
    return digits


def normalize_id(id_number: str) -> str:
    """ID numbers without spaces or dashes, upper case (the resident ID's check character may be "x")."""
    return _ID_SEPARATORS.sub("", id_number).upper()


def match_documents(
    *,
    order_id: str | None,
    parcel: Parcel | None,
    payment: Payment | None,
    waybill: WaybillIssued | WaybillDocument | None,
    policy: CustomsPolicy,
    payment_order_id: str | None = None,
    require_identity: bool = False,
) -> MatchResult:
    """Match what has arrived; documents arrive in any order, so absent ones are listed, not an error.

    `payment` is the payment company's own document; the payment a merchant's order carries is only the order's
    claim (CEB311 payCode, payTransactionId), compared with it. `require_identity`: the payer's ID must be on
    both sides (an e-commerce import): a missing ID is a finding, not a pass.
    """
    if isinstance(waybill, WaybillIssued):
        waybill = WaybillDocument.from_event(waybill)
    present = {"order": parcel is not None, "payment": payment is not None, "waybill": waybill is not None}
    missing = [name for name in DOCUMENTS if not present[name]]
    findings: list[Finding] = []
    if parcel is not None and waybill is not None:
        findings += order_number_findings(order_id=order_id, parcel=parcel, waybill=waybill)
        findings += consignee_findings(order=parcel.consignee, waybill=waybill.consignee)
    if parcel is not None and payment is not None:
        if payment_order_id is not None and order_id is not None and payment_order_id != order_id:
            findings.append(_mismatch("order_number_mismatch", "payment is for another order", ["payment.order_id"]))
        findings += amount_findings(parcel=parcel, payment=payment, policy=policy)
        findings += payer_findings(buyer=parcel.effective_buyer, payment=payment, require_identity=require_identity)
        findings += payment_claim_findings(claim=parcel.payment, payment=payment)
    return MatchResult(complete=not missing, missing=missing, findings=findings)


def order_number_findings(*, order_id: str | None, parcel: Parcel, waybill: WaybillDocument) -> list[Finding]:
    """The waybill must carry the order's number (DOMAIN.md §6)."""
    fields = []
    if waybill.order_no.strip() != parcel.merchant_order_no.strip():
        fields.append("waybill.order_no")
    if waybill.order_id is not None and order_id is not None and waybill.order_id != order_id:
        fields.append("waybill.order_id")
    if not fields:
        return []
    return [_mismatch("order_number_mismatch", "waybill order number differs from the order's", fields)]


def amount_findings(*, parcel: Parcel, payment: Payment, policy: CustomsPolicy) -> list[Finding]:
    """Amount paid on the payment = on the order, within ±1 CNY after conversion (DOMAIN.md §6)."""
    try:
        paid = to_cny(payment.amount, payment.currency, policy)
    except UnknownCurrency:
        # The payment company's document is the one at fault: say so rather than fail the whole match.
        message = f"no exchange rate for payment currency {payment.currency}"
        return [_mismatch("amount_mismatch", message, ["payment.currency"])]
    ordered = to_cny(parcel.amount_paid, parcel.currency, policy)
    if abs(paid - ordered) <= policy.match_tolerance_cny:
        return []
    message = f"paid {paid} CNY, order says {ordered} CNY (tolerance {policy.match_tolerance_cny} CNY)"
    return [_mismatch("amount_mismatch", message, ["payment.amount", "order.amount_paid"])]


def payer_findings(*, buyer: Party, payment: Payment, require_identity: bool = False) -> list[Finding]:
    """The payer must be the buyer: same name, and same ID (DOMAIN.md §6). With `require_identity`, an ID
    missing on either side is a finding: a match the documents cannot prove is not a match."""
    fields = []
    if normalize_text(payment.payer_name) != normalize_text(buyer.name):
        fields.append("payment.payer_name")
    if require_identity and not (payment.payer_id_number and buyer.id_number):
        missing = [name for name, value in (("payment.payer_id_number", payment.payer_id_number),
                                            ("buyer.id_number", buyer.id_number)) if not value]
        return [Finding(code="payer_id_missing", severity="high", fields=fields + missing,
                        message="the payer's identity cannot be checked: "
                                f"{' and '.join(missing)} missing")]
    if payment.payer_id_number and buyer.id_number:
        if normalize_id(payment.payer_id_number) != normalize_id(buyer.id_number):
            fields.append("payment.payer_id_number")
        elif payment.payer_id_type and buyer.id_type and payment.payer_id_type != buyer.id_type:
            fields.append("payment.payer_id_type")
    if not fields:
        return []
    return [_mismatch("payer_mismatch", "payer identity differs from the buyer's", fields)]


def payment_claim_findings(*, claim: Payment | None, payment: Payment) -> list[Finding]:
    """The order's claim about its payment (provider, transaction id) must name the payment company's document."""
    if claim is None:
        return []
    fields = []
    if normalize_text(claim.provider) != normalize_text(payment.provider):
        fields.append("payment.provider")
    if claim.transaction_id.strip() != payment.transaction_id.strip():
        fields.append("payment.transaction_id")
    if not fields:
        return []
    return [_mismatch("payment_claim_mismatch", "the order names another payment than the payment company's",
                      fields)]


def consignee_findings(*, order: Party, waybill: Party) -> list[Finding]:
    """Consignee name, phone and address on the order = on the waybill (DOMAIN.md §5, §6)."""
    fields = []
    if normalize_text(order.name) != normalize_text(waybill.name):
        fields.append("consignee.name")
    if normalize_phone(order.phone) != normalize_phone(waybill.phone):
        fields.append("consignee.phone")
    if normalize_text(order.address) != normalize_text(waybill.address):
        fields.append("consignee.address")
    # City and postal code are part of the address when both documents carry them; country always.
    for name in ("city", "postal_code"):
        mine, theirs = getattr(order, name), getattr(waybill, name)
        if mine and theirs and normalize_text(mine) != normalize_text(theirs):
            fields.append(f"consignee.{name}")
    if order.country != waybill.country:
        fields.append("consignee.country")
    if not fields:
        return []
    return [_mismatch("consignee_mismatch", "consignee on the waybill differs from the order's", fields)]


def _mismatch(code: str, message: str, fields: list[str]) -> Finding:
    # Every disagreement between documents holds the declaration for a broker (severity high).
    return Finding(code=code, severity="high", message=message[:512], fields=fields)
