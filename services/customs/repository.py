"""Every query of the customs service. Nothing here commits: the request, consumer batch or worker does.

The consumers' statements are built once, with bind parameters, and written with Core inserts and updates: on
these hot paths building a statement and the ORM's unit of work cost far more CPU than the database needs to
run them. Inside a consumer batch the reads take what the batch read ahead and the writes are held and written
together (repository_batch.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    and_,
    bindparam,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from services.customs.domain.risk import PriorDeclaration
from services.customs.domain.status import FINAL_STATUSES
from services.customs.models import (
    AuditEntry,
    BuyerQuota,
    Declaration,
    DeclarationLine,
    Document,
    EarlyCancellation,
    FindingRecord,
    Message,
)
from services.customs.repository_batch import (
    ARRIVALS_OF,
    DECLARATION_OF,
    DOCUMENTS_OF,
    cached_history,
    hold_change,
    kept_arrivals,
    kept_declaration,
    kept_document,
    note_buyer_written,
    read_ahead,
)
from shared.batch import execute_later, insert_rows
from shared.contract.events import Finding

LANE_RANKS = {"green": 0, "standard": 1}
# A buyer with more parcels than this inside the split-purchase window is far over any limit already; the
# cap keeps one busy buyer from making every assessment slower.
PRIOR_DECLARATIONS_LIMIT = 200

_declarations = Declaration.__table__
_DECLARATION_COLUMNS = tuple(column.key for column in _declarations.columns)
_lines = DeclarationLine.__table__
_documents = Document.__table__
_findings = FindingRecord.__table__
_audit = AuditEntry.__table__
_early = EarlyCancellation.__table__
_quotas = BuyerQuota.__table__
_messages = Message.__table__


@dataclass(frozen=True)
class QueuePosition:
    """Where a page of the work queue ends: the full sort key, so the next page starts right after it."""

    lane_rank: int
    opened_at: datetime
    id: str


@dataclass(frozen=True)
class QueueFilters:
    """What the brokers' queue is narrowed to; None leaves a criterion out."""

    status: str | None = None
    channel: str | None = None
    lane: str | None = None
    needs_broker: bool | None = None
    order_id: str | None = None
    merchant_order_no: str | None = None
    tracking_number: str | None = None
    claimed_by: str | None = None  # the broker's name: what this broker holds now
    opened_before: datetime | None = None  # waited at least this long
    now: datetime | None = None  # for claimed_by: claims that have not lapsed


class OrderArrivals(NamedTuple):
    """What is already here when an order.accepted comes: its declaration (a redelivery), a cancellation that
    overtook it, and how many of its documents came first."""

    declaration_id: str | None
    cancellation_reason: str | None
    buffered_documents: int


class DocumentBody(NamedTuple):
    """A received document as the three-document match reads it."""

    kind: str
    source: str
    body: dict


# ── statements of the hot paths, built once ──────────────────────────────

_ORDER_ID = bindparam("order_id")
_BY_ORDER = select(Declaration).where(Declaration.order_id == _ORDER_ID)
_ARRIVALS = select(
    select(_declarations.c.id).where(_declarations.c.order_id == _ORDER_ID)
    .scalar_subquery().label("declaration_id"),
    select(_early.c.reason).where(_early.c.order_id == _ORDER_ID).scalar_subquery().label("cancellation_reason"),
    select(func.count()).select_from(_documents)
    .where(_documents.c.order_id == _ORDER_ID, _documents.c.declaration_id.is_(None))
    .scalar_subquery().label("buffered_documents"),
)
# The values come as parameters named after the columns; b_id and b_version name the row and the version read.
_CHANGE = update(_declarations).where(_declarations.c.id == bindparam("b_id"),
                                      _declarations.c.version == bindparam("b_version"))
_MATCH_DOCUMENTS = (select(_documents.c.kind, _documents.c.source, _documents.c.body)
                    .where(_documents.c.order_id == _ORDER_ID)
                    .order_by(_documents.c.received_at, _documents.c.id))
