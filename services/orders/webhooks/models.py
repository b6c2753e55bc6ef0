"""Webhook tables, on the orders metadata (services/orders/models.py imports this module so Alembic sees them).

A webhook event is stored once (its payload, the exact bytes every delivery sends); a delivery is that event for one
endpoint, with its schedule and a lease; an attempt is one POST with its outcome. No foreign key to orders: the
payload is a snapshot, and webhooks must never hold up the order tables.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.orders.models import AutoId, Base
from shared.db import UTCDateTime


class WebhookEndpoint(Base):
    """A merchant's URL, the event types it wants, and its signing secret (kept to sign; shown once).

    The secret is stored encrypted (webhooks/encryption.py). After a rotation the previous secret keeps signing
    deliveries beside the new one until `previous_secret_expires_at`, so the merchant can switch without a gap.
    """

    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index(None, "merchant_code", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    merchant_code: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(String(256))
    event_types: Mapped[list[str]] = mapped_column(JSON)
    secret: Mapped[str] = mapped_column(Text)
    previous_secret: Mapped[str | None] = mapped_column(Text)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    enabled: Mapped[bool] = mapped_column(Boolean)
    # Why the endpoint is disabled (ours after continuous failures, or the merchant's), and since when.
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The first failure after the last success; cleared by a success.
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WebhookEvent(Base):
    """One thing that happened to an order, as merchants receive it (`payload` is the JSON body sent)."""

    __tablename__ = "webhook_events"
    __table_args__ = (Index(None, "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    merchant_code: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(64))
    order_id: Mapped[str] = mapped_column(String(32))
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WebhookDelivery(Base):
    """One event for one endpoint: pending (due at next_attempt_at), succeeded, or failed (given up).

    A sender claims a due row by setting `locked_until` and `lease_token` in one conditional UPDATE, so replicas
    never send the same delivery at once; a sender that dies leaves a lease that simply expires.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id"),
        Index(None, "status", "next_attempt_at"),
        # The delivery log walks (created_at, id) newest first per endpoint.
        Index(None, "endpoint_id", "created_at", "id"),
        Index(None, "event_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    endpoint_id: Mapped[str] = mapped_column(String(32), ForeignKey("webhook_endpoints.id"))
    event_id: Mapped[str] = mapped_column(String(32), ForeignKey("webhook_events.id"))
    event_type: Mapped[str] = mapped_column(String(64))
    order_id: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    attempt_count: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lease_token: Mapped[str | None] = mapped_column(String(32))
    # Retries are given up webhook_max_age_s after this: creation, or the last replay.
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    succeeded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WebhookAttempt(Base):
    """One POST of a delivery: when, how long, the answer's status code or the error, and the answer's start."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index(None, "delivery_id", "attempt"),)

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(String(32), ForeignKey("webhook_deliveries.id"))
    attempt: Mapped[int] = mapped_column(Integer)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    duration_ms: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    response_body: Mapped[str | None] = mapped_column(Text)
