"""Tables of the customs service: its own metadata, its own database.

declarations (one per order), their lines, the documents received (order, payment, waybill — kept by order id
even when they arrive before the order), risk and matching findings, the append-only audit trail of every
status change and broker action, cancellations that overtook their order, and the brokers' console sessions.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    DDL,
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
    event,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from shared.auth import api_keys_table
from shared.db import UTCDateTime, make_base, new_metadata
from shared.inbox import inbox_table
from shared.outbox import outbox_table
from shared.runtime import ServiceTables

metadata = new_metadata()
Base = make_base(metadata)
tables = ServiceTables(metadata=metadata, outbox=outbox_table(metadata), inbox=inbox_table(metadata),
                       api_keys=api_keys_table(metadata))

BigId = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements INTEGER PRIMARY KEY only


class ExactDecimal(TypeDecorator[Decimal]):
    """NUMERIC on PostgreSQL; text on SQLite, which has no decimal type and would round through a float."""

    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int = 16, scale: int = 2) -> None:
        super().__init__()
        self.precision, self.scale = precision, scale

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(40))
        return dialect.type_descriptor(Numeric(self.precision, self.scale))

    def process_bind_param(self, value: Decimal | None, dialect: Any) -> Any:
        if value is None:
            return None
        if dialect.name != "sqlite":
            return Decimal(value)
        # The column's scale, as NUMERIC(p, s) would keep it, so both engines answer "100.00" for 100.
        return str(Decimal(value).quantize(Decimal(1).scaleb(-self.scale)))

    def process_result_value(self, value: Any, dialect: Any) -> Decimal | None:
        return None if value is None else Decimal(str(value))


def money() -> ExactDecimal:
    """Money in CNY or the order's currency, to the cent."""
    return ExactDecimal(16, 2)


STATUS_CHECK = ("status in ('pending_documents', 'documents_missing', 'held', 'filed', 'accepted', 'manual_review', "
                "'review_concluded', 'inspection', 'detained', 'authority_rejected', 'released', 'closed', 'rejected', "
                "'cancel_requested', 'cancelled', 'return_requested', 'returned')")


