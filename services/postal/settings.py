"""Settings of the postal service (env prefix SILKGATE_POSTAL_).

Every policy the domain rules take as an argument is configurable here; the defaults are DOMAIN.md's, except the
ages, which are short so the embedded demo shows parcels moving from release to handoff within a couple of minutes.
Dict settings are given as JSON in the environment, e.g. SILKGATE_POSTAL_CARRIER_ENDPOINTS='{"DHL": "https://…"}'.
The policy and tables built from them are built once (every parcel uses them): settings do not change once made.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cached_property

from pydantic import Field, model_validator

from services.postal.domain import s9, s10
from services.postal.domain.carriers import DEFAULT_CARRIERS, CarrierNumbering, logistics_number
from services.postal.domain.consolidation import (
    DEFAULT_CATEGORIES,
    DEFAULT_OFFICES,
    DEFAULT_SUBCLASSES,
    ORIGIN_OFFICE,
    ConsolidationPolicy,
)
from services.postal.domain.s10 import DEFAULT_INDICATORS
from shared.settings import ServiceSettings, prefixed


class PostalSettings(ServiceSettings):
    model_config = prefixed("postal")

    SERVICE: str = "postal"

    # Identifiers
    issuing_country: str = "CN"  # ISO country of the issuing post, the last two letters of every S10 id we issue
    # Mail product → S10 service indicator, merged over DEFAULT_INDICATORS.
    s10_indicators: dict[str, str] = Field(default_factory=dict)
    # Carrier code → {"prefix", "serial_digits", "check": mod7|mod10|mod11|none}, merged over DEFAULT_CARRIERS.
    carriers: dict[str, dict[str, str | int]] = Field(default_factory=dict)
    logistics_prefix: str = "SGL"  # e-commerce logistics company prefix of logisticsNo
    logistics_serial_digits: int = 8

    # The embedded sandbox (`silkgate up`, the test stack): a carrier key owned by "*" acts for every carrier, as the
    # sandbox carrier plays whichever carrier a manifest names. Off: such keys are refused (403).
    sandbox: bool = False

    # Who receives what: mail goes to the post's own line, e-commerce to the order's carrier or this one.
    mail_carrier: str = "SGPOST"
    ecommerce_carrier: str = "SGE"

    # Offices of exchange and S9 codes
    origin_office: str = ORIGIN_OFFICE
    # Country → office of exchange, merged over DEFAULT_OFFICES.
    offices: dict[str, str] = Field(default_factory=dict)
    # "channel", "product" or "channel:product" → mail category (A/B/C/D) and 2-letter S9 subclass.
    mail_categories: dict[str, str] = Field(default_factory=dict)
    mail_subclasses: dict[str, str] = Field(default_factory=dict)

    # Consolidation policy (DOMAIN.md §4)
    max_receptacle_weight_kg: Decimal = Decimal(30)
    max_receptacle_items: int = 50
    max_receptacle_age_s: int = 60
    max_dispatch_receptacles: int = 20
    max_dispatch_age_s: int = 60
    consolidation_tick_s: float = 1.0

    # Handoff to carriers
    carrier_endpoints: dict[str, str] = Field(default_factory=dict)  # carrier code → manifest URL
    default_carrier_url: str = "http://127.0.0.1:8004/v1/manifests"  # the embedded sandbox carrier
    # Carrier code → bearer token sent with its manifests, for carriers that want one.
    carrier_tokens: dict[str, str] = Field(default_factory=dict)
    handoff_timeout_s: float = 10.0
    handoff_poll_s: float = 0.5
    handoff_lease_s: float = 60.0  # a claimed dispatch whose worker died is retried after this
    handoff_backoff_s: list[float] = Field(default_factory=lambda: [1.0, 5.0, 15.0, 60.0, 300.0])
    handoff_batch_size: int = 10

    # Tracking events in
    tracking_batch_max: int = 500
    tracking_max_future_s: float = 3600.0  # clocks drift; an event dated further ahead than this is refused
    # An event dated before this is a broken clock or a typed-in year, not a scan: refused (issue 13).
    tracking_earliest: datetime = datetime(2000, 1, 1, tzinfo=UTC)

    def production_problems(self) -> list[str]:
        """What shared.secrets refuses in production besides the common checks."""
        return ["SILKGATE_POSTAL_SANDBOX is on: wildcard carrier keys would act for every carrier"] if self.sandbox else []

    @model_validator(mode="after")
    def _rules_accept_the_configuration(self) -> PostalSettings:
        """Fail at start-up, not on the first parcel, when a policy or a table is one the rules refuse."""
        self.policy  # noqa: B018 - building it validates the thresholds
        self.carrier_numbering  # noqa: B018
        for code in self.carriers:
            if not code.strip():
                raise ValueError("carrier codes must not be empty")
        s10.build(service_indicator="RR", serial=1, country=self.issuing_country)
        for indicator in self.s10_indicators.values():
            s10.build(service_indicator=indicator, serial=1, country=self.issuing_country)
        s9.dispatch_id(origin=self.origin_office, destination=self.origin_office, category="A", subclass="CN",
                       year=2000, serial=1)
        for office in self.offices.values():
            s9.dispatch_id(origin=office, destination=office, category="A", subclass="CN", year=2000, serial=1)
        logistics_number(company_prefix=self.logistics_prefix, serial=0, day=date(2000, 1, 1),
                                  serial_digits=self.logistics_serial_digits)
        return self

    @cached_property
    def policy(self) -> ConsolidationPolicy:
        return ConsolidationPolicy(
            max_receptacle_weight_kg=Decimal(self.max_receptacle_weight_kg),
            max_receptacle_items=self.max_receptacle_items,
            max_receptacle_age_s=self.max_receptacle_age_s,
            max_dispatch_receptacles=self.max_dispatch_receptacles,
            max_dispatch_age_s=self.max_dispatch_age_s,
        )

    @cached_property
    def carrier_numbering(self) -> Mapping[str, CarrierNumbering]:
        configured = {
            code.upper(): CarrierNumbering(
                prefix=str(scheme["prefix"]),
                serial_digits=int(scheme["serial_digits"]),
                check=str(scheme.get("check", "none")),
            )
            for code, scheme in self.carriers.items()
        }
        return {**DEFAULT_CARRIERS, **configured}

    @cached_property
    def indicators(self) -> Mapping[str, str]:
        return {**DEFAULT_INDICATORS, **self.s10_indicators}

    @cached_property
    def office_table(self) -> Mapping[str, str]:
        return {**DEFAULT_OFFICES, **self.offices}

    @cached_property
    def category_table(self) -> Mapping[str, str]:
        return {**DEFAULT_CATEGORIES, **self.mail_categories}

    @cached_property
    def subclass_table(self) -> Mapping[str, str]:
        return {**DEFAULT_SUBCLASSES, **self.mail_subclasses}

    def carrier_url(self, carrier: str) -> str:
        """Where a carrier's manifests go: its configured endpoint, else the default (the sandbox carrier)."""
        return self.carrier_endpoints.get(carrier, self.default_carrier_url)
