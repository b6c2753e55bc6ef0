"""Currency conversion: Decimal, half-up to the cent, typed error for unknown currencies."""

from decimal import Decimal

import pytest

from services.customs.domain.errors import UnknownCurrency
from services.customs.domain.money import rate_to_cny, round_cents, sdr_in_cny, to_cny, to_sdr
from services.customs.domain.policy import DEFAULT_POLICY as P


def test_to_cny_uses_the_rate_table():
    assert to_cny(Decimal("100"), "USD", P) == Decimal("710.00")
    assert to_cny(Decimal("100"), "CNY", P) == Decimal("100.00")
    assert to_cny(Decimal("1000"), "JPY", P) == Decimal("48.00")


def test_half_up_rounding_to_cents():
    assert round_cents(Decimal("0.005")) == Decimal("0.01")
    assert round_cents(Decimal("0.0049")) == Decimal("0.00")
    assert round_cents(Decimal("2.675")) == Decimal("2.68")  # a float would give 2.67
    # 0.15 USD × 7.10 = 1.065 → 1.07 (half up), not 1.06 (banker's rounding)
    assert to_cny(Decimal("0.15"), "USD", P) == Decimal("1.07")


def test_to_sdr_converts_via_cny_without_double_rounding():
    assert to_sdr(Decimal("2880"), "CNY", P) == Decimal("300.00")
    assert to_sdr(Decimal("710"), "USD", P) == Decimal("525.10")  # 5041 / 9.6 = 525.104…
    assert sdr_in_cny(Decimal("300"), P) == Decimal("2880.00")


def test_sdr_alias_and_lower_case():
    assert rate_to_cny("SDR", P) == rate_to_cny("XDR", P) == Decimal("9.60")
    assert to_cny(Decimal("1"), "usd", P) == Decimal("7.10")


def test_unknown_currency_is_a_typed_error():
    with pytest.raises(UnknownCurrency) as caught:
        to_cny(Decimal("1"), "ZZZ", P)
    assert caught.value.currency == "ZZZ" and caught.value.code == "unknown_currency"
