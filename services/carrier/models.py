"""Tables of the sandbox carrier: manifests received and the tracking events planned from them."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, MetaData, String, Table, Text

from shared.db import UTCDateTime, new_metadata

metadata: MetaData = new_metadata()

manifests = Table(
    "manifests",
    metadata,
    Column("dispatch_id", String(64), primary_key=True),  # the S9 dispatch identifier the manifest names
    Column("idempotency_key", String(128), nullable=True, unique=True),
    Column("receipt_id", String(32), nullable=False, unique=True),
    Column("carrier", String(16), nullable=False),
    Column("item_count", Integer, nullable=False),
    Column("received_at", UTCDateTime(), nullable=False),
    Column("manifest", JSON, nullable=False),
)

planned_events = Table(
    "planned_events",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("dispatch_id", String(64), nullable=False, index=True),
    Column("tracking_number", String(40), nullable=False),
    Column("code", String(16), nullable=False),
    Column("location", String(128), nullable=False),
    Column("description", String(512), nullable=False),
    Column("due_at", UTCDateTime(), nullable=False),
    Column("next_try_at", UTCDateTime(), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("state", String(16), nullable=False),  # planned | accepted | duplicate | given_up
    Column("last_error", Text, nullable=True),
    Column("sent_at", UTCDateTime(), nullable=True),
)
Index("ix_planned_events_state_next_try_at", planned_events.c.state, planned_events.c.next_try_at)
