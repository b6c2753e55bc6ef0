"""Import taxes: cross-border e-commerce B2C composite tax, general-trade tax, postal articles tax (DOMAIN.md §7)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from services.customs.domain.money import ZERO, cny_exact, round_cents
from services.customs.domain.policy import CustomsPolicy
from shared.contract.parcel import Parcel

Regime = Literal["b2c_composite", "general_trade", "personal_articles", "none"]


@dataclass(frozen=True)
class TaxAssessment:
    """The tax regime applied, the value it was applied to and the tax due, in CNY."""

    regime: Regime
    taxable_value_cny: Decimal
    tax_cny: Decimal
    counts_towards_annual: bool = False  # e-commerce import: the value joins the buyer's annual total


def composite_rate(*, vat_rate: Decimal, consumption_tax_rate: Decimal, factor: Decimal) -> Decimal:
    """(consumption tax + VAT) / (1 − consumption tax) × factor; 0.091 for 13% VAT, no consumption tax (§7)."""
    return (consumption_tax_rate + vat_rate) / (1 - consumption_tax_rate) * factor


def taxable_value(*, price: Decimal, freight: Decimal = ZERO, insurance: Decimal = ZERO) -> Decimal:
    """Taxable value = price + freight + insurance (DOMAIN.md §7)."""
    return price + freight + insurance


def taxable_value_cny(parcel: Parcel, policy: CustomsPolicy) -> Decimal:
    """The parcel's taxable value (goods + freight + insurance) in CNY; also the B2C transaction value."""
    exact = taxable_value(price=parcel.goods_value, freight=parcel.freight, insurance=parcel.insurance)
    return round_cents(cny_exact(exact, parcel.currency, policy))


def is_single_indivisible(parcel: Parcel) -> bool:
    """One line of quantity one: the only case allowed over the per-transaction limit (DOMAIN.md §7)."""
    return len(parcel.lines) == 1 and parcel.lines[0].quantity == 1


def b2c_composite_tax(
    taxable_value_cny: Decimal,
    *,
    policy: CustomsPolicy,
    vat_rate: Decimal | None = None,
    consumption_tax_rate: Decimal | None = None,
) -> Decimal:
    """B2C import tax within the limits: duty 0%, VAT and consumption tax at 70% (DOMAIN.md §7)."""
    rate = composite_rate(
        vat_rate=policy.vat_rate if vat_rate is None else vat_rate,
        consumption_tax_rate=policy.consumption_tax_rate if consumption_tax_rate is None else consumption_tax_rate,
        factor=policy.composite_tax_factor,
    )
    return round_cents(taxable_value_cny * rate)


def general_trade_tax(
    taxable_value_cny: Decimal, *, duty_rate: Decimal, vat_rate: Decimal, consumption_tax_rate: Decimal = ZERO
) -> Decimal:
    """Duty, consumption tax and VAT in full; consumption tax and VAT are levied on the duty-paid value."""
    duty = taxable_value_cny * duty_rate
    # Consumption tax is ad valorem on a tax-inclusive base: (value + duty) / (1 − rate) × rate.
    consumption = (taxable_value_cny + duty) / (1 - consumption_tax_rate) * consumption_tax_rate
    vat = (taxable_value_cny + duty + consumption) * vat_rate
    return round_cents(duty + consumption + vat)


def personal_articles_tax(value_cny: Decimal, *, policy: CustomsPolicy, rate: Decimal | None = None) -> Decimal:
    """Postal articles tax on personal articles (mail, express B) at the given or the policy's rate."""
    return round_cents(value_cny * (policy.personal_articles_tax_rate if rate is None else rate))


def waive_small_tax(tax_cny: Decimal, *, form: str, policy: CustomsPolicy) -> Decimal:
    """Tax of 50 CNY or less is waived for express category B (GAC Announcement 19/2016, DOMAIN.md §2)."""
    if form in policy.tax_waiver_forms and tax_cny <= policy.tax_waiver_cny:
        return ZERO
    return tax_cny