class Declaration(Base):
    """One customs declaration per order, whatever its channel (the three-in-one pipeline)."""

    __tablename__ = "declarations"
    __table_args__ = (
        CheckConstraint(STATUS_CHECK, name="status"),
        CheckConstraint("channel in ('mail', 'express', 'ecommerce')", name="channel"),
        CheckConstraint("lane in ('green', 'standard')", name="lane"),
        # The brokers' queue: what needs a broker, green lane first, then oldest first (optionally by status).
        Index(None, "needs_broker", "lane_rank", "opened_at", "id"),
        Index(None, "lane_rank", "opened_at", "id"),
        Index(None, "status", "lane_rank", "opened_at", "id"),
        # The deadline worker's scan, and the split-purchase look-ups by buyer.
        Index(None, "awaiting_documents", "documents_deadline_at"),
        Index(None, "buyer_key", "opened_at"),
        Index(None, "merchant_order_no"),
        Index(None, "tracking_number"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(64), unique=True)  # redelivered order.accepted opens no second
    merchant_code: Mapped[str] = mapped_column(String(64))
    merchant_order_no: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    direction: Mapped[str] = mapped_column(String(8))
    form: Mapped[str | None] = mapped_column(String(16))  # None only when the currency had no rate
    trade_mode: Mapped[str | None] = mapped_column(String(4))
    lane: Mapped[str] = mapped_column(String(16))
    lane_rank: Mapped[int] = mapped_column(Integer)  # 0 green, 1 standard: the queue's first sort key
    status: Mapped[str] = mapped_column(String(24))
    ceb_code: Mapped[int] = mapped_column(Integer)
    value_cny: Mapped[Decimal | None] = mapped_column(money())
    taxable_value_cny: Mapped[Decimal | None] = mapped_column(money())
    tax_cny: Mapped[Decimal | None] = mapped_column(money())
    tax_regime: Mapped[str | None] = mapped_column(String(24))
    counts_towards_annual: Mapped[bool] = mapped_column(Boolean, default=False)
    risk_score: Mapped[int | None] = mapped_column(Integer)
    risk_decision: Mapped[str | None] = mapped_column(String(16))
    # SHA-256 of the buyer's normalized ID number (or name + phone when there is none, outside e-commerce
    # imports, which need the ID): links one buyer's parcels without another copy of the ID number in an index.
    buyer_key: Mapped[str] = mapped_column(String(64))
    # The annual quota (DOMAIN.md §7): what this declaration holds of its buyer's year in buyer_quotas, in fen.
    quota_year: Mapped[int | None] = mapped_column(Integer)
    quota_reserved_fen: Mapped[int | None] = mapped_column(BigInteger)
    tracking_number: Mapped[str | None] = mapped_column(String(64))  # from the waybill document
    # A broker has to act (the queue's first filter); False while the authority has the next move.
    needs_broker: Mapped[bool] = mapped_column(Boolean, default=False)
    # The declaration's current filing with the authority (the inventory list, or the mail/express message) and
    # the last receipt applied to it, so late and repeated receipts are recognised (DOMAIN.md §11).
    filing_guid: Mapped[str | None] = mapped_column(String(36))
    filings: Mapped[int] = mapped_column(Integer, default=0)  # 2 and up: filed again (appType 2)
    last_receipt_code: Mapped[int | None] = mapped_column(Integer)
    last_receipt_time: Mapped[str | None] = mapped_column(String(17))  # returnTime, YYYYMMDDhhmmssSSS
    # The numbers the authority gave the accepted inventory list (its 120 receipt); cancellations and returns
    # name them (CEB623/625).
    pre_no: Mapped[str | None] = mapped_column(String(18))
    invt_no: Mapped[str | None] = mapped_column(String(18))
    filed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    parcel: Mapped[dict] = mapped_column(JSON)
    correlation_id: Mapped[str] = mapped_column(String(64))
    awaiting_documents: Mapped[bool] = mapped_column(Boolean, default=False)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    documents_deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by: Mapped[str | None] = mapped_column(String(128))
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    claimed_by_key: Mapped[str | None] = mapped_column(String(32))
    claim_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(Integer, default=1)  # every status or claim change bumps it
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DeclarationLine(Base):
    """One inventory-list / CN23 line (DOMAIN.md §5)."""

    __tablename__ = "declaration_lines"
    __table_args__ = (UniqueConstraint("declaration_id", "line_no"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    declaration_id: Mapped[str] = mapped_column(ForeignKey("declarations.id"))
    line_no: Mapped[int] = mapped_column(Integer)
    sku: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(128))
    hs_code: Mapped[str] = mapped_column(String(12))
    quantity: Mapped[Decimal] = mapped_column(ExactDecimal(15, 3))
    unit: Mapped[str] = mapped_column(String(8))
    unit_price: Mapped[Decimal] = mapped_column(money())
    total_price: Mapped[Decimal] = mapped_column(money())
    currency: Mapped[str] = mapped_column(String(3))
    origin_country: Mapped[str] = mapped_column(String(2))
    net_weight_kg: Mapped[Decimal] = mapped_column(ExactDecimal(13, 3))


class Document(Base):
    """A document of the three-document match; `declaration_id` is empty until the order has arrived."""

    __tablename__ = "documents"
    __table_args__ = (
        CheckConstraint("kind in ('order', 'payment', 'waybill')", name="kind"),
        Index(None, "order_id", "kind"),
        Index(None, "declaration_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(String(64))
    declaration_id: Mapped[str | None] = mapped_column(ForeignKey("declarations.id"))
    kind: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(64))  # the event type it came with
    source_event_id: Mapped[str | None] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    body: Mapped[dict] = mapped_column(JSON)


class FindingRecord(Base):
    """A risk or matching finding on a declaration."""

    __tablename__ = "findings"
    __table_args__ = (Index(None, "declaration_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    declaration_id: Mapped[str] = mapped_column(ForeignKey("declarations.id"))
    code: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(String(512))
    fields: Mapped[list] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(16))  # risk, match, documents, currency, inspection
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AuditEntry(Base):
    """Append-only: who did what to a declaration, when and why. Triggers refuse UPDATE and DELETE."""

    __tablename__ = "audit_trail"
    __table_args__ = (Index(None, "declaration_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    declaration_id: Mapped[str] = mapped_column(ForeignKey("declarations.id"))
    actor: Mapped[str] = mapped_column(String(128))  # the broker's name, or "system"
    actor_role: Mapped[str] = mapped_column(String(16))  # system, broker
    key_id: Mapped[str | None] = mapped_column(String(32))  # the API key's id (never the key)
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(24))
    to_status: Mapped[str] = mapped_column(String(24))
    ceb_code: Mapped[int] = mapped_column(Integer)
    reason_code: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class BuyerQuota(Base):
    """A buyer's e-commerce import quota for one calendar year (DOMAIN.md §7): what filed declarations reserve.

    Reserved with one conditional UPDATE (`reserved_fen + :value <= :limit`), so concurrent declarations of one
    buyer, even on several replicas, can never together pass the limit. Integer fen: SQLite has no decimal type.
    """

    __tablename__ = "buyer_quotas"

    buyer_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    reserved_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Message(Base):
    """A message filed with the customs authority, exactly as filed (signed XML or JSON), and how its sending went."""

    __tablename__ = "messages"
    __table_args__ = (
        CheckConstraint("state in ('queued', 'sent', 'refused')", name="state"),
        Index(None, "state", "next_attempt_at"),
        Index(None, "declaration_id", "created_at"),
    )

    guid: Mapped[str] = mapped_column(String(36), primary_key=True)
    declaration_id: Mapped[str] = mapped_column(ForeignKey("declarations.id"))
    message_type: Mapped[str] = mapped_column(String(24))  # CEB621, CEB311, CUSITM, REVIEWANSWER, ...
    purpose: Mapped[str] = mapped_column(String(16))  # declaration, order, cancel, return, answer
    app_type: Mapped[int] = mapped_column(Integer)  # 1 new, 2 change, 3 delete
    content_type: Mapped[str] = mapped_column(String(32))  # application/xml or application/json
    body: Mapped[str] = mapped_column(Text)
    # JSON messages carry a detached signature in the transport head; XML messages carry theirs inside.
    signature: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Exchange(Base):
    """One HTTP attempt of the gateway: what went to the authority and what came back (for the auditor)."""

    __tablename__ = "exchanges"
    __table_args__ = (Index(None, "message_guid", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    message_guid: Mapped[str] = mapped_column(String(36))
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    endpoint: Mapped[str] = mapped_column(String(512))
    request_body: Mapped[str] = mapped_column(Text)
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(String(512))
    duration_ms: Mapped[int] = mapped_column(Integer)


class Receipt(Base):
    """Every receipt the authority posted, as received — refused ones too (an auditor asks for them first)."""

    __tablename__ = "receipts"
    __table_args__ = (
        CheckConstraint("outcome in ('applied', 'recorded', 'duplicate', 'late', 'superseded', 'refused')",
                        name="outcome"),
        Index(None, "declaration_id", "id"),
        Index(None, "message_guid"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    key_id: Mapped[str | None] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(16))
    error_code: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(String(512))
    message_type: Mapped[str | None] = mapped_column(String(24))
    message_guid: Mapped[str | None] = mapped_column(String(36))
    declaration_id: Mapped[str | None] = mapped_column(String(32))
    return_status: Mapped[int | None] = mapped_column(Integer)
    return_time: Mapped[str | None] = mapped_column(String(17))
    return_info: Mapped[str | None] = mapped_column(String(1024))


class EarlyCancellation(Base):
    """An order.cancelled that overtook its order.accepted: the declaration opens already cancelled."""

    __tablename__ = "early_cancellations"

    order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    merchant_code: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(512))
    cancelled_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ConsoleSession(Base):
    """A broker signed in to the console (services/customs/console): the cookie carries a random token, only its
    SHA-256 is kept here, with the key it was exchanged for and the CSRF token of the session's forms."""

    __tablename__ = "console_sessions"
    __table_args__ = (Index(None, "expires_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the cookie's token
    key_id: Mapped[str] = mapped_column(String(32))  # the broker key it was exchanged for (checked on every request)
    broker: Mapped[str] = mapped_column(String(128))  # the key's owner: the name brokers act under
    broker_name: Mapped[str] = mapped_column(String(128))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


# The audit trail is append-only in the database too, not only by the absence of an endpoint.
# Also written by hand into the Alembic revision (autogenerate does not see triggers).
AUDIT_APPEND_ONLY_SQLITE = [
    ("CREATE TRIGGER audit_trail_no_update BEFORE UPDATE ON audit_trail "
     "BEGIN SELECT RAISE(ABORT, 'audit_trail is append-only'); END"),
    ("CREATE TRIGGER audit_trail_no_delete BEFORE DELETE ON audit_trail "
     "BEGIN SELECT RAISE(ABORT, 'audit_trail is append-only'); END"),
]
AUDIT_APPEND_ONLY_POSTGRESQL = [
    ("CREATE OR REPLACE FUNCTION audit_trail_append_only() RETURNS trigger LANGUAGE plpgsql AS "
     "$$ BEGIN RAISE EXCEPTION 'audit_trail is append-only'; END $$"),
    ("CREATE TRIGGER audit_trail_append_only BEFORE UPDATE OR DELETE ON audit_trail "
     "FOR EACH ROW EXECUTE FUNCTION audit_trail_append_only()"),
]
for _statement in AUDIT_APPEND_ONLY_SQLITE:
    event.listen(AuditEntry.__table__, "after_create", DDL(_statement).execute_if(dialect="sqlite"))
for _statement in AUDIT_APPEND_ONLY_POSTGRESQL:
    event.listen(AuditEntry.__table__, "after_create", DDL(_statement).execute_if(dialect="postgresql"))
