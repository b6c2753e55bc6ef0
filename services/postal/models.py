"""Tables of the postal service: its own metadata, its own database."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, Numeric, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from shared.auth import api_keys_table
from shared.db import UTCDateTime, make_base, new_metadata
from shared.inbox import inbox_table
from shared.outbox import outbox_table
from shared.runtime import ServiceTables

metadata = new_metadata()
Base = make_base(metadata)
tables = ServiceTables(metadata=metadata, outbox=outbox_table(metadata), inbox=inbox_table(metadata),
                       api_keys=api_keys_table(metadata))

Weight = Numeric(12, 3)
OPEN = text("status = 'open'")  # the partial-index condition of "one open receptacle / dispatch per key"


class Sequence(Base):
    """A named counter (S10 per indicator, waybill per carrier, logistics per day, dispatch per route and year).

    Numbers are taken by an atomic increment inside the caller's transaction, so they are unique across workers and
    restarts and, the counter only ever growing, never reused (S10 forbids reuse within 12 months).
    """

    __tablename__ = "sequences"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    next_value: Mapped[int] = mapped_column(BigInteger, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class Waybill(Base):
    """One parcel's identifier and its way through postal: issued → in_receptacle → handed_off → delivered."""

    __tablename__ = "waybills"

    tracking_number: Mapped[str] = mapped_column(String(32), primary_key=True)
    # Unique: a redelivered order.accepted finds the waybill and never issues a second number.
    order_id: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    merchant_code: Mapped[str] = mapped_column(String(64), nullable=False)
    merchant_order_no: Mapped[str] = mapped_column(String(64), nullable=False)
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    carrier: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    mail_product: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    tracking_status: Mapped[str] = mapped_column(String(24), nullable=False, default="pre_transit")
    parcel: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    weight_kg: Mapped[Decimal] = mapped_column(Weight, nullable=False)
    destination_office: Mapped[str] = mapped_column(String(6), nullable=False)
    mail_category: Mapped[str] = mapped_column(String(1), nullable=False)
    mail_subclass: Mapped[str] = mapped_column(String(2), nullable=False)
    registered: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    declaration_id: Mapped[str | None] = mapped_column(String(64))
    customs_form: Mapped[str | None] = mapped_column(String(32))
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    receptacle_id: Mapped[str | None] = mapped_column(ForeignKey("receptacles.id"), index=True)
    dispatch_id: Mapped[str | None] = mapped_column(ForeignKey("dispatches.id"), index=True)
    correlation_id: Mapped[str] = mapped_column(String(64), nullable=False)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    void_reason: Mapped[str | None] = mapped_column(String(512))
    handed_off_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PendingEvent(Base):
    """An event kept by order id until it can be applied: a release or a void that arrived before the waybill was
    issued; for a parcel an external logistics company carries, its order.accepted waiting for the company's
    waybill.recorded, or the waybill waiting for its order (services/postal/adoption.py)."""

    __tablename__ = "pending_events"

    order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # "release" | "void" | "order_accepted" | "waybill_recorded"
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class Receptacle(Base):
    """A bag for one carrier, route, mail category and subclass; its S9 id is assigned when it closes."""

    __tablename__ = "receptacles"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    s9_id: Mapped[str | None] = mapped_column(String(29), unique=True)
    carrier: Mapped[str] = mapped_column(String(16), nullable=False)
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    origin_office: Mapped[str] = mapped_column(String(6), nullable=False)
    destination_office: Mapped[str] = mapped_column(String(6), nullable=False)
    mail_category: Mapped[str] = mapped_column(String(1), nullable=False)
    mail_subclass: Mapped[str] = mapped_column(String(2), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # open | closed | emptied
    registered: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    weight_kg: Mapped[Decimal] = mapped_column(Weight, nullable=False)
    item_count: Mapped[int] = mapped_column(Integer, nullable=False)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    close_reason: Mapped[str | None] = mapped_column(String(16))
    dispatch_id: Mapped[str | None] = mapped_column(ForeignKey("dispatches.id"), index=True)
    serial: Mapped[int | None] = mapped_column(Integer)  # receptacle serial within its dispatch

    __table_args__ = (
        # At most one open bag per key, even with two replicas racing to open one: the loser retries and joins it.
        Index(
            "uq_receptacles_open_key", "carrier", "channel", "origin_office", "destination_office", "mail_category",
            "mail_subclass", unique=True, sqlite_where=OPEN, postgresql_where=OPEN,
        ),
        Index("ix_receptacles_status_opened_at", "status", "opened_at"),
    )


class Dispatch(Base):
    """Receptacles of one carrier, route, category, subclass and year under one S9 dispatch serial."""

    __tablename__ = "dispatches"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # The 20-character S9 dispatch identifier every receptacle id of the dispatch starts with.
    dispatch_identifier: Mapped[str] = mapped_column(String(20), nullable=False, unique=True)
    carrier: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    origin_office: Mapped[str] = mapped_column(String(6), nullable=False)
    destination_office: Mapped[str] = mapped_column(String(6), nullable=False)
    mail_category: Mapped[str] = mapped_column(String(1), nullable=False)
    mail_subclass: Mapped[str] = mapped_column(String(2), nullable=False)
    year: Mapped[int] = mapped_column(Integer, nullable=False)
    serial: Mapped[int] = mapped_column(Integer, nullable=False)
    # open → closed (manifest built, ready) → handing_off (sent at least once) → handed_off; or emptied by voids.
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    receptacle_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # serials handed out
    manifest: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    close_reason: Mapped[str | None] = mapped_column(String(16))
    handed_off_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    carrier_receipt: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    __table_args__ = (
        Index(
            "uq_dispatches_open_key", "carrier", "origin_office", "destination_office", "mail_category",
            "mail_subclass", "year", unique=True, sqlite_where=OPEN, postgresql_where=OPEN,
        ),
        Index("ix_dispatches_status_next_attempt_at", "status", "next_attempt_at"),
    )


class TrackingEvent(Base):
    """One carrier or post event on a parcel, with its original code and the canonical status it maps to."""

    __tablename__ = "tracking_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    tracking_number: Mapped[str] = mapped_column(ForeignKey("waybills.tracking_number"), nullable=False, index=True)
    code: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(24), nullable=False)
    known: Mapped[bool] = mapped_column(Boolean, nullable=False)
    description: Mapped[str] = mapped_column(String(512), nullable=False, default="")
    location: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    carrier: Mapped[str] = mapped_column(String(64), nullable=False)  # who posted it (the key's owner)
    # Same parcel, code and time = the same event: a carrier's resend is stored once.
    dedupe_key: Mapped[str] = mapped_column(String(160), nullable=False, unique=True)
