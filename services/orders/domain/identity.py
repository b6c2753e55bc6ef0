"""Identity numbers customs checks at intake (DOMAIN.md §5 "Identity checks"; passports by ICAO 9303's format), and
masking for display and logs."""

from __future__ import annotations

import re
from datetime import date

# GB 11643 / ISO 7064 MOD 11-2: weights for the first 17 digits and the check character table.
RESIDENT_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
RESIDENT_ID_CHECK_CHARS = "10X98765432"
# Oldest birth year we accept as plausible; GB 11643's own worked example is born in 1880.
EARLIEST_BIRTH_YEAR = 1850

# GB 32100: the 31-character alphabet (no I, O, S, V, Z) and the weights for the first 17 characters.
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def resident_id_check_char(first17: str) -> str:
    """The GB 11643 check character for the first 17 digits of a China resident ID."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError("a resident ID body is exactly 17 ASCII digits")
    total = sum(int(digit) * weight for digit, weight in zip(first17, RESIDENT_ID_WEIGHTS, strict=True))
    return RESIDENT_ID_CHECK_CHARS[total % 11]


def is_valid_resident_id(number: str, *, today: date | None = None) -> bool:
    """True for an 18-character China resident ID with a plausible birth date and a correct check character."""
    if len(number) != 18 or not number[:17].isascii() or not number[:17].isdigit():
        return False
    if not _plausible_birth_date(number[6:14], today or date.today()):
        return False
    # The standard writes X in upper case; people type it in lower case, which is the same character.
    return resident_id_check_char(number[:17]) == number[17].upper()


def _plausible_birth_date(yyyymmdd: str, today: date) -> bool:
    """True when YYYYMMDD is a real calendar date, not before EARLIEST_BIRTH_YEAR and not in the future."""
    try:
        born = date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:]))
    except ValueError:
        return False
    return born.year >= EARLIEST_BIRTH_YEAR and born <= today


def uscc_check_char(first17: str) -> str:
    """The GB 32100 check character for the first 17 characters of a Unified Social Credit Code."""
    first17 = first17.upper()
    if len(first17) != 17 or any(char not in USCC_ALPHABET for char in first17):
        raise ValueError("a USCC body is exactly 17 characters from 0-9A-HJ-NPQRTUWXY")
    total = sum(USCC_ALPHABET.index(char) * weight for char, weight in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def is_valid_uscc(code: str) -> bool:
    """True for an 18-character Unified Social Credit Code with a correct check character (case-insensitive)."""
    code = code.upper()
    if len(code) != 18 or any(char not in USCC_ALPHABET for char in code):
        return False
    return uscc_check_char(code[:17]) == code[17]


# ICAO Doc 9303 machine-readable passports: a document number of up to 9 letters and digits; issuers use at least 5
# (China: E/G + 8 digits, EA/EB… + 7). We accept 5–9 with at least one digit, upper case or not.
PASSPORT_NUMBER = re.compile(r"^(?=.*[0-9])[A-Z0-9]{5,9}$")


def is_valid_passport_number(number: str) -> bool:
    """True for a passport document number in the ICAO 9303 format (5–9 letters and digits, at least one digit)."""
    return bool(PASSPORT_NUMBER.match(number.upper())) and number.isascii()


def mask_id_number(number: str) -> str:
    """The ID number with all but its edges replaced by '*', keeping its length (DESIGN.md: PII masked in logs)."""
    length = len(number)
    if length >= 12:  # resident IDs, USCCs: region prefix and last four, e.g. 110***********002X
        head, tail = 3, 4
    elif length >= 6:  # passports and other short numbers: last two only
        head, tail = 0, 2
    else:
        head, tail = 0, 0
    return number[:head] + "*" * (length - head - tail) + number[length - tail :]


def mask_phone(phone: str) -> str:
    """The phone with its middle digits replaced by '*', keeping separators, e.g. 138****5678."""
    digit_count = sum(char.isdigit() for char in phone)
    tail = 4 if digit_count >= 7 else (2 if digit_count >= 4 else 0)
    head = 3 if digit_count >= 11 else 0  # China mobile convention: 138****5678
    masked, seen = [], 0
    for char in phone:
        if char.isdigit():
            seen += 1
            if head < seen <= digit_count - tail:
                char = "*"
        masked.append(char)
    return "".join(masked)
