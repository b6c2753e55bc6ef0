"""Pre-filing controls: what must hold before silkgate files a declaration with the authority, whoever asks.

Risk findings (a vague description, an undervalued line, a watchlisted name) are for a broker to weigh: the
broker may amend the declaration and file it. The controls here are not: a broker's "file" is refused while one
of them fails, so the party a control checks can never satisfy it alone, and a broker cannot wave it through.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from services.customs.domain.hs import normalize_hs
from services.customs.domain.matching import normalize_id
from services.customs.domain.policy import CustomsPolicy
from shared.contract.events import Finding
from shared.contract.identity import is_valid_passport_number, is_valid_resident_id
from shared.contract.parcel import OrderLine, Parcel

# Findings that stop a filing: missing or disagreeing documents (DOMAIN.md §6), identity, the inventory list's
# HS codes, the quota and limits (§7), and what may never be filed at all.
BLOCKING_CODES = frozenset({
    "documents_missing",
    "order_number_mismatch",
    "amount_mismatch",
    "payer_mismatch",
    "payer_id_missing",
    "consignee_mismatch",
    "payment_claim_mismatch",
    "buyer_id_missing",
    "buyer_id_invalid",
    "hs_code_not_10_digits",
    "hs_chapter_invalid",
    "hs_prohibited",
    "annual_limit_exceeded",
    "value_over_channel_limit",
    "message_rule_violation",
})


def blocking(findings: Iterable[Finding]) -> list[Finding]:
    """The findings that stop a filing: a blocking code at high severity or more (a single indivisible item over
    the e-commerce limit is an `info` finding: allowed, taxed at general-trade rates, DOMAIN.md §7)."""
    return [f for f in findings if f.severity == "prohibited" or (f.code in BLOCKING_CODES and f.severity == "high")]


def needs_buyer_identity(parcel: Parcel) -> bool:
    """E-commerce imports are declared against the buyer's identity: the quota is a person's (DOMAIN.md §5, §7)."""
    return parcel.channel == "ecommerce" and parcel.direction == "import"


def buyer_identity(parcel: Parcel, policy: CustomsPolicy) -> list[Finding]:
    """An e-commerce import needs the buyer's ID type and number, valid for its type."""
    if not needs_buyer_identity(parcel):
        return []
    buyer, role = parcel.effective_buyer, "buyer" if parcel.buyer is not None else "consignee"
    if not buyer.id_type or not buyer.id_number or buyer.id_type not in policy.buyer_id_types:
        allowed = ", ".join(sorted(policy.buyer_id_types))
        return [Finding(code="buyer_id_missing", severity="high",
                        message=f"an e-commerce import needs the buyer's identity ({allowed})",
                        fields=[f"{role}.id_type", f"{role}.id_number"])]
    if not is_valid_identity(buyer.id_type, buyer.id_number):
        return [Finding(code="buyer_id_invalid", severity="high",
                        message=f"the buyer's {buyer.id_type} number is not valid", fields=[f"{role}.id_number"])]
    return []


def is_valid_identity(id_type: str, id_number: str) -> bool:
    """Resident IDs by their GB 11643 check character, passports by format; other types by presence."""
    number = normalize_id(id_number)
    if id_type == "resident_id":
        return is_valid_resident_id(number)
    if id_type == "passport":
        return is_valid_passport_number(number)
    return bool(number)


def inventory_hs_codes(parcel: Parcel, lines: Sequence[OrderLine], policy: CustomsPolicy) -> list[Finding]:
    """Inventory lists carry China's 10-digit HS code on every line, import and export (gcode, DOMAIN.md §5)."""
    if parcel.channel != "ecommerce":
        return []
    short = [line for line in lines if len(normalize_hs(line.hs_code)) != policy.inventory_hs_digits]
    return [Finding(code="hs_code_not_10_digits", severity="high",
                    message=f"line {line.line_no}: HS {line.hs_code} — an inventory list needs "
                            f"{policy.inventory_hs_digits} digits",
                    fields=[f"lines[{line.line_no}].hs_code"]) for line in short]


def controls(parcel: Parcel, policy: CustomsPolicy) -> list[Finding]:
    """The parcel's own controls (documents and quota are checked where they are known)."""
    return [*buyer_identity(parcel, policy), *inventory_hs_codes(parcel, parcel.lines, policy)]