_ATTACH_BUFFERED = (update(_documents)
                    .where(_documents.c.order_id == bindparam("b_order_id"), _documents.c.declaration_id.is_(None))
                    .values(declaration_id=bindparam("b_declaration_id")))
_DROP_EARLY_CANCELLATION = delete(_early).where(_early.c.order_id == _ORDER_ID)


def _recent(value: Any):
    """The buyer's other declarations on a channel since :since, for the split-purchase rule."""
    d = _declarations.c
    return (select(d.opened_at.label("at"), value.label("value_cny"))
            .where(d.buyer_key == bindparam("buyer_key"), d.channel == bindparam("channel"),
                   d.opened_at >= bindparam("since"), d.id != bindparam("exclude_id"), d.status != "cancelled",
                   value.is_not(None))
            .order_by(d.opened_at.desc()).limit(PRIOR_DECLARATIONS_LIMIT))


# E-commerce measures split purchases in the transaction value (taxable), the other channels in the goods value.
_RECENT = {"ecommerce": _recent(_declarations.c.taxable_value_cny), "other": _recent(_declarations.c.value_cny)}


def declaration_row(declaration: Declaration) -> dict[str, Any]:
    """Every column of a new (transient) declaration object, for a Core insert: what it was given, None for the
    rest (read from its __dict__, as the instrumented attributes would answer, at a fraction of their cost)."""
    values = declaration.__dict__
    return {key: values.get(key) for key in _DECLARATION_COLUMNS}


def finding_rows(declaration_id: str, findings: Sequence[Finding], *, source: str,
                 now: datetime) -> list[dict[str, Any]]:
    return [{"declaration_id": declaration_id, "code": f.code, "severity": f.severity, "message": f.message,
             "fields": list(f.fields), "source": source, "created_at": now} for f in findings]


