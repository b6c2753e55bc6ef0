"""When to close receptacles and dispatches, and how a parcel's channel picks its S9 category, subclass and office.

Thresholds are policy (DOMAIN.md: configuration, with these values as defaults); S9 fixes only the hard limits
(999 receptacles per dispatch, 9999 dispatches per year and route, 999.9 kg per receptacle).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

from services.postal.domain.countries import ISO_3166_ALPHA2
from services.postal.domain.errors import InvalidS9, PostalRuleError
from services.postal.domain.s9 import MAIL_CATEGORIES, MAX_DISPATCH_SERIAL, MAX_RECEPTACLE_SERIAL

ReceptacleCloseReason = Literal["weight", "count", "age"]
DispatchCloseReason = Literal["count", "age"]

_S9_MAX_KG = Decimal("999.9")


@dataclass(frozen=True, slots=True)
class ConsolidationPolicy:
    """Closing thresholds for receptacles (bags) and dispatches."""

    max_receptacle_weight_kg: Decimal = Decimal(30)
    max_receptacle_items: int = 50
    max_receptacle_age_s: int = 600
    max_dispatch_receptacles: int = 20
    max_dispatch_age_s: int = 3600

    def __post_init__(self) -> None:
        if not Decimal(0) < Decimal(self.max_receptacle_weight_kg) <= _S9_MAX_KG:
            raise ValueError(f"max_receptacle_weight_kg must be in (0, 999.9], got {self.max_receptacle_weight_kg}")
        if self.max_receptacle_items < 1 or self.max_receptacle_age_s <= 0 or self.max_dispatch_age_s <= 0:
            raise ValueError("item limit and ages must be positive")
        if not 1 <= self.max_dispatch_receptacles <= MAX_RECEPTACLE_SERIAL:
            # S9 numbers receptacles with 3 digits, so a dispatch holds at most 999.
            raise ValueError(f"max_dispatch_receptacles must be 1..{MAX_RECEPTACLE_SERIAL}")


DEFAULT_POLICY = ConsolidationPolicy()


def _age_s(opened_at: datetime, now: datetime) -> float:
    # Naive datetimes are taken as UTC so a mix of naive and aware values compares instead of raising.
    if opened_at.tzinfo is None:
        opened_at = opened_at.replace(tzinfo=UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return (now - opened_at).total_seconds()


def receptacle_close_reason(
    *,
    weight_kg: Decimal,
    item_count: int,
    opened_at: datetime,
    now: datetime,
    policy: ConsolidationPolicy = DEFAULT_POLICY,
) -> ReceptacleCloseReason | None:
    """Why an open receptacle must close now ("weight", "count", "age"), or None; a limit reached closes it."""
    if item_count <= 0:
        return None  # an empty bag is never closed: S9 cannot carry a zero weight
    if weight_kg >= policy.max_receptacle_weight_kg:
        return "weight"
    if item_count >= policy.max_receptacle_items:
        return "count"
    if _age_s(opened_at, now) >= policy.max_receptacle_age_s:
        return "age"
    return None


def fits(
    *, receptacle_weight_kg: Decimal, item_weight_kg: Decimal, policy: ConsolidationPolicy = DEFAULT_POLICY
) -> bool:
    """True when the item goes into the receptacle; False means close the receptacle first and open a new one."""
    if receptacle_weight_kg <= 0:
        return True  # an empty bag takes any item, so an oversized parcel travels alone rather than never
    return receptacle_weight_kg + item_weight_kg <= policy.max_receptacle_weight_kg


def dispatch_close_reason(
    *,
    receptacle_count: int,
    opened_at: datetime,
    now: datetime,
    policy: ConsolidationPolicy = DEFAULT_POLICY,
) -> DispatchCloseReason | None:
    """Why an open dispatch must close now ("count", "age"), or None; a dispatch with no receptacle never closes."""
    if receptacle_count <= 0:
        return None
    if receptacle_count >= policy.max_dispatch_receptacles:
        return "count"
    if _age_s(opened_at, now) >= policy.max_dispatch_age_s:
        return "age"
    return None


def next_dispatch_serial(*, previous: int | None, previous_year: int | None, year: int) -> int:
    """The next dispatch serial on a route: 1 in a new year, else previous + 1 up to S9's 9999."""
    if previous is None or previous_year != year:
        return 1
    if previous >= MAX_DISPATCH_SERIAL:
        raise InvalidS9("dispatch_serial", f"dispatch serials for {year} are exhausted ({MAX_DISPATCH_SERIAL})")
    return previous + 1


