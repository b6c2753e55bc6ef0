"""Customs settings: the policy is DOMAIN.md's by default and configurable from the environment."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError

from services.customs.domain.policy import DEFAULT_POLICY
from services.customs.service import CustomsConfig
from services.customs.settings import CustomsSettings


def test_defaults_are_the_domain_policy_and_a_15_minute_claim():
    settings = CustomsSettings()
    assert settings.customs_policy() == DEFAULT_POLICY
    config = CustomsConfig.from_settings(settings)
    assert config.claim_ttl == timedelta(minutes=15)
    assert config.documents_deadline == timedelta(minutes=30)


def test_environment_overrides_with_explicit_settings_winning_over_the_policy_map(monkeypatch):
    monkeypatch.setenv("SILKGATE_CUSTOMS_POLICY", '{"vat_rate": "0.09", "random_inspection_rate": "0.5"}')
    monkeypatch.setenv("SILKGATE_CUSTOMS_RANDOM_INSPECTION_RATE", "0.01")
    monkeypatch.setenv("SILKGATE_CUSTOMS_DOCUMENTS_DEADLINE_MINUTES", "10")
    monkeypatch.setenv("SILKGATE_CUSTOMS_RATES_TO_CNY", '{"CNY": "1", "USD": "7.3", "XDR": "9.6"}')
    monkeypatch.setenv("SILKGATE_CUSTOMS_WATCHLIST_NAMES", '["Bad Actor"]')
    monkeypatch.setenv("SILKGATE_CUSTOMS_CLAIM_TTL_S", "60")
    settings = CustomsSettings()
    policy = settings.customs_policy()
    assert policy.vat_rate == Decimal("0.09")
    assert policy.random_inspection_rate == Decimal("0.01")
    assert policy.document_deadline_minutes == 10
    assert policy.rates_to_cny["USD"] == Decimal("7.3") and "EUR" not in policy.rates_to_cny
    assert policy.watchlist_names == {"Bad Actor"}
    assert CustomsConfig.from_settings(settings).claim_ttl == timedelta(seconds=60)


@pytest.mark.parametrize("values", [
    {"policy": {"vat": "0.13"}},
    {"policy": {"inspection_score": "high"}},
    {"random_inspection_rate": 2},
    {"claim_ttl_s": 0},
])
def test_a_bad_policy_fails_at_start_up(values):
    with pytest.raises(ValidationError):
        CustomsSettings(**values)
