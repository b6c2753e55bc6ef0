"""Which customs form a parcel needs, by channel (DOMAIN.md §2)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from services.customs.domain.hs import hs_chapter, normalize_hs
from services.customs.domain.money import sdr_in_cny, to_cny, to_sdr
from services.customs.domain.policy import CustomsPolicy
from shared.contract.events import Finding
from shared.contract.parcel import Parcel

Form = Literal["CN22", "CN23", "express_A", "express_B", "express_C", "express_D", "inventory_list"]


@dataclass(frozen=True)
class FormSelection:
    """The form chosen for a declaration, the declared goods value it was chosen on, and why when it is not the
    one the merchant asked for (a re-classed category A)."""

    form: Form
    value_cny: Decimal
    value_sdr: Decimal
    trade_mode: str | None = None  # e-commerce only: 9610, 9710, 9810 or 1210
    findings: tuple[Finding, ...] = ()


def mail_form(*, mail_product: str | None, value_cny: Decimal, policy: CustomsPolicy) -> Form:
    """CN22 for letter-post items up to 300 SDR, CN23 for the rest and for every parcel (UPU, DOMAIN.md §2)."""
    # Compare in CNY against the limit converted exactly, so the boundary is the same cent either way.
    if mail_product in policy.letter_post_products and value_cny <= sdr_in_cny(policy.cn22_limit_sdr, policy):
        return "CN22"
    # No product given: the safe choice is the fuller CN23.
    return "CN23"


def express_category(*, contents_type: str, value_cny: Decimal, policy: CustomsPolicy) -> Form:
    """Express category B–D by contents and value (DOMAIN.md §2; GAC Announcement 19/2016); limits inclusive.

    Category A is decided by `documents_category` first: it needs more than the merchant's word.
    """
    if contents_type in policy.personal_contents_types and value_cny <= policy.express_b_limit_cny:
        return "express_B"
    # Goods, and personal articles over the B limit, clear as goods: C up to 5,000 CNY, D (formal) above.
    if value_cny <= policy.express_c_limit_cny:
        return "express_C"
    return "express_D"


def documents_category(parcel: Parcel, value_cny: Decimal, policy: CustomsPolicy) -> list[Finding]:
    """Why a shipment declared as documents is not category A (empty: it is).

    Category A is documents of no commercial value: a declared value above the configured ceiling, or a line
    classed outside chapter 49 (printed matter), is goods — 50,000 CNY of phones declared "documents" must not
    clear tax-free without a look.
    """
    reasons, fields = [], []
    if value_cny > policy.express_a_max_value_cny:
        reasons.append(f"declared value {value_cny} CNY is over the {policy.express_a_max_value_cny} CNY "
                       "allowed for documents")
        fields.append("goods_value")
    goods = [line for line in parcel.lines if hs_chapter(line.hs_code) not in policy.express_a_chapters]
    if goods:
        reasons.append("HS " + ", ".join(normalize_hs(line.hs_code) for line in goods) + " are not printed matter "
                       f"(chapter {'/'.join(sorted(policy.express_a_chapters))})")
        fields += [f"lines[{line.line_no}].hs_code" for line in goods]
    if not reasons:
        return []
    return [Finding(code="category_a_reclassified", severity="medium",
                    message=("declared as documents (category A) but " + "; ".join(reasons))[:512], fields=fields)]


def declared_value_cny(parcel: Parcel, policy: CustomsPolicy) -> Decimal:
    """The declared goods value in CNY (freight and insurance excluded, as for the express C limit)."""
    return to_cny(parcel.goods_value, parcel.currency, policy)


def select_form(parcel: Parcel, policy: CustomsPolicy) -> FormSelection:
    """Choose the customs form for a parcel; raises UnknownCurrency for a currency without a rate."""
    value_cny = declared_value_cny(parcel, policy)
    value_sdr = to_sdr(parcel.goods_value, parcel.currency, policy)
    if parcel.channel == "mail":
        form = mail_form(mail_product=parcel.mail_product, value_cny=value_cny, policy=policy)
        return FormSelection(form, value_cny, value_sdr)
    if parcel.channel == "express":
        if parcel.contents_type == "documents":
            findings = documents_category(parcel, value_cny, policy)
            if not findings:
                return FormSelection("express_A", value_cny, value_sdr)
            form = express_category(contents_type=parcel.contents_type, value_cny=value_cny, policy=policy)
            finding = findings[0]
            reclassed = finding.model_copy(update={"message": f"{finding.message}: classed {form}"[:512]})
            return FormSelection(form, value_cny, value_sdr, findings=(reclassed,))
        form = express_category(contents_type=parcel.contents_type, value_cny=value_cny, policy=policy)
        return FormSelection(form, value_cny, value_sdr)
    # E-commerce declares an inventory list; without a trade mode, B2C direct (9610) is the common case.
    trade_mode = parcel.trade_mode or policy.default_trade_mode
    return FormSelection("inventory_list", value_cny, value_sdr, trade_mode)
