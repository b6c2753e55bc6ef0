"""Tables of the sandbox authority: every message received (good or bad, exactly as received), one case per
accepted message, and the receipts planned for each case."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, LargeBinary, MetaData, String, Table, Text

from shared.db import UTCDateTime, new_metadata

metadata: MetaData = new_metadata()

messages = Table(
    "messages",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    # The transport MessageId (the message's guid); NULL when the envelope could not be read.
    Column("message_id", String(36), nullable=True, unique=True),
    Column("kind", String(20), nullable=True),  # CEB621, CUSITM …
    Column("cop_no", String(32), nullable=True),
    Column("received_at", UTCDateTime(), nullable=False),
    Column("body_sha256", String(64), nullable=False),  # of the message (and its JSON signature), else of the body
    Column("request_body", LargeBinary, nullable=False),  # the HTTP body exactly as received
    Column("result", String(16), nullable=False),  # accepted | refused
    Column("problem_code", String(64), nullable=True),
    Column("answer_status", Integer, nullable=False),
    Column("answer", JSON, nullable=False),  # the HTTP answer, replayed to a repeat of the same message
)
Index("ix_messages_cop_no", messages.c.cop_no)

cases = Table(
    "cases",
    metadata,
    Column("guid", String(36), primary_key=True),  # the accepted message's guid: what its receipts answer
    Column("kind", String(20), nullable=False),
    Column("cop_no", String(32), nullable=True),  # NULL for the order messages (CEB311/303 carry no copNo)
    Column("order_no", String(64), nullable=True),
    Column("app_type", Integer, nullable=False),
    Column("receipt_type", String(8), nullable=False),  # CEB622, CUSRSP …
    Column("answered_type", String(20), nullable=False),
    Column("customs_code", String(4), nullable=True),
    Column("ebp_code", String(18), nullable=True),
    Column("ebc_code", String(18), nullable=True),
    Column("agent_code", String(18), nullable=True),
    Column("pre_no", String(18), nullable=True),
    Column("invt_no", String(18), nullable=True),
    Column("decision", Integer, nullable=True),  # 800, 300, 500, 100 for filings
    Column("failed_answer", Integer, nullable=True),
    # open | awaiting_review | awaiting_inspection | released | rejected | detained | closed | returned |
    # withdrawn (a re-filing or cancel replaced it) | done (orders, acknowledgements)
    Column("state", String(24), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)
Index("ix_cases_cop_no", cases.c.cop_no)

receipts = Table(
    "receipts",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("case_guid", String(36), nullable=False),
    Column("seq", Integer, nullable=False),  # order within the case: a receipt goes only after the ones before it
    Column("receipt_guid", String(36), nullable=False, unique=True),
    Column("return_status", Integer, nullable=False),
    Column("return_info", Text, nullable=False),
    Column("due_at", UTCDateTime(), nullable=False),
    Column("next_try_at", UTCDateTime(), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("state", String(16), nullable=False),  # planned | delivered | withdrawn
    Column("body", LargeBinary, nullable=True),  # the signed XML, made at the first attempt and kept for retries
    Column("last_error", Text, nullable=True),
    Column("delivered_at", UTCDateTime(), nullable=True),
)
Index("ix_receipts_case_guid_seq", receipts.c.case_guid, receipts.c.seq, unique=True)
Index("ix_receipts_state_next_try_at", receipts.c.state, receipts.c.next_try_at)
# The poster's look-up walks planned receipts in due order and stops at its batch: without it, every poll (ten a
# second) sorted all planned receipts (2,100 in a run: 30 ms a poll, 1.9 ms with it).
Index("ix_receipts_state_due_at", receipts.c.state, receipts.c.due_at)
