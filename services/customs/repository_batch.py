"""The repository's side of a consumer batch (shared.batch): what the batch read ahead, and its held changes.

Read ahead: before the handlers run, `ReadAhead` reads for all of the batch's parcels at once (one statement per
kind) and keeps the answers in the scope's cache; DeclarationRepository's reads take them from there while they
are still exact. Per parcel (arrivals, declaration, documents) the batch's own writes keep them exact: the
repository's writes of those rows go through the `kept_*` functions below, which apply each write to what is
cached (a parcel's order.accepted and payment.recorded often share a batch: the payment then finds the
declaration the order opened, and its documents, without a statement). The kit's per-parcel locks keep other
consumers out. A buyer's history spans parcels: it is used only while no handler of the batch has written a
declaration of that buyer.

Write behind: inserts go through shared.batch.insert_rows; a declaration's versioned UPDATE is held here (see
hold_change) and written with the batch's other changes in one statement, its version still checked.

Queries live here rather than in repository.py only to keep that file to one use case; nothing outside the
repository modules runs SQL.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import (
    ARRAY,
    String,
    and_,
    bindparam,
    func,
    literal,
    null,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from services.customs.models import BuyerQuota, Declaration, Document, EarlyCancellation
from shared.batch import BatchScope, scope_of
from shared.db import bucketed

_declarations = Declaration.__table__
_DECLARATION_COLUMNS = tuple(column.key for column in _declarations.columns)
_documents = Document.__table__
_early = EarlyCancellation.__table__
_quotas = BuyerQuota.__table__

# The keys of what a batch read ahead, in the scope's cache.
ARRIVALS_OF = "customs.arrivals"
DECLARATION_OF = "customs.declaration"
DOCUMENTS_OF = "customs.documents"
HISTORY_OF = "customs.history"
QUOTA_OF = "customs.quota"
_BUYERS_WRITTEN = "customs.buyers_written"
# In session.info, not the scope: held changes must outlive the scope until the kit's inbox insert writes them.
_HELD_CHANGES = "customs_held_changes"


class ReadDocument(NamedTuple):
    """A document as the three-document match reads it, with the time that orders it."""

    received_at: datetime
    kind: str
    source: str
    body: dict


@dataclass
class ReadHistory:
    """A buyer's declarations on one channel as read ahead: complete for any look-up inside its bounds."""

    since: datetime
    recent: list[tuple[str, datetime, Decimal]]  # id, opened_at, value; newest first


def read_ahead(session: AsyncSession, key: tuple[str, str]) -> tuple[bool, Any]:
    """(True, what the batch read ahead for `key`) or (False, None): then read live."""
    scope = scope_of(session)
    if scope is None or key not in scope.cache:
        return False, None
    return True, scope.cache[key]


def note_buyer_written(session: AsyncSession, buyer_key: str, declaration_id: str) -> None:
    """A declaration of this buyer is written in this batch: from now on the buyer's history is read live, but
    for that declaration's own look-up, which leaves it out."""
    scope = scope_of(session)
    if scope is not None:
        scope.cache.setdefault((_BUYERS_WRITTEN, buyer_key), set()).add(declaration_id)


def cached_history(session: AsyncSession, *, buyer_key: str, channel: str, since: datetime, exclude_id: str,
                   limit: int) -> list[tuple[datetime, Decimal]] | None:
    """The buyer's recent declarations as the look-up would read them now, or None: read live."""
    scope = scope_of(session)
    if scope is None or not scope.cache.get((_BUYERS_WRITTEN, buyer_key), set()) <= {exclude_id}:
        return None
    read: ReadHistory | None = scope.cache.get((HISTORY_OF, buyer_key, channel))
    if read is None or since < read.since:
        return None
    return [(at, value) for id_, at, value in read.recent if at >= since and id_ != exclude_id][:limit]


def _cached(session: AsyncSession, key: tuple[str, str]) -> tuple[BatchScope | None, Any]:
    scope = scope_of(session)
    if scope is None or key not in scope.cache:
        return None, None
    return scope, scope.cache[key]


def kept_document(session: AsyncSession, document: Mapping[str, Any]) -> None:
    """A document is written: it joins the order's documents read ahead (last: its id is the highest), and one
    kept for an order without a declaration yet counts among the order's arrivals."""
    order_id = document["order_id"]
    _, documents = _cached(session, (DOCUMENTS_OF, order_id))
    if documents is not None:
        documents.append(ReadDocument(document["received_at"], document["kind"], document["source"],
                                      document["body"]))
    scope, arrivals = _cached(session, (ARRIVALS_OF, order_id))
    if arrivals is not None and document["declaration_id"] is None:
        declaration_id, cancellation, buffered = arrivals
        scope.cache[ARRIVALS_OF, order_id] = (declaration_id, cancellation, buffered + 1)


