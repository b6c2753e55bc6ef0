"""Settings of the customs service (env prefix SILKGATE_CUSTOMS_).

The customs policy (thresholds, rates, lists) defaults to DOMAIN.md's figures. Override any field of
CustomsPolicy through `policy` (JSON in the environment, e.g.
`SILKGATE_CUSTOMS_POLICY='{"vat_rate": "0.09", "split_window_hours": 48}'`), or the main ones through their
own variables (`SILKGATE_CUSTOMS_RANDOM_INSPECTION_RATE=0.05`); the explicit variables win over `policy`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import Field, model_validator

from services.customs.domain.errors import InvalidPolicy
from services.customs.domain.policy import CustomsPolicy
from shared.settings import ServiceSettings, prefixed

# Explicit settings that map one-to-one onto a CustomsPolicy field.
_POLICY_FIELDS = ("rates_to_cny", "random_inspection_rate", "documents_deadline_minutes", "watchlist_names",
                  "watchlist_id_numbers")
_POLICY_NAMES = {"documents_deadline_minutes": "document_deadline_minutes"}


class CustomsSettings(ServiceSettings):
    model_config = prefixed("customs")

    SERVICE: str = "customs"

    # Any CustomsPolicy field, as plain values (see services/customs/domain/policy.py).
    policy: dict[str, Any] = Field(default_factory=dict)
    # The main thresholds, settable on their own; None keeps the policy's value.
    rates_to_cny: dict[str, Decimal] | None = None  # CNY per unit of currency, e.g. {"USD": "7.10"}
    random_inspection_rate: Decimal | None = Field(default=None, ge=0, le=1)
    documents_deadline_minutes: int | None = Field(default=None, ge=0)
    watchlist_names: list[str] | None = None
    watchlist_id_numbers: list[str] | None = None

    # Brokers' claims on a declaration lapse after this long without a decision.
    claim_ttl_s: float = Field(default=900.0, gt=0)
    # The worker that sends declarations still missing documents past their deadline to manual review.
    deadline_check_interval_s: float = Field(default=5.0, gt=0)
    deadline_batch_size: int = Field(default=200, ge=1)

    @model_validator(mode="after")
    def _policy_is_valid(self) -> CustomsSettings:
        # Fail at start-up with the setting's name, not on the first parcel.
        try:
            self.customs_policy()
        except InvalidPolicy as exc:
            raise ValueError(f"invalid customs policy: {exc}") from exc
        return self

    def customs_policy(self) -> CustomsPolicy:
        """The policy the rules apply: DOMAIN.md defaults, then `policy`, then the explicit settings."""
        values = dict(self.policy)
        for name in _POLICY_FIELDS:
            value = getattr(self, name)
            if value is not None:
                values[_POLICY_NAMES.get(name, name)] = value
        return CustomsPolicy.from_mapping(values)
