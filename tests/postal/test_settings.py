"""Postal settings from the environment: dict settings as JSON, policy and tables merged over the defaults."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from services.postal.domain.carriers import CarrierNumbering
from services.postal.settings import PostalSettings


def test_defaults_match_the_issue():
    settings = PostalSettings()
    assert (settings.issuing_country, settings.origin_office, settings.mail_carrier) == ("CN", "CNURCA", "SGPOST")
    assert settings.policy.max_receptacle_weight_kg == Decimal(30)
    assert settings.carrier_url("ANY") == "http://127.0.0.1:8004/v1/manifests"


def test_environment_overrides(monkeypatch):
    monkeypatch.setenv("SILKGATE_POSTAL_ISSUING_COUNTRY", "KZ")
    monkeypatch.setenv("SILKGATE_POSTAL_CARRIER_ENDPOINTS", '{"DHL": "https://dhl.example/manifests"}')
    monkeypatch.setenv("SILKGATE_POSTAL_CARRIERS", '{"ZTO": {"prefix": "ZT", "serial_digits": 10, "check": "mod10"}}')
    monkeypatch.setenv("SILKGATE_POSTAL_OFFICES", '{"KZ": "KZNQZA"}')
    monkeypatch.setenv("SILKGATE_POSTAL_MAX_RECEPTACLE_ITEMS", "7")
    settings = PostalSettings()
    assert settings.issuing_country == "KZ"
    assert settings.carrier_url("DHL") == "https://dhl.example/manifests"
    assert settings.carrier_numbering["ZTO"] == CarrierNumbering("ZT", 10, "mod10")
    assert "SGX" in settings.carrier_numbering  # the defaults stay
    assert (settings.office_table["KZ"], settings.office_table["DE"]) == ("KZNQZA", "DEFRAA")
    assert settings.policy.max_receptacle_items == 7


@pytest.mark.parametrize(
    ("name", "value"),
    [("issuing_country", "XX"), ("origin_office", "CN"), ("max_receptacle_items", 0),
     ("max_receptacle_weight_kg", "1000"), ("max_dispatch_receptacles", 1000), ("logistics_prefix", "toolong"),
     ("carriers", {"ZTO": {"prefix": "zt", "serial_digits": 10}}), ("s10_indicators", {"parcel": "Q1"}),
     ("offices", {"KZ": "nope"})],
)
def test_a_configuration_the_rules_refuse_fails_at_start_up(name, value):
    with pytest.raises(ValidationError):
        PostalSettings(**{name: value})