def kept_declaration(session: AsyncSession, declaration: Declaration) -> None:
    """A new declaration is written (held, inside a batch): from now on the batch reads it as any declaration it
    read, the object itself, in the session as if loaded (its later changes are held and version-checked as
    theirs are)."""
    scope = scope_of(session)
    if scope is None:
        return
    # Every column loaded, an unset one as the None it was written with (expired, it would need I/O to load), then
    # persistent: make_transient_to_detached takes the values as loaded, without history.
    values = declaration.__dict__
    for key in _DECLARATION_COLUMNS:
        values.setdefault(key, None)
    make_transient_to_detached(declaration)
    session.add(declaration)
    scope.cache[DECLARATION_OF, declaration.order_id] = declaration
    arrivals = scope.cache.get((ARRIVALS_OF, declaration.order_id))
    if arrivals is not None:
        scope.cache[ARRIVALS_OF, declaration.order_id] = (declaration.id, *arrivals[1:])


def kept_arrivals(session: AsyncSession, order_id: str, *, cancellation: Any = ..., buffered: int | None = None) -> None:
    """The order's early cancellation (a reason, or None once dropped) or its documents kept without a declaration
    (0 once attached) changed."""
    scope, arrivals = _cached(session, (ARRIVALS_OF, order_id))
    if arrivals is None:
        return
    declaration_id, reason, count = arrivals
    scope.cache[ARRIVALS_OF, order_id] = (declaration_id, reason if cancellation is ... else cancellation,
                                          count if buffered is None else buffered)


@dataclass
class QuotaRead:
    """A buyer's quota row as the batch read it — locked until the batch commits (PostgreSQL: FOR UPDATE; SQLite:
    the one writer), so the batch keeps it exact itself as it reserves. `exists`: the row was there (an absent
    row cannot be locked: the batch inserts it, and a concurrent insert fails the batch, which is then redone
    message by message with the conditional UPDATE)."""

    reserved_fen: int
    exists: bool


def cached_quota(session: AsyncSession, *, buyer_key: str, year: int) -> QuotaRead | None:
    """The buyer's quota for `year` as this batch read (and since kept) it, or None: read and reserve live."""
    scope = scope_of(session)
    return None if scope is None else scope.cache.get((QUOTA_OF, buyer_key, year))


def forget_quota(session: AsyncSession, *, buyer_key: str, year: int) -> None:
    """A live write changed the row: from now on read it live."""
    scope = scope_of(session)
    if scope is not None:
        scope.cache.pop((QUOTA_OF, buyer_key, year), None)


# ── reading ahead ─────────────────────────────────────────────────────────

_ORDER_IDS = bindparam("order_ids", expanding=True)
_ARRIVALS_OF_ORDERS = union_all(
    select(_declarations.c.order_id, literal("declaration").label("part"), _declarations.c.id.label("value"),
           literal(0).label("documents")).where(_declarations.c.order_id.in_(_ORDER_IDS)),
    select(_early.c.order_id, literal("cancellation"), _early.c.reason, literal(0))
    .where(_early.c.order_id.in_(_ORDER_IDS)),
    select(_documents.c.order_id, literal("documents"), null(), func.count())
    .where(_documents.c.order_id.in_(_ORDER_IDS), _documents.c.declaration_id.is_(None))
    .group_by(_documents.c.order_id),
)
_DECLARATIONS_OF_ORDERS = select(Declaration).where(Declaration.order_id.in_(_ORDER_IDS))
_DOCUMENTS_OF_ORDERS = (select(_documents.c.order_id, _documents.c.received_at, _documents.c.kind,
                               _documents.c.source, _documents.c.body)
                        .where(_documents.c.order_id.in_(_ORDER_IDS))
                        .order_by(_documents.c.order_id, _documents.c.received_at, _documents.c.id))