class DeclarationRepository:
    """Queries on declarations and everything hanging off them, in the caller's session."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # ── declarations ──────────────────────────────────────────────────────

    async def get(self, declaration_id: str) -> Declaration | None:
        return await self.session.get(Declaration, declaration_id)

    async def get_fresh(self, declaration_id: str) -> Declaration | None:
        """The row as committed now, not as this session last saw it (after losing a race)."""
        return await self.session.get(Declaration, declaration_id, populate_existing=True)

    async def get_by_order(self, order_id: str) -> Declaration | None:
        found, declaration = read_ahead(self.session, (DECLARATION_OF, order_id))
        if found:
            return declaration
        return (await self.session.execute(_BY_ORDER, {"order_id": order_id})).scalar_one_or_none()

    async def order_arrivals(self, order_id: str) -> OrderArrivals:
        """Declaration, early cancellation and documents of an order already here, in one query."""
        found, arrivals = read_ahead(self.session, (ARRIVALS_OF, order_id))
        if found:
            return OrderArrivals(*arrivals)
        return OrderArrivals(*(await self.session.execute(_ARRIVALS, {"order_id": order_id})).one())

    async def insert_declaration(self, declaration: Declaration, lines: Sequence[Mapping[str, Any]]) -> None:
        """A new declaration (as the object stands, decided or not) and its lines."""
        note_buyer_written(self.session, declaration.buyer_key, declaration.id)
        await insert_rows(self.session, _declarations, [declaration_row(declaration)])
        await insert_rows(self.session, _lines, list(lines))
        kept_declaration(self.session, declaration)

    async def change(self, declaration: Declaration, **values: Any) -> bool:
        """Update a declaration only if nobody changed it since it was read (optimistic, on `version`).

        Returns False when another transaction got there first; the in-memory object is left untouched then.
        On success the object carries the new values and version. Inside a consumer batch the update is held
        and its version checked when it is written (see hold_change): True then means "unless the batch fails".
        """
        values["version"] = declaration.version + 1
        note_buyer_written(self.session, declaration.buyer_key, declaration.id)
        if hold_change(self.session, declaration, values):
            return True
        result = await self.session.execute(_CHANGE, {**values, "b_id": declaration.id,
                                                      "b_version": declaration.version})
        if result.rowcount != 1:
            return False
        for name, value in values.items():
            set_committed_value(declaration, name, value)
        return True

    async def claim(self, declaration: Declaration, *, broker: str, key_id: str, now: datetime,
                    expires_at: datetime) -> bool:
        """Take or extend the claim: only if unclaimed, lapsed, or already this broker's (one UPDATE decides)."""
        version = declaration.version + 1
        values = {"claimed_by": broker, "claimed_by_key": key_id, "claim_expires_at": expires_at, "version": version,
                  "updated_at": now}
        result = await self.session.execute(
            update(Declaration)
            .where(
                Declaration.id == declaration.id,
                Declaration.status.not_in(FINAL_STATUSES),
                or_(Declaration.claimed_by.is_(None), Declaration.claim_expires_at <= now,
                    Declaration.claimed_by == broker),
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            return False
        for name, value in values.items():
            set_committed_value(declaration, name, value)
        return True

    async def queue(self, filters: QueueFilters, *, after: QueuePosition | None,
                    limit: int) -> list[Declaration]:
        """The brokers' work queue: green lane first, then oldest first, then by id; keyset pagination."""
        query = select(Declaration)
        f = filters
        for column, value in ((Declaration.status, f.status), (Declaration.channel, f.channel),
                              (Declaration.needs_broker, f.needs_broker), (Declaration.order_id, f.order_id),
                              (Declaration.merchant_order_no, f.merchant_order_no),
                              (Declaration.tracking_number, f.tracking_number)):
            if value is not None:
                query = query.where(column == value)
        if f.lane is not None:
            query = query.where(Declaration.lane_rank == LANE_RANKS[f.lane])
        if f.claimed_by is not None:
            query = query.where(Declaration.claimed_by == f.claimed_by, Declaration.claim_expires_at > f.now)
        if f.opened_before is not None:
            query = query.where(Declaration.opened_at <= f.opened_before)
        if after is not None:
            query = query.where(or_(
                Declaration.lane_rank > after.lane_rank,
                and_(Declaration.lane_rank == after.lane_rank, Declaration.opened_at > after.opened_at),
                and_(Declaration.lane_rank == after.lane_rank, Declaration.opened_at == after.opened_at,
                     Declaration.id > after.id),
            ))
        query = query.order_by(Declaration.lane_rank, Declaration.opened_at, Declaration.id).limit(limit)
        return list((await self.session.execute(query)).scalars())

    async def overdue_awaiting_documents(self, *, now: datetime, limit: int) -> list[Declaration]:
        """Declarations still waiting for documents past their deadline, locked for this worker.

        SKIP LOCKED lets replicas of the worker share the work on PostgreSQL (SQLite ignores it; its
        BEGIN IMMEDIATE already runs one writer at a time). Each change is still conditional on the version.
        """
        query = (
            select(Declaration)
            .where(Declaration.awaiting_documents.is_(True), Declaration.status == "pending_documents",
                   Declaration.documents_deadline_at < now)
            .order_by(Declaration.documents_deadline_at, Declaration.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list((await self.session.execute(query)).scalars())

    async def buyer_history(self, *, buyer_key: str, channel: str, since: datetime,
                            exclude_id: str) -> list[PriorDeclaration]:
        """The buyer's other declarations on `channel` since `since`, newest first (split purchases)."""
        cached = cached_history(self.session, buyer_key=buyer_key, channel=channel, since=since,
                                exclude_id=exclude_id, limit=PRIOR_DECLARATIONS_LIMIT)
        if cached is None:
            params = {"buyer_key": buyer_key, "channel": channel, "since": since, "exclude_id": exclude_id}
            cached = (await self.session.execute(_RECENT["ecommerce" if channel == "ecommerce" else "other"],
                                                 params)).all()
        return [PriorDeclaration(at, value) for at, value in cached]

    # ── lines, documents, findings ────────────────────────────────────────

    async def lines(self, declaration_id: str) -> list[DeclarationLine]:
        query = select(DeclarationLine).where(DeclarationLine.declaration_id == declaration_id)
        return list((await self.session.execute(query.order_by(DeclarationLine.line_no))).scalars())

    async def amend_line(self, declaration_id: str, line_no: int, **values: Any) -> None:
        """A broker's correction of one line (the declaration's version guards the whole amendment)."""
        await self.session.execute(update(_lines).where(_lines.c.declaration_id == declaration_id,
                                                        _lines.c.line_no == line_no).values(**values))

    async def add_document(self, document: Mapping[str, Any]) -> None:
        """A received document: the columns of `documents` but the id."""
        kept_document(self.session, document)
        await insert_rows(self.session, _documents, [dict(document)])

    async def attach_buffered_documents(self, *, order_id: str, declaration_id: str) -> None:
        """Documents that arrived before their order now belong to its declaration (inside a consumer batch with the
        batch's other attachments: under load a waybill often overtakes its order)."""
        await execute_later(self.session, _ATTACH_BUFFERED, {"b_order_id": order_id, "b_declaration_id": declaration_id})
        kept_arrivals(self.session, order_id, buffered=0)

    async def documents(self, order_id: str) -> list[Document]:
        """Every document received for an order, oldest first."""
        query = select(Document).where(Document.order_id == order_id).order_by(Document.received_at, Document.id)
        return list((await self.session.execute(query)).scalars())

    async def match_documents(self, order_id: str) -> list[DocumentBody]:
        """What the three-document match reads of every document received for an order, oldest first."""
        found, documents = read_ahead(self.session, (DOCUMENTS_OF, order_id))
        if found:
            # Oldest first as the query orders them; a stable sort keeps the order received among equal times.
            return [DocumentBody(*d[1:]) for d in sorted(documents, key=lambda d: d.received_at)]
        rows = (await self.session.execute(_MATCH_DOCUMENTS, {"order_id": order_id})).all()
        return [DocumentBody(*row) for row in rows]

    async def add_findings(self, declaration_id: str, findings: Sequence[Finding], *, source: str,
                           now: datetime) -> None:
        await insert_rows(self.session, _findings, finding_rows(declaration_id, findings, source=source, now=now))

    async def findings(self, declaration_id: str) -> list[FindingRecord]:
        query = select(FindingRecord).where(FindingRecord.declaration_id == declaration_id).order_by(FindingRecord.id)
        return list((await self.session.execute(query)).scalars())

    async def add_messages(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Messages filed with the authority (the gateway sends them): every column of `messages`."""
        await insert_rows(self.session, _messages, [dict(row) for row in rows])

    # ── audit trail (append-only: there is no update or delete here, on purpose) ──

    async def append_audit(self, entry: Mapping[str, Any]) -> None:
        """An audit entry: the columns of `audit_trail` but the id."""
        await insert_rows(self.session, _audit, [dict(entry)])

    async def audit_trail(self, declaration_id: str) -> list[AuditEntry]:
        query = select(AuditEntry).where(AuditEntry.declaration_id == declaration_id).order_by(AuditEntry.id)
        return list((await self.session.execute(query)).scalars())

    # ── cancellations that overtook their order ───────────────────────────

    async def early_cancellation(self, order_id: str) -> EarlyCancellation | None:
        return await self.session.get(EarlyCancellation, order_id)

    async def add_early_cancellation(self, cancellation: EarlyCancellation) -> None:
        self.session.add(cancellation)
        await self.session.flush()
        kept_arrivals(self.session, cancellation.order_id, cancellation=cancellation.reason)

    async def drop_early_cancellation(self, order_id: str) -> None:
        await execute_later(self.session, _DROP_EARLY_CANCELLATION, {"order_id": order_id})
        kept_arrivals(self.session, order_id, cancellation=None)
