"""The code tables CEB messages use (JGS-20 currencies and countries, customs units), kept as data files.

Look-ups return None for a code the table lacks: the caller knows which field it was filling and raises
MessageRuleViolation with that field's name.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any


@cache
def _table(name: str) -> dict[str, Any]:
    return json.loads(resources.files("shared.ceb").joinpath("data", f"{name}.json").read_text(encoding="utf-8"))


def currency_code(iso_currency: str) -> str | None:
    """ISO 4217 (CNY) → JGS-20 numeric (142); None when the customs table has no code for it."""
    entry = _table("currencies")["codes"].get(iso_currency.upper())
    return entry["code"] if entry else None


def country_code(iso_country: str) -> str | None:
    """ISO 3166-1 alpha-2 (CN) → JGS-20 numeric (142); territories without a code of their own get their
    continent's "other countries (regions)" code (e.g. 699), as the table prescribes."""
    entry = _table("countries")["codes"].get(iso_country.upper())
    return entry["code"] if entry else None


def country_match(iso_country: str) -> str | None:
    """How a country maps: "exact", "region_other" or "unknown" (None when not an ISO code we know)."""
    entry = _table("countries")["codes"].get(iso_country.upper())
    return entry["match"] if entry else None


def unit_code(unit: str) -> str | None:
    """A UN/ECE Rec. 20 unit (PCE, KGM, SET…) or a three-digit customs unit → the customs unit code."""
    table = _table("units")
    key = unit.strip().upper()
    if key in table["codes"]:
        return key
    return table["aliases"].get(key)


def currencies() -> dict[str, str]:
    """Every ISO currency the table has, with its numeric code."""
    return {iso: entry["code"] for iso, entry in _table("currencies")["codes"].items()}


def countries() -> dict[str, str]:
    """Every ISO country the table maps, with its numeric code."""
    return {iso: entry["code"] for iso, entry in _table("countries")["codes"].items()}


@cache
def _numeric_codes(name: str) -> frozenset[str]:
    """The numeric codes of a table, gathered once (every received message's fields are checked against them)."""
    return frozenset(entry["code"] for entry in _table(name)["codes"].values())


def is_currency_code(code: str) -> bool:
    """True for a numeric currency code of the table (what a received message must carry)."""
    return code in _numeric_codes("currencies")


def is_country_code(code: str) -> bool:
    return code in _numeric_codes("countries")


def is_unit_code(code: str) -> bool:
    return code in _table("units")["codes"]
