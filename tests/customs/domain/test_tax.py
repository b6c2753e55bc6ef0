"""Import tax (DOMAIN.md §7; express B waiver per GAC Announcement 19/2016)."""

from decimal import Decimal

import pytest

from services.customs.domain.forms import select_form
from services.customs.domain.policy import DEFAULT_POLICY as P
from services.customs.domain.tax import (
    b2c_composite_tax,
    composite_rate,
    declaration_tax,
    ecommerce_import_tax,
    general_trade_tax,
    is_single_indivisible,
    taxable_value,
    taxable_value_cny,
    tax_figures,
    waive_small_tax,
)
from tests.customs.domain.factories import line, parcel

D = Decimal


def test_composite_rate_is_9_1_percent_for_13_percent_vat():
    assert composite_rate(vat_rate=D("0.13"), consumption_tax_rate=D("0"), factor=D("0.7")) == D("0.091")


def test_composite_rate_with_consumption_tax():
    # Cosmetics at 15% consumption tax: (0.15 + 0.13) / 0.85 × 0.7 = 0.23058…
    rate = composite_rate(vat_rate=D("0.13"), consumption_tax_rate=D("0.15"), factor=D("0.7"))
    assert rate.quantize(D("0.00001")) == D("0.23059")


def test_taxable_value_is_price_plus_freight_plus_insurance():
    assert taxable_value(price=D("100"), freight=D("20"), insurance=D("5")) == D("125")
    assert taxable_value_cny(parcel(currency="USD", goods_value=D("100"), freight=D("10"), insurance=D("1"),
                                    amount_paid=D("111")), P) == D("788.10")


def test_b2c_composite_tax_in_cny_rounded_to_cents():
    assert b2c_composite_tax(D("1000"), policy=P) == D("91.00")
    assert b2c_composite_tax(D("123.45"), policy=P) == D("11.23")  # 11.23395
    assert b2c_composite_tax(D("1000"), policy=P, consumption_tax_rate=D("0.15")) == D("230.59")


def test_general_trade_tax_in_full():
    # 10% duty, 13% VAT: 1000 + 100 duty, VAT 143 → 243.
    assert general_trade_tax(D("1000"), duty_rate=D("0.10"), vat_rate=D("0.13")) == D("243.00")
    # With 15% consumption tax: ct = 1100 / 0.85 × 0.15 = 194.12; VAT = (1100 + 194.12) × 0.13 = 168.24.
    assert general_trade_tax(D("1000"), duty_rate=D("0.10"), vat_rate=D("0.13"),
                             consumption_tax_rate=D("0.15")) == D("462.35")


def test_express_b_tax_waived_up_to_50_inclusive():
    assert waive_small_tax(D("50.00"), form="express_B", policy=P) == D("0")
    assert waive_small_tax(D("50.01"), form="express_B", policy=P) == D("50.01")
    assert waive_small_tax(D("10"), form="express_C", policy=P) == D("10")  # only B by default


def test_ecommerce_within_limits_pays_composite_tax():
    result = ecommerce_import_tax(parcel(goods_value=D("4900"), freight=D("100"), amount_paid=D("5000")), policy=P)
    assert (result.regime, result.taxable_value_cny, result.tax_cny) == ("b2c_composite", D("5000.00"), D("455.00"))
    assert result.counts_towards_annual


def test_ecommerce_over_transaction_limit_pays_general_trade_rates():
    big = parcel(lines=[line(unit_price=D("5000.01"), total_price=D("5000.01"))], goods_value=D("5000.01"),
                 amount_paid=D("5000.01"))
    assert is_single_indivisible(big)
    result = ecommerce_import_tax(big, policy=P)
    assert result.regime == "general_trade" and result.tax_cny == D("1215.00")  # 5000.01 × 0.243
    assert result.counts_towards_annual  # §7: still counts towards the annual total


def test_ecommerce_over_annual_limit_is_general_trade_and_not_counted():
    assert ecommerce_import_tax(parcel(), policy=P, annual_total_cny=D("25900")).regime == "b2c_composite"
    result = ecommerce_import_tax(parcel(), policy=P, annual_total_cny=D("25900.01"))
    assert result.regime == "general_trade" and not result.counts_towards_annual


def test_single_indivisible_means_one_line_of_quantity_one():
    assert is_single_indivisible(parcel())
    assert not is_single_indivisible(parcel(lines=[line(quantity=D("2"), total_price=D("200"))]))
    assert not is_single_indivisible(parcel(lines=[line(), line(line_no=2)]))


@pytest.mark.parametrize(
    ("overrides", "regime", "tax"),
    [
        ({"direction": "export"}, "none", D("0")),
        ({"channel": "express", "contents_type": "documents", "goods_value": D("10"),
          "lines": [line(hs_code="4911998000", unit_price=D("10"), total_price=D("10"))]}, "none", D("0")),
        # Express B: 300 × 13% = 39 → waived; 400 × 13% = 52 → due.
        ({"channel": "express", "contents_type": "gift", "goods_value": D("300")}, "personal_articles", D("0")),
        ({"channel": "express", "contents_type": "gift", "goods_value": D("400")}, "personal_articles", D("52.00")),
        ({"channel": "express", "goods_value": D("1000")}, "general_trade", D("243.00")),
        ({"channel": "mail", "mail_product": "parcel", "goods_value": D("300")}, "personal_articles", D("39.00")),
        ({"goods_value": D("100")}, "b2c_composite", D("9.10")),
    ],
)
def test_declaration_tax_by_channel_and_form(overrides, regime, tax):
    p = parcel(**{"amount_paid": D("0"), **overrides})
    result = declaration_tax(p, form=select_form(p, P).form, policy=P)
    assert (result.regime, result.tax_cny) == (regime, tax)


def test_a_tax_bill_splits_the_tax_into_duty_vat_and_consumption_tax():
    b2c = tax_figures(regime="b2c_composite", taxable_value_cny=D("100"), tax_cny=D("9.10"), policy=P)
    assert (b2c.customs_duty_cny, b2c.vat_cny, b2c.consumption_tax_cny, b2c.total_cny) == (0, D("9.10"), 0, D("9.10"))
    cosmetics = P.with_overrides(consumption_tax_rate="0.15")
    tax = b2c_composite_tax(D("1000"), policy=cosmetics)
    split = tax_figures(regime="b2c_composite", taxable_value_cny=D("1000"), tax_cny=tax, policy=cosmetics)
    assert split.consumption_tax_cny == D("123.53") and split.total_cny == tax  # 1000 / 0.85 × 15% × 70%
    general = tax_figures(regime="general_trade", taxable_value_cny=D("6000"), tax_cny=D("745.80"), policy=P)
    assert general.customs_duty_cny == D("600.00") and general.total_cny == D("745.80")
