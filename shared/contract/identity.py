"""Identity numbers every party checks the same way (DOMAIN.md §5 "Identity checks").

In the contract because two services check them: orders at intake, customs before filing (an e-commerce import
needs the buyer's identity, and a document from another service is never trusted blindly).
"""

from __future__ import annotations

import re
from datetime import date

# GB 11643 / ISO 7064 MOD 11-2: weights for the first 17 digits and the check character table.
RESIDENT_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
RESIDENT_ID_CHECK_CHARS = "10X98765432"
# Oldest birth year accepted as plausible; GB 11643's own worked example is born in 1880.
EARLIEST_BIRTH_YEAR = 1850
# ICAO 9303 document numbers: up to 9 characters in the machine-readable zone; longer national numbers exist,
# so letters and digits, 5 to 17 of them, at least one digit.
_PASSPORT = re.compile(r"^(?=.*\d)[A-Z0-9]{5,17}$")


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


def is_valid_passport_number(number: str) -> bool:
    """Letters and digits only, 5–17 of them with at least one digit (upper case after normalizing)."""
    return bool(_PASSPORT.match(number.upper()))


def _plausible_birth_date(yyyymmdd: str, today: date) -> bool:
    """True when YYYYMMDD is a real calendar date, not before EARLIEST_BIRTH_YEAR and not in the future."""
    try:
        born = date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:]))
    except ValueError:
        return False
    return born.year >= EARLIEST_BIRTH_YEAR and born <= today
