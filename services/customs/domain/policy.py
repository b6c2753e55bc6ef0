"""Every customs threshold, rate and list in one frozen value, with DOMAIN.md's figures as defaults.

DOMAIN.md: "Where a rule is a policy choice (a threshold, a rate) it belongs in configuration with this value
as the default." Settings override a field by passing plain values (str, int, float, list, dict):
`CustomsPolicy.from_mapping({"vat_rate": "0.09", "watchlist_names": ["..."]})`. Values are coerced in
`__post_init__`, so the policy the rules see is always Decimal/frozenset/read-only mappings.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any, Literal

from services.customs.domain.errors import InvalidPolicy

Basis = Literal["unit", "kg"]


@dataclass(frozen=True)
class ReferencePrice:
    """A reference price in CNY per declared unit or per kilogram of net weight."""

    price_cny: Decimal
    per: Basis = "unit"


# Indicative exchange rates, CNY per unit of currency. Defaults only: production loads the customs
# monthly rates. XDR is the ISO 4217 code of the SDR (UPU CN22 limit is in SDR, DOMAIN.md §2).
DEFAULT_RATES_TO_CNY: dict[str, str] = {
    "CNY": "1", "USD": "7.10", "EUR": "7.75", "GBP": "9.00", "HKD": "0.91", "MOP": "0.88", "TWD": "0.22",
    "JPY": "0.048", "KRW": "0.0052", "KZT": "0.014", "KGS": "0.081", "TJS": "0.66", "RUB": "0.078",
    "PKR": "0.025", "XDR": "9.60",
}

# Indicative CNY reference prices per HS heading (4 digits) for the undervaluation rule. Food is per kg
# because it is sold by weight; the rest per piece. Placeholders until the customs price database is wired in.
DEFAULT_REFERENCE_PRICES: dict[str, tuple[str, Basis]] = {
    "0409": ("60", "kg"),     # natural honey
    "0802": ("50", "kg"),     # nuts (walnuts, almonds, pistachios)
    "0813": ("30", "kg"),     # dried fruit
    "0901": ("80", "kg"),     # coffee
    "0902": ("100", "kg"),    # tea
    "3303": ("300", "unit"),  # perfumes
    "3304": ("120", "unit"),  # beauty and make-up preparations
    "4202": ("300", "unit"),  # handbags, luggage
    "6109": ("60", "unit"),   # T-shirts, knitted
    "6110": ("150", "unit"),  # sweaters, pullovers
    "6403": ("300", "unit"),  # footwear with leather uppers
    "6404": ("200", "unit"),  # footwear with textile uppers
    "8471": ("3000", "unit"),  # computers
    "8517": ("1500", "unit"),  # telephones, smartphones
    "8518": ("150", "unit"),  # headphones, loudspeakers
    "9102": ("500", "unit"),  # wrist-watches (not precious metal)
    "9503": ("50", "unit"),   # toys
}

# Descriptions made only of these words tell an officer nothing about the goods (vague_description rule).
DEFAULT_VAGUE_WORDS = frozenset({
    "gift", "gifts", "present", "goods", "sample", "samples", "part", "parts", "stuff", "item", "items",
    "merchandise", "product", "products", "accessory", "accessories", "thing", "things", "misc", "miscellaneous",
    "various", "assorted", "general", "other", "others", "article", "articles", "package", "parcel", "spare",
    "礼物", "礼品", "货物", "样品", "配件", "物品", "商品", "其他",
})

# HS chapters 01–97; chapter 77 is reserved for future use in the Harmonized System (DOMAIN.md §8).
DEFAULT_VALID_CHAPTERS = frozenset(f"{n:02d}" for n in range(1, 98) if n != 77)
# Chapters 01–24 are agricultural and food products: the green-channel scope (DOMAIN.md §1, §8).
DEFAULT_GREEN_CHAPTERS = frozenset(f"{n:02d}" for n in range(1, 25))
# Prohibited beyond chapter 93 (arms and ammunition, DOMAIN.md §8), by heading or subheading prefix:
# 3601–3604 explosives, fuses, detonators, fireworks (dangerous goods barred from the post and couriers);
# 1211.30 coca leaf, 1302.11 opium, 2939.11 opium alkaloids (narcotics under the UN 1961 Convention).
DEFAULT_PROHIBITED_PREFIXES = frozenset({"3601", "3602", "3603", "3604", "121130", "130211", "293911"})


def _decimal(value: Any) -> Decimal:
    # Floats go through str so 0.13 stays 0.13, not 0.130000000000000004440892098500626...
    if isinstance(value, Decimal):
        return value
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise InvalidPolicy(f"not a number: {value!r}") from exc


def _strings(upper: bool = False) -> Callable[[Any], frozenset[str]]:
    def coerce(value: Any) -> frozenset[str]:
        if isinstance(value, str):
            value = [value]
        return frozenset(str(v).upper() if upper else str(v) for v in value)

    return coerce


def _decimal_map(upper: bool = False) -> Callable[[Any], Mapping[str, Decimal]]:
    def coerce(value: Any) -> Mapping[str, Decimal]:
        return MappingProxyType({(k.upper() if upper else k): _decimal(v) for k, v in dict(value).items()})

    return coerce


def _int_map(value: Any) -> Mapping[str, int]:
    return MappingProxyType({k: int(v) for k, v in dict(value).items()})


def _reference_price(value: Any) -> ReferencePrice:
    if isinstance(value, ReferencePrice):
        return value
    if isinstance(value, Mapping):
        return ReferencePrice(_decimal(value["price_cny"]), value.get("per", "unit"))
    if isinstance(value, tuple | list):
        return ReferencePrice(_decimal(value[0]), value[1])
    return ReferencePrice(_decimal(value))


def _reference_prices(value: Any) -> Mapping[str, ReferencePrice]:
    return MappingProxyType({str(k): _reference_price(v) for k, v in dict(value).items()})


def _setting(default: Any, coerce: Callable[[Any], Any]) -> Any:
    return field(default_factory=lambda: coerce(default), metadata={"coerce": coerce})


@dataclass(frozen=True)
class CustomsPolicy:
    """Thresholds, rates and lists the customs rules apply; defaults from DOMAIN.md."""

    # Money (money.py). CNY per unit of each currency.
    rates_to_cny: Mapping[str, Decimal] = _setting(DEFAULT_RATES_TO_CNY, _decimal_map(upper=True))

    # Forms (DOMAIN.md §2). CN22 only for letter-post products up to 300 SDR; parcels are always CN23.
    cn22_limit_sdr: Decimal = _setting("300", _decimal)
    letter_post_products: frozenset[str] = _setting({"letter", "registered_letter", "tracked_letter"}, _strings())
    # Express category A is for documents of no commercial value: at most this declared value, and HS codes (when
    # given) in chapter 49 (printed matter). Anything else declared as documents is re-classed by value (B/C/D).
    express_a_max_value_cny: Decimal = _setting("50", _decimal)
    express_a_chapters: frozenset[str] = _setting({"49"}, _strings())
    # Express category B takes personal articles only: gifts and returned goods (merchandise, commercial samples
    # and "other" sold by a merchant are goods, category C/D).
    personal_contents_types: frozenset[str] = _setting({"gift", "returned_goods"}, _strings())
    express_b_limit_cny: Decimal = _setting("1000", _decimal)
    express_c_limit_cny: Decimal = _setting("5000", _decimal)
    default_trade_mode: str = "9610"

    # Limits (DOMAIN.md §2, §7). Mail personal-article limit per item; lower when sent from HK/MO/TW.
    personal_article_limit_cny: Decimal = _setting("1000", _decimal)
    personal_article_limit_hmt_cny: Decimal = _setting("800", _decimal)
    hmt_regions: frozenset[str] = _setting({"HK", "MO", "TW"}, _strings(upper=True))
    ecommerce_transaction_limit_cny: Decimal = _setting("5000", _decimal)
    ecommerce_annual_limit_cny: Decimal = _setting("26000", _decimal)
    # A return (refund) within this many days of release gives the value back to the annual quota (§7).
    return_quota_days: int = 30

    # Tax (DOMAIN.md §7; express B waiver per GAC Announcement 19/2016).
    vat_rate: Decimal = _setting("0.13", _decimal)
    consumption_tax_rate: Decimal = _setting("0", _decimal)
    composite_tax_factor: Decimal = _setting("0.70", _decimal)
    # The tariff schedule is not modelled: general-trade duty uses this flat rate unless the caller passes one.
    general_duty_rate: Decimal = _setting("0.10", _decimal)
    # Postal articles tax (行邮税) lowest band, for express B and mail personal articles.
    personal_articles_tax_rate: Decimal = _setting("0.13", _decimal)
    tax_waiver_cny: Decimal = _setting("50", _decimal)
    tax_waiver_forms: frozenset[str] = _setting({"express_B"}, _strings())

    # Risk rules (risk.py).
    undervaluation_ratio: Decimal = _setting("0.30", _decimal)
    reference_prices: Mapping[str, ReferencePrice] = _setting(DEFAULT_REFERENCE_PRICES, _reference_prices)
    vague_words: frozenset[str] = _setting(DEFAULT_VAGUE_WORDS, _strings())
    valid_hs_chapters: frozenset[str] = _setting(DEFAULT_VALID_CHAPTERS, _strings())
    hs_min_digits: int = 6  # the international 6 digits (DOMAIN.md §8); China declares 10
    hs_max_digits: int = 10
    prohibited_chapters: frozenset[str] = _setting({"93"}, _strings())
    prohibited_hs_prefixes: frozenset[str] = _setting(DEFAULT_PROHIBITED_PREFIXES, _strings())
    split_window_hours: int = 24
    # Per channel, the limit a buyer would dodge by splitting: mail personal articles, express C ceiling
    # (above it a formal D declaration), e-commerce single-transaction limit.
    split_thresholds_cny: Mapping[str, Decimal] = _setting(
        {"mail": "1000", "express": "5000", "ecommerce": "5000"}, _decimal_map()
    )
    watchlist_names: frozenset[str] = _setting(set(), _strings())
    watchlist_id_numbers: frozenset[str] = _setting(set(), _strings(upper=True))
    # The declarant's own sampling: this share of clean declarations waits for a broker's check before filing.
    # Off by default: the customs authority samples for inspection on its own (its 500 receipts).
    random_inspection_rate: Decimal = _setting("0", _decimal)
    green_channel_countries: frozenset[str] = _setting({"KZ", "KG", "TJ"}, _strings(upper=True))
    green_channel_chapters: frozenset[str] = _setting(DEFAULT_GREEN_CHAPTERS, _strings())

    # Scoring and decision (risk.py). A score is the sum of the findings' severity weights.
    severity_weights: Mapping[str, int] = _setting(
        {"info": 0, "low": 10, "medium": 25, "high": 50, "prohibited": 100}, _int_map
    )
    manual_review_score: int = 25  # one medium finding, or three low ones, holds the declaration
    inspection_score: int = 100  # two high findings send the parcel to physical inspection
    reject_codes: frozenset[str] = _setting({"hs_chapter_invalid"}, _strings())
    inspection_codes: frozenset[str] = _setting({"random_inspection_sample"}, _strings())

    # Three-document match (DOMAIN.md §6).
    match_tolerance_cny: Decimal = _setting("1", _decimal)
    document_deadline_minutes: int = 30
    # Inventory lists declare China's 10-digit HS codes (gcode, DOMAIN.md §5, §8), in both directions.
    inventory_hs_digits: int = 10
    # Identity documents a buyer of an e-commerce import may give (DOMAIN.md §5 identity checks).
    buyer_id_types: frozenset[str] = _setting({"resident_id", "passport"}, _strings())

    def __post_init__(self) -> None:
        # Coerce overrides given as plain values; frozen, hence object.__setattr__.
        for f in dataclasses.fields(self):
            coerce = f.metadata.get("coerce")
            value = getattr(self, f.name)
            try:
                if coerce is not None:
                    object.__setattr__(self, f.name, coerce(value))
                elif f.type == "int":
                    object.__setattr__(self, f.name, int(value))
            except InvalidPolicy:
                raise
            except (TypeError, ValueError, KeyError, IndexError) as exc:
                raise InvalidPolicy(f"bad value for {f.name}: {value!r}") from exc

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None = None) -> CustomsPolicy:
        """Build a policy from plain settings values; unknown keys raise InvalidPolicy."""
        values = dict(values or {})
        unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise InvalidPolicy(f"unknown customs policy settings: {sorted(unknown)}")
        return cls(**values)

    def with_overrides(self, **values: Any) -> CustomsPolicy:
        """A copy with some settings replaced (plain values are coerced)."""
        return dataclasses.replace(self, **values)


DEFAULT_POLICY = CustomsPolicy()
