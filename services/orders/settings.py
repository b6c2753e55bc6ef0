"""Settings of the orders service (env prefix SILKGATE_ORDERS_)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import Field, field_validator

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

    @field_validator("stuck_after_s")
    @classmethod
    def _in_flight_statuses_only(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(IN_FLIGHT_STATUSES))
        if unknown:
            raise ValueError(f"stuck_after_s names {unknown}: only statuses on the way can get stuck "
                             f"({', '.join(IN_FLIGHT_STATUSES)})")
        return value
