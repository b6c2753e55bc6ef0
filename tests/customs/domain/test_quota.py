"""The annual quota's arithmetic (DOMAIN.md §7)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from services.customs.domain.policy import DEFAULT_POLICY as P
from services.customs.domain.quota import limit_fen, quota_year, return_restores_quota, to_fen


def test_the_quota_year_is_chinas_calendar_year():
    assert quota_year(datetime(2025, 12, 31, 15, 59, tzinfo=UTC)) == 2025
    assert quota_year(datetime(2025, 12, 31, 16, 0, tzinfo=UTC)) == 2026  # midnight in Beijing


def test_money_in_fen():
    assert to_fen(Decimal("208.51")) == 20851 and to_fen(Decimal("0.005")) == 1
    assert limit_fen(P) == 2_600_000


def test_a_return_within_30_days_of_release_gives_the_quota_back():
    released = datetime(2026, 3, 1, tzinfo=UTC)
    assert return_restores_quota(released_at=released, returned_at=released + timedelta(days=30), policy=P)
    assert not return_restores_quota(released_at=released, returned_at=released + timedelta(days=30, seconds=1),
                                     policy=P)
    assert return_restores_quota(released_at=None, returned_at=released, policy=P)
