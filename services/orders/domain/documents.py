"""The rules on what the other two parties of an e-commerce order send (issue 13): the payment provider's payment
document (CEB411) and the logistics company's waybill (CEB511), and on the partners themselves. Pure, no I/O.

Whether a document agrees with the order (amount within ±1 CNY, payer = buyer, consignee = consignee) is customs'
three-document match (DOMAIN.md §6): these rules only make sure each document is well formed and comes from who it
says it comes from.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.orders.domain.identity import is_valid_uscc
from services.orders.domain.reference import TENDER_CURRENCY_CODES
from services.orders.domain.validation import DEFAULT_TIME_WINDOW, TimeWindow, Violation, id_violations
from shared.contract.parcel import Payment

PARTNER_KINDS = ("payment", "logistics")
# The key role that acts for each kind of partner.
ROLE_OF_KIND = {"payment": "payment", "logistics": "logistics"}


@dataclass(frozen=True)
class PartnerView:
    """Who a document comes from: the partner its key belongs to."""

    code: str
    name: str


# ── partners ──────────────────────────────────────────────────────────────────


def partner_violations(*, uscc: str | None) -> list[Violation]:
    """A partner's Unified Social Credit Code, when given, passes its GB 32100 check character (DOMAIN.md §5)."""
    if uscc is not None and not is_valid_uscc(uscc):
        return [Violation("uscc", "uscc_invalid", "not a valid Unified Social Credit Code (GB 32100 check character)")]
    return []


def role_violation(*, role: str, partner_kind: str | None, owner: str) -> Violation | None:
    """Why a key of `role` cannot belong to partner `owner` (unregistered, or of the other kind), or None."""
    if partner_kind is None:
        return Violation("owner", "partner_unknown",
                         f"{owner} is no registered partner: register it first (silkgate partners add)")
    if ROLE_OF_KIND[partner_kind] != role:
        return Violation("owner", "partner_kind_mismatch",
                         f"{owner} is a {partner_kind} partner: its keys have role {ROLE_OF_KIND[partner_kind]}")
    return None


# ── the payment document (CEB411) ─────────────────────────────────────────────


def payment_violations(payment: Payment, *, provider: PartnerView, now: datetime,
                       window: TimeWindow = DEFAULT_TIME_WINDOW) -> list[Violation]:
    """Every fault of a provider's payment document, fields relative to the payment.

    - `provider` names the provider whose key sends it (its partner code or its registered name);
    - the currency is a currency of legal tender (it may differ from the order's: customs converts, DOMAIN.md §6);
    - the payer's ID, when given, is whole and passes its check;
    - `paid_at` has a time zone and lies in the sane window.
    """
    violations: list[Violation] = []
    if payment.provider.casefold() not in {provider.code.casefold(), provider.name.casefold()}:
        violations.append(Violation("provider", "provider_mismatch",
                                    f"this key records payments of {provider.code} ({provider.name}), "
                                    f"not of {payment.provider}"))
    if payment.currency not in TENDER_CURRENCY_CODES:
        violations.append(Violation("currency", "currency_unknown",
                                    f"{payment.currency} is not an ISO 4217 currency of legal tender"))
    for violation in id_violations("payment", payment.payer_id_type, payment.payer_id_number, prefix="payer_"):
        violations.append(Violation(violation.field.removeprefix("payment."), violation.code, violation.message))
    late_or_early = window.violation("paid_at", payment.paid_at, now)
    if late_or_early is not None:
        violations.append(late_or_early)
    return violations


def same_payment(recorded: Payment, payment: Payment) -> bool:
    """True when `payment` is the recorded one sent again (a retry), not another payment."""
    return recorded == payment
