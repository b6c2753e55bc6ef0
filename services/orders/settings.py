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
