"""UPU S10 item identifiers: 2-letter service indicator + 8-digit serial + check digit + ISO country (DOMAIN.md §3)."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.postal.domain.countries import ISO_3166_ALPHA2
from services.postal.domain.errors import InvalidS10, PostalRuleError

LENGTH = 13
SERIAL_MAX = 99_999_999
# Check-digit weights per UPU S10, applied to the 8 serial digits left to right.
WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)

# First letter of the service indicator → family, per UPU S10 (DOMAIN.md §3).
SERVICE_FAMILIES: Mapping[str, str] = {
    "C": "parcel",
    "E": "ems",
    "L": "letter_tracked",  # letter-post tracked/express
    "R": "registered",
    "V": "insured",
    "U": "letter_customs",  # customs-controlled letter post carrying CN22/CN23
}

# The contract's MailProduct → service indicator; a policy choice, so callers may pass their own table.
DEFAULT_INDICATORS: Mapping[str, str] = {
    "letter": "UA",
    "registered_letter": "RR",
    "tracked_letter": "LX",
    "parcel": "CP",
    "ems": "EA",
    "insured": "VV",
}

# S10: an identifier must not be reused within 12 months (24 recommended).
REUSE_MIN_DAYS = 365

_INDICATOR = re.compile(r"[A-Z]{2}")
_DIGITS = re.compile(r"[0-9]+")  # ASCII only: str.isdigit() would accept "²" or Arabic-Indic digits
_COUNTRY = re.compile(r"[A-Z]{2}")


@dataclass(frozen=True, slots=True)
class S10Id:
    """A parsed, valid S10 identifier."""

    indicator: str
    serial: int
    check: int
    country: str

    def __str__(self) -> str:
        return f"{self.indicator}{self.serial:08d}{self.check}{self.country}"

    @property
    def family(self) -> str:
        """The service family of the default table (parcel, ems, registered, …)."""
        return SERVICE_FAMILIES.get(self.indicator[0], "unknown")


def check_digit(serial8: str) -> int:
    """The UPU S10 check digit of an 8-digit serial."""
    if len(serial8) != 8 or not _DIGITS.fullmatch(serial8):
        raise InvalidS10("serial", f"serial must be 8 digits, got {serial8!r}")
    total = sum(int(digit) * weight for digit, weight in zip(serial8, WEIGHTS, strict=True))
    check = 11 - total % 11
    # S10: C = 10 → 0, C = 11 → 5.
    return {10: 0, 11: 5}.get(check, check)


def _check_indicator(indicator: str, families: Collection[str]) -> None:
    if not _INDICATOR.fullmatch(indicator):
        raise InvalidS10("indicator", f"service indicator must be 2 upper-case letters A-Z, got {indicator!r}")
    if indicator[0] not in families:
        allowed = ", ".join(f"{letter}*" for letter in sorted(families))
        raise InvalidS10("indicator", f"service indicator {indicator!r} is not one of {allowed}")


def _check_country(country: str, countries: Collection[str]) -> None:
    if not _COUNTRY.fullmatch(country):
        raise InvalidS10("country", f"country must be 2 upper-case letters, got {country!r}")
    if country not in countries:
        raise InvalidS10("country", f"{country!r} is not an ISO 3166-1 alpha-2 country code")


def build(
    *,
    service_indicator: str,
    serial: int,
    country: str,
    families: Collection[str] = SERVICE_FAMILIES,
    countries: Collection[str] = ISO_3166_ALPHA2,
) -> str:
    """The S10 identifier for a service indicator, a serial (0–99,999,999) and the issuing post's country."""
    _check_indicator(service_indicator, families)
    if isinstance(serial, bool) or not isinstance(serial, int) or not 0 <= serial <= SERIAL_MAX:
        raise InvalidS10("serial", f"serial must be an integer 0..{SERIAL_MAX}, got {serial!r}")
    _check_country(country, countries)
    serial8 = f"{serial:08d}"
    return f"{service_indicator}{serial8}{check_digit(serial8)}{country}"


def validate(
    identifier: str,
    *,
    families: Collection[str] = SERVICE_FAMILIES,
    countries: Collection[str] = ISO_3166_ALPHA2,
) -> S10Id:
    """Parse a strict S10 identifier (no spaces, upper case) or raise InvalidS10 saying which part is wrong."""
    if not isinstance(identifier, str) or len(identifier) != LENGTH:
        got = len(identifier) if isinstance(identifier, str) else type(identifier).__name__
        raise InvalidS10("length", f"an S10 identifier has {LENGTH} characters, got {got}")
    indicator, digits, country = identifier[:2], identifier[2:11], identifier[11:]
    _check_indicator(indicator, families)
    if not _DIGITS.fullmatch(digits):
        raise InvalidS10("serial", f"characters 3-11 must be digits, got {digits!r}")
    expected = check_digit(digits[:8])
    if int(digits[8]) != expected:
        raise InvalidS10("check_digit", f"check digit of {digits[:8]} is {expected}, got {digits[8]}")
    _check_country(country, countries)
    return S10Id(indicator=indicator, serial=int(digits[:8]), check=expected, country=country)


def is_valid(identifier: str, **options: Collection[str]) -> bool:
    """True when `identifier` is a valid S10 identifier."""
    try:
        validate(identifier, **options)
    except InvalidS10:
        return False
    return True


def normalize(raw: str) -> str:
    """A human-typed identifier ("rr 287 043 775 in") in the strict form validate() expects."""
    return "".join(raw.split()).upper()


def indicator_for(mail_product: str, indicators: Mapping[str, str] = DEFAULT_INDICATORS) -> str:
    """The S10 service indicator for a contract MailProduct."""
    try:
        return indicators[mail_product]
    except KeyError:
        raise PostalRuleError("mail_product", f"no S10 service indicator for mail product {mail_product!r}") from None


def service_family(indicator: str, families: Mapping[str, str] = SERVICE_FAMILIES) -> str:
    """The family (parcel, ems, letter_tracked, registered, insured, letter_customs) of a service indicator."""
    _check_indicator(indicator, families)
    return families[indicator[0]]


def may_reuse(last_issued_at: datetime, now: datetime, *, min_days: int = REUSE_MIN_DAYS) -> bool:
    """True when an identifier last issued at `last_issued_at` may be issued again (S10: not within 12 months)."""
    return now - last_issued_at >= timedelta(days=min_days)
