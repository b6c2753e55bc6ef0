"""Express carrier waybill numbers and e-commerce logistics numbers (DOMAIN.md §2): prefix + serial + check digit."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date

from services.postal.domain.errors import InvalidWaybillNumber, UnknownCarrier
from services.postal.domain.s10 import WEIGHTS as S10_WEIGHTS

_PREFIX = re.compile(r"[A-Z0-9]{0,6}")
_DIGITS = re.compile(r"[0-9]+")


def mod7(serial: str) -> int:
    """Check digit = serial mod 7 (the DHL Express waybill scheme)."""
    return int(serial) % 7


def mod10(serial: str) -> int:
    """Luhn (ISO/IEC 7812) check digit over the serial."""
    total = 0
    # Double every second digit counting from the right-most digit of the serial (it sits next to the check digit).
    for position, char in enumerate(reversed(serial)):
        digit = int(char)
        if position % 2 == 0:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return (10 - total % 10) % 10


def mod11(serial: str) -> int:
    """UPU S10 arithmetic (weights 8,6,4,2,3,5,9,7 cycled left to right; 10 → 0, 11 → 5) over any length."""
    total = sum(int(char) * S10_WEIGHTS[i % len(S10_WEIGHTS)] for i, char in enumerate(serial))
    check = 11 - total % 11
    return {10: 0, 11: 5}.get(check, check)


CHECK_RULES: Mapping[str, Callable[[str], int] | None] = {"mod7": mod7, "mod10": mod10, "mod11": mod11, "none": None}


@dataclass(frozen=True, slots=True)
class CarrierNumbering:
    """How one carrier numbers its waybills: prefix + zero-padded serial of `serial_digits` + optional check digit."""

    prefix: str
    serial_digits: int
    check: str = "none"

    def __post_init__(self) -> None:
        if not _PREFIX.fullmatch(self.prefix):
            raise ValueError(f"prefix must be 0-6 upper-case letters or digits, got {self.prefix!r}")
        if not 4 <= self.serial_digits <= 20:
            raise ValueError(f"serial_digits must be 4..20, got {self.serial_digits}")
        if self.check not in CHECK_RULES:
            raise ValueError(f"check must be one of {sorted(CHECK_RULES)}, got {self.check!r}")

    @property
    def length(self) -> int:
        """Total characters of a waybill number."""
        return len(self.prefix) + self.serial_digits + (self.check != "none")

    @property
    def max_serial(self) -> int:
        """The largest serial the scheme can carry."""
        return int(10**self.serial_digits) - 1


# Defaults; the real schemes come from carrier contracts via settings.
DEFAULT_CARRIERS: Mapping[str, CarrierNumbering] = {
    "SGX": CarrierNumbering(prefix="SGX", serial_digits=9, check="mod11"),  # the sandbox express carrier
    "SGE": CarrierNumbering(prefix="SGE", serial_digits=10, check="mod10"),  # sandbox economy line
    "SFX": CarrierNumbering(prefix="SF", serial_digits=13, check="none"),  # SF-style: "SF" + 13 digits
    "DHL": CarrierNumbering(prefix="", serial_digits=9, check="mod7"),  # DHL-style: 10 digits, last = mod 7
}


def numbering_for(carrier: str, carriers: Mapping[str, CarrierNumbering] = DEFAULT_CARRIERS) -> CarrierNumbering:
    """The numbering scheme of a carrier code, or UnknownCarrier."""
    try:
        return carriers[carrier]
    except KeyError:
        raise UnknownCarrier("unknown_carrier", f"no waybill numbering configured for carrier {carrier!r}") from None


def _check_char(numbering: CarrierNumbering, serial: str) -> str:
    rule = CHECK_RULES[numbering.check]
    return "" if rule is None else str(rule(serial))


def build_waybill_number(numbering: CarrierNumbering, serial: int) -> str:
    """The waybill number for a serial under a carrier's numbering scheme."""
    if isinstance(serial, bool) or not isinstance(serial, int) or not 0 <= serial <= numbering.max_serial:
        raise InvalidWaybillNumber("serial", f"serial must be an integer 0..{numbering.max_serial}, got {serial!r}")
    body = f"{serial:0{numbering.serial_digits}d}"
    return f"{numbering.prefix}{body}{_check_char(numbering, body)}"


def validate_waybill_number(numbering: CarrierNumbering, number: str) -> int:
    """The serial of a valid waybill number, or InvalidWaybillNumber (reason: length, prefix, digits, check_digit)."""
    if not isinstance(number, str) or len(number) != numbering.length:
        raise InvalidWaybillNumber("length", f"expected {numbering.length} characters, got {number!r}")
    if not number.startswith(numbering.prefix):
        raise InvalidWaybillNumber("prefix", f"expected prefix {numbering.prefix!r}, got {number!r}")
    digits = number[len(numbering.prefix) :]
    if not _DIGITS.fullmatch(digits):
        raise InvalidWaybillNumber("digits", f"expected digits after the prefix, got {digits!r}")
    body, given = digits[: numbering.serial_digits], digits[numbering.serial_digits :]
    expected = _check_char(numbering, body)
    if given != expected:
        raise InvalidWaybillNumber("check_digit", f"check digit of {body} is {expected}, got {given}")
    return int(body)


def is_valid_waybill_number(numbering: CarrierNumbering, number: str) -> bool:
    """True when `number` is valid under `numbering`."""
    try:
        validate_waybill_number(numbering, number)
    except InvalidWaybillNumber:
        return False
    return True


_COMPANY_PREFIX = re.compile(r"[A-Z]{1,4}")


def logistics_number(*, company_prefix: str, serial: int, day: date, serial_digits: int = 8) -> str:
    """An e-commerce logistics number (logisticsNo): company prefix + yymmdd + zero-padded daily serial."""
    if not _COMPANY_PREFIX.fullmatch(company_prefix):
        raise InvalidWaybillNumber("prefix", f"company prefix must be 1-4 upper-case letters, got {company_prefix!r}")
    if not 4 <= serial_digits <= 12:
        raise InvalidWaybillNumber("serial", f"serial_digits must be 4..12, got {serial_digits}")
    if isinstance(serial, bool) or not isinstance(serial, int) or not 0 <= serial < 10**serial_digits:
        raise InvalidWaybillNumber("serial", f"serial must be an integer 0..{10**serial_digits - 1}, got {serial!r}")
    return f"{company_prefix}{day:%y%m%d}{serial:0{serial_digits}d}"


def parse_logistics_number(number: str, *, serial_digits: int = 8) -> tuple[str, date, int]:
    """(company prefix, day, serial) of a logistics number built by logistics_number()."""
    match = re.fullmatch(rf"([A-Z]{{1,4}})([0-9]{{6}})([0-9]{{{serial_digits}}})", number or "")
    if match is None:
        raise InvalidWaybillNumber("format", f"expected PREFIX + yymmdd + {serial_digits} digits, got {number!r}")
    prefix, yymmdd, serial = match.groups()
    try:
        day = date(2000 + int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:]))
    except ValueError:
        raise InvalidWaybillNumber("date", f"{yymmdd!r} is not a valid yymmdd date") from None
    return prefix, day, int(serial)
