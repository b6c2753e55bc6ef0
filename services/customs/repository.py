"""Every query of the customs service. Nothing here commits: the request, consumer batch or worker does."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from services.customs.domain.money import ZERO
from services.customs.domain.risk import PriorDeclaration
from services.customs.domain.status import FINAL_STATUSES
from services.customs.models import (
    AuditEntry,
    Declaration,
    DeclarationLine,
    Document,
    EarlyCancellation,
    FindingRecord,
)
from shared.contract.events import Finding

LANE_RANKS = {"green": 0, "standard": 1}
# A buyer with more parcels than this inside the split-purchase window is far over any limit already; the
# cap keeps one busy buyer from making every assessment slower.
PRIOR_DECLARATIONS_LIMIT = 200


@dataclass(frozen=True)
class QueuePosition:
    """Where a page of the work queue ends: the full sort key, so the next page starts right after it."""

    lane_rank: int
    opened_at: datetime
    id: str


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
        query = select(Declaration).where(Declaration.order_id == order_id)
        return (await self.session.execute(query)).scalar_one_or_none()

    async def add(self, declaration: Declaration, lines: Sequence[DeclarationLine]) -> None:
        self.session.add(declaration)
        await self.session.flush()  # the lines' foreign key needs the row first
        self.session.add_all(lines)
        await self.session.flush()

    async def change(self, declaration: Declaration, **values: Any) -> bool:
        """Update a declaration only if nobody changed it since it was read (optimistic, on `version`).

        Returns False when another transaction got there first; the in-memory object is left untouched then.
        On success the object carries the new values and version.
        """
        values["version"] = declaration.version + 1
        result = await self.session.execute(
            update(Declaration)
            .where(Declaration.id == declaration.id, Declaration.version == declaration.version)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
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

    async def queue(self, *, status: str | None, channel: str | None, lane: str | None,
                    after: QueuePosition | None, limit: int) -> list[Declaration]:
        """The brokers' work queue: green lane first, then oldest first, then by id; keyset pagination."""
        query = select(Declaration)
        if status is not None:
            query = query.where(Declaration.status == status)
        if channel is not None:
            query = query.where(Declaration.channel == channel)
        if lane is not None:
            query = query.where(Declaration.lane_rank == LANE_RANKS[lane])
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
            .where(Declaration.awaiting_documents.is_(True), Declaration.status == "accepted",
                   Declaration.documents_deadline_at < now)
            .order_by(Declaration.documents_deadline_at, Declaration.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list((await self.session.execute(query)).scalars())

    async def prior_declarations(self, *, buyer_key: str, channel: str, since: datetime,
                                 exclude_id: str) -> list[PriorDeclaration]:
        """The same buyer's other declarations on a channel since `since`, for the split-purchase rule."""
        value = Declaration.taxable_value_cny if channel == "ecommerce" else Declaration.value_cny
        query = select(Declaration.opened_at, value).where(
            Declaration.buyer_key == buyer_key, Declaration.channel == channel, Declaration.opened_at >= since,
            Declaration.id != exclude_id, Declaration.status != "cancelled", value.is_not(None),
        ).order_by(Declaration.opened_at.desc()).limit(PRIOR_DECLARATIONS_LIMIT)
        return [PriorDeclaration(at, amount) for at, amount in (await self.session.execute(query)).all()]

    async def annual_total_cny(self, *, buyer_key: str, year_start: datetime, exclude_id: str) -> Decimal:
        """What the buyer has already cleared this year through e-commerce imports (DOMAIN.md §7)."""
        query = select(Declaration.taxable_value_cny).where(
            Declaration.buyer_key == buyer_key, Declaration.channel == "ecommerce",
            Declaration.direction == "import", Declaration.status.in_(("released", "closed")),
            Declaration.counts_towards_annual.is_(True), Declaration.decided_at >= year_start,
            Declaration.id != exclude_id,
        )
        # Summed here rather than in SQL: SQLite keeps these as text and would add them as floats.
        return sum((v for v in (await self.session.execute(query)).scalars() if v is not None), ZERO)

    # ── lines, documents, findings ────────────────────────────────────────

    async def lines(self, declaration_id: str) -> list[DeclarationLine]:
        query = select(DeclarationLine).where(DeclarationLine.declaration_id == declaration_id)
        return list((await self.session.execute(query.order_by(DeclarationLine.line_no))).scalars())

    async def add_document(self, document: Document) -> None:
        self.session.add(document)
        await self.session.flush()

    async def attach_buffered_documents(self, *, order_id: str, declaration_id: str) -> int:
        """Documents that arrived before their order now belong to its declaration."""
        result = await self.session.execute(
            update(Document)
            .where(Document.order_id == order_id, Document.declaration_id.is_(None))
            .values(declaration_id=declaration_id)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount

    async def documents(self, order_id: str) -> list[Document]:
        """Every document received for an order, oldest first."""
        query = select(Document).where(Document.order_id == order_id).order_by(Document.received_at, Document.id)
        return list((await self.session.execute(query)).scalars())

    async def add_findings(self, declaration_id: str, findings: Sequence[Finding], *, source: str,
                           now: datetime) -> None:
        self.session.add_all([
            FindingRecord(declaration_id=declaration_id, code=f.code, severity=f.severity, message=f.message,
                          fields=list(f.fields), source=source, created_at=now)
            for f in findings
        ])
        await self.session.flush()

    async def findings(self, declaration_id: str) -> list[FindingRecord]:
        query = select(FindingRecord).where(FindingRecord.declaration_id == declaration_id).order_by(FindingRecord.id)
        return list((await self.session.execute(query)).scalars())

    # ── audit trail (append-only: there is no update or delete here, on purpose) ──

    async def append_audit(self, entry: AuditEntry) -> None:
        self.session.add(entry)
        await self.session.flush()

    async def audit_trail(self, declaration_id: str) -> list[AuditEntry]:
        query = select(AuditEntry).where(AuditEntry.declaration_id == declaration_id).order_by(AuditEntry.id)
        return list((await self.session.execute(query)).scalars())

    # ── cancellations that overtook their order ───────────────────────────

    async def early_cancellation(self, order_id: str) -> EarlyCancellation | None:
        return await self.session.get(EarlyCancellation, order_id)

    async def add_early_cancellation(self, cancellation: EarlyCancellation) -> None:
        self.session.add(cancellation)
        await self.session.flush()

    async def drop_early_cancellation(self, order_id: str) -> None:
        await self.session.execute(delete(EarlyCancellation).where(EarlyCancellation.order_id == order_id))
