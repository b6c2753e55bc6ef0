"""HS code helpers (DOMAIN.md §8): chapter = first 2 digits, heading = first 4, subheading = first 6."""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[\s.\-]")


def normalize_hs(code: str) -> str:
    """The HS code without the dots, spaces and dashes people write into it ("6109.10.00" → "61091000")."""
    return _SEPARATORS.sub("", code)


def hs_chapter(code: str) -> str:
    """The 2-digit chapter of an HS code."""
    return normalize_hs(code)[:2]


def hs_heading(code: str) -> str:
    """The 4-digit heading of an HS code."""
    return normalize_hs(code)[:4]


def is_well_formed(code: str, *, min_digits: int = 6, max_digits: int = 10) -> bool:
    """Digits only, between the international 6 and China's 10 digits (DOMAIN.md §8)."""
    digits = normalize_hs(code)
    return digits.isascii() and digits.isdigit() and min_digits <= len(digits) <= max_digits
