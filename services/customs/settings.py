"""Settings of the customs service (env prefix SILKGATE_CUSTOMS_).

The customs policy (thresholds, rates, lists) defaults to DOMAIN.md's figures. Override any field of
CustomsPolicy through `policy` (JSON in the environment, e.g.
`SILKGATE_CUSTOMS_POLICY='{"vat_rate": "0.09", "split_window_hours": 48}'`), or the main ones through their
own variables (`SILKGATE_CUSTOMS_RANDOM_INSPECTION_RATE=0.05`); the explicit variables win over `policy`.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from services.customs.domain.errors import InvalidPolicy
from services.customs.domain.policy import CustomsPolicy
from shared.settings import ServiceSettings, data_dir, prefixed

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

    # The exchange with the customs authority (DOMAIN.md §11). Without an authority URL the gateway sends nothing:
    # filings wait, queued, until one is configured.
    authority_url: str | None = None  # e.g. http://127.0.0.1:8005 (the sandbox authority under `silkgate up`)
    # The authority's DXP id in the transport head (None: the single window's import or export receiver).
    authority_receiver_id: str | None = None
    # The filer's certificate (messages are signed with it) and the authority's (receipts are verified with it).
    # Unset: <data dir>/certs/customs.{key,crt} (made on first start) and <data dir>/certs/authority.crt.
    signing_key_file: Path | None = None
    signing_cert_file: Path | None = None
    authority_cert_file: Path | None = None
    # The declarant's codes written on every message (copCode, agentCode, ebpCode …; see shared.ceb).
    declarant: dict[str, str] = Field(default_factory=dict)
    gateway_batch_size: int = Field(default=100, ge=1)
    gateway_concurrency: int = Field(default=32, ge=1)
    gateway_idle_interval_s: float = Field(default=0.2, gt=0)
    gateway_timeout_s: float = Field(default=10.0, gt=0)
    gateway_backoff_max_s: float = Field(default=300.0, gt=0)
    # Back-pressure (services/customs/backpressure.py): past this many declarations waiting on the authority,
    # customs takes no new orders (intake then answers 429) until fewer than exchange_backlog_resume × it wait.
    # 0 turns it off.
    exchange_backlog_max: int = Field(default=2000, ge=0)
    exchange_backlog_resume: float = Field(default=0.8, gt=0, le=1)
    exchange_backlog_poll_s: float = Field(default=0.5, gt=0)

    def certificate_paths(self) -> tuple[Path, Path, Path]:
        """(signing key, signing certificate, authority certificate), defaults under the data directory."""
        certs = data_dir() / "certs"
        return (self.signing_key_file or certs / "customs.key", self.signing_cert_file or certs / "customs.crt",
                self.authority_cert_file or certs / "authority.crt")

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
