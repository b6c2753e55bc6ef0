"""The code tables against what the project accepts: every country an order may name maps to a JGS-20 code; a
currency either maps or is refused by name, never silently; units of the orders map to customs units."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.customs.domain.policy import DEFAULT_RATES_TO_CNY
from services.customs.messages import MessageRuleViolation, build_ceb311, build_ceb621
from services.orders.domain.reference import COUNTRY_CODES, TENDER_CURRENCY_CODES
from shared.ceb import codes
from shared.ceb.fields import new_guid
from tests.customs.messages.factories import DECLARANT, facts, line, parcel


def test_the_codes_domain_md_names():
    assert {iso: codes.currency_code(iso) for iso in ("CNY", "HKD", "JPY", "EUR", "GBP", "USD")} == {
        "CNY": "142", "HKD": "110", "JPY": "116", "EUR": "300", "GBP": "303", "USD": "502"}
    assert {iso: codes.country_code(iso) for iso in ("CN", "TW", "KZ", "KG", "TJ", "TM", "UZ")} == {
        "CN": "142", "TW": "143", "KZ": "145", "KG": "146", "TJ": "147", "TM": "148", "UZ": "149"}


def test_every_country_the_orders_intake_accepts_maps():
    unmapped = sorted(iso for iso in COUNTRY_CODES if codes.country_code(iso) is None)
    assert unmapped == []
    # Territories without a code of their own take their continent's "other" code; no code is invented.
    assert (codes.country_code("AS"), codes.country_match("AS")) == ("699", "region_other")
    assert (codes.country_code("AQ"), codes.country_match("AQ")) == ("701", "unknown")
    assert codes.country_match("DE") == "exact"
    assert all(codes.is_country_code(code) for code in codes.countries().values())


def test_each_numeric_country_code_names_one_territory_except_the_shared_ones():
    by_code: dict[str, list[str]] = {}
    for iso, code in codes.countries().items():
        if codes.country_match(iso) == "exact":
            by_code.setdefault(code, []).append(iso)
    shared = {code: isos for code, isos in by_code.items() if len(isos) > 1}
    assert shared == {"438": ["MF", "SX"]}  # the table's 438 is the island of Saint Martin, both its parts


@pytest.mark.parametrize("iso", sorted(TENDER_CURRENCY_CODES))
def test_every_currency_the_intake_accepts_maps_or_is_refused_naming_the_field(iso):
    code = codes.currency_code(iso)
    lines = [line(1, currency=iso, unit_price=Decimal("10.00"), total_price=Decimal("20.00"))]
    p = parcel(currency=iso, lines=lines, tax=Decimal(0), discount=Decimal(0), freight=Decimal(0),
               amount_paid=Decimal("20.00"))
    f = facts(p, tax_total=Decimal(0))
    if code is None:
        with pytest.raises(MessageRuleViolation) as caught:
            build_ceb621(f, DECLARANT, guid=new_guid())
        assert (caught.value.field, caught.value.code) == ("InventoryHead.currency", "code_table")
    else:
        root = build_ceb311(f, DECLARANT, guid=new_guid())
        assert root.findtext(".//{*}OrderHead/{*}currency") == code


def test_the_currencies_customs_has_rates_for_that_the_table_lacks_are_known():
    """Customs' default rates include Central Asian currencies the JGS-20 table has no code for: a parcel priced
    in them is filed only once its values are stated in a currency of the table (README: customs exchange)."""
    lacking = sorted(iso for iso in DEFAULT_RATES_TO_CNY if iso != "XDR" and codes.currency_code(iso) is None)
    assert lacking == ["KGS", "KZT", "TJS"]


def test_units_orders_use_map_to_customs_units():
    assert {unit: codes.unit_code(unit) for unit in ("PCE", "KGM", "SET", "PR", "LTR", "BX", "007", "kgm")} == {
        "PCE": "007", "KGM": "035", "SET": "006", "PR": "025", "LTR": "095", "BX": "140", "007": "007",
        "kgm": "035"}
    assert codes.unit_code("BOX") is None and codes.unit_code("999") is None