def ecommerce_import_tax(
    parcel: Parcel,
    *,
    policy: CustomsPolicy,
    annual_total_cny: Decimal = ZERO,
    consumption_tax_rate: Decimal | None = None,
    duty_rate: Decimal | None = None,
) -> TaxAssessment:
    """B2C composite tax within both limits, general-trade rates in full otherwise (DOMAIN.md §7).

    `annual_total_cny` is what the buyer has already bought this year, before this parcel. Over the
    per-transaction limit only a single indivisible item may use the channel; the risk rules flag the rest.
    """
    value = taxable_value_cny(parcel, policy)
    ct_rate = policy.consumption_tax_rate if consumption_tax_rate is None else consumption_tax_rate
    within_transaction = value <= policy.ecommerce_transaction_limit_cny
    within_annual = annual_total_cny + value <= policy.ecommerce_annual_limit_cny
    if within_transaction and within_annual:
        tax = b2c_composite_tax(value, policy=policy, consumption_tax_rate=ct_rate)
        return TaxAssessment("b2c_composite", value, tax, counts_towards_annual=True)
    tax = general_trade_tax(
        value,
        duty_rate=policy.general_duty_rate if duty_rate is None else duty_rate,
        vat_rate=policy.vat_rate,
        consumption_tax_rate=ct_rate,
    )
    # A single indivisible item within the annual limit still counts towards the annual total (§7).
    return TaxAssessment("general_trade", value, tax, counts_towards_annual=within_annual)


def declaration_tax(
    parcel: Parcel, *, form: str, policy: CustomsPolicy, annual_total_cny: Decimal = ZERO
) -> TaxAssessment:
    """The import tax a declaration carries on release; exports and documents carry none."""
    if parcel.direction != "import" or form == "express_A":
        return TaxAssessment("none", ZERO, ZERO)
    if parcel.channel == "ecommerce":
        return ecommerce_import_tax(parcel, policy=policy, annual_total_cny=annual_total_cny)
    if form in {"express_C", "express_D"}:
        # Express goods clear at general-trade rates (category C simplified, D formal) on the CIF value.
        value = taxable_value_cny(parcel, policy)
        tax = general_trade_tax(value, duty_rate=policy.general_duty_rate, vat_rate=policy.vat_rate)
        return TaxAssessment("general_trade", value, tax)
    # Mail (CN22/CN23) and express B are personal articles, taxed on the goods' value without freight.
    value = round_cents(cny_exact(parcel.goods_value, parcel.currency, policy))
    tax = waive_small_tax(personal_articles_tax(value, policy=policy), form=form, policy=policy)
    return TaxAssessment("personal_articles", value, tax)


@dataclass(frozen=True)
class TaxFigures:
    """A tax bill's figures (CEB816): duty, VAT and consumption tax, adding up to the tax assessed."""

    customs_duty_cny: Decimal
    vat_cny: Decimal
    consumption_tax_cny: Decimal

    @property
    def total_cny(self) -> Decimal:
        return self.customs_duty_cny + self.vat_cny + self.consumption_tax_cny


def tax_figures(*, regime: str, taxable_value_cny: Decimal, tax_cny: Decimal, policy: CustomsPolicy) -> TaxFigures:
    """Split the tax assessed on an e-commerce import into the tax bill's three figures (DOMAIN.md §7).

    B2C composite: no duty; consumption tax on the tax-inclusive base and VAT, both at 70%. General trade: duty,
    then consumption tax and VAT on the duty-paid value. Each figure is rounded to the cent and VAT takes the
    rounding, so the three add up to the tax the declaration carries.
    """
    value, ct = taxable_value_cny, policy.consumption_tax_rate
    if regime == "b2c_composite":
        factor = policy.composite_tax_factor
        duty = ZERO
        consumption = round_cents(value / (1 - ct) * ct * factor)
    elif regime == "general_trade":
        duty = round_cents(value * policy.general_duty_rate)
        consumption = round_cents((value + duty) / (1 - ct) * ct)
    else:
        return TaxFigures(ZERO, tax_cny, ZERO)
    return TaxFigures(duty, tax_cny - duty - consumption, consumption)
