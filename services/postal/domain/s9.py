"""UPU S9 receptacle identifiers (29 characters) and the dispatch identifiers they start with (DOMAIN.md §4).

Layout: origin office of exchange (6) + destination office (6) + mail category (1) + mail subclass (2)
+ last digit of year (1) + dispatch serial (4) = the 20-character dispatch id; then receptacle serial (3)
+ highest-receptacle flag (1) + registered/insured flag (1) + weight in 0.1 kg (4).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from services.postal.domain.countries import ISO_3166_ALPHA2
from services.postal.domain.errors import InvalidS9

RECEPTACLE_ID_LENGTH = 29
DISPATCH_ID_LENGTH = 20
# Mail categories, UPU code list 115: A air/priority, B S.A.L., C surface, D priority by surface.
MAIL_CATEGORIES = frozenset("ABCD")
MAX_DISPATCH_SERIAL = 9999
MAX_RECEPTACLE_SERIAL = 999
MAX_WEIGHT_UNITS = 9999  # 999.9 kg, the largest weight four digits of 0.1 kg can carry

# Office of exchange: ISO country (2) + location (3, UN/LOCODE style) + office qualifier (1).
_OFFICE = re.compile(r"[A-Z]{2}[A-Z0-9]{3}[A-Z0-9]")
_SUBCLASS = re.compile(r"[A-Z]{2}")
_RECEPTACLE = re.compile(r"(.{6})(.{6})(.)(..)([0-9])([0-9]{4})([0-9]{3})([01])([01])([0-9]{4})")
_DISPATCH = re.compile(r"(.{6})(.{6})(.)(..)([0-9])([0-9]{4})")
_TENTH = Decimal("0.1")


@dataclass(frozen=True, slots=True)
class DispatchId:
    """A parsed dispatch identifier: every receptacle of the dispatch starts with it."""

    origin: str
    destination: str
    category: str
    subclass: str
    year_digit: int
    serial: int

    def __str__(self) -> str:
        return f"{self.origin}{self.destination}{self.category}{self.subclass}{self.year_digit}{self.serial:04d}"


@dataclass(frozen=True, slots=True)
class ReceptacleId:
    """A parsed S9 receptacle identifier."""

    dispatch: DispatchId
    receptacle_serial: int
    is_last: bool  # highest-receptacle flag: the last receptacle of its dispatch
    registered: bool  # contains registered or insured items
    weight_units: int  # gross weight in units of 0.1 kg

    def __str__(self) -> str:
        flags = f"{int(self.is_last)}{int(self.registered)}"
        return f"{self.dispatch}{self.receptacle_serial:03d}{flags}{self.weight_units:04d}"

    @property
    def weight_kg(self) -> Decimal:
        """The weight as carried in the identifier, in kg."""
        return Decimal(self.weight_units) * _TENTH


def weight_units(weight_kg: Decimal | float | str) -> int:
    """The S9 weight field (0.1 kg units) for a weight: rounded up to the next 0.1 kg, 0.1–999.9 kg."""
    # Floats go through str() so 0.3 stays 0.3 instead of 0.299999… (or 0.30000000000000004 rounding up to 0.4).
    try:
        weight = Decimal(str(weight_kg)) if isinstance(weight_kg, float) else Decimal(weight_kg)
    except (ArithmeticError, TypeError, ValueError):
        raise InvalidS9("weight", f"weight must be a number of kg, got {weight_kg!r}") from None
    if isinstance(weight_kg, bool) or not weight.is_finite() or weight <= 0:
        raise InvalidS9("weight", f"weight must be a positive number of kg, got {weight_kg!r}")
    units = int((weight * 10).to_integral_value(rounding=ROUND_CEILING))
    if units > MAX_WEIGHT_UNITS:
        raise InvalidS9("weight", f"S9 carries at most 999.9 kg, got {weight_kg!r} kg")
    return units


def _check_office(field: str, office: str, countries: Collection[str]) -> None:
    if not isinstance(office, str) or not _OFFICE.fullmatch(office):
        raise InvalidS9(field, f"office of exchange must be 6 upper-case letters/digits, got {office!r}")
    if office[:2] not in countries:
        raise InvalidS9(field, f"office of exchange {office!r} does not start with an ISO 3166 country code")


def _check_dispatch_parts(
    *, origin: str, destination: str, category: str, subclass: str, serial: int, countries: Collection[str]
) -> None:
    _check_office("origin", origin, countries)
    _check_office("destination", destination, countries)
    if category not in MAIL_CATEGORIES:
        raise InvalidS9("category", f"mail category must be one of A, B, C, D, got {category!r}")
    if not isinstance(subclass, str) or not _SUBCLASS.fullmatch(subclass):
        raise InvalidS9("subclass", f"mail subclass must be 2 upper-case letters, got {subclass!r}")
    if isinstance(serial, bool) or not isinstance(serial, int) or not 1 <= serial <= MAX_DISPATCH_SERIAL:
        raise InvalidS9("dispatch_serial", f"dispatch serial must be 1..{MAX_DISPATCH_SERIAL}, got {serial!r}")


def _year_digit(year: int) -> int:
    if isinstance(year, bool) or not isinstance(year, int) or year < 0:
        raise InvalidS9("year", f"year must be a non-negative integer, got {year!r}")
    return year % 10


def dispatch_id(
    *,
    origin: str,
    destination: str,
    category: str,
    subclass: str,
    year: int,
    serial: int,
    countries: Collection[str] = ISO_3166_ALPHA2,
) -> str:
    """The 20-character dispatch identifier; `year` is the full year (only its last digit is kept)."""
    _check_dispatch_parts(
        origin=origin, destination=destination, category=category, subclass=subclass, serial=serial, countries=countries
    )
    return str(DispatchId(origin, destination, category, subclass, _year_digit(year), serial))


def build_receptacle_id(
    *,
    origin: str,
    destination: str,
    category: str,
    subclass: str,
    year: int,
    dispatch_serial: int,
    receptacle_serial: int,
    is_last: bool,
    registered: bool,
    weight_kg: Decimal | float | str,
    countries: Collection[str] = ISO_3166_ALPHA2,
) -> str:
    """The 29-character S9 receptacle identifier; the weight is rounded up to 0.1 kg."""
    dispatch = dispatch_id(
        origin=origin,
        destination=destination,
        category=category,
        subclass=subclass,
        year=year,
        serial=dispatch_serial,
        countries=countries,
    )
    if (
        isinstance(receptacle_serial, bool)
        or not isinstance(receptacle_serial, int)
        or not 1 <= receptacle_serial <= MAX_RECEPTACLE_SERIAL
    ):
        raise InvalidS9(
            "receptacle_serial", f"receptacle serial must be 1..{MAX_RECEPTACLE_SERIAL}, got {receptacle_serial!r}"
        )
    return f"{dispatch}{receptacle_serial:03d}{int(bool(is_last))}{int(bool(registered))}{weight_units(weight_kg):04d}"


def _parse_dispatch_fields(fields: tuple[str, ...], countries: Collection[str]) -> DispatchId:
    origin, destination, category, subclass, year_digit, serial = fields
    _check_dispatch_parts(
        origin=origin,
        destination=destination,
        category=category,
        subclass=subclass,
        serial=int(serial),
        countries=countries,
    )
    return DispatchId(origin, destination, category, subclass, int(year_digit), int(serial))


def parse_dispatch_id(value: str, *, countries: Collection[str] = ISO_3166_ALPHA2) -> DispatchId:
    """Parse a 20-character dispatch identifier or raise InvalidS9."""
    if not isinstance(value, str) or len(value) != DISPATCH_ID_LENGTH:
        raise InvalidS9("length", f"a dispatch identifier has {DISPATCH_ID_LENGTH} characters, got {value!r}")
    match = _DISPATCH.fullmatch(value)
    if match is None:
        raise InvalidS9("format", f"year digit and dispatch serial must be digits, got {value!r}")
    return _parse_dispatch_fields(match.groups(), countries)


def parse_receptacle_id(value: str, *, countries: Collection[str] = ISO_3166_ALPHA2) -> ReceptacleId:
    """Parse a 29-character S9 receptacle identifier or raise InvalidS9 naming the faulty part."""
    if not isinstance(value, str) or len(value) != RECEPTACLE_ID_LENGTH:
        raise InvalidS9("length", f"an S9 receptacle identifier has {RECEPTACLE_ID_LENGTH} characters, got {value!r}")
    match = _RECEPTACLE.fullmatch(value)
    if match is None:
        raise InvalidS9("format", f"the numeric fields (positions 16-29) or the 0/1 flags are malformed in {value!r}")
    fields = match.groups()
    dispatch = _parse_dispatch_fields(fields[:6], countries)
    receptacle_serial, is_last, registered, weight = fields[6:]
    if int(receptacle_serial) == 0:
        raise InvalidS9("receptacle_serial", f"receptacle serial must be 1..{MAX_RECEPTACLE_SERIAL}, got 000")
    if int(weight) == 0:
        raise InvalidS9("weight", "weight must be at least 0.1 kg, got 0000")
    return ReceptacleId(dispatch, int(receptacle_serial), is_last == "1", registered == "1", int(weight))
