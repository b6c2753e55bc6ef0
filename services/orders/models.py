"""Tables of the orders service: its own metadata, its own database."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    column,
)
from sqlalchemy.orm import Mapped, mapped_column

from services.orders.domain.status import IN_FLIGHT_STATUSES
from shared.auth import api_keys_table
from shared.db import UTCDateTime, make_base, new_metadata
from shared.inbox import inbox_table
from shared.outbox import outbox_table
from shared.runtime import ServiceTables

metadata = new_metadata()
Base = make_base(metadata)
tables = ServiceTables(metadata=metadata, outbox=outbox_table(metadata), inbox=inbox_table(metadata),
                       api_keys=api_keys_table(metadata))

# SQLite only auto-increments an INTEGER PRIMARY KEY.
AutoId = BigInteger().with_variant(Integer, "sqlite")
# Orders on their way, for the stuck-order check: delivered, cancelled… orders leave this index.
_IN_FLIGHT = column("status").in_(IN_FLIGHT_STATUSES)


class Merchant(Base):
    """A merchant; its code is the owner of its API keys and of its orders."""

    __tablename__ = "merchants"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Order(Base):
    """One parcel order of any channel, with the merchant-facing status the events keep up to date.

    No foreign key to merchants: an order belongs to the code its API key carries, and keys may be provisioned
    by tooling that has not registered the merchant row (the registry is for names and, later, webhooks).
    """

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("merchant_code", "merchant_order_no"),
        # Cursor pagination walks (created_at, id) newest first, per merchant and across merchants (ops).
        Index(None, "merchant_code", "created_at", "id"),
        Index(None, "created_at", "id"),
        Index(None, "tracking_number"),
        Index(None, "status", "status_changed_at", postgresql_where=_IN_FLIGHT, sqlite_where=_IN_FLIGHT),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    merchant_code: Mapped[str] = mapped_column(String(64))
    merchant_order_no: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    direction: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(24))
    tracking_number: Mapped[str | None] = mapped_column(String(64))
    customs_status: Mapped[str | None] = mapped_column(String(24))
    customs_ceb_code: Mapped[int | None] = mapped_column(Integer)
    # Why the order is where it is, when that needs a reason: held, rejected, cancelled, cancellation refused.
    status_reason: Mapped[str | None] = mapped_column(Text)
    parcel: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The payment document a payment provider recorded with its own key (never the order's own claim, which stays
    # in the parcel); its receipt is in `payments`.
    payment: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    correlation_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Any recorded event moves updated_at; only a new status moves status_changed_at.
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status_changed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The status the order was last reported stuck in (workers.report_stuck_orders_worker), once per status.
    stuck_reported_status: Mapped[str | None] = mapped_column(String(24))
    # When the merchant asked for a return (order.return_requested): one return per order.
    return_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class OrderEvent(Base):
    """One entry of an order's timeline: every event about the order, once (event_id is unique)."""

    __tablename__ = "order_events"
    __table_args__ = (Index(None, "order_id", "occurred_at", "id"),)

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(String(32), ForeignKey("orders.id"))
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    event_type: Mapped[str] = mapped_column(String(128))
    title: Mapped[str] = mapped_column(Text)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


class IdempotencyKey(Base):
    """The stored response of a request made with an Idempotency-Key, per API key (Stripe semantics)."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (Index(None, "created_at"),)

    api_key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    response_status: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


# ── partners: the other two parties of an e-commerce order (issue 13) ──────────


class Partner(Base):
    """A payment provider or an external logistics company: the owner of its API keys, acting only for the
    merchants bound to it (partner_merchants)."""

    __tablename__ = "partners"
    __table_args__ = (CheckConstraint("kind in ('payment', 'logistics')", name="kind"),)

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(128))
    uscc: Mapped[str | None] = mapped_column(String(18))  # Unified Social Credit Code (GB 32100), when given
    active: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PartnerMerchant(Base):
    """A partner serves a merchant: its keys may send documents for that merchant's orders."""

    __tablename__ = "partner_merchants"

    partner_code: Mapped[str] = mapped_column(String(16), ForeignKey("partners.code"), primary_key=True)
    merchant_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PaymentRecord(Base):
    """A payment document a provider recorded for an order (CEB411): one per order, answered with its receipt."""

    __tablename__ = "payments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(32), ForeignKey("orders.id"), unique=True)
    provider_code: Mapped[str] = mapped_column(String(16))
    transaction_id: Mapped[str] = mapped_column(String(128))
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    currency: Mapped[str] = mapped_column(String(3))
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WaybillRecord(Base):
    """An external logistics company's waybill for an order (CEB511): one per order; its logistics number is the
    parcel's tracking number, unique across all companies (postal adopts it)."""

    __tablename__ = "waybill_records"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(32), ForeignKey("orders.id"), unique=True)
    logistics_code: Mapped[str] = mapped_column(String(16))
    logistics_no: Mapped[str] = mapped_column(String(32), unique=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())


# The webhook tables share this metadata (and so the orders database and its migrations); imported last because
# they build on Base and AutoId above.
from services.orders.webhooks import models as webhook_models  # noqa: F401
