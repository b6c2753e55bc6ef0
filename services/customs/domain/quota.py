"""The buyer's annual e-commerce import quota (DOMAIN.md §7), as pure arithmetic.

26,000 CNY per person per calendar year (China time); a declaration reserves its value when filed and gives it
back when it is rejected, cancelled, or returned within 30 days of release. Kept in fen (integer cents).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal

from services.customs.domain.policy import CustomsPolicy

# The annual quota runs by calendar year in China (UTC+8).
CHINA_TIME = timezone(timedelta(hours=8))


def quota_year(at: datetime) -> int:
    """The quota year a filing at `at` counts towards: the calendar year in China."""
    return at.astimezone(CHINA_TIME).year


def to_fen(amount_cny: Decimal) -> int:
    """CNY to whole fen, half up."""
    return int((Decimal(amount_cny) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def limit_fen(policy: CustomsPolicy) -> int:
    return to_fen(policy.ecommerce_annual_limit_cny)


def return_restores_quota(*, released_at: datetime | None, returned_at: datetime, policy: CustomsPolicy) -> bool:
    """A return (refund) within the window after release gives the quota back (DOMAIN.md §7: 30 days)."""
    if released_at is None:
        return True  # never released: nothing was bought
    return returned_at - released_at <= timedelta(days=policy.return_quota_days)
