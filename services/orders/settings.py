"""Settings of the orders service (env prefix SILKGATE_ORDERS_)."""

from __future__ import annotations

from shared.settings import ServiceSettings, prefixed


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
