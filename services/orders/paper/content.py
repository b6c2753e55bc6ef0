"""What the documents print about an order, and how values are written (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import pycountry

from shared.contract.parcel import Parcel, Party

CHANNEL_NAMES = {"mail": "MAIL", "express": "EXPRESS", "ecommerce": "E-COMMERCE"}
# How each form is shown in the label's corner: CN22/CN23, the express category letter, the e-commerce list.
FORM_BADGES = {"express_A": "A", "express_B": "B", "express_C": "C", "express_D": "D", "inventory_list": "LIST"}
CONTENTS_NAMES = {"documents": "Documents", "gift": "Gift", "commercial_sample": "Commercial sample",
                  "merchandise": "Sale of goods", "returned_goods": "Returned goods", "other": "Other"}


@dataclass(frozen=True)
class OrderPaper:
    """An order as its documents see it."""

    order_id: str
    merchant_order_no: str
    created_at: datetime
    status: str
    tracking_number: str | None
    parcel: Parcel
    customs_form: str | None = None
    carrier: str | None = None

    @property
    def channel(self) -> str:
        return self.parcel.channel

    @property
    def carrier_name(self) -> str:
        """The carrier postal booked, else the one the merchant asked for."""
        return self.carrier or self.parcel.carrier or ""


def country_name(code: str) -> str:
    """The English short name of an ISO 3166 alpha-2 code (Kazakhstan for KZ); the code itself if unknown."""
    country = pycountry.countries.get(alpha_2=code)
    if country is None:
        return code
    return getattr(country, "common_name", None) or country.name


def destination_line(party: Party) -> str:
    """The label's last address line: the country in capitals, as the posts ask (UPU), with its code."""
    return f"{country_name(party.country).upper()} ({party.country})"


# Identity documents of persons: printed masked on paper that travels on the outside of a box.
PERSONAL_ID_TYPES = frozenset({"resident_id", "passport"})


def masked_id(party: Party) -> str | None:
    """The party's ID number as printed: a person's masked but for its first 6 and last 4 characters
    (110105********002X; a short one, a passport, but for its last 4); a company's (USCC, other) in full."""
    number = party.id_number
    if not number or party.id_type not in PERSONAL_ID_TYPES:
        return number
    if len(number) > 10:
        return number[:6] + "*" * (len(number) - 10) + number[-4:]
    if len(number) > 4:
        return "*" * (len(number) - 4) + number[-4:]
    return "*" * len(number)


def locality(party: Party) -> str:
    """Postal code and city on one line."""
    return " ".join(part for part in (party.postal_code, party.city) if part)


def money(amount: Decimal, currency: str | None = None) -> str:
    """12,345.60 (with the currency after it when given)."""
    text = f"{amount:,.2f}"
    return f"{text} {currency}" if currency else text


def weight(kg: Decimal) -> str:
    """1.600 kg → '1.600'; the unit is printed by the caller."""
    return f"{kg:.3f}"


def quantity(value: Decimal) -> str:
    """2 for 2.000, 1.5 for 1.500."""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def date(value: datetime) -> str:
    return value.strftime("%Y-%m-%d")