@cache
def _histories(limit: int):
    """Several buyers' recent declarations as the split-purchase look-up selects them (per buyer and channel one
    more than its limit, so a cut shows)."""
    d = _declarations.c
    valued = or_(and_(d.channel == "ecommerce", d.taxable_value_cny.is_not(None)),
                 and_(d.channel != "ecommerce", d.value_cny.is_not(None)))
    ranked = (select(d.buyer_key, d.channel, d.id, d.opened_at, d.value_cny, d.taxable_value_cny,
                     func.row_number().over(partition_by=(d.buyer_key, d.channel),
                                            order_by=d.opened_at.desc()).label("rank"))
              .where(d.buyer_key.in_(bindparam("buyer_keys", expanding=True)), d.opened_at >= bindparam("since"),
                     d.status != "cancelled", valued)
              .subquery())
    return (select(ranked.c.buyer_key, ranked.c.channel, ranked.c.id, ranked.c.opened_at, ranked.c.value_cny,
                   ranked.c.taxable_value_cny)
            .where(ranked.c.rank <= limit + 1))


_QUOTAS_OF_BUYERS = (select(_quotas.c.buyer_key, _quotas.c.reserved_fen)
                     .where(_quotas.c.buyer_key.in_(bindparam("buyer_keys", expanding=True)),
                            _quotas.c.year == bindparam("year"))
                     .with_for_update())


class ReadAhead:
    """The reads of a consumer batch, one statement each for all the parcels given, kept in the batch's cache."""

    def __init__(self, session: AsyncSession, scope: BatchScope) -> None:
        self.session, self.scope = session, scope

    async def arrivals(self, order_ids: Sequence[str]) -> dict[str, tuple[str | None, str | None, int]]:
        """Per order: its declaration id, the reason of a cancellation that came first, documents kept for it."""
        found: dict[str, dict[str, Any]] = {order_id: {"declaration": None, "cancellation": None, "documents": 0}
                                            for order_id in order_ids}
        if order_ids:
            rows = await self.session.execute(_ARRIVALS_OF_ORDERS, {"order_ids": bucketed(list(order_ids))})
            for order_id, part, value, documents in rows:
                found[order_id][part] = documents if part == "documents" else value
        arrivals = {order_id: (f["declaration"], f["cancellation"], f["documents"]) for order_id, f in found.items()}
        self.scope.cache.update(((ARRIVALS_OF, order_id), a) for order_id, a in arrivals.items())
        return arrivals

    async def declarations(self, order_ids: Sequence[str]) -> dict[str, Declaration]:
        """The orders' declarations; an order without one is remembered as such."""
        found: dict[str, Declaration] = {}
        if order_ids:
            result = await self.session.execute(_DECLARATIONS_OF_ORDERS, {"order_ids": bucketed(list(order_ids))})
            found = {d.order_id: d for d in result.scalars()}
        self.scope.cache.update(((DECLARATION_OF, order_id), found.get(order_id)) for order_id in order_ids)
        return found

    def no_documents(self, order_ids: Sequence[str]) -> None:
        """Orders known to have no documents at all (none kept, no declaration to name)."""
        self.scope.cache.update(((DOCUMENTS_OF, order_id), []) for order_id in order_ids
                                if (DOCUMENTS_OF, order_id) not in self.scope.cache)

    async def match_documents(self, order_ids: Sequence[str]) -> None:
        """The orders' documents as the three-document match reads them (those another prefetcher of the batch read
        already are not read again)."""
        order_ids = [order_id for order_id in dict.fromkeys(order_ids) if (DOCUMENTS_OF, order_id) not in self.scope.cache]
        documents: dict[str, list[ReadDocument]] = {order_id: [] for order_id in order_ids}
        if order_ids:
            for order_id, *document in await self.session.execute(_DOCUMENTS_OF_ORDERS,
                                                                 {"order_ids": bucketed(list(order_ids))}):
                documents[order_id].append(ReadDocument(*document))
        self.scope.cache.update(((DOCUMENTS_OF, order_id), d) for order_id, d in documents.items())

    async def buyer_histories(self, buyers: Sequence[tuple[str, str, bool]], *, since: datetime,
                              year: int, limit: int) -> None:
        """(buyer_key, channel, with the annual quota) of each declaration about to be assessed."""
        if not buyers:
            return
        wanted = {(buyer_key, channel) for buyer_key, channel, _ in buyers}
        params = {"buyer_keys": bucketed(sorted({key for key, _ in wanted})), "since": since}
        recent: dict[tuple[str, str], list[tuple[str, datetime, Decimal]]] = {}
        for buyer_key, channel, id_, at, value, taxable in await self.session.execute(_histories(limit), params):
            # E-commerce measures split purchases in the transaction value, the other channels in the goods'.
            recent.setdefault((buyer_key, channel), []).append((id_, at, taxable if channel == "ecommerce" else value))
        for buyer_key, channel in wanted:
            rows = sorted(recent.get((buyer_key, channel), []), key=lambda row: row[1], reverse=True)
            if len(rows) <= limit:  # else cut: which ones a look-up keeps depends on the one it leaves out
                self.scope.cache[HISTORY_OF, buyer_key, channel] = ReadHistory(since, rows)
        quota_keys = sorted({buyer_key for buyer_key, _, annual in buyers if annual})
        if quota_keys:
            reserved = dict((await self.session.execute(
                _QUOTAS_OF_BUYERS, {"buyer_keys": bucketed(quota_keys), "year": year})).all())
            self.scope.cache.update(((QUOTA_OF, key, year), QuotaRead(reserved.get(key, 0), key in reserved))
                                    for key in quota_keys)


