"""The brokers' queue as the console searches it: filters, a search box, counts per status, neighbours.

Beside repository.py's `queue` (the API's plain listing) because these queries serve a person looking for one
declaration: by its id, the order's id or number, the waybill's tracking number, or the buyer (ID number through
the hashed buyer key, which is indexed; name as a substring of the parcel, which is a scan — a person types it, the
pipeline never does). Ordered like every queue here: green lane first, then oldest first, then by id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select

from services.customs.models import Declaration, Document
from services.customs.repository import LANE_RANKS, QueuePosition

# Where a waybill document keeps its tracking number: postal's waybill.issued, an external logistics company's
# waybill.recorded (the CEB511 logisticsNo).
TRACKING_NUMBER_KEYS = ("tracking_number", "logistics_no")


@dataclass(frozen=True)
class QueueQuery:
    """What a broker asked the queue for; None means "any"."""

    statuses: tuple[str, ...] | None = None
    channel: str | None = None
    lane: str | None = None
    claimed_by: str | None = None  # only declarations this broker holds a live claim on
    now: datetime | None = None  # when a claim counts as live (required with claimed_by)
    opened_before: datetime | None = None  # waited at least this long
    search: str | None = None
    buyer_keys: tuple[str, ...] = ()  # buyer keys the search text could be (an ID number, hashed)


def _search_clause(text: str, buyer_keys: Sequence[str]) -> Any:
    waybills = select(Document.order_id).where(
        Document.kind == "waybill",
        or_(*(Document.body[key].as_string() == text for key in TRACKING_NUMBER_KEYS)),
    )
    buyer_name = func.coalesce(Declaration.parcel[("buyer", "name")].as_string(),
                               Declaration.parcel[("consignee", "name")].as_string())
    clauses = [
        Declaration.id == text,
        Declaration.order_id == text,
        func.lower(Declaration.merchant_order_no) == text.lower(),
        Declaration.order_id.in_(waybills),
        buyer_name.icontains(text, autoescape=True),
    ]
    if buyer_keys:
        clauses.append(Declaration.buyer_key.in_(list(buyer_keys)))
    return or_(*clauses)


def _where(query: QueueQuery, *, with_statuses: bool = True) -> list[Any]:
    clauses: list[Any] = []
    if with_statuses and query.statuses is not None:
        clauses.append(Declaration.status.in_(query.statuses))
    if query.channel is not None:
        clauses.append(Declaration.channel == query.channel)
    if query.lane is not None:
        clauses.append(Declaration.lane_rank == LANE_RANKS[query.lane])
    if query.claimed_by is not None:
        clauses += [Declaration.claimed_by == query.claimed_by, Declaration.claim_expires_at > query.now]
    if query.opened_before is not None:
        clauses.append(Declaration.opened_at <= query.opened_before)
    if query.search:
        clauses.append(_search_clause(query.search, query.buyer_keys))
    return clauses


def _after(position: QueuePosition) -> Any:
    return or_(
        Declaration.lane_rank > position.lane_rank,
        and_(Declaration.lane_rank == position.lane_rank, Declaration.opened_at > position.opened_at),
        and_(Declaration.lane_rank == position.lane_rank, Declaration.opened_at == position.opened_at,
             Declaration.id > position.id),
    )


def _before(position: QueuePosition) -> Any:
    return or_(
        Declaration.lane_rank < position.lane_rank,
        and_(Declaration.lane_rank == position.lane_rank, Declaration.opened_at < position.opened_at),
        and_(Declaration.lane_rank == position.lane_rank, Declaration.opened_at == position.opened_at,
             Declaration.id < position.id),
    )


_QUEUE_ORDER = (Declaration.lane_rank, Declaration.opened_at, Declaration.id)
_REVERSE_ORDER = (Declaration.lane_rank.desc(), Declaration.opened_at.desc(), Declaration.id.desc())


class QueueSearchRepository:
    """The console's queries on the queue, in the caller's session."""

    def __init__(self, session: Any) -> None:
        self.session = session

    async def page(self, query: QueueQuery, *, after: QueuePosition | None, limit: int) -> list[Declaration]:
        """One page of the queue in queue order, starting right after `after`."""
        clauses = _where(query)
        if after is not None:
            clauses.append(_after(after))
        statement = select(Declaration).where(*clauses).order_by(*_QUEUE_ORDER).limit(limit)
        return list((await self.session.execute(statement)).scalars())

    async def counts_by_status(self, query: QueueQuery) -> dict[str, int]:
        """How many declarations each status holds under every filter but the status itself."""
        statement = (select(Declaration.status, func.count()).where(*_where(query, with_statuses=False))
                     .group_by(Declaration.status))
        return {status: count for status, count in (await self.session.execute(statement)).all()}

    async def neighbours(self, query: QueueQuery, position: QueuePosition) -> tuple[str | None, str | None]:
        """The ids just before and just after `position` in the queue the query describes."""
        clauses = _where(query)
        before = select(Declaration.id).where(*clauses, _before(position)).order_by(*_REVERSE_ORDER).limit(1)
        after = select(Declaration.id).where(*clauses, _after(position)).order_by(*_QUEUE_ORDER).limit(1)
        return ((await self.session.execute(before)).scalar_one_or_none(),
                (await self.session.execute(after)).scalar_one_or_none())