def _lookup(table: Mapping[str, str], channel: str, mail_product: str | None) -> str | None:
    # Most specific first: "mail:parcel", then "parcel", then "mail", then the "*" default.
    keys = [f"{channel}:{mail_product}", mail_product] if mail_product else []
    for key in [*keys, channel, "*"]:
        if key in table:
            return table[key]
    return None


# Mail category per UPU code list 115; everything flies (A) unless configured, e.g. {"parcel": "C"}.
DEFAULT_CATEGORIES: Mapping[str, str] = {"*": "A"}

# Mail subclass per UPU code list 117, as we read it: UN letters, UR registered/insured letters, CN ordinary
# parcels, CC e-commerce parcels, EM EMS. Couriers have no UPU subclass; their bags go as EM. Verify and override.
DEFAULT_SUBCLASSES: Mapping[str, str] = {
    "letter": "UN",
    "tracked_letter": "UN",
    "registered_letter": "UR",
    "insured": "UR",
    "parcel": "CN",
    "ems": "EM",
    "mail": "CN",  # a mail item with no product is treated as a parcel (CN23, DOMAIN.md §2)
    "express": "EM",
    "ecommerce": "CC",
}

# Products whose bags carry the S9 registered/insured flag.
REGISTERED_PRODUCTS = frozenset({"registered_letter", "insured"})


def mail_category_for(
    channel: str, mail_product: str | None, *, categories: Mapping[str, str] = DEFAULT_CATEGORIES
) -> str:
    """The S9 mail category (A air, B S.A.L., C surface, D priority by surface) for a channel and product."""
    category = _lookup(categories, channel, mail_product) or "A"
    if category not in MAIL_CATEGORIES:
        raise PostalRuleError("mail_category", f"configured mail category {category!r} is not one of A, B, C, D")
    return category


def mail_subclass_for(
    channel: str, mail_product: str | None, *, subclasses: Mapping[str, str] = DEFAULT_SUBCLASSES
) -> str:
    """The S9 mail subclass (2 letters) for a channel and product."""
    subclass = _lookup(subclasses, channel, mail_product)
    if subclass is None:
        raise PostalRuleError("mail_subclass", f"no mail subclass for channel {channel!r}, product {mail_product!r}")
    return subclass


def is_registered_or_insured(mail_product: str | None) -> bool:
    """True when an item sets the S9 registered/insured flag of its receptacle."""
    return mail_product in REGISTERED_PRODUCTS


# Origin office for exports through the Xinjiang gateway (Urumqi).
ORIGIN_OFFICE = "CNURCA"

# Country → office of exchange: country (2) + UN/LOCODE location (3) + office qualifier (1).
# Illustrative defaults, not the UPU code list 108 registry: load the real offices from settings.
DEFAULT_OFFICES: Mapping[str, str] = {
    "CN": "CNURCA",
    "KZ": "KZALAA",
    "KG": "KGFRUA",
    "TJ": "TJDYUA",
    "UZ": "UZTASA",
    "PK": "PKISBA",
    "MN": "MNULNA",
    "RU": "RUMOWA",
    "TR": "TRISTA",
    "AE": "AEDXBA",
    "DE": "DEFRAA",
    "FR": "FRPARA",
    "GB": "GBLONA",
    "IT": "ITMILA",
    "ES": "ESMADA",
    "NL": "NLAMSA",
    "US": "USNYCA",
    "JP": "JPTYOA",
    "KR": "KRSELA",
    "SG": "SGSINA",
    "HK": "HKHKGA",
    "AU": "AUSYDA",
}

# For a country with no configured office: country + "XXX" (placeholder location) + "A".
FALLBACK_LOCATION = "XXXA"


def office_of_exchange(country: str, *, offices: Mapping[str, str] = DEFAULT_OFFICES, strict: bool = False) -> str:
    """The office of exchange for a country: the configured one, else country + "XXXA" (or an error when strict)."""
    if country not in ISO_3166_ALPHA2:
        raise PostalRuleError("country", f"{country!r} is not an ISO 3166-1 alpha-2 country code")
    office = offices.get(country)
    if office is not None:
        return office
    if strict:
        raise PostalRuleError("office_of_exchange", f"no office of exchange configured for {country}")
    return f"{country}{FALLBACK_LOCATION}"
