"""Settings of the orders service (env prefix SILKGATE_ORDERS_)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, field_validator

from services.orders.domain.status import IN_FLIGHT_STATUSES
from services.orders.domain.validation import TimeWindow
from shared.settings import ServiceSettings, prefixed

DAY_S = 24 * 3600.0
# How long an order may stay in a status before it counts as stuck, by status.
STUCK_AFTER_S: dict[str, float] = {
    "accepted": 300.0,  # customs files and postal issues the waybill within seconds
    "awaiting_clearance": 1800.0,  # the documents deadline is 30 minutes
    "on_hold": DAY_S,
    "released": 3600.0,
    "handed_off": DAY_S,
    "in_transit": 14 * DAY_S,
}


class MerchantLimit(BaseModel):
    """One merchant's intake limits: orders/s sustained and at once (token bucket; rate 0: no limit), and its weight
    in sharing the backlog with the other merchants (2: twice an ordinary merchant's share)."""

    rate_per_s: float = Field(ge=0)
    burst: int = Field(ge=1)
    backlog_weight: float = Field(default=1.0, gt=0)


class OrdersSettings(ServiceSettings):
    model_config = prefixed("orders")

    SERVICE: str = "orders"

    # Request bodies: the kit's limit (max_body_bytes) is the bound of the batch endpoint (up to 1,000 orders);
    # every other endpoint, one order included, is held to max_order_body_bytes. Both answer 413 past the limit.
    max_body_bytes: int = 16_000_000
    max_order_body_bytes: int = 1_000_000

    # Back-pressure (DESIGN.md): past this many events not yet handled downstream (the customs and postal
    # consumers' pending + unacked messages on our stream, plus our unsent outbox rows), intake answers 429.
    max_backlog: int = 20_000
    backlog_poll_interval_s: float = 0.5
    backlog_retry_after_s: int = 2
    # Fairness (services/orders/fairness.py): a merchant over its share of the backlog waits, the others go on;
    # past max_backlog × backlog_hard_factor every merchant waits.
    backlog_hard_factor: float = Field(default=2.0, ge=1.0)
    # Per merchant: a token bucket of orders (all its keys share it) — intake_rate_per_s sustained, intake_burst at
    # once — unless merchant_limits names the merchant, e.g.
    # SILKGATE_ORDERS_MERCHANT_LIMITS='{"M001": {"rate_per_s": 50, "burst": 1000, "backlog_weight": 2}}'.
    intake_rate_per_s: float = Field(default=500.0, ge=0)
    intake_burst: int = Field(default=2000, ge=1)
    merchant_limits: dict[str, MerchantLimit] = Field(default_factory=dict)

    # Idempotency-Key responses are kept at least this long (Stripe keeps them 24 h), then purged by a worker.
    idempotency_retention_s: float = 24 * 3600
    idempotency_purge_interval_s: float = 600.0

    # Merchant webhooks (services/orders/webhooks). Each POST is bounded by webhook_timeout_s (DNS, connect, send
    # and answer together); a delivery failing with non-2xx, a timeout or a connection error is retried after
    # webhook_retry_base_s doubling per attempt up to webhook_retry_max_s, shortened by a random fraction up to
    # webhook_retry_jitter, and given up webhook_max_age_s after it was queued. An endpoint failing every delivery
    # for webhook_disable_after_s is disabled, with a reason the merchant sees.
    webhook_timeout_s: float = 10.0
    webhook_retry_base_s: float = 30.0
    webhook_retry_max_s: float = 3600.0
    webhook_retry_jitter: float = 0.25
    webhook_max_age_s: float = 3 * 24 * 3600
    webhook_disable_after_s: float = 24 * 3600
    # Sends in flight per worker process, and per endpoint within it: one slow endpoint holds at most its share.
    webhook_max_in_flight: int = 64
    webhook_max_in_flight_per_endpoint: int = 4
    # How often the sender looks for due deliveries when it has nothing to do.
    webhook_poll_interval_s: float = 0.25
    webhook_max_endpoints_per_merchant: int = 16
    # Finished deliveries (and their attempts and events) are kept this long for the delivery log.
    webhook_retention_s: float = 30 * 24 * 3600
    # Endpoint URLs resolving to loopback or private/link-local addresses are refused unless allowed here
    # (the embedded mode sets SILKGATE_ORDERS_WEBHOOK_ALLOW_LOOPBACK=true to deliver to local receivers).
    webhook_allow_loopback: bool = False
    webhook_allow_private_networks: bool = False
    # Endpoint ports: 80 and 443 unless listed here (an empty list allows any port; the embedded mode does, for
    # receivers on a developer's machine).
    webhook_allowed_ports: list[int] = Field(default_factory=lambda: [80, 443])
    # Signing secrets are stored encrypted (services/orders/webhooks/encryption.py): Fernet keys, the first encrypts
    # and all decrypt; given here (JSON list) or in a file, one per line (a Docker secret).
    webhook_secret_keys: list[SecretStr] = Field(default_factory=list)
    webhook_secret_keys_file: str | None = None
    # How long a rotated-out signing secret may keep signing deliveries (beside the new one), at most.
    webhook_secret_overlap_max_s: float = 7 * DAY_S

    # Documents (services/orders/paper): the font for Chinese (and other non-Latin) text, "auto" (a system
    # TrueType CJK font if one is installed, embedded; else the PDF standard STSong-Light, not embedded),
    # "STSong-Light", or the path of a .ttf/.ttc to embed; and the Retry-After of a document not ready yet.
    document_cjk_font: str = "auto"
    documents_retry_after_s: int = 5

    # Stuck parcels (issue 6): every stuck_check_interval_s a worker logs `order.stuck` (a warning) for each order
    # that has been in a status of stuck_after_s longer than the seconds given there, once per order and status.
    # A status left out is not checked; the environment sets the whole mapping as JSON, e.g.
    # SILKGATE_ORDERS_STUCK_AFTER_S='{"accepted": 600, "in_transit": 864000}'.
    stuck_check_interval_s: float = 60.0
    stuck_after_s: dict[str, float] = Field(default_factory=lambda: dict(STUCK_AFTER_S))
    # At most this many orders are reported per check; the rest on the next ones.
    stuck_report_limit: int = 1000

    # Times from outside (a payment's paid_at, the order's claim included) must lie in this window: not before
    # time_window_earliest, at most time_window_ahead_s after now (clocks drift); anything else is a 422.
    time_window_earliest: datetime = datetime(2000, 1, 1, tzinfo=UTC)
    time_window_ahead_s: float = DAY_S

    @property
    def time_window(self) -> TimeWindow:
        return TimeWindow(earliest=self.time_window_earliest, max_ahead=timedelta(seconds=self.time_window_ahead_s))

    @field_validator("time_window_earliest")
    @classmethod
    def _with_time_zone(cls, value: datetime) -> datetime:
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)

    @field_validator("document_cjk_font")
    @classmethod
    def _font_file_exists(cls, value: str) -> str:
        if value.strip() in ("", "auto", "STSong-Light") or Path(value).is_file():
            return value
        raise ValueError(f"document_cjk_font {value!r} is neither auto, STSong-Light nor an existing font file")

    def limit_for(self, merchant: str) -> MerchantLimit:
        return self.merchant_limits.get(merchant) or MerchantLimit(rate_per_s=self.intake_rate_per_s,
                                                                   burst=self.intake_burst)

    def backlog_weights(self) -> dict[str, float]:
        return {code: limit.backlog_weight for code, limit in self.merchant_limits.items()}

    def production_problems(self) -> list[str]:
        """What shared.secrets refuses in production besides the common checks."""
        problems = []
        if not (self.webhook_secret_keys or self.webhook_secret_keys_file):
            problems.append("no webhook secret encryption key: set SILKGATE_ORDERS_WEBHOOK_SECRET_KEYS_FILE "
                            "(silkgate secrets init)")
        if self.webhook_allow_loopback or self.webhook_allow_private_networks:
            problems.append("webhooks may be sent to loopback or private addresses (sandbox settings)")
        return problems

    @field_validator("stuck_after_s")
    @classmethod
    def _in_flight_statuses_only(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(IN_FLIGHT_STATUSES))
        if unknown:
            raise ValueError(f"stuck_after_s names {unknown}: only statuses on the way can get stuck "
                             f"({', '.join(IN_FLIGHT_STATUSES)})")
        return value
