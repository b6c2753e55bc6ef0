"""Intake validation of a parcel: the domain checks the contract's shape cannot express.

Every rule is a small generator of `Violation`s; `validate_parcel` runs them all, so a merchant sees every
problem with an order at once, each pinned to the field at fault ("lines[2].hs_code", "consignee.id_number").

What the order says about its payment (`payment`) is the order's claim, checked for shape here (currency, payer
ID, a sane time); whether it agrees with the provider's payment document, within ±1 CNY, is customs' three-document
match (DOMAIN.md §6), not intake's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from services.orders.domain.identity import is_valid_passport_number, is_valid_resident_id, is_valid_uscc
from services.orders.domain.reference import COUNTRY_CODES, TENDER_CURRENCY_CODES
from shared.contract.carriers import CARRIERS, MAX_PARCEL_WEIGHT_KG
from shared.contract.parcel import Parcel, Party

CENT = Decimal("0.01")
# HS chapters 01–97 are assigned; 77 is reserved for future use, 98–99 are for national use (DOMAIN.md §8).
HS_RESERVED_CHAPTERS = frozenset({77})
HS_MIN_DIGITS, HS_MAX_DIGITS, HS_CHINA_DIGITS = 6, 10, 10
# E-commerce trade modes (DOMAIN.md §2): 9710/9810 are export-only, 1210 (bonded) is import, 9610 either way.
TRADE_MODE_DIRECTIONS = {"9610": {"import", "export"}, "1210": {"import"}, "9710": {"export"}, "9810": {"export"}}
CHINA = "CN"
# The ID types that can key a person's annual e-commerce import quota (DOMAIN.md §5 buyerIdType, §7): a resident
# ID (buyerIdType 1) or, for a foreign buyer, a passport. A company (uscc) is no B2C buyer; "other" keys nothing.
BUYER_ID_TYPES = frozenset({"resident_id", "passport"})

# Every code validate_parcel can return: a stable contract for API clients (the tests prove each one fires).
VIOLATION_CODES = frozenset(
    {
        "amount_paid_mismatch",
        "buyer_id_required",
        "buyer_id_type_not_allowed",
        "carrier_conflict",
        "carrier_required",
        "carrier_unknown",
        "consignee_id_required",
        "country_unknown",
        "currency_mismatch",
        "currency_unknown",
        "discount_exceeds_total",
        "export_consignee_in_china",
        "export_sender_not_in_china",
        "goods_value_mismatch",
        "hs_code_invalid_chapter",
        "hs_code_invalid_length",
        "hs_code_not_numeric",
        "id_incomplete",
        "id_number_invalid",
        "import_consignee_not_in_china",
        "line_no_sequence",
        "line_total_mismatch",
        "logistics_company_not_allowed",
        "mail_product_not_allowed",
        "mail_product_required",
        "time_out_of_range",
        "timezone_required",
        "trade_mode_direction",
        "trade_mode_not_allowed",
        "trade_mode_required",
        "weight_too_large",
    }
)


@dataclass(frozen=True)
class Violation:
    """One broken rule: the field at fault (dotted/indexed path), a stable snake_case code and a message."""

    field: str
    code: str
    message: str


@dataclass(frozen=True)
class TimeWindow:
    """When a time from outside may lie: not before `earliest`, at most `max_ahead` after now (clocks drift)."""

    earliest: datetime
    max_ahead: timedelta

    def violation(self, field: str, value: datetime, now: datetime) -> Violation | None:
        """Why `value` is refused for `field`, or None: it has a time zone and lies inside the window."""
        if value.tzinfo is None or value.utcoffset() is None:
            return Violation(field, "timezone_required", "a time needs its UTC offset, e.g. 2026-03-01T10:15:00+08:00")
        latest = now + self.max_ahead
        try:
            inside = self.earliest <= value <= latest
        except OverflowError:  # 0001-01-01T00:00+01:00 or 9999-12-31T23:59-01:00 has no UTC equivalent
            inside = False
        if not inside:
            ahead_h = self.max_ahead.total_seconds() / 3600
            return Violation(field, "time_out_of_range",
                             f"must lie between {self.earliest.isoformat()} and {ahead_h:g} h from now")
        return None


# Payments and tracking events before 2000 or more than a day ahead are typing errors or forgeries (issue 13).
DEFAULT_TIME_WINDOW = TimeWindow(earliest=datetime(2000, 1, 1, tzinfo=UTC), max_ahead=timedelta(days=1))


def validate_parcel(parcel: Parcel, *, now: datetime | None = None,
                    window: TimeWindow = DEFAULT_TIME_WINDOW) -> list[Violation]:
    """All the domain rule violations of a parcel, ordered by field (lines in numeric order) then code.

    `now` (default: the clock) and `window` bound the times the order carries (its payment claim's paid_at).
    """
    violations = [violation for rule in RULES for violation in rule(parcel)]
    if parcel.payment is not None:
        late_or_early = window.violation("payment.paid_at", parcel.payment.paid_at, now or datetime.now(UTC))
        violations += [late_or_early] if late_or_early else []
    return sorted(violations, key=lambda v: (_field_sort_key(v.field), v.code))


def _field_sort_key(field: str) -> list[str | int]:
    """Split "lines[10].hs_code" into ["lines[", 10, "].hs_code"] so lines[10] sorts after lines[2]."""
    return [int(part) if index % 2 else part for index, part in enumerate(re.split(r"(\d+)", field))]


def is_china_bound(parcel: Parcel) -> bool:
    """True when China is the destination: an import, or a consignee in CN."""
    return parcel.direction == "import" or parcel.consignee.country == "CN"


def cents(amount: Decimal) -> Decimal:
    """An amount rounded half-up to the cent."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def _exact(amount: Decimal) -> str:
    """An amount with two decimals, or with all of them when it is not a whole number of cents."""
    return f"{amount.quantize(CENT)}" if amount == amount.quantize(CENT) else f"{amount.normalize():f}"


# ── channel-specific fields (DOMAIN.md §2) ─────────────────────────────────────


def check_trade_mode(parcel: Parcel) -> Iterator[Violation]:
    """E-commerce needs a trade mode that fits the direction; other channels have none."""
    if parcel.channel != "ecommerce":
        if parcel.trade_mode is not None:
            yield Violation("trade_mode", "trade_mode_not_allowed", f"{parcel.channel} parcels have no trade mode")
        return
    if parcel.trade_mode is None:
        yield Violation("trade_mode", "trade_mode_required", "ecommerce needs a trade mode: 9610, 9710, 9810 or 1210")
    elif parcel.direction not in TRADE_MODE_DIRECTIONS[parcel.trade_mode]:
        yield Violation(
            "trade_mode", "trade_mode_direction", f"trade mode {parcel.trade_mode} is not for {parcel.direction}s"
        )


def check_mail_product(parcel: Parcel) -> Iterator[Violation]:
    """Mail needs a mail product (it decides the S10 service indicator and CN22/CN23); other channels have none."""
    if parcel.channel == "mail" and parcel.mail_product is None:
        yield Violation("mail_product", "mail_product_required", "a mail parcel needs a mail product")
    elif parcel.channel != "mail" and parcel.mail_product is not None:
        yield Violation("mail_product", "mail_product_not_allowed", f"a {parcel.channel} parcel has no mail product")


def check_carrier(parcel: Parcel) -> Iterator[Violation]:
    """Express needs the carrier whose waybill number the parcel will travel under, one of the published list
    (an e-commerce parcel may also name its logistics company)."""
    if parcel.channel == "express" and parcel.carrier is None:
        yield Violation("carrier", "carrier_required", "an express parcel needs a carrier")
    elif parcel.carrier is not None and parcel.carrier not in CARRIERS and (
            parcel.logistics_company is None or parcel.carrier.upper() != parcel.logistics_company):
        yield Violation("carrier", "carrier_unknown",
                        f"carrier {parcel.carrier} is not one of {', '.join(CARRIERS)}")


def check_weight(parcel: Parcel) -> Iterator[Violation]:
    """A receptacle's S9 weight field holds 999.9 kg at most: a heavier parcel could be accepted but never bagged."""
    if parcel.weight_kg > Decimal(MAX_PARCEL_WEIGHT_KG):
        field = "gross_weight_kg" if parcel.gross_weight_kg is not None else "lines"
        yield Violation(field, "weight_too_large", f"a parcel weighs at most {MAX_PARCEL_WEIGHT_KG} kg")


def check_logistics_company(parcel: Parcel) -> Iterator[Violation]:
    """An external logistics company sends the waybill of an e-commerce parcel only (CEB511), and then carries it:
    a different carrier would be a second logistics party. (Whether the company is registered and bound to the
    merchant is the intake's look-up, not a pure rule.)"""
    company = parcel.logistics_company
    if company is None:
        return
    if parcel.channel != "ecommerce":
        yield Violation("logistics_company", "logistics_company_not_allowed",
                        f"only e-commerce parcels name a logistics company, not {parcel.channel} ones")
    elif parcel.carrier is not None and parcel.carrier.upper() != company:
        yield Violation("carrier", "carrier_conflict",
                        f"logistics company {company} carries this parcel: leave carrier out or make it {company}")


def check_ecommerce_route(parcel: Parcel) -> Iterator[Violation]:
    """An e-commerce inventory list declares goods entering China (import: the consignee is in China) or leaving it
    (export, CEB603: the sender ships from China to a consignee abroad)."""
    if parcel.channel != "ecommerce":
        return
    if parcel.direction == "import" and parcel.consignee.country != CHINA:
        yield Violation("consignee.country", "import_consignee_not_in_china",
                        "an e-commerce import is declared in China: the consignee's country is CN")
    if parcel.direction == "export":
        if parcel.sender.country != CHINA:
            yield Violation("sender.country", "export_sender_not_in_china",
                            "an e-commerce export leaves China: the sender's country is CN")
        if parcel.consignee.country == CHINA:
            yield Violation("consignee.country", "export_consignee_in_china",
                            "an e-commerce export goes abroad: the consignee is not in CN")


# ── reference data: HS codes, countries, currencies ───────────────────────────


def check_hs_codes(parcel: Parcel) -> Iterator[Violation]:
    """HS codes are digits, in an assigned chapter: 10 of them where China declares them (DOMAIN.md §5 gcode, §8) —
    a China-bound parcel and every e-commerce inventory list, import (CEB621) or export (CEB603) — 6–10 elsewhere."""
    china = is_china_bound(parcel) or parcel.channel == "ecommerce"
    for index, line in enumerate(parcel.lines):
        field, hs_code = f"lines[{index}].hs_code", line.hs_code
        if not (hs_code.isascii() and hs_code.isdigit()):
            yield Violation(field, "hs_code_not_numeric", "an HS code is digits only, without dots or spaces")
            continue
        if china and len(hs_code) != HS_CHINA_DIGITS:
            yield Violation(field, "hs_code_invalid_length", "China declares 10-digit HS codes")
        elif not china and not HS_MIN_DIGITS <= len(hs_code) <= HS_MAX_DIGITS:
            yield Violation(field, "hs_code_invalid_length", "an HS code has 6 to 10 digits")
        chapter = int(hs_code[:2]) if len(hs_code) >= 2 else 0
        if not 1 <= chapter <= 97 or chapter in HS_RESERVED_CHAPTERS:
            yield Violation(field, "hs_code_invalid_chapter", f"HS chapter {hs_code[:2]} is not in use (01-97, not 77)")


def check_countries(parcel: Parcel) -> Iterator[Violation]:
    """Every country is an ISO 3166-1 alpha-2 code."""
    countries = {f"{role}.country": party.country for role, party in _parties(parcel)}
    countries |= {f"lines[{i}].origin_country": line.origin_country for i, line in enumerate(parcel.lines)}
    for field, country in countries.items():
        if country not in COUNTRY_CODES:
            yield Violation(field, "country_unknown", f"{country} is not an ISO 3166-1 country code")


def check_currencies(parcel: Parcel) -> Iterator[Violation]:
    """Every currency is an ISO 4217 currency of legal tender, and the lines and payment use the order's."""
    currencies = {f"lines[{i}].currency": line.currency for i, line in enumerate(parcel.lines)}
    if parcel.payment is not None:
        currencies["payment.currency"] = parcel.payment.currency
    for field, currency in {"currency": parcel.currency, **currencies}.items():
        if currency not in TENDER_CURRENCY_CODES:
            yield Violation(field, "currency_unknown", f"{currency} is not an ISO 4217 currency of legal tender")
    for field, currency in currencies.items():
        if currency != parcel.currency:
            yield Violation(field, "currency_mismatch", f"{currency} differs from the order currency {parcel.currency}")


# ── lines and order arithmetic (DOMAIN.md §5, CEB311) ─────────────────────────


def check_line_numbers(parcel: Parcel) -> Iterator[Violation]:
    """Line numbers run 1, 2, … n in the order given (CEB311 lines start at 1)."""
    for index, line in enumerate(parcel.lines):
        if line.line_no != index + 1:
            yield Violation(
                f"lines[{index}].line_no", "line_no_sequence", f"line {index + 1} is numbered {line.line_no}"
            )


def check_line_totals(parcel: Parcel) -> Iterator[Violation]:
    """Each line's total is unit price × quantity to the cent (CEB311 totalPrice = price × qty)."""
    for index, line in enumerate(parcel.lines):
        exact = line.unit_price * line.quantity
        # Quantities have 3 decimals, so the product may have 5: any rounding to the cent (half-up, half-even,
        # down) is accepted, which is exactly "less than a cent away".
        if abs(line.total_price - exact) >= CENT:
            yield Violation(
                f"lines[{index}].total_price",
                "line_total_mismatch",
                f"total {line.total_price} is not {line.unit_price} x {line.quantity.normalize():f} = {_exact(exact)}",
            )


def check_order_totals(parcel: Parcel) -> Iterator[Violation]:
    """goods_value = Σ line totals; actualPaid = goodsValue + freight + taxTotal − discount (CEB311)."""
    # Insurance is part of the taxable value (DOMAIN.md §7) but not of CEB311's amount paid.
    lines_total = sum((line.total_price for line in parcel.lines), Decimal(0))
    if parcel.goods_value != lines_total:
        yield Violation(
            "goods_value",
            "goods_value_mismatch",
            f"goods value {parcel.goods_value} is not the lines' total {lines_total}",
        )
    gross = parcel.goods_value + parcel.freight + parcel.tax
    if parcel.discount > gross:
        yield Violation(
            "discount", "discount_exceeds_total", f"discount {parcel.discount} exceeds goods + freight + tax {gross}"
        )
    expected = cents(gross - parcel.discount)
    if parcel.amount_paid != expected:
        yield Violation(
            "amount_paid",
            "amount_paid_mismatch",
            f"amount paid {parcel.amount_paid} is not goods value + freight + tax - discount = {expected}",
        )


# ── identities (DOMAIN.md §5 identity checks) ─────────────────────────────────


def check_identities(parcel: Parcel) -> Iterator[Violation]:
    """ID numbers of every party and the payer pass their check; the buyer of a China-bound e-commerce parcel must
    give one that keys the annual quota (DOMAIN.md §5 buyerIdType/buyerIdNumber, §7)."""
    id_required = parcel.channel == "ecommerce" and is_china_bound(parcel)
    buyer_role = "buyer" if parcel.buyer is not None else "consignee"
    for role, party in _parties(parcel):
        if role == buyer_role and id_required:
            missing = _missing_buyer_id(role, party)
            if missing is not None:
                yield missing
                continue
        yield from id_violations(role, party.id_type, party.id_number, prefix="")
    if parcel.payment is not None:
        payment = parcel.payment
        yield from id_violations("payment", payment.payer_id_type, payment.payer_id_number, prefix="payer_")


def _missing_buyer_id(role: str, party: Party) -> Violation | None:
    """The violation when the buyer of record gives no ID, half of one, or one that cannot key a person's quota."""
    code = "consignee_id_required" if role == "consignee" else "buyer_id_required"
    if not (party.id_type and party.id_number):
        missing = "id_number" if party.id_type else "id_type"
        return Violation(f"{role}.{missing}", code,
                         f"customs needs the {role}'s ID (type and number) for China-bound e-commerce")
    if party.id_type not in BUYER_ID_TYPES:
        return Violation(f"{role}.id_type", "buyer_id_type_not_allowed",
                         f"the buyer of an e-commerce import is a person with a resident ID or a passport, "
                         f"not {party.id_type}")
    return None


def id_violations(path: str, id_type: str | None, id_number: str | None, *, prefix: str) -> Iterator[Violation]:
    """An ID given by half (type without number or the reverse), or one failing its check character."""
    if (id_type is None) != (id_number is None):
        missing = f"{prefix}id_number" if id_number is None else f"{prefix}id_type"
        yield Violation(f"{path}.{missing}", "id_incomplete", "an ID needs both its type and its number")
        return
    validator = ID_VALIDATORS.get(id_type or "")
    if validator is not None and id_number is not None and not validator(id_number):
        yield Violation(f"{path}.{prefix}id_number", "id_number_invalid", f"not a valid {id_type} number")


ID_VALIDATORS: dict[str, Callable[[str], bool]] = {"resident_id": is_valid_resident_id, "uscc": is_valid_uscc,
                                                   "passport": is_valid_passport_number}


def _parties(parcel: Parcel) -> list[tuple[str, Party]]:
    """The parcel's parties with their field names; the buyer only when given apart from the consignee."""
    parties = [("sender", parcel.sender), ("consignee", parcel.consignee)]
    return parties + ([("buyer", parcel.buyer)] if parcel.buyer is not None else [])


RULES: tuple[Callable[[Parcel], Iterator[Violation]], ...] = (
    check_trade_mode,
    check_mail_product,
    check_carrier,
    check_weight,
    check_logistics_company,
    check_ecommerce_route,
    check_hs_codes,
    check_countries,
    check_currencies,
    check_line_numbers,
    check_line_totals,
    check_order_totals,
    check_identities,
)