# ── held changes: the versioned UPDATEs of a consumer batch, written together ──
#
# Inside a batch `change` applies the values to the session's object at once and holds the UPDATE, keyed by
# declaration with the version first read. Held changes are written right before any other statement, ORM flush
# or commit (after the kit's held inserts, whose listeners were registered first) in one statement, each still
# conditional on its version: if another transaction (a broker, the deadline worker) changed one of the rows
# meanwhile, fewer rows match and StaleBatch fails the batch; the kit rolls it back and redoes it message by
# message, where there is no scope and every change runs, and fails, on the spot as before.

_CHANGE_MANY = update(_declarations).where(_declarations.c.id == bindparam("b_id"),
                                           _declarations.c.version == bindparam("b_version"))
_WRITTEN_HERE = text("SELECT count(*) FROM declarations WHERE id = ANY(:ids) AND xmin = pg_current_xact_id()::xid"
                     ).bindparams(bindparam("ids", type_=ARRAY(String)))


class StaleBatch(Exception):
    """A held change found its declaration changed by another transaction: the batch must be redone."""


@dataclass
class _HeldChange:
    declaration: Declaration
    version: int  # as read: the UPDATE applies only while the row still has it
    columns: set[str]


def hold_change(session: AsyncSession, declaration: Declaration, changes: dict[str, Any]) -> bool:
    """Inside a consumer batch, for an object of this session: apply the changes and hold the UPDATE (True)."""
    if scope_of(session) is None or declaration not in session:
        return False
    held: dict[str, _HeldChange] = session.info.setdefault(_HELD_CHANGES, {})
    entry = held.setdefault(declaration.id, _HeldChange(declaration, declaration.version, set()))
    entry.columns.update(changes)
    for name, value in changes.items():
        set_committed_value(declaration, name, value)
    return True


def _write_held_changes(session: Session) -> None:
    held: dict[str, _HeldChange] | None = session.info.pop(_HELD_CHANGES, None)
    if not held:
        return
    names = sorted(set().union(*(entry.columns for entry in held.values())))
    # In id order: two batches writing some of the same declarations lock them in the same order, so neither
    # waits on the other in a cycle (PostgreSQL would abort one as a deadlock).
    rows = [{"b_id": entry.declaration.id, "b_version": entry.version,
             **{name: getattr(entry.declaration, name) for name in names}}
            for _, entry in sorted(held.items())]
    connection = session.connection()
    result = connection.execute(_CHANGE_MANY, rows)
    if connection.dialect.name == "postgresql":
        # asyncpg reports no row count for an executemany: count the rows this transaction wrote last (a row's
        # xmin is the transaction that wrote its current version; the fast path has no savepoints, and a row is
        # locked from our first write to commit, so a row an UPDATE here missed was last written by someone else).
        # Both statements stay the same from batch to batch, so they keep their compiled form and prepared plan,
        # where an UPDATE ... FROM (VALUES ...) of literal rows was compiled anew for every batch.
        changed = connection.execute(_WRITTEN_HERE, {"ids": [row["b_id"] for row in rows]}).scalar_one()
    else:
        changed = result.rowcount  # SQLite adds up what an executemany changed
    if changed != len(rows):
        raise StaleBatch(f"{len(rows) - changed} of {len(rows)} declarations changed concurrently")


@sqlalchemy_event.listens_for(Session, "do_orm_execute")
def _before_statement(state: ORMExecuteState) -> None:
    _write_held_changes(state.session)


@sqlalchemy_event.listens_for(Session, "before_flush")
def _before_orm_flush(session: Session, _flush_context: Any, _instances: Any) -> None:
    _write_held_changes(session)


@sqlalchemy_event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    _write_held_changes(session)


@sqlalchemy_event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_HELD_CHANGES, None)  # nothing of the batch stands, nor do its held changes
