"""Currency conversion for customs values: Decimal only, rounded half-up to the cent at the end."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from services.customs.domain.errors import UnknownCurrency
from services.customs.domain.policy import CustomsPolicy

CENT = Decimal("0.01")
ZERO = Decimal("0")
SDR = "XDR"  # ISO 4217 code of the IMF Special Drawing Right, the UPU's unit (DOMAIN.md §2)


def round_cents(amount: Decimal) -> Decimal:
    """Round to the cent, half up, as customs bills and receipts do."""
    return Decimal(amount).quantize(CENT, rounding=ROUND_HALF_UP)


def rate_to_cny(currency: str, policy: CustomsPolicy) -> Decimal:
    """CNY per one unit of `currency`; "SDR" is accepted as an alias of XDR."""
    code = currency.upper()
    code = SDR if code == "SDR" else code
    try:
        return policy.rates_to_cny[code]
    except KeyError:
        raise UnknownCurrency(currency) from None


def cny_exact(amount: Decimal, currency: str, policy: CustomsPolicy) -> Decimal:
    """The CNY value without rounding, for callers that convert further (avoids double rounding)."""
    return Decimal(amount) * rate_to_cny(currency, policy)


def to_cny(amount: Decimal, currency: str, policy: CustomsPolicy) -> Decimal:
    """Convert an amount to CNY, rounded half up to the cent."""
    return round_cents(cny_exact(amount, currency, policy))


def to_sdr(amount: Decimal, currency: str, policy: CustomsPolicy) -> Decimal:
    """Convert an amount to SDR via CNY, rounded half up to the cent."""
    return round_cents(cny_exact(amount, currency, policy) / rate_to_cny(SDR, policy))


def sdr_in_cny(amount_sdr: Decimal, policy: CustomsPolicy) -> Decimal:
    """An SDR amount (a UPU limit) in CNY, rounded to the cent."""
    return to_cny(amount_sdr, SDR, policy)
